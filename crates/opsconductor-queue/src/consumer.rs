//! Consuming one segment's chunks, for agents.
//!
//! Deliveries are acked manually: an agent acks a chunk only after the controller has
//! stored all its results, requeues it when it cannot run it now, and rejects it when it can
//! never run it (dead-lettered at once). A delivery left unacked when the agent dies is
//! requeued by the broker and counts towards the segment's delivery limit. The same holds
//! over the in-process backend, where "the agent dies" means its [`Consumer`] is closed or
//! dropped.

use std::fmt;

use futures::StreamExt;
use lapin::options::{BasicAckOptions, BasicNackOptions};
use lapin::{Acker, Channel, Connection};

use crate::QueueError;
use crate::amqp::{self, header_u64};
use crate::config::{QueueConfig, check_segment};
use crate::in_process::{Attachment, InProcessBroker, Settlement, Ticket};

/// Consumes one segment's queue with manual acks and at most `prefetch` unacked deliveries,
/// from RabbitMQ ([`Consumer::connect`]) or an [`InProcessBroker`]
/// ([`Consumer::in_process`]).
pub struct Consumer {
    segment: String,
    backend: Backend,
}

enum Backend {
    Amqp(Box<AmqpConsumer>),
    InProcess(Attachment),
}

struct AmqpConsumer {
    connection: Connection,
    // Kept so the channel lives as long as the consumer reading from it.
    _channel: Channel,
    deliveries: lapin::Consumer,
}

impl fmt::Debug for Consumer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let backend = match self.backend {
            Backend::Amqp(_) => "rabbitmq",
            Backend::InProcess(_) => "in-process",
        };
        f.debug_struct("Consumer")
            .field("segment", &self.segment)
            .field("backend", &backend)
            .finish_non_exhaustive()
    }
}

impl Consumer {
    /// Connects, declares the topology for `segment` (so an agent may start before the
    /// controller ever published to it) and starts consuming.
    pub async fn connect(config: &QueueConfig, segment: &str) -> Result<Self, QueueError> {
        check_segment(segment)?;
        let names = config.names();
        let connection = amqp::connect(config, &format!("agent-{segment}")).await?;
        let setup = async {
            let channel = amqp::channel(&connection, config).await?;
            amqp::declare_base(&channel, config, &names).await?;
            amqp::declare_segment(&channel, config, &names, segment).await?;
            let deliveries =
                amqp::consume(&channel, config, &names.segment_queue(segment), "agent").await?;
            Ok::<_, QueueError>((channel, deliveries))
        };
        match setup.await {
            Ok((channel, deliveries)) => Ok(Self {
                segment: segment.to_owned(),
                backend: Backend::Amqp(Box::new(AmqpConsumer {
                    connection,
                    _channel: channel,
                    deliveries,
                })),
            }),
            Err(error) => {
                amqp::close(&connection).await;
                Err(error)
            }
        }
    }

    /// Starts consuming `segment` on the in-process broker, creating its queue if needed
    /// (as [`Consumer::connect`] declares it). Fails only with
    /// [`QueueError::InvalidSegment`].
    pub fn in_process(broker: &InProcessBroker, segment: &str) -> Result<Self, QueueError> {
        Ok(Self {
            segment: segment.to_owned(),
            backend: Backend::InProcess(broker.consume(segment)?),
        })
    }

    /// The segment this consumer serves.
    #[must_use]
    pub fn segment(&self) -> &str {
        &self.segment
    }

    /// Waits for the next chunk. Cancel-safe: a chunk is never lost by dropping the future.
    ///
    /// [`QueueError::Unavailable`] means the connection or the consumer is gone (broker
    /// restart, queue deleted): drop this consumer and connect again after
    /// [`crate::backoff()`]. [`QueueError::Decode`] means one message was not a chunk this
    /// crate published; it has already been rejected (dead-lettered) and the consumer stays
    /// usable. Neither happens in process, where every message comes from a [`crate::Publisher`]
    /// and the broker lives as long as its consumers.
    pub async fn next(&mut self) -> Result<Delivery, QueueError> {
        let rabbit = match &mut self.backend {
            Backend::Amqp(rabbit) => rabbit,
            Backend::InProcess(attachment) => {
                let taken = attachment.next_chunk().await;
                return Ok(Delivery {
                    chunk_id: taken.chunk_id,
                    payload: taken.payload,
                    delivery_count: taken.delivery_count,
                    redelivered: taken.delivery_count > 1,
                    settle: Settle::InProcess(taken.ticket),
                });
            }
        };
        match rabbit.deliveries.next().await {
            Some(Ok(delivery)) => decode_or_reject(delivery).await,
            Some(Err(error)) => Err(amqp::map_error("basic.deliver", &error)),
            None => Err(QueueError::Unavailable(format!(
                "the consumer of segment {} was cancelled",
                self.segment
            ))),
        }
    }

    /// Closes the connection; deliveries not yet acked go back to the queue at once
    /// (dropping the consumer does the same).
    pub async fn close(self) {
        match self.backend {
            Backend::Amqp(rabbit) => amqp::close(&rabbit.connection).await,
            Backend::InProcess(attachment) => drop(attachment),
        }
    }
}

async fn decode_or_reject(delivery: lapin::message::Delivery) -> Result<Delivery, QueueError> {
    match message_chunk_id(&delivery.properties) {
        Ok(chunk_id) => {
            // Quorum queues count earlier returns in x-delivery-count (absent the first time).
            let returned =
                header_u64(delivery.properties.headers().as_ref(), "x-delivery-count").unwrap_or(0);
            Ok(Delivery {
                chunk_id,
                payload: delivery.data,
                delivery_count: u32::try_from(returned.saturating_add(1)).unwrap_or(u32::MAX),
                redelivered: delivery.redelivered,
                settle: Settle::Amqp(delivery.acker),
            })
        }
        Err(error) => {
            // Leaving it unacked would block a prefetch slot and bounce it through every
            // agent up to the delivery limit; it can never succeed, so dead-letter it now.
            tracing::warn!(error = %error, "rejecting a message that is not a chunk");
            let rejected = delivery
                .acker
                .nack(BasicNackOptions {
                    multiple: false,
                    requeue: false,
                })
                .await;
            if let Err(nack_error) = rejected {
                return Err(amqp::map_error("basic.nack", &nack_error));
            }
            Err(error)
        }
    }
}

/// The message id, which this crate sets to the chunk id.
pub(crate) fn message_chunk_id(properties: &lapin::BasicProperties) -> Result<String, QueueError> {
    match properties.message_id() {
        Some(id) if !id.as_str().is_empty() => Ok(id.as_str().to_owned()),
        _ => Err(QueueError::Decode {
            message: "message has no message id (the chunk id)".to_owned(),
        }),
    }
}

/// One chunk handed to this agent. Settle it exactly once with [`Delivery::ack`],
/// [`Delivery::requeue`] or [`Delivery::reject`], while its [`Consumer`] is still open: a
/// delivery is settled on the connection that received it, and an unsettled one is requeued
/// when that connection closes.
pub struct Delivery {
    /// The chunk id (the AMQP message id).
    pub chunk_id: String,
    /// The encoded `ChunkWork`.
    pub payload: Vec<u8>,
    /// How many times this chunk has been delivered, this time included (1 + the quorum
    /// queue's `x-delivery-count`; the in-process broker counts the same way). Past
    /// `delivery_limit` the broker dead-letters it.
    pub delivery_count: u32,
    /// Whether the broker flagged it as possibly seen before (a consumer died or requeued;
    /// in process exactly when `delivery_count > 1`).
    pub redelivered: bool,
    settle: Settle,
}

/// Where a delivery (or a dead letter) is settled: on the AMQP channel it came on, or on
/// the in-process queue it was taken from.
pub(crate) enum Settle {
    Amqp(Acker),
    InProcess(Ticket),
}

impl Settle {
    pub(crate) async fn ack(&self, chunk_id: &str) -> Result<(), QueueError> {
        match self {
            Self::Amqp(acker) => {
                let done = acker.ack(BasicAckOptions { multiple: false }).await;
                settle_outcome(acker, chunk_id, "basic.ack", done)
            }
            Self::InProcess(ticket) => ticket.settle(chunk_id, Settlement::Ack),
        }
    }

    async fn nack(&self, chunk_id: &str, requeue: bool) -> Result<(), QueueError> {
        match self {
            Self::Amqp(acker) => {
                let done = acker
                    .nack(BasicNackOptions {
                        multiple: false,
                        requeue,
                    })
                    .await;
                settle_outcome(acker, chunk_id, "basic.nack", done)
            }
            Self::InProcess(ticket) => {
                let how = if requeue {
                    Settlement::Requeue
                } else {
                    Settlement::Reject
                };
                ticket.settle(chunk_id, how)
            }
        }
    }
}

impl fmt::Debug for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delivery")
            .field("chunk_id", &self.chunk_id)
            .field("payload_len", &self.payload.len())
            .field("delivery_count", &self.delivery_count)
            .field("redelivered", &self.redelivered)
            .finish_non_exhaustive()
    }
}

impl Delivery {
    /// The chunk is done: every result is stored. Removes it from the queue.
    pub async fn ack(&self) -> Result<(), QueueError> {
        self.settle.ack(&self.chunk_id).await
    }

    /// The chunk could not be run now: back to the queue for any agent of the segment. Counts
    /// towards the delivery limit.
    pub async fn requeue(&self) -> Result<(), QueueError> {
        self.settle.nack(&self.chunk_id, true).await
    }

    /// The chunk can never be run: dead-lettered at once with reason `rejected`.
    pub async fn reject(&self) -> Result<(), QueueError> {
        self.settle.nack(&self.chunk_id, false).await
    }
}

/// lapin answers `false` when the acker was already used or its channel is gone.
fn settle_outcome(
    acker: &Acker,
    chunk_id: &str,
    operation: &'static str,
    done: lapin::Result<bool>,
) -> Result<(), QueueError> {
    match done {
        Ok(true) => Ok(()),
        Ok(false) if acker.poisoned() => Err(QueueError::Unavailable(format!(
            "{operation} of chunk {chunk_id}: the channel is closed; the broker will redeliver it"
        ))),
        Ok(false) => Err(QueueError::AlreadySettled {
            chunk_id: chunk_id.to_owned(),
        }),
        Err(error) => Err(amqp::map_error(operation, &error)),
    }
}
