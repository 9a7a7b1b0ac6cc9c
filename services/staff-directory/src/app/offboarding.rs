//! Offboarding: a manager hands a leaving member's work to a replacement. Staff-directory
//! checks the request and marks the leaver Offboarding in the transaction that publishes
//! StaffOffboardingRequested; org-access applies the handover and reports back, and the leaver
//! becomes Offboarded (or returns to their former status if it failed).

use ps_auth::UserCaller;
use ps_core::{
    Email, ExistingAccess, FieldViolation, OffboardingCounts, Page, PageRequest, PersonName,
    PracticeId, PracticeRole, StaffId, UserId,
};
use ps_db::tenancy::InPractice;
use ps_events::event::{
    OffboardingCompleted, OffboardingFailed, OffboardingParty, StaffOffboardingRequested,
    StatusBefore,
};
use ps_events::{Event, Payload};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait,
};
use tracing::info;
use uuid::Uuid;

use super::{Directory, stored_role, stored_status};
use crate::domain::{Offboarding, OffboardingStatus, StaffStatus};
use crate::error::Error;
use crate::store::{offboardings, staff_members};

const STAFF_MANAGERS: [PracticeRole; 3] = PracticeRole::STAFF_MANAGERS;

fn count(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

fn uncount(value: i32) -> u32 {
    u32::try_from(value).unwrap_or(0)
}

fn party(row: &staff_members::Model) -> OffboardingParty {
    OffboardingParty {
        staff_id: StaffId(row.id),
        user_id: row.user_id.map(UserId),
        name: PersonName::from_trusted(row.name.clone()),
        email: Email::from_trusted(row.email.clone()),
    }
}

fn offboarding(row: offboardings::Model) -> Result<Offboarding, Error> {
    Ok(Offboarding {
        id: row.id,
        leaver_id: StaffId(row.leaver_id),
        leaver_name: row.leaver_name,
        replacement_id: StaffId(row.replacement_id),
        replacement_name: row.replacement_name,
        existing_access: ExistingAccess::parse(&row.existing_access).ok_or_else(|| {
            Error::Internal(format!("stored existing access {}", row.existing_access))
        })?,
        status: OffboardingStatus::parse(&row.status)
            .ok_or_else(|| Error::Internal(format!("stored offboarding status {}", row.status)))?,
        requested_by_name: row.requested_by_name,
        requested_at: row.requested_at,
        finished_at: row.finished_at,
        failure_reason: row.failure_reason,
        counts: OffboardingCounts {
            organisations: uncount(row.organisations),
            memberships_revoked: uncount(row.memberships_revoked),
            memberships_granted: uncount(row.memberships_granted),
            memberships_changed: uncount(row.memberships_changed),
            invitations_withdrawn: uncount(row.invitations_withdrawn),
            steps_reassigned: uncount(row.steps_reassigned),
        },
    })
}

/// Why a member cannot be offboarded, if they cannot.
fn leaver_refusal(row: &staff_members::Model, status: StaffStatus) -> Option<String> {
    let name = &row.name;
    match status {
        StaffStatus::Pending | StaffStatus::Active | StaffStatus::Deactivated => None,
        StaffStatus::Offboarding => Some(format!("{name} is already being offboarded")),
        StaffStatus::Offboarded => Some(format!("{name} was already offboarded")),
        StaffStatus::Removed | StaffStatus::Declined => Some(format!(
            "{name} is {}: there is no work to hand over",
            row.status
        )),
    }
}

impl Directory {
    /// Checks the request, marks the leaver Offboarding and publishes
    /// StaffOffboardingRequested, all in one transaction; refusals publish nothing.
    /// A retry with the same request id answers with the offboarding the first request began.
    pub async fn offboard_staff(
        &self,
        caller: &UserCaller,
        leaver_id: StaffId,
        replacement_id: StaffId,
        existing_access: ExistingAccess,
        key: Option<ps_core::RequestKey>,
    ) -> Result<Offboarding, Error> {
        let key = key.as_ref();
        ps_db::idempotency::run_once(
            &self.0.db,
            caller.practice_id.as_uuid(),
            "OffboardStaff",
            key,
            ps_db::idempotency::reused(key, Error::FailedPrecondition),
            || self.offboard_staff_now(caller, leaver_id, replacement_id, existing_access, key),
            |id| self.get_offboarding(caller, id),
        )
        .await
    }

    async fn offboard_staff_now(
        &self,
        caller: &UserCaller,
        leaver_id: StaffId,
        replacement_id: StaffId,
        existing_access: ExistingAccess,
        key: Option<&ps_core::RequestKey>,
    ) -> Result<Offboarding, Error> {
        let acting = self.acting(caller).await?;
        acting.require(&STAFF_MANAGERS, "offboarding staff")?;
        if leaver_id == replacement_id {
            return Err(Error::Invalid(
                FieldViolation::new(
                    "replacement_id",
                    "must be someone other than the member leaving",
                )
                .into(),
            ));
        }
        let practice = caller.practice_id;
        let tx = self.0.db.begin().await?;
        self.lock_practice(&tx, practice).await?;
        let leaver = self.member_for_update(&tx, practice, leaver_id).await?;
        let replacement = staff_members::Entity::find_by_id(replacement_id.as_uuid())
            .in_practice(practice)
            .lock_exclusive()
            .one(&tx)
            .await?
            .ok_or(Error::NotFound("replacement"))?;
        let from = stored_status(&leaver.status)?;
        if let Some(refusal) = leaver_refusal(&leaver, from) {
            return Err(Error::FailedPrecondition(refusal));
        }
        acting.require_over(stored_role(&leaver.role)?, "offboarding")?;
        if replacement.status != StaffStatus::Active.as_str() {
            return Err(Error::FailedPrecondition(format!(
                "the replacement must be an Active member; {} is {}",
                replacement.name, replacement.status
            )));
        }
        self.keep_an_owner(&tx, &leaver).await?;
        // A member still receiving someone else's work cannot leave before that handover
        // ends: it would arrive after theirs and land on someone who is gone.
        let incoming = offboardings::Entity::find()
            .in_practice(practice)
            .filter(offboardings::Column::ReplacementId.eq(leaver_id.as_uuid()))
            .filter(offboardings::Column::Status.eq(OffboardingStatus::Requested.as_str()))
            .count(&tx)
            .await?;
        if incoming > 0 {
            return Err(Error::FailedPrecondition(format!(
                "{} is taking over another member's work right now; offboard them once that handover has finished",
                leaver.name
            )));
        }
        let status_before = match from {
            StaffStatus::Pending => StatusBefore::Pending,
            StaffStatus::Deactivated => StatusBefore::Deactivated,
            _ => StatusBefore::Active,
        };

        let now = self.now();
        let id = Uuid::now_v7();
        let row = offboardings::ActiveModel {
            id: Set(id),
            practice_id: Set(practice.as_uuid()),
            leaver_id: Set(leaver.id),
            leaver_name: Set(leaver.name.clone()),
            leaver_status_before: Set(from.as_str().to_owned()),
            replacement_id: Set(replacement.id),
            replacement_name: Set(replacement.name.clone()),
            existing_access: Set(existing_access.as_str().to_owned()),
            status: Set(OffboardingStatus::Requested.as_str().to_owned()),
            requested_by_id: Set(acting.actor.id.clone()),
            requested_by_name: Set(acting.actor.name.clone()),
            requested_at: Set(now),
            finished_at: Set(None),
            failure_reason: Set(None),
            organisations: Set(0),
            memberships_revoked: Set(0),
            memberships_granted: Set(0),
            memberships_changed: Set(0),
            invitations_withdrawn: Set(0),
            steps_reassigned: Set(0),
        }
        .insert(&tx)
        .await?;
        let leaver_party = party(&leaver);
        let mut marked = leaver.into_active_model();
        marked.status = Set(StaffStatus::Offboarding.as_str().to_owned());
        marked.status_changed_at = Set(now);
        marked.update(&tx).await?;
        self.publish(
            &tx,
            practice,
            &acting.actor,
            Payload::StaffOffboardingRequested(StaffOffboardingRequested {
                offboarding_id: id,
                leaver: leaver_party,
                leaver_status_before: status_before,
                replacement: party(&replacement),
                existing_access,
                requested_by_email: Email::from_trusted(acting.row.email.clone()),
            }),
        )
        .await?;
        self.audit(
            &tx,
            practice,
            &acting.actor,
            "staff.offboarding_requested",
            Some(leaver_id),
            None,
            serde_json::json!({ "status": from.as_str() }),
            serde_json::json!({
                "status": StaffStatus::Offboarding.as_str(),
                "offboarding_id": id,
                "replacement_id": replacement_id,
                "existing_access": existing_access.as_str(),
            }),
        )
        .await?;
        super::remember(&tx, practice.as_uuid(), "OffboardStaff", key, id).await?;
        tx.commit().await?;
        self.published();
        info!(%practice, offboarding_id = %id, leaver = %leaver_id, replacement = %replacement_id, "offboarding requested");
        offboarding(row)
    }

    pub async fn get_offboarding(
        &self,
        caller: &UserCaller,
        id: Uuid,
    ) -> Result<Offboarding, Error> {
        let acting = self.acting(caller).await?;
        acting.require(&STAFF_MANAGERS, "following offboardings")?;
        let row = offboardings::Entity::find_by_id(id)
            .in_practice(caller.practice_id)
            .one(&self.0.db)
            .await?
            .ok_or(Error::NotFound("offboarding"))?;
        offboarding(row)
    }

    /// Newest first; optionally only one member's.
    pub async fn list_offboardings(
        &self,
        caller: &UserCaller,
        leaver: Option<StaffId>,
        page: PageRequest,
    ) -> Result<Page<Offboarding>, Error> {
        let acting = self.acting(caller).await?;
        acting.require(&STAFF_MANAGERS, "following offboardings")?;
        let mut query = offboardings::Entity::find().in_practice(caller.practice_id);
        if let Some(leaver) = leaver {
            query = query.filter(offboardings::Column::LeaverId.eq(leaver.as_uuid()));
        }
        if let Some(after) = page.after {
            query = query.filter(offboardings::Column::Id.lt(after));
        }
        let rows = query
            .order_by_desc(offboardings::Column::Id)
            .limit(page.fetch_limit())
            .all(&self.0.db)
            .await?;
        let page = Page::from_rows(rows, &page, |row| row.id);
        let items = page
            .items
            .into_iter()
            .map(offboarding)
            .collect::<Result<_, _>>()?;
        Ok(Page {
            items,
            next_page_token: page.next_page_token,
        })
    }

    /// Records org-access's outcome in `tx` (the consumer's transaction): the offboarding's
    /// result, and the leaver Offboarded or back to their former status. Guarded by the
    /// offboarding still being Requested, so a replayed outcome changes nothing.
    pub async fn finish_offboarding<C: ConnectionTrait>(
        &self,
        tx: &C,
        practice: PracticeId,
        event: &Event,
    ) -> Result<(), Error> {
        let (id, leaver, outcome, counts, reason) = match &event.payload {
            Payload::OffboardingCompleted(OffboardingCompleted {
                offboarding_id,
                leaver,
                counts,
                ..
            }) => (
                *offboarding_id,
                leaver.staff_id,
                OffboardingStatus::Completed,
                *counts,
                None,
            ),
            Payload::OffboardingFailed(OffboardingFailed {
                offboarding_id,
                leaver,
                reason,
                ..
            }) => (
                *offboarding_id,
                leaver.staff_id,
                OffboardingStatus::Failed,
                OffboardingCounts::default(),
                Some(reason.clone()),
            ),
            _ => return Ok(()),
        };
        let Some(row) = offboardings::Entity::find_by_id(id)
            .in_practice(practice)
            .filter(offboardings::Column::Status.eq(OffboardingStatus::Requested.as_str()))
            .one(tx)
            .await?
        else {
            return Ok(());
        };
        let leaver_to = match outcome {
            OffboardingStatus::Completed => StaffStatus::Offboarded,
            _ => stored_status(&row.leaver_status_before)?,
        };
        let mut finished = row.into_active_model();
        finished.status = Set(outcome.as_str().to_owned());
        finished.finished_at = Set(Some(event.occurred_at));
        finished.failure_reason = Set(reason.clone());
        finished.organisations = Set(count(counts.organisations));
        finished.memberships_revoked = Set(count(counts.memberships_revoked));
        finished.memberships_granted = Set(count(counts.memberships_granted));
        finished.memberships_changed = Set(count(counts.memberships_changed));
        finished.invitations_withdrawn = Set(count(counts.invitations_withdrawn));
        finished.steps_reassigned = Set(count(counts.steps_reassigned));
        finished.update(tx).await?;
        staff_members::Entity::update_many()
            .col_expr(
                staff_members::Column::Status,
                Expr::value(leaver_to.as_str()),
            )
            .col_expr(
                staff_members::Column::StatusChangedAt,
                Expr::value(self.now()),
            )
            .in_practice(practice)
            .filter(staff_members::Column::Id.eq(leaver.as_uuid()))
            .filter(staff_members::Column::Status.eq(StaffStatus::Offboarding.as_str()))
            .exec(tx)
            .await?;
        let (action, after) = match outcome {
            OffboardingStatus::Completed => (
                "staff.offboarded",
                serde_json::json!({
                    "status": leaver_to.as_str(),
                    "offboarding_id": id,
                    "organisations": counts.organisations,
                    "memberships_revoked": counts.memberships_revoked,
                    "memberships_granted": counts.memberships_granted,
                    "memberships_changed": counts.memberships_changed,
                    "invitations_withdrawn": counts.invitations_withdrawn,
                    "steps_reassigned": counts.steps_reassigned,
                }),
            ),
            _ => (
                "staff.offboarding_failed",
                serde_json::json!({
                    "status": leaver_to.as_str(),
                    "offboarding_id": id,
                    "reason": reason,
                }),
            ),
        };
        // The manager who asked is the event's actor.
        self.audit(
            tx,
            practice,
            &event.actor,
            action,
            Some(leaver),
            None,
            serde_json::json!({ "status": StaffStatus::Offboarding.as_str() }),
            after,
        )
        .await?;
        info!(%practice, offboarding_id = %id, outcome = outcome.as_str(), "offboarding finished");
        Ok(())
    }
}
