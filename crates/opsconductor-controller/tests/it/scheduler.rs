//! The scheduler across replicas: one leader, every fire exactly once through a leader
//! crash, overlap policies, catch-up after downtime, and the store's side of it (the lock,
//! the watermark, the unique fire).

use opsconductor_store::prelude::*;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use opsconductor_controller::ControllerError;
use opsconductor_controller::dispatch::{Dispatcher, ScheduledFire};
use opsconductor_core::ids::JobId;
use opsconductor_core::library::Library;
use opsconductor_core::model::{Run, RunStatus, RunTrigger};
use opsconductor_store::PgStore;
use opsconductor_store::testing::fresh_database;
use serde_json::json;
use sqlx::{Connection as _, PgConnection};
use tokio::sync::Notify;

use crate::helpers::{
    RunningController, TestBroker, WAIT, controller_config, job_spec, wait_for, whole_second,
};

fn dispatcher(store: &PgStore) -> Dispatcher {
    let library =
        Library::load_dir(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../libraries"))
            .unwrap();
    Dispatcher::new(
        std::sync::Arc::new(store.clone()),
        Arc::new(library),
        "default".to_owned(),
        Arc::new(Notify::new()),
    )
}

async fn run_count(store: &PgStore, job: JobId) -> usize {
    store.runs_of_job(job).await.unwrap().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_fire_every_slot_exactly_once_across_a_leader_crash() {
    const JOBS: usize = 4;
    const HALF: Duration = Duration::from_secs(16);
    let (store, db) = fresh_database().await;
    let broker = TestBroker::new();
    let mut jobs = Vec::new();
    for i in 0..JOBS {
        let spec = job_spec(
            &format!("every second {i}"),
            json!({"type": "interval", "seconds": 1}),
            json!({"overlap": "allow"}),
        );
        jobs.push(store.create_job(&spec).await.unwrap());
    }
    let a = RunningController::start(controller_config(&db, &broker)).await;
    let b = RunningController::start(controller_config(&db, &broker)).await;
    wait_for("a scheduler leader", WAIT, || async {
        a.is_leader() || b.is_leader()
    })
    .await;
    let started = Utc::now();
    let (leader, standby) = if a.is_leader() { (a, b) } else { (b, a) };
    // Both replicas run the whole time; only one may lead at any moment.
    let deadline = tokio::time::Instant::now() + HALF;
    while tokio::time::Instant::now() < deadline {
        assert!(leader.is_leader() && !standby.is_leader());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let crashed_at = Utc::now();
    leader.kill().await;
    wait_for("the standby to take over", WAIT, || async {
        standby.is_leader()
    })
    .await;
    let took_over = Utc::now();
    tokio::time::sleep(HALF).await;
    let ended = Utc::now();
    standby.stop().await;

    // Every slot from the second after the first leader was seen up to a second before
    // the end, including the ones around the crash, has exactly one run.
    let from = whole_second(started) + TimeDelta::seconds(2);
    let until = whole_second(ended) - TimeDelta::seconds(1);
    let mut checked = 0;
    for job in &jobs {
        let runs = store.runs_of_job(job.id).await.unwrap();
        let mut per_slot: HashMap<DateTime<Utc>, Vec<&Run>> = HashMap::new();
        for run in &runs {
            assert_eq!(run.trigger, RunTrigger::Schedule, "{run:?}");
            assert_eq!(
                run.scheduled_for,
                whole_second(run.scheduled_for),
                "fire times are whole seconds"
            );
            per_slot.entry(run.scheduled_for).or_default().push(run);
        }
        let mut slot = from;
        while slot <= until {
            let n = per_slot.get(&slot).map_or(0, Vec::len);
            assert_eq!(
                n, 1,
                "job {} slot {slot}: {n} runs (crash at {crashed_at}, take-over at {took_over})",
                job.spec.name
            );
            checked += 1;
            slot += TimeDelta::seconds(1);
        }
    }
    assert!(checked >= 120, "only {checked} fires checked");
    assert!(from < crashed_at && took_over < until);
}

#[tokio::test]
async fn a_fire_dispatched_twice_makes_one_run() {
    let (store, _db) = fresh_database().await;
    let spec = job_spec(
        "pings",
        json!({"type": "interval", "seconds": 60}),
        json!({"overlap": "allow"}),
    );
    let job = store.create_job(&spec).await.unwrap();
    // Two schedulers (a stale leader and the new one) firing the same slot at once.
    let (first, second) = (dispatcher(&store), dispatcher(&store));
    let fire = whole_second(Utc::now());
    let (one, other) = tokio::join!(
        first.start_scheduled_run(job.id, fire, RunTrigger::Schedule),
        second.start_scheduled_run(job.id, fire, RunTrigger::Schedule),
    );
    let (won, lost) = if one.is_ok() {
        (one, other)
    } else {
        (other, one)
    };
    let run = won.unwrap().expect("an enabled job fires");
    assert!(
        matches!(lost, Err(ControllerError::AlreadyExists(_))),
        "{lost:?}"
    );
    assert_eq!(run.scheduled_for, fire);
    // A catch-up of the same slot is the same fire.
    let catch_up = first
        .start_scheduled_run(job.id, fire, RunTrigger::CatchUp)
        .await;
    assert!(
        matches!(catch_up, Err(ControllerError::AlreadyExists(_))),
        "{catch_up:?}"
    );
    // "Run now" is not a schedule slot: any number of them.
    first.start_run(job.id, RunTrigger::Manual).await.unwrap();
    first.start_run(job.id, RunTrigger::Manual).await.unwrap();
    let runs = store.runs_of_job(job.id).await.unwrap();
    let scheduled: Vec<_> = runs
        .iter()
        .filter(|r| r.trigger != RunTrigger::Manual)
        .collect();
    assert_eq!(scheduled.len(), 1);
    assert_eq!(scheduled[0].id, run.id);
    assert_eq!(runs.len(), 3);
}

#[tokio::test]
async fn a_burst_of_fires_is_written_at_once_and_taken_slots_are_refused_one_by_one() {
    let (store, db) = fresh_database().await;
    let every_minute = |name: &str| {
        job_spec(
            name,
            json!({"type": "interval", "seconds": 60}),
            json!({"overlap": "allow"}),
        )
    };
    let a = store.create_job(&every_minute("a")).await.unwrap();
    let b = store.create_job(&every_minute("b")).await.unwrap();
    let mut off = every_minute("off");
    off.enabled = false;
    let off = store.create_job(&off).await.unwrap();
    let dispatcher = dispatcher(&store);
    let slot = whole_second(Utc::now());
    let taken = slot - TimeDelta::minutes(1);
    dispatcher
        .start_scheduled_run(a.id, taken, RunTrigger::Schedule)
        .await
        .unwrap()
        .unwrap();

    let fire = |job_id, fire_time, trigger| ScheduledFire {
        job_id,
        fire_time,
        trigger,
    };
    let outcomes = dispatcher
        .start_scheduled_runs(&[
            fire(a.id, slot, RunTrigger::Schedule),
            fire(b.id, slot, RunTrigger::Schedule),
            // The same slot twice in one batch, and a slot another scheduler took.
            fire(a.id, slot, RunTrigger::CatchUp),
            fire(a.id, taken, RunTrigger::CatchUp),
            // A disabled job, and one that no longer exists.
            fire(off.id, slot, RunTrigger::Schedule),
            fire(JobId::new(), slot, RunTrigger::Schedule),
            fire(b.id, taken, RunTrigger::CatchUp),
        ])
        .await;
    let shape: Vec<&str> = outcomes
        .iter()
        .map(|o| match o {
            Ok(Some(_)) => "run",
            Ok(None) => "none",
            Err(ControllerError::AlreadyExists(_)) => "taken",
            Err(_) => "error",
        })
        .collect();
    assert_eq!(
        shape,
        ["run", "run", "taken", "taken", "none", "none", "run"]
    );
    let caught_up = outcomes[6].as_ref().unwrap().as_ref().unwrap();
    assert_eq!(caught_up.trigger, RunTrigger::CatchUp);
    assert_eq!(caught_up.scheduled_for, taken);
    assert_eq!(run_count(&store, a.id).await, 2);
    assert_eq!(run_count(&store, b.id).await, 2);
    // Chunks and outbox rows exist for the written runs only (one chunk each).
    let mut conn = PgConnection::connect(db.url()).await.unwrap();
    let (chunks, outbox): (i64, i64) =
        sqlx::query_as("SELECT (SELECT count(*) FROM chunks), (SELECT count(*) FROM outbox)")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!((chunks, outbox), (4, 4));
}

#[tokio::test]
async fn a_disabled_job_is_not_fired_even_when_asked() {
    let (store, _db) = fresh_database().await;
    let mut spec = job_spec("off", json!({"type": "interval", "seconds": 1}), json!({}));
    spec.enabled = false;
    let job = store.create_job(&spec).await.unwrap();
    let fired = dispatcher(&store)
        .start_scheduled_run(job.id, whole_second(Utc::now()), RunTrigger::Schedule)
        .await
        .unwrap();
    assert!(fired.is_none());
    assert_eq!(run_count(&store, job.id).await, 0);
}

#[tokio::test]
async fn one_replica_at_a_time_holds_the_scheduler_lock() {
    let (store, db) = fresh_database().await;
    let other = PgStore::connect(db.url(), 2).await.unwrap();
    let mut a = store.leader_election();
    let mut b = other.leader_election();
    assert!(a.try_acquire().await.unwrap());
    assert!(!b.try_acquire().await.unwrap());
    assert!(a.still_held(Duration::from_secs(2)).await);
    assert!(!b.still_held(Duration::from_secs(2)).await);

    // The watermark: empty on a new database, written by the leader only, never backwards.
    assert_eq!(a.watermark().await.unwrap(), None);
    let now = Utc::now();
    let mark = DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap();
    a.checkpoint(mark, Duration::from_secs(2)).await.unwrap();
    a.checkpoint(mark - TimeDelta::hours(1), Duration::from_secs(2))
        .await
        .unwrap();
    assert!(b.watermark().await.is_err());

    // A clean hand-over.
    a.release().await;
    assert!(!a.is_held());
    assert!(b.try_acquire().await.unwrap());
    assert_eq!(b.watermark().await.unwrap(), Some(mark));

    // A crash: the connection just goes away, and the lock with it.
    drop(b);
    let deadline = tokio::time::Instant::now() + WAIT;
    while !a.try_acquire().await.unwrap() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the lock stays taken after a crash"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A killed session (an administrator, a failover proxy) ends the leadership at the
    // next check.
    let mut admin = PgConnection::connect(db.url()).await.unwrap();
    let killed: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_locks
         WHERE locktype = 'advisory' AND granted
           AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    .fetch_all(&mut admin)
    .await
    .unwrap();
    assert_eq!(killed, [true]);
    let deadline = tokio::time::Instant::now() + WAIT;
    while a.still_held(Duration::from_secs(2)).await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the leader never notices"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!a.is_held());
    assert!(a.try_acquire().await.unwrap(), "it can lead again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlap_skip_waits_for_the_run_and_disabled_or_manual_jobs_never_fire() {
    let (store, db) = fresh_database().await;
    let broker = TestBroker::new();
    let skip = store
        .create_job(&job_spec(
            "skip",
            json!({"type": "interval", "seconds": 1}),
            json!({}),
        ))
        .await
        .unwrap();
    let mut disabled_spec = job_spec(
        "disabled",
        json!({"type": "interval", "seconds": 1}),
        json!({"overlap": "allow"}),
    );
    disabled_spec.enabled = false;
    let disabled = store.create_job(&disabled_spec).await.unwrap();
    let manual = store
        .create_job(&job_spec(
            "manual",
            json!({"type": "manual"}),
            json!({"overlap": "allow"}),
        ))
        .await
        .unwrap();
    let controller = RunningController::start(controller_config(&db, &broker)).await;
    wait_for("the first run", WAIT, || async {
        run_count(&store, skip.id).await == 1
    })
    .await;
    // The first run never ends (no agent), so every later fire is skipped.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let runs = store.runs_of_job(skip.id).await.unwrap();
    assert_eq!(runs.len(), 1, "{runs:?}");
    // Once it ends, the next fire runs again.
    store.cancel_run(runs[0].id, "test").await.unwrap();
    wait_for("a run after the first ended", WAIT, || async {
        run_count(&store, skip.id).await == 2
    })
    .await;
    controller.stop().await;
    assert_eq!(run_count(&store, disabled.id).await, 0);
    assert_eq!(run_count(&store, manual.id).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlap_queue_fires_the_latest_waiting_slot_when_the_run_ends() {
    let (store, db) = fresh_database().await;
    let broker = TestBroker::new();
    let job = store
        .create_job(&job_spec(
            "queue",
            json!({"type": "interval", "seconds": 1}),
            json!({"overlap": "queue"}),
        ))
        .await
        .unwrap();
    let controller = RunningController::start(controller_config(&db, &broker)).await;
    wait_for("the first run", WAIT, || async {
        run_count(&store, job.id).await == 1
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let first = store.runs_of_job(job.id).await.unwrap();
    assert_eq!(first.len(), 1, "fires wait while the run goes: {first:?}");
    let cancelled_at = Utc::now();
    store.cancel_run(first[0].id, "test").await.unwrap();
    wait_for("the waiting fire to run", WAIT, || async {
        run_count(&store, job.id).await == 2
    })
    .await;
    let runs = store.runs_of_job(job.id).await.unwrap();
    let waited = &runs[1];
    assert_eq!(waited.status, RunStatus::Queued);
    assert_eq!(waited.trigger, RunTrigger::Schedule);
    // It stands for the latest slot that found the first run going (only one waits), so
    // it is from before the cancel but at least a few slots after the first run.
    assert!(
        waited.scheduled_for <= cancelled_at + TimeDelta::seconds(1),
        "{waited:?}"
    );
    assert!(
        waited.scheduled_for >= first[0].scheduled_for + TimeDelta::seconds(3),
        "{waited:?}"
    );
    // And the next ones wait for this one.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(run_count(&store, job.id).await, 2);
    controller.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fires_missed_while_down_are_caught_up_once_within_their_window() {
    // The hourly job's last slot must be older than the misfire grace (10 s).
    let into_hour = Utc::now().timestamp().rem_euclid(3600);
    if into_hour < 15 {
        tokio::time::sleep(Duration::from_secs(u64::try_from(16 - into_hour).unwrap())).await;
    }
    let (store, db) = fresh_database().await;
    let broker = TestBroker::new();
    let ten_minutes_ago = whole_second(Utc::now()) - TimeDelta::minutes(10);
    let once = |name: &str, catch_up: u64| {
        job_spec(
            name,
            json!({"type": "once", "at": ten_minutes_ago}),
            json!({"catch_up_seconds": catch_up}),
        )
    };
    let caught_up = store
        .create_job(&once("once, caught up", 3600))
        .await
        .unwrap();
    let too_old = store.create_job(&once("once, too old", 60)).await.unwrap();
    let no_window = store.create_job(&once("once, no window", 0)).await.unwrap();
    let hourly = store
        .create_job(&job_spec(
            "hourly",
            json!({"type": "cron", "expression": "0 0 * * * *"}),
            json!({"catch_up_seconds": 3 * 3600, "overlap": "allow"}),
        ))
        .await
        .unwrap();
    let every_second = store
        .create_job(&job_spec(
            "every second",
            json!({"type": "interval", "seconds": 1}),
            json!({"catch_up_seconds": 3600, "overlap": "allow"}),
        ))
        .await
        .unwrap();
    // The jobs exist since three hours, and the last scheduler stopped two hours ago.
    let mut conn = PgConnection::connect(db.url()).await.unwrap();
    sqlx::query("UPDATE jobs SET created_at = now() - interval '3 hours', updated_at = now() - interval '3 hours'")
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO scheduler_state (singleton, checked_until)
         VALUES (true, now() - interval '2 hours')",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();

    let started = Utc::now();
    let controller = RunningController::start(controller_config(&db, &broker)).await;
    wait_for(
        "the hourly catch-up and a few on-time fires",
        WAIT,
        || async {
            run_count(&store, hourly.id).await == 1 && run_count(&store, every_second.id).await >= 3
        },
    )
    .await;
    controller.stop().await;

    let runs = store.runs_of_job(caught_up.id).await.unwrap();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].trigger, RunTrigger::CatchUp);
    assert_eq!(runs[0].scheduled_for, ten_minutes_ago);
    assert_eq!(run_count(&store, too_old.id).await, 0);
    assert_eq!(run_count(&store, no_window.id).await, 0);

    // Two hourly slots were missed: only the latest is caught up.
    let runs = store.runs_of_job(hourly.id).await.unwrap();
    let last_hour = DateTime::from_timestamp(
        started.timestamp() - started.timestamp().rem_euclid(3600),
        0,
    )
    .unwrap();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].trigger, RunTrigger::CatchUp);
    assert_eq!(runs[0].scheduled_for, last_hour);

    // A job that fires on time after the outage needs no catch-up: its runs are its
    // on-time slots only, none older than the grace.
    let runs = store.runs_of_job(every_second.id).await.unwrap();
    assert!(
        runs.iter().all(|r| r.trigger == RunTrigger::Schedule),
        "{runs:?}"
    );
    assert!(
        runs.iter()
            .all(|r| r.scheduled_for > started - TimeDelta::seconds(11)),
        "{runs:?}"
    );
}
