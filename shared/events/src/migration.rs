//! The event tables every service carries: include [`EventTables`] first in each service's
//! migrator.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

/// The `outbox_events`, `processed_events` and `dead_letters` tables.
pub struct EventTables;

impl MigrationName for EventTables {
    fn name(&self) -> &str {
        "m20261101_000000_event_tables"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for EventTables {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("outbox_events")
                    .if_not_exists()
                    .col(pk_uuid("id"))
                    .col(string("event_type"))
                    .col(blob("payload"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone_null("published_at"))
                    .col(integer("attempts"))
                    .col(timestamp_with_time_zone("next_attempt_at"))
                    .col(timestamp_with_time_zone_null("claimed_until"))
                    .col(text_null("last_error"))
                    .to_owned(),
            )
            .await?;
        // The relay's scan: unpublished rows in id (= time) order.
        manager
            .create_index(
                Index::create()
                    .name("outbox_events_unpublished")
                    .table("outbox_events")
                    .col("published_at")
                    .col("id")
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("processed_events")
                    .if_not_exists()
                    .col(string("consumer"))
                    .col(uuid("event_id"))
                    .col(string("event_type"))
                    .col(timestamp_with_time_zone("processed_at"))
                    .primary_key(Index::create().col("consumer").col("event_id"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("dead_letters")
                    .if_not_exists()
                    .col(pk_uuid("id"))
                    .col(string("consumer"))
                    .col(string("event_type"))
                    .col(blob("payload"))
                    .col(text("reason"))
                    .col(timestamp_with_time_zone("dead_at"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["dead_letters", "processed_events", "outbox_events"] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
