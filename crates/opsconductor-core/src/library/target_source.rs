//! Target source library entries: the kinds of target picker the Job Builder offers.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::library::command::UiHints;

/// The target selector a source produces (see [`crate::targets::Selector`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SelectorType {
    /// Addresses, CIDRs and ranges.
    Range,
    /// An explicit list of hosts.
    Hosts,
    /// An uploaded file (lines or CSV).
    File,
    /// An inventory group, resolved at run start.
    Group,
}

impl SelectorType {
    /// The selector's `"type"` tag.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Range => "range",
            Self::Hosts => "hosts",
            Self::File => "file",
            Self::Group => "group",
        }
    }
}

/// A target source entry, as written in `targetSourceLibrary.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSourceDef {
    /// Stable id (`network_range`).
    pub id: String,
    /// Display name.
    pub name: String,
    /// What it is for.
    pub description: String,
    /// Lucide icon name for the picker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon: Option<String>,
    /// The selector it produces.
    pub selector: SelectorType,
    /// JSON Schema of the form (its values become the selector's fields).
    pub params_schema: Value,
    /// Form hints.
    #[serde(default)]
    pub ui: UiHints,
    /// A filled-in example; validated against the schema and expanded at load.
    pub example: Value,
}
