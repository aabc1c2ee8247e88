//! `ssh_command`: log in and run one command.
//!
//! One connection per command: connect, key exchange (curve25519 first, see
//! [`preferred_algorithms`]), host-key check through the [`HostKeyVerifier`], password or
//! public-key login, one `exec` channel with stdin closed, then disconnect. Output beyond
//! `max_output_bytes` is read and dropped so the command still completes and reports its
//! exit status, while memory stays bounded by russh's per-channel buffer.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::future::BoxFuture;
use opsconductor_core::library::ActionKind;
use russh::keys::{HashAlg, PrivateKey, PrivateKeyWithHashAlg, PublicKeyOrCertificate};
use russh::{
    AlgorithmKind, ChannelMsg, Disconnect, MethodKind, Names, Preferred, Sig, SshId, client, kex,
};
use serde::Deserialize;
use tokio::time::Instant;

use super::{Budget, CLIENT_ID, Connected, check_port, connect, host_port, millis};
use crate::action::{
    Action, ActionError, ActionInput, ActionOutput, MAX_RAW_OUTPUT_BYTES, push_capped,
};
use crate::credential::{Credential, Secret};
use crate::hostkey::{HostKey, HostKeyDecision, HostKeyVerifier};

/// Most stderr bytes kept for the `stderr` field.
const MAX_STDERR_BYTES: usize = 4096;
/// Terminal size requested with `pty`: wide and tall so devices that paginate for a
/// terminal (`--More--`) print whole tables without waiting for a key press.
const PTY_COLUMNS: u32 = 512;
const PTY_ROWS: u32 = 1000;
/// Key exchanges moved to the front of russh's list: curve25519 costs about a third of the
/// post-quantum hybrid here (anchors.md: ≈53 vs ≈19 sessions/s for 10 in parallel), and a
/// monitor opens a session per check. The hybrid stays in the list, after these.
const FAST_KEX: [kex::Name; 2] = [kex::CURVE25519, kex::CURVE25519_PRE_RFC_8731];
/// How long russh's session task may outlive the action's deadline (see [`client_config`]).
const SESSION_GRACE: Duration = Duration::from_secs(5);

/// Params of `ssh_command`.
#[derive(Debug, Deserialize)]
struct Params {
    /// Command line, run by the user's login shell.
    command: String,
    /// TCP port of the SSH server.
    #[serde(default = "default_port")]
    port: u16,
    /// Budget for connect, login and the command together.
    #[serde(default = "default_timeout_ms")]
    timeout_ms: u64,
    /// Stdout bytes kept as raw output; the rest is read and dropped.
    #[serde(default = "default_max_output_bytes")]
    max_output_bytes: usize,
    /// Run the command on a pseudo-terminal (some network devices need one).
    #[serde(default)]
    pty: bool,
}

fn default_port() -> u16 {
    22
}

fn default_timeout_ms() -> u64 {
    10_000
}

fn default_max_output_bytes() -> usize {
    MAX_RAW_OUTPUT_BYTES
}

/// The `ssh_command` executor.
pub struct SshCommandAction {
    verifier: Arc<dyn HostKeyVerifier>,
    preferred: Preferred,
}

impl fmt::Debug for SshCommandAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SshCommandAction")
            .field("kex", &self.preferred.kex)
            .finish_non_exhaustive()
    }
}

impl SshCommandAction {
    /// An executor that checks every server's host key with `verifier` before logging in.
    pub fn new(verifier: Arc<dyn HostKeyVerifier>) -> Self {
        Self {
            verifier,
            preferred: preferred_algorithms(),
        }
    }
}

impl Action for SshCommandAction {
    fn kind(&self) -> ActionKind {
        ActionKind::SshCommand
    }

    fn run<'a>(
        &'a self,
        input: ActionInput<'a>,
    ) -> BoxFuture<'a, Result<ActionOutput, ActionError>> {
        Box::pin(self.execute(input))
    }
}

/// russh's algorithm preferences with the fast key exchanges first.
fn preferred_algorithms() -> Preferred {
    let mut kex_order: Vec<kex::Name> = Preferred::DEFAULT.kex.to_vec();
    // A stable sort keeps every other algorithm in russh's order.
    kex_order.sort_by_key(|name| !FAST_KEX.contains(name));
    Preferred {
        kex: Cow::Owned(kex_order),
        ..Preferred::DEFAULT
    }
}

/// The session config for one action.
///
/// russh runs the session in a task of its own, which outlives our future when the
/// handshake times out; the inactivity timeout bounds that task. It sits a little after
/// the action's own deadline so that deadline, with its clearer message, always fires first.
fn client_config(preferred: &Preferred, budget: &Budget) -> client::Config {
    let remaining = budget.deadline.saturating_duration_since(Instant::now());
    client::Config {
        client_id: SshId::Standard(Cow::Borrowed(CLIENT_ID)),
        preferred: preferred.clone(),
        inactivity_timeout: Some(remaining + SESSION_GRACE),
        nodelay: true,
        ..client::Config::default()
    }
}

impl SshCommandAction {
    async fn execute(&self, input: ActionInput<'_>) -> Result<ActionOutput, ActionError> {
        let params: Params = input.params()?;
        check_port(params.port)?;
        if params.command.trim().is_empty() {
            return Err(ActionError::InvalidParams("command is empty".to_owned()));
        }
        // Bad credentials fail before any traffic.
        let login = Login::from_credential(input.credential).await?;
        let cap = params.max_output_bytes.min(MAX_RAW_OUTPUT_BYTES);
        let budget = Budget::new(&input, params.timeout_ms);
        let address = host_port(input.target, params.port);

        let Connected {
            stream,
            connect_time,
        } = connect(input.target, params.port, &budget).await?;

        let t_handshake = Instant::now();
        let seen = Arc::new(Mutex::new(Handshake::default()));
        let handler = Client {
            verifier: Arc::clone(&self.verifier),
            host: input.target.to_string(),
            port: params.port,
            address: address.clone(),
            seen: Arc::clone(&seen),
        };
        let mut handle = budget
            .run(
                client::connect_stream(
                    Arc::new(client_config(&self.preferred, &budget)),
                    stream,
                    handler,
                ),
                |ms| format!("the SSH handshake with {address} did not finish within {ms} ms"),
            )
            .await?
            .map_err(|e| e.into_action_error(&address))?;
        let handshake_time = t_handshake.elapsed();
        let Handshake {
            host_key: Some(host_key),
            kex,
        } = std::mem::take(&mut *seen.lock().unwrap_or_else(PoisonError::into_inner))
        else {
            return Err(ActionError::Failed(format!(
                "{address} finished the handshake without a host key"
            )));
        };

        let t_auth = Instant::now();
        budget
            .run(login.authenticate(&mut handle, &address), |ms| {
                format!("login to {address} did not finish within {ms} ms")
            })
            .await??;
        let auth_time = t_auth.elapsed();

        let t_exec = Instant::now();
        let mut collected = Collected::new(cap);
        let ran = tokio::time::timeout_at(
            budget.deadline,
            run_command(&handle, &params, &mut collected, &address),
        )
        .await;
        let Ok(ran) = ran else {
            return Err(ActionError::Timeout(format!(
                "the command was still running on {address} after {} ms ({} bytes of output so far)",
                budget.total_ms(),
                collected.stdout_bytes
            )));
        };
        ran?;
        let exec_time = t_exec.elapsed();
        // Courtesy only: dropping the handle closes the connection anyway.
        let _ = budget
            .run(
                handle.disconnect(Disconnect::ByApplication, "", "en"),
                |_| String::new(),
            )
            .await;

        let mut out = ActionOutput::default();
        match &collected.exit {
            Some(Exit::Status(code)) => out.field("exit_status", *code),
            Some(Exit::Signal(name)) => out.field("exit_signal", name.clone()),
            // Some devices (Cisco IOS among them) close the channel without either.
            None => {}
        }
        out.field("stdout_bytes", collected.stdout_bytes);
        out.field("stderr_bytes", collected.stderr_bytes);
        out.field(
            "stderr",
            lossy_capped(&collected.stderr, MAX_STDERR_BYTES).0,
        );
        out.field("duration_ms", millis(budget.started.elapsed()));
        out.field("host_key_algorithm", host_key.key.algorithm.clone());
        out.field("host_key_fingerprint", host_key.key.fingerprint.clone());
        out.field("host_key_first_use", host_key.first_use);
        if let Some(kex) = kex {
            out.field("kex_algorithm", kex);
        }
        out.timing("connect_ms", connect_time);
        out.timing("handshake_ms", handshake_time);
        out.timing("auth_ms", auth_time);
        out.timing("exec_ms", exec_time);
        let (raw, cut) = lossy_capped(&collected.stdout, cap);
        out.field("output_truncated", collected.stdout_truncated || cut);
        out.raw = raw;
        Ok(out)
    }
}

/// Opens a session channel, runs the command and collects what it sends back.
async fn run_command(
    handle: &client::Handle<Client>,
    params: &Params,
    out: &mut Collected,
    address: &str,
) -> Result<(), ActionError> {
    let lost = |e: russh::Error| {
        ActionError::Failed(format!(
            "the SSH session with {address} ended unexpectedly: {e}"
        ))
    };
    let mut channel = handle.channel_open_session().await.map_err(|e| {
        ActionError::Failed(format!("{address} refused to open a session channel: {e}"))
    })?;
    // Each request sent with want_reply gets one Success or Failure, in order.
    let mut pending = VecDeque::new();
    if params.pty {
        channel
            .request_pty(true, "xterm", PTY_COLUMNS, PTY_ROWS, 0, 0, &[])
            .await
            .map_err(lost)?;
        pending.push_back(Request::Pty);
    }
    channel
        .exec(true, params.command.as_bytes())
        .await
        .map_err(lost)?;
    pending.push_back(Request::Exec);
    // Nothing comes on stdin; say so, or a command that reads it would wait forever.
    channel.eof().await.map_err(lost)?;

    while let Some(msg) = channel.wait().await {
        match msg {
            ChannelMsg::Data { data } => out.stdout(&data),
            ChannelMsg::ExtendedData { data, .. } => out.stderr(&data),
            ChannelMsg::ExitStatus { exit_status } => out.exit = Some(Exit::Status(exit_status)),
            ChannelMsg::ExitSignal { signal_name, .. } => {
                out.exit = Some(Exit::Signal(signal_text(&signal_name)));
            }
            ChannelMsg::Success => {
                pending.pop_front();
            }
            ChannelMsg::Failure => {
                let refused = match pending.pop_front() {
                    Some(Request::Pty) => "to allocate a pseudo-terminal (pty)",
                    _ => "to run the command",
                };
                return Err(ActionError::Failed(format!("{address} refused {refused}")));
            }
            ChannelMsg::Close => break,
            _ => {}
        }
    }
    Ok(())
}

/// A channel request awaiting its reply.
#[derive(Debug, Clone, Copy)]
enum Request {
    Pty,
    Exec,
}

/// How the command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Exit {
    Status(u32),
    Signal(String),
}

/// A signal's name as OpenSSH sends it (`KILL`, `TERM`).
fn signal_text(signal: &Sig) -> String {
    let name = match signal {
        Sig::ABRT => "ABRT",
        Sig::ALRM => "ALRM",
        Sig::FPE => "FPE",
        Sig::HUP => "HUP",
        Sig::ILL => "ILL",
        Sig::INT => "INT",
        Sig::KILL => "KILL",
        Sig::PIPE => "PIPE",
        Sig::QUIT => "QUIT",
        Sig::SEGV => "SEGV",
        Sig::TERM => "TERM",
        Sig::USR1 => "USR1",
        Sig::Custom(name) => name,
    };
    name.to_owned()
}

/// Output of one command, capped.
#[derive(Debug)]
struct Collected {
    cap: usize,
    stdout: Vec<u8>,
    stdout_bytes: u64,
    stdout_truncated: bool,
    stderr: Vec<u8>,
    stderr_bytes: u64,
    exit: Option<Exit>,
}

impl Collected {
    fn new(cap: usize) -> Self {
        Self {
            cap,
            stdout: Vec::new(),
            stdout_bytes: 0,
            stdout_truncated: false,
            stderr: Vec::new(),
            stderr_bytes: 0,
            exit: None,
        }
    }

    fn stdout(&mut self, data: &[u8]) {
        self.stdout_bytes += data.len() as u64;
        if !push_capped(&mut self.stdout, data, self.cap) {
            self.stdout_truncated = true;
        }
    }

    fn stderr(&mut self, data: &[u8]) {
        self.stderr_bytes += data.len() as u64;
        push_capped(&mut self.stderr, data, MAX_STDERR_BYTES);
    }
}

/// Text of `bytes` (invalid UTF-8 replaced) in at most `cap` bytes; true when cut.
///
/// A character split by an earlier byte cap is dropped rather than shown as garbage, and
/// replacement characters (three bytes each) cannot push the text past `cap`.
fn lossy_capped(bytes: &[u8], cap: usize) -> (String, bool) {
    let bytes = &bytes[..bytes.len().min(cap)];
    let whole = match std::str::from_utf8(bytes) {
        // `error_len() == None`: the input ends inside a character.
        Err(e) if e.error_len().is_none() => &bytes[..e.valid_up_to()],
        _ => bytes,
    };
    let mut text = String::from_utf8_lossy(whole).into_owned();
    if text.len() > cap {
        text.truncate(text.floor_char_boundary(cap));
        return (text, true);
    }
    (text, false)
}

/// Who logs in, and how.
enum Login<'a> {
    Password { user: &'a str, password: &'a Secret },
    Key { user: &'a str, key: Arc<PrivateKey> },
}

impl<'a> Login<'a> {
    /// The login a credential describes; decodes (and decrypts) a private key.
    async fn from_credential(credential: Option<&'a Credential>) -> Result<Self, ActionError> {
        match credential {
            Some(Credential::SshPassword { user, password }) => {
                Ok(Self::Password { user, password })
            }
            Some(Credential::SshKey {
                user,
                private_key,
                passphrase,
            }) => {
                let key = decode_key(private_key, passphrase.as_ref()).await?;
                Ok(Self::Key {
                    user,
                    key: Arc::new(key),
                })
            }
            Some(other) => Err(ActionError::Credential(format!(
                "ssh_command needs an SSH password or SSH key credential, not {}",
                credential_kind(other)
            ))),
            None => Err(ActionError::Credential(
                "ssh_command needs an SSH password or SSH key credential and none was given"
                    .to_owned(),
            )),
        }
    }

    fn user(&self) -> &str {
        match self {
            Self::Password { user, .. } | Self::Key { user, .. } => user,
        }
    }

    /// The method as a reason names it: `password`, `publickey SHA256:...`.
    fn describe(&self) -> String {
        match self {
            Self::Password { .. } => "password".to_owned(),
            Self::Key { key, .. } => format!("publickey {}", key.fingerprint(HashAlg::Sha256)),
        }
    }

    fn method(&self) -> MethodKind {
        match self {
            Self::Password { .. } => MethodKind::Password,
            Self::Key { .. } => MethodKind::PublicKey,
        }
    }

    async fn authenticate(
        &self,
        handle: &mut client::Handle<Client>,
        address: &str,
    ) -> Result<(), ActionError> {
        let user = self.user();
        let failed = |e: russh::Error| {
            ActionError::Failed(format!("login to {address} as {user} failed: {e}"))
        };
        let result = match self {
            Self::Password { password, .. } => handle
                .authenticate_password(user, password.expose())
                .await
                .map_err(failed)?,
            Self::Key { key, .. } => {
                // RSA keys sign with the best SHA-2 the server announced (None: legacy ssh-rsa).
                let hash = if key.algorithm().is_rsa() {
                    handle
                        .best_supported_rsa_hash()
                        .await
                        .map_err(failed)?
                        .flatten()
                } else {
                    None
                };
                handle
                    .authenticate_publickey(user, PrivateKeyWithHashAlg::new(Arc::clone(key), hash))
                    .await
                    .map_err(failed)?
            }
        };
        match result {
            russh::client::AuthResult::Success => Ok(()),
            russh::client::AuthResult::Failure {
                remaining_methods,
                partial_success,
            } => {
                let methods: Vec<&str> = remaining_methods.iter().map(<&str>::from).collect();
                let mut reason = format!(
                    "authentication failed for user {user} ({})",
                    self.describe()
                );
                if partial_success {
                    reason = format!(
                        "authentication for user {user} ({}) needs a further method ({})",
                        self.describe(),
                        methods.join(", ")
                    );
                } else if !methods.is_empty() && !remaining_methods.contains(&self.method()) {
                    reason.push_str(&format!("; the server accepts only {}", methods.join(", ")));
                }
                Err(ActionError::Failed(reason))
            }
        }
    }
}

/// Decodes an OpenSSH / PEM / PuTTY private key. Decrypting runs a deliberately slow KDF
/// (bcrypt-pbkdf), so encrypted keys are decoded off the async workers.
async fn decode_key(
    private_key: &Secret,
    passphrase: Option<&Secret>,
) -> Result<PrivateKey, ActionError> {
    let decoded = match passphrase {
        None => russh::keys::decode_secret_key(private_key.expose(), None),
        Some(passphrase) => {
            let (text, pass) = (
                private_key.expose().to_owned(),
                passphrase.expose().to_owned(),
            );
            tokio::task::spawn_blocking(move || russh::keys::decode_secret_key(&text, Some(&pass)))
                .await
                .map_err(|_| {
                    ActionError::Credential("decrypting the SSH private key failed".to_owned())
                })?
        }
    };
    decoded.map_err(|e| match e {
        russh::keys::Error::KeyIsEncrypted => ActionError::Credential(
            "the SSH private key is encrypted; add its passphrase to the credential".to_owned(),
        ),
        // The key crate's errors name the problem, never the key material.
        other if passphrase.is_some() => ActionError::Credential(format!(
            "could not read the SSH private key (is the passphrase right?): {other}"
        )),
        other => ActionError::Credential(format!("could not read the SSH private key: {other}")),
    })
}

/// A credential's kind in words, for a mismatch message.
fn credential_kind(credential: &Credential) -> &'static str {
    match credential {
        Credential::SnmpCommunity { .. } => "an SNMP community",
        Credential::SnmpV3 { .. } => "an SNMPv3 user",
        Credential::SshPassword { .. } => "an SSH password",
        Credential::SshKey { .. } => "an SSH key",
        Credential::HttpBasic { .. } => "an HTTP basic credential",
        Credential::HttpBearer { .. } => "an HTTP bearer token",
    }
}

/// The host key as checked during the handshake.
#[derive(Debug, Clone)]
struct SeenKey {
    key: HostKey,
    first_use: bool,
}

/// What the handshake callbacks learnt, for the result's fields.
#[derive(Debug, Default)]
struct Handshake {
    host_key: Option<SeenKey>,
    /// The negotiated key exchange (`curve25519-sha256`).
    kex: Option<String>,
}

/// russh's callbacks for one connection: only the host-key check matters here.
struct Client {
    verifier: Arc<dyn HostKeyVerifier>,
    host: String,
    port: u16,
    address: String,
    seen: Arc<Mutex<Handshake>>,
}

/// Why a session ended during the handshake.
#[derive(Debug)]
enum SessionError {
    Ssh(russh::Error),
    /// The operator-facing refusal.
    HostKeyRefused(String),
}

impl From<russh::Error> for SessionError {
    fn from(e: russh::Error) -> Self {
        Self::Ssh(e)
    }
}

impl SessionError {
    fn into_action_error(self, address: &str) -> ActionError {
        let message = match self {
            Self::HostKeyRefused(message) => message,
            Self::Ssh(russh::Error::NoCommonAlgo { kind, theirs, .. }) => {
                let what = match kind {
                    AlgorithmKind::Kex => "key exchange",
                    AlgorithmKind::Key => "host key",
                    AlgorithmKind::Cipher => "cipher",
                    AlgorithmKind::Compression => "compression",
                    AlgorithmKind::Mac => "MAC",
                };
                format!(
                    "no {what} algorithm in common with {address} (it offers {})",
                    theirs.join(", ")
                )
            }
            Self::Ssh(russh::Error::Version) => {
                format!("not an SSH server: {address} sent no valid SSH identification line")
            }
            Self::Ssh(russh::Error::Disconnect | russh::Error::HUP) => {
                format!("{address} closed the connection during the SSH handshake")
            }
            Self::Ssh(russh::Error::IO(e)) => {
                format!("{address} closed the connection during the SSH handshake: {e}")
            }
            Self::Ssh(e) => format!("the SSH handshake with {address} failed: {e}"),
        };
        ActionError::Failed(message)
    }
}

impl client::Handler for Client {
    type Error = SessionError;

    async fn check_server_key(
        &mut self,
        server_public_key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        // We advertise no certificate algorithms; should one arrive anyway, the key it
        // certifies is what gets pinned.
        let key_data = match server_public_key {
            PublicKeyOrCertificate::PublicKey { key, .. } => key.key_data(),
            PublicKeyOrCertificate::Certificate(cert) => cert.public_key(),
        };
        let presented = HostKey {
            algorithm: key_data.algorithm().as_str().to_owned(),
            fingerprint: key_data.fingerprint(HashAlg::Sha256).to_string(),
        };
        let first_use = match self
            .verifier
            .verify(&self.host, self.port, &presented)
            .await
        {
            HostKeyDecision::Trusted => false,
            HostKeyDecision::TrustedOnFirstUse => {
                tracing::info!(
                    ssh.address = %self.address,
                    ssh.host_key = %presented.fingerprint,
                    "ssh host key recorded on first use"
                );
                true
            }
            HostKeyDecision::Changed { expected } => {
                return Err(SessionError::HostKeyRefused(format!(
                    "host key for {} has changed: expected {expected}, got {} {}; refusing to \
                     connect (reset the recorded key if the change is expected)",
                    self.address, presented.algorithm, presented.fingerprint
                )));
            }
            HostKeyDecision::Unverified { reason } => {
                return Err(SessionError::HostKeyRefused(format!(
                    "host key {} {} of {} could not be checked ({reason}); refusing to connect",
                    presented.algorithm, presented.fingerprint, self.address
                )));
            }
        };
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .host_key = Some(SeenKey {
            key: presented,
            first_use,
        });
        Ok(true)
    }

    async fn kex_done(
        &mut self,
        _shared_secret: Option<&[u8]>,
        names: &Names,
        _session: &mut client::Session,
    ) -> Result<(), Self::Error> {
        // Rekeys call this again; the first exchange is the one worth reporting.
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .kex
            .get_or_insert_with(|| names.kex.as_ref().to_owned());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curve25519_is_offered_first_and_post_quantum_kept() {
        let preferred = preferred_algorithms();
        let kex = &preferred.kex;
        assert_eq!(kex[..2], FAST_KEX);
        assert!(kex.contains(&kex::MLKEM768X25519_SHA256));
        assert_eq!(kex.len(), Preferred::DEFAULT.kex.len());
    }

    #[test]
    fn output_is_capped_without_splitting_characters() {
        // "é" is two bytes: a cap inside it drops it whole.
        assert_eq!(lossy_capped("aé".as_bytes(), 2), ("a".to_owned(), false));
        assert_eq!(
            lossy_capped(b"\xff\xfe", 16),
            ("\u{fffd}\u{fffd}".to_owned(), false)
        );
        // Six replacement bytes do not fit in four.
        assert_eq!(lossy_capped(b"\xff\xfe", 4), ("\u{fffd}".to_owned(), true));
        assert_eq!(lossy_capped(b"hello", 3), ("hel".to_owned(), false));
    }

    #[test]
    fn collected_output_counts_everything_but_keeps_only_the_cap() {
        let mut out = Collected::new(4);
        out.stdout(b"abc");
        out.stdout(b"defgh");
        out.stderr(&[b'e'; MAX_STDERR_BYTES + 10]);
        assert_eq!(out.stdout, b"abcd");
        assert_eq!(out.stdout_bytes, 8);
        assert!(out.stdout_truncated);
        assert_eq!(out.stderr.len(), MAX_STDERR_BYTES);
        assert_eq!(out.stderr_bytes, (MAX_STDERR_BYTES + 10) as u64);
    }

    #[tokio::test]
    async fn a_missing_or_foreign_credential_is_a_credential_error() {
        let Err(ActionError::Credential(none)) = Login::from_credential(None).await else {
            panic!("expected a credential error");
        };
        assert!(none.contains("none was given"), "{none}");
        let community = Credential::SnmpCommunity {
            community: Secret::new("public"),
        };
        let Err(ActionError::Credential(other)) = Login::from_credential(Some(&community)).await
        else {
            panic!("expected a credential error");
        };
        assert!(other.contains("not an SNMP community"), "{other}");
        assert!(!other.contains("public"), "{other}");
    }

    #[tokio::test]
    async fn an_unreadable_key_is_a_credential_error_that_does_not_echo_it() {
        let key = Credential::SshKey {
            user: "octest".into(),
            private_key: Secret::new("-----BEGIN OPENSSH PRIVATE KEY-----\nnot-a-key\n"),
            passphrase: None,
        };
        let Err(ActionError::Credential(reason)) = Login::from_credential(Some(&key)).await else {
            panic!("expected a credential error");
        };
        assert!(
            reason.contains("could not read the SSH private key"),
            "{reason}"
        );
        assert!(!reason.contains("not-a-key"), "{reason}");
    }
}
