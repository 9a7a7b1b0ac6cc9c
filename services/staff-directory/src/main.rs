//! Runs staff-directory alone, against PostgreSQL (or SQLite) and RabbitMQ.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    ps_service::main(
        "staff-directory",
        "Practice Staff staff-directory service",
        ps_staff_directory::start,
    )
    .await?;
    Ok(())
}
