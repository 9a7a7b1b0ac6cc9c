//! Org-access's one error type and its one mapping to gRPC statuses.

use ps_core::Invalid;
use tonic::Status;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Invalid(#[from] Invalid),
    #[error("{0} not found")]
    NotFound(&'static str),
    /// Something a changeset entry names does not exist in the practice; the message names the
    /// entry.
    #[error("{0}")]
    Missing(String),
    #[error("{0}")]
    PermissionDenied(String),
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("{0}")]
    AlreadyExists(String),
    /// Lost a race with a concurrent change; retrying the same request is safe.
    #[error("{0}")]
    Aborted(String),
    #[error("database: {0}")]
    Database(#[from] sea_orm::DbErr),
    #[error("{0}")]
    Internal(String),
}

impl From<ps_core::FieldViolation> for Error {
    fn from(violation: ps_core::FieldViolation) -> Self {
        Error::Invalid(violation.into())
    }
}

impl From<crate::domain::ChangesetRefusal> for Error {
    fn from(refusal: crate::domain::ChangesetRefusal) -> Self {
        use crate::domain::ChangesetRefusal::*;
        match refusal {
            Invalid(violation) => violation.into(),
            Missing(message) => Error::Missing(message),
            Precondition(message) => Error::FailedPrecondition(message),
        }
    }
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
            Error::NotFound(_) | Error::Missing(_) => Status::not_found(err.to_string()),
            Error::PermissionDenied(message) => Status::permission_denied(message),
            Error::FailedPrecondition(message) => Status::failed_precondition(message),
            Error::AlreadyExists(message) => Status::already_exists(message),
            Error::Aborted(message) => Status::aborted(message),
            Error::Database(db) => ps_grpc::status::database("org-access database", &db),
            Error::Internal(reason) => ps_grpc::status::internal("org-access", &reason),
        }
    }
}
