//! "May this user do P in organisation O?", answered from org-access's own tables: the
//! organisation, the roster, the membership, its role's permissions and location limits.

use ps_auth::UserCaller;
use ps_core::{PracticeId, UserId};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::{MANAGERS, OrgAccess};
use crate::domain::{AccessQuery, Decision, DecisionReason, MembershipStatus};
use crate::error::Error;
use crate::store::{memberships, organisations, role_permissions, roles};

impl OrgAccess {
    /// Decides one query. `practice` scopes the organisation to the caller's practice (for
    /// people asking); internal callers pass `None`.
    pub async fn decide(
        &self,
        user: UserId,
        query: &AccessQuery,
        practice: Option<PracticeId>,
    ) -> Result<Decision, Error> {
        use DecisionReason::*;
        let db = &self.0.db;
        let mut find = organisations::Entity::find_by_id(query.organisation_id);
        if let Some(practice) = practice {
            find = find.filter(organisations::Column::PracticeId.eq(practice.as_uuid()));
        }
        let Some(organisation) = find.one(db).await? else {
            if practice.is_some() {
                return Err(Error::NotFound("organisation"));
            }
            return Ok(Decision::denied(
                UnknownOrganisation,
                "no such organisation",
            ));
        };
        if organisation.archived_at.is_some() {
            return Ok(Decision::denied(
                OrganisationArchived,
                format!("{} is archived", organisation.name),
            ));
        }
        let practice = PracticeId(organisation.practice_id);
        let Some(member) = ps_roster::member_by_user(db, practice, user).await? else {
            return Ok(Decision::denied(
                NotPracticeStaff,
                "the user is not staff of the organisation's practice",
            ));
        };
        let staff = Some(member.staff_id);
        let with_staff = |mut decision: Decision| {
            decision.staff_id = staff;
            decision
        };
        match member.status.as_str() {
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
        let Some(membership) = memberships::Entity::find()
            .filter(memberships::Column::OrganisationId.eq(organisation.id))
            .filter(memberships::Column::StaffId.eq(member.staff_id.as_uuid()))
            .filter(memberships::Column::Status.is_in(MembershipStatus::CURRENT))
            .one(db)
            .await?
        else {
            return Ok(with_staff(Decision::denied(
                NoMembership,
                format!("no access to {}", organisation.name),
            )));
        };
        let role = roles::Entity::find_by_id(membership.role_id)
            .one(db)
            .await?;
        let role_name = role
            .as_ref()
            .map(|r| r.name.clone())
            .unwrap_or_else(|| "(deleted role)".into());
        let with_membership = |mut decision: Decision| {
            decision.staff_id = staff;
            decision.membership_id = Some(membership.id);
            decision.role_id = Some(membership.role_id);
            decision.role_name = Some(role_name.clone());
            decision
        };
        if membership.status == MembershipStatus::Invited.as_str() {
            return Ok(with_membership(Decision::denied(
                InvitationNotAccepted,
                format!(
                    "access to {} was offered but not accepted yet",
                    organisation.name
                ),
            )));
        }
        let granted =
            role_permissions::Entity::find_by_id((membership.role_id, query.permission.clone()))
                .one(db)
                .await?
                .is_some();
        if !granted {
            return Ok(with_membership(Decision::denied(
                PermissionNotInRole,
                format!("the role {role_name} does not include {}", query.permission),
            )));
        }
        if let Some(location) = query.location_id {
            let limits = self
                .membership_locations(db, vec![membership.id])
                .await?
                .remove(&membership.id)
                .unwrap_or_default();
            if !limits.is_empty() && !limits.contains(&location) {
                return Ok(with_membership(Decision::denied(
                    LocationNotAllowed,
                    format!(
                        "access to {} is limited to other locations",
                        organisation.name
                    ),
                )));
            }
            if !member.location_ids.is_empty() && !member.location_ids.contains(&location) {
                return Ok(with_membership(Decision::denied(
                    LocationNotAllowed,
                    "the location is not one of the staff member's locations",
                )));
            }
        }
        Ok(with_membership(Decision {
            reason: Allowed,
            explanation: format!(
                "the role {role_name} in {} includes {}",
                organisation.name, query.permission
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
