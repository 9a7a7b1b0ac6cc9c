//! One tower layer in front of a service's whole router: it decides per method which
//! credential is needed, verifies it, and hands the handler a [`Caller`]. Methods are closed by
//! default: anything the [`AccessPolicy`] does not name needs a valid user access token, so a
//! service added later without thought is not open.

use std::collections::HashMap;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use ps_config::Secret;
use subtle::ConstantTimeEq;
use tower::{Layer, Service};
use tracing::debug;

use crate::caller::Caller;
use crate::verifier::TokenVerifier;
use crate::{OPERATOR_TOKEN_HEADER, SERVICE_TOKEN_HEADER};

/// The credential a method needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No credential (health, reflection, sign-in, invitation links).
    Public,
    /// A user access token.
    User,
    /// The internal service credential.
    Internal,
    /// The operator credential.
    Operator,
}

/// Which credential each method needs. Keys are full method paths (`/pkg.Service/Method`) or
/// whole services (`/pkg.Service/`).
#[derive(Debug, Clone)]
pub struct AccessPolicy {
    rules: HashMap<String, Access>,
}

impl Default for AccessPolicy {
    fn default() -> Self {
        Self::new()
    }
}

impl AccessPolicy {
    /// Health and reflection are public; everything else needs a user token until said otherwise.
    pub fn new() -> Self {
        let mut policy = Self {
            rules: HashMap::new(),
        };
        for service in [
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection",
        ] {
            policy = policy.service(service, Access::Public);
        }
        policy
    }

    /// `method` is `package.Service/Method`.
    pub fn method(mut self, method: &str, access: Access) -> Self {
        self.rules.insert(format!("/{method}"), access);
        self
    }

    /// Every method of `package.Service`.
    pub fn service(mut self, service: &str, access: Access) -> Self {
        self.rules.insert(format!("/{service}/"), access);
        self
    }

    pub fn access_for(&self, path: &str) -> Access {
        if let Some(access) = self.rules.get(path) {
            return *access;
        }
        // A service-wide rule (`/pkg.Service/`); anything unnamed needs a user token.
        path.rfind('/')
            .and_then(|slash| self.rules.get(&path[..=slash]))
            .copied()
            .unwrap_or(Access::User)
    }
}

/// Whether a session has ended (signed out, reset, deactivated): its access tokens are then
/// refused although their signature and expiry still hold.
pub trait SessionCheck: Send + Sync + 'static {
    fn has_ended(&self, session: ps_core::SessionId) -> bool;
}

/// For callers that track no sessions (tests of the layer itself).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoEndedSessions;

impl SessionCheck for NoEndedSessions {
    fn has_ended(&self, _session: ps_core::SessionId) -> bool {
        false
    }
}

struct State {
    policy: AccessPolicy,
    verifier: Arc<TokenVerifier>,
    sessions: Arc<dyn SessionCheck>,
    internal_token: Secret,
    operator_token: Secret,
}

#[derive(Clone)]
pub struct AuthLayer(Arc<State>);

impl AuthLayer {
    /// An empty `operator_token` disables operator methods entirely.
    pub fn new(
        policy: AccessPolicy,
        verifier: Arc<TokenVerifier>,
        sessions: Arc<dyn SessionCheck>,
        internal_token: Secret,
        operator_token: Secret,
    ) -> Self {
        Self(Arc::new(State {
            policy,
            verifier,
            sessions,
            internal_token,
            operator_token,
        }))
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            state: self.0.clone(),
            inner,
        }
    }
}

#[derive(Clone)]
pub struct AuthService<S> {
    state: Arc<State>,
    inner: S,
}

fn header<'a>(headers: &'a http::HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn secret_matches(expected: &Secret, presented: Option<&str>) -> bool {
    match presented {
        Some(presented) if !expected.is_empty() => {
            bool::from(expected.expose().as_bytes().ct_eq(presented.as_bytes()))
        }
        _ => false,
    }
}

async fn authenticate(
    state: &State,
    path: &str,
    headers: &http::HeaderMap,
) -> Result<Caller, tonic::Status> {
    match state.policy.access_for(path) {
        Access::Public => Ok(Caller::Anonymous),
        Access::Internal => {
            if secret_matches(&state.internal_token, header(headers, SERVICE_TOKEN_HEADER)) {
                Ok(Caller::Service)
            } else {
                Err(tonic::Status::unauthenticated(
                    "a valid service credential is required",
                ))
            }
        }
        Access::Operator => {
            if secret_matches(
                &state.operator_token,
                header(headers, OPERATOR_TOKEN_HEADER),
            ) {
                Ok(Caller::Operator)
            } else {
                Err(tonic::Status::unauthenticated(
                    "a valid operator credential is required",
                ))
            }
        }
        Access::User => {
            let token = header(headers, "authorization")
                .and_then(|v| {
                    v.strip_prefix("Bearer ")
                        .or_else(|| v.strip_prefix("bearer "))
                })
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .ok_or_else(|| {
                    tonic::Status::unauthenticated(
                        "an access token is required (authorization: Bearer …)",
                    )
                })?;
            match state.verifier.verify_user(token).await {
                Ok(user) if state.sessions.has_ended(user.session_id) => {
                    debug!(path, session_id = %user.session_id, "token of an ended session refused");
                    Err(tonic::Status::unauthenticated(
                        "this session has ended; sign in again",
                    ))
                }
                Ok(user) => Ok(Caller::User(user)),
                // Identity (the keys' source) is down: not the caller's fault, retry later.
                Err(err @ crate::verifier::TokenError::KeysUnavailable) => {
                    Err(tonic::Status::unavailable(err.to_string()))
                }
                Err(err) => {
                    debug!(path, error = %err, "access token refused");
                    Err(tonic::Status::unauthenticated(err.to_string()))
                }
            }
        }
    }
}

impl<S, B> Service<http::Request<B>> for AuthService<S>
where
    S: Service<http::Request<B>, Response = http::Response<tonic::body::Body>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        // The clone is not ready; swap so the ready instance serves this request.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let state = self.state.clone();
        Box::pin(async move {
            let path = request.uri().path().to_owned();
            match authenticate(&state, &path, request.headers()).await {
                Ok(caller) => {
                    request.extensions_mut().insert(caller);
                    inner.call(request).await
                }
                Err(status) => Ok(status.into_http()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_methods_need_a_user_token() {
        let policy = AccessPolicy::new()
            .method("identity.v1.IdentityService/SignIn", Access::Public)
            .service("identity.v1.IdentityInternalService", Access::Internal);
        assert_eq!(
            policy.access_for("/identity.v1.IdentityService/SignIn"),
            Access::Public
        );
        assert_eq!(
            policy.access_for("/identity.v1.IdentityService/SignOut"),
            Access::User
        );
        assert_eq!(
            policy.access_for("/identity.v1.IdentityInternalService/IssueInvitationLink"),
            Access::Internal
        );
        assert_eq!(
            policy.access_for("/grpc.health.v1.Health/Check"),
            Access::Public
        );
        assert_eq!(policy.access_for("/evil.Service/Method"), Access::User);
        assert_eq!(policy.access_for("/"), Access::User);
    }

    #[test]
    fn empty_secrets_never_match() {
        assert!(!secret_matches(&Secret::new(""), Some("")));
        assert!(!secret_matches(&Secret::new("abc"), None));
        assert!(!secret_matches(&Secret::new("abc"), Some("abd")));
        assert!(secret_matches(&Secret::new("abc"), Some("abc")));
    }
}
