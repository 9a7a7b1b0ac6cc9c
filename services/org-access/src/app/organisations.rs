//! The practice's client organisations.

use ps_auth::UserCaller;
use ps_core::{OrganisationId, Page, PageRequest, TitleText};
use tracing::info;

use super::{AuditEntry, MANAGERS, OrgAccess};
use crate::domain::Organisation;
use crate::error::Error;
use crate::store;

impl OrgAccess {
    /// A retry with the same request id answers with the organisation the first one created.
    pub async fn create_organisation(
        &self,
        caller: &UserCaller,
        name: TitleText,
        key: Option<ps_core::RequestKey>,
    ) -> Result<Organisation, Error> {
        let key = key.as_ref();
        ps_db::idempotency::run_once(
            &self.0.db,
            caller.practice_id.as_uuid(),
            "CreateOrganisation",
            key,
            ps_db::idempotency::reused(key, Error::FailedPrecondition),
            || self.create_organisation_now(caller, name, key),
            |id| self.get_organisation(caller, OrganisationId(id)),
        )
        .await
    }

    async fn create_organisation_now(
        &self,
        caller: &UserCaller,
        name: TitleText,
        key: Option<&ps_core::RequestKey>,
    ) -> Result<Organisation, Error> {
        let acting = self.acting(caller).await?;
        acting.require(&MANAGERS, "adding organisations")?;
        let practice = caller.practice_id;
        let (_writing, tx) = self.begin().await?;
        let created = store::organisations::insert(&tx, practice, &name, self.now()).await?;
        let entry = AuditEntry::new(
            "organisation.created",
            serde_json::Value::Null,
            serde_json::json!({ "name": created.name }),
        );
        self.audit_one(&tx, practice, &acting.actor, entry.about(created.id))
            .await?;
        let id = created.id.as_uuid();
        super::remember(&tx, practice, "CreateOrganisation", key, id).await?;
        tx.commit().await?;
        info!(practice_id = %practice, organisation_id = %created.id, "organisation created");
        Ok(created)
    }

    pub async fn rename_organisation(
        &self,
        caller: &UserCaller,
        id: OrganisationId,
        name: TitleText,
    ) -> Result<Organisation, Error> {
        let acting = self.acting(caller).await?;
        acting.require(&MANAGERS, "changing organisations")?;
        let practice = caller.practice_id;
        let (_writing, tx) = self.begin().await?;
        let found = store::organisations::get(&tx, practice, id).await?;
        if found.name == name.as_str() {
            return Ok(found);
        }
        let before = serde_json::json!({ "name": found.name });
        let renamed = store::organisations::rename(&tx, found, &name).await?;
        let entry = AuditEntry::new(
            "organisation.renamed",
            before,
            serde_json::json!({ "name": renamed.name }),
        );
        self.audit_one(&tx, practice, &acting.actor, entry.about(id))
            .await?;
        tx.commit().await?;
        Ok(renamed)
    }

    pub async fn archive_organisation(
        &self,
        caller: &UserCaller,
        id: OrganisationId,
    ) -> Result<Organisation, Error> {
        let acting = self.acting(caller).await?;
        acting.require(&MANAGERS, "changing organisations")?;
        let practice = caller.practice_id;
        let (_writing, tx) = self.begin().await?;
        let found = store::organisations::get(&tx, practice, id).await?;
        if found.archived {
            return Ok(found);
        }
        let archived = store::organisations::archive(&tx, found, self.now()).await?;
        let entry = AuditEntry::new(
            "organisation.archived",
            serde_json::json!({ "archived": false }),
            serde_json::json!({ "archived": true }),
        );
        self.audit_one(&tx, practice, &acting.actor, entry.about(id))
            .await?;
        tx.commit().await?;
        Ok(archived)
    }

    pub async fn get_organisation(
        &self,
        caller: &UserCaller,
        id: OrganisationId,
    ) -> Result<Organisation, Error> {
        self.acting(caller).await?;
        store::organisations::get(&self.0.db, caller.practice_id, id).await
    }

    pub async fn list_organisations(
        &self,
        caller: &UserCaller,
        query: Option<String>,
        include_archived: bool,
        page: PageRequest,
    ) -> Result<Page<Organisation>, Error> {
        self.acting(caller).await?;
        store::organisations::list(
            &self.0.db,
            caller.practice_id,
            query.as_deref(),
            include_archived,
            &page,
        )
        .await
    }
}
