//! `occtl results --run ID | --job ID` as a table, JSON or CSV. Pages are followed until
//! `--limit` results are read or there are no more.

use std::process::ExitCode;

use opsconductor_proto::v1;
use serde_json::Value;

use crate::cli::{ResultStatusArg, ResultsArgs, ResultsFormat};
use crate::client::{Ctx, call, print, print_json, println};
use crate::render::{self, Table, csv_record};

/// Largest page the API serves.
const MAX_PAGE: u32 = 1000;

/// Runs `results`.
pub async fn run(ctx: &Ctx, args: ResultsArgs) -> anyhow::Result<ExitCode> {
    let format = args.format.unwrap_or(if ctx.json() {
        ResultsFormat::Json
    } else {
        ResultsFormat::Table
    });
    let status = args
        .status
        .map_or(v1::ResultStatus::Unspecified, |s| match s {
            ResultStatusArg::Ok => v1::ResultStatus::Ok,
            ResultStatusArg::Warn => v1::ResultStatus::Warn,
            ResultStatusArg::Fail => v1::ResultStatus::Fail,
            ResultStatusArg::Error => v1::ResultStatus::Error,
            ResultStatusArg::Timeout => v1::ResultStatus::Timeout,
        });
    let from = args
        .from
        .as_deref()
        .map(|t| timestamp("--from", t))
        .transpose()?;
    let to = args
        .to
        .as_deref()
        .map(|t| timestamp("--to", t))
        .transpose()?;
    let mut client = ctx.jobs();
    let mut results = Vec::new();
    let mut cursor = String::new();
    while results.len() < args.limit as usize {
        let want = args
            .limit
            .saturating_sub(u32::try_from(results.len()).unwrap_or(u32::MAX));
        let page = client
            .list_results(call(v1::ListResultsRequest {
                run_id: args.run.clone(),
                job_id: args.job.clone(),
                target: args.target.clone(),
                status: status.into(),
                from,
                to,
                cursor,
                limit: want.clamp(1, MAX_PAGE),
            }))
            .await
            .map_err(|s| ctx.failed(&s))?
            .into_inner();
        results.extend(page.items);
        if page.next_cursor.is_empty() {
            break;
        }
        cursor = page.next_cursor;
    }
    results.truncate(args.limit as usize);
    match format {
        ResultsFormat::Json => {
            print_json(&Value::from(
                results.iter().map(render::result_json).collect::<Vec<_>>(),
            ))?;
        }
        ResultsFormat::Csv => print(&csv(&results))?,
        ResultsFormat::Table if results.is_empty() => println("no results")?,
        ResultsFormat::Table => print(&table(&results))?,
    }
    Ok(ExitCode::SUCCESS)
}

fn timestamp(flag: &str, text: &str) -> anyhow::Result<prost_types::Timestamp> {
    let t = chrono::DateTime::parse_from_rfc3339(text).map_err(|e| {
        anyhow::anyhow!("{flag} {text:?}: not an RFC 3339 time like 2026-04-01T00:00:00Z ({e})")
    })?;
    Ok(prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: i32::try_from(t.timestamp_subsec_nanos()).unwrap_or(0),
    })
}

/// Fields as `key=value` pairs, for a table cell.
fn fields_summary(fields_json: &str) -> String {
    match render::inline_json(fields_json) {
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| format!("{k}={}", render::value_cell(v)))
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

fn table(results: &[v1::StoredResult]) -> String {
    let mut table = Table::new([
        "STARTED", "TARGET", "ACTION", "STATUS", "MS", "RUN", "DETAIL",
    ]);
    for r in results {
        let detail = r
            .reason
            .clone()
            .unwrap_or_else(|| fields_summary(&r.fields_json));
        table.row([
            render::time_human(r.started_at.as_ref()),
            render::cell(&r.target, 40),
            r.action_index.to_string(),
            render::result_status(r.status),
            format!("{:.1}", r.duration_ms),
            r.run_id.clone(),
            render::cell(&detail, 80),
        ]);
    }
    table.render()
}

fn csv(results: &[v1::StoredResult]) -> String {
    let mut out = csv_record([
        "run_id",
        "job_id",
        "target",
        "action_index",
        "status",
        "started_at",
        "duration_ms",
        "reason",
        "fields",
    ]);
    for r in results {
        out.push_str(&csv_record([
            r.run_id.clone(),
            r.job_id.clone(),
            r.target.clone(),
            r.action_index.to_string(),
            render::result_status(r.status),
            render::value_cell(&render::time_rfc3339(r.started_at.as_ref())),
            r.duration_ms.to_string(),
            r.reason.clone().unwrap_or_default(),
            r.fields_json.clone(),
        ]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_on_the_command_line_must_be_rfc3339() {
        let t = timestamp("--from", "2026-04-01T12:00:05+02:00").expect("parses");
        assert_eq!(t.seconds, 1_775_037_605);
        let err = timestamp("--to", "yesterday").expect_err("refused");
        assert!(err.to_string().contains("--to"), "{err}");
    }

    #[test]
    fn csv_has_a_header_and_quotes_fields_json() {
        let r = v1::StoredResult {
            run_id: "r".into(),
            job_id: "j".into(),
            target: "10.0.0.1".into(),
            status: v1::ResultStatus::Ok.into(),
            fields_json: r#"{"a":1,"b":2}"#.into(),
            ..Default::default()
        };
        let text = csv(&[r]);
        let lines: Vec<&str> = text.split("\r\n").collect();
        assert!(lines[0].starts_with("run_id,job_id,target"));
        assert!(
            lines[1].ends_with(r#","{""a"":1,""b"":2}""#),
            "{}",
            lines[1]
        );
    }
}
