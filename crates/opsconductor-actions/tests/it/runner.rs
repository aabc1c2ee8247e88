//! The chunk runner: concurrency bound, per-target deadlines, streaming, cancel, panics,
//! parsers and criteria. Most tests drive it with a scripted executor; one uses the real
//! tcp_port executor against loopback listeners.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::{FutureExt as _, StreamExt as _};
use opsconductor_actions::tcp::TcpAction;
use opsconductor_actions::{
    Action, ActionError, ActionInput, ActionOutput, Chunk, PreparedAction, Registry, RunnerConfig,
    run_chunk,
};
use opsconductor_core::criteria::{Criteria, CriteriaSpec};
use opsconductor_core::ids::{AgentId, RunId};
use opsconductor_core::library::ActionKind;
use opsconductor_core::model::{ResultRecord, ResultStatus};
use opsconductor_core::parse::{CompiledParser, ParserDef};
use opsconductor_core::targets::Target;
use serde_json::{Map, Value, json};
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

type Outcome = Result<ActionOutput, ActionError>;
type Script = dyn Fn(&ActionInput<'_>) -> BoxFuture<'static, Outcome> + Send + Sync;

/// An executor whose behaviour the test writes, counting what it is asked to do.
struct Scripted {
    script: Box<Script>,
    started: AtomicUsize,
    in_flight: Arc<AtomicUsize>,
    max_in_flight: Arc<AtomicUsize>,
}

impl Scripted {
    fn new(
        script: impl Fn(&ActionInput<'_>) -> BoxFuture<'static, Outcome> + Send + Sync + 'static,
    ) -> Arc<Self> {
        Arc::new(Self {
            script: Box::new(script),
            started: AtomicUsize::new(0),
            in_flight: Arc::new(AtomicUsize::new(0)),
            max_in_flight: Arc::new(AtomicUsize::new(0)),
        })
    }

    fn registry(self: &Arc<Self>) -> Arc<Registry> {
        Arc::new(Registry::empty().with(Arc::clone(self) as Arc<dyn Action>))
    }

    fn started(&self) -> usize {
        self.started.load(Ordering::SeqCst)
    }
}

/// Counts an action as in flight until dropped (finished or abandoned).
struct InFlight(Arc<AtomicUsize>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Action for Scripted {
    fn kind(&self) -> ActionKind {
        ActionKind::Ping
    }

    fn run<'a>(&'a self, input: ActionInput<'a>) -> BoxFuture<'a, Outcome> {
        self.started.fetch_add(1, Ordering::SeqCst);
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        let guard = InFlight(Arc::clone(&self.in_flight));
        let work = (self.script)(&input);
        async move {
            let _guard = guard;
            work.await
        }
        .boxed()
    }
}

fn ok_after(delay: Duration) -> BoxFuture<'static, Outcome> {
    async move {
        tokio::time::sleep(delay).await;
        let mut out = ActionOutput::default();
        out.field("value", 1);
        Ok(out)
    }
    .boxed()
}

fn last_octet(target: &Target) -> u8 {
    match target {
        Target::Ip(IpAddr::V4(ip)) => ip.octets()[3],
        other => panic!("test targets are IPv4 addresses, got {other}"),
    }
}

fn targets(n: u8) -> Vec<Target> {
    (1..=n)
        .map(|i| Target::Ip(IpAddr::V4(Ipv4Addr::new(127, 0, 0, i))))
        .collect()
}

fn criteria(ok: Option<&str>, warn: Option<&str>) -> Criteria {
    CriteriaSpec {
        ok: ok.map(str::to_owned),
        warn: warn.map(str::to_owned),
    }
    .compile()
    .expect("criteria compile")
}

fn action(index: u32, kind: ActionKind, timeout: Duration) -> PreparedAction {
    PreparedAction {
        index,
        kind,
        params: Map::new(),
        parsers: Vec::new(),
        criteria: Criteria::default(),
        timeout,
        credential: None,
    }
}

fn chunk(targets: Vec<Target>, actions: Vec<PreparedAction>) -> Chunk {
    Chunk {
        run_id: RunId::new(),
        targets,
        actions: Arc::from(actions),
    }
}

fn config(concurrency: usize, target_timeout: Duration) -> RunnerConfig {
    RunnerConfig {
        concurrency,
        target_timeout,
        agent_id: None,
        require_first_ok: false,
    }
}

async fn run_all(registry: Arc<Registry>, chunk: Chunk, config: RunnerConfig) -> Vec<ResultRecord> {
    let results = run_chunk(registry, chunk, config, CancellationToken::new()).collect::<Vec<_>>();
    tokio::time::timeout(Duration::from_secs(30), results)
        .await
        .expect("the chunk finishes")
}

#[tokio::test]
async fn concurrency_never_exceeds_the_configured_bound() {
    let exec = Scripted::new(|_| ok_after(Duration::from_millis(20)));
    let results = run_all(
        exec.registry(),
        chunk(
            targets(40),
            vec![action(0, ActionKind::Ping, Duration::from_secs(5))],
        ),
        config(5, Duration::from_secs(5)),
    )
    .await;
    assert_eq!(results.len(), 40);
    assert!(results.iter().all(|r| r.status == ResultStatus::Ok));
    assert_eq!(
        exec.max_in_flight.load(Ordering::SeqCst),
        5,
        "the bound is used and kept"
    );
    assert_eq!(exec.started(), 40);
}

#[tokio::test]
async fn a_dead_target_times_out_on_its_own_deadline_without_holding_up_the_others() {
    // 127.0.0.1 never answers; the 30 others answer in 10 ms.
    let exec = Scripted::new(|input| {
        if last_octet(input.target) == 1 {
            futures::future::pending().boxed()
        } else {
            ok_after(Duration::from_millis(10))
        }
    });
    let t0 = Instant::now();
    let mut stream = run_chunk(
        exec.registry(),
        chunk(
            targets(31),
            vec![action(0, ActionKind::Ping, Duration::from_secs(60))],
        ),
        config(4, Duration::from_millis(500)),
        CancellationToken::new(),
    );
    let mut live_done = Vec::new();
    let mut dead = None;
    while let Some(r) = stream.next().await {
        if r.target == "127.0.0.1" {
            dead = Some((r, t0.elapsed()));
        } else {
            assert_eq!(r.status, ResultStatus::Ok, "{r:?}");
            live_done.push(t0.elapsed());
        }
    }
    let total = t0.elapsed();
    assert_eq!(live_done.len(), 30);
    // 30 × 10 ms on the 3 free slots: about 100 ms, far from the dead target's 500.
    let slowest_live = live_done.iter().max().copied().unwrap_or_default();
    assert!(
        slowest_live < Duration::from_millis(400),
        "live targets took {slowest_live:?}"
    );
    let (dead, dead_at) = dead.expect("the dead target has a result");
    assert_eq!(dead.status, ResultStatus::Timeout);
    // The runner reports the time the action had: the target's 500 ms, less the moment
    // between the target's start and the action's.
    let reason = dead.reason.as_deref().unwrap_or_default();
    assert!(
        reason == "no answer within 500 ms" || reason == "no answer within 499 ms",
        "{reason}"
    );
    assert!(
        dead_at >= Duration::from_millis(500) && dead_at < Duration::from_millis(900),
        "{dead_at:?}"
    );
    assert!(
        total < Duration::from_millis(900),
        "the chunk ends with the dead target's deadline: {total:?}"
    );
    assert_eq!(
        exec.in_flight.load(Ordering::SeqCst),
        0,
        "the abandoned action was dropped"
    );
}

/// Binds `ip:port` for every ip, on one port free on all of them.
async fn listeners_on_one_port(ips: &[Ipv4Addr]) -> (u16, Vec<TcpListener>) {
    'attempt: for _ in 0..20 {
        let first = TcpListener::bind(SocketAddr::from((ips[0], 0)))
            .await
            .expect("bind");
        let port = first.local_addr().expect("addr").port();
        let mut all = vec![first];
        for ip in &ips[1..] {
            match TcpListener::bind(SocketAddr::from((*ip, port))).await {
                Ok(l) => all.push(l),
                Err(_) => continue 'attempt,
            }
        }
        return (port, all);
    }
    panic!("no port free on all of {ips:?}");
}

#[tokio::test]
async fn a_silent_tcp_peer_times_out_while_the_others_answer() {
    let ips: Vec<Ipv4Addr> = (1..=9).map(|i| Ipv4Addr::new(127, 0, 0, i)).collect();
    let (port, listeners) = listeners_on_one_port(&ips).await;
    for (i, listener) in listeners.into_iter().enumerate() {
        let silent = i == 0;
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((mut s, _)) = listener.accept().await {
                if silent {
                    held.push(s); // accept, never answer, never close
                } else {
                    tokio::spawn(async move {
                        let _ = s.write_all(b"+OK ready\r\n").await;
                        tokio::time::sleep(Duration::from_secs(30)).await;
                    });
                }
            }
        });
    }
    let mut tcp = action(0, ActionKind::TcpPort, Duration::from_secs(60));
    tcp.params = json!({"port": port, "expect": "^\\+OK", "timeout_ms": 60_000})
        .as_object()
        .cloned()
        .expect("object");
    tcp.criteria = criteria(Some("expect_matched"), None);
    let registry = Arc::new(Registry::empty().with(Arc::new(TcpAction::new())));
    let t0 = Instant::now();
    let results = run_all(
        registry,
        chunk(
            ips.iter().map(|ip| Target::Ip(IpAddr::V4(*ip))).collect(),
            vec![tcp],
        ),
        config(2, Duration::from_millis(600)),
    )
    .await;
    let total = t0.elapsed();
    assert_eq!(results.len(), 9);
    for r in &results {
        if r.target == "127.0.0.1" {
            assert_eq!(r.status, ResultStatus::Timeout, "{r:?}");
            let reason = r.reason.as_deref().unwrap_or_default();
            assert!(
                reason.contains("no answer matching the expected pattern"),
                "{reason}"
            );
        } else {
            assert_eq!(r.status, ResultStatus::Ok, "{r:?}");
            assert_eq!(r.fields["banner"], json!("+OK ready"));
        }
    }
    assert!(total < Duration::from_millis(1200), "{total:?}");
}

#[tokio::test]
async fn results_stream_out_before_the_chunk_ends() {
    let release = Arc::new(Notify::new());
    let gate = Arc::clone(&release);
    let exec = Scripted::new(move |input| {
        if last_octet(input.target) == 2 {
            let gate = Arc::clone(&gate);
            async move {
                gate.notified().await;
                Ok(ActionOutput::default())
            }
            .boxed()
        } else {
            ok_after(Duration::ZERO)
        }
    });
    let mut stream = run_chunk(
        exec.registry(),
        chunk(
            targets(2),
            vec![action(0, ActionKind::Ping, Duration::from_secs(10))],
        ),
        config(2, Duration::from_secs(10)),
        CancellationToken::new(),
    );
    // The slow target waits for the test, which waits for the fast target's result: this
    // only finishes if results come out while the chunk is still running.
    let first = tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .expect("a result before the chunk ends")
        .expect("stream open");
    assert_eq!(first.target, "127.0.0.1");
    release.notify_one();
    let second = tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .expect("the second result")
        .expect("stream open");
    assert_eq!(second.target, "127.0.0.2");
    assert!(stream.next().await.is_none());
}

#[tokio::test]
async fn cancelling_stops_the_work_and_reports_what_was_running() {
    let exec = Scripted::new(|_| ok_after(Duration::from_secs(60)));
    let cancel = CancellationToken::new();
    let mut stream = run_chunk(
        exec.registry(),
        chunk(
            targets(20),
            vec![action(0, ActionKind::Ping, Duration::from_secs(120))],
        ),
        config(4, Duration::from_secs(120)),
        cancel.clone(),
    );
    while exec.started() < 4 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let t0 = Instant::now();
    cancel.cancel();
    let mut results = Vec::new();
    while let Some(r) = tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .expect("the stream ends soon after cancel")
    {
        results.push(r);
    }
    assert!(t0.elapsed() < Duration::from_secs(1), "{:?}", t0.elapsed());
    // The four running actions report the cancel; targets that never started may be
    // reported too (today they are skipped), but never as anything else.
    assert!(
        (4..=20).contains(&results.len()),
        "{} results",
        results.len()
    );
    for r in &results {
        assert_eq!(r.status, ResultStatus::Error);
        assert_eq!(r.reason.as_deref(), Some("cancelled"));
    }
    assert_eq!(exec.started(), 4, "nothing new starts after cancel");
    assert_eq!(exec.in_flight.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn dropping_the_stream_stops_the_work() {
    let exec = Scripted::new(|_| ok_after(Duration::from_millis(20)));
    let mut stream = run_chunk(
        exec.registry(),
        chunk(
            targets(200),
            vec![action(0, ActionKind::Ping, Duration::from_secs(10))],
        ),
        config(2, Duration::from_secs(10)),
        CancellationToken::new(),
    );
    stream.next().await.expect("a first result");
    drop(stream);
    let started = exec.started();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        exec.started() <= started + 2,
        "{} started after the drop",
        exec.started() - started
    );
    assert!(exec.started() < 20, "{}", exec.started());
}

#[tokio::test]
async fn a_panicking_executor_becomes_an_error_result() {
    let exec = Scripted::new(|input| {
        if last_octet(input.target) == 3 {
            async { panic!("executor bug") }.boxed()
        } else {
            ok_after(Duration::ZERO)
        }
    });
    let results = run_all(
        exec.registry(),
        chunk(
            targets(5),
            vec![action(0, ActionKind::Ping, Duration::from_secs(5))],
        ),
        config(5, Duration::from_secs(5)),
    )
    .await;
    assert_eq!(results.len(), 5, "the other targets are unaffected");
    for r in &results {
        if r.target == "127.0.0.3" {
            assert_eq!(r.status, ResultStatus::Error);
            assert_eq!(
                r.reason.as_deref(),
                Some("internal error in the ping executor (it panicked); please report it")
            );
        } else {
            assert_eq!(r.status, ResultStatus::Ok);
        }
    }
}

#[tokio::test]
async fn an_executor_that_panics_before_returning_its_future_becomes_an_error_result() {
    let exec = Scripted::new(|input| {
        assert_ne!(last_octet(input.target), 3, "executor bug");
        ok_after(Duration::ZERO)
    });
    let results = run_all(
        exec.registry(),
        chunk(
            targets(5),
            vec![action(0, ActionKind::Ping, Duration::from_secs(5))],
        ),
        config(5, Duration::from_secs(5)),
    )
    .await;
    assert_eq!(results.len(), 5, "every target is accounted for");
    let failed = results
        .iter()
        .find(|r| r.target == "127.0.0.3")
        .expect("a result for .3");
    assert_eq!(failed.status, ResultStatus::Error);
}

fn parser(def: Value) -> (String, CompiledParser) {
    let def: ParserDef = serde_json::from_value(def).expect("parser definition");
    let compiled = def.compile().expect("parser compiles");
    (def.id, compiled)
}

#[tokio::test]
async fn parsers_and_criteria_decide_the_status() {
    let exec = Scripted::new(|_| {
        async {
            let mut out = ActionOutput::default();
            out.field("native", 1);
            out.raw = "temperature=42C\nstate=up\n".to_owned();
            Ok(out)
        }
        .boxed()
    });
    let temp = parser(json!({
        "id": "test.temperature",
        "name": "temperature",
        "extract": {"type": "regex", "pattern": "temperature=(?P<temp>\\d+)C"},
        "fields": {"temp": {"type": "int"}}
    }));
    let absent = parser(json!({
        "id": "test.absent",
        "name": "absent",
        "extract": {"type": "regex", "pattern": "humidity=(?P<humidity>\\d+)"}
    }));
    let with = |index, parsers: Vec<(String, CompiledParser)>, criteria| PreparedAction {
        parsers,
        criteria,
        ..action(index, ActionKind::Ping, Duration::from_secs(5))
    };
    let actions = vec![
        with(
            0,
            vec![temp.clone()],
            criteria(Some("temp < 50 && native == 1"), None),
        ),
        with(
            1,
            vec![temp.clone()],
            criteria(Some("temp < 40"), Some("temp < 45")),
        ),
        with(2, vec![temp.clone()], criteria(Some("temp < 10"), None)),
        with(3, vec![temp, absent], criteria(None, None)),
    ];
    let agent = AgentId::new();
    let chunk = chunk(targets(1), actions);
    let run_id = chunk.run_id;
    let mut results = run_all(
        exec.registry(),
        chunk,
        RunnerConfig {
            agent_id: Some(agent),
            ..config(1, Duration::from_secs(5))
        },
    )
    .await;
    results.sort_by_key(|r| r.action_index);
    assert_eq!(results.len(), 4);
    for r in &results {
        assert_eq!(
            (r.run_id, r.agent_id, r.target.as_str()),
            (run_id, Some(agent), "127.0.0.1")
        );
        assert_eq!(
            r.raw_excerpt.as_deref(),
            Some("temperature=42C\nstate=up\n")
        );
    }
    let ok = &results[0];
    assert_eq!(ok.status, ResultStatus::Ok, "{:?}", ok.reason);
    assert_eq!(ok.fields["temp"], json!(42));
    assert_eq!(ok.fields["native"], json!(1), "executor fields are kept");
    assert_eq!(ok.reason, None);

    let warn = &results[1];
    assert_eq!(warn.status, ResultStatus::Warn);
    assert!(
        warn.reason
            .as_deref()
            .is_some_and(|r| r.contains("temp < 40")),
        "{:?}",
        warn.reason
    );

    let fail = &results[2];
    assert_eq!(fail.status, ResultStatus::Fail);
    assert!(
        fail.reason
            .as_deref()
            .is_some_and(|r| r.contains("temp = 42")),
        "{:?}",
        fail.reason
    );

    let parse_error = &results[3];
    assert_eq!(parse_error.status, ResultStatus::Error);
    assert!(
        parse_error
            .reason
            .as_deref()
            .is_some_and(|r| r.starts_with("parser test.absent: no match")),
        "{:?}",
        parse_error.reason
    );
}

#[tokio::test]
async fn action_timeouts_and_the_target_deadline_cut_a_targets_actions() {
    // Every action hangs; it is cut by its own timeout or by the target's deadline.
    let exec = Scripted::new(|_| futures::future::pending().boxed());
    let actions = vec![
        action(0, ActionKind::Ping, Duration::from_millis(100)),
        action(1, ActionKind::Ping, Duration::from_secs(10)),
        action(2, ActionKind::Ping, Duration::from_secs(10)),
    ];
    let t0 = Instant::now();
    let mut results = run_all(
        exec.registry(),
        chunk(targets(1), actions),
        config(1, Duration::from_millis(250)),
    )
    .await;
    let total = t0.elapsed();
    results.sort_by_key(|r| r.action_index);
    let reasons: Vec<_> = results
        .iter()
        .map(|r| (r.status, r.reason.clone().unwrap_or_default()))
        .collect();
    assert_eq!(
        reasons[0],
        (ResultStatus::Timeout, "no answer within 100 ms".to_owned())
    );
    // The second action gets what is left of the target's 250 ms.
    assert_eq!(reasons[1].0, ResultStatus::Timeout);
    assert!(
        reasons[1].1.starts_with("no answer within 1"),
        "{}",
        reasons[1].1
    );
    assert_eq!(
        reasons[2],
        (
            ResultStatus::Timeout,
            "target deadline of 250 ms passed before this action started".to_owned()
        )
    );
    assert!(total < Duration::from_millis(600), "{total:?}");
    assert_eq!(exec.started(), 2, "no action starts after the deadline");
}

#[tokio::test]
async fn the_executor_sees_the_nearer_of_its_timeout_and_the_target_deadline() {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = Arc::clone(&seen);
    let exec = Scripted::new(move |input| {
        record
            .lock()
            .expect("lock")
            .push((input.deadline - Instant::now(), input.params.clone()));
        ok_after(Duration::ZERO)
    });
    let mut short = action(0, ActionKind::Ping, Duration::from_millis(300));
    short.params = json!({"count": 1}).as_object().cloned().expect("object");
    let long = action(1, ActionKind::Ping, Duration::from_secs(60));
    run_all(
        exec.registry(),
        chunk(targets(1), vec![short, long]),
        config(1, Duration::from_secs(2)),
    )
    .await;
    let seen = seen.lock().expect("lock");
    assert!(
        seen[0].0 <= Duration::from_millis(300) && seen[0].0 > Duration::from_millis(250),
        "{:?}",
        seen[0].0
    );
    assert_eq!(
        seen[0].1.get("count"),
        Some(&json!(1)),
        "params are passed through"
    );
    assert!(
        seen[1].0 <= Duration::from_secs(2) && seen[1].0 > Duration::from_millis(1900),
        "{:?}",
        seen[1].0
    );
}

#[tokio::test]
async fn a_kind_without_an_executor_is_an_error_result() {
    let results = run_all(
        Arc::new(Registry::empty()),
        chunk(
            targets(2),
            vec![action(0, ActionKind::SnmpGet, Duration::from_secs(1))],
        ),
        config(2, Duration::from_secs(1)),
    )
    .await;
    assert_eq!(results.len(), 2);
    for r in &results {
        assert_eq!(r.status, ResultStatus::Error);
        assert_eq!(
            r.reason.as_deref(),
            Some("this agent cannot run snmp_get actions")
        );
    }
}

#[tokio::test]
async fn with_a_liveness_gate_later_actions_run_only_where_the_first_succeeded() {
    // The first action (params `gate`) fails on odd addresses; every other action succeeds.
    let exec = Scripted::new(|input| {
        if input.params.contains_key("gate") && last_octet(input.target) % 2 == 1 {
            async { Err(ActionError::Failed("no reply".into())) }.boxed()
        } else {
            ok_after(Duration::from_millis(1))
        }
    });
    let mut gate = action(0, ActionKind::Ping, Duration::from_secs(5));
    gate.params
        .insert("gate".into(), serde_json::Value::Bool(true));
    let actions = vec![
        gate,
        action(1, ActionKind::Ping, Duration::from_secs(5)),
        action(2, ActionKind::Ping, Duration::from_secs(5)),
    ];
    let gated = RunnerConfig {
        require_first_ok: true,
        ..config(8, Duration::from_secs(5))
    };
    let results = run_all(exec.registry(), chunk(targets(10), actions.clone()), gated).await;
    assert_eq!(
        results.len(),
        30,
        "every (target, action) still has a result"
    );
    assert_eq!(
        exec.started(),
        10 + 5 * 2,
        "odd targets stop after the gate"
    );
    for r in &results {
        let odd = r.target.rsplit('.').next().unwrap().parse::<u8>().unwrap() % 2 == 1;
        match (odd, r.action_index) {
            (true, 0) => assert_eq!(r.status, ResultStatus::Error),
            (true, _) => {
                assert_eq!(r.status, ResultStatus::Error);
                assert!(
                    r.reason
                        .as_deref()
                        .unwrap()
                        .starts_with("skipped: the first action ended error"),
                    "{r:?}"
                );
            }
            (false, _) => assert_eq!(r.status, ResultStatus::Ok, "{r:?}"),
        }
    }

    // Without the gate every action runs everywhere.
    let exec = Scripted::new(|input| {
        if input.params.contains_key("gate") && last_octet(input.target) % 2 == 1 {
            async { Err(ActionError::Failed("no reply".into())) }.boxed()
        } else {
            ok_after(Duration::from_millis(1))
        }
    });
    let results = run_all(
        exec.registry(),
        chunk(targets(10), actions),
        config(8, Duration::from_secs(5)),
    )
    .await;
    assert_eq!(results.len(), 30);
    assert_eq!(exec.started(), 30);
}
