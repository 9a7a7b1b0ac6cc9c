//! Several replicas of every service against one PostgreSQL and one RabbitMQ.

use std::time::{Duration, Instant};

use sea_orm::ConnectionTrait;
use system_tests::processes::{InvitationLoad, ProcessOptions, ProcessSystem, SERVICES};
use system_tests::{Backend, ExternalInfrastructure};

/// Four replicas starting at once: the migration lock lets one migrate while the others wait,
/// and every one of them starts (without it, they race to create the same tables and fail).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(external_backends),
    ignore = "needs PostgreSQL and RabbitMQ: set PS_TEST_POSTGRES_URL and PS_TEST_AMQP_URL, as bash .ci/run does"
)]
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

const INVITATIONS: usize = 1_000;
/// Invitations in flight at once, and the pace at which they are sent (so that the rolling
/// restart happens while invitations are still arriving).
const IN_FLIGHT: usize = 16;
const PACE: Duration = Duration::from_millis(10);
const PATIENCE: Duration = Duration::from_secs(180);

/// Two processes of every service against the CI's PostgreSQL and RabbitMQ; 1,000 invitations
/// sent through a client that balances over both staff-directory replicas; one replica of each
/// service restarted (SIGTERM, start again) while they arrive. Every invitation is answered
/// (a retriable UNAVAILABLE is retried, nothing else fails), every invitee gets exactly one
/// e-mail, and nothing is left behind in an outbox or a queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(external_backends),
    ignore = "needs PostgreSQL and RabbitMQ: set PS_TEST_POSTGRES_URL and PS_TEST_AMQP_URL, as bash .ci/run does"
)]
async fn two_replicas_of_every_service_survive_a_rolling_restart() {
    let Some(infrastructure) = ExternalInfrastructure::from_env().await else {
        return;
    };
    let _alone = system_tests::processes::one_at_a_time().await;
    let mut system = ProcessSystem::start(
        infrastructure,
        ProcessOptions {
            binary: env!("CARGO_BIN_EXE_replica").into(),
            replicas: 2,
            proxied: false,
            env: Vec::new(),
        },
    )
    .await;
    let owner = system.practice_with_owner("Replicas", PATIENCE).await;
    let invitees: Vec<String> = (0..INVITATIONS)
        .map(|i| format!("person{i:04}@replicas.example.test"))
        .collect();
    let started = Instant::now();
    let load = InvitationLoad::start(system.staff_as(&owner), invitees.clone(), PACE, IN_FLIGHT);

    // Once a third are answered, restart replica 0 of each service in turn.
    load.until_answered(INVITATIONS / 3, PATIENCE).await;
    let mut restarts = Vec::new();
    for service in SERVICES {
        let at = load.answered();
        let began = Instant::now();
        let replica = system.process(service, 0);
        replica.stop().await;
        replica.start();
        replica.wait_serving().await;
        restarts.push(format!(
            "{service} (at {at} answered, {} ms)",
            began.elapsed().as_millis()
        ));
    }
    let answered_after_restarts = load.answered();
    let load = load.finish().await;
    let sending = started.elapsed();
    let settled = system.settle(&invitees, PATIENCE).await;
    println!(
        "two replicas per service, {INVITATIONS} invitations ({IN_FLIGHT} in flight, one every \
         {} ms), restarted: {}",
        PACE.as_millis(),
        restarts.join(", ")
    );
    println!(
        "  answered {} / {INVITATIONS} ({answered_after_restarts} when the last restart was \
         SERVING); UNAVAILABLE retried: {}; failed RPCs: {}",
        load.answered,
        load.unavailable,
        load.failures.values().map(Vec::len).sum::<usize>()
    );
    println!(
        "  e-mails: {} (owner + invitees), duplicates: {}, invitees without e-mail: {}, staff \
         rows: {}, deliveries: {}",
        settled.emails,
        settled.duplicates,
        settled.lost.len(),
        settled.staff_rows,
        settled.deliveries
    );
    println!(
        "  time: invitations sent in {:.1} s, every e-mail written {:.1} s after that",
        sending.as_secs_f64(),
        settled.all_mailed_after.as_secs_f64()
    );
    system.stop().await;
    assert!(
        load.failures.is_empty(),
        "RPCs failed: {:#?}",
        load.failures
    );
    assert_eq!(load.answered, INVITATIONS);
    assert!(
        settled.lost.is_empty(),
        "invitees without an e-mail: {:?}",
        settled.lost
    );
    assert_eq!(settled.duplicates, 0, "duplicate e-mails");
    assert!(
        settled.staff_without_email.is_empty(),
        "{:?}",
        settled.staff_without_email
    );
    assert_eq!(settled.emails, INVITATIONS + 1);
    assert_eq!(
        settled.staff_rows,
        i64::try_from(INVITATIONS + 1).expect("small")
    );
    assert_eq!(
        settled.deliveries,
        i64::try_from(INVITATIONS + 1).expect("small")
    );
}
