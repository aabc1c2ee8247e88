//! The dead-letter queue, for the controller: each dead letter is a chunk that will not run,
//! whose targets the controller records as errors with the reason given here.

use std::fmt;

use futures::StreamExt;
use lapin::options::BasicAckOptions;
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, Connection};

use crate::QueueError;
use crate::amqp::{self, as_text, header_u64};
use crate::config::{Names, QueueConfig};
use crate::consumer::{Settle, message_chunk_id};
use crate::in_process::{Attachment, InProcessBroker};

/// Consumes the dead letters with manual acks: `<prefix>.dead` on RabbitMQ
/// ([`DeadLetters::connect`]), or an [`InProcessBroker`]'s ([`DeadLetters::in_process`]).
pub struct DeadLetters {
    backend: Backend,
}

enum Backend {
    Amqp(Box<AmqpDeadLetters>),
    InProcess(Attachment),
}

struct AmqpDeadLetters {
    connection: Connection,
    _channel: Channel,
    deliveries: lapin::Consumer,
    names: Names,
    delivery_limit: u32,
}

impl fmt::Debug for DeadLetters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut shown = f.debug_struct("DeadLetters");
        match &self.backend {
            Backend::Amqp(rabbit) => shown.field("names", &rabbit.names),
            Backend::InProcess(_) => shown.field("backend", &"in-process"),
        };
        shown.finish_non_exhaustive()
    }
}

impl DeadLetters {
    /// Connects, declares the exchanges and the dead-letter queue, and starts consuming it.
    pub async fn connect(config: &QueueConfig) -> Result<Self, QueueError> {
        let names = config.names();
        let connection = amqp::connect(config, "dead-letters").await?;
        let setup = async {
            let channel = amqp::channel(&connection, config).await?;
            amqp::declare_base(&channel, config, &names).await?;
            let deliveries =
                amqp::consume(&channel, config, &names.dead_queue(), "dead-letters").await?;
            Ok::<_, QueueError>((channel, deliveries))
        };
        match setup.await {
            Ok((channel, deliveries)) => Ok(Self {
                backend: Backend::Amqp(Box::new(AmqpDeadLetters {
                    connection,
                    _channel: channel,
                    deliveries,
                    names,
                    delivery_limit: config.delivery_limit,
                })),
            }),
            Err(error) => {
                amqp::close(&connection).await;
                Err(error)
            }
        }
    }

    /// Starts reading the in-process broker's dead letters.
    #[must_use]
    pub fn in_process(broker: &InProcessBroker) -> Self {
        Self {
            backend: Backend::InProcess(broker.consume_dead()),
        }
    }

    /// Waits for the next dead letter. Cancel-safe. [`QueueError::Unavailable`]: reconnect
    /// after [`crate::backoff()`]. [`QueueError::Decode`]: a message without a chunk id
    /// reached the dead-letter queue; nothing can be recorded for it, so it has been acked
    /// (logged here with its reason) and the stream stays usable. Neither happens in process.
    pub async fn next(&mut self) -> Result<DeadLetter, QueueError> {
        let rabbit = match &mut self.backend {
            Backend::Amqp(rabbit) => rabbit,
            Backend::InProcess(attachment) => {
                let taken = attachment.next_dead().await;
                return Ok(DeadLetter {
                    chunk_id: taken.chunk_id,
                    segment: taken.segment,
                    reason: taken.reason,
                    payload: taken.payload,
                    settle: Settle::InProcess(taken.ticket),
                });
            }
        };
        let delivery = match rabbit.deliveries.next().await {
            Some(Ok(delivery)) => delivery,
            Some(Err(error)) => return Err(amqp::map_error("basic.deliver", &error)),
            None => {
                return Err(QueueError::Unavailable(
                    "the dead-letter consumer was cancelled".to_owned(),
                ));
            }
        };
        let headers = delivery.properties.headers().as_ref();
        let death = latest_death(headers);
        let reason = death.as_ref().map_or_else(
            || "dead-lettered for an unknown reason".to_owned(),
            |death| death.describe(headers, rabbit.delivery_limit),
        );
        let chunk_id = match message_chunk_id(&delivery.properties) {
            Ok(chunk_id) => chunk_id,
            Err(error) => {
                tracing::warn!(reason = %reason, "dropping a dead letter without a chunk id");
                let acked = delivery
                    .acker
                    .ack(BasicAckOptions { multiple: false })
                    .await;
                if let Err(ack_error) = acked {
                    return Err(amqp::map_error("basic.ack", &ack_error));
                }
                return Err(error);
            }
        };
        // The dead-letter routing key is the segment; x-death's queue says it too, for
        // messages dead-lettered by a queue declared some other way.
        let routing_key = delivery.routing_key.as_str();
        let segment = if crate::config::check_segment(routing_key).is_ok() {
            routing_key.to_owned()
        } else {
            death
                .as_ref()
                .and_then(|d| rabbit.names.segment_of_queue(&d.queue).map(str::to_owned))
                .unwrap_or_else(|| routing_key.to_owned())
        };
        Ok(DeadLetter {
            chunk_id,
            segment,
            reason,
            payload: delivery.data,
            settle: Settle::Amqp(delivery.acker),
        })
    }

    /// Closes the connection; an unacked dead letter goes back to the dead-letter queue
    /// (dropping it does the same).
    pub async fn close(self) {
        match self.backend {
            Backend::Amqp(rabbit) => amqp::close(&rabbit.connection).await,
            Backend::InProcess(attachment) => drop(attachment),
        }
    }
}

/// A chunk that will not run.
pub struct DeadLetter {
    /// The chunk id (the message id).
    pub chunk_id: String,
    /// The segment whose queue dead-lettered it.
    pub segment: String,
    /// Why, for the targets' error records: `delivery limit exceeded after N deliveries`,
    /// `rejected`, or the broker's reason as is.
    pub reason: String,
    /// The encoded `ChunkWork`, so the controller can list the chunk's targets.
    pub payload: Vec<u8>,
    settle: Settle,
}

impl fmt::Debug for DeadLetter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeadLetter")
            .field("chunk_id", &self.chunk_id)
            .field("segment", &self.segment)
            .field("reason", &self.reason)
            .field("payload_len", &self.payload.len())
            .finish_non_exhaustive()
    }
}

impl DeadLetter {
    /// The targets are recorded: remove the dead letter. Ack only after the store commit,
    /// so a controller crash in between redelivers it rather than losing it.
    pub async fn ack(&self) -> Result<(), QueueError> {
        self.settle.ack(&self.chunk_id).await
    }
}

/// The most recent `x-death` entry (RabbitMQ keeps the newest first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Death {
    pub(crate) reason: String,
    pub(crate) queue: String,
}

impl Death {
    /// Turns the broker's reason code into the sentence stored with each target.
    ///
    /// RabbitMQ 3.10 does not say how often a chunk was delivered (the dead letter carries no
    /// `x-delivery-count`), but the limit does: it counts returns, so a chunk is dead-lettered
    /// on its `delivery_limit + 1`-th failed delivery. A count on the message wins if a
    /// broker sends one.
    pub(crate) fn describe(&self, headers: Option<&FieldTable>, delivery_limit: u32) -> String {
        match self.reason.as_str() {
            "delivery_limit" => {
                let returns = header_u64(headers, "x-delivery-count")
                    .unwrap_or_else(|| u64::from(delivery_limit));
                format!(
                    "delivery limit exceeded after {} deliveries",
                    returns.saturating_add(1)
                )
            }
            "rejected" => "rejected".to_owned(),
            "expired" => "expired".to_owned(),
            "maxlen" => "queue length limit exceeded".to_owned(),
            other => other.to_owned(),
        }
    }
}

pub(crate) fn latest_death(headers: Option<&FieldTable>) -> Option<Death> {
    let AMQPValue::FieldArray(deaths) = headers?.inner().get("x-death")? else {
        return None;
    };
    let AMQPValue::FieldTable(first) = deaths.as_slice().first()? else {
        return None;
    };
    let field = |key: &str| first.inner().get(key).and_then(as_text);
    Some(Death {
        reason: field("reason")?,
        queue: field("queue").unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use lapin::types::{FieldArray, LongString};

    use super::*;

    fn headers(reason: &str, delivery_count: Option<i64>) -> FieldTable {
        let mut death = FieldTable::default();
        death.insert(
            "reason".into(),
            AMQPValue::LongString(LongString::from(reason)),
        );
        death.insert(
            "queue".into(),
            AMQPValue::LongString(LongString::from("oc.work.dc1")),
        );
        death.insert("count".into(), AMQPValue::LongLongInt(1));
        let mut table = FieldTable::default();
        table.insert(
            "x-death".into(),
            AMQPValue::FieldArray(FieldArray::from(vec![AMQPValue::FieldTable(death)])),
        );
        if let Some(count) = delivery_count {
            table.insert("x-delivery-count".into(), AMQPValue::LongLongInt(count));
        }
        table
    }

    #[test]
    fn delivery_limit_reason_names_the_deliveries() {
        let headers = headers("delivery_limit", Some(3));
        let death = latest_death(Some(&headers)).unwrap();
        assert_eq!(death.queue, "oc.work.dc1");
        assert_eq!(
            death.describe(Some(&headers), 5),
            "delivery limit exceeded after 4 deliveries"
        );
        let without_count = super::tests::headers("delivery_limit", None);
        assert_eq!(
            death.describe(Some(&without_count), 2),
            "delivery limit exceeded after 3 deliveries"
        );
    }

    #[test]
    fn rejected_reason_is_kept_as_is() {
        let headers = headers("rejected", None);
        let death = latest_death(Some(&headers)).unwrap();
        assert_eq!(death.describe(Some(&headers), 5), "rejected");
    }

    #[test]
    fn missing_or_malformed_x_death_is_no_death() {
        assert_eq!(latest_death(None), None);
        let mut table = FieldTable::default();
        table.insert("x-death".into(), AMQPValue::LongLongInt(1));
        assert_eq!(latest_death(Some(&table)), None);
    }
}
