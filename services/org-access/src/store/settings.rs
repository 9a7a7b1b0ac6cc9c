//! The practice's access settings: whether new memberships wait for the member to accept.
//! A practice without a row has the default (no acceptance needed).

use ps_core::PracticeId;
use ps_db::tenancy::InPractice;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ConnectionTrait, EntityTrait, Set};

use super::entities::access_settings;
use crate::error::Error;

/// Whether new memberships start Invited, waiting for the member to accept.
pub async fn require_acceptance<C: ConnectionTrait>(
    conn: &C,
    practice: PracticeId,
) -> Result<bool, Error> {
    Ok(access_settings::Entity::find()
        .in_practice(practice)
        .one(conn)
        .await?
        .is_some_and(|s| s.require_acceptance))
}

pub async fn set_require_acceptance<C: ConnectionTrait>(
    tx: &C,
    practice: PracticeId,
    require_acceptance: bool,
) -> Result<(), Error> {
    access_settings::Entity::insert(access_settings::ActiveModel {
        practice_id: Set(practice.as_uuid()),
        require_acceptance: Set(require_acceptance),
    })
    .on_conflict(
        OnConflict::column(access_settings::Column::PracticeId)
            .update_column(access_settings::Column::RequireAcceptance)
            .to_owned(),
    )
    .exec_without_returning(tx)
    .await?;
    Ok(())
}
