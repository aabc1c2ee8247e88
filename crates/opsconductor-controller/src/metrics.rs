//! The controller's metrics, declared in one place (`opsconductor_controller_*`). The
//! Prometheus exporter and `/metrics` come with the operations issue; until then the
//! recorder is whatever the embedding process installs (none by default).

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
    metrics::describe_counter!(
        "opsconductor_controller_result_batches_rejected_total",
        "Result batches acked without storing (outside their chunk, or never storable)"
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
    metrics::describe_counter!(
        "opsconductor_controller_scheduler_fires_total",
        "Schedule fires by outcome (fired, catch_up, skipped_overlap, duplicate, missed, \
         skipped_disabled, failed)"
    );
    metrics::describe_histogram!(
        "opsconductor_controller_scheduler_fire_lag_seconds",
        metrics::Unit::Seconds,
        "From a fire's scheduled time to its run being written (on-time fires)"
    );
    metrics::describe_gauge!(
        "opsconductor_controller_scheduler_leader",
        "1 while this replica leads the scheduler, else 0"
    );
    metrics::describe_gauge!(
        "opsconductor_controller_scheduler_jobs",
        "Enabled scheduled jobs in the leader's timetable"
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

pub(crate) fn batch_rejected() {
    metrics::counter!("opsconductor_controller_result_batches_rejected_total").increment(1);
}

pub(crate) fn sessions_changed(open: usize) {
    metrics::gauge!("opsconductor_controller_agent_sessions").set(open as f64);
}

/// What became of a schedule fire (the `outcome` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FireOutcome {
    /// A run was created for an on-time fire.
    Fired,
    /// A run was created for a missed fire, as its one catch-up.
    CatchUp,
    /// Not run: the job's previous run was still going (overlap `skip`, or a `queue`d fire
    /// replaced by a newer one).
    SkippedOverlap,
    /// Another scheduler had fired it already.
    Duplicate,
    /// Missed while no controller was up and not caught up.
    Missed,
    /// The job was disabled (or made manual) after the scheduler read it.
    SkippedDisabled,
    /// Creating the run failed.
    Failed,
}

impl FireOutcome {
    fn label(self) -> &'static str {
        match self {
            Self::Fired => "fired",
            Self::CatchUp => "catch_up",
            Self::SkippedOverlap => "skipped_overlap",
            Self::Duplicate => "duplicate",
            Self::Missed => "missed",
            Self::SkippedDisabled => "skipped_disabled",
            Self::Failed => "failed",
        }
    }
}

pub(crate) fn scheduler_fires(outcome: FireOutcome, n: u64) {
    metrics::counter!("opsconductor_controller_scheduler_fires_total", "outcome" => outcome.label())
        .increment(n);
}

pub(crate) fn scheduler_fire_lag(lag: Duration) {
    metrics::histogram!("opsconductor_controller_scheduler_fire_lag_seconds")
        .record(lag.as_secs_f64());
}

pub(crate) fn scheduler_leader(leading: bool) {
    metrics::gauge!("opsconductor_controller_scheduler_leader").set(if leading {
        1.0
    } else {
        0.0
    });
}

pub(crate) fn scheduler_jobs(n: usize) {
    metrics::gauge!("opsconductor_controller_scheduler_jobs").set(n as f64);
}
