//! Per-job time series: buckets of count, success rate, duration mean and p95, and the
//! statistics of a numeric field.

use chrono::{DateTime, Duration, DurationRound, Utc};
use opsconductor_core::model::ResultStatus;
use opsconductor_store::prelude::*;
use opsconductor_store::{SeriesPoint, SeriesQuery, StoreError};
use serde_json::{Map, Value, json};

use crate::{job, new_run_at, result, targets};

on_both_backends!(
    a_series_aggregates_each_bucket,
    a_series_query_must_be_sensible
);

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

async fn a_series_aggregates_each_bucket(store: SharedStore) {
    let job = job(&*store).await;
    let t0 = (Utc::now() - Duration::hours(2))
        .duration_trunc(Duration::minutes(1))
        .unwrap();
    let addresses = targets(7);
    let run = new_run_at(&job, &addresses, 7, 2, t0 - Duration::hours(1));
    store.create_run(&run).await.unwrap();
    let field = |value: Option<Value>| -> Map<String, Value> {
        value
            .map(|v| Map::from_iter([("rtt_avg_ms".to_owned(), v)]))
            .unwrap_or_default()
    };
    // (target, action, seconds after t0, status, duration, rtt field)
    let rows = [
        (0, 0, 10, ResultStatus::Ok, 10.0, Some(json!(1.0))),
        (1, 0, 20, ResultStatus::Ok, 20.0, Some(json!(2))),
        (2, 0, 30, ResultStatus::Fail, 30.0, Some(json!("x"))),
        (3, 0, 40, ResultStatus::Ok, 40.0, None),
        (4, 0, 130, ResultStatus::Ok, 5.0, None),
        (4, 1, 131, ResultStatus::Warn, 7.0, Some(json!(9.5))),
        (5, 0, 400, ResultStatus::Ok, 1.0, Some(json!(100))),
    ];
    let batch: Vec<_> = rows
        .iter()
        .map(|(t, a, secs, status, duration, rtt)| {
            let mut r = result(run.id, &addresses[*t], *a, *status);
            r.started_at = t0 + Duration::seconds(*secs);
            r.duration_ms = *duration;
            r.fields = field(rtt.clone());
            r
        })
        .collect();
    store.ingest_results(None, None, &batch).await.unwrap();

    let query = SeriesQuery {
        job_id: job.id,
        field: Some("rtt_avg_ms".into()),
        action_index: None,
        from: t0,
        to: t0 + Duration::seconds(300),
        step: std::time::Duration::from_secs(60),
    };
    let points = store.job_series(&query).await.unwrap();
    assert_eq!(points.len(), 2, "empty buckets are left out: {points:?}");
    let first = &points[0];
    assert_eq!(first.at, t0);
    assert_eq!(first.count, 4);
    assert!(close(first.success_rate, 0.75), "{first:?}");
    assert!(close(first.duration_avg_ms, 25.0), "{first:?}");
    // percentile_cont(0.95) of 10, 20, 30, 40: 30 + 0.85 × 10.
    assert!(close(first.duration_p95_ms, 38.5), "{first:?}");
    assert_eq!(
        (first.value_avg, first.value_min, first.value_max),
        (Some(1.5), Some(1.0), Some(2.0)),
        "numbers only: the text value is left out"
    );
    let second = &points[1];
    assert_eq!(second.at, t0 + Duration::seconds(120));
    assert_eq!(second.count, 2);
    assert!(close(second.success_rate, 0.5));
    assert!(close(second.duration_avg_ms, 6.0));
    assert!(close(second.duration_p95_ms, 6.9));
    assert_eq!(second.value_avg, Some(9.5));

    let first_action = store
        .job_series(&SeriesQuery {
            action_index: Some(0),
            field: None,
            ..query.clone()
        })
        .await
        .unwrap();
    assert_eq!(
        first_action
            .iter()
            .map(|p| (p.at, p.count, p.value_avg))
            .collect::<Vec<_>>(),
        vec![(t0, 4, None), (t0 + Duration::seconds(120), 1, None)]
    );

    let wide: Vec<SeriesPoint> = store
        .job_series(&SeriesQuery {
            step: std::time::Duration::from_secs(3600),
            to: t0 + Duration::seconds(3600),
            ..query.clone()
        })
        .await
        .unwrap();
    let total: i64 = wide.iter().map(|p| p.count).sum();
    assert_eq!(total, 7);
    let other_job = store.create_job(&crate::job_spec("other")).await.unwrap();
    assert!(
        store
            .job_series(&SeriesQuery {
                job_id: other_job.id,
                ..query
            })
            .await
            .unwrap()
            .is_empty()
    );
}

async fn a_series_query_must_be_sensible(store: SharedStore) {
    let job = job(&*store).await;
    let from: DateTime<Utc> = "2026-05-01T00:00:00Z".parse().unwrap();
    let query = SeriesQuery {
        job_id: job.id,
        field: None,
        action_index: None,
        from,
        to: from + Duration::hours(1),
        step: std::time::Duration::from_secs(60),
    };
    assert!(store.job_series(&query).await.unwrap().is_empty());
    for bad in [
        SeriesQuery {
            step: std::time::Duration::from_millis(500),
            ..query.clone()
        },
        SeriesQuery {
            to: from,
            ..query.clone()
        },
        SeriesQuery {
            to: from + Duration::days(30),
            step: std::time::Duration::from_secs(1),
            ..query.clone()
        },
    ] {
        let err = store.job_series(&bad).await.unwrap_err();
        assert!(matches!(err, StoreError::Invalid { .. }), "{err:?}");
    }
}
