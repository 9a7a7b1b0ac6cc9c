//! Events to and from their protobuf envelope (`events.v1.Envelope`): the one place the event
//! types meet prost.

use prost::Message;
use ps_core::{Email, EventId, PersonName, PracticeId, StaffId, UserId};
use ps_proto::convert::{role_from_wire, role_to_wire, timestamp};
use ps_proto::events::v1 as pb;

use crate::event::{
    Actor, ActorKind, Event, InvitationAccepted, InvitationDeclined, Payload, StaffInvited,
};

/// Bytes that are not a valid envelope; retrying will not help.
#[derive(Debug, thiserror::Error)]
#[error("undecodable event: {0}")]
pub struct DecodeError(String);

fn bad(what: impl Into<String>) -> DecodeError {
    DecodeError(what.into())
}

pub fn encode(event: &Event) -> Vec<u8> {
    to_envelope(event).encode_to_vec()
}

pub fn decode(bytes: &[u8]) -> Result<Event, DecodeError> {
    let envelope = pb::Envelope::decode(bytes).map_err(|e| bad(e.to_string()))?;
    from_envelope(envelope)
}

fn to_envelope(event: &Event) -> pb::Envelope {
    let payload = match &event.payload {
        Payload::StaffInvited(p) => pb::envelope::Payload::StaffInvited(pb::StaffInvited {
            staff_id: p.staff_id.to_string(),
            email: p.email.to_string(),
            name: p.name.to_string(),
            practice_role: role_to_wire(p.role),
            practice_name: p.practice_name.clone(),
            inviter_name: p.inviter_name.clone(),
        }),
        Payload::InvitationAccepted(p) => {
            pb::envelope::Payload::InvitationAccepted(pb::InvitationAccepted {
                staff_id: p.staff_id.to_string(),
                user_id: p.user_id.to_string(),
                email: p.email.to_string(),
                practice_role: role_to_wire(p.role),
            })
        }
        Payload::InvitationDeclined(p) => {
            pb::envelope::Payload::InvitationDeclined(pb::InvitationDeclined {
                staff_id: p.staff_id.to_string(),
                user_id: p.user_id.to_string(),
                email: p.email.to_string(),
            })
        }
    };
    pb::Envelope {
        event_id: event.id.to_string(),
        event_type: event.event_type().to_owned(),
        occurred_at: Some(timestamp(event.occurred_at)),
        practice_id: event.practice_id.to_string(),
        actor: Some(pb::Actor {
            kind: match event.actor.kind {
                ActorKind::User => pb::actor::Kind::User,
                ActorKind::Operator => pb::actor::Kind::Operator,
                ActorKind::Invitee => pb::actor::Kind::Invitee,
            } as i32,
            id: event.actor.id.clone(),
            name: event.actor.name.clone(),
        }),
        traceparent: event.traceparent.clone(),
        tracestate: event.tracestate.clone(),
        payload: Some(payload),
    }
}

fn uuid_field<T: From<uuid::Uuid>>(field: &str, value: &str) -> Result<T, DecodeError> {
    uuid::Uuid::parse_str(value)
        .map(T::from)
        .map_err(|_| bad(format!("{field} is not a UUID")))
}

fn email(field: &str, value: &str) -> Result<Email, DecodeError> {
    Email::parse(field, value).map_err(|v| bad(format!("{} {}", v.field, v.description)))
}

fn from_envelope(envelope: pb::Envelope) -> Result<Event, DecodeError> {
    let id: EventId = uuid_field("event_id", &envelope.event_id)?;
    let practice_id: PracticeId = uuid_field("practice_id", &envelope.practice_id)?;
    let occurred_at = envelope
        .occurred_at
        .as_ref()
        .and_then(ps_proto::convert::from_timestamp)
        .ok_or_else(|| bad("occurred_at is missing"))?;
    let actor = envelope.actor.ok_or_else(|| bad("actor is missing"))?;
    let kind = match pb::actor::Kind::try_from(actor.kind) {
        Ok(pb::actor::Kind::User) => ActorKind::User,
        Ok(pb::actor::Kind::Operator) => ActorKind::Operator,
        Ok(pb::actor::Kind::Invitee) => ActorKind::Invitee,
        _ => return Err(bad("actor kind is unknown")),
    };
    let payload = match envelope.payload.ok_or_else(|| bad("payload is missing"))? {
        pb::envelope::Payload::StaffInvited(p) => Payload::StaffInvited(StaffInvited {
            staff_id: uuid_field::<StaffId>("staff_id", &p.staff_id)?,
            email: email("email", &p.email)?,
            name: PersonName::parse("name", &p.name).map_err(|_| bad("name is invalid"))?,
            role: role_from_wire("practice_role", p.practice_role)
                .map_err(|_| bad("practice_role is unknown"))?,
            practice_name: p.practice_name,
            inviter_name: p.inviter_name,
        }),
        pb::envelope::Payload::InvitationAccepted(p) => {
            Payload::InvitationAccepted(InvitationAccepted {
                staff_id: uuid_field::<StaffId>("staff_id", &p.staff_id)?,
                user_id: uuid_field::<UserId>("user_id", &p.user_id)?,
                email: email("email", &p.email)?,
                role: role_from_wire("practice_role", p.practice_role)
                    .map_err(|_| bad("practice_role is unknown"))?,
            })
        }
        pb::envelope::Payload::InvitationDeclined(p) => {
            Payload::InvitationDeclined(InvitationDeclined {
                staff_id: uuid_field::<StaffId>("staff_id", &p.staff_id)?,
                user_id: uuid_field::<UserId>("user_id", &p.user_id)?,
                email: email("email", &p.email)?,
            })
        }
    };
    if payload.event_type() != envelope.event_type {
        return Err(bad(format!(
            "event_type {} does not match its payload ({})",
            envelope.event_type,
            payload.event_type()
        )));
    }
    Ok(Event {
        id,
        occurred_at,
        practice_id,
        actor: Actor {
            kind,
            id: actor.id,
            name: actor.name,
        },
        traceparent: envelope.traceparent,
        tracestate: envelope.tracestate,
        payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invited() -> Event {
        Event::new(
            PracticeId::generate(),
            Actor::operator("ops"),
            chrono::Utc::now(),
            Payload::StaffInvited(StaffInvited {
                staff_id: StaffId::generate(),
                email: Email::parse("email", "a@example.com").unwrap(),
                name: PersonName::parse("name", "Ada").unwrap(),
                role: ps_core::PracticeRole::AccountOwner,
                practice_name: "Acme".into(),
                inviter_name: "ops".into(),
            }),
        )
    }

    #[test]
    fn events_round_trip_through_the_envelope() {
        let event = invited();
        assert_eq!(decode(&encode(&event)).unwrap(), event);
    }

    #[test]
    fn garbage_and_mismatched_types_are_refused() {
        assert!(decode(b"\xff\xff\xff").is_err());
        let mut envelope = to_envelope(&invited());
        envelope.event_type = "identity.invitation_accepted".into();
        assert!(decode(&envelope.encode_to_vec()).is_err());
        let mut envelope = to_envelope(&invited());
        envelope.actor = None;
        assert!(decode(&envelope.encode_to_vec()).is_err());
    }
}
