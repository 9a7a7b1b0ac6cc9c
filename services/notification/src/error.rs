//! Notification's one error type and its one mapping to gRPC statuses.

use ps_core::Invalid;
use tonic::Status;

/// Everything a use case can fail with; [`Status`] chooses the code per variant.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Invalid(#[from] Invalid),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    PermissionDenied(String),
    #[error("database: {0}")]
    Database(#[from] sea_orm::DbErr),
    #[error("{0}")]
    Internal(String),
}

impl From<Error> for Status {
    fn from(err: Error) -> Self {
        match err {
            Error::Invalid(invalid) => ps_grpc::status::invalid_argument(&invalid),
            Error::NotFound(_) => Status::not_found(err.to_string()),
            Error::PermissionDenied(message) => Status::permission_denied(message),
            Error::Database(db) => ps_grpc::status::database("notification database", &db),
            Error::Internal(reason) => ps_grpc::status::internal("notification", &reason),
        }
    }
}
