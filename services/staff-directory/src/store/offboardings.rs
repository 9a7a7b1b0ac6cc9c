//! Offboardings: one handover of a leaver's work to a replacement, from request to outcome.

use chrono::{DateTime, Utc};
use ps_core::{ExistingAccess, OffboardingCounts, Page, PageRequest, PracticeId, StaffId};
use ps_db::tenancy::InPractice;
use ps_events::Actor;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

use super::entities::{MemberStatus, OffboardingState, offboardings};
use crate::domain::{Offboarding, OffboardingStatus, StaffMember, StaffStatus};
use crate::error::Error;

fn count(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

fn uncount(value: i32) -> u32 {
    u32::try_from(value).unwrap_or(0)
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
        status: row.status.into(),
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

/// A new offboarding, Requested: `leaver` (as they were before) hands over to `replacement`.
pub async fn insert<C: ConnectionTrait>(
    tx: &C,
    leaver: &StaffMember,
    replacement: &StaffMember,
    existing_access: ExistingAccess,
    requested_by: &Actor,
    at: DateTime<Utc>,
) -> Result<Offboarding, Error> {
    let row = offboardings::ActiveModel {
        id: Set(Uuid::now_v7()),
        practice_id: Set(leaver.practice_id.as_uuid()),
        leaver_id: Set(leaver.id.as_uuid()),
        leaver_name: Set(leaver.name.clone()),
        leaver_status_before: Set(leaver.status.into()),
        replacement_id: Set(replacement.id.as_uuid()),
        replacement_name: Set(replacement.name.clone()),
        existing_access: Set(existing_access.as_str().to_owned()),
        status: Set(OffboardingState::Requested),
        requested_by_id: Set(requested_by.id.clone()),
        requested_by_name: Set(requested_by.name.clone()),
        requested_at: Set(at),
        finished_at: Set(None),
        failure_reason: Set(None),
        organisations: Set(0),
        memberships_revoked: Set(0),
        memberships_granted: Set(0),
        memberships_changed: Set(0),
        invitations_withdrawn: Set(0),
        steps_reassigned: Set(0),
    }
    .insert(tx)
    .await?;
    offboarding(row)
}

/// How many Requested offboardings hand work to `replacement`.
pub async fn incoming<C: ConnectionTrait>(
    tx: &C,
    practice: PracticeId,
    replacement: StaffId,
) -> Result<u64, Error> {
    Ok(offboardings::Entity::find()
        .in_practice(practice)
        .filter(offboardings::Column::ReplacementId.eq(replacement.as_uuid()))
        .filter(offboardings::Column::Status.eq(OffboardingState::Requested))
        .count(tx)
        .await?)
}

/// An offboarding of the practice, or NotFound.
pub async fn get<C: ConnectionTrait>(
    conn: &C,
    practice: PracticeId,
    id: Uuid,
) -> Result<Offboarding, Error> {
    let row = offboardings::Entity::find_by_id(id)
        .in_practice(practice)
        .one(conn)
        .await?
        .ok_or(Error::NotFound("offboarding"))?;
    offboarding(row)
}

/// One page, newest first; optionally only one leaver's.
pub async fn list<C: ConnectionTrait>(
    conn: &C,
    practice: PracticeId,
    leaver: Option<StaffId>,
    page: &PageRequest,
) -> Result<Page<Offboarding>, Error> {
    let mut query = offboardings::Entity::find().in_practice(practice);
    if let Some(leaver) = leaver {
        query = query.filter(offboardings::Column::LeaverId.eq(leaver.as_uuid()));
    }
    if let Some(after) = page.after {
        query = query.filter(offboardings::Column::Id.lt(after));
    }
    let rows = query
        .order_by_desc(offboardings::Column::Id)
        .limit(page.fetch_limit())
        .all(conn)
        .await?;
    let page = Page::from_rows(rows, page, |row| row.id);
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

/// How a Requested offboarding ended.
pub struct Outcome {
    pub status: OffboardingStatus,
    pub at: DateTime<Utc>,
    pub failure_reason: Option<String>,
    pub counts: OffboardingCounts,
}

/// Records the outcome of the offboarding if it is still Requested (a replayed outcome finds
/// none); answers the leaver's status before it began, when it applied.
pub async fn finish<C: ConnectionTrait>(
    tx: &C,
    practice: PracticeId,
    id: Uuid,
    outcome: Outcome,
) -> Result<Option<StaffStatus>, Error> {
    let Some(row) = offboardings::Entity::find_by_id(id)
        .in_practice(practice)
        .filter(offboardings::Column::Status.eq(OffboardingState::Requested))
        .one(tx)
        .await?
    else {
        return Ok(None);
    };
    let before: MemberStatus = row.leaver_status_before;
    let counts = outcome.counts;
    let mut finished = row.into_active_model();
    finished.status = Set(outcome.status.into());
    finished.finished_at = Set(Some(outcome.at));
    finished.failure_reason = Set(outcome.failure_reason);
    finished.organisations = Set(count(counts.organisations));
    finished.memberships_revoked = Set(count(counts.memberships_revoked));
    finished.memberships_granted = Set(count(counts.memberships_granted));
    finished.memberships_changed = Set(count(counts.memberships_changed));
    finished.invitations_withdrawn = Set(count(counts.invitations_withdrawn));
    finished.steps_reassigned = Set(count(counts.steps_reassigned));
    finished.update(tx).await?;
    Ok(Some(before.into()))
}
