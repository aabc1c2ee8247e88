//! Segments on SQLite: their CIDRs as a JSON array of strings.

use async_trait::async_trait;
use ipnet::IpNet;
use opsconductor_core::model::Segment;
use sqlx::types::Json;

use super::{SqliteStore, Ts, db, now};
use crate::SegmentStore;
use crate::error::StoreError;

#[async_trait]
impl SegmentStore for SqliteStore {
    async fn upsert_segment(&self, segment: &Segment) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO segments (name, cidrs, created_at) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE SET cidrs = excluded.cidrs",
        )
        .bind(&segment.name)
        .bind(Json(&segment.cidrs))
        .bind(Ts(now()))
        .execute(&self.writer)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn list_segments(&self) -> Result<Vec<Segment>, StoreError> {
        let rows: Vec<(String, Json<Vec<IpNet>>)> =
            sqlx::query_as("SELECT name, cidrs FROM segments ORDER BY name")
                .fetch_all(&self.reader)
                .await
                .map_err(db)?;
        Ok(rows
            .into_iter()
            .map(|(name, Json(cidrs))| Segment { name, cidrs })
            .collect())
    }

    async fn delete_segment(&self, name: &str) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let (agents, tokens): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM agents WHERE segment = $1),
                    (SELECT count(*) FROM enrollment_tokens WHERE segment = $1)",
        )
        .bind(name)
        .fetch_one(&mut *tx)
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
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        if deleted.rows_affected() == 0 {
            return Err(StoreError::not_found(format!("segment {name:?}")));
        }
        tx.commit().await.map_err(db)?;
        Ok(())
    }
}
