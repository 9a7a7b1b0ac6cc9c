//! Events that become e-mails.

use async_trait::async_trait;
use ps_events::consumer::{EventHandler, HandleError};
use ps_events::{ConsumerName, Event, Payload};

use crate::app::Notifications;

pub struct Handler(pub Notifications);

#[async_trait]
impl EventHandler for Handler {
    fn consumer(&self) -> ConsumerName {
        ConsumerName::Notification
    }

    async fn handle(&self, event: Event) -> Result<(), HandleError> {
        match &event.payload {
            Payload::StaffInvited(invited) => self.0.on_staff_invited(&event, invited).await,
            // Not bound to our queue.
            Payload::InvitationAccepted(_) | Payload::InvitationDeclined(_) => Ok(()),
        }
    }
}
