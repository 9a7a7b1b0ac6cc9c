//! Values that are valid once constructed. Parsing names the request field on failure.

use std::fmt;

use crate::validation::FieldViolation;

/// An e-mail address, trimmed and lower-cased so one person has one spelling.
///
/// The check is deliberately structural (one `@`, a dotted domain, no spaces or control
/// characters, RFC 5321 lengths); deliverability is proven by the invitation itself.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Email(String);

impl Email {
    /// Trims and lower-cases `raw`, then checks its shape; the violation names `field`.
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldViolation> {
        let value = raw.trim().to_lowercase();
        if value.is_empty() {
            return Err(FieldViolation::new(field, "is required"));
        }
        let invalid = || FieldViolation::new(field, "is not a valid e-mail address");
        if value.len() > 254 || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid());
        }
        let (local, domain) = value.split_once('@').ok_or_else(invalid)?;
        if local.is_empty() || local.len() > 64 || domain.contains('@') {
            return Err(invalid());
        }
        let labels: Vec<&str> = domain.split('.').collect();
        if labels.len() < 2
            || labels.iter().any(|l| {
                l.is_empty()
                    || l.len() > 63
                    || l.starts_with('-')
                    || l.ends_with('-')
                    || !l.chars().all(|c| c.is_alphanumeric() || c == '-')
            })
        {
            return Err(invalid());
        }
        Ok(Self(value))
    }

    /// The address, lower-cased.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// For values read back from our own storage, which were validated when written.
    pub fn from_trusted(value: String) -> Self {
        Self(value)
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Free text of bounded length without control characters: names of people, practices,
/// organisations.
fn bounded_text(field: &str, raw: &str, max: usize) -> Result<String, FieldViolation> {
    let value = raw.trim();
    if value.is_empty() {
        return Err(FieldViolation::new(field, "is required"));
    }
    if value.chars().count() > max {
        return Err(FieldViolation::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(FieldViolation::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(value.to_owned())
}

/// A person's display name (1–200 characters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonName(String);

impl PersonName {
    /// Longest name accepted, in characters.
    pub const MAX_CHARS: usize = 200;

    /// Trims `raw` and checks it is 1–200 characters without control characters.
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldViolation> {
        bounded_text(field, raw, Self::MAX_CHARS).map(Self)
    }

    /// The name, trimmed.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// For values read back from our own storage, which were validated when written.
    pub fn from_trusted(value: String) -> Self {
        Self(value)
    }
}

impl fmt::Display for PersonName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The name of a practice or organisation (1–200 characters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TitleText(String);

impl TitleText {
    /// Longest name accepted, in characters.
    pub const MAX_CHARS: usize = 200;

    /// Trims `raw` and checks it is 1–200 characters without control characters.
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldViolation> {
        bounded_text(field, raw, Self::MAX_CHARS).map(Self)
    }

    /// The name, trimmed.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TitleText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_is_normalised() {
        let email = Email::parse("email", "  Ada.Lovelace@Example.ORG ").unwrap();
        assert_eq!(email.as_str(), "ada.lovelace@example.org");
    }

    #[test]
    fn malformed_emails_are_refused_with_the_field_name() {
        for bad in [
            "",
            "plain",
            "a@b",
            "a@@b.com",
            "a b@c.com",
            "@example.com",
            "a@-x.com",
            "a@x..com",
            "a@x\u{7}y.com",
        ] {
            let err = Email::parse("owner_email", bad).unwrap_err();
            assert_eq!(err.field, "owner_email", "{bad:?}");
        }
    }

    #[test]
    fn names_are_bounded_and_trimmed() {
        assert_eq!(PersonName::parse("name", "  Ada ").unwrap().as_str(), "Ada");
        assert!(PersonName::parse("name", "   ").is_err());
        assert!(PersonName::parse("name", &"x".repeat(201)).is_err());
        assert!(PersonName::parse("name", "a\u{0}b").is_err());
    }
}
