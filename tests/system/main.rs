//! System tests: the whole product started in-process (port 0, fresh databases), driven
//! through real gRPC clients. Each scenario runs on the embedded backend and, when configured,
//! on PostgreSQL + RabbitMQ (see `system_tests::Backend`).

mod events;
mod invite;
mod security;
mod serving;
