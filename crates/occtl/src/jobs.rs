//! `occtl jobs create | list | show | delete`.

use std::process::ExitCode;

use opsconductor_proto::v1;
use serde_json::Value;

use crate::cli::JobsCommand;
use crate::client::{Ctx, call, print, print_json, println, read_input};
use crate::render::{self, Table};

/// Runs one `jobs` subcommand.
pub async fn run(ctx: &Ctx, command: JobsCommand) -> anyhow::Result<ExitCode> {
    match command {
        JobsCommand::Create { file } => create(ctx, &read_input(&file)?).await,
        JobsCommand::List {
            text,
            tag,
            enabled,
            disabled,
        } => {
            let enabled = match (enabled, disabled) {
                (true, _) => Some(true),
                (_, true) => Some(false),
                _ => None,
            };
            list(ctx, text, tag, enabled).await
        }
        JobsCommand::Show { id } => show(ctx, id).await,
        JobsCommand::Delete {
            id,
            expected_version,
        } => delete(ctx, id, expected_version).await,
    }
}

async fn create(ctx: &Ctx, spec_json: &str) -> anyhow::Result<ExitCode> {
    let job = ctx
        .jobs()
        .create_job(call(v1::CreateJobRequest {
            spec_json: spec_json.to_owned(),
        }))
        .await
        .map_err(|s| ctx.failed(&s))?
        .into_inner();
    if ctx.json() {
        print_json(&render::job_json(&job))?;
    } else {
        println(&format!(
            "created job {} {:?} (version {})",
            job.id, job.name, job.version
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}

async fn list(
    ctx: &Ctx,
    text: Option<String>,
    tag: Option<String>,
    enabled: Option<bool>,
) -> anyhow::Result<ExitCode> {
    let mut client = ctx.jobs();
    let mut items = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = client
            .list_jobs(call(v1::ListJobsRequest {
                text: text.clone(),
                tag: tag.clone(),
                enabled,
                cursor,
                limit: 0,
            }))
            .await
            .map_err(|s| ctx.failed(&s))?
            .into_inner();
        items.extend(page.items);
        if page.next_cursor.is_empty() {
            break;
        }
        cursor = page.next_cursor;
    }
    if ctx.json() {
        let jobs: Vec<Value> = items
            .iter()
            .map(|item| {
                let mut job = item.job.as_ref().map_or(Value::Null, render::job_json);
                job["last_run"] = item.last_run.as_ref().map_or(Value::Null, render::run_json);
                job
            })
            .collect();
        print_json(&Value::from(jobs))?;
        return Ok(ExitCode::SUCCESS);
    }
    if items.is_empty() {
        println("no jobs")?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = Table::new([
        "ID", "NAME", "ENABLED", "VERSION", "SCHEDULE", "LAST RUN", "STARTED",
    ]);
    for item in &items {
        let Some(job) = &item.job else { continue };
        let spec = render::inline_json(&job.spec_json);
        let (last, at) = item.last_run.as_ref().map_or_else(
            || ("-".to_owned(), "-".to_owned()),
            |r| {
                (
                    render::run_status(r.status),
                    render::time_human(r.created_at.as_ref()),
                )
            },
        );
        table.row([
            job.id.clone(),
            render::cell(&job.name, 40),
            yes_no(job.enabled).to_owned(),
            job.version.to_string(),
            render::cell(&render::schedule_human(&spec), 30),
            last,
            at,
        ]);
    }
    print(&table.render())?;
    Ok(ExitCode::SUCCESS)
}

async fn show(ctx: &Ctx, id: String) -> anyhow::Result<ExitCode> {
    let job = ctx
        .jobs()
        .get_job(call(v1::GetJobRequest { id }))
        .await
        .map_err(|s| ctx.failed(&s))?
        .into_inner();
    if ctx.json() {
        print_json(&render::job_json(&job))?;
        return Ok(ExitCode::SUCCESS);
    }
    let spec = render::inline_json(&job.spec_json);
    let tags = if job.tags.is_empty() {
        "-".to_owned()
    } else {
        job.tags.join(", ")
    };
    let mut text = String::new();
    for (key, value) in [
        ("id", job.id.clone()),
        ("name", job.name.clone()),
        ("version", job.version.to_string()),
        ("enabled", yes_no(job.enabled).to_owned()),
        ("schedule", render::schedule_human(&spec)),
        ("tags", tags),
        ("created", render::time_human(job.created_at.as_ref())),
        ("updated", render::time_human(job.updated_at.as_ref())),
    ] {
        text.push_str(&format!("{:<10}{value}\n", format!("{key}:")));
    }
    text.push_str("spec:\n");
    text.push_str(&serde_json::to_string_pretty(&spec)?);
    text.push('\n');
    print(&text)?;
    Ok(ExitCode::SUCCESS)
}

async fn delete(ctx: &Ctx, id: String, expected_version: Option<i64>) -> anyhow::Result<ExitCode> {
    ctx.jobs()
        .delete_job(call(v1::DeleteJobRequest {
            id: id.clone(),
            expected_version,
        }))
        .await
        .map_err(|s| ctx.failed(&s))?;
    if ctx.json() {
        print_json(&serde_json::json!({"deleted": id}))?;
    } else {
        println(&format!("deleted job {id}"))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}
