//! Staff and identity events: the roster, the locations projection, and revocation on removal.

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
        let org_access = self.0.clone();
        inbox::apply_once(self.0.db(), self.consumer(), &event, move |tx, event| {
            Box::pin(async move {
                ps_roster::apply(tx, event).await?;
                org_access.react(tx, event).await
            })
        })
        .await
        .map(drop)
    }
}
