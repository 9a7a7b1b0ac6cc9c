//! Notification's use cases: queue the e-mails an event causes, send queued e-mails, show the
//! log.
//!
//! An event is applied by queuing its deliveries in the transaction that records the event id
//! (so copies of one event queue one set of e-mails). The mailer sends them afterwards. E-mails
//! with a single-use link store no link: the mailer mints it at send time ([`crate::links`]).
//! Claims on deliveries are short leases the mailer renews while it sends, so a crashed
//! process's e-mails go out within seconds of a restart.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use ps_auth::UserCaller;
use ps_core::{Email, Page, PageRequest, PracticeId, SharedClock, Shutdown, StaffId};
use ps_events::event::DeliveryFailed;
use ps_events::{
    Actor, ActorKind, ConsumerName, Event, HandleError, OutboxWaker, Payload, inbox, outbox,
};
use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, TransactionTrait,
};
use tokio::sync::Notify;
use tracing::{Instrument, info, warn};
use uuid::Uuid;

use crate::error::Error;
use crate::links::{LinkError, LinkIssuer, LinkMail, MintedLink};
use crate::mail::{Mailer, Outgoing};
use crate::store::deliveries;
use crate::templates;

/// Delivery statuses, as stored.
pub mod status {
    pub const QUEUED: &str = "queued";
    pub const SENT: &str = "sent";
    /// Gave up after the configured attempts, or the link could not be had.
    pub const FAILED: &str = "failed";
}

/// Deliveries the mailer claims at once.
const MAILER_BATCH: u64 = 64;
/// The deliveries table, for leases.
const DELIVERIES: &str = "deliveries";
/// How long a claim on deliveries holds without renewal (renewed every third of it while the
/// e-mails are being sent).
const CLAIM_LEASE: Duration = Duration::from_secs(6);
/// When identity cannot be reached for a link, the e-mail waits this long; it does not count
/// as a failed attempt (the e-mail is not at fault, and an outage must not use up its attempts).
const IDENTITY_RETRY: Duration = Duration::from_secs(3);
/// How long recording a send's outcome keeps trying while the database is unreachable: giving
/// up sooner would let the claim lapse and the e-mail go out a second time.
const RECORD_PATIENCE: Duration = Duration::from_secs(300);

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
    /// When the single-use link of a finally failed e-mail was voided.
    pub link_voided_at: Option<DateTime<Utc>>,
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
        link_voided_at: row.link_voided_at,
    }
}

/// What an e-mail says: rendered when queued, or (with a single-use link) when sent.
enum Body {
    Rendered(templates::Rendered),
    Link(LinkMail),
}

/// An e-mail an event causes.
struct Mail {
    template: &'static str,
    recipient: String,
    recipient_name: String,
    body: Body,
}

impl Mail {
    fn rendered(
        template: &'static str,
        recipient: impl ToString,
        name: impl ToString,
        rendered: templates::Rendered,
    ) -> Self {
        Self {
            template,
            recipient: recipient.to_string(),
            recipient_name: name.to_string(),
            body: Body::Rendered(rendered),
        }
    }

    fn with_link(recipient: &Email, name: impl ToString, link: LinkMail) -> Self {
        Self {
            template: link.template(),
            recipient: recipient.to_string(),
            recipient_name: name.to_string(),
            body: Body::Link(link),
        }
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
    links: Arc<dyn LinkIssuer>,
    mailer: Mailer,
    waker: OutboxWaker,
    /// E-mails sent at once.
    sends_at_once: usize,
    max_attempts: i32,
    retry_delay: Duration,
    /// Wakes the mailer when a delivery is queued.
    queued: Notify,
    /// Link in certification invitations.
    certification_url: String,
    /// Link in organisation invitations.
    org_invitations_url: String,
}

fn wall(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
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

/// How one sending attempt went.
enum Attempt {
    Sent {
        link: Option<Uuid>,
    },
    /// The transport failed; another attempt may succeed.
    Failed {
        error: String,
        link: Option<Uuid>,
    },
    /// Identity could not be reached for the link: wait, without using up an attempt.
    Deferred(String),
    /// It can never be sent (identity refused the link, the stored mail is unreadable).
    Refused(String),
}

impl Notifications {
    pub fn new(
        db: DatabaseConnection,
        clock: SharedClock,
        links: Arc<dyn LinkIssuer>,
        mailer: Mailer,
        waker: OutboxWaker,
        settings: &crate::mail::MailSettings,
        urls: Links,
    ) -> Self {
        Self(Arc::new(Inner {
            db,
            clock,
            links,
            mailer,
            waker,
            sends_at_once: settings.concurrency.max(1),
            max_attempts: i32::try_from(Ord::max(settings.max_attempts, 1)).unwrap_or(i32::MAX),
            retry_delay: settings.retry_delay,
            queued: Notify::new(),
            certification_url: urls.certification,
            org_invitations_url: urls.org_invitations,
        }))
    }

    pub fn mailer(&self) -> &Mailer {
        &self.0.mailer
    }

    /// The e-mails an event causes; no I/O.
    fn mails_for(&self, event: &Event) -> Result<Vec<Mail>, HandleError> {
        let manager = event.actor.name.as_str();
        let practice = || {
            event.practice_id.ok_or_else(|| {
                HandleError::Permanent(format!("{} without a practice", event.event_type()))
            })
        };
        let invitation = |staff_id: StaffId,
                          email: &Email,
                          name: &str,
                          role,
                          practice_name: &str,
                          inviter_name: &str,
                          reminder| {
            Ok::<_, HandleError>(Mail::with_link(
                email,
                name,
                LinkMail::Invitation {
                    staff_id,
                    practice_id: practice()?,
                    email: email.to_string(),
                    name: name.to_owned(),
                    role: ps_core::PracticeRole::as_str(role).to_owned(),
                    practice_name: practice_name.to_owned(),
                    inviter_name: inviter_name.to_owned(),
                    reminder,
                },
            ))
        };
        Ok(match &event.payload {
            Payload::StaffInvited(p) => vec![invitation(
                p.staff_id,
                &p.email,
                p.name.as_str(),
                p.role,
                &p.practice_name,
                &p.inviter_name,
                false,
            )?],
            Payload::StaffReinvited(p) => vec![invitation(
                p.staff_id,
                &p.email,
                p.name.as_str(),
                p.role,
                &p.practice_name,
                &p.inviter_name,
                true,
            )?],
            Payload::PasswordResetRequested(p) => vec![Mail::with_link(
                &p.email,
                &p.name,
                LinkMail::PasswordReset {
                    user_id: p.user_id,
                    name: p.name.to_string(),
                },
            )],
            Payload::CertificationInvited(p) => vec![Mail::rendered(
                templates::CERTIFICATION_INVITATION,
                &p.email,
                &p.name,
                templates::certification_invitation(&templates::CertificationEmail {
                    member_name: p.name.as_str(),
                    inviter_name: &p.inviter_name,
                    practice_name: &p.practice_name,
                    url: &self.0.certification_url,
                }),
            )],
            Payload::CertificationRecorded(p) => vec![Mail::rendered(
                templates::CERTIFICATE_READY,
                &p.email,
                &p.name,
                templates::certificate_ready(&templates::CertificateReadyEmail {
                    member_name: p.name.as_str(),
                    practice_name: &p.practice_name,
                    certified_at: p.certified_at,
                    certificate_number: &p.certificate_number,
                }),
            )],
            Payload::OrgAccessInvited(p) => vec![Mail::rendered(
                templates::ORG_INVITATION,
                &p.email,
                &p.name,
                templates::org_invitation(&templates::OrgInvitationEmail {
                    member_name: p.name.as_str(),
                    inviter_name: &p.inviter_name,
                    organisation_names: &p.organisation_names,
                    url: &self.0.org_invitations_url,
                }),
            )],
            Payload::OffboardingCompleted(p) => vec![
                Mail::rendered(
                    templates::OFFBOARDING_HANDOVER,
                    &p.replacement.email,
                    &p.replacement.name,
                    templates::offboarding_handover(&templates::HandoverEmail {
                        replacement_name: p.replacement.name.as_str(),
                        leaver_name: p.leaver.name.as_str(),
                        manager_name: manager,
                        holdings: &p.holdings,
                        steps: p.counts.steps_reassigned,
                    }),
                ),
                Mail::rendered(
                    templates::OFFBOARDING_SUMMARY,
                    &p.requested_by_email,
                    manager,
                    templates::offboarding_summary(&templates::SummaryEmail {
                        manager_name: manager,
                        leaver_name: p.leaver.name.as_str(),
                        replacement_name: p.replacement.name.as_str(),
                        counts: &p.counts,
                    }),
                ),
            ],
            Payload::OffboardingFailed(p) => vec![Mail::rendered(
                templates::OFFBOARDING_FAILED,
                &p.requested_by_email,
                manager,
                templates::offboarding_failed(&templates::OffboardingFailedEmail {
                    manager_name: manager,
                    leaver_name: p.leaver.name.as_str(),
                    replacement_name: p.replacement.name.as_str(),
                    reason: &p.reason,
                }),
            )],
            _ => Vec::new(),
        })
    }

    /// Applies an event: the roster change and the e-mails it causes, queued in the
    /// transaction that records the event id.
    pub async fn handle(&self, event: &Event) -> Result<(), HandleError> {
        let mails = self.mails_for(event)?;
        let queued: Vec<(Uuid, &'static str)> =
            mails.iter().map(|m| (Uuid::now_v7(), m.template)).collect();
        let ids: Vec<Uuid> = queued.iter().map(|(id, _)| *id).collect();
        let now = self.0.clock.now();
        let trace = ps_telemetry::TraceContext::current();
        let traceparent = (!trace.is_empty()).then_some(trace.traceparent);
        let requested_by = actor_json(&event.actor);
        let applied = inbox::apply_once(
            &self.0.db,
            ConsumerName::Notification,
            event,
            move |tx, event| {
                Box::pin(async move {
                    ps_roster::apply(tx, event).await?;
                    for (mail, id) in mails.into_iter().zip(ids) {
                        let (subject, text, html, link_mail, staff_id) = match mail.body {
                            Body::Rendered(r) => {
                                (r.subject, Some(r.text), Some(r.html), None, None)
                            }
                            Body::Link(link) => (
                                link.subject(),
                                None,
                                None,
                                Some(
                                    serde_json::to_string(&link)
                                        .map_err(|e| DbErr::Custom(e.to_string()))?,
                                ),
                                link.staff_id().map(|s| s.as_uuid()),
                            ),
                        };
                        deliveries::ActiveModel {
                            id: Set(id),
                            practice_id: Set(event.practice_id.map(|p| p.as_uuid())),
                            event_id: Set(event.id.as_uuid()),
                            template: Set(mail.template.to_owned()),
                            recipient: Set(mail.recipient),
                            recipient_name: Set(mail.recipient_name),
                            subject: Set(subject),
                            body_text: Set(text),
                            body_html: Set(html),
                            status: Set(status::QUEUED.to_owned()),
                            attempts: Set(0),
                            last_error: Set(None),
                            next_attempt_at: Set(Utc::now()),
                            claimed_until: Set(None),
                            created_at: Set(now),
                            sent_at: Set(None),
                            traceparent: Set(traceparent.clone()),
                            link_mail: Set(link_mail),
                            link_id: Set(None),
                            link_voided_at: Set(None),
                            staff_id: Set(staff_id),
                            requested_at: Set(Some(event.occurred_at)),
                            requested_by: Set(Some(requested_by.clone())),
                        }
                        .insert(tx)
                        .await?;
                    }
                    Ok::<_, DbErr>(())
                })
            },
        )
        .await?;
        if applied && !queued.is_empty() {
            self.0.queued.notify_one();
            for (delivery_id, template) in queued {
                info!(%delivery_id, event_id = %event.id, template, "e-mail queued");
            }
        }
        Ok(())
    }

    /// Sends queued e-mails until shutdown, `sends_at_once` at a time. Claims are leases
    /// (`FOR UPDATE SKIP LOCKED` on PostgreSQL) renewed while the batch is sent, so replicas
    /// never send the same e-mail and a crashed replica's e-mails are free again within
    /// [`CLAIM_LEASE`]; on SQLite, claims left by a previous run are released at start.
    /// Scheduling uses wall-clock time.
    pub async fn run_mailer(self, shutdown: Shutdown) {
        if !ps_db::is_postgres(&self.0.db) {
            match ps_db::lease::release_all(&self.0.db, DELIVERIES).await {
                Ok(0) => {}
                Ok(released) => info!(released, "released e-mail claims of a previous run"),
                Err(err) => warn!(error = %err, "releasing old e-mail claims failed"),
            }
        }
        let mut claim_failures = ps_telemetry::Throttle::new(Duration::from_secs(10));
        loop {
            if shutdown.is_triggered() {
                return;
            }
            let batch = match self.claim_due(MAILER_BATCH).await {
                Ok(batch) => {
                    claim_failures.reset();
                    batch
                }
                Err(err) => {
                    if let Some(held_back) = claim_failures.hit() {
                        warn!(error = %err, failures_not_logged = held_back, "claiming deliveries failed");
                    }
                    Vec::new()
                }
            };
            if batch.is_empty() {
                self.void_undelivered_links().await;
                tokio::select! {
                    _ = self.0.queued.notified() => {}
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = shutdown.clone().wait() => return,
                }
                continue;
            }
            let _lease = ps_db::lease::Lease::keep(
                self.0.db.clone(),
                DELIVERIES,
                batch.iter().map(|row| row.id).collect(),
                CLAIM_LEASE,
            );
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

    async fn claim_due(&self, limit: u64) -> Result<Vec<deliveries::Model>, DbErr> {
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
                Expr::value(ps_db::lease::until(CLAIM_LEASE)),
            )
            .filter(deliveries::Column::Id.in_subquery(due))
            .exec_with_returning(&self.0.db)
            .await?;
        rows.sort_by_key(|r| r.id);
        Ok(rows)
    }

    async fn send_one(&self, row: deliveries::Model) -> Result<(), DbErr> {
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
        async {
            let attempt = self.attempt(&row).await;
            self.record(&row, attempt).await
        }
        .instrument(span)
        .await
    }

    /// One attempt at sending `row`: mint its link if it carries one, render, send.
    async fn attempt(&self, row: &deliveries::Model) -> Attempt {
        let (rendered, link) = match row.link_mail.as_deref() {
            None => (
                templates::Rendered {
                    subject: row.subject.clone(),
                    text: row.body_text.clone().unwrap_or_default(),
                    html: row.body_html.clone().unwrap_or_default(),
                },
                None,
            ),
            Some(stored) => {
                let mail: LinkMail = match serde_json::from_str(stored) {
                    Ok(mail) => mail,
                    Err(err) => {
                        return Attempt::Refused(format!("unreadable stored e-mail: {err}"));
                    }
                };
                let minted: MintedLink = match self.0.links.mint(&mail).await {
                    Ok(link) => link,
                    Err(LinkError::Unavailable(reason)) => return Attempt::Deferred(reason),
                    Err(LinkError::Refused(reason)) => return Attempt::Refused(reason),
                };
                (mail.render(&minted), Some(minted.id))
            }
        };
        let sent = self
            .0
            .mailer
            .send(&Outgoing {
                delivery_id: row.id,
                to_name: &row.recipient_name,
                to_address: &row.recipient,
                subject: &rendered.subject,
                text: &rendered.text,
                html: &rendered.html,
                date: row.created_at,
            })
            .await;
        match sent {
            Ok(()) => Attempt::Sent { link },
            Err(err) => Attempt::Failed {
                error: err.to_string(),
                link,
            },
        }
    }

    /// Records how an attempt went, retrying while the database is unreachable (see
    /// [`RECORD_PATIENCE`]); a final failure publishes DeliveryFailed and voids the link.
    async fn record(&self, row: &deliveries::Model, attempt: Attempt) -> Result<(), DbErr> {
        let attempts = row.attempts + 1;
        let emails = &ps_telemetry::metrics().emails;
        let update = |row_id: Uuid| {
            deliveries::Entity::update_many()
                .col_expr(
                    deliveries::Column::ClaimedUntil,
                    Expr::value(None::<DateTime<Utc>>),
                )
                .filter(deliveries::Column::Id.eq(row_id))
        };
        match attempt {
            Attempt::Sent { link } => {
                let sent_at = self.0.clock.now();
                persist(|| {
                    update(row.id)
                        .col_expr(deliveries::Column::Attempts, Expr::value(attempts))
                        .col_expr(deliveries::Column::Status, Expr::value(status::SENT))
                        .col_expr(deliveries::Column::SentAt, Expr::value(sent_at))
                        .col_expr(deliveries::Column::LastError, Expr::value(None::<String>))
                        .col_expr(deliveries::Column::LinkId, Expr::value(link))
                        // Not needed any more; a link e-mail never had them.
                        .col_expr(deliveries::Column::BodyText, Expr::value(None::<String>))
                        .col_expr(deliveries::Column::BodyHtml, Expr::value(None::<String>))
                        .exec(&self.0.db)
                })
                .await?;
                emails.with_label_values(&["sent"]).inc();
                info!(delivery_id = %row.id, template = %row.template, "e-mail sent");
            }
            Attempt::Deferred(reason) => {
                emails.with_label_values(&["deferred"]).inc();
                warn!(delivery_id = %row.id, error = %reason, "no link for the e-mail yet; will retry");
                let next = Utc::now() + wall(IDENTITY_RETRY);
                persist(|| {
                    update(row.id)
                        .col_expr(deliveries::Column::LastError, Expr::value(reason.clone()))
                        .col_expr(deliveries::Column::NextAttemptAt, Expr::value(next))
                        .exec(&self.0.db)
                })
                .await?;
            }
            Attempt::Failed { error, link } if attempts < self.0.max_attempts => {
                let doublings = Ord::min(u32::try_from(attempts - 1).unwrap_or(0), 16);
                let backoff = self
                    .0
                    .retry_delay
                    .saturating_mul(1 << doublings)
                    .min(Duration::from_secs(600));
                emails.with_label_values(&["retried"]).inc();
                warn!(delivery_id = %row.id, attempts, error = %error, "e-mail not sent; will retry");
                let next = Utc::now() + wall(backoff);
                persist(|| {
                    update(row.id)
                        .col_expr(deliveries::Column::Attempts, Expr::value(attempts))
                        .col_expr(deliveries::Column::LastError, Expr::value(error.clone()))
                        .col_expr(deliveries::Column::NextAttemptAt, Expr::value(next))
                        .col_expr(deliveries::Column::LinkId, Expr::value(link))
                        .exec(&self.0.db)
                })
                .await?;
            }
            Attempt::Failed { error, link } => self.give_up(row, attempts, error, link).await?,
            Attempt::Refused(reason) => self.give_up(row, row.attempts, reason, None).await?,
        }
        Ok(())
    }

    /// The e-mail will not be sent: marked failed (bodies gone), DeliveryFailed published in
    /// the same transaction, and the link it would have carried voided.
    async fn give_up(
        &self,
        row: &deliveries::Model,
        attempts: i32,
        error: String,
        link: Option<Uuid>,
    ) -> Result<(), DbErr> {
        ps_telemetry::metrics()
            .emails
            .with_label_values(&["failed"])
            .inc();
        warn!(delivery_id = %row.id, attempts, error = %error, "e-mail failed; giving up");
        let now = self.0.clock.now();
        let failed = Payload::DeliveryFailed(DeliveryFailed {
            delivery_id: row.id,
            template: row.template.clone(),
            recipient: Email::from_trusted(row.recipient.clone()),
            staff_id: row.staff_id.map(StaffId),
            reason: error.clone(),
            requested_at: row.requested_at.unwrap_or(row.created_at),
        });
        let actor = actor_from_json(row.requested_by.as_deref());
        let event = match row.practice_id {
            Some(practice) => Event::new(PracticeId(practice), actor, now, failed),
            None => Event::personal(actor, now, failed),
        };
        persist(|| async {
            let tx = self.0.db.begin().await?;
            let mut update = deliveries::Entity::update_many()
                .col_expr(deliveries::Column::Attempts, Expr::value(attempts))
                .col_expr(deliveries::Column::Status, Expr::value(status::FAILED))
                .col_expr(deliveries::Column::LastError, Expr::value(error.clone()))
                .col_expr(deliveries::Column::BodyText, Expr::value(None::<String>))
                .col_expr(deliveries::Column::BodyHtml, Expr::value(None::<String>))
                .col_expr(
                    deliveries::Column::ClaimedUntil,
                    Expr::value(None::<DateTime<Utc>>),
                );
            if link.is_some() {
                update = update.col_expr(deliveries::Column::LinkId, Expr::value(link));
            }
            update
                .filter(deliveries::Column::Id.eq(row.id))
                .exec(&tx)
                .await?;
            outbox::enqueue(&tx, &event).await?;
            tx.commit().await
        })
        .await?;
        self.0.waker.wake();
        self.void_undelivered_links().await;
        Ok(())
    }

    /// Voids the links of finally failed e-mails not voided yet (identity may have been down
    /// when they failed); called after each failure and whenever the mailer is idle.
    async fn void_undelivered_links(&self) {
        let pending = deliveries::Entity::find()
            .filter(deliveries::Column::Status.eq(status::FAILED))
            .filter(deliveries::Column::LinkId.is_not_null())
            .filter(deliveries::Column::LinkVoidedAt.is_null())
            .limit(32)
            .all(&self.0.db)
            .await;
        let Ok(pending) = pending else { return };
        for row in pending {
            let Some(link) = row.link_id else { continue };
            match self.0.links.void(link).await {
                Ok(()) => {
                    let voided = deliveries::Entity::update_many()
                        .col_expr(
                            deliveries::Column::LinkVoidedAt,
                            Expr::value(self.0.clock.now()),
                        )
                        .filter(deliveries::Column::Id.eq(row.id))
                        .exec(&self.0.db)
                        .await;
                    if let Err(err) = voided {
                        warn!(delivery_id = %row.id, error = %err, "recording a voided link failed");
                    } else {
                        info!(delivery_id = %row.id, "the failed e-mail's link was voided");
                    }
                }
                Err(err) => {
                    warn!(delivery_id = %row.id, error = %err, "voiding a failed e-mail's link failed; will retry");
                    return;
                }
            }
        }
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
