//! Daily result partitions and retention.

use chrono::{Duration, Utc};
use opsconductor_core::model::ResultStatus;
use opsconductor_store::StoreError;
use opsconductor_store::prelude::*;
use opsconductor_store::testing::fresh_database;

use crate::{job, new_run, new_run_at, results_for, targets};

#[tokio::test]
async fn dropping_old_partitions_removes_old_results_only() {
    let (store, _db) = fresh_database().await;
    let job = job(&store).await;
    let all = targets(3);
    let ten_days_ago = Utc::now() - Duration::days(10);
    let old = new_run_at(&job, &all, 3, 1, ten_days_ago);
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
    let dropped = store.drop_partitions_older_than(cutoff).await.unwrap();
    let old_partition = format!("results_{}", ten_days_ago.format("%Y%m%d"));
    let first_kept = format!("results_{}", cutoff.format("%Y%m%d"));
    assert!(dropped.contains(&old_partition), "{dropped:?}");
    assert!(
        dropped.iter().all(|name| *name < first_kept),
        "only days that ended before the cutoff: {dropped:?}"
    );

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
    assert!(
        store
            .drop_partitions_older_than(cutoff)
            .await
            .unwrap()
            .is_empty()
    );
}
