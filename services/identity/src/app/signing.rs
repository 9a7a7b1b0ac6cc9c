//! Signing in and out, refreshing, and moving between practices.

use chrono::{DateTime, Utc};
use ps_auth::UserCaller;
use ps_core::{Email, PracticeId, SessionId, StaffId, UserId};
use ps_db::tenancy::InPractice;
use ps_events::Actor;
use sea_orm::TransactionTrait;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use tracing::{info, warn};

use super::{Identity, Sessions, span, stored_role};
use crate::domain::{MyPractice, Password, RefreshToken, SignedIn};
use crate::error::Error;
use crate::store::{memberships, sessions, users};

impl Identity {
    fn locked(user: &users::Model, now: DateTime<Utc>) -> bool {
        user.locked_until.is_some_and(|until| until > now)
    }

    /// Counts a failed sign-in and locks the account once the threshold is reached.
    async fn failed_sign_in(&self, user: &users::Model, now: DateTime<Utc>) -> Result<(), Error> {
        let threshold = i32::try_from(self.0.settings.lockout_threshold).unwrap_or(i32::MAX);
        // One statement, so concurrent failures all count.
        users::Entity::update_many()
            .col_expr(
                users::Column::FailedSignIns,
                Expr::col(users::Column::FailedSignIns).add(1),
            )
            .filter(users::Column::Id.eq(user.id))
            .exec(&self.0.db)
            .await?;
        let locked = users::Entity::update_many()
            .col_expr(
                users::Column::LockedUntil,
                Expr::value(now + span(self.0.settings.lockout_duration)),
            )
            .col_expr(users::Column::FailedSignIns, Expr::value(0))
            .filter(users::Column::Id.eq(user.id))
            .filter(users::Column::FailedSignIns.gte(threshold))
            .exec(&self.0.db)
            .await?
            .rows_affected;
        if locked == 1 {
            warn!(user_id = %user.id, "account locked after repeated failed sign-ins");
        }
        Ok(())
    }

    pub async fn sign_in(
        &self,
        email: &Email,
        password: Password,
        practice: Option<PracticeId>,
    ) -> Result<SignedIn, Error> {
        // Refused before any database work when hashing is saturated (a sign-in storm).
        let admission = self.0.hasher.admit()?;
        let now = self.now();
        let user = users::Entity::find()
            .filter(users::Column::Email.eq(email.as_str()))
            .one(&self.0.db)
            .await?;
        // Unknown, password-less and locked accounts still cost one hash, and all answer alike.
        let (user, stored) = match user {
            Some(user) if !Self::locked(&user, now) => match user.password_hash.clone() {
                Some(hash) => (Some(user), hash),
                None => (None, self.0.dummy_hash.clone()),
            },
            _ => (None, self.0.dummy_hash.clone()),
        };
        let matches = self
            .0
            .hasher
            .verify_admitted(Some(admission), password.into_inner(), stored)
            .await?;
        let Some(user) = user else {
            return Err(Error::BadCredentials);
        };
        if !matches {
            self.failed_sign_in(&user, now).await?;
            return Err(Error::BadCredentials);
        }
        if user.failed_sign_ins != 0 || user.locked_until.is_some() {
            users::Entity::update_many()
                .col_expr(users::Column::FailedSignIns, Expr::value(0))
                .col_expr(
                    users::Column::LockedUntil,
                    Expr::value(None::<DateTime<Utc>>),
                )
                .filter(users::Column::Id.eq(user.id))
                .exec(&self.0.db)
                .await?;
        }
        let mut query = memberships::Entity::find()
            .filter(memberships::Column::UserId.eq(user.id))
            .filter(memberships::Column::Active.eq(true));
        if let Some(practice) = practice {
            query = query.in_practice(practice);
        }
        let mut found = query
            .order_by_asc(memberships::Column::PracticeName)
            .all(&self.0.db)
            .await?;
        let membership = match found.len() {
            0 => return Err(Error::NoActivePractice),
            1 => found.remove(0),
            _ => {
                let choices = found
                    .into_iter()
                    .map(|m| my_practice(m, None))
                    .collect::<Result<_, _>>()?;
                return Err(Error::PracticeRequired(choices));
            }
        };
        self.open_session(&membership).await
    }

    /// Exchanges a refresh token for new tokens; the presented token stops working. A token
    /// that belongs to a session but is not its current one is a replay of an older token
    /// (stolen, or raced): the session is revoked.
    pub async fn refresh(&self, token: &RefreshToken) -> Result<SignedIn, Error> {
        let now = self.now();
        let session = sessions::Entity::find_by_id(token.session.as_uuid())
            .one(&self.0.db)
            .await?
            .ok_or(Error::SessionEnded)?;
        if session.revoked_at.is_some() || session.expires_at <= now {
            return Err(Error::SessionEnded);
        }
        if !token.matches(&session.refresh_hash) {
            self.end_replayed_session(&session).await?;
            warn!(session_id = %session.id, user_id = %session.user_id, "an old refresh token was reused; session revoked");
            return Err(Error::SessionEnded);
        }
        let membership = memberships::Entity::find_by_id((session.user_id, session.practice_id))
            .one(&self.0.db)
            .await?
            .filter(|m| m.active)
            .ok_or(Error::SessionEnded)?;
        let next = RefreshToken::new(token.session);
        let rotated = sessions::Entity::update_many()
            .col_expr(
                sessions::Column::RefreshHash,
                Expr::value(next.secret.hash()),
            )
            .col_expr(sessions::Column::RefreshedAt, Expr::value(now))
            .filter(sessions::Column::Id.eq(session.id))
            .filter(sessions::Column::RefreshHash.eq(token.secret.hash()))
            .filter(sessions::Column::RevokedAt.is_null())
            .exec(&self.0.db)
            .await?
            .rows_affected;
        if rotated != 1 {
            // A concurrent refresh with the same token won: this one is the replay.
            self.end_replayed_session(&session).await?;
            return Err(Error::SessionEnded);
        }
        self.signed_in(&membership, next, session.expires_at, now)
    }

    /// A refresh token was replayed: the session ends, its access tokens with it.
    async fn end_replayed_session(&self, session: &sessions::Model) -> Result<(), Error> {
        let user = self.user(session.user_id).await?;
        let tx = self.0.db.begin().await?;
        self.end_sessions(
            &tx,
            session.user_id,
            Sessions::One(SessionId(session.id)),
            &Actor::user(UserId(user.id), user.name),
            "a refresh token was replayed",
        )
        .await?;
        tx.commit().await?;
        self.wake();
        Ok(())
    }

    pub async fn sign_out(&self, caller: &UserCaller) -> Result<(), Error> {
        let user = self.user(caller.user_id.as_uuid()).await?;
        let tx = self.0.db.begin().await?;
        self.end_sessions(
            &tx,
            caller.user_id.as_uuid(),
            Sessions::One(caller.session_id),
            &Actor::user(caller.user_id, user.name),
            "signed out",
        )
        .await?;
        tx.commit().await?;
        self.wake();
        info!(user_id = %caller.user_id, session_id = %caller.session_id, "signed out");
        Ok(())
    }

    pub async fn list_my_practices(&self, caller: &UserCaller) -> Result<Vec<MyPractice>, Error> {
        memberships::Entity::find()
            .filter(memberships::Column::UserId.eq(caller.user_id.as_uuid()))
            .filter(memberships::Column::Active.eq(true))
            .order_by_asc(memberships::Column::PracticeName)
            .all(&self.0.db)
            .await?
            .into_iter()
            .map(|m| my_practice(m, Some(caller.practice_id)))
            .collect()
    }

    /// New tokens for another practice the caller is active in; the role is the one they hold
    /// there.
    pub async fn switch_practice(
        &self,
        caller: &UserCaller,
        practice: PracticeId,
    ) -> Result<SignedIn, Error> {
        let membership =
            memberships::Entity::find_by_id((caller.user_id.as_uuid(), practice.as_uuid()))
                .one(&self.0.db)
                .await?
                .filter(|m| m.active)
                .ok_or(Error::NoActivePractice)?;
        self.open_session(&membership).await
    }
}

/// A membership as one of the person's practices; `current` when it is `current_practice`.
fn my_practice(
    m: memberships::Model,
    current_practice: Option<PracticeId>,
) -> Result<MyPractice, Error> {
    Ok(MyPractice {
        practice_id: PracticeId(m.practice_id),
        current: current_practice.is_some_and(|p| p.as_uuid() == m.practice_id),
        role: stored_role(&m.role)?,
        practice_name: m.practice_name,
        staff_id: StaffId(m.staff_id),
    })
}
