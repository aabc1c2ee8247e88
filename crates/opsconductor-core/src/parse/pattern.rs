//! The `regex` and `lines` extractors (named after what they hold, not the crate).

use regex::{Captures, Regex, RegexBuilder};
use serde_json::Value;

use super::def::{LinesExtract, Pivot, RegexExtract, RegexMode};
use super::{DefProblem, Limits, ParseError, Raw, Record};

/// Ceiling on a compiled pattern, far above any sane parser; a runaway repetition such as
/// `\w{1000}{1000}` is refused at load instead of eating memory.
const REGEX_SIZE_LIMIT: usize = 4 << 20;

/// Compiles one pattern, recording a problem at `path` when it is broken.
pub(crate) fn build(
    pattern: &str,
    case_insensitive: bool,
    multiline: bool,
    dot_all: bool,
    path: &str,
    problems: &mut Vec<DefProblem>,
) -> Option<Regex> {
    let built = RegexBuilder::new(pattern)
        .case_insensitive(case_insensitive)
        .multi_line(multiline)
        // Device output over SSH ends lines with CRLF; let `$` see through the `\r`.
        .crlf(multiline)
        .dot_matches_new_line(dot_all)
        .size_limit(REGEX_SIZE_LIMIT)
        .build();
    match built {
        Ok(re) => Some(re),
        Err(e) => {
            problems.push(DefProblem::new(
                path,
                format!("invalid regex: {}", regex_error(&e)),
            ));
            None
        }
    }
}

/// One-line form of a regex error (the crate's syntax errors span several lines).
fn regex_error(e: &regex::Error) -> String {
    match e {
        regex::Error::Syntax(text) => {
            let lines: Vec<&str> = text.lines().collect();
            let caret = lines
                .iter()
                .position(|l| l.trim() == "^" || l.trim_start().starts_with('^'));
            let reason = lines
                .iter()
                .rev()
                .find_map(|l| l.strip_prefix("error: "))
                .unwrap_or(text.as_str());
            match caret.and_then(|i| lines.get(i).map(|l| l.find('^'))) {
                // The pattern is echoed indented by four spaces, the caret under it.
                Some(Some(col)) if col >= 4 => format!("{reason} (at character {})", col - 3),
                _ => reason.to_owned(),
            }
        }
        regex::Error::CompiledTooBig(limit) => {
            format!("pattern too large once compiled (limit {limit} bytes)")
        }
        other => other.to_string(),
    }
}

/// Names of the named groups of `re`.
pub(crate) fn group_names(re: &Regex) -> impl Iterator<Item = &str> {
    re.capture_names().flatten()
}

fn record_of(re: &Regex, caps: &Captures<'_>) -> Record {
    let mut record = Record::new();
    for name in group_names(re) {
        if let Some(m) = caps.name(name) {
            record.insert(name.to_owned(), Value::String(m.as_str().to_owned()));
        }
    }
    record
}

/// A compiled `regex` extractor.
#[derive(Debug, Clone)]
pub(crate) struct RegexExtractor {
    patterns: Vec<Regex>,
    mode: RegexMode,
}

impl RegexExtractor {
    pub(crate) fn compile(def: &RegexExtract, problems: &mut Vec<DefProblem>) -> Option<Self> {
        let sources = def.pattern.as_slice();
        if sources.is_empty() {
            problems.push(DefProblem::new(
                "extract.pattern",
                "give at least one pattern",
            ));
            return None;
        }
        if def.mode == RegexMode::All && sources.len() > 1 {
            problems.push(DefProblem::new(
                "extract.pattern",
                "mode `all` takes a single pattern; use alternation inside it",
            ));
        }
        let mut patterns = Vec::with_capacity(sources.len());
        for (i, source) in sources.iter().enumerate() {
            let path = def.pattern.path_of("extract.pattern", i);
            let re = build(
                source,
                def.case_insensitive,
                def.multiline,
                def.dot_all,
                &path,
                problems,
            );
            if let Some(re) = re {
                if group_names(&re).next().is_none() {
                    problems.push(DefProblem::new(
                        path,
                        "pattern has no named group; name what it captures with (?P<name>...)",
                    ));
                }
                patterns.push(re);
            }
        }
        (patterns.len() == sources.len()).then_some(Self {
            patterns,
            mode: def.mode,
        })
    }

    /// Every raw name a match can produce.
    pub(crate) fn names(&self) -> Vec<String> {
        self.patterns
            .iter()
            .flat_map(|re| group_names(re).map(str::to_owned))
            .collect()
    }

    pub(crate) fn mode(&self) -> RegexMode {
        self.mode
    }

    pub(crate) fn extract(&self, input: &str, limits: &Limits, raw: &mut Raw) {
        match self.mode {
            RegexMode::First => {
                let mut matched = false;
                for re in &self.patterns {
                    if let Some(caps) = re.captures(input) {
                        matched = true;
                        for (name, value) in record_of(re, &caps) {
                            raw.fields.entry(name).or_insert(value);
                        }
                    }
                }
                if !matched {
                    raw.errors
                        .push(ParseError::NoMatch("the pattern matched nothing".into()));
                }
            }
            RegexMode::All => {
                for re in &self.patterns {
                    for caps in re.captures_iter(input) {
                        if !raw.push_row(record_of(re, &caps), limits) {
                            return;
                        }
                    }
                }
                if raw.rows.is_empty() {
                    raw.errors
                        .push(ParseError::NoMatch("the pattern matched nothing".into()));
                }
            }
        }
    }
}

/// A compiled `lines` extractor.
#[derive(Debug, Clone)]
pub(crate) struct LinesExtractor {
    pattern: Regex,
    pivot: Option<Pivot>,
}

impl LinesExtractor {
    pub(crate) fn compile(def: &LinesExtract, problems: &mut Vec<DefProblem>) -> Option<Self> {
        let pattern = build(
            &def.pattern,
            def.case_insensitive,
            false,
            false,
            "extract.pattern",
            problems,
        )?;
        let names: Vec<&str> = group_names(&pattern).collect();
        if names.is_empty() {
            problems.push(DefProblem::new(
                "extract.pattern",
                "pattern has no named group; name what it captures with (?P<name>...)",
            ));
            return None;
        }
        let before = problems.len();
        if let Some(pivot) = &def.pivot {
            let groups = [
                ("name", Some(&pivot.name)),
                ("value", Some(&pivot.value)),
                ("key", pivot.key.as_ref()),
            ];
            for (what, group) in groups {
                if let Some(group) = group
                    && !names.contains(&group.as_str())
                {
                    problems.push(DefProblem::new(
                        format!("extract.pivot.{what}"),
                        format!(
                            "no group named `{group}` in the pattern (groups: {})",
                            names.join(", ")
                        ),
                    ));
                }
            }
        }
        (problems.len() == before).then(|| Self {
            pivot: def.pivot.clone(),
            pattern,
        })
    }

    /// Raw names a line can produce; `None` when they come from the data (pivot).
    pub(crate) fn names(&self) -> Option<Vec<String>> {
        match &self.pivot {
            None => Some(group_names(&self.pattern).map(str::to_owned).collect()),
            Some(_) => None,
        }
    }

    /// Whether the output goes to `fields` (pivot without key) rather than rows.
    pub(crate) fn fills_fields(&self) -> bool {
        self.pivot.as_ref().is_some_and(|p| p.key.is_none())
    }

    pub(crate) fn extract(&self, input: &str, limits: &Limits, raw: &mut Raw) {
        let mut matched = false;
        // Pivot with key: row index by key, in order of first appearance.
        let mut keyed: Vec<(String, Record)> = Vec::new();
        let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
        for line in input.lines() {
            let Some(caps) = self.pattern.captures(line) else {
                continue;
            };
            matched = true;
            let Some(pivot) = &self.pivot else {
                if !raw.push_row(record_of(&self.pattern, &caps), limits) {
                    return;
                }
                continue;
            };
            let (Some(name), Some(value)) = (caps.name(&pivot.name), caps.name(&pivot.value))
            else {
                continue;
            };
            let (name, value) = (
                name.as_str().to_owned(),
                Value::String(value.as_str().to_owned()),
            );
            match &pivot.key {
                None => {
                    if !raw.fields.contains_key(&name) && !raw.push_field(name, value, limits) {
                        return;
                    }
                }
                Some(key_group) => {
                    let Some(key) = caps.name(key_group).map(|k| k.as_str()) else {
                        continue;
                    };
                    let slot = match index.get(key) {
                        Some(&slot) => slot,
                        None => {
                            if keyed.len() >= limits.max_rows {
                                raw.note_row_limit(limits);
                                continue;
                            }
                            let mut record = Record::new();
                            record.insert(key_group.clone(), Value::String(key.to_owned()));
                            keyed.push((key.to_owned(), record));
                            index.insert(key.to_owned(), keyed.len() - 1);
                            keyed.len() - 1
                        }
                    };
                    keyed[slot].1.entry(name).or_insert(value);
                }
            }
        }
        raw.rows.extend(keyed.into_iter().map(|(_, record)| record));
        if !matched {
            raw.errors
                .push(ParseError::NoMatch("no line matched the pattern".into()));
        }
    }
}
