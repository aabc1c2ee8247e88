//! Metrics the chunk runner emits for every action, whatever its kind. Declared here once.

use std::time::Duration;

use metrics::{counter, describe_counter, describe_histogram, histogram};
use opsconductor_core::library::ActionKind;
use opsconductor_core::model::ResultStatus;

/// Actions run, by kind and outcome.
pub const ACTIONS_TOTAL: &str = "opsconductor_actions_runs_total";
/// Action wall time, by kind.
pub const ACTION_DURATION_SECONDS: &str = "opsconductor_actions_duration_seconds";

/// Every metric this crate exports.
pub const NAMES: &[&str] = &[ACTIONS_TOTAL, ACTION_DURATION_SECONDS];

/// Registers descriptions with the installed recorder.
pub fn describe() {
    describe_counter!(
        ACTIONS_TOTAL,
        "Actions run by the chunk runner, by kind and outcome"
    );
    describe_histogram!(
        ACTION_DURATION_SECONDS,
        metrics::Unit::Seconds,
        "Wall time of one action on one target, by kind"
    );
}

/// Records one finished action.
pub fn record(kind: ActionKind, status: ResultStatus, elapsed: Duration) {
    counter!(ACTIONS_TOTAL, "kind" => kind.as_str(), "outcome" => status.as_str()).increment(1);
    histogram!(ACTION_DURATION_SECONDS, "kind" => kind.as_str()).record(elapsed.as_secs_f64());
}
