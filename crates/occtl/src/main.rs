//! # occtl
//!
//! The command-line client of the controller's gRPC API (`JobService`, `LibraryService`,
//! `FleetService`, `InventoryService` in `proto/opsconductor/v1/api.proto`): jobs, runs
//! with a live progress line, results as table / JSON / CSV, the libraries, the agents,
//! discovery scans, the device inventory and device groups. Human output by
//! default, `--output json` for scripts. `main` is a thin shell: parse the command line,
//! connect, run the subcommand, turn its outcome into an exit status — 0 success, 1 a
//! refused request, an invalid job file or an unfinished run, 2 a usage error (clap).
//!
//! ## Layout
//! - `cli.rs` — the command-line grammar.
//! - `client.rs` — the connection, call deadlines, stdout, server errors.
//! - `render.rs` — tables, CSV, JSON shapes, times.
//! - `progress.rs` — the live progress line of `run --watch` and `scan start --wait`.
//! - `jobs.rs`, `runs.rs`, `results.rs`, `library.rs`, `agents.rs`, `scans.rs`,
//!   `devices.rs`, `groups.rs` — the subcommands.

mod agents;
mod cli;
mod client;
mod devices;
mod groups;
mod jobs;
mod library;
mod progress;
mod render;
mod results;
mod runs;
mod scans;

use std::process::ExitCode;

use clap::Parser as _;

use crate::cli::{AgentsCommand, Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let ctx = client::Ctx::connect(&cli.server, &cli.tls, cli.token.as_deref(), cli.output).await?;
    match cli.command {
        Command::Jobs(command) => jobs::run(&ctx, command).await,
        Command::Run(args) => runs::start(&ctx, args).await,
        Command::Runs(command) => runs::run(&ctx, command).await,
        Command::Results(args) => results::run(&ctx, args).await,
        Command::Library(command) => library::run(&ctx, command).await,
        Command::Agents(AgentsCommand::List) => agents::list(&ctx).await,
        Command::Scan(command) => scans::run(&ctx, command).await,
        Command::Devices(command) => devices::run(&ctx, command).await,
        Command::Groups(command) => groups::run(&ctx, command).await,
    }
}
