//! The practice's locations as staff-directory last reported them (its LocationChanged
//! events), so a changeset's location limits are checked without calling it.

use std::collections::{BTreeSet, HashSet};

use chrono::{DateTime, Utc};
use ps_core::{LocationId, PracticeId};
use ps_db::tenancy::InPractice;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

use super::entities::locations;
use crate::error::Error;

/// Records a location as of `at` (its name and whether it is archived), unless a newer event
/// already did: events may arrive out of order.
pub async fn record<C: ConnectionTrait>(
    tx: &C,
    practice: PracticeId,
    location: LocationId,
    name: &str,
    archived: bool,
    at: DateTime<Utc>,
) -> Result<(), Error> {
    locations::Entity::insert(locations::ActiveModel {
        id: Set(location.as_uuid()),
        practice_id: Set(practice.as_uuid()),
        name: Set(name.to_owned()),
        archived: Set(archived),
        changed_at: Set(at),
    })
    .on_conflict(
        OnConflict::column(locations::Column::Id)
            .update_columns([
                locations::Column::Name,
                locations::Column::Archived,
                locations::Column::ChangedAt,
            ])
            .action_and_where(Expr::col((locations::Entity, locations::Column::ChangedAt)).lte(at))
            .to_owned(),
    )
    .exec_without_returning(tx)
    .await?;
    Ok(())
}

/// The locations among `ids` that the practice has and has not archived.
pub async fn usable<C: ConnectionTrait>(
    conn: &C,
    practice: PracticeId,
    ids: &BTreeSet<LocationId>,
) -> Result<HashSet<LocationId>, Error> {
    if ids.is_empty() {
        return Ok(HashSet::new());
    }
    Ok(locations::Entity::find()
        .in_practice(practice)
        .filter(locations::Column::Id.is_in(ids.iter().map(|l| l.as_uuid())))
        .filter(locations::Column::Archived.eq(false))
        .all(conn)
        .await?
        .into_iter()
        .map(|l| LocationId(l.id))
        .collect())
}
