//! Parser definitions as written in `parserLibrary.json` (serde, `deny_unknown_fields`).

use std::collections::BTreeMap;

use serde::de::{self, DeserializeOwned, Deserializer};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::coerce::FieldType;

/// One parser entry of a parser library.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParserDef {
    /// Stable id commands refer to (`ping.stats`).
    pub id: String,
    /// Human name for the Job Builder.
    pub name: String,
    /// What it reads and what it produces.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// How raw values are pulled out of the output.
    pub extract: Extract,
    /// Output name → how to build it from a raw value. Absent: raw values pass through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<BTreeMap<String, FieldSpec>>,
    /// Captured outputs with what the parser must make of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub samples: Vec<Sample>,
}

/// How raw values are pulled out of the output, tagged by `type`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Extract {
    /// Regular expression with named groups over the whole output.
    Regex(RegexExtract),
    /// A regular expression per line; each matching line is a row, or pairs pivot into
    /// fields or keyed rows (SNMP walks).
    Lines(LinesExtract),
    /// JSONPath (RFC 9535) queries over a JSON document.
    Jsonpath(JsonPathExtract),
    /// `key=value` (or `key: value`) pairs.
    Kv(KvExtract),
    /// Whitespace-separated or fixed-width table.
    Table(TableExtract),
}

impl Extract {
    /// The `type` tag.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Regex(_) => "regex",
            Self::Lines(_) => "lines",
            Self::Jsonpath(_) => "jsonpath",
            Self::Kv(_) => "kv",
            Self::Table(_) => "table",
        }
    }
}

const EXTRACT_TYPES: &[&str] = &["regex", "lines", "jsonpath", "kv", "table"];

// Hand-written so that an error inside the variant names its key (`pattern: invalid type`):
// serde's internally tagged enums buffer the content and lose the inner path.
impl<'de> Deserialize<'de> for Extract {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut map = Map::<String, Value>::deserialize(deserializer)?;
        let ty = match map.remove("type") {
            Some(Value::String(ty)) => ty,
            Some(other) => {
                return Err(de::Error::custom(format!(
                    "`type` must be a string, one of {}; got {other}",
                    EXTRACT_TYPES.join(", ")
                )));
            }
            None => return Err(de::Error::missing_field("type")),
        };
        let body = Value::Object(map);
        match ty.as_str() {
            "regex" => variant(body).map(Self::Regex),
            "lines" => variant(body).map(Self::Lines),
            "jsonpath" => variant(body).map(Self::Jsonpath),
            "kv" => variant(body).map(Self::Kv),
            "table" => variant(body).map(Self::Table),
            other => Err(de::Error::unknown_variant(other, EXTRACT_TYPES)),
        }
    }
}

fn variant<T: DeserializeOwned, E: de::Error>(body: Value) -> Result<T, E> {
    serde_path_to_error::deserialize(body).map_err(|e| {
        let path = e.path().to_string();
        if path == "." {
            E::custom(e.into_inner())
        } else {
            E::custom(format!("{path}: {}", e.into_inner()))
        }
    })
}

/// One value or a list of them (`"pattern": "..."` or `"pattern": ["...", "..."]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum OneOrMany {
    /// A single value.
    One(String),
    /// Several, tried in order.
    Many(Vec<String>),
}

impl OneOrMany {
    /// The values in order.
    pub fn as_slice(&self) -> &[String] {
        match self {
            Self::One(one) => std::slice::from_ref(one),
            Self::Many(many) => many,
        }
    }

    /// The JSON path of the `i`-th value under `base` (`base` itself for a single value).
    pub(crate) fn path_of(&self, base: &str, i: usize) -> String {
        match self {
            Self::One(_) => base.to_owned(),
            Self::Many(_) => format!("{base}[{i}]"),
        }
    }
}

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Value::deserialize(deserializer)? {
            Value::String(s) => Ok(Self::One(s)),
            Value::Array(items) => items
                .into_iter()
                .map(|item| match item {
                    Value::String(s) => Ok(s),
                    other => Err(de::Error::custom(format!(
                        "expected a string in the list, got {other}"
                    ))),
                })
                .collect::<Result<_, _>>()
                .map(Self::Many),
            other => Err(de::Error::custom(format!(
                "expected a string or a list of strings, got {other}"
            ))),
        }
    }
}

/// Whether a regex takes its first match or all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegexMode {
    /// The first match of each pattern fills `fields`.
    #[default]
    First,
    /// Every match is a row.
    All,
}

/// `"type": "regex"`.
///
/// With several patterns (mode `first` only) each pattern is searched on its own and the
/// named groups of all that match are merged, the earlier pattern winning a name: handy for
/// outputs whose lines come and go (`show version`, ping with and without an rtt line).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegexExtract {
    /// Pattern (Rust `regex` syntax) with named groups `(?P<name>...)`, or a list of them.
    pub pattern: OneOrMany,
    /// `first` (default): fields from the first match; `all`: one row per match.
    #[serde(default)]
    pub mode: RegexMode,
    /// Letters match regardless of case.
    #[serde(default, skip_serializing_if = "is_false")]
    pub case_insensitive: bool,
    /// `^` and `$` match at line starts and ends (CRLF line ends included).
    #[serde(default, skip_serializing_if = "is_false")]
    pub multiline: bool,
    /// `.` also matches a newline.
    #[serde(default, skip_serializing_if = "is_false")]
    pub dot_all: bool,
}

/// `"type": "lines"`: the pattern is applied to every line on its own; lines it does not
/// match are skipped.
///
/// Without `pivot` each matching line is a row of its named groups. With `pivot`, each line
/// contributes one pair, group `name` → group `value`: without `pivot.key` all pairs go to
/// `fields` (an SNMP get of scalars); with it, pairs are gathered into one row per distinct
/// key, in order of first appearance, the key itself stored under the key group's name
/// (an SNMP walk of a table, keyed by its index).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinesExtract {
    /// Pattern with named groups, matched against each line (no line terminator).
    pub pattern: String,
    /// Letters match regardless of case.
    #[serde(default, skip_serializing_if = "is_false")]
    pub case_insensitive: bool,
    /// Turn name/value pairs into fields or keyed rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pivot: Option<Pivot>,
}

/// Group names used by [`LinesExtract::pivot`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pivot {
    /// Group holding the raw name (`ifDescr`).
    pub name: String,
    /// Group holding the value. A line where it did not take part contributes nothing.
    pub value: String,
    /// Group holding the row key (`2` in `ifDescr.2`); absent: the pairs fill `fields`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// `"type": "jsonpath"`: RFC 9535 queries over a JSON document.
///
/// A query selecting nothing leaves its raw value absent; one node gives that value; several
/// nodes give an array of them. `rows` selects the row elements (a query selecting a single
/// array uses its items); each `row_paths` query is evaluated with the row element as its
/// root, written `@.name` (or `$.name`, the same thing). Without `row_paths` an object row
/// passes its members through and any other element becomes `{"value": element}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonPathExtract {
    /// Raw name → query on the whole document; the results fill `fields`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub paths: BTreeMap<String, String>,
    /// Query selecting the row elements (`$.checks[*]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<String>,
    /// Raw name → query relative to each row element (`@.status`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub row_paths: BTreeMap<String, String>,
}

/// How keys read from the output are rewritten.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyCase {
    /// Keys as written (trimmed).
    #[default]
    AsIs,
    /// Lower-cased.
    Lowercase,
    /// Lower-cased, every run of other characters than letters and digits replaced by `_`,
    /// no leading or trailing `_` (`System serial number` → `system_serial_number`).
    SnakeCase,
}

impl KeyCase {
    /// Rewrites one key.
    pub fn apply(self, key: &str) -> String {
        let key = key.trim();
        match self {
            Self::AsIs => key.to_owned(),
            Self::Lowercase => key.to_lowercase(),
            Self::SnakeCase => {
                let mut out = String::with_capacity(key.len());
                let mut gap = false;
                for c in key.chars() {
                    if c.is_alphanumeric() {
                        if gap && !out.is_empty() {
                            out.push('_');
                        }
                        gap = false;
                        out.extend(c.to_lowercase());
                    } else {
                        gap = true;
                    }
                }
                out
            }
        }
    }
}

/// `"type": "kv"`: one `key<separator>value` pair per `delimiter`-separated piece (a line by
/// default). Pieces without the separator, blank ones and comment lines are skipped; the
/// first occurrence of a key wins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KvExtract {
    /// Between key and value; the first occurrence splits. Default `=`.
    #[serde(default = "default_kv_separator")]
    pub separator: String,
    /// Between pairs. Default a newline (CRLF accepted).
    #[serde(default = "default_kv_delimiter")]
    pub delimiter: String,
    /// Key rewriting. Default `as_is`.
    #[serde(default)]
    pub keys: KeyCase,
    /// Strip one pair of matching `"` or `'` around values (`PRETTY_NAME="Debian"`). Default on.
    #[serde(default = "default_true")]
    pub strip_quotes: bool,
    /// Pieces starting with this (after leading spaces) are comments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

fn default_kv_separator() -> String {
    "=".to_owned()
}

fn default_kv_delimiter() -> String {
    "\n".to_owned()
}

fn default_true() -> bool {
    true
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// `"type": "table"`: rows of columns.
///
/// `skip_lines` lines are dropped first; then, with `header`, the first non-blank line names
/// the columns. Blank lines and rulers (only `-`, `=`, `+` and spaces) are skipped. Without
/// `widths` a line is split on whitespace and the last column takes the rest of the line;
/// with `widths` each column but the last has that many characters, the last the rest.
/// Cells that are empty or missing are absent from the row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableExtract {
    /// Column names; overrides the header's when both are given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub columns: Option<Vec<String>>,
    /// The first non-blank line (after `skip_lines`) is a header.
    #[serde(default, skip_serializing_if = "is_false")]
    pub header: bool,
    /// Lines dropped before anything else (banners, titles).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub skip_lines: usize,
    /// Fixed column widths in characters, one per column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub widths: Option<Vec<usize>>,
    /// Rewriting of header names. Default `snake_case` (`%CPU` → `cpu`, `Recv-Q` → `recv_q`).
    #[serde(default = "default_table_keys")]
    pub keys: KeyCase,
}

fn default_table_keys() -> KeyCase {
    KeyCase::SnakeCase
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// How one output field is built from a raw value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    /// Raw name(s) to read, the first one present wins. Default: the output name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<OneOrMany>,
    /// Target type. Absent: the raw value passes through unchanged.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub ty: Option<FieldType>,
    /// Unit of the result, informational (`ms`, `%`); for `int`/`float` a trailing copy of it
    /// is stripped from the raw text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// Used when the raw value is absent, empty (for non-string types) or `null`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    /// Multiplier applied after coercion (numeric types only); `int` and `bytes` round to
    /// the nearest integer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<f64>,
}

/// A captured output and what the parser must make of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sample {
    /// What the capture shows (`iputils, 100% loss`).
    pub name: String,
    /// The output, verbatim.
    pub input: String,
    /// The expected parse.
    pub expected: Expected,
}

/// Expected output of a sample: the whole of it; an absent part must be empty.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expected {
    /// Expected `fields`.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub fields: Map<String, Value>,
    /// Expected `rows`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rows: Vec<Map<String, Value>>,
    /// Expected `errors`, verbatim.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}
