//! `practice-staff`: the whole system on one machine (SQLite files, in-process events,
//! e-mails as `.eml` files). Run it, then use `staffctl` (see the README).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use practice_staff::{Databases, Listeners, System, SystemConfig};
use ps_config::Secret;

#[derive(Parser)]
#[command(about = "Practice Staff: all four services in one process")]
struct Args {
    /// SQLite files, the mail folder and the operator token live here.
    #[arg(long, env = "PS_DATA_DIR", default_value = "data")]
    data_dir: PathBuf,
    /// Address to listen on.
    #[arg(long, env = "PS_BIND", default_value = "127.0.0.1")]
    bind: String,
    #[arg(long, env = "PS_IDENTITY_PORT", default_value_t = 50051)]
    identity_port: u16,
    #[arg(long, env = "PS_STAFF_DIRECTORY_PORT", default_value_t = 50052)]
    staff_directory_port: u16,
    #[arg(long, env = "PS_ORG_ACCESS_PORT", default_value_t = 50053)]
    org_access_port: u16,
    #[arg(long, env = "PS_NOTIFICATION_PORT", default_value_t = 50054)]
    notification_port: u16,
    /// Prometheus metrics of all four services (labelled by service) at /metrics.
    #[arg(long, env = "PS_ADMIN_PORT", default_value_t = 9464)]
    admin_port: u16,
    /// The web console (and the links in e-mails) at http://localhost:<port>/.
    #[arg(long, env = "PS_CONSOLE_PORT", default_value_t = 8080)]
    console_port: u16,
    /// The built console (`npm --prefix console ci && npm --prefix console run build`).
    #[arg(long, env = "PS_CONSOLE_DIR", default_value = "console/dist")]
    console_dir: PathBuf,
    /// Where people open the console, if not http://localhost:<console port> (a reverse proxy,
    /// another host name): the links in e-mails point there and the services accept its origin.
    #[arg(long, env = "PS_PUBLIC_URL")]
    public_url: Option<String>,
}

/// A secret kept in the data directory (mode 0600): the operator credential (so staffctl can
/// read it) and the key that seals identity's signing keys. Made by `generate` on first start.
fn kept_secret(path: &std::path::Path, generate: fn() -> String) -> anyhow::Result<Secret> {
    if let Ok(existing) = std::fs::read_to_string(path) {
        return Ok(Secret::new(existing.trim()));
    }
    let token = generate();
    std::fs::write(path, &token).with_context(|| format!("writing {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(Secret::new(token))
}

/// The whole system on the embedded default (SQLite files and in-process events in the data
/// directory), its secrets generated once and kept there.
fn embedded(args: &Args, operator_token: &Secret) -> anyhow::Result<SystemConfig> {
    Ok(SystemConfig {
        databases: Databases::sqlite(&args.data_dir),
        rabbitmq: None,
        mail_folder: args.data_dir.join("mail"),
        mail: Default::default(),
        clock: Arc::new(ps_core::SystemClock),
        operator_token: operator_token.clone(),
        signing_key_encryption_key: kept_secret(
            &args.data_dir.join("signing-key-encryption-key"),
            ps_identity::app::keyring::Kek::generate,
        )?,
        // notification's own service account: identity provisions it with this secret.
        notification_secret: kept_secret(
            &args.data_dir.join("notification-client-secret"),
            ps_auth::random_token,
        )?,
        console_url: args
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://localhost:{}", args.console_port)),
        hashing: None,
        tls: None,
    })
}

/// Where the local services' credential is written, in the data directory.
const CREDENTIAL_FILE: &str = "service-credentials.json";

/// What runs where, and what to do next.
fn print_banner(
    args: &Args,
    started: Instant,
    a: &practice_staff::Addresses,
    admin_addr: std::net::SocketAddr,
    console_addr: std::net::SocketAddr,
) {
    let console_note = if practice_staff::console::is_built(&args.console_dir) {
        String::new()
    } else {
        format!(
            " (not built: run `{}`)",
            practice_staff::console::BUILD_COMMAND
        )
    };
    let mail_folder = args.data_dir.join("mail");
    let operator_token_file = args.data_dir.join("operator-token");
    let credential_file = args.data_dir.join(CREDENTIAL_FILE);
    println!(
        "\nPractice Staff is running: all services SERVING after {} ms (embedded: SQLite + in-process events)\n\
         \n  console           http://localhost:{}/{}\n  identity          {}\n  staff-directory   {}\n  org-access        {}\n  notification      {}\n  metrics           http://{}/metrics\n\
         \n  data directory    {}\n  e-mails           {}\n  operator token    {}\n  service account   {} (orgaccess.check, staff.read: for services on this machine)\n\
         \nNext: staffctl bootstrap --practice \"My Practice\" --owner-email you@example.com --owner-name \"Your Name\"\n\
         Stop with Ctrl-C.\n",
        started.elapsed().as_millis(),
        console_addr.port(),
        console_note,
        a.identity,
        a.staff_directory,
        a.org_access,
        a.notification,
        admin_addr,
        args.data_dir.display(),
        mail_folder.display(),
        operator_token_file.display(),
        credential_file.display(),
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let started = Instant::now();
    let args = Args::parse();
    let telemetry = ps_telemetry::init("practice-staff", ps_config::LogFormat::Text)
        .map_err(anyhow::Error::msg)?;
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating {}", args.data_dir.display()))?;
    let operator_token_file = args.data_dir.join("operator-token");
    let ports = [
        args.identity_port,
        args.staff_directory_port,
        args.org_access_port,
        args.notification_port,
    ];
    let listeners = Listeners::bind(&args.bind, ports)
        .await
        .with_context(|| format!("binding {} on ports {ports:?}", args.bind))?;
    let admin_listener = tokio::net::TcpListener::bind((args.bind.as_str(), args.admin_port))
        .await
        .with_context(|| format!("binding {} on admin port {}", args.bind, args.admin_port))?;
    let admin_addr = admin_listener.local_addr()?;
    let console_listener = tokio::net::TcpListener::bind((args.bind.as_str(), args.console_port))
        .await
        .with_context(|| {
            format!(
                "binding {} on console port {}",
                args.bind, args.console_port
            )
        })?;
    let console_addr = console_listener.local_addr()?;
    let (admin_stop, admin_stopping) = ps_core::Shutdown::new();
    let admin = tokio::spawn(ps_telemetry::serve_admin(
        admin_listener,
        admin_stopping.wait(),
    ));
    let operator_token = kept_secret(&operator_token_file, ps_auth::random_token)?;
    let system = System::start(embedded(&args, &operator_token)?, listeners).await?;
    let a = system.addresses;
    let credential_file = args.data_dir.join(CREDENTIAL_FILE);
    practice_staff::local_credential::ensure(&credential_file, a.identity, operator_token.expose())
        .await
        .context("writing the local services' credential")?;
    let (console_stop, console_stopping) = ps_core::Shutdown::new();
    let console = tokio::spawn(practice_staff::console::serve(
        console_listener,
        practice_staff::console::router(args.console_dir.clone(), &a),
        console_stopping.wait(),
    ));
    print_banner(&args, started, &a, admin_addr, console_addr);
    let (trigger, signalled) = ps_core::Shutdown::new();
    ps_grpc::signals::install(trigger);
    signalled.wait().await;
    system.shutdown();
    let stopped = tokio::time::timeout(Duration::from_secs(30), system.stopped())
        .await
        .context("services did not stop within 30 s")?
        .map_err(anyhow::Error::msg);
    admin_stop.trigger();
    console_stop.trigger();
    let _ = admin.await;
    let _ = console.await;
    telemetry.shutdown();
    stopped
}
