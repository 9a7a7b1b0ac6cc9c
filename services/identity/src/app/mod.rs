//! Identity's use cases. Every state change and its event are written in one transaction;
//! single-use checks are part of the `UPDATE` that consumes a link, never a read followed by a
//! write.
//!
//! - [`invitations`]: what an invitation offers, accepting, declining, issuing links.
//! - [`signing`]: sign-in with lockout, refresh with reuse detection, sign-out, practices.
//! - [`reset`]: password reset requests, links and the reset itself.
//! - [`membership`]: keeping memberships and sessions in step with staff lifecycle events.

mod invitations;
mod membership;
mod reset;
mod signing;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ps_auth::claims::ACCESS_TOKEN_TYPE;
use ps_auth::{AccessClaims, PublicJwk, SigningKey, TokenSettings};
use ps_core::{PracticeId, PracticeRole, SessionId, SharedClock, UserId};
use ps_events::OutboxWaker;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, Set,
};
use tracing::info;
use uuid::Uuid;

use crate::domain::{RefreshToken, SecretToken, SignedIn, purpose};
use crate::error::Error;
use crate::passwords::PasswordHasher;
use crate::store::{action_links, memberships, sessions, signing_keys, users};

#[derive(Debug, Clone)]
pub struct Settings {
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    pub invitation_ttl: Duration,
    /// Link template; `{token}` is replaced by the token.
    pub invitation_url: String,
    pub password_reset_ttl: Duration,
    pub password_reset_url: String,
    /// Failed sign-ins that lock an account, and for how long.
    pub lockout_threshold: u32,
    pub lockout_duration: Duration,
    /// Password reset e-mails per account within `reset_window`.
    pub reset_limit: u32,
    pub reset_window: Duration,
    pub tokens: TokenSettings,
}

pub(crate) fn span(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

#[derive(Clone)]
pub struct Identity(Arc<Inner>);

struct Inner {
    db: DatabaseConnection,
    clock: SharedClock,
    waker: OutboxWaker,
    hasher: PasswordHasher,
    signer: SigningKey,
    settings: Settings,
    /// Verified against when the e-mail is unknown or the account locked, so every path
    /// costs one hash.
    dummy_hash: String,
}

impl Identity {
    pub async fn new(
        db: DatabaseConnection,
        clock: SharedClock,
        waker: OutboxWaker,
        hasher: PasswordHasher,
        settings: Settings,
    ) -> Result<Self, Error> {
        let signer = current_signing_key(&db, clock.now()).await?;
        let dummy_hash = hasher
            .hash(SecretToken::generate().as_str().to_owned())
            .await?;
        Ok(Self(Arc::new(Inner {
            db,
            clock,
            waker,
            hasher,
            signer,
            settings,
            dummy_hash,
        })))
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.0.db
    }

    pub fn clock(&self) -> &SharedClock {
        &self.0.clock
    }

    fn now(&self) -> DateTime<Utc> {
        self.0.clock.now()
    }

    async fn link_by_token(
        &self,
        token: &SecretToken,
        kind: &str,
    ) -> Result<action_links::Model, Error> {
        action_links::Entity::find()
            .filter(action_links::Column::TokenHash.eq(token.hash()))
            .filter(action_links::Column::Purpose.eq(kind))
            .one(&self.0.db)
            .await?
            .ok_or(if kind == purpose::INVITATION {
                Error::InvitationNotFound
            } else {
                Error::ResetLinkNotFound
            })
    }

    async fn user(&self, id: Uuid) -> Result<users::Model, Error> {
        users::Entity::find_by_id(id)
            .one(&self.0.db)
            .await?
            .ok_or_else(|| Error::Internal(format!("link refers to missing user {id}")))
    }

    /// Marks the link used if, at this instant, it is unused, current and unexpired. Exactly
    /// one of any number of concurrent callers gets `Ok`.
    async fn consume_link<C: ConnectionTrait>(
        &self,
        conn: &C,
        link: &action_links::Model,
        answer: &'static str,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let consumed = action_links::Entity::update_many()
            .col_expr(action_links::Column::UsedAt, Expr::value(now))
            .col_expr(action_links::Column::Outcome, Expr::value(answer))
            .filter(action_links::Column::Id.eq(link.id))
            .filter(action_links::Column::UsedAt.is_null())
            .filter(action_links::Column::VoidedAt.is_null())
            .filter(action_links::Column::ExpiresAt.gt(now))
            .exec(conn)
            .await?
            .rows_affected;
        if consumed == 1 {
            return Ok(());
        }
        // Lost a race or the link changed since it was read: say which.
        let current = action_links::Entity::find_by_id(link.id)
            .one(conn)
            .await?
            .ok_or(Error::InvitationNotFound)?;
        usable(&current, now)?;
        Err(used(&current))
    }

    /// Ends sessions of `user` (in one practice, or all); returns how many.
    async fn end_sessions<C: ConnectionTrait>(
        &self,
        conn: &C,
        user: Uuid,
        practice: Option<Uuid>,
    ) -> Result<u64, Error> {
        let mut update = sessions::Entity::update_many()
            .col_expr(sessions::Column::RevokedAt, Expr::value(self.now()))
            .filter(sessions::Column::UserId.eq(user))
            .filter(sessions::Column::RevokedAt.is_null());
        if let Some(practice) = practice {
            update = update.filter(sessions::Column::PracticeId.eq(practice));
        }
        Ok(update.exec(conn).await?.rows_affected)
    }

    /// A new session for an active membership, with its first tokens.
    async fn open_session(&self, membership: &memberships::Model) -> Result<SignedIn, Error> {
        let now = self.now();
        let session_id = SessionId::generate();
        let refresh_token = RefreshToken::new(session_id);
        let refresh_expires_at = now + span(self.0.settings.refresh_token_ttl);
        sessions::ActiveModel {
            id: Set(session_id.as_uuid()),
            user_id: Set(membership.user_id),
            practice_id: Set(membership.practice_id),
            refresh_hash: Set(refresh_token.secret.hash()),
            created_at: Set(now),
            expires_at: Set(refresh_expires_at),
            refreshed_at: Set(None),
            revoked_at: Set(None),
        }
        .insert(&self.0.db)
        .await?;
        info!(user_id = %membership.user_id, practice_id = %membership.practice_id, session_id = %session_id, "session opened");
        self.signed_in(membership, refresh_token, refresh_expires_at, now)
    }

    fn signed_in(
        &self,
        membership: &memberships::Model,
        refresh_token: RefreshToken,
        refresh_expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<SignedIn, Error> {
        let role = stored_role(&membership.role)?;
        let access_expires_at = now + span(self.0.settings.access_token_ttl);
        let claims = AccessClaims {
            iss: self.0.settings.tokens.issuer.clone(),
            aud: self.0.settings.tokens.audience.clone(),
            sub: membership.user_id.to_string(),
            pid: membership.practice_id.to_string(),
            stf: membership.staff_id.to_string(),
            sid: refresh_token.session.to_string(),
            role: role.as_str().to_owned(),
            typ: ACCESS_TOKEN_TYPE.to_owned(),
            iat: now.timestamp(),
            nbf: now.timestamp(),
            exp: access_expires_at.timestamp(),
            jti: Uuid::now_v7().to_string(),
        };
        let access_token = self
            .0
            .signer
            .sign(&claims)
            .map_err(|e| Error::Internal(e.to_string()))?;
        Ok(SignedIn {
            access_token,
            access_expires_at,
            refresh_token,
            refresh_expires_at,
            user_id: UserId(membership.user_id),
            practice_id: PracticeId(membership.practice_id),
            role,
        })
    }
}

/// The error for a link that was already used, in the words of its purpose.
fn used(link: &action_links::Model) -> Error {
    if link.purpose == purpose::INVITATION {
        Error::InvitationUsed
    } else {
        Error::LinkUsed
    }
}

/// Whether a link can still be used at `now`.
fn usable(link: &action_links::Model, now: DateTime<Utc>) -> Result<(), Error> {
    let invitation = link.purpose == purpose::INVITATION;
    if link.used_at.is_some() {
        Err(used(link))
    } else if link.voided_at.is_some() {
        Err(if invitation {
            Error::InvitationReplaced
        } else {
            Error::LinkReplaced
        })
    } else if link.expires_at <= now {
        Err(if invitation {
            Error::InvitationExpired
        } else {
            Error::LinkExpired
        })
    } else {
        Ok(())
    }
}

fn stored_role(value: &str) -> Result<PracticeRole, Error> {
    PracticeRole::parse(value)
        .ok_or_else(|| Error::Internal(format!("unknown stored role {value}")))
}

/// The key that signs new tokens: the newest unretired one, created on first start.
async fn current_signing_key(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
) -> Result<SigningKey, Error> {
    let newest = signing_keys::Entity::find()
        .filter(signing_keys::Column::RetiredAt.is_null())
        .order_by_desc(signing_keys::Column::CreatedAt)
        .one(db)
        .await?;
    if let Some(row) = newest {
        return SigningKey::from_pkcs8(row.kid, row.private_key)
            .map_err(|e| Error::Internal(e.to_string()));
    }
    let key = SigningKey::generate();
    signing_keys::ActiveModel {
        kid: Set(key.kid().to_owned()),
        private_key: Set(key.pkcs8_der().to_vec()),
        created_at: Set(now),
        retired_at: Set(None),
    }
    .insert(db)
    .await?;
    info!(kid = key.kid(), "created token signing key");
    Ok(key)
}

/// Every unretired public key. Read from the database each time so keys created by another
/// replica are published too; verifiers cache the answer.
pub async fn published_keys(db: &DatabaseConnection) -> Result<Vec<PublicJwk>, Error> {
    signing_keys::Entity::find()
        .filter(signing_keys::Column::RetiredAt.is_null())
        .all(db)
        .await?
        .into_iter()
        .map(|row| {
            SigningKey::from_pkcs8(row.kid, row.private_key)
                .map(|k| k.public_jwk())
                .map_err(|e| Error::Internal(e.to_string()))
        })
        .collect()
}
