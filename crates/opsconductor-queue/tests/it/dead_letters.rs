use std::time::Duration;

use opsconductor_queue::{Consumer, DeadLetter, DeadLetters, Publisher, QueueError, queue_depth};

use crate::helpers::{TestQueue, WAIT, chunks, next, try_next};

async fn next_dead(dead: &mut DeadLetters) -> DeadLetter {
    tokio::time::timeout(WAIT, dead.next())
        .await
        .expect("a dead letter within the wait")
        .expect("a dead letter, not an error")
}

#[tokio::test]
async fn a_chunk_requeued_past_the_delivery_limit_is_dead_lettered_and_the_queue_keeps_flowing() {
    let test = TestQueue::new(&["dc1"])
        .await
        .with(|c| c.delivery_limit = 2);
    let publisher = Publisher::connect(&test.config).await.unwrap();
    publisher.ensure_segment("dc1").await.unwrap();
    let items = chunks("dc1", 2);
    let (poison, healthy) = (&items[0], &items[1]);
    publisher.publish_chunks(&items).await.unwrap();
    let mut dead = DeadLetters::connect(&test.config).await.unwrap();
    let mut consumer = Consumer::connect(&test.config, "dc1").await.unwrap();

    // The agent fails the poison chunk every time; the healthy one must still get through.
    let mut poison_counts = Vec::new();
    let next_healthy = loop {
        let delivery = next(&mut consumer).await;
        if delivery.chunk_id == poison.0 {
            poison_counts.push(delivery.delivery_count);
            delivery.requeue().await.unwrap();
        } else {
            break delivery;
        }
        assert!(
            poison_counts.len() <= 10,
            "never dead-lettered: {poison_counts:?}"
        );
    };
    assert_eq!(next_healthy.chunk_id, healthy.0);
    next_healthy.ack().await.unwrap();
    // Requeued ones may still interleave with the healthy one; drain the rest of the poison.
    while let Some(Ok(delivery)) = try_next(&mut consumer, Duration::from_millis(500)).await {
        assert_eq!(delivery.chunk_id, poison.0);
        poison_counts.push(delivery.delivery_count);
        delivery.requeue().await.unwrap();
    }
    assert_eq!(
        poison_counts,
        vec![1, 2, 3],
        "delivery limit 2 allows 3 deliveries"
    );

    let letter = next_dead(&mut dead).await;
    assert_eq!(letter.chunk_id, poison.0);
    assert_eq!(letter.segment, "dc1");
    assert_eq!(letter.payload, poison.2);
    assert!(
        letter.reason.contains("delivery limit exceeded"),
        "{}",
        letter.reason
    );
    assert_eq!(letter.reason, "delivery limit exceeded after 3 deliveries");
    letter.ack().await.unwrap();
    assert_eq!(queue_depth(&test.config, "dc1").await.unwrap(), 0);
    consumer.close().await;
    dead.close().await;
    publisher.close().await;
}

#[tokio::test]
async fn a_rejected_chunk_is_dead_lettered_with_reason_rejected() {
    let test = TestQueue::new(&["dc1"]).await;
    let publisher = Publisher::connect(&test.config).await.unwrap();
    publisher.ensure_segment("dc1").await.unwrap();
    let items = chunks("dc1", 1);
    publisher.publish_chunks(&items).await.unwrap();
    let mut consumer = Consumer::connect(&test.config, "dc1").await.unwrap();
    let mut dead = DeadLetters::connect(&test.config).await.unwrap();

    next(&mut consumer).await.reject().await.unwrap();

    let letter = next_dead(&mut dead).await;
    assert_eq!(letter.chunk_id, items[0].0);
    assert_eq!(letter.segment, "dc1");
    assert_eq!(letter.reason, "rejected");
    assert_eq!(letter.payload, items[0].2);
    letter.ack().await.unwrap();
    consumer.close().await;
    dead.close().await;
    publisher.close().await;
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
