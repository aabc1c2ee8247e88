//! One delivery, from decoding to settling it.
//!
//! The order is what makes storage exactly-once: results go out in batches through the
//! outbox, and the delivery is acked only after the controller acked every batch of the
//! chunk. If the AMQP channel died meanwhile the ack fails and RabbitMQ redelivers the
//! chunk; its results were delivered anyway and the rerun's duplicates collapse in ingest.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::StreamExt as _;
use tokio::sync::{OwnedSemaphorePermit, watch};
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;

use opsconductor_actions::credential::Credential;
use opsconductor_actions::{Chunk, RunnerConfig, run_chunk};
use opsconductor_core::model::ResultRecord;
use opsconductor_proto::convert::result_to_proto;
use opsconductor_proto::v1::{self, chunk_event::Kind};
use opsconductor_queue::Delivery;

use crate::agent::{Shared, Stats};
use crate::metrics::{self, ChunkOutcome};
use crate::outbox::ExecId;
use crate::transport::is_transient;
use crate::work::{self, Work};
use futures::FutureExt as _;

/// Transient `FetchCredential` failures retried (about five minutes with the backoff cap)
/// before the credential's actions are recorded as errors.
const MAX_FETCH_ATTEMPTS: u32 = 30;

/// Runs [`handle`] and, should it panic, rejects the delivery so the chunk is dead-lettered
/// (its targets recorded as errors) instead of sitting unacked on a live connection, where
/// the broker would never hand it to anyone else.
pub(crate) async fn handle_guarded(shared: Arc<Shared>, delivery: Delivery) {
    let delivery = Arc::new(delivery);
    let outcome = std::panic::AssertUnwindSafe(handle(shared, Arc::clone(&delivery)))
        .catch_unwind()
        .await;
    if outcome.is_err() {
        tracing::error!(chunk.id = %delivery.chunk_id, "chunk handling panicked; rejecting the chunk to the dead-letter queue");
        // It may have been settled before the panic; then there is nothing left to do.
        let _ = delivery.reject().await;
        metrics::chunk(ChunkOutcome::Poison);
    }
}

/// Runs one delivery to the end and settles it exactly once.
#[tracing::instrument(
    name = "chunk",
    skip_all,
    fields(chunk.id = %delivery.chunk_id, run.id = tracing::field::Empty, delivery.count = delivery.delivery_count)
)]
async fn handle(shared: Arc<Shared>, delivery: Arc<Delivery>) {
    let (shared, delivery) = (&*shared, &*delivery);
    let work = match work::decode(&delivery.chunk_id, &delivery.payload) {
        Ok(work) => work,
        Err(reason) => {
            tracing::warn!(reason = %reason, "rejecting a poison chunk to the dead-letter queue");
            if let Err(error) = delivery.reject().await {
                tracing::warn!(error = %error, "could not reject the poison chunk; rabbitmq will redeliver it");
            }
            metrics::chunk(ChunkOutcome::Poison);
            return;
        }
    };
    let run_id = work.run_id.to_string();
    tracing::Span::current().record("run.id", run_id.as_str());
    if work.expired(now_unix_ms()) {
        tracing::info!("the run's deadline has passed; acking the chunk without running it");
        settle_unrun(shared, delivery, &work, &run_id, ChunkOutcome::Expired).await;
        return;
    }
    let Some(run) = shared.runs.enter(&run_id) else {
        tracing::info!("the run is cancelled; acking the chunk without running it");
        settle_unrun(shared, delivery, &work, &run_id, ChunkOutcome::Cancelled).await;
        return;
    };
    let _in_flight = shared.stats.chunk_started();
    let (exec, pending) = shared.outbox.open_chunk();
    shared.outbox.push_event(event(
        &work,
        &run_id,
        Kind::Started,
        delivery.delivery_count,
        0,
    ));
    tracing::debug!(
        targets = work.targets.len(),
        actions = work.actions.len(),
        "chunk started"
    );
    let cancel = run.token().child_token();
    let executed = tokio::select! {
        biased;
        () = shared.release.cancelled() => None,
        count = execute(shared, &work, &run_id, exec, pending, &cancel) => Some(count),
    };
    let Some(result_count) = executed else {
        cancel.cancel();
        let dropped = shared.outbox.abandon_chunk(exec);
        tracing::info!(
            results.dropped = dropped,
            "handing the chunk back to the queue at shutdown"
        );
        if let Err(error) = delivery.requeue().await {
            // The channel is gone, which returns the delivery to the queue all the same.
            tracing::debug!(error = %error, "could not requeue the chunk");
        }
        shared.outbox.push_event(event(
            &work,
            &run_id,
            Kind::Released,
            delivery.delivery_count,
            0,
        ));
        metrics::chunk(ChunkOutcome::Released);
        return;
    };
    shared.outbox.close_chunk(exec);
    let outcome = match delivery.ack().await {
        Ok(()) if run.token().is_cancelled() => ChunkOutcome::Cancelled,
        Ok(()) => ChunkOutcome::Finished,
        Err(error) => {
            tracing::info!(
                error = %error,
                "results delivered but the delivery can no longer be acked; rabbitmq will redeliver the chunk"
            );
            ChunkOutcome::Unacked
        }
    };
    shared.outbox.push_event(event(
        &work,
        &run_id,
        Kind::Finished,
        delivery.delivery_count,
        result_count,
    ));
    metrics::chunk(outcome);
    tracing::info!(
        results = result_count,
        outcome = outcome.as_str(),
        "chunk done"
    );
}

/// Acks a chunk that is not to run (deadline passed, run cancelled): the controller
/// accounts for its targets itself.
async fn settle_unrun(
    shared: &Shared,
    delivery: &Delivery,
    work: &Work,
    run_id: &str,
    outcome: ChunkOutcome,
) {
    if let Err(error) = delivery.ack().await {
        tracing::info!(error = %error, "could not ack the chunk; rabbitmq will redeliver it");
    }
    shared.outbox.push_event(event(
        work,
        run_id,
        Kind::Finished,
        delivery.delivery_count,
        0,
    ));
    metrics::chunk(outcome);
}

fn event(
    work: &Work,
    run_id: &str,
    kind: Kind,
    delivery_count: u32,
    results: u32,
) -> v1::ChunkEvent {
    v1::ChunkEvent {
        chunk_id: work.chunk_id.clone(),
        run_id: run_id.to_owned(),
        kind: kind.into(),
        delivery_count,
        result_count: results,
    }
}

/// Runs the chunk and waits until the controller acked every result; returns how many
/// results it produced.
async fn execute(
    shared: &Shared,
    work: &Work,
    run_id: &str,
    exec: ExecId,
    mut pending: watch::Receiver<usize>,
    cancel: &CancellationToken,
) -> u32 {
    let mut batcher = Batcher::new(shared, exec, &work.chunk_id, run_id);
    let credentials = fetch_credentials(shared, work, cancel).await;
    let mut actions = Vec::with_capacity(work.actions.len());
    let mut failed = Vec::new();
    for action in &work.actions {
        let mut prepared = action.prepared.clone();
        if let Some(id) = &action.credential_id {
            match credentials.get(id) {
                Some(Ok(credential)) => prepared.credential = Some(Arc::clone(credential)),
                Some(Err(reason)) => {
                    failed.push((prepared.index, reason.clone()));
                    continue;
                }
                None => {
                    failed.push((prepared.index, format!("credential {id} was not fetched")));
                    continue;
                }
            }
        }
        actions.push(prepared);
    }
    if !cancel.is_cancelled() {
        for target in &work.targets {
            for (index, reason) in &failed {
                let slot = batcher.slot().await;
                batcher.add(error_result(&target.to_string(), *index, reason), slot);
            }
        }
    }
    if !actions.is_empty() && !work.targets.is_empty() && !cancel.is_cancelled() {
        let per_target = actions.len();
        let concurrency = work.concurrency.min(shared.config.per_chunk_concurrency());
        let mut gauge = TargetGauge::new(&shared.stats, work.targets.len(), concurrency);
        let chunk = Chunk {
            run_id: work.run_id,
            targets: work.targets.clone(),
            actions: actions.into(),
        };
        let config = RunnerConfig {
            concurrency,
            target_timeout: work.target_timeout,
            agent_id: shared.agent_id,
            require_first_ok: work.require_first_ok,
        };
        let mut results = run_chunk(Arc::clone(&shared.registry), chunk, config, cancel.clone());
        let mut from_runner = 0;
        loop {
            // Room first, then the next result: a full buffer pauses the runner.
            let slot = batcher.slot().await;
            let Some(record) = batcher.next_result(&mut results).await else {
                break;
            };
            batcher.add(result_to_proto(&record), slot);
            from_runner += 1;
            gauge.targets_done(from_runner / per_target);
        }
    }
    batcher.flush();
    // Err only when the outbox stopped tracking the chunk, i.e. it was abandoned.
    let _ = pending.wait_for(|unacked| *unacked == 0).await;
    batcher.count
}

/// An error result for an action that could not run (its credential is unavailable).
fn error_result(target: &str, action_index: u32, reason: &str) -> v1::Result {
    let started_at_us = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
    v1::Result {
        target: target.to_owned(),
        action_index,
        status: v1::ResultStatus::Error.into(),
        started_at_us,
        duration_ms: 0.0,
        reason: Some(reason.to_owned()),
        ..v1::Result::default()
    }
}

/// Fetches each distinct credential the chunk names, once. A failure is kept as the
/// operator-facing reason for the affected results; it names the credential id and never
/// holds secret material.
async fn fetch_credentials(
    shared: &Shared,
    work: &Work,
    cancel: &CancellationToken,
) -> HashMap<String, Result<Arc<Credential>, String>> {
    let mut credentials = HashMap::new();
    for id in work
        .actions
        .iter()
        .filter_map(|a| a.credential_id.as_deref())
    {
        if credentials.contains_key(id) {
            continue;
        }
        let fetched = fetch_credential(shared, &work.chunk_id, id, cancel).await;
        if let Err(reason) = &fetched {
            tracing::warn!(credential.id = %id, reason = %reason, "credential unavailable; its actions are recorded as errors");
        }
        credentials.insert(id.to_owned(), fetched.map(Arc::new));
    }
    credentials
}

async fn fetch_credential(
    shared: &Shared,
    chunk_id: &str,
    credential_id: &str,
    cancel: &CancellationToken,
) -> Result<Credential, String> {
    let mut attempt = 0;
    loop {
        let mut client = shared.client.clone();
        let request = v1::FetchCredentialRequest {
            chunk_id: chunk_id.to_owned(),
            credential_id: credential_id.to_owned(),
        };
        let call = tokio::time::timeout(
            shared.config.connect_timeout,
            client.fetch_credential(request),
        );
        let outcome = tokio::select! {
            () = cancel.cancelled() => {
                return Err(format!("credential {credential_id} was not fetched: the chunk was cancelled"));
            }
            outcome = call => outcome,
        };
        let status = match outcome {
            Ok(Ok(response)) => {
                let response = response.into_inner();
                return Credential::from_secret(&response.kind, &response.secret_json)
                    .map_err(|e| format!("credential {credential_id} is unusable: {e}"));
            }
            Ok(Err(status)) => status,
            Err(_) => tonic::Status::deadline_exceeded("no answer from the controller"),
        };
        if !is_transient(status.code()) || attempt + 1 >= MAX_FETCH_ATTEMPTS {
            return Err(format!(
                "credential {credential_id} could not be fetched: {:?}: {}",
                status.code(),
                status.message()
            ));
        }
        let delay = opsconductor_queue::backoff(attempt);
        tracing::debug!(credential.id = %credential_id, attempt, error = %status.message(), "credential fetch failed; retrying");
        attempt += 1;
        tokio::select! {
            () = cancel.cancelled() => {}
            () = tokio::time::sleep(delay) => {}
        }
    }
}

/// Collects a chunk's results into batches of at most `batch_max_results`, sent at the
/// latest `batch_max_delay` after their first result.
struct Batcher<'a> {
    shared: &'a Shared,
    exec: ExecId,
    chunk_id: &'a str,
    run_id: &'a str,
    results: Vec<v1::Result>,
    slots: Option<OwnedSemaphorePermit>,
    deadline: Instant,
    max: usize,
    delay: Duration,
    count: u32,
}

impl<'a> Batcher<'a> {
    fn new(shared: &'a Shared, exec: ExecId, chunk_id: &'a str, run_id: &'a str) -> Self {
        Self {
            shared,
            exec,
            chunk_id,
            run_id,
            results: Vec::new(),
            slots: None,
            deadline: Instant::now(),
            max: usize::try_from(shared.config.batch_max_results).unwrap_or(usize::MAX),
            delay: shared.config.batch_max_delay,
            count: 0,
        }
    }

    /// Room for one more result. A partial batch is sent when its delay is up even while
    /// waiting: its slots are what the wait may be for.
    async fn slot(&mut self) -> OwnedSemaphorePermit {
        loop {
            tokio::select! {
                slot = self.shared.outbox.slot() => return slot,
                () = tokio::time::sleep_until(self.deadline), if !self.results.is_empty() => self.flush(),
            }
        }
    }

    /// The runner's next result, sending the partial batch when its delay is up meanwhile.
    async fn next_result(
        &mut self,
        results: &mut ReceiverStream<ResultRecord>,
    ) -> Option<ResultRecord> {
        loop {
            tokio::select! {
                record = results.next() => return record,
                () = tokio::time::sleep_until(self.deadline), if !self.results.is_empty() => self.flush(),
            }
        }
    }

    fn add(&mut self, result: v1::Result, slot: OwnedSemaphorePermit) {
        if self.results.is_empty() {
            self.deadline = Instant::now() + self.delay;
        }
        self.results.push(result);
        self.count = self.count.saturating_add(1);
        match &mut self.slots {
            Some(slots) => slots.merge(slot),
            None => self.slots = Some(slot),
        }
        if self.results.len() >= self.max {
            self.flush();
        }
    }

    fn flush(&mut self) {
        let Some(slots) = self.slots.take() else {
            return;
        };
        let results = std::mem::take(&mut self.results);
        self.shared
            .outbox
            .push_batch(self.exec, self.chunk_id, self.run_id, results, slots);
    }
}

/// This chunk's share of the heartbeat's `targets_in_flight`: the targets it may be
/// running right now (its concurrency, or fewer near the end).
struct TargetGauge<'a> {
    stats: &'a Stats,
    total: usize,
    concurrency: usize,
    current: u32,
}

impl<'a> TargetGauge<'a> {
    fn new(stats: &'a Stats, total: usize, concurrency: usize) -> Self {
        let mut gauge = Self {
            stats,
            total,
            concurrency,
            current: 0,
        };
        gauge.targets_done(0);
        gauge
    }

    fn targets_done(&mut self, done: usize) {
        let now = self.concurrency.min(self.total.saturating_sub(done));
        let now = u32::try_from(now).unwrap_or(u32::MAX);
        self.stats.adjust_targets(self.current, now);
        self.current = now;
    }
}

impl Drop for TargetGauge<'_> {
    fn drop(&mut self) {
        self.stats.adjust_targets(self.current, 0);
    }
}

fn now_unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
