//! SSH host keys checked against the controller's deployment-wide trust-on-first-use
//! record, so every agent (and every restart) agrees on what a device's key is. When the
//! controller cannot be asked, the key is not trusted: the SSH action fails with the
//! reason instead of connecting to an unchecked server.

use std::time::Duration;

use futures::future::BoxFuture;
use opsconductor_actions::hostkey::{HostKey, HostKeyDecision, HostKeyVerifier};
use opsconductor_proto::v1::{self, verify_host_key_response::Decision};

use crate::transport::AuthedClient;

/// Longest wait for the controller's verdict.
const VERIFY_TIMEOUT: Duration = Duration::from_secs(10);

/// Asks the controller.
pub(crate) struct ControllerHostKeys {
    client: AuthedClient,
}

impl ControllerHostKeys {
    pub(crate) fn new(client: AuthedClient) -> Self {
        Self { client }
    }
}

impl HostKeyVerifier for ControllerHostKeys {
    fn verify<'a>(
        &'a self,
        host: &'a str,
        port: u16,
        key: &'a HostKey,
    ) -> BoxFuture<'a, HostKeyDecision> {
        let mut client = self.client.clone();
        let request = v1::VerifyHostKeyRequest {
            host: host.to_owned(),
            port: u32::from(port),
            algorithm: key.algorithm.clone(),
            fingerprint: key.fingerprint.clone(),
        };
        Box::pin(async move {
            let answer = tokio::time::timeout(VERIFY_TIMEOUT, client.verify_host_key(request));
            match answer.await {
                Ok(Ok(response)) => {
                    let response = response.into_inner();
                    match response.decision() {
                        Decision::Trusted => HostKeyDecision::Trusted,
                        Decision::TrustedOnFirstUse => HostKeyDecision::TrustedOnFirstUse,
                        Decision::Changed => HostKeyDecision::Changed {
                            expected: response.expected,
                        },
                        Decision::Unspecified => HostKeyDecision::Unverified {
                            reason: "the controller gave no decision".to_owned(),
                        },
                    }
                }
                Ok(Err(status)) => HostKeyDecision::Unverified {
                    reason: format!(
                        "the controller answered {:?}: {}",
                        status.code(),
                        status.message()
                    ),
                },
                Err(_) => HostKeyDecision::Unverified {
                    reason: format!(
                        "the controller did not answer within {} s",
                        VERIFY_TIMEOUT.as_secs()
                    ),
                },
            }
        })
    }
}
