//! Identity's use cases. They read and write through [`crate::store`], never building a query
//! themselves, and decide with [`crate::domain`]. Every state change and its event are written
//! in one transaction; single-use checks are part of the `UPDATE` that consumes a link, never a
//! read followed by a write.
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
use ps_core::{SessionId, SharedClock, UserId};
use ps_db::{Db, Tx};
use ps_events::event::SessionsEnded;
use ps_events::{Actor, Event, OutboxWaker, Payload, outbox};
use tracing::info;
use uuid::Uuid;

use crate::domain::{
    ActionLink, LinkOutcome, LinkPurpose, Membership, RefreshToken, SecretToken, Session,
    SessionsToEnd, SignedIn, User,
};
use crate::error::Error;
use crate::passwords::PasswordHasher;
use crate::store;

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
    db: Db,
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
        db: Db,
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

    pub fn db(&self) -> &Db {
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
        purpose: LinkPurpose,
    ) -> Result<ActionLink, Error> {
        store::links::by_token(&self.0.db, token, purpose)
            .await?
            .ok_or(match purpose {
                LinkPurpose::Invitation => Error::InvitationNotFound,
                LinkPurpose::PasswordReset => Error::ResetLinkNotFound,
            })
    }

    async fn user(&self, id: UserId) -> Result<User, Error> {
        store::users::get(&self.0.db, id)
            .await?
            .ok_or_else(|| Error::Internal(format!("link refers to missing user {id}")))
    }

    /// Marks the link used if, at this instant, it is unused, current and unexpired. Exactly
    /// one of any number of concurrent callers gets `Ok`.
    async fn consume_link(
        &self,
        tx: &Tx,
        link: &ActionLink,
        outcome: LinkOutcome,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        if store::links::consume(tx, link.id, outcome, now).await? {
            return Ok(());
        }
        // Lost a race or the link changed since it was read: say which.
        let current = store::links::get(tx, link.id)
            .await?
            .ok_or(Error::InvitationNotFound)?;
        usable(&current, now)?;
        Err(used(&current))
    }

    /// Ends the sessions of `user` that `which` selects and are still open, in `tx` (the
    /// caller's transaction): records them as ended and publishes SessionsEnded, so every
    /// service refuses their access tokens from now on. Returns how many ended.
    async fn end_sessions(
        &self,
        tx: &Tx,
        user: UserId,
        which: SessionsToEnd,
        actor: &Actor,
        reason: &str,
    ) -> Result<usize, Error> {
        let now = self.now();
        let ended = store::sessions::end(tx, user, which, now).await?;
        if ended.is_empty() {
            return Ok(0);
        }
        let payload = SessionsEnded {
            user_id: user,
            session_ids: ended.clone(),
            tokens_expire_by: now + span(self.0.settings.access_token_ttl),
            reason: reason.to_owned(),
        };
        ps_sessions::record(tx, &payload).await?;
        let event = match which {
            SessionsToEnd::InPractice(practice) => Event::new(
                practice,
                actor.clone(),
                now,
                Payload::SessionsEnded(payload),
            ),
            SessionsToEnd::All | SessionsToEnd::One(_) => {
                Event::personal(actor.clone(), now, Payload::SessionsEnded(payload))
            }
        };
        outbox::enqueue(tx, &event).await?;
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
    async fn open_session(&self, membership: &Membership) -> Result<SignedIn, Error> {
        let now = self.now();
        let refresh_token = RefreshToken::new(SessionId::generate());
        let session = Session {
            id: refresh_token.session,
            user_id: membership.user_id,
            practice_id: membership.practice_id,
            refresh_hash: refresh_token.secret.hash(),
            expires_at: now + span(self.0.settings.refresh_token_ttl),
            revoked_at: None,
        };
        store::sessions::open(&self.0.db, &session, now).await?;
        info!(user_id = %membership.user_id, practice_id = %membership.practice_id, session_id = %session.id, "session opened");
        self.signed_in(membership, refresh_token, session.expires_at, now)
    }

    fn signed_in(
        &self,
        membership: &Membership,
        refresh_token: RefreshToken,
        refresh_expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<SignedIn, Error> {
        let access_expires_at = now + span(self.0.settings.access_token_ttl);
        let claims = AccessClaims {
            iss: self.0.settings.tokens.issuer.clone(),
            aud: self.0.settings.tokens.audience.clone(),
            sub: membership.user_id.to_string(),
            pid: membership.practice_id.to_string(),
            stf: membership.staff_id.to_string(),
            sid: refresh_token.session.to_string(),
            role: membership.role.as_str().to_owned(),
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
            user_id: membership.user_id,
            practice_id: membership.practice_id,
            role: membership.role,
        })
    }
}

/// The error for a link that was already used, in the words of its purpose.
fn used(link: &ActionLink) -> Error {
    if link.purpose == LinkPurpose::Invitation {
        Error::InvitationUsed
    } else {
        Error::LinkUsed
    }
}

/// Whether a link can still be used at `now`.
fn usable(link: &ActionLink, now: DateTime<Utc>) -> Result<(), Error> {
    let invitation = link.purpose == LinkPurpose::Invitation;
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
