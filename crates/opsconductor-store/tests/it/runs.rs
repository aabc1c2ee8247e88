//! Run creation, the outbox relay cycle, the chunk life cycle, cancellation and deadlines.

use opsconductor_store::prelude::*;
use std::time::Duration;

use chrono::Utc;
use opsconductor_core::ids::AgentId;
use opsconductor_core::model::{ResultStatus, RunStatus, RunTrigger};
use opsconductor_store::testing::fresh_database;
use opsconductor_store::{ChunkRef, ChunkState, StoreError};

use crate::{job, new_run, result, results_for, targets};

const LEASE: Duration = Duration::from_secs(60);

#[tokio::test]
async fn create_run_writes_the_run_its_chunks_and_their_outbox_rows() {
    let (store, _db) = fresh_database().await;
    let job = job(&store).await;
    let new = new_run(&job, &targets(5), 2, 3);

    let run = store.create_run(&new).await.unwrap();
    assert_eq!(run.status, RunStatus::Queued);
    assert_eq!(run.counters.total, 15, "5 targets × 3 actions");
    assert_eq!(store.get_run(new.id).await.unwrap(), run);

    let chunks = store.chunks_for_run(new.id).await.unwrap();
    assert_eq!(chunks.len(), 3);
    assert_eq!(chunks[2].targets, targets(5)[4..].to_vec());
    assert!(chunks.iter().all(|c| c.state == ChunkState::Pending));

    let claimed = store.claim_outbox(10, LEASE).await.unwrap();
    let claimed_chunks: Vec<_> = claimed.iter().map(|item| item.chunk_id).collect();
    let expected: Vec<_> = new.chunks.iter().map(|c| c.id).collect();
    assert_eq!(claimed_chunks, expected, "claimed in order");
    assert_eq!(claimed[1].payload, new.chunks[1].payload);
    assert!(
        store.claim_outbox(10, LEASE).await.unwrap().is_empty(),
        "a leased row is not claimed twice"
    );

    let published: Vec<i64> = claimed[..2].iter().map(|item| item.outbox_id).collect();
    store.mark_published(&published).await.unwrap();
    let states: Vec<ChunkState> = store
        .chunks_for_run(new.id)
        .await
        .unwrap()
        .iter()
        .map(|c| c.state)
        .collect();
    assert_eq!(
        states,
        [
            ChunkState::Published,
            ChunkState::Published,
            ChunkState::Pending
        ]
    );
}

#[tokio::test]
async fn an_outbox_row_whose_lease_ran_out_is_claimed_again() {
    let (store, _db) = fresh_database().await;
    let job = job(&store).await;
    let new = new_run(&job, &targets(2), 1, 1);
    store.create_run(&new).await.unwrap();

    let first = store.claim_outbox(1, Duration::ZERO).await.unwrap();
    let second = store.claim_outbox(10, LEASE).await.unwrap();
    assert_eq!(second.len(), 2, "the expired claim and the unclaimed row");
    assert_eq!(second[0].outbox_id, first[0].outbox_id);
}

#[tokio::test]
async fn a_run_that_cannot_be_written_leaves_nothing_behind() {
    let (store, _db) = fresh_database().await;
    let job = job(&store).await;
    let mut new = new_run(&job, &targets(4), 2, 1);
    new.chunks[1].seq = 0;

    let err = store.create_run(&new).await.unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists { .. }), "{err:?}");
    assert!(matches!(
        store.get_run(new.id).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(store.claim_outbox(10, LEASE).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_schedule_slot_fires_once() {
    let (store, _db) = fresh_database().await;
    let job = job(&store).await;
    let mut first = new_run(&job, &targets(1), 1, 1);
    first.trigger = RunTrigger::Schedule;
    let mut second = new_run(&job, &targets(1), 1, 1);
    second.trigger = RunTrigger::Schedule;
    second.scheduled_for = first.scheduled_for;

    store.create_run(&first).await.unwrap();
    let err = store.create_run(&second).await.unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists { .. }), "{err:?}");
}

#[tokio::test]
async fn a_run_of_an_unknown_job_is_not_found() {
    let (store, _db) = fresh_database().await;
    let mut job = job(&store).await;
    job.id = opsconductor_core::ids::JobId::new();
    let err = store
        .create_run(&new_run(&job, &targets(1), 1, 1))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        StoreError::NotFound {
            what: format!("job {}", job.id)
        }
    );
}

#[tokio::test]
async fn a_run_with_nothing_to_do_is_created_completed() {
    let (store, _db) = fresh_database().await;
    let job = job(&store).await;
    let run = store.create_run(&new_run(&job, &[], 1, 1)).await.unwrap();
    assert_eq!(run.status, RunStatus::Completed);
    assert!(run.finished_at.is_some());
    assert!(store.active_runs().await.unwrap().is_empty());
}

#[tokio::test]
async fn starting_a_chunk_runs_it_and_its_run() {
    let (store, _db) = fresh_database().await;
    let job = job(&store).await;
    let new = new_run(&job, &targets(4), 2, 1);
    store.create_run(&new).await.unwrap();
    let agent = AgentId::new();

    store
        .chunk_started(new.chunks[0].id, agent, 2)
        .await
        .unwrap();
    let run = store.get_run(new.id).await.unwrap();
    assert_eq!(run.status, RunStatus::Running);
    assert!(run.started_at.is_some());
    assert_eq!(store.active_runs().await.unwrap(), vec![run]);

    let chunk = &store.chunks_for_run(new.id).await.unwrap()[0];
    assert_eq!(chunk.state, ChunkState::Running);
    assert_eq!(chunk.agent_id, Some(agent));
    assert_eq!(chunk.attempts, 2);
    let unpublished: Vec<_> = store
        .claim_outbox(10, LEASE)
        .await
        .unwrap()
        .into_iter()
        .map(|item| item.chunk_id)
        .collect();
    assert_eq!(
        unpublished,
        vec![new.chunks[1].id],
        "a started chunk is not published again"
    );

    store.chunk_finished(new.chunks[0].id).await.unwrap();
    store
        .chunk_started(new.chunks[0].id, agent, 3)
        .await
        .unwrap();
    let chunk = &store.chunks_for_run(new.id).await.unwrap()[0];
    assert_eq!(
        chunk.state,
        ChunkState::Done,
        "a late start changes nothing"
    );
    assert!(chunk.finished_at.is_some());

    let err = store
        .chunk_started(opsconductor_core::ids::ChunkId::new(), agent, 1)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
}

#[tokio::test]
async fn cancelling_a_run_records_the_rest_as_errors_and_empties_its_outbox() {
    let (store, _db) = fresh_database().await;
    let job = job(&store).await;
    let all = targets(6);
    let new = new_run(&job, &all, 2, 2);
    store.create_run(&new).await.unwrap();
    let claimed = store.claim_outbox(10, LEASE).await.unwrap();
    store.mark_published(&[claimed[0].outbox_id]).await.unwrap();
    let agent = AgentId::new();
    store
        .chunk_started(new.chunks[1].id, agent, 1)
        .await
        .unwrap();
    let done = result(new.id, &all[2], 0, ResultStatus::Ok);
    store
        .ingest_results(Some(new.chunks[1].id), Some(agent), &[done])
        .await
        .unwrap();

    let out = store.cancel_run(new.id, "operator said so").await.unwrap();
    assert_eq!(
        out,
        vec![
            ChunkRef {
                id: new.chunks[0].id,
                segment: "default".into(),
                agent_id: None
            },
            ChunkRef {
                id: new.chunks[1].id,
                segment: "default".into(),
                agent_id: Some(agent)
            },
        ]
    );

    let run = store.get_run(new.id).await.unwrap();
    assert_eq!(run.status, RunStatus::Cancelled);
    assert_eq!(run.reason.as_deref(), Some("operator said so"));
    assert_eq!((run.counters.ok, run.counters.error), (1, 11));
    let results = store.results_for_run(new.id).await.unwrap();
    assert_eq!(results.len(), 12);
    assert!(
        results
            .iter()
            .filter(|r| r.status == ResultStatus::Error)
            .all(|r| r.reason.as_deref() == Some("run cancelled: operator said so"))
    );

    let states: Vec<ChunkState> = store
        .chunks_for_run(new.id)
        .await
        .unwrap()
        .iter()
        .map(|c| c.state)
        .collect();
    assert_eq!(
        states,
        [
            ChunkState::Cancelled,
            ChunkState::Running,
            ChunkState::Cancelled
        ]
    );
    assert!(
        store
            .claim_outbox(10, Duration::ZERO)
            .await
            .unwrap()
            .is_empty(),
        "nothing of the run is left to publish, leased or not"
    );

    let late = result(new.id, &all[3], 1, ResultStatus::Ok);
    let outcome = store
        .ingest_results(Some(new.chunks[1].id), Some(agent), &[late])
        .await
        .unwrap();
    assert_eq!(
        outcome.duplicates, 1,
        "late results of a cancelled run collapse"
    );

    let again = store.cancel_run(new.id, "twice").await.unwrap_err();
    assert!(matches!(again, StoreError::Conflict { .. }), "{again:?}");
    assert!(!again.is_transient());
}

#[tokio::test]
async fn expire_runs_records_unfinished_targets_as_timeouts() {
    let (store, _db) = fresh_database().await;
    let job = job(&store).await;
    let all = targets(4);
    let late = new_run(&job, &all, 2, 1);
    let on_time = new_run(&job, &all, 4, 1);
    store.create_run(&late).await.unwrap();
    store.create_run(&on_time).await.unwrap();
    store
        .ingest_results(
            None,
            None,
            &results_for(late.id, &all[..1], 1, ResultStatus::Ok),
        )
        .await
        .unwrap();
    store
        .ingest_results(
            None,
            None,
            &results_for(on_time.id, &all, 1, ResultStatus::Ok),
        )
        .await
        .unwrap();

    assert!(store.expire_runs(Utc::now()).await.unwrap().is_empty());
    let after_deadline = late.deadline_at + chrono::Duration::seconds(1);
    assert_eq!(
        store.expire_runs(after_deadline).await.unwrap(),
        vec![late.id]
    );
    assert!(store.expire_runs(after_deadline).await.unwrap().is_empty());

    let run = store.get_run(late.id).await.unwrap();
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!((run.counters.ok, run.counters.timeout), (1, 3));
    assert_eq!(
        run.reason.as_deref(),
        Some("run deadline passed: 3 of 4 results recorded as timeout")
    );
    let timeouts: Vec<_> = store
        .results_for_run(late.id)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.status == ResultStatus::Timeout)
        .collect();
    assert_eq!(timeouts.len(), 3);
    assert!(timeouts.iter().all(
        |r| r.reason.as_deref() == Some("run deadline passed before this target was executed")
    ));
    assert!(
        store
            .chunks_for_run(late.id)
            .await
            .unwrap()
            .iter()
            .all(|c| c.state == ChunkState::Cancelled)
    );
    let on_time = store.get_run(on_time.id).await.unwrap();
    assert_eq!(on_time.status, RunStatus::Completed);
    assert_eq!(
        on_time.reason, None,
        "a run that completed in time is not swept"
    );
}
