//! Credential material: the secret JSON of each [`CredentialKind`], checked and parsed in
//! one place for the controller (which refuses bad material when it is stored) and the
//! agent (which hands it to actions just in time). Secrets never appear in `Debug`
//! output, results or errors: messages name the kind and the field, never a value.

use std::fmt;

use serde_json::{Map, Value};

pub use crate::library::CredentialKind;

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

/// Longest secret JSON a credential may hold (a 16 kbit RSA key in PEM is ≈ 12 KiB).
pub const MAX_SECRET_BYTES: usize = 64 * 1024;

/// The fields the secret of `kind` may have.
pub fn secret_fields(kind: CredentialKind) -> &'static [&'static str] {
    match kind {
        CredentialKind::SnmpCommunity => &["community"],
        CredentialKind::SnmpV3 => &[
            "user",
            "auth_protocol",
            "auth_password",
            "priv_protocol",
            "priv_password",
        ],
        CredentialKind::SshPassword | CredentialKind::HttpBasic => &["user", "password"],
        CredentialKind::SshKey => &["user", "private_key", "passphrase"],
        CredentialKind::HttpBearer => &["token"],
    }
}

/// Checks the secret of a credential of `kind` as a client sends it: every problem as
/// (field, message), fields relative to the secret object. Values are never quoted.
pub fn secret_problems(kind: CredentialKind, secret: &Map<String, Value>) -> Vec<(String, String)> {
    let allowed = secret_fields(kind);
    let mut problems: Vec<(String, String)> = secret
        .keys()
        .filter(|k| !allowed.contains(&k.as_str()))
        .map(|k| {
            (
                k.clone(),
                format!(
                    "not a field of a {kind} secret (its fields: {})",
                    allowed.join(", ")
                ),
            )
        })
        .collect();
    if problems.is_empty()
        && let Err(message) = from_fields(kind.as_str(), secret)
    {
        problems.push((String::new(), message));
    }
    problems
}

impl Credential {
    /// Parses the secret JSON of a credential of `kind` (as stored, as fetched). The
    /// error is an operator-facing sentence naming the field, without any secret material.
    pub fn from_secret(kind: &str, secret_json: &str) -> Result<Self, String> {
        let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(secret_json) else {
            return Err(format!(
                "the {kind} credential's secret is not a JSON object"
            ));
        };
        from_fields(kind, &fields)
    }
}

/// [`Credential::from_secret`] on the secret's fields, already parsed.
fn from_fields(kind: &str, fields: &Map<String, Value>) -> Result<Credential, String> {
    let f = Fields { kind, fields };
    match kind {
        "snmp_community" => Ok(Credential::SnmpCommunity {
            community: f.secret("community")?,
        }),
        "snmp_v3" => snmp_v3(&f),
        "ssh_password" => Ok(Credential::SshPassword {
            user: f.text("user")?,
            password: f.secret("password")?,
        }),
        "ssh_key" => Ok(Credential::SshKey {
            user: f.text("user")?,
            private_key: f.secret("private_key")?,
            passphrase: f.optional("passphrase")?.map(Secret::new),
        }),
        "http_basic" => Ok(Credential::HttpBasic {
            user: f.text("user")?,
            password: f.secret("password")?,
        }),
        "http_bearer" => Ok(Credential::HttpBearer {
            token: f.secret("token")?,
        }),
        other => Err(format!("unknown credential kind {other:?}")),
    }
}

fn snmp_v3(f: &Fields<'_>) -> Result<Credential, String> {
    let user = f.text("user")?;
    let auth = match f.optional("auth_protocol")?.filter(|p| !is_none(p)) {
        None => None,
        Some(name) => Some((auth_protocol(&name)?, f.secret("auth_password")?)),
    };
    let privacy = match f.optional("priv_protocol")?.filter(|p| !is_none(p)) {
        None => None,
        Some(name) => Some((priv_protocol(&name)?, f.secret("priv_password")?)),
    };
    if privacy.is_some() && auth.is_none() {
        return Err(
            "the snmp_v3 credential has priv_protocol but no auth_protocol (privacy needs authentication)"
                .to_owned(),
        );
    }
    Ok(Credential::SnmpV3 {
        user,
        auth,
        privacy,
    })
}

fn is_none(name: &str) -> bool {
    name.eq_ignore_ascii_case("none") || name.is_empty()
}

/// `SHA-256`, `sha256` and `HMAC-SHA-256` all name one protocol.
fn normalise(name: &str) -> String {
    let lower = name.to_ascii_lowercase().replace(['-', '_'], "");
    lower
        .strip_prefix("hmac")
        .map(str::to_owned)
        .unwrap_or(lower)
}

fn auth_protocol(name: &str) -> Result<SnmpAuthProtocol, String> {
    Ok(match normalise(name).as_str() {
        "md5" => SnmpAuthProtocol::Md5,
        "sha" | "sha1" => SnmpAuthProtocol::Sha1,
        "sha224" => SnmpAuthProtocol::Sha224,
        "sha256" => SnmpAuthProtocol::Sha256,
        "sha384" => SnmpAuthProtocol::Sha384,
        "sha512" => SnmpAuthProtocol::Sha512,
        _ => {
            return Err(format!(
                "the snmp_v3 credential's auth_protocol {name:?} is not one of md5, sha, sha224, sha256, sha384, sha512"
            ));
        }
    })
}

fn priv_protocol(name: &str) -> Result<SnmpPrivProtocol, String> {
    Ok(match normalise(name).as_str() {
        "des" => SnmpPrivProtocol::Des,
        "aes" | "aes128" => SnmpPrivProtocol::Aes128,
        "aes192" => SnmpPrivProtocol::Aes192,
        "aes256" => SnmpPrivProtocol::Aes256,
        _ => {
            return Err(format!(
                "the snmp_v3 credential's priv_protocol {name:?} is not one of des, aes, aes192, aes256"
            ));
        }
    })
}

struct Fields<'a> {
    kind: &'a str,
    fields: &'a Map<String, Value>,
}

impl Fields<'_> {
    fn optional(&self, name: &str) -> Result<Option<String>, String> {
        match self.fields.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(format!(
                "the {} credential's {name} is not a string",
                self.kind
            )),
        }
    }

    fn text(&self, name: &str) -> Result<String, String> {
        self.optional(name)?
            .filter(|s| !s.is_empty())
            .ok_or_else(|| format!("the {} credential has no {name}", self.kind))
    }

    fn secret(&self, name: &str) -> Result<Secret, String> {
        self.text(name).map(Secret::new)
    }
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

    #[test]
    fn every_documented_kind_converts() {
        assert!(matches!(
            Credential::from_secret("snmp_community", r#"{"community":"public"}"#).unwrap(),
            Credential::SnmpCommunity { community } if community.expose() == "public"
        ));
        let v3 = Credential::from_secret(
            "snmp_v3",
            r#"{"user":"mon","auth_protocol":"SHA-256","auth_password":"a","priv_protocol":"aes","priv_password":"p"}"#,
        )
        .unwrap();
        assert!(matches!(
            v3,
            Credential::SnmpV3 {
                auth: Some((SnmpAuthProtocol::Sha256, _)),
                privacy: Some((SnmpPrivProtocol::Aes128, _)),
                ..
            }
        ));
        let no_auth = Credential::from_secret("snmp_v3", r#"{"user":"mon"}"#).unwrap();
        assert!(matches!(
            no_auth,
            Credential::SnmpV3 {
                auth: None,
                privacy: None,
                ..
            }
        ));
        assert!(matches!(
            Credential::from_secret("ssh_password", r#"{"user":"admin","password":"pw"}"#).unwrap(),
            Credential::SshPassword { .. }
        ));
        assert!(matches!(
            Credential::from_secret("ssh_key", r#"{"user":"admin","private_key":"-----BEGIN"}"#)
                .unwrap(),
            Credential::SshKey {
                passphrase: None,
                ..
            }
        ));
        assert!(matches!(
            Credential::from_secret(
                "ssh_key",
                r#"{"user":"a","private_key":"k","passphrase":"x"}"#
            )
            .unwrap(),
            Credential::SshKey {
                passphrase: Some(_),
                ..
            }
        ));
    }

    #[test]
    fn bad_material_is_refused_without_echoing_it() {
        let cases = [
            ("ssh_password", r#"{"user":"admin"}"#),
            ("ssh_password", r#"{"user":"admin","password":["hunter2"]}"#),
            ("ssh_password", "hunter2"),
            (
                "snmp_v3",
                r#"{"user":"u","priv_protocol":"aes","priv_password":"hunter2"}"#,
            ),
            (
                "snmp_v3",
                r#"{"user":"u","auth_protocol":"rot13","auth_password":"hunter2"}"#,
            ),
            ("kerberos", r#"{"ticket":"hunter2"}"#),
        ];
        for (kind, json) in cases {
            let message = Credential::from_secret(kind, json).unwrap_err();
            assert!(!message.contains("hunter2"), "{kind}: {message}");
        }
        assert!(
            Credential::from_secret("kerberos", "{}")
                .unwrap_err()
                .contains("unknown credential kind")
        );
    }

    #[test]
    fn secrets_as_sent_are_checked_field_by_field() {
        let object = |json: &str| -> Map<String, Value> { serde_json::from_str(json).unwrap() };
        assert!(
            secret_problems(
                CredentialKind::SshPassword,
                &object(r#"{"user":"a","password":"hunter2"}"#)
            )
            .is_empty()
        );
        let typo = secret_problems(
            CredentialKind::SshPassword,
            &object(r#"{"user":"a","pasword":"hunter2"}"#),
        );
        assert_eq!(typo.len(), 1);
        assert_eq!(typo[0].0, "pasword");
        assert!(!typo[0].1.contains("hunter2"));
        let missing = secret_problems(CredentialKind::HttpBearer, &object("{}"));
        assert_eq!(missing.len(), 1);
        assert!(missing[0].1.contains("token"), "{:?}", missing);
    }
}
