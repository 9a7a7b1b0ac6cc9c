//! Keeping memberships, sessions and pending links in step with staff-directory's lifecycle
//! events.

use ps_core::{PracticeId, StaffId, UserId};
use ps_db::Tx;
use ps_events::{Event, Payload};
use tracing::info;

use super::Identity;
use crate::domain::{LinkPurpose, SessionsToEnd};
use crate::error::Error;
use crate::store;

impl Identity {
    /// Applies a staff lifecycle event in `tx` (the consumer's transaction).
    ///
    /// Sessions are per practice: a member removed, deactivated or offboarded in a practice loses every
    /// session in it at once (their access tokens are refused by the services' own checks),
    /// while sessions in other practices they are active in go on.
    pub async fn apply_staff_event(&self, tx: &Tx, event: &Event) -> Result<(), Error> {
        let Some(practice) = event.practice_id else {
            return Ok(());
        };
        let now = self.now();
        match &event.payload {
            Payload::StaffRoleChanged(p) => {
                store::memberships::set_role(tx, practice, p.staff_id, p.to, now).await?;
                // An invitation not yet accepted grants the new role.
                store::links::grant_role(tx, practice, p.staff_id, p.to).await?;
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
                store::memberships::reactivate(tx, practice, p.staff_id, p.role, now).await?;
            }
            _ => {}
        }
        Ok(())
    }

    /// The member can no longer act in the practice: membership off, unused invitation links
    /// void, their sessions in the practice ended.
    async fn end_membership(
        &self,
        tx: &Tx,
        event: &Event,
        practice: PracticeId,
        staff: StaffId,
        user: Option<UserId>,
        reason: &str,
    ) -> Result<(), Error> {
        let now = self.now();
        store::memberships::deactivate(tx, practice, staff, now).await?;
        let member = Some((practice, staff));
        let voided =
            store::links::void_pending(tx, LinkPurpose::Invitation, None, member, now).await?;
        let ended = match user {
            Some(user) => {
                let which = SessionsToEnd::InPractice(practice);
                self.end_sessions(tx, user, which, &event.actor, reason)
                    .await?
            }
            None => 0,
        };
        info!(%practice, staff_id = %staff, voided, sessions_ended = ended, "membership ended");
        Ok(())
    }
}
