//! The session with the controller: one bidirectional gRPC stream, re-established with
//! jittered backoff for as long as the agent runs.
//!
//! A session opens with `Hello`, waits for `Welcome` (heartbeat interval, cancelled runs),
//! then a writer sends heartbeats and everything the [`Outbox`](crate::outbox::Outbox)
//! holds while a reader applies acks and cancellations. When the stream fails or closes the
//! outbox puts the unacked batches back in line and the next session resends them. An
//! authentication failure is not retried: the identity is revoked and only re-enrollment
//! helps.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::Streaming;

use opsconductor_proto::v1::{self, controller_message};

use crate::agent::Shared;
use crate::error::AgentError;
use crate::metrics;
use crate::transport::is_auth_failure;

/// Messages queued for the stream before the writer waits.
const OUTBOUND_QUEUE: usize = 64;
/// Heartbeat interval when the controller's `Welcome` gives none.
const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(10);
/// Shortest heartbeat interval honoured, whatever the controller asks.
const MIN_HEARTBEAT: Duration = Duration::from_millis(100);
/// After a clean close, how long acks still in flight are awaited.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

enum Ended {
    /// Shutdown: the stream was closed on purpose.
    Stopped,
    /// The stream failed or never opened: try again.
    Lost(String),
    /// The controller refused the agent's identity.
    Rejected(tonic::Status),
}

/// Keeps a session open until `stop`, reconnecting forever; fails only when the controller
/// rejects the identity.
pub(crate) async fn run(shared: &Shared, stop: &CancellationToken) -> Result<(), AgentError> {
    let mut attempt: u32 = 0;
    loop {
        match one_session(shared, stop, &mut attempt).await {
            Ended::Stopped => return Ok(()),
            Ended::Rejected(status) => {
                return Err(AgentError::Revoked(format!(
                    "{:?}: {}",
                    status.code(),
                    status.message()
                )));
            }
            Ended::Lost(reason) => {
                metrics::session_reconnect();
                let delay = opsconductor_queue::backoff(attempt);
                tracing::warn!(
                    attempt,
                    retry_in_ms = delay.as_millis(),
                    reason = %reason,
                    results.buffered = shared.outbox.buffered(),
                    "no session with the controller; reconnecting"
                );
                attempt = attempt.saturating_add(1);
                tokio::select! {
                    () = stop.cancelled() => return Ok(()),
                    () = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
}

async fn one_session(shared: &Shared, stop: &CancellationToken, attempt: &mut u32) -> Ended {
    let (tx, rx) = mpsc::channel(OUTBOUND_QUEUE);
    let hello = v1::AgentMessage {
        body: Some(v1::agent_message::Body::Hello(v1::Hello {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            capabilities: shared.capabilities(),
            max_concurrency: shared.max_concurrency(),
        })),
    };
    if tx.try_send(hello).is_err() {
        return Ended::Lost("could not queue hello".to_owned());
    }
    let timeout = shared.config.connect_timeout;
    let mut client = shared.client.clone();
    let opened = tokio::select! {
        () = stop.cancelled() => return Ended::Stopped,
        opened = tokio::time::timeout(timeout, client.session(ReceiverStream::new(rx))) => opened,
    };
    let mut inbound = match opened {
        Err(_) => return Ended::Lost(format!("no answer within {} ms", timeout.as_millis())),
        Ok(Err(status)) => return classify(status),
        Ok(Ok(response)) => response.into_inner(),
    };
    let first = tokio::select! {
        () = stop.cancelled() => return Ended::Stopped,
        first = tokio::time::timeout(timeout, inbound.message()) => first,
    };
    let welcome = match first {
        Err(_) => return Ended::Lost(format!("no welcome within {} ms", timeout.as_millis())),
        Ok(Err(status)) => return classify(status),
        Ok(Ok(None)) => {
            return Ended::Lost("the controller closed the session before its welcome".to_owned());
        }
        Ok(Ok(Some(v1::ControllerMessage {
            body: Some(controller_message::Body::Welcome(welcome)),
        }))) => welcome,
        Ok(Ok(Some(_))) => {
            return Ended::Lost("the controller's first message was not a welcome".to_owned());
        }
    };
    *attempt = 0;
    for run_id in &welcome.cancelled_run_ids {
        shared.runs.cancel(run_id);
    }
    let heartbeat = match welcome.heartbeat_interval_ms {
        0 => DEFAULT_HEARTBEAT,
        ms => Duration::from_millis(u64::from(ms)).max(MIN_HEARTBEAT),
    };
    shared.outbox.reset_session();
    tracing::info!(
        heartbeat_interval_ms = heartbeat.as_millis(),
        results.buffered = shared.outbox.buffered(),
        "session with the controller established"
    );
    let ended = tokio::select! {
        () = stop.cancelled() => Ended::Stopped,
        ended = read(shared, &mut inbound) => ended,
        () = write(shared, &tx, heartbeat) => Ended::Lost("the outbound stream closed".to_owned()),
    };
    if matches!(ended, Ended::Stopped) {
        // Half-close so the controller sees a clean end, and take the acks still coming.
        drop(tx);
        let _ = tokio::time::timeout(CLOSE_WAIT, async {
            while let Ok(Some(message)) = inbound.message().await {
                handle(shared, message);
            }
        })
        .await;
    }
    ended
}

fn classify(status: tonic::Status) -> Ended {
    if is_auth_failure(status.code()) {
        Ended::Rejected(status)
    } else {
        Ended::Lost(format!("{:?}: {}", status.code(), status.message()))
    }
}

async fn read(shared: &Shared, inbound: &mut Streaming<v1::ControllerMessage>) -> Ended {
    loop {
        match inbound.message().await {
            Ok(Some(message)) => handle(shared, message),
            Ok(None) => return Ended::Lost("the controller closed the session".to_owned()),
            Err(status) => return classify(status),
        }
    }
}

fn handle(shared: &Shared, message: v1::ControllerMessage) {
    match message.body {
        Some(controller_message::Body::Ack(ack)) => {
            let known = shared.outbox.ack(ack.seq);
            if !known {
                tracing::debug!(seq = ack.seq, "ack for a batch this session does not hold");
            }
        }
        Some(controller_message::Body::Cancel(cancel)) => {
            tracing::info!(run.id = %cancel.run_id, reason = %cancel.reason, "run cancelled by the controller");
            shared.runs.cancel(&cancel.run_id);
        }
        Some(controller_message::Body::Welcome(welcome)) => {
            for run_id in &welcome.cancelled_run_ids {
                shared.runs.cancel(run_id);
            }
        }
        None => {}
    }
}

async fn write(shared: &Shared, tx: &mpsc::Sender<v1::AgentMessage>, every: Duration) {
    let mut tick = tokio::time::interval_at(Instant::now() + every, every);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        let message = tokio::select! {
            _ = tick.tick() => heartbeat(shared),
            message = shared.outbox.next_outgoing() => message,
        };
        if tx.send(message).await.is_err() {
            return;
        }
    }
}

fn heartbeat(shared: &Shared) -> v1::AgentMessage {
    v1::AgentMessage {
        body: Some(v1::agent_message::Body::Heartbeat(v1::Heartbeat {
            chunks_in_flight: shared.stats.chunks_in_flight(),
            targets_in_flight: shared.stats.targets_in_flight(),
            max_concurrency: shared.max_concurrency(),
            results_buffered: u32::try_from(shared.outbox.buffered()).unwrap_or(u32::MAX),
            results_dropped_total: shared.outbox.dropped_total(),
            load1: load1(),
        })),
    }
}

/// The host's one-minute load average, 0 where `/proc/loadavg` is unavailable.
fn load1() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_load_average_is_read_from_proc() {
        assert!(load1() >= 0.0);
    }
}
