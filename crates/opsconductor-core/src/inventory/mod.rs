//! The device inventory: what scans learned about each address, what operators added, and
//! the groups jobs target.
//!
//! - [`Device`] — one address with its learned [`Attributes`], user tags and notes, and
//!   when it was first and last seen.
//! - [`observe`](mod@observe) — a scan's results for one host folded into a [`HostObservation`].
//! - [`identify`](mod@identify) — vendor, model and OS guessed from sysObjectID, sysDescr and banners.
//! - [`filter`] — the dynamic-group filter language (`vendor = "Cisco" and tag = "core"`).
//! - [`diff`](mod@diff) — new, changed and gone hosts between two scans of the same range.
//! - [`import`] — devices read from CSV or JSON with a line-by-line report.
//! - [`scan`] — a scan request (range + discovery profile) as a job of library probes;
//!   device groups.
//!
//! Pure like the rest of the crate: the store keeps devices, the controller runs scans.

pub mod diff;
pub mod filter;
pub mod identify;
pub mod import;
pub mod observe;
pub mod scan;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use diff::{AttributeChange, ChangedHost, ScanDiff, diff};
pub use filter::{Filter, FilterError};
pub use identify::{Identity, identify};
pub use observe::{HostObservation, ProbeKind, ProbeOutcome, observe};
pub use scan::{GroupSpec, ScanCounts, ScanOptions, ScanProfile, ScanSpec};

/// Longest tag, in characters.
pub const MAX_TAG_CHARS: usize = 64;
/// Most tags on one device.
pub const MAX_TAGS: usize = 32;
/// Longest note, in characters.
pub const MAX_NOTES_CHARS: usize = 4000;
/// Longest learned text attribute kept (a sysDescr, a banner, a title), in characters.
pub const MAX_ATTRIBUTE_CHARS: usize = 512;

/// What scans learned about a device. Every field is optional: a host that only answers
/// ping has none but its round-trip time.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Attributes {
    /// Vendor guessed by [`identify()`] (e.g. `Cisco`), or set by an import.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
    /// Model guessed from sysDescr / sysObjectID, or set by an import.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Operating system guessed from sysDescr and banners (e.g. `Linux`, `Cisco IOS XE`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
    /// SNMP sysName.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sys_name: Option<String>,
    /// SNMP sysDescr (first line).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sys_descr: Option<String>,
    /// SNMP sysObjectID, dotted without a leading dot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sys_object_id: Option<String>,
    /// SNMP sysUpTime in seconds when last scanned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sys_uptime_s: Option<f64>,
    /// SNMP sysLocation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sys_location: Option<String>,
    /// The SSH identification line, e.g. `SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssh_banner: Option<String>,
    /// The HTTP `Server` header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_server: Option<String>,
    /// The HTML `<title>` of the HTTP front page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_title: Option<String>,
    /// TCP ports found open, ascending.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub open_ports: Vec<u16>,
    /// Ping round-trip time in the last scan, ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtt_ms: Option<f64>,
}

/// One device of the inventory, keyed by its address.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Device {
    /// The key: an IPv4 or IPv6 address in canonical text form.
    pub address: String,
    /// Host name: SNMP sysName when learned, else what an import or an operator set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// The segment whose agents reach it (longest-prefix match when last scanned).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segment: Option<String>,
    /// What scans learned.
    pub attributes: Attributes,
    /// Operator tags, sorted, unique.
    pub tags: Vec<String>,
    /// Operator notes.
    pub notes: String,
    /// When a scan or import first recorded it.
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub first_seen: DateTime<Utc>,
    /// When a scan last found it alive (or it was imported).
    #[serde(serialize_with = "crate::timestamp::serialize")]
    pub last_seen: DateTime<Utc>,
    /// The last scan that found it alive, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_scan_id: Option<String>,
}

/// Checks operator tags and returns them sorted and de-duplicated; `field` prefixes errors.
pub fn normalize_tags(field: &str, tags: &[String]) -> Result<Vec<String>, crate::ValidationError> {
    let mut problems = crate::error::Problems::default();
    let mut out: Vec<String> = Vec::with_capacity(tags.len());
    for (i, tag) in tags.iter().enumerate() {
        let tag = tag.trim();
        if tag.is_empty() || tag.chars().count() > MAX_TAG_CHARS {
            problems.push(
                format!("{field}[{i}]"),
                format!("a tag must be 1-{MAX_TAG_CHARS} characters"),
            );
        } else if tag.chars().any(char::is_control) {
            problems.push(
                format!("{field}[{i}]"),
                "a tag must not contain control characters",
            );
        } else {
            out.push(tag.to_owned());
        }
    }
    out.sort();
    out.dedup();
    if out.len() > MAX_TAGS {
        problems.push(field, format!("at most {MAX_TAGS} tags"));
    }
    problems.finish().map(|()| out)
}

/// Canonical text of an IP address, or why `text` is not one.
pub fn canonical_address(text: &str) -> Result<String, String> {
    text.trim()
        .parse::<std::net::IpAddr>()
        .map(|ip| ip.to_string())
        .map_err(|_| format!("{:?} is not an IPv4 or IPv6 address", cut(text, 80)))
}

/// `text` cut to `max` characters (for error messages and stored attributes).
pub(crate) fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => text[..at].to_owned(),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_trimmed_sorted_and_unique() {
        let tags = normalize_tags("tags", &[" core".into(), "a".into(), "core".into()]).unwrap();
        assert_eq!(tags, ["a", "core"]);
    }

    #[test]
    fn a_bad_tag_is_named_by_its_index() {
        let e = normalize_tags("tags", &["ok".into(), " ".into()]).unwrap_err();
        assert_eq!(e.errors[0].field, "tags[1]");
    }

    #[test]
    fn addresses_are_canonical() {
        assert_eq!(canonical_address(" 2001:DB8::1 ").unwrap(), "2001:db8::1");
        assert!(
            canonical_address("10.0.0.256")
                .unwrap_err()
                .contains("not an IPv4")
        );
    }
}
