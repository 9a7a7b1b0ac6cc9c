//! Keeps org-access's staff projection current from staff and identity events.

use async_trait::async_trait;
use ps_events::consumer::{EventHandler, HandleError};
use ps_events::{ConsumerName, Event, Payload, inbox};
use sea_orm::TransactionTrait;

use crate::app::{OrgAccess, staff_status};

pub struct Handler(pub OrgAccess);

fn retryable(err: impl std::fmt::Display) -> HandleError {
    HandleError::Retryable(err.to_string())
}

#[async_trait]
impl EventHandler for Handler {
    fn consumer(&self) -> ConsumerName {
        ConsumerName::OrgAccess
    }

    async fn handle(&self, event: Event) -> Result<(), HandleError> {
        let tx = self.0.db().begin().await.map_err(retryable)?;
        let now = self.0.clock().now();
        if !inbox::record_once(&tx, self.consumer(), event.id, event.event_type(), now)
            .await
            .map_err(retryable)?
        {
            return Ok(());
        }
        let practice = event.practice_id;
        match &event.payload {
            Payload::StaffInvited(p) => {
                self.0
                    .project_invited(&tx, practice, p.staff_id, p.role)
                    .await
            }
            Payload::InvitationAccepted(p) => {
                self.0
                    .project_answer(
                        &tx,
                        practice,
                        p.staff_id,
                        p.user_id,
                        Some(p.role),
                        staff_status::ACTIVE,
                    )
                    .await
            }
            Payload::InvitationDeclined(p) => {
                self.0
                    .project_answer(
                        &tx,
                        practice,
                        p.staff_id,
                        p.user_id,
                        None,
                        staff_status::DECLINED,
                    )
                    .await
            }
        }
        .map_err(retryable)?;
        tx.commit().await.map_err(retryable)
    }
}
