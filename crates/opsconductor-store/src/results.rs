//! Results: idempotent ingest, the fill-in of (target, action) pairs that will never get a
//! real result, run counters and run completion, and reads.
//!
//! Every statement that writes results ends with the same counter tail
//! ([`count_and_finish!`]): it adds exactly the rows the statement inserted (duplicates
//! collapse on the primary key and are not returned) to their runs' counters and completes
//! a run whose counters reach its total. Ingest, cancellation, dead-lettering and the
//! deadline sweep therefore cannot disagree about counting.

use async_trait::async_trait;
use std::borrow::Cow;

use chrono::{DateTime, Utc};
use opsconductor_core::ids::{AgentId, ChunkId, RunId};
use opsconductor_core::model::{ResultRecord, ResultStatus};
use serde_json::{Map, Value};
use sqlx::PgConnection;
use sqlx::types::Json;
use uuid::Uuid;

use crate::PgStore;
use crate::error::{StoreError, db};

/// What one ingest call stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IngestOutcome {
    /// Results stored for the first time.
    pub inserted: u64,
    /// Results already stored (a retried batch after a reconnect); they changed nothing.
    pub duplicates: u64,
}

/// The tail of every result-writing statement. Expects a CTE
/// `inserted (run_id, status, started_at)` holding only the rows the statement inserted;
/// defines `counts` (per run and status) and updates the runs: their counters and
/// `last_result_at` (the latest result start, which bounds time-range queries). A run completes when every expected result is in, unless it already
/// ended (a cancelled run keeps its status while late results are counted).
macro_rules! count_and_finish {
    () => {
        "
, counts AS (
    SELECT run_id,
           count(*) FILTER (WHERE status = 'ok')      AS ok,
           count(*) FILTER (WHERE status = 'warn')    AS warn,
           count(*) FILTER (WHERE status = 'fail')    AS fail,
           count(*) FILTER (WHERE status = 'error')   AS error,
           count(*) FILTER (WHERE status = 'timeout') AS timeout,
           max(started_at)                            AS last_started
    FROM inserted
    GROUP BY run_id
), counted AS (
    UPDATE runs AS r
    SET ok = r.ok + c.ok,
        warn = r.warn + c.warn,
        fail = r.fail + c.fail,
        error = r.error + c.error,
        timeout = r.timeout + c.timeout,
        last_result_at = greatest(r.last_result_at, c.last_started),
        status = CASE
            WHEN r.status IN ('queued', 'running')
             AND r.ok + r.warn + r.fail + r.error + r.timeout
               + c.ok + c.warn + c.fail + c.error + c.timeout >= r.total
            THEN 'completed' ELSE r.status END,
        finished_at = CASE
            WHEN r.status IN ('queued', 'running')
             AND r.ok + r.warn + r.fail + r.error + r.timeout
               + c.ok + c.warn + c.fail + c.error + c.timeout >= r.total
            THEN now() ELSE r.finished_at END
    FROM counts AS c
    WHERE r.id = c.run_id
)
"
    };
}

/// One multi-row insert per batch: arrays in, `UNNEST` to rows, counters updated, all in
/// one statement (one round trip, one transaction). `$conflict` is empty for the fast path
/// or `ON CONFLICT DO NOTHING` for batches holding duplicates (see
/// [`PgStore::ingest_results`]).
macro_rules! ingest_sql {
    ($conflict:literal) => {
        concat!(
            "WITH input AS (
    SELECT * FROM unnest(
        $1::uuid[], $2::timestamptz[], $3::text[], $4::int4[], $5::text[], $6::timestamptz[],
        $7::float8[], $8::jsonb[], $9::jsonb[], $10::jsonb[], $11::text[], $12::text[],
        $13::uuid[]
    ) AS t(run_id, run_created_at, target, action_index, status, started_at, duration_ms,
           timings, fields, rows, raw_excerpt, reason, agent_id)
), inserted AS (
    INSERT INTO results (run_id, run_created_at, target, action_index, status, started_at,
                         duration_ms, timings, fields, rows, raw_excerpt, reason, agent_id,
                         chunk_id)
    SELECT run_id, run_created_at, target, action_index, status, started_at, duration_ms,
           timings, fields, rows, raw_excerpt, reason, agent_id, $14::uuid
    FROM input
    ",
            $conflict,
            "
    RETURNING run_id, status, started_at
)",
            count_and_finish!(),
            "SELECT count(*) FROM inserted"
        )
    };
}

const INGEST_NEW_SQL: &str = ingest_sql!("");
const INGEST_DEDUP_SQL: &str = ingest_sql!("ON CONFLICT DO NOTHING");

/// Inserts a result with `$2` status and `$3` reason for every (target, action) of the
/// chunks selected by `$scope` (a condition on chunk `c`) that has none yet. The pairs come
/// from each chunk's targets × `0..action_count`; the anti-join skips the pairs already
/// stored and `ON CONFLICT` the ones stored concurrently. Rows are produced in key order,
/// the order ingest inserts in, so the two cannot deadlock on each other's rows.
macro_rules! fill_missing_sql {
    ($scope:literal) => {
        concat!(
            "WITH missing AS (
    SELECT c.run_id, r.created_at AS run_created_at, t.target, a.action_index,
           c.id AS chunk_id
    FROM chunks AS c
    JOIN runs AS r ON r.id = c.run_id
    CROSS JOIN LATERAL unnest(c.targets) AS t(target)
    CROSS JOIN LATERAL generate_series(0, c.action_count - 1) AS a(action_index)
    WHERE ",
            $scope,
            "
      AND NOT EXISTS (
          SELECT 1 FROM results AS x
          WHERE x.run_id = c.run_id AND x.run_created_at = r.created_at
            AND x.target = t.target COLLATE \"C\" AND x.action_index = a.action_index)
    ORDER BY c.run_id, t.target COLLATE \"C\", a.action_index
), inserted AS (
    INSERT INTO results (run_id, run_created_at, target, action_index, status, started_at,
                         duration_ms, reason, chunk_id)
    SELECT run_id, run_created_at, target, action_index, $2::text, now(), 0, $3::text,
           chunk_id
    FROM missing
    ON CONFLICT DO NOTHING
    RETURNING run_id, status, started_at
)",
            count_and_finish!(),
            "SELECT run_id, ok + warn + fail + error + timeout FROM counts"
        )
    };
}

const FILL_RUNS_SQL: &str = fill_missing_sql!("c.run_id = ANY($1::uuid[])");
const FILL_CHUNK_SQL: &str = fill_missing_sql!("c.id = $1::uuid");

/// Which expected results [`fill_missing`] accounts for.
pub(crate) enum FillScope<'a> {
    /// Every chunk of these runs.
    Runs(&'a [Uuid]),
    /// One chunk.
    Chunk(ChunkId),
}

/// Records every expected (target, action) of `scope` that has no result yet as `status`
/// with `reason`, counting them like ingested results. Returns the number filled per run
/// (runs with nothing missing are absent).
pub(crate) async fn fill_missing(
    conn: &mut PgConnection,
    scope: FillScope<'_>,
    status: ResultStatus,
    reason: &str,
) -> Result<Vec<(Uuid, i64)>, StoreError> {
    let query = match scope {
        FillScope::Runs(runs) => sqlx::query_as(FILL_RUNS_SQL).bind(runs),
        FillScope::Chunk(chunk) => sqlx::query_as(FILL_CHUNK_SQL).bind(*chunk.as_uuid()),
    };
    query
        .bind(status.as_str())
        .bind(reason)
        .fetch_all(conn)
        .await
        .map_err(db)
}

/// A JSON object column value, borrowed unless it had to be cleaned.
pub(crate) type ObjectColumn<'a> = Option<Json<Cow<'a, Map<String, Value>>>>;
/// The rows column value, borrowed unless it had to be cleaned.
pub(crate) type RowsColumn<'a> = Option<Json<Cow<'a, [Map<String, Value>]>>>;

/// A batch as column arrays, in key order. Borrowed from the records wherever the value
/// goes to the database unchanged.
pub(crate) struct ResultColumns<'a> {
    pub(crate) run_id: Vec<Uuid>,
    pub(crate) run_created_at: Vec<DateTime<Utc>>,
    pub(crate) target: Vec<Cow<'a, str>>,
    pub(crate) action_index: Vec<i32>,
    pub(crate) status: Vec<&'static str>,
    pub(crate) started_at: Vec<DateTime<Utc>>,
    pub(crate) duration_ms: Vec<f64>,
    pub(crate) timings: Vec<ObjectColumn<'a>>,
    pub(crate) fields: Vec<ObjectColumn<'a>>,
    pub(crate) rows: Vec<RowsColumn<'a>>,
    pub(crate) raw_excerpt: Vec<Option<Cow<'a, str>>>,
    pub(crate) reason: Vec<Option<Cow<'a, str>>>,
    pub(crate) agent_id: Vec<Option<Uuid>>,
}

impl<'a> ResultColumns<'a> {
    pub(crate) fn new(
        results: &'a [ResultRecord],
        created_at: &std::collections::HashMap<RunId, DateTime<Utc>>,
        agent_id: Option<AgentId>,
    ) -> Result<Self, StoreError> {
        // Key order makes concurrent writers of overlapping keys lock rows in the same
        // order, so a retried batch racing its original cannot deadlock with it.
        let mut sorted: Vec<&ResultRecord> = results.iter().collect();
        sorted.sort_unstable_by(|a, b| {
            (a.run_id, a.target.as_bytes(), a.action_index).cmp(&(
                b.run_id,
                b.target.as_bytes(),
                b.action_index,
            ))
        });
        let n = sorted.len();
        let mut columns = Self {
            run_id: Vec::with_capacity(n),
            run_created_at: Vec::with_capacity(n),
            target: Vec::with_capacity(n),
            action_index: Vec::with_capacity(n),
            status: Vec::with_capacity(n),
            started_at: Vec::with_capacity(n),
            duration_ms: Vec::with_capacity(n),
            timings: Vec::with_capacity(n),
            fields: Vec::with_capacity(n),
            rows: Vec::with_capacity(n),
            raw_excerpt: Vec::with_capacity(n),
            reason: Vec::with_capacity(n),
            agent_id: Vec::with_capacity(n),
        };
        for r in sorted {
            let action_index = i32::try_from(r.action_index).map_err(|_| {
                StoreError::invalid(format!(
                    "result for {} has action index {} (too large)",
                    r.target, r.action_index
                ))
            })?;
            let run_created_at = created_at
                .get(&r.run_id)
                .copied()
                .ok_or_else(|| StoreError::not_found(format!("run {}", r.run_id)))?;
            columns.run_id.push(*r.run_id.as_uuid());
            columns.run_created_at.push(run_created_at);
            columns.target.push(text_without_nul(&r.target));
            columns.action_index.push(action_index);
            columns.status.push(r.status.as_str());
            columns.started_at.push(r.started_at);
            columns.duration_ms.push(r.duration_ms);
            columns.timings.push(object_column(&r.timings));
            columns.fields.push(object_column(&r.fields));
            columns.rows.push(rows_column(&r.rows));
            columns
                .raw_excerpt
                .push(r.raw_excerpt.as_deref().map(text_without_nul));
            columns
                .reason
                .push(r.reason.as_deref().map(text_without_nul));
            // The session's authenticated agent wins over what the record claims.
            columns
                .agent_id
                .push(agent_id.or(r.agent_id).map(|id| *id.as_uuid()));
        }
        Ok(columns)
    }
}

// PostgreSQL text and jsonb cannot hold U+0000, and device output sometimes does. One NUL
// must not make a batch unstorable (the agent would retry it forever), so NULs become
// U+FFFD; values without one are passed through without a copy.

fn text_without_nul(text: &str) -> Cow<'_, str> {
    if text.contains('\0') {
        Cow::Owned(text.replace('\0', "\u{fffd}"))
    } else {
        Cow::Borrowed(text)
    }
}

fn value_has_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(value_has_nul),
        Value::Object(map) => map_has_nul(map),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

fn map_has_nul(map: &Map<String, Value>) -> bool {
    map.iter()
        .any(|(key, value)| key.contains('\0') || value_has_nul(value))
}

fn value_without_nul(value: &Value) -> Value {
    match value {
        Value::String(s) => Value::String(text_without_nul(s).into_owned()),
        Value::Array(items) => Value::Array(items.iter().map(value_without_nul).collect()),
        Value::Object(map) => Value::Object(map_without_nul(map)),
        other => other.clone(),
    }
}

fn map_without_nul(map: &Map<String, Value>) -> Map<String, Value> {
    map.iter()
        .map(|(key, value)| (text_without_nul(key).into_owned(), value_without_nul(value)))
        .collect()
}

/// An object column: NULL when empty (most results have no timings), else the object.
fn object_column(map: &Map<String, Value>) -> ObjectColumn<'_> {
    if map.is_empty() {
        None
    } else if map_has_nul(map) {
        Some(Json(Cow::Owned(map_without_nul(map))))
    } else {
        Some(Json(Cow::Borrowed(map)))
    }
}

/// The rows column: NULL when there are none.
fn rows_column(rows: &[Map<String, Value>]) -> RowsColumn<'_> {
    if rows.is_empty() {
        None
    } else if rows.iter().any(map_has_nul) {
        Some(Json(Cow::Owned(rows.iter().map(map_without_nul).collect())))
    } else {
        Some(Json(Cow::Borrowed(rows)))
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ResultRow {
    run_id: Uuid,
    target: String,
    action_index: i32,
    status: String,
    started_at: DateTime<Utc>,
    duration_ms: f64,
    timings: Option<Json<Map<String, Value>>>,
    fields: Option<Json<Map<String, Value>>>,
    rows: Option<Json<Vec<Map<String, Value>>>>,
    raw_excerpt: Option<String>,
    reason: Option<String>,
    agent_id: Option<Uuid>,
}

impl TryFrom<ResultRow> for ResultRecord {
    type Error = StoreError;

    fn try_from(row: ResultRow) -> Result<Self, StoreError> {
        Ok(Self {
            run_id: RunId::from_uuid(row.run_id),
            target: row.target,
            // The column's CHECK keeps it ≥ 0.
            action_index: u32::try_from(row.action_index).unwrap_or_default(),
            status: row.status.parse().map_err(StoreError::other)?,
            started_at: row.started_at,
            duration_ms: row.duration_ms,
            timings: row.timings.map(|Json(m)| m).unwrap_or_default(),
            fields: row.fields.map(|Json(m)| m).unwrap_or_default(),
            rows: row.rows.map(|Json(r)| r).unwrap_or_default(),
            raw_excerpt: row.raw_excerpt,
            reason: row.reason,
            agent_id: row.agent_id.map(AgentId::from_uuid),
        })
    }
}

/// Idempotent result ingest (on run, target and action index) and result counts.
#[async_trait]
pub trait ResultStore: Send + Sync {
    /// Stores a batch of results idempotently and counts them into their runs, in one
    /// transaction.
    ///
    /// A result whose (run, target, action index) is already stored is a duplicate: it
    /// changes nothing and is counted in [`IngestOutcome::duplicates`], because agents
    /// resend unacknowledged batches after a reconnect. A run whose counters reach its
    /// total completes.
    ///
    /// Fresh batches are the common case, so a batch is first inserted plainly; only if
    /// that hits a duplicate key is it redone with `ON CONFLICT DO NOTHING`, whose
    /// speculative insertion costs about half again as much per row. (The failed attempt
    /// is rolled back, and shows up in the PostgreSQL log as a unique violation.) `agent_id` (the authenticated session's agent) overrides the
    /// records' own `agent_id`; `chunk_id` is recorded with every result.
    ///
    /// The batch is all or nothing: if any result names a run that does not exist, the
    /// whole batch is rejected with [`StoreError::NotFound`] naming that run and nothing is
    /// stored. Results may span several runs.
    async fn ingest_results(
        &self,
        chunk_id: Option<ChunkId>,
        agent_id: Option<AgentId>,
        results: &[ResultRecord],
    ) -> Result<IngestOutcome, StoreError>;

    /// Every result of a run, ordered by target (byte order) and action index.
    async fn results_for_run(&self, run_id: RunId) -> Result<Vec<ResultRecord>, StoreError>;

    /// How many results a run has stored.
    async fn count_results(&self, run_id: RunId) -> Result<u64, StoreError>;
}

#[async_trait]
impl ResultStore for PgStore {
    async fn ingest_results(
        &self,
        chunk_id: Option<ChunkId>,
        agent_id: Option<AgentId>,
        results: &[ResultRecord],
    ) -> Result<IngestOutcome, StoreError> {
        if results.is_empty() {
            return Ok(IngestOutcome::default());
        }
        let created_at = self
            .runs_created_at(results.iter().map(|r| r.run_id))
            .await?;
        let columns = &ResultColumns::new(results, &created_at, agent_id)?;
        let chunk_id = chunk_id.map(|id| *id.as_uuid());
        let insert = move |sql: &'static str| {
            self.retrying(move || async move {
                sqlx::query_scalar(sql)
                    .bind(&columns.run_id)
                    .bind(&columns.run_created_at)
                    .bind(&columns.target)
                    .bind(&columns.action_index)
                    .bind(&columns.status)
                    .bind(&columns.started_at)
                    .bind(&columns.duration_ms)
                    .bind(&columns.timings)
                    .bind(&columns.fields)
                    .bind(&columns.rows)
                    .bind(&columns.raw_excerpt)
                    .bind(&columns.reason)
                    .bind(&columns.agent_id)
                    .bind(chunk_id)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(db)
            })
        };
        let inserted: i64 = match insert(INGEST_NEW_SQL).await {
            Err(StoreError::AlreadyExists { .. }) => insert(INGEST_DEDUP_SQL).await?,
            other => other?,
        };
        let inserted = u64::try_from(inserted).unwrap_or_default();
        Ok(IngestOutcome {
            inserted,
            duplicates: results.len() as u64 - inserted,
        })
    }

    async fn results_for_run(&self, run_id: RunId) -> Result<Vec<ResultRecord>, StoreError> {
        let created_at = self.run_created_at(run_id).await?;
        let rows: Vec<ResultRow> = sqlx::query_as(
            "SELECT run_id, target, action_index, status, started_at, duration_ms, timings,
                    fields, rows, raw_excerpt, reason, agent_id
             FROM results
             WHERE run_id = $1 AND run_created_at = $2
             ORDER BY target, action_index",
        )
        .bind(run_id.as_uuid())
        .bind(created_at)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.into_iter().map(ResultRecord::try_from).collect()
    }

    async fn count_results(&self, run_id: RunId) -> Result<u64, StoreError> {
        let created_at = self.run_created_at(run_id).await?;
        let count: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM results WHERE run_id = $1 AND run_created_at = $2",
        )
        .bind(run_id.as_uuid())
        .bind(created_at)
        .fetch_one(&self.pool)
        .await
        .map_err(db)?;
        Ok(u64::try_from(count).unwrap_or_default())
    }
}

impl PgStore {
    /// The run's creation time (its results' partition key), or NotFound.
    async fn run_created_at(&self, run_id: RunId) -> Result<DateTime<Utc>, StoreError> {
        let found = self.runs_created_at([run_id]).await?;
        found
            .get(&run_id)
            .copied()
            .ok_or_else(|| StoreError::not_found(format!("run {run_id}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_characters_are_replaced_only_where_present() {
        assert!(matches!(text_without_nul("clean"), Cow::Borrowed("clean")));
        assert_eq!(text_without_nul("a\0b"), "a\u{fffd}b");

        let mut clean = Map::new();
        clean.insert("banner".into(), Value::from("SSH-2.0"));
        assert!(matches!(
            object_column(&clean),
            Some(Json(Cow::Borrowed(_)))
        ));
        assert!(object_column(&Map::new()).is_none());

        let mut dirty = Map::new();
        dirty.insert("k\0".into(), serde_json::json!({"nested": ["x\0y", 1]}));
        let Some(Json(fixed)) = object_column(&dirty) else {
            panic!("a non-empty map is stored")
        };
        assert_eq!(
            Value::Object(fixed.into_owned()),
            serde_json::json!({"k\u{fffd}": {"nested": ["x\u{fffd}y", 1]}})
        );
    }
}
