use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(ps_events::migration::EventTables),
            Box::new(Initial),
            Box::new(Offboardings),
            Box::new(ps_sessions::EndedSessionsTable),
            Box::new(InvitationFailures),
            Box::new(ps_db::idempotency::RequestResultsTable),
        ]
    }
}

struct Initial;

impl MigrationName for Initial {
    fn name(&self) -> &str {
        "m20261101_000001_staff_directory"
    }
}

fn index(name: &str, table: &'static str, columns: &[&'static str]) -> IndexCreateStatement {
    let mut index = Index::create();
    index.name(name).table(table);
    for column in columns {
        index.col(*column);
    }
    index.to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Initial {
    #[expect(
        clippy::too_many_lines,
        reason = "the schema as created, one table after another"
    )]
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("practices")
                    .col(pk_uuid("id"))
                    .col(string("name"))
                    .col(boolean("require_location_for_invites").default(false))
                    .col(timestamp_with_time_zone("created_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("locations")
                    .col(pk_uuid("id"))
                    .col(uuid("practice_id"))
                    .col(string("name"))
                    .col(string("name_key"))
                    .col(timestamp_with_time_zone_null("archived_at"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .from("locations", "practice_id")
                            .to("practices", "id"),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                index(
                    "locations_practice_name",
                    "locations",
                    &["practice_id", "name_key"],
                )
                .unique()
                .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("staff_members")
                    .col(pk_uuid("id"))
                    .col(uuid("practice_id"))
                    .col(string("email"))
                    .col(string("name"))
                    .col(string("role"))
                    .col(string("status"))
                    .col(uuid_null("user_id"))
                    .col(string("invited_by_name"))
                    .col(timestamp_with_time_zone("invited_at"))
                    .col(timestamp_with_time_zone("status_changed_at"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(integer("invitation_count"))
                    .col(timestamp_with_time_zone("last_invited_at"))
                    .col(timestamp_with_time_zone_null("reinvite_window_started_at"))
                    .col(integer("reinvites_in_window"))
                    .col(boolean("external_agent"))
                    .col(uuid_null("primary_location_id"))
                    .col(string_null("npi"))
                    .col(string_null("taxonomy_code"))
                    .col(text_null("bio"))
                    .col(integer_null("capacity"))
                    .col(integer_null("scheduling_step_minutes"))
                    .col(string("certification_status"))
                    .col(timestamp_with_time_zone_null("certification_invited_at"))
                    .col(timestamp_with_time_zone_null("certified_at"))
                    .col(string_null("certificate_number"))
                    .foreign_key(
                        ForeignKey::create()
                            .from("staff_members", "practice_id")
                            .to("practices", "id"),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                index(
                    "staff_members_practice_email",
                    "staff_members",
                    &["practice_id", "email"],
                )
                .unique()
                .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "staff_members_practice_user",
                "staff_members",
                &["practice_id", "user_id"],
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("staff_locations")
                    .col(uuid("staff_id"))
                    .col(uuid("location_id"))
                    .col(uuid("practice_id"))
                    .primary_key(Index::create().col("staff_id").col("location_id"))
                    .foreign_key(
                        ForeignKey::create()
                            .from("staff_locations", "staff_id")
                            .to("staff_members", "id"),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from("staff_locations", "location_id")
                            .to("locations", "id"),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "staff_locations_by_location",
                "staff_locations",
                &["practice_id", "location_id"],
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("audit_events")
                    .col(pk_uuid("id"))
                    .col(uuid("practice_id"))
                    .col(string("actor_id"))
                    .col(string("actor_name"))
                    .col(string("action"))
                    .col(uuid_null("target_staff_id"))
                    .col(uuid_null("target_location_id"))
                    .col(text("before"))
                    .col(text("after"))
                    .col(timestamp_with_time_zone("occurred_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "audit_events_practice",
                "audit_events",
                &["practice_id", "id"],
            ))
            .await?;
        manager
            .create_index(index(
                "audit_events_practice_staff",
                "audit_events",
                &["practice_id", "target_staff_id", "id"],
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "audit_events",
            "staff_locations",
            "staff_members",
            "locations",
            "practices",
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

struct Offboardings;

impl MigrationName for Offboardings {
    fn name(&self) -> &str {
        "m20261123_000001_offboardings"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Offboardings {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("offboardings")
                    .col(pk_uuid("id"))
                    .col(uuid("practice_id"))
                    .col(uuid("leaver_id"))
                    .col(string("leaver_name"))
                    .col(string("leaver_status_before"))
                    .col(uuid("replacement_id"))
                    .col(string("replacement_name"))
                    .col(string("existing_access"))
                    .col(string("status"))
                    .col(string("requested_by_id"))
                    .col(string("requested_by_name"))
                    .col(timestamp_with_time_zone("requested_at"))
                    .col(timestamp_with_time_zone_null("finished_at"))
                    .col(text_null("failure_reason"))
                    .col(integer("organisations").default(0))
                    .col(integer("memberships_revoked").default(0))
                    .col(integer("memberships_granted").default(0))
                    .col(integer("memberships_changed").default(0))
                    .col(integer("invitations_withdrawn").default(0))
                    .col(integer("steps_reassigned").default(0))
                    .to_owned(),
            )
            .await?;
        for index in [
            index(
                "offboardings_practice",
                "offboardings",
                &["practice_id", "id"],
            ),
            index(
                "offboardings_leaver",
                "offboardings",
                &["practice_id", "leaver_id"],
            ),
            index(
                "offboardings_replacement",
                "offboardings",
                &["practice_id", "replacement_id", "status"],
            ),
        ] {
            manager.create_index(index).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("offboardings").to_owned())
            .await
    }
}

/// Whether the latest invitation e-mail could not be delivered (notification's DeliveryFailed).
struct InvitationFailures;

impl MigrationName for InvitationFailures {
    fn name(&self) -> &str {
        "m20261201_000002_invitation_failures"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for InvitationFailures {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one column at a time.
        for mut column in [
            timestamp_with_time_zone_null("invitation_failed_at"),
            text_null("invitation_failure"),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table("staff_members")
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in ["invitation_failed_at", "invitation_failure"] {
            manager
                .alter_table(
                    Table::alter()
                        .table("staff_members")
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
