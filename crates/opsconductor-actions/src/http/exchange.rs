//! One request on a new connection: resolve, connect, TLS, send, read the capped body,
//! and note when each phase ended.

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::{Pin, pin};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode, Version};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;
use url::{Host, Url};

use super::tls::{CertInfo, handshake_error};
use crate::action::{ActionError, push_capped};

/// Where a check is, so a timeout can say what it was waiting for.
#[derive(Debug, Clone, Default)]
pub enum Phase {
    /// Not started.
    #[default]
    Starting,
    /// Looking up a name.
    Resolving(String),
    /// TCP connect.
    Connecting(SocketAddr),
    /// TLS handshake.
    Handshaking(SocketAddr),
    /// Request sent, waiting for the status line and headers.
    AwaitingResponse(SocketAddr),
    /// Reading the body; bytes read so far.
    ReadingBody(SocketAddr, usize),
}

impl Phase {
    /// The operator-facing timeout reason for a budget of `ms` milliseconds.
    pub fn timeout_reason(&self, ms: u128) -> String {
        match self {
            Self::Starting => format!("no HTTP response within {ms} ms"),
            Self::Resolving(host) => {
                format!("no HTTP response within {ms} ms: resolving {host} did not finish")
            }
            Self::Connecting(addr) => {
                format!("no HTTP response within {ms} ms: TCP connect to {addr} did not complete")
            }
            Self::Handshaking(addr) => {
                format!(
                    "no HTTP response within {ms} ms: TLS handshake with {addr} did not complete"
                )
            }
            Self::AwaitingResponse(addr) => format!(
                "no HTTP response within {ms} ms: {addr} took the request but sent no response"
            ),
            Self::ReadingBody(addr, read) => format!(
                "HTTP response body from {addr} not complete within {ms} ms ({read} bytes read)"
            ),
        }
    }
}

/// One request to send.
pub struct HopRequest<'a> {
    /// Where to.
    pub url: &'a Url,
    /// Method.
    pub method: &'a Method,
    /// Every header to send, `Host` included.
    pub headers: HeaderMap,
    /// Body.
    pub body: Bytes,
    /// For https: the configuration and the name to verify and send as SNI.
    pub tls: Option<(Arc<ClientConfig>, ServerName<'static>)>,
    /// Most body bytes to read.
    pub max_body_bytes: usize,
}

/// When each phase of one request ended.
#[derive(Debug, Clone, Copy)]
pub struct HopTimings {
    /// The request started (before name resolution).
    pub start: Instant,
    /// Name resolved (hostnames only).
    pub resolved: Option<Instant>,
    /// TCP connected.
    pub connected: Instant,
    /// TLS handshake done (https only).
    pub tls_done: Option<Instant>,
    /// First response byte received.
    pub first_byte: Instant,
    /// Body read (or capped), or headers received when the body was skipped.
    pub done: Instant,
}

/// What came back.
pub struct HopResponse {
    /// Status.
    pub status: StatusCode,
    /// Protocol version of the response.
    pub version: Version,
    /// Response headers.
    pub headers: HeaderMap,
    /// The body bytes read, at most `max_body_bytes`.
    pub body: Vec<u8>,
    /// The server had more than `max_body_bytes` to send.
    pub body_truncated: bool,
    /// The address connected to.
    pub remote_addr: SocketAddr,
    /// Phase ends.
    pub timings: HopTimings,
    /// The leaf certificate (https).
    pub cert: Option<CertInfo>,
    /// Negotiated TLS version (https), e.g. `TLSv1_3`.
    pub tls_version: Option<&'static str>,
}

/// Sends `req` on a new connection. `read_body` decides from the status and headers
/// whether the body is worth reading (a redirect's is not).
pub async fn exchange(
    req: HopRequest<'_>,
    phase: &mut Phase,
    read_body: impl FnOnce(StatusCode, &HeaderMap) -> bool,
) -> Result<HopResponse, ActionError> {
    let start = Instant::now();
    let port = req.url.port_or_known_default().unwrap_or(80);
    let (addrs, resolved) = match req.url.host() {
        Some(Host::Ipv4(ip)) => (vec![SocketAddr::new(IpAddr::V4(ip), port)], None),
        Some(Host::Ipv6(ip)) => (vec![SocketAddr::new(IpAddr::V6(ip), port)], None),
        Some(Host::Domain(name)) => {
            *phase = Phase::Resolving(name.to_owned());
            let addrs = resolve(name, port).await?;
            (addrs, Some(Instant::now()))
        }
        None => {
            return Err(ActionError::Failed(format!(
                "{} has no host to connect to",
                req.url
            )));
        }
    };
    let (tcp, remote_addr) = connect_any(&addrs, req.url, phase).await?;
    // Requests are small and written once: do not let Nagle hold the last segment.
    let _ = tcp.set_nodelay(true);
    let connected = Instant::now();
    let first_byte = Arc::new(OnceLock::new());
    let request = build_request(&req)?;
    let max = req.max_body_bytes;
    let (head, body, body_truncated, tls) = match req.tls {
        None => {
            let io = FirstByte::new(tcp, first_byte.clone());
            let (head, body, truncated) =
                send(io, request, remote_addr, max, phase, read_body).await?;
            (head, body, truncated, None)
        }
        Some((config, name)) => {
            *phase = Phase::Handshaking(remote_addr);
            let stream = TlsConnector::from(config)
                .connect(name.clone(), tcp)
                .await
                .map_err(|e| handshake_error(&e, remote_addr, &name))?;
            let tls_done = Instant::now();
            let (_, session) = stream.get_ref();
            let cert = session
                .peer_certificates()
                .and_then(|chain| chain.first())
                .and_then(|leaf| CertInfo::from_der(leaf));
            let version = session.protocol_version().and_then(|v| v.as_str());
            let io = FirstByte::new(stream, first_byte.clone());
            let (head, body, truncated) =
                send(io, request, remote_addr, max, phase, read_body).await?;
            (head, body, truncated, Some((tls_done, cert, version)))
        }
    };
    let done = Instant::now();
    let (tls_done, cert, tls_version) = match tls {
        Some((at, cert, version)) => (Some(at), cert, version),
        None => (None, None, None),
    };
    let timings = HopTimings {
        start,
        resolved,
        connected,
        tls_done,
        // A response always starts with a byte read; the fallback only guards the type.
        first_byte: first_byte.get().copied().unwrap_or(done),
        done,
    };
    debug_assert!(timings.connected <= timings.first_byte && timings.first_byte <= timings.done);
    Ok(HopResponse {
        status: head.status,
        version: head.version,
        headers: head.headers,
        body,
        body_truncated,
        remote_addr,
        timings,
        cert,
        tls_version,
    })
}

/// Names under `.invalid` never resolve (RFC 6761 §6.4): answer at once instead of
/// asking a resolver that may be slow to say so.
async fn resolve(name: &str, port: u16) -> Result<Vec<SocketAddr>, ActionError> {
    let cannot =
        |why: &dyn fmt::Display| ActionError::Failed(format!("cannot resolve host {name}: {why}"));
    if name == "invalid" || name.ends_with(".invalid") {
        return Err(cannot(&"the .invalid domain never resolves (RFC 6761)"));
    }
    let addrs: Vec<SocketAddr> = crate::resolve::lookup_host(name, port)
        .await
        .map_err(|e| cannot(&e))?
        .collect();
    if addrs.is_empty() {
        return Err(cannot(&"no addresses"));
    }
    Ok(addrs)
}

/// Tries each address in turn, as resolved.
async fn connect_any(
    addrs: &[SocketAddr],
    url: &Url,
    phase: &mut Phase,
) -> Result<(TcpStream, SocketAddr), ActionError> {
    let mut failures = Vec::with_capacity(addrs.len());
    for &addr in addrs {
        *phase = Phase::Connecting(addr);
        match TcpStream::connect(addr).await {
            Ok(stream) => return Ok((stream, addr)),
            Err(e) => failures.push((addr, e)),
        }
    }
    let describe = |(addr, e): &(SocketAddr, io::Error)| match e.kind() {
        io::ErrorKind::ConnectionRefused => {
            format!("connection refused by {addr} (nothing listening?)")
        }
        _ => format!("cannot connect to {addr}: {e}"),
    };
    let message = match failures.as_slice() {
        [one] => describe(one),
        many => format!(
            "cannot connect to {}: {}",
            url.host_str().unwrap_or_default(),
            many.iter().map(describe).collect::<Vec<_>>().join("; ")
        ),
    };
    Err(ActionError::Failed(message))
}

fn build_request(req: &HopRequest<'_>) -> Result<Request<Full<Bytes>>, ActionError> {
    let mut target = req.url.path().to_owned();
    if let Some(query) = req.url.query() {
        target.push('?');
        target.push_str(query);
    }
    let mut request = Request::builder()
        .method(req.method.clone())
        .uri(target)
        .version(Version::HTTP_11)
        .body(Full::new(req.body.clone()))
        .map_err(|e| ActionError::InvalidParams(format!("path: {e}")))?;
    *request.headers_mut() = req.headers.clone();
    Ok(request)
}

type Head = http::response::Parts;

/// Sends the request over `io` (HTTP/1.1) and reads the response, driving the connection
/// in this task so nothing outlives the check.
async fn send<S>(
    io: FirstByte<S>,
    request: Request<Full<Bytes>>,
    addr: SocketAddr,
    max_body_bytes: usize,
    phase: &mut Phase,
    read_body: impl FnOnce(StatusCode, &HeaderMap) -> bool,
) -> Result<(Head, Vec<u8>, bool), ActionError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::Builder::new()
        .handshake::<_, Full<Bytes>>(TokioIo::new(io))
        .await
        .map_err(|e| ActionError::Failed(format!("cannot start HTTP on {addr}: {e}")))?;
    *phase = Phase::AwaitingResponse(addr);
    let work = async move {
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| response_error(&e, addr))?;
        let (head, body) = response.into_parts();
        if !read_body(head.status, &head.headers) {
            return Ok((head, Vec::new(), false));
        }
        *phase = Phase::ReadingBody(addr, 0);
        let (bytes, truncated) = read_capped(body, max_body_bytes, addr, phase).await?;
        Ok((head, bytes, truncated))
    };
    let mut work = pin!(work);
    let mut conn = pin!(conn);
    tokio::select! {
        biased;
        outcome = &mut work => outcome,
        // The connection task ended first (closed, broken): the request side learns why
        // from hyper and finishes on its own.
        _ = &mut conn => work.await,
    }
}

/// Reads at most `cap` bytes; stops (and drops the connection) as soon as the server
/// has more to send, so memory stays bounded whatever the body size.
async fn read_capped(
    mut body: Incoming,
    cap: usize,
    addr: SocketAddr,
    phase: &mut Phase,
) -> Result<(Vec<u8>, bool), ActionError> {
    let hint = usize::try_from(hyper::body::Body::size_hint(&body).lower()).unwrap_or(usize::MAX);
    let mut buf = Vec::with_capacity(hint.min(cap).min(64 * 1024));
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            ActionError::Failed(format!(
                "the response body from {addr} broke off after {} bytes: {e}",
                buf.len()
            ))
        })?;
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        if !push_capped(&mut buf, &data, cap) {
            return Ok((buf, true));
        }
        *phase = Phase::ReadingBody(addr, buf.len());
    }
    Ok((buf, false))
}

fn response_error(err: &hyper::Error, addr: SocketAddr) -> ActionError {
    let message = if err.is_parse() || err.is_parse_status() {
        format!("{addr} did not answer with HTTP/1.x ({err})")
    } else if err.is_incomplete_message() || err.is_canceled() || err.is_closed() {
        format!("{addr} closed the connection without a complete HTTP response")
    } else {
        match std::error::Error::source(err) {
            Some(cause) => format!("HTTP request to {addr} failed: {err}: {cause}"),
            None => format!("HTTP request to {addr} failed: {err}"),
        }
    };
    ActionError::Failed(message)
}

/// A stream that notes when its first byte was read: the start of the response (TLS
/// records are already decrypted at this layer, so handshake bytes do not count).
struct FirstByte<S> {
    inner: S,
    first_read: Arc<OnceLock<Instant>>,
}

impl<S> FirstByte<S> {
    fn new(inner: S, first_read: Arc<OnceLock<Instant>>) -> Self {
        Self { inner, first_read }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for FirstByte<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            let _ = this.first_read.set(Instant::now());
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for FirstByte<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
