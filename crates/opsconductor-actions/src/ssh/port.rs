//! `ssh_port`: is an SSH server listening, and which one?
//!
//! Both sides of SSH send an identification line as soon as the connection opens
//! (RFC 4253 §4.2), so the check sends ours and reads the server's. Sending ours is what a
//! real client does, keeps the server's log free of "did not receive identification
//! string" noise, and makes a non-SSH server (HTTP, SMTP...) answer with something that
//! shows what it is instead of waiting silently for a request.

use futures::future::BoxFuture;
use opsconductor_core::library::ActionKind;
use serde::Deserialize;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::{Budget, CLIENT_ID, Connected, check_port, connect, host_port, millis, quote_excerpt};
use crate::action::{Action, ActionError, ActionInput, ActionOutput};

/// Longest identification line accepted (RFC 4253 allows 255 bytes; servers that pad
/// it with long comments exist, so be generous).
const MAX_LINE_BYTES: usize = 1024;
/// Text lines a server may send before its identification line (RFC 4253 §4.2 allows
/// them; a server sending more than this is not worth waiting for).
const MAX_PRE_IDENT_LINES: usize = 32;
/// Longest quote of a non-SSH server's first line in a reason.
const EXCERPT_CHARS: usize = 80;

/// Params of `ssh_port`.
#[derive(Debug, Deserialize)]
struct Params {
    /// TCP port of the SSH server.
    #[serde(default = "default_port")]
    port: u16,
    /// How long to wait for connect and identification together.
    #[serde(default = "default_timeout_ms")]
    timeout_ms: u64,
}

fn default_port() -> u16 {
    22
}

fn default_timeout_ms() -> u64 {
    3000
}

/// The `ssh_port` executor: connect and read the server's identification line.
#[derive(Debug, Clone, Copy, Default)]
pub struct SshPortAction;

impl SshPortAction {
    /// A new executor (it holds no state).
    pub fn new() -> Self {
        Self
    }
}

impl Action for SshPortAction {
    fn kind(&self) -> ActionKind {
        ActionKind::SshPort
    }

    fn run<'a>(
        &'a self,
        input: ActionInput<'a>,
    ) -> BoxFuture<'a, Result<ActionOutput, ActionError>> {
        Box::pin(check(input))
    }
}

async fn check(input: ActionInput<'_>) -> Result<ActionOutput, ActionError> {
    let params: Params = input.params()?;
    check_port(params.port)?;
    let budget = Budget::new(&input, params.timeout_ms);
    let address = host_port(input.target, params.port);

    let Connected {
        mut stream,
        connect_time,
    } = connect(input.target, params.port, &budget).await?;
    let t_ident = Instant::now();
    // A write error means the server already closed; reading says how, so carry on.
    let _ = stream
        .write_all(format!("{CLIENT_ID}\r\n").as_bytes())
        .await;
    let ident = read_identification(&mut stream, &budget, &address).await?;
    let ident_time = t_ident.elapsed();
    // Closing now is fine: a client may leave before key exchange.
    drop(stream);

    let mut out = ActionOutput::default();
    out.field("banner", ident.line.clone());
    out.field("connect_ms", millis(connect_time));
    out.field("protocol_version", ident.protocol_version);
    out.field("software", ident.software);
    if let Some(comments) = ident.comments {
        out.field("comments", comments);
    }
    out.timing("connect_ms", connect_time);
    out.timing("banner_ms", ident_time);
    out.raw = ident.line;
    Ok(out)
}

/// A server's identification line, split into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Identification {
    /// The whole line without CR LF.
    line: String,
    /// `2.0` (or `1.99`, `1.5` for old servers).
    protocol_version: String,
    /// `OpenSSH_9.2p1`.
    software: String,
    /// What follows the first space (`Debian-2+deb12u3`).
    comments: Option<String>,
}

/// What one line received before the identification says.
#[derive(Debug, PartialEq, Eq)]
enum LineVerdict {
    /// The identification line.
    Identification(Identification),
    /// Text a server may send first; keep reading.
    PreIdentText,
    /// Certainly not an SSH server.
    NotSsh,
}

/// Classifies one line (without its line ending).
fn classify(line: &[u8]) -> LineVerdict {
    if line.starts_with(b"SSH-") {
        return match parse_identification(line) {
            Some(ident) => LineVerdict::Identification(ident),
            None => LineVerdict::NotSsh,
        };
    }
    // Another protocol answering our identification line as a request.
    if line.starts_with(b"HTTP/") {
        return LineVerdict::NotSsh;
    }
    // RFC 4253 lines are UTF-8 text; OpenSSH itself rejects control characters here.
    let is_text = std::str::from_utf8(line).is_ok()
        && !line.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f);
    if is_text {
        LineVerdict::PreIdentText
    } else {
        LineVerdict::NotSsh
    }
}

/// Parses `SSH-protoversion-softwareversion[ SP comments]`.
fn parse_identification(line: &[u8]) -> Option<Identification> {
    let text = std::str::from_utf8(line).ok()?;
    let rest = text.strip_prefix("SSH-")?;
    let (protocol_version, rest) = rest.split_once('-')?;
    let (software, comments) = match rest.split_once(' ') {
        Some((software, comments)) => (software, Some(comments)),
        None => (rest, None),
    };
    let printable = |s: &str| s.bytes().all(|b| b.is_ascii_graphic());
    if protocol_version.is_empty()
        || software.is_empty()
        || !printable(protocol_version)
        || !printable(software)
        || comments.is_some_and(|c| c.chars().any(char::is_control))
    {
        return None;
    }
    Some(Identification {
        line: text.to_owned(),
        protocol_version: protocol_version.to_owned(),
        software: software.to_owned(),
        comments: comments.filter(|c| !c.is_empty()).map(str::to_owned),
    })
}

/// Reads lines until the identification line, with every way this can go wrong named.
async fn read_identification(
    stream: &mut TcpStream,
    budget: &Budget,
    address: &str,
) -> Result<Identification, ActionError> {
    let mut buf: Vec<u8> = Vec::with_capacity(512);
    let mut first_line: Option<Vec<u8>> = None;
    let mut lines = 0usize;
    let not_ssh = |first: &[u8]| {
        ActionError::Failed(format!(
            "not an SSH server: first line {}",
            quote_excerpt(first, EXCERPT_CHARS)
        ))
    };
    loop {
        // Every complete line in the buffer first.
        while let Some(end) = buf.iter().position(|&b| b == b'\n') {
            let mut line: Vec<u8> = buf.drain(..=end).collect();
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            lines += 1;
            match classify(&line) {
                LineVerdict::Identification(ident) => return Ok(ident),
                LineVerdict::NotSsh => return Err(not_ssh(first_line.as_deref().unwrap_or(&line))),
                LineVerdict::PreIdentText => {
                    first_line.get_or_insert(line);
                    if lines >= MAX_PRE_IDENT_LINES {
                        return Err(not_ssh(first_line.as_deref().unwrap_or_default()));
                    }
                }
            }
        }
        if buf.len() > MAX_LINE_BYTES {
            return Err(not_ssh(first_line.as_deref().unwrap_or(&buf)));
        }

        let mut chunk = [0u8; 512];
        let read = budget.run(stream.read(&mut chunk), |ms| match &first_line {
            None if buf.is_empty() => format!(
                "connected to {address}, but it sent no SSH identification line within {ms} ms"
            ),
            _ => format!(
                "not an SSH server: first line {} and no SSH identification line within {ms} ms",
                quote_excerpt(first_line.as_deref().unwrap_or(&buf), EXCERPT_CHARS)
            ),
        });
        let n = match read.await {
            Ok(Ok(n)) => n,
            Ok(Err(e)) => {
                return Err(ActionError::Failed(format!(
                    "{address} reset the connection before sending an SSH identification line: {e}"
                )));
            }
            // Text without an identification line is an answer, just not SSH.
            Err(ActionError::Timeout(message)) if first_line.is_some() || !buf.is_empty() => {
                return Err(ActionError::Failed(message));
            }
            Err(timeout) => return Err(timeout),
        };
        if n == 0 {
            // The connection closed: a last unterminated line still counts.
            if !buf.is_empty() {
                let line = std::mem::take(&mut buf);
                if let LineVerdict::Identification(ident) = classify(&line) {
                    return Ok(ident);
                }
                return Err(not_ssh(first_line.as_deref().unwrap_or(&line)));
            }
            return Err(match first_line {
                Some(first) => not_ssh(&first),
                None => ActionError::Failed(format!(
                    "{address} closed the connection without sending an SSH identification line"
                )),
            });
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identification_lines_are_split_into_their_parts() {
        let ident = parse_identification(b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3").unwrap();
        assert_eq!(ident.protocol_version, "2.0");
        assert_eq!(ident.software, "OpenSSH_9.2p1");
        assert_eq!(ident.comments.as_deref(), Some("Debian-2+deb12u3"));

        let old = parse_identification(b"SSH-1.99-Cisco-1.25").unwrap();
        assert_eq!(
            (old.protocol_version.as_str(), old.software.as_str()),
            ("1.99", "Cisco-1.25")
        );
        assert_eq!(old.comments, None);
    }

    #[test]
    fn malformed_identification_lines_are_rejected() {
        for line in [
            &b"SSH-"[..],
            b"SSH-2.0",
            b"SSH-2.0-",
            b"SSH--OpenSSH",
            b"SSH-2.0-Open\x01SSH",
        ] {
            assert_eq!(
                parse_identification(line),
                None,
                "{}",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn lines_before_the_identification_are_judged() {
        assert!(matches!(
            classify(b"SSH-2.0-dropbear_2022.83"),
            LineVerdict::Identification(_)
        ));
        assert_eq!(
            classify(b"Welcome, authorised users only"),
            LineVerdict::PreIdentText
        );
        assert_eq!(classify(b"HTTP/1.1 400 Bad Request"), LineVerdict::NotSsh);
        assert_eq!(classify(b"\x16\x03\x01\x00"), LineVerdict::NotSsh);
        assert_eq!(classify(b"\xff\xfb\x01"), LineVerdict::NotSsh);
    }
}
