//! Org-access's use cases: load through the store, decide in `domain`, write through the
//! store, each state change with its audit entries and events in one transaction. Every query
//! is scoped by the caller's practice, so another practice's ids are not found; the caller's
//! rights come from the roster, so a removed or deactivated member is refused as soon as the
//! event arrives. A use case holds the pool (`ps_db::Db`) and a transaction (`ps_db::Tx`)
//! only to hand them to the store, the outbox and the idempotency records.
//!
//! - [`organisations`], [`workflows`], [`roles`]: the practice's catalogue.
//! - [`changes`]: access changesets in both directions, settings and invitations.
//! - [`decide`]: CheckAccess and ExplainAccess.
//! - [`views`]: who can access what, and the access audit log.
//! - [`staff_events`]: what staff events do to memberships.
//! - [`offboarding`]: the preview and the handover of a leaver's work.
//! - [`cache`]: decisions remembered between writes (SQLite only).

mod cache;
mod changes;
mod decide;
mod offboarding;
mod organisations;
mod roles;
mod staff_events;
mod views;
mod workflows;

pub use changes::entry;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use ps_auth::UserCaller;
use ps_core::{PracticeId, PracticeRole, SharedClock, StaffId};
use ps_db::{Db, Tx};
use ps_events::{Actor, Event, OutboxWaker, Payload, outbox};
use uuid::Uuid;

use crate::error::Error;
use crate::store;
use crate::store::audit::AuditEntry;
use cache::{DecisionCache, Writing};

/// Records in `tx` that `key` (if any) created `result` (see `ps_db::idempotency`).
async fn remember(
    tx: &Tx,
    scope: PracticeId,
    operation: &str,
    key: Option<&ps_core::RequestKey>,
    result: Uuid,
) -> Result<(), Error> {
    let scope = scope.as_uuid();
    ps_db::idempotency::remember_or(tx, scope, operation, key, result, Error::Aborted).await
}

/// Who may manage organisations, workflows and access.
pub(crate) const MANAGERS: [PracticeRole; 3] = PracticeRole::STAFF_MANAGERS;
/// Who may change roles and access settings.
pub(crate) const ADMINS: [PracticeRole; 2] =
    [PracticeRole::AccountOwner, PracticeRole::AccountManager];

#[derive(Clone)]
pub struct OrgAccess(Arc<Inner>);

struct Inner {
    db: Db,
    clock: SharedClock,
    waker: OutboxWaker,
    decisions: DecisionCache,
}

/// The signed-in caller, as an active member of their practice.
pub(crate) struct Acting {
    pub practice: PracticeId,
    pub staff_id: StaffId,
    pub role: PracticeRole,
    pub actor: Actor,
}

impl Acting {
    pub(crate) fn require(&self, allowed: &[PracticeRole], what: &str) -> Result<(), Error> {
        Ok(self.role.require(allowed, what)?)
    }
}

impl OrgAccess {
    pub fn new(db: Db, clock: SharedClock, waker: OutboxWaker) -> Self {
        // Only a database this process alone writes can be cached exactly (see `cache`).
        let decisions = if store::single_writer(&db) {
            DecisionCache::on()
        } else {
            DecisionCache::off()
        };
        Self(Arc::new(Inner {
            db,
            clock,
            waker,
            decisions,
        }))
    }

    /// A write to org-access's tables: hold the guard until the transaction has ended.
    pub(crate) fn writing(&self) -> Writing {
        self.0.decisions.writing()
    }

    /// Begins a write transaction; the guard must outlive its commit.
    async fn begin(&self) -> Result<(Writing, Tx), Error> {
        let writing = self.writing();
        Ok((writing, ps_db::begin(&self.0.db).await?))
    }

    pub fn db(&self) -> &Db {
        &self.0.db
    }

    fn now(&self) -> DateTime<Utc> {
        self.0.clock.now()
    }

    pub(crate) async fn acting(&self, caller: &UserCaller) -> Result<Acting, Error> {
        let member = store::roster::member_by_user(&self.0.db, caller.practice_id, caller.user_id)
            .await?
            .filter(ps_roster::Member::is_active)
            .ok_or_else(|| {
                Error::PermissionDenied("you are not an active member of this practice".into())
            })?;
        Ok(Acting {
            practice: caller.practice_id,
            staff_id: member.staff_id,
            role: member.role,
            actor: Actor::user(caller.user_id, member.name),
        })
    }

    /// Writes audit entries, all by `actor`, in `tx`.
    pub(crate) async fn audit(
        &self,
        tx: &Tx,
        practice: PracticeId,
        actor: &Actor,
        entries: Vec<AuditEntry>,
    ) -> Result<(), Error> {
        store::audit::record(tx, practice, actor, entries, self.now()).await
    }

    /// One audit entry.
    pub(crate) async fn audit_one(
        &self,
        tx: &Tx,
        practice: PracticeId,
        actor: &Actor,
        entry: AuditEntry,
    ) -> Result<(), Error> {
        self.audit(tx, practice, actor, vec![entry]).await
    }

    pub(crate) async fn publish(
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

    pub(crate) fn published(&self) {
        self.0.waker.wake();
    }
}
