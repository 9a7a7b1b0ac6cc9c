//! Offboarding: a manager hands a leaving member's work to a replacement. Staff-directory
//! checks the request and marks the leaver Offboarding in the transaction that publishes
//! StaffOffboardingRequested; org-access applies the handover and reports back, and the leaver
//! becomes Offboarded (or returns to their former status if it failed).

use ps_auth::UserCaller;
use ps_core::{
    ExistingAccess, FieldViolation, OffboardingCounts, Page, PageRequest, PersonName, PracticeId,
    PracticeRole, StaffId,
};
use ps_db::Tx;
use ps_events::event::{
    OffboardingCompleted, OffboardingFailed, OffboardingParty, StaffOffboardingRequested,
    StatusBefore,
};
use ps_events::{Event, Payload};
use tracing::info;
use uuid::Uuid;

use super::{Acting, Change, Directory, found};
use crate::domain::{Offboarding, OffboardingStatus, StaffMember, StaffStatus};
use crate::error::Error;
use crate::store;

const STAFF_MANAGERS: [PracticeRole; 3] = PracticeRole::STAFF_MANAGERS;

fn party(member: &StaffMember) -> OffboardingParty {
    OffboardingParty {
        staff_id: member.id,
        user_id: member.user_id,
        name: PersonName::from_trusted(member.name.clone()),
        email: member.email.clone(),
    }
}

/// Why a member cannot be offboarded, if they cannot.
fn leaver_refusal(member: &StaffMember) -> Option<String> {
    let name = &member.name;
    match member.status {
        StaffStatus::Pending | StaffStatus::Active | StaffStatus::Deactivated => None,
        StaffStatus::Offboarding => Some(format!("{name} is already being offboarded")),
        StaffStatus::Offboarded => Some(format!("{name} was already offboarded")),
        StaffStatus::Removed | StaffStatus::Declined => Some(format!(
            "{name} is {}: there is no work to hand over",
            member.status.as_str()
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
            self.db(),
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
        let tx = self.begin().await?;
        store::practices::lock(&tx, practice).await?;
        let mut leaver = self.member_for_update(&tx, practice, leaver_id).await?;
        let replacement = found(
            store::members::lock(&tx, practice, replacement_id).await?,
            "replacement",
        )?;
        self.check_offboarding(&tx, &acting, &leaver, &replacement)
            .await?;
        let from = leaver.status;
        let status_before = match from {
            StaffStatus::Pending => StatusBefore::Pending,
            StaffStatus::Deactivated => StatusBefore::Deactivated,
            _ => StatusBefore::Active,
        };

        let now = self.now();
        let offboarding = store::offboardings::insert(
            &tx,
            &leaver,
            &replacement,
            existing_access,
            &acting.actor,
            now,
        )
        .await?;
        let id = offboarding.id;
        store::members::set_status(&tx, &mut leaver, StaffStatus::Offboarding, now).await?;
        self.publish(
            &tx,
            practice,
            &acting.actor,
            Payload::StaffOffboardingRequested(StaffOffboardingRequested {
                offboarding_id: id,
                leaver: party(&leaver),
                leaver_status_before: status_before,
                replacement: party(&replacement),
                existing_access,
                requested_by_email: acting.member.email.clone(),
            }),
        )
        .await?;
        let requested = Change::staff("staff.offboarding_requested", leaver_id).before_after(
            serde_json::json!({ "status": from.as_str() }),
            serde_json::json!({
                "status": StaffStatus::Offboarding.as_str(),
                "offboarding_id": id,
                "replacement_id": replacement_id,
                "existing_access": existing_access.as_str(),
            }),
        );
        self.audit(&tx, practice, &acting.actor, requested).await?;
        super::remember(&tx, practice.as_uuid(), "OffboardStaff", key, id).await?;
        tx.commit().await?;
        self.published();
        info!(%practice, offboarding_id = %id, leaver = %leaver_id, replacement = %replacement_id, "offboarding requested");
        Ok(offboarding)
    }

    /// The refusals of OffboardStaff, in the order a manager meets them.
    async fn check_offboarding(
        &self,
        tx: &Tx,
        acting: &Acting,
        leaver: &StaffMember,
        replacement: &StaffMember,
    ) -> Result<(), Error> {
        if let Some(refusal) = leaver_refusal(leaver) {
            return Err(Error::FailedPrecondition(refusal));
        }
        acting.require_over(leaver.role, "offboarding")?;
        if replacement.status != StaffStatus::Active {
            return Err(Error::FailedPrecondition(format!(
                "the replacement must be an Active member; {} is {}",
                replacement.name,
                replacement.status.as_str()
            )));
        }
        self.keep_an_owner(tx, leaver).await?;
        // A member still receiving someone else's work cannot leave before that handover
        // ends: it would arrive after theirs and land on someone who is gone.
        if store::offboardings::incoming(tx, leaver.practice_id, leaver.id).await? > 0 {
            return Err(Error::FailedPrecondition(format!(
                "{} is taking over another member's work right now; offboard them once that handover has finished",
                leaver.name
            )));
        }
        Ok(())
    }

    pub async fn get_offboarding(
        &self,
        caller: &UserCaller,
        id: Uuid,
    ) -> Result<Offboarding, Error> {
        let acting = self.acting(caller).await?;
        acting.require(&STAFF_MANAGERS, "following offboardings")?;
        store::offboardings::get(self.db(), caller.practice_id, id).await
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
        store::offboardings::list(self.db(), caller.practice_id, leaver, &page).await
    }

    /// Records org-access's outcome in `tx` (the consumer's transaction): the offboarding's
    /// result, and the leaver Offboarded or back to their former status. Guarded by the
    /// offboarding still being Requested, so a replayed outcome changes nothing.
    pub async fn finish_offboarding(
        &self,
        tx: &Tx,
        practice: PracticeId,
        event: &Event,
    ) -> Result<(), Error> {
        let Some(Finished {
            id,
            leaver,
            outcome,
            counts,
            reason,
        }) = Finished::from_event(event)
        else {
            return Ok(());
        };
        let finished = store::offboardings::Outcome {
            status: outcome,
            at: event.occurred_at,
            failure_reason: reason.clone(),
            counts,
        };
        let Some(before) = store::offboardings::finish(tx, practice, id, finished).await? else {
            return Ok(());
        };
        let leaver_to = match outcome {
            OffboardingStatus::Completed => StaffStatus::Offboarded,
            _ => before,
        };
        store::members::move_status(
            tx,
            practice,
            leaver,
            StaffStatus::Offboarding,
            leaver_to,
            self.now(),
        )
        .await?;
        let (action, after) = match outcome {
            OffboardingStatus::Completed => ("staff.offboarded", completed(leaver_to, id, counts)),
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
        let finished = Change::staff(action, leaver).before_after(
            serde_json::json!({ "status": StaffStatus::Offboarding.as_str() }),
            after,
        );
        self.audit(tx, practice, &event.actor, finished).await?;
        info!(%practice, offboarding_id = %id, outcome = outcome.as_str(), "offboarding finished");
        Ok(())
    }
}

/// Org-access's report of a handover, as staff-directory records it.
struct Finished {
    id: Uuid,
    leaver: StaffId,
    outcome: OffboardingStatus,
    counts: OffboardingCounts,
    reason: Option<String>,
}

impl Finished {
    fn from_event(event: &Event) -> Option<Self> {
        match &event.payload {
            Payload::OffboardingCompleted(OffboardingCompleted {
                offboarding_id,
                leaver,
                counts,
                ..
            }) => Some(Self {
                id: *offboarding_id,
                leaver: leaver.staff_id,
                outcome: OffboardingStatus::Completed,
                counts: *counts,
                reason: None,
            }),
            Payload::OffboardingFailed(OffboardingFailed {
                offboarding_id,
                leaver,
                reason,
                ..
            }) => Some(Self {
                id: *offboarding_id,
                leaver: leaver.staff_id,
                outcome: OffboardingStatus::Failed,
                counts: OffboardingCounts::default(),
                reason: Some(reason.clone()),
            }),
            _ => None,
        }
    }
}

/// The audit trail's "after" of a completed offboarding.
fn completed(status: StaffStatus, id: Uuid, counts: OffboardingCounts) -> serde_json::Value {
    serde_json::json!({
        "status": status.as_str(),
        "offboarding_id": id,
        "organisations": counts.organisations,
        "memberships_revoked": counts.memberships_revoked,
        "memberships_granted": counts.memberships_granted,
        "memberships_changed": counts.memberships_changed,
        "invitations_withdrawn": counts.invitations_withdrawn,
        "steps_reassigned": counts.steps_reassigned,
    })
}
