//! The audit log on SQLite: append-only, read back newest first by id.

use async_trait::async_trait;
use sqlx::types::Json;
use sqlx::{QueryBuilder, Sqlite};

use super::{SqliteStore, Ts, db, now};
use crate::error::StoreError;
use crate::{AuditEntry, AuditFilter, AuditStore, MAX_AUDIT_PAGE, NewAuditEntry};

#[async_trait]
impl AuditStore for SqliteStore {
    async fn record_audit(&self, entry: &NewAuditEntry) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO audit_log (at, actor_kind, actor_id, actor_name, action, target_kind,
                                    target_id, summary, address)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(Ts(now()))
        .bind(&entry.actor_kind)
        .bind(entry.actor_id)
        .bind(&entry.actor_name)
        .bind(&entry.action)
        .bind(&entry.target_kind)
        .bind(&entry.target_id)
        .bind(Json(&entry.summary))
        .bind(entry.address.as_deref())
        .execute(&self.writer)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn list_audit(
        &self,
        filter: &AuditFilter,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let mut q = QueryBuilder::<Sqlite>::new(
            "SELECT id, at, actor_kind, actor_id, actor_name, action, target_kind, target_id,
                    summary, address
             FROM audit_log WHERE true",
        );
        if let Some(actor) = &filter.actor {
            q.push(" AND actor_name = ").push_bind(actor.clone());
        }
        match filter.action.as_deref() {
            // A prefix ending in `.`, compared as a prefix (PostgreSQL's `LIKE 'api_token.%'`
            // also reads the `_` as "any character", which matches no other action).
            Some(prefix) if prefix.ends_with('.') => {
                q.push(" AND substr(action, 1, length(")
                    .push_bind(prefix.to_owned())
                    .push(")) = ")
                    .push_bind(prefix.to_owned());
            }
            Some(action) => {
                q.push(" AND action = ").push_bind(action.to_owned());
            }
            None => {}
        }
        if let Some(kind) = &filter.target_kind {
            q.push(" AND target_kind = ").push_bind(kind.clone());
        }
        if let Some(id) = &filter.target_id {
            q.push(" AND target_id = ").push_bind(id.clone());
        }
        if let Some(since) = filter.since {
            q.push(" AND at >= ").push_bind(Ts(since));
        }
        if let Some(until) = filter.until {
            q.push(" AND at < ").push_bind(Ts(until));
        }
        if let Some(before) = filter.before_id {
            q.push(" AND id < ").push_bind(before);
        }
        q.push(" ORDER BY id DESC LIMIT ")
            .push_bind(limit.clamp(1, MAX_AUDIT_PAGE));
        q.build_query_as().fetch_all(&self.reader).await.map_err(db)
    }
}
