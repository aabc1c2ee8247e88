//! The tokens a client holds: short-lived JWT access tokens and opaque random refresh and
//! API tokens.
//!
//! Access tokens are HS256 JWTs signed with the controller's auth key. Verification
//! accepts HS256 only (so `alg: none` and algorithm confusion are refused), always with
//! this key (a `kid` or `jwk` in the header is never looked at), and checks `exp`, `aud`
//! and `iss`. A valid signature is not the end: the caller still checks that the
//! session in `sid` is live, which is what makes logout and revocation take effect before
//! the token expires. Refresh and API tokens are 32 random bytes; only their SHA-256 is
//! stored.

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use opsconductor_core::access::Role;
use opsconductor_core::ids::{SessionId, UserId};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// The `aud` of every access token.
pub const AUDIENCE: &str = "opsconductor-api";
/// Prefix of API tokens (tells them apart from JWTs in an `Authorization` header).
pub const API_TOKEN_PREFIX: &str = "oct_";
/// Prefix of refresh tokens.
pub const REFRESH_TOKEN_PREFIX: &str = "ocr_";
/// Clock skew tolerated on `exp`, seconds.
const LEEWAY_SECONDS: u64 = 5;

/// What an access token says. `name` and `role` are for the client's display only: the
/// server reads both from the store on each request.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccessClaims {
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// The user id.
    pub sub: String,
    /// The session id.
    pub sid: String,
    /// Issued at (seconds since the epoch).
    pub iat: i64,
    /// Expires at (seconds since the epoch).
    pub exp: i64,
    /// The user's name when issued.
    pub name: String,
    /// The user's role when issued.
    pub role: Role,
}

/// Why an access token was refused. Each reason is logged at debug level; the client
/// only learns that the token is not valid.
#[derive(Debug, thiserror::Error)]
#[error("access token refused: {0}")]
pub struct TokenRefused(String);

/// Signs and checks access tokens with one HMAC key.
#[derive(Clone)]
pub struct AccessTokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
}

impl std::fmt::Debug for AccessTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessTokens")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl AccessTokens {
    /// Tokens signed with `key` (at least 32 bytes) and issued as `issuer`.
    pub fn new(key: &[u8], issuer: &str) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.set_audience(&[AUDIENCE]);
        validation.set_issuer(&[issuer]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = LEEWAY_SECONDS;
        Self {
            encoding: EncodingKey::from_secret(key),
            decoding: DecodingKey::from_secret(key),
            validation,
            issuer: issuer.to_owned(),
        }
    }

    /// A token for `user` in `session`, valid until `expires_at`.
    pub fn issue(
        &self,
        user: UserId,
        name: &str,
        role: Role,
        session: SessionId,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<String, TokenRefused> {
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            aud: AUDIENCE.to_owned(),
            sub: user.to_string(),
            sid: session.to_string(),
            iat: now.timestamp(),
            exp: expires_at.timestamp(),
            name: name.to_owned(),
            role,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| TokenRefused(format!("signing: {e}")))
    }

    /// The user and session of a token with a valid signature, `exp`, `aud` and `iss`.
    pub fn verify(&self, token: &str) -> Result<(UserId, SessionId), TokenRefused> {
        let data = jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &self.validation)
            .map_err(|e| TokenRefused(e.to_string()))?;
        let user = data
            .claims
            .sub
            .parse()
            .map_err(|_| TokenRefused("sub is not a user id".to_owned()))?;
        let session = data
            .claims
            .sid
            .parse()
            .map_err(|_| TokenRefused("sid is not a session id".to_owned()))?;
        Ok((user, session))
    }
}

/// A new opaque token (`prefix` + 64 hex digits) and the SHA-256 the store keeps.
pub fn opaque_token(prefix: &str) -> (String, Vec<u8>) {
    let bytes: [u8; 32] = rand::random();
    let token = format!("{prefix}{}", hex::encode(bytes));
    let hash = token_hash(&token);
    (token, hash)
}

/// The SHA-256 of a token, as stored.
pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn issue(tokens: &AccessTokens, lifetime: chrono::Duration) -> (String, UserId, SessionId) {
        let (user, session) = (UserId::new(), SessionId::new());
        let now = Utc::now();
        let token = tokens
            .issue(user, "alice", Role::Viewer, session, now, now + lifetime)
            .unwrap();
        (token, user, session)
    }

    #[test]
    fn a_token_verifies_with_its_key_issuer_and_audience_only() {
        let tokens = AccessTokens::new(KEY, "oc-test");
        let (token, user, session) = issue(&tokens, chrono::Duration::minutes(5));
        assert_eq!(tokens.verify(&token).unwrap(), (user, session));
        let other_key = AccessTokens::new(b"another key another key another k", "oc-test");
        assert!(other_key.verify(&token).is_err());
        let other_issuer = AccessTokens::new(KEY, "someone-else");
        assert!(other_issuer.verify(&token).is_err());
        let expired = issue(&tokens, chrono::Duration::seconds(-60)).0;
        assert!(tokens.verify(&expired).is_err());
    }

    #[test]
    fn opaque_tokens_are_random_and_only_their_hash_is_kept() {
        let (a, hash_a) = opaque_token(API_TOKEN_PREFIX);
        let (b, _) = opaque_token(API_TOKEN_PREFIX);
        assert_ne!(a, b);
        assert!(a.starts_with("oct_") && a.len() == 4 + 64, "{a}");
        assert_eq!(token_hash(&a), hash_a);
        assert_eq!(hash_a.len(), 32);
    }
}
