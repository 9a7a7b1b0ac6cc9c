//! Start-up and shutdown shared by the four services.
//!
//! A service connects and migrates its database, builds its application state around an
//! [`OutboxWaker`], and hands its routes, access policy and event handler to [`launch`], which:
//! starts the event transport (relay and consumer), wraps the routes in the common layers,
//! serves them, and only then reports SERVING. [`Running::wait`] returns after shutdown, once
//! the server drained and the relay and consumer stopped.
//!
//! Dependencies show in health: besides the whole server (`""`) and the service's own gRPC
//! services, grpc.health.v1 answers for [`DATABASE_HEALTH`] (the service's database answers a
//! ping) and [`EVENTS_HEALTH`] (its consumer holds a subscription and its relay's transport
//! answers). They go NOT_SERVING while their dependency is down and back when it returns,
//! checked every second; the whole server keeps SERVING, so a balancer does not drop every
//! replica during an outage that none of them can fix, while requests that need the missing
//! dependency answer UNAVAILABLE.

#![warn(missing_docs)]

pub mod operations;

use std::net::SocketAddr;
use std::sync::Arc;

use ps_auth::{AccessPolicy, AuthLayer, KeySource, TokenSettings, TokenVerifier};
use ps_config::{LogFormat, Secret};
use ps_core::{SharedClock, Shutdown};
use ps_db::DbSettings;
use ps_events::rabbit::RabbitSettings;
use ps_events::relay::RelaySettings;
use ps_events::{EventHandler, EventTransport, EventsRuntime, OutboxWaker};
use ps_grpc::ServeSettings;
use ps_grpc::server::{Served, mark_not_serving, mark_serving};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tracing::info;

/// grpc.health.v1 name of the service's database dependency.
pub const DATABASE_HEALTH: &str = "database";
/// grpc.health.v1 name of the service's event transport (consumer and relay).
pub const EVENTS_HEALTH: &str = "events";
/// How often dependencies are checked.
const DEPENDENCY_CHECK_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Settings every service has. Service binaries read them from their configuration file and
/// `PS_*` environment variables; the launcher fills them in for the embedded default.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CommonConfig {
    /// Where a standalone binary listens.
    pub listen: SocketAddr,
    /// Where a standalone binary serves Prometheus metrics (`GET /metrics`).
    pub admin_listen: SocketAddr,
    /// The service's own database.
    pub database: DbSettings,
    /// The broker a standalone binary uses (the embedded launcher uses the in-process bus).
    pub rabbitmq: RabbitSettings,
    /// Credential for operator RPCs (staff-directory's CreatePractice, every service's
    /// `ops.v1.EventOperations`). Empty disables them.
    #[serde(default)]
    pub operator_token: Secret,
    /// Identity's gRPC address, for token keys (and, for notification, its service token);
    /// `https://` connects over TLS with `client_tls`.
    pub identity_url: String,
    /// The CA (and, for mTLS, this service's certificate) for its connections to others.
    #[serde(default)]
    pub client_tls: ps_auth::ClientTlsSettings,
    /// The issuer and audience access tokens must name.
    pub tokens: TokenSettings,
    /// How the gRPC listener serves (timeouts, concurrency, CORS, TLS).
    pub serve: ServeSettings,
    /// How logs are written.
    pub log_format: LogFormat,
}

impl CommonConfig {
    /// Defaults for a service listening on `port` (metrics on `admin_port`) with its SQLite
    /// file at `data/{name}.db`.
    pub fn defaults(name: &str, port: u16, admin_port: u16) -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], port)),
            admin_listen: SocketAddr::from(([0, 0, 0, 0], admin_port)),
            database: DbSettings::new(format!("sqlite://data/{name}.db?mode=rwc")),
            rabbitmq: RabbitSettings::new("amqp://guest:guest@127.0.0.1:5672/%2f"),
            operator_token: Secret::default(),
            identity_url: "http://127.0.0.1:50051".into(),
            client_tls: Default::default(),
            tokens: TokenSettings::default(),
            serve: ServeSettings::default(),
            log_format: LogFormat::Text,
        }
    }
}

/// What every service receives from whoever starts it (a binary, the launcher, a test).
#[derive(Clone)]
pub struct Environment {
    /// The clock every use case reads.
    pub clock: SharedClock,
    /// How events reach the other services.
    pub events: EventTransport,
    /// Resolves when the service should drain and stop.
    pub shutdown: Shutdown,
}

/// Why a service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Its database could not be reached or migrated.
    #[error("database: {0}")]
    Database(#[from] ps_db::sea_orm::DbErr),
    /// Its event transport could not start.
    #[error("events: {0}")]
    Events(#[from] ps_events::StartError),
    /// Server reflection could not be built from the descriptors.
    #[error("reflection: {0}")]
    Reflection(#[from] ps_grpc::server::ReflectionError),
    /// A setting is invalid; the message names it.
    #[error("configuration: {0}")]
    Config(String),
    /// Anything else, described.
    #[error("{0}")]
    Other(String),
}

/// A service's parts, ready to run.
pub struct Launch {
    /// The service's name (`staff-directory`), for logs, metrics and its broker connection.
    pub name: &'static str,
    /// Fully qualified gRPC service names reported by grpc.health.v1.
    pub health_names: &'static [&'static str],
    /// The service's database, already migrated.
    pub db: ps_db::sea_orm::DatabaseConnection,
    /// The waker its use cases call after committing an outbox event.
    pub waker: OutboxWaker,
    /// What the service does with events it consumes; `None` when it consumes none.
    pub handler: Option<Arc<dyn EventHandler>>,
    /// The service's own gRPC services; health and reflection are added by [`launch`].
    pub add_routes: Box<dyn FnOnce(tonic::service::Routes) -> tonic::service::Routes + Send>,
    /// The credential each of its RPCs needs.
    pub policy: AccessPolicy,
    /// Where identity's public signing keys come from, to verify access tokens.
    pub keys: Arc<dyn KeySource>,
    /// The service's own long-running tasks (they must stop on `Environment::shutdown`).
    pub background: Vec<JoinHandle<()>>,
}

/// A started service.
pub struct Running {
    /// The address the gRPC server listens on (the port chosen when 0 was asked).
    pub addr: SocketAddr,
    server: JoinHandle<Result<(), tonic::transport::Error>>,
    events: EventsRuntime,
    background: Vec<JoinHandle<()>>,
    name: &'static str,
}

impl Running {
    /// Waits until the service stopped (after shutdown was triggered).
    pub async fn wait(self) -> Result<(), String> {
        let served = self.server.await;
        self.events.join().await;
        for task in self.background {
            let _ = task.await;
        }
        info!(service = self.name, "stopped");
        match served {
            Ok(Ok(())) => Ok(()),
            Ok(Err(err)) => Err(format!("{}: {err}", self.name)),
            Err(err) => Err(format!("{}: server task failed: {err}", self.name)),
        }
    }
}

/// The auth layer of a service: its policy (and the operator-only event operations), tokens
/// verified against identity's keys, ended sessions refused.
fn auth_layer(
    policy: AccessPolicy,
    keys: Arc<dyn KeySource>,
    common: &CommonConfig,
    env: &Environment,
    ended_sessions: ps_sessions::EndedSessions,
) -> AuthLayer {
    let verifier = Arc::new(TokenVerifier::new(
        keys,
        common.tokens.clone(),
        env.clock.clone(),
    ));
    AuthLayer::new(
        policy.service("ops.v1.EventOperations", ps_auth::Access::Operator),
        verifier,
        Arc::new(ended_sessions),
        common.operator_token.clone(),
    )
}

/// When the drain starts, every health name of the service answers NOT_SERVING, so balancers
/// stop sending before the listener closes.
async fn not_serving_on_drain(
    health: tonic_health::server::HealthReporter,
    names: &'static [&'static str],
    shutdown: Shutdown,
) {
    shutdown.wait().await;
    mark_not_serving(&health, names).await;
    mark_not_serving(&health, &[DATABASE_HEALTH, EVENTS_HEALTH]).await;
}

/// Starts the service: the event transport, its routes in the common layers, the dependency
/// watch, then reports SERVING. See the crate documentation.
pub async fn launch(
    parts: Launch,
    common: &CommonConfig,
    env: &Environment,
    listener: TcpListener,
) -> Result<Running, StartError> {
    let addr = listener
        .local_addr()
        .map_err(|e| StartError::Other(e.to_string()))?;
    let db = parts.db.clone();
    // Ended sessions: recorded by the consumer (or, in identity, by the use cases), read back
    // by every replica, refused by the auth layer.
    let ended_sessions = ps_sessions::EndedSessions::new(env.clock.clone());
    let sessions_watch = tokio::spawn(ps_sessions::watch(
        db.clone(),
        ended_sessions.clone(),
        env.shutdown.clone(),
    ));
    let handler = parts
        .handler
        .map(|h| ps_sessions::with_sessions(h, db.clone(), ended_sessions.clone()));
    let events = EventsRuntime::start(
        parts.name,
        &env.events,
        parts.db,
        parts.waker,
        handler,
        RelaySettings::default(),
        env.shutdown.clone(),
    )
    .await?;
    let served = Served::new(parts.health_names).await?;
    let operations = ps_grpc::with_message_limits!(
        ps_proto::ops::v1::event_operations_server::EventOperationsServer::new(
            operations::EventOperationsApi {
                service: parts.name,
                dead_letters: events.dead_letters(),
            }
        )
    );
    let routes = (parts.add_routes)(served.routes).add_service(operations);
    let auth = auth_layer(parts.policy, parts.keys, common, env, ended_sessions);
    let dependencies = tokio::spawn(watch_dependencies(
        parts.name,
        db,
        events.status(),
        served.health.clone(),
        env.shutdown.clone(),
    ));
    let health = served.health.clone();
    let shutdown = env.shutdown.clone();
    let names = parts.health_names;
    let name = parts.name;
    let settings = common.serve.clone();
    let tls = settings
        .tls
        .server_config()
        .map_err(|e| StartError::Config(format!("serve.tls: {e}")))?;
    let server = tokio::spawn(async move {
        tokio::spawn(not_serving_on_drain(health, names, shutdown.clone()));
        ps_grpc::serve(name, listener, routes, auth, settings, tls, shutdown).await
    });
    mark_serving(&served.health, parts.health_names).await;
    info!(service = parts.name, %addr, "serving");
    let mut background = parts.background;
    background.push(dependencies);
    background.push(sessions_watch);
    Ok(Running {
        addr,
        server,
        events,
        background,
        name: parts.name,
    })
}

/// Keeps the [`DATABASE_HEALTH`] and [`EVENTS_HEALTH`] statuses (and the `dependency_up`
/// gauges) current until shutdown. A state change is logged once, not every second.
async fn watch_dependencies(
    service: &'static str,
    db: ps_db::sea_orm::DatabaseConnection,
    events: ps_events::EventsStatus,
    health: tonic_health::server::HealthReporter,
    shutdown: Shutdown,
) {
    use tonic_health::ServingStatus;
    let gauge = &ps_telemetry::metrics().dependency_up;
    let mut known: [Option<bool>; 2] = [None, None];
    loop {
        let database_up = matches!(
            tokio::time::timeout(DEPENDENCY_CHECK_EVERY * 2, db.ping()).await,
            Ok(Ok(()))
        );
        let events_up = events.health().is_up();
        if shutdown.is_triggered() {
            return;
        }
        for (i, (name, up)) in [(DATABASE_HEALTH, database_up), (EVENTS_HEALTH, events_up)]
            .into_iter()
            .enumerate()
        {
            gauge.with_label_values(&[service, name]).set(i64::from(up));
            if known[i] == Some(up) {
                continue;
            }
            if known[i].is_some() {
                if up {
                    info!(service, dependency = name, "dependency is back");
                } else {
                    tracing::warn!(service, dependency = name, "dependency is down");
                }
            }
            known[i] = Some(up);
            let status = if up {
                ServingStatus::Serving
            } else {
                ServingStatus::NotServing
            };
            health.set_service_status(name, status).await;
        }
        tokio::select! {
            _ = tokio::time::sleep(DEPENDENCY_CHECK_EVERY) => {}
            _ = shutdown.clone().wait() => return,
        }
    }
}

/// Environment for a standalone binary: the real clock and RabbitMQ.
pub fn standalone_environment(common: &CommonConfig, shutdown: Shutdown) -> Environment {
    Environment {
        clock: Arc::new(ps_core::SystemClock),
        events: EventTransport::RabbitMq(common.rabbitmq.clone()),
        shutdown,
    }
}

/// A service's configuration: its own settings around the [`CommonConfig`].
pub trait ServiceConfig:
    Serialize + serde::de::DeserializeOwned + Default + Send + 'static
{
    /// The settings every service has.
    fn common(&self) -> &CommonConfig;
}

/// Why a service binary stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum StandaloneError {
    /// The configuration is invalid; the message names the setting.
    #[error(transparent)]
    Config(#[from] ps_config::ConfigError),
    /// A required setting is missing.
    #[error("{0}")]
    Missing(&'static str),
    /// Logs or trace export could not be set up.
    #[error("telemetry: {0}")]
    Telemetry(String),
    /// A port could not be bound.
    #[error("binding {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why binding failed.
        source: std::io::Error,
    },
    /// The service could not start.
    #[error(transparent)]
    Start(#[from] StartError),
    /// The server stopped with an error.
    #[error("{0}")]
    Stopped(String),
    /// `--print-config` could not render the configuration.
    #[error("printing the configuration: {0}")]
    Printing(String),
}

/// The body of every service binary: load configuration (file, then `PS_*` variables), set
/// up logs, traces and signals, bind the gRPC and admin (metrics) ports, start against
/// RabbitMQ, and wait for shutdown.
pub async fn run_standalone<C, F, Fut>(
    name: &'static str,
    config: C,
    start: F,
) -> Result<(), StandaloneError>
where
    C: ServiceConfig,
    F: FnOnce(C, Environment, TcpListener) -> Fut,
    Fut: Future<Output = Result<Running, StartError>>,
{
    let telemetry =
        ps_telemetry::init(name, config.common().log_format).map_err(StandaloneError::Telemetry)?;
    let (trigger, shutdown) = Shutdown::new();
    ps_grpc::signals::install(trigger);
    let addr = config.common().listen;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| StandaloneError::Bind { addr, source })?;
    let admin_addr = config.common().admin_listen;
    let admin_listener =
        TcpListener::bind(admin_addr)
            .await
            .map_err(|source| StandaloneError::Bind {
                addr: admin_addr,
                source,
            })?;
    let admin = tokio::spawn(ps_telemetry::serve_admin(
        admin_listener,
        shutdown.clone().wait(),
    ));
    info!(service = name, admin = %admin_addr, exporting_traces = telemetry.exporting(), "metrics at /metrics");
    let env = standalone_environment(config.common(), shutdown);
    let running = start(config, env, listener).await?;
    let stopped = running.wait().await.map_err(StandaloneError::Stopped);
    let _ = admin.await;
    telemetry.shutdown();
    stopped
}

/// `main` of a service binary: `--config <file>` (or `PS_CONFIG`), `--print-config`, then
/// [`run_standalone`]. An invalid setting stops start-up with a message naming it.
pub async fn main<C, F, Fut>(
    name: &'static str,
    about: &'static str,
    start: F,
) -> Result<(), StandaloneError>
where
    C: ServiceConfig,
    F: FnOnce(C, Environment, TcpListener) -> Fut,
    Fut: Future<Output = Result<Running, StartError>>,
{
    let args = clap::Command::new(name)
        .about(about)
        .arg(
            clap::Arg::new("config")
                .long("config")
                .env("PS_CONFIG")
                .value_parser(clap::value_parser!(std::path::PathBuf))
                .help("TOML configuration file; PS_* environment variables override it"),
        )
        .arg(
            clap::Arg::new("print-config")
                .long("print-config")
                .action(clap::ArgAction::SetTrue)
                .help("Print the effective configuration (secrets redacted) as TOML and exit"),
        )
        .get_matches();
    let file = args.get_one::<std::path::PathBuf>("config");
    let config: C = ps_config::load(file.map(|p| p.as_path()), "PS_")?;
    if args.get_flag("print-config") {
        let printed = ps_config::redacted_toml(&config).map_err(StandaloneError::Printing)?;
        print!("{printed}");
        return Ok(());
    }
    run_standalone(name, config, start).await
}
