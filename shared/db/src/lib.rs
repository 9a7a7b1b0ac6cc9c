//! Database connections for the services: PostgreSQL in production, one SQLite file per
//! service on the embedded default.
//!
//! SQLite gets WAL, a busy timeout and a single connection, so write transactions are
//! serialised instead of failing with SQLITE_BUSY when two of them upgrade from read to write
//! (sea-orm drops `FOR UPDATE` there, so no correctness may hang on row locks anyway), and
//! `secure_delete`, so a cleared value does not linger in freed pages of the file.
//!
//! Waits are bounded: acquiring a connection ([`DbSettings::acquire_timeout`]) and, on
//! PostgreSQL, every statement ([`DbSettings::statement_timeout`]). A database that cannot be
//! reached therefore fails a request within seconds, and [`classify`] tells such an outage
//! (retry later: UNAVAILABLE) from a bug (INTERNAL).
//!
//! - [`lease`]: rows claimed by one worker with a lease it keeps renewing while it works.
//! - [`idempotency`]: request ids recorded with what they created, so retries are safe.
//! - [`tenancy`]: every query on a practice's rows narrowed to that practice, one way.
//! - [`stored`]: statuses stored through sea-orm active enums mirroring the domain's.

#![warn(missing_docs)]

pub mod idempotency;
pub mod lease;
pub mod stored;
pub mod tenancy;

use std::time::Duration;

use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection, DbErr,
};
use sea_orm_migration::MigratorTrait;

pub use sea_orm;

/// A service's database: the pool its store queries through. Use cases hold it and hand it
/// (or a [`Tx`]) to the store without building queries themselves.
pub type Db = DatabaseConnection;

/// An open transaction: every write of one use case, committed together with its audit entry
/// and its outbox event (`tx.commit().await?`), or rolled back when dropped.
pub type Tx = sea_orm::DatabaseTransaction;

/// Opens a transaction on `db`.
pub async fn begin(db: &Db) -> Result<Tx, DbErr> {
    sea_orm::TransactionTrait::begin(db).await
}

/// How to reach a service's database.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DbSettings {
    /// `sqlite://path/to/file.db` or `postgres://user@host:5432/dbname`.
    pub url: String,
    /// PostgreSQL pool size; SQLite always uses one connection.
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
    /// How long a request waits for a pooled connection (or a new one) before failing as
    /// unavailable: while the database is down, requests answer within this bound instead of
    /// piling up until their deadline.
    #[serde(default = "default_acquire_timeout", with = "humantime_serde")]
    pub acquire_timeout: Duration,
    /// PostgreSQL's `statement_timeout` on every connection: a statement stuck on a lock or a
    /// half-open connection ends instead of holding its request (and its connection) forever.
    #[serde(default = "default_statement_timeout", with = "humantime_serde")]
    pub statement_timeout: Duration,
}

fn default_max_connections() -> u32 {
    10
}
fn default_acquire_timeout() -> Duration {
    Duration::from_secs(5)
}
fn default_statement_timeout() -> Duration {
    Duration::from_secs(30)
}

impl DbSettings {
    /// Settings for `url` with the defaults: 10 connections, 5 s to acquire one, 30 s a statement.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_connections: default_max_connections(),
            acquire_timeout: default_acquire_timeout(),
            statement_timeout: default_statement_timeout(),
        }
    }

    /// A SQLite file, created when missing.
    pub fn sqlite_file(path: &std::path::Path) -> Self {
        Self::new(format!("sqlite://{}?mode=rwc", path.display()))
    }

    /// The URL without its password, for logs and start-up banners.
    pub fn redacted_url(&self) -> String {
        redact_url(&self.url)
    }
}

pub use ps_config::redact_url;

/// Opens the pool with the settings each backend needs.
pub async fn connect(settings: &DbSettings) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(settings.url.clone());
    options
        .sqlx_logging(false)
        .connect_timeout(settings.acquire_timeout)
        .acquire_timeout(settings.acquire_timeout);
    if settings.url.starts_with("sqlite:") {
        options
            .max_connections(1)
            .min_connections(1)
            // The one connection lives as long as the pool: an idle timeout would only
            // reopen the same file.
            .idle_timeout(None::<Duration>)
            .max_lifetime(None::<Duration>)
            .map_sqlx_sqlite_opts(|o| {
                o.journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(10))
                    .foreign_keys(true)
                    .create_if_missing(true)
                    .pragma("secure_delete", "ON")
            });
    } else {
        let statement_timeout = format!("{}ms", settings.statement_timeout.as_millis().max(1));
        // Two at least: start-up holds one for the migration lock while migrating on another.
        options
            .max_connections(settings.max_connections.max(2))
            .map_sqlx_postgres_opts(move |o| {
                o.options([("statement_timeout", statement_timeout.as_str())])
            });
    }
    Database::connect(options).await
}

/// Connects and brings the schema up to date.
///
/// On PostgreSQL several replicas may start at once: the migrations run under a session
/// advisory lock (advisory locks are per database, so the key only has to be fixed), held on a
/// connection of its own. The first replica migrates; the others wait, then find nothing to do.
/// A replica that dies while migrating drops its connection and with it the lock.
pub async fn connect_and_migrate<M: MigratorTrait>(
    settings: &DbSettings,
) -> Result<DatabaseConnection, DbErr> {
    let db = connect(settings).await?;
    if is_postgres(&db) {
        use sea_orm::sqlx::Executor;
        let pool = db.get_postgres_connection_pool();
        let mut guard = pool
            .acquire()
            .await
            .map_err(|e| DbErr::Migration(format!("a connection for the migration lock: {e}")))?;
        let lock = |sql: &'static str| sea_orm::sqlx::query(sql).bind(MIGRATION_LOCK_KEY);
        guard
            .execute(lock("SELECT pg_advisory_lock($1)"))
            .await
            .map_err(|e| DbErr::Migration(format!("taking the migration lock: {e}")))?;
        let migrated = M::up(&db, None).await;
        guard
            .execute(lock("SELECT pg_advisory_unlock($1)"))
            .await
            .map_err(|e| DbErr::Migration(format!("releasing the migration lock: {e}")))?;
        migrated?;
    } else {
        M::up(&db, None).await?;
    }
    Ok(db)
}

/// The advisory lock key the migrations run under ("psmigrat" in ASCII).
pub const MIGRATION_LOCK_KEY: i64 = 0x7073_6d69_6772_6174;

/// Connections of a pool: open, idle among them, and the most it may open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolState {
    /// Connections open now, idle or in use.
    pub size: u32,
    /// Open connections not in use.
    pub idle: u32,
    /// The most connections the pool may open.
    pub max: u32,
}

/// The pool's current state, for metrics.
pub fn pool_state(db: &DatabaseConnection) -> PoolState {
    fn of<DB: sea_orm::sqlx::Database>(pool: &sea_orm::sqlx::Pool<DB>) -> PoolState {
        PoolState {
            size: pool.size(),
            idle: u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
            max: pool.options().get_max_connections(),
        }
    }
    match db.get_database_backend() {
        DatabaseBackend::Postgres => of(db.get_postgres_connection_pool()),
        DatabaseBackend::Sqlite => of(db.get_sqlite_connection_pool()),
        _ => PoolState {
            size: 0,
            idle: 0,
            max: 0,
        },
    }
}

/// What kind of failure a database error is, for choosing the answer to a caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The database could not be reached or is not answering (connection refused or lost,
    /// pool timed out, server shutting down or out of connections): retry later.
    Unavailable,
    /// A concurrent transaction got in the way (serialization failure, deadlock, SQLite busy):
    /// retrying the whole operation may succeed.
    Conflict,
    /// Anything else: a bug or bad data.
    Other,
}

/// Classifies `err` (see [`Failure`]).
pub fn classify(err: &DbErr) -> Failure {
    use sea_orm::RuntimeErr;
    let sqlx = match err {
        DbErr::ConnectionAcquire(_) => return Failure::Unavailable,
        DbErr::Conn(RuntimeErr::SqlxError(e))
        | DbErr::Exec(RuntimeErr::SqlxError(e))
        | DbErr::Query(RuntimeErr::SqlxError(e)) => e,
        DbErr::Conn(_) => return Failure::Unavailable,
        _ => return Failure::Other,
    };
    use sea_orm::sqlx::Error;
    match &**sqlx {
        Error::Io(_)
        | Error::Tls(_)
        | Error::Protocol(_)
        | Error::PoolTimedOut
        | Error::PoolClosed
        | Error::WorkerCrashed
        | Error::BeginFailed => Failure::Unavailable,
        Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            match code.as_ref() {
                // PostgreSQL: connection exceptions (08…), admin/crash shutdown and "cannot
                // connect now" (57P01–57P03), too many connections (53300), statement timeout
                // or cancel (57014: the database is too slow to answer in time).
                c if c.starts_with("08") => Failure::Unavailable,
                "57P01" | "57P02" | "57P03" | "53300" | "57014" => Failure::Unavailable,
                // PostgreSQL serialization failure and deadlock; SQLite busy and locked.
                "40001" | "40P01" | "5" | "6" | "517" | "261" => Failure::Conflict,
                _ => Failure::Other,
            }
        }
        _ => Failure::Other,
    }
}

/// Whether the error is a unique-constraint violation (a duplicate insert).
pub fn is_unique_violation(err: &DbErr) -> bool {
    matches!(
        err.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}

/// Whether `conn` talks to PostgreSQL (otherwise SQLite).
pub fn is_postgres(conn: &impl ConnectionTrait) -> bool {
    conn.get_database_backend() == DatabaseBackend::Postgres
}

/// Bind parameters one statement may carry: PostgreSQL allows 65,535 and SQLite 32,766.
const MAX_PARAMETERS: usize = 30_000;

/// Inserts `rows` with as few multi-row INSERTs as the databases' parameter limits allow (one
/// statement per few thousand rows, never one per row).
pub async fn insert_all<A, C>(conn: &C, rows: Vec<A>) -> Result<(), DbErr>
where
    A: sea_orm::ActiveModelTrait + Send,
    C: ConnectionTrait,
{
    use sea_orm::{EntityTrait, Iterable};
    let columns = <<A::Entity as EntityTrait>::Column as Iterable>::iter()
        .count()
        .max(1);
    let per_statement = (MAX_PARAMETERS / columns).max(1);
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<A> = rows.by_ref().take(per_statement).collect();
        A::Entity::insert_many(chunk)
            .exec_without_returning(conn)
            .await?;
    }
    Ok(())
}

/// A LIKE pattern matching values that contain `term`, where `%`, `_` and `\` match
/// themselves (a search for "50%" finds "50%", not everything starting with "50").
pub fn like_containing(term: &str) -> sea_orm::sea_query::LikeExpr {
    let mut escaped = String::with_capacity(term.len() + 2);
    escaped.push('%');
    for c in term.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped.push('%');
    sea_orm::sea_query::LikeExpr::new(escaped).escape('\\')
}

#[cfg(test)]
mod tests {
    use super::*;

    mod numbers {
        use sea_orm::entity::prelude::*;

        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "numbers")]
        pub(crate) struct Model {
            #[sea_orm(primary_key, auto_increment = false)]
            pub id: i64,
            pub square: i64,
            pub label: String,
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub(crate) enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    }

    #[tokio::test]
    async fn insert_all_stays_under_the_parameter_limit() {
        use sea_orm::{EntityTrait, PaginatorTrait, Set};
        let db = connect(&DbSettings::new("sqlite::memory:")).await.unwrap();
        db.execute_unprepared(
            "CREATE TABLE numbers (id INTEGER PRIMARY KEY, square INTEGER NOT NULL, label TEXT NOT NULL)",
        )
        .await
        .unwrap();
        // 25,000 rows of 3 columns: 75,000 parameters, more than one statement may carry.
        let rows: Vec<numbers::ActiveModel> = (0..25_000_i64)
            .map(|i| numbers::ActiveModel {
                id: Set(i),
                square: Set(i * i),
                label: Set(format!("n{i}")),
            })
            .collect();
        insert_all(&db, rows).await.unwrap();
        assert_eq!(numbers::Entity::find().count(&db).await.unwrap(), 25_000);
        insert_all(&db, Vec::<numbers::ActiveModel>::new())
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn like_patterns_match_wildcards_literally() {
        use sea_orm::TryGetable;
        use sea_orm::sea_query::{Expr, ExprTrait, Query};
        let db = connect(&DbSettings::new("sqlite::memory:")).await.unwrap();
        db.execute_unprepared(
            r"CREATE TABLE t (name TEXT); INSERT INTO t VALUES ('50% off'), ('500 off'), ('a_b'), ('axb'), ('c\d'), ('cd');",
        )
        .await
        .unwrap();
        let search = |term: &str| {
            let query = Query::select()
                .column("name")
                .from("t")
                .and_where(Expr::col("name").like(like_containing(term)))
                .order_by("name", sea_orm::Order::Asc)
                .to_owned();
            let db = db.clone();
            async move {
                db.query_all(&query)
                    .await
                    .unwrap()
                    .iter()
                    .map(|row| String::try_get_by(row, "name").unwrap())
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(search("0%").await, ["50% off"]);
        assert_eq!(search("a_").await, ["a_b"]);
        assert_eq!(search(r"c\").await, [r"c\d"]);
        assert_eq!(search("off").await, ["50% off", "500 off"]);
    }

    #[tokio::test]
    async fn an_unreachable_database_is_unavailable_within_the_acquire_timeout() {
        // A port nothing listens on: connecting is refused at once.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let settings = DbSettings {
            acquire_timeout: Duration::from_millis(300),
            ..DbSettings::new(format!("postgres://postgres@127.0.0.1:{port}/x"))
        };
        let started = std::time::Instant::now();
        let err = connect(&settings).await.unwrap_err();
        assert_eq!(classify(&err), Failure::Unavailable, "{err}");
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(classify(&DbErr::RecordNotFound("x".into())), Failure::Other);
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db:5432/identity"),
            "postgres://app:***@db:5432/identity"
        );
        assert_eq!(
            redact_url("sqlite://data/identity.db?mode=rwc"),
            "sqlite://data/identity.db?mode=rwc"
        );
        assert_eq!(
            redact_url("postgres://postgres@127.0.0.1/x"),
            "postgres://postgres@127.0.0.1/x"
        );
    }
}
