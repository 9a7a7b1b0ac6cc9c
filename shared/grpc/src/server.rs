//! Serving a service's routes. Every service goes through [`serve`], so every one has the same
//! layers, limits and shutdown behaviour.
//!
//! Layers, outermost first:
//! 0. CORS for the configured browser origins (the web console's by default), so a page served
//!    from another origin may call with grpc-web;
//! 1. grpc-web, so browsers behind a plain HTTP/1.1 gateway can call;
//! 2. telemetry ([`crate::telemetry`]): a span continuing the caller's trace, and the RPC's
//!    count and latency by method and code;
//! 3. panic catching: a panicking handler answers INTERNAL instead of killing the connection;
//! 4. the request timeout: a request still running after `request_timeout` answers
//!    UNAVAILABLE (retriable) — in practice a dependency that stopped answering — rather than
//!    tonic's CANCELLED, which clients do not retry;
//! 5. decode errors: tonic answers INTERNAL when a request body is not valid protobuf; that is
//!    the caller's fault, so it becomes INVALID_ARGUMENT;
//! 6. authentication ([`ps_auth::AuthLayer`]) with the service's access policy.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use ps_auth::AuthLayer;
use ps_core::Shutdown;
use serde::{Deserialize, Serialize};
use tonic::service::Routes;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tower::{Layer, Service};
use tracing::{info, warn};

/// Limits shared by every service; each is configurable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServeSettings {
    /// A request still running after this is answered UNAVAILABLE.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// After shutdown begins, in-flight requests get this long before the server stops anyway.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// Requests served at once on one connection.
    pub concurrency_per_connection: usize,
    /// Browser origins allowed to call with grpc-web (CORS), e.g. `https://console.example.com`.
    /// Empty allows none; `*` allows any (only sensible behind a gateway that checks origins).
    #[serde(default = "default_cors_origins")]
    pub cors_origins: Vec<String>,
    /// TLS on the gRPC listener (plaintext when no certificate is configured).
    #[serde(default)]
    pub tls: TlsSettings,
}

/// The listener's certificate and key (PEM) and, for mTLS, the CA whose client certificates
/// it accepts: `PS_SERVE__TLS__CERT_FILE`, `PS_SERVE__TLS__KEY_FILE`,
/// `PS_SERVE__TLS__CLIENT_CA_FILE`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TlsSettings {
    /// The server's certificate chain (PEM); needs `key_file`.
    pub cert_file: Option<std::path::PathBuf>,
    /// The certificate's private key (PEM); needs `cert_file`.
    pub key_file: Option<std::path::PathBuf>,
    /// When set, every client must present a certificate this CA signed.
    pub client_ca_file: Option<std::path::PathBuf>,
}

impl TlsSettings {
    /// tonic's server TLS configuration, or `None` for plaintext; an error names the file.
    pub fn server_config(
        &self,
    ) -> Result<Option<tonic::transport::ServerTlsConfig>, ps_auth::TlsError> {
        use ps_auth::tls::read_pem;
        use tonic::transport::{Certificate, Identity, ServerTlsConfig};
        let (cert, key) = match (&self.cert_file, &self.key_file) {
            (Some(cert), Some(key)) => (cert, key),
            (None, None) if self.client_ca_file.is_none() => return Ok(None),
            _ => {
                return Err(ps_auth::TlsError::Config(
                    "serve.tls needs both cert_file and key_file (and client_ca_file only with them)"
                        .into(),
                ));
            }
        };
        ps_auth::tls::use_ring_provider();
        let mut config =
            ServerTlsConfig::new().identity(Identity::from_pem(read_pem(cert)?, read_pem(key)?));
        if let Some(ca) = &self.client_ca_file {
            config = config.client_ca_root(Certificate::from_pem(read_pem(ca)?));
        }
        Ok(Some(config))
    }
}

/// The web console as the launcher serves it.
fn default_cors_origins() -> Vec<String> {
    vec![
        "http://localhost:8080".into(),
        "http://127.0.0.1:8080".into(),
    ]
}

impl Default for ServeSettings {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(10),
            concurrency_per_connection: 256,
            cors_origins: default_cors_origins(),
            tls: TlsSettings::default(),
        }
    }
}

/// Largest request message a service decodes (tonic's default is 4 MiB).
pub const MAX_REQUEST_BYTES: usize = 1024 * 1024;
/// Largest response message a service encodes (tonic's default is unlimited).
pub const MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;

/// Applies [`MAX_REQUEST_BYTES`] and [`MAX_RESPONSE_BYTES`] to a generated tonic server
/// (the generated types share no trait for it).
#[macro_export]
macro_rules! with_message_limits {
    ($server:expr) => {
        $server
            .max_decoding_message_size($crate::server::MAX_REQUEST_BYTES)
            .max_encoding_message_size($crate::server::MAX_RESPONSE_BYTES)
    };
}

pub use tonic_reflection::server::Error as ReflectionError;

/// Routes with health and reflection added, ready for [`serve`].
pub struct Served {
    /// The routes to serve: health and reflection, then the caller's services.
    pub routes: Routes,
    /// Sets each service's health status (see [`mark_serving`], [`mark_not_serving`]).
    pub health: tonic_health::server::HealthReporter,
}

impl Served {
    /// Starts a route set with grpc.health.v1 (every service NOT_SERVING until the caller says
    /// otherwise) and server reflection over every contract.
    pub async fn new(
        service_names: &[&'static str],
    ) -> Result<Self, tonic_reflection::server::Error> {
        let (health, health_service) = tonic_health::server::health_reporter();
        // tonic-health starts the whole server ("") as SERVING; nothing is, until migrations
        // ran and the event transport is up.
        mark_not_serving(&health, service_names).await;
        let reflection = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(ps_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()?;
        let reflection_alpha = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(ps_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1alpha()?;
        let routes = Routes::new(health_service)
            .add_service(reflection)
            .add_service(reflection_alpha);
        Ok(Self { routes, health })
    }
}

/// Marks every named service and the whole server SERVING.
pub async fn mark_serving(
    health: &tonic_health::server::HealthReporter,
    service_names: &[&'static str],
) {
    for name in service_names {
        health
            .set_service_status(*name, tonic_health::ServingStatus::Serving)
            .await;
    }
    health
        .set_service_status("", tonic_health::ServingStatus::Serving)
        .await;
}

/// Marks everything NOT_SERVING, first thing in a drain, so load balancers stop sending.
pub async fn mark_not_serving(
    health: &tonic_health::server::HealthReporter,
    service_names: &[&'static str],
) {
    for name in service_names {
        health
            .set_service_status(*name, tonic_health::ServingStatus::NotServing)
            .await;
    }
    health
        .set_service_status("", tonic_health::ServingStatus::NotServing)
        .await;
}

#[derive(Debug, Clone, Copy)]
struct PanicAsInternal;

impl tower_http::catch_panic::ResponseForPanic for PanicAsInternal {
    type ResponseBody = tonic::body::Body;

    fn response_for_panic(
        &mut self,
        err: Box<dyn std::any::Any + Send + 'static>,
    ) -> http::Response<Self::ResponseBody> {
        let message = err
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| err.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        tracing::error!(panic = %message, "request handler panicked");
        tonic::Status::internal("internal error").into_http()
    }
}

/// Serves `routes` on `listener` until `shutdown`, then drains for at most the grace period.
pub async fn serve(
    service: &'static str,
    listener: tokio::net::TcpListener,
    served: Routes,
    auth: AuthLayer,
    settings: ServeSettings,
    tls: Option<tonic::transport::ServerTlsConfig>,
    shutdown: Shutdown,
) -> Result<(), tonic::transport::Error> {
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let mut builder = Server::builder();
    if let Some(tls) = tls {
        builder = builder.tls_config(tls)?;
    }
    let server = builder
        .accept_http1(true)
        .concurrency_limit_per_connection(settings.concurrency_per_connection)
        .layer(cors(&settings.cors_origins))
        .layer(tonic_web::GrpcWebLayer::new())
        .layer(crate::telemetry::TelemetryLayer::new(service))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            PanicAsInternal,
        ))
        .layer(TimeoutLayer(settings.request_timeout))
        .layer(DecodeErrorLayer)
        .layer(auth)
        .add_routes(served)
        .serve_with_incoming_shutdown(incoming, shutdown.clone().wait());
    tokio::pin!(server);
    let grace = settings.shutdown_grace;
    tokio::select! {
        result = &mut server => result,
        _ = async move {
            shutdown.wait().await;
            tokio::time::sleep(grace).await;
        } => {
            warn!(grace_secs = grace.as_secs(), "drain took longer than the grace period; stopping");
            Ok(())
        }
    }
    .inspect(|()| info!("server stopped"))
}

/// CORS for grpc-web callers from `origins`: the headers a grpc-web or Connect client sends
/// (credentials travel in `authorization`, never cookies) and the gRPC status headers it must
/// read. Preflights are answered here, before authentication.
fn cors(origins: &[String]) -> tower_http::cors::CorsLayer {
    use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderName};
    use tower_http::cors::{AllowOrigin, CorsLayer};
    let allow_origin = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            origins
                .iter()
                .filter_map(|o| http::HeaderValue::from_str(o.trim_end_matches('/')).ok()),
        )
    };
    let names = |names: &[&'static str]| {
        names
            .iter()
            .map(|n| HeaderName::from_static(n))
            .collect::<Vec<_>>()
    };
    let mut allowed = names(&[
        "x-grpc-web",
        "x-user-agent",
        "grpc-timeout",
        "connect-protocol-version",
        "connect-timeout-ms",
        "traceparent",
        "tracestate",
    ]);
    allowed.extend([AUTHORIZATION, CONTENT_TYPE]);
    CorsLayer::new()
        .allow_origin(allow_origin)
        .allow_methods([http::Method::POST, http::Method::OPTIONS])
        .allow_headers(allowed)
        .expose_headers(names(&[
            "grpc-status",
            "grpc-message",
            "grpc-status-details-bin",
        ]))
        .max_age(Duration::from_secs(600))
}

/// Answers UNAVAILABLE for a request that runs longer than the limit (see the module docs).
#[derive(Debug, Clone, Copy)]
struct TimeoutLayer(Duration);

impl<S> Layer<S> for TimeoutLayer {
    type Service = TimeoutService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        TimeoutService {
            inner,
            limit: self.0,
        }
    }
}

#[derive(Debug, Clone)]
struct TimeoutService<S> {
    inner: S,
    limit: Duration,
}

impl<S, Req> Service<Req> for TimeoutService<S>
where
    S: Service<Req, Response = http::Response<tonic::body::Body>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Req) -> Self::Future {
        let limit = self.limit;
        let call = self.inner.call(request);
        Box::pin(async move {
            match tokio::time::timeout(limit, call).await {
                Ok(answered) => answered,
                Err(_) => {
                    warn!(limit_secs = limit.as_secs(), "request timed out");
                    Ok(tonic::Status::unavailable(format!(
                        "no answer within {} s; retry later",
                        limit.as_secs()
                    ))
                    .into_http())
                }
            }
        })
    }
}

/// Rewrites tonic's INTERNAL "failed to decode Protobuf message" (an unparseable request) to
/// INVALID_ARGUMENT. Such errors are answered before any handler runs, as a trailers-only
/// response, so the status is in the response headers.
#[derive(Debug, Clone, Copy)]
struct DecodeErrorLayer;

impl<S> Layer<S> for DecodeErrorLayer {
    type Service = DecodeErrorService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        DecodeErrorService { inner }
    }
}

#[derive(Debug, Clone)]
struct DecodeErrorService<S> {
    inner: S,
}

impl<S, Req, B> Service<Req> for DecodeErrorService<S>
where
    S: Service<Req, Response = http::Response<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = DecodeErrorFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Req) -> Self::Future {
        DecodeErrorFuture {
            inner: self.inner.call(request),
        }
    }
}

pin_project_lite::pin_project! {
    struct DecodeErrorFuture<F> {
        #[pin]
        inner: F,
    }
}

const DECODE_FAILURE_PREFIX: &str = "failed%20to%20decode%20Protobuf%20message";

impl<F, B, E> Future for DecodeErrorFuture<F>
where
    F: Future<Output = Result<http::Response<B>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut response = match self.project().inner.poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Err(err)) => return Poll::Ready(Err(err)),
            Poll::Ready(Ok(response)) => response,
        };
        let headers = response.headers_mut();
        let is_decode_failure = headers.get("grpc-status").is_some_and(|v| v == "13")
            && headers
                .get("grpc-message")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|m| m.starts_with(DECODE_FAILURE_PREFIX));
        if is_decode_failure {
            headers.insert("grpc-status", http::HeaderValue::from_static("3"));
            headers.insert(
                "grpc-message",
                http::HeaderValue::from_static(
                    "request%20body%20is%20not%20a%20valid%20protobuf%20message",
                ),
            );
        }
        Poll::Ready(Ok(response))
    }
}
