//! The pipeline benchmark: the figures of the issue's benchmark section, measured on the
//! real processes, each next to its anchor from the same run.
//!
//! ```text
//! make bench-pipeline
//! # = cargo build --release --locked -p opsconductor -p opsconductor-bench
//! #   && target/release/opsconductor-bench
//! ```
//!
//! Phases:
//!
//! 1. **Pipeline.** A fresh database, a random queue prefix, `opsconductor controller` and
//!    one `opsconductor agent` (segment `default`) started from the release binary next to
//!    this one. A ping job over `127.0.0.0/16` (65,534 targets, one echo, 200 ms timeout) is
//!    run now through REST: the time from the run request until the run is no longer
//!    queued/running (polled every 20 ms), and — from the run's own timestamps — until the
//!    statement that stored its last result. Dispatch is the time from the request until
//!    the broker confirmed the last chunk: `max(published_at)` of the run's chunks (the
//!    relay marks one round's confirms in one statement; the store leaves `published_at`
//!    empty on a chunk the agent started before that mark, so those are counted and
//!    printed, not timed). Each timed run alternates with
//!    `fping -i 0 -r 0 -t 200 -g 127.0.0.0/16` (the anchor); one untimed warm-up run of a
//!    /24 goes first. Per run, the CPU seconds of controller, agent, PostgreSQL, RabbitMQ,
//!    everything else and fping are printed (where the time goes). Peak RSS (`VmHWM`) of
//!    both children is read after the runs.
//! 2. **Ingest.** In-process, a second fresh database: a run of 200,000 targets × 1 action
//!    created through the store, then 200,000 ping results (copies of a real result of
//!    phase 1) ingested with `PgStore::ingest_results` by 4 concurrent tasks in batches of
//!    1,000, as agents send them. Anchor: the same rows as CSV through
//!    `psql -c "\copy … from stdin csv"` into an unindexed plain table (psql's own start-up,
//!    measured with `select 1`, is subtracted).
//!
//! Needs PostgreSQL (`OPSCONDUCTOR_TEST_DATABASE_URL`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`), RabbitMQ on `OC_BENCH_AMQP_URL` (default
//! `amqp://guest:guest@127.0.0.1:5672/%2f`), `fping` and `psql` on the PATH, and an ICMP
//! socket for the agent (root, CAP_NET_RAW or `net.ipv4.ping_group_range`).
//!
//! Knobs (environment): `OC_BENCH_RUNS` (timed /16 runs, default 3), `OC_BENCH_CIDR`
//! (loopback only, default `127.0.0.0/16`), `OC_BENCH_CHUNK_SIZE` (default 1000),
//! `OC_BENCH_CONCURRENCY` (job option, default 4096), `OC_BENCH_AGENT_CHUNKS` (agent
//! `max_chunks_in_flight`, default 4), `OC_BENCH_AGENT_CONCURRENCY` (agent
//! `max_concurrency`, default 4096), `OC_BENCH_AGENT_BATCH` (agent `batch_max_results`,
//! default 1000), `OC_BENCH_INGEST_RESULTS` (default 200000), `OC_BENCH_INGEST_TASKS`
//! (default 4), `OC_BENCH_INGEST_BATCH` (default 1000), `OC_BENCH_PHASES`
//! (`pipeline,ingest`), `OC_BENCH_BINARY` (default: `opsconductor` next to this binary),
//! `OC_BENCH_KEEP_LOGS` (set: keep the children's logs after a successful run too).
//!
//! Exits non-zero only when the harness itself fails (a process does not start, a run
//! loses results, …); a missed goal is reported in the table, not as a failure.

#![expect(clippy::print_stdout, reason = "a benchmark reports on stdout")]

use opsconductor_store::prelude::*;
use std::net::Ipv4Addr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail, ensure};
use chrono::{DateTime, Utc};
use opsconductor_bench::harness::{
    Processes, World, env_or, loopback_targets, psql, psql_scalar, wait_for_broker,
};
use opsconductor_bench::measure::{
    CpuSample, FpingTiming, fping, median, met, opt_secs, range, since, thousands,
};
use opsconductor_core::ids::{AgentId, ChunkId, JobId, RunId};
use opsconductor_core::model::{JobSpec, ResultRecord, ResultStatus, Run, RunStatus, RunTrigger};
use opsconductor_store::testing::fresh_database;
use opsconductor_store::{ChunkState, NewChunk, NewRun};
use serde_json::{Map, Value, json};

/// fping's reply timeout and ours (milliseconds).
const PING_TIMEOUT_MS: u64 = 200;
/// How often the run is polled.
const POLL_EVERY: Duration = Duration::from_millis(20);
/// Longest a timed run may take before the harness gives up.
const RUN_LIMIT: Duration = Duration::from_secs(600);
/// The warm-up run's range (untimed): connects the relay's publisher, declares the queue,
/// starts the agent's consumer.
const WARM_UP_CIDR: &str = "127.255.255.0/24";

// Goals of the issue's benchmark section.
const GOAL_E2E_RATIO: f64 = 2.0;
const GOAL_INGEST_PER_S: f64 = 100_000.0;
const GOAL_DISPATCH_S: f64 = 1.0;
const GOAL_CONTROLLER_MB: f64 = 200.0;
const GOAL_AGENT_MB: f64 = 64.0;

/// The harness's settings, from the environment.
#[derive(Debug, Clone)]
struct Settings {
    runs: usize,
    cidr: String,
    chunk_size: u32,
    concurrency: u32,
    ingest_results: usize,
    ingest_tasks: usize,
    ingest_batch: usize,
    pipeline: bool,
    ingest: bool,
    processes: Processes,
}

impl Settings {
    fn from_env() -> anyhow::Result<Self> {
        let phases = std::env::var("OC_BENCH_PHASES").unwrap_or_else(|_| "pipeline,ingest".into());
        let phases: Vec<&str> = phases.split(',').map(str::trim).collect();
        Ok(Self {
            runs: env_or("OC_BENCH_RUNS", 3_usize).max(1),
            cidr: std::env::var("OC_BENCH_CIDR").unwrap_or_else(|_| "127.0.0.0/16".into()),
            chunk_size: env_or("OC_BENCH_CHUNK_SIZE", 1000),
            concurrency: env_or("OC_BENCH_CONCURRENCY", 4096),
            ingest_results: env_or("OC_BENCH_INGEST_RESULTS", 200_000_usize).max(1),
            ingest_tasks: env_or("OC_BENCH_INGEST_TASKS", 4_usize).max(1),
            ingest_batch: env_or("OC_BENCH_INGEST_BATCH", 1000_usize).max(1),
            pipeline: phases.contains(&"pipeline"),
            ingest: phases.contains(&"ingest"),
            processes: Processes::from_env()?,
        })
    }
}

// ---------------------------------------------------------------------------------------
// Phase 1: the pipeline

/// Creates the ping job over `cidr` and returns its id.
async fn create_ping_job(
    world: &World,
    name: &str,
    cidr: &str,
    settings: &Settings,
) -> anyhow::Result<JobId> {
    let job = world
        .post(
            "/api/v1/jobs",
            json!({
                "name": name,
                "schedule": {"type": "manual"},
                "targets": {"include": [{"type": "range", "value": cidr}]},
                "actions": [{
                    "command": "ping.icmp",
                    "params": {"count": 1, "timeout_ms": PING_TIMEOUT_MS}
                }],
                "options": {
                    "chunk_size": settings.chunk_size,
                    "concurrency": settings.concurrency
                }
            }),
        )
        .await?;
    let id = job["id"]
        .as_str()
        .ok_or_else(|| anyhow!("no id in {job}"))?;
    id.parse()
        .map_err(|_| anyhow!("job id {id:?} is not an id"))
}

/// Runs the job now and waits for the run to end; times it.
async fn timed_run(world: &mut World, job: JobId) -> anyhow::Result<RunTiming> {
    let requested_at = Utc::now();
    let t0 = Instant::now();
    let run: Run = serde_json::from_value(
        world
            .post(&format!("/api/v1/jobs/{job}/runs"), json!({}))
            .await?,
    )
    .context("the run-now response")?;
    let accepted = t0.elapsed();
    let path = format!("/api/v1/runs/{}", run.id);
    let run = loop {
        let run: Run = serde_json::from_value(world.get(&path).await?).context("GET run")?;
        if !matches!(run.status, RunStatus::Queued | RunStatus::Running) {
            break run;
        }
        if t0.elapsed() > RUN_LIMIT {
            bail!(
                "run {} still {:?} after {RUN_LIMIT:?}: {:?}",
                run.id,
                run.status,
                run.counters
            );
        }
        world.controller_mut()?.check_alive()?;
        world.agent_mut()?.check_alive()?;
        tokio::time::sleep(POLL_EVERY).await;
    };
    let polled = t0.elapsed();
    ensure!(
        run.status == RunStatus::Completed,
        "run {} ended {:?}: {:?}",
        run.id,
        run.status,
        run.reason
    );

    let chunks = world.store().chunks_for_run(run.id).await?;
    // The run completes with its last stored result; the agent's "chunk finished" event
    // may still be on its way, so a chunk may still be running here.
    let failed = chunks
        .iter()
        .filter(|c| {
            matches!(
                c.state,
                ChunkState::Pending | ChunkState::Dead | ChunkState::Cancelled
            )
        })
        .count();
    ensure!(
        failed == 0,
        "{failed} of {} chunks are pending, dead or cancelled",
        chunks.len()
    );
    // The store sets published_at only on a chunk still pending when the relay marks
    // the confirmed batch; a chunk the agent started first keeps it empty. The relay
    // marks one round's confirms in one statement, so such a chunk was confirmed no
    // later than the chunks of its round that have the mark.
    let unmarked = chunks.iter().filter(|c| c.published_at.is_none()).count();
    let last_published = chunks.iter().filter_map(|c| c.published_at).max();
    let first_published = chunks.iter().filter_map(|c| c.published_at).min();
    let stored = world.store().count_results(run.id).await?;
    ensure!(
        stored == run.counters.total,
        "run {}: {stored} results stored, {} expected",
        run.id,
        run.counters.total
    );
    let finished_at = run
        .finished_at
        .ok_or_else(|| anyhow!("completed run without finished_at"))?;
    // The statement that stored the first results (stored_at is its transaction's now()).
    let first_stored = psql_scalar(
        world.db_url(),
        &format!(
            "SELECT to_char(min(stored_at) AT TIME ZONE 'UTC', \
                 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') FROM results WHERE run_id = '{}'",
            run.id
        ),
    )
    .ok()
    .and_then(|text| text.parse::<DateTime<Utc>>().ok());
    Ok(RunTiming {
        run_id: run.id,
        accepted,
        polled,
        created: since(requested_at, run.scheduled_for),
        first_published: first_published.map(|at| since(requested_at, at)),
        dispatched: last_published.map(|at| since(requested_at, at)),
        agent_started: run.started_at.map(|at| since(requested_at, at)),
        first_stored: first_stored.map(|at| since(requested_at, at)),
        committed: since(requested_at, finished_at),
        chunks: chunks.len(),
        unmarked,
        total: run.counters.total,
        ok: run.counters.ok,
        counters: run.counters,
    })
}

/// When some results of `run` are not ok: one example reason per status, so a noisy
/// run says what happened to its targets.
async fn not_ok_summary(world: &World, run: RunId) -> anyhow::Result<String> {
    let mut examples: std::collections::BTreeMap<&'static str, String> = Default::default();
    for r in world.store().results_for_run(run).await? {
        if r.status != ResultStatus::Ok {
            examples.entry(r.status.as_str()).or_insert_with(|| {
                let reason = r
                    .reason
                    .or_else(|| r.fields.get("error").map(ToString::to_string))
                    .unwrap_or_default();
                format!("{}: {reason}", r.target)
            });
        }
    }
    Ok(examples
        .iter()
        .map(|(status, example)| format!("e.g. {status} {example}"))
        .collect::<Vec<_>>()
        .join("; "))
}

/// A stored result of `run`, as a template for the ingest phase.
async fn sample_result(world: &World, run: RunId) -> anyhow::Result<ResultRecord> {
    let results = world.store().results_for_run(run).await?;
    results
        .into_iter()
        .find(|r| r.status == ResultStatus::Ok)
        .ok_or_else(|| anyhow!("run {run} has no ok result"))
}

/// One timed run, every time relative to the run request.
#[derive(Debug, Clone)]
struct RunTiming {
    run_id: RunId,
    /// The run-now response arrived (plan + run/chunks/outbox written).
    accepted: Duration,
    /// The poll saw the run end.
    polled: Duration,
    /// `created_at` of the run (seconds).
    created: f64,
    /// The broker confirmed the first chunk.
    first_published: Option<f64>,
    /// The broker confirmed the last chunk.
    dispatched: Option<f64>,
    /// The agent started the first chunk.
    agent_started: Option<f64>,
    /// The first result batch was stored.
    first_stored: Option<f64>,
    /// The statement storing the last results (it completes the run) started.
    committed: f64,
    chunks: usize,
    /// Chunks the agent started before the relay marked them published.
    unmarked: usize,
    total: u64,
    ok: u64,
    counters: opsconductor_core::model::RunCounters,
}

struct PipelineFigures {
    runs: Vec<RunTiming>,
    fping: Vec<FpingTiming>,
    controller_peak: u64,
    agent_peak: u64,
    sample: ResultRecord,
}

async fn pipeline(settings: &Settings) -> anyhow::Result<PipelineFigures> {
    settings.processes.check_binary()?;
    loopback_targets(&settings.cidr)?;
    wait_for_broker(&settings.processes.amqp_url).await?;

    let mut world = World::new(&settings.processes).await?;
    let result = pipeline_in(&mut world, settings).await;
    if std::env::var_os("OC_BENCH_KEEP_LOGS").is_some() {
        world.keep_logs();
    }
    if result.is_err() {
        world.keep_logs();
        println!(
            "pipeline failed; logs kept in {} (controller.log, agent.log)",
            world.logs_dir().display()
        );
    }
    result
}

async fn pipeline_in(world: &mut World, settings: &Settings) -> anyhow::Result<PipelineFigures> {
    println!("logs: {}", world.logs_dir().display());
    world.start_controller().await?;
    world.start_agent().await?;

    let warm_up = create_ping_job(world, "bench warm-up", WARM_UP_CIDR, settings).await?;
    let warm = timed_run(world, warm_up).await?;
    println!(
        "warm-up run of {WARM_UP_CIDR}: {} results in {:.3} s",
        warm.total,
        warm.polled.as_secs_f64()
    );

    let job = create_ping_job(world, "bench sweep", &settings.cidr, settings).await?;
    let mut runs = Vec::new();
    let mut sweeps = Vec::new();
    for i in 0..settings.runs {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let sweep = fping(&settings.cidr, PING_TIMEOUT_MS)?;
        println!(
            "[{}] fping: {:.3} s, {} hosts answered, CPU s: fping {}",
            i + 1,
            sweep.elapsed.as_secs_f64(),
            sweep.alive,
            sweep
                .cpu
                .map_or_else(|| "?".to_owned(), |c| format!("{c:.2}"))
        );
        sweeps.push(sweep);
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (controller_pid, agent_pid) = (world.controller_mut()?.pid(), world.agent_mut()?.pid());
        let cpu_before = CpuSample::take(controller_pid, agent_pid);
        let run = timed_run(world, job).await?;
        let cpu = CpuSample::take(controller_pid, agent_pid).since(cpu_before);
        println!(
            "[{}] run {}: {} results ({} ok) in {} chunks ({} started before marked published); accepted {:.3} s, created {:+.3} s, \
             published {} – {}, agent started {}, first stored {}, last stored {:.3} s, \
             poll saw it end {:.3} s",
            i + 1,
            run.run_id,
            run.total,
            run.ok,
            run.chunks,
            run.unmarked,
            run.accepted.as_secs_f64(),
            run.created,
            opt_secs(run.first_published),
            opt_secs(run.dispatched),
            opt_secs(run.agent_started),
            opt_secs(run.first_stored),
            run.committed,
            run.polled.as_secs_f64(),
        );
        println!("[{}] {}", i + 1, cpu.describe());
        if run.ok < run.total {
            println!(
                "[{}] not ok: {:?}; {}",
                i + 1,
                run.counters,
                not_ok_summary(world, run.run_id).await?
            );
        }
        runs.push(run);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let sweep = fping(&settings.cidr, PING_TIMEOUT_MS)?;
    println!(
        "[end] fping: {:.3} s, {} hosts answered, CPU s: fping {}",
        sweep.elapsed.as_secs_f64(),
        sweep.alive,
        sweep
            .cpu
            .map_or_else(|| "?".to_owned(), |c| format!("{c:.2}"))
    );
    sweeps.push(sweep);

    let controller_peak = world.controller_mut()?.peak_rss_bytes()?;
    let agent_peak = world.agent_mut()?.peak_rss_bytes()?;
    let last = runs
        .last()
        .map(|r| r.run_id)
        .ok_or_else(|| anyhow!("no run"))?;
    let sample = sample_result(world, last).await?;
    Ok(PipelineFigures {
        runs,
        fping: sweeps,
        controller_peak,
        agent_peak,
        sample,
    })
}

// ---------------------------------------------------------------------------------------
// Phase 2: ingest

struct IngestFigures {
    results: usize,
    ours: Duration,
    copy: Duration,
    psql_start: Duration,
}

/// A ping result like the agent sends, used when phase 1 did not run.
fn built_in_sample() -> ResultRecord {
    let fields = json!({
        "sent": 1, "received": 1, "loss_pct": 0.0,
        "rtt_min_ms": 0.041, "rtt_avg_ms": 0.041, "rtt_max_ms": 0.041, "rtt_mdev_ms": 0.0,
        "jitter_ms": 0.0, "rtts_ms": [0.041]
    });
    let timings = json!({"echoes": 0.05});
    ResultRecord {
        run_id: RunId::new(),
        target: "127.0.0.1".into(),
        action_index: 0,
        status: ResultStatus::Ok,
        started_at: Utc::now(),
        duration_ms: 0.06,
        timings: timings.as_object().cloned().unwrap_or_default(),
        fields: fields.as_object().cloned().unwrap_or_default(),
        rows: Vec::new(),
        raw_excerpt: Some(
            "PING 127.0.0.1: 1 packets transmitted, 1 received, 0% packet loss, time 0ms\n\
             rtt min/avg/max/mdev = 0.041/0.041/0.041/0.000 ms"
                .into(),
        ),
        reason: None,
        agent_id: None,
    }
}

/// The `n`-th ingest target: 10.0.0.1, 10.0.0.2, …
fn ingest_target(n: usize) -> String {
    let base = u32::from(Ipv4Addr::new(10, 0, 0, 1));
    Ipv4Addr::from(base + u32::try_from(n).unwrap_or(u32::MAX)).to_string()
}

async fn ingest(settings: &Settings, sample: &ResultRecord) -> anyhow::Result<IngestFigures> {
    let (store, db) = fresh_database().await;
    let n = settings.ingest_results;
    let batch = settings.ingest_batch;
    let targets: Vec<String> = (0..n).map(ingest_target).collect();

    let spec: JobSpec = serde_json::from_value(json!({
        "name": "bench ingest",
        "schedule": {"type": "manual"},
        "targets": {"include": [{"type": "range", "value": "10.0.0.0/8"}], "allow_large": true},
        "actions": [{"command": "ping.icmp", "params": {"count": 1, "timeout_ms": PING_TIMEOUT_MS}}]
    }))?;
    let job = store.create_job(&spec).await?;
    let now = Utc::now();
    let chunks: Vec<NewChunk> = targets
        .chunks(batch)
        .enumerate()
        .map(|(seq, part)| NewChunk {
            id: ChunkId::new(),
            segment: "default".into(),
            seq: u32::try_from(seq).unwrap_or(u32::MAX),
            targets: part.to_vec(),
            action_count: 1,
            payload: Vec::new(),
        })
        .collect();
    let chunk_ids: Vec<ChunkId> = chunks.iter().map(|c| c.id).collect();
    let run_id = RunId::new();
    store
        .create_run(&NewRun {
            id: run_id,
            job_id: job.id,
            job_version: job.version,
            trigger: RunTrigger::Manual,
            scheduled_for: now,
            created_at: now,
            deadline_at: now + chrono::Duration::hours(1),
            job_spec: spec,
            chunks,
        })
        .await?;

    let agent = AgentId::new();
    let batches: Vec<Vec<ResultRecord>> = targets
        .chunks(batch)
        .map(|part| {
            part.iter()
                .map(|target| ResultRecord {
                    run_id,
                    target: target.clone(),
                    started_at: Utc::now(),
                    agent_id: Some(agent),
                    raw_excerpt: sample
                        .raw_excerpt
                        .as_ref()
                        .map(|raw| raw.replace(&sample.target, target)),
                    ..sample.clone()
                })
                .collect()
        })
        .collect();
    let batches = Arc::new(batches);
    let chunk_ids = Arc::new(chunk_ids);

    // Ours: ingest_results, `tasks` batches in flight.
    let next = Arc::new(AtomicUsize::new(0));
    let t0 = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..settings.ingest_tasks {
        let (store, batches, chunk_ids, next) = (
            store.clone(),
            batches.clone(),
            chunk_ids.clone(),
            next.clone(),
        );
        tasks.spawn(async move {
            let mut inserted = 0_u64;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(batch) = batches.get(i) else {
                    return Ok::<u64, anyhow::Error>(inserted);
                };
                let outcome = store
                    .ingest_results(Some(chunk_ids[i]), Some(agent), batch)
                    .await?;
                inserted += outcome.inserted;
            }
        });
    }
    let mut inserted = 0;
    while let Some(joined) = tasks.join_next().await {
        inserted += joined??;
    }
    let ours = t0.elapsed();
    ensure!(inserted == n as u64, "{inserted} of {n} results inserted");
    let run = store.get_run(run_id).await?;
    ensure!(
        run.status == RunStatus::Completed && run.counters.ok == n as u64,
        "the ingest run ended {:?} with {:?}",
        run.status,
        run.counters
    );

    // Anchor: the same rows, CSV through psql's \copy into an unindexed plain table.
    let created_at = now;
    let mut csv = Vec::with_capacity(n * 400);
    for (batch, chunk) in batches.iter().zip(chunk_ids.iter()) {
        for r in batch {
            csv_row(&mut csv, r, created_at, *chunk);
        }
    }
    psql(
        db.url(),
        "CREATE TABLE copy_anchor (
            run_id uuid NOT NULL, run_created_at timestamptz NOT NULL, target text NOT NULL,
            action_index integer NOT NULL, status text NOT NULL, started_at timestamptz NOT NULL,
            duration_ms double precision NOT NULL, timings jsonb, fields jsonb, rows jsonb,
            raw_excerpt text, reason text, agent_id uuid, chunk_id uuid,
            stored_at timestamptz NOT NULL DEFAULT now())",
        None,
    )?;
    let t0 = Instant::now();
    psql(db.url(), "SELECT 1", None)?;
    let psql_start = t0.elapsed();
    let t0 = Instant::now();
    psql(
        db.url(),
        "\\copy copy_anchor (run_id, run_created_at, target, action_index, status, started_at, \
         duration_ms, timings, fields, rows, raw_excerpt, reason, agent_id, chunk_id) \
         from stdin csv",
        Some(&csv),
    )?;
    let copy = t0.elapsed().saturating_sub(psql_start);
    let copied: usize = psql_scalar(db.url(), "SELECT count(*) FROM copy_anchor")?.parse()?;
    ensure!(copied == n, "COPY stored {copied} of {n} rows");
    drop(store);
    drop(db);
    Ok(IngestFigures {
        results: n,
        ours,
        copy,
        psql_start,
    })
}

/// Appends one CSV field, quoted (an empty unquoted field is NULL).
fn csv_field(out: &mut Vec<u8>, value: Option<&str>) {
    if let Some(text) = value {
        out.push(b'"');
        for b in text.bytes() {
            if b == b'"' {
                out.push(b'"');
            }
            out.push(b);
        }
        out.push(b'"');
    }
}

fn json_field(map: &Map<String, Value>) -> Option<String> {
    (!map.is_empty()).then(|| Value::Object(map.clone()).to_string())
}

fn csv_row(out: &mut Vec<u8>, r: &ResultRecord, run_created_at: DateTime<Utc>, chunk: ChunkId) {
    let rows = (!r.rows.is_empty())
        .then(|| Value::Array(r.rows.iter().cloned().map(Value::Object).collect()).to_string());
    let fields: [Option<String>; 14] = [
        Some(r.run_id.to_string()),
        Some(run_created_at.to_rfc3339()),
        Some(r.target.clone()),
        Some(r.action_index.to_string()),
        Some(r.status.as_str().to_owned()),
        Some(r.started_at.to_rfc3339()),
        Some(r.duration_ms.to_string()),
        json_field(&r.timings),
        json_field(&r.fields),
        rows,
        r.raw_excerpt.clone(),
        r.reason.clone(),
        r.agent_id.map(|a| a.to_string()),
        Some(chunk.to_string()),
    ];
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        csv_field(out, field.as_deref());
    }
    out.push(b'\n');
}

// ---------------------------------------------------------------------------------------
// Report

fn report(settings: &Settings, pipe: Option<&PipelineFigures>, ingest: Option<&IngestFigures>) {
    let mut rows: Vec<[String; 6]> = Vec::new();
    if let Some(p) = pipe {
        let hosts = p.runs.first().map_or(0, |r| r.total);
        let fping: Vec<f64> = p.fping.iter().map(|f| f.elapsed.as_secs_f64()).collect();
        let fping_med = median(fping.clone());
        let polled: Vec<f64> = p.runs.iter().map(|r| r.polled.as_secs_f64()).collect();
        let committed: Vec<f64> = p.runs.iter().map(|r| r.committed).collect();
        let dispatched: Vec<f64> = p.runs.iter().filter_map(|r| r.dispatched).collect();
        let ratio_polled = median(polled.clone()) / fping_med;
        let ratio_committed = median(committed.clone()) / fping_med;
        rows.push([
            format!(
                "End-to-end ping of {} ({hosts} targets): run now → last result committed \
                 (run's `finished_at`), median of {}",
                settings.cidr,
                p.runs.len()
            ),
            range(&committed, " s", 2),
            format!("fping {}", range(&fping, " s", 2)),
            format!("{ratio_committed:.2}"),
            format!("≤ {GOAL_E2E_RATIO:.1}× fping"),
            met(ratio_committed <= GOAL_E2E_RATIO).into(),
        ]);
        rows.push([
            "same, run now → REST shows the run completed (polled every 20 ms)".into(),
            range(&polled, " s", 2),
            format!("fping {fping_med:.2} s"),
            format!("{ratio_polled:.2}"),
            format!("≤ {GOAL_E2E_RATIO:.1}× fping"),
            met(ratio_polled <= GOAL_E2E_RATIO).into(),
        ]);
        rows.push([
            format!(
                "Dispatch: {hosts} targets expanded, chunked ({} per chunk) and broker-confirmed \
                 (run now → last `published_at`)",
                settings.chunk_size
            ),
            if dispatched.is_empty() {
                "unknown: no chunk was marked published".into()
            } else {
                range(&dispatched, " s", 3)
            },
            "—".into(),
            "—".into(),
            format!("≤ {GOAL_DISPATCH_S:.0} s"),
            if dispatched.is_empty() {
                "?".into()
            } else {
                met(median(dispatched) <= GOAL_DISPATCH_S).into()
            },
        ]);
        let controller_mb = p.controller_peak as f64 / 1e6;
        let agent_mb = p.agent_peak as f64 / 1e6;
        rows.push([
            "Controller peak RSS (`VmHWM`) over the runs".into(),
            format!("{controller_mb:.0} MB"),
            "—".into(),
            "—".into(),
            format!("≤ {GOAL_CONTROLLER_MB:.0} MB"),
            met(controller_mb <= GOAL_CONTROLLER_MB).into(),
        ]);
        rows.push([
            "Agent peak RSS (`VmHWM`) over the runs".into(),
            format!("{agent_mb:.0} MB"),
            "—".into(),
            "—".into(),
            format!("≤ {GOAL_AGENT_MB:.0} MB"),
            met(agent_mb <= GOAL_AGENT_MB).into(),
        ]);
    }
    if let Some(i) = ingest {
        let ours = i.results as f64 / i.ours.as_secs_f64();
        let anchor = i.results as f64 / i.copy.as_secs_f64();
        rows.push([
            format!(
                "Ingest: {} ping results, {} tasks × batches of {} through `ingest_results`",
                thousands(i.results as f64),
                settings.ingest_tasks,
                settings.ingest_batch
            ),
            format!(
                "{} results/s ({:.2} s)",
                thousands(ours),
                i.ours.as_secs_f64()
            ),
            format!(
                "COPY csv into an unindexed table: {} rows/s ({:.2} s)",
                thousands(anchor),
                i.copy.as_secs_f64()
            ),
            format!("{:.2} (rate)", ours / anchor),
            format!("≥ {} results/s", thousands(GOAL_INGEST_PER_S)),
            met(ours >= GOAL_INGEST_PER_S).into(),
        ]);
    }

    println!();
    println!("| what | ours | anchor (same run) | ratio | goal | met? |");
    println!("|---|---|---|---|---|---|");
    for row in &rows {
        println!("| {} |", row.join(" | "));
    }
    println!();
    if let Some(p) = pipe {
        let ok: Vec<String> = p.runs.iter().map(|r| r.ok.to_string()).collect();
        let alive: Vec<String> = p.fping.iter().map(|f| f.alive.to_string()).collect();
        println!(
            "ok results per run: {} of {}; fping hosts answered: {}",
            ok.join(", "),
            p.runs.first().map_or(0, |r| r.total),
            alive.join(", ")
        );
    }
    println!(
        "settings: chunk_size {}, job concurrency {}, agent max_chunks_in_flight {}, agent \
         max_concurrency {}, agent batch_max_results {}; ratios are time ratios (ours / anchor, \
         ≤ 1 is faster) except where marked rate (> 1 is faster)",
        settings.chunk_size,
        settings.concurrency,
        settings.processes.agent_chunks,
        settings.processes.agent_concurrency,
        settings.processes.agent_batch
    );
    if let Some(i) = ingest {
        println!(
            "COPY time excludes psql's start-up and connect ({:.3} s, measured with `select 1`)",
            i.psql_start.as_secs_f64()
        );
    }
}

// ---------------------------------------------------------------------------------------

async fn bench() -> anyhow::Result<()> {
    let settings = Settings::from_env()?;
    println!("{settings:?}");
    let pipe = if settings.pipeline {
        Some(pipeline(&settings).await?)
    } else {
        None
    };
    let ingest = if settings.ingest {
        let sample = pipe
            .as_ref()
            .map_or_else(built_in_sample, |p| p.sample.clone());
        println!("ingest template: {}", serde_json::to_string(&sample)?);
        let figures = ingest(&settings, &sample).await?;
        println!(
            "ingest: {} results in {:.3} s; COPY {:.3} s",
            figures.results,
            figures.ours.as_secs_f64(),
            figures.copy.as_secs_f64()
        );
        Some(figures)
    } else {
        None
    };
    report(&settings, pipe.as_ref(), ingest.as_ref());
    Ok(())
}

fn main() -> ExitCode {
    opsconductor_bench::run_benchmark(bench())
}
