//! Runs: one firing of a job, with live counters.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{JobId, RunId};
use crate::model::result::ResultStatus;

/// Where a run is in its life.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Written, chunks not yet taken by any agent.
    Queued,
    /// At least one chunk is being worked on.
    Running,
    /// Every (target, action) has a result, an error or a timeout.
    Completed,
    /// Stopped by a person; unfinished targets recorded as cancelled errors.
    Cancelled,
    /// Could not be dispatched at all (the reason is on the run).
    Failed,
}

impl RunStatus {
    /// True once nothing more will happen to the run.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Cancelled | Self::Failed)
    }
}

/// What started a run.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunTrigger {
    /// The scheduler.
    Schedule,
    /// A person or script ("run now").
    Manual,
    /// A catch-up of a fire missed while no controller was up.
    CatchUp,
}

/// Progress counters of a run; `total` = targets × actions.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunCounters {
    /// Expected results.
    pub total: u64,
    /// Results with status ok.
    pub ok: u64,
    /// Results with status warn.
    pub warn: u64,
    /// Results with status fail.
    pub failed: u64,
    /// Results with status error.
    pub error: u64,
    /// Results with status timeout.
    pub timeout: u64,
}

impl RunCounters {
    /// Counts one result.
    pub fn record(&mut self, status: ResultStatus) {
        match status {
            ResultStatus::Ok => self.ok += 1,
            ResultStatus::Warn => self.warn += 1,
            ResultStatus::Fail => self.failed += 1,
            ResultStatus::Error => self.error += 1,
            ResultStatus::Timeout => self.timeout += 1,
        }
    }

    /// Results received so far.
    pub fn done(&self) -> u64 {
        self.ok + self.warn + self.failed + self.error + self.timeout
    }

    /// Results still expected.
    pub fn pending(&self) -> u64 {
        self.total.saturating_sub(self.done())
    }
}

/// One firing of a job.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// Id.
    pub id: RunId,
    /// The job.
    pub job_id: JobId,
    /// The job version it ran with.
    pub job_version: i64,
    /// Life-cycle state.
    pub status: RunStatus,
    /// What started it.
    pub trigger: RunTrigger,
    /// The fire time it stands for (unique per job with the trigger `schedule`).
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub scheduled_for: DateTime<Utc>,
    /// When it was created (its results are kept by this day).
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub created_at: DateTime<Utc>,
    /// Past this, its unfinished targets are recorded as timeouts.
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub deadline_at: DateTime<Utc>,
    /// When dispatch began.
    #[serde(serialize_with = "crate::timestamp::serialize_option")]
    pub started_at: Option<DateTime<Utc>>,
    /// When it reached a terminal state.
    #[serde(serialize_with = "crate::timestamp::serialize_option")]
    pub finished_at: Option<DateTime<Utc>>,
    /// Live counters.
    pub counters: RunCounters,
    /// Why it failed or was cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}
