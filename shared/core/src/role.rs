//! Practice roles and the rules on who may invite whom.

use std::fmt;

/// A staff member's role in their practice, highest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PracticeRole {
    AccountOwner,
    AccountManager,
    UserManager,
    Member,
}

impl PracticeRole {
    pub const ALL: [PracticeRole; 4] = [
        PracticeRole::AccountOwner,
        PracticeRole::AccountManager,
        PracticeRole::UserManager,
        PracticeRole::Member,
    ];

    /// The roles that may add staff and manage their access.
    pub const STAFF_MANAGERS: [PracticeRole; 3] = [
        PracticeRole::AccountOwner,
        PracticeRole::AccountManager,
        PracticeRole::UserManager,
    ];

    /// Lower is more powerful.
    fn rank(self) -> u8 {
        match self {
            PracticeRole::AccountOwner => 0,
            PracticeRole::AccountManager => 1,
            PracticeRole::UserManager => 2,
            PracticeRole::Member => 3,
        }
    }

    pub fn manages_staff(self) -> bool {
        Self::STAFF_MANAGERS.contains(&self)
    }

    /// Whether someone holding `self` may give `other` to a new member: never a role above
    /// one's own, so a User Manager cannot mint an Account Owner.
    pub fn may_grant(self, other: PracticeRole) -> bool {
        self.manages_staff() && self.rank() <= other.rank()
    }

    /// Stable text for storage and tokens.
    pub fn as_str(self) -> &'static str {
        match self {
            PracticeRole::AccountOwner => "account_owner",
            PracticeRole::AccountManager => "account_manager",
            PracticeRole::UserManager => "user_manager",
            PracticeRole::Member => "member",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == value)
    }

    /// Words for people (e-mails, error messages).
    pub fn title(self) -> &'static str {
        match self {
            PracticeRole::AccountOwner => "Account Owner",
            PracticeRole::AccountManager => "Account Manager",
            PracticeRole::UserManager => "User Manager",
            PracticeRole::Member => "Member",
        }
    }
}

impl fmt::Display for PracticeRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.title())
    }
}

#[cfg(test)]
mod tests {
    use super::PracticeRole::*;
    use super::*;

    #[test]
    fn nobody_grants_above_their_own_role() {
        assert!(AccountOwner.may_grant(AccountOwner));
        assert!(AccountManager.may_grant(UserManager));
        assert!(!AccountManager.may_grant(AccountOwner));
        assert!(UserManager.may_grant(Member));
        assert!(!UserManager.may_grant(AccountManager));
        assert!(!Member.may_grant(Member));
    }

    #[test]
    fn storage_names_round_trip() {
        for role in PracticeRole::ALL {
            assert_eq!(PracticeRole::parse(role.as_str()), Some(role));
        }
        assert_eq!(PracticeRole::parse("admin"), None);
    }
}
