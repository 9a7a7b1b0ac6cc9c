//! Field violations, gathered so that one reply names every invalid field at once.

use std::fmt;

/// One invalid field of a request, in the shape of google.rpc.BadRequest.FieldViolation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    /// Path of the field in the request (`owner.email`, `entries[2].role`).
    pub field: String,
    /// What is wrong with it, said after the field name ("is required").
    pub description: String,
}

impl FieldViolation {
    /// A violation of `field`, described by `description`.
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            description: description.into(),
        }
    }

    /// The same violation under a nested field path (`owner.email`).
    pub fn within(mut self, parent: &str) -> Self {
        self.field = format!("{parent}.{}", self.field);
        self
    }
}

/// Input that failed validation; nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Invalid {
    /// Every invalid field found, in the order they were checked.
    pub violations: Vec<FieldViolation>,
}

impl Invalid {
    /// The same violations under a nested field path (`filter.query`).
    pub fn within(self, parent: &str) -> Self {
        Self {
            violations: self
                .violations
                .into_iter()
                .map(|violation| violation.within(parent))
                .collect(),
        }
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid input: ")?;
        for (i, v) in self.violations.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{} {}", v.field, v.description)?;
        }
        Ok(())
    }
}

impl From<FieldViolation> for Invalid {
    fn from(violation: FieldViolation) -> Self {
        Self {
            violations: vec![violation],
        }
    }
}

/// Collects violations while parsing a request.
///
/// ```ignore
/// let mut v = Violations::default();
/// let email = v.check(Email::parse("email", &req.email));
/// let name = v.check(PersonName::parse("name", &req.name));
/// v.finish()?;
/// // both are Some here
/// ```
#[derive(Debug, Default)]
pub struct Violations {
    violations: Vec<FieldViolation>,
}

impl Violations {
    /// The value, or `None` after recording the violation.
    pub fn check<T>(&mut self, result: Result<T, FieldViolation>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(violation) => {
                self.violations.push(violation);
                None
            }
        }
    }

    /// Like [`Violations::check`] for a check that reports several violations at once.
    pub fn check_all<T>(&mut self, result: Result<T, Invalid>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(invalid) => {
                self.violations.extend(invalid.violations);
                None
            }
        }
    }

    /// Records a violation found without a [`Violations::check`].
    pub fn push(&mut self, violation: FieldViolation) {
        self.violations.push(violation);
    }

    /// `Ok` when nothing was recorded; otherwise every violation as one [`Invalid`].
    pub fn finish(self) -> Result<(), Invalid> {
        if self.violations.is_empty() {
            Ok(())
        } else {
            Err(Invalid {
                violations: self.violations,
            })
        }
    }
}

/// Unwraps values checked by a [`Violations`] that has already `finish`ed without error.
///
/// Every `None` produced by `check` pushed a violation, so after a successful `finish` all are
/// `Some`; the message names the broken invariant if a caller skips `finish`.
pub fn checked<T>(value: Option<T>) -> T {
    value.expect("a value is None only when a violation was recorded, and finish() returned Ok")
}
