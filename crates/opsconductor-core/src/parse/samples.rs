//! Running a definition's samples and describing how the output differs.

use serde_json::Value;

use super::def::ParserDef;
use super::{CompiledParser, DefProblem};

/// Differences listed per sample before the rest are only counted.
const MAX_DIFFS: usize = 8;
/// Characters of a value shown in a difference.
const MAX_SHOWN: usize = 80;

/// Parses every sample of `def` with `compiled` and returns one problem per sample whose
/// output differs from its `expected` (path `samples[i].expected`), the message listing the
/// differences compactly: `fields.loss_pct: expected 0.0, got 25.0; rows: 3 expected, 2 got`.
///
/// The whole output is compared: an absent `fields`, `rows` or `errors` in `expected` means
/// empty. Numbers compare by value (`0` equals `0.0`), as JSON does not tell them apart.
pub fn check_samples(def: &ParserDef, compiled: &CompiledParser) -> Vec<DefProblem> {
    let mut problems = Vec::new();
    for (i, sample) in def.samples.iter().enumerate() {
        let got = compiled.parse(&sample.input);
        let mut diffs = Vec::new();
        diff_map(&sample.expected.fields, &got.fields, "fields", &mut diffs);
        let expected_rows: Vec<Value> = sample
            .expected
            .rows
            .iter()
            .cloned()
            .map(Value::Object)
            .collect();
        let got_rows: Vec<Value> = got.rows.into_iter().map(Value::Object).collect();
        diff_list(&expected_rows, &got_rows, "rows", &mut diffs);
        let expected_errors: Vec<Value> = sample
            .expected
            .errors
            .iter()
            .cloned()
            .map(Value::String)
            .collect();
        let got_errors: Vec<Value> = got.errors.into_iter().map(Value::String).collect();
        diff_list(&expected_errors, &got_errors, "errors", &mut diffs);
        if diffs.is_empty() {
            continue;
        }
        let total = diffs.len();
        diffs.truncate(MAX_DIFFS);
        let mut message = format!(
            "sample {:?} parses differently: {}",
            sample.name,
            diffs.join("; ")
        );
        if total > MAX_DIFFS {
            message.push_str(&format!("; … and {} more", total - MAX_DIFFS));
        }
        problems.push(DefProblem::new(format!("samples[{i}].expected"), message));
    }
    problems
}

fn show(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() <= MAX_SHOWN {
        return text;
    }
    let mut short: String = text.chars().take(MAX_SHOWN).collect();
    short.push('…');
    short
}

fn same_number(a: &serde_json::Number, b: &serde_json::Number) -> bool {
    match (a.as_i64(), b.as_i64(), a.as_u64(), b.as_u64()) {
        (Some(x), Some(y), _, _) => x == y,
        (_, _, Some(x), Some(y)) => x == y,
        _ => a.as_f64() == b.as_f64(),
    }
}

fn diff(expected: &Value, got: &Value, path: &str, out: &mut Vec<String>) {
    match (expected, got) {
        (Value::Object(e), Value::Object(g)) => diff_map(e, g, path, out),
        (Value::Array(e), Value::Array(g)) => diff_list(e, g, path, out),
        (Value::Number(e), Value::Number(g)) if same_number(e, g) => {}
        (e, g) if e == g => {}
        (e, g) => out.push(format!("{path}: expected {}, got {}", show(e), show(g))),
    }
}

fn diff_map(
    expected: &serde_json::Map<String, Value>,
    got: &serde_json::Map<String, Value>,
    path: &str,
    out: &mut Vec<String>,
) {
    for (key, e) in expected {
        let here = format!("{path}.{key}");
        match got.get(key) {
            Some(g) => diff(e, g, &here, out),
            None => out.push(format!("{here}: expected {}, missing", show(e))),
        }
    }
    for (key, g) in got {
        if !expected.contains_key(key) {
            out.push(format!("{path}.{key}: not expected, got {}", show(g)));
        }
    }
}

fn diff_list(expected: &[Value], got: &[Value], path: &str, out: &mut Vec<String>) {
    if expected.len() != got.len() {
        out.push(format!(
            "{path}: {} expected, {} got",
            expected.len(),
            got.len()
        ));
    }
    for (i, (e, g)) in expected.iter().zip(got).enumerate() {
        diff(e, g, &format!("{path}[{i}]"), out);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn diffs(e: Value, g: Value) -> Vec<String> {
        let mut out = Vec::new();
        diff(&e, &g, "fields", &mut out);
        out
    }

    #[test]
    fn numbers_compare_by_value() {
        assert!(diffs(json!({"a": 0}), json!({"a": 0.0})).is_empty());
        assert_eq!(
            diffs(json!({"a": 1}), json!({"a": 1.5})),
            ["fields.a: expected 1, got 1.5"]
        );
    }

    #[test]
    fn diff_names_missing_and_unexpected_keys() {
        let d = diffs(json!({"a": 1, "b": "x"}), json!({"a": 1, "c": true}));
        assert_eq!(
            d,
            [
                "fields.b: expected \"x\", missing",
                "fields.c: not expected, got true"
            ]
        );
    }

    #[test]
    fn long_values_are_shortened() {
        let d = diffs(json!("x".repeat(500)), json!("y"));
        assert!(d[0].chars().count() < 120, "{d:?}");
    }
}
