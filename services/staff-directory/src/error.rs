//! Staff-directory's one error type and its one mapping to gRPC statuses.

use std::time::Duration;

use ps_core::Invalid;
use tonic::Status;
use tonic_types::{ErrorDetails, StatusExt};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Invalid(#[from] Invalid),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    PermissionDenied(String),
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("{email} is already a staff member of this practice (staff id {staff_id})")]
    AlreadyMember { email: String, staff_id: String },
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{what}; retry in {} minutes", retry_after.as_secs().div_ceil(60))]
    RateLimited { what: String, retry_after: Duration },
    /// Lost a race with a concurrent request; retrying is safe.
    #[error("{0}")]
    Aborted(String),
    #[error("database: {0}")]
    Database(#[from] sea_orm::DbErr),
    #[error("{0}")]
    Internal(String),
}

impl From<ps_core::RoleRequired> for Error {
    fn from(refused: ps_core::RoleRequired) -> Self {
        Error::PermissionDenied(refused.0)
    }
}

impl From<Error> for Status {
    fn from(err: Error) -> Self {
        match err {
            Error::Invalid(invalid) => ps_grpc::status::invalid_argument(&invalid),
            Error::NotFound(_) => Status::not_found(err.to_string()),
            Error::PermissionDenied(message) => Status::permission_denied(message),
            Error::FailedPrecondition(message) => Status::failed_precondition(message),
            Error::AlreadyMember { .. } | Error::AlreadyExists(_) => {
                Status::already_exists(err.to_string())
            }
            Error::RateLimited { retry_after, .. } => {
                let mut details = ErrorDetails::new();
                details.set_retry_info(Some(retry_after));
                Status::with_error_details(tonic::Code::ResourceExhausted, err.to_string(), details)
            }
            Error::Aborted(message) => Status::aborted(message),
            Error::Database(db) => ps_grpc::status::database("staff-directory database", &db),
            Error::Internal(reason) => ps_grpc::status::internal("staff-directory", &reason),
        }
    }
}
