//! Logs and traces: the global subscriber, OTLP export, and W3C trace context in and out.

use std::collections::HashMap;

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use ps_config::LogFormat;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

/// The instrumentation scope of every span the product makes.
pub const TRACER_NAME: &str = "practice-staff";

/// W3C trace context (`traceparent`, `tracestate`), empty when there is no trace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TraceContext {
    /// The `traceparent` value: version, trace id, parent span id and flags.
    pub traceparent: String,
    /// The `tracestate` value (vendor data), often empty.
    pub tracestate: String,
}

impl TraceContext {
    /// The context of `span` (the caller's current span, usually), to send along.
    pub fn of(span: &Span) -> Self {
        let mut carrier = HashMap::new();
        TraceContextPropagator::new().inject_context(&span.context(), &mut Carrier(&mut carrier));
        Self {
            traceparent: carrier.remove("traceparent").unwrap_or_default(),
            tracestate: carrier.remove("tracestate").unwrap_or_default(),
        }
    }

    /// The context of the current span.
    pub fn current() -> Self {
        Self::of(&Span::current())
    }

    /// Whether there is no trace to continue.
    pub fn is_empty(&self) -> bool {
        self.traceparent.is_empty()
    }

    /// Makes `span` a child of this context (nothing happens when it is empty or invalid).
    pub fn adopt(&self, span: &Span) {
        if self.traceparent.is_empty() {
            return;
        }
        let mut carrier = HashMap::from([("traceparent".to_owned(), self.traceparent.clone())]);
        if !self.tracestate.is_empty() {
            carrier.insert("tracestate".to_owned(), self.tracestate.clone());
        }
        let parent = TraceContextPropagator::new().extract(&Carrier(&mut carrier));
        let _ = span.set_parent(parent);
    }

    /// Reads `traceparent`/`tracestate` from HTTP (gRPC) headers.
    pub fn from_headers(headers: &http::HeaderMap) -> Self {
        let get = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        Self {
            traceparent: get("traceparent"),
            tracestate: get("tracestate"),
        }
    }

    /// The trace id (32 hex digits), for reports and tests; empty when none.
    pub fn trace_id(&self) -> &str {
        self.traceparent.split('-').nth(1).unwrap_or_default()
    }
}

struct Carrier<'a>(&'a mut HashMap<String, String>);

impl Injector for Carrier<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key.to_owned(), value);
    }
}

impl Extractor for Carrier<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

/// Keeps the exporter alive; [`Telemetry::shutdown`] flushes what is still buffered.
#[must_use = "dropping it without shutdown may lose the last spans"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Whether spans are exported (an OTLP endpoint is configured).
    pub fn exporting(&self) -> bool {
        self.provider.is_some()
    }

    /// Flushes buffered spans and stops the exporter; a failure is printed to stderr.
    pub fn shutdown(self) {
        if let Some(provider) = self.provider
            && let Err(err) = provider.shutdown()
        {
            eprintln!("telemetry: flushing spans failed: {err}");
        }
    }
}

fn env_set(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !v.trim().is_empty())
}

/// Installs the global subscriber: logs filtered by `RUST_LOG` (default `info`) in `format`,
/// and, when an OTLP endpoint is configured, spans exported over OTLP/gRPC with
/// `service.name` from `OTEL_SERVICE_NAME` or else `service_name`. Must run inside the
/// Tokio runtime (the exporter's batch processor runs on it).
pub fn init(service_name: &str, format: LogFormat) -> Result<Telemetry, String> {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sea_orm_migration=warn"));
    let logs = match format {
        LogFormat::Text => tracing_subscriber::fmt::layer().boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer().json().boxed(),
    }
    .with_filter(filter);
    let exporting =
        env_set("OTEL_EXPORTER_OTLP_ENDPOINT") || env_set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
    let provider = if exporting {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .build()
            .map_err(|e| format!("OTEL_EXPORTER_OTLP_ENDPOINT: {e}"))?;
        let processor =
            opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor::builder(
                exporter,
                opentelemetry_sdk::runtime::Tokio,
            )
            .build();
        let mut resource = opentelemetry_sdk::Resource::builder();
        if !env_set("OTEL_SERVICE_NAME") {
            resource = resource.with_service_name(service_name.to_owned());
        }
        Some(
            SdkTracerProvider::builder()
                .with_span_processor(processor)
                .with_resource(resource.build())
                .build(),
        )
    } else {
        None
    };
    let spans = provider.as_ref().map(|provider| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer(TRACER_NAME))
            .with_filter(tracing_subscriber::filter::LevelFilter::INFO)
    });
    Registry::default()
        .with(logs)
        .with(spans)
        .try_init()
        .map_err(|e| format!("installing the tracing subscriber: {e}"))?;
    Ok(Telemetry { provider })
}

/// A span layer for `provider`, for tests that collect spans in memory.
pub fn layer_for<S>(provider: &SdkTracerProvider) -> impl Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    tracing_opentelemetry::layer().with_tracer(provider.tracer(TRACER_NAME))
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_sdk::trace::InMemorySpanExporter;

    #[test]
    fn context_survives_a_round_trip_through_traceparent() {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let subscriber = Registry::default().with(layer_for(&provider));
        tracing::subscriber::with_default(subscriber, || {
            let root = tracing::info_span!("root");
            let sent = TraceContext::of(&root);
            assert_eq!(sent.traceparent.len(), 55, "{sent:?}");
            let child = tracing::info_span!("elsewhere");
            sent.adopt(&child);
            assert_eq!(TraceContext::of(&child).trace_id(), sent.trace_id());
            // An empty or malformed context leaves a span on its own trace.
            let lone = tracing::info_span!("lone");
            TraceContext {
                traceparent: "garbage".into(),
                tracestate: String::new(),
            }
            .adopt(&lone);
            assert_ne!(TraceContext::of(&lone).trace_id(), sent.trace_id());
            drop((root, child, lone));
        });
        let _ = provider.force_flush();
        let spans = exporter.get_finished_spans().expect("spans");
        assert_eq!(spans.len(), 3);
    }

    #[test]
    fn headers_carry_the_context() {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
                .parse()
                .expect("header"),
        );
        let context = TraceContext::from_headers(&headers);
        assert_eq!(context.trace_id(), "0af7651916cd43dd8448eb211c80319c");
        assert!(TraceContext::from_headers(&http::HeaderMap::new()).is_empty());
    }
}
