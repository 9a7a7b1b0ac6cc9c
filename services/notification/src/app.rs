//! Notification's use cases: queue an e-mail for an event, send queued e-mails, show the log.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use ps_auth::UserCaller;
use ps_auth::credentials::Credential;
use ps_core::{
    Email, Page, PageRequest, PersonName, PracticeId, PracticeRole, SharedClock, Shutdown, StaffId,
};
use ps_events::event::{PasswordResetRequested, StaffInvited, StaffReinvited};
use ps_events::{ConsumerName, Event, HandleError, Payload, inbox};
use ps_proto::identity::v1 as identity;
use ps_proto::identity::v1::identity_internal_service_client::IdentityInternalServiceClient;
use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use tokio::sync::Notify;
use tonic::Code;
use tonic::service::interceptor::InterceptedService;
use tracing::{Instrument, info, warn};
use uuid::Uuid;

use crate::error::Error;
use crate::mail::{Mailer, Outgoing};
use crate::store::deliveries;
use crate::templates;

/// Delivery statuses, as stored.
pub mod status {
    pub const QUEUED: &str = "queued";
    pub const SENT: &str = "sent";
    /// Gave up after [`super::MAX_ATTEMPTS`].
    pub const FAILED: &str = "failed";
}

/// Sending attempts before a delivery is marked failed.
pub const MAX_ATTEMPTS: i32 = 6;

/// Deliveries the mailer claims at once.
const MAILER_BATCH: u64 = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: Uuid,
    /// None for personal e-mails (password reset).
    pub practice_id: Option<PracticeId>,
    pub event_id: Uuid,
    pub template: String,
    pub recipient: String,
    pub subject: String,
    pub status: String,
    pub attempts: u32,
    pub last_error: String,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

fn delivery(row: deliveries::Model) -> Delivery {
    Delivery {
        id: row.id,
        practice_id: row.practice_id.map(PracticeId),
        event_id: row.event_id,
        template: row.template,
        recipient: row.recipient,
        subject: row.subject,
        status: row.status,
        attempts: u32::try_from(row.attempts).unwrap_or(0),
        last_error: row.last_error.unwrap_or_default(),
        created_at: row.created_at,
        sent_at: row.sent_at,
    }
}

type IdentityClient = IdentityInternalServiceClient<
    InterceptedService<ps_grpc::client::UnsentIsUnavailable, Credential>,
>;

/// An e-mail an event causes.
struct Mail {
    template: &'static str,
    recipient: String,
    recipient_name: String,
    rendered: templates::Rendered,
}

/// What an invitation e-mail needs, from StaffInvited or StaffReinvited.
#[derive(Clone, Copy)]
struct Invite<'a> {
    staff_id: StaffId,
    email: &'a Email,
    name: &'a PersonName,
    role: PracticeRole,
    practice_name: &'a str,
    inviter_name: &'a str,
}

impl<'a> Invite<'a> {
    fn from_invited(p: &'a StaffInvited) -> Self {
        Self {
            staff_id: p.staff_id,
            email: &p.email,
            name: &p.name,
            role: p.role,
            practice_name: &p.practice_name,
            inviter_name: &p.inviter_name,
        }
    }

    fn from_reinvited(p: &'a StaffReinvited) -> Self {
        Self {
            staff_id: p.staff_id,
            email: &p.email,
            name: &p.name,
            role: p.role,
            practice_name: &p.practice_name,
            inviter_name: &p.inviter_name,
        }
    }
}

/// The expiry identity gave a link.
fn link_expiry(expires_at: Option<&prost_types::Timestamp>) -> Result<DateTime<Utc>, HandleError> {
    expires_at
        .and_then(ps_proto::convert::from_timestamp)
        .ok_or_else(|| HandleError::Permanent("identity returned a link without expiry".into()))
}

/// Identity refusing a link request for reasons a retry will not change is permanent.
fn identity_refusal(event: &Event, status: tonic::Status) -> HandleError {
    match status.code() {
        Code::InvalidArgument
        | Code::NotFound
        | Code::AlreadyExists
        | Code::FailedPrecondition
        | Code::PermissionDenied
        | Code::Unauthenticated => HandleError::Permanent(format!(
            "identity refused a link for {}: {status}",
            event.id
        )),
        _ => HandleError::Retryable(format!("identity: {status}")),
    }
}

/// Where e-mails without a single-use link point.
pub struct Links {
    pub certification: String,
    pub org_invitations: String,
}

#[derive(Clone)]
pub struct Notifications(Arc<Inner>);

struct Inner {
    db: DatabaseConnection,
    clock: SharedClock,
    identity: IdentityClient,
    mailer: Mailer,
    /// E-mails sent at once.
    sends_at_once: usize,
    /// Wakes the mailer when a delivery is queued.
    queued: Notify,
    /// Link in certification invitations.
    certification_url: String,
    /// Link in organisation invitations.
    org_invitations_url: String,
}

fn retryable(err: impl std::fmt::Display) -> HandleError {
    HandleError::Retryable(err.to_string())
}

fn wall(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

impl Notifications {
    pub fn new(
        db: DatabaseConnection,
        clock: SharedClock,
        identity_url: &str,
        internal_token: &str,
        mailer: Mailer,
        sends_at_once: usize,
        links: Links,
    ) -> Result<Self, String> {
        let channel = ps_grpc::client::lazy(
            tonic::transport::Endpoint::from_shared(identity_url.to_owned())
                .map_err(|e| format!("identity_url: {e}"))?
                .connect_timeout(Duration::from_secs(5))
                .timeout(Duration::from_secs(10)),
        );
        let credential = Credential::service(internal_token).map_err(|e| e.to_string())?;
        Ok(Self(Arc::new(Inner {
            db,
            clock,
            identity: IdentityInternalServiceClient::with_interceptor(channel, credential),
            mailer,
            sends_at_once: sends_at_once.max(1),
            queued: Notify::new(),
            certification_url: links.certification,
            org_invitations_url: links.org_invitations,
        })))
    }

    pub fn mailer(&self) -> &Mailer {
        &self.0.mailer
    }

    async fn invitation_link(
        &self,
        event: &Event,
        practice: PracticeId,
        invite: Invite<'_>,
    ) -> Result<(String, DateTime<Utc>), HandleError> {
        let link = self
            .0
            .identity
            .clone()
            .issue_invitation_link(identity::IssueInvitationLinkRequest {
                email: invite.email.to_string(),
                invitee_name: invite.name.to_string(),
                practice_id: practice.to_string(),
                practice_name: invite.practice_name.to_owned(),
                staff_id: invite.staff_id.to_string(),
                inviter_name: invite.inviter_name.to_owned(),
                practice_role: ps_proto::convert::role_to_wire(invite.role),
            })
            .await
            .map_err(|status| identity_refusal(event, status))?
            .into_inner();
        let expires_at = link_expiry(link.expires_at.as_ref())?;
        Ok((link.url, expires_at))
    }

    async fn invitation(
        &self,
        event: &Event,
        practice: PracticeId,
        invite: Invite<'_>,
        reminder: bool,
    ) -> Result<Mail, HandleError> {
        let (url, expires_at) = self.invitation_link(event, practice, invite).await?;
        Ok(Mail {
            template: if reminder {
                templates::REINVITATION
            } else {
                templates::INVITATION
            },
            recipient: invite.email.to_string(),
            recipient_name: invite.name.to_string(),
            rendered: templates::invitation(&templates::InvitationEmail {
                invitee_name: invite.name.as_str(),
                inviter_name: invite.inviter_name,
                practice_name: invite.practice_name,
                role: invite.role,
                url: &url,
                expires_at,
                reminder,
            }),
        })
    }

    async fn password_reset(
        &self,
        event: &Event,
        request: &PasswordResetRequested,
    ) -> Result<Mail, HandleError> {
        let link = self
            .0
            .identity
            .clone()
            .issue_password_reset_link(identity::IssuePasswordResetLinkRequest {
                user_id: request.user_id.to_string(),
            })
            .await
            .map_err(|status| identity_refusal(event, status))?
            .into_inner();
        let expires_at = link_expiry(link.expires_at.as_ref())?;
        Ok(Mail {
            template: templates::PASSWORD_RESET,
            recipient: request.email.to_string(),
            recipient_name: request.name.to_string(),
            rendered: templates::password_reset(&templates::PasswordResetEmail {
                name: request.name.as_str(),
                url: &link.url,
                expires_at,
            }),
        })
    }

    /// The e-mails an event causes. Links come from identity here, before the transaction; a
    /// redelivery that gets this far issues a newer link, voiding the unsent one.
    async fn mails_for(&self, event: &Event) -> Result<Vec<Mail>, HandleError> {
        let manager = event.actor.name.as_str();
        Ok(match &event.payload {
            Payload::OffboardingCompleted(p) => vec![
                Mail {
                    template: templates::OFFBOARDING_HANDOVER,
                    recipient: p.replacement.email.to_string(),
                    recipient_name: p.replacement.name.to_string(),
                    rendered: templates::offboarding_handover(&templates::HandoverEmail {
                        replacement_name: p.replacement.name.as_str(),
                        leaver_name: p.leaver.name.as_str(),
                        manager_name: manager,
                        holdings: &p.holdings,
                        steps: p.counts.steps_reassigned,
                    }),
                },
                Mail {
                    template: templates::OFFBOARDING_SUMMARY,
                    recipient: p.requested_by_email.to_string(),
                    recipient_name: manager.to_owned(),
                    rendered: templates::offboarding_summary(&templates::SummaryEmail {
                        manager_name: manager,
                        leaver_name: p.leaver.name.as_str(),
                        replacement_name: p.replacement.name.as_str(),
                        counts: &p.counts,
                    }),
                },
            ],
            Payload::OffboardingFailed(p) => vec![Mail {
                template: templates::OFFBOARDING_FAILED,
                recipient: p.requested_by_email.to_string(),
                recipient_name: manager.to_owned(),
                rendered: templates::offboarding_failed(&templates::OffboardingFailedEmail {
                    manager_name: manager,
                    leaver_name: p.leaver.name.as_str(),
                    replacement_name: p.replacement.name.as_str(),
                    reason: &p.reason,
                }),
            }],
            _ => self.mail_for(event).await?.into_iter().collect(),
        })
    }

    /// The one e-mail an event causes, if any.
    async fn mail_for(&self, event: &Event) -> Result<Option<Mail>, HandleError> {
        let practice = || {
            event.practice_id.ok_or_else(|| {
                HandleError::Permanent(format!("{} without a practice", event.event_type()))
            })
        };
        Ok(match &event.payload {
            Payload::StaffInvited(p) => Some(
                self.invitation(event, practice()?, Invite::from_invited(p), false)
                    .await?,
            ),
            Payload::StaffReinvited(p) => Some(
                self.invitation(event, practice()?, Invite::from_reinvited(p), true)
                    .await?,
            ),
            Payload::CertificationInvited(p) => Some(Mail {
                template: templates::CERTIFICATION_INVITATION,
                recipient: p.email.to_string(),
                recipient_name: p.name.to_string(),
                rendered: templates::certification_invitation(&templates::CertificationEmail {
                    member_name: p.name.as_str(),
                    inviter_name: &p.inviter_name,
                    practice_name: &p.practice_name,
                    url: &self.0.certification_url,
                }),
            }),
            Payload::CertificationRecorded(p) => Some(Mail {
                template: templates::CERTIFICATE_READY,
                recipient: p.email.to_string(),
                recipient_name: p.name.to_string(),
                rendered: templates::certificate_ready(&templates::CertificateReadyEmail {
                    member_name: p.name.as_str(),
                    practice_name: &p.practice_name,
                    certified_at: p.certified_at,
                    certificate_number: &p.certificate_number,
                }),
            }),
            Payload::PasswordResetRequested(p) => Some(self.password_reset(event, p).await?),
            Payload::OrgAccessInvited(p) => Some(Mail {
                template: templates::ORG_INVITATION,
                recipient: p.email.to_string(),
                recipient_name: p.name.to_string(),
                rendered: templates::org_invitation(&templates::OrgInvitationEmail {
                    member_name: p.name.as_str(),
                    inviter_name: &p.inviter_name,
                    organisation_names: &p.organisation_names,
                    url: &self.0.org_invitations_url,
                }),
            }),
            _ => None,
        })
    }

    /// Applies an event: the roster change and, for events that cause one, the queued e-mail,
    /// in the transaction that records the event id.
    pub async fn handle(&self, event: &Event) -> Result<(), HandleError> {
        let consumer = ConsumerName::Notification;
        // Links are issued outside our database, so skip a known redelivery outright.
        if inbox::already_processed(&self.0.db, consumer, event.id)
            .await
            .map_err(retryable)?
        {
            return Ok(());
        }
        let mails = self.mails_for(event).await?;
        let queued: Vec<(Uuid, &'static str)> =
            mails.iter().map(|m| (Uuid::now_v7(), m.template)).collect();
        let ids: Vec<Uuid> = queued.iter().map(|(id, _)| *id).collect();
        let now = self.0.clock.now();
        let trace = ps_telemetry::TraceContext::current();
        let traceparent = (!trace.is_empty()).then_some(trace.traceparent);
        let applied = inbox::apply_once(&self.0.db, consumer, event, move |tx, event| {
            Box::pin(async move {
                ps_roster::apply(tx, event).await?;
                for (mail, id) in mails.into_iter().zip(ids) {
                    deliveries::ActiveModel {
                        id: Set(id),
                        practice_id: Set(event.practice_id.map(|p| p.as_uuid())),
                        event_id: Set(event.id.as_uuid()),
                        template: Set(mail.template.to_owned()),
                        recipient: Set(mail.recipient),
                        recipient_name: Set(mail.recipient_name),
                        subject: Set(mail.rendered.subject),
                        body_text: Set(Some(mail.rendered.text)),
                        body_html: Set(Some(mail.rendered.html)),
                        status: Set(status::QUEUED.to_owned()),
                        attempts: Set(0),
                        last_error: Set(None),
                        next_attempt_at: Set(Utc::now()),
                        claimed_until: Set(None),
                        created_at: Set(now),
                        sent_at: Set(None),
                        traceparent: Set(traceparent.clone()),
                    }
                    .insert(tx)
                    .await?;
                }
                Ok::<_, sea_orm::DbErr>(())
            })
        })
        .await?;
        if applied && !queued.is_empty() {
            self.0.queued.notify_one();
            for (delivery_id, template) in queued {
                info!(%delivery_id, event_id = %event.id, template, "e-mail queued");
            }
        }
        Ok(())
    }

    /// Sends queued e-mails until shutdown, `sends_at_once` at a time. Claims use a lease
    /// (`FOR UPDATE SKIP LOCKED` on PostgreSQL) so replicas do not send the same e-mail;
    /// scheduling uses wall-clock time.
    pub async fn run_mailer(self, shutdown: Shutdown) {
        loop {
            if shutdown.is_triggered() {
                return;
            }
            let batch = match self.claim_due(MAILER_BATCH).await {
                Ok(batch) => batch,
                Err(err) => {
                    warn!(error = %err, "claiming deliveries failed");
                    Vec::new()
                }
            };
            if batch.is_empty() {
                tokio::select! {
                    _ = self.0.queued.notified() => {}
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = shutdown.clone().wait() => return,
                }
                continue;
            }
            // Sent `sends_at_once` at a time: one at a time, every e-mail waited for the
            // previous one's SMTP round trips and result commit.
            let this = &self;
            futures::stream::iter(batch)
                .for_each_concurrent(self.0.sends_at_once, |row| async move {
                    if let Err(err) = this.send_one(row).await {
                        warn!(error = %err, "recording a delivery result failed");
                    }
                })
                .await;
        }
    }

    async fn claim_due(&self, limit: u64) -> Result<Vec<deliveries::Model>, sea_orm::DbErr> {
        let now = Utc::now();
        let due = Query::select()
            .column(deliveries::Column::Id)
            .from(deliveries::Entity)
            .and_where(deliveries::Column::Status.eq(status::QUEUED))
            .and_where(deliveries::Column::NextAttemptAt.lte(now))
            .and_where(
                deliveries::Column::ClaimedUntil
                    .is_null()
                    .or(deliveries::Column::ClaimedUntil.lt(now)),
            )
            .order_by(deliveries::Column::Id, sea_orm::Order::Asc)
            .limit(limit)
            .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
            .to_owned();
        let mut rows = deliveries::Entity::update_many()
            .col_expr(
                deliveries::Column::ClaimedUntil,
                Expr::value(now + wall(Duration::from_secs(120))),
            )
            .filter(deliveries::Column::Id.in_subquery(due))
            .exec_with_returning(&self.0.db)
            .await?;
        rows.sort_by_key(|r| r.id);
        Ok(rows)
    }

    async fn send_one(&self, row: deliveries::Model) -> Result<(), sea_orm::DbErr> {
        let span = tracing::info_span!(
            "mail.send",
            otel.kind = "client",
            ps.service = "notification",
            delivery.id = %row.id,
            mail.template = %row.template,
        );
        ps_telemetry::TraceContext {
            traceparent: row.traceparent.clone().unwrap_or_default(),
            tracestate: String::new(),
        }
        .adopt(&span);
        self.send_traced(row).instrument(span).await
    }

    async fn send_traced(&self, row: deliveries::Model) -> Result<(), sea_orm::DbErr> {
        let sent = self
            .0
            .mailer
            .send(&Outgoing {
                delivery_id: row.id,
                to_name: &row.recipient_name,
                to_address: &row.recipient,
                subject: &row.subject,
                text: row.body_text.as_deref().unwrap_or_default(),
                html: row.body_html.as_deref().unwrap_or_default(),
                date: row.created_at,
            })
            .await;
        let attempts = row.attempts + 1;
        let update = deliveries::Entity::update_many()
            .col_expr(deliveries::Column::Attempts, Expr::value(attempts))
            .col_expr(
                deliveries::Column::ClaimedUntil,
                Expr::value(None::<DateTime<Utc>>),
            )
            .filter(deliveries::Column::Id.eq(row.id));
        match sent {
            Ok(()) => {
                update
                    .col_expr(deliveries::Column::Status, Expr::value(status::SENT))
                    .col_expr(deliveries::Column::SentAt, Expr::value(self.0.clock.now()))
                    .col_expr(deliveries::Column::LastError, Expr::value(None::<String>))
                    // The bodies held a single-use link; they are not needed any more.
                    .col_expr(deliveries::Column::BodyText, Expr::value(None::<String>))
                    .col_expr(deliveries::Column::BodyHtml, Expr::value(None::<String>))
                    .exec(&self.0.db)
                    .await?;
                ps_telemetry::metrics()
                    .emails
                    .with_label_values(&["sent"])
                    .inc();
                info!(delivery_id = %row.id, template = %row.template, "e-mail sent");
            }
            Err(err) => {
                let gave_up = attempts >= MAX_ATTEMPTS;
                let backoff =
                    Duration::from_secs(2u64.saturating_pow(attempts.clamp(0, 12) as u32))
                        .min(Duration::from_secs(600));
                ps_telemetry::metrics()
                    .emails
                    .with_label_values(&[if gave_up { "failed" } else { "retried" }])
                    .inc();
                warn!(delivery_id = %row.id, attempts, gave_up, error = %err, "e-mail not sent");
                update
                    .col_expr(
                        deliveries::Column::Status,
                        Expr::value(if gave_up {
                            status::FAILED
                        } else {
                            status::QUEUED
                        }),
                    )
                    .col_expr(deliveries::Column::LastError, Expr::value(err.to_string()))
                    .col_expr(
                        deliveries::Column::NextAttemptAt,
                        Expr::value(Utc::now() + wall(backoff)),
                    )
                    .exec(&self.0.db)
                    .await?;
            }
        }
        Ok(())
    }

    /// The delivery log is for staff managers who are active now (per the roster, so a
    /// deactivated manager's unexpired token is refused).
    async fn require_staff_manager(&self, caller: &UserCaller) -> Result<(), Error> {
        match ps_roster::active_role(&self.0.db, caller.practice_id, caller.user_id).await? {
            Some(role) if role.manages_staff() => Ok(()),
            Some(_) => Err(Error::PermissionDenied(
                "the delivery log needs the Account Owner, Account Manager or User Manager role"
                    .into(),
            )),
            None => Err(Error::PermissionDenied(
                "you are not an active member of this practice".into(),
            )),
        }
    }

    pub async fn list_deliveries(
        &self,
        caller: &UserCaller,
        recipient: Option<String>,
        page: PageRequest,
    ) -> Result<Page<Delivery>, Error> {
        self.require_staff_manager(caller).await?;
        let mut query = deliveries::Entity::find()
            .filter(deliveries::Column::PracticeId.eq(caller.practice_id.as_uuid()));
        if let Some(recipient) = recipient {
            query = query.filter(deliveries::Column::Recipient.eq(recipient));
        }
        if let Some(after) = page.after {
            query = query.filter(deliveries::Column::Id.gt(after));
        }
        let rows = query
            .order_by_asc(deliveries::Column::Id)
            .limit(page.fetch_limit())
            .all(&self.0.db)
            .await?;
        Ok(Page::from_rows(rows, &page, |r| r.id).map(delivery))
    }

    pub async fn get_delivery(&self, caller: &UserCaller, id: Uuid) -> Result<Delivery, Error> {
        self.require_staff_manager(caller).await?;
        deliveries::Entity::find_by_id(id)
            .filter(deliveries::Column::PracticeId.eq(caller.practice_id.as_uuid()))
            .one(&self.0.db)
            .await?
            .map(delivery)
            .ok_or(Error::NotFound("delivery"))
    }
}
