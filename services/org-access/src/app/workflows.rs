//! Workflows: ordered approval steps of an organisation, each with staff approvers.

use std::collections::{HashMap, HashSet};

use ps_auth::UserCaller;
use ps_core::{FieldViolation, Invalid, PracticeId, StaffId, TitleText};
use ps_db::tenancy::InPractice;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, Set,
};
use uuid::Uuid;

use super::{AuditEntry, MANAGERS, OrgAccess};
use crate::domain::{Step, StepInput, Workflow};
use crate::error::Error;
use crate::store::{step_approvers, workflow_steps, workflows};

impl OrgAccess {
    /// Steps must name one or more distinct approvers who are staff of the practice (not
    /// removed or declined).
    async fn check_steps<C: ConnectionTrait>(
        &self,
        conn: &C,
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
        let known: HashMap<StaffId, ps_roster::Member> =
            ps_roster::members(conn, practice, &wanted)
                .await?
                .into_iter()
                .map(|m| (m.staff_id, m))
                .collect();
        for (i, step) in steps.iter().enumerate() {
            for (j, approver) in step.approvers.iter().enumerate() {
                match known.get(approver) {
                    None => {
                        return Err(Error::Missing(format!(
                            "steps[{i}].approver_staff_ids[{j}]: staff member {approver} not found"
                        )));
                    }
                    Some(m) if ps_roster::status::GONE.contains(&m.status.as_str()) => {
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

    async fn insert_steps<C: ConnectionTrait>(
        &self,
        tx: &C,
        practice: PracticeId,
        workflow: Uuid,
        steps: &[StepInput],
    ) -> Result<(), Error> {
        for (i, step) in steps.iter().enumerate() {
            let step_id = Uuid::now_v7();
            workflow_steps::ActiveModel {
                id: Set(step_id),
                practice_id: Set(practice.as_uuid()),
                workflow_id: Set(workflow),
                position: Set(i32::try_from(i + 1).unwrap_or(i32::MAX)),
                name: Set(step.name.to_string()),
            }
            .insert(tx)
            .await?;
            step_approvers::Entity::insert_many(step.approvers.iter().map(|staff| {
                step_approvers::ActiveModel {
                    step_id: Set(step_id),
                    staff_id: Set(staff.as_uuid()),
                    practice_id: Set(practice.as_uuid()),
                }
            }))
            .exec_without_returning(tx)
            .await?;
        }
        Ok(())
    }

    async fn delete_steps<C: ConnectionTrait>(&self, tx: &C, workflow: Uuid) -> Result<(), Error> {
        let steps: Vec<Uuid> = workflow_steps::Entity::find()
            .filter(workflow_steps::Column::WorkflowId.eq(workflow))
            .all(tx)
            .await?
            .into_iter()
            .map(|s| s.id)
            .collect();
        if !steps.is_empty() {
            step_approvers::Entity::delete_many()
                .filter(step_approvers::Column::StepId.is_in(steps))
                .exec(tx)
                .await?;
        }
        workflow_steps::Entity::delete_many()
            .filter(workflow_steps::Column::WorkflowId.eq(workflow))
            .exec(tx)
            .await?;
        Ok(())
    }

    /// Workflows with their steps and approvers, in three queries.
    pub(crate) async fn workflows<C: ConnectionTrait>(
        &self,
        conn: &C,
        rows: Vec<workflows::Model>,
    ) -> Result<Vec<Workflow>, Error> {
        let ids: Vec<Uuid> = rows.iter().map(|w| w.id).collect();
        let steps = if ids.is_empty() {
            Vec::new()
        } else {
            workflow_steps::Entity::find()
                .filter(workflow_steps::Column::WorkflowId.is_in(ids))
                .order_by_asc(workflow_steps::Column::Position)
                .all(conn)
                .await?
        };
        let step_ids: Vec<Uuid> = steps.iter().map(|s| s.id).collect();
        let mut approvers: HashMap<Uuid, Vec<StaffId>> = HashMap::new();
        if !step_ids.is_empty() {
            for row in step_approvers::Entity::find()
                .filter(step_approvers::Column::StepId.is_in(step_ids))
                .all(conn)
                .await?
            {
                approvers
                    .entry(row.step_id)
                    .or_default()
                    .push(StaffId(row.staff_id));
            }
        }
        let mut by_workflow: HashMap<Uuid, Vec<Step>> = HashMap::new();
        for step in steps {
            let mut names = approvers.remove(&step.id).unwrap_or_default();
            names.sort();
            by_workflow.entry(step.workflow_id).or_default().push(Step {
                id: step.id,
                position: u32::try_from(step.position).unwrap_or(0),
                name: step.name,
                approvers: names,
            });
        }
        Ok(rows
            .into_iter()
            .map(|w| Workflow {
                steps: by_workflow.remove(&w.id).unwrap_or_default(),
                id: w.id,
                organisation_id: w.organisation_id,
                name: w.name,
                created_at: w.created_at,
            })
            .collect())
    }

    async fn workflow_row<C: ConnectionTrait>(
        &self,
        conn: &C,
        practice: PracticeId,
        id: Uuid,
    ) -> Result<workflows::Model, Error> {
        workflows::Entity::find_by_id(id)
            .in_practice(practice)
            .one(conn)
            .await?
            .ok_or(Error::NotFound("workflow"))
    }

    async fn one_workflow<C: ConnectionTrait>(
        &self,
        conn: &C,
        row: workflows::Model,
    ) -> Result<Workflow, Error> {
        self.workflows(conn, vec![row])
            .await?
            .pop()
            .ok_or_else(|| Error::Internal("workflow vanished".into()))
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
        organisation: Uuid,
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
            |id| self.get_workflow(caller, id),
        )
        .await
    }

    async fn create_workflow_now(
        &self,
        caller: &UserCaller,
        organisation: Uuid,
        name: TitleText,
        steps: Vec<StepInput>,
        key: Option<&ps_core::RequestKey>,
    ) -> Result<Workflow, Error> {
        let acting = self.acting(caller).await?;
        acting.require(&MANAGERS, "changing workflows")?;
        if steps.is_empty() {
            return Err(FieldViolation::new("steps", "needs at least one step").into());
        }
        let (_writing, tx) = self.begin().await?;
        self.organisation_row(&tx, caller.practice_id, organisation)
            .await?;
        self.check_steps(&tx, caller.practice_id, &steps).await?;
        let row = workflows::ActiveModel {
            id: Set(Uuid::now_v7()),
            practice_id: Set(caller.practice_id.as_uuid()),
            organisation_id: Set(organisation),
            name: Set(name.to_string()),
            created_at: Set(self.now()),
        }
        .insert(&tx)
        .await?;
        self.insert_steps(&tx, caller.practice_id, row.id, &steps)
            .await?;
        self.audit_one(
            &tx,
            caller.practice_id,
            &acting.actor,
            AuditEntry {
                action: "workflow.created",
                organisation: Some(organisation),
                staff: None,
                request_id: None,
                before: serde_json::Value::Null,
                after: serde_json::json!({ "workflow_id": row.id, "name": row.name, "steps": Self::steps_json(&steps) }),
            },
        )
        .await?;
        let workflow = self.one_workflow(&tx, row).await?;
        super::remember(&tx, caller.practice_id, "CreateWorkflow", key, workflow.id).await?;
        tx.commit().await?;
        Ok(workflow)
    }

    pub async fn get_workflow(&self, caller: &UserCaller, id: Uuid) -> Result<Workflow, Error> {
        self.acting(caller).await?;
        let row = self
            .workflow_row(&self.0.db, caller.practice_id, id)
            .await?;
        self.one_workflow(&self.0.db, row).await
    }

    pub async fn list_workflows(
        &self,
        caller: &UserCaller,
        organisation: Uuid,
    ) -> Result<Vec<Workflow>, Error> {
        self.acting(caller).await?;
        self.organisation_row(&self.0.db, caller.practice_id, organisation)
            .await?;
        let rows = workflows::Entity::find()
            .in_practice(caller.practice_id)
            .filter(workflows::Column::OrganisationId.eq(organisation))
            .order_by_asc(workflows::Column::Id)
            .all(&self.0.db)
            .await?;
        self.workflows(&self.0.db, rows).await
    }

    pub async fn update_workflow(
        &self,
        caller: &UserCaller,
        id: Uuid,
        name: Option<TitleText>,
        steps: Option<Vec<StepInput>>,
    ) -> Result<Workflow, Error> {
        let acting = self.acting(caller).await?;
        acting.require(&MANAGERS, "changing workflows")?;
        if steps.as_ref().is_some_and(Vec::is_empty) {
            return Err(FieldViolation::new("steps", "needs at least one step").into());
        }
        let (_writing, tx) = self.begin().await?;
        let row = self.workflow_row(&tx, caller.practice_id, id).await?;
        let before = self.one_workflow(&tx, row.clone()).await?;
        let mut after = serde_json::Map::new();
        let row = match name {
            Some(name) if name.as_str() != row.name => {
                after.insert("name".into(), serde_json::json!(name.as_str()));
                let mut active = row.into_active_model();
                active.name = Set(name.to_string());
                active.update(&tx).await?
            }
            _ => row,
        };
        if let Some(steps) = steps {
            self.check_steps(&tx, caller.practice_id, &steps).await?;
            self.delete_steps(&tx, id).await?;
            self.insert_steps(&tx, caller.practice_id, id, &steps)
                .await?;
            after.insert("steps".into(), Self::steps_json(&steps));
        }
        if !after.is_empty() {
            self.audit_one(
                &tx,
                caller.practice_id,
                &acting.actor,
                AuditEntry {
                    action: "workflow.updated",
                    organisation: Some(row.organisation_id),
                    staff: None,
                    request_id: None,
                    before: serde_json::json!({ "workflow_id": id, "name": before.name, "steps": before.steps.len() }),
                    after: serde_json::Value::Object(after),
                },
            )
            .await?;
        }
        let workflow = self.one_workflow(&tx, row).await?;
        tx.commit().await?;
        Ok(workflow)
    }

    pub async fn delete_workflow(&self, caller: &UserCaller, id: Uuid) -> Result<(), Error> {
        let acting = self.acting(caller).await?;
        acting.require(&MANAGERS, "changing workflows")?;
        let (_writing, tx) = self.begin().await?;
        let row = self.workflow_row(&tx, caller.practice_id, id).await?;
        self.delete_steps(&tx, id).await?;
        workflows::Entity::delete_by_id(id).exec(&tx).await?;
        self.audit_one(
            &tx,
            caller.practice_id,
            &acting.actor,
            AuditEntry {
                action: "workflow.deleted",
                organisation: Some(row.organisation_id),
                staff: None,
                request_id: None,
                before: serde_json::json!({ "workflow_id": id, "name": row.name }),
                after: serde_json::Value::Null,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
