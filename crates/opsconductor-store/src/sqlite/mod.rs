//! The SQLite store of standalone mode: one file in the data directory, the same traits and
//! the same rules as the PostgreSQL store, for one process.
//!
//! # Files
//! [`SqliteStore::open`] keeps everything in `<data dir>/opsconductor.db` (plus SQLite's
//! `-wal` and `-shm` files beside it while it is open) and the scheduler leadership lock in
//! `opsconductor.db.leader`. The schema is `migrations/sqlite/`, applied by
//! [`StoreAdmin::migrate`].
//!
//! # Concurrency
//! The database runs in WAL mode with `synchronous = NORMAL`, foreign keys on and a busy
//! timeout. Writes go through a pool of exactly one connection, and every multi-statement
//! write is a `BEGIN IMMEDIATE` transaction on it: writers queue in the pool (fairly, and
//! without polling) instead of racing for SQLite's one write lock, so they never see
//! `SQLITE_BUSY` from each other, and a transaction holds the write lock from its first
//! statement, so what it read cannot change before it writes (which is what `FOR UPDATE`
//! and the retry of lost races do on PostgreSQL). Reads go through a separate pool of
//! `query_only` connections and run beside the writer on WAL snapshots; a read started
//! after a write committed sees it. Another process writing the same file (an admin
//! command) waits on the busy timeout; only when that runs out does a call fail, with
//! [`StoreError::Unavailable`].
//!
//! # Representation
//! - ids: 16-byte BLOB UUIDs (sqlx's encoding; byte order is PostgreSQL's `uuid` order);
//! - times: TEXT, RFC 3339 in UTC with exactly six fractional digits
//!   (`2026-05-01T12:00:00.123456Z`, see [`Ts`]): fixed width, so SQL compares and sorts
//!   them as times, and microseconds, as PostgreSQL keeps them. All times are computed by
//!   the store, never by SQL;
//! - JSON documents and arrays (chunk targets, agent capabilities, segment CIDRs): TEXT;
//! - booleans: INTEGER 0 / 1.
//!
//! # Where it differs from PostgreSQL
//! Not in what the traits promise; in what they leave open:
//! - text compares bytewise everywhere, so names sort by code point (PostgreSQL sorts
//!   them by the database's collation; result targets are bytewise on both);
//! - job text search folds the case of ASCII letters only (SQLite's LIKE, not ILIKE);
//! - retention deletes result rows, whole runs at a time, instead of dropping partitions;
//! - the scheduler leadership is a lock file, which works on one machine only.
//!
//! # Layout
//! One module per store trait, as for PostgreSQL (`jobs`, `runs`, `chunks`, `results`, …);
//! `error` translates SQLite result codes into [`StoreError`]; the leader election is in
//! `schedules`.

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
mod ssh_host_keys;
mod templates;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SubsecRound, Utc};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::sqlite::{
    SqliteArgumentsBuffer, SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions,
    SqliteSynchronous, SqliteTypeInfo,
};
use sqlx::{Encode, Sqlite, SqlitePool, Transaction, Type};
use uuid::Uuid;

use crate::StoreAdmin;
use crate::error::StoreError;

pub(crate) use self::error::db;

/// The schema, compiled into the binary like PostgreSQL's.
static MIGRATOR: Migrator = sqlx::migrate!("migrations/sqlite");

/// How long a statement waits for a lock another process holds before it fails.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a call waits for the writer (or a reader) before it fails as unavailable: well
/// beyond any one write, so only a stuck writer trips it.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

/// Results the retention sweep deletes per transaction, roughly (whole runs at a time).
const RETENTION_BATCH: i64 = 20_000;

/// The SQLite store. Cheap to clone: clones share the connections.
#[derive(Clone)]
pub struct SqliteStore {
    /// Exactly one connection: every write, in file order.
    pub(crate) writer: SqlitePool,
    /// `query_only` connections for reads.
    pub(crate) reader: SqlitePool,
    path: Arc<PathBuf>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .field("readers", &self.reader.size())
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// The database file's name in the data directory.
    pub const DATABASE_FILE: &'static str = "opsconductor.db";

    /// Read connections [`SqliteStore::open`] allows at once.
    pub const DEFAULT_READERS: u32 = 4;

    /// Opens the store of a data directory, `<data_dir>/opsconductor.db`, creating the
    /// directory and the database when they do not exist, with
    /// [`DEFAULT_READERS`](Self::DEFAULT_READERS) read connections. Call
    /// [`StoreAdmin::migrate`] before using it.
    pub async fn open(data_dir: impl AsRef<Path>) -> Result<Self, StoreError> {
        let dir = data_dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Unavailable {
            message: format!("cannot create the data directory {}: {e}", dir.display()),
        })?;
        Self::open_file(dir.join(Self::DATABASE_FILE), Self::DEFAULT_READERS).await
    }

    /// Opens the database a `sqlite://<path>` (or `sqlite:<path>`) URL names, creating it
    /// and its directory when missing, with at most `readers` read connections: the URL
    /// form of [`open_file`](Self::open_file), for configurations that name the database
    /// by URL (`sqlite:///var/lib/opsconductor/opsconductor.db`,
    /// `sqlite://./data/opsconductor.db`). Everything after the scheme is the path.
    /// In-memory databases are refused: the writer and the readers could not share one.
    pub async fn connect(url: &str, readers: u32) -> Result<Self, StoreError> {
        let path = sqlite_url_path(url)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Unavailable {
                message: format!("cannot create the directory {}: {e}", dir.display()),
            })?;
        }
        Self::open_file(path, readers).await
    }

    /// Opens (creating it if missing) the database file at `path`, with at most `readers`
    /// read connections besides the one writer.
    pub async fn open_file(path: impl AsRef<Path>, readers: u32) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            .synchronous(SqliteSynchronous::Normal);
        // The writer connects first: it creates the file and switches it to WAL (a setting
        // of the file, which the readers then find).
        // No liveness test before each use: the connections are in-process, and the test
        // would cost a round trip to the connection's thread per call.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .test_before_acquire(false)
            .connect_with(
                options
                    .clone()
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    // Keeps the planner's statistics current (SQLite's advice for
                    // long-lived databases); cheap, and only when the writer reconnects.
                    .optimize_on_close(true, 400),
            )
            .await
            .map_err(db)?;
        // `query_only`: a write sent to a reader by mistake fails instead of taking the
        // write lock behind the writer's back.
        let reader = SqlitePoolOptions::new()
            .max_connections(readers.max(1))
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .test_before_acquire(false)
            .connect_with(options.pragma("query_only", "ON"))
            .await
            .map_err(db)?;
        Ok(Self {
            writer,
            reader,
            path: Arc::new(path),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Closes every connection (checkpointing the WAL into the database file); calls after
    /// this fail as unavailable.
    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }

    /// A write transaction holding SQLite's write lock from its start.
    pub(crate) async fn begin(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        self.writer.begin_with("BEGIN IMMEDIATE").await.map_err(db)
    }

    /// The leadership lock file beside the database.
    fn leader_lock_path(&self) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(".leader");
        PathBuf::from(name)
    }
}

/// `SqliteStore` is a whole [`Store`](crate::Store): this fails to compile otherwise.
const _: fn() = || {
    fn is_store<T: crate::Store>() {}
    is_store::<SqliteStore>();
};

#[async_trait]
impl StoreAdmin for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.reader)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.writer).await.map_err(|e| match e {
            MigrateError::Execute(e) => db(e),
            other => StoreError::other(format!("migration failed: {other}")),
        })
    }

    /// Deletes the results of runs created before the UTC day of `cutoff` and marks those
    /// runs, so that results arriving for them later are refused as on PostgreSQL (whose
    /// partition is gone). Works through the runs oldest first, a few at a time (about
    /// 20,000 results per transaction), so that the writer is never held for
    /// long and an interrupted sweep resumes where it stopped. Names what it deleted as
    /// `"<n> results of runs created before <day>"`; nothing when there was nothing.
    async fn drop_results_before(&self, cutoff: DateTime<Utc>) -> Result<Vec<String>, StoreError> {
        let day = cutoff.date_naive();
        let day_start = Ts(day.and_time(chrono::NaiveTime::MIN).and_utc());
        let mut deleted = 0;
        loop {
            let mut tx = self.begin().await?;
            // The runs still holding results, oldest first, with how many they hold.
            let runs: Vec<(Uuid, i64)> = sqlx::query_as(
                "SELECT id, ok + warn + fail + error + timeout FROM runs
                 WHERE created_at < $1 AND results_dropped_at IS NULL
                 ORDER BY created_at, id
                 LIMIT 1000",
            )
            .bind(day_start)
            .fetch_all(&mut *tx)
            .await
            .map_err(db)?;
            if runs.is_empty() {
                break;
            }
            let mut batch = Vec::new();
            let mut results = 0;
            for (id, held) in runs {
                if !batch.is_empty() && results + held > RETENTION_BATCH {
                    break;
                }
                batch.push(id);
                results += held;
            }
            let batch = uuid_list(&batch);
            deleted += sqlx::query(
                "DELETE FROM results WHERE run_id IN (SELECT unhex(value) FROM json_each($1))",
            )
            .bind(&batch)
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected();
            sqlx::query(
                "UPDATE runs SET results_dropped_at = $2
                 WHERE id IN (SELECT unhex(value) FROM json_each($1))",
            )
            .bind(&batch)
            .bind(Ts(now()))
            .execute(&mut *tx)
            .await
            .map_err(db)?;
            tx.commit().await.map_err(db)?;
        }
        Ok(if deleted == 0 {
            Vec::new()
        } else {
            vec![format!("{deleted} results of runs created before {day}")]
        })
    }
}

/// The file a `sqlite://` URL names.
fn sqlite_url_path(url: &str) -> Result<PathBuf, StoreError> {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .ok_or_else(|| StoreError::invalid(format!("{url:?} is not a sqlite:// URL")))?;
    if path.is_empty() || path.starts_with(":memory:") || path.contains("mode=memory") {
        return Err(StoreError::invalid(format!(
            "{url:?} names no database file (an in-memory database cannot be shared by the \
             store's connections)"
        )));
    }
    Ok(PathBuf::from(path))
}

/// The current time as the store keeps times: microseconds.
pub(crate) fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// `at + duration`, or the end of time when that does not fit.
pub(crate) fn later(at: DateTime<Utc>, duration: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(duration)
        .ok()
        .and_then(|d| at.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// `at - duration`, or the start of time when that does not fit.
pub(crate) fn earlier(at: DateTime<Utc>, duration: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(duration)
        .ok()
        .and_then(|d| at.checked_sub_signed(d))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// A time as SQLite stores it: TEXT, RFC 3339 in UTC with six fractional digits and `Z`
/// (`2026-05-01T12:00:00.123456Z`). Every time the store writes or compares goes through
/// this, so all stored times have the one fixed-width form that compares as time; sqlx's
/// `DateTime<Utc>` decoding reads it back.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ts(pub(crate) DateTime<Utc>);

impl Ts {
    fn text(self) -> String {
        self.0.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
    }
}

impl Type<Sqlite> for Ts {
    fn type_info() -> SqliteTypeInfo {
        <String as Type<Sqlite>>::type_info()
    }

    fn compatible(ty: &SqliteTypeInfo) -> bool {
        <String as Type<Sqlite>>::compatible(ty)
    }
}

impl Encode<'_, Sqlite> for Ts {
    fn encode_by_ref(&self, buf: &mut SqliteArgumentsBuffer) -> Result<IsNull, BoxDynError> {
        Encode::<Sqlite>::encode(self.text(), buf)
    }
}

/// `ids` as one bind parameter: a JSON array of their hex forms, which
/// `IN (SELECT unhex(value) FROM json_each(?))` turns back into the stored BLOBs (the
/// counterpart of PostgreSQL's `= ANY($1::uuid[])`).
pub(crate) fn uuid_list<'a>(ids: impl IntoIterator<Item = &'a Uuid>) -> String {
    let hex: Vec<String> = ids.into_iter().map(|id| id.simple().to_string()).collect();
    serde_json::Value::from(hex).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_times_are_fixed_width_and_sort_as_times() {
        let at = |s: &str| Ts(s.parse::<DateTime<Utc>>().unwrap()).text();
        assert_eq!(
            at("2026-05-01T12:00:00.123456789Z"),
            "2026-05-01T12:00:00.123456Z"
        );
        assert_eq!(at("2026-05-01T12:00:00Z"), "2026-05-01T12:00:00.000000Z");
        let mut texts = vec![
            at("2026-05-01T12:00:00.5Z"),
            at("2026-05-01T12:00:00Z"),
            at("2026-05-01T12:00:00.000001Z"),
            at("2025-12-31T23:59:59.999999Z"),
        ];
        texts.sort();
        assert_eq!(
            texts,
            [
                "2025-12-31T23:59:59.999999Z",
                "2026-05-01T12:00:00.000000Z",
                "2026-05-01T12:00:00.000001Z",
                "2026-05-01T12:00:00.500000Z",
            ]
        );
    }

    #[test]
    fn a_sqlite_url_names_its_file() {
        let path = |url: &str| sqlite_url_path(url).map(|p| p.display().to_string());
        assert_eq!(
            path("sqlite:///var/lib/oc/opsconductor.db").unwrap(),
            "/var/lib/oc/opsconductor.db"
        );
        assert_eq!(
            path("sqlite://./data/opsconductor.db").unwrap(),
            "./data/opsconductor.db"
        );
        assert_eq!(path("sqlite:data/x.db").unwrap(), "data/x.db");
        for bad in [
            "postgres://h/db",
            "sqlite://",
            "sqlite::memory:",
            "sqlite://file:x?mode=memory",
        ] {
            assert!(
                matches!(path(bad), Err(StoreError::Invalid { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_uuid_list_is_a_json_array_of_hex() {
        let id = Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
        assert_eq!(uuid_list([&id]), r#"["0123456789abcdef0123456789abcdef"]"#);
        assert_eq!(uuid_list([]), "[]");
    }
}
