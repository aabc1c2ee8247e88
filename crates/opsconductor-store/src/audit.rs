//! The audit log: who changed what and when, append-only, read back newest first with a
//! keyset cursor. Summaries are written by the controller, which keeps secrets out.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use crate::PgStore;
use crate::error::{StoreError, db};

/// Most entries one page holds.
pub const MAX_AUDIT_PAGE: i64 = 1000;

/// One entry to write.
#[derive(Debug, Clone)]
pub struct NewAuditEntry {
    /// `user`, `api_token` or `system`.
    pub actor_kind: String,
    /// The user or token id.
    pub actor_id: Option<Uuid>,
    /// The user's name (as it was then).
    pub actor_name: String,
    /// What was done: `job.update`, `user.create`, `auth.login` …
    pub action: String,
    /// What it was done to: `job`, `user`, `credential` …
    pub target_kind: String,
    /// Its id or name.
    pub target_id: String,
    /// What changed (never secrets).
    pub summary: Value,
    /// The client's address.
    pub address: Option<String>,
}

/// One stored entry.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct AuditEntry {
    /// Increasing; the cursor of the next page.
    pub id: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// `user`, `api_token` or `system`.
    pub actor_kind: String,
    /// The user or token id.
    pub actor_id: Option<Uuid>,
    /// The user's name then.
    pub actor_name: String,
    /// What was done.
    pub action: String,
    /// What it was done to.
    pub target_kind: String,
    /// Its id or name.
    pub target_id: String,
    /// What changed.
    pub summary: Value,
    /// The client's address.
    pub address: Option<String>,
}

/// Which entries to read; every field narrows.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Exact actor name.
    pub actor: Option<String>,
    /// Exact action, or a prefix ending in `.` (`job.`).
    pub action: Option<String>,
    /// Exact target kind.
    pub target_kind: Option<String>,
    /// Exact target id.
    pub target_id: Option<String>,
    /// At or after.
    pub since: Option<DateTime<Utc>>,
    /// Before.
    pub until: Option<DateTime<Utc>>,
    /// Entries older than this id (the cursor).
    pub before_id: Option<i64>,
}

/// The audit log: who changed what, and when.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends an entry.
    async fn record_audit(&self, entry: &NewAuditEntry) -> Result<(), StoreError>;

    /// Up to `limit` entries matching `filter`, newest first.
    async fn list_audit(
        &self,
        filter: &AuditFilter,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, StoreError>;
}

#[async_trait]
impl AuditStore for PgStore {
    async fn record_audit(&self, entry: &NewAuditEntry) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO audit_log (actor_kind, actor_id, actor_name, action, target_kind,
                                    target_id, summary, address)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&entry.actor_kind)
        .bind(entry.actor_id)
        .bind(&entry.actor_name)
        .bind(&entry.action)
        .bind(&entry.target_kind)
        .bind(&entry.target_id)
        .bind(&entry.summary)
        .bind(entry.address.as_deref())
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn list_audit(
        &self,
        filter: &AuditFilter,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let (action_exact, action_prefix) = match filter.action.as_deref() {
            Some(a) if a.ends_with('.') => (None, Some(format!("{a}%"))),
            Some(a) => (Some(a.to_owned()), None),
            None => (None, None),
        };
        sqlx::query_as(
            "SELECT id, at, actor_kind, actor_id, actor_name, action, target_kind, target_id,
                    summary, address
             FROM audit_log
             WHERE ($1::text IS NULL OR actor_name = $1)
               AND ($2::text IS NULL OR action = $2)
               AND ($3::text IS NULL OR action LIKE $3)
               AND ($4::text IS NULL OR target_kind = $4)
               AND ($5::text IS NULL OR target_id = $5)
               AND ($6::timestamptz IS NULL OR at >= $6)
               AND ($7::timestamptz IS NULL OR at < $7)
               AND ($8::bigint IS NULL OR id < $8)
             ORDER BY id DESC
             LIMIT $9",
        )
        .bind(filter.actor.as_deref())
        .bind(action_exact)
        .bind(action_prefix)
        .bind(filter.target_kind.as_deref())
        .bind(filter.target_id.as_deref())
        .bind(filter.since)
        .bind(filter.until)
        .bind(filter.before_id)
        .bind(limit.clamp(1, MAX_AUDIT_PAGE))
        .fetch_all(&self.pool)
        .await
        .map_err(db)
    }
}
