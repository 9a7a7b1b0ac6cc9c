use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(ps_events::migration::EventTables),
            Box::new(Initial),
        ]
    }
}

struct Initial;

impl MigrationName for Initial {
    fn name(&self) -> &str {
        "m20261101_000001_staff_directory"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Initial {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("practices")
                    .col(pk_uuid("id"))
                    .col(string("name"))
                    .col(timestamp_with_time_zone("created_at"))
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
                    .foreign_key(
                        ForeignKey::create()
                            .name("staff_members_practice")
                            .from("staff_members", "practice_id")
                            .to("practices", "id"),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("staff_members_practice_email")
                    .table("staff_members")
                    .col("practice_id")
                    .col("email")
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("staff_members_practice_user")
                    .table("staff_members")
                    .col("practice_id")
                    .col("user_id")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["staff_members", "practices"] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
