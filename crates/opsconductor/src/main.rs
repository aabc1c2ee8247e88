//! # opsconductor
//!
//! The single OpsConductor binary. Today it carries the library tools (`library validate`,
//! `library preview`, `library parse`, `library list`); the controller, agent and standalone
//! modes join it as subcommands. `main` stays a thin shell: parse the command line, run the
//! subcommand, turn its outcome into an exit code.
//!
//! ## Layout
//! - `cli.rs` — the command-line grammar (clap).
//! - `library_cmd.rs` — the `library` subcommands.

mod cli;
mod library_cmd;

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let outcome = match cli.command {
        cli::Command::Library(args) => library_cmd::run(args),
    };
    match outcome {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
