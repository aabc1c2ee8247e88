//! Segments: where agents sit and which address blocks they serve.

use async_trait::async_trait;
use ipnet::IpNet;
use opsconductor_core::model::Segment;

use crate::PgStore;
use crate::error::{StoreError, db};

/// Network segments.
#[async_trait]
pub trait SegmentStore: Send + Sync {
    /// Creates the segment, or replaces the CIDRs of the segment with that name.
    async fn upsert_segment(&self, segment: &Segment) -> Result<(), StoreError>;

    /// Every segment, by name.
    async fn list_segments(&self) -> Result<Vec<Segment>, StoreError>;

    /// Deletes a segment that no agent and no enrollment token refers to; otherwise a
    /// [`StoreError::Conflict`] naming what still uses it.
    async fn delete_segment(&self, name: &str) -> Result<(), StoreError>;
}

#[async_trait]
impl SegmentStore for PgStore {
    async fn upsert_segment(&self, segment: &Segment) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO segments (name, cidrs) VALUES ($1, $2::cidr[])
             ON CONFLICT (name) DO UPDATE SET cidrs = EXCLUDED.cidrs",
        )
        .bind(&segment.name)
        .bind(segment.cidrs.as_slice())
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn list_segments(&self) -> Result<Vec<Segment>, StoreError> {
        let rows: Vec<(String, Vec<IpNet>)> =
            sqlx::query_as("SELECT name, cidrs FROM segments ORDER BY name")
                .fetch_all(&self.pool)
                .await
                .map_err(db)?;
        Ok(rows
            .into_iter()
            .map(|(name, cidrs)| Segment { name, cidrs })
            .collect())
    }

    async fn delete_segment(&self, name: &str) -> Result<(), StoreError> {
        let (agents, tokens): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM agents WHERE segment = $1),
                    (SELECT count(*) FROM enrollment_tokens WHERE segment = $1)",
        )
        .bind(name)
        .fetch_one(&self.pool)
        .await
        .map_err(db)?;
        if agents > 0 || tokens > 0 {
            return Err(StoreError::Conflict {
                message: format!(
                    "segment {name:?} is used by {agents} agent(s) and {tokens} enrollment \
                     token(s); remove those first"
                ),
            });
        }
        let deleted = sqlx::query("DELETE FROM segments WHERE name = $1")
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        if deleted.rows_affected() == 0 {
            return Err(StoreError::not_found(format!("segment {name:?}")));
        }
        Ok(())
    }
}
