//! `http_get` actions: one HTTP(S) request per check on a new connection, with status,
//! body and certificate assertions.
//!
//! The request runs on a hyper 1 HTTP/1.1 client over a TCP (and tokio-rustls) stream the
//! executor opens itself, rather than through a pooled client such as reqwest: owning the
//! connection is what gives exact phase timings (name lookup, TCP connect, TLS handshake,
//! first response byte) and the server's certificate, and it makes "a new connection per
//! check" true by construction. Redirects are followed by our own loop, each hop on its
//! own connection.
//!
//! ## Layout
//! - [`params`] — the params and their checks ([`params::HttpParams`] → [`params::Plan`]).
//! - `exchange` — one request on a new connection, phase by phase.
//! - [`tls`] — client configurations, the `verify_tls: false` verifier, certificate facts.
//!
//! ## Fields
//! | field | meaning |
//! |---|---|
//! | `status_code` | status of the final response |
//! | `status_ok` | `status_code` is in `expect_status` |
//! | `response_ms` | wall time of the whole check: every redirect hop and the body read |
//! | `body_bytes` | body bytes read (at most `max_body_bytes`) |
//! | `body_truncated` | the server had more than `max_body_bytes` to send (the rest was not downloaded) |
//! | `content_length` | the `Content-Length` header, when sent |
//! | `content_type`, `server` | those response headers, when sent |
//! | `location` | the `Location` of a redirect that was not followed |
//! | `redirects` | redirects followed |
//! | `final_url` | URL of the final request |
//! | `http_version` | `HTTP/1.1` or `HTTP/1.0` |
//! | `remote_addr` | address the final request was sent to |
//! | `tls_version` | https: negotiated version (`TLSv1_3`) |
//! | `cert_days_left` | https: days until the leaf certificate's `notAfter`, a float rounded to 0.001 (≈ 1.5 min), negative once expired |
//! | `cert_not_after` | https: `notAfter` as RFC 3339 UTC |
//! | `cert_subject`, `cert_issuer` | https: distinguished names of the leaf certificate |
//! | `body_match` | when `body_regex` is set: it matched somewhere in the bytes read |
//! | `output_truncated` | only when `raw` had to be cut to [`MAX_RAW_OUTPUT_BYTES`] |
//!
//! Absent headers leave their field out (criteria treat a missing field as not matching).
//!
//! ## Timings
//! Milliseconds from the start of the final request (curl's `-w` convention, so they only
//! grow): `dns_ms` (hostnames only), `connect_ms`, `tls_ms` (https only), `first_byte_ms`,
//! `total_ms` (body read). `redirect_ms` is the time spent on earlier hops, when any.
//!
//! ## Raw output
//! The body bytes read, decoded as UTF-8 with invalid sequences replaced, cut to
//! [`MAX_RAW_OUTPUT_BYTES`]; the job's parsers (JSONPath health checks and so on) read it.
//! Nothing asks for compression (no `Accept-Encoding`), so the body is what the server
//! stores.

use std::sync::Arc;
use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use futures::FutureExt as _;
use futures::future::BoxFuture;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, StatusCode, Version};
use opsconductor_core::library::ActionKind;
use rustls::RootCertStore;
use rustls::pki_types::ServerName;
use serde_json::Value;
use tokio::time::Instant;
use url::{Host, Url};

use crate::action::{Action, ActionError, ActionInput, ActionOutput, MAX_RAW_OUTPUT_BYTES};
use crate::credential::Credential;

mod exchange;
pub mod params;
pub mod tls;

use exchange::{HopRequest, HopResponse, Phase};
use params::{HttpParams, Plan};
use tls::TlsConfigs;

/// `User-Agent` sent unless the check sets its own.
const USER_AGENT: &str = concat!("OpsConductor/", env!("CARGO_PKG_VERSION"), " (http check)");

/// The `http_get` executor. Holds the TLS configurations; every check opens its own
/// connection.
#[derive(Debug, Clone)]
pub struct HttpAction {
    tls: TlsConfigs,
}

impl Default for HttpAction {
    fn default() -> Self {
        Self::new()
    }
}

impl HttpAction {
    /// An executor that verifies certificates against the operating system's CA store
    /// (read once per process; `SSL_CERT_FILE` / `SSL_CERT_DIR` are honoured).
    pub fn new() -> Self {
        Self::with_roots(tls::system_roots())
    }

    /// An executor that trusts exactly `roots` (a private CA, or tests).
    pub fn with_roots(roots: impl Into<Arc<RootCertStore>>) -> Self {
        Self {
            tls: TlsConfigs::new(roots.into()),
        }
    }

    #[tracing::instrument(
        level = "debug",
        skip_all,
        fields(action.kind = "http_get", target = %input.target)
    )]
    async fn check(&self, input: ActionInput<'_>) -> Result<ActionOutput, ActionError> {
        let params: HttpParams = input.params()?;
        let plan = params.plan(input.target)?;
        let authorization = authorization(input.credential)?;
        let budget = plan.timeout.min(input.remaining());
        let mut phase = Phase::default();
        let fetched = tokio::time::timeout(
            budget,
            self.fetch(&plan, authorization.as_ref(), &mut phase),
        )
        .await;
        match fetched {
            Ok(outcome) => outcome,
            Err(_elapsed) => Err(ActionError::Timeout(
                phase.timeout_reason(budget.as_millis()),
            )),
        }
    }

    /// Requests the plan's URL and follows redirects as the plan says.
    async fn fetch(
        &self,
        plan: &Plan,
        authorization: Option<&HeaderValue>,
        phase: &mut Phase,
    ) -> Result<ActionOutput, ActionError> {
        let started = Instant::now();
        let mut url = plan.url.clone();
        let mut method = plan.method.clone();
        let mut body = plan.body.clone();
        let mut headers = plan.headers.clone();
        let mut visited = vec![url.clone()];
        loop {
            let same_host = url.host() == plan.url.host();
            let same_origin =
                same_host && url.port_or_known_default() == plan.url.port_or_known_default();
            let tls = match url.scheme() {
                "https" => Some((
                    self.tls.get(plan.verify_tls)?,
                    server_name(&url, plan, same_host)?,
                )),
                _ => None,
            };
            let request = HopRequest {
                url: &url,
                method: &method,
                headers: hop_headers(&headers, plan, &url, same_host, same_origin, authorization),
                body: body.clone(),
                tls,
                max_body_bytes: plan.max_body_bytes,
            };
            let follow = plan.follow_redirects;
            let hop = exchange::exchange(request, phase, |status, headers| {
                !(follow && is_redirect(status) && headers.contains_key(header::LOCATION))
            })
            .await?;
            let Some(location) = hop
                .headers
                .get(header::LOCATION)
                .filter(|_| follow && is_redirect(hop.status))
            else {
                return Ok(output(plan, &hop, &url, visited.len() - 1, started));
            };
            let next = resolve_location(&url, location)?;
            let followed = visited.len() - 1;
            if followed >= usize::from(plan.max_redirects) {
                let repeat = if visited.contains(&next) {
                    format!("a redirect loop: {next} was already visited")
                } else {
                    format!("next Location: {next}")
                };
                return Err(ActionError::Failed(format!(
                    "too many redirects: stopped after {followed} (max_redirects = {}); {repeat}",
                    plan.max_redirects
                )));
            }
            tracing::debug!(status = hop.status.as_u16(), location = %next, "following redirect");
            if rewrites_to_get(hop.status, &method) {
                method = Method::GET;
                body = bytes::Bytes::new();
                headers.remove(header::CONTENT_TYPE);
            }
            visited.push(next.clone());
            url = next;
        }
    }
}

impl Action for HttpAction {
    fn kind(&self) -> ActionKind {
        ActionKind::HttpGet
    }

    fn run<'a>(
        &'a self,
        input: ActionInput<'a>,
    ) -> BoxFuture<'a, Result<ActionOutput, ActionError>> {
        self.check(input).boxed()
    }
}

/// The `Authorization` value for the check's credential.
fn authorization(credential: Option<&Credential>) -> Result<Option<HeaderValue>, ActionError> {
    let text = match credential {
        None => return Ok(None),
        Some(Credential::HttpBasic { user, password }) => {
            format!(
                "Basic {}",
                BASE64.encode(format!("{user}:{}", password.expose()))
            )
        }
        Some(Credential::HttpBearer { token }) => format!("Bearer {}", token.expose()),
        Some(other) => {
            let kind = match other {
                Credential::SnmpCommunity { .. } => "an SNMP community",
                Credential::SnmpV3 { .. } => "an SNMPv3 user",
                Credential::SshPassword { .. } | Credential::SshKey { .. } => "an SSH login",
                Credential::HttpBasic { .. } | Credential::HttpBearer { .. } => {
                    "an HTTP credential"
                }
            };
            return Err(ActionError::Credential(format!(
                "http checks take an HTTP basic or bearer credential, not {kind}"
            )));
        }
    };
    // Never echo the value: it is the secret.
    let mut value = HeaderValue::from_str(&text).map_err(|_| {
        ActionError::Credential(
            "the credential holds characters not allowed in an HTTP header".to_owned(),
        )
    })?;
    value.set_sensitive(true);
    Ok(Some(value))
}

/// The headers of one hop. The `Host` override follows redirects that stay on the
/// target's host; credentials only those that stay on its host and port.
fn hop_headers(
    headers: &HeaderMap,
    plan: &Plan,
    url: &Url,
    same_host: bool,
    same_origin: bool,
    authorization: Option<&HeaderValue>,
) -> HeaderMap {
    let mut out = headers.clone();
    let host = match (&plan.host_header, same_host) {
        (Some(value), true) => value.clone(),
        _ => authority(url),
    };
    out.insert(header::HOST, host);
    if same_origin {
        if let Some(value) = authorization {
            out.insert(header::AUTHORIZATION, value.clone());
        }
    } else {
        for name in [
            header::AUTHORIZATION,
            header::COOKIE,
            header::PROXY_AUTHORIZATION,
        ] {
            out.remove(name);
        }
    }
    out.entry(header::USER_AGENT)
        .or_insert(HeaderValue::from_static(USER_AGENT));
    out.entry(header::ACCEPT)
        .or_insert(HeaderValue::from_static("*/*"));
    // The check is over once the response is read: let the server close first, so its
    // side (not the agent's) holds the TIME_WAIT.
    out.insert(header::CONNECTION, HeaderValue::from_static("close"));
    out
}

/// `host[:port]` of a URL (port only when not the scheme's default), IPv6 bracketed.
fn authority(url: &Url) -> HeaderValue {
    let host = url.host_str().unwrap_or_default();
    let text = match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    };
    // Url only holds valid host characters.
    HeaderValue::from_str(&text).unwrap_or(HeaderValue::from_static("localhost"))
}

/// The TLS server name to verify and send: the `host_header`'s while on the target's host.
fn server_name(
    url: &Url,
    plan: &Plan,
    same_host: bool,
) -> Result<ServerName<'static>, ActionError> {
    if same_host && let Some(name) = &plan.tls_name {
        return ServerName::try_from(name.clone()).map_err(|_| {
            ActionError::InvalidParams(format!(
                "host_header: {name:?} is not a valid TLS server name"
            ))
        });
    }
    match url.host() {
        Some(Host::Domain(name)) => ServerName::try_from(name.to_owned())
            .map_err(|_| ActionError::Failed(format!("{name:?} is not a valid TLS server name"))),
        Some(Host::Ipv4(ip)) => Ok(ServerName::IpAddress(std::net::IpAddr::V4(ip).into())),
        Some(Host::Ipv6(ip)) => Ok(ServerName::IpAddress(std::net::IpAddr::V6(ip).into())),
        None => Err(ActionError::Failed(format!("{url} has no host"))),
    }
}

fn is_redirect(status: StatusCode) -> bool {
    matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308)
}

/// 303 turns any method but HEAD into GET; 301 and 302 turn POST into GET (what
/// browsers do); 307 and 308 keep the method and body.
fn rewrites_to_get(status: StatusCode, method: &Method) -> bool {
    match status.as_u16() {
        303 => method != Method::HEAD,
        301 | 302 => method == Method::POST,
        _ => false,
    }
}

/// The absolute URL a `Location` points to.
fn resolve_location(base: &Url, location: &HeaderValue) -> Result<Url, ActionError> {
    let text = location.to_str().map_err(|_| {
        ActionError::Failed("redirect with a Location header that is not text".to_owned())
    })?;
    let next = base.join(text.trim()).map_err(|e| {
        ActionError::Failed(format!("redirect to an invalid Location {text:?}: {e}"))
    })?;
    match next.scheme() {
        "http" | "https" => Ok(next),
        other => Err(ActionError::Failed(format!(
            "redirect to {next}: the {other} scheme is not HTTP"
        ))),
    }
}

/// The fields, timings and raw output of the final response.
fn output(
    plan: &Plan,
    hop: &HopResponse,
    url: &Url,
    redirects: usize,
    started: Instant,
) -> ActionOutput {
    let mut out = ActionOutput::default();
    let status = hop.status.as_u16();
    out.field("status_code", status);
    out.field("status_ok", plan.expect_status.contains(&status));
    out.field(
        "response_ms",
        millis(hop.timings.done.duration_since(started)),
    );
    out.field("body_bytes", hop.body.len());
    out.field("body_truncated", hop.body_truncated);
    if let Some(length) =
        header_text(&hop.headers, header::CONTENT_LENGTH).and_then(|v| v.parse::<u64>().ok())
    {
        out.field("content_length", length);
    }
    if let Some(value) = header_text(&hop.headers, header::CONTENT_TYPE) {
        out.field("content_type", value);
    }
    if let Some(value) = header_text(&hop.headers, header::SERVER) {
        out.field("server", value);
    }
    if is_redirect(hop.status)
        && let Some(value) = header_text(&hop.headers, header::LOCATION)
    {
        out.field("location", value);
    }
    out.field("redirects", redirects);
    out.field("final_url", url.as_str());
    out.field("http_version", version_text(hop.version));
    out.field("remote_addr", hop.remote_addr.to_string());
    if let Some(version) = hop.tls_version {
        out.field("tls_version", version);
    }
    if let Some(cert) = &hop.cert {
        out.field("cert_days_left", cert.days_left(SystemTime::now()));
        if let Some(at) = cert.not_after_rfc3339() {
            out.field("cert_not_after", at);
        }
        out.field("cert_subject", cert.subject.as_str());
        out.field("cert_issuer", cert.issuer.as_str());
    }
    if let Some(regex) = &plan.body_regex {
        out.field("body_match", regex.is_match(&hop.body));
    }
    let (raw, cut) = raw_text(&hop.body);
    if cut {
        out.field("output_truncated", true);
    }
    out.raw = raw;

    let t = &hop.timings;
    let since = |at: Instant| at.duration_since(t.start);
    if let Some(at) = t.resolved {
        out.timing("dns_ms", since(at));
    }
    out.timing("connect_ms", since(t.connected));
    if let Some(at) = t.tls_done {
        out.timing("tls_ms", since(at));
    }
    out.timing("first_byte_ms", since(t.first_byte));
    out.timing("total_ms", since(t.done));
    if redirects > 0 {
        out.timing("redirect_ms", t.start.duration_since(started));
    }
    out
}

fn millis(d: std::time::Duration) -> Value {
    Value::from(d.as_secs_f64() * 1000.0)
}

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

fn version_text(version: Version) -> &'static str {
    match version {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2",
        Version::HTTP_3 => "HTTP/3",
        _ => "HTTP/1.1",
    }
}

/// The body as text for parsers: invalid UTF-8 replaced, cut on a character boundary to
/// [`MAX_RAW_OUTPUT_BYTES`]; true when cut.
fn raw_text(body: &[u8]) -> (String, bool) {
    let text = String::from_utf8_lossy(body);
    if text.len() <= MAX_RAW_OUTPUT_BYTES {
        return (text.into_owned(), false);
    }
    let mut end = MAX_RAW_OUTPUT_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    (text[..end].to_owned(), true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credential::Secret;

    #[test]
    fn raw_text_replaces_invalid_utf8_and_cuts_on_a_char_boundary() {
        let (text, cut) = raw_text(b"ok \xff\xfe done");
        assert_eq!(text, "ok \u{fffd}\u{fffd} done");
        assert!(!cut);
        let mut big = vec![b'a'; MAX_RAW_OUTPUT_BYTES - 1];
        big.extend_from_slice("é".as_bytes());
        let (text, cut) = raw_text(&big);
        assert!(cut);
        assert_eq!(text.len(), MAX_RAW_OUTPUT_BYTES - 1);
    }

    #[test]
    fn redirects_rewrite_the_method_as_browsers_do() {
        let s = |code| StatusCode::from_u16(code).unwrap();
        assert!(rewrites_to_get(s(303), &Method::PUT));
        assert!(!rewrites_to_get(s(303), &Method::HEAD));
        assert!(rewrites_to_get(s(302), &Method::POST));
        assert!(!rewrites_to_get(s(302), &Method::DELETE));
        assert!(!rewrites_to_get(s(307), &Method::POST));
        assert!(!rewrites_to_get(s(308), &Method::POST));
    }

    #[test]
    fn locations_resolve_against_the_current_url() {
        let base = Url::parse("http://10.0.0.1:8080/a/b?x=1").unwrap();
        let loc = |s: &'static str| resolve_location(&base, &HeaderValue::from_static(s));
        assert_eq!(loc("/c").unwrap().as_str(), "http://10.0.0.1:8080/c");
        assert_eq!(loc("c").unwrap().as_str(), "http://10.0.0.1:8080/a/c");
        assert_eq!(loc("https://[::1]/").unwrap().as_str(), "https://[::1]/");
        assert_eq!(
            loc("//other.example/x").unwrap().as_str(),
            "http://other.example/x"
        );
        let err = loc("ftp://files.example/").unwrap_err();
        assert!(err.to_string().contains("not HTTP"), "{err}");
    }

    #[test]
    fn authority_brackets_ipv6_and_drops_default_ports() {
        let a = |s: &str| authority(&Url::parse(s).unwrap());
        assert_eq!(a("http://[::1]:8080/"), "[::1]:8080");
        assert_eq!(a("https://example.com:443/"), "example.com");
        assert_eq!(a("http://10.0.0.1:81/"), "10.0.0.1:81");
    }

    #[test]
    fn credentials_become_authorization_headers_and_other_kinds_are_refused() {
        let basic = Credential::HttpBasic {
            user: "alice".into(),
            password: Secret::new("s3cret"),
        };
        let value = authorization(Some(&basic)).unwrap().unwrap();
        assert_eq!(value, "Basic YWxpY2U6czNjcmV0");
        assert!(value.is_sensitive());
        let bearer = Credential::HttpBearer {
            token: Secret::new("tok"),
        };
        assert_eq!(authorization(Some(&bearer)).unwrap().unwrap(), "Bearer tok");
        let ssh = Credential::SshPassword {
            user: "root".into(),
            password: Secret::new("pw"),
        };
        let err = authorization(Some(&ssh)).unwrap_err();
        assert!(matches!(err, ActionError::Credential(_)), "{err:?}");
        let bad = Credential::HttpBearer {
            token: Secret::new("line\nbreak-secret"),
        };
        let err = authorization(Some(&bad)).unwrap_err();
        assert!(!err.to_string().contains("secret"), "{err}");
    }
}
