//! The work queue between the controller and the agents: RabbitMQ in the scale-out mode, an
//! in-process broker in standalone mode, behind the same [`Publisher`], [`Consumer`],
//! [`Delivery`], [`DeadLetters`] and [`DeadLetter`].
//!
//! The controller's relay publishes each chunk of a run (a protobuf `ChunkWork`, opaque bytes
//! here) to the segment's queue with confirms; agents of that segment consume it with manual
//! acks and ack only once the controller has stored every result. A chunk that keeps failing
//! (returned more than `delivery_limit` times) or is rejected is dead-lettered to one queue
//! the controller drains to record the chunk's targets as errors, so nothing disappears
//! silently.
//!
//! On RabbitMQ (`connect` constructors) the queues are durable quorum queues:
//!
//! ```text
//! Publisher ──► exchange <prefix>.work (direct, key = segment)
//!                 └─► queue <prefix>.work.<segment> (quorum, x-delivery-limit, DLX) ──► Consumer
//!                        │ delivery limit exceeded / rejected
//!                        ▼
//!               exchange <prefix>.dead (fanout) ──► queue <prefix>.dead (quorum) ──► DeadLetters
//! ```
//!
//! In process (`in_process` constructors over one [`InProcessBroker`]) the same picture
//! holds without exchanges: a bounded FIFO per segment and one dead-letter FIFO, in memory,
//! lost when the process exits.
//!
//! # Layout
//! - [`broker`]: [`Broker`], the backend chosen at start-up, from which callers build
//!   their endpoints.
//! - [`config`]: [`QueueConfig`] and the [`Names`] derived from its prefix.
//! - `amqp`: connecting with a bounded timeout, declaring the topology, mapping lapin errors.
//! - [`in_process`]: [`InProcessBroker`] and its [`InProcessOptions`] (delivery limit,
//!   prefetch, per-segment budget), the standalone backend.
//! - [`publisher`]: [`Publisher`], pipelined publishes awaited on their confirms, mandatory
//!   so an unroutable chunk is an error rather than a silent drop; reconnects on the next
//!   call after the connection is lost.
//! - [`consumer`]: [`Consumer`] and [`Delivery`] for agents.
//! - [`retry`]: [`backoff()`], the jittered delay for callers' reconnect loops.
//! - [`dead_letter`]: [`DeadLetters`] and [`DeadLetter`] for the controller.
//! - [`admin`]: [`queue_depth`] and [`delete_topology`] on RabbitMQ, for metrics and tests
//!   ([`InProcessBroker::queue_depth`] in process).
//!
//! No type of `lapin` leaves this crate: callers see bytes, strings and [`QueueError`].

pub mod admin;
mod amqp;
pub mod broker;
pub mod config;
pub mod consumer;
pub mod dead_letter;
pub mod in_process;
pub mod publisher;
pub mod retry;

pub use admin::{delete_topology, queue_depth};
pub use broker::Broker;
pub use config::{Names, QueueConfig};
pub use consumer::{Consumer, Delivery};
pub use dead_letter::{DeadLetter, DeadLetters};
pub use in_process::{InProcessBroker, InProcessOptions};
pub use publisher::Publisher;
pub use retry::{MAX_BACKOFF, backoff};

/// AMQP `content-type` of every chunk message.
pub const CONTENT_TYPE: &str = "application/x-protobuf";
/// AMQP `type` of every chunk message: the protobuf message name of the payload.
pub const MESSAGE_TYPE: &str = "opsconductor.v1.ChunkWork";

/// Everything that can go wrong talking to the queue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    /// The broker cannot be reached or the connection was lost. Retry after [`backoff()`];
    /// a [`Publisher`] reconnects by itself on its next call, a [`Consumer`] is rebuilt. In
    /// process only settling a delivery after its consumer was closed says this.
    #[error("queue unavailable: {0}")]
    Unavailable(String),
    /// The broker refused to take responsibility for the chunk (basic.nack; in process: the
    /// segment's queue is full): it was not stored and must be published again.
    #[error("queue nacked chunk {chunk_id}: not stored")]
    Nacked {
        /// The chunk's id (the message id).
        chunk_id: String,
    },
    /// No queue is bound for the chunk's segment, so the broker returned it (mandatory
    /// publish); [`Publisher::ensure_segment`] was not called for it, or the queue was deleted.
    #[error("chunk {chunk_id} is unroutable: no queue is bound for segment {segment:?}")]
    Unroutable {
        /// The chunk's id (the message id).
        chunk_id: String,
        /// The segment it was routed to.
        segment: String,
    },
    /// A message on the queue is not one this crate published (no usable message id).
    #[error("malformed message: {message}")]
    Decode {
        /// What is wrong with it.
        message: String,
    },
    /// The configuration is unusable; every problem is listed.
    #[error("invalid queue configuration: {0}")]
    Config(String),
    /// The segment name cannot be part of a queue name.
    #[error("invalid segment {segment:?}: {message}")]
    InvalidSegment {
        /// The rejected name.
        segment: String,
        /// Why.
        message: String,
    },
    /// A chunk id cannot be an AMQP message id (longer than 255 bytes or empty).
    #[error("invalid chunk id {chunk_id:?}: {message}")]
    InvalidChunkId {
        /// The rejected id (truncated for display).
        chunk_id: String,
        /// Why.
        message: String,
    },
    /// A queue that must exist does not (e.g. [`queue_depth`] of an undeclared segment).
    #[error("queue {queue} does not exist")]
    NotFound {
        /// The missing queue.
        queue: String,
    },
    /// The broker refused an operation on a live connection, e.g. a queue redeclared with
    /// different arguments (PRECONDITION_FAILED) after `delivery_limit` changed.
    #[error("rabbitmq refused {operation}: {message}")]
    Refused {
        /// The AMQP operation, e.g. `queue.declare`.
        operation: &'static str,
        /// The broker's reply text.
        message: String,
    },
    /// The delivery was already acked, requeued or rejected.
    #[error("delivery of chunk {chunk_id} was already settled")]
    AlreadySettled {
        /// The chunk's id.
        chunk_id: String,
    },
}
