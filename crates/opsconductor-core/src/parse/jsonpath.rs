//! The `jsonpath` extractor (RFC 9535 via `serde_json_path`).

use serde_json::Value;
use serde_json_path::JsonPath;

use super::def::JsonPathExtract;
use super::{DefProblem, Limits, ParseError, Raw, Record};

/// A compiled `jsonpath` extractor.
#[derive(Debug, Clone)]
pub(crate) struct JsonPathExtractor {
    paths: Vec<(String, JsonPath)>,
    rows: Option<JsonPath>,
    row_paths: Vec<(String, JsonPath)>,
}

fn compile_query(
    query: &str,
    relative: bool,
    path: &str,
    problems: &mut Vec<DefProblem>,
) -> Option<JsonPath> {
    // Row queries are evaluated with the row element as root; RFC 9535 spells the current
    // node `@` only inside filters, so `@.name` is accepted as a synonym of `$.name`.
    let owned;
    let query = match query.strip_prefix('@') {
        Some(rest) if relative => {
            owned = format!("${rest}");
            owned.as_str()
        }
        _ => query,
    };
    match JsonPath::parse(query) {
        Ok(p) => Some(p),
        Err(e) => {
            let hint = if !relative && query.starts_with('@') {
                " (`@` is for row_paths; document queries start with `$`)"
            } else {
                ""
            };
            problems.push(DefProblem::new(
                path,
                format!(
                    "invalid JSONPath: at character {}, {}{hint}",
                    e.position(),
                    e.message()
                ),
            ));
            None
        }
    }
}

impl JsonPathExtractor {
    pub(crate) fn compile(def: &JsonPathExtract, problems: &mut Vec<DefProblem>) -> Option<Self> {
        let before = problems.len();
        if def.paths.is_empty() && def.rows.is_none() {
            problems.push(DefProblem::new(
                "extract.paths",
                "give `paths`, `rows`, or both",
            ));
        }
        if def.rows.is_none() && !def.row_paths.is_empty() {
            problems.push(DefProblem::new(
                "extract.row_paths",
                "`row_paths` needs `rows` to select the row elements",
            ));
        }
        let mut paths = Vec::new();
        for (name, query) in &def.paths {
            let path = format!("extract.paths.{name}");
            if let Some(q) = compile_query(query, false, &path, problems) {
                paths.push((name.clone(), q));
            }
        }
        let rows = def
            .rows
            .as_deref()
            .and_then(|q| compile_query(q, false, "extract.rows", problems));
        let mut row_paths = Vec::new();
        for (name, query) in &def.row_paths {
            let path = format!("extract.row_paths.{name}");
            if let Some(q) = compile_query(query, true, &path, problems) {
                row_paths.push((name.clone(), q));
            }
        }
        (problems.len() == before).then_some(Self {
            paths,
            rows,
            row_paths,
        })
    }

    /// Raw names for `fields`.
    pub(crate) fn field_names(&self) -> Vec<String> {
        self.paths.iter().map(|(n, _)| n.clone()).collect()
    }

    /// Raw names for rows: `None` without rows, `Some(None)` when rows pass members through.
    pub(crate) fn row_names(&self) -> Option<Option<Vec<String>>> {
        self.rows.as_ref()?;
        if self.row_paths.is_empty() {
            Some(None)
        } else {
            Some(Some(
                self.row_paths.iter().map(|(n, _)| n.clone()).collect(),
            ))
        }
    }

    pub(crate) fn extract(&self, input: &str, limits: &Limits, raw: &mut Raw) {
        let doc: Value = match serde_json::from_str(input) {
            Ok(doc) => doc,
            Err(e) => {
                raw.errors.push(ParseError::InvalidJson(e.to_string()));
                return;
            }
        };
        for (name, query) in &self.paths {
            if let Some(value) = select(query, &doc) {
                raw.fields.insert(name.clone(), value);
            }
        }
        let mut selected_rows = false;
        if let Some(rows) = &self.rows {
            let nodes = rows.query(&doc).all();
            selected_rows = !nodes.is_empty();
            let elements: Vec<&Value> = match nodes.as_slice() {
                [Value::Array(items)] => items.iter().collect(),
                _ => nodes,
            };
            for element in elements {
                if !raw.push_row(self.row_record(element), limits) {
                    break;
                }
            }
        }
        if raw.fields.is_empty() && !selected_rows {
            raw.errors
                .push(ParseError::NoMatch("no query selected anything".into()));
        }
    }

    fn row_record(&self, element: &Value) -> Record {
        if self.row_paths.is_empty() {
            return match element {
                Value::Object(members) => members.clone(),
                other => Record::from_iter([("value".to_owned(), other.clone())]),
            };
        }
        let mut record = Record::new();
        for (name, query) in &self.row_paths {
            if let Some(value) = select(query, element) {
                record.insert(name.clone(), value);
            }
        }
        record
    }
}

/// Nothing → `None`; one node → it; several → an array of them.
fn select(query: &JsonPath, doc: &Value) -> Option<Value> {
    let nodes = query.query(doc).all();
    match nodes.as_slice() {
        [] => None,
        [one] => Some((*one).clone()),
        many => Some(Value::Array(many.iter().map(|v| (*v).clone()).collect())),
    }
}
