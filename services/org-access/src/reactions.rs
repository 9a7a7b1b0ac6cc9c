//! Staff and identity events: the roster, the locations projection, revocation on removal and
//! the handover on offboarding.

use async_trait::async_trait;
use ps_events::consumer::{EventHandler, HandleError};
use ps_events::{ConsumerName, Event, Payload, inbox};

use crate::app::OrgAccess;

pub struct Handler(pub OrgAccess);

#[async_trait]
impl EventHandler for Handler {
    fn consumer(&self) -> ConsumerName {
        ConsumerName::OrgAccess
    }

    async fn handle(&self, event: Event) -> Result<(), HandleError> {
        let org_access = self.0.clone();
        // The roster and memberships change: no decision is kept across this write.
        let _writing = self.0.writing();
        let applied = inbox::apply_once(self.0.db(), self.consumer(), &event, move |tx, event| {
            Box::pin(async move {
                ps_roster::apply(tx, event).await?;
                org_access.react(tx, event).await
            })
        })
        .await?;
        // A handover publishes its outcome: tell the relay, now that it is committed.
        if applied && matches!(event.payload, Payload::StaffOffboardingRequested(_)) {
            self.0.published();
        }
        Ok(())
    }
}
