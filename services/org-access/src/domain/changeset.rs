//! Planning an access changeset, as rules: the changeset and what org-access knows about the
//! organisations, roles, members, locations and memberships it names ([`ChangesetFacts`], read
//! by the store in one load step) in, the [`Plan`] out — or the first problem, naming its
//! entry. Nothing here reads or writes; the app applies the plan through the store in the same
//! transaction.

use std::collections::{HashMap, HashSet};

use ps_core::{FieldViolation, LocationId, OrganisationId, RoleId, StaffId};
use ps_roster::RosterStatus;
use uuid::Uuid;

use super::{AccessChange, AccessChangeResult, Changeset, MembershipStatus};

/// Why a changeset cannot be applied; the first problem found, naming its entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangesetRefusal {
    /// The request itself is malformed (INVALID_ARGUMENT).
    Invalid(FieldViolation),
    /// Something it names does not exist in the practice (NOT_FOUND).
    Missing(String),
    /// Something it names is in a state that forbids it (FAILED_PRECONDITION).
    Precondition(String),
}

/// One organisation a changeset names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganisationFacts {
    pub name: String,
    pub archived: bool,
}

/// A current (invited or active) membership of a pair the changeset names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentMembership {
    pub id: Uuid,
    pub role_id: RoleId,
    pub status: Option<MembershipStatus>,
    /// Its location limits, sorted.
    pub locations: Vec<LocationId>,
}

/// What planning reads, all within the caller's practice.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangesetFacts {
    /// The organisations named that exist.
    pub organisations: HashMap<OrganisationId, OrganisationFacts>,
    /// The roles named (the default among them) that exist.
    pub roles: HashSet<RoleId>,
    /// The staff named that exist, with their roster status.
    pub members: HashMap<StaffId, RosterStatus>,
    /// The locations named that exist and are not archived.
    pub usable_locations: HashSet<LocationId>,
    /// The current memberships of the (organisation, member) pairs named.
    pub current: HashMap<(OrganisationId, StaffId), CurrentMembership>,
    /// The practice's setting: new memberships start Invited.
    pub needs_acceptance: bool,
}

/// One planned change, with what applying it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    /// The membership it changes or revokes.
    pub existing: Option<Uuid>,
    pub role: RoleId,
    pub locations: Vec<LocationId>,
    pub organisation_name: String,
    pub change: AccessChange,
}

/// What a changeset does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub added: Vec<Planned>,
    pub changed: Vec<Planned>,
    pub removed: Vec<Planned>,
    pub unchanged: u32,
    /// New memberships start Invited.
    pub needs_acceptance: bool,
}

impl Plan {
    pub fn result(
        &self,
        request_id: &str,
        applied: bool,
        invitation_ids: Vec<Uuid>,
    ) -> AccessChangeResult {
        let changes = |planned: &[Planned]| planned.iter().map(|p| p.change.clone()).collect();
        AccessChangeResult {
            request_id: request_id.to_owned(),
            applied,
            added: changes(&self.added),
            changed: changes(&self.changed),
            removed: changes(&self.removed),
            unchanged: self.unchanged,
            invitation_ids,
        }
    }
}

fn uuids(locations: &[LocationId]) -> Vec<Uuid> {
    locations.iter().map(|l| l.as_uuid()).collect()
}

/// What can be refused before anything is read: an entry repeating an earlier pair, an entry
/// granting access with no role and no default role.
pub fn check_changeset_shape(changeset: &Changeset) -> Result<(), ChangesetRefusal> {
    let mut seen = HashSet::new();
    for entry in &changeset.entries {
        if !seen.insert((entry.organisation_id, entry.staff_id)) {
            return Err(ChangesetRefusal::Invalid(FieldViolation::new(
                entry.field.clone(),
                "repeats an earlier entry",
            )));
        }
        if !entry.remove && entry.role_id.or(changeset.default_role_id).is_none() {
            return Err(ChangesetRefusal::Invalid(FieldViolation::new(
                format!("{}.role_id", entry.field),
                "is required when there is no default_role_id",
            )));
        }
    }
    Ok(())
}

/// Every entry names what exists in the practice, in a state that allows it.
fn check_entries(changeset: &Changeset, facts: &ChangesetFacts) -> Result<(), ChangesetRefusal> {
    use ChangesetRefusal::{Missing, Precondition};
    if let Some(default) = changeset.default_role_id
        && !facts.roles.contains(&default)
    {
        return Err(Missing(format!(
            "default_role_id: role {default} not found"
        )));
    }
    for entry in &changeset.entries {
        let field = &entry.field;
        let Some(organisation) = facts.organisations.get(&entry.organisation_id) else {
            return Err(Missing(format!(
                "{field}: organisation {} not found",
                entry.organisation_id
            )));
        };
        let Some(status) = facts.members.get(&entry.staff_id) else {
            return Err(Missing(format!(
                "{field}: staff member {} not found",
                entry.staff_id
            )));
        };
        if entry.remove {
            continue;
        }
        if organisation.archived {
            return Err(Precondition(format!(
                "{field}: organisation {} is archived",
                organisation.name
            )));
        }
        if status.is_gone() {
            return Err(Precondition(format!(
                "{field}: staff member {} is {status} and cannot be given access",
                entry.staff_id
            )));
        }
        if let Some(role) = entry.role_id
            && !facts.roles.contains(&role)
        {
            return Err(Missing(format!("{field}.role_id: role {role} not found")));
        }
        for (j, location) in entry.location_ids.iter().enumerate() {
            if !facts.usable_locations.contains(location) {
                return Err(Missing(format!(
                    "{field}.location_ids[{j}]: location {location} not found"
                )));
            }
        }
    }
    Ok(())
}

/// The plan of a changeset whose shape was checked ([`check_changeset_shape`]): each entry
/// adds, changes, revokes or leaves a membership as it is. New memberships start Invited when
/// the practice requires acceptance, Active otherwise; a change keeps the membership's status.
pub fn plan_changeset(
    changeset: &Changeset,
    facts: &ChangesetFacts,
) -> Result<Plan, ChangesetRefusal> {
    check_changeset_shape(changeset)?;
    check_entries(changeset, facts)?;
    let mut plan = Plan {
        needs_acceptance: facts.needs_acceptance,
        ..Plan::default()
    };
    for entry in &changeset.entries {
        let existing = facts.current.get(&(entry.organisation_id, entry.staff_id));
        let organisation_name = facts.organisations[&entry.organisation_id].name.clone();
        let change = AccessChange {
            organisation_id: entry.organisation_id,
            staff_id: entry.staff_id,
            role_before: existing.map(|m| m.role_id),
            role_after: None,
            locations_before: existing.map(|m| uuids(&m.locations)).unwrap_or_default(),
            locations_after: Vec::new(),
            status_before: existing.and_then(|m| m.status),
            status_after: None,
        };
        if entry.remove {
            plan_removal(&mut plan, existing, organisation_name, change);
        } else if let Some(role) = entry.role_id.or(changeset.default_role_id) {
            // (Checked by the shape: an entry that grants has a role or a default.)
            let mut wanted = entry.location_ids.clone();
            wanted.sort();
            wanted.dedup();
            plan_grant(&mut plan, existing, organisation_name, change, role, wanted);
        }
    }
    Ok(plan)
}

/// An entry revoking access: the current membership is revoked; without one, nothing changes.
fn plan_removal(
    plan: &mut Plan,
    existing: Option<&CurrentMembership>,
    organisation_name: String,
    mut change: AccessChange,
) {
    let Some(membership) = existing else {
        plan.unchanged += 1;
        return;
    };
    change.status_after = Some(MembershipStatus::Revoked);
    plan.removed.push(Planned {
        existing: Some(membership.id),
        role: membership.role_id,
        locations: membership.locations.clone(),
        organisation_name,
        change,
    });
}

/// An entry granting `role` with the location limits `wanted` (sorted, without repeats): a new
/// membership, a change of the current one (keeping its status), or nothing when it already
/// has both.
fn plan_grant(
    plan: &mut Plan,
    existing: Option<&CurrentMembership>,
    organisation_name: String,
    mut change: AccessChange,
    role: RoleId,
    wanted: Vec<LocationId>,
) {
    change.role_after = Some(role);
    change.locations_after = uuids(&wanted);
    if existing.is_some_and(|m| m.role_id == role && m.locations == wanted) {
        plan.unchanged += 1;
        return;
    }
    change.status_after = if existing.is_some() {
        change.status_before
    } else if plan.needs_acceptance {
        Some(MembershipStatus::Invited)
    } else {
        Some(MembershipStatus::Active)
    };
    let planned = Planned {
        existing: existing.map(|m| m.id),
        role,
        locations: wanted,
        organisation_name,
        change,
    };
    if existing.is_some() {
        plan.changed.push(planned);
    } else {
        plan.added.push(planned);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::AccessEntry;

    const HARBOUR: OrganisationId = OrganisationId(Uuid::from_u128(0x10));
    const BAY: OrganisationId = OrganisationId(Uuid::from_u128(0x11));
    const APPROVER: RoleId = RoleId(Uuid::from_u128(0x20));
    const VIEWER: RoleId = RoleId(Uuid::from_u128(0x21));
    const NORTH: Uuid = Uuid::from_u128(0x30);
    const SOUTH: Uuid = Uuid::from_u128(0x31);
    const BEA: StaffId = StaffId(Uuid::from_u128(0x40));
    const CAL: StaffId = StaffId(Uuid::from_u128(0x41));
    const MEMBERSHIP: Uuid = Uuid::from_u128(0x50);

    fn entry(
        i: usize,
        organisation: OrganisationId,
        staff: StaffId,
        role: Option<RoleId>,
    ) -> AccessEntry {
        AccessEntry {
            field: format!("entries[{i}]"),
            organisation_id: organisation,
            staff_id: staff,
            role_id: role,
            location_ids: Vec::new(),
            remove: false,
        }
    }

    fn changeset(default_role_id: Option<RoleId>, entries: Vec<AccessEntry>) -> Changeset {
        Changeset {
            request_id: "r1".into(),
            kind: "staff",
            default_role_id,
            entries,
            preview: false,
        }
    }

    /// Harbour and Bay (Bay archived), roles Approver and Viewer, Bea active and Cal removed,
    /// North usable, and Bea already an active Approver in Harbour limited to North.
    fn facts() -> ChangesetFacts {
        ChangesetFacts {
            organisations: [(HARBOUR, "Harbour", false), (BAY, "Bay", true)]
                .into_iter()
                .map(|(id, name, archived)| {
                    (
                        id,
                        OrganisationFacts {
                            name: name.into(),
                            archived,
                        },
                    )
                })
                .collect(),
            roles: [APPROVER, VIEWER].into_iter().collect(),
            members: [(BEA, RosterStatus::Active), (CAL, RosterStatus::Removed)]
                .into_iter()
                .collect(),
            usable_locations: [LocationId(NORTH)].into_iter().collect(),
            current: [(
                (HARBOUR, BEA),
                CurrentMembership {
                    id: MEMBERSHIP,
                    role_id: APPROVER,
                    status: Some(MembershipStatus::Active),
                    locations: vec![LocationId(NORTH)],
                },
            )]
            .into_iter()
            .collect(),
            needs_acceptance: false,
        }
    }

    fn refusal(changeset: &Changeset, facts: &ChangesetFacts) -> ChangesetRefusal {
        plan_changeset(changeset, facts).expect_err("refused")
    }

    #[test]
    fn the_shape_is_refused_before_anything_is_read() {
        let twice = changeset(
            Some(APPROVER),
            vec![entry(0, HARBOUR, BEA, None), entry(1, HARBOUR, BEA, None)],
        );
        assert_eq!(
            check_changeset_shape(&twice),
            Err(ChangesetRefusal::Invalid(FieldViolation::new(
                "entries[1]",
                "repeats an earlier entry"
            )))
        );
        let no_role = changeset(None, vec![entry(0, HARBOUR, BEA, None)]);
        assert_eq!(
            check_changeset_shape(&no_role),
            Err(ChangesetRefusal::Invalid(FieldViolation::new(
                "entries[0].role_id",
                "is required when there is no default_role_id"
            )))
        );
        // Removing needs no role.
        let mut remove = entry(0, HARBOUR, BEA, None);
        remove.remove = true;
        assert_eq!(
            check_changeset_shape(&changeset(None, vec![remove])),
            Ok(())
        );
    }

    #[test]
    fn every_refusal_names_its_entry() {
        let unknown = Uuid::from_u128(0x99);
        let with_location = |location: Uuid| {
            let mut e = entry(0, HARBOUR, BEA, Some(APPROVER));
            e.location_ids = vec![LocationId(location)];
            changeset(None, vec![e])
        };
        let cases = [
            (
                changeset(Some(RoleId(unknown)), vec![entry(0, HARBOUR, BEA, None)]),
                ChangesetRefusal::Missing(format!("default_role_id: role {unknown} not found")),
            ),
            (
                changeset(
                    Some(APPROVER),
                    vec![entry(0, OrganisationId(unknown), BEA, None)],
                ),
                ChangesetRefusal::Missing(format!("entries[0]: organisation {unknown} not found")),
            ),
            (
                changeset(
                    Some(APPROVER),
                    vec![entry(0, HARBOUR, StaffId(unknown), None)],
                ),
                ChangesetRefusal::Missing(format!("entries[0]: staff member {unknown} not found")),
            ),
            (
                changeset(Some(APPROVER), vec![entry(0, BAY, BEA, None)]),
                ChangesetRefusal::Precondition("entries[0]: organisation Bay is archived".into()),
            ),
            (
                changeset(Some(APPROVER), vec![entry(0, HARBOUR, CAL, None)]),
                ChangesetRefusal::Precondition(format!(
                    "entries[0]: staff member {CAL} is removed and cannot be given access"
                )),
            ),
            (
                changeset(None, vec![entry(0, HARBOUR, BEA, Some(RoleId(unknown)))]),
                ChangesetRefusal::Missing(format!("entries[0].role_id: role {unknown} not found")),
            ),
            (
                with_location(SOUTH),
                ChangesetRefusal::Missing(format!(
                    "entries[0].location_ids[0]: location {SOUTH} not found"
                )),
            ),
        ];
        for (changeset, expected) in cases {
            assert_eq!(refusal(&changeset, &facts()), expected);
        }
        // Revoking from an archived organisation, or revoking a removed member, is allowed.
        let mut revoke = entry(0, BAY, CAL, None);
        revoke.remove = true;
        let plan = plan_changeset(&changeset(None, vec![revoke]), &facts()).expect("planned");
        assert_eq!(plan.unchanged, 1);
    }

    #[test]
    fn entries_add_change_revoke_or_leave_memberships() {
        let mut same = entry(0, HARBOUR, BEA, Some(APPROVER));
        same.location_ids = vec![LocationId(NORTH), LocationId(NORTH)];
        let plan = plan_changeset(&changeset(None, vec![same]), &facts()).expect("planned");
        assert_eq!(
            plan.unchanged, 1,
            "the same role and locations change nothing"
        );
        assert!(plan.added.is_empty() && plan.changed.is_empty() && plan.removed.is_empty());

        let other_role = entry(0, HARBOUR, BEA, Some(VIEWER));
        let plan = plan_changeset(&changeset(None, vec![other_role]), &facts()).expect("planned");
        let [changed] = plan.changed.as_slice() else {
            panic!("one change: {plan:?}");
        };
        assert_eq!(changed.existing, Some(MEMBERSHIP));
        assert_eq!(changed.organisation_name, "Harbour");
        assert_eq!(changed.change.role_before, Some(APPROVER));
        assert_eq!(changed.change.role_after, Some(VIEWER));
        assert_eq!(changed.change.locations_before, [NORTH]);
        assert!(changed.change.locations_after.is_empty());
        assert_eq!(changed.change.status_after, Some(MembershipStatus::Active));

        let mut revoke = entry(0, HARBOUR, BEA, None);
        revoke.remove = true;
        let plan = plan_changeset(&changeset(None, vec![revoke]), &facts()).expect("planned");
        let [removed] = plan.removed.as_slice() else {
            panic!("one revocation: {plan:?}");
        };
        assert_eq!(removed.existing, Some(MEMBERSHIP));
        assert_eq!(removed.change.status_before, Some(MembershipStatus::Active));
        assert_eq!(removed.change.status_after, Some(MembershipStatus::Revoked));
        assert_eq!(removed.locations, [LocationId(NORTH)]);

        let mut revoke_nothing = entry(0, HARBOUR, BEA, None);
        revoke_nothing.remove = true;
        let mut without = facts();
        without.current.clear();
        let plan =
            plan_changeset(&changeset(None, vec![revoke_nothing]), &without).expect("planned");
        assert_eq!(
            plan.unchanged, 1,
            "revoking what is not there changes nothing"
        );
    }

    #[test]
    fn new_memberships_start_invited_only_where_acceptance_is_required() {
        let mut facts = facts();
        facts.current.clear();
        let grant = changeset(Some(VIEWER), vec![entry(0, HARBOUR, BEA, None)]);
        for (needs_acceptance, status) in [
            (false, MembershipStatus::Active),
            (true, MembershipStatus::Invited),
        ] {
            facts.needs_acceptance = needs_acceptance;
            let plan = plan_changeset(&grant, &facts).expect("planned");
            let [added] = plan.added.as_slice() else {
                panic!("one addition: {plan:?}");
            };
            assert_eq!(added.existing, None);
            assert_eq!(added.role, VIEWER, "the default role");
            assert_eq!(added.change.status_before, None);
            assert_eq!(added.change.status_after, Some(status));
            assert_eq!(plan.needs_acceptance, needs_acceptance);
        }
    }

    #[test]
    fn the_result_lists_each_kind_of_change() {
        let mut facts = facts();
        facts.members.insert(CAL, RosterStatus::Active);
        let plan = plan_changeset(
            &changeset(
                None,
                vec![
                    entry(0, HARBOUR, BEA, Some(VIEWER)),
                    entry(1, HARBOUR, CAL, Some(APPROVER)),
                ],
            ),
            &facts,
        )
        .expect("planned");
        let result = plan.result("r1", false, Vec::new());
        assert_eq!((result.added.len(), result.changed.len()), (1, 1));
        assert_eq!(result.removed.len(), 0);
        assert!(!result.applied);
    }
}
