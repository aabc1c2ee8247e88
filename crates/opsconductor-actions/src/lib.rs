//! # opsconductor-actions
//!
//! What an agent does with a chunk: run every (target × action) with native protocol
//! clients, bounded concurrency and a hard per-target deadline; apply the parsers and
//! success criteria from core; stream [`ResultRecord`](opsconductor_core::model::ResultRecord)s
//! as they complete. Used by the agent binary and by standalone mode.
//!
//! ## Layout
//! - [`action`] — the [`Action`] trait every executor implements, its input and output.
//! - [`registry`] — the one place action kinds are mapped to executors.
//! - [`runner`] — the chunk runner (concurrency, deadlines, cancel, parsers, criteria,
//!   uniform metrics) and the dry run.
//! - [`credential`] — credential material handed to actions just in time (re-exported from
//!   the core, where the controller checks the same material when it is stored).
//! - [`hostkey`] — SSH host-key verification (trust on first use).
//! - `ping`, `snmp`, `ssh`, `http`, `tcp` — one module per action kind.
//! - [`metrics`] — the metrics the runner emits.

pub mod action;
pub use opsconductor_core::credential;
pub mod hostkey;
pub mod metrics;
pub mod registry;
pub mod resolve;
pub mod runner;

pub use action::{Action, ActionError, ActionInput, ActionOutput};
pub use registry::Registry;
pub use runner::{Chunk, DryRunOutput, PreparedAction, RunnerConfig, dry_run, run_chunk};

pub mod http;
pub mod ping;
pub mod snmp;
pub mod ssh;
pub mod tcp;
