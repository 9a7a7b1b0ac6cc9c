//! Password resets.

use ps_core::{Email, Invalid, PersonName, UserId};
use ps_events::event::PasswordResetRequested;
use ps_events::{Actor, Event, Payload, outbox};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
    QuerySelect, Set, TransactionTrait,
};
use tracing::{info, warn};
use uuid::Uuid;

use super::{Identity, Sessions, span, usable};
use crate::domain::{IssuedResetLink, Password, SecretToken, outcome, purpose};
use crate::error::Error;
use crate::store::{action_links, reset_requests, users};

impl Identity {
    /// Queues a password reset request. Whatever the e-mail — an account, one without a
    /// password, one over the limit, nobody — the caller's request does the same work (one
    /// insert) and gets the same answer, so neither its answer nor its time tells whether the
    /// address is known. [`Identity::run_reset_requests`] applies the queue.
    pub async fn request_password_reset(&self, email: &Email) -> Result<(), Error> {
        reset_requests::ActiveModel {
            id: Set(Uuid::now_v7()),
            email: Set(email.to_string()),
            requested_at: Set(self.now()),
        }
        .insert(&self.0.db)
        .await?;
        self.0.reset_queued.notify_one();
        Ok(())
    }

    /// Applies queued reset requests until shutdown (woken by each new one, otherwise every
    /// second). Each batch is claimed, applied and deleted in one transaction (`SKIP LOCKED`
    /// on PostgreSQL, so replicas share the queue), so a crash applies nothing twice and loses
    /// nothing.
    pub async fn run_reset_requests(self, shutdown: ps_core::Shutdown) {
        let mut failures = ps_telemetry::Throttle::new(std::time::Duration::from_secs(10));
        loop {
            if shutdown.is_triggered() {
                return;
            }
            let handled = match self.apply_reset_requests().await {
                Ok(handled) => handled,
                Err(err) => {
                    if let Some(held_back) = failures.hit() {
                        warn!(error = %err, failures_not_logged = held_back, "applying password reset requests failed");
                    }
                    0
                }
            };
            if handled > 0 {
                continue;
            }
            tokio::select! {
                _ = self.0.reset_queued.notified() => {}
                _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                _ = shutdown.clone().wait() => return,
            }
        }
    }

    async fn apply_reset_requests(&self) -> Result<usize, Error> {
        let tx = self.0.db.begin().await?;
        let batch = reset_requests::Entity::find()
            .order_by_asc(reset_requests::Column::Id)
            .limit(32)
            .lock_with_behavior(
                sea_orm::sea_query::LockType::Update,
                sea_orm::sea_query::LockBehavior::SkipLocked,
            )
            .all(&tx)
            .await?;
        if batch.is_empty() {
            return Ok(0);
        }
        let mut published = false;
        for request in &batch {
            published |= self
                .apply_reset_request(&tx, &Email::from_trusted(request.email.clone()))
                .await?;
        }
        reset_requests::Entity::delete_many()
            .filter(reset_requests::Column::Id.is_in(batch.iter().map(|r| r.id)))
            .exec(&tx)
            .await?;
        tx.commit().await?;
        if published {
            self.0.waker.wake();
        }
        Ok(batch.len())
    }

    /// Publishes PasswordResetRequested for an existing account with a password, at most
    /// `reset_limit` times per window; unknown e-mails, accounts without a password and
    /// requests over the limit do nothing. Returns whether it published.
    async fn apply_reset_request(
        &self,
        tx: &sea_orm::DatabaseTransaction,
        email: &Email,
    ) -> Result<bool, Error> {
        let now = self.now();
        let Some(user) = users::Entity::find()
            .filter(users::Column::Email.eq(email.as_str()))
            .lock_exclusive()
            .one(tx)
            .await?
        else {
            return Ok(false);
        };
        if user.password_hash.is_none() {
            return Ok(false);
        }
        let window = span(self.0.settings.reset_window);
        let (start, used) = match user.reset_window_started_at {
            Some(start) if now - start < window => (start, user.resets_in_window),
            _ => (now, 0),
        };
        if used >= i32::try_from(self.0.settings.reset_limit).unwrap_or(i32::MAX) {
            info!(user_id = %user.id, "password reset request over the limit; ignored");
            return Ok(false);
        }
        let user_id = UserId(user.id);
        let (name, address) = (user.name.clone(), user.email.clone());
        let mut active = user.into_active_model();
        active.reset_window_started_at = Set(Some(start));
        active.resets_in_window = Set(used + 1);
        active.update(tx).await?;
        outbox::enqueue(
            tx,
            &Event::personal(
                Actor::user(user_id, name.clone()),
                now,
                Payload::PasswordResetRequested(PasswordResetRequested {
                    user_id,
                    email: Email::from_trusted(address),
                    name: PersonName::from_trusted(name),
                }),
            ),
        )
        .await?;
        info!(%user_id, "password reset requested");
        Ok(true)
    }

    /// A fresh reset link for the user; their older unused reset links stop working.
    pub async fn issue_password_reset_link(&self, user: UserId) -> Result<IssuedResetLink, Error> {
        let now = self.now();
        let account = users::Entity::find_by_id(user.as_uuid())
            .one(&self.0.db)
            .await?
            .ok_or_else(|| {
                Error::Invalid(
                    ps_core::FieldViolation::new("user_id", "is not a known user").into(),
                )
            })?;
        let token = SecretToken::generate();
        let expires_at = now + span(self.0.settings.password_reset_ttl);
        let tx = self.0.db.begin().await?;
        self.void_links(&tx, purpose::PASSWORD_RESET, Some(account.id), None, now)
            .await?;
        let id = Uuid::now_v7();
        action_links::ActiveModel {
            id: Set(id),
            token_hash: Set(token.hash()),
            purpose: Set(purpose::PASSWORD_RESET.to_owned()),
            user_id: Set(account.id),
            practice_id: Set(None),
            staff_id: Set(None),
            practice_name: Set(String::new()),
            inviter_name: Set(String::new()),
            invitee_name: Set(account.name),
            role: Set(String::new()),
            created_at: Set(now),
            expires_at: Set(expires_at),
            used_at: Set(None),
            voided_at: Set(None),
            outcome: Set(None),
        }
        .insert(&tx)
        .await?;
        tx.commit().await?;
        Ok(IssuedResetLink {
            id,
            url: self
                .0
                .settings
                .password_reset_url
                .replace("{token}", token.as_str()),
            token,
            expires_at,
        })
    }

    /// Sets a new password through a reset link, ends every session of the user and lifts a
    /// sign-in lock.
    pub async fn reset_password(
        &self,
        token: &SecretToken,
        new_password: &str,
    ) -> Result<(), Error> {
        let password =
            Password::new_password("new_password", new_password).map_err(Invalid::from)?;
        let link = self.link_by_token(token, purpose::PASSWORD_RESET).await?;
        usable(&link, self.now())?;
        let hash = self.0.hasher.hash(password.into_inner()).await?;
        let user = self.user(link.user_id).await?;
        let now = self.now();
        let tx = self.0.db.begin().await?;
        self.consume_link(&tx, &link, outcome::PASSWORD_SET, now)
            .await?;
        users::Entity::update_many()
            .col_expr(users::Column::PasswordHash, Expr::value(hash))
            .col_expr(users::Column::FailedSignIns, Expr::value(0))
            .col_expr(
                users::Column::LockedUntil,
                Expr::value(None::<chrono::DateTime<chrono::Utc>>),
            )
            .col_expr(users::Column::UpdatedAt, Expr::value(now))
            .filter(users::Column::Id.eq(link.user_id))
            .exec(&tx)
            .await?;
        let ended = self
            .end_sessions(
                &tx,
                link.user_id,
                Sessions::All,
                &Actor::user(UserId(user.id), user.name),
                "the password was reset",
            )
            .await?;
        tx.commit().await?;
        self.0.waker.wake();
        info!(user_id = %link.user_id, sessions_ended = ended, "password reset");
        Ok(())
    }
}
