//! What a scan is: a range and a discovery profile, run through the normal pipeline as a
//! job made of command-library probes.
//!
//! A scan becomes a [`JobSpec`] (see [`ScanSpec::to_job`]): `ping.alive` first as a
//! liveness gate (`require_first_ok`), then one action per probe — `tcp.port` per port,
//! `snmp.system`, `ssh.port`, `http.title` per web port. The same chunks, agents, progress
//! and cancellation as any run; afterwards the controller folds the results into the
//! inventory ([`super::observe()`]).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::ProbeKind;
use crate::error::{Problems, ValidationError};
use crate::ids::CredentialId;
use crate::model::{ActionSpec, JobOptions, JobSpec, Schedule};
use crate::targets::TargetSpec;

/// Most TCP ports one scan probes (each is an action per live host).
pub const MAX_SCAN_PORTS: usize = 64;
/// Most web ports one scan fetches a page from.
pub const MAX_WEB_PORTS: usize = 8;
/// The library commands a scan is made of.
pub mod commands {
    /// Liveness: ICMP echo, one request.
    pub const PING: &str = "ping.alive";
    /// One TCP port open or not.
    pub const TCP: &str = "tcp.port";
    /// sysName, sysDescr, sysObjectID, sysUpTime.
    pub const SNMP: &str = "snmp.system";
    /// The SSH identification line.
    pub const SSH: &str = "ssh.port";
    /// An HTTP(S) front page's status, `Server` header and title.
    pub const HTTP: &str = "http.title";
}

/// The SNMP probe of a scan.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnmpProbe {
    /// A vault credential (SNMP community or v3 user); without one, `community` is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<CredentialId>,
    /// `1`, `2c` or `3` (default `2c`; `3` needs a credential).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// UDP port (default 161).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// A v1/v2c community given in the clear (default `public`); prefer a credential,
    /// which never appears in the scan's job or its previews.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub community: Option<String>,
}

/// A web page a scan fetches.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebProbe {
    /// `http` or `https`.
    #[serde(default = "default_scheme")]
    pub scheme: String,
    /// TCP port (default: the scheme's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
}

fn default_scheme() -> String {
    "http".to_owned()
}

/// How a scan probes each address: the discovery profile.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanProfile {
    /// Ping first and probe only the hosts that answer (default). Off: every address is
    /// probed, for networks that drop ICMP — slower, as silent addresses wait out timeouts.
    #[serde(default = "yes")]
    pub ping: bool,
    /// TCP ports to try on each live host.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tcp_ports: Vec<u16>,
    /// Read the SNMP system group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snmp: Option<SnmpProbe>,
    /// Read the SSH banner on this port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_port: Option<u16>,
    /// Fetch these web front pages (status, `Server`, title).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub web: Vec<WebProbe>,
}

fn yes() -> bool {
    true
}

impl Default for ScanProfile {
    fn default() -> Self {
        Self {
            ping: true,
            tcp_ports: Vec::new(),
            snmp: None,
            ssh_port: None,
            web: Vec::new(),
        }
    }
}

/// Execution options of a scan.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanOptions {
    /// Hosts probed at once per agent (default 512).
    #[serde(default = "default_concurrency")]
    pub concurrency: u32,
    /// Time for all probes of one host, ms (default 5000).
    #[serde(default = "default_host_timeout_ms")]
    pub host_timeout_ms: u64,
    /// Send every address to this segment instead of routing by address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment: Option<String>,
}

fn default_concurrency() -> u32 {
    512
}
fn default_host_timeout_ms() -> u64 {
    5000
}

impl Default for ScanOptions {
    fn default() -> Self {
        Self {
            concurrency: default_concurrency(),
            host_timeout_ms: default_host_timeout_ms(),
            segment: None,
        }
    }
}

/// A scan request: what to scan, how, and a label.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanSpec {
    /// A label for the scan history (default: the range).
    #[serde(default)]
    pub name: String,
    /// The range: CIDRs, ranges, lists, files, with exclusions (as a job's targets).
    pub targets: TargetSpec,
    /// The discovery profile.
    #[serde(default)]
    pub profile: ScanProfile,
    /// Execution options.
    #[serde(default)]
    pub options: ScanOptions,
}

impl ScanSpec {
    /// The key under which scans of the same range are compared: the targets as
    /// canonical JSON (selectors and exclusions in the order given).
    pub fn range_key(&self) -> String {
        serde_json::to_string(&self.targets).unwrap_or_default()
    }

    /// The label shown in the history: the name, or the range written out.
    pub fn label(&self) -> String {
        if !self.name.trim().is_empty() {
            return self.name.trim().to_owned();
        }
        let parts: Vec<String> = self
            .targets
            .include
            .iter()
            .map(|s| match serde_json::to_value(s) {
                Ok(Value::Object(o)) => o
                    .get("value")
                    .or_else(|| o.get("group"))
                    .or_else(|| o.get("name"))
                    .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                    .unwrap_or_else(|| "targets".to_owned()),
                _ => "targets".to_owned(),
            })
            .collect();
        super::cut(&parts.join(", "), 120)
    }

    /// Checks what the job's own validation cannot say in scan terms.
    pub fn validate_profile(&self) -> Result<(), ValidationError> {
        let mut problems = Problems::default();
        if self.name.chars().count() > 200 {
            problems.push("name", "must be at most 200 characters");
        }
        for (field, message) in crate::targets::overlapping_exclusions(&self.targets) {
            problems.push(format!("targets.{field}"), message);
        }
        let profile = &self.profile;
        if profile.tcp_ports.len() > MAX_SCAN_PORTS {
            problems.push(
                "profile.tcp_ports",
                format!("at most {MAX_SCAN_PORTS} ports"),
            );
        }
        let mut seen = BTreeSet::new();
        for (i, port) in profile.tcp_ports.iter().enumerate() {
            if *port == 0 {
                problems.push(format!("profile.tcp_ports[{i}]"), "must be 1-65535");
            } else if !seen.insert(*port) {
                problems.push(
                    format!("profile.tcp_ports[{i}]"),
                    format!("port {port} is listed twice"),
                );
            }
        }
        if profile.ssh_port == Some(0) {
            problems.push("profile.ssh_port", "must be 1-65535");
        }
        if profile.web.len() > MAX_WEB_PORTS {
            problems.push("profile.web", format!("at most {MAX_WEB_PORTS} web pages"));
        }
        for (i, web) in profile.web.iter().enumerate() {
            if web.scheme != "http" && web.scheme != "https" {
                problems.push(format!("profile.web[{i}].scheme"), "must be http or https");
            }
            if web.port == Some(0) {
                problems.push(format!("profile.web[{i}].port"), "must be 1-65535");
            }
        }
        if let Some(snmp) = &profile.snmp
            && let Some(version) = &snmp.version
            && !["1", "2c", "3"].contains(&version.as_str())
        {
            problems.push("profile.snmp.version", "must be 1, 2c or 3");
        }
        let probes = profile.tcp_ports.len()
            + usize::from(profile.snmp.is_some())
            + usize::from(profile.ssh_port.is_some())
            + profile.web.len();
        if !profile.ping && probes == 0 {
            problems.push("profile", "probes nothing: turn on ping or name a probe");
        }
        if !(1..=10_000).contains(&self.options.concurrency) {
            problems.push("options.concurrency", "must be between 1 and 10000");
        }
        if !(100..=120_000).contains(&self.options.host_timeout_ms) {
            problems.push(
                "options.host_timeout_ms",
                "must be between 100 and 120000 milliseconds",
            );
        }
        problems.finish()
    }

    /// What each action of [`ScanSpec::to_job`]'s job probes, in action order: how the
    /// results are read back.
    pub fn probes(&self) -> Vec<ProbeKind> {
        let profile = &self.profile;
        let mut probes = Vec::new();
        if profile.ping {
            probes.push(ProbeKind::Ping);
        }
        probes.extend(profile.tcp_ports.iter().map(|p| ProbeKind::TcpPort(*p)));
        if profile.snmp.is_some() {
            probes.push(ProbeKind::Snmp);
        }
        if let Some(port) = profile.ssh_port {
            probes.push(ProbeKind::Ssh(port));
        }
        probes.extend(profile.web.iter().map(|web| {
            let default = if web.scheme == "https" { 443 } else { 80 };
            ProbeKind::Http(web.port.unwrap_or(default))
        }));
        probes
    }

    /// The job that runs this scan (validated by the caller against the library).
    pub fn to_job(&self, job_name: String) -> JobSpec {
        let profile = &self.profile;
        let mut actions = Vec::new();
        if profile.ping {
            actions.push(action(
                commands::PING,
                "ping",
                json!({"count": 1, "timeout_ms": 1000}),
            ));
        }
        for port in &profile.tcp_ports {
            // Connect only: a service that waits for the client to speak (HTTP) would
            // otherwise hold every probe for its whole read timeout.
            actions.push(action(
                commands::TCP,
                &format!("tcp {port}"),
                json!({"port": port, "read_bytes": 0}),
            ));
        }
        if let Some(snmp) = &profile.snmp {
            let mut params = Map::new();
            if let Some(version) = &snmp.version {
                params.insert("version".into(), json!(version));
            }
            if let Some(port) = snmp.port {
                params.insert("port".into(), json!(port));
            }
            if let Some(community) = &snmp.community {
                params.insert("community".into(), json!(community));
            }
            params.insert("retries".into(), json!(0));
            // sysDescr, sysObjectID, sysUpTime, sysName, sysLocation.
            params.insert(
                "oids".into(),
                json!([
                    ".1.3.6.1.2.1.1.1.0",
                    ".1.3.6.1.2.1.1.2.0",
                    ".1.3.6.1.2.1.1.3.0",
                    ".1.3.6.1.2.1.1.5.0",
                    ".1.3.6.1.2.1.1.6.0"
                ]),
            );
            let mut probe = action(commands::SNMP, "snmp", Value::Object(params));
            probe.credential = snmp.credential;
            actions.push(probe);
        }
        if let Some(port) = profile.ssh_port {
            actions.push(action(commands::SSH, "ssh", json!({"port": port})));
        }
        for web in &profile.web {
            let mut params = Map::from_iter([("scheme".to_owned(), json!(web.scheme))]);
            if let Some(port) = web.port {
                params.insert("port".into(), json!(port));
            }
            let name = format!(
                "{} {}",
                web.scheme,
                web.port.map_or_else(String::new, |p| p.to_string())
            );
            actions.push(action(commands::HTTP, name.trim(), Value::Object(params)));
        }
        JobSpec {
            name: job_name,
            description: format!("Discovery scan of {}", self.label()),
            tags: vec!["discovery".to_owned()],
            enabled: false,
            schedule: Schedule::Manual,
            targets: self.targets.clone(),
            actions,
            options: JobOptions {
                concurrency: self.options.concurrency,
                target_timeout_ms: self.options.host_timeout_ms,
                segment: self.options.segment.clone(),
                chunk_size: 1024,
                require_first_ok: profile.ping,
                ..JobOptions::default()
            },
        }
    }
}

fn action(command: &str, name: &str, params: Value) -> ActionSpec {
    ActionSpec {
        command: command.to_owned(),
        name: Some(name.to_owned()),
        params: match params {
            Value::Object(map) => map,
            _ => Map::new(),
        },
        parsers: None,
        credential: None,
        timeout_ms: None,
        criteria: None,
    }
}

/// What a scan found, counted.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ScanCounts {
    /// Addresses probed so far.
    pub probed: u64,
    /// Addresses that answered.
    pub alive: u64,
    /// Live hosts about which more than liveness was learned.
    pub identified: u64,
    /// Hosts new since the previous scan of the range (after the scan).
    pub new: u64,
    /// Hosts whose attributes changed (after the scan).
    pub changed: u64,
    /// Hosts of the previous scan that no longer answered (after the scan).
    pub gone: u64,
}

/// A stored dynamic or static group of devices.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupSpec {
    /// Unique name, used by jobs as `{"type":"group","group":NAME}`.
    pub name: String,
    /// What it is for.
    #[serde(default)]
    pub description: String,
    /// Dynamic group: devices matching this filter when a run starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    /// Static group: these addresses, CIDRs, ranges or hostnames.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<String>,
}

/// Longest group name, in characters.
pub const MAX_GROUP_NAME_CHARS: usize = 100;
/// Most members of a static group.
pub const MAX_STATIC_MEMBERS: usize = 65_536;

impl GroupSpec {
    /// Checks the name, that exactly one of filter / members is given, the filter's syntax
    /// (with its column) and every static member's syntax (by position).
    pub fn validate(&self) -> Result<(), ValidationError> {
        let mut problems = Problems::default();
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > MAX_GROUP_NAME_CHARS {
            problems.push(
                "name",
                format!("must be 1-{MAX_GROUP_NAME_CHARS} characters"),
            );
        } else if name != self.name || name.chars().any(char::is_control) {
            problems.push(
                "name",
                "must not start or end with spaces or hold control characters",
            );
        }
        if self.description.chars().count() > 1000 {
            problems.push("description", "must be at most 1000 characters");
        }
        match (&self.filter, self.members.is_empty()) {
            (Some(_), false) => problems.push(
                "filter",
                "a group is either dynamic (filter) or static (members), not both",
            ),
            (None, true) => {
                problems.push("members", "a static group needs members (or give a filter)")
            }
            (Some(filter), true) => {
                if let Err(e) = super::Filter::parse(filter) {
                    problems.push("filter", e.to_string());
                }
            }
            (None, false) => {
                if self.members.len() > MAX_STATIC_MEMBERS {
                    problems.push("members", format!("at most {MAX_STATIC_MEMBERS} members"));
                }
                for (i, member) in self.members.iter().enumerate() {
                    if let Err(reason) = crate::targets::parse_member(member) {
                        problems.push(format!("members[{i}]"), reason);
                    }
                }
            }
        }
        problems.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::library::Library;

    fn library() -> Library {
        Library::load_dir(
            &std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../libraries"),
        )
        .expect("shipped libraries load")
    }

    fn scan(profile: Value) -> ScanSpec {
        serde_json::from_value(json!({"targets": {"include": [{"type": "range", "value": "127.0.0.0/24"}]}, "profile": profile}))
            .expect("scan spec")
    }

    #[test]
    fn a_full_profile_makes_a_valid_gated_job_from_library_commands() {
        let spec = scan(
            json!({"tcp_ports": [22, 8080], "snmp": {"version": "2c"}, "ssh_port": 22,
                               "web": [{"scheme": "http", "port": 8080}, {"scheme": "https"}]}),
        );
        spec.validate_profile().expect("valid profile");
        let job = spec.to_job("discovery 1".into());
        job.validate(&library())
            .expect("the scan's job validates against the shipped library");
        let commands: Vec<&str> = job.actions.iter().map(|a| a.command.as_str()).collect();
        assert_eq!(
            commands,
            [
                "ping.alive",
                "tcp.port",
                "tcp.port",
                "snmp.system",
                "ssh.port",
                "http.title",
                "http.title"
            ]
        );
        assert!(job.options.require_first_ok);
        let kinds: Vec<ProbeKind> = job
            .actions
            .iter()
            .map(|a| {
                ProbeKind::of_action(library().command(&a.command).unwrap().def.kind, &a.params)
                    .unwrap()
            })
            .collect();
        assert_eq!(
            kinds,
            spec.probes(),
            "probes() reads the job's actions back in order"
        );
        assert_eq!(spec.label(), "127.0.0.0/24");
    }

    #[test]
    fn bad_profiles_name_their_fields() {
        let spec = scan(
            json!({"ping": false, "tcp_ports": [0, 80, 80], "web": [{"scheme": "ftp"}], "snmp": {"version": "4"}}),
        );
        let e = spec.validate_profile().unwrap_err();
        let fields: Vec<&str> = e.errors.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "profile.tcp_ports[0]",
                "profile.tcp_ports[2]",
                "profile.web[0].scheme",
                "profile.snmp.version"
            ]
        );
        let mut overlapping = scan(json!({}));
        overlapping.targets.exclude = vec![
            "127.0.0.0/28".into(),
            "127.0.0.20, 127.0.0.5-127.0.0.6".into(),
        ];
        let e = overlapping.validate_profile().unwrap_err();
        assert_eq!(e.errors.len(), 1, "{e}");
        assert_eq!(e.errors[0].field, "targets.exclude[1]");
        assert!(
            e.errors[0]
                .message
                .contains("overlaps \"127.0.0.0/28\" (exclude[0])"),
            "{e}"
        );
        let nothing = scan(json!({"ping": false}));
        assert_eq!(
            nothing.validate_profile().unwrap_err().errors[0].field,
            "profile"
        );
    }

    #[test]
    fn groups_are_static_or_dynamic_and_checked() {
        let dynamic: GroupSpec = serde_json::from_value(
            json!({"name": "core", "filter": "vendor = \"Cisco\" and tag = core"}),
        )
        .unwrap();
        dynamic.validate().expect("valid dynamic group");
        let both: GroupSpec = serde_json::from_value(
            json!({"name": "x", "filter": "tag = a", "members": ["10.0.0.1"]}),
        )
        .unwrap();
        assert_eq!(both.validate().unwrap_err().errors[0].field, "filter");
        let bad_filter: GroupSpec =
            serde_json::from_value(json!({"name": "x", "filter": "vendor = "})).unwrap();
        assert!(
            bad_filter.validate().unwrap_err().errors[0]
                .message
                .contains("column")
        );
        let bad_member: GroupSpec =
            serde_json::from_value(json!({"name": "x", "members": ["10.0.0.1", "10.0.0.300"]}))
                .unwrap();
        assert_eq!(
            bad_member.validate().unwrap_err().errors[0].field,
            "members[1]"
        );
    }
}
