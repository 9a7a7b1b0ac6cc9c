//! Access changesets (one member → many organisations, many members → one organisation),
//! the acceptance setting, and members answering organisation invitations.
//!
//! A changeset is planned in full before anything is written: every entry is checked (shape,
//! existence in the caller's practice, state), the first problem fails the whole call naming the
//! entry, and the plan is then applied in the same transaction. A preview returns the plan and
//! rolls back. The request id is claimed first in the transaction, so a concurrent retry waits
//! for the first attempt and then returns its stored result.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use ps_auth::UserCaller;
use ps_core::{Email, LocationId, PersonName, PracticeId, StaffId};
use ps_db::tenancy::InPractice;
use ps_events::Payload;
use ps_events::event::OrgAccessInvited;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use sha2::{Digest, Sha256};
use tracing::info;
use uuid::Uuid;

use super::{ADMINS, Acting, AuditEntry, MANAGERS, OrgAccess};
use crate::domain::{
    AccessChange, AccessChangeResult, AccessEntry, Changeset, ChangesetFacts, CurrentMembership,
    Membership, MembershipStatus, OrganisationFacts, Plan, check_changeset_shape, plan_changeset,
};
use crate::error::Error;
use crate::store::{
    access_changes, access_settings, locations, membership_locations, memberships, org_invitations,
    organisations, roles,
};

impl OrgAccess {
    async fn require_acceptance<C: ConnectionTrait>(
        &self,
        conn: &C,
        practice: PracticeId,
    ) -> Result<bool, Error> {
        Ok(access_settings::Entity::find_by_id(practice.as_uuid())
            .one(conn)
            .await?
            .is_some_and(|s| s.require_acceptance))
    }

    pub async fn access_settings(&self, caller: &UserCaller) -> Result<bool, Error> {
        self.acting(caller).await?;
        self.require_acceptance(&self.0.db, caller.practice_id)
            .await
    }

    pub async fn update_access_settings(
        &self,
        caller: &UserCaller,
        require_acceptance: bool,
    ) -> Result<bool, Error> {
        let acting = self.acting(caller).await?;
        acting.require(&ADMINS, "changing access settings")?;
        let (_writing, tx) = self.begin().await?;
        let before = self.require_acceptance(&tx, caller.practice_id).await?;
        if before != require_acceptance {
            access_settings::Entity::insert(access_settings::ActiveModel {
                practice_id: Set(caller.practice_id.as_uuid()),
                require_acceptance: Set(require_acceptance),
            })
            .on_conflict(
                OnConflict::column(access_settings::Column::PracticeId)
                    .update_column(access_settings::Column::RequireAcceptance)
                    .to_owned(),
            )
            .exec_without_returning(&tx)
            .await?;
            self.audit_one(
                &tx,
                caller.practice_id,
                &acting.actor,
                AuditEntry {
                    action: "settings.changed",
                    organisation: None,
                    staff: None,
                    request_id: None,
                    before: serde_json::json!({ "require_acceptance": before }),
                    after: serde_json::json!({ "require_acceptance": require_acceptance }),
                },
            )
            .await?;
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
        let (_writing, tx) = self.begin().await?;
        if !changeset.preview {
            let claimed = access_changes::Entity::insert(access_changes::ActiveModel {
                practice_id: Set(practice.as_uuid()),
                request_id: Set(changeset.request_id.clone()),
                fingerprint: Set(fingerprint.clone()),
                result: Set(String::new()),
                created_at: Set(self.now()),
            })
            .on_conflict(
                OnConflict::columns([
                    access_changes::Column::PracticeId,
                    access_changes::Column::RequestId,
                ])
                .do_nothing()
                .to_owned(),
            )
            .exec_without_returning(&tx)
            .await?;
            if claimed == 0 {
                let earlier = access_changes::Entity::find_by_id((
                    practice.as_uuid(),
                    changeset.request_id.clone(),
                ))
                .one(&tx)
                .await?
                .ok_or_else(|| Error::Internal("claimed request vanished".into()))?;
                if earlier.fingerprint != fingerprint {
                    return Err(Error::FailedPrecondition(format!(
                        "request id {} was already used for a different changeset",
                        changeset.request_id
                    )));
                }
                return serde_json::from_str(&earlier.result)
                    .map_err(|e| Error::Internal(e.to_string()));
            }
        }
        let plan = self.plan(&tx, practice, &changeset).await?;
        if changeset.preview {
            return Ok(plan.result(&changeset.request_id, false, Vec::new()));
        }
        let invitations = self
            .apply(&tx, &acting, &changeset.request_id, &plan)
            .await?;
        let result = plan.result(&changeset.request_id, true, invitations);
        access_changes::Entity::update_many()
            .col_expr(
                access_changes::Column::Result,
                Expr::value(
                    serde_json::to_string(&result).map_err(|e| Error::Internal(e.to_string()))?,
                ),
            )
            .in_practice(practice)
            .filter(access_changes::Column::RequestId.eq(changeset.request_id.clone()))
            .exec(&tx)
            .await?;
        tx.commit().await?;
        self.published();
        info!(
            %practice,
            request_id = %changeset.request_id,
            added = result.added.len(),
            changed = result.changed.len(),
            removed = result.removed.len(),
            "access changed"
        );
        Ok(result)
    }

    /// Checks every entry and works out what it changes: the shape first, then one load
    /// step of what the changeset names in the practice, then the rule
    /// (`domain::plan_changeset`). Nothing is written but the built-in roles.
    async fn plan<C: ConnectionTrait>(
        &self,
        conn: &C,
        practice: PracticeId,
        changeset: &Changeset,
    ) -> Result<Plan, Error> {
        self.ensure_built_in_roles(conn, practice).await?;
        check_changeset_shape(changeset)?;
        let facts = self.changeset_facts(conn, practice, changeset).await?;
        Ok(plan_changeset(changeset, &facts)?)
    }

    /// What planning `changeset` needs to know, in the caller's practice.
    async fn changeset_facts<C: ConnectionTrait>(
        &self,
        conn: &C,
        practice: PracticeId,
        changeset: &Changeset,
    ) -> Result<ChangesetFacts, Error> {
        let entries = &changeset.entries;
        let organisation_ids: BTreeSet<Uuid> = entries.iter().map(|e| e.organisation_id).collect();
        let organisations: HashMap<Uuid, OrganisationFacts> = organisations::Entity::find()
            .in_practice(practice)
            .filter(organisations::Column::Id.is_in(organisation_ids))
            .all(conn)
            .await?
            .into_iter()
            .map(|o| {
                let facts = OrganisationFacts {
                    name: o.name,
                    archived: o.archived_at.is_some(),
                };
                (o.id, facts)
            })
            .collect();
        let role_ids: BTreeSet<Uuid> = entries
            .iter()
            .filter_map(|e| e.role_id)
            .chain(changeset.default_role_id)
            .collect();
        let roles: HashSet<Uuid> = roles::Entity::find()
            .in_practice(practice)
            .filter(roles::Column::Id.is_in(role_ids))
            .all(conn)
            .await?
            .into_iter()
            .map(|r| r.id)
            .collect();
        let staff_ids: Vec<StaffId> = entries
            .iter()
            .map(|e| e.staff_id)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let members: HashMap<StaffId, String> = ps_roster::members(conn, practice, &staff_ids)
            .await?
            .into_iter()
            .map(|m| (m.staff_id, m.status))
            .collect();
        let location_ids: BTreeSet<Uuid> = entries
            .iter()
            .flat_map(|e| e.location_ids.iter().map(|l| l.as_uuid()))
            .collect();
        let usable_locations: HashSet<Uuid> = if location_ids.is_empty() {
            HashSet::new()
        } else {
            locations::Entity::find()
                .in_practice(practice)
                .filter(locations::Column::Id.is_in(location_ids))
                .filter(locations::Column::Archived.eq(false))
                .all(conn)
                .await?
                .into_iter()
                .map(|l| l.id)
                .collect()
        };
        // The current memberships of the pairs named, and their location limits.
        let rows = memberships::Entity::find()
            .in_practice(practice)
            .filter(memberships::Column::OrganisationId.is_in(organisations.keys().copied()))
            .filter(memberships::Column::StaffId.is_in(staff_ids.iter().map(|s| s.as_uuid())))
            .filter(memberships::Column::Status.is_in(MembershipStatus::CURRENT))
            .all(conn)
            .await?;
        let mut limits = self
            .membership_locations(conn, rows.iter().map(|m| m.id).collect())
            .await?;
        let current = rows
            .into_iter()
            .map(|m| {
                let membership = CurrentMembership {
                    id: m.id,
                    role_id: m.role_id,
                    status: MembershipStatus::parse(&m.status),
                    locations: limits.remove(&m.id).unwrap_or_default(),
                };
                ((m.organisation_id, StaffId(m.staff_id)), membership)
            })
            .collect();
        Ok(ChangesetFacts {
            organisations,
            roles,
            members,
            usable_locations,
            current,
            needs_acceptance: self.require_acceptance(conn, practice).await?,
        })
    }

    pub(crate) async fn membership_locations<C: ConnectionTrait>(
        &self,
        conn: &C,
        memberships: Vec<Uuid>,
    ) -> Result<HashMap<Uuid, Vec<LocationId>>, Error> {
        let mut by_membership: HashMap<Uuid, Vec<LocationId>> = HashMap::new();
        if memberships.is_empty() {
            return Ok(by_membership);
        }
        for row in membership_locations::Entity::find()
            .filter(membership_locations::Column::MembershipId.is_in(memberships))
            .all(conn)
            .await?
        {
            by_membership
                .entry(row.membership_id)
                .or_default()
                .push(LocationId(row.location_id));
        }
        for ids in by_membership.values_mut() {
            ids.sort();
        }
        Ok(by_membership)
    }

    async fn set_membership_locations<C: ConnectionTrait>(
        &self,
        tx: &C,
        practice: PracticeId,
        rows: &[(Uuid, Vec<LocationId>)],
    ) -> Result<(), Error> {
        let ids: Vec<Uuid> = rows.iter().map(|(id, _)| *id).collect();
        if ids.is_empty() {
            return Ok(());
        }
        membership_locations::Entity::delete_many()
            .filter(membership_locations::Column::MembershipId.is_in(ids))
            .exec(tx)
            .await?;
        let inserts: Vec<membership_locations::ActiveModel> = rows
            .iter()
            .flat_map(|(membership, locations)| {
                locations
                    .iter()
                    .map(move |location| membership_locations::ActiveModel {
                        membership_id: Set(*membership),
                        location_id: Set(location.as_uuid()),
                        practice_id: Set(practice.as_uuid()),
                    })
            })
            .collect();
        if !inserts.is_empty() {
            membership_locations::Entity::insert_many(inserts)
                .exec_without_returning(tx)
                .await?;
        }
        Ok(())
    }

    /// Writes a plan: revocations, changes, new memberships (with one invitation per member
    /// when acceptance is needed), their audit entries and invitation events.
    async fn apply<C: ConnectionTrait>(
        &self,
        tx: &C,
        acting: &Acting,
        request_id: &str,
        plan: &Plan,
    ) -> Result<Vec<Uuid>, Error> {
        let practice = acting.practice;
        let now = self.now();
        let mut audit = Vec::new();
        let entry = |action: &'static str, change: &AccessChange, before, after| AuditEntry {
            action,
            organisation: Some(change.organisation_id),
            staff: Some(StaffId(change.staff_id)),
            request_id: Some(request_id.to_owned()),
            before,
            after,
        };
        let state = |role: Option<Uuid>, locations: &[Uuid], status: Option<MembershipStatus>| serde_json::json!({ "role_id": role, "location_ids": locations, "status": status.map(MembershipStatus::as_str) });

        let revoked: Vec<Uuid> = plan.removed.iter().filter_map(|p| p.existing).collect();
        if !revoked.is_empty() {
            memberships::Entity::update_many()
                .col_expr(
                    memberships::Column::Status,
                    Expr::value(MembershipStatus::Revoked.as_str()),
                )
                .col_expr(memberships::Column::StatusChangedAt, Expr::value(now))
                .filter(memberships::Column::Id.is_in(revoked))
                .exec(tx)
                .await?;
        }
        for p in &plan.removed {
            let c = &p.change;
            audit.push(entry(
                "membership.revoked",
                c,
                state(c.role_before, &c.locations_before, c.status_before),
                state(c.role_before, &c.locations_before, c.status_after),
            ));
        }

        for p in &plan.changed {
            let id = p
                .existing
                .ok_or_else(|| Error::Internal("a change without its membership".into()))?;
            memberships::Entity::update_many()
                .col_expr(memberships::Column::RoleId, Expr::value(p.role))
                .filter(memberships::Column::Id.eq(id))
                .exec(tx)
                .await?;
            let c = &p.change;
            audit.push(entry(
                "membership.changed",
                c,
                state(c.role_before, &c.locations_before, c.status_before),
                state(c.role_after, &c.locations_after, c.status_after),
            ));
        }
        let changed_locations: Vec<(Uuid, Vec<LocationId>)> = plan
            .changed
            .iter()
            .filter_map(|p| Some((p.existing?, p.locations.clone())))
            .collect();
        self.set_membership_locations(tx, practice, &changed_locations)
            .await?;

        // One invitation per member offered organisations needing acceptance.
        let mut invitations: BTreeMap<StaffId, (Uuid, Vec<String>)> = BTreeMap::new();
        if plan.needs_acceptance {
            for p in &plan.added {
                invitations
                    .entry(StaffId(p.change.staff_id))
                    .or_insert_with(|| (Uuid::now_v7(), Vec::new()))
                    .1
                    .push(p.organisation_name.clone());
            }
            if !invitations.is_empty() {
                org_invitations::Entity::insert_many(invitations.iter().map(|(staff, (id, _))| {
                    org_invitations::ActiveModel {
                        id: Set(*id),
                        practice_id: Set(practice.as_uuid()),
                        staff_id: Set(staff.as_uuid()),
                        invited_by: Set(acting.actor.name.clone()),
                        created_at: Set(now),
                    }
                }))
                .exec_without_returning(tx)
                .await?;
            }
        }
        let mut added_locations = Vec::new();
        let mut rows = Vec::new();
        for p in &plan.added {
            let id = Uuid::now_v7();
            let status = p.change.status_after.unwrap_or(MembershipStatus::Active);
            rows.push(memberships::ActiveModel {
                id: Set(id),
                practice_id: Set(practice.as_uuid()),
                organisation_id: Set(p.change.organisation_id),
                staff_id: Set(p.change.staff_id),
                role_id: Set(p.role),
                status: Set(status.as_str().to_owned()),
                invitation_id: Set(invitations
                    .get(&StaffId(p.change.staff_id))
                    .map(|(id, _)| *id)),
                created_at: Set(now),
                status_changed_at: Set(now),
            });
            added_locations.push((id, p.locations.clone()));
            let c = &p.change;
            audit.push(entry(
                "membership.added",
                c,
                serde_json::Value::Null,
                state(c.role_after, &c.locations_after, c.status_after),
            ));
        }
        if !rows.is_empty() {
            memberships::Entity::insert_many(rows)
                .exec_without_returning(tx)
                .await
                .map_err(|err| {
                    if ps_db::is_unique_violation(&err) {
                        Error::Aborted("access was changed at the same time; retry".into())
                    } else {
                        err.into()
                    }
                })?;
        }
        let inserts: Vec<(Uuid, Vec<LocationId>)> = added_locations
            .into_iter()
            .filter(|(_, l)| !l.is_empty())
            .collect();
        self.set_membership_locations(tx, practice, &inserts)
            .await?;
        self.audit(tx, practice, &acting.actor, audit).await?;

        // The e-mails: the roster knows each member's address and name.
        let offered: Vec<StaffId> = invitations.keys().copied().collect();
        let people: HashMap<StaffId, ps_roster::Member> =
            ps_roster::members(tx, practice, &offered)
                .await?
                .into_iter()
                .map(|m| (m.staff_id, m))
                .collect();
        for (staff, (invitation, organisation_names)) in &invitations {
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
        Ok(invitations.values().map(|(id, _)| *id).collect())
    }

    /// The caller's organisation invitations still awaiting an answer.
    pub async fn my_org_invitations(&self, caller: &UserCaller) -> Result<Vec<Membership>, Error> {
        let acting = self.acting(caller).await?;
        let rows = memberships::Entity::find()
            .in_practice(caller.practice_id)
            .filter(memberships::Column::StaffId.eq(acting.staff_id.as_uuid()))
            .filter(memberships::Column::Status.eq(MembershipStatus::Invited.as_str()))
            .all(&self.0.db)
            .await?;
        self.memberships(&self.0.db, rows).await
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
        let (_writing, tx) = self.begin().await?;
        let row = memberships::Entity::find_by_id(membership)
            .in_practice(caller.practice_id)
            .filter(memberships::Column::StaffId.eq(acting.staff_id.as_uuid()))
            .one(&tx)
            .await?
            .ok_or(Error::NotFound("organisation invitation"))?;
        let answered = memberships::Entity::update_many()
            .col_expr(memberships::Column::Status, Expr::value(to.as_str()))
            .col_expr(
                memberships::Column::StatusChangedAt,
                Expr::value(self.now()),
            )
            .filter(memberships::Column::Id.eq(membership))
            .filter(memberships::Column::Status.eq(MembershipStatus::Invited.as_str()))
            .exec(&tx)
            .await?
            .rows_affected;
        if answered != 1 {
            return Err(Error::FailedPrecondition(format!(
                "this organisation invitation is no longer open (it is {})",
                row.status
            )));
        }
        self.audit_one(
            &tx,
            caller.practice_id,
            &acting.actor,
            AuditEntry {
                action: if accept {
                    "membership.accepted"
                } else {
                    "membership.declined"
                },
                organisation: Some(row.organisation_id),
                staff: Some(acting.staff_id),
                request_id: None,
                before: serde_json::json!({ "status": MembershipStatus::Invited.as_str() }),
                after: serde_json::json!({ "status": to.as_str() }),
            },
        )
        .await?;
        let updated = memberships::Entity::find_by_id(membership)
            .one(&tx)
            .await?
            .ok_or_else(|| Error::Internal("membership vanished".into()))?;
        let answered = self.memberships(&tx, vec![updated]).await?.pop();
        tx.commit().await?;
        answered.ok_or_else(|| Error::Internal("membership vanished".into()))
    }

    /// Rows to memberships with their organisation and role names and location limits.
    pub(crate) async fn memberships<C: ConnectionTrait>(
        &self,
        conn: &C,
        rows: Vec<memberships::Model>,
    ) -> Result<Vec<Membership>, Error> {
        let org_ids: BTreeSet<Uuid> = rows.iter().map(|m| m.organisation_id).collect();
        let role_ids: BTreeSet<Uuid> = rows.iter().map(|m| m.role_id).collect();
        let org_names: HashMap<Uuid, String> = if org_ids.is_empty() {
            HashMap::new()
        } else {
            organisations::Entity::find()
                .filter(organisations::Column::Id.is_in(org_ids))
                .all(conn)
                .await?
                .into_iter()
                .map(|o| (o.id, o.name))
                .collect()
        };
        let role_names: HashMap<Uuid, String> = if role_ids.is_empty() {
            HashMap::new()
        } else {
            roles::Entity::find()
                .filter(roles::Column::Id.is_in(role_ids))
                .all(conn)
                .await?
                .into_iter()
                .map(|r| (r.id, r.name))
                .collect()
        };
        let mut locations = self
            .membership_locations(conn, rows.iter().map(|m| m.id).collect())
            .await?;
        rows.into_iter()
            .map(|m| {
                Ok(Membership {
                    organisation_name: org_names
                        .get(&m.organisation_id)
                        .cloned()
                        .unwrap_or_default(),
                    role_name: role_names
                        .get(&m.role_id)
                        .cloned()
                        .unwrap_or_else(|| "(deleted role)".into()),
                    status: MembershipStatus::parse(&m.status).ok_or_else(|| {
                        Error::Internal(format!("stored membership status {}", m.status))
                    })?,
                    location_ids: locations.remove(&m.id).unwrap_or_default(),
                    id: m.id,
                    organisation_id: m.organisation_id,
                    staff_id: StaffId(m.staff_id),
                    role_id: m.role_id,
                    invitation_id: m.invitation_id,
                    created_at: m.created_at,
                    status_changed_at: m.status_changed_at,
                })
            })
            .collect()
    }
}

/// A changeset entry as the edge builds it.
pub fn entry(
    field: String,
    organisation_id: Uuid,
    staff_id: StaffId,
    role_id: Option<Uuid>,
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
