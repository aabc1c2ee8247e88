//! The params of an `http_get` action, checked and turned into a [`Plan`].

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use http::Method;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use opsconductor_core::targets::Target;
use regex::bytes::{Regex, RegexBuilder};
use serde::Deserialize;
use url::Url;

use crate::action::ActionError;

/// Most redirects a check may follow.
pub const MAX_REDIRECTS_LIMIT: u8 = 20;
/// Largest `max_body_bytes` accepted: bounds the memory one check can hold.
pub const MAX_BODY_BYTES_LIMIT: u64 = 64 * 1024 * 1024;
/// Longest `body_regex` accepted, in bytes.
const MAX_REGEX_LEN: usize = 4096;
/// Compiled-size limit of `body_regex` (program and lazy DFA), so a hostile pattern
/// cannot take the agent's memory.
const REGEX_SIZE_LIMIT: usize = 1 << 20;
/// Longest `timeout_ms` accepted (one hour).
const MAX_TIMEOUT_MS: u64 = 3_600_000;

/// `http` or `https`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    /// Plain HTTP, port 80 by default.
    Http,
    /// HTTP over TLS, port 443 by default.
    Https,
}

impl Scheme {
    fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
        }
    }

    fn default_port(self) -> u16 {
        match self {
            Self::Http => 80,
            Self::Https => 443,
        }
    }
}

/// The request methods a check may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    /// GET (the default).
    #[default]
    Get,
    /// HEAD: status and headers only.
    Head,
    /// POST.
    Post,
    /// PUT.
    Put,
    /// PATCH.
    Patch,
    /// DELETE.
    Delete,
    /// OPTIONS.
    Options,
}

impl From<HttpMethod> for Method {
    fn from(m: HttpMethod) -> Self {
        match m {
            HttpMethod::Get => Self::GET,
            HttpMethod::Head => Self::HEAD,
            HttpMethod::Post => Self::POST,
            HttpMethod::Put => Self::PUT,
            HttpMethod::Patch => Self::PATCH,
            HttpMethod::Delete => Self::DELETE,
            HttpMethod::Options => Self::OPTIONS,
        }
    }
}

/// The params as the command library defines them (defaults filled in by the library;
/// the same defaults apply here when a key is absent).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpParams {
    /// `http` (default) or `https`.
    #[serde(default = "default_scheme")]
    pub scheme: Scheme,
    /// TCP port; 80 for http and 443 for https when absent.
    #[serde(default)]
    pub port: Option<u16>,
    /// Path and optional query, `/` by default.
    #[serde(default = "default_path")]
    pub path: String,
    /// `Host` header (and TLS server name) to send instead of the target, for virtual
    /// hosts checked on a given address.
    #[serde(default)]
    pub host_header: Option<String>,
    /// Request method, GET by default.
    #[serde(default)]
    pub method: HttpMethod,
    /// Extra request headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Request body.
    #[serde(default)]
    pub body: Option<String>,
    /// Status codes that count as ok, `[200]` by default.
    #[serde(default = "default_expect_status")]
    pub expect_status: Vec<u16>,
    /// Follow 301/302/303/307/308 redirects (default true).
    #[serde(default = "yes")]
    pub follow_redirects: bool,
    /// Most redirects followed before the check fails (0–20, default 5); with 0 any
    /// redirect fails the check (turn `follow_redirects` off to report it instead).
    #[serde(default = "default_max_redirects")]
    pub max_redirects: u8,
    /// Refuse certificates the agent's trust store does not vouch for (default true).
    #[serde(default = "yes")]
    pub verify_tls: bool,
    /// Regular expression the body is searched for (sets `body_match`).
    #[serde(default)]
    pub body_regex: Option<String>,
    /// Time for the whole check, redirects and body included (default 5000).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Most body bytes read (default 1 MiB); the rest is not downloaded.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: u64,
}

fn default_scheme() -> Scheme {
    Scheme::Http
}

fn default_path() -> String {
    "/".to_owned()
}

fn default_expect_status() -> Vec<u16> {
    vec![200]
}

fn yes() -> bool {
    true
}

fn default_max_redirects() -> u8 {
    5
}

fn default_timeout_ms() -> u64 {
    5000
}

fn default_max_body_bytes() -> u64 {
    1024 * 1024
}

/// A checked request plan for one target.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The first URL requested.
    pub url: Url,
    /// Request method.
    pub method: Method,
    /// The operator's extra headers.
    pub headers: HeaderMap,
    /// `Host` header override, sent while redirects stay on the target's host.
    pub host_header: Option<HeaderValue>,
    /// TLS server name from `host_header`, when it holds one.
    pub tls_name: Option<String>,
    /// Request body (empty when none).
    pub body: Bytes,
    /// Status codes that count as ok.
    pub expect_status: Vec<u16>,
    /// Whether redirects are followed.
    pub follow_redirects: bool,
    /// Most redirects followed.
    pub max_redirects: u8,
    /// Whether certificates are verified.
    pub verify_tls: bool,
    /// Compiled `body_regex`.
    pub body_regex: Option<Regex>,
    /// Time for the whole check.
    pub timeout: Duration,
    /// Most body bytes read.
    pub max_body_bytes: usize,
}

impl HttpParams {
    /// Checks every param against `target` and builds the plan; the error names the param.
    pub fn plan(&self, target: &Target) -> Result<Plan, ActionError> {
        let port = match self.port {
            Some(0) => return Err(invalid("port: 0 is not a usable TCP port")),
            Some(port) => port,
            None => self.scheme.default_port(),
        };
        let url = build_url(self.scheme, target, port, &self.path)?;
        let method = Method::from(self.method);
        let headers = header_map(&self.headers)?;
        let host_header = match self
            .host_header
            .as_deref()
            .map(str::trim)
            .filter(|h| !h.is_empty())
        {
            Some(h) => Some(h.to_owned()),
            // `Host` among the headers is the same request.
            None => self
                .headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("host"))
                .map(|(_, v)| v.trim().to_owned()),
        };
        let (host_header, tls_name) = match host_header {
            None => (None, None),
            Some(h) => {
                let value = HeaderValue::from_str(&h).map_err(|_| {
                    invalid(format!("host_header: {h:?} is not a valid Host value"))
                })?;
                (Some(value), tls_name_of(&h))
            }
        };
        if self.expect_status.is_empty() {
            return Err(invalid("expect_status: give at least one status code"));
        }
        if let Some(bad) = self
            .expect_status
            .iter()
            .find(|s| !(100..=599).contains(*s))
        {
            return Err(invalid(format!(
                "expect_status: {bad} is not an HTTP status code (100-599)"
            )));
        }
        if self.max_redirects > MAX_REDIRECTS_LIMIT {
            return Err(invalid(format!(
                "max_redirects: {} is above the limit of {MAX_REDIRECTS_LIMIT}",
                self.max_redirects
            )));
        }
        if self.timeout_ms == 0 || self.timeout_ms > MAX_TIMEOUT_MS {
            return Err(invalid(format!(
                "timeout_ms: {} is outside 1..={MAX_TIMEOUT_MS}",
                self.timeout_ms
            )));
        }
        if self.max_body_bytes > MAX_BODY_BYTES_LIMIT {
            return Err(invalid(format!(
                "max_body_bytes: {} is above the limit of {MAX_BODY_BYTES_LIMIT} (64 MiB)",
                self.max_body_bytes
            )));
        }
        let body_regex = self.body_regex.as_deref().map(compile_regex).transpose()?;
        Ok(Plan {
            url,
            method,
            headers,
            host_header,
            tls_name,
            body: self.body.clone().map(Bytes::from).unwrap_or_default(),
            expect_status: self.expect_status.clone(),
            follow_redirects: self.follow_redirects,
            max_redirects: self.max_redirects,
            verify_tls: self.verify_tls,
            body_regex,
            timeout: Duration::from_millis(self.timeout_ms),
            // Bounded by MAX_BODY_BYTES_LIMIT above, so it fits any usize this runs on.
            max_body_bytes: usize::try_from(self.max_body_bytes).unwrap_or(usize::MAX),
        })
    }
}

fn invalid(message: impl Into<String>) -> ActionError {
    ActionError::InvalidParams(message.into())
}

/// `scheme://target:port/path`, IPv6 targets bracketed.
fn build_url(scheme: Scheme, target: &Target, port: u16, path: &str) -> Result<Url, ActionError> {
    let host = match target {
        Target::Ip(std::net::IpAddr::V6(v6)) => format!("[{v6}]"),
        other => other.to_string(),
    };
    let path = path.trim();
    if path.chars().any(char::is_control) {
        return Err(invalid(format!(
            "path: {path:?} contains control characters"
        )));
    }
    let slash = if path.starts_with('/') { "" } else { "/" };
    let text = format!("{}://{host}:{port}{slash}{path}", scheme.as_str());
    Url::parse(&text)
        .map_err(|e| invalid(format!("path: {path:?} does not make a valid URL ({e})")))
}

/// Headers that the executor sets itself: framing and connection handling follow from
/// the other params, so an operator value could only break the request.
const RESERVED_HEADERS: [HeaderName; 4] = [
    header::CONTENT_LENGTH,
    header::TRANSFER_ENCODING,
    header::CONNECTION,
    header::HOST,
];

fn header_map(headers: &BTreeMap<String, String>) -> Result<HeaderMap, ActionError> {
    let mut map = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        let name_h = HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| invalid(format!("headers: {name:?} is not a valid header name")))?;
        if name_h == header::HOST {
            continue; // taken as host_header
        }
        if RESERVED_HEADERS.contains(&name_h) {
            return Err(invalid(format!(
                "headers: {name_h} is set by the agent and cannot be given"
            )));
        }
        let value_h = HeaderValue::from_str(value).map_err(|_| {
            invalid(format!(
                "headers: the value of {name_h} is not a valid header value"
            ))
        })?;
        map.append(name_h, value_h);
    }
    Ok(map)
}

/// The host part of a `Host` value (`example.com:8443` → `example.com`), for SNI.
fn tls_name_of(host: &str) -> Option<String> {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split_once(']').map(|(ip, _)| ip)?
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => host,
        }
    };
    (!name.is_empty()).then(|| name.to_owned())
}

fn compile_regex(pattern: &str) -> Result<Regex, ActionError> {
    if pattern.len() > MAX_REGEX_LEN {
        return Err(invalid(format!(
            "body_regex: {} bytes is longer than the limit of {MAX_REGEX_LEN}",
            pattern.len()
        )));
    }
    RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| invalid(format!("body_regex: {e}")))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn params(value: serde_json::Value) -> Result<HttpParams, serde_json::Error> {
        serde_json::from_value(value)
    }

    fn plan(value: serde_json::Value, target: &str) -> Result<Plan, ActionError> {
        params(value)
            .expect("params deserialise")
            .plan(&target.parse().expect("target"))
    }

    #[test]
    fn empty_params_take_the_documented_defaults() {
        let p = plan(json!({}), "10.0.0.1").unwrap();
        assert_eq!(p.url.as_str(), "http://10.0.0.1/");
        assert_eq!(p.method, Method::GET);
        assert_eq!(p.expect_status, [200]);
        assert!(p.follow_redirects && p.verify_tls);
        assert_eq!(p.max_redirects, 5);
        assert_eq!(p.timeout, Duration::from_millis(5000));
        assert_eq!(p.max_body_bytes, 1024 * 1024);
        assert!(p.body.is_empty() && p.body_regex.is_none() && p.host_header.is_none());
    }

    #[test]
    fn ipv6_targets_are_bracketed_and_ports_kept() {
        let p = plan(
            json!({"scheme": "https", "port": 8443, "path": "/health?x=1"}),
            "::1",
        )
        .unwrap();
        assert_eq!(p.url.as_str(), "https://[::1]:8443/health?x=1");
        assert_eq!(p.url.host_str(), Some("[::1]"));
    }

    #[test]
    fn a_path_without_a_leading_slash_gets_one() {
        let p = plan(json!({"path": "status"}), "web1.example").unwrap();
        assert_eq!(p.url.as_str(), "http://web1.example/status");
    }

    #[test]
    fn host_header_sets_the_tls_name_without_its_port() {
        let p = plan(json!({"host_header": "www.example.com:8443"}), "10.0.0.1").unwrap();
        assert_eq!(p.host_header.unwrap(), "www.example.com:8443");
        assert_eq!(p.tls_name.as_deref(), Some("www.example.com"));
        assert_eq!(
            tls_name_of("[2001:db8::1]:443").as_deref(),
            Some("2001:db8::1")
        );
        let p = plan(json!({"headers": {"Host": "vhost.example"}}), "10.0.0.1").unwrap();
        assert_eq!(p.host_header.unwrap(), "vhost.example");
        assert!(p.headers.is_empty());
    }

    #[test]
    fn bad_params_are_refused_with_the_param_named() {
        let cases = [
            (json!({"max_redirects": 21}), "max_redirects"),
            (json!({"expect_status": []}), "expect_status"),
            (json!({"expect_status": [200, 999]}), "expect_status"),
            (json!({"timeout_ms": 0}), "timeout_ms"),
            (json!({"max_body_bytes": 1u64 << 40}), "max_body_bytes"),
            (json!({"body_regex": "(unclosed"}), "body_regex"),
            (json!({"body_regex": "\\w{1000}{1000}"}), "body_regex"),
            (json!({"headers": {"bad header": "x"}}), "headers"),
            (json!({"headers": {"X-Ok": "line\nbreak"}}), "headers"),
            (json!({"headers": {"Content-Length": "3"}}), "headers"),
            (json!({"port": 0}), "port"),
            (json!({"path": "/a\nb"}), "path"),
        ];
        for (value, name) in cases {
            let err = plan(value.clone(), "10.0.0.1").unwrap_err();
            let ActionError::InvalidParams(message) = &err else {
                panic!("{value}: expected invalid params, got {err:?}");
            };
            assert!(message.starts_with(name), "{value}: {message}");
        }
    }

    #[test]
    fn unknown_params_and_bad_enums_do_not_deserialise() {
        assert!(params(json!({"verfy_tls": false})).is_err());
        assert!(params(json!({"scheme": "ftp"})).is_err());
        assert!(params(json!({"method": "TRACE"})).is_err());
        assert!(params(json!({"max_redirects": 300})).is_err());
    }
}
