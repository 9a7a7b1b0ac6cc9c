//! The verified caller of a request, as the auth layer established it.

use ps_core::{PracticeId, PracticeRole, SessionId, StaffId, UserId};

/// Who is calling. The layer inserts one into every request's extensions.
#[derive(Debug, Clone)]
pub enum Caller {
    /// A signed-in user acting in one practice.
    User(UserCaller),
    /// Another service holding the internal credential.
    Service,
    /// Someone holding the operator credential.
    Operator,
    /// An allow-listed method called without credentials.
    Anonymous,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserCaller {
    pub user_id: UserId,
    pub practice_id: PracticeId,
    pub staff_id: StaffId,
    pub session_id: SessionId,
    /// The role when the token was issued; see [`crate::AccessClaims`].
    pub role: PracticeRole,
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
}
