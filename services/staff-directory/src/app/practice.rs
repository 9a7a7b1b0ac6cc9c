//! Practices: operator bootstrap and the practice's settings.

use ps_auth::UserCaller;
use ps_core::{PracticeId, PracticeRole, RequestKey, StaffId};
use ps_events::Actor;
use sea_orm::{ActiveModelTrait, EntityTrait, IntoActiveModel, Set, TransactionTrait};
use tracing::info;

use super::{Directory, OPERATOR_SCOPE, remember};
use crate::domain::{Invitation, NewPractice, Practice, PracticeSettings, StaffMember};
use crate::error::Error;
use crate::store::{practices, staff_members};

pub(super) fn practice(row: practices::Model) -> Practice {
    Practice {
        id: PracticeId(row.id),
        name: row.name,
        created_at: row.created_at,
        settings: PracticeSettings {
            require_location_for_invites: row.require_location_for_invites,
        },
    }
}

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
            &self.0.db,
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
        let row = staff_members::Entity::find_by_id(owner.as_uuid())
            .one(&self.0.db)
            .await?
            .ok_or(Error::NotFound("staff member"))?;
        let practice_row = self
            .practice_row(&self.0.db, PracticeId(row.practice_id))
            .await?;
        Ok((practice(practice_row), self.member(&self.0.db, row).await?))
    }

    async fn create_practice_now(
        &self,
        new: NewPractice,
        key: Option<&RequestKey>,
    ) -> Result<(Practice, StaffMember), Error> {
        let now = self.now();
        let actor = Actor::operator(self.0.settings.operator_name.clone());
        let tx = self.0.db.begin().await?;
        let row = practices::ActiveModel {
            id: Set(PracticeId::generate().as_uuid()),
            name: Set(new.name.to_string()),
            require_location_for_invites: Set(false),
            created_at: Set(now),
        }
        .insert(&tx)
        .await?;
        let practice_id = PracticeId(row.id);
        self.audit(
            &tx,
            practice_id,
            &actor,
            "practice.created",
            None,
            None,
            serde_json::Value::Null,
            serde_json::json!({ "name": row.name }),
        )
        .await?;
        let owner = self
            .invite_into(
                &tx,
                &row,
                &actor,
                Invitation {
                    email: new.owner_email,
                    name: new.owner_name,
                    role: PracticeRole::AccountOwner,
                    primary_location: None,
                    locations: Vec::new(),
                    external_agent: false,
                },
            )
            .await?;
        let owner = self.member(&tx, owner).await?;
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
        info!(practice_id = %row.id, owner_staff_id = %owner.id, "practice created");
        Ok((practice(row), owner))
    }

    pub async fn get_practice(&self, caller: &UserCaller) -> Result<Practice, Error> {
        self.acting(caller).await?;
        Ok(practice(
            self.practice_row(&self.0.db, caller.practice_id).await?,
        ))
    }

    pub async fn update_practice_settings(
        &self,
        caller: &UserCaller,
        settings: PracticeSettings,
    ) -> Result<Practice, Error> {
        let acting = self.acting(caller).await?;
        acting.require(&[PracticeRole::AccountOwner], "changing practice settings")?;
        let tx = self.0.db.begin().await?;
        let row = self.lock_practice(&tx, caller.practice_id).await?;
        if row.require_location_for_invites == settings.require_location_for_invites {
            return Ok(practice(row));
        }
        let before =
            serde_json::json!({ "require_location_for_invites": row.require_location_for_invites });
        let mut active = row.into_active_model();
        active.require_location_for_invites = Set(settings.require_location_for_invites);
        let row = active.update(&tx).await?;
        self.audit(
            &tx,
            caller.practice_id,
            &acting.actor,
            "practice.settings_changed",
            None,
            None,
            before,
            serde_json::json!({ "require_location_for_invites": row.require_location_for_invites }),
        )
        .await?;
        tx.commit().await?;
        Ok(practice(row))
    }
}
