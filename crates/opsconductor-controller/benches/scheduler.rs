//! Scheduler fire lag with 10,000 enabled jobs on one-minute schedules, through a whole
//! controller as deployed (PostgreSQL, the outbox relay publishing to RabbitMQ, the
//! deadline sweeper), with the default configuration.
//!
//! Two shapes of the same load:
//! - **staggered**: cron `S * * * * *` with `S = i mod 60`, about 167 fires every second
//!   (what a scheduler that spreads jobs, or people picking different seconds, gives);
//! - **aligned**: `0 * * * * *` for every job, all 10,000 fires at second 0 of each minute
//!   (the worst case: every job written in one burst).
//!
//! Each shape gets a fresh database and its own queue prefix; the controller runs until it
//! leads, then the fires of `OC_BENCH_MINUTES` whole minutes (default 2) are measured. Lag is
//! the time from a fire's scheduled instant to its run being written, as the controller's
//! own `opsconductor_controller_scheduler_fire_lag_seconds` histogram records it (the bench
//! installs a recorder that keeps every sample). Every fire of the window is also checked
//! to have exactly one run. No agent runs: runs stay queued until the sweeper expires them.
//!
//! Run: `cargo bench -p opsconductor-controller --bench scheduler` (needs the test
//! PostgreSQL and RabbitMQ, see the controller's integration tests). `OC_BENCH_JOBS`,
//! `OC_BENCH_MINUTES` and `OC_BENCH_SHAPES` (`staggered,aligned`) override the defaults.

#![expect(clippy::print_stdout, reason = "a benchmark reports on stdout")]

use opsconductor_store::prelude::*;
use std::collections::HashMap;
use std::error::Error;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use futures::StreamExt as _;
use metrics::{
    Counter, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};
use opsconductor_controller::{Controller, ControllerConfig};
use opsconductor_core::model::{DEFAULT_SEGMENT, JobSpec};
use opsconductor_queue::{QueueConfig, delete_topology};
use opsconductor_store::testing::fresh_database;
use serde_json::json;
use sqlx::{Connection as _, PgConnection};
use tokio_util::sync::CancellationToken;

type BenchResult<T> = Result<T, Box<dyn Error + Send + Sync>>;

const DEFAULT_JOBS: usize = 10_000;
const DEFAULT_MINUTES: i64 = 2;
const LAG_METRIC: &str = "opsconductor_controller_scheduler_fire_lag_seconds";
const FIRES_METRIC: &str = "opsconductor_controller_scheduler_fires_total";

#[tokio::main]
async fn main() -> BenchResult<()> {
    let jobs = env_or("OC_BENCH_JOBS", DEFAULT_JOBS);
    let minutes = env_or("OC_BENCH_MINUTES", DEFAULT_MINUTES);
    let shapes = std::env::var("OC_BENCH_SHAPES").unwrap_or_else(|_| "staggered,aligned".into());
    let recorder = Arc::new(Samples::default());
    metrics::set_global_recorder(SampleRecorder(recorder.clone()))
        .map_err(|e| format!("installing the recorder: {e}"))?;
    println!(
        "{jobs} jobs on one-minute cron schedules, {minutes} minute(s) measured per shape, default controller configuration"
    );
    println!(
        "{:<10} {:>7} {:>9} {:>8} {:>8} {:>8} {:>8} {:>9} {:>10}",
        "shape", "fires", "once each", "p50 s", "p90 s", "p99 s", "max s", "fires/s", "outcomes"
    );
    for shape in shapes.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let second_of = |i: usize| match shape {
            "aligned" => 0,
            _ => i % 60,
        };
        bench_shape(shape, jobs, minutes, second_of, &recorder).await?;
    }
    Ok(())
}

async fn bench_shape(
    shape: &str,
    jobs: usize,
    minutes: i64,
    second_of: impl Fn(usize) -> usize,
    samples: &Samples,
) -> BenchResult<()> {
    let (store, db) = fresh_database().await;
    let queue = QueueConfig {
        url: std::env::var("OPSCONDUCTOR_TEST_AMQP_URL")
            .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned()),
        prefix: format!("oc-bench-sched-{}", uuid::Uuid::new_v4().simple()),
        ..QueueConfig::default()
    };
    let specs: Vec<JobSpec> = (0..jobs)
        .map(|i| {
            serde_json::from_value(json!({
                "name": format!("bench {i}"),
                "schedule": {"type": "cron", "expression": format!("{} * * * * *", second_of(i))},
                "targets": {"include": [{"type": "hosts", "hosts": ["127.0.0.1"]}]},
                "actions": [{"command": "ping.icmp"}],
                // Runs never end here (no agent): `allow` keeps every fire a run.
                "options": {"overlap": "allow"},
            }))
        })
        .collect::<Result<_, _>>()?;
    let created = Instant::now();
    let results: Vec<_> = futures::stream::iter(specs.iter().map(|spec| store.create_job(spec)))
        .buffer_unordered(16)
        .collect()
        .await;
    for r in results {
        r?;
    }
    let setup = created.elapsed();

    let config = ControllerConfig {
        database_url: db.url().to_owned(),
        grpc_listen: "127.0.0.1:0".parse()?,
        http_listen: "127.0.0.1:0".parse()?,
        libraries_dir: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../libraries"),
        queue: queue.clone(),
        ..ControllerConfig::default()
    };
    let controller = Controller::build(config).await?;
    let scheduler = controller.scheduler();
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(controller.run_until_stopped(shutdown.clone()));
    while !scheduler.is_leader() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Measure whole minutes, starting at a minute boundary at least 5 s away.
    let now = Utc::now();
    let from = minute_floor(now + TimeDelta::seconds(65));
    let until = from + TimeDelta::minutes(minutes);
    sleep_until(until + TimeDelta::seconds(5)).await;
    // The last fires of the window may still be written: wait until the burst settles.
    let mut settle = 0;
    while settle < 60 && samples.count_fired_between(from, until) < jobs * as_usize(minutes) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        settle += 1;
    }
    shutdown.cancel();
    running.await??;

    // Exactly one run per fire in the window.
    let mut conn = PgConnection::connect(db.url()).await?;
    let per_slot: Vec<(i64,)> = sqlx::query_as(
        "SELECT count(*) FROM runs WHERE scheduled_for >= $1 AND scheduled_for < $2
         GROUP BY job_id, scheduled_for",
    )
    .bind(from)
    .bind(until)
    .fetch_all(&mut conn)
    .await?;
    conn.close().await?;
    let expected = jobs * as_usize(minutes);
    let exactly_once = per_slot.len() == expected && per_slot.iter().all(|(n,)| *n == 1);

    let mut lags = samples.lags_between(from, until);
    lags.sort_by(f64::total_cmp);
    let outcomes = samples.take_outcomes();
    let window = (until - from).to_std()?.as_secs_f64();
    println!(
        "{shape:<10} {expected:>7} {:>9} {:>8.3} {:>8.3} {:>8.3} {:>8.3} {:>9.0} {:>10}",
        if exactly_once { "yes" } else { "NO" },
        quantile(&lags, 0.50),
        quantile(&lags, 0.90),
        quantile(&lags, 0.99),
        lags.last().copied().unwrap_or(f64::NAN),
        lags.len() as f64 / window,
        outcomes,
    );
    println!(
        "           (setup: {jobs} jobs created in {:.1} s; {} lag samples in the window; {} slots with runs)",
        setup.as_secs_f64(),
        lags.len(),
        per_slot.len()
    );
    drop(store);
    drop(db);
    delete_topology(&queue, &[DEFAULT_SEGMENT]).await?;
    samples.clear();
    Ok(())
}

fn as_usize(n: i64) -> usize {
    usize::try_from(n).unwrap_or(0)
}

fn minute_floor(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp() - t.timestamp().rem_euclid(60), 0).unwrap_or(t)
}

async fn sleep_until(t: DateTime<Utc>) {
    if let Ok(wait) = (t - Utc::now()).to_std() {
        tokio::time::sleep(wait).await;
    }
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Every lag sample (with the fire time it stands for) and the fire outcome counters.
#[derive(Default)]
struct Samples {
    /// (fire time, lag in seconds).
    lags: Mutex<Vec<(DateTime<Utc>, f64)>>,
    outcomes: Mutex<HashMap<String, Arc<AtomicU64>>>,
}

impl Samples {
    fn lags_between(&self, from: DateTime<Utc>, until: DateTime<Utc>) -> Vec<f64> {
        let lags = self.lags.lock().unwrap_or_else(PoisonError::into_inner);
        lags.iter()
            .filter(|(fire, _)| *fire >= from && *fire < until)
            .map(|(_, lag)| *lag)
            .collect()
    }

    fn count_fired_between(&self, from: DateTime<Utc>, until: DateTime<Utc>) -> usize {
        self.lags_between(from, until).len()
    }

    fn take_outcomes(&self) -> String {
        let outcomes = self.outcomes.lock().unwrap_or_else(PoisonError::into_inner);
        let mut parts: Vec<String> = outcomes
            .iter()
            .map(|(k, v)| format!("{k}={}", v.swap(0, Ordering::Relaxed)))
            .filter(|p| !p.ends_with("=0"))
            .collect();
        parts.sort();
        parts.join(",")
    }

    fn clear(&self) {
        self.lags
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

struct LagSink(Arc<Samples>);

impl HistogramFn for LagSink {
    fn record(&self, value: f64) {
        let now = Utc::now();
        let lag = TimeDelta::microseconds((value * 1e6) as i64);
        // Fire times are whole seconds: rounding recovers the exact slot.
        let fire = now - lag;
        let fire =
            DateTime::from_timestamp((fire.timestamp_micros() as f64 / 1e6).round() as i64, 0)
                .unwrap_or(fire);
        self.0
            .lags
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((fire, value));
    }
}

/// Keeps the samples of the two scheduler series; every other series is dropped.
struct SampleRecorder(Arc<Samples>);

impl Recorder for SampleRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        if key.name() != FIRES_METRIC {
            return Counter::noop();
        }
        let outcome = key
            .labels()
            .find(|l| l.key() == "outcome")
            .map_or_else(String::new, |l| l.value().to_owned());
        let counter = self
            .0
            .outcomes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(outcome)
            .or_default()
            .clone();
        Counter::from_arc(counter)
    }

    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        if key.name() == LAG_METRIC {
            Histogram::from_arc(Arc::new(LagSink(self.0.clone())))
        } else {
            Histogram::noop()
        }
    }
}
