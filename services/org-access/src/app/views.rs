//! Who can access what, and the access audit log.

use ps_auth::UserCaller;
use ps_core::{Page, PageRequest, StaffId};
use ps_db::tenancy::InPractice;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use super::{MANAGERS, OrgAccess};
use crate::domain::{AccessAuditEvent, Membership, MembershipStatus, StaffAccess, StepAssignment};
use crate::error::Error;
use crate::store::{access_audit, memberships, step_approvers, workflow_steps, workflows};

impl OrgAccess {
    pub async fn organisation_members(
        &self,
        caller: &UserCaller,
        organisation: Uuid,
        include_history: bool,
        page: PageRequest,
    ) -> Result<Page<Membership>, Error> {
        let acting = self.acting(caller).await?;
        acting.require(&MANAGERS, "listing who can access an organisation")?;
        self.organisation_row(&self.0.db, caller.practice_id, organisation)
            .await?;
        let mut select = memberships::Entity::find()
            .in_practice(caller.practice_id)
            .filter(memberships::Column::OrganisationId.eq(organisation));
        if !include_history {
            select = select.filter(memberships::Column::Status.is_in(MembershipStatus::CURRENT));
        }
        if let Some(after) = page.after {
            select = select.filter(memberships::Column::Id.gt(after));
        }
        let rows = select
            .order_by_asc(memberships::Column::Id)
            .limit(page.fetch_limit())
            .all(&self.0.db)
            .await?;
        let rows = Page::from_rows(rows, &page, |m| m.id);
        Ok(Page {
            items: self.memberships(&self.0.db, rows.items).await?,
            next_page_token: rows.next_page_token,
        })
    }

    /// The organisations a member can access and the workflow steps they approve in. Staff
    /// managers may ask about anyone; members about themselves.
    pub async fn staff_access(
        &self,
        caller: &UserCaller,
        staff: StaffId,
        include_history: bool,
    ) -> Result<StaffAccess, Error> {
        let acting = self.acting(caller).await?;
        if acting.staff_id != staff {
            acting.require(&MANAGERS, "seeing another member's access")?;
        }
        if ps_roster::members(&self.0.db, caller.practice_id, &[staff])
            .await?
            .is_empty()
        {
            return Err(Error::NotFound("staff member"));
        }
        let mut select = memberships::Entity::find()
            .in_practice(caller.practice_id)
            .filter(memberships::Column::StaffId.eq(staff.as_uuid()));
        if !include_history {
            select = select.filter(memberships::Column::Status.is_in(MembershipStatus::CURRENT));
        }
        let rows = select
            .order_by_asc(memberships::Column::Id)
            .all(&self.0.db)
            .await?;
        let steps: Vec<(Uuid, Uuid, i32, String)> = step_approvers::Entity::find()
            .select_only()
            .column(step_approvers::Column::StepId)
            .column_as(workflow_steps::Column::WorkflowId, "workflow_id")
            .column_as(workflow_steps::Column::Position, "position")
            .column_as(workflow_steps::Column::Name, "name")
            .join(
                sea_orm::JoinType::InnerJoin,
                step_approvers::Entity::belongs_to(workflow_steps::Entity)
                    .from(step_approvers::Column::StepId)
                    .to(workflow_steps::Column::Id)
                    .into(),
            )
            .in_practice(caller.practice_id)
            .filter(step_approvers::Column::StaffId.eq(staff.as_uuid()))
            .into_tuple()
            .all(&self.0.db)
            .await?;
        let workflow_ids: Vec<Uuid> = steps.iter().map(|(_, w, _, _)| *w).collect();
        let workflows: std::collections::HashMap<Uuid, workflows::Model> =
            if workflow_ids.is_empty() {
                Default::default()
            } else {
                workflows::Entity::find()
                    .filter(workflows::Column::Id.is_in(workflow_ids))
                    .all(&self.0.db)
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
                    workflow_id,
                    workflow_name: workflow.name.clone(),
                    organisation_id: workflow.organisation_id,
                    step_id,
                    position: u32::try_from(position).unwrap_or(0),
                    step_name,
                })
            })
            .collect();
        assignments.sort_by_key(|s| (s.workflow_id, s.position));
        Ok(StaffAccess {
            staff_id: staff,
            memberships: self.memberships(&self.0.db, rows).await?,
            steps: assignments,
        })
    }

    /// Newest first, by organisation or by member (or the whole practice).
    pub async fn access_audit_events(
        &self,
        caller: &UserCaller,
        organisation: Option<Uuid>,
        staff: Option<StaffId>,
        page: PageRequest,
    ) -> Result<Page<AccessAuditEvent>, Error> {
        let acting = self.acting(caller).await?;
        acting.require(&MANAGERS, "reading the access audit log")?;
        let mut select = access_audit::Entity::find().in_practice(caller.practice_id);
        if let Some(organisation) = organisation {
            select = select.filter(access_audit::Column::OrganisationId.eq(organisation));
        }
        if let Some(staff) = staff {
            select = select.filter(access_audit::Column::StaffId.eq(staff.as_uuid()));
        }
        if let Some(after) = page.after {
            select = select.filter(access_audit::Column::Id.lt(after));
        }
        let rows = select
            .order_by_desc(access_audit::Column::Id)
            .limit(page.fetch_limit())
            .all(&self.0.db)
            .await?;
        Ok(
            Page::from_rows(rows, &page, |r| r.id).map(|r| AccessAuditEvent {
                id: r.id,
                occurred_at: r.occurred_at,
                actor_id: r.actor_id,
                actor_name: r.actor_name,
                action: r.action,
                organisation_id: r.organisation_id,
                staff_id: r.staff_id.map(StaffId),
                request_id: r.request_id,
                before: r.before,
                after: r.after,
            }),
        )
    }
}
