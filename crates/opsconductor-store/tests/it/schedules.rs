//! The scheduler's view of the store: the jobs it fires, the change fingerprint, active
//! runs, and the leader election with its watermark.

use std::time::Duration;

use chrono::{DateTime, Utc};
use opsconductor_core::ids::JobId;
use opsconductor_core::model::Schedule;
use opsconductor_store::StoreError;
use opsconductor_store::prelude::*;

use crate::{job_spec, new_run, targets};

const TIMEOUT: Duration = Duration::from_secs(5);

on_both_backends!(
    only_enabled_jobs_with_a_schedule_are_scheduled,
    the_fingerprint_changes_with_every_job_change,
    jobs_with_a_queued_or_running_run_are_active,
    one_contender_leads_at_a_time,
    the_watermark_only_moves_forward_and_only_for_the_leader,
);

async fn only_enabled_jobs_with_a_schedule_are_scheduled(store: SharedStore) {
    let interval = store.create_job(&job_spec("interval")).await.unwrap();
    let mut manual = job_spec("manual");
    manual.schedule = Schedule::Manual;
    let manual = store.create_job(&manual).await.unwrap();
    let mut disabled = job_spec("disabled");
    disabled.enabled = false;
    store.create_job(&disabled).await.unwrap();

    let scheduled = store.enabled_scheduled_jobs().await.unwrap();
    assert_eq!(scheduled, vec![interval.clone()]);

    let mut by_ids = store
        .jobs_by_ids(&[manual.id, interval.id, JobId::new()])
        .await
        .unwrap();
    by_ids.sort_by_key(|j| j.spec.name.clone());
    assert_eq!(by_ids, vec![interval, manual]);
    assert!(store.jobs_by_ids(&[]).await.unwrap().is_empty());
}

async fn the_fingerprint_changes_with_every_job_change(store: SharedStore) {
    let empty = store.jobs_fingerprint().await.unwrap();
    assert_eq!(
        store.jobs_fingerprint().await.unwrap(),
        empty,
        "stable while nothing changes"
    );
    let job = store.create_job(&job_spec("a")).await.unwrap();
    let created = store.jobs_fingerprint().await.unwrap();
    assert_ne!(created, empty);
    store.update_job(job.id, None, &job.spec).await.unwrap();
    let edited = store.jobs_fingerprint().await.unwrap();
    assert_ne!(edited, created);
    store.set_jobs_enabled(&[job.id], false).await.unwrap();
    let disabled = store.jobs_fingerprint().await.unwrap();
    assert_ne!(disabled, edited);
    store.delete_job(job.id, None).await.unwrap();
    assert_ne!(store.jobs_fingerprint().await.unwrap(), disabled);
}

async fn jobs_with_a_queued_or_running_run_are_active(store: SharedStore) {
    let busy = store.create_job(&job_spec("busy")).await.unwrap();
    let idle = store.create_job(&job_spec("idle")).await.unwrap();
    let done = store.create_job(&job_spec("done")).await.unwrap();
    store
        .create_run(&new_run(&busy, &targets(2), 1, 1))
        .await
        .unwrap();
    let finished = new_run(&done, &targets(1), 1, 1);
    store.create_run(&finished).await.unwrap();
    store.cancel_run(finished.id, "done").await.unwrap();

    let active = store
        .jobs_with_active_runs(&[busy.id, idle.id, done.id])
        .await
        .unwrap();
    assert_eq!(active, [busy.id].into_iter().collect());
    assert!(store.jobs_with_active_runs(&[]).await.unwrap().is_empty());
}

async fn one_contender_leads_at_a_time(store: SharedStore) {
    let mut first = store.leader_election();
    let mut second = store.leader_election();
    assert!(!first.is_held());
    assert!(
        !first.still_held(TIMEOUT).await,
        "not held before it is taken"
    );

    assert!(first.try_acquire().await.unwrap());
    assert!(first.is_held());
    assert!(
        first.try_acquire().await.unwrap(),
        "taking it again keeps it"
    );
    assert!(!second.try_acquire().await.unwrap(), "held by the other");
    assert!(!second.is_held());
    assert!(first.still_held(TIMEOUT).await);

    first.release().await;
    assert!(!first.is_held());
    assert!(
        second.try_acquire().await.unwrap(),
        "released, so the other takes it"
    );
    assert!(!first.try_acquire().await.unwrap());

    // A contender that goes away without releasing (a crashed process) frees it too.
    drop(second);
    let mut third = store.leader_election();
    let mut taken = false;
    for _ in 0..50 {
        if third.try_acquire().await.unwrap() {
            taken = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(taken, "a dropped leader's lock is free again");
    third.release().await;
}

async fn the_watermark_only_moves_forward_and_only_for_the_leader(store: SharedStore) {
    let mut leader = store.leader_election();
    let mut follower = store.leader_election();
    let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();

    let err = follower
        .checkpoint(at("2026-05-01T12:00:00Z"), TIMEOUT)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
    assert!(matches!(
        follower.watermark().await,
        Err(StoreError::Conflict { .. })
    ));

    assert!(leader.try_acquire().await.unwrap());
    assert_eq!(
        leader.watermark().await.unwrap(),
        None,
        "no scheduler has led yet"
    );
    leader
        .checkpoint(at("2026-05-01T12:00:00.123456Z"), TIMEOUT)
        .await
        .unwrap();
    leader
        .checkpoint(at("2026-05-01T11:00:00Z"), TIMEOUT)
        .await
        .unwrap();
    assert_eq!(
        leader.watermark().await.unwrap(),
        Some(at("2026-05-01T12:00:00.123456Z")),
        "it never moves back"
    );
    leader.release().await;

    assert!(follower.try_acquire().await.unwrap());
    assert_eq!(
        follower.watermark().await.unwrap(),
        Some(at("2026-05-01T12:00:00.123456Z")),
        "the successor starts from the predecessor's watermark"
    );
    follower.release().await;
}
