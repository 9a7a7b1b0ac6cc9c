//! Queuing the e-mails an event causes.

use chrono::{DateTime, Utc};
use ps_events::{ConsumerName, Event, HandleError, inbox};
use sea_orm::{ActiveModelTrait, DatabaseTransaction, DbErr, Set};

use super::{DeliveryState, Store, actor_json, deliveries};
use crate::domain::{Body, NewDelivery};

impl Store {
    /// Applies `event` once (`ps_events::inbox::apply_once`): in the transaction that records
    /// its id, the roster change and `queued` as queued deliveries, due at once, created at
    /// `queued_at`, joining the trace `traceparent`. Returns whether it was applied (false for
    /// a copy of an event already applied).
    pub async fn apply_event(
        &self,
        event: &Event,
        queued: Vec<NewDelivery>,
        queued_at: DateTime<Utc>,
        traceparent: Option<String>,
    ) -> Result<bool, HandleError> {
        let requested_by = actor_json(&event.actor);
        inbox::apply_once(
            &self.db,
            ConsumerName::Notification,
            event,
            move |tx, event| {
                Box::pin(async move {
                    ps_roster::apply(tx, event).await?;
                    for delivery in queued {
                        let stored = Stored {
                            queued_at,
                            traceparent: traceparent.clone(),
                            requested_by: requested_by.clone(),
                        };
                        insert(tx, event, delivery, stored).await?;
                    }
                    Ok::<_, DbErr>(())
                })
            },
        )
        .await
    }
}

/// What every delivery queued for one event shares.
struct Stored {
    queued_at: DateTime<Utc>,
    traceparent: Option<String>,
    requested_by: String,
}

async fn insert(
    tx: &DatabaseTransaction,
    event: &Event,
    delivery: NewDelivery,
    stored: Stored,
) -> Result<(), DbErr> {
    let mail = delivery.mail;
    let subject = mail.subject();
    let staff_id = mail.staff_id().map(|s| s.as_uuid());
    let (text, html, link_mail) = match mail.body {
        Body::Rendered(r) => (Some(r.text), Some(r.html), None),
        Body::Link(link) => (
            None,
            None,
            Some(serde_json::to_string(&link).map_err(|e| DbErr::Custom(e.to_string()))?),
        ),
    };
    deliveries::ActiveModel {
        id: Set(delivery.id),
        practice_id: Set(event.practice_id.map(|p| p.as_uuid())),
        event_id: Set(event.id.as_uuid()),
        template: Set(mail.template.to_owned()),
        recipient: Set(mail.recipient),
        recipient_name: Set(mail.recipient_name),
        subject: Set(subject),
        body_text: Set(text),
        body_html: Set(html),
        status: Set(DeliveryState::Queued),
        attempts: Set(0),
        last_error: Set(None),
        next_attempt_at: Set(Utc::now()),
        claimed_until: Set(None),
        created_at: Set(stored.queued_at),
        sent_at: Set(None),
        traceparent: Set(stored.traceparent),
        link_mail: Set(link_mail),
        link_id: Set(None),
        link_voided_at: Set(None),
        staff_id: Set(staff_id),
        requested_at: Set(Some(event.occurred_at)),
        requested_by: Set(Some(stored.requested_by)),
    }
    .insert(tx)
    .await?;
    Ok(())
}
