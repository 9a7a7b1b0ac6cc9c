//! Identity's store: its tables ([`entities`], [`migration`]) and typed queries that return
//! domain values. The use cases (`app`) call these and never build a query. Rows of one
//! practice (memberships, sessions, invitation links, practice-limited service accounts) are
//! narrowed to it by [`ps_db::tenancy`]; links and sessions are found by the hash of the
//! secret the caller presents, and single-use checks are part of the `UPDATE` that consumes.
//!
//! - [`users`]: accounts, passwords, the sign-in lockout and the password-reset window.
//! - [`resets`]: the queue of password reset requests.
//! - [`links`]: single-use invitation and password-reset links.
//! - [`sessions`]: sessions and their refresh tokens.
//! - [`memberships`]: the practices each user may sign in to.
//! - [`keys`]: the keys that sign access tokens.
//! - [`service_accounts`]: machine callers, their secrets, keys, history and used assertions.

pub mod entities;
pub mod migration;

pub mod keys;
pub mod links;
pub mod memberships;
pub mod resets;
pub mod service_accounts;
pub mod sessions;
pub mod users;

use ps_core::PracticeRole;

use crate::error::Error;

/// A practice role as stored (links and memberships).
fn stored_role(value: &str) -> Result<PracticeRole, Error> {
    PracticeRole::parse(value)
        .ok_or_else(|| Error::Internal(format!("unknown stored role {value}")))
}

#[cfg(test)]
mod tests {
    use sea_orm::{ActiveEnum, Iterable};

    use super::entities::{AccountState, KeyStorage, LinkAnswer, LinkKind};
    use crate::domain::service_accounts::AccountStatus;
    use crate::domain::{KeyFormat, LinkOutcome, LinkPurpose};

    /// The strings in the tables stay the ones written before the active enums.
    #[test]
    fn stored_values_are_the_strings_in_the_tables() {
        let purposes: Vec<String> = LinkPurpose::ALL
            .iter()
            .map(|p| LinkKind::from(*p).to_value())
            .collect();
        assert_eq!(purposes, ["invitation", "password_reset"]);
        let outcomes: Vec<String> = LinkOutcome::ALL
            .iter()
            .map(|o| LinkAnswer::from(*o).to_value())
            .collect();
        assert_eq!(outcomes, ["accepted", "declined", "password_set"]);
        let formats: Vec<String> = KeyFormat::ALL
            .iter()
            .map(|f| KeyStorage::from(*f).to_value())
            .collect();
        assert_eq!(formats, ["sealed-v1", "pkcs8"]);
        let statuses: Vec<String> = AccountStatus::ALL
            .iter()
            .map(|s| AccountState::from(*s).to_value())
            .collect();
        assert_eq!(statuses, ["active", "disabled"]);
        assert_eq!(LinkKind::iter().count(), LinkPurpose::ALL.len());
        assert_eq!(LinkAnswer::iter().count(), LinkOutcome::ALL.len());
        assert_eq!(KeyStorage::iter().count(), KeyFormat::ALL.len());
        assert_eq!(AccountState::iter().count(), AccountStatus::ALL.len());
        for purpose in LinkPurpose::ALL {
            assert_eq!(LinkPurpose::from(LinkKind::from(*purpose)), *purpose);
        }
    }
}
