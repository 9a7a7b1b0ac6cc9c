//! System tests: the whole product started in-process (port 0, fresh databases), driven
//! through real gRPC clients. Each scenario runs on the embedded backend and, when configured,
//! on PostgreSQL + RabbitMQ (see `system_tests::Backend`).

// A scenario reads top to bottom as one story (set up, act, assert every effect); the 80-line
// limit is for the product's code.
#![allow(clippy::too_many_lines)]

mod account;
mod bounds;
mod certification;
mod cluster;
mod events;
mod faults;
mod invite;
mod layout;
mod lifecycle;
mod links;
mod machine;
mod offboarding;
mod operations;
mod orgaccess;
mod profile;
mod replicas;
mod retries;
mod scale;
mod security;
mod serving;
mod sessions;
mod staffctl;
mod telemetry;
mod tls;
