//! What callers rely on, whichever backend carries the chunks: each test below runs once
//! against RabbitMQ (`conformance::rabbitmq::*`) and once in process
//! (`conformance::in_process::*`).

use std::time::Duration;

use opsconductor_queue::{DeadLetter, DeadLetters, QueueError};

use crate::backends::{Backend, Settings};
use crate::helpers::{WAIT, chunk_id, chunks, next, try_next};

/// Generates one `#[tokio::test]` per backend for each generic test function named.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod rabbitmq {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name::<crate::backends::RabbitMq>().await;
                }
            )*
        }
        mod in_process {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name::<crate::backends::InProcess>().await;
                }
            )*
        }
    };
}

conformance!(
    published_chunks_arrive_in_order_with_their_message_id_and_payload_after_confirms,
    publishing_to_a_segment_without_a_queue_is_an_unroutable_error_naming_the_chunk,
    bad_segment_names_and_chunk_ids_are_errors_before_anything_is_sent,
    queue_depth_of_an_undeclared_segment_is_not_found,
    a_waiting_consumer_gets_a_chunk_published_after_it_started_waiting,
    consumers_of_one_segment_share_its_chunks_without_duplicates,
    a_requeued_chunk_comes_back_with_delivery_count_two,
    unacked_deliveries_go_to_another_consumer_when_the_first_one_closes,
    a_dropped_consumer_returns_its_unacked_deliveries_too,
    settling_a_delivery_after_its_consumer_closed_is_unavailable,
    prefetch_is_honoured_until_a_delivery_is_acked,
    a_chunk_requeued_past_the_delivery_limit_is_dead_lettered_and_the_queue_keeps_flowing,
    deliveries_lost_with_their_consumer_count_towards_the_delivery_limit,
    a_rejected_chunk_is_dead_lettered_with_reason_rejected,
    an_unacked_dead_letter_goes_to_the_next_reader,
);

async fn next_dead(dead: &mut DeadLetters) -> DeadLetter {
    tokio::time::timeout(WAIT, dead.next())
        .await
        .expect("a dead letter within the wait")
        .expect("a dead letter, not an error")
}

async fn published_chunks_arrive_in_order_with_their_message_id_and_payload_after_confirms<
    B: Backend,
>() {
    let queue = B::start(&["dc1"], Settings::default()).await;
    let publisher = queue.publisher().await;
    publisher.ensure_segment("dc1").await.unwrap();
    let items = chunks("dc1", 25);

    publisher.publish_chunks(&items).await.unwrap();

    // Confirmed means stored: every chunk is in the queue the moment the call returns.
    assert_eq!(queue.queue_depth("dc1").await.unwrap(), 25);
    let mut consumer = queue.consumer("dc1").await;
    for (chunk_id, _, payload) in &items {
        let delivery = next(&mut consumer).await;
        assert_eq!(&delivery.chunk_id, chunk_id);
        assert_eq!(&delivery.payload, payload);
        assert_eq!(delivery.delivery_count, 1);
        assert!(!delivery.redelivered);
        delivery.ack().await.unwrap();
    }
    consumer.close().await;
    assert_eq!(queue.queue_depth("dc1").await.unwrap(), 0);
    publisher.close().await;
}

async fn publishing_to_a_segment_without_a_queue_is_an_unroutable_error_naming_the_chunk<
    B: Backend,
>() {
    let queue = B::start(&["dc1", "nowhere"], Settings::default()).await;
    let publisher = queue.publisher().await;
    publisher.ensure_segment("dc1").await.unwrap();
    let lost = chunk_id();

    let error = publisher
        .publish_chunks(&[(lost.as_str(), "nowhere", b"x".as_slice())])
        .await
        .unwrap_err();

    assert_eq!(
        error,
        QueueError::Unroutable {
            chunk_id: lost.clone(),
            segment: "nowhere".to_owned()
        }
    );
    assert!(error.to_string().contains(&lost), "{error}");
    // The publisher stays usable, and a mixed batch says which chunk failed.
    let ok = chunk_id();
    let outcomes = publisher
        .publish_chunks_each(&[
            (ok.as_str(), "dc1", b"a".as_slice()),
            (lost.as_str(), "nowhere", b"b".as_slice()),
        ])
        .await
        .unwrap();
    assert_eq!(outcomes[0], Ok(()));
    assert!(
        matches!(&outcomes[1], Err(QueueError::Unroutable { chunk_id, .. }) if *chunk_id == lost)
    );
    assert_eq!(queue.queue_depth("dc1").await.unwrap(), 1);
    publisher.close().await;
}

async fn bad_segment_names_and_chunk_ids_are_errors_before_anything_is_sent<B: Backend>() {
    let queue = B::start(&["dc1"], Settings::default()).await;
    let publisher = queue.publisher().await;
    publisher.ensure_segment("dc1").await.unwrap();

    let bad_segment = publisher.ensure_segment("Not A Segment").await.unwrap_err();
    assert!(
        matches!(bad_segment, QueueError::InvalidSegment { .. }),
        "{bad_segment}"
    );
    let long_id = "9".repeat(300);
    let batch = [
        (chunk_id(), "dc1".to_owned(), b"first".to_vec()),
        (long_id, "dc1".to_owned(), b"second".to_vec()),
    ];
    let bad_id = publisher.publish_chunks(&batch).await.unwrap_err();
    assert!(
        matches!(bad_id, QueueError::InvalidChunkId { .. }),
        "{bad_id}"
    );
    let empty_id = publisher
        .publish_chunks(&[("", "dc1", b"x".as_slice())])
        .await
        .unwrap_err();
    assert!(
        matches!(empty_id, QueueError::InvalidChunkId { .. }),
        "{empty_id}"
    );

    assert_eq!(
        queue.queue_depth("dc1").await.unwrap(),
        0,
        "nothing half-sent"
    );
    publisher.close().await;
}

async fn queue_depth_of_an_undeclared_segment_is_not_found<B: Backend>() {
    let queue = B::start(&[], Settings::default()).await;
    let error = queue.queue_depth("ghost").await.unwrap_err();
    assert!(
        matches!(error, QueueError::NotFound { ref queue } if queue.ends_with(".work.ghost")),
        "{error}"
    );
}

async fn a_waiting_consumer_gets_a_chunk_published_after_it_started_waiting<B: Backend>() {
    let queue = B::start(&["dc1"], Settings::default()).await;
    let publisher = queue.publisher().await;
    publisher.ensure_segment("dc1").await.unwrap();
    let mut consumer = queue.consumer("dc1").await;
    assert!(
        try_next(&mut consumer, Duration::from_millis(200))
            .await
            .is_none(),
        "an empty queue delivers nothing"
    );
    let items = chunks("dc1", 1);

    let (delivery, published) = tokio::join!(next(&mut consumer), async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        publisher.publish_chunks(&items).await
    });

    published.unwrap();
    assert_eq!(delivery.chunk_id, items[0].0);
    delivery.ack().await.unwrap();
    consumer.close().await;
    publisher.close().await;
}

async fn consumers_of_one_segment_share_its_chunks_without_duplicates<B: Backend>() {
    let queue = B::start(
        &["dc1"],
        Settings {
            prefetch: 2,
            ..Settings::default()
        },
    )
    .await;
    let publisher = queue.publisher().await;
    publisher.ensure_segment("dc1").await.unwrap();
    let items = chunks("dc1", 4);
    publisher.publish_chunks(&items).await.unwrap();
    let mut first = queue.consumer("dc1").await;
    let mut second = queue.consumer("dc1").await;

    // Each agent holds as many as its prefetch allows; together they hold every chunk once.
    let held = [
        next(&mut first).await,
        next(&mut first).await,
        next(&mut second).await,
        next(&mut second).await,
    ];
    for consumer in [&mut first, &mut second] {
        assert!(
            try_next(consumer, Duration::from_millis(300))
                .await
                .is_none(),
            "a chunk was handed out twice, or past the prefetch"
        );
    }
    let mut seen: Vec<String> = held.iter().map(|d| d.chunk_id.clone()).collect();
    seen.sort();
    let mut expected: Vec<String> = items.iter().map(|i| i.0.clone()).collect();
    expected.sort();
    assert_eq!(seen, expected);
    for delivery in &held {
        assert_eq!(delivery.delivery_count, 1);
        delivery.ack().await.unwrap();
    }
    first.close().await;
    second.close().await;
    assert_eq!(queue.queue_depth("dc1").await.unwrap(), 0);
    publisher.close().await;
}

async fn a_requeued_chunk_comes_back_with_delivery_count_two<B: Backend>() {
    let queue = B::start(&["dc1"], Settings::default()).await;
    let publisher = queue.publisher().await;
    publisher.ensure_segment("dc1").await.unwrap();
    let items = chunks("dc1", 1);
    publisher.publish_chunks(&items).await.unwrap();
    let mut consumer = queue.consumer("dc1").await;

    let first = next(&mut consumer).await;
    assert_eq!(first.delivery_count, 1);
    first.requeue().await.unwrap();
    let second = next(&mut consumer).await;

    assert_eq!(second.chunk_id, items[0].0);
    assert_eq!(second.payload, items[0].2);
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

async fn unacked_deliveries_go_to_another_consumer_when_the_first_one_closes<B: Backend>() {
    let queue = B::start(&["dc1"], Settings::default()).await;
    let publisher = queue.publisher().await;
    publisher.ensure_segment("dc1").await.unwrap();
    let items = chunks("dc1", 2);
    publisher.publish_chunks(&items).await.unwrap();

    // The first agent takes both chunks and dies before finishing either.
    let mut doomed = queue.consumer("dc1").await;
    let taken = [next(&mut doomed).await, next(&mut doomed).await];
    assert_eq!(taken[1].chunk_id, items[1].0);
    let mut survivor = queue.consumer("dc1").await;
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

async fn a_dropped_consumer_returns_its_unacked_deliveries_too<B: Backend>() {
    let queue = B::start(&["dc1"], Settings::default()).await;
    let publisher = queue.publisher().await;
    publisher.ensure_segment("dc1").await.unwrap();
    let items = chunks("dc1", 1);
    publisher.publish_chunks(&items).await.unwrap();

    let mut crashed = queue.consumer("dc1").await;
    let held = next(&mut crashed).await;
    drop(held);
    drop(crashed);

    let mut survivor = queue.consumer("dc1").await;
    let delivery = next(&mut survivor).await;
    assert_eq!(delivery.chunk_id, items[0].0);
    assert_eq!(delivery.delivery_count, 2);
    assert!(delivery.redelivered);
    delivery.ack().await.unwrap();
    survivor.close().await;
    publisher.close().await;
}

async fn settling_a_delivery_after_its_consumer_closed_is_unavailable<B: Backend>() {
    let queue = B::start(&["dc1"], Settings::default()).await;
    let publisher = queue.publisher().await;
    publisher.ensure_segment("dc1").await.unwrap();
    let items = chunks("dc1", 1);
    publisher.publish_chunks(&items).await.unwrap();
    let mut consumer = queue.consumer("dc1").await;
    let late = next(&mut consumer).await;

    consumer.close().await;

    let error = late.ack().await.unwrap_err();
    assert!(matches!(error, QueueError::Unavailable(_)), "{error}");
    // The late ack removed nothing: the chunk is back for the next agent.
    let mut next_agent = queue.consumer("dc1").await;
    let again = next(&mut next_agent).await;
    assert_eq!(again.chunk_id, items[0].0);
    assert_eq!(again.delivery_count, 2);
    again.ack().await.unwrap();
    next_agent.close().await;
    publisher.close().await;
}

async fn prefetch_is_honoured_until_a_delivery_is_acked<B: Backend>() {
    let queue = B::start(
        &["dc1"],
        Settings {
            prefetch: 2,
            ..Settings::default()
        },
    )
    .await;
    let publisher = queue.publisher().await;
    publisher.ensure_segment("dc1").await.unwrap();
    let items = chunks("dc1", 5);
    publisher.publish_chunks(&items).await.unwrap();
    let mut consumer = queue.consumer("dc1").await;

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

async fn a_chunk_requeued_past_the_delivery_limit_is_dead_lettered_and_the_queue_keeps_flowing<
    B: Backend,
>() {
    let queue = B::start(
        &["dc1"],
        Settings {
            delivery_limit: 2,
            ..Settings::default()
        },
    )
    .await;
    let publisher = queue.publisher().await;
    publisher.ensure_segment("dc1").await.unwrap();
    let items = chunks("dc1", 2);
    let (poison, healthy) = (&items[0], &items[1]);
    publisher.publish_chunks(&items).await.unwrap();
    let mut dead = queue.dead_letters().await;
    let mut consumer = queue.consumer("dc1").await;

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
    assert_eq!(letter.reason, "delivery limit exceeded after 3 deliveries");
    letter.ack().await.unwrap();
    assert_eq!(queue.queue_depth("dc1").await.unwrap(), 0);
    consumer.close().await;
    dead.close().await;
    publisher.close().await;
}

async fn deliveries_lost_with_their_consumer_count_towards_the_delivery_limit<B: Backend>() {
    let queue = B::start(
        &["dc1"],
        Settings {
            delivery_limit: 1,
            ..Settings::default()
        },
    )
    .await;
    let publisher = queue.publisher().await;
    publisher.ensure_segment("dc1").await.unwrap();
    let items = chunks("dc1", 1);
    publisher.publish_chunks(&items).await.unwrap();
    let mut dead = queue.dead_letters().await;

    // A chunk that crashes every agent that takes it.
    for expected_count in [1, 2] {
        let mut agent = queue.consumer("dc1").await;
        let delivery = next(&mut agent).await;
        assert_eq!(delivery.chunk_id, items[0].0);
        assert_eq!(delivery.delivery_count, expected_count);
        agent.close().await;
    }

    let letter = next_dead(&mut dead).await;
    assert_eq!(letter.chunk_id, items[0].0);
    assert_eq!(letter.segment, "dc1");
    assert_eq!(letter.reason, "delivery limit exceeded after 2 deliveries");
    letter.ack().await.unwrap();
    let mut agent = queue.consumer("dc1").await;
    assert!(
        try_next(&mut agent, Duration::from_millis(300))
            .await
            .is_none(),
        "a dead-lettered chunk was delivered again"
    );
    assert_eq!(queue.queue_depth("dc1").await.unwrap(), 0);
    agent.close().await;
    dead.close().await;
    publisher.close().await;
}

async fn a_rejected_chunk_is_dead_lettered_with_reason_rejected<B: Backend>() {
    let queue = B::start(&["dc1"], Settings::default()).await;
    let publisher = queue.publisher().await;
    publisher.ensure_segment("dc1").await.unwrap();
    let items = chunks("dc1", 1);
    publisher.publish_chunks(&items).await.unwrap();
    let mut consumer = queue.consumer("dc1").await;
    let mut dead = queue.dead_letters().await;

    next(&mut consumer).await.reject().await.unwrap();

    let letter = next_dead(&mut dead).await;
    assert_eq!(letter.chunk_id, items[0].0);
    assert_eq!(letter.segment, "dc1");
    assert_eq!(letter.reason, "rejected");
    assert_eq!(letter.payload, items[0].2);
    letter.ack().await.unwrap();
    assert!(
        try_next(&mut consumer, Duration::from_millis(300))
            .await
            .is_none(),
        "a rejected chunk was delivered again"
    );
    consumer.close().await;
    dead.close().await;
    publisher.close().await;
}

async fn an_unacked_dead_letter_goes_to_the_next_reader<B: Backend>() {
    let queue = B::start(&["dc1"], Settings::default()).await;
    let publisher = queue.publisher().await;
    publisher.ensure_segment("dc1").await.unwrap();
    let items = chunks("dc1", 1);
    publisher.publish_chunks(&items).await.unwrap();
    let mut consumer = queue.consumer("dc1").await;
    next(&mut consumer).await.reject().await.unwrap();

    // The controller reads the dead letter and stops before recording it (store down).
    let mut crashed = queue.dead_letters().await;
    let unrecorded = next_dead(&mut crashed).await;
    assert_eq!(unrecorded.chunk_id, items[0].0);
    crashed.close().await;

    let mut dead = queue.dead_letters().await;
    let letter = next_dead(&mut dead).await;
    assert_eq!(letter.chunk_id, items[0].0);
    assert_eq!(letter.segment, "dc1");
    assert_eq!(letter.reason, "rejected");
    letter.ack().await.unwrap();
    assert!(
        tokio::time::timeout(Duration::from_millis(300), dead.next())
            .await
            .is_err(),
        "an acked dead letter came back"
    );
    consumer.close().await;
    dead.close().await;
    publisher.close().await;
}
