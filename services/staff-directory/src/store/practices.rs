//! Practices and their settings.

use chrono::{DateTime, Utc};
use ps_core::{PracticeId, TitleText};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, Set,
};

use super::entities::practices;
use crate::domain::{Practice, PracticeSettings};
use crate::error::Error;

fn practice(row: practices::Model) -> Practice {
    Practice {
        id: PracticeId(row.id),
        name: row.name,
        created_at: row.created_at,
        settings: PracticeSettings {
            require_location_for_invites: row.require_location_for_invites,
        },
    }
}

/// The practice, or NotFound.
pub async fn get<C: ConnectionTrait>(conn: &C, id: PracticeId) -> Result<Practice, Error> {
    practices::Entity::find_by_id(id.as_uuid())
        .one(conn)
        .await?
        .map(practice)
        .ok_or(Error::NotFound("practice"))
}

/// The practice, locked until the transaction ends: serialises changes that must keep an
/// active Account Owner.
pub async fn lock<C: ConnectionTrait>(tx: &C, id: PracticeId) -> Result<Practice, Error> {
    practices::Entity::find_by_id(id.as_uuid())
        .lock_exclusive()
        .one(tx)
        .await?
        .map(practice)
        .ok_or(Error::NotFound("practice"))
}

/// A new practice with the default settings.
pub async fn insert<C: ConnectionTrait>(
    tx: &C,
    name: &TitleText,
    at: DateTime<Utc>,
) -> Result<Practice, Error> {
    let row = practices::ActiveModel {
        id: Set(PracticeId::generate().as_uuid()),
        name: Set(name.to_string()),
        require_location_for_invites: Set(false),
        created_at: Set(at),
    }
    .insert(tx)
    .await?;
    Ok(practice(row))
}

/// The practice's settings as they now are.
pub async fn save_settings<C: ConnectionTrait>(tx: &C, practice: &Practice) -> Result<(), Error> {
    practices::Entity::update_many()
        .col_expr(
            practices::Column::RequireLocationForInvites,
            Expr::value(practice.settings.require_location_for_invites),
        )
        .filter(practices::Column::Id.eq(practice.id.as_uuid()))
        .exec(tx)
        .await?;
    Ok(())
}
