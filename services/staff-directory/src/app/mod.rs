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

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ps_auth::UserCaller;
use ps_core::{LocationId, PracticeId, PracticeRole, SharedClock, StaffId};
use ps_db::{Db, Tx};
use ps_events::{Actor, Event, OutboxWaker, Payload, outbox};
use uuid::Uuid;

pub use certification::Recorder;

use crate::domain::{Membership, StaffMember, StaffStatus};
use crate::error::Error;
use crate::store;

/// The request-id scope of operator requests, which act in no practice yet.
const OPERATOR_SCOPE: Uuid = Uuid::nil();

/// Records in `tx` that `key` (if any) created `result` (see `ps_db::idempotency`).
async fn remember(
    tx: &Tx,
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
    db: Db,
    clock: SharedClock,
    waker: OutboxWaker,
    settings: Settings,
}

/// The signed-in caller's own membership, which must be active: a token alone does not let a
/// removed, deactivated or pending member act.
struct Acting {
    member: Membership,
    actor: Actor,
}

/// The roles that may act on someone holding `role` (their own rank or above).
fn roles_over(role: PracticeRole) -> Vec<PracticeRole> {
    PracticeRole::STAFF_MANAGERS
        .into_iter()
        .filter(|r| r.may_grant(role))
        .collect()
}

fn located(ids: &[LocationId]) -> serde_json::Value {
    serde_json::json!(ids.iter().map(ToString::to_string).collect::<Vec<_>>())
}

/// The member, or NotFound naming what was looked for.
fn found(member: Option<StaffMember>, what: &'static str) -> Result<StaffMember, Error> {
    member.ok_or(Error::NotFound(what))
}

impl Acting {
    fn require(&self, allowed: &[PracticeRole], what: &str) -> Result<(), Error> {
        Ok(self.member.role.require(allowed, what)?)
    }

    /// Refuses acting on a member whose role is above the caller's.
    fn require_over(&self, target: PracticeRole, what: &str) -> Result<(), Error> {
        if self.member.role.may_grant(target) {
            Ok(())
        } else {
            Err(Error::PermissionDenied(format!(
                "{what} a {target} needs the {} role",
                PracticeRole::titles(&roles_over(target))
            )))
        }
    }
}

/// One audit entry: what changed, about whom, before and after.
struct Change<'a> {
    action: &'a str,
    staff: Option<StaffId>,
    location: Option<LocationId>,
    before: serde_json::Value,
    after: serde_json::Value,
}

impl<'a> Change<'a> {
    fn new(action: &'a str) -> Self {
        Self {
            action,
            staff: None,
            location: None,
            before: serde_json::Value::Null,
            after: serde_json::Value::Null,
        }
    }

    /// A change of one member.
    fn staff(action: &'a str, staff: StaffId) -> Self {
        Self {
            staff: Some(staff),
            ..Self::new(action)
        }
    }

    /// A change of one location.
    fn location(action: &'a str, location: LocationId) -> Self {
        Self {
            location: Some(location),
            ..Self::new(action)
        }
    }

    /// A change of the practice itself.
    fn practice(action: &'a str) -> Self {
        Self::new(action)
    }

    fn before_after(self, before: serde_json::Value, after: serde_json::Value) -> Self {
        Self {
            before,
            after,
            ..self
        }
    }
}

impl Directory {
    pub fn new(db: Db, clock: SharedClock, waker: OutboxWaker, settings: Settings) -> Self {
        Self(Arc::new(Inner {
            db,
            clock,
            waker,
            settings,
        }))
    }

    pub fn db(&self) -> &Db {
        &self.0.db
    }

    pub fn clock(&self) -> &SharedClock {
        &self.0.clock
    }

    fn now(&self) -> DateTime<Utc> {
        self.0.clock.now()
    }

    async fn begin(&self) -> Result<Tx, Error> {
        Ok(ps_db::begin(&self.0.db).await?)
    }

    async fn acting(&self, caller: &UserCaller) -> Result<Acting, Error> {
        let member = store::members::active_by_user(&self.0.db, caller.practice_id, caller.user_id)
            .await?
            .ok_or_else(|| {
                Error::PermissionDenied("you are not an active member of this practice".into())
            })?;
        let actor = Actor::user(caller.user_id, member.name.clone());
        Ok(Acting { member, actor })
    }

    /// A member of the practice, locked until the transaction ends.
    async fn member_for_update(
        &self,
        tx: &Tx,
        practice: PracticeId,
        id: StaffId,
    ) -> Result<StaffMember, Error> {
        found(
            store::members::lock(tx, practice, id).await?,
            "staff member",
        )
    }

    /// Refuses a change that would leave the practice without an active Account Owner. Call
    /// with the practice locked.
    async fn keep_an_owner(&self, tx: &Tx, member: &StaffMember) -> Result<(), Error> {
        if member.role != PracticeRole::AccountOwner || member.status != StaffStatus::Active {
            return Ok(());
        }
        let others = store::members::other_active_owners(tx, member.practice_id, member.id).await?;
        if others == 0 {
            return Err(Error::FailedPrecondition(
                "a practice keeps at least one active Account Owner: make another member Account Owner first".into(),
            ));
        }
        Ok(())
    }

    /// Writes an event into the outbox of `tx`.
    async fn publish(
        &self,
        tx: &Tx,
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
    async fn audit(
        &self,
        tx: &Tx,
        practice: PracticeId,
        actor: &Actor,
        change: Change<'_>,
    ) -> Result<(), Error> {
        let entry = store::audit::Entry {
            actor,
            action: change.action,
            target_staff: change.staff,
            target_location: change.location,
            before: change.before,
            after: change.after,
            at: self.now(),
        };
        store::audit::record(tx, practice, entry).await
    }
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
