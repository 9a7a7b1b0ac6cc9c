//! Identity's use cases. Every state change and its event are written in one transaction;
//! single-use checks are part of the `UPDATE` that consumes a link, never a read followed by a
//! write.
//!
//! - [`invitations`]: what an invitation offers, accepting, declining, issuing links.
//! - [`signing`]: sign-in with lockout, refresh with reuse detection, sign-out, practices.
//! - [`reset`]: password reset requests, links and the reset itself.
//! - [`membership`]: keeping memberships and sessions in step with staff lifecycle events.
//! - [`keyring`]: the signing keys, sealed at rest and rotated.
//! - [`service_accounts`]: machine callers' accounts and their service tokens.

mod invitations;
pub mod keyring;
mod membership;
mod reset;
mod service_accounts;
mod signing;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ps_auth::claims::ACCESS_TOKEN_TYPE;
use ps_auth::{AccessClaims, PublicJwk, TokenSettings};
use ps_core::{PracticeId, PracticeRole, SessionId, SharedClock, UserId};
use ps_db::tenancy::InPractice;
use ps_events::event::SessionsEnded;
use ps_events::{Actor, Event, OutboxWaker, Payload, outbox};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    Set,
};
use tracing::info;
use uuid::Uuid;

use crate::domain::{RefreshToken, SecretToken, SignedIn, purpose};
use crate::error::Error;
use crate::passwords::PasswordHasher;
use crate::store::{action_links, memberships, sessions, users};

/// Which of a user's sessions to end.
#[derive(Debug, Clone, Copy)]
enum Sessions {
    All,
    InPractice(PracticeId),
    One(SessionId),
}

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
    /// How long a rotated-in signing key is published before it signs.
    pub key_activation_delay: Duration,
    /// Lifetime of service tokens (default 5 minutes).
    pub service_token_ttl: Duration,
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
    keyring: Arc<keyring::Keyring>,
    settings: Settings,
    /// Verified against when the e-mail is unknown or the account locked, so every path
    /// costs one hash.
    dummy_hash: String,
    /// Wakes the reset-request queue.
    reset_queued: tokio::sync::Notify,
}

impl Identity {
    pub async fn new(
        db: DatabaseConnection,
        clock: SharedClock,
        waker: OutboxWaker,
        hasher: PasswordHasher,
        kek: keyring::Kek,
        settings: Settings,
    ) -> Result<Self, Error> {
        let keyring = Arc::new(keyring::Keyring::load(db.clone(), kek, clock.now()).await?);
        let dummy_hash = hasher
            .hash(SecretToken::generate().as_str().to_owned())
            .await?;
        Ok(Self(Arc::new(Inner {
            db,
            clock,
            waker,
            hasher,
            keyring,
            settings,
            dummy_hash,
            reset_queued: tokio::sync::Notify::new(),
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

    /// Ends the sessions of `user` that `which` selects and are still open, in `conn` (the
    /// caller's transaction): records them as ended and publishes SessionsEnded, so every
    /// service refuses their access tokens from now on. Returns how many ended.
    async fn end_sessions<C: ConnectionTrait>(
        &self,
        conn: &C,
        user: Uuid,
        which: Sessions,
        actor: &Actor,
        reason: &str,
    ) -> Result<usize, Error> {
        let mut update = sessions::Entity::update_many()
            .col_expr(sessions::Column::RevokedAt, Expr::value(self.now()))
            .filter(sessions::Column::UserId.eq(user))
            .filter(sessions::Column::RevokedAt.is_null());
        update = match which {
            Sessions::All => update,
            Sessions::InPractice(practice) => update.in_practice(practice),
            Sessions::One(session) => update.filter(sessions::Column::Id.eq(session.as_uuid())),
        };
        let ended: Vec<SessionId> = update
            .exec_with_returning(conn)
            .await?
            .into_iter()
            .map(|row| SessionId(row.id))
            .collect();
        if ended.is_empty() {
            return Ok(0);
        }
        let now = self.now();
        let payload = SessionsEnded {
            user_id: UserId(user),
            session_ids: ended.clone(),
            tokens_expire_by: now + span(self.0.settings.access_token_ttl),
            reason: reason.to_owned(),
        };
        ps_sessions::record(conn, &payload).await?;
        let event = match which {
            Sessions::InPractice(practice) => Event::new(
                practice,
                actor.clone(),
                now,
                Payload::SessionsEnded(payload),
            ),
            Sessions::All | Sessions::One(_) => {
                Event::personal(actor.clone(), now, Payload::SessionsEnded(payload))
            }
        };
        outbox::enqueue(conn, &event).await?;
        info!(user_id = %user, sessions = ended.len(), reason, "sessions ended");
        Ok(ended.len())
    }

    /// Every published public key (GetJwks, and identity's own verifier).
    pub async fn published_keys(&self) -> Result<Vec<PublicJwk>, Error> {
        self.0.keyring.published(self.now()).await
    }

    /// Operator: a new signing key (see [`keyring`]).
    pub async fn rotate_signing_key(&self) -> Result<keyring::Rotated, Error> {
        self.0
            .keyring
            .rotate(
                self.now(),
                self.0.settings.key_activation_delay,
                self.0.settings.access_token_ttl,
            )
            .await
    }

    /// Keeps the signing key current (rotations, other replicas) until shutdown.
    pub fn refresh_signing_key(&self, shutdown: ps_core::Shutdown) -> tokio::task::JoinHandle<()> {
        tokio::spawn(
            self.0
                .keyring
                .clone()
                .run_refresh(self.0.clock.clone(), shutdown),
        )
    }

    /// Tells the relay about events committed outside a use case (the consumer's).
    pub fn wake(&self) {
        self.0.waker.wake();
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
            .keyring
            .signer()
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
