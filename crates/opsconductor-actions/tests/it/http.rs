//! The `http_get` executor against real HTTP and HTTPS servers started by each test on
//! loopback (axum; TLS with rcgen certificates whose expiry the tests choose).

use std::sync::Arc;
use std::time::Duration;

use opsconductor_actions::action::MAX_RAW_OUTPUT_BYTES;
use opsconductor_actions::credential::{Credential, Secret};
use opsconductor_actions::http::HttpAction;
use opsconductor_actions::{
    Action as _, ActionError, ActionInput, ActionOutput, PreparedAction, Registry, dry_run,
};
use opsconductor_core::criteria::CriteriaSpec;
use opsconductor_core::library::ActionKind;
use opsconductor_core::model::ResultStatus;
use opsconductor_core::parse::ParserDef;
use opsconductor_core::targets::Target;
use serde_json::{Map, Value, json};
use tokio::time::Instant;

use self::server::{TestServer, TlsCert};

/// Runs one check with a generous deadline.
async fn check(target: &str, params: Value) -> Result<ActionOutput, ActionError> {
    check_with(&HttpAction::new(), target, params, None).await
}

async fn check_with(
    action: &HttpAction,
    target: &str,
    params: Value,
    credential: Option<&Credential>,
) -> Result<ActionOutput, ActionError> {
    let target: Target = target.parse().expect("target");
    let Value::Object(params) = params else {
        panic!("params must be an object");
    };
    let input = ActionInput {
        target: &target,
        params: &params,
        credential,
        deadline: Instant::now() + Duration::from_secs(30),
    };
    action.run(input).await
}

fn field<'a>(out: &'a ActionOutput, name: &str) -> &'a Value {
    out.fields
        .get(name)
        .unwrap_or_else(|| panic!("field {name} missing from {:?}", out.fields))
}

fn timing(out: &ActionOutput, name: &str) -> f64 {
    out.timings
        .get(name)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("timing {name} missing from {:?}", out.timings))
}

fn failed(result: Result<ActionOutput, ActionError>) -> String {
    match result {
        Err(ActionError::Failed(reason)) => reason,
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[tokio::test]
async fn get_reports_status_body_and_response_headers() {
    let server = TestServer::http().await;
    let out = check("127.0.0.1", json!({"port": server.port()}))
        .await
        .unwrap();
    assert_eq!(field(&out, "status_code"), 200);
    assert_eq!(field(&out, "status_ok"), true);
    assert_eq!(out.raw, "hello from the test server");
    assert_eq!(field(&out, "body_bytes"), out.raw.len());
    assert_eq!(field(&out, "body_truncated"), false);
    assert_eq!(field(&out, "content_type"), "text/plain; charset=utf-8");
    assert_eq!(field(&out, "server"), "oc-test/1");
    assert_eq!(field(&out, "redirects"), 0);
    assert_eq!(field(&out, "http_version"), "HTTP/1.1");
    assert_eq!(
        field(&out, "final_url"),
        format!("http://127.0.0.1:{}/", server.port()).as_str()
    );
    assert_eq!(field(&out, "remote_addr"), server.addr.to_string().as_str());
    assert!(!out.fields.contains_key("cert_days_left"));
    assert!(!out.fields.contains_key("body_match"));
}

#[tokio::test]
async fn json_bodies_reach_the_parsers_whole_in_raw() {
    let server = TestServer::http().await;
    let out = check("127.0.0.1", json!({"port": server.port(), "path": "/json"}))
        .await
        .unwrap();
    assert_eq!(field(&out, "content_type"), "application/json");
    let body: Value = serde_json::from_str(&out.raw).unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["checks"]["db"], "up");
}

#[tokio::test]
async fn a_status_outside_expect_status_is_reported_not_ok() {
    let server = TestServer::http().await;
    let out = check(
        "127.0.0.1",
        json!({"port": server.port(), "path": "/status/503"}),
    )
    .await
    .unwrap();
    assert_eq!(field(&out, "status_code"), 503);
    assert_eq!(field(&out, "status_ok"), false);

    let out = check(
        "127.0.0.1",
        json!({"port": server.port(), "path": "/status/503", "expect_status": [200, 503]}),
    )
    .await
    .unwrap();
    assert_eq!(field(&out, "status_ok"), true);
}

#[tokio::test]
async fn head_returns_the_headers_without_a_body() {
    let server = TestServer::http().await;
    let out = check(
        "127.0.0.1",
        json!({"port": server.port(), "method": "HEAD"}),
    )
    .await
    .unwrap();
    assert_eq!(field(&out, "status_code"), 200);
    assert_eq!(field(&out, "body_bytes"), 0);
    assert_eq!(
        field(&out, "content_length"),
        "hello from the test server".len()
    );
    assert!(out.raw.is_empty());
}

#[tokio::test]
async fn post_sends_the_body_and_the_extra_headers() {
    let server = TestServer::http().await;
    let out = check(
        "127.0.0.1",
        json!({
            "port": server.port(),
            "path": "/echo?probe=1",
            "method": "POST",
            "headers": {"X-Check": "opsconductor", "Content-Type": "application/json"},
            "body": "{\"ping\":true}",
        }),
    )
    .await
    .unwrap();
    let echo: Value = serde_json::from_str(&out.raw).unwrap();
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["uri"], "/echo?probe=1");
    assert_eq!(echo["body"], "{\"ping\":true}");
    assert_eq!(echo["headers"]["x-check"], "opsconductor");
    assert_eq!(echo["headers"]["content-type"], "application/json");
    assert_eq!(echo["headers"]["content-length"], "13");
    assert_eq!(
        echo["headers"]["host"],
        format!("127.0.0.1:{}", server.port())
    );
    assert!(
        echo["headers"]["user-agent"]
            .as_str()
            .unwrap()
            .starts_with("OpsConductor/")
    );
}

#[tokio::test]
async fn host_header_replaces_the_target_in_the_host_header() {
    let server = TestServer::http().await;
    let out = check(
        "127.0.0.1",
        json!({"port": server.port(), "path": "/echo", "host_header": "www.example.com"}),
    )
    .await
    .unwrap();
    let echo: Value = serde_json::from_str(&out.raw).unwrap();
    assert_eq!(echo["headers"]["host"], "www.example.com");
}

#[tokio::test]
async fn basic_credentials_reach_the_server() {
    let server = TestServer::http().await;
    let credential = Credential::HttpBasic {
        user: "monitor".into(),
        password: Secret::new("s3cret"),
    };
    let out = check_with(
        &HttpAction::new(),
        "127.0.0.1",
        json!({"port": server.port(), "path": "/echo"}),
        Some(&credential),
    )
    .await
    .unwrap();
    let echo: Value = serde_json::from_str(&out.raw).unwrap();
    // base64("monitor:s3cret")
    assert_eq!(
        echo["headers"]["authorization"],
        "Basic bW9uaXRvcjpzM2NyZXQ="
    );
}

#[tokio::test]
async fn bearer_tokens_reach_the_server() {
    let server = TestServer::http().await;
    let credential = Credential::HttpBearer {
        token: Secret::new("tok-123"),
    };
    let out = check_with(
        &HttpAction::new(),
        "127.0.0.1",
        json!({"port": server.port(), "path": "/echo"}),
        Some(&credential),
    )
    .await
    .unwrap();
    let echo: Value = serde_json::from_str(&out.raw).unwrap();
    assert_eq!(echo["headers"]["authorization"], "Bearer tok-123");
}

#[tokio::test]
async fn credentials_are_not_sent_on_to_another_server_after_a_redirect() {
    let other = TestServer::http().await;
    let server = TestServer::http().await;
    let credential = Credential::HttpBearer {
        token: Secret::new("tok-123"),
    };
    let to = format!("http://127.0.0.1:{}/echo", other.port());
    let out = check_with(
        &HttpAction::new(),
        "127.0.0.1",
        json!({"port": server.port(), "path": format!("/redirect-to?url={to}")}),
        Some(&credential),
    )
    .await
    .unwrap();
    assert_eq!(field(&out, "redirects"), 1);
    assert_eq!(field(&out, "final_url"), to.as_str());
    let echo: Value = serde_json::from_str(&out.raw).unwrap();
    assert!(echo["headers"].get("authorization").is_none(), "{echo}");
}

#[tokio::test]
async fn redirects_are_followed_and_counted() {
    let server = TestServer::http().await;
    let out = check(
        "127.0.0.1",
        json!({"port": server.port(), "path": "/redirect/3"}),
    )
    .await
    .unwrap();
    assert_eq!(field(&out, "status_code"), 200);
    assert_eq!(field(&out, "redirects"), 3);
    assert_eq!(out.raw, "landed");
    assert_eq!(
        field(&out, "final_url"),
        format!("http://127.0.0.1:{}/redirect/0", server.port()).as_str()
    );
    assert!(timing(&out, "redirect_ms") > 0.0);
}

#[tokio::test]
async fn redirects_are_reported_not_followed_when_follow_redirects_is_off() {
    let server = TestServer::http().await;
    let out = check(
        "127.0.0.1",
        json!({"port": server.port(), "path": "/redirect/3", "follow_redirects": false}),
    )
    .await
    .unwrap();
    assert_eq!(field(&out, "status_code"), 302);
    assert_eq!(field(&out, "status_ok"), false);
    assert_eq!(field(&out, "redirects"), 0);
    assert_eq!(field(&out, "location"), "/redirect/2");
}

#[tokio::test]
async fn a_redirect_loop_stops_at_max_redirects_and_says_so() {
    let server = TestServer::http().await;
    let reason = failed(
        check(
            "127.0.0.1",
            json!({"port": server.port(), "path": "/loop", "max_redirects": 4}),
        )
        .await,
    );
    assert!(
        reason.starts_with("too many redirects: stopped after 4 (max_redirects = 4)"),
        "{reason}"
    );
    assert!(reason.contains("redirect loop"), "{reason}");
}

#[tokio::test]
async fn a_post_answered_with_303_is_followed_with_a_get() {
    let server = TestServer::http().await;
    let out = check(
        "127.0.0.1",
        json!({"port": server.port(), "path": "/see-other", "method": "POST", "body": "x=1"}),
    )
    .await
    .unwrap();
    let echo: Value = serde_json::from_str(&out.raw).unwrap();
    assert_eq!(echo["method"], "GET");
    assert_eq!(echo["body"], "");
}

#[tokio::test]
async fn https_without_verification_reports_the_certificate_expiry() {
    let cert = TlsCert::self_signed(30);
    let server = TestServer::https(&cert).await;
    let out = check(
        "127.0.0.1",
        json!({"scheme": "https", "port": server.port(), "verify_tls": false}),
    )
    .await
    .unwrap();
    assert_eq!(field(&out, "status_code"), 200);
    let days = field(&out, "cert_days_left").as_f64().unwrap();
    assert!((29.99..=30.0).contains(&days), "cert_days_left = {days}");
    assert!(
        field(&out, "cert_subject")
            .as_str()
            .unwrap()
            .contains("oc-test")
    );
    assert!(
        field(&out, "cert_not_after")
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    assert_eq!(field(&out, "tls_version"), "TLSv1_3");
    assert!(timing(&out, "connect_ms") <= timing(&out, "tls_ms"));
    assert!(timing(&out, "tls_ms") <= timing(&out, "first_byte_ms"));
}

#[tokio::test]
async fn https_with_verification_refuses_a_self_signed_certificate() {
    let cert = TlsCert::self_signed(30);
    let server = TestServer::https(&cert).await;
    let reason = failed(
        check(
            "127.0.0.1",
            json!({"scheme": "https", "port": server.port()}),
        )
        .await,
    );
    assert!(
        reason.starts_with("TLS certificate not trusted: "),
        "{reason}"
    );
    assert!(reason.contains("self-signed"), "{reason}");
}

#[tokio::test]
async fn https_with_verification_accepts_a_certificate_from_a_trusted_ca() {
    let cert = TlsCert::ca_signed(90);
    let server = TestServer::https(&cert).await;
    let action = HttpAction::with_roots(cert.roots());
    // By name (resolved, SNI) and by address (IP subjectAltName).
    for target in ["localhost", "127.0.0.1"] {
        let out = check_with(
            &action,
            target,
            json!({"scheme": "https", "port": server.port(), "path": "/json"}),
            None,
        )
        .await
        .unwrap_or_else(|e| panic!("{target}: {e}"));
        assert_eq!(field(&out, "status_code"), 200);
        let days = field(&out, "cert_days_left").as_f64().unwrap();
        assert!((89.99..=90.0).contains(&days), "cert_days_left = {days}");
        assert!(
            field(&out, "cert_issuer")
                .as_str()
                .unwrap()
                .contains("oc-test CA")
        );
        assert_eq!(out.timings.contains_key("dns_ms"), target == "localhost");
    }
}

#[tokio::test]
async fn a_certificate_for_another_name_is_refused_with_the_names() {
    let cert = TlsCert::ca_signed(90);
    let server = TestServer::https(&cert).await;
    let action = HttpAction::with_roots(cert.roots());
    let reason = failed(
        check_with(
            &action,
            "127.0.0.1",
            json!({"scheme": "https", "port": server.port(), "host_header": "www.example.com"}),
            None,
        )
        .await,
    );
    assert_eq!(
        reason,
        "TLS certificate not trusted: it is not valid for www.example.com \
         (it is for localhost, 127.0.0.1)"
    );
}

#[tokio::test]
async fn an_expired_certificate_is_refused_or_reported_with_negative_days() {
    let cert = TlsCert::ca_signed(-3);
    let server = TestServer::https(&cert).await;
    let action = HttpAction::with_roots(cert.roots());
    let params = json!({"scheme": "https", "port": server.port()});
    let reason = failed(check_with(&action, "127.0.0.1", params.clone(), None).await);
    assert!(
        reason.starts_with("TLS certificate not trusted: it expired 3.0 days ago"),
        "{reason}"
    );

    let mut unverified = params;
    unverified["verify_tls"] = json!(false);
    let out = check_with(&action, "127.0.0.1", unverified, None)
        .await
        .unwrap();
    let days = field(&out, "cert_days_left").as_f64().unwrap();
    assert!((-3.01..=-2.99).contains(&days), "cert_days_left = {days}");
}

#[tokio::test]
async fn https_against_a_plain_http_port_says_the_server_is_not_tls() {
    let server = TestServer::http().await;
    let reason = failed(
        check(
            "127.0.0.1",
            json!({"scheme": "https", "port": server.port(), "verify_tls": false}),
        )
        .await,
    );
    assert!(
        reason.starts_with("TLS handshake with 127.0.0.1:"),
        "{reason}"
    );
    assert!(reason.contains("did not answer with TLS"), "{reason}");
}

#[tokio::test]
async fn body_regex_sets_body_match() {
    let server = TestServer::http().await;
    for (pattern, expected) in [(r#""db":\s*"up""#, true), (r#""db":\s*"down""#, false)] {
        let out = check(
            "127.0.0.1",
            json!({"port": server.port(), "path": "/json", "body_regex": pattern}),
        )
        .await
        .unwrap();
        assert_eq!(field(&out, "body_match"), expected, "{pattern}");
    }
}

#[tokio::test]
async fn a_50_mb_body_is_read_only_up_to_max_body_bytes() {
    let server = TestServer::http().await;
    let started = std::time::Instant::now();
    let out = check("127.0.0.1", json!({"port": server.port(), "path": "/big"}))
        .await
        .unwrap();
    let elapsed = started.elapsed();
    assert_eq!(field(&out, "body_bytes"), 1024 * 1024);
    assert_eq!(field(&out, "body_truncated"), true);
    assert_eq!(out.raw.len(), MAX_RAW_OUTPUT_BYTES);
    assert!(elapsed < Duration::from_secs(2), "took {elapsed:?}");

    let out = check(
        "127.0.0.1",
        json!({"port": server.port(), "path": "/big", "max_body_bytes": 1000, "body_regex": "^a+$"}),
    )
    .await
    .unwrap();
    assert_eq!(field(&out, "body_bytes"), 1000);
    assert_eq!(field(&out, "body_truncated"), true);
    assert_eq!(field(&out, "body_match"), true);
}

#[tokio::test]
async fn a_body_of_exactly_max_body_bytes_is_not_truncated() {
    let server = TestServer::http().await;
    let out = check(
        "127.0.0.1",
        json!({"port": server.port(), "max_body_bytes": "hello from the test server".len()}),
    )
    .await
    .unwrap();
    assert_eq!(field(&out, "body_truncated"), false);
}

#[tokio::test]
async fn a_body_that_is_not_utf8_is_decoded_lossily_in_raw() {
    let server = TestServer::http().await;
    let out = check(
        "127.0.0.1",
        json!({"port": server.port(), "path": "/binary"}),
    )
    .await
    .unwrap();
    assert_eq!(field(&out, "body_bytes"), 8);
    assert_eq!(out.raw, "\u{fffd}\u{fffd} ok \u{fffd}(");
}

#[tokio::test]
async fn a_refused_connection_fails_with_the_address() {
    let port = server::unused_port().await;
    let reason = failed(check("127.0.0.1", json!({"port": port})).await);
    assert_eq!(
        reason,
        format!("connection refused by 127.0.0.1:{port} (nothing listening?)")
    );
}

#[tokio::test]
async fn a_slow_server_times_out_with_the_budget_in_the_reason() {
    let server = TestServer::http().await;
    let started = std::time::Instant::now();
    let result = check(
        "127.0.0.1",
        json!({"port": server.port(), "path": "/slow", "timeout_ms": 300}),
    )
    .await;
    let elapsed = started.elapsed();
    let Err(ActionError::Timeout(reason)) = result else {
        panic!("expected a timeout, got {result:?}");
    };
    assert!(
        reason.starts_with("no HTTP response within 300 ms"),
        "{reason}"
    );
    assert!(reason.contains("sent no response"), "{reason}");
    assert!(elapsed < Duration::from_secs(2), "took {elapsed:?}");
}

#[tokio::test]
async fn the_action_deadline_caps_timeout_ms() {
    let server = TestServer::http().await;
    let target: Target = "127.0.0.1".parse().unwrap();
    let params: Map<String, Value> = serde_json::from_value(
        json!({"port": server.port(), "path": "/slow", "timeout_ms": 60_000}),
    )
    .unwrap();
    let input = ActionInput {
        target: &target,
        params: &params,
        credential: None,
        deadline: Instant::now() + Duration::from_millis(200),
    };
    let result = HttpAction::new().run(input).await;
    assert!(matches!(result, Err(ActionError::Timeout(_))), "{result:?}");
}

#[tokio::test]
async fn an_unknown_host_fails_to_resolve() {
    let reason = failed(check("no-such-host.invalid", json!({})).await);
    assert!(
        reason.starts_with("cannot resolve host no-such-host.invalid"),
        "{reason}"
    );
}

#[tokio::test]
async fn ipv6_loopback_targets_are_reached_in_brackets() {
    let server = TestServer::http_on("[::1]:0").await;
    let out = check("::1", json!({"port": server.port(), "path": "/echo"}))
        .await
        .unwrap();
    assert_eq!(
        field(&out, "final_url"),
        format!("http://[::1]:{}/echo", server.port()).as_str()
    );
    let echo: Value = serde_json::from_str(&out.raw).unwrap();
    assert_eq!(echo["headers"]["host"], format!("[::1]:{}", server.port()));
}

#[tokio::test]
async fn timings_are_present_and_ordered() {
    let server = TestServer::http().await;
    let out = check("localhost", json!({"port": server.port(), "path": "/json"}))
        .await
        .unwrap();
    let (dns, connect, first, total) = (
        timing(&out, "dns_ms"),
        timing(&out, "connect_ms"),
        timing(&out, "first_byte_ms"),
        timing(&out, "total_ms"),
    );
    assert!(
        0.0 < dns && dns <= connect && connect <= first && first <= total,
        "{:?}",
        out.timings
    );
    assert!(!out.timings.contains_key("tls_ms"));
    let response = field(&out, "response_ms").as_f64().unwrap();
    assert!(total <= response, "{total} > {response}");
}

#[tokio::test]
async fn a_wrong_credential_kind_is_refused() {
    let credential = Credential::SnmpCommunity {
        community: Secret::new("public"),
    };
    let result = check_with(
        &HttpAction::new(),
        "127.0.0.1",
        json!({"port": 9}),
        Some(&credential),
    )
    .await;
    assert!(
        matches!(result, Err(ActionError::Credential(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn bad_params_are_refused_before_any_traffic() {
    let result = check(
        "127.0.0.1",
        json!({"port": 9, "body_regex": "(", "timeout_ms": 100}),
    )
    .await;
    let Err(ActionError::InvalidParams(reason)) = result else {
        panic!("expected invalid params, got {result:?}");
    };
    assert!(reason.starts_with("body_regex: "), "{reason}");
}

#[tokio::test]
async fn the_runner_applies_a_jsonpath_parser_and_criteria_to_the_body() {
    let server = TestServer::http().await;
    let parser: ParserDef = serde_json::from_value(json!({
        "id": "http.json_health",
        "name": "JSON health",
        "extract": {"type": "jsonpath", "paths": {"status": "$.status", "db": "$.checks.db"}},
    }))
    .unwrap();
    let criteria = CriteriaSpec {
        ok: Some(r#"status_ok && status == "ok" && db == "up""#.to_owned()),
        warn: None,
    };
    let action = PreparedAction {
        index: 0,
        kind: ActionKind::HttpGet,
        params: serde_json::from_value(json!({"port": server.port(), "path": "/json"})).unwrap(),
        parsers: vec![(parser.id.clone(), parser.compile().unwrap())],
        criteria: criteria.compile().unwrap(),
        timeout: Duration::from_secs(5),
        credential: None,
    };
    let registry = Registry::empty().with(Arc::new(HttpAction::new()));
    let target: Target = "127.0.0.1".parse().unwrap();
    let run = dry_run(&registry, &target, &action, Duration::from_secs(5)).await;
    assert_eq!(
        run.result.status,
        ResultStatus::Ok,
        "{:?}",
        run.result.reason
    );
    assert_eq!(run.result.fields["status"], "ok");
    assert_eq!(run.result.fields["db"], "up");
    assert_eq!(run.result.fields["status_code"], 200);
    assert!(run.result.timings.contains_key("first_byte_ms"));
}

/// Test servers: the same axum app over plain TCP or rustls, on an ephemeral port.
mod server {
    use std::convert::Infallible;
    use std::io;
    use std::net::SocketAddr;
    use std::sync::Arc;
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use axum::Router;
    use axum::body::{Body, Bytes};
    use axum::extract::{Path, Query, Request};
    use axum::http::{StatusCode, header};
    use axum::response::{IntoResponse, Redirect, Response};
    use axum::routing::{any, get};
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
    use rustls::RootCertStore;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    use serde_json::{Map, Value, json};
    use tokio::net::{TcpListener, TcpStream};
    use tokio::sync::mpsc;
    use tokio::task::JoinHandle;
    use tokio_rustls::TlsAcceptor;
    use tokio_rustls::server::TlsStream;

    /// Size of the `/big` body.
    pub const BIG_BODY_BYTES: usize = 50 * 1024 * 1024;

    /// A running server; stops when dropped.
    pub struct TestServer {
        pub addr: SocketAddr,
        task: JoinHandle<()>,
    }

    impl Drop for TestServer {
        fn drop(&mut self) {
            self.task.abort();
        }
    }

    impl TestServer {
        /// Plain HTTP on 127.0.0.1.
        pub async fn http() -> Self {
            Self::http_on("127.0.0.1:0").await
        }

        /// Plain HTTP on `bind`.
        pub async fn http_on(bind: &str) -> Self {
            let listener = TcpListener::bind(bind).await.expect("bind");
            let addr = listener.local_addr().expect("test server setup");
            let task = tokio::spawn(async move {
                axum::serve(listener, app())
                    .await
                    .expect("test server setup");
            });
            Self { addr, task }
        }

        /// HTTPS on 127.0.0.1 with `cert`.
        pub async fn https(cert: &TlsCert) -> Self {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let addr = listener.local_addr().expect("test server setup");
            let tls = TlsListener::start(listener, cert.acceptor());
            let task = tokio::spawn(async move {
                axum::serve(tls, app()).await.expect("test server setup");
            });
            Self { addr, task }
        }

        pub fn port(&self) -> u16 {
            self.addr.port()
        }
    }

    /// A port nothing listens on (bound, then released).
    pub async fn unused_port() -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("test server setup");
        listener.local_addr().expect("test server setup").port()
    }

    fn app() -> Router {
        Router::new()
            .route("/", get(hello))
            .route("/json", get(health))
            .route("/status/{code}", get(status))
            .route("/echo", any(echo))
            .route("/redirect/{n}", get(redirect_chain))
            .route("/redirect-to", get(redirect_to))
            .route("/loop", get(|| async { found("/loop") }))
            .route("/see-other", any(|| async { Redirect::to("/echo") }))
            .route("/big", get(big))
            .route("/binary", get(|| async { &b"\xff\xfe ok \xc3\x28"[..] }))
            .route("/slow", get(slow))
    }

    async fn hello() -> impl IntoResponse {
        (
            [(header::SERVER, "oc-test/1")],
            "hello from the test server",
        )
    }

    async fn health() -> impl IntoResponse {
        axum::Json(json!({"status": "ok", "checks": {"db": "up", "queue": "up"}}))
    }

    async fn status(Path(code): Path<u16>) -> Response {
        let code = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST);
        (code, format!("status {code}")).into_response()
    }

    async fn echo(request: Request) -> axum::Json<Value> {
        let (parts, body) = request.into_parts();
        let body = axum::body::to_bytes(body, 1 << 20)
            .await
            .unwrap_or_default();
        let headers: Map<String, Value> = parts
            .headers
            .iter()
            .map(|(k, v)| (k.to_string(), Value::from(v.to_str().unwrap_or("?"))))
            .collect();
        axum::Json(json!({
            "method": parts.method.as_str(),
            "uri": parts.uri.to_string(),
            "headers": headers,
            "body": String::from_utf8_lossy(&body),
        }))
    }

    async fn redirect_chain(Path(n): Path<u32>) -> Response {
        if n == 0 {
            "landed".into_response()
        } else {
            found(&format!("/redirect/{}", n - 1))
        }
    }

    async fn redirect_to(Query(q): Query<std::collections::HashMap<String, String>>) -> Response {
        found(&q["url"])
    }

    /// 302 Found (axum's `Redirect::to` is a 303).
    fn found(location: &str) -> Response {
        (StatusCode::FOUND, [(header::LOCATION, location.to_owned())]).into_response()
    }

    /// 50 MB of `a`, generated as it is sent.
    async fn big() -> Body {
        const CHUNK: usize = 64 * 1024;
        let chunk = Bytes::from(vec![b'a'; CHUNK]);
        let chunks = BIG_BODY_BYTES / CHUNK;
        let stream =
            futures::stream::iter((0..chunks).map(move |_| Ok::<_, Infallible>(chunk.clone())));
        Body::from_stream(stream)
    }

    async fn slow() -> &'static str {
        tokio::time::sleep(Duration::from_secs(10)).await;
        "too late"
    }

    /// A server certificate for 127.0.0.1 and localhost, and what trusts it.
    pub struct TlsCert {
        chain: Vec<CertificateDer<'static>>,
        key: Vec<u8>,
        ca: Option<CertificateDer<'static>>,
    }

    impl TlsCert {
        /// Self-signed, expiring `days` days from now.
        pub fn self_signed(days: i64) -> Self {
            let key = KeyPair::generate().expect("test server setup");
            let cert = leaf_params(days)
                .self_signed(&key)
                .expect("test server setup");
            Self {
                chain: vec![cert.der().clone()],
                key: key.serialize_der(),
                ca: None,
            }
        }

        /// Issued by a fresh CA (see [`Self::roots`]), expiring `days` days from now
        /// (negative: already expired).
        pub fn ca_signed(days: i64) -> Self {
            let mut ca_params =
                CertificateParams::new(Vec::<String>::new()).expect("test server setup");
            ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            ca_params
                .distinguished_name
                .push(DnType::CommonName, "oc-test CA");
            let ca = CertifiedIssuer::self_signed(
                ca_params,
                KeyPair::generate().expect("test server setup"),
            )
            .expect("test server setup");
            let key = KeyPair::generate().expect("test server setup");
            let cert = leaf_params(days)
                .signed_by(&key, &ca)
                .expect("test server setup");
            Self {
                chain: vec![cert.der().clone()],
                key: key.serialize_der(),
                ca: Some(ca.der().clone()),
            }
        }

        /// A store holding the issuing CA (empty for self-signed certificates).
        pub fn roots(&self) -> RootCertStore {
            let mut roots = RootCertStore::empty();
            roots.add_parsable_certificates(self.ca.clone());
            roots
        }

        fn acceptor(&self) -> TlsAcceptor {
            let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
            let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key.clone()));
            let mut config = rustls::ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("test server setup")
                .with_no_client_auth()
                .with_single_cert(self.chain.clone(), key)
                .expect("test server setup");
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            TlsAcceptor::from(Arc::new(config))
        }
    }

    fn leaf_params(days: i64) -> CertificateParams {
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .expect("test server setup");
        params
            .distinguished_name
            .push(DnType::CommonName, "oc-test server");
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("test server setup")
            .as_secs();
        let epoch = rcgen::date_time_ymd(1970, 1, 1);
        let at = |secs: u64| epoch + Duration::from_secs(secs);
        params.not_before = at(now - 10 * 86_400);
        params.not_after = at(now
            .checked_add_signed(days * 86_400)
            .expect("test server setup"));
        params
    }

    /// Accepts TCP, completes TLS handshakes concurrently, hands finished streams to axum;
    /// failed handshakes (a client that refused the certificate) are dropped.
    struct TlsListener {
        streams: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
        local: SocketAddr,
    }

    impl TlsListener {
        fn start(listener: TcpListener, acceptor: TlsAcceptor) -> Self {
            let local = listener.local_addr().expect("test server setup");
            let (tx, streams) = mpsc::channel(64);
            tokio::spawn(async move {
                while let Ok((tcp, peer)) = listener.accept().await {
                    let (acceptor, tx) = (acceptor.clone(), tx.clone());
                    tokio::spawn(async move {
                        if let Ok(tls) = acceptor.accept(tcp).await {
                            let _ = tx.send((tls, peer)).await;
                        }
                    });
                }
            });
            Self { streams, local }
        }
    }

    impl axum::serve::Listener for TlsListener {
        type Io = TlsStream<TcpStream>;
        type Addr = SocketAddr;

        async fn accept(&mut self) -> (Self::Io, Self::Addr) {
            match self.streams.recv().await {
                Some(accepted) => accepted,
                None => std::future::pending().await,
            }
        }

        fn local_addr(&self) -> io::Result<Self::Addr> {
            Ok(self.local)
        }
    }
}
