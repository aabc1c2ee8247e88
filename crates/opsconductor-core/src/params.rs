//! Command params checked against the command's JSON Schema.
//!
//! The schema is compiled once, when the library loads; a job's params are validated on
//! every write, and each violation becomes a [`FieldError`] whose path names the param
//! (`count`, `oids[2]`). Values of secret params are never quoted back in messages.

use std::fmt;
use std::sync::Arc;

use jsonschema::error::ValidationErrorKind;
use serde_json::{Map, Value};

use crate::error::{FieldError, ValidationError};

/// A compiled params schema.
#[derive(Clone)]
pub struct ParamSchema {
    schema: Arc<Value>,
    validator: Arc<jsonschema::Validator>,
    secret_params: Arc<[String]>,
}

impl fmt::Debug for ParamSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParamSchema")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

impl ParamSchema {
    /// Compiles a schema, checking it against its meta-schema. `secret_params` names the
    /// params whose values must never be echoed.
    pub fn compile(schema: &Value, secret_params: Vec<String>) -> Result<Self, String> {
        if !schema.is_object() {
            return Err("a params schema must be a JSON object".to_owned());
        }
        if schema.get("type").and_then(Value::as_str) != Some("object") {
            return Err("a params schema must have \"type\": \"object\"".to_owned());
        }
        let validator = jsonschema::options()
            .should_validate_formats(true)
            .build(schema)
            .map_err(|e| {
                let at = pointer_to_path(e.instance_path().as_str());
                if at.is_empty() {
                    format!("invalid JSON Schema: {e}")
                } else {
                    format!("invalid JSON Schema at {at}: {e}")
                }
            })?;
        Ok(Self {
            schema: Arc::new(schema.clone()),
            validator: Arc::new(validator),
            secret_params: secret_params.into(),
        })
    }

    /// The schema as written.
    pub fn schema(&self) -> &Value {
        &self.schema
    }

    /// Params whose values are secret (masked in previews and messages).
    pub fn secret_params(&self) -> &[String] {
        &self.secret_params
    }

    /// Validates params, reporting every violation with the param's path.
    pub fn validate(&self, params: &Map<String, Value>) -> Result<(), ValidationError> {
        let instance = Value::Object(params.clone());
        let mut errors: Vec<FieldError> = Vec::new();
        for error in self.validator.iter_errors(&instance) {
            let base = pointer_to_path(error.instance_path().as_str());
            let (field, message) = match error.kind() {
                ValidationErrorKind::Required { property } => {
                    let name = property
                        .as_str()
                        .map_or_else(|| property.to_string(), str::to_owned);
                    (join(&base, &name), "is required".to_owned())
                }
                ValidationErrorKind::AdditionalProperties { unexpected } => {
                    for name in unexpected {
                        errors.push(FieldError {
                            field: join(&base, name),
                            message: "is not a parameter of this command".to_owned(),
                        });
                    }
                    continue;
                }
                _ => {
                    let top = base.split(['.', '[']).next().unwrap_or_default();
                    let message = if self.secret_params.iter().any(|s| s == top) {
                        error.masked().to_string()
                    } else {
                        error.to_string()
                    };
                    (base, message)
                }
            };
            errors.push(FieldError { field, message });
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ValidationError { errors })
        }
    }

    /// Default values declared in the schema's `properties.*.default`.
    pub fn schema_defaults(&self) -> Map<String, Value> {
        self.schema
            .get("properties")
            .and_then(Value::as_object)
            .map(|props| {
                props
                    .iter()
                    .filter_map(|(k, v)| v.get("default").map(|d| (k.clone(), d.clone())))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Overlays `params` on `defaults` (one level: a param given replaces the default whole).
pub fn with_defaults(
    defaults: &Map<String, Value>,
    params: &Map<String, Value>,
) -> Map<String, Value> {
    let mut merged = defaults.clone();
    for (k, v) in params {
        merged.insert(k.clone(), v.clone());
    }
    merged
}

fn join(base: &str, name: &str) -> String {
    if base.is_empty() {
        name.to_owned()
    } else {
        format!("{base}.{name}")
    }
}

/// `/oids/2/name` → `oids[2].name`.
pub fn pointer_to_path(pointer: &str) -> String {
    let mut out = String::new();
    for raw in pointer.split('/').skip(1) {
        let segment = raw.replace("~1", "/").replace("~0", "~");
        if !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()) {
            out.push('[');
            out.push_str(&segment);
            out.push(']');
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&segment);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> ParamSchema {
        ParamSchema::compile(
            &json!({
                "type": "object",
                "additionalProperties": false,
                "required": ["count"],
                "properties": {
                    "count": {"type": "integer", "minimum": 1, "maximum": 100, "default": 4},
                    "community": {"type": "string", "minLength": 12},
                    "oids": {"type": "array", "items": {"type": "string", "pattern": "^[0-9.]+$"}}
                }
            }),
            vec!["community".into()],
        )
        .unwrap()
    }

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn valid_params_pass() {
        schema().validate(&map(json!({"count": 3}))).unwrap();
    }

    #[test]
    fn every_violation_names_its_field() {
        let err = schema()
            .validate(&map(
                json!({"count": "four", "oids": ["1.3", "x"], "colour": 1}),
            ))
            .unwrap_err();
        let fields: Vec<&str> = err.errors.iter().map(|e| e.field.as_str()).collect();
        assert!(fields.contains(&"count"), "{err}");
        assert!(fields.contains(&"oids[1]"), "{err}");
        assert!(fields.contains(&"colour"), "{err}");
    }

    #[test]
    fn missing_required_param_is_named() {
        let err = schema().validate(&Map::new()).unwrap_err();
        assert_eq!(err.errors[0].field, "count");
        assert_eq!(err.errors[0].message, "is required");
    }

    #[test]
    fn out_of_range_value_says_the_limit() {
        let err = schema().validate(&map(json!({"count": 1000}))).unwrap_err();
        assert!(err.errors[0].message.contains("100"), "{err}");
    }

    #[test]
    fn secret_values_are_not_echoed() {
        let err = schema()
            .validate(&map(json!({"count": 1, "community": "short-pw"})))
            .unwrap_err();
        assert_eq!(err.errors[0].field, "community");
        assert!(!err.to_string().contains("short-pw"), "{err}");
    }

    #[test]
    fn broken_schemas_are_refused() {
        assert!(
            ParamSchema::compile(
                &json!({"type": "object", "properties": {"a": {"type": "nope"}}}),
                vec![]
            )
            .is_err()
        );
        assert!(ParamSchema::compile(&json!([]), vec![]).is_err());
        assert!(ParamSchema::compile(&json!({"type": "string"}), vec![]).is_err());
    }

    #[test]
    fn defaults_come_from_the_schema_and_params_override_them() {
        let defaults = schema().schema_defaults();
        assert_eq!(defaults["count"], 4);
        let merged = with_defaults(&defaults, &map(json!({"count": 9})));
        assert_eq!(merged["count"], 9);
    }

    #[test]
    fn pointers_become_field_paths() {
        assert_eq!(pointer_to_path(""), "");
        assert_eq!(pointer_to_path("/oids/2/name"), "oids[2].name");
        assert_eq!(pointer_to_path("/a~1b"), "a/b");
    }
}
