//! Field-precise validation errors shared by every validated constructor.

use std::fmt;

use serde::{Deserialize, Serialize};

/// One problem with one input field, named by its path (`actions[0].params.count`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// Dotted / indexed path of the offending field, relative to the object validated.
    pub field: String,
    /// What is wrong, written for the person who typed the value.
    pub message: String,
}

/// Every problem found while validating one input; never empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub struct ValidationError {
    /// The problems, in the order they were found.
    pub errors: Vec<FieldError>,
}

impl ValidationError {
    /// A single-field error.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            errors: vec![FieldError {
                field: field.into(),
                message: message.into(),
            }],
        }
    }

    /// Prefixes every field path, e.g. `count` → `actions[2].params.count`.
    #[must_use]
    pub fn prefixed(mut self, prefix: &str) -> Self {
        for error in &mut self.errors {
            error.field = join_path(prefix, &error.field);
        }
        self
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{}: {}", e.field, e.message)?;
        }
        Ok(())
    }
}

/// Collects field errors so a constructor can report all of them at once.
#[derive(Debug, Default)]
pub struct Problems {
    errors: Vec<FieldError>,
}

impl Problems {
    /// Records one problem.
    pub fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.errors.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
    }

    /// Records the problems of a nested validation under `prefix`.
    pub fn extend(&mut self, prefix: &str, error: ValidationError) {
        self.errors.extend(error.prefixed(prefix).errors);
    }

    /// Keeps the value when it validated, records its problems otherwise.
    pub fn check<T>(&mut self, prefix: &str, result: Result<T, ValidationError>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(e) => {
                self.extend(prefix, e);
                None
            }
        }
    }

    /// `Ok(())` when nothing was recorded.
    pub fn finish(self) -> Result<(), ValidationError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ValidationError {
                errors: self.errors,
            })
        }
    }
}

/// Joins two field paths, keeping index suffixes tight: `a` + `[0]` → `a[0]`, `a` + `b` → `a.b`.
pub fn join_path(prefix: &str, rest: &str) -> String {
    match (prefix.is_empty(), rest.is_empty()) {
        (true, _) => rest.to_owned(),
        (_, true) => prefix.to_owned(),
        _ if rest.starts_with('[') => format!("{prefix}{rest}"),
        _ => format!("{prefix}.{rest}"),
    }
}
