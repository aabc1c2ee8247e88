//! The ping executor against the real loopback interface (no traffic leaves the host), and
//! its pure parts: statistics, the summary text, the socket fallback and its error.

use std::io::{self, Read as _};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::StreamExt as _;
use opsconductor_actions::ping::{
    IcmpSocketError, IpFamily, PingAction, PingStats, RECEIVE_BUFFER_BYTES, SocketKind,
    open_with_fallback, read_ping_group_range, tune_socket,
};
use opsconductor_actions::{
    Action as _, ActionError, ActionInput, ActionOutput, Chunk, PreparedAction, Registry,
    RunnerConfig, run_chunk,
};
use opsconductor_core::criteria::CriteriaSpec;
use opsconductor_core::ids::RunId;
use opsconductor_core::library::ActionKind;
use opsconductor_core::model::ResultStatus;
use opsconductor_core::targets::Target;
use regex::Regex;
use serde_json::{Map, Value, json};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

fn object(value: Value) -> Map<String, Value> {
    value.as_object().cloned().expect("params are an object")
}

async fn ping_within(
    action: &PingAction,
    target: &str,
    params: Value,
    budget: Duration,
) -> Result<ActionOutput, ActionError> {
    let target: Target = target.parse().expect("valid target");
    let params = object(params);
    action
        .run(ActionInput {
            target: &target,
            params: &params,
            credential: None,
            deadline: Instant::now() + budget,
        })
        .await
}

async fn ping(
    action: &PingAction,
    target: &str,
    params: Value,
) -> Result<ActionOutput, ActionError> {
    ping_within(action, target, params, Duration::from_secs(10)).await
}

fn num(output: &ActionOutput, field: &str) -> f64 {
    output.fields[field]
        .as_f64()
        .unwrap_or_else(|| panic!("{field} is not a number in {:?}", output.fields))
}

/// The summary iputils prints, as a regex a `ping.stats` parser would use.
fn iputils_summary() -> Regex {
    Regex::new(
        r"(?m)^--- \S+ ping statistics ---\n(?P<sent>\d+) packets transmitted, (?P<received>\d+) received, (?:\+\d+ errors, )?(?P<loss>[\d.]+)% packet loss, time \d+ms\n(?:rtt min/avg/max/mdev = (?P<min>[\d.]+)/(?P<avg>[\d.]+)/(?P<max>[\d.]+)/(?P<mdev>[\d.]+) ms\n)?$",
    )
    .expect("valid regex")
}

#[tokio::test]
async fn loopback_answers_every_echo_with_sane_rtts() {
    let action = PingAction::new();
    let out = ping(&action, "127.0.0.1", json!({"count": 3, "interval_ms": 20}))
        .await
        .expect("127.0.0.1 answers");
    assert_eq!(num(&out, "sent"), 3.0);
    assert_eq!(num(&out, "received"), 3.0);
    assert_eq!(num(&out, "loss_pct"), 0.0);
    let (min, avg, max) = (
        num(&out, "rtt_min_ms"),
        num(&out, "rtt_avg_ms"),
        num(&out, "rtt_max_ms"),
    );
    assert!(0.0 <= min && min <= avg && avg <= max, "{:?}", out.fields);
    assert!(max < 100.0, "loopback RTT of {max} ms");
    assert!(num(&out, "rtt_mdev_ms") >= 0.0);
    assert!(num(&out, "jitter_ms") >= 0.0);
    let rtts = out.fields["rtts_ms"]
        .as_array()
        .expect("rtts_ms is an array");
    assert_eq!(rtts.len(), 3);
    assert!(rtts.iter().all(Value::is_number), "{rtts:?}");

    let caps = iputils_summary()
        .captures(&out.raw)
        .unwrap_or_else(|| panic!("raw is not an iputils summary: {:?}", out.raw));
    assert!(out.raw.starts_with("--- 127.0.0.1 ping statistics ---\n"));
    assert_eq!(&caps["sent"], "3");
    assert_eq!(&caps["received"], "3");
    assert_eq!(&caps["loss"], "0");
    assert!(caps.name("avg").is_some(), "the rtt line is there");
}

#[tokio::test]
async fn count_is_honoured_and_each_echo_gets_its_own_rtt() {
    let action = PingAction::new();
    let out = ping(&action, "127.0.0.1", json!({"count": 7, "interval_ms": 0}))
        .await
        .expect("127.0.0.1 answers");
    assert_eq!(num(&out, "sent"), 7.0);
    assert_eq!(num(&out, "received"), 7.0);
    assert_eq!(out.fields["rtts_ms"].as_array().map(Vec::len), Some(7));
    assert!(
        out.raw
            .contains("7 packets transmitted, 7 received, 0% packet loss"),
        "{}",
        out.raw
    );
}

#[tokio::test]
async fn echoes_are_sent_interval_apart() {
    let action = PingAction::new();
    let t0 = Instant::now();
    let out = ping(&action, "127.0.0.1", json!({"count": 4, "interval_ms": 60}))
        .await
        .expect("127.0.0.1 answers");
    // Sends at 0, 60, 120 and 180 ms; the replies take microseconds.
    let elapsed = t0.elapsed();
    assert!(elapsed >= Duration::from_millis(180), "{elapsed:?}");
    assert!(elapsed < Duration::from_millis(1000), "{elapsed:?}");
    assert_eq!(num(&out, "received"), 4.0);
}

/// Reads IPv4 packets from a raw ICMP socket in a thread and returns the total lengths of
/// echo requests sent to `to`. `None` when raw sockets are not allowed here.
struct Sniffer {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Vec<usize>>,
}

impl Sniffer {
    fn start(to: Ipv4Addr) -> Option<Self> {
        use socket2::{Domain, Protocol, Socket, Type};
        let mut socket = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4)).ok()?;
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .expect("read timeout");
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut lengths = Vec::new();
            let mut buf = vec![0_u8; 70_000];
            while !stopped.load(Ordering::Relaxed) {
                let n = match socket.read(&mut buf) {
                    Ok(n) => n,
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                        ) =>
                    {
                        continue;
                    }
                    Err(e) => panic!("sniffer: {e}"),
                };
                let packet = &buf[..n];
                let ihl = usize::from(packet[0] & 0x0f) * 4;
                let dst = Ipv4Addr::new(packet[16], packet[17], packet[18], packet[19]);
                // ICMP type 8: echo request.
                if dst == to && packet.get(ihl) == Some(&8) {
                    lengths.push(usize::from(u16::from_be_bytes([packet[2], packet[3]])));
                }
            }
            lengths
        });
        Some(Self { stop, thread })
    }

    fn finish(self) -> Vec<usize> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("sniffer thread")
    }
}

#[tokio::test]
async fn the_payload_size_is_what_goes_on_the_wire() {
    let to = Ipv4Addr::new(127, 0, 0, 77);
    let Some(sniffer) = Sniffer::start(to) else {
        eprintln!("skipped: no raw socket here to watch the echoes");
        return;
    };
    let action = PingAction::new();
    let small = ping(
        &action,
        "127.0.0.77",
        json!({"count": 2, "interval_ms": 0, "size": 300}),
    )
    .await
    .expect("answers");
    let big = ping(&action, "127.0.0.77", json!({"count": 1, "size": 1400}))
        .await
        .expect("answers");
    let none = ping(&action, "127.0.0.77", json!({"count": 1, "size": 0}))
        .await
        .expect("answers");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut lengths = sniffer.finish();
    lengths.sort_unstable();
    // IPv4 header (20) + ICMP header (8) + payload.
    assert_eq!(lengths, [28, 328, 328, 1428]);
    for out in [small, big, none] {
        assert_eq!(num(&out, "loss_pct"), 0.0, "{:?}", out.fields);
    }
}

#[tokio::test]
async fn large_payloads_get_their_replies() {
    // Bigger than the 2 KiB receive buffer of surge-ping's task: the reply arrives cut
    // short, which still identifies it.
    let action = PingAction::new();
    let out = ping(
        &action,
        "127.0.0.1",
        json!({"count": 2, "interval_ms": 0, "size": 9000}),
    )
    .await
    .expect("answers");
    assert_eq!(num(&out, "received"), 2.0, "{:?}", out.fields);
}

#[test]
fn one_executor_serves_runtimes_that_come_and_go() {
    // The sockets live on the engine's own thread, not in the runtime that first pinged.
    let action = PingAction::new();
    for _ in 0..2 {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let out = runtime
            .block_on(ping(&action, "127.0.0.1", json!({"count": 1})))
            .expect("answers");
        assert_eq!(num(&out, "received"), 1.0);
        drop(runtime);
    }
}

#[tokio::test(start_paused = true)]
async fn a_paused_test_clock_does_not_confuse_the_echo_timing() {
    let action = PingAction::new();
    let out = ping(&action, "127.0.0.1", json!({"count": 2, "interval_ms": 10}))
        .await
        .expect("answers");
    assert_eq!(num(&out, "received"), 2.0);
}

#[tokio::test]
async fn a_whole_loopback_slash_24_answers_through_the_runner() {
    let action = PreparedAction {
        index: 0,
        kind: ActionKind::Ping,
        params: object(json!({"count": 2, "interval_ms": 10, "timeout_ms": 1000})),
        parsers: Vec::new(),
        criteria: CriteriaSpec {
            ok: Some("loss_pct == 0".to_owned()),
            warn: None,
        }
        .compile()
        .expect("criteria compile"),
        timeout: Duration::from_secs(5),
        credential: None,
    };
    let targets: Vec<Target> = (1..=254)
        .map(|i| Target::Ip(IpAddr::V4(Ipv4Addr::new(127, 0, 0, i))))
        .collect();
    let chunk = Chunk {
        run_id: RunId::new(),
        targets: targets.clone(),
        actions: Arc::from(vec![action]),
    };
    let registry = Arc::new(Registry::empty().with(Arc::new(PingAction::new())));
    let config = RunnerConfig {
        concurrency: 128,
        target_timeout: Duration::from_secs(10),
        agent_id: None,
        require_first_ok: false,
    };
    let results: Vec<_> = run_chunk(registry, chunk, config, CancellationToken::new())
        .collect()
        .await;
    assert_eq!(results.len(), 254);
    for r in &results {
        assert_eq!(
            r.status,
            ResultStatus::Ok,
            "{}: {:?} {:?}",
            r.target,
            r.reason,
            r.fields
        );
        assert_eq!(r.fields["received"], json!(2), "{}", r.target);
    }
    let mut seen: Vec<_> = results.iter().map(|r| r.target.clone()).collect();
    seen.sort();
    let mut expected: Vec<_> = targets.iter().map(ToString::to_string).collect();
    expected.sort();
    assert_eq!(seen, expected, "every target has exactly one result");
}

#[tokio::test]
async fn ipv6_loopback_answers() {
    let action = PingAction::new();
    let out = ping(&action, "::1", json!({"count": 2, "interval_ms": 10}))
        .await
        .expect("::1 answers");
    assert_eq!(num(&out, "received"), 2.0);
    assert!(
        out.raw.starts_with("--- ::1 ping statistics ---\n"),
        "{}",
        out.raw
    );
}

#[tokio::test]
async fn a_hostname_is_resolved_in_the_family_asked_for() {
    let action = PingAction::new();
    let out = ping(&action, "localhost", json!({"count": 1}))
        .await
        .expect("localhost answers");
    assert_eq!(num(&out, "received"), 1.0);
    let address: IpAddr = out.fields["address"]
        .as_str()
        .and_then(|a| a.parse().ok())
        .expect("the resolved address is reported");
    assert!(address.is_loopback());
    assert!(out.timings.contains_key("resolve"));
    assert!(
        out.raw.starts_with("--- localhost ping statistics ---"),
        "{}",
        out.raw
    );

    let v4 = ping(&action, "localhost", json!({"count": 1, "family": "ipv4"}))
        .await
        .expect("localhost answers over IPv4");
    assert_eq!(v4.fields["address"], json!("127.0.0.1"));
}

#[tokio::test]
async fn a_hostname_without_an_address_of_the_family_is_an_error_that_says_so() {
    // /etc/hosts answers for localhost; no query leaves the host.
    let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    if hosts
        .lines()
        .any(|l| l.starts_with("::1") && l.contains("localhost"))
    {
        eprintln!("skipped: localhost has an IPv6 address here");
        return;
    }
    let action = PingAction::new();
    let err = ping(&action, "localhost", json!({"count": 1, "family": "ipv6"}))
        .await
        .expect_err("no IPv6 address for localhost");
    assert_eq!(
        err,
        ActionError::Failed("cannot resolve host localhost: it has no IPv6 address".to_owned())
    );
}

#[tokio::test]
async fn an_unresolvable_name_is_an_error_with_the_resolver_reason() {
    let action = PingAction::new();
    let err = ping(&action, "no-such-host.invalid", json!({"count": 1}))
        .await
        .expect_err("does not resolve");
    let ActionError::Failed(reason) = err else {
        panic!("expected Failed, got {err:?}");
    };
    assert!(
        reason.starts_with("cannot resolve host no-such-host.invalid: "),
        "{reason}"
    );
}

#[tokio::test]
async fn an_address_of_the_other_family_is_refused() {
    let action = PingAction::new();
    let err = ping(&action, "::1", json!({"family": "ipv4"}))
        .await
        .expect_err("family mismatch");
    assert_eq!(
        err,
        ActionError::Failed("::1 is an IPv6 address but family is ipv4".to_owned())
    );
}

#[tokio::test]
async fn the_ttl_param_is_applied_and_checked() {
    let action = PingAction::new();
    // On loopback even a TTL of 1 arrives.
    let out = ping(&action, "127.0.0.1", json!({"count": 1, "ttl": 1}))
        .await
        .expect("answers with ttl 1");
    assert_eq!(num(&out, "received"), 1.0);
    let out = ping(&action, "127.0.0.1", json!({"count": 1, "ttl": 255}))
        .await
        .expect("answers with ttl 255");
    assert_eq!(num(&out, "received"), 1.0);
    for ttl in [0, 256] {
        let err = ping(&action, "127.0.0.1", json!({"ttl": ttl}))
            .await
            .expect_err("out of range");
        assert!(
            matches!(&err, ActionError::InvalidParams(m) if m.contains("ttl")),
            "{err:?}"
        );
    }
}

#[tokio::test]
async fn params_out_of_range_are_invalid() {
    let action = PingAction::new();
    for (params, needle) in [
        (json!({"count": 0}), "count must be 1-100"),
        (json!({"count": 101}), "count must be 1-100"),
        (json!({"size": 70000}), "size must be at most 65507"),
        (json!({"timeout_ms": 0}), "timeout_ms"),
        (json!({"family": "ipx"}), "unknown variant"),
        (json!({"count": "three"}), "invalid type"),
    ] {
        let err = ping(&action, "127.0.0.1", params.clone())
            .await
            .expect_err("invalid");
        assert!(
            matches!(&err, ActionError::InvalidParams(m) if m.contains(needle)),
            "{params}: {err:?}"
        );
    }
}

#[tokio::test]
async fn a_short_deadline_sends_fewer_echoes_instead_of_failing() {
    let action = PingAction::new();
    // Sends due at 0, 100, 200, 300 and 400 ms; the deadline (less its grace) is at 240.
    let out = ping_within(
        &action,
        "127.0.0.1",
        json!({"count": 5, "interval_ms": 100}),
        Duration::from_millis(250),
    )
    .await
    .expect("partial statistics");
    assert_eq!(num(&out, "sent"), 3.0, "{:?}", out.fields);
    assert_eq!(num(&out, "received"), 3.0);
    assert_eq!(num(&out, "loss_pct"), 0.0);
}

#[tokio::test]
async fn this_host_opens_the_socket_kind_its_settings_allow() {
    let action = PingAction::new();
    let kind = action
        .socket_kind(IpFamily::V4)
        .await
        .expect("an ICMP socket opens here");
    let gid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Gid:"))
                .and_then(|ids| ids.split_whitespace().nth(1)?.parse::<u32>().ok())
        })
        .expect("effective gid");
    match read_ping_group_range() {
        Some((lo, hi)) if (lo..=hi).contains(&gid) => assert_eq!(kind, SocketKind::Datagram),
        // `1 0` here: datagram sockets are refused, raw ones work as root.
        Some(_) => assert_eq!(kind, SocketKind::Raw),
        None => {}
    }
}

/// An ICMPv4 echo request with its checksum.
fn echo_request(ident: u16, seq: u16) -> Vec<u8> {
    let mut packet = vec![8, 0, 0, 0];
    packet.extend_from_slice(&ident.to_be_bytes());
    packet.extend_from_slice(&seq.to_be_bytes());
    packet.extend_from_slice(b"opsconductor");
    let mut sum: u32 = packet
        .chunks(2)
        .map(|pair| u32::from(u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let checksum = !(sum as u16);
    packet[2..4].copy_from_slice(&checksum.to_be_bytes());
    packet
}

#[test]
fn a_tuned_raw_socket_gets_a_big_buffer_and_only_replies() {
    use std::os::fd::AsRawFd as _;

    use socket2::{Domain, Protocol, SockAddr, Socket, Type};
    let Ok(mut socket) = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4)) else {
        eprintln!("skipped: no raw socket here");
        return;
    };
    let granted = tune_socket(socket.as_raw_fd(), IpFamily::V4, SocketKind::Raw).expect("tuned");
    let rmem_max: usize = std::fs::read_to_string("/proc/sys/net/core/rmem_max")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    if rmem_max >= RECEIVE_BUFFER_BYTES {
        assert!(granted >= RECEIVE_BUFFER_BYTES, "granted {granted}");
    }
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .expect("read timeout");
    let to = SockAddr::from(std::net::SocketAddr::from((
        Ipv4Addr::new(127, 0, 0, 99),
        0,
    )));
    socket.send_to(&echo_request(0x4f43, 7), &to).expect("send");
    // Unfiltered, the first packet would be our own request coming back over loopback.
    let mut buf = [0_u8; 1500];
    let n = socket.read(&mut buf).expect("a reply within 2 s");
    let ihl = usize::from(buf[0] & 0x0f) * 4;
    assert!(n > ihl + 8);
    assert_eq!(buf[ihl], 0, "an echo reply, not the request");
    assert_eq!(&buf[ihl + 4..ihl + 8], &[0x4f, 0x43, 0, 7]);
}

#[test]
fn the_socket_fallback_prefers_datagram_then_raw() {
    let denied = || io::Error::from(io::ErrorKind::PermissionDenied);

    let (value, kind) = open_with_fallback(IpFamily::V4, Ok::<_, io::Error>).expect("opens");
    assert_eq!((value, kind), (SocketKind::Datagram, SocketKind::Datagram));

    let mut tried = Vec::new();
    let (_, kind) = open_with_fallback(IpFamily::V4, |k| {
        tried.push(k);
        match k {
            SocketKind::Datagram => Err(denied()),
            SocketKind::Raw => Ok(()),
        }
    })
    .expect("raw opens");
    assert_eq!(kind, SocketKind::Raw);
    assert_eq!(tried, [SocketKind::Datagram, SocketKind::Raw]);

    let err =
        open_with_fallback(IpFamily::V6, |_| Err::<(), _>(denied())).expect_err("neither opens");
    let message = err.to_string();
    assert!(message.contains("net.ipv4.ping_group_range"), "{message}");
    assert!(message.contains("CAP_NET_RAW"), "{message}");
    assert!(message.contains("IPv6"), "{message}");
}

#[test]
fn the_socket_error_names_the_sysctl_and_the_capability() {
    let err = IcmpSocketError {
        family: IpFamily::V4,
        datagram: io::Error::from_raw_os_error(13),
        raw: io::Error::from_raw_os_error(1),
        ping_group_range: Some((1, 0)),
        gid: Some(1000),
    };
    let message = err.to_string();
    assert!(
        message.starts_with("cannot open an ICMP socket for IPv4 pings: "),
        "{message}"
    );
    assert!(
        message.contains(
            "net.ipv4.ping_group_range is \"1 0\", which does not include its group id 1000"
        ),
        "{message}"
    );
    assert!(
        message.contains("raw sockets need CAP_NET_RAW, which this process does not have"),
        "{message}"
    );
    assert!(
        message.contains("sysctl -w net.ipv4.ping_group_range="),
        "{message}"
    );
    assert!(message.contains("setcap cap_net_raw+ep"), "{message}");
}

#[test]
fn the_socket_error_reports_other_failures_as_they_are() {
    // The range includes the group, yet the kernel refused: say so rather than guess.
    let err = IcmpSocketError {
        family: IpFamily::V4,
        datagram: io::Error::from_raw_os_error(13),
        raw: io::Error::from_raw_os_error(24),
        ping_group_range: Some((0, 2_147_483_647)),
        gid: Some(0),
    };
    let message = err.to_string();
    assert!(
        message.contains(
            "although net.ipv4.ping_group_range (\"0 2147483647\") includes its group id 0"
        ),
        "{message}"
    );
    assert!(
        message.contains("the raw ICMP socket failed: Too many open files"),
        "{message}"
    );

    // No IPv6 on the host at all.
    let err = IcmpSocketError {
        family: IpFamily::V6,
        datagram: io::Error::from_raw_os_error(97),
        raw: io::Error::from_raw_os_error(97),
        ping_group_range: Some((1, 0)),
        gid: Some(0),
    };
    assert!(
        err.to_string()
            .starts_with("cannot ping over IPv6: IPv6 is not available on this host"),
        "{err}"
    );
}

#[test]
fn statistics_of_a_clean_run() {
    let stats = PingStats::from_rtts(&[Some(1.0), Some(3.0), Some(2.0), Some(6.0)]);
    assert_eq!((stats.sent, stats.received), (4, 4));
    assert_eq!(stats.loss_pct, 0.0);
    let rtt = stats.rtt.expect("rtt figures");
    assert_eq!((rtt.min, rtt.avg, rtt.max), (1.0, 3.0, 6.0));
    // mean of squares 12.5 - square of mean 9 = 3.5
    assert!((rtt.mdev - 3.5_f64.sqrt()).abs() < 1e-12, "{}", rtt.mdev);
    // |3-1| + |2-3| + |6-2| = 7 over 3 pairs
    assert!((rtt.jitter - 7.0 / 3.0).abs() < 1e-12, "{}", rtt.jitter);
}

#[test]
fn statistics_skip_lost_echoes() {
    let stats = PingStats::from_rtts(&[Some(2.0), None, Some(4.0), None, None, Some(4.0)]);
    assert_eq!((stats.sent, stats.received), (6, 3));
    assert_eq!(stats.loss_pct, 50.0);
    let rtt = stats.rtt.expect("rtt figures");
    assert!((rtt.avg - 10.0 / 3.0).abs() < 1e-12);
    // Consecutive replies: |4-2| + |4-4| over 2 pairs.
    assert_eq!(rtt.jitter, 1.0);

    let one = PingStats::from_rtts(&[None, Some(0.5), None]);
    let rtt = one.rtt.expect("one reply");
    assert_eq!(
        (rtt.min, rtt.max, rtt.mdev, rtt.jitter),
        (0.5, 0.5, 0.0, 0.0)
    );
    assert!((one.loss_pct - 200.0 / 3.0).abs() < 1e-9);
}

#[test]
fn all_lost_is_full_loss_without_rtt_figures() {
    let stats = PingStats::from_rtts(&[None, None, None]);
    assert_eq!((stats.sent, stats.received, stats.loss_pct), (3, 0, 100.0));
    assert!(stats.rtt.is_none());
    let text = stats.summary("10.9.9.9", 0, 2003);
    assert_eq!(
        text,
        "--- 10.9.9.9 ping statistics ---\n3 packets transmitted, 0 received, 100% packet loss, time 2003ms\n"
    );
    assert!(iputils_summary().is_match(&text));
}

#[test]
fn the_summary_reads_like_iputils() {
    let stats = PingStats::from_rtts(&[Some(0.0312), None, Some(0.0526)]);
    let text = stats.summary("core-sw1.example", 1, 402);
    assert_eq!(
        text,
        "--- core-sw1.example ping statistics ---\n\
         3 packets transmitted, 2 received, +1 errors, 33.3333% packet loss, time 402ms\n\
         rtt min/avg/max/mdev = 0.031/0.042/0.053/0.011 ms\n"
    );
    let caps = iputils_summary().captures(&text).expect("parses");
    assert_eq!(&caps["loss"], "33.3333");
    assert_eq!(&caps["mdev"], "0.011");
}
