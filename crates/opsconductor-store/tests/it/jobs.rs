//! Job definitions: optimistic concurrency, lists with their filters and cursor, enabling,
//! deleting with their history.

use opsconductor_core::ids::JobId;
use opsconductor_core::model::ResultStatus;
use opsconductor_store::prelude::*;
use opsconductor_store::{JobFilter, StoreError};

use crate::{job_spec, new_run, results_for, targets};

on_both_backends!(
    an_update_applies_only_to_the_version_it_was_based_on,
    renaming_a_job_onto_another_name_already_exists,
    job_lists_filter_by_text_and_state_and_page_by_name,
    a_job_list_carries_each_jobs_newest_run,
    enabling_and_disabling_bumps_only_the_jobs_that_change,
    deleting_a_job_takes_its_history_along,
);

async fn an_update_applies_only_to_the_version_it_was_based_on(store: SharedStore) {
    let job = store.create_job(&job_spec("core pings")).await.unwrap();
    let mut spec = job.spec.clone();
    spec.description = "every core router".into();

    let updated = store.update_job(job.id, Some(1), &spec).await.unwrap();
    assert_eq!(updated.version, 2);
    assert_eq!(updated.spec.description, "every core router");
    assert_eq!(updated.created_at, job.created_at);
    assert!(updated.updated_at >= job.updated_at);
    assert_eq!(store.get_job(job.id).await.unwrap(), updated);

    let stale = store.update_job(job.id, Some(1), &spec).await.unwrap_err();
    assert!(matches!(stale, StoreError::Conflict { .. }), "{stale:?}");
    assert!(stale.to_string().contains("version 2"), "{stale}");
    assert_eq!(store.get_job(job.id).await.unwrap().version, 2);

    let unchecked = store.update_job(job.id, None, &spec).await.unwrap();
    assert_eq!(unchecked.version, 3);

    let unknown = JobId::new();
    let err = store.update_job(unknown, None, &spec).await.unwrap_err();
    assert_eq!(
        err,
        StoreError::NotFound {
            what: format!("job {unknown}")
        }
    );
}

async fn renaming_a_job_onto_another_name_already_exists(store: SharedStore) {
    store.create_job(&job_spec("first")).await.unwrap();
    let second = store.create_job(&job_spec("second")).await.unwrap();
    let mut spec = second.spec.clone();
    spec.name = "first".into();
    let err = store
        .update_job(second.id, Some(1), &spec)
        .await
        .unwrap_err();
    assert_eq!(
        err,
        StoreError::AlreadyExists {
            what: "job named \"first\"".into()
        }
    );
    assert_eq!(store.get_job(second.id).await.unwrap(), second);
}

/// The names of a list.
async fn names(store: &dyn Store, filter: JobFilter) -> Vec<String> {
    store
        .list_jobs(&filter)
        .await
        .unwrap()
        .into_iter()
        .map(|item| item.job.name)
        .collect()
}

async fn job_lists_filter_by_text_and_state_and_page_by_name(store: SharedStore) {
    for (name, description, enabled) in [
        ("edge-b", "Branch office edge", true),
        ("core-a", "Data centre core, 100% of it", true),
        ("edge-a", "", false),
        ("wan_links", "carrier circuits", true),
    ] {
        let mut spec = job_spec(name);
        spec.description = description.into();
        spec.enabled = enabled;
        store.create_job(&spec).await.unwrap();
    }
    store
        .create_hidden_job(&job_spec("edge-dry-run"))
        .await
        .unwrap();
    let all = JobFilter {
        limit: 100,
        ..JobFilter::default()
    };

    assert_eq!(
        names(&*store, all.clone()).await,
        ["core-a", "edge-a", "edge-b", "wan_links"],
        "by name, hidden jobs left out"
    );
    let page = |after: Option<&str>| JobFilter {
        after_name: after.map(str::to_owned),
        limit: 2,
        ..JobFilter::default()
    };
    assert_eq!(names(&*store, page(None)).await, ["core-a", "edge-a"]);
    assert_eq!(
        names(&*store, page(Some("edge-a"))).await,
        ["edge-b", "wan_links"]
    );
    assert!(names(&*store, page(Some("wan_links"))).await.is_empty());

    let text = |text: &str| JobFilter {
        text: Some(text.into()),
        ..all.clone()
    };
    assert_eq!(
        names(&*store, text("EDGE")).await,
        ["edge-a", "edge-b"],
        "any case"
    );
    assert_eq!(
        names(&*store, text("branch")).await,
        ["edge-b"],
        "the description too"
    );
    assert_eq!(
        names(&*store, text("100%")).await,
        ["core-a"],
        "% is a character, not a wildcard"
    );
    assert_eq!(
        names(&*store, text("n_l")).await,
        ["wan_links"],
        "_ is a character, not a wildcard"
    );
    assert!(names(&*store, text("dry")).await.is_empty());

    let enabled = JobFilter {
        enabled: Some(false),
        ..all.clone()
    };
    assert_eq!(names(&*store, enabled).await, ["edge-a"]);
}

async fn a_job_list_carries_each_jobs_newest_run(store: SharedStore) {
    let ran = store.create_job(&job_spec("ran")).await.unwrap();
    store.create_job(&job_spec("never ran")).await.unwrap();
    let first = new_run(&ran, &targets(1), 1, 1);
    store.create_run(&first).await.unwrap();
    let mut second = new_run(&ran, &targets(1), 1, 1);
    second.created_at = first.created_at + chrono::Duration::seconds(1);
    store.create_run(&second).await.unwrap();

    let items = store
        .list_jobs(&JobFilter {
            limit: 10,
            ..JobFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0].job.name, "never ran");
    assert!(items[0].last_run.is_none());
    assert_eq!(items[1].job.id, ran.id);
    assert_eq!(items[1].job.version, 1);
    assert_eq!(items[1].job.schedule, ran.spec.schedule);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(items[1].job.spec.get()).unwrap(),
        serde_json::to_value(&ran.spec).unwrap()
    );
    assert_eq!(
        items[1].last_run.as_ref().map(|r| r.id),
        Some(second.id),
        "the newest run"
    );
}

async fn enabling_and_disabling_bumps_only_the_jobs_that_change(store: SharedStore) {
    let on = store.create_job(&job_spec("on")).await.unwrap();
    let mut off_spec = job_spec("off");
    off_spec.enabled = false;
    let off = store.create_job(&off_spec).await.unwrap();

    let changed = store
        .set_jobs_enabled(&[on.id, off.id, JobId::new()], false)
        .await
        .unwrap();
    assert_eq!(
        changed,
        vec![on.id],
        "already disabled and unknown ids are left out"
    );
    let now_off = store.get_job(on.id).await.unwrap();
    assert_eq!(now_off.version, 2);
    assert!(!now_off.spec.enabled, "the spec says so too");
    assert_eq!(store.get_job(off.id).await.unwrap().version, 1);

    let changed = store.set_jobs_enabled(&[on.id], true).await.unwrap();
    assert_eq!(changed, vec![on.id]);
    let back_on = store.get_job(on.id).await.unwrap();
    assert!(back_on.spec.enabled);
    assert_eq!(back_on.version, 3);
    assert_eq!(
        store
            .list_jobs(&JobFilter {
                enabled: Some(true),
                limit: 10,
                ..JobFilter::default()
            })
            .await
            .unwrap()
            .len(),
        1
    );
}

async fn deleting_a_job_takes_its_history_along(store: SharedStore) {
    let job = store.create_job(&job_spec("doomed")).await.unwrap();
    let other = store.create_job(&job_spec("kept")).await.unwrap();
    let all = targets(3);
    let run = new_run(&job, &all, 2, 1);
    store.create_run(&run).await.unwrap();
    store
        .ingest_results(None, None, &results_for(run.id, &all, 1, ResultStatus::Ok))
        .await
        .unwrap();
    let kept_run = new_run(&other, &all, 3, 1);
    store.create_run(&kept_run).await.unwrap();

    let stale = store.delete_job(job.id, Some(7)).await.unwrap_err();
    assert!(matches!(stale, StoreError::Conflict { .. }), "{stale:?}");
    store.delete_job(job.id, Some(1)).await.unwrap();

    assert!(matches!(
        store.get_job(job.id).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.get_run(run.id).await,
        Err(StoreError::NotFound { .. })
    ));
    // (PostgreSQL's handle may still remember the run's creation day and count 0.)
    assert!(
        matches!(
            store.count_results(run.id).await,
            Ok(0) | Err(StoreError::NotFound { .. })
        ),
        "its results went too"
    );
    let outbox: Vec<_> = store
        .claim_outbox(100, std::time::Duration::from_secs(60))
        .await
        .unwrap()
        .into_iter()
        .map(|item| item.chunk_id)
        .collect();
    assert_eq!(
        outbox,
        vec![kept_run.chunks[0].id],
        "its outbox rows went too"
    );
    assert!(matches!(
        store.delete_job(job.id, None).await,
        Err(StoreError::NotFound { .. })
    ));

    let gone = store.delete_jobs(&[other.id, JobId::new()]).await.unwrap();
    assert_eq!(gone, vec![other.id]);
    assert_eq!(
        store.get_run(kept_run.id).await.unwrap_err(),
        StoreError::NotFound {
            what: format!("run {}", kept_run.id)
        }
    );
}
