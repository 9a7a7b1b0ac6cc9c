use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(ps_events::migration::EventTables),
            Box::new(Initial),
            Box::new(ps_sessions::EndedSessionsTable),
            Box::new(ResetRequestsAndSealedKeys),
            Box::new(ServiceAccounts),
        ]
    }
}

struct Initial;

impl MigrationName for Initial {
    fn name(&self) -> &str {
        "m20261101_000001_identity"
    }
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
                    .table("users")
                    .col(pk_uuid("id"))
                    .col(string_uniq("email"))
                    .col(string("name"))
                    .col(text_null("password_hash"))
                    .col(integer("failed_sign_ins").default(0))
                    .col(timestamp_with_time_zone_null("locked_until"))
                    .col(timestamp_with_time_zone_null("reset_window_started_at"))
                    .col(integer("resets_in_window").default(0))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("action_links")
                    .col(pk_uuid("id"))
                    .col(blob("token_hash").unique_key())
                    .col(string("purpose"))
                    .col(uuid("user_id"))
                    .col(uuid_null("practice_id"))
                    .col(uuid_null("staff_id"))
                    .col(string("practice_name"))
                    .col(string("inviter_name"))
                    .col(string("invitee_name"))
                    .col(string("role"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("expires_at"))
                    .col(timestamp_with_time_zone_null("used_at"))
                    .col(timestamp_with_time_zone_null("voided_at"))
                    .col(string_null("outcome"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("action_links_by_user_practice")
                    .table("action_links")
                    .col("user_id")
                    .col("practice_id")
                    .col("purpose")
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("action_links_by_staff")
                    .table("action_links")
                    .col("practice_id")
                    .col("staff_id")
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("sessions")
                    .col(pk_uuid("id"))
                    .col(uuid("user_id"))
                    .col(uuid("practice_id"))
                    .col(blob("refresh_hash"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("expires_at"))
                    .col(timestamp_with_time_zone_null("refreshed_at"))
                    .col(timestamp_with_time_zone_null("revoked_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("sessions_by_user")
                    .table("sessions")
                    .col("user_id")
                    .col("practice_id")
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("memberships")
                    .col(uuid("user_id"))
                    .col(uuid("practice_id"))
                    .col(uuid("staff_id"))
                    .col(string("practice_name"))
                    .col(string("role"))
                    .col(boolean("active"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .primary_key(Index::create().col("user_id").col("practice_id"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("signing_keys")
                    .col(string("kid").primary_key())
                    .col(blob("private_key"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone_null("retired_at"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "signing_keys",
            "memberships",
            "sessions",
            "action_links",
            "users",
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

/// Password reset requests queued by the RPC (the same work for known and unknown e-mails),
/// and signing keys sealed with a key-encryption key, activated and retired on a schedule.
struct ResetRequestsAndSealedKeys;

impl MigrationName for ResetRequestsAndSealedKeys {
    fn name(&self) -> &str {
        "m20261201_000004_reset_requests_sealed_keys"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for ResetRequestsAndSealedKeys {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("reset_requests")
                    .col(pk_uuid("id"))
                    .col(string("email"))
                    .col(timestamp_with_time_zone("requested_at"))
                    .to_owned(),
            )
            .await?;
        // One column per statement: SQLite alters one column at a time. Existing keys are
        // "pkcs8" (clear) until identity seals them at its next start.
        for mut column in [
            string("key_format").default("pkcs8").to_owned(),
            timestamp_with_time_zone_null("activates_at"),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table("signing_keys")
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("reset_requests").to_owned())
            .await?;
        for column in ["key_format", "activates_at"] {
            manager
                .alter_table(
                    Table::alter()
                        .table("signing_keys")
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

/// Service accounts: machine callers with their own credentials (secrets as hashes, public
/// keys), scopes, an optional practice limit and a history of changes; and the client
/// assertions already used, so each is accepted once.
struct ServiceAccounts;

impl MigrationName for ServiceAccounts {
    fn name(&self) -> &str {
        "m20261202_000005_service_accounts"
    }
}

const SERVICE_ACCOUNT_TABLES: [&str; 5] = [
    "service_accounts",
    "service_account_secrets",
    "service_account_keys",
    "service_account_events",
    "service_assertions",
];

#[async_trait::async_trait]
impl MigrationTrait for ServiceAccounts {
    #[expect(
        clippy::too_many_lines,
        reason = "the schema as created, one table after another"
    )]
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("service_accounts")
                    .col(pk_uuid("id"))
                    .col(string("name"))
                    // Lowercased name within its practice ("platform" for platform-wide
                    // accounts): unique, so names are never ambiguous.
                    .col(string_uniq("name_key"))
                    .col(text("description"))
                    .col(text("scopes"))
                    .col(uuid_null("practice_id"))
                    .col(string("practice_name"))
                    .col(string("status"))
                    .col(uuid("token_session"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(string("created_by"))
                    .col(timestamp_with_time_zone_null("rotated_at"))
                    .col(timestamp_with_time_zone_null("last_used_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("service_accounts_by_practice")
                    .table("service_accounts")
                    .col("practice_id")
                    .col("id")
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("service_account_secrets")
                    .col(pk_uuid("id"))
                    .col(uuid("account_id"))
                    .col(blob("secret_hash").unique_key())
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone_null("expires_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("service_account_keys")
                    .col(pk_uuid("id"))
                    .col(uuid("account_id"))
                    .col(string("public_key"))
                    .col(timestamp_with_time_zone("created_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("service_account_events")
                    .col(pk_uuid("id"))
                    .col(uuid("account_id"))
                    .col(string("action"))
                    .col(string("actor_name"))
                    .col(text("detail"))
                    .col(timestamp_with_time_zone("occurred_at"))
                    .to_owned(),
            )
            .await?;
        for (name, table) in [
            (
                "service_account_secrets_by_account",
                "service_account_secrets",
            ),
            ("service_account_keys_by_account", "service_account_keys"),
            (
                "service_account_events_by_account",
                "service_account_events",
            ),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(table)
                        .col("account_id")
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table("service_assertions")
                    // `<account id>:<jti>`
                    .col(string("id").primary_key())
                    .col(timestamp_with_time_zone("expires_at"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in SERVICE_ACCOUNT_TABLES {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
