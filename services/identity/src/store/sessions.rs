//! Sessions: one per sign-in, in one practice, with the hash of its current refresh token.
//! Rotating the token is one `UPDATE` that only the holder of the current token wins.

use chrono::{DateTime, Utc};
use ps_core::{PracticeId, SessionId, UserId};
use ps_db::tenancy::InPractice;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

use super::entities::sessions;
use crate::domain::{Session, SessionsToEnd};
use crate::error::Error;

fn session(row: sessions::Model) -> Session {
    Session {
        id: SessionId(row.id),
        user_id: UserId(row.user_id),
        practice_id: PracticeId(row.practice_id),
        refresh_hash: row.refresh_hash,
        expires_at: row.expires_at,
        revoked_at: row.revoked_at,
    }
}

/// Stores a new session, opened `at`.
pub async fn open<C: ConnectionTrait>(
    conn: &C,
    session: &Session,
    at: DateTime<Utc>,
) -> Result<(), Error> {
    sessions::ActiveModel {
        id: Set(session.id.as_uuid()),
        user_id: Set(session.user_id.as_uuid()),
        practice_id: Set(session.practice_id.as_uuid()),
        refresh_hash: Set(session.refresh_hash.clone()),
        created_at: Set(at),
        expires_at: Set(session.expires_at),
        refreshed_at: Set(None),
        revoked_at: Set(session.revoked_at),
    }
    .insert(conn)
    .await?;
    Ok(())
}

/// The session a refresh token names, whichever practice it is in: the token carries only
/// the session, and the session's row says its practice.
pub async fn get_in_any_practice<C: ConnectionTrait>(
    conn: &C,
    id: SessionId,
) -> Result<Option<Session>, Error> {
    Ok(sessions::Entity::find_by_id(id.as_uuid())
        .one(conn)
        .await?
        .map(session))
}

/// Replaces the refresh token's hash with `next` if `presented` is still the current one and
/// the session is open. Of concurrent refreshes with one token exactly one gets `true`.
pub async fn rotate_refresh<C: ConnectionTrait>(
    conn: &C,
    id: SessionId,
    presented: Vec<u8>,
    next: Vec<u8>,
    at: DateTime<Utc>,
) -> Result<bool, Error> {
    let rotated = sessions::Entity::update_many()
        .col_expr(sessions::Column::RefreshHash, Expr::value(next))
        .col_expr(sessions::Column::RefreshedAt, Expr::value(at))
        .filter(sessions::Column::Id.eq(id.as_uuid()))
        .filter(sessions::Column::RefreshHash.eq(presented))
        .filter(sessions::Column::RevokedAt.is_null())
        .exec(conn)
        .await?
        .rows_affected;
    Ok(rotated == 1)
}

/// Ends the open sessions of `user` that `which` selects, `at`; the ones it ended.
pub async fn end<C: ConnectionTrait>(
    tx: &C,
    user: UserId,
    which: SessionsToEnd,
    at: DateTime<Utc>,
) -> Result<Vec<SessionId>, Error> {
    let update = sessions::Entity::update_many()
        .col_expr(sessions::Column::RevokedAt, Expr::value(at))
        .filter(sessions::Column::UserId.eq(user.as_uuid()))
        .filter(sessions::Column::RevokedAt.is_null());
    let update = match which {
        SessionsToEnd::All => update,
        SessionsToEnd::InPractice(practice) => update.in_practice(practice),
        SessionsToEnd::One(session) => update.filter(sessions::Column::Id.eq(session.as_uuid())),
    };
    Ok(update
        .exec_with_returning(tx)
        .await?
        .into_iter()
        .map(|row| SessionId(row.id))
        .collect())
}
