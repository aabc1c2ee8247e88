//! The connection to the controller and what every command shares: the clients, the
//! output style, writing to stdout, and turning a gRPC status into the message the user
//! sees.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use opsconductor_proto::bearer::Bearer;
use opsconductor_proto::v1::fleet_service_client::FleetServiceClient;
use opsconductor_proto::v1::inventory_service_client::InventoryServiceClient;
use opsconductor_proto::v1::job_service_client::JobServiceClient;
use opsconductor_proto::v1::library_service_client::LibraryServiceClient;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

/// A channel that sends the caller's token with every call.
pub type Authed = InterceptedService<Channel, Bearer>;

use crate::cli::{Output, TlsArgs};

/// Longest wait for the TCP/HTTP2 connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait for one unary call (streams are not bounded: a watch lasts a run).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest answer read from the inventory service (a page of devices with everything
/// scans learned, a static group of 65,536 members), above tonic's 4 MiB default.
const MAX_INVENTORY_ANSWER_BYTES: usize = 32 * 1024 * 1024;

/// What a command runs with.
pub struct Ctx {
    channel: Channel,
    bearer: Bearer,
    server: String,
    /// Human or JSON output.
    pub output: Output,
}

impl Ctx {
    /// Connects to `server` (`http://host:port` or `https://host:port`; a bare
    /// `host:port` gets `http://`).
    pub async fn connect(
        server: &str,
        tls: &TlsArgs,
        token: Option<&str>,
        output: Output,
    ) -> anyhow::Result<Self> {
        let bearer = Bearer::new(token)
            .context("--token / OCCTL_TOKEN: a token is printable ASCII without spaces")?;
        let url = if server.contains("://") {
            server.to_owned()
        } else {
            format!("http://{server}")
        };
        let mut endpoint = Endpoint::from_shared(url.clone())
            .with_context(|| format!("{server:?} is not a server address"))?
            .connect_timeout(CONNECT_TIMEOUT);
        if url.starts_with("https://") {
            let read = |path: &std::path::Path| {
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))
            };
            let ca = tls.ca_file.as_deref().with_context(|| {
                format!("{url} is https://: name the CA of its certificate with --ca-file")
            })?;
            let mut config =
                ClientTlsConfig::new().ca_certificate(Certificate::from_pem(read(ca)?));
            if let (Some(cert), Some(key)) = (&tls.cert_file, &tls.key_file) {
                config = config.identity(Identity::from_pem(read(cert)?, read(key)?));
            }
            endpoint = endpoint.tls_config(config).context("TLS settings")?;
        } else if tls.ca_file.is_some() || tls.cert_file.is_some() {
            anyhow::bail!("--ca-file / --cert-file need an https:// server, not {url}");
        }
        let channel = endpoint
            .connect()
            .await
            .with_context(|| format!("cannot reach the controller at {url}"))?;
        Ok(Self {
            channel,
            bearer,
            server: url,
            output,
        })
    }

    /// `JobService`.
    pub fn jobs(&self) -> JobServiceClient<Authed> {
        JobServiceClient::with_interceptor(self.channel.clone(), self.bearer.clone())
    }

    /// `LibraryService`.
    pub fn library(&self) -> LibraryServiceClient<Authed> {
        LibraryServiceClient::with_interceptor(self.channel.clone(), self.bearer.clone())
    }

    /// `FleetService`.
    pub fn fleet(&self) -> FleetServiceClient<Authed> {
        FleetServiceClient::with_interceptor(self.channel.clone(), self.bearer.clone())
    }

    /// `InventoryService`.
    pub fn inventory(&self) -> InventoryServiceClient<Authed> {
        InventoryServiceClient::with_interceptor(self.channel.clone(), self.bearer.clone())
            .max_decoding_message_size(MAX_INVENTORY_ANSWER_BYTES)
    }

    /// Whether scripts are reading.
    pub fn json(&self) -> bool {
        self.output == Output::Json
    }

    /// The server error as the user should read it.
    pub fn failed(&self, status: &tonic::Status) -> anyhow::Error {
        server_error(&self.server, status)
    }
}

/// A unary request with the call deadline set.
pub fn call<T>(message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.set_timeout(CALL_TIMEOUT);
    request
}

/// The server's own message; transport failures say which server could not be reached.
pub fn server_error(server: &str, status: &tonic::Status) -> anyhow::Error {
    use tonic::Code;
    match status.code() {
        Code::Unavailable | Code::Unknown if status.message().contains("transport") => {
            anyhow::anyhow!(
                "cannot reach the controller at {server}: {}",
                status.message()
            )
        }
        Code::DeadlineExceeded => anyhow::anyhow!("the controller did not answer in time"),
        Code::Unauthenticated => anyhow::anyhow!(
            "{} (give an API token with --token or OCCTL_TOKEN)",
            status.message()
        ),
        _ => anyhow::anyhow!("{}", status.message()),
    }
}

/// Writes `text` to stdout as is. A closed pipe (`occtl … | head`) is not an error.
pub fn print(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// Writes one line to stdout.
pub fn println(line: &str) -> anyhow::Result<()> {
    print(&format!("{line}\n"))
}

/// Writes `value` as pretty JSON and a newline.
pub fn print_json(value: &serde_json::Value) -> anyhow::Result<()> {
    println(&serde_json::to_string_pretty(value)?)
}

/// Most bytes read from a file or stdin: job files and samples are small; this keeps a
/// wrong path (a disk image) from eating memory.
const MAX_INPUT_BYTES: u64 = 16 * 1024 * 1024;

/// A file's text, or standard input for `-`.
pub fn read_input(path: &Path) -> anyhow::Result<String> {
    use std::io::Read as _;
    let mut text = String::new();
    let name = if path == Path::new("-") {
        std::io::stdin()
            .take(MAX_INPUT_BYTES + 1)
            .read_to_string(&mut text)
            .context("reading standard input")?;
        "standard input".to_owned()
    } else {
        std::fs::File::open(path)
            .and_then(|f| f.take(MAX_INPUT_BYTES + 1).read_to_string(&mut text))
            .with_context(|| format!("reading {}", path.display()))?;
        path.display().to_string()
    };
    if text.len() as u64 > MAX_INPUT_BYTES {
        anyhow::bail!("{name} is larger than {MAX_INPUT_BYTES} bytes");
    }
    Ok(text)
}
