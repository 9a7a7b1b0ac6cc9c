//! The queue of password reset requests: RequestPasswordReset only queues (the same work for
//! a known and an unknown e-mail); a background task claims, applies and deletes them.

use chrono::{DateTime, Utc};
use ps_core::Email;
use sea_orm::sea_query::{LockBehavior, LockType};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use uuid::Uuid;

use super::entities::reset_requests;
use crate::domain::ResetRequest;
use crate::error::Error;

/// Queues a request for `email`, whatever the address.
pub async fn queue<C: ConnectionTrait>(
    conn: &C,
    email: &Email,
    at: DateTime<Utc>,
) -> Result<(), Error> {
    reset_requests::ActiveModel {
        id: Set(Uuid::now_v7()),
        email: Set(email.to_string()),
        requested_at: Set(at),
    }
    .insert(conn)
    .await?;
    Ok(())
}

/// Up to `limit` queued requests, oldest first, claimed until the transaction ends. On
/// PostgreSQL `SKIP LOCKED` lets replicas claim different ones.
pub async fn claim<C: ConnectionTrait>(tx: &C, limit: u64) -> Result<Vec<ResetRequest>, Error> {
    Ok(reset_requests::Entity::find()
        .order_by_asc(reset_requests::Column::Id)
        .limit(limit)
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .all(tx)
        .await?
        .into_iter()
        .map(|row| ResetRequest {
            id: row.id,
            email: Email::from_trusted(row.email),
        })
        .collect())
}

/// Deletes requests that were applied.
pub async fn delete<C: ConnectionTrait>(tx: &C, ids: &[Uuid]) -> Result<(), Error> {
    reset_requests::Entity::delete_many()
        .filter(reset_requests::Column::Id.is_in(ids.iter().copied()))
        .exec(tx)
        .await?;
    Ok(())
}
