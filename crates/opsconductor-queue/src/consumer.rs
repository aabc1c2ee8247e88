//! Consuming one segment's chunks, for agents.
//!
//! Deliveries are acked manually: an agent acks a chunk only after the controller has
//! stored all its results, requeues it when it cannot run it now, and rejects it when it can
//! never run it (dead-lettered at once). A delivery left unacked when the agent dies is
//! requeued by the broker and counts towards the segment's delivery limit.

use std::fmt;

use futures::StreamExt;
use lapin::options::{BasicAckOptions, BasicNackOptions};
use lapin::{Acker, Channel, Connection};

use crate::QueueError;
use crate::amqp::{self, header_u64};
use crate::config::{QueueConfig, check_segment};

/// Consumes one segment's queue with manual acks and at most `prefetch` unacked deliveries.
pub struct Consumer {
    connection: Connection,
    // Kept so the channel lives as long as the consumer reading from it.
    _channel: Channel,
    deliveries: lapin::Consumer,
    segment: String,
}

impl fmt::Debug for Consumer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Consumer")
            .field("segment", &self.segment)
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
                connection,
                _channel: channel,
                deliveries,
                segment: segment.to_owned(),
            }),
            Err(error) => {
                amqp::close(&connection).await;
                Err(error)
            }
        }
    }

    /// The segment this consumer serves.
    #[must_use]
    pub fn segment(&self) -> &str {
        &self.segment
    }

    /// Waits for the next chunk.
    ///
    /// [`QueueError::Unavailable`] means the connection or the consumer is gone (broker
    /// restart, queue deleted): drop this consumer and connect again after
    /// [`crate::backoff()`]. [`QueueError::Decode`] means one message was not a chunk this
    /// crate published; it has already been rejected (dead-lettered) and the consumer stays
    /// usable.
    pub async fn next(&mut self) -> Result<Delivery, QueueError> {
        match self.deliveries.next().await {
            Some(Ok(delivery)) => decode_or_reject(delivery).await,
            Some(Err(error)) => Err(amqp::map_error("basic.deliver", &error)),
            None => Err(QueueError::Unavailable(format!(
                "the consumer of segment {} was cancelled",
                self.segment
            ))),
        }
    }

    /// Closes the connection; deliveries not yet acked go back to the queue at once.
    pub async fn close(self) {
        amqp::close(&self.connection).await;
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
                acker: delivery.acker,
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
    /// queue's `x-delivery-count`). Past `delivery_limit` the broker dead-letters it.
    pub delivery_count: u32,
    /// Whether the broker flagged it as possibly seen before (a consumer died or requeued).
    pub redelivered: bool,
    acker: Acker,
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
        let done = self.acker.ack(BasicAckOptions { multiple: false }).await;
        self.settled("basic.ack", done)
    }

    /// The chunk could not be run now: back to the queue for any agent of the segment. Counts
    /// towards the delivery limit.
    pub async fn requeue(&self) -> Result<(), QueueError> {
        self.nack(true).await
    }

    /// The chunk can never be run: dead-lettered at once with reason `rejected`.
    pub async fn reject(&self) -> Result<(), QueueError> {
        self.nack(false).await
    }

    async fn nack(&self, requeue: bool) -> Result<(), QueueError> {
        let done = self
            .acker
            .nack(BasicNackOptions {
                multiple: false,
                requeue,
            })
            .await;
        self.settled("basic.nack", done)
    }

    fn settled(
        &self,
        operation: &'static str,
        done: lapin::Result<bool>,
    ) -> Result<(), QueueError> {
        settle_outcome(&self.acker, &self.chunk_id, operation, done)
    }
}

/// lapin answers `false` when the acker was already used or its channel is gone.
pub(crate) fn settle_outcome(
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
