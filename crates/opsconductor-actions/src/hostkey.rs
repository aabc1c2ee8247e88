//! SSH host-key verification. The agent asks a [`HostKeyVerifier`]; the controller backs it
//! with a trust-on-first-use store, tests and standalone mode with [`MemoryTofu`].

use std::collections::HashMap;
use std::sync::Mutex;

use futures::future::BoxFuture;

/// A server's host key as presented in the handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostKey {
    /// Algorithm name (`ssh-ed25519`).
    pub algorithm: String,
    /// `SHA256:...` fingerprint, as OpenSSH prints it.
    pub fingerprint: String,
}

/// The verdict on a presented key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostKeyDecision {
    /// Known and matching.
    Trusted,
    /// Never seen before: recorded and trusted.
    TrustedOnFirstUse,
    /// Differs from the recorded key: refuse to connect.
    Changed {
        /// The fingerprint on record.
        expected: String,
    },
    /// The record could not be consulted (the controller is unreachable): refuse to
    /// connect rather than trust an unchecked key.
    Unverified {
        /// Why.
        reason: String,
    },
}

/// Decides whether to trust a host key for `host:port`.
pub trait HostKeyVerifier: Send + Sync {
    /// Checks (and on first use records) the key.
    fn verify<'a>(
        &'a self,
        host: &'a str,
        port: u16,
        key: &'a HostKey,
    ) -> BoxFuture<'a, HostKeyDecision>;
}

/// Trust on first use, in memory.
#[derive(Debug, Default)]
pub struct MemoryTofu {
    known: Mutex<HashMap<(String, u16), HostKey>>,
}

impl MemoryTofu {
    /// Pre-records a key (as an admin would accept one).
    pub fn insert(&self, host: &str, port: u16, key: HostKey) {
        self.known
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert((host.to_owned(), port), key);
    }
}

impl HostKeyVerifier for MemoryTofu {
    fn verify<'a>(
        &'a self,
        host: &'a str,
        port: u16,
        key: &'a HostKey,
    ) -> BoxFuture<'a, HostKeyDecision> {
        let mut known = self
            .known
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let decision = match known.get(&(host.to_owned(), port)) {
            Some(k) if k == key => HostKeyDecision::Trusted,
            Some(k) => HostKeyDecision::Changed {
                expected: format!("{} {}", k.algorithm, k.fingerprint),
            },
            None => {
                known.insert((host.to_owned(), port), key.clone());
                HostKeyDecision::TrustedOnFirstUse
            }
        };
        Box::pin(async move { decision })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(fp: &str) -> HostKey {
        HostKey {
            algorithm: "ssh-ed25519".into(),
            fingerprint: fp.into(),
        }
    }

    #[tokio::test]
    async fn first_use_is_recorded_and_a_changed_key_refused() {
        let tofu = MemoryTofu::default();
        assert_eq!(
            tofu.verify("h", 22, &key("SHA256:a")).await,
            HostKeyDecision::TrustedOnFirstUse
        );
        assert_eq!(
            tofu.verify("h", 22, &key("SHA256:a")).await,
            HostKeyDecision::Trusted
        );
        assert!(matches!(
            tofu.verify("h", 22, &key("SHA256:b")).await,
            HostKeyDecision::Changed { .. }
        ));
        assert_eq!(
            tofu.verify("h", 2222, &key("SHA256:b")).await,
            HostKeyDecision::TrustedOnFirstUse
        );
    }
}
