//! The ssh executors against the real test sshd (`scripts/test-servers.sh start`) and
//! against small misbehaving listeners started here.

use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use opsconductor_actions::credential::{Credential, Secret};
use opsconductor_actions::hostkey::{HostKey, MemoryTofu};
use opsconductor_actions::ssh::{SshCommandAction, SshPortAction};
use opsconductor_actions::{
    Action, ActionError, ActionInput, ActionOutput, Chunk, PreparedAction, Registry, RunnerConfig,
    run_chunk,
};
use opsconductor_core::criteria::CriteriaSpec;
use opsconductor_core::ids::RunId;
use opsconductor_core::library::ActionKind;
use opsconductor_core::model::ResultStatus;
use opsconductor_core::targets::Target;
use serde_json::{Map, Value, json};
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpListener;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::support::setting;

fn sshd() -> SocketAddr {
    setting("OC_TEST_SSH_ADDR")
        .parse()
        .expect("OC_TEST_SSH_ADDR is ip:port")
}

fn sshd6() -> SocketAddr {
    setting("OC_TEST_SSH_ADDR6")
        .parse()
        .expect("OC_TEST_SSH_ADDR6 is [ip]:port")
}

fn password() -> Credential {
    Credential::SshPassword {
        user: setting("OC_TEST_SSH_USER"),
        password: Secret::new(setting("OC_TEST_SSH_PASSWORD")),
    }
}

fn private_key() -> Credential {
    let path = setting("OC_TEST_SSH_KEY");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    Credential::SshKey {
        user: setting("OC_TEST_SSH_USER"),
        private_key: Secret::new(text),
        passphrase: None,
    }
}

fn params(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("params must be an object, got {other}"),
    }
}

/// Runs one action the way the runner would, with a generous outer deadline.
async fn run(
    action: &dyn Action,
    addr: SocketAddr,
    params_json: Value,
    credential: Option<&Credential>,
) -> Result<ActionOutput, ActionError> {
    let target = Target::Ip(addr.ip());
    let mut params = params(params_json);
    params.insert("port".into(), addr.port().into());
    let input = ActionInput {
        target: &target,
        params: &params,
        credential,
        deadline: Instant::now() + Duration::from_secs(120),
    };
    action.run(input).await
}

fn command_action() -> (SshCommandAction, Arc<MemoryTofu>) {
    let tofu = Arc::new(MemoryTofu::default());
    (SshCommandAction::new(tofu.clone()), tofu)
}

fn field<'a>(out: &'a ActionOutput, name: &str) -> &'a Value {
    out.fields
        .get(name)
        .unwrap_or_else(|| panic!("no field {name} in {:?}", out.fields))
}

/// A listener on loopback that writes `reply` to each connection and keeps it open.
async fn listener_replying(reply: &'static [u8]) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback listener");
    let addr = listener.local_addr().expect("listener address");
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = socket.write_all(reply).await;
                tokio::time::sleep(Duration::from_secs(30)).await;
            });
        }
    });
    addr
}

/// Peak resident memory of this process (`VmHWM`), in KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status")
}

// --- ssh_port

#[tokio::test]
async fn port_check_reads_the_openssh_banner() {
    let out = run(&SshPortAction::new(), sshd(), json!({}), None)
        .await
        .unwrap();
    let banner = field(&out, "banner").as_str().unwrap();
    assert!(banner.starts_with("SSH-2.0-OpenSSH_"), "{banner}");
    assert_eq!(out.raw, banner);
    assert_eq!(field(&out, "protocol_version"), "2.0");
    assert!(
        field(&out, "software")
            .as_str()
            .unwrap()
            .starts_with("OpenSSH_")
    );
    assert!(field(&out, "connect_ms").as_f64().unwrap() >= 0.0);
}

#[tokio::test]
async fn port_check_works_over_ipv6() {
    let out = run(&SshPortAction::new(), sshd6(), json!({}), None)
        .await
        .unwrap();
    assert!(out.raw.starts_with("SSH-2.0-"), "{}", out.raw);
}

#[tokio::test]
async fn port_check_against_an_http_server_says_it_is_not_ssh() {
    let addr = listener_replying(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n").await;
    let started = Instant::now();
    let err = run(
        &SshPortAction::new(),
        addr,
        json!({"timeout_ms": 3000}),
        None,
    )
    .await
    .unwrap_err();
    assert_eq!(
        err,
        ActionError::Failed("not an SSH server: first line \"HTTP/1.1 400 Bad Request\"".into())
    );
    // Recognised at once, not after the timeout.
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn port_check_against_a_listener_sending_garbage_says_it_is_not_ssh() {
    let addr = listener_replying(b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\n").await;
    let err = run(&SshPortAction::new(), addr, json!({}), None)
        .await
        .unwrap_err();
    let ActionError::Failed(reason) = err else {
        panic!("{err:?}")
    };
    assert!(
        reason.starts_with("not an SSH server: first line \"\\u{16}"),
        "{reason}"
    );
}

#[tokio::test]
async fn port_check_accepts_text_lines_before_the_identification() {
    let addr = listener_replying(b"Authorised users only\r\nSSH-2.0-dropbear_2022.83\r\n").await;
    let out = run(&SshPortAction::new(), addr, json!({}), None)
        .await
        .unwrap();
    assert_eq!(out.raw, "SSH-2.0-dropbear_2022.83");
    assert_eq!(field(&out, "software"), "dropbear_2022.83");
}

#[tokio::test]
async fn port_check_times_out_on_a_silent_listener() {
    let addr = listener_replying(b"").await;
    let err = run(
        &SshPortAction::new(),
        addr,
        json!({"timeout_ms": 300}),
        None,
    )
    .await
    .unwrap_err();
    let ActionError::Timeout(reason) = err else {
        panic!("{err:?}")
    };
    assert!(
        reason.contains("sent no SSH identification line within 300 ms"),
        "{reason}"
    );
}

#[tokio::test]
async fn port_check_reports_a_refused_port() {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let err = run(&SshPortAction::new(), closed, json!({}), None)
        .await
        .unwrap_err();
    assert_eq!(
        err,
        ActionError::Failed(format!("connection refused by {closed}"))
    );
}

#[tokio::test]
async fn port_check_of_an_unknown_host_says_it_does_not_resolve() {
    let target = Target::Host("no-such-switch.invalid".into());
    let params = params(json!({"port": 22}));
    let err = SshPortAction::new()
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
    assert!(reason.contains("no-such-switch.invalid"), "{reason}");
    assert!(reason.contains("resolve"), "{reason}");
}

// --- ssh_command

#[tokio::test]
async fn command_with_password_reports_exit_status_stdout_and_stderr() {
    let (action, _) = command_action();
    let out = run(
        &action,
        sshd(),
        json!({"command": "echo hello; echo err >&2; exit 3"}),
        Some(&password()),
    )
    .await
    .unwrap();
    assert_eq!(out.raw, "hello\n");
    assert_eq!(field(&out, "exit_status"), 3);
    assert_eq!(field(&out, "stderr"), "err\n");
    assert_eq!(field(&out, "stdout_bytes"), 6);
    assert_eq!(field(&out, "stderr_bytes"), 4);
    assert_eq!(field(&out, "output_truncated"), false);
    assert!(field(&out, "duration_ms").as_f64().unwrap() > 0.0);
    assert!(
        field(&out, "host_key_fingerprint")
            .as_str()
            .unwrap()
            .starts_with("SHA256:")
    );
}

#[tokio::test]
async fn command_negotiates_the_fast_curve25519_key_exchange() {
    let (action, _) = command_action();
    let out = run(
        &action,
        sshd(),
        json!({"command": "true"}),
        Some(&password()),
    )
    .await
    .unwrap();
    assert_eq!(field(&out, "kex_algorithm"), "curve25519-sha256");
}

#[tokio::test]
async fn command_with_key_auth_runs() {
    let (action, _) = command_action();
    let out = run(
        &action,
        sshd(),
        json!({"command": "id -un"}),
        Some(&private_key()),
    )
    .await
    .unwrap();
    assert_eq!(out.raw.trim(), setting("OC_TEST_SSH_USER"));
    assert_eq!(field(&out, "exit_status"), 0);
}

#[tokio::test]
async fn command_works_over_ipv6() {
    let (action, _) = command_action();
    let out = run(
        &action,
        sshd6(),
        json!({"command": "echo v6"}),
        Some(&password()),
    )
    .await
    .unwrap();
    assert_eq!(out.raw, "v6\n");
}

#[tokio::test]
async fn command_with_a_wrong_password_fails_naming_authentication() {
    let (action, _) = command_action();
    let wrong = Credential::SshPassword {
        user: setting("OC_TEST_SSH_USER"),
        password: Secret::new("not-the-password"),
    };
    let err = run(&action, sshd(), json!({"command": "true"}), Some(&wrong))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        ActionError::Failed(format!(
            "authentication failed for user {} (password)",
            setting("OC_TEST_SSH_USER")
        ))
    );
    assert!(!err.to_string().contains("not-the-password"));
}

#[tokio::test]
async fn command_without_a_credential_is_a_credential_error() {
    let (action, _) = command_action();
    let err = run(&action, sshd(), json!({"command": "true"}), None)
        .await
        .unwrap_err();
    assert!(matches!(err, ActionError::Credential(_)), "{err:?}");
    assert!(
        err.to_string()
            .contains("needs an SSH password or SSH key credential"),
        "{err}"
    );
}

#[tokio::test]
async fn host_key_is_trusted_on_first_use_and_a_changed_key_is_refused() {
    let (action, tofu) = command_action();
    let first = run(
        &action,
        sshd(),
        json!({"command": "true"}),
        Some(&password()),
    )
    .await
    .unwrap();
    assert_eq!(field(&first, "host_key_first_use"), true);
    let second = run(
        &action,
        sshd(),
        json!({"command": "true"}),
        Some(&password()),
    )
    .await
    .unwrap();
    assert_eq!(field(&second, "host_key_first_use"), false);
    let real = format!(
        "{} {}",
        field(&first, "host_key_algorithm").as_str().unwrap(),
        field(&first, "host_key_fingerprint").as_str().unwrap()
    );

    // Someone else now answers at that address.
    let addr = sshd();
    let recorded = "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    tofu.insert(
        &addr.ip().to_string(),
        addr.port(),
        HostKey {
            algorithm: "ssh-ed25519".into(),
            fingerprint: recorded.into(),
        },
    );
    let err = run(&action, addr, json!({"command": "true"}), Some(&password()))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        ActionError::Failed(format!(
            "host key for {addr} has changed: expected ssh-ed25519 {recorded}, got {real}; \
             refusing to connect (reset the recorded key if the change is expected)"
        ))
    );
}

#[tokio::test]
async fn recorded_host_key_fingerprint_matches_ssh_keygen() {
    let (action, _) = command_action();
    let out = run(
        &action,
        sshd(),
        json!({"command": "true"}),
        Some(&password()),
    )
    .await
    .unwrap();
    let algorithm = field(&out, "host_key_algorithm").as_str().unwrap();
    let pub_file = match algorithm {
        "ssh-ed25519" => setting("OC_TEST_SSH_HOST_KEY_ED25519_PUB"),
        "ssh-rsa" => setting("OC_TEST_SSH_HOST_KEY_RSA_PUB"),
        other => panic!("the test sshd has no {other} host key"),
    };
    let keygen = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(&pub_file)
        .output()
        .unwrap();
    assert!(keygen.status.success(), "{keygen:?}");
    // `256 SHA256:... comment (ED25519)`
    let text = String::from_utf8(keygen.stdout).unwrap();
    let expected = text.split_whitespace().nth(1).unwrap();
    assert_eq!(field(&out, "host_key_fingerprint"), expected);
}

#[tokio::test]
async fn fifty_megabytes_of_output_are_capped_with_bounded_memory() {
    let (action, _) = command_action();
    let cap = 64 * 1024;
    let before_kib = peak_rss_kib();
    let out = run(
        &action,
        sshd(),
        json!({
            "command": "head -c 52428800 /dev/zero | tr '\\0' a",
            "max_output_bytes": cap,
            "timeout_ms": 110_000,
        }),
        Some(&password()),
    )
    .await
    .unwrap();
    let grown_mib = (peak_rss_kib().saturating_sub(before_kib)) / 1024;
    assert_eq!(out.raw.len(), cap);
    assert!(out.raw.bytes().all(|b| b == b'a'));
    assert_eq!(field(&out, "output_truncated"), true);
    assert_eq!(field(&out, "stdout_bytes"), 52_428_800);
    // The stream was read to the end, so the exit status is known.
    assert_eq!(field(&out, "exit_status"), 0);
    // Holding the output would take 50 MiB; russh buffers a few MiB per channel.
    assert!(grown_mib < 40, "peak memory grew by {grown_mib} MiB");
}

#[tokio::test]
async fn non_utf8_output_is_decoded_lossily() {
    let (action, _) = command_action();
    let out = run(
        &action,
        sshd(),
        json!({"command": "printf '\\377\\376ok'"}),
        Some(&password()),
    )
    .await
    .unwrap();
    assert_eq!(out.raw, "\u{fffd}\u{fffd}ok");
    assert_eq!(field(&out, "stdout_bytes"), 4);
}

#[tokio::test]
async fn command_reading_stdin_sees_end_of_input() {
    let (action, _) = command_action();
    let out = run(
        &action,
        sshd(),
        json!({"command": "cat; echo done"}),
        Some(&password()),
    )
    .await
    .unwrap();
    assert_eq!(out.raw, "done\n");
}

#[tokio::test]
async fn command_killed_by_a_signal_reports_it() {
    let (action, _) = command_action();
    let out = run(
        &action,
        sshd(),
        json!({"command": "kill -KILL $$"}),
        Some(&password()),
    )
    .await
    .unwrap();
    assert_eq!(field(&out, "exit_signal"), "KILL");
    assert!(!out.fields.contains_key("exit_status"));
}

#[tokio::test]
async fn command_on_a_pty_sees_a_terminal() {
    let (action, _) = command_action();
    let out = run(
        &action,
        sshd(),
        json!({"command": "tty", "pty": true}),
        Some(&password()),
    )
    .await
    .unwrap();
    assert!(out.raw.starts_with("/dev/pts/"), "{:?}", out.raw);
    assert_eq!(field(&out, "exit_status"), 0);
}

#[tokio::test]
async fn command_running_past_its_timeout_is_a_timeout() {
    let (action, _) = command_action();
    let started = Instant::now();
    let err = run(
        &action,
        sshd(),
        json!({"command": "echo started; sleep 30", "timeout_ms": 3000}),
        Some(&password()),
    )
    .await
    .unwrap_err();
    let ActionError::Timeout(reason) = err else {
        panic!("{err:?}")
    };
    assert!(reason.contains("still running"), "{reason}");
    assert!(started.elapsed() < Duration::from_secs(6));
}

#[tokio::test]
async fn command_against_a_silent_listener_times_out_in_the_handshake() {
    let (action, _) = command_action();
    let addr = listener_replying(b"").await;
    let err = run(
        &action,
        addr,
        json!({"command": "true", "timeout_ms": 300}),
        Some(&password()),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err,
        ActionError::Timeout(format!(
            "the SSH handshake with {addr} did not finish within 300 ms"
        ))
    );
}

#[tokio::test]
async fn command_against_an_http_server_fails_in_the_handshake() {
    let (action, _) = command_action();
    // Answers the client's identification line as a bad request and hangs up.
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback listener");
    let addr = listener.local_addr().expect("listener address");
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let _ = socket
                .write_all(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")
                .await;
        }
    });
    let err = run(&action, addr, json!({"command": "true"}), Some(&password()))
        .await
        .unwrap_err();
    let ActionError::Failed(reason) = err else {
        panic!("{err:?}")
    };
    assert!(
        reason.starts_with(&format!(
            "{addr} closed the connection during the SSH handshake"
        )),
        "{reason}"
    );
}

#[tokio::test]
async fn ten_parallel_commands_through_the_chunk_runner_all_succeed() {
    let tofu = Arc::new(MemoryTofu::default());
    let registry = Arc::new(Registry::empty().with(Arc::new(SshCommandAction::new(tofu))));
    let addr = sshd();
    let action = PreparedAction {
        index: 0,
        kind: ActionKind::SshCommand,
        params: params(json!({"command": "echo ok", "port": addr.port()})),
        parsers: Vec::new(),
        criteria: CriteriaSpec {
            ok: Some("exit_status == 0".into()),
            warn: None,
        }
        .compile()
        .unwrap(),
        timeout: Duration::from_secs(60),
        credential: Some(Arc::new(password())),
    };
    let chunk = Chunk {
        run_id: RunId::new(),
        targets: vec![Target::Ip(addr.ip()); 10],
        actions: Arc::from(vec![action]),
    };
    let config = RunnerConfig {
        concurrency: 10,
        target_timeout: Duration::from_secs(60),
        agent_id: None,
        require_first_ok: false,
    };
    let results: Vec<_> = run_chunk(registry, chunk, config, CancellationToken::new())
        .collect()
        .await;
    assert_eq!(results.len(), 10);
    for result in &results {
        assert_eq!(result.status, ResultStatus::Ok, "{:?}", result.reason);
        assert_eq!(result.raw_excerpt.as_deref(), Some("ok\n"));
    }
}
