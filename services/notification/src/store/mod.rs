//! Notification's tables and every query on them, behind [`Store`]: the use cases call its
//! methods with domain values and get domain values back, and never build a query.
//!
//! - [`deliveries`]: the entity; its status is stored through [`DeliveryState`].
//! - `queue`: queuing the e-mails an event causes, in the transaction that records the event.
//! - `sending`: the mailer's claims (leases), outcomes, failures and voided links.
//! - `log`: the delivery log, narrowed to the practice with [`ps_db::tenancy`], and the
//!   roster that authorises reading it.
//!
//! Outcomes of sending are written with patience (`persist`): an outcome that is not
//! recorded lets the claim lapse and the e-mail go out again.

/// The schema, oldest migration first (the shared event, roster and session tables among them).
pub mod migration;

mod log;
mod queue;
mod sending;

use std::time::Duration;

use ps_core::{PracticeId, StaffId};
use ps_events::{Actor, ActorKind};
use sea_orm::entity::prelude::*;
use sea_orm::{DatabaseConnection, DbErr};

use crate::domain::{Body, ClaimedDelivery, Delivery, DeliveryStatus};
use crate::links::LinkMail;
use crate::templates;

pub use sending::UnvoidedLink;

/// What the store fails with: the database's own error (the service's
/// [`crate::error::Error`] takes it with `?`).
pub type StoreError = DbErr;

/// The deliveries table, for leases.
const DELIVERIES: &str = "deliveries";

/// How long recording a send's outcome keeps trying while the database is unreachable: giving
/// up sooner would let the claim lapse and the e-mail go out a second time.
const RECORD_PATIENCE: Duration = Duration::from_secs(300);

ps_db::stored_as!(
    /// `deliveries.status`, with the words stored since the first migration.
    DeliveryState <=> DeliveryStatus {
        Queued => "queued",
        Sent => "sent",
        Failed => "failed",
    }
);

/// `deliveries`: the delivery log and the mailer's queue in one table.
pub mod deliveries {
    use sea_orm::entity::prelude::*;

    use super::DeliveryState;

    /// One e-mail: queued when its event is consumed (in the same transaction that records the
    /// event id), sent by the mailer afterwards. E-mails with a single-use link keep no body
    /// and no link: `link_mail` says what to write, and the link is minted at send time.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "deliveries")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// None for personal e-mails (password reset), which no practice's log shows.
        pub practice_id: Option<Uuid>,
        pub event_id: Uuid,
        pub template: String,
        pub recipient: String,
        pub recipient_name: String,
        pub subject: String,
        pub body_text: Option<String>,
        pub body_html: Option<String>,
        pub status: DeliveryState,
        pub attempts: i32,
        pub last_error: Option<String>,
        pub next_attempt_at: DateTimeUtc,
        pub claimed_until: Option<DateTimeUtc>,
        pub created_at: DateTimeUtc,
        pub sent_at: Option<DateTimeUtc>,
        /// The trace the e-mail belongs to (the event's consumer span), empty when none.
        pub traceparent: Option<String>,
        /// For e-mails with a single-use link: `crate::links::LinkMail` as JSON (no secret).
        pub link_mail: Option<String>,
        /// The last link minted for this e-mail (an id, not the link).
        pub link_id: Option<Uuid>,
        /// When that link was voided, after the e-mail finally failed.
        pub link_voided_at: Option<DateTimeUtc>,
        /// The member an invitation is for.
        pub staff_id: Option<Uuid>,
        /// When the causing event happened.
        pub requested_at: Option<DateTimeUtc>,
        /// The causing event's actor (kind, id, name) as JSON: a failure is reported in their
        /// name.
        pub requested_by: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

// A practice's deliveries are read with `InPractice::in_practice`; personal ones (no practice)
// are in no practice's log.
ps_db::tenanted!(deliveries);

/// Notification's database, with the queries the use cases need.
#[derive(Clone)]
pub struct Store {
    db: DatabaseConnection,
}

impl Store {
    /// The store over `db` (migrated).
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

/// Stored counts are never negative; one that is reads as none.
fn count(stored: i32) -> u32 {
    u32::try_from(stored).unwrap_or(0)
}

/// A count as stored.
fn stored_count(count: u32) -> i32 {
    i32::try_from(count).unwrap_or(i32::MAX)
}

impl From<deliveries::Model> for Delivery {
    fn from(row: deliveries::Model) -> Self {
        Delivery {
            id: row.id,
            practice_id: row.practice_id.map(PracticeId),
            event_id: row.event_id,
            template: row.template,
            recipient: row.recipient,
            subject: row.subject,
            status: row.status.into(),
            attempts: count(row.attempts),
            last_error: row.last_error.unwrap_or_default(),
            created_at: row.created_at,
            sent_at: row.sent_at,
            link_voided_at: row.link_voided_at,
        }
    }
}

impl From<deliveries::Model> for ClaimedDelivery {
    fn from(row: deliveries::Model) -> Self {
        let body = match row.link_mail.as_deref() {
            None => Ok(Body::Rendered(templates::Rendered {
                subject: row.subject,
                text: row.body_text.unwrap_or_default(),
                html: row.body_html.unwrap_or_default(),
            })),
            Some(stored) => serde_json::from_str::<LinkMail>(stored)
                .map(Body::Link)
                .map_err(|err| format!("unreadable stored e-mail: {err}")),
        };
        ClaimedDelivery {
            id: row.id,
            practice_id: row.practice_id.map(PracticeId),
            template: row.template,
            recipient: row.recipient,
            recipient_name: row.recipient_name,
            body,
            attempts: count(row.attempts),
            created_at: row.created_at,
            traceparent: row.traceparent,
            staff_id: row.staff_id.map(StaffId),
            requested_at: row.requested_at.unwrap_or(row.created_at),
            requested_by: actor_from_json(row.requested_by.as_deref()),
        }
    }
}

/// The actor of the event that asked for an e-mail, as stored with the delivery (the person a
/// failure is reported in the name of).
fn actor_json(actor: &Actor) -> String {
    let kind = match actor.kind {
        ActorKind::User => "user",
        ActorKind::Operator => "operator",
        ActorKind::Invitee => "invitee",
        ActorKind::Service => "service",
    };
    serde_json::json!({ "kind": kind, "id": actor.id, "name": actor.name }).to_string()
}

/// The stored actor; rows from before it was stored (or unreadable ones) read as the
/// notification service itself.
fn actor_from_json(stored: Option<&str>) -> Actor {
    let value: serde_json::Value = stored
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_default();
    let text = |key: &str| value[key].as_str().unwrap_or_default().to_owned();
    let kind = match value["kind"].as_str() {
        Some("user") => ActorKind::User,
        Some("operator") => ActorKind::Operator,
        Some("invitee") => ActorKind::Invitee,
        _ => ActorKind::Service,
    };
    let name = text("name");
    Actor {
        kind,
        id: if text("id").is_empty() {
            name.clone()
        } else {
            text("id")
        },
        name: if name.is_empty() {
            "Practice Staff notification".into()
        } else {
            name
        },
    }
}

/// Runs `write` until it succeeds, while the failure is the database being unreachable (or a
/// conflict), for at most [`RECORD_PATIENCE`]: an outcome that is not recorded lets the claim
/// lapse and the e-mail go out again.
async fn persist<T, F, Fut>(mut write: F) -> Result<T, DbErr>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, DbErr>>,
{
    let deadline = tokio::time::Instant::now() + RECORD_PATIENCE;
    let mut delay = Duration::from_millis(100);
    loop {
        match write().await {
            Ok(done) => return Ok(done),
            Err(err)
                if ps_db::classify(&err) != ps_db::Failure::Other
                    && tokio::time::Instant::now() + delay < deadline =>
            {
                tracing::debug!(error = %err, "recording a delivery outcome failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
            Err(err) => return Err(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use ps_core::UserId;

    use super::*;

    #[test]
    fn stored_states_keep_their_words() {
        let cases = [
            (DeliveryStatus::Queued, "queued"),
            (DeliveryStatus::Sent, "sent"),
            (DeliveryStatus::Failed, "failed"),
        ];
        for (status, word) in cases {
            let state = DeliveryState::from(status);
            assert_eq!(state.to_value(), word);
            assert_eq!(
                DeliveryState::try_from_value(&word.to_owned()).ok(),
                Some(state)
            );
            assert_eq!(DeliveryStatus::from(state), status);
        }
    }

    #[test]
    fn the_asking_actor_survives_storage() {
        let cases = [
            Actor::user(UserId::generate(), "Olive Owner"),
            Actor {
                kind: ActorKind::Operator,
                id: "bootstrap".into(),
                name: "Operator".into(),
            },
            Actor {
                kind: ActorKind::Invitee,
                id: "i-1".into(),
                name: "Ada".into(),
            },
            Actor {
                kind: ActorKind::Service,
                id: "identity".into(),
                name: "Identity".into(),
            },
        ];
        for actor in cases {
            assert_eq!(actor_from_json(Some(&actor_json(&actor))), actor);
        }
    }

    #[test]
    fn a_missing_or_partial_actor_reads_as_the_service() {
        let service = |id: &str, name: &str| Actor {
            kind: ActorKind::Service,
            id: id.into(),
            name: name.into(),
        };
        let cases = [
            (None, service("", "Practice Staff notification")),
            (Some("not json"), service("", "Practice Staff notification")),
            (
                Some(r#"{"kind":"robot","name":"Olive"}"#),
                service("Olive", "Olive"),
            ),
        ];
        for (stored, expected) in cases {
            assert_eq!(actor_from_json(stored), expected, "{stored:?}");
        }
    }
}
