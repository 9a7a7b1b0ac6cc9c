//! The transactional outbox: events written in the producer's own transaction, relayed later.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ConnectionTrait, DbErr, Set};
use tokio::sync::Notify;

use crate::codec;
use crate::event::Event;

/// The `outbox_events` table's sea-orm entity.
pub mod entity {
    use sea_orm::entity::prelude::*;

    /// One event waiting to be published, or published already.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "outbox_events")]
    pub struct Model {
        /// The event's id; the relay publishes in id (creation) order.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// Its routing key (one of [`crate::event::types`]).
        pub event_type: String,
        /// The encoded `events.v1.Envelope`.
        pub payload: Vec<u8>,
        /// When the event occurred (its `occurred_at`, UTC).
        pub created_at: DateTimeUtc,
        /// When the transport confirmed it (UTC wall clock); `None` while unpublished.
        pub published_at: Option<DateTimeUtc>,
        /// Publishes that reached the transport and got an answer; an outage does not count.
        pub attempts: i32,
        /// Failed publishes back off; the relay skips rows until then.
        pub next_attempt_at: DateTimeUtc,
        /// A relay that claimed the row holds it until then; an expired claim (crashed relay)
        /// lets another relay take it.
        pub claimed_until: Option<DateTimeUtc>,
        /// Why the last refused publish failed.
        pub last_error: Option<String>,
    }

    /// The table has no relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Writes `event` into the outbox on `conn`, which should be the transaction that makes the
/// change the event describes. An event without a trace context gets the current span's, so
/// its consumers continue the trace of the request (or event) that caused it.
pub async fn enqueue<C: ConnectionTrait>(conn: &C, event: &Event) -> Result<(), DbErr> {
    let created_at: DateTime<Utc> = event.occurred_at;
    entity::ActiveModel {
        id: Set(event.id.as_uuid()),
        event_type: Set(event.event_type().to_owned()),
        payload: Set(codec::encode_in_trace(
            event,
            &ps_telemetry::TraceContext::current(),
        )),
        created_at: Set(created_at),
        published_at: Set(None),
        attempts: Set(0),
        // Relay scheduling runs on wall-clock time (see `relay`), whatever the business clock says.
        next_attempt_at: Set(Utc::now()),
        claimed_until: Set(None),
        last_error: Set(None),
    }
    .insert(conn)
    .await?;
    Ok(())
}

/// Wakes the relay right after a commit so events leave without waiting for its poll.
#[derive(Debug, Clone, Default)]
pub struct OutboxWaker(Arc<Notify>);

impl OutboxWaker {
    /// Tells the relay to look for new events now; call it after the commit.
    pub fn wake(&self) {
        self.0.notify_one();
    }

    pub(crate) async fn woken(&self) {
        self.0.notified().await;
    }
}
