//! Offboarding as a rule: who leaves, who takes over, and what org-access holds about the
//! leaver's access ([`OffboardingFacts`], read by the store in one load step, with a fixed
//! number of queries) in, the [`OffboardingPlan`] out — every organisation handed over and how,
//! every workflow step reassigned, the invitations withdrawn, the warnings and the counts. The
//! preview shows it; the handover applies exactly it.

use std::collections::{HashMap, HashSet};

use ps_core::{
    ExistingAccess, LocationId, OffboardingCounts, OrganisationId, RoleId, StaffId, WorkflowId,
};
use uuid::Uuid;

use super::{
    HandoverAction, MembershipStatus, OffboardingPlan, OffboardingWarning, OrganisationHandover,
    RoleRef, StepAction, StepHandover, WithdrawnInvitation,
};

/// The permission a step's approvers need.
pub const APPROVE: &str = "workflow.approve";

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// One of the two people of an offboarding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub staff_id: StaffId,
    pub name: String,
    /// Where they may work; empty means anywhere.
    pub location_ids: Vec<LocationId>,
}

/// A current (invited or active) membership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldMembership {
    pub id: Uuid,
    pub organisation_id: OrganisationId,
    pub role_id: RoleId,
    pub status: MembershipStatus,
}

/// A workflow step the leaver approves in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalStep {
    pub id: Uuid,
    pub workflow_id: WorkflowId,
    pub position: i32,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkflowFacts {
    pub id: WorkflowId,
    pub name: String,
    pub organisation_id: OrganisationId,
}

/// What planning an offboarding reads, all within the practice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffboardingFacts {
    pub leaver: Person,
    pub replacement: Person,
    pub existing_access: ExistingAccess,
    /// The leaver's current memberships.
    pub leaver_memberships: Vec<HeldMembership>,
    /// The replacement's current memberships where the leaver has one, by organisation.
    pub replacement_memberships: HashMap<OrganisationId, HeldMembership>,
    /// The steps the leaver approves in, their workflows, and every approver of those steps
    /// (by step).
    pub steps: Vec<ApprovalStep>,
    pub workflows: HashMap<WorkflowId, WorkflowFacts>,
    pub approvers: HashMap<Uuid, Vec<StaffId>>,
    pub organisation_names: HashMap<OrganisationId, String>,
    pub role_names: HashMap<RoleId, String>,
    /// Every role's permissions.
    pub permissions: HashMap<RoleId, HashSet<String>>,
    /// The location limits of the leaver's memberships, by membership.
    pub limits: HashMap<Uuid, Vec<LocationId>>,
    /// The replacement's other active access, organisation → role (read only when the leaver
    /// approves in some step): it counts for whether they can approve a step they take over.
    pub other_access: HashMap<OrganisationId, RoleId>,
}

/// The offboarding plan: each of the leaver's organisations is granted to the replacement
/// with the leaver's role, kept or changed where they already have access (by
/// `existing_access`), or activated where they were only invited; the leaver's pending
/// invitations are withdrawn; every step they approve in goes to the replacement (or just loses
/// them, where the replacement already approves). Warnings: the replacement keeps a role that
/// lacks permissions the leaver's had, an invitation of theirs becomes active, the access is
/// limited to locations they cannot work at, they cannot approve a step they take over,
/// nothing to hand over.
pub fn plan_offboarding(facts: OffboardingFacts) -> OffboardingPlan {
    let mut plan = OffboardingPlan {
        leaver: facts.leaver.staff_id,
        replacement: facts.replacement.staff_id,
        existing_access: facts.existing_access,
        organisations: Vec::new(),
        steps: Vec::new(),
        withdrawn: Vec::new(),
        warnings: Vec::new(),
        counts: OffboardingCounts::default(),
    };
    for held in &facts.leaver_memberships {
        if held.status == MembershipStatus::Invited {
            plan.withdrawn.push(withdrawn(&facts, held));
            continue;
        }
        let handover = organisation_handover(&facts, held);
        plan.warnings
            .extend(organisation_warnings(&facts, held, &handover));
        plan.organisations.push(handover);
    }
    // What the replacement can do in each organisation afterwards, for step warnings.
    let role_after: HashMap<OrganisationId, RoleId> = plan
        .organisations
        .iter()
        .map(|o| (o.organisation_id, o.replacement_role_after.id))
        .collect();
    for step in &facts.steps {
        let Some(workflow) = facts.workflows.get(&step.workflow_id) else {
            continue;
        };
        let handover = step_handover(&facts, step, workflow);
        if !can_approve(&facts, &role_after, workflow.organisation_id) {
            plan.warnings
                .push(cannot_approve(&facts, step, workflow, &handover));
        }
        plan.steps.push(handover);
    }
    finish(&mut plan, &facts.leaver.name);
    plan
}

/// A role by id, named even when it is gone.
fn role(facts: &OffboardingFacts, id: RoleId) -> RoleRef {
    RoleRef {
        id,
        name: facts
            .role_names
            .get(&id)
            .cloned()
            .unwrap_or_else(|| "(deleted role)".into()),
    }
}

/// An organisation's name (its id if it is gone).
fn organisation_name(facts: &OffboardingFacts, id: OrganisationId) -> String {
    facts
        .organisation_names
        .get(&id)
        .cloned()
        .unwrap_or_else(|| id.to_string())
}

/// An unanswered invitation of the leaver, withdrawn rather than handed on.
fn withdrawn(facts: &OffboardingFacts, held: &HeldMembership) -> WithdrawnInvitation {
    WithdrawnInvitation {
        membership_id: held.id,
        organisation_id: held.organisation_id,
        organisation_name: organisation_name(facts, held.organisation_id),
        role_name: role(facts, held.role_id).name,
    }
}

/// What the replacement holds in one of the leaver's organisations afterwards: a grant of the
/// leaver's role (with the leaver's location limits) where they have nothing, else their own
/// membership kept, changed to the leaver's role, or activated.
fn organisation_handover(facts: &OffboardingFacts, held: &HeldMembership) -> OrganisationHandover {
    let organisation = held.organisation_id;
    let leaver_role = role(facts, held.role_id);
    let theirs = facts.replacement_memberships.get(&organisation);
    let (action, after) = match theirs {
        None => (HandoverAction::Grant, leaver_role.clone()),
        Some(m) => {
            let keep = facts.existing_access == ExistingAccess::KeepReplacementRole
                || m.role_id == held.role_id;
            let after = if keep {
                role(facts, m.role_id)
            } else {
                leaver_role.clone()
            };
            let action = if m.status == MembershipStatus::Invited {
                HandoverAction::Activate
            } else if keep {
                HandoverAction::Keep
            } else {
                HandoverAction::ChangeRole
            };
            (action, after)
        }
    };
    let location_ids = if action == HandoverAction::Grant {
        facts.limits.get(&held.id).cloned().unwrap_or_default()
    } else {
        Vec::new()
    };
    OrganisationHandover {
        organisation_id: organisation,
        organisation_name: organisation_name(facts, organisation),
        leaver_role,
        replacement_before: theirs.map(|m| (m.id, role(facts, m.role_id), m.status)),
        replacement_role_after: after,
        action,
        location_ids,
    }
}

/// The warnings about one organisation handed over, in this order: the replacement's role
/// lacks permissions the leaver's had, their invitation becomes active, the access is limited
/// to locations they may not work at.
fn organisation_warnings(
    facts: &OffboardingFacts,
    held: &HeldMembership,
    handover: &OrganisationHandover,
) -> Vec<OffboardingWarning> {
    let organisation = handover.organisation_id;
    let label = &handover.organisation_name;
    let replacement_name = &facts.replacement.name;
    let warning = |code, message| OffboardingWarning {
        code,
        message,
        organisation_id: Some(organisation),
        step_id: None,
    };
    let mut warnings = Vec::new();
    if let Some(theirs) = facts.replacement_memberships.get(&organisation) {
        let missing = missing_permissions(facts, held.role_id, handover.replacement_role_after.id);
        if !missing.is_empty() {
            warnings.push(warning(
                "ROLE_LACKS_PERMISSIONS",
                format!(
                    "In {label}, {replacement_name} keeps the role {} without {} that {}'s role {} has",
                    handover.replacement_role_after.name,
                    missing.join(", "),
                    facts.leaver.name,
                    handover.leaver_role.name
                ),
            ));
        }
        if theirs.status == MembershipStatus::Invited {
            warnings.push(warning(
                "INVITATION_ACTIVATED",
                format!(
                    "{replacement_name} had not answered the invitation to {label}; the handover makes that access active"
                ),
            ));
        }
    }
    let limits = &handover.location_ids;
    let workplaces = &facts.replacement.location_ids;
    if !limits.is_empty()
        && !workplaces.is_empty()
        && !limits.iter().any(|l| workplaces.contains(l))
    {
        warnings.push(warning(
            "LOCATIONS_DISJOINT",
            format!(
                "In {label}, the access is limited to locations {replacement_name} may not work at, so it will not let them act there"
            ),
        ));
    }
    warnings
}

/// The permissions of role `had` that role `has` lacks, sorted.
fn missing_permissions(facts: &OffboardingFacts, had: RoleId, has: RoleId) -> Vec<&str> {
    let they_have = facts.permissions.get(&has);
    let mut missing: Vec<&str> = facts
        .permissions
        .get(&had)
        .into_iter()
        .flatten()
        .filter(|p| !they_have.is_some_and(|theirs| theirs.contains(*p)))
        .map(String::as_str)
        .collect();
    missing.sort_unstable();
    missing
}

/// A step the leaver approves in: the replacement takes their place, or (where the replacement
/// already approves there) the leaver is just dropped.
fn step_handover(
    facts: &OffboardingFacts,
    step: &ApprovalStep,
    workflow: &WorkflowFacts,
) -> StepHandover {
    let leaver = facts.leaver.staff_id;
    let replacement = facts.replacement.staff_id;
    let before = facts
        .approvers
        .get(&step.id)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let action = if before.contains(&replacement) {
        StepAction::DropLeaver
    } else {
        StepAction::Replace
    };
    let mut approvers_after: Vec<StaffId> = Vec::with_capacity(before.len());
    for &staff in before {
        let staff = if staff == leaver { replacement } else { staff };
        if !approvers_after.contains(&staff) {
            approvers_after.push(staff);
        }
    }
    StepHandover {
        workflow_id: workflow.id,
        workflow_name: workflow.name.clone(),
        organisation_id: workflow.organisation_id,
        step_id: step.id,
        position: u32::try_from(step.position).unwrap_or(0),
        step_name: step.name.clone(),
        action,
        approvers_after,
    }
}

/// Whether the replacement can approve in the organisation afterwards: with the role handed
/// over there, or else their own access there.
fn can_approve(
    facts: &OffboardingFacts,
    role_after: &HashMap<OrganisationId, RoleId>,
    organisation: OrganisationId,
) -> bool {
    role_after
        .get(&organisation)
        .or_else(|| facts.other_access.get(&organisation))
        .and_then(|role| facts.permissions.get(role))
        .is_some_and(|p| p.contains(APPROVE))
}

fn cannot_approve(
    facts: &OffboardingFacts,
    step: &ApprovalStep,
    workflow: &WorkflowFacts,
    handover: &StepHandover,
) -> OffboardingWarning {
    OffboardingWarning {
        code: "CANNOT_APPROVE",
        message: format!(
            "{} takes over step {} \"{}\" of {} in {} but has no access there with {APPROVE}{}",
            facts.replacement.name,
            step.position,
            step.name,
            workflow.name,
            organisation_name(facts, workflow.organisation_id),
            if handover.approvers_after.len() > 1 {
                ""
            } else {
                ": nobody will be able to approve the step"
            }
        ),
        organisation_id: Some(workflow.organisation_id),
        step_id: Some(step.id),
    }
}

/// The plan in a stable order, with the warning that there is nothing to hand over (when so)
/// and the counts.
fn finish(plan: &mut OffboardingPlan, leaver_name: &str) {
    plan.organisations.sort_by(|a, b| {
        (&a.organisation_name, a.organisation_id).cmp(&(&b.organisation_name, b.organisation_id))
    });
    plan.steps
        .sort_by_key(|s| (s.workflow_id, s.position, s.step_id));
    plan.withdrawn
        .sort_by(|a, b| a.organisation_name.cmp(&b.organisation_name));
    if plan.organisations.is_empty() && plan.steps.is_empty() && plan.withdrawn.is_empty() {
        plan.warnings.push(OffboardingWarning {
            code: "NOTHING_TO_HAND_OVER",
            message: format!(
                "{leaver_name} has no organisation access and approves in no workflow step"
            ),
            organisation_id: None,
            step_id: None,
        });
    }
    let actions = |wanted: &[HandoverAction]| {
        count(
            plan.organisations
                .iter()
                .filter(|o| wanted.contains(&o.action))
                .count(),
        )
    };
    plan.counts = OffboardingCounts {
        organisations: count(plan.organisations.len()),
        memberships_revoked: count(plan.organisations.len()),
        memberships_granted: actions(&[HandoverAction::Grant]),
        memberships_changed: actions(&[HandoverAction::ChangeRole, HandoverAction::Activate]),
        invitations_withdrawn: count(plan.withdrawn.len()),
        steps_reassigned: count(plan.steps.len()),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEAVER: StaffId = StaffId(Uuid::from_u128(1));
    const TAKER: StaffId = StaffId(Uuid::from_u128(2));
    const OTHER: StaffId = StaffId(Uuid::from_u128(3));
    const HARBOUR: OrganisationId = OrganisationId(Uuid::from_u128(0x10));
    const BAY: OrganisationId = OrganisationId(Uuid::from_u128(0x11));
    const COVE: OrganisationId = OrganisationId(Uuid::from_u128(0x12));
    const APPROVER: RoleId = RoleId(Uuid::from_u128(0x20));
    const VIEWER: RoleId = RoleId(Uuid::from_u128(0x21));
    const NORTH: LocationId = LocationId(Uuid::from_u128(0x30));
    const SOUTH: LocationId = LocationId(Uuid::from_u128(0x31));
    const WORKFLOW: WorkflowId = WorkflowId(Uuid::from_u128(0x40));
    const STEP: Uuid = Uuid::from_u128(0x41);

    fn held(
        id: u128,
        organisation: OrganisationId,
        role: RoleId,
        status: MembershipStatus,
    ) -> HeldMembership {
        HeldMembership {
            id: Uuid::from_u128(id),
            organisation_id: organisation,
            role_id: role,
            status,
        }
    }

    /// Lea leaves for Tom; Approver holds view and approve, Viewer only view; no access yet.
    fn facts() -> OffboardingFacts {
        fn names<K: Copy + Eq + std::hash::Hash>(pairs: &[(K, &str)]) -> HashMap<K, String> {
            pairs
                .iter()
                .map(|(id, name)| (*id, (*name).to_owned()))
                .collect()
        }
        OffboardingFacts {
            leaver: Person {
                staff_id: LEAVER,
                name: "Lea".into(),
                location_ids: Vec::new(),
            },
            replacement: Person {
                staff_id: TAKER,
                name: "Tom".into(),
                location_ids: Vec::new(),
            },
            existing_access: ExistingAccess::KeepReplacementRole,
            leaver_memberships: Vec::new(),
            replacement_memberships: HashMap::new(),
            steps: Vec::new(),
            workflows: HashMap::new(),
            approvers: HashMap::new(),
            organisation_names: names(&[(HARBOUR, "Harbour"), (BAY, "Bay"), (COVE, "Cove")]),
            role_names: names(&[(APPROVER, "Approver"), (VIEWER, "Viewer")]),
            permissions: [
                (APPROVER, vec!["workflow.view", APPROVE]),
                (VIEWER, vec!["workflow.view"]),
            ]
            .into_iter()
            .map(|(role, p)| (role, p.into_iter().map(str::to_owned).collect()))
            .collect(),
            limits: HashMap::new(),
            other_access: HashMap::new(),
        }
    }

    fn codes(plan: &OffboardingPlan) -> Vec<&'static str> {
        plan.warnings.iter().map(|w| w.code).collect()
    }

    #[test]
    fn nothing_to_hand_over_is_said() {
        let plan = plan_offboarding(facts());
        assert_eq!(codes(&plan), ["NOTHING_TO_HAND_OVER"]);
        assert_eq!(
            plan.warnings[0].message,
            "Lea has no organisation access and approves in no workflow step"
        );
        assert_eq!(plan.counts, OffboardingCounts::default());
    }

    /// Each organisation handed over: its name, the action, the replacement's role after.
    fn summary(plan: &OffboardingPlan) -> Vec<(String, HandoverAction, String)> {
        plan.organisations
            .iter()
            .map(|o| {
                (
                    o.organisation_name.clone(),
                    o.action,
                    o.replacement_role_after.name.clone(),
                )
            })
            .collect()
    }

    #[test]
    fn each_organisation_is_granted_kept_changed_or_activated() {
        let mut f = facts();
        f.leaver_memberships = vec![
            held(0x100, HARBOUR, APPROVER, MembershipStatus::Active),
            held(0x101, BAY, APPROVER, MembershipStatus::Active),
            held(0x102, COVE, VIEWER, MembershipStatus::Active),
        ];
        f.limits.insert(Uuid::from_u128(0x100), vec![NORTH]);
        // Tom already has Bay as a Viewer, and an unanswered invitation to Cove as a Viewer.
        f.replacement_memberships = [
            (BAY, held(0x200, BAY, VIEWER, MembershipStatus::Active)),
            (COVE, held(0x201, COVE, VIEWER, MembershipStatus::Invited)),
        ]
        .into_iter()
        .collect();
        let keep = plan_offboarding(f.clone());
        assert_eq!(
            summary(&keep),
            [
                ("Bay".into(), HandoverAction::Keep, "Viewer".into()),
                ("Cove".into(), HandoverAction::Activate, "Viewer".into()),
                ("Harbour".into(), HandoverAction::Grant, "Approver".into()),
            ]
        );
        // The grant carries the leaver's location limits; the others none.
        let harbour = &keep.organisations[2];
        assert_eq!(harbour.location_ids, [NORTH]);
        assert_eq!(harbour.replacement_before, None);
        assert_eq!(
            keep.organisations[0].replacement_before,
            Some((
                Uuid::from_u128(0x200),
                RoleRef {
                    id: VIEWER,
                    name: "Viewer".into()
                },
                MembershipStatus::Active
            ))
        );
        assert_eq!(
            codes(&keep),
            ["ROLE_LACKS_PERMISSIONS", "INVITATION_ACTIVATED"],
            "{:#?}",
            keep.warnings
        );
        assert_eq!(
            keep.warnings[0].message,
            "In Bay, Tom keeps the role Viewer without workflow.approve that Lea's role Approver has"
        );
        assert_eq!(
            keep.warnings[1].message,
            "Tom had not answered the invitation to Cove; the handover makes that access active"
        );
        assert_eq!(
            keep.counts,
            OffboardingCounts {
                organisations: 3,
                memberships_revoked: 3,
                memberships_granted: 1,
                memberships_changed: 1,
                invitations_withdrawn: 0,
                steps_reassigned: 0,
            }
        );

        // Taking the leaver's role instead: Bay changes role, and no permission is lost.
        f.existing_access = ExistingAccess::UseLeaverRole;
        let take = plan_offboarding(f);
        assert_eq!(
            summary(&take)[0],
            ("Bay".into(), HandoverAction::ChangeRole, "Approver".into())
        );
        assert_eq!(codes(&take), ["INVITATION_ACTIVATED"]);
        assert_eq!(take.counts.memberships_changed, 2);
    }

    #[test]
    fn the_leavers_open_invitations_are_withdrawn() {
        let mut f = facts();
        f.leaver_memberships = vec![held(0x100, HARBOUR, VIEWER, MembershipStatus::Invited)];
        let plan = plan_offboarding(f);
        assert_eq!(
            plan.withdrawn,
            [WithdrawnInvitation {
                membership_id: Uuid::from_u128(0x100),
                organisation_id: HARBOUR,
                organisation_name: "Harbour".into(),
                role_name: "Viewer".into(),
            }]
        );
        assert!(plan.organisations.is_empty());
        assert!(
            codes(&plan).is_empty(),
            "a withdrawal is something to hand over"
        );
        assert_eq!(plan.counts.invitations_withdrawn, 1);
    }

    #[test]
    fn access_limited_to_locations_the_replacement_cannot_work_at_is_warned_about() {
        let mut f = facts();
        f.leaver_memberships = vec![held(0x100, HARBOUR, APPROVER, MembershipStatus::Active)];
        f.limits.insert(Uuid::from_u128(0x100), vec![NORTH]);
        for (replacement_locations, warned) in [
            (vec![SOUTH], true),
            (vec![NORTH, SOUTH], false),
            (Vec::new(), false),
        ] {
            let mut f = f.clone();
            f.replacement.location_ids = replacement_locations;
            let plan = plan_offboarding(f);
            assert_eq!(codes(&plan) == ["LOCATIONS_DISJOINT"], warned, "{plan:#?}");
        }
    }

    fn step_facts(approvers: Vec<StaffId>) -> OffboardingFacts {
        let mut f = facts();
        f.steps = vec![ApprovalStep {
            id: STEP,
            workflow_id: WORKFLOW,
            position: 2,
            name: "Sign-off".into(),
        }];
        f.workflows.insert(
            WORKFLOW,
            WorkflowFacts {
                id: WORKFLOW,
                name: "Payroll".into(),
                organisation_id: HARBOUR,
            },
        );
        f.approvers.insert(STEP, approvers);
        f
    }

    #[test]
    fn steps_go_to_the_replacement_who_must_be_able_to_approve() {
        // Tom takes Lea's place; with no access in Harbour he cannot approve, and nobody else
        // approves there.
        let plan = plan_offboarding(step_facts(vec![LEAVER]));
        let [step] = plan.steps.as_slice() else {
            panic!("one step: {plan:#?}");
        };
        assert_eq!(step.action, StepAction::Replace);
        assert_eq!(step.approvers_after, [TAKER]);
        assert_eq!((step.position, step.step_name.as_str()), (2, "Sign-off"));
        assert_eq!(codes(&plan), ["CANNOT_APPROVE"]);
        assert_eq!(
            plan.warnings[0].message,
            "Tom takes over step 2 \"Sign-off\" of Payroll in Harbour but has no access there with workflow.approve: nobody will be able to approve the step"
        );
        assert_eq!(plan.counts.steps_reassigned, 1);

        // With another approver left, the warning says only that Tom cannot.
        let plan = plan_offboarding(step_facts(vec![LEAVER, OTHER]));
        assert_eq!(plan.steps[0].approvers_after, [TAKER, OTHER]);
        assert!(plan.warnings[0].message.ends_with("with workflow.approve"));

        // Where Tom already approves, Lea is just dropped.
        let plan = plan_offboarding(step_facts(vec![TAKER, LEAVER]));
        assert_eq!(plan.steps[0].action, StepAction::DropLeaver);
        assert_eq!(plan.steps[0].approvers_after, [TAKER]);
    }

    #[test]
    fn approving_comes_from_the_handed_over_role_or_other_access() {
        // The handover gives Tom Harbour as an Approver: he can approve.
        let mut f = step_facts(vec![LEAVER]);
        f.leaver_memberships = vec![held(0x100, HARBOUR, APPROVER, MembershipStatus::Active)];
        assert!(codes(&plan_offboarding(f.clone())).is_empty());
        // Kept as a Viewer where he already was one: he cannot.
        f.replacement_memberships.insert(
            HARBOUR,
            held(0x200, HARBOUR, VIEWER, MembershipStatus::Active),
        );
        assert_eq!(
            codes(&plan_offboarding(f)),
            ["ROLE_LACKS_PERMISSIONS", "CANNOT_APPROVE"]
        );
        // No handover in Harbour, but his own access there approves.
        let mut f = step_facts(vec![LEAVER]);
        f.other_access.insert(HARBOUR, APPROVER);
        assert!(codes(&plan_offboarding(f)).is_empty());
    }
}
