//! # opsconductor-store
//!
//! The PostgreSQL store of the controller: the only place that knows SQL. It keeps the
//! reliability contract's storage half — a run and its chunks are written with their outbox
//! rows in one transaction, results are idempotent on (run, target, action index), and
//! every expected result of a run ends up stored as a real result, an error or a timeout.
//! No sqlx type appears in its public API; database errors arrive as [`StoreError`].
//!
//! ## Layout
//! - [`store`](PgStore) — the handle: pool, migrations, daily result partitions, caches.
//! - `error` — [`StoreError`] and the SQLSTATE translation.
//! - `segments` — network segments.
//! - `accounts` — users, login sessions with rotating refresh tokens, API tokens and
//!   failed logins (hashes only, never a password or a token).
//! - `audit` — the audit log: who changed what and when.
//! - `agents` — enrollment tokens, agent registration, authentication and liveness.
//! - `jobs` — job definitions.
//! - `credentials` — the credential vault's rows (secrets only as the controller sealed
//!   them) and which jobs reference each.
//! - `runs` — run creation (with chunks and outbox), reads, cancellation, deadlines.
//! - `schedules` — the scheduler's jobs, active-run lookups, leader election and its
//!   watermark.
//! - `chunks` — the outbox relay's claim / publish cycle and the chunk life cycle.
//! - `results` — idempotent ingest, the shared fill-in of missing results, counters.
//! - `queries` — results read back: filtered keyset pages and per-job time series.
//! - `ssh_host_keys` — SSH host keys trusted on first use for the whole deployment.
//! - `library_entries` — user-defined library entries (compiled by the controller).
//! - `templates`, `settings` — saved job templates and the run-time settings document.
//! - `testing` (feature `testing`) — a fresh, migrated database per test.
//!
//! Schema: `migrations/postgres/`, embedded in the binary and applied by
//! [`PgStore::migrate`].

mod accounts;
mod agents;
mod audit;
mod chunks;
mod credentials;
mod error;
mod jobs;
mod library_entries;
mod queries;
mod results;
mod runs;
mod schedules;
mod segments;
mod ssh_host_keys;
mod store;
mod templates;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use accounts::{
    ActiveSession, ApiTokenRecord, NewApiToken, NewSession, RefreshOutcome, SessionRecord,
    UserChange, UserRecord, UserUpdate,
};
pub use agents::{AgentRecord, RegisteredAgent};
pub use audit::{AuditEntry, AuditFilter, MAX_AUDIT_PAGE, NewAuditEntry};
pub use chunks::{ChunkRecord, ChunkRef, ChunkState, OutboxItem};
pub use credentials::{CredentialChange, CredentialDeletion, CredentialMeta, SealedSecret};
pub use error::StoreError;
pub use jobs::{JobFilter, JobListItem, ListedJob, MAX_PAGE};
pub use library_entries::{LibraryEntry, LibraryStamp};
pub use queries::{
    MAX_RUN_SPAN_DAYS, MAX_SERIES_POINTS, ResultFilter, ResultKey, SeriesPoint, SeriesQuery,
    StoredResult,
};
pub use results::IngestOutcome;
pub use runs::{NewChunk, NewRun, RunFilter};
pub use schedules::{JobsFingerprint, LeaderElection};
pub use ssh_host_keys::{HostKeyVerdict, SshHostKey};
pub use store::PgStore;
pub use templates::{JobTemplate, StoredSettings};
