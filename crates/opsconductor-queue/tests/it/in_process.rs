//! Behaviour only the in-process broker has: its per-segment budget, and handles sharing one
//! broker. The rest of its behaviour is in the conformance suite.

use std::time::Duration;

use opsconductor_queue::{
    Consumer, DeadLetters, InProcessBroker, InProcessOptions, Publisher, QueueError,
};

use crate::helpers::{WAIT, chunk_id, chunks, next, try_next};

fn broker(change: impl FnOnce(&mut InProcessOptions)) -> InProcessBroker {
    let mut options = InProcessOptions::default();
    change(&mut options);
    InProcessBroker::new(options).unwrap()
}

#[tokio::test]
async fn a_full_segment_refuses_chunks_as_nacked_until_one_is_acked() {
    let broker = broker(|o| o.max_segment_chunks = 2);
    let publisher = Publisher::in_process(&broker);
    publisher.ensure_segment("dc1").await.unwrap();
    publisher.ensure_segment("dc2").await.unwrap();
    let items = chunks("dc1", 3);

    let outcomes = publisher.publish_chunks_each(&items).await.unwrap();

    assert_eq!(outcomes[..2], [Ok(()), Ok(())]);
    assert_eq!(
        outcomes[2],
        Err(QueueError::Nacked {
            chunk_id: items[2].0.clone()
        })
    );
    assert_eq!(broker.queue_depth("dc1").unwrap(), 2);
    // The budget is per segment: another segment still takes work.
    publisher.publish_chunks(&chunks("dc2", 2)).await.unwrap();

    // A chunk in flight still holds its place; requeueing it never fails for lack of room.
    let mut consumer = Consumer::in_process(&broker, "dc1").unwrap();
    let first = next(&mut consumer).await;
    let refused = publisher.publish_chunks(&items[2..]).await.unwrap_err();
    assert!(matches!(refused, QueueError::Nacked { .. }), "{refused}");
    first.requeue().await.unwrap();
    let first = next(&mut consumer).await;
    assert_eq!(first.chunk_id, items[0].0);
    assert_eq!(first.delivery_count, 2);

    // Acked, it leaves: the refused chunk now fits.
    first.ack().await.unwrap();
    publisher.publish_chunks(&items[2..]).await.unwrap();
    assert_eq!(broker.queue_depth("dc1").unwrap(), 2);
    for item in &items[1..] {
        let delivery = next(&mut consumer).await;
        assert_eq!(delivery.chunk_id, item.0);
        delivery.ack().await.unwrap();
    }
}

#[tokio::test]
async fn dead_letters_hold_their_segments_budget_until_the_controller_acks_them() {
    let broker = broker(|o| o.max_segment_chunks = 1);
    let publisher = Publisher::in_process(&broker);
    publisher.ensure_segment("dc1").await.unwrap();
    let mut consumer = Consumer::in_process(&broker, "dc1").unwrap();
    let mut dead = DeadLetters::in_process(&broker);
    publisher.publish_chunks(&chunks("dc1", 1)).await.unwrap();
    next(&mut consumer).await.reject().await.unwrap();
    assert_eq!(broker.dead_letter_depth(), 1);

    let refused = publisher
        .publish_chunks(&chunks("dc1", 1))
        .await
        .unwrap_err();
    assert!(matches!(refused, QueueError::Nacked { .. }), "{refused}");

    let letter = tokio::time::timeout(WAIT, dead.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(broker.dead_letter_depth(), 0, "handed out, not waiting");
    letter.ack().await.unwrap();
    publisher.publish_chunks(&chunks("dc1", 1)).await.unwrap();
}

#[tokio::test]
async fn the_byte_budget_refuses_a_chunk_that_would_overflow_it() {
    let broker = broker(|o| o.max_segment_bytes = 10);
    let publisher = Publisher::in_process(&broker);
    publisher.ensure_segment("dc1").await.unwrap();
    let (six, too_many, four) = (chunk_id(), chunk_id(), chunk_id());

    let outcomes = publisher
        .publish_chunks_each(&[
            (six.as_str(), "dc1", b"123456".as_slice()),
            (too_many.as_str(), "dc1", b"123456".as_slice()),
            (four.as_str(), "dc1", b"1234".as_slice()),
        ])
        .await
        .unwrap();

    assert_eq!(
        outcomes,
        [
            Ok(()),
            Err(QueueError::Nacked { chunk_id: too_many }),
            Ok(())
        ]
    );
    assert_eq!(broker.queue_depth("dc1").unwrap(), 2);
}

#[tokio::test]
async fn clones_of_a_broker_share_its_queues_across_tasks_and_a_consumer_creates_its_segment() {
    let broker = broker(|_| {});
    // The agent may start first: consuming creates the segment's queue, as on RabbitMQ.
    let mut consumer = Consumer::in_process(&broker.clone(), "local").unwrap();
    assert_eq!(broker.queue_depth("local").unwrap(), 0);
    // The agent runs on its own task, as in standalone mode (which needs `next` to be Send).
    let agent = tokio::spawn(async move {
        let delivery = next(&mut consumer).await;
        delivery.ack().await.unwrap();
        let more = try_next(&mut consumer, Duration::from_millis(100)).await;
        (delivery.chunk_id, more.is_some())
    });
    let publisher = Publisher::in_process(&broker);
    let items = chunks("local", 1);

    publisher.publish_chunks(&items).await.unwrap();

    let (received, more) = agent.await.unwrap();
    assert_eq!(received, items[0].0);
    assert!(!more, "one chunk was delivered twice");
    assert_eq!(broker.queue_depth("local").unwrap(), 0);
}

#[tokio::test]
async fn an_invalid_segment_is_refused_before_a_queue_is_made() {
    let broker = broker(|_| {});
    let error = Consumer::in_process(&broker, "Not A Segment").unwrap_err();
    assert!(
        matches!(error, QueueError::InvalidSegment { .. }),
        "{error}"
    );
    let error = broker.queue_depth("Not A Segment").unwrap_err();
    assert!(
        matches!(error, QueueError::InvalidSegment { .. }),
        "{error}"
    );
}
