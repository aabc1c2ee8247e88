//! `snmp_walk`: the subtree under `root_oid`, by GETBULK (v2c/v3) or GETNEXT (v1).

use serde::Deserialize;
use serde_json::Value as Json;
use snmp2::{Pdu, Value};
use tokio::time::Instant;

use super::client::{Request, error_status_name};
use super::format::{Exception, decode_oid, dotted, parse_oid, request_oid, write_varbind};
use super::{CommonParams, RawText, Shared, connect, millis, with_context};
use crate::action::{ActionError, ActionInput, ActionOutput};

const MAX_REPETITIONS: u32 = 100;
const MAX_VARBINDS: usize = 1_000_000;

#[derive(Deserialize)]
struct WalkParams {
    root_oid: String,
    #[serde(default = "default_max_repetitions")]
    max_repetitions: u32,
    #[serde(default = "default_max_varbinds")]
    max_varbinds: usize,
    #[serde(flatten)]
    common: CommonParams,
}

fn default_max_repetitions() -> u32 {
    25
}

fn default_max_varbinds() -> usize {
    10_000
}

/// How reading one response went.
enum Step {
    /// Keep going from the last OID.
    More,
    /// The walk is over (end of subtree or view, the cap, or loop protection).
    End,
    /// The agent answered `tooBig`: ask for fewer repetitions.
    TooBig,
    /// The agent answered another error-status.
    Refused(u32),
}

/// The walk so far.
struct Walk {
    root: Vec<u64>,
    /// The last OID kept (at first the OID asked for): answers must come after it.
    last: Vec<u64>,
    count: usize,
    cap: usize,
    truncated: bool,
    error: Option<String>,
    raw: RawText,
    v1: bool,
    arcs: Vec<u64>,
    scratch: Vec<u64>,
    line: String,
}

impl Walk {
    fn read(&mut self, pdu: &Pdu<'_>) -> Result<Step, String> {
        match pdu.error_status {
            0 => {}
            // SNMPv1 agents mark the end of their MIB view with noSuchName.
            2 if self.v1 => return Ok(Step::End),
            1 => return Ok(Step::TooBig),
            status => return Ok(Step::Refused(status)),
        }
        let mut seen = 0usize;
        for (name, value) in pdu.varbinds.clone() {
            seen += 1;
            if !decode_oid(name.as_bytes(), &mut self.arcs) {
                return Err("a varbind has an undecodable OID".to_owned());
            }
            if matches!(value, Value::EndOfMibView) || !self.arcs.starts_with(&self.root) {
                return Ok(Step::End);
            }
            if self.arcs <= self.last {
                self.error = Some(format!(
                    "the agent returned .{} after .{}: OIDs must increase, so the walk stopped \
                     to avoid a loop",
                    dotted(&self.arcs),
                    dotted(&self.last)
                ));
                return Ok(Step::End);
            }
            if self.count >= self.cap {
                self.truncated = true;
                return Ok(Step::End);
            }
            self.line.clear();
            write_varbind(&self.arcs, &value, &mut self.line, &mut self.scratch);
            self.raw.push_line(&self.line);
            self.count += 1;
            std::mem::swap(&mut self.last, &mut self.arcs);
        }
        if seen == 0 {
            return Err("the response has no varbinds".to_owned());
        }
        Ok(Step::More)
    }

    fn context(&self) -> String {
        format!("after {} varbinds of the walk", self.count)
    }

    /// Says how far the walk got, once it got anywhere.
    fn locate(&self, error: ActionError) -> ActionError {
        if self.count > 0 {
            with_context(error, &self.context())
        } else {
            error
        }
    }
}

pub(super) async fn run(
    shared: &Shared,
    input: ActionInput<'_>,
) -> Result<ActionOutput, ActionError> {
    let params: WalkParams = input.params()?;
    let root = parse_oid(&params.root_oid).map_err(ActionError::InvalidParams)?;
    if !(1..=MAX_REPETITIONS).contains(&params.max_repetitions) {
        return Err(ActionError::InvalidParams(format!(
            "max_repetitions must be between 1 and {MAX_REPETITIONS}"
        )));
    }
    if !(1..=MAX_VARBINDS).contains(&params.max_varbinds) {
        return Err(ActionError::InvalidParams(format!(
            "max_varbinds must be between 1 and {MAX_VARBINDS}"
        )));
    }
    let first = request_oid(&root).map_err(ActionError::InvalidParams)?;

    let mut out = ActionOutput::default();
    let mut client = connect(shared, &input, &params.common, &mut out).await?;
    let started = Instant::now();
    let mut last = Vec::with_capacity(root.len() + 8);
    decode_oid(first.as_bytes(), &mut last);
    let mut walk = Walk {
        root,
        last,
        count: 0,
        cap: params.max_varbinds,
        truncated: false,
        error: None,
        raw: RawText::default(),
        v1: client.is_v1(),
        arcs: Vec::new(),
        scratch: Vec::new(),
        line: String::with_capacity(128),
    };
    let mut repetitions = params.max_repetitions;
    let mut requests = 0u32;
    let mut next = first;
    loop {
        // Ask for one more than the cap leaves, so a walk that stops at the cap knows
        // whether the subtree went on.
        let room = u32::try_from(walk.cap - walk.count + 1).unwrap_or(u32::MAX);
        let asked = repetitions.min(room);
        let request = if walk.v1 {
            Request::GetNext(&next)
        } else {
            Request::GetBulk(&next, asked)
        };
        let step = match client.request(&request, |pdu| walk.read(pdu)).await {
            Ok(Ok(step)) => step,
            Ok(Err(detail)) => return Err(walk.locate(client.malformed(&detail))),
            Err(e) => return Err(walk.locate(e)),
        };
        requests += 1;
        match step {
            Step::More => {
                next = request_oid(&walk.last).map_err(|e| client.malformed(&e))?;
            }
            Step::End => break,
            Step::TooBig if !walk.v1 && asked > 1 => repetitions = asked / 2,
            Step::TooBig | Step::Refused(_) if walk.count > 0 => {
                let status = if let Step::Refused(s) = step { s } else { 1 };
                walk.error = Some(format!(
                    "the agent answered {} {}",
                    error_status_name(status),
                    walk.context()
                ));
                break;
            }
            Step::TooBig | Step::Refused(_) => {
                let status = if let Step::Refused(s) = step { s } else { 1 };
                return Err(ActionError::Failed(format!(
                    "the agent at {} answered {} to a walk of .{}",
                    client.shown(),
                    error_status_name(status),
                    dotted(&walk.root)
                )));
            }
        }
    }
    if walk.count == 0 && walk.error.is_none() {
        // Like snmpwalk: a root with nothing below it may itself be an instance.
        let oids = [request_oid(&walk.root).map_err(ActionError::InvalidParams)?];
        let root = walk.root.clone();
        let mut arcs = Vec::new();
        let mut scratch = Vec::new();
        let line = client
            .request(&Request::Get(&oids), |pdu| {
                let (name, value) = pdu.varbinds.clone().next()?;
                let keep = pdu.error_status == 0
                    && Exception::of(&value).is_none()
                    && decode_oid(name.as_bytes(), &mut arcs)
                    && arcs == root;
                keep.then(|| {
                    let mut line = String::new();
                    write_varbind(&arcs, &value, &mut line, &mut scratch);
                    line
                })
            })
            .await?;
        requests += 1;
        if let Some(line) = line {
            walk.raw.push_line(&line);
            walk.count = 1;
        }
    }
    let elapsed = started.elapsed().saturating_sub(client.discovery_time());

    out.field("varbind_count", walk.count);
    out.field("walk_ms", millis(elapsed));
    out.field("requests", requests);
    out.field("truncated", walk.truncated);
    out.field("walk_error", walk.error.map_or(Json::Null, Json::from));
    out.timing("walk_ms", elapsed);
    if !client.discovery_time().is_zero() {
        out.timing("discovery_ms", client.discovery_time());
    }
    walk.raw.finish(&mut out);
    Ok(out)
}
