//! TLS and mutual TLS on the gRPC port, with certificates generated here: a real agent
//! enrolls over `https://` with its client certificate and runs a job end to end; clients
//! without a certificate from the configured CA, or without TLS, are refused.

use opsconductor_store::prelude::*;
use std::path::{Path, PathBuf};
use std::time::Duration;

use opsconductor_agent::AgentConfig;
use opsconductor_core::model::{DEFAULT_SEGMENT, Segment};
use opsconductor_proto::v1::{self, agent_service_client::AgentServiceClient};
use opsconductor_store::PgStore;
use opsconductor_store::testing::fresh_database;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

use crate::helpers::{RunningController, TestBroker, WAIT, controller_config, wait_for};
use crate::rest::Http;

/// A certificate authority that writes what it issues as PEM files into `dir`.
struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
    dir: PathBuf,
    name: &'static str,
}

impl TestCa {
    fn new(dir: &Path, name: &'static str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, format!("{name} CA"));
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        let ca = Self {
            issuer,
            dir: dir.to_owned(),
            name,
        };
        std::fs::write(ca.ca_file(), ca.issuer.pem()).unwrap();
        ca
    }

    fn ca_file(&self) -> PathBuf {
        self.dir.join(format!("{}-ca.pem", self.name))
    }

    /// A leaf for `names` (DNS names or IP addresses): its certificate and key files.
    fn issue(&self, leaf: &str, names: &[&str]) -> (PathBuf, PathBuf) {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params.distinguished_name.push(DnType::CommonName, leaf);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let cert_file = self.dir.join(format!("{}-{leaf}.pem", self.name));
        let key_file = self.dir.join(format!("{}-{leaf}.key", self.name));
        std::fs::write(&cert_file, cert.pem()).unwrap();
        std::fs::write(&key_file, key.serialize_pem()).unwrap();
        (cert_file, key_file)
    }
}

/// Calls `Register` with a fresh token over `endpoint`; the transport or the status
/// decides the outcome.
async fn register(endpoint: Endpoint, store: &PgStore) -> Result<(), String> {
    let token = store
        .create_enrollment_token(DEFAULT_SEGMENT, Duration::from_secs(60))
        .await
        .unwrap();
    let channel = endpoint.connect().await.map_err(|e| format!("{e:?}"))?;
    AgentServiceClient::new(channel)
        .register(v1::RegisterRequest {
            enrollment_token: token,
            name: "probe".to_owned(),
            version: "test".to_owned(),
            capabilities: Vec::new(),
        })
        .await
        .map(drop)
        .map_err(|e| format!("{e:?}"))
}

#[tokio::test]
async fn agents_enroll_and_run_over_mutual_tls_and_strangers_are_refused() {
    let (store, db) = fresh_database().await;
    let broker = TestBroker::new();
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path(), "ops");
    let stranger_ca = TestCa::new(dir.path(), "stranger");
    let (server_cert, server_key) = ca.issue("controller", &["127.0.0.1", "localhost"]);
    let (agent_cert, agent_key) = ca.issue("agent", &["agent.lab"]);
    let (stranger_cert, stranger_key) = stranger_ca.issue("agent", &["agent.lab"]);

    let mut config = controller_config(&db, &broker);
    config.grpc_tls_cert_file = Some(server_cert);
    config.grpc_tls_key_file = Some(server_key);
    config.grpc_tls_client_ca_file = Some(ca.ca_file());
    let controller = RunningController::start(config).await;
    store
        .upsert_segment(&Segment::new(DEFAULT_SEGMENT, Vec::new()).unwrap())
        .await
        .unwrap();

    // A real agent: https, trusting the ops CA, presenting its certificate.
    let token = store
        .create_enrollment_token(DEFAULT_SEGMENT, Duration::from_secs(600))
        .await
        .unwrap();
    let agent_config = AgentConfig {
        controller_url: format!("https://127.0.0.1:{}", controller.grpc.port()),
        enrollment_token: Some(token),
        identity_file: dir.path().join("identity.json"),
        name: "tls-agent".to_owned(),
        queue: broker.config.clone(),
        controller_ca_file: Some(ca.ca_file()),
        tls_cert_file: Some(agent_cert.clone()),
        tls_key_file: Some(agent_key.clone()),
        ..AgentConfig::default()
    };
    let shutdown = CancellationToken::new();
    let agent = tokio::spawn(opsconductor_agent::run(agent_config, shutdown.clone()));
    let http = Http::new(&controller);
    wait_for("the agent's session over TLS", WAIT, || async {
        let (_, agents) = http.get("/api/v1/agents").await;
        agents
            .as_array()
            .is_some_and(|a| a.iter().any(|a| a["online"] == true))
    })
    .await;
    let run = http
        .run_job(
            json!({"name": "ping over tls", "schedule": {"type": "manual"},
                        "targets": {"include": [{"type": "hosts", "hosts": ["127.0.0.1"]}]},
                        "actions": [{"command": "ping.icmp", "params": {"count": 1}}]}),
        )
        .await;
    let run_path = format!("/api/v1/runs/{}", run["id"].as_str().unwrap());
    wait_for(
        "the run to complete through the TLS agent",
        WAIT,
        || async {
            let (_, run) = http.get(&run_path).await;
            run["status"] == "completed" && run["counters"]["ok"] == 1
        },
    )
    .await;
    shutdown.cancel();
    agent.await.unwrap().unwrap();

    // Strangers: no TLS, no client certificate, a certificate of another CA.
    let url = format!("https://127.0.0.1:{}", controller.grpc.port());
    let trust = || ClientTlsConfig::new().ca_certificate(pem(&ca.ca_file()));
    let plain =
        Endpoint::from_shared(format!("http://127.0.0.1:{}", controller.grpc.port())).unwrap();
    let anonymous = Endpoint::from_shared(url.clone())
        .unwrap()
        .tls_config(trust())
        .unwrap();
    let foreign = Endpoint::from_shared(url.clone())
        .unwrap()
        .tls_config(trust().identity(Identity::from_pem(
            std::fs::read(&stranger_cert).unwrap(),
            std::fs::read(&stranger_key).unwrap(),
        )))
        .unwrap();
    for (who, endpoint) in [
        ("plain HTTP/2", plain),
        ("no client certificate", anonymous),
        ("another CA's certificate", foreign),
    ] {
        assert!(
            register(endpoint, &store).await.is_err(),
            "{who} must be refused"
        );
    }
    // The control: the same call with the agent's certificate is accepted.
    let member = Endpoint::from_shared(url)
        .unwrap()
        .tls_config(trust().identity(Identity::from_pem(
            std::fs::read(&agent_cert).unwrap(),
            std::fs::read(&agent_key).unwrap(),
        )))
        .unwrap();
    register(member, &store).await.unwrap();
    controller.stop().await;
}

fn pem(path: &Path) -> Certificate {
    Certificate::from_pem(std::fs::read(path).unwrap())
}
