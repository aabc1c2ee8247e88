//! The store handle: connection pool, migrations, result partitions and the small caches
//! that keep the hot ingest path to one statement per batch.

use async_trait::async_trait;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Days, NaiveDate, Utc};
use opsconductor_core::ids::RunId;
use sqlx::PgPool;
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::postgres::PgPoolOptions;
use uuid::Uuid;

use crate::error::{StoreError, db};

/// The schema, compiled into the binary so a deployed controller migrates itself.
static MIGRATOR: Migrator = sqlx::migrate!("migrations/postgres");

/// Days of result partitions created ahead by [`PgStore::migrate`]: a controller that runs
/// for a week without creating a run still finds tomorrow's partition in place.
const PARTITION_DAYS_AHEAD_AT_MIGRATE: u32 = 7;

/// Days created ahead whenever a run is created, so the partition for tomorrow exists
/// before midnight instead of being created (under a lock) by the first run of the day.
const PARTITION_DAYS_AHEAD_AT_RUN: u32 = 2;

/// Runs whose creation time is remembered for ingest. Past this the cache starts over:
/// a miss costs one indexed lookup, and the working set is the runs still in flight.
const RUN_CACHE_CAPACITY: usize = 4096;

/// Attempts of one operation that keeps losing deadlock / serialization races.
const MAX_ATTEMPTS: u32 = 4;

/// The PostgreSQL store. Cheap to clone: clones share the pool and the caches.
#[derive(Clone)]
pub struct PgStore {
    pub(crate) pool: PgPool,
    caches: Arc<Caches>,
}

#[derive(Default)]
struct Caches {
    /// Days whose results partition is known to exist.
    partition_days: Mutex<HashSet<NaiveDate>>,
    /// Run id → creation time (the results partition key). Runs never change it.
    run_created_at: Mutex<HashMap<RunId, DateTime<Utc>>>,
}

/// The caches hold plain values that are valid whatever a panicking holder did.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("connections", &self.pool.size())
            .finish_non_exhaustive()
    }
}

/// The store as a whole: reachability, schema and retention.
#[async_trait]
pub trait StoreAdmin: Send + Sync {
    /// Answers when the database does (readiness checks).
    async fn ping(&self) -> Result<(), StoreError>;

    /// Brings the schema up to date (a no-op when it is; concurrent callers are
    /// serialised) and prepares what the first runs need.
    async fn migrate(&self) -> Result<(), StoreError>;

    /// Removes the results of runs created before the UTC day of `cutoff` (runs and chunks
    /// are kept) and names what was dropped, for the log: result partitions on
    /// PostgreSQL.
    async fn drop_results_before(&self, cutoff: DateTime<Utc>) -> Result<Vec<String>, StoreError>;
}

#[async_trait]
impl StoreAdmin for PgStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.pool).await.map_err(|e| match e {
            MigrateError::Execute(e) => db(e),
            other => StoreError::other(format!("migration failed: {other}")),
        })?;
        self.ensure_partitions(Utc::now().date_naive(), PARTITION_DAYS_AHEAD_AT_MIGRATE)
            .await
    }

    async fn drop_results_before(&self, cutoff: DateTime<Utc>) -> Result<Vec<String>, StoreError> {
        self.drop_partitions_older_than(cutoff).await
    }
}

impl PgStore {
    /// Connects to `url` (`postgres://user@host:port/db`) with a pool of at most
    /// `max_connections`, failing fast when the database cannot be reached.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await
            .map_err(db)?;
        Ok(Self {
            pool,
            caches: Arc::default(),
        })
    }

    /// Creates the missing daily result partitions for `from_day` and the `days_ahead` days
    /// after it (UTC days). Days this handle already ensured are not asked about again.
    pub async fn ensure_partitions(
        &self,
        from_day: NaiveDate,
        days_ahead: u32,
    ) -> Result<(), StoreError> {
        let missing: Vec<NaiveDate> = {
            let known = lock(&self.caches.partition_days);
            (0..=days_ahead)
                .filter_map(|i| from_day.checked_add_days(Days::new(i.into())))
                .filter(|day| !known.contains(day))
                .collect()
        };
        if missing.is_empty() {
            return Ok(());
        }
        sqlx::query("SELECT oc_ensure_results_partition(day) FROM unnest($1::date[]) AS d(day)")
            .bind(&missing)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        lock(&self.caches.partition_days).extend(missing);
        Ok(())
    }

    /// Drops every daily result partition that ends at or before `cutoff`, i.e. the results
    /// of runs created before that day, and returns the dropped table names. Runs and
    /// chunks are kept.
    pub async fn drop_partitions_older_than(
        &self,
        cutoff: DateTime<Utc>,
    ) -> Result<Vec<String>, StoreError> {
        let dropped: Vec<String> =
            sqlx::query_scalar("SELECT oc_drop_results_partitions_before($1)")
                .bind(cutoff)
                .fetch_all(&self.pool)
                .await
                .map_err(db)?;
        let mut known = lock(&self.caches.partition_days);
        for name in &dropped {
            if let Some(day) = partition_day(name) {
                known.remove(&day);
            }
        }
        Ok(dropped)
    }

    /// Ensures the partitions a run created at `created_at` writes into.
    pub(crate) async fn ensure_partitions_for_run(
        &self,
        created_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.ensure_partitions(created_at.date_naive(), PARTITION_DAYS_AHEAD_AT_RUN)
            .await
    }

    /// Remembers a run's creation time for later ingest.
    pub(crate) fn remember_run(&self, id: RunId, created_at: DateTime<Utc>) {
        let mut cache = lock(&self.caches.run_created_at);
        if cache.len() >= RUN_CACHE_CAPACITY {
            cache.clear();
        }
        cache.insert(id, created_at);
    }

    /// The creation time of each run, from the cache or the database. Fails with
    /// [`StoreError::NotFound`] naming the first run that does not exist.
    pub(crate) async fn runs_created_at(
        &self,
        ids: impl IntoIterator<Item = RunId>,
    ) -> Result<HashMap<RunId, DateTime<Utc>>, StoreError> {
        let mut found = HashMap::new();
        let mut unknown: Vec<RunId> = Vec::new();
        {
            let cache = lock(&self.caches.run_created_at);
            for id in ids {
                match cache.get(&id) {
                    Some(at) => {
                        found.insert(id, *at);
                    }
                    None if !found.contains_key(&id) && !unknown.contains(&id) => {
                        unknown.push(id);
                    }
                    None => {}
                }
            }
        }
        if unknown.is_empty() {
            return Ok(found);
        }
        let uuids: Vec<Uuid> = unknown.iter().map(|id| *id.as_uuid()).collect();
        let rows: Vec<(Uuid, DateTime<Utc>)> =
            sqlx::query_as("SELECT id, created_at FROM runs WHERE id = ANY($1)")
                .bind(&uuids)
                .fetch_all(&self.pool)
                .await
                .map_err(db)?;
        for (id, created_at) in rows {
            let id = RunId::from_uuid(id);
            self.remember_run(id, created_at);
            found.insert(id, created_at);
        }
        match unknown.iter().find(|id| !found.contains_key(id)) {
            Some(id) => Err(StoreError::not_found(format!("run {id}"))),
            None => Ok(found),
        }
    }

    /// Runs `attempt` again (after a short, jittered pause) while it loses deadlock or
    /// serialization races. Every caller's attempt is one transaction, so a lost attempt
    /// left nothing behind.
    ///
    /// A plain closure returning a future rather than an async closure: the futures of
    /// async closures that borrow are not provably `Send`, and callers spawn these calls.
    pub(crate) async fn retrying<T, F, Fut>(&self, mut attempt: F) -> Result<T, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        let mut tries = 1;
        loop {
            match attempt().await {
                Err(e) if e.is_lost_race() && tries < MAX_ATTEMPTS => {
                    let pause_ms = rand::random_range(5..25) * u64::from(tries);
                    tracing::debug!(error = %e, attempt = tries, "store operation lost a race, retrying");
                    tokio::time::sleep(Duration::from_millis(pause_ms)).await;
                    tries += 1;
                }
                other => return other,
            }
        }
    }
}

/// The day a `results_YYYYMMDD` partition holds.
fn partition_day(name: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(name.strip_prefix("results_")?, "%Y%m%d").ok()
}
