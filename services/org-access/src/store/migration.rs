use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(ps_events::migration::EventTables),
            Box::new(ps_roster::RosterTable),
            Box::new(Initial),
            Box::new(ps_sessions::EndedSessionsTable),
            Box::new(ps_db::idempotency::RequestResultsTable),
        ]
    }
}

struct Initial;

impl MigrationName for Initial {
    fn name(&self) -> &str {
        "m20261101_000001_org_access"
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

const TABLES: [&str; 12] = [
    "access_audit",
    "access_changes",
    "access_settings",
    "locations",
    "org_invitations",
    "membership_locations",
    "memberships",
    "role_permissions",
    "roles",
    "step_approvers",
    "workflow_steps",
    "workflows",
];

#[async_trait::async_trait]
impl MigrationTrait for Initial {
    #[expect(
        clippy::too_many_lines,
        reason = "the schema as created, one table after another"
    )]
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let tables = [
            Table::create()
                .table("organisations")
                .col(pk_uuid("id"))
                .col(uuid("practice_id"))
                .col(string("name"))
                .col(string("name_key"))
                .col(timestamp_with_time_zone_null("archived_at"))
                .col(timestamp_with_time_zone("created_at"))
                .to_owned(),
            Table::create()
                .table("workflows")
                .col(pk_uuid("id"))
                .col(uuid("practice_id"))
                .col(uuid("organisation_id"))
                .col(string("name"))
                .col(timestamp_with_time_zone("created_at"))
                .to_owned(),
            Table::create()
                .table("workflow_steps")
                .col(pk_uuid("id"))
                .col(uuid("practice_id"))
                .col(uuid("workflow_id"))
                .col(integer("position"))
                .col(string("name"))
                .to_owned(),
            Table::create()
                .table("step_approvers")
                .col(uuid("step_id"))
                .col(uuid("staff_id"))
                .col(uuid("practice_id"))
                .primary_key(Index::create().col("step_id").col("staff_id"))
                .to_owned(),
            Table::create()
                .table("roles")
                .col(pk_uuid("id"))
                .col(uuid("practice_id"))
                .col(string("name"))
                .col(string("name_key"))
                .col(boolean("built_in"))
                .col(timestamp_with_time_zone("created_at"))
                .to_owned(),
            Table::create()
                .table("role_permissions")
                .col(uuid("role_id"))
                .col(string("permission"))
                .col(uuid("practice_id"))
                .primary_key(Index::create().col("role_id").col("permission"))
                .to_owned(),
            Table::create()
                .table("memberships")
                .col(pk_uuid("id"))
                .col(uuid("practice_id"))
                .col(uuid("organisation_id"))
                .col(uuid("staff_id"))
                .col(uuid("role_id"))
                .col(string("status"))
                .col(uuid_null("invitation_id"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("status_changed_at"))
                .to_owned(),
            Table::create()
                .table("membership_locations")
                .col(uuid("membership_id"))
                .col(uuid("location_id"))
                .col(uuid("practice_id"))
                .primary_key(Index::create().col("membership_id").col("location_id"))
                .to_owned(),
            Table::create()
                .table("org_invitations")
                .col(pk_uuid("id"))
                .col(uuid("practice_id"))
                .col(uuid("staff_id"))
                .col(string("invited_by"))
                .col(timestamp_with_time_zone("created_at"))
                .to_owned(),
            Table::create()
                .table("access_changes")
                .col(uuid("practice_id"))
                .col(string("request_id"))
                .col(string("fingerprint"))
                .col(text("result"))
                .col(timestamp_with_time_zone("created_at"))
                .primary_key(Index::create().col("practice_id").col("request_id"))
                .to_owned(),
            Table::create()
                .table("access_audit")
                .col(pk_uuid("id"))
                .col(uuid("practice_id"))
                .col(string("actor_id"))
                .col(string("actor_name"))
                .col(string("action"))
                .col(uuid_null("organisation_id"))
                .col(uuid_null("staff_id"))
                .col(string_null("request_id"))
                .col(text("before"))
                .col(text("after"))
                .col(timestamp_with_time_zone("occurred_at"))
                .to_owned(),
            Table::create()
                .table("access_settings")
                .col(uuid("practice_id").primary_key())
                .col(boolean("require_acceptance"))
                .to_owned(),
            Table::create()
                .table("locations")
                .col(pk_uuid("id"))
                .col(uuid("practice_id"))
                .col(string("name"))
                .col(boolean("archived"))
                .col(timestamp_with_time_zone("changed_at"))
                .to_owned(),
        ];
        for table in tables {
            manager.create_table(table).await?;
        }
        let indexes = [
            index(
                "organisations_practice_name",
                "organisations",
                &["practice_id", "name_key"],
            )
            .unique()
            .to_owned(),
            index(
                "workflows_organisation",
                "workflows",
                &["practice_id", "organisation_id"],
            ),
            index(
                "workflow_steps_workflow",
                "workflow_steps",
                &["workflow_id", "position"],
            ),
            index(
                "step_approvers_staff",
                "step_approvers",
                &["practice_id", "staff_id"],
            ),
            index("roles_practice_name", "roles", &["practice_id", "name_key"])
                .unique()
                .to_owned(),
            index(
                "memberships_organisation",
                "memberships",
                &["organisation_id", "staff_id", "status"],
            ),
            index(
                "memberships_staff",
                "memberships",
                &["practice_id", "staff_id", "status"],
            ),
            index("memberships_role", "memberships", &["role_id", "status"]),
            index(
                "access_audit_organisation",
                "access_audit",
                &["practice_id", "organisation_id", "id"],
            ),
            index(
                "access_audit_staff",
                "access_audit",
                &["practice_id", "staff_id", "id"],
            ),
        ];
        for index in indexes {
            manager.create_index(index).await?;
        }
        // One current membership per organisation and member; history rows are free. A partial
        // index, which both PostgreSQL and SQLite support.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX memberships_current ON memberships (organisation_id, staff_id) \
                 WHERE status IN ('invited', 'active')",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in TABLES.into_iter().chain(["organisations"]) {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
