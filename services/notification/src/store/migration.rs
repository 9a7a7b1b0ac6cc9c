use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(ps_events::migration::EventTables),
            Box::new(ps_roster::RosterTable),
            Box::new(Initial),
            Box::new(DeliveryTrace),
        ]
    }
}

struct Initial;

impl MigrationName for Initial {
    fn name(&self) -> &str {
        "m20261101_000001_notification"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Initial {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("deliveries")
                    .col(pk_uuid("id"))
                    .col(uuid_null("practice_id"))
                    .col(uuid("event_id"))
                    .col(string("template"))
                    .col(string("recipient"))
                    .col(string("recipient_name"))
                    .col(string("subject"))
                    .col(text_null("body_text"))
                    .col(text_null("body_html"))
                    .col(string("status"))
                    .col(integer("attempts"))
                    .col(text_null("last_error"))
                    .col(timestamp_with_time_zone("next_attempt_at"))
                    .col(timestamp_with_time_zone_null("claimed_until"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone_null("sent_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("deliveries_practice")
                    .table("deliveries")
                    .col("practice_id")
                    .col("id")
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("deliveries_due")
                    .table("deliveries")
                    .col("status")
                    .col("next_attempt_at")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("deliveries").to_owned())
            .await
    }
}

/// The W3C trace context of the event an e-mail answers, so sending it joins that trace.
struct DeliveryTrace;

impl MigrationName for DeliveryTrace {
    fn name(&self) -> &str {
        "m20261123_000002_delivery_trace"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for DeliveryTrace {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("deliveries")
                    .add_column(text_null("traceparent"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("deliveries")
                    .drop_column("traceparent")
                    .to_owned(),
            )
            .await
    }
}
