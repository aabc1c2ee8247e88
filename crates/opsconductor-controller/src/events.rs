//! The in-process event bus behind live progress: what changed, told to whoever watches,
//! without ever slowing the path that stores results.
//!
//! Two kinds of news travel here. New results go out as they are committed
//! ([`EventBus::results_stored`]); run progress does not, because a run taking a thousand
//! batches a second would otherwise make a thousand progress events. Instead a change only
//! marks the run dirty, and [`run_progress_pump`] reads every dirty run from the store once
//! per tick and broadcasts it as [`Event::RunProgress`] — at most one event per run per
//! tick, whatever the ingest rate, and always the committed state, never an estimate.
//!
//! Publishing is synchronous and never waits: a `tokio::sync::broadcast` send plus a
//! short mutex on the dirty set. A subscriber that falls behind loses the oldest events
//! (it sees `RecvError::Lagged` and resynchronises from the store) and slows nobody else.
//! With no subscriber at all, publishing is a counter read and nothing is loaded.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::StreamExt as _;
use opsconductor_core::ids::RunId;
use opsconductor_core::model::{ResultRecord, Run};
use opsconductor_store::StoreError;
use opsconductor_store::prelude::*;
use tokio::sync::{Notify, broadcast};
use tokio_util::sync::CancellationToken;

/// Events buffered per subscriber before the slowest one starts losing the oldest.
pub const EVENT_CAPACITY: usize = 1024;
/// How often the pump turns dirty runs into progress events: the coalescing window.
pub const PROGRESS_INTERVAL: Duration = Duration::from_millis(250);
/// Dirty runs loaded per tick; the rest wait for the next tick, so one tick never holds
/// many database connections or runs long.
pub const MAX_RUNS_PER_TICK: usize = 500;
/// Runs loaded concurrently within a tick: a few pool connections, no more, so ingest
/// keeps the rest of the pool.
const LOAD_CONCURRENCY: usize = 4;

/// Something that happened, as subscribers receive it (shared, never copied per
/// subscriber).
#[derive(Debug)]
pub enum Event {
    /// A run's committed state after a change: status and counters.
    RunProgress {
        /// The run as the store has it.
        run: Run,
    },
    /// Results that were just committed. A batch resent after a reconnect may repeat
    /// results sent before.
    Results {
        /// The run they belong to.
        run_id: RunId,
        /// The batch.
        results: Arc<[ResultRecord]>,
    },
}

/// The bus; clones share it and are cheap.
#[derive(Clone)]
pub struct EventBus {
    inner: Arc<Inner>,
}

struct Inner {
    tx: broadcast::Sender<Arc<Event>>,
    /// Runs changed since the pump last looked.
    dirty: Mutex<HashSet<RunId>>,
    /// Wakes the pump when the dirty set becomes non-empty.
    wake: Notify,
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new(EVENT_CAPACITY)
    }
}

impl EventBus {
    /// A bus keeping up to `capacity` events per subscriber.
    pub fn new(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity.max(1));
        Self {
            inner: Arc::new(Inner {
                tx,
                dirty: Mutex::new(HashSet::new()),
                wake: Notify::new(),
            }),
        }
    }

    /// A new subscriber: it receives every event published from now on, until it lags
    /// more than the bus capacity behind.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.inner.tx.subscribe()
    }

    /// Whether anyone is listening; publishers may skip building events otherwise.
    pub fn has_subscribers(&self) -> bool {
        self.subscribers() > 0
    }

    /// How many receivers are open (one per WebSocket connection): a gauge, and how tests
    /// see that a stuck connection was dropped.
    pub fn subscribers(&self) -> usize {
        self.inner.tx.receiver_count()
    }

    /// Called after `results` of `run_id` were committed: sends them to subscribers and
    /// marks the run's progress for the next pump tick. Never blocks or awaits, so it is
    /// safe on the ingest path.
    pub fn results_stored(&self, run_id: RunId, results: Arc<[ResultRecord]>) {
        if !self.has_subscribers() {
            return;
        }
        // An error means every subscriber left meanwhile: nobody to tell.
        let _ = self
            .inner
            .tx
            .send(Arc::new(Event::Results { run_id, results }));
        self.mark_dirty(run_id);
    }

    /// Tells the pump `run_id` changed (created, cancelled, ended by the controller), so
    /// its state goes out on the next tick. Never blocks.
    pub fn run_changed(&self, run_id: RunId) {
        if self.has_subscribers() {
            self.mark_dirty(run_id);
        }
    }

    fn mark_dirty(&self, run_id: RunId) {
        let newly_dirty = {
            let mut dirty = self.dirty();
            let was_empty = dirty.is_empty();
            dirty.insert(run_id);
            was_empty
        };
        if newly_dirty {
            // Stores a permit when the pump is busy, so the mark is never missed.
            self.inner.wake.notify_one();
        }
    }

    /// Up to `max` dirty runs, removed from the set; re-arms the wake-up when more remain.
    fn take_dirty(&self, max: usize) -> Vec<RunId> {
        let mut dirty = self.dirty();
        let taken: Vec<RunId> = if dirty.len() <= max {
            dirty.drain().collect()
        } else {
            let taken: Vec<RunId> = dirty.iter().take(max).copied().collect();
            for id in &taken {
                dirty.remove(id);
            }
            taken
        };
        if !dirty.is_empty() {
            self.inner.wake.notify_one();
        }
        taken
    }

    fn dirty(&self) -> std::sync::MutexGuard<'_, HashSet<RunId>> {
        self.inner
            .dirty
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn publish(&self, event: Event) {
        let _ = self.inner.tx.send(Arc::new(event));
    }
}

/// What one tick's load returned: the runs found, and the ids to try again next tick
/// (a database hiccup must not lose a run's final state).
#[derive(Debug, Default)]
struct Loaded {
    runs: Vec<Run>,
    retry: Vec<RunId>,
}

/// Broadcasts the progress of dirty runs until `shutdown`: wakes when a run becomes dirty,
/// loads the dirty runs from `store` and publishes one [`Event::RunProgress`] each, then
/// waits `interval` before the next round so that bursts coalesce.
pub async fn run_progress_pump(
    bus: EventBus,
    store: SharedStore,
    interval: Duration,
    shutdown: CancellationToken,
) {
    pump(bus, interval, shutdown, |ids| load_runs(store.clone(), ids)).await;
}

async fn pump<L, F>(bus: EventBus, interval: Duration, shutdown: CancellationToken, mut load: L)
where
    L: FnMut(Vec<RunId>) -> F,
    F: Future<Output = Loaded>,
{
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = bus.inner.wake.notified() => {}
        }
        let ids = bus.take_dirty(MAX_RUNS_PER_TICK);
        // Nobody listens (the last client left since the mark): the load would be wasted.
        if !ids.is_empty() && bus.has_subscribers() {
            let loaded = tokio::select! {
                () = shutdown.cancelled() => return,
                loaded = load(ids) => loaded,
            };
            for run in loaded.runs {
                bus.publish(Event::RunProgress { run });
            }
            for id in loaded.retry {
                bus.mark_dirty(id);
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
    }
}

/// Loads `ids` a few at a time. A run that no longer exists is dropped; other failures are
/// logged once per tick and retried on the next.
async fn load_runs(store: SharedStore, ids: Vec<RunId>) -> Loaded {
    let mut outcomes = futures::stream::iter(ids)
        .map(|id| {
            let store = store.clone();
            async move { (id, store.get_run(id).await) }
        })
        .buffer_unordered(LOAD_CONCURRENCY);
    let mut loaded = Loaded::default();
    let mut first_error = None;
    while let Some((id, outcome)) = outcomes.next().await {
        match outcome {
            Ok(run) => loaded.runs.push(run),
            Err(StoreError::NotFound { .. }) => {}
            Err(e) => {
                first_error.get_or_insert(e);
                loaded.retry.push(id);
            }
        }
    }
    if let Some(e) = first_error {
        tracing::warn!(error = %e, runs = loaded.retry.len(), "cannot load run progress; retrying next tick");
    }
    loaded
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use serde_json::json;
    use tokio::sync::broadcast::error::TryRecvError;

    use super::*;

    fn run(id: RunId, done: u64) -> Run {
        serde_json::from_value(json!({
            "id": id, "job_id": uuid::Uuid::now_v7(), "job_version": 1, "status": "running",
            "trigger": "manual", "scheduled_for": "2026-01-01T00:00:00Z",
            "created_at": "2026-01-01T00:00:00Z", "deadline_at": "2026-01-01T01:00:00Z",
            "started_at": null, "finished_at": null,
            "counters": {"total": 10, "ok": done, "warn": 0, "failed": 0, "error": 0, "timeout": 0},
        }))
        .expect("a run")
    }

    fn progress(event: &Event) -> Option<&Run> {
        match event {
            Event::RunProgress { run } => Some(run),
            Event::Results { .. } => None,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_of_changes_makes_one_progress_event_per_run_per_tick() {
        let bus = EventBus::new(64);
        let mut rx = bus.subscribe();
        let loads = Arc::new(AtomicUsize::new(0));
        let shutdown = CancellationToken::new();
        let (a, b) = (RunId::new(), RunId::new());
        for _ in 0..100 {
            bus.run_changed(a);
            bus.run_changed(b);
        }
        let counted = loads.clone();
        let pump = tokio::spawn(pump(
            bus.clone(),
            Duration::from_millis(250),
            shutdown.clone(),
            move |ids| {
                counted.fetch_add(1, Ordering::SeqCst);
                async move {
                    Loaded {
                        runs: ids.into_iter().map(|id| run(id, 1)).collect(),
                        retry: Vec::new(),
                    }
                }
            },
        ));
        let mut seen = Vec::new();
        for _ in 0..2 {
            let event = rx.recv().await.expect("an event");
            seen.push(progress(&event).expect("progress").id);
        }
        seen.sort();
        let mut expected = vec![a, b];
        expected.sort();
        assert_eq!(seen, expected);
        // More changes within the window wait for it and still make one event.
        for _ in 0..50 {
            bus.run_changed(a);
        }
        let event = rx.recv().await.expect("an event");
        assert_eq!(progress(&event).expect("progress").id, a);
        assert_eq!(loads.load(Ordering::SeqCst), 2);
        assert!(rx.try_recv().is_err(), "nothing else was published");
        shutdown.cancel();
        pump.await.expect("pump stops");
    }

    #[tokio::test(start_paused = true)]
    async fn runs_that_failed_to_load_are_retried_on_the_next_tick() {
        let bus = EventBus::new(64);
        let mut rx = bus.subscribe();
        let shutdown = CancellationToken::new();
        let id = RunId::new();
        bus.run_changed(id);
        let attempts = Arc::new(AtomicUsize::new(0));
        let counted = attempts.clone();
        let pump = tokio::spawn(pump(
            bus.clone(),
            Duration::from_millis(250),
            shutdown.clone(),
            move |ids| {
                let first = counted.fetch_add(1, Ordering::SeqCst) == 0;
                async move {
                    if first {
                        Loaded {
                            runs: Vec::new(),
                            retry: ids,
                        }
                    } else {
                        Loaded {
                            runs: ids.into_iter().map(|id| run(id, 3)).collect(),
                            retry: Vec::new(),
                        }
                    }
                }
            },
        ));
        let event = rx.recv().await.expect("an event");
        assert_eq!(progress(&event).expect("progress").counters.ok, 3);
        assert_eq!(attempts.load(Ordering::SeqCst), 2);
        shutdown.cancel();
        pump.await.expect("pump stops");
    }

    #[test]
    fn a_lagging_subscriber_loses_only_its_own_events() {
        let bus = EventBus::new(4);
        let mut slow = bus.subscribe();
        let mut fast = bus.subscribe();
        let id = RunId::new();
        for done in 0..10 {
            bus.results_stored(id, Arc::from(Vec::new()));
            // The fast one keeps up.
            match fast
                .try_recv()
                .expect("fast subscriber gets every event")
                .as_ref()
            {
                Event::Results { run_id, .. } => assert_eq!(*run_id, id),
                Event::RunProgress { .. } => panic!("unexpected progress {done}"),
            }
        }
        // The slow one learns how much it missed, then gets the newest events.
        assert_eq!(slow.try_recv().err(), Some(TryRecvError::Lagged(6)));
        for _ in 0..4 {
            assert!(slow.try_recv().is_ok());
        }
        assert_eq!(slow.try_recv().err(), Some(TryRecvError::Empty));
    }

    #[test]
    fn without_subscribers_nothing_is_marked() {
        let bus = EventBus::default();
        bus.run_changed(RunId::new());
        bus.results_stored(RunId::new(), Arc::from(Vec::new()));
        assert!(bus.take_dirty(10).is_empty());
        let _rx = bus.subscribe();
        bus.run_changed(RunId::new());
        assert_eq!(bus.take_dirty(10).len(), 1);
    }

    #[test]
    fn the_dirty_set_is_taken_in_capped_slices() {
        let bus = EventBus::default();
        let _rx = bus.subscribe();
        for _ in 0..7 {
            bus.run_changed(RunId::new());
        }
        assert_eq!(bus.take_dirty(5).len(), 5);
        assert_eq!(bus.take_dirty(5).len(), 2);
        assert!(bus.take_dirty(5).is_empty());
    }
}
