//! Events to and from their protobuf envelope (`events.v1.Envelope`): the one place the event
//! types meet prost.

use prost::Message;
use ps_core::{Email, PersonName, PracticeRole};
use ps_proto::convert::{
    existing_access_from_wire, existing_access_to_wire, from_timestamp, role_from_wire,
    role_to_wire, timestamp,
};
use ps_proto::events::v1 as pb;
use uuid::Uuid;

use crate::event::{
    Actor, ActorKind, CertificationInvited, CertificationRecorded, DeliveryFailed, Event, Holding,
    InvitationAccepted, InvitationDeclined, LocationChanged, OffboardingCompleted,
    OffboardingFailed, OffboardingParty, OrgAccessInvited, PasswordResetRequested, Payload,
    SessionsEnded, StaffInvited, StaffLeft, StaffLocationsChanged, StaffOffboardingRequested,
    StaffReactivated, StaffReinvited, StaffRoleChanged, StatusBefore, with_every_event,
};

/// Bytes that are not a valid envelope; retrying will not help.
#[derive(Debug, thiserror::Error)]
#[error("undecodable event: {0}")]
pub struct DecodeError(String);

fn bad(what: impl Into<String>) -> DecodeError {
    DecodeError(what.into())
}

/// The event as an encoded `events.v1.Envelope`, with the trace context the event carries.
pub fn encode(event: &Event) -> Vec<u8> {
    to_envelope(event).encode_to_vec()
}

/// Like [`encode`], but an event without a trace context of its own gets `trace`.
pub fn encode_in_trace(event: &Event, trace: &ps_telemetry::TraceContext) -> Vec<u8> {
    let mut envelope = to_envelope(event);
    if envelope.traceparent.is_empty() {
        envelope.traceparent.clone_from(&trace.traceparent);
        envelope.tracestate.clone_from(&trace.tracestate);
    }
    envelope.encode_to_vec()
}

/// The trace context an encoded envelope carries (empty when it carries none or is not one).
pub fn trace_of(bytes: &[u8]) -> ps_telemetry::TraceContext {
    pb::Envelope::decode(bytes)
        .map(|envelope| ps_telemetry::TraceContext {
            traceparent: envelope.traceparent,
            tracestate: envelope.tracestate,
        })
        .unwrap_or_default()
}

/// The event an encoded envelope holds; [`DecodeError`] when it is not a valid one.
pub fn decode(bytes: &[u8]) -> Result<Event, DecodeError> {
    let envelope = pb::Envelope::decode(bytes).map_err(|e| bad(e.to_string()))?;
    from_envelope(envelope)
}

fn opt(id: Option<impl ToString>) -> String {
    id.map(|id| id.to_string()).unwrap_or_default()
}

fn strings<T: ToString>(ids: &[T]) -> Vec<String> {
    ids.iter().map(ToString::to_string).collect()
}

fn party_to_wire(p: &OffboardingParty) -> pb::OffboardingParty {
    pb::OffboardingParty {
        staff_id: p.staff_id.to_string(),
        user_id: opt(p.user_id),
        name: p.name.to_string(),
        email: p.email.to_string(),
    }
}

fn status_before_to_wire(status: StatusBefore) -> i32 {
    match status {
        StatusBefore::Pending => pb::StatusBefore::Pending as i32,
        StatusBefore::Active => pb::StatusBefore::Active as i32,
        StatusBefore::Deactivated => pb::StatusBefore::Deactivated as i32,
    }
}

fn to_envelope(event: &Event) -> pb::Envelope {
    let payload = payload_to_wire(&event.payload);
    pb::Envelope {
        event_id: event.id.to_string(),
        event_type: event.event_type().to_owned(),
        occurred_at: Some(timestamp(event.occurred_at)),
        practice_id: opt(event.practice_id),
        actor: Some(pb::Actor {
            kind: match event.actor.kind {
                ActorKind::User => pb::actor::Kind::User,
                ActorKind::Operator => pb::actor::Kind::Operator,
                ActorKind::Invitee => pb::actor::Kind::Invitee,
                ActorKind::Service => pb::actor::Kind::Service,
            } as i32,
            id: event.actor.id.clone(),
            name: event.actor.name.clone(),
        }),
        traceparent: event.traceparent.clone(),
        tracestate: event.tracestate.clone(),
        payload: Some(payload),
    }
}

fn id<T: From<Uuid>>(field: &str, value: &str) -> Result<T, DecodeError> {
    Uuid::parse_str(value)
        .map(T::from)
        .map_err(|_| bad(format!("{field} is not a UUID")))
}

/// Empty means absent.
fn optional_id<T: From<Uuid>>(field: &str, value: &str) -> Result<Option<T>, DecodeError> {
    if value.is_empty() {
        Ok(None)
    } else {
        id(field, value).map(Some)
    }
}

fn ids<T: From<Uuid>>(field: &str, values: &[String]) -> Result<Vec<T>, DecodeError> {
    values.iter().map(|v| id(field, v)).collect()
}

fn email(value: &str) -> Result<Email, DecodeError> {
    Email::parse("email", value).map_err(|v| bad(format!("{} {}", v.field, v.description)))
}

fn name(value: &str) -> Result<PersonName, DecodeError> {
    PersonName::parse("name", value).map_err(|_| bad("name is invalid"))
}

fn role(field: &str, value: i32) -> Result<PracticeRole, DecodeError> {
    role_from_wire(field, value).map_err(|_| bad(format!("{field} is unknown")))
}

fn party(field: &str, p: Option<pb::OffboardingParty>) -> Result<OffboardingParty, DecodeError> {
    let p = p.ok_or_else(|| bad(format!("{field} is missing")))?;
    Ok(OffboardingParty {
        staff_id: id(&format!("{field}.staff_id"), &p.staff_id)?,
        user_id: optional_id(&format!("{field}.user_id"), &p.user_id)?,
        name: name(&p.name)?,
        email: email(&p.email)?,
    })
}

fn status_before(value: i32) -> Result<StatusBefore, DecodeError> {
    match pb::StatusBefore::try_from(value) {
        Ok(pb::StatusBefore::Pending) => Ok(StatusBefore::Pending),
        Ok(pb::StatusBefore::Active) => Ok(StatusBefore::Active),
        Ok(pb::StatusBefore::Deactivated) => Ok(StatusBefore::Deactivated),
        _ => Err(bad("leaver_status_before is unknown")),
    }
}

fn from_envelope(envelope: pb::Envelope) -> Result<Event, DecodeError> {
    let occurred_at = envelope
        .occurred_at
        .as_ref()
        .and_then(from_timestamp)
        .ok_or_else(|| bad("occurred_at is missing"))?;
    let actor = envelope.actor.ok_or_else(|| bad("actor is missing"))?;
    let kind = match pb::actor::Kind::try_from(actor.kind) {
        Ok(pb::actor::Kind::User) => ActorKind::User,
        Ok(pb::actor::Kind::Operator) => ActorKind::Operator,
        Ok(pb::actor::Kind::Invitee) => ActorKind::Invitee,
        Ok(pb::actor::Kind::Service) => ActorKind::Service,
        _ => return Err(bad("actor kind is unknown")),
    };
    let payload = payload_from_wire(envelope.payload.ok_or_else(|| bad("payload is missing"))?)?;
    if payload.event_type() != envelope.event_type {
        return Err(bad(format!(
            "event_type {} does not match its payload ({})",
            envelope.event_type,
            payload.event_type()
        )));
    }
    Ok(Event {
        id: id("event_id", &envelope.event_id)?,
        occurred_at,
        practice_id: optional_id("practice_id", &envelope.practice_id)?,
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

/// The envelope's payload case for each event of the table ([`crate::event::with_every_event`]),
/// through the conversions below.
macro_rules! envelope_arms {
    ($($variant:ident($body:ty) = $konst:ident $key:literal => [$($consumer:ident),*];)*) => {
        fn payload_to_wire(payload: &Payload) -> pb::envelope::Payload {
            match payload {
                $(Payload::$variant(p) => pb::envelope::Payload::$variant(pb::$variant::from(p)),)*
            }
        }

        fn payload_from_wire(payload: pb::envelope::Payload) -> Result<Payload, DecodeError> {
            Ok(match payload {
                $(pb::envelope::Payload::$variant(p) => Payload::$variant(<$body>::try_from(p)?),)*
            })
        }
    };
}
with_every_event!(envelope_arms);

// Each event's domain type to and from its `events.v1` message.

impl From<&StaffInvited> for pb::StaffInvited {
    fn from(p: &StaffInvited) -> Self {
        Self {
            staff_id: p.staff_id.to_string(),
            email: p.email.to_string(),
            name: p.name.to_string(),
            practice_role: role_to_wire(p.role),
            practice_name: p.practice_name.clone(),
            inviter_name: p.inviter_name.clone(),
            location_ids: strings(&p.location_ids),
        }
    }
}

impl From<&StaffReinvited> for pb::StaffReinvited {
    fn from(p: &StaffReinvited) -> Self {
        Self {
            staff_id: p.staff_id.to_string(),
            email: p.email.to_string(),
            name: p.name.to_string(),
            practice_role: role_to_wire(p.role),
            practice_name: p.practice_name.clone(),
            inviter_name: p.inviter_name.clone(),
            invitation_count: p.invitation_count,
        }
    }
}

impl From<&StaffRoleChanged> for pb::StaffRoleChanged {
    fn from(p: &StaffRoleChanged) -> Self {
        Self {
            staff_id: p.staff_id.to_string(),
            user_id: opt(p.user_id),
            from_role: role_to_wire(p.from),
            to_role: role_to_wire(p.to),
        }
    }
}

impl From<&StaffLeft> for pb::StaffRemoved {
    fn from(p: &StaffLeft) -> Self {
        Self {
            staff_id: p.staff_id.to_string(),
            user_id: opt(p.user_id),
        }
    }
}

impl From<&StaffLeft> for pb::StaffDeactivated {
    fn from(p: &StaffLeft) -> Self {
        Self {
            staff_id: p.staff_id.to_string(),
            user_id: opt(p.user_id),
        }
    }
}

impl From<&StaffReactivated> for pb::StaffReactivated {
    fn from(p: &StaffReactivated) -> Self {
        Self {
            staff_id: p.staff_id.to_string(),
            user_id: opt(p.user_id),
            practice_role: role_to_wire(p.role),
        }
    }
}

impl From<&StaffLocationsChanged> for pb::StaffLocationsChanged {
    fn from(p: &StaffLocationsChanged) -> Self {
        Self {
            staff_id: p.staff_id.to_string(),
            location_ids: strings(&p.location_ids),
        }
    }
}

impl From<&CertificationInvited> for pb::CertificationInvited {
    fn from(p: &CertificationInvited) -> Self {
        Self {
            staff_id: p.staff_id.to_string(),
            email: p.email.to_string(),
            name: p.name.to_string(),
            practice_name: p.practice_name.clone(),
            inviter_name: p.inviter_name.clone(),
        }
    }
}

impl From<&CertificationRecorded> for pb::CertificationRecorded {
    fn from(p: &CertificationRecorded) -> Self {
        Self {
            staff_id: p.staff_id.to_string(),
            certified_at: Some(timestamp(p.certified_at)),
            certificate_number: p.certificate_number.clone(),
            email: p.email.to_string(),
            name: p.name.to_string(),
            practice_name: p.practice_name.clone(),
        }
    }
}

impl From<&InvitationAccepted> for pb::InvitationAccepted {
    fn from(p: &InvitationAccepted) -> Self {
        Self {
            staff_id: p.staff_id.to_string(),
            user_id: p.user_id.to_string(),
            email: p.email.to_string(),
            practice_role: role_to_wire(p.role),
        }
    }
}

impl From<&InvitationDeclined> for pb::InvitationDeclined {
    fn from(p: &InvitationDeclined) -> Self {
        Self {
            staff_id: p.staff_id.to_string(),
            user_id: p.user_id.to_string(),
            email: p.email.to_string(),
        }
    }
}

impl From<&PasswordResetRequested> for pb::PasswordResetRequested {
    fn from(p: &PasswordResetRequested) -> Self {
        Self {
            user_id: p.user_id.to_string(),
            email: p.email.to_string(),
            name: p.name.to_string(),
        }
    }
}

impl From<&LocationChanged> for pb::LocationChanged {
    fn from(p: &LocationChanged) -> Self {
        Self {
            location_id: p.location_id.to_string(),
            name: p.name.clone(),
            archived: p.archived,
        }
    }
}

impl From<&OrgAccessInvited> for pb::OrgAccessInvited {
    fn from(p: &OrgAccessInvited) -> Self {
        Self {
            invitation_id: p.invitation_id.to_string(),
            staff_id: p.staff_id.to_string(),
            email: p.email.to_string(),
            name: p.name.to_string(),
            organisation_names: p.organisation_names.clone(),
            inviter_name: p.inviter_name.clone(),
        }
    }
}

impl From<&StaffOffboardingRequested> for pb::StaffOffboardingRequested {
    fn from(p: &StaffOffboardingRequested) -> Self {
        Self {
            offboarding_id: p.offboarding_id.to_string(),
            leaver: Some(party_to_wire(&p.leaver)),
            leaver_status_before: status_before_to_wire(p.leaver_status_before),
            replacement: Some(party_to_wire(&p.replacement)),
            existing_access: existing_access_to_wire(p.existing_access),
            requested_by_email: p.requested_by_email.to_string(),
        }
    }
}

impl From<&OffboardingCompleted> for pb::OffboardingCompleted {
    fn from(p: &OffboardingCompleted) -> Self {
        Self {
            offboarding_id: p.offboarding_id.to_string(),
            leaver: Some(party_to_wire(&p.leaver)),
            replacement: Some(party_to_wire(&p.replacement)),
            requested_by_email: p.requested_by_email.to_string(),
            counts: Some(p.counts.into()),
            holdings: p
                .holdings
                .iter()
                .map(|h| pb::Holding {
                    organisation_name: h.organisation_name.clone(),
                    role_name: h.role_name.clone(),
                })
                .collect(),
        }
    }
}

impl From<&OffboardingFailed> for pb::OffboardingFailed {
    fn from(p: &OffboardingFailed) -> Self {
        Self {
            offboarding_id: p.offboarding_id.to_string(),
            leaver: Some(party_to_wire(&p.leaver)),
            leaver_status_before: status_before_to_wire(p.leaver_status_before),
            replacement: Some(party_to_wire(&p.replacement)),
            requested_by_email: p.requested_by_email.to_string(),
            reason: p.reason.clone(),
        }
    }
}

impl From<&DeliveryFailed> for pb::DeliveryFailed {
    fn from(p: &DeliveryFailed) -> Self {
        Self {
            delivery_id: p.delivery_id.to_string(),
            template: p.template.clone(),
            recipient: p.recipient.to_string(),
            staff_id: opt(p.staff_id),
            reason: p.reason.clone(),
            requested_at: Some(timestamp(p.requested_at)),
        }
    }
}

impl From<&SessionsEnded> for pb::SessionsEnded {
    fn from(p: &SessionsEnded) -> Self {
        Self {
            user_id: p.user_id.to_string(),
            session_ids: strings(&p.session_ids),
            tokens_expire_by: Some(timestamp(p.tokens_expire_by)),
            reason: p.reason.clone(),
        }
    }
}

impl TryFrom<pb::StaffInvited> for StaffInvited {
    type Error = DecodeError;

    fn try_from(p: pb::StaffInvited) -> Result<Self, DecodeError> {
        Ok(Self {
            staff_id: id("staff_id", &p.staff_id)?,
            email: email(&p.email)?,
            name: name(&p.name)?,
            role: role("practice_role", p.practice_role)?,
            practice_name: p.practice_name,
            inviter_name: p.inviter_name,
            location_ids: ids("location_ids", &p.location_ids)?,
        })
    }
}

impl TryFrom<pb::StaffReinvited> for StaffReinvited {
    type Error = DecodeError;

    fn try_from(p: pb::StaffReinvited) -> Result<Self, DecodeError> {
        Ok(Self {
            staff_id: id("staff_id", &p.staff_id)?,
            email: email(&p.email)?,
            name: name(&p.name)?,
            role: role("practice_role", p.practice_role)?,
            practice_name: p.practice_name,
            inviter_name: p.inviter_name,
            invitation_count: p.invitation_count,
        })
    }
}

impl TryFrom<pb::StaffRoleChanged> for StaffRoleChanged {
    type Error = DecodeError;

    fn try_from(p: pb::StaffRoleChanged) -> Result<Self, DecodeError> {
        Ok(Self {
            staff_id: id("staff_id", &p.staff_id)?,
            user_id: optional_id("user_id", &p.user_id)?,
            from: role("from_role", p.from_role)?,
            to: role("to_role", p.to_role)?,
        })
    }
}

impl TryFrom<pb::StaffRemoved> for StaffLeft {
    type Error = DecodeError;

    fn try_from(p: pb::StaffRemoved) -> Result<Self, DecodeError> {
        Ok(Self {
            staff_id: id("staff_id", &p.staff_id)?,
            user_id: optional_id("user_id", &p.user_id)?,
        })
    }
}

impl TryFrom<pb::StaffDeactivated> for StaffLeft {
    type Error = DecodeError;

    fn try_from(p: pb::StaffDeactivated) -> Result<Self, DecodeError> {
        Ok(Self {
            staff_id: id("staff_id", &p.staff_id)?,
            user_id: optional_id("user_id", &p.user_id)?,
        })
    }
}

impl TryFrom<pb::StaffReactivated> for StaffReactivated {
    type Error = DecodeError;

    fn try_from(p: pb::StaffReactivated) -> Result<Self, DecodeError> {
        Ok(Self {
            staff_id: id("staff_id", &p.staff_id)?,
            user_id: optional_id("user_id", &p.user_id)?,
            role: role("practice_role", p.practice_role)?,
        })
    }
}

impl TryFrom<pb::StaffLocationsChanged> for StaffLocationsChanged {
    type Error = DecodeError;

    fn try_from(p: pb::StaffLocationsChanged) -> Result<Self, DecodeError> {
        Ok(Self {
            staff_id: id("staff_id", &p.staff_id)?,
            location_ids: ids("location_ids", &p.location_ids)?,
        })
    }
}

impl TryFrom<pb::CertificationInvited> for CertificationInvited {
    type Error = DecodeError;

    fn try_from(p: pb::CertificationInvited) -> Result<Self, DecodeError> {
        Ok(Self {
            staff_id: id("staff_id", &p.staff_id)?,
            email: email(&p.email)?,
            name: name(&p.name)?,
            practice_name: p.practice_name,
            inviter_name: p.inviter_name,
        })
    }
}

impl TryFrom<pb::CertificationRecorded> for CertificationRecorded {
    type Error = DecodeError;

    fn try_from(p: pb::CertificationRecorded) -> Result<Self, DecodeError> {
        Ok(Self {
            staff_id: id("staff_id", &p.staff_id)?,
            email: email(&p.email)?,
            name: name(&p.name)?,
            practice_name: p.practice_name,
            certified_at: p
                .certified_at
                .as_ref()
                .and_then(from_timestamp)
                .ok_or_else(|| bad("certified_at is missing"))?,
            certificate_number: p.certificate_number,
        })
    }
}

impl TryFrom<pb::InvitationAccepted> for InvitationAccepted {
    type Error = DecodeError;

    fn try_from(p: pb::InvitationAccepted) -> Result<Self, DecodeError> {
        Ok(Self {
            staff_id: id("staff_id", &p.staff_id)?,
            user_id: id("user_id", &p.user_id)?,
            email: email(&p.email)?,
            role: role("practice_role", p.practice_role)?,
        })
    }
}

impl TryFrom<pb::InvitationDeclined> for InvitationDeclined {
    type Error = DecodeError;

    fn try_from(p: pb::InvitationDeclined) -> Result<Self, DecodeError> {
        Ok(Self {
            staff_id: id("staff_id", &p.staff_id)?,
            user_id: id("user_id", &p.user_id)?,
            email: email(&p.email)?,
        })
    }
}

impl TryFrom<pb::PasswordResetRequested> for PasswordResetRequested {
    type Error = DecodeError;

    fn try_from(p: pb::PasswordResetRequested) -> Result<Self, DecodeError> {
        Ok(Self {
            user_id: id("user_id", &p.user_id)?,
            email: email(&p.email)?,
            name: name(&p.name)?,
        })
    }
}

impl TryFrom<pb::LocationChanged> for LocationChanged {
    type Error = DecodeError;

    fn try_from(p: pb::LocationChanged) -> Result<Self, DecodeError> {
        Ok(Self {
            location_id: id("location_id", &p.location_id)?,
            name: p.name,
            archived: p.archived,
        })
    }
}

impl TryFrom<pb::OrgAccessInvited> for OrgAccessInvited {
    type Error = DecodeError;

    fn try_from(p: pb::OrgAccessInvited) -> Result<Self, DecodeError> {
        Ok(Self {
            invitation_id: id("invitation_id", &p.invitation_id)?,
            staff_id: id("staff_id", &p.staff_id)?,
            email: email(&p.email)?,
            name: name(&p.name)?,
            organisation_names: p.organisation_names,
            inviter_name: p.inviter_name,
        })
    }
}

impl TryFrom<pb::StaffOffboardingRequested> for StaffOffboardingRequested {
    type Error = DecodeError;

    fn try_from(p: pb::StaffOffboardingRequested) -> Result<Self, DecodeError> {
        Ok(Self {
            offboarding_id: id("offboarding_id", &p.offboarding_id)?,
            leaver: party("leaver", p.leaver)?,
            leaver_status_before: status_before(p.leaver_status_before)?,
            replacement: party("replacement", p.replacement)?,
            existing_access: existing_access_from_wire("existing_access", p.existing_access)
                .map_err(|v| bad(format!("{} {}", v.field, v.description)))?,
            requested_by_email: email(&p.requested_by_email)?,
        })
    }
}

impl TryFrom<pb::OffboardingCompleted> for OffboardingCompleted {
    type Error = DecodeError;

    fn try_from(p: pb::OffboardingCompleted) -> Result<Self, DecodeError> {
        Ok(Self {
            offboarding_id: id("offboarding_id", &p.offboarding_id)?,
            leaver: party("leaver", p.leaver)?,
            replacement: party("replacement", p.replacement)?,
            requested_by_email: email(&p.requested_by_email)?,
            counts: p.counts.ok_or_else(|| bad("counts is missing"))?.into(),
            holdings: p
                .holdings
                .into_iter()
                .map(|h| Holding {
                    organisation_name: h.organisation_name,
                    role_name: h.role_name,
                })
                .collect(),
        })
    }
}

impl TryFrom<pb::OffboardingFailed> for OffboardingFailed {
    type Error = DecodeError;

    fn try_from(p: pb::OffboardingFailed) -> Result<Self, DecodeError> {
        Ok(Self {
            offboarding_id: id("offboarding_id", &p.offboarding_id)?,
            leaver: party("leaver", p.leaver)?,
            leaver_status_before: status_before(p.leaver_status_before)?,
            replacement: party("replacement", p.replacement)?,
            requested_by_email: email(&p.requested_by_email)?,
            reason: p.reason,
        })
    }
}

impl TryFrom<pb::DeliveryFailed> for DeliveryFailed {
    type Error = DecodeError;

    fn try_from(p: pb::DeliveryFailed) -> Result<Self, DecodeError> {
        Ok(Self {
            delivery_id: id("delivery_id", &p.delivery_id)?,
            template: p.template,
            recipient: email(&p.recipient)?,
            staff_id: optional_id("staff_id", &p.staff_id)?,
            reason: p.reason,
            requested_at: p
                .requested_at
                .as_ref()
                .and_then(from_timestamp)
                .ok_or_else(|| bad("requested_at is missing"))?,
        })
    }
}

impl TryFrom<pb::SessionsEnded> for SessionsEnded {
    type Error = DecodeError;

    fn try_from(p: pb::SessionsEnded) -> Result<Self, DecodeError> {
        Ok(Self {
            user_id: id("user_id", &p.user_id)?,
            session_ids: ids("session_ids", &p.session_ids)?,
            tokens_expire_by: p
                .tokens_expire_by
                .as_ref()
                .and_then(from_timestamp)
                .ok_or_else(|| bad("tokens_expire_by is missing"))?,
            reason: p.reason,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ps_core::{LocationId, PracticeId, StaffId, UserId};

    fn invited() -> Event {
        Event::new(
            PracticeId::generate(),
            Actor::operator("ops"),
            chrono::Utc::now(),
            Payload::StaffInvited(StaffInvited {
                staff_id: StaffId::generate(),
                email: Email::parse("email", "a@example.com").unwrap(),
                name: PersonName::parse("name", "Ada").unwrap(),
                role: PracticeRole::AccountOwner,
                practice_name: "Acme".into(),
                inviter_name: "ops".into(),
                location_ids: vec![LocationId::generate()],
            }),
        )
    }

    #[test]
    fn events_round_trip_through_the_envelope() {
        let event = invited();
        assert_eq!(decode(&encode(&event)).unwrap(), event);
        let personal = Event::personal(
            Actor::service("identity"),
            chrono::Utc::now(),
            Payload::PasswordResetRequested(PasswordResetRequested {
                user_id: UserId::generate(),
                email: Email::parse("email", "b@example.com").unwrap(),
                name: PersonName::parse("name", "Bo").unwrap(),
            }),
        );
        assert_eq!(decode(&encode(&personal)).unwrap(), personal);
        let left = Event::new(
            PracticeId::generate(),
            Actor::user(UserId::generate(), "Owner"),
            chrono::Utc::now(),
            Payload::StaffRemoved(StaffLeft {
                staff_id: StaffId::generate(),
                user_id: None,
            }),
        );
        assert_eq!(decode(&encode(&left)).unwrap(), left);
    }

    fn party(name: &str) -> OffboardingParty {
        OffboardingParty {
            staff_id: StaffId::generate(),
            user_id: Some(UserId::generate()),
            name: PersonName::parse("name", name).unwrap(),
            email: Email::parse("email", &format!("{name}@example.com")).unwrap(),
        }
    }

    #[test]
    fn offboarding_events_round_trip() {
        let practice = PracticeId::generate();
        let actor = Actor::user(UserId::generate(), "Manager");
        let offboarding_id = Uuid::now_v7();
        let mut leaver = party("leaver");
        leaver.user_id = None;
        let payloads = [
            Payload::StaffOffboardingRequested(StaffOffboardingRequested {
                offboarding_id,
                leaver: leaver.clone(),
                leaver_status_before: StatusBefore::Deactivated,
                replacement: party("replacement"),
                existing_access: ps_core::ExistingAccess::UseLeaverRole,
                requested_by_email: Email::parse("email", "m@example.com").unwrap(),
            }),
            Payload::OffboardingCompleted(OffboardingCompleted {
                offboarding_id,
                leaver: leaver.clone(),
                replacement: party("replacement"),
                requested_by_email: Email::parse("email", "m@example.com").unwrap(),
                counts: ps_core::OffboardingCounts {
                    organisations: 3,
                    memberships_revoked: 3,
                    memberships_granted: 2,
                    memberships_changed: 1,
                    invitations_withdrawn: 4,
                    steps_reassigned: 5,
                },
                holdings: vec![Holding {
                    organisation_name: "Alpha".into(),
                    role_name: "Viewer".into(),
                }],
            }),
            Payload::OffboardingFailed(OffboardingFailed {
                offboarding_id,
                leaver,
                leaver_status_before: StatusBefore::Pending,
                replacement: party("replacement"),
                requested_by_email: Email::parse("email", "m@example.com").unwrap(),
                reason: "the replacement was deactivated".into(),
            }),
        ];
        for payload in payloads {
            let event = Event::new(practice, actor.clone(), chrono::Utc::now(), payload);
            assert_eq!(decode(&encode(&event)).unwrap(), event);
        }
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
