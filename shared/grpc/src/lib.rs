//! How every Practice Staff service serves gRPC.
//!
//! - [`server`]: one function that serves a service's routes behind the same stack of layers
//!   (grpc-web, telemetry, panic catching, decode-error mapping, authentication), with health and
//!   reflection, request timeouts and a bounded graceful drain.
//! - [`status`]: the few helpers every service's error mapping uses (field violations as
//!   google.rpc.BadRequest details, internal errors logged and hidden).
//! - [`client`]: channels for the product's own clients, on which a request the transport never
//!   sent answers UNAVAILABLE (retriable) rather than CANCELLED.
//! - [`signals`]: SIGTERM / SIGINT handling for binaries.
//! - [`idempotency`]: request ids (AIP-155) read from creating requests.

#![warn(missing_docs)]

pub mod client;
pub mod idempotency;
pub mod server;
pub mod signals;
pub mod status;
pub mod telemetry;

pub use server::{ServeSettings, Served, TlsSettings, serve};
