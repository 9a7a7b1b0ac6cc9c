//! One tower layer in front of a service's whole router: it decides per method which
//! credential is needed, verifies it, and hands the handler a [`Caller`]. Methods are closed by
//! default: anything the [`AccessPolicy`] does not name needs a valid user access token, so a
//! service added later without thought is not open.
//!
//! Refusals: no credential, or one that does not verify (bad signature, expired, an ended
//! session or a disabled service account) is UNAUTHENTICATED; a valid credential of the wrong
//! kind (a user token where a service token is needed, or the reverse) or a service token
//! without the method's scope is PERMISSION_DENIED naming what is missing.
//!
//! The layer names the caller on the RPC's span (`ps.caller`) and, for the RPC metrics, in the
//! response's extensions ([`CallerLabel`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use ps_config::Secret;
use subtle::ConstantTimeEq;
use tower::{Layer, Service};
use tracing::debug;

use crate::OPERATOR_TOKEN_HEADER;
use crate::caller::Caller;
use crate::scopes::Scope;
use crate::verifier::{TokenError, TokenVerifier, Verified};

/// The credential a method needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No credential (health, reflection, sign-in, invitation links).
    Public,
    /// A user access token.
    User,
    /// A service token holding the scope.
    Scoped(Scope),
    /// A whole internal service: every method needs a service token, and each must declare its
    /// scope with [`Access::Scoped`]; a method that does not is refused (PERMISSION_DENIED),
    /// so forgetting one closes it instead of opening it.
    Internal,
    /// The operator credential.
    Operator,
    /// The operator credential, or a user access token (the handler decides what the user may).
    OperatorOrUser,
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

    /// An internal service and the scope each of its methods needs, in one table:
    /// `internal("pkg.Service", &[("Method", scope), …])`.
    pub fn internal(mut self, service: &str, methods: &[(&str, Scope)]) -> Self {
        self = self.service(service, Access::Internal);
        for (method, scope) in methods {
            self = self.method(&format!("{service}/{method}"), Access::Scoped(*scope));
        }
        self
    }

    /// The credential the method at `path` (`/pkg.Service/Method`) needs: its own rule, else its
    /// service's, else [`Access::User`].
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

    /// Every method with a declared scope, as `(/pkg.Service/Method, scope)`, sorted.
    pub fn scoped_methods(&self) -> Vec<(String, Scope)> {
        let mut methods: Vec<_> = self
            .rules
            .iter()
            .filter_map(|(path, access)| match access {
                Access::Scoped(scope) => Some((path.clone(), *scope)),
                _ => None,
            })
            .collect();
        methods.sort();
        methods
    }

    /// The services declared [`Access::Internal`], as `pkg.Service`.
    pub fn internal_services(&self) -> Vec<String> {
        let mut services: Vec<_> = self
            .rules
            .iter()
            .filter(|(_, access)| **access == Access::Internal)
            .map(|(path, _)| path.trim_matches('/').to_owned())
            .collect();
        services.sort();
        services
    }
}

/// Whether a session has ended (signed out, reset, deactivated, a service account disabled):
/// its tokens are then refused although their signature and expiry still hold.
pub trait SessionCheck: Send + Sync + 'static {
    /// Whether `session`'s tokens are to be refused.
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

/// The caller as the RPC metrics label it (see [`Caller::metric_label`]); `unauthenticated`
/// when the request was refused before a caller was known. Put in the response's extensions.
#[derive(Debug, Clone)]
pub struct CallerLabel(pub String);

struct State {
    policy: AccessPolicy,
    verifier: Arc<TokenVerifier>,
    sessions: Arc<dyn SessionCheck>,
    operator_token: Secret,
}

/// The layer in front of a service's router; see the module documentation.
#[derive(Clone)]
pub struct AuthLayer(Arc<State>);

impl AuthLayer {
    /// An empty `operator_token` disables operator methods entirely.
    pub fn new(
        policy: AccessPolicy,
        verifier: Arc<TokenVerifier>,
        sessions: Arc<dyn SessionCheck>,
        operator_token: Secret,
    ) -> Self {
        Self(Arc::new(State {
            policy,
            verifier,
            sessions,
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

/// The service [`AuthLayer`] wraps around the router.
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

fn bearer(headers: &http::HeaderMap) -> Option<&str> {
    header(headers, "authorization")
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// A refused request, with the caller when the credential itself was valid.
struct Refusal {
    status: tonic::Status,
    caller: Option<Caller>,
}

impl From<tonic::Status> for Refusal {
    fn from(status: tonic::Status) -> Self {
        Self {
            status,
            caller: None,
        }
    }
}

fn denied(caller: Caller, message: String) -> Refusal {
    Refusal {
        status: tonic::Status::permission_denied(message),
        caller: Some(caller),
    }
}

/// Verifies the bearer token (of either kind) and its session.
async fn token_caller(
    state: &State,
    path: &str,
    headers: &http::HeaderMap,
) -> Result<Caller, Refusal> {
    let token = bearer(headers).ok_or_else(|| {
        tonic::Status::unauthenticated("an access token is required (authorization: Bearer …)")
    })?;
    let verified = match state.verifier.verify_caller(token).await {
        Ok(verified) => verified,
        // Identity (the keys' source) is down: not the caller's fault, retry later.
        Err(err @ TokenError::KeysUnavailable) => {
            return Err(tonic::Status::unavailable(err.to_string()).into());
        }
        Err(err) => {
            debug!(path, error = %err, "token refused");
            return Err(tonic::Status::unauthenticated(err.to_string()).into());
        }
    };
    let (session, caller) = match verified {
        Verified::User(user) => (user.session_id, Caller::User(user)),
        Verified::Service(service) => (service.session_id, Caller::Service(service)),
    };
    if state.sessions.has_ended(session) {
        debug!(path, session_id = %session, caller = %caller.describe(), "token of an ended session refused");
        let message = match caller {
            Caller::Service(_) => {
                "this service account's tokens were ended (the account was disabled)"
            }
            _ => "this session has ended; sign in again",
        };
        return Err(tonic::Status::unauthenticated(message).into());
    }
    Ok(caller)
}

async fn authenticate(
    state: &State,
    path: &str,
    headers: &http::HeaderMap,
) -> Result<Caller, Refusal> {
    let operator = || {
        if secret_matches(
            &state.operator_token,
            header(headers, OPERATOR_TOKEN_HEADER),
        ) {
            Ok(Caller::Operator)
        } else {
            Err(Refusal::from(tonic::Status::unauthenticated(
                "a valid operator credential is required",
            )))
        }
    };
    match state.policy.access_for(path) {
        Access::Public => Ok(Caller::Anonymous),
        Access::Operator => operator(),
        Access::OperatorOrUser if headers.contains_key(OPERATOR_TOKEN_HEADER) => operator(),
        Access::User | Access::OperatorOrUser => match token_caller(state, path, headers).await? {
            user @ Caller::User(_) => Ok(user),
            other => Err(denied(
                other,
                "this method is for people: it needs a user's access token, not a service token"
                    .into(),
            )),
        },
        Access::Scoped(scope) => match token_caller(state, path, headers).await? {
            Caller::Service(service) if service.has(scope) => Ok(Caller::Service(service)),
            Caller::Service(service) => Err(denied(
                Caller::Service(service),
                format!("the service account lacks the scope {scope}"),
            )),
            other => Err(denied(
                other,
                format!(
                    "this method needs a service token with the scope {scope}; user tokens are not accepted"
                ),
            )),
        },
        Access::Internal => {
            let caller = token_caller(state, path, headers).await?;
            Err(denied(
                caller,
                "no scope is declared for this method, so no service account may call it".into(),
            ))
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
            let outcome = authenticate(&state, &path, request.headers()).await;
            let caller = match &outcome {
                Ok(caller) => Some(caller),
                Err(refusal) => refusal.caller.as_ref(),
            };
            let label = caller.map_or_else(|| "unauthenticated".to_owned(), Caller::metric_label);
            let described = caller.map_or_else(|| "unauthenticated".to_owned(), Caller::describe);
            tracing::Span::current().record("ps.caller", described.as_str());
            let mut response = match outcome {
                Ok(caller) => {
                    request.extensions_mut().insert(caller);
                    inner.call(request).await?
                }
                Err(refusal) => refusal.status.into_http(),
            };
            response.extensions_mut().insert(CallerLabel(label));
            Ok(response)
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
            .internal(
                "identity.v1.IdentityInternalService",
                &[(
                    "IssueInvitationLink",
                    crate::scopes::IDENTITY_INVITATION_LINKS,
                )],
            );
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
            Access::Scoped(crate::scopes::IDENTITY_INVITATION_LINKS)
        );
        // A method of an internal service without a declared scope is closed.
        assert_eq!(
            policy.access_for("/identity.v1.IdentityInternalService/VoidLink"),
            Access::Internal
        );
        assert_eq!(
            policy.internal_services(),
            vec!["identity.v1.IdentityInternalService".to_owned()]
        );
        assert_eq!(policy.scoped_methods().len(), 1);
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
