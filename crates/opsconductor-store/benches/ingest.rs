//! Result ingest throughput against a real PostgreSQL, with `COPY` as the anchor.
//!
//! A run of 200,000 targets × 1 action gets 200,000 ping-like results in batches of 2,000
//! from several concurrent tasks (as several agent sessions would send them), then the same
//! batches again (all duplicates, as after a reconnect storm). The anchor is `COPY` of the
//! same rows into a plain table without index or partitions: the fastest way PostgreSQL
//! takes rows, which ingest (with its primary key, partition routing, duplicate detection
//! and counter updates) cannot beat; the ratio says how close it gets.
//!
//! Run: `cargo bench -p opsconductor-store --bench ingest` (needs the test PostgreSQL;
//! see `opsconductor_store::testing`). `OC_BENCH_RESULTS` and `OC_BENCH_BATCH` override
//! the result count and the batch size.

#![expect(clippy::print_stdout, reason = "a benchmark reports on stdout")]

use opsconductor_store::prelude::*;
use std::error::Error;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use opsconductor_core::ids::{AgentId, ChunkId, RunId};
use opsconductor_core::model::{Job, JobSpec, ResultRecord, ResultStatus, RunTrigger};
use opsconductor_store::testing::fresh_database;
use opsconductor_store::{NewChunk, NewRun, PgStore};
use serde_json::{Map, Value, json};
use sqlx::{Connection, PgConnection};

type BenchResult<T> = Result<T, Box<dyn Error + Send + Sync>>;

const DEFAULT_RESULTS: usize = 200_000;
const DEFAULT_BATCH: usize = 2_000;
const CHUNK_SIZE: usize = 250;
const CONCURRENCY: [usize; 3] = [1, 2, 4];

#[tokio::main]
async fn main() -> BenchResult<()> {
    let results_per_run = env_or("OC_BENCH_RESULTS", DEFAULT_RESULTS);
    let batch = env_or("OC_BENCH_BATCH", DEFAULT_BATCH);
    let (store, db) = fresh_database().await;
    let spec: JobSpec = serde_json::from_value(json!({
        "name": "bench pings",
        "schedule": {"type": "interval", "seconds": 60},
        "targets": {"include": [{"type": "range", "value": "10.0.0.0/8"}]},
        "actions": [{"command": "ping.icmp"}]
    }))?;
    let job = store.create_job(&spec).await?;
    let targets: Arc<Vec<String>> = Arc::new(
        (0..results_per_run)
            .map(|i| format!("10.{}.{}.{}", i / 65_536, (i / 256) % 256, i % 256))
            .collect(),
    );

    println!(
        "{results_per_run} results per run, batches of {batch}, chunks of {CHUNK_SIZE} targets"
    );
    println!("{:<34} {:>10} {:>14}", "case", "seconds", "results/s");
    let row = |case: &str, n: usize, took: Duration| {
        let rate = n as f64 / took.as_secs_f64();
        println!("{case:<34} {:>10.3} {rate:>14.0}", took.as_secs_f64());
        rate
    };

    let mut best = 0.0_f64;
    let mut last_batches = Vec::new();
    for concurrency in CONCURRENCY {
        let started = Instant::now();
        let run = store.create_run(&new_run(&job, &targets)).await?;
        row(
            &format!("create_run ({} chunks)", targets.len().div_ceil(CHUNK_SIZE)),
            targets.len(),
            started.elapsed(),
        );
        let batches = Arc::new(batches(run.id, &targets, batch));
        let took = ingest_all(&store, &batches, concurrency).await?;
        best = best.max(row(
            &format!("ingest, {concurrency} tasks"),
            targets.len(),
            took,
        ));
        last_batches = vec![batches];
    }
    if let Some(batches) = last_batches.pop() {
        let took = ingest_all(&store, &batches, 4).await?;
        row("re-ingest (all duplicates), 4 tasks", targets.len(), took);
    }

    let copy_rate = row(
        "COPY into a plain table (anchor)",
        targets.len(),
        copy_anchor(db.url(), &targets, batch).await?,
    );
    println!(
        "best ingest / COPY = {:.2}   (goal: ingest >= 100000 results/s)",
        best / copy_rate
    );
    Ok(())
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

fn new_run(job: &Job, targets: &[String]) -> NewRun {
    let now = Utc::now();
    NewRun {
        id: RunId::new(),
        job_id: job.id,
        job_version: job.version,
        trigger: RunTrigger::Manual,
        scheduled_for: now,
        created_at: now,
        deadline_at: now + chrono::Duration::hours(1),
        job_spec: job.spec.clone(),
        chunks: targets
            .chunks(CHUNK_SIZE)
            .zip(0_u32..)
            .map(|(chunk, seq)| NewChunk {
                id: ChunkId::new(),
                segment: "default".into(),
                seq,
                targets: chunk.to_vec(),
                action_count: 1,
                payload: vec![0; 2048],
            })
            .collect(),
    }
}

/// Ping-like fields: what a ping action with its default parser produces.
fn ping_fields(i: usize) -> Map<String, Value> {
    let rtt = 0.2 + (i % 97) as f64 / 100.0;
    let Value::Object(fields) = json!({
        "packets_sent": 3,
        "packets_received": 3,
        "loss_pct": 0.0,
        "rtt_min_ms": rtt * 0.9,
        "rtt_avg_ms": rtt,
        "rtt_max_ms": rtt * 1.2,
        "rtt_mdev_ms": rtt * 0.1,
        "jitter_ms": rtt * 0.05,
    }) else {
        unreachable!("a JSON object literal")
    };
    fields
}

fn batches(run: RunId, targets: &[String], batch: usize) -> Vec<Vec<ResultRecord>> {
    let agent = AgentId::new();
    let started_at = Utc::now();
    targets
        .iter()
        .enumerate()
        .map(|(i, target)| ResultRecord {
            run_id: run,
            target: target.clone(),
            action_index: 0,
            status: if i % 50 == 0 {
                ResultStatus::Fail
            } else {
                ResultStatus::Ok
            },
            started_at,
            duration_ms: 2_000.0 + (i % 13) as f64,
            timings: Map::new(),
            fields: ping_fields(i),
            rows: Vec::new(),
            raw_excerpt: None,
            reason: None,
            agent_id: Some(agent),
        })
        .collect::<Vec<_>>()
        .chunks(batch)
        .map(<[ResultRecord]>::to_vec)
        .collect()
}

/// Ingests every batch, `concurrency` tasks taking batches round-robin.
async fn ingest_all(
    store: &PgStore,
    batches: &Arc<Vec<Vec<ResultRecord>>>,
    concurrency: usize,
) -> BenchResult<Duration> {
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|task| {
            let store = store.clone();
            let batches = Arc::clone(batches);
            tokio::spawn(async move {
                for batch in batches.iter().skip(task).step_by(concurrency) {
                    store.ingest_results(None, None, batch).await?;
                }
                Ok::<_, opsconductor_store::StoreError>(())
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    Ok(started.elapsed())
}

/// `COPY` of equivalent rows (text format, built inside the timing like a COPY-based
/// ingest would have to) into a table without index or partitions.
async fn copy_anchor(url: &str, targets: &[String], batch: usize) -> BenchResult<Duration> {
    let mut conn = PgConnection::connect(url).await?;
    sqlx::query(
        "CREATE TABLE copy_anchor (
             run_id uuid, run_created_at timestamptz, target text, action_index int,
             status text, started_at timestamptz, duration_ms double precision, fields jsonb,
             agent_id uuid, chunk_id uuid)",
    )
    .execute(&mut conn)
    .await?;
    let (run, agent, chunk) = (RunId::new(), AgentId::new(), ChunkId::new());
    let now = Utc::now().to_rfc3339();

    let started = Instant::now();
    let mut copy = conn
        .copy_in_raw("COPY copy_anchor FROM STDIN (FORMAT text)")
        .await?;
    let mut buffer = String::with_capacity(batch * 400);
    for (i, target) in targets.iter().enumerate() {
        let status = if i % 50 == 0 { "fail" } else { "ok" };
        let fields = serde_json::to_string(&ping_fields(i))?;
        let duration = 2_000.0 + (i % 13) as f64;
        writeln!(
            buffer,
            "{run}\t{now}\t{target}\t0\t{status}\t{now}\t{duration}\t{fields}\t{agent}\t{chunk}"
        )?;
        if (i + 1) % batch == 0 {
            copy.send(buffer.as_bytes()).await?;
            buffer.clear();
        }
    }
    if !buffer.is_empty() {
        copy.send(buffer.as_bytes()).await?;
    }
    copy.finish().await?;
    let took = started.elapsed();
    conn.close().await?;
    Ok(took)
}
