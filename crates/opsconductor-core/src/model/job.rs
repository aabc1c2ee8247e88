//! Jobs: what to run, against what, when, and how.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::criteria::CriteriaSpec;
use crate::error::{Problems, ValidationError};
use crate::ids::{CredentialId, JobId};
use crate::library::Library;
use crate::model::schedule::Schedule;
use crate::model::segment::validate_segment_name;
use crate::targets::{self, GroupResolver, Selector, TargetSpec};

/// Most actions one job may chain.
pub const MAX_ACTIONS: usize = 32;
/// Most tags on one job.
pub const MAX_TAGS: usize = 32;
/// Longest run deadline a job may set: a week (a run still going after that is stuck).
pub const MAX_RUN_DEADLINE_SECONDS: u64 = 7 * 24 * 3600;
/// Longest per-target timeout (ten minutes): a longer check is a batch job, not a probe.
pub const MAX_TIMEOUT_MS: u64 = 600_000;

/// What to do when a job fires while its previous run is still going.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OverlapPolicy {
    /// Drop the new fire (the default: monitoring wants fresh data, not a backlog).
    #[default]
    Skip,
    /// Start the new run when the previous one ends (at most one waiting).
    Queue,
    /// Run both.
    Allow,
}

/// Execution options of a job.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobOptions {
    /// Targets in flight at once on one agent for this job.
    #[serde(default = "default_concurrency")]
    pub concurrency: u32,
    /// Hard deadline for all actions on one target, in milliseconds.
    #[serde(default = "default_target_timeout_ms")]
    pub target_timeout_ms: u64,
    /// Behaviour when a fire finds the previous run still going.
    #[serde(default)]
    pub overlap: OverlapPolicy,
    /// Fires missed while no controller was up are caught up if not older than this.
    #[serde(default)]
    pub catch_up_seconds: u64,
    /// Send every target to this segment instead of routing by address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment: Option<String>,
    /// Targets per chunk (the unit of work on the queue).
    #[serde(default = "default_chunk_size")]
    pub chunk_size: u32,
    /// Seconds after which a run's unfinished targets are recorded as timed out
    /// (default: derived from the target count and timeout).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_deadline_seconds: Option<u64>,
    /// Run a target's later actions only when its first action ended ok; the others are
    /// recorded as errors saying they were skipped. A liveness gate: scans ping first and
    /// probe only the hosts that answer, instead of waiting out timeouts on empty addresses.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub require_first_ok: bool,
}

fn default_concurrency() -> u32 {
    256
}
fn default_target_timeout_ms() -> u64 {
    10_000
}
fn default_chunk_size() -> u32 {
    250
}

impl Default for JobOptions {
    fn default() -> Self {
        Self {
            concurrency: default_concurrency(),
            target_timeout_ms: default_target_timeout_ms(),
            overlap: OverlapPolicy::default(),
            catch_up_seconds: 0,
            segment: None,
            chunk_size: default_chunk_size(),
            run_deadline_seconds: None,
            require_first_ok: false,
        }
    }
}

impl JobOptions {
    fn validate(&self, problems: &mut Problems) {
        if !(1..=10_000).contains(&self.concurrency) {
            problems.push("options.concurrency", "must be between 1 and 10000");
        }
        if !(100..=MAX_TIMEOUT_MS).contains(&self.target_timeout_ms) {
            problems.push(
                "options.target_timeout_ms",
                format!("must be between 100 and {MAX_TIMEOUT_MS} milliseconds"),
            );
        }
        if self.catch_up_seconds > 7 * 24 * 3600 {
            problems.push(
                "options.catch_up_seconds",
                "must be at most one week (604800)",
            );
        }
        if !(1..=10_000).contains(&self.chunk_size) {
            problems.push("options.chunk_size", "must be between 1 and 10000");
        }
        if let Some(segment) = &self.segment {
            problems.check("options", validate_segment_name(segment, "segment"));
        }
        if self.run_deadline_seconds == Some(0) {
            problems.push("options.run_deadline_seconds", "must be at least 1 second");
        } else if self
            .run_deadline_seconds
            .is_some_and(|s| s > MAX_RUN_DEADLINE_SECONDS)
        {
            problems.push(
                "options.run_deadline_seconds",
                format!("must be at most {MAX_RUN_DEADLINE_SECONDS} (7 days)"),
            );
        }
    }
}

/// One step of a job: a library command with its params.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionSpec {
    /// Command id from the command library (`ping.icmp`).
    pub command: String,
    /// Optional label shown in results instead of the command name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Params; missing ones take the command's defaults.
    #[serde(default)]
    pub params: Map<String, Value>,
    /// Parser ids; `None` means the command's default parsers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parsers: Option<Vec<String>>,
    /// Credential used by the action (SNMP community / v3 keys, SSH login, HTTP token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<CredentialId>,
    /// Per-action timeout in milliseconds (default: the command's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Success criteria overriding the command's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub criteria: Option<CriteriaSpec>,
}

/// A job as people write it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSpec {
    /// Unique, human name.
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Labels for filtering.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Disabled jobs keep their schedule but never fire.
    #[serde(default = "default_enabled")]
    pub enabled: bool,
    /// When it fires.
    pub schedule: Schedule,
    /// What it runs against.
    pub targets: TargetSpec,
    /// What it runs, in order, on each target.
    pub actions: Vec<ActionSpec>,
    /// How it runs.
    #[serde(default)]
    pub options: JobOptions,
}

fn default_enabled() -> bool {
    true
}

impl JobSpec {
    /// Validates everything about the job against the libraries and reports every problem
    /// with its field path (`actions[1].params.count`). Inventory groups are checked for
    /// syntax only; they are resolved when a run starts.
    pub fn validate(&self, library: &Library) -> Result<(), ValidationError> {
        let mut problems = Problems::default();
        let name = self.name.trim();
        if name.is_empty() {
            problems.push("name", "must not be empty");
        } else if name.chars().count() > 200 {
            problems.push("name", "must be at most 200 characters");
        }
        if self.description.chars().count() > 4000 {
            problems.push("description", "must be at most 4000 characters");
        }
        if self.tags.len() > MAX_TAGS {
            problems.push("tags", format!("at most {MAX_TAGS} tags"));
        }
        for (i, tag) in self.tags.iter().enumerate() {
            if tag.trim().is_empty() || tag.chars().count() > 64 {
                problems.push(format!("tags[{i}]"), "must be 1-64 characters");
            }
        }
        problems.check("schedule", self.schedule.validate());
        problems.check("targets", validate_targets(&self.targets));
        if self.actions.is_empty() {
            problems.push("actions", "a job needs at least one action");
        } else if self.actions.len() > MAX_ACTIONS {
            problems.push("actions", format!("at most {MAX_ACTIONS} actions"));
        }
        for (i, action) in self.actions.iter().enumerate() {
            problems.check(&format!("actions[{i}]"), library.validate_action(action));
        }
        self.options.validate(&mut problems);
        problems.finish()
    }
}

/// A stored job: its spec plus identity and version (for optimistic concurrency).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// Stable id.
    pub id: JobId,
    /// Increments on every change; a run records the version it ran.
    pub version: i64,
    /// The definition.
    #[serde(flatten)]
    pub spec: JobSpec,
    /// Creation time.
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub created_at: DateTime<Utc>,
    /// Last change.
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub updated_at: DateTime<Utc>,
}

/// Groups are resolved when a run starts; at save time only their syntax is checked.
struct GroupsResolvedAtRunStart;

impl GroupResolver for GroupsResolvedAtRunStart {
    fn resolve(&self, _group: &str) -> Result<Vec<String>, String> {
        Ok(Vec::new())
    }
}

/// Checks a job's targets: every selector parses, the total fits the cap, and something
/// is selected (unless it comes from a group, which is only known at run start).
pub(crate) fn validate_targets(spec: &TargetSpec) -> Result<(), ValidationError> {
    let expanded = targets::expand(spec, &GroupsResolvedAtRunStart)?;
    let has_group = spec
        .include
        .iter()
        .any(|s| matches!(s, Selector::Group { .. }));
    if expanded.is_empty() && !has_group {
        return Err(ValidationError::field(
            "include",
            "selects no targets (everything is excluded or nothing is listed)",
        ));
    }
    Ok(())
}

/// Checks that a target-source form example makes a valid selector of its type.
pub(crate) fn check_selector_example(
    selector: &str,
    example: &Map<String, Value>,
) -> Result<(), String> {
    let mut object = example.clone();
    object.insert("type".to_owned(), Value::String(selector.to_owned()));
    let parsed: Selector = serde_json::from_value(Value::Object(object))
        .map_err(|e| format!("does not make a {selector} selector: {e}"))?;
    let spec = TargetSpec::new(vec![parsed]);
    targets::expand(&spec, &GroupsResolvedAtRunStart)
        .map(|_| ())
        .map_err(|e| format!("does not expand: {e}"))
}
