//! The compiled field map: raw values → named, typed output fields.

use std::collections::BTreeMap;

use serde_json::{Number, Value};

use super::coerce::{CoerceError, FieldType, coerce_json};
use super::def::FieldSpec;
use super::{DefProblem, ParseError, Record};

/// Raw names an extractor produces in one place.
#[derive(Debug, Clone)]
pub(crate) enum Scope {
    /// Exactly these (regex groups, JSONPath names, explicit columns).
    Known(Vec<String>),
    /// Decided by the data (kv keys, header names, pivoted names).
    Dynamic,
}

impl Scope {
    fn has_any(&self, names: &[String]) -> bool {
        match self {
            Self::Known(known) => names.iter().any(|n| known.contains(n)),
            Self::Dynamic => true,
        }
    }

    fn has_known_any(&self, names: &[String]) -> bool {
        matches!(self, Self::Known(_)) && self.has_any(names)
    }
}

/// Where an extractor puts raw values: `None` means it never fills that place.
#[derive(Debug, Clone)]
pub(crate) struct Shape {
    pub(crate) fields: Option<Scope>,
    pub(crate) rows: Option<Scope>,
}

impl Shape {
    pub(crate) fn fields_only(scope: Scope) -> Self {
        Self {
            fields: Some(scope),
            rows: None,
        }
    }

    pub(crate) fn rows_only(scope: Scope) -> Self {
        Self {
            fields: None,
            rows: Some(scope),
        }
    }

    /// For checking a field map when the extractor itself did not compile.
    pub(crate) fn unknown() -> Self {
        Self {
            fields: Some(Scope::Dynamic),
            rows: Some(Scope::Dynamic),
        }
    }

    fn known_names(&self) -> Option<Vec<&str>> {
        let mut all = Vec::new();
        for scope in [&self.fields, &self.rows].into_iter().flatten() {
            match scope {
                Scope::Known(names) => all.extend(names.iter().map(String::as_str)),
                Scope::Dynamic => return None,
            }
        }
        all.sort_unstable();
        all.dedup();
        Some(all)
    }
}

/// One output field, checked.
#[derive(Debug, Clone)]
struct Field {
    name: String,
    from: Vec<String>,
    ty: Option<FieldType>,
    unit: Option<String>,
    default: Option<Value>,
    scale: Option<f64>,
}

/// The field map split by where each field reads from.
#[derive(Debug, Clone)]
pub(crate) struct FieldMap {
    for_fields: Vec<Field>,
    for_rows: Vec<Field>,
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl FieldMap {
    pub(crate) fn compile(
        specs: &BTreeMap<String, FieldSpec>,
        shape: &Shape,
        problems: &mut Vec<DefProblem>,
    ) -> Option<Self> {
        let before = problems.len();
        if specs.is_empty() {
            problems.push(DefProblem::new(
                "fields",
                "is empty; leave `fields` out to pass the raw values through",
            ));
        }
        let known = shape.known_names();
        let mut map = Self {
            for_fields: Vec::new(),
            for_rows: Vec::new(),
        };
        for (name, spec) in specs {
            let base = format!("fields.{name}");
            if !valid_name(name) {
                problems.push(DefProblem::new(
                    &base,
                    "field names use letters, digits and `_`, and do not start with a digit",
                ));
            }
            let from: Vec<String> = match &spec.from {
                Some(from) => from.as_slice().to_vec(),
                None => vec![name.clone()],
            };
            let from_path = format!("{base}.from");
            if from.is_empty() {
                problems.push(DefProblem::new(&from_path, "give at least one raw name"));
            }
            if let (Some(known), Some(list)) = (&known, &spec.from) {
                for (i, raw) in from.iter().enumerate() {
                    if !known.contains(&raw.as_str()) {
                        problems.push(DefProblem::new(
                            list.path_of(&from_path, i),
                            format!(
                                "the extractor produces no raw value named `{raw}` (it produces: {})",
                                known.join(", ")
                            ),
                        ));
                    }
                }
            } else if let (Some(known), None) = (&known, &spec.from)
                && !known.contains(&name.as_str())
            {
                problems.push(DefProblem::new(
                    &base,
                    format!(
                        "the extractor produces no raw value named `{name}`; add `from` (it produces: {})",
                        known.join(", ")
                    ),
                ));
            }
            if let Some(scale) = spec.scale {
                if !spec.ty.is_some_and(FieldType::is_numeric) {
                    problems.push(DefProblem::new(
                        format!("{base}.scale"),
                        "only int, float, duration and bytes fields can be scaled",
                    ));
                } else if !scale.is_finite() || scale == 0.0 {
                    problems.push(DefProblem::new(
                        format!("{base}.scale"),
                        "must be a finite, non-zero number",
                    ));
                }
            }
            let default = match (&spec.default, spec.ty) {
                (Some(value), Some(ty)) => match coerce_json(value, ty, spec.unit.as_deref()) {
                    Ok(v) => Some(v),
                    Err(e) => {
                        problems.push(DefProblem::new(format!("{base}.default"), e.to_string()));
                        None
                    }
                },
                (default, _) => default.clone(),
            };
            let field = Field {
                name: name.clone(),
                from,
                ty: spec.ty,
                unit: spec.unit.clone(),
                default,
                scale: spec.scale,
            };
            let fields_scope = shape.fields.as_ref();
            let in_fields = fields_scope.is_some_and(|s| s.has_any(&field.from));
            let claimed_by_fields = fields_scope.is_some_and(|s| s.has_known_any(&field.from));
            let in_rows = shape.rows.as_ref().is_some_and(|s| match s {
                Scope::Known(_) => s.has_any(&field.from),
                Scope::Dynamic => !claimed_by_fields,
            });
            if in_fields {
                map.for_fields.push(field.clone());
            }
            if in_rows {
                map.for_rows.push(field);
            }
        }
        (problems.len() == before).then_some(map)
    }

    /// Builds the output `fields` and rows from the raw ones.
    pub(crate) fn apply(
        &self,
        fields: Record,
        rows: Vec<Record>,
        errors: &mut Vec<ParseError>,
    ) -> (Record, Vec<Record>) {
        // Nothing extracted stays nothing: defaults fill gaps, they do not invent a match.
        let fields = if fields.is_empty() {
            Record::new()
        } else {
            map_record(&self.for_fields, &fields, "fields", errors)
        };
        let rows = rows
            .iter()
            .enumerate()
            .map(|(i, row)| map_record(&self.for_rows, row, &format!("rows[{i}]"), errors))
            .collect();
        (fields, rows)
    }
}

/// Whether a raw value counts as present: `null` never does, and an empty string only for
/// fields that keep text.
fn present(value: &Value, ty: Option<FieldType>) -> bool {
    match value {
        Value::Null => false,
        Value::String(s) => matches!(ty, None | Some(FieldType::String)) || !s.trim().is_empty(),
        _ => true,
    }
}

fn map_record(specs: &[Field], raw: &Record, place: &str, errors: &mut Vec<ParseError>) -> Record {
    let mut out = Record::new();
    for field in specs {
        let found = field
            .from
            .iter()
            .filter_map(|name| raw.get(name))
            .find(|v| present(v, field.ty));
        let value = match (found, field.ty) {
            (None, _) => match &field.default {
                Some(default) => default.clone(),
                None => continue,
            },
            (Some(value), None) => value.clone(),
            (Some(value), Some(ty)) => {
                match coerce_json(value, ty, field.unit.as_deref())
                    .and_then(|v| scaled(v, ty, field.scale))
                {
                    Ok(v) => v,
                    Err(error) => {
                        errors.push(ParseError::Field {
                            path: format!("{place}.{}", field.name),
                            error,
                        });
                        Value::Null
                    }
                }
            }
        };
        out.insert(field.name.clone(), value);
    }
    out
}

/// Applies `scale`; integer types stay integers (exactly for whole scales, else rounded).
fn scaled(value: Value, ty: FieldType, scale: Option<f64>) -> Result<Value, CoerceError> {
    let Some(scale) = scale else {
        return Ok(value);
    };
    let Value::Number(n) = &value else {
        return Ok(value);
    };
    let out_of_range = || CoerceError {
        ty,
        value: n.to_string(),
        reason: format!("out of range once scaled by {scale}"),
    };
    match ty {
        FieldType::Int | FieldType::Bytes => {
            let whole = n
                .as_i64()
                .map(i128::from)
                .or_else(|| n.as_u64().map(i128::from));
            let product = match whole {
                // Whole scale on a whole number: exact.
                Some(w) if scale.fract() == 0.0 && scale.abs() < 9.2e18 => {
                    w.checked_mul(scale as i128)
                }
                _ => {
                    let f = (n.as_f64().unwrap_or(f64::NAN) * scale).round();
                    (f.is_finite() && f.abs() < 1.7e38).then_some(f as i128)
                }
            };
            let product = product.ok_or_else(out_of_range)?;
            if ty == FieldType::Bytes {
                u64::try_from(product)
                    .map(Value::from)
                    .map_err(|_| out_of_range())
            } else if let Ok(i) = i64::try_from(product) {
                Ok(Value::from(i))
            } else {
                u64::try_from(product)
                    .map(Value::from)
                    .map_err(|_| out_of_range())
            }
        }
        _ => n
            .as_f64()
            .map(|f| f * scale)
            .and_then(Number::from_f64)
            .map(Value::Number)
            .ok_or_else(out_of_range),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn whole_scale_on_int_is_exact() {
        assert_eq!(
            scaled(json!(1000), FieldType::Int, Some(1_000_000.0)).unwrap(),
            json!(1_000_000_000u64)
        );
        assert_eq!(
            scaled(json!(7), FieldType::Int, Some(0.5)).unwrap(),
            json!(4)
        );
        assert_eq!(
            scaled(json!(2.5), FieldType::Float, Some(2.0)).unwrap(),
            json!(5.0)
        );
        assert!(scaled(json!(i64::MAX), FieldType::Int, Some(4.0)).is_err());
        assert!(scaled(json!(5), FieldType::Bytes, Some(-1.0)).is_err());
    }

    #[test]
    fn empty_text_is_absent_for_typed_fields_only() {
        assert!(!present(&json!(""), Some(FieldType::Int)));
        assert!(present(&json!(""), Some(FieldType::String)));
        assert!(present(&json!(""), None));
        assert!(!present(&Value::Null, None));
    }

    #[test]
    fn field_names_are_identifiers() {
        assert!(valid_name("rtt_avg_ms"));
        assert!(valid_name("_x1"));
        assert!(!valid_name("1x"));
        assert!(!valid_name("a.b"));
        assert!(!valid_name(""));
    }
}
