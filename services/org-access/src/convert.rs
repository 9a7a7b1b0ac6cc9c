//! The edge's conversions: requests (and their fields) into domain values, reporting every
//! field violation at once, and domain values into `orgaccess.v1` messages. The handlers in
//! [`crate::edge`] call these and the use cases, nothing else.

use std::collections::BTreeSet;

use ps_core::{
    FieldViolation, Invalid, LocationId, OrganisationId, RoleId, StaffId, TitleText, UserId,
    Violations, validation::checked,
};
use ps_proto::convert::{existing_access_to_wire, timestamp};
use ps_proto::orgaccess::v1 as pb;
use tonic::Status;

use crate::app::entry;
use crate::domain::{
    AccessAuditEvent, AccessChange, AccessChangeResult, AccessQuery, Changeset, Decision,
    DecisionReason, HandoverAction, Membership, MembershipStatus, OffboardingPlan,
    OffboardingWarning, Organisation, OrganisationHandover, Role, StaffAccess, StepAction,
    StepHandover, StepInput, WithdrawnInvitation, Workflow, parse_permission, parse_request_id,
};
use crate::error::Error;

/// A request's one id field, parsed by `parse` (`OrganisationId::parse_field`, …); the
/// error names the field.
pub(crate) fn id<T>(
    parse: impl Fn(&str, &str) -> Result<T, FieldViolation>,
    field: &str,
    raw: &str,
) -> Result<T, Status> {
    parse(field, raw).map_err(|v| Error::from(v).into())
}

/// An id field that may be left empty.
pub(crate) fn optional_id<T>(
    v: &mut Violations,
    parse: impl Fn(&str, &str) -> Result<T, FieldViolation>,
    field: &str,
    raw: &str,
) -> Option<T> {
    if raw.trim().is_empty() {
        None
    } else {
        v.check(parse(field, raw))
    }
}

pub(crate) fn strings<T: ToString>(values: &[T]) -> Vec<String> {
    values.iter().map(ToString::to_string).collect()
}

pub(crate) fn organisation(o: Organisation) -> pb::Organisation {
    pb::Organisation {
        id: o.id.to_string(),
        practice_id: o.practice_id.to_string(),
        name: o.name,
        created_at: Some(timestamp(o.created_at)),
        archived: o.archived,
    }
}

pub(crate) fn workflow(w: Workflow) -> pb::Workflow {
    pb::Workflow {
        id: w.id.to_string(),
        organisation_id: w.organisation_id.to_string(),
        name: w.name,
        steps: w
            .steps
            .into_iter()
            .map(|s| pb::WorkflowStep {
                id: s.id.to_string(),
                position: s.position,
                name: s.name,
                approver_staff_ids: strings(&s.approvers),
            })
            .collect(),
        created_at: Some(timestamp(w.created_at)),
    }
}

pub(crate) fn role(r: Role) -> pb::Role {
    pb::Role {
        id: r.id.to_string(),
        name: r.name,
        built_in: r.built_in,
        permissions: r.permissions,
        memberships: u32::try_from(r.memberships).unwrap_or(u32::MAX),
    }
}

pub(crate) fn status(s: MembershipStatus) -> pb::MembershipStatus {
    match s {
        MembershipStatus::Invited => pb::MembershipStatus::Invited,
        MembershipStatus::Active => pb::MembershipStatus::Active,
        MembershipStatus::Declined => pb::MembershipStatus::Declined,
        MembershipStatus::Revoked => pb::MembershipStatus::Revoked,
    }
}

pub(crate) fn optional_status(s: Option<MembershipStatus>) -> i32 {
    s.map_or(pb::MembershipStatus::Unspecified, status) as i32
}

pub(crate) fn offboarding_plan(plan: OffboardingPlan) -> pb::OffboardingPlan {
    pb::OffboardingPlan {
        staff_id: plan.leaver.to_string(),
        replacement_id: plan.replacement.to_string(),
        existing_access: existing_access_to_wire(plan.existing_access),
        organisations: plan
            .organisations
            .into_iter()
            .map(organisation_handover)
            .collect(),
        steps: plan.steps.into_iter().map(step_handover).collect(),
        withdrawn_invitations: plan.withdrawn.into_iter().map(withdrawn).collect(),
        warnings: plan.warnings.into_iter().map(warning).collect(),
        counts: Some(plan.counts.into()),
    }
}

fn organisation_handover(o: OrganisationHandover) -> pb::OrganisationHandover {
    let (role_before, status_before) = match o.replacement_before {
        Some((_, role, s)) => (Some(role), Some(s)),
        None => (None, None),
    };
    pb::OrganisationHandover {
        organisation_id: o.organisation_id.to_string(),
        organisation_name: o.organisation_name,
        leaver_role_id: o.leaver_role.id.to_string(),
        leaver_role_name: o.leaver_role.name,
        replacement_role_id_before: role_before
            .as_ref()
            .map(|r| r.id.to_string())
            .unwrap_or_default(),
        replacement_role_name_before: role_before.map(|r| r.name).unwrap_or_default(),
        replacement_status_before: optional_status(status_before),
        replacement_role_id_after: o.replacement_role_after.id.to_string(),
        replacement_role_name_after: o.replacement_role_after.name,
        action: match o.action {
            HandoverAction::Grant => pb::HandoverAction::Grant,
            HandoverAction::Keep => pb::HandoverAction::Keep,
            HandoverAction::ChangeRole => pb::HandoverAction::ChangeRole,
            HandoverAction::Activate => pb::HandoverAction::Activate,
        } as i32,
        location_ids: strings(&o.location_ids),
    }
}

fn step_handover(s: StepHandover) -> pb::StepHandover {
    pb::StepHandover {
        workflow_id: s.workflow_id.to_string(),
        workflow_name: s.workflow_name,
        organisation_id: s.organisation_id.to_string(),
        step_id: s.step_id.to_string(),
        position: s.position,
        step_name: s.step_name,
        action: match s.action {
            StepAction::Replace => pb::StepAction::Replace,
            StepAction::DropLeaver => pb::StepAction::DropLeaver,
        } as i32,
        approver_staff_ids_after: strings(&s.approvers_after),
    }
}

fn withdrawn(w: WithdrawnInvitation) -> pb::WithdrawnInvitation {
    pb::WithdrawnInvitation {
        membership_id: w.membership_id.to_string(),
        organisation_id: w.organisation_id.to_string(),
        organisation_name: w.organisation_name,
        role_name: w.role_name,
    }
}

fn warning(w: OffboardingWarning) -> pb::OffboardingWarning {
    pb::OffboardingWarning {
        code: w.code.to_owned(),
        message: w.message,
        organisation_id: w
            .organisation_id
            .map(|id| id.to_string())
            .unwrap_or_default(),
        step_id: w.step_id.map(|id| id.to_string()).unwrap_or_default(),
    }
}

pub(crate) fn membership(m: Membership) -> pb::Membership {
    pb::Membership {
        id: m.id.to_string(),
        organisation_id: m.organisation_id.to_string(),
        staff_id: m.staff_id.to_string(),
        role_id: m.role_id.to_string(),
        status: status(m.status) as i32,
        location_ids: strings(&m.location_ids),
        created_at: Some(timestamp(m.created_at)),
        status_changed_at: Some(timestamp(m.status_changed_at)),
        invitation_id: m.invitation_id.map(|i| i.to_string()).unwrap_or_default(),
        organisation_name: m.organisation_name,
        role_name: m.role_name,
    }
}

pub(crate) fn change(c: AccessChange) -> pb::AccessChange {
    let opt = |id: Option<RoleId>| id.map(|i| i.to_string()).unwrap_or_default();
    pb::AccessChange {
        organisation_id: c.organisation_id.to_string(),
        staff_id: c.staff_id.to_string(),
        role_id_before: opt(c.role_before),
        role_id_after: opt(c.role_after),
        location_ids_before: strings(&c.locations_before),
        location_ids_after: strings(&c.locations_after),
        status_before: optional_status(c.status_before),
        status_after: optional_status(c.status_after),
    }
}

pub(crate) fn result(r: AccessChangeResult) -> pb::AccessChangeResult {
    pb::AccessChangeResult {
        request_id: r.request_id,
        applied: r.applied,
        added: r.added.into_iter().map(change).collect(),
        changed: r.changed.into_iter().map(change).collect(),
        removed: r.removed.into_iter().map(change).collect(),
        unchanged: r.unchanged,
        invitation_ids: strings(&r.invitation_ids),
    }
}

pub(crate) fn decision(d: Decision) -> pb::AccessDecision {
    use DecisionReason::*;
    let reason = match d.reason {
        Allowed => pb::DecisionReason::Allowed,
        UnknownOrganisation => pb::DecisionReason::UnknownOrganisation,
        OrganisationArchived => pb::DecisionReason::OrganisationArchived,
        NotPracticeStaff => pb::DecisionReason::NotPracticeStaff,
        StaffNotActive => pb::DecisionReason::StaffNotActive,
        StaffDeactivated => pb::DecisionReason::StaffDeactivated,
        StaffRemoved => pb::DecisionReason::StaffRemoved,
        StaffOffboarded => pb::DecisionReason::StaffOffboarded,
        NoMembership => pb::DecisionReason::NoMembership,
        InvitationNotAccepted => pb::DecisionReason::InvitationNotAccepted,
        PermissionNotInRole => pb::DecisionReason::PermissionNotInRole,
        LocationNotAllowed => pb::DecisionReason::LocationNotAllowed,
    };
    pb::AccessDecision {
        allowed: d.allowed(),
        reason: reason as i32,
        explanation: d.explanation,
        staff_id: d.staff_id.map(|s| s.to_string()).unwrap_or_default(),
        membership_id: d.membership_id.map(|m| m.to_string()).unwrap_or_default(),
        role_id: d.role_id.map(|r| r.to_string()).unwrap_or_default(),
        role_name: d.role_name.unwrap_or_default(),
    }
}

pub(crate) fn audit_event(e: AccessAuditEvent) -> pb::AccessAuditEvent {
    pb::AccessAuditEvent {
        id: e.id.to_string(),
        occurred_at: Some(timestamp(e.occurred_at)),
        actor_id: e.actor_id,
        actor_name: e.actor_name,
        action: e.action,
        organisation_id: e.organisation_id.map(|o| o.to_string()).unwrap_or_default(),
        staff_id: e.staff_id.map(|s| s.to_string()).unwrap_or_default(),
        request_id: e.request_id.unwrap_or_default(),
        before: e.before,
        after: e.after,
    }
}

pub(crate) fn steps(v: &mut Violations, inputs: &[pb::StepInput]) -> Vec<StepInput> {
    inputs
        .iter()
        .enumerate()
        .filter_map(|(i, step)| {
            let name = v.check(TitleText::parse(&format!("steps[{i}].name"), &step.name));
            let approvers: Vec<StaffId> = step
                .approver_staff_ids
                .iter()
                .enumerate()
                .filter_map(|(j, raw)| {
                    v.check(StaffId::parse_field(
                        &format!("steps[{i}].approver_staff_ids[{j}]"),
                        raw,
                    ))
                })
                .collect();
            Some(StepInput {
                name: name?,
                approvers,
            })
        })
        .collect()
}

pub(crate) fn permissions(v: &mut Violations, raw: &[String]) -> BTreeSet<String> {
    raw.iter()
        .enumerate()
        .filter_map(|(i, p)| v.check(parse_permission(&format!("permissions[{i}]"), p)))
        .collect()
}

pub(crate) fn locations(v: &mut Violations, field: &str, raw: &[String]) -> Vec<LocationId> {
    raw.iter()
        .enumerate()
        .filter_map(|(j, l)| {
            v.check(LocationId::parse_field(
                &format!("{field}.location_ids[{j}]"),
                l,
            ))
        })
        .collect()
}

/// Both directions become the same changeset of (organisation, member) pairs.
pub(crate) fn changeset(
    kind: &'static str,
    request_id: &str,
    default_role_id: &str,
    preview: bool,
    entries: &[pb::AccessEntry],
    pair: impl Fn(&mut Violations, &str, &pb::AccessEntry) -> Option<(OrganisationId, StaffId)>,
) -> Result<Changeset, Invalid> {
    let mut v = Violations::default();
    let request_id = v.check(parse_request_id("request_id", request_id));
    let default_role_id = optional_id(
        &mut v,
        RoleId::parse_field,
        "default_role_id",
        default_role_id,
    );
    if entries.is_empty() {
        v.push(FieldViolation::new("entries", "needs at least one entry"));
    }
    let entries: Vec<_> = entries
        .iter()
        .enumerate()
        .filter_map(|(i, e)| {
            let field = format!("entries[{i}]");
            let pair = pair(&mut v, &field, e);
            let role = optional_id(
                &mut v,
                RoleId::parse_field,
                &format!("{field}.role_id"),
                &e.role_id,
            );
            let location_ids = locations(&mut v, &field, &e.location_ids);
            let (organisation, staff) = pair?;
            Some(entry(
                field,
                organisation,
                staff,
                role,
                location_ids,
                e.remove,
            ))
        })
        .collect();
    v.finish()?;
    Ok(Changeset {
        request_id: checked(request_id),
        kind,
        default_role_id,
        entries,
        preview,
    })
}

pub(crate) fn access_query(
    v: &mut Violations,
    organisation: &str,
    permission: &str,
    location: &str,
    prefix: &str,
) -> Option<AccessQuery> {
    let organisation_id = v.check(OrganisationId::parse_field(
        &format!("{prefix}organisation_id"),
        organisation,
    ));
    let permission = v.check(parse_permission(&format!("{prefix}permission"), permission));
    let location_id = if location.trim().is_empty() {
        None
    } else {
        v.check(LocationId::parse_field(
            &format!("{prefix}location_id"),
            location,
        ))
    };
    Some(AccessQuery {
        organisation_id: organisation_id?,
        permission: permission?,
        location_id,
    })
}

/// A question about a user (CheckAccess, ExplainAccess): who, and may they do what where.
pub(crate) fn user_question(
    user_id: &str,
    organisation_id: &str,
    permission: &str,
    location_id: &str,
) -> Result<(UserId, AccessQuery), Invalid> {
    let mut v = Violations::default();
    let user = v.check(UserId::parse_field("user_id", user_id));
    let query = access_query(&mut v, organisation_id, permission, location_id, "");
    v.finish()?;
    Ok((checked(user), checked(query)))
}

pub(crate) fn explain_request(
    req: &pb::ExplainAccessRequest,
) -> Result<(UserId, AccessQuery), Invalid> {
    user_question(
        &req.user_id,
        &req.organisation_id,
        &req.permission,
        &req.location_id,
    )
}

pub(crate) fn staff_access(access: StaffAccess) -> pb::StaffAccess {
    pb::StaffAccess {
        staff_id: access.staff_id.to_string(),
        memberships: access.memberships.into_iter().map(membership).collect(),
        steps: access
            .steps
            .into_iter()
            .map(|s| pb::StepAssignment {
                workflow_id: s.workflow_id.to_string(),
                workflow_name: s.workflow_name,
                organisation_id: s.organisation_id.to_string(),
                step_id: s.step_id.to_string(),
                position: s.position,
                step_name: s.step_name,
            })
            .collect(),
    }
}
