//! The whole system in one process: the four services, each on its own port with its own
//! database, events travelling through each service's outbox and the in-process bus (or
//! RabbitMQ, when configured), e-mails written to a folder.
//!
//! The `practice-staff` binary uses this with SQLite files under a data directory; the system
//! tests use it with temporary directories, a movable clock and, on CI, PostgreSQL and RabbitMQ.

pub mod console;
pub mod local_credential;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use ps_config::Secret;
use ps_core::{SharedClock, Shutdown, ShutdownTrigger};
use ps_db::DbSettings;
use ps_events::EventTransport;
use ps_events::in_process::InProcessBus;
use ps_service::{CommonConfig, Environment, Running, StartError};
use tokio::net::TcpListener;
use tracing::info;

/// Each service's database.
#[derive(Debug, Clone)]
pub struct Databases {
    pub identity: DbSettings,
    pub staff_directory: DbSettings,
    pub org_access: DbSettings,
    pub notification: DbSettings,
}

impl Databases {
    /// One SQLite file per service in `dir`.
    pub fn sqlite(dir: &Path) -> Self {
        Self {
            identity: DbSettings::sqlite_file(&dir.join("identity.db")),
            staff_directory: DbSettings::sqlite_file(&dir.join("staff-directory.db")),
            org_access: DbSettings::sqlite_file(&dir.join("org-access.db")),
            notification: DbSettings::sqlite_file(&dir.join("notification.db")),
        }
    }
}

/// The four listening sockets, bound by the caller (port 0 in tests).
pub struct Listeners {
    pub identity: TcpListener,
    pub staff_directory: TcpListener,
    pub org_access: TcpListener,
    pub notification: TcpListener,
}

impl Listeners {
    pub async fn bind(host: &str, ports: [u16; 4]) -> std::io::Result<Self> {
        let bind = |port| TcpListener::bind((host.to_owned(), port));
        Ok(Self {
            identity: bind(ports[0]).await?,
            staff_directory: bind(ports[1]).await?,
            org_access: bind(ports[2]).await?,
            notification: bind(ports[3]).await?,
        })
    }
}

/// Where to reach each service.
#[derive(Debug, Clone, Copy)]
pub struct Addresses {
    pub identity: SocketAddr,
    pub staff_directory: SocketAddr,
    pub org_access: SocketAddr,
    pub notification: SocketAddr,
}

pub struct SystemConfig {
    pub databases: Databases,
    /// `None`: the in-process bus (embedded default).
    pub rabbitmq: Option<ps_events::rabbit::RabbitSettings>,
    pub mail_folder: PathBuf,
    /// Other mail settings (SMTP, attempts); `folder` is taken from `mail_folder`.
    pub mail: ps_notification::mail::MailSettings,
    pub clock: SharedClock,
    pub operator_token: Secret,
    /// notification's client secret: identity provisions the product's notification service
    /// account with it, and notification signs in with it to mint and void links.
    pub notification_secret: Secret,
    /// Seals identity's token signing keys in its database (32 bytes, base64).
    pub signing_key_encryption_key: Secret,
    /// Where people reach the web console (no trailing slash), e.g. `http://localhost:8080`:
    /// the links in e-mails point into it, and the services accept grpc-web from its origin.
    pub console_url: String,
    /// Overrides argon2 settings (tests may raise the queue bound).
    pub hashing: Option<ps_identity::passwords::HashingSettings>,
    /// TLS on every listener and on the services' calls to each other; `None`: plaintext
    /// (the launcher's loopback default).
    pub tls: Option<SystemTls>,
}

/// The certificates of a TLS system: every service serves `server` (with client-certificate
/// checks when it names a CA) and calls the others with `client`.
#[derive(Debug, Clone)]
pub struct SystemTls {
    pub server: ps_grpc::TlsSettings,
    pub client: ps_auth::ClientTlsSettings,
}

/// The origins a browser may call the services from: the console's, and its loopback twin
/// (`localhost` and `127.0.0.1` are different origins to a browser).
fn console_origins(console_url: &str) -> Vec<String> {
    let mut origins = vec![console_url.to_owned()];
    for (from, to) in [
        ("//localhost", "//127.0.0.1"),
        ("//127.0.0.1", "//localhost"),
    ] {
        if console_url.contains(from) {
            origins.push(console_url.replacen(from, to, 1));
        }
    }
    origins
}

/// Each service's configuration, derived from the system's and the addresses it listens on.
struct ServiceConfigs {
    identity: ps_identity::Config,
    staff_directory: ps_staff_directory::Config,
    org_access: ps_org_access::Config,
    notification: ps_notification::Config,
}

impl ServiceConfigs {
    fn new(config: &SystemConfig, addresses: &Addresses) -> Self {
        let operator_token = config.operator_token.clone();
        let console_url = config.console_url.trim_end_matches('/').to_owned();
        let cors_origins = console_origins(&console_url);
        let tls = &config.tls;
        let scheme = if tls.is_some() { "https" } else { "http" };
        let common = |name: &str, database: &DbSettings| {
            let mut common = CommonConfig {
                database: database.clone(),
                operator_token: operator_token.clone(),
                identity_url: format!("{scheme}://{}", addresses.identity),
                ..CommonConfig::defaults(name, 0, 0)
            };
            common.serve.cors_origins = cors_origins.clone();
            if let Some(tls) = tls {
                common.serve.tls = tls.server.clone();
                common.client_tls = tls.client.clone();
            }
            common
        };

        let mut identity_config = ps_identity::Config {
            common: common("identity", &config.databases.identity),
            invitation_url: format!("{console_url}/invitation?token={{token}}"),
            password_reset_url: format!("{console_url}/reset-password?token={{token}}"),
            signing: ps_identity::config::SigningSettings {
                key_encryption_key: config.signing_key_encryption_key.clone(),
                ..Default::default()
            },
            product_accounts: ps_identity::config::ProductAccounts {
                notification_secret: config.notification_secret.clone(),
            },
            ..ps_identity::Config::default()
        };
        if let Some(hashing) = config.hashing {
            identity_config.hashing = hashing;
        }
        Self {
            identity: identity_config,
            staff_directory: ps_staff_directory::Config {
                common: common("staff-directory", &config.databases.staff_directory),
                ..ps_staff_directory::Config::default()
            },
            org_access: ps_org_access::Config {
                common: common("org-access", &config.databases.org_access),
            },
            notification: ps_notification::Config {
                common: common("notification", &config.databases.notification),
                mail: ps_notification::mail::MailSettings {
                    folder: config.mail_folder.clone(),
                    ..config.mail.clone()
                },
                certification_url: format!("{console_url}/certification"),
                org_invitations_url: format!("{console_url}/organisation-invitations"),
                credentials: ps_auth::ServiceCredentialSettings {
                    client_id: ps_auth::scopes::NOTIFICATION_ACCOUNT_ID.to_string(),
                    client_secret: config.notification_secret.clone(),
                    ..Default::default()
                },
            },
        }
    }
}

/// The running system.
pub struct System {
    pub addresses: Addresses,
    trigger: ShutdownTrigger,
    running: Vec<Running>,
}

impl System {
    pub async fn start(config: SystemConfig, listeners: Listeners) -> Result<Self, StartError> {
        let (trigger, shutdown) = Shutdown::new();
        let addr = |l: &TcpListener| l.local_addr().map_err(|e| StartError::Other(e.to_string()));
        let addresses = Addresses {
            identity: addr(&listeners.identity)?,
            staff_directory: addr(&listeners.staff_directory)?,
            org_access: addr(&listeners.org_access)?,
            notification: addr(&listeners.notification)?,
        };
        let bus = InProcessBus::new();
        let events = match &config.rabbitmq {
            Some(rabbit) => EventTransport::RabbitMq(rabbit.clone()),
            None => EventTransport::InProcess(bus.clone()),
        };
        let env = Environment {
            clock: config.clock.clone(),
            events,
            shutdown,
        };
        let configs = ServiceConfigs::new(&config, &addresses);
        let mut running = Vec::new();
        running.push(ps_identity::start(configs.identity, env.clone(), listeners.identity).await?);
        running.push(
            ps_staff_directory::start(
                configs.staff_directory,
                env.clone(),
                listeners.staff_directory,
            )
            .await?,
        );
        running.push(
            ps_org_access::start(configs.org_access, env.clone(), listeners.org_access).await?,
        );
        running.push(
            ps_notification::start(configs.notification, env.clone(), listeners.notification)
                .await?,
        );
        // Every consumer has subscribed: let events flow.
        bus.open();
        info!("all services serving");
        Ok(Self {
            addresses,
            trigger,
            running,
        })
    }

    /// Starts the drain of every service.
    pub fn shutdown(&self) {
        self.trigger.trigger();
    }

    /// Stops every service (if not already stopping) and waits until each has drained.
    pub async fn stopped(self) -> Result<(), String> {
        self.trigger.trigger();
        let mut errors = Vec::new();
        for service in self.running {
            if let Err(err) = service.wait().await {
                errors.push(err);
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }
}
