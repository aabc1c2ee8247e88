//! Reading results back: filtered, keyset-paginated queries and per-job time series.
//!
//! Results are partitioned by their run's creation day, so every query bounds
//! `run_created_at` (from the run itself, or from the time range: a result starts at most
//! [`MAX_RUN_SPAN_DAYS`] after its run was created) and PostgreSQL scans only the
//! partitions that can hold matches.

use async_trait::async_trait;
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
pub(crate) struct StoredResultRow {
    #[sqlx(flatten)]
    pub(crate) result: ResultRow,
    pub(crate) job_id: Uuid,
    pub(crate) run_created_at: DateTime<Utc>,
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

/// Results read back: filtered keyset pages and per-job time series.
#[async_trait]
pub trait ResultQueryStore: Send + Sync {
    /// One page of results, newest run first, then by target and action; filters
    /// combine. The caller passes the last item's [`StoredResult::key`] as `after` to
    /// get the next page. [`StoreError::NotFound`] for a `run_id` no run has.
    ///
    /// How a page is read depends on what the filter pins down (figures in
    /// docs/BENCHMARKS.md, REST API):
    /// - a run, or a target across every job: one statement reading results in key
    ///   order, straight from the primary key or the `results_by_target` index;
    /// - anything else (a job, a time range, a status, nothing): the candidate runs
    ///   newest first, each with how many results it holds for the filter (its
    ///   counters), then the results of just enough of those runs to fill the page, each
    ///   run's in key order. A page reads about a page of rows. One statement joining
    ///   `runs` to `results` cannot do this: the planner expects about one row per run
    ///   (the two join keys are correlated, and runs differ in size by orders of
    ///   magnitude), so it reads and sorts every matching result (200 ms against 1 ms for
    ///   a job with 240,000 results) or every run's first page (6–9 ms).
    async fn query_results(&self, filter: &ResultFilter) -> Result<Vec<StoredResult>, StoreError>;

    /// A job's results over time in buckets of `query.step`: count, success rate,
    /// duration mean and p95, and min / mean / max of a numeric field. Empty buckets are
    /// left out.
    async fn job_series(&self, query: &SeriesQuery) -> Result<Vec<SeriesPoint>, StoreError>;
}

#[async_trait]
impl ResultQueryStore for PgStore {
    async fn query_results(&self, filter: &ResultFilter) -> Result<Vec<StoredResult>, StoreError> {
        self.read_results(filter, None).await
    }

    async fn job_series(&self, query: &SeriesQuery) -> Result<Vec<SeriesPoint>, StoreError> {
        let step = series_step(query)?;
        let rows: Vec<SeriesRow> = sqlx::query_as(
            "WITH picked AS (
                 SELECT res.started_at, res.status, res.duration_ms,
                        CASE WHEN jsonb_typeof(res.fields -> $2) = 'number'
                             THEN (res.fields ->> $2)::double precision END AS value
                 FROM runs AS r
                 JOIN results AS res
                   ON res.run_id = r.id AND res.run_created_at = r.created_at
                 WHERE r.job_id = $1
                   AND r.created_at >= $3 - make_interval(days => $6)
                   AND r.created_at < $4
                   AND r.last_result_at >= $3
                   AND res.started_at >= $3 AND res.started_at < $4
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

/// The bucket width of a series query in seconds, once the query is found sensible: a
/// non-empty range, a step of at least a second, at most [`MAX_SERIES_POINTS`] buckets.
pub(crate) fn series_step(query: &SeriesQuery) -> Result<f64, StoreError> {
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
    Ok(step)
}

impl PgStore {
    /// PostgreSQL's `EXPLAIN (ANALYZE, BUFFERS)` of each statement
    /// [`PgStore::query_results`] runs for `filter`, in order, separated by blank lines:
    /// for finding out why a result query is slow (and the REST benchmark's anchor).
    pub async fn explain_query_results(&self, filter: &ResultFilter) -> Result<String, StoreError> {
        let mut plans = Vec::new();
        self.read_results(filter, Some(&mut plans)).await?;
        Ok(plans.join("\n\n"))
    }

    /// [`PgStore::query_results`]; with `plans`, each statement is also explained there.
    async fn read_results(
        &self,
        filter: &ResultFilter,
        plans: Option<&mut Vec<String>>,
    ) -> Result<Vec<StoredResult>, StoreError> {
        match (filter.run_id, &filter.job_id, &filter.target) {
            (Some(run_id), _, _) => {
                // The run's creation day names the one partition to read.
                let created = self
                    .runs_created_at([run_id])
                    .await?
                    .get(&run_id)
                    .copied()
                    .ok_or_else(|| StoreError::not_found(format!("run {run_id}")))?;
                let run = Some((run_id, created));
                self.fetch_results(|p| results_in_key_order(p, filter, run), true, plans)
                    .await
            }
            (None, None, Some(_)) => {
                self.fetch_results(|p| results_in_key_order(p, filter, None), true, plans)
                    .await
            }
            _ => self.read_run_by_run(filter, plans).await,
        }
    }

    /// The run-by-run reading of [`PgStore::query_results`].
    async fn read_run_by_run(
        &self,
        filter: &ResultFilter,
        mut plans: Option<&mut Vec<String>>,
    ) -> Result<Vec<StoredResult>, StoreError> {
        let limit = usize::try_from(page_limit(filter)).unwrap_or(usize::MAX);
        let mut page: Vec<StoredResult> = Vec::new();
        // The first batch of runs starts at the cursor's run (inclusive: the page goes on
        // inside it), later batches after the last run read.
        let mut from_run = filter
            .after
            .as_ref()
            .map(|a| (a.run_created_at, *a.run_id.as_uuid(), true));
        loop {
            let runs: Vec<CandidateRun> = {
                let build = |p: &str| candidate_runs(p, filter, from_run);
                if let Some(plans) = plans.as_deref_mut() {
                    plans.push(self.explain(build("EXPLAIN (ANALYZE, BUFFERS) ")).await?);
                }
                build("")
                    .build_query_as()
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db)?
            };
            let mut rest = runs.as_slice();
            while !rest.is_empty() && page.len() < limit {
                let wanted = limit - page.len();
                // Just enough runs to fill the page if each holds what its counters say
                // (an upper bound: a time range or target takes fewer).
                let mut take = 0;
                let mut expected = 0_i64;
                while take < rest.len() && expected < wanted as i64 {
                    expected += if filter.target.is_some() {
                        1
                    } else {
                        rest[take].matching
                    };
                    take += 1;
                }
                let (batch, later) = rest.split_at(take);
                rest = later;
                // A few runs are big ones: each gets its own branch, planned with its
                // creation time known so that only its partition is read, in key order,
                // from the cursor on. Many runs are small ones: one join over all.
                let few = batch.len() <= FEW_RUNS;
                let read = self
                    .fetch_results(
                        |p| {
                            if few {
                                results_of_few_runs(p, filter, batch, wanted)
                            } else {
                                results_of_runs(p, filter, batch, wanted)
                            }
                        },
                        !few,
                        plans.as_deref_mut(),
                    )
                    .await?;
                page.extend(read);
            }
            let last = runs.last().map(|r| (r.created_at, r.id, false));
            if page.len() >= limit || runs.len() < CANDIDATE_RUNS as usize || last.is_none() {
                return Ok(page);
            }
            from_run = last;
        }
    }

    /// Runs one result statement (built after the given prefix), explaining it first into
    /// `plans` when asked. Unless `persistent`, it is planned for its arguments on every
    /// call instead of settling on a cached generic plan.
    async fn fetch_results(
        &self,
        build: impl Fn(&str) -> QueryBuilder<Postgres>,
        persistent: bool,
        plans: Option<&mut Vec<String>>,
    ) -> Result<Vec<StoredResult>, StoreError> {
        if let Some(plans) = plans {
            plans.push(self.explain(build("EXPLAIN (ANALYZE, BUFFERS) ")).await?);
        }
        let rows: Vec<StoredResultRow> = build("")
            .build_query_as()
            .persistent(persistent)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
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

    /// The plan text of an `EXPLAIN` statement.
    async fn explain(&self, mut q: QueryBuilder<Postgres>) -> Result<String, StoreError> {
        let lines: Vec<String> = q
            .build_query_scalar()
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        Ok(lines.join("\n"))
    }
}

/// The columns of a stored result, for a results table aliased `alias`.
fn push_result_columns(q: &mut QueryBuilder<Postgres>, alias: &str) {
    for (i, column) in [
        "run_id",
        "target",
        "action_index",
        "status",
        "started_at",
        "duration_ms",
        "timings",
        "fields",
        "rows",
        "raw_excerpt",
        "reason",
        "agent_id",
    ]
    .into_iter()
    .enumerate()
    {
        if i > 0 {
            q.push(", ");
        }
        q.push(alias).push(".").push(column);
    }
}

/// The conditions on a result's own columns (`alias`): target, status, start time.
fn push_result_conditions(q: &mut QueryBuilder<Postgres>, alias: &str, filter: &ResultFilter) {
    if let Some(target) = &filter.target {
        q.push(format!(" AND {alias}.target = "))
            .push_bind(target.clone());
    }
    if let Some(status) = filter.status {
        // A literal from the closed set of statuses, not a bind: the planner must see the
        // value to use the partial `results_problems` index (status <> 'ok'), which a
        // generic plan of `status = $n` cannot.
        q.push(format!(" AND {alias}.status = '{}'", status.as_str()));
    }
    if let Some(from) = filter.from {
        q.push(format!(" AND {alias}.started_at >= "))
            .push_bind(from);
    }
    if let Some(to) = filter.to {
        q.push(format!(" AND {alias}.started_at < ")).push_bind(to);
    }
}

/// The bounds a time range puts on the creation time of the runs that can hold matches
/// (`column`): a result starts after its run was created and at most
/// [`MAX_RUN_SPAN_DAYS`] later.
fn push_run_created_bounds(q: &mut QueryBuilder<Postgres>, column: &str, filter: &ResultFilter) {
    if let Some(from) = filter.from {
        q.push(format!(" AND {column} >= "))
            .push_bind(from - Duration::days(MAX_RUN_SPAN_DAYS));
    }
    if let Some(to) = filter.to {
        q.push(format!(" AND {column} < ")).push_bind(to);
    }
}

/// Results in key order with their run's job: for one run (`run`: its id and creation
/// time, which names the partition) or one target across every job (the
/// `results_by_target` index, whose order is the page's once the target is fixed).
fn results_in_key_order(
    prefix: &str,
    filter: &ResultFilter,
    run: Option<(RunId, DateTime<Utc>)>,
) -> QueryBuilder<Postgres> {
    let mut q = QueryBuilder::new(format!("{prefix}SELECT "));
    push_result_columns(&mut q, "res");
    q.push(
        ", r.job_id, res.run_created_at
         FROM results AS res
         JOIN runs AS r ON r.id = res.run_id AND r.created_at = res.run_created_at
         WHERE true",
    );
    if let Some((run_id, created)) = run {
        q.push(" AND res.run_id = ")
            .push_bind(*run_id.as_uuid())
            .push(" AND res.run_created_at = ")
            .push_bind(created);
    }
    if let Some(job_id) = filter.job_id {
        q.push(" AND r.job_id = ").push_bind(*job_id.as_uuid());
    }
    push_result_conditions(&mut q, "res", filter);
    push_run_created_bounds(&mut q, "res.run_created_at", filter);
    if let Some(after) = &filter.after {
        q.push(" AND (res.run_created_at < ")
            .push_bind(after.run_created_at)
            .push(" OR (res.run_created_at = ")
            .push_bind(after.run_created_at)
            .push(" AND (res.run_id < ")
            .push_bind(*after.run_id.as_uuid())
            .push(" OR (res.run_id = ")
            .push_bind(*after.run_id.as_uuid())
            .push(" AND ");
        push_after_in_run(&mut q, "res", after);
        q.push("))))");
    }
    q.push(
        " ORDER BY res.run_created_at DESC, res.run_id DESC, res.target, res.action_index
          LIMIT ",
    )
    .push_bind(page_limit(filter));
    q
}

/// Runs read per candidate statement of the run-by-run reading.
const CANDIDATE_RUNS: i64 = 100;

/// A run that may hold results for a filter, and how many at most.
#[derive(FromRow)]
struct CandidateRun {
    id: Uuid,
    created_at: DateTime<Utc>,
    job_id: Uuid,
    /// Its results of the filter's status (all its results without one), from its
    /// counters.
    matching: i64,
}

/// Up to [`CANDIDATE_RUNS`] runs that can hold results for `filter`, newest first,
/// starting at `from_run` (creation time, id, whether that run itself is included): the
/// job's (`runs_by_job_newest`) or all (`runs_newest`), created in the time range's
/// reach, with a result at or after its start, and with results of the status asked for.
fn candidate_runs(
    prefix: &str,
    filter: &ResultFilter,
    from_run: Option<(DateTime<Utc>, Uuid, bool)>,
) -> QueryBuilder<Postgres> {
    // A counter column named from the closed set of statuses.
    let matching = match filter.status {
        Some(status) => status.as_str().to_owned(),
        None => "(ok + warn + fail + error + timeout)".to_owned(),
    };
    let mut q = QueryBuilder::new(format!(
        "{prefix}SELECT id, created_at, job_id, {matching} AS matching FROM runs
         WHERE {matching} > 0"
    ));
    if let Some(job_id) = filter.job_id {
        q.push(" AND job_id = ").push_bind(*job_id.as_uuid());
    }
    push_run_created_bounds(&mut q, "created_at", filter);
    if let Some(from) = filter.from {
        // Runs whose last result started before the range hold nothing for it.
        q.push(" AND last_result_at >= ").push_bind(from);
    }
    if let Some((created_at, id, inclusive)) = from_run {
        // `(created_at, id) <= (…)` as a range plus a tie-break, which the planner
        // estimates better than a row comparison.
        q.push(" AND created_at <= ")
            .push_bind(created_at)
            .push(" AND (created_at < ")
            .push_bind(created_at)
            .push(if inclusive { " OR id <= " } else { " OR id < " })
            .push_bind(id)
            .push(")");
    }
    q.push(" ORDER BY created_at DESC, id DESC LIMIT ")
        .push_bind(CANDIDATE_RUNS);
    q
}

/// At most this many runs are read with [`results_of_few_runs`].
const FEW_RUNS: usize = 4;

/// [`results_of_runs`] for a few runs, each in its own branch with its creation time as
/// an argument: planned for its arguments (not persistent), a branch reads one partition
/// in key order and stops after `wanted`. (Over a join, the planner cannot tell which
/// partition a run's results are in; with a condition on their start time it then
/// sorts whole runs: 4 ms for a run of 5,000 results against 0.1 ms.)
fn results_of_few_runs(
    prefix: &str,
    filter: &ResultFilter,
    runs: &[CandidateRun],
    wanted: usize,
) -> QueryBuilder<Postgres> {
    let wanted = i64::try_from(wanted).unwrap_or(i64::MAX);
    let mut q = QueryBuilder::new(format!("{prefix}SELECT * FROM ("));
    for (n, run) in runs.iter().enumerate() {
        if n > 0 {
            q.push(" UNION ALL ");
        }
        q.push("(SELECT ");
        push_result_columns(&mut q, "x");
        q.push(", ")
            .push_bind(run.job_id)
            .push("::uuid AS job_id, x.run_created_at, ")
            .push_bind(i32::try_from(n).unwrap_or(i32::MAX))
            .push("::integer AS n FROM results AS x WHERE x.run_id = ")
            .push_bind(run.id)
            .push(" AND x.run_created_at = ")
            .push_bind(run.created_at);
        push_result_conditions(&mut q, "x", filter);
        if let Some(after) = filter
            .after
            .as_ref()
            .filter(|a| *a.run_id.as_uuid() == run.id)
        {
            q.push(" AND ");
            push_after_in_run(&mut q, "x", after);
        }
        q.push(" ORDER BY x.target, x.action_index LIMIT ")
            .push_bind(wanted)
            .push(")");
    }
    q.push(") AS res ORDER BY res.n, res.target, res.action_index LIMIT ")
        .push_bind(wanted);
    q
}

/// Up to `wanted` results of `runs` (in their order) for `filter`: each run's in key
/// order from the primary key (or `results_problems` for a status other than ok), the
/// cursor's run continuing after the cursor.
fn results_of_runs(
    prefix: &str,
    filter: &ResultFilter,
    runs: &[CandidateRun],
    wanted: usize,
) -> QueryBuilder<Postgres> {
    let wanted = i64::try_from(wanted).unwrap_or(i64::MAX);
    let mut q = QueryBuilder::new(format!("{prefix}SELECT "));
    push_result_columns(&mut q, "res");
    q.push(", r.job_id, r.created_at AS run_created_at FROM unnest(")
        .push_bind(runs.iter().map(|r| r.id).collect::<Vec<_>>())
        .push("::uuid[], ")
        .push_bind(runs.iter().map(|r| r.created_at).collect::<Vec<_>>())
        .push("::timestamptz[], ")
        .push_bind(runs.iter().map(|r| r.job_id).collect::<Vec<_>>())
        .push(
            "::uuid[]) WITH ORDINALITY AS r (id, created_at, job_id, n)
             CROSS JOIN LATERAL (SELECT ",
        );
    push_result_columns(&mut q, "x");
    q.push(
        " FROM results AS x
          WHERE x.run_id = r.id AND x.run_created_at = r.created_at",
    );
    push_result_conditions(&mut q, "x", filter);
    if let Some(after) = &filter.after {
        q.push(" AND (r.id <> ")
            .push_bind(*after.run_id.as_uuid())
            .push(" OR ");
        push_after_in_run(&mut q, "x", after);
        q.push(")");
    }
    q.push(" ORDER BY x.target, x.action_index LIMIT ")
        .push_bind(wanted)
        .push(") AS res ORDER BY r.n, res.target, res.action_index LIMIT ")
        .push_bind(wanted);
    q
}

pub(crate) fn page_limit(filter: &ResultFilter) -> i64 {
    i64::from(filter.limit.clamp(1, crate::MAX_PAGE))
}

/// `(alias.target, alias.action_index) > (the cursor's)`: after the cursor within its run.
fn push_after_in_run(q: &mut QueryBuilder<Postgres>, alias: &str, after: &ResultKey) {
    q.push(format!("({alias}.target, {alias}.action_index) > ("))
        .push_bind(after.target.clone())
        .push(", ")
        .push_bind(i32::try_from(after.action_index).unwrap_or(i32::MAX))
        .push(")");
}
