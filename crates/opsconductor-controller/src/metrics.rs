//! The controller's metrics, declared in one place (`opsconductor_controller_*`).

use std::time::Duration;

/// Registers descriptions so `/metrics` documents every series.
pub fn describe() {
    metrics::describe_counter!(
        "opsconductor_controller_runs_started_total",
        "Runs dispatched"
    );
    metrics::describe_counter!(
        "opsconductor_controller_chunks_created_total",
        "Chunks written to the outbox"
    );
    metrics::describe_counter!(
        "opsconductor_controller_chunks_published_total",
        "Chunks confirmed by RabbitMQ and marked published"
    );
    metrics::describe_counter!(
        "opsconductor_controller_relay_failures_total",
        "Outbox relay rounds that failed and were retried"
    );
    metrics::describe_counter!(
        "opsconductor_controller_chunks_dead_lettered_total",
        "Chunks dead-lettered, by segment"
    );
    metrics::describe_counter!(
        "opsconductor_controller_results_ingested_total",
        "Results stored, by outcome (inserted, duplicate)"
    );
    metrics::describe_histogram!(
        "opsconductor_controller_ingest_batch_seconds",
        metrics::Unit::Seconds,
        "Time to commit one result batch"
    );
    metrics::describe_gauge!(
        "opsconductor_controller_agent_sessions",
        "Agents with an open session"
    );
}

pub(crate) fn runs_started(chunks: usize) {
    metrics::counter!("opsconductor_controller_runs_started_total").increment(1);
    metrics::counter!("opsconductor_controller_chunks_created_total").increment(chunks as u64);
}

pub(crate) fn chunks_published(n: usize) {
    metrics::counter!("opsconductor_controller_chunks_published_total").increment(n as u64);
}

pub(crate) fn relay_failed() {
    metrics::counter!("opsconductor_controller_relay_failures_total").increment(1);
}

pub(crate) fn chunk_dead_lettered(segment: &str) {
    metrics::counter!("opsconductor_controller_chunks_dead_lettered_total", "segment" => segment.to_owned())
        .increment(1);
}

pub(crate) fn ingested(inserted: u64, duplicates: u64, took: Duration) {
    metrics::counter!("opsconductor_controller_results_ingested_total", "outcome" => "inserted")
        .increment(inserted);
    metrics::counter!("opsconductor_controller_results_ingested_total", "outcome" => "duplicate")
        .increment(duplicates);
    metrics::histogram!("opsconductor_controller_ingest_batch_seconds").record(took.as_secs_f64());
}

pub(crate) fn sessions_changed(open: usize) {
    metrics::gauge!("opsconductor_controller_agent_sessions").set(open as f64);
}
