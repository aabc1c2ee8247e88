//! The gRPC channel to the controller and the agent's credentials on every call.
//!
//! `https://` controllers are reached over TLS, trusting only the CA the configuration
//! names (`controller_ca_file`), and presenting the agent's certificate when one is
//! configured (mutual TLS). Nothing else in the agent knows which scheme is in use.

use std::time::Duration;

use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity as TlsIdentity};

use opsconductor_proto::v1::agent_service_client::AgentServiceClient;

use crate::error::AgentError;
use crate::identity::Identity;

/// HTTP/2 pings on an idle connection: a controller that vanished without closing the
/// connection (host down, network cut) is noticed within about twice this.
const KEEPALIVE: Duration = Duration::from_secs(10);

/// A client that sends the agent's id and secret with every call.
pub(crate) type AuthedClient = AgentServiceClient<InterceptedService<Channel, AgentAuth>>;

/// Whether `url` is a controller address this build can use.
pub(crate) fn check_url(url: &str) -> Result<(), String> {
    if !url.starts_with("http://") && !url.starts_with("https://") {
        return Err(format!(
            "controller_url {url:?} must start with http:// or https://"
        ));
    }
    Endpoint::from_shared(url.to_owned())
        .map(drop)
        .map_err(|e| format!("controller_url {url:?} is not a valid address: {e}"))
}

/// A channel that connects on first use and reconnects by itself after the controller
/// went away, so one channel serves the whole life of the agent.
pub(crate) fn channel(
    url: &str,
    connect_timeout: Duration,
    tls: Option<ClientTlsConfig>,
) -> Result<Channel, AgentError> {
    check_url(url).map_err(AgentError::Config)?;
    let mut endpoint = Endpoint::from_shared(url.to_owned())
        .map_err(|e| AgentError::Config(format!("controller_url {url:?}: {e}")))?;
    if let Some(tls) = tls {
        endpoint = endpoint
            .tls_config(tls)
            .map_err(|e| AgentError::Config(format!("controller TLS: {e}")))?;
    }
    let endpoint = endpoint
        .connect_timeout(connect_timeout)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(KEEPALIVE)
        .keep_alive_timeout(KEEPALIVE)
        .keep_alive_while_idle(true);
    Ok(endpoint.connect_lazy())
}

/// The TLS settings for an `https://` controller from PEM files: the CA to trust and,
/// for mutual TLS, the agent's certificate and key. Errors name the file.
pub(crate) fn client_tls(
    ca_file: &std::path::Path,
    identity: Option<(&std::path::Path, &std::path::Path)>,
) -> Result<ClientTlsConfig, AgentError> {
    let read = |path: &std::path::Path, what: &str| {
        std::fs::read(path)
            .map_err(|e| AgentError::Config(format!("{what} {}: {e}", path.display())))
    };
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(read(ca_file, "controller_ca_file")?));
    if let Some((cert, key)) = identity {
        tls = tls.identity(TlsIdentity::from_pem(
            read(cert, "tls_cert_file")?,
            read(key, "tls_key_file")?,
        ));
    }
    Ok(tls)
}

/// A client for the calls that need the agent's identity (`Session`, `FetchCredential`).
pub(crate) fn authed_client(channel: Channel, auth: AgentAuth) -> AuthedClient {
    AgentServiceClient::with_interceptor(channel, auth)
}

/// `authorization: Bearer <secret>` and `x-agent-id: <id>` on every request.
#[derive(Clone)]
pub(crate) struct AgentAuth {
    agent_id: MetadataValue<Ascii>,
    bearer: MetadataValue<Ascii>,
}

impl AgentAuth {
    /// Fails when the id or secret cannot be a header value (a hand-edited identity file).
    pub(crate) fn new(identity: &Identity) -> Result<Self, String> {
        let agent_id = identity
            .agent_id
            .parse()
            .map_err(|_| "agent_id is not valid header text".to_owned())?;
        let bearer = format!("Bearer {}", identity.agent_secret)
            .parse()
            .map_err(|_| "agent_secret is not valid header text".to_owned())?;
        Ok(Self { agent_id, bearer })
    }
}

impl Interceptor for AgentAuth {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        let metadata = request.metadata_mut();
        metadata.insert("authorization", self.bearer.clone());
        metadata.insert("x-agent-id", self.agent_id.clone());
        Ok(request)
    }
}

/// Whether a failed call may succeed if retried later: the controller is away or
/// overloaded, as opposed to refusing the request.
pub(crate) fn is_transient(code: tonic::Code) -> bool {
    matches!(
        code,
        tonic::Code::Unavailable
            | tonic::Code::Unknown
            | tonic::Code::DeadlineExceeded
            | tonic::Code::ResourceExhausted
            | tonic::Code::Aborted
            | tonic::Code::Cancelled
            | tonic::Code::Internal
    )
}

/// Whether a status means the controller does not accept the agent's identity.
pub(crate) fn is_auth_failure(code: tonic::Code) -> bool {
    matches!(
        code,
        tonic::Code::Unauthenticated | tonic::Code::PermissionDenied
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_and_https_addresses_are_accepted_and_nothing_else() {
        assert!(check_url("http://127.0.0.1:50051").is_ok());
        assert!(check_url("https://controller:50051").is_ok());
        let bare = check_url("controller:50051").unwrap_err();
        assert!(bare.contains("http:// or https://"), "{bare}");
    }
}
