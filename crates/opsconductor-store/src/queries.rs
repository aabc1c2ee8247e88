//! Reading results back: filtered, keyset-paginated queries and per-job time series.
//!
//! Results are partitioned by their run's creation day, so every query bounds
//! `run_created_at` (from the run itself, or from the time range: a result starts at most
//! [`MAX_RUN_SPAN_DAYS`] after its run was created) and PostgreSQL scans only the
//! partitions that can hold matches.

use chrono::{DateTime, Duration, Utc};
use opsconductor_core::ids::{JobId, RunId};
use opsconductor_core::model::{ResultRecord, ResultStatus};
use sqlx::{FromRow, Postgres, QueryBuilder};
use uuid::Uuid;

use crate::PgStore;
use crate::error::{StoreError, db};
use crate::results::ResultRow;

/// A run's results start at most this many days after the run was created (the longest
/// run deadline is a week; one more day of slack).
pub const MAX_RUN_SPAN_DAYS: i64 = 8;
/// Most buckets one series query returns.
pub const MAX_SERIES_POINTS: i64 = 10_000;

/// Where a page of results ends; the next page starts after it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ResultKey {
    /// The run's creation time (partition key).
    pub run_created_at: DateTime<Utc>,
    /// The run.
    pub run_id: RunId,
    /// The target.
    pub target: String,
    /// The action index.
    pub action_index: u32,
}

/// What [`PgStore::query_results`] returns. Filters combine with AND.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResultFilter {
    /// Only this run.
    pub run_id: Option<RunId>,
    /// Only runs of this job.
    pub job_id: Option<JobId>,
    /// Only this target (exact).
    pub target: Option<String>,
    /// Only this outcome.
    pub status: Option<ResultStatus>,
    /// Results that started at or after this.
    pub from: Option<DateTime<Utc>>,
    /// Results that started before this.
    pub to: Option<DateTime<Utc>>,
    /// Continue after this key.
    pub after: Option<ResultKey>,
    /// Page size, 1..=[`crate::MAX_PAGE`].
    pub limit: u32,
}

/// A result with what a reader needs to place it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredResult {
    /// The result.
    pub record: ResultRecord,
    /// The job of its run.
    pub job_id: JobId,
    /// Its run's creation time.
    pub run_created_at: DateTime<Utc>,
}

impl StoredResult {
    /// The key a following page starts after.
    pub fn key(&self) -> ResultKey {
        ResultKey {
            run_created_at: self.run_created_at,
            run_id: self.record.run_id,
            target: self.record.target.clone(),
            action_index: self.record.action_index,
        }
    }
}

#[derive(FromRow)]
struct StoredResultRow {
    #[sqlx(flatten)]
    result: ResultRow,
    job_id: Uuid,
    run_created_at: DateTime<Utc>,
}

/// One bucket of a job's time series.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SeriesPoint {
    /// Start of the bucket.
    pub at: DateTime<Utc>,
    /// Results in the bucket.
    pub count: i64,
    /// Share of them with status ok, 0..=1.
    pub success_rate: f64,
    /// Mean action duration, milliseconds.
    pub duration_avg_ms: f64,
    /// 95th percentile action duration, milliseconds.
    pub duration_p95_ms: f64,
    /// Mean of the numeric field asked for (None without a field or numeric values).
    pub value_avg: Option<f64>,
    /// Smallest value of the field.
    pub value_min: Option<f64>,
    /// Largest value of the field.
    pub value_max: Option<f64>,
}

#[derive(FromRow)]
struct SeriesRow {
    at: DateTime<Utc>,
    count: i64,
    success_rate: f64,
    duration_avg_ms: f64,
    duration_p95_ms: f64,
    value_avg: Option<f64>,
    value_min: Option<f64>,
    value_max: Option<f64>,
}

/// What [`PgStore::job_series`] aggregates.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesQuery {
    /// The job.
    pub job_id: JobId,
    /// A numeric result field (`rtt_avg_ms`) to aggregate besides status and duration.
    pub field: Option<String>,
    /// Only this action of the job.
    pub action_index: Option<u32>,
    /// Start of the range.
    pub from: DateTime<Utc>,
    /// End of the range (exclusive).
    pub to: DateTime<Utc>,
    /// Bucket width.
    pub step: std::time::Duration,
}

impl PgStore {
    /// One page of results, newest run first, then by target and action; filters
    /// combine. The caller passes the last item's [`StoredResult::key`] as `after` to
    /// get the next page.
    pub async fn query_results(
        &self,
        filter: &ResultFilter,
    ) -> Result<Vec<StoredResult>, StoreError> {
        if let (Some(job_id), None) = (filter.job_id, filter.run_id) {
            return self.query_job_results(job_id, filter).await;
        }
        let mut q = QueryBuilder::<Postgres>::new(
            "SELECT res.run_id, res.target, res.action_index, res.status, res.started_at,
                    res.duration_ms, res.timings, res.fields, res.rows, res.raw_excerpt,
                    res.reason, res.agent_id, r.job_id, res.run_created_at
             FROM results AS res
             JOIN runs AS r ON r.id = res.run_id AND r.created_at = res.run_created_at
             WHERE true",
        );
        if let Some(run_id) = filter.run_id {
            // The run's creation day names the one partition to read.
            let created = self.runs_created_at([run_id]).await?;
            let Some(created) = created.get(&run_id) else {
                return Ok(Vec::new());
            };
            q.push(" AND res.run_id = ")
                .push_bind(*run_id.as_uuid())
                .push(" AND res.run_created_at = ")
                .push_bind(*created);
        }
        if let Some(job_id) = filter.job_id {
            q.push(" AND r.job_id = ").push_bind(*job_id.as_uuid());
        }
        if let Some(target) = &filter.target {
            q.push(" AND res.target = ").push_bind(target.clone());
        }
        if let Some(status) = filter.status {
            q.push(" AND res.status = ").push_bind(status.as_str());
        }
        if let Some(from) = filter.from {
            q.push(" AND res.started_at >= ")
                .push_bind(from)
                .push(" AND res.run_created_at >= ")
                .push_bind(from - Duration::days(MAX_RUN_SPAN_DAYS));
        }
        if let Some(to) = filter.to {
            q.push(" AND res.started_at < ")
                .push_bind(to)
                .push(" AND res.run_created_at < ")
                .push_bind(to);
        }
        if let Some(after) = &filter.after {
            let action = i32::try_from(after.action_index).unwrap_or(i32::MAX);
            q.push(" AND (res.run_created_at < ")
                .push_bind(after.run_created_at)
                .push(" OR (res.run_created_at = ")
                .push_bind(after.run_created_at)
                .push(" AND (res.run_id < ")
                .push_bind(*after.run_id.as_uuid())
                .push(" OR (res.run_id = ")
                .push_bind(*after.run_id.as_uuid())
                .push(" AND (res.target, res.action_index) > (")
                .push_bind(after.target.clone())
                .push(", ")
                .push_bind(action)
                .push(")))))");
        }
        q.push(
            " ORDER BY res.run_created_at DESC, res.run_id DESC, res.target, res.action_index
              LIMIT ",
        )
        .push_bind(i64::from(filter.limit.clamp(1, crate::MAX_PAGE)));
        let rows: Vec<StoredResultRow> =
            q.build_query_as().fetch_all(&self.pool).await.map_err(db)?;
        rows.into_iter()
            .map(|row| {
                Ok(StoredResult {
                    record: row.result.try_into()?,
                    job_id: JobId::from_uuid(row.job_id),
                    run_created_at: row.run_created_at,
                })
            })
            .collect()
    }

    /// [`PgStore::query_results`] for one job: the job's runs newest first, and from each a
    /// page of its results in primary-key order, so PostgreSQL reads about one page of rows
    /// instead of every result of the job. (Joining `runs` to `results` on their two
    /// correlated keys makes the planner expect one row per run and read them all: 200 ms
    /// against 1 ms for a job with 240,000 results; docs/BENCHMARKS.md, REST API.)
    async fn query_job_results(
        &self,
        job_id: JobId,
        filter: &ResultFilter,
    ) -> Result<Vec<StoredResult>, StoreError> {
        let limit = i64::from(filter.limit.clamp(1, crate::MAX_PAGE));
        let mut q = QueryBuilder::<Postgres>::new(
            "SELECT res.run_id, res.target, res.action_index, res.status, res.started_at,
                    res.duration_ms, res.timings, res.fields, res.rows, res.raw_excerpt,
                    res.reason, res.agent_id, r.job_id, r.created_at AS run_created_at
             FROM runs AS r
             CROSS JOIN LATERAL (
                 SELECT x.run_id, x.target, x.action_index, x.status, x.started_at,
                        x.duration_ms, x.timings, x.fields, x.rows, x.raw_excerpt,
                        x.reason, x.agent_id
                 FROM results AS x
                 WHERE x.run_id = r.id AND x.run_created_at = r.created_at",
        );
        if let Some(target) = &filter.target {
            q.push(" AND x.target = ").push_bind(target.clone());
        }
        if let Some(status) = filter.status {
            q.push(" AND x.status = ").push_bind(status.as_str());
        }
        if let Some(from) = filter.from {
            q.push(" AND x.started_at >= ").push_bind(from);
        }
        if let Some(to) = filter.to {
            q.push(" AND x.started_at < ").push_bind(to);
        }
        if let Some(after) = &filter.after {
            // Within the cursor's run, continue after its (target, action); other runs
            // start from their first result.
            let action = i32::try_from(after.action_index).unwrap_or(i32::MAX);
            q.push(" AND (r.id <> ")
                .push_bind(*after.run_id.as_uuid())
                .push(" OR (x.target, x.action_index) > (")
                .push_bind(after.target.clone())
                .push(", ")
                .push_bind(action)
                .push("))");
        }
        q.push(" ORDER BY x.target, x.action_index LIMIT ")
            .push_bind(limit)
            .push(") AS res WHERE r.job_id = ")
            .push_bind(*job_id.as_uuid());
        if let Some(from) = filter.from {
            q.push(" AND r.created_at >= ")
                .push_bind(from - Duration::days(MAX_RUN_SPAN_DAYS));
        }
        if let Some(to) = filter.to {
            q.push(" AND r.created_at < ").push_bind(to);
        }
        if let Some(after) = &filter.after {
            q.push(" AND (r.created_at, r.id) <= (")
                .push_bind(after.run_created_at)
                .push(", ")
                .push_bind(*after.run_id.as_uuid())
                .push(")");
        }
        q.push(" ORDER BY r.created_at DESC, r.id DESC, res.target, res.action_index LIMIT ")
            .push_bind(limit);
        let rows: Vec<StoredResultRow> =
            q.build_query_as().fetch_all(&self.pool).await.map_err(db)?;
        rows.into_iter()
            .map(|row| {
                Ok(StoredResult {
                    record: row.result.try_into()?,
                    job_id: JobId::from_uuid(row.job_id),
                    run_created_at: row.run_created_at,
                })
            })
            .collect()
    }

    /// A job's results over time in buckets of `query.step`: count, success rate,
    /// duration mean and p95, and min / mean / max of a numeric field. Empty buckets are
    /// left out.
    pub async fn job_series(&self, query: &SeriesQuery) -> Result<Vec<SeriesPoint>, StoreError> {
        let step = query.step.as_secs_f64();
        if step < 1.0 || query.to <= query.from {
            return Err(StoreError::invalid(
                "the range must be non-empty and the step at least one second",
            ));
        }
        let span = (query.to - query.from).num_milliseconds() as f64 / 1000.0;
        if span / step > MAX_SERIES_POINTS as f64 {
            return Err(StoreError::invalid(format!(
                "the range holds more than {MAX_SERIES_POINTS} steps; use a wider step"
            )));
        }
        let rows: Vec<SeriesRow> = sqlx::query_as(
            "WITH picked AS (
                 SELECT res.started_at, res.status, res.duration_ms,
                        CASE WHEN jsonb_typeof(res.fields -> $2) = 'number'
                             THEN (res.fields ->> $2)::double precision END AS value
                 FROM results AS res
                 JOIN runs AS r ON r.id = res.run_id AND r.created_at = res.run_created_at
                 WHERE r.job_id = $1
                   AND res.started_at >= $3 AND res.started_at < $4
                   AND res.run_created_at >= $3 - make_interval(days => $6)
                   AND res.run_created_at < $4
                   AND ($7::integer IS NULL OR res.action_index = $7)
             )
             SELECT to_timestamp(floor(extract(epoch FROM started_at) / $5) * $5) AS at,
                    count(*) AS count,
                    (count(*) FILTER (WHERE status = 'ok'))::double precision / count(*)
                        AS success_rate,
                    avg(duration_ms) AS duration_avg_ms,
                    percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms)
                        AS duration_p95_ms,
                    avg(value) AS value_avg, min(value) AS value_min, max(value) AS value_max
             FROM picked
             GROUP BY 1
             ORDER BY 1",
        )
        .bind(query.job_id.as_uuid())
        .bind(query.field.as_deref().unwrap_or(""))
        .bind(query.from)
        .bind(query.to)
        .bind(step)
        .bind(i32::try_from(MAX_RUN_SPAN_DAYS).unwrap_or(8))
        .bind(
            query
                .action_index
                .map(|a| i32::try_from(a).unwrap_or(i32::MAX)),
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        Ok(rows
            .into_iter()
            .map(|r| SeriesPoint {
                at: r.at,
                count: r.count,
                success_rate: r.success_rate,
                duration_avg_ms: r.duration_avg_ms,
                duration_p95_ms: r.duration_p95_ms,
                value_avg: r.value_avg,
                value_min: r.value_min,
                value_max: r.value_max,
            })
            .collect())
    }
}
