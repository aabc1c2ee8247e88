//! `occtl scan start | list | show | diff | cancel`.
//!
//! `scan start` turns its options into a scan request (the JSON `POST /api/v1/scans`
//! takes; the controller checks it). With `--wait` it prints the scan's id, follows
//! `WatchScan` with a progress line on stderr (as `run --watch` does) and prints the final
//! counts; the exit status is 0 only if the scan completed.

use std::process::ExitCode;

use opsconductor_proto::v1;
use serde_json::{Map, Value, json};

use crate::cli::{ScanCommand, ScanStartArgs};
use crate::client::{Ctx, call, print, print_json, println};
use crate::progress::{self, Progress};
use crate::render::{self, Table};

/// Largest page the API serves.
const MAX_PAGE: u32 = 1000;

/// The scan request `args` describe.
pub fn scan_spec(args: &ScanStartArgs) -> Value {
    let mut profile = Map::new();
    if args.no_ping {
        profile.insert("ping".into(), json!(false));
    }
    if !args.ports.is_empty() {
        profile.insert("tcp_ports".into(), json!(args.ports));
    }
    let snmp_wanted = args.snmp_community.is_some()
        || args.snmp_credential.is_some()
        || args.snmp_version.is_some()
        || args.snmp_port.is_some();
    if snmp_wanted {
        let mut snmp = Map::new();
        if let Some(credential) = &args.snmp_credential {
            snmp.insert("credential".into(), json!(credential));
        }
        if let Some(community) = &args.snmp_community {
            snmp.insert("community".into(), json!(community));
        }
        if let Some(version) = &args.snmp_version {
            snmp.insert("version".into(), json!(version));
        }
        if let Some(port) = args.snmp_port {
            snmp.insert("port".into(), json!(port));
        }
        profile.insert("snmp".into(), Value::Object(snmp));
    }
    if let Some(port) = args.ssh_port {
        profile.insert("ssh_port".into(), json!(port));
    }
    let web: Vec<Value> = args
        .http
        .iter()
        .map(|port| json!({"scheme": "http", "port": port}))
        .chain(
            args.https
                .iter()
                .map(|port| json!({"scheme": "https", "port": port})),
        )
        .collect();
    if !web.is_empty() {
        profile.insert("web".into(), Value::from(web));
    }
    let include: Vec<Value> = args
        .ranges
        .iter()
        .map(|range| json!({"type": "range", "value": range}))
        .collect();
    let mut targets = json!({"include": include});
    if !args.exclude.is_empty() {
        targets["exclude"] = json!(args.exclude);
    }
    let mut spec = json!({"targets": targets, "profile": profile});
    if let Some(name) = &args.name {
        spec["name"] = json!(name);
    }
    spec
}

/// Runs one `scan` subcommand.
pub async fn run(ctx: &Ctx, command: ScanCommand) -> anyhow::Result<ExitCode> {
    match command {
        ScanCommand::Start(args) => start(ctx, &args).await,
        ScanCommand::List { limit } => list(ctx, limit).await,
        ScanCommand::Show { id } => {
            let scan = ctx
                .inventory()
                .get_scan(call(v1::GetScanRequest { id }))
                .await
                .map_err(|s| ctx.failed(&s))?
                .into_inner();
            show(ctx, &scan)
        }
        ScanCommand::Cancel { id } => {
            let scan = ctx
                .inventory()
                .cancel_scan(call(v1::CancelScanRequest { id }))
                .await
                .map_err(|s| ctx.failed(&s))?
                .into_inner();
            show(ctx, &scan)
        }
        ScanCommand::Diff { id } => diff(ctx, id).await,
    }
}

async fn start(ctx: &Ctx, args: &ScanStartArgs) -> anyhow::Result<ExitCode> {
    let scan = ctx
        .inventory()
        .start_scan(call(v1::StartScanRequest {
            spec_json: scan_spec(args).to_string(),
        }))
        .await
        .map_err(|s| ctx.failed(&s))?
        .into_inner();
    if args.wait {
        if !ctx.json() {
            // First, so the user knows what to cancel while it runs.
            println(&started(&scan))?;
        }
        return wait(ctx, scan).await;
    }
    if ctx.json() {
        print_json(&render::scan_json(&scan))?;
    } else {
        println(&started(&scan))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn started(scan: &v1::Scan) -> String {
    format!(
        "started scan {} {:?} ({} addresses)",
        scan.id, scan.label, scan.targets
    )
}

/// Follows `scan` until it no longer runs; exit status 0 only if it completed.
async fn wait(ctx: &Ctx, scan: v1::Scan) -> anyhow::Result<ExitCode> {
    let mut stream = ctx
        .inventory()
        .watch_scan(v1::WatchScanRequest {
            id: scan.id.clone(),
        })
        .await
        .map_err(|s| ctx.failed(&s))?
        .into_inner();
    let mut progress = Progress::new(ctx.json());
    // The stream starts with the scan as it is now, so nothing is shown before it.
    let mut last = scan;
    loop {
        match stream.message().await {
            Ok(Some(message)) => {
                if let Some(scan) = message.scan {
                    progress.show(&progress_line(&scan), &render::scan_json(&scan))?;
                    last = scan;
                }
            }
            Ok(None) => break,
            Err(status) => {
                progress.finish();
                return Err(ctx.failed(&status));
            }
        }
    }
    progress.finish();
    if !ctx.json() {
        println(&finished(&last))?;
    }
    Ok(match last.state() {
        v1::ScanState::Completed => ExitCode::SUCCESS,
        // Cancelled, failed, or the stream ended before the scan did: not a success.
        _ => ExitCode::FAILURE,
    })
}

/// `running    [######------------------] 64/254 probed  alive 12  identified 3`
fn progress_line(scan: &v1::Scan) -> String {
    let c = render::scan_counts(scan);
    format!(
        "{:<10} {} {}/{} probed  alive {}  identified {}",
        render::scan_state(scan.state),
        progress::bar(scan.results_done, scan.results_total),
        c.probed,
        scan.targets,
        c.alive,
        c.identified
    )
}

/// `scan ID completed: probed 254  alive 12  identified 3  new 2  changed 1  gone 0`
fn finished(scan: &v1::Scan) -> String {
    let reason = scan
        .reason
        .as_deref()
        .map(|r| format!(" ({r})"))
        .unwrap_or_default();
    format!(
        "scan {} {}: {}{reason}",
        scan.id,
        render::scan_state(scan.state),
        render::scan_counts_human(&render::scan_counts(scan))
    )
}

async fn list(ctx: &Ctx, limit: u32) -> anyhow::Result<ExitCode> {
    let mut client = ctx.inventory();
    let mut scans = Vec::new();
    let mut cursor = String::new();
    while scans.len() < limit as usize {
        let want = limit.saturating_sub(u32::try_from(scans.len()).unwrap_or(u32::MAX));
        let page = client
            .list_scans(call(v1::ListScansRequest {
                cursor,
                limit: want.clamp(1, MAX_PAGE),
            }))
            .await
            .map_err(|s| ctx.failed(&s))?
            .into_inner();
        scans.extend(page.scans);
        if page.next_cursor.is_empty() {
            break;
        }
        cursor = page.next_cursor;
    }
    scans.truncate(limit as usize);
    if ctx.json() {
        print_json(&Value::from(
            scans.iter().map(render::scan_json).collect::<Vec<_>>(),
        ))?;
        return Ok(ExitCode::SUCCESS);
    }
    if scans.is_empty() {
        println("no scans")?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = Table::new([
        "ID", "LABEL", "STATE", "TARGETS", "ALIVE", "NEW", "CHANGED", "GONE", "STARTED",
    ]);
    for scan in &scans {
        let c = render::scan_counts(scan);
        table.row([
            scan.id.clone(),
            render::cell(&scan.label, 40),
            render::scan_state(scan.state),
            scan.targets.to_string(),
            c.alive.to_string(),
            c.new.to_string(),
            c.changed.to_string(),
            c.gone.to_string(),
            render::time_human(scan.created_at.as_ref()),
        ]);
    }
    print(&table.render())?;
    Ok(ExitCode::SUCCESS)
}

fn show(ctx: &Ctx, scan: &v1::Scan) -> anyhow::Result<ExitCode> {
    if ctx.json() {
        print_json(&render::scan_json(scan))?;
    } else {
        print(&describe(scan)?)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// A scan as `key: value` lines, then its request.
fn describe(scan: &v1::Scan) -> anyhow::Result<String> {
    let dash = || "-".to_owned();
    let mut text = String::new();
    for (key, value) in [
        ("id", scan.id.clone()),
        ("label", scan.label.clone()),
        ("state", render::scan_state(scan.state)),
        (
            "progress",
            format!(
                "{}/{} results ({} addresses)",
                scan.results_done, scan.results_total, scan.targets
            ),
        ),
        (
            "counts",
            render::scan_counts_human(&render::scan_counts(scan)),
        ),
        ("run", scan.run_id.clone()),
        (
            "previous",
            scan.previous_scan_id.clone().unwrap_or_else(dash),
        ),
        ("by", scan.created_by.clone().unwrap_or_else(dash)),
        ("started", render::time_human(scan.created_at.as_ref())),
        ("finished", render::time_human(scan.finished_at.as_ref())),
        ("reason", scan.reason.clone().unwrap_or_else(dash)),
    ] {
        text.push_str(&format!("{:<10}{value}\n", format!("{key}:")));
    }
    text.push_str("request:\n");
    text.push_str(&serde_json::to_string_pretty(&render::inline_json(
        &scan.spec_json,
    ))?);
    text.push('\n');
    Ok(text)
}

async fn diff(ctx: &Ctx, id: String) -> anyhow::Result<ExitCode> {
    let diff = ctx
        .inventory()
        .get_scan_diff(call(v1::GetScanDiffRequest { id }))
        .await
        .map_err(|s| ctx.failed(&s))?
        .into_inner();
    if ctx.json() {
        print_json(&render::diff_json(&diff))?;
    } else {
        print(&diff_human(&diff))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// A diff as sections of addresses; each change as `field: before → after`.
fn diff_human(diff: &v1::ScanDiff) -> String {
    let mut text = match &diff.previous_scan_id {
        Some(previous) => format!("scan {} against scan {previous}\n", diff.scan_id),
        None => format!(
            "scan {}: the first of its range, every host is new\n",
            diff.scan_id
        ),
    };
    text.push_str(&format!("new: {}\n", diff.new_hosts.len()));
    for address in &diff.new_hosts {
        text.push_str(&format!("  {address}\n"));
    }
    text.push_str(&format!("changed: {}\n", diff.changed_hosts.len()));
    for host in &diff.changed_hosts {
        text.push_str(&format!("  {}\n", host.address));
        for change in &host.changes {
            let value = |json: &str| {
                if json.is_empty() {
                    "-".to_owned()
                } else {
                    render::cell(&render::value_cell(&render::inline_json(json)), 80)
                }
            };
            text.push_str(&format!(
                "    {}: {} → {}\n",
                change.field,
                value(&change.before_json),
                value(&change.after_json)
            ));
        }
    }
    text.push_str(&format!("gone: {}\n", diff.gone_hosts.len()));
    for address in &diff.gone_hosts {
        text.push_str(&format!("  {address}\n"));
    }
    text
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;
    use crate::cli::{Cli, Command};

    fn start_args(args: &[&str]) -> ScanStartArgs {
        let argv = ["occtl", "scan", "start"].iter().chain(args);
        match Cli::try_parse_from(argv).map(|cli| cli.command) {
            Ok(Command::Scan(ScanCommand::Start(args))) => *args,
            other => panic!("a scan start: {other:?}"),
        }
    }

    #[test]
    fn a_bare_range_makes_a_ping_only_scan() {
        let spec = scan_spec(&start_args(&["10.0.0.0/24"]));
        assert_eq!(
            spec,
            json!({"targets": {"include": [{"type": "range", "value": "10.0.0.0/24"}]},
                   "profile": {}})
        );
    }

    #[test]
    fn every_option_lands_in_the_scan_request() {
        let args = start_args(&[
            "10.0.0.0/24",
            "10.0.1.1-50",
            "--exclude",
            "10.0.0.1",
            "--exclude",
            "10.0.0.254",
            "--name",
            "lab",
            "--no-ping",
            "--port",
            "22",
            "--port",
            "443",
            "--snmp-credential",
            "0190c8a4-0000-7000-8000-000000000001",
            "--snmp-version",
            "3",
            "--snmp-port",
            "1161",
            "--ssh-port",
            "2222",
            "--http",
            "80",
            "--http",
            "8080",
            "--https",
            "443",
            "--wait",
        ]);
        assert!(args.wait);
        assert_eq!(
            scan_spec(&args),
            json!({
                "name": "lab",
                "targets": {
                    "include": [{"type": "range", "value": "10.0.0.0/24"},
                                {"type": "range", "value": "10.0.1.1-50"}],
                    "exclude": ["10.0.0.1", "10.0.0.254"],
                },
                "profile": {
                    "ping": false,
                    "tcp_ports": [22, 443],
                    "snmp": {"credential": "0190c8a4-0000-7000-8000-000000000001",
                             "version": "3", "port": 1161},
                    "ssh_port": 2222,
                    "web": [{"scheme": "http", "port": 80}, {"scheme": "http", "port": 8080},
                            {"scheme": "https", "port": 443}],
                },
            })
        );
    }

    #[test]
    fn any_snmp_option_turns_snmp_on() {
        let spec = scan_spec(&start_args(&["10.0.0.1", "--snmp-community", "lab"]));
        assert_eq!(spec["profile"]["snmp"], json!({"community": "lab"}));
        let spec = scan_spec(&start_args(&["10.0.0.1", "--snmp-port", "16161"]));
        assert_eq!(spec["profile"]["snmp"], json!({"port": 16161}));
        let spec = scan_spec(&start_args(&["10.0.0.1", "--port", "22"]));
        assert_eq!(spec["profile"].get("snmp"), None);
    }

    #[test]
    fn progress_and_the_end_read_as_counts() {
        let scan = v1::Scan {
            id: "s1".to_owned(),
            state: v1::ScanState::Running.into(),
            targets: 4,
            results_done: 4,
            results_total: 8,
            counts: Some(v1::ScanCounts {
                probed: 2,
                alive: 1,
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(
            progress_line(&scan),
            format!(
                "running    [{}{}] 2/4 probed  alive 1  identified 0",
                "#".repeat(12),
                "-".repeat(12)
            )
        );
        let done = v1::Scan {
            state: v1::ScanState::Cancelled.into(),
            reason: Some("scan cancelled by a user".to_owned()),
            ..scan
        };
        assert_eq!(
            finished(&done),
            "scan s1 cancelled: probed 2  alive 1  identified 0  new 0  changed 0  gone 0 \
             (scan cancelled by a user)"
        );
    }

    #[test]
    fn a_diff_lists_each_section_with_its_changes() {
        let diff = v1::ScanDiff {
            scan_id: "s2".to_owned(),
            previous_scan_id: Some("s1".to_owned()),
            new_hosts: vec!["10.0.0.5".to_owned()],
            changed_hosts: vec![v1::ChangedHost {
                address: "10.0.0.1".to_owned(),
                changes: vec![v1::AttributeChange {
                    field: "ssh_banner".to_owned(),
                    before_json: "\"SSH-2.0-OpenSSH_9.2\"".to_owned(),
                    after_json: String::new(),
                }],
            }],
            gone_hosts: vec![],
        };
        assert_eq!(
            diff_human(&diff),
            "scan s2 against scan s1\nnew: 1\n  10.0.0.5\nchanged: 1\n  10.0.0.1\n    \
             ssh_banner: SSH-2.0-OpenSSH_9.2 → -\ngone: 0\n"
        );
    }
}
