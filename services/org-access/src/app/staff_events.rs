//! What staff-directory's events do here, besides keeping the roster: removal revokes the
//! member's memberships (kept as history, audited in the name of the person who removed them);
//! deactivation changes nothing here, since the roster alone denies access, so reactivation
//! restores exactly the memberships there were. Location events keep the locations projection.
//! An offboarding request hands the leaver's work over ([`super::offboarding`]).

use ps_core::PracticeId;
use ps_db::tenancy::InPractice;
use ps_events::{Event, Payload};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use tracing::info;

use super::{AuditEntry, OrgAccess};
use crate::domain::MembershipStatus;
use crate::error::Error;
use crate::store::{locations, memberships};

impl OrgAccess {
    pub async fn react<C: ConnectionTrait>(&self, tx: &C, event: &Event) -> Result<(), Error> {
        let Some(practice) = event.practice_id else {
            return Ok(());
        };
        match &event.payload {
            Payload::StaffRemoved(p) => self.revoke_all(tx, practice, event, p.staff_id).await,
            Payload::StaffOffboardingRequested(p) => self.hand_over(tx, practice, event, p).await,
            Payload::LocationChanged(p) => {
                locations::Entity::insert(locations::ActiveModel {
                    id: Set(p.location_id.as_uuid()),
                    practice_id: Set(practice.as_uuid()),
                    name: Set(p.name.clone()),
                    archived: Set(p.archived),
                    changed_at: Set(event.occurred_at),
                })
                .on_conflict(
                    OnConflict::column(locations::Column::Id)
                        .update_columns([
                            locations::Column::Name,
                            locations::Column::Archived,
                            locations::Column::ChangedAt,
                        ])
                        .action_and_where(
                            Expr::col((locations::Entity, locations::Column::ChangedAt))
                                .lte(event.occurred_at),
                        )
                        .to_owned(),
                )
                .exec_without_returning(tx)
                .await?;
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Revokes every current membership of a removed member, in one statement.
    async fn revoke_all<C: ConnectionTrait>(
        &self,
        tx: &C,
        practice: PracticeId,
        event: &Event,
        staff: ps_core::StaffId,
    ) -> Result<(), Error> {
        let current = memberships::Entity::find()
            .in_practice(practice)
            .filter(memberships::Column::StaffId.eq(staff.as_uuid()))
            .filter(memberships::Column::Status.is_in(MembershipStatus::CURRENT))
            .all(tx)
            .await?;
        if current.is_empty() {
            return Ok(());
        }
        memberships::Entity::update_many()
            .col_expr(
                memberships::Column::Status,
                Expr::value(MembershipStatus::Revoked.as_str()),
            )
            .col_expr(
                memberships::Column::StatusChangedAt,
                Expr::value(event.occurred_at),
            )
            .filter(memberships::Column::Id.is_in(current.iter().map(|m| m.id)))
            .exec(tx)
            .await?;
        let entries = current
            .iter()
            .map(|m| AuditEntry {
                action: "membership.revoked",
                organisation: Some(m.organisation_id),
                staff: Some(staff),
                request_id: Some(format!("event:{}", event.id)),
                before: serde_json::json!({ "status": m.status }),
                after: serde_json::json!({ "status": MembershipStatus::Revoked.as_str(), "cause": "staff.removed" }),
            })
            .collect();
        // The person who removed the member is the actor, not "the system".
        self.audit(tx, practice, &event.actor, entries).await?;
        info!(%practice, %staff, revoked = current.len(), "memberships revoked on removal");
        Ok(())
    }
}
