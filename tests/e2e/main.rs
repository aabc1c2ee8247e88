//! End-to-end scenarios across real processes: the `opsconductor` binary as controller and
//! agents, real PostgreSQL (a fresh database per test) and real RabbitMQ (a fresh queue
//! prefix per test). Every pipeline and fault scenario ends with the ledger check: the
//! (run, target, action) triples the run intended against the results table — lost = 0,
//! duplicated = 0, unexpected = 0. The quickstart scenario (`standalone`) clones the
//! repository and runs `make run`: standalone mode, neither PostgreSQL nor RabbitMQ.
//!
//! The tests share the broker (one of them restarts it), so they run one at a time (see
//! `.config/nextest.toml`).

// Helpers outside #[test] functions are not covered by clippy.toml's allow-unwrap-in-tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod faults;
mod pipeline;
mod standalone;
mod support;
