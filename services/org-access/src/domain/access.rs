//! The CheckAccess decision as a rule: what org-access knows about one question
//! ([`AccessFacts`], read by the store in one load step) in, the [`Decision`] out. The denials
//! come in the README's order: unknown organisation, archived organisation, not staff of its
//! practice, deactivated, removed, offboarded, not yet active, no membership, invitation not
//! accepted, permission not in the role, location outside the membership's limits, location
//! not one of the member's.

use ps_core::{LocationId, RoleId, StaffId};
use ps_roster::RosterStatus;
use uuid::Uuid;

use super::{Decision, DecisionReason};

/// Everything a decision is made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessFacts {
    pub organisation_name: String,
    pub archived: bool,
    /// The asking user's roster row in the organisation's practice; `None` when they are not
    /// staff there (or their practice role is not one the product knows).
    pub staff: Option<StaffFacts>,
    /// Their current (invited or active) membership of the organisation.
    pub membership: Option<MembershipFacts>,
    /// For a question about a location: the location and what limits it.
    pub location: Option<LocationFacts>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffFacts {
    pub staff_id: StaffId,
    /// Their roster status.
    pub status: RosterStatus,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipFacts {
    pub id: Uuid,
    pub role_id: RoleId,
    /// `None` when the role row is gone.
    pub role_name: Option<String>,
    /// Offered but not accepted yet.
    pub invited: bool,
    /// Whether the role holds the permission asked about.
    pub grants_permission: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocationFacts {
    pub asked: LocationId,
    /// The membership's location limits; empty means none.
    pub limits: Vec<LocationId>,
    /// The member's own locations; empty means none.
    pub member_locations: Vec<LocationId>,
}

/// Why a staff member of roster status `status` may not act, unless they are active.
fn inactive(status: RosterStatus) -> Option<(DecisionReason, String)> {
    use DecisionReason::*;
    let (reason, explanation) = match status {
        RosterStatus::Active => return None,
        RosterStatus::Deactivated => (StaffDeactivated, "the staff member is deactivated"),
        RosterStatus::Removed => (
            StaffRemoved,
            "the staff member was removed from the practice",
        ),
        RosterStatus::Offboarding | RosterStatus::Offboarded => (
            StaffOffboarded,
            "the staff member was offboarded; their work went to a replacement",
        ),
        other => return Some((StaffNotActive, format!("the staff member is {other}"))),
    };
    Some((reason, explanation.to_owned()))
}

/// Whether the user may use `permission` in the organisation, and why: the first denial that
/// applies, or Allowed. (An organisation that does not exist has no facts; the app answers
/// that one.)
pub fn decide_access(facts: &AccessFacts, permission: &str) -> Decision {
    use DecisionReason::*;
    let name = &facts.organisation_name;
    if facts.archived {
        return Decision::denied(OrganisationArchived, format!("{name} is archived"));
    }
    let Some(staff) = &facts.staff else {
        return Decision::denied(
            NotPracticeStaff,
            "the user is not staff of the organisation's practice",
        );
    };
    let about_staff = |mut decision: Decision| {
        decision.staff_id = Some(staff.staff_id);
        decision
    };
    if let Some((reason, explanation)) = inactive(staff.status) {
        return about_staff(Decision::denied(reason, explanation));
    }
    let Some(membership) = &facts.membership else {
        return about_staff(Decision::denied(
            NoMembership,
            format!("no access to {name}"),
        ));
    };
    let role_name = membership
        .role_name
        .clone()
        .unwrap_or_else(|| "(deleted role)".into());
    let about_membership = |mut decision: Decision| {
        decision.staff_id = Some(staff.staff_id);
        decision.membership_id = Some(membership.id);
        decision.role_id = Some(membership.role_id);
        decision.role_name = Some(role_name.clone());
        decision
    };
    if membership.invited {
        return about_membership(Decision::denied(
            InvitationNotAccepted,
            format!("access to {name} was offered but not accepted yet"),
        ));
    }
    if !membership.grants_permission {
        return about_membership(Decision::denied(
            PermissionNotInRole,
            format!("the role {role_name} does not include {permission}"),
        ));
    }
    if let Some(location) = &facts.location {
        let outside =
            |allowed: &[LocationId]| !allowed.is_empty() && !allowed.contains(&location.asked);
        if outside(&location.limits) {
            return about_membership(Decision::denied(
                LocationNotAllowed,
                format!("access to {name} is limited to other locations"),
            ));
        }
        if outside(&location.member_locations) {
            return about_membership(Decision::denied(
                LocationNotAllowed,
                "the location is not one of the staff member's locations",
            ));
        }
    }
    about_membership(Decision {
        reason: Allowed,
        explanation: format!("the role {role_name} in {name} includes {permission}"),
        staff_id: None,
        membership_id: None,
        role_id: None,
        role_name: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use DecisionReason::*;

    fn location(n: u128) -> LocationId {
        LocationId(Uuid::from_u128(n))
    }

    /// An active member of "Harbour" whose role "Approver" holds the permission.
    fn allowed() -> AccessFacts {
        AccessFacts {
            organisation_name: "Harbour".into(),
            archived: false,
            staff: Some(StaffFacts {
                staff_id: StaffId(Uuid::from_u128(1)),
                status: RosterStatus::Active,
            }),
            membership: Some(MembershipFacts {
                id: Uuid::from_u128(2),
                role_id: RoleId(Uuid::from_u128(3)),
                role_name: Some("Approver".into()),
                invited: false,
                grants_permission: true,
            }),
            location: None,
        }
    }

    fn with(change: impl FnOnce(&mut AccessFacts)) -> AccessFacts {
        let mut facts = allowed();
        change(&mut facts);
        facts
    }

    fn asking_about(asked: u128, limits: &[u128], member_locations: &[u128]) -> AccessFacts {
        with(|f| {
            f.location = Some(LocationFacts {
                asked: location(asked),
                limits: limits.iter().copied().map(location).collect(),
                member_locations: member_locations.iter().copied().map(location).collect(),
            });
        })
    }

    fn status(status: RosterStatus) -> AccessFacts {
        with(|f| {
            if let Some(staff) = &mut f.staff {
                staff.status = status;
            }
        })
    }

    type Case = (&'static str, AccessFacts, DecisionReason, &'static str);

    /// The denials before a membership is looked at: the organisation and the staff member.
    fn organisation_and_staff_cases() -> Vec<Case> {
        vec![
            (
                "allowed",
                allowed(),
                Allowed,
                "the role Approver in Harbour includes workflow.approve",
            ),
            (
                "archived",
                with(|f| f.archived = true),
                OrganisationArchived,
                "Harbour is archived",
            ),
            (
                "not staff",
                with(|f| f.staff = None),
                NotPracticeStaff,
                "the user is not staff of the organisation's practice",
            ),
            (
                "deactivated",
                status(RosterStatus::Deactivated),
                StaffDeactivated,
                "the staff member is deactivated",
            ),
            (
                "removed",
                status(RosterStatus::Removed),
                StaffRemoved,
                "the staff member was removed from the practice",
            ),
            (
                "offboarding",
                status(RosterStatus::Offboarding),
                StaffOffboarded,
                "the staff member was offboarded; their work went to a replacement",
            ),
            (
                "offboarded",
                status(RosterStatus::Offboarded),
                StaffOffboarded,
                "the staff member was offboarded; their work went to a replacement",
            ),
            (
                "pending",
                status(RosterStatus::Pending),
                StaffNotActive,
                "the staff member is pending",
            ),
            (
                "declined",
                status(RosterStatus::Declined),
                StaffNotActive,
                "the staff member is declined",
            ),
        ]
    }

    /// From the membership on: the invitation, the role, the locations.
    fn membership_cases() -> Vec<Case> {
        vec![
            (
                "no membership",
                with(|f| f.membership = None),
                NoMembership,
                "no access to Harbour",
            ),
            (
                "invited",
                with(|f| {
                    if let Some(m) = &mut f.membership {
                        m.invited = true;
                    }
                }),
                InvitationNotAccepted,
                "access to Harbour was offered but not accepted yet",
            ),
            (
                "permission",
                with(|f| {
                    if let Some(m) = &mut f.membership {
                        m.grants_permission = false;
                    }
                }),
                PermissionNotInRole,
                "the role Approver does not include workflow.approve",
            ),
            (
                "deleted role",
                with(|f| {
                    if let Some(m) = &mut f.membership {
                        m.grants_permission = false;
                        m.role_name = None;
                    }
                }),
                PermissionNotInRole,
                "the role (deleted role) does not include workflow.approve",
            ),
            (
                "outside the limits",
                asking_about(7, &[8], &[]),
                LocationNotAllowed,
                "access to Harbour is limited to other locations",
            ),
            (
                "not the member's location",
                asking_about(7, &[], &[8]),
                LocationNotAllowed,
                "the location is not one of the staff member's locations",
            ),
            (
                "within the limits and the member's locations",
                asking_about(7, &[7, 8], &[7]),
                Allowed,
                "the role Approver in Harbour includes workflow.approve",
            ),
            (
                "no limits, no member locations",
                asking_about(7, &[], &[]),
                Allowed,
                "the role Approver in Harbour includes workflow.approve",
            ),
        ]
    }

    #[test]
    fn every_reason_with_its_explanation() {
        for (name, facts, reason, explanation) in organisation_and_staff_cases()
            .into_iter()
            .chain(membership_cases())
        {
            let decision = decide_access(&facts, "workflow.approve");
            assert_eq!(decision.reason, reason, "{name}");
            assert_eq!(decision.explanation, explanation, "{name}");
            assert_eq!(decision.allowed(), reason == Allowed, "{name}");
        }
    }

    #[test]
    fn the_first_denial_that_applies_wins() {
        // Everything wrong at once: archived comes first, then each in the README's order.
        let mut facts = with(|f| {
            f.archived = true;
            if let Some(s) = &mut f.staff {
                s.status = RosterStatus::Deactivated;
            }
            if let Some(m) = &mut f.membership {
                m.invited = true;
                m.grants_permission = false;
            }
            f.location = Some(LocationFacts {
                asked: location(7),
                limits: vec![location(8)],
                member_locations: vec![location(8)],
            });
        });
        let mut seen = Vec::new();
        loop {
            let decision = decide_access(&facts, "workflow.approve");
            seen.push(decision.reason);
            match decision.reason {
                OrganisationArchived => facts.archived = false,
                StaffDeactivated => {
                    if let Some(s) = &mut facts.staff {
                        s.status = RosterStatus::Active;
                    }
                }
                InvitationNotAccepted => {
                    if let Some(m) = &mut facts.membership {
                        m.invited = false;
                    }
                }
                PermissionNotInRole => {
                    if let Some(m) = &mut facts.membership {
                        m.grants_permission = true;
                    }
                }
                LocationNotAllowed => {
                    if let Some(l) = &mut facts.location {
                        if l.limits.is_empty() {
                            l.member_locations.clear();
                        } else {
                            l.limits.clear();
                        }
                    }
                }
                _ => break,
            }
        }
        assert_eq!(
            seen,
            [
                OrganisationArchived,
                StaffDeactivated,
                InvitationNotAccepted,
                PermissionNotInRole,
                LocationNotAllowed,
                LocationNotAllowed,
                Allowed
            ]
        );
    }

    #[test]
    fn a_decision_names_who_and_which_membership_once_known() {
        let denied = decide_access(&with(|f| f.staff = None), "p");
        assert_eq!((denied.staff_id, denied.membership_id), (None, None));
        let no_membership = decide_access(&with(|f| f.membership = None), "p");
        assert_eq!(no_membership.staff_id, Some(StaffId(Uuid::from_u128(1))));
        assert_eq!(no_membership.membership_id, None);
        let allowed = decide_access(&allowed(), "workflow.approve");
        assert_eq!(allowed.staff_id, Some(StaffId(Uuid::from_u128(1))));
        assert_eq!(allowed.membership_id, Some(Uuid::from_u128(2)));
        assert_eq!(allowed.role_id, Some(RoleId(Uuid::from_u128(3))));
        assert_eq!(allowed.role_name.as_deref(), Some("Approver"));
    }
}
