//! Output parsers: device output in, named typed fields and rows out.
//!
//! A parser is a [`ParserDef`] (one entry of `parserLibrary.json`): an [`Extract`] step that
//! pulls *raw* values out of the text, and an optional field map that renames and coerces
//! them ([`FieldSpec`], [`FieldType`]). [`ParserDef::compile`] checks the whole definition
//! at library load and reports every problem with its JSON path inside the entry
//! (`extract.pattern`, `fields.loss_pct.from`); [`CompiledParser::parse`] is then a pure,
//! total function of the output text.
//!
//! ## Extractors
//! | `type` | reads | fills |
//! |---|---|---|
//! | `regex` | named groups; `mode: first` (several patterns merge) or `all` | fields / rows |
//! | `lines` | a pattern per line; optional `pivot` of name/value pairs (SNMP) | rows, or fields |
//! | `jsonpath` | RFC 9535 queries; `rows` + `row_paths` (`@.x`, relative to the row) | fields (+ rows) |
//! | `kv` | `key=value` / `Key : value` pairs | fields |
//! | `table` | whitespace or fixed-width columns, header or named columns | rows |
//!
//! ## Output and errors
//! [`CompiledParser::parse`] always returns a [`ParsedOutput`]. Problems with the *output*
//! are [`ParseError`]s listed, as text, in [`ParsedOutput::errors`], and parsing carries on
//! where it can:
//! - nothing extracted → `no match: ...` and empty fields / rows;
//! - a value that fails coercion → the field is `null` and the error names the field, the
//!   value and why (`fields.loss_pct: cannot read "n/a" as float: not a number`);
//! - an absent raw value → the field's `default` if any, else the field is left out;
//! - size caps ([`Limits`]): input beyond 1 MiB is cut at a character boundary, rows and
//!   fields stop at 10,000, errors at 100 — each cut is reported.
//!
//! Without a field map raw values pass through: regex groups and table cells as strings,
//! JSONPath results as JSON. With one, only the mapped fields are output. The map applies
//! to `fields` and to every row (for `jsonpath`, a field reading a `paths` name goes to
//! `fields` and one reading a `row_paths` name to each row).
//!
//! The API takes `&str`: callers decode device bytes lossily (`String::from_utf8_lossy`).
//!
//! ## Layout
//! - `def.rs` — the definition format (serde).
//! - `coerce.rs` — [`coerce`] and friends, reused by the HTTP action and criteria.
//! - `pattern.rs`, `jsonpath.rs`, `kv.rs`, `table.rs` — the extractors.
//! - `fields.rs` — the compiled field map.
//! - `samples.rs` — [`check_samples`] and its compact diff.

mod coerce;
mod def;
mod fields;
mod jsonpath;
mod kv;
mod pattern;
mod samples;
mod table;

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use coerce::{
    CoerceError, FieldType, coerce, coerce_json, coerce_with_unit, parse_bool, parse_bytes,
    parse_duration_secs, parse_float, parse_int,
};
pub use def::{
    Expected, Extract, FieldSpec, JsonPathExtract, KeyCase, KvExtract, LinesExtract, OneOrMany,
    ParserDef, Pivot, RegexExtract, RegexMode, Sample, TableExtract,
};
pub use samples::check_samples;

use crate::error::FieldError;

/// One record of raw or output values.
pub(crate) type Record = Map<String, Value>;

/// Most bytes of output parsed; the rest is ignored (and reported).
pub const MAX_INPUT_BYTES: usize = 1 << 20;
/// Most rows (and most fields) one parse produces.
pub const MAX_ROWS: usize = 10_000;
/// Most error lines one parse reports; the rest are counted in a last line.
pub const MAX_ERRORS: usize = 100;

/// Size caps applied by [`CompiledParser::parse_with_limits`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of input parsed; the input is cut at the last character boundary before.
    pub max_input_bytes: usize,
    /// Rows kept.
    pub max_rows: usize,
    /// Fields kept (only `kv` and pivoted `lines` can produce many).
    pub max_fields: usize,
    /// Error lines kept.
    pub max_errors: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_input_bytes: MAX_INPUT_BYTES,
            max_rows: MAX_ROWS,
            max_fields: MAX_ROWS,
            max_errors: MAX_ERRORS,
        }
    }
}

/// What a parser made of one output.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ParsedOutput {
    /// Named values (regex `first`, pivoted `lines`, `jsonpath` paths, `kv`).
    #[serde(default)]
    pub fields: Map<String, Value>,
    /// Records (regex `all`, `lines`, `jsonpath` rows, `table`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rows: Vec<Map<String, Value>>,
    /// Problems with the output, one line each; empty when it parsed cleanly.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

impl ParsedOutput {
    /// True when the output parsed without any error.
    pub fn is_clean(&self) -> bool {
        self.errors.is_empty()
    }
}

/// A problem with the output being parsed (the definition itself is sound).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParseError {
    /// The extractor found nothing it recognises.
    #[error("no match: {0}")]
    NoMatch(String),
    /// A `jsonpath` parser was given something else than JSON.
    #[error("input is not valid JSON: {0}")]
    InvalidJson(String),
    /// The input exceeded [`Limits::max_input_bytes`].
    #[error("input longer than {limit} bytes; only the first {limit} were parsed")]
    InputTruncated {
        /// The cap.
        limit: usize,
    },
    /// More rows than [`Limits::max_rows`].
    #[error("more than {limit} rows; the rest were dropped")]
    TooManyRows {
        /// The cap.
        limit: usize,
    },
    /// More fields than [`Limits::max_fields`].
    #[error("more than {limit} fields; the rest were dropped")]
    TooManyFields {
        /// The cap.
        limit: usize,
    },
    /// A raw value failed its field's coercion; the field is `null`.
    #[error("{path}: {error}")]
    Field {
        /// `fields.<name>` or `rows[<i>].<name>`.
        path: String,
        /// Why.
        error: CoerceError,
    },
}

/// A problem in a parser definition, at a JSON path relative to the entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefProblem {
    /// Path inside the entry: `extract.pattern`, `fields.loss_pct.from`, `samples[2].expected`.
    pub path: String,
    /// What is wrong, for the library author.
    pub message: String,
}

impl DefProblem {
    /// A problem at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for DefProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

impl From<DefProblem> for FieldError {
    fn from(p: DefProblem) -> Self {
        Self {
            field: p.path,
            message: p.message,
        }
    }
}

/// Raw extraction result, before the field map.
#[derive(Debug, Default)]
pub(crate) struct Raw {
    pub(crate) fields: Record,
    pub(crate) rows: Vec<Record>,
    pub(crate) errors: Vec<ParseError>,
    row_limit_hit: bool,
    field_limit_hit: bool,
}

impl Raw {
    /// Adds a row; `false` (and one error) once the cap is reached.
    pub(crate) fn push_row(&mut self, record: Record, limits: &Limits) -> bool {
        if self.rows.len() >= limits.max_rows {
            self.note_row_limit(limits);
            return false;
        }
        self.rows.push(record);
        true
    }

    pub(crate) fn note_row_limit(&mut self, limits: &Limits) {
        if !self.row_limit_hit {
            self.row_limit_hit = true;
            self.errors.push(ParseError::TooManyRows {
                limit: limits.max_rows,
            });
        }
    }

    /// Adds a field; `false` (and one error) once the cap is reached.
    pub(crate) fn push_field(&mut self, name: String, value: Value, limits: &Limits) -> bool {
        if self.fields.len() >= limits.max_fields {
            if !self.field_limit_hit {
                self.field_limit_hit = true;
                self.errors.push(ParseError::TooManyFields {
                    limit: limits.max_fields,
                });
            }
            return false;
        }
        self.fields.insert(name, value);
        true
    }
}

/// The compiled extractor.
#[derive(Debug, Clone)]
enum Extractor {
    Regex(pattern::RegexExtractor),
    Lines(pattern::LinesExtractor),
    JsonPath(jsonpath::JsonPathExtractor),
    Kv(kv::KvExtractor),
    Table(table::TableExtractor),
}

/// A parser ready to run: patterns and queries compiled, field map checked.
#[derive(Debug, Clone)]
pub struct CompiledParser {
    id: String,
    extractor: Extractor,
    fields: Option<fields::FieldMap>,
}

impl ParserDef {
    /// Compiles the definition, reporting every problem at once with its path inside the
    /// entry: broken regex or JSONPath, a field reading a name the extractor cannot
    /// produce, a default of the wrong type, a scale on a non-number, ...
    pub fn compile(&self) -> Result<CompiledParser, Vec<DefProblem>> {
        let mut problems = Vec::new();
        let extractor = match &self.extract {
            Extract::Regex(def) => {
                pattern::RegexExtractor::compile(def, &mut problems).map(Extractor::Regex)
            }
            Extract::Lines(def) => {
                pattern::LinesExtractor::compile(def, &mut problems).map(Extractor::Lines)
            }
            Extract::Jsonpath(def) => {
                jsonpath::JsonPathExtractor::compile(def, &mut problems).map(Extractor::JsonPath)
            }
            Extract::Kv(def) => kv::KvExtractor::compile(def, &mut problems).map(Extractor::Kv),
            Extract::Table(def) => {
                table::TableExtractor::compile(def, &mut problems).map(Extractor::Table)
            }
        };
        if self.name.trim().is_empty() {
            problems.push(DefProblem::new("name", "must not be blank"));
        }
        let fields = match (&self.fields, &extractor) {
            (Some(specs), Some(extractor)) => {
                fields::FieldMap::compile(specs, &extractor.shape(), &mut problems)
            }
            (Some(specs), None) => {
                // Still check what can be checked without the extractor.
                fields::FieldMap::compile(specs, &fields::Shape::unknown(), &mut problems)
            }
            (None, _) => None,
        };
        match extractor {
            Some(extractor) if problems.is_empty() => Ok(CompiledParser {
                id: self.id.clone(),
                extractor,
                fields,
            }),
            _ => Err(problems),
        }
    }
}

impl Extractor {
    /// Which raw names reach `fields` and rows (`None`: decided by the data).
    fn shape(&self) -> fields::Shape {
        use fields::Scope;
        match self {
            Self::Regex(r) => match r.mode() {
                RegexMode::First => fields::Shape::fields_only(Scope::Known(r.names())),
                RegexMode::All => fields::Shape::rows_only(Scope::Known(r.names())),
            },
            Self::Lines(l) if l.fills_fields() => fields::Shape::fields_only(Scope::Dynamic),
            Self::Lines(l) => {
                fields::Shape::rows_only(l.names().map_or(Scope::Dynamic, Scope::Known))
            }
            Self::JsonPath(j) => fields::Shape {
                fields: Some(Scope::Known(j.field_names())),
                rows: j
                    .row_names()
                    .map(|names| names.map_or(Scope::Dynamic, Scope::Known)),
            },
            Self::Kv(_) => fields::Shape::fields_only(Scope::Dynamic),
            Self::Table(t) => {
                fields::Shape::rows_only(t.names().map_or(Scope::Dynamic, Scope::Known))
            }
        }
    }

    fn extract(&self, input: &str, limits: &Limits, raw: &mut Raw) {
        match self {
            Self::Regex(e) => e.extract(input, limits, raw),
            Self::Lines(e) => e.extract(input, limits, raw),
            Self::JsonPath(e) => e.extract(input, limits, raw),
            Self::Kv(e) => e.extract(input, limits, raw),
            Self::Table(e) => e.extract(input, limits, raw),
        }
    }
}

impl CompiledParser {
    /// The parser's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Parses one output with the default [`Limits`]. Never fails and never panics:
    /// problems with the output are listed in [`ParsedOutput::errors`].
    pub fn parse(&self, input: &str) -> ParsedOutput {
        self.parse_with_limits(input, &Limits::default())
    }

    /// Parses one output with explicit size caps.
    pub fn parse_with_limits(&self, input: &str, limits: &Limits) -> ParsedOutput {
        let mut raw = Raw::default();
        let input = match truncate(input, limits.max_input_bytes) {
            Some(cut) => {
                raw.errors.push(ParseError::InputTruncated {
                    limit: limits.max_input_bytes,
                });
                cut
            }
            None => input,
        };
        self.extractor.extract(input, limits, &mut raw);
        let mut errors = std::mem::take(&mut raw.errors);
        let (fields, rows) = match &self.fields {
            None => (raw.fields, raw.rows),
            Some(map) => map.apply(raw.fields, raw.rows, &mut errors),
        };
        let mut errors: Vec<String> = errors.iter().map(ToString::to_string).collect();
        if errors.len() > limits.max_errors {
            let dropped = errors.len() - limits.max_errors;
            errors.truncate(limits.max_errors);
            errors.push(format!("{dropped} more errors not shown"));
        }
        ParsedOutput {
            fields,
            rows,
            errors,
        }
    }
}

/// `input` cut to at most `max` bytes at a character boundary, or `None` when it fits.
fn truncate(input: &str, max: usize) -> Option<&str> {
    if input.len() <= max {
        return None;
    }
    let mut end = max;
    while !input.is_char_boundary(end) {
        end -= 1;
    }
    Some(&input[..end])
}

#[cfg(test)]
mod tests;
