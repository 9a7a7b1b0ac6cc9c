//! Password resets.

use ps_core::{Email, Invalid, PersonName, UserId};
use ps_events::event::PasswordResetRequested;
use ps_events::{Actor, Event, Payload, outbox};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QuerySelect, Set,
    TransactionTrait,
};
use tracing::info;
use uuid::Uuid;

use super::{Identity, span, usable};
use crate::domain::{IssuedResetLink, Password, SecretToken, outcome, purpose};
use crate::error::Error;
use crate::store::{action_links, users};

impl Identity {
    /// Publishes PasswordResetRequested for an existing account with a password, at most
    /// `reset_limit` times per window. Unknown e-mails, accounts without a password and
    /// requests over the limit do nothing, and the caller cannot tell them apart.
    pub async fn request_password_reset(&self, email: &Email) -> Result<(), Error> {
        let now = self.now();
        let tx = self.0.db.begin().await?;
        let Some(user) = users::Entity::find()
            .filter(users::Column::Email.eq(email.as_str()))
            .lock_exclusive()
            .one(&tx)
            .await?
        else {
            return Ok(());
        };
        if user.password_hash.is_none() {
            return Ok(());
        }
        let window = span(self.0.settings.reset_window);
        let (start, used) = match user.reset_window_started_at {
            Some(start) if now - start < window => (start, user.resets_in_window),
            _ => (now, 0),
        };
        if used >= i32::try_from(self.0.settings.reset_limit).unwrap_or(i32::MAX) {
            info!(user_id = %user.id, "password reset request over the limit; ignored");
            return Ok(());
        }
        let user_id = UserId(user.id);
        let (name, address) = (user.name.clone(), user.email.clone());
        let mut active = user.into_active_model();
        active.reset_window_started_at = Set(Some(start));
        active.resets_in_window = Set(used + 1);
        active.update(&tx).await?;
        outbox::enqueue(
            &tx,
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
        tx.commit().await?;
        self.0.waker.wake();
        info!(%user_id, "password reset requested");
        Ok(())
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
        action_links::ActiveModel {
            id: Set(Uuid::now_v7()),
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
        let ended = self.end_sessions(&tx, link.user_id, None).await?;
        tx.commit().await?;
        info!(user_id = %link.user_id, sessions_ended = ended, "password reset");
        Ok(())
    }
}
