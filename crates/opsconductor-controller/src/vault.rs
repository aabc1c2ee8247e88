//! The credential vault's cryptography: secrets are sealed with AES-256-GCM under a
//! master key that lives in a file or an environment variable, never in the database.
//!
//! Each sealing takes a fresh random 96-bit nonce. The credential's id and kind are bound
//! in as associated data, so a sealed secret copied onto another row (or relabelled as
//! another kind) fails to open instead of being handed out under the wrong name. A
//! fingerprint of the key is stored with every secret, so a controller started with a
//! different key says so plainly.

use std::fmt;
use std::path::Path;

use aes_gcm::aead::{Aead as _, KeyInit as _, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use opsconductor_core::credential::CredentialKind;
use opsconductor_core::ids::CredentialId;
use opsconductor_store::SealedSecret;
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

/// Bytes of an AES-256 key.
const KEY_BYTES: usize = 32;
/// Bytes of a GCM nonce.
const NONCE_BYTES: usize = 12;

/// A key or password given inline (configuration or environment): never printed.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct InlineKey(String);

impl InlineKey {
    /// Wraps key text.
    pub fn new(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    /// The text itself; call only where it is used.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for InlineKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InlineKey(***)")
    }
}

/// Why the vault cannot do what was asked. No variant carries secret material.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The master key is missing or malformed.
    #[error("vault master key: {0}")]
    Key(String),
    /// The secret was sealed under another master key.
    #[error(
        "credential {id} was sealed with master key {sealed_with}, this controller has {current}: start it with that key, or store the secret again"
    )]
    OtherKey {
        /// The credential.
        id: CredentialId,
        /// Fingerprint stored with it.
        sealed_with: String,
        /// This vault's fingerprint.
        current: String,
    },
    /// Authentication of the ciphertext failed: it was altered or moved.
    #[error(
        "credential {0}: the sealed secret does not open (altered, or moved from another credential)"
    )]
    Tampered(CredentialId),
}

/// Seals and opens credential secrets.
pub struct Vault {
    cipher: Aes256Gcm,
    key_id: String,
}

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vault")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl Vault {
    /// A vault from 32 bytes written as 64 hex digits (`openssl rand -hex 32`);
    /// surrounding whitespace is ignored.
    pub fn from_hex(text: &str) -> Result<Self, VaultError> {
        let text = text.trim();
        let key = hex::decode(text).map_err(|_| {
            VaultError::Key(format!(
                "expected {} hex digits (e.g. from `openssl rand -hex 32`), got {} characters that are not all hex",
                KEY_BYTES * 2,
                text.chars().count()
            ))
        })?;
        if key.len() != KEY_BYTES {
            return Err(VaultError::Key(format!(
                "expected {KEY_BYTES} bytes ({} hex digits), got {}",
                KEY_BYTES * 2,
                key.len()
            )));
        }
        let cipher = Aes256Gcm::new_from_slice(&key)
            .map_err(|_| VaultError::Key(format!("expected {KEY_BYTES} bytes")))?;
        let digest = Sha256::new()
            .chain_update(b"opsconductor vault key id\0")
            .chain_update(&key)
            .finalize();
        Ok(Self {
            cipher,
            key_id: hex::encode(&digest[..8]),
        })
    }

    /// The vault the configuration asks for: the key file wins over the inline key;
    /// neither gives `None` (credentials can then be neither stored nor handed out).
    pub fn from_config(
        key_file: Option<&Path>,
        inline: Option<&InlineKey>,
    ) -> Result<Option<Self>, VaultError> {
        if let Some(path) = key_file {
            let text = std::fs::read_to_string(path).map_err(|e| {
                VaultError::Key(format!("reading key file {}: {e}", path.display()))
            })?;
            return Self::from_hex(&text)
                .map(Some)
                .map_err(|e| VaultError::Key(format!("key file {}: {e}", path.display())));
        }
        inline.map(|key| Self::from_hex(&key.0)).transpose()
    }

    /// Fingerprint of the master key (not the key): shown in logs and stored per secret.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Seals `secret_json` for credential `id` of `kind`.
    pub fn seal(
        &self,
        id: CredentialId,
        kind: CredentialKind,
        secret_json: &str,
    ) -> Result<SealedSecret, VaultError> {
        let nonce: [u8; NONCE_BYTES] = rand::random();
        let aad = associated_data(id, kind);
        let sealed = self
            .cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: secret_json.as_bytes(),
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| VaultError::Key("encryption failed".to_owned()))?;
        Ok(SealedSecret {
            nonce: nonce.to_vec(),
            sealed,
            key_id: self.key_id.clone(),
        })
    }

    /// Opens the secret of credential `id` of `kind`.
    pub fn open(
        &self,
        id: CredentialId,
        kind: CredentialKind,
        secret: &SealedSecret,
    ) -> Result<String, VaultError> {
        if secret.key_id != self.key_id {
            return Err(VaultError::OtherKey {
                id,
                sealed_with: secret.key_id.clone(),
                current: self.key_id.clone(),
            });
        }
        let nonce: [u8; NONCE_BYTES] = secret
            .nonce
            .as_slice()
            .try_into()
            .map_err(|_| VaultError::Tampered(id))?;
        let aad = associated_data(id, kind);
        let plain = self
            .cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: &secret.sealed,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| VaultError::Tampered(id))?;
        String::from_utf8(plain).map_err(|_| VaultError::Tampered(id))
    }
}

fn associated_data(id: CredentialId, kind: CredentialKind) -> String {
    format!("opsconductor credential v1\0{id}\0{kind}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    fn vault() -> Vault {
        Vault::from_hex(KEY).unwrap()
    }

    #[test]
    fn a_sealed_secret_opens_only_as_itself() {
        let v = vault();
        let id = CredentialId::new();
        let secret = r#"{"community":"s3cret-community"}"#;
        let sealed = v.seal(id, CredentialKind::SnmpCommunity, secret).unwrap();
        assert!(
            !sealed.sealed.windows(6).any(|w| w == b"s3cret".as_slice()),
            "the ciphertext holds no plaintext"
        );
        assert_eq!(
            v.open(id, CredentialKind::SnmpCommunity, &sealed).unwrap(),
            secret
        );
        // Another row, another kind, a flipped bit: all refused.
        assert!(matches!(
            v.open(CredentialId::new(), CredentialKind::SnmpCommunity, &sealed),
            Err(VaultError::Tampered(_))
        ));
        assert!(matches!(
            v.open(id, CredentialKind::HttpBearer, &sealed),
            Err(VaultError::Tampered(_))
        ));
        let mut flipped = sealed.clone();
        flipped.sealed[0] ^= 1;
        assert!(matches!(
            v.open(id, CredentialKind::SnmpCommunity, &flipped),
            Err(VaultError::Tampered(_))
        ));
        // Two sealings of one secret differ (fresh nonces).
        let again = v.seal(id, CredentialKind::SnmpCommunity, secret).unwrap();
        assert_ne!(again.nonce, sealed.nonce);
    }

    #[test]
    fn another_key_is_named_not_guessed() {
        let id = CredentialId::new();
        let sealed = vault().seal(id, CredentialKind::SshKey, "{}").unwrap();
        let other = Vault::from_hex(&"ab".repeat(32)).unwrap();
        let err = other.open(id, CredentialKind::SshKey, &sealed).unwrap_err();
        assert!(matches!(err, VaultError::OtherKey { .. }), "{err}");
        assert!(err.to_string().contains(vault().key_id()));
    }

    #[test]
    fn bad_keys_are_refused_without_echoing_them() {
        for bad in ["", "zz", &KEY[..62], &format!("{KEY}00"), "not-hex-at-all"] {
            let err = Vault::from_hex(bad).unwrap_err().to_string();
            assert!(err.contains("64 hex digits"), "{err}");
            if !bad.is_empty() {
                assert!(!err.contains(bad), "{err}");
            }
        }
        assert_eq!(format!("{:?}", InlineKey::new(KEY)), "InlineKey(***)");
    }
}
