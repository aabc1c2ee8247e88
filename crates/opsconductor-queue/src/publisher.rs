//! Publishing chunks with publisher confirms.
//!
//! A chunk counts as published only when the broker has confirmed it, i.e. written it to
//! the quorum queue's log: the controller's outbox relay marks chunks published after
//! [`Publisher::publish_chunks`] returns `Ok`, and publishes them again otherwise (duplicates
//! are harmless, results are keyed idempotently). In process, "confirmed" means queued in
//! the [`InProcessBroker`].

use std::collections::HashSet;
use std::fmt;

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::ShortString;
use lapin::{BasicProperties, Channel, Confirmation, Connection, PublisherConfirm};
use tokio::sync::Mutex;

use crate::amqp::{self, short};
use crate::config::{Names, QueueConfig, check_segment};
use crate::in_process::InProcessBroker;
use crate::{CONTENT_TYPE, MESSAGE_TYPE, QueueError};

/// AMQP delivery mode 2: the broker keeps the message across restarts (quorum queues
/// always persist, but the flag also documents intent and matters to classic queues).
const PERSISTENT: u8 = 2;

/// Publishes chunk messages to segment queues: publisher confirms on, mandatory (an
/// unroutable chunk comes back as [`QueueError::Unroutable`]), persistent, `message_id` =
/// chunk id, `content_type` [`CONTENT_TYPE`], `type` [`MESSAGE_TYPE`].
///
/// Calls are serialised on one confirm channel. After the connection is lost the call that
/// noticed fails with [`QueueError::Unavailable`] and the next call reconnects.
///
/// [`Publisher::in_process`] publishes to an [`InProcessBroker`] instead, with the same
/// outcomes: [`QueueError::Unroutable`] for a segment without a queue,
/// [`QueueError::Nacked`] when the segment's queue is full; never
/// [`QueueError::Unavailable`].
pub struct Publisher {
    backend: Backend,
}

enum Backend {
    Amqp(Box<AmqpPublisher>),
    InProcess(InProcessBroker),
}

struct AmqpPublisher {
    config: QueueConfig,
    names: Names,
    link: Mutex<Option<Link>>,
}

/// One live connection with its confirm channel and the segments declared on it.
struct Link {
    connection: Connection,
    channel: Channel,
    declared: HashSet<String>,
}

impl fmt::Debug for Publisher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut shown = f.debug_struct("Publisher");
        match &self.backend {
            Backend::Amqp(rabbit) => shown.field("config", &rabbit.config),
            Backend::InProcess(broker) => shown.field("broker", broker),
        };
        shown.finish_non_exhaustive()
    }
}

impl Publisher {
    /// Connects, enables confirms and declares the exchanges and the dead-letter queue.
    pub async fn connect(config: &QueueConfig) -> Result<Self, QueueError> {
        let names = config.names();
        let link = Link::open(config, &names).await?;
        Ok(Self {
            backend: Backend::Amqp(Box::new(AmqpPublisher {
                config: config.clone(),
                names,
                link: Mutex::new(Some(link)),
            })),
        })
    }

    /// Publishes to the in-process broker (standalone mode).
    #[must_use]
    pub fn in_process(broker: &InProcessBroker) -> Self {
        Self {
            backend: Backend::InProcess(broker.clone()),
        }
    }

    /// Declares the segment's queue and its binding, once per connection (idempotent on the
    /// broker too). Chunks published to a segment that was never ensured are unroutable.
    pub async fn ensure_segment(&self, segment: &str) -> Result<(), QueueError> {
        check_segment(segment)?;
        match &self.backend {
            Backend::Amqp(rabbit) => rabbit.ensure_segment(segment).await,
            Backend::InProcess(broker) => broker.ensure_segment(segment),
        }
    }

    /// Publishes every `(chunk id, segment, payload)` and returns once the broker has
    /// confirmed all of them. All messages are sent before any confirm is awaited, so a
    /// batch costs about one round trip, not one per chunk.
    ///
    /// The first failure, in item order, is returned: [`QueueError::Unroutable`] or
    /// [`QueueError::Nacked`] naming the chunk, or [`QueueError::Unavailable`]. Chunks of a
    /// failed call may or may not have been stored; republish them.
    /// [`Publisher::publish_chunks_each`] tells which ones succeeded.
    pub async fn publish_chunks<C, S, P>(&self, items: &[(C, S, P)]) -> Result<(), QueueError>
    where
        C: fmt::Display,
        S: AsRef<str>,
        P: AsRef<[u8]>,
    {
        self.publish_chunks_each(items)
            .await?
            .into_iter()
            .collect::<Result<Vec<()>, QueueError>>()
            .map(drop)
    }

    /// Like [`Publisher::publish_chunks`], but reports each item's outcome in item order,
    /// so a relay can mark the confirmed chunks published even when some were refused.
    /// The outer error means the connection failed and nothing can be assumed confirmed.
    pub async fn publish_chunks_each<C, S, P>(
        &self,
        items: &[(C, S, P)],
    ) -> Result<Vec<Result<(), QueueError>>, QueueError>
    where
        C: fmt::Display,
        S: AsRef<str>,
        P: AsRef<[u8]>,
    {
        // Validate everything before sending anything: a bad id must not leave half a batch
        // published.
        let mut prepared = Vec::with_capacity(items.len());
        for (chunk_id, segment, payload) in items {
            let chunk_id = chunk_id.to_string();
            let segment = segment.as_ref();
            check_segment(segment)?;
            let message_id = chunk_message_id(&chunk_id)?;
            prepared.push((chunk_id, segment, message_id, payload.as_ref()));
        }
        if prepared.is_empty() {
            return Ok(Vec::new());
        }
        match &self.backend {
            Backend::Amqp(rabbit) => rabbit.publish(&prepared).await,
            Backend::InProcess(broker) => Ok(broker.publish(
                prepared
                    .iter()
                    .map(|(chunk_id, segment, _, payload)| (chunk_id.as_str(), *segment, *payload)),
            )),
        }
    }

    /// Closes the connection cleanly (pending confirms were awaited by the calls that made
    /// them).
    pub async fn close(self) {
        match self.backend {
            Backend::Amqp(rabbit) => rabbit.close().await,
            Backend::InProcess(_) => {}
        }
    }
}

/// A validated item: chunk id, segment, the chunk id as AMQP message id, payload.
type Prepared<'a> = (String, &'a str, ShortString, &'a [u8]);

impl AmqpPublisher {
    async fn ensure_segment(&self, segment: &str) -> Result<(), QueueError> {
        let mut guard = self.link.lock().await;
        let link = self.live_link(&mut guard).await?;
        if link.declared.contains(segment) {
            return Ok(());
        }
        let result = amqp::declare_segment(&link.channel, &self.config, &self.names, segment).await;
        match result {
            Ok(_) => {
                link.declared.insert(segment.to_owned());
                Ok(())
            }
            Err(error) => {
                // Any failure closes the channel (a refusal does too): start afresh next time.
                drop_link(&mut guard).await;
                Err(error)
            }
        }
    }

    async fn publish(
        &self,
        prepared: &[Prepared<'_>],
    ) -> Result<Vec<Result<(), QueueError>>, QueueError> {
        let mut guard = self.link.lock().await;
        let link = self.live_link(&mut guard).await?;
        let exchange = short(&self.names.work_exchange())?;
        let options = BasicPublishOptions {
            mandatory: true,
            immediate: false,
        };

        let mut confirms: Vec<PublisherConfirm> = Vec::with_capacity(prepared.len());
        for (_, segment, message_id, payload) in prepared {
            let properties = BasicProperties::default()
                .with_message_id(message_id.clone())
                .with_content_type(CONTENT_TYPE.into())
                .with_type(MESSAGE_TYPE.into())
                .with_delivery_mode(PERSISTENT);
            // Resolves once the frames are handed to the I/O loop, not on the broker's reply.
            let sent = link
                .channel
                .basic_publish(
                    exchange.clone(),
                    short(segment)?,
                    options,
                    payload,
                    properties,
                )
                .await;
            match sent {
                Ok(confirm) => confirms.push(confirm),
                Err(error) => {
                    drop_link(&mut guard).await;
                    return Err(amqp::map_error("basic.publish", &error));
                }
            }
        }

        let mut outcomes = Vec::with_capacity(prepared.len());
        for ((chunk_id, segment, _, _), confirm) in prepared.iter().zip(confirms) {
            // No timeout here: a broker that blocks publishers (memory or disk alarm) holds
            // confirms back on purpose, and heartbeats already catch a dead connection.
            // Callers that need a deadline wrap the whole call.
            match confirm.await {
                Ok(Confirmation::Ack(None)) => outcomes.push(Ok(())),
                Ok(Confirmation::Ack(Some(_returned))) => {
                    outcomes.push(Err(QueueError::Unroutable {
                        chunk_id: chunk_id.clone(),
                        segment: (*segment).to_owned(),
                    }))
                }
                // A nack that also carries a return is still, first of all, unroutable.
                Ok(Confirmation::Nack(Some(_returned))) => {
                    outcomes.push(Err(QueueError::Unroutable {
                        chunk_id: chunk_id.clone(),
                        segment: (*segment).to_owned(),
                    }));
                }
                Ok(Confirmation::Nack(None)) => outcomes.push(Err(QueueError::Nacked {
                    chunk_id: chunk_id.clone(),
                })),
                Ok(Confirmation::NotRequested) => {
                    // Cannot happen on a channel in confirm mode; refuse to claim success.
                    drop_link(&mut guard).await;
                    return Err(QueueError::Unavailable(
                        "the publisher channel is not in confirm mode".to_owned(),
                    ));
                }
                Err(error) => {
                    drop_link(&mut guard).await;
                    return Err(amqp::map_error("publisher confirm", &error));
                }
            }
        }
        Ok(outcomes)
    }

    async fn close(self) {
        if let Some(link) = self.link.lock().await.take() {
            amqp::close(&link.connection).await;
        }
    }

    /// The current link, reconnecting first if the last one was lost.
    async fn live_link<'a>(&self, guard: &'a mut Option<Link>) -> Result<&'a mut Link, QueueError> {
        let alive = guard.as_ref().is_some_and(|link| {
            link.connection.status().connected() && link.channel.status().connected()
        });
        if !alive {
            if let Some(old) = guard.take() {
                tracing::info!("amqp publisher connection lost; reconnecting");
                amqp::close(&old.connection).await;
            }
            *guard = Some(Link::open(&self.config, &self.names).await?);
        }
        guard
            .as_mut()
            .ok_or_else(|| QueueError::Unavailable("no publisher connection".to_owned()))
    }
}

impl Link {
    async fn open(config: &QueueConfig, names: &Names) -> Result<Self, QueueError> {
        let connection = amqp::connect(config, "publisher").await?;
        let setup = async {
            let channel = amqp::channel(&connection, config).await?;
            amqp::bounded(
                config,
                "confirm.select",
                channel.confirm_select(ConfirmSelectOptions { nowait: false }),
            )
            .await?;
            amqp::declare_base(&channel, config, names).await?;
            Ok::<_, QueueError>(channel)
        };
        match setup.await {
            Ok(channel) => Ok(Self {
                connection,
                channel,
                declared: HashSet::new(),
            }),
            Err(error) => {
                amqp::close(&connection).await;
                Err(error)
            }
        }
    }
}

async fn drop_link(guard: &mut Option<Link>) {
    if let Some(link) = guard.take() {
        amqp::close(&link.connection).await;
    }
}

/// The chunk id as an AMQP message id: non-empty and at most 255 bytes.
fn chunk_message_id(chunk_id: &str) -> Result<ShortString, QueueError> {
    if chunk_id.is_empty() {
        return Err(QueueError::InvalidChunkId {
            chunk_id: String::new(),
            message: "chunk id is empty".to_owned(),
        });
    }
    ShortString::try_new(chunk_id).map_err(|e| QueueError::InvalidChunkId {
        chunk_id: chunk_id.chars().take(64).collect(),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_ids_must_fit_an_amqp_message_id() {
        assert!(chunk_message_id("0190c0de-0000-7000-8000-000000000001").is_ok());
        assert!(matches!(
            chunk_message_id(""),
            Err(QueueError::InvalidChunkId { .. })
        ));
        assert!(matches!(
            chunk_message_id(&"a".repeat(300)),
            Err(QueueError::InvalidChunkId { .. })
        ));
    }
}
