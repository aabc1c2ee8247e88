//! Result queries: every filter combination, paged with a small limit, returns exactly the
//! matching results in the documented order (newest run first, then target and action),
//! whichever statement shape serves it.

use chrono::{DateTime, Duration, DurationRound, Utc};
use opsconductor_core::ids::{JobId, RunId};
use opsconductor_core::model::ResultStatus;
use opsconductor_store::prelude::*;
use opsconductor_store::testing::fresh_database;
use opsconductor_store::{JobFilter, ResultFilter, ResultKey, StoreError};

use crate::{job_spec, new_run_at, result, targets};

on_both_backends!(
    every_filter_combination_pages_through_exactly_its_matches_in_order,
    a_cursor_from_a_run_that_is_gone_continues_with_older_runs,
    pages_span_more_runs_than_one_candidate_batch,
    jobs_by_tag_follow_creates_edits_renames_and_deletes,
);

/// What a stored result is expected to be, in the page order's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Expected {
    run_created_at: DateTime<Utc>,
    run_id: RunId,
    target: String,
    action_index: u32,
    job_id: JobId,
    status: ResultStatus,
    started_at: DateTime<Utc>,
}

const STATUSES: [ResultStatus; 5] = [
    ResultStatus::Ok,
    ResultStatus::Warn,
    ResultStatus::Fail,
    ResultStatus::Error,
    ResultStatus::Timeout,
];

/// Two jobs; runs over three days (three partitions), each of 7 targets × 2 actions with
/// statuses cycling and start times spread over the run's first hour.
async fn seed(store: &dyn Store, now: DateTime<Utc>) -> Vec<Expected> {
    let first = store.create_job(&job_spec("first")).await.unwrap();
    let second = store.create_job(&job_spec("second")).await.unwrap();
    let addresses = targets(7);
    let runs = [
        (&first, now - Duration::days(2)),
        (&first, now - Duration::hours(3)),
        (&second, now - Duration::minutes(150)),
        (&first, now - Duration::hours(1)),
        // Two runs created at the same instant: the run id breaks the tie.
        (&second, now - Duration::hours(1)),
    ];
    let mut expected = Vec::new();
    let mut n = 0_usize;
    for (job, created_at) in runs {
        let new = new_run_at(job, &addresses, 7, 2, created_at);
        store.create_run(&new).await.unwrap();
        let mut batch = Vec::new();
        for (t, target) in addresses.iter().enumerate() {
            for action in 0..2 {
                let status = STATUSES[n % STATUSES.len()];
                n += 1;
                let mut record = result(new.id, target, action, status);
                record.started_at = created_at + Duration::minutes(t as i64 * 10 + 1);
                expected.push(Expected {
                    run_created_at: created_at,
                    run_id: new.id,
                    target: target.clone(),
                    action_index: action,
                    job_id: job.id,
                    status,
                    started_at: record.started_at,
                });
                batch.push(record);
            }
        }
        store.ingest_results(None, None, &batch).await.unwrap();
    }
    expected.sort_by(|a, b| {
        (b.run_created_at, b.run_id.as_uuid())
            .cmp(&(a.run_created_at, a.run_id.as_uuid()))
            .then_with(|| a.target.as_bytes().cmp(b.target.as_bytes()))
            .then_with(|| a.action_index.cmp(&b.action_index))
    });
    expected
}

/// Every page of `filter` with `limit`, following the keys.
async fn all_pages(store: &dyn Store, filter: &ResultFilter) -> Vec<Expected> {
    let mut filter = filter.clone();
    let mut out = Vec::new();
    for _ in 0..1000 {
        let page = store.query_results(&filter).await.unwrap();
        assert!(page.len() <= filter.limit as usize, "{filter:?}");
        let Some(last) = page.last() else {
            return out;
        };
        filter.after = Some(last.key());
        out.extend(page.into_iter().map(|r| Expected {
            run_created_at: r.run_created_at,
            run_id: r.record.run_id,
            target: r.record.target,
            action_index: r.record.action_index,
            job_id: r.job_id,
            status: r.record.status,
            started_at: r.record.started_at,
        }));
    }
    panic!("paging {filter:?} does not end");
}

async fn every_filter_combination_pages_through_exactly_its_matches_in_order(store: SharedStore) {
    // Whole seconds: the store keeps microseconds, and comparisons must not hinge on them.
    let now = Utc::now().duration_trunc(Duration::seconds(1)).unwrap();
    let all = seed(&*store, now).await;
    let first_job = all
        .iter()
        .find(|e| e.run_created_at < now - Duration::days(1))
        .unwrap()
        .job_id;
    let a_run = all[20].run_id;
    let window = (now - Duration::minutes(140), now - Duration::minutes(30));

    let mut combinations = 0;
    for job_id in [None, Some(first_job)] {
        for run_id in [None, Some(a_run)] {
            for target in [None, Some("10.0.0.3".to_owned())] {
                for status in [None, Some(ResultStatus::Fail), Some(ResultStatus::Ok)] {
                    for (from, to) in [
                        (None, None),
                        (Some(window.0), Some(window.1)),
                        (Some(window.0), None),
                    ] {
                        let filter = ResultFilter {
                            run_id,
                            job_id,
                            target: target.clone(),
                            status,
                            from,
                            to,
                            after: None,
                            limit: 3,
                        };
                        let want: Vec<Expected> = all
                            .iter()
                            .filter(|e| job_id.is_none_or(|j| e.job_id == j))
                            .filter(|e| run_id.is_none_or(|r| e.run_id == r))
                            .filter(|e| target.as_ref().is_none_or(|t| &e.target == t))
                            .filter(|e| status.is_none_or(|s| e.status == s))
                            .filter(|e| from.is_none_or(|f| e.started_at >= f))
                            .filter(|e| to.is_none_or(|t| e.started_at < t))
                            .cloned()
                            .collect();
                        let got = all_pages(&*store, &filter).await;
                        assert_eq!(got, want, "{filter:?}");
                        combinations += usize::from(!want.is_empty());
                    }
                }
            }
        }
    }
    assert!(
        combinations > 30,
        "the data must give most combinations matches"
    );
}

async fn a_cursor_from_a_run_that_is_gone_continues_with_older_runs(store: SharedStore) {
    let now = Utc::now().duration_trunc(Duration::seconds(1)).unwrap();
    let all = seed(&*store, now).await;
    let newest = &all[0];
    let after = ResultKey {
        run_created_at: newest.run_created_at,
        // A run id no run has, sorting after every real one at that time.
        run_id: RunId::from_uuid(uuid::Uuid::max()),
        target: String::new(),
        action_index: 0,
    };
    let page = store
        .query_results(&ResultFilter {
            after: Some(after),
            limit: 100,
            ..ResultFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(
        page.len(),
        all.len(),
        "every stored result follows that key"
    );
}

#[tokio::test]
async fn explaining_a_result_query_runs_the_statement_the_query_uses() {
    let (store, _db) = fresh_database().await;
    let now = Utc::now().duration_trunc(Duration::seconds(1)).unwrap();
    let all = seed(&store, now).await;
    let by_run = ResultFilter {
        run_id: Some(all[0].run_id),
        limit: 10,
        ..ResultFilter::default()
    };
    let plan = store.explain_query_results(&by_run).await.unwrap();
    assert!(plan.contains("Execution Time:"), "{plan}");
    let failed = ResultFilter {
        job_id: Some(all[0].job_id),
        status: Some(ResultStatus::Fail),
        limit: 10,
        ..ResultFilter::default()
    };
    let plan = store.explain_query_results(&failed).await.unwrap();
    assert!(plan.contains("Execution Time:"), "{plan}");
    let gone = ResultFilter {
        run_id: Some(RunId::new()),
        limit: 10,
        ..ResultFilter::default()
    };
    assert!(matches!(
        store.explain_query_results(&gone).await,
        Err(StoreError::NotFound { .. })
    ));
}

async fn pages_span_more_runs_than_one_candidate_batch(store: SharedStore) {
    let job = store.create_job(&job_spec("many runs")).await.unwrap();
    let now = Utc::now().duration_trunc(Duration::seconds(1)).unwrap();
    let addresses = targets(2);
    let mut runs = Vec::new();
    for i in 0..230 {
        let created_at = now - Duration::minutes(i);
        let new = new_run_at(&job, &addresses, 2, 1, created_at);
        store.create_run(&new).await.unwrap();
        // Every 7th run failed on its second target.
        let status = if i % 7 == 0 {
            ResultStatus::Fail
        } else {
            ResultStatus::Ok
        };
        let mut batch = vec![result(new.id, &addresses[0], 0, ResultStatus::Ok)];
        batch.push(result(new.id, &addresses[1], 0, status));
        store.ingest_results(None, None, &batch).await.unwrap();
        runs.push(new.id);
    }
    let failed = all_pages(
        &*store,
        &ResultFilter {
            job_id: Some(job.id),
            status: Some(ResultStatus::Fail),
            limit: 4,
            ..ResultFilter::default()
        },
    )
    .await;
    let want: Vec<RunId> = runs.iter().step_by(7).copied().collect();
    assert_eq!(failed.iter().map(|e| e.run_id).collect::<Vec<_>>(), want);
    let one_target = all_pages(
        &*store,
        &ResultFilter {
            job_id: Some(job.id),
            target: Some(addresses[1].clone()),
            limit: 70,
            ..ResultFilter::default()
        },
    )
    .await;
    assert_eq!(
        one_target.iter().map(|e| e.run_id).collect::<Vec<_>>(),
        runs
    );
    let everything = all_pages(
        &*store,
        &ResultFilter {
            limit: 150,
            ..ResultFilter::default()
        },
    )
    .await;
    assert_eq!(everything.len(), 460);
}

/// The names of the jobs tagged `tag`, pages of two.
async fn tagged(store: &dyn Store, tag: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut after_name = None;
    loop {
        let page = store
            .list_jobs(&JobFilter {
                tag: Some(tag.to_owned()),
                after_name: after_name.clone(),
                limit: 2,
                ..JobFilter::default()
            })
            .await
            .unwrap();
        let Some(last) = page.last() else {
            return names;
        };
        after_name = Some(last.job.name.clone());
        names.extend(page.into_iter().map(|item| item.job.name));
    }
}

async fn jobs_by_tag_follow_creates_edits_renames_and_deletes(store: SharedStore) {
    let mut created = Vec::new();
    for (name, tags) in [
        ("edge-c", vec!["site-1", "core"]),
        ("edge-a", vec!["site-1"]),
        ("edge-b", vec!["site-2", "site-2"]),
        ("edge-d", vec![]),
        ("edge-e", vec!["site-1"]),
    ] {
        let mut spec = job_spec(name);
        spec.tags = tags.into_iter().map(str::to_owned).collect();
        created.push(store.create_job(&spec).await.unwrap());
    }
    assert_eq!(
        tagged(&*store, "site-1").await,
        ["edge-a", "edge-c", "edge-e"]
    );
    assert_eq!(
        tagged(&*store, "site-2").await,
        ["edge-b"],
        "a repeated tag counts once"
    );
    assert!(tagged(&*store, "site-9").await.is_empty());

    // Retag and rename edge-a; delete edge-e.
    let mut spec = created[1].spec.clone();
    spec.name = "edge-z".into();
    spec.tags = vec!["site-2".into()];
    store.update_job(created[1].id, None, &spec).await.unwrap();
    store.delete_job(created[4].id, None).await.unwrap();
    assert_eq!(tagged(&*store, "site-1").await, ["edge-c"]);
    assert_eq!(tagged(&*store, "site-2").await, ["edge-b", "edge-z"]);
}
