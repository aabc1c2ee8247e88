//! CPU cost of writing one page of `GET /api/v1/jobs`: 100 jobs shaped like those of the
//! REST benchmark (`bench/src/bin/rest.rs`), each with its last run and next fire time.
//!
//! - `stored spec`: what the handler does, the spec passed on as the JSON text it is
//!   stored as ([`ListedJobView`]);
//! - `decoded spec`: the same page when every spec is decoded into a `JobSpec` and written
//!   back out as a [`JobView`], the way lists worked before; the comparison point.
//!
//! Run: `cargo bench -p opsconductor-controller --bench job_page`. No services needed.

#![expect(clippy::print_stdout, reason = "a benchmark reports on stdout")]

use chrono::{DateTime, Utc};
use criterion::{Criterion, criterion_main};
use opsconductor_controller::rest::JobView;
use opsconductor_controller::rest::jobs::{JobListEntry, JobPage, ListedJobView};
use opsconductor_core::ids::{JobId, RunId};
use opsconductor_core::model::{Job, JobSpec, Run, RunCounters, RunStatus, RunTrigger, Schedule};
use opsconductor_store::ListedJob;
use serde::Serialize;
use serde_json::json;
use serde_json::value::RawValue;

const PAGE: usize = 100;

/// The i-th job's spec, as stored.
fn stored_spec(i: usize) -> Box<RawValue> {
    let site = format!("site-{:02}", i % 20);
    let spec = json!({
        "name": format!("job-{i:05}"),
        "description": format!("Reachability of {site} rack {} (4 hosts)", i % 50),
        "tags": [site, "ping"],
        "schedule": if i.is_multiple_of(2) {
            json!({"type": "cron", "expression": "0 * * * * *"})
        } else {
            json!({"type": "interval", "seconds": 60})
        },
        "targets": {"include": [{"type": "range", "value": "127.64.1.1-127.64.1.4"}]},
        "actions": [{"command": "ping.icmp", "params": {"count": 3, "timeout_ms": 1000}}]
    });
    let spec: JobSpec = serde_json::from_value(spec).expect("a valid spec");
    serde_json::value::to_raw_value(&spec).expect("a spec encodes")
}

fn last_run(job_id: JobId, now: DateTime<Utc>) -> Run {
    Run {
        id: RunId::new(),
        job_id,
        job_version: 1,
        status: RunStatus::Completed,
        trigger: RunTrigger::Schedule,
        scheduled_for: now,
        created_at: now,
        deadline_at: now,
        started_at: Some(now),
        finished_at: Some(now),
        counters: RunCounters {
            total: 4,
            ok: 4,
            ..RunCounters::default()
        },
        reason: None,
    }
}

/// A page as the handler builds it, from jobs as the store lists them.
fn stored_page(jobs: &[ListedJob], runs: &[Run], now: DateTime<Utc>) -> JobPage {
    JobPage {
        items: jobs
            .iter()
            .zip(runs)
            .map(|(job, run)| JobListEntry {
                job: ListedJobView(job.clone()),
                last_run: Some(run.clone()),
                next_run_at: Some(now),
            })
            .collect(),
        next_cursor: Some("next".into()),
    }
}

/// The same page with every spec decoded and encoded again.
#[derive(Serialize)]
struct DecodedEntry {
    #[serde(flatten)]
    job: JobView,
    last_run: Option<Run>,
    next_run_at: Option<DateTime<Utc>>,
}

fn decoded_page(jobs: &[ListedJob], runs: &[Run], now: DateTime<Utc>) -> Vec<DecodedEntry> {
    jobs.iter()
        .zip(runs)
        .map(|(job, run)| DecodedEntry {
            job: Job {
                id: job.id,
                version: job.version,
                spec: serde_json::from_str(job.spec.get()).expect("a stored spec decodes"),
                created_at: job.created_at,
                updated_at: job.updated_at,
            }
            .into(),
            last_run: Some(run.clone()),
            next_run_at: Some(now),
        })
        .collect()
}

fn job_page(c: &mut Criterion) {
    let now = Utc::now();
    let jobs: Vec<ListedJob> = (0..PAGE)
        .map(|i| {
            let spec = stored_spec(i);
            let decoded: JobSpec = serde_json::from_str(spec.get()).expect("decodes");
            ListedJob {
                id: JobId::new(),
                version: 1,
                name: decoded.name,
                enabled: true,
                schedule: decoded.schedule,
                spec,
                created_at: now,
                updated_at: now,
            }
        })
        .collect();
    let runs: Vec<Run> = jobs.iter().map(|j| last_run(j.id, now)).collect();
    let stored = serde_json::to_string(&stored_page(&jobs, &runs, now)).expect("encodes");
    let decoded = serde_json::to_string(&decoded_page(&jobs, &runs, now)).expect("encodes");
    assert!(
        matches!(jobs[0].schedule, Schedule::Cron { .. }),
        "both schedule kinds are on the page"
    );
    println!(
        "page of {PAGE}: {} bytes with stored specs, {} decoded",
        stored.len(),
        decoded.len()
    );

    let mut group = c.benchmark_group("job page");
    group.bench_function("stored spec", |b| {
        b.iter(|| serde_json::to_vec(&stored_page(&jobs, &runs, now)).expect("encodes"))
    });
    group.bench_function("decoded spec", |b| {
        b.iter(|| serde_json::to_vec(&decoded_page(&jobs, &runs, now)).expect("encodes"))
    });
    group.finish();
}

// In a private module because `criterion_group!` makes an undocumented `pub fn`.
mod group {
    criterion::criterion_group!(benches, super::job_page);
}

criterion_main!(group::benches);
