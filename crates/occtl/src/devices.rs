//! `occtl devices list | show | tag | import`.

use std::path::Path;
use std::process::ExitCode;

use opsconductor_proto::v1;
use serde_json::{Value, json};

use crate::cli::{DevicesCommand, ImportFormat};
use crate::client::{Ctx, call, print, print_json, println, read_input};
use crate::render::{self, Table};

/// Devices asked for per page.
const PAGE: u32 = 1000;

/// Runs one `devices` subcommand.
pub async fn run(ctx: &Ctx, command: DevicesCommand) -> anyhow::Result<ExitCode> {
    match command {
        DevicesCommand::List {
            filter,
            search,
            tag,
            limit,
        } => {
            let query = v1::ListDevicesRequest {
                filter,
                search,
                tag,
                ..Default::default()
            };
            list(ctx, query, limit).await
        }
        DevicesCommand::Show { address } => show(ctx, address).await,
        DevicesCommand::Tag {
            addresses,
            add,
            remove,
        } => tag(ctx, addresses, add, remove).await,
        DevicesCommand::Import {
            file,
            format,
            dry_run,
        } => {
            let format = import_format(&file, format)?;
            import(ctx, &file, format, dry_run).await
        }
    }
}

async fn list(
    ctx: &Ctx,
    query: v1::ListDevicesRequest,
    limit: Option<u32>,
) -> anyhow::Result<ExitCode> {
    let limit = limit.map_or(usize::MAX, |n| n as usize);
    let mut client = ctx.inventory();
    let mut devices = Vec::new();
    let mut cursor = String::new();
    while devices.len() < limit {
        let want = u32::try_from(limit - devices.len()).unwrap_or(PAGE);
        let page = client
            .list_devices(call(v1::ListDevicesRequest {
                cursor,
                limit: want.clamp(1, PAGE),
                ..query.clone()
            }))
            .await
            .map_err(|s| ctx.failed(&s))?
            .into_inner();
        devices.extend(page.devices);
        if page.next_cursor.is_empty() {
            break;
        }
        cursor = page.next_cursor;
    }
    devices.truncate(limit);
    if ctx.json() {
        print_json(&Value::from(
            devices.iter().map(render::device_json).collect::<Vec<_>>(),
        ))?;
    } else if devices.is_empty() {
        println("no devices")?;
    } else {
        print(&table(&devices))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Devices as a table: what identifies them at a glance.
fn table(devices: &[v1::Device]) -> String {
    let mut table = Table::new([
        "ADDRESS",
        "HOSTNAME",
        "VENDOR",
        "MODEL",
        "OS",
        "SEGMENT",
        "TAGS",
        "LAST SEEN",
    ]);
    for d in devices {
        let attributes = render::device_attributes(d);
        let text = |key: &str| render::cell(&render::value_cell(&attributes[key]), 30);
        table.row([
            d.address.clone(),
            render::cell(d.hostname.as_deref().unwrap_or(""), 30),
            text("vendor"),
            text("model"),
            text("os"),
            d.segment.clone().unwrap_or_default(),
            render::cell(&d.tags.join(","), 40),
            render::time_human(d.last_seen.as_ref()),
        ]);
    }
    table.render()
}

async fn show(ctx: &Ctx, address: String) -> anyhow::Result<ExitCode> {
    let device = ctx
        .inventory()
        .get_device(call(v1::GetDeviceRequest { address }))
        .await
        .map_err(|s| ctx.failed(&s))?
        .into_inner();
    if ctx.json() {
        print_json(&render::device_json(&device))?;
    } else {
        print(&describe(&device))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// A device as `key: value` lines, then what scans learned, one attribute a line.
fn describe(d: &v1::Device) -> String {
    let dash = || "-".to_owned();
    let mut text = String::new();
    for (key, value) in [
        ("address", d.address.clone()),
        ("hostname", d.hostname.clone().unwrap_or_else(dash)),
        ("segment", d.segment.clone().unwrap_or_else(dash)),
        (
            "tags",
            if d.tags.is_empty() {
                dash()
            } else {
                d.tags.join(", ")
            },
        ),
        ("first seen", render::time_human(d.first_seen.as_ref())),
        ("last seen", render::time_human(d.last_seen.as_ref())),
        ("last scan", d.last_scan_id.clone().unwrap_or_else(dash)),
        (
            "notes",
            if d.notes.is_empty() {
                dash()
            } else {
                render::cell(&d.notes, 200)
            },
        ),
    ] {
        text.push_str(&format!("{:<12}{value}\n", format!("{key}:")));
    }
    let attributes = render::device_attributes(d);
    match attributes.as_object() {
        Some(map) if !map.is_empty() => {
            text.push_str("attributes:\n");
            let width = map.keys().map(String::len).max().unwrap_or(0);
            for (key, value) in map {
                let value = render::cell(&render::value_cell(value), 100);
                text.push_str(&format!("  {key:<width$}  {value}\n"));
            }
        }
        _ => text.push_str("attributes: -\n"),
    }
    text
}

async fn tag(
    ctx: &Ctx,
    addresses: Vec<String>,
    add_tags: Vec<String>,
    remove_tags: Vec<String>,
) -> anyhow::Result<ExitCode> {
    let asked = addresses.len();
    let affected = ctx
        .inventory()
        .tag_devices(call(v1::TagDevicesRequest {
            addresses,
            add_tags,
            remove_tags,
        }))
        .await
        .map_err(|s| ctx.failed(&s))?
        .into_inner()
        .affected;
    if ctx.json() {
        print_json(&json!({"affected": affected}))?;
    } else {
        let unknown = (asked as u64).saturating_sub(affected);
        let note = if unknown > 0 {
            format!(" ({unknown} not in the inventory)")
        } else {
            String::new()
        };
        println(&format!("tagged {affected} of {asked} devices{note}"))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The format of `file`: `--format` when given, else its extension.
fn import_format(file: &Path, format: Option<ImportFormat>) -> anyhow::Result<ImportFormat> {
    if let Some(format) = format {
        return Ok(format);
    }
    let extension = file
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match extension.as_deref() {
        Some("csv") => Ok(ImportFormat::Csv),
        Some("json") => Ok(ImportFormat::Json),
        _ => anyhow::bail!(
            "cannot tell the format of {} from its name: give --format csv or --format json",
            file.display()
        ),
    }
}

async fn import(
    ctx: &Ctx,
    file: &Path,
    format: ImportFormat,
    dry_run: bool,
) -> anyhow::Result<ExitCode> {
    let text = read_input(file)?;
    let report = ctx
        .inventory()
        .import_devices(call(v1::ImportDevicesRequest {
            text,
            format: match format {
                ImportFormat::Csv => "csv",
                ImportFormat::Json => "json",
            }
            .to_owned(),
            dry_run,
        }))
        .await
        .map_err(|s| ctx.failed(&s))?
        .into_inner();
    if ctx.json() {
        let problems: Vec<Value> = report
            .problems
            .iter()
            .map(|p| json!({"line": p.line, "field": p.field, "message": p.message}))
            .collect();
        print_json(&json!({
            "created": report.created,
            "updated": report.updated,
            "rejected": report.rejected,
            "dry_run": report.dry_run,
            "problems": problems,
        }))?;
    } else {
        print(&import_human(&file.display().to_string(), &report))?;
    }
    Ok(if report.rejected == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `imported FILE: 3 created, 1 updated, 1 rejected` and a line per problem.
fn import_human(name: &str, report: &v1::ImportDevicesResponse) -> String {
    let mut text = if report.dry_run {
        format!(
            "checked {name} (dry run, nothing written): {} rejected\n",
            report.rejected
        )
    } else {
        format!(
            "imported {name}: {} created, {} updated, {} rejected\n",
            report.created, report.updated, report.rejected
        )
    };
    for p in &report.problems {
        let field = if p.field.is_empty() {
            String::new()
        } else {
            format!(", {}", p.field)
        };
        text.push_str(&format!(
            "  line {}{field}: {}\n",
            p.line,
            render::cell(&p.message, 200)
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_format_comes_from_the_extension_unless_given() {
        let format = |name: &str, given| import_format(Path::new(name), given).ok();
        assert_eq!(format("inv.csv", None), Some(ImportFormat::Csv));
        assert_eq!(format("INV.JSON", None), Some(ImportFormat::Json));
        assert_eq!(format("inv.txt", None), None);
        assert_eq!(format("-", None), None);
        assert_eq!(
            format("-", Some(ImportFormat::Json)),
            Some(ImportFormat::Json)
        );
    }

    #[test]
    fn devices_tabulate_their_identity() {
        let device = v1::Device {
            address: "10.0.0.1".to_owned(),
            hostname: Some("core-sw1".to_owned()),
            segment: Some("default".to_owned()),
            tags: vec!["core".to_owned(), "lab".to_owned()],
            attributes_json: r#"{"vendor":"Cisco","os":"IOS XE"}"#.to_owned(),
            ..Default::default()
        };
        let text = table(&[device]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "ADDRESS   HOSTNAME  VENDOR  MODEL  OS      SEGMENT  TAGS      LAST SEEN"
        );
        assert_eq!(
            lines[1],
            "10.0.0.1  core-sw1  Cisco          IOS XE  default  core,lab  -"
        );
    }

    #[test]
    fn an_import_report_lists_each_problem_by_line() {
        let report = v1::ImportDevicesResponse {
            created: 2,
            updated: 1,
            rejected: 1,
            problems: vec![v1::ImportProblem {
                line: 4,
                field: "address".to_owned(),
                message: "\"x\" is not an IPv4 or IPv6 address".to_owned(),
            }],
            dry_run: false,
        };
        assert_eq!(
            import_human("inv.csv", &report),
            "imported inv.csv: 2 created, 1 updated, 1 rejected\n  line 4, address: \"x\" is \
             not an IPv4 or IPv6 address\n"
        );
    }
}
