//! The services as operating-system processes of their own (the `replica` binary runs one
//! exactly as its own binary does), for tests that restart, kill or fault them: several
//! replicas, SIGTERM and SIGKILL, databases and brokers reached through a [`crate::proxy`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ps_proto::common::v1::PracticeRole;
use ps_proto::staff::v1 as staff;
use tonic::transport::Endpoint;

use crate::Code;

pub const SERVICES: [&str; 4] = ["identity", "staff-directory", "org-access", "notification"];

/// Tests that run the services as processes (four or more of them, under load) take turns: on
/// two cores, two such tests at once would measure each other.
pub async fn one_at_a_time() -> tokio::sync::MutexGuard<'static, ()> {
    static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    TURN.lock().await
}

/// One process of one service, its ports and its log file.
pub struct ServiceProcess {
    /// The `replica` binary (`env!("CARGO_BIN_EXE_replica")` in the suite).
    pub binary: PathBuf,
    pub service: &'static str,
    pub index: usize,
    pub port: u16,
    pub env: Vec<(String, String)>,
    pub log: PathBuf,
    child: Option<Child>,
}

impl ServiceProcess {
    pub fn new(
        binary: PathBuf,
        service: &'static str,
        index: usize,
        port: u16,
        env: Vec<(String, String)>,
        log: PathBuf,
    ) -> Self {
        Self {
            binary,
            service,
            index,
            port,
            env,
            log,
            child: None,
        }
    }

    pub fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("process log file");
        let child = Command::new(&self.binary)
            .arg(self.service)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("spawning a service process");
        self.child = Some(child);
    }

    fn signal(&self, child: &Child, signal: &str) {
        let sent = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .expect("running kill");
        assert!(sent.success(), "kill {signal} {}", child.id());
    }

    /// SIGTERM, as Kubernetes sends on a rolling restart, then waits for a clean exit.
    pub async fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        self.signal(&child, "-TERM");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().expect("waiting for a process") {
                assert!(
                    status.success(),
                    "{} {} exited with {status} after SIGTERM; log:\n{}",
                    self.service,
                    self.index,
                    tail(&self.log)
                );
                return;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!(
                    "{} {} did not stop within 30 s of SIGTERM; log:\n{}",
                    self.service,
                    self.index,
                    tail(&self.log)
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGKILL: the process dies at once, in the middle of whatever it was doing.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            self.signal(&child, "-KILL");
            let _ = child.wait();
        }
    }

    /// Waits until grpc.health.v1 answers SERVING for the whole server.
    pub async fn wait_serving(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!(
                    "{} {} exited with {status} while starting; log:\n{}",
                    self.service,
                    self.index,
                    tail(&self.log)
                );
            }
            if self.health("").await == Some(true) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} {} not SERVING within 60 s; log:\n{}",
                self.service,
                self.index,
                tail(&self.log)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// grpc.health.v1 for `name` ("" for the whole server): `Some(true)` SERVING,
    /// `Some(false)` anything else, `None` unreachable.
    pub async fn health(&self, name: &str) -> Option<bool> {
        use tonic_health::pb::health_client::HealthClient;
        let channel = endpoint(self.port).connect().await.ok()?;
        let answer = HealthClient::new(channel)
            .check(tonic_health::pb::HealthCheckRequest {
                service: name.into(),
            })
            .await;
        Some(answer.is_ok_and(|a| a.into_inner().status == 1))
    }

    pub fn log_tail(&self) -> String {
        tail(&self.log)
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub fn endpoint(port: u16) -> Endpoint {
    Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
        .expect("valid address")
        .connect_timeout(Duration::from_secs(2))
}

/// The last lines of a log file.
pub fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

/// Free loopback ports for processes that must be told theirs: picked at random below the
/// kernel's ephemeral range (32768 and up), which every `127.0.0.1:0` bind of the suite's other
/// tests draws from, so none of them can take a port between its pick and its use.
pub fn free_ports(n: usize) -> Vec<u16> {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    let mut ports = Vec::with_capacity(n);
    while ports.len() < n {
        let port = rng.gen_range(20_000..32_000);
        if !ports.contains(&port) && std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            ports.push(port);
        }
    }
    ports
}

/// Messages waiting in every consumer queue of the exchange.
pub async fn queued_messages(rabbit: &ps_events::rabbit::RabbitSettings) -> u32 {
    let connection = ps_events::rabbit::connect(rabbit, "test-queued-messages")
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

/// How a stream of InviteStaff calls went.
#[derive(Debug, Default)]
pub struct LoadReport {
    pub answered: usize,
    /// UNAVAILABLE answers, each retried with the same request id.
    pub unavailable: usize,
    /// Any other failure, by code: the test fails on these.
    pub failures: BTreeMap<String, Vec<String>>,
}

/// `count` InviteStaff calls to `{prefix}{i:04}@{domain}`, one every `pace`, `in_flight` at
/// once; an UNAVAILABLE answer is retried (50 ms later) with the same request id, so a retry
/// of a request that did commit answers with its member instead of ALREADY_EXISTS.
pub struct InvitationLoad {
    pub answered: Arc<AtomicUsize>,
    answered_emails: Arc<std::sync::Mutex<Vec<String>>>,
    unavailable: Arc<AtomicUsize>,
    failures: Arc<std::sync::Mutex<BTreeMap<String, Vec<String>>>>,
    task: tokio::task::JoinHandle<()>,
}

impl InvitationLoad {
    pub fn start<T>(
        client: staff::staff_directory_service_client::StaffDirectoryServiceClient<T>,
        invitees: Vec<String>,
        pace: Duration,
        in_flight: usize,
    ) -> Self
    where
        T: tonic::client::GrpcService<tonic::body::Body> + Clone + Send + 'static,
        T::Future: Send,
        T::Error: Into<tonic::codegen::StdError>,
        T::ResponseBody: tonic::codegen::Body<Data = tonic::codegen::Bytes> + Send + 'static,
        <T::ResponseBody as tonic::codegen::Body>::Error: Into<tonic::codegen::StdError> + Send,
    {
        let answered = Arc::new(AtomicUsize::new(0));
        let answered_emails = Arc::new(std::sync::Mutex::new(Vec::new()));
        let unavailable = Arc::new(AtomicUsize::new(0));
        let failures = Arc::new(std::sync::Mutex::new(BTreeMap::<String, Vec<String>>::new()));
        let task = {
            let (answered, unavailable, failures) =
                (answered.clone(), unavailable.clone(), failures.clone());
            let answered_emails = answered_emails.clone();
            tokio::spawn(async move {
                let slots = Arc::new(tokio::sync::Semaphore::new(in_flight));
                let mut pace = tokio::time::interval(pace);
                let mut sent = Vec::new();
                for (i, email) in invitees.into_iter().enumerate() {
                    pace.tick().await;
                    let slot = slots.clone().acquire_owned().await.expect("semaphore");
                    let mut client = client.clone();
                    let (answered, unavailable, failures) =
                        (answered.clone(), unavailable.clone(), failures.clone());
                    let answered_emails = answered_emails.clone();
                    sent.push(tokio::spawn(async move {
                        let request = staff::InviteStaffRequest {
                            name: format!("Person {i}"),
                            email,
                            practice_role: PracticeRole::Member as i32,
                            request_id: format!("invite-{i}"),
                            ..Default::default()
                        };
                        loop {
                            match client.invite_staff(request.clone()).await {
                                Ok(_) => {
                                    answered_emails
                                        .lock()
                                        .expect("answered")
                                        .push(request.email.clone());
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
        Self {
            answered,
            answered_emails,
            unavailable,
            failures,
            task,
        }
    }

    /// The invitees whose invitation was answered so far.
    pub fn answered_invitees(&self) -> Vec<String> {
        self.answered_emails.lock().expect("answered").clone()
    }

    pub fn answered(&self) -> usize {
        self.answered.load(Ordering::SeqCst)
    }

    /// Waits until at least `n` calls were answered (for at most `patience`).
    pub async fn until_answered(&self, n: usize, patience: Duration) {
        crate::eventually_within(patience, &format!("{n} invitations answered"), || async {
            (self.answered() >= n).then_some(())
        })
        .await;
    }

    /// Waits for every call to be answered and reports.
    pub async fn finish(self) -> LoadReport {
        self.task.await.expect("invitation load");
        LoadReport {
            answered: self.answered.load(Ordering::SeqCst),
            unavailable: self.unavailable.load(Ordering::SeqCst),
            failures: self.failures.lock().expect("failures").clone(),
        }
    }
}

/// Every service as processes of their own (`replicas` of each) against a test's own
/// PostgreSQL databases and RabbitMQ exchange, optionally each process reaching them through
/// proxies of its own (to cut, refuse or stall its connections), e-mails in one folder.
pub struct ProcessSystem {
    pub infrastructure: crate::ExternalInfrastructure,
    pub mail_dir: PathBuf,
    /// `processes[service * replicas + index]`, services in [`SERVICES`] order.
    pub processes: Vec<ServiceProcess>,
    /// With `proxied`: each process's PostgreSQL and RabbitMQ proxies, in the same order.
    pub proxies: Vec<(crate::proxy::Proxy, crate::proxy::Proxy)>,
    pub replicas: usize,
    _dir: tempfile::TempDir,
}

/// The settings every process of a [`ProcessSystem`] gets besides its addresses.
#[derive(Debug, Clone)]
pub struct ProcessOptions {
    /// The `replica` binary: `env!("CARGO_BIN_EXE_replica")` in the suite.
    pub binary: PathBuf,
    pub replicas: usize,
    /// Put a proxy of its own between each process and each server.
    pub proxied: bool,
    /// More `PS_*` variables for every process.
    pub env: Vec<(String, String)>,
}

impl ProcessSystem {
    /// Starts every process (all at once, so the replicas of a service migrate its database
    /// concurrently) and waits until each is SERVING.
    #[expect(
        clippy::too_many_lines,
        reason = "test harness: the start-up steps in the order the broker or processes need them"
    )]
    pub async fn start(
        infrastructure: crate::ExternalInfrastructure,
        options: ProcessOptions,
    ) -> Self {
        let replicas = options.replicas.max(1);
        let dir = tempfile::tempdir().expect("temporary directory");
        let mail_dir = dir.path().join("mail");
        let count = SERVICES.len() * replicas;
        let ports = free_ports(count * 2);
        let grpc_port = |slot: usize| ports[slot];
        let admin_port = |slot: usize| ports[count + slot];
        let databases = &infrastructure.databases;
        let postgres = crate::proxy::server_addr(&databases.identity.url);
        let mut processes = Vec::new();
        let mut proxies = Vec::new();
        for (s, service) in SERVICES.iter().enumerate() {
            let database = match *service {
                "identity" => &databases.identity,
                "staff-directory" => &databases.staff_directory,
                "org-access" => &databases.org_access,
                _ => &databases.notification,
            };
            for index in 0..replicas {
                let slot = s * replicas + index;
                let (database_url, amqp_url) = if options.proxied {
                    let rabbitmq = crate::proxy::server_addr(&infrastructure.rabbit.url);
                    let pg = crate::proxy::Proxy::start(postgres).await;
                    let amqp = crate::proxy::Proxy::start(rabbitmq).await;
                    let urls = (
                        pg.url_for(&database.url, postgres),
                        amqp.url_for(&infrastructure.rabbit.url, rabbitmq),
                    );
                    proxies.push((pg, amqp));
                    urls
                } else {
                    (database.url.clone(), infrastructure.rabbit.url.clone())
                };
                let mut env = vec![
                    (
                        "PS_LISTEN".to_owned(),
                        format!("127.0.0.1:{}", grpc_port(slot)),
                    ),
                    (
                        "PS_ADMIN_LISTEN".to_owned(),
                        format!("127.0.0.1:{}", admin_port(slot)),
                    ),
                    ("PS_DATABASE__URL".to_owned(), database_url),
                    ("PS_DATABASE__MAX_CONNECTIONS".to_owned(), "5".into()),
                    ("PS_RABBITMQ__URL".to_owned(), amqp_url),
                    (
                        "PS_RABBITMQ__EXCHANGE".to_owned(),
                        infrastructure.rabbit.exchange.clone(),
                    ),
                    ("PS_OPERATOR_TOKEN".to_owned(), crate::OPERATOR_TOKEN.into()),
                    // Replica i of every service talks to identity replica i.
                    (
                        "PS_IDENTITY_URL".to_owned(),
                        format!("http://127.0.0.1:{}", grpc_port(index)),
                    ),
                    ("RUST_LOG".to_owned(), "info".into()),
                    ("PS_LOG_FORMAT".to_owned(), "json".into()),
                ];
                match *service {
                    "identity" => env.extend([
                        (
                            "PS_INVITATION_URL".to_owned(),
                            "https://app.example.test/invitation?token={token}".into(),
                        ),
                        (
                            "PS_SIGNING__KEY_ENCRYPTION_KEY".to_owned(),
                            crate::TEST_KEY_ENCRYPTION_KEY.into(),
                        ),
                        (
                            "PS_PRODUCT_ACCOUNTS__NOTIFICATION_SECRET".to_owned(),
                            crate::NOTIFICATION_SECRET.into(),
                        ),
                    ]),
                    "notification" => env.extend([
                        ("PS_MAIL__FOLDER".to_owned(), mail_dir.display().to_string()),
                        (
                            "PS_CREDENTIALS__CLIENT_SECRET".to_owned(),
                            crate::NOTIFICATION_SECRET.into(),
                        ),
                    ]),
                    _ => {}
                }
                env.extend(options.env.iter().cloned());
                processes.push(ServiceProcess::new(
                    options.binary.clone(),
                    service,
                    index,
                    grpc_port(slot),
                    env,
                    dir.path().join(format!("{service}-{index}.log")),
                ));
            }
        }
        for process in &mut processes {
            process.start();
        }
        for process in &mut processes {
            process.wait_serving().await;
        }
        Self {
            infrastructure,
            mail_dir,
            processes,
            proxies,
            replicas,
            _dir: dir,
        }
    }

    fn slot(&self, service: &str, index: usize) -> usize {
        let s = SERVICES
            .iter()
            .position(|name| *name == service)
            .unwrap_or_else(|| panic!("no service {service}"));
        s * self.replicas + index
    }

    pub fn process(&mut self, service: &str, index: usize) -> &mut ServiceProcess {
        let slot = self.slot(service, index);
        &mut self.processes[slot]
    }

    /// The PostgreSQL proxy of one process.
    pub fn database_proxy(&self, service: &str, index: usize) -> &crate::proxy::Proxy {
        &self.proxies[self.slot(service, index)].0
    }

    /// The RabbitMQ proxy of one process.
    pub fn broker_proxy(&self, service: &str, index: usize) -> &crate::proxy::Proxy {
        &self.proxies[self.slot(service, index)].1
    }

    /// A client channel to every replica of `service`, balanced as a Kubernetes Service would
    /// (the product's own channel: a request queued on a draining connection is UNAVAILABLE).
    pub fn channel(&self, service: &str) -> ps_grpc::client::UnsentIsUnavailable {
        let ports: Vec<u16> = (0..self.replicas)
            .map(|i| self.processes[self.slot(service, i)].port)
            .collect();
        ps_grpc::client::balanced(ports.into_iter().map(endpoint))
    }

    /// A practice whose owner accepted their invitation and is Active; their access token.
    pub async fn practice_with_owner(&self, name: &str, patience: Duration) -> String {
        use ps_proto::identity::v1 as identity;
        let owner_email = format!(
            "owner@{}.example.test",
            name.to_lowercase().replace(' ', "-")
        );
        staff::staff_directory_service_client::StaffDirectoryServiceClient::with_interceptor(
            self.channel("staff-directory"),
            ps_auth::credentials::Credential::operator(crate::OPERATOR_TOKEN).expect("ascii token"),
        )
        .create_practice(staff::CreatePracticeRequest {
            name: name.into(),
            owner_email: owner_email.clone(),
            owner_name: format!("Owner of {name}"),
            request_id: format!("practice-{name}"),
        })
        .await
        .expect("CreatePractice");
        let invitation = crate::eventually_within(patience, "the owner's invitation", || async {
            crate::mails_in(&self.mail_dir, &owner_email).pop()
        })
        .await;
        let mut identity =
            identity::identity_service_client::IdentityServiceClient::new(self.channel("identity"));
        let password = "owner-password-1";
        identity
            .accept_invitation(identity::AcceptInvitationRequest {
                token: invitation.token.clone(),
                password: password.into(),
            })
            .await
            .expect("AcceptInvitation");
        let token = identity
            .sign_in(identity::SignInRequest {
                email: owner_email.clone(),
                password: password.into(),
                practice_id: String::new(),
            })
            .await
            .expect("SignIn")
            .into_inner()
            .access_token;
        let client = self.staff_as(&token);
        crate::eventually_within(patience, "the owner to be Active", || {
            let mut client = client.clone();
            let owner_email = owner_email.clone();
            async move {
                let listed = client
                    .list_staff(staff::ListStaffRequest::default())
                    .await
                    .ok()?
                    .into_inner();
                listed
                    .staff
                    .iter()
                    .any(|m| {
                        m.email == owner_email && m.status == staff::StaffStatus::Active as i32
                    })
                    .then_some(())
            }
        })
        .await;
        token
    }

    /// Staff-directory over the balanced channel with `token`.
    pub fn staff_as(
        &self,
        token: &str,
    ) -> staff::staff_directory_service_client::StaffDirectoryServiceClient<
        tonic::service::interceptor::InterceptedService<
            ps_grpc::client::UnsentIsUnavailable,
            ps_auth::credentials::Credential,
        >,
    > {
        staff::staff_directory_service_client::StaffDirectoryServiceClient::with_interceptor(
            self.channel("staff-directory"),
            crate::bearer(token),
        )
    }

    /// Each service's database, connected directly (never through a proxy).
    pub async fn databases(&self) -> Vec<sea_orm::DatabaseConnection> {
        let d = &self.infrastructure.databases;
        let mut dbs = Vec::new();
        for settings in [
            &d.identity,
            &d.staff_directory,
            &d.org_access,
            &d.notification,
        ] {
            dbs.push(ps_db::connect(settings).await.expect("database reachable"));
        }
        dbs
    }

    /// What is left in the outboxes, the queues and the deliveries, and the end of every
    /// process's log: for a failure message.
    pub async fn state(&self) -> String {
        let mut report = String::new();
        let dbs = self.databases().await;
        for (name, db) in SERVICES.iter().zip(&dbs) {
            let unpublished = crate::count(
                db,
                "SELECT count(*) AS n FROM outbox_events WHERE published_at IS NULL",
            )
            .await;
            report.push_str(&format!("{name}: {unpublished} unpublished events\n"));
        }
        let unsent = crate::count(
            &dbs[3],
            "SELECT count(*) AS n FROM deliveries WHERE sent_at IS NULL",
        )
        .await;
        let all = crate::count(&dbs[3], "SELECT count(*) AS n FROM deliveries").await;
        report.push_str(&format!(
            "notification: {all} deliveries, {unsent} unsent\n"
        ));
        report.push_str(&format!(
            "queued messages: {}\n",
            queued_messages(&self.infrastructure.rabbit).await
        ));
        for consumer in ps_events::ConsumerName::ALL {
            let dead =
                ps_events::rabbit::list_dead_letters(&self.infrastructure.rabbit, consumer, 500)
                    .await
                    .unwrap_or_default();
            report.push_str(&format!(
                "{}: {} dead letters {:?}\n",
                consumer.as_str(),
                dead.len(),
                dead.iter().take(3).collect::<Vec<_>>()
            ));
        }
        for process in &self.processes {
            report.push_str(&format!(
                "--- {} {} ---\n{}\n",
                process.service,
                process.index,
                process.log_tail()
            ));
        }
        for db in dbs {
            let _ = db.close().await;
        }
        report
    }

    /// Where the invitations of `lost` invitees got to: their staff row, their events in
    /// staff-directory's outbox, and whether notification and org-access applied them.
    async fn trace_of(&self, lost: &[&String]) -> String {
        let dbs = self.databases().await;
        let mut report = String::new();
        for email in lost.iter().take(5) {
            let staff = crate::strings(
                &dbs[1],
                &format!(
                    "SELECT CAST(id AS TEXT) || ' ' || status AS s FROM staff_members WHERE email = '{email}'"
                ),
            )
            .await;
            let events = crate::strings(
                &dbs[1],
                &format!(
                    "SELECT CAST(id AS TEXT) || ' published ' || COALESCE(CAST(published_at AS TEXT), 'no') \
                     || ' attempts ' || CAST(attempts AS TEXT) AS s FROM outbox_events \
                     WHERE position(convert_to('{email}', 'UTF8') in payload) > 0"
                ),
            )
            .await;
            let mut applied = Vec::new();
            for event in &events {
                let id = event.split(' ').next().unwrap_or_default();
                for (name, db) in [("notification", &dbs[3]), ("org-access", &dbs[2])] {
                    let n = crate::count(
                        db,
                        &format!(
                            "SELECT count(*) AS n FROM processed_events WHERE CAST(event_id AS TEXT) = '{id}'"
                        ),
                    )
                    .await;
                    applied.push(format!("{name} processed {id}: {n}"));
                }
            }
            report.push_str(&format!(
                "{email}: staff {staff:?}; events {events:?}; {applied:?}\n"
            ));
        }
        for db in dbs {
            let _ = db.close().await;
        }
        report
    }

    /// Waits until every invitee has an e-mail, then until nothing is left anywhere (no
    /// unpublished event, no unsent or failed e-mail, no queued message), waits 2 s more so a
    /// late duplicate would show, and counts.
    #[expect(
        clippy::too_many_lines,
        reason = "test harness: one polling loop that reads every service's store and the broker"
    )]
    pub async fn settle(&self, invitees: &[String], patience: Duration) -> Settled {
        let started = Instant::now();
        let deadline = started + patience;
        loop {
            let recipients = crate::mail_recipients(&self.mail_dir);
            let missing = invitees
                .iter()
                .filter(|e| !recipients.contains_key(*e))
                .count();
            if missing == 0 {
                break;
            }
            if Instant::now() > deadline {
                let lost: Vec<&String> = invitees
                    .iter()
                    .filter(|e| !recipients.contains_key(*e))
                    .collect();
                panic!(
                    "{missing} invitees without an e-mail after {} s\n{}\n{}",
                    patience.as_secs(),
                    self.trace_of(&lost).await,
                    self.state().await
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let all_mailed_after = started.elapsed();
        let dbs = self.databases().await;
        crate::eventually_within(
            patience,
            "outboxes, queues and deliveries to drain",
            || async {
                for db in &dbs {
                    let unpublished = crate::count(
                        db,
                        "SELECT count(*) AS n FROM outbox_events WHERE published_at IS NULL",
                    )
                    .await;
                    if unpublished > 0 {
                        return None;
                    }
                }
                let unsent = crate::count(
                    &dbs[3],
                    "SELECT count(*) AS n FROM deliveries WHERE sent_at IS NULL",
                )
                .await;
                if unsent > 0 {
                    return None;
                }
                (queued_messages(&self.infrastructure.rabbit).await == 0).then_some(())
            },
        )
        .await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let recipients = crate::mail_recipients(&self.mail_dir);
        let staff_emails = crate::strings(&dbs[1], "SELECT email AS s FROM staff_members").await;
        let settled = Settled {
            emails: recipients.values().sum(),
            duplicates: recipients.values().map(|n| n - 1).sum(),
            lost: invitees
                .iter()
                .filter(|e| !recipients.contains_key(*e))
                .cloned()
                .collect(),
            staff_without_email: staff_emails
                .into_iter()
                .filter(|e| !recipients.contains_key(e))
                .collect(),
            staff_rows: crate::count(&dbs[1], "SELECT count(*) AS n FROM staff_members").await,
            deliveries: crate::count(&dbs[3], "SELECT count(*) AS n FROM deliveries").await,
            resent: crate::count(
                &dbs[3],
                "SELECT count(*) AS n FROM deliveries WHERE attempts > 1",
            )
            .await,
            all_mailed_after,
        };
        for db in dbs {
            let _ = db.close().await;
        }
        settled
    }

    pub async fn stop(&mut self) {
        for process in &mut self.processes {
            process.stop().await;
        }
    }
}

/// What a [`ProcessSystem`] delivered once everything settled.
#[derive(Debug)]
pub struct Settled {
    /// E-mail files in the folder (one per delivery: a re-send rewrites its own file).
    pub emails: usize,
    /// E-mails beyond the first to one recipient.
    pub duplicates: usize,
    /// Invitees without an e-mail.
    pub lost: Vec<String>,
    /// Staff members (owner included) no e-mail was written to.
    pub staff_without_email: Vec<String>,
    pub staff_rows: i64,
    pub deliveries: i64,
    /// Deliveries that needed more than one recorded attempt.
    pub resent: i64,
    /// From the call of `settle` until the last invitee had an e-mail.
    pub all_mailed_after: Duration,
}
