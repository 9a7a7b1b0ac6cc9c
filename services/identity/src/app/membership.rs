//! Keeping memberships, sessions and pending links in step with staff-directory's lifecycle
//! events.

use ps_core::{PracticeId, StaffId, UserId};
use ps_db::tenancy::InPractice;
use ps_events::{Event, Payload};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use tracing::info;

use super::{Identity, Sessions};
use crate::domain::purpose;
use crate::error::Error;
use crate::store::{action_links, memberships};

impl Identity {
    /// Applies a staff lifecycle event in `tx` (the consumer's transaction).
    ///
    /// Sessions are per practice: a member removed, deactivated or offboarded in a practice loses every
    /// session in it at once (their access tokens are refused by the services' own checks),
    /// while sessions in other practices they are active in go on.
    pub async fn apply_staff_event<C: ConnectionTrait>(
        &self,
        tx: &C,
        event: &Event,
    ) -> Result<(), Error> {
        let Some(practice) = event.practice_id else {
            return Ok(());
        };
        match &event.payload {
            Payload::StaffRoleChanged(p) => {
                self.set_membership(
                    tx,
                    practice,
                    p.staff_id,
                    &[(memberships::Column::Role, Expr::value(p.to.as_str()))],
                )
                .await?;
                // An invitation not yet accepted grants the new role.
                action_links::Entity::update_many()
                    .col_expr(action_links::Column::Role, Expr::value(p.to.as_str()))
                    .filter(action_links::Column::Purpose.eq(purpose::INVITATION))
                    .filter(action_links::Column::PracticeId.eq(practice.as_uuid()))
                    .filter(action_links::Column::StaffId.eq(p.staff_id.as_uuid()))
                    .filter(action_links::Column::UsedAt.is_null())
                    .exec(tx)
                    .await?;
            }
            Payload::StaffRemoved(p) => {
                self.end_membership(tx, event, practice, p.staff_id, p.user_id, "removed")
                    .await?;
            }
            Payload::StaffDeactivated(p) => {
                let reason = "deactivated";
                self.end_membership(tx, event, practice, p.staff_id, p.user_id, reason)
                    .await?;
            }
            Payload::OffboardingCompleted(p) => {
                let (staff, user) = (p.leaver.staff_id, p.leaver.user_id);
                self.end_membership(tx, event, practice, staff, user, "offboarded")
                    .await?;
            }
            Payload::StaffReactivated(p) => {
                self.set_membership(
                    tx,
                    practice,
                    p.staff_id,
                    &[
                        (memberships::Column::Active, Expr::value(true)),
                        (memberships::Column::Role, Expr::value(p.role.as_str())),
                    ],
                )
                .await?;
            }
            _ => {}
        }
        Ok(())
    }

    /// The member can no longer act in the practice: membership off, unused invitation links
    /// void, their sessions in the practice ended.
    async fn end_membership<C: ConnectionTrait>(
        &self,
        tx: &C,
        event: &Event,
        practice: PracticeId,
        staff: StaffId,
        user: Option<UserId>,
        reason: &str,
    ) -> Result<(), Error> {
        self.set_membership(
            tx,
            practice,
            staff,
            &[(memberships::Column::Active, Expr::value(false))],
        )
        .await?;
        let voided = self
            .void_links(
                tx,
                purpose::INVITATION,
                None,
                Some((practice, staff)),
                self.now(),
            )
            .await?;
        let ended = match user {
            Some(user) => {
                let which = Sessions::InPractice(practice);
                self.end_sessions(tx, user.as_uuid(), which, &event.actor, reason)
                    .await?
            }
            None => 0,
        };
        info!(%practice, staff_id = %staff, voided, sessions_ended = ended, "membership ended");
        Ok(())
    }

    async fn set_membership<C: ConnectionTrait>(
        &self,
        tx: &C,
        practice: PracticeId,
        staff: StaffId,
        set: &[(memberships::Column, Expr)],
    ) -> Result<(), Error> {
        let mut update = memberships::Entity::update_many()
            .col_expr(memberships::Column::UpdatedAt, Expr::value(self.now()));
        for (column, value) in set {
            update = update.col_expr(*column, value.clone());
        }
        update
            .in_practice(practice)
            .filter(memberships::Column::StaffId.eq(staff.as_uuid()))
            .exec(tx)
            .await?;
        Ok(())
    }
}
