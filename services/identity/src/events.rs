//! What identity does when staff-directory's lifecycle events arrive.

use async_trait::async_trait;
use ps_events::consumer::{EventHandler, HandleError};
use ps_events::{ConsumerName, Event, inbox};
use sea_orm::TransactionTrait;

use crate::app::Identity;

pub struct Handler(pub Identity);

fn retryable(err: impl std::fmt::Display) -> HandleError {
    HandleError::Retryable(err.to_string())
}

#[async_trait]
impl EventHandler for Handler {
    fn consumer(&self) -> ConsumerName {
        ConsumerName::Identity
    }

    async fn handle(&self, event: Event) -> Result<(), HandleError> {
        let tx = self.0.db().begin().await.map_err(retryable)?;
        let now = self.0.clock().now();
        if !inbox::record_once(&tx, self.consumer(), event.id, event.event_type(), now)
            .await
            .map_err(retryable)?
        {
            return Ok(());
        }
        self.0
            .apply_staff_event(&tx, &event)
            .await
            .map_err(retryable)?;
        tx.commit().await.map_err(retryable)
    }
}
