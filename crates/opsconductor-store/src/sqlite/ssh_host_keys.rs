//! SSH host keys trusted on first use, on SQLite.

use async_trait::async_trait;
use opsconductor_core::ids::AgentId;
use uuid::Uuid;

use super::{SqliteStore, Ts, db, now};
use crate::error::StoreError;
use crate::{HostKeyVerdict, SshHostKey, SshHostKeyStore};

#[async_trait]
impl SshHostKeyStore for SqliteStore {
    async fn verify_host_key(
        &self,
        host: &str,
        port: u16,
        algorithm: &str,
        fingerprint: &str,
        agent: AgentId,
    ) -> Result<HostKeyVerdict, StoreError> {
        let now = Ts(now());
        let mut tx = self.begin().await?;
        let inserted: Option<Uuid> = sqlx::query_scalar(
            "INSERT INTO ssh_host_keys (id, host, port, algorithm, fingerprint, first_seen_at,
                                        first_seen_by, last_seen_at)
             VALUES ($1, $2, $3, $4, $5, $7, $6, $7)
             ON CONFLICT (host, port) DO NOTHING
             RETURNING id",
        )
        .bind(Uuid::now_v7())
        .bind(host)
        .bind(i32::from(port))
        .bind(algorithm)
        .bind(fingerprint)
        .bind(agent.as_uuid())
        .bind(now)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        if inserted.is_some() {
            tx.commit().await.map_err(db)?;
            return Ok(HostKeyVerdict::TrustedOnFirstUse);
        }
        // One statement judges and notes: a match refreshes last_seen_at, a mismatch is
        // remembered as the refused key.
        let (recorded_algorithm, recorded_fingerprint): (String, String) = sqlx::query_as(
            "UPDATE ssh_host_keys SET
                 last_seen_at = CASE WHEN algorithm = $3 AND fingerprint = $4
                                     THEN $5 ELSE last_seen_at END,
                 refused_algorithm = CASE WHEN algorithm = $3 AND fingerprint = $4
                                          THEN refused_algorithm ELSE $3 END,
                 refused_fingerprint = CASE WHEN algorithm = $3 AND fingerprint = $4
                                            THEN refused_fingerprint ELSE $4 END,
                 refused_at = CASE WHEN algorithm = $3 AND fingerprint = $4
                                   THEN refused_at ELSE $5 END
             WHERE host = $1 AND port = $2
             RETURNING algorithm, fingerprint",
        )
        .bind(host)
        .bind(i32::from(port))
        .bind(algorithm)
        .bind(fingerprint)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?
        .ok_or_else(|| StoreError::Conflict {
            message: format!("the host key record of {host}:{port} was deleted meanwhile; retry"),
        })?;
        tx.commit().await.map_err(db)?;
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
        sqlx::query_as(
            "SELECT id, host, port, algorithm, fingerprint, first_seen_at, first_seen_by,
                    last_seen_at, refused_algorithm, refused_fingerprint, refused_at
             FROM ssh_host_keys ORDER BY host, port",
        )
        .fetch_all(&self.reader)
        .await
        .map_err(db)
    }

    async fn delete_host_key(&self, id: Uuid) -> Result<(), StoreError> {
        let deleted = sqlx::query("DELETE FROM ssh_host_keys WHERE id = $1")
            .bind(id)
            .execute(&self.writer)
            .await
            .map_err(db)?
            .rows_affected();
        if deleted == 0 {
            return Err(StoreError::not_found(format!("ssh host key {id}")));
        }
        Ok(())
    }
}
