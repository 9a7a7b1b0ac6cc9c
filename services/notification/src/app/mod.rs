//! Notification's use cases: queue the e-mails an event causes ([`queue`]), send queued
//! e-mails ([`mailer`]), show the log ([`deliveries`]).
//!
//! An event is applied by queuing its deliveries in the transaction that records the event id
//! (so copies of one event queue one set of e-mails). The mailer sends them afterwards. E-mails
//! with a single-use link store no link: the mailer mints it at send time ([`crate::links`]).
//! Claims on deliveries are short leases the mailer renews while it sends, so a crashed
//! process's e-mails go out within seconds of a restart. Which e-mails an event causes and
//! what follows a failed attempt are [`crate::domain`]'s rules; every query is
//! [`crate::store::Store`]'s.

mod deliveries;
mod mailer;
mod queue;

use std::sync::Arc;
use std::time::Duration;

use ps_core::SharedClock;
use ps_events::OutboxWaker;
use tokio::sync::Notify;

use crate::domain::{MailUrls, RetryPolicy};
use crate::links::LinkIssuer;
use crate::mail::{MailSettings, Mailer};
use crate::store::Store;

/// The service's use cases, shared by the edge, the event handler and the mailer task.
#[derive(Clone)]
pub struct Notifications(Arc<Inner>);

struct Inner {
    store: Store,
    clock: SharedClock,
    links: Arc<dyn LinkIssuer>,
    mailer: Mailer,
    waker: OutboxWaker,
    /// E-mails sent at once.
    sends_at_once: usize,
    retries: RetryPolicy,
    /// Wakes the mailer when a delivery is queued.
    queued: Notify,
    /// Where e-mails without a single-use link point.
    urls: MailUrls,
}

impl Notifications {
    /// The use cases over `store`, minting links through `links` and sending through
    /// `mailer` as `settings` say; `waker` wakes the outbox relay when a failure is
    /// published.
    pub fn new(
        store: Store,
        clock: SharedClock,
        links: Arc<dyn LinkIssuer>,
        mailer: Mailer,
        waker: OutboxWaker,
        settings: &MailSettings,
        urls: MailUrls,
    ) -> Self {
        Self(Arc::new(Inner {
            store,
            clock,
            links,
            mailer,
            waker,
            sends_at_once: settings.concurrency.max(1),
            retries: RetryPolicy::new(settings.max_attempts, settings.retry_delay),
            queued: Notify::new(),
            urls,
        }))
    }

    /// The mail transport e-mails go out through.
    pub fn mailer(&self) -> &Mailer {
        &self.0.mailer
    }
}

/// A wall-clock span for adding to a time.
fn wall(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}
