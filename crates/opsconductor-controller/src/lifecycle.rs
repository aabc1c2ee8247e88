//! What finishes runs when agents cannot: dead-lettered chunks become error results, runs
//! past their deadline get their missing targets as timeouts, and agents whose heartbeats
//! stopped are marked offline.

use std::time::Duration;

use chrono::Utc;
use opsconductor_core::ids::ChunkId;
use opsconductor_queue::{Broker, backoff};
use opsconductor_store::StoreError;
use opsconductor_store::prelude::*;
use tokio_util::sync::CancellationToken;

use crate::events::EventBus;

/// Drains the dead-letter queue until `shutdown`: each dead chunk's missing results are
/// recorded as errors with the broker's reason, then the message is acked.
pub async fn run_dead_letters(
    store: SharedStore,
    broker: Broker,
    events: EventBus,
    shutdown: CancellationToken,
) {
    let mut attempt = 0_u32;
    while !shutdown.is_cancelled() {
        let mut handled = 0_u64;
        let outcome = tokio::select! {
            () = shutdown.cancelled() => break,
            outcome = drain_dead_letters(&*store, &broker, &events, &mut handled) => outcome,
        };
        // A consumer that worked for a while starts its backoff over.
        attempt = if handled > 0 {
            1
        } else {
            attempt.saturating_add(1)
        };
        tracing::warn!(error = %outcome, attempt, "dead-letter consumer stopped; reconnecting");
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(backoff(attempt)) => {}
        }
    }
}

/// Consumes until an error; returns it. `handled` counts the letters processed.
async fn drain_dead_letters(
    store: &dyn Store,
    broker: &Broker,
    events: &EventBus,
    handled: &mut u64,
) -> String {
    let mut dead = match broker.dead_letters().await {
        Ok(d) => d,
        Err(e) => return e.to_string(),
    };
    loop {
        let letter = match dead.next().await {
            Ok(l) => l,
            // A message without an id was acked by the consumer; the stream goes on.
            Err(opsconductor_queue::QueueError::Decode { message }) => {
                tracing::warn!(%message, "dropped a malformed dead letter");
                continue;
            }
            Err(e) => return e.to_string(),
        };
        let Ok(chunk_id) = letter.chunk_id.parse::<ChunkId>() else {
            // Not ours: acking is the only way to keep the queue flowing.
            tracing::warn!(message.id = %letter.chunk_id, "dropping a dead letter that is not a chunk");
            if let Err(e) = letter.ack().await {
                return e.to_string();
            }
            continue;
        };
        match store.dead_letter_chunk(chunk_id, &letter.reason).await {
            Ok(_) => {
                // Watchers see the run's error counts (and maybe its end) move.
                if let Ok(chunk) = store.get_chunk(chunk_id).await {
                    events.run_changed(chunk.run_id);
                }
            }
            Err(StoreError::NotFound { .. }) => {}
            // Keep the message (unacked → redelivered after reconnect) while the store is down.
            Err(e) => return e.to_string(),
        }
        crate::metrics::chunk_dead_lettered(&letter.segment);
        tracing::warn!(chunk.id = %chunk_id, segment = %letter.segment, reason = %letter.reason, "chunk dead-lettered; its targets are recorded as errors");
        if let Err(e) = letter.ack().await {
            return e.to_string();
        }
        *handled += 1;
    }
}

/// Every `interval` until `shutdown`: expire runs past their deadline and mark silent
/// agents offline; every [`crate::settings::RETENTION_PASS`], drop result partitions older
/// than the retention setting.
pub async fn run_sweeper(
    store: SharedStore,
    interval: Duration,
    agent_offline_after: Duration,
    events: EventBus,
    shutdown: CancellationToken,
) {
    let mut ticker = tokio::time::interval(interval);
    let mut retention = tokio::time::interval(crate::settings::RETENTION_PASS);
    retention.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = ticker.tick() => {}
            _ = retention.tick() => {
                match crate::settings::apply_retention(&*store).await {
                    Ok(dropped) if !dropped.is_empty() => {
                        tracing::info!(partitions = ?dropped, "dropped results past retention");
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "result retention pass failed"),
                }
                continue;
            }
        }
        match store.expire_runs(Utc::now()).await {
            Ok(expired) => {
                for run in expired {
                    tracing::warn!(run.id = %run, "run deadline passed; missing targets recorded as timeouts");
                    events.run_changed(run);
                }
            }
            Err(e) => tracing::warn!(error = %e, "expiring runs failed"),
        }
        if let Err(e) = store.mark_agents_offline(agent_offline_after).await {
            tracing::warn!(error = %e, "marking silent agents offline failed");
        }
    }
}
