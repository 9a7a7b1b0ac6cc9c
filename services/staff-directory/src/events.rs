//! What staff-directory does when other services' events arrive.

use async_trait::async_trait;
use ps_events::consumer::{EventHandler, HandleError};
use ps_events::{ConsumerName, Event, Payload, inbox};
use sea_orm::TransactionTrait;
use tracing::{info, warn};

use crate::app::Directory;
use crate::domain::StaffStatus;

pub struct Handler(pub Directory);

fn retryable(err: impl std::fmt::Display) -> HandleError {
    HandleError::Retryable(err.to_string())
}

#[async_trait]
impl EventHandler for Handler {
    fn consumer(&self) -> ConsumerName {
        ConsumerName::StaffDirectory
    }

    async fn handle(&self, event: Event) -> Result<(), HandleError> {
        let (staff_id, user_id, to) = match &event.payload {
            Payload::InvitationAccepted(p) => (p.staff_id, p.user_id, StaffStatus::Active),
            Payload::InvitationDeclined(p) => (p.staff_id, p.user_id, StaffStatus::Declined),
            // Not bound to our queue; nothing to do.
            _ => return Ok(()),
        };
        let Some(practice_id) = event.practice_id else {
            return Err(HandleError::Permanent(
                "an invitation answer without a practice".into(),
            ));
        };
        let tx = self.0.db().begin().await.map_err(retryable)?;
        let now = self.0.clock().now();
        if !inbox::record_once(&tx, self.consumer(), event.id, event.event_type(), now)
            .await
            .map_err(retryable)?
        {
            return Ok(());
        }
        let changed = self
            .0
            .answer_invitation(&tx, practice_id, staff_id, &event.actor, user_id, to)
            .await
            .map_err(retryable)?;
        tx.commit().await.map_err(retryable)?;
        if changed {
            info!(%practice_id, %staff_id, status = to.as_str(), "invitation answered");
        } else {
            warn!(%practice_id, %staff_id, status = to.as_str(), "invitation answer for a member that is not pending; ignored");
        }
        Ok(())
    }
}
