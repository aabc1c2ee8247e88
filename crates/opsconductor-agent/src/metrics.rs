//! The agent's metrics, declared once. Per-action metrics come from the chunk runner in
//! `opsconductor-actions`; these cover what only the agent sees: chunk outcomes, the
//! offline buffer and the session with the controller.

use std::time::Duration;

use metrics::{
    Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram,
};

/// Chunks settled, by outcome.
pub const CHUNKS_TOTAL: &str = "opsconductor_agent_chunks_total";
/// Results waiting for the controller's ack (the offline buffer's fill).
pub const RESULTS_BUFFERED: &str = "opsconductor_agent_results_buffered";
/// Results abandoned at shutdown (their chunks are requeued and run again).
pub const RESULTS_DROPPED_TOTAL: &str = "opsconductor_agent_results_dropped_total";
/// Sessions with the controller lost and re-established.
pub const SESSION_RECONNECTS_TOTAL: &str = "opsconductor_agent_session_reconnects_total";
/// Time from sending a result batch to the controller's ack.
pub const BATCH_ACK_LATENCY_SECONDS: &str = "opsconductor_agent_batch_ack_latency_seconds";

/// Every metric this crate exports (the chunk runner's are in
/// `opsconductor_actions::metrics::NAMES`).
pub const NAMES: &[&str] = &[
    CHUNKS_TOTAL,
    RESULTS_BUFFERED,
    RESULTS_DROPPED_TOTAL,
    SESSION_RECONNECTS_TOTAL,
    BATCH_ACK_LATENCY_SECONDS,
];

/// How a chunk left this agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkOutcome {
    /// Ran; every result acked by the controller; delivery acked.
    Finished,
    /// Its run was cancelled before it started: acked without running.
    Cancelled,
    /// Its run's deadline had passed: acked without running.
    Expired,
    /// Undecodable or invalid: rejected to the dead-letter queue.
    Poison,
    /// Handed back to the queue at shutdown.
    Released,
    /// Ran and its results were delivered, but the AMQP channel was gone so the delivery
    /// could not be acked; the broker redelivers it.
    Unacked,
}

impl ChunkOutcome {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Finished => "finished",
            Self::Cancelled => "cancelled",
            Self::Expired => "expired",
            Self::Poison => "poison",
            Self::Released => "released",
            Self::Unacked => "unacked",
        }
    }
}

/// Registers descriptions with the installed recorder.
pub fn describe() {
    describe_counter!(CHUNKS_TOTAL, "Chunks settled by this agent, by outcome");
    describe_gauge!(
        RESULTS_BUFFERED,
        "Results held while waiting for the controller's ack"
    );
    describe_counter!(
        RESULTS_DROPPED_TOTAL,
        "Results abandoned at shutdown; their chunks were requeued"
    );
    describe_counter!(
        SESSION_RECONNECTS_TOTAL,
        "Sessions with the controller lost and retried"
    );
    describe_histogram!(
        BATCH_ACK_LATENCY_SECONDS,
        Unit::Seconds,
        "Time from sending a result batch to the controller's ack"
    );
}

pub(crate) fn chunk(outcome: ChunkOutcome) {
    counter!(CHUNKS_TOTAL, "outcome" => outcome.as_str()).increment(1);
}

#[expect(
    clippy::cast_precision_loss,
    reason = "a gauge is approximate by nature"
)]
pub(crate) fn results_buffered(count: usize) {
    gauge!(RESULTS_BUFFERED).set(count as f64);
}

pub(crate) fn results_dropped(count: usize) {
    counter!(RESULTS_DROPPED_TOTAL).increment(u64::try_from(count).unwrap_or(u64::MAX));
}

pub(crate) fn session_reconnect() {
    counter!(SESSION_RECONNECTS_TOTAL).increment(1);
}

pub(crate) fn batch_acked(latency: Duration) {
    histogram!(BATCH_ACK_LATENCY_SECONDS).record(latency.as_secs_f64());
}

/// Serves `handle` at `GET /metrics` on `listener` until `shutdown`; anything else is 404.
pub async fn serve(
    listener: tokio::net::TcpListener,
    handle: metrics_exporter_prometheus::PrometheusHandle,
    shutdown: tokio_util::sync::CancellationToken,
) -> std::io::Result<()> {
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let body = handle.render();
            async move {
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    body,
                )
            }
        }),
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}
