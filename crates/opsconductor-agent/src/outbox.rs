//! The bounded buffer between the chunks and the session: result batches waiting to be
//! sent or acknowledged, and chunk events waiting to be sent.
//!
//! Capacity is counted in results. A chunk takes a slot *before* it polls the runner for
//! the next result, and the slot is freed only when the controller acks the batch holding
//! that result — so when the buffer is full the runners pause (backpressure) and nothing is
//! dropped, however long the controller is away.
//!
//! Batches are numbered per session: the writer gives each one the session's next `seq`
//! as it sends it. When a session ends, every batch sent but not acked goes back to the
//! front of the queue, in its original order, to be sent again (with a new `seq`) on the
//! next session; the controller's ingest is idempotent, so a batch it had stored but not
//! yet acked collapses into the stored results.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::Instant;

use opsconductor_proto::v1::{self, agent_message::Body};

use crate::metrics;

/// Chunk events kept while the controller is away; past that new events are dropped (they
/// are progress information — results never go through this limit).
const MAX_QUEUED_EVENTS: usize = 10_000;

/// Identifies one execution of a chunk on this agent (a redelivered chunk may run twice
/// at once after a broker reconnect, so the chunk id is not enough).
pub(crate) type ExecId = u64;

/// Results held for the controller; shared by the chunk tasks and the session.
#[derive(Debug)]
pub(crate) struct Outbox {
    inner: Mutex<Inner>,
    /// Something was queued for the writer.
    wake: Notify,
    /// The queue became empty.
    drained: Notify,
    slots: Arc<Semaphore>,
    capacity: usize,
    dropped_total: AtomicU64,
}

#[derive(Debug)]
struct Inner {
    next_key: u64,
    next_exec: ExecId,
    /// Every batch not yet acked, by key (keys increase in creation order).
    batches: BTreeMap<u64, Batch>,
    /// What the writer sends next, in order.
    queue: VecDeque<Item>,
    events_queued: usize,
    /// This session's seq → batch key, for batches sent and not yet acked.
    sent: HashMap<u64, u64>,
    next_seq: u64,
    /// Unacked batches per chunk execution.
    chunks: HashMap<ExecId, watch::Sender<usize>>,
}

#[derive(Debug)]
enum Item {
    Batch(u64),
    Event(v1::ChunkEvent),
}

#[derive(Debug)]
struct Batch {
    exec: ExecId,
    chunk_id: String,
    run_id: String,
    results: Vec<v1::Result>,
    /// Set while sent in the current session.
    sent: Option<(u64, Instant)>,
    /// The results' buffer slots, freed when the batch is dropped.
    _slots: OwnedSemaphorePermit,
}

impl Outbox {
    /// An outbox holding at most `capacity` results.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            inner: Mutex::new(Inner {
                next_key: 0,
                next_exec: 0,
                batches: BTreeMap::new(),
                queue: VecDeque::new(),
                events_queued: 0,
                sent: HashMap::new(),
                next_seq: 1,
                chunks: HashMap::new(),
            }),
            wake: Notify::new(),
            drained: Notify::new(),
            slots: Arc::new(Semaphore::new(capacity)),
            capacity,
            dropped_total: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits for room for one more result. Cancel-safe.
    pub(crate) async fn slot(&self) -> OwnedSemaphorePermit {
        match Arc::clone(&self.slots).acquire_owned().await {
            Ok(permit) => permit,
            // The semaphore is never closed; waiting forever is the honest answer if it were.
            Err(_) => std::future::pending().await,
        }
    }

    /// Results held: in batches being filled, queued, or sent and not yet acked.
    pub(crate) fn buffered(&self) -> usize {
        self.capacity - self.slots.available_permits()
    }

    /// Results abandoned at shutdown since the agent started.
    pub(crate) fn dropped_total(&self) -> u64 {
        self.dropped_total.load(Ordering::Relaxed)
    }

    /// Starts tracking a chunk execution; the receiver counts its unacked batches.
    pub(crate) fn open_chunk(&self) -> (ExecId, watch::Receiver<usize>) {
        let mut inner = self.lock();
        let exec = inner.next_exec;
        inner.next_exec += 1;
        let (tx, rx) = watch::channel(0);
        inner.chunks.insert(exec, tx);
        (exec, rx)
    }

    /// Queues a batch of a chunk; `slots` are its results' buffer slots.
    pub(crate) fn push_batch(
        &self,
        exec: ExecId,
        chunk_id: &str,
        run_id: &str,
        results: Vec<v1::Result>,
        slots: OwnedSemaphorePermit,
    ) {
        debug_assert!(!results.is_empty());
        {
            let mut inner = self.lock();
            let key = inner.next_key;
            inner.next_key += 1;
            if let Some(count) = inner.chunks.get(&exec) {
                count.send_modify(|n| *n += 1);
            }
            inner.batches.insert(
                key,
                Batch {
                    exec,
                    chunk_id: chunk_id.to_owned(),
                    run_id: run_id.to_owned(),
                    results,
                    sent: None,
                    _slots: slots,
                },
            );
            inner.queue.push_back(Item::Batch(key));
        }
        metrics::results_buffered(self.buffered());
        self.wake.notify_one();
    }

    /// Queues a chunk event (dropped when too many are waiting).
    pub(crate) fn push_event(&self, event: v1::ChunkEvent) {
        {
            let mut inner = self.lock();
            if inner.events_queued >= MAX_QUEUED_EVENTS {
                tracing::debug!(chunk.id = %event.chunk_id, "too many chunk events waiting; dropping one");
                return;
            }
            inner.events_queued += 1;
            inner.queue.push_back(Item::Event(event));
        }
        self.wake.notify_one();
    }

    /// The next message for the writer, numbering batches with the session's `seq`.
    /// Cancel-safe: a message is taken off the queue only in the poll that returns it.
    pub(crate) async fn next_outgoing(&self) -> v1::AgentMessage {
        loop {
            let notified = self.wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(message) = self.pop() {
                return message;
            }
            notified.await;
        }
    }

    fn pop(&self) -> Option<v1::AgentMessage> {
        let mut guard = self.lock();
        let inner = &mut *guard;
        let message = loop {
            let Some(item) = inner.queue.pop_front() else {
                break None;
            };
            match item {
                Item::Event(event) => {
                    inner.events_queued -= 1;
                    break Some(Body::Chunk(event));
                }
                Item::Batch(key) => {
                    // Gone when its chunk was abandoned after it was queued.
                    let Some(batch) = inner.batches.get_mut(&key) else {
                        continue;
                    };
                    let seq = inner.next_seq;
                    inner.next_seq += 1;
                    batch.sent = Some((seq, Instant::now()));
                    inner.sent.insert(seq, key);
                    break Some(Body::Results(v1::ResultBatch {
                        seq,
                        chunk_id: batch.chunk_id.clone(),
                        run_id: batch.run_id.clone(),
                        results: batch.results.clone(),
                    }));
                }
            }
        };
        if inner.queue.is_empty() {
            self.drained.notify_waiters();
        }
        message.map(|body| v1::AgentMessage { body: Some(body) })
    }

    /// Waits until everything queued has been handed to the writer.
    pub(crate) async fn drained(&self) {
        loop {
            let notified = self.drained.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.lock().queue.is_empty() {
                return;
            }
            notified.await;
        }
    }

    /// The controller stored batch `seq` of this session: free its slots. Unknown seqs
    /// (a stale or duplicate ack) are ignored.
    pub(crate) fn ack(&self, seq: u64) -> bool {
        let batch = {
            let mut inner = self.lock();
            let Some(key) = inner.sent.remove(&seq) else {
                return false;
            };
            let Some(batch) = inner.batches.remove(&key) else {
                return false;
            };
            if let Some(count) = inner.chunks.get(&batch.exec) {
                count.send_modify(|n| *n = n.saturating_sub(1));
            }
            batch
        };
        if let Some((_, sent_at)) = batch.sent {
            metrics::batch_acked(sent_at.elapsed());
        }
        drop(batch);
        metrics::results_buffered(self.buffered());
        true
    }

    /// A session ended: batches sent and not acked go back to the front of the queue, in
    /// order, and the next session numbers from 1 again.
    pub(crate) fn reset_session(&self) {
        let mut guard = self.lock();
        let inner = &mut *guard;
        inner.sent.clear();
        inner.next_seq = 1;
        let resend: Vec<u64> = inner
            .batches
            .iter_mut()
            .filter_map(|(key, batch)| batch.sent.take().map(|_| *key))
            .collect();
        for key in resend.into_iter().rev() {
            inner.queue.push_front(Item::Batch(key));
        }
        let pending = !inner.queue.is_empty();
        drop(guard);
        if pending {
            self.wake.notify_one();
        }
    }

    /// Gives up a chunk's unacked batches (shutdown): returns how many results were dropped.
    pub(crate) fn abandon_chunk(&self, exec: ExecId) -> usize {
        let dropped: Vec<Batch> = {
            let mut guard = self.lock();
            let inner = &mut *guard;
            inner.chunks.remove(&exec);
            let keys: Vec<u64> = inner
                .batches
                .iter()
                .filter(|(_, b)| b.exec == exec)
                .map(|(k, _)| *k)
                .collect();
            keys.into_iter()
                .filter_map(|key| {
                    let batch = inner.batches.remove(&key)?;
                    if let Some((seq, _)) = batch.sent {
                        inner.sent.remove(&seq);
                    }
                    Some(batch)
                })
                .collect()
        };
        let count: usize = dropped.iter().map(|b| b.results.len()).sum();
        drop(dropped);
        if count > 0 {
            self.dropped_total
                .fetch_add(u64::try_from(count).unwrap_or(u64::MAX), Ordering::Relaxed);
            metrics::results_dropped(count);
            metrics::results_buffered(self.buffered());
        }
        count
    }

    /// Stops tracking a finished chunk execution.
    pub(crate) fn close_chunk(&self, exec: ExecId) {
        self.lock().chunks.remove(&exec);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn result(target: &str) -> v1::Result {
        v1::Result {
            target: target.into(),
            ..v1::Result::default()
        }
    }

    async fn batch_of(outbox: &Outbox, exec: ExecId, targets: &[&str]) {
        let mut slots = outbox.slot().await;
        for _ in 1..targets.len() {
            slots.merge(outbox.slot().await);
        }
        let results = targets.iter().map(|t| result(t)).collect();
        outbox.push_batch(exec, "c1", "r1", results, slots);
    }

    fn batch(message: v1::AgentMessage) -> v1::ResultBatch {
        match message.body {
            Some(Body::Results(batch)) => batch,
            other => panic!("expected a batch, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn unacked_batches_are_resent_in_order_with_new_seqs_after_a_session_ends() {
        let outbox = Outbox::new(10);
        let (exec, mut pending) = outbox.open_chunk();
        batch_of(&outbox, exec, &["a"]).await;
        batch_of(&outbox, exec, &["b"]).await;
        batch_of(&outbox, exec, &["c"]).await;
        let first = batch(outbox.next_outgoing().await);
        let second = batch(outbox.next_outgoing().await);
        assert_eq!((first.seq, second.seq), (1, 2));
        assert!(outbox.ack(1));
        assert_eq!(outbox.buffered(), 2);

        outbox.reset_session();
        let again: Vec<_> = [
            batch(outbox.next_outgoing().await),
            batch(outbox.next_outgoing().await),
        ]
        .into_iter()
        .map(|b| (b.seq, b.results[0].target.clone()))
        .collect();
        assert_eq!(again, [(1, "b".to_owned()), (2, "c".to_owned())]);
        assert!(!outbox.ack(7), "an unknown seq is ignored");
        assert!(outbox.ack(1) && outbox.ack(2));
        assert_eq!(outbox.buffered(), 0);
        tokio::time::timeout(Duration::from_secs(1), pending.wait_for(|n| *n == 0))
            .await
            .unwrap()
            .unwrap();
    }

    #[tokio::test]
    async fn a_full_buffer_makes_chunks_wait_until_the_controller_acks() {
        let outbox = Arc::new(Outbox::new(2));
        let (exec, _pending) = outbox.open_chunk();
        batch_of(&outbox, exec, &["a", "b"]).await;
        let waiting = tokio::spawn({
            let outbox = Arc::clone(&outbox);
            async move { drop(outbox.slot().await) }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "no slot while the buffer is full");
        let sent = batch(outbox.next_outgoing().await);
        outbox.ack(sent.seq);
        tokio::time::timeout(Duration::from_secs(1), waiting)
            .await
            .unwrap()
            .unwrap();
    }

    #[tokio::test]
    async fn an_abandoned_chunk_counts_its_results_as_dropped_and_frees_their_slots() {
        let outbox = Outbox::new(10);
        let (exec, _) = outbox.open_chunk();
        let (other, _) = outbox.open_chunk();
        batch_of(&outbox, exec, &["a", "b"]).await;
        batch_of(&outbox, other, &["c"]).await;
        let sent = batch(outbox.next_outgoing().await);
        assert_eq!(outbox.abandon_chunk(exec), 2);
        assert!(!outbox.ack(sent.seq), "the abandoned batch is gone");
        assert_eq!(outbox.dropped_total(), 2);
        assert_eq!(outbox.buffered(), 1);
        assert_eq!(batch(outbox.next_outgoing().await).results[0].target, "c");
    }

    #[tokio::test]
    async fn events_and_batches_go_out_in_the_order_they_were_queued() {
        let outbox = Outbox::new(10);
        let (exec, _) = outbox.open_chunk();
        outbox.push_event(v1::ChunkEvent {
            chunk_id: "c1".into(),
            ..v1::ChunkEvent::default()
        });
        batch_of(&outbox, exec, &["a"]).await;
        assert!(matches!(
            outbox.next_outgoing().await.body,
            Some(Body::Chunk(_))
        ));
        assert_eq!(batch(outbox.next_outgoing().await).seq, 1);
        tokio::time::timeout(Duration::from_secs(1), outbox.drained())
            .await
            .unwrap();
    }
}
