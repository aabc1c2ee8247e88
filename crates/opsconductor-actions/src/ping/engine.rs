//! The ICMP engine: one thread with its own single-threaded Tokio runtime that owns the
//! surge-ping clients, sends every echo and receives every reply.
//!
//! Sends and receives on one socket from two threads fight over the kernel's socket lock:
//! surge-ping's receive task asks for the socket's address (`getsockname`, which takes the
//! lock) for every packet while a send holds it through the whole loopback delivery. On
//! 2 cores a loopback /16 sweep took 1.1-1.6 s that way, and 0.65 s with this thread
//! (`benches/ping_sweep.rs`; fping: 0.92 s).
//! The thread also makes the engine independent of the runtime the agent runs chunks on:
//! the clients' receive tasks live as long as the engine, whatever runtime asks.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use futures::future::join_all;
use surge_ping::{Client, IcmpPacket, PingIdentifier, PingSequence, SurgeError};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::socket::{
    IpFamily, RECEIVE_BUFFER_BYTES, SocketKind, open_client, open_with_fallback, tune_socket,
};
use crate::action::ActionError;

/// Largest payload: an IPv4 datagram is at most 65,535 bytes, less 20 of IP header and 8
/// of ICMP header.
pub const MAX_PAYLOAD_BYTES: usize = 65_507;

/// Payload source: zeros, sliced to the requested size, so echoes allocate nothing for it.
static PAYLOAD: [u8; MAX_PAYLOAD_BYTES] = [0; MAX_PAYLOAD_BYTES];

/// An echo is not sent with less time than this left to wait for it.
const MIN_ECHO_WAIT: Duration = Duration::from_millis(1);

/// Sequence numbers skipped when a (host, identifier, sequence) is still in flight.
const SEQ_SKIP: u16 = 128;

/// ICMP echo reply types.
const ICMPV4_ECHO_REPLY: u8 = 0;
const ICMPV6_ECHO_REPLY: u8 = 129;

/// How one echo ended.
#[derive(Debug)]
pub(super) enum Echo {
    /// Answered after this long.
    Reply(Duration),
    /// No answer in time.
    Lost,
    /// An ICMP error came back, or the send failed.
    Error(String),
    /// Not sent: the deadline was too close.
    NotSent,
}

/// The echoes to send to one address.
#[derive(Debug, Clone, Copy)]
pub(super) struct Plan {
    pub ip: IpAddr,
    pub count: u16,
    pub interval: Duration,
    pub size: usize,
    pub ttl: u32,
    pub timeout: Duration,
    /// Time from the first send until nothing waits any more. A duration rather than an
    /// instant: the caller's runtime may keep another clock (a paused test clock).
    pub budget: Duration,
}

enum Job {
    Ping(Plan, oneshot::Sender<Result<Vec<Echo>, ActionError>>),
    Open(IpFamily, oneshot::Sender<Result<SocketKind, ActionError>>),
}

/// Handle to the engine thread; dropping it ends the thread once running pings finish.
#[derive(Debug)]
pub(super) struct Engine {
    jobs: mpsc::UnboundedSender<Job>,
}

impl Engine {
    /// Starts the engine thread.
    pub fn start() -> Result<Self, String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the ping engine's runtime: {e}"))?;
        let (jobs, mut queue) = mpsc::unbounded_channel();
        std::thread::Builder::new()
            .name("opsconductor-ping".to_owned())
            .spawn(move || {
                runtime.block_on(async move {
                    let state = std::sync::Arc::new(State::new());
                    while let Some(job) = queue.recv().await {
                        tokio::spawn(std::sync::Arc::clone(&state).run(job));
                    }
                });
            })
            .map_err(|e| format!("cannot start the ping engine's thread: {e}"))?;
        Ok(Self { jobs })
    }

    /// Sends the planned echoes and reports how each ended, in order.
    pub async fn ping(&self, plan: Plan) -> Result<Vec<Echo>, ActionError> {
        let (tx, rx) = oneshot::channel();
        self.jobs.send(Job::Ping(plan, tx)).map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }

    /// Opens (or finds) the socket for `family` and says which kind it is.
    pub async fn open(&self, family: IpFamily) -> Result<SocketKind, ActionError> {
        let (tx, rx) = oneshot::channel();
        self.jobs
            .send(Job::Open(family, tx))
            .map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }
}

fn stopped() -> ActionError {
    ActionError::Failed(
        "internal error in the ping engine (it stopped or panicked); please report it".to_owned(),
    )
}

/// What the engine thread owns.
struct State {
    /// Clients by (family, TTL): the TTL is a socket option, so in practice one per family.
    clients: std::sync::Mutex<HashMap<(IpFamily, u32), (Client, SocketKind)>>,
    /// Next echo identifier (raw sockets put it on the wire; datagram sockets let the
    /// kernel choose it and tell replies apart by (host, sequence) alone).
    next_ident: AtomicU16,
    /// Next sequence number; a target takes `count` consecutive ones.
    next_seq: AtomicU16,
}

impl State {
    fn new() -> Self {
        // Random starting points keep two agents on one host apart (raw sockets see each
        // other's replies).
        Self {
            clients: std::sync::Mutex::new(HashMap::new()),
            next_ident: AtomicU16::new(rand::random()),
            next_seq: AtomicU16::new(rand::random()),
        }
    }

    async fn run(self: std::sync::Arc<Self>, job: Job) {
        match job {
            Job::Open(family, reply) => {
                let _ = reply.send(self.client(family, 64).map(|(_, kind)| kind));
            }
            Job::Ping(plan, mut reply) => {
                let echoes = tokio::select! {
                    // The caller gave up (deadline, cancel): stop waiting for replies.
                    () = reply.closed() => return,
                    echoes = self.ping(plan) => echoes,
                };
                let _ = reply.send(echoes);
            }
        }
    }

    /// The shared client for a family and TTL, opened on first use.
    fn client(&self, family: IpFamily, ttl: u32) -> Result<(Client, SocketKind), ActionError> {
        let mut clients = self
            .clients
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((client, kind)) = clients.get(&(family, ttl)) {
            return Ok((client.clone(), *kind));
        }
        let (client, kind) = open_with_fallback(family, |kind| open_client(family, kind, ttl))
            .map_err(|e| ActionError::Failed(e.to_string()))?;
        match tune_socket(client.get_socket().get_native_sock(), family, kind) {
            Ok(bytes) if bytes >= RECEIVE_BUFFER_BYTES => tracing::debug!(
                ping.family = %family,
                ping.socket = ?kind,
                ping.ttl = ttl,
                socket.receive_buffer_bytes = bytes,
                "icmp socket opened"
            ),
            Ok(bytes) => tracing::warn!(
                ping.family = %family,
                socket.receive_buffer_bytes = bytes,
                "icmp socket receive buffer stays below {RECEIVE_BUFFER_BYTES} bytes \
                 (net.core.rmem_max); replies may be dropped in large sweeps"
            ),
            Err(e) => tracing::warn!(
                ping.family = %family,
                error = %e,
                "cannot tune the icmp socket (receive buffer, reply filter); replies may be \
                 dropped in large sweeps"
            ),
        }
        clients.insert((family, ttl), (client.clone(), kind));
        Ok((client, kind))
    }

    async fn ping(&self, plan: Plan) -> Result<Vec<Echo>, ActionError> {
        let (client, _) = self.client(IpFamily::of(plan.ip), plan.ttl)?;
        let seq_base = self.next_seq.fetch_add(plan.count, Ordering::Relaxed);
        let ident = PingIdentifier(self.next_ident.fetch_add(1, Ordering::Relaxed));
        let payload = &PAYLOAD[..plan.size.min(MAX_PAYLOAD_BYTES)];
        let start = Instant::now();
        let finish_by = start + plan.budget;
        let echo = |i: u16| {
            let send_at = start + plan.interval * u32::from(i);
            let seq = seq_base.wrapping_add(i);
            echo(&client, &plan, ident, seq, payload, send_at, finish_by)
        };
        Ok(if plan.count == 1 {
            vec![echo(0).await]
        } else {
            join_all((0..plan.count).map(echo)).await
        })
    }
}

/// Sends one echo at `send_at` and waits for its reply until the plan's timeout or
/// `finish_by`, whichever is nearer.
async fn echo(
    client: &Client,
    plan: &Plan,
    ident: PingIdentifier,
    mut seq: u16,
    payload: &[u8],
    send_at: Instant,
    finish_by: Instant,
) -> Echo {
    if send_at > Instant::now() {
        tokio::time::sleep_until(send_at).await;
    }
    let wait = plan
        .timeout
        .min(finish_by.saturating_duration_since(Instant::now()));
    if wait < MIN_ECHO_WAIT {
        return Echo::NotSent;
    }
    let ip = plan.ip;
    let mut pinger = client.pinger(ip, ident).await;
    pinger.timeout(wait);
    // A (host, identifier, sequence) still waited for elsewhere — only possible once the
    // 16-bit counters wrapped with that many echoes in flight: take another number.
    for _ in 0..4 {
        match pinger.ping(PingSequence(seq), payload).await {
            Ok((packet, rtt)) => return reply_or_error(&packet, rtt),
            Err(SurgeError::Timeout { .. }) => return Echo::Lost,
            Err(SurgeError::IdenticalRequests { .. }) => seq = seq.wrapping_add(SEQ_SKIP),
            Err(SurgeError::IOError(e)) => return Echo::Error(format!("cannot send to {ip}: {e}")),
            Err(e) => return Echo::Error(format!("echo to {ip} failed: {e}")),
        }
    }
    Echo::Error(format!(
        "echo to {ip} failed: too many echoes in flight to it"
    ))
}

/// An echo reply, or the ICMP error that came back instead.
fn reply_or_error(packet: &IcmpPacket, rtt: Duration) -> Echo {
    let (reason, from) = match packet {
        IcmpPacket::V4(p) => {
            let kind = p.get_icmp_type().0;
            if kind == ICMPV4_ECHO_REPLY {
                return Echo::Reply(rtt);
            }
            (
                icmpv4_error(kind, p.get_icmp_code().0),
                p.get_source().to_string(),
            )
        }
        IcmpPacket::V6(p) => {
            let kind = p.get_icmpv6_type().0;
            if kind == ICMPV6_ECHO_REPLY {
                return Echo::Reply(rtt);
            }
            (
                icmpv6_error(kind, p.get_icmpv6_code().0),
                p.get_source().to_string(),
            )
        }
    };
    Echo::Error(format!("{reason} (from {from})"))
}

/// What an ICMPv4 error type and code mean, in ping's words.
fn icmpv4_error(kind: u8, code: u8) -> String {
    match (kind, code) {
        (3, 0) => "destination net unreachable".to_owned(),
        (3, 1) => "destination host unreachable".to_owned(),
        (3, 2) => "destination protocol unreachable".to_owned(),
        (3, 3) => "destination port unreachable".to_owned(),
        (3, 4) => "fragmentation needed".to_owned(),
        (3, 9 | 10 | 13) => "communication administratively prohibited".to_owned(),
        (3, _) => format!("destination unreachable (code {code})"),
        (11, _) => "time to live exceeded".to_owned(),
        (12, _) => "parameter problem".to_owned(),
        _ => format!("unexpected ICMP type {kind} code {code}"),
    }
}

/// What an ICMPv6 error type and code mean, in ping's words.
fn icmpv6_error(kind: u8, code: u8) -> String {
    match (kind, code) {
        (1, 0) => "no route to destination".to_owned(),
        (1, 1) => "communication administratively prohibited".to_owned(),
        (1, 3) => "address unreachable".to_owned(),
        (1, 4) => "port unreachable".to_owned(),
        (1, _) => format!("destination unreachable (code {code})"),
        (2, _) => "packet too big".to_owned(),
        (3, _) => "hop limit exceeded".to_owned(),
        (4, _) => "parameter problem".to_owned(),
        _ => format!("unexpected ICMPv6 type {kind} code {code}"),
    }
}
