//! Org-access's domain: the permission catalogue and built-in roles, organisations, workflows,
//! memberships, access changesets and access decisions.

use chrono::{DateTime, Utc};
use ps_core::{
    FieldViolation, LocationId, OrganisationId, PracticeId, RoleId, StaffId, WorkflowId,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

mod access;
mod changeset;
mod offboarding;

pub use access::{AccessFacts, LocationFacts, MembershipFacts, StaffFacts, decide_access};
pub use changeset::{
    ChangesetFacts, ChangesetRefusal, CurrentMembership, OrganisationFacts, Plan, Planned,
    check_changeset_shape, plan_changeset,
};
pub use offboarding::{
    APPROVE, ApprovalStep, HeldMembership, OffboardingFacts, Person, WorkflowFacts,
    plan_offboarding,
};

/// One permission of the fixed catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PermissionDef {
    pub name: &'static str,
    pub description: &'static str,
}

impl PermissionDef {
    /// The module is the part before the dot.
    pub fn module(&self) -> &'static str {
        self.name
            .split_once('.')
            .map_or(self.name, |(module, _)| module)
    }
}

macro_rules! catalogue {
    ($($name:literal => $description:literal),* $(,)?) => {
        /// Every permission there is, grouped by module (`module.action`).
        pub const CATALOGUE: &[PermissionDef] = &[$(PermissionDef { name: $name, description: $description }),*];
    };
}

catalogue! {
    "calendar.view" => "See the calendar",
    "calendar.create" => "Book and change appointments",
    "calendar.delete" => "Cancel appointments",
    "billing.view_reports" => "See billing reports",
    "billing.process_payments" => "Take and record payments",
    "billing.refund" => "Issue refunds",
    "clinical.view_charts" => "Read clinical charts",
    "clinical.write_notes" => "Write clinical notes",
    "clinical.manage_medications" => "Prescribe and change medications",
    "workflow.view" => "See workflows and their steps",
    "workflow.edit" => "Change workflows",
    "workflow.approve" => "Approve workflow steps",
    "organisation.view" => "See the organisation",
    "organisation.manage_access" => "Give and take access to the organisation",
}

pub fn is_permission(name: &str) -> bool {
    CATALOGUE.iter().any(|p| p.name == name)
}

/// A permission named in a request: must be in the catalogue.
pub fn parse_permission(field: &str, raw: &str) -> Result<String, FieldViolation> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(FieldViolation::new(field, "is required"));
    }
    if !is_permission(name) {
        return Err(FieldViolation::new(
            field,
            format!("{name} is not a known permission"),
        ));
    }
    Ok(name.to_owned())
}

/// A built-in role: created for every practice, read-only.
pub struct BuiltInRole {
    pub key: &'static str,
    pub name: &'static str,
    pub permissions: &'static [&'static str],
}

pub const BUILT_IN_ROLES: &[BuiltInRole] = &[
    BuiltInRole {
        key: "administrator",
        name: "Administrator",
        permissions: &[
            "calendar.view",
            "calendar.create",
            "calendar.delete",
            "billing.view_reports",
            "billing.process_payments",
            "billing.refund",
            "clinical.view_charts",
            "clinical.write_notes",
            "clinical.manage_medications",
            "workflow.view",
            "workflow.edit",
            "workflow.approve",
            "organisation.view",
            "organisation.manage_access",
        ],
    },
    BuiltInRole {
        key: "approver",
        name: "Approver",
        permissions: &[
            "workflow.view",
            "workflow.approve",
            "billing.view_reports",
            "organisation.view",
        ],
    },
    BuiltInRole {
        key: "editor",
        name: "Editor",
        permissions: &[
            "workflow.view",
            "workflow.edit",
            "calendar.view",
            "calendar.create",
            "organisation.view",
        ],
    },
    BuiltInRole {
        key: "viewer",
        name: "Viewer",
        permissions: &[
            "calendar.view",
            "billing.view_reports",
            "clinical.view_charts",
            "workflow.view",
            "organisation.view",
        ],
    },
    BuiltInRole {
        key: "provider",
        name: "Provider",
        permissions: &[
            "calendar.view",
            "calendar.create",
            "clinical.view_charts",
            "clinical.write_notes",
            "clinical.manage_medications",
            "organisation.view",
        ],
    },
    BuiltInRole {
        key: "front_desk",
        name: "Front Desk",
        permissions: &[
            "calendar.view",
            "calendar.create",
            "calendar.delete",
            "organisation.view",
        ],
    },
    BuiltInRole {
        key: "billing_manager",
        name: "Billing Manager",
        permissions: &[
            "billing.view_reports",
            "billing.process_payments",
            "billing.refund",
            "calendar.view",
            "organisation.view",
        ],
    },
];

/// The id of a practice's built-in role: derived, so every replica creates the same row.
pub fn built_in_role_id(practice: PracticeId, key: &str) -> RoleId {
    RoleId(Uuid::new_v5(
        &practice.as_uuid(),
        format!("org-access/built-in-role/{key}").as_bytes(),
    ))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MembershipStatus {
    Invited,
    Active,
    Declined,
    Revoked,
}

impl MembershipStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MembershipStatus::Invited => "invited",
            MembershipStatus::Active => "active",
            MembershipStatus::Declined => "declined",
            MembershipStatus::Revoked => "revoked",
        }
    }

    /// Statuses of a current membership (the others are history).
    pub const CURRENT: [&'static str; 2] = ["invited", "active"];
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organisation {
    pub id: OrganisationId,
    pub practice_id: PracticeId,
    pub name: String,
    pub archived: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub id: Uuid,
    pub position: u32,
    pub name: String,
    pub approvers: Vec<StaffId>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workflow {
    pub id: WorkflowId,
    pub organisation_id: OrganisationId,
    pub name: String,
    pub steps: Vec<Step>,
    pub created_at: DateTime<Utc>,
}

/// A step as given in CreateWorkflow / UpdateWorkflow.
#[derive(Debug, Clone)]
pub struct StepInput {
    pub name: ps_core::TitleText,
    pub approvers: Vec<StaffId>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    pub id: RoleId,
    pub name: String,
    pub built_in: bool,
    pub permissions: Vec<String>,
    pub memberships: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub id: Uuid,
    pub organisation_id: OrganisationId,
    pub organisation_name: String,
    pub staff_id: StaffId,
    pub role_id: RoleId,
    pub role_name: String,
    pub status: MembershipStatus,
    pub location_ids: Vec<LocationId>,
    pub invitation_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub status_changed_at: DateTime<Utc>,
}

/// One wanted change of a changeset, for one (organisation, member) pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccessEntry {
    /// Where the entry came from in the request, to name it in errors (`entries[2]`).
    #[serde(skip)]
    pub field: String,
    pub organisation_id: OrganisationId,
    pub staff_id: StaffId,
    pub role_id: Option<RoleId>,
    pub location_ids: Vec<LocationId>,
    pub remove: bool,
}

/// SetStaffAccess or SetOrganisationAccess, as pairs.
#[derive(Debug, Clone, Serialize)]
pub struct Changeset {
    pub request_id: String,
    /// Which direction it came from (they are fingerprinted apart).
    pub kind: &'static str,
    pub default_role_id: Option<RoleId>,
    pub entries: Vec<AccessEntry>,
    #[serde(skip)]
    pub preview: bool,
}

/// A request id: 1–128 printable characters chosen by the client.
pub fn parse_request_id(field: &str, raw: &str) -> Result<String, FieldViolation> {
    let value = raw.trim();
    if value.is_empty() {
        return Err(FieldViolation::new(
            field,
            "is required: choose one per changeset so retries are safe",
        ));
    }
    if value.len() > 128 || value.chars().any(char::is_control) {
        return Err(FieldViolation::new(
            field,
            "must be 1 to 128 printable characters",
        ));
    }
    Ok(value.to_owned())
}

/// One change a changeset makes (or would make, in a preview).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessChange {
    pub organisation_id: OrganisationId,
    pub staff_id: StaffId,
    pub role_before: Option<RoleId>,
    pub role_after: Option<RoleId>,
    pub locations_before: Vec<Uuid>,
    pub locations_after: Vec<Uuid>,
    pub status_before: Option<MembershipStatus>,
    pub status_after: Option<MembershipStatus>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessChangeResult {
    pub request_id: String,
    pub applied: bool,
    pub added: Vec<AccessChange>,
    pub changed: Vec<AccessChange>,
    pub removed: Vec<AccessChange>,
    pub unchanged: u32,
    pub invitation_ids: Vec<Uuid>,
}

/// A role as a plan names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleRef {
    pub id: RoleId,
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandoverAction {
    /// A new membership for the replacement, with the leaver's role and location limits.
    Grant,
    /// The replacement keeps the access they have.
    Keep,
    /// The replacement takes the leaver's role.
    ChangeRole,
    /// The replacement's unanswered invitation becomes active access.
    Activate,
}

/// One organisation where the leaver has access, and what the replacement will hold there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganisationHandover {
    pub organisation_id: OrganisationId,
    pub organisation_name: String,
    pub leaver_role: RoleRef,
    /// The replacement's current membership there: id, role, status.
    pub replacement_before: Option<(Uuid, RoleRef, MembershipStatus)>,
    pub replacement_role_after: RoleRef,
    pub action: HandoverAction,
    /// For a grant: the leaver's location limits.
    pub location_ids: Vec<LocationId>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepAction {
    Replace,
    /// The replacement already approves there; the leaver is dropped.
    DropLeaver,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepHandover {
    pub workflow_id: WorkflowId,
    pub workflow_name: String,
    pub organisation_id: OrganisationId,
    pub step_id: Uuid,
    pub position: u32,
    pub step_name: String,
    pub action: StepAction,
    pub approvers_after: Vec<StaffId>,
}

/// An unanswered organisation invitation of the leaver, withdrawn by the offboarding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WithdrawnInvitation {
    pub membership_id: Uuid,
    pub organisation_id: OrganisationId,
    pub organisation_name: String,
    pub role_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffboardingWarning {
    pub code: &'static str,
    pub message: String,
    pub organisation_id: Option<OrganisationId>,
    pub step_id: Option<Uuid>,
}

/// What offboarding a member to a replacement does; the preview shows it, the handover
/// applies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffboardingPlan {
    pub leaver: StaffId,
    pub replacement: StaffId,
    pub existing_access: ps_core::ExistingAccess,
    pub organisations: Vec<OrganisationHandover>,
    pub steps: Vec<StepHandover>,
    pub withdrawn: Vec<WithdrawnInvitation>,
    pub warnings: Vec<OffboardingWarning>,
    pub counts: ps_core::OffboardingCounts,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecisionReason {
    Allowed,
    UnknownOrganisation,
    OrganisationArchived,
    NotPracticeStaff,
    StaffNotActive,
    StaffDeactivated,
    StaffRemoved,
    StaffOffboarded,
    NoMembership,
    InvitationNotAccepted,
    PermissionNotInRole,
    LocationNotAllowed,
}

/// The answer to "may this user do P in organisation O", and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub reason: DecisionReason,
    pub explanation: String,
    pub staff_id: Option<StaffId>,
    pub membership_id: Option<Uuid>,
    pub role_id: Option<RoleId>,
    pub role_name: Option<String>,
}

impl Decision {
    pub fn allowed(&self) -> bool {
        self.reason == DecisionReason::Allowed
    }

    pub fn denied(reason: DecisionReason, explanation: impl Into<String>) -> Self {
        Self {
            reason,
            explanation: explanation.into(),
            staff_id: None,
            membership_id: None,
            role_id: None,
            role_name: None,
        }
    }
}

/// What a check asks.
#[derive(Debug, Clone)]
pub struct AccessQuery {
    pub organisation_id: OrganisationId,
    pub permission: String,
    pub location_id: Option<LocationId>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepAssignment {
    pub workflow_id: WorkflowId,
    pub workflow_name: String,
    pub organisation_id: OrganisationId,
    pub step_id: Uuid,
    pub position: u32,
    pub step_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffAccess {
    pub staff_id: StaffId,
    pub memberships: Vec<Membership>,
    pub steps: Vec<StepAssignment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessAuditEvent {
    pub id: Uuid,
    pub occurred_at: DateTime<Utc>,
    pub actor_id: String,
    pub actor_name: String,
    pub action: String,
    pub organisation_id: Option<OrganisationId>,
    pub staff_id: Option<StaffId>,
    pub request_id: Option<String>,
    pub before: String,
    pub after: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_roles_use_only_catalogue_permissions() {
        for role in BUILT_IN_ROLES {
            for permission in role.permissions {
                assert!(
                    is_permission(permission),
                    "{} has unknown {permission}",
                    role.name
                );
            }
        }
        let administrator = &BUILT_IN_ROLES[0];
        assert_eq!(
            administrator.permissions.len(),
            CATALOGUE.len(),
            "administrators hold everything"
        );
    }

    #[test]
    fn built_in_role_ids_are_stable_per_practice() {
        let practice = PracticeId::generate();
        assert_eq!(
            built_in_role_id(practice, "viewer"),
            built_in_role_id(practice, "viewer")
        );
        assert_ne!(
            built_in_role_id(practice, "viewer"),
            built_in_role_id(PracticeId::generate(), "viewer")
        );
        assert_eq!(CATALOGUE[0].module(), "calendar");
    }

    #[test]
    fn permissions_are_named_from_the_catalogue() {
        assert_eq!(
            parse_permission("permissions[0]", " calendar.view ").unwrap(),
            "calendar.view"
        );
        for (raw, says) in [
            ("  ", "is required"),
            ("calendar.fly", "calendar.fly is not a known permission"),
        ] {
            let violation = parse_permission("permissions[0]", raw).unwrap_err();
            assert_eq!(violation.field, "permissions[0]");
            assert_eq!(violation.description, says, "{raw:?}");
        }
    }

    #[test]
    fn a_request_id_is_1_to_128_printable_characters() {
        assert_eq!(parse_request_id("request_id", " r-1 ").unwrap(), "r-1");
        assert!(parse_request_id("request_id", &"r".repeat(128)).is_ok());
        let blank = parse_request_id("request_id", " ").unwrap_err();
        assert!(blank.description.starts_with("is required"), "{blank:?}");
        for bad in ["r".repeat(129), "r\u{7}1".to_owned()] {
            let violation = parse_request_id("request_id", &bad).unwrap_err();
            assert_eq!(
                violation.description,
                "must be 1 to 128 printable characters"
            );
        }
    }
}
