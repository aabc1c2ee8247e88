//! Opening ICMP sockets: unprivileged datagram first, raw second, and an error that says
//! exactly what is missing when neither opens.

use std::fmt;
use std::io;
use std::os::fd::RawFd;

use socket2::{Domain, Protocol, SockRef, Socket, Type};
use surge_ping::{Client, Config, ICMP};

/// Receive buffer asked for on every ICMP socket. A sweep keeps hundreds of echoes in
/// flight; with the kernel's default (about 200 KiB) a third of the replies were dropped
/// before the receive task read them.
pub const RECEIVE_BUFFER_BYTES: usize = 4 << 20;

/// Where the kernel keeps the group range allowed to open unprivileged ICMP sockets (it
/// governs ICMPv6 datagram sockets too).
const PING_GROUP_RANGE: &str = "/proc/sys/net/ipv4/ping_group_range";

/// An IP version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpFamily {
    /// IPv4 (ICMP).
    V4,
    /// IPv6 (ICMPv6).
    V6,
}

impl IpFamily {
    /// The family of an address.
    pub fn of(ip: std::net::IpAddr) -> Self {
        if ip.is_ipv4() { Self::V4 } else { Self::V6 }
    }

    fn domain_and_protocol(self) -> (Domain, Protocol) {
        match self {
            Self::V4 => (Domain::IPV4, Protocol::ICMPV4),
            Self::V6 => (Domain::IPV6, Protocol::ICMPV6),
        }
    }
}

impl fmt::Display for IpFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::V4 => "IPv4",
            Self::V6 => "IPv6",
        })
    }
}

/// The two ways to send ICMP echoes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketKind {
    /// `SOCK_DGRAM` + `IPPROTO_ICMP`: unprivileged, allowed when the process's group is in
    /// `net.ipv4.ping_group_range`; the kernel picks the echo identifier.
    Datagram,
    /// `SOCK_RAW`: needs CAP_NET_RAW; sees every ICMP packet the host receives.
    Raw,
}

impl SocketKind {
    fn socket_type(self) -> Type {
        match self {
            Self::Datagram => Type::DGRAM,
            Self::Raw => Type::RAW,
        }
    }
}

/// Neither kind of ICMP socket could be opened. Its `Display` is the reason operators see.
#[derive(Debug)]
pub struct IcmpSocketError {
    /// The family the socket was for.
    pub family: IpFamily,
    /// Why the datagram socket was refused.
    pub datagram: io::Error,
    /// Why the raw socket was refused.
    pub raw: io::Error,
    /// `net.ipv4.ping_group_range` (`lo hi`), when it could be read.
    pub ping_group_range: Option<(u32, u32)>,
    /// The process's effective group id.
    pub gid: Option<u32>,
}

impl IcmpSocketError {
    /// The error for two refusals, with the sysctl and group id read from this host.
    pub fn from_host(family: IpFamily, datagram: io::Error, raw: io::Error) -> Self {
        Self {
            family,
            datagram,
            raw,
            ping_group_range: read_ping_group_range(),
            gid: Some(rustix::process::getegid().as_raw()),
        }
    }
}

impl fmt::Display for IcmpSocketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let family = self.family;
        if is_family_unsupported(&self.datagram) && is_family_unsupported(&self.raw) {
            return write!(
                f,
                "cannot ping over {family}: {family} is not available on this host ({})",
                self.raw
            );
        }
        write!(f, "cannot open an ICMP socket for {family} pings: ")?;
        let gid = self.gid.map_or_else(
            || "its group id".to_owned(),
            |gid| format!("its group id {gid}"),
        );
        let dgram_denied = self.datagram.kind() == io::ErrorKind::PermissionDenied;
        let raw_denied = self.raw.kind() == io::ErrorKind::PermissionDenied;
        match (dgram_denied, self.ping_group_range) {
            (true, Some((lo, hi))) if !self.gid.is_some_and(|gid| (lo..=hi).contains(&gid)) => {
                write!(
                    f,
                    "unprivileged ICMP sockets are not allowed because net.ipv4.ping_group_range \
                     is \"{lo} {hi}\", which does not include {gid}"
                )?;
            }
            (true, Some((lo, hi))) => write!(
                f,
                "unprivileged ICMP sockets were refused although net.ipv4.ping_group_range \
                 (\"{lo} {hi}\") includes {gid} ({})",
                self.datagram
            )?,
            (true, None) => write!(
                f,
                "unprivileged ICMP sockets are not allowed: net.ipv4.ping_group_range does not \
                 include {gid} ({})",
                self.datagram
            )?,
            (false, _) => write!(f, "the unprivileged ICMP socket failed: {}", self.datagram)?,
        }
        if raw_denied {
            write!(
                f,
                ", and raw sockets need CAP_NET_RAW, which this process does not have"
            )?;
        } else {
            write!(f, ", and the raw ICMP socket failed: {}", self.raw)?;
        }
        if dgram_denied || raw_denied {
            write!(
                f,
                ". Allow one of them: add {gid} to the range \
                 (sysctl -w net.ipv4.ping_group_range=\"0 2147483647\"), or grant CAP_NET_RAW \
                 (setcap cap_net_raw+ep on the agent binary, or AmbientCapabilities=CAP_NET_RAW \
                 in its systemd unit)"
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for IcmpSocketError {}

fn is_family_unsupported(e: &io::Error) -> bool {
    e.raw_os_error() == Some(rustix::io::Errno::AFNOSUPPORT.raw_os_error())
}

/// Opens an ICMP socket the preferred way: `open(Datagram)` first, `open(Raw)` when that
/// fails, and an [`IcmpSocketError`] naming what is missing when both fail.
pub fn open_with_fallback<T>(
    family: IpFamily,
    mut open: impl FnMut(SocketKind) -> io::Result<T>,
) -> Result<(T, SocketKind), IcmpSocketError> {
    let datagram = match open(SocketKind::Datagram) {
        Ok(socket) => return Ok((socket, SocketKind::Datagram)),
        Err(e) => e,
    };
    match open(SocketKind::Raw) {
        Ok(socket) => Ok((socket, SocketKind::Raw)),
        Err(raw) => Err(IcmpSocketError::from_host(family, datagram, raw)),
    }
}

/// Builds a surge-ping client of exactly `kind` (surge-ping would silently try the other
/// kind, which [`open_with_fallback`] must decide), with `ttl` on every echo it sends.
/// Must run inside a Tokio runtime: the client spawns its receive task there.
pub fn open_client(family: IpFamily, kind: SocketKind, ttl: u32) -> io::Result<Client> {
    let (domain, protocol) = family.domain_and_protocol();
    // Probe first so the error is about this kind, not about surge-ping's fallback.
    drop(Socket::new(domain, kind.socket_type(), Some(protocol))?);
    let config = Config::builder()
        .kind(match family {
            IpFamily::V4 => ICMP::V4,
            IpFamily::V6 => ICMP::V6,
        })
        .sock_type_hint(kind.socket_type())
        .ttl(ttl)
        .build();
    let client = Client::new(&config)?;
    if client.get_socket().get_type() != kind.socket_type() {
        return Err(io::Error::other(format!(
            "asked for a {kind:?} ICMP socket and got another kind"
        )));
    }
    Ok(client)
}

/// Prepares the socket behind `fd` (a descriptor of this process) for sweeps: raises its
/// receive buffer to [`RECEIVE_BUFFER_BYTES`] and, for a raw socket, attaches a filter that
/// lets only echo replies and the ICMP errors that answer an echo through. A raw socket
/// otherwise gets every ICMP packet the host receives — on loopback that includes our own
/// echo requests, which doubled the receive work. Returns the receive buffer the kernel
/// granted (it doubles the request and caps it at `net.core.rmem_max`).
///
/// surge-ping neither takes these options nor lends out its socket, only the raw
/// descriptor; this crate forbids `unsafe`, so the descriptor is duplicated safely with
/// `pidfd_getfd(2)` (Linux 5.6+) and the options set through the duplicate, which shares
/// the socket.
pub fn tune_socket(fd: RawFd, family: IpFamily, kind: SocketKind) -> io::Result<usize> {
    use rustix::process::{PidfdFlags, PidfdGetfdFlags, getpid, pidfd_getfd, pidfd_open};
    let pidfd = pidfd_open(getpid(), PidfdFlags::empty())?;
    let dup = pidfd_getfd(&pidfd, fd, PidfdGetfdFlags::empty())?;
    let socket = SockRef::from(&dup);
    if socket.recv_buffer_size()? < RECEIVE_BUFFER_BYTES {
        socket.set_recv_buffer_size(RECEIVE_BUFFER_BYTES)?;
    }
    if kind == SocketKind::Raw {
        socket.attach_filter(&reply_filter(family))?;
    }
    socket.recv_buffer_size()
}

/// ICMP types a raw socket keeps: echo reply, destination unreachable, time exceeded,
/// parameter problem (and for IPv6, packet too big).
const ICMPV4_KEPT: [u8; 4] = [0, 3, 11, 12];
const ICMPV6_KEPT: [u8; 5] = [129, 1, 2, 3, 4];

/// A classic BPF program accepting echo replies and the ICMP errors that can answer an
/// echo (unreachable, time exceeded, parameter problem; for IPv6 also packet too big). IPv4 raw
/// sockets see the IP header first (the ICMP type sits after `4 * IHL` bytes); IPv6 raw
/// sockets start at the ICMPv6 header.
pub fn reply_filter(family: IpFamily) -> Vec<socket2::SockFilter> {
    use socket2::SockFilter;
    const LD_B_ABS: u16 = 0x30; // A = byte at k
    const LD_B_IND: u16 = 0x50; // A = byte at X + k
    const LDX_B_MSH: u16 = 0xb1; // X = 4 * (byte at k & 0x0f)
    const JEQ_K: u16 = 0x15; // if A == k jump jt else jf
    const RET_K: u16 = 0x06; // return k bytes of the packet (0: drop)
    let (mut program, kept): (Vec<SockFilter>, &[u8]) = match family {
        IpFamily::V4 => (
            vec![
                SockFilter::new(LDX_B_MSH, 0, 0, 0),
                SockFilter::new(LD_B_IND, 0, 0, 0),
            ],
            &ICMPV4_KEPT,
        ),
        IpFamily::V6 => (vec![SockFilter::new(LD_B_ABS, 0, 0, 0)], &ICMPV6_KEPT),
    };
    for (i, kind) in kept.iter().enumerate() {
        // Jump over the remaining comparisons and the drop, onto the accept.
        let to_accept = u8::try_from(kept.len() - i).unwrap_or(u8::MAX);
        program.push(SockFilter::new(JEQ_K, to_accept, 0, u32::from(*kind)));
    }
    program.push(SockFilter::new(RET_K, 0, 0, 0));
    program.push(SockFilter::new(RET_K, 0, 0, u32::MAX));
    program
}

/// Reads `net.ipv4.ping_group_range`.
pub fn read_ping_group_range() -> Option<(u32, u32)> {
    let text = std::fs::read_to_string(PING_GROUP_RANGE).ok()?;
    let mut parts = text.split_whitespace().map(str::parse::<u32>);
    match (parts.next(), parts.next()) {
        (Some(Ok(lo)), Some(Ok(hi))) => Some((lo, hi)),
        _ => None,
    }
}
