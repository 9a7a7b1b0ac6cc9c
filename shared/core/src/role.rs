//! Practice roles and the rules on who may invite whom.

use std::fmt;

/// A staff member's role in their practice, highest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PracticeRole {
    /// May do everything, including the practice's settings, changing roles and removing
    /// members; a practice always keeps an active one.
    AccountOwner,
    /// Invites, deactivates and reactivates staff, and manages locations, the audit log and
    /// organisation access; cannot change practice roles or settings.
    AccountManager,
    /// Invites staff and manages organisations, workflows and who may act in them.
    UserManager,
    /// No management powers.
    Member,
}

impl PracticeRole {
    /// Every role, highest first.
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

    /// Whether the role is one of [`PracticeRole::STAFF_MANAGERS`].
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

    /// The role [`PracticeRole::as_str`] names; `None` for any other text.
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

/// A refusal for want of a practice role, naming the roles that would do: "inviting staff
/// needs the Account Owner, Account Manager or User Manager role". Each service answers it as
/// PERMISSION_DENIED.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RoleRequired(pub String);

impl PracticeRole {
    /// The roles' titles for a sentence: "Account Owner, Account Manager or User Manager".
    pub fn titles(roles: &[PracticeRole]) -> String {
        let titles: Vec<&str> = roles.iter().map(|r| r.title()).collect();
        match titles.split_last() {
            Some((last, [])) => (*last).to_owned(),
            Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
            None => String::new(),
        }
    }

    /// `Ok` when this role is one of `allowed`; otherwise why `what` is refused.
    pub fn require(self, allowed: &[PracticeRole], what: &str) -> Result<(), RoleRequired> {
        if allowed.contains(&self) {
            Ok(())
        } else {
            Err(RoleRequired(format!(
                "{what} needs the {} role",
                Self::titles(allowed)
            )))
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
    fn a_missing_role_is_refused_naming_the_roles_that_would_do() {
        assert_eq!(Member.require(&[AccountOwner, Member], "reading"), Ok(()));
        assert_eq!(
            Member.require(&PracticeRole::STAFF_MANAGERS, "inviting staff"),
            Err(RoleRequired(
                "inviting staff needs the Account Owner, Account Manager or User Manager role"
                    .into()
            ))
        );
        assert_eq!(
            UserManager.require(&[AccountOwner], "changing roles"),
            Err(RoleRequired(
                "changing roles needs the Account Owner role".into()
            ))
        );
        assert_eq!(PracticeRole::titles(&[]), "");
    }

    #[test]
    fn storage_names_round_trip() {
        for role in PracticeRole::ALL {
            assert_eq!(PracticeRole::parse(role.as_str()), Some(role));
        }
        assert_eq!(PracticeRole::parse("admin"), None);
    }
}
