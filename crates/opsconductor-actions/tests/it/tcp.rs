//! The tcp_port executor against real listeners on 127.0.0.1.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use opsconductor_actions::tcp::TcpAction;
use opsconductor_actions::{Action as _, ActionError, ActionInput, ActionOutput};
use opsconductor_core::targets::Target;
use serde_json::{Map, Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

/// A listener on 127.0.0.1 that hands every connection to `handle`.
async fn serve<F, Fut>(handle: F) -> SocketAddr
where
    F: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(handle(stream));
        }
    });
    addr
}

async fn check_within(
    addr: SocketAddr,
    params: Value,
    budget: Duration,
) -> Result<ActionOutput, ActionError> {
    let target = Target::Ip(addr.ip());
    let mut params: Map<String, Value> = params.as_object().cloned().expect("object");
    params.entry("port").or_insert(json!(addr.port()));
    TcpAction::new()
        .run(ActionInput {
            target: &target,
            params: &params,
            credential: None,
            deadline: Instant::now() + budget,
        })
        .await
}

async fn check(addr: SocketAddr, params: Value) -> Result<ActionOutput, ActionError> {
    check_within(addr, params, Duration::from_secs(10)).await
}

#[tokio::test]
async fn the_banner_is_read_trimmed_with_the_connect_time() {
    let addr = serve(|mut s| async move {
        let _ = s.write_all(b"SSH-2.0-OpenSSH_9.2p1 Debian\r\n").await;
        // Stay connected: the action must not wait for the close.
        tokio::time::sleep(Duration::from_secs(30)).await;
    })
    .await;
    let t0 = Instant::now();
    let out = check(addr, json!({})).await.expect("banner");
    assert!(
        t0.elapsed() < Duration::from_secs(2),
        "took {:?}",
        t0.elapsed()
    );
    assert_eq!(out.fields["banner"], json!("SSH-2.0-OpenSSH_9.2p1 Debian"));
    assert_eq!(out.fields["bytes_read"], json!(30));
    assert!(
        out.fields["connect_ms"]
            .as_f64()
            .is_some_and(|ms| (0.0..1000.0).contains(&ms))
    );
    assert!(
        !out.fields.contains_key("expect_matched"),
        "no expect, no verdict"
    );
    assert_eq!(out.raw, "SSH-2.0-OpenSSH_9.2p1 Debian\r\n");
    assert!(out.timings.contains_key("connect"));
}

#[tokio::test]
async fn a_request_gets_the_answer_it_expects() {
    let addr = serve(|mut s| async move {
        let mut buf = [0_u8; 64];
        let n = s.read(&mut buf).await.unwrap_or(0);
        let answer: &[u8] = if &buf[..n] == b"PING\r\n" {
            b"+PONG\r\n"
        } else {
            b"-ERR\r\n"
        };
        let _ = s.write_all(answer).await;
        tokio::time::sleep(Duration::from_secs(30)).await;
    })
    .await;
    let t0 = Instant::now();
    let out = check(addr, json!({"send": "PING\r\n", "expect": "^\\+PONG"}))
        .await
        .expect("answer");
    assert!(
        t0.elapsed() < Duration::from_secs(1),
        "a match ends the read at once"
    );
    assert_eq!(out.fields["expect_matched"], json!(true));
    assert_eq!(out.fields["banner"], json!("+PONG"));
    assert_eq!(out.fields["bytes_read"], json!(7));
}

#[tokio::test]
async fn an_answer_that_does_not_match_is_output_not_an_error() {
    let closes = serve(|mut s| async move {
        let _ = s.write_all(b"-ERR unknown command\r\n").await;
    })
    .await;
    let out = check(closes, json!({"send": "PING\r\n", "expect": "^\\+PONG"}))
        .await
        .expect("mismatch is output");
    assert_eq!(out.fields["expect_matched"], json!(false));
    assert_eq!(out.fields["banner"], json!("-ERR unknown command"));

    // A peer that answers something else and then says nothing more: the read waits for
    // the rest until the timeout, then reports the mismatch.
    let lingers = serve(|mut s| async move {
        let _ = s.write_all(b"220 smtp ready\r\n").await;
        tokio::time::sleep(Duration::from_secs(30)).await;
    })
    .await;
    let t0 = Instant::now();
    let out = check(lingers, json!({"expect": "^SSH-", "timeout_ms": 300}))
        .await
        .expect("mismatch is output");
    assert!(
        t0.elapsed() >= Duration::from_millis(250),
        "{:?}",
        t0.elapsed()
    );
    assert_eq!(out.fields["expect_matched"], json!(false));
    assert_eq!(out.fields["banner"], json!("220 smtp ready"));
}

#[tokio::test]
async fn an_unknown_host_says_it_does_not_resolve() {
    let target = Target::Host("no-such-host.invalid".into());
    let params: Map<String, Value> = json!({"port": 80}).as_object().cloned().expect("object");
    let err = TcpAction::new()
        .run(ActionInput {
            target: &target,
            params: &params,
            credential: None,
            deadline: Instant::now() + Duration::from_secs(10),
        })
        .await
        .unwrap_err();
    let ActionError::Failed(reason) = err else {
        panic!("expected Failed, got {err:?}");
    };
    assert!(reason.contains("no-such-host.invalid"), "{reason}");
    assert!(reason.contains("resolve"), "{reason}");
}

#[tokio::test]
async fn a_closed_port_is_refused() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let err = check(addr, json!({})).await.expect_err("refused");
    assert_eq!(
        err,
        ActionError::Failed(format!("connection refused by {addr}"))
    );
}

#[tokio::test]
async fn a_silent_peer_times_out_when_an_answer_is_expected() {
    let addr = serve(|s| async move {
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(s);
    })
    .await;
    let t0 = Instant::now();
    let err = check(addr, json!({"expect": "^220 ", "timeout_ms": 300}))
        .await
        .expect_err("nothing comes");
    let elapsed = t0.elapsed();
    assert!(
        elapsed >= Duration::from_millis(290) && elapsed < Duration::from_secs(2),
        "{elapsed:?}"
    );
    assert_eq!(
        err,
        ActionError::Timeout(format!(
            "connected to {addr} but no answer matching the expected pattern came within 300 ms (it sent nothing)"
        ))
    );
}

#[tokio::test]
async fn a_silent_peer_is_an_open_port_with_an_empty_banner() {
    let addr = serve(|s| async move {
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(s);
    })
    .await;
    let out = check(addr, json!({"timeout_ms": 200}))
        .await
        .expect("open port");
    assert_eq!(out.fields["banner"], json!(""));
    assert_eq!(out.fields["bytes_read"], json!(0));

    // read_bytes 0: connect only, no waiting at all.
    let t0 = Instant::now();
    let out = check(addr, json!({"read_bytes": 0, "timeout_ms": 5000}))
        .await
        .expect("open port");
    assert!(
        t0.elapsed() < Duration::from_millis(500),
        "{:?}",
        t0.elapsed()
    );
    assert_eq!(out.fields["bytes_read"], json!(0));
}

#[tokio::test]
async fn the_action_deadline_shortens_the_timeout() {
    let addr = serve(|s| async move {
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(s);
    })
    .await;
    let t0 = Instant::now();
    let err = check_within(
        addr,
        json!({"expect": "x", "timeout_ms": 10_000}),
        Duration::from_millis(400),
    )
    .await
    .expect_err("times out");
    assert!(
        t0.elapsed() < Duration::from_millis(400),
        "done before the runner would cut it"
    );
    // The budget is the deadline less a little grace, not the 10 s asked for.
    let ActionError::Timeout(reason) = &err else {
        panic!("expected a timeout, got {err:?}");
    };
    let ms: u64 = reason
        .split("within ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no budget in {reason:?}"));
    assert!((350..400).contains(&ms), "{reason}");
}

#[tokio::test]
async fn a_fifty_megabyte_answer_is_capped_at_read_bytes() {
    let addr = serve(|mut s| async move {
        let block = vec![b'x'; 1 << 20];
        for _ in 0..50 {
            if s.write_all(&block).await.is_err() {
                return;
            }
        }
    })
    .await;
    let t0 = Instant::now();
    let out = check(addr, json!({"read_bytes": 4096}))
        .await
        .expect("capped");
    assert_eq!(out.fields["bytes_read"], json!(4096));
    assert_eq!(out.fields["banner"].as_str().map(str::len), Some(4096));
    assert_eq!(out.raw.len(), 4096);

    let out = check(addr, json!({})).await.expect("default cap");
    assert_eq!(out.fields["bytes_read"], json!(1024));

    let out = check(addr, json!({"read_bytes": 65_536, "expect": "never"}))
        .await
        .expect("capped");
    assert_eq!(out.fields["bytes_read"], json!(65_536));
    assert_eq!(out.fields["expect_matched"], json!(false));
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
}

#[tokio::test]
async fn bytes_that_are_not_utf8_are_replaced_not_fatal() {
    let addr = serve(|mut s| async move {
        let _ = s
            .write_all(&[0xff, 0xfe, b'h', b'i', b' ', 0xc3, b'\n'])
            .await;
    })
    .await;
    let out = check(addr, json!({"expect": "hi"})).await.expect("lossy");
    assert_eq!(out.fields["banner"], json!("\u{fffd}\u{fffd}hi \u{fffd}"));
    assert_eq!(out.fields["bytes_read"], json!(7));
    assert_eq!(out.fields["expect_matched"], json!(true));
}

#[tokio::test]
async fn bad_params_are_invalid() {
    let addr = serve(|_| async {}).await;
    for (params, needle) in [
        (json!({"expect": "("}), "expect is not a valid regex"),
        (
            json!({"read_bytes": 65_537}),
            "read_bytes must be at most 65536",
        ),
        (json!({"timeout_ms": 0}), "timeout_ms"),
        (json!({"port": 70_000}), "invalid value"),
    ] {
        let err = check(addr, params.clone()).await.expect_err("invalid");
        assert!(
            matches!(&err, ActionError::InvalidParams(m) if m.contains(needle)),
            "{params}: {err:?}"
        );
    }
    let target = Target::Ip(addr.ip());
    let params = Map::new();
    let err = TcpAction::new()
        .run(ActionInput {
            target: &target,
            params: &params,
            credential: None,
            deadline: Instant::now() + Duration::from_secs(1),
        })
        .await
        .expect_err("port is required");
    assert!(
        matches!(&err, ActionError::InvalidParams(m) if m.contains("missing field `port`")),
        "{err:?}"
    );
}
