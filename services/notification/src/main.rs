//! Runs notification alone, against PostgreSQL (or SQLite) and RabbitMQ.

use clap::Parser;

#[derive(Parser)]
#[command(about = "Practice Staff notification service")]
struct Args {
    /// TOML configuration file; PS_* environment variables override it.
    #[arg(long, env = "PS_CONFIG")]
    config: Option<std::path::PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    ps_service::run_standalone(args.config.as_deref(), ps_notification::start).await?;
    Ok(())
}
