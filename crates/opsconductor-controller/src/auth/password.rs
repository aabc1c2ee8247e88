//! Password hashing: argon2id with 19 MiB of memory and 2 passes (the OWASP minimum
//! for argon2id), a fresh salt per hash, the PHC string stored. Hashing is deliberately
//! slow, so callers run it on the blocking pool.

use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier as _, Version};

use crate::error::ControllerError;

/// Memory per hash, KiB.
pub const MEMORY_KIB: u32 = 19 * 1024;
/// Passes over that memory.
pub const ITERATIONS: u32 = 2;
/// Shortest password accepted.
pub const MIN_LENGTH: usize = 12;
/// Longest password accepted, bytes (bounds the work an attacker can ask for).
pub const MAX_BYTES: usize = 1024;

fn hasher() -> Result<Argon2<'static>, ControllerError> {
    let params = Params::new(MEMORY_KIB, ITERATIONS, 1, None)
        .map_err(|e| ControllerError::Internal(format!("argon2 parameters: {e}")))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Checks a new password against the policy; the error names `field`, never the value.
pub fn check_policy(field: &str, password: &str, username: &str) -> Result<(), ControllerError> {
    if password.chars().count() < MIN_LENGTH {
        return Err(ControllerError::field(
            field,
            format!("must be at least {MIN_LENGTH} characters"),
        ));
    }
    if password.len() > MAX_BYTES {
        return Err(ControllerError::field(
            field,
            format!("must be at most {MAX_BYTES} bytes"),
        ));
    }
    if password.eq_ignore_ascii_case(username) {
        return Err(ControllerError::field(field, "must not be the user name"));
    }
    Ok(())
}

/// The PHC string of `password` under a fresh salt.
pub async fn hash(password: String) -> Result<String, ControllerError> {
    tokio::task::spawn_blocking(move || {
        hasher()?
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| ControllerError::Internal(format!("hashing a password: {e}")))
    })
    .await
    .map_err(|e| ControllerError::Internal(format!("hashing a password: {e}")))?
}

/// Whether `password` matches `phc`. With `phc` `None` (no such user) the same work is
/// done against a dummy hash, so a login's timing does not tell which names exist.
pub async fn verify(password: String, phc: Option<String>) -> Result<bool, ControllerError> {
    tokio::task::spawn_blocking(move || {
        let hasher = hasher()?;
        let Some(phc) = phc else {
            let _ = hasher.verify_password(password.as_bytes(), dummy_hash());
            return Ok(false);
        };
        if password.len() > MAX_BYTES {
            return Ok(false);
        }
        Ok(hasher
            .verify_password(password.as_bytes(), phc.as_str())
            .is_ok())
    })
    .await
    .map_err(|e| ControllerError::Internal(format!("checking a password: {e}")))?
}

/// A valid hash of a random password under the same parameters, made once.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        let random: [u8; 16] = rand::random();
        hasher()
            .ok()
            .and_then(|h| h.hash_password(&random).ok())
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_is_argon2id_with_the_required_cost_and_verifies_only_its_password() {
        let phc = hash("correct horse battery".to_owned()).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(
            verify("correct horse battery".to_owned(), Some(phc.clone()))
                .await
                .unwrap()
        );
        assert!(
            !verify("correct horse batterY".to_owned(), Some(phc.clone()))
                .await
                .unwrap()
        );
        let again = hash("correct horse battery".to_owned()).await.unwrap();
        assert_ne!(phc, again, "every hash has its own salt");
        assert!(!verify("anything".to_owned(), None).await.unwrap());
    }

    #[test]
    fn the_policy_names_the_field_and_never_the_password() {
        let err = check_policy("password", "short", "alice")
            .unwrap_err()
            .to_string();
        assert!(err.contains("password") && err.contains("12"), "{err}");
        assert!(!err.contains("short"), "{err}");
        assert!(check_policy("password", "alicealicealice", "alicealicealice").is_err());
        assert!(check_policy("password", &"x".repeat(2000), "alice").is_err());
        check_policy("password", "a long enough one", "alice").unwrap();
    }
}
