use std::time::{Duration, Instant};

use opsconductor_queue::{Consumer, Publisher, QueueError, queue_depth};

use crate::helpers::{TestQueue, chunk_id, chunks, next};

#[tokio::test]
async fn published_chunks_arrive_in_order_with_their_message_id_and_payload_after_confirms() {
    let test = TestQueue::new(&["dc1"]).await;
    let publisher = Publisher::connect(&test.config).await.unwrap();
    publisher.ensure_segment("dc1").await.unwrap();
    let items = chunks("dc1", 25);

    publisher.publish_chunks(&items).await.unwrap();

    // Confirmed means stored: every chunk is in the queue the moment the call returns.
    assert_eq!(queue_depth(&test.config, "dc1").await.unwrap(), 25);
    let mut consumer = Consumer::connect(&test.config, "dc1").await.unwrap();
    for (chunk_id, _, payload) in &items {
        let delivery = next(&mut consumer).await;
        assert_eq!(&delivery.chunk_id, chunk_id);
        assert_eq!(&delivery.payload, payload);
        assert_eq!(delivery.delivery_count, 1);
        assert!(!delivery.redelivered);
        delivery.ack().await.unwrap();
    }
    consumer.close().await;
    assert_eq!(queue_depth(&test.config, "dc1").await.unwrap(), 0);
    publisher.close().await;
}

#[tokio::test]
async fn publishing_to_a_segment_without_a_queue_is_an_unroutable_error_naming_the_chunk() {
    let test = TestQueue::new(&["dc1", "nowhere"]).await;
    let publisher = Publisher::connect(&test.config).await.unwrap();
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
    assert_eq!(queue_depth(&test.config, "dc1").await.unwrap(), 1);
    publisher.close().await;
}

#[tokio::test]
async fn bad_segment_names_and_chunk_ids_are_errors_before_anything_is_sent() {
    let test = TestQueue::new(&["dc1"]).await;
    let publisher = Publisher::connect(&test.config).await.unwrap();
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
        queue_depth(&test.config, "dc1").await.unwrap(),
        0,
        "nothing half-sent"
    );
    publisher.close().await;
}

#[tokio::test]
async fn queue_depth_of_an_undeclared_segment_is_not_found() {
    let test = TestQueue::new(&[]).await;
    let error = queue_depth(&test.config, "ghost").await.unwrap_err();
    assert!(
        matches!(error, QueueError::NotFound { ref queue } if queue.ends_with(".work.ghost")),
        "{error}"
    );
}

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
