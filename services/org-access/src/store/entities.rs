//! Org-access's tables (sea-orm entities), declared through one `entity!` macro since none
//! has relations. A membership's status is stored through the active enum
//! [`MembershipState`], whose values are the domain's stored names ("invited", "active",
//! "declined", "revoked"); the store converts it to [`MembershipStatus`].

use sea_orm::entity::prelude::*;

use crate::domain::MembershipStatus;

ps_db::stored_as!(
    /// `memberships.status`.
    MembershipState <=> MembershipStatus {
        Invited => "invited",
        Active => "active",
        Declined => "declined",
        Revoked => "revoked",
    }
);

impl MembershipState {
    /// The statuses of a current membership (the others are history); the partial unique
    /// index `memberships_current` names the same two.
    pub const CURRENT: [MembershipState; 2] = [MembershipState::Invited, MembershipState::Active];
}

macro_rules! entity {
    ($module:ident, $table:literal, $(#[$doc:meta])* { $($body:tt)* }) => {
        pub mod $module {
            use sea_orm::entity::prelude::*;

            $(#[$doc])*
            #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
            #[sea_orm(table_name = $table)]
            pub struct Model { $($body)* }

            #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
            pub enum Relation {}

            impl ActiveModelBehavior for ActiveModel {}
        }
    };
}

entity!(organisations, "organisations", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub practice_id: Uuid,
    pub name: String,
    /// Lower-cased name: unique per practice, and what search matches.
    pub name_key: String,
    pub archived_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
});

entity!(workflows, "workflows", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub practice_id: Uuid,
    pub organisation_id: Uuid,
    pub name: String,
    pub created_at: DateTimeUtc,
});

entity!(workflow_steps, "workflow_steps", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub practice_id: Uuid,
    pub workflow_id: Uuid,
    /// 1-based order within the workflow.
    pub position: i32,
    pub name: String,
});

entity!(step_approvers, "step_approvers", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub step_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub staff_id: Uuid,
    pub practice_id: Uuid,
});

entity!(roles, "roles",
    /// Built-in roles have ids derived from the practice and the role's key, so every replica
    /// creates the same rows.
{
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub practice_id: Uuid,
    pub name: String,
    pub name_key: String,
    pub built_in: bool,
    pub created_at: DateTimeUtc,
});

entity!(role_permissions, "role_permissions", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub role_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub permission: String,
    pub practice_id: Uuid,
});

entity!(memberships, "memberships",
    /// A staff member's access to an organisation. At most one per organisation and member is
    /// current (invited or active); declined and revoked ones stay as history.
{
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub practice_id: Uuid,
    pub organisation_id: Uuid,
    pub staff_id: Uuid,
    pub role_id: Uuid,
    pub status: super::MembershipState,
    pub invitation_id: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub status_changed_at: DateTimeUtc,
});

entity!(membership_locations, "membership_locations",
    /// Locations a membership is limited to; none means no limit.
{
    #[sea_orm(primary_key, auto_increment = false)]
    pub membership_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub location_id: Uuid,
    pub practice_id: Uuid,
});

entity!(org_invitations, "org_invitations",
    /// One offer of organisations to one member, from one changeset.
{
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub practice_id: Uuid,
    pub staff_id: Uuid,
    pub invited_by: String,
    pub created_at: DateTimeUtc,
});

entity!(access_changes, "access_changes",
    /// Applied changesets by request id: a retry returns the stored result.
{
    #[sea_orm(primary_key, auto_increment = false)]
    pub practice_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub request_id: String,
    /// SHA-256 of the normalised changeset, so a reused id with other content is refused.
    pub fingerprint: String,
    pub result: String,
    pub created_at: DateTimeUtc,
});

entity!(access_audit, "access_audit", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub practice_id: Uuid,
    pub actor_id: String,
    pub actor_name: String,
    pub action: String,
    pub organisation_id: Option<Uuid>,
    pub staff_id: Option<Uuid>,
    pub request_id: Option<String>,
    pub before: String,
    pub after: String,
    pub occurred_at: DateTimeUtc,
});

entity!(access_settings, "access_settings", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub practice_id: Uuid,
    pub require_acceptance: bool,
});

entity!(locations, "locations",
    /// The practice's locations as staff-directory last reported them.
{
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub practice_id: Uuid,
    pub name: String,
    pub archived: bool,
    pub changed_at: DateTimeUtc,
});

// Every table holds one practice's rows: queries narrow to it with `InPractice::in_practice`.
ps_db::tenanted!(
    organisations,
    workflows,
    workflow_steps,
    step_approvers,
    roles,
    role_permissions,
    memberships,
    membership_locations,
    org_invitations,
    access_changes,
    access_audit,
    access_settings,
    locations,
);

#[cfg(test)]
mod tests {
    use sea_orm::Iterable;

    use super::*;

    #[test]
    fn membership_statuses_are_stored_by_their_domain_names() {
        for state in MembershipState::iter() {
            let status = MembershipStatus::from(state);
            assert_eq!(state.to_value(), status.as_str());
            assert_eq!(MembershipState::from(status), state);
        }
        assert_eq!(
            MembershipState::CURRENT.map(|s| MembershipStatus::from(s).as_str()),
            MembershipStatus::CURRENT
        );
    }
}
