//! Password resets.

use ps_core::{Email, FieldViolation, Invalid, PersonName, UserId};
use ps_db::Tx;
use ps_events::event::PasswordResetRequested;
use ps_events::{Actor, Event, Payload, outbox};
use tracing::{info, warn};

use super::{Identity, span, usable};
use crate::domain::{
    IssuedResetLink, LinkOutcome, LinkPurpose, Password, SecretToken, SessionsToEnd,
};
use crate::error::Error;
use crate::store;

impl Identity {
    /// Queues a password reset request. Whatever the e-mail — an account, one without a
    /// password, one over the limit, nobody — the caller's request does the same work (one
    /// insert) and gets the same answer, so neither its answer nor its time tells whether the
    /// address is known. [`Identity::run_reset_requests`] applies the queue.
    pub async fn request_password_reset(&self, email: &Email) -> Result<(), Error> {
        store::resets::queue(&self.0.db, email, self.now()).await?;
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
        let tx = ps_db::begin(&self.0.db).await?;
        let batch = store::resets::claim(&tx, 32).await?;
        if batch.is_empty() {
            return Ok(0);
        }
        let mut published = false;
        for request in &batch {
            published |= self.apply_reset_request(&tx, &request.email).await?;
        }
        let ids: Vec<_> = batch.iter().map(|r| r.id).collect();
        store::resets::delete(&tx, &ids).await?;
        tx.commit().await?;
        if published {
            self.0.waker.wake();
        }
        Ok(batch.len())
    }

    /// Publishes PasswordResetRequested for an existing account with a password, at most
    /// `reset_limit` times per window; unknown e-mails, accounts without a password and
    /// requests over the limit do nothing. Returns whether it published.
    async fn apply_reset_request(&self, tx: &Tx, email: &Email) -> Result<bool, Error> {
        let now = self.now();
        let Some(user) = store::users::lock_by_email(tx, email).await? else {
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
        if used >= self.0.settings.reset_limit {
            info!(user_id = %user.id, "password reset request over the limit; ignored");
            return Ok(false);
        }
        let user_id = user.id;
        store::users::set_reset_window(tx, user_id, start, used + 1).await?;
        outbox::enqueue(
            tx,
            &Event::personal(
                Actor::user(user_id, user.name.clone()),
                now,
                Payload::PasswordResetRequested(PasswordResetRequested {
                    user_id,
                    email: user.email,
                    name: PersonName::from_trusted(user.name),
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
        let account = store::users::get(&self.0.db, user).await?.ok_or_else(|| {
            Error::Invalid(FieldViolation::new("user_id", "is not a known user").into())
        })?;
        let token = SecretToken::generate();
        let expires_at = now + span(self.0.settings.password_reset_ttl);
        let tx = ps_db::begin(&self.0.db).await?;
        let purpose = LinkPurpose::PasswordReset;
        store::links::void_pending(&tx, purpose, Some(account.id), None, now).await?;
        let id = store::links::insert_reset(&tx, &token, &account, now, expires_at).await?;
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
        let link = self
            .link_by_token(token, LinkPurpose::PasswordReset)
            .await?;
        usable(&link, self.now())?;
        let hash = self.0.hasher.hash(password.into_inner()).await?;
        let user = self.user(link.user_id).await?;
        let now = self.now();
        let tx = ps_db::begin(&self.0.db).await?;
        self.consume_link(&tx, &link, LinkOutcome::PasswordSet, now)
            .await?;
        store::users::reset_password(&tx, link.user_id, hash, now).await?;
        let ended = self
            .end_sessions(
                &tx,
                link.user_id,
                SessionsToEnd::All,
                &Actor::user(user.id, user.name),
                "the password was reset",
            )
            .await?;
        tx.commit().await?;
        self.0.waker.wake();
        info!(user_id = %link.user_id, sessions_ended = ended, "password reset");
        Ok(())
    }
}
