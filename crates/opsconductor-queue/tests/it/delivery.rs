use std::time::Duration;

use opsconductor_queue::{Consumer, Publisher, QueueError};

use crate::helpers::{TestQueue, chunks, next, try_next};

#[tokio::test]
async fn a_requeued_chunk_comes_back_with_delivery_count_two() {
    let test = TestQueue::new(&["dc1"]).await;
    let publisher = Publisher::connect(&test.config).await.unwrap();
    publisher.ensure_segment("dc1").await.unwrap();
    let items = chunks("dc1", 1);
    publisher.publish_chunks(&items).await.unwrap();
    let mut consumer = Consumer::connect(&test.config, "dc1").await.unwrap();

    let first = next(&mut consumer).await;
    assert_eq!(first.delivery_count, 1);
    first.requeue().await.unwrap();
    let second = next(&mut consumer).await;

    assert_eq!(second.chunk_id, items[0].0);
    assert_eq!(second.delivery_count, 2);
    assert!(second.redelivered);
    second.ack().await.unwrap();
    let twice = second.ack().await.unwrap_err();
    assert!(
        matches!(twice, QueueError::AlreadySettled { .. }),
        "{twice}"
    );
    consumer.close().await;
    publisher.close().await;
}

#[tokio::test]
async fn unacked_deliveries_go_to_another_consumer_when_the_first_connection_closes() {
    let test = TestQueue::new(&["dc1"]).await;
    let publisher = Publisher::connect(&test.config).await.unwrap();
    publisher.ensure_segment("dc1").await.unwrap();
    let items = chunks("dc1", 2);
    publisher.publish_chunks(&items).await.unwrap();

    // The first agent takes both chunks and dies before finishing either.
    let mut doomed = Consumer::connect(&test.config, "dc1").await.unwrap();
    let taken = [next(&mut doomed).await, next(&mut doomed).await];
    assert_eq!(taken[1].chunk_id, items[1].0);
    let mut survivor = Consumer::connect(&test.config, "dc1").await.unwrap();
    assert!(
        try_next(&mut survivor, Duration::from_millis(300))
            .await
            .is_none(),
        "nothing is handed out twice while the first agent holds it"
    );
    doomed.close().await;

    let mut seen = Vec::new();
    for _ in 0..2 {
        let delivery = next(&mut survivor).await;
        assert!(delivery.redelivered);
        assert_eq!(delivery.delivery_count, 2);
        seen.push(delivery.chunk_id.clone());
        delivery.ack().await.unwrap();
    }
    seen.sort();
    let mut expected: Vec<String> = items.iter().map(|i| i.0.clone()).collect();
    expected.sort();
    assert_eq!(seen, expected);
    survivor.close().await;
    publisher.close().await;
}

#[tokio::test]
async fn a_dropped_consumer_returns_its_unacked_deliveries_too() {
    let test = TestQueue::new(&["dc1"]).await;
    let publisher = Publisher::connect(&test.config).await.unwrap();
    publisher.ensure_segment("dc1").await.unwrap();
    let items = chunks("dc1", 1);
    publisher.publish_chunks(&items).await.unwrap();

    let mut crashed = Consumer::connect(&test.config, "dc1").await.unwrap();
    let held = next(&mut crashed).await;
    drop(held);
    drop(crashed);

    let mut survivor = Consumer::connect(&test.config, "dc1").await.unwrap();
    let delivery = next(&mut survivor).await;
    assert_eq!(delivery.chunk_id, items[0].0);
    assert_eq!(delivery.delivery_count, 2);
    delivery.ack().await.unwrap();
    survivor.close().await;
    publisher.close().await;
}

#[tokio::test]
async fn prefetch_is_honoured_until_a_delivery_is_acked() {
    let test = TestQueue::new(&["dc1"]).await.with(|c| c.prefetch = 2);
    let publisher = Publisher::connect(&test.config).await.unwrap();
    publisher.ensure_segment("dc1").await.unwrap();
    let items = chunks("dc1", 5);
    publisher.publish_chunks(&items).await.unwrap();
    let mut consumer = Consumer::connect(&test.config, "dc1").await.unwrap();

    let first = next(&mut consumer).await;
    let second = next(&mut consumer).await;
    assert!(
        try_next(&mut consumer, Duration::from_millis(500))
            .await
            .is_none(),
        "a third delivery arrived with prefetch 2 and nothing acked"
    );
    first.ack().await.unwrap();
    let third = next(&mut consumer).await;
    assert_eq!(third.chunk_id, items[2].0);
    assert!(
        try_next(&mut consumer, Duration::from_millis(300))
            .await
            .is_none()
    );

    second.ack().await.unwrap();
    third.ack().await.unwrap();
    for item in &items[3..] {
        let delivery = next(&mut consumer).await;
        assert_eq!(delivery.chunk_id, item.0);
        delivery.ack().await.unwrap();
    }
    consumer.close().await;
    publisher.close().await;
}
