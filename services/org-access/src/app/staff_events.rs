//! What staff-directory's events do here, besides keeping the roster: removal revokes the
//! member's memberships (kept as history, audited in the name of the person who removed them);
//! deactivation changes nothing here, since the roster alone denies access, so reactivation
//! restores exactly the memberships there were. Location events keep the locations projection.
//! An offboarding request hands the leaver's work over ([`super::offboarding`]).

use ps_core::{PracticeId, StaffId};
use ps_db::Tx;
use ps_events::{Event, Payload};
use tracing::info;

use super::{AuditEntry, OrgAccess};
use crate::domain::MembershipStatus;
use crate::error::Error;
use crate::store;

impl OrgAccess {
    /// Applies one event in `tx`, the consumer's transaction (which has already recorded the
    /// event id and applied it to the roster).
    pub async fn react(&self, tx: &Tx, event: &Event) -> Result<(), Error> {
        let Some(practice) = event.practice_id else {
            return Ok(());
        };
        match &event.payload {
            Payload::StaffRemoved(p) => self.revoke_all(tx, practice, event, p.staff_id).await,
            Payload::StaffOffboardingRequested(p) => self.hand_over(tx, practice, event, p).await,
            Payload::LocationChanged(p) => {
                store::locations::record(
                    tx,
                    practice,
                    p.location_id,
                    &p.name,
                    p.archived,
                    event.occurred_at,
                )
                .await
            }
            _ => Ok(()),
        }
    }

    /// Revokes every current membership of a removed member, in one statement.
    async fn revoke_all(
        &self,
        tx: &Tx,
        practice: PracticeId,
        event: &Event,
        staff: StaffId,
    ) -> Result<(), Error> {
        let revoked =
            store::memberships::revoke_current_of(tx, practice, staff, event.occurred_at).await?;
        if revoked.is_empty() {
            return Ok(());
        }
        let entries = revoked
            .iter()
            .map(|(organisation, status)| AuditEntry {
                action: "membership.revoked",
                organisation: Some(*organisation),
                staff: Some(staff),
                request_id: Some(format!("event:{}", event.id)),
                before: serde_json::json!({ "status": status.as_str() }),
                after: serde_json::json!({ "status": MembershipStatus::Revoked.as_str(), "cause": "staff.removed" }),
            })
            .collect();
        // The person who removed the member is the actor, not "the system".
        self.audit(tx, practice, &event.actor, entries).await?;
        info!(%practice, %staff, revoked = revoked.len(), "memberships revoked on removal");
        Ok(())
    }
}
