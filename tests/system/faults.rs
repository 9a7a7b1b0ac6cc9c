//! The fault-injection suite: the four services as processes of their own on PostgreSQL and
//! RabbitMQ, each reaching both through proxies of the test's own, 1,000 invitations sent at a
//! steady rate and a fault injected in the middle — the broker cut (10 s, 60 s, while handlers
//! hold deliveries whose acks are not sent, twenty short cuts), the database cut, every service
//! killed in turn, copies of events and poison messages. The machine's own servers are never
//! stopped: other tests, and CI, use them at the same moment.
//!
//! Every scenario asserts the same outcome — every InviteStaff answered (UNAVAILABLE retried
//! with the same request id; any other code fails), every invitee exactly one e-mail, no staff
//! member without one, nothing left in an outbox, a queue or the mailer — and prints its
//! figures (`--nocapture`): invitations, e-mails, duplicates, lost, recovery time.

use std::time::{Duration, Instant};

use sea_orm::ConnectionTrait;

use ps_proto::identity::v1 as identity;
use system_tests::processes::{
    InvitationLoad, ProcessOptions, ProcessSystem, SERVICES, Settled, queued_messages,
};
use system_tests::proxy::Proxy;
use system_tests::{ExternalInfrastructure, count, eventually_within, mail_recipients, mails_in};

const INVITATIONS: usize = 1_000;
const IN_FLIGHT: usize = 16;
const PACE: Duration = Duration::from_millis(10);
const PATIENCE: Duration = Duration::from_secs(240);
/// How long a dependency's health may take to show an outage (it is checked every second, a
/// live subscription watches its connection every second).
const OUTAGE_PATIENCE: Duration = Duration::from_secs(6);
/// How long it may take to show a recovery: a lost subscription first lets the deliveries in
/// hand finish (at most 5 s), closes (1 s), waits out its reconnect backoff (at most 2 s) and
/// subscribes again; then the next health check sees it.
const RECOVERY_PATIENCE: Duration = Duration::from_secs(15);

/// One scenario: the processes, the practice, the invitations under way.
struct Run {
    name: &'static str,
    system: ProcessSystem,
    owner: String,
    invitees: Vec<String>,
    /// Invitations the load sends (the scenario may invite more people itself).
    sent: usize,
    load: Option<InvitationLoad>,
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

impl Run {
    /// Starts the processes (each behind its own proxies), the practice and `invitations`
    /// invitations; `None` when PostgreSQL and RabbitMQ are not configured.
    async fn start(name: &'static str, invitations: usize) -> Option<Self> {
        let infrastructure = ExternalInfrastructure::from_env().await?;
        let turn = system_tests::processes::one_at_a_time().await;
        let system = ProcessSystem::start(
            infrastructure,
            ProcessOptions {
                binary: env!("CARGO_BIN_EXE_replica").into(),
                replicas: 1,
                proxied: true,
                env: Vec::new(),
            },
        )
        .await;
        let owner = system.practice_with_owner("Faults", PATIENCE).await;
        let invitees: Vec<String> = (0..invitations)
            .map(|i| format!("person{i:04}@faults.example.test"))
            .collect();
        let load =
            InvitationLoad::start(system.staff_as(&owner), invitees.clone(), PACE, IN_FLIGHT);
        Some(Self {
            name,
            system,
            owner,
            sent: invitees.len(),
            invitees,
            load: Some(load),
            _turn: turn,
        })
    }

    fn load(&self) -> &InvitationLoad {
        self.load.as_ref().expect("the load runs until finish")
    }

    /// Waits until a third of the invitations are answered: the fault comes in the middle.
    async fn until_a_third(&self) {
        self.load()
            .until_answered(self.invitees.len() / 3, PATIENCE)
            .await;
    }

    fn every_broker_proxy(&self) -> Vec<&Proxy> {
        SERVICES
            .iter()
            .map(|s| self.system.broker_proxy(s, 0))
            .collect()
    }

    fn every_database_proxy(&self) -> Vec<&Proxy> {
        SERVICES
            .iter()
            .map(|s| self.system.database_proxy(s, 0))
            .collect()
    }

    /// Waits until every service's grpc.health.v1 answer for `dependency` is `serving`, while
    /// the whole server stays SERVING.
    async fn every_health(&self, dependency: &str, serving: bool) -> Duration {
        let began = Instant::now();
        let patience = if serving {
            RECOVERY_PATIENCE
        } else {
            OUTAGE_PATIENCE
        };
        for process in &self.system.processes {
            while process.health(dependency).await != Some(serving) {
                assert!(
                    began.elapsed() < patience,
                    "{} did not report {dependency} serving={serving} within {patience:?}; what \
                     its log says of its event connections:\n{}",
                    process.service,
                    connection_lines(&process.log)
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            assert_eq!(
                process.health("").await,
                Some(true),
                "{} keeps serving RPCs",
                process.service
            );
        }
        began.elapsed()
    }

    /// Waits until every invitee answered by now has an e-mail; how long that took.
    async fn until_caught_up(&self) -> Duration {
        let began = Instant::now();
        let answered = self.load().answered_invitees();
        eventually_within(
            PATIENCE,
            "the e-mails of every answered invitation",
            || async {
                let recipients = mail_recipients(&self.system.mail_dir);
                answered
                    .iter()
                    .all(|e| recipients.contains_key(e))
                    .then_some(())
            },
        )
        .await;
        began.elapsed()
    }

    /// Lets the invitations finish, settles, checks the outcome every scenario shares and
    /// prints the figures.
    async fn finish(mut self, figures: &str) -> Settled {
        let load = self.load.take().expect("finished once").finish().await;
        assert!(
            load.failures.is_empty(),
            "{}: RPCs answered something other than OK or UNAVAILABLE: {:#?}",
            self.name,
            load.failures
        );
        let settled = self.system.settle(&self.invitees, PATIENCE).await;
        println!(
            "fault «{}»: {} invitations, {} answered ({} UNAVAILABLE retried), {} e-mails \
             (owner included), {} duplicates, {} lost, {} staff without an e-mail, {} \
             deliveries needing more than one attempt; {figures}",
            self.name,
            self.sent,
            load.answered,
            load.unavailable,
            settled.emails,
            settled.duplicates,
            settled.lost.len(),
            settled.staff_without_email.len(),
            settled.resent,
        );
        self.system.stop().await;
        assert_eq!(load.answered, self.sent, "{}", self.name);
        assert!(
            settled.lost.is_empty(),
            "{}: invitees without an e-mail: {:?}",
            self.name,
            settled.lost
        );
        assert_eq!(settled.duplicates, 0, "{}: duplicate e-mails", self.name);
        assert!(
            settled.staff_without_email.is_empty(),
            "{}: staff without an e-mail: {:?}",
            self.name,
            settled.staff_without_email
        );
        assert_eq!(settled.emails, self.invitees.len() + 1, "{}", self.name);
        assert_eq!(
            settled.staff_rows,
            i64::try_from(self.invitees.len() + 1).expect("small")
        );
        settled
    }
}

/// The broker cut for `hold`: every service notices (health `events` NOT_SERVING), keeps
/// answering InviteStaff, and resumes on its own once the broker is back.
async fn broker_cut(name: &'static str, hold: Duration) {
    let Some(run) = Run::start(name, INVITATIONS).await else {
        return;
    };
    run.until_a_third().await;
    for proxy in run.every_broker_proxy() {
        proxy.cut();
    }
    let noticed = run.every_health("events", false).await;
    tokio::time::sleep(hold.saturating_sub(noticed)).await;
    for proxy in run.every_broker_proxy() {
        proxy.restore();
    }
    let recovered = run.until_caught_up().await;
    let healthy = run.every_health("events", true).await;
    run.finish(&format!(
        "cut {} s, noticed after {:.1} s, recovery (every e-mail of the invitations answered \
         by then written) {:.1} s after the broker came back, health SERVING after {:.1} s",
        hold.as_secs(),
        noticed.as_secs_f64(),
        recovered.as_secs_f64(),
        healthy.as_secs_f64()
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(external_backends),
    ignore = "needs PostgreSQL and RabbitMQ: set PS_TEST_POSTGRES_URL and PS_TEST_AMQP_URL, as bash .ci/run does"
)]
async fn a_broker_cut_of_10_s_heals_by_itself() {
    broker_cut("broker cut 10 s", Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(external_backends),
    ignore = "needs PostgreSQL and RabbitMQ: set PS_TEST_POSTGRES_URL and PS_TEST_AMQP_URL, as bash .ci/run does"
)]
async fn a_broker_cut_of_60_s_heals_by_itself() {
    broker_cut("broker cut 60 s", Duration::from_secs(60)).await;
}

/// The window that once wedged a consumer for good: deliveries in hand whose handlers have not
/// finished (notification's database stalls them mid-transaction) when the broker connection
/// goes; they finish afterwards, their acknowledgements cannot be sent, and the consumer must
/// still come back and take the redelivered messages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(external_backends),
    ignore = "needs PostgreSQL and RabbitMQ: set PS_TEST_POSTGRES_URL and PS_TEST_AMQP_URL, as bash .ci/run does"
)]
async fn a_broker_cut_while_handlers_hold_deliveries_heals_by_itself() {
    let Some(run) = Run::start("broker cut with deliveries in hand", INVITATIONS).await else {
        return;
    };
    run.until_a_third().await;
    let database = run.system.database_proxy("notification", 0);
    let broker = run.system.broker_proxy("notification", 0);
    database.pause();
    // Deliveries keep arriving and their handlers stall at the database: the consumer holds
    // as many as its concurrency allows, unacknowledged.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    broker.cut();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // The handlers finish now; their acknowledgements have no channel to go to.
    database.resume();
    tokio::time::sleep(Duration::from_secs(7)).await;
    broker.restore();
    let recovered = run.until_caught_up().await;
    let healthy = run.every_health("events", true).await;
    run.finish(&format!(
        "notification's database stalled 3 s with deliveries in hand, its broker connection \
         cut 8.5 s; recovery {:.1} s after the broker came back, health SERVING after {:.1} s",
        recovered.as_secs_f64(),
        healthy.as_secs_f64()
    ))
    .await;
}

/// Twenty short cuts in a row, so a rare wedge has many chances to show.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(external_backends),
    ignore = "needs PostgreSQL and RabbitMQ: set PS_TEST_POSTGRES_URL and PS_TEST_AMQP_URL, as bash .ci/run does"
)]
async fn twenty_short_broker_cuts_in_a_row_heal_by_themselves() {
    let Some(run) = Run::start("twenty short broker cuts", 300).await else {
        return;
    };
    run.load().until_answered(30, PATIENCE).await;
    for i in 0..20u64 {
        for proxy in run.every_broker_proxy() {
            proxy.cut();
        }
        tokio::time::sleep(Duration::from_millis(300 + (i % 4) * 200)).await;
        for proxy in run.every_broker_proxy() {
            proxy.restore();
        }
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    let recovered = run.until_caught_up().await;
    let healthy = run.every_health("events", true).await;
    run.finish(&format!(
        "20 cuts of 0.3–0.9 s a second apart; recovery {:.1} s after the last, health SERVING \
         after {:.1} s",
        recovered.as_secs_f64(),
        healthy.as_secs_f64()
    ))
    .await;
}

/// PostgreSQL cut for 10 s: every RPC answers OK or UNAVAILABLE (retried with its request id,
/// so a request that committed before its answer was lost is not refused as a duplicate), the
/// services say so in health, and everything resumes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(external_backends),
    ignore = "needs PostgreSQL and RabbitMQ: set PS_TEST_POSTGRES_URL and PS_TEST_AMQP_URL, as bash .ci/run does"
)]
async fn a_database_cut_of_10_s_answers_unavailable_and_heals() {
    let Some(run) = Run::start("database cut 10 s", INVITATIONS).await else {
        return;
    };
    run.until_a_third().await;
    for proxy in run.every_database_proxy() {
        proxy.cut();
    }
    let noticed = run.every_health("database", false).await;
    tokio::time::sleep(Duration::from_secs(10).saturating_sub(noticed)).await;
    for proxy in run.every_database_proxy() {
        proxy.restore();
    }
    let healthy = run.every_health("database", true).await;
    let recovered = run.until_caught_up().await;
    run.finish(&format!(
        "cut 10 s, noticed after {:.1} s, health SERVING {:.1} s after, recovery {:.1} s after \
         the database came back",
        noticed.as_secs_f64(),
        healthy.as_secs_f64(),
        recovered.as_secs_f64()
    ))
    .await;
}

/// The last lines of a process log about its broker connections.
fn connection_lines(log: &std::path::Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| {
            [
                "consum",
                "publish",
                "reconnect",
                "subscri",
                "dependency",
                "drain",
                "in hand",
            ]
            .iter()
            .any(|word| l.contains(word))
        })
        .collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// Ids of what `service` still has to hand on: unpublished events, and for notification
/// unsent e-mails.
async fn pending(db: &sea_orm::DatabaseConnection, service: &str) -> Vec<String> {
    let mut ids = system_tests::strings(
        db,
        "SELECT CAST(id AS TEXT) AS s FROM outbox_events WHERE published_at IS NULL",
    )
    .await;
    if service == "notification" {
        ids.extend(
            system_tests::strings(
                db,
                "SELECT CAST(id AS TEXT) AS s FROM deliveries WHERE sent_at IS NULL \
                 AND status = 'queued'",
            )
            .await,
        );
    }
    ids
}

/// Each service SIGKILLed in turn under load and started again 2 s later: what the killed
/// process had claimed is taken over within seconds of the new one SERVING, not after its
/// leases (once 60 s for events, 120 s for e-mails).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(external_backends),
    ignore = "needs PostgreSQL and RabbitMQ: set PS_TEST_POSTGRES_URL and PS_TEST_AMQP_URL, as bash .ci/run does"
)]
async fn each_service_killed_and_restarted_resumes_within_seconds() {
    let Some(mut run) = Run::start("each service killed", INVITATIONS).await else {
        return;
    };
    let dbs = run.system.databases().await;
    let mut figures = Vec::new();
    // Notification first, while e-mails are still flowing in quantity.
    let order = ["notification", "staff-directory", "identity", "org-access"];
    for (k, service) in order.iter().enumerate() {
        let s = SERVICES
            .iter()
            .position(|name| name == service)
            .expect("a service");
        run.load()
            .until_answered((k + 1) * run.invitees.len() / 6, PATIENCE)
            .await;
        // Stall what the process hands on (staff-directory's publishes, notification's
        // recording of sent e-mails) for a moment first, so it dies holding claims.
        fn stalled<'a>(system: &'a ProcessSystem, service: &str) -> Option<&'a Proxy> {
            match service {
                "staff-directory" => Some(system.broker_proxy(service, 0)),
                "notification" => Some(system.database_proxy(service, 0)),
                _ => None,
            }
        }
        if let Some(proxy) = stalled(&run.system, service) {
            proxy.pause();
            tokio::time::sleep(Duration::from_millis(700)).await;
        }
        run.system.process(service, 0).kill();
        if let Some(proxy) = stalled(&run.system, service) {
            proxy.resume();
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        let process = run.system.process(service, 0);
        process.start();
        process.wait_serving().await;
        let serving = Instant::now();
        let left = pending(&dbs[s], service).await;
        eventually_within(
            Duration::from_secs(60),
            &format!("{service}'s work of before the kill"),
            || async {
                let now = pending(&dbs[s], service).await;
                left.iter().all(|id| !now.contains(id)).then_some(())
            },
        )
        .await;
        let resumed = serving.elapsed();
        figures.push(format!(
            "{service}: {} items pending at SERVING, handed on {:.1} s after",
            left.len(),
            resumed.as_secs_f64()
        ));
        assert!(
            resumed <= Duration::from_secs(10),
            "{service}: what it had in hand took {:.1} s after SERVING",
            resumed.as_secs_f64()
        );
    }
    for db in dbs {
        let _ = db.close().await;
    }
    // A kill between sending an e-mail and recording it sends it again (to the same file here,
    // with the same Message-ID and a fresh link over SMTP): not a second e-mail in the folder,
    // which `finish` checks.
    run.finish(&figures.join("; ")).await;
}

/// Publishes `payload` straight to one consumer's queue (the default exchange).
async fn publish_to_queue(channel: &lapin::Channel, queue: &str, payload: &[u8], kind: &str) {
    let confirm = channel
        .basic_publish(
            "".into(),
            queue.into(),
            lapin::options::BasicPublishOptions::default(),
            payload,
            lapin::BasicProperties::default()
                .with_delivery_mode(2)
                .with_type(kind.into()),
        )
        .await
        .expect("publish");
    assert!(matches!(
        confirm.await.expect("confirm"),
        lapin::Confirmation::Ack(None)
    ));
}

/// Copies of one event, handled at the same time and one after another, send one e-mail whose
/// link works; poison messages mixed into the traffic are dead-lettered with their reason and
/// nothing real is held up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(external_backends),
    ignore = "needs PostgreSQL and RabbitMQ: set PS_TEST_POSTGRES_URL and PS_TEST_AMQP_URL, as bash .ci/run does"
)]
async fn copies_of_events_send_one_live_link_and_poison_is_dead_lettered() {
    let Some(run) = Run::start("copies and poison", INVITATIONS).await else {
        return;
    };
    run.until_a_third().await;
    let rabbit = run.system.infrastructure.rabbit.clone();
    let names = rabbit.names();
    let connection =
        lapin::Connection::connect(&rabbit.url, lapin::ConnectionProperties::default())
            .await
            .expect("RabbitMQ reachable");
    let channel = connection.create_channel().await.expect("channel");
    channel
        .confirm_select(Default::default())
        .await
        .expect("confirms");

    // Twenty invitations notification has not seen yet (its broker connection is cut).
    let broker = run.system.broker_proxy("notification", 0);
    broker.cut();
    let staff = run.system.staff_as(&run.owner);
    let copied: Vec<String> = (0..20)
        .map(|i| format!("copied{i:02}@faults.example.test"))
        .collect();
    for (i, email) in copied.iter().enumerate() {
        staff
            .clone()
            .invite_staff(ps_proto::staff::v1::InviteStaffRequest {
                email: email.clone(),
                name: format!("Copied {i}"),
                practice_role: ps_proto::common::v1::PracticeRole::Member as i32,
                request_id: format!("copied-{i}"),
                ..Default::default()
            })
            .await
            .expect("InviteStaff");
    }
    let dbs = run.system.databases().await;
    // Each one's StaffInvited, as staff-directory published it.
    let payloads = eventually_within(PATIENCE, "the copied invitations published", || async {
        let rows = dbs[1]
            .query_all_raw(sea_orm::Statement::from_string(
                dbs[1].get_database_backend(),
                "SELECT payload FROM outbox_events WHERE event_type = 'staff.invited' \
                 AND published_at IS NOT NULL",
            ))
            .await
            .ok()?;
        let payloads: Vec<Vec<u8>> = rows
            .iter()
            .filter_map(|row| row.try_get::<Vec<u8>>("", "payload").ok())
            .filter(|p| {
                let text = String::from_utf8_lossy(p);
                copied.iter().any(|e| text.contains(e.as_str()))
            })
            .collect();
        (payloads.len() == copied.len()).then_some(payloads)
    })
    .await;
    let queue = names.queue(ps_events::ConsumerName::Notification);
    // Half: two more copies right behind each original, handled at the same time by the
    // consumer (it takes several deliveries at once).
    for payload in &payloads[..10] {
        for _ in 0..2 {
            publish_to_queue(&channel, &queue, payload, "staff.invited").await;
        }
    }
    // Poison among real traffic: garbage every consumer of staff.invited receives.
    for i in 0..200u32 {
        let confirm = channel
            .basic_publish(
                names.exchange().into(),
                "staff.invited".into(),
                lapin::options::BasicPublishOptions::default(),
                format!("poison {i}").as_bytes(),
                lapin::BasicProperties::default().with_delivery_mode(2),
            )
            .await
            .expect("publish poison");
        confirm.await.expect("confirm");
    }
    broker.restore();
    let first_half_mailed = |run: &Run| {
        let recipients = mail_recipients(&run.system.mail_dir);
        copied[..10].iter().all(|e| recipients.contains_key(e))
    };
    eventually_within(
        PATIENCE,
        "the first ten copied invitations mailed",
        || async { first_half_mailed(&run).then_some(()) },
    )
    .await;
    // The other half: two more copies each, after the originals were handled.
    eventually_within(PATIENCE, "the other ten mailed", || async {
        let recipients = mail_recipients(&run.system.mail_dir);
        copied[10..]
            .iter()
            .all(|e| recipients.contains_key(e))
            .then_some(())
    })
    .await;
    for payload in &payloads[10..] {
        for _ in 0..2 {
            publish_to_queue(&channel, &queue, payload, "staff.invited").await;
        }
    }

    // Every consumer of staff.invited dead-lettered all 200, each saying why.
    for consumer in [
        ps_events::ConsumerName::Notification,
        ps_events::ConsumerName::OrgAccess,
    ] {
        let dead = eventually_within(PATIENCE, "the poison dead-lettered", || async {
            let dead = ps_events::rabbit::list_dead_letters(&rabbit, consumer, 500)
                .await
                .ok()?;
            (dead.len() >= 200).then_some(dead)
        })
        .await;
        assert_eq!(dead.len(), 200, "{consumer:?}");
        assert!(
            dead.iter()
                .all(|d| d.reason.contains("undecodable") && !d.dead_at.is_empty()),
            "{consumer:?}: {:?}",
            &dead[..2]
        );
    }
    let _ = connection.close(200, "bye".into()).await;
    eventually_within(PATIENCE, "the copies handled", || async {
        (queued_messages(&rabbit).await == 0).then_some(())
    })
    .await;

    // One e-mail each, and its link is the live one.
    let mut identity = identity::identity_service_client::IdentityServiceClient::new(
        run.system.channel("identity"),
    );
    for email in &copied {
        let mails = mails_in(&run.system.mail_dir, email);
        assert_eq!(mails.len(), 1, "{email}: one e-mail");
        identity
            .get_invitation(identity::GetInvitationRequest {
                token: mails[0].token.clone(),
            })
            .await
            .unwrap_or_else(|status| panic!("{email}: the e-mailed link works: {status:?}"));
    }
    let copies_handled = count(
        &dbs[3],
        "SELECT count(*) AS n FROM deliveries WHERE recipient LIKE 'copied%'",
    )
    .await;
    assert_eq!(copies_handled, 20, "one delivery per invitation");
    for db in dbs {
        let _ = db.close().await;
    }
    let mut invitees = run.invitees.clone();
    invitees.extend(copied.iter().cloned());
    let mut run = run;
    run.invitees = invitees;
    run.load
        .as_ref()
        .expect("running")
        .until_answered(INVITATIONS, PATIENCE)
        .await;
    run.finish("20 invitations delivered 3 times each (10 concurrently, 10 one after another), 200 poison messages to each of 2 consumers, all dead-lettered with their reason; every e-mailed link live")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_forwards_cuts_and_pauses() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                while let Ok(n) = socket.read(&mut buf).await {
                    if n == 0 || socket.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    async fn round_trip(addr: std::net::SocketAddr) -> std::io::Result<Vec<u8>> {
        let mut socket = TcpStream::connect(addr).await?;
        socket.write_all(b"ping").await?;
        let mut buf = [0u8; 4];
        tokio::time::timeout(Duration::from_secs(2), socket.read_exact(&mut buf))
            .await
            .map_err(|_| std::io::Error::other("timed out"))??;
        Ok(buf.to_vec())
    }
    let proxy = Proxy::start(upstream).await;
    assert_eq!(round_trip(proxy.addr()).await.unwrap(), b"ping");

    let mut open = TcpStream::connect(proxy.addr()).await.unwrap();
    proxy.cut();
    assert!(round_trip(proxy.addr()).await.is_err(), "refused while cut");
    let _ = open.write_all(b"x").await;
    let mut buf = [0u8; 1];
    let closed = tokio::time::timeout(Duration::from_secs(2), open.read(&mut buf))
        .await
        .expect("the open connection was closed");
    assert!(matches!(closed, Ok(0) | Err(_)));
    proxy.restore();
    assert_eq!(round_trip(proxy.addr()).await.unwrap(), b"ping");

    proxy.pause();
    let stalled = tokio::spawn(round_trip(proxy.addr()));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!stalled.is_finished(), "nothing flows while paused");
    proxy.resume();
    assert_eq!(stalled.await.unwrap().unwrap(), b"ping");
    assert_eq!(
        system_tests::proxy::server_addr("amqp://guest:guest@127.0.0.1:5672/%2f"),
        "127.0.0.1:5672".parse().unwrap()
    );
    assert_eq!(
        system_tests::proxy::server_addr("postgres://postgres@localhost:5432/db"),
        "127.0.0.1:5432".parse().unwrap()
    );
}
