//! Org-access's use cases: organisations of a practice, authorised from the roster.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use ps_auth::UserCaller;
use ps_core::{Page, PageRequest, PracticeId, PracticeRole, SharedClock, TitleText};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use tracing::info;
use uuid::Uuid;

use crate::error::Error;
use crate::store::organisations;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organisation {
    pub id: Uuid,
    pub practice_id: PracticeId,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

fn organisation(row: organisations::Model) -> Organisation {
    Organisation {
        id: row.id,
        practice_id: PracticeId(row.practice_id),
        name: row.name,
        created_at: row.created_at,
    }
}

#[derive(Clone)]
pub struct OrgAccess(Arc<Inner>);

struct Inner {
    db: DatabaseConnection,
    clock: SharedClock,
}

impl OrgAccess {
    pub fn new(db: DatabaseConnection, clock: SharedClock) -> Self {
        Self(Arc::new(Inner { db, clock }))
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.0.db
    }

    pub fn clock(&self) -> &SharedClock {
        &self.0.clock
    }

    /// The caller's role if they are an active member of their practice, per the roster.
    async fn active_role(&self, caller: &UserCaller) -> Result<PracticeRole, Error> {
        ps_roster::active_role(&self.0.db, caller.practice_id, caller.user_id)
            .await?
            .ok_or_else(|| {
                Error::PermissionDenied("you are not an active member of this practice".into())
            })
    }

    pub async fn create_organisation(
        &self,
        caller: &UserCaller,
        name: TitleText,
    ) -> Result<Organisation, Error> {
        if !self.active_role(caller).await?.manages_staff() {
            return Err(Error::PermissionDenied(
                "adding organisations needs the Account Owner, Account Manager or User Manager role".into(),
            ));
        }
        let row = organisations::ActiveModel {
            id: Set(Uuid::now_v7()),
            practice_id: Set(caller.practice_id.as_uuid()),
            name: Set(name.to_string()),
            name_key: Set(name.as_str().to_lowercase()),
            created_at: Set(self.0.clock.now()),
        }
        .insert(&self.0.db)
        .await
        .map_err(|err| {
            if ps_db::is_unique_violation(&err) {
                Error::AlreadyExists(format!(
                    "an organisation named {name} already exists in this practice"
                ))
            } else {
                err.into()
            }
        })?;
        info!(practice_id = %caller.practice_id, organisation_id = %row.id, "organisation created");
        Ok(organisation(row))
    }

    pub async fn get_organisation(
        &self,
        caller: &UserCaller,
        id: Uuid,
    ) -> Result<Organisation, Error> {
        self.active_role(caller).await?;
        organisations::Entity::find_by_id(id)
            .filter(organisations::Column::PracticeId.eq(caller.practice_id.as_uuid()))
            .one(&self.0.db)
            .await?
            .map(organisation)
            .ok_or(Error::NotFound("organisation"))
    }

    pub async fn list_organisations(
        &self,
        caller: &UserCaller,
        page: PageRequest,
    ) -> Result<Page<Organisation>, Error> {
        self.active_role(caller).await?;
        let mut query = organisations::Entity::find()
            .filter(organisations::Column::PracticeId.eq(caller.practice_id.as_uuid()));
        if let Some(after) = page.after {
            query = query.filter(organisations::Column::Id.gt(after));
        }
        let rows = query
            .order_by_asc(organisations::Column::Id)
            .limit(page.fetch_limit())
            .all(&self.0.db)
            .await?;
        Ok(Page::from_rows(rows, &page, |row| row.id).map(organisation))
    }
}
