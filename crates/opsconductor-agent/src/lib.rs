//! # opsconductor-agent
//!
//! The agent: takes chunks from its segment's RabbitMQ queue, runs them with the native
//! executors of `opsconductor-actions`, and streams the results to the controller over the
//! gRPC `Session` of `proto/opsconductor/v1/agent.proto`. It is stateless apart from its
//! identity file; the `opsconductor agent` subcommand calls [`run`].
//!
//! ## Reliability
//! A delivery is acked only after the controller acknowledged every result batch of the
//! chunk, so a chunk is never lost: an agent that dies, a controller that restarts or a
//! broker that restarts all end in a redelivery, and the controller's idempotent ingest
//! collapses the duplicates. While the controller is away results wait in a bounded buffer
//! and are resent on the next session; when the buffer is full the chunks pause rather than
//! drop results. A chunk that can never run (undecodable, invalid targets or definitions) is
//! rejected to the dead-letter queue at once.
//!
//! ## Layout
//! - [`config`] — [`AgentConfig`].
//! - [`error`] — [`AgentError`], the one error type.
//! - `agent` — [`Agent`]: identity and start-up, the shared state, the shutdown order.
//! - `identity` — enrollment and the 0600 identity file ([`Identity`]).
//! - `transport` — the gRPC channel (plain or TLS, mutual TLS) and per-call credentials.
//! - `session` — the `Session` stream: hello/welcome, heartbeats, acks, cancels, reconnect.
//! - `outbox` — the bounded buffer of result batches and chunk events; resend after a
//!   reconnect.
//! - `consume` — the consumer loop: prefetch, concurrency, broker reconnects.
//! - `hostkeys` — SSH host keys checked against the controller's trust-on-first-use record.
//! - `chunk` — one delivery: decode, credentials, run, batch, wait for acks, settle.
//! - `work` — `ChunkWork` checked into runnable work (or found poison).
//! - `runs` — cancelled runs and the cancel tokens of runs in flight.
//! - [`metrics`] — the agent's metrics.

mod agent;
mod chunk;
pub mod config;
mod consume;
pub mod error;
mod hostkeys;
mod identity;
pub mod metrics;
mod outbox;
mod runs;
mod session;
mod transport;
mod work;

pub use agent::{Agent, run};
pub use config::AgentConfig;
pub use error::AgentError;
pub use identity::Identity;
pub use tokio_util::sync::CancellationToken;
