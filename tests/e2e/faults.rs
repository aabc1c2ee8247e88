//! The reliability contract under faults. Each scenario ends with the ledger check:
//! lost = 0, duplicated = 0, unexpected = 0.

use opsconductor_store::prelude::*;
use std::process::Command;
use std::time::Duration;

use chrono::Utc;
use opsconductor_core::ids::{ChunkId, JobId, RunId};
use opsconductor_core::model::{JobSpec, RunTrigger};
use opsconductor_proto::v1;
use opsconductor_store::{NewChunk, NewRun};
use prost::Message as _;
use serde_json::{Value, json};

use crate::support::{World, hosts};

/// A ping job slow enough to be interrupted: `targets` of 127.0.0.x, each pinged
/// `count` times one second apart, `per_chunk` targets per chunk.
fn slow_ping_job(name: &str, last: u8, count: u32, per_chunk: u32) -> Value {
    json!({
        "name": name,
        "schedule": {"type": "manual"},
        "targets": {"include": [{"type": "range", "value": format!("127.0.0.1-{last}")}]},
        "actions": [{"command": "ping.icmp", "params": {"count": count, "interval_ms": 1000, "timeout_ms": 1000}}],
        "options": {"chunk_size": per_chunk, "concurrency": per_chunk}
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_killed_mid_chunk_has_its_chunks_redelivered_to_the_other_agent() {
    let mut world = World::new().await;
    world.start_controller().await;
    world.define_segments().await;
    world.start_agent("a1", "a").await;
    world.start_agent("a2", "a").await;
    let run = world
        .run_job(slow_ping_job("kill an agent", 120, 3, 10))
        .await;
    world
        .wait_for_results(run, 10, Duration::from_secs(60))
        .await;
    world.assert_running(run).await;
    world.kill_agent("a1");
    let status = world.wait_for_run(run, Duration::from_secs(180)).await;
    assert_eq!(status["status"], "completed", "{status}");
    let ledger = world.ledger(run, &hosts(0, 120), 1).await;
    ledger.assert_exact();
    assert_eq!(status["counters"]["ok"], 120, "{status}");
    // The killed agent's chunks went out a second time, to a2.
    let chunks = world.store.chunks_for_run(run).await.unwrap();
    assert!(
        chunks.iter().any(|c| c.attempts >= 2),
        "no chunk was redelivered: {chunks:?}"
    );
}

/// Starts the RabbitMQ application again even when the test fails half-way.
struct RestartGuard;

impl Drop for RestartGuard {
    fn drop(&mut self) {
        let _ = Command::new("rabbitmqctl").arg("start_app").output();
    }
}

fn rabbitmqctl(action: &str) {
    let out = Command::new("rabbitmqctl").arg(action).output().unwrap();
    assert!(
        out.status.success(),
        "rabbitmqctl {action}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_completes_when_rabbitmq_restarts_mid_run() {
    let mut world = World::new().await;
    world.start_controller().await;
    world.define_segments().await;
    world.start_agent("a1", "a").await;
    let run = world
        .run_job(slow_ping_job("restart rabbitmq", 80, 3, 10))
        .await;
    world
        .wait_for_results(run, 10, Duration::from_secs(60))
        .await;
    world.assert_running(run).await;
    {
        let _guard = RestartGuard;
        rabbitmqctl("stop_app");
        tokio::time::sleep(Duration::from_secs(3)).await;
        rabbitmqctl("start_app");
    }
    let status = world.wait_for_run(run, Duration::from_secs(180)).await;
    assert_eq!(
        status["status"],
        "completed",
        "{status}\n--- a1\n{}",
        world.log("a1")
    );
    world.ledger(run, &hosts(0, 80), 1).await.assert_exact();
    assert_eq!(
        status["counters"]["ok"], 80,
        "every target ran, none timed out: {status}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_completes_when_the_controller_is_killed_and_restarted() {
    let mut world = World::new().await;
    world.start_controller().await;
    world.define_segments().await;
    world.start_agent("a1", "a").await;
    let run = world
        .run_job(slow_ping_job("restart controller", 80, 3, 10))
        .await;
    world
        .wait_for_results(run, 10, Duration::from_secs(60))
        .await;
    world.assert_running(run).await;
    world.kill_controller();
    tokio::time::sleep(Duration::from_secs(2)).await;
    world.start_controller().await;
    let status = world.wait_for_run(run, Duration::from_secs(180)).await;
    assert_eq!(status["status"], "completed", "{status}");
    world.ledger(run, &hosts(0, 80), 1).await.assert_exact();
    assert_eq!(
        status["counters"]["ok"], 80,
        "every target ran, none timed out: {status}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_are_buffered_while_the_controller_is_away_for_30_seconds_then_delivered() {
    let mut world = World::new().await;
    world.start_controller().await;
    world.define_segments().await;
    world.start_agent("a1", "a").await;
    let run = world
        .run_job(slow_ping_job("controller away", 60, 4, 10))
        .await;
    world
        .wait_for_results(run, 1, Duration::from_secs(60))
        .await;
    world.assert_running(run).await;
    world.kill_controller();
    let stored_before = world.store.count_results(run).await.unwrap();
    tokio::time::sleep(Duration::from_secs(30)).await;
    // Nothing could be stored while the controller was away.
    assert_eq!(world.store.count_results(run).await.unwrap(), stored_before);
    world.start_controller().await;
    let status = world.wait_for_run(run, Duration::from_secs(120)).await;
    assert_eq!(status["status"], "completed", "{status}");
    world.ledger(run, &hosts(0, 60), 1).await.assert_exact();
    assert_eq!(
        status["counters"]["ok"], 60,
        "every target ran, none timed out: {status}"
    );
}

/// A ChunkWork that pings `targets` once.
fn ping_chunk(run: RunId, chunk: ChunkId, segment: &str, targets: &[String]) -> Vec<u8> {
    v1::ChunkWork {
        chunk_id: chunk.to_string(),
        run_id: run.to_string(),
        job_id: JobId::new().to_string(),
        segment: segment.to_owned(),
        targets: targets.to_vec(),
        actions: vec![v1::ChunkAction {
            index: 0,
            command_id: "ping.icmp".into(),
            kind: "ping".into(),
            params_json: r#"{"count":1,"timeout_ms":1000}"#.into(),
            parsers_json: "[]".into(),
            criteria_json: "{}".into(),
            timeout_ms: 5000,
            credential_id: None,
        }],
        concurrency: 16,
        target_timeout_ms: 5000,
        run_deadline_unix_ms: (Utc::now() + chrono::Duration::minutes(5)).timestamp_millis(),
        require_first_ok: false,
    }
    .encode_to_vec()
}

/// Writes a run of hand-made chunks straight into the store (the relay publishes them).
async fn run_of_chunks(
    world: &World,
    chunks: Vec<(Vec<String>, Option<Vec<u8>>)>,
) -> (RunId, Vec<NewChunk>) {
    let spec: JobSpec = serde_json::from_value(json!({
        "name": format!("hand-made {}", crate::support::uuid_hex()),
        "schedule": {"type": "manual"},
        "targets": {"include": [{"type": "hosts", "hosts": ["127.0.0.1"]}]},
        "actions": [{"command": "ping.icmp"}]
    }))
    .unwrap();
    let job = world.store.create_job(&spec).await.unwrap();
    let run_id = RunId::new();
    let chunks: Vec<NewChunk> = chunks
        .into_iter()
        .enumerate()
        .map(|(seq, (targets, payload))| {
            let id = ChunkId::new();
            let payload = payload.unwrap_or_else(|| ping_chunk(run_id, id, "a", &targets));
            NewChunk {
                id,
                segment: "a".into(),
                seq: seq as u32,
                targets,
                action_count: 1,
                payload,
            }
        })
        .collect();
    let now = Utc::now();
    world
        .store
        .create_run(&NewRun {
            id: run_id,
            job_id: job.id,
            job_version: job.version,
            trigger: RunTrigger::Manual,
            scheduled_for: now,
            created_at: now,
            deadline_at: now + chrono::Duration::minutes(5),
            job_spec: spec,
            chunks: chunks.clone(),
        })
        .await
        .unwrap();
    (run_id, chunks)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_chunk_delivered_twice_yields_one_result_set() {
    let mut world = World::new().await;
    world.start_controller().await;
    world.define_segments().await;
    world.start_agent("a1", "a").await;
    let targets = hosts(0, 40);
    let (run, chunks) = run_of_chunks(&world, vec![(targets.clone(), None)]).await;
    let status = world.wait_for_run(run, Duration::from_secs(60)).await;
    assert_eq!(status["status"], "completed", "{status}");

    // The broker hands the same message out again (as after a lost ack).
    let config = opsconductor_queue::QueueConfig {
        url: World::queue_url(),
        prefix: world.prefix.clone(),
        ..opsconductor_queue::QueueConfig::default()
    };
    let publisher = opsconductor_queue::Publisher::connect(&config)
        .await
        .unwrap();
    let chunk = &chunks[0];
    publisher
        .publish_chunks(&[(chunk.id.to_string(), "a", chunk.payload.clone())])
        .await
        .unwrap();
    publisher.close().await;
    // The agent ran it a second time and the controller acked every result of it (the
    // agent logs "chunk done" only then).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while world.full_log("a1").matches("chunk done").count() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the duplicate was never run:\n{}",
            world.log("a1")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    world.ledger(run, &targets, 1).await.assert_exact();
    let status = world.get(&format!("/api/v1/runs/{run}")).await;
    assert_eq!(
        status["counters"]["ok"], 40,
        "counters do not double: {status}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_chunk_is_dead_lettered_its_targets_recorded_as_errors_and_the_queue_keeps_flowing()
 {
    let mut world = World::new().await;
    world.start_controller().await;
    world.define_segments().await;
    world.start_agent("a1", "a").await;
    let poisoned = hosts(0, 10);
    let healthy: Vec<String> = (11..=30).map(|i| format!("127.0.0.{i}")).collect();
    let (run, _) = run_of_chunks(
        &world,
        vec![
            (
                poisoned.clone(),
                Some(b"\xff\xff not a protobuf message".to_vec()),
            ),
            (healthy.clone(), None),
        ],
    )
    .await;
    let status = world.wait_for_run(run, Duration::from_secs(60)).await;
    assert_eq!(status["status"], "completed", "{status}");
    let all: Vec<String> = poisoned.iter().chain(&healthy).cloned().collect();
    let ledger = world.ledger(run, &all, 1).await;
    ledger.assert_exact();
    for r in &ledger.results {
        if poisoned.contains(&r.target) {
            assert_eq!(
                r.status,
                opsconductor_core::model::ResultStatus::Error,
                "{r:?}"
            );
            let reason = r.reason.as_deref().unwrap_or_default();
            assert!(reason.contains("dead-lettered"), "{reason}");
        } else {
            assert_eq!(
                r.status,
                opsconductor_core::model::ResultStatus::Ok,
                "{r:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_past_its_deadline_records_the_missing_targets_as_timeouts() {
    let mut world = World::new().await;
    world.start_controller().await;
    world.define_segments().await;
    world.start_agent("a1", "a").await;
    // Segment b has no agent: its targets can only time out.
    let run = world
        .run_job(json!({
            "name": "nobody home in b",
            "schedule": {"type": "manual"},
            "targets": {"include": [{"type": "range", "value": "127.0.0.1-5, 127.0.1.1-5"}]},
            "actions": [{"command": "ping.icmp", "params": {"count": 1}}],
            "options": {"run_deadline_seconds": 3}
        }))
        .await;
    let status = world.wait_for_run(run, Duration::from_secs(30)).await;
    assert_eq!(status["status"], "completed", "{status}");
    assert_eq!(status["counters"]["ok"], 5, "{status}");
    assert_eq!(status["counters"]["timeout"], 5, "{status}");
    let all: Vec<String> = hosts(0, 5).into_iter().chain(hosts(1, 5)).collect();
    let ledger = world.ledger(run, &all, 1).await;
    ledger.assert_exact();
    for r in ledger
        .results
        .iter()
        .filter(|r| r.target.starts_with("127.0.1."))
    {
        assert_eq!(
            r.status,
            opsconductor_core::model::ResultStatus::Timeout,
            "{r:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_run_stops_its_agents_and_accounts_for_every_target() {
    let mut world = World::new().await;
    world.start_controller().await;
    world.define_segments().await;
    world.start_agent("a1", "a").await;
    // 200 targets × 10 pings a second apart, 10 at a time: minutes of work if not stopped.
    let run = world.run_job(slow_ping_job("cancel me", 200, 10, 10)).await;
    world
        .wait_for_results(run, 1, Duration::from_secs(30))
        .await;
    world.assert_running(run).await;
    let cancelled = world
        .post(
            &format!("/api/v1/runs/{run}/cancel"),
            json!({"reason": "maintenance window"}),
        )
        .await;
    assert_eq!(cancelled["status"], "cancelled", "{cancelled}");
    // Every target is accounted for at once: the ones not yet done as cancelled errors.
    let ledger = world.ledger(run, &hosts(0, 200), 1).await;
    ledger.assert_exact();
    let cancelled_errors = ledger
        .results
        .iter()
        .filter(|r| {
            r.reason
                .as_deref()
                .is_some_and(|s| s.contains("maintenance window"))
        })
        .count();
    assert!(
        cancelled_errors > 100,
        "{cancelled_errors} results were cancelled"
    );
    // The agent stopped at once: every chunk it held ends within seconds (running to the
    // end would take minutes), and its late results collapse into the ledger.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let chunks = world.store.chunks_for_run(run).await.unwrap();
        if chunks.iter().all(|c| {
            matches!(
                c.state,
                opsconductor_store::ChunkState::Done | opsconductor_store::ChunkState::Cancelled
            )
        }) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "chunks still going: {chunks:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    world.ledger(run, &hosts(0, 200), 1).await.assert_exact();
}
