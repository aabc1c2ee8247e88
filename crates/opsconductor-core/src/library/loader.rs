//! Reading library files: envelope, entries, compilation, merge and cross-references.
//!
//! Every entry is deserialised on its own from its raw text, so one bad entry does not
//! hide the problems of the next, and positions inside an entry map back to file lines.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::{
    Command, CommandDef, CredentialUse, Library, LibraryError, LibraryProblem, LoadedFile, Origin,
    Parser, TargetSource, TargetSourceDef,
};
use crate::params::ParamSchema;
use crate::parse::{ParserDef, check_samples};
use crate::template::CommandTemplate;

/// The library file format this build reads.
pub const FORMAT_VERSION: u32 = 1;
/// The shipped files, all required in a library directory.
pub const SHIPPED_FILES: [&str; 3] = [
    "commandLibrary.json",
    "parserLibrary.json",
    "targetSourceLibrary.json",
];
/// Sub-directory of a library directory holding extra packs.
pub const PLUGIN_DIR: &str = "plugins";
/// Largest library file accepted.
pub const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;

/// A library file's name and contents.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Name used in problems.
    pub name: String,
    /// Contents as read (may be invalid UTF-8).
    pub bytes: Vec<u8>,
}

#[derive(Deserialize)]
struct VersionProbe {
    format_version: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope<'a> {
    #[expect(dead_code, reason = "checked by VersionProbe first")]
    format_version: u32,
    #[serde(default)]
    kind: Option<FileKind>,
    name: String,
    #[serde(default)]
    #[expect(dead_code, reason = "documentation for people reading the file")]
    description: String,
    #[serde(default)]
    version: Option<String>,
    #[serde(default, borrow)]
    commands: Vec<&'a RawValue>,
    #[serde(default, borrow)]
    parsers: Vec<&'a RawValue>,
    #[serde(default, borrow)]
    target_sources: Vec<&'a RawValue>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum FileKind {
    Commands,
    Parsers,
    TargetSources,
    Pack,
}

pub(super) fn load_dir(dir: &Path, extra_plugins: Option<&Path>) -> Result<Library, LibraryError> {
    let files = read_dir(dir, extra_plugins)?;
    load_sources(&files)
}

/// Reads the shipped files of `dir` and its plugin packs (and those of `extra_plugins`),
/// in load order, without compiling them; every unreadable file is a problem.
pub(super) fn read_dir(
    dir: &Path,
    extra_plugins: Option<&Path>,
) -> Result<Vec<SourceFile>, LibraryError> {
    let mut files = Vec::new();
    let mut problems = Vec::new();
    for name in SHIPPED_FILES {
        match read_file(&dir.join(name), name.to_owned()) {
            Ok(f) => files.push(f),
            Err(p) => problems.push(p),
        }
    }
    let mut plugin_dirs = vec![dir.join(PLUGIN_DIR)];
    plugin_dirs.extend(extra_plugins.map(Path::to_path_buf));
    for plugins in plugin_dirs {
        if !plugins.is_dir() {
            continue;
        }
        let mut paths: Vec<_> = match std::fs::read_dir(&plugins) {
            Ok(entries) => entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "json"))
                .collect(),
            Err(e) => {
                problems.push(whole_file(
                    &plugins.display().to_string(),
                    format!("cannot list: {e}"),
                ));
                continue;
            }
        };
        paths.sort();
        for path in paths {
            let label = match path.strip_prefix(dir) {
                Ok(rel) => rel.display().to_string(),
                Err(_) => path.display().to_string(),
            };
            match read_file(&path, label) {
                Ok(f) => files.push(f),
                Err(p) => problems.push(p),
            }
        }
    }
    if problems.is_empty() {
        Ok(files)
    } else {
        // Compile what could be read too, so one run reports every problem.
        if let Err(mut e) = load_sources(&files) {
            problems.append(&mut e.problems);
        }
        Err(LibraryError { problems })
    }
}

fn read_file(path: &Path, label: String) -> Result<SourceFile, LibraryProblem> {
    let meta =
        std::fs::metadata(path).map_err(|e| whole_file(&label, format!("cannot read: {e}")))?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(whole_file(
            &label,
            format!(
                "file is {} bytes; the limit is {MAX_FILE_BYTES}",
                meta.len()
            ),
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| whole_file(&label, format!("cannot read: {e}")))?;
    Ok(SourceFile { name: label, bytes })
}

fn whole_file(file: &str, message: String) -> LibraryProblem {
    LibraryProblem {
        file: file.to_owned(),
        path: String::new(),
        line: None,
        message,
    }
}

/// Compiled entries of one file, before merging.
#[derive(Default)]
struct Compiled {
    commands: Vec<(String, Command)>,
    parsers: Vec<(String, Parser)>,
    target_sources: Vec<(String, TargetSource)>,
    /// Ids of parser entries that are present but broken: their own problems are already
    /// reported, so commands naming them must not add "unknown parser" noise.
    broken_parser_ids: Vec<String>,
}

/// Reads only an entry's `id`, for entries that failed to load as a whole.
fn entry_id(raw: &RawValue) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct IdOnly {
        id: String,
    }
    serde_json::from_str::<IdOnly>(raw.get()).ok().map(|e| e.id)
}

pub(super) fn load_sources(files: &[SourceFile]) -> Result<Library, LibraryError> {
    let mut problems = Vec::new();
    let mut library = Library::default();
    // id -> "file:path" of the first definition, per entry type.
    let mut first_seen: [BTreeMap<String, String>; 3] = Default::default();
    let mut command_locations: BTreeMap<String, (String, String, Option<usize>)> = BTreeMap::new();
    let mut broken_parser_ids = std::collections::BTreeSet::new();

    for file in files {
        let Some((compiled, loaded)) = load_file(file, &mut problems) else {
            continue;
        };
        library.files.push(loaded);
        let mut merge =
            |kind: usize, what: &str, id: &str, path: &str, line: Option<usize>| -> bool {
                let here = format!("{}:{path}", file.name);
                if let Some(first) = first_seen[kind].get(id) {
                    problems.push(LibraryProblem {
                        file: file.name.clone(),
                        path: path.to_owned(),
                        line,
                        message: format!("duplicate {what} id {id:?} (first defined at {first})"),
                    });
                    false
                } else {
                    first_seen[kind].insert(id.to_owned(), here);
                    true
                }
            };
        for (path, command) in compiled.commands {
            let line = None;
            if merge(0, "command", &command.def.id, &path, line) {
                command_locations.insert(command.def.id.clone(), (file.name.clone(), path, line));
                library.commands.insert(command.def.id.clone(), command);
            }
        }
        broken_parser_ids.extend(compiled.broken_parser_ids);
        for (path, parser) in compiled.parsers {
            if merge(1, "parser", &parser.def.id, &path, None) {
                library.parsers.insert(parser.def.id.clone(), parser);
            }
        }
        for (path, source) in compiled.target_sources {
            if merge(2, "target source", &source.def.id, &path, None) {
                library.target_sources.insert(source.def.id.clone(), source);
            }
        }
    }

    // Cross-references, once every file is in.
    for (id, command) in &library.commands {
        for (i, parser) in command.def.parsers.iter().enumerate() {
            if !library.parsers.contains_key(parser) && !broken_parser_ids.contains(parser) {
                let (file, path, line) = command_locations[id].clone();
                problems.push(LibraryProblem {
                    file,
                    path: format!("{path}.parsers[{i}]"),
                    line,
                    message: format!("command {id:?} names unknown parser {parser:?}"),
                });
            }
        }
    }

    if problems.is_empty() {
        Ok(library)
    } else {
        Err(LibraryError { problems })
    }
}

/// Position of `needle` (a slice of `haystack`) as a 1-based line.
fn line_of(haystack: &str, needle: &str) -> usize {
    let offset = (needle.as_ptr() as usize).saturating_sub(haystack.as_ptr() as usize);
    haystack[..offset.min(haystack.len())].matches('\n').count() + 1
}

/// Best-effort line of a relative JSON path (`extract.pattern`) inside an entry's raw
/// text: finds each key in turn after the previous one.
fn locate(raw: &str, path: &str) -> usize {
    let mut from = 0;
    for part in path.split(['.', '[']) {
        let key = part.trim_end_matches(']');
        if key.is_empty() || key.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let quoted = format!("\"{key}\"");
        match raw[from..].find(&quoted) {
            Some(i) => from += i,
            None => break,
        }
    }
    raw[..from].matches('\n').count()
}

fn load_file(
    file: &SourceFile,
    problems: &mut Vec<LibraryProblem>,
) -> Option<(Compiled, LoadedFile)> {
    let name = &file.name;
    let text = match std::str::from_utf8(&file.bytes) {
        Ok(t) => t,
        Err(e) => {
            let valid = &file.bytes[..e.valid_up_to()];
            let line = valid.iter().filter(|b| **b == b'\n').count() + 1;
            problems.push(LibraryProblem {
                file: name.clone(),
                path: String::new(),
                line: Some(line),
                message: format!(
                    "not UTF-8 text: invalid byte at offset {} (is this a binary file?)",
                    e.valid_up_to()
                ),
            });
            return None;
        }
    };
    if text.contains('\0') {
        let line = line_of(text, &text[text.find('\0').unwrap_or(0)..]);
        problems.push(LibraryProblem {
            file: name.clone(),
            path: String::new(),
            line: Some(line),
            message: "contains a NUL byte (is this a binary file?)".to_owned(),
        });
        return None;
    }
    let probe: VersionProbe = match serde_json::from_str(text) {
        Ok(p) => p,
        Err(e) => {
            problems.push(LibraryProblem {
                file: name.clone(),
                path: String::new(),
                line: Some(e.line()),
                message: format!("invalid JSON: {}", strip_position(&e.to_string())),
            });
            return None;
        }
    };
    match probe.format_version {
        Some(Value::Number(n)) if n.as_u64() == Some(u64::from(FORMAT_VERSION)) => {}
        Some(other) => {
            problems.push(LibraryProblem {
                file: name.clone(),
                path: "format_version".to_owned(),
                line: None,
                message: format!(
                    "format_version {other} is not supported (this build reads {FORMAT_VERSION})"
                ),
            });
            return None;
        }
        None => {
            problems.push(LibraryProblem {
                file: name.clone(),
                path: "format_version".to_owned(),
                line: None,
                message: format!("missing format_version (this build reads {FORMAT_VERSION})"),
            });
            return None;
        }
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let envelope: Envelope<'_> = match serde_path_to_error::deserialize(&mut de) {
        Ok(env) => env,
        Err(e) => {
            problems.push(LibraryProblem {
                file: name.clone(),
                path: e.path().to_string().trim_start_matches('.').to_owned(),
                line: Some(e.inner().line()),
                message: strip_position(&e.inner().to_string()),
            });
            return None;
        }
    };
    let kind = envelope.kind.unwrap_or(FileKind::Pack);
    let misplaced = [
        (FileKind::Commands, "commands", envelope.commands.is_empty()),
        (FileKind::Parsers, "parsers", envelope.parsers.is_empty()),
        (
            FileKind::TargetSources,
            "target_sources",
            envelope.target_sources.is_empty(),
        ),
    ];
    for (own, field, empty) in misplaced {
        if kind != FileKind::Pack && kind != own && !empty {
            problems.push(LibraryProblem {
                file: name.clone(),
                path: field.to_owned(),
                line: None,
                message: format!(
                    "a file of this kind must not hold {field} (set \"kind\": \"pack\")"
                ),
            });
        }
    }
    let origin = Origin {
        file: name.clone(),
        library: envelope.name.clone(),
    };
    let mut ctx = FileCtx {
        text,
        name,
        problems,
    };
    let mut compiled = Compiled::default();
    for (i, raw) in envelope.commands.iter().enumerate() {
        let path = format!("commands[{i}]");
        if let Some(def) = ctx.entry::<CommandDef>(raw, &path)
            && let Some(cmd) = compile_command(def, &origin, raw, &path, &mut ctx)
        {
            compiled.commands.push((path, cmd));
        }
    }
    for (i, raw) in envelope.parsers.iter().enumerate() {
        let path = format!("parsers[{i}]");
        let parser = ctx
            .entry::<ParserDef>(raw, &path)
            .and_then(|def| compile_parser(def, &origin, raw, &path, &mut ctx));
        match parser {
            Some(parser) => compiled.parsers.push((path, parser)),
            None => compiled.broken_parser_ids.extend(entry_id(raw)),
        }
    }
    for (i, raw) in envelope.target_sources.iter().enumerate() {
        let path = format!("target_sources[{i}]");
        if let Some(def) = ctx.entry::<TargetSourceDef>(raw, &path)
            && let Some(source) = compile_target_source(def, &origin, raw, &path, &mut ctx)
        {
            compiled.target_sources.push((path, source));
        }
    }
    let entries = compiled.commands.len() + compiled.parsers.len() + compiled.target_sources.len();
    Some((
        compiled,
        LoadedFile {
            file: name.clone(),
            name: envelope.name,
            version: envelope.version,
            entries,
        },
    ))
}

struct FileCtx<'a> {
    text: &'a str,
    name: &'a str,
    problems: &'a mut Vec<LibraryProblem>,
}

impl FileCtx<'_> {
    fn entry<T: DeserializeOwned>(&mut self, raw: &RawValue, path: &str) -> Option<T> {
        let start_line = line_of(self.text, raw.get());
        let mut de = serde_json::Deserializer::from_str(raw.get());
        match serde_path_to_error::deserialize::<_, T>(&mut de) {
            Ok(v) => Some(v),
            Err(e) => {
                let inner_path = e.path().to_string();
                let inner_path = if inner_path == "." {
                    String::new()
                } else {
                    inner_path
                };
                self.problems.push(LibraryProblem {
                    file: self.name.to_owned(),
                    path: crate::error::join_path(path, &inner_path),
                    line: Some(start_line + e.inner().line().saturating_sub(1)),
                    message: strip_position(&e.inner().to_string()),
                });
                None
            }
        }
    }

    /// Records a problem at `entry_path` + `rel`, locating its line inside the entry.
    fn problem(&mut self, raw: &RawValue, entry_path: &str, rel: &str, message: impl Into<String>) {
        let line = line_of(self.text, raw.get()) + locate(raw.get(), rel);
        self.problems.push(LibraryProblem {
            file: self.name.to_owned(),
            path: crate::error::join_path(entry_path, rel),
            line: Some(line),
            message: message.into(),
        });
    }
}

/// serde_json appends " at line L column C"; the problem carries the line itself.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

fn check_id(id: &str) -> Result<(), String> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id.as_bytes()[0].is_ascii_alphanumeric()
        && id.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "id {id:?} must be 1-64 characters of lowercase letters, digits, '.', '_' or '-', starting with a letter or digit"
        ))
    }
}

fn secret_params(ui: &super::UiHints) -> Vec<String> {
    ui.fields
        .iter()
        .filter(|(_, hint)| hint.secret)
        .map(|(name, _)| name.clone())
        .collect()
}

fn schema_properties(schema: &Value) -> Map<String, Value> {
    schema
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

fn check_ui(
    ui: &super::UiHints,
    schema: &Value,
    raw: &RawValue,
    path: &str,
    ctx: &mut FileCtx<'_>,
) {
    let props = schema_properties(schema);
    for (i, name) in ui.order.iter().enumerate() {
        if !props.contains_key(name) {
            ctx.problem(
                raw,
                path,
                &format!("ui.order[{i}]"),
                format!("{name:?} is not a param in params_schema.properties"),
            );
        }
    }
    for name in ui.fields.keys() {
        if !props.contains_key(name) {
            ctx.problem(
                raw,
                path,
                &format!("ui.fields.{name}"),
                format!("{name:?} is not a param in params_schema.properties"),
            );
        }
    }
}

/// A stand-in value of the schema's type, for checking that a template only names params.
fn placeholder(schema: &Value, name: &str) -> Value {
    match schema.get("type").and_then(Value::as_str) {
        Some("integer" | "number") => Value::from(1),
        Some("boolean") => Value::Bool(true),
        Some("array") => Value::Array(vec![Value::String(format!("<{name}>"))]),
        Some("object") => Value::Object(Map::new()),
        _ => Value::String(format!("<{name}>")),
    }
}

fn compile_command(
    def: CommandDef,
    origin: &super::Origin,
    raw: &RawValue,
    path: &str,
    ctx: &mut FileCtx<'_>,
) -> Option<Command> {
    let before = ctx.problems.len();
    if let Err(e) = check_id(&def.id) {
        ctx.problem(raw, path, "id", e);
    }
    for (field, value) in [
        ("name", &def.name),
        ("category", &def.category),
        ("description", &def.description),
    ] {
        if value.trim().is_empty() {
            ctx.problem(raw, path, field, "must not be empty");
        }
    }
    if !(100..=crate::model::job::MAX_TIMEOUT_MS).contains(&def.timeout_ms) {
        ctx.problem(
            raw,
            path,
            "timeout_ms",
            format!(
                "must be between 100 and {}",
                crate::model::job::MAX_TIMEOUT_MS
            ),
        );
    }
    if def.kind.credential_kinds().is_empty() && def.credential != CredentialUse::None {
        ctx.problem(
            raw,
            path,
            "credential",
            format!("actions of kind {} take no credential", def.kind),
        );
    }
    let schema = match ParamSchema::compile(&def.params_schema, secret_params(&def.ui)) {
        Ok(s) => Some(s),
        Err(e) => {
            ctx.problem(raw, path, "params_schema", e);
            None
        }
    };
    check_ui(&def.ui, &def.params_schema, raw, path, ctx);
    let template = match CommandTemplate::parse(&def.template) {
        Ok(t) => Some(t),
        Err(e) => {
            ctx.problem(raw, path, "template", e.to_string());
            None
        }
    };
    let criteria = match def.criteria.compile() {
        Ok(c) => Some(c),
        Err(errs) => {
            for (which, e) in errs {
                ctx.problem(raw, path, &format!("criteria.{which}"), e.to_string());
            }
            None
        }
    };
    let (Some(schema), Some(template)) = (schema, template) else {
        return None;
    };
    let defaults = crate::params::with_defaults(&schema.schema_defaults(), &def.defaults);
    if let Err(e) = schema.validate(&defaults) {
        // Required params without defaults are the job author's to fill in.
        for fe in e.errors.iter().filter(|fe| fe.message != "is required") {
            ctx.problem(
                raw,
                path,
                &format!("defaults.{}", fe.field),
                fe.message.clone(),
            );
        }
    }
    let mut sample = defaults.clone();
    for (name, prop) in schema_properties(&def.params_schema) {
        sample
            .entry(name.clone())
            .or_insert_with(|| placeholder(&prop, &name));
    }
    if let Err(e) = template.render(&sample, "192.0.2.1", schema.secret_params()) {
        ctx.problem(
            raw,
            path,
            "template",
            format!("{e} (every name in a template must be a param or `target`)"),
        );
    }
    let criteria = criteria?;
    if ctx.problems.len() > before {
        return None;
    }
    Some(Command {
        def,
        schema,
        template,
        criteria,
        defaults,
        origin: origin.clone(),
    })
}

fn compile_parser(
    def: ParserDef,
    origin: &super::Origin,
    raw: &RawValue,
    path: &str,
    ctx: &mut FileCtx<'_>,
) -> Option<Parser> {
    let before = ctx.problems.len();
    if let Err(e) = check_id(&def.id) {
        ctx.problem(raw, path, "id", e);
    }
    let compiled = match def.compile() {
        Ok(c) => c,
        Err(problems) => {
            for p in problems {
                ctx.problem(raw, path, &p.path, p.message);
            }
            return None;
        }
    };
    if def.samples.is_empty() {
        ctx.problem(
            raw,
            path,
            "samples",
            "every parser ships at least one sample with its expected output",
        );
    }
    for p in check_samples(&def, &compiled) {
        ctx.problem(raw, path, &p.path, p.message);
    }
    if ctx.problems.len() > before {
        return None;
    }
    Some(Parser {
        def,
        compiled,
        origin: origin.clone(),
    })
}

fn compile_target_source(
    def: TargetSourceDef,
    origin: &super::Origin,
    raw: &RawValue,
    path: &str,
    ctx: &mut FileCtx<'_>,
) -> Option<TargetSource> {
    let before = ctx.problems.len();
    if let Err(e) = check_id(&def.id) {
        ctx.problem(raw, path, "id", e);
    }
    let schema = match ParamSchema::compile(&def.params_schema, secret_params(&def.ui)) {
        Ok(s) => s,
        Err(e) => {
            ctx.problem(raw, path, "params_schema", e);
            return None;
        }
    };
    check_ui(&def.ui, &def.params_schema, raw, path, ctx);
    match def.example.as_object() {
        Some(example) => {
            if let Err(e) = schema.validate(example) {
                for fe in e.errors {
                    ctx.problem(raw, path, &format!("example.{}", fe.field), fe.message);
                }
            } else if let Err(message) =
                crate::model::job::check_selector_example(def.selector.as_str(), example)
            {
                ctx.problem(raw, path, "example", message);
            }
        }
        None => ctx.problem(
            raw,
            path,
            "example",
            "must be an object of the form's values",
        ),
    }
    if ctx.problems.len() > before {
        return None;
    }
    Some(TargetSource {
        def,
        schema,
        origin: origin.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locate_finds_nested_keys_in_order() {
        let raw = "{\n  \"id\": \"x\",\n  \"extract\": {\n    \"type\": \"regex\",\n    \"pattern\": \"(\"\n  }\n}";
        assert_eq!(locate(raw, "extract.pattern"), 4);
        assert_eq!(locate(raw, "id"), 1);
        assert_eq!(locate(raw, "nope"), 0);
    }

    #[test]
    fn ids_are_checked() {
        assert!(check_id("ping.icmp").is_ok());
        assert!(check_id("Ping").is_err());
        assert!(check_id("").is_err());
        assert!(check_id(".x").is_err());
    }
}
