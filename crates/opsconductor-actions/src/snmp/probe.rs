//! Plaintext (noAuthNoPriv) SNMPv3 exchanges the executor does itself.
//!
//! - Engine discovery (RFC 3414 §4): the agent's engine ID, boots and time. Doing it here
//!   rather than with snmp2's `init()` lets the executor reuse keys localised for that
//!   engine (see `client.rs`), where `init()` would localise them again.
//! - Telling "unknown user" from "wrong key": snmp2 reports every unauthenticated Report
//!   PDU as the same `NotAuthenticated` error, so after one the executor asks again as the
//!   user at noAuthNoPriv; a `usmStatsUnknownUserNames` Report means the user does not
//!   exist, any other answer that it does.

use std::io::ErrorKind;
use std::net::SocketAddr;

use snmp2::asn1::{self, AsnReader};
use snmp2::snmp;
use tokio::net::UdpSocket;
use tokio::time::Instant;

use super::format::decode_oid;

/// `usmStatsUnknownUserNames.0` (SNMP-USER-BASED-SM-MIB).
pub(crate) const USM_STATS_UNKNOWN_USER_NAMES: [u64; 10] = [1, 3, 6, 1, 6, 3, 15, 1, 1, 3];

/// What engine discovery found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Engine {
    /// The authoritative engine ID.
    pub(crate) engine_id: Vec<u8>,
    /// snmpEngineBoots.
    pub(crate) boots: i64,
    /// snmpEngineTime, in seconds.
    pub(crate) time: i64,
}

/// Why an exchange produced no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ProbeError {
    /// Nothing came back in time.
    TimedOut,
    /// ICMP port unreachable.
    Refused,
    /// Something came back that is not a plaintext SNMPv3 answer.
    Malformed(String),
    /// The socket failed.
    Io(String),
}

/// What the agent said about the probed user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum UserProbe {
    /// A `usmStatsUnknownUserNames` Report.
    Unknown,
    /// Any other answer (a Response, or another Report): the user exists.
    Known,
    /// No usable answer.
    NoAnswer,
}

/// Discovers the agent's engine, waiting until `until` for the answer.
pub(crate) async fn discover(peer: SocketAddr, until: Instant) -> Result<Engine, ProbeError> {
    let socket = connect(peer).await?;
    discover_on(&socket, until).await
}

async fn discover_on(socket: &UdpSocket, until: Instant) -> Result<Engine, ProbeError> {
    let msg_id = rand::random::<i32>() & 0x3fff_ffff;
    let reply = exchange(socket, &message(msg_id, &[], 0, 0, &[]), msg_id, until).await?;
    let in_range = |n: i64| (0..=i64::from(i32::MAX)).contains(&n);
    if reply.engine_id.is_empty() || !in_range(reply.boots) || !in_range(reply.time) {
        return Err(ProbeError::Malformed(
            "its SNMPv3 discovery answer lacks a valid engine ID, boots or time".to_owned(),
        ));
    }
    Ok(Engine {
        engine_id: reply.engine_id,
        boots: reply.boots,
        time: reply.time,
    })
}

/// Asks the agent whether `user` exists, waiting until `until` for each answer.
pub(crate) async fn probe_user(peer: SocketAddr, user: &[u8], until: Instant) -> UserProbe {
    let Ok(socket) = connect(peer).await else {
        return UserProbe::NoAnswer;
    };
    let Ok(engine) = discover_on(&socket, until).await else {
        return UserProbe::NoAnswer;
    };
    let msg_id = rand::random::<i32>() & 0x3fff_ffff;
    let get = message(msg_id, &engine.engine_id, engine.boots, engine.time, user);
    match exchange(&socket, &get, msg_id, until).await {
        Err(_) => UserProbe::NoAnswer,
        Ok(reply)
            if reply
                .report
                .as_deref()
                .is_some_and(|oid| oid.starts_with(&USM_STATS_UNKNOWN_USER_NAMES)) =>
        {
            UserProbe::Unknown
        }
        Ok(_) => UserProbe::Known,
    }
}

async fn connect(peer: SocketAddr) -> Result<UdpSocket, ProbeError> {
    let local: SocketAddr = if peer.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        ([0u16; 8], 0).into()
    };
    let socket = UdpSocket::bind(local).await.map_err(io_error)?;
    socket.connect(peer).await.map_err(io_error)?;
    Ok(socket)
}

fn io_error(e: std::io::Error) -> ProbeError {
    if e.kind() == ErrorKind::ConnectionRefused {
        ProbeError::Refused
    } else {
        ProbeError::Io(e.to_string())
    }
}

/// Sends `request` and waits for the answer carrying `msg_id`; answers to other messages
/// (late ones) are skipped, anything unreadable fails the exchange.
async fn exchange(
    socket: &UdpSocket,
    request: &[u8],
    msg_id: i32,
    until: Instant,
) -> Result<Reply, ProbeError> {
    socket.send(request).await.map_err(io_error)?;
    let mut buf = vec![0u8; 65_535];
    loop {
        let len = tokio::time::timeout_at(until, socket.recv(&mut buf))
            .await
            .map_err(|_| ProbeError::TimedOut)?
            .map_err(io_error)?;
        let reply = parse_reply(&buf[..len])
            .ok_or_else(|| ProbeError::Malformed("not a plaintext SNMPv3 message".to_owned()))?;
        if reply.msg_id == msg_id {
            return Ok(reply);
        }
    }
}

/// The parts of a plaintext SNMPv3 answer the probes use.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Reply {
    msg_id: i32,
    engine_id: Vec<u8>,
    boots: i64,
    time: i64,
    /// The first varbind's OID when the PDU is a Report.
    report: Option<Vec<u64>>,
}

/// Reads a plaintext SNMPv3 message; `None` when it is not one (or is encrypted).
pub(crate) fn parse_reply(bytes: &[u8]) -> Option<Reply> {
    let mut outer = AsnReader::from_bytes(bytes);
    let mut msg = AsnReader::from_bytes(outer.read_raw(asn1::TYPE_SEQUENCE).ok()?);
    if msg.read_asn_integer().ok()? != 3 {
        return None;
    }
    let mut global = AsnReader::from_bytes(msg.read_raw(asn1::TYPE_SEQUENCE).ok()?);
    let msg_id = i32::try_from(global.read_asn_integer().ok()?).ok()?;
    let _max_size = global.read_asn_integer().ok()?;
    let flags = global
        .read_asn_octetstring()
        .ok()?
        .first()
        .copied()
        .unwrap_or(0);
    if flags & snmp::V3_MSG_FLAGS_PRIVACY != 0 {
        return None;
    }
    let usm_bytes = msg.read_asn_octetstring().ok()?;
    let mut usm = AsnReader::from_bytes(
        AsnReader::from_bytes(usm_bytes)
            .read_raw(asn1::TYPE_SEQUENCE)
            .ok()?,
    );
    let engine_id = usm.read_asn_octetstring().ok()?.to_vec();
    let boots = usm.read_asn_integer().ok()?;
    let time = usm.read_asn_integer().ok()?;
    let mut scoped = AsnReader::from_bytes(msg.read_raw(asn1::TYPE_SEQUENCE).ok()?);
    let _context_engine_id = scoped.read_asn_octetstring().ok()?;
    let _context_name = scoped.read_asn_octetstring().ok()?;
    let tag = scoped.peek_byte().ok()?;
    let mut pdu = AsnReader::from_bytes(scoped.read_raw(tag).ok()?);
    let report = if tag == snmp::MSG_REPORT {
        let _request_id = pdu.read_asn_integer().ok()?;
        let _error_status = pdu.read_asn_integer().ok()?;
        let _error_index = pdu.read_asn_integer().ok()?;
        let mut varbinds = snmp2::Varbinds::from_bytes(pdu.read_raw(asn1::TYPE_SEQUENCE).ok()?);
        let (oid, _) = varbinds.next()?;
        let mut arcs = Vec::new();
        decode_oid(oid.as_bytes(), &mut arcs).then_some(arcs)
    } else {
        None
    };
    Some(Reply {
        msg_id,
        engine_id,
        boots,
        time,
        report,
    })
}

/// A reportable noAuthNoPriv GET of `sysUpTime.0`; with an empty engine ID and user it is
/// the engine-discovery message.
pub(crate) fn message(
    msg_id: i32,
    engine_id: &[u8],
    boots: i64,
    time: i64,
    user: &[u8],
) -> Vec<u8> {
    const SYS_UP_TIME_0: [u8; 8] = [0x2b, 6, 1, 2, 1, 1, 3, 0];
    let varbind = seq(&[
        tlv(asn1::TYPE_OBJECTIDENTIFIER, &SYS_UP_TIME_0),
        tlv(asn1::TYPE_NULL, &[]),
    ]
    .concat());
    let pdu = tlv(
        snmp::MSG_GET,
        &[
            integer(i64::from(msg_id)),
            integer(0),
            integer(0),
            seq(&varbind),
        ]
        .concat(),
    );
    let scoped = seq(&[octets(engine_id), octets(&[]), pdu].concat());
    let usm = seq(&[
        octets(engine_id),
        integer(boots),
        integer(time),
        octets(user),
        octets(&[]),
        octets(&[]),
    ]
    .concat());
    let global = seq(&[
        integer(i64::from(msg_id)),
        integer(65_507),
        octets(&[snmp::V3_MSG_FLAGS_REPORTABLE]),
        integer(3),
    ]
    .concat());
    seq(&[integer(3), global, octets(&usm), scoped].concat())
}

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    out.push(tag);
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

fn seq(content: &[u8]) -> Vec<u8> {
    tlv(asn1::TYPE_SEQUENCE, content)
}

fn octets(content: &[u8]) -> Vec<u8> {
    tlv(asn1::TYPE_OCTETSTRING, content)
}

fn integer(value: i64) -> Vec<u8> {
    let bytes = value.to_be_bytes();
    // Minimal two's complement: drop leading bytes that only repeat the sign.
    let mut start = 0;
    while start < 7 {
        let (b, next) = (bytes[start], bytes[start + 1]);
        if (b == 0 && next & 0x80 == 0) || (b == 0xff && next & 0x80 != 0) {
            start += 1;
        } else {
            break;
        }
    }
    tlv(asn1::TYPE_INTEGER, &bytes[start..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_minimal_twos_complement() {
        assert_eq!(integer(0), [2, 1, 0]);
        assert_eq!(integer(127), [2, 1, 0x7f]);
        assert_eq!(integer(128), [2, 2, 0, 0x80]);
        assert_eq!(integer(-1), [2, 1, 0xff]);
        assert_eq!(integer(65_507), [2, 3, 0, 0xff, 0xe3]);
    }

    #[test]
    fn long_lengths_use_the_long_form() {
        let t = tlv(4, &[0; 300]);
        assert_eq!(&t[..4], [4, 0x82, 1, 44]);
    }

    #[test]
    fn probe_messages_parse_back() {
        let bytes = message(42, b"\x80\x00\x1f\x88\x04ab", 3, 1234, b"ocv3");
        let reply = parse_reply(&bytes).unwrap();
        assert_eq!(reply.msg_id, 42);
        assert_eq!(reply.engine_id, b"\x80\x00\x1f\x88\x04ab");
        assert_eq!((reply.boots, reply.time), (3, 1234));
        assert_eq!(reply.report, None);
    }

    #[test]
    fn garbage_is_not_a_reply() {
        for bytes in [&b""[..], b"\x30", b"\x30\x03\x02\x01\x01", b"\xff\xff\xff"] {
            assert_eq!(parse_reply(bytes), None);
        }
    }
}
