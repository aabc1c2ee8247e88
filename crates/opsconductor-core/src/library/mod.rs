//! The command, parser and target-source libraries that drive the Job Builder.
//!
//! Libraries are JSON files: the three shipped ones (`commandLibrary.json`,
//! `parserLibrary.json`, `targetSourceLibrary.json`) plus any number of packs in a plugin
//! directory. [`Library::load_dir`] reads them all, compiles every schema, template,
//! criterion and parser, runs each parser's samples, merges the files and checks
//! cross-references; it reports every problem at once, each as `file:path: message (line N)`.
//!
//! ## Layout
//! - `command.rs` — [`CommandDef`] and friends.
//! - `target_source.rs` — [`TargetSourceDef`].
//! - `loader.rs` — reading files, locating problems, compiling entries, merging.

mod command;
mod loader;
mod target_source;

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde_json::{Map, Value};

pub use command::{ActionKind, CommandDef, CredentialKind, CredentialUse, FieldHint, UiHints};
pub use loader::{FORMAT_VERSION, MAX_FILE_BYTES, PLUGIN_DIR, SHIPPED_FILES, SourceFile};
pub use target_source::{SelectorType, TargetSourceDef};

use crate::criteria::Criteria;
use crate::error::{Problems, ValidationError};
use crate::model::ActionSpec;
use crate::params::{ParamSchema, with_defaults};
use crate::parse::{CompiledParser, ParserDef};
use crate::template::{CommandTemplate, Rendered, TemplateRenderError};

/// One problem in a library file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LibraryProblem {
    /// File name (relative to the library directory where possible).
    pub file: String,
    /// JSON path inside the file (`commands[3].params_schema`), empty for the whole file.
    pub path: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for LibraryProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.file)?;
        if !self.path.is_empty() {
            write!(f, "{}:", self.path)?;
        }
        write!(f, " {}", self.message)?;
        if let Some(line) = self.line {
            write!(f, " (line {line})")?;
        }
        Ok(())
    }
}

/// Every problem found while loading libraries; never empty.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct LibraryError {
    /// The problems, in file order.
    pub problems: Vec<LibraryProblem>,
}

impl fmt::Display for LibraryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        writeln!(
            f,
            "{n} problem{} in the libraries:",
            if n == 1 { "" } else { "s" }
        )?;
        for p in &self.problems {
            writeln!(f, "  {p}")?;
        }
        Ok(())
    }
}

/// Where an entry came from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Origin {
    /// File name.
    pub file: String,
    /// Library (pack) name from the file's envelope.
    pub library: String,
}

/// A command, compiled.
#[derive(Debug, Clone)]
pub struct Command {
    /// As written.
    pub def: CommandDef,
    /// Compiled params schema.
    pub schema: ParamSchema,
    /// Compiled template.
    pub template: CommandTemplate,
    /// Compiled success criteria.
    pub criteria: Criteria,
    /// Schema defaults overlaid with the entry's `defaults`.
    pub defaults: Map<String, Value>,
    /// Where it was defined.
    pub origin: Origin,
}

impl Command {
    /// Params with defaults filled in.
    pub fn params_with_defaults(&self, params: &Map<String, Value>) -> Map<String, Value> {
        with_defaults(&self.defaults, params)
    }

    /// Renders the preview of this command for a target; secret params are masked.
    pub fn preview(
        &self,
        params: &Map<String, Value>,
        target: &str,
    ) -> Result<Rendered, TemplateRenderError> {
        self.template.render(
            &self.params_with_defaults(params),
            target,
            self.schema.secret_params(),
        )
    }
}

/// A parser, compiled.
#[derive(Debug, Clone)]
pub struct Parser {
    /// As written.
    pub def: ParserDef,
    /// Compiled form.
    pub compiled: CompiledParser,
    /// Where it was defined.
    pub origin: Origin,
}

/// A target source entry.
#[derive(Debug, Clone)]
pub struct TargetSource {
    /// As written.
    pub def: TargetSourceDef,
    /// Compiled form schema.
    pub schema: ParamSchema,
    /// Where it was defined.
    pub origin: Origin,
}

/// A loaded library file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LoadedFile {
    /// File name.
    pub file: String,
    /// Library name from the envelope.
    pub name: String,
    /// Library version from the envelope.
    pub version: Option<String>,
    /// Entries it contributed.
    pub entries: usize,
}

/// An action resolved against the library: everything an executor needs.
#[derive(Debug, Clone)]
pub struct ResolvedAction<'a> {
    /// The command.
    pub command: &'a Command,
    /// Params with defaults filled in.
    pub params: Map<String, Value>,
    /// Parsers in order.
    pub parsers: Vec<&'a Parser>,
    /// Criteria (the action's override or the command's).
    pub criteria: Criteria,
    /// Timeout in milliseconds.
    pub timeout_ms: u64,
}

/// The merged, compiled libraries.
#[derive(Debug, Clone, Default)]
pub struct Library {
    commands: BTreeMap<String, Command>,
    parsers: BTreeMap<String, Parser>,
    target_sources: BTreeMap<String, TargetSource>,
    files: Vec<LoadedFile>,
}

impl Library {
    /// Loads the shipped files of `dir` and every `*.json` pack in `dir/plugins/`.
    pub fn load_dir(dir: &Path) -> Result<Self, LibraryError> {
        loader::load_dir(dir, None)
    }

    /// Like [`Library::load_dir`], plus the packs of another plugin directory.
    pub fn load_dir_with_plugins(dir: &Path, plugins: &Path) -> Result<Self, LibraryError> {
        loader::load_dir(dir, Some(plugins))
    }

    /// The files [`Library::load_dir`] would compile, read but not compiled: a caller that
    /// adds entries of its own (the controller's user-defined entries) compiles them
    /// together with [`Library::from_sources`].
    pub fn read_dir_sources(dir: &Path) -> Result<Vec<SourceFile>, LibraryError> {
        loader::read_dir(dir, None)
    }

    /// Builds a library from file contents (shipped files first, then packs).
    pub fn from_sources(files: &[SourceFile]) -> Result<Self, LibraryError> {
        loader::load_sources(files)
    }

    /// Commands by id.
    pub fn commands(&self) -> impl Iterator<Item = &Command> {
        self.commands.values()
    }

    /// One command.
    pub fn command(&self, id: &str) -> Option<&Command> {
        self.commands.get(id)
    }

    /// Parsers by id.
    pub fn parsers(&self) -> impl Iterator<Item = &Parser> {
        self.parsers.values()
    }

    /// One parser.
    pub fn parser(&self, id: &str) -> Option<&Parser> {
        self.parsers.get(id)
    }

    /// Target sources by id.
    pub fn target_sources(&self) -> impl Iterator<Item = &TargetSource> {
        self.target_sources.values()
    }

    /// One target source.
    pub fn target_source(&self, id: &str) -> Option<&TargetSource> {
        self.target_sources.get(id)
    }

    /// The files that were loaded.
    pub fn files(&self) -> &[LoadedFile] {
        &self.files
    }

    /// Checks one job action: the command exists, params fit its schema, parsers exist,
    /// criteria parse, timeout is sane. Paths are relative to the action.
    pub fn validate_action(&self, action: &ActionSpec) -> Result<(), ValidationError> {
        self.resolve_action(action).map(|_| ())
    }

    /// Resolves an action against the library, validating it on the way.
    pub fn resolve_action(
        &self,
        action: &ActionSpec,
    ) -> Result<ResolvedAction<'_>, ValidationError> {
        let Some(command) = self.commands.get(&action.command) else {
            return Err(ValidationError::field(
                "command",
                format!(
                    "unknown command {:?}{}",
                    action.command,
                    suggest(&action.command, self.commands.keys())
                ),
            ));
        };
        let mut problems = Problems::default();
        let params = command.params_with_defaults(&action.params);
        problems.check("params", command.schema.validate(&params));
        let parser_ids = action.parsers.as_ref().unwrap_or(&command.def.parsers);
        let mut parsers = Vec::with_capacity(parser_ids.len());
        for (i, id) in parser_ids.iter().enumerate() {
            match self.parsers.get(id) {
                Some(p) => parsers.push(p),
                None => problems.push(
                    format!("parsers[{i}]"),
                    format!("unknown parser {id:?}{}", suggest(id, self.parsers.keys())),
                ),
            }
        }
        let criteria = match &action.criteria {
            Some(spec) => match spec.compile() {
                Ok(c) => Some(c),
                Err(errs) => {
                    for (which, e) in errs {
                        problems.push(format!("criteria.{which}"), e.to_string());
                    }
                    None
                }
            },
            None => Some(command.criteria.clone()),
        };
        let timeout_ms = action.timeout_ms.unwrap_or(command.def.timeout_ms);
        if !(100..=crate::model::job::MAX_TIMEOUT_MS).contains(&timeout_ms) {
            problems.push(
                "timeout_ms",
                format!(
                    "must be between 100 and {} milliseconds",
                    crate::model::job::MAX_TIMEOUT_MS
                ),
            );
        }
        if action.credential.is_some() && command.def.credential == CredentialUse::None {
            problems.push(
                "credential",
                format!("command {:?} does not use a credential", command.def.id),
            );
        }
        if let Some(name) = &action.name
            && name.chars().count() > 200
        {
            problems.push("name", "must be at most 200 characters");
        }
        problems.finish()?;
        Ok(ResolvedAction {
            command,
            params,
            parsers,
            criteria: criteria.unwrap_or_default(),
            timeout_ms,
        })
    }
}

/// ` (did you mean "ping.icmp"?)` for a near miss, else empty.
fn suggest<'a>(wanted: &str, known: impl Iterator<Item = &'a String>) -> String {
    known
        .map(|k| (edit_distance(wanted, k), k))
        .filter(|(d, _)| *d <= 3)
        .min()
        .map(|(_, k)| format!(" (did you mean {k:?}?)"))
        .unwrap_or_default()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}
