//! Who can access what, and the access audit log.

use ps_auth::UserCaller;
use ps_core::{OrganisationId, Page, PageRequest, StaffId};

use super::{MANAGERS, OrgAccess};
use crate::domain::{AccessAuditEvent, Membership, StaffAccess};
use crate::error::Error;
use crate::store;

impl OrgAccess {
    pub async fn organisation_members(
        &self,
        caller: &UserCaller,
        organisation: OrganisationId,
        include_history: bool,
        page: PageRequest,
    ) -> Result<Page<Membership>, Error> {
        let acting = self.acting(caller).await?;
        acting.require(&MANAGERS, "listing who can access an organisation")?;
        let (db, practice) = (&self.0.db, caller.practice_id);
        store::organisations::get(db, practice, organisation).await?;
        store::memberships::of_organisation(db, practice, organisation, include_history, &page)
            .await
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
        let (db, practice) = (&self.0.db, caller.practice_id);
        if store::roster::member(db, practice, staff).await?.is_none() {
            return Err(Error::NotFound("staff member"));
        }
        let memberships =
            store::memberships::of_staff(db, practice, staff, include_history).await?;
        let steps = store::workflows::assignments(db, practice, staff).await?;
        Ok(StaffAccess {
            staff_id: staff,
            memberships,
            steps,
        })
    }

    /// Newest first, by organisation or by member (or the whole practice).
    pub async fn access_audit_events(
        &self,
        caller: &UserCaller,
        organisation: Option<OrganisationId>,
        staff: Option<StaffId>,
        page: PageRequest,
    ) -> Result<Page<AccessAuditEvent>, Error> {
        let acting = self.acting(caller).await?;
        acting.require(&MANAGERS, "reading the access audit log")?;
        store::audit::list(&self.0.db, caller.practice_id, organisation, staff, &page).await
    }
}
