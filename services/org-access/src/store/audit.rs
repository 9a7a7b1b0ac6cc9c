//! The access audit log: every change to access, roles, workflows and settings, with the
//! actor, the request id and before/after as JSON.

use chrono::{DateTime, Utc};
use ps_core::{OrganisationId, Page, PageRequest, PracticeId, StaffId};
use ps_db::tenancy::InPractice;
use ps_events::Actor;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

use super::entities::access_audit;
use crate::domain::AccessAuditEvent;
use crate::error::Error;

/// One change, as the audit log keeps it (the actor and the time are the write's).
pub struct AuditEntry {
    pub action: &'static str,
    pub organisation: Option<OrganisationId>,
    pub staff: Option<StaffId>,
    pub request_id: Option<String>,
    pub before: serde_json::Value,
    pub after: serde_json::Value,
}

impl AuditEntry {
    /// A change of the practice's catalogue or settings, about no organisation or member.
    pub fn new(action: &'static str, before: serde_json::Value, after: serde_json::Value) -> Self {
        Self {
            action,
            organisation: None,
            staff: None,
            request_id: None,
            before,
            after,
        }
    }

    /// The same change, about `organisation`.
    pub fn about(self, organisation: OrganisationId) -> Self {
        Self {
            organisation: Some(organisation),
            ..self
        }
    }
}

/// Writes `entries`, all by `actor` at `at`, in as few statements as the database allows.
pub async fn record<C: ConnectionTrait>(
    tx: &C,
    practice: PracticeId,
    actor: &Actor,
    entries: Vec<AuditEntry>,
    at: DateTime<Utc>,
) -> Result<(), Error> {
    if entries.is_empty() {
        return Ok(());
    }
    let rows = entries
        .into_iter()
        .map(|entry| access_audit::ActiveModel {
            id: Set(Uuid::now_v7()),
            practice_id: Set(practice.as_uuid()),
            actor_id: Set(actor.id.clone()),
            actor_name: Set(actor.name.clone()),
            action: Set(entry.action.to_owned()),
            organisation_id: Set(entry.organisation.map(|o| o.as_uuid())),
            staff_id: Set(entry.staff.map(|s| s.as_uuid())),
            request_id: Set(entry.request_id),
            before: Set(entry.before.to_string()),
            after: Set(entry.after.to_string()),
            occurred_at: Set(at),
        })
        .collect();
    ps_db::insert_all(tx, rows).await?;
    Ok(())
}

/// One page of the log, newest first: about one organisation, one member, or the whole
/// practice.
pub async fn list<C: ConnectionTrait>(
    conn: &C,
    practice: PracticeId,
    organisation: Option<OrganisationId>,
    staff: Option<StaffId>,
    page: &PageRequest,
) -> Result<Page<AccessAuditEvent>, Error> {
    let mut select = access_audit::Entity::find().in_practice(practice);
    if let Some(organisation) = organisation {
        select = select.filter(access_audit::Column::OrganisationId.eq(organisation.as_uuid()));
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
        .all(conn)
        .await?;
    Ok(
        Page::from_rows(rows, page, |r| r.id).map(|r| AccessAuditEvent {
            id: r.id,
            occurred_at: r.occurred_at,
            actor_id: r.actor_id,
            actor_name: r.actor_name,
            action: r.action,
            organisation_id: r.organisation_id.map(OrganisationId),
            staff_id: r.staff_id.map(StaffId),
            request_id: r.request_id,
            before: r.before,
            after: r.after,
        }),
    )
}
