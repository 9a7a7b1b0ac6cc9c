//! Accounts: one per e-mail, with the password hash, the sign-in lockout and the password-reset
//! rate-limit window. Counters change in single statements, so concurrent requests all count.

use chrono::{DateTime, Utc};
use ps_core::{Email, PersonName, UserId};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, Set};

use super::entities::users;
use crate::domain::User;
use crate::error::Error;

fn user(row: users::Model) -> User {
    User {
        id: UserId(row.id),
        email: Email::from_trusted(row.email),
        name: row.name,
        password_hash: row.password_hash,
        failed_sign_ins: u32::try_from(row.failed_sign_ins).unwrap_or_default(),
        locked_until: row.locked_until,
        reset_window_started_at: row.reset_window_started_at,
        resets_in_window: u32::try_from(row.resets_in_window).unwrap_or_default(),
    }
}

/// An update of this user's row.
fn update(id: UserId) -> sea_orm::UpdateMany<users::Entity> {
    users::Entity::update_many().filter(users::Column::Id.eq(id.as_uuid()))
}

/// The user with this id.
pub async fn get<C: ConnectionTrait>(conn: &C, id: UserId) -> Result<Option<User>, Error> {
    Ok(users::Entity::find_by_id(id.as_uuid())
        .one(conn)
        .await?
        .map(user))
}

/// The user with this e-mail.
pub async fn by_email<C: ConnectionTrait>(conn: &C, email: &Email) -> Result<Option<User>, Error> {
    Ok(users::Entity::find()
        .filter(users::Column::Email.eq(email.as_str()))
        .one(conn)
        .await?
        .map(user))
}

/// The user with this e-mail, locked until the transaction ends.
pub async fn lock_by_email<C: ConnectionTrait>(
    tx: &C,
    email: &Email,
) -> Result<Option<User>, Error> {
    Ok(users::Entity::find()
        .filter(users::Column::Email.eq(email.as_str()))
        .lock_exclusive()
        .one(tx)
        .await?
        .map(user))
}

/// The user with this e-mail, created without a password when there is none yet (an
/// invitation's invitee). Concurrent invitations of one new person create one user.
pub async fn ensure_invited<C: ConnectionTrait>(
    tx: &C,
    email: &Email,
    name: &PersonName,
    at: DateTime<Utc>,
) -> Result<User, Error> {
    users::Entity::insert(users::ActiveModel {
        id: Set(UserId::generate().as_uuid()),
        email: Set(email.to_string()),
        name: Set(name.to_string()),
        password_hash: Set(None),
        failed_sign_ins: Set(0),
        locked_until: Set(None),
        reset_window_started_at: Set(None),
        resets_in_window: Set(0),
        created_at: Set(at),
        updated_at: Set(at),
    })
    .on_conflict(
        OnConflict::column(users::Column::Email)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(tx)
    .await?;
    by_email(tx, email)
        .await?
        .ok_or_else(|| Error::Internal("user vanished after insert".into()))
}

/// Sets the password of a user who has none yet; `false` when they have one by now (another
/// invitation of the same person set it a moment ago).
pub async fn set_first_password<C: ConnectionTrait>(
    tx: &C,
    id: UserId,
    hash: String,
    at: DateTime<Utc>,
) -> Result<bool, Error> {
    let set = update(id)
        .col_expr(users::Column::PasswordHash, Expr::value(hash))
        .col_expr(users::Column::UpdatedAt, Expr::value(at))
        .filter(users::Column::PasswordHash.is_null())
        .exec(tx)
        .await?
        .rows_affected;
    Ok(set == 1)
}

/// A new password through a reset link; it lifts a sign-in lock too.
pub async fn reset_password<C: ConnectionTrait>(
    tx: &C,
    id: UserId,
    hash: String,
    at: DateTime<Utc>,
) -> Result<(), Error> {
    update(id)
        .col_expr(users::Column::PasswordHash, Expr::value(hash))
        .col_expr(users::Column::FailedSignIns, Expr::value(0))
        .col_expr(
            users::Column::LockedUntil,
            Expr::value(None::<DateTime<Utc>>),
        )
        .col_expr(users::Column::UpdatedAt, Expr::value(at))
        .exec(tx)
        .await?;
    Ok(())
}

/// Counts a failed sign-in and, once `threshold` have added up, locks the account until
/// `until` (the count starts again). Whether this one locked it.
pub async fn count_failed_sign_in<C: ConnectionTrait>(
    conn: &C,
    id: UserId,
    threshold: u32,
    until: DateTime<Utc>,
) -> Result<bool, Error> {
    let threshold = i32::try_from(threshold).unwrap_or(i32::MAX);
    // One statement, so concurrent failures all count.
    update(id)
        .col_expr(
            users::Column::FailedSignIns,
            Expr::col(users::Column::FailedSignIns).add(1),
        )
        .exec(conn)
        .await?;
    let locked = update(id)
        .col_expr(users::Column::LockedUntil, Expr::value(until))
        .col_expr(users::Column::FailedSignIns, Expr::value(0))
        .filter(users::Column::FailedSignIns.gte(threshold))
        .exec(conn)
        .await?
        .rows_affected;
    Ok(locked == 1)
}

/// A successful sign-in: no failures counted, no lock.
pub async fn clear_failed_sign_ins<C: ConnectionTrait>(conn: &C, id: UserId) -> Result<(), Error> {
    update(id)
        .col_expr(users::Column::FailedSignIns, Expr::value(0))
        .col_expr(
            users::Column::LockedUntil,
            Expr::value(None::<DateTime<Utc>>),
        )
        .exec(conn)
        .await?;
    Ok(())
}

/// The user's password-reset window as it now is: started at `started_at`, with `used`
/// requests in it.
pub async fn set_reset_window<C: ConnectionTrait>(
    tx: &C,
    id: UserId,
    started_at: DateTime<Utc>,
    used: u32,
) -> Result<(), Error> {
    update(id)
        .col_expr(
            users::Column::ResetWindowStartedAt,
            Expr::value(Some(started_at)),
        )
        .col_expr(
            users::Column::ResetsInWindow,
            Expr::value(i32::try_from(used).unwrap_or(i32::MAX)),
        )
        .exec(tx)
        .await?;
    Ok(())
}
