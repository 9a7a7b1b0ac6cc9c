//! The embedded transport: the relay hands each event straight to the consumers in the same
//! process and counts it published only once every consumer that binds its type has handled
//! (or dead-lettered) it. A crash before that leaves the event unpublished in the outbox, so
//! nothing is lost; it is simply delivered again after restart.

use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use chrono::Utc;
use ps_core::Shutdown;
use sea_orm::DatabaseConnection;
use tokio::sync::watch;
use tracing::warn;

use crate::consumer::{ConsumerRunner, Outcome};
use crate::dead_letter;
use crate::relay::{OutgoingEvent, PublishError, Publisher};
use crate::status::EventsStatus;

#[derive(Clone)]
struct Subscriber {
    runner: ConsumerRunner,
    /// The consumer's own database, where its dead letters are kept.
    db: DatabaseConnection,
    status: EventsStatus,
}

/// In-process event bus shared by the services of one process.
#[derive(Clone)]
pub struct InProcessBus {
    subscribers: Arc<RwLock<Vec<Subscriber>>>,
    open: Arc<watch::Sender<bool>>,
}

impl Default for InProcessBus {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for InProcessBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InProcessBus")
            .field("open", &*self.open.borrow())
            .finish_non_exhaustive()
    }
}

impl InProcessBus {
    /// A bus with no subscribers, closed until [`InProcessBus::open`].
    pub fn new() -> Self {
        Self {
            subscribers: Arc::default(),
            open: Arc::new(watch::channel(false).0),
        }
    }

    /// Adds a consumer; `db` is its service's database, where its dead letters are kept.
    pub fn subscribe(&self, runner: ConsumerRunner, db: DatabaseConnection, status: EventsStatus) {
        self.subscribers
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(Subscriber { runner, db, status });
    }

    /// Lets events flow. Call it once every service of the process has subscribed; until then
    /// publishing waits, so an event cannot slip past a consumer that is still starting (the
    /// broker equivalent is every service declaring the whole topology).
    pub fn open(&self) {
        self.open.send_replace(true);
    }

    async fn opened(&self, shutdown: &Shutdown) -> bool {
        let mut open = self.open.subscribe();
        tokio::select! {
            result = open.wait_for(|open| *open) => result.is_ok(),
            _ = shutdown.clone().wait() => false,
        }
    }

    async fn deliver(
        subscriber: &Subscriber,
        event: &OutgoingEvent,
        shutdown: &Shutdown,
    ) -> Result<(), PublishError> {
        match subscriber
            .runner
            .deliver(&event.payload, &event.trace, shutdown)
            .await
        {
            Outcome::Handled => {
                subscriber.status.handled();
                Ok(())
            }
            Outcome::Interrupted => Err(PublishError::Interrupted),
            Outcome::DeadLettered(reason) => {
                let consumer = subscriber.runner.consumer();
                dead_letter::record(
                    &subscriber.db,
                    consumer,
                    &event.event_type,
                    &event.payload,
                    &reason,
                    Utc::now(),
                )
                .await
                .map_err(|err| {
                    warn!(consumer = consumer.as_str(), error = %err, "could not keep dead letter");
                    PublishError::Unavailable("dead letter not recorded".into())
                })
            }
        }
    }
}

#[async_trait]
impl Publisher for InProcessBus {
    async fn publish(
        &self,
        events: &[OutgoingEvent],
        shutdown: &Shutdown,
    ) -> Vec<Result<(), PublishError>> {
        if !self.opened(shutdown).await {
            return events
                .iter()
                .map(|_| Err(PublishError::Interrupted))
                .collect();
        }
        let subscribers: Vec<Subscriber> = self
            .subscribers
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        let mut results = Vec::with_capacity(events.len());
        for event in events {
            if shutdown.is_triggered() {
                results.push(Err(PublishError::Interrupted));
                continue;
            }
            let deliveries = subscribers
                .iter()
                .filter(|s| s.runner.consumer().receives(&event.event_type))
                .map(|s| Self::deliver(s, event, shutdown));
            let outcome = futures::future::join_all(deliveries)
                .await
                .into_iter()
                .collect::<Result<Vec<()>, PublishError>>()
                .map(drop);
            results.push(outcome);
        }
        results
    }
}
