//! Identity's tables (sea-orm entities). Link purposes and outcomes, key formats and account
//! statuses are stored through sea-orm active enums ([`LinkKind`], [`LinkAnswer`],
//! [`KeyStorage`], [`AccountState`]) whose values are the strings stored since the tables were
//! made; the store converts them to the domain enums.

use sea_orm::entity::prelude::*;

use crate::domain::service_accounts::AccountStatus;
use crate::domain::{KeyFormat, LinkOutcome, LinkPurpose};

ps_db::stored_as!(
    /// `action_links.purpose`.
    LinkKind <=> LinkPurpose {
        Invitation => "invitation",
        PasswordReset => "password_reset",
    }
);

ps_db::stored_as!(
    /// `action_links.outcome`.
    LinkAnswer <=> LinkOutcome {
        Accepted => "accepted",
        Declined => "declined",
        PasswordSet => "password_set",
    }
);

ps_db::stored_as!(
    /// `signing_keys.key_format`.
    KeyStorage <=> KeyFormat {
        Sealed => "sealed-v1",
        Clear => "pkcs8",
    }
);

ps_db::stored_as!(
    /// `service_accounts.status`.
    AccountState <=> AccountStatus {
        Active => "active",
        Disabled => "disabled",
    }
);

pub mod users {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "users")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        #[sea_orm(unique)]
        pub email: String,
        pub name: String,
        /// argon2id PHC string; none until the first invitation is accepted.
        pub password_hash: Option<String>,
        /// Failed sign-ins since the last success or lock.
        pub failed_sign_ins: i32,
        /// Sign-in refuses every password until then.
        pub locked_until: Option<DateTimeUtc>,
        /// Start of the current password-reset rate-limit window and the requests within it.
        pub reset_window_started_at: Option<DateTimeUtc>,
        pub resets_in_window: i32,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod action_links {
    use sea_orm::entity::prelude::*;

    /// A single-use link sent by e-mail. Only the SHA-256 of its token is stored.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "action_links")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        #[sea_orm(unique)]
        pub token_hash: Vec<u8>,
        pub purpose: super::LinkKind,
        pub user_id: Uuid,
        /// The practice and member an invitation is for; none for password resets.
        pub practice_id: Option<Uuid>,
        pub staff_id: Option<Uuid>,
        /// What the invitee sees before answering, captured when the link was issued.
        pub practice_name: String,
        pub inviter_name: String,
        pub invitee_name: String,
        pub role: String,
        pub created_at: DateTimeUtc,
        pub expires_at: DateTimeUtc,
        pub used_at: Option<DateTimeUtc>,
        /// Set when a newer link for the same person and practice replaced this one.
        pub voided_at: Option<DateTimeUtc>,
        pub outcome: Option<super::LinkAnswer>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod sessions {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "sessions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub user_id: Uuid,
        pub practice_id: Uuid,
        /// SHA-256 of the secret part of the current refresh token; rotated on every refresh.
        pub refresh_hash: Vec<u8>,
        pub created_at: DateTimeUtc,
        pub expires_at: DateTimeUtc,
        pub refreshed_at: Option<DateTimeUtc>,
        pub revoked_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod memberships {
    use sea_orm::entity::prelude::*;

    /// The practices a user may sign in to, with their role there: written when an invitation
    /// is accepted, so sign-in needs no call to staff-directory.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "memberships")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub user_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub practice_id: Uuid,
        pub staff_id: Uuid,
        pub practice_name: String,
        pub role: String,
        pub active: bool,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod signing_keys {
    use sea_orm::entity::prelude::*;

    /// Ed25519 keys that sign access tokens. The private key is sealed with the configured
    /// key-encryption key (`key_format` "sealed-v1"; "pkcs8" is a clear key of before, sealed
    /// at the next start). The newest active key signs; every key not yet retired is
    /// published, so tokens signed just before a rotation still verify.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "signing_keys")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub kid: String,
        pub private_key: Vec<u8>,
        pub created_at: DateTimeUtc,
        /// From then on it is no longer published (tokens it signed have expired); None: not
        /// scheduled.
        pub retired_at: Option<DateTimeUtc>,
        pub key_format: super::KeyStorage,
        /// It signs from then on (published before, so verifiers know it first); None: from
        /// creation.
        pub activates_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod reset_requests {
    use sea_orm::entity::prelude::*;

    /// A password reset request, queued by RequestPasswordReset whatever the e-mail (so a
    /// known and an unknown address cost the caller the same) and applied moments later.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "reset_requests")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub email: String,
        pub requested_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod service_accounts {
    use sea_orm::entity::prelude::*;

    /// A machine caller. Its id is also its client id. `status` is "active" or "disabled";
    /// `token_session` is carried by its tokens, and ended (like a signed-out session) when
    /// the account is disabled.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "service_accounts")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub name: String,
        #[sea_orm(unique)]
        pub name_key: String,
        pub description: String,
        /// Space-separated.
        pub scopes: String,
        pub practice_id: Option<Uuid>,
        pub practice_name: String,
        pub status: super::AccountState,
        pub token_session: Uuid,
        pub created_at: DateTimeUtc,
        pub created_by: String,
        pub rotated_at: Option<DateTimeUtc>,
        pub last_used_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod service_account_secrets {
    use sea_orm::entity::prelude::*;

    /// A client secret, as its SHA-256 (256 random bits: a fast hash is enough). The current
    /// one has no `expires_at`; a replaced one works until then.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "service_account_secrets")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub account_id: Uuid,
        #[sea_orm(unique)]
        pub secret_hash: Vec<u8>,
        pub created_at: DateTimeUtc,
        pub expires_at: Option<DateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod service_account_keys {
    use sea_orm::entity::prelude::*;

    /// An Ed25519 public key (base64url) for the private-key JWT flow; `id` is the `kid`.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "service_account_keys")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub account_id: Uuid,
        pub public_key: String,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod service_account_events {
    use sea_orm::entity::prelude::*;

    /// One change to a service account, with who made it.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "service_account_events")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub account_id: Uuid,
        pub action: String,
        pub actor_name: String,
        pub detail: String,
        pub occurred_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod service_assertions {
    use sea_orm::entity::prelude::*;

    /// A client assertion already exchanged (`<account id>:<jti>`), kept until it expires.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "service_assertions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub expires_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

// Sessions and memberships hold one practice's rows, and so do invitation links and the
// service accounts limited to a practice (password reset links and platform-wide accounts
// have none): queries narrow to a practice with `InPractice::in_practice`.
ps_db::tenanted!(sessions, memberships, action_links, service_accounts);
