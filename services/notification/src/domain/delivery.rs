//! A delivery: one e-mail, from the moment its event is consumed until it is sent or given up
//! on.

use chrono::{DateTime, Utc};
use ps_core::{Email, PracticeId, StaffId};
use ps_events::event::DeliveryFailed;
use ps_events::{Actor, Event, Payload};
use uuid::Uuid;

use super::mails::{Body, Mail};

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Waiting to be sent (or to be tried again).
    Queued,
    Sent,
    /// Given up on after the configured attempts, or the link could not be had.
    Failed,
}

/// A delivery as the delivery log shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: Uuid,
    /// None for personal e-mails (password reset).
    pub practice_id: Option<PracticeId>,
    pub event_id: Uuid,
    pub template: String,
    pub recipient: String,
    pub subject: String,
    pub status: DeliveryStatus,
    pub attempts: u32,
    pub last_error: String,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    /// When the single-use link of a finally failed e-mail was voided.
    pub link_voided_at: Option<DateTime<Utc>>,
}

/// An e-mail an event causes, with the id its delivery will have: the id is also its
/// Message-ID (and its file name in the folder transport), so it is chosen once, before the
/// transaction that queues it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelivery {
    pub id: Uuid,
    pub mail: Mail,
}

/// A queued delivery the mailer holds a claim on: what sending it, and reporting its failure,
/// needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedDelivery {
    pub id: Uuid,
    /// None for personal e-mails (password reset).
    pub practice_id: Option<PracticeId>,
    pub template: String,
    pub recipient: String,
    pub recipient_name: String,
    /// What the e-mail says; `Err` (with the reason) when what was stored cannot be read, so
    /// the e-mail can never be sent.
    pub body: Result<Body, String>,
    /// Attempts that counted so far (waiting for a link does not count).
    pub attempts: u32,
    /// When it was queued: the e-mail's Date.
    pub created_at: DateTime<Utc>,
    /// The trace the e-mail belongs to (the event's consumer span).
    pub traceparent: Option<String>,
    /// The member an invitation is for.
    pub staff_id: Option<StaffId>,
    /// When the causing event happened.
    pub requested_at: DateTime<Utc>,
    /// The causing event's actor: a failure is reported in their name.
    pub requested_by: Actor,
}

impl ClaimedDelivery {
    /// `notification.delivery_failed` for this e-mail, given up on for `reason`: in the
    /// practice it was sent for, or personal (a password reset), in the name of who asked.
    pub fn failure_event(&self, reason: &str, now: DateTime<Utc>) -> Event {
        let failed = Payload::DeliveryFailed(DeliveryFailed {
            delivery_id: self.id,
            template: self.template.clone(),
            recipient: Email::from_trusted(self.recipient.clone()),
            staff_id: self.staff_id,
            reason: reason.to_owned(),
            requested_at: self.requested_at,
        });
        let actor = self.requested_by.clone();
        match self.practice_id {
            Some(practice) => Event::new(practice, actor, now, failed),
            None => Event::personal(actor, now, failed),
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use ps_events::ActorKind;

    use super::*;
    use crate::templates;

    fn claimed(practice_id: Option<PracticeId>, staff_id: Option<StaffId>) -> ClaimedDelivery {
        ClaimedDelivery {
            id: Uuid::now_v7(),
            practice_id,
            template: templates::INVITATION.into(),
            recipient: "ada@example.test".into(),
            recipient_name: "Ada".into(),
            body: Err("unreadable".into()),
            attempts: 3,
            created_at: Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap(),
            traceparent: None,
            staff_id,
            requested_at: Utc.with_ymd_and_hms(2026, 1, 2, 3, 0, 0).unwrap(),
            requested_by: Actor {
                kind: ActorKind::User,
                id: "u-1".into(),
                name: "Olive Owner".into(),
            },
        }
    }

    #[test]
    fn a_failure_is_reported_where_and_for_whom_the_email_was_asked() {
        let practice = PracticeId::generate();
        let staff = StaffId::generate();
        let now = Utc.with_ymd_and_hms(2026, 1, 3, 0, 0, 0).unwrap();
        let cases = [
            (Some(practice), Some(staff), "smtp: refused"),
            (None, None, "identity refused the link"),
        ];
        for (practice_id, staff_id, reason) in cases {
            let delivery = claimed(practice_id, staff_id);
            let event = delivery.failure_event(reason, now);
            assert_eq!(event.practice_id, practice_id);
            assert_eq!(event.occurred_at, now);
            assert_eq!(event.actor, delivery.requested_by);
            let Payload::DeliveryFailed(failed) = &event.payload else {
                panic!("not a DeliveryFailed: {:?}", event.payload);
            };
            assert_eq!(failed.delivery_id, delivery.id);
            assert_eq!(failed.template, templates::INVITATION);
            assert_eq!(failed.recipient.as_str(), "ada@example.test");
            assert_eq!(failed.staff_id, staff_id);
            assert_eq!(failed.reason, reason);
            assert_eq!(failed.requested_at, delivery.requested_at);
        }
    }
}
