//! The practice's audit log.

use ps_auth::UserCaller;
use ps_core::{LocationId, Page, PageRequest, PracticeRole, StaffId};
use ps_db::tenancy::InPractice;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::Directory;
use crate::domain::AuditEvent;
use crate::error::Error;
use crate::store::audit_events;

impl Directory {
    /// Newest first; optionally only events about one member.
    pub async fn list_audit_events(
        &self,
        caller: &UserCaller,
        about: Option<StaffId>,
        page: PageRequest,
    ) -> Result<Page<AuditEvent>, Error> {
        let acting = self.acting(caller).await?;
        acting.require(
            &[PracticeRole::AccountOwner, PracticeRole::AccountManager],
            "reading the audit log",
        )?;
        let mut query = audit_events::Entity::find().in_practice(caller.practice_id);
        if let Some(staff) = about {
            query = query.filter(audit_events::Column::TargetStaffId.eq(staff.as_uuid()));
        }
        if let Some(after) = page.after {
            query = query.filter(audit_events::Column::Id.lt(after));
        }
        let rows = query
            .order_by_desc(audit_events::Column::Id)
            .limit(page.fetch_limit())
            .all(&self.0.db)
            .await?;
        Ok(
            Page::from_rows(rows, &page, |row| row.id).map(|row| AuditEvent {
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
}
