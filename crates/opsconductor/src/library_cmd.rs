//! `opsconductor library ...`: the library tools for people writing library packs.

use std::io::{Read as _, Write as _};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use opsconductor_core::library::Library;
use serde_json::{Map, Value, json};

use crate::cli::{LibraryCommand, LibraryDir, ListWhat};

/// Largest sample `library parse` reads from standard input.
const MAX_SAMPLE_BYTES: u64 = 16 * 1024 * 1024;

/// Runs a `library` subcommand.
pub fn run(command: LibraryCommand) -> anyhow::Result<ExitCode> {
    match command {
        LibraryCommand::Validate { dir, plugins, json } => {
            let dir = dir
                .or_else(|| std::env::var_os("OPSCONDUCTOR_LIBRARY_DIR").map(Into::into))
                .unwrap_or_else(|| "libraries".into());
            validate(&dir, plugins.as_deref(), json)
        }
        LibraryCommand::Preview {
            command,
            params,
            target,
            library,
        } => preview(&load(&library)?, &command, &params, &target),
        LibraryCommand::Parse { parser, library } => parse(&load(&library)?, &parser),
        LibraryCommand::List { what, library } => list(&load(&library)?, what),
    }
}

fn load_from(
    dir: &Path,
    plugins: Option<&Path>,
) -> Result<Library, opsconductor_core::library::LibraryError> {
    match plugins {
        Some(p) => Library::load_dir_with_plugins(dir, p),
        None => Library::load_dir(dir),
    }
}

fn load(location: &LibraryDir) -> anyhow::Result<Library> {
    load_from(&location.dir, location.plugins.as_deref())
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| format!("loading libraries from {}", location.dir.display()))
}

fn validate(dir: &Path, plugins: Option<&Path>, as_json: bool) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    match load_from(dir, plugins) {
        Ok(lib) => {
            let summary = json!({
                "ok": true,
                "files": lib.files(),
                "commands": lib.commands().count(),
                "parsers": lib.parsers().count(),
                "target_sources": lib.target_sources().count(),
                "samples_checked": lib.parsers().map(|p| p.def.samples.len()).sum::<usize>(),
            });
            if as_json {
                writeln!(out, "{summary:#}")?;
            } else {
                writeln!(
                    out,
                    "ok: {} commands, {} parsers ({} samples passed), {} target sources from {} files in {}",
                    summary["commands"],
                    summary["parsers"],
                    summary["samples_checked"],
                    summary["target_sources"],
                    lib.files().len(),
                    dir.display()
                )?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            if as_json {
                writeln!(out, "{:#}", json!({"ok": false, "problems": e.problems}))?;
            } else {
                let mut err = std::io::stderr().lock();
                write!(err, "{e}")?;
            }
            Ok(ExitCode::FAILURE)
        }
    }
}

/// `count=4` → ("count", 4); `name=abc` → ("name", "abc").
fn parse_param(text: &str) -> anyhow::Result<(String, Value)> {
    let Some((name, value)) = text.split_once('=') else {
        bail!("--param {text:?} must look like NAME=VALUE");
    };
    let name = name.trim();
    if name.is_empty() {
        bail!("--param {text:?} has an empty name");
    }
    let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_owned()));
    Ok((name.to_owned(), value))
}

fn preview(
    lib: &Library,
    command_id: &str,
    raw_params: &[String],
    target: &str,
) -> anyhow::Result<ExitCode> {
    let Some(command) = lib.command(command_id) else {
        bail!("unknown command {command_id:?}; `opsconductor library list` shows them");
    };
    let mut params = Map::new();
    for p in raw_params {
        let (k, v) = parse_param(p)?;
        params.insert(k, v);
    }
    let merged = command.params_with_defaults(&params);
    if let Err(e) = command.schema.validate(&merged) {
        let mut err = std::io::stderr().lock();
        for fe in &e.errors {
            writeln!(err, "param {}: {}", fe.field, fe.message)?;
        }
        return Ok(ExitCode::FAILURE);
    }
    let rendered = command
        .preview(&params, target)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    writeln!(std::io::stdout().lock(), "{}", rendered.text)?;
    Ok(ExitCode::SUCCESS)
}

fn parse(lib: &Library, parser_id: &str) -> anyhow::Result<ExitCode> {
    let Some(parser) = lib.parser(parser_id) else {
        bail!("unknown parser {parser_id:?}; `opsconductor library list parsers` shows them");
    };
    let mut bytes = Vec::new();
    std::io::stdin()
        .take(MAX_SAMPLE_BYTES)
        .read_to_end(&mut bytes)
        .context("reading the sample from standard input")?;
    let text = String::from_utf8_lossy(&bytes);
    let output = parser.compiled.parse(&text);
    writeln!(
        std::io::stdout().lock(),
        "{}",
        serde_json::to_string_pretty(&output)?
    )?;
    Ok(if output.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn list(lib: &Library, what: ListWhat) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    match what {
        ListWhat::Commands => {
            for c in lib.commands() {
                writeln!(
                    out,
                    "{:<24} {:<12} {:<14} {}",
                    c.def.id, c.def.kind, c.def.category, c.def.name
                )?;
            }
        }
        ListWhat::Parsers => {
            for p in lib.parsers() {
                writeln!(out, "{:<24} {}", p.def.id, p.def.name)?;
            }
        }
        ListWhat::TargetSources => {
            for s in lib.target_sources() {
                writeln!(out, "{:<24} {}", s.def.id, s.def.name)?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_read_json_first_then_text() {
        assert_eq!(parse_param("count=4").unwrap(), ("count".into(), json!(4)));
        assert_eq!(
            parse_param("host=a.b").unwrap(),
            ("host".into(), json!("a.b"))
        );
        assert_eq!(
            parse_param("oids=[\"1.3\"]").unwrap(),
            ("oids".into(), json!(["1.3"]))
        );
        assert!(parse_param("novalue").is_err());
        assert!(parse_param("=1").is_err());
    }
}
