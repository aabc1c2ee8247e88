//! Migrations, jobs, segments and error translation.

use opsconductor_core::ids::JobId;
use opsconductor_core::model::Segment;
use opsconductor_store::prelude::*;
use opsconductor_store::testing::fresh_database;
use opsconductor_store::{PgStore, StoreError};

use crate::job_spec;

on_both_backends!(
    a_fresh_store_answers_and_migrates_again,
    a_job_round_trips_at_version_one,
    a_duplicate_job_name_already_exists,
    an_unknown_job_is_not_found,
    segments_are_upserted_with_their_cidrs,
);

#[tokio::test]
async fn migrations_apply_twice_without_harm() {
    let (store, db) = fresh_database().await;
    store.migrate().await.unwrap();
    let other = PgStore::connect(db.url(), 2).await.unwrap();
    other.migrate().await.unwrap();
    let job = store
        .create_job(&job_spec("after remigration"))
        .await
        .unwrap();
    assert_eq!(other.get_job(job.id).await.unwrap(), job);
}

async fn a_fresh_store_answers_and_migrates_again(store: SharedStore) {
    store.ping().await.unwrap();
    store.migrate().await.unwrap();
    assert_eq!(store.count_users().await.unwrap(), 0);
    assert!(
        store
            .drop_results_before(chrono::Utc::now())
            .await
            .unwrap()
            .is_empty()
    );
}

async fn a_job_round_trips_at_version_one(store: SharedStore) {
    let job = store.create_job(&job_spec("core pings")).await.unwrap();
    assert_eq!(job.version, 1);
    assert_eq!(store.get_job(job.id).await.unwrap(), job);
}

async fn a_duplicate_job_name_already_exists(store: SharedStore) {
    store.create_job(&job_spec("core pings")).await.unwrap();
    let err = store.create_job(&job_spec("core pings")).await.unwrap_err();
    assert_eq!(
        err,
        StoreError::AlreadyExists {
            what: "job named \"core pings\"".into()
        }
    );
}

async fn an_unknown_job_is_not_found(store: SharedStore) {
    let id = JobId::new();
    let err = store.get_job(id).await.unwrap_err();
    assert_eq!(
        err,
        StoreError::NotFound {
            what: format!("job {id}")
        }
    );
}

async fn segments_are_upserted_with_their_cidrs(store: SharedStore) {
    let lab = Segment::new("lab", vec!["10.20.0.0/16".parse().unwrap()]).unwrap();
    let dc = Segment::new(
        "dc",
        vec![
            "192.168.0.0/24".parse().unwrap(),
            "2001:db8::/32".parse().unwrap(),
        ],
    )
    .unwrap();
    store.upsert_segment(&lab).await.unwrap();
    store.upsert_segment(&dc).await.unwrap();
    let lab = Segment::new("lab", vec!["10.30.0.0/16".parse().unwrap()]).unwrap();
    store.upsert_segment(&lab).await.unwrap();
    assert_eq!(store.list_segments().await.unwrap(), vec![dc, lab]);
}

#[tokio::test]
async fn an_unreachable_database_is_unavailable() {
    let err = PgStore::connect("postgres://postgres@127.0.0.1:1/postgres", 1)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable { .. }), "{err:?}");
    assert!(err.is_transient());
}

/// The controller spawns store calls onto its runtime, so every operation's future must be
/// `Send`; this fails to compile otherwise.
#[tokio::test]
async fn every_operation_can_run_on_a_spawned_task() {
    use std::time::Duration;

    use chrono::Utc;
    use opsconductor_core::ids::{AgentId, ChunkId, RunId};

    fn assert_send<T: Send>(_: &T) {}
    let (store, _db) = fresh_database().await;
    let spec = job_spec("x");
    let segment = Segment::new("lab", Vec::new()).unwrap();
    let run = crate::new_run(&store.create_job(&spec).await.unwrap(), &[], 1, 1);
    let (run_id, chunk, agent) = (RunId::new(), ChunkId::new(), AgentId::new());
    let value = serde_json::Value::Null;
    assert_send(&store.migrate());
    assert_send(&store.ensure_partitions(Utc::now().date_naive(), 1));
    assert_send(&store.drop_partitions_older_than(Utc::now()));
    assert_send(&store.upsert_segment(&segment));
    assert_send(&store.list_segments());
    assert_send(&store.create_enrollment_token("lab", Duration::ZERO));
    assert_send(&store.register_agent("t", "n", "v", &[]));
    assert_send(&store.authenticate_agent(agent, "s"));
    assert_send(&store.record_heartbeat(agent, &value));
    assert_send(&store.mark_agents_offline(Duration::ZERO));
    assert_send(&store.list_agents());
    assert_send(&store.create_job(&spec));
    assert_send(&store.get_job(run.job_id));
    assert_send(&store.create_run(&run));
    assert_send(&store.get_run(run_id));
    assert_send(&store.active_runs());
    assert_send(&store.cancel_run(run_id, "r"));
    assert_send(&store.expire_runs(Utc::now()));
    assert_send(&store.claim_outbox(1, Duration::ZERO));
    assert_send(&store.mark_published(&[]));
    assert_send(&store.chunk_started(chunk, agent, 1));
    assert_send(&store.chunk_finished(chunk));
    assert_send(&store.dead_letter_chunk(chunk, "r"));
    assert_send(&store.chunks_for_run(run_id));
    assert_send(&store.ingest_results(None, None, &[]));
    assert_send(&store.results_for_run(run_id));
    assert_send(&store.count_results(run_id));
}
