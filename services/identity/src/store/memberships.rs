//! Memberships: the practices a user may sign in to, with their role there. Written when an
//! invitation is accepted and kept in step with staff-directory's lifecycle events.

use chrono::{DateTime, Utc};
use ps_core::{PracticeId, PracticeRole, StaffId, UserId};
use ps_db::tenancy::InPractice;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set};

use super::entities::memberships;
use super::stored_role;
use crate::domain::Membership;
use crate::error::Error;

fn membership(row: memberships::Model) -> Result<Membership, Error> {
    Ok(Membership {
        user_id: UserId(row.user_id),
        practice_id: PracticeId(row.practice_id),
        staff_id: StaffId(row.staff_id),
        role: stored_role(&row.role)?,
        practice_name: row.practice_name,
        active: row.active,
    })
}

/// The user's active memberships (only the one in `practice`, when given), by practice name.
pub async fn active_of_user<C: ConnectionTrait>(
    conn: &C,
    user: UserId,
    practice: Option<PracticeId>,
) -> Result<Vec<Membership>, Error> {
    let mut query = memberships::Entity::find()
        .filter(memberships::Column::UserId.eq(user.as_uuid()))
        .filter(memberships::Column::Active.eq(true));
    if let Some(practice) = practice {
        query = query.in_practice(practice);
    }
    query
        .order_by_asc(memberships::Column::PracticeName)
        .all(conn)
        .await?
        .into_iter()
        .map(membership)
        .collect()
}

/// The user's membership of the practice, if it is active.
pub async fn active<C: ConnectionTrait>(
    conn: &C,
    practice: PracticeId,
    user: UserId,
) -> Result<Option<Membership>, Error> {
    memberships::Entity::find()
        .in_practice(practice)
        .filter(memberships::Column::UserId.eq(user.as_uuid()))
        .filter(memberships::Column::Active.eq(true))
        .one(conn)
        .await?
        .map(membership)
        .transpose()
}

/// The practice's name as one of its memberships captured it.
pub async fn practice_name<C: ConnectionTrait>(
    conn: &C,
    practice: PracticeId,
) -> Result<Option<String>, Error> {
    Ok(memberships::Entity::find()
        .in_practice(practice)
        .one(conn)
        .await?
        .map(|m| m.practice_name))
}

/// The membership an accepted invitation gives: new, or the person's earlier one in the
/// practice as the invitation now says.
pub async fn accept<C: ConnectionTrait>(
    tx: &C,
    membership: &Membership,
    at: DateTime<Utc>,
) -> Result<(), Error> {
    memberships::Entity::insert(memberships::ActiveModel {
        user_id: Set(membership.user_id.as_uuid()),
        practice_id: Set(membership.practice_id.as_uuid()),
        staff_id: Set(membership.staff_id.as_uuid()),
        practice_name: Set(membership.practice_name.clone()),
        role: Set(membership.role.as_str().to_owned()),
        active: Set(membership.active),
        updated_at: Set(at),
    })
    .on_conflict(
        OnConflict::columns([memberships::Column::UserId, memberships::Column::PracticeId])
            .update_columns([
                memberships::Column::StaffId,
                memberships::Column::PracticeName,
                memberships::Column::Role,
                memberships::Column::Active,
                memberships::Column::UpdatedAt,
            ])
            .to_owned(),
    )
    .exec_without_returning(tx)
    .await?;
    Ok(())
}

/// An update of the member's membership in the practice, changed `at`.
fn update(
    practice: PracticeId,
    staff: StaffId,
    at: DateTime<Utc>,
) -> sea_orm::UpdateMany<memberships::Entity> {
    memberships::Entity::update_many()
        .col_expr(memberships::Column::UpdatedAt, Expr::value(at))
        .in_practice(practice)
        .filter(memberships::Column::StaffId.eq(staff.as_uuid()))
}

/// The member's role in the practice.
pub async fn set_role<C: ConnectionTrait>(
    tx: &C,
    practice: PracticeId,
    staff: StaffId,
    role: PracticeRole,
    at: DateTime<Utc>,
) -> Result<(), Error> {
    update(practice, staff, at)
        .col_expr(memberships::Column::Role, Expr::value(role.as_str()))
        .exec(tx)
        .await?;
    Ok(())
}

/// The member can no longer sign in to the practice.
pub async fn deactivate<C: ConnectionTrait>(
    tx: &C,
    practice: PracticeId,
    staff: StaffId,
    at: DateTime<Utc>,
) -> Result<(), Error> {
    update(practice, staff, at)
        .col_expr(memberships::Column::Active, Expr::value(false))
        .exec(tx)
        .await?;
    Ok(())
}

/// The member may sign in to the practice again, with `role`.
pub async fn reactivate<C: ConnectionTrait>(
    tx: &C,
    practice: PracticeId,
    staff: StaffId,
    role: PracticeRole,
    at: DateTime<Utc>,
) -> Result<(), Error> {
    update(practice, staff, at)
        .col_expr(memberships::Column::Active, Expr::value(true))
        .col_expr(memberships::Column::Role, Expr::value(role.as_str()))
        .exec(tx)
        .await?;
    Ok(())
}
