//! Roles: the built-in ones every practice has, and the practice's own.

use std::collections::{BTreeSet, HashMap};

use ps_auth::UserCaller;
use ps_core::{PracticeId, TitleText};
use ps_db::tenancy::InPractice;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

use super::{ADMINS, AuditEntry, OrgAccess};
use crate::domain::{BUILT_IN_ROLES, MembershipStatus, Role, built_in_role_id};
use crate::error::Error;
use crate::store::{memberships, role_permissions, roles};

impl OrgAccess {
    /// Creates the practice's built-in roles if they are not there yet (idempotent, and safe
    /// across replicas: the ids are derived, inserts do nothing on conflict).
    pub(crate) async fn ensure_built_in_roles<C: ConnectionTrait>(
        &self,
        conn: &C,
        practice: PracticeId,
    ) -> Result<(), Error> {
        // Inserts when missing: a write, even outside a use case's transaction.
        let _writing = self.writing();
        let first = built_in_role_id(practice, BUILT_IN_ROLES[0].key);
        if roles::Entity::find_by_id(first).one(conn).await?.is_some() {
            return Ok(());
        }
        let now = self.now();
        roles::Entity::insert_many(BUILT_IN_ROLES.iter().map(|role| roles::ActiveModel {
            id: Set(built_in_role_id(practice, role.key)),
            practice_id: Set(practice.as_uuid()),
            name: Set(role.name.to_owned()),
            name_key: Set(role.name.to_lowercase()),
            built_in: Set(true),
            created_at: Set(now),
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
                    role_id: Set(built_in_role_id(practice, role.key)),
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

    pub(crate) async fn role_row<C: ConnectionTrait>(
        &self,
        conn: &C,
        practice: PracticeId,
        id: Uuid,
    ) -> Result<roles::Model, Error> {
        self.ensure_built_in_roles(conn, practice).await?;
        roles::Entity::find_by_id(id)
            .in_practice(practice)
            .one(conn)
            .await?
            .ok_or(Error::NotFound("role"))
    }

    async fn roles<C: ConnectionTrait>(
        &self,
        conn: &C,
        rows: Vec<roles::Model>,
    ) -> Result<Vec<Role>, Error> {
        let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
        let mut permissions: HashMap<Uuid, Vec<String>> = HashMap::new();
        let mut counts: HashMap<Uuid, u64> = HashMap::new();
        if !ids.is_empty() {
            for row in role_permissions::Entity::find()
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
            let in_use: Vec<(Uuid, i64)> = memberships::Entity::find()
                .select_only()
                .column(memberships::Column::RoleId)
                .column_as(Expr::col(memberships::Column::Id).count(), "count")
                .filter(memberships::Column::RoleId.is_in(ids))
                .filter(memberships::Column::Status.is_in(MembershipStatus::CURRENT))
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
                id: r.id,
                name: r.name,
                built_in: r.built_in,
            })
            .collect())
    }

    pub async fn list_roles(&self, caller: &UserCaller) -> Result<Vec<Role>, Error> {
        self.acting(caller).await?;
        self.ensure_built_in_roles(&self.0.db, caller.practice_id)
            .await?;
        let rows = roles::Entity::find()
            .in_practice(caller.practice_id)
            .order_by_desc(roles::Column::BuiltIn)
            .order_by_asc(roles::Column::NameKey)
            .all(&self.0.db)
            .await?;
        self.roles(&self.0.db, rows).await
    }

    async fn one_role<C: ConnectionTrait>(
        &self,
        conn: &C,
        row: roles::Model,
    ) -> Result<Role, Error> {
        self.roles(conn, vec![row])
            .await?
            .pop()
            .ok_or_else(|| Error::Internal("role vanished".into()))
    }

    async fn set_permissions<C: ConnectionTrait>(
        &self,
        tx: &C,
        practice: PracticeId,
        role: Uuid,
        permissions: &BTreeSet<String>,
    ) -> Result<(), Error> {
        role_permissions::Entity::delete_many()
            .filter(role_permissions::Column::RoleId.eq(role))
            .exec(tx)
            .await?;
        if permissions.is_empty() {
            return Ok(());
        }
        role_permissions::Entity::insert_many(permissions.iter().map(|permission| {
            role_permissions::ActiveModel {
                role_id: Set(role),
                permission: Set(permission.clone()),
                practice_id: Set(practice.as_uuid()),
            }
        }))
        .exec_without_returning(tx)
        .await?;
        Ok(())
    }

    fn name_taken(name: &TitleText) -> impl Fn(sea_orm::DbErr) -> Error + '_ {
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

    /// A retry with the same request id answers with the role the first one created.
    pub async fn create_role(
        &self,
        caller: &UserCaller,
        name: TitleText,
        permissions: BTreeSet<String>,
        key: Option<ps_core::RequestKey>,
    ) -> Result<Role, Error> {
        let key = key.as_ref();
        ps_db::idempotency::run_once(
            &self.0.db,
            caller.practice_id.as_uuid(),
            "CreateRole",
            key,
            ps_db::idempotency::reused(key, Error::FailedPrecondition),
            || self.create_role_now(caller, name, permissions, key),
            |id| async move {
                self.acting(caller).await?;
                let row = roles::Entity::find_by_id(id)
                    .in_practice(caller.practice_id)
                    .one(&self.0.db)
                    .await?
                    .ok_or(Error::NotFound("role"))?;
                self.one_role(&self.0.db, row).await
            },
        )
        .await
    }

    async fn create_role_now(
        &self,
        caller: &UserCaller,
        name: TitleText,
        permissions: BTreeSet<String>,
        key: Option<&ps_core::RequestKey>,
    ) -> Result<Role, Error> {
        let acting = self.acting(caller).await?;
        acting.require(&ADMINS, "managing roles")?;
        let (_writing, tx) = self.begin().await?;
        self.ensure_built_in_roles(&tx, caller.practice_id).await?;
        let row = roles::ActiveModel {
            id: Set(Uuid::now_v7()),
            practice_id: Set(caller.practice_id.as_uuid()),
            name: Set(name.to_string()),
            name_key: Set(name.as_str().to_lowercase()),
            built_in: Set(false),
            created_at: Set(self.now()),
        }
        .insert(&tx)
        .await
        .map_err(Self::name_taken(&name))?;
        self.set_permissions(&tx, caller.practice_id, row.id, &permissions)
            .await?;
        self.audit_one(
            &tx,
            caller.practice_id,
            &acting.actor,
            AuditEntry {
                action: "role.created",
                organisation: None,
                staff: None,
                request_id: None,
                before: serde_json::Value::Null,
                after: serde_json::json!({ "role_id": row.id, "name": row.name, "permissions": permissions }),
            },
        )
        .await?;
        let role = self.one_role(&tx, row).await?;
        super::remember(&tx, caller.practice_id, "CreateRole", key, role.id).await?;
        tx.commit().await?;
        Ok(role)
    }

    /// Changing a role's permissions changes what everyone holding it may do, at the next check.
    pub async fn update_role(
        &self,
        caller: &UserCaller,
        id: Uuid,
        name: Option<TitleText>,
        permissions: Option<BTreeSet<String>>,
    ) -> Result<Role, Error> {
        let acting = self.acting(caller).await?;
        acting.require(&ADMINS, "managing roles")?;
        let (_writing, tx) = self.begin().await?;
        let row = self.role_row(&tx, caller.practice_id, id).await?;
        if row.built_in {
            return Err(Error::FailedPrecondition(format!(
                "{} is a built-in role and cannot change; create a role of your own",
                row.name
            )));
        }
        let before = self.one_role(&tx, row.clone()).await?;
        let row = match &name {
            Some(name) if name.as_str() != row.name => {
                let mut active = row.into_active_model();
                active.name = Set(name.to_string());
                active.name_key = Set(name.as_str().to_lowercase());
                active.update(&tx).await.map_err(Self::name_taken(name))?
            }
            _ => row,
        };
        if let Some(permissions) = &permissions {
            self.set_permissions(&tx, caller.practice_id, id, permissions)
                .await?;
        }
        let after = self.one_role(&tx, row).await?;
        if after != before {
            self.audit_one(
                &tx,
                caller.practice_id,
                &acting.actor,
                AuditEntry {
                    action: "role.updated",
                    organisation: None,
                    staff: None,
                    request_id: None,
                    before: serde_json::json!({ "role_id": id, "name": before.name, "permissions": before.permissions }),
                    after: serde_json::json!({ "role_id": id, "name": after.name, "permissions": after.permissions }),
                },
            )
            .await?;
        }
        tx.commit().await?;
        Ok(after)
    }

    pub async fn delete_role(&self, caller: &UserCaller, id: Uuid) -> Result<(), Error> {
        let acting = self.acting(caller).await?;
        acting.require(&ADMINS, "managing roles")?;
        let (_writing, tx) = self.begin().await?;
        let row = self.role_row(&tx, caller.practice_id, id).await?;
        if row.built_in {
            return Err(Error::FailedPrecondition(format!(
                "{} is a built-in role and cannot be deleted",
                row.name
            )));
        }
        let in_use = memberships::Entity::find()
            .filter(memberships::Column::RoleId.eq(id))
            .filter(memberships::Column::Status.is_in(MembershipStatus::CURRENT))
            .count(&tx)
            .await?;
        if in_use > 0 {
            return Err(Error::FailedPrecondition(format!(
                "the role {} is used by {in_use} membership{}; give them another role first",
                row.name,
                if in_use == 1 { "" } else { "s" }
            )));
        }
        role_permissions::Entity::delete_many()
            .filter(role_permissions::Column::RoleId.eq(id))
            .exec(&tx)
            .await?;
        roles::Entity::delete_by_id(id).exec(&tx).await?;
        self.audit_one(
            &tx,
            caller.practice_id,
            &acting.actor,
            AuditEntry {
                action: "role.deleted",
                organisation: None,
                staff: None,
                request_id: None,
                before: serde_json::json!({ "role_id": id, "name": row.name }),
                after: serde_json::Value::Null,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
