//! Chunks from the queue to the controller and back to an ack.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use prost::Message as _;
use serde_json::json;

use opsconductor_proto::v1::{self, chunk_event::Kind};
use opsconductor_queue::DeadLetters;

use crate::helpers::{
    Harness, WAIT, action, banner_server, chunk, loopback_targets, new_id, ping_action, tcp_action,
};

#[tokio::test]
async fn a_published_chunk_runs_and_each_result_arrives_once_before_the_delivery_is_acked() {
    let h = Harness::new().await;
    let agent = h.agent(h.config()).await;
    let port = banner_server().await;
    let targets = loopback_targets(6);
    let work = chunk(
        &new_id(),
        &targets,
        vec![tcp_action(0, port), ping_action(1, 1)],
    );
    h.broker.publish(&work).await;

    let recorded = h
        .controller
        .wait_for(WAIT, "the chunk to finish", |r| {
            r.finished(&work.chunk_id).is_some()
        })
        .await;

    let results = recorded.results_of(&work.chunk_id);
    let keys: HashSet<(String, u32)> = results
        .iter()
        .map(|r| (r.target.clone(), r.action_index))
        .collect();
    assert_eq!(results.len(), 12, "one result per target and action");
    assert_eq!(keys.len(), 12, "no result twice");
    let banner = results
        .iter()
        .find(|r| r.target == "127.0.0.1" && r.action_index == 0)
        .unwrap();
    assert_eq!(banner.status, i32::from(v1::ResultStatus::Ok), "{banner:?}");
    assert!(
        results
            .iter()
            .filter(|r| r.action_index == 1)
            .all(|r| r.status == i32::from(v1::ResultStatus::Ok)),
        "every 127.x answers ping: {results:?}"
    );
    let finished = recorded.finished(&work.chunk_id).unwrap();
    assert_eq!(finished.result_count, 12);
    assert_eq!(finished.run_id, work.run_id);
    assert_eq!(
        recorded.events_of(&work.chunk_id, Kind::Started)[0].delivery_count,
        1
    );
    assert!(recorded.batches.iter().all(|(_, b)| b.results.len() <= 4));
    let hello = &recorded.hellos[0];
    assert_eq!(hello.version, env!("CARGO_PKG_VERSION"));
    assert!(hello.capabilities.contains(&"tcp_port".to_owned()));

    agent.stop().await.unwrap();
    assert_eq!(h.broker.depth().await, 0, "acked, so not redelivered");
}

#[tokio::test]
async fn a_delivery_stays_unacked_until_the_controller_acks_and_is_requeued_at_shutdown() {
    let h = Harness::new().await;
    h.controller
        .state
        .withhold_acks
        .store(true, Ordering::SeqCst);
    let mut config = h.config();
    config.shutdown_grace = Duration::from_millis(500);
    let agent = h.agent(config).await;
    let port = banner_server().await;
    let work = chunk(&new_id(), &loopback_targets(3), vec![tcp_action(0, port)]);
    h.broker.publish(&work).await;

    h.controller
        .wait_for(WAIT, "all results", |r| {
            r.results_of(&work.chunk_id).len() == 3
        })
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let recorded = h.controller.snapshot();
    assert!(
        recorded.finished(&work.chunk_id).is_none(),
        "no ack, no finish"
    );
    assert_eq!(h.broker.depth().await, 0, "held unacked by the agent");
    let heartbeat = recorded.heartbeats.last().expect("heartbeats flow");
    assert_eq!(heartbeat.results_buffered, 3);
    assert_eq!(heartbeat.chunks_in_flight, 1);

    agent.stop().await.unwrap();
    let recorded = h.controller.snapshot();
    assert_eq!(recorded.events_of(&work.chunk_id, Kind::Released).len(), 1);
    assert!(recorded.finished(&work.chunk_id).is_none());
    assert_eq!(h.broker.depth().await, 1, "handed back for another agent");
}

#[tokio::test]
async fn a_chunk_of_an_agent_that_dies_before_the_controller_acked_is_redelivered() {
    let h = Harness::new().await;
    h.controller
        .state
        .withhold_acks
        .store(true, Ordering::SeqCst);
    let agent = h.agent(h.config()).await;
    let port = banner_server().await;
    let work = chunk(&new_id(), &loopback_targets(2), vec![tcp_action(0, port)]);
    h.broker.publish(&work).await;
    h.controller
        .wait_for(WAIT, "the results", |r| {
            r.results_of(&work.chunk_id).len() == 2
        })
        .await;

    agent.kill().await;
    let deadline = Instant::now() + WAIT;
    while h.broker.depth().await != 1 {
        assert!(Instant::now() < deadline, "the chunk is back in the queue");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(h.controller.snapshot().finished(&work.chunk_id).is_none());
}

#[tokio::test]
async fn a_poison_chunk_is_dead_lettered_and_the_next_chunk_still_runs() {
    let h = Harness::new().await;
    let agent = h.agent(h.config()).await;
    let port = banner_server().await;

    let garbage = new_id();
    h.broker
        .publish_raw(&garbage, b"\xff\xfe definitely not protobuf".to_vec())
        .await;
    let bad_target = chunk(
        &new_id(),
        &["not a host!".to_owned()],
        vec![tcp_action(0, port)],
    );
    h.broker.publish(&bad_target).await;
    let mut bad_params = chunk(&new_id(), &loopback_targets(1), vec![tcp_action(0, port)]);
    bad_params.actions[0].params_json = "[1, 2]".to_owned();
    h.broker.publish(&bad_params).await;
    let good = chunk(&new_id(), &loopback_targets(2), vec![tcp_action(0, port)]);
    h.broker.publish(&good).await;

    h.controller
        .wait_for(WAIT, "the good chunk", |r| {
            r.finished(&good.chunk_id).is_some()
        })
        .await;
    let mut dead = DeadLetters::connect(&h.broker.config).await.unwrap();
    let mut ids = HashSet::new();
    for _ in 0..3 {
        let letter = tokio::time::timeout(WAIT, dead.next())
            .await
            .unwrap()
            .unwrap();
        assert!(letter.reason.contains("rejected"), "{}", letter.reason);
        ids.insert(letter.chunk_id.clone());
        letter.ack().await.unwrap();
    }
    dead.close().await;
    let expected: HashSet<String> = [garbage, bad_target.chunk_id, bad_params.chunk_id].into();
    assert_eq!(ids, expected);
    assert!(
        h.controller
            .snapshot()
            .batches
            .iter()
            .all(|(_, b)| b.chunk_id == good.chunk_id)
    );
    agent.stop().await.unwrap();
}

#[tokio::test]
async fn cancelling_a_run_stops_its_long_chunk_quickly_and_skips_its_later_chunks() {
    let h = Harness::new().await;
    let agent = h.agent(h.config()).await;
    let run_id = new_id();
    // 30 echoes 200 ms apart: six seconds per target if left alone.
    let long = chunk(&run_id, &loopback_targets(20), vec![ping_action(0, 30)]);
    h.broker.publish(&long).await;
    h.controller
        .wait_for(WAIT, "the long chunk to start", |r| {
            !r.events_of(&long.chunk_id, Kind::Started).is_empty()
        })
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let cancelled_at = Instant::now();
    h.controller.cancel_run(&run_id).await;
    let recorded = h
        .controller
        .wait_for(WAIT, "the cancelled chunk to finish", |r| {
            r.finished(&long.chunk_id).is_some()
        })
        .await;
    assert!(
        cancelled_at.elapsed() < Duration::from_secs(3),
        "stopped {:?} after the cancel",
        cancelled_at.elapsed()
    );
    assert!(
        recorded
            .results_of(&long.chunk_id)
            .iter()
            .all(|r| r.status == i32::from(v1::ResultStatus::Error)),
        "abandoned targets are errors"
    );

    let later = chunk(&run_id, &loopback_targets(2), vec![ping_action(0, 1)]);
    h.broker.publish(&later).await;
    let recorded = h
        .controller
        .wait_for(WAIT, "the later chunk to be skipped", |r| {
            r.finished(&later.chunk_id).is_some()
        })
        .await;
    assert_eq!(recorded.finished(&later.chunk_id).unwrap().result_count, 0);
    assert!(recorded.results_of(&later.chunk_id).is_empty());
    assert!(
        recorded
            .events_of(&later.chunk_id, Kind::Started)
            .is_empty()
    );
    agent.stop().await.unwrap();
    assert_eq!(h.broker.depth().await, 0);
}

#[tokio::test]
async fn a_credential_that_cannot_be_had_makes_error_results_naming_it_and_never_its_secret() {
    let h = Harness::new().await;
    h.controller
        .set_credential("cred-denied", Err(tonic::Code::PermissionDenied));
    h.controller.set_credential(
        "cred-broken",
        Ok(("ssh_password", r#"{"user":"admin","passwd":"hunter2"}"#)),
    );
    let agent = h.agent(h.config()).await;
    let port = banner_server().await;
    let mut denied = action(0, "ssh_command", json!({"command": "uptime"}));
    denied.credential_id = Some("cred-denied".to_owned());
    let mut broken = action(1, "ssh_command", json!({"command": "uptime"}));
    broken.credential_id = Some("cred-broken".to_owned());
    let mut again = action(2, "ssh_command", json!({"command": "show version"}));
    again.credential_id = Some("cred-denied".to_owned());
    let work = chunk(
        &new_id(),
        &loopback_targets(2),
        vec![denied, broken, again, tcp_action(3, port)],
    );
    h.broker.publish(&work).await;

    let recorded = h
        .controller
        .wait_for(WAIT, "the chunk to finish", |r| {
            r.finished(&work.chunk_id).is_some()
        })
        .await;
    let results = recorded.results_of(&work.chunk_id);
    assert_eq!(results.len(), 8);
    for result in &results {
        let reason = result.reason.clone().unwrap_or_default();
        match result.action_index {
            0 | 2 => {
                assert_eq!(result.status, i32::from(v1::ResultStatus::Error));
                assert!(reason.contains("cred-denied"), "{reason}");
            }
            1 => {
                assert_eq!(result.status, i32::from(v1::ResultStatus::Error));
                assert!(reason.contains("cred-broken"), "{reason}");
                assert!(!reason.contains("hunter2"), "{reason}");
            }
            // Runs for real: ok on 127.0.0.1 where the banner server listens, refused
            // elsewhere, never about credentials.
            _ => assert!(!reason.contains("credential"), "{result:?}"),
        }
    }
    let mut fetched: Vec<_> = recorded
        .fetches
        .iter()
        .map(|f| f.credential_id.clone())
        .collect();
    fetched.sort();
    assert_eq!(
        fetched,
        ["cred-broken", "cred-denied"],
        "each credential once per chunk"
    );
    assert!(recorded.fetches.iter().all(|f| f.chunk_id == work.chunk_id));
    agent.stop().await.unwrap();
}

#[tokio::test]
async fn a_chunk_past_its_run_deadline_is_acked_without_running() {
    let h = Harness::new().await;
    let agent = h.agent(h.config()).await;
    let mut late = chunk(&new_id(), &loopback_targets(2), vec![ping_action(0, 1)]);
    late.run_deadline_unix_ms = 1_000;
    h.broker.publish(&late).await;
    let recorded = h
        .controller
        .wait_for(WAIT, "the late chunk", |r| {
            r.finished(&late.chunk_id).is_some()
        })
        .await;
    assert_eq!(recorded.finished(&late.chunk_id).unwrap().result_count, 0);
    assert!(recorded.results_of(&late.chunk_id).is_empty());
    agent.stop().await.unwrap();
    assert_eq!(h.broker.depth().await, 0);
}

#[test]
fn chunk_work_round_trips_through_protobuf() {
    // Guards the helpers: what the tests publish is what the agent decodes.
    let work = chunk(&new_id(), &loopback_targets(1), vec![ping_action(0, 1)]);
    assert_eq!(
        v1::ChunkWork::decode(&work.encode_to_vec()[..]).unwrap(),
        work
    );
}
