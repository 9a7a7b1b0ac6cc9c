//! System tests: the whole product started in-process (port 0, fresh databases), driven
//! through real gRPC clients. Each scenario runs on the embedded backend and, when configured,
//! on PostgreSQL + RabbitMQ (see `system_tests::Backend`).

mod account;
mod certification;
mod events;
mod invite;
mod lifecycle;
mod offboarding;
mod orgaccess;
mod profile;
mod replicas;
mod scale;
mod security;
mod serving;
mod telemetry;
