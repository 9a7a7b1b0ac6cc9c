//! Runs identity alone, against PostgreSQL (or SQLite) and RabbitMQ.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    ps_service::main(
        "identity",
        "Practice Staff identity service",
        ps_identity::start,
    )
    .await?;
    Ok(())
}
