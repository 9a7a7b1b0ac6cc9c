//! Staff-directory's domain: practices, staff members and their lifecycle.

use chrono::{DateTime, Utc};
use ps_core::{Email, PersonName, PracticeId, PracticeRole, StaffId, TitleText, UserId};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaffStatus {
    /// Invited, not answered yet.
    Pending,
    Active,
    Declined,
}

impl StaffStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            StaffStatus::Pending => "pending",
            StaffStatus::Active => "active",
            StaffStatus::Declined => "declined",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [
            StaffStatus::Pending,
            StaffStatus::Active,
            StaffStatus::Declined,
        ]
        .into_iter()
        .find(|s| s.as_str() == value)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Practice {
    pub id: PracticeId,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffMember {
    pub id: StaffId,
    pub practice_id: PracticeId,
    pub email: Email,
    pub name: String,
    pub role: PracticeRole,
    pub status: StaffStatus,
    pub user_id: Option<UserId>,
    pub invited_at: DateTime<Utc>,
    pub invited_by_name: String,
    pub status_changed_at: DateTime<Utc>,
}

/// CreatePractice: the practice and the person who will own it.
#[derive(Debug, Clone)]
pub struct NewPractice {
    pub name: TitleText,
    pub owner_email: Email,
    pub owner_name: PersonName,
}

/// InviteStaff.
#[derive(Debug, Clone)]
pub struct Invitation {
    pub email: Email,
    pub name: PersonName,
    pub role: PracticeRole,
}

#[derive(Debug, Clone, Default)]
pub struct StaffFilter {
    /// Empty: every status.
    pub statuses: Vec<StaffStatus>,
}
