//! Identity's use cases. Every state change and its event are written in one transaction;
//! single-use checks are part of the `UPDATE` that consumes the link, never a read followed by
//! a write.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ps_auth::claims::ACCESS_TOKEN_TYPE;
use ps_auth::{AccessClaims, PublicJwk, SigningKey, TokenSettings};
use ps_core::{
    Email, FieldViolation, Invalid, PracticeId, PracticeRole, SessionId, SharedClock, StaffId,
    UserId,
};
use ps_events::event::{InvitationAccepted, InvitationDeclined};
use ps_events::{Actor, Event, OutboxWaker, Payload, outbox};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, Set, TransactionTrait,
};
use tracing::info;
use uuid::Uuid;

use crate::domain::{
    Accepted, InvitationView, IssueInvitation, IssuedLink, Password, SecretToken, SignedIn,
    outcome, purpose,
};
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
    pub tokens: TokenSettings,
}

fn span(d: Duration) -> chrono::Duration {
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
    /// Verified against when the e-mail is unknown, so both paths cost one hash.
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

    async fn link_by_token(&self, token: &SecretToken) -> Result<action_links::Model, Error> {
        action_links::Entity::find()
            .filter(action_links::Column::TokenHash.eq(token.hash()))
            .filter(action_links::Column::Purpose.eq(purpose::INVITATION))
            .one(&self.0.db)
            .await?
            .ok_or(Error::InvitationNotFound)
    }

    async fn user(&self, id: Uuid) -> Result<users::Model, Error> {
        users::Entity::find_by_id(id)
            .one(&self.0.db)
            .await?
            .ok_or_else(|| Error::Internal(format!("link refers to missing user {id}")))
    }

    pub async fn get_invitation(&self, token: &SecretToken) -> Result<InvitationView, Error> {
        let link = self.link_by_token(token).await?;
        usable(&link, self.0.clock.now())?;
        let user = self.user(link.user_id).await?;
        Ok(InvitationView {
            practice_id: PracticeId(link.practice_id),
            practice_name: link.practice_name,
            inviter_name: link.inviter_name,
            email: Email::from_trusted(user.email),
            invitee_name: link.invitee_name,
            role: stored_role(&link.role)?,
            expires_at: link.expires_at,
            existing_account: user.password_hash.is_some(),
        })
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
        Err(Error::InvitationUsed)
    }

    pub async fn accept_invitation(
        &self,
        token: &SecretToken,
        password: Password,
    ) -> Result<Accepted, Error> {
        let link = self.link_by_token(token).await?;
        usable(&link, self.0.clock.now())?;
        let user = self.user(link.user_id).await?;
        let new_hash = match &user.password_hash {
            Some(existing) => {
                if !self
                    .0
                    .hasher
                    .verify(password.into_inner(), existing.clone())
                    .await?
                {
                    // The password may be one a concurrent accept of this very link just set:
                    // then the answer is that the link is used, not that the password is wrong.
                    let current = self.link_by_token(token).await?;
                    usable(&current, self.0.clock.now())?;
                    return Err(Error::ExistingPasswordMismatch);
                }
                None
            }
            None => {
                let password = Password::new_password("password", &password.into_inner())
                    .map_err(Invalid::from)?;
                Some(self.0.hasher.hash(password.into_inner()).await?)
            }
        };

        let now = self.0.clock.now();
        let tx = self.0.db.begin().await?;
        self.consume_link(&tx, &link, outcome::ACCEPTED, now)
            .await?;
        if let Some(hash) = new_hash {
            let set = users::Entity::update_many()
                .col_expr(users::Column::PasswordHash, Expr::value(hash))
                .col_expr(users::Column::UpdatedAt, Expr::value(now))
                .filter(users::Column::Id.eq(user.id))
                .filter(users::Column::PasswordHash.is_null())
                .exec(&tx)
                .await?
                .rows_affected;
            if set != 1 {
                // Another invitation of the same person set a password a moment ago.
                return Err(Error::ExistingPasswordMismatch);
            }
        }
        memberships::Entity::insert(memberships::ActiveModel {
            user_id: Set(user.id),
            practice_id: Set(link.practice_id),
            staff_id: Set(link.staff_id),
            role: Set(link.role.clone()),
            active: Set(true),
            updated_at: Set(now),
        })
        .on_conflict(
            OnConflict::columns([memberships::Column::UserId, memberships::Column::PracticeId])
                .update_columns([
                    memberships::Column::StaffId,
                    memberships::Column::Role,
                    memberships::Column::Active,
                    memberships::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(&tx)
        .await?;
        let user_id = UserId(user.id);
        let practice_id = PracticeId(link.practice_id);
        let staff_id = StaffId(link.staff_id);
        outbox::enqueue(
            &tx,
            &Event::new(
                practice_id,
                Actor::invitee(user_id, user.name.clone()),
                now,
                Payload::InvitationAccepted(InvitationAccepted {
                    staff_id,
                    user_id,
                    email: Email::from_trusted(user.email.clone()),
                    role: stored_role(&link.role)?,
                }),
            ),
        )
        .await?;
        tx.commit().await?;
        self.0.waker.wake();
        info!(%user_id, %practice_id, %staff_id, "invitation accepted");
        Ok(Accepted {
            user_id,
            practice_id,
            staff_id,
        })
    }

    pub async fn decline_invitation(&self, token: &SecretToken) -> Result<(), Error> {
        let link = self.link_by_token(token).await?;
        let user = self.user(link.user_id).await?;
        let now = self.0.clock.now();
        let tx = self.0.db.begin().await?;
        self.consume_link(&tx, &link, outcome::DECLINED, now)
            .await?;
        let user_id = UserId(user.id);
        outbox::enqueue(
            &tx,
            &Event::new(
                PracticeId(link.practice_id),
                Actor::invitee(user_id, user.name.clone()),
                now,
                Payload::InvitationDeclined(InvitationDeclined {
                    staff_id: StaffId(link.staff_id),
                    user_id,
                    email: Email::from_trusted(user.email),
                }),
            ),
        )
        .await?;
        tx.commit().await?;
        self.0.waker.wake();
        info!(%user_id, practice_id = %link.practice_id, "invitation declined");
        Ok(())
    }

    /// Creates the user if new, voids their older invitation links to the same practice, and
    /// stores a new link. Returns the raw token once.
    pub async fn issue_invitation_link(
        &self,
        request: IssueInvitation,
    ) -> Result<IssuedLink, Error> {
        let now = self.0.clock.now();
        let token = SecretToken::generate();
        let expires_at = now + span(self.0.settings.invitation_ttl);
        let tx = self.0.db.begin().await?;
        users::Entity::insert(users::ActiveModel {
            id: Set(Uuid::now_v7()),
            email: Set(request.email.to_string()),
            name: Set(request.invitee_name.to_string()),
            password_hash: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .on_conflict(
            OnConflict::column(users::Column::Email)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(&tx)
        .await?;
        let user = users::Entity::find()
            .filter(users::Column::Email.eq(request.email.as_str()))
            .one(&tx)
            .await?
            .ok_or_else(|| Error::Internal("user vanished after insert".into()))?;
        let voided = action_links::Entity::update_many()
            .col_expr(action_links::Column::VoidedAt, Expr::value(now))
            .filter(action_links::Column::UserId.eq(user.id))
            .filter(action_links::Column::PracticeId.eq(request.practice_id.as_uuid()))
            .filter(action_links::Column::Purpose.eq(purpose::INVITATION))
            .filter(action_links::Column::UsedAt.is_null())
            .filter(action_links::Column::VoidedAt.is_null())
            .exec(&tx)
            .await?
            .rows_affected;
        action_links::ActiveModel {
            id: Set(Uuid::now_v7()),
            token_hash: Set(token.hash()),
            purpose: Set(purpose::INVITATION.to_owned()),
            user_id: Set(user.id),
            practice_id: Set(request.practice_id.as_uuid()),
            staff_id: Set(request.staff_id.as_uuid()),
            practice_name: Set(request.practice_name),
            inviter_name: Set(request.inviter_name),
            invitee_name: Set(request.invitee_name.to_string()),
            role: Set(request.role.as_str().to_owned()),
            created_at: Set(now),
            expires_at: Set(expires_at),
            used_at: Set(None),
            voided_at: Set(None),
            outcome: Set(None),
        }
        .insert(&tx)
        .await?;
        tx.commit().await?;
        info!(user_id = %user.id, practice_id = %request.practice_id, voided, "invitation link issued");
        Ok(IssuedLink {
            url: self
                .0
                .settings
                .invitation_url
                .replace("{token}", token.as_str()),
            token,
            expires_at,
            user_id: UserId(user.id),
        })
    }

    pub async fn sign_in(
        &self,
        email: &Email,
        password: Password,
        practice: Option<PracticeId>,
    ) -> Result<SignedIn, Error> {
        let user = users::Entity::find()
            .filter(users::Column::Email.eq(email.as_str()))
            .one(&self.0.db)
            .await?;
        let (user, stored) = match user {
            Some(user) => match user.password_hash.clone() {
                Some(hash) => (Some(user), hash),
                None => (None, self.0.dummy_hash.clone()),
            },
            None => (None, self.0.dummy_hash.clone()),
        };
        let matches = self.0.hasher.verify(password.into_inner(), stored).await?;
        let user = match user {
            Some(user) if matches => user,
            _ => return Err(Error::BadCredentials),
        };
        let mut query = memberships::Entity::find()
            .filter(memberships::Column::UserId.eq(user.id))
            .filter(memberships::Column::Active.eq(true));
        if let Some(practice) = practice {
            query = query.filter(memberships::Column::PracticeId.eq(practice.as_uuid()));
        }
        let mut found = query.all(&self.0.db).await?;
        let membership = match found.len() {
            0 => return Err(Error::NoActivePractice),
            1 => found.remove(0),
            _ => {
                return Err(Invalid::from(FieldViolation::new(
                    "practice_id",
                    "is required: this account is active in several practices",
                ))
                .into());
            }
        };
        let now = self.0.clock.now();
        let refresh_token = SecretToken::generate();
        let session_id = SessionId::generate();
        let refresh_expires_at = now + span(self.0.settings.refresh_token_ttl);
        sessions::ActiveModel {
            id: Set(session_id.as_uuid()),
            user_id: Set(user.id),
            practice_id: Set(membership.practice_id),
            refresh_hash: Set(refresh_token.hash()),
            created_at: Set(now),
            expires_at: Set(refresh_expires_at),
            refreshed_at: Set(None),
            revoked_at: Set(None),
        }
        .insert(&self.0.db)
        .await?;
        self.signed_in(
            &membership,
            session_id,
            refresh_token,
            refresh_expires_at,
            now,
        )
    }

    fn signed_in(
        &self,
        membership: &memberships::Model,
        session_id: SessionId,
        refresh_token: SecretToken,
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
            sid: session_id.to_string(),
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

    /// Exchanges a refresh token for a new access token and a new refresh token; the old
    /// refresh token stops working.
    pub async fn refresh(&self, token: &SecretToken) -> Result<SignedIn, Error> {
        let now = self.0.clock.now();
        let session = sessions::Entity::find()
            .filter(sessions::Column::RefreshHash.eq(token.hash()))
            .one(&self.0.db)
            .await?
            .ok_or(Error::SessionEnded)?;
        if session.revoked_at.is_some() || session.expires_at <= now {
            return Err(Error::SessionEnded);
        }
        let membership = memberships::Entity::find_by_id((session.user_id, session.practice_id))
            .one(&self.0.db)
            .await?
            .filter(|m| m.active)
            .ok_or(Error::SessionEnded)?;
        let next = SecretToken::generate();
        let rotated = sessions::Entity::update_many()
            .col_expr(sessions::Column::RefreshHash, Expr::value(next.hash()))
            .col_expr(sessions::Column::RefreshedAt, Expr::value(now))
            .filter(sessions::Column::Id.eq(session.id))
            .filter(sessions::Column::RefreshHash.eq(token.hash()))
            .filter(sessions::Column::RevokedAt.is_null())
            .exec(&self.0.db)
            .await?
            .rows_affected;
        if rotated != 1 {
            return Err(Error::SessionEnded);
        }
        self.signed_in(
            &membership,
            SessionId(session.id),
            next,
            session.expires_at,
            now,
        )
    }

    pub async fn sign_out(&self, user: UserId, session: SessionId) -> Result<(), Error> {
        sessions::Entity::update_many()
            .col_expr(sessions::Column::RevokedAt, Expr::value(self.0.clock.now()))
            .filter(sessions::Column::Id.eq(session.as_uuid()))
            .filter(sessions::Column::UserId.eq(user.as_uuid()))
            .filter(sessions::Column::RevokedAt.is_null())
            .exec(&self.0.db)
            .await?;
        Ok(())
    }
}

/// Whether a link can still be answered at `now`.
fn usable(link: &action_links::Model, now: DateTime<Utc>) -> Result<(), Error> {
    if link.used_at.is_some() {
        Err(Error::InvitationUsed)
    } else if link.voided_at.is_some() {
        Err(Error::InvitationReplaced)
    } else if link.expires_at <= now {
        Err(Error::InvitationExpired)
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
