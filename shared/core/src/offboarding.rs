//! Values shared by the services that take part in an offboarding.

/// What happens where the replacement already has access to one of the leaver's
/// organisations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ExistingAccess {
    /// The replacement keeps the role they have there (the default: nobody's existing access
    /// changes behind their back; the preview warns when that role lacks permissions the
    /// leaver's had).
    #[default]
    KeepReplacementRole,
    /// The replacement takes the leaver's role there.
    UseLeaverRole,
}

impl ExistingAccess {
    /// Stable text for storage, events and the wire (`keep_replacement_role`, `use_leaver_role`).
    pub fn as_str(self) -> &'static str {
        match self {
            ExistingAccess::KeepReplacementRole => "keep_replacement_role",
            ExistingAccess::UseLeaverRole => "use_leaver_role",
        }
    }

    /// The value [`ExistingAccess::as_str`] gave; `None` for any other text.
    pub fn parse(value: &str) -> Option<Self> {
        [
            ExistingAccess::KeepReplacementRole,
            ExistingAccess::UseLeaverRole,
        ]
        .into_iter()
        .find(|e| e.as_str() == value)
    }
}

/// What an offboarding did (or, previewed, would do).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OffboardingCounts {
    /// Organisations where the leaver had access, each handed to the replacement.
    pub organisations: u32,
    /// The leaver's active memberships, revoked.
    pub memberships_revoked: u32,
    /// New memberships for the replacement.
    pub memberships_granted: u32,
    /// Existing memberships of the replacement whose role or status changed.
    pub memberships_changed: u32,
    /// The leaver's organisation invitations not yet answered, withdrawn.
    pub invitations_withdrawn: u32,
    /// Workflow steps the leaver approved in, now the replacement's.
    pub steps_reassigned: u32,
}
