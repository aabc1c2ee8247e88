//! `ssh_port` and `ssh_command` actions.
//!
//! - [`SshPortAction`] (`port.rs`) — connects, reads the server's identification line
//!   (`SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3`) and reports it; no key exchange, no login.
//! - [`SshCommandAction`] (`command.rs`) — logs in with a password or a private key over
//!   russh, checks the host key with a [`HostKeyVerifier`](crate::hostkey::HostKeyVerifier)
//!   and runs one command, keeping at most `max_output_bytes` of its output.
//!
//! This file holds what both share: the timeout budget, TCP connect with operator-facing
//! errors, and how an address is written in messages.

mod command;
mod port;

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use opsconductor_core::targets::Target;
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::action::{ActionError, ActionInput};

pub use command::SshCommandAction;
pub use port::SshPortAction;

/// The identification string this client sends; the version lets device admins tell our
/// probes apart in their logs.
const CLIENT_ID: &str = concat!("SSH-2.0-OpsConductor_", env!("CARGO_PKG_VERSION"));

/// The time an action may take: its own `timeout_ms`, cut short by the runner's deadline.
#[derive(Debug, Clone, Copy)]
struct Budget {
    started: Instant,
    deadline: Instant,
}

impl Budget {
    fn new(input: &ActionInput<'_>, timeout_ms: u64) -> Self {
        let started = Instant::now();
        let own = started + Duration::from_millis(timeout_ms);
        Self {
            started,
            deadline: own.min(input.deadline),
        }
    }

    /// The whole budget in milliseconds, as messages quote it.
    fn total_ms(&self) -> u128 {
        self.deadline
            .saturating_duration_since(self.started)
            .as_millis()
    }

    /// Runs `fut` until the deadline; past it, returns the timeout `message` builds.
    async fn run<T>(
        &self,
        fut: impl Future<Output = T>,
        message: impl FnOnce(u128) -> String,
    ) -> Result<T, ActionError> {
        tokio::time::timeout_at(self.deadline, fut)
            .await
            .map_err(|_| ActionError::Timeout(message(self.total_ms())))
    }
}

/// `host:port` as operators write it (`[::1]:22` for IPv6).
fn host_port(target: &Target, port: u16) -> String {
    match target {
        Target::Ip(IpAddr::V6(ip)) => format!("[{ip}]:{port}"),
        Target::Ip(IpAddr::V4(ip)) => format!("{ip}:{port}"),
        Target::Host(name) => format!("{name}:{port}"),
    }
}

/// Checks the `port` param (`u16` already rules out values above 65535).
fn check_port(port: u16) -> Result<(), ActionError> {
    if port == 0 {
        return Err(ActionError::InvalidParams(
            "port must be between 1 and 65535".to_owned(),
        ));
    }
    Ok(())
}

/// An open TCP connection and how long it took.
struct Connected {
    stream: TcpStream,
    connect_time: Duration,
}

/// Resolves the target and connects to the first address that answers.
async fn connect(target: &Target, port: u16, budget: &Budget) -> Result<Connected, ActionError> {
    let t0 = Instant::now();
    let addrs: Vec<SocketAddr> = match target {
        Target::Ip(ip) => vec![SocketAddr::new(*ip, port)],
        Target::Host(name) => {
            let resolved = budget
                .run(crate::resolve::lookup_host(name.as_str(), port), |ms| {
                    format!("could not resolve {name} within {ms} ms")
                })
                .await?
                .map_err(|e| ActionError::Failed(format!("could not resolve {name}: {e}")))?;
            let addrs: Vec<SocketAddr> = resolved.collect();
            if addrs.is_empty() {
                return Err(ActionError::Failed(format!("{name} has no addresses")));
            }
            addrs
        }
    };
    let mut last_error = None;
    for addr in addrs {
        let attempt = budget
            .run(TcpStream::connect(addr), |ms| {
                format!("no answer from {addr} within {ms} ms (TCP connect)")
            })
            .await?;
        match attempt {
            Ok(stream) => {
                // Small request/response exchanges: do not let Nagle hold them back.
                let _ = stream.set_nodelay(true);
                return Ok(Connected {
                    stream,
                    connect_time: t0.elapsed(),
                });
            }
            Err(e) => last_error = Some(connect_error(addr, &e)),
        }
    }
    Err(last_error.unwrap_or_else(|| ActionError::Failed("no address to connect to".to_owned())))
}

/// Says what a failed TCP connect means on the network.
fn connect_error(addr: SocketAddr, e: &io::Error) -> ActionError {
    let message = match e.kind() {
        io::ErrorKind::ConnectionRefused => format!("connection refused by {addr}"),
        io::ErrorKind::NetworkUnreachable => format!("network unreachable for {addr}"),
        io::ErrorKind::HostUnreachable => format!("host unreachable: {addr}"),
        io::ErrorKind::TimedOut => format!("no answer from {addr} (TCP connect timed out)"),
        _ => format!("could not connect to {addr}: {e}"),
    };
    ActionError::Failed(message)
}

/// Milliseconds as a JSON number with sub-millisecond precision.
fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// Up to `max_chars` of a line received from a device, quoted and escaped so control
/// bytes and binary garbage stay readable in a one-line reason.
fn quote_excerpt(bytes: &[u8], max_chars: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::with_capacity(max_chars.min(text.len()) + 8);
    out.push('"');
    let mut chars = text.chars();
    for c in chars.by_ref().take(max_chars) {
        out.extend(c.escape_debug());
    }
    if chars.next().is_some() {
        out.push('…');
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_targets_are_bracketed_in_messages() {
        let v6 = Target::Ip("::1".parse().unwrap());
        let v4 = Target::Ip("10.0.0.1".parse().unwrap());
        let host = Target::host("Core-SW1.example").unwrap();
        assert_eq!(host_port(&v6, 22), "[::1]:22");
        assert_eq!(host_port(&v4, 2222), "10.0.0.1:2222");
        assert_eq!(host_port(&host, 22), "core-sw1.example:22");
    }

    #[test]
    fn excerpts_escape_control_bytes_and_are_capped() {
        assert_eq!(
            quote_excerpt(b"HTTP/1.1 400 Bad Request", 80),
            "\"HTTP/1.1 400 Bad Request\""
        );
        assert_eq!(quote_excerpt(b"\x00\x01\xff", 80), "\"\\0\\u{1}\u{fffd}\"");
        assert_eq!(quote_excerpt(b"abcdef", 3), "\"abc…\"");
    }
}
