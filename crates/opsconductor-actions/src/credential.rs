//! Credential material handed to actions just in time. It never appears in `Debug`
//! output, results or errors.

use std::fmt;

/// A secret string that redacts itself in `Debug` and `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself; call only where it is sent to a device.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// SNMPv3 authentication protocols.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnmpAuthProtocol {
    /// HMAC-MD5-96 (legacy).
    Md5,
    /// HMAC-SHA-96.
    Sha1,
    /// HMAC-SHA-224.
    Sha224,
    /// HMAC-SHA-256.
    Sha256,
    /// HMAC-SHA-384.
    Sha384,
    /// HMAC-SHA-512.
    Sha512,
}

/// SNMPv3 privacy protocols.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnmpPrivProtocol {
    /// DES (legacy).
    Des,
    /// AES-128.
    Aes128,
    /// AES-192.
    Aes192,
    /// AES-256.
    Aes256,
}

/// Credential material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// SNMP v1/v2c community.
    SnmpCommunity {
        /// The community string.
        community: Secret,
    },
    /// SNMP v3 user (authNoPriv when `privacy` is `None`).
    SnmpV3 {
        /// USM user name.
        user: String,
        /// Authentication protocol and passphrase.
        auth: Option<(SnmpAuthProtocol, Secret)>,
        /// Privacy protocol and passphrase.
        privacy: Option<(SnmpPrivProtocol, Secret)>,
    },
    /// SSH login with a password.
    SshPassword {
        /// Login name.
        user: String,
        /// Password.
        password: Secret,
    },
    /// SSH login with a private key (OpenSSH or PEM text).
    SshKey {
        /// Login name.
        user: String,
        /// Private key text.
        private_key: Secret,
        /// Passphrase of an encrypted key.
        passphrase: Option<Secret>,
    },
    /// HTTP basic authentication.
    HttpBasic {
        /// User name.
        user: String,
        /// Password.
        password: Secret,
    },
    /// HTTP bearer token.
    HttpBearer {
        /// The token.
        token: Secret,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_show_in_debug_output() {
        let c = Credential::SshPassword {
            user: "admin".into(),
            password: Secret::new("hunter2"),
        };
        let text = format!("{c:?}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("admin"));
    }
}
