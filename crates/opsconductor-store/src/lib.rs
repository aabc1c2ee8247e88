//! # opsconductor-store
//!
//! The store of the controller: the only place that knows SQL, with two backends behind
//! one set of traits ([`Store`], shared as [`SharedStore`]). [`PgStore`] (PostgreSQL) is
//! the scale-out store several controller replicas share; [`SqliteStore`] is standalone
//! mode's embedded store, one file in the data directory for one process. Both keep the
//! reliability contract's storage half — a run and its chunks are written with their
//! outbox rows in one transaction, results are idempotent on (run, target, action index),
//! and every expected result of a run ends up stored as a real result, an error or a
//! timeout — with the same errors in the same situations; the integration tests run
//! against both. No sqlx type appears in the public API; database errors arrive as
//! [`StoreError`].
//!
//! ## Layout
//! Each module below defines one trait and implements it for [`PgStore`]; `sqlite/` holds
//! the same modules implementing them for [`SqliteStore`].
//! - [`store`](PgStore) — the PostgreSQL handle ([`StoreAdmin`]): pool, migrations, daily
//!   result partitions, caches.
//! - `error` — [`StoreError`] and the SQLSTATE translation.
//! - `segments` — network segments.
//! - `accounts` — users, login sessions with rotating refresh tokens, API tokens and
//!   failed logins (hashes only, never a password or a token).
//! - `audit` — the audit log: who changed what and when.
//! - `agents` — enrollment tokens, agent registration, authentication and liveness.
//! - `inventory` — devices, device groups, scans and their snapshots.
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
//! - [`sqlite`](SqliteStore) — the SQLite handle and its implementations: the file
//!   `<data dir>/opsconductor.db` in WAL mode; every write on one writer connection
//!   (`BEGIN IMMEDIATE` transactions, so writers queue instead of failing busy), reads on
//!   a pool of read-only connections; ids as BLOB UUIDs, times as fixed-width RFC 3339
//!   text, JSON as text; scheduler leadership as a lock on `opsconductor.db.leader`.
//! - `testing` (feature `testing`) — a fresh, migrated database of either backend per
//!   test.
//!
//! Schema: `migrations/postgres/` and `migrations/sqlite/`, embedded in the binary and
//! applied by [`StoreAdmin::migrate`].

mod accounts;
mod agents;
mod audit;
mod chunks;
mod credentials;
mod error;
mod inventory;
mod jobs;
mod library_entries;
mod queries;
mod results;
mod runs;
mod schedules;
mod segments;
mod sqlite;
mod ssh_host_keys;
mod store;
mod templates;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use accounts::{
    AccountStore, ActiveSession, ApiTokenRecord, NewApiToken, NewSession, RefreshOutcome,
    SessionRecord, UserChange, UserRecord, UserUpdate,
};
pub use agents::{AgentRecord, AgentStore, RegisteredAgent};
pub use audit::{AuditEntry, AuditFilter, AuditStore, MAX_AUDIT_PAGE, NewAuditEntry};
pub use chunks::{ChunkRecord, ChunkRef, ChunkState, ChunkStore, OutboxItem};
pub use credentials::{
    CredentialChange, CredentialDeletion, CredentialMeta, CredentialStore, SealedSecret,
};
pub use error::StoreError;
pub use inventory::{
    DeviceUpdate, GroupRecord, ImportedDevice, InventoryStore, LiveScanCounts, NewScan,
    ObservedDevice, ScanFinish, ScanRecord, ScanResultRow, ScanState,
};
pub use jobs::{JobFilter, JobListItem, JobStore, ListedJob, MAX_PAGE};
pub use library_entries::{LibraryEntry, LibraryEntryStore, LibraryStamp};
pub use queries::{
    MAX_RUN_SPAN_DAYS, MAX_SERIES_POINTS, ResultFilter, ResultKey, ResultQueryStore, SeriesPoint,
    SeriesQuery, StoredResult,
};
pub use results::{IngestOutcome, ResultStore};
pub use runs::{NewChunk, NewRun, RunFilter, RunStore};
pub use schedules::{JobsFingerprint, LeaderElection, PgLeaderElection, ScheduleStore};
pub use segments::SegmentStore;
pub use sqlite::SqliteStore;
pub use ssh_host_keys::{HostKeyVerdict, SshHostKey, SshHostKeyStore};
pub use store::{PgStore, StoreAdmin};
pub use templates::{JobTemplate, StoredSettings, TemplateStore};

/// Everything the controller keeps: one trait object per process, whichever database is
/// behind it. Implemented by every type that implements all the parts.
pub trait Store:
    StoreAdmin
    + AccountStore
    + AgentStore
    + AuditStore
    + ChunkStore
    + CredentialStore
    + InventoryStore
    + JobStore
    + LibraryEntryStore
    + ResultQueryStore
    + ResultStore
    + RunStore
    + ScheduleStore
    + SegmentStore
    + SshHostKeyStore
    + TemplateStore
    + std::fmt::Debug
    + Send
    + Sync
    + 'static
{
}

impl<T> Store for T where
    T: StoreAdmin
        + AccountStore
        + AgentStore
        + AuditStore
        + ChunkStore
        + CredentialStore
        + InventoryStore
        + JobStore
        + LibraryEntryStore
        + ResultQueryStore
        + ResultStore
        + RunStore
        + ScheduleStore
        + SegmentStore
        + SshHostKeyStore
        + TemplateStore
        + std::fmt::Debug
        + Send
        + Sync
        + 'static
{
}

/// The store as the controller shares it between tasks.
pub type SharedStore = std::sync::Arc<dyn Store>;

/// Opens the store `url` names, not yet migrated: `sqlite://<path>` (or `sqlite:<path>`) is
/// a SQLite file, created with its directory when missing, with up to `max_connections`
/// readers beside its one writer; anything else is a PostgreSQL URL with a pool of
/// `max_connections`. The configuration's `database_url` chooses the backend.
pub async fn open(url: &str, max_connections: u32) -> Result<SharedStore, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(std::sync::Arc::new(
            SqliteStore::connect(url, max_connections).await?,
        ))
    } else {
        Ok(std::sync::Arc::new(
            PgStore::connect(url, max_connections).await?,
        ))
    }
}

/// The store traits, for `use opsconductor_store::prelude::*` where store methods are
/// called (a trait's methods need the trait in scope).
pub mod prelude {
    pub use crate::{
        AccountStore, AgentStore, AuditStore, ChunkStore, CredentialStore, InventoryStore,
        JobStore, LeaderElection, LibraryEntryStore, ResultQueryStore, ResultStore, RunStore,
        ScheduleStore, SegmentStore, SharedStore, SshHostKeyStore, Store, StoreAdmin,
        TemplateStore,
    };
}
