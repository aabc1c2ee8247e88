//! The credential vault's rows on SQLite; "which jobs reference it" walks the actions of
//! each job's spec.

use async_trait::async_trait;
use opsconductor_core::credential::CredentialKind;
use opsconductor_core::ids::CredentialId;

use super::{SqliteStore, Ts, db, now, uuid_list};
use crate::credentials::{MetaRow, meta_columns, named_clash};
use crate::error::StoreError;
use crate::{CredentialChange, CredentialDeletion, CredentialMeta, CredentialStore, SealedSecret};

/// A job whose spec has an action with `"credential": $1` (the credential id as text),
/// PostgreSQL's `spec->'actions' @> [{"credential": $1}]`.
macro_rules! uses_credential {
    () => {
        "EXISTS (SELECT 1 FROM json_each(jobs.spec, '$.actions') AS a
                 WHERE json_type(a.value, '$.credential') = 'text'
                   AND json_extract(a.value, '$.credential') = $1)"
    };
}

#[async_trait]
impl CredentialStore for SqliteStore {
    async fn create_credential(
        &self,
        id: CredentialId,
        name: &str,
        kind: CredentialKind,
        description: &str,
        secret: &SealedSecret,
    ) -> Result<CredentialMeta, StoreError> {
        let row: MetaRow = sqlx::query_as(concat!(
            "INSERT INTO credentials (id, name, kind, description, nonce, sealed, key_id,
                                      created_at, updated_at, secret_updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $8)
             RETURNING ",
            meta_columns!()
        ))
        .bind(id.as_uuid())
        .bind(name)
        .bind(kind.as_str())
        .bind(description)
        .bind(&secret.nonce)
        .bind(&secret.sealed)
        .bind(&secret.key_id)
        .bind(Ts(now()))
        .fetch_one(&self.writer)
        .await
        .map_err(db)
        .map_err(|e| named_clash(e, name))?;
        row.try_into()
    }

    async fn list_credentials(&self) -> Result<Vec<CredentialMeta>, StoreError> {
        let rows: Vec<MetaRow> = sqlx::query_as(concat!(
            "SELECT ",
            meta_columns!(),
            " FROM credentials ORDER BY name"
        ))
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        rows.into_iter().map(CredentialMeta::try_from).collect()
    }

    async fn get_credential(&self, id: CredentialId) -> Result<CredentialMeta, StoreError> {
        let row: Option<MetaRow> = sqlx::query_as(concat!(
            "SELECT ",
            meta_columns!(),
            " FROM credentials WHERE id = $1"
        ))
        .bind(id.as_uuid())
        .fetch_optional(&self.reader)
        .await
        .map_err(db)?;
        row.ok_or_else(|| StoreError::not_found(format!("credential {id}")))?
            .try_into()
    }

    async fn credentials_by_id(
        &self,
        ids: &[CredentialId],
    ) -> Result<Vec<CredentialMeta>, StoreError> {
        let rows: Vec<MetaRow> = sqlx::query_as(concat!(
            "SELECT ",
            meta_columns!(),
            " FROM credentials WHERE id IN (SELECT unhex(value) FROM json_each($1))"
        ))
        .bind(uuid_list(ids.iter().map(CredentialId::as_uuid)))
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        rows.into_iter().map(CredentialMeta::try_from).collect()
    }

    async fn sealed_credential(
        &self,
        id: CredentialId,
    ) -> Result<(CredentialMeta, SealedSecret), StoreError> {
        #[derive(sqlx::FromRow)]
        struct Row {
            #[sqlx(flatten)]
            meta: MetaRow,
            nonce: Vec<u8>,
            sealed: Vec<u8>,
            key_id: String,
        }
        let row: Option<Row> = sqlx::query_as(concat!(
            "SELECT ",
            meta_columns!(),
            ", nonce, sealed, key_id FROM credentials WHERE id = $1"
        ))
        .bind(id.as_uuid())
        .fetch_optional(&self.reader)
        .await
        .map_err(db)?;
        let row = row.ok_or_else(|| StoreError::not_found(format!("credential {id}")))?;
        Ok((
            row.meta.try_into()?,
            SealedSecret {
                nonce: row.nonce,
                sealed: row.sealed,
                key_id: row.key_id,
            },
        ))
    }

    async fn update_credential(
        &self,
        id: CredentialId,
        expected_version: Option<i64>,
        change: &CredentialChange,
    ) -> Result<CredentialMeta, StoreError> {
        let secret = change.secret.as_ref();
        let mut tx = self.begin().await?;
        let row: Option<MetaRow> = sqlx::query_as(concat!(
            "UPDATE credentials SET
                 name = coalesce($3, name),
                 description = coalesce($4, description),
                 nonce = coalesce($5, nonce),
                 sealed = coalesce($6, sealed),
                 key_id = coalesce($7, key_id),
                 secret_updated_at = CASE WHEN $6 IS NULL THEN secret_updated_at ELSE $8 END,
                 version = version + 1,
                 updated_at = $8
             WHERE id = $1 AND ($2 IS NULL OR version = $2)
             RETURNING ",
            meta_columns!()
        ))
        .bind(id.as_uuid())
        .bind(expected_version)
        .bind(change.name.as_deref())
        .bind(change.description.as_deref())
        .bind(secret.map(|s| &s.nonce))
        .bind(secret.map(|s| &s.sealed))
        .bind(secret.map(|s| &s.key_id))
        .bind(Ts(now()))
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)
        .map_err(|e| match &change.name {
            Some(name) => named_clash(e, name),
            None => e,
        })?;
        if let Some(row) = row {
            tx.commit().await.map_err(db)?;
            return row.try_into();
        }
        let current: Option<i64> =
            sqlx::query_scalar("SELECT version FROM credentials WHERE id = $1")
                .bind(id.as_uuid())
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?;
        let current = current.ok_or_else(|| StoreError::not_found(format!("credential {id}")))?;
        Err(StoreError::Conflict {
            message: format!(
                "credential {id} is at version {current}, not {}: it changed since it was \
                 read; read it again and reapply the change",
                expected_version.unwrap_or_default()
            ),
        })
    }

    async fn delete_credential(
        &self,
        id: CredentialId,
        expected_version: Option<i64>,
    ) -> Result<CredentialDeletion, StoreError> {
        let mut tx = self.begin().await?;
        let current: Option<i64> =
            sqlx::query_scalar("SELECT version FROM credentials WHERE id = $1")
                .bind(id.as_uuid())
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?;
        let current = current.ok_or_else(|| StoreError::not_found(format!("credential {id}")))?;
        if let Some(expected) = expected_version
            && expected != current
        {
            return Ok(CredentialDeletion::StaleVersion { current });
        }
        let jobs: Vec<String> = sqlx::query_scalar(concat!(
            "SELECT name FROM jobs WHERE ",
            uses_credential!(),
            " ORDER BY name LIMIT 100"
        ))
        .bind(id.to_string())
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        if !jobs.is_empty() {
            return Ok(CredentialDeletion::InUse { jobs });
        }
        sqlx::query("DELETE FROM credentials WHERE id = $1")
            .bind(id.as_uuid())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(CredentialDeletion::Deleted)
    }
}
