//! The REST benchmark: list and results queries of the client API against a realistic
//! database (10,000 jobs, 1,000,000 results), measured with `wrk` on the real controller.
//!
//! ```text
//! make bench-rest
//! # = cargo build --release --locked -p opsconductor -p opsconductor-bench
//! #   && target/release/opsconductor-bench-rest
//! ```
//!
//! Phases:
//!
//! 1. **Seed.** A fresh database, migrated; filled through the store as the controller
//!    would fill it: enabled jobs on one-minute schedules (cron and 60 s intervals, ping over
//!    a few loopback addresses, spread over `site-NN` tags, 1 % also tagged `core`); a few
//!    busy jobs with hourly runs of thousands of targets each (most of the results), and one
//!    small recent run for every other job (so every job has a last run); results with the
//!    fields a ping produces and mixed statuses (90 % ok, 4 % warn, 4 % fail, 1 % error,
//!    1 % timeout), ingested with `PgStore::ingest_results` by concurrent tasks. Then the
//!    outbox is emptied and chunks marked done (as after the runs really happened), and the
//!    database is vacuumed and analysed. Each step is timed.
//! 2. **Serve.** `opsconductor controller` from the release binary next to this one, with
//!    the scheduler off (it would fire the 10,000 one-minute jobs during the measurement),
//!    waited for on `/readyz`; the harness signs in as the first admin the controller
//!    creates and makes an API token, which the REST client and `wrk` (`-H`) send.
//! 3. **Measure.** For each query: one request to check it answers 200 with items, an
//!    untimed `wrk` warm-up, then `wrk -t2 -c16 -d15s --latency` (p50 / p90 / p99,
//!    requests/s) and a one-connection `wrk` pass (latency without queueing). The goal is
//!    p99 ≤ 50 ms under the loaded pass; the series query aggregates and is reported as its
//!    own class. Anchor: the store's SQL for the same query, as a prepared statement
//!    executed like the controller's connection pool does (the plan after warm-up
//!    executions, so a generic plan shows when PostgreSQL switches to it), timed by
//!    `EXPLAIN (ANALYZE, BUFFERS)` — PostgreSQL's own execution time, printed next to the
//!    API's latency. The SQL here mirrors `crates/opsconductor-store/src/{jobs,runs,queries}.rs`;
//!    keep them in step.
//! 4. The controller is stopped (its own handle), its queue topology deleted and the
//!    database dropped.
//!
//! Needs PostgreSQL (`OPSCONDUCTOR_TEST_DATABASE_URL`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`), RabbitMQ on `OC_BENCH_AMQP_URL` (default
//! `amqp://guest:guest@127.0.0.1:5672/%2f`; the controller connects, nothing is published),
//! and `wrk` and `psql` on the PATH (`scripts/install-deps.sh`).
//!
//! Knobs (environment): `OC_BENCH_JOBS` (default 10000), `OC_BENCH_RESULTS` (default
//! 1000000), `OC_BENCH_BUSY_JOBS` (jobs holding most results, default 4),
//! `OC_BENCH_RUN_TARGETS` (targets of a busy run, default 5000), `OC_BENCH_SMALL_TARGETS`
//! (targets of every other job's run, default 4), `OC_BENCH_SEED_TASKS` (default 4),
//! `OC_BENCH_INGEST_BATCH` (default 5000), `OC_BENCH_WRK_THREADS` (default 2),
//! `OC_BENCH_WRK_CONNECTIONS` (default 16), `OC_BENCH_WRK_SECONDS` (default 15),
//! `OC_BENCH_WRK_WARM_UP_SECONDS` (default 3), `OC_BENCH_WRK_SINGLE_SECONDS` (the
//! one-connection pass, default 5, 0 skips it), `OC_BENCH_ONLY` (comma-separated
//! substrings of query names to measure), `OC_BENCH_PLANS` (set: print every anchor's plan,
//! not only those of queries over the goal), `OC_BENCH_KEEP_DB` (set: keep the database
//! to look at it, and print its name), `OC_BENCH_BINARY` (default: `opsconductor` next
//! to this binary), `OC_BENCH_KEEP_LOGS` (set: keep the controller's log).
//!
//! Exits non-zero only when the harness itself fails; a missed goal is reported in the
//! table.

#![expect(clippy::print_stdout, reason = "a benchmark reports on stdout")]

use opsconductor_store::prelude::*;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail, ensure};
use chrono::{DateTime, DurationRound as _, TimeDelta, Utc};
use opsconductor_bench::{ADMIN, api_client, api_token, random_auth_key};
use opsconductor_core::ids::{AgentId, ChunkId, JobId, RunId};
use opsconductor_core::model::{JobSpec, ResultRecord, ResultStatus, RunTrigger};
use opsconductor_store::testing::{TestDb, fresh_database};
use opsconductor_store::{MAX_RUN_SPAN_DAYS, NewChunk, NewRun, PgStore, ResultFilter, ResultKey};
use serde_json::{Map, Value, json};

/// The issue's goal for list and results queries.
const GOAL_P99_MS: f64 = 50.0;
/// Tags `site-00` … are spread round-robin over the jobs.
const SITE_TAGS: usize = 20;
/// Every this many jobs also carry the `core` tag (a rare tag).
const CORE_EVERY: usize = 100;
/// Runs written per `create_runs` call (the scheduler's batch size).
const RUN_BATCH: usize = 250;
/// `EXPLAIN ANALYZE` executions of an anchor; the median of the last half is reported.
const ANCHOR_EXECUTIONS: usize = 10;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// The harness's settings, from the environment.
#[derive(Debug, Clone)]
struct Settings {
    jobs: usize,
    results: usize,
    busy_jobs: usize,
    run_targets: usize,
    small_targets: usize,
    seed_tasks: usize,
    ingest_batch: usize,
    wrk_threads: u32,
    wrk_connections: u32,
    wrk_seconds: u32,
    warm_up_seconds: u32,
    single_seconds: u32,
    only: Vec<String>,
    all_plans: bool,
    keep_db: bool,
    amqp_url: String,
    binary: PathBuf,
    libraries: PathBuf,
}

impl Settings {
    fn from_env() -> anyhow::Result<Self> {
        let binary = match std::env::var_os("OC_BENCH_BINARY") {
            Some(path) => PathBuf::from(path),
            None => std::env::current_exe()
                .context("locating this binary")?
                .with_file_name("opsconductor"),
        };
        let only = std::env::var("OC_BENCH_ONLY")
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect();
        let settings = Self {
            jobs: env_or("OC_BENCH_JOBS", 10_000_usize),
            results: env_or("OC_BENCH_RESULTS", 1_000_000_usize),
            busy_jobs: env_or("OC_BENCH_BUSY_JOBS", 4_usize).clamp(1, 50),
            run_targets: env_or("OC_BENCH_RUN_TARGETS", 5_000_usize).clamp(1, 60_000),
            small_targets: env_or("OC_BENCH_SMALL_TARGETS", 4_usize).clamp(1, 254),
            seed_tasks: env_or("OC_BENCH_SEED_TASKS", 4_usize).max(1),
            ingest_batch: env_or("OC_BENCH_INGEST_BATCH", 5_000_usize).max(1),
            wrk_threads: env_or("OC_BENCH_WRK_THREADS", 2).max(1),
            wrk_connections: env_or("OC_BENCH_WRK_CONNECTIONS", 16).max(1),
            wrk_seconds: env_or("OC_BENCH_WRK_SECONDS", 15).max(1),
            warm_up_seconds: env_or("OC_BENCH_WRK_WARM_UP_SECONDS", 3),
            single_seconds: env_or("OC_BENCH_WRK_SINGLE_SECONDS", 5),
            only,
            all_plans: std::env::var_os("OC_BENCH_PLANS").is_some(),
            keep_db: std::env::var_os("OC_BENCH_KEEP_DB").is_some(),
            amqp_url: std::env::var("OC_BENCH_AMQP_URL")
                .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into()),
            binary,
            // The shipped libraries, from the source tree this binary was built from.
            libraries: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../libraries"),
        };
        ensure!(
            settings.jobs > settings.busy_jobs,
            "OC_BENCH_JOBS must exceed OC_BENCH_BUSY_JOBS"
        );
        ensure!(
            settings.jobs < 65_536,
            "OC_BENCH_JOBS: at most 65,535 (one loopback /24 per job)"
        );
        let small = (settings.jobs - settings.busy_jobs) * settings.small_targets;
        ensure!(
            settings.results >= small,
            "OC_BENCH_RESULTS ({}) is below the small runs' {small} results",
            settings.results
        );
        Ok(settings)
    }

    /// Results of the busy jobs: everything the small runs do not hold.
    fn busy_results(&self) -> usize {
        self.results - (self.jobs - self.busy_jobs) * self.small_targets
    }
}

// ---------------------------------------------------------------------------------------
// Seeding

/// Deterministic noise (splitmix64): the same database on every run.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn job_name(i: usize) -> String {
    format!("bench-job-{i:05}")
}

/// The `n`-th target of job `job`: busy jobs own 127.(200 + job).0.1 onwards, the others
/// a few addresses of their own /24 in 127.64.0.0/10.
fn target(job: usize, busy_jobs: usize, n: usize) -> Ipv4Addr {
    let base = if job < busy_jobs {
        u32::from(Ipv4Addr::new(127, 200, 0, 1)) + ((job as u32) << 16)
    } else {
        u32::from(Ipv4Addr::new(127, 64, 0, 1)) + ((job as u32) << 8)
    };
    Ipv4Addr::from(base + n as u32)
}

fn job_spec(i: usize, settings: &Settings) -> anyhow::Result<JobSpec> {
    let site = format!("site-{:02}", i % SITE_TAGS);
    let mut tags = vec![site.clone(), "ping".to_owned()];
    if i.is_multiple_of(CORE_EVERY) {
        tags.push("core".into());
    }
    let count = if i < settings.busy_jobs {
        settings.run_targets
    } else {
        settings.small_targets
    };
    let first = target(i, settings.busy_jobs, 0);
    let last = target(i, settings.busy_jobs, count - 1);
    // Half cron, half interval, drawn so that every tag holds both kinds.
    let schedule = if mix(i as u64).is_multiple_of(2) {
        json!({"type": "cron", "expression": "0 * * * * *"})
    } else {
        json!({"type": "interval", "seconds": 60})
    };
    let spec = serde_json::from_value(json!({
        "name": job_name(i),
        "description": format!("Reachability of {site} rack {} ({count} hosts)", i % 50),
        "tags": tags,
        "schedule": schedule,
        "targets": {"include": [{"type": "range", "value": format!("{first}-{last}")}]},
        "actions": [{"command": "ping.icmp", "params": {"count": 3, "timeout_ms": 1000}}]
    }))?;
    Ok(spec)
}

/// A ping result for `target` with a status drawn from `seed`.
fn ping_result(
    run_id: RunId,
    target: Ipv4Addr,
    started_at: DateTime<Utc>,
    seed: u64,
) -> ResultRecord {
    let h = mix(seed);
    let roll = h % 100;
    let rtt = 0.02 + (h >> 8) as f64 % 4000.0 / 1000.0;
    let object = |v: Value| v.as_object().cloned().unwrap_or_default();
    let replies = |rtt: f64, received: u32| {
        let loss = f64::from(3 - received) * 100.0 / 3.0;
        object(json!({
            "sent": 3, "received": received, "loss_pct": loss,
            "rtt_min_ms": rtt * 0.9, "rtt_avg_ms": rtt, "rtt_max_ms": rtt * 1.2,
            "rtt_mdev_ms": rtt * 0.1, "jitter_ms": rtt * 0.05
        }))
    };
    let (status, fields, reason, duration_ms, raw) = match roll {
        0..90 => (
            ResultStatus::Ok,
            replies(rtt, 3),
            None,
            2000.0 + rtt * 3.0,
            Some(format!(
                "3 packets transmitted, 3 received, 0% packet loss\nrtt min/avg/max/mdev = \
                 {:.3}/{rtt:.3}/{:.3}/{:.3} ms",
                rtt * 0.9,
                rtt * 1.2,
                rtt * 0.1
            )),
        ),
        90..94 => (
            ResultStatus::Warn,
            replies(rtt + 120.0, 2),
            Some("loss_pct 33.3 is above 0".to_owned()),
            3000.0,
            Some("3 packets transmitted, 2 received, 33.3333% packet loss".to_owned()),
        ),
        94..98 => (
            ResultStatus::Fail,
            object(json!({"sent": 3, "received": 0, "loss_pct": 100.0})),
            Some("no reply: 3 of 3 echoes lost".to_owned()),
            3000.0,
            Some("3 packets transmitted, 0 received, 100% packet loss".to_owned()),
        ),
        98 => (
            ResultStatus::Error,
            Map::new(),
            Some("network unreachable".to_owned()),
            0.4,
            None,
        ),
        _ => (
            ResultStatus::Timeout,
            Map::new(),
            Some("no answer within the 5 s action timeout".to_owned()),
            5000.0,
            None,
        ),
    };
    ResultRecord {
        run_id,
        target: target.to_string(),
        action_index: 0,
        status,
        started_at,
        duration_ms,
        timings: object(json!({"echoes": duration_ms})),
        fields,
        rows: Vec::new(),
        raw_excerpt: raw,
        reason,
        agent_id: None,
    }
}

/// One ingest batch: some targets of some runs.
#[derive(Debug, Clone)]
struct Batch {
    chunk_id: Option<ChunkId>,
    parts: Vec<BatchPart>,
}

#[derive(Debug, Clone, Copy)]
struct BatchPart {
    run_id: RunId,
    job: usize,
    created_at: DateTime<Utc>,
    from: usize,
    count: usize,
}

impl Batch {
    fn records(&self, busy_jobs: usize, agent: AgentId) -> Vec<ResultRecord> {
        let mut out = Vec::new();
        for part in &self.parts {
            let seed = u64::from_le_bytes(
                part.run_id.as_uuid().as_bytes()[..8]
                    .try_into()
                    .unwrap_or_default(),
            );
            for n in part.from..part.from + part.count {
                // A run's results start over its first ten seconds.
                let started_at =
                    part.created_at + TimeDelta::milliseconds(500 + (n as i64 * 10_000) / 5_000);
                let mut r = ping_result(
                    part.run_id,
                    target(part.job, busy_jobs, n),
                    started_at,
                    seed ^ n as u64,
                );
                r.agent_id = Some(agent);
                out.push(r);
            }
        }
        out
    }
}

/// What the queries need to know about the seeded data.
struct Seeded {
    /// Jobs seeded.
    jobs: usize,
    /// The first busy job.
    busy_job: JobId,
    /// Its newest run.
    busy_run: RunId,
    /// One of its targets.
    busy_target: String,
    /// The minute the data was seeded at: busy runs were created hourly before it.
    now: DateTime<Utc>,
    /// Hours of busy runs before `now`.
    busy_hours: usize,
    timings: Vec<(String, Duration)>,
}

/// Runs `work(i)` for `0..n` on `tasks` concurrent tasks.
async fn parallel<F, Fut, T>(n: usize, tasks: usize, work: F) -> anyhow::Result<Vec<T>>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<T>> + Send,
    T: Send + 'static,
{
    let work = Arc::new(work);
    let next = Arc::new(AtomicUsize::new(0));
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..tasks {
        let (work, next) = (work.clone(), next.clone());
        set.spawn(async move {
            let mut done = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return Ok::<_, anyhow::Error>(done);
                }
                done.push((i, work(i).await?));
            }
        });
    }
    let mut all = Vec::with_capacity(n);
    while let Some(joined) = set.join_next().await {
        all.extend(joined??);
    }
    all.sort_by_key(|(i, _)| *i);
    Ok(all.into_iter().map(|(_, t)| t).collect())
}

async fn seed(store: &PgStore, db: &TestDb, settings: &Settings) -> anyhow::Result<Seeded> {
    let mut timings = Vec::new();
    let started = Instant::now();
    let now = Utc::now().duration_trunc(TimeDelta::minutes(1))?;

    // Jobs.
    let t0 = Instant::now();
    let specs: Arc<Vec<JobSpec>> = Arc::new(
        (0..settings.jobs)
            .map(|i| job_spec(i, settings))
            .collect::<anyhow::Result<_>>()?,
    );
    let jobs = {
        let (store, specs) = (store.clone(), specs.clone());
        parallel(settings.jobs, settings.seed_tasks, move |i| {
            let (store, specs) = (store.clone(), specs.clone());
            async move { Ok(store.create_job(&specs[i]).await?) }
        })
        .await?
    };
    timings.push((format!("{} jobs (create_job)", settings.jobs), t0.elapsed()));
    println!(
        "seeded {} jobs in {:.1} s",
        jobs.len(),
        t0.elapsed().as_secs_f64()
    );

    // Runs: the busy jobs' hourly runs (newest an hour ago), one recent run per other job.
    let t0 = Instant::now();
    let run_of = |job: usize, created_at: DateTime<Utc>, targets: usize, chunk: usize| {
        let all: Vec<String> = (0..targets)
            .map(|n| target(job, settings.busy_jobs, n).to_string())
            .collect();
        NewRun {
            id: RunId::new(),
            job_id: jobs[job].id,
            job_version: jobs[job].version,
            trigger: RunTrigger::Schedule,
            scheduled_for: created_at,
            created_at,
            deadline_at: created_at + TimeDelta::minutes(30),
            job_spec: specs[job].clone(),
            chunks: all
                .chunks(chunk)
                .enumerate()
                .map(|(seq, part)| NewChunk {
                    id: ChunkId::new(),
                    segment: "default".into(),
                    seq: seq as u32,
                    targets: part.to_vec(),
                    action_count: 1,
                    payload: Vec::new(),
                })
                .collect(),
        }
    };
    let mut batches: Vec<Batch> = Vec::new();
    let busy_results = settings.busy_results();
    let busy_runs = busy_results.div_ceil(settings.run_targets);
    let mut busy_run = None;
    for r in 0..busy_runs {
        let (job, hour) = (r % settings.busy_jobs, r / settings.busy_jobs);
        let created_at = now - TimeDelta::hours(hour as i64 + 1) + TimeDelta::minutes(job as i64);
        let count = settings
            .run_targets
            .min(busy_results - r * settings.run_targets);
        let run = run_of(job, created_at, count, settings.ingest_batch);
        store.create_run(&run).await?;
        busy_run.get_or_insert(run.id);
        for (seq, chunk) in run.chunks.iter().enumerate() {
            batches.push(Batch {
                chunk_id: Some(chunk.id),
                parts: vec![BatchPart {
                    run_id: run.id,
                    job,
                    created_at,
                    from: seq * settings.ingest_batch,
                    count: chunk.targets.len(),
                }],
            });
        }
    }
    let small: Vec<NewRun> = (settings.busy_jobs..settings.jobs)
        .map(|job| {
            let created_at = now - TimeDelta::seconds((mix(job as u64) % 3600) as i64);
            run_of(
                job,
                created_at,
                settings.small_targets,
                settings.small_targets,
            )
        })
        .collect();
    let per_batch = (settings.ingest_batch / settings.small_targets).max(1);
    for (i, runs) in small.chunks(per_batch).enumerate() {
        let first_job = settings.busy_jobs + i * per_batch;
        batches.push(Batch {
            chunk_id: None,
            parts: runs
                .iter()
                .enumerate()
                .map(|(k, run)| BatchPart {
                    run_id: run.id,
                    job: first_job + k,
                    created_at: run.created_at,
                    from: 0,
                    count: settings.small_targets,
                })
                .collect(),
        });
    }
    let small = Arc::new(small);
    {
        let (store, small) = (store.clone(), small.clone());
        let n = small.len().div_ceil(RUN_BATCH);
        parallel(n, settings.seed_tasks, move |i| {
            let (store, small) = (store.clone(), small.clone());
            async move {
                let end = ((i + 1) * RUN_BATCH).min(small.len());
                for outcome in store.create_runs(&small[i * RUN_BATCH..end]).await? {
                    outcome?;
                }
                Ok(())
            }
        })
        .await?;
    }
    timings.push((
        format!(
            "{} runs ({busy_runs} busy through create_run, {} through create_runs)",
            busy_runs + small.len(),
            small.len()
        ),
        t0.elapsed(),
    ));
    println!(
        "seeded {} runs in {:.1} s",
        busy_runs + small.len(),
        t0.elapsed().as_secs_f64()
    );

    // Results, as agents send them.
    let t0 = Instant::now();
    let batches = Arc::new(batches);
    let agent = AgentId::new();
    let inserted: Vec<u64> = {
        let (store, batches, busy_jobs) = (store.clone(), batches.clone(), settings.busy_jobs);
        parallel(batches.len(), settings.seed_tasks, move |i| {
            let (store, batches) = (store.clone(), batches.clone());
            async move {
                let records = batches[i].records(busy_jobs, agent);
                let outcome = store
                    .ingest_results(batches[i].chunk_id, Some(agent), &records)
                    .await?;
                Ok(outcome.inserted)
            }
        })
        .await?
    };
    let inserted: u64 = inserted.iter().sum();
    ensure!(
        inserted == settings.results as u64,
        "{inserted} of {} results inserted",
        settings.results
    );
    let ingest = t0.elapsed();
    timings.push((
        format!(
            "{} results (ingest_results, {} tasks × batches of ≤ {}; {}/s)",
            thousands(inserted as f64),
            settings.seed_tasks,
            settings.ingest_batch,
            thousands(inserted as f64 / ingest.as_secs_f64())
        ),
        ingest,
    ));
    println!(
        "seeded {} results in {:.1} s",
        thousands(inserted as f64),
        ingest.as_secs_f64()
    );

    // As after the runs really happened: nothing left to publish, chunks done, runs with
    // their own start and end; then what autovacuum would eventually do, done now so its
    // analyse does not change plans during the measurement.
    let t0 = Instant::now();
    psql(
        db.url(),
        &[
            "DELETE FROM outbox",
            "UPDATE chunks SET state = 'done', published_at = created_at,
                    finished_at = created_at + interval '12 seconds'
             WHERE state <> 'done'",
            "UPDATE runs SET started_at = created_at + interval '1 second',
                    finished_at = created_at + interval '12 seconds'",
            "VACUUM (ANALYZE)",
        ],
    )?;
    timings.push((
        "finish chunks and runs, VACUUM (ANALYZE)".into(),
        t0.elapsed(),
    ));
    let not_done: u64 = psql(
        db.url(),
        &["SELECT count(*) FROM runs WHERE status <> 'completed'"],
    )?
    .parse()?;
    ensure!(not_done == 0, "{not_done} runs did not complete");
    timings.push(("seeding in all".into(), started.elapsed()));

    Ok(Seeded {
        jobs: jobs.len(),
        busy_hours: busy_runs.div_ceil(settings.busy_jobs),
        busy_job: jobs[0].id,
        busy_target: target(0, settings.busy_jobs, settings.run_targets / 2).to_string(),
        busy_run: busy_run.ok_or_else(|| anyhow!("no busy run"))?,
        now,
        timings,
    })
}

// ---------------------------------------------------------------------------------------
// The controller

/// The controller process; killed (by its own handle) when dropped.
struct Controller {
    child: Child,
    log: PathBuf,
    http: SocketAddr,
    /// An API token of the first admin, sent with every request (REST client and `wrk`).
    token: String,
}

impl Drop for Controller {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Controller {
    fn url(&self, path_and_query: &str) -> String {
        format!("http://{}{path_and_query}", self.http)
    }

    fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!(
                "the controller exited with {status}; log {}:\n{}",
                self.log.display(),
                tail(&self.log, 40)
            );
        }
        Ok(())
    }
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut last: Vec<&str> = text.lines().rev().take(lines).collect();
    last.reverse();
    last.join("\n")
}

fn free_port() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").context("picking a free port")?;
    Ok(listener.local_addr()?)
}

/// Starts the controller with a first admin, waits until it is ready and signs in
/// ([`Controller::token`]).
async fn start_controller(
    settings: &Settings,
    db: &TestDb,
    prefix: &str,
    dir: &Path,
) -> anyhow::Result<Controller> {
    ensure!(
        settings.binary.is_file(),
        "{} does not exist: build it first (cargo build --release -p opsconductor)",
        settings.binary.display()
    );
    let log = dir.join("controller.log");
    let mut cmd = Command::new(&settings.binary);
    for (key, _) in std::env::vars() {
        if key.starts_with("OPSCONDUCTOR_") {
            cmd.env_remove(key);
        }
    }
    let http = free_port()?;
    let admin_password = uuid::Uuid::new_v4().simple().to_string();
    cmd.arg("controller")
        .env("OPSCONDUCTOR_LOG", "info")
        .env("OPSCONDUCTOR_DATABASE_URL", db.url())
        .env("OPSCONDUCTOR_HTTP_LISTEN", http.to_string())
        .env("OPSCONDUCTOR_GRPC_LISTEN", free_port()?.to_string())
        .env("OPSCONDUCTOR_QUEUE__URL", &settings.amqp_url)
        .env("OPSCONDUCTOR_QUEUE__PREFIX", prefix)
        .env("OPSCONDUCTOR_SCHEDULER_ENABLED", "false")
        .env("OPSCONDUCTOR_LIBRARIES_DIR", &settings.libraries)
        // The controller starts once per run: a random token key will do.
        .env("OPSCONDUCTOR_AUTH_KEY", random_auth_key())
        .env("OPSCONDUCTOR_BOOTSTRAP_ADMIN", ADMIN)
        .env("OPSCONDUCTOR_BOOTSTRAP_ADMIN_PASSWORD", &admin_password)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(
            std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?,
        );
    let child = cmd
        .spawn()
        .with_context(|| format!("starting {}", settings.binary.display()))?;
    let mut controller = Controller {
        child,
        log,
        http,
        token: String::new(),
    };
    let client = api_client(None)?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = client.get(controller.url("/readyz")).send().await
            && r.status().is_success()
        {
            controller.token =
                api_token(&client, &controller.url(""), &admin_password, "bench-rest").await?;
            return Ok(controller);
        }
        controller.check_alive()?;
        ensure!(
            Instant::now() < deadline,
            "the controller was not ready within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn get_json(client: &reqwest::Client, url: &str) -> anyhow::Result<(Value, usize)> {
    let response = client
        .get(url)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    let status = response.status();
    let text = response.text().await?;
    ensure!(status.is_success(), "GET {url}: {status} {text}");
    let value = serde_json::from_str(&text).with_context(|| format!("GET {url}: not JSON"))?;
    Ok((value, text.len()))
}

// ---------------------------------------------------------------------------------------
// The queries and their SQL anchors

/// A prepared statement mirroring one of the store's queries, with the arguments of the
/// API request it stands for.
#[derive(Debug, Clone, Default)]
struct Prepared {
    types: Vec<&'static str>,
    args: Vec<String>,
    sql: String,
}

impl Prepared {
    /// Adds an argument (`None`: NULL) and returns its placeholder.
    fn arg(&mut self, ty: &'static str, value: Option<String>) -> String {
        self.types.push(ty);
        self.args.push(value.map_or_else(
            || "NULL".to_owned(),
            |v| format!("'{}'", v.replace('\'', "''")),
        ));
        format!("${}", self.args.len())
    }

    fn push(&mut self, sql: &str) {
        self.sql.push_str(sql);
    }
}

const RUN_COLUMNS: &str = "id, job_id, job_version, status, trigger, scheduled_for, \
     created_at, deadline_at, started_at, finished_at, total, ok, warn, fail, error, timeout, \
     reason";

/// `PgStore::list_jobs`' first statement (jobs.rs): only the filters given.
fn jobs_sql(text: Option<&str>, tag: Option<&str>, after_name: Option<&str>) -> Prepared {
    let mut p = Prepared::default();
    p.push(
        "SELECT j.id, j.version, j.name, j.enabled, j.spec->'schedule' AS schedule, \
         j.spec, j.created_at, j.updated_at FROM ",
    );
    let name = match tag {
        Some(tag) => {
            let g = p.arg("text", Some(tag.to_owned()));
            p.push(&format!(
                "job_tags AS t JOIN jobs AS j ON j.id = t.job_id WHERE t.tag = {g}"
            ));
            "t.name"
        }
        None => {
            p.push("jobs AS j WHERE true");
            "j.name"
        }
    };
    p.push(" AND NOT j.hidden");
    if let Some(text) = text {
        let (a, b) = (
            p.arg("text", Some(format!("%{text}%"))),
            p.arg("text", Some(format!("%{text}%"))),
        );
        p.push(&format!(
            " AND (j.name ILIKE {a} OR j.spec->>'description' ILIKE {b})"
        ));
    }
    if let Some(after) = after_name {
        let a = p.arg("text", Some(after.to_owned()));
        p.push(&format!(" AND {name} > {a}"));
    }
    let l = p.arg("bigint", Some("100".into()));
    p.push(&format!(" ORDER BY {name} LIMIT {l}"));
    p
}

/// `PgStore::list_jobs`' second statement: the page's last runs.
fn last_runs_sql(ids: &[String]) -> Prepared {
    let mut p = Prepared::default();
    let ids = p.arg("uuid[]", Some(format!("{{{}}}", ids.join(","))));
    p.push(&format!(
        "SELECT r.* FROM unnest({ids}) AS page (job_id)
         CROSS JOIN LATERAL (
             SELECT {RUN_COLUMNS} FROM runs WHERE runs.job_id = page.job_id
             ORDER BY created_at DESC, id DESC LIMIT 1
         ) AS r"
    ));
    p
}

/// `PgStore::list_runs` (runs.rs).
fn runs_sql(job: Option<JobId>) -> Prepared {
    let mut p = Prepared::default();
    let (j, s, b, i, l) = (
        p.arg("uuid", job.map(|j| j.to_string())),
        p.arg("text", None),
        p.arg("timestamptz", None),
        p.arg("uuid", None),
        p.arg("bigint", Some("100".into())),
    );
    p.push(&format!(
        "SELECT {RUN_COLUMNS} FROM runs
         WHERE ({j}::uuid IS NULL OR job_id = {j})
           AND ({s}::text IS NULL OR status = {s})
           AND ({b}::timestamptz IS NULL OR (created_at, id) < ({b}, {i}))
         ORDER BY created_at DESC, id DESC
         LIMIT {l}"
    ));
    p
}

/// The URL of a results page of 100 for `filter` (the API takes the same filters).
fn results_url(base: &str, filter: &ResultFilter) -> String {
    let mut url = format!("{base}/api/v1/results?limit=100");
    let mut add = |key: &str, value: String| {
        url.push('&');
        url.push_str(key);
        url.push('=');
        url.push_str(&encode(&value));
    };
    if let Some(job) = filter.job_id {
        add("job_id", job.to_string());
    }
    if let Some(run) = filter.run_id {
        add("run_id", run.to_string());
    }
    if let Some(target) = &filter.target {
        add("target", target.clone());
    }
    if let Some(status) = filter.status {
        add("status", status.as_str().to_owned());
    }
    if let Some(from) = filter.from {
        add("from", from.to_rfc3339());
    }
    if let Some(to) = filter.to {
        add("to", to.to_rfc3339());
    }
    url
}

/// `PgStore::job_series` (queries.rs) over the API's default range (the last 24 hours).
fn series_sql(job: JobId, field: &str, step_s: u64, now: DateTime<Utc>) -> Prepared {
    let mut p = Prepared::default();
    let ts = |t: DateTime<Utc>| Some(t.to_rfc3339());
    let (j, f, from, to, step, days, action) = (
        p.arg("uuid", Some(job.to_string())),
        p.arg("text", Some(field.to_owned())),
        p.arg("timestamptz", ts(now - TimeDelta::hours(24))),
        p.arg("timestamptz", ts(now)),
        p.arg("double precision", Some(step_s.to_string())),
        p.arg("integer", Some(MAX_RUN_SPAN_DAYS.to_string())),
        p.arg("integer", None),
    );
    p.push(&format!(
        "WITH picked AS (
             SELECT res.started_at, res.status, res.duration_ms,
                    CASE WHEN jsonb_typeof(res.fields -> {f}) = 'number'
                         THEN (res.fields ->> {f})::double precision END AS value
             FROM runs AS r
             JOIN results AS res
               ON res.run_id = r.id AND res.run_created_at = r.created_at
             WHERE r.job_id = {j}
               AND r.created_at >= {from} - make_interval(days => {days})
               AND r.created_at < {to}
               AND r.last_result_at >= {from}
               AND res.started_at >= {from} AND res.started_at < {to}
               AND ({action}::integer IS NULL OR res.action_index = {action})
         )
         SELECT to_timestamp(floor(extract(epoch FROM started_at) / {step}) * {step}) AS at,
                count(*) AS count,
                (count(*) FILTER (WHERE status = 'ok'))::double precision / count(*)
                    AS success_rate,
                avg(duration_ms) AS duration_avg_ms,
                percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms) AS duration_p95_ms,
                avg(value) AS value_avg, min(value) AS value_min, max(value) AS value_max
         FROM picked
         GROUP BY 1
         ORDER BY 1"
    ));
    p
}

/// Percent-encodes a query value.
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Whether the goal applies, or the query is of another class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    List,
    Aggregate,
}

/// One measured request.
struct Query {
    name: String,
    url: String,
    class: Class,
    anchor: Anchor,
}

/// What a request's PostgreSQL time is measured on.
enum Anchor {
    /// Statements mirroring the store's, prepared and explained through `psql`.
    Sql(Vec<Prepared>),
    /// A result query, explained by the store itself
    /// ([`PgStore::explain_query_results`]): its statement depends on the filter.
    Store(ResultFilter),
}

/// The items and cursor of a list page.
fn page_of(value: &Value) -> (Vec<Value>, Option<String>) {
    let items = value["items"].as_array().cloned().unwrap_or_default();
    let cursor = value["next_cursor"].as_str().map(str::to_owned);
    (items, cursor)
}

/// Follows `next_cursor` from `first_url` `pages - 1` times; returns the URL of page
/// `pages` and the previous page's last item.
async fn later_page(
    client: &reqwest::Client,
    first_url: &str,
    pages: usize,
) -> anyhow::Result<(String, Value)> {
    let mut url = first_url.to_owned();
    let mut last = Value::Null;
    for _ in 1..pages {
        let (page, _) = get_json(client, &url).await?;
        let (items, cursor) = page_of(&page);
        last = items
            .last()
            .cloned()
            .ok_or_else(|| anyhow!("{url}: an empty page"))?;
        let cursor = cursor.ok_or_else(|| anyhow!("{url}: no next_cursor"))?;
        url = format!("{first_url}&cursor={}", encode(&cursor));
    }
    Ok((url, last))
}

fn ids_of(page: &Value) -> Vec<String> {
    page_of(page)
        .0
        .iter()
        .filter_map(|item| item["id"].as_str().map(str::to_owned))
        .collect()
}

async fn queries(
    client: &reqwest::Client,
    controller: &Controller,
    seeded: &Seeded,
) -> anyhow::Result<Vec<Query>> {
    let base = controller.url("");
    let mut out = Vec::new();
    let mut list = |name: &str, url: String, anchor: Anchor| {
        out.push(Query {
            name: name.to_owned(),
            url,
            class: Class::List,
            anchor,
        });
    };

    // Jobs. Each list call is two statements: the page, then the page's last runs.
    let jobs_url = |q: &str| format!("{base}/api/v1/jobs?limit=100{q}");
    let with_runs = async |url: &str, jobs: Prepared| -> anyhow::Result<Anchor> {
        let (page, _) = get_json(client, url).await?;
        Ok(Anchor::Sql(vec![jobs, last_runs_sql(&ids_of(&page))]))
    };
    let url = jobs_url("");
    list(
        "jobs: first page",
        url.clone(),
        with_runs(&url, jobs_sql(None, None, None)).await?,
    );
    let pages = seeded.jobs.div_ceil(100).clamp(2, 6);
    let (url, last) = later_page(client, &jobs_url(""), pages).await?;
    let after = last["name"].as_str().map(str::to_owned);
    list(
        &format!("jobs: page {pages} (cursor)"),
        url.clone(),
        with_runs(&url, jobs_sql(None, None, after.as_deref())).await?,
    );
    // Ten names share it: bench-job-NNNN0 … bench-job-NNNN9.
    let text = format!("job-{:04}", seeded.jobs / 20);
    let text = text.as_str();
    let url = jobs_url(&format!("&text={text}"));
    list(
        &format!("jobs: text={text} (10 matches)"),
        url.clone(),
        with_runs(&url, jobs_sql(Some(text), None, None)).await?,
    );
    let url = jobs_url("&tag=site-07");
    list(
        "jobs: tag=site-07 (5 %)",
        url.clone(),
        with_runs(&url, jobs_sql(None, Some("site-07"), None)).await?,
    );
    let url = jobs_url("&tag=core");
    list(
        "jobs: tag=core (1 %)",
        url.clone(),
        with_runs(&url, jobs_sql(None, Some("core"), None)).await?,
    );

    // Results.
    let job = seeded.busy_job;
    let mut results = |name: &str, url: Option<String>, filter: ResultFilter| {
        let url = url.unwrap_or_else(|| results_url(&base, &filter));
        list(name, url, Anchor::Store(filter));
    };
    let by_job = ResultFilter {
        job_id: Some(job),
        limit: 100,
        ..ResultFilter::default()
    };
    results("results: job_id (busy job)", None, by_job.clone());
    results(
        "results: job_id & status=fail",
        None,
        ResultFilter {
            status: Some(ResultStatus::Fail),
            ..by_job.clone()
        },
    );
    // The API's items carry the key fields a cursor is made of.
    let (url, last) = later_page(client, &results_url(&base, &by_job), 10).await?;
    results(
        "results: job_id, page 10 (cursor)",
        Some(url),
        ResultFilter {
            after: Some(serde_json::from_value::<ResultKey>(last)?),
            ..by_job.clone()
        },
    );
    let everything = ResultFilter {
        limit: 100,
        ..ResultFilter::default()
    };
    results(
        "results: run_id",
        None,
        ResultFilter {
            run_id: Some(seeded.busy_run),
            ..everything.clone()
        },
    );
    results(
        "results: job_id & target",
        None,
        ResultFilter {
            target: Some(seeded.busy_target.clone()),
            ..by_job.clone()
        },
    );
    results(
        "results: target (all jobs)",
        None,
        ResultFilter {
            target: Some(seeded.busy_target.clone()),
            ..everything.clone()
        },
    );
    // An hour in the middle of the busy runs (a day back with the default sizes).
    let from = seeded.now - TimeDelta::hours((seeded.busy_hours / 2 + 1).min(24) as i64);
    let range = ResultFilter {
        from: Some(from),
        to: Some(from + TimeDelta::hours(1)),
        ..everything
    };
    results("results: from/to 1 h (all jobs)", None, range.clone());
    results(
        "results: job_id & from/to 1 h",
        None,
        ResultFilter {
            job_id: Some(job),
            ..range
        },
    );

    // Runs.
    list(
        "runs: job_id (busy job)",
        format!("{base}/api/v1/runs?job_id={job}&limit=100"),
        Anchor::Sql(vec![runs_sql(Some(job))]),
    );
    list(
        "runs: all, newest first",
        format!("{base}/api/v1/runs?limit=100"),
        Anchor::Sql(vec![runs_sql(None)]),
    );

    out.push(Query {
        name: "series: busy job, rtt_avg_ms, 24 h by 1 h".into(),
        url: format!("{base}/api/v1/jobs/{job}/series?field=rtt_avg_ms&step=1h"),
        class: Class::Aggregate,
        anchor: Anchor::Sql(vec![series_sql(job, "rtt_avg_ms", 3600, Utc::now())]),
    });
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// Measuring

/// What `wrk --latency` reports.
#[derive(Debug, Clone, Copy, Default)]
struct WrkFigures {
    p50_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
    requests_per_s: f64,
    requests: u64,
}

/// `1.23ms`, `456.00us`, `1.02s`, `2.00m` in milliseconds.
fn wrk_duration_ms(text: &str) -> Option<f64> {
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let scale = match unit {
        "us" => 0.001,
        "ms" => 1.0,
        "s" => 1000.0,
        "m" => 60_000.0,
        _ => return None,
    };
    Some(number * scale)
}

fn parse_wrk(output: &str) -> anyhow::Result<WrkFigures> {
    let mut figures = WrkFigures::default();
    let mut in_distribution = false;
    for line in output.lines() {
        let line = line.trim();
        if line.starts_with("Latency Distribution") {
            in_distribution = true;
            continue;
        }
        if in_distribution {
            let mut parts = line.split_whitespace();
            let (Some(pct), Some(value)) = (parts.next(), parts.next()) else {
                continue;
            };
            let value = wrk_duration_ms(value);
            match (pct, value) {
                ("50%", Some(v)) => figures.p50_ms = v,
                ("90%", Some(v)) => figures.p90_ms = v,
                ("99%", Some(v)) => {
                    figures.p99_ms = v;
                    in_distribution = false;
                }
                _ => {}
            }
        }
        if let Some(rate) = line.strip_prefix("Requests/sec:") {
            figures.requests_per_s = rate.trim().parse()?;
        }
        if line.contains(" requests in ") {
            figures.requests = line
                .split_whitespace()
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or_default();
        }
        ensure!(
            !line.starts_with("Non-2xx"),
            "wrk saw failed responses: {line}"
        );
    }
    ensure!(
        figures.requests > 0,
        "no request completed within wrk's duration (raise OC_BENCH_WRK_SECONDS):\n{output}"
    );
    ensure!(figures.p99_ms > 0.0, "cannot read wrk's output:\n{output}");
    Ok(figures)
}

/// Loads `url` with `wrk`, sending `token` as bearer (without it every answer is a 401,
/// which [`parse_wrk`] refuses as non-2xx).
fn wrk(
    url: &str,
    token: &str,
    threads: u32,
    connections: u32,
    seconds: u32,
) -> anyhow::Result<WrkFigures> {
    let out = Command::new("wrk")
        .args([
            &format!("-t{threads}"),
            &format!("-c{connections}"),
            &format!("-d{seconds}s"),
            "--timeout",
            "10s",
            "--latency",
            "-H",
            &format!("Authorization: Bearer {token}"),
            url,
        ])
        .stdin(Stdio::null())
        .output()
        .context("running wrk (scripts/install-deps.sh installs it)")?;
    let text = String::from_utf8_lossy(&out.stdout);
    ensure!(
        out.status.success(),
        "wrk failed ({}): {text}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    ensure!(
        !text.contains("Socket errors"),
        "wrk saw socket errors:\n{text}"
    );
    parse_wrk(&text)
}

/// PostgreSQL's execution time of an anchor and its plan.
#[derive(Debug, Clone, Default)]
struct AnchorFigures {
    /// Median execution time over the last half of the executions, summed over the
    /// statements of the query.
    exec_ms: f64,
    plans: Vec<String>,
}

/// Prepares each statement and runs `EXPLAIN (ANALYZE, BUFFERS) EXECUTE` on it
/// [`ANCHOR_EXECUTIONS`] times in one session, as one pooled connection would run it.
fn anchor(url: &str, statements: &[Prepared]) -> anyhow::Result<AnchorFigures> {
    let mut figures = AnchorFigures::default();
    for (i, p) in statements.iter().enumerate() {
        let name = format!("bench_q{i}");
        let mut commands = vec![format!(
            "PREPARE {name} ({}) AS {}",
            p.types.join(", "),
            p.sql
        )];
        let execute = format!(
            "EXPLAIN (ANALYZE, BUFFERS) EXECUTE {name} ({})",
            p.args.join(", ")
        );
        commands.extend(std::iter::repeat_n(execute, ANCHOR_EXECUTIONS));
        let commands: Vec<&str> = commands.iter().map(String::as_str).collect();
        let output = psql(url, &commands)?;
        let mut times = Vec::new();
        let mut plan = Vec::new();
        let mut last_plan = String::new();
        for line in output.lines() {
            plan.push(line);
            if let Some(ms) = line.strip_prefix("Execution Time:") {
                times.push(ms.trim().trim_end_matches("ms").trim().parse::<f64>()?);
                last_plan = plan.join("\n");
                plan.clear();
            }
        }
        ensure!(
            times.len() == ANCHOR_EXECUTIONS,
            "cannot read EXPLAIN ANALYZE output:\n{output}"
        );
        figures.exec_ms += median(times[ANCHOR_EXECUTIONS / 2..].to_vec());
        figures.plans.push(format!("{}\n{last_plan}", p.sql.trim()));
    }
    Ok(figures)
}

/// [`anchor`] for a result query: the store's own `EXPLAIN ANALYZE` of the statements it
/// runs, [`ANCHOR_EXECUTIONS`] times.
async fn store_anchor(store: &PgStore, filter: &ResultFilter) -> anyhow::Result<AnchorFigures> {
    let mut times = Vec::new();
    let mut last_plan = String::new();
    for _ in 0..ANCHOR_EXECUTIONS {
        last_plan = store.explain_query_results(filter).await?;
        // One plan per statement the store ran; their execution times add up.
        let statement_ms: Vec<f64> = last_plan
            .lines()
            .filter_map(|line| line.trim().strip_prefix("Execution Time:"))
            .filter_map(|ms| ms.trim().trim_end_matches("ms").trim().parse::<f64>().ok())
            .collect();
        ensure!(
            !statement_ms.is_empty(),
            "cannot read EXPLAIN ANALYZE output:\n{last_plan}"
        );
        times.push(statement_ms.iter().sum());
    }
    Ok(AnchorFigures {
        exec_ms: median(times[ANCHOR_EXECUTIONS / 2..].to_vec()),
        plans: vec![format!("{filter:?}\n{last_plan}")],
    })
}

struct Measured {
    name: String,
    class: Class,
    items: usize,
    bytes: usize,
    loaded: WrkFigures,
    single: Option<WrkFigures>,
    anchor: AnchorFigures,
    controller_cpu_s: f64,
}

async fn measure(
    settings: &Settings,
    client: &reqwest::Client,
    controller: &mut Controller,
    db: &TestDb,
    store: &PgStore,
    queries: Vec<Query>,
) -> anyhow::Result<Vec<Measured>> {
    let mut out = Vec::new();
    for q in queries {
        if !settings.only.is_empty() && !settings.only.iter().any(|o| q.name.contains(o)) {
            continue;
        }
        let (page, bytes) = get_json(client, &q.url).await?;
        let items = match q.class {
            Class::List => page_of(&page).0.len(),
            Class::Aggregate => page["points"].as_array().map_or(0, Vec::len),
        };
        ensure!(items > 0, "{}: no items from {}", q.name, q.url);
        if settings.warm_up_seconds > 0 {
            wrk(
                &q.url,
                &controller.token,
                settings.wrk_threads,
                settings.wrk_connections,
                settings.warm_up_seconds,
            )?;
        }
        let cpu_before = cpu_seconds(controller.child.id());
        let loaded = wrk(
            &q.url,
            &controller.token,
            settings.wrk_threads,
            settings.wrk_connections,
            settings.wrk_seconds,
        )?;
        let controller_cpu_s = cpu_seconds(controller.child.id()) - cpu_before;
        let single = if settings.single_seconds > 0 {
            Some(wrk(
                &q.url,
                &controller.token,
                1,
                1,
                settings.single_seconds,
            )?)
        } else {
            None
        };
        controller.check_alive()?;
        let anchor = match &q.anchor {
            Anchor::Sql(statements) => anchor(db.url(), statements)?,
            Anchor::Store(filter) => store_anchor(store, filter).await?,
        };
        println!(
            "{}: {items} items, {bytes} bytes; {} connections: p50 {:.1} ms, p90 {:.1} ms, \
             p99 {:.1} ms, {:.0} req/s, controller CPU {:.0}%; one connection: p50 {} ms, \
             p99 {} ms; PostgreSQL execution {:.2} ms",
            q.name,
            settings.wrk_connections,
            loaded.p50_ms,
            loaded.p90_ms,
            loaded.p99_ms,
            loaded.requests_per_s,
            100.0 * controller_cpu_s / f64::from(settings.wrk_seconds),
            single.map_or_else(|| "-".into(), |s| format!("{:.2}", s.p50_ms)),
            single.map_or_else(|| "-".into(), |s| format!("{:.2}", s.p99_ms)),
            anchor.exec_ms
        );
        out.push(Measured {
            name: q.name,
            class: q.class,
            items,
            bytes,
            loaded,
            single,
            anchor,
            controller_cpu_s,
        });
    }
    Ok(out)
}

/// CPU seconds (user + system) a process has used, from `/proc/<pid>/stat`.
fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command (which may hold spaces) start after the last ')'.
    let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
        return 0.0;
    };
    let fields: Vec<f64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|f| f.parse().ok())
        .collect();
    // USER_HZ is 100 on Linux.
    fields.iter().sum::<f64>() / 100.0
}

// ---------------------------------------------------------------------------------------
// Helpers and report

/// Runs `psql` with each of `commands` as its own `-c` (one session) against `url`.
fn psql(url: &str, commands: &[&str]) -> anyhow::Result<String> {
    let mut cmd = Command::new("psql");
    cmd.args(["-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-d", url]);
    for c in commands {
        cmd.args(["-c", c]);
    }
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .context("running psql (installed with PostgreSQL)")?;
    ensure!(
        out.status.success(),
        "psql failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

fn thousands(n: f64) -> String {
    let digits = (n.round() as u64).to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn report(settings: &Settings, seeded: &Seeded, measured: &[Measured]) {
    println!();
    println!(
        "Data: {} jobs (enabled, one-minute schedules), {} results; controller scheduler \
         off during the measurement. Load: wrk -t{} -c{} -d{}s --latency (after a {} s \
         warm-up); one connection: wrk -t1 -c1 -d{}s.",
        thousands(settings.jobs as f64),
        thousands(settings.results as f64),
        settings.wrk_threads,
        settings.wrk_connections,
        settings.wrk_seconds,
        settings.warm_up_seconds,
        settings.single_seconds
    );
    println!();
    println!("| seeding step | time |");
    println!("|---|---|");
    for (what, took) in &seeded.timings {
        println!("| {what} | {:.1} s |", took.as_secs_f64());
    }
    for class in [Class::List, Class::Aggregate] {
        println!();
        println!(
            "| query | items | bytes | p50 ms | p90 ms | p99 ms | req/s | controller CPU | 1 conn \
             p50 / p99 ms | PostgreSQL exec ms | API ÷ SQL | p99 ≤ {GOAL_P99_MS:.0} ms? |"
        );
        println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
        for m in measured.iter().filter(|m| m.class == class) {
            let single = m.single.map_or_else(
                || "—".to_owned(),
                |s| format!("{:.2} / {:.2}", s.p50_ms, s.p99_ms),
            );
            let ratio = m.single.map_or_else(
                || "—".to_owned(),
                |s| format!("{:.1}", s.p50_ms / m.anchor.exec_ms.max(0.001)),
            );
            let met = match (class, m.loaded.p99_ms <= GOAL_P99_MS) {
                (Class::Aggregate, true) => "yes (not a list query)",
                (Class::Aggregate, false) => "no (not a list query)",
                (Class::List, true) => "yes",
                (Class::List, false) => "**no**",
            };
            println!(
                "| {} | {} | {} | {:.1} | {:.1} | {:.1} | {} | {:.0} % | {single} | {:.2} | {ratio} \
                 | {met} |",
                m.name,
                m.items,
                thousands(m.bytes as f64),
                m.loaded.p50_ms,
                m.loaded.p90_ms,
                m.loaded.p99_ms,
                thousands(m.loaded.requests_per_s),
                100.0 * m.controller_cpu_s / f64::from(settings.wrk_seconds),
                m.anchor.exec_ms,
            );
        }
    }
    println!();
    println!(
        "API ÷ SQL: the one-connection p50 over PostgreSQL's median execution time of the \
         store's statements (EXPLAIN ANALYZE of the prepared statement after {} executions; \
         excludes the round trip, row transfer and JSON)",
        ANCHOR_EXECUTIONS / 2
    );
    let mut worst: Vec<&Measured> = measured.iter().collect();
    worst.sort_by(|a, b| b.anchor.exec_ms.total_cmp(&a.anchor.exec_ms));
    let over: Vec<&&Measured> = worst
        .iter()
        .filter(|m| m.class == Class::List && m.loaded.p99_ms > GOAL_P99_MS)
        .collect();
    let shown: Vec<&&Measured> = if settings.all_plans {
        worst.iter().collect()
    } else if over.is_empty() {
        // The two heaviest, so the anchor's plan is on record.
        worst.iter().take(2).collect()
    } else {
        over
    };
    for m in shown {
        println!();
        println!(
            "plan of {} (p99 {:.1} ms, PostgreSQL {:.2} ms, controller CPU {:.1} s over the \
             loaded run):",
            m.name, m.loaded.p99_ms, m.anchor.exec_ms, m.controller_cpu_s
        );
        for plan in &m.anchor.plans {
            println!("{plan}");
            println!();
        }
    }
}

// ---------------------------------------------------------------------------------------

async fn bench() -> anyhow::Result<()> {
    let settings = Settings::from_env()?;
    println!("{settings:?}");
    let (store, db) = fresh_database().await;
    println!("database {}", db.name());
    let seeded = seed(&store, &db, &settings).await?;

    let prefix = format!(
        "oc-bench-rest-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    let mut dir = tempfile::Builder::new()
        .prefix("oc-bench-rest-")
        .tempdir()?;
    let result = async {
        let mut controller = start_controller(&settings, &db, &prefix, dir.path()).await?;
        let client = api_client(Some(&controller.token))?;
        println!(
            "controller on {} (scheduler off: it would fire the {} one-minute jobs during \
             the measurement); log {}",
            controller.http,
            settings.jobs,
            controller.log.display()
        );
        let queries = queries(&client, &controller, &seeded).await?;
        let measured = measure(&settings, &client, &mut controller, &db, &store, queries).await;
        drop(controller);
        measured
    }
    .await;
    if result.is_err() || std::env::var_os("OC_BENCH_KEEP_LOGS").is_some() {
        dir.disable_cleanup(true);
        println!("controller log kept in {}", dir.path().display());
    }
    let config = opsconductor_queue::QueueConfig {
        url: settings.amqp_url.clone(),
        prefix,
        ..opsconductor_queue::QueueConfig::default()
    };
    if let Err(e) = opsconductor_queue::delete_topology(&config, &["default"]).await {
        println!("could not delete queue topology {}: {e}", config.prefix);
    }
    drop(store);
    if settings.keep_db {
        println!(
            "database {} kept (OC_BENCH_KEEP_DB): drop it when done",
            db.name()
        );
        std::mem::forget(db);
    } else {
        drop(db);
    }
    report(&settings, &seeded, &result?);
    Ok(())
}

fn main() -> ExitCode {
    opsconductor_bench::run_benchmark(bench())
}
