//! A delivery's payload checked and turned into runnable work.
//!
//! Whatever fails here fails on every agent and every retry — undecodable bytes, a target
//! that is not an address or host name, an unknown action kind, parsers or criteria that do
//! not compile, params that are not an object — so such a chunk is poison: the caller
//! rejects it to the dead-letter queue instead of letting it bounce to the delivery limit.

use std::str::FromStr as _;
use std::time::Duration;

use prost::Message as _;

use opsconductor_actions::PreparedAction;
use opsconductor_core::criteria::CriteriaSpec;
use opsconductor_core::ids::RunId;
use opsconductor_core::library::ActionKind;
use opsconductor_core::parse::ParserDef;
use opsconductor_core::targets::Target;
use opsconductor_proto::convert::json_object;
use opsconductor_proto::v1;

/// Per-target deadline when the chunk does not give one.
const DEFAULT_TARGET_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest poison reason kept: it is logged, and a huge bad payload must not flood logs.
const MAX_REASON_CHARS: usize = 500;

/// A chunk ready to run, apart from its credentials.
#[derive(Debug)]
pub(crate) struct Work {
    pub chunk_id: String,
    pub run_id: RunId,
    pub targets: Vec<Target>,
    pub actions: Vec<WorkAction>,
    /// Targets in flight at once, as the controller asked (the agent may lower it).
    pub concurrency: usize,
    pub target_timeout: Duration,
    /// Milliseconds since the Unix epoch; `None` when the run has no deadline.
    pub deadline_unix_ms: Option<i64>,
    /// Later actions only after the first ended ok (see `RunnerConfig::require_first_ok`).
    pub require_first_ok: bool,
}

/// One action, prepared without its credential, and the credential it needs.
#[derive(Debug)]
pub(crate) struct WorkAction {
    pub prepared: PreparedAction,
    pub credential_id: Option<String>,
}

impl Work {
    /// Whether the run's deadline has passed at `now_unix_ms`.
    pub(crate) fn expired(&self, now_unix_ms: i64) -> bool {
        self.deadline_unix_ms.is_some_and(|d| now_unix_ms > d)
    }
}

/// Decodes and checks a delivery's payload; the error is why it is poison.
pub(crate) fn decode(delivery_chunk_id: &str, payload: &[u8]) -> Result<Work, String> {
    let work = v1::ChunkWork::decode(payload)
        .map_err(|e| format!("payload is not a ChunkWork message: {e}"))?;
    convert(delivery_chunk_id, work).map_err(|mut reason| {
        if reason.chars().count() > MAX_REASON_CHARS {
            reason = reason.chars().take(MAX_REASON_CHARS).collect::<String>() + "…";
        }
        reason
    })
}

fn convert(delivery_chunk_id: &str, work: v1::ChunkWork) -> Result<Work, String> {
    if work.chunk_id != delivery_chunk_id {
        return Err(format!(
            "chunk_id {:?} differs from the message id {delivery_chunk_id:?}",
            work.chunk_id
        ));
    }
    let run_id = RunId::from_str(&work.run_id)
        .map_err(|_| format!("run_id {:?} is not a UUID", work.run_id))?;
    let targets = work
        .targets
        .iter()
        .enumerate()
        .map(|(i, text)| Target::from_str(text).map_err(|e| format!("targets[{i}]: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let target_timeout = match work.target_timeout_ms {
        0 => DEFAULT_TARGET_TIMEOUT,
        ms => Duration::from_millis(u64::from(ms)),
    };
    let actions = work
        .actions
        .into_iter()
        .enumerate()
        .map(|(i, action)| {
            convert_action(action, target_timeout).map_err(|e| format!("actions[{i}].{e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Work {
        chunk_id: work.chunk_id,
        run_id,
        targets,
        actions,
        concurrency: usize::try_from(work.concurrency.max(1)).unwrap_or(usize::MAX),
        target_timeout,
        deadline_unix_ms: (work.run_deadline_unix_ms > 0).then_some(work.run_deadline_unix_ms),
        require_first_ok: work.require_first_ok,
    })
}

fn convert_action(action: v1::ChunkAction, target_timeout: Duration) -> Result<WorkAction, String> {
    let kind: ActionKind = serde_json::from_value(serde_json::Value::String(action.kind.clone()))
        .map_err(|_| format!("kind: {:?} is not an action kind", action.kind))?;
    let params = json_object("params_json", &action.params_json).map_err(|e| e.to_string())?;
    let defs: Vec<ParserDef> = if action.parsers_json.trim().is_empty() {
        Vec::new()
    } else {
        serde_json::from_str(&action.parsers_json)
            .map_err(|e| format!("parsers_json: not a JSON array of parser definitions: {e}"))?
    };
    let mut parsers = Vec::with_capacity(defs.len());
    for (i, def) in defs.iter().enumerate() {
        let compiled = def.compile().map_err(|problems| {
            let problems: Vec<String> = problems.iter().map(ToString::to_string).collect();
            format!("parsers_json[{i}] ({}): {}", def.id, problems.join("; "))
        })?;
        parsers.push((def.id.clone(), compiled));
    }
    let spec: CriteriaSpec = if action.criteria_json.trim().is_empty() {
        CriteriaSpec::default()
    } else {
        serde_json::from_str(&action.criteria_json)
            .map_err(|e| format!("criteria_json: not success criteria: {e}"))?
    };
    let criteria = spec.compile().map_err(|problems| {
        let problems: Vec<String> = problems
            .iter()
            .map(|(field, e)| format!("{field} {e}"))
            .collect();
        format!("criteria_json: {}", problems.join("; "))
    })?;
    let timeout = match action.timeout_ms {
        0 => target_timeout,
        ms => Duration::from_millis(u64::from(ms)),
    };
    Ok(WorkAction {
        prepared: PreparedAction {
            index: action.index,
            kind,
            params,
            parsers,
            criteria,
            timeout,
            credential: None,
        },
        credential_id: action.credential_id.filter(|id| !id.is_empty()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(actions: Vec<v1::ChunkAction>) -> v1::ChunkWork {
        v1::ChunkWork {
            chunk_id: "c1".into(),
            run_id: RunId::new().to_string(),
            job_id: String::new(),
            segment: "dc1".into(),
            targets: vec!["127.0.0.1".into(), "router-1.example".into()],
            actions,
            concurrency: 8,
            target_timeout_ms: 2000,
            run_deadline_unix_ms: 0,
            require_first_ok: false,
        }
    }

    fn action(kind: &str) -> v1::ChunkAction {
        v1::ChunkAction {
            index: 0,
            command_id: "tcp.port".into(),
            kind: kind.into(),
            params_json: r#"{"port":22}"#.into(),
            parsers_json: String::new(),
            criteria_json: r#"{"ok":"connect_ms < 100"}"#.into(),
            timeout_ms: 0,
            credential_id: Some(String::new()),
        }
    }

    fn reason(work: &v1::ChunkWork) -> String {
        decode("c1", &work.encode_to_vec()).unwrap_err()
    }

    #[test]
    fn a_valid_chunk_converts_with_defaults_applied() {
        let work = decode("c1", &chunk(vec![action("tcp_port")]).encode_to_vec()).unwrap();
        assert_eq!(work.targets.len(), 2);
        assert_eq!(work.actions[0].prepared.kind, ActionKind::TcpPort);
        assert_eq!(work.actions[0].prepared.timeout, Duration::from_secs(2));
        assert_eq!(work.actions[0].credential_id, None);
        assert_eq!(work.deadline_unix_ms, None);
        assert!(!work.expired(i64::MAX));
    }

    #[test]
    fn every_kind_of_poison_is_named() {
        assert!(
            decode("c1", b"\xff\xff\xff not protobuf")
                .unwrap_err()
                .contains("not a ChunkWork")
        );
        let mut bad_target = chunk(vec![]);
        bad_target.targets.push("10.0.0.0/8".into());
        assert!(reason(&bad_target).starts_with("targets[2]"));
        assert!(reason(&chunk(vec![action("telnet")])).contains("actions[0].kind"));
        let mut params = action("tcp_port");
        params.params_json = "[1]".into();
        assert!(reason(&chunk(vec![params])).contains("params_json"));
        let mut parsers = action("tcp_port");
        parsers.parsers_json =
            r#"[{"id":"p","name":"P","extract":{"type":"regex","pattern":"("}}]"#.into();
        assert!(reason(&chunk(vec![parsers])).contains("parsers_json[0] (p)"));
        let mut criteria = action("tcp_port");
        criteria.criteria_json = r#"{"ok":"loss_pct <"}"#.into();
        assert!(reason(&chunk(vec![criteria])).contains("criteria_json"));
        let mut run = chunk(vec![]);
        run.run_id = "yesterday".into();
        assert!(reason(&run).contains("run_id"));
        assert!(
            decode("other", &chunk(vec![]).encode_to_vec())
                .unwrap_err()
                .contains("message id")
        );
    }
}
