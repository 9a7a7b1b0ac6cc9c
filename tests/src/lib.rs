//! The harness of the system tests: the whole product started in-process on port 0, driven
//! through real gRPC clients.
//!
//! Two backends run the same tests:
//! - embedded: SQLite files in a temporary directory and the in-process bus;
//! - PostgreSQL + RabbitMQ, when `PS_TEST_POSTGRES_URL` and `PS_TEST_AMQP_URL` are set: four
//!   fresh databases per test and an exchange and queues of its own, removed afterwards.
//!   `.ci/run` sets both and `PS_TEST_REQUIRE_EXTERNAL=1`, so in CI these tests fail when the
//!   servers are unreachable or the variables are missing instead of being skipped.
//!
//! Each test gets a [`ManualClock`] it can move; waits on asynchronous outcomes poll with a
//! deadline ([`eventually`]) and never sleep for a fixed time.

pub mod cluster;
pub mod processes;
pub mod proxy;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use practice_staff::{Addresses, Databases, Listeners, System, SystemConfig};
use ps_auth::credentials::Credential;
use ps_config::Secret;
use ps_core::ManualClock;
use ps_db::DbSettings;
use ps_events::rabbit::RabbitSettings;
use ps_proto::common::v1::PracticeRole;
use ps_proto::identity::v1 as identity;
use ps_proto::identity::v1::identity_internal_service_client::IdentityInternalServiceClient;
use ps_proto::identity::v1::identity_service_client::IdentityServiceClient;
use ps_proto::identity::v1::service_account_service_client::ServiceAccountServiceClient;
use ps_proto::notification::v1::notification_service_client::NotificationServiceClient;
use ps_proto::orgaccess::v1::org_access_service_client::OrgAccessServiceClient;
use ps_proto::staff::v1 as staff;
use ps_proto::staff::v1::staff_directory_service_client::StaffDirectoryServiceClient;
use tempfile::TempDir;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

pub use tonic::Code;

pub type Authed = InterceptedService<Channel, Credential>;

/// Which infrastructure a test runs on.
#[derive(Debug, Clone)]
pub enum Backend {
    Embedded,
    External {
        postgres_url: String,
        amqp_url: String,
    },
}

impl Backend {
    /// For reports: "SQLite + in-process events" or "PostgreSQL + RabbitMQ".
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Embedded => "SQLite + in-process events",
            Backend::External { .. } => "PostgreSQL + RabbitMQ",
        }
    }

    /// PostgreSQL + RabbitMQ from the environment, or `None` when not configured. With
    /// `PS_TEST_REQUIRE_EXTERNAL=1` a missing configuration fails the test instead.
    pub fn external() -> Option<Backend> {
        let postgres_url = std::env::var("PS_TEST_POSTGRES_URL")
            .ok()
            .filter(|v| !v.is_empty());
        let amqp_url = std::env::var("PS_TEST_AMQP_URL")
            .ok()
            .filter(|v| !v.is_empty());
        let required = std::env::var("PS_TEST_REQUIRE_EXTERNAL").is_ok_and(|v| v == "1");
        match (postgres_url, amqp_url) {
            (Some(postgres_url), Some(amqp_url)) => Some(Backend::External {
                postgres_url,
                amqp_url,
            }),
            _ if required => panic!(
                "PS_TEST_REQUIRE_EXTERNAL=1 but PS_TEST_POSTGRES_URL and PS_TEST_AMQP_URL are not both set"
            ),
            _ => {
                eprintln!(
                    "note: PostgreSQL + RabbitMQ variant not run (set PS_TEST_POSTGRES_URL and PS_TEST_AMQP_URL, as .ci/run does)"
                );
                None
            }
        }
    }
}

/// Runs `test` on every backend available: the macro generates one `#[tokio::test]` per
/// backend for each named async fn taking a [`Backend`]. The PostgreSQL + RabbitMQ ones are
/// built ignored when the suite was built without their variables (see tests/build.rs).
#[macro_export]
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::Backend::Embedded).await
                }
            )*
        }
        mod postgres_rabbitmq {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[cfg_attr(
                    not(external_backends),
                    ignore = "needs PostgreSQL and RabbitMQ: set PS_TEST_POSTGRES_URL and PS_TEST_AMQP_URL, as bash .ci/run does"
                )]
                async fn $name() {
                    if let Some(backend) = $crate::Backend::external() {
                        super::$name(backend).await
                    }
                }
            )*
        }
    };
}

/// The process's subscriber, installed by the first test that starts a system: logs for a
/// failing test (set `TEST_LOG=debug`, or any filter), and OpenTelemetry spans kept in memory
/// for traces a test started with [`traced_root`]. Only the product's own spans (RPC, event,
/// e-mail) reach the span layer, and every trace but a test's own is not sampled, so the
/// rest of the suite pays next to nothing for it.
fn init_logs() {
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let (provider, _) = SPANS.get_or_init(|| {
        let exporter = opentelemetry_sdk::trace::InMemorySpanExporter::default();
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
            .with_sampler(opentelemetry_sdk::trace::Sampler::ParentBased(Box::new(
                opentelemetry_sdk::trace::Sampler::AlwaysOff,
            )))
            .with_simple_exporter(exporter.clone())
            .build();
        (provider, exporter)
    });
    let logs = std::env::var("TEST_LOG").ok().map(|filter| {
        tracing_subscriber::fmt::layer()
            .with_test_writer()
            .with_filter(tracing_subscriber::EnvFilter::new(filter))
    });
    let product_spans = tracing_subscriber::filter::filter_fn(|meta| {
        meta.is_span()
            && matches!(
                meta.name(),
                "test" | "rpc" | "event.publish" | "event.handle" | "mail.send"
            )
    });
    let _ = tracing_subscriber::registry()
        .with(logs)
        .with(ps_telemetry::trace::layer_for(provider).with_filter(product_spans))
        .try_init();
}

static SPANS: std::sync::OnceLock<(
    opentelemetry_sdk::trace::SdkTracerProvider,
    opentelemetry_sdk::trace::InMemorySpanExporter,
)> = std::sync::OnceLock::new();

/// A span that starts a sampled trace of its own: run a test's calls inside it
/// (`.instrument(span.clone())`) and read what every service did with [`spans_of`].
pub fn traced_root(name: &'static str) -> (tracing::Span, String) {
    use rand::Rng;
    init_logs();
    let mut rng = rand::thread_rng();
    let trace_id = format!("{:032x}", rng.r#gen::<u128>() | 1);
    let span = tracing::info_span!("test", otel.name = name);
    ps_telemetry::TraceContext {
        traceparent: format!("00-{trace_id}-{:016x}-01", rng.r#gen::<u64>() | 1),
        tracestate: String::new(),
    }
    .adopt(&span);
    (span, trace_id)
}

/// The finished spans of trace `trace_id` (32 hex digits), from every service in the process.
pub fn spans_of(trace_id: &str) -> Vec<opentelemetry_sdk::trace::SpanData> {
    let Some((provider, exporter)) = SPANS.get() else {
        return Vec::new();
    };
    let _ = provider.force_flush();
    exporter
        .get_finished_spans()
        .unwrap_or_default()
        .into_iter()
        .filter(|span| span.span_context.trace_id().to_string() == trace_id)
        .collect()
}

/// Polls `probe` until it returns `Some`, for at most 20 seconds.
pub async fn eventually<T, F, Fut>(what: &str, probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    eventually_within(Duration::from_secs(20), what, probe).await
}

/// [`eventually`] with a patience of its own, for outcomes of hundreds of events (the suite
/// runs several such tests at once on two cores).
pub async fn eventually_within<T, F, Fut>(patience: Duration, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// PostgreSQL databases and a RabbitMQ exchange of a test's own, removed when dropped: for
/// tests that run the services as processes of their own rather than through [`TestSystem`].
pub struct ExternalInfrastructure {
    pub databases: Databases,
    pub rabbit: RabbitSettings,
    _cleanup: External,
}

impl ExternalInfrastructure {
    /// On PostgreSQL + RabbitMQ when the environment names them (see [`Backend::external`]).
    pub async fn from_env() -> Option<Self> {
        match Backend::external()? {
            Backend::External {
                postgres_url,
                amqp_url,
            } => Some(Self::create(&postgres_url, &amqp_url).await),
            Backend::Embedded => None,
        }
    }

    pub async fn create(postgres_url: &str, amqp_url: &str) -> Self {
        let scratch = scratch(postgres_url, amqp_url).await;
        Self {
            databases: scratch.databases.clone(),
            rabbit: scratch.rabbit.clone(),
            _cleanup: External(Some(scratch)),
        }
    }
}

async fn scratch(postgres_url: &str, amqp_url: &str) -> ps_scratch::Scratch {
    ps_scratch::Scratch::create(postgres_url, amqp_url, "ps_test")
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// `sql` is a `SELECT count(*) AS n …` on `db`; its count.
pub async fn count(db: &sea_orm::DatabaseConnection, sql: &str) -> i64 {
    use sea_orm::ConnectionTrait;
    db.query_one_raw(sea_orm::Statement::from_string(
        db.get_database_backend(),
        sql,
    ))
    .await
    .unwrap_or_else(|e| panic!("{sql}: {e}"))
    .expect("a row")
    .try_get::<i64>("", "n")
    .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// `sql` is a `SELECT … AS s …` of text on `db`; every value.
pub async fn strings(db: &sea_orm::DatabaseConnection, sql: &str) -> Vec<String> {
    use sea_orm::ConnectionTrait;
    db.query_all_raw(sea_orm::Statement::from_string(
        db.get_database_backend(),
        sql,
    ))
    .await
    .unwrap_or_else(|e| panic!("{sql}: {e}"))
    .iter()
    .map(|row| {
        row.try_get::<String>("", "s")
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    })
    .collect()
}

/// How many `.eml` files in `dir` are addressed to each recipient.
pub fn mail_recipients(dir: &Path) -> std::collections::HashMap<String, usize> {
    let mut counts = std::collections::HashMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return counts;
    };
    for path in entries.filter_map(Result::ok).map(|e| e.path()) {
        if path.extension().is_none_or(|x| x != "eml") {
            continue;
        }
        let Ok(raw) = std::fs::read_to_string(&path) else {
            continue;
        };
        let recipient = raw
            .lines()
            .find_map(|l| l.strip_prefix("To: "))
            .map(|to| match to.rsplit_once('<') {
                Some((_, address)) => address.trim_end_matches('>').to_owned(),
                None => to.trim().to_owned(),
            })
            .unwrap_or_default();
        *counts.entry(recipient).or_insert(0) += 1;
    }
    counts
}

/// Removes a test's databases and broker objects when the test ends, even on panic.
struct External(Option<ps_scratch::Scratch>);

impl Drop for External {
    fn drop(&mut self) {
        let Some(resources) = self.0.take() else {
            return;
        };
        // Drop cannot await: clean up on a thread with its own runtime and wait for it.
        let _ = std::thread::spawn(move || {
            if let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                runtime.block_on(resources.remove());
            }
        })
        .join();
    }
}

/// One person's e-mail as found in the mail folder.
#[derive(Debug, Clone)]
pub struct Mail {
    pub path: PathBuf,
    /// The message, quoted-printable decoded.
    pub content: String,
    /// The token of the first `token=` link, if any.
    pub token: String,
}

impl Mail {
    /// The Subject header, unfolded.
    pub fn subject(&self) -> String {
        let mut lines = self
            .content
            .lines()
            .skip_while(|l| !l.starts_with("Subject: "));
        let mut subject = lines
            .next()
            .unwrap_or_default()
            .trim_start_matches("Subject: ")
            .to_owned();
        for continuation in lines.take_while(|l| l.starts_with(' ') || l.starts_with('\t')) {
            subject.push(' ');
            subject.push_str(continuation.trim());
        }
        subject
    }
}

/// A signed-in user.
#[derive(Debug, Clone)]
pub struct Person {
    pub email: String,
    pub password: String,
    pub access_token: String,
    pub refresh_token: String,
    pub user_id: String,
    pub practice_id: String,
}

impl Person {
    pub fn from_sign_in(email: &str, password: &str, reply: identity::SignInResponse) -> Self {
        Self {
            email: email.into(),
            password: password.into(),
            access_token: reply.access_token,
            refresh_token: reply.refresh_token,
            user_id: reply.user_id,
            practice_id: reply.practice_id,
        }
    }
}

pub const OPERATOR_TOKEN: &str = "test-operator-token";
/// notification's client secret in tests (43 base64url characters, as identity requires).
pub const NOTIFICATION_SECRET: &str = "dGVzdC1ub3RpZmljYXRpb24tY2xpZW50LXNlY3JldC0";
/// The key that seals identity's signing keys in tests (32 bytes, base64).
pub const TEST_KEY_ENCRYPTION_KEY: &str = "dGVzdC1rZXktZW5jcnlwdGlvbi1rZXktMzItYnl0ZXM=";

/// The product, started for one test.
pub struct TestSystem {
    hashing: ps_identity::passwords::HashingSettings,
    mail: ps_notification::mail::MailSettings,
    pub clock: Arc<ManualClock>,
    pub addresses: Addresses,
    pub databases: Databases,
    pub mail_dir: PathBuf,
    system: Option<System>,
    rabbit: Option<RabbitSettings>,
    /// Service accounts made for the test's internal calls, by their scopes: (client id,
    /// secret).
    service_accounts: tokio::sync::Mutex<std::collections::HashMap<String, (String, String)>>,
    _external: Option<External>,
    _dir: TempDir,
}

impl TestSystem {
    pub async fn start(backend: &Backend) -> Self {
        Self::start_with(
            backend,
            ps_identity::passwords::HashingSettings {
                max_queued: 256,
                ..Default::default()
            },
        )
        .await
    }

    /// For tests that create hundreds of accounts: argon2id with a small memory cost, since
    /// hashing is not what they test.
    pub async fn start_with_cheap_hashing(backend: &Backend) -> Self {
        Self::start_with(
            backend,
            ps_identity::passwords::HashingSettings {
                memory_kib: 1024,
                iterations: 1,
                max_queued: 1024,
                ..Default::default()
            },
        )
        .await
    }

    /// For tests that use a later event as a sentinel for earlier ones: on RabbitMQ each
    /// consumer handles one delivery at a time, in queue order (by default it handles several
    /// at once, so a later event may finish first).
    pub async fn start_handling_events_in_order(backend: &Backend) -> Self {
        let mut system = Self::start(backend).await;
        if let Some(rabbit) = system.rabbit.as_mut() {
            rabbit.concurrency = 1;
            system.restart().await;
        }
        system
    }

    /// With notification's mail settings (SMTP, attempts) set to `mail`; the folder stays the
    /// test's own.
    pub async fn start_with_mail(
        backend: &Backend,
        mail: ps_notification::mail::MailSettings,
    ) -> Self {
        let mut system = Self::start(backend).await;
        system.mail = mail;
        system.restart().await;
        system
    }

    /// Restarts every service with notification's mail settings set to `mail`.
    pub async fn set_mail(&mut self, mail: ps_notification::mail::MailSettings) {
        self.mail = mail;
        self.restart().await;
    }

    /// The directory holding the SQLite files on the embedded backend.
    pub fn data_dir(&self) -> &Path {
        self._dir.path()
    }

    /// With identity's password hashing set to `hashing`.
    pub async fn start_with(
        backend: &Backend,
        hashing: ps_identity::passwords::HashingSettings,
    ) -> Self {
        init_logs();
        let dir = tempfile::tempdir().expect("temporary directory");
        let (external, databases) = match backend {
            Backend::Embedded => (None, Databases::sqlite(dir.path())),
            Backend::External {
                postgres_url,
                amqp_url,
            } => {
                let scratch = scratch(postgres_url, amqp_url).await;
                let databases = scratch.databases.clone();
                (Some(External(Some(scratch))), databases)
            }
        };
        let rabbit = external
            .as_ref()
            .and_then(|e| e.0.as_ref())
            .map(|r| r.rabbit.clone());
        let mail_dir = dir.path().join("mail");
        let clock = Arc::new(ManualClock::starting_now());
        let mut test = Self {
            hashing,
            mail: Default::default(),
            clock,
            addresses: placeholder_addresses(),
            databases,
            mail_dir,
            system: None,
            rabbit,
            service_accounts: Default::default(),
            _external: external,
            _dir: dir,
        };
        test.boot().await;
        test
    }

    async fn boot(&mut self) {
        let listeners = Listeners::bind("127.0.0.1", [0; 4])
            .await
            .expect("binding port 0");
        let system = System::start(
            SystemConfig {
                databases: self.databases.clone(),
                rabbitmq: self.rabbit.clone(),
                mail_folder: self.mail_dir.clone(),
                mail: self.mail.clone(),
                clock: self.clock.clone(),
                operator_token: Secret::new(OPERATOR_TOKEN),
                notification_secret: Secret::new(NOTIFICATION_SECRET),
                signing_key_encryption_key: Secret::new(TEST_KEY_ENCRYPTION_KEY),
                console_url: "https://app.example.test".into(),
                hashing: Some(self.hashing),
                tls: None,
            },
            listeners,
        )
        .await
        .unwrap_or_else(|e| panic!("system failed to start: {e}"));
        self.addresses = system.addresses;
        self.system = Some(system);
    }

    /// Stops every service (graceful drain) and starts them again on the same databases.
    pub async fn restart(&mut self) {
        self.stop_services().await;
        self.boot().await;
    }

    pub async fn stop_services(&mut self) {
        if let Some(system) = self.system.take() {
            system.stopped().await.expect("services stop cleanly");
        }
    }

    pub fn is_external(&self) -> bool {
        self.rabbit.is_some()
    }

    pub fn rabbit(&self) -> Option<&RabbitSettings> {
        self.rabbit.as_ref()
    }

    pub async fn channel(addr: std::net::SocketAddr) -> Channel {
        Channel::from_shared(format!("http://{addr}"))
            .expect("valid address")
            .connect()
            .await
            .expect("service reachable")
    }

    pub async fn identity(&self) -> IdentityServiceClient<Channel> {
        IdentityServiceClient::new(Self::channel(self.addresses.identity).await)
    }

    pub async fn identity_as(&self, person: &Person) -> IdentityServiceClient<Authed> {
        IdentityServiceClient::with_interceptor(
            Self::channel(self.addresses.identity).await,
            bearer(&person.access_token),
        )
    }

    /// identity's internal API, as notification calls it (a service token with the link
    /// scopes).
    pub async fn identity_internal(&self) -> IdentityInternalServiceClient<Authed> {
        let token = self.service_token(ps_auth::scopes::NOTIFICATION).await;
        IdentityInternalServiceClient::with_interceptor(
            Self::channel(self.addresses.identity).await,
            bearer(&token),
        )
    }

    /// Service accounts, managed with the operator credential.
    pub async fn service_accounts_as_operator(&self) -> ServiceAccountServiceClient<Authed> {
        ServiceAccountServiceClient::with_interceptor(
            Self::channel(self.addresses.identity).await,
            Credential::operator(OPERATOR_TOKEN).expect("ascii token"),
        )
    }

    /// A platform-wide service account holding `scopes`: (client id, secret).
    pub async fn service_account(&self, scopes: &[ps_auth::Scope]) -> (String, String) {
        let key = scopes
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        let mut accounts = self.service_accounts.lock().await;
        if let Some(account) = accounts.get(&key) {
            return account.clone();
        }
        let created = self
            .service_accounts_as_operator()
            .await
            .create_service_account(identity::CreateServiceAccountRequest {
                name: format!("test caller {}", accounts.len() + 1),
                description: format!("holds {key}"),
                scopes: scopes.iter().map(|s| s.as_str().to_owned()).collect(),
                ..Default::default()
            })
            .await
            .expect("CreateServiceAccount")
            .into_inner();
        let account = (
            created.service_account.expect("account").id,
            created.client_secret,
        );
        accounts.insert(key, account.clone());
        account
    }

    /// A fresh service token (valid at the test clock's now) of an account holding `scopes`.
    pub async fn service_token(&self, scopes: &[ps_auth::Scope]) -> String {
        let (client_id, client_secret) = self.service_account(scopes).await;
        self.identity()
            .await
            .issue_service_token(identity::IssueServiceTokenRequest {
                client_id,
                client_secret,
                ..Default::default()
            })
            .await
            .expect("IssueServiceToken")
            .into_inner()
            .access_token
    }

    pub async fn staff(&self) -> StaffDirectoryServiceClient<Channel> {
        StaffDirectoryServiceClient::new(Self::channel(self.addresses.staff_directory).await)
    }

    pub async fn staff_as(&self, person: &Person) -> StaffDirectoryServiceClient<Authed> {
        StaffDirectoryServiceClient::with_interceptor(
            Self::channel(self.addresses.staff_directory).await,
            bearer(&person.access_token),
        )
    }

    pub async fn staff_as_operator(&self) -> StaffDirectoryServiceClient<Authed> {
        StaffDirectoryServiceClient::with_interceptor(
            Self::channel(self.addresses.staff_directory).await,
            Credential::operator(OPERATOR_TOKEN).expect("ascii token"),
        )
    }

    /// staff-directory's internal API with a service token holding `scopes`.
    pub async fn staff_internal(
        &self,
        scopes: &[ps_auth::Scope],
    ) -> ps_proto::staff::v1::staff_directory_internal_service_client::StaffDirectoryInternalServiceClient<Authed>{
        let token = self.service_token(scopes).await;
        ps_proto::staff::v1::staff_directory_internal_service_client::StaffDirectoryInternalServiceClient::with_interceptor(
            Self::channel(self.addresses.staff_directory).await,
            bearer(&token),
        )
    }

    /// The authorisation API as another service calls it (a service token with
    /// `orgaccess.check`).
    pub async fn authorization(
        &self,
    ) -> ps_proto::orgaccess::v1::org_access_authorization_service_client::OrgAccessAuthorizationServiceClient<Authed>{
        let token = self
            .service_token(&[ps_auth::scopes::ORGACCESS_CHECK])
            .await;
        ps_proto::orgaccess::v1::org_access_authorization_service_client::OrgAccessAuthorizationServiceClient::with_interceptor(
            Self::channel(self.addresses.org_access).await,
            bearer(&token),
        )
    }

    /// CheckAccess for `user`, as another service asks it.
    pub async fn allowed(&self, user: &Person, organisation: &str, permission: &str) -> bool {
        self.authorization()
            .await
            .check_access(ps_proto::orgaccess::v1::CheckAccessRequest {
                user_id: user.user_id.clone(),
                organisation_id: organisation.into(),
                permission: permission.into(),
                location_id: String::new(),
            })
            .await
            .expect("CheckAccess")
            .into_inner()
            .allowed
    }

    /// ExplainAccess for `user`, as another service asks it; `location` may be empty.
    pub async fn explain_access(
        &self,
        user: &Person,
        organisation: &str,
        permission: &str,
        location: &str,
    ) -> ps_proto::orgaccess::v1::AccessDecision {
        self.authorization()
            .await
            .explain_access(ps_proto::orgaccess::v1::ExplainAccessRequest {
                user_id: user.user_id.clone(),
                organisation_id: organisation.into(),
                permission: permission.into(),
                location_id: location.into(),
            })
            .await
            .expect("ExplainAccess")
            .into_inner()
    }

    /// Creates an organisation, waiting for org-access to know the creator.
    pub async fn create_org(
        &self,
        person: &Person,
        name: &str,
    ) -> ps_proto::orgaccess::v1::Organisation {
        let client = self.org_access_as(person).await;
        eventually(&format!("organisation {name} to be created"), || {
            let mut client = client.clone();
            async move {
                client
                    .create_organisation(ps_proto::orgaccess::v1::CreateOrganisationRequest {
                        name: name.into(),
                        ..Default::default()
                    })
                    .await
                    .ok()
                    .map(tonic::Response::into_inner)
            }
        })
        .await
    }

    /// The id of the practice's role with `name` (built-in or custom).
    pub async fn role_id(&self, person: &Person, name: &str) -> String {
        let roles = self
            .org_access_as(person)
            .await
            .list_roles(ps_proto::orgaccess::v1::ListRolesRequest {})
            .await
            .expect("ListRoles")
            .into_inner()
            .roles;
        roles
            .into_iter()
            .find(|r| r.name == name)
            .unwrap_or_else(|| panic!("role {name}"))
            .id
    }

    pub async fn org_access_as(&self, person: &Person) -> OrgAccessServiceClient<Authed> {
        OrgAccessServiceClient::with_interceptor(
            Self::channel(self.addresses.org_access).await,
            bearer(&person.access_token),
        )
    }

    pub async fn notification_as(&self, person: &Person) -> NotificationServiceClient<Authed> {
        NotificationServiceClient::with_interceptor(
            Self::channel(self.addresses.notification).await,
            bearer(&person.access_token),
        )
    }

    /// Every `.eml` file addressed to `email`.
    pub fn mails_to(&self, email: &str) -> Vec<Mail> {
        mails_in(&self.mail_dir, email)
    }

    /// The newest invitation token for every recipient in the mail folder, read in one pass
    /// (for tests that invite hundreds of people).
    pub fn invitation_tokens(&self) -> std::collections::HashMap<String, String> {
        let mut tokens = std::collections::HashMap::new();
        let Ok(entries) = std::fs::read_dir(&self.mail_dir) else {
            return tokens;
        };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        paths.sort();
        for path in paths {
            let Ok(raw) = std::fs::read_to_string(&path) else {
                continue;
            };
            let content = staffctl::decode_quoted_printable(&raw);
            let recipient = content
                .lines()
                .find_map(|l| l.strip_prefix("To: "))
                .and_then(|to| to.rsplit_once('<'))
                .map(|(_, address)| address.trim_end_matches('>').to_owned());
            if let (Some(recipient), Some(token)) = (
                recipient,
                staffctl::token_in(&content).filter(|_| content.contains("token=")),
            ) {
                tokens.insert(recipient, token);
            }
        }
        tokens
    }

    /// Waits for the `n`-th e-mail to `email` (1-based) and returns it.
    pub async fn wait_for_mail(&self, email: &str, n: usize) -> Mail {
        eventually(&format!("e-mail #{n} to {email}"), || async {
            let mut mails = self.mails_to(email);
            (mails.len() >= n).then(|| mails.swap_remove(n - 1))
        })
        .await
    }

    /// CreatePractice through the operator credential; returns (practice, owner member).
    pub async fn create_practice(
        &self,
        name: &str,
        owner_email: &str,
    ) -> (staff::Practice, staff::StaffMember) {
        let reply = self
            .staff_as_operator()
            .await
            .create_practice(staff::CreatePracticeRequest {
                name: name.into(),
                owner_email: owner_email.into(),
                owner_name: format!("Owner of {name}"),
                ..Default::default()
            })
            .await
            .expect("CreatePractice succeeds")
            .into_inner();
        (
            reply.practice.expect("practice"),
            reply.owner.expect("owner"),
        )
    }

    pub async fn accept(
        &self,
        token: &str,
        password: &str,
    ) -> Result<identity::AcceptInvitationResponse, tonic::Status> {
        self.identity()
            .await
            .accept_invitation(identity::AcceptInvitationRequest {
                token: token.into(),
                password: password.into(),
            })
            .await
            .map(tonic::Response::into_inner)
    }

    pub async fn sign_in(&self, email: &str, password: &str) -> Result<Person, tonic::Status> {
        let reply = self
            .identity()
            .await
            .sign_in(identity::SignInRequest {
                email: email.into(),
                password: password.into(),
                practice_id: String::new(),
            })
            .await?
            .into_inner();
        Ok(Person::from_sign_in(email, password, reply))
    }

    /// Waits until staff-directory lists `email` with `status` for `viewer`.
    pub async fn wait_for_status(
        &self,
        viewer: &Person,
        email: &str,
        status: staff::StaffStatus,
    ) -> staff::StaffMember {
        let mut client = self.staff_as(viewer).await;
        eventually(&format!("{email} to be {status:?}"), || {
            let mut client = client.clone();
            async move {
                let listed = client
                    .list_staff(staff::ListStaffRequest::default())
                    .await
                    .ok()?
                    .into_inner();
                listed
                    .staff
                    .into_iter()
                    .find(|m| m.email == email && m.status == status as i32)
            }
        })
        .await;
        let listed = client
            .list_staff(staff::ListStaffRequest::default())
            .await
            .expect("ListStaff")
            .into_inner();
        listed
            .staff
            .into_iter()
            .find(|m| m.email == email)
            .expect("member listed")
    }

    /// A practice whose Account Owner accepted their invitation and is signed in.
    pub async fn practice_with_owner(&self, name: &str) -> Person {
        let email = format!(
            "owner@{}.example.test",
            name.to_lowercase().replace(' ', "-")
        );
        self.create_practice(name, &email).await;
        let mail = self.wait_for_mail(&email, 1).await;
        let password = "owner-password-1";
        self.accept(&mail.token, password)
            .await
            .expect("owner accepts");
        let owner = self
            .sign_in(&email, password)
            .await
            .expect("owner signs in");
        self.wait_for_status(&owner, &email, staff::StaffStatus::Active)
            .await;
        owner
    }

    /// `inviter` invites `email` with `role`; the invitee accepts and signs in.
    pub async fn member(&self, inviter: &Person, email: &str, role: PracticeRole) -> Person {
        self.staff_as(inviter)
            .await
            .invite_staff(staff::InviteStaffRequest {
                email: email.into(),
                name: format!("Person {email}"),
                practice_role: role as i32,
                ..Default::default()
            })
            .await
            .expect("InviteStaff succeeds");
        let mail = self.wait_for_mail(email, 1).await;
        let password = "member-password-1";
        self.accept(&mail.token, password)
            .await
            .expect("member accepts");
        self.wait_for_status(inviter, email, staff::StaffStatus::Active)
            .await;
        self.sign_in(email, password)
            .await
            .expect("member signs in")
    }

    /// `inviter` invites `email` as `role`; returns the Pending member.
    pub async fn invite(
        &self,
        inviter: &Person,
        email: &str,
        role: PracticeRole,
    ) -> staff::StaffMember {
        self.staff_as(inviter)
            .await
            .invite_staff(staff::InviteStaffRequest {
                email: email.into(),
                name: format!("Person {email}"),
                practice_role: role as i32,
                ..Default::default()
            })
            .await
            .expect("InviteStaff succeeds")
            .into_inner()
    }

    /// The member with `email`, as `viewer` sees them.
    pub async fn staff_member(&self, viewer: &Person, email: &str) -> staff::StaffMember {
        let listed = self
            .staff_as(viewer)
            .await
            .list_staff(staff::ListStaffRequest {
                query: email.into(),
                ..Default::default()
            })
            .await
            .expect("ListStaff")
            .into_inner();
        listed
            .staff
            .into_iter()
            .find(|m| m.email == email)
            .unwrap_or_else(|| panic!("{email} is listed"))
    }

    /// Signs in to a named practice (for people active in several).
    pub async fn sign_in_to(
        &self,
        email: &str,
        password: &str,
        practice_id: &str,
    ) -> Result<Person, tonic::Status> {
        let reply = self
            .identity()
            .await
            .sign_in(identity::SignInRequest {
                email: email.into(),
                password: password.into(),
                practice_id: practice_id.into(),
            })
            .await?
            .into_inner();
        Ok(Person::from_sign_in(email, password, reply))
    }

    /// A direct connection to one service's database, for checking what was (not) written.
    pub async fn database(&self, settings: &DbSettings) -> sea_orm::DatabaseConnection {
        ps_db::connect(settings).await.expect("database reachable")
    }
}

impl Drop for TestSystem {
    fn drop(&mut self) {
        if let Some(system) = &self.system {
            system.shutdown();
        }
    }
}

fn placeholder_addresses() -> Addresses {
    let unset = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    Addresses {
        identity: unset,
        staff_directory: unset,
        org_access: unset,
        notification: unset,
    }
}

/// The access policies of the four services (notification's has no internal method).
pub fn access_policies() -> Vec<ps_auth::AccessPolicy> {
    vec![
        ps_identity::access_policy(),
        ps_staff_directory::access_policy(),
        ps_org_access::access_policy(),
    ]
}

/// Every gRPC service that only service accounts call (`package.Service`).
pub fn internal_services() -> Vec<String> {
    access_policies()
        .iter()
        .flat_map(ps_auth::AccessPolicy::internal_services)
        .collect()
}

pub fn bearer(token: &str) -> Credential {
    Credential::bearer(token).expect("ascii token")
}

/// Every `.eml` file in `dir` addressed to `email`.
pub fn mails_in(dir: &Path, email: &str) -> Vec<Mail> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    // File names are delivery ids (UUIDv7): sorting them orders the e-mails by time.
    paths.sort();
    paths
        .into_iter()
        .filter_map(|path| {
            let content = staffctl::decode_quoted_printable(&std::fs::read_to_string(&path).ok()?);
            let to = content.lines().find(|l| l.starts_with("To: "))?;
            if !to.contains(&format!("<{email}>")) {
                return None;
            }
            let token = content
                .contains("token=")
                .then(|| staffctl::token_in(&content))
                .flatten()
                .unwrap_or_default();
            Some(Mail {
                path,
                content,
                token,
            })
        })
        .collect()
}

/// The BadRequest field names of an InvalidArgument status.
/// The practices a refused sign-in offers (identity.v1.PracticeChoices in the status details):
/// (name, role) of each, in the order given; empty when the status carries none.
pub fn practice_choices(status: &tonic::Status) -> Vec<(String, i32)> {
    ps_grpc::status::detail::<identity::PracticeChoices>(status)
        .map(|choices| choices.practices)
        .unwrap_or_default()
        .into_iter()
        .map(|p| (p.practice_name, p.practice_role))
        .collect()
}

pub fn violated_fields(status: &tonic::Status) -> Vec<String> {
    use tonic_types::StatusExt;
    status
        .get_details_bad_request()
        .map(|b| b.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default()
}
