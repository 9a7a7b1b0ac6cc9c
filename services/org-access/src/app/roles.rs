//! Roles: the built-in ones every practice has, and the practice's own.

use std::collections::BTreeSet;

use ps_auth::UserCaller;
use ps_core::{PracticeId, RoleId, TitleText};
use ps_db::Tx;

use super::{ADMINS, AuditEntry, OrgAccess};
use crate::domain::Role;
use crate::error::Error;
use crate::store;

impl OrgAccess {
    /// Creates the practice's built-in roles if they are not there yet, outside a use case's
    /// transaction (inside one, the transaction's guard already covers the write).
    pub(super) async fn ensure_built_in_roles(&self, practice: PracticeId) -> Result<(), Error> {
        // Inserts when missing: a write, even outside a use case's transaction.
        let _writing = self.writing();
        store::roles::ensure_built_in(&self.0.db, practice, self.now()).await
    }

    /// A role of the practice (the built-in ones created first if need be), or NotFound.
    async fn role_in(&self, tx: &Tx, practice: PracticeId, id: RoleId) -> Result<Role, Error> {
        store::roles::ensure_built_in(tx, practice, self.now()).await?;
        store::roles::get(tx, practice, id).await
    }

    pub async fn list_roles(&self, caller: &UserCaller) -> Result<Vec<Role>, Error> {
        self.acting(caller).await?;
        self.ensure_built_in_roles(caller.practice_id).await?;
        store::roles::list(&self.0.db, caller.practice_id).await
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
                store::roles::get(&self.0.db, caller.practice_id, RoleId(id)).await
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
        let practice = caller.practice_id;
        let (_writing, tx) = self.begin().await?;
        store::roles::ensure_built_in(&tx, practice, self.now()).await?;
        let role = store::roles::insert(&tx, practice, &name, &permissions, self.now()).await?;
        let entry = AuditEntry::new(
            "role.created",
            serde_json::Value::Null,
            serde_json::json!({ "role_id": role.id, "name": role.name, "permissions": permissions }),
        );
        self.audit_one(&tx, practice, &acting.actor, entry).await?;
        super::remember(&tx, practice, "CreateRole", key, role.id.as_uuid()).await?;
        tx.commit().await?;
        Ok(role)
    }

    /// Changing a role's permissions changes what everyone holding it may do, at the next check.
    pub async fn update_role(
        &self,
        caller: &UserCaller,
        id: RoleId,
        name: Option<TitleText>,
        permissions: Option<BTreeSet<String>>,
    ) -> Result<Role, Error> {
        let acting = self.acting(caller).await?;
        acting.require(&ADMINS, "managing roles")?;
        let practice = caller.practice_id;
        let (_writing, tx) = self.begin().await?;
        let before = self.role_in(&tx, practice, id).await?;
        if before.built_in {
            return Err(Error::FailedPrecondition(format!(
                "{} is a built-in role and cannot change; create a role of your own",
                before.name
            )));
        }
        if let Some(name) = name.filter(|name| name.as_str() != before.name) {
            store::roles::rename(&tx, practice, id, &name).await?;
        }
        if let Some(permissions) = &permissions {
            store::roles::set_permissions(&tx, practice, id, permissions).await?;
        }
        let after = store::roles::get(&tx, practice, id).await?;
        if after != before {
            let entry = AuditEntry::new(
                "role.updated",
                serde_json::json!({ "role_id": id, "name": before.name, "permissions": before.permissions }),
                serde_json::json!({ "role_id": id, "name": after.name, "permissions": after.permissions }),
            );
            self.audit_one(&tx, practice, &acting.actor, entry).await?;
        }
        tx.commit().await?;
        Ok(after)
    }

    pub async fn delete_role(&self, caller: &UserCaller, id: RoleId) -> Result<(), Error> {
        let acting = self.acting(caller).await?;
        acting.require(&ADMINS, "managing roles")?;
        let practice = caller.practice_id;
        let (_writing, tx) = self.begin().await?;
        let role = self.role_in(&tx, practice, id).await?;
        if role.built_in {
            return Err(Error::FailedPrecondition(format!(
                "{} is a built-in role and cannot be deleted",
                role.name
            )));
        }
        // How many current memberships hold it.
        let in_use = role.memberships;
        if in_use > 0 {
            return Err(Error::FailedPrecondition(format!(
                "the role {} is used by {in_use} membership{}; give them another role first",
                role.name,
                if in_use == 1 { "" } else { "s" }
            )));
        }
        store::roles::delete(&tx, practice, id).await?;
        let entry = AuditEntry::new(
            "role.deleted",
            serde_json::json!({ "role_id": id, "name": role.name }),
            serde_json::Value::Null,
        );
        self.audit_one(&tx, practice, &acting.actor, entry).await?;
        tx.commit().await?;
        Ok(())
    }
}
