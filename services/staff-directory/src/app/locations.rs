//! The practice's locations (facilities).

use ps_auth::UserCaller;
use ps_core::{LocationId, PracticeRole, TitleText};
use ps_events::Payload;
use ps_events::event::LocationChanged;

use super::{Change, Directory};
use crate::domain::Location;
use crate::error::Error;
use crate::store;

const LOCATION_ADMINS: [PracticeRole; 2] =
    [PracticeRole::AccountOwner, PracticeRole::AccountManager];

/// The event telling others a location's current state.
fn changed(location: &Location) -> Payload {
    Payload::LocationChanged(LocationChanged {
        location_id: location.id,
        name: location.name.clone(),
        archived: location.archived,
    })
}

impl Directory {
    /// A retry with the same request id answers with the location the first request created.
    pub async fn create_location(
        &self,
        caller: &UserCaller,
        name: TitleText,
        key: Option<ps_core::RequestKey>,
    ) -> Result<Location, Error> {
        let key = key.as_ref();
        ps_db::idempotency::run_once(
            self.db(),
            caller.practice_id.as_uuid(),
            "CreateLocation",
            key,
            ps_db::idempotency::reused(key, Error::FailedPrecondition),
            || self.create_location_now(caller, name, key),
            |id| async move {
                self.acting(caller).await?;
                store::locations::get(self.db(), caller.practice_id, LocationId(id)).await
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
        let tx = self.begin().await?;
        let location = store::locations::insert(&tx, caller.practice_id, &name, self.now()).await?;
        let created = Change::location("location.created", location.id).before_after(
            serde_json::Value::Null,
            serde_json::json!({ "name": location.name }),
        );
        self.audit(&tx, caller.practice_id, &acting.actor, created)
            .await?;
        self.publish(&tx, caller.practice_id, &acting.actor, changed(&location))
            .await?;
        let scope = caller.practice_id.as_uuid();
        super::remember(&tx, scope, "CreateLocation", key, location.id.as_uuid()).await?;
        tx.commit().await?;
        self.published();
        Ok(location)
    }

    pub async fn rename_location(
        &self,
        caller: &UserCaller,
        id: LocationId,
        name: TitleText,
    ) -> Result<Location, Error> {
        let acting = self.acting(caller).await?;
        acting.require(&LOCATION_ADMINS, "managing locations")?;
        let tx = self.begin().await?;
        let mut location = store::locations::get(&tx, caller.practice_id, id).await?;
        if location.name == name.as_str() {
            return Ok(location);
        }
        let before = serde_json::json!({ "name": location.name });
        store::locations::rename(&tx, &mut location, &name).await?;
        let renamed = Change::location("location.renamed", id)
            .before_after(before, serde_json::json!({ "name": location.name }));
        self.audit(&tx, caller.practice_id, &acting.actor, renamed)
            .await?;
        self.publish(&tx, caller.practice_id, &acting.actor, changed(&location))
            .await?;
        tx.commit().await?;
        self.published();
        Ok(location)
    }

    /// Archived locations can no longer be given to members; members keep them in their list.
    pub async fn archive_location(
        &self,
        caller: &UserCaller,
        id: LocationId,
    ) -> Result<Location, Error> {
        let acting = self.acting(caller).await?;
        acting.require(&LOCATION_ADMINS, "managing locations")?;
        let tx = self.begin().await?;
        let mut location = store::locations::get(&tx, caller.practice_id, id).await?;
        if location.archived {
            return Ok(location);
        }
        store::locations::archive(&tx, &mut location, self.now()).await?;
        let archived = Change::location("location.archived", id).before_after(
            serde_json::json!({ "archived": false }),
            serde_json::json!({ "archived": true }),
        );
        self.audit(&tx, caller.practice_id, &acting.actor, archived)
            .await?;
        self.publish(&tx, caller.practice_id, &acting.actor, changed(&location))
            .await?;
        tx.commit().await?;
        self.published();
        Ok(location)
    }

    pub async fn list_locations(
        &self,
        caller: &UserCaller,
        include_archived: bool,
    ) -> Result<Vec<Location>, Error> {
        self.acting(caller).await?;
        store::locations::list(self.db(), caller.practice_id, include_archived).await
    }
}
