//! The `kv` extractor: `key=value` pairs.

use serde_json::Value;

use super::def::{KeyCase, KvExtract};
use super::{DefProblem, Limits, ParseError, Raw};

/// A compiled `kv` extractor.
#[derive(Debug, Clone)]
pub(crate) struct KvExtractor {
    separator: String,
    delimiter: String,
    keys: KeyCase,
    strip_quotes: bool,
    comment: Option<String>,
}

impl KvExtractor {
    pub(crate) fn compile(def: &KvExtract, problems: &mut Vec<DefProblem>) -> Option<Self> {
        let before = problems.len();
        if def.separator.is_empty() {
            problems.push(DefProblem::new("extract.separator", "must not be empty"));
        }
        if def.delimiter.is_empty() {
            problems.push(DefProblem::new("extract.delimiter", "must not be empty"));
        } else if def.delimiter == def.separator {
            problems.push(DefProblem::new(
                "extract.delimiter",
                "must differ from the separator",
            ));
        }
        if def.comment.as_deref().is_some_and(|c| c.trim().is_empty()) {
            problems.push(DefProblem::new("extract.comment", "must not be blank"));
        }
        (problems.len() == before).then(|| Self {
            separator: def.separator.clone(),
            delimiter: def.delimiter.clone(),
            keys: def.keys,
            strip_quotes: def.strip_quotes,
            comment: def.comment.as_ref().map(|c| c.trim().to_owned()),
        })
    }

    pub(crate) fn extract(&self, input: &str, limits: &Limits, raw: &mut Raw) {
        let mut matched = false;
        for piece in input.split(self.delimiter.as_str()) {
            let piece = piece.trim();
            if piece.is_empty()
                || self
                    .comment
                    .as_deref()
                    .is_some_and(|c| piece.starts_with(c))
            {
                continue;
            }
            let Some((key, value)) = piece.split_once(self.separator.as_str()) else {
                continue;
            };
            let key = self.keys.apply(key);
            if key.is_empty() {
                continue;
            }
            matched = true;
            if raw.fields.contains_key(&key) {
                continue;
            }
            let value = value.trim();
            let value = if self.strip_quotes {
                unquote(value)
            } else {
                value
            };
            if !raw.push_field(key, Value::String(value.to_owned()), limits) {
                return;
            }
        }
        if !matched {
            raw.errors.push(ParseError::NoMatch(format!(
                "no `key{}value` pair found",
                self.separator
            )));
        }
    }
}

/// Strips one pair of matching quotes.
fn unquote(value: &str) -> &str {
    for q in ['"', '\''] {
        if let Some(inner) = value.strip_prefix(q).and_then(|v| v.strip_suffix(q)) {
            return inner;
        }
    }
    value
}
