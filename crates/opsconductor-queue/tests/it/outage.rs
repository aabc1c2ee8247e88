//! Connection losses injected by the chaos proxy, for this test's connections only.

use std::time::{Duration, Instant};

use opsconductor_queue::{Consumer, Publisher, QueueConfig, QueueError, backoff, queue_depth};

use crate::chaos::ChaosProxy;
use crate::helpers::{TestQueue, WAIT, chunks, next};

fn through(proxy: &ChaosProxy, config: &QueueConfig) -> QueueConfig {
    QueueConfig {
        url: proxy.url(),
        ..config.clone()
    }
}

#[tokio::test]
async fn consumer_next_is_unavailable_when_the_connection_is_lost_and_a_new_consumer_gets_the_chunk()
 {
    let test = TestQueue::new(&["dc1"]).await;
    let proxy = ChaosProxy::start().await;
    let publisher = Publisher::connect(&test.config).await.unwrap();
    publisher.ensure_segment("dc1").await.unwrap();
    let items = chunks("dc1", 2);
    publisher.publish_chunks(&items).await.unwrap();
    let mut consumer = Consumer::connect(&through(&proxy, &test.config), "dc1")
        .await
        .unwrap();
    let held = next(&mut consumer).await;
    let _also_held = next(&mut consumer).await;

    proxy.cut_connections();

    let error = tokio::time::timeout(WAIT, consumer.next())
        .await
        .expect("next returns once the connection is gone")
        .unwrap_err();
    assert!(matches!(error, QueueError::Unavailable(_)), "{error}");
    let late_ack = held.ack().await.unwrap_err();
    assert!(matches!(late_ack, QueueError::Unavailable(_)), "{late_ack}");

    // The agent's reconnect loop: back off, connect again, get the chunks back.
    let mut attempt = 0;
    let mut consumer = loop {
        match Consumer::connect(&through(&proxy, &test.config), "dc1").await {
            Ok(consumer) => break consumer,
            Err(error) if attempt < 5 => {
                eprintln!("reconnect attempt {attempt}: {error}");
                tokio::time::sleep(backoff(attempt)).await;
                attempt += 1;
            }
            Err(error) => panic!("could not reconnect: {error}"),
        }
    };
    for item in &items {
        let delivery = next(&mut consumer).await;
        assert_eq!(delivery.chunk_id, item.0);
        assert!(delivery.redelivered);
        delivery.ack().await.unwrap();
    }
    consumer.close().await;
    publisher.close().await;
}

#[tokio::test]
async fn publisher_reconnects_on_the_next_call_after_its_connection_is_cut() {
    let test = TestQueue::new(&["dc1"]).await;
    let proxy = ChaosProxy::start().await;
    let publisher = Publisher::connect(&through(&proxy, &test.config))
        .await
        .unwrap();
    publisher.ensure_segment("dc1").await.unwrap();
    publisher.publish_chunks(&chunks("dc1", 1)).await.unwrap();

    proxy.cut_connections();
    // Give lapin's I/O loop a moment to see the EOF.
    tokio::time::sleep(Duration::from_millis(200)).await;

    publisher
        .publish_chunks(&chunks("dc1", 1))
        .await
        .expect("a lost connection is replaced on the next call");
    assert_eq!(queue_depth(&test.config, "dc1").await.unwrap(), 2);
    publisher.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_broker_fails_a_publish_within_the_heartbeat_window_then_recovers() {
    let test = TestQueue::new(&["dc1"])
        .await
        .with(|c| c.heartbeat_secs = 1);
    let proxy = ChaosProxy::start().await;
    let publisher = Publisher::connect(&through(&proxy, &test.config))
        .await
        .unwrap();
    publisher.ensure_segment("dc1").await.unwrap();

    proxy.go_silent(true);
    let started = Instant::now();
    let outcome = tokio::time::timeout(
        Duration::from_secs(20),
        publisher.publish_chunks(&chunks("dc1", 3)),
    )
    .await
    .expect("a publish to a silent broker must not hang past the heartbeat timeout");
    let waited = started.elapsed();

    let error = outcome.unwrap_err();
    assert!(matches!(error, QueueError::Unavailable(_)), "{error}");
    eprintln!("silent broker noticed after {waited:?}: {error}");
    proxy.go_silent(false);
    let after = chunks("dc1", 1);
    publisher.publish_chunks(&after).await.unwrap();
    publisher.close().await;
}
