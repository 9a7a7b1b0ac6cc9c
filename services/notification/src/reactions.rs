//! Events that become e-mails, and the roster kept for authorising the delivery log.

use async_trait::async_trait;
use ps_events::consumer::{EventHandler, HandleError};
use ps_events::{ConsumerName, Event};

use crate::app::Notifications;

/// Notification's consumer: every event through [`Notifications::handle`].
pub struct Handler(pub Notifications);

#[async_trait]
impl EventHandler for Handler {
    fn consumer(&self) -> ConsumerName {
        ConsumerName::Notification
    }

    async fn handle(&self, event: Event) -> Result<(), HandleError> {
        self.0.handle(&event).await
    }
}
