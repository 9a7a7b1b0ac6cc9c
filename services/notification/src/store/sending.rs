//! The mailer's side of the table: claims under a lease, the outcome of each attempt, the
//! failures and the links voided after them.

use std::time::Duration;

use chrono::{DateTime, Utc};
use ps_db::lease::Lease;
use ps_events::{Event, outbox};
use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType, Query};
use sea_orm::{
    ColumnTrait, DbErr, EntityTrait, QueryFilter, QuerySelect, TransactionTrait, UpdateMany,
};
use uuid::Uuid;

use super::{DELIVERIES, DeliveryState, Store, deliveries, persist, stored_count};
use crate::domain::ClaimedDelivery;

/// A finally failed e-mail whose last link is not voided yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnvoidedLink {
    pub delivery_id: Uuid,
    pub link_id: Uuid,
}

/// An update of delivery `id` that also releases its claim.
fn settle(id: Uuid) -> UpdateMany<deliveries::Entity> {
    deliveries::Entity::update_many()
        .col_expr(
            deliveries::Column::ClaimedUntil,
            Expr::value(None::<DateTime<Utc>>),
        )
        .filter(deliveries::Column::Id.eq(id))
}

impl Store {
    /// On SQLite, where only this process writes the file, releases the claims a previous run
    /// left (a crash) and answers how many; on PostgreSQL, where other replicas may hold
    /// claims, releases nothing.
    pub async fn release_claims_of_previous_run(&self) -> Result<u64, DbErr> {
        if ps_db::is_postgres(&self.db) {
            return Ok(0);
        }
        ps_db::lease::release_all(&self.db, DELIVERIES).await
    }

    /// Claims up to `limit` queued deliveries that are due and not claimed, oldest first, for
    /// `lease` (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so replicas never claim the same).
    /// Scheduling uses wall-clock time.
    pub async fn claim_due(
        &self,
        limit: u64,
        lease: Duration,
    ) -> Result<Vec<ClaimedDelivery>, DbErr> {
        let now = Utc::now();
        let due = Query::select()
            .column(deliveries::Column::Id)
            .from(deliveries::Entity)
            .and_where(deliveries::Column::Status.eq(DeliveryState::Queued))
            .and_where(deliveries::Column::NextAttemptAt.lte(now))
            .and_where(
                deliveries::Column::ClaimedUntil
                    .is_null()
                    .or(deliveries::Column::ClaimedUntil.lt(now)),
            )
            .order_by(deliveries::Column::Id, sea_orm::Order::Asc)
            .limit(limit)
            .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
            .to_owned();
        let mut rows = deliveries::Entity::update_many()
            .col_expr(
                deliveries::Column::ClaimedUntil,
                Expr::value(ps_db::lease::until(lease)),
            )
            .filter(deliveries::Column::Id.in_subquery(due))
            .exec_with_returning(&self.db)
            .await?;
        rows.sort_by_key(|r| r.id);
        Ok(rows.into_iter().map(ClaimedDelivery::from).collect())
    }

    /// Renews the claim on `ids` every third of `lease` while the returned guard lives.
    pub fn keep_claimed(&self, ids: Vec<Uuid>, lease: Duration) -> Lease {
        Lease::keep(self.db.clone(), DELIVERIES, ids, lease)
    }

    /// Delivery `id` was sent at `sent_at`, after `attempts`, carrying `link`: its bodies are
    /// not needed any more (a link e-mail never had them). Keeps trying while the database is
    /// unreachable.
    pub async fn record_sent(
        &self,
        id: Uuid,
        attempts: u32,
        sent_at: DateTime<Utc>,
        link: Option<Uuid>,
    ) -> Result<(), DbErr> {
        persist(|| {
            settle(id)
                .col_expr(
                    deliveries::Column::Attempts,
                    Expr::value(stored_count(attempts)),
                )
                .col_expr(deliveries::Column::Status, Expr::value(DeliveryState::Sent))
                .col_expr(deliveries::Column::SentAt, Expr::value(sent_at))
                .col_expr(deliveries::Column::LastError, Expr::value(None::<String>))
                .col_expr(deliveries::Column::LinkId, Expr::value(link))
                .col_expr(deliveries::Column::BodyText, Expr::value(None::<String>))
                .col_expr(deliveries::Column::BodyHtml, Expr::value(None::<String>))
                .exec(&self.db)
        })
        .await?;
        Ok(())
    }

    /// Delivery `id` waits for its link until `next_attempt_at`, its attempts unchanged. Keeps
    /// trying while the database is unreachable.
    pub async fn record_deferred(
        &self,
        id: Uuid,
        reason: &str,
        next_attempt_at: DateTime<Utc>,
    ) -> Result<(), DbErr> {
        persist(|| {
            settle(id)
                .col_expr(deliveries::Column::LastError, Expr::value(reason))
                .col_expr(
                    deliveries::Column::NextAttemptAt,
                    Expr::value(next_attempt_at),
                )
                .exec(&self.db)
        })
        .await?;
        Ok(())
    }

    /// Delivery `id` failed its `attempts`-th attempt with `error` and is tried again at
    /// `next_attempt_at`; `link` is the one the attempt minted. Keeps trying while the
    /// database is unreachable.
    pub async fn record_retry(
        &self,
        id: Uuid,
        attempts: u32,
        error: &str,
        link: Option<Uuid>,
        next_attempt_at: DateTime<Utc>,
    ) -> Result<(), DbErr> {
        persist(|| {
            settle(id)
                .col_expr(
                    deliveries::Column::Attempts,
                    Expr::value(stored_count(attempts)),
                )
                .col_expr(deliveries::Column::LastError, Expr::value(error))
                .col_expr(
                    deliveries::Column::NextAttemptAt,
                    Expr::value(next_attempt_at),
                )
                .col_expr(deliveries::Column::LinkId, Expr::value(link))
                .exec(&self.db)
        })
        .await?;
        Ok(())
    }

    /// Delivery `id` is given up on: failed with `error` after `attempts`, bodies gone, `link`
    /// (when there is one) kept to be voided, and `failed` (its DeliveryFailed) in the outbox,
    /// all in one transaction. Keeps trying while the database is unreachable.
    pub async fn record_failure(
        &self,
        id: Uuid,
        attempts: u32,
        error: &str,
        link: Option<Uuid>,
        failed: &Event,
    ) -> Result<(), DbErr> {
        persist(|| async {
            let tx = self.db.begin().await?;
            let mut update = settle(id)
                .col_expr(
                    deliveries::Column::Attempts,
                    Expr::value(stored_count(attempts)),
                )
                .col_expr(
                    deliveries::Column::Status,
                    Expr::value(DeliveryState::Failed),
                )
                .col_expr(deliveries::Column::LastError, Expr::value(error))
                .col_expr(deliveries::Column::BodyText, Expr::value(None::<String>))
                .col_expr(deliveries::Column::BodyHtml, Expr::value(None::<String>));
            if link.is_some() {
                update = update.col_expr(deliveries::Column::LinkId, Expr::value(link));
            }
            update.exec(&tx).await?;
            outbox::enqueue(&tx, failed).await?;
            tx.commit().await
        })
        .await
    }

    /// Up to `limit` finally failed e-mails whose last link is not voided yet.
    pub async fn unvoided_links(&self, limit: u64) -> Result<Vec<UnvoidedLink>, DbErr> {
        let rows = deliveries::Entity::find()
            .filter(deliveries::Column::Status.eq(DeliveryState::Failed))
            .filter(deliveries::Column::LinkId.is_not_null())
            .filter(deliveries::Column::LinkVoidedAt.is_null())
            .limit(limit)
            .all(&self.db)
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|row| {
                row.link_id.map(|link_id| UnvoidedLink {
                    delivery_id: row.id,
                    link_id,
                })
            })
            .collect())
    }

    /// The link of failed delivery `id` was voided at `at`.
    pub async fn record_link_voided(&self, id: Uuid, at: DateTime<Utc>) -> Result<(), DbErr> {
        deliveries::Entity::update_many()
            .col_expr(deliveries::Column::LinkVoidedAt, Expr::value(at))
            .filter(deliveries::Column::Id.eq(id))
            .exec(&self.db)
            .await?;
        Ok(())
    }
}
