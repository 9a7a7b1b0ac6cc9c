//! Typed identifiers. All are UUIDv7 (time-ordered), so keyset pagination by id follows
//! creation order.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

use crate::validation::FieldViolation;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new UUIDv7.
            pub fn generate() -> Self {
                Self(Uuid::now_v7())
            }

            /// The id as a plain UUID (for storage and the wire).
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }

            /// Parses a request field; the violation names the field.
            pub fn parse_field(field: &str, value: &str) -> Result<Self, FieldViolation> {
                parse_uuid(field, value).map(Self)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }
    };
}

id_type!(
    /// A practice (the tenant).
    PracticeId
);
id_type!(
    /// A person with an account in identity; one user may be staff of several practices.
    UserId
);
id_type!(
    /// A staff member: one person's place in one practice.
    StaffId
);
id_type!(
    /// A signed-in session (refresh token family).
    SessionId
);
id_type!(
    /// An event in the outbox; consumers record it to stay idempotent.
    EventId
);
id_type!(
    /// A location (facility) of a practice.
    LocationId
);
id_type!(
    /// A service account: a machine caller with its own credential and scopes (also its
    /// client id).
    ServiceAccountId
);

id_type!(
    /// A client organisation of a practice, whose systems staff are given access to.
    OrganisationId
);
id_type!(
    /// A role of a practice (built-in or its own): what a staff member holding it in an
    /// organisation may do there.
    RoleId
);
id_type!(
    /// An approval workflow of an organisation: the ordered steps a change passes.
    WorkflowId
);

/// Parses a UUID from a request field, naming the field when it is missing or malformed.
pub fn parse_uuid(field: &str, value: &str) -> Result<Uuid, FieldViolation> {
    let value = value.trim();
    if value.is_empty() {
        return Err(FieldViolation::new(field, "is required"));
    }
    Uuid::parse_str(value).map_err(|_| FieldViolation::new(field, "must be a UUID"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_time_ordered_v7() {
        let a = StaffId::generate();
        let b = StaffId::generate();
        assert_eq!(a.0.get_version_num(), 7);
        assert!(a < b);
    }

    #[test]
    fn parse_field_names_the_field() {
        assert_eq!(
            StaffId::parse_field("staff_id", "").unwrap_err().field,
            "staff_id"
        );
        assert_eq!(
            StaffId::parse_field("staff_id", "nope")
                .unwrap_err()
                .description,
            "must be a UUID"
        );
        let id = StaffId::generate();
        assert_eq!(
            StaffId::parse_field("staff_id", &id.to_string()).unwrap(),
            id
        );
    }
}
