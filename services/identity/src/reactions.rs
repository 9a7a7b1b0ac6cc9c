//! What identity does when staff-directory's lifecycle events arrive.

use async_trait::async_trait;
use ps_events::consumer::{EventHandler, HandleError};
use ps_events::{ConsumerName, Event, inbox};

use crate::app::Identity;

pub struct Handler(pub Identity);

#[async_trait]
impl EventHandler for Handler {
    fn consumer(&self) -> ConsumerName {
        ConsumerName::Identity
    }

    async fn handle(&self, event: Event) -> Result<(), HandleError> {
        let identity = self.0.clone();
        let applied = inbox::apply_once(self.0.db(), self.consumer(), &event, move |tx, event| {
            Box::pin(async move { identity.apply_staff_event(tx, event).await })
        })
        .await?;
        // Ending a membership ends its sessions, which publishes SessionsEnded.
        if applied {
            self.0.wake();
        }
        Ok(())
    }
}
