//! Several replicas of a service against one PostgreSQL database.

use sea_orm::ConnectionTrait;
use system_tests::Backend;

/// Four replicas starting at once: the migration lock lets one migrate while the others wait,
/// and every one of them starts (without it, they race to create the same tables and fail).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_starting_together_migrate_once() {
    let Some(Backend::External { postgres_url, .. }) = Backend::external() else {
        return;
    };
    let base = postgres_url.trim_end_matches('/');
    let admin = ps_db::connect(&ps_db::DbSettings::new(format!("{base}/postgres")))
        .await
        .expect("PostgreSQL reachable");
    let name = format!("ps_test_{}_replicas", uuid::Uuid::now_v7().simple());
    admin
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await
        .expect("create database");
    let settings = ps_db::DbSettings::new(format!("{base}/{name}"));
    let replicas: Vec<_> = (0..4)
        .map(|_| {
            let settings = settings.clone();
            tokio::spawn(async move {
                ps_db::connect_and_migrate::<ps_identity::store::migration::Migrator>(&settings)
                    .await
            })
        })
        .collect();
    let mut started = Vec::new();
    for replica in futures::future::join_all(replicas).await {
        started.push(replica.expect("task").map_err(|e| e.to_string()));
    }
    let db = ps_db::connect(&settings).await.expect("connect");
    let applied = db
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DatabaseBackend::Postgres,
            "SELECT count(*) AS n FROM seaql_migrations",
        ))
        .await
        .expect("query")
        .expect("a row")
        .try_get::<i64>("", "n")
        .expect("count");
    for db in started.iter().flatten() {
        let _ = db.clone().close().await;
    }
    let _ = db.close().await;
    let _ = admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .await;
    for (i, replica) in started.iter().enumerate() {
        assert!(
            replica.is_ok(),
            "replica {i} failed to start: {:?}",
            replica.as_ref().err()
        );
    }
    use sea_orm_migration::MigratorTrait;
    let expected = ps_identity::store::migration::Migrator::migrations().len();
    assert_eq!(applied, i64::try_from(expected).expect("small"));
}
