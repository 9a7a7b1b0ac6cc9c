//! The practice's client organisations. Names are unique per practice (case-insensitively:
//! `name_key` is the lower-cased name, which search also matches).

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use ps_core::{OrganisationId, Page, PageRequest, PracticeId, TitleText};
use ps_db::tenancy::InPractice;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use super::entities::organisations;
use crate::domain::{Organisation, OrganisationFacts};
use crate::error::Error;

fn organisation(row: organisations::Model) -> Organisation {
    Organisation {
        id: OrganisationId(row.id),
        practice_id: PracticeId(row.practice_id),
        name: row.name,
        archived: row.archived_at.is_some(),
        created_at: row.created_at,
    }
}

/// A unique-index violation means the name is taken.
fn name_taken(name: &TitleText) -> impl Fn(DbErr) -> Error + '_ {
    move |err| {
        if ps_db::is_unique_violation(&err) {
            Error::AlreadyExists(format!(
                "an organisation named {name} already exists in this practice"
            ))
        } else {
            err.into()
        }
    }
}

/// An organisation of the practice (archived ones included), or NotFound.
pub async fn get<C: ConnectionTrait>(
    conn: &C,
    practice: PracticeId,
    id: OrganisationId,
) -> Result<Organisation, Error> {
    let row =
        super::found::<organisations::Entity, _>(conn, practice, id.as_uuid(), "organisation")
            .await?;
    Ok(organisation(row))
}

/// A new organisation; AlreadyExists when the practice has one of that name.
pub async fn insert<C: ConnectionTrait>(
    tx: &C,
    practice: PracticeId,
    name: &TitleText,
    at: DateTime<Utc>,
) -> Result<Organisation, Error> {
    let row = organisations::ActiveModel {
        id: Set(OrganisationId::generate().as_uuid()),
        practice_id: Set(practice.as_uuid()),
        name: Set(name.to_string()),
        name_key: Set(name.as_str().to_lowercase()),
        archived_at: Set(None),
        created_at: Set(at),
    }
    .insert(tx)
    .await
    .map_err(name_taken(name))?;
    Ok(organisation(row))
}

/// The organisation under its new name; AlreadyExists when the name is taken.
pub async fn rename<C: ConnectionTrait>(
    tx: &C,
    organisation: Organisation,
    name: &TitleText,
) -> Result<Organisation, Error> {
    organisations::Entity::update_many()
        .col_expr(organisations::Column::Name, Expr::value(name.to_string()))
        .col_expr(
            organisations::Column::NameKey,
            Expr::value(name.as_str().to_lowercase()),
        )
        .in_practice(organisation.practice_id)
        .filter(organisations::Column::Id.eq(organisation.id.as_uuid()))
        .exec(tx)
        .await
        .map_err(name_taken(name))?;
    Ok(Organisation {
        name: name.to_string(),
        ..organisation
    })
}

/// The organisation, archived as of `at`.
pub async fn archive<C: ConnectionTrait>(
    tx: &C,
    organisation: Organisation,
    at: DateTime<Utc>,
) -> Result<Organisation, Error> {
    organisations::Entity::update_many()
        .col_expr(organisations::Column::ArchivedAt, Expr::value(Some(at)))
        .in_practice(organisation.practice_id)
        .filter(organisations::Column::Id.eq(organisation.id.as_uuid()))
        .exec(tx)
        .await?;
    Ok(Organisation {
        archived: true,
        ..organisation
    })
}

/// One page of the practice's organisations in id order: those whose name contains `query`
/// (lower-cased), archived ones only when asked for.
pub async fn list<C: ConnectionTrait>(
    conn: &C,
    practice: PracticeId,
    query: Option<&str>,
    include_archived: bool,
    page: &PageRequest,
) -> Result<Page<Organisation>, Error> {
    let mut select = organisations::Entity::find().in_practice(practice);
    if let Some(query) = query {
        select = select.filter(organisations::Column::NameKey.like(ps_db::like_containing(query)));
    }
    if !include_archived {
        select = select.filter(organisations::Column::ArchivedAt.is_null());
    }
    if let Some(after) = page.after {
        select = select.filter(organisations::Column::Id.gt(after));
    }
    let rows = select
        .order_by_asc(organisations::Column::Id)
        .limit(page.fetch_limit())
        .all(conn)
        .await?;
    Ok(Page::from_rows(rows, page, |row| row.id).map(organisation))
}

/// The organisations among `ids` that the practice has: their rows.
async fn rows<C: ConnectionTrait>(
    conn: &C,
    practice: PracticeId,
    ids: &BTreeSet<OrganisationId>,
) -> Result<Vec<organisations::Model>, Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(organisations::Entity::find()
        .in_practice(practice)
        .filter(organisations::Column::Id.is_in(ids.iter().map(|o| o.as_uuid())))
        .all(conn)
        .await?)
}

/// What a changeset needs to know of the organisations among `ids` that the practice has.
pub async fn facts<C: ConnectionTrait>(
    conn: &C,
    practice: PracticeId,
    ids: &BTreeSet<OrganisationId>,
) -> Result<HashMap<OrganisationId, OrganisationFacts>, Error> {
    Ok(rows(conn, practice, ids)
        .await?
        .into_iter()
        .map(|o| {
            let facts = OrganisationFacts {
                name: o.name,
                archived: o.archived_at.is_some(),
            };
            (OrganisationId(o.id), facts)
        })
        .collect())
}

/// The names of the organisations among `ids` that the practice has.
pub async fn names<C: ConnectionTrait>(
    conn: &C,
    practice: PracticeId,
    ids: &BTreeSet<OrganisationId>,
) -> Result<HashMap<OrganisationId, String>, Error> {
    Ok(rows(conn, practice, ids)
        .await?
        .into_iter()
        .map(|o| (OrganisationId(o.id), o.name))
        .collect())
}
