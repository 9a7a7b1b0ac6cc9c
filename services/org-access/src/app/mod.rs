//! Org-access's use cases. Every query is scoped by the caller's practice, so another
//! practice's ids are not found; the caller's rights come from the roster, so a removed or
//! deactivated member is refused as soon as the event arrives.
//!
//! - [`organisations`], [`workflows`], [`roles`]: the practice's catalogue.
//! - [`changes`]: access changesets in both directions, settings and invitations.
//! - [`decide`]: CheckAccess and ExplainAccess.
//! - [`views`]: who can access what, and the access audit log.
//! - [`staff_events`]: what staff events do to memberships.
//! - [`offboarding`]: the preview and the handover of a leaver's work.

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
use ps_events::{Actor, Event, OutboxWaker, Payload, outbox};
use sea_orm::{
    ConnectionTrait, DatabaseBackend, DatabaseConnection, DatabaseTransaction, Set,
    TransactionTrait,
};
use uuid::Uuid;

use crate::error::Error;
use crate::store::access_audit;
use cache::{DecisionCache, Writing};

/// Records in `tx` that `key` (if any) created `result` (see `ps_db::idempotency`).
async fn remember<C: ConnectionTrait>(
    tx: &C,
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
    db: DatabaseConnection,
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
    pub fn require(&self, allowed: &[PracticeRole], what: &str) -> Result<(), Error> {
        Ok(self.role.require(allowed, what)?)
    }
}

/// One access audit entry.
pub(crate) struct AuditEntry {
    pub action: &'static str,
    pub organisation: Option<Uuid>,
    pub staff: Option<StaffId>,
    pub request_id: Option<String>,
    pub before: serde_json::Value,
    pub after: serde_json::Value,
}

impl OrgAccess {
    pub fn new(db: DatabaseConnection, clock: SharedClock, waker: OutboxWaker) -> Self {
        // Only a database this process alone writes can be cached exactly (see `cache`).
        let decisions = match db.get_database_backend() {
            DatabaseBackend::Sqlite => DecisionCache::on(),
            _ => DecisionCache::off(),
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
    async fn begin(&self) -> Result<(Writing, DatabaseTransaction), Error> {
        let writing = self.writing();
        Ok((writing, self.0.db.begin().await?))
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.0.db
    }

    fn now(&self) -> DateTime<Utc> {
        self.0.clock.now()
    }

    pub(crate) async fn acting(&self, caller: &UserCaller) -> Result<Acting, Error> {
        let member = ps_roster::member_by_user(&self.0.db, caller.practice_id, caller.user_id)
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
    pub(crate) async fn audit<C: ConnectionTrait>(
        &self,
        tx: &C,
        practice: PracticeId,
        actor: &Actor,
        entries: Vec<AuditEntry>,
    ) -> Result<(), Error> {
        if entries.is_empty() {
            return Ok(());
        }
        let now = self.now();
        let rows = entries
            .into_iter()
            .map(|entry| access_audit::ActiveModel {
                id: Set(Uuid::now_v7()),
                practice_id: Set(practice.as_uuid()),
                actor_id: Set(actor.id.clone()),
                actor_name: Set(actor.name.clone()),
                action: Set(entry.action.to_owned()),
                organisation_id: Set(entry.organisation),
                staff_id: Set(entry.staff.map(|s| s.as_uuid())),
                request_id: Set(entry.request_id),
                before: Set(entry.before.to_string()),
                after: Set(entry.after.to_string()),
                occurred_at: Set(now),
            })
            .collect();
        ps_db::insert_all(tx, rows).await?;
        Ok(())
    }

    /// One audit entry.
    pub(crate) async fn audit_one<C: ConnectionTrait>(
        &self,
        tx: &C,
        practice: PracticeId,
        actor: &Actor,
        entry: AuditEntry,
    ) -> Result<(), Error> {
        self.audit(tx, practice, actor, vec![entry]).await
    }

    pub(crate) async fn publish<C: ConnectionTrait>(
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

    pub(crate) fn published(&self) {
        self.0.waker.wake();
    }
}
