//! Prometheus metrics, one registry per process, every series labelled with the service (the
//! embedded launcher runs the four services in one process), served on an admin port.

use std::net::SocketAddr;
use std::sync::LazyLock;

use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};
use tokio::net::TcpListener;

/// Every metric the product exports.
pub struct Metrics {
    registry: Registry,
    /// RPCs answered, by service, full method (`/pkg.Service/Method`), gRPC code name and
    /// caller (a service account's id, or `user`, `operator`, `anonymous`, `unauthenticated`).
    pub rpc_requests: IntCounterVec,
    /// RPC latency in seconds until its status is known (the trailers, or the headers of a
    /// trailers-only answer), by service, method, code and caller.
    pub rpc_seconds: HistogramVec,
    /// Events in the outbox not yet confirmed by the transport.
    pub outbox_backlog: IntGaugeVec,
    /// Age in seconds of the oldest unpublished event (0 when none).
    pub outbox_oldest_seconds: GaugeVec,
    /// Events published by the relay and failed publish attempts, by service and outcome
    /// (`published`, `failed`).
    pub events_published: IntCounterVec,
    /// Deliveries handled by a consumer, by service, event type and outcome (`handled`,
    /// `retried`, `dead_lettered`).
    pub events_consumed: IntCounterVec,
    /// E-mails by outcome (`sent`, `retried`: a failed attempt that will be retried, `failed`:
    /// given up).
    pub emails: IntCounterVec,
    /// Database pool connections by service and state (`in_use`, `idle`, `max`).
    pub db_pool: IntGaugeVec,
    /// 1 while the service's event consumer holds a live subscription, 0 while it reconnects.
    pub consumer_connected: IntGaugeVec,
    /// Seconds since the consumer last handled a delivery (since start when it has not yet).
    pub consumer_idle_seconds: GaugeVec,
    /// 1 while the relay's transport answers, 0 after a failed publish until one succeeds.
    pub publisher_connected: IntGaugeVec,
    /// 1 while a dependency (`database`, `events`) answers, 0 while it is down; mirrors the
    /// named grpc.health.v1 statuses.
    pub dependency_up: IntGaugeVec,
}

/// Creates metrics, each registered in one registry.
struct Register<'a>(&'a Registry);

impl Register<'_> {
    fn add<M: prometheus::core::Collector + Clone + 'static>(
        &self,
        metric: M,
    ) -> Result<M, prometheus::Error> {
        self.0.register(Box::new(metric.clone()))?;
        Ok(metric)
    }

    fn counter(
        &self,
        name: &str,
        help: &str,
        labels: &[&str],
    ) -> prometheus::Result<IntCounterVec> {
        self.add(IntCounterVec::new(Opts::new(name, help), labels)?)
    }

    fn gauge(&self, name: &str, help: &str, labels: &[&str]) -> prometheus::Result<IntGaugeVec> {
        self.add(IntGaugeVec::new(Opts::new(name, help), labels)?)
    }

    fn seconds(&self, name: &str, help: &str, labels: &[&str]) -> prometheus::Result<GaugeVec> {
        self.add(GaugeVec::new(Opts::new(name, help), labels)?)
    }

    fn latency(&self, name: &str, help: &str, labels: &[&str]) -> prometheus::Result<HistogramVec> {
        let buckets = vec![
            0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            5.0, 10.0,
        ];
        self.add(HistogramVec::new(
            HistogramOpts::new(name, help).buckets(buckets),
            labels,
        )?)
    }
}

fn build() -> Result<Metrics, prometheus::Error> {
    let registry = Registry::new_custom(Some("ps".into()), None)?;
    let add = Register(&registry);
    let service = &["service"];
    Ok(Metrics {
        rpc_requests: add.counter(
            "rpc_requests_total",
            "RPCs answered, by the calling service account (its id) or user, operator, anonymous, unauthenticated",
            &["service", "method", "code", "caller"],
        )?,
        rpc_seconds: add.latency(
            "rpc_duration_seconds",
            "RPC latency until its status is known",
            &["service", "method", "code", "caller"],
        )?,
        outbox_backlog: add.gauge("outbox_backlog", "Events in the outbox not yet published", service)?,
        outbox_oldest_seconds: add.seconds(
            "outbox_oldest_unpublished_seconds",
            "Age of the oldest event not yet published (0 when none)",
            service,
        )?,
        events_published: add.counter(
            "events_published_total",
            "Outbox events handed to the transport, and failed attempts",
            &["service", "outcome"],
        )?,
        events_consumed: add.counter(
            "events_consumed_total",
            "Event deliveries by outcome",
            &["service", "event_type", "outcome"],
        )?,
        emails: add.counter("emails_total", "E-mails by outcome", &["outcome"])?,
        db_pool: add.gauge(
            "db_pool_connections",
            "Database pool connections by state",
            &["service", "state"],
        )?,
        consumer_connected: add.gauge(
            "consumer_connected",
            "1 while the event consumer holds a live subscription",
            service,
        )?,
        consumer_idle_seconds: add.seconds(
            "consumer_idle_seconds",
            "Seconds since the event consumer last handled a delivery",
            service,
        )?,
        publisher_connected: add.gauge(
            "publisher_connected",
            "1 while the relay's transport answers",
            service,
        )?,
        dependency_up: add.gauge(
            "dependency_up",
            "1 while the dependency answers",
            &["service", "dependency"],
        )?,
        registry,
    })
}

static METRICS: LazyLock<Metrics> =
    LazyLock::new(|| build().expect("metric names and labels are valid"));

/// The process's metrics.
pub fn metrics() -> &'static Metrics {
    &METRICS
}

impl Metrics {
    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        // Encoding into a Vec cannot fail for well-formed metrics.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

/// The gRPC code's canonical name for a `grpc-status` value.
pub fn code_name(status: i32) -> &'static str {
    match status {
        0 => "OK",
        1 => "CANCELLED",
        2 => "UNKNOWN",
        3 => "INVALID_ARGUMENT",
        4 => "DEADLINE_EXCEEDED",
        5 => "NOT_FOUND",
        6 => "ALREADY_EXISTS",
        7 => "PERMISSION_DENIED",
        8 => "RESOURCE_EXHAUSTED",
        9 => "FAILED_PRECONDITION",
        10 => "ABORTED",
        11 => "OUT_OF_RANGE",
        12 => "UNIMPLEMENTED",
        13 => "INTERNAL",
        14 => "UNAVAILABLE",
        15 => "DATA_LOSS",
        16 => "UNAUTHENTICATED",
        _ => "UNKNOWN",
    }
}

/// Serves `GET /metrics` on `listener` until `shutdown` resolves.
pub async fn serve_admin(
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::routing::get;
    let app = axum::Router::new().route(
        "/metrics",
        get(|| async {
            (
                [(
                    http::header::CONTENT_TYPE,
                    "text/plain; version=0.0.4; charset=utf-8",
                )],
                metrics().render(),
            )
        }),
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Binds the admin listener, naming the address when it cannot.
pub async fn bind_admin(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("binding the admin port {addr}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_are_rendered_with_their_labels() {
        metrics()
            .rpc_requests
            .with_label_values(&[
                "identity",
                "/identity.v1.IdentityService/SignIn",
                "OK",
                "anonymous",
            ])
            .inc();
        metrics().emails.with_label_values(&["sent"]).inc_by(2);
        let text = metrics().render();
        assert!(text.contains(
            "ps_rpc_requests_total{caller=\"anonymous\",code=\"OK\",method=\"/identity.v1.IdentityService/SignIn\",service=\"identity\"} 1"
        ), "{text}");
        assert!(
            text.contains("ps_emails_total{outcome=\"sent\"} 2"),
            "{text}"
        );
        assert_eq!(code_name(5), "NOT_FOUND");
        assert_eq!(code_name(99), "UNKNOWN");
    }
}
