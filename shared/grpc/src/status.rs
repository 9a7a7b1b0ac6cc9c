//! Building statuses the same way everywhere.

use std::fmt::Display;
use std::time::Duration;

use prost::Message;
use ps_core::Invalid;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// Violations an answer carries at most.
const MAX_VIOLATIONS: usize = 20;
/// Characters a field name or description carries at most: a description that quotes the
/// caller's input never makes the answer grow with it.
const MAX_TEXT: usize = 200;

/// `text` cut to [`MAX_TEXT`] characters, with an ellipsis when cut.
fn bounded(text: &str) -> String {
    match text.char_indices().nth(MAX_TEXT) {
        None => text.to_owned(),
        Some((end, _)) => format!("{}…", &text[..end]),
    }
}

/// InvalidArgument naming every bad field (google.rpc.BadRequest details), at most
/// [`MAX_VIOLATIONS`] of them, each cut to [`MAX_TEXT`] characters: a few hundred bytes
/// whatever the input.
pub fn invalid_argument(invalid: &Invalid) -> Status {
    let mut details = ErrorDetails::new();
    let shown = &invalid.violations[..invalid.violations.len().min(MAX_VIOLATIONS)];
    for violation in shown {
        details
            .add_bad_request_violation(bounded(&violation.field), bounded(&violation.description));
    }
    let summary = match invalid.violations.as_slice() {
        [] => "invalid input".to_owned(),
        [only] => format!(
            "invalid input: {} {}",
            bounded(&only.field),
            bounded(&only.description)
        ),
        [first, rest @ ..] => format!(
            "invalid input: {} {} (and {} more)",
            bounded(&first.field),
            bounded(&first.description),
            rest.len()
        ),
    };
    Status::with_error_details(Code::InvalidArgument, summary, details)
}

/// `status` with one more detail of ours in its google.rpc.Status. Clients find it by its type
/// name, as they find google.rpc's own details ([`detail`] here).
pub fn with_detail<M: prost::Name>(status: Status, detail: &M) -> Status {
    let mut details = tonic_types::pb::Status::decode(status.details()).unwrap_or_else(|_| {
        tonic_types::pb::Status {
            code: status.code() as i32,
            message: status.message().to_owned(),
            details: Vec::new(),
        }
    });
    details.details.push(prost_types::Any {
        type_url: M::type_url(),
        value: detail.encode_to_vec(),
    });
    Status::with_details(
        status.code(),
        status.message().to_owned(),
        details.encode_to_vec().into(),
    )
}

/// The first detail of type `M` a status carries, if any.
pub fn detail<M: prost::Name + Default>(status: &Status) -> Option<M> {
    tonic_types::pb::Status::decode(status.details())
        .ok()?
        .details
        .iter()
        .find_map(|any| any.to_msg::<M>().ok())
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
