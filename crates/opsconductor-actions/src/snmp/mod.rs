//! `snmp_get` and `snmp_walk` actions: SNMP v1, v2c and v3 (USM: MD5, SHA-1 and SHA-2
//! authentication; DES and AES-128/192/256 privacy) over UDP, on snmp2's async client.
//!
//! - [`SnmpGetAction`] (`get.rs`) — one GET of the `oids` (split into PDUs of
//!   64 OIDs; a `tooBig` answer halves them; on v1 a `noSuchName` drops that OID and asks
//!   again for the rest).
//! - [`SnmpWalkAction`] (`walk.rs`) — the subtree under `root_oid`, by GETBULK (v2c/v3)
//!   or GETNEXT (v1), until the subtree or the agent's view ends, an OID fails to increase
//!   (loop protection) or `max_varbinds` is reached.
//!
//! Both write `raw` as `snmpget -On` prints varbinds, one line each
//! (`.1.3.6.1.2.1.1.5.0 = STRING: "core-sw1"`), which the `snmp.*` parsers read; see
//! `format.rs` for the few deliberate differences. Numbers stay in SNMP's units: Timeticks
//! are hundredths of a second in `varbinds` (parsers reading the raw `Timeticks: (n) ...`
//! with the `duration` type get seconds).
//!
//! ## Params
//! Common: `version` (`"1"`, `"2c"`, `"3"`; default `"2c"`), `port` (161), `timeout_ms`
//! per request (1000), `retries` per request (0–5, default 1), `community` (v1/v2c, used
//! when no credential is attached). v3 needs a [`Credential::SnmpV3`]. Every request is
//! bounded by the action's deadline as well.
//!
//! ## Layout
//! - `client.rs` — one conversation: timeouts, retries on a fresh socket, v3 sessions
//!   from the executor's cache of localised keys, error wording.
//! - `probe.rs` — plaintext v3 exchanges: engine discovery, and the probe that tells an
//!   unknown user from a wrong key.
//! - `format.rs` — OIDs, value text and JSON.

mod client;
mod format;
mod get;
mod probe;
mod walk;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use opsconductor_core::library::ActionKind;
use opsconductor_core::targets::Target;
use serde::{Deserialize, Deserializer};
use snmp2::Version;
use snmp2::v3::{self, Auth, AuthProtocol, Cipher, KeyExtension};
use tokio::time::Instant;

use self::client::{Client, KeyCache, Security, V3User};
use crate::action::{Action, ActionError, ActionInput, ActionOutput, MAX_RAW_OUTPUT_BYTES};
use crate::credential::{Credential, SnmpAuthProtocol, SnmpPrivProtocol};

/// How SNMP executors turn a host-name target into an address.
#[derive(Debug, Clone, Default)]
pub enum HostResolver {
    /// The system resolver (`getaddrinfo`: `/etc/hosts`, then DNS).
    #[default]
    System,
    /// Only these names (lowercase, as targets store them), each to its addresses; any other
    /// name is unknown. For segments without DNS, and for tests that must not query DNS.
    Fixed(HashMap<String, Vec<IpAddr>>),
}

impl HostResolver {
    /// The address of `target` on `port`, and how messages name it.
    async fn resolve(
        &self,
        target: &Target,
        port: u16,
        deadline: Instant,
    ) -> Result<(SocketAddr, String), ActionError> {
        let name = match target {
            Target::Ip(ip) => {
                let addr = SocketAddr::new(*ip, port);
                return Ok((addr, addr.to_string()));
            }
            Target::Host(name) => name,
        };
        let first = match self {
            Self::System => {
                let lookup = crate::resolve::lookup_host(name.as_str(), port);
                match tokio::time::timeout_at(deadline, lookup).await {
                    Err(_elapsed) => {
                        return Err(ActionError::Timeout(format!(
                            "could not resolve {name} before the action's time limit"
                        )));
                    }
                    Ok(Err(e)) => {
                        return Err(ActionError::Failed(format!("cannot resolve {name}: {e}")));
                    }
                    Ok(Ok(mut addrs)) => addrs.next(),
                }
            }
            Self::Fixed(names) => names
                .get(name)
                .and_then(|ips| ips.first())
                .map(|ip| SocketAddr::new(*ip, port)),
        };
        match first {
            Some(addr) => Ok((addr, format!("{name}:{port} ({})", addr.ip()))),
            None => Err(ActionError::Failed(format!(
                "cannot resolve {name}: unknown host"
            ))),
        }
    }
}

/// Executes `snmp_get`: one GET of the `oids` param.
///
/// Fields: `varbinds` (OID without leading dot → typed value), `errors` (OID →
/// `noSuchObject` / `noSuchInstance` / `endOfMibView` / `noSuchName`, empty when every OID
/// had a value), `response_ms`; `output_truncated` when `raw` hit its cap.
#[derive(Debug, Clone, Default)]
pub struct SnmpGetAction {
    shared: Shared,
}

impl SnmpGetAction {
    /// An executor using the system resolver.
    pub fn new() -> Self {
        Self::default()
    }

    /// An executor resolving host names with `resolver`.
    pub fn with_resolver(resolver: HostResolver) -> Self {
        Self {
            shared: Shared {
                resolver,
                keys: Arc::default(),
            },
        }
    }
}

impl Action for SnmpGetAction {
    fn kind(&self) -> ActionKind {
        ActionKind::SnmpGet
    }

    fn run<'a>(
        &'a self,
        input: ActionInput<'a>,
    ) -> BoxFuture<'a, Result<ActionOutput, ActionError>> {
        Box::pin(get::run(&self.shared, input))
    }
}

/// Executes `snmp_walk`: the subtree under `root_oid`.
///
/// Fields: `varbind_count`, `walk_ms`, `requests`, `truncated` (stopped at `max_varbinds`
/// with more to come), `walk_error` (why the walk stopped early, e.g. a non-increasing OID;
/// `null` otherwise); `output_truncated` when `raw` hit its cap.
#[derive(Debug, Clone, Default)]
pub struct SnmpWalkAction {
    shared: Shared,
}

impl SnmpWalkAction {
    /// An executor using the system resolver.
    pub fn new() -> Self {
        Self::default()
    }

    /// An executor resolving host names with `resolver`.
    pub fn with_resolver(resolver: HostResolver) -> Self {
        Self {
            shared: Shared {
                resolver,
                keys: Arc::default(),
            },
        }
    }
}

impl Action for SnmpWalkAction {
    fn kind(&self) -> ActionKind {
        ActionKind::SnmpWalk
    }

    fn run<'a>(
        &'a self,
        input: ActionInput<'a>,
    ) -> BoxFuture<'a, Result<ActionOutput, ActionError>> {
        Box::pin(walk::run(&self.shared, input))
    }
}

/// What an executor keeps between actions.
#[derive(Debug, Clone, Default)]
struct Shared {
    resolver: HostResolver,
    /// SNMPv3 keys localised per engine.
    keys: Arc<KeyCache>,
}

/// SNMP protocol version, as the `version` param writes it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum SnmpVersion {
    V1,
    #[default]
    V2c,
    V3,
}

impl<'de> Deserialize<'de> for SnmpVersion {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Number(u64),
        }
        let text = match Raw::deserialize(deserializer)? {
            Raw::Text(text) => text,
            Raw::Number(n) => n.to_string(),
        };
        let lower = text.trim().to_ascii_lowercase();
        match lower.strip_prefix('v').unwrap_or(&lower) {
            "1" => Ok(Self::V1),
            "2" | "2c" => Ok(Self::V2c),
            "3" => Ok(Self::V3),
            _ => Err(serde::de::Error::custom(format!(
                "version must be \"1\", \"2c\" or \"3\", not {text:?}"
            ))),
        }
    }
}

/// Params both actions take. No `Debug`: `community` is a secret.
#[derive(Deserialize)]
struct CommonParams {
    #[serde(default)]
    version: SnmpVersion,
    #[serde(default = "default_port")]
    port: u16,
    #[serde(default = "default_timeout_ms")]
    timeout_ms: u64,
    #[serde(default = "default_retries")]
    retries: u32,
    #[serde(default)]
    community: Option<String>,
}

fn default_port() -> u16 {
    161
}

fn default_timeout_ms() -> u64 {
    1000
}

fn default_retries() -> u32 {
    1
}

/// Most retries per request.
const MAX_RETRIES: u32 = 5;

/// Longest timeout per request.
const MAX_TIMEOUT_MS: u64 = 60_000;

impl CommonParams {
    fn check(&self) -> Result<(), ActionError> {
        let invalid = |m: String| Err(ActionError::InvalidParams(m));
        if self.port == 0 {
            return invalid("port must be between 1 and 65535".to_owned());
        }
        if !(1..=MAX_TIMEOUT_MS).contains(&self.timeout_ms) {
            return invalid(format!("timeout_ms must be between 1 and {MAX_TIMEOUT_MS}"));
        }
        if self.retries > MAX_RETRIES {
            return invalid(format!("retries must be between 0 and {MAX_RETRIES}"));
        }
        Ok(())
    }
}

/// Checks the common params, works out the security and the address, and returns a client
/// bounded by the action's deadline (recording `resolve_ms` for host names).
async fn connect(
    shared: &Shared,
    input: &ActionInput<'_>,
    params: &CommonParams,
    out: &mut ActionOutput,
) -> Result<Client, ActionError> {
    params.check()?;
    let security = security(params, input.credential)?;
    let started = Instant::now();
    let (peer, shown) = shared
        .resolver
        .resolve(input.target, params.port, input.deadline)
        .await?;
    if matches!(input.target, Target::Host(_)) {
        out.timing("resolve_ms", started.elapsed());
    }
    Ok(Client::new(
        shared.keys.clone(),
        peer,
        shown,
        security,
        Duration::from_millis(params.timeout_ms),
        params.retries,
        input.deadline,
    ))
}

/// The security for the version: a community credential, else the `community` param, for
/// v1/v2c; an SNMPv3 credential for v3.
fn security(
    params: &CommonParams,
    credential: Option<&Credential>,
) -> Result<Security, ActionError> {
    let wrong = |m: &str| Err(ActionError::Credential(m.to_owned()));
    let version = match params.version {
        SnmpVersion::V1 => Version::V1,
        SnmpVersion::V2c => Version::V2C,
        SnmpVersion::V3 => {
            return match credential {
                Some(Credential::SnmpV3 {
                    user,
                    auth,
                    privacy,
                }) => v3_user(user, auth, privacy),
                Some(Credential::SnmpCommunity { .. }) => {
                    wrong("version 3 needs an SNMPv3 credential (user and keys), not a community")
                }
                Some(_) => wrong("SNMP cannot use this kind of credential"),
                None => wrong("version 3 needs an SNMPv3 credential (user, auth and privacy keys)"),
            };
        }
    };
    let community = match credential {
        Some(Credential::SnmpCommunity { community }) => community.expose().as_bytes().to_vec(),
        Some(Credential::SnmpV3 { .. }) => {
            return wrong(
                "an SNMPv3 credential is attached but version is not 3: set version to \"3\"",
            );
        }
        Some(_) => return wrong("SNMP cannot use this kind of credential"),
        None => match &params.community {
            Some(community) if !community.is_empty() => community.as_bytes().to_vec(),
            _ => {
                return wrong(
                    "SNMP v1/v2c needs a community: attach an SNMP community credential or set \
                     the community param",
                );
            }
        },
    };
    Ok(Security::Community { version, community })
}

fn v3_user(
    user: &str,
    auth: &Option<(SnmpAuthProtocol, crate::credential::Secret)>,
    privacy: &Option<(SnmpPrivProtocol, crate::credential::Secret)>,
) -> Result<Security, ActionError> {
    let wrong = |m: String| Err(ActionError::Credential(m));
    if user.is_empty() {
        return wrong("the SNMPv3 credential has no user name".to_owned());
    }
    // Identifies the credential in the key cache (with the engine ID).
    fn part(key: &mut Vec<u8>, bytes: &[u8]) {
        key.extend_from_slice(&bytes.len().to_be_bytes());
        key.extend_from_slice(bytes);
    }
    let mut key = Vec::with_capacity(64);
    part(&mut key, user.as_bytes());
    if let Some((protocol, secret)) = auth {
        part(&mut key, &[*protocol as u8]);
        part(&mut key, secret.expose().as_bytes());
    }
    let auth_key = key.clone();
    if let Some((protocol, secret)) = privacy {
        part(&mut key, &[*protocol as u8]);
        part(&mut key, secret.expose().as_bytes());
    }
    let (security, without_privacy) = match (auth, privacy) {
        (None, None) => (
            v3::Security::new(user.as_bytes(), b"").with_auth(Auth::NoAuthNoPriv),
            None,
        ),
        (None, Some(_)) => {
            return wrong(format!(
                "SNMPv3 user {user} has a privacy key but no auth key: privacy needs authentication"
            ));
        }
        (Some((protocol, key)), privacy) => {
            if key.expose().is_empty() {
                return wrong(format!("the SNMPv3 auth key of user {user} is empty"));
            }
            let auth_only = v3::Security::new(user.as_bytes(), key.expose().as_bytes())
                .with_auth_protocol(auth_protocol(*protocol))
                .with_auth(Auth::AuthNoPriv);
            match privacy {
                None => (auth_only, None),
                Some((cipher, priv_key)) => {
                    if priv_key.expose().is_empty() {
                        return wrong(format!("the SNMPv3 privacy key of user {user} is empty"));
                    }
                    // AES-192/256 with a short digest (MD5, SHA-1, SHA-224) needs a longer
                    // key than the digest gives; net-snmp's `AES192`/`AES256` extend it the
                    // Blumenthal way (Cisco's `AES192C` uses Reeder).
                    let with_privacy = auth_only
                        .clone()
                        .with_auth(Auth::AuthPriv {
                            cipher: priv_cipher(*cipher),
                            privacy_password: priv_key.expose().as_bytes().to_vec(),
                        })
                        .with_key_extension_method(KeyExtension::Blumenthal);
                    (with_privacy, Some((auth_only, auth_key)))
                }
            }
        }
    };
    Ok(Security::V3(Box::new(V3User {
        user: user.to_owned(),
        security: (security, key),
        without_privacy,
    })))
}

fn auth_protocol(protocol: SnmpAuthProtocol) -> AuthProtocol {
    match protocol {
        SnmpAuthProtocol::Md5 => AuthProtocol::Md5,
        SnmpAuthProtocol::Sha1 => AuthProtocol::Sha1,
        SnmpAuthProtocol::Sha224 => AuthProtocol::Sha224,
        SnmpAuthProtocol::Sha256 => AuthProtocol::Sha256,
        SnmpAuthProtocol::Sha384 => AuthProtocol::Sha384,
        SnmpAuthProtocol::Sha512 => AuthProtocol::Sha512,
    }
}

fn priv_cipher(protocol: SnmpPrivProtocol) -> Cipher {
    match protocol {
        SnmpPrivProtocol::Des => Cipher::Des,
        SnmpPrivProtocol::Aes128 => Cipher::Aes128,
        SnmpPrivProtocol::Aes192 => Cipher::Aes192,
        SnmpPrivProtocol::Aes256 => Cipher::Aes256,
    }
}

/// `raw` text built line by line, keeping whole lines up to [`MAX_RAW_OUTPUT_BYTES`].
#[derive(Debug, Default)]
struct RawText {
    text: String,
    truncated: bool,
}

impl RawText {
    fn push_line(&mut self, line: &str) {
        if self.truncated || self.text.len() + line.len() + 1 > MAX_RAW_OUTPUT_BYTES {
            self.truncated = true;
            return;
        }
        self.text.push_str(line);
        self.text.push('\n');
    }

    /// Moves the text into `out`, flagging `output_truncated` when lines were dropped.
    fn finish(self, out: &mut ActionOutput) {
        if self.truncated {
            out.field("output_truncated", true);
        }
        out.raw = self.text;
    }
}

/// Adds where in the work an error happened (`..., after 1200 varbinds`).
fn with_context(error: ActionError, context: &str) -> ActionError {
    match error {
        ActionError::Timeout(m) => ActionError::Timeout(format!("{m}, {context}")),
        ActionError::Failed(m) => ActionError::Failed(format!("{m}, {context}")),
        other => other,
    }
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::credential::Secret;

    fn common(value: serde_json::Value) -> Result<CommonParams, serde_json::Error> {
        serde_json::from_value(value)
    }

    #[test]
    fn params_take_their_defaults() {
        let p = common(json!({})).unwrap();
        assert_eq!(p.version, SnmpVersion::V2c);
        assert_eq!((p.port, p.timeout_ms, p.retries), (161, 1000, 1));
        assert!(p.community.is_none());
        assert!(p.check().is_ok());
    }

    #[test]
    fn versions_are_read_as_operators_write_them() {
        for (text, version) in [
            (json!("1"), SnmpVersion::V1),
            (json!("v2c"), SnmpVersion::V2c),
            (json!("2"), SnmpVersion::V2c),
            (json!("3"), SnmpVersion::V3),
            (json!(3), SnmpVersion::V3),
        ] {
            assert_eq!(common(json!({ "version": text })).unwrap().version, version);
        }
        let err = common(json!({"version": "4"})).err().unwrap().to_string();
        assert!(err.contains("version must be"), "{err}");
    }

    #[test]
    fn out_of_range_params_are_refused() {
        for params in [
            json!({"port": 0}),
            json!({"retries": 6}),
            json!({"timeout_ms": 0}),
        ] {
            assert!(matches!(
                common(params).unwrap().check(),
                Err(ActionError::InvalidParams(_))
            ));
        }
    }

    #[test]
    fn the_credential_must_fit_the_version() {
        let v2c = common(json!({})).unwrap();
        let v3 = common(json!({"version": "3"})).unwrap();
        let community = Credential::SnmpCommunity {
            community: Secret::new("c"),
        };
        let user = Credential::SnmpV3 {
            user: "u".into(),
            auth: None,
            privacy: None,
        };
        assert!(matches!(
            security(&v2c, None),
            Err(ActionError::Credential(_))
        ));
        assert!(matches!(
            security(&v2c, Some(&user)),
            Err(ActionError::Credential(_))
        ));
        assert!(matches!(
            security(&v3, Some(&community)),
            Err(ActionError::Credential(_))
        ));
        assert!(matches!(
            security(&v3, None),
            Err(ActionError::Credential(_))
        ));
        assert!(security(&v2c, Some(&community)).is_ok());
        assert!(security(&v3, Some(&user)).is_ok());
        let privacy_only = Credential::SnmpV3 {
            user: "u".into(),
            auth: None,
            privacy: Some((SnmpPrivProtocol::Aes128, Secret::new("12345678"))),
        };
        assert!(matches!(
            security(&v3, Some(&privacy_only)),
            Err(ActionError::Credential(_))
        ));
    }

    #[test]
    fn raw_text_keeps_whole_lines_under_the_cap() {
        let mut raw = RawText::default();
        let line = "x".repeat(1000);
        for _ in 0..2000 {
            raw.push_line(&line);
        }
        let mut out = ActionOutput::default();
        raw.finish(&mut out);
        assert!(out.raw.len() <= MAX_RAW_OUTPUT_BYTES);
        assert!(out.raw.ends_with('\n'));
        assert_eq!(out.fields["output_truncated"], json!(true));
    }
}
