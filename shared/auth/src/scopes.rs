//! The catalogue of scopes a service account may hold. Each internal RPC needs exactly one of
//! them, declared in its service's access policy (`Access::Scoped`); a test walks every
//! internal method of every contract and checks it has one.

use std::fmt;

/// One scope: a capability on internal RPCs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Scope(&'static str);

impl Scope {
    /// The scope's name as tokens carry it (`orgaccess.check`).
    pub const fn as_str(self) -> &'static str {
        self.0
    }

    /// The catalogue's scope called `name`.
    pub fn parse(name: &str) -> Option<Scope> {
        CATALOGUE
            .iter()
            .find(|entry| entry.scope.0 == name)
            .map(|entry| entry.scope)
    }

    /// Product-internal scopes (minting links at identity) are only for platform-wide
    /// accounts created by the operator: no practice's Account Owner may hand them out.
    pub fn is_product_internal(self) -> bool {
        CATALOGUE
            .iter()
            .any(|entry| entry.scope == self && entry.product_internal)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// CheckAccess, CheckAccessBatch and ExplainAccess for services.
pub const ORGACCESS_CHECK: Scope = Scope("orgaccess.check");
/// The roster: staff-directory's internal ListStaff and GetStaff.
pub const STAFF_READ: Scope = Scope("staff.read");
/// Recording a completed certification (an examiner's or course system's).
pub const CERTIFICATION_RECORD: Scope = Scope("certification.record");
/// Minting invitation links (notification, for the invitation e-mails).
pub const IDENTITY_INVITATION_LINKS: Scope = Scope("identity.invitation_links");
/// Minting password reset links (notification, for the reset e-mails).
pub const IDENTITY_RESET_LINKS: Scope = Scope("identity.reset_links");
/// Voiding a link whose e-mail could not be delivered (notification).
pub const IDENTITY_VOID_LINKS: Scope = Scope("identity.void_links");

/// A scope with what it allows.
#[derive(Debug, Clone, Copy)]
pub struct ScopeInfo {
    /// The scope.
    pub scope: Scope,
    /// The RPCs it allows, for people (`pkg.Service: Method, …`).
    pub allows: &'static str,
    /// Whether only platform-wide accounts the operator creates may hold it
    /// ([`Scope::is_product_internal`]).
    pub product_internal: bool,
}

/// Every scope there is, with what it allows.
pub const CATALOGUE: &[ScopeInfo] = &[
    ScopeInfo {
        scope: ORGACCESS_CHECK,
        allows: "orgaccess.v1.OrgAccessAuthorizationService: CheckAccess, CheckAccessBatch, ExplainAccess",
        product_internal: false,
    },
    ScopeInfo {
        scope: STAFF_READ,
        allows: "staff.v1.StaffDirectoryInternalService: ListStaff, GetStaff",
        product_internal: false,
    },
    ScopeInfo {
        scope: CERTIFICATION_RECORD,
        allows: "staff.v1.StaffDirectoryInternalService: RecordCertification",
        product_internal: false,
    },
    ScopeInfo {
        scope: IDENTITY_INVITATION_LINKS,
        allows: "identity.v1.IdentityInternalService: IssueInvitationLink",
        product_internal: true,
    },
    ScopeInfo {
        scope: IDENTITY_RESET_LINKS,
        allows: "identity.v1.IdentityInternalService: IssuePasswordResetLink",
        product_internal: true,
    },
    ScopeInfo {
        scope: IDENTITY_VOID_LINKS,
        allows: "identity.v1.IdentityInternalService: VoidLink",
        product_internal: true,
    },
];

/// notification's own service account (its client id, the same in every deployment; identity
/// provisions it at start with the secret from configuration).
pub const NOTIFICATION_ACCOUNT_ID: uuid::Uuid =
    uuid::Uuid::from_u128(0x0192_0000_0000_7000_8000_0000_0000_0001);

/// The scopes notification's own account holds: minting and voiding the links it e-mails,
/// nothing else.
pub const NOTIFICATION: &[Scope] = &[
    IDENTITY_INVITATION_LINKS,
    IDENTITY_RESET_LINKS,
    IDENTITY_VOID_LINKS,
];

/// The scopes of the ready-made credential the launcher writes for outside services.
pub const LOCAL_SERVICES: &[Scope] = &[ORGACCESS_CHECK, STAFF_READ];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_from_the_catalogue_only() {
        for entry in CATALOGUE {
            assert_eq!(Scope::parse(entry.scope.as_str()), Some(entry.scope));
        }
        assert_eq!(Scope::parse("orgaccess.*"), None);
        assert_eq!(Scope::parse(""), None);
        assert!(IDENTITY_RESET_LINKS.is_product_internal());
        assert!(!ORGACCESS_CHECK.is_product_internal());
    }
}
