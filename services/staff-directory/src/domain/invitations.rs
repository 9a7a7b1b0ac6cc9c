//! The invitation rules: which locations an invitation gives, who may be invited again, and
//! the reinvite limit. Pure: the app reads the practice's setting and the member's row, asks
//! these, and writes what they answer.

use chrono::{DateTime, Duration, Utc};
use ps_core::LocationId;

use super::StaffStatus;

/// The locations an invitation gives — its locations and its primary one, once each, sorted —
/// or, when the practice requires a primary location for every invitation and none was
/// given, the refusal to show.
pub fn invitation_locations(
    locations: &[LocationId],
    primary: Option<LocationId>,
    primary_required: bool,
) -> Result<Vec<LocationId>, &'static str> {
    if primary_required && primary.is_none() {
        return Err(
            "this practice requires a primary location for every invitation: create a location and name it",
        );
    }
    let mut all = locations.to_vec();
    all.extend(primary);
    all.sort();
    all.dedup();
    Ok(all)
}

/// Whether an e-mail that already belongs to a member of this status may be invited again:
/// only once they declined, were removed or were offboarded (the member becomes Pending).
pub fn may_invite_again(status: Option<StaffStatus>) -> bool {
    matches!(
        status,
        Some(StaffStatus::Declined | StaffStatus::Removed | StaffStatus::Offboarded)
    )
}

/// A member's reinvite window after one more reinvite: when it started and how many it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReinviteWindow {
    pub started_at: DateTime<Utc>,
    pub used: i32,
}

/// Why a reinvite is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReinviteRefusal {
    /// Only Pending members are reinvited; this one is in the given status.
    NotPending(String),
    /// The limit of the current window is used up; it ends after `retry_after`.
    Limited {
        used: i32,
        window: Duration,
        retry_after: std::time::Duration,
    },
}

/// The reinvite limit: a fixed window per member (starting at the first reinvite after the
/// previous window ended) holds at most `limit` reinvites.
pub fn next_reinvite(
    status: &str,
    now: DateTime<Utc>,
    window: Duration,
    limit: u32,
    started_at: Option<DateTime<Utc>>,
    used: i32,
) -> Result<ReinviteWindow, ReinviteRefusal> {
    if status != StaffStatus::Pending.as_str() {
        return Err(ReinviteRefusal::NotPending(status.to_owned()));
    }
    let (started_at, used) = match started_at {
        Some(start) if now - start < window => (start, used),
        _ => (now, 0),
    };
    if used >= i32::try_from(limit).unwrap_or(i32::MAX) {
        return Err(ReinviteRefusal::Limited {
            used,
            window,
            retry_after: (started_at + window - now).to_std().unwrap_or_default(),
        });
    }
    Ok(ReinviteWindow {
        started_at,
        used: used + 1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn at(minutes: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_800_000_000, 0).expect("a time")
            + Duration::minutes(minutes)
    }

    #[test]
    fn an_invitation_gives_its_locations_and_its_primary_once_each() {
        let [a, b] = [1, 2].map(|n| LocationId(Uuid::from_u128(n)));
        assert_eq!(
            invitation_locations(&[b, a, b], Some(a), false),
            Ok(vec![a, b])
        );
        assert_eq!(invitation_locations(&[], None, false), Ok(vec![]));
        assert_eq!(invitation_locations(&[b], Some(a), true), Ok(vec![a, b]));
        assert!(
            invitation_locations(&[a], None, true)
                .expect_err("a primary location is required")
                .starts_with("this practice requires a primary location")
        );
    }

    #[test]
    fn only_people_who_left_or_declined_are_invited_again() {
        for status in StaffStatus::ALL {
            let again = matches!(
                status,
                StaffStatus::Declined | StaffStatus::Removed | StaffStatus::Offboarded
            );
            assert_eq!(may_invite_again(Some(*status)), again, "{status:?}");
        }
        assert!(
            !may_invite_again(None),
            "an unknown stored status is not invited over"
        );
    }

    #[test]
    fn reinvites_are_limited_per_window() {
        let hour = Duration::minutes(60);
        // The first reinvite opens a window.
        assert_eq!(
            next_reinvite("pending", at(0), hour, 3, None, 0),
            Ok(ReinviteWindow {
                started_at: at(0),
                used: 1
            })
        );
        // Within the window the count goes on, up to the limit.
        assert_eq!(
            next_reinvite("pending", at(10), hour, 3, Some(at(0)), 2),
            Ok(ReinviteWindow {
                started_at: at(0),
                used: 3
            })
        );
        assert_eq!(
            next_reinvite("pending", at(10), hour, 3, Some(at(0)), 3),
            Err(ReinviteRefusal::Limited {
                used: 3,
                window: hour,
                retry_after: std::time::Duration::from_secs(50 * 60),
            })
        );
        // Once it ended, a new window starts at zero.
        assert_eq!(
            next_reinvite("pending", at(60), hour, 3, Some(at(0)), 3),
            Ok(ReinviteWindow {
                started_at: at(60),
                used: 1
            })
        );
        // Only Pending members.
        assert_eq!(
            next_reinvite("active", at(0), hour, 3, None, 0),
            Err(ReinviteRefusal::NotPending("active".into()))
        );
    }
}
