//! One conversation with one agent: snmp2's `AsyncSession` with what it leaves out —
//! a timeout per request, retries, SNMPv3 engine discovery and resynchronisation, and
//! errors a network engineer can act on.
//!
//! A request that times out is retried on a *new* socket: snmp2 takes the first datagram
//! that arrives as the answer, so a late answer to the previous attempt would otherwise be
//! read as a request-ID mismatch, and every retry after it would be one answer behind.
//!
//! SNMPv3 sessions start with the executor's own engine discovery (`probe.rs`) and keys
//! from a [`KeyCache`]: localising a password to an engine hashes 1 MiB per key, which
//! done for every action capped v3 polling at a few hundred devices per second and stalled
//! the runtime's threads.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use snmp2::v3::{self, AuthErrorKind};
use snmp2::{AsyncSession, Oid, Pdu, Version};
use tokio::sync::OnceCell;
use tokio::time::Instant;
use tracing::debug;

use super::probe::{self, ProbeError, UserProbe};
use crate::action::ActionError;

/// Most (engine, user) pairs whose localised keys are kept; past it the cache starts over.
const MAX_CACHED_KEYS: usize = 8192;

/// (engine ID, credential): the cache key.
type EngineUser = (Vec<u8>, Vec<u8>);

/// Security localised to one engine, filled once.
type KeySlot = Arc<OnceCell<v3::Security>>;

/// SNMPv3 security with keys localised to an engine, by (engine ID, credential). Shared by
/// every action an executor runs; concurrent actions for one engine localise once.
#[derive(Default)]
pub(crate) struct KeyCache {
    entries: Mutex<HashMap<EngineUser, KeySlot>>,
}

impl fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let len = self
            .entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        f.debug_struct("KeyCache").field("entries", &len).finish()
    }
}

impl KeyCache {
    /// `template` with its keys localised to `engine_id`.
    async fn localized(
        &self,
        template: &v3::Security,
        credential_key: &[u8],
        engine_id: &[u8],
    ) -> Result<v3::Security, snmp2::Error> {
        let slot = {
            let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
            if entries.len() >= MAX_CACHED_KEYS {
                entries.clear();
            }
            entries
                .entry((engine_id.to_vec(), credential_key.to_vec()))
                .or_default()
                .clone()
        };
        let security = slot
            .get_or_try_init(|| {
                let (template, engine_id) = (template.clone(), engine_id.to_vec());
                async move {
                    // CPU-bound (1 MiB of hashing per key): off the async threads.
                    tokio::task::spawn_blocking(move || template.with_engine_id(&engine_id))
                        .await
                        .map_err(|_| snmp2::Error::Crypto("key localisation failed".to_owned()))?
                }
            })
            .await?;
        Ok(security.clone())
    }
}

/// How the agent is addressed and authenticated.
pub(crate) enum Security {
    /// v1 or v2c with a community string.
    Community {
        /// `Version::V1` or `Version::V2C`.
        version: Version,
        /// The community.
        community: Vec<u8>,
    },
    /// v3 with a USM user.
    V3(Box<V3User>),
}

/// A USM user ready for snmp2. `v3::Security` derives `Debug` with the passwords in it, so
/// none of these types implement `Debug`.
pub(crate) struct V3User {
    /// The user name, for messages.
    pub(crate) user: String,
    /// The security as configured, and its [`KeyCache`] key.
    pub(crate) security: (v3::Security, Vec<u8>),
    /// For authPriv users: the same user at authNoPriv, used to explain a failure.
    pub(crate) without_privacy: Option<(v3::Security, Vec<u8>)>,
}

/// One request.
pub(crate) enum Request<'r> {
    /// GET of these OIDs.
    Get(&'r [Oid<'static>]),
    /// GETNEXT of one OID (v1 walks).
    GetNext(&'r Oid<'static>),
    /// GETBULK of one OID with this max-repetitions (v2c/v3 walks).
    GetBulk(&'r Oid<'static>, u32),
}

/// A conversation with one agent, bounded by the action's deadline.
pub(crate) struct Client {
    keys: Arc<KeyCache>,
    peer: SocketAddr,
    shown: String,
    security: Security,
    timeout: Duration,
    retries: u32,
    deadline: Instant,
    session: Option<AsyncSession>,
    /// v3: the agent has answered engine discovery.
    discovered: bool,
    /// v3: time spent in engine discovery.
    discovery: Duration,
}

enum OpenError {
    TimedOut,
    Failed(ActionError),
}

/// A plain-words name for an SNMP error-status (RFC 3416 §3).
pub(crate) fn error_status_name(status: u32) -> &'static str {
    const NAMES: [&str; 19] = [
        "noError",
        "tooBig",
        "noSuchName",
        "badValue",
        "readOnly",
        "genErr",
        "noAccess",
        "wrongType",
        "wrongLength",
        "wrongEncoding",
        "wrongValue",
        "noCreation",
        "inconsistentValue",
        "resourceUnavailable",
        "commitFailed",
        "undoFailed",
        "authorizationError",
        "notWritable",
        "inconsistentName",
    ];
    usize::try_from(status)
        .ok()
        .and_then(|i| NAMES.get(i))
        .copied()
        .unwrap_or("unknown error")
}

impl Client {
    /// A client for `peer` (`shown` is how messages name it).
    pub(crate) fn new(
        keys: Arc<KeyCache>,
        peer: SocketAddr,
        shown: String,
        security: Security,
        timeout: Duration,
        retries: u32,
        deadline: Instant,
    ) -> Self {
        Self {
            keys,
            peer,
            shown,
            security,
            timeout,
            retries,
            deadline,
            session: None,
            discovered: false,
            discovery: Duration::ZERO,
        }
    }

    /// The agent's address as messages show it.
    pub(crate) fn shown(&self) -> &str {
        &self.shown
    }

    /// Whether requests go out as SNMPv1 (no GETBULK, no exception values).
    pub(crate) fn is_v1(&self) -> bool {
        matches!(
            self.security,
            Security::Community {
                version: Version::V1,
                ..
            }
        )
    }

    /// Time spent in SNMPv3 engine discovery so far.
    pub(crate) fn discovery_time(&self) -> Duration {
        self.discovery
    }

    /// The error for an answer that does not make sense.
    pub(crate) fn malformed(&self, detail: &str) -> ActionError {
        ActionError::Failed(format!(
            "malformed SNMP response from {} ({detail})",
            self.shown
        ))
    }

    /// Sends `request` until it is answered, retrying on timeouts, and hands the answer to
    /// `read`. Fails with an operator-facing error once retries or the deadline run out.
    pub(crate) async fn request<T>(
        &mut self,
        request: &Request<'_>,
        read: impl FnOnce(&Pdu<'_>) -> T,
    ) -> Result<T, ActionError> {
        let mut timeouts = 0u32;
        let mut mismatches = 0u32;
        let mut resyncs = 0u32;
        let mut auth_updates = 0u32;
        loop {
            if timeouts > self.retries || Instant::now() >= self.deadline {
                return Err(self.timeout_error(timeouts));
            }
            let until = (Instant::now() + self.timeout).min(self.deadline);
            let Some(session) = self.session.as_mut() else {
                match self.open(until).await {
                    Ok(session) => self.session = Some(session),
                    Err(OpenError::TimedOut) => timeouts += 1,
                    Err(OpenError::Failed(e)) => return Err(e),
                }
                continue;
            };
            let failure = match tokio::time::timeout_at(until, send(session, request)).await {
                Ok(Ok(pdu)) => return Ok(read(&pdu)),
                Ok(Err(e)) => Some(e),
                Err(_elapsed) => None,
            };
            match failure {
                None => {
                    timeouts += 1;
                    self.session = None;
                    debug!(snmp.peer = %self.peer, attempt = timeouts, "snmp request timed out");
                }
                Some(snmp2::Error::AuthUpdated) => {
                    // The agent moved the v3 engine time or boots on; snmp2 has taken the new
                    // values and the request must go again.
                    auth_updates += 1;
                    if auth_updates > 3 {
                        return Err(ActionError::Failed(format!(
                            "the SNMPv3 agent at {} keeps resynchronising its engine time",
                            self.shown
                        )));
                    }
                }
                Some(snmp2::Error::RequestIdMismatch) => {
                    // A late or duplicated answer to an earlier request: leave it behind.
                    mismatches += 1;
                    self.session = None;
                    if mismatches > self.retries {
                        return Err(self.malformed("its request ID does not match the request"));
                    }
                }
                Some(snmp2::Error::AuthFailure(
                    AuthErrorKind::EngineTimeMismatch
                    | AuthErrorKind::EngineBootsMismatch
                    | AuthErrorKind::EngineBootsNotProvided
                    | AuthErrorKind::ReplyNotEncrypted,
                )) if resyncs == 0 => {
                    // Typically a notInTimeWindow Report after the agent restarted: discover
                    // the engine again on a new session.
                    resyncs += 1;
                    self.session = None;
                }
                Some(snmp2::Error::AuthFailure(
                    AuthErrorKind::NotAuthenticated
                    | AuthErrorKind::SignatureMismatch
                    | AuthErrorKind::UsernameMismatch,
                )) => return Err(self.explain_auth_failure().await),
                Some(snmp2::Error::AsnWrongType) if matches!(self.security, Security::V3(_)) => {
                    // At noAuthNoPriv a Report reaches snmp2 as a PDU of the wrong type.
                    self.session = None;
                    return Err(match self.unknown_user().await {
                        Some(unknown) => unknown,
                        None => self.malformed("a PDU of an unexpected type, perhaps a Report"),
                    });
                }
                Some(e) => return Err(self.map_error(e)),
            }
        }
    }

    /// A new session on a new socket; for v3, with the engine discovered.
    async fn open(&mut self, until: Instant) -> Result<AsyncSession, OpenError> {
        let request_id = rand::random::<i32>() & 0x3fff_ffff;
        let created = match &self.security {
            Security::Community {
                version: Version::V1,
                community,
            } => AsyncSession::new_v1(self.peer, community, request_id).await,
            Security::Community { community, .. } => {
                AsyncSession::new_v2c(self.peer, community, request_id).await
            }
            Security::V3(user) => {
                let (template, key) = user.security.clone();
                return self.open_v3(&template, &key, until).await;
            }
        };
        created.map_err(|e| self.socket_error(&e))
    }

    /// Discovers the engine, takes the keys localised to it, and opens a session that
    /// needs no `init()`.
    async fn open_v3(
        &mut self,
        template: &v3::Security,
        key: &[u8],
        until: Instant,
    ) -> Result<AsyncSession, OpenError> {
        let started = Instant::now();
        let engine = match probe::discover(self.peer, until).await {
            Ok(engine) => engine,
            Err(ProbeError::TimedOut) => return Err(OpenError::TimedOut),
            Err(ProbeError::Refused) => {
                return Err(OpenError::Failed(self.map_error(snmp2::Error::Receive)));
            }
            Err(ProbeError::Malformed(detail)) => {
                return Err(OpenError::Failed(self.malformed(&detail)));
            }
            Err(ProbeError::Io(detail)) => {
                return Err(OpenError::Failed(ActionError::Failed(format!(
                    "cannot talk to {}: {detail}",
                    self.shown
                ))));
            }
        };
        self.discovered = true;
        let security = self
            .keys
            .localized(template, key, &engine.engine_id)
            .await
            .map_err(|e| OpenError::Failed(self.map_error(e)))?
            .with_engine_boots_and_time(engine.boots, engine.time);
        self.discovery += started.elapsed();
        let request_id = rand::random::<i32>() & 0x3fff_ffff;
        AsyncSession::new_v3(self.peer, request_id, security)
            .await
            .map_err(|e| self.socket_error(&e))
    }

    fn socket_error(&self, e: &std::io::Error) -> OpenError {
        OpenError::Failed(ActionError::Failed(format!(
            "cannot open a UDP socket to {}: {e}",
            self.shown
        )))
    }

    fn timeout_error(&self, timeouts: u32) -> ActionError {
        let attempts = timeouts.max(1);
        let plural = if attempts == 1 { "attempt" } else { "attempts" };
        let waited = if timeouts > self.retries {
            format!(
                "within {} ms after {attempts} {plural}",
                self.timeout.as_millis()
            )
        } else {
            format!("after {attempts} {plural}, when the action's time limit ran out")
        };
        let shown = &self.shown;
        ActionError::Timeout(match &self.security {
            Security::Community { .. } => {
                format!("no SNMP answer from {shown} {waited} (wrong community or ACL?)")
            }
            Security::V3(_) if !self.discovered => format!(
                "no SNMPv3 answer from {shown} {waited} (agent down, SNMPv3 not enabled, or ACL?)"
            ),
            Security::V3(user) if user.without_privacy.is_some() => format!(
                "no SNMPv3 answer from {shown} {waited}; it answered engine discovery, so the \
                 request was probably dropped (wrong privacy key or protocol for user {}?)",
                user.user
            ),
            Security::V3(_) => format!(
                "no SNMPv3 answer from {shown} {waited}; it answered engine discovery but not \
                 the request (agent overloaded?)"
            ),
        })
    }

    /// Turns an snmp2 error into the operator's words.
    fn map_error(&self, error: snmp2::Error) -> ActionError {
        use snmp2::Error as E;
        let shown = &self.shown;
        let failed = ActionError::Failed;
        match error {
            E::AsnParse
            | E::AsnInvalidLen
            | E::AsnWrongType
            | E::AsnUnsupportedType
            | E::AsnEof
            | E::AsnIntOverflow
            | E::UnsupportedVersion
            | E::ValueOutOfRange
            | E::BufferOverflow
            | E::CommunityMismatch
            | E::RequestIdMismatch => {
                let detail = error.to_string().to_lowercase();
                match &self.security {
                    Security::V3(user) if user.without_privacy.is_some() => {
                        self.malformed(&format!(
                            "{detail}; if every answer fails this way, check the privacy protocol"
                        ))
                    }
                    _ => self.malformed(&detail),
                }
            }
            E::Send => failed(format!(
                "could not send the SNMP request to {shown} (no route?)"
            )),
            E::Receive => failed(format!(
                "nothing answers SNMP at {shown}: the host refused the request (ICMP port unreachable)"
            )),
            E::AuthFailure(kind) => match kind {
                AuthErrorKind::NotAuthenticated
                | AuthErrorKind::SignatureMismatch
                | AuthErrorKind::UsernameMismatch => failed(format!(
                    "SNMPv3 authentication with the agent at {shown} failed ({kind})"
                )),
                AuthErrorKind::EngineBootsMismatch
                | AuthErrorKind::EngineTimeMismatch
                | AuthErrorKind::EngineBootsNotProvided => failed(format!(
                    "the SNMPv3 agent at {shown} reports an engine boots/time outside the time \
                     window even after a new discovery"
                )),
                AuthErrorKind::ReplyNotEncrypted => failed(format!(
                    "the SNMPv3 agent at {shown} answered without encryption though authPriv was \
                     requested"
                )),
                AuthErrorKind::EngineIdMismatch => failed(format!(
                    "the SNMPv3 agent at {shown} changed its engine ID during the conversation"
                )),
                AuthErrorKind::PrivLengthMismatch
                | AuthErrorKind::PayloadLengthMismatch
                | AuthErrorKind::KeyLengthMismatch => failed(format!(
                    "could not decrypt the SNMPv3 answer from {shown} (wrong privacy protocol or key?)"
                )),
                AuthErrorKind::MessageIdMismatch => {
                    self.malformed("SNMPv3 message ID does not match the request")
                }
                AuthErrorKind::UnsupportedUSM => failed(format!(
                    "the agent at {shown} answered with an SNMPv3 security model other than USM"
                )),
                AuthErrorKind::KeyExtensionRequired
                | AuthErrorKind::SecurityNotProvided
                | AuthErrorKind::SecurityNotReady => {
                    failed(format!("internal SNMPv3 error talking to {shown} ({kind})"))
                }
            },
            E::Crypto(detail) => {
                failed(format!("SNMPv3 crypto error talking to {shown}: {detail}"))
            }
            E::AuthUpdated => failed(format!(
                "the SNMPv3 agent at {shown} keeps resynchronising its engine time"
            )),
            E::Mib(detail) => failed(detail),
        }
    }

    /// After an unauthenticated Report: says whether the user is unknown, not allowed
    /// privacy, or (most often) given the wrong key.
    async fn explain_auth_failure(&mut self) -> ActionError {
        self.session = None;
        if let Some(unknown) = self.unknown_user().await {
            return unknown;
        }
        let Security::V3(user) = &self.security else {
            return ActionError::Failed(format!("authentication with {} failed", self.shown));
        };
        let name = user.user.clone();
        if let Some((security, key)) = user.without_privacy.clone()
            && self.authenticates(&security, &key).await
        {
            return ActionError::Failed(format!(
                "SNMPv3 user {name} may not use privacy at {}: the agent has no privacy key for \
                 it (use authNoPriv)",
                self.shown
            ));
        }
        ActionError::Failed(format!(
            "SNMPv3 authentication failed for user {name} (wrong auth key or protocol)"
        ))
    }

    /// The error to report when the agent does not know the v3 user (`None` when it does,
    /// or does not say).
    async fn unknown_user(&self) -> Option<ActionError> {
        let Security::V3(user) = &self.security else {
            return None;
        };
        let until = (Instant::now() + self.timeout).min(self.deadline);
        let probe = probe::probe_user(self.peer, user.user.as_bytes(), until).await;
        (probe == UserProbe::Unknown).then(|| {
            ActionError::Failed(format!(
                "SNMPv3 user {} is unknown to the agent at {}",
                user.user, self.shown
            ))
        })
    }

    /// Whether the agent accepts `security` (any answer to a GET counts).
    async fn authenticates(&mut self, security: &v3::Security, key: &[u8]) -> bool {
        let until = (Instant::now() + self.timeout * 2).min(self.deadline);
        let Ok(mut session) = self.open_v3(security, key, until).await else {
            return false;
        };
        let Ok(oid) = Oid::from(&[1, 3, 6, 1, 2, 1, 1, 3, 0]) else {
            return false;
        };
        for _ in 0..2 {
            match tokio::time::timeout_at(until, session.get(&oid)).await {
                Ok(Ok(_)) => return true,
                Ok(Err(snmp2::Error::AuthUpdated)) => {}
                _ => return false,
            }
        }
        false
    }
}

async fn send<'s>(
    session: &'s mut AsyncSession,
    request: &Request<'_>,
) -> Result<Pdu<'s>, snmp2::Error> {
    match request {
        Request::Get(oids) => {
            let refs: Vec<&Oid<'_>> = oids.iter().collect();
            session.get_many(&refs).await
        }
        Request::GetNext(oid) => session.getnext(oid).await,
        Request::GetBulk(oid, repetitions) => session.getbulk(&[*oid], 0, *repetitions).await,
    }
}
