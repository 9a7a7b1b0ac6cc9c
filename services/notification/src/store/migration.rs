use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

/// Notification's migrations, in order.
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(ps_events::migration::EventTables),
            Box::new(ps_roster::RosterTable),
            Box::new(Initial),
            Box::new(DeliveryTrace),
            Box::new(ps_sessions::EndedSessionsTable),
            Box::new(LinksAtSendTime),
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

/// Links minted at send time: what a link e-mail needs instead of its bodies, the last link's
/// id (to void it when the e-mail finally fails), and who asked (a failure is reported in
/// their name). Bodies of failed e-mails, which held working links before this, are dropped.
struct LinksAtSendTime;

impl MigrationName for LinksAtSendTime {
    fn name(&self) -> &str {
        "m20261201_000003_links_at_send_time"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for LinksAtSendTime {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one column at a time.
        for column in [
            text_null("link_mail"),
            uuid_null("link_id"),
            timestamp_with_time_zone_null("link_voided_at"),
            uuid_null("staff_id"),
            timestamp_with_time_zone_null("requested_at"),
            text_null("requested_by"),
        ] {
            let mut column = column;
            manager
                .alter_table(
                    Table::alter()
                        .table("deliveries")
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .get_connection()
            .execute_unprepared(
                "UPDATE deliveries SET body_text = NULL, body_html = NULL WHERE status = 'failed'",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            "link_mail",
            "link_id",
            "link_voided_at",
            "staff_id",
            "requested_at",
            "requested_by",
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table("deliveries")
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
