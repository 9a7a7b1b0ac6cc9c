//! The verified caller of a request, as the auth layer established it.

use ps_core::{PracticeId, PracticeRole, ServiceAccountId, SessionId, StaffId, UserId};

use crate::scopes::Scope;

/// Who is calling. The layer inserts one into every request's extensions.
#[derive(Debug, Clone)]
pub enum Caller {
    /// A signed-in user acting in one practice.
    User(UserCaller),
    /// A service account holding a service token.
    Service(ServiceCaller),
    /// Someone holding the operator credential.
    Operator,
    /// An allow-listed method called without credentials.
    Anonymous,
}

/// A signed-in user, as their access token names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserCaller {
    /// The user signed in.
    pub user_id: UserId,
    /// The practice the session acts in (the tenant every query is scoped to).
    pub practice_id: PracticeId,
    /// The user's staff member in that practice.
    pub staff_id: StaffId,
    /// The session the token belongs to.
    pub session_id: SessionId,
    /// The role when the token was issued; see [`crate::AccessClaims`].
    pub role: PracticeRole,
}

/// A machine caller: a service account with its scopes and, if it has one, its practice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceCaller {
    /// The service account (also its client id).
    pub account_id: ServiceAccountId,
    /// The account's name, for logs and audit trails.
    pub name: String,
    /// The scopes the account holds (see [`crate::scopes`]).
    pub scopes: Vec<Scope>,
    /// `None`: platform-wide, answers for every practice.
    pub practice: Option<PracticeId>,
    /// The account's token session; disabling the account ends it.
    pub session_id: SessionId,
}

impl ServiceCaller {
    /// Whether the account holds `scope`.
    pub fn has(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }

    /// Whether the account may see `practice`: a platform-wide account sees every practice, a
    /// practice-limited one only its own. Callers answer NotFound when it may not, exactly as
    /// for a practice that does not exist.
    pub fn may_see(&self, practice: PracticeId) -> bool {
        self.practice.is_none_or(|own| own == practice)
    }

    /// How audit trails name it: `name (service account <id>)`.
    pub fn audit_name(&self) -> String {
        format!("{} (service account {})", self.name, self.account_id)
    }
}

impl Caller {
    /// The signed-in user, or Unauthenticated. Handlers of user methods call this; the layer
    /// already refused requests without a valid token, so the error is a second line of defence.
    pub fn user_of<T>(request: &tonic::Request<T>) -> Result<UserCaller, tonic::Status> {
        match request.extensions().get::<Caller>() {
            Some(Caller::User(user)) => Ok(user.clone()),
            _ => Err(tonic::Status::unauthenticated(
                "a user access token is required",
            )),
        }
    }

    /// Whoever the layer let in (any kind), or Unauthenticated when the layer recorded no
    /// caller (a second line of defence, as [`Caller::user_of`]).
    pub fn of<T>(request: &tonic::Request<T>) -> Result<Caller, tonic::Status> {
        request
            .extensions()
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| tonic::Status::unauthenticated("a credential is required"))
    }

    /// The calling service account, or Unauthenticated (a second line of defence, as
    /// [`Caller::user_of`]).
    pub fn service_of<T>(request: &tonic::Request<T>) -> Result<ServiceCaller, tonic::Status> {
        match request.extensions().get::<Caller>() {
            Some(Caller::Service(service)) => Ok(service.clone()),
            _ => Err(tonic::Status::unauthenticated(
                "a service token is required",
            )),
        }
    }

    /// How logs and metrics name the caller: `user <id>`, `service <name> <id>`, `operator`,
    /// `anonymous`.
    pub fn describe(&self) -> String {
        match self {
            Caller::User(user) => format!("user {}", user.user_id),
            Caller::Service(service) => format!("service {} {}", service.name, service.account_id),
            Caller::Operator => "operator".into(),
            Caller::Anonymous => "anonymous".into(),
        }
    }

    /// The `caller` label of the RPC metrics: the service account's id, or `user`,
    /// `operator`, `anonymous` (bounded: one value per account, never per person).
    pub fn metric_label(&self) -> String {
        match self {
            Caller::User(_) => "user".into(),
            Caller::Service(service) => service.account_id.to_string(),
            Caller::Operator => "operator".into(),
            Caller::Anonymous => "anonymous".into(),
        }
    }
}
