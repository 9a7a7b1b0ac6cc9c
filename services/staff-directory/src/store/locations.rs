//! The practice's locations (facilities).

use chrono::{DateTime, Utc};
use ps_core::{LocationId, PracticeId, TitleText};
use ps_db::tenancy::InPractice;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, Set,
};

use super::entities::locations;
use crate::domain::Location;
use crate::error::Error;

fn location(row: locations::Model) -> Location {
    Location {
        id: LocationId(row.id),
        practice_id: PracticeId(row.practice_id),
        name: row.name,
        archived: row.archived_at.is_some(),
        created_at: row.created_at,
    }
}

/// The unique index on the lower-cased name refused it.
fn name_taken(name: &TitleText) -> impl Fn(DbErr) -> Error + '_ {
    move |err| {
        if ps_db::is_unique_violation(&err) {
            Error::AlreadyExists(format!(
                "a location named {name} already exists in this practice"
            ))
        } else {
            err.into()
        }
    }
}

/// A location of the practice, or NotFound.
pub async fn get<C: ConnectionTrait>(
    conn: &C,
    practice: PracticeId,
    id: LocationId,
) -> Result<Location, Error> {
    locations::Entity::find_by_id(id.as_uuid())
        .in_practice(practice)
        .one(conn)
        .await?
        .map(location)
        .ok_or(Error::NotFound("location"))
}

/// Whether every one of `ids` is a location of the practice that is not archived.
pub async fn all_usable<C: ConnectionTrait>(
    conn: &C,
    practice: PracticeId,
    ids: &[LocationId],
) -> Result<bool, Error> {
    if ids.is_empty() {
        return Ok(true);
    }
    let found = locations::Entity::find()
        .in_practice(practice)
        .filter(locations::Column::Id.is_in(ids.iter().map(|l| l.as_uuid())))
        .filter(locations::Column::ArchivedAt.is_null())
        .count(conn)
        .await?;
    Ok(usize::try_from(found).unwrap_or(0) == ids.len())
}

/// A new location; AlreadyExists when the practice has one of that name (any case).
pub async fn insert<C: ConnectionTrait>(
    tx: &C,
    practice: PracticeId,
    name: &TitleText,
    at: DateTime<Utc>,
) -> Result<Location, Error> {
    let row = locations::ActiveModel {
        id: Set(LocationId::generate().as_uuid()),
        practice_id: Set(practice.as_uuid()),
        name: Set(name.to_string()),
        name_key: Set(name.as_str().to_lowercase()),
        archived_at: Set(None),
        created_at: Set(at),
    }
    .insert(tx)
    .await
    .map_err(name_taken(name))?;
    Ok(location(row))
}

fn update(location: &Location) -> sea_orm::UpdateMany<locations::Entity> {
    locations::Entity::update_many()
        .in_practice(location.practice_id)
        .filter(locations::Column::Id.eq(location.id.as_uuid()))
}

/// Renames the location; AlreadyExists when the practice has another of that name.
pub async fn rename<C: ConnectionTrait>(
    tx: &C,
    location: &mut Location,
    name: &TitleText,
) -> Result<(), Error> {
    update(location)
        .col_expr(locations::Column::Name, Expr::value(name.to_string()))
        .col_expr(
            locations::Column::NameKey,
            Expr::value(name.as_str().to_lowercase()),
        )
        .exec(tx)
        .await
        .map_err(name_taken(name))?;
    location.name = name.to_string();
    Ok(())
}

/// Archives the location `at`.
pub async fn archive<C: ConnectionTrait>(
    tx: &C,
    location: &mut Location,
    at: DateTime<Utc>,
) -> Result<(), Error> {
    update(location)
        .col_expr(locations::Column::ArchivedAt, Expr::value(Some(at)))
        .exec(tx)
        .await?;
    location.archived = true;
    Ok(())
}

/// The practice's locations by name, without the archived ones unless asked.
pub async fn list<C: ConnectionTrait>(
    conn: &C,
    practice: PracticeId,
    include_archived: bool,
) -> Result<Vec<Location>, Error> {
    let mut query = locations::Entity::find().in_practice(practice);
    if !include_archived {
        query = query.filter(locations::Column::ArchivedAt.is_null());
    }
    Ok(query
        .order_by_asc(locations::Column::NameKey)
        .all(conn)
        .await?
        .into_iter()
        .map(location)
        .collect())
}
