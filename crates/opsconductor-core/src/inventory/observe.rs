//! A scan's results for one host, folded into what the inventory keeps.
//!
//! A scan is a run whose actions are probes from the command library; this module reads
//! their results by action *kind* (not command id), so a user-defined probe of a known kind
//! (another port, another SNMP community) is understood too. Fields come from the
//! executors and the parsers the commands name: the ping executor's `rtt_avg_ms`, the
//! `snmp.system` parser's `name` / `descr` / `object_id` / `uptime_s` / `location`, the SSH
//! port check's `banner`, the HTTP executor's `status_code` / `server`, and the page's
//! `<title>` read from the start of the body (the result's raw excerpt) — read here rather
//! than by a parser, because a parser that finds no title makes the result an error, and a
//! page without a title is still a web server found.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value};

use super::{Attributes, MAX_ATTRIBUTE_CHARS, cut, identify};
use crate::library::ActionKind;
use crate::model::ResultStatus;

/// What a scan's action tells about a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeKind {
    /// ICMP echo: alive or not, round-trip time.
    Ping,
    /// A TCP port open or not.
    TcpPort(u16),
    /// The SNMP system group.
    Snmp,
    /// An SSH port and its banner.
    Ssh(u16),
    /// An HTTP(S) front page: status, `Server`, title.
    Http(u16),
}

impl ProbeKind {
    /// The probe an action of `kind` with `params` (defaults applied) makes, if any.
    pub fn of_action(kind: ActionKind, params: &Map<String, Value>) -> Option<Self> {
        let given = params
            .get("port")
            .and_then(Value::as_u64)
            .and_then(|p| u16::try_from(p).ok())
            .filter(|p| *p != 0);
        let port = |default: u16| given.unwrap_or(default);
        match kind {
            ActionKind::Ping => Some(Self::Ping),
            ActionKind::TcpPort => given.map(Self::TcpPort),
            ActionKind::SnmpGet => Some(Self::Snmp),
            ActionKind::SshPort => Some(Self::Ssh(port(22))),
            ActionKind::HttpGet => {
                let https = params.get("scheme").and_then(Value::as_str) == Some("https");
                Some(Self::Http(port(if https { 443 } else { 80 })))
            }
            ActionKind::SnmpWalk | ActionKind::SshCommand => None,
        }
    }
}

/// One probe's result for a host.
#[derive(Debug, Clone, Copy)]
pub struct ProbeOutcome<'a> {
    /// What was probed.
    pub kind: ProbeKind,
    /// The result's verdict.
    pub status: ResultStatus,
    /// The result's fields (executor output plus parsed fields).
    pub fields: &'a Map<String, Value>,
    /// The start of the raw output (for HTTP, of the body).
    pub raw: Option<&'a str>,
}

/// What one scan learned about one address.
#[derive(Debug, Clone, PartialEq)]
pub struct HostObservation {
    /// The address probed.
    pub address: String,
    /// Whether it answered: ping when the scan pings, otherwise any probe answering.
    pub alive: bool,
    /// Whether anything beyond liveness was learned (SNMP, a banner, a web page).
    pub identified: bool,
    /// What was learned, vendor / model / OS guessed.
    pub attributes: Attributes,
}

/// Folds a host's probe results into an observation.
pub fn observe(address: &str, outcomes: &[ProbeOutcome<'_>]) -> HostObservation {
    let mut attributes = Attributes::default();
    let mut pinged = false;
    let mut ping_alive = false;
    let mut answered = false;
    let mut identified = false;
    for outcome in outcomes {
        let fields = outcome.fields;
        let ok = outcome.status == ResultStatus::Ok;
        match outcome.kind {
            ProbeKind::Ping => {
                pinged = true;
                if ok {
                    ping_alive = true;
                    attributes.rtt_ms = number(fields, "rtt_avg_ms");
                }
            }
            ProbeKind::TcpPort(port) => {
                // Connected is what counts; an `expect` miss still means the port is open.
                if ok || fields.contains_key("connect_ms") {
                    attributes.open_ports.push(port);
                    answered = true;
                }
            }
            ProbeKind::Snmp => {
                if let Some(descr) = text(fields, "descr") {
                    attributes.sys_descr = Some(descr);
                    attributes.sys_name = text(fields, "name");
                    attributes.sys_object_id =
                        text(fields, "object_id").map(|oid| oid.trim_start_matches('.').to_owned());
                    attributes.sys_uptime_s = number(fields, "uptime_s");
                    attributes.sys_location = text(fields, "location");
                    answered = true;
                    identified = true;
                }
            }
            ProbeKind::Ssh(port) => {
                if let Some(banner) = text(fields, "banner").filter(|b| b.starts_with("SSH-")) {
                    attributes.ssh_banner = Some(banner);
                    attributes.open_ports.push(port);
                    answered = true;
                    identified = true;
                } else if fields.contains_key("connect_ms") {
                    attributes.open_ports.push(port);
                    answered = true;
                }
            }
            ProbeKind::Http(port) => {
                if fields.contains_key("status_code") {
                    attributes.open_ports.push(port);
                    answered = true;
                    attributes.http_server =
                        text(fields, "server").or(attributes.http_server.take());
                    attributes.http_title = outcome
                        .raw
                        .and_then(html_title)
                        .or(attributes.http_title.take());
                    identified |=
                        attributes.http_server.is_some() || attributes.http_title.is_some();
                }
            }
        }
    }
    attributes.open_ports.sort_unstable();
    attributes.open_ports.dedup();
    let identity = identify(&attributes);
    attributes.vendor = identity.vendor;
    attributes.model = identity.model;
    attributes.os = identity.os;
    HostObservation {
        address: address.to_owned(),
        alive: if pinged {
            ping_alive || answered
        } else {
            answered
        },
        identified,
        attributes,
    }
}

/// A non-empty text field, single line, cut to [`MAX_ATTRIBUTE_CHARS`].
fn text(fields: &Map<String, Value>, name: &str) -> Option<String> {
    let value = fields.get(name)?.as_str()?;
    let line = value.lines().next().unwrap_or_default().trim();
    let clean: String = line.chars().filter(|c| !c.is_control()).collect();
    (!clean.is_empty()).then(|| cut(&clean, MAX_ATTRIBUTE_CHARS))
}

/// The text of an HTML `<title>`, entities for markup characters decoded, whitespace
/// collapsed.
fn html_title(body: &str) -> Option<String> {
    static TITLE: LazyLock<Option<Regex>> =
        LazyLock::new(|| Regex::new(r"(?is)<title[^>]*>(.*?)</title>").ok());
    let raw = TITLE.as_ref()?.captures(body)?.get(1)?.as_str();
    let decoded = raw
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&");
    let words: Vec<&str> = decoded.split_whitespace().collect();
    let title: String = words
        .join(" ")
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    (!title.is_empty()).then(|| cut(&title, MAX_ATTRIBUTE_CHARS))
}

fn number(fields: &Map<String, Value>, name: &str) -> Option<f64> {
    fields.get(name)?.as_f64().filter(|n| n.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    #[test]
    fn a_linux_box_with_snmp_ssh_and_http_is_identified() {
        let ping = fields(json!({"received": 1, "rtt_avg_ms": 0.05}));
        let snmp = fields(json!({
            "descr": "Linux mon-01 6.1.0-18-amd64 #1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 x86_64",
            "object_id": ".1.3.6.1.4.1.8072.3.2.10", "name": "mon-01", "uptime_s": 3600.0
        }));
        let ssh =
            fields(json!({"banner": "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3", "connect_ms": 0.1}));
        let http = fields(json!({"status_code": 200, "server": "nginx"}));
        let page = "<!doctype html><html><head><TITLE>\n  Welcome &amp; hello\n</TITLE></head>";
        let closed = fields(json!({}));
        let outcomes = [
            ProbeOutcome {
                kind: ProbeKind::Ping,
                status: ResultStatus::Ok,
                fields: &ping,
                raw: None,
            },
            ProbeOutcome {
                kind: ProbeKind::Snmp,
                status: ResultStatus::Ok,
                fields: &snmp,
                raw: None,
            },
            ProbeOutcome {
                kind: ProbeKind::Ssh(22),
                status: ResultStatus::Ok,
                fields: &ssh,
                raw: None,
            },
            ProbeOutcome {
                kind: ProbeKind::Http(80),
                status: ResultStatus::Ok,
                fields: &http,
                raw: Some(page),
            },
            ProbeOutcome {
                kind: ProbeKind::TcpPort(443),
                status: ResultStatus::Error,
                fields: &closed,
                raw: None,
            },
        ];
        let host = observe("127.0.0.1", &outcomes);
        assert!(host.alive && host.identified);
        let a = &host.attributes;
        assert_eq!(a.sys_name.as_deref(), Some("mon-01"));
        assert_eq!(a.sys_object_id.as_deref(), Some("1.3.6.1.4.1.8072.3.2.10"));
        assert_eq!(a.open_ports, [22, 80]);
        assert_eq!(a.http_title.as_deref(), Some("Welcome & hello"));
        assert!(
            a.os.as_deref().is_some_and(|os| os.contains("Linux")),
            "{a:?}"
        );
    }

    #[test]
    fn a_host_that_does_not_answer_ping_but_has_an_open_port_is_alive() {
        let lost = fields(json!({"received": 0}));
        let open = fields(json!({"connect_ms": 0.2, "banner": ""}));
        let outcomes = [
            ProbeOutcome {
                kind: ProbeKind::Ping,
                status: ResultStatus::Fail,
                fields: &lost,
                raw: None,
            },
            ProbeOutcome {
                kind: ProbeKind::TcpPort(8080),
                status: ResultStatus::Ok,
                fields: &open,
                raw: None,
            },
        ];
        let host = observe("10.0.0.1", &outcomes);
        assert!(host.alive && !host.identified);
        assert_eq!(host.attributes.open_ports, [8080]);
        assert_eq!(host.attributes.rtt_ms, None);
    }

    #[test]
    fn silence_is_not_alive() {
        let lost = fields(json!({"received": 0}));
        let refused = fields(json!({}));
        let outcomes = [
            ProbeOutcome {
                kind: ProbeKind::Ping,
                status: ResultStatus::Fail,
                fields: &lost,
                raw: None,
            },
            ProbeOutcome {
                kind: ProbeKind::Snmp,
                status: ResultStatus::Timeout,
                fields: &refused,
                raw: None,
            },
        ];
        assert!(!observe("10.0.0.2", &outcomes).alive);
    }

    #[test]
    fn titles_are_optional_and_tolerant_of_garbage() {
        assert_eq!(html_title("no markup at all"), None);
        assert_eq!(html_title("<title></title>"), None);
        assert_eq!(
            html_title("<title>\u{0}x\u{7}</title>").as_deref(),
            Some("x")
        );
        let long = format!("<title>{}</title>", "é".repeat(10_000));
        assert_eq!(
            html_title(&long).map(|t| t.chars().count()),
            Some(MAX_ATTRIBUTE_CHARS)
        );
    }

    #[test]
    fn probes_are_read_by_action_kind_and_port() {
        let params = fields(json!({"port": 8443, "scheme": "https"}));
        assert_eq!(
            ProbeKind::of_action(ActionKind::HttpGet, &params),
            Some(ProbeKind::Http(8443))
        );
        let https = fields(json!({"scheme": "https"}));
        assert_eq!(
            ProbeKind::of_action(ActionKind::HttpGet, &https),
            Some(ProbeKind::Http(443))
        );
        assert_eq!(ProbeKind::of_action(ActionKind::TcpPort, &Map::new()), None);
        assert_eq!(ProbeKind::of_action(ActionKind::SshCommand, &params), None);
    }
}
