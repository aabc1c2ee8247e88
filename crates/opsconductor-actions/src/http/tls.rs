//! TLS for checks: client configurations, the "check anyway" verifier, the peer
//! certificate's facts and operator-facing handshake errors.
//!
//! Every check makes a full handshake: session resumption is off, because a resumed
//! TLS 1.3 session carries no certificate (no `cert_days_left`) and would hide the
//! handshake cost the timings are meant to show.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use rustls::client::Resumption;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use crate::action::ActionError;

/// The CA certificates of the agent's operating system (`/etc/ssl/certs`, or
/// `SSL_CERT_FILE` / `SSL_CERT_DIR`), read once per process.
pub fn system_roots() -> Arc<RootCertStore> {
    static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let found = rustls_native_certs::load_native_certs();
            for error in &found.errors {
                tracing::warn!(error = %error, "could not read some system CA certificates");
            }
            let mut roots = RootCertStore::empty();
            let (added, ignored) = roots.add_parsable_certificates(found.certs);
            tracing::debug!(
                added,
                ignored,
                "loaded system CA certificates for http checks"
            );
            Arc::new(roots)
        })
        .clone()
}

/// The two client configurations, built once per executor.
#[derive(Debug, Clone)]
pub struct TlsConfigs {
    /// `verify_tls: true`; the error says why none could be built (no trust anchors).
    verified: Result<Arc<ClientConfig>, String>,
    /// `verify_tls: false`.
    unverified: Result<Arc<ClientConfig>, String>,
}

impl TlsConfigs {
    /// Configurations that trust `roots`.
    pub fn new(roots: Arc<RootCertStore>) -> Self {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let verified = if roots.is_empty() {
            Err(
                "the agent has no trusted CA certificates (install the ca-certificates \
                 package or set SSL_CERT_FILE), so no certificate can be verified; \
                 set verify_tls: false to check anyway"
                    .to_owned(),
            )
        } else {
            WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
                .build()
                .map_err(|e| format!("cannot set up certificate verification: {e}"))
                .and_then(|verifier| client_config(&provider, verifier))
        };
        let any = Arc::new(AcceptAnyCertificate {
            algorithms: provider.signature_verification_algorithms,
        });
        Self {
            verified,
            unverified: client_config(&provider, any),
        }
    }

    /// The configuration for a check.
    pub fn get(&self, verify: bool) -> Result<Arc<ClientConfig>, ActionError> {
        let config = if verify {
            &self.verified
        } else {
            &self.unverified
        };
        config.clone().map_err(ActionError::Failed)
    }
}

fn client_config(
    provider: &Arc<CryptoProvider>,
    verifier: Arc<dyn ServerCertVerifier>,
) -> Result<Arc<ClientConfig>, String> {
    let mut config = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("cannot set up TLS: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config.resumption = Resumption::disabled();
    Ok(Arc::new(config))
}

/// `verify_tls: false`: any certificate is accepted (and still read for its expiry), but
/// the handshake signatures are checked, so the peer does hold the certificate's key.
#[derive(Debug)]
struct AcceptAnyCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// What a check reports about the server's (leaf) certificate.
#[derive(Debug, Clone, PartialEq)]
pub struct CertInfo {
    /// `notAfter`, seconds since the Unix epoch.
    pub not_after: i64,
    /// Subject distinguished name (RFC 4514 style).
    pub subject: String,
    /// Issuer distinguished name.
    pub issuer: String,
}

impl CertInfo {
    /// Reads a DER certificate; `None` when it does not parse (the handshake verified
    /// it, or was told not to, so this is only for reporting).
    pub fn from_der(der: &[u8]) -> Option<Self> {
        let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
        Some(Self {
            not_after: cert.validity().not_after.timestamp(),
            subject: cert.subject().to_string(),
            issuer: cert.issuer().to_string(),
        })
    }

    /// Days until `notAfter`, fractional, negative once expired.
    pub fn days_left(&self, now: SystemTime) -> f64 {
        let now_secs = match now.duration_since(UNIX_EPOCH) {
            Ok(d) => d.as_secs_f64(),
            Err(before) => -before.duration().as_secs_f64(),
        };
        // Seconds since 1970 fit an f64 exactly.
        let not_after = self.not_after as f64;
        let days = (not_after - now_secs) / 86_400.0;
        // A thousandth of a day (86 s) is finer than any expiry alert needs.
        (days * 1000.0).round() / 1000.0
    }

    /// `notAfter` as RFC 3339 UTC.
    pub fn not_after_rfc3339(&self) -> Option<String> {
        chrono::DateTime::from_timestamp(self.not_after, 0)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
    }
}

/// Says why a TLS handshake failed, certificate problems first.
pub fn handshake_error(err: &io::Error, addr: SocketAddr, name: &ServerName<'_>) -> ActionError {
    let tls = err
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    let detail = match tls {
        Some(rustls::Error::InvalidCertificate(cert)) => {
            return ActionError::Failed(format!(
                "TLS certificate not trusted: {}",
                certificate_problem(cert, name)
            ));
        }
        Some(rustls::Error::InvalidMessage(_)) => {
            "the server did not answer with TLS (is the port plain HTTP? try scheme http)"
                .to_owned()
        }
        Some(rustls::Error::AlertReceived(alert)) => {
            format!("the server refused it (alert {alert:?})")
        }
        Some(other) => other.to_string(),
        None if err.kind() == io::ErrorKind::UnexpectedEof => {
            "the server closed the connection during the handshake".to_owned()
        }
        None => err.to_string(),
    };
    ActionError::Failed(format!("TLS handshake with {addr} failed: {detail}"))
}

fn certificate_problem(err: &CertificateError, name: &ServerName<'_>) -> String {
    match err {
        CertificateError::UnknownIssuer => "it is not signed by a CA the agent trusts \
             (self-signed or issued by a private CA); set verify_tls: false to check it anyway"
            .to_owned(),
        CertificateError::Expired => "it has expired".to_owned(),
        CertificateError::ExpiredContext { time, not_after } => {
            let ago = time.as_secs().saturating_sub(not_after.as_secs());
            let days = ago as f64 / 86_400.0;
            format!("it expired {days:.1} days ago")
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            "it is not valid yet (check the server's and the agent's clocks)".to_owned()
        }
        CertificateError::NotValidForName => format!("it is not valid for {}", name.to_str()),
        CertificateError::NotValidForNameContext { presented, .. } => {
            let names: Vec<&str> = presented.iter().map(|p| presented_name(p)).collect();
            match names.as_slice() {
                [] => format!("it is not valid for {} (it names no hosts)", name.to_str()),
                names => format!(
                    "it is not valid for {} (it is for {})",
                    name.to_str(),
                    names.join(", ")
                ),
            }
        }
        CertificateError::BadSignature => "its signature does not verify".to_owned(),
        CertificateError::Revoked => "it has been revoked".to_owned(),
        other => other.to_string(),
    }
}

/// `DnsName("a.example")` / `IpAddress(10.0.0.1)` (how rustls lists a certificate's
/// names) → `a.example` / `10.0.0.1`.
fn presented_name(presented: &str) -> &str {
    let inner = presented
        .split_once('(')
        .and_then(|(_, rest)| rest.strip_suffix(')'))
        .unwrap_or(presented);
    inner.trim_matches('"')
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn days_left_is_fractional_and_negative_after_expiry() {
        let info = CertInfo {
            not_after: 10_000_000,
            subject: String::new(),
            issuer: String::new(),
        };
        let at = |secs: u64| UNIX_EPOCH + Duration::from_secs(secs);
        assert_eq!(info.days_left(at(10_000_000 - 86_400 * 30)), 30.0);
        assert_eq!(info.days_left(at(10_000_000 - 43_200)), 0.5);
        assert_eq!(info.days_left(at(10_000_000 + 86_400)), -1.0);
        assert_eq!(
            info.not_after_rfc3339().as_deref(),
            Some("1970-04-26T17:46:40Z")
        );
    }

    #[test]
    fn presented_names_lose_their_rustls_wrapping() {
        assert_eq!(presented_name("DnsName(\"a.example\")"), "a.example");
        assert_eq!(presented_name("IpAddress(127.0.0.1)"), "127.0.0.1");
        assert_eq!(presented_name("other"), "other");
    }

    #[test]
    fn an_empty_trust_store_makes_verified_checks_fail_with_the_fix() {
        let configs = TlsConfigs::new(Arc::new(RootCertStore::empty()));
        let err = configs.get(true).unwrap_err();
        assert!(
            err.to_string().contains("no trusted CA certificates"),
            "{err}"
        );
        assert!(configs.get(false).is_ok());
    }
}
