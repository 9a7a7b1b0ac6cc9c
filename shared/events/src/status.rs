//! What a service's event machinery says about itself: whether its consumer holds a live
//! subscription, whether its relay's transport answers, and when a delivery was last handled.
//! Health (grpc.health.v1 `events`) and metrics read it; the consumer and the relay write it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

/// The state of both halves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Health {
    /// `None` for a service without a consumer.
    pub consumer: Option<bool>,
    /// Whether the relay's transport answered when last tried.
    pub publisher: bool,
}

impl Health {
    /// Both halves work (a service without a consumer counts only its relay).
    pub fn is_up(&self) -> bool {
        self.publisher && self.consumer != Some(false)
    }
}

/// Shared by the relay, the consumer and whoever reports on them.
#[derive(Debug, Clone)]
pub struct EventsStatus(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    health: watch::Sender<Health>,
    last_handled: Mutex<Instant>,
}

impl EventsStatus {
    /// A status for a service that has a consumer (`has_consumer`) or only a relay. Both halves
    /// start as up: the service reports SERVING only after its transport connected.
    pub fn new(has_consumer: bool) -> Self {
        Self(Arc::new(Inner {
            health: watch::channel(Health {
                consumer: has_consumer.then_some(true),
                publisher: true,
            })
            .0,
            last_handled: Mutex::new(Instant::now()),
        }))
    }

    /// The state now.
    pub fn health(&self) -> Health {
        *self.0.health.borrow()
    }

    /// Changes as they happen.
    pub fn watch(&self) -> watch::Receiver<Health> {
        self.0.health.subscribe()
    }

    pub(crate) fn set_consumer(&self, connected: bool) {
        self.0.health.send_if_modified(|h| {
            let changed = h.consumer.is_some() && h.consumer != Some(connected);
            if changed {
                h.consumer = Some(connected);
            }
            changed
        });
    }

    pub(crate) fn set_publisher(&self, connected: bool) {
        self.0.health.send_if_modified(|h| {
            let changed = h.publisher != connected;
            h.publisher = connected;
            changed
        });
    }

    pub(crate) fn handled(&self) {
        *self
            .0
            .last_handled
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Instant::now();
    }

    /// Time since the consumer last handled a delivery (since start when none yet).
    pub fn since_last_handled(&self) -> Duration {
        self.0
            .last_handled
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .elapsed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_is_up_only_while_both_halves_are() {
        let status = EventsStatus::new(true);
        assert!(status.health().is_up());
        status.set_consumer(false);
        assert!(!status.health().is_up());
        status.set_consumer(true);
        status.set_publisher(false);
        assert!(!status.health().is_up());
        status.set_publisher(true);
        assert!(status.health().is_up());

        let relay_only = EventsStatus::new(false);
        relay_only.set_consumer(false);
        assert_eq!(relay_only.health().consumer, None);
        assert!(relay_only.health().is_up());
    }
}
