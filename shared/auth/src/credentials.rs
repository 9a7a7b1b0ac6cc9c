//! Client-side credentials.
//!
//! - [`Credential`]: an interceptor attaching a fixed credential (a person's access token, the
//!   operator credential) to every call.
//! - [`ServiceCredentials`]: a service account's credential. It fetches a service token from
//!   identity's `IssueServiceToken` (client secret or a signed assertion), keeps it, and fetches
//!   the next one halfway through its lifetime; [`ServiceCredentials::layer`] wraps a channel so
//!   every call carries the current token. The product's own services call each other this way,
//!   and so can any Rust client:
//!
//! ```ignore
//! let credentials = ServiceCredentials::new(identity_channel, settings, TokenSettings::default())?;
//! let channel = tower::ServiceBuilder::new()
//!     .layer(credentials.layer())
//!     .service(org_access_channel);
//! let mut authorization = OrgAccessAuthorizationServiceClient::new(channel);
//! ```

use std::path::PathBuf;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use ps_config::Secret;
use ps_proto::identity::v1 as identity;
use ps_proto::identity::v1::identity_service_client::IdentityServiceClient;
use serde::{Deserialize, Serialize};
use tonic::metadata::MetadataValue;
use tonic::service::Interceptor;
use tonic::{Code, Request, Status};
use tower::{Layer, Service};
use tracing::{debug, warn};

use crate::OPERATOR_TOKEN_HEADER;
use crate::keys::SigningKey;

/// Attaches a credential header to every call.
#[derive(Clone)]
pub struct Credential {
    header: &'static str,
    value: MetadataValue<tonic::metadata::Ascii>,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("header", &self.header)
            .finish_non_exhaustive()
    }
}

/// A credential with characters a header may not carry (header values are printable ASCII).
#[derive(Debug, thiserror::Error)]
#[error("credential contains characters not allowed in a header")]
pub struct BadCredential;

impl Credential {
    /// `authorization: Bearer <token>`: a person's access token, or a service token.
    pub fn bearer(token: &str) -> Result<Self, BadCredential> {
        Self::new("authorization", &format!("Bearer {token}"))
    }

    /// The operator credential, in its own header ([`OPERATOR_TOKEN_HEADER`]).
    pub fn operator(token: &str) -> Result<Self, BadCredential> {
        Self::new(OPERATOR_TOKEN_HEADER, token)
    }

    fn new(header: &'static str, value: &str) -> Result<Self, BadCredential> {
        let mut value: MetadataValue<_> = value.parse().map_err(|_| BadCredential)?;
        value.set_sensitive(true);
        Ok(Self { header, value })
    }
}

/// Adds the caller's W3C trace context, so the callee's span joins the caller's trace.
fn add_trace_context(headers: &mut http::HeaderMap) {
    let trace = ps_telemetry::TraceContext::current();
    for (name, value) in [
        ("traceparent", trace.traceparent),
        ("tracestate", trace.tracestate),
    ] {
        if !value.is_empty()
            && let Ok(value) = http::HeaderValue::from_str(&value)
        {
            headers.insert(name, value);
        }
    }
}

impl Interceptor for Credential {
    /// Attaches the credential, and the caller's trace context.
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let metadata = request.metadata_mut();
        metadata.insert(self.header, self.value.clone());
        let trace = ps_telemetry::TraceContext::current();
        for (name, value) in [
            ("traceparent", trace.traceparent),
            ("tracestate", trace.tracestate),
        ] {
            if !value.is_empty()
                && let Ok(value) = value.parse()
            {
                metadata.insert(name, value);
            }
        }
        Ok(request)
    }
}

/// A service account's credential, as configuration holds it: the client id and either its
/// secret or the file of a private key registered to it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServiceCredentialSettings {
    /// The service account's id.
    pub client_id: String,
    /// The account's client secret; unused when `private_key_file` is set.
    pub client_secret: Secret,
    /// Instead of a secret: an Ed25519 private key (PKCS#8 PEM) registered to the account …
    pub private_key_file: Option<PathBuf>,
    /// … and the key id identity gave it.
    pub key_id: String,
}

impl ServiceCredentialSettings {
    /// Whether there is a client id and a secret or key to prove it with.
    pub fn is_configured(&self) -> bool {
        !self.client_id.trim().is_empty()
            && (!self.client_secret.is_empty() || self.private_key_file.is_some())
    }
}

/// Why a service credential could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// The client id, or both the secret and the key file, are missing.
    #[error("the service credential needs a client id and a client secret or a private key file")]
    Incomplete,
    /// The private key file could not be read or is not a PKCS#8 Ed25519 key.
    #[error("reading the private key {path}: {reason}")]
    Key {
        /// The key file.
        path: PathBuf,
        /// Why it could not be used.
        reason: String,
    },
}

/// How the account proves itself to identity.
enum Proof {
    Secret(Secret),
    Key(SigningKey),
}

/// The claims of a client assertion (RFC 7523 style).
#[derive(Serialize)]
struct Assertion<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
    jti: String,
}

/// How long an assertion this client signs is valid: identity accepts at most 5 minutes.
const ASSERTION_LIFETIME: Duration = Duration::from_secs(60);

#[derive(Clone)]
struct Current {
    header: http::HeaderValue,
    refresh_at: Instant,
    expires_at: Instant,
}

struct Inner {
    client_id: String,
    proof: Proof,
    issuer: String,
    identity: IdentityServiceClient<tonic::transport::Channel>,
    current: std::sync::RwLock<Option<Current>>,
    /// One fetch at a time; callers arriving meanwhile take its result.
    fetching: tokio::sync::Mutex<()>,
}

/// See the module documentation.
#[derive(Clone)]
pub struct ServiceCredentials(Arc<Inner>);

impl std::fmt::Debug for ServiceCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceCredentials")
            .field("client_id", &self.0.client_id)
            .finish_non_exhaustive()
    }
}

impl ServiceCredentials {
    /// `identity` reaches identity (lazily connected is fine); `tokens` says whom assertions
    /// are addressed to (identity's issuer).
    pub fn new(
        identity: tonic::transport::Channel,
        settings: &ServiceCredentialSettings,
        tokens: &crate::TokenSettings,
    ) -> Result<Self, CredentialError> {
        if !settings.is_configured() {
            return Err(CredentialError::Incomplete);
        }
        let proof = match &settings.private_key_file {
            Some(path) => {
                let pem = std::fs::read_to_string(path).map_err(|e| CredentialError::Key {
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
                Proof::Key(
                    SigningKey::from_pkcs8_pem(settings.key_id.clone(), &pem).map_err(|e| {
                        CredentialError::Key {
                            path: path.clone(),
                            reason: e.to_string(),
                        }
                    })?,
                )
            }
            None => Proof::Secret(settings.client_secret.clone()),
        };
        Ok(Self::with_proof(
            identity,
            settings.client_id.trim(),
            proof,
            tokens,
        ))
    }

    /// A credential proving itself with a private key held in memory.
    pub fn with_key(
        identity: tonic::transport::Channel,
        client_id: &str,
        key: SigningKey,
        tokens: &crate::TokenSettings,
    ) -> Self {
        Self::with_proof(identity, client_id, Proof::Key(key), tokens)
    }

    fn with_proof(
        identity: tonic::transport::Channel,
        client_id: &str,
        proof: Proof,
        tokens: &crate::TokenSettings,
    ) -> Self {
        Self(Arc::new(Inner {
            client_id: client_id.to_owned(),
            proof,
            issuer: tokens.issuer.clone(),
            identity: IdentityServiceClient::new(identity),
            current: std::sync::RwLock::new(None),
            fetching: tokio::sync::Mutex::new(()),
        }))
    }

    /// The service account's id (trimmed).
    pub fn client_id(&self) -> &str {
        &self.0.client_id
    }

    fn cached(&self) -> Option<Current> {
        self.0
            .current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The `authorization` header value of a current token, fetching one when there is none
    /// or it is past half its lifetime. A token still valid is used while a newer one cannot
    /// be had (identity restarting), so a short outage of identity fails no call.
    pub async fn authorization(&self) -> Result<http::HeaderValue, Status> {
        let now = Instant::now();
        if let Some(current) = self.cached()
            && current.refresh_at > now
        {
            return Ok(current.header);
        }
        let _one = self.0.fetching.lock().await;
        if let Some(current) = self.cached()
            && current.refresh_at > Instant::now()
        {
            return Ok(current.header);
        }
        match self.fetch().await {
            Ok(fresh) => {
                let header = fresh.header.clone();
                *self.0.current.write().unwrap_or_else(|p| p.into_inner()) = Some(fresh);
                Ok(header)
            }
            Err(status) => match self.cached() {
                Some(current) if current.expires_at > Instant::now() => {
                    warn!(client_id = %self.0.client_id, error = %status.message(), "refreshing the service token failed; using the current one meanwhile");
                    Ok(current.header)
                }
                _ => Err(status),
            },
        }
    }

    /// The current token is refused somewhere (the account was disabled, keys rotated): the
    /// next call fetches a new one.
    pub fn forget(&self) {
        *self.0.current.write().unwrap_or_else(|p| p.into_inner()) = None;
    }

    async fn fetch(&self) -> Result<Current, Status> {
        let (client_secret, client_assertion) = match &self.0.proof {
            Proof::Secret(secret) => (secret.expose().to_owned(), String::new()),
            Proof::Key(key) => (String::new(), self.assertion(key)?),
        };
        let started = Instant::now();
        let reply = self
            .0
            .identity
            .clone()
            .issue_service_token(identity::IssueServiceTokenRequest {
                client_id: self.0.client_id.clone(),
                client_secret,
                client_assertion,
                // All of the account's scopes.
                scopes: Vec::new(),
            })
            .await
            .map_err(|status| match status.code() {
                // The credential itself is wrong: say so as it is.
                Code::Unauthenticated | Code::PermissionDenied | Code::InvalidArgument => {
                    Status::new(
                        status.code(),
                        format!(
                            "identity refused the service credential {}: {}",
                            self.0.client_id,
                            status.message()
                        ),
                    )
                }
                // Anything else (identity down, restarting, slow) is worth retrying.
                _ => Status::unavailable(format!(
                    "no service token: identity answered {:?}: {}",
                    status.code(),
                    status.message()
                )),
            })?
            .into_inner();
        let lifetime = Duration::from_secs(u64::from(reply.expires_in.max(2)));
        let mut header = http::HeaderValue::from_str(&format!("Bearer {}", reply.access_token))
            .map_err(|_| Status::internal("identity issued a token that is not a header value"))?;
        header.set_sensitive(true);
        debug!(client_id = %self.0.client_id, lifetime_secs = lifetime.as_secs(), "service token fetched");
        Ok(Current {
            header,
            refresh_at: started + lifetime / 2,
            expires_at: started + lifetime,
        })
    }

    fn assertion(&self, key: &SigningKey) -> Result<String, Status> {
        let now = chrono::Utc::now().timestamp();
        let lifetime = i64::try_from(ASSERTION_LIFETIME.as_secs()).unwrap_or(60);
        key.sign(&Assertion {
            iss: &self.0.client_id,
            sub: &self.0.client_id,
            aud: &self.0.issuer,
            iat: now,
            exp: now + lifetime,
            jti: uuid::Uuid::now_v7().to_string(),
        })
        .map_err(|e| Status::internal(format!("signing the client assertion: {e}")))
    }

    /// A tower layer adding the current service token (and the trace context) to every call.
    pub fn layer(&self) -> ServiceTokenLayer {
        ServiceTokenLayer(self.clone())
    }
}

/// Wraps a channel in [`WithServiceToken`]; made by [`ServiceCredentials::layer`].
#[derive(Clone, Debug)]
pub struct ServiceTokenLayer(ServiceCredentials);

impl<S> Layer<S> for ServiceTokenLayer {
    type Service = WithServiceToken<S>;

    fn layer(&self, inner: S) -> Self::Service {
        WithServiceToken {
            inner,
            credentials: self.0.clone(),
        }
    }
}

/// A channel whose calls carry the account's current service token.
#[derive(Clone, Debug)]
pub struct WithServiceToken<S> {
    inner: S,
    credentials: ServiceCredentials,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl<S, B, R> Service<http::Request<B>> for WithServiceToken<S>
where
    S: Service<http::Request<B>, Response = http::Response<R>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        // The clone is not ready; swap so the ready instance serves this request.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let credentials = self.credentials.clone();
        Box::pin(async move {
            // tonic turns a boxed Status into exactly that status.
            let authorization = credentials
                .authorization()
                .await
                .map_err(|status| Box::new(status) as BoxError)?;
            let headers = request.headers_mut();
            headers.insert(http::header::AUTHORIZATION, authorization);
            add_trace_context(headers);
            let response = inner.call(request).await.map_err(Into::into)?;
            // UNAUTHENTICATED (16) before any body: the token itself was refused.
            if response
                .headers()
                .get("grpc-status")
                .is_some_and(|code| code.as_bytes() == b"16")
            {
                credentials.forget();
            }
            Ok(response)
        })
    }
}
