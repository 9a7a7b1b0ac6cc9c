//! The mailer: sends queued e-mails under a renewed lease, mints the single-use link of those
//! that carry one at send time, records each outcome, and voids the links of e-mails given up
//! on.

use std::time::Duration;

use chrono::Utc;
use futures::StreamExt;
use ps_core::Shutdown;
use tracing::{Instrument, info, warn};
use uuid::Uuid;

use super::{Notifications, wall};
use crate::domain::{Attempt, Body, ClaimedDelivery, Outcome};
use crate::links::LinkError;
use crate::mail::Outgoing;
use crate::store::{StoreError, UnvoidedLink};

/// Deliveries the mailer claims at once.
const MAILER_BATCH: u64 = 64;
/// How long a claim on deliveries holds without renewal (renewed every third of it while the
/// e-mails are being sent).
const CLAIM_LEASE: Duration = Duration::from_secs(6);
/// Failed e-mails whose links are voided in one go.
const VOID_BATCH: u64 = 32;

impl Notifications {
    /// Sends queued e-mails until shutdown, `sends_at_once` at a time. Claims are leases
    /// (`FOR UPDATE SKIP LOCKED` on PostgreSQL) renewed while the batch is sent, so replicas
    /// never send the same e-mail and a crashed replica's e-mails are free again within
    /// [`CLAIM_LEASE`]; on SQLite, claims left by a previous run are released at start.
    /// Scheduling uses wall-clock time.
    pub async fn run_mailer(self, shutdown: Shutdown) {
        match self.0.store.release_claims_of_previous_run().await {
            Ok(0) => {}
            Ok(released) => info!(released, "released e-mail claims of a previous run"),
            Err(err) => warn!(error = %err, "releasing old e-mail claims failed"),
        }
        let mut claim_failures = ps_telemetry::Throttle::new(Duration::from_secs(10));
        loop {
            if shutdown.is_triggered() {
                return;
            }
            let batch = match self.0.store.claim_due(MAILER_BATCH, CLAIM_LEASE).await {
                Ok(batch) => {
                    claim_failures.reset();
                    batch
                }
                Err(err) => {
                    if let Some(held_back) = claim_failures.hit() {
                        warn!(error = %err, failures_not_logged = held_back, "claiming deliveries failed");
                    }
                    Vec::new()
                }
            };
            if batch.is_empty() {
                self.void_undelivered_links().await;
                tokio::select! {
                    _ = self.0.queued.notified() => {}
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = shutdown.clone().wait() => return,
                }
                continue;
            }
            self.send_batch(batch).await;
        }
    }

    /// Sends a claimed batch `sends_at_once` at a time (one at a time, every e-mail waited
    /// for the previous one's SMTP round trips and result commit), renewing the claim until
    /// every outcome is recorded.
    async fn send_batch(&self, batch: Vec<ClaimedDelivery>) {
        let _lease = self
            .0
            .store
            .keep_claimed(batch.iter().map(|d| d.id).collect(), CLAIM_LEASE);
        futures::stream::iter(batch)
            .for_each_concurrent(self.0.sends_at_once, |delivery| async move {
                if let Err(err) = self.send_one(delivery).await {
                    warn!(error = %err, "recording a delivery result failed");
                }
            })
            .await;
    }

    /// One attempt and its outcome, in the trace of the event that queued the e-mail.
    async fn send_one(&self, delivery: ClaimedDelivery) -> Result<(), StoreError> {
        let span = tracing::info_span!(
            "mail.send",
            otel.kind = "client",
            ps.service = "notification",
            delivery.id = %delivery.id,
            mail.template = %delivery.template,
        );
        ps_telemetry::TraceContext {
            traceparent: delivery.traceparent.clone().unwrap_or_default(),
            tracestate: String::new(),
        }
        .adopt(&span);
        async {
            let attempt = self.attempt(&delivery).await;
            self.record(&delivery, attempt).await
        }
        .instrument(span)
        .await
    }

    /// One attempt at sending `delivery`: mint its link if it carries one, render, send.
    async fn attempt(&self, delivery: &ClaimedDelivery) -> Attempt {
        let (rendered, link) = match &delivery.body {
            Err(unreadable) => return Attempt::Refused(unreadable.clone()),
            Ok(Body::Rendered(rendered)) => (rendered.clone(), None),
            Ok(Body::Link(mail)) => match self.0.links.mint(mail).await {
                Ok(minted) => (mail.render(&minted), Some(minted.id)),
                Err(LinkError::Unavailable(reason)) => return Attempt::Deferred(reason),
                Err(LinkError::Refused(reason)) => return Attempt::Refused(reason),
            },
        };
        let sent = self
            .0
            .mailer
            .send(&Outgoing {
                delivery_id: delivery.id,
                to_name: &delivery.recipient_name,
                to_address: &delivery.recipient,
                subject: &rendered.subject,
                text: &rendered.text,
                html: &rendered.html,
                date: delivery.created_at,
            })
            .await;
        match sent {
            Ok(()) => Attempt::Sent { link },
            Err(err) => Attempt::Failed {
                error: err.to_string(),
                link,
            },
        }
    }

    /// Records how an attempt went (the store keeps trying while the database is
    /// unreachable); a final failure publishes DeliveryFailed and voids the link.
    async fn record(&self, delivery: &ClaimedDelivery, attempt: Attempt) -> Result<(), StoreError> {
        let emails = &ps_telemetry::metrics().emails;
        let store = &self.0.store;
        match self.0.retries.decide(delivery.attempts, attempt) {
            Outcome::Sent { attempts, link } => {
                let sent_at = self.0.clock.now();
                store
                    .record_sent(delivery.id, attempts, sent_at, link)
                    .await?;
                emails.with_label_values(&["sent"]).inc();
                info!(delivery_id = %delivery.id, template = %delivery.template, "e-mail sent");
            }
            Outcome::Deferred { reason, wait } => {
                emails.with_label_values(&["deferred"]).inc();
                warn!(delivery_id = %delivery.id, error = %reason, "no link for the e-mail yet; will retry");
                let next = Utc::now() + wall(wait);
                store.record_deferred(delivery.id, &reason, next).await?;
            }
            Outcome::Retry {
                attempts,
                error,
                link,
                wait,
            } => {
                emails.with_label_values(&["retried"]).inc();
                warn!(delivery_id = %delivery.id, attempts, error = %error, "e-mail not sent; will retry");
                let next = Utc::now() + wall(wait);
                store
                    .record_retry(delivery.id, attempts, &error, link, next)
                    .await?;
            }
            Outcome::GiveUp {
                attempts,
                error,
                link,
            } => self.give_up(delivery, attempts, &error, link).await?,
        }
        Ok(())
    }

    /// The e-mail will not be sent: marked failed (bodies gone), DeliveryFailed published in
    /// the same transaction, and the link it would have carried voided.
    async fn give_up(
        &self,
        delivery: &ClaimedDelivery,
        attempts: u32,
        error: &str,
        link: Option<Uuid>,
    ) -> Result<(), StoreError> {
        ps_telemetry::metrics()
            .emails
            .with_label_values(&["failed"])
            .inc();
        warn!(delivery_id = %delivery.id, attempts, error = %error, "e-mail failed; giving up");
        let failed = delivery.failure_event(error, self.0.clock.now());
        self.0
            .store
            .record_failure(delivery.id, attempts, error, link, &failed)
            .await?;
        self.0.waker.wake();
        self.void_undelivered_links().await;
        Ok(())
    }

    /// Voids the links of finally failed e-mails not voided yet (identity may have been down
    /// when they failed); called after each failure and whenever the mailer is idle.
    async fn void_undelivered_links(&self) {
        let Ok(pending) = self.0.store.unvoided_links(VOID_BATCH).await else {
            return;
        };
        for UnvoidedLink {
            delivery_id,
            link_id,
        } in pending
        {
            if let Err(err) = self.0.links.void(link_id).await {
                warn!(%delivery_id, error = %err, "voiding a failed e-mail's link failed; will retry");
                return;
            }
            let voided = self
                .0
                .store
                .record_link_voided(delivery_id, self.0.clock.now())
                .await;
            if let Err(err) = voided {
                warn!(%delivery_id, error = %err, "recording a voided link failed");
            } else {
                info!(%delivery_id, "the failed e-mail's link was voided");
            }
        }
    }
}
