//! Access changesets: what planning one reads ([`facts`]), the request id claimed first in
//! the changeset's transaction with the result stored under it (`access_changes`), and the
//! organisation invitations a changeset sends.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use ps_core::{LocationId, OrganisationId, PracticeId, RoleId, StaffId};
use ps_db::tenancy::InPractice;
use ps_roster::RosterStatus;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use uuid::Uuid;

use super::entities::{access_changes, org_invitations};
use crate::domain::{AccessChangeResult, Changeset, ChangesetFacts};
use crate::error::Error;

fn json_error(err: serde_json::Error) -> Error {
    Error::Internal(err.to_string())
}

/// What planning `changeset` needs to know, in the practice: the organisations, roles,
/// members and locations it names, the current memberships of its pairs, and the acceptance
/// setting.
pub async fn facts<C: ConnectionTrait>(
    conn: &C,
    practice: PracticeId,
    changeset: &Changeset,
) -> Result<ChangesetFacts, Error> {
    let entries = &changeset.entries;
    let organisation_ids: BTreeSet<OrganisationId> =
        entries.iter().map(|e| e.organisation_id).collect();
    let organisations = super::organisations::facts(conn, practice, &organisation_ids).await?;
    let role_ids: BTreeSet<RoleId> = entries
        .iter()
        .filter_map(|e| e.role_id)
        .chain(changeset.default_role_id)
        .collect();
    let roles = super::roles::existing(conn, practice, &role_ids).await?;
    let staff_ids: Vec<StaffId> = entries
        .iter()
        .map(|e| e.staff_id)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let members: HashMap<StaffId, RosterStatus> =
        super::roster::members(conn, practice, &staff_ids)
            .await?
            .into_iter()
            .map(|m| (m.staff_id, m.status))
            .collect();
    let location_ids: BTreeSet<LocationId> = entries
        .iter()
        .flat_map(|e| e.location_ids.iter().copied())
        .collect();
    let usable_locations = super::locations::usable(conn, practice, &location_ids).await?;
    // Of the organisations that exist.
    let found: Vec<OrganisationId> = organisations.keys().copied().collect();
    let current = super::memberships::current_of_pairs(conn, practice, &found, &staff_ids).await?;
    Ok(ChangesetFacts {
        organisations,
        roles,
        members,
        usable_locations,
        current,
        needs_acceptance: super::settings::require_acceptance(conn, practice).await?,
    })
}

/// A changeset applied (or being applied) earlier under the same request id.
pub struct Earlier {
    /// The fingerprint of that changeset: a retry has the same.
    pub fingerprint: String,
    result: String,
}

impl Earlier {
    /// What it did.
    pub fn result(&self) -> Result<AccessChangeResult, Error> {
        serde_json::from_str(&self.result).map_err(json_error)
    }
}

/// Claims `request_id` for a changeset with `fingerprint`: `None` when this claims it, else
/// the earlier changeset under that id (a concurrent one still applying holds the claim until
/// it commits, so this waits for it).
pub async fn claim<C: ConnectionTrait>(
    tx: &C,
    practice: PracticeId,
    request_id: &str,
    fingerprint: &str,
    at: DateTime<Utc>,
) -> Result<Option<Earlier>, Error> {
    let claimed = access_changes::Entity::insert(access_changes::ActiveModel {
        practice_id: Set(practice.as_uuid()),
        request_id: Set(request_id.to_owned()),
        fingerprint: Set(fingerprint.to_owned()),
        result: Set(String::new()),
        created_at: Set(at),
    })
    .on_conflict(
        OnConflict::columns([
            access_changes::Column::PracticeId,
            access_changes::Column::RequestId,
        ])
        .do_nothing()
        .to_owned(),
    )
    .exec_without_returning(tx)
    .await?;
    if claimed > 0 {
        return Ok(None);
    }
    let earlier = access_changes::Entity::find()
        .in_practice(practice)
        .filter(access_changes::Column::RequestId.eq(request_id))
        .one(tx)
        .await?
        .ok_or_else(|| Error::Internal("claimed request vanished".into()))?;
    Ok(Some(Earlier {
        fingerprint: earlier.fingerprint,
        result: earlier.result,
    }))
}

/// Stores what the changeset claimed under `request_id` did, for its retries.
pub async fn record_result<C: ConnectionTrait>(
    tx: &C,
    practice: PracticeId,
    request_id: &str,
    result: &AccessChangeResult,
) -> Result<(), Error> {
    access_changes::Entity::update_many()
        .col_expr(
            access_changes::Column::Result,
            Expr::value(serde_json::to_string(result).map_err(json_error)?),
        )
        .in_practice(practice)
        .filter(access_changes::Column::RequestId.eq(request_id))
        .exec(tx)
        .await?;
    Ok(())
}

/// One organisation invitation per member in `invitations` (invitation id, member), sent by
/// `invited_by`.
pub async fn invite<C: ConnectionTrait>(
    tx: &C,
    practice: PracticeId,
    invitations: &[(Uuid, StaffId)],
    invited_by: &str,
    at: DateTime<Utc>,
) -> Result<(), Error> {
    if invitations.is_empty() {
        return Ok(());
    }
    org_invitations::Entity::insert_many(invitations.iter().map(|(id, staff)| {
        org_invitations::ActiveModel {
            id: Set(*id),
            practice_id: Set(practice.as_uuid()),
            staff_id: Set(staff.as_uuid()),
            invited_by: Set(invited_by.to_owned()),
            created_at: Set(at),
        }
    }))
    .exec_without_returning(tx)
    .await?;
    Ok(())
}
