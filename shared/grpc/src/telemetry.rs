//! One span and one measurement per RPC.
//!
//! The span (`rpc`, kind server) continues the caller's W3C trace context from the request
//! headers and is current while the handler runs, so everything the handler does (queries,
//! outbox events, calls to other services) belongs to the caller's trace. The measurement
//! (count and latency by service, method and gRPC code) is taken when the status is known:
//! from the headers of a trailers-only response (errors tonic answers before a body), else from
//! the trailers at the end of the body; a body dropped before its trailers counts as CANCELLED.
//! The auth layer (inside this one) names the caller on the span (`ps.caller`) and, for the
//! measurement's `caller` label, in the response's extensions.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use futures::future::BoxFuture;
use http_body::{Body, Frame};
use ps_telemetry::TraceContext;
use ps_telemetry::metrics::{code_name, metrics};
use tower::{Layer, Service};
use tracing::{Instrument, Span};

/// Gives every RPC of one service its span and its measurement; see the module documentation.
#[derive(Debug, Clone, Copy)]
pub struct TelemetryLayer {
    service: &'static str,
}

impl TelemetryLayer {
    /// For the service named `service` (the `service` label of the metrics, `ps.service` on spans).
    pub fn new(service: &'static str) -> Self {
        Self { service }
    }
}

impl<S> Layer<S> for TelemetryLayer {
    type Service = TelemetryService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        TelemetryService {
            inner,
            service: self.service,
        }
    }
}

/// The service [`TelemetryLayer`] wraps around the inner one.
#[derive(Debug, Clone)]
pub struct TelemetryService<S> {
    inner: S,
    service: &'static str,
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for TelemetryService<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<ObservedBody<ResBody>>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        let method = request.uri().path().to_owned();
        let (rpc_service, rpc_method) = method
            .trim_start_matches('/')
            .split_once('/')
            .unwrap_or(("", ""));
        let span = tracing::info_span!(
            "rpc",
            otel.name = %method.trim_start_matches('/'),
            otel.kind = "server",
            rpc.system = "grpc",
            rpc.service = %rpc_service,
            rpc.method = %rpc_method,
            ps.service = self.service,
            ps.caller = tracing::field::Empty,
            rpc.grpc.status_code = tracing::field::Empty,
        );
        TraceContext::from_headers(request.headers()).adopt(&span);
        let pending = Pending {
            service: self.service,
            method,
            caller: String::new(),
            started: Instant::now(),
            span: span.clone(),
            finished: false,
        };
        let response = self.inner.call(request).instrument(span);
        Box::pin(async move {
            let mut response = response.await?;
            let mut pending = pending;
            if let Some(label) = response.extensions_mut().remove::<ps_auth::CallerLabel>() {
                pending.caller = label.0;
            }
            let mut pending = Some(pending);
            if let Some(status) = grpc_status(response.headers())
                && let Some(pending) = pending.take()
            {
                pending.finish(status);
            }
            Ok(response.map(|inner| ObservedBody { inner, pending }))
        })
    }
}

fn grpc_status(headers: &http::HeaderMap) -> Option<i32> {
    headers
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

/// An RPC whose status is not known yet.
struct Pending {
    service: &'static str,
    method: String,
    /// Who called, as the auth layer labelled it (empty if it never ran).
    caller: String,
    started: Instant,
    span: Span,
    finished: bool,
}

impl Pending {
    fn finish(mut self, status: i32) {
        self.record(status);
    }

    fn record(&mut self, status: i32) {
        self.finished = true;
        let code = code_name(status);
        self.span.record("rpc.grpc.status_code", status);
        let caller = if self.caller.is_empty() {
            "unauthenticated"
        } else {
            self.caller.as_str()
        };
        let labels = [self.service, self.method.as_str(), code, caller];
        metrics().rpc_requests.with_label_values(&labels).inc();
        metrics()
            .rpc_seconds
            .with_label_values(&labels)
            .observe(self.started.elapsed().as_secs_f64());
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if !self.finished {
            // The body ended or was dropped without a status: the client went away.
            self.record(1);
        }
    }
}

pin_project_lite::pin_project! {
    /// A response body that records the RPC's status from its trailers.
    pub struct ObservedBody<B> {
        #[pin]
        inner: B,
        pending: Option<Pending>,
    }
}

impl<B: Body> Body for ObservedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let frame = this.inner.poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &frame
            && let Some(trailers) = frame.trailers_ref()
            && let Some(pending) = this.pending.take()
        {
            pending.finish(grpc_status(trailers).unwrap_or(2));
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
