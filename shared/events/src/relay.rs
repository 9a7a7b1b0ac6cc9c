//! Moves events from a service's outbox to the transport.
//!
//! The relay claims a batch of unpublished rows with a lease (`FOR UPDATE SKIP LOCKED` on
//! PostgreSQL, so replicas share the work; SQLite has one writer anyway), publishes it, and
//! marks each row published only once the transport confirmed it. The lease is short and
//! renewed while the batch is in flight ([`ps_db::lease`]), so rows claimed by a relay that
//! died are free again within one lease (6 s by default); on SQLite, where only this process
//! writes, claims left by a previous run are released at start. Consumers absorb the
//! republishing by idempotency.
//!
//! Failures: an event the broker refuses or cannot route backs off per row. A transport that
//! cannot be reached is not the event's fault: the rows are released untouched and the whole
//! relay backs off (200 ms doubling to 5 s), so once the broker is back every event goes out
//! within seconds, not after its own backoff; the warning is logged once per interval with a
//! count, not once per event.
//!
//! Scheduling (claims, backoff) uses wall-clock time, not the injected business clock: a test
//! that moves its clock days ahead must not strand events in the future.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use ps_core::Shutdown;
use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType, Query};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter};
use tracing::{debug, warn};

use crate::outbox::{OutboxWaker, entity as outbox};
use crate::status::EventsStatus;

/// The outbox table, for lease renewal.
const OUTBOX: &str = "outbox_events";
/// Bounds of the relay's backoff while the transport is unreachable.
const TRANSPORT_BACKOFF: (Duration, Duration) =
    (Duration::from_millis(200), Duration::from_secs(5));
/// How often a repeated relay warning is logged.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// An event as the transport sees it.
#[derive(Debug, Clone)]
pub struct OutgoingEvent {
    /// The event's id.
    pub id: uuid::Uuid,
    /// Its routing key.
    pub event_type: String,
    /// The encoded `events.v1.Envelope`.
    pub payload: Vec<u8>,
    /// The trace context of the relay's publish span, for transport headers.
    pub trace: ps_telemetry::TraceContext,
}

/// Why one event was not published.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PublishError {
    /// No queue is bound for its event type (the broker returned it); backs off per row.
    #[error("no queue is bound for {0}")]
    NoRoute(String),
    /// The broker refused it (nack); backs off per row.
    #[error("the broker refused the event")]
    Refused,
    /// The transport cannot be reached; the row is released untouched and the relay backs off.
    #[error("transport unavailable: {0}")]
    Unavailable(String),
    /// Shutdown began before it was confirmed; the row is released untouched.
    #[error("interrupted by shutdown")]
    Interrupted,
}

/// Hands events to a transport.
#[async_trait]
pub trait Publisher: Send + Sync + 'static {
    /// Publishes each event in order; result `i` belongs to `events[i]`. `Ok` means the
    /// transport took responsibility: the broker confirmed it, or every in-process consumer
    /// handled it.
    async fn publish(
        &self,
        events: &[OutgoingEvent],
        shutdown: &Shutdown,
    ) -> Vec<Result<(), PublishError>>;

    /// Whether the transport can take events now, checked between publishes (for health): a
    /// connection that dropped is opened again here, so a service that has nothing to publish
    /// still shows, and heals, a broker outage.
    async fn check(&self) -> bool {
        true
    }
}

/// How a relay claims, polls and backs off.
#[derive(Debug, Clone, Copy)]
pub struct RelaySettings {
    /// Most events claimed and published at once.
    pub batch_size: u64,
    /// How often to look for events when nobody woke the relay (other replicas' commits).
    pub poll_interval: Duration,
    /// How long a claim holds rows against other relays.
    pub claim_lease: Duration,
    /// Longest wait before a refused event is tried again.
    pub max_backoff: Duration,
}

impl Default for RelaySettings {
    fn default() -> Self {
        Self {
            batch_size: 100,
            poll_interval: Duration::from_millis(500),
            claim_lease: Duration::from_secs(6),
            max_backoff: Duration::from_secs(60),
        }
    }
}

/// Moves one service's outbox rows to its transport; see the module documentation.
#[derive(Clone)]
pub struct Relay {
    pub(crate) service: &'static str,
    pub(crate) db: DatabaseConnection,
    pub(crate) publisher: Arc<dyn Publisher>,
    pub(crate) waker: OutboxWaker,
    pub(crate) settings: RelaySettings,
    pub(crate) status: EventsStatus,
}

fn chrono_duration(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

impl Relay {
    /// Relays until `shutdown`, releasing first (on SQLite) the claims of a previous run.
    pub async fn run(self, shutdown: Shutdown) {
        if !ps_db::is_postgres(&self.db) {
            self.release_previous_claims().await;
        }
        let mut backoff = TRANSPORT_BACKOFF.0;
        let mut claim_failures = ps_telemetry::Throttle::new(WARN_EVERY);
        let mut unavailable = ps_telemetry::Throttle::new(WARN_EVERY);
        loop {
            if shutdown.is_triggered() {
                return;
            }
            let mut batch = match self.claim().await {
                Ok(batch) => {
                    claim_failures.reset();
                    batch
                }
                Err(err) => {
                    if let Some(held_back) = claim_failures.hit() {
                        warn!(service = self.service, error = %err, failures_not_logged = held_back, "outbox claim failed");
                    }
                    Vec::new()
                }
            };
            if batch.is_empty() {
                tokio::select! {
                    _ = self.waker.woken() => {}
                    _ = tokio::time::sleep(self.settings.poll_interval) => {}
                    _ = shutdown.clone().wait() => return,
                }
                continue;
            }
            let results = self.publish(&mut batch, &shutdown).await;
            let transport_down = self.count(&results);
            if let Err(err) = self.settle(&batch, &results).await {
                // The claims expire and the rows go out again; consumers are idempotent.
                warn!(service = self.service, error = %err, "recording publish results failed");
            }
            match transport_down {
                None => {
                    if results.iter().any(Result::is_ok) {
                        self.status.set_publisher(true);
                        unavailable.reset();
                        backoff = TRANSPORT_BACKOFF.0;
                    }
                }
                Some(reason) => {
                    self.status.set_publisher(false);
                    if let Some(held_back) = unavailable.hit() {
                        warn!(service = self.service, error = %reason, events = batch.len(), failures_not_logged = held_back, "event transport unavailable; will retry");
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = shutdown.clone().wait() => return,
                    }
                    backoff = (backoff * 2).min(TRANSPORT_BACKOFF.1);
                }
            }
        }
    }

    /// On SQLite only one relay runs per database: claims left by a previous run of this one
    /// (killed mid-batch) would otherwise hold their rows until the lease runs out.
    async fn release_previous_claims(&self) {
        match ps_db::lease::release_all(&self.db, OUTBOX).await {
            Ok(0) => {}
            Ok(released) => {
                debug!(
                    service = self.service,
                    released, "released claims of a previous run"
                )
            }
            Err(err) => {
                warn!(service = self.service, error = %err, "releasing old claims failed")
            }
        }
    }

    /// Hands `batch` to the transport while keeping its claims, one producer span per event.
    async fn publish(
        &self,
        batch: &mut [OutgoingEvent],
        shutdown: &Shutdown,
    ) -> Vec<Result<(), PublishError>> {
        let lease = ps_db::lease::Lease::keep(
            self.db.clone(),
            OUTBOX,
            batch.iter().map(|e| e.id).collect(),
            self.settings.claim_lease,
        );
        // One producer span per event, a child of the request that wrote it; consumers
        // continue from it (AMQP headers, or the in-process bus).
        let spans: Vec<tracing::Span> = batch
            .iter_mut()
            .map(|event| {
                let span = tracing::info_span!(
                    "event.publish",
                    otel.name = %format!("publish {}", event.event_type),
                    otel.kind = "producer",
                    ps.service = self.service,
                    event.id = %event.id,
                    event.r#type = %event.event_type,
                );
                crate::codec::trace_of(&event.payload).adopt(&span);
                event.trace = ps_telemetry::TraceContext::of(&span);
                span
            })
            .collect();
        let results = self.publisher.publish(batch, shutdown).await;
        drop(spans);
        drop(lease);
        results
    }

    /// Counts the outcomes, and says why the transport is down if it is.
    fn count(&self, results: &[Result<(), PublishError>]) -> Option<String> {
        let published = &ps_telemetry::metrics().events_published;
        let mut transport_down = None;
        for result in results {
            let outcome = match result {
                Ok(()) => "published",
                Err(PublishError::Interrupted) => continue,
                Err(PublishError::Unavailable(reason)) => {
                    transport_down.get_or_insert(reason.clone());
                    "failed"
                }
                Err(_) => "failed",
            };
            published.with_label_values(&[self.service, outcome]).inc();
        }
        transport_down
    }

    async fn claim(&self) -> Result<Vec<OutgoingEvent>, DbErr> {
        let now = Utc::now();
        let until = ps_db::lease::until(self.settings.claim_lease);
        let claimable = Query::select()
            .column(outbox::Column::Id)
            .from(outbox::Entity)
            .and_where(outbox::Column::PublishedAt.is_null())
            .and_where(outbox::Column::NextAttemptAt.lte(now))
            .and_where(
                outbox::Column::ClaimedUntil
                    .is_null()
                    .or(outbox::Column::ClaimedUntil.lt(now)),
            )
            .order_by(outbox::Column::Id, sea_orm::Order::Asc)
            .limit(self.settings.batch_size)
            .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
            .to_owned();
        let mut rows = outbox::Entity::update_many()
            .col_expr(outbox::Column::ClaimedUntil, Expr::value(until))
            .filter(outbox::Column::Id.in_subquery(claimable))
            .exec_with_returning(&self.db)
            .await?;
        rows.sort_by_key(|row| row.id);
        Ok(rows
            .into_iter()
            .map(|row| OutgoingEvent {
                id: row.id,
                event_type: row.event_type,
                payload: row.payload,
                trace: ps_telemetry::TraceContext::default(),
            })
            .collect())
    }

    /// Updates the outbox backlog gauges (count, age of the oldest row) for this service.
    pub(crate) async fn observe_backlog(
        service: &'static str,
        db: &DatabaseConnection,
    ) -> Result<(), DbErr> {
        use sea_orm::{PaginatorTrait, QueryOrder, QuerySelect};
        let unpublished = || outbox::Entity::find().filter(outbox::Column::PublishedAt.is_null());
        let backlog = unpublished().count(db).await?;
        let oldest = unpublished()
            .order_by_asc(outbox::Column::Id)
            .limit(1)
            .one(db)
            .await?;
        let metrics = ps_telemetry::metrics();
        metrics
            .outbox_backlog
            .with_label_values(&[service])
            .set(i64::try_from(backlog).unwrap_or(i64::MAX));
        let age = oldest.map_or(0.0, |row| {
            Ord::max((Utc::now() - row.created_at).num_milliseconds(), 0) as f64 / 1000.0
        });
        metrics
            .outbox_oldest_seconds
            .with_label_values(&[service])
            .set(age);
        Ok(())
    }

    /// Records what the transport did with each event of `batch`: published, released
    /// untouched, or failed and due again after a backoff.
    async fn settle(
        &self,
        batch: &[OutgoingEvent],
        results: &[Result<(), PublishError>],
    ) -> Result<(), DbErr> {
        let now = Utc::now();
        let published: Vec<uuid::Uuid> = batch
            .iter()
            .zip(results)
            .filter(|(_, r)| r.is_ok())
            .map(|(e, _)| e.id)
            .collect();
        if !published.is_empty() {
            outbox::Entity::update_many()
                .col_expr(outbox::Column::PublishedAt, Expr::value(now))
                .col_expr(
                    outbox::Column::ClaimedUntil,
                    Expr::value(None::<chrono::DateTime<Utc>>),
                )
                .col_expr(
                    outbox::Column::Attempts,
                    Expr::col(outbox::Column::Attempts).add(1),
                )
                .filter(outbox::Column::Id.is_in(published.iter().copied()))
                .exec(&self.db)
                .await?;
            debug!(
                service = self.service,
                count = published.len(),
                "events published"
            );
        }
        // Events a shutdown interrupted, and events the transport could not take (it is down,
        // not the event's fault), are released untouched, so they go out as soon as it can.
        let not_taken = |r: &PublishError| {
            matches!(r, PublishError::Interrupted | PublishError::Unavailable(_))
        };
        let released: Vec<uuid::Uuid> = batch
            .iter()
            .zip(results)
            .filter(|(_, r)| r.as_ref().is_err_and(not_taken))
            .map(|(e, _)| e.id)
            .collect();
        if !released.is_empty() {
            outbox::Entity::update_many()
                .col_expr(
                    outbox::Column::ClaimedUntil,
                    Expr::value(None::<chrono::DateTime<Utc>>),
                )
                .filter(outbox::Column::Id.is_in(released))
                .exec(&self.db)
                .await?;
        }
        for (event, result) in batch.iter().zip(results) {
            if let Err(err) = result
                && !not_taken(err)
            {
                self.retry_later(event, err, now).await?;
            }
        }
        Ok(())
    }

    /// An event the transport refused: due again after a backoff that grows with its attempts.
    async fn retry_later(
        &self,
        event: &OutgoingEvent,
        err: &PublishError,
        now: chrono::DateTime<Utc>,
    ) -> Result<(), DbErr> {
        let attempts = outbox::Entity::find_by_id(event.id)
            .one(&self.db)
            .await?
            .map_or(0, |row| row.attempts)
            + 1;
        let backoff = Duration::from_millis(500)
            .saturating_mul(1u32 << attempts.clamp(0, 16))
            .min(self.settings.max_backoff);
        warn!(service = self.service, event_id = %event.id, event_type = %event.event_type, attempts, error = %err, "publish failed; will retry");
        outbox::Entity::update_many()
            .col_expr(outbox::Column::Attempts, Expr::value(attempts))
            .col_expr(
                outbox::Column::NextAttemptAt,
                Expr::value(now + chrono_duration(backoff)),
            )
            .col_expr(
                outbox::Column::ClaimedUntil,
                Expr::value(None::<chrono::DateTime<Utc>>),
            )
            .col_expr(outbox::Column::LastError, Expr::value(err.to_string()))
            .filter(outbox::Column::Id.eq(event.id))
            .exec(&self.db)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Instant;

    use ps_core::{PracticeId, StaffId, UserId};
    use sea_orm_migration::{MigrationTrait, SchemaManager};

    use super::*;
    use crate::event::{Actor, Event, Payload, StaffLeft};

    /// A transport that is down for its first `down_for` calls and refuses events of one type
    /// once; it records when it was called and with how many events.
    #[derive(Default)]
    struct Fake {
        down_for: Mutex<u32>,
        refuse_once: Mutex<Option<&'static str>>,
        calls: Mutex<Vec<(Instant, usize)>>,
    }

    #[async_trait]
    impl Publisher for Fake {
        async fn publish(
            &self,
            events: &[OutgoingEvent],
            _shutdown: &Shutdown,
        ) -> Vec<Result<(), PublishError>> {
            self.calls
                .lock()
                .expect("calls")
                .push((Instant::now(), events.len()));
            let mut down = self.down_for.lock().expect("down");
            if *down > 0 {
                *down -= 1;
                return events
                    .iter()
                    .map(|_| Err(PublishError::Unavailable("connection refused".into())))
                    .collect();
            }
            let mut refuse = self.refuse_once.lock().expect("refuse");
            events
                .iter()
                .map(|e| {
                    if refuse.is_some_and(|t| t == e.event_type) {
                        *refuse = None;
                        Err(PublishError::Refused)
                    } else {
                        Ok(())
                    }
                })
                .collect()
        }
    }

    fn event(payload: Payload) -> Event {
        Event::new(
            PracticeId::generate(),
            Actor::user(UserId::generate(), "Owner"),
            Utc::now(),
            payload,
        )
    }

    fn left() -> StaffLeft {
        StaffLeft {
            staff_id: StaffId::generate(),
            user_id: None,
        }
    }

    /// A relay over a fresh in-memory outbox holding `events`, running until the returned
    /// trigger fires.
    async fn relay_of(
        publisher: Arc<Fake>,
        events: &[Event],
    ) -> (DatabaseConnection, ps_core::ShutdownTrigger) {
        let db = ps_db::connect(&ps_db::DbSettings::new("sqlite::memory:"))
            .await
            .expect("in-memory SQLite");
        crate::migration::EventTables
            .up(&SchemaManager::new(&db))
            .await
            .expect("outbox table");
        for e in events {
            crate::outbox::enqueue(&db, e).await.expect("enqueued");
        }
        let relay = Relay {
            service: "test",
            db: db.clone(),
            publisher,
            waker: OutboxWaker::default(),
            settings: RelaySettings {
                poll_interval: Duration::from_millis(20),
                ..RelaySettings::default()
            },
            status: EventsStatus::new(false),
        };
        let (stop, shutdown) = Shutdown::new();
        tokio::spawn(relay.run(shutdown));
        (db, stop)
    }

    async fn rows(db: &DatabaseConnection) -> Vec<outbox::Model> {
        outbox::Entity::find().all(db).await.expect("outbox rows")
    }

    /// Waits (at most 10 s) until every row is published.
    async fn until_published(db: &DatabaseConnection) -> Vec<outbox::Model> {
        let began = Instant::now();
        loop {
            let rows = rows(db).await;
            if rows.iter().all(|r| r.published_at.is_some()) {
                return rows;
            }
            assert!(
                began.elapsed() < Duration::from_secs(10),
                "unpublished: {rows:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_unreachable_transport_backs_the_relay_off_and_costs_the_rows_nothing() {
        let publisher = Arc::new(Fake::default());
        *publisher.down_for.lock().expect("down") = 3;
        let events: Vec<Event> = (0..5)
            .map(|_| event(Payload::StaffRemoved(left())))
            .collect();
        let (db, stop) = relay_of(publisher.clone(), &events).await;
        let published = until_published(&db).await;
        stop.trigger();
        assert_eq!(published.len(), 5);
        // Down was not the events' fault: only the publish that went counts as an attempt,
        // and no error is kept.
        assert!(
            published
                .iter()
                .all(|r| r.attempts == 1 && r.last_error.is_none()),
            "{published:?}"
        );
        let calls = publisher.calls.lock().expect("calls").clone();
        assert_eq!(
            calls.len(),
            4,
            "three refused batches, then one that went: {calls:?}"
        );
        assert!(
            calls.iter().all(|(_, n)| *n == 5),
            "the whole batch each time"
        );
        // 200 ms, then 400 ms, then 800 ms between tries.
        let gaps: Vec<Duration> = calls.windows(2).map(|w| w[1].0 - w[0].0).collect();
        for (gap, least) in gaps.iter().zip([200, 400, 800]) {
            assert!(
                *gap >= Duration::from_millis(least) && *gap < Duration::from_millis(least * 3),
                "gaps {gaps:?}"
            );
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_refused_event_backs_off_alone_and_goes_out_later() {
        let publisher = Arc::new(Fake::default());
        *publisher.refuse_once.lock().expect("refuse") = Some(crate::event::types::STAFF_REMOVED);
        let events = vec![
            event(Payload::StaffDeactivated(left())),
            event(Payload::StaffRemoved(left())),
            event(Payload::StaffDeactivated(left())),
        ];
        let began = Instant::now();
        let (db, stop) = relay_of(publisher.clone(), &events).await;
        // The others go at once; the refused one waits out its own backoff (1 s after one
        // failure), carrying the attempt and the reason.
        let refused = events[1].id.as_uuid();
        let held = loop {
            let rows = rows(&db).await;
            let others_out = rows
                .iter()
                .filter(|r| r.id != refused)
                .all(|r| r.published_at.is_some());
            let held = rows.into_iter().find(|r| r.id == refused).expect("row");
            if others_out && held.attempts == 1 {
                break held;
            }
            assert!(began.elapsed() < Duration::from_secs(5));
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        assert!(held.published_at.is_none());
        assert_eq!(
            held.last_error.as_deref(),
            Some("the broker refused the event")
        );
        let published = until_published(&db).await;
        stop.trigger();
        assert!(
            began.elapsed() >= Duration::from_millis(900),
            "{:?}",
            began.elapsed()
        );
        let row = published
            .into_iter()
            .find(|r| r.id == refused)
            .expect("row");
        // The refused publish and the one that went.
        assert_eq!(row.attempts, 2);
    }
}
