//! One target: an IP address or a validated hostname.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Longest hostname accepted, without a trailing dot (RFC 1035 §2.3.4).
pub const MAX_HOSTNAME_LEN: usize = 253;

/// Longest label of a hostname (RFC 1035 §2.3.4).
const MAX_LABEL_LEN: usize = 63;

/// What an action runs against: an address, or a name the agent resolves.
///
/// Serialises as a plain string (`"10.0.0.1"`, `"2001:db8::1"`, `"core-sw1.example"`).
/// Hostnames are stored lowercased and without a trailing dot, so two spellings of one name
/// compare equal.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    /// An IPv4 or IPv6 address.
    Ip(IpAddr),
    /// A hostname of RFC 1123 labels, lowercased, at most 253 characters.
    Host(String),
}

/// Why a string is not a [`Target`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TargetParseError {
    message: String,
}

impl TargetParseError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

impl Target {
    /// A hostname target, validated and normalised (see [`normalize_hostname`]).
    pub fn host(name: &str) -> Result<Self, TargetParseError> {
        normalize_hostname(name)
            .map(Self::Host)
            .map_err(|reason| TargetParseError::new(format!("{}: {reason}", quote(name))))
    }

    /// The address, when this target is one.
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            Self::Ip(ip) => Some(*ip),
            Self::Host(_) => None,
        }
    }
}

impl From<IpAddr> for Target {
    fn from(ip: IpAddr) -> Self {
        Self::Ip(ip)
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ip(ip) => ip.fmt(f),
            Self::Host(host) => f.write_str(host),
        }
    }
}

impl FromStr for Target {
    type Err = TargetParseError;

    /// Parses one address (`10.0.0.1`, `2001:db8::1`, `[2001:db8::1]`) or one hostname.
    /// CIDRs and ranges are selections, not targets: see [`super::TargetSpec`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if let Some(ip) = parse_ip(s) {
            return Ok(Self::Ip(ip));
        }
        if let Some(reason) = address_problem(s) {
            return Err(TargetParseError::new(format!("{}: {reason}", quote(s))));
        }
        let selects_many = s.contains('/')
            || s.split_once('-')
                .is_some_and(|(left, _)| parse_ip(left).is_some());
        if selects_many {
            return Err(TargetParseError::new(format!(
                "{}: a CIDR or range selects several targets; a target is one address or hostname",
                quote(s)
            )));
        }
        Self::host(s)
    }
}

impl Serialize for Target {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Target {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Parses an address, accepting IPv6 in brackets (`[2001:db8::1]`) as URLs write it.
pub(crate) fn parse_ip(s: &str) -> Option<IpAddr> {
    let unbracketed = s
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .unwrap_or(s);
    unbracketed.parse().ok()
}

/// For a string that does not parse as an address but was evidently meant as one, says why.
///
/// Decides between "bad address" and "bad hostname" so `10.0.0.256` is reported as an
/// address problem rather than as a hostname whose last label is numeric.
pub(crate) fn address_problem(s: &str) -> Option<String> {
    if s.contains('%') && s.contains(':') {
        return Some("IPv6 zone ids (%eth0) are not supported in targets".to_owned());
    }
    if s.contains(':') || s.starts_with('[') {
        return Some("not a valid IPv6 address".to_owned());
    }
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Some(ipv4_problem(s));
    }
    None
}

/// Explains why a dotted-digits string is not an IPv4 address.
fn ipv4_problem(s: &str) -> String {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() != 4 {
        return format!(
            "not a valid IPv4 address: expected 4 dot-separated numbers, found {}",
            parts.len()
        );
    }
    for part in parts {
        if part.is_empty() {
            return "not a valid IPv4 address: empty number between dots".to_owned();
        }
        if part.len() > 1 && part.starts_with('0') {
            return format!(
                "not a valid IPv4 address: {part:?} has a leading zero (octal notation is ambiguous)"
            );
        }
        if part.len() > 3 || part.parse::<u16>().map_or(true, |n| n > 255) {
            return format!("not a valid IPv4 address: {part} is larger than 255");
        }
    }
    "not a valid IPv4 address".to_owned()
}

/// Validates a hostname (RFC 1123 labels: letters, digits and inner hyphens, 1-63
/// characters each, at most 253 in total, last label not all digits) and returns it
/// lowercased without a trailing dot.
pub fn normalize_hostname(name: &str) -> Result<String, String> {
    let trimmed = name.strip_suffix('.').unwrap_or(name);
    if trimmed.is_empty() {
        return Err("empty hostname".to_owned());
    }
    if !trimmed.is_ascii() {
        return Err(
            "hostname has non-ASCII characters; write internationalised names in their xn-- form"
                .to_owned(),
        );
    }
    if trimmed.len() > MAX_HOSTNAME_LEN {
        return Err(format!(
            "hostname is {} characters long, longer than {MAX_HOSTNAME_LEN}",
            trimmed.len()
        ));
    }
    let mut last = "";
    for label in trimmed.split('.') {
        if label.is_empty() {
            return Err("hostname has an empty label (two dots in a row)".to_owned());
        }
        if label.len() > MAX_LABEL_LEN {
            return Err(format!(
                "hostname label {:?} is {} characters long, longer than {MAX_LABEL_LEN}",
                truncate_chars(label, 20),
                label.len()
            ));
        }
        if let Some(bad) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
        {
            return Err(format!(
                "hostname has the character {bad:?}; only letters, digits, '-' and '.' are allowed"
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!("hostname label {label:?} starts or ends with '-'"));
        }
        last = label;
    }
    if last.bytes().all(|b| b.is_ascii_digit()) {
        return Err(
            "hostname's last label is all digits, so it is neither a hostname nor an address"
                .to_owned(),
        );
    }
    Ok(trimmed.to_ascii_lowercase())
}

/// Quotes user input for an error message, shortened so one bad value cannot flood it.
pub(crate) fn quote(s: &str) -> String {
    format!("{:?}", truncate_chars(s, 80))
}

/// The first `max` characters of `s`, with `…` when something was cut.
pub(crate) fn truncate_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostnames_are_lowercased_and_lose_the_trailing_dot() {
        let t: Target = "Core-SW1.Example.".parse().unwrap();
        assert_eq!(t, Target::Host("core-sw1.example".into()));
        assert_eq!(t.to_string(), "core-sw1.example");
    }

    #[test]
    fn addresses_parse_in_both_families_and_brackets() {
        assert_eq!(
            "10.0.0.1".parse::<Target>().unwrap().to_string(),
            "10.0.0.1"
        );
        assert_eq!(
            "[2001:DB8::1]".parse::<Target>().unwrap().to_string(),
            "2001:db8::1"
        );
    }

    #[test]
    fn a_dotted_quad_out_of_range_is_an_address_error_not_a_hostname_error() {
        let e = "10.0.0.256".parse::<Target>().unwrap_err().to_string();
        assert!(e.contains("256 is larger than 255"), "{e}");
        let e = "10.0.0".parse::<Target>().unwrap_err().to_string();
        assert!(e.contains("expected 4"), "{e}");
    }

    #[test]
    fn a_cidr_or_range_is_not_one_target() {
        for input in ["10.0.0.0/24", "10.0.0.1-9"] {
            let e = input.parse::<Target>().unwrap_err().to_string();
            assert!(e.contains("selects several targets"), "{e}");
        }
    }

    #[test]
    fn bad_hostnames_say_what_is_wrong() {
        for (input, needle) in [
            ("under_score.example", "'_'"),
            ("-lead.example", "starts or ends"),
            ("a..b", "empty label"),
            ("bücher.example", "xn--"),
            ("", "empty"),
        ] {
            let e = Target::host(input).unwrap_err().to_string();
            assert!(e.contains(needle), "{input}: {e}");
        }
        let long = format!("{}.example", "a".repeat(64));
        assert!(
            Target::host(&long)
                .unwrap_err()
                .to_string()
                .contains("longer than 63")
        );
        let too_long = vec!["abcdefghi"; 26].join(".");
        assert!(too_long.len() > 253);
        assert!(
            Target::host(&too_long)
                .unwrap_err()
                .to_string()
                .contains("longer than 253")
        );
    }

    #[test]
    fn targets_serialise_as_plain_strings() {
        let targets: Vec<Target> =
            serde_json::from_str(r#"["10.0.0.1","2001:db8::2","Host.Example"]"#).unwrap();
        assert_eq!(
            serde_json::to_string(&targets).unwrap(),
            r#"["10.0.0.1","2001:db8::2","host.example"]"#
        );
        assert!(serde_json::from_str::<Target>(r#""bad host""#).is_err());
    }

    #[test]
    fn truncation_respects_character_boundaries() {
        assert_eq!(truncate_chars("ééé", 2), "éé…");
        assert_eq!(truncate_chars("ab", 2), "ab");
    }
}
