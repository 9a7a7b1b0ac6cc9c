//! Several replicas of every service against one PostgreSQL and one RabbitMQ.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ps_proto::common::v1::PracticeRole;
use ps_proto::identity::v1 as identity;
use ps_proto::identity::v1::identity_service_client::IdentityServiceClient;
use ps_proto::staff::v1 as staff;
use ps_proto::staff::v1::staff_directory_service_client::StaffDirectoryServiceClient;
use sea_orm::ConnectionTrait;
use system_tests::{
    Backend, Code, ExternalInfrastructure, INTERNAL_TOKEN, OPERATOR_TOKEN, bearer, count,
    eventually_within, mail_recipients, mails_in,
};
use tonic::transport::Endpoint;

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

const SERVICES: [&str; 4] = ["identity", "staff-directory", "org-access", "notification"];
const INVITATIONS: usize = 1_000;
/// Invitations in flight at once, and the pace at which they are sent (so that the rolling
/// restart happens while invitations are still arriving).
const IN_FLIGHT: usize = 16;
const PACE: Duration = Duration::from_millis(10);
const PATIENCE: Duration = Duration::from_secs(180);

/// One process of one service (the `replica` binary), its ports and its log file.
struct Replica {
    service: &'static str,
    index: usize,
    port: u16,
    env: Vec<(String, String)>,
    log: PathBuf,
    child: Option<Child>,
}

impl Replica {
    fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("replica log file");
        let child = Command::new(env!("CARGO_BIN_EXE_replica"))
            .arg(self.service)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("spawning a replica");
        self.child = Some(child);
    }

    /// SIGTERM, as Kubernetes sends on a rolling restart, then waits for a clean exit.
    async fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let sent = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("running kill");
        assert!(sent.success(), "kill -TERM {}", child.id());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().expect("waiting for a replica") {
                assert!(
                    status.success(),
                    "{} replica {} exited with {status} after SIGTERM; log:\n{}",
                    self.service,
                    self.index,
                    tail(&self.log)
                );
                return;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!(
                    "{} replica {} did not stop within 30 s of SIGTERM; log:\n{}",
                    self.service,
                    self.index,
                    tail(&self.log)
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until grpc.health.v1 answers SERVING for the whole server.
    async fn wait_serving(&mut self) {
        use tonic_health::pb::health_client::HealthClient;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!(
                    "{} replica {} exited with {status} while starting; log:\n{}",
                    self.service,
                    self.index,
                    tail(&self.log)
                );
            }
            if let Ok(channel) = endpoint(self.port).connect().await {
                let answer = HealthClient::new(channel)
                    .check(tonic_health::pb::HealthCheckRequest::default())
                    .await;
                if answer.is_ok_and(|a| a.into_inner().status == 1) {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "{} replica {} not SERVING within 60 s; log:\n{}",
                self.service,
                self.index,
                tail(&self.log)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn endpoint(port: u16) -> Endpoint {
    Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
        .expect("valid address")
        .connect_timeout(Duration::from_secs(2))
}

fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

/// Free loopback ports (bound, noted, released).
fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<_> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("bind port 0"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("bound").port())
        .collect()
}

/// Messages waiting in every consumer queue of the test's exchange.
async fn queued_messages(rabbit: &ps_events::rabbit::RabbitSettings) -> u32 {
    let connection =
        lapin::Connection::connect(&rabbit.url, lapin::ConnectionProperties::default())
            .await
            .expect("RabbitMQ reachable");
    let channel = connection.create_channel().await.expect("channel");
    let names = rabbit.names();
    let mut waiting = 0;
    for consumer in ps_events::ConsumerName::ALL {
        let queue = channel
            .queue_declare(
                names.queue(consumer).as_str().into(),
                lapin::options::QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                Default::default(),
            )
            .await
            .expect("the service declared its queue");
        waiting += queue.message_count();
    }
    let _ = connection.close(200, "bye".into()).await;
    waiting
}

/// What is left in the outboxes, the queues and the deliveries, and the end of every replica's
/// log: for a failure message.
async fn state(infrastructure: &ExternalInfrastructure, replicas: &[Replica]) -> String {
    let databases = &infrastructure.databases;
    let mut report = String::new();
    for (name, settings) in [
        ("identity", &databases.identity),
        ("staff-directory", &databases.staff_directory),
        ("org-access", &databases.org_access),
        ("notification", &databases.notification),
    ] {
        let db = ps_db::connect(settings).await.expect("database reachable");
        let unpublished = count(
            &db,
            "SELECT count(*) AS n FROM outbox_events WHERE published_at IS NULL",
        )
        .await;
        report.push_str(&format!("{name}: {unpublished} unpublished events\n"));
        if name == "notification" {
            let unsent = count(
                &db,
                "SELECT count(*) AS n FROM deliveries WHERE sent_at IS NULL",
            )
            .await;
            let all = count(&db, "SELECT count(*) AS n FROM deliveries").await;
            report.push_str(&format!(
                "notification: {all} deliveries, {unsent} unsent\n"
            ));
        }
        let _ = db.close().await;
    }
    report.push_str(&format!(
        "queued messages: {}\n",
        queued_messages(&infrastructure.rabbit).await
    ));
    for replica in replicas {
        report.push_str(&format!(
            "--- {} replica {} ---\n{}\n",
            replica.service,
            replica.index,
            tail(&replica.log)
        ));
    }
    report
}

/// Two processes of every service against the CI's PostgreSQL and RabbitMQ; 1,000 invitations
/// sent through a client that balances over both staff-directory replicas; one replica of each
/// service restarted (SIGTERM, start again) while they arrive. Every invitation is answered
/// (a retriable UNAVAILABLE is retried, nothing else fails), every invitee gets exactly one
/// e-mail, and nothing is left behind in an outbox or a queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_of_every_service_survive_a_rolling_restart() {
    let Some(infrastructure) = ExternalInfrastructure::from_env().await else {
        return;
    };
    let dir = tempfile::tempdir().expect("temporary directory");
    let mail_dir = dir.path().join("mail");
    let ports = free_ports(16);
    let grpc_port = |service: usize, index: usize| ports[service * 2 + index];
    let admin_port = |service: usize, index: usize| ports[8 + service * 2 + index];
    let databases = &infrastructure.databases;
    let mut replicas = Vec::new();
    for (s, service) in SERVICES.iter().enumerate() {
        let database = match *service {
            "identity" => &databases.identity,
            "staff-directory" => &databases.staff_directory,
            "org-access" => &databases.org_access,
            _ => &databases.notification,
        };
        for index in 0..2 {
            let mut env = vec![
                ("PS_LISTEN", format!("127.0.0.1:{}", grpc_port(s, index))),
                (
                    "PS_ADMIN_LISTEN",
                    format!("127.0.0.1:{}", admin_port(s, index)),
                ),
                ("PS_DATABASE__URL", database.url.clone()),
                ("PS_DATABASE__MAX_CONNECTIONS", "5".into()),
                ("PS_RABBITMQ__URL", infrastructure.rabbit.url.clone()),
                (
                    "PS_RABBITMQ__EXCHANGE",
                    infrastructure.rabbit.exchange.clone(),
                ),
                ("PS_INTERNAL_TOKEN", INTERNAL_TOKEN.into()),
                // Replica i of every service talks to identity replica i.
                (
                    "PS_IDENTITY_URL",
                    format!("http://127.0.0.1:{}", grpc_port(0, index)),
                ),
                ("RUST_LOG", "info".into()),
                ("PS_LOG_FORMAT", "json".into()),
            ];
            match *service {
                "identity" => env.push((
                    "PS_INVITATION_URL",
                    "https://app.example.test/invitation?token={token}".into(),
                )),
                "staff-directory" => env.push(("PS_OPERATOR_TOKEN", OPERATOR_TOKEN.into())),
                "notification" => {
                    env.push(("PS_MAIL__FOLDER", mail_dir.display().to_string()));
                }
                _ => {}
            }
            replicas.push(Replica {
                service,
                index,
                port: grpc_port(s, index),
                env: env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
                log: dir.path().join(format!("{service}-{index}.log")),
                child: None,
            });
        }
    }
    // All eight at once: the replicas of a service migrate its database concurrently.
    for replica in &mut replicas {
        replica.start();
    }
    for replica in &mut replicas {
        replica.wait_serving().await;
    }

    // The practice's owner, through replica 0 of identity and staff-directory.
    // Through the product's client channel, balanced over both replicas as a Kubernetes
    // Service would: a request queued on a draining connection answers UNAVAILABLE.
    let staff_channel = ps_grpc::client::balanced([grpc_port(1, 0), grpc_port(1, 1)].map(endpoint));
    let owner_email = "owner@replicas.example.test";
    StaffDirectoryServiceClient::with_interceptor(
        staff_channel.clone(),
        ps_auth::credentials::Credential::operator(OPERATOR_TOKEN).expect("ascii token"),
    )
    .create_practice(staff::CreatePracticeRequest {
        name: "Replicas".into(),
        owner_email: owner_email.into(),
        owner_name: "Owner of Replicas".into(),
    })
    .await
    .expect("CreatePractice");
    let invitation = eventually_within(PATIENCE, "the owner's invitation", || async {
        mails_in(&mail_dir, owner_email).pop()
    })
    .await;
    let mut identity =
        IdentityServiceClient::new(endpoint(grpc_port(0, 0)).connect().await.expect("identity"));
    let password = "owner-password-1";
    identity
        .accept_invitation(identity::AcceptInvitationRequest {
            token: invitation.token.clone(),
            password: password.into(),
        })
        .await
        .expect("AcceptInvitation");
    let signed_in = identity
        .sign_in(identity::SignInRequest {
            email: owner_email.into(),
            password: password.into(),
            practice_id: String::new(),
        })
        .await
        .expect("SignIn")
        .into_inner();
    let staff_as_owner = StaffDirectoryServiceClient::with_interceptor(
        staff_channel,
        bearer(&signed_in.access_token),
    );
    eventually_within(PATIENCE, "the owner to be Active", || {
        let mut client = staff_as_owner.clone();
        async move {
            let listed = client
                .list_staff(staff::ListStaffRequest::default())
                .await
                .ok()?
                .into_inner();
            listed
                .staff
                .iter()
                .any(|m| m.email == owner_email && m.status == staff::StaffStatus::Active as i32)
                .then_some(())
        }
    })
    .await;

    // 1,000 invitations, paced, IN_FLIGHT at a time; UNAVAILABLE is retried, anything else is
    // a failure.
    let answered = Arc::new(AtomicUsize::new(0));
    let unavailable = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(std::sync::Mutex::new(BTreeMap::<String, Vec<String>>::new()));
    let started = Instant::now();
    let sender = {
        let (answered, unavailable, failures) =
            (answered.clone(), unavailable.clone(), failures.clone());
        let client = staff_as_owner.clone();
        tokio::spawn(async move {
            let slots = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
            let mut pace = tokio::time::interval(PACE);
            let mut sent = Vec::new();
            for i in 0..INVITATIONS {
                pace.tick().await;
                let slot = slots.clone().acquire_owned().await.expect("semaphore");
                let mut client = client.clone();
                let (answered, unavailable, failures) =
                    (answered.clone(), unavailable.clone(), failures.clone());
                sent.push(tokio::spawn(async move {
                    let request = staff::InviteStaffRequest {
                        email: format!("person{i:04}@replicas.example.test"),
                        name: format!("Person {i}"),
                        practice_role: PracticeRole::Member as i32,
                        ..Default::default()
                    };
                    loop {
                        match client.invite_staff(request.clone()).await {
                            Ok(_) => {
                                answered.fetch_add(1, Ordering::SeqCst);
                                break;
                            }
                            Err(status) if status.code() == Code::Unavailable => {
                                unavailable.fetch_add(1, Ordering::SeqCst);
                                tokio::time::sleep(Duration::from_millis(50)).await;
                            }
                            Err(status) => {
                                failures
                                    .lock()
                                    .expect("failures")
                                    .entry(format!("{:?}", status.code()))
                                    .or_default()
                                    .push(format!(
                                        "{}: {} (source: {:?})",
                                        request.email,
                                        status.message(),
                                        std::error::Error::source(&status)
                                    ));
                                break;
                            }
                        }
                    }
                    drop(slot);
                }));
            }
            for task in sent {
                task.await.expect("invitation task");
            }
        })
    };

    // Once a third are answered, restart replica 0 of each service in turn.
    eventually_within(PATIENCE, "a third of the invitations", || async {
        (answered.load(Ordering::SeqCst) >= INVITATIONS / 3).then_some(())
    })
    .await;
    let mut restarts = Vec::new();
    for s in 0..SERVICES.len() {
        let replica = &mut replicas[s * 2];
        let at = answered.load(Ordering::SeqCst);
        let began = Instant::now();
        replica.stop().await;
        replica.start();
        replica.wait_serving().await;
        restarts.push(format!(
            "{} (at {at} answered, {} ms)",
            replica.service,
            began.elapsed().as_millis()
        ));
    }
    let answered_after_restarts = answered.load(Ordering::SeqCst);
    sender.await.expect("sender");
    let sending = started.elapsed();

    let invitees: Vec<String> = (0..INVITATIONS)
        .map(|i| format!("person{i:04}@replicas.example.test"))
        .collect();
    let deadline = Instant::now() + PATIENCE;
    loop {
        let recipients = mail_recipients(&mail_dir);
        let missing = invitees
            .iter()
            .filter(|e| !recipients.contains_key(*e))
            .count();
        if missing == 0 {
            break;
        }
        if Instant::now() > deadline {
            let failed = failures.lock().expect("failures").clone();
            panic!(
                "{missing} invitees without an e-mail after {} s; answered {}; failures {failed:?}\n{}",
                PATIENCE.as_secs(),
                answered.load(Ordering::SeqCst),
                state(&infrastructure, &replicas).await
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let all_mailed = started.elapsed();

    // Let everything settle: no unpublished event in any outbox, no message waiting in any
    // queue, no e-mail still due. Only then count, so a late duplicate would be seen.
    let connections = [
        &databases.identity,
        &databases.staff_directory,
        &databases.org_access,
        &databases.notification,
    ];
    let mut dbs = Vec::new();
    for settings in connections {
        dbs.push(ps_db::connect(settings).await.expect("database reachable"));
    }
    eventually_within(
        PATIENCE,
        "outboxes, queues and deliveries to drain",
        || async {
            for db in &dbs {
                if count(
                    db,
                    "SELECT count(*) AS n FROM outbox_events WHERE published_at IS NULL",
                )
                .await
                    > 0
                {
                    return None;
                }
            }
            if count(
                &dbs[3],
                "SELECT count(*) AS n FROM deliveries WHERE sent_at IS NULL",
            )
            .await
                > 0
            {
                return None;
            }
            (queued_messages(&infrastructure.rabbit).await == 0).then_some(())
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    let recipients = mail_recipients(&mail_dir);
    let emails: usize = recipients.values().sum();
    let duplicates: usize = recipients.values().map(|n| n - 1).sum();
    let lost: Vec<&String> = invitees
        .iter()
        .filter(|e| !recipients.contains_key(*e))
        .collect();
    let failures = failures.lock().expect("failures").clone();
    let invited_staff = count(
        &dbs[1],
        "SELECT count(*) AS n FROM staff_members WHERE email LIKE 'person%@replicas.example.test'",
    )
    .await;
    let deliveries = count(&dbs[3], "SELECT count(*) AS n FROM deliveries").await;
    println!(
        "two replicas per service, {INVITATIONS} invitations ({IN_FLIGHT} in flight, one every \
         {} ms), restarted: {}",
        PACE.as_millis(),
        restarts.join(", ")
    );
    println!(
        "  answered {} / {INVITATIONS} ({answered_after_restarts} when the last restart was \
         SERVING); UNAVAILABLE retried: {}; failed RPCs: {}",
        answered.load(Ordering::SeqCst),
        unavailable.load(Ordering::SeqCst),
        failures.values().map(Vec::len).sum::<usize>()
    );
    println!(
        "  e-mails: {emails} (owner + invitees), duplicates: {duplicates}, invitees without \
         e-mail: {}, staff rows: {invited_staff}, deliveries: {deliveries}",
        lost.len()
    );
    println!(
        "  time: invitations sent in {:.1} s, every e-mail written after {:.1} s",
        sending.as_secs_f64(),
        all_mailed.as_secs_f64()
    );

    for replica in &mut replicas {
        replica.stop().await;
    }
    for db in dbs {
        let _ = db.close().await;
    }
    assert!(failures.is_empty(), "RPCs failed: {failures:#?}");
    assert_eq!(answered.load(Ordering::SeqCst), INVITATIONS);
    assert!(lost.is_empty(), "invitees without an e-mail: {lost:?}");
    assert_eq!(duplicates, 0, "duplicate e-mails: {:?}", {
        let mut d: Vec<_> = recipients.iter().filter(|(_, n)| **n > 1).collect();
        d.sort();
        d
    });
    assert_eq!(emails, INVITATIONS + 1);
    assert_eq!(invited_staff, i64::try_from(INVITATIONS).expect("small"));
    assert_eq!(deliveries, i64::try_from(INVITATIONS + 1).expect("small"));
}
