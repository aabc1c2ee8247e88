//! The controller: everything between "run now" and a result row in PostgreSQL.
//!
//! A run leaves here as chunks: the [`dispatch`]er expands a job's targets, routes them to
//! segments by longest prefix, cuts them into chunks and writes the run, its chunks and one
//! outbox row per chunk in one transaction. The [`relay`] publishes outbox rows to RabbitMQ
//! with publisher confirms and marks them published only after the confirm. Agents stream
//! results back over the gRPC [`session`]; each batch is committed before it is acked, and
//! the agent acks its AMQP delivery only after every batch of the chunk is acked — so a
//! crash anywhere leads to a redelivery, and the store's idempotent result key turns the
//! redelivery into duplicates that collapse. The [`lifecycle`] tasks finish what agents
//! cannot: dead-lettered chunks become error results, runs past their deadline get their
//! missing targets as timeouts, silent agents are marked offline.
//!
//! # Layout
//! - [`auth`]: users, sessions, access and API tokens, the login rate limit, and the
//!   role [`auth::policy`] every transport enforces.
//! - [`config`]: [`ControllerConfig`], the typed configuration.
//! - [`app`]: [`Controller::build`] binds the gRPC and HTTP listeners (port 0 in tests) and
//!   [`Controller::run_until_stopped`] runs every task until the shutdown token fires.
//! - [`scheduler`]: fires jobs on their schedules on the one replica holding the lock
//!   ([`scheduler::timetable`]: what is due, a pure function of now).
//! - [`dispatch`]: job → run + chunks + outbox.
//! - [`relay`]: outbox → RabbitMQ.
//! - [`vault`]: the credential vault's AES-256-GCM sealing under a master key kept
//!   outside the database.
//! - [`session`]: the `AgentService` gRPC service (register, session stream, credentials).
//! - [`lifecycle`]: dead letters, run deadlines, agent liveness.
//! - [`api`]: the client API as methods (validation, pages, concurrency) that REST and gRPC
//!   both call.
//! - [`catalog`]: the shipped libraries plus user-defined entries, recompiled on change.
//! - [`rest`]: the minimal REST surface of this stage (jobs, runs, segments, enrollment).
//! - [`events`]: the in-process event bus: committed results and coalesced run progress,
//!   published without ever slowing ingest.
//! - [`ws`]: `GET /api/v1/ws`, live progress and results over a WebSocket, fed by [`events`].
//! - [`grpc_api`]: the gRPC client API (`JobService`, `LibraryService`, `FleetService`,
//!   `WatchRun`) over [`api`], with health and reflection.
//! - [`grpc_inventory`]: the gRPC `InventoryService` (scans with `WatchScan`, devices,
//!   groups) over [`inventory`].
//! - [`inventory`]: scans (a hidden job of library probes, folded into the inventory when
//!   its run ends), devices, device groups and their resolution when a run starts.
//! - [`settings`]: run-time settings an admin changes through the API (result retention).
//! - [`error`]: [`ControllerError`] and its mapping to HTTP problems and gRPC statuses.

pub mod api;
pub mod app;
pub mod auth;
pub mod catalog;
pub mod config;
pub mod dispatch;
pub mod error;
pub mod events;
pub mod grpc_api;
pub mod grpc_inventory;
pub mod inventory;
pub mod lifecycle;
pub mod metrics;
pub mod relay;
pub mod rest;
pub mod scheduler;
pub mod session;
pub mod settings;
pub mod vault;
pub mod ws;

pub use app::Controller;
pub use config::ControllerConfig;
pub use error::ControllerError;
