//! Offboarding: a leaver's organisations and workflow steps go to a replacement.
//!
//! [`OrgAccess::plan_offboarding`] works out the whole plan with a fixed number of queries; the
//! preview returns it and the handover (on StaffOffboardingRequested) applies exactly it in the
//! consumer's transaction, with set-based statements: one UPDATE revokes every membership of
//! the leaver, one DELETE and one UPDATE move every workflow step, new memberships and audit
//! entries go in multi-row INSERTs. Nothing is written when the handover fails, except the
//! OffboardingFailed event that says why.

use std::collections::{BTreeMap, HashMap, HashSet};

use ps_auth::UserCaller;
use ps_core::{ExistingAccess, PracticeId, StaffId};
use ps_db::tenancy::InPractice;
use ps_events::event::{
    Holding, OffboardingCompleted, OffboardingFailed, StaffOffboardingRequested,
};
use ps_events::{Event, Payload};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query, SelectStatement};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, Set};
use tracing::info;
use uuid::Uuid;

use super::{AuditEntry, MANAGERS, OrgAccess};
use crate::domain::{
    ApprovalStep, HandoverAction, HeldMembership, MembershipStatus, OffboardingFacts,
    OffboardingPlan, Person, StepHandover, WorkflowFacts, plan_offboarding,
};
use crate::error::Error;
use crate::store::{
    membership_locations, memberships, organisations, role_permissions, roles, step_approvers,
    workflow_steps, workflows,
};

/// `SELECT <column> FROM memberships WHERE practice = ? AND staff = ? AND status IN (…)`.
fn memberships_of(
    column: memberships::Column,
    practice: PracticeId,
    staff: StaffId,
    statuses: &[&str],
) -> SelectStatement {
    Query::select()
        .column(column)
        .from(memberships::Entity)
        .and_where(Expr::col(memberships::Column::PracticeId).eq(practice.as_uuid()))
        .and_where(Expr::col(memberships::Column::StaffId).eq(staff.as_uuid()))
        .and_where(Expr::col(memberships::Column::Status).is_in(statuses.iter().copied()))
        .to_owned()
}

/// `SELECT step_id FROM step_approvers WHERE practice = ? AND staff = ?`.
fn steps_of(practice: PracticeId, staff: StaffId) -> SelectStatement {
    Query::select()
        .column(step_approvers::Column::StepId)
        .from(step_approvers::Entity)
        .and_where(Expr::col(step_approvers::Column::PracticeId).eq(practice.as_uuid()))
        .and_where(Expr::col(step_approvers::Column::StaffId).eq(staff.as_uuid()))
        .to_owned()
}

/// The two people of an offboarding, as the roster knows them.
struct Parties {
    leaver: ps_roster::Member,
    replacement: ps_roster::Member,
}

impl OrgAccess {
    /// For managers: the plan, changing nothing.
    pub async fn preview_offboarding(
        &self,
        caller: &UserCaller,
        leaver: StaffId,
        replacement: StaffId,
        existing_access: ExistingAccess,
    ) -> Result<OffboardingPlan, Error> {
        let acting = self.acting(caller).await?;
        acting.require(&MANAGERS, "offboarding staff")?;
        if leaver == replacement {
            return Err(ps_core::FieldViolation::new(
                "replacement_id",
                "must be someone other than the member leaving",
            )
            .into());
        }
        let practice = caller.practice_id;
        let db = &self.0.db;
        let mut found = ps_roster::members(db, practice, &[leaver, replacement]).await?;
        let take = |found: &mut Vec<ps_roster::Member>, id: StaffId| {
            found
                .iter()
                .position(|m| m.staff_id == id)
                .map(|i| found.swap_remove(i))
        };
        let leaver = take(&mut found, leaver).ok_or(Error::NotFound("staff member"))?;
        let replacement = take(&mut found, replacement).ok_or(Error::NotFound("replacement"))?;
        if ps_roster::status::GONE.contains(&leaver.status.as_str()) {
            return Err(Error::FailedPrecondition(format!(
                "{} is {}: there is nothing to hand over",
                leaver.name, leaver.status
            )));
        }
        if !replacement.is_active() {
            return Err(Error::FailedPrecondition(format!(
                "the replacement must be an Active member; {} is {}",
                replacement.name, replacement.status
            )));
        }
        self.plan_offboarding(
            db,
            practice,
            &Parties {
                leaver,
                replacement,
            },
            existing_access,
            false,
        )
        .await
    }

    /// Load, then decide: reads what the plan needs from the current tables (a fixed number of
    /// queries) and asks the rule `domain::plan_offboarding`; `lock` holds the leaver's
    /// memberships until the transaction ends (PostgreSQL), for the handover.
    async fn plan_offboarding<C: ConnectionTrait>(
        &self,
        conn: &C,
        practice: PracticeId,
        parties: &Parties,
        existing_access: ExistingAccess,
        lock: bool,
    ) -> Result<OffboardingPlan, Error> {
        let leaver_id = parties.leaver.staff_id;
        let replacement_id = parties.replacement.staff_id;
        self.ensure_built_in_roles(conn, practice).await?;

        // The leaver's current memberships, and the replacement's where the leaver has access.
        let mut leaver_rows = memberships::Entity::find()
            .in_practice(practice)
            .filter(memberships::Column::StaffId.eq(leaver_id.as_uuid()))
            .filter(memberships::Column::Status.is_in(MembershipStatus::CURRENT));
        if lock {
            leaver_rows = leaver_rows.lock_exclusive();
        }
        let leaver_rows = leaver_rows.all(conn).await?;
        let replacement_rows: HashMap<Uuid, memberships::Model> = memberships::Entity::find()
            .in_practice(practice)
            .filter(memberships::Column::StaffId.eq(replacement_id.as_uuid()))
            .filter(memberships::Column::Status.is_in(MembershipStatus::CURRENT))
            .filter(
                memberships::Column::OrganisationId.in_subquery(memberships_of(
                    memberships::Column::OrganisationId,
                    practice,
                    leaver_id,
                    &MembershipStatus::CURRENT,
                )),
            )
            .all(conn)
            .await?
            .into_iter()
            .map(|m| (m.organisation_id, m))
            .collect();

        // The steps the leaver approves in, their workflows and every approver of them.
        let steps: Vec<workflow_steps::Model> = workflow_steps::Entity::find()
            .filter(workflow_steps::Column::Id.in_subquery(steps_of(practice, leaver_id)))
            .all(conn)
            .await?;
        let workflows: HashMap<Uuid, workflows::Model> = workflows::Entity::find()
            .filter(
                workflows::Column::Id.in_subquery(
                    Query::select()
                        .column(workflow_steps::Column::WorkflowId)
                        .from(workflow_steps::Entity)
                        .and_where(
                            Expr::col(workflow_steps::Column::Id)
                                .in_subquery(steps_of(practice, leaver_id)),
                        )
                        .to_owned(),
                ),
            )
            .all(conn)
            .await?
            .into_iter()
            .map(|w| (w.id, w))
            .collect();
        let mut approvers: HashMap<Uuid, Vec<StaffId>> = HashMap::new();
        for row in step_approvers::Entity::find()
            .filter(step_approvers::Column::StepId.in_subquery(steps_of(practice, leaver_id)))
            .all(conn)
            .await?
        {
            approvers
                .entry(row.step_id)
                .or_default()
                .push(StaffId(row.staff_id));
        }

        // Names: organisations (of memberships and of workflows), roles and their permissions.
        let organisation_ids: HashSet<Uuid> = leaver_rows
            .iter()
            .map(|m| m.organisation_id)
            .chain(workflows.values().map(|w| w.organisation_id))
            .collect();
        let organisation_names: HashMap<Uuid, String> = organisations::Entity::find()
            .in_practice(practice)
            .filter(organisations::Column::Id.is_in(organisation_ids))
            .all(conn)
            .await?
            .into_iter()
            .map(|o| (o.id, o.name))
            .collect();
        let role_names: HashMap<Uuid, String> = roles::Entity::find()
            .in_practice(practice)
            .all(conn)
            .await?
            .into_iter()
            .map(|r| (r.id, r.name))
            .collect();
        let mut permissions: HashMap<Uuid, HashSet<String>> = HashMap::new();
        for row in role_permissions::Entity::find()
            .in_practice(practice)
            .all(conn)
            .await?
        {
            permissions
                .entry(row.role_id)
                .or_default()
                .insert(row.permission);
        }
        let limits = self
            .membership_locations(conn, leaver_rows.iter().map(|m| m.id).collect())
            .await?;
        // The replacement's other current access counts for step warnings too.
        let other_access: HashMap<Uuid, Uuid> = if workflows.is_empty() {
            HashMap::new()
        } else {
            memberships::Entity::find()
                .in_practice(practice)
                .filter(memberships::Column::StaffId.eq(replacement_id.as_uuid()))
                .filter(memberships::Column::Status.eq(MembershipStatus::Active.as_str()))
                .all(conn)
                .await?
                .into_iter()
                .map(|m| (m.organisation_id, m.role_id))
                .collect()
        };
        let held = |m: memberships::Model| HeldMembership {
            id: m.id,
            organisation_id: m.organisation_id,
            role_id: m.role_id,
            status: MembershipStatus::parse(&m.status).unwrap_or(MembershipStatus::Active),
        };
        let person = |m: &ps_roster::Member| Person {
            staff_id: m.staff_id,
            name: m.name.clone(),
            location_ids: m.location_ids.clone(),
        };
        Ok(plan_offboarding(OffboardingFacts {
            leaver: person(&parties.leaver),
            replacement: person(&parties.replacement),
            existing_access,
            leaver_memberships: leaver_rows.into_iter().map(held).collect(),
            replacement_memberships: replacement_rows
                .into_iter()
                .map(|(organisation, m)| (organisation, held(m)))
                .collect(),
            steps: steps
                .into_iter()
                .map(|s| ApprovalStep {
                    id: s.id,
                    workflow_id: s.workflow_id,
                    position: s.position,
                    name: s.name,
                })
                .collect(),
            workflows: workflows
                .into_values()
                .map(|w| {
                    let facts = WorkflowFacts {
                        id: w.id,
                        name: w.name,
                        organisation_id: w.organisation_id,
                    };
                    (facts.id, facts)
                })
                .collect(),
            approvers,
            organisation_names,
            role_names,
            permissions,
            limits,
            other_access,
        }))
    }

    /// Applies StaffOffboardingRequested in `tx` (the consumer's transaction, which has already
    /// recorded the event id and moved the leaver's roster row to Offboarding).
    pub(crate) async fn hand_over<C: ConnectionTrait>(
        &self,
        tx: &C,
        practice: PracticeId,
        event: &Event,
        request: &StaffOffboardingRequested,
    ) -> Result<(), Error> {
        let at = event.occurred_at;
        let leaver_id = request.leaver.staff_id;
        let replacement_id = request.replacement.staff_id;
        let found = ps_roster::members(tx, practice, &[leaver_id, replacement_id]).await?;
        // Staff-directory checked the replacement was Active when the offboarding was asked
        // for. Only a change seen here that happened after that (a deactivation or removal
        // meanwhile) stops the handover; an older row is just a roster that has not caught up.
        let replacement_now = found.iter().find(|m| m.staff_id == replacement_id);
        if let Some(replacement) = replacement_now
            && !replacement.is_active()
            && replacement.changed_at > at
        {
            let reason = format!(
                "{} became {} after the offboarding was asked for",
                replacement.name, replacement.status
            );
            return self
                .offboarding_failed(tx, practice, event, request, reason)
                .await;
        }
        let member = |m: Option<&ps_roster::Member>, party: &ps_events::event::OffboardingParty| {
            m.cloned().unwrap_or_else(|| ps_roster::Member {
                staff_id: party.staff_id,
                user_id: party.user_id,
                email: party.email.to_string(),
                name: party.name.to_string(),
                role: ps_core::PracticeRole::Member,
                status: ps_roster::status::ACTIVE.into(),
                location_ids: Vec::new(),
                changed_at: at,
            })
        };
        let parties = Parties {
            leaver: member(
                found.iter().find(|m| m.staff_id == leaver_id),
                &request.leaver,
            ),
            replacement: member(replacement_now, &request.replacement),
        };
        let plan = self
            .plan_offboarding(tx, practice, &parties, request.existing_access, true)
            .await?;
        let cause = format!("offboarding:{}", request.offboarding_id);

        // 1. Every current membership of the leaver: revoked (the invitations withdrawn).
        memberships::Entity::update_many()
            .col_expr(
                memberships::Column::Status,
                Expr::value(MembershipStatus::Revoked.as_str()),
            )
            .col_expr(memberships::Column::StatusChangedAt, Expr::value(at))
            .in_practice(practice)
            .filter(memberships::Column::StaffId.eq(leaver_id.as_uuid()))
            .filter(memberships::Column::Status.is_in(MembershipStatus::CURRENT))
            .exec(tx)
            .await?;

        // 2. The replacement's new memberships, with the leaver's location limits.
        let mut granted = Vec::new();
        let mut limits = Vec::new();
        for o in plan
            .organisations
            .iter()
            .filter(|o| o.action == HandoverAction::Grant)
        {
            let id = Uuid::now_v7();
            granted.push(memberships::ActiveModel {
                id: Set(id),
                practice_id: Set(practice.as_uuid()),
                organisation_id: Set(o.organisation_id),
                staff_id: Set(replacement_id.as_uuid()),
                role_id: Set(o.replacement_role_after.id),
                status: Set(MembershipStatus::Active.as_str().to_owned()),
                invitation_id: Set(None),
                created_at: Set(at),
                status_changed_at: Set(at),
            });
            limits.extend(
                o.location_ids
                    .iter()
                    .map(|l| membership_locations::ActiveModel {
                        membership_id: Set(id),
                        location_id: Set(l.as_uuid()),
                        practice_id: Set(practice.as_uuid()),
                    }),
            );
        }
        ps_db::insert_all(tx, granted).await?;
        ps_db::insert_all(tx, limits).await?;

        // 3. The replacement's existing memberships that change: one UPDATE per resulting role.
        let mut changed: BTreeMap<Uuid, Vec<Uuid>> = BTreeMap::new();
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
                    .col_expr(memberships::Column::RoleId, Expr::value(role))
                    .col_expr(
                        memberships::Column::Status,
                        Expr::value(MembershipStatus::Active.as_str()),
                    )
                    .col_expr(memberships::Column::StatusChangedAt, Expr::value(at))
                    .filter(memberships::Column::Id.is_in(chunk.iter().copied()))
                    .exec(tx)
                    .await?;
            }
        }

        // 4. Workflow steps: where the replacement already approves, the leaver goes; elsewhere
        //    the replacement takes the leaver's place.
        //    EXISTS probes the primary key row by row; an IN (subquery) here can be planned as
        //    a quadratic nested loop on PostgreSQL before the table has statistics.
        let theirs = Alias::new("theirs");
        step_approvers::Entity::delete_many()
            .in_practice(practice)
            .filter(step_approvers::Column::StaffId.eq(leaver_id.as_uuid()))
            .filter(Expr::exists(
                Query::select()
                    .expr(Expr::val(1))
                    .from_as(step_approvers::Entity, theirs.clone())
                    .and_where(
                        Expr::col((theirs.clone(), step_approvers::Column::StepId))
                            .equals((step_approvers::Entity, step_approvers::Column::StepId)),
                    )
                    .and_where(
                        Expr::col((theirs, step_approvers::Column::StaffId))
                            .eq(replacement_id.as_uuid()),
                    )
                    .to_owned(),
            ))
            .exec(tx)
            .await?;
        step_approvers::Entity::update_many()
            .col_expr(
                step_approvers::Column::StaffId,
                Expr::value(replacement_id.as_uuid()),
            )
            .in_practice(practice)
            .filter(step_approvers::Column::StaffId.eq(leaver_id.as_uuid()))
            .exec(tx)
            .await?;

        // 5. The leaver acts nowhere here any more.
        ps_roster::set_status(tx, practice, leaver_id, ps_roster::status::OFFBOARDED, at).await?;

        // 6. The audit trail, in the name of the manager who asked.
        self.audit(tx, practice, &event.actor, audit_entries(&plan, &cause))
            .await?;

        // 7. The outcome.
        let holdings = plan
            .organisations
            .iter()
            .map(|o| Holding {
                organisation_name: o.organisation_name.clone(),
                role_name: o.replacement_role_after.name.clone(),
            })
            .collect();
        self.publish(
            tx,
            practice,
            &event.actor,
            Payload::OffboardingCompleted(OffboardingCompleted {
                offboarding_id: request.offboarding_id,
                leaver: request.leaver.clone(),
                replacement: request.replacement.clone(),
                requested_by_email: request.requested_by_email.clone(),
                counts: plan.counts,
                holdings,
            }),
        )
        .await?;
        info!(
            %practice,
            offboarding_id = %request.offboarding_id,
            organisations = plan.counts.organisations,
            granted = plan.counts.memberships_granted,
            steps = plan.counts.steps_reassigned,
            "offboarding applied"
        );
        Ok(())
    }

    /// Nothing changes but the leaver's roster row, back to what it was, and the event that
    /// says why.
    async fn offboarding_failed<C: ConnectionTrait>(
        &self,
        tx: &C,
        practice: PracticeId,
        event: &Event,
        request: &StaffOffboardingRequested,
        reason: String,
    ) -> Result<(), Error> {
        ps_roster::set_status(
            tx,
            practice,
            request.leaver.staff_id,
            request.leaver_status_before.as_str(),
            event.occurred_at,
        )
        .await?;
        info!(%practice, offboarding_id = %request.offboarding_id, %reason, "offboarding failed");
        self.publish(
            tx,
            practice,
            &event.actor,
            Payload::OffboardingFailed(OffboardingFailed {
                offboarding_id: request.offboarding_id,
                leaver: request.leaver.clone(),
                leaver_status_before: request.leaver_status_before,
                replacement: request.replacement.clone(),
                requested_by_email: request.requested_by_email.clone(),
                reason,
            }),
        )
        .await?;
        Ok(())
    }
}

/// One entry per membership revoked, granted or changed, per invitation withdrawn and per
/// workflow whose steps changed.
fn audit_entries(plan: &OffboardingPlan, cause: &str) -> Vec<AuditEntry> {
    let entry = |action, organisation, staff, before, after| AuditEntry {
        action,
        organisation: Some(organisation),
        staff: Some(staff),
        request_id: Some(cause.to_owned()),
        before,
        after,
    };
    let mut entries = Vec::new();
    for o in &plan.organisations {
        entries.push(entry(
            "membership.revoked",
            o.organisation_id,
            plan.leaver,
            serde_json::json!({ "role_id": o.leaver_role.id, "status": "active" }),
            serde_json::json!({ "role_id": o.leaver_role.id, "status": "revoked", "cause": "offboarding", "replacement_id": plan.replacement }),
        ));
        let before = o.replacement_before.as_ref().map_or(
            serde_json::Value::Null,
            |(_, role, status)| serde_json::json!({ "role_id": role.id, "status": status.as_str() }),
        );
        let after = serde_json::json!({
            "role_id": o.replacement_role_after.id,
            "status": "active",
            "location_ids": o.location_ids,
            "cause": "offboarding",
            "leaver_id": plan.leaver,
        });
        let action = match o.action {
            HandoverAction::Grant => "membership.added",
            HandoverAction::Keep => continue,
            HandoverAction::ChangeRole | HandoverAction::Activate => "membership.changed",
        };
        entries.push(entry(
            action,
            o.organisation_id,
            plan.replacement,
            before,
            after,
        ));
    }
    for w in &plan.withdrawn {
        entries.push(entry(
            "membership.revoked",
            w.organisation_id,
            plan.leaver,
            serde_json::json!({ "status": "invited" }),
            serde_json::json!({ "status": "revoked", "cause": "offboarding" }),
        ));
    }
    // One entry per workflow, naming each of its steps that changed.
    let mut by_workflow: BTreeMap<Uuid, Vec<&StepHandover>> = BTreeMap::new();
    for s in &plan.steps {
        by_workflow.entry(s.workflow_id).or_default().push(s);
    }
    for (workflow, steps) in by_workflow {
        let changed: Vec<serde_json::Value> = steps
            .iter()
            .map(|s| serde_json::json!({ "step_id": s.step_id, "position": s.position, "approvers": s.approvers_after }))
            .collect();
        entries.push(entry(
            "workflow.approver_replaced",
            steps[0].organisation_id,
            plan.leaver,
            serde_json::json!({ "workflow_id": workflow, "approver": plan.leaver }),
            serde_json::json!({ "workflow_id": workflow, "approver": plan.replacement, "steps": changed, "cause": "offboarding" }),
        ));
    }
    entries
}
