//! Settings an admin changes at run time through the API (stored in PostgreSQL, shared by
//! every replica), as opposed to the start-up configuration in [`crate::config`].
//!
//! Today: how long results are kept. The sweeper reads them on every retention pass, so a
//! change takes effect within [`RETENTION_PASS`] on every replica without a restart.

use std::time::Duration;

use chrono::Utc;
use opsconductor_store::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ControllerError;

/// How often the retention pass drops expired result partitions.
pub const RETENTION_PASS: Duration = Duration::from_secs(3600);

/// Settings an admin changes at run time.
#[derive(Serialize, Deserialize, ToSchema, Clone, PartialEq, Eq, Debug)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Days of results kept; older daily partitions are dropped (1-3650).
    #[serde(default = "default_retention_days")]
    #[schema(minimum = 1, maximum = 3650)]
    pub results_retention_days: u32,
}

fn default_retention_days() -> u32 {
    30
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            results_retention_days: default_retention_days(),
        }
    }
}

impl Settings {
    /// Checks every setting's range.
    pub fn validate(&self) -> Result<(), ControllerError> {
        if !(1..=3650).contains(&self.results_retention_days) {
            return Err(ControllerError::field(
                "results_retention_days",
                "must be between 1 and 3650",
            ));
        }
        Ok(())
    }

    /// The stored document; one written by an older version with fields this one does
    /// not know falls back to the defaults rather than stopping retention.
    pub fn from_document(document: serde_json::Value) -> Self {
        serde_json::from_value(document).unwrap_or_default()
    }

    /// The current settings (defaults until an admin writes them).
    pub async fn load(store: &dyn Store) -> Result<Self, ControllerError> {
        Ok(store
            .get_settings()
            .await?
            .map(|s| Self::from_document(s.document))
            .unwrap_or_default())
    }
}

/// Drops result partitions older than the retention setting; returns the dropped tables.
pub async fn apply_retention(store: &dyn Store) -> Result<Vec<String>, ControllerError> {
    let settings = Settings::load(store).await?;
    let cutoff = Utc::now() - chrono::Duration::days(i64::from(settings.results_retention_days));
    Ok(store.drop_results_before(cutoff).await?)
}
