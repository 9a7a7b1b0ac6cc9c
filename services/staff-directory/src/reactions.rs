//! What staff-directory does when other services' events arrive: invitation answers move
//! Pending members on, offboarding outcomes finish offboardings.

use async_trait::async_trait;
use ps_events::consumer::{EventHandler, HandleError};
use ps_events::{ConsumerName, Event, Payload, inbox};
use tracing::info;

use crate::app::Directory;
use crate::domain::StaffStatus;

pub struct Handler(pub Directory);

#[async_trait]
impl EventHandler for Handler {
    fn consumer(&self) -> ConsumerName {
        ConsumerName::StaffDirectory
    }

    async fn handle(&self, event: Event) -> Result<(), HandleError> {
        if matches!(
            event.payload,
            Payload::OffboardingCompleted(_) | Payload::OffboardingFailed(_)
        ) {
            let Some(practice_id) = event.practice_id else {
                return Err(HandleError::Permanent(
                    "an offboarding outcome without a practice".into(),
                ));
            };
            let directory = self.0.clone();
            return inbox::apply_once(self.0.db(), self.consumer(), &event, move |tx, event| {
                Box::pin(async move { directory.finish_offboarding(tx, practice_id, event).await })
            })
            .await
            .map(drop);
        }
        if let Payload::DeliveryFailed(failed) = &event.payload {
            // Only invitations concern staff-directory; a personal e-mail has no practice.
            let Some(practice_id) = event.practice_id else {
                return Ok(());
            };
            let directory = self.0.clone();
            let failed = failed.clone();
            return inbox::apply_once(self.0.db(), self.consumer(), &event, move |tx, event| {
                Box::pin(async move {
                    let marked = directory
                        .invitation_failed(tx, practice_id, &event.actor, &failed)
                        .await?;
                    info!(%practice_id, delivery_id = %failed.delivery_id, marked, "invitation e-mail failed");
                    Ok::<_, crate::error::Error>(())
                })
            })
            .await
            .map(drop);
        }
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
        let directory = self.0.clone();
        inbox::apply_once(self.0.db(), self.consumer(), &event, move |tx, event| {
            Box::pin(async move {
                let changed = directory
                    .answer_invitation(tx, practice_id, staff_id, &event.actor, user_id, to)
                    .await?;
                // An answer for a member who is not Pending (replayed, or overtaken) changes nothing.
                info!(%practice_id, %staff_id, status = to.as_str(), changed, "invitation answer applied");
                Ok::<_, crate::error::Error>(())
            })
        })
        .await
        .map(drop)
    }
}
