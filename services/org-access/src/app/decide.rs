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
use crate::domain::{
    AccessFacts, AccessQuery, Decision, DecisionReason, LocationFacts, MembershipFacts,
    MembershipStatus, StaffFacts, decide_access,
};
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

    /// Load, then decide: the facts of one question (one indexed query, and the location
    /// limits only for a question about a location of a user who has a membership there),
    /// then the rule `domain::decide_access`.
    async fn read_decision(
        &self,
        user: UserId,
        query: &AccessQuery,
        practice: Option<PracticeId>,
    ) -> Result<Decision, Error> {
        let db = &self.0.db;
        let Some(row) = facts(db, user, query, practice).await? else {
            if practice.is_some() {
                return Err(Error::NotFound("organisation"));
            }
            return Ok(Decision::denied(
                DecisionReason::UnknownOrganisation,
                "no such organisation",
            ));
        };
        let staff = row
            .staff_id
            .filter(|_| {
                row.practice_role
                    .as_deref()
                    .and_then(PracticeRole::parse)
                    .is_some()
            })
            .zip(row.staff_status)
            .map(|(staff_id, status)| StaffFacts {
                staff_id: StaffId(staff_id),
                status,
            });
        let membership = match (
            row.membership_id,
            row.membership_role_id,
            row.membership_status,
        ) {
            (Some(id), Some(role_id), Some(status)) => Some(MembershipFacts {
                id,
                role_id,
                role_name: row.role_name,
                invited: status == MembershipStatus::Invited.as_str(),
                grants_permission: row.granted_permission.is_some(),
            }),
            _ => None,
        };
        let location = match (query.location_id, &staff, &membership) {
            (Some(asked), Some(staff), Some(membership)) => {
                let limits = self
                    .membership_locations(db, vec![membership.id])
                    .await?
                    .remove(&membership.id)
                    .unwrap_or_default();
                let member_locations =
                    ps_roster::members(db, PracticeId(row.practice_id), &[staff.staff_id])
                        .await?
                        .pop()
                        .map(|m| m.location_ids)
                        .unwrap_or_default();
                Some(LocationFacts {
                    asked,
                    limits,
                    member_locations,
                })
            }
            _ => None,
        };
        let facts = AccessFacts {
            organisation_name: row.organisation_name,
            archived: row.archived_at.is_some(),
            staff,
            membership,
            location,
        };
        Ok(decide_access(&facts, &query.permission))
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
struct FactsRow {
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
) -> Result<Option<FactsRow>, Error> {
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
    Ok(Some(FactsRow {
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
