//! Roles: the built-in ones every practice has (ids derived from the practice, so every
//! replica creates the same rows) and the practice's own, each with its permissions.

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};
use ps_core::{PracticeId, RoleId, TitleText};
use ps_db::tenancy::InPractice;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use super::entities::{MembershipState, memberships, role_permissions, roles};
use crate::domain::{BUILT_IN_ROLES, Role, built_in_role_id};
use crate::error::Error;

/// Creates the practice's built-in roles if they are not there yet: idempotent, and safe
/// across replicas (the ids are derived, inserts do nothing on conflict).
pub async fn ensure_built_in<C: ConnectionTrait>(
    conn: &C,
    practice: PracticeId,
    at: DateTime<Utc>,
) -> Result<(), Error> {
    let first = built_in_role_id(practice, BUILT_IN_ROLES[0].key);
    if roles::Entity::find_by_id(first.as_uuid())
        .in_practice(practice)
        .one(conn)
        .await?
        .is_some()
    {
        return Ok(());
    }
    roles::Entity::insert_many(BUILT_IN_ROLES.iter().map(|role| roles::ActiveModel {
        id: Set(built_in_role_id(practice, role.key).as_uuid()),
        practice_id: Set(practice.as_uuid()),
        name: Set(role.name.to_owned()),
        name_key: Set(role.name.to_lowercase()),
        built_in: Set(true),
        created_at: Set(at),
    }))
    .on_conflict(
        OnConflict::column(roles::Column::Id)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(conn)
    .await?;
    role_permissions::Entity::insert_many(BUILT_IN_ROLES.iter().flat_map(|role| {
        role.permissions
            .iter()
            .map(move |permission| role_permissions::ActiveModel {
                role_id: Set(built_in_role_id(practice, role.key).as_uuid()),
                permission: Set((*permission).to_owned()),
                practice_id: Set(practice.as_uuid()),
            })
    }))
    .on_conflict(
        OnConflict::columns([
            role_permissions::Column::RoleId,
            role_permissions::Column::Permission,
        ])
        .do_nothing()
        .to_owned(),
    )
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// A unique-index violation means the name is taken.
fn name_taken(name: &TitleText) -> impl Fn(DbErr) -> Error + '_ {
    move |err| {
        if ps_db::is_unique_violation(&err) {
            Error::AlreadyExists(format!(
                "a role named {name} already exists in this practice"
            ))
        } else {
            err.into()
        }
    }
}

/// Rows to roles, with their permissions (sorted) and how many current memberships hold each,
/// in two queries.
async fn with_details<C: ConnectionTrait>(
    conn: &C,
    practice: PracticeId,
    rows: Vec<roles::Model>,
) -> Result<Vec<Role>, Error> {
    let ids: Vec<_> = rows.iter().map(|r| r.id).collect();
    let mut permissions: HashMap<_, Vec<String>> = HashMap::new();
    let mut counts = HashMap::new();
    if !ids.is_empty() {
        for row in role_permissions::Entity::find()
            .in_practice(practice)
            .filter(role_permissions::Column::RoleId.is_in(ids.clone()))
            .order_by_asc(role_permissions::Column::Permission)
            .all(conn)
            .await?
        {
            permissions
                .entry(row.role_id)
                .or_default()
                .push(row.permission);
        }
        let in_use: Vec<(uuid::Uuid, i64)> = memberships::Entity::find()
            .select_only()
            .column(memberships::Column::RoleId)
            .column_as(Expr::col(memberships::Column::Id).count(), "count")
            .in_practice(practice)
            .filter(memberships::Column::RoleId.is_in(ids))
            .filter(memberships::Column::Status.is_in(MembershipState::CURRENT))
            .group_by(memberships::Column::RoleId)
            .into_tuple()
            .all(conn)
            .await?;
        counts.extend(
            in_use
                .into_iter()
                .map(|(role, n)| (role, u64::try_from(n).unwrap_or(0))),
        );
    }
    Ok(rows
        .into_iter()
        .map(|r| Role {
            permissions: permissions.remove(&r.id).unwrap_or_default(),
            memberships: counts.get(&r.id).copied().unwrap_or(0),
            id: RoleId(r.id),
            name: r.name,
            built_in: r.built_in,
        })
        .collect())
}

async fn one<C: ConnectionTrait>(
    conn: &C,
    practice: PracticeId,
    row: roles::Model,
) -> Result<Role, Error> {
    with_details(conn, practice, vec![row])
        .await?
        .pop()
        .ok_or_else(|| Error::Internal("role vanished".into()))
}

/// A role of the practice with its permissions and how many current memberships hold it, or
/// NotFound.
pub async fn get<C: ConnectionTrait>(
    conn: &C,
    practice: PracticeId,
    id: RoleId,
) -> Result<Role, Error> {
    let row = super::found::<roles::Entity, _>(conn, practice, id.as_uuid(), "role").await?;
    one(conn, practice, row).await
}

/// The practice's roles: the built-in ones first, then by name.
pub async fn list<C: ConnectionTrait>(conn: &C, practice: PracticeId) -> Result<Vec<Role>, Error> {
    let rows = roles::Entity::find()
        .in_practice(practice)
        .order_by_desc(roles::Column::BuiltIn)
        .order_by_asc(roles::Column::NameKey)
        .all(conn)
        .await?;
    with_details(conn, practice, rows).await
}

/// A new role of the practice's own with `permissions`; AlreadyExists when the name is taken.
pub async fn insert<C: ConnectionTrait>(
    tx: &C,
    practice: PracticeId,
    name: &TitleText,
    permissions: &BTreeSet<String>,
    at: DateTime<Utc>,
) -> Result<Role, Error> {
    let row = roles::ActiveModel {
        id: Set(RoleId::generate().as_uuid()),
        practice_id: Set(practice.as_uuid()),
        name: Set(name.to_string()),
        name_key: Set(name.as_str().to_lowercase()),
        built_in: Set(false),
        created_at: Set(at),
    }
    .insert(tx)
    .await
    .map_err(name_taken(name))?;
    set_permissions(tx, practice, RoleId(row.id), permissions).await?;
    one(tx, practice, row).await
}

/// Renames the role; AlreadyExists when the name is taken.
pub async fn rename<C: ConnectionTrait>(
    tx: &C,
    practice: PracticeId,
    id: RoleId,
    name: &TitleText,
) -> Result<(), Error> {
    roles::Entity::update_many()
        .col_expr(roles::Column::Name, Expr::value(name.to_string()))
        .col_expr(
            roles::Column::NameKey,
            Expr::value(name.as_str().to_lowercase()),
        )
        .in_practice(practice)
        .filter(roles::Column::Id.eq(id.as_uuid()))
        .exec(tx)
        .await
        .map_err(name_taken(name))?;
    Ok(())
}

/// Replaces the role's permissions with `permissions`.
pub async fn set_permissions<C: ConnectionTrait>(
    tx: &C,
    practice: PracticeId,
    role: RoleId,
    permissions: &BTreeSet<String>,
) -> Result<(), Error> {
    role_permissions::Entity::delete_many()
        .in_practice(practice)
        .filter(role_permissions::Column::RoleId.eq(role.as_uuid()))
        .exec(tx)
        .await?;
    if permissions.is_empty() {
        return Ok(());
    }
    role_permissions::Entity::insert_many(permissions.iter().map(|permission| {
        role_permissions::ActiveModel {
            role_id: Set(role.as_uuid()),
            permission: Set(permission.clone()),
            practice_id: Set(practice.as_uuid()),
        }
    }))
    .exec_without_returning(tx)
    .await?;
    Ok(())
}

/// Deletes the role and its permissions.
pub async fn delete<C: ConnectionTrait>(
    tx: &C,
    practice: PracticeId,
    id: RoleId,
) -> Result<(), Error> {
    role_permissions::Entity::delete_many()
        .in_practice(practice)
        .filter(role_permissions::Column::RoleId.eq(id.as_uuid()))
        .exec(tx)
        .await?;
    roles::Entity::delete_many()
        .in_practice(practice)
        .filter(roles::Column::Id.eq(id.as_uuid()))
        .exec(tx)
        .await?;
    Ok(())
}

/// The roles among `ids` that the practice has.
pub async fn existing<C: ConnectionTrait>(
    conn: &C,
    practice: PracticeId,
    ids: &BTreeSet<RoleId>,
) -> Result<HashSet<RoleId>, Error> {
    if ids.is_empty() {
        return Ok(HashSet::new());
    }
    Ok(roles::Entity::find()
        .in_practice(practice)
        .filter(roles::Column::Id.is_in(ids.iter().map(|r| r.as_uuid())))
        .all(conn)
        .await?
        .into_iter()
        .map(|r| RoleId(r.id))
        .collect())
}

/// The names of the practice's roles: those among `ids`, or (with `None`) every one.
pub async fn names<C: ConnectionTrait>(
    conn: &C,
    practice: PracticeId,
    ids: Option<&BTreeSet<RoleId>>,
) -> Result<HashMap<RoleId, String>, Error> {
    let mut select = roles::Entity::find().in_practice(practice);
    if let Some(ids) = ids {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        select = select.filter(roles::Column::Id.is_in(ids.iter().map(|r| r.as_uuid())));
    }
    Ok(select
        .all(conn)
        .await?
        .into_iter()
        .map(|r| (RoleId(r.id), r.name))
        .collect())
}

/// Every role of the practice with its permissions.
pub async fn permissions<C: ConnectionTrait>(
    conn: &C,
    practice: PracticeId,
) -> Result<HashMap<RoleId, HashSet<String>>, Error> {
    let mut permissions: HashMap<RoleId, HashSet<String>> = HashMap::new();
    for row in role_permissions::Entity::find()
        .in_practice(practice)
        .all(conn)
        .await?
    {
        permissions
            .entry(RoleId(row.role_id))
            .or_default()
            .insert(row.permission);
    }
    Ok(permissions)
}
