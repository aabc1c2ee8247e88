//! The chunk runner: every (target × action) of a chunk, concurrently and on deadline.
//!
//! Targets run concurrently up to `concurrency`; a target's actions run in order. Each
//! target has a hard deadline: when it passes, the running action is abandoned and it and
//! the actions after it are recorded as timeouts, so one dead target never holds up the
//! rest. Results stream out as they complete. Executor panics become error results.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures::{FutureExt as _, StreamExt as _};
use opsconductor_core::criteria::{Criteria, Evaluation};
use opsconductor_core::ids::{AgentId, RunId};
use opsconductor_core::library::{ActionKind, ResolvedAction};
use opsconductor_core::model::{ResultRecord, ResultStatus, cap_excerpt};
use opsconductor_core::parse::{CompiledParser, ParsedOutput};
use opsconductor_core::targets::Target;
use serde_json::{Map, Value};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;

use crate::action::{ActionError, ActionInput, ActionOutput};
use crate::credential::Credential;
use crate::metrics;
use crate::registry::Registry;

/// Results buffered between the runner and its consumer before the runner waits.
const RESULT_BUFFER: usize = 4096;

/// An action ready to run: resolved against the library, parsers compiled.
#[derive(Debug, Clone)]
pub struct PreparedAction {
    /// Position in the job (part of the result key).
    pub index: u32,
    /// Executor kind.
    pub kind: ActionKind,
    /// Params with defaults.
    pub params: Map<String, Value>,
    /// Parsers in order, with their ids.
    pub parsers: Vec<(String, CompiledParser)>,
    /// Success criteria.
    pub criteria: Criteria,
    /// Per-action timeout.
    pub timeout: Duration,
    /// Credential material, fetched just in time.
    pub credential: Option<Arc<Credential>>,
}

impl PreparedAction {
    /// Prepares a resolved library action.
    pub fn from_resolved(
        index: u32,
        resolved: &ResolvedAction<'_>,
        credential: Option<Arc<Credential>>,
    ) -> Self {
        Self {
            index,
            kind: resolved.command.def.kind,
            params: resolved.params.clone(),
            parsers: resolved
                .parsers
                .iter()
                .map(|p| (p.def.id.clone(), p.compiled.clone()))
                .collect(),
            criteria: resolved.criteria.clone(),
            timeout: Duration::from_millis(resolved.timeout_ms),
            credential,
        }
    }
}

/// A unit of work: targets × ordered actions of one run.
#[derive(Debug, Clone)]
pub struct Chunk {
    /// The run the results belong to.
    pub run_id: RunId,
    /// Targets.
    pub targets: Vec<Target>,
    /// Actions, in job order.
    pub actions: Arc<[PreparedAction]>,
}

/// How a chunk runs.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// Targets in flight at once.
    pub concurrency: usize,
    /// Hard deadline for all actions on one target.
    pub target_timeout: Duration,
    /// Stamped on results.
    pub agent_id: Option<AgentId>,
    /// Later actions run on a target only when its first action ended ok; the skipped
    /// ones are recorded as errors that say why (a liveness gate for scans).
    pub require_first_ok: bool,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        Self {
            concurrency: 256,
            target_timeout: Duration::from_secs(10),
            agent_id: None,
            require_first_ok: false,
        }
    }
}

/// Runs a chunk; results arrive on the returned stream as they complete. Dropping the
/// stream or cancelling the token stops the work.
pub fn run_chunk(
    registry: Arc<Registry>,
    chunk: Chunk,
    config: RunnerConfig,
    cancel: CancellationToken,
) -> ReceiverStream<ResultRecord> {
    let (tx, rx) = mpsc::channel(RESULT_BUFFER);
    tokio::spawn(async move {
        let Chunk {
            run_id,
            targets,
            actions,
        } = chunk;
        let concurrency = config.concurrency.max(1);
        futures::stream::iter(targets)
            .for_each_concurrent(concurrency, |target| {
                let (registry, actions, tx, cancel, config) =
                    (&registry, &actions, &tx, &cancel, &config);
                async move {
                    if cancel.is_cancelled() || tx.is_closed() {
                        return;
                    }
                    run_target(registry, run_id, &target, actions, config, cancel, tx).await;
                }
            })
            .await;
    });
    ReceiverStream::new(rx)
}

async fn run_target(
    registry: &Registry,
    run_id: RunId,
    target: &Target,
    actions: &[PreparedAction],
    config: &RunnerConfig,
    cancel: &CancellationToken,
    tx: &mpsc::Sender<ResultRecord>,
) {
    let target_deadline = Instant::now() + config.target_timeout;
    let mut gate_closed = None;
    for (position, action) in actions.iter().enumerate() {
        let record = match &gate_closed {
            Some(first_status) => skipped(run_id, target, action, first_status, config),
            None => {
                let (record, _) = run_one(
                    registry,
                    run_id,
                    target,
                    action,
                    target_deadline,
                    config,
                    cancel,
                )
                .await;
                if position == 0 && config.require_first_ok && record.status != ResultStatus::Ok {
                    gate_closed = Some(record.status);
                }
                record
            }
        };
        if tx.send(record).await.is_err() {
            return;
        }
    }
}

/// The result of an action not run because the target's first action did not end ok.
fn skipped(
    run_id: RunId,
    target: &Target,
    action: &PreparedAction,
    first_status: &ResultStatus,
    config: &RunnerConfig,
) -> ResultRecord {
    ResultRecord {
        run_id,
        target: target.to_string(),
        action_index: action.index,
        status: ResultStatus::Error,
        started_at: Utc::now(),
        duration_ms: 0.0,
        timings: Map::new(),
        fields: Map::new(),
        rows: Vec::new(),
        raw_excerpt: None,
        reason: Some(format!(
            "skipped: the first action ended {} and this job runs later actions only after it succeeds",
            first_status.as_str()
        )),
        agent_id: config.agent_id,
    }
}

/// Runs one action on one target; returns the result and the raw output.
async fn run_one(
    registry: &Registry,
    run_id: RunId,
    target: &Target,
    action: &PreparedAction,
    target_deadline: Instant,
    config: &RunnerConfig,
    cancel: &CancellationToken,
) -> (ResultRecord, RunDetail) {
    let started_at = Utc::now();
    let t0 = Instant::now();
    let deadline = (t0 + action.timeout).min(target_deadline);
    let outcome: Result<ActionOutput, ActionError> = if t0 >= target_deadline {
        Err(ActionError::Timeout(format!(
            "target deadline of {} ms passed before this action started",
            config.target_timeout.as_millis()
        )))
    } else {
        match registry.get(action.kind) {
            None => Err(ActionError::Failed(format!(
                "this agent cannot run {} actions",
                action.kind
            ))),
            Some(executor) => {
                let input = ActionInput {
                    target,
                    params: &action.params,
                    credential: action.credential.as_deref(),
                    deadline,
                };
                // Inside the async block so a panic while building the future is caught too.
                let guarded =
                    AssertUnwindSafe(async move { executor.run(input).await }).catch_unwind();
                tokio::select! {
                    biased;
                    () = cancel.cancelled() => Err(ActionError::Cancelled),
                    outcome = tokio::time::timeout_at(deadline, guarded) => match outcome {
                        Err(_) => Err(ActionError::Timeout(format!(
                            "no answer within {} ms",
                            deadline.saturating_duration_since(t0).as_millis()
                        ))),
                        Ok(Err(_panic)) => Err(ActionError::Failed(format!(
                            "internal error in the {} executor (it panicked); please report it",
                            action.kind
                        ))),
                        Ok(Ok(result)) => result,
                    },
                }
            }
        }
    };
    let elapsed = t0.elapsed();
    let mut record = ResultRecord {
        run_id,
        target: target.to_string(),
        action_index: action.index,
        status: ResultStatus::Error,
        started_at,
        duration_ms: elapsed.as_secs_f64() * 1000.0,
        timings: Map::new(),
        fields: Map::new(),
        rows: Vec::new(),
        raw_excerpt: None,
        reason: None,
        agent_id: config.agent_id,
    };
    let mut detail = RunDetail::default();
    match outcome {
        Ok(output) => {
            let ActionOutput {
                fields,
                timings,
                raw,
            } = output;
            record.fields = fields;
            record.timings = timings;
            if !raw.is_empty() {
                record.raw_excerpt = Some(cap_excerpt(raw.as_bytes()));
            }
            let mut parse_errors = Vec::new();
            for (id, parser) in &action.parsers {
                let parsed = parser.parse(&raw);
                for (k, v) in &parsed.fields {
                    record.fields.insert(k.clone(), v.clone());
                }
                record.rows.extend(parsed.rows.iter().cloned());
                parse_errors.extend(parsed.errors.iter().map(|e| format!("parser {id}: {e}")));
                detail.parsed.push((id.clone(), parsed));
            }
            detail.raw = raw;
            if parse_errors.is_empty() {
                let evaluation = action.criteria.evaluate(&record.fields);
                record.status = evaluation.verdict.into();
                if record.status != ResultStatus::Ok {
                    record.reason = Some(evaluation.reason.clone());
                }
                detail.evaluation = Some(evaluation);
            } else {
                record.status = ResultStatus::Error;
                record.reason = Some(parse_errors.join("; "));
            }
        }
        Err(ActionError::Timeout(reason)) => {
            record.status = ResultStatus::Timeout;
            record.reason = Some(reason);
        }
        Err(e) => {
            record.status = ResultStatus::Error;
            record.reason = Some(e.to_string());
        }
    }
    metrics::record(action.kind, record.status, elapsed);
    (record, detail)
}

#[derive(Debug, Default)]
struct RunDetail {
    raw: String,
    parsed: Vec<(String, ParsedOutput)>,
    evaluation: Option<Evaluation>,
}

/// What the Job Builder's "test" button shows.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DryRunOutput {
    /// The result as it would be stored.
    pub result: ResultRecord,
    /// Raw output (capped by the executor).
    pub raw: String,
    /// Each parser's own output.
    pub parsed: Vec<(String, ParsedOutput)>,
    /// The criteria verdict, when the action produced output.
    pub evaluation: Option<Evaluation>,
}

/// Runs one action against one target and returns everything about it.
pub async fn dry_run(
    registry: &Registry,
    target: &Target,
    action: &PreparedAction,
    target_timeout: Duration,
) -> DryRunOutput {
    let config = RunnerConfig {
        concurrency: 1,
        target_timeout,
        agent_id: None,
        require_first_ok: false,
    };
    let (result, detail) = run_one(
        registry,
        RunId::new(),
        target,
        action,
        Instant::now() + target_timeout,
        &config,
        &CancellationToken::new(),
    )
    .await;
    DryRunOutput {
        result,
        raw: detail.raw,
        parsed: detail.parsed,
        evaluation: detail.evaluation,
    }
}
