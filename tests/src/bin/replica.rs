//! One service as a process of its own, for the system suite's several-replicas test.
//!
//! `replica <identity|staff-directory|org-access|notification>` runs the service exactly as
//! its own binary does (configuration from `PS_*` variables, `run_standalone`: PostgreSQL or
//! SQLite, RabbitMQ, SIGTERM drains). It lives in the test package so that the suite finds it
//! through `CARGO_BIN_EXE_replica`, built with the suite and nothing else.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let service = std::env::args().nth(1).unwrap_or_default();
    match service.as_str() {
        "identity" => {
            let config: ps_identity::Config = ps_config::load(None, "PS_")?;
            ps_service::run_standalone("identity", config, ps_identity::start).await?;
        }
        "staff-directory" => {
            let config: ps_staff_directory::Config = ps_config::load(None, "PS_")?;
            ps_service::run_standalone("staff-directory", config, ps_staff_directory::start)
                .await?;
        }
        "org-access" => {
            let config: ps_org_access::Config = ps_config::load(None, "PS_")?;
            ps_service::run_standalone("org-access", config, ps_org_access::start).await?;
        }
        "notification" => {
            let config: ps_notification::Config = ps_config::load(None, "PS_")?;
            ps_service::run_standalone("notification", config, ps_notification::start).await?;
        }
        other => anyhow::bail!(
            "unknown service {other:?}: expected identity, staff-directory, org-access or notification"
        ),
    }
    Ok(())
}
