//! Runs notification alone, against PostgreSQL (or SQLite) and RabbitMQ.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    ps_service::main(
        "notification",
        "Practice Staff notification service",
        ps_notification::start,
    )
    .await?;
    Ok(())
}
