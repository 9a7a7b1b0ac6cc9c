//! The practice's client organisations.

use ps_auth::UserCaller;
use ps_core::{Page, PageRequest, PracticeId, TitleText};
use ps_db::tenancy::InPractice;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use tracing::info;
use uuid::Uuid;

use super::{AuditEntry, MANAGERS, OrgAccess};
use crate::domain::Organisation;
use crate::error::Error;
use crate::store::organisations;

pub(crate) fn organisation(row: organisations::Model) -> Organisation {
    Organisation {
        id: row.id,
        practice_id: PracticeId(row.practice_id),
        name: row.name,
        archived: row.archived_at.is_some(),
        created_at: row.created_at,
    }
}

fn name_taken(name: &TitleText) -> impl Fn(sea_orm::DbErr) -> Error + '_ {
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

impl OrgAccess {
    /// An organisation of the practice (archived ones included).
    pub(crate) async fn organisation_row<C: ConnectionTrait>(
        &self,
        conn: &C,
        practice: PracticeId,
        id: Uuid,
    ) -> Result<organisations::Model, Error> {
        organisations::Entity::find_by_id(id)
            .in_practice(practice)
            .one(conn)
            .await?
            .ok_or(Error::NotFound("organisation"))
    }

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
            |id| self.get_organisation(caller, id),
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
        let (_writing, tx) = self.begin().await?;
        let row = organisations::ActiveModel {
            id: Set(Uuid::now_v7()),
            practice_id: Set(caller.practice_id.as_uuid()),
            name: Set(name.to_string()),
            name_key: Set(name.as_str().to_lowercase()),
            archived_at: Set(None),
            created_at: Set(self.now()),
        }
        .insert(&tx)
        .await
        .map_err(name_taken(&name))?;
        self.audit_one(
            &tx,
            caller.practice_id,
            &acting.actor,
            AuditEntry {
                action: "organisation.created",
                organisation: Some(row.id),
                staff: None,
                request_id: None,
                before: serde_json::Value::Null,
                after: serde_json::json!({ "name": row.name }),
            },
        )
        .await?;
        super::remember(&tx, caller.practice_id, "CreateOrganisation", key, row.id).await?;
        tx.commit().await?;
        info!(practice_id = %caller.practice_id, organisation_id = %row.id, "organisation created");
        Ok(organisation(row))
    }

    pub async fn rename_organisation(
        &self,
        caller: &UserCaller,
        id: Uuid,
        name: TitleText,
    ) -> Result<Organisation, Error> {
        let acting = self.acting(caller).await?;
        acting.require(&MANAGERS, "changing organisations")?;
        let (_writing, tx) = self.begin().await?;
        let row = self.organisation_row(&tx, caller.practice_id, id).await?;
        if row.name == name.as_str() {
            return Ok(organisation(row));
        }
        let before = serde_json::json!({ "name": row.name });
        let mut active = row.into_active_model();
        active.name = Set(name.to_string());
        active.name_key = Set(name.as_str().to_lowercase());
        let row = active.update(&tx).await.map_err(name_taken(&name))?;
        self.audit_one(
            &tx,
            caller.practice_id,
            &acting.actor,
            AuditEntry {
                action: "organisation.renamed",
                organisation: Some(id),
                staff: None,
                request_id: None,
                before,
                after: serde_json::json!({ "name": row.name }),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(organisation(row))
    }

    pub async fn archive_organisation(
        &self,
        caller: &UserCaller,
        id: Uuid,
    ) -> Result<Organisation, Error> {
        let acting = self.acting(caller).await?;
        acting.require(&MANAGERS, "changing organisations")?;
        let (_writing, tx) = self.begin().await?;
        let row = self.organisation_row(&tx, caller.practice_id, id).await?;
        if row.archived_at.is_some() {
            return Ok(organisation(row));
        }
        let mut active = row.into_active_model();
        active.archived_at = Set(Some(self.now()));
        let row = active.update(&tx).await?;
        self.audit_one(
            &tx,
            caller.practice_id,
            &acting.actor,
            AuditEntry {
                action: "organisation.archived",
                organisation: Some(id),
                staff: None,
                request_id: None,
                before: serde_json::json!({ "archived": false }),
                after: serde_json::json!({ "archived": true }),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(organisation(row))
    }

    pub async fn get_organisation(
        &self,
        caller: &UserCaller,
        id: Uuid,
    ) -> Result<Organisation, Error> {
        self.acting(caller).await?;
        Ok(organisation(
            self.organisation_row(&self.0.db, caller.practice_id, id)
                .await?,
        ))
    }

    pub async fn list_organisations(
        &self,
        caller: &UserCaller,
        query: Option<String>,
        include_archived: bool,
        page: PageRequest,
    ) -> Result<Page<Organisation>, Error> {
        self.acting(caller).await?;
        let mut select = organisations::Entity::find().in_practice(caller.practice_id);
        if let Some(query) = query {
            select =
                select.filter(organisations::Column::NameKey.like(ps_db::like_containing(&query)));
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
            .all(&self.0.db)
            .await?;
        Ok(Page::from_rows(rows, &page, |row| row.id).map(organisation))
    }
}
