//! Staff-directory's tables (sea-orm entities). Statuses are stored through sea-orm active
//! enums ([`MemberStatus`], [`OffboardingState`], [`CertificationState`]) whose values are the
//! domain's stored names; the store converts them to the domain enums.

use sea_orm::entity::prelude::*;

use crate::domain::{CertificationStatus, OffboardingStatus, StaffStatus};

ps_db::stored_as!(
    /// `staff_members.status`.
    MemberStatus <=> StaffStatus {
        Pending => "pending",
        Active => "active",
        Declined => "declined",
        Deactivated => "deactivated",
        Removed => "removed",
        Offboarding => "offboarding",
        Offboarded => "offboarded",
    }
);

ps_db::stored_as!(
    /// `offboardings.status`.
    OffboardingState <=> OffboardingStatus {
        Requested => "requested",
        Completed => "completed",
        Failed => "failed",
    }
);

ps_db::stored_as!(
    /// `staff_members.certification_status`.
    CertificationState <=> CertificationStatus {
        NotCertified => "not_certified",
        Invited => "invited",
        Certified => "certified",
    }
);

pub mod practices {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "practices")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub name: String,
        pub require_location_for_invites: bool,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod locations {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "locations")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub practice_id: Uuid,
        pub name: String,
        /// Lower-cased name, unique per practice.
        pub name_key: String,
        pub archived_at: Option<DateTimeUtc>,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod staff_members {
    use sea_orm::entity::prelude::*;

    /// One person's place in one practice. (practice_id, email) is unique: inviting someone
    /// twice finds the existing member instead of creating a second.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "staff_members")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub practice_id: Uuid,
        pub email: String,
        pub name: String,
        /// Kept through deactivation, so reactivation restores it.
        pub role: String,
        pub status: super::MemberStatus,
        /// Identity's user, known once the invitation is accepted.
        pub user_id: Option<Uuid>,
        pub invited_by_name: String,
        pub invited_at: DateTimeUtc,
        pub status_changed_at: DateTimeUtc,
        pub created_at: DateTimeUtc,
        pub invitation_count: i32,
        pub last_invited_at: DateTimeUtc,
        /// Start of the current reinvite rate-limit window and the reinvites within it.
        pub reinvite_window_started_at: Option<DateTimeUtc>,
        pub reinvites_in_window: i32,
        pub external_agent: bool,
        pub primary_location_id: Option<Uuid>,
        pub npi: Option<String>,
        pub taxonomy_code: Option<String>,
        pub bio: Option<String>,
        pub capacity: Option<i32>,
        pub scheduling_step_minutes: Option<i32>,
        pub certification_status: super::CertificationState,
        pub certification_invited_at: Option<DateTimeUtc>,
        pub certified_at: Option<DateTimeUtc>,
        pub certificate_number: Option<String>,
        /// Set when notification gave up on the latest invitation e-mail; cleared by the next.
        pub invitation_failed_at: Option<DateTimeUtc>,
        pub invitation_failure: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod staff_locations {
    use sea_orm::entity::prelude::*;

    /// The locations a member may access.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "staff_locations")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub staff_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub location_id: Uuid,
        pub practice_id: Uuid,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod audit_events {
    use sea_orm::entity::prelude::*;

    /// Who changed what in a practice, with the changed fields before and after (JSON).
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "audit_events")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub practice_id: Uuid,
        pub actor_id: String,
        pub actor_name: String,
        pub action: String,
        pub target_staff_id: Option<Uuid>,
        pub target_location_id: Option<Uuid>,
        pub before: String,
        pub after: String,
        pub occurred_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod offboardings {
    use sea_orm::entity::prelude::*;

    /// One handover of a leaver's work to a replacement, from request to outcome.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "offboardings")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub practice_id: Uuid,
        pub leaver_id: Uuid,
        /// Names as they were when the offboarding was asked for.
        pub leaver_name: String,
        /// Restored if the offboarding fails.
        pub leaver_status_before: super::MemberStatus,
        pub replacement_id: Uuid,
        pub replacement_name: String,
        pub existing_access: String,
        pub status: super::OffboardingState,
        pub requested_by_id: String,
        pub requested_by_name: String,
        pub requested_at: DateTimeUtc,
        pub finished_at: Option<DateTimeUtc>,
        pub failure_reason: Option<String>,
        pub organisations: i32,
        pub memberships_revoked: i32,
        pub memberships_granted: i32,
        pub memberships_changed: i32,
        pub invitations_withdrawn: i32,
        pub steps_reassigned: i32,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

// Every table but practices holds one practice's rows: queries narrow to it with
// `InPractice::in_practice`.
ps_db::tenanted!(
    locations,
    staff_members,
    staff_locations,
    audit_events,
    offboardings
);
