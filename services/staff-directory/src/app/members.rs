//! Staff members: invitations, listing, profile, role, removal, deactivation, locations.

use chrono::Duration;
use ps_auth::UserCaller;
use ps_core::{
    LocationId, Page, PageRequest, PracticeId, PracticeRole, RequestKey, StaffId, UserId,
};
use ps_db::tenancy::InPractice;
use ps_events::Actor;
use ps_events::Payload;
use ps_events::event::{
    StaffInvited, StaffLeft, StaffLocationsChanged, StaffReactivated, StaffReinvited,
    StaffRoleChanged,
};
use sea_orm::sea_query::{Expr, ExprTrait, Func, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, IntoActiveModel,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait,
};
use tracing::info;

use super::{Acting, Directory, located, remember, stored_role, stored_status};
use crate::domain::{
    CertificationStatus, Invitation, ReinviteRefusal, StaffChanges, StaffFilter, StaffMember,
    StaffStatus, invitation_locations, may_invite_again, next_reinvite,
};
use crate::error::Error;
use crate::store::{locations, practices, staff_locations, staff_members};

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
    async fn check_locations<C: ConnectionTrait>(
        &self,
        conn: &C,
        practice: PracticeId,
        ids: &[LocationId],
    ) -> Result<(), Error> {
        if ids.is_empty() {
            return Ok(());
        }
        let found = locations::Entity::find()
            .in_practice(practice)
            .filter(locations::Column::Id.is_in(ids.iter().map(|l| l.as_uuid())))
            .filter(locations::Column::ArchivedAt.is_null())
            .count(conn)
            .await?;
        if usize::try_from(found).unwrap_or(0) != ids.len() {
            return Err(Error::NotFound("location"));
        }
        Ok(())
    }

    /// Writes a Pending member (new, or a declined / removed one invited again) with its
    /// locations, its StaffInvited event and its audit entry, in `tx`.
    pub(super) async fn invite_into<C: ConnectionTrait>(
        &self,
        tx: &C,
        practice: &practices::Model,
        actor: &Actor,
        invitation: Invitation,
    ) -> Result<staff_members::Model, Error> {
        let practice_id = PracticeId(practice.id);
        let location_ids = invitation_locations(
            &invitation.locations,
            invitation.primary_location,
            practice.require_location_for_invites,
        )
        .map_err(|refusal| Error::FailedPrecondition(refusal.into()))?;
        self.check_locations(tx, practice_id, &location_ids).await?;

        let now = self.now();
        let existing = staff_members::Entity::find()
            .filter(staff_members::Column::PracticeId.eq(practice.id))
            .filter(staff_members::Column::Email.eq(invitation.email.as_str()))
            .lock_exclusive()
            .one(tx)
            .await?;
        let row = match existing {
            Some(existing) if !may_invite_again(StaffStatus::parse(&existing.status)) => {
                return Err(Error::AlreadyMember {
                    email: existing.email,
                    staff_id: existing.id.to_string(),
                });
            }
            Some(existing) => {
                let invitation_count = existing.invitation_count + 1;
                let mut again = existing.into_active_model();
                again.name = Set(invitation.name.to_string());
                again.role = Set(invitation.role.as_str().to_owned());
                again.status = Set(StaffStatus::Pending.as_str().to_owned());
                again.invited_by_name = Set(actor.name.clone());
                again.invited_at = Set(now);
                again.status_changed_at = Set(now);
                again.invitation_count = Set(invitation_count);
                again.last_invited_at = Set(now);
                again.invitation_failed_at = Set(None);
                again.invitation_failure = Set(None);
                again.external_agent = Set(invitation.external_agent);
                again.primary_location_id = Set(invitation.primary_location.map(|l| l.as_uuid()));
                again.update(tx).await?
            }
            None => staff_members::ActiveModel {
                id: Set(StaffId::generate().as_uuid()),
                practice_id: Set(practice.id),
                email: Set(invitation.email.to_string()),
                name: Set(invitation.name.to_string()),
                role: Set(invitation.role.as_str().to_owned()),
                status: Set(StaffStatus::Pending.as_str().to_owned()),
                user_id: Set(None),
                invited_by_name: Set(actor.name.clone()),
                invited_at: Set(now),
                status_changed_at: Set(now),
                created_at: Set(now),
                invitation_count: Set(1),
                last_invited_at: Set(now),
                reinvite_window_started_at: Set(None),
                reinvites_in_window: Set(0),
                external_agent: Set(invitation.external_agent),
                primary_location_id: Set(invitation.primary_location.map(|l| l.as_uuid())),
                npi: Set(None),
                taxonomy_code: Set(None),
                bio: Set(None),
                capacity: Set(None),
                scheduling_step_minutes: Set(None),
                certification_status: Set(CertificationStatus::NotCertified.as_str().to_owned()),
                certification_invited_at: Set(None),
                certified_at: Set(None),
                certificate_number: Set(None),
                invitation_failed_at: Set(None),
                invitation_failure: Set(None),
            }
            .insert(tx)
            .await
            .map_err(|err| {
                // A concurrent invite of the same e-mail won the unique index.
                if ps_db::is_unique_violation(&err) {
                    Error::AlreadyMember {
                        email: invitation.email.to_string(),
                        staff_id: "(created concurrently)".into(),
                    }
                } else {
                    err.into()
                }
            })?,
        };
        let staff_id = StaffId(row.id);
        self.replace_locations(tx, practice_id, staff_id, &location_ids)
            .await?;
        self.publish(
            tx,
            practice_id,
            actor,
            Payload::StaffInvited(StaffInvited {
                staff_id,
                email: invitation.email.clone(),
                name: invitation.name.clone(),
                role: invitation.role,
                practice_name: practice.name.clone(),
                inviter_name: actor.name.clone(),
                location_ids: location_ids.clone(),
            }),
        )
        .await?;
        self.audit(
            tx,
            practice_id,
            actor,
            "staff.invited",
            Some(staff_id),
            None,
            serde_json::Value::Null,
            serde_json::json!({
                "email": invitation.email.as_str(),
                "name": invitation.name.as_str(),
                "role": invitation.role.as_str(),
                "external_agent": invitation.external_agent,
                "location_ids": located(&location_ids),
            }),
        )
        .await?;
        Ok(row)
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
            &self.0.db,
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
        let tx = self.0.db.begin().await?;
        let practice = self.practice_row(&tx, caller.practice_id).await?;
        let role = invitation.role;
        let row = self
            .invite_into(&tx, &practice, &acting.actor, invitation)
            .await?;
        let invited = self.member(&tx, row).await?;
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
            &self.0.db,
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
        let tx = self.0.db.begin().await?;
        let practice = self.practice_row(&tx, caller.practice_id).await?;
        let row = self.member_for_update(&tx, caller.practice_id, id).await?;
        let window = next_reinvite(
            &row.status,
            now,
            chrono(self.0.settings.reinvite_window),
            self.0.settings.reinvite_limit,
            row.reinvite_window_started_at,
            row.reinvites_in_window,
        )
        .map_err(|refusal| match refusal {
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
        })?;
        let before = serde_json::json!({ "invitation_count": row.invitation_count });
        let mut active = row.into_active_model();
        let count = active.invitation_count.as_ref() + 1;
        active.invitation_count = Set(count);
        active.last_invited_at = Set(now);
        active.invitation_failed_at = Set(None);
        active.invitation_failure = Set(None);
        active.reinvite_window_started_at = Set(Some(window.started_at));
        active.reinvites_in_window = Set(window.used);
        let row = active.update(&tx).await?;
        let name = ps_core::PersonName::from_trusted(row.name.clone());
        self.publish(
            &tx,
            caller.practice_id,
            &acting.actor,
            Payload::StaffReinvited(StaffReinvited {
                staff_id: id,
                email: ps_core::Email::from_trusted(row.email.clone()),
                name,
                role: stored_role(&row.role)?,
                practice_name: practice.name.clone(),
                inviter_name: acting.actor.name.clone(),
                invitation_count: u32::try_from(count).unwrap_or(0),
            }),
        )
        .await?;
        self.audit(
            &tx,
            caller.practice_id,
            &acting.actor,
            "staff.reinvited",
            Some(id),
            None,
            before,
            serde_json::json!({ "invitation_count": count }),
        )
        .await?;
        let member = self.member(&tx, row).await?;
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
        self.list_staff_in(caller.practice_id, filter, page).await
    }

    /// Another service reading a practice's roster (the caller's scope and practice limit
    /// were checked at the edge).
    pub async fn list_practice_staff(
        &self,
        practice: PracticeId,
        filter: StaffFilter,
        page: PageRequest,
    ) -> Result<Page<StaffMember>, Error> {
        self.practice_row(&self.0.db, practice).await?;
        self.list_staff_in(practice, filter, page).await
    }

    /// Another service reading one member.
    pub async fn get_practice_staff(
        &self,
        practice: PracticeId,
        id: StaffId,
    ) -> Result<StaffMember, Error> {
        self.staff_in(practice, id).await
    }

    async fn list_staff_in(
        &self,
        practice: PracticeId,
        filter: StaffFilter,
        page: PageRequest,
    ) -> Result<Page<StaffMember>, Error> {
        let practice = practice.as_uuid();
        let mut condition = Condition::all().add(staff_members::Column::PracticeId.eq(practice));
        if !filter.statuses.is_empty() {
            condition = condition.add(
                staff_members::Column::Status.is_in(filter.statuses.iter().map(|s| s.as_str())),
            );
        }
        if !filter.roles.is_empty() {
            condition = condition
                .add(staff_members::Column::Role.is_in(filter.roles.iter().map(|r| r.as_str())));
        }
        if !filter.certification.is_empty() {
            condition = condition.add(
                staff_members::Column::CertificationStatus
                    .is_in(filter.certification.iter().map(|c| c.as_str())),
            );
        }
        if let Some(external) = filter.external_agent {
            condition = condition.add(staff_members::Column::ExternalAgent.eq(external));
        }
        if let Some(location) = filter.location {
            condition = condition.add(
                staff_members::Column::Id.in_subquery(
                    Query::select()
                        .column(staff_locations::Column::StaffId)
                        .from(staff_locations::Entity)
                        .and_where(staff_locations::Column::PracticeId.eq(practice))
                        .and_where(staff_locations::Column::LocationId.eq(location.as_uuid()))
                        .to_owned(),
                ),
            );
        }
        if let Some(query) = &filter.query {
            let name = Expr::expr(Func::lower(Expr::col((
                staff_members::Entity,
                staff_members::Column::Name,
            ))));
            condition = condition.add(
                Condition::any()
                    .add(name.like(ps_db::like_containing(query)))
                    .add(staff_members::Column::Email.like(ps_db::like_containing(query))),
            );
        }
        if let Some(after) = page.after {
            condition = condition.add(staff_members::Column::Id.gt(after));
        }
        let rows = staff_members::Entity::find()
            .filter(condition)
            .order_by_asc(staff_members::Column::Id)
            .limit(page.fetch_limit())
            .all(&self.0.db)
            .await?;
        let rows = Page::from_rows(rows, &page, |row| row.id);
        Ok(Page {
            items: self.members(&self.0.db, rows.items).await?,
            next_page_token: rows.next_page_token,
        })
    }

    pub async fn get_staff(&self, caller: &UserCaller, id: StaffId) -> Result<StaffMember, Error> {
        self.acting(caller).await?;
        self.staff_in(caller.practice_id, id).await
    }

    async fn staff_in(&self, practice: PracticeId, id: StaffId) -> Result<StaffMember, Error> {
        let row = staff_members::Entity::find_by_id(id.as_uuid())
            .in_practice(practice)
            .one(&self.0.db)
            .await?
            .ok_or(Error::NotFound("staff member"))?;
        self.member(&self.0.db, row).await
    }

    pub async fn update_staff(
        &self,
        caller: &UserCaller,
        id: StaffId,
        changes: StaffChanges,
    ) -> Result<StaffMember, Error> {
        let acting = self.acting(caller).await?;
        let own = acting.row.id == id.as_uuid();
        if !own {
            acting.require(&STAFF_MANAGERS, "changing another member's profile")?;
        } else if !changes.only_own_profile() {
            acting.require(&STAFF_MANAGERS, "marking external agents")?;
        }
        let tx = self.0.db.begin().await?;
        let row = self.member_for_update(&tx, caller.practice_id, id).await?;
        if row.status == StaffStatus::Removed.as_str() {
            return Err(Error::FailedPrecondition(
                "a removed member's profile cannot be changed".into(),
            ));
        }
        let mut diff = Diff::default();
        let mut active = row.clone().into_active_model();
        let to_int = |v: Option<u32>| v.and_then(|n| i32::try_from(n).ok());
        if let Some(name) = changes.name
            && let Some(name) = diff.change("name", &row.name, name.to_string())
        {
            active.name = Set(name);
        }
        if let Some(external) = changes.external_agent
            && let Some(external) = diff.change("external_agent", &row.external_agent, external)
        {
            active.external_agent = Set(external);
        }
        if let Some(npi) = changes.npi
            && let Some(npi) = diff.change("npi", &row.npi, npi.map(|n| n.as_str().to_owned()))
        {
            active.npi = Set(npi);
        }
        if let Some(code) = changes.taxonomy_code
            && let Some(code) = diff.change(
                "taxonomy_code",
                &row.taxonomy_code,
                code.map(|c| c.as_str().to_owned()),
            )
        {
            active.taxonomy_code = Set(code);
        }
        if let Some(bio) = changes.bio
            && let Some(bio) = diff.change("bio", &row.bio, bio)
        {
            active.bio = Set(bio);
        }
        if let Some(capacity) = changes.capacity
            && let Some(capacity) = diff.change("capacity", &row.capacity, to_int(capacity))
        {
            active.capacity = Set(capacity);
        }
        if let Some(step) = changes.scheduling_step_minutes
            && let Some(step) = diff.change(
                "scheduling_step_minutes",
                &row.scheduling_step_minutes,
                to_int(step),
            )
        {
            active.scheduling_step_minutes = Set(step);
        }
        let row = if diff.is_empty() {
            row
        } else {
            let row = active.update(&tx).await?;
            self.audit(
                &tx,
                caller.practice_id,
                &acting.actor,
                "staff.updated",
                Some(id),
                None,
                serde_json::Value::Object(diff.before),
                serde_json::Value::Object(diff.after),
            )
            .await?;
            row
        };
        let member = self.member(&tx, row).await?;
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
        let tx = self.0.db.begin().await?;
        self.lock_practice(&tx, caller.practice_id).await?;
        let row = self.member_for_update(&tx, caller.practice_id, id).await?;
        let status = stored_status(&row.status)?;
        if matches!(
            status,
            StaffStatus::Declined
                | StaffStatus::Removed
                | StaffStatus::Offboarding
                | StaffStatus::Offboarded
        ) {
            return Err(Error::FailedPrecondition(format!(
                "the role of a {} member cannot change",
                row.status
            )));
        }
        let from = stored_role(&row.role)?;
        if from == role {
            return self.member(&tx, row).await;
        }
        if role != PracticeRole::AccountOwner {
            self.keep_an_owner(&tx, &row).await?;
        }
        let user_id = row.user_id.map(UserId);
        let mut active = row.into_active_model();
        active.role = Set(role.as_str().to_owned());
        let row = active.update(&tx).await?;
        self.publish(
            &tx,
            caller.practice_id,
            &acting.actor,
            Payload::StaffRoleChanged(StaffRoleChanged {
                staff_id: id,
                user_id,
                from,
                to: role,
            }),
        )
        .await?;
        self.audit(
            &tx,
            caller.practice_id,
            &acting.actor,
            "staff.role_changed",
            Some(id),
            None,
            serde_json::json!({ "role": from.as_str() }),
            serde_json::json!({ "role": role.as_str() }),
        )
        .await?;
        let member = self.member(&tx, row).await?;
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
        C: FnOnce(&Acting, &staff_members::Model, StaffStatus) -> Result<(), Error>,
        E: FnOnce(StaffId, Option<UserId>, PracticeRole) -> Payload,
    {
        let Transition {
            to,
            action,
            check,
            event,
        } = transition;
        let tx = self.0.db.begin().await?;
        self.lock_practice(&tx, practice).await?;
        let row = self.member_for_update(&tx, practice, id).await?;
        let from = stored_status(&row.status)?;
        check(acting, &row, from)?;
        if to != StaffStatus::Active {
            self.keep_an_owner(&tx, &row).await?;
        }
        let user_id = row.user_id.map(UserId);
        let role = stored_role(&row.role)?;
        let mut active = row.into_active_model();
        active.status = Set(to.as_str().to_owned());
        active.status_changed_at = Set(self.now());
        let row = active.update(&tx).await?;
        self.publish(&tx, practice, &acting.actor, event(id, user_id, role))
            .await?;
        self.audit(
            &tx,
            practice,
            &acting.actor,
            action,
            Some(id),
            None,
            serde_json::json!({ "status": from.as_str() }),
            serde_json::json!({ "status": to.as_str() }),
        )
        .await?;
        let member = self.member(&tx, row).await?;
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
            check: |_: &Acting, _: &staff_members::Model, from: StaffStatus| match from {
                StaffStatus::Removed => Err(Error::FailedPrecondition(
                    "this member was already removed".into(),
                )),
                StaffStatus::Offboarding | StaffStatus::Offboarded => {
                    Err(Error::FailedPrecondition(format!(
                        "this member is {}: their work was handed to a replacement",
                        from.as_str()
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
            check: |acting: &Acting, row: &staff_members::Model, from: StaffStatus| {
                if from != StaffStatus::Active {
                    return Err(Error::FailedPrecondition(format!(
                        "only Active members can be deactivated; this member is {}",
                        row.status
                    )));
                }
                acting.require_over(stored_role(&row.role)?, "deactivating")
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
            check: |acting: &Acting, row: &staff_members::Model, from: StaffStatus| {
                if from != StaffStatus::Deactivated {
                    return Err(Error::FailedPrecondition(format!(
                        "only Deactivated members can be reactivated; this member is {}",
                        row.status
                    )));
                }
                acting.require_over(stored_role(&row.role)?, "reactivating")
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
        let tx = self.0.db.begin().await?;
        let row = self.member_for_update(&tx, caller.practice_id, id).await?;
        if row.status == StaffStatus::Removed.as_str() {
            return Err(Error::FailedPrecondition(
                "a removed member's locations cannot change".into(),
            ));
        }
        location_ids.extend(row.primary_location_id.map(LocationId));
        location_ids.sort();
        location_ids.dedup();
        self.check_locations(&tx, caller.practice_id, &location_ids)
            .await?;
        let before = self
            .location_ids(&tx, &[row.id])
            .await?
            .remove(&row.id)
            .unwrap_or_default();
        if before != location_ids {
            self.replace_locations(&tx, caller.practice_id, id, &location_ids)
                .await?;
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
            self.audit(
                &tx,
                caller.practice_id,
                &acting.actor,
                "staff.locations_changed",
                Some(id),
                None,
                serde_json::json!({ "location_ids": located(&before) }),
                serde_json::json!({ "location_ids": located(&location_ids) }),
            )
            .await?;
        }
        let member = self.member(&tx, row).await?;
        tx.commit().await?;
        self.published();
        Ok(member)
    }

    /// Moves a Pending member to `to` in `tx` when identity reports the invitee's answer;
    /// returns whether it changed anything (not for a replayed or outdated answer).
    /// Notification gave up on an invitation e-mail: a Pending member whose latest invitation
    /// it was shows it as failed (with the reason), so a manager knows to reinvite. A failure
    /// of an older invitation than the latest changes nothing. Returns whether it applied.
    pub async fn invitation_failed<C: ConnectionTrait>(
        &self,
        tx: &C,
        practice_id: PracticeId,
        actor: &Actor,
        failed: &ps_events::event::DeliveryFailed,
    ) -> Result<bool, Error> {
        let Some(staff_id) = failed.staff_id else {
            return Ok(false);
        };
        let reason: String = failed.reason.chars().take(500).collect();
        let changed = staff_members::Entity::update_many()
            .col_expr(
                staff_members::Column::InvitationFailedAt,
                Expr::value(Some(self.now())),
            )
            .col_expr(
                staff_members::Column::InvitationFailure,
                Expr::value(Some(reason.clone())),
            )
            .in_practice(practice_id)
            .filter(staff_members::Column::Id.eq(staff_id.as_uuid()))
            .filter(staff_members::Column::Status.eq(StaffStatus::Pending.as_str()))
            .filter(staff_members::Column::LastInvitedAt.lte(failed.requested_at))
            .exec(tx)
            .await?
            .rows_affected
            == 1;
        if changed {
            self.audit(
                tx,
                practice_id,
                actor,
                "invitation.delivery_failed",
                Some(staff_id),
                None,
                serde_json::Value::Null,
                serde_json::json!({ "recipient": failed.recipient.as_str(), "reason": reason }),
            )
            .await?;
        }
        Ok(changed)
    }

    pub async fn answer_invitation<C: ConnectionTrait>(
        &self,
        tx: &C,
        practice_id: PracticeId,
        staff_id: StaffId,
        invitee: &Actor,
        user_id: UserId,
        to: StaffStatus,
    ) -> Result<bool, Error> {
        let changed = staff_members::Entity::update_many()
            .col_expr(staff_members::Column::Status, Expr::value(to.as_str()))
            .col_expr(
                staff_members::Column::UserId,
                Expr::value(Some(user_id.as_uuid())),
            )
            .col_expr(
                staff_members::Column::StatusChangedAt,
                Expr::value(self.now()),
            )
            .in_practice(practice_id)
            .filter(staff_members::Column::Id.eq(staff_id.as_uuid()))
            .filter(staff_members::Column::Status.eq(StaffStatus::Pending.as_str()))
            .exec(tx)
            .await?
            .rows_affected
            == 1;
        if changed {
            let action = if to == StaffStatus::Active {
                "invitation.accepted"
            } else {
                "invitation.declined"
            };
            self.audit(
                tx,
                practice_id,
                invitee,
                action,
                Some(staff_id),
                None,
                serde_json::json!({ "status": StaffStatus::Pending.as_str() }),
                serde_json::json!({ "status": to.as_str() }),
            )
            .await?;
        }
        Ok(changed)
    }
}
