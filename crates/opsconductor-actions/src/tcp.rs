//! `tcp_port` actions: TCP connect time, and optionally a banner, a request and an
//! expected answer.
//!
//! The action connects (each resolved address in turn for a hostname), writes `send` when
//! given, then reads up to `read_bytes`:
//! - with `expect`, until the answer matches, the peer closes, the cap is reached or time
//!   runs out — a peer that stays silent is a timeout, one that answers something else is
//!   output with `expect_matched: false`;
//! - without it, until the peer closes, the cap is reached, or the peer pauses for
//!   [`BANNER_IDLE`] after its first bytes (a silent port is still an open port: the output
//!   then has an empty banner).
//!
//! Everything — connect, send, read — shares one budget of `timeout_ms`, cut short by the
//! action's deadline.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::FutureExt as _;
use futures::future::BoxFuture;
use opsconductor_core::library::ActionKind;
use opsconductor_core::targets::Target;
use regex::Regex;
use serde::Deserialize;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::action::{Action, ActionError, ActionInput, ActionOutput, push_capped};

/// Most bytes `read_bytes` may ask for.
pub const MAX_READ_BYTES: usize = 65_536;

/// Without `expect`, reading stops when the peer has been quiet this long after its first
/// bytes: banners come in one or two segments, and waiting out the whole timeout on every
/// port would make checks slow.
pub const BANNER_IDLE: Duration = Duration::from_millis(250);

/// Time kept back from the action's deadline so the result is out before the runner gives
/// up on the action.
const DEADLINE_GRACE: Duration = Duration::from_millis(10);

/// Compiled `expect` patterns kept; the cache is emptied when it fills up.
const REGEX_CACHE_SIZE: usize = 64;

/// The params of a `tcp_port` command (names fixed by the command library).
#[derive(Debug, Clone, Deserialize)]
pub struct TcpParams {
    /// Port to connect to.
    pub port: u16,
    /// Bytes to write once connected (as UTF-8).
    #[serde(default)]
    pub send: Option<String>,
    /// Regular expression the answer must match.
    #[serde(default)]
    pub expect: Option<String>,
    /// Most bytes read, 0-65536.
    #[serde(default = "default_read_bytes")]
    pub read_bytes: usize,
    /// Milliseconds for connect, send and read together.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_read_bytes() -> usize {
    1024
}

fn default_timeout_ms() -> u64 {
    3000
}

/// The `tcp_port` executor.
#[derive(Debug, Default)]
pub struct TcpAction {
    /// Compiled `expect` patterns by source: a job checks one pattern on many targets.
    regexes: Mutex<HashMap<String, Arc<Regex>>>,
}

impl TcpAction {
    /// A TCP executor.
    pub fn new() -> Self {
        Self::default()
    }

    fn regex(&self, pattern: &str) -> Result<Arc<Regex>, ActionError> {
        let mut cache = self.regexes.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(regex) = cache.get(pattern) {
            return Ok(Arc::clone(regex));
        }
        let regex = Regex::new(pattern)
            .map(Arc::new)
            .map_err(|e| ActionError::InvalidParams(format!("expect is not a valid regex: {e}")))?;
        if cache.len() >= REGEX_CACHE_SIZE {
            cache.clear();
        }
        cache.insert(pattern.to_owned(), Arc::clone(&regex));
        Ok(regex)
    }

    async fn check(&self, input: ActionInput<'_>) -> Result<ActionOutput, ActionError> {
        let params = TcpParams::deserialize(input.params)
            .map_err(|e| ActionError::InvalidParams(e.to_string()))?;
        if params.read_bytes > MAX_READ_BYTES {
            return Err(ActionError::InvalidParams(format!(
                "read_bytes must be at most {MAX_READ_BYTES}, got {}",
                params.read_bytes
            )));
        }
        if params.timeout_ms == 0 {
            return Err(ActionError::InvalidParams(
                "timeout_ms must be at least 1".to_owned(),
            ));
        }
        let expect = params
            .expect
            .as_deref()
            .map(|p| self.regex(p))
            .transpose()?;

        let started = Instant::now();
        let budget = Duration::from_millis(params.timeout_ms);
        let grace = DEADLINE_GRACE.min(input.deadline.saturating_duration_since(started) / 10);
        let until = (started + budget).min(input.deadline - grace);
        // What "within N ms" says: the time this action really had.
        let budget_ms = until.saturating_duration_since(started).as_millis();

        let mut output = ActionOutput::default();
        let addrs = match input.target {
            Target::Ip(ip) => vec![SocketAddr::new(*ip, params.port)],
            Target::Host(host) => {
                let addrs = tokio::time::timeout_at(
                    until,
                    crate::resolve::lookup_host(host.as_str(), params.port),
                )
                .await
                .map_err(|_| {
                    ActionError::Timeout(format!(
                        "cannot resolve host {host} within {budget_ms} ms"
                    ))
                })?
                .map_err(|e| ActionError::Failed(format!("cannot resolve host {host}: {e}")))?
                .collect::<Vec<_>>();
                output.timing("resolve", started.elapsed());
                addrs
            }
        };

        let (mut stream, peer) = connect(&addrs, until, budget_ms).await?;
        let connect_time = started.elapsed();
        output.timing("connect", connect_time);
        output.field("connect_ms", connect_time.as_secs_f64() * 1000.0);

        if let Some(send) = params.send.as_deref().filter(|s| !s.is_empty()) {
            match tokio::time::timeout_at(until, stream.write_all(send.as_bytes())).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    return Err(ActionError::Failed(format!(
                        "connected to {peer} but sending failed: {e}"
                    )));
                }
                Err(_) => {
                    return Err(ActionError::Timeout(format!(
                        "connected to {peer} but it did not take the request within {budget_ms} ms"
                    )));
                }
            }
        }

        let read_started = Instant::now();
        let read = read_answer(&mut stream, params.read_bytes, expect.as_deref(), until).await;
        if params.read_bytes > 0 {
            output.timing("read", read_started.elapsed());
        }
        let text = String::from_utf8_lossy(&read.bytes);
        if let Some(regex) = &expect {
            if !read.matched {
                if read.bytes.is_empty() {
                    match read.end {
                        ReadEnd::TimedOut => {
                            return Err(ActionError::Timeout(format!(
                                "connected to {peer} but no answer matching the expected pattern \
                                 came within {budget_ms} ms (it sent nothing)"
                            )));
                        }
                        ReadEnd::Failed(e) => {
                            return Err(ActionError::Failed(format!(
                                "connected to {peer} but reading its answer failed: {e}"
                            )));
                        }
                        ReadEnd::Matched | ReadEnd::Closed | ReadEnd::Capped | ReadEnd::Quiet => {}
                    }
                }
                tracing::debug!(tcp.peer = %peer, tcp.expect = %regex.as_str(), "answer did not match");
            }
            output.field("expect_matched", read.matched);
        }
        output.field("banner", text.trim());
        output.field("bytes_read", read.bytes.len());
        output.raw = text.into_owned();
        Ok(output)
    }
}

impl Action for TcpAction {
    fn kind(&self) -> ActionKind {
        ActionKind::TcpPort
    }

    fn run<'a>(
        &'a self,
        input: ActionInput<'a>,
    ) -> BoxFuture<'a, Result<ActionOutput, ActionError>> {
        self.check(input).boxed()
    }
}

/// Connects to the first address that accepts; the error is about the last one tried.
async fn connect(
    addrs: &[SocketAddr],
    until: Instant,
    budget_ms: u128,
) -> Result<(TcpStream, SocketAddr), ActionError> {
    let mut last = ActionError::Failed("the host resolved to no address".to_owned());
    for &addr in addrs {
        match tokio::time::timeout_at(until, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => {
                // Small requests go out at once rather than waiting for Nagle.
                let _ = stream.set_nodelay(true);
                return Ok((stream, addr));
            }
            Ok(Err(e)) => last = connect_error(addr, &e),
            Err(_) => {
                return Err(ActionError::Timeout(format!(
                    "no TCP answer from {addr} within {budget_ms} ms"
                )));
            }
        }
    }
    Err(last)
}

/// A failed connect in operator terms: refused is a definite answer, unreachable is not.
fn connect_error(addr: SocketAddr, e: &io::Error) -> ActionError {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => {
            ActionError::Failed(format!("connection refused by {addr}"))
        }
        io::ErrorKind::HostUnreachable
        | io::ErrorKind::NetworkUnreachable
        | io::ErrorKind::TimedOut => {
            ActionError::Timeout(format!("no TCP answer from {addr}: {e}"))
        }
        _ => ActionError::Failed(format!("cannot connect to {addr}: {e}")),
    }
}

/// Why reading stopped.
#[derive(Debug)]
enum ReadEnd {
    /// The answer matched `expect`.
    Matched,
    /// The peer closed its side.
    Closed,
    /// `read_bytes` were read.
    Capped,
    /// No `expect`, and the peer paused after sending something.
    Quiet,
    /// Time ran out.
    TimedOut,
    /// The connection failed (reset...).
    Failed(io::Error),
}

struct Answer {
    bytes: Vec<u8>,
    matched: bool,
    end: ReadEnd,
}

async fn read_answer(
    stream: &mut TcpStream,
    cap: usize,
    expect: Option<&Regex>,
    until: Instant,
) -> Answer {
    let mut bytes = Vec::with_capacity(cap.min(4096));
    let is_match =
        |bytes: &[u8]| expect.is_some_and(|re| re.is_match(&String::from_utf8_lossy(bytes)));
    if cap == 0 {
        let matched = is_match(&bytes);
        return Answer {
            bytes,
            matched,
            end: ReadEnd::Capped,
        };
    }
    let mut chunk = [0_u8; 8192];
    let end = loop {
        let wait_until = if expect.is_none() && !bytes.is_empty() {
            until.min(Instant::now() + BANNER_IDLE)
        } else {
            until
        };
        let want = chunk.len().min(cap - bytes.len());
        match tokio::time::timeout_at(wait_until, stream.read(&mut chunk[..want])).await {
            Err(_) if wait_until < until => break ReadEnd::Quiet,
            Err(_) => break ReadEnd::TimedOut,
            Ok(Ok(0)) => break ReadEnd::Closed,
            Ok(Ok(n)) => {
                push_capped(&mut bytes, &chunk[..n], cap);
                if is_match(&bytes) {
                    break ReadEnd::Matched;
                }
                if bytes.len() >= cap {
                    break ReadEnd::Capped;
                }
            }
            Ok(Err(e)) => break ReadEnd::Failed(e),
        }
    };
    Answer {
        matched: matches!(end, ReadEnd::Matched),
        bytes,
        end,
    }
}
