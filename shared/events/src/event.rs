//! Domain events: the facts one service tells the others, free of protobuf types.

use chrono::{DateTime, Utc};
use ps_core::{Email, EventId, PersonName, PracticeId, PracticeRole, StaffId, UserId};

/// Routing keys (the AMQP routing key and the envelope's `event_type`).
pub mod types {
    pub const STAFF_INVITED: &str = "staff.invited";
    pub const INVITATION_ACCEPTED: &str = "identity.invitation_accepted";
    pub const INVITATION_DECLINED: &str = "identity.invitation_declined";
}

/// One fact, with who caused it and when.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: EventId,
    pub occurred_at: DateTime<Utc>,
    pub practice_id: PracticeId,
    pub actor: Actor,
    /// W3C trace context of the request that caused the event, empty when none.
    pub traceparent: String,
    pub tracestate: String,
    pub payload: Payload,
}

impl Event {
    pub fn new(
        practice_id: PracticeId,
        actor: Actor,
        occurred_at: DateTime<Utc>,
        payload: Payload,
    ) -> Self {
        Self {
            id: EventId::generate(),
            occurred_at,
            practice_id,
            actor,
            traceparent: String::new(),
            tracestate: String::new(),
            payload,
        }
    }

    pub fn event_type(&self) -> &'static str {
        self.payload.event_type()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActorKind {
    /// A signed-in user acting in a practice.
    User,
    /// Someone holding the operator credential (bootstrap).
    Operator,
    /// The invited person, acting through their invitation link.
    Invitee,
}

/// The person behind an event; never an anonymous "system".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub kind: ActorKind,
    /// User id for users and invitees; the operator's configured name for operators.
    pub id: String,
    pub name: String,
}

impl Actor {
    pub fn user(id: UserId, name: impl Into<String>) -> Self {
        Self {
            kind: ActorKind::User,
            id: id.to_string(),
            name: name.into(),
        }
    }

    pub fn operator(name: impl Into<String>) -> Self {
        let name = name.into();
        Self {
            kind: ActorKind::Operator,
            id: name.clone(),
            name,
        }
    }

    pub fn invitee(id: UserId, name: impl Into<String>) -> Self {
        Self {
            kind: ActorKind::Invitee,
            id: id.to_string(),
            name: name.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    StaffInvited(StaffInvited),
    InvitationAccepted(InvitationAccepted),
    InvitationDeclined(InvitationDeclined),
}

impl Payload {
    pub fn event_type(&self) -> &'static str {
        match self {
            Payload::StaffInvited(_) => types::STAFF_INVITED,
            Payload::InvitationAccepted(_) => types::INVITATION_ACCEPTED,
            Payload::InvitationDeclined(_) => types::INVITATION_DECLINED,
        }
    }
}

/// A practice invited someone; the member is Pending until they answer.
#[derive(Debug, Clone, PartialEq)]
pub struct StaffInvited {
    pub staff_id: StaffId,
    pub email: Email,
    pub name: PersonName,
    pub role: PracticeRole,
    /// Carried so the e-mail can be written without asking staff-directory.
    pub practice_name: String,
    pub inviter_name: String,
}

/// The invitee accepted and now has an account.
#[derive(Debug, Clone, PartialEq)]
pub struct InvitationAccepted {
    pub staff_id: StaffId,
    pub user_id: UserId,
    pub email: Email,
    pub role: PracticeRole,
}

/// The invitee declined.
#[derive(Debug, Clone, PartialEq)]
pub struct InvitationDeclined {
    pub staff_id: StaffId,
    pub user_id: UserId,
    pub email: Email,
}
