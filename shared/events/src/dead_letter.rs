//! Events a consumer gave up on, kept for an operator. Behind RabbitMQ they go to the
//! consumer's dead-letter queue instead; the embedded transport has no broker, so it keeps
//! them in the consumer's own database.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ConnectionTrait, DbErr, Set};

use crate::topology::ConsumerName;

/// The `dead_letters` table's sea-orm entity.
pub mod entity {
    use sea_orm::entity::prelude::*;

    /// One event a consumer gave up on.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "dead_letters")]
    pub struct Model {
        /// The dead letter's own id (a UUIDv7, not the event's).
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// The consumer that gave up ([`crate::ConsumerName::as_str`]).
        pub consumer: String,
        /// The event's routing key.
        pub event_type: String,
        /// The delivery as received: an encoded `events.v1.Envelope`, or bytes that failed to
        /// decode as one.
        pub payload: Vec<u8>,
        /// Why the consumer gave up.
        pub reason: String,
        /// When it gave up (UTC).
        pub dead_at: DateTimeUtc,
    }

    /// The table has no relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Keeps a delivery `consumer` gave up on, with the reason, in `conn`.
pub async fn record<C: ConnectionTrait>(
    conn: &C,
    consumer: ConsumerName,
    event_type: &str,
    payload: &[u8],
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    entity::ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        consumer: Set(consumer.as_str().to_owned()),
        event_type: Set(event_type.to_owned()),
        payload: Set(payload.to_vec()),
        reason: Set(reason.to_owned()),
        dead_at: Set(now),
    }
    .insert(conn)
    .await?;
    Ok(())
}
