//! The practice's audit log: who changed what, with the changed fields before and after.

use chrono::{DateTime, Utc};
use ps_core::{LocationId, Page, PageRequest, PracticeId, StaffId};
use ps_db::tenancy::InPractice;
use ps_events::Actor;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use uuid::Uuid;

use super::entities::audit_events;
use crate::domain::AuditEvent;
use crate::error::Error;

/// One change, as the audit log keeps it.
pub struct Entry<'a> {
    pub actor: &'a Actor,
    pub action: &'a str,
    pub target_staff: Option<StaffId>,
    pub target_location: Option<LocationId>,
    pub before: serde_json::Value,
    pub after: serde_json::Value,
    pub at: DateTime<Utc>,
}

/// Records `entry` in the practice's log.
pub async fn record<C: ConnectionTrait>(
    tx: &C,
    practice: PracticeId,
    entry: Entry<'_>,
) -> Result<(), Error> {
    audit_events::ActiveModel {
        id: Set(Uuid::now_v7()),
        practice_id: Set(practice.as_uuid()),
        actor_id: Set(entry.actor.id.clone()),
        actor_name: Set(entry.actor.name.clone()),
        action: Set(entry.action.to_owned()),
        target_staff_id: Set(entry.target_staff.map(|s| s.as_uuid())),
        target_location_id: Set(entry.target_location.map(|l| l.as_uuid())),
        before: Set(entry.before.to_string()),
        after: Set(entry.after.to_string()),
        occurred_at: Set(entry.at),
    }
    .insert(tx)
    .await?;
    Ok(())
}

/// One page of the log, newest first; optionally only entries about one member.
pub async fn list<C: ConnectionTrait>(
    conn: &C,
    practice: PracticeId,
    about: Option<StaffId>,
    page: &PageRequest,
) -> Result<Page<AuditEvent>, Error> {
    let mut query = audit_events::Entity::find().in_practice(practice);
    if let Some(staff) = about {
        query = query.filter(audit_events::Column::TargetStaffId.eq(staff.as_uuid()));
    }
    if let Some(after) = page.after {
        query = query.filter(audit_events::Column::Id.lt(after));
    }
    let rows = query
        .order_by_desc(audit_events::Column::Id)
        .limit(page.fetch_limit())
        .all(conn)
        .await?;
    Ok(
        Page::from_rows(rows, page, |row| row.id).map(|row| AuditEvent {
            id: row.id,
            occurred_at: row.occurred_at,
            actor_id: row.actor_id,
            actor_name: row.actor_name,
            action: row.action,
            target_staff_id: row.target_staff_id.map(StaffId),
            target_location_id: row.target_location_id.map(LocationId),
            before: row.before,
            after: row.after,
        }),
    )
}
