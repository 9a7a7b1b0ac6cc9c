//! Invitations: what they offer, answering them, and issuing their links.

use ps_core::{Invalid, PracticeId, PracticeRole, StaffId};
use ps_events::event::{InvitationAccepted, InvitationDeclined};
use ps_events::{Actor, Event, Payload, outbox};
use tracing::info;
use uuid::Uuid;

use super::{Identity, span, usable};
use crate::domain::{
    AcceptInvitation, Accepted, ActionLink, InvitationView, IssueInvitation, IssuedLink,
    LinkOutcome, LinkPurpose, Membership, Password, SecretToken, User,
};
use crate::error::Error;
use crate::store;

/// The practice, member and role an invitation link is for (always set on invitation links).
fn invited_into(link: &ActionLink) -> Result<(PracticeId, StaffId, PracticeRole), Error> {
    match (link.practice_id, link.staff_id, link.role) {
        (Some(practice), Some(staff), Some(role)) => Ok((practice, staff, role)),
        _ => Err(Error::Internal(format!(
            "invitation link {} without practice",
            link.id
        ))),
    }
}

impl Identity {
    pub async fn get_invitation(&self, token: &SecretToken) -> Result<InvitationView, Error> {
        let link = self.link_by_token(token, LinkPurpose::Invitation).await?;
        usable(&link, self.now())?;
        let (practice_id, _, role) = invited_into(&link)?;
        let user = self.user(link.user_id).await?;
        Ok(InvitationView {
            practice_id,
            practice_name: link.practice_name,
            inviter_name: link.inviter_name,
            email: user.email,
            invitee_name: link.invitee_name,
            role,
            expires_at: link.expires_at,
            existing_account: user.password_hash.is_some(),
        })
    }

    /// The hash to store for the invitee's password: none when they already have one (the
    /// presented password must then be it), a new one's when they have none.
    async fn invitee_password(
        &self,
        token: &SecretToken,
        user: &User,
        password: Password,
    ) -> Result<Option<String>, Error> {
        let Some(existing) = &user.password_hash else {
            let password = Password::new_password("password", &password.into_inner())
                .map_err(Invalid::from)?;
            return Ok(Some(self.0.hasher.hash(password.into_inner()).await?));
        };
        if self
            .0
            .hasher
            .verify(password.into_inner(), existing.clone())
            .await?
        {
            return Ok(None);
        }
        // The password may be one a concurrent accept of this very link just set: then the
        // answer is that the link is used, not that the password is wrong.
        let current = self.link_by_token(token, LinkPurpose::Invitation).await?;
        usable(&current, self.now())?;
        Err(Error::ExistingPasswordMismatch)
    }

    pub async fn accept_invitation(&self, accept: AcceptInvitation) -> Result<Accepted, Error> {
        let link = self
            .link_by_token(&accept.token, LinkPurpose::Invitation)
            .await?;
        usable(&link, self.now())?;
        let (practice_id, staff_id, role) = invited_into(&link)?;
        let user = self.user(link.user_id).await?;
        let new_hash = self
            .invitee_password(&accept.token, &user, accept.password)
            .await?;

        let now = self.now();
        let tx = ps_db::begin(&self.0.db).await?;
        self.consume_link(&tx, &link, LinkOutcome::Accepted, now)
            .await?;
        if let Some(hash) = new_hash
            && !store::users::set_first_password(&tx, user.id, hash, now).await?
        {
            // Another invitation of the same person set a password a moment ago.
            return Err(Error::ExistingPasswordMismatch);
        }
        let membership = Membership {
            user_id: user.id,
            practice_id,
            staff_id,
            practice_name: link.practice_name,
            role,
            active: true,
        };
        store::memberships::accept(&tx, &membership, now).await?;
        let user_id = user.id;
        outbox::enqueue(
            &tx,
            &Event::new(
                practice_id,
                Actor::invitee(user_id, user.name),
                now,
                Payload::InvitationAccepted(InvitationAccepted {
                    staff_id,
                    user_id,
                    email: user.email,
                    role,
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
        let link = self.link_by_token(token, LinkPurpose::Invitation).await?;
        let (practice_id, staff_id, _) = invited_into(&link)?;
        let user = self.user(link.user_id).await?;
        let now = self.now();
        let tx = ps_db::begin(&self.0.db).await?;
        self.consume_link(&tx, &link, LinkOutcome::Declined, now)
            .await?;
        let user_id = user.id;
        outbox::enqueue(
            &tx,
            &Event::new(
                practice_id,
                Actor::invitee(user_id, user.name),
                now,
                Payload::InvitationDeclined(InvitationDeclined {
                    staff_id,
                    user_id,
                    email: user.email,
                }),
            ),
        )
        .await?;
        tx.commit().await?;
        self.0.waker.wake();
        info!(%user_id, %practice_id, "invitation declined");
        Ok(())
    }

    /// Voids one link that was issued but not delivered; `false` when it was already used or
    /// void.
    pub async fn void_link(&self, id: Uuid) -> Result<bool, Error> {
        let voided = store::links::void(&self.0.db, id, self.now()).await?;
        info!(link_id = %id, voided, "undelivered link voided");
        Ok(voided)
    }

    /// Creates the user if new, voids their older invitation links to the same membership, and
    /// stores a new link. Returns the raw token once.
    pub async fn issue_invitation_link(
        &self,
        request: IssueInvitation,
    ) -> Result<IssuedLink, Error> {
        let now = self.now();
        let token = SecretToken::generate();
        let expires_at = now + span(self.0.settings.invitation_ttl);
        let tx = ps_db::begin(&self.0.db).await?;
        let user =
            store::users::ensure_invited(&tx, &request.email, &request.invitee_name, now).await?;
        let member = (request.practice_id, request.staff_id);
        let voided = store::links::void_pending(
            &tx,
            LinkPurpose::Invitation,
            Some(user.id),
            Some(member),
            now,
        )
        .await?;
        let id = store::links::insert_invitation(&tx, &token, user.id, &request, now, expires_at)
            .await?;
        tx.commit().await?;
        info!(user_id = %user.id, practice_id = %request.practice_id, voided, "invitation link issued");
        Ok(IssuedLink {
            id,
            url: self
                .0
                .settings
                .invitation_url
                .replace("{token}", token.as_str()),
            token,
            expires_at,
            user_id: user.id,
        })
    }
}
