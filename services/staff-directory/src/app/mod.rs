//! Staff-directory's use cases. Every query is scoped by the caller's practice, so another
//! practice's ids are simply not found. Every change writes its audit entry and its event in
//! the transaction that makes it.
//!
//! Checks that read and then write (the last Account Owner, reinvite limits) lock what they
//! read: the member row, and the practice row for owner changes. On PostgreSQL that is
//! `SELECT … FOR UPDATE`; SQLite has a single writer connection, which serialises them anyway.

mod audit;
mod certification;
mod locations;
mod members;
mod offboarding;
mod practice;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ps_auth::UserCaller;
use ps_core::{Email, LocationId, PracticeId, PracticeRole, SharedClock, StaffId, UserId};
use ps_db::tenancy::InPractice;
use ps_events::{Actor, Event, OutboxWaker, Payload, outbox};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, QuerySelect, Set,
};
use uuid::Uuid;

pub use certification::Recorder;

use crate::domain::{
    Certification, CertificationStatus, Npi, ProviderProfile, StaffMember, StaffStatus,
    TaxonomyCode,
};
use crate::error::Error;
use crate::store::{audit_events, practices, staff_locations, staff_members};

/// The request-id scope of operator requests, which act in no practice yet.
const OPERATOR_SCOPE: Uuid = Uuid::nil();

/// Records in `tx` that `key` (if any) created `result` (see `ps_db::idempotency`).
async fn remember<C: ConnectionTrait>(
    tx: &C,
    scope: Uuid,
    operation: &str,
    key: Option<&ps_core::RequestKey>,
    result: Uuid,
) -> Result<(), Error> {
    ps_db::idempotency::remember_or(tx, scope, operation, key, result, Error::Aborted).await
}

#[derive(Debug, Clone)]
pub struct Settings {
    /// Name recorded as the actor of operator actions (bootstrap).
    pub operator_name: String,
    /// Reinvites allowed per member within [`Settings::reinvite_window`].
    pub reinvite_limit: u32,
    pub reinvite_window: Duration,
}

#[derive(Clone)]
pub struct Directory(Arc<Inner>);

struct Inner {
    db: DatabaseConnection,
    clock: SharedClock,
    waker: OutboxWaker,
    settings: Settings,
}

/// The signed-in caller's own membership, which must be active: a token alone does not let a
/// removed, deactivated or pending member act.
struct Acting {
    row: staff_members::Model,
    role: PracticeRole,
    actor: Actor,
}

/// The roles that may act on someone holding `role` (their own rank or above).
fn roles_over(role: PracticeRole) -> Vec<PracticeRole> {
    PracticeRole::STAFF_MANAGERS
        .into_iter()
        .filter(|r| r.may_grant(role))
        .collect()
}

fn stored_role(value: &str) -> Result<PracticeRole, Error> {
    PracticeRole::parse(value).ok_or_else(|| Error::Internal(format!("stored role {value}")))
}

fn stored_status(value: &str) -> Result<StaffStatus, Error> {
    StaffStatus::parse(value).ok_or_else(|| Error::Internal(format!("stored status {value}")))
}

fn located(ids: &[LocationId]) -> serde_json::Value {
    serde_json::json!(ids.iter().map(ToString::to_string).collect::<Vec<_>>())
}

impl Acting {
    fn require(&self, allowed: &[PracticeRole], what: &str) -> Result<(), Error> {
        Ok(self.role.require(allowed, what)?)
    }

    /// Refuses acting on a member whose role is above the caller's.
    fn require_over(&self, target: PracticeRole, what: &str) -> Result<(), Error> {
        if self.role.may_grant(target) {
            Ok(())
        } else {
            Err(Error::PermissionDenied(format!(
                "{what} a {target} needs the {} role",
                PracticeRole::titles(&roles_over(target))
            )))
        }
    }
}

impl Directory {
    pub fn new(
        db: DatabaseConnection,
        clock: SharedClock,
        waker: OutboxWaker,
        settings: Settings,
    ) -> Self {
        Self(Arc::new(Inner {
            db,
            clock,
            waker,
            settings,
        }))
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.0.db
    }

    pub fn clock(&self) -> &SharedClock {
        &self.0.clock
    }

    fn now(&self) -> DateTime<Utc> {
        self.0.clock.now()
    }

    async fn acting(&self, caller: &UserCaller) -> Result<Acting, Error> {
        let row = staff_members::Entity::find()
            .in_practice(caller.practice_id)
            .filter(staff_members::Column::UserId.eq(caller.user_id.as_uuid()))
            .filter(staff_members::Column::Status.eq(StaffStatus::Active.as_str()))
            .one(&self.0.db)
            .await?
            .ok_or_else(|| {
                Error::PermissionDenied("you are not an active member of this practice".into())
            })?;
        let role = stored_role(&row.role)?;
        let actor = Actor::user(caller.user_id, row.name.clone());
        Ok(Acting { row, role, actor })
    }

    async fn practice_row<C: ConnectionTrait>(
        &self,
        conn: &C,
        id: PracticeId,
    ) -> Result<practices::Model, Error> {
        practices::Entity::find_by_id(id.as_uuid())
            .one(conn)
            .await?
            .ok_or(Error::NotFound("practice"))
    }

    /// The practice row, locked until the transaction ends: serialises changes that must keep
    /// an active Account Owner.
    async fn lock_practice<C: ConnectionTrait>(
        &self,
        tx: &C,
        id: PracticeId,
    ) -> Result<practices::Model, Error> {
        practices::Entity::find_by_id(id.as_uuid())
            .lock_exclusive()
            .one(tx)
            .await?
            .ok_or(Error::NotFound("practice"))
    }

    /// A member of the practice, locked until the transaction ends.
    async fn member_for_update<C: ConnectionTrait>(
        &self,
        tx: &C,
        practice: PracticeId,
        id: StaffId,
    ) -> Result<staff_members::Model, Error> {
        staff_members::Entity::find_by_id(id.as_uuid())
            .in_practice(practice)
            .lock_exclusive()
            .one(tx)
            .await?
            .ok_or(Error::NotFound("staff member"))
    }

    /// Refuses a change that would leave the practice without an active Account Owner. Call
    /// with the practice locked.
    async fn keep_an_owner<C: ConnectionTrait>(
        &self,
        tx: &C,
        member: &staff_members::Model,
    ) -> Result<(), Error> {
        if member.role != PracticeRole::AccountOwner.as_str()
            || member.status != StaffStatus::Active.as_str()
        {
            return Ok(());
        }
        let others = staff_members::Entity::find()
            .filter(staff_members::Column::PracticeId.eq(member.practice_id))
            .filter(staff_members::Column::Role.eq(PracticeRole::AccountOwner.as_str()))
            .filter(staff_members::Column::Status.eq(StaffStatus::Active.as_str()))
            .filter(staff_members::Column::Id.ne(member.id))
            .count(tx)
            .await?;
        if others == 0 {
            return Err(Error::FailedPrecondition(
                "a practice keeps at least one active Account Owner: make another member Account Owner first".into(),
            ));
        }
        Ok(())
    }

    /// Writes an event into the outbox of `tx`.
    async fn publish<C: ConnectionTrait>(
        &self,
        tx: &C,
        practice: PracticeId,
        actor: &Actor,
        payload: Payload,
    ) -> Result<(), Error> {
        outbox::enqueue(
            tx,
            &Event::new(practice, actor.clone(), self.now(), payload),
        )
        .await?;
        Ok(())
    }

    /// Wakes the relay after a commit that published events.
    fn published(&self) {
        self.0.waker.wake();
    }

    /// Records who changed what.
    #[allow(clippy::too_many_arguments)]
    async fn audit<C: ConnectionTrait>(
        &self,
        tx: &C,
        practice: PracticeId,
        actor: &Actor,
        action: &str,
        target_staff: Option<StaffId>,
        target_location: Option<LocationId>,
        before: serde_json::Value,
        after: serde_json::Value,
    ) -> Result<(), Error> {
        audit_events::ActiveModel {
            id: Set(Uuid::now_v7()),
            practice_id: Set(practice.as_uuid()),
            actor_id: Set(actor.id.clone()),
            actor_name: Set(actor.name.clone()),
            action: Set(action.to_owned()),
            target_staff_id: Set(target_staff.map(|s| s.as_uuid())),
            target_location_id: Set(target_location.map(|l| l.as_uuid())),
            before: Set(before.to_string()),
            after: Set(after.to_string()),
            occurred_at: Set(self.now()),
        }
        .insert(tx)
        .await?;
        Ok(())
    }

    /// Replaces the locations a member may access.
    async fn replace_locations<C: ConnectionTrait>(
        &self,
        tx: &C,
        practice: PracticeId,
        staff: StaffId,
        locations: &[LocationId],
    ) -> Result<(), Error> {
        staff_locations::Entity::delete_many()
            .filter(staff_locations::Column::StaffId.eq(staff.as_uuid()))
            .exec(tx)
            .await?;
        if locations.is_empty() {
            return Ok(());
        }
        staff_locations::Entity::insert_many(locations.iter().map(|location| {
            staff_locations::ActiveModel {
                staff_id: Set(staff.as_uuid()),
                location_id: Set(location.as_uuid()),
                practice_id: Set(practice.as_uuid()),
            }
        }))
        .exec_without_returning(tx)
        .await?;
        Ok(())
    }

    async fn location_ids<C: ConnectionTrait>(
        &self,
        conn: &C,
        staff: &[Uuid],
    ) -> Result<HashMap<Uuid, Vec<LocationId>>, Error> {
        let mut by_member: HashMap<Uuid, Vec<LocationId>> = HashMap::new();
        if staff.is_empty() {
            return Ok(by_member);
        }
        let rows = staff_locations::Entity::find()
            .filter(staff_locations::Column::StaffId.is_in(staff.iter().copied()))
            .all(conn)
            .await?;
        for row in rows {
            by_member
                .entry(row.staff_id)
                .or_default()
                .push(LocationId(row.location_id));
        }
        for ids in by_member.values_mut() {
            ids.sort();
        }
        Ok(by_member)
    }

    /// Rows to members, with their locations read in one query.
    async fn members<C: ConnectionTrait>(
        &self,
        conn: &C,
        rows: Vec<staff_members::Model>,
    ) -> Result<Vec<StaffMember>, Error> {
        let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
        let mut locations = self.location_ids(conn, &ids).await?;
        rows.into_iter()
            .map(|row| {
                let ids = locations.remove(&row.id).unwrap_or_default();
                member(row, ids)
            })
            .collect()
    }

    async fn member<C: ConnectionTrait>(
        &self,
        conn: &C,
        row: staff_members::Model,
    ) -> Result<StaffMember, Error> {
        let mut members = self.members(conn, vec![row]).await?;
        members
            .pop()
            .ok_or_else(|| Error::Internal("member vanished".into()))
    }
}

fn member(row: staff_members::Model, location_ids: Vec<LocationId>) -> Result<StaffMember, Error> {
    Ok(StaffMember {
        id: StaffId(row.id),
        practice_id: PracticeId(row.practice_id),
        email: Email::from_trusted(row.email),
        name: row.name,
        role: stored_role(&row.role)?,
        status: stored_status(&row.status)?,
        user_id: row.user_id.map(UserId),
        invited_at: row.invited_at,
        invited_by_name: row.invited_by_name,
        status_changed_at: row.status_changed_at,
        invitation_count: u32::try_from(row.invitation_count).unwrap_or(0),
        last_invited_at: row.last_invited_at,
        external_agent: row.external_agent,
        primary_location_id: row.primary_location_id.map(LocationId),
        location_ids,
        provider: ProviderProfile {
            npi: row.npi.and_then(|v| Npi::parse("npi", &v).ok()),
            taxonomy_code: row
                .taxonomy_code
                .and_then(|v| TaxonomyCode::parse("taxonomy_code", &v).ok()),
            bio: row.bio,
            capacity: row.capacity.and_then(|v| u32::try_from(v).ok()),
            scheduling_step_minutes: row
                .scheduling_step_minutes
                .and_then(|v| u32::try_from(v).ok()),
        },
        certification: Certification {
            status: CertificationStatus::parse(&row.certification_status).ok_or_else(|| {
                Error::Internal(format!("stored certification {}", row.certification_status))
            })?,
            invited_at: row.certification_invited_at,
            certified_at: row.certified_at,
            certificate_number: row.certificate_number,
        },
        invitation_failure: row
            .invitation_failed_at
            .map(|at| (at, row.invitation_failure.unwrap_or_default())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_name_the_roles_needed() {
        assert_eq!(
            PracticeRole::titles(&[PracticeRole::AccountOwner]),
            "Account Owner"
        );
        assert_eq!(
            PracticeRole::titles(&PracticeRole::STAFF_MANAGERS),
            "Account Owner, Account Manager or User Manager"
        );
        assert_eq!(
            roles_over(PracticeRole::AccountManager),
            [PracticeRole::AccountOwner, PracticeRole::AccountManager]
        );
    }
}
