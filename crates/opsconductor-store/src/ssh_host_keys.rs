//! SSH host keys trusted on first use, shared by every agent: the first key seen for a
//! host and port is recorded, the same key later is trusted, a different one is refused
//! (and noted for the admin) until the record is deleted.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use opsconductor_core::ids::AgentId;
use uuid::Uuid;

use crate::PgStore;
use crate::error::{StoreError, db};

/// A recorded host key.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SshHostKey {
    /// Id (for deleting the record).
    pub id: Uuid,
    /// The target as actions address it.
    pub host: String,
    /// The SSH port.
    pub port: i32,
    /// Key algorithm (`ssh-ed25519`).
    pub algorithm: String,
    /// `SHA256:…` fingerprint.
    pub fingerprint: String,
    /// When it was recorded.
    pub first_seen_at: DateTime<Utc>,
    /// The agent that saw it first.
    pub first_seen_by: Option<Uuid>,
    /// When it was last presented and trusted.
    pub last_seen_at: DateTime<Utc>,
    /// The last different key that was refused.
    pub refused_algorithm: Option<String>,
    /// Its fingerprint.
    pub refused_fingerprint: Option<String>,
    /// When it was refused.
    pub refused_at: Option<DateTime<Utc>>,
}

/// The verdict on a presented key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostKeyVerdict {
    /// Known and matching.
    Trusted,
    /// Never seen before: recorded now.
    TrustedOnFirstUse,
    /// Differs from the record.
    Changed {
        /// The recorded key, `<algorithm> <fingerprint>`.
        expected: String,
    },
}

/// SSH host keys trusted on first use for the whole deployment.
#[async_trait]
pub trait SshHostKeyStore: Send + Sync {
    /// Checks `algorithm`/`fingerprint` for `host:port`, recording it if the pair is new.
    /// Concurrent first uses by several agents record one key; the others are judged
    /// against it.
    async fn verify_host_key(
        &self,
        host: &str,
        port: u16,
        algorithm: &str,
        fingerprint: &str,
        agent: AgentId,
    ) -> Result<HostKeyVerdict, StoreError>;

    /// Every recorded host key, by host and port.
    async fn list_host_keys(&self) -> Result<Vec<SshHostKey>, StoreError>;

    /// Forgets a recorded key: the next key presented for its host and port is trusted
    /// on first use.
    async fn delete_host_key(&self, id: Uuid) -> Result<(), StoreError>;
}

#[async_trait]
impl SshHostKeyStore for PgStore {
    async fn verify_host_key(
        &self,
        host: &str,
        port: u16,
        algorithm: &str,
        fingerprint: &str,
        agent: AgentId,
    ) -> Result<HostKeyVerdict, StoreError> {
        let inserted: Option<Uuid> = sqlx::query_scalar(
            "INSERT INTO ssh_host_keys (id, host, port, algorithm, fingerprint, first_seen_by)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (host, port) DO NOTHING
             RETURNING id",
        )
        .bind(Uuid::now_v7())
        .bind(host)
        .bind(i32::from(port))
        .bind(algorithm)
        .bind(fingerprint)
        .bind(agent.as_uuid())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        if inserted.is_some() {
            return Ok(HostKeyVerdict::TrustedOnFirstUse);
        }
        // One statement judges and notes: a match refreshes last_seen_at, a mismatch is
        // remembered as the refused key.
        let (recorded_algorithm, recorded_fingerprint): (String, String) = sqlx::query_as(
            "UPDATE ssh_host_keys SET
                 last_seen_at = CASE WHEN algorithm = $3 AND fingerprint = $4
                                     THEN now() ELSE last_seen_at END,
                 refused_algorithm = CASE WHEN algorithm = $3 AND fingerprint = $4
                                          THEN refused_algorithm ELSE $3 END,
                 refused_fingerprint = CASE WHEN algorithm = $3 AND fingerprint = $4
                                            THEN refused_fingerprint ELSE $4 END,
                 refused_at = CASE WHEN algorithm = $3 AND fingerprint = $4
                                   THEN refused_at ELSE now() END
             WHERE host = $1 AND port = $2
             RETURNING algorithm, fingerprint",
        )
        .bind(host)
        .bind(i32::from(port))
        .bind(algorithm)
        .bind(fingerprint)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .ok_or_else(|| StoreError::Conflict {
            message: format!("the host key record of {host}:{port} was deleted meanwhile; retry"),
        })?;
        Ok(
            if recorded_algorithm == algorithm && recorded_fingerprint == fingerprint {
                HostKeyVerdict::Trusted
            } else {
                HostKeyVerdict::Changed {
                    expected: format!("{recorded_algorithm} {recorded_fingerprint}"),
                }
            },
        )
    }

    async fn list_host_keys(&self) -> Result<Vec<SshHostKey>, StoreError> {
        sqlx::query_as("SELECT * FROM ssh_host_keys ORDER BY host, port")
            .fetch_all(&self.pool)
            .await
            .map_err(db)
    }

    async fn delete_host_key(&self, id: Uuid) -> Result<(), StoreError> {
        let deleted = sqlx::query("DELETE FROM ssh_host_keys WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(db)?
            .rows_affected();
        if deleted == 0 {
            return Err(StoreError::not_found(format!("ssh host key {id}")));
        }
        Ok(())
    }
}
