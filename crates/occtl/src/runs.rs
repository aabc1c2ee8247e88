//! `occtl run JOB_ID [--watch]` and `occtl runs show | cancel`.
//!
//! `--watch` follows `WatchRun` to the end of the run. On a terminal, the progress is one
//! line on stderr redrawn in place (a bar, targets done / total, the count per outcome);
//! otherwise each update is a new stderr line. The final state goes to stdout. With
//! `--output json` every update is one JSON object on its own stdout line.

use std::process::ExitCode;

use opsconductor_proto::v1;

use crate::cli::{RunArgs, RunsCommand};
use crate::client::{Ctx, call, print, print_json, println};
use crate::progress::{self, Progress};
use crate::render;

/// `occtl run`.
pub async fn start(ctx: &Ctx, args: RunArgs) -> anyhow::Result<ExitCode> {
    let run = ctx
        .jobs()
        .run_job(call(v1::RunJobRequest {
            job_id: args.job_id,
        }))
        .await
        .map_err(|s| ctx.failed(&s))?
        .into_inner();
    if args.watch {
        return watch(ctx, run).await;
    }
    if ctx.json() {
        print_json(&render::run_json(&run))?;
    } else {
        println(&format!(
            "started run {} of job {} ({} expected results)",
            run.id,
            run.job_id,
            render::counters(&run).total
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `occtl runs …`.
pub async fn run(ctx: &Ctx, command: RunsCommand) -> anyhow::Result<ExitCode> {
    let run = match command {
        RunsCommand::Show { id } => ctx
            .jobs()
            .get_run(call(v1::GetRunRequest { id }))
            .await
            .map_err(|s| ctx.failed(&s))?
            .into_inner(),
        RunsCommand::Cancel { id, reason } => ctx
            .jobs()
            .cancel_run(call(v1::CancelRunRequest { id, reason }))
            .await
            .map_err(|s| ctx.failed(&s))?
            .into_inner(),
    };
    if ctx.json() {
        print_json(&render::run_json(&run))?;
    } else {
        print(&describe(&run))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// A run as `key: value` lines.
fn describe(run: &v1::Run) -> String {
    let mut text = String::new();
    for (key, value) in [
        ("id", run.id.clone()),
        (
            "job",
            format!("{} (version {})", run.job_id, run.job_version),
        ),
        ("status", render::run_status(run.status)),
        ("trigger", render::run_trigger(run.trigger)),
        ("progress", render::counters_human(&render::counters(run))),
        ("created", render::time_human(run.created_at.as_ref())),
        ("started", render::time_human(run.started_at.as_ref())),
        ("finished", render::time_human(run.finished_at.as_ref())),
        ("deadline", render::time_human(run.deadline_at.as_ref())),
        (
            "reason",
            run.reason.clone().unwrap_or_else(|| "-".to_owned()),
        ),
    ] {
        text.push_str(&format!("{:<10}{value}\n", format!("{key}:")));
    }
    text
}

/// Follows `run` to its end; exit status 0 only if it completed.
async fn watch(ctx: &Ctx, run: v1::Run) -> anyhow::Result<ExitCode> {
    let mut stream = ctx
        .jobs()
        .watch_run(v1::WatchRunRequest { id: run.id.clone() })
        .await
        .map_err(|s| ctx.failed(&s))?
        .into_inner();
    let mut progress = Progress::new(ctx.json());
    // The stream starts with the run as it is now, so nothing is shown before it.
    let mut last = run;
    loop {
        match stream.message().await {
            Ok(Some(message)) => {
                if let Some(run) = message.run {
                    progress.show(&progress_line(&run), &render::run_json(&run))?;
                    last = run;
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
    let status = v1::RunStatus::try_from(last.status).unwrap_or(v1::RunStatus::Unspecified);
    if !ctx.json() {
        let reason = last
            .reason
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default();
        println(&format!(
            "run {} {}: {}{reason}",
            last.id,
            render::run_status(last.status),
            render::counters_human(&render::counters(&last))
        ))?;
    }
    Ok(match status {
        v1::RunStatus::Completed => ExitCode::SUCCESS,
        // The stream ended before the run did (a controller restart): not a success.
        _ => ExitCode::FAILURE,
    })
}

/// `queued     [######------------------] 3/10 done  ok 2  warn 0  fail 1  error 0  timeout 0`
fn progress_line(run: &v1::Run) -> String {
    let c = render::counters(run);
    format!(
        "{:<10} {} {}",
        render::run_status(run.status),
        progress::bar(render::done(&c), c.total),
        render::counters_human(&c)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_progress_line_fills_with_done_targets() {
        let run = v1::Run {
            status: v1::RunStatus::Running.into(),
            counters: Some(v1::RunCounters {
                total: 4,
                ok: 1,
                fail: 1,
                ..Default::default()
            }),
            ..Default::default()
        };
        let line = progress_line(&run);
        assert!(
            line.starts_with("running    [############------------] 2/4 done"),
            "{line}"
        );
        assert!(
            line.ends_with("ok 1  warn 0  fail 1  error 0  timeout 0"),
            "{line}"
        );
        let empty = v1::Run::default();
        assert!(progress_line(&empty).contains("[------------------------] 0/0"));
    }
}
