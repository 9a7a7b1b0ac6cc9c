//! Single-use links (`action_links`): invitations and password resets. A link is found by the
//! hash of its token; using it is one `UPDATE` that succeeds only while it is unused, current
//! and unexpired, so of concurrent answers exactly one wins.

use chrono::{DateTime, Utc};
use ps_core::{PracticeId, PracticeRole, StaffId, UserId};
use ps_db::tenancy::InPractice;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use uuid::Uuid;

use super::entities::{LinkAnswer, LinkKind, action_links};
use super::stored_role;
use crate::domain::{ActionLink, IssueInvitation, LinkOutcome, LinkPurpose, SecretToken, User};
use crate::error::Error;

fn link(row: action_links::Model) -> Result<ActionLink, Error> {
    let role = if row.role.is_empty() {
        None
    } else {
        Some(stored_role(&row.role)?)
    };
    Ok(ActionLink {
        id: row.id,
        purpose: row.purpose.into(),
        user_id: UserId(row.user_id),
        practice_id: row.practice_id.map(PracticeId),
        staff_id: row.staff_id.map(StaffId),
        practice_name: row.practice_name,
        inviter_name: row.inviter_name,
        invitee_name: row.invitee_name,
        role,
        expires_at: row.expires_at,
        used_at: row.used_at,
        voided_at: row.voided_at,
    })
}

/// An update of links not yet used nor void.
fn pending() -> sea_orm::UpdateMany<action_links::Entity> {
    action_links::Entity::update_many()
        .filter(action_links::Column::UsedAt.is_null())
        .filter(action_links::Column::VoidedAt.is_null())
}

/// The `purpose` link whose token the caller presents.
pub async fn by_token<C: ConnectionTrait>(
    conn: &C,
    token: &SecretToken,
    purpose: LinkPurpose,
) -> Result<Option<ActionLink>, Error> {
    action_links::Entity::find()
        .filter(action_links::Column::TokenHash.eq(token.hash()))
        .filter(action_links::Column::Purpose.eq(LinkKind::from(purpose)))
        .one(conn)
        .await?
        .map(link)
        .transpose()
}

/// A link by its id (read again after losing the race to use it).
pub async fn get<C: ConnectionTrait>(conn: &C, id: Uuid) -> Result<Option<ActionLink>, Error> {
    action_links::Entity::find_by_id(id)
        .one(conn)
        .await?
        .map(link)
        .transpose()
}

/// Marks the link used, answered with `outcome`, if at this instant it is unused, current and
/// unexpired. Whether it was.
pub async fn consume<C: ConnectionTrait>(
    tx: &C,
    id: Uuid,
    outcome: LinkOutcome,
    at: DateTime<Utc>,
) -> Result<bool, Error> {
    let consumed = pending()
        .col_expr(action_links::Column::UsedAt, Expr::value(at))
        .col_expr(
            action_links::Column::Outcome,
            Expr::value(LinkAnswer::from(outcome)),
        )
        .filter(action_links::Column::Id.eq(id))
        .filter(action_links::Column::ExpiresAt.gt(at))
        .exec(tx)
        .await?
        .rows_affected;
    Ok(consumed == 1)
}

/// Voids the `purpose` links not yet used, of `user` when given and for `member` of a practice
/// when given. How many it voided.
pub async fn void_pending<C: ConnectionTrait>(
    conn: &C,
    purpose: LinkPurpose,
    user: Option<UserId>,
    member: Option<(PracticeId, StaffId)>,
    at: DateTime<Utc>,
) -> Result<u64, Error> {
    let mut update = pending()
        .col_expr(action_links::Column::VoidedAt, Expr::value(at))
        .filter(action_links::Column::Purpose.eq(LinkKind::from(purpose)));
    if let Some(user) = user {
        update = update.filter(action_links::Column::UserId.eq(user.as_uuid()));
    }
    if let Some((practice, staff)) = member {
        update = update
            .in_practice(practice)
            .filter(action_links::Column::StaffId.eq(staff.as_uuid()));
    }
    Ok(update.exec(conn).await?.rows_affected)
}

/// Voids one link; `false` when it was already used or void.
pub async fn void<C: ConnectionTrait>(
    conn: &C,
    id: Uuid,
    at: DateTime<Utc>,
) -> Result<bool, Error> {
    let voided = pending()
        .col_expr(action_links::Column::VoidedAt, Expr::value(at))
        .filter(action_links::Column::Id.eq(id))
        .exec(conn)
        .await?
        .rows_affected;
    Ok(voided == 1)
}

/// The columns every new link starts with.
fn new_link(
    token: &SecretToken,
    purpose: LinkPurpose,
    user: UserId,
    at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> action_links::ActiveModel {
    action_links::ActiveModel {
        id: Set(Uuid::now_v7()),
        token_hash: Set(token.hash()),
        purpose: Set(purpose.into()),
        user_id: Set(user.as_uuid()),
        created_at: Set(at),
        expires_at: Set(expires_at),
        used_at: Set(None),
        voided_at: Set(None),
        outcome: Set(None),
        ..Default::default()
    }
}

/// A new invitation link for `user`, showing what `invitation` offers; its id.
pub async fn insert_invitation<C: ConnectionTrait>(
    tx: &C,
    token: &SecretToken,
    user: UserId,
    invitation: &IssueInvitation,
    at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<Uuid, Error> {
    let row = action_links::ActiveModel {
        practice_id: Set(Some(invitation.practice_id.as_uuid())),
        staff_id: Set(Some(invitation.staff_id.as_uuid())),
        practice_name: Set(invitation.practice_name.clone()),
        inviter_name: Set(invitation.inviter_name.clone()),
        invitee_name: Set(invitation.invitee_name.to_string()),
        role: Set(invitation.role.as_str().to_owned()),
        ..new_link(token, LinkPurpose::Invitation, user, at, expires_at)
    }
    .insert(tx)
    .await?;
    Ok(row.id)
}

/// A new password reset link for `user`; its id.
pub async fn insert_reset<C: ConnectionTrait>(
    tx: &C,
    token: &SecretToken,
    user: &User,
    at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<Uuid, Error> {
    let row = action_links::ActiveModel {
        practice_id: Set(None),
        staff_id: Set(None),
        practice_name: Set(String::new()),
        inviter_name: Set(String::new()),
        invitee_name: Set(user.name.clone()),
        role: Set(String::new()),
        ..new_link(token, LinkPurpose::PasswordReset, user.id, at, expires_at)
    }
    .insert(tx)
    .await?;
    Ok(row.id)
}

/// The member's invitation links not yet used grant `role` from now on.
pub async fn grant_role<C: ConnectionTrait>(
    tx: &C,
    practice: PracticeId,
    staff: StaffId,
    role: PracticeRole,
) -> Result<(), Error> {
    action_links::Entity::update_many()
        .col_expr(action_links::Column::Role, Expr::value(role.as_str()))
        .filter(action_links::Column::Purpose.eq(LinkKind::Invitation))
        .in_practice(practice)
        .filter(action_links::Column::StaffId.eq(staff.as_uuid()))
        .filter(action_links::Column::UsedAt.is_null())
        .exec(tx)
        .await?;
    Ok(())
}

/// The practice's name as one of its invitation links captured it.
pub async fn practice_name<C: ConnectionTrait>(
    conn: &C,
    practice: PracticeId,
) -> Result<Option<String>, Error> {
    Ok(action_links::Entity::find()
        .in_practice(practice)
        .one(conn)
        .await?
        .map(|l| l.practice_name))
}
