//! The controller going away in its various ways.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::time::Duration;

use opsconductor_agent::AgentError;
use opsconductor_proto::v1::chunk_event::Kind;

use crate::helpers::{
    ChaosProxy, Harness, RunningAgent, WAIT, banner_server, chunk, loopback_targets, new_id,
    tcp_action,
};

#[tokio::test]
async fn a_dropped_session_is_reopened_and_unacked_batches_are_resent_until_the_chunk_completes() {
    let h = Harness::new().await;
    h.controller
        .state
        .withhold_acks
        .store(true, Ordering::SeqCst);
    let agent = h.agent(h.config()).await;
    let port = banner_server().await;
    let work = chunk(&new_id(), &loopback_targets(10), vec![tcp_action(0, port)]);
    h.broker.publish(&work).await;
    h.controller
        .wait_for(WAIT, "every result on the first session", |r| {
            r.results_of(&work.chunk_id).len() == 10
        })
        .await;

    h.controller.drop_session();
    h.controller.release_acks().await;
    let recorded = h
        .controller
        .wait_for(WAIT, "the chunk to finish on a new session", |r| {
            r.finished(&work.chunk_id).is_some()
        })
        .await;

    assert!(recorded.sessions >= 2);
    let resent: Vec<_> = recorded
        .batches
        .iter()
        .filter(|(session, _)| *session > 1)
        .map(|(_, b)| b)
        .collect();
    let targets: HashSet<_> = resent
        .iter()
        .flat_map(|b| b.results.iter().map(|r| r.target.clone()))
        .collect();
    assert_eq!(targets.len(), 10, "every unacked result is sent again");
    assert_eq!(resent[0].seq, 1, "seq restarts with the session");
    assert_eq!(recorded.finished(&work.chunk_id).unwrap().result_count, 10);
    agent.stop().await.unwrap();
    assert_eq!(h.broker.depth().await, 0);
}

#[tokio::test]
async fn results_are_buffered_while_the_controller_is_unreachable_and_delivered_when_it_returns() {
    let h = Harness::new().await;
    let mut proxy = ChaosProxy::start(h.controller.addr).await;
    let mut config = h.config();
    config.controller_url = proxy.url();
    let agent = h.agent(config).await;
    let port = banner_server().await;

    proxy.down();
    let work = chunk(&new_id(), &loopback_targets(8), vec![tcp_action(0, port)]);
    h.broker.publish(&work).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        h.controller
            .snapshot()
            .results_of(&work.chunk_id)
            .is_empty(),
        "nothing can arrive while the controller is unreachable"
    );
    assert_eq!(
        h.broker.depth().await,
        0,
        "the agent holds the chunk meanwhile"
    );

    proxy.restore().await;
    let recorded = h
        .controller
        .wait_for(WAIT, "the buffered results", |r| {
            r.finished(&work.chunk_id).is_some()
        })
        .await;
    let targets: HashSet<_> = recorded
        .results_of(&work.chunk_id)
        .iter()
        .map(|r| r.target.clone())
        .collect();
    assert_eq!(targets.len(), 8);
    assert_eq!(recorded.finished(&work.chunk_id).unwrap().result_count, 8);
    agent.stop().await.unwrap();
    assert_eq!(h.broker.depth().await, 0);
}

#[tokio::test]
async fn a_revoked_identity_stops_the_agent_instead_of_retrying() {
    let h = Harness::new().await;
    let mut agent = h.agent(h.config()).await;
    h.controller
        .state
        .reject_sessions
        .store(true, Ordering::SeqCst);
    h.controller.drop_session();

    let error = agent.join().await.unwrap_err();
    assert!(matches!(error, AgentError::Revoked(_)), "{error}");
    assert!(error.to_string().contains("enroll again"), "{error}");
    assert_eq!(
        h.controller.snapshot().sessions,
        1,
        "no session was accepted after"
    );
}

#[tokio::test]
async fn chunks_keep_running_when_the_agent_starts_before_the_controller_is_reachable() {
    let h = Harness::new().await;
    // Enroll first, then cut the controller off before the working agent starts.
    let first = h.agent(h.config()).await;
    first.stop().await.unwrap();
    let mut proxy = ChaosProxy::start(h.controller.addr).await;
    proxy.down();
    let mut config = h.config();
    config.controller_url = proxy.url();
    config.enrollment_token = None;
    let agent = RunningAgent::start(config);
    let port = banner_server().await;
    let work = chunk(&new_id(), &loopback_targets(3), vec![tcp_action(0, port)]);
    h.broker.publish(&work).await;
    tokio::time::sleep(Duration::from_secs(1)).await;

    proxy.restore().await;
    h.controller
        .wait_for(WAIT, "the chunk", |r| r.finished(&work.chunk_id).is_some())
        .await;
    agent.stop().await.unwrap();
}

#[tokio::test]
async fn a_full_result_buffer_pauses_the_chunk_instead_of_dropping_results() {
    let h = Harness::new().await;
    h.controller
        .state
        .withhold_acks
        .store(true, Ordering::SeqCst);
    let mut config = h.config();
    config.result_buffer = 4;
    config.batch_max_results = 4;
    let agent = h.agent(config).await;
    let port = banner_server().await;
    let work = chunk(&new_id(), &loopback_targets(12), vec![tcp_action(0, port)]);
    h.broker.publish(&work).await;

    h.controller
        .wait_for(WAIT, "the first results", |r| {
            r.results_of(&work.chunk_id).len() >= 4
        })
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let recorded = h.controller.snapshot();
    assert_eq!(
        recorded.results_of(&work.chunk_id).len(),
        4,
        "nothing beyond the buffer is produced while acks are withheld"
    );
    assert_eq!(recorded.heartbeats.last().unwrap().results_buffered, 4);

    h.controller.release_acks().await;
    let recorded = h
        .controller
        .wait_for(WAIT, "the rest of the chunk", |r| {
            r.finished(&work.chunk_id).is_some()
        })
        .await;
    let targets: HashSet<_> = recorded
        .results_of(&work.chunk_id)
        .iter()
        .map(|r| r.target.clone())
        .collect();
    assert_eq!(targets.len(), 12);
    assert!(
        recorded
            .heartbeats
            .iter()
            .all(|hb| hb.results_dropped_total == 0)
    );
    agent.stop().await.unwrap();
}

#[tokio::test]
async fn a_chunk_whose_broker_connection_died_still_delivers_its_results_and_runs_again() {
    let h = Harness::new().await;
    h.controller
        .state
        .withhold_acks
        .store(true, Ordering::SeqCst);
    let broker: std::net::SocketAddr = rabbitmq_addr().parse().unwrap();
    let mut amqp = ChaosProxy::start(broker).await;
    let mut config = h.config();
    config.queue.url = format!("amqp://guest:guest@{}/%2f", amqp.addr);
    let agent = h.agent(config).await;
    let port = banner_server().await;
    let work = chunk(&new_id(), &loopback_targets(3), vec![tcp_action(0, port)]);
    h.broker.publish(&work).await;
    h.controller
        .wait_for(WAIT, "the first run's results", |r| {
            r.results_of(&work.chunk_id).len() == 3
        })
        .await;

    // The broker connection dies while the chunk waits for the controller's acks: the
    // broker takes the delivery back, and the agent can no longer ack it.
    amqp.down();
    tokio::time::sleep(Duration::from_millis(500)).await;
    amqp.restore().await;
    h.controller.release_acks().await;

    let recorded = h
        .controller
        .wait_for(WAIT, "the redelivered chunk to finish", |r| {
            r.events_of(&work.chunk_id, Kind::Finished).len() == 2
        })
        .await;
    let started = recorded.events_of(&work.chunk_id, Kind::Started);
    assert_eq!(
        started.len(),
        2,
        "run once, then again after the redelivery"
    );
    assert_eq!(started[1].delivery_count, 2);
    assert_eq!(recorded.results_of(&work.chunk_id).len(), 6);
    agent.stop().await.unwrap();
    assert_eq!(h.broker.depth().await, 0, "the second delivery was acked");
}

/// `host:port` of the broker the tests use.
fn rabbitmq_addr() -> String {
    let url = crate::helpers::amqp_url();
    let authority = url
        .split_once("://")
        .map_or(url.as_str(), |(_, rest)| rest)
        .split('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    let host = authority
        .rsplit_once('@')
        .map_or(authority.as_str(), |(_, h)| h);
    if host.contains(':') {
        host.to_owned()
    } else {
        format!("{host}:5672")
    }
}
