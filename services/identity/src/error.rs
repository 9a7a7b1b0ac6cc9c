//! Identity's one error type and its one mapping to gRPC statuses.

use ps_core::Invalid;
use tonic::Status;

use crate::domain::MyPractice;
use crate::passwords::HashError;

/// Why a sign-in to an account active in several practices must name one.
const SEVERAL_PRACTICES: &str = "is required: this account is active in several practices";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Invalid(#[from] Invalid),
    #[error("invitation not found")]
    InvitationNotFound,
    #[error("password reset link not found")]
    ResetLinkNotFound,
    #[error("this link was already used")]
    LinkUsed,
    #[error("this link was replaced by a newer one; use the latest e-mail")]
    LinkReplaced,
    #[error("this link has expired; ask for a new one")]
    LinkExpired,
    #[error("this invitation was already answered")]
    InvitationUsed,
    #[error("this invitation was replaced by a newer one; use the latest e-mail")]
    InvitationReplaced,
    #[error("this invitation has expired; ask for a new one")]
    InvitationExpired,
    #[error("the password does not match the existing account for this e-mail")]
    ExistingPasswordMismatch,
    #[error("invalid e-mail or password")]
    BadCredentials,
    #[error("no active membership in the requested practice")]
    NoActivePractice,
    /// The password was right, but the account is active in several practices and the
    /// sign-in named none: these are the ones to choose from.
    #[error("{SEVERAL_PRACTICES}")]
    PracticeRequired(Vec<MyPractice>),
    #[error("the session has ended; sign in again")]
    SessionEnded,
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    PermissionDenied(String),
    #[error("the service credential was refused")]
    ServiceCredentialRefused,
    #[error("too many password checks in progress; retry in {} ms", .0.as_millis())]
    Busy(std::time::Duration),
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

impl From<HashError> for Error {
    fn from(err: HashError) -> Self {
        match err {
            HashError::Busy { retry_after } => Error::Busy(retry_after),
            HashError::Failed(reason) => Error::Internal(reason),
        }
    }
}

impl From<Error> for Status {
    fn from(err: Error) -> Self {
        match err {
            Error::Invalid(invalid) => ps_grpc::status::invalid_argument(&invalid),
            Error::InvitationNotFound | Error::ResetLinkNotFound | Error::NotFound(_) => {
                Status::not_found(err.to_string())
            }
            Error::AlreadyExists(_) => Status::already_exists(err.to_string()),
            Error::PermissionDenied(_) => Status::permission_denied(err.to_string()),
            Error::ServiceCredentialRefused => Status::unauthenticated(err.to_string()),
            Error::InvitationUsed
            | Error::InvitationReplaced
            | Error::InvitationExpired
            | Error::LinkUsed
            | Error::LinkReplaced
            | Error::LinkExpired => Status::failed_precondition(err.to_string()),
            Error::ExistingPasswordMismatch | Error::BadCredentials | Error::SessionEnded => {
                Status::unauthenticated(err.to_string())
            }
            Error::NoActivePractice => Status::permission_denied(err.to_string()),
            Error::PracticeRequired(practices) => {
                let invalid = Invalid::from(ps_core::FieldViolation::new(
                    "practice_id",
                    SEVERAL_PRACTICES,
                ));
                let choices = ps_proto::identity::v1::PracticeChoices {
                    practices: practices
                        .into_iter()
                        .map(crate::convert::my_practice)
                        .collect(),
                };
                ps_grpc::status::with_detail(ps_grpc::status::invalid_argument(&invalid), &choices)
            }
            Error::Busy(retry_after) => {
                ps_grpc::status::resource_exhausted(err.to_string(), retry_after)
            }
            Error::Database(db) => ps_grpc::status::database("identity database", &db),
            Error::Internal(reason) => ps_grpc::status::internal("identity", &reason),
        }
    }
}
