//! Staff members: invitations, listing, profile, role, removal, deactivation, locations.

use chrono::Duration;
use ps_auth::UserCaller;
use ps_core::{
    LocationId, Page, PageRequest, PersonName, PracticeId, PracticeRole, RequestKey, StaffId,
    UserId,
};
use ps_db::Tx;
use ps_events::Actor;
use ps_events::Payload;
use ps_events::event::{
    StaffInvited, StaffLeft, StaffLocationsChanged, StaffReactivated, StaffReinvited,
    StaffRoleChanged,
};
use tracing::info;

use super::{Acting, Change, Directory, found, located, remember};
use crate::domain::{
    Invitation, Npi, Practice, ReinviteRefusal, StaffChanges, StaffFilter, StaffMember,
    StaffStatus, TaxonomyCode, invitation_locations, may_invite_again, next_reinvite,
};
use crate::error::Error;
use crate::store;

const STAFF_MANAGERS: [PracticeRole; 3] = PracticeRole::STAFF_MANAGERS;
const OWNER: [PracticeRole; 1] = [PracticeRole::AccountOwner];
const OWNER_OR_MANAGER: [PracticeRole; 2] =
    [PracticeRole::AccountOwner, PracticeRole::AccountManager];

/// A status change: where to, its audit action, the check on the member as found, and the
/// event to publish.
struct Transition<C, E> {
    to: StaffStatus,
    action: &'static str,
    check: C,
    event: E,
}

/// The fields an update changed, before and after, for the audit trail.
#[derive(Default)]
struct Diff {
    before: serde_json::Map<String, serde_json::Value>,
    after: serde_json::Map<String, serde_json::Value>,
}

impl Diff {
    /// Records `key` when `new` differs from `old` and returns the value to store.
    fn change<T: serde::Serialize + PartialEq>(&mut self, key: &str, old: &T, new: T) -> Option<T> {
        if *old == new {
            return None;
        }
        self.before.insert(key.into(), serde_json::json!(old));
        self.after.insert(key.into(), serde_json::json!(new));
        Some(new)
    }

    fn is_empty(&self) -> bool {
        self.after.is_empty()
    }
}

fn chrono(d: std::time::Duration) -> Duration {
    Duration::from_std(d).unwrap_or(Duration::MAX)
}

impl Directory {
    /// Every given location must be one of the practice's, not archived.
    async fn check_locations(
        &self,
        tx: &Tx,
        practice: PracticeId,
        ids: &[LocationId],
    ) -> Result<(), Error> {
        if store::locations::all_usable(tx, practice, ids).await? {
            Ok(())
        } else {
            Err(Error::NotFound("location"))
        }
    }

    /// Writes a Pending member (new, or a declined / removed one invited again) with its
    /// locations, its StaffInvited event and its audit entry, in `tx`.
    pub(super) async fn invite_into(
        &self,
        tx: &Tx,
        practice: &Practice,
        actor: &Actor,
        invitation: Invitation,
    ) -> Result<StaffMember, Error> {
        let location_ids = invitation_locations(
            &invitation.locations,
            invitation.primary_location,
            practice.settings.require_location_for_invites,
        )
        .map_err(|refusal| Error::FailedPrecondition(refusal.into()))?;
        self.check_locations(tx, practice.id, &location_ids).await?;

        let invited = store::members::Invited {
            invitation: &invitation,
            inviter_name: &actor.name,
            at: self.now(),
            location_ids: &location_ids,
        };
        let member = match store::members::lock_by_email(tx, practice.id, &invitation.email).await?
        {
            Some(existing) if !may_invite_again(Some(existing.status)) => {
                return Err(Error::AlreadyMember {
                    email: existing.email.to_string(),
                    staff_id: existing.id.to_string(),
                });
            }
            Some(existing) => store::members::invite_again(tx, existing, invited).await?,
            None => store::members::insert_invited(tx, practice.id, invited).await?,
        };
        self.publish(
            tx,
            practice.id,
            actor,
            Payload::StaffInvited(StaffInvited {
                staff_id: member.id,
                email: invitation.email.clone(),
                name: invitation.name.clone(),
                role: invitation.role,
                practice_name: practice.name.clone(),
                inviter_name: actor.name.clone(),
                location_ids: location_ids.clone(),
            }),
        )
        .await?;
        let change = Change::staff("staff.invited", member.id).before_after(
            serde_json::Value::Null,
            serde_json::json!({
                "email": invitation.email.as_str(),
                "name": invitation.name.as_str(),
                "role": invitation.role.as_str(),
                "external_agent": invitation.external_agent,
                "location_ids": located(&location_ids),
            }),
        );
        self.audit(tx, practice.id, actor, change).await?;
        Ok(member)
    }

    /// A retry with the same request id answers with the member the first request invited.
    pub async fn invite_staff(
        &self,
        caller: &UserCaller,
        invitation: Invitation,
        key: Option<RequestKey>,
    ) -> Result<StaffMember, Error> {
        let key = key.as_ref();
        ps_db::idempotency::run_once(
            self.db(),
            caller.practice_id.as_uuid(),
            "InviteStaff",
            key,
            ps_db::idempotency::reused(key, Error::FailedPrecondition),
            || self.invite_staff_now(caller, invitation, key),
            |id| self.get_staff(caller, StaffId(id)),
        )
        .await
    }

    async fn invite_staff_now(
        &self,
        caller: &UserCaller,
        invitation: Invitation,
        key: Option<&RequestKey>,
    ) -> Result<StaffMember, Error> {
        let acting = self.acting(caller).await?;
        acting.require(&STAFF_MANAGERS, "inviting staff")?;
        acting.require_over(invitation.role, "inviting")?;
        let tx = self.begin().await?;
        let practice = store::practices::get(&tx, caller.practice_id).await?;
        let role = invitation.role;
        let invited = self
            .invite_into(&tx, &practice, &acting.actor, invitation)
            .await?;
        let scope = caller.practice_id.as_uuid();
        remember(&tx, scope, "InviteStaff", key, invited.id.as_uuid()).await?;
        tx.commit().await?;
        self.published();
        info!(practice_id = %caller.practice_id, staff_id = %invited.id, role = role.as_str(), "staff invited");
        Ok(invited)
    }

    /// A retry with the same request id answers with the member instead of reinviting again
    /// (and using up the reinvite limit).
    pub async fn reinvite_staff(
        &self,
        caller: &UserCaller,
        id: StaffId,
        key: Option<RequestKey>,
    ) -> Result<StaffMember, Error> {
        let key = key.as_ref();
        ps_db::idempotency::run_once(
            self.db(),
            caller.practice_id.as_uuid(),
            "ReinviteStaff",
            key,
            ps_db::idempotency::reused(key, Error::FailedPrecondition),
            || self.reinvite_staff_now(caller, id, key),
            |id| self.get_staff(caller, StaffId(id)),
        )
        .await
    }

    async fn reinvite_staff_now(
        &self,
        caller: &UserCaller,
        id: StaffId,
        key: Option<&RequestKey>,
    ) -> Result<StaffMember, Error> {
        let acting = self.acting(caller).await?;
        acting.require(&STAFF_MANAGERS, "reinviting staff")?;
        let now = self.now();
        let tx = self.begin().await?;
        let practice = store::practices::get(&tx, caller.practice_id).await?;
        let mut member = self.member_for_update(&tx, caller.practice_id, id).await?;
        let window = next_reinvite(
            member.status.as_str(),
            now,
            chrono(self.0.settings.reinvite_window),
            self.0.settings.reinvite_limit,
            member.reinvite_window.map(|w| w.started_at),
            member.reinvite_window.map_or(0, |w| w.used),
        )
        .map_err(reinvite_refused)?;
        let before = serde_json::json!({ "invitation_count": member.invitation_count });
        store::members::record_reinvite(&tx, &mut member, now, window).await?;
        let count = member.invitation_count;
        self.publish(
            &tx,
            caller.practice_id,
            &acting.actor,
            Payload::StaffReinvited(StaffReinvited {
                staff_id: id,
                email: member.email.clone(),
                name: PersonName::from_trusted(member.name.clone()),
                role: member.role,
                practice_name: practice.name.clone(),
                inviter_name: acting.actor.name.clone(),
                invitation_count: count,
            }),
        )
        .await?;
        let change = Change::staff("staff.reinvited", id)
            .before_after(before, serde_json::json!({ "invitation_count": count }));
        self.audit(&tx, caller.practice_id, &acting.actor, change)
            .await?;
        let scope = caller.practice_id.as_uuid();
        remember(&tx, scope, "ReinviteStaff", key, id.as_uuid()).await?;
        tx.commit().await?;
        self.published();
        Ok(member)
    }

    pub async fn list_staff(
        &self,
        caller: &UserCaller,
        filter: StaffFilter,
        page: PageRequest,
    ) -> Result<Page<StaffMember>, Error> {
        self.acting(caller).await?;
        store::members::list(self.db(), caller.practice_id, &filter, &page).await
    }

    /// Another service reading a practice's roster (the caller's scope and practice limit
    /// were checked at the edge).
    pub async fn list_practice_staff(
        &self,
        practice: PracticeId,
        filter: StaffFilter,
        page: PageRequest,
    ) -> Result<Page<StaffMember>, Error> {
        store::practices::get(self.db(), practice).await?;
        store::members::list(self.db(), practice, &filter, &page).await
    }

    /// Another service reading one member.
    pub async fn get_practice_staff(
        &self,
        practice: PracticeId,
        id: StaffId,
    ) -> Result<StaffMember, Error> {
        found(
            store::members::get(self.db(), practice, id).await?,
            "staff member",
        )
    }

    pub async fn get_staff(&self, caller: &UserCaller, id: StaffId) -> Result<StaffMember, Error> {
        self.acting(caller).await?;
        self.get_practice_staff(caller.practice_id, id).await
    }

    pub async fn update_staff(
        &self,
        caller: &UserCaller,
        id: StaffId,
        changes: StaffChanges,
    ) -> Result<StaffMember, Error> {
        let acting = self.acting(caller).await?;
        let own = acting.member.id == id;
        if !own {
            acting.require(&STAFF_MANAGERS, "changing another member's profile")?;
        } else if !changes.only_own_profile() {
            acting.require(&STAFF_MANAGERS, "marking external agents")?;
        }
        let tx = self.begin().await?;
        let mut member = self.member_for_update(&tx, caller.practice_id, id).await?;
        if member.status == StaffStatus::Removed {
            return Err(Error::FailedPrecondition(
                "a removed member's profile cannot be changed".into(),
            ));
        }
        let diff = apply_changes(&mut member, changes);
        if !diff.is_empty() {
            store::members::save_profile(&tx, &member).await?;
            let change = Change::staff("staff.updated", id).before_after(
                serde_json::Value::Object(diff.before),
                serde_json::Value::Object(diff.after),
            );
            self.audit(&tx, caller.practice_id, &acting.actor, change)
                .await?;
        }
        tx.commit().await?;
        Ok(member)
    }

    pub async fn change_role(
        &self,
        caller: &UserCaller,
        id: StaffId,
        role: PracticeRole,
    ) -> Result<StaffMember, Error> {
        let acting = self.acting(caller).await?;
        acting.require(&OWNER, "changing a practice role")?;
        let tx = self.begin().await?;
        store::practices::lock(&tx, caller.practice_id).await?;
        let mut member = self.member_for_update(&tx, caller.practice_id, id).await?;
        if matches!(
            member.status,
            StaffStatus::Declined
                | StaffStatus::Removed
                | StaffStatus::Offboarding
                | StaffStatus::Offboarded
        ) {
            return Err(Error::FailedPrecondition(format!(
                "the role of a {} member cannot change",
                member.status.as_str()
            )));
        }
        let from = member.role;
        if from == role {
            return Ok(member);
        }
        if role != PracticeRole::AccountOwner {
            self.keep_an_owner(&tx, &member).await?;
        }
        store::members::set_role(&tx, &mut member, role).await?;
        self.publish(
            &tx,
            caller.practice_id,
            &acting.actor,
            Payload::StaffRoleChanged(StaffRoleChanged {
                staff_id: id,
                user_id: member.user_id,
                from,
                to: role,
            }),
        )
        .await?;
        let change = Change::staff("staff.role_changed", id).before_after(
            serde_json::json!({ "role": from.as_str() }),
            serde_json::json!({ "role": role.as_str() }),
        );
        self.audit(&tx, caller.practice_id, &acting.actor, change)
            .await?;
        tx.commit().await?;
        self.published();
        Ok(member)
    }

    /// Moves a member to a new status with its event and audit entry.
    async fn change_status<C, E>(
        &self,
        acting: &Acting,
        practice: PracticeId,
        id: StaffId,
        transition: Transition<C, E>,
    ) -> Result<StaffMember, Error>
    where
        C: FnOnce(&Acting, &StaffMember) -> Result<(), Error>,
        E: FnOnce(StaffId, Option<UserId>, PracticeRole) -> Payload,
    {
        let Transition {
            to,
            action,
            check,
            event,
        } = transition;
        let tx = self.begin().await?;
        store::practices::lock(&tx, practice).await?;
        let mut member = self.member_for_update(&tx, practice, id).await?;
        let from = member.status;
        check(acting, &member)?;
        if to != StaffStatus::Active {
            self.keep_an_owner(&tx, &member).await?;
        }
        store::members::set_status(&tx, &mut member, to, self.now()).await?;
        self.publish(
            &tx,
            practice,
            &acting.actor,
            event(id, member.user_id, member.role),
        )
        .await?;
        let change = Change::staff(action, id).before_after(
            serde_json::json!({ "status": from.as_str() }),
            serde_json::json!({ "status": to.as_str() }),
        );
        self.audit(&tx, practice, &acting.actor, change).await?;
        tx.commit().await?;
        self.published();
        info!(practice_id = %practice, staff_id = %id, status = to.as_str(), "member status changed");
        Ok(member)
    }

    pub async fn remove_staff(
        &self,
        caller: &UserCaller,
        id: StaffId,
    ) -> Result<StaffMember, Error> {
        let acting = self.acting(caller).await?;
        acting.require(&OWNER, "removing staff")?;
        let transition = Transition {
            to: StaffStatus::Removed,
            action: "staff.removed",
            check: |_: &Acting, member: &StaffMember| match member.status {
                StaffStatus::Removed => Err(Error::FailedPrecondition(
                    "this member was already removed".into(),
                )),
                StaffStatus::Offboarding | StaffStatus::Offboarded => {
                    Err(Error::FailedPrecondition(format!(
                        "this member is {}: their work was handed to a replacement",
                        member.status.as_str()
                    )))
                }
                _ => Ok(()),
            },
            event: |staff_id, user_id, _| Payload::StaffRemoved(StaffLeft { staff_id, user_id }),
        };
        self.change_status(&acting, caller.practice_id, id, transition)
            .await
    }

    pub async fn deactivate_staff(
        &self,
        caller: &UserCaller,
        id: StaffId,
    ) -> Result<StaffMember, Error> {
        let acting = self.acting(caller).await?;
        acting.require(&OWNER_OR_MANAGER, "deactivating staff")?;
        let transition = Transition {
            to: StaffStatus::Deactivated,
            action: "staff.deactivated",
            check: |acting: &Acting, member: &StaffMember| {
                if member.status != StaffStatus::Active {
                    return Err(Error::FailedPrecondition(format!(
                        "only Active members can be deactivated; this member is {}",
                        member.status.as_str()
                    )));
                }
                acting.require_over(member.role, "deactivating")
            },
            event: |staff_id, user_id, _| {
                Payload::StaffDeactivated(StaffLeft { staff_id, user_id })
            },
        };
        self.change_status(&acting, caller.practice_id, id, transition)
            .await
    }

    pub async fn reactivate_staff(
        &self,
        caller: &UserCaller,
        id: StaffId,
    ) -> Result<StaffMember, Error> {
        let acting = self.acting(caller).await?;
        acting.require(&OWNER_OR_MANAGER, "reactivating staff")?;
        let transition = Transition {
            to: StaffStatus::Active,
            action: "staff.reactivated",
            check: |acting: &Acting, member: &StaffMember| {
                if member.status != StaffStatus::Deactivated {
                    return Err(Error::FailedPrecondition(format!(
                        "only Deactivated members can be reactivated; this member is {}",
                        member.status.as_str()
                    )));
                }
                acting.require_over(member.role, "reactivating")
            },
            event: |staff_id, user_id, role| {
                Payload::StaffReactivated(StaffReactivated {
                    staff_id,
                    user_id,
                    role,
                })
            },
        };
        self.change_status(&acting, caller.practice_id, id, transition)
            .await
    }

    pub async fn set_staff_locations(
        &self,
        caller: &UserCaller,
        id: StaffId,
        mut location_ids: Vec<LocationId>,
    ) -> Result<StaffMember, Error> {
        let acting = self.acting(caller).await?;
        acting.require(&STAFF_MANAGERS, "changing a member's locations")?;
        let tx = self.begin().await?;
        let mut member = self.member_for_update(&tx, caller.practice_id, id).await?;
        if member.status == StaffStatus::Removed {
            return Err(Error::FailedPrecondition(
                "a removed member's locations cannot change".into(),
            ));
        }
        location_ids.extend(member.primary_location_id);
        location_ids.sort();
        location_ids.dedup();
        self.check_locations(&tx, caller.practice_id, &location_ids)
            .await?;
        if member.location_ids != location_ids {
            store::members::replace_locations(&tx, caller.practice_id, id, &location_ids).await?;
            let before = std::mem::replace(&mut member.location_ids, location_ids.clone());
            self.publish(
                &tx,
                caller.practice_id,
                &acting.actor,
                Payload::StaffLocationsChanged(StaffLocationsChanged {
                    staff_id: id,
                    location_ids: location_ids.clone(),
                }),
            )
            .await?;
            let change = Change::staff("staff.locations_changed", id).before_after(
                serde_json::json!({ "location_ids": located(&before) }),
                serde_json::json!({ "location_ids": located(&location_ids) }),
            );
            self.audit(&tx, caller.practice_id, &acting.actor, change)
                .await?;
        }
        tx.commit().await?;
        self.published();
        Ok(member)
    }

    /// Notification gave up on an invitation e-mail: a Pending member whose latest invitation
    /// it was shows it as failed (with the reason), so a manager knows to reinvite. A failure
    /// of an older invitation than the latest changes nothing. Returns whether it applied.
    pub async fn invitation_failed(
        &self,
        tx: &Tx,
        practice_id: PracticeId,
        actor: &Actor,
        failed: &ps_events::event::DeliveryFailed,
    ) -> Result<bool, Error> {
        let Some(staff_id) = failed.staff_id else {
            return Ok(false);
        };
        let reason: String = failed.reason.chars().take(500).collect();
        let changed = store::members::mark_invitation_failed(
            tx,
            practice_id,
            staff_id,
            &reason,
            failed.requested_at,
            self.now(),
        )
        .await?;
        if changed {
            let change = Change::staff("invitation.delivery_failed", staff_id).before_after(
                serde_json::Value::Null,
                serde_json::json!({ "recipient": failed.recipient.as_str(), "reason": reason }),
            );
            self.audit(tx, practice_id, actor, change).await?;
        }
        Ok(changed)
    }

    /// Moves a Pending member to `to` in `tx` when identity reports the invitee's answer;
    /// returns whether it changed anything (not for a replayed or outdated answer).
    pub async fn answer_invitation(
        &self,
        tx: &Tx,
        practice_id: PracticeId,
        staff_id: StaffId,
        invitee: &Actor,
        user_id: UserId,
        to: StaffStatus,
    ) -> Result<bool, Error> {
        let changed =
            store::members::answer_invitation(tx, practice_id, staff_id, user_id, to, self.now())
                .await?;
        if changed {
            let action = if to == StaffStatus::Active {
                "invitation.accepted"
            } else {
                "invitation.declined"
            };
            let change = Change::staff(action, staff_id).before_after(
                serde_json::json!({ "status": StaffStatus::Pending.as_str() }),
                serde_json::json!({ "status": to.as_str() }),
            );
            self.audit(tx, practice_id, invitee, change).await?;
        }
        Ok(changed)
    }
}

/// Why a reinvite is refused, as the caller sees it.
fn reinvite_refused(refusal: ReinviteRefusal) -> Error {
    match refusal {
        ReinviteRefusal::NotPending(status) => Error::FailedPrecondition(format!(
            "only Pending members can be reinvited; this member is {status}"
        )),
        ReinviteRefusal::Limited {
            used,
            window,
            retry_after,
        } => Error::RateLimited {
            what: format!(
                "this member was reinvited {used} times in the last {} minutes",
                window.num_minutes()
            ),
            retry_after,
        },
    }
}

/// Applies UpdateStaff's changes to the member; the fields that changed, before and after.
fn apply_changes(member: &mut StaffMember, changes: StaffChanges) -> Diff {
    let mut diff = Diff::default();
    let provider = &mut member.provider;
    if let Some(name) = changes.name
        && let Some(name) = diff.change("name", &member.name, name.to_string())
    {
        member.name = name;
    }
    if let Some(external) = changes.external_agent
        && let Some(external) = diff.change("external_agent", &member.external_agent, external)
    {
        member.external_agent = external;
    }
    // The audit trail shows identifiers as the text they are stored as.
    let text = |v: &Option<Npi>| v.as_ref().map(|n| n.as_str().to_owned());
    if let Some(npi) = changes.npi
        && diff
            .change("npi", &text(&provider.npi), text(&npi))
            .is_some()
    {
        provider.npi = npi;
    }
    let code = |v: &Option<TaxonomyCode>| v.as_ref().map(|c| c.as_str().to_owned());
    if let Some(new) = changes.taxonomy_code
        && diff
            .change("taxonomy_code", &code(&provider.taxonomy_code), code(&new))
            .is_some()
    {
        provider.taxonomy_code = new;
    }
    if let Some(bio) = changes.bio
        && let Some(bio) = diff.change("bio", &provider.bio, bio)
    {
        provider.bio = bio;
    }
    if let Some(capacity) = changes.capacity
        && let Some(capacity) = diff.change("capacity", &provider.capacity, capacity)
    {
        provider.capacity = capacity;
    }
    if let Some(step) = changes.scheduling_step_minutes
        && let Some(step) = diff.change(
            "scheduling_step_minutes",
            &provider.scheduling_step_minutes,
            step,
        )
    {
        provider.scheduling_step_minutes = step;
    }
    diff
}
