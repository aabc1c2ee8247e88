//! Retention through the store trait: old results go, runs stay, late results for them are
//! refused.

use chrono::{Duration, Utc};
use opsconductor_core::model::ResultStatus;
use opsconductor_store::StoreError;
use opsconductor_store::prelude::*;

use crate::{job, new_run, new_run_at, results_for, targets};

on_both_backends!(dropping_old_results_keeps_runs_and_refuses_late_results);

async fn dropping_old_results_keeps_runs_and_refuses_late_results(store: SharedStore) {
    let job = job(&*store).await;
    let all = targets(3);
    let old = new_run_at(&job, &all, 3, 1, Utc::now() - Duration::days(10));
    let recent = new_run(&job, &all, 3, 1);
    store.create_run(&old).await.unwrap();
    store.create_run(&recent).await.unwrap();
    for run in [&old, &recent] {
        store
            .ingest_results(None, None, &results_for(run.id, &all, 1, ResultStatus::Ok))
            .await
            .unwrap();
    }

    let cutoff = Utc::now() - Duration::days(5);
    let dropped = store.drop_results_before(cutoff).await.unwrap();
    assert!(!dropped.is_empty(), "says what it dropped");
    assert_eq!(store.count_results(old.id).await.unwrap(), 0);
    assert_eq!(store.count_results(recent.id).await.unwrap(), 3);
    assert_eq!(
        store.get_run(old.id).await.unwrap().counters.ok,
        3,
        "runs are kept"
    );

    let late = results_for(old.id, &all, 1, ResultStatus::Ok);
    let err = store.ingest_results(None, None, &late).await.unwrap_err();
    assert!(
        matches!(err, StoreError::Invalid { .. }),
        "results for a run past retention are refused: {err:?}"
    );
    assert_eq!(
        store.get_run(old.id).await.unwrap().counters.ok,
        3,
        "nor counted"
    );
    assert!(store.drop_results_before(cutoff).await.unwrap().is_empty());
}
