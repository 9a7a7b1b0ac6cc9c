//! Notification's use cases: queue an e-mail for an event, send queued e-mails, show the log.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ps_auth::UserCaller;
use ps_auth::credentials::Credential;
use ps_core::{Page, PageRequest, PracticeId, SharedClock, Shutdown};
use ps_events::event::StaffInvited;
use ps_events::{ConsumerName, Event, HandleError, inbox};
use ps_proto::identity::v1 as identity;
use ps_proto::identity::v1::identity_internal_service_client::IdentityInternalServiceClient;
use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, TransactionTrait,
};
use tokio::sync::Notify;
use tonic::Code;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tracing::{info, warn};
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: Uuid,
    pub practice_id: PracticeId,
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
        practice_id: PracticeId(row.practice_id),
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

type IdentityClient = IdentityInternalServiceClient<InterceptedService<Channel, Credential>>;

#[derive(Clone)]
pub struct Notifications(Arc<Inner>);

struct Inner {
    db: DatabaseConnection,
    clock: SharedClock,
    identity: IdentityClient,
    mailer: Mailer,
    /// Wakes the mailer when a delivery is queued.
    queued: Notify,
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
    ) -> Result<Self, String> {
        let channel = tonic::transport::Endpoint::from_shared(identity_url.to_owned())
            .map_err(|e| format!("identity_url: {e}"))?
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .connect_lazy();
        let credential = Credential::service(internal_token).map_err(|e| e.to_string())?;
        Ok(Self(Arc::new(Inner {
            db,
            clock,
            identity: IdentityInternalServiceClient::with_interceptor(channel, credential),
            mailer,
            queued: Notify::new(),
        })))
    }

    pub fn mailer(&self) -> &Mailer {
        &self.0.mailer
    }

    /// StaffInvited → a fresh link from identity → a queued invitation e-mail.
    pub async fn on_staff_invited(
        &self,
        event: &Event,
        invited: &StaffInvited,
    ) -> Result<(), HandleError> {
        let consumer = ConsumerName::Notification;
        // The link call is outside our database, so skip it outright for a redelivery.
        if inbox::already_processed(&self.0.db, consumer, event.id)
            .await
            .map_err(retryable)?
        {
            return Ok(());
        }
        let link = self
            .0
            .identity
            .clone()
            .issue_invitation_link(identity::IssueInvitationLinkRequest {
                email: invited.email.to_string(),
                invitee_name: invited.name.to_string(),
                practice_id: event.practice_id.to_string(),
                practice_name: invited.practice_name.clone(),
                staff_id: invited.staff_id.to_string(),
                inviter_name: invited.inviter_name.clone(),
                practice_role: ps_proto::convert::role_to_wire(invited.role),
            })
            .await
            .map_err(|status| match status.code() {
                Code::InvalidArgument
                | Code::NotFound
                | Code::AlreadyExists
                | Code::FailedPrecondition
                | Code::PermissionDenied
                | Code::Unauthenticated => {
                    HandleError::Permanent(format!("identity refused the link: {status}"))
                }
                _ => HandleError::Retryable(format!("identity: {status}")),
            })?
            .into_inner();
        let expires_at = link
            .expires_at
            .as_ref()
            .and_then(ps_proto::convert::from_timestamp)
            .ok_or_else(|| {
                HandleError::Permanent("identity returned a link without expiry".into())
            })?;
        let rendered = templates::invitation(&templates::InvitationEmail {
            invitee_name: invited.name.as_str(),
            inviter_name: &invited.inviter_name,
            practice_name: &invited.practice_name,
            role: invited.role,
            url: &link.url,
            expires_at,
        });

        let now = self.0.clock.now();
        let tx = self.0.db.begin().await.map_err(retryable)?;
        if !inbox::record_once(&tx, consumer, event.id, event.event_type(), now)
            .await
            .map_err(retryable)?
        {
            // A concurrent delivery of the same event got here first; its link stands (ours
            // voided it, so at worst the first e-mail's link is replaced: it was never sent).
            return Ok(());
        }
        let delivery_id = Uuid::now_v7();
        deliveries::ActiveModel {
            id: Set(delivery_id),
            practice_id: Set(event.practice_id.as_uuid()),
            event_id: Set(event.id.as_uuid()),
            template: Set(templates::INVITATION.to_owned()),
            recipient: Set(invited.email.to_string()),
            recipient_name: Set(invited.name.to_string()),
            subject: Set(rendered.subject),
            body_text: Set(Some(rendered.text)),
            body_html: Set(Some(rendered.html)),
            status: Set(status::QUEUED.to_owned()),
            attempts: Set(0),
            last_error: Set(None),
            next_attempt_at: Set(Utc::now()),
            claimed_until: Set(None),
            created_at: Set(now),
            sent_at: Set(None),
        }
        .insert(&tx)
        .await
        .map_err(retryable)?;
        tx.commit().await.map_err(retryable)?;
        self.0.queued.notify_one();
        info!(%delivery_id, event_id = %event.id, staff_id = %invited.staff_id, "invitation e-mail queued");
        Ok(())
    }

    /// Sends queued e-mails until shutdown. Claims use a lease (`FOR UPDATE SKIP LOCKED` on
    /// PostgreSQL) so replicas do not send the same e-mail; scheduling uses wall-clock time.
    pub async fn run_mailer(self, shutdown: Shutdown) {
        loop {
            if shutdown.is_triggered() {
                return;
            }
            let batch = match self.claim_due(20).await {
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
            for row in batch {
                if let Err(err) = self.send_one(row).await {
                    warn!(error = %err, "recording a delivery result failed");
                }
            }
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
                info!(delivery_id = %row.id, template = %row.template, "e-mail sent");
            }
            Err(err) => {
                let gave_up = attempts >= MAX_ATTEMPTS;
                let backoff =
                    Duration::from_secs(2u64.saturating_pow(attempts.clamp(0, 12) as u32))
                        .min(Duration::from_secs(600));
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

    fn require_staff_manager(caller: &UserCaller) -> Result<(), Error> {
        if caller.role.manages_staff() {
            Ok(())
        } else {
            Err(Error::PermissionDenied(
                "the delivery log needs the Account Owner, Account Manager or User Manager role"
                    .into(),
            ))
        }
    }

    pub async fn list_deliveries(
        &self,
        caller: &UserCaller,
        recipient: Option<String>,
        page: PageRequest,
    ) -> Result<Page<Delivery>, Error> {
        Self::require_staff_manager(caller)?;
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
        Self::require_staff_manager(caller)?;
        deliveries::Entity::find_by_id(id)
            .filter(deliveries::Column::PracticeId.eq(caller.practice_id.as_uuid()))
            .one(&self.0.db)
            .await?
            .map(delivery)
            .ok_or(Error::NotFound("delivery"))
    }
}
