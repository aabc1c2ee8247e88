//! # opsconductor
//!
//! The single OpsConductor binary: the library tools (`library validate`, `library preview`,
//! `library parse`, `library list`) and the processes (`standalone`, `controller`, `agent`,
//! `migrate`).
//! `main` stays a thin shell: parse the command line, run the subcommand, turn its outcome
//! into an exit code.
//!
//! ## Layout
//! - `cli.rs` — the command-line grammar (clap).
//! - `library_cmd.rs` — the `library` subcommands.
//! - `serve.rs` — configuration loading, logging and signals for the processes.
//! - `standalone.rs` — standalone mode: the controller and a local agent in one process.

mod cli;
mod library_cmd;
mod serve;
mod standalone;

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let outcome = match cli.command {
        cli::Command::Library(args) => library_cmd::run(args),
        cli::Command::Standalone(args) => serve::run_standalone(&args),
        cli::Command::Controller(args) => serve::run(serve::Service::Controller, &args),
        cli::Command::Agent(args) => serve::run(serve::Service::Agent, &args),
        cli::Command::Migrate(args) => serve::run(serve::Service::Migrate, &args),
    };
    match outcome {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
