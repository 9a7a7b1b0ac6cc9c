//! The practice's locations (facilities).

use ps_auth::UserCaller;
use ps_core::{LocationId, PracticeId, PracticeRole, TitleText};
use ps_db::tenancy::InPractice;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, Set, TransactionTrait,
};

use ps_events::Payload;
use ps_events::event::LocationChanged;

use super::Directory;
use crate::domain::Location;
use crate::error::Error;
use crate::store::locations;

const LOCATION_ADMINS: [PracticeRole; 2] =
    [PracticeRole::AccountOwner, PracticeRole::AccountManager];

fn location(row: locations::Model) -> Location {
    Location {
        id: LocationId(row.id),
        practice_id: PracticeId(row.practice_id),
        name: row.name,
        archived: row.archived_at.is_some(),
        created_at: row.created_at,
    }
}

/// The event telling others a location's current state.
fn changed(row: &locations::Model) -> Payload {
    Payload::LocationChanged(LocationChanged {
        location_id: LocationId(row.id),
        name: row.name.clone(),
        archived: row.archived_at.is_some(),
    })
}

fn name_taken(name: &TitleText) -> impl Fn(sea_orm::DbErr) -> Error + '_ {
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

impl Directory {
    async fn location_for_update<C: ConnectionTrait>(
        &self,
        tx: &C,
        practice: PracticeId,
        id: LocationId,
    ) -> Result<locations::Model, Error> {
        locations::Entity::find_by_id(id.as_uuid())
            .in_practice(practice)
            .one(tx)
            .await?
            .ok_or(Error::NotFound("location"))
    }

    /// A retry with the same request id answers with the location the first request created.
    pub async fn create_location(
        &self,
        caller: &UserCaller,
        name: TitleText,
        key: Option<ps_core::RequestKey>,
    ) -> Result<Location, Error> {
        let key = key.as_ref();
        ps_db::idempotency::run_once(
            &self.0.db,
            caller.practice_id.as_uuid(),
            "CreateLocation",
            key,
            ps_db::idempotency::reused(key, Error::FailedPrecondition),
            || self.create_location_now(caller, name, key),
            |id| async move {
                self.acting(caller).await?;
                let row = self
                    .location_for_update(&self.0.db, caller.practice_id, LocationId(id))
                    .await?;
                Ok(location(row))
            },
        )
        .await
    }

    async fn create_location_now(
        &self,
        caller: &UserCaller,
        name: TitleText,
        key: Option<&ps_core::RequestKey>,
    ) -> Result<Location, Error> {
        let acting = self.acting(caller).await?;
        acting.require(&LOCATION_ADMINS, "managing locations")?;
        let tx = self.0.db.begin().await?;
        let row = locations::ActiveModel {
            id: Set(LocationId::generate().as_uuid()),
            practice_id: Set(caller.practice_id.as_uuid()),
            name: Set(name.to_string()),
            name_key: Set(name.as_str().to_lowercase()),
            archived_at: Set(None),
            created_at: Set(self.now()),
        }
        .insert(&tx)
        .await
        .map_err(name_taken(&name))?;
        self.audit(
            &tx,
            caller.practice_id,
            &acting.actor,
            "location.created",
            None,
            Some(LocationId(row.id)),
            serde_json::Value::Null,
            serde_json::json!({ "name": row.name }),
        )
        .await?;
        self.publish(&tx, caller.practice_id, &acting.actor, changed(&row))
            .await?;
        let scope = caller.practice_id.as_uuid();
        super::remember(&tx, scope, "CreateLocation", key, row.id).await?;
        tx.commit().await?;
        self.published();
        Ok(location(row))
    }

    pub async fn rename_location(
        &self,
        caller: &UserCaller,
        id: LocationId,
        name: TitleText,
    ) -> Result<Location, Error> {
        let acting = self.acting(caller).await?;
        acting.require(&LOCATION_ADMINS, "managing locations")?;
        let tx = self.0.db.begin().await?;
        let row = self
            .location_for_update(&tx, caller.practice_id, id)
            .await?;
        if row.name == name.as_str() {
            return Ok(location(row));
        }
        let before = serde_json::json!({ "name": row.name });
        let mut active = row.into_active_model();
        active.name = Set(name.to_string());
        active.name_key = Set(name.as_str().to_lowercase());
        let row = active.update(&tx).await.map_err(name_taken(&name))?;
        self.audit(
            &tx,
            caller.practice_id,
            &acting.actor,
            "location.renamed",
            None,
            Some(id),
            before,
            serde_json::json!({ "name": row.name }),
        )
        .await?;
        self.publish(&tx, caller.practice_id, &acting.actor, changed(&row))
            .await?;
        tx.commit().await?;
        self.published();
        Ok(location(row))
    }

    /// Archived locations can no longer be given to members; members keep them in their list.
    pub async fn archive_location(
        &self,
        caller: &UserCaller,
        id: LocationId,
    ) -> Result<Location, Error> {
        let acting = self.acting(caller).await?;
        acting.require(&LOCATION_ADMINS, "managing locations")?;
        let tx = self.0.db.begin().await?;
        let row = self
            .location_for_update(&tx, caller.practice_id, id)
            .await?;
        if row.archived_at.is_some() {
            return Ok(location(row));
        }
        let mut active = row.into_active_model();
        active.archived_at = Set(Some(self.now()));
        let row = active.update(&tx).await?;
        self.audit(
            &tx,
            caller.practice_id,
            &acting.actor,
            "location.archived",
            None,
            Some(id),
            serde_json::json!({ "archived": false }),
            serde_json::json!({ "archived": true }),
        )
        .await?;
        self.publish(&tx, caller.practice_id, &acting.actor, changed(&row))
            .await?;
        tx.commit().await?;
        self.published();
        Ok(location(row))
    }

    pub async fn list_locations(
        &self,
        caller: &UserCaller,
        include_archived: bool,
    ) -> Result<Vec<Location>, Error> {
        self.acting(caller).await?;
        let mut query = locations::Entity::find().in_practice(caller.practice_id);
        if !include_archived {
            query = query.filter(locations::Column::ArchivedAt.is_null());
        }
        Ok(query
            .order_by_asc(locations::Column::NameKey)
            .all(&self.0.db)
            .await?
            .into_iter()
            .map(location)
            .collect())
    }
}
