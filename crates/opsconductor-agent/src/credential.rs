//! Credential material from `FetchCredential` turned into what the executors take.
//!
//! Errors name the kind and the field that is wrong, never a value: the secret JSON is not
//! echoed even when it is malformed (serde's own messages can quote values, so they are not
//! passed on).

use serde_json::{Map, Value};

use opsconductor_actions::credential::{Credential, Secret, SnmpAuthProtocol, SnmpPrivProtocol};

/// Converts a fetched credential. The error is an operator-facing sentence without any
/// secret material.
pub(crate) fn from_secret(kind: &str, secret_json: &str) -> Result<Credential, String> {
    let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(secret_json) else {
        return Err(format!(
            "the {kind} credential's secret is not a JSON object"
        ));
    };
    let f = Fields {
        kind,
        fields: &fields,
    };
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
    fn every_documented_kind_converts() {
        assert!(matches!(
            from_secret("snmp_community", r#"{"community":"public"}"#).unwrap(),
            Credential::SnmpCommunity { community } if community.expose() == "public"
        ));
        let v3 = from_secret(
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
        let no_auth = from_secret("snmp_v3", r#"{"user":"mon"}"#).unwrap();
        assert!(matches!(
            no_auth,
            Credential::SnmpV3 {
                auth: None,
                privacy: None,
                ..
            }
        ));
        assert!(matches!(
            from_secret("ssh_password", r#"{"user":"admin","password":"pw"}"#).unwrap(),
            Credential::SshPassword { .. }
        ));
        assert!(matches!(
            from_secret("ssh_key", r#"{"user":"admin","private_key":"-----BEGIN"}"#).unwrap(),
            Credential::SshKey {
                passphrase: None,
                ..
            }
        ));
        assert!(matches!(
            from_secret(
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
            let message = from_secret(kind, json).unwrap_err();
            assert!(!message.contains("hunter2"), "{kind}: {message}");
        }
        assert!(
            from_secret("kerberos", "{}")
                .unwrap_err()
                .contains("unknown credential kind")
        );
    }
}
