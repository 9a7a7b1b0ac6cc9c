//! Domain events: the facts one service tells the others, free of protobuf types.

use chrono::{DateTime, Utc};
use ps_core::{
    Email, EventId, ExistingAccess, LocationId, OffboardingCounts, PersonName, PracticeId,
    PracticeRole, SessionId, StaffId, UserId,
};

/// One fact, with who caused it and when.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Unique; consumers record it in their inbox so each event is handled once.
    pub id: EventId,
    /// When it happened (UTC, the business clock).
    pub occurred_at: DateTime<Utc>,
    /// `None` for facts about a person rather than a practice (a password reset).
    pub practice_id: Option<PracticeId>,
    /// Who caused it.
    pub actor: Actor,
    /// W3C trace context of the request that caused the event, empty when none.
    pub traceparent: String,
    /// W3C `tracestate` of that request, often empty.
    pub tracestate: String,
    /// What happened.
    pub payload: Payload,
}

impl Event {
    /// An event about something in `practice_id`.
    pub fn new(
        practice_id: PracticeId,
        actor: Actor,
        occurred_at: DateTime<Utc>,
        payload: Payload,
    ) -> Self {
        Self::build(Some(practice_id), actor, occurred_at, payload)
    }

    /// An event about a person, outside any practice.
    pub fn personal(actor: Actor, occurred_at: DateTime<Utc>, payload: Payload) -> Self {
        Self::build(None, actor, occurred_at, payload)
    }

    fn build(
        practice_id: Option<PracticeId>,
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

    /// The event's routing key, one of [`types`].
    pub fn event_type(&self) -> &'static str {
        self.payload.event_type()
    }
}

/// What kind of party an [`Actor`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActorKind {
    /// A signed-in user acting in a practice.
    User,
    /// Someone holding the operator credential (bootstrap).
    Operator,
    /// The invited person, acting through their invitation link.
    Invitee,
    /// Another service holding the internal credential, on behalf of the named party.
    Service,
}

/// The person behind an event; never an anonymous "system".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// What kind of party it is.
    pub kind: ActorKind,
    /// User id for users and invitees; a configured or given name otherwise.
    pub id: String,
    /// How audit logs and e-mails name them.
    pub name: String,
}

impl Actor {
    /// A signed-in user, named as shown to people.
    pub fn user(id: UserId, name: impl Into<String>) -> Self {
        Self {
            kind: ActorKind::User,
            id: id.to_string(),
            name: name.into(),
        }
    }

    /// The operator, under its configured name (also its id).
    pub fn operator(name: impl Into<String>) -> Self {
        let name = name.into();
        Self {
            kind: ActorKind::Operator,
            id: name.clone(),
            name,
        }
    }

    /// The person answering an invitation, with their (possibly new) user id.
    pub fn invitee(id: UserId, name: impl Into<String>) -> Self {
        Self {
            kind: ActorKind::Invitee,
            id: id.to_string(),
            name: name.into(),
        }
    }

    /// An internal service acting for `on_behalf_of` (e.g. a course system's examiner).
    pub fn service(on_behalf_of: impl Into<String>) -> Self {
        let name = on_behalf_of.into();
        Self {
            kind: ActorKind::Service,
            id: name.clone(),
            name,
        }
    }
}

/// Every event, declared once: its [`Payload`] variant (also the name of its `events.v1`
/// message and envelope case), the domain type it carries, its type constant and routing key
/// (the AMQP routing key and the envelope's `event_type`), and the consumers whose queues
/// receive it. `types`, `types::ALL`, `Payload`, `Payload::event_type`, the codec's envelope
/// arms and every queue's bindings all follow from this table, so an event is added with one
/// line here, its message in proto/events/v1, its two conversions in [`crate::codec`], and its
/// producer and consumer. `$then` is the macro that receives the table.
macro_rules! with_every_event {
    ($then:ident) => {
        $then! {
            StaffInvited(StaffInvited) = STAFF_INVITED "staff.invited" => [OrgAccess, Notification];
            StaffReinvited(StaffReinvited) = STAFF_REINVITED "staff.reinvited" => [Notification];
            StaffRoleChanged(StaffRoleChanged) = STAFF_ROLE_CHANGED "staff.role_changed" => [Identity, OrgAccess, Notification];
            StaffRemoved(StaffLeft) = STAFF_REMOVED "staff.removed" => [Identity, OrgAccess, Notification];
            StaffDeactivated(StaffLeft) = STAFF_DEACTIVATED "staff.deactivated" => [Identity, OrgAccess, Notification];
            StaffReactivated(StaffReactivated) = STAFF_REACTIVATED "staff.reactivated" => [Identity, OrgAccess, Notification];
            StaffLocationsChanged(StaffLocationsChanged) = STAFF_LOCATIONS_CHANGED "staff.locations_changed" => [OrgAccess, Notification];
            CertificationInvited(CertificationInvited) = CERTIFICATION_INVITED "staff.certification_invited" => [Notification];
            CertificationRecorded(CertificationRecorded) = CERTIFICATION_RECORDED "staff.certification_recorded" => [Notification];
            InvitationAccepted(InvitationAccepted) = INVITATION_ACCEPTED "identity.invitation_accepted" => [StaffDirectory, OrgAccess, Notification];
            InvitationDeclined(InvitationDeclined) = INVITATION_DECLINED "identity.invitation_declined" => [StaffDirectory, OrgAccess, Notification];
            PasswordResetRequested(PasswordResetRequested) = PASSWORD_RESET_REQUESTED "identity.password_reset_requested" => [Notification];
            LocationChanged(LocationChanged) = LOCATION_CHANGED "staff.location_changed" => [OrgAccess];
            OrgAccessInvited(OrgAccessInvited) = ORG_ACCESS_INVITED "orgaccess.access_invited" => [Notification];
            StaffOffboardingRequested(StaffOffboardingRequested) = STAFF_OFFBOARDING_REQUESTED "staff.offboarding_requested" => [OrgAccess, Notification];
            OffboardingCompleted(OffboardingCompleted) = OFFBOARDING_COMPLETED "orgaccess.offboarding_completed" => [Identity, StaffDirectory, Notification];
            OffboardingFailed(OffboardingFailed) = OFFBOARDING_FAILED "orgaccess.offboarding_failed" => [StaffDirectory, Notification];
            DeliveryFailed(DeliveryFailed) = DELIVERY_FAILED "notification.delivery_failed" => [StaffDirectory];
            SessionsEnded(SessionsEnded) = SESSIONS_ENDED "identity.sessions_ended" => [StaffDirectory, OrgAccess, Notification];
        }
    };
}
pub(crate) use with_every_event;

/// What [`with_every_event`] declares here: the type constants, the list of them, and the
/// payload enum with its type.
macro_rules! declare_events {
    ($($variant:ident($body:ty) = $konst:ident $key:literal => [$($consumer:ident),*];)*) => {
        /// Routing keys (the AMQP routing key and the envelope's `event_type`).
        pub mod types {
            $(
                #[doc = concat!(
                    "`", $key, "`: [`Payload::", stringify!($variant),
                    "`](super::Payload::", stringify!($variant), ")."
                )]
                pub const $konst: &str = $key;
            )*

            /// Every event type, in the table's order.
            pub const ALL: [&str; [$($key),*].len()] = [$($konst),*];
        }

        /// What happened: one variant per event type.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Payload {
            $(
                #[doc = concat!("`", $key, "`: see [`", stringify!($body), "`].")]
                $variant($body),
            )*
        }

        impl Payload {
            /// The event's routing key, one of [`types`].
            pub fn event_type(&self) -> &'static str {
                match self {
                    $(Payload::$variant(_) => types::$konst,)*
                }
            }
        }

        /// Each event type with the consumers whose queues receive it.
        pub(crate) const ROUTES: &[(&str, &[crate::topology::ConsumerName])] = &[
            $((types::$konst, &[$(crate::topology::ConsumerName::$consumer),*]),)*
        ];
    };
}
with_every_event!(declare_events);

/// A practice invited someone; the member is Pending until they answer.
#[derive(Debug, Clone, PartialEq)]
pub struct StaffInvited {
    /// The new member (Pending).
    pub staff_id: StaffId,
    /// The address the invitation goes to.
    pub email: Email,
    /// The invitee's name, as the inviter wrote it.
    pub name: PersonName,
    /// The role they will have once they accept.
    pub role: PracticeRole,
    /// Carried so the e-mail can be written without asking staff-directory.
    pub practice_name: String,
    /// Who invited them, as the e-mail names them.
    pub inviter_name: String,
    /// Locations they may access; empty when not restricted.
    pub location_ids: Vec<LocationId>,
}

/// A Pending member was sent a new invitation; their older links are void.
#[derive(Debug, Clone, PartialEq)]
pub struct StaffReinvited {
    /// The Pending member.
    pub staff_id: StaffId,
    /// The address the new invitation goes to.
    pub email: Email,
    /// The invitee's name.
    pub name: PersonName,
    /// The role they will have once they accept.
    pub role: PracticeRole,
    /// Carried so the e-mail can be written without asking staff-directory.
    pub practice_name: String,
    /// Who sent the new invitation.
    pub inviter_name: String,
    /// Invitations sent to the member so far, this one included.
    pub invitation_count: u32,
}

/// A member's practice role changed.
#[derive(Debug, Clone, PartialEq)]
pub struct StaffRoleChanged {
    /// The member.
    pub staff_id: StaffId,
    /// `None` while the member has not accepted.
    pub user_id: Option<UserId>,
    /// The role they had.
    pub from: PracticeRole,
    /// The role they have now.
    pub to: PracticeRole,
}

/// A member who can no longer act in the practice (removed or deactivated).
#[derive(Debug, Clone, PartialEq)]
pub struct StaffLeft {
    /// The member who left.
    pub staff_id: StaffId,
    /// Their user; `None` if they never accepted.
    pub user_id: Option<UserId>,
}

/// A deactivated member may act again, with the role they had.
#[derive(Debug, Clone, PartialEq)]
pub struct StaffReactivated {
    /// The member.
    pub staff_id: StaffId,
    /// Their user; `None` if they never accepted.
    pub user_id: Option<UserId>,
    /// The role they have again.
    pub role: PracticeRole,
}

/// A member's locations were replaced.
#[derive(Debug, Clone, PartialEq)]
pub struct StaffLocationsChanged {
    /// The member.
    pub staff_id: StaffId,
    /// Every location they may access now; empty when not restricted.
    pub location_ids: Vec<LocationId>,
}

/// An Active member was invited to certification.
#[derive(Debug, Clone, PartialEq)]
pub struct CertificationInvited {
    /// The member invited.
    pub staff_id: StaffId,
    /// Where the invitation e-mail goes.
    pub email: Email,
    /// The member's name.
    pub name: PersonName,
    /// Carried so the e-mail can be written without asking staff-directory.
    pub practice_name: String,
    /// Who invited them.
    pub inviter_name: String,
}

/// A member's certification was recorded; their certificate can be downloaded.
#[derive(Debug, Clone, PartialEq)]
pub struct CertificationRecorded {
    /// The member certified.
    pub staff_id: StaffId,
    /// Where the certificate e-mail goes.
    pub email: Email,
    /// The member's name, as on the certificate.
    pub name: PersonName,
    /// Carried so the e-mail can be written without asking staff-directory.
    pub practice_name: String,
    /// When they were certified (UTC): as the recorder said, or when it was recorded.
    pub certified_at: DateTime<Utc>,
    /// The certificate's number, as the recorder gave it.
    pub certificate_number: String,
}

/// The invitee accepted and now has an account.
#[derive(Debug, Clone, PartialEq)]
pub struct InvitationAccepted {
    /// The member who accepted (now Active).
    pub staff_id: StaffId,
    /// Their account, new or existing.
    pub user_id: UserId,
    /// The account's e-mail address.
    pub email: Email,
    /// The role the invitation offered.
    pub role: PracticeRole,
}

/// The invitee declined.
#[derive(Debug, Clone, PartialEq)]
pub struct InvitationDeclined {
    /// The member who declined.
    pub staff_id: StaffId,
    /// The account of the person who declined.
    pub user_id: UserId,
    /// The account's e-mail address.
    pub email: Email,
}

/// Someone asked to reset the password of an existing account.
#[derive(Debug, Clone, PartialEq)]
pub struct PasswordResetRequested {
    /// The account.
    pub user_id: UserId,
    /// Where the reset link goes.
    pub email: Email,
    /// The account holder's name, for the e-mail.
    pub name: PersonName,
}

/// A location's state after it was created, renamed or archived.
#[derive(Debug, Clone, PartialEq)]
pub struct LocationChanged {
    /// The location.
    pub location_id: LocationId,
    /// Its name now.
    pub name: String,
    /// Whether it is archived; an archived location takes no new access.
    pub archived: bool,
}

/// A member was offered organisations whose access needs their acceptance.
#[derive(Debug, Clone, PartialEq)]
pub struct OrgAccessInvited {
    /// Org-access's invitation, which the member accepts or declines.
    pub invitation_id: uuid::Uuid,
    /// The member offered access.
    pub staff_id: StaffId,
    /// Where the invitation e-mail goes.
    pub email: Email,
    /// The member's name.
    pub name: PersonName,
    /// The organisations offered, by name.
    pub organisation_names: Vec<String>,
    /// Who offered the access.
    pub inviter_name: String,
}

/// A person taking part in an offboarding, with what the e-mails about it need.
#[derive(Debug, Clone, PartialEq)]
pub struct OffboardingParty {
    /// The member.
    pub staff_id: StaffId,
    /// `None` for a member who never accepted their invitation.
    pub user_id: Option<UserId>,
    /// Their name.
    pub name: PersonName,
    /// Their e-mail address.
    pub email: Email,
}

/// A leaver's status before their offboarding began; restored if it fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusBefore {
    /// Invited, not yet accepted.
    Pending,
    /// Accepted and working.
    Active,
    /// Deactivated: may not act until reactivated.
    Deactivated,
}

impl StatusBefore {
    /// The stored status words every service uses for members.
    pub fn as_str(self) -> &'static str {
        match self {
            StatusBefore::Pending => "pending",
            StatusBefore::Active => "active",
            StatusBefore::Deactivated => "deactivated",
        }
    }
}

/// A manager asked to hand a leaver's work to a replacement; the leaver is Offboarding until
/// org-access reports the outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct StaffOffboardingRequested {
    /// The offboarding; its outcome event names it again.
    pub offboarding_id: uuid::Uuid,
    /// The member leaving, whose work is handed over.
    pub leaver: OffboardingParty,
    /// The leaver's status before, restored if the handover fails.
    pub leaver_status_before: StatusBefore,
    /// The Active member who takes the work over.
    pub replacement: OffboardingParty,
    /// What happens where the replacement already has access.
    pub existing_access: ExistingAccess,
    /// The manager who asked, for the summary e-mail.
    pub requested_by_email: Email,
}

/// One organisation the replacement holds after a handover, with their role there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holding {
    /// The organisation.
    pub organisation_name: String,
    /// The replacement's role there after the handover.
    pub role_name: String,
}

/// The handover is done, in one transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct OffboardingCompleted {
    /// The offboarding, as requested.
    pub offboarding_id: uuid::Uuid,
    /// The member who left (now Offboarded).
    pub leaver: OffboardingParty,
    /// The member who took the work over.
    pub replacement: OffboardingParty,
    /// The manager who asked, for the summary e-mail.
    pub requested_by_email: Email,
    /// What the handover did.
    pub counts: OffboardingCounts,
    /// Every organisation the replacement holds after the handover.
    pub holdings: Vec<Holding>,
}

/// The handover could not be done; nothing was changed.
#[derive(Debug, Clone, PartialEq)]
pub struct OffboardingFailed {
    /// The offboarding, as requested.
    pub offboarding_id: uuid::Uuid,
    /// The member who was to leave; they return to their former status.
    pub leaver: OffboardingParty,
    /// The status the leaver returns to.
    pub leaver_status_before: StatusBefore,
    /// The member who was to take the work over.
    pub replacement: OffboardingParty,
    /// The manager who asked, to be told why.
    pub requested_by_email: Email,
    /// Why, in words for the manager.
    pub reason: String,
}

/// Notification gave up on an e-mail; the link it would have carried was voided.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryFailed {
    /// The delivery, as notification's delivery log lists it.
    pub delivery_id: uuid::Uuid,
    /// The e-mail's template (`staff_invitation`, `password_reset`, …).
    pub template: String,
    /// The address it was for.
    pub recipient: Email,
    /// The member an invitation was for.
    pub staff_id: Option<StaffId>,
    /// Why it was given up.
    pub reason: String,
    /// When the e-mail was asked for (the causing event's time).
    pub requested_at: DateTime<Utc>,
}

/// Sessions that ended: their access tokens are refused everywhere from now on.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionsEnded {
    /// The user whose sessions ended.
    pub user_id: UserId,
    /// The sessions that ended.
    pub session_ids: Vec<SessionId>,
    /// Every access token of these sessions expires by then (business clock).
    pub tokens_expire_by: DateTime<Utc>,
    /// Why, for logs (`signed out`, `deactivated`, …).
    pub reason: String,
}
