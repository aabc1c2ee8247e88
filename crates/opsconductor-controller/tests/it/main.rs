//! Controller integration tests, in-process against the real PostgreSQL (a fresh database
//! per test, `opsconductor_store::testing`) and the real RabbitMQ on loopback
//! (`OPSCONDUCTOR_TEST_AMQP_URL`, default guest@127.0.0.1:5672; a random queue prefix per
//! test, deleted at the end). Controllers are built with `Controller::build` on port 0 and
//! run in background tasks; no agent runs, so the runs the tests create stay queued.

// Helpers outside #[test] functions are not covered by clippy.toml's allow-unwrap-in-tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod agent_identity;
mod auth;
mod authz;
mod credentials;
mod grpc_api;
mod grpc_inventory;
mod helpers;
mod metrics;
mod rest;
mod rest_inventory;
mod scheduler;
mod tls;
mod ws;
