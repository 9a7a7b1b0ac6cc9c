//! "May this user do P in organisation O?", answered from org-access's own tables: the
//! organisation, the roster, the membership, its role's permissions and location limits, read
//! in one query (one round trip; every join follows an index), plus the location limits only
//! when the question names a location.

use chrono::{DateTime, Utc};
use ps_auth::UserCaller;
use ps_core::{PracticeId, PracticeRole, StaffId, UserId};
use sea_orm::{ConnectionTrait, Statement};
use uuid::Uuid;

use super::cache::Key;
use super::{MANAGERS, OrgAccess};
use crate::domain::{AccessQuery, Decision, DecisionReason, MembershipStatus};
use crate::error::Error;

impl OrgAccess {
    /// Decides one query. `practice` scopes the organisation to the caller's practice (for
    /// people asking); internal callers pass `None`. Answered from the decision cache when
    /// nothing was written since the same question was read (see `cache`).
    pub async fn decide(
        &self,
        user: UserId,
        query: &AccessQuery,
        practice: Option<PracticeId>,
    ) -> Result<Decision, Error> {
        let key = Key::new(user, query, practice);
        let ticket = match self.0.decisions.lookup(&key) {
            Ok(decision) => return Ok(decision),
            Err(ticket) => ticket,
        };
        let decision = self.read_decision(user, query, practice).await?;
        if let Some(ticket) = ticket {
            self.0.decisions.remember(ticket, key, &decision);
        }
        Ok(decision)
    }

    async fn read_decision(
        &self,
        user: UserId,
        query: &AccessQuery,
        practice: Option<PracticeId>,
    ) -> Result<Decision, Error> {
        use DecisionReason::*;
        let db = &self.0.db;
        let Some(found) = facts(db, user, query, practice).await? else {
            if practice.is_some() {
                return Err(Error::NotFound("organisation"));
            }
            return Ok(Decision::denied(
                UnknownOrganisation,
                "no such organisation",
            ));
        };
        if found.archived_at.is_some() {
            return Ok(Decision::denied(
                OrganisationArchived,
                format!("{} is archived", found.organisation_name),
            ));
        }
        let organisation_name = found.organisation_name;
        let (Some(staff_id), Some(status)) = (
            found.staff_id.filter(|_| {
                found
                    .practice_role
                    .as_deref()
                    .and_then(PracticeRole::parse)
                    .is_some()
            }),
            found.staff_status,
        ) else {
            return Ok(Decision::denied(
                NotPracticeStaff,
                "the user is not staff of the organisation's practice",
            ));
        };
        let staff = Some(StaffId(staff_id));
        let with_staff = |mut decision: Decision| {
            decision.staff_id = staff;
            decision
        };
        match status.as_str() {
            ps_roster::status::ACTIVE => {}
            ps_roster::status::DEACTIVATED => {
                return Ok(with_staff(Decision::denied(
                    StaffDeactivated,
                    "the staff member is deactivated",
                )));
            }
            ps_roster::status::REMOVED => {
                return Ok(with_staff(Decision::denied(
                    StaffRemoved,
                    "the staff member was removed from the practice",
                )));
            }
            ps_roster::status::OFFBOARDING | ps_roster::status::OFFBOARDED => {
                return Ok(with_staff(Decision::denied(
                    StaffOffboarded,
                    "the staff member was offboarded; their work went to a replacement",
                )));
            }
            other => {
                return Ok(with_staff(Decision::denied(
                    StaffNotActive,
                    format!("the staff member is {other}"),
                )));
            }
        }
        let (Some(membership_id), Some(role_id), Some(membership_status)) = (
            found.membership_id,
            found.membership_role_id,
            found.membership_status,
        ) else {
            return Ok(with_staff(Decision::denied(
                NoMembership,
                format!("no access to {organisation_name}"),
            )));
        };
        let role_name = found.role_name.unwrap_or_else(|| "(deleted role)".into());
        let with_membership = |mut decision: Decision| {
            decision.staff_id = staff;
            decision.membership_id = Some(membership_id);
            decision.role_id = Some(role_id);
            decision.role_name = Some(role_name.clone());
            decision
        };
        if membership_status == MembershipStatus::Invited.as_str() {
            return Ok(with_membership(Decision::denied(
                InvitationNotAccepted,
                format!("access to {organisation_name} was offered but not accepted yet"),
            )));
        }
        if found.granted_permission.is_none() {
            return Ok(with_membership(Decision::denied(
                PermissionNotInRole,
                format!("the role {role_name} does not include {}", query.permission),
            )));
        }
        if let Some(location) = query.location_id {
            let limits = self
                .membership_locations(db, vec![membership_id])
                .await?
                .remove(&membership_id)
                .unwrap_or_default();
            if !limits.is_empty() && !limits.contains(&location) {
                return Ok(with_membership(Decision::denied(
                    LocationNotAllowed,
                    format!(
                        "access to {} is limited to other locations",
                        organisation_name
                    ),
                )));
            }
            // The member's own locations: read only for a question about a location.
            let member_locations =
                ps_roster::members(db, PracticeId(found.practice_id), &[StaffId(staff_id)])
                    .await?
                    .pop()
                    .map(|m| m.location_ids)
                    .unwrap_or_default();
            if !member_locations.is_empty() && !member_locations.contains(&location) {
                return Ok(with_membership(Decision::denied(
                    LocationNotAllowed,
                    "the location is not one of the staff member's locations",
                )));
            }
        }
        Ok(with_membership(Decision {
            reason: Allowed,
            explanation: format!(
                "the role {role_name} in {organisation_name} includes {}",
                query.permission
            ),
            staff_id: None,
            membership_id: None,
            role_id: None,
            role_name: None,
        }))
    }

    /// For staff managers: why a user of the caller's practice may or may not act.
    pub async fn explain(
        &self,
        caller: &UserCaller,
        user: UserId,
        query: &AccessQuery,
    ) -> Result<Decision, Error> {
        let acting = self.acting(caller).await?;
        acting.require(&MANAGERS, "explaining access")?;
        self.decide(user, query, Some(caller.practice_id)).await
    }
}

/// Everything one decision needs, read in one indexed lookup: the organisation, the asking
/// user's roster row in its practice, their current membership there, its role's name and
/// whether that role holds the permission.
struct Facts {
    practice_id: Uuid,
    organisation_name: String,
    archived_at: Option<DateTime<Utc>>,
    staff_id: Option<Uuid>,
    staff_status: Option<String>,
    practice_role: Option<String>,
    membership_id: Option<Uuid>,
    membership_role_id: Option<Uuid>,
    membership_status: Option<String>,
    role_name: Option<String>,
    granted_permission: Option<String>,
}

async fn facts<C: ConnectionTrait>(
    db: &C,
    user: UserId,
    query: &AccessQuery,
    practice: Option<PracticeId>,
) -> Result<Option<Facts>, Error> {
    let [invited, active] = MembershipStatus::CURRENT;
    let mut sql = String::from(
        "SELECT o.practice_id, o.name AS organisation_name, o.archived_at, \
           r.staff_id, r.status AS staff_status, r.role AS practice_role, \
           m.id AS membership_id, m.role_id AS membership_role_id, \
           m.status AS membership_status, ro.name AS role_name, \
           rp.permission AS granted_permission \
         FROM organisations o \
         LEFT JOIN roster r ON r.practice_id = o.practice_id AND r.user_id = $1 \
         LEFT JOIN memberships m ON m.organisation_id = o.id AND m.staff_id = r.staff_id \
           AND m.status IN ($2, $3) \
         LEFT JOIN roles ro ON ro.id = m.role_id \
         LEFT JOIN role_permissions rp ON rp.role_id = m.role_id AND rp.permission = $4 \
         WHERE o.id = $5",
    );
    let mut values: Vec<sea_orm::Value> = vec![
        user.as_uuid().into(),
        invited.into(),
        active.into(),
        query.permission.clone().into(),
        query.organisation_id.into(),
    ];
    if let Some(practice) = practice {
        sql.push_str(" AND o.practice_id = $6");
        values.push(practice.as_uuid().into());
    }
    sql.push_str(" LIMIT 1");
    let Some(row) = db
        .query_one_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            sql,
            values,
        ))
        .await?
    else {
        return Ok(None);
    };
    Ok(Some(Facts {
        practice_id: row.try_get("", "practice_id")?,
        organisation_name: row.try_get("", "organisation_name")?,
        archived_at: row.try_get("", "archived_at")?,
        staff_id: row.try_get("", "staff_id")?,
        staff_status: row.try_get("", "staff_status")?,
        practice_role: row.try_get("", "practice_role")?,
        membership_id: row.try_get("", "membership_id")?,
        membership_role_id: row.try_get("", "membership_role_id")?,
        membership_status: row.try_get("", "membership_status")?,
        role_name: row.try_get("", "role_name")?,
        granted_permission: row.try_get("", "granted_permission")?,
    }))
}
