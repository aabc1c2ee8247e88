//! `ping` actions: ICMP echo with surge-ping.
//!
//! One [`PingAction`] serves every chunk of an agent. Its echoes go through an ICMP engine
//! on a thread of its own (see `engine`), which owns one surge-ping [`Client`](surge_ping::Client) — one ICMP
//! socket and its receive task — per address family (and per TTL, since the TTL is a
//! socket option), opened on first use and shared by every echo in flight. Each target's
//! echoes get an identifier from an atomic counter and sequence numbers from another, so
//! no two echoes in flight share (host, identifier, sequence): surge-ping refuses such a
//! pair, and sequence numbers are only 16 bits.
//!
//! Echoes are sent every `interval_ms` without waiting for replies (as `ping -i` does) and
//! each waits `timeout_ms` for its reply, but never past the action's deadline: an echo
//! that cannot be sent in time is not sent, so a short deadline yields fewer echoes rather
//! than no result. Lost echoes are output (`loss_pct`), not errors.
//!
//! ## Layout
//! - `engine` — the engine thread: clients, identifiers, sending and waiting.
//! - `socket` — datagram-then-raw socket opening, socket tuning, and the error that names
//!   what is missing.
//! - `stats` — loss, RTT min/avg/max/mdev, jitter and the iputils-style summary.

mod engine;
mod socket;
mod stats;

use std::net::IpAddr;
use std::sync::OnceLock;
use std::time::Duration;

use futures::FutureExt as _;
use futures::future::BoxFuture;
use opsconductor_core::library::ActionKind;
use opsconductor_core::targets::Target;
use serde::Deserialize;
use serde_json::Value;
use tokio::time::Instant;

use crate::action::{Action, ActionError, ActionInput, ActionOutput};
use engine::{Echo, Engine, Plan};

pub use engine::MAX_PAYLOAD_BYTES;
pub use socket::{
    IcmpSocketError, IpFamily, RECEIVE_BUFFER_BYTES, SocketKind, open_client, open_with_fallback,
    read_ping_group_range, reply_filter, tune_socket,
};
pub use stats::{PingStats, RttStats};

/// Most echoes one action sends.
pub const MAX_COUNT: u32 = 100;

/// Time kept back from the action's deadline so the statistics are out before the runner
/// gives up on the action.
const DEADLINE_GRACE: Duration = Duration::from_millis(10);

/// Which addresses a hostname may resolve to (and which an address target must be).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// Whatever the address is; for a hostname, the first address the resolver returns.
    #[default]
    Auto,
    /// IPv4 only.
    Ipv4,
    /// IPv6 only.
    Ipv6,
}

impl Family {
    /// The name used in params.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Ipv4 => "ipv4",
            Self::Ipv6 => "ipv6",
        }
    }

    fn allows(self, ip: IpAddr) -> bool {
        match self {
            Self::Auto => true,
            Self::Ipv4 => ip.is_ipv4(),
            Self::Ipv6 => ip.is_ipv6(),
        }
    }
}

/// The params of a `ping` command (names fixed by the command library).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct PingParams {
    /// Echoes to send, 1-100.
    pub count: u32,
    /// Milliseconds between two sends.
    pub interval_ms: u64,
    /// Payload bytes per echo.
    pub size: usize,
    /// IP time-to-live (IPv6 hop limit) of the echoes, 1-255.
    pub ttl: u32,
    /// Milliseconds each echo waits for its reply.
    pub timeout_ms: u64,
    /// Address family.
    pub family: Family,
}

impl Default for PingParams {
    fn default() -> Self {
        Self {
            count: 3,
            interval_ms: 200,
            size: 56,
            ttl: 64,
            timeout_ms: 1000,
            family: Family::Auto,
        }
    }
}

impl PingParams {
    fn validate(&self) -> Result<(), ActionError> {
        let problem = if !(1..=MAX_COUNT).contains(&self.count) {
            format!("count must be 1-{MAX_COUNT}, got {}", self.count)
        } else if self.size > MAX_PAYLOAD_BYTES {
            format!(
                "size must be at most {MAX_PAYLOAD_BYTES} bytes, got {}",
                self.size
            )
        } else if !(1..=255).contains(&self.ttl) {
            format!("ttl must be 1-255, got {}", self.ttl)
        } else if self.timeout_ms == 0 {
            "timeout_ms must be at least 1".to_owned()
        } else {
            return Ok(());
        };
        Err(ActionError::InvalidParams(problem))
    }
}

/// The `ping` executor. Cheap to build: the engine thread starts and the sockets open on
/// first use.
#[derive(Debug, Default)]
pub struct PingAction {
    engine: OnceLock<Result<Engine, String>>,
}

impl PingAction {
    /// A ping executor with no thread or socket yet.
    pub fn new() -> Self {
        Self::default()
    }

    fn engine(&self) -> Result<&Engine, ActionError> {
        self.engine
            .get_or_init(Engine::start)
            .as_ref()
            .map_err(|e| ActionError::Failed(e.clone()))
    }

    /// Opens the socket for `family` if needed and says which kind it is: a way to check at
    /// start-up that pings can work here (the error names what is missing).
    pub async fn socket_kind(&self, family: IpFamily) -> Result<SocketKind, ActionError> {
        self.engine()?.open(family).await
    }

    async fn ping(&self, input: ActionInput<'_>) -> Result<ActionOutput, ActionError> {
        let params = PingParams::deserialize(input.params)
            .map_err(|e| ActionError::InvalidParams(e.to_string()))?;
        params.validate()?;
        let mut output = ActionOutput::default();
        let ip = match input.target {
            Target::Ip(ip) => {
                // An IPv4-mapped IPv6 address (::ffff:10.0.0.1) is reached over IPv4.
                let ip = ip.to_canonical();
                if !params.family.allows(ip) {
                    return Err(ActionError::Failed(format!(
                        "{ip} is an {} address but family is {}",
                        IpFamily::of(ip),
                        params.family.as_str()
                    )));
                }
                ip
            }
            Target::Host(host) => {
                let t0 = Instant::now();
                let ip = resolve(host, params.family).await?;
                output.timing("resolve", t0.elapsed());
                ip
            }
        };

        let start = Instant::now();
        let budget = input.deadline.saturating_duration_since(start);
        let plan = Plan {
            ip,
            // At most MAX_COUNT (100): validated above.
            count: u16::try_from(params.count).unwrap_or(1),
            interval: Duration::from_millis(params.interval_ms),
            size: params.size,
            ttl: params.ttl,
            timeout: Duration::from_millis(params.timeout_ms),
            budget: budget - DEADLINE_GRACE.min(budget / 10),
        };
        let echoes = self.engine()?.ping(plan).await?;
        let elapsed = start.elapsed();

        let mut rtts = Vec::with_capacity(echoes.len());
        let (mut errors, mut first_error) = (0_u32, None);
        for echo in echoes {
            match echo {
                Echo::Reply(rtt) => rtts.push(Some(rtt.as_secs_f64() * 1000.0)),
                Echo::Lost => rtts.push(None),
                Echo::Error(reason) => {
                    rtts.push(None);
                    errors += 1;
                    first_error.get_or_insert(reason);
                }
                Echo::NotSent => {}
            }
        }
        if rtts.is_empty() {
            return Err(ActionError::Timeout(format!(
                "no time left before the deadline to send an echo to {ip}"
            )));
        }
        if errors as usize == rtts.len()
            && let Some(reason) = first_error
                .as_deref()
                .filter(|r| r.starts_with("cannot send"))
        {
            // Every send failed locally: nothing reached the network.
            return Err(ActionError::Failed(reason.to_owned()));
        }

        let stats = PingStats::from_rtts(&rtts);
        output.timing("echoes", elapsed);
        output.raw = stats.summary(
            input.target,
            errors,
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
        );
        output.field("sent", stats.sent);
        output.field("received", stats.received);
        output.field("loss_pct", stats::round_ms(stats.loss_pct));
        if let Some(rtt) = &stats.rtt {
            output.field("rtt_min_ms", stats::round_ms(rtt.min));
            output.field("rtt_avg_ms", stats::round_ms(rtt.avg));
            output.field("rtt_max_ms", stats::round_ms(rtt.max));
            output.field("rtt_mdev_ms", stats::round_ms(rtt.mdev));
            output.field("jitter_ms", stats::round_ms(rtt.jitter));
        }
        output.field(
            "rtts_ms",
            Value::Array(
                rtts.iter()
                    .map(|rtt| rtt.map_or(Value::Null, |ms| Value::from(stats::round_ms(ms))))
                    .collect(),
            ),
        );
        if let Target::Host(_) = input.target {
            output.field("address", ip.to_string());
        }
        if let Some(reason) = first_error {
            output.field("errors", errors);
            output.field("error", reason);
        }
        Ok(output)
    }
}

impl Action for PingAction {
    fn kind(&self) -> ActionKind {
        ActionKind::Ping
    }

    fn run<'a>(
        &'a self,
        input: ActionInput<'a>,
    ) -> BoxFuture<'a, Result<ActionOutput, ActionError>> {
        self.ping(input).boxed()
    }
}

/// Resolves a hostname to its first address of the wanted family.
async fn resolve(host: &str, family: Family) -> Result<IpAddr, ActionError> {
    let addrs = crate::resolve::lookup_host(host, 0)
        .await
        .map_err(|e| ActionError::Failed(format!("cannot resolve host {host}: {e}")))?;
    let mut found_other = false;
    for addr in addrs {
        if family.allows(addr.ip()) {
            return Ok(addr.ip());
        }
        found_other = true;
    }
    Err(ActionError::Failed(match (family, found_other) {
        (Family::Ipv4, true) => format!("cannot resolve host {host}: it has no IPv4 address"),
        (Family::Ipv6, true) => format!("cannot resolve host {host}: it has no IPv6 address"),
        _ => format!("cannot resolve host {host}: no address"),
    }))
}
