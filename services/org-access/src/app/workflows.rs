//! Workflows: ordered approval steps of an organisation, each with staff approvers.

use std::collections::HashSet;

use ps_auth::UserCaller;
use ps_core::{
    FieldViolation, Invalid, OrganisationId, PracticeId, StaffId, TitleText, WorkflowId,
};
use ps_db::Tx;

use super::{AuditEntry, MANAGERS, OrgAccess};
use crate::domain::{StepInput, Workflow};
use crate::error::Error;
use crate::store;

impl OrgAccess {
    /// Steps must name one or more distinct approvers who are staff of the practice (not
    /// removed or declined).
    async fn check_steps(
        &self,
        tx: &Tx,
        practice: PracticeId,
        steps: &[StepInput],
    ) -> Result<(), Error> {
        let mut violations = Vec::new();
        for (i, step) in steps.iter().enumerate() {
            if step.approvers.is_empty() {
                violations.push(FieldViolation::new(
                    format!("steps[{i}].approver_staff_ids"),
                    "needs at least one approver",
                ));
            }
            let distinct: HashSet<_> = step.approvers.iter().collect();
            if distinct.len() != step.approvers.len() {
                violations.push(FieldViolation::new(
                    format!("steps[{i}].approver_staff_ids"),
                    "names an approver twice",
                ));
            }
        }
        if !violations.is_empty() {
            return Err(Invalid { violations }.into());
        }
        let wanted: Vec<StaffId> = steps
            .iter()
            .flat_map(|s| s.approvers.iter().copied())
            .collect();
        let known = store::roster::members_by_id(tx, practice, &wanted).await?;
        for (i, step) in steps.iter().enumerate() {
            for (j, approver) in step.approvers.iter().enumerate() {
                match known.get(approver) {
                    None => {
                        return Err(Error::Missing(format!(
                            "steps[{i}].approver_staff_ids[{j}]: staff member {approver} not found"
                        )));
                    }
                    Some(m) if m.status.is_gone() => {
                        return Err(Error::FailedPrecondition(format!(
                            "steps[{i}].approver_staff_ids[{j}]: {} <{}> is {} and cannot approve",
                            m.name, m.email, m.status
                        )));
                    }
                    Some(_) => {}
                }
            }
        }
        Ok(())
    }

    fn steps_json(steps: &[StepInput]) -> serde_json::Value {
        serde_json::json!(
            steps
                .iter()
                .map(|s| serde_json::json!({
                    "name": s.name.as_str(),
                    "approvers": s.approvers.iter().map(ToString::to_string).collect::<Vec<_>>(),
                }))
                .collect::<Vec<_>>()
        )
    }

    /// A retry with the same request id answers with the workflow the first one created.
    pub async fn create_workflow(
        &self,
        caller: &UserCaller,
        organisation: OrganisationId,
        name: TitleText,
        steps: Vec<StepInput>,
        key: Option<ps_core::RequestKey>,
    ) -> Result<Workflow, Error> {
        let key = key.as_ref();
        ps_db::idempotency::run_once(
            &self.0.db,
            caller.practice_id.as_uuid(),
            "CreateWorkflow",
            key,
            ps_db::idempotency::reused(key, Error::FailedPrecondition),
            || self.create_workflow_now(caller, organisation, name, steps, key),
            |id| self.get_workflow(caller, WorkflowId(id)),
        )
        .await
    }

    async fn create_workflow_now(
        &self,
        caller: &UserCaller,
        organisation: OrganisationId,
        name: TitleText,
        steps: Vec<StepInput>,
        key: Option<&ps_core::RequestKey>,
    ) -> Result<Workflow, Error> {
        let acting = self.acting(caller).await?;
        acting.require(&MANAGERS, "changing workflows")?;
        if steps.is_empty() {
            return Err(FieldViolation::new("steps", "needs at least one step").into());
        }
        let practice = caller.practice_id;
        let (_writing, tx) = self.begin().await?;
        store::organisations::get(&tx, practice, organisation).await?;
        self.check_steps(&tx, practice, &steps).await?;
        let workflow =
            store::workflows::insert(&tx, practice, organisation, &name, &steps, self.now())
                .await?;
        let entry = AuditEntry::new(
            "workflow.created",
            serde_json::Value::Null,
            serde_json::json!({ "workflow_id": workflow.id, "name": workflow.name, "steps": Self::steps_json(&steps) }),
        );
        self.audit_one(&tx, practice, &acting.actor, entry.about(organisation))
            .await?;
        let id = workflow.id.as_uuid();
        super::remember(&tx, practice, "CreateWorkflow", key, id).await?;
        tx.commit().await?;
        Ok(workflow)
    }

    pub async fn get_workflow(
        &self,
        caller: &UserCaller,
        id: WorkflowId,
    ) -> Result<Workflow, Error> {
        self.acting(caller).await?;
        store::workflows::get(&self.0.db, caller.practice_id, id).await
    }

    pub async fn list_workflows(
        &self,
        caller: &UserCaller,
        organisation: OrganisationId,
    ) -> Result<Vec<Workflow>, Error> {
        self.acting(caller).await?;
        store::organisations::get(&self.0.db, caller.practice_id, organisation).await?;
        store::workflows::list(&self.0.db, caller.practice_id, organisation).await
    }

    pub async fn update_workflow(
        &self,
        caller: &UserCaller,
        id: WorkflowId,
        name: Option<TitleText>,
        steps: Option<Vec<StepInput>>,
    ) -> Result<Workflow, Error> {
        let acting = self.acting(caller).await?;
        acting.require(&MANAGERS, "changing workflows")?;
        if steps.as_ref().is_some_and(Vec::is_empty) {
            return Err(FieldViolation::new("steps", "needs at least one step").into());
        }
        let practice = caller.practice_id;
        let (_writing, tx) = self.begin().await?;
        let before = store::workflows::get(&tx, practice, id).await?;
        let mut after = serde_json::Map::new();
        if let Some(name) = name.filter(|name| name.as_str() != before.name) {
            after.insert("name".into(), serde_json::json!(name.as_str()));
            store::workflows::rename(&tx, practice, id, &name).await?;
        }
        if let Some(steps) = steps {
            self.check_steps(&tx, practice, &steps).await?;
            store::workflows::replace_steps(&tx, practice, id, &steps).await?;
            after.insert("steps".into(), Self::steps_json(&steps));
        }
        if !after.is_empty() {
            let entry = AuditEntry::new(
                "workflow.updated",
                serde_json::json!({ "workflow_id": id, "name": before.name, "steps": before.steps.len() }),
                serde_json::Value::Object(after),
            );
            self.audit_one(
                &tx,
                practice,
                &acting.actor,
                entry.about(before.organisation_id),
            )
            .await?;
        }
        let workflow = store::workflows::get(&tx, practice, id).await?;
        tx.commit().await?;
        Ok(workflow)
    }

    pub async fn delete_workflow(&self, caller: &UserCaller, id: WorkflowId) -> Result<(), Error> {
        let acting = self.acting(caller).await?;
        acting.require(&MANAGERS, "changing workflows")?;
        let practice = caller.practice_id;
        let (_writing, tx) = self.begin().await?;
        let workflow = store::workflows::get(&tx, practice, id).await?;
        store::workflows::delete(&tx, practice, id).await?;
        let entry = AuditEntry::new(
            "workflow.deleted",
            serde_json::json!({ "workflow_id": id, "name": workflow.name }),
            serde_json::Value::Null,
        );
        self.audit_one(
            &tx,
            practice,
            &acting.actor,
            entry.about(workflow.organisation_id),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
