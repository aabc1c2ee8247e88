//! Result ingest: idempotence, counters, run completion, dead letters, rejection.

use opsconductor_core::ids::{AgentId, RunId};
use opsconductor_core::model::{ResultStatus, RunStatus};
use opsconductor_store::prelude::*;
use opsconductor_store::{ChunkState, IngestOutcome, StoreError};
use serde_json::{Map, Value, json};

use crate::{job, new_run, result, results_for, targets};

on_both_backends!(
    a_duplicate_batch_is_stored_once,
    concurrent_copies_of_a_batch_are_counted_once,
    a_run_completes_when_its_last_result_lands,
    results_come_back_as_they_were_stored,
    a_result_for_an_unknown_run_rejects_the_whole_batch,
    an_action_index_beyond_the_schema_is_invalid,
    dead_lettering_a_chunk_records_its_missing_results_as_errors,
);

async fn a_duplicate_batch_is_stored_once(store: SharedStore) {
    let job = job(&*store).await;
    let all = targets(20);
    let new = new_run(&job, &all, 20, 1);
    store.create_run(&new).await.unwrap();
    let batch = results_for(new.id, &all[..10], 1, ResultStatus::Ok);

    let first = store.ingest_results(None, None, &batch).await.unwrap();
    let second = store.ingest_results(None, None, &batch).await.unwrap();
    assert_eq!(
        first,
        IngestOutcome {
            inserted: 10,
            duplicates: 0
        }
    );
    assert_eq!(
        second,
        IngestOutcome {
            inserted: 0,
            duplicates: 10
        }
    );

    let mut overlapping = results_for(new.id, &all[5..15], 1, ResultStatus::Ok);
    overlapping.push(overlapping[0].clone());
    let third = store
        .ingest_results(None, None, &overlapping)
        .await
        .unwrap();
    assert_eq!(
        third,
        IngestOutcome {
            inserted: 5,
            duplicates: 6
        }
    );

    let run = store.get_run(new.id).await.unwrap();
    assert_eq!(run.counters.ok, 15, "counters do not double");
    assert_eq!(run.status, RunStatus::Queued);
    assert_eq!(store.count_results(new.id).await.unwrap(), 15);
}

async fn concurrent_copies_of_a_batch_are_counted_once(store: SharedStore) {
    let job = job(&*store).await;
    let all = targets(500);
    let new = new_run(&job, &all, 250, 2);
    store.create_run(&new).await.unwrap();
    let batch = results_for(new.id, &all, 2, ResultStatus::Warn);

    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            let batch = batch.clone();
            tokio::spawn(async move { store.ingest_results(None, None, &batch).await })
        })
        .collect();
    let mut inserted = 0;
    for task in tasks {
        inserted += task.await.unwrap().unwrap().inserted;
    }
    assert_eq!(inserted, 1000);
    let run = store.get_run(new.id).await.unwrap();
    assert_eq!(run.counters.warn, 1000);
    assert_eq!(run.status, RunStatus::Completed);
}

async fn a_run_completes_when_its_last_result_lands(store: SharedStore) {
    let job = job(&*store).await;
    let all = targets(3);
    let new = new_run(&job, &all, 3, 2);
    store.create_run(&new).await.unwrap();

    let mut batch = results_for(new.id, &all, 2, ResultStatus::Ok);
    let last = batch.pop().unwrap();
    batch[0].status = ResultStatus::Fail;
    batch[1].status = ResultStatus::Timeout;
    store.ingest_results(None, None, &batch).await.unwrap();
    let run = store.get_run(new.id).await.unwrap();
    assert_eq!(run.status, RunStatus::Queued);
    assert_eq!(run.finished_at, None);
    assert_eq!(run.counters.pending(), 1);

    store.ingest_results(None, None, &[last]).await.unwrap();
    let run = store.get_run(new.id).await.unwrap();
    assert_eq!(run.status, RunStatus::Completed);
    assert!(run.finished_at.is_some());
    assert_eq!(
        (run.counters.ok, run.counters.failed, run.counters.timeout),
        (4, 1, 1)
    );
    assert_eq!(run.counters.pending(), 0);
}

async fn results_come_back_as_they_were_stored(store: SharedStore) {
    let job = job(&*store).await;
    let all = vec!["b.example".to_owned(), "a.example".to_owned()];
    let new = new_run(&job, &all, 2, 2);
    store.create_run(&new).await.unwrap();
    let agent = AgentId::new();

    let mut rich = result(new.id, "b.example", 1, ResultStatus::Warn);
    rich.timings = json!({"connect_ms": 1.25}).as_object().unwrap().clone();
    rich.rows = vec![
        json!({"if": "eth0", "in_octets": 12_345_678_901_u64})
            .as_object()
            .unwrap()
            .clone(),
    ];
    rich.raw_excerpt = Some("SSH-2.0-OpenSSH_9.2".into());
    rich.reason = Some("rtt above 10 ms".into());
    let mut binary = result(new.id, "a.example", 0, ResultStatus::Error);
    binary.raw_excerpt = Some("\u{0}\u{1}banner".into());
    binary.fields = Map::from_iter([("odd\u{0}key".to_owned(), Value::from("x\u{0}y"))]);
    store
        .ingest_results(Some(new.chunks[0].id), Some(agent), &[rich.clone(), binary])
        .await
        .unwrap();

    let stored = store.results_for_run(new.id).await.unwrap();
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[0].target, "a.example", "ordered by target");
    assert_eq!(
        stored[0].raw_excerpt.as_deref(),
        Some("\u{fffd}\u{1}banner"),
        "NUL cannot be stored and is replaced"
    );
    assert_eq!(stored[0].fields["odd\u{fffd}key"], "x\u{fffd}y");
    assert_eq!(
        stored[0].agent_id,
        Some(agent),
        "the session's agent is recorded"
    );
    let mut expected = rich;
    expected.agent_id = Some(agent);
    // Stored at microsecond precision.
    expected.started_at = stored[1].started_at;
    assert_eq!(stored[1], expected);
    assert!(stored[1].rows[0]["in_octets"].is_u64());
}

async fn a_result_for_an_unknown_run_rejects_the_whole_batch(store: SharedStore) {
    let job = job(&*store).await;
    let all = targets(2);
    let new = new_run(&job, &all, 2, 1);
    store.create_run(&new).await.unwrap();
    let stranger = RunId::new();
    let batch = vec![
        result(new.id, &all[0], 0, ResultStatus::Ok),
        result(stranger, &all[1], 0, ResultStatus::Ok),
    ];

    let err = store.ingest_results(None, None, &batch).await.unwrap_err();
    assert_eq!(
        err,
        StoreError::NotFound {
            what: format!("run {stranger}")
        }
    );
    assert_eq!(store.count_results(new.id).await.unwrap(), 0);
    assert_eq!(store.get_run(new.id).await.unwrap().counters.ok, 0);
}

async fn an_action_index_beyond_the_schema_is_invalid(store: SharedStore) {
    let job = job(&*store).await;
    let new = new_run(&job, &targets(1), 1, 1);
    store.create_run(&new).await.unwrap();
    let bad = result(new.id, "10.0.0.0", u32::MAX, ResultStatus::Ok);
    let err = store.ingest_results(None, None, &[bad]).await.unwrap_err();
    assert!(matches!(err, StoreError::Invalid { .. }), "{err:?}");
}

async fn dead_lettering_a_chunk_records_its_missing_results_as_errors(store: SharedStore) {
    let job = job(&*store).await;
    let all = targets(4);
    let new = new_run(&job, &all, 2, 2);
    store.create_run(&new).await.unwrap();
    let (poison, fine) = (&new.chunks[0], &new.chunks[1]);
    store
        .ingest_results(
            Some(fine.id),
            None,
            &results_for(new.id, &all[2..], 2, ResultStatus::Ok),
        )
        .await
        .unwrap();
    store
        .ingest_results(
            Some(poison.id),
            None,
            &[result(new.id, &all[0], 0, ResultStatus::Ok)],
        )
        .await
        .unwrap();

    let filled = store
        .dead_letter_chunk(poison.id, "delivery limit reached")
        .await
        .unwrap();
    assert_eq!(filled, 3);
    assert_eq!(
        store.dead_letter_chunk(poison.id, "again").await.unwrap(),
        0,
        "repeating it changes nothing"
    );

    let run = store.get_run(new.id).await.unwrap();
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!((run.counters.ok, run.counters.error), (5, 3));
    let errors: Vec<_> = store
        .results_for_run(new.id)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.status == ResultStatus::Error)
        .collect();
    assert_eq!(errors.len(), 3);
    assert!(
        errors
            .iter()
            .all(|r| r.target == all[0] || r.target == all[1])
    );
    assert!(
        errors
            .iter()
            .all(|r| r.reason.as_deref() == Some("chunk dead-lettered: delivery limit reached"))
    );

    let chunk = &store.chunks_for_run(new.id).await.unwrap()[0];
    assert_eq!(chunk.state, ChunkState::Dead);
    assert_eq!(chunk.dead_reason.as_deref(), Some("delivery limit reached"));
}
