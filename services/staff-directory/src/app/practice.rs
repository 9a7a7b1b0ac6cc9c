//! Practices: operator bootstrap and the practice's settings.

use ps_auth::UserCaller;
use ps_core::{PracticeRole, RequestKey, StaffId};
use ps_events::Actor;
use tracing::info;

use super::{Change, Directory, OPERATOR_SCOPE, found, remember};
use crate::domain::{Invitation, NewPractice, Practice, PracticeSettings, StaffMember};
use crate::error::Error;
use crate::store;

impl Directory {
    /// Operator bootstrap: a new practice with its Account Owner invited. A retry with the same
    /// request id answers with the practice and owner the first request created.
    pub async fn create_practice(
        &self,
        new: NewPractice,
        key: Option<RequestKey>,
    ) -> Result<(Practice, StaffMember), Error> {
        let key = key.as_ref();
        ps_db::idempotency::run_once(
            self.db(),
            OPERATOR_SCOPE,
            "CreatePractice",
            key,
            ps_db::idempotency::reused(key, Error::FailedPrecondition),
            || self.create_practice_now(new, key),
            |owner| self.practice_of_owner(StaffId(owner)),
        )
        .await
    }

    /// The practice an owner was created with, and the owner as they are now.
    async fn practice_of_owner(&self, owner: StaffId) -> Result<(Practice, StaffMember), Error> {
        let owner = found(
            store::members::get_in_any_practice(self.db(), owner).await?,
            "staff member",
        )?;
        let practice = store::practices::get(self.db(), owner.practice_id).await?;
        Ok((practice, owner))
    }

    async fn create_practice_now(
        &self,
        new: NewPractice,
        key: Option<&RequestKey>,
    ) -> Result<(Practice, StaffMember), Error> {
        let actor = Actor::operator(self.0.settings.operator_name.clone());
        let tx = self.begin().await?;
        let practice = store::practices::insert(&tx, &new.name, self.now()).await?;
        let created = Change::practice("practice.created").before_after(
            serde_json::Value::Null,
            serde_json::json!({ "name": practice.name }),
        );
        self.audit(&tx, practice.id, &actor, created).await?;
        let invitation = Invitation {
            email: new.owner_email,
            name: new.owner_name,
            role: PracticeRole::AccountOwner,
            primary_location: None,
            locations: Vec::new(),
            external_agent: false,
        };
        let owner = self.invite_into(&tx, &practice, &actor, invitation).await?;
        remember(
            &tx,
            OPERATOR_SCOPE,
            "CreatePractice",
            key,
            owner.id.as_uuid(),
        )
        .await?;
        tx.commit().await?;
        self.published();
        info!(practice_id = %practice.id, owner_staff_id = %owner.id, "practice created");
        Ok((practice, owner))
    }

    pub async fn get_practice(&self, caller: &UserCaller) -> Result<Practice, Error> {
        self.acting(caller).await?;
        store::practices::get(self.db(), caller.practice_id).await
    }

    pub async fn update_practice_settings(
        &self,
        caller: &UserCaller,
        settings: PracticeSettings,
    ) -> Result<Practice, Error> {
        let acting = self.acting(caller).await?;
        acting.require(&[PracticeRole::AccountOwner], "changing practice settings")?;
        let tx = self.begin().await?;
        let mut practice = store::practices::lock(&tx, caller.practice_id).await?;
        if practice.settings == settings {
            return Ok(practice);
        }
        let before = serde_json::json!({
            "require_location_for_invites": practice.settings.require_location_for_invites,
        });
        practice.settings = settings;
        store::practices::save_settings(&tx, &practice).await?;
        let after = serde_json::json!({
            "require_location_for_invites": practice.settings.require_location_for_invites,
        });
        let changed = Change::practice("practice.settings_changed").before_after(before, after);
        self.audit(&tx, caller.practice_id, &acting.actor, changed)
            .await?;
        tx.commit().await?;
        Ok(practice)
    }
}
