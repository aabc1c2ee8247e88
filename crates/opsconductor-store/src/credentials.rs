//! The credential vault's rows: metadata in the clear, the secret only as the controller
//! sealed it. The store never sees a key or a plaintext; it keeps what it is given and
//! answers which jobs reference a credential (a referenced credential cannot be deleted).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use opsconductor_core::credential::CredentialKind;
use opsconductor_core::ids::CredentialId;
use uuid::Uuid;

use crate::PgStore;
use crate::error::{StoreError, db};

/// What the API may show of a credential: everything but the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialMeta {
    /// Stable id, referenced by actions.
    pub id: CredentialId,
    /// Unique name.
    pub name: String,
    /// What the secret holds.
    pub kind: CredentialKind,
    /// Free text.
    pub description: String,
    /// Increments on every change.
    pub version: i64,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change of any kind.
    pub updated_at: DateTime<Utc>,
    /// Last change of the secret itself.
    pub secret_updated_at: DateTime<Utc>,
}

/// A secret as the controller sealed it.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedSecret {
    /// The GCM nonce.
    pub nonce: Vec<u8>,
    /// Ciphertext and tag.
    pub sealed: Vec<u8>,
    /// Fingerprint of the master key that sealed it.
    pub key_id: String,
}

impl std::fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedSecret")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// What [`PgStore::delete_credential`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialDeletion {
    /// It is gone.
    Deleted,
    /// It changed since the caller read it.
    StaleVersion {
        /// Its version now.
        current: i64,
    },
    /// Jobs reference it (by name, at most 100; empty if the last one let go of it
    /// meanwhile).
    InUse {
        /// The jobs.
        jobs: Vec<String>,
    },
}

/// A change to a credential; `None` keeps a field.
#[derive(Debug, Clone, Default)]
pub struct CredentialChange {
    /// New name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New secret (same kind).
    pub secret: Option<SealedSecret>,
}

#[derive(sqlx::FromRow)]
pub(crate) struct MetaRow {
    id: Uuid,
    name: String,
    kind: String,
    description: String,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    secret_updated_at: DateTime<Utc>,
}

/// The metadata columns, for `concat!` (sqlx takes only static SQL).
macro_rules! meta_columns {
    () => {
        "id, name, kind, description, version, created_at, updated_at, secret_updated_at"
    };
}
pub(crate) use meta_columns;

/// A job whose spec has an action with `"credential": $1`.
macro_rules! uses_credential {
    () => {
        "spec->'actions' @> jsonb_build_array(jsonb_build_object('credential', $1::text))"
    };
}

impl TryFrom<MetaRow> for CredentialMeta {
    type Error = StoreError;

    fn try_from(row: MetaRow) -> Result<Self, StoreError> {
        let kind = CredentialKind::from_name(&row.kind).ok_or_else(|| StoreError::Other {
            message: format!("credential {} has unknown kind {:?}", row.id, row.kind),
        })?;
        Ok(Self {
            id: CredentialId::from_uuid(row.id),
            name: row.name,
            kind,
            description: row.description,
            version: row.version,
            created_at: row.created_at,
            updated_at: row.updated_at,
            secret_updated_at: row.secret_updated_at,
        })
    }
}

/// The credential vault's rows: secrets only as the controller sealed them, and which jobs use each.
#[async_trait]
pub trait CredentialStore: Send + Sync {
    /// Stores a credential at version 1 under `id` (the controller chose it: the id is
    /// sealed into the secret). A name in use is [`StoreError::AlreadyExists`].
    async fn create_credential(
        &self,
        id: CredentialId,
        name: &str,
        kind: CredentialKind,
        description: &str,
        secret: &SealedSecret,
    ) -> Result<CredentialMeta, StoreError>;

    /// Every credential's metadata, by name.
    async fn list_credentials(&self) -> Result<Vec<CredentialMeta>, StoreError>;

    /// One credential's metadata.
    async fn get_credential(&self, id: CredentialId) -> Result<CredentialMeta, StoreError>;

    /// Metadata of the credentials among `ids` that exist (for validating references).
    async fn credentials_by_id(
        &self,
        ids: &[CredentialId],
    ) -> Result<Vec<CredentialMeta>, StoreError>;

    /// A credential with its sealed secret, for handing it to an agent.
    async fn sealed_credential(
        &self,
        id: CredentialId,
    ) -> Result<(CredentialMeta, SealedSecret), StoreError>;

    /// Applies `change` if the credential is still at `expected_version` (`None` skips
    /// the check) and bumps the version.
    async fn update_credential(
        &self,
        id: CredentialId,
        expected_version: Option<i64>,
        change: &CredentialChange,
    ) -> Result<CredentialMeta, StoreError>;

    /// Deletes a credential if it is still at `expected_version` (`None` skips the
    /// check) and no job references it, in one statement; what stopped it is found out
    /// only when something did.
    async fn delete_credential(
        &self,
        id: CredentialId,
        expected_version: Option<i64>,
    ) -> Result<CredentialDeletion, StoreError>;
}

#[async_trait]
impl CredentialStore for PgStore {
    async fn create_credential(
        &self,
        id: CredentialId,
        name: &str,
        kind: CredentialKind,
        description: &str,
        secret: &SealedSecret,
    ) -> Result<CredentialMeta, StoreError> {
        let row: MetaRow = sqlx::query_as(concat!(
            "INSERT INTO credentials (id, name, kind, description, nonce, sealed, key_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
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
        .fetch_one(&self.pool)
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
        .fetch_all(&self.pool)
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
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.ok_or_else(|| StoreError::not_found(format!("credential {id}")))?
            .try_into()
    }

    async fn credentials_by_id(
        &self,
        ids: &[CredentialId],
    ) -> Result<Vec<CredentialMeta>, StoreError> {
        let ids: Vec<Uuid> = ids.iter().map(|id| *id.as_uuid()).collect();
        let rows: Vec<MetaRow> = sqlx::query_as(concat!(
            "SELECT ",
            meta_columns!(),
            " FROM credentials WHERE id = ANY($1)"
        ))
        .bind(&ids)
        .fetch_all(&self.pool)
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
        .fetch_optional(&self.pool)
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
        let row: Option<MetaRow> = sqlx::query_as(concat!(
            "UPDATE credentials SET
                 name = coalesce($3, name),
                 description = coalesce($4, description),
                 nonce = coalesce($5, nonce),
                 sealed = coalesce($6, sealed),
                 key_id = coalesce($7, key_id),
                 secret_updated_at = CASE WHEN $6 IS NULL THEN secret_updated_at ELSE now() END,
                 version = version + 1,
                 updated_at = now()
             WHERE id = $1 AND ($2::bigint IS NULL OR version = $2)
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
        .fetch_optional(&self.pool)
        .await
        .map_err(db)
        .map_err(|e| match &change.name {
            Some(name) => named_clash(e, name),
            None => e,
        })?;
        match row {
            Some(row) => row.try_into(),
            None => {
                let current = self.get_credential(id).await?;
                Err(StoreError::Conflict {
                    message: format!(
                        "credential {id} is at version {}, not {}: it changed since it was \
                         read; read it again and reapply the change",
                        current.version,
                        expected_version.unwrap_or_default()
                    ),
                })
            }
        }
    }

    async fn delete_credential(
        &self,
        id: CredentialId,
        expected_version: Option<i64>,
    ) -> Result<CredentialDeletion, StoreError> {
        let deleted = sqlx::query(concat!(
            "DELETE FROM credentials
             WHERE id = $1 AND ($2::bigint IS NULL OR version = $2)
               AND NOT EXISTS (SELECT 1 FROM jobs WHERE ",
            uses_credential!(),
            ")"
        ))
        .bind(id.as_uuid())
        .bind(expected_version)
        .execute(&self.pool)
        .await
        .map_err(db)?
        .rows_affected();
        if deleted == 1 {
            return Ok(CredentialDeletion::Deleted);
        }
        let current = self.get_credential(id).await?;
        if let Some(expected) = expected_version
            && expected != current.version
        {
            return Ok(CredentialDeletion::StaleVersion {
                current: current.version,
            });
        }
        Ok(CredentialDeletion::InUse {
            jobs: self.jobs_using_credential(id).await?,
        })
    }
}

impl PgStore {
    /// Names of the jobs (hidden dry-run jobs included) with an action using credential
    /// `id`, by name.
    async fn jobs_using_credential(&self, id: CredentialId) -> Result<Vec<String>, StoreError> {
        sqlx::query_scalar(concat!(
            "SELECT name FROM jobs WHERE ",
            uses_credential!(),
            " ORDER BY name LIMIT 100"
        ))
        .bind(id.as_uuid())
        .fetch_all(&self.pool)
        .await
        .map_err(db)
    }
}

pub(crate) fn named_clash(error: StoreError, name: &str) -> StoreError {
    match error {
        StoreError::AlreadyExists { .. } => StoreError::AlreadyExists {
            what: format!("credential named {name:?}"),
        },
        other => other,
    }
}
