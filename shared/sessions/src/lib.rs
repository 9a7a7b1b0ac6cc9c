//! Ended sessions, known to every service.
//!
//! Access tokens are verified locally, so on their own they would outlive a sign-out, a
//! password reset or a deactivation by up to their lifetime. Identity therefore records every
//! session it ends, in the same transaction, in its own `ended_sessions` table and publishes
//! `identity.sessions_ended`; every other service records the event in its own
//! `ended_sessions` table (through its consumer, idempotently). Each process keeps the ids in
//! memory ([`EndedSessions`]), loaded at start and refreshed from its table every
//! [`POLL_EVERY`] — which also covers replicas whose sibling consumed the event — and the auth
//! layer refuses a token whose session is among them. A row is kept until every token of its
//! session would have expired anyway.
//!
//! - [`EndedSessions`]: the in-memory set the auth layer asks.
//! - [`record`], [`EndedSessionsTable`]: the table and writing to it.
//! - [`watch`]: the refresh loop; [`with_sessions`]: a consumer wrapper that records the event.

#![warn(missing_docs)]

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ps_core::{SessionId, SharedClock, Shutdown};
use ps_events::event::SessionsEnded;
use ps_events::{ConsumerName, Event, EventHandler, HandleError, Payload, inbox};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, Set,
};
use tracing::{debug, warn};
use uuid::Uuid;

/// How often each process reads sessions its replicas (or its consumer) recorded.
pub const POLL_EVERY: Duration = Duration::from_millis(250);
/// Rows are read again this far back on every poll, so a row committed late (a transaction
/// that began before an earlier poll) is not missed.
const POLL_OVERLAP: Duration = Duration::from_secs(10);
/// How often expired rows and ids are forgotten.
const PURGE_EVERY: Duration = Duration::from_secs(60);

/// The `ended_sessions` table's sea-orm entity.
pub mod entity {
    use sea_orm::entity::prelude::*;

    /// One ended session, kept until its access tokens have expired.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "ended_sessions")]
    pub struct Model {
        /// The session that ended.
        #[sea_orm(primary_key, auto_increment = false)]
        pub session_id: Uuid,
        /// The user whose session it was.
        pub user_id: Uuid,
        /// Every access token of the session expires by then (business clock): the row is not
        /// needed after it.
        pub tokens_expire_by: DateTimeUtc,
        /// When the row was written (wall clock), for the other processes' polls.
        pub recorded_at: DateTimeUtc,
    }

    /// The table has no relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The sessions whose tokens this process refuses, each until its tokens would have expired.
#[derive(Debug, Clone)]
pub struct EndedSessions {
    ended: Arc<RwLock<HashMap<Uuid, DateTime<Utc>>>>,
    clock: SharedClock,
}

impl EndedSessions {
    /// An empty set; `clock` decides when an entry has expired.
    pub fn new(clock: SharedClock) -> Self {
        Self {
            ended: Arc::default(),
            clock,
        }
    }

    /// Refuses `session`'s tokens from now on; the entry is purged once `tokens_expire_by` (UTC)
    /// has passed.
    pub fn insert(&self, session: SessionId, tokens_expire_by: DateTime<Utc>) {
        self.ended
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(session.as_uuid(), tokens_expire_by);
    }

    fn purge(&self) {
        let now = self.clock.now();
        self.ended
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .retain(|_, until| *until > now);
    }

    /// Sessions held, including expired ones not purged yet.
    pub fn len(&self) -> usize {
        self.ended
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .len()
    }

    /// Whether no session is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl ps_auth::SessionCheck for EndedSessions {
    fn has_ended(&self, session: SessionId) -> bool {
        self.ended
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .contains_key(&session.as_uuid())
    }
}

/// Records `ended` in `conn` (the transaction that ends the sessions, or a consumer's);
/// idempotent.
pub async fn record<C: ConnectionTrait>(conn: &C, ended: &SessionsEnded) -> Result<(), DbErr> {
    if ended.session_ids.is_empty() {
        return Ok(());
    }
    let now = Utc::now();
    let rows = ended.session_ids.iter().map(|session| entity::ActiveModel {
        session_id: Set(session.as_uuid()),
        user_id: Set(ended.user_id.as_uuid()),
        tokens_expire_by: Set(ended.tokens_expire_by),
        recorded_at: Set(now),
    });
    entity::Entity::insert_many(rows)
        .on_conflict(
            OnConflict::column(entity::Column::SessionId)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

async fn load(
    db: &DatabaseConnection,
    ended: &EndedSessions,
    since: Option<DateTime<Utc>>,
) -> Result<usize, DbErr> {
    let mut query =
        entity::Entity::find().filter(entity::Column::TokensExpireBy.gt(ended.clock.now()));
    if let Some(since) = since {
        query = query.filter(entity::Column::RecordedAt.gt(since));
    }
    let rows = query.all(db).await?;
    let found = rows.len();
    for row in rows {
        ended.insert(SessionId(row.session_id), row.tokens_expire_by);
    }
    Ok(found)
}

/// Keeps `ended` current from `db` until shutdown: everything unexpired at start, then what
/// was recorded since, every [`POLL_EVERY`]; expired rows are deleted now and then.
pub async fn watch(db: DatabaseConnection, ended: EndedSessions, shutdown: Shutdown) {
    let mut since: Option<DateTime<Utc>> = None;
    let mut last_purge = tokio::time::Instant::now();
    let overlap = chrono::Duration::from_std(POLL_OVERLAP).unwrap_or_default();
    loop {
        let started = Utc::now();
        match load(&db, &ended, since).await {
            Ok(found) => {
                if found > 0 {
                    debug!(found, "ended sessions read");
                }
                since = Some(started - overlap);
            }
            // Kept as before; the next poll reads from the same point.
            Err(err) => debug!(error = %err, "reading ended sessions failed"),
        }
        if last_purge.elapsed() >= PURGE_EVERY {
            last_purge = tokio::time::Instant::now();
            ended.purge();
            let expired = entity::Entity::delete_many()
                .filter(entity::Column::TokensExpireBy.lt(ended.clock.now()))
                .exec(&db)
                .await;
            if let Err(err) = expired {
                warn!(error = %err, "deleting expired ended sessions failed");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL_EVERY) => {}
            _ = shutdown.clone().wait() => return,
        }
    }
}

/// Wraps a service's consumer: `identity.sessions_ended` is recorded (once, through the inbox)
/// and added to `ended` at once; every other event goes to `inner`.
pub fn with_sessions(
    inner: Arc<dyn EventHandler>,
    db: DatabaseConnection,
    ended: EndedSessions,
) -> Arc<dyn EventHandler> {
    Arc::new(SessionsHandler { inner, db, ended })
}

struct SessionsHandler {
    inner: Arc<dyn EventHandler>,
    db: DatabaseConnection,
    ended: EndedSessions,
}

#[async_trait]
impl EventHandler for SessionsHandler {
    fn consumer(&self) -> ConsumerName {
        self.inner.consumer()
    }

    async fn handle(&self, event: Event) -> Result<(), HandleError> {
        let Payload::SessionsEnded(ended) = &event.payload else {
            return self.inner.handle(event).await;
        };
        let recorded = ended.clone();
        inbox::apply_once(&self.db, self.consumer(), &event, move |tx, _| {
            Box::pin(async move { record(tx, &recorded).await })
        })
        .await?;
        for session in &ended.session_ids {
            self.ended.insert(*session, ended.tokens_expire_by);
        }
        Ok(())
    }
}

/// The `ended_sessions` table; add it to every service's migrator.
pub struct EndedSessionsTable;

impl sea_orm_migration::MigrationName for EndedSessionsTable {
    fn name(&self) -> &str {
        "m20261201_000000_ended_sessions"
    }
}

#[async_trait]
impl sea_orm_migration::MigrationTrait for EndedSessionsTable {
    async fn up(&self, manager: &sea_orm_migration::SchemaManager) -> Result<(), DbErr> {
        use sea_orm_migration::prelude::*;
        use sea_orm_migration::schema::*;
        manager
            .create_table(
                Table::create()
                    .table("ended_sessions")
                    .if_not_exists()
                    .col(pk_uuid("session_id"))
                    .col(uuid("user_id"))
                    .col(timestamp_with_time_zone("tokens_expire_by"))
                    .col(timestamp_with_time_zone("recorded_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ended_sessions_recorded")
                    .table("ended_sessions")
                    .col("recorded_at")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &sea_orm_migration::SchemaManager) -> Result<(), DbErr> {
        use sea_orm_migration::prelude::*;
        manager
            .drop_table(Table::drop().table("ended_sessions").to_owned())
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ps_auth::SessionCheck;
    use ps_core::{Clock, ManualClock, UserId};
    use sea_orm_migration::MigrationTrait;

    #[tokio::test]
    async fn recorded_sessions_are_refused_until_their_tokens_expire() {
        let clock = Arc::new(ManualClock::starting_now());
        let db = ps_db::connect(&ps_db::DbSettings::new("sqlite::memory:"))
            .await
            .unwrap();
        EndedSessionsTable
            .up(&sea_orm_migration::SchemaManager::new(&db))
            .await
            .unwrap();
        let (session, other) = (SessionId::generate(), SessionId::generate());
        let ended = SessionsEnded {
            user_id: UserId::generate(),
            session_ids: vec![session],
            tokens_expire_by: clock.now() + chrono::Duration::minutes(15),
            reason: "signed out".into(),
        };
        record(&db, &ended).await.unwrap();
        record(&db, &ended).await.unwrap();
        let sessions = EndedSessions::new(clock.clone());
        assert_eq!(load(&db, &sessions, None).await.unwrap(), 1);
        assert!(sessions.has_ended(session));
        assert!(!sessions.has_ended(other));

        clock.advance(chrono::Duration::minutes(16));
        sessions.purge();
        assert!(!sessions.has_ended(session));
        assert_eq!(
            load(&db, &EndedSessions::new(clock), None).await.unwrap(),
            0
        );
    }
}
