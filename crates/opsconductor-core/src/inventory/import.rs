//! Devices read from CSV or JSON with a line-by-line report, and the inventory written back
//! as CSV.
//!
//! An import is forgiving per line and strict per file: a file that cannot be read as a
//! whole (empty, not UTF-8, too large, broken JSON, a CSV without an `address` column) is an
//! [`ImportError`]; anything wrong with one row becomes an [`ImportProblem`] naming the line
//! and the field, and the rest of the file is still read. A row with a problem is left out
//! entirely, so what is imported is exactly what the operator wrote — never a half-row.
//! Unknown columns (CSV) and keys (JSON) are reported but only ignored: the row is kept.
//!
//! CSV: a header row is required; names are trimmed and case-insensitive. `address` is
//! required, `hostname`, `vendor`, `model`, `os`, `tags` and `notes` are read, and the
//! columns [`to_csv`] adds for reading (`segment`, `first_seen`, `last_seen`, `open_ports`,
//! `sys_name`, `sys_descr`) are accepted and ignored: scans learn those, an import does not
//! overwrite them. `tags` are separated by `;` or `|`, or by spaces when the cell has
//! neither (so `core; data center` is two tags and `core edge` is two as well).
//!
//! JSON: an array of objects with the same keys; `tags` is an array of strings. A line
//! number in a JSON report is the 1-based position of the object in the array.
//!
//! Both: addresses are stored in canonical form and the same address twice is a problem on
//! the later line ("duplicate of line 3"); the first keeps it even when another of its
//! fields is wrong, so fixing that line never turns the later one into the kept one.
//!
//! Spreadsheet formula injection: a cell that starts with `=`, `+`, `-`, `@`, a tab or a
//! carriage return is run as a formula by spreadsheet programs, so [`to_csv`] writes such a
//! cell with a leading `'` (which those programs hide). A cell that starts with `'` gets one
//! too, so that the rule is reversible; [`parse_csv`] removes a leading `'` followed by one
//! of those characters or by another `'`. JSON is not a spreadsheet format and is read as
//! is.

use std::collections::HashMap;

use chrono::SecondsFormat;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Device, MAX_ATTRIBUTE_CHARS, MAX_NOTES_CHARS, canonical_address, cut, normalize_tags};

/// Most rows (CSV) or objects (JSON) one import reads; more is an error, not a truncation.
pub const MAX_IMPORT_ROWS: usize = 100_000;
/// Largest file accepted, in bytes (16 MiB): room for [`MAX_IMPORT_ROWS`] rows with notes.
pub const MAX_IMPORT_BYTES: usize = 16 * 1024 * 1024;

/// One device as imported or exported: what an operator may set, no timestamps.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceRecord {
    /// IPv4 or IPv6 address, canonical.
    pub address: String,
    /// Host name.
    pub hostname: Option<String>,
    /// Vendor (overrides what scans guess until the next scan learns otherwise).
    pub vendor: Option<String>,
    /// Model.
    pub model: Option<String>,
    /// Operating system.
    pub os: Option<String>,
    /// Operator tags, sorted and unique.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Operator notes.
    pub notes: Option<String>,
}

/// One thing wrong with one line of an import.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportProblem {
    /// CSV: the physical 1-based line where the row starts (the header is line 1). JSON: the
    /// 1-based position of the object in the array.
    pub line: usize,
    /// The column (CSV) or key (JSON) at fault; empty when it is the whole line.
    pub field: String,
    /// What is wrong, written for the person who will fix the file.
    pub message: String,
}

/// What an import read: the good records with their lines, and every problem.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ParsedImport {
    /// Records without problems, in file order, with the line each came from.
    pub records: Vec<(usize, DeviceRecord)>,
    /// Problems in file order; rows with a problem are not in `records`.
    pub problems: Vec<ImportProblem>,
}

/// Why a file could not be read at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    /// Nothing but whitespace.
    #[error("the file is empty")]
    Empty,
    /// Larger than [`MAX_IMPORT_BYTES`].
    #[error("the file is {bytes} bytes; at most 16 MiB ({max} bytes) can be imported at once")]
    TooLarge {
        /// Size of the file.
        bytes: usize,
        /// [`MAX_IMPORT_BYTES`].
        max: usize,
    },
    /// Not UTF-8 text (see [`decode`]).
    #[error(
        "line {line}, column {column}: the file is not UTF-8 text; save it as UTF-8 (\"CSV UTF-8\" in spreadsheet programs)"
    )]
    NotUtf8 {
        /// 1-based line of the first invalid byte.
        line: usize,
        /// 1-based character column of the first invalid byte.
        column: usize,
    },
    /// The CSV header names no `address` column.
    #[error("line 1: the header has no \"address\" column (columns: {found})")]
    MissingAddressColumn {
        /// The header's column names as written, comma-separated (cut when long).
        found: String,
    },
    /// More than [`MAX_IMPORT_ROWS`] rows or objects.
    #[error("the file has more than {max} rows; split it into several imports")]
    TooManyRows {
        /// [`MAX_IMPORT_ROWS`].
        max: usize,
    },
    /// The CSV reader failed.
    #[error("line {line}: {message}")]
    Csv {
        /// 1-based line where reading stopped.
        line: usize,
        /// What the reader reported.
        message: String,
    },
    /// The JSON does not parse.
    #[error("line {line}, column {column}: invalid JSON: {message}")]
    JsonSyntax {
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// What the JSON parser expected.
        message: String,
    },
    /// The JSON parses but is not an array.
    #[error("the JSON document is {found}; expected an array of device objects")]
    NotAnArray {
        /// What it is instead, e.g. `an object`.
        found: String,
    },
}

/// An uploaded file as text: refuses files over [`MAX_IMPORT_BYTES`] and names the line and
/// column of the first byte that is not UTF-8 (a spreadsheet saved as Latin-1, typically).
pub fn decode(bytes: &[u8]) -> Result<&str, ImportError> {
    check_size(bytes.len())?;
    std::str::from_utf8(bytes).map_err(|e| {
        let valid = String::from_utf8_lossy(&bytes[..e.valid_up_to()]);
        let line = valid.matches('\n').count() + 1;
        let column = valid.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        ImportError::NotUtf8 { line, column }
    })
}

fn check_size(bytes: usize) -> Result<(), ImportError> {
    if bytes > MAX_IMPORT_BYTES {
        return Err(ImportError::TooLarge {
            bytes,
            max: MAX_IMPORT_BYTES,
        });
    }
    Ok(())
}

/// The text without a UTF-8 byte-order mark (spreadsheet programs write one), or why the
/// file cannot be read at all.
fn prepare(text: &str) -> Result<&str, ImportError> {
    check_size(text.len())?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Err(ImportError::Empty);
    }
    Ok(text)
}

// ---------------------------------------------------------------- shared row checks

/// One row's raw values, before checks.
#[derive(Debug, Default)]
struct Draft {
    address: Option<String>,
    hostname: Option<String>,
    vendor: Option<String>,
    model: Option<String>,
    os: Option<String>,
    tags: Vec<String>,
    notes: Option<String>,
    /// Problems found while reading the row (a wrong JSON type); they keep it out.
    errors: Vec<(String, String)>,
}

/// Reads rows into a [`ParsedImport`], remembering first lines of addresses.
#[derive(Default)]
struct Collector {
    out: ParsedImport,
    first_line: HashMap<String, usize>,
}

impl Collector {
    fn problem(&mut self, line: usize, field: impl Into<String>, message: impl Into<String>) {
        self.out.problems.push(ImportProblem {
            line,
            field: field.into(),
            message: message.into(),
        });
    }

    /// Checks a row and keeps it when nothing is wrong.
    fn finish(&mut self, line: usize, draft: Draft) {
        let mut errors = draft.errors;
        let address_unreadable = errors.iter().any(|(field, _)| field == "address");
        let address = match draft.address.as_deref().map(str::trim) {
            None | Some("") if address_unreadable => None,
            None | Some("") => {
                errors.push(("address".to_owned(), "an address is required".to_owned()));
                None
            }
            Some(text) => match canonical_address(text) {
                Ok(address) => match self.first_line.get(&address) {
                    Some(first) => {
                        errors.push((
                            "address".to_owned(),
                            format!("{address} is a duplicate of line {first}"),
                        ));
                        None
                    }
                    None => {
                        self.first_line.insert(address.clone(), line);
                        Some(address)
                    }
                },
                Err(message) => {
                    errors.push(("address".to_owned(), message));
                    None
                }
            },
        };
        let mut text =
            |field: &str, value: Option<String>, max: usize, multiline: bool| match check_text(
                value, max, multiline,
            ) {
                Ok(value) => value,
                Err(message) => {
                    errors.push((field.to_owned(), message));
                    None
                }
            };
        let hostname = text("hostname", draft.hostname, MAX_ATTRIBUTE_CHARS, false);
        let vendor = text("vendor", draft.vendor, MAX_ATTRIBUTE_CHARS, false);
        let model = text("model", draft.model, MAX_ATTRIBUTE_CHARS, false);
        let os = text("os", draft.os, MAX_ATTRIBUTE_CHARS, false);
        let notes = text("notes", draft.notes, MAX_NOTES_CHARS, true);
        let tags = match normalize_tags("tags", &draft.tags) {
            Ok(tags) => tags,
            Err(e) => {
                for fe in e.errors {
                    // `tags[3]` indexes what we passed in; name the tag, the operator never
                    // saw that index.
                    let tag = fe
                        .field
                        .strip_prefix("tags[")
                        .and_then(|rest| rest.strip_suffix(']'))
                        .and_then(|i| i.parse::<usize>().ok())
                        .and_then(|i| draft.tags.get(i));
                    let message = match tag {
                        Some(tag) => format!("tag {:?}: {}", cut(tag, 80), fe.message),
                        None => fe.message,
                    };
                    errors.push(("tags".to_owned(), message));
                }
                Vec::new()
            }
        };
        match address {
            Some(address) if errors.is_empty() => self.out.records.push((
                line,
                DeviceRecord {
                    address,
                    hostname,
                    vendor,
                    model,
                    os,
                    tags,
                    notes,
                },
            )),
            _ => {
                for (field, message) in errors {
                    self.problem(line, field, message);
                }
            }
        }
    }
}

/// A trimmed text value: blank is `None`; too long or with control characters is an error
/// (tab and line breaks are allowed where `multiline`).
fn check_text(
    value: Option<String>,
    max: usize,
    multiline: bool,
) -> Result<Option<String>, String> {
    let Some(value) = value else {
        return Ok(None);
    };
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    let chars = value.chars().count();
    if chars > max {
        return Err(format!("at most {max} characters (this is {chars})"));
    }
    let allowed = |c: char| multiline && matches!(c, '\n' | '\r' | '\t');
    if value.chars().any(|c| c.is_control() && !allowed(c)) {
        return Err(if multiline {
            "must not contain control characters".to_owned()
        } else {
            "must be one line without control characters".to_owned()
        });
    }
    Ok(Some(value.to_owned()))
}

// ---------------------------------------------------------------- CSV

/// What a CSV column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    Address,
    Hostname,
    Vendor,
    Model,
    Os,
    Tags,
    Notes,
    /// Written by [`to_csv`] for people to read; learned by scans, never imported.
    ExportOnly,
    /// Unknown, repeated or unnamed: reported once, ignored.
    Ignored,
}

const IMPORTED_COLUMNS: [(&str, Column); 7] = [
    ("address", Column::Address),
    ("hostname", Column::Hostname),
    ("vendor", Column::Vendor),
    ("model", Column::Model),
    ("os", Column::Os),
    ("tags", Column::Tags),
    ("notes", Column::Notes),
];

const EXPORT_ONLY_COLUMNS: [&str; 6] = [
    "segment",
    "first_seen",
    "last_seen",
    "open_ports",
    "sys_name",
    "sys_descr",
];

/// The header [`to_csv`] writes.
const EXPORT_HEADER: [&str; 13] = [
    "address",
    "hostname",
    "segment",
    "vendor",
    "model",
    "os",
    "tags",
    "notes",
    "first_seen",
    "last_seen",
    "open_ports",
    "sys_name",
    "sys_descr",
];

/// Characters that make a spreadsheet cell a formula (OWASP's list).
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// Reads devices from CSV text (see the module docs for the columns and rules).
pub fn parse_csv(text: &str) -> Result<ParsedImport, ImportError> {
    let text = prepare(text)?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut rows = reader.records();
    let header = match rows.next() {
        Some(Ok(header)) => header,
        Some(Err(e)) => return Err(csv_error(&e, &mut LineCounter::new(text))),
        None => return Err(ImportError::Empty),
    };
    let mut lines = LineCounter::new(text);
    let header_line = lines.line_of(&header);
    let mut collector = Collector::default();
    let mut columns = Vec::with_capacity(header.len());
    for (i, raw) in header.iter().enumerate() {
        let name = raw.trim();
        let lower = name.to_lowercase();
        let known = IMPORTED_COLUMNS
            .iter()
            .find(|(n, _)| *n == lower)
            .map(|(_, c)| *c)
            .or_else(|| {
                EXPORT_ONLY_COLUMNS
                    .contains(&lower.as_str())
                    .then_some(Column::ExportOnly)
            });
        let column = match known {
            Some(column) if column != Column::ExportOnly && columns.contains(&column) => {
                collector.problem(
                    header_line,
                    name,
                    "the column appears more than once; only the first is read",
                );
                Column::Ignored
            }
            Some(column) => column,
            None if name.is_empty() => {
                collector.problem(
                    header_line,
                    "",
                    format!("column {} has no name; its values are ignored", i + 1),
                );
                Column::Ignored
            }
            None => {
                collector.problem(
                    header_line,
                    cut(name, 80),
                    format!(
                        "unknown column, ignored; the columns read are {}",
                        IMPORTED_COLUMNS.map(|(n, _)| n).join(", ")
                    ),
                );
                Column::Ignored
            }
        };
        columns.push(column);
    }
    if !columns.contains(&Column::Address) {
        let found = header.iter().map(str::trim).collect::<Vec<_>>().join(", ");
        return Err(ImportError::MissingAddressColumn {
            found: short(&found, 200),
        });
    }

    let mut count = 0usize;
    for row in rows {
        let row = row.map_err(|e| csv_error(&e, &mut lines))?;
        if row.iter().all(|cell| cell.trim().is_empty()) {
            continue;
        }
        count += 1;
        if count > MAX_IMPORT_ROWS {
            return Err(ImportError::TooManyRows {
                max: MAX_IMPORT_ROWS,
            });
        }
        let line = lines.line_of(&row);
        if row.len() != columns.len() {
            collector.problem(
                line,
                "",
                format!(
                    "expected {} fields as in the header, found {}",
                    columns.len(),
                    row.len()
                ),
            );
            continue;
        }
        let mut draft = Draft::default();
        for (column, cell) in columns.iter().zip(row.iter()) {
            let value = unguard(cell.trim()).to_owned();
            match column {
                Column::Address => draft.address = Some(value),
                Column::Hostname => draft.hostname = Some(value),
                Column::Vendor => draft.vendor = Some(value),
                Column::Model => draft.model = Some(value),
                Column::Os => draft.os = Some(value),
                Column::Notes => draft.notes = Some(value),
                Column::Tags => draft.tags = split_tags(&value),
                Column::ExportOnly | Column::Ignored => {}
            }
        }
        collector.finish(line, draft);
    }
    Ok(collector.out)
}

/// Physical line numbers of records. The reader's own line count is one short after a CRLF
/// line end (the record is over at the `\r`, the `\n` is counted with the next record), so
/// lines are counted here from the record's byte offset, skipping the line ends before it.
/// Offsets only grow, so counting is incremental: linear in the file, not quadratic.
struct LineCounter<'t> {
    text: &'t str,
    offset: usize,
    line: usize,
}

impl<'t> LineCounter<'t> {
    fn new(text: &'t str) -> Self {
        Self {
            text,
            offset: 0,
            line: 1,
        }
    }

    fn line_at(&mut self, byte: u64) -> usize {
        let bytes = self.text.as_bytes();
        let mut start = usize::try_from(byte).unwrap_or(usize::MAX).min(bytes.len());
        while matches!(bytes.get(start), Some(b'\r' | b'\n')) {
            start += 1;
        }
        if start > self.offset {
            self.line += bytes[self.offset..start]
                .iter()
                .filter(|b| **b == b'\n')
                .count();
            self.offset = start;
        }
        self.line
    }

    fn line_of(&mut self, record: &csv::StringRecord) -> usize {
        record
            .position()
            .map_or(self.line, |p| self.line_at(p.byte()))
    }
}

fn csv_error(e: &csv::Error, lines: &mut LineCounter<'_>) -> ImportError {
    let line = e.position().map_or(lines.line, |p| lines.line_at(p.byte()));
    ImportError::Csv {
        line,
        message: e.to_string(),
    }
}

/// `core; data center` → two tags; `core edge` → two tags.
fn split_tags(cell: &str) -> Vec<String> {
    let pieces: Vec<&str> = if cell.contains([';', '|']) {
        cell.split([';', '|']).collect()
    } else {
        cell.split_whitespace().collect()
    };
    pieces
        .into_iter()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The cell without the `'` [`to_csv`] put in front of a formula-like value.
fn unguard(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(FORMULA_STARTS) || rest.starts_with('\'') => rest,
        _ => cell,
    }
}

/// `'` in front of a value a spreadsheet would run as a formula (or that starts with `'`).
fn guard(cell: &str) -> String {
    if cell.starts_with(FORMULA_STARTS) || cell.starts_with('\'') {
        format!("'{cell}")
    } else {
        cell.to_owned()
    }
}

fn short(text: &str, max: usize) -> String {
    if text.chars().count() > max {
        format!("{}...", cut(text, max.saturating_sub(3)))
    } else {
        text.to_owned()
    }
}

/// The inventory as CSV (RFC 4180, CRLF line ends) for spreadsheets and for re-import:
/// `address,hostname,segment,vendor,model,os,tags,notes,first_seen,last_seen,open_ports,sys_name,sys_descr`.
/// Tags and ports are `;`-separated, timestamps RFC 3339 UTC, and formula-like cells are
/// guarded with a leading `'` (see the module docs). [`parse_csv`] reads it back.
pub fn to_csv(devices: &[Device]) -> String {
    let mut out = String::new();
    push_row(&mut out, EXPORT_HEADER.map(str::to_owned));
    for device in devices {
        let a = &device.attributes;
        let text = |v: &Option<String>| v.clone().unwrap_or_default();
        let ports = a
            .open_ports
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(";");
        push_row(
            &mut out,
            [
                device.address.clone(),
                text(&device.hostname),
                text(&device.segment),
                text(&a.vendor),
                text(&a.model),
                text(&a.os),
                tags_cell(&device.tags),
                device.notes.clone(),
                device
                    .first_seen
                    .to_rfc3339_opts(SecondsFormat::AutoSi, true),
                device
                    .last_seen
                    .to_rfc3339_opts(SecondsFormat::AutoSi, true),
                ports,
                text(&a.sys_name),
                text(&a.sys_descr),
            ],
        );
    }
    out
}

/// Tags joined with `;`. A single tag with a space gets a trailing `;`, or it would be
/// read back as several space-separated tags.
fn tags_cell(tags: &[String]) -> String {
    let joined = tags.join(";");
    if tags.len() == 1 && joined.contains(char::is_whitespace) {
        format!("{joined};")
    } else {
        joined
    }
}

fn push_row<const N: usize>(out: &mut String, cells: [String; N]) {
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let cell = guard(cell);
        let quote = cell.contains([',', '"', '\n', '\r'])
            || cell.starts_with(char::is_whitespace)
            || cell.ends_with(char::is_whitespace);
        if quote {
            out.push('"');
            out.push_str(&cell.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(&cell);
        }
    }
    out.push_str("\r\n");
}

// ---------------------------------------------------------------- JSON

/// Reads devices from a JSON array of objects (see the module docs).
pub fn parse_json(text: &str) -> Result<ParsedImport, ImportError> {
    let text = prepare(text)?;
    let document: Value = serde_json::from_str(text).map_err(|e| {
        let full = e.to_string();
        // serde_json appends " at line L column C"; the variant carries those.
        let message = full
            .rfind(" at line ")
            .map_or(full.as_str(), |at| &full[..at])
            .to_owned();
        ImportError::JsonSyntax {
            line: e.line(),
            column: e.column(),
            message,
        }
    })?;
    let Value::Array(items) = document else {
        return Err(ImportError::NotAnArray {
            found: json_kind(&document).to_owned(),
        });
    };
    if items.len() > MAX_IMPORT_ROWS {
        return Err(ImportError::TooManyRows {
            max: MAX_IMPORT_ROWS,
        });
    }
    let mut collector = Collector::default();
    for (i, item) in items.into_iter().enumerate() {
        let line = i + 1;
        let Value::Object(object) = item else {
            collector.problem(
                line,
                "",
                format!("expected a device object, found {}", json_kind(&item)),
            );
            continue;
        };
        let mut draft = Draft::default();
        for (key, value) in object {
            let errors = &mut draft.errors;
            match key.as_str() {
                "address" => draft.address = json_text(&key, value, errors),
                "hostname" => draft.hostname = json_text(&key, value, errors),
                "vendor" => draft.vendor = json_text(&key, value, errors),
                "model" => draft.model = json_text(&key, value, errors),
                "os" => draft.os = json_text(&key, value, errors),
                "notes" => draft.notes = json_text(&key, value, errors),
                "tags" => read_tags(&mut draft, value),
                k if EXPORT_ONLY_COLUMNS.contains(&k) => {}
                _ => collector.problem(
                    line,
                    cut(&key, 80),
                    format!(
                        "unknown key, ignored; the keys read are {}",
                        IMPORTED_COLUMNS.map(|(n, _)| n).join(", ")
                    ),
                ),
            }
        }
        collector.finish(line, draft);
    }
    Ok(collector.out)
}

/// A string or null; anything else is an error for `key`.
fn json_text(key: &str, value: Value, errors: &mut Vec<(String, String)>) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s),
        other => {
            errors.push((
                key.to_owned(),
                format!("expected a string, found {}", json_kind(&other)),
            ));
            None
        }
    }
}

fn read_tags(draft: &mut Draft, value: Value) {
    match value {
        Value::Null => {}
        Value::Array(items) => {
            for (i, item) in items.into_iter().enumerate() {
                match item {
                    Value::String(tag) => draft.tags.push(tag),
                    other => draft.errors.push((
                        format!("tags[{i}]"),
                        format!("expected a string, found {}", json_kind(&other)),
                    )),
                }
            }
        }
        other => draft.errors.push((
            "tags".to_owned(),
            format!("expected an array of strings, found {}", json_kind(&other)),
        )),
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::super::Attributes;
    use super::*;

    fn record(address: &str) -> DeviceRecord {
        DeviceRecord {
            address: address.to_owned(),
            hostname: None,
            vendor: None,
            model: None,
            os: None,
            tags: Vec::new(),
            notes: None,
        }
    }

    fn problem(line: usize, field: &str, message: &str) -> ImportProblem {
        ImportProblem {
            line,
            field: field.to_owned(),
            message: message.to_owned(),
        }
    }

    fn device(address: &str) -> Device {
        let at = Utc.with_ymd_and_hms(2026, 3, 1, 12, 30, 0).unwrap();
        Device {
            address: address.to_owned(),
            hostname: None,
            segment: None,
            attributes: Attributes::default(),
            tags: Vec::new(),
            notes: String::new(),
            first_seen: at,
            last_seen: at,
            last_scan_id: None,
        }
    }

    #[test]
    fn csv_rows_become_records_with_their_lines() {
        let text = "Address , HOSTNAME,vendor,model,os,tags,notes\n\
                    10.0.0.1,core1,Cisco,C9300,Cisco IOS XE,core;dc1,main switch\n\
                    2001:DB8::1,,,,,,\n";
        let parsed = parse_csv(text).unwrap();
        assert_eq!(parsed.problems, []);
        let first = DeviceRecord {
            address: "10.0.0.1".to_owned(),
            hostname: Some("core1".to_owned()),
            vendor: Some("Cisco".to_owned()),
            model: Some("C9300".to_owned()),
            os: Some("Cisco IOS XE".to_owned()),
            tags: vec!["core".to_owned(), "dc1".to_owned()],
            notes: Some("main switch".to_owned()),
        };
        assert_eq!(
            parsed.records,
            [(2, first), (3, record("2001:db8::1"))],
            "addresses are canonical"
        );
    }

    #[test]
    fn only_address_is_required() {
        let parsed = parse_csv("address\r\n10.0.0.1\r\n10.0.0.2\r\n").unwrap();
        assert_eq!(
            parsed.records,
            [(2, record("10.0.0.1")), (3, record("10.0.0.2"))]
        );
    }

    #[test]
    fn a_header_without_address_is_refused() {
        let e = parse_csv("ip,hostname\n10.0.0.1,a\n").unwrap_err();
        assert_eq!(
            e,
            ImportError::MissingAddressColumn {
                found: "ip, hostname".to_owned()
            }
        );
        assert_eq!(
            e.to_string(),
            "line 1: the header has no \"address\" column (columns: ip, hostname)"
        );
    }

    #[test]
    fn empty_files_are_refused() {
        assert_eq!(parse_csv("").unwrap_err(), ImportError::Empty);
        assert_eq!(parse_csv(" \n\r\n ").unwrap_err(), ImportError::Empty);
        assert_eq!(parse_csv("\u{feff}").unwrap_err(), ImportError::Empty);
        assert_eq!(parse_json("  ").unwrap_err(), ImportError::Empty);
        assert_eq!(parse_json("[]").unwrap(), ParsedImport::default());
        assert_eq!(parse_csv("address\n").unwrap(), ParsedImport::default());
    }

    #[test]
    fn a_byte_order_mark_is_ignored() {
        let parsed = parse_csv("\u{feff}address\n10.0.0.1\n").unwrap();
        assert_eq!(parsed.records, [(2, record("10.0.0.1"))]);
        let parsed = parse_json("\u{feff}[{\"address\": \"10.0.0.1\"}]").unwrap();
        assert_eq!(parsed.records, [(1, record("10.0.0.1"))]);
    }

    #[test]
    fn unknown_columns_are_reported_once_and_ignored() {
        let text = "address,colour,,hostname\n10.0.0.1,red,x,a\n10.0.0.2,blue,y,b\n";
        let parsed = parse_csv(text).unwrap();
        assert_eq!(parsed.records.len(), 2);
        assert_eq!(parsed.problems.len(), 2);
        assert_eq!(parsed.problems[0].line, 1);
        assert_eq!(parsed.problems[0].field, "colour");
        assert!(parsed.problems[0].message.starts_with("unknown column"));
        assert_eq!(
            parsed.problems[1],
            problem(1, "", "column 3 has no name; its values are ignored")
        );
    }

    #[test]
    fn a_repeated_column_reads_the_first() {
        let parsed = parse_csv("address,hostname,Hostname\n10.0.0.1,a,b\n").unwrap();
        assert_eq!(parsed.records[0].1.hostname.as_deref(), Some("a"));
        assert_eq!(parsed.problems[0].field, "Hostname");
    }

    #[test]
    fn a_row_with_the_wrong_number_of_fields_is_a_problem() {
        let text = "address,hostname\n10.0.0.1,a,extra\n10.0.0.2\n10.0.0.3,c\n";
        let parsed = parse_csv(text).unwrap();
        assert_eq!(
            parsed.records,
            [(
                4,
                DeviceRecord {
                    hostname: Some("c".to_owned()),
                    ..record("10.0.0.3")
                }
            )]
        );
        assert_eq!(
            parsed.problems,
            [
                problem(2, "", "expected 2 fields as in the header, found 3"),
                problem(3, "", "expected 2 fields as in the header, found 1"),
            ]
        );
    }

    #[test]
    fn bad_addresses_are_named() {
        let text = "address,hostname\n10.0.0.256,a\n,b\nrouter1,c\n";
        let parsed = parse_csv(text).unwrap();
        assert_eq!(parsed.records, []);
        assert_eq!(parsed.problems.len(), 3);
        assert_eq!(
            parsed.problems[0],
            problem(
                2,
                "address",
                "\"10.0.0.256\" is not an IPv4 or IPv6 address"
            )
        );
        assert_eq!(
            parsed.problems[1],
            problem(3, "address", "an address is required")
        );
        assert_eq!(parsed.problems[2].line, 4);
    }

    #[test]
    fn duplicates_name_the_first_line_and_the_first_is_kept() {
        let text = "address,hostname\n10.0.0.1,a\n10.0.0.2,b\n010.0.0.1,x\n 10.0.0.1 ,c\n";
        let parsed = parse_csv(text).unwrap();
        assert_eq!(
            parsed
                .records
                .iter()
                .map(|(l, r)| (*l, r.hostname.as_deref().unwrap_or_default()))
                .collect::<Vec<_>>(),
            [(2, "a"), (3, "b")]
        );
        assert_eq!(parsed.problems[0].line, 4, "010.0.0.1 is not an address");
        assert_eq!(
            parsed.problems[1],
            problem(5, "address", "10.0.0.1 is a duplicate of line 2")
        );

        let v6 = "address\n2001:db8::1\n2001:DB8:0:0::1\n";
        let parsed = parse_csv(v6).unwrap();
        assert_eq!(
            parsed.problems,
            [problem(
                3,
                "address",
                "2001:db8::1 is a duplicate of line 2"
            )]
        );
    }

    #[test]
    fn a_bad_first_row_still_owns_its_address() {
        let text = "address,hostname\n10.0.0.1,\"bad\u{7}name\"\n10.0.0.1,good\n";
        let parsed = parse_csv(text).unwrap();
        assert_eq!(parsed.records, []);
        assert_eq!(parsed.problems[0].field, "hostname");
        assert_eq!(
            parsed.problems[1],
            problem(3, "address", "10.0.0.1 is a duplicate of line 2")
        );
    }

    #[test]
    fn tags_split_on_semicolons_bars_or_spaces() {
        assert_eq!(split_tags("core;dc1"), ["core", "dc1"]);
        assert_eq!(split_tags("core | dc1"), ["core", "dc1"]);
        assert_eq!(split_tags("core  dc1"), ["core", "dc1"]);
        assert_eq!(split_tags("core; data center;"), ["core", "data center"]);
        assert_eq!(split_tags(" "), Vec::<String>::new());
        let parsed = parse_csv("address,tags\n10.0.0.1,b a b\n").unwrap();
        assert_eq!(parsed.records[0].1.tags, ["a", "b"], "sorted and unique");
    }

    #[test]
    fn each_bad_tag_is_a_problem() {
        let long = "x".repeat(65);
        let text = format!("address,tags\n10.0.0.1,ok;{long};\"a\u{1}b\"\n");
        let parsed = parse_csv(&text).unwrap();
        assert_eq!(parsed.records, []);
        assert_eq!(parsed.problems.len(), 2);
        assert!(
            parsed
                .problems
                .iter()
                .all(|p| p.field == "tags" && p.line == 2)
        );
        assert!(parsed.problems[0].message.contains("1-64 characters"));
        assert!(parsed.problems[1].message.contains("control characters"));

        let many: Vec<String> = (0..33).map(|i| format!("t{i}")).collect();
        let text = format!("address,tags\n10.0.0.1,{}\n", many.join(";"));
        let parsed = parse_csv(&text).unwrap();
        assert_eq!(parsed.problems, [problem(2, "tags", "at most 32 tags")]);
    }

    #[test]
    fn long_text_is_a_problem_not_cut() {
        let text = format!(
            "address,vendor,notes\n10.0.0.1,{},ok\n10.0.0.2,ok,{}\n10.0.0.3,v,{}\n",
            "v".repeat(MAX_ATTRIBUTE_CHARS + 1),
            "n".repeat(MAX_NOTES_CHARS + 1),
            "n".repeat(MAX_NOTES_CHARS),
        );
        let parsed = parse_csv(&text).unwrap();
        assert_eq!(parsed.records.len(), 1);
        assert_eq!(parsed.records[0].0, 4);
        assert_eq!(
            parsed.problems,
            [
                problem(2, "vendor", "at most 512 characters (this is 513)"),
                problem(3, "notes", "at most 4000 characters (this is 4001)"),
            ]
        );
    }

    #[test]
    fn notes_may_span_lines_and_later_lines_count_them() {
        let text = "address,notes\n10.0.0.1,\"first\nsecond, \"\"quoted\"\"\"\n10.0.0.2,x\n";
        let parsed = parse_csv(text).unwrap();
        assert_eq!(parsed.problems, []);
        assert_eq!(
            parsed.records[0].1.notes.as_deref(),
            Some("first\nsecond, \"quoted\"")
        );
        assert_eq!(parsed.records[1].0, 4, "the physical line");
        let parsed = parse_csv("address,hostname\n10.0.0.1,\"a\nb\"\n").unwrap();
        assert_eq!(parsed.problems[0].field, "hostname");
    }

    #[test]
    fn line_numbers_are_physical_with_crlf_blank_lines_and_multi_line_cells() {
        let text = "address,notes\r\n\r\n10.0.0.1,\"a\r\nb\r\nc\"\r\n\r\n\r\nbad,x\r\n10.0.0.2,y";
        let parsed = parse_csv(text).unwrap();
        assert_eq!(parsed.records[0].0, 3);
        assert_eq!(parsed.problems[0].line, 8);
        assert_eq!(parsed.records[1].0, 9);
        let lf = text.replace("\r\n", "\n");
        let parsed = parse_csv(&lf).unwrap();
        assert_eq!(parsed.records[0].0, 3);
        assert_eq!(parsed.problems[0].line, 8);
        assert_eq!(parsed.records[1].0, 9);
    }

    #[test]
    fn blank_rows_are_skipped() {
        let parsed = parse_csv("address,hostname\n\n,\n10.0.0.1,a\n , \n").unwrap();
        assert_eq!(parsed.problems, []);
        assert_eq!(parsed.records.len(), 1);
        assert_eq!(parsed.records[0].0, 4);
    }

    #[test]
    fn too_many_rows_are_refused() {
        let mut text = String::from("address\n");
        for i in 0..=MAX_IMPORT_ROWS {
            text.push_str(&format!("10.{}.{}.{}\n", i >> 16, (i >> 8) & 255, i & 255));
        }
        assert_eq!(
            parse_csv(&text).unwrap_err(),
            ImportError::TooManyRows {
                max: MAX_IMPORT_ROWS
            }
        );
        let json = format!("[{}{{}}]", "{},".repeat(MAX_IMPORT_ROWS));
        assert_eq!(
            parse_json(&json).unwrap_err(),
            ImportError::TooManyRows {
                max: MAX_IMPORT_ROWS
            }
        );
    }

    #[test]
    fn files_over_16_mib_are_refused() {
        let big = " ".repeat(MAX_IMPORT_BYTES + 1);
        let e = parse_csv(&big).unwrap_err();
        assert_eq!(
            e,
            ImportError::TooLarge {
                bytes: MAX_IMPORT_BYTES + 1,
                max: MAX_IMPORT_BYTES
            }
        );
        assert!(e.to_string().contains("16 MiB"));
        assert!(parse_json(&big).is_err());
        assert!(matches!(
            decode(big.as_bytes()),
            Err(ImportError::TooLarge { .. })
        ));
    }

    #[test]
    fn non_utf8_bytes_are_located() {
        let bytes = b"address,hostname\n10.0.0.1,K\xf6ln\n";
        assert_eq!(
            decode(bytes).unwrap_err(),
            ImportError::NotUtf8 {
                line: 2,
                column: 11
            }
        );
        assert_eq!(decode(b"address\n").unwrap(), "address\n");
    }

    #[test]
    fn json_records_and_problems() {
        let text = r#"[
            {"address": "10.0.0.1", "hostname": "core1", "tags": ["core", "dc1"], "notes": null},
            {"address": "10.0.0.2", "colour": "red"},
            {"address": "10.0.0.1"},
            {"address": 5, "hostname": ["x"], "tags": "core"},
            "10.0.0.3",
            {"address": "10.0.0.4", "tags": ["ok", 7]},
            {"hostname": "no address"},
            {"address": "2001:DB8::1", "segment": "dc1", "first_seen": "2026-01-01T00:00:00Z"}
        ]"#;
        let parsed = parse_json(text).unwrap();
        let lines: Vec<usize> = parsed.records.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, [1, 2, 8]);
        assert_eq!(
            parsed.records[0].1,
            DeviceRecord {
                hostname: Some("core1".to_owned()),
                tags: vec!["core".to_owned(), "dc1".to_owned()],
                ..record("10.0.0.1")
            }
        );
        assert_eq!(parsed.records[2].1.address, "2001:db8::1");
        let got: Vec<(usize, &str)> = parsed
            .problems
            .iter()
            .map(|p| (p.line, p.field.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (2, "colour"),
                (3, "address"),
                (4, "address"),
                (4, "hostname"),
                (4, "tags"),
                (5, ""),
                (6, "tags[1]"),
                (7, "address"),
            ]
        );
        assert_eq!(
            parsed.problems[1].message,
            "10.0.0.1 is a duplicate of line 1"
        );
        assert_eq!(
            parsed.problems[2].message,
            "expected a string, found a number"
        );
        assert_eq!(
            parsed.problems[5].message,
            "expected a device object, found a string"
        );
    }

    #[test]
    fn json_syntax_errors_carry_line_and_column() {
        let e = parse_json("[\n  {\"address\": \"10.0.0.1\",}\n]").unwrap_err();
        let ImportError::JsonSyntax {
            line,
            column,
            message,
        } = &e
        else {
            panic!("{e:?}");
        };
        assert_eq!((*line, *column), (2, 26));
        assert!(!message.contains(" at line "), "{message}");
        assert!(
            e.to_string()
                .starts_with("line 2, column 26: invalid JSON: "),
            "{e}"
        );
    }

    #[test]
    fn json_must_be_an_array() {
        assert_eq!(
            parse_json(r#"{"address": "10.0.0.1"}"#).unwrap_err(),
            ImportError::NotAnArray {
                found: "an object".to_owned()
            }
        );
        assert_eq!(
            parse_json("42").unwrap_err().to_string(),
            "the JSON document is a number; expected an array of device objects"
        );
    }

    #[test]
    fn device_records_serialise_and_read_back_as_json() {
        let records = vec![
            DeviceRecord {
                hostname: Some("a".to_owned()),
                tags: vec!["core".to_owned()],
                notes: Some("line 1\nline 2".to_owned()),
                ..record("10.0.0.1")
            },
            record("2001:db8::1"),
        ];
        let json = serde_json::to_string(&records).unwrap();
        let parsed = parse_json(&json).unwrap();
        assert_eq!(parsed.problems, []);
        let back: Vec<DeviceRecord> = parsed.records.into_iter().map(|(_, r)| r).collect();
        assert_eq!(back, records);
    }

    #[test]
    fn csv_export_has_the_documented_header() {
        let csv = to_csv(&[]);
        assert_eq!(
            csv,
            "address,hostname,segment,vendor,model,os,tags,notes,first_seen,last_seen,\
             open_ports,sys_name,sys_descr\r\n"
        );
    }

    #[test]
    fn csv_export_writes_attributes_ports_and_timestamps() {
        let mut d = device("10.0.0.1");
        d.segment = Some("dc1".to_owned());
        d.attributes.open_ports = vec![22, 443];
        d.attributes.vendor = Some("Cisco".to_owned());
        d.attributes.sys_descr = Some("Cisco IOS Software, C3750E Software".to_owned());
        let csv = to_csv(&[d]);
        let line = csv.lines().nth(1).unwrap();
        assert_eq!(
            line,
            "10.0.0.1,,dc1,Cisco,,,,,2026-03-01T12:30:00Z,2026-03-01T12:30:00Z,22;443,,\
             \"Cisco IOS Software, C3750E Software\""
        );
    }

    #[test]
    fn csv_export_round_trips_through_import() {
        let mut a = device("10.0.0.1");
        a.hostname = Some("core, \"one\"".to_owned());
        a.attributes.vendor = Some("Cisco".to_owned());
        a.attributes.model = Some("WS-C2960X-48TS-L".to_owned());
        a.attributes.os = Some("Cisco IOS".to_owned());
        a.tags = vec!["core".to_owned(), "dc 1".to_owned()];
        a.notes = "first line, with comma\nsecond \"quoted\" line\r\nthird".to_owned();
        let mut b = device("2001:db8::1");
        b.tags = vec!["data center".to_owned()];
        b.notes = "=HYPERLINK(\"http://evil\")".to_owned();
        let mut c = device("192.0.2.7");
        c.hostname = Some("-leading-dash".to_owned());
        c.notes = "'quoted already".to_owned();
        c.tags = vec!["+plus".to_owned(), "@ops".to_owned()];
        let d = device("192.0.2.8");

        let devices = [a, b, c, d];
        let parsed = parse_csv(&to_csv(&devices)).unwrap();
        assert_eq!(parsed.problems, []);
        let back: Vec<DeviceRecord> = parsed.records.into_iter().map(|(_, r)| r).collect();
        let expected: Vec<DeviceRecord> = devices
            .iter()
            .map(|d| DeviceRecord {
                address: d.address.clone(),
                hostname: d.hostname.clone(),
                vendor: d.attributes.vendor.clone(),
                model: d.attributes.model.clone(),
                os: d.attributes.os.clone(),
                tags: d.tags.clone(),
                notes: (!d.notes.is_empty()).then(|| d.notes.clone()),
            })
            .collect();
        assert_eq!(back, expected);
    }

    #[test]
    fn csv_export_neutralises_formulas() {
        let mut d = device("10.0.0.1");
        d.hostname = Some("=cmd|' /C calc'!A0".to_owned());
        d.notes = "@SUM(1+1)".to_owned();
        d.attributes.model = Some("+1".to_owned());
        d.attributes.os = Some("-2".to_owned());
        d.tags = vec!["=x".to_owned()];
        let csv = to_csv(&[d]);
        let row = csv.lines().nth(1).unwrap();
        let reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(row.as_bytes())
            .into_records()
            .next()
            .unwrap()
            .unwrap();
        for cell in reader.iter() {
            assert!(!cell.starts_with(FORMULA_STARTS), "{cell:?} in {row}");
        }
        assert!(row.contains("'=cmd|"), "{row}");
        assert!(row.contains("'@SUM(1+1)"), "{row}");
        assert!(row.contains("'+1"), "{row}");
        assert!(row.contains("'-2"), "{row}");
    }

    #[test]
    fn import_strips_only_the_guard_quote() {
        assert_eq!(unguard("'=1+1"), "=1+1");
        assert_eq!(unguard("'-x"), "-x");
        assert_eq!(unguard("''x"), "'x");
        assert_eq!(unguard("'hello"), "'hello");
        assert_eq!(unguard("it's"), "it's");
        let parsed = parse_csv("address,hostname\n10.0.0.1,'-sw1\n").unwrap();
        assert_eq!(parsed.records[0].1.hostname.as_deref(), Some("-sw1"));
    }

    #[test]
    fn hand_written_csv_quirks_are_tolerated() {
        // Quoted header, spaces around cells, CRLF, no final newline.
        let text = "\"address\",\"tags\"\r\n 10.0.0.1 , core edge \r\n10.0.0.2,";
        let parsed = parse_csv(text).unwrap();
        assert_eq!(parsed.problems, []);
        assert_eq!(parsed.records[0].1.tags, ["core", "edge"]);
        assert_eq!(parsed.records[1], (3, record("10.0.0.2")));
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        proptest! {
            #[test]
            fn any_text_never_panics(text in "\\PC{0,400}") {
                let _ = parse_csv(&text);
                let _ = parse_json(&text);
                let _ = parse_csv(&format!("address,hostname,tags,notes\n{text}"));
            }

            #[test]
            fn exported_notes_and_names_read_back(
                notes in "[^\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f]{0,60}",
                hostname in "[ -~]{0,30}",
            ) {
                let mut d = device("10.0.0.1");
                d.notes = notes.trim().to_owned();
                d.hostname = Some(hostname.trim().to_owned()).filter(|h| !h.is_empty());
                let parsed = parse_csv(&to_csv(&[d.clone()])).unwrap();
                prop_assert_eq!(parsed.problems, vec![]);
                let got = &parsed.records[0].1;
                prop_assert_eq!(got.notes.clone().unwrap_or_default(), d.notes);
                prop_assert_eq!(got.hostname.clone(), d.hostname);
            }
        }
    }
}
