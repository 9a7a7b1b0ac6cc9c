//! Staff-directory's domain: practices, locations, staff members and their lifecycle, provider
//! profiles and certifications. Values here are valid once constructed.

use chrono::{DateTime, Utc};
use ps_core::{
    Email, ExistingAccess, FieldViolation, LocationId, OffboardingCounts, PersonName, PracticeId,
    PracticeRole, StaffId, TitleText, UserId,
};

mod invitations;

pub use invitations::{
    ReinviteRefusal, ReinviteWindow, invitation_locations, may_invite_again, next_reinvite,
};

macro_rules! stored_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $text:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),* }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),* }
            }

            pub fn parse(value: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|s| s.as_str() == value)
            }
        }
    };
}

stored_enum!(
    /// Where a member stands in their practice.
    StaffStatus {
        Pending => "pending",
        Active => "active",
        Declined => "declined",
        Deactivated => "deactivated",
        Removed => "removed",
        // Offboarding: their work is being handed to a replacement. Offboarded: it went to
        // the replacement; they no longer act in the practice.
        Offboarding => "offboarding",
        Offboarded => "offboarded",
    }
);

stored_enum!(
    /// Where an offboarding stands.
    OffboardingStatus {
        Requested => "requested",
        Completed => "completed",
        Failed => "failed",
    }
);

stored_enum!(
    CertificationStatus {
        NotCertified => "not_certified",
        Invited => "invited",
        Certified => "certified",
    }
);

/// National Provider Identifier: 10 digits whose last is the Luhn check digit computed over the
/// prefix 80840 followed by the first nine digits (CMS, "NPI check digit").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Npi(String);

impl Npi {
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldViolation> {
        let value = raw.trim();
        if value.len() != 10 || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(FieldViolation::new(field, "must be 10 digits"));
        }
        let digits: Vec<u32> = format!("80840{}", &value[..9])
            .bytes()
            .map(|b| u32::from(b - b'0'))
            .collect();
        // Luhn: double every second digit from the right of the payload, since the check
        // digit will sit to its right.
        let sum: u32 = digits
            .iter()
            .rev()
            .enumerate()
            .map(|(i, d)| {
                if i % 2 == 0 {
                    (d * 2) / 10 + (d * 2) % 10
                } else {
                    *d
                }
            })
            .sum();
        let check = (10 - sum % 10) % 10;
        if u32::from(value.as_bytes()[9] - b'0') != check {
            return Err(FieldViolation::new(field, "has a wrong check digit"));
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A NUCC health care provider taxonomy code: 10 characters, three digits, six digits or
/// capital letters, and a final X (e.g. 207Q00000X, 363LF0000X).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaxonomyCode(String);

impl TaxonomyCode {
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldViolation> {
        let value = raw.trim();
        let b = value.as_bytes();
        let valid = b.len() == 10
            && b[..3].iter().all(u8::is_ascii_digit)
            && b[3..9]
                .iter()
                .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
            && b[9] == b'X';
        if valid {
            Ok(Self(value.to_owned()))
        } else {
            Err(FieldViolation::new(
                field,
                "must be a NUCC taxonomy code like 207Q00000X",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

pub const BIO_MAX_CHARS: usize = 2000;
pub const CAPACITY_RANGE: std::ops::RangeInclusive<u32> = 1..=100;

pub fn parse_bio(field: &str, raw: &str) -> Result<String, FieldViolation> {
    if raw.chars().count() > BIO_MAX_CHARS {
        return Err(FieldViolation::new(
            field,
            format!("must be at most {BIO_MAX_CHARS} characters"),
        ));
    }
    if raw
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
    {
        return Err(FieldViolation::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(raw.trim().to_owned())
}

pub fn parse_capacity(field: &str, value: u32) -> Result<u32, FieldViolation> {
    if CAPACITY_RANGE.contains(&value) {
        Ok(value)
    } else {
        Err(FieldViolation::new(
            field,
            "must be 1 to 100 concurrent appointments",
        ))
    }
}

/// Scheduling step: 5 to 240 minutes, and either a divisor of 15 (5, 15) or a multiple of 15
/// (15, 30, 45, …, 240), so slots line up on the quarter hour.
pub fn parse_scheduling_step(field: &str, minutes: u32) -> Result<u32, FieldViolation> {
    let aligned = minutes != 0 && (15u32.is_multiple_of(minutes) || minutes.is_multiple_of(15));
    if (5..=240).contains(&minutes) && aligned {
        Ok(minutes)
    } else {
        Err(FieldViolation::new(
            field,
            "must be 5 to 240 minutes and divide or be a multiple of 15",
        ))
    }
}

/// A certificate number: 1–64 letters, digits or dashes.
pub fn parse_certificate_number(field: &str, raw: &str) -> Result<String, FieldViolation> {
    let value = raw.trim();
    if value.is_empty() {
        return Err(FieldViolation::new(field, "is required"));
    }
    if value.len() > 64
        || !value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(FieldViolation::new(
            field,
            "must be up to 64 letters, digits or dashes",
        ));
    }
    Ok(value.to_owned())
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProviderProfile {
    pub npi: Option<Npi>,
    pub taxonomy_code: Option<TaxonomyCode>,
    pub bio: Option<String>,
    pub capacity: Option<u32>,
    pub scheduling_step_minutes: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certification {
    pub status: CertificationStatus,
    pub invited_at: Option<DateTime<Utc>>,
    pub certified_at: Option<DateTime<Utc>>,
    pub certificate_number: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PracticeSettings {
    pub require_location_for_invites: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Practice {
    pub id: PracticeId,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub settings: PracticeSettings,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub id: LocationId,
    pub practice_id: PracticeId,
    pub name: String,
    pub archived: bool,
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
    pub invitation_count: u32,
    pub last_invited_at: DateTime<Utc>,
    pub external_agent: bool,
    pub primary_location_id: Option<LocationId>,
    pub location_ids: Vec<LocationId>,
    pub provider: ProviderProfile,
    pub certification: Certification,
    /// The latest invitation e-mail could not be delivered (when, and why).
    pub invitation_failure: Option<(DateTime<Utc>, String)>,
    /// The current reinvite window ([`next_reinvite`]), once reinvited.
    pub reinvite_window: Option<ReinviteWindow>,
}

/// The signed-in caller's own membership in the practice, as authorisation needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub id: StaffId,
    pub name: String,
    pub email: Email,
    pub role: PracticeRole,
}

/// One handover of a leaver's work to a replacement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offboarding {
    pub id: uuid::Uuid,
    pub leaver_id: StaffId,
    pub leaver_name: String,
    pub replacement_id: StaffId,
    pub replacement_name: String,
    pub existing_access: ExistingAccess,
    pub status: OffboardingStatus,
    pub requested_by_name: String,
    pub requested_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub failure_reason: Option<String>,
    pub counts: OffboardingCounts,
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
    pub primary_location: Option<LocationId>,
    pub locations: Vec<LocationId>,
    pub external_agent: bool,
}

/// UpdateStaff: only the fields named by the mask; `Some(None)` clears a profile field.
#[derive(Debug, Clone, Default)]
pub struct StaffChanges {
    pub name: Option<PersonName>,
    pub external_agent: Option<bool>,
    pub npi: Option<Option<Npi>>,
    pub taxonomy_code: Option<Option<TaxonomyCode>>,
    pub bio: Option<Option<String>>,
    pub capacity: Option<Option<u32>>,
    pub scheduling_step_minutes: Option<Option<u32>>,
}

impl StaffChanges {
    pub fn only_own_profile(&self) -> bool {
        self.external_agent.is_none()
    }
}

/// RecordCertification.
#[derive(Debug, Clone)]
pub struct CertificationRecord {
    pub certified_at: Option<DateTime<Utc>>,
    pub certificate_number: String,
}

#[derive(Debug, Clone, Default)]
pub struct StaffFilter {
    pub statuses: Vec<StaffStatus>,
    pub roles: Vec<PracticeRole>,
    pub location: Option<LocationId>,
    pub certification: Vec<CertificationStatus>,
    pub external_agent: Option<bool>,
    /// Lower-cased substring of name or e-mail.
    pub query: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub id: uuid::Uuid,
    pub occurred_at: DateTime<Utc>,
    pub actor_id: String,
    pub actor_name: String,
    pub action: String,
    pub target_staff_id: Option<StaffId>,
    pub target_location_id: Option<LocationId>,
    pub before: String,
    pub after: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npi_check_digit_follows_luhn_over_80840() {
        // CMS's published example.
        assert!(Npi::parse("npi", "1234567893").is_ok());
        assert!(Npi::parse("npi", "1245319599").is_ok());
        assert_eq!(
            Npi::parse("npi", "1234567890").unwrap_err().description,
            "has a wrong check digit"
        );
        assert_eq!(
            Npi::parse("npi", "123456789").unwrap_err().description,
            "must be 10 digits"
        );
        assert!(Npi::parse("npi", "12345678a3").is_err());
    }

    #[test]
    fn taxonomy_codes_have_the_nucc_shape() {
        for good in ["207Q00000X", "363LF0000X", "103T00000X"] {
            assert!(TaxonomyCode::parse("t", good).is_ok(), "{good}");
        }
        for bad in ["207Q00000", "207q00000X", "2O7Q00000X", "207Q00000Y", ""] {
            assert!(TaxonomyCode::parse("t", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn scheduling_steps_line_up_on_the_quarter_hour() {
        for good in [5, 15, 30, 45, 60, 90, 240] {
            assert!(parse_scheduling_step("s", good).is_ok(), "{good}");
        }
        for bad in [0, 1, 3, 10, 20, 25, 250, 255] {
            assert!(parse_scheduling_step("s", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn other_profile_limits() {
        assert!(parse_capacity("c", 0).is_err());
        assert!(parse_capacity("c", 1).is_ok());
        assert!(parse_capacity("c", 101).is_err());
        assert!(parse_bio("b", &"x".repeat(2001)).is_err());
        assert_eq!(
            parse_bio("b", " line one\nline two ").unwrap(),
            "line one\nline two"
        );
        assert!(parse_certificate_number("n", "CERT-2026-001").is_ok());
        assert!(parse_certificate_number("n", "no spaces").is_err());
        assert!(
            StaffStatus::ALL
                .iter()
                .all(|s| StaffStatus::parse(s.as_str()) == Some(*s))
        );
    }

    #[test]
    fn a_bio_keeps_line_breaks_and_refuses_other_control_characters() {
        assert_eq!(parse_bio("bio", " a\nb\tc\r\n ").unwrap(), "a\nb\tc");
        let violation = parse_bio("bio", "a\u{1b}[31mb").unwrap_err();
        assert_eq!(violation.description, "must not contain control characters");
        assert!(parse_bio("bio", &"x".repeat(BIO_MAX_CHARS + 1)).is_err());
    }

    #[test]
    fn a_certificate_number_is_required() {
        let violation = parse_certificate_number("number", "  ").unwrap_err();
        assert_eq!(violation.description, "is required");
        assert_eq!(
            parse_certificate_number("number", " AB-12 ").unwrap(),
            "AB-12"
        );
    }

    #[test]
    fn only_the_external_agent_flag_is_more_than_a_profile_change() {
        let profile = StaffChanges {
            bio: Some(None),
            capacity: Some(Some(4)),
            ..StaffChanges::default()
        };
        assert!(profile.only_own_profile());
        let flag = StaffChanges {
            external_agent: Some(false),
            ..StaffChanges::default()
        };
        assert!(!flag.only_own_profile());
    }
}
