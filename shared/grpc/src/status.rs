//! Building statuses the same way everywhere.

use std::fmt::Display;
use std::time::Duration;

use ps_core::Invalid;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// InvalidArgument naming every bad field (google.rpc.BadRequest details).
pub fn invalid_argument(invalid: &Invalid) -> Status {
    let mut details = ErrorDetails::new();
    for violation in &invalid.violations {
        details.add_bad_request_violation(violation.field.clone(), violation.description.clone());
    }
    Status::with_error_details(Code::InvalidArgument, invalid.to_string(), details)
}

/// An unexpected failure: logged with its cause, answered with a generic message so no SQL or
/// internal detail reaches the client.
pub fn internal(context: &'static str, error: &dyn Display) -> Status {
    tracing::error!(context, error = %error, "internal error");
    Status::internal("internal error")
}

/// The answer for a database error: UNAVAILABLE when the database cannot be reached (the
/// client retries, and with a request id the retry is safe), ABORTED when a concurrent
/// transaction got in the way, INTERNAL (logged, generic message) for anything else.
pub fn database(context: &'static str, error: &ps_db::sea_orm::DbErr) -> Status {
    match ps_db::classify(error) {
        ps_db::Failure::Unavailable => unavailable(context, error),
        ps_db::Failure::Conflict => {
            tracing::info!(context, error = %error, "transaction conflict");
            Status::aborted("a concurrent change got in the way; retry")
        }
        ps_db::Failure::Other => internal(context, error),
    }
}

/// Unavailable for a dependency that is down; the client may retry.
pub fn unavailable(context: &'static str, error: &dyn Display) -> Status {
    tracing::warn!(context, error = %error, "dependency unavailable");
    Status::unavailable("a dependency is unavailable; retry later")
}

/// ResourceExhausted with google.rpc.RetryInfo: the server says when a retry may succeed, so
/// well-behaved clients spread their retries instead of coming back at once.
pub fn resource_exhausted(message: impl Into<String>, retry_after: Duration) -> Status {
    Status::with_error_details(
        Code::ResourceExhausted,
        message,
        ErrorDetails::with_retry_info(Some(retry_after)),
    )
}
