//! Invitations: what they offer, answering them, and issuing their links.

use chrono::{DateTime, Utc};
use ps_core::{Email, Invalid, PracticeId, StaffId, UserId};
use ps_events::event::{InvitationAccepted, InvitationDeclined};
use ps_events::{Actor, Event, Payload, outbox};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set, TransactionTrait,
};
use tracing::info;
use uuid::Uuid;

use super::{Identity, span, stored_role, usable};
use crate::domain::{
    Accepted, InvitationView, IssueInvitation, IssuedLink, Password, SecretToken, outcome, purpose,
};
use crate::error::Error;
use crate::store::{action_links, memberships, users};

/// The practice and member an invitation link is for (always set on invitation links).
fn invited_into(link: &action_links::Model) -> Result<(PracticeId, StaffId), Error> {
    match (link.practice_id, link.staff_id) {
        (Some(practice), Some(staff)) => Ok((PracticeId(practice), StaffId(staff))),
        _ => Err(Error::Internal(format!(
            "invitation link {} without practice",
            link.id
        ))),
    }
}

impl Identity {
    pub async fn get_invitation(&self, token: &SecretToken) -> Result<InvitationView, Error> {
        let link = self.link_by_token(token, purpose::INVITATION).await?;
        usable(&link, self.now())?;
        let (practice_id, _) = invited_into(&link)?;
        let user = self.user(link.user_id).await?;
        Ok(InvitationView {
            practice_id,
            practice_name: link.practice_name,
            inviter_name: link.inviter_name,
            email: Email::from_trusted(user.email),
            invitee_name: link.invitee_name,
            role: stored_role(&link.role)?,
            expires_at: link.expires_at,
            existing_account: user.password_hash.is_some(),
        })
    }

    pub async fn accept_invitation(
        &self,
        token: &SecretToken,
        password: Password,
    ) -> Result<Accepted, Error> {
        let link = self.link_by_token(token, purpose::INVITATION).await?;
        usable(&link, self.now())?;
        let (practice_id, staff_id) = invited_into(&link)?;
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
                    let current = self.link_by_token(token, purpose::INVITATION).await?;
                    usable(&current, self.now())?;
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

        let now = self.now();
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
            practice_id: Set(practice_id.as_uuid()),
            staff_id: Set(staff_id.as_uuid()),
            practice_name: Set(link.practice_name.clone()),
            role: Set(link.role.clone()),
            active: Set(true),
            updated_at: Set(now),
        })
        .on_conflict(
            OnConflict::columns([memberships::Column::UserId, memberships::Column::PracticeId])
                .update_columns([
                    memberships::Column::StaffId,
                    memberships::Column::PracticeName,
                    memberships::Column::Role,
                    memberships::Column::Active,
                    memberships::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(&tx)
        .await?;
        let user_id = UserId(user.id);
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
        let link = self.link_by_token(token, purpose::INVITATION).await?;
        let (practice_id, staff_id) = invited_into(&link)?;
        let user = self.user(link.user_id).await?;
        let now = self.now();
        let tx = self.0.db.begin().await?;
        self.consume_link(&tx, &link, outcome::DECLINED, now)
            .await?;
        let user_id = UserId(user.id);
        outbox::enqueue(
            &tx,
            &Event::new(
                practice_id,
                Actor::invitee(user_id, user.name.clone()),
                now,
                Payload::InvitationDeclined(InvitationDeclined {
                    staff_id,
                    user_id,
                    email: Email::from_trusted(user.email),
                }),
            ),
        )
        .await?;
        tx.commit().await?;
        self.0.waker.wake();
        info!(%user_id, %practice_id, "invitation declined");
        Ok(())
    }

    /// Voids `purpose` links of the user (for one member of a practice, or all) not yet used.
    pub(super) async fn void_links<C: ConnectionTrait>(
        &self,
        conn: &C,
        kind: &str,
        user: Option<Uuid>,
        member: Option<(PracticeId, StaffId)>,
        now: DateTime<Utc>,
    ) -> Result<u64, Error> {
        let mut update = action_links::Entity::update_many()
            .col_expr(action_links::Column::VoidedAt, Expr::value(now))
            .filter(action_links::Column::Purpose.eq(kind))
            .filter(action_links::Column::UsedAt.is_null())
            .filter(action_links::Column::VoidedAt.is_null());
        if let Some(user) = user {
            update = update.filter(action_links::Column::UserId.eq(user));
        }
        if let Some((practice, staff)) = member {
            update = update
                .filter(action_links::Column::PracticeId.eq(practice.as_uuid()))
                .filter(action_links::Column::StaffId.eq(staff.as_uuid()));
        }
        Ok(update.exec(conn).await?.rows_affected)
    }

    /// Voids one link that was issued but not delivered; `false` when it was already used or
    /// void.
    pub async fn void_link(&self, id: Uuid) -> Result<bool, Error> {
        let voided = action_links::Entity::update_many()
            .col_expr(action_links::Column::VoidedAt, Expr::value(self.now()))
            .filter(action_links::Column::Id.eq(id))
            .filter(action_links::Column::UsedAt.is_null())
            .filter(action_links::Column::VoidedAt.is_null())
            .exec(&self.0.db)
            .await?
            .rows_affected;
        info!(link_id = %id, voided = voided == 1, "undelivered link voided");
        Ok(voided == 1)
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
        let tx = self.0.db.begin().await?;
        users::Entity::insert(users::ActiveModel {
            id: Set(Uuid::now_v7()),
            email: Set(request.email.to_string()),
            name: Set(request.invitee_name.to_string()),
            password_hash: Set(None),
            failed_sign_ins: Set(0),
            locked_until: Set(None),
            reset_window_started_at: Set(None),
            resets_in_window: Set(0),
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
        let voided = self
            .void_links(
                &tx,
                purpose::INVITATION,
                Some(user.id),
                Some((request.practice_id, request.staff_id)),
                now,
            )
            .await?;
        let id = Uuid::now_v7();
        action_links::ActiveModel {
            id: Set(id),
            token_hash: Set(token.hash()),
            purpose: Set(purpose::INVITATION.to_owned()),
            user_id: Set(user.id),
            practice_id: Set(Some(request.practice_id.as_uuid())),
            staff_id: Set(Some(request.staff_id.as_uuid())),
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
            id,
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
}
