//! Request ids (AIP-155): a client names a creating request, and a retry with the same name
//! gets the first answer instead of a duplicate or ALREADY_EXISTS.

use crate::FieldViolation;

/// Longest request id accepted (a UUID is 36).
pub const MAX_REQUEST_ID: usize = 64;

/// A client's name for one request, with a fingerprint of everything else it asked, so the
/// same id reused for a different request is told apart from a retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestKey {
    /// The client's request id, as sent (1–64 characters).
    pub id: String,
    /// A digest of the request without its id (hex).
    pub fingerprint: String,
}

impl RequestKey {
    /// `None` for an empty id (the request is not idempotent); otherwise 1–64 characters of
    /// letters, digits, `-`, `_`, `.` and `:`.
    pub fn parse(
        field: &str,
        id: &str,
        fingerprint: String,
    ) -> Result<Option<Self>, FieldViolation> {
        if id.is_empty() {
            return Ok(None);
        }
        if id.len() > MAX_REQUEST_ID {
            return Err(FieldViolation::new(
                field,
                format!("must be at most {MAX_REQUEST_ID} characters"),
            ));
        }
        if !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
        {
            return Err(FieldViolation::new(
                field,
                "may contain only letters, digits, '-', '_', '.' and ':' (a UUID is best)",
            ));
        }
        Ok(Some(Self {
            id: id.to_owned(),
            fingerprint,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_optional_bounded_and_plain() {
        assert_eq!(RequestKey::parse("request_id", "", "f".into()), Ok(None));
        let key = RequestKey::parse("request_id", "01a2-b3:c.d_e", "f".into())
            .unwrap()
            .unwrap();
        assert_eq!(key.id, "01a2-b3:c.d_e");
        assert!(RequestKey::parse("request_id", &"x".repeat(65), "f".into()).is_err());
        assert!(RequestKey::parse("request_id", "a b", "f".into()).is_err());
        assert!(RequestKey::parse("request_id", "é", "f".into()).is_err());
    }
}
