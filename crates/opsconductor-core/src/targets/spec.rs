//! What a job stores about its targets: selectors, exclusions and the size cap.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A job's targets as the operator wrote them; [`super::expand()`] turns it into addresses.
///
/// ```json
/// { "include": [{ "type": "range", "value": "10.0.0.0/24" }],
///   "exclude": ["10.0.0.1-10.0.0.9", "printer.example"],
///   "allow_large": false, "max_targets": null }
/// ```
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSpec {
    /// What to run against, in order: targets come out in the order of first appearance.
    pub include: Vec<Selector>,
    /// Addresses, CIDRs (the whole block), ranges or hostnames never to run against, even
    /// when a selector names them. Each string may hold several entries separated by commas
    /// or whitespace. A hostname excludes that exact name only, not the addresses it resolves to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
    /// Allows more than [`super::DEFAULT_MAX_TARGETS`] targets, up to
    /// [`super::LARGE_MAX_TARGETS`]. Off by default so a mistyped `/8` is refused.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_large: bool,
    /// A lower cap for this job; a selection above it is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_targets: Option<u64>,
}

impl TargetSpec {
    /// A spec with these selectors and nothing else.
    pub fn new(include: Vec<Selector>) -> Self {
        Self {
            include,
            exclude: Vec::new(),
            allow_large: false,
            max_targets: None,
        }
    }

    /// A spec selecting one `range` value (an address, CIDR, range or a list of them).
    pub fn range(value: impl Into<String>) -> Self {
        Self::new(vec![Selector::range(value)])
    }

    /// Adds an exclusion.
    #[must_use]
    pub fn excluding(mut self, entry: impl Into<String>) -> Self {
        self.exclude.push(entry.into());
        self
    }

    /// Sets `allow_large`.
    #[must_use]
    pub fn allowing_large(mut self, allow: bool) -> Self {
        self.allow_large = allow;
        self
    }
}

/// One way of selecting targets, tagged by `"type"`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Selector {
    /// `{"type":"range","value":"10.0.0.0/24, 10.0.1.5-20"}`: addresses, CIDRs, ranges
    /// (`a-b` or `10.0.0.1-50`) and hostnames, separated by commas or whitespace.
    Range {
        /// The entries as typed.
        value: String,
    },
    /// `{"type":"hosts","hosts":["sw1.example","10.1.1.1"]}`: one entry per element.
    Hosts {
        /// Hostnames or addresses (CIDRs and ranges are accepted too).
        hosts: Vec<String>,
    },
    /// `{"type":"file", ...}`: an uploaded file's contents.
    File(FileSelector),
    /// `{"type":"group","group":"core-switches"}`: an inventory group, resolved by the
    /// caller's [`super::GroupResolver`].
    Group {
        /// The group's name.
        group: String,
    },
}

impl Selector {
    /// A `range` selector.
    pub fn range(value: impl Into<String>) -> Self {
        Self::Range {
            value: value.into(),
        }
    }

    /// A `hosts` selector.
    pub fn hosts<S: Into<String>>(hosts: impl IntoIterator<Item = S>) -> Self {
        Self::Hosts {
            hosts: hosts.into_iter().map(Into::into).collect(),
        }
    }

    /// A `group` selector.
    pub fn group(group: impl Into<String>) -> Self {
        Self::Group {
            group: group.into(),
        }
    }

    /// The selector's `"type"` tag.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Range { .. } => "range",
            Self::Hosts { .. } => "hosts",
            Self::File(_) => "file",
            Self::Group { .. } => "group",
        }
    }
}

/// An uploaded file of targets, stored with the job.
///
/// Uploads arrive as bytes: decode them with [`super::decode_file_bytes`], which never
/// fails, so lines that are not text are reported line by line rather than refusing the file.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSelector {
    /// The file's name, used in messages only.
    #[serde(default)]
    pub name: String,
    /// The file's text.
    pub content: String,
    /// How the text is laid out.
    #[serde(default)]
    pub format: FileFormat,
    /// `csv` only: the column holding the targets, by header name (case-insensitive) or
    /// 1-based number. Defaults to the first column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<CsvColumn>,
    /// Whether the first non-blank line is a header to skip. Defaults to `true` for `csv`,
    /// `false` for `lines`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub has_header: Option<bool>,
    /// `csv` only: the field separator, one ASCII character. Defaults to `,`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delimiter: Option<char>,
}

impl FileSelector {
    /// A `lines` file.
    pub fn lines(name: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            content: content.into(),
            format: FileFormat::Lines,
            column: None,
            has_header: None,
            delimiter: None,
        }
    }

    /// A `csv` file taking targets from `column`, with a header line.
    pub fn csv(name: impl Into<String>, content: impl Into<String>, column: CsvColumn) -> Self {
        Self {
            format: FileFormat::Csv,
            column: Some(column),
            ..Self::lines(name, content)
        }
    }

    /// Whether the first non-blank line is a header, after defaults.
    pub fn header(&self) -> bool {
        self.has_header.unwrap_or(self.format == FileFormat::Csv)
    }
}

/// Layout of an uploaded file.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileFormat {
    /// One entry (address, CIDR, range or hostname) per line; blank lines and lines starting
    /// with `#` are skipped, and so is anything after a `#`.
    #[default]
    Lines,
    /// Comma-separated values (one record per line, `"quoted"` fields allowed), the targets
    /// in one column.
    Csv,
}

/// A CSV column, by header name or by 1-based number (`"ip"`, `2`, or `"2"`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CsvColumn {
    /// 1-based column number.
    Index(usize),
    /// Header name, matched case-insensitively; a name of digits that no header has is
    /// taken as a column number.
    Name(String),
}

impl fmt::Display for CsvColumn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Index(i) => write!(f, "{i}"),
            Self::Name(name) => write!(f, "{name:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_json_shape_deserialises() {
        let json = r#"{
            "include": [
                {"type": "range", "value": "10.0.0.0/24"},
                {"type": "hosts", "hosts": ["a.example", "10.1.1.1"]},
                {"type": "file", "name": "upload.csv", "content": "ip\n10.0.0.1\n",
                 "format": "csv", "column": "ip", "has_header": true},
                {"type": "file", "name": "list.txt", "content": "10.0.0.1\n"},
                {"type": "file", "name": "n.csv", "content": "x", "format": "csv", "column": 2},
                {"type": "group", "group": "core-switches"}
            ],
            "exclude": ["10.0.5.0/24", "10.0.0.1-10.0.0.9", "host.example"],
            "allow_large": false,
            "max_targets": null
        }"#;
        let spec: TargetSpec = serde_json::from_str(json).unwrap();
        assert_eq!(spec.include.len(), 6);
        let Selector::File(csv) = &spec.include[2] else {
            panic!("not a file: {:?}", spec.include[2]);
        };
        assert_eq!(csv.column, Some(CsvColumn::Name("ip".into())));
        assert!(csv.header());
        let Selector::File(lines) = &spec.include[3] else {
            panic!("not a file");
        };
        assert_eq!(lines.format, FileFormat::Lines);
        assert!(!lines.header());
        let Selector::File(numbered) = &spec.include[4] else {
            panic!("not a file");
        };
        assert_eq!(numbered.column, Some(CsvColumn::Index(2)));
        let round: TargetSpec =
            serde_json::from_str(&serde_json::to_string(&spec).unwrap()).unwrap();
        assert_eq!(round, spec);
    }

    #[test]
    fn unknown_fields_and_types_are_refused() {
        for bad in [
            r#"{"include": [], "exclud": []}"#,
            r#"{"include": [{"type": "range", "value": "x", "extra": 1}]}"#,
            r#"{"include": [{"type": "file", "content": "x", "colum": "ip"}]}"#,
            r#"{"include": [{"type": "cidr", "value": "x"}]}"#,
        ] {
            assert!(serde_json::from_str::<TargetSpec>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_minimal_spec_serialises_without_defaults() {
        let spec = TargetSpec::range("10.0.0.1");
        assert_eq!(
            serde_json::to_string(&spec).unwrap(),
            r#"{"include":[{"type":"range","value":"10.0.0.1"}]}"#
        );
    }
}
