//! The scheduler: fires jobs on their schedules, on one replica at a time.
//!
//! Every replica runs [`run`]; the one holding the scheduler lock in PostgreSQL (a
//! session advisory lock on a connection of its own, see
//! [`LeaderElection`]) leads, the others try to take the
//! lock every tick. The leader keeps a [`Timetable`] of the enabled scheduled jobs (reloaded
//! when the job table changes), asks it what is due at each wake-up — a pure function of
//! `now`, see [`timetable`] — applies each job's overlap policy and hands the fires to the
//! [`Dispatcher`] with the fire time as the run's `scheduled_for`, in batches written in
//! one transaction each (a whole fleet on "every minute" fires in the same second).
//!
//! Exactly once: the leader records at every wake-up the instant up to which every fire
//! is handled — held back to just before the oldest fire whose run is still being written
//! — on the lock's connection, so the write doubles as the liveness check; a new leader
//! starts from there. A leader that lost its lock without
//! noticing yet may still fire for a moment, and a leader that died between creating a run
//! and writing the watermark leaves fires its successor repeats: the unique
//! (job, fire time) index on runs refuses the second run of a fire in both cases, and the
//! attempt counts as a `duplicate`.
//!
//! Overlap: `skip` drops a fire while the job has a queued or running run (or one being
//! written); `queue` keeps the latest such fire and fires it once the job is idle (kept in
//! the leader's memory: a hand-over forgets it); `allow` always fires.

pub mod timetable;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use opsconductor_core::ids::JobId;
use opsconductor_core::model::{OverlapPolicy, RunTrigger};
use opsconductor_store::prelude::*;
use opsconductor_store::{JobsFingerprint, LeaderElection, StoreError};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub use self::timetable::{Due, Fire, ScheduledJob, Timetable, due_fires};
use crate::dispatch::{Dispatcher, ScheduledFire};
use crate::error::ControllerError;
use crate::metrics::FireOutcome;

/// Longest a round trip on the lock's connection may take before this replica assumes it
/// lost the connection (and so the lock) and stops leading.
const LEASE_TIMEOUT: Duration = Duration::from_secs(5);

/// Longest a stopping leader waits for the runs it is writing.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Most fires written in one transaction: large enough that a burst of 10,000 fires is
/// 40 statements' worth of round trips, small enough that the first runs of a burst are
/// written (and published) while the rest are planned.
const DISPATCH_BATCH: usize = 250;

/// Shortest pause of the loop, so a clock that lags the timer cannot make it spin.
const MIN_WAIT: Duration = Duration::from_millis(1);

/// How the scheduler runs (from [`ControllerConfig`](crate::ControllerConfig)).
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// Longest pause of the loop (standbys retry the lock this often).
    pub tick: Duration,
    /// How late a fire may be and still count as on time.
    pub misfire_grace: Duration,
    /// How often the leader checks the job table for changes.
    pub reload: Duration,
    /// Batches of runs written at once.
    pub max_in_flight: usize,
}

/// A view of a running scheduler, for tests and health checks.
#[derive(Debug, Clone, Default)]
pub struct SchedulerHandle {
    leader: Arc<AtomicBool>,
}

impl SchedulerHandle {
    /// True while this replica leads (holds the lock and fires).
    pub fn is_leader(&self) -> bool {
        self.leader.load(Ordering::SeqCst)
    }

    fn set_leader(&self, leading: bool) {
        self.leader.store(leading, Ordering::SeqCst);
        crate::metrics::scheduler_leader(leading);
    }
}

/// Runs the scheduler until `shutdown`: stands by until it takes the lock, then fires until
/// it loses the lock or stops. On shutdown a leader lets the runs it is writing finish,
/// records its watermark and releases the lock, so a standby takes over within a tick.
pub async fn run(
    store: SharedStore,
    dispatcher: Dispatcher,
    config: SchedulerConfig,
    handle: SchedulerHandle,
    shutdown: CancellationToken,
) {
    let mut election = store.leader_election();
    let mut leading: Option<Leading> = None;
    let mut failures = 0_u32;
    loop {
        let wait = leading
            .as_ref()
            .map_or(config.tick, |l| l.wait(config.tick));
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(wait) => {}
        }
        let Some(leader) = &mut leading else {
            match election.try_acquire().await {
                Ok(false) => failures = 0,
                Ok(true) => {
                    failures = 0;
                    match Leading::start(&mut *election, &*store, dispatcher.clone(), &config).await
                    {
                        Ok(started) => {
                            tracing::info!(
                                jobs = started.timetable.len(),
                                checked_until = %started.timetable.checked_until(),
                                "this replica now leads the scheduler"
                            );
                            handle.set_leader(true);
                            leading = Some(started);
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "could not start leading the scheduler; giving the lock back");
                            election.release().await;
                        }
                    }
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    // Once per outage at warn, not four times a second.
                    if failures == 1 {
                        tracing::warn!(error = %e, "cannot reach PostgreSQL for the scheduler lock; retrying every tick");
                    }
                }
            }
            continue;
        };
        if let Err(e) = leader.tick(&mut *election, &*store).await {
            tracing::warn!(error = %e, "lost the scheduler leadership; standing by");
            handle.set_leader(false);
            if let Some(lost) = leading.take() {
                lost.abandon();
            }
        }
    }
    if let Some(leader) = leading.take() {
        leader.finish(&mut *election).await;
    }
    handle.set_leader(false);
    election.release().await;
}

/// Fires whose runs the dispatcher wrote (or failed to).
struct Dispatched {
    fires: Vec<Fire>,
}

/// The leader's state; dropped when leadership ends.
struct Leading {
    timetable: Timetable,
    dispatcher: Dispatcher,
    reload_every: Duration,
    last_reload_check: Instant,
    fingerprint: Option<JobsFingerprint>,
    /// Overlap `queue`: the latest fire waiting for the job's previous run to end.
    pending: HashMap<JobId, Fire>,
    /// Fires of this wake-up whose runs are still to be written.
    outgoing: Vec<(Fire, bool)>,
    tasks: JoinSet<Dispatched>,
    permits: Arc<Semaphore>,
    /// Fires being written, per job and per fire time (for the overlap policy and the
    /// watermark).
    in_flight_jobs: HashMap<JobId, usize>,
    in_flight_times: BTreeMap<DateTime<Utc>, usize>,
}

impl Leading {
    /// Loads the watermark and the jobs: the state of a replica that just took the lock.
    async fn start(
        election: &mut dyn LeaderElection,
        store: &dyn Store,
        dispatcher: Dispatcher,
        config: &SchedulerConfig,
    ) -> Result<Self, StoreError> {
        // A database no scheduler has led yet has missed nothing.
        let checked_until = election.watermark().await?.unwrap_or_else(Utc::now);
        let grace = TimeDelta::from_std(config.misfire_grace).unwrap_or(TimeDelta::MAX);
        let mut leading = Self {
            timetable: Timetable::new(checked_until, grace),
            dispatcher,
            reload_every: config.reload,
            last_reload_check: Instant::now(),
            fingerprint: None,
            pending: HashMap::new(),
            outgoing: Vec::new(),
            tasks: JoinSet::new(),
            permits: Arc::new(Semaphore::new(config.max_in_flight.max(1))),
            in_flight_jobs: HashMap::new(),
            in_flight_times: BTreeMap::new(),
        };
        leading.reload(store).await?;
        Ok(leading)
    }

    /// How long to sleep: until the next fire, at most a tick.
    fn wait(&self, tick: Duration) -> Duration {
        match self.timetable.next_fire() {
            Some(next) => (next - Utc::now())
                .to_std()
                .unwrap_or(Duration::ZERO)
                .clamp(MIN_WAIT, tick),
            None => tick,
        }
    }

    /// One wake-up: record progress (and so prove the lock is still ours), pick up job
    /// changes, fire what is due. An error means the leadership is lost.
    async fn tick(
        &mut self,
        election: &mut dyn LeaderElection,
        store: &dyn Store,
    ) -> Result<(), StoreError> {
        self.reap();
        election.checkpoint(self.watermark(), LEASE_TIMEOUT).await?;
        if self.last_reload_check.elapsed() >= self.reload_every
            && let Err(e) = self.reload(store).await
        {
            // Keep firing the jobs as last read; the next check tries again.
            tracing::warn!(error = %e, "could not re-read the scheduled jobs");
        }
        let due = self.timetable.due(Utc::now());
        if due.missed > 0 {
            tracing::warn!(
                fires = due.missed,
                "schedule fires missed while no scheduler ran were dropped"
            );
            crate::metrics::scheduler_fires(FireOutcome::Missed, due.missed);
        }
        self.fire(store, due.fires).await;
        Ok(())
    }

    /// Re-reads the jobs when the job table changed since the last look.
    async fn reload(&mut self, store: &dyn Store) -> Result<(), StoreError> {
        self.last_reload_check = Instant::now();
        let fingerprint = store.jobs_fingerprint().await?;
        if self.fingerprint == Some(fingerprint) {
            return Ok(());
        }
        let jobs = store.enabled_scheduled_jobs().await?;
        self.timetable
            .sync(jobs.iter().map(ScheduledJob::from_job).collect());
        self.pending
            .retain(|id, _| self.timetable.job(*id).is_some());
        self.fingerprint = Some(fingerprint);
        crate::metrics::scheduler_jobs(self.timetable.len());
        tracing::debug!(jobs = self.timetable.len(), "scheduled jobs re-read");
        Ok(())
    }

    /// Applies the overlap policies to `fires` (and to the fires waiting in `pending`) and
    /// dispatches what runs.
    async fn fire(&mut self, store: &dyn Store, fires: Vec<Fire>) {
        let policy = |table: &Timetable, id: JobId| {
            table.job(id).map_or(OverlapPolicy::Skip, |job| job.overlap)
        };
        // One query for every job whose policy depends on an active run.
        let mut to_check: Vec<JobId> = fires
            .iter()
            .filter(|f| policy(&self.timetable, f.job_id) != OverlapPolicy::Allow)
            .map(|f| f.job_id)
            .chain(self.pending.keys().copied())
            .filter(|id| !self.in_flight_jobs.contains_key(id))
            .collect();
        to_check.sort_unstable();
        to_check.dedup();
        let active = if to_check.is_empty() {
            Some(HashSet::new())
        } else {
            match store.jobs_with_active_runs(&to_check).await {
                Ok(active) => Some(active),
                Err(e) => {
                    tracing::warn!(error = %e, "could not look up active runs; overlap-checked fires wait or are dropped");
                    None
                }
            }
        };
        let pending: Vec<Fire> = self.pending.values().copied().collect();
        for fire in pending {
            if let Some(false) = self.is_active(active.as_ref(), fire.job_id) {
                self.pending.remove(&fire.job_id);
                self.dispatch(fire, false);
            }
        }
        for fire in fires {
            match (
                policy(&self.timetable, fire.job_id),
                self.is_active(active.as_ref(), fire.job_id),
            ) {
                (OverlapPolicy::Allow, _) | (_, Some(false)) => self.dispatch(fire, !fire.catch_up),
                (OverlapPolicy::Skip, Some(true)) => {
                    crate::metrics::scheduler_fires(FireOutcome::SkippedOverlap, 1);
                    tracing::debug!(job.id = %fire.job_id, fire_time = %fire.fire_time, "fire skipped: the previous run is still going");
                }
                (OverlapPolicy::Skip, None) => {
                    crate::metrics::scheduler_fires(FireOutcome::Failed, 1);
                }
                (OverlapPolicy::Queue, _) => {
                    if self.pending.insert(fire.job_id, fire).is_some() {
                        crate::metrics::scheduler_fires(FireOutcome::SkippedOverlap, 1);
                    }
                }
            }
        }
        self.flush();
    }

    /// Whether the job has a run going (or being written); `None` when unknown.
    fn is_active(&self, active: Option<&HashSet<JobId>>, job: JobId) -> Option<bool> {
        if self.in_flight_jobs.contains_key(&job) {
            return Some(true);
        }
        active.map(|set| set.contains(&job))
    }

    /// Queues the run of `fire` for writing; [`Leading::flush`] starts the writes.
    fn dispatch(&mut self, fire: Fire, on_time: bool) {
        *self.in_flight_jobs.entry(fire.job_id).or_default() += 1;
        *self.in_flight_times.entry(fire.fire_time).or_default() += 1;
        self.outgoing.push((fire, on_time));
    }

    /// Writes the queued runs in the background, in batches of up to [`DISPATCH_BATCH`]
    /// (at most `max_in_flight` batches at once).
    fn flush(&mut self) {
        let outgoing = std::mem::take(&mut self.outgoing);
        for batch in outgoing.chunks(DISPATCH_BATCH) {
            let batch = batch.to_vec();
            let dispatcher = self.dispatcher.clone();
            let permits = self.permits.clone();
            self.tasks.spawn(async move {
                // The semaphore is never closed, so acquiring cannot fail.
                let _permit = permits.acquire_owned().await;
                let fires: Vec<ScheduledFire> = batch
                    .iter()
                    .map(|(fire, _)| ScheduledFire {
                        job_id: fire.job_id,
                        fire_time: fire.fire_time,
                        trigger: if fire.catch_up {
                            RunTrigger::CatchUp
                        } else {
                            RunTrigger::Schedule
                        },
                    })
                    .collect();
                let results = dispatcher.start_scheduled_runs(&fires).await;
                for ((fire, on_time), result) in batch.iter().zip(results) {
                    record(*fire, *on_time, result);
                }
                Dispatched {
                    fires: batch.into_iter().map(|(fire, _)| fire).collect(),
                }
            });
        }
    }

    /// Books the dispatches that finished.
    fn reap(&mut self) {
        while let Some(done) = self.tasks.try_join_next() {
            match done {
                Ok(Dispatched { fires }) => fires.into_iter().for_each(|f| self.settled(f)),
                // A panicking dispatch is a bug; the bookkeeping entry of its fire cannot be
                // found again, so start over from the tasks still running.
                Err(e) => {
                    tracing::error!(error = %e, "a schedule dispatch task failed");
                    self.in_flight_jobs.clear();
                    self.in_flight_times.clear();
                }
            }
        }
    }

    fn settled(&mut self, fire: Fire) {
        if let Some(n) = self.in_flight_jobs.get_mut(&fire.job_id) {
            *n -= 1;
            if *n == 0 {
                self.in_flight_jobs.remove(&fire.job_id);
            }
        }
        if let Some(n) = self.in_flight_times.get_mut(&fire.fire_time) {
            *n -= 1;
            if *n == 0 {
                self.in_flight_times.remove(&fire.fire_time);
            }
        }
    }

    /// Every fire at or before this is handled: the timetable's progress, held back to just
    /// before the oldest fire still being written.
    fn watermark(&self) -> DateTime<Utc> {
        let checked = self.timetable.checked_until();
        match self.in_flight_times.first_key_value() {
            Some((oldest, _)) => checked.min(*oldest - TimeDelta::microseconds(1)),
            None => checked,
        }
    }

    /// Leadership lost: the runs being written finish on their own (a successor's attempt
    /// at the same fires is refused by the unique index), nothing else is kept.
    fn abandon(mut self) {
        self.tasks.detach_all();
    }

    /// Stopping: wait for the runs being written, record the watermark.
    async fn finish(mut self, election: &mut dyn LeaderElection) {
        let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
            while let Some(done) = self.tasks.join_next().await {
                if let Ok(Dispatched { fires }) = done {
                    fires.into_iter().for_each(|f| self.settled(f));
                }
            }
        })
        .await;
        if drained.is_err() {
            tracing::warn!("stopping the scheduler with runs still being written");
            self.tasks.detach_all();
        }
        if let Err(e) = election.checkpoint(self.watermark(), LEASE_TIMEOUT).await {
            tracing::warn!(error = %e, "could not record the scheduler watermark at shutdown");
        }
    }
}

/// Metrics and logs of one dispatched fire.
fn record(
    fire: Fire,
    on_time: bool,
    result: Result<Option<opsconductor_core::model::Run>, ControllerError>,
) {
    match result {
        Ok(Some(run)) => {
            if fire.catch_up {
                crate::metrics::scheduler_fires(FireOutcome::CatchUp, 1);
                tracing::info!(job.id = %fire.job_id, run.id = %run.id, fire_time = %fire.fire_time, "missed fire caught up");
            } else {
                crate::metrics::scheduler_fires(FireOutcome::Fired, 1);
            }
            if on_time {
                let lag = (Utc::now() - fire.fire_time).to_std().unwrap_or_default();
                crate::metrics::scheduler_fire_lag(lag);
            }
        }
        Ok(None) => crate::metrics::scheduler_fires(FireOutcome::SkippedDisabled, 1),
        Err(ControllerError::AlreadyExists(_)) => {
            crate::metrics::scheduler_fires(FireOutcome::Duplicate, 1);
            tracing::debug!(job.id = %fire.job_id, fire_time = %fire.fire_time, "fire already has a run (fired by another scheduler)");
        }
        Err(e) => {
            crate::metrics::scheduler_fires(FireOutcome::Failed, 1);
            tracing::warn!(job.id = %fire.job_id, fire_time = %fire.fire_time, error = %e, "could not create the run of a schedule fire");
        }
    }
}
