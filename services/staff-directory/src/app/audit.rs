//! The practice's audit log.

use ps_auth::UserCaller;
use ps_core::{Page, PageRequest, PracticeRole, StaffId};

use super::Directory;
use crate::domain::AuditEvent;
use crate::error::Error;
use crate::store;

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
        store::audit::list(self.db(), caller.practice_id, about, &page).await
    }
}
