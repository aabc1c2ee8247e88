//! The in-process queue of standalone mode: controller and agent in one process, no broker.
//!
//! [`InProcessBroker`] keeps the same promises as the RabbitMQ topology, so the relay, the
//! agent and the dead-letter drain run unchanged over [`Publisher::in_process`],
//! [`Consumer::in_process`] and [`DeadLetters::in_process`]:
//!
//! - one FIFO queue per segment, existing only once [`Publisher::ensure_segment`] (or a
//!   consumer of the segment) created it; a chunk for a segment without a queue is
//!   [`QueueError::Unroutable`];
//! - consumers of one segment share its chunks (whichever is free first takes the next
//!   one), each holding at most `prefetch` unsettled deliveries;
//! - a chunk that comes back (requeued, or held by a consumer that is closed or dropped) is
//!   handed out again before chunks never delivered, flagged redelivered, with its delivery
//!   count one higher; a chunk returned more than `delivery_limit` times, or rejected, moves
//!   to the one dead-letter queue with the reason RabbitMQ's path reports;
//! - dead letters wait there until [`DeadLetter::ack`]; unacked ones go back when their
//!   [`DeadLetters`] is closed or dropped.
//!
//! Unlike RabbitMQ nothing survives the process: chunks queued or in flight at exit are
//! gone, and whoever published them must publish them again after a restart.
//!
//! Memory is bounded per segment: a chunk occupies its segment's budget
//! ([`InProcessOptions::max_segment_chunks`], [`InProcessOptions::max_segment_bytes`] of
//! payload) from publish until it is finally acked — by an agent, or, dead-lettered, by the
//! controller. A publish beyond the budget is refused with [`QueueError::Nacked`], the
//! error of a chunk RabbitMQ did not store, which the outbox relay already retries after a
//! backoff. Requeues and returns never exceed the budget, since the chunk already holds its
//! place.
//!
//! [`Publisher::in_process`]: crate::Publisher::in_process
//! [`Publisher::ensure_segment`]: crate::Publisher::ensure_segment
//! [`Consumer::in_process`]: crate::Consumer::in_process
//! [`DeadLetters::in_process`]: crate::DeadLetters::in_process
//! [`DeadLetters`]: crate::DeadLetters
//! [`DeadLetter::ack`]: crate::DeadLetter::ack

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;

use crate::QueueError;
use crate::config::{QueueConfig, check_segment};

/// Default [`InProcessOptions::max_segment_chunks`]: at the dispatcher's few hundred targets
/// per chunk, some hundreds of thousands of targets waiting per segment.
pub const DEFAULT_MAX_SEGMENT_CHUNKS: usize = 1024;
/// Default [`InProcessOptions::max_segment_bytes`]: 64 MiB of encoded chunks per segment.
pub const DEFAULT_MAX_SEGMENT_BYTES: usize = 64 * 1024 * 1024;

/// The shape of the in-process queue. [`InProcessOptions::from_config`] takes the delivery
/// limit and prefetch from the [`QueueConfig`] the RabbitMQ path would use, so both modes
/// retry and spread work alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InProcessOptions {
    /// Returns (requeues, or deliveries lost with their consumer) a chunk may have before it
    /// is dead-lettered: it is delivered at most `delivery_limit + 1` times, as with
    /// RabbitMQ's `x-delivery-limit`.
    pub delivery_limit: u32,
    /// Unsettled deliveries one consumer (or dead-letter reader) holds at once.
    pub prefetch: u16,
    /// Chunks a segment holds at once: ready, in flight, and dead-lettered but not yet acked
    /// by the controller. A publish beyond it is [`QueueError::Nacked`].
    pub max_segment_chunks: usize,
    /// Payload bytes a segment holds at once, counted like `max_segment_chunks` (each
    /// delivery in flight carries one more copy, bounded by `prefetch`). A single chunk
    /// larger than this is always refused.
    pub max_segment_bytes: usize,
}

impl Default for InProcessOptions {
    fn default() -> Self {
        Self::from_config(&QueueConfig::default())
    }
}

impl InProcessOptions {
    /// `delivery_limit` and `prefetch` from `config` (its URL and prefix do not apply), the
    /// default budgets per segment.
    #[must_use]
    pub fn from_config(config: &QueueConfig) -> Self {
        Self {
            delivery_limit: config.delivery_limit,
            prefetch: config.prefetch,
            max_segment_chunks: DEFAULT_MAX_SEGMENT_CHUNKS,
            max_segment_bytes: DEFAULT_MAX_SEGMENT_BYTES,
        }
    }

    /// Checks every field and reports all problems at once.
    pub fn validate(&self) -> Result<(), QueueError> {
        let mut problems = Vec::new();
        if self.delivery_limit == 0 {
            problems.push("delivery_limit must be at least 1");
        }
        if self.prefetch == 0 {
            problems.push("prefetch must be at least 1");
        }
        if self.max_segment_chunks == 0 {
            problems.push("max_segment_chunks must be at least 1");
        }
        if self.max_segment_bytes == 0 {
            problems.push("max_segment_bytes must be at least 1");
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(QueueError::Config(problems.join("; ")))
        }
    }
}

/// The queue of standalone mode; clones share the same queues. See the [module
/// docs](self) for what it promises.
#[derive(Clone)]
pub struct InProcessBroker {
    shared: Arc<Shared>,
}

impl fmt::Debug for InProcessBroker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InProcessBroker")
            .field("options", &self.shared.options)
            .finish_non_exhaustive()
    }
}

impl InProcessBroker {
    /// An empty broker: no segment queues yet, an empty dead-letter queue.
    /// [`QueueError::Config`] lists every unusable option.
    pub fn new(options: InProcessOptions) -> Result<Self, QueueError> {
        options.validate()?;
        Ok(Self {
            shared: Arc::new(Shared {
                options,
                state: Mutex::new(State::default()),
                dead_ready: Arc::new(Notify::new()),
            }),
        })
    }

    /// Chunks ready for delivery in a segment's queue (deliveries held by consumers are not
    /// counted), like [`crate::queue_depth`]. [`QueueError::NotFound`] if the segment's queue
    /// was never created.
    pub fn queue_depth(&self, segment: &str) -> Result<u32, QueueError> {
        check_segment(segment)?;
        let state = self.shared.lock();
        let queue = state
            .segments
            .get(segment)
            .ok_or_else(|| QueueError::NotFound {
                queue: queue_name(segment),
            })?;
        Ok(u32::try_from(queue.fifo.depth()).unwrap_or(u32::MAX))
    }

    /// Dead letters waiting for a reader (handed out but unacked ones are not counted).
    #[must_use]
    pub fn dead_letter_depth(&self) -> u32 {
        u32::try_from(self.shared.lock().dead.depth()).unwrap_or(u32::MAX)
    }

    /// Creates the segment's queue unless it exists.
    pub(crate) fn ensure_segment(&self, segment: &str) -> Result<(), QueueError> {
        check_segment(segment)?;
        self.shared
            .lock()
            .segments
            .entry(segment.to_owned())
            .or_default();
        Ok(())
    }

    /// Queues every `(chunk id, segment, payload)`, already validated by the publisher, and
    /// reports each one's outcome in item order.
    pub(crate) fn publish<'a>(
        &self,
        items: impl IntoIterator<Item = (&'a str, &'a str, &'a [u8])>,
    ) -> Vec<Result<(), QueueError>> {
        let options = &self.shared.options;
        let mut outcomes = Vec::new();
        let mut wake = Vec::new();
        {
            let mut state = self.shared.lock();
            for (chunk_id, segment, payload) in items {
                let Some(queue) = state.segments.get_mut(segment) else {
                    outcomes.push(Err(QueueError::Unroutable {
                        chunk_id: chunk_id.to_owned(),
                        segment: segment.to_owned(),
                    }));
                    continue;
                };
                let fits = queue.held_chunks < options.max_segment_chunks
                    && payload.len() <= options.max_segment_bytes.saturating_sub(queue.held_bytes);
                if !fits {
                    tracing::debug!(chunk.id = %chunk_id, segment = %segment, held_chunks = queue.held_chunks, held_bytes = queue.held_bytes, "in-process segment queue full; refusing a chunk");
                    outcomes.push(Err(QueueError::Nacked {
                        chunk_id: chunk_id.to_owned(),
                    }));
                    continue;
                }
                queue.held_chunks += 1;
                queue.held_bytes += payload.len();
                queue.fifo.ready.push_back(Chunk {
                    chunk_id: chunk_id.to_owned(),
                    payload: payload.to_vec(),
                    deliveries: 0,
                });
                wake.push(Arc::clone(&queue.ready));
                outcomes.push(Ok(()));
            }
        }
        wake.dedup_by(|a, b| Arc::ptr_eq(a, b));
        for notify in wake {
            notify.notify_waiters();
        }
        outcomes
    }

    /// A new consumer of `segment`, creating its queue if needed.
    pub(crate) fn consume(&self, segment: &str) -> Result<Attachment, QueueError> {
        check_segment(segment)?;
        let mut state = self.shared.lock();
        let id = state.next_id();
        let queue = state.segments.entry(segment.to_owned()).or_default();
        queue.fifo.unacked.insert(id, BTreeMap::new());
        Ok(Attachment {
            shared: Arc::clone(&self.shared),
            id,
            queue: QueueRef::Segment(segment.to_owned()),
            ready: Arc::clone(&queue.ready),
        })
    }

    /// A new reader of the dead-letter queue.
    pub(crate) fn consume_dead(&self) -> Attachment {
        let mut state = self.shared.lock();
        let id = state.next_id();
        state.dead.unacked.insert(id, BTreeMap::new());
        Attachment {
            shared: Arc::clone(&self.shared),
            id,
            queue: QueueRef::Dead,
            ready: Arc::clone(&self.shared.dead_ready),
        }
    }
}

/// The queue's name in errors, shaped like the RabbitMQ one (`<prefix>.work.<segment>`).
fn queue_name(segment: &str) -> String {
    format!("in-process.work.{segment}")
}

struct Shared {
    options: InProcessOptions,
    state: Mutex<State>,
    /// Woken whenever a dead letter becomes ready or a reader's slot frees up.
    dead_ready: Arc<Notify>,
}

impl Shared {
    /// The state is consistent between statements (no user code runs under the lock), so a
    /// panic elsewhere while it was held leaves nothing half-done: carry on.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[derive(Default)]
struct State {
    segments: HashMap<String, SegmentQueue>,
    dead: Fifo<DeadEntry>,
    /// Consumer ids and delivery tags, unique for the broker's life.
    last_id: u64,
}

impl State {
    fn next_id(&mut self) -> u64 {
        self.last_id += 1;
        self.last_id
    }

    /// A chunk came back from a consumer: ready again, or dead-lettered if it has been
    /// delivered more than the limit allows. Returns whether it was dead-lettered.
    fn return_chunk(&mut self, segment: &str, chunk: Chunk, delivery_limit: u32) -> bool {
        if chunk.deliveries > delivery_limit {
            let reason = format!(
                "delivery limit exceeded after {} deliveries",
                chunk.deliveries
            );
            self.dead_letter(segment, chunk, reason);
            return true;
        }
        if let Some(queue) = self.segments.get_mut(segment) {
            queue.fifo.returned.push_back(chunk);
        }
        false
    }

    fn dead_letter(&mut self, segment: &str, chunk: Chunk, reason: String) {
        tracing::debug!(chunk.id = %chunk.chunk_id, segment = %segment, reason = %reason, "in-process chunk dead-lettered");
        self.dead.ready.push_back(DeadEntry {
            chunk,
            segment: segment.to_owned(),
            reason,
        });
    }

    /// A chunk left the broker for good: give its place back to its segment.
    fn release(&mut self, segment: &str, chunk: &Chunk) {
        if let Some(queue) = self.segments.get_mut(segment) {
            debug_assert!(queue.held_chunks > 0, "released more chunks than held");
            queue.held_chunks = queue.held_chunks.saturating_sub(1);
            queue.held_bytes = queue.held_bytes.saturating_sub(chunk.payload.len());
        }
    }
}

/// One segment's queue and its budget.
#[derive(Default)]
struct SegmentQueue {
    fifo: Fifo<Chunk>,
    /// Woken whenever a chunk becomes ready or a consumer's prefetch slot frees up.
    ready: Arc<Notify>,
    /// Chunks of this segment anywhere in the broker (ready, in flight, dead-lettered).
    held_chunks: usize,
    /// Their payload bytes.
    held_bytes: usize,
}

struct Chunk {
    chunk_id: String,
    payload: Vec<u8>,
    /// Times delivered so far.
    deliveries: u32,
}

struct DeadEntry {
    chunk: Chunk,
    /// The segment whose queue dead-lettered it.
    segment: String,
    reason: String,
}

/// Ready messages, returned ones first, and those each consumer holds unsettled.
struct Fifo<T> {
    returned: VecDeque<T>,
    ready: VecDeque<T>,
    /// Consumer id → delivery tag → message; a consumer is present while it is attached.
    unacked: HashMap<u64, BTreeMap<u64, T>>,
}

impl<T> Default for Fifo<T> {
    fn default() -> Self {
        Self {
            returned: VecDeque::new(),
            ready: VecDeque::new(),
            unacked: HashMap::new(),
        }
    }
}

impl<T> Fifo<T> {
    fn depth(&self) -> usize {
        self.returned.len() + self.ready.len()
    }

    /// Hands the next message to `consumer` under `tag`, unless it holds `prefetch` already,
    /// is detached, or nothing is ready.
    fn take(&mut self, consumer: u64, prefetch: u16, tag: u64) -> Option<&mut T> {
        let held = self.unacked.get_mut(&consumer)?;
        if held.len() >= usize::from(prefetch) {
            return None;
        }
        let message = self
            .returned
            .pop_front()
            .or_else(|| self.ready.pop_front())?;
        Some(held.entry(tag).or_insert(message))
    }

    fn settle(&mut self, consumer: u64, tag: u64) -> Result<T, Unsettled> {
        self.unacked
            .get_mut(&consumer)
            .ok_or(Unsettled::ConsumerGone)?
            .remove(&tag)
            .ok_or(Unsettled::AlreadySettled)
    }
}

enum Unsettled {
    ConsumerGone,
    AlreadySettled,
}

#[derive(Debug, Clone)]
enum QueueRef {
    Segment(String),
    Dead,
}

/// A consumer's place on one queue. Dropping it returns what it holds unsettled.
pub(crate) struct Attachment {
    shared: Arc<Shared>,
    id: u64,
    queue: QueueRef,
    ready: Arc<Notify>,
}

/// A chunk handed to a segment consumer.
pub(crate) struct Taken {
    pub(crate) chunk_id: String,
    pub(crate) payload: Vec<u8>,
    pub(crate) delivery_count: u32,
    pub(crate) ticket: Ticket,
}

/// A dead letter handed to a reader.
pub(crate) struct TakenDead {
    pub(crate) chunk_id: String,
    pub(crate) segment: String,
    pub(crate) reason: String,
    pub(crate) payload: Vec<u8>,
    pub(crate) ticket: Ticket,
}

impl Attachment {
    /// The next chunk of the segment, waiting (without polling) until one is ready and
    /// this consumer has a free prefetch slot. Cancel-safe: a chunk is taken only in the
    /// poll that returns it.
    pub(crate) async fn next_chunk(&self) -> Taken {
        loop {
            // Registered before looking, so a publish between the look and the wait wakes us.
            let woken = self.ready.notified();
            if let Some(taken) = self.try_take_chunk() {
                return taken;
            }
            woken.await;
        }
    }

    /// The next dead letter; as [`Attachment::next_chunk`].
    pub(crate) async fn next_dead(&self) -> TakenDead {
        loop {
            let woken = self.ready.notified();
            if let Some(taken) = self.try_take_dead() {
                return taken;
            }
            woken.await;
        }
    }

    fn try_take_chunk(&self) -> Option<Taken> {
        let QueueRef::Segment(segment) = &self.queue else {
            return None;
        };
        let prefetch = self.shared.options.prefetch;
        let mut state = self.shared.lock();
        let tag = state.next_id();
        let chunk = state
            .segments
            .get_mut(segment)?
            .fifo
            .take(self.id, prefetch, tag)?;
        chunk.deliveries = chunk.deliveries.saturating_add(1);
        Some(Taken {
            chunk_id: chunk.chunk_id.clone(),
            payload: chunk.payload.clone(),
            delivery_count: chunk.deliveries,
            ticket: self.ticket(tag),
        })
    }

    fn try_take_dead(&self) -> Option<TakenDead> {
        let prefetch = self.shared.options.prefetch;
        let mut state = self.shared.lock();
        let tag = state.next_id();
        let entry = state.dead.take(self.id, prefetch, tag)?;
        Some(TakenDead {
            chunk_id: entry.chunk.chunk_id.clone(),
            segment: entry.segment.clone(),
            reason: entry.reason.clone(),
            payload: entry.chunk.payload.clone(),
            ticket: self.ticket(tag),
        })
    }

    fn ticket(&self, tag: u64) -> Ticket {
        Ticket {
            shared: Arc::clone(&self.shared),
            consumer: self.id,
            tag,
            queue: self.queue.clone(),
            ready: Arc::clone(&self.ready),
        }
    }
}

impl Drop for Attachment {
    fn drop(&mut self) {
        let delivery_limit = self.shared.options.delivery_limit;
        let mut dead_lettered = false;
        {
            let mut state = self.shared.lock();
            match &self.queue {
                QueueRef::Segment(segment) => {
                    let held = state
                        .segments
                        .get_mut(segment)
                        .and_then(|queue| queue.fifo.unacked.remove(&self.id))
                        .unwrap_or_default();
                    // In delivery order, so the chunks come back in the order they left.
                    for chunk in held.into_values() {
                        dead_lettered |= state.return_chunk(segment, chunk, delivery_limit);
                    }
                }
                QueueRef::Dead => {
                    let held = state.dead.unacked.remove(&self.id).unwrap_or_default();
                    state.dead.returned.extend(held.into_values());
                }
            }
        }
        self.ready.notify_waiters();
        if dead_lettered {
            self.shared.dead_ready.notify_waiters();
        }
    }
}

/// Settles one delivery on the queue it came from.
pub(crate) struct Ticket {
    shared: Arc<Shared>,
    consumer: u64,
    tag: u64,
    queue: QueueRef,
    /// The queue's wake-up: settling frees a prefetch slot.
    ready: Arc<Notify>,
}

/// How a delivery is settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Settlement {
    /// Done: removed for good.
    Ack,
    /// Back to the queue, counting towards the delivery limit.
    Requeue,
    /// Dead-lettered at once with reason `rejected`.
    Reject,
}

impl Settlement {
    fn name(self) -> &'static str {
        match self {
            Self::Ack => "ack",
            Self::Requeue => "requeue",
            Self::Reject => "reject",
        }
    }
}

impl Ticket {
    /// Settles the delivery once: [`QueueError::AlreadySettled`] the second time,
    /// [`QueueError::Unavailable`] once its consumer is gone (which returned it already).
    pub(crate) fn settle(&self, chunk_id: &str, how: Settlement) -> Result<(), QueueError> {
        let delivery_limit = self.shared.options.delivery_limit;
        let mut dead_lettered = false;
        let outcome = {
            let mut state = self.shared.lock();
            match &self.queue {
                QueueRef::Segment(segment) => {
                    let taken = state
                        .segments
                        .get_mut(segment)
                        .ok_or(Unsettled::ConsumerGone)
                        .and_then(|queue| queue.fifo.settle(self.consumer, self.tag));
                    taken.map(|chunk| match how {
                        Settlement::Ack => state.release(segment, &chunk),
                        Settlement::Requeue => {
                            dead_lettered = state.return_chunk(segment, chunk, delivery_limit);
                        }
                        Settlement::Reject => {
                            state.dead_letter(segment, chunk, "rejected".to_owned());
                            dead_lettered = true;
                        }
                    })
                }
                QueueRef::Dead => {
                    let taken = state.dead.settle(self.consumer, self.tag);
                    taken.map(|entry| match how {
                        Settlement::Ack => state.release(&entry.segment, &entry.chunk),
                        // Dead letters are only ever acked; anything else puts it back.
                        Settlement::Requeue | Settlement::Reject => {
                            state.dead.returned.push_back(entry);
                        }
                    })
                }
            }
        };
        match outcome {
            Ok(()) => {
                // A prefetch slot is free, and maybe a chunk is ready again.
                self.ready.notify_waiters();
                if dead_lettered {
                    self.shared.dead_ready.notify_waiters();
                }
                Ok(())
            }
            Err(Unsettled::AlreadySettled) => Err(QueueError::AlreadySettled {
                chunk_id: chunk_id.to_owned(),
            }),
            Err(Unsettled::ConsumerGone) => Err(QueueError::Unavailable(format!(
                "{} of chunk {chunk_id}: its consumer is closed, which returned it to the queue",
                how.name()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_report_every_problem_at_once() {
        let options = InProcessOptions {
            delivery_limit: 0,
            prefetch: 0,
            max_segment_chunks: 0,
            max_segment_bytes: 0,
        };
        let message = InProcessBroker::new(options).unwrap_err().to_string();
        for needle in [
            "delivery_limit",
            "prefetch",
            "max_segment_chunks",
            "max_segment_bytes",
        ] {
            assert!(message.contains(needle), "{needle} missing from {message}");
        }
    }

    #[test]
    fn options_follow_the_queue_config() {
        let config = QueueConfig {
            delivery_limit: 3,
            prefetch: 7,
            ..QueueConfig::default()
        };
        let options = InProcessOptions::from_config(&config);
        assert_eq!(options.delivery_limit, 3);
        assert_eq!(options.prefetch, 7);
        assert_eq!(options.max_segment_chunks, DEFAULT_MAX_SEGMENT_CHUNKS);
        assert_eq!(InProcessOptions::default().delivery_limit, 10);
    }
}
