//! The delivery log, one practice's at a time, and the roster that says who may read it.

use ps_core::{Email, Page, PageRequest, PracticeId, PracticeRole, UserId};
use ps_db::tenancy::InPractice;
use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use super::{Store, deliveries};
use crate::domain::Delivery;

impl Store {
    /// The user's role in the practice if they are an active member there (notification's
    /// roster, kept from staff events).
    pub async fn active_role(
        &self,
        practice: PracticeId,
        user: UserId,
    ) -> Result<Option<PracticeRole>, DbErr> {
        ps_roster::active_role(&self.db, practice, user).await
    }

    /// One page of the practice's deliveries in id (queuing) order, only those to `recipient`
    /// when given.
    pub async fn deliveries(
        &self,
        practice: PracticeId,
        recipient: Option<&Email>,
        page: &PageRequest,
    ) -> Result<Page<Delivery>, DbErr> {
        let mut query = deliveries::Entity::find().in_practice(practice);
        if let Some(recipient) = recipient {
            query = query.filter(deliveries::Column::Recipient.eq(recipient.to_string()));
        }
        if let Some(after) = page.after {
            query = query.filter(deliveries::Column::Id.gt(after));
        }
        let rows = query
            .order_by_asc(deliveries::Column::Id)
            .limit(page.fetch_limit())
            .all(&self.db)
            .await?;
        Ok(Page::from_rows(rows, page, |r| r.id).map(Delivery::from))
    }

    /// The practice's delivery `id`; `None` when there is none, or it is another practice's
    /// (or a personal e-mail's).
    pub async fn delivery(
        &self,
        practice: PracticeId,
        id: Uuid,
    ) -> Result<Option<Delivery>, DbErr> {
        Ok(deliveries::Entity::find_by_id(id)
            .in_practice(practice)
            .one(&self.db)
            .await?
            .map(Delivery::from))
    }
}
