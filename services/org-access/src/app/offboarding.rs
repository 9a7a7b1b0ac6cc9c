//! Offboarding: a leaver's organisations and workflow steps go to a replacement.
//!
//! Both uses load, then decide: the store reads what the plan needs with a fixed number of
//! queries (`store::offboarding::facts`) and the rule `domain::plan_offboarding` makes the
//! plan. The preview returns it; the handover (on StaffOffboardingRequested) applies exactly
//! it in the consumer's transaction, with the store's set-based statements
//! (`store::offboarding::apply`): one UPDATE revokes every membership of the leaver, one
//! DELETE and one UPDATE move every workflow step, new memberships and audit entries go in
//! multi-row INSERTs. Nothing is written when the handover fails, except the
//! OffboardingFailed event that says why.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use ps_auth::UserCaller;
use ps_core::{ExistingAccess, PracticeId, StaffId, WorkflowId};
use ps_db::Tx;
use ps_events::event::{
    Holding, OffboardingCompleted, OffboardingFailed, OffboardingParty, StaffOffboardingRequested,
};
use ps_events::{Event, Payload};
use ps_roster::{Member, RosterStatus};
use tracing::info;

use super::{AuditEntry, MANAGERS, OrgAccess};
use crate::domain::{HandoverAction, OffboardingPlan, Person, StepHandover, plan_offboarding};
use crate::error::Error;
use crate::store;

/// One of the two people, as the plan needs them.
fn person(member: &Member) -> Person {
    Person {
        staff_id: member.staff_id,
        name: member.name.clone(),
        location_ids: member.location_ids.clone(),
    }
}

/// A party of a handover: as the roster knows them, or else as the request named them (with
/// no location restriction).
fn party(known: Option<&Member>, named: &OffboardingParty) -> Person {
    known.map_or_else(
        || Person {
            staff_id: named.staff_id,
            name: named.name.to_string(),
            location_ids: Vec::new(),
        },
        person,
    )
}

/// Why a handover cannot go ahead, if it cannot. Staff-directory checked the replacement was
/// Active when the offboarding was asked for (at `asked_at`). Only a change seen here that
/// happened after that (a deactivation or removal meanwhile) stops the handover; an older row
/// is just a roster that has not caught up.
fn replacement_gone(replacement: Option<&Member>, asked_at: DateTime<Utc>) -> Option<String> {
    let replacement = replacement?;
    (!replacement.is_active() && replacement.changed_at > asked_at).then(|| {
        format!(
            "{} became {} after the offboarding was asked for",
            replacement.name, replacement.status
        )
    })
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
        let mut found = store::roster::members_by_id(db, practice, &[leaver, replacement]).await?;
        let leaver = found
            .remove(&leaver)
            .ok_or(Error::NotFound("staff member"))?;
        let replacement = found
            .remove(&replacement)
            .ok_or(Error::NotFound("replacement"))?;
        if leaver.status.is_gone() {
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
        self.ensure_built_in_roles(practice).await?;
        let (leaver, replacement) = (person(&leaver), person(&replacement));
        let facts =
            store::offboarding::facts(db, practice, leaver, replacement, existing_access, false)
                .await?;
        Ok(plan_offboarding(facts))
    }

    /// Applies StaffOffboardingRequested in `tx` (the consumer's transaction, which has already
    /// recorded the event id and moved the leaver's roster row to Offboarding): the same plan
    /// as the preview, made from the tables as they are now (the leaver's memberships locked),
    /// applied exactly.
    pub(crate) async fn hand_over(
        &self,
        tx: &Tx,
        practice: PracticeId,
        event: &Event,
        request: &StaffOffboardingRequested,
    ) -> Result<(), Error> {
        let at = event.occurred_at;
        let leaver_id = request.leaver.staff_id;
        let replacement_id = request.replacement.staff_id;
        let found =
            store::roster::members_by_id(tx, practice, &[leaver_id, replacement_id]).await?;
        if let Some(reason) = replacement_gone(found.get(&replacement_id), at) {
            return self
                .offboarding_failed(tx, practice, event, request, reason)
                .await;
        }
        let leaver = party(found.get(&leaver_id), &request.leaver);
        let replacement = party(found.get(&replacement_id), &request.replacement);
        store::roles::ensure_built_in(tx, practice, self.now()).await?;
        let facts = store::offboarding::facts(
            tx,
            practice,
            leaver,
            replacement,
            request.existing_access,
            true,
        )
        .await?;
        let plan = plan_offboarding(facts);
        store::offboarding::apply(tx, practice, &plan, at).await?;
        // The leaver acts nowhere here any more.
        store::roster::set_status(tx, practice, leaver_id, RosterStatus::Offboarded, at).await?;
        // The audit trail, in the name of the manager who asked.
        let cause = format!("offboarding:{}", request.offboarding_id);
        self.audit(tx, practice, &event.actor, audit_entries(&plan, &cause))
            .await?;
        self.offboarding_completed(tx, practice, event, request, &plan)
            .await
    }

    /// The outcome: what the replacement now holds, and the counts.
    async fn offboarding_completed(
        &self,
        tx: &Tx,
        practice: PracticeId,
        event: &Event,
        request: &StaffOffboardingRequested,
        plan: &OffboardingPlan,
    ) -> Result<(), Error> {
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
    async fn offboarding_failed(
        &self,
        tx: &Tx,
        practice: PracticeId,
        event: &Event,
        request: &StaffOffboardingRequested,
        reason: String,
    ) -> Result<(), Error> {
        store::roster::set_status(
            tx,
            practice,
            request.leaver.staff_id,
            request.leaver_status_before.into(),
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
    let mut by_workflow: BTreeMap<WorkflowId, Vec<&StepHandover>> = BTreeMap::new();
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
