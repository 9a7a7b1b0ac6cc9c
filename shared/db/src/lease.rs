//! Rows claimed with a lease: a worker (the outbox relay, the mailer) sets `claimed_until` on
//! the rows it takes, and other workers skip them until then. The holder renews the lease
//! every third of its length for as long as it works on them, so the lease can be short: a
//! worker that dies stops renewing, and its rows are free again within one lease, not after
//! the longest time a batch could ever take.
//!
//! Time is wall-clock (`Utc::now`), like the claims themselves, never the injected business
//! clock: a test that moves its clock must not make claims look expired or eternal.

use std::time::Duration;

use chrono::Utc;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use tokio::sync::oneshot;
use tracing::debug;
use uuid::Uuid;

/// The column every leased table has.
pub const CLAIMED_UNTIL: &str = "claimed_until";

/// `claimed_until` for a claim taken now.
pub fn until(lease: Duration) -> chrono::DateTime<Utc> {
    Utc::now() + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX)
}

/// Keeps rows claimed while it lives; dropping it stops the renewals (a statement already
/// under way finishes first, so no query is cut off mid-flight).
#[derive(Debug)]
pub struct Lease {
    stop: Option<oneshot::Sender<()>>,
}

impl Lease {
    /// Renews the claim on `ids` in `table` (a table with `id` and `claimed_until` columns)
    /// every third of `lease`. Rows whose claim was released (`claimed_until` NULL, as when the
    /// holder settled them) are left alone.
    pub fn keep(
        db: DatabaseConnection,
        table: &'static str,
        ids: Vec<Uuid>,
        lease: Duration,
    ) -> Self {
        let (stop, mut stopped) = oneshot::channel();
        if !ids.is_empty() {
            tokio::spawn(async move {
                let every = (lease / 3).max(Duration::from_millis(50));
                loop {
                    tokio::select! {
                        _ = tokio::time::sleep(every) => {}
                        _ = &mut stopped => return,
                    }
                    let renew = Query::update()
                        .table(Alias::new(table))
                        .value(Alias::new(CLAIMED_UNTIL), until(lease))
                        .and_where(Expr::col(Alias::new("id")).is_in(ids.iter().copied()))
                        .and_where(Expr::col(Alias::new(CLAIMED_UNTIL)).is_not_null())
                        .to_owned();
                    if let Err(err) = db.execute(&renew).await {
                        // The next tick tries again; if the database stays away, the lease
                        // runs out and another worker may take the rows (consumers of both
                        // tables are idempotent).
                        debug!(table, error = %err, "renewing a claim failed");
                    }
                }
            });
        }
        Self { stop: Some(stop) }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Releases every claim in `table`: for SQLite at start-up, where only this process ever
/// writes the file, so a claim still standing was left by its own previous run (a crash) and
/// nobody else can be holding it.
pub async fn release_all<C: ConnectionTrait>(
    conn: &C,
    table: &'static str,
) -> Result<u64, sea_orm::DbErr> {
    let release = Query::update()
        .table(Alias::new(table))
        .value(
            Alias::new(CLAIMED_UNTIL),
            Expr::value(None::<chrono::DateTime<Utc>>),
        )
        .and_where(Expr::col(Alias::new(CLAIMED_UNTIL)).is_not_null())
        .to_owned();
    Ok(conn.execute(&release).await?.rows_affected())
}
