//! Command library entries: what an action can be.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::criteria::CriteriaSpec;

/// The executor an action runs on. Adding a kind means adding an executor in the actions
/// crate; the library only names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// ICMP echo.
    Ping,
    /// SNMP GET of one or more OIDs.
    SnmpGet,
    /// SNMP walk (GETBULK on v2c/v3, GETNEXT on v1).
    SnmpWalk,
    /// TCP connect to an SSH port and read its banner.
    SshPort,
    /// Run a command over SSH.
    SshCommand,
    /// HTTP(S) request with assertions.
    HttpGet,
    /// TCP connect, optional send / expect.
    TcpPort,
}

impl ActionKind {
    /// Every kind, in a stable order.
    pub const ALL: [Self; 7] = [
        Self::Ping,
        Self::SnmpGet,
        Self::SnmpWalk,
        Self::SshPort,
        Self::SshCommand,
        Self::HttpGet,
        Self::TcpPort,
    ];

    /// The snake_case name used in files and APIs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ping => "ping",
            Self::SnmpGet => "snmp_get",
            Self::SnmpWalk => "snmp_walk",
            Self::SshPort => "ssh_port",
            Self::SshCommand => "ssh_command",
            Self::HttpGet => "http_get",
            Self::TcpPort => "tcp_port",
        }
    }

    /// Kinds of credential this action can use.
    pub fn credential_kinds(self) -> &'static [CredentialKind] {
        match self {
            Self::SnmpGet | Self::SnmpWalk => {
                &[CredentialKind::SnmpCommunity, CredentialKind::SnmpV3]
            }
            Self::SshCommand => &[CredentialKind::SshPassword, CredentialKind::SshKey],
            Self::HttpGet => &[CredentialKind::HttpBasic, CredentialKind::HttpBearer],
            Self::Ping | Self::SshPort | Self::TcpPort => &[],
        }
    }
}

impl std::fmt::Display for ActionKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// Kinds of stored credential.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialKind {
    /// SNMP v1/v2c community string.
    SnmpCommunity,
    /// SNMP v3 user with auth / priv keys.
    SnmpV3,
    /// SSH username and password.
    SshPassword,
    /// SSH username and private key.
    SshKey,
    /// HTTP basic auth.
    HttpBasic,
    /// HTTP bearer token.
    HttpBearer,
}

impl CredentialKind {
    /// Every kind, in a stable order.
    pub const ALL: [Self; 6] = [
        Self::SnmpCommunity,
        Self::SnmpV3,
        Self::SshPassword,
        Self::SshKey,
        Self::HttpBasic,
        Self::HttpBearer,
    ];

    /// The snake_case name used in files, APIs and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SnmpCommunity => "snmp_community",
            Self::SnmpV3 => "snmp_v3",
            Self::SshPassword => "ssh_password",
            Self::SshKey => "ssh_key",
            Self::HttpBasic => "http_basic",
            Self::HttpBearer => "http_bearer",
        }
    }

    /// The kind named `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

impl std::fmt::Display for CredentialKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// Whether an action needs a credential.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialUse {
    /// The command never uses one.
    #[default]
    None,
    /// It may use one.
    Optional,
    /// It cannot run without one.
    Required,
}

/// Form hints for one param: how the Job Builder should draw it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldHint {
    /// Widget name (`text`, `textarea`, `updown`, `range`, `select`, `checkbox`, `password`,
    /// `oid`, `duration`, `headers`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub widget: Option<String>,
    /// Help text shown under the field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    /// Placeholder text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placeholder: Option<String>,
    /// A secret: masked in previews and never echoed in errors.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub secret: bool,
    /// Shown under an "advanced" disclosure.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub advanced: bool,
}

/// Form hints for a command's params.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UiHints {
    /// Field order in the form; fields not listed follow in schema order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub order: Vec<String>,
    /// Per-field hints.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, FieldHint>,
}

/// A command library entry, as written in `commandLibrary.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandDef {
    /// Stable id (`ping.icmp`), referenced by jobs.
    pub id: String,
    /// Display name.
    pub name: String,
    /// One or two sentences for the picker.
    pub description: String,
    /// Picker group (`Reachability`, `SNMP`, `SSH`, `HTTP`, `TCP`).
    pub category: String,
    /// Executor.
    pub kind: ActionKind,
    /// Human-readable rendering for the live preview (minijinja; `target` and the params).
    pub template: String,
    /// JSON Schema (object) of the params.
    pub params_schema: Value,
    /// Form hints.
    #[serde(default)]
    pub ui: UiHints,
    /// Default params (merged under the schema's own defaults).
    #[serde(default)]
    pub defaults: Map<String, Value>,
    /// Parsers applied to the output unless the job chooses others.
    #[serde(default)]
    pub parsers: Vec<String>,
    /// When the result is ok / warn.
    #[serde(default)]
    pub criteria: CriteriaSpec,
    /// Per-target timeout when the job sets none, milliseconds.
    #[serde(default = "default_command_timeout_ms")]
    pub timeout_ms: u64,
    /// Whether a credential is used.
    #[serde(default)]
    pub credential: CredentialUse,
    /// Output fields the command produces by itself (documentation for criteria authors).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub outputs: BTreeMap<String, String>,
}

fn default_command_timeout_ms() -> u64 {
    5_000
}
