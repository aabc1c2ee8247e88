//! Store integration tests, against real databases: every test gets a fresh one
//! (`opsconductor_store::testing`) that is removed when it ends.
//!
//! Tests of trait behaviour are the conformance suite: written once against
//! `SharedStore` and instantiated for each backend by [`on_both_backends!`], as
//! `<test>::postgres` and `<test>::sqlite`. Tests of one backend's own machinery
//! (PostgreSQL partitions and EXPLAIN, SQLite files) use that backend's store directly.

// Helpers outside #[test] functions are not covered by clippy.toml's allow-unwrap-in-tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

/// Instantiates each named test, an `async fn(SharedStore)` of the calling module, once
/// per backend: `<test>::postgres` and `<test>::sqlite`, each on a fresh database.
macro_rules! on_both_backends {
    ($($test:ident),+ $(,)?) => {$(
        mod $test {
            use opsconductor_store::testing::{Backend, fresh_store};

            #[tokio::test]
            async fn postgres() {
                let (store, _db) = fresh_store(Backend::Postgres).await;
                super::$test(store).await;
            }

            #[tokio::test]
            async fn sqlite() {
                let (store, _db) = fresh_store(Backend::Sqlite).await;
                super::$test(store).await;
            }
        }
    )+};
}

mod accounts;
mod agents;
mod audit;
mod credentials;
mod ingest;
mod inventory;
mod jobs;
mod library;
mod partitions;
mod queries;
mod retention;
mod runs;
mod schedules;
mod schema;
mod series;
mod sqlite;
mod ssh_host_keys;
mod templates;

use chrono::{DateTime, Duration, Utc};
use opsconductor_core::ids::{ChunkId, RunId};
use opsconductor_core::model::{Job, JobSpec, ResultRecord, ResultStatus, RunTrigger};
use opsconductor_store::prelude::*;
use opsconductor_store::{NewChunk, NewRun};
use serde_json::{Map, Value, json};

/// A valid job spec named `name`.
pub fn job_spec(name: &str) -> JobSpec {
    serde_json::from_value(json!({
        "name": name,
        "schedule": {"type": "interval", "seconds": 60},
        "targets": {"include": [{"type": "range", "value": "10.20.0.0/24"}]},
        "actions": [{"command": "ping.icmp", "params": {"count": 2}}]
    }))
    .unwrap()
}

/// A stored job.
pub async fn job(store: &dyn Store) -> Job {
    store.create_job(&job_spec("pings")).await.unwrap()
}

/// `n` distinct target addresses.
pub fn targets(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("10.{}.{}.{}", i / 65_536, (i / 256) % 256, i % 256))
        .collect()
}

/// A manual run of `job` created at `created_at`, its `targets` cut into chunks of
/// `chunk_size`, each target running `actions` actions; the deadline is an hour later.
pub fn new_run_at(
    job: &Job,
    targets: &[String],
    chunk_size: usize,
    actions: u32,
    created_at: DateTime<Utc>,
) -> NewRun {
    let id = RunId::new();
    NewRun {
        id,
        job_id: job.id,
        job_version: job.version,
        trigger: RunTrigger::Manual,
        scheduled_for: created_at,
        created_at,
        deadline_at: created_at + Duration::hours(1),
        job_spec: job.spec.clone(),
        chunks: targets
            .chunks(chunk_size)
            .enumerate()
            .map(|(seq, chunk)| NewChunk {
                id: ChunkId::new(),
                segment: "default".into(),
                seq: u32::try_from(seq).unwrap(),
                targets: chunk.to_vec(),
                action_count: actions,
                payload: format!("work for {id} #{seq}").into_bytes(),
            })
            .collect(),
    }
}

/// [`new_run_at`] created now.
pub fn new_run(job: &Job, targets: &[String], chunk_size: usize, actions: u32) -> NewRun {
    new_run_at(job, targets, chunk_size, actions, Utc::now())
}

/// A ping-like result.
pub fn result(run: RunId, target: &str, action_index: u32, status: ResultStatus) -> ResultRecord {
    let mut fields = Map::new();
    fields.insert("rtt_avg_ms".into(), Value::from(0.42));
    fields.insert("loss_pct".into(), Value::from(0));
    ResultRecord {
        run_id: run,
        target: target.into(),
        action_index,
        status,
        started_at: Utc::now(),
        duration_ms: 1.5,
        timings: Map::new(),
        fields,
        rows: Vec::new(),
        raw_excerpt: None,
        reason: None,
        agent_id: None,
    }
}

/// One `status` result per (target, action) of the given targets.
pub fn results_for(
    run: RunId,
    targets: &[String],
    actions: u32,
    status: ResultStatus,
) -> Vec<ResultRecord> {
    targets
        .iter()
        .flat_map(|t| (0..actions).map(move |a| result(run, t, a, status)))
        .collect()
}
