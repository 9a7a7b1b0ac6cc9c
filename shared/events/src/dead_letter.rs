//! Events a consumer gave up on, kept for an operator. Behind RabbitMQ they go to the
//! consumer's dead-letter queue instead; the embedded transport has no broker, so it keeps
//! them in the consumer's own database.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ConnectionTrait, DbErr, Set};

use crate::topology::ConsumerName;

pub mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "dead_letters")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub consumer: String,
        pub event_type: String,
        pub payload: Vec<u8>,
        pub reason: String,
        pub dead_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

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
