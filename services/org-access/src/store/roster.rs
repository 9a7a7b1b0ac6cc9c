//! Who is staff where: org-access's copy of the roster ([`ps_roster`], kept from events by
//! `reactions`), read and written here so the use cases call only the store.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use ps_core::{PracticeId, StaffId, UserId};
use ps_roster::{Member, RosterStatus};
use sea_orm::ConnectionTrait;

use crate::error::Error;

/// The practice's member signed in as `user`, in whatever status.
pub async fn member_by_user<C: ConnectionTrait>(
    conn: &C,
    practice: PracticeId,
    user: UserId,
) -> Result<Option<Member>, Error> {
    Ok(ps_roster::member_by_user(conn, practice, user).await?)
}

/// The practice's members among `staff` (unknown ids are simply absent).
pub async fn members<C: ConnectionTrait>(
    conn: &C,
    practice: PracticeId,
    staff: &[StaffId],
) -> Result<Vec<Member>, Error> {
    Ok(ps_roster::members(conn, practice, staff).await?)
}

/// [`members`] by staff id.
pub async fn members_by_id<C: ConnectionTrait>(
    conn: &C,
    practice: PracticeId,
    staff: &[StaffId],
) -> Result<HashMap<StaffId, Member>, Error> {
    Ok(members(conn, practice, staff)
        .await?
        .into_iter()
        .map(|m| (m.staff_id, m))
        .collect())
}

/// One member of the practice, if the roster has them.
pub async fn member<C: ConnectionTrait>(
    conn: &C,
    practice: PracticeId,
    staff: StaffId,
) -> Result<Option<Member>, Error> {
    Ok(members(conn, practice, &[staff]).await?.pop())
}

/// Moves the member to roster status `status` as of `at`.
pub async fn set_status<C: ConnectionTrait>(
    tx: &C,
    practice: PracticeId,
    staff: StaffId,
    status: RosterStatus,
    at: DateTime<Utc>,
) -> Result<(), Error> {
    ps_roster::set_status(tx, practice, staff, status, at).await?;
    Ok(())
}
