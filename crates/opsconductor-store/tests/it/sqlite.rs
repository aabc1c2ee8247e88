//! The SQLite store's own machinery: its files, reopening, and concurrent writers.

use std::time::Duration;

use opsconductor_core::model::ResultStatus;
use opsconductor_store::prelude::*;
use opsconductor_store::testing::{TestDir, fresh_sqlite};
use opsconductor_store::{SqliteStore, StoreError};

use crate::{job, job_spec, new_run, results_for, targets};

#[tokio::test]
async fn the_store_lives_in_one_file_of_the_data_directory() {
    let dir = TestDir::new();
    let data = dir.path().join("data");
    let store = SqliteStore::open(&data).await.unwrap();
    store.migrate().await.unwrap();
    assert_eq!(store.path(), data.join("opsconductor.db"));
    assert!(store.path().is_file());
    let job = store.create_job(&job_spec("kept")).await.unwrap();
    store.close().await;
    assert!(matches!(
        store.get_job(job.id).await,
        Err(StoreError::Unavailable { .. })
    ));

    let reopened = SqliteStore::open(&data).await.unwrap();
    reopened.migrate().await.unwrap();
    assert_eq!(reopened.get_job(job.id).await.unwrap(), job);
}

#[tokio::test]
async fn a_sqlite_url_opens_the_file_it_names() {
    let dir = TestDir::new();
    let file = dir.path().join("nested").join("oc.db");
    let store = SqliteStore::connect(&format!("sqlite://{}", file.display()), 2)
        .await
        .unwrap();
    store.migrate().await.unwrap();
    assert_eq!(store.path(), file);
    assert!(file.is_file());
    assert!(matches!(
        SqliteStore::connect("postgres://localhost/x", 2).await,
        Err(StoreError::Invalid { .. })
    ));
}

#[tokio::test]
async fn migrations_apply_twice_without_harm() {
    let (store, _dir) = fresh_sqlite().await;
    store.migrate().await.unwrap();
    let other = SqliteStore::open_file(store.path(), 1).await.unwrap();
    other.migrate().await.unwrap();
    let job = store
        .create_job(&job_spec("after remigration"))
        .await
        .unwrap();
    assert_eq!(other.get_job(job.id).await.unwrap(), job);
}

#[tokio::test]
async fn a_database_that_cannot_be_opened_is_unavailable() {
    let dir = TestDir::new();
    let file = dir.path().join("not-a-directory");
    std::fs::write(&file, b"").unwrap();
    let err = SqliteStore::open(file.join("data")).await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable { .. }), "{err:?}");
    assert!(err.is_transient());
}

/// Many writers at once, through one handle and through a second handle on the same file
/// (as another process would be): none of them fails with SQLITE_BUSY.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_never_see_a_busy_database() {
    let (store, _dir) = fresh_sqlite().await;
    let second = SqliteStore::open_file(store.path(), 2).await.unwrap();
    let stores: [SharedStore; 2] = [std::sync::Arc::new(store), std::sync::Arc::new(second)];
    let job = job(&*stores[0]).await;
    let all = targets(200);

    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..16 {
        let store = stores[i % 2].clone();
        let job = job.clone();
        let all = all.clone();
        tasks.spawn(async move {
            let run = new_run(&job, &all, 50, 2);
            store.create_run(&run).await?;
            for part in all.chunks(40) {
                store
                    .ingest_results(None, None, &results_for(run.id, part, 2, ResultStatus::Ok))
                    .await?;
            }
            store.claim_outbox(2, Duration::from_secs(60)).await?;
            store.create_job(&job_spec(&format!("job {i}"))).await?;
            Ok::<_, StoreError>(run.id)
        });
    }
    let mut runs = Vec::new();
    while let Some(done) = tasks.join_next().await {
        runs.push(done.unwrap().unwrap());
    }
    for run in runs {
        let run = stores[1].get_run(run).await.unwrap();
        assert_eq!(run.counters.ok, 400);
        assert_eq!(run.status, opsconductor_core::model::RunStatus::Completed);
    }
}

#[tokio::test]
async fn the_leadership_lock_is_exclusive_across_handles_on_one_file() {
    let (store, _dir) = fresh_sqlite().await;
    let other = SqliteStore::open_file(store.path(), 1).await.unwrap();
    let mut here = store.leader_election();
    let mut there = other.leader_election();
    assert!(here.try_acquire().await.unwrap());
    assert!(!there.try_acquire().await.unwrap());
    let lock = format!("{}.leader", store.path().display());
    assert!(std::path::Path::new(&lock).is_file());
    here.release().await;
    assert!(there.try_acquire().await.unwrap());
    there.release().await;
}
