//! Conversions between the shared vocabulary of `ps-core` and its wire form, used at every
//! service's gRPC edge and by the event codec.

use chrono::{DateTime, Utc};
use ps_core::{ExistingAccess, FieldViolation, OffboardingCounts, PracticeRole};

use crate::common::v1 as common;

impl From<PracticeRole> for common::PracticeRole {
    fn from(role: PracticeRole) -> Self {
        match role {
            PracticeRole::AccountOwner => common::PracticeRole::AccountOwner,
            PracticeRole::AccountManager => common::PracticeRole::AccountManager,
            PracticeRole::UserManager => common::PracticeRole::UserManager,
            PracticeRole::Member => common::PracticeRole::Member,
        }
    }
}

/// The wire number of a role.
pub fn role_to_wire(role: PracticeRole) -> i32 {
    common::PracticeRole::from(role) as i32
}

/// A role from its wire number; unspecified (0) and unknown numbers are refused, since proto3
/// enums are open and would otherwise decode silently to the default.
pub fn role_from_wire(field: &str, value: i32) -> Result<PracticeRole, FieldViolation> {
    match common::PracticeRole::try_from(value) {
        Ok(common::PracticeRole::AccountOwner) => Ok(PracticeRole::AccountOwner),
        Ok(common::PracticeRole::AccountManager) => Ok(PracticeRole::AccountManager),
        Ok(common::PracticeRole::UserManager) => Ok(PracticeRole::UserManager),
        Ok(common::PracticeRole::Member) => Ok(PracticeRole::Member),
        Ok(common::PracticeRole::Unspecified) => Err(FieldViolation::new(field, "is required")),
        Err(_) => Err(FieldViolation::new(field, "is not a known practice role")),
    }
}

pub fn timestamp(at: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: i32::try_from(at.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

pub fn optional_timestamp(at: Option<DateTime<Utc>>) -> Option<prost_types::Timestamp> {
    at.map(timestamp)
}

pub fn from_timestamp(at: &prost_types::Timestamp) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(at.seconds, u32::try_from(at.nanos).ok()?)
}

/// Parses `common.v1.PageRequest` (absent means the first page of the default size).
pub fn page_request(
    field: &str,
    page: Option<&common::PageRequest>,
) -> Result<ps_core::PageRequest, ps_core::Invalid> {
    match page {
        Some(page) => ps_core::PageRequest::parse(field, page.page_size, &page.page_token),
        None => ps_core::PageRequest::parse(field, 0, ""),
    }
}

/// The option's wire number.
pub fn existing_access_to_wire(option: ExistingAccess) -> i32 {
    match option {
        ExistingAccess::KeepReplacementRole => common::ExistingAccess::KeepReplacementRole as i32,
        ExistingAccess::UseLeaverRole => common::ExistingAccess::UseLeaverRole as i32,
    }
}

/// The option from its wire number; unspecified (0) is the documented default, unknown numbers
/// are refused.
pub fn existing_access_from_wire(
    field: &str,
    value: i32,
) -> Result<ExistingAccess, FieldViolation> {
    match common::ExistingAccess::try_from(value) {
        Ok(common::ExistingAccess::Unspecified | common::ExistingAccess::KeepReplacementRole) => {
            Ok(ExistingAccess::KeepReplacementRole)
        }
        Ok(common::ExistingAccess::UseLeaverRole) => Ok(ExistingAccess::UseLeaverRole),
        Err(_) => Err(FieldViolation::new(field, "is not a known option")),
    }
}

impl From<OffboardingCounts> for common::OffboardingCounts {
    fn from(c: OffboardingCounts) -> Self {
        Self {
            organisations: c.organisations,
            memberships_revoked: c.memberships_revoked,
            memberships_granted: c.memberships_granted,
            memberships_changed: c.memberships_changed,
            invitations_withdrawn: c.invitations_withdrawn,
            steps_reassigned: c.steps_reassigned,
        }
    }
}

impl From<common::OffboardingCounts> for OffboardingCounts {
    fn from(c: common::OffboardingCounts) -> Self {
        Self {
            organisations: c.organisations,
            memberships_revoked: c.memberships_revoked,
            memberships_granted: c.memberships_granted,
            memberships_changed: c.memberships_changed,
            invitations_withdrawn: c.invitations_withdrawn,
            steps_reassigned: c.steps_reassigned,
        }
    }
}
