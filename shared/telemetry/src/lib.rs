//! Telemetry shared by the services: structured logs, OpenTelemetry traces whose W3C context
//! travels in gRPC metadata, AMQP headers and the event envelope, and Prometheus metrics on an
//! admin port.
//!
//! Traces are exported over OTLP/gRPC only when the standard `OTEL_EXPORTER_OTLP_ENDPOINT`
//! (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set; otherwise nothing is exported and spans
//! cost what plain `tracing` spans cost.

#![warn(missing_docs)]

pub mod metrics;
pub mod throttle;
pub mod trace;

pub use metrics::{Metrics, metrics, serve_admin};
pub use throttle::Throttle;
pub use trace::{Telemetry, TraceContext, init};
