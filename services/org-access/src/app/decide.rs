//! "May this user do P in organisation O?", answered from org-access's own tables: the
//! organisation, the roster, the membership, its role's permissions and location limits, read
//! by the store in one query (one round trip; every join follows an index), plus the location
//! limits only when the question names a location; then decided by the rule.

use ps_auth::UserCaller;
use ps_core::{PracticeId, UserId};

use super::cache::Key;
use super::{MANAGERS, OrgAccess};
use crate::domain::{AccessQuery, Decision, DecisionReason, decide_access};
use crate::error::Error;
use crate::store;

impl OrgAccess {
    /// Decides one query. `practice` scopes the organisation to the caller's practice (for
    /// people asking); internal callers pass `None`. Answered from the decision cache when
    /// nothing was written since the same question was read (see `cache`).
    pub async fn decide(
        &self,
        user: UserId,
        query: &AccessQuery,
        practice: Option<PracticeId>,
    ) -> Result<Decision, Error> {
        let key = Key::new(user, query, practice);
        let ticket = match self.0.decisions.lookup(&key) {
            Ok(decision) => return Ok(decision),
            Err(ticket) => ticket,
        };
        let decision = self.read_decision(user, query, practice).await?;
        if let Some(ticket) = ticket {
            self.0.decisions.remember(ticket, key, &decision);
        }
        Ok(decision)
    }

    /// Load, then decide: the facts of one question (`store::access::facts`: one indexed
    /// query, and the location limits only for a question about a location of a user who has
    /// a membership there), then the rule `domain::decide_access`.
    async fn read_decision(
        &self,
        user: UserId,
        query: &AccessQuery,
        practice: Option<PracticeId>,
    ) -> Result<Decision, Error> {
        let Some(facts) = store::access::facts(&self.0.db, user, query, practice).await? else {
            if practice.is_some() {
                return Err(Error::NotFound("organisation"));
            }
            return Ok(Decision::denied(
                DecisionReason::UnknownOrganisation,
                "no such organisation",
            ));
        };
        Ok(decide_access(&facts, &query.permission))
    }

    /// For staff managers: why a user of the caller's practice may or may not act.
    pub async fn explain(
        &self,
        caller: &UserCaller,
        user: UserId,
        query: &AccessQuery,
    ) -> Result<Decision, Error> {
        let acting = self.acting(caller).await?;
        acting.require(&MANAGERS, "explaining access")?;
        self.decide(user, query, Some(caller.practice_id)).await
    }
}
