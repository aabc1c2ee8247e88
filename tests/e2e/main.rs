//! End-to-end scenarios across real processes: the `opsconductor` binary as controller and
//! agents, real PostgreSQL (a fresh database per test) and real RabbitMQ (a fresh queue
//! prefix per test). Every pipeline and fault scenario ends with the ledger check: the
//! (run, target, action) triples the run intended against the results table — lost = 0,
//! duplicated = 0, unexpected = 0. The quickstart scenario (`standalone`) clones the
//! repository and runs `make run`: standalone mode, neither PostgreSQL nor RabbitMQ.
//! The scale-out scenario (`scale_out`) runs each agent in a network namespace of its own,
//! so it needs root (CAP_NET_ADMIN), and scrapes every process's `/metrics`.
//!
//! The tests share the broker (one of them restarts it), so they run one at a time (see
//! `.config/nextest.toml`).

// Helpers outside #[test] functions are not covered by clippy.toml's allow-unwrap-in-tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod discovery_servers;
mod faults;
mod pipeline;
mod scale_out;
mod scans;
mod standalone;
mod support;
