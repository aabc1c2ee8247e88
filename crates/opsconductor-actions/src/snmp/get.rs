//! `snmp_get`: one GET of a list of OIDs.

use serde::Deserialize;
use serde_json::{Map, Value as Json};
use snmp2::{Oid, Pdu};
use tokio::time::Instant;

use super::client::{Request, error_status_name};
use super::format::{Exception, dotted, json_value, parse_oid, request_oid, write_varbind};
use super::{CommonParams, RawText, Shared, connect, millis};
use crate::action::{ActionError, ActionInput, ActionOutput};

/// OIDs per GET PDU; more are split over several requests.
const OIDS_PER_REQUEST: usize = 64;

/// Most OIDs one action may ask for.
const MAX_OIDS: usize = 1024;

#[derive(Deserialize)]
struct GetParams {
    oids: Vec<String>,
    #[serde(flatten)]
    common: CommonParams,
}

/// What one OID came back as.
#[derive(Clone)]
struct Slot {
    line: String,
    value: Json,
    error: Option<&'static str>,
}

/// How one GET PDU went.
enum Answer {
    /// Every OID of the batch has its slot filled.
    Complete,
    /// v1 `noSuchName` for the batch's OID at this position: nothing was filled.
    NoSuchName(usize),
    /// `tooBig`: nothing was filled.
    TooBig,
    /// Another error-status, with the position it names (if any).
    Refused(u32, Option<usize>),
}

pub(super) async fn run(
    shared: &Shared,
    input: ActionInput<'_>,
) -> Result<ActionOutput, ActionError> {
    let params: GetParams = input.params()?;
    if params.oids.is_empty() {
        return Err(ActionError::InvalidParams(
            "oids must list at least one OID".to_owned(),
        ));
    }
    if params.oids.len() > MAX_OIDS {
        return Err(ActionError::InvalidParams(format!(
            "oids may list at most {MAX_OIDS} OIDs"
        )));
    }
    let arcs = params
        .oids
        .iter()
        .map(|text| parse_oid(text))
        .collect::<Result<Vec<_>, _>>()
        .map_err(ActionError::InvalidParams)?;
    let requested = arcs
        .iter()
        .map(|a| request_oid(a))
        .collect::<Result<Vec<_>, _>>()
        .map_err(ActionError::InvalidParams)?;

    let mut out = ActionOutput::default();
    let mut client = connect(shared, &input, &params.common, &mut out).await?;
    let started = Instant::now();
    let mut slots: Vec<Option<Slot>> = vec![None; arcs.len()];
    let mut pending: Vec<usize> = (0..arcs.len()).collect();
    let mut batch_size = OIDS_PER_REQUEST;
    while !pending.is_empty() {
        let batch: Vec<usize> = pending[..batch_size.min(pending.len())].to_vec();
        let oids: Vec<Oid<'static>> = batch.iter().map(|&i| requested[i].clone()).collect();
        let answer = client
            .request(&Request::Get(&oids), |pdu| read(pdu, &batch, &mut slots))
            .await?
            .map_err(|detail| client.malformed(&detail))?;
        match answer {
            Answer::Complete => {
                pending.drain(..batch.len());
            }
            Answer::NoSuchName(position) => {
                let i = batch[position];
                let mut line = String::new();
                super::format::write_dotted(&arcs[i], &mut line, true);
                line.push_str(" = ");
                line.push_str(Exception::NoSuchObject.text());
                slots[i] = Some(Slot {
                    line,
                    value: Json::Null,
                    error: Some("noSuchName"),
                });
                pending.remove(position);
            }
            Answer::TooBig if batch.len() > 1 => batch_size = batch.len() / 2,
            Answer::TooBig => {
                return Err(ActionError::Failed(format!(
                    "the agent at {} cannot fit the value of {} in one SNMP message (tooBig)",
                    client.shown(),
                    dotted(&arcs[batch[0]])
                )));
            }
            Answer::Refused(status, position) => {
                let name = error_status_name(status);
                let which = position
                    .map(|p| format!(" for .{}", dotted(&arcs[batch[p]])))
                    .unwrap_or_default();
                let hint = match status {
                    6 | 16 => " (access denied by the agent's view configuration)",
                    _ => "",
                };
                return Err(ActionError::Failed(format!(
                    "the agent at {} answered {name}{which}{hint}",
                    client.shown()
                )));
            }
        }
    }
    let elapsed = started.elapsed().saturating_sub(client.discovery_time());

    let mut varbinds = Map::new();
    let mut errors = Map::new();
    let mut raw = RawText::default();
    for (arcs, slot) in arcs.iter().zip(slots) {
        let Some(slot) = slot else { continue };
        let key = dotted(arcs);
        if let Some(error) = slot.error {
            errors.insert(key.clone(), Json::from(error));
        }
        varbinds.insert(key, slot.value);
        raw.push_line(&slot.line);
    }
    out.field("varbinds", varbinds);
    out.field("errors", errors);
    out.field("response_ms", millis(elapsed));
    out.timing("response_ms", elapsed);
    if !client.discovery_time().is_zero() {
        out.timing("discovery_ms", client.discovery_time());
    }
    raw.finish(&mut out);
    Ok(out)
}

/// Fills the batch's slots from a response, or says what stopped it.
fn read(pdu: &Pdu<'_>, batch: &[usize], slots: &mut [Option<Slot>]) -> Result<Answer, String> {
    let position = || {
        usize::try_from(pdu.error_index)
            .ok()
            .filter(|&i| (1..=batch.len()).contains(&i))
            .map(|i| i - 1)
    };
    match pdu.error_status {
        0 => {}
        1 => return Ok(Answer::TooBig),
        2 => {
            return position().map(Answer::NoSuchName).ok_or_else(|| {
                format!(
                    "noSuchName with error-index {} out of range",
                    pdu.error_index
                )
            });
        }
        status => return Ok(Answer::Refused(status, position())),
    }
    let mut arcs = Vec::new();
    let mut scratch = Vec::new();
    let mut filled = 0;
    for (name, value) in pdu.varbinds.clone() {
        let Some(&slot) = batch.get(filled) else {
            return Err(format!("asked for {} OIDs, got more varbinds", batch.len()));
        };
        if !super::format::decode_oid(name.as_bytes(), &mut arcs) {
            return Err("a varbind has an undecodable OID".to_owned());
        }
        let mut line = String::with_capacity(64);
        write_varbind(&arcs, &value, &mut line, &mut scratch);
        slots[slot] = Some(Slot {
            line,
            value: json_value(&value, &mut scratch),
            error: Exception::of(&value).map(Exception::name),
        });
        filled += 1;
    }
    if filled != batch.len() {
        return Err(format!(
            "asked for {} OIDs, got {filled} varbinds",
            batch.len()
        ));
    }
    Ok(Answer::Complete)
}
