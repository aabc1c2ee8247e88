//! Which runs are cancelled, and the cancel token of each run with chunks in flight.
//!
//! A `CancelRun` cancels the run's in-flight chunks at once and is remembered, so chunks
//! of the run still queued are acked without running when they arrive. The memory is
//! bounded: the oldest cancelled runs are forgotten first (the controller also repeats the
//! list in every `Welcome`, and a forgotten run's chunks only cost a wasted execution).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use tokio_util::sync::CancellationToken;

/// Cancelled run ids remembered.
const REMEMBERED: usize = 10_000;

#[derive(Debug, Default)]
pub(crate) struct Runs {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Runs with chunks in flight: their token and how many chunks hold it.
    active: HashMap<String, (CancellationToken, usize)>,
    cancelled: HashSet<String>,
    order: VecDeque<String>,
}

impl Runs {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Marks a chunk of `run_id` in flight and hands out the run's token; `None` when the
    /// run is cancelled and the chunk must not run.
    pub(crate) fn enter(self: &Arc<Self>, run_id: &str) -> Option<RunGuard> {
        let mut inner = self.lock();
        if inner.cancelled.contains(run_id) {
            return None;
        }
        let entry = inner
            .active
            .entry(run_id.to_owned())
            .or_insert_with(|| (CancellationToken::new(), 0));
        entry.1 += 1;
        Some(RunGuard {
            runs: Arc::clone(self),
            run_id: run_id.to_owned(),
            token: entry.0.clone(),
        })
    }

    /// Cancels a run: its chunks in flight stop, its later chunks are skipped.
    pub(crate) fn cancel(&self, run_id: &str) {
        let mut inner = self.lock();
        if let Some((token, _)) = inner.active.get(run_id) {
            token.cancel();
        }
        if inner.cancelled.insert(run_id.to_owned()) {
            inner.order.push_back(run_id.to_owned());
            while inner.order.len() > REMEMBERED {
                if let Some(old) = inner.order.pop_front() {
                    inner.cancelled.remove(&old);
                }
            }
        }
    }

    fn leave(&self, run_id: &str) {
        let mut inner = self.lock();
        if let Some(entry) = inner.active.get_mut(run_id) {
            entry.1 -= 1;
            if entry.1 == 0 {
                inner.active.remove(run_id);
            }
        }
    }
}

/// One chunk's hold on its run; released on drop.
#[derive(Debug)]
pub(crate) struct RunGuard {
    runs: Arc<Runs>,
    run_id: String,
    token: CancellationToken,
}

impl RunGuard {
    /// Cancelled when the run is.
    pub(crate) fn token(&self) -> &CancellationToken {
        &self.token
    }
}

impl Drop for RunGuard {
    fn drop(&mut self) {
        self.runs.leave(&self.run_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancelling_a_run_stops_its_chunks_and_refuses_later_ones() {
        let runs = Arc::new(Runs::default());
        let a = runs.enter("r1").unwrap();
        let b = runs.enter("r1").unwrap();
        let other = runs.enter("r2").unwrap();
        runs.cancel("r1");
        assert!(a.token().is_cancelled() && b.token().is_cancelled());
        assert!(!other.token().is_cancelled());
        assert!(runs.enter("r1").is_none());
        drop((a, b, other));
        assert!(runs.lock().active.is_empty());
    }

    #[test]
    fn only_the_most_recent_cancellations_are_remembered() {
        let runs = Arc::new(Runs::default());
        for i in 0..=REMEMBERED {
            runs.cancel(&format!("r{i}"));
        }
        assert!(runs.enter("r0").is_some());
        assert!(runs.enter(&format!("r{REMEMBERED}")).is_none());
    }
}
