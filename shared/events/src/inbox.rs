//! Consumer idempotency: each consumer records the event ids it has applied, in the same
//! transaction as the effect, so a redelivered event changes nothing.

use std::fmt::Display;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use ps_core::EventId;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait, Set,
    TransactionTrait,
};

use crate::consumer::HandleError;
use crate::event::Event;
use crate::topology::ConsumerName;

/// The `processed_events` table's sea-orm entity: the consumer's inbox.
pub mod entity {
    use sea_orm::entity::prelude::*;

    /// One event a consumer has applied.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "processed_events")]
    pub struct Model {
        /// The consumer ([`crate::ConsumerName::as_str`]).
        #[sea_orm(primary_key, auto_increment = false)]
        pub consumer: String,
        /// The event applied.
        #[sea_orm(primary_key, auto_increment = false)]
        pub event_id: Uuid,
        /// Its routing key, for operators reading the table.
        pub event_type: String,
        /// When it was applied (UTC wall clock).
        pub processed_at: DateTimeUtc,
    }

    /// The table has no relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Records that `consumer` applies `event_id`; `false` when it already had.
///
/// Call it first inside the transaction that applies the event and roll back on `false`.
/// It is an `INSERT … ON CONFLICT DO NOTHING`, so on PostgreSQL a concurrent duplicate waits
/// for the first transaction and then sees the row, and no error aborts the transaction.
pub async fn record_once<C: ConnectionTrait>(
    conn: &C,
    consumer: ConsumerName,
    event_id: EventId,
    event_type: &str,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let inserted = entity::Entity::insert(entity::ActiveModel {
        consumer: Set(consumer.as_str().to_owned()),
        event_id: Set(event_id.as_uuid()),
        event_type: Set(event_type.to_owned()),
        processed_at: Set(now),
    })
    .on_conflict(
        OnConflict::columns([entity::Column::Consumer, entity::Column::EventId])
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(conn)
    .await?;
    Ok(inserted == 1)
}

/// Whether `consumer` already applied `event_id`: a cheap check before side effects outside
/// the database (an RPC), which [`record_once`] would only catch afterwards.
pub async fn already_processed<C: ConnectionTrait>(
    conn: &C,
    consumer: ConsumerName,
    event_id: EventId,
) -> Result<bool, DbErr> {
    Ok(
        entity::Entity::find_by_id((consumer.as_str().to_owned(), event_id.as_uuid()))
            .one(conn)
            .await?
            .is_some(),
    )
}

fn retryable(err: impl Display) -> HandleError {
    HandleError::Retryable(err.to_string())
}

/// Applies `event` once: in one transaction, records its id for `consumer` and runs `apply`;
/// a redelivered event (id already recorded) runs nothing. Every consumer goes through this,
/// so the effect and the record of it commit together or not at all. Returns whether `apply`
/// ran. Errors from `apply` are retryable (the transaction rolls back).
pub async fn apply_once<E, F>(
    db: &DatabaseConnection,
    consumer: ConsumerName,
    event: &Event,
    apply: F,
) -> Result<bool, HandleError>
where
    E: Display,
    F: for<'t> FnOnce(&'t DatabaseTransaction, &'t Event) -> BoxFuture<'t, Result<(), E>>,
{
    let tx = db.begin().await.map_err(retryable)?;
    if !record_once(&tx, consumer, event.id, event.event_type(), Utc::now())
        .await
        .map_err(retryable)?
    {
        return Ok(false);
    }
    apply(&tx, event).await.map_err(retryable)?;
    tx.commit().await.map_err(retryable)?;
    Ok(true)
}
