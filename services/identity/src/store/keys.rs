//! The keys that sign access tokens (`signing_keys`), as stored: sealing and opening them is
//! the keyring's (`app::keyring`); here they are only read, added and scheduled.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, Set,
};

use super::entities::{KeyStorage, signing_keys};
use crate::domain::StoredSigningKey;
use crate::error::Error;

fn key(row: signing_keys::Model) -> StoredSigningKey {
    StoredSigningKey {
        kid: row.kid,
        private_key: row.private_key,
        format: row.key_format.into(),
    }
}

/// Keys still published at `now`.
fn published_at(now: DateTime<Utc>) -> Condition {
    Condition::any()
        .add(signing_keys::Column::RetiredAt.is_null())
        .add(signing_keys::Column::RetiredAt.gt(now))
}

/// Keys that may sign at `now`: published and activated.
fn active_at(now: DateTime<Utc>) -> Condition {
    Condition::all().add(published_at(now)).add(
        Condition::any()
            .add(signing_keys::Column::ActivatesAt.is_null())
            .add(signing_keys::Column::ActivatesAt.lte(now)),
    )
}

/// Keys still stored in clear, from before keys were sealed.
pub async fn in_clear<C: ConnectionTrait>(conn: &C) -> Result<Vec<StoredSigningKey>, Error> {
    Ok(signing_keys::Entity::find()
        .filter(signing_keys::Column::KeyFormat.eq(KeyStorage::Clear))
        .all(conn)
        .await?
        .into_iter()
        .map(key)
        .collect())
}

/// Replaces a clear key by its sealed form (unless another replica sealed it first).
pub async fn seal<C: ConnectionTrait>(conn: &C, kid: &str, sealed: Vec<u8>) -> Result<(), Error> {
    signing_keys::Entity::update_many()
        .col_expr(signing_keys::Column::PrivateKey, Expr::value(sealed))
        .col_expr(
            signing_keys::Column::KeyFormat,
            Expr::value(KeyStorage::Sealed),
        )
        .filter(signing_keys::Column::Kid.eq(kid))
        .filter(signing_keys::Column::KeyFormat.eq(KeyStorage::Clear))
        .exec(conn)
        .await?;
    Ok(())
}

/// A new sealed key, created `at`, that signs from `activates_at` (none: at once).
pub async fn insert_sealed<C: ConnectionTrait>(
    conn: &C,
    kid: &str,
    sealed: Vec<u8>,
    at: DateTime<Utc>,
    activates_at: Option<DateTime<Utc>>,
) -> Result<(), Error> {
    signing_keys::ActiveModel {
        kid: Set(kid.to_owned()),
        private_key: Set(sealed),
        created_at: Set(at),
        retired_at: Set(None),
        key_format: Set(KeyStorage::Sealed),
        activates_at: Set(activates_at),
    }
    .insert(conn)
    .await?;
    Ok(())
}

/// The newest key that may sign at `now`.
pub async fn newest_active<C: ConnectionTrait>(
    conn: &C,
    now: DateTime<Utc>,
) -> Result<Option<StoredSigningKey>, Error> {
    Ok(signing_keys::Entity::find()
        .filter(active_at(now))
        .order_by_desc(signing_keys::Column::CreatedAt)
        // Key ids are UUIDv7: newer is larger, also when the business clock stood still.
        .order_by_desc(signing_keys::Column::Kid)
        .one(conn)
        .await?
        .map(key))
}

/// Every key published at `now`.
pub async fn published<C: ConnectionTrait>(
    conn: &C,
    now: DateTime<Utc>,
) -> Result<Vec<StoredSigningKey>, Error> {
    Ok(signing_keys::Entity::find()
        .filter(published_at(now))
        .all(conn)
        .await?
        .into_iter()
        .map(key)
        .collect())
}

/// The ids of the keys not yet scheduled for retirement.
pub async fn unretired<C: ConnectionTrait>(conn: &C) -> Result<Vec<String>, Error> {
    Ok(signing_keys::Entity::find()
        .filter(signing_keys::Column::RetiredAt.is_null())
        .all(conn)
        .await?
        .into_iter()
        .map(|row| row.kid)
        .collect())
}

/// Schedules the keys `kids` not yet scheduled to retire `at`.
pub async fn retire<C: ConnectionTrait>(
    conn: &C,
    kids: &[String],
    at: DateTime<Utc>,
) -> Result<(), Error> {
    signing_keys::Entity::update_many()
        .col_expr(signing_keys::Column::RetiredAt, Expr::value(at))
        .filter(signing_keys::Column::Kid.is_in(kids.iter().cloned()))
        .filter(signing_keys::Column::RetiredAt.is_null())
        .exec(conn)
        .await?;
    Ok(())
}
