//! The delivery log, for the practice's staff managers.

use ps_auth::UserCaller;
use ps_core::{Email, Page, PageRequest};
use uuid::Uuid;

use super::Notifications;
use crate::domain::Delivery;
use crate::error::Error;

impl Notifications {
    /// The delivery log is for staff managers who are active now (per the roster, so a
    /// deactivated manager's unexpired token is refused).
    async fn require_staff_manager(&self, caller: &UserCaller) -> Result<(), Error> {
        match self
            .0
            .store
            .active_role(caller.practice_id, caller.user_id)
            .await?
        {
            Some(role) if role.manages_staff() => Ok(()),
            Some(_) => Err(Error::PermissionDenied(
                "the delivery log needs the Account Owner, Account Manager or User Manager role"
                    .into(),
            )),
            None => Err(Error::PermissionDenied(
                "you are not an active member of this practice".into(),
            )),
        }
    }

    /// One page of the caller's practice's deliveries, only those to `recipient` when given.
    pub async fn list_deliveries(
        &self,
        caller: &UserCaller,
        recipient: Option<Email>,
        page: PageRequest,
    ) -> Result<Page<Delivery>, Error> {
        self.require_staff_manager(caller).await?;
        Ok(self
            .0
            .store
            .deliveries(caller.practice_id, recipient.as_ref(), &page)
            .await?)
    }

    /// One of the caller's practice's deliveries; another practice's is not found.
    pub async fn get_delivery(&self, caller: &UserCaller, id: Uuid) -> Result<Delivery, Error> {
        self.require_staff_manager(caller).await?;
        self.0
            .store
            .delivery(caller.practice_id, id)
            .await?
            .ok_or(Error::NotFound("delivery"))
    }
}
