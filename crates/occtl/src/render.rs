//! Turning API messages into what people and scripts read: aligned tables, RFC 4180 CSV,
//! and JSON documents (JSON-valued fields inlined, enums as lowercase names, times as
//! RFC 3339 UTC).

use chrono::{DateTime, SecondsFormat, Utc};
use opsconductor_proto::v1;
use serde_json::{Value, json};

/// A table with a header row, printed with columns padded to their widest cell.
#[derive(Debug, Default)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column titles.
    pub fn new<S: Into<String>>(header: impl IntoIterator<Item = S>) -> Self {
        Self {
            header: header.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row (missing cells print empty, extra cells are kept).
    pub fn row<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) {
        self.rows.push(cells.into_iter().map(Into::into).collect());
    }

    /// The table as text, one line per row, columns two spaces apart, no trailing blanks.
    pub fn render(&self) -> String {
        let columns = self
            .rows
            .iter()
            .map(Vec::len)
            .chain([self.header.len()])
            .max()
            .unwrap_or(0);
        let mut widths = vec![0; columns];
        for line in std::iter::once(&self.header).chain(&self.rows) {
            for (i, cell) in line.iter().enumerate() {
                widths[i] = widths[i].max(display_width(cell));
            }
        }
        let mut out = String::new();
        for line in std::iter::once(&self.header).chain(&self.rows) {
            let mut text = String::new();
            for (i, width) in widths.iter().enumerate() {
                let cell = line.get(i).map_or("", String::as_str);
                if i > 0 {
                    text.push_str("  ");
                }
                text.push_str(cell);
                text.extend(std::iter::repeat_n(' ', width - display_width(cell)));
            }
            out.push_str(text.trim_end());
            out.push('\n');
        }
        out
    }
}

/// Width of a cell in characters; control characters are replaced before printing.
fn display_width(cell: &str) -> usize {
    cell.chars().count()
}

/// A cell safe to print in a table: newlines and other control characters become spaces,
/// long text is cut with an ellipsis.
pub fn cell(text: &str, max: usize) -> String {
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if clean.chars().count() <= max {
        clean
    } else {
        let mut cut: String = clean.chars().take(max.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

/// One CSV record (RFC 4180: fields with a comma, quote or line break are quoted, quotes
/// doubled), ending in CRLF.
pub fn csv_record<S: AsRef<str>>(fields: impl IntoIterator<Item = S>) -> String {
    let mut line = String::new();
    for (i, field) in fields.into_iter().enumerate() {
        if i > 0 {
            line.push(',');
        }
        let field = field.as_ref();
        if field.contains([',', '"', '\n', '\r']) {
            line.push('"');
            line.push_str(&field.replace('"', "\"\""));
            line.push('"');
        } else {
            line.push_str(field);
        }
    }
    line.push_str("\r\n");
    line
}

/// A protobuf time as UTC, if present and representable.
pub fn time(t: Option<&prost_types::Timestamp>) -> Option<DateTime<Utc>> {
    let t = t?;
    DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).ok()?)
}

/// RFC 3339 text (JSON output, CSV).
pub fn time_rfc3339(t: Option<&prost_types::Timestamp>) -> Value {
    time(t).map_or(Value::Null, |t| {
        Value::from(t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
    })
}

/// `2026-04-01 12:00:05` in UTC, or `-` (tables).
pub fn time_human(t: Option<&prost_types::Timestamp>) -> String {
    time(t).map_or_else(
        || "-".to_owned(),
        |t| t.format("%Y-%m-%d %H:%M:%S").to_string(),
    )
}

/// `RUN_STATUS_QUEUED` → `queued`; unknown numbers (a newer server) → `unknown(7)`.
fn enum_name(name: Option<&str>, prefix: &str, value: i32) -> String {
    match name {
        Some(name) => name
            .strip_prefix(prefix)
            .unwrap_or(name)
            .to_ascii_lowercase(),
        None => format!("unknown({value})"),
    }
}

/// A run status as a lowercase word.
pub fn run_status(value: i32) -> String {
    let name = v1::RunStatus::try_from(value).ok();
    enum_name(name.map(|s| s.as_str_name()), "RUN_STATUS_", value)
}

/// A run trigger as a lowercase word.
pub fn run_trigger(value: i32) -> String {
    let name = v1::RunTrigger::try_from(value).ok();
    enum_name(name.map(|s| s.as_str_name()), "RUN_TRIGGER_", value)
}

/// A result status as a lowercase word.
pub fn result_status(value: i32) -> String {
    let name = v1::ResultStatus::try_from(value).ok();
    enum_name(name.map(|s| s.as_str_name()), "RESULT_STATUS_", value)
}

/// JSON text from the server as a value (`null` when empty, the text itself when it is
/// not JSON, which a correct server never sends).
pub fn inline_json(text: &str) -> Value {
    if text.is_empty() {
        return Value::Null;
    }
    serde_json::from_str(text).unwrap_or_else(|_| Value::from(text))
}

/// A job for scripts: the spec inlined as an object.
pub fn job_json(job: &v1::Job) -> Value {
    json!({
        "id": job.id,
        "version": job.version,
        "name": job.name,
        "enabled": job.enabled,
        "tags": job.tags,
        "created_at": time_rfc3339(job.created_at.as_ref()),
        "updated_at": time_rfc3339(job.updated_at.as_ref()),
        "spec": inline_json(&job.spec_json),
    })
}

/// Counters of a run (zero when the server sent none).
pub fn counters(run: &v1::Run) -> v1::RunCounters {
    run.counters.unwrap_or_default()
}

/// A run for scripts.
pub fn run_json(run: &v1::Run) -> Value {
    let c = counters(run);
    json!({
        "id": run.id,
        "job_id": run.job_id,
        "job_version": run.job_version,
        "status": run_status(run.status),
        "trigger": run_trigger(run.trigger),
        "scheduled_for": time_rfc3339(run.scheduled_for.as_ref()),
        "created_at": time_rfc3339(run.created_at.as_ref()),
        "deadline_at": time_rfc3339(run.deadline_at.as_ref()),
        "started_at": time_rfc3339(run.started_at.as_ref()),
        "finished_at": time_rfc3339(run.finished_at.as_ref()),
        "counters": {
            "total": c.total, "ok": c.ok, "warn": c.warn, "fail": c.fail,
            "error": c.error, "timeout": c.timeout,
        },
        "reason": run.reason,
    })
}

/// Results received so far (saturating: counts come from the wire).
pub fn done(c: &v1::RunCounters) -> u64 {
    [c.warn, c.fail, c.error, c.timeout]
        .into_iter()
        .fold(c.ok, u64::saturating_add)
}

/// `3/10 done  ok 2  warn 0  fail 1  error 0  timeout 0`
pub fn counters_human(c: &v1::RunCounters) -> String {
    let done = done(c);
    format!(
        "{done}/{} done  ok {}  warn {}  fail {}  error {}  timeout {}",
        c.total, c.ok, c.warn, c.fail, c.error, c.timeout
    )
}

/// A result for scripts.
pub fn result_json(r: &v1::StoredResult) -> Value {
    json!({
        "run_id": r.run_id,
        "job_id": r.job_id,
        "target": r.target,
        "action_index": r.action_index,
        "status": result_status(r.status),
        "started_at": time_rfc3339(r.started_at.as_ref()),
        "duration_ms": r.duration_ms,
        "timings": inline_json(&r.timings_json),
        "fields": inline_json(&r.fields_json),
        "rows": inline_json(&r.rows_json),
        "raw_excerpt": r.raw_excerpt,
        "reason": r.reason,
        "agent_id": r.agent_id,
        "run_created_at": time_rfc3339(r.run_created_at.as_ref()),
    })
}

/// An agent for scripts.
pub fn agent_json(a: &v1::Agent) -> Value {
    json!({
        "id": a.id,
        "name": a.name,
        "segment": a.segment,
        "version": a.version,
        "capabilities": a.capabilities,
        "registered_at": time_rfc3339(a.registered_at.as_ref()),
        "last_seen_at": time_rfc3339(a.last_seen_at.as_ref()),
        "online": a.online,
        "heartbeat": inline_json(&a.heartbeat_json),
    })
}

/// A scan state as a lowercase word.
pub fn scan_state(value: i32) -> String {
    let name = v1::ScanState::try_from(value).ok();
    enum_name(name.map(|s| s.as_str_name()), "SCAN_STATE_", value)
}

/// A group kind as a lowercase word.
pub fn group_kind(value: i32) -> String {
    let name = v1::GroupKind::try_from(value).ok();
    enum_name(name.map(|s| s.as_str_name()), "GROUP_KIND_", value)
}

/// Counts of a scan (zero when the server sent none).
pub fn scan_counts(scan: &v1::Scan) -> v1::ScanCounts {
    scan.counts.unwrap_or_default()
}

/// `probed 4  alive 3  identified 1  new 3  changed 0  gone 0`
pub fn scan_counts_human(c: &v1::ScanCounts) -> String {
    format!(
        "probed {}  alive {}  identified {}  new {}  changed {}  gone {}",
        c.probed, c.alive, c.identified, c.new, c.changed, c.gone
    )
}

/// A scan for scripts: the request inlined as an object.
pub fn scan_json(scan: &v1::Scan) -> Value {
    let c = scan_counts(scan);
    json!({
        "id": scan.id,
        "label": scan.label,
        "state": scan_state(scan.state),
        "spec": inline_json(&scan.spec_json),
        "run_id": scan.run_id,
        "job_id": scan.job_id,
        "counts": {
            "probed": c.probed, "alive": c.alive, "identified": c.identified,
            "new": c.new, "changed": c.changed, "gone": c.gone,
        },
        "targets": scan.targets,
        "results_done": scan.results_done,
        "results_total": scan.results_total,
        "previous_scan_id": scan.previous_scan_id,
        "created_by": scan.created_by,
        "created_at": time_rfc3339(scan.created_at.as_ref()),
        "finished_at": time_rfc3339(scan.finished_at.as_ref()),
        "reason": scan.reason,
    })
}

/// A scan diff for scripts, shaped as the REST API's (`new`, `changed`, `gone`).
pub fn diff_json(diff: &v1::ScanDiff) -> Value {
    let changed: Vec<Value> = diff
        .changed_hosts
        .iter()
        .map(|host| {
            let changes: Vec<Value> = host
                .changes
                .iter()
                .map(|c| {
                    json!({
                        "field": c.field,
                        "before": inline_json(&c.before_json),
                        "after": inline_json(&c.after_json),
                    })
                })
                .collect();
            json!({"address": host.address, "changes": changes})
        })
        .collect();
    json!({
        "scan_id": diff.scan_id,
        "previous_scan_id": diff.previous_scan_id,
        "new": diff.new_hosts,
        "changed": changed,
        "gone": diff.gone_hosts,
    })
}

/// What scans learned about a device, as an object (`{}` when nothing).
pub fn device_attributes(d: &v1::Device) -> Value {
    match inline_json(&d.attributes_json) {
        Value::Null => json!({}),
        other => other,
    }
}

/// A device for scripts: the attributes inlined as an object.
pub fn device_json(d: &v1::Device) -> Value {
    json!({
        "address": d.address,
        "hostname": d.hostname,
        "segment": d.segment,
        "attributes": device_attributes(d),
        "tags": d.tags,
        "notes": d.notes,
        "first_seen": time_rfc3339(d.first_seen.as_ref()),
        "last_seen": time_rfc3339(d.last_seen.as_ref()),
        "last_scan_id": d.last_scan_id,
    })
}

/// A group for scripts.
pub fn group_json(g: &v1::Group) -> Value {
    json!({
        "name": g.name,
        "description": g.description,
        "kind": group_kind(g.kind),
        "filter": g.filter,
        "members": g.members,
        "member_count": g.member_count,
        "version": g.version,
        "created_at": time_rfc3339(g.created_at.as_ref()),
        "updated_at": time_rfc3339(g.updated_at.as_ref()),
    })
}

/// A schedule in a few words (`every 60s`, `cron 0 */5 * * * *`, `manual`).
pub fn schedule_human(spec: &Value) -> String {
    let schedule = &spec["schedule"];
    match schedule["type"].as_str() {
        Some("interval") => format!("every {}s", schedule["seconds"]),
        Some("cron") => {
            let expression = schedule["expression"].as_str().unwrap_or("?");
            match schedule["timezone"].as_str() {
                Some(tz) if tz != "UTC" => format!("cron {expression} ({tz})"),
                _ => format!("cron {expression}"),
            }
        }
        Some("once") => format!("once at {}", schedule["at"].as_str().unwrap_or("?")),
        Some(other) => other.to_owned(),
        None => "-".to_owned(),
    }
}

/// A JSON value as a table cell: strings bare, everything else as compact JSON.
pub fn value_cell(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns_and_trim_line_ends() {
        let mut table = Table::new(["ID", "NAME"]);
        table.row(["1", "core"]);
        table.row(["200", "é"]);
        assert_eq!(table.render(), "ID   NAME\n1    core\n200  é\n");
    }

    #[test]
    fn csv_quotes_only_what_needs_it() {
        assert_eq!(
            csv_record(["a", "b,c", "say \"hi\"", ""]),
            "a,\"b,c\",\"say \"\"hi\"\"\",\r\n"
        );
        assert_eq!(csv_record(["line\nbreak"]), "\"line\nbreak\"\r\n");
    }

    #[test]
    fn cells_lose_control_characters_and_are_capped() {
        assert_eq!(cell("a\nb\tc", 10), "a b c");
        assert_eq!(cell("abcdef", 4), "abc…");
    }

    #[test]
    fn enums_read_as_words_and_unknown_numbers_survive() {
        assert_eq!(run_status(v1::RunStatus::Cancelled.into()), "cancelled");
        assert_eq!(result_status(v1::ResultStatus::Timeout.into()), "timeout");
        assert_eq!(run_trigger(v1::RunTrigger::CatchUp.into()), "catch_up");
        assert_eq!(run_status(42), "unknown(42)");
        assert_eq!(scan_state(v1::ScanState::Completed.into()), "completed");
        assert_eq!(group_kind(v1::GroupKind::Dynamic.into()), "dynamic");
    }

    #[test]
    fn devices_read_with_their_attributes_inlined() {
        let device = v1::Device {
            address: "10.0.0.1".to_owned(),
            hostname: Some("core-sw1".to_owned()),
            tags: vec!["core".to_owned()],
            attributes_json: r#"{"vendor":"Cisco","open_ports":[22]}"#.to_owned(),
            ..Default::default()
        };
        let value = device_json(&device);
        assert_eq!(value["attributes"]["open_ports"], json!([22]));
        assert_eq!(value["hostname"], "core-sw1");
        assert_eq!(value["segment"], Value::Null);
        let bare = v1::Device::default();
        assert_eq!(device_json(&bare)["attributes"], json!({}));
    }

    #[test]
    fn diffs_read_as_the_rest_api_shapes_them() {
        let diff = v1::ScanDiff {
            scan_id: "s".to_owned(),
            new_hosts: vec!["10.0.0.5".to_owned()],
            changed_hosts: vec![v1::ChangedHost {
                address: "10.0.0.1".to_owned(),
                changes: vec![v1::AttributeChange {
                    field: "open_ports".to_owned(),
                    before_json: "[22]".to_owned(),
                    after_json: String::new(),
                }],
            }],
            ..Default::default()
        };
        assert_eq!(
            diff_json(&diff),
            json!({"scan_id": "s", "previous_scan_id": null, "new": ["10.0.0.5"],
                   "changed": [{"address": "10.0.0.1", "changes": [
                       {"field": "open_ports", "before": [22], "after": null}]}],
                   "gone": []})
        );
    }

    #[test]
    fn times_print_in_utc() {
        let t = prost_types::Timestamp {
            seconds: 1_775_044_805,
            nanos: 500_000_000,
        };
        assert_eq!(time_human(Some(&t)), "2026-04-01 12:00:05");
        assert_eq!(time_rfc3339(Some(&t)), json!("2026-04-01T12:00:05.500Z"));
        assert_eq!(time_human(None), "-");
        let bad = prost_types::Timestamp {
            seconds: 0,
            nanos: -1,
        };
        assert_eq!(time_rfc3339(Some(&bad)), Value::Null);
    }

    #[test]
    fn schedules_read_as_words() {
        assert_eq!(
            schedule_human(&json!({"schedule": {"type": "interval", "seconds": 60}})),
            "every 60s"
        );
        assert_eq!(
            schedule_human(
                &json!({"schedule": {"type": "cron", "expression": "0 * * * *",
                "timezone": "Europe/Berlin"}})
            ),
            "cron 0 * * * * (Europe/Berlin)"
        );
        assert_eq!(
            schedule_human(&json!({"schedule": {"type": "manual"}})),
            "manual"
        );
    }
}
