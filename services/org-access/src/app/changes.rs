//! Access changesets (one member → many organisations, many members → one organisation),
//! the acceptance setting, and members answering organisation invitations.
//!
//! A changeset is planned in full before anything is written: every entry is checked (shape,
//! existence in the caller's practice, state), the first problem fails the whole call naming the
//! entry, and the plan is then applied in the same transaction. A preview returns the plan and
//! rolls back. The request id is claimed first in the transaction, so a concurrent retry waits
//! for the first attempt and then returns its stored result.

use std::collections::BTreeMap;

use ps_auth::UserCaller;
use ps_core::{Email, LocationId, OrganisationId, PersonName, PracticeId, RoleId, StaffId};
use ps_db::Tx;
use ps_events::Payload;
use ps_events::event::OrgAccessInvited;
use sha2::{Digest, Sha256};
use tracing::info;
use uuid::Uuid;

use super::{ADMINS, Acting, AuditEntry, MANAGERS, OrgAccess};
use crate::domain::{
    AccessChange, AccessChangeResult, AccessEntry, Changeset, Membership, MembershipStatus, Plan,
    check_changeset_shape, plan_changeset,
};
use crate::error::Error;
use crate::store;
use crate::store::memberships::NewMembership;

/// The organisation invitations a changeset sends: one per member offered organisations that
/// need accepting, with its id and the organisations' names.
type Invitations = BTreeMap<StaffId, (Uuid, Vec<String>)>;

impl OrgAccess {
    pub async fn access_settings(&self, caller: &UserCaller) -> Result<bool, Error> {
        self.acting(caller).await?;
        store::settings::require_acceptance(&self.0.db, caller.practice_id).await
    }

    pub async fn update_access_settings(
        &self,
        caller: &UserCaller,
        require_acceptance: bool,
    ) -> Result<bool, Error> {
        let acting = self.acting(caller).await?;
        acting.require(&ADMINS, "changing access settings")?;
        let practice = caller.practice_id;
        let (_writing, tx) = self.begin().await?;
        let before = store::settings::require_acceptance(&tx, practice).await?;
        if before != require_acceptance {
            store::settings::set_require_acceptance(&tx, practice, require_acceptance).await?;
            let entry = AuditEntry::new(
                "settings.changed",
                serde_json::json!({ "require_acceptance": before }),
                serde_json::json!({ "require_acceptance": require_acceptance }),
            );
            self.audit_one(&tx, practice, &acting.actor, entry).await?;
        }
        tx.commit().await?;
        Ok(require_acceptance)
    }

    /// Applies (or previews) a changeset.
    pub async fn change_access(
        &self,
        caller: &UserCaller,
        changeset: Changeset,
    ) -> Result<AccessChangeResult, Error> {
        let acting = self.acting(caller).await?;
        acting.require(&MANAGERS, "managing access")?;
        let fingerprint = hex(&Sha256::digest(
            serde_json::to_vec(&changeset).map_err(|e| Error::Internal(e.to_string()))?,
        ));
        let practice = caller.practice_id;
        let request_id = &changeset.request_id;
        let (_writing, tx) = self.begin().await?;
        if !changeset.preview
            && let Some(earlier) =
                store::changes::claim(&tx, practice, request_id, &fingerprint, self.now()).await?
        {
            if earlier.fingerprint != fingerprint {
                return Err(Error::FailedPrecondition(format!(
                    "request id {request_id} was already used for a different changeset"
                )));
            }
            return earlier.result();
        }
        let plan = self.plan(&tx, practice, &changeset).await?;
        if changeset.preview {
            return Ok(plan.result(request_id, false, Vec::new()));
        }
        let invitations = self.apply(&tx, &acting, request_id, &plan).await?;
        let result = plan.result(request_id, true, invitations);
        store::changes::record_result(&tx, practice, request_id, &result).await?;
        tx.commit().await?;
        self.published();
        info!(
            %practice,
            %request_id,
            added = result.added.len(),
            changed = result.changed.len(),
            removed = result.removed.len(),
            "access changed"
        );
        Ok(result)
    }

    /// Checks every entry and works out what it changes: the shape first, then one load
    /// step of what the changeset names in the practice (`store::changes::facts`), then the
    /// rule (`domain::plan_changeset`). Nothing is written but the built-in roles.
    async fn plan(
        &self,
        tx: &Tx,
        practice: PracticeId,
        changeset: &Changeset,
    ) -> Result<Plan, Error> {
        store::roles::ensure_built_in(tx, practice, self.now()).await?;
        check_changeset_shape(changeset)?;
        let facts = store::changes::facts(tx, practice, changeset).await?;
        Ok(plan_changeset(changeset, &facts)?)
    }

    /// Writes a plan: revocations, changes, new memberships (with one invitation per member
    /// when acceptance is needed), their audit entries and invitation events; the invitations'
    /// ids.
    async fn apply(
        &self,
        tx: &Tx,
        acting: &Acting,
        request_id: &str,
        plan: &Plan,
    ) -> Result<Vec<Uuid>, Error> {
        let practice = acting.practice;
        let now = self.now();
        let revoked: Vec<Uuid> = plan.removed.iter().filter_map(|p| p.existing).collect();
        store::memberships::revoke(tx, practice, &revoked, now).await?;
        apply_changes(tx, practice, plan).await?;
        let invitations = invitations(plan);
        let offers: Vec<(Uuid, StaffId)> = invitations
            .iter()
            .map(|(staff, (id, _))| (*id, *staff))
            .collect();
        store::changes::invite(tx, practice, &offers, &acting.actor.name, now).await?;
        store::memberships::add(tx, practice, new_memberships(plan, &invitations), now).await?;
        self.audit(tx, practice, &acting.actor, audit_entries(plan, request_id))
            .await?;
        self.announce(tx, acting, &invitations).await?;
        Ok(invitations.values().map(|(id, _)| *id).collect())
    }

    /// One OrgAccessInvited event per invitation, for the e-mails: the roster knows each
    /// member's address and name.
    async fn announce(
        &self,
        tx: &Tx,
        acting: &Acting,
        invitations: &Invitations,
    ) -> Result<(), Error> {
        let practice = acting.practice;
        let offered: Vec<StaffId> = invitations.keys().copied().collect();
        let people = store::roster::members_by_id(tx, practice, &offered).await?;
        for (staff, (invitation, organisation_names)) in invitations {
            let Some(person) = people.get(staff) else {
                continue;
            };
            self.publish(
                tx,
                practice,
                &acting.actor,
                Payload::OrgAccessInvited(OrgAccessInvited {
                    invitation_id: *invitation,
                    staff_id: *staff,
                    email: Email::from_trusted(person.email.clone()),
                    name: PersonName::from_trusted(person.name.clone()),
                    organisation_names: organisation_names.clone(),
                    inviter_name: acting.actor.name.clone(),
                }),
            )
            .await?;
        }
        Ok(())
    }

    /// The caller's organisation invitations still awaiting an answer.
    pub async fn my_org_invitations(&self, caller: &UserCaller) -> Result<Vec<Membership>, Error> {
        let acting = self.acting(caller).await?;
        store::memberships::invitations_of(&self.0.db, caller.practice_id, acting.staff_id).await
    }

    /// The invited member accepts or declines one organisation.
    pub async fn answer_org_invitation(
        &self,
        caller: &UserCaller,
        membership: Uuid,
        accept: bool,
    ) -> Result<Membership, Error> {
        let acting = self.acting(caller).await?;
        let to = if accept {
            MembershipStatus::Active
        } else {
            MembershipStatus::Declined
        };
        let (practice, staff) = (caller.practice_id, acting.staff_id);
        let (_writing, tx) = self.begin().await?;
        let invitation = store::memberships::of_member(&tx, practice, staff, membership)
            .await?
            .ok_or(Error::NotFound("organisation invitation"))?;
        if !store::memberships::answer(&tx, practice, membership, to, self.now()).await? {
            return Err(Error::FailedPrecondition(format!(
                "this organisation invitation is no longer open (it is {})",
                invitation.status.as_str()
            )));
        }
        let entry = AuditEntry {
            action: if accept {
                "membership.accepted"
            } else {
                "membership.declined"
            },
            organisation: Some(invitation.organisation_id),
            staff: Some(staff),
            request_id: None,
            before: serde_json::json!({ "status": MembershipStatus::Invited.as_str() }),
            after: serde_json::json!({ "status": to.as_str() }),
        };
        self.audit_one(&tx, practice, &acting.actor, entry).await?;
        let answered = store::memberships::of_member(&tx, practice, staff, membership)
            .await?
            .ok_or_else(|| Error::Internal("membership vanished".into()))?;
        tx.commit().await?;
        Ok(answered)
    }
}

/// The plan's changed memberships: their new roles and location limits.
async fn apply_changes(tx: &Tx, practice: PracticeId, plan: &Plan) -> Result<(), Error> {
    for p in &plan.changed {
        let id = p
            .existing
            .ok_or_else(|| Error::Internal("a change without its membership".into()))?;
        store::memberships::change_role(tx, practice, id, p.role).await?;
    }
    let limits: Vec<(Uuid, Vec<LocationId>)> = plan
        .changed
        .iter()
        .filter_map(|p| Some((p.existing?, p.locations.clone())))
        .collect();
    store::memberships::set_limits(tx, practice, &limits).await
}

/// One invitation per member offered organisations, when the practice requires acceptance.
fn invitations(plan: &Plan) -> Invitations {
    let mut invitations = Invitations::new();
    if plan.needs_acceptance {
        for p in &plan.added {
            invitations
                .entry(p.change.staff_id)
                .or_insert_with(|| (Uuid::now_v7(), Vec::new()))
                .1
                .push(p.organisation_name.clone());
        }
    }
    invitations
}

/// The plan's new memberships, each with its member's invitation (if any).
fn new_memberships(plan: &Plan, invitations: &Invitations) -> Vec<NewMembership> {
    plan.added
        .iter()
        .map(|p| NewMembership {
            organisation_id: p.change.organisation_id,
            staff_id: p.change.staff_id,
            role_id: p.role,
            status: p.change.status_after.unwrap_or(MembershipStatus::Active),
            invitation_id: invitations.get(&p.change.staff_id).map(|(id, _)| *id),
            location_ids: p.locations.clone(),
        })
        .collect()
}

/// A membership's state as the audit trail shows it.
fn state(
    role: Option<RoleId>,
    locations: &[Uuid],
    status: Option<MembershipStatus>,
) -> serde_json::Value {
    serde_json::json!({ "role_id": role, "location_ids": locations, "status": status.map(MembershipStatus::as_str) })
}

/// One entry per membership revoked, changed and added, in that order.
fn audit_entries(plan: &Plan, request_id: &str) -> Vec<AuditEntry> {
    let entry = |action: &'static str, change: &AccessChange, before, after| AuditEntry {
        action,
        organisation: Some(change.organisation_id),
        staff: Some(change.staff_id),
        request_id: Some(request_id.to_owned()),
        before,
        after,
    };
    let removed = plan.removed.iter().map(|p| {
        let c = &p.change;
        entry(
            "membership.revoked",
            c,
            state(c.role_before, &c.locations_before, c.status_before),
            state(c.role_before, &c.locations_before, c.status_after),
        )
    });
    let changed = plan.changed.iter().map(|p| {
        let c = &p.change;
        entry(
            "membership.changed",
            c,
            state(c.role_before, &c.locations_before, c.status_before),
            state(c.role_after, &c.locations_after, c.status_after),
        )
    });
    let added = plan.added.iter().map(|p| {
        let c = &p.change;
        entry(
            "membership.added",
            c,
            serde_json::Value::Null,
            state(c.role_after, &c.locations_after, c.status_after),
        )
    });
    removed.chain(changed).chain(added).collect()
}

/// A changeset entry as the edge builds it.
pub fn entry(
    field: String,
    organisation_id: OrganisationId,
    staff_id: StaffId,
    role_id: Option<RoleId>,
    location_ids: Vec<LocationId>,
    remove: bool,
) -> AccessEntry {
    AccessEntry {
        field,
        organisation_id,
        staff_id,
        role_id,
        location_ids,
        remove,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
