//! Vocabulary every Practice Staff service shares, free of gRPC and database types.
//!
//! - [`clock`]: the injectable clock (real time in production, a movable one in tests).
//! - [`ids`]: typed UUIDv7 identifiers.
//! - [`validation`]: field violations collected while validating input.
//! - [`values`]: newtypes that are valid once constructed (e-mail, names).
//! - [`role`]: practice roles and what each may do.
//! - [`request`]: request ids that make a retried creating request safe.
//! - [`shutdown`]: a cloneable shutdown signal passed into every long-running task.

#![warn(missing_docs)]

pub mod clock;
pub mod ids;
pub mod offboarding;
pub mod request;
pub mod role;
pub mod shutdown;
pub mod validation;
pub mod values;

pub use clock::{Clock, ManualClock, SharedClock, SystemClock};
pub use ids::{
    EventId, LocationId, OrganisationId, PracticeId, RoleId, ServiceAccountId, SessionId, StaffId,
    UserId, WorkflowId,
};
pub use offboarding::{ExistingAccess, OffboardingCounts};
pub use request::RequestKey;
pub use role::{PracticeRole, RoleRequired};
pub use shutdown::{Shutdown, ShutdownTrigger};
pub use validation::{FieldViolation, Invalid, Violations};
pub use values::{Email, PersonName, TitleText};
pub mod page;
pub use page::{Page, PageRequest};
