//! Results read back on SQLite: keyset pages in one statement each, and per-job time
//! series aggregated in Rust (SQLite has no `percentile_cont`).
//!
//! Pages have PostgreSQL's order (newest run first, then target bytewise and action) and
//! cursor ([`ResultKey`]), and the same bound on run creation times for a time range (a
//! result starts at most [`MAX_RUN_SPAN_DAYS`] after its run was created). One statement
//! serves every filter: runs newest first (`runs_newest` or `runs_by_job_newest`), and
//! each run's results from the clustered key (or `results_by_target`), so a page stops
//! after a page of rows. `CROSS JOIN` keeps SQLite to that order: left to choose, it
//! scanned every result of the database and sorted them when no run or job was given.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use opsconductor_core::ids::JobId;
use sqlx::{QueryBuilder, Sqlite};

use super::results::ensure_run;
use super::{SqliteStore, Ts, db};
use crate::error::StoreError;
use crate::queries::{StoredResultRow, page_limit, series_step};
use crate::{
    MAX_RUN_SPAN_DAYS, ResultFilter, ResultQueryStore, SeriesPoint, SeriesQuery, StoredResult,
};

#[async_trait]
impl ResultQueryStore for SqliteStore {
    async fn query_results(&self, filter: &ResultFilter) -> Result<Vec<StoredResult>, StoreError> {
        let mut conn = self.reader.acquire().await.map_err(db)?;
        if let Some(run_id) = filter.run_id {
            ensure_run(&mut conn, run_id).await?;
        }
        let mut q = QueryBuilder::<Sqlite>::new(
            "SELECT res.run_id, res.target, res.action_index, res.status, res.started_at,
                    res.duration_ms, res.timings, res.fields, res.rows, res.raw_excerpt,
                    res.reason, res.agent_id, r.job_id, r.created_at AS run_created_at
             FROM runs AS r CROSS JOIN results AS res ON res.run_id = r.id
             WHERE true",
        );
        if let Some(run_id) = filter.run_id {
            q.push(" AND r.id = ").push_bind(*run_id.as_uuid());
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
                .push_bind(Ts(from))
                .push(" AND r.created_at >= ")
                .push_bind(Ts(from - Duration::days(MAX_RUN_SPAN_DAYS)))
                .push(" AND r.last_result_at >= ")
                .push_bind(Ts(from));
        }
        if let Some(to) = filter.to {
            q.push(" AND res.started_at < ")
                .push_bind(Ts(to))
                .push(" AND r.created_at < ")
                .push_bind(Ts(to));
        }
        if let Some(after) = &filter.after {
            let action_index = i32::try_from(after.action_index).unwrap_or(i32::MAX);
            q.push(" AND (r.created_at < ")
                .push_bind(Ts(after.run_created_at))
                .push(" OR (r.created_at = ")
                .push_bind(Ts(after.run_created_at))
                .push(" AND (r.id < ")
                .push_bind(*after.run_id.as_uuid())
                .push(" OR (r.id = ")
                .push_bind(*after.run_id.as_uuid())
                .push(" AND (res.target, res.action_index) > (")
                .push_bind(after.target.clone())
                .push(", ")
                .push_bind(action_index)
                .push(")))))");
        }
        q.push(
            " ORDER BY r.created_at DESC, r.id DESC, res.target, res.action_index
              LIMIT ",
        )
        .push_bind(page_limit(filter));
        let rows: Vec<StoredResultRow> =
            q.build_query_as().fetch_all(&mut *conn).await.map_err(db)?;
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

    async fn job_series(&self, query: &SeriesQuery) -> Result<Vec<SeriesPoint>, StoreError> {
        let step = series_step(query)?;
        let mut q = QueryBuilder::<Sqlite>::new(
            "SELECT res.started_at, res.status = 'ok', res.duration_ms, ",
        );
        match &query.field {
            // The field's value when it is a number, by exact key (no JSON path syntax to
            // escape).
            Some(field) => {
                q.push(
                    "(SELECT CAST(f.value AS REAL) FROM json_each(res.fields) AS f
                      WHERE f.key = ",
                )
                .push_bind(field.clone())
                .push(" AND f.type IN ('integer', 'real'))");
            }
            None => {
                q.push("CAST(NULL AS REAL)");
            }
        }
        q.push(
            " FROM runs AS r JOIN results AS res ON res.run_id = r.id
              WHERE r.job_id = ",
        )
        .push_bind(*query.job_id.as_uuid())
        .push(" AND r.created_at >= ")
        .push_bind(Ts(query.from - Duration::days(MAX_RUN_SPAN_DAYS)))
        .push(" AND r.created_at < ")
        .push_bind(Ts(query.to))
        .push(" AND r.last_result_at >= ")
        .push_bind(Ts(query.from))
        .push(" AND res.started_at >= ")
        .push_bind(Ts(query.from))
        .push(" AND res.started_at < ")
        .push_bind(Ts(query.to));
        if let Some(action_index) = query.action_index {
            q.push(" AND res.action_index = ")
                .push_bind(i64::from(action_index));
        }
        let rows: Vec<(DateTime<Utc>, bool, f64, Option<f64>)> = q
            .build_query_as()
            .fetch_all(&self.reader)
            .await
            .map_err(db)?;
        let mut buckets: BTreeMap<i64, Bucket> = BTreeMap::new();
        for (started_at, ok, duration_ms, value) in rows {
            buckets
                .entry(bucket_start(started_at, step))
                .or_default()
                .add(ok, duration_ms, value);
        }
        buckets
            .into_iter()
            .map(|(at, bucket)| bucket.point(at))
            .collect()
    }
}

/// The start of the bucket of `at`, in microseconds since the epoch, as PostgreSQL's
/// `to_timestamp(floor(extract(epoch FROM at) / step) * step)` computes it.
fn bucket_start(at: DateTime<Utc>, step: f64) -> i64 {
    let epoch = at.timestamp_micros() as f64 / 1e6;
    ((epoch / step).floor() * step * 1e6).round() as i64
}

/// The results of one bucket.
#[derive(Default)]
struct Bucket {
    ok: i64,
    durations: Vec<f64>,
    values: Vec<f64>,
}

impl Bucket {
    fn add(&mut self, ok: bool, duration_ms: f64, value: Option<f64>) {
        self.ok += i64::from(ok);
        self.durations.push(duration_ms);
        self.values.extend(value);
    }

    fn point(mut self, at: i64) -> Result<SeriesPoint, StoreError> {
        let at = DateTime::from_timestamp_micros(at)
            .ok_or_else(|| StoreError::other(format!("bucket start {at} µs is out of range")))?;
        let count = self.durations.len();
        let n = count as f64;
        self.durations.sort_by(f64::total_cmp);
        let (value_avg, value_min, value_max) = if self.values.is_empty() {
            (None, None, None)
        } else {
            let sum: f64 = self.values.iter().sum();
            (
                Some(sum / self.values.len() as f64),
                self.values.iter().copied().reduce(f64::min),
                self.values.iter().copied().reduce(f64::max),
            )
        };
        Ok(SeriesPoint {
            at,
            count: i64::try_from(count).unwrap_or(i64::MAX),
            success_rate: self.ok as f64 / n,
            duration_avg_ms: self.durations.iter().sum::<f64>() / n,
            duration_p95_ms: percentile_cont(&self.durations, 0.95),
            value_avg,
            value_min,
            value_max,
        })
    }
}

/// PostgreSQL's `percentile_cont(fraction)` of sorted, non-empty `values`: the value at
/// `fraction × (n − 1)`, interpolated linearly between its neighbours.
fn percentile_cont(sorted: &[f64], fraction: f64) -> f64 {
    let Some(last) = sorted.len().checked_sub(1) else {
        return f64::NAN;
    };
    let position = fraction * last as f64;
    let below = position.floor() as usize;
    let above = position.ceil() as usize;
    let (low, high) = (sorted[below], sorted[above.min(last)]);
    low + (high - low) * (position - below as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_interpolate_like_postgresql() {
        assert_eq!(percentile_cont(&[7.0], 0.95), 7.0);
        // PostgreSQL: percentile_cont(0.95) WITHIN GROUP (ORDER BY x) over 1..=10 = 9.55.
        let values: Vec<f64> = (1..=10).map(f64::from).collect();
        assert!((percentile_cont(&values, 0.95) - 9.55).abs() < 1e-9);
        assert_eq!(percentile_cont(&values, 0.0), 1.0);
        assert_eq!(percentile_cont(&values, 1.0), 10.0);
    }

    #[test]
    fn buckets_start_at_multiples_of_the_step_since_the_epoch() {
        let at: DateTime<Utc> = "2026-05-01T12:03:59.999999Z".parse().unwrap();
        let start = DateTime::from_timestamp_micros(bucket_start(at, 300.0)).unwrap();
        assert_eq!(
            start,
            "2026-05-01T12:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
    }
}
