//! Run creation, the outbox relay cycle, the chunk life cycle, cancellation and deadlines.

use opsconductor_store::prelude::*;
use std::time::Duration;

use chrono::Utc;
use opsconductor_core::ids::AgentId;
use opsconductor_core::model::{ResultStatus, RunStatus, RunTrigger};
use opsconductor_store::{ChunkRef, ChunkState, StoreError};

use crate::{job, new_run, result, results_for, targets};

on_both_backends!(
    create_run_writes_the_run_its_chunks_and_their_outbox_rows,
    an_outbox_row_whose_lease_ran_out_is_claimed_again,
    a_run_that_cannot_be_written_leaves_nothing_behind,
    a_schedule_slot_fires_once,
    a_run_of_an_unknown_job_is_not_found,
    a_run_with_nothing_to_do_is_created_completed,
    starting_a_chunk_runs_it_and_its_run,
    cancelling_a_run_records_the_rest_as_errors_and_empties_its_outbox,
    expire_runs_records_unfinished_targets_as_timeouts,
);

const LEASE: Duration = Duration::from_secs(60);

async fn create_run_writes_the_run_its_chunks_and_their_outbox_rows(store: SharedStore) {
    let job = job(&*store).await;
    let new = new_run(&job, &targets(5), 2, 3);

    let run = store.create_run(&new).await.unwrap();
    assert_eq!(run.status, RunStatus::Queued);
    assert_eq!(run.counters.total, 15, "5 targets × 3 actions");
    assert_eq!(store.get_run(new.id).await.unwrap(), run);

    let chunks = store.chunks_for_run(new.id).await.unwrap();
    assert_eq!(chunks.len(), 3);
    assert_eq!(chunks[2].targets, targets(5)[4..].to_vec());
    assert!(chunks.iter().all(|c| c.state == ChunkState::Pending));
    assert_eq!(
        store.outbox_backlog().await.unwrap(),
        3,
        "every chunk waits"
    );

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
    assert_eq!(
        store.outbox_backlog().await.unwrap(),
        1,
        "claimed and unpublished rows still count"
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
            ChunkState::Published,
            ChunkState::Published,
            ChunkState::Pending
        ]
    );
}

async fn an_outbox_row_whose_lease_ran_out_is_claimed_again(store: SharedStore) {
    let job = job(&*store).await;
    let new = new_run(&job, &targets(2), 1, 1);
    store.create_run(&new).await.unwrap();

    let first = store.claim_outbox(1, Duration::ZERO).await.unwrap();
    let second = store.claim_outbox(10, LEASE).await.unwrap();
    assert_eq!(second.len(), 2, "the expired claim and the unclaimed row");
    assert_eq!(second[0].outbox_id, first[0].outbox_id);
}

async fn a_run_that_cannot_be_written_leaves_nothing_behind(store: SharedStore) {
    let job = job(&*store).await;
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

async fn a_schedule_slot_fires_once(store: SharedStore) {
    let job = job(&*store).await;
    let mut first = new_run(&job, &targets(1), 1, 1);
    first.trigger = RunTrigger::Schedule;
    let mut second = new_run(&job, &targets(1), 1, 1);
    second.trigger = RunTrigger::Schedule;
    second.scheduled_for = first.scheduled_for;

    store.create_run(&first).await.unwrap();
    let err = store.create_run(&second).await.unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists { .. }), "{err:?}");
}

async fn a_run_of_an_unknown_job_is_not_found(store: SharedStore) {
    let mut job = job(&*store).await;
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

async fn a_run_with_nothing_to_do_is_created_completed(store: SharedStore) {
    let job = job(&*store).await;
    let run = store.create_run(&new_run(&job, &[], 1, 1)).await.unwrap();
    assert_eq!(run.status, RunStatus::Completed);
    assert!(run.finished_at.is_some());
    assert!(store.active_runs().await.unwrap().is_empty());
}

async fn starting_a_chunk_runs_it_and_its_run(store: SharedStore) {
    let job = job(&*store).await;
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

async fn cancelling_a_run_records_the_rest_as_errors_and_empties_its_outbox(store: SharedStore) {
    let job = job(&*store).await;
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

async fn expire_runs_records_unfinished_targets_as_timeouts(store: SharedStore) {
    let job = job(&*store).await;
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

on_both_backends!(
    a_batch_of_scheduled_runs_skips_only_the_taken_slots,
    a_batch_naming_an_unknown_job_writes_nothing,
    runs_are_listed_newest_first_with_a_cursor,
    a_run_keeps_the_job_spec_it_fired_with,
    ended_runs_are_reported_for_a_while,
    released_claims_are_claimed_again_at_once,
    chunks_are_read_one_at_a_time_and_unknown_ones_are_not_found,
    cancelling_an_unknown_run_is_not_found,
    a_segment_in_use_cannot_be_deleted,
);

async fn a_batch_of_scheduled_runs_skips_only_the_taken_slots(store: SharedStore) {
    let job = job(&*store).await;
    let scheduled = |minute: i64| {
        let mut run = new_run(&job, &targets(2), 1, 1);
        run.trigger = RunTrigger::Schedule;
        run.scheduled_for = chrono::DateTime::UNIX_EPOCH + chrono::Duration::minutes(minute);
        run
    };
    let earlier = scheduled(1);
    store.create_run(&earlier).await.unwrap();
    let mut catch_up = scheduled(1);
    catch_up.trigger = RunTrigger::CatchUp;
    let batch = vec![scheduled(2), catch_up, scheduled(3), scheduled(3)];

    let outcomes = store.create_runs(&batch).await.unwrap();
    assert_eq!(outcomes.len(), 4);
    assert_eq!(outcomes[0].as_ref().unwrap().id, batch[0].id);
    assert!(
        matches!(outcomes[1], Err(StoreError::AlreadyExists { .. })),
        "a catch-up collides with the on-time fire of its slot: {:?}",
        outcomes[1]
    );
    assert_eq!(outcomes[2].as_ref().unwrap().status, RunStatus::Queued);
    assert!(
        matches!(outcomes[3], Err(StoreError::AlreadyExists { .. })),
        "the same slot twice in one batch: {:?}",
        outcomes[3]
    );
    let runs = store.runs_of_job(job.id).await.unwrap();
    let ids: Vec<_> = runs.iter().map(|r| r.id).collect();
    assert_eq!(
        ids,
        vec![earlier.id, batch[0].id, batch[2].id],
        "by fire time"
    );
    assert!(matches!(
        store.get_run(batch[3].id).await,
        Err(StoreError::NotFound { .. })
    ));
    let chunks: std::collections::HashSet<_> = store
        .claim_outbox(100, LEASE)
        .await
        .unwrap()
        .into_iter()
        .map(|item| item.chunk_id)
        .collect();
    let expected: std::collections::HashSet<_> = [&earlier, &batch[0], &batch[2]]
        .iter()
        .flat_map(|run| run.chunks.iter().map(|c| c.id))
        .collect();
    assert_eq!(
        chunks, expected,
        "the written runs' chunks, and only theirs, are in the outbox"
    );
    assert!(store.create_runs(&[]).await.unwrap().is_empty());
}

async fn a_batch_naming_an_unknown_job_writes_nothing(store: SharedStore) {
    let job = job(&*store).await;
    let good = new_run(&job, &targets(1), 1, 1);
    let mut stranger = job.clone();
    stranger.id = opsconductor_core::ids::JobId::new();
    let bad = new_run(&stranger, &targets(1), 1, 1);
    let err = store.create_runs(&[good.clone(), bad]).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
    assert!(matches!(
        store.get_run(good.id).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(store.claim_outbox(10, LEASE).await.unwrap().is_empty());
}

async fn runs_are_listed_newest_first_with_a_cursor(store: SharedStore) {
    let first = job(&*store).await;
    let second = store.create_job(&crate::job_spec("second")).await.unwrap();
    let base = Utc::now();
    let mut created = Vec::new();
    for i in 0..5 {
        let job = if i % 2 == 0 { &first } else { &second };
        let run = crate::new_run_at(job, &targets(1), 1, 1, base + chrono::Duration::seconds(i));
        store.create_run(&run).await.unwrap();
        created.push(run.id);
    }
    // Two runs at the same instant: the id breaks the tie.
    let twin = crate::new_run_at(
        &first,
        &targets(1),
        1,
        1,
        base + chrono::Duration::seconds(4),
    );
    store.create_run(&twin).await.unwrap();
    let mut newest_first = created.clone();
    newest_first.push(twin.id);
    newest_first.sort_by_key(|id| {
        let at = if *id == twin.id {
            4
        } else {
            created.iter().position(|c| c == id).unwrap()
        };
        std::cmp::Reverse((at, *id.as_uuid()))
    });

    let mut listed = Vec::new();
    let mut filter = opsconductor_store::RunFilter {
        limit: 2,
        ..Default::default()
    };
    loop {
        let page = store.list_runs(&filter).await.unwrap();
        let Some(last) = page.last() else { break };
        filter.before = Some((last.created_at, last.id));
        listed.extend(page.iter().map(|r| r.id));
    }
    assert_eq!(listed, newest_first);

    let of_second = store
        .list_runs(&opsconductor_store::RunFilter {
            job_id: Some(second.id),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        of_second.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![created[3], created[1]]
    );
    store.cancel_run(created[1], "enough").await.unwrap();
    let cancelled = store
        .list_runs(&opsconductor_store::RunFilter {
            status: Some(RunStatus::Cancelled),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        cancelled.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![created[1]]
    );
}

async fn a_run_keeps_the_job_spec_it_fired_with(store: SharedStore) {
    let job = job(&*store).await;
    let run = new_run(&job, &targets(1), 1, 1);
    store.create_run(&run).await.unwrap();
    let mut edited = job.spec.clone();
    edited.description = "edited after the run fired".into();
    store.update_job(job.id, None, &edited).await.unwrap();
    assert_eq!(store.run_job_spec(run.id).await.unwrap(), job.spec);
    let unknown = opsconductor_core::ids::RunId::new();
    assert_eq!(
        store.run_job_spec(unknown).await.unwrap_err(),
        StoreError::NotFound {
            what: format!("run {unknown}")
        }
    );
}

async fn ended_runs_are_reported_for_a_while(store: SharedStore) {
    let job = job(&*store).await;
    let running = new_run(&job, &targets(1), 1, 1);
    let ended = new_run(&job, &targets(1), 1, 1);
    store.create_run(&running).await.unwrap();
    store.create_run(&ended).await.unwrap();
    store.cancel_run(ended.id, "stop").await.unwrap();

    let recent = store
        .recently_ended_runs(Duration::from_secs(600), 10)
        .await
        .unwrap();
    assert_eq!(recent, vec![ended.id]);
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(
        store
            .recently_ended_runs(Duration::from_millis(10), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let active: Vec<_> = store
        .active_runs()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(active, vec![running.id]);
}

async fn released_claims_are_claimed_again_at_once(store: SharedStore) {
    let job = job(&*store).await;
    let new = new_run(&job, &targets(2), 1, 1);
    store.create_run(&new).await.unwrap();
    let claimed = store.claim_outbox(10, LEASE).await.unwrap();
    assert_eq!(claimed.len(), 2);
    store.release_claims(&[claimed[1].outbox_id]).await.unwrap();
    let again = store.claim_outbox(10, LEASE).await.unwrap();
    assert_eq!(again, vec![claimed[1].clone()]);
    store.release_claims(&[]).await.unwrap();
    store.mark_published(&[]).await.unwrap();
}

async fn chunks_are_read_one_at_a_time_and_unknown_ones_are_not_found(store: SharedStore) {
    let job = job(&*store).await;
    let new = new_run(&job, &targets(3), 2, 2);
    store.create_run(&new).await.unwrap();
    let chunk = store.get_chunk(new.chunks[1].id).await.unwrap();
    assert_eq!(chunk.run_id, new.id);
    assert_eq!(chunk.seq, 1);
    assert_eq!(chunk.targets, targets(3)[2..].to_vec());
    assert_eq!(chunk.action_count, 2);
    assert_eq!(chunk.state, ChunkState::Pending);
    assert_eq!(chunk.attempts, 0);
    assert_eq!(chunk.published_at, None);
    let unknown = opsconductor_core::ids::ChunkId::new();
    for err in [
        store.get_chunk(unknown).await.unwrap_err(),
        store.chunk_finished(unknown).await.unwrap_err(),
        store.dead_letter_chunk(unknown, "x").await.unwrap_err(),
    ] {
        assert_eq!(
            err,
            StoreError::NotFound {
                what: format!("chunk {unknown}")
            }
        );
    }
}

async fn cancelling_an_unknown_run_is_not_found(store: SharedStore) {
    let unknown = opsconductor_core::ids::RunId::new();
    assert_eq!(
        store.cancel_run(unknown, "why").await.unwrap_err(),
        StoreError::NotFound {
            what: format!("run {unknown}")
        }
    );
}

async fn a_segment_in_use_cannot_be_deleted(store: SharedStore) {
    let lab = opsconductor_core::model::Segment::new("lab", Vec::new()).unwrap();
    store.upsert_segment(&lab).await.unwrap();
    let token = store
        .create_enrollment_token("lab", Duration::from_secs(60))
        .await
        .unwrap();
    let err = store.delete_segment("lab").await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
    assert!(err.to_string().contains("1 enrollment token(s)"), "{err}");
    drop(token);
    let empty = opsconductor_core::model::Segment::new("empty", Vec::new()).unwrap();
    store.upsert_segment(&empty).await.unwrap();
    store.delete_segment("empty").await.unwrap();
    assert_eq!(
        store.delete_segment("empty").await.unwrap_err(),
        StoreError::NotFound {
            what: "segment \"empty\"".into()
        }
    );
    assert_eq!(store.list_segments().await.unwrap(), vec![lab]);
}
