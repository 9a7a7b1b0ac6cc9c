//! Keeps org-access's roster current from staff and identity events.

use async_trait::async_trait;
use ps_events::consumer::{EventHandler, HandleError};
use ps_events::{ConsumerName, Event, inbox};

use crate::app::OrgAccess;

pub struct Handler(pub OrgAccess);

#[async_trait]
impl EventHandler for Handler {
    fn consumer(&self) -> ConsumerName {
        ConsumerName::OrgAccess
    }

    async fn handle(&self, event: Event) -> Result<(), HandleError> {
        inbox::apply_once(self.0.db(), self.consumer(), &event, |tx, event| {
            Box::pin(ps_roster::apply(tx, event))
        })
        .await
        .map(drop)
    }
}
