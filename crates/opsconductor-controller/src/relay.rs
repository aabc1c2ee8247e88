//! The outbox relay: publishes pending chunks to the queue and marks them published only
//! after the broker confirmed them.
//!
//! A crash between the confirm and the mark leaves the rows in the outbox, so the chunks
//! are published again after a restart: a duplicate delivery, which the idempotent result
//! key absorbs. Nothing is ever marked published that the broker did not confirm.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use opsconductor_queue::{Broker, Publisher, backoff};
use opsconductor_store::prelude::*;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// How long a claimed outbox row stays with this relay before another controller's relay
/// may take it (if this one died between claim and mark).
const CLAIM_LEASE: Duration = Duration::from_secs(30);

/// Relay settings.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Outbox rows per round.
    pub batch: u32,
    /// Wait between rounds when idle and not woken.
    pub poll: Duration,
}

/// Runs the relay until `shutdown`.
pub async fn run(
    store: SharedStore,
    broker: Broker,
    config: RelayConfig,
    wake: Arc<Notify>,
    shutdown: CancellationToken,
) {
    let mut publisher: Option<Publisher> = None;
    let mut failures = 0_u32;
    while !shutdown.is_cancelled() {
        let round = relay_round(&*store, &broker, &mut publisher, config.batch).await;
        let wait = match round {
            Ok(0) => {
                failures = 0;
                config.poll
            }
            Ok(_) => {
                failures = 0;
                continue;
            }
            Err(e) => {
                failures = failures.saturating_add(1);
                crate::metrics::relay_failed();
                tracing::warn!(error = %e, attempt = failures, "outbox relay round failed; retrying");
                backoff(failures)
            }
        };
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = wake.notified() => {}
            () = tokio::time::sleep(wait) => {}
        }
    }
    if let Some(p) = publisher {
        p.close().await;
    }
}

/// One round: claim up to `batch` rows, publish them with confirms, mark them published.
/// Returns how many were published.
async fn relay_round(
    store: &dyn Store,
    broker: &Broker,
    publisher: &mut Option<Publisher>,
    batch: u32,
) -> Result<usize, String> {
    let items = store
        .claim_outbox(batch, CLAIM_LEASE)
        .await
        .map_err(|e| e.to_string())?;
    if items.is_empty() {
        return Ok(0);
    }
    match publish_claimed(store, broker, publisher, &items).await {
        Ok(published) => Ok(published),
        Err(e) => {
            // Hand the unpublished rows back now rather than leaving them leased; a
            // failed publisher is rebuilt on the next round.
            let claimed: Vec<i64> = items.iter().map(|i| i.outbox_id).collect();
            if let Err(release) = store.release_claims(&claimed).await {
                tracing::warn!(error = %release, "could not release outbox claims");
            }
            if let Some(p) = publisher.take() {
                p.close().await;
            }
            Err(e)
        }
    }
}

/// Publishes claimed rows and marks the confirmed ones published.
async fn publish_claimed(
    store: &dyn Store,
    broker: &Broker,
    publisher: &mut Option<Publisher>,
    items: &[opsconductor_store::OutboxItem],
) -> Result<usize, String> {
    if publisher.is_none() {
        *publisher = Some(broker.publisher().await.map_err(|e| e.to_string())?);
    }
    let Some(p) = publisher.as_ref() else {
        return Ok(0);
    };
    let segments: BTreeSet<&str> = items.iter().map(|i| i.segment.as_str()).collect();
    for segment in segments {
        p.ensure_segment(segment).await.map_err(|e| e.to_string())?;
    }
    let messages: Vec<(String, &str, &[u8])> = items
        .iter()
        .map(|i| {
            (
                i.chunk_id.to_string(),
                i.segment.as_str(),
                i.payload.as_slice(),
            )
        })
        .collect();
    let outcomes = p
        .publish_chunks_each(&messages)
        .await
        .map_err(|e| e.to_string())?;
    // Mark what the broker confirmed even when some chunks were refused, so one bad chunk
    // does not make the whole batch go out again.
    let mut confirmed = Vec::with_capacity(items.len());
    let mut first_refusal = None;
    for (item, outcome) in items.iter().zip(outcomes) {
        match outcome {
            Ok(()) => confirmed.push(item.outbox_id),
            Err(e) => {
                first_refusal.get_or_insert(e.to_string());
            }
        }
    }
    store
        .mark_published(&confirmed)
        .await
        .map_err(|e| e.to_string())?;
    crate::metrics::chunks_published(confirmed.len());
    match first_refusal {
        None => Ok(confirmed.len()),
        Some(e) => Err(e),
    }
}
