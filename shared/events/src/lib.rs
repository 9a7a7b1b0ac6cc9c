//! Events between services: what they are, how they are stored, and how they travel.
//!
//! The producer writes an [`Event`] into its own `outbox_events` table inside the same
//! transaction as the state change ([`outbox::enqueue`]). A [`relay::Relay`] per service claims
//! unpublished rows and hands them to a [`Publisher`]: the in-process bus on the embedded
//! default, RabbitMQ in production. Rows are marked published only after the publisher
//! confirms, so a crash republishes rather than loses; consumers are therefore idempotent:
//! [`inbox::apply_once`] records each event id in `processed_events` in the same transaction as
//! the effect, and runs nothing for an id already recorded.
//!
//! On the consuming side a [`consumer::ConsumerRunner`] decodes, retries transient failures
//! with backoff and dead-letters the rest; both transports drive the same runner, so the code
//! under test in the embedded default is the code that runs behind RabbitMQ.
//!
//! - [`event`] / [`codec`]: domain event types and their protobuf envelope.
//! - [`outbox`], [`inbox`], [`dead_letter`], [`migration`]: the tables every service carries.
//! - [`relay`], [`consumer`]: the moving parts.
//! - [`in_process`], [`rabbit`], [`topology`]: the two transports and the queue layout.
//! - [`runtime`]: wiring a service to whichever transport is configured, under supervision.
//! - [`status`]: whether the consumer and relay are connected, for health and metrics.
//! - [`operations`]: listing and redriving dead letters.

#![warn(missing_docs)]

pub mod codec;
pub mod consumer;
pub mod dead_letter;
pub mod event;
pub mod in_process;
pub mod inbox;
pub mod migration;
pub mod operations;
pub mod outbox;
pub mod rabbit;
pub mod relay;
pub mod runtime;
pub mod status;
pub mod topology;

pub use consumer::{EventHandler, HandleError};
pub use event::{Actor, ActorKind, Event, Payload};
pub use outbox::OutboxWaker;
pub use relay::{PublishError, Publisher};
pub use runtime::{EventTransport, EventsRuntime, StartError};
pub use status::EventsStatus;
pub use topology::ConsumerName;
