//! Behaviour only RabbitMQ has: connecting (and failing to), and messages this crate did not
//! publish. Outages and restarts have their own files.

use std::time::{Duration, Instant};

use opsconductor_queue::{Consumer, DeadLetters, Publisher, QueueError};

use crate::helpers::{TestQueue, WAIT, chunks, next};

#[tokio::test]
async fn connecting_to_a_dead_port_fails_fast_as_unavailable() {
    let test = TestQueue::new(&[]).await.with(|c| {
        c.url = "amqp://guest:guest@127.0.0.1:1/%2f".to_owned();
        c.connect_timeout = Duration::from_secs(2);
    });
    let started = Instant::now();
    let error = Publisher::connect(&test.config).await.unwrap_err();
    assert!(matches!(error, QueueError::Unavailable(_)), "{error}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    // Nothing was declared on the real broker, so point cleanup back at it harmlessly.
    let mut test = test;
    test.config.url = crate::helpers::amqp_url();
}

#[tokio::test]
async fn a_wrong_password_is_unavailable_and_does_not_echo_the_password() {
    let test = TestQueue::new(&[]).await.with(|c| {
        c.url = "amqp://guest:hunter2-wrong@127.0.0.1:5672/%2f".to_owned();
    });
    let error = Publisher::connect(&test.config).await.unwrap_err();
    assert!(matches!(error, QueueError::Unavailable(_)), "{error}");
    assert!(!error.to_string().contains("hunter2"), "{error}");
    let mut test = test;
    test.config.url = crate::helpers::amqp_url();
}

#[tokio::test]
async fn a_message_without_a_chunk_id_is_a_decode_error_and_is_dead_lettered() {
    use lapin::options::BasicPublishOptions;
    use lapin::{BasicProperties, Connection, ConnectionProperties};

    let test = TestQueue::new(&["dc1"]).await;
    let publisher = Publisher::connect(&test.config).await.unwrap();
    publisher.ensure_segment("dc1").await.unwrap();
    let items = chunks("dc1", 1);
    // Something other than this crate publishes a message with no message id first.
    let raw = Connection::connect(&test.config.url, ConnectionProperties::default())
        .await
        .unwrap();
    let channel = raw.create_channel().await.unwrap();
    channel
        .basic_publish(
            format!("{}.work", test.config.prefix).as_str().into(),
            "dc1".into(),
            BasicPublishOptions::default(),
            b"garbage",
            BasicProperties::default(),
        )
        .await
        .unwrap();
    raw.close(200, "bye".into()).await.unwrap();
    publisher.publish_chunks(&items).await.unwrap();
    let mut consumer = Consumer::connect(&test.config, "dc1").await.unwrap();
    let mut dead = DeadLetters::connect(&test.config).await.unwrap();

    let error = tokio::time::timeout(WAIT, consumer.next())
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(error, QueueError::Decode { .. }), "{error}");
    // The consumer is still usable and the real chunk follows.
    let delivery = next(&mut consumer).await;
    assert_eq!(delivery.chunk_id, items[0].0);
    delivery.ack().await.unwrap();
    // The dead-letter side cannot record it either, says so, and moves on.
    let error = tokio::time::timeout(WAIT, dead.next())
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(error, QueueError::Decode { .. }), "{error}");
    assert!(
        tokio::time::timeout(Duration::from_millis(300), dead.next())
            .await
            .is_err()
    );
    consumer.close().await;
    dead.close().await;
    publisher.close().await;
}
