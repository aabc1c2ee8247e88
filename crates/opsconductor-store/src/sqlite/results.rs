//! Results on SQLite: idempotent ingest, the fill-in of results that will never come, and
//! the counter update every result-writing operation ends with.
//!
//! Every write inserts with `ON CONFLICT DO NOTHING … RETURNING`, so it learns exactly
//! which rows it inserted (duplicates are not returned) and [`count_and_finish`] adds
//! just those to their runs' counters, completing a run whose counters reach its total:
//! ingest, cancellation, dead letters and the deadline sweep count alike, as on
//! PostgreSQL.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use opsconductor_core::ids::{AgentId, ChunkId, RunId};
use opsconductor_core::model::{ResultRecord, ResultStatus};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};
use uuid::Uuid;

use super::{SqliteStore, Ts, db, now, uuid_list};
use crate::error::StoreError;
use crate::results::{FillScope, ResultColumns, ResultRow};
use crate::{IngestOutcome, ResultStore};

/// Result rows per INSERT statement (14 parameters each, well inside SQLite's limit).
const RESULTS_PER_INSERT: usize = 500;

/// The columns of [`ResultRow`].
macro_rules! result_columns {
    () => {
        "run_id, target, action_index, status, started_at, duration_ms, timings, fields, rows,
         raw_excerpt, reason, agent_id"
    };
}

/// One inserted result as its run's counters see it.
type Inserted = (Uuid, String, DateTime<Utc>);

#[async_trait]
impl ResultStore for SqliteStore {
    async fn ingest_results(
        &self,
        chunk_id: Option<ChunkId>,
        agent_id: Option<AgentId>,
        results: &[ResultRecord],
    ) -> Result<IngestOutcome, StoreError> {
        if results.is_empty() {
            return Ok(IngestOutcome::default());
        }
        let mut tx = self.begin().await?;
        let created_at = runs_accepting_results(&mut tx, results).await?;
        let columns = ResultColumns::new(results, &created_at, agent_id)?;
        let chunk_id = chunk_id.map(|id| *id.as_uuid());
        let stored_at = Ts(now());
        let indexes: Vec<usize> = (0..columns.run_id.len()).collect();
        let mut inserted: Vec<Inserted> = Vec::with_capacity(indexes.len());
        for part in indexes.chunks(RESULTS_PER_INSERT) {
            let mut q = QueryBuilder::<Sqlite>::new(
                "INSERT INTO results (run_id, target, action_index, status, started_at,
                                      duration_ms, timings, fields, rows, raw_excerpt, reason,
                                      agent_id, chunk_id, stored_at) ",
            );
            q.push_values(part, |mut b, &i| {
                b.push_bind(columns.run_id[i])
                    .push_bind(columns.target[i].as_ref())
                    .push_bind(columns.action_index[i])
                    .push_bind(columns.status[i])
                    .push_bind(Ts(columns.started_at[i]))
                    .push_bind(columns.duration_ms[i])
                    .push_bind(&columns.timings[i])
                    .push_bind(&columns.fields[i])
                    .push_bind(&columns.rows[i])
                    .push_bind(columns.raw_excerpt[i].as_deref())
                    .push_bind(columns.reason[i].as_deref())
                    .push_bind(columns.agent_id[i])
                    .push_bind(chunk_id)
                    .push_bind(stored_at);
            });
            q.push(" ON CONFLICT DO NOTHING RETURNING run_id, status, started_at");
            let rows: Vec<Inserted> = q.build_query_as().fetch_all(&mut *tx).await.map_err(db)?;
            inserted.extend(rows);
        }
        count_and_finish(&mut tx, &inserted).await?;
        tx.commit().await.map_err(db)?;
        let inserted = inserted.len() as u64;
        Ok(IngestOutcome {
            inserted,
            duplicates: results.len() as u64 - inserted,
        })
    }

    async fn results_for_run(&self, run_id: RunId) -> Result<Vec<ResultRecord>, StoreError> {
        let mut conn = self.reader.acquire().await.map_err(db)?;
        ensure_run(&mut conn, run_id).await?;
        let rows: Vec<ResultRow> = sqlx::query_as(concat!(
            "SELECT ",
            result_columns!(),
            " FROM results WHERE run_id = $1 ORDER BY target, action_index"
        ))
        .bind(run_id.as_uuid())
        .fetch_all(&mut *conn)
        .await
        .map_err(db)?;
        rows.into_iter().map(ResultRecord::try_from).collect()
    }

    async fn count_results(&self, run_id: RunId) -> Result<u64, StoreError> {
        let mut conn = self.reader.acquire().await.map_err(db)?;
        ensure_run(&mut conn, run_id).await?;
        let count: i64 = sqlx::query_scalar("SELECT count(*) FROM results WHERE run_id = $1")
            .bind(run_id.as_uuid())
            .fetch_one(&mut *conn)
            .await
            .map_err(db)?;
        Ok(u64::try_from(count).unwrap_or_default())
    }
}

/// [`StoreError::NotFound`] unless the run exists.
pub(crate) async fn ensure_run(
    conn: &mut SqliteConnection,
    run_id: RunId,
) -> Result<(), StoreError> {
    let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM runs WHERE id = $1")
        .bind(run_id.as_uuid())
        .fetch_optional(conn)
        .await
        .map_err(db)?;
    match found {
        Some(_) => Ok(()),
        None => Err(StoreError::not_found(format!("run {run_id}"))),
    }
}

/// The creation time of every run the batch names. The whole batch is refused when one of
/// them does not exist ([`StoreError::NotFound`] naming the first, in batch order) or when
/// retention deleted its results ([`StoreError::Invalid`], as PostgreSQL refuses rows for a
/// dropped partition): storing results again would count them twice.
async fn runs_accepting_results(
    tx: &mut SqliteConnection,
    results: &[ResultRecord],
) -> Result<HashMap<RunId, DateTime<Utc>>, StoreError> {
    let mut wanted: Vec<RunId> = Vec::new();
    for r in results {
        if !wanted.contains(&r.run_id) {
            wanted.push(r.run_id);
        }
    }
    let rows: Vec<(Uuid, DateTime<Utc>, bool)> = sqlx::query_as(
        "SELECT id, created_at, results_dropped_at IS NOT NULL FROM runs
         WHERE id IN (SELECT unhex(value) FROM json_each($1))",
    )
    .bind(uuid_list(wanted.iter().map(RunId::as_uuid)))
    .fetch_all(&mut *tx)
    .await
    .map_err(db)?;
    let found: HashMap<RunId, (DateTime<Utc>, bool)> = rows
        .into_iter()
        .map(|(id, created_at, dropped)| (RunId::from_uuid(id), (created_at, dropped)))
        .collect();
    let mut created = HashMap::with_capacity(found.len());
    for id in wanted {
        match found.get(&id) {
            None => return Err(StoreError::not_found(format!("run {id}"))),
            Some((_, true)) => {
                return Err(StoreError::invalid(format!(
                    "the results of run {id} were removed by retention; no more are stored"
                )));
            }
            Some((created_at, false)) => {
                created.insert(id, *created_at);
            }
        }
    }
    Ok(created)
}

/// Records every expected (target, action) of `scope` that has no result yet as `status`
/// with `reason`, started `now`, counting them like ingested results. Returns the number
/// filled per run (runs with nothing missing are absent). The pairs come from each chunk's
/// targets × `0..action_count`; `ON CONFLICT DO NOTHING` skips the pairs already stored.
/// Runs whose results retention deleted are left alone.
pub(crate) async fn fill_missing(
    tx: &mut SqliteConnection,
    scope: FillScope<'_>,
    status: ResultStatus,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<Vec<(Uuid, i64)>, StoreError> {
    let (condition, scope_value) = match scope {
        FillScope::Runs(runs) => (
            "c.run_id IN (SELECT unhex(value) FROM json_each($1))",
            uuid_list(runs),
        ),
        FillScope::Chunk(chunk) => ("c.id = unhex($1)", chunk.as_uuid().simple().to_string()),
    };
    // The action indexes 0..max(action_count), counted up by a recursive CTE.
    let sql = format!(
        "WITH RECURSIVE actions (i) AS (
             SELECT 0
             UNION ALL
             SELECT i + 1 FROM actions
             WHERE i + 1 < (SELECT max(c.action_count) FROM chunks AS c WHERE {condition})
         )
         INSERT INTO results (run_id, target, action_index, status, started_at, duration_ms,
                              reason, chunk_id, stored_at)
         SELECT c.run_id, t.value, a.i, $2, $4, 0.0, $3, c.id, $4
         FROM chunks AS c
         JOIN runs AS r ON r.id = c.run_id
         JOIN json_each(c.targets) AS t
         JOIN actions AS a ON a.i < c.action_count
         WHERE {condition} AND r.results_dropped_at IS NULL
         ORDER BY c.run_id, t.value, a.i
         ON CONFLICT DO NOTHING
         RETURNING run_id, status, started_at"
    );
    let inserted: Vec<Inserted> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(scope_value)
        .bind(status.as_str())
        .bind(reason)
        .bind(Ts(now))
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
    count_and_finish(tx, &inserted).await
}

/// Adds newly inserted results to their runs' counters and `last_result_at`, and completes
/// a run whose counters reach its total unless it already ended (a cancelled run keeps its
/// status while late results are counted). Returns how many results each run got.
pub(crate) async fn count_and_finish(
    tx: &mut SqliteConnection,
    inserted: &[Inserted],
) -> Result<Vec<(Uuid, i64)>, StoreError> {
    #[derive(Default)]
    struct Counts {
        by_status: [i64; 5],
        last_started: Option<DateTime<Utc>>,
    }
    let mut runs: Vec<(Uuid, Counts)> = Vec::new();
    for (run, status, started_at) in inserted {
        let slot = match runs.iter().position(|(id, _)| id == run) {
            Some(i) => i,
            None => {
                runs.push((*run, Counts::default()));
                runs.len() - 1
            }
        };
        let counts = &mut runs[slot].1;
        let i = match status.as_str() {
            "ok" => 0,
            "warn" => 1,
            "fail" => 2,
            "error" => 3,
            _ => 4,
        };
        counts.by_status[i] += 1;
        counts.last_started = counts.last_started.max(Some(*started_at));
    }
    let finished_at = Ts(now());
    let mut added = Vec::with_capacity(runs.len());
    for (run, counts) in runs {
        let [ok, warn, fail, error, timeout] = counts.by_status;
        let n = ok + warn + fail + error + timeout;
        sqlx::query(
            "UPDATE runs
             SET ok = ok + $2, warn = warn + $3, fail = fail + $4, error = error + $5,
                 timeout = timeout + $6,
                 last_result_at = max(coalesce(last_result_at, $7), $7),
                 status = CASE WHEN status IN ('queued', 'running')
                                AND ok + warn + fail + error + timeout + $8 >= total
                               THEN 'completed' ELSE status END,
                 finished_at = CASE WHEN status IN ('queued', 'running')
                                     AND ok + warn + fail + error + timeout + $8 >= total
                                    THEN $9 ELSE finished_at END
             WHERE id = $1",
        )
        .bind(run)
        .bind(ok)
        .bind(warn)
        .bind(fail)
        .bind(error)
        .bind(timeout)
        .bind(counts.last_started.map(Ts))
        .bind(n)
        .bind(finished_at)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        added.push((run, n));
    }
    Ok(added)
}
