//! Runs org-access alone, against PostgreSQL (or SQLite) and RabbitMQ.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    ps_service::main(
        "org-access",
        "Practice Staff org-access service",
        ps_org_access::start,
    )
    .await?;
    Ok(())
}
