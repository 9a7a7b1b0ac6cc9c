//! Signing in and out, refreshing, and moving between practices.

use chrono::{DateTime, Utc};
use ps_auth::UserCaller;
use ps_core::PracticeId;
use ps_events::Actor;
use tracing::{info, warn};

use super::{Identity, span};
use crate::domain::{
    Membership, MyPractice, RefreshToken, Session, SessionsToEnd, SignIn, SignedIn, User,
};
use crate::error::Error;
use crate::store;

impl Identity {
    /// Counts a failed sign-in and locks the account once the threshold is reached.
    async fn failed_sign_in(&self, user: &User, now: DateTime<Utc>) -> Result<(), Error> {
        let until = now + span(self.0.settings.lockout_duration);
        let threshold = self.0.settings.lockout_threshold;
        if store::users::count_failed_sign_in(&self.0.db, user.id, threshold, until).await? {
            warn!(user_id = %user.id, "account locked after repeated failed sign-ins");
        }
        Ok(())
    }

    pub async fn sign_in(&self, sign_in: SignIn) -> Result<SignedIn, Error> {
        let SignIn {
            email,
            password,
            practice,
        } = sign_in;
        // Refused before any database work when hashing is saturated (a sign-in storm).
        let admission = self.0.hasher.admit()?;
        let now = self.now();
        let user = store::users::by_email(&self.0.db, &email).await?;
        // Unknown, password-less and locked accounts still cost one hash, and all answer alike.
        let (user, stored) = match user {
            Some(user) if !user.locked_at(now) => match user.password_hash.clone() {
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
            store::users::clear_failed_sign_ins(&self.0.db, user.id).await?;
        }
        let mut found = store::memberships::active_of_user(&self.0.db, user.id, practice).await?;
        let membership = match found.len() {
            0 => return Err(Error::NoActivePractice),
            1 => found.remove(0),
            _ => {
                let choices = found.into_iter().map(|m| my_practice(m, None)).collect();
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
        let session = store::sessions::get_in_any_practice(&self.0.db, token.session)
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
        let membership =
            store::memberships::active(&self.0.db, session.practice_id, session.user_id)
                .await?
                .ok_or(Error::SessionEnded)?;
        let next = RefreshToken::new(token.session);
        let presented = token.secret.hash();
        let rotated = store::sessions::rotate_refresh(
            &self.0.db,
            session.id,
            presented,
            next.secret.hash(),
            now,
        )
        .await?;
        if !rotated {
            // A concurrent refresh with the same token won: this one is the replay.
            self.end_replayed_session(&session).await?;
            return Err(Error::SessionEnded);
        }
        self.signed_in(&membership, next, session.expires_at, now)
    }

    /// A refresh token was replayed: the session ends, its access tokens with it.
    async fn end_replayed_session(&self, session: &Session) -> Result<(), Error> {
        let user = self.user(session.user_id).await?;
        let tx = ps_db::begin(&self.0.db).await?;
        self.end_sessions(
            &tx,
            session.user_id,
            SessionsToEnd::One(session.id),
            &Actor::user(user.id, user.name),
            "a refresh token was replayed",
        )
        .await?;
        tx.commit().await?;
        self.wake();
        Ok(())
    }

    pub async fn sign_out(&self, caller: &UserCaller) -> Result<(), Error> {
        let user = self.user(caller.user_id).await?;
        let tx = ps_db::begin(&self.0.db).await?;
        self.end_sessions(
            &tx,
            caller.user_id,
            SessionsToEnd::One(caller.session_id),
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
        Ok(
            store::memberships::active_of_user(&self.0.db, caller.user_id, None)
                .await?
                .into_iter()
                .map(|m| my_practice(m, Some(caller.practice_id)))
                .collect(),
        )
    }

    /// New tokens for another practice the caller is active in; the role is the one they hold
    /// there.
    pub async fn switch_practice(
        &self,
        caller: &UserCaller,
        practice: PracticeId,
    ) -> Result<SignedIn, Error> {
        let membership = store::memberships::active(&self.0.db, practice, caller.user_id)
            .await?
            .ok_or(Error::NoActivePractice)?;
        self.open_session(&membership).await
    }
}

/// A membership as one of the person's practices; `current` when it is `current_practice`.
fn my_practice(m: Membership, current_practice: Option<PracticeId>) -> MyPractice {
    MyPractice {
        practice_id: m.practice_id,
        current: current_practice == Some(m.practice_id),
        role: m.role,
        practice_name: m.practice_name,
        staff_id: m.staff_id,
    }
}
