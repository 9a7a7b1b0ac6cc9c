//! Offboarding: what planning a handover reads ([`facts`], a fixed number of queries whatever
//! the leaver holds) and the handover's set-based writes ([`apply`]): one UPDATE revokes every
//! current membership of the leaver, the replacement's new memberships go in multi-row
//! INSERTs, changed memberships take one UPDATE per resulting role, and one DELETE and one
//! UPDATE move every workflow step.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use ps_core::{ExistingAccess, OrganisationId, PracticeId, RoleId, StaffId, WorkflowId};
use ps_db::tenancy::InPractice;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query, SelectStatement};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, QueryTrait};
use uuid::Uuid;

use super::entities::{MembershipState, memberships, step_approvers, workflow_steps, workflows};
use super::memberships::NewMembership;
use crate::domain::{
    ApprovalStep, HandoverAction, HeldMembership, MembershipStatus, OffboardingFacts,
    OffboardingPlan, Person, WorkflowFacts,
};
use crate::error::Error;

/// `SELECT organisation_id FROM memberships` of `staff`'s current memberships.
fn current_organisations_of(practice: PracticeId, staff: StaffId) -> SelectStatement {
    memberships::Entity::find()
        .select_only()
        .column(memberships::Column::OrganisationId)
        .in_practice(practice)
        .filter(memberships::Column::StaffId.eq(staff.as_uuid()))
        .filter(memberships::Column::Status.is_in(MembershipState::CURRENT))
        .into_query()
}

/// `SELECT step_id FROM step_approvers` of the steps `staff` approves in.
fn steps_of(practice: PracticeId, staff: StaffId) -> SelectStatement {
    step_approvers::Entity::find()
        .select_only()
        .column(step_approvers::Column::StepId)
        .in_practice(practice)
        .filter(step_approvers::Column::StaffId.eq(staff.as_uuid()))
        .into_query()
}

fn held(m: memberships::Model) -> HeldMembership {
    HeldMembership {
        id: m.id,
        organisation_id: OrganisationId(m.organisation_id),
        role_id: RoleId(m.role_id),
        status: m.status.into(),
    }
}

/// The leaver's current memberships (locked until the transaction ends with `lock`, on
/// PostgreSQL) and the replacement's where the leaver has one, by organisation.
async fn memberships_of<C: ConnectionTrait>(
    conn: &C,
    practice: PracticeId,
    leaver: StaffId,
    replacement: StaffId,
    lock: bool,
) -> Result<(Vec<HeldMembership>, HashMap<OrganisationId, HeldMembership>), Error> {
    let mut leavers = memberships::Entity::find()
        .in_practice(practice)
        .filter(memberships::Column::StaffId.eq(leaver.as_uuid()))
        .filter(memberships::Column::Status.is_in(MembershipState::CURRENT));
    if lock {
        leavers = leavers.lock_exclusive();
    }
    let leavers = leavers.all(conn).await?.into_iter().map(held).collect();
    let replacements = memberships::Entity::find()
        .in_practice(practice)
        .filter(memberships::Column::StaffId.eq(replacement.as_uuid()))
        .filter(memberships::Column::Status.is_in(MembershipState::CURRENT))
        .filter(
            memberships::Column::OrganisationId
                .in_subquery(current_organisations_of(practice, leaver)),
        )
        .all(conn)
        .await?
        .into_iter()
        .map(|m| (OrganisationId(m.organisation_id), held(m)))
        .collect();
    Ok((leavers, replacements))
}

/// The steps the leaver approves in, their workflows, and every approver of those steps.
struct Steps {
    steps: Vec<ApprovalStep>,
    workflows: HashMap<WorkflowId, WorkflowFacts>,
    approvers: HashMap<Uuid, Vec<StaffId>>,
}

async fn steps_approved_by<C: ConnectionTrait>(
    conn: &C,
    practice: PracticeId,
    leaver: StaffId,
) -> Result<Steps, Error> {
    let steps = workflow_steps::Entity::find()
        .in_practice(practice)
        .filter(workflow_steps::Column::Id.in_subquery(steps_of(practice, leaver)))
        .all(conn)
        .await?
        .into_iter()
        .map(|s| ApprovalStep {
            id: s.id,
            workflow_id: WorkflowId(s.workflow_id),
            position: s.position,
            name: s.name,
        })
        .collect();
    let workflows_of_steps = workflow_steps::Entity::find()
        .select_only()
        .column(workflow_steps::Column::WorkflowId)
        .in_practice(practice)
        .filter(workflow_steps::Column::Id.in_subquery(steps_of(practice, leaver)))
        .into_query();
    let workflows = workflows::Entity::find()
        .in_practice(practice)
        .filter(workflows::Column::Id.in_subquery(workflows_of_steps))
        .all(conn)
        .await?
        .into_iter()
        .map(|w| {
            let facts = WorkflowFacts {
                id: WorkflowId(w.id),
                name: w.name,
                organisation_id: OrganisationId(w.organisation_id),
            };
            (facts.id, facts)
        })
        .collect();
    let mut approvers: HashMap<Uuid, Vec<StaffId>> = HashMap::new();
    for row in step_approvers::Entity::find()
        .in_practice(practice)
        .filter(step_approvers::Column::StepId.in_subquery(steps_of(practice, leaver)))
        .all(conn)
        .await?
    {
        approvers
            .entry(row.step_id)
            .or_default()
            .push(StaffId(row.staff_id));
    }
    Ok(Steps {
        steps,
        workflows,
        approvers,
    })
}

/// The replacement's active access, organisation → role.
async fn active_access_of<C: ConnectionTrait>(
    conn: &C,
    practice: PracticeId,
    staff: StaffId,
) -> Result<HashMap<OrganisationId, RoleId>, Error> {
    Ok(memberships::Entity::find()
        .in_practice(practice)
        .filter(memberships::Column::StaffId.eq(staff.as_uuid()))
        .filter(memberships::Column::Status.eq(MembershipState::Active))
        .all(conn)
        .await?
        .into_iter()
        .map(|m| (OrganisationId(m.organisation_id), RoleId(m.role_id)))
        .collect())
}

/// Everything planning the offboarding of `leaver` to `replacement` reads, in a fixed number
/// of queries; `lock` holds the leaver's memberships until the transaction ends (PostgreSQL),
/// for the handover.
pub async fn facts<C: ConnectionTrait>(
    conn: &C,
    practice: PracticeId,
    leaver: Person,
    replacement: Person,
    existing_access: ExistingAccess,
    lock: bool,
) -> Result<OffboardingFacts, Error> {
    let (leaver_memberships, replacement_memberships) =
        memberships_of(conn, practice, leaver.staff_id, replacement.staff_id, lock).await?;
    let Steps {
        steps,
        workflows,
        approvers,
    } = steps_approved_by(conn, practice, leaver.staff_id).await?;
    // Names: organisations (of memberships and of workflows), roles and their permissions.
    let organisation_ids: BTreeSet<OrganisationId> = leaver_memberships
        .iter()
        .map(|m| m.organisation_id)
        .chain(workflows.values().map(|w| w.organisation_id))
        .collect();
    let organisation_names = super::organisations::names(conn, practice, &organisation_ids).await?;
    let role_names = super::roles::names(conn, practice, None).await?;
    let permissions = super::roles::permissions(conn, practice).await?;
    let ids: Vec<Uuid> = leaver_memberships.iter().map(|m| m.id).collect();
    let limits = super::memberships::limits(conn, practice, &ids).await?;
    // The replacement's other current access counts for step warnings too.
    let other_access = if workflows.is_empty() {
        HashMap::new()
    } else {
        active_access_of(conn, practice, replacement.staff_id).await?
    };
    Ok(OffboardingFacts {
        leaver,
        replacement,
        existing_access,
        leaver_memberships,
        replacement_memberships,
        steps,
        workflows,
        approvers,
        organisation_names,
        role_names,
        permissions,
        limits,
        other_access,
    })
}

/// Applies the plan's access changes as of `at`: the leaver's memberships revoked (their
/// invitations withdrawn), the replacement's granted and changed, every workflow step moved.
pub async fn apply<C: ConnectionTrait>(
    tx: &C,
    practice: PracticeId,
    plan: &OffboardingPlan,
    at: DateTime<Utc>,
) -> Result<(), Error> {
    revoke_all_current(tx, practice, plan.leaver, at).await?;
    grant(tx, practice, plan, at).await?;
    change_roles(tx, practice, plan, at).await?;
    move_steps(tx, practice, plan.leaver, plan.replacement).await
}

/// Every current membership of `staff`, revoked in one statement.
async fn revoke_all_current<C: ConnectionTrait>(
    tx: &C,
    practice: PracticeId,
    staff: StaffId,
    at: DateTime<Utc>,
) -> Result<(), Error> {
    memberships::Entity::update_many()
        .col_expr(
            memberships::Column::Status,
            Expr::value(MembershipState::Revoked),
        )
        .col_expr(memberships::Column::StatusChangedAt, Expr::value(at))
        .in_practice(practice)
        .filter(memberships::Column::StaffId.eq(staff.as_uuid()))
        .filter(memberships::Column::Status.is_in(MembershipState::CURRENT))
        .exec(tx)
        .await?;
    Ok(())
}

/// The replacement's new memberships, active at once, with the leaver's location limits.
async fn grant<C: ConnectionTrait>(
    tx: &C,
    practice: PracticeId,
    plan: &OffboardingPlan,
    at: DateTime<Utc>,
) -> Result<(), Error> {
    let granted = plan
        .organisations
        .iter()
        .filter(|o| o.action == HandoverAction::Grant)
        .map(|o| NewMembership {
            organisation_id: o.organisation_id,
            staff_id: plan.replacement,
            role_id: o.replacement_role_after.id,
            status: MembershipStatus::Active,
            invitation_id: None,
            location_ids: o.location_ids.clone(),
        })
        .collect();
    super::memberships::add(tx, practice, granted, at).await
}

/// The replacement's existing memberships that change role or become active: one UPDATE per
/// resulting role (of at most 1,000 ids each).
async fn change_roles<C: ConnectionTrait>(
    tx: &C,
    practice: PracticeId,
    plan: &OffboardingPlan,
    at: DateTime<Utc>,
) -> Result<(), Error> {
    let mut changed: BTreeMap<RoleId, Vec<Uuid>> = BTreeMap::new();
    for o in &plan.organisations {
        if let (HandoverAction::ChangeRole | HandoverAction::Activate, Some((id, ..))) =
            (o.action, &o.replacement_before)
        {
            changed
                .entry(o.replacement_role_after.id)
                .or_default()
                .push(*id);
        }
    }
    for (role, ids) in changed {
        for chunk in ids.chunks(1000) {
            memberships::Entity::update_many()
                .col_expr(memberships::Column::RoleId, Expr::value(role.as_uuid()))
                .col_expr(
                    memberships::Column::Status,
                    Expr::value(MembershipState::Active),
                )
                .col_expr(memberships::Column::StatusChangedAt, Expr::value(at))
                .in_practice(practice)
                .filter(memberships::Column::Id.is_in(chunk.iter().copied()))
                .exec(tx)
                .await?;
        }
    }
    Ok(())
}

/// Workflow steps: where the replacement already approves, the leaver goes; elsewhere the
/// replacement takes the leaver's place — so no step has the same approver twice.
async fn move_steps<C: ConnectionTrait>(
    tx: &C,
    practice: PracticeId,
    leaver: StaffId,
    replacement: StaffId,
) -> Result<(), Error> {
    // EXISTS probes the primary key row by row; an IN (subquery) here can be planned as a
    // quadratic nested loop on PostgreSQL before the table has statistics.
    let theirs = Alias::new("theirs");
    step_approvers::Entity::delete_many()
        .in_practice(practice)
        .filter(step_approvers::Column::StaffId.eq(leaver.as_uuid()))
        .filter(Expr::exists(
            Query::select()
                .expr(Expr::val(1))
                .from_as(step_approvers::Entity, theirs.clone())
                .and_where(
                    Expr::col((theirs.clone(), step_approvers::Column::StepId))
                        .equals((step_approvers::Entity, step_approvers::Column::StepId)),
                )
                .and_where(
                    Expr::col((theirs, step_approvers::Column::StaffId)).eq(replacement.as_uuid()),
                )
                .to_owned(),
        ))
        .exec(tx)
        .await?;
    step_approvers::Entity::update_many()
        .col_expr(
            step_approvers::Column::StaffId,
            Expr::value(replacement.as_uuid()),
        )
        .in_practice(practice)
        .filter(step_approvers::Column::StaffId.eq(leaver.as_uuid()))
        .exec(tx)
        .await?;
    Ok(())
}
