//! Taking deliveries off the segment's queue, at most `max_chunks_in_flight` at a time,
//! with a reconnect loop around the consumer.
//!
//! A consumer whose connection broke is kept (not closed) until the end: chunks still
//! running hold deliveries of it. Their acks will fail and RabbitMQ redelivers them, but
//! they finish sending their results, which ingest deduplicates.

use std::sync::Arc;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use opsconductor_queue::{Consumer, QueueError};

use crate::agent::Shared;
use crate::chunk;

/// What the consumer loop leaves behind when it stops: the running chunks, every consumer
/// they may still need to settle their deliveries on, and the error that stopped it, if any.
pub(crate) struct Consuming {
    pub tasks: JoinSet<()>,
    pub consumers: Vec<Consumer>,
    pub fatal: Option<QueueError>,
}

/// Consumes until `stop`. Broker outages and refusals are waited out; only a configuration
/// the broker can never accept (checked before anything is sent) stops it early.
pub(crate) async fn run(shared: &Arc<Shared>, stop: &CancellationToken) -> Consuming {
    let mut state = Consuming {
        tasks: JoinSet::new(),
        consumers: Vec::new(),
        fatal: None,
    };
    let max = usize::from(shared.config.max_chunks_in_flight);
    let segment = shared.identity.segment.clone();
    let mut attempt: u32 = 0;
    loop {
        if state.tasks.is_empty() {
            // No chunk needs the old connections any more.
            for retired in state.consumers.drain(..) {
                retired.close().await;
            }
        }
        let connected = tokio::select! {
            () = stop.cancelled() => return state,
            connected = shared.broker.consumer(&segment) => connected,
        };
        let mut consumer = match connected {
            Ok(consumer) => consumer,
            Err(error @ (QueueError::Config(_) | QueueError::InvalidSegment { .. })) => {
                state.fatal = Some(error);
                return state;
            }
            Err(error) => {
                let delay = opsconductor_queue::backoff(attempt);
                tracing::warn!(attempt, retry_in_ms = delay.as_millis(), error = %error, "queue unreachable; retrying");
                attempt = attempt.saturating_add(1);
                tokio::select! {
                    () = stop.cancelled() => return state,
                    () = tokio::time::sleep(delay) => continue,
                }
            }
        };
        if attempt > 0 {
            tracing::info!(segment = %segment, "consuming again after a queue outage");
        } else {
            tracing::info!(segment = %segment, "consuming chunks");
        }
        attempt = 0;
        loop {
            tokio::select! {
                biased;
                () = stop.cancelled() => {
                    state.consumers.push(consumer);
                    return state;
                }
                Some(joined) = state.tasks.join_next(), if !state.tasks.is_empty() => {
                    if let Err(error) = joined {
                        // Its delivery stays unacked until the connection closes, then
                        // RabbitMQ hands it out again (counted towards the delivery limit).
                        tracing::error!(error = %error, "a chunk task failed");
                    }
                }
                next = consumer.next(), if state.tasks.len() < max => match next {
                    Ok(delivery) => {
                        state.tasks.spawn(chunk::handle_guarded(Arc::clone(shared), delivery));
                    }
                    // Not a chunk at all; the queue crate already dead-lettered it.
                    Err(QueueError::Decode { .. }) => {}
                    Err(error) => {
                        tracing::warn!(error = %error, "lost the rabbitmq consumer; reconnecting");
                        state.consumers.push(consumer);
                        break;
                    }
                },
            }
        }
    }
}
