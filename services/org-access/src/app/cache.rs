//! Decisions remembered between writes, for a database only this process writes (SQLite).
//!
//! Exactness comes from a write guard, not from expiry: every write to org-access's tables
//! (a use case's transaction, an event applied to the roster and memberships) holds a
//! [`Writing`] guard from before it begins until after it has committed or rolled back. Taking
//! the guard and dropping it both forget every remembered decision and move the generation on.
//! A decision read from the database is remembered only if no write was in progress when the
//! read began and the generation has not moved since, so an answer computed from data a write
//! then changed is never kept. While a write is in progress nothing is answered from memory.
//!
//! With several processes writing one database (PostgreSQL, several replicas) a process
//! cannot see the others' writes, so the cache is off there and every decision is read.
//!
//! Hand-rolled rather than a caching crate (moka, quick_cache) because the rule that makes it
//! exact is "insert only if the generation is unchanged", which those crates do not offer; the
//! state is a map, a counter and a count of writes in progress behind one mutex.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use ps_core::{LocationId, OrganisationId, PracticeId, UserId};

use crate::domain::{AccessQuery, Decision};

/// At most this many decisions are remembered; when full the map starts again empty.
const CAPACITY: usize = 65_536;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    user: UserId,
    organisation_id: OrganisationId,
    permission: String,
    location_id: Option<LocationId>,
    practice: Option<PracticeId>,
}

impl Key {
    pub(super) fn new(user: UserId, query: &AccessQuery, practice: Option<PracticeId>) -> Self {
        Self {
            user,
            organisation_id: query.organisation_id,
            permission: query.permission.clone(),
            location_id: query.location_id,
            practice,
        }
    }
}

#[derive(Default)]
struct State {
    generation: u64,
    writing: usize,
    decisions: HashMap<Key, Decision>,
}

impl State {
    fn forget(&mut self) {
        self.generation += 1;
        self.decisions.clear();
    }
}

/// The decision cache; `off` answers nothing and remembers nothing.
#[derive(Clone)]
pub(crate) struct DecisionCache(Option<Arc<Mutex<State>>>);

/// What a read must show to remember its answer: the generation when it began.
pub(crate) struct ReadTicket(u64);

impl DecisionCache {
    pub(super) fn on() -> Self {
        Self(Some(Arc::default()))
    }

    pub(super) fn off() -> Self {
        Self(None)
    }

    fn state(state: &Mutex<State>) -> MutexGuard<'_, State> {
        // The state is consistent after any panic (every change is one assignment or a clear).
        state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The remembered decision, or a ticket to remember the one about to be read (none while a
    /// write is in progress or when the cache is off).
    pub(super) fn lookup(&self, key: &Key) -> Result<Decision, Option<ReadTicket>> {
        let Some(state) = &self.0 else {
            return Err(None);
        };
        let state = Self::state(state);
        if state.writing > 0 {
            return Err(None);
        }
        match state.decisions.get(key) {
            Some(decision) => Ok(decision.clone()),
            None => Err(Some(ReadTicket(state.generation))),
        }
    }

    /// Remembers a decision read under `ticket`, unless a write began since.
    pub(super) fn remember(&self, ticket: ReadTicket, key: Key, decision: &Decision) {
        let Some(state) = &self.0 else { return };
        let mut state = Self::state(state);
        if state.writing > 0 || state.generation != ticket.0 {
            return;
        }
        if state.decisions.len() >= CAPACITY {
            state.decisions.clear();
        }
        state.decisions.insert(key, decision.clone());
    }

    /// Marks a write in progress until the guard is dropped; hold it across the commit.
    pub(super) fn writing(&self) -> Writing {
        if let Some(state) = &self.0 {
            let mut state = Self::state(state);
            state.writing += 1;
            state.forget();
        }
        Writing(self.0.clone())
    }
}

/// A write in progress (see the module documentation).
#[must_use = "hold the guard until the write has committed"]
pub(crate) struct Writing(Option<Arc<Mutex<State>>>);

impl Drop for Writing {
    fn drop(&mut self) {
        if let Some(state) = &self.0 {
            let mut state = DecisionCache::state(state);
            state.writing -= 1;
            state.forget();
        }
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;
    use crate::domain::DecisionReason;

    fn key() -> Key {
        let query = AccessQuery {
            organisation_id: OrganisationId::generate(),
            permission: "documents.read".into(),
            location_id: None,
        };
        Key::new(UserId(Uuid::now_v7()), &query, None)
    }

    fn allowed() -> Decision {
        Decision {
            reason: DecisionReason::Allowed,
            explanation: "yes".into(),
            staff_id: None,
            membership_id: None,
            role_id: None,
            role_name: None,
        }
    }

    /// The ticket of a read that finds nothing remembered and no write in progress.
    fn fresh_ticket(cache: &DecisionCache, key: &Key) -> ReadTicket {
        match cache.lookup(key) {
            Err(Some(ticket)) => ticket,
            Ok(_) => panic!("expected nothing remembered"),
            Err(None) => panic!("expected no write in progress"),
        }
    }

    #[test]
    fn a_read_is_remembered_until_a_write_begins() {
        let cache = DecisionCache::on();
        let key = key();
        let ticket = fresh_ticket(&cache, &key);
        cache.remember(ticket, key.clone(), &allowed());
        assert_eq!(cache.lookup(&key).ok(), Some(allowed()));

        let writing = cache.writing();
        assert!(
            matches!(cache.lookup(&key), Err(None)),
            "nothing while writing"
        );
        drop(writing);
        fresh_ticket(&cache, &key); // forgotten
    }

    #[test]
    fn a_read_that_overlapped_a_write_is_not_remembered() {
        let cache = DecisionCache::on();
        let key = key();
        // Read begins, a write starts and commits, then the read's answer arrives.
        let ticket = fresh_ticket(&cache, &key);
        drop(cache.writing());
        cache.remember(ticket, key.clone(), &allowed());
        assert!(matches!(cache.lookup(&key), Err(Some(_))));

        // Read begins, a write starts, the answer arrives while it is still in progress.
        let ticket = fresh_ticket(&cache, &key);
        let writing = cache.writing();
        cache.remember(ticket, key.clone(), &allowed());
        drop(writing);
        assert!(matches!(cache.lookup(&key), Err(Some(_))));
    }

    #[test]
    fn off_remembers_nothing() {
        let cache = DecisionCache::off();
        let key = key();
        assert!(matches!(cache.lookup(&key), Err(None)));
        let _writing = cache.writing();
    }
}
