//! Workflows of an organisation: ordered approval steps, each with its approvers. A workflow
//! is read with its steps and approvers in three queries, however many it has.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use ps_core::{OrganisationId, PracticeId, StaffId, TitleText, WorkflowId};
use ps_db::tenancy::InPractice;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, JoinType, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use uuid::Uuid;

use super::entities::{step_approvers, workflow_steps, workflows};
use crate::domain::{Step, StepAssignment, StepInput, Workflow};
use crate::error::Error;

/// Workflow rows with their steps (in order) and each step's approvers (sorted).
async fn with_steps<C: ConnectionTrait>(
    conn: &C,
    practice: PracticeId,
    rows: Vec<workflows::Model>,
) -> Result<Vec<Workflow>, Error> {
    let ids: Vec<Uuid> = rows.iter().map(|w| w.id).collect();
    let steps = if ids.is_empty() {
        Vec::new()
    } else {
        workflow_steps::Entity::find()
            .in_practice(practice)
            .filter(workflow_steps::Column::WorkflowId.is_in(ids))
            .order_by_asc(workflow_steps::Column::Position)
            .all(conn)
            .await?
    };
    let step_ids: Vec<Uuid> = steps.iter().map(|s| s.id).collect();
    let mut approvers: HashMap<Uuid, Vec<StaffId>> = HashMap::new();
    if !step_ids.is_empty() {
        for row in step_approvers::Entity::find()
            .in_practice(practice)
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
            id: WorkflowId(w.id),
            organisation_id: OrganisationId(w.organisation_id),
            name: w.name,
            created_at: w.created_at,
        })
        .collect())
}

async fn one<C: ConnectionTrait>(
    conn: &C,
    practice: PracticeId,
    row: workflows::Model,
) -> Result<Workflow, Error> {
    with_steps(conn, practice, vec![row])
        .await?
        .pop()
        .ok_or_else(|| Error::Internal("workflow vanished".into()))
}

/// A workflow of the practice with its steps, or NotFound.
pub async fn get<C: ConnectionTrait>(
    conn: &C,
    practice: PracticeId,
    id: WorkflowId,
) -> Result<Workflow, Error> {
    let row =
        super::found::<workflows::Entity, _>(conn, practice, id.as_uuid(), "workflow").await?;
    one(conn, practice, row).await
}

/// The organisation's workflows in creation order.
pub async fn list<C: ConnectionTrait>(
    conn: &C,
    practice: PracticeId,
    organisation: OrganisationId,
) -> Result<Vec<Workflow>, Error> {
    let rows = workflows::Entity::find()
        .in_practice(practice)
        .filter(workflows::Column::OrganisationId.eq(organisation.as_uuid()))
        .order_by_asc(workflows::Column::Id)
        .all(conn)
        .await?;
    with_steps(conn, practice, rows).await
}

/// A new workflow of the organisation with `steps` (numbered from 1).
pub async fn insert<C: ConnectionTrait>(
    tx: &C,
    practice: PracticeId,
    organisation: OrganisationId,
    name: &TitleText,
    steps: &[StepInput],
    at: DateTime<Utc>,
) -> Result<Workflow, Error> {
    let row = workflows::ActiveModel {
        id: Set(WorkflowId::generate().as_uuid()),
        practice_id: Set(practice.as_uuid()),
        organisation_id: Set(organisation.as_uuid()),
        name: Set(name.to_string()),
        created_at: Set(at),
    }
    .insert(tx)
    .await?;
    insert_steps(tx, practice, WorkflowId(row.id), steps).await?;
    one(tx, practice, row).await
}

/// Renames the workflow.
pub async fn rename<C: ConnectionTrait>(
    tx: &C,
    practice: PracticeId,
    id: WorkflowId,
    name: &TitleText,
) -> Result<(), Error> {
    workflows::Entity::update_many()
        .col_expr(workflows::Column::Name, Expr::value(name.to_string()))
        .in_practice(practice)
        .filter(workflows::Column::Id.eq(id.as_uuid()))
        .exec(tx)
        .await?;
    Ok(())
}

/// Replaces every step of the workflow (and their approvers) with `steps`.
pub async fn replace_steps<C: ConnectionTrait>(
    tx: &C,
    practice: PracticeId,
    id: WorkflowId,
    steps: &[StepInput],
) -> Result<(), Error> {
    delete_steps(tx, practice, id).await?;
    insert_steps(tx, practice, id, steps).await
}

/// Deletes the workflow with its steps.
pub async fn delete<C: ConnectionTrait>(
    tx: &C,
    practice: PracticeId,
    id: WorkflowId,
) -> Result<(), Error> {
    delete_steps(tx, practice, id).await?;
    workflows::Entity::delete_many()
        .in_practice(practice)
        .filter(workflows::Column::Id.eq(id.as_uuid()))
        .exec(tx)
        .await?;
    Ok(())
}

async fn insert_steps<C: ConnectionTrait>(
    tx: &C,
    practice: PracticeId,
    workflow: WorkflowId,
    steps: &[StepInput],
) -> Result<(), Error> {
    for (i, step) in steps.iter().enumerate() {
        let step_id = Uuid::now_v7();
        workflow_steps::ActiveModel {
            id: Set(step_id),
            practice_id: Set(practice.as_uuid()),
            workflow_id: Set(workflow.as_uuid()),
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

async fn delete_steps<C: ConnectionTrait>(
    tx: &C,
    practice: PracticeId,
    workflow: WorkflowId,
) -> Result<(), Error> {
    let steps: Vec<Uuid> = workflow_steps::Entity::find()
        .in_practice(practice)
        .filter(workflow_steps::Column::WorkflowId.eq(workflow.as_uuid()))
        .all(tx)
        .await?
        .into_iter()
        .map(|s| s.id)
        .collect();
    if !steps.is_empty() {
        step_approvers::Entity::delete_many()
            .in_practice(practice)
            .filter(step_approvers::Column::StepId.is_in(steps))
            .exec(tx)
            .await?;
    }
    workflow_steps::Entity::delete_many()
        .in_practice(practice)
        .filter(workflow_steps::Column::WorkflowId.eq(workflow.as_uuid()))
        .exec(tx)
        .await?;
    Ok(())
}

/// The workflow steps `staff` approves in, by workflow and position.
pub async fn assignments<C: ConnectionTrait>(
    conn: &C,
    practice: PracticeId,
    staff: StaffId,
) -> Result<Vec<StepAssignment>, Error> {
    let steps: Vec<(Uuid, Uuid, i32, String)> = step_approvers::Entity::find()
        .select_only()
        .column(step_approvers::Column::StepId)
        .column_as(workflow_steps::Column::WorkflowId, "workflow_id")
        .column_as(workflow_steps::Column::Position, "position")
        .column_as(workflow_steps::Column::Name, "name")
        .join(
            JoinType::InnerJoin,
            step_approvers::Entity::belongs_to(workflow_steps::Entity)
                .from(step_approvers::Column::StepId)
                .to(workflow_steps::Column::Id)
                .into(),
        )
        .in_practice(practice)
        .filter(step_approvers::Column::StaffId.eq(staff.as_uuid()))
        .into_tuple()
        .all(conn)
        .await?;
    let workflow_ids: Vec<Uuid> = steps.iter().map(|(_, w, _, _)| *w).collect();
    let workflows: HashMap<Uuid, workflows::Model> = if workflow_ids.is_empty() {
        HashMap::new()
    } else {
        workflows::Entity::find()
            .in_practice(practice)
            .filter(workflows::Column::Id.is_in(workflow_ids))
            .all(conn)
            .await?
            .into_iter()
            .map(|w| (w.id, w))
            .collect()
    };
    let mut assignments: Vec<StepAssignment> = steps
        .into_iter()
        .filter_map(|(step_id, workflow_id, position, step_name)| {
            let workflow = workflows.get(&workflow_id)?;
            Some(StepAssignment {
                workflow_id: WorkflowId(workflow_id),
                workflow_name: workflow.name.clone(),
                organisation_id: OrganisationId(workflow.organisation_id),
                step_id,
                position: u32::try_from(position).unwrap_or(0),
                step_name,
            })
        })
        .collect();
    assignments.sort_by_key(|s| (s.workflow_id, s.position));
    Ok(assignments)
}
