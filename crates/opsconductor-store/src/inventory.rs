//! The device inventory, device groups and network scans.
//!
//! Devices are keyed by address; what scans learned is one JSON document per device
//! ([`Attributes`]), so a new kind of probe adds a field, not a column. A scan's row ties
//! the scan to the run that carried it; when the run is over, [`InventoryStore::finish_scan`]
//! writes the scan's snapshot and upserts the devices in one transaction that only one
//! controller replica can win. Dynamic groups are stored as filter text: the controller
//! evaluates them (the filter language lives in the core crate), so both backends keep
//! the same simple rows.

use std::collections::BTreeMap;
use std::net::IpAddr;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use opsconductor_core::ids::{JobId, RunId};
use opsconductor_core::inventory::{Attributes, Device, GroupSpec, ScanCounts, ScanSpec};
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

use crate::PgStore;
use crate::error::{StoreError, db};

/// Devices written per statement by bulk upserts.
pub(crate) const UPSERT_BATCH: usize = 2000;

/// Where a scan is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScanState {
    /// Its run is going.
    Running,
    /// Its run ended and the inventory was updated.
    Completed,
    /// Its run was cancelled; what it found so far was still recorded.
    Cancelled,
    /// Its run failed or its results could not be read.
    Failed,
}

impl ScanState {
    /// The lowercase name used in storage and APIs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Cancelled => "cancelled",
            Self::Failed => "failed",
        }
    }

    pub(crate) fn parse(text: &str) -> Result<Self, StoreError> {
        Ok(match text {
            "running" => Self::Running,
            "completed" => Self::Completed,
            "cancelled" => Self::Cancelled,
            "failed" => Self::Failed,
            other => return Err(StoreError::other(format!("unknown scan state {other:?}"))),
        })
    }
}

/// A scan as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanRecord {
    /// Stable id.
    pub id: Uuid,
    /// The run that carries it.
    pub run_id: RunId,
    /// The hidden job of its range.
    pub job_id: JobId,
    /// Shown in the history.
    pub label: String,
    /// Pairs scans of the same range ([`ScanSpec::range_key`]).
    pub range_key: String,
    /// The request.
    pub spec: ScanSpec,
    /// Life cycle.
    pub state: ScanState,
    /// Final counts once finished.
    pub counts: ScanCounts,
    /// The scan of the same range it was compared with.
    pub previous_scan_id: Option<Uuid>,
    /// Who started it.
    pub created_by: Option<String>,
    /// Start.
    pub created_at: DateTime<Utc>,
    /// End (inventory updated).
    pub finished_at: Option<DateTime<Utc>>,
    /// Why it failed or was cancelled.
    pub reason: Option<String>,
}

/// A scan to record as started.
#[derive(Debug, Clone)]
pub struct NewScan {
    /// Its id.
    pub id: Uuid,
    /// The run just created for it.
    pub run_id: RunId,
    /// The run's job.
    pub job_id: JobId,
    /// The request.
    pub spec: ScanSpec,
    /// Who started it.
    pub created_by: Option<String>,
    /// Now.
    pub created_at: DateTime<Utc>,
}

/// One live host a scan found, as written to the inventory.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservedDevice {
    /// Canonical address.
    pub address: String,
    /// SNMP sysName, when learned (an existing host name is kept otherwise).
    pub hostname: Option<String>,
    /// The segment that scanned it.
    pub segment: Option<String>,
    /// Everything learned (vendor / model / OS already merged with what was known).
    pub attributes: Attributes,
}

/// The end of a scan: counts, snapshot and inventory changes, written together.
#[derive(Debug, Clone)]
pub struct ScanFinish {
    /// The scan.
    pub id: Uuid,
    /// Completed, cancelled or failed.
    pub state: ScanState,
    /// Final counts.
    pub counts: ScanCounts,
    /// The scan it was compared with.
    pub previous_scan_id: Option<Uuid>,
    /// Why it did not complete.
    pub reason: Option<String>,
    /// Live hosts: the snapshot, and the devices to upsert.
    pub hosts: Vec<ObservedDevice>,
    /// When the fold began: first and last seen of the devices it found. The scan's own
    /// `finished_at` is stamped when the write ends.
    pub finished_at: DateTime<Utc>,
}

/// One result of a scan's run, as ingestion reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanResultRow {
    /// The address probed.
    pub target: String,
    /// Which probe.
    pub action_index: u32,
    /// `ok`, `fail`, …
    pub status: String,
    /// Executor and parser fields.
    pub fields: serde_json::Map<String, Value>,
    /// The start of the raw output, for the probes that asked for it.
    pub raw_excerpt: Option<String>,
}

/// A scan's progress while its run goes, counted from the results stored so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LiveScanCounts {
    /// Addresses with a result of the first probe.
    pub probed: u64,
    /// Addresses whose first probe ended ok.
    pub first_ok: u64,
    /// Addresses with an ok result of an identifying probe.
    pub identified: u64,
}

/// Fields of a device an operator changes (`None`: unchanged).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeviceUpdate {
    /// New host name (`Some(None)` clears it).
    pub hostname: Option<Option<String>>,
    /// New tags (already normalised).
    pub tags: Option<Vec<String>>,
    /// New notes.
    pub notes: Option<String>,
}

/// One device an import writes: missing fields keep what is stored.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedDevice {
    /// Canonical address.
    pub address: String,
    /// Host name.
    pub hostname: Option<String>,
    /// Vendor, model, OS (merged into the attributes).
    pub vendor: Option<String>,
    /// Model.
    pub model: Option<String>,
    /// OS.
    pub os: Option<String>,
    /// Tags (normalised); `None` keeps the stored ones.
    pub tags: Option<Vec<String>>,
    /// Notes; `None` keeps the stored ones.
    pub notes: Option<String>,
}

/// A device group as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupRecord {
    /// The definition (its name is the key).
    pub spec: GroupSpec,
    /// Bumped on every change.
    pub version: i64,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// The inventory, groups and scans.
#[async_trait]
pub trait InventoryStore: Send + Sync {
    /// Devices in address order after `after` (an address), at most `limit`.
    async fn list_devices(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Device>, StoreError>;
    /// Every device, in address order (filters are evaluated by the caller).
    async fn all_devices(&self) -> Result<Vec<Device>, StoreError>;
    /// How many devices there are.
    async fn count_devices(&self) -> Result<u64, StoreError>;
    /// The devices with these addresses (unknown ones are left out).
    async fn devices_by_address(&self, addresses: &[String]) -> Result<Vec<Device>, StoreError>;
    /// One device.
    async fn get_device(&self, address: &str) -> Result<Device, StoreError>;
    /// Changes a device's operator fields.
    async fn update_device(
        &self,
        address: &str,
        update: &DeviceUpdate,
    ) -> Result<Device, StoreError>;
    /// Deletes devices; returns how many existed.
    async fn delete_devices(&self, addresses: &[String]) -> Result<u64, StoreError>;
    /// Adds and removes tags on many devices; returns how many exist.
    async fn tag_devices(
        &self,
        addresses: &[String],
        add: &[String],
        remove: &[String],
    ) -> Result<u64, StoreError>;
    /// Creates or updates devices from an import, in one transaction; returns
    /// (created, updated).
    async fn import_devices(
        &self,
        devices: &[ImportedDevice],
        now: DateTime<Utc>,
    ) -> Result<(u64, u64), StoreError>;

    /// Creates a group ([`StoreError::AlreadyExists`] when the name is taken).
    async fn create_group(&self, spec: &GroupSpec) -> Result<GroupRecord, StoreError>;
    /// Replaces the group `name` (which may be renamed by `spec.name`) if it is still at
    /// `expected_version` ([`StoreError::Conflict`] otherwise).
    async fn update_group(
        &self,
        name: &str,
        spec: &GroupSpec,
        expected_version: Option<i64>,
    ) -> Result<GroupRecord, StoreError>;
    /// One group.
    async fn get_group(&self, name: &str) -> Result<GroupRecord, StoreError>;
    /// Every group, by name.
    async fn list_groups(&self) -> Result<Vec<GroupRecord>, StoreError>;
    /// Deletes a group.
    async fn delete_group(&self, name: &str) -> Result<(), StoreError>;

    /// Records a started scan.
    async fn create_scan(&self, scan: &NewScan) -> Result<ScanRecord, StoreError>;
    /// One scan.
    async fn get_scan(&self, id: Uuid) -> Result<ScanRecord, StoreError>;
    /// Scans newest first, before the (created_at, id) cursor.
    async fn list_scans(
        &self,
        before: Option<(DateTime<Utc>, Uuid)>,
        limit: u32,
    ) -> Result<Vec<ScanRecord>, StoreError>;
    /// Scans whose run may have ended: every scan still `running`.
    async fn running_scans(&self) -> Result<Vec<ScanRecord>, StoreError>;
    /// The latest finished scan of `range_key` created before `before`.
    async fn previous_scan(
        &self,
        range_key: &str,
        before: DateTime<Utc>,
    ) -> Result<Option<ScanRecord>, StoreError>;
    /// The hidden job that scans of `range_key` ran with last.
    async fn scan_job(&self, range_key: &str) -> Result<Option<JobId>, StoreError>;
    /// What a finished scan found alive.
    async fn scan_hosts(&self, id: Uuid) -> Result<BTreeMap<String, Attributes>, StoreError>;
    /// Every result of a scan's run (`raw_for`: the action indexes whose raw excerpt is
    /// wanted).
    async fn scan_results(
        &self,
        run_id: RunId,
        run_created_at: DateTime<Utc>,
        raw_for: &[u32],
    ) -> Result<Vec<ScanResultRow>, StoreError>;
    /// Progress of a running scan from the results stored so far.
    async fn live_scan_counts(
        &self,
        run_id: RunId,
        run_created_at: DateTime<Utc>,
        identifying: &[u32],
    ) -> Result<LiveScanCounts, StoreError>;
    /// Ends a scan: its state and counts, its snapshot, and the devices it found upserted,
    /// in one transaction — only if it is still `running`. Returns false (writing nothing)
    /// when another controller finished it first.
    async fn finish_scan(&self, finish: &ScanFinish) -> Result<bool, StoreError>;
}

/// The address as 16 bytes, IPv4 mapped into IPv6: byte order is address order.
pub(crate) fn sort_key(address: &str) -> Vec<u8> {
    match address.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.to_ipv6_mapped().octets().to_vec(),
        Ok(IpAddr::V6(v6)) => v6.octets().to_vec(),
        Err(_) => address.as_bytes().to_vec(),
    }
}

/// The columns every device query reads, in [`DeviceRow`] order (a literal, so queries
/// stay `&'static str`).
macro_rules! device_columns {
    () => {
        "address, hostname, segment, attributes, tags, notes, first_seen, last_seen, last_scan_id"
    };
}
pub(crate) use device_columns;

#[derive(sqlx::FromRow)]
pub(crate) struct DeviceRow {
    address: String,
    hostname: Option<String>,
    segment: Option<String>,
    attributes: Json<Attributes>,
    tags: Json<Vec<String>>,
    notes: String,
    first_seen: DateTime<Utc>,
    last_seen: DateTime<Utc>,
    last_scan_id: Option<Uuid>,
}

impl From<DeviceRow> for Device {
    fn from(row: DeviceRow) -> Self {
        Self {
            address: row.address,
            hostname: row.hostname,
            segment: row.segment,
            attributes: row.attributes.0,
            tags: row.tags.0,
            notes: row.notes,
            first_seen: row.first_seen,
            last_seen: row.last_seen,
            last_scan_id: row.last_scan_id.map(|id| id.to_string()),
        }
    }
}

/// The columns of [`GroupRow`].
macro_rules! group_columns {
    () => {
        "name, description, filter, members, version, created_at, updated_at"
    };
}
pub(crate) use group_columns;

#[derive(sqlx::FromRow)]
pub(crate) struct GroupRow {
    name: String,
    description: String,
    filter: Option<String>,
    members: Json<Vec<String>>,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<GroupRow> for GroupRecord {
    fn from(row: GroupRow) -> Self {
        Self {
            spec: GroupSpec {
                name: row.name,
                description: row.description,
                filter: row.filter,
                members: row.members.0,
            },
            version: row.version,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// The columns of [`ScanRow`].
macro_rules! scan_columns {
    () => {
        "id, run_id, job_id, label, range_key, spec, state, counts, previous_scan_id, created_by, created_at, finished_at, reason"
    };
}
pub(crate) use scan_columns;

#[derive(sqlx::FromRow)]
pub(crate) struct ScanRow {
    id: Uuid,
    run_id: Uuid,
    job_id: Uuid,
    label: String,
    range_key: String,
    spec: Json<ScanSpec>,
    state: String,
    counts: Json<ScanCounts>,
    previous_scan_id: Option<Uuid>,
    created_by: Option<String>,
    created_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
    reason: Option<String>,
}

impl TryFrom<ScanRow> for ScanRecord {
    type Error = StoreError;

    fn try_from(row: ScanRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: row.id,
            run_id: RunId::from_uuid(row.run_id),
            job_id: JobId::from_uuid(row.job_id),
            label: row.label,
            range_key: row.range_key,
            spec: row.spec.0,
            state: ScanState::parse(&row.state)?,
            counts: row.counts.0,
            previous_scan_id: row.previous_scan_id,
            created_by: row.created_by,
            created_at: row.created_at,
            finished_at: row.finished_at,
            reason: row.reason,
        })
    }
}

pub(crate) fn scans(rows: Vec<ScanRow>) -> Result<Vec<ScanRecord>, StoreError> {
    rows.into_iter().map(ScanRecord::try_from).collect()
}

/// Tags after adding `add` and removing `remove`, sorted and unique.
pub(crate) fn retag(tags: &[String], add: &[String], remove: &[String]) -> Vec<String> {
    let mut out: Vec<String> = tags
        .iter()
        .filter(|t| !remove.contains(t))
        .chain(add.iter())
        .cloned()
        .collect();
    out.sort();
    out.dedup();
    out
}

/// A stored device with an import applied.
pub(crate) fn imported(
    existing: Option<Device>,
    import: &ImportedDevice,
    now: DateTime<Utc>,
) -> Device {
    let mut device = existing.unwrap_or_else(|| Device {
        address: import.address.clone(),
        hostname: None,
        segment: None,
        attributes: Attributes::default(),
        tags: Vec::new(),
        notes: String::new(),
        first_seen: now,
        last_seen: now,
        last_scan_id: None,
    });
    if import.hostname.is_some() {
        device.hostname.clone_from(&import.hostname);
    }
    if import.vendor.is_some() {
        device.attributes.vendor.clone_from(&import.vendor);
    }
    if import.model.is_some() {
        device.attributes.model.clone_from(&import.model);
    }
    if import.os.is_some() {
        device.attributes.os.clone_from(&import.os);
    }
    if let Some(tags) = &import.tags {
        device.tags.clone_from(tags);
    }
    if let Some(notes) = &import.notes {
        device.notes.clone_from(notes);
    }
    device
}

fn not_found_group(name: &str) -> StoreError {
    StoreError::not_found(format!("group {name:?}"))
}

fn group_name_taken(e: sqlx::Error, name: &str) -> StoreError {
    match db(e) {
        StoreError::AlreadyExists { .. } => StoreError::AlreadyExists {
            what: format!("group named {name:?}"),
        },
        other => other,
    }
}

#[async_trait]
impl InventoryStore for PgStore {
    async fn list_devices(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Device>, StoreError> {
        let after_key = after.map(sort_key);
        let rows: Vec<DeviceRow> = sqlx::query_as(concat!(
            "SELECT ",
            device_columns!(),
            " FROM devices WHERE ($1::bytea IS NULL OR sort_key > $1)
             ORDER BY sort_key LIMIT $2"
        ))
        .bind(after_key)
        .bind(i64::from(limit.max(1)))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        Ok(rows.into_iter().map(Device::from).collect())
    }

    async fn all_devices(&self) -> Result<Vec<Device>, StoreError> {
        let rows: Vec<DeviceRow> = sqlx::query_as(concat!(
            "SELECT ",
            device_columns!(),
            " FROM devices ORDER BY sort_key"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        Ok(rows.into_iter().map(Device::from).collect())
    }

    async fn count_devices(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM devices")
            .fetch_one(&self.pool)
            .await
            .map_err(db)?;
        Ok(u64::try_from(n).unwrap_or_default())
    }

    async fn devices_by_address(&self, addresses: &[String]) -> Result<Vec<Device>, StoreError> {
        let rows: Vec<DeviceRow> = sqlx::query_as(concat!(
            "SELECT ",
            device_columns!(),
            " FROM devices WHERE address = ANY($1) ORDER BY sort_key"
        ))
        .bind(addresses)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        Ok(rows.into_iter().map(Device::from).collect())
    }

    async fn get_device(&self, address: &str) -> Result<Device, StoreError> {
        let row: Option<DeviceRow> = sqlx::query_as(concat!(
            "SELECT ",
            device_columns!(),
            " FROM devices WHERE address = $1"
        ))
        .bind(address)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.map(Device::from)
            .ok_or_else(|| StoreError::not_found(format!("device {address}")))
    }

    async fn update_device(
        &self,
        address: &str,
        update: &DeviceUpdate,
    ) -> Result<Device, StoreError> {
        let row: Option<DeviceRow> = sqlx::query_as(concat!(
            "UPDATE devices SET
                 hostname = CASE WHEN $2 THEN $3 ELSE hostname END,
                 tags = coalesce($4, tags),
                 notes = coalesce($5, notes)
             WHERE address = $1 RETURNING ",
            device_columns!()
        ))
        .bind(address)
        .bind(update.hostname.is_some())
        .bind(update.hostname.clone().flatten())
        .bind(update.tags.as_ref().map(Json))
        .bind(update.notes.as_deref())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.map(Device::from)
            .ok_or_else(|| StoreError::not_found(format!("device {address}")))
    }

    async fn delete_devices(&self, addresses: &[String]) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM devices WHERE address = ANY($1)")
            .bind(addresses)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(done.rows_affected())
    }

    async fn tag_devices(
        &self,
        addresses: &[String],
        add: &[String],
        remove: &[String],
    ) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let rows: Vec<(String, Json<Vec<String>>)> = sqlx::query_as(
            "SELECT address, tags FROM devices WHERE address = ANY($1) ORDER BY address FOR UPDATE",
        )
        .bind(addresses)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        let (mut keys, mut tags) = (
            Vec::with_capacity(rows.len()),
            Vec::with_capacity(rows.len()),
        );
        for (address, Json(current)) in &rows {
            keys.push(address.clone());
            tags.push(Value::from(retag(current, add, remove)));
        }
        sqlx::query(
            "UPDATE devices AS d SET tags = u.tags
             FROM unnest($1::text[], $2::jsonb[]) AS u(address, tags) WHERE d.address = u.address",
        )
        .bind(&keys)
        .bind(&tags)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(rows.len() as u64)
    }

    async fn import_devices(
        &self,
        devices: &[ImportedDevice],
        now: DateTime<Utc>,
    ) -> Result<(u64, u64), StoreError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let (mut created, mut updated) = (0, 0);
        for batch in devices.chunks(UPSERT_BATCH) {
            let addresses: Vec<String> = batch.iter().map(|d| d.address.clone()).collect();
            let existing: Vec<DeviceRow> = sqlx::query_as(concat!(
                "SELECT ",
                device_columns!(),
                " FROM devices WHERE address = ANY($1) FOR UPDATE"
            ))
            .bind(&addresses)
            .fetch_all(&mut *tx)
            .await
            .map_err(db)?;
            let mut existing: BTreeMap<String, Device> = existing
                .into_iter()
                .map(|row| {
                    let device = Device::from(row);
                    (device.address.clone(), device)
                })
                .collect();
            let mut rows = Vec::with_capacity(batch.len());
            for import in batch {
                let before = existing.remove(&import.address);
                if before.is_some() {
                    updated += 1;
                } else {
                    created += 1;
                }
                rows.push(imported(before, import, now));
            }
            upsert_devices_pg(&mut tx, &rows, None).await?;
        }
        tx.commit().await.map_err(db)?;
        Ok((created, updated))
    }

    async fn create_group(&self, spec: &GroupSpec) -> Result<GroupRecord, StoreError> {
        let row: GroupRow = sqlx::query_as(concat!(
            "INSERT INTO device_groups (name, description, filter, members, created_at, updated_at)
             VALUES ($1, $2, $3, $4, now(), now()) RETURNING ",
            group_columns!()
        ))
        .bind(&spec.name)
        .bind(&spec.description)
        .bind(spec.filter.as_deref())
        .bind(Json(&spec.members))
        .fetch_one(&self.pool)
        .await
        .map_err(|e| group_name_taken(e, &spec.name))?;
        Ok(row.into())
    }

    async fn update_group(
        &self,
        name: &str,
        spec: &GroupSpec,
        expected_version: Option<i64>,
    ) -> Result<GroupRecord, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let current: Option<i64> =
            sqlx::query_scalar("SELECT version FROM device_groups WHERE name = $1 FOR UPDATE")
                .bind(name)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?;
        let current = current.ok_or_else(|| not_found_group(name))?;
        if expected_version.is_some_and(|v| v != current) {
            return Err(StoreError::Conflict {
                message: format!(
                    "group {name:?} is at version {current}, not {}",
                    expected_version.unwrap_or_default()
                ),
            });
        }
        let row: GroupRow = sqlx::query_as(concat!(
            "UPDATE device_groups SET name = $2, description = $3, filter = $4, members = $5,
                 version = version + 1, updated_at = now()
             WHERE name = $1 RETURNING ",
            group_columns!()
        ))
        .bind(name)
        .bind(&spec.name)
        .bind(&spec.description)
        .bind(spec.filter.as_deref())
        .bind(Json(&spec.members))
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| group_name_taken(e, &spec.name))?;
        tx.commit().await.map_err(db)?;
        Ok(row.into())
    }

    async fn get_group(&self, name: &str) -> Result<GroupRecord, StoreError> {
        let row: Option<GroupRow> = sqlx::query_as(concat!(
            "SELECT ",
            group_columns!(),
            " FROM device_groups WHERE name = $1"
        ))
        .bind(name)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.map(GroupRecord::from)
            .ok_or_else(|| not_found_group(name))
    }

    async fn list_groups(&self) -> Result<Vec<GroupRecord>, StoreError> {
        let rows: Vec<GroupRow> = sqlx::query_as(concat!(
            "SELECT ",
            group_columns!(),
            " FROM device_groups ORDER BY name"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        Ok(rows.into_iter().map(GroupRecord::from).collect())
    }

    async fn delete_group(&self, name: &str) -> Result<(), StoreError> {
        let done = sqlx::query("DELETE FROM device_groups WHERE name = $1")
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(not_found_group(name));
        }
        Ok(())
    }

    async fn create_scan(&self, scan: &NewScan) -> Result<ScanRecord, StoreError> {
        let row: ScanRow = sqlx::query_as(concat!(
            "INSERT INTO scans (id, run_id, job_id, label, range_key, spec, created_by, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING ",
            scan_columns!()
        ))
        .bind(scan.id)
        .bind(scan.run_id.as_uuid())
        .bind(scan.job_id.as_uuid())
        .bind(scan.spec.label())
        .bind(scan.spec.range_key())
        .bind(Json(&scan.spec))
        .bind(scan.created_by.as_deref())
        .bind(scan.created_at)
        .fetch_one(&self.pool)
        .await
        .map_err(db)?;
        row.try_into()
    }

    async fn get_scan(&self, id: Uuid) -> Result<ScanRecord, StoreError> {
        let row: Option<ScanRow> = sqlx::query_as(concat!(
            "SELECT ",
            scan_columns!(),
            " FROM scans WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.ok_or_else(|| StoreError::not_found(format!("scan {id}")))?
            .try_into()
    }

    async fn list_scans(
        &self,
        before: Option<(DateTime<Utc>, Uuid)>,
        limit: u32,
    ) -> Result<Vec<ScanRecord>, StoreError> {
        let rows: Vec<ScanRow> = sqlx::query_as(concat!(
            "SELECT ",
            scan_columns!(),
            " FROM scans
             WHERE ($1::timestamptz IS NULL OR (created_at, id) < ($1, $2))
             ORDER BY created_at DESC, id DESC LIMIT $3"
        ))
        .bind(before.map(|b| b.0))
        .bind(before.map(|b| b.1))
        .bind(i64::from(limit.max(1)))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        scans(rows)
    }

    async fn running_scans(&self) -> Result<Vec<ScanRecord>, StoreError> {
        let rows: Vec<ScanRow> = sqlx::query_as(concat!(
            "SELECT ",
            scan_columns!(),
            " FROM scans WHERE state = 'running' ORDER BY created_at"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        scans(rows)
    }

    async fn previous_scan(
        &self,
        range_key: &str,
        before: DateTime<Utc>,
    ) -> Result<Option<ScanRecord>, StoreError> {
        let row: Option<ScanRow> = sqlx::query_as(concat!(
            "SELECT ",
            scan_columns!(),
            " FROM scans
             WHERE range_key = $1 AND created_at < $2 AND state IN ('completed', 'cancelled')
             ORDER BY created_at DESC LIMIT 1"
        ))
        .bind(range_key)
        .bind(before)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.map(ScanRecord::try_from).transpose()
    }

    async fn scan_job(&self, range_key: &str) -> Result<Option<JobId>, StoreError> {
        let id: Option<Uuid> = sqlx::query_scalar(
            "SELECT s.job_id FROM scans AS s JOIN jobs AS j ON j.id = s.job_id
             WHERE s.range_key = $1 ORDER BY s.created_at DESC LIMIT 1",
        )
        .bind(range_key)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        Ok(id.map(JobId::from_uuid))
    }

    async fn scan_hosts(&self, id: Uuid) -> Result<BTreeMap<String, Attributes>, StoreError> {
        let rows: Vec<(String, Json<Attributes>)> =
            sqlx::query_as("SELECT address, attributes FROM scan_hosts WHERE scan_id = $1")
                .bind(id)
                .fetch_all(&self.pool)
                .await
                .map_err(db)?;
        Ok(rows
            .into_iter()
            .map(|(a, Json(attrs))| (a, attrs))
            .collect())
    }

    async fn scan_results(
        &self,
        run_id: RunId,
        run_created_at: DateTime<Utc>,
        raw_for: &[u32],
    ) -> Result<Vec<ScanResultRow>, StoreError> {
        let raw_for: Vec<i32> = raw_for
            .iter()
            .filter_map(|i| i32::try_from(*i).ok())
            .collect();
        let rows: Vec<(
            String,
            i32,
            String,
            Option<Json<serde_json::Map<String, Value>>>,
            Option<String>,
        )> = sqlx::query_as(
            "SELECT target, action_index, status, fields,
                        CASE WHEN action_index = ANY($3) THEN raw_excerpt END
                 FROM results WHERE run_id = $1 AND run_created_at = $2",
        )
        .bind(run_id.as_uuid())
        .bind(run_created_at)
        .bind(&raw_for)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        Ok(rows
            .into_iter()
            .map(
                |(target, index, status, fields, raw_excerpt)| ScanResultRow {
                    target,
                    action_index: u32::try_from(index).unwrap_or_default(),
                    status,
                    fields: fields.map(|f| f.0).unwrap_or_default(),
                    raw_excerpt,
                },
            )
            .collect())
    }

    async fn live_scan_counts(
        &self,
        run_id: RunId,
        run_created_at: DateTime<Utc>,
        identifying: &[u32],
    ) -> Result<LiveScanCounts, StoreError> {
        let identifying: Vec<i32> = identifying
            .iter()
            .filter_map(|i| i32::try_from(*i).ok())
            .collect();
        let (probed, first_ok, identified): (i64, i64, i64) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE action_index = 0),
                    count(*) FILTER (WHERE action_index = 0 AND status = 'ok'),
                    count(DISTINCT target) FILTER (WHERE action_index = ANY($3) AND status = 'ok')
             FROM results WHERE run_id = $1 AND run_created_at = $2",
        )
        .bind(run_id.as_uuid())
        .bind(run_created_at)
        .bind(&identifying)
        .fetch_one(&self.pool)
        .await
        .map_err(db)?;
        Ok(LiveScanCounts {
            probed: u64::try_from(probed).unwrap_or_default(),
            first_ok: u64::try_from(first_ok).unwrap_or_default(),
            identified: u64::try_from(identified).unwrap_or_default(),
        })
    }

    async fn finish_scan(&self, finish: &ScanFinish) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let claimed = sqlx::query(
            "UPDATE scans SET state = $2, counts = $3, previous_scan_id = $4, reason = $5,
                 finished_at = $6
             WHERE id = $1 AND state = 'running'",
        )
        .bind(finish.id)
        .bind(finish.state.as_str())
        .bind(Json(&finish.counts))
        .bind(finish.previous_scan_id)
        .bind(finish.reason.as_deref())
        .bind(finish.finished_at)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if claimed.rows_affected() == 0 {
            return Ok(false);
        }
        for batch in finish.hosts.chunks(UPSERT_BATCH) {
            let addresses: Vec<&str> = batch.iter().map(|h| h.address.as_str()).collect();
            let attributes: Vec<Value> = batch
                .iter()
                .map(|h| serde_json::to_value(&h.attributes).unwrap_or_default())
                .collect();
            sqlx::query(
                "INSERT INTO scan_hosts (scan_id, address, attributes)
                 SELECT $1, a, j FROM unnest($2::text[], $3::jsonb[]) AS u(a, j)",
            )
            .bind(finish.id)
            .bind(&addresses)
            .bind(&attributes)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
            let devices: Vec<Device> = batch
                .iter()
                .map(|h| Device {
                    address: h.address.clone(),
                    hostname: h.hostname.clone(),
                    segment: h.segment.clone(),
                    attributes: h.attributes.clone(),
                    tags: Vec::new(),
                    notes: String::new(),
                    first_seen: finish.finished_at,
                    last_seen: finish.finished_at,
                    last_scan_id: Some(finish.id.to_string()),
                })
                .collect();
            upsert_devices_pg(&mut tx, &devices, Some(finish.id)).await?;
        }
        // Stamped after the writes: `finished_at` is when the inventory holds the scan.
        sqlx::query("UPDATE scans SET finished_at = $2 WHERE id = $1")
            .bind(finish.id)
            .bind(Utc::now())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(true)
    }
}

/// Writes devices. From a scan (`scan_id` set) only what scans own is replaced — the
/// attributes, segment, last seen, and the host name when one was learned — and tags and
/// notes are kept; from an import the whole row is as given.
async fn upsert_devices_pg(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    devices: &[Device],
    scan_id: Option<Uuid>,
) -> Result<(), StoreError> {
    let column = |f: fn(&Device) -> Value| devices.iter().map(f).collect::<Vec<Value>>();
    let addresses: Vec<&str> = devices.iter().map(|d| d.address.as_str()).collect();
    let sort_keys: Vec<Vec<u8>> = devices.iter().map(|d| sort_key(&d.address)).collect();
    let hostnames: Vec<Option<&str>> = devices.iter().map(|d| d.hostname.as_deref()).collect();
    let segments: Vec<Option<&str>> = devices.iter().map(|d| d.segment.as_deref()).collect();
    let attributes = column(|d| serde_json::to_value(&d.attributes).unwrap_or_default());
    let tags = column(|d| Value::from(d.tags.clone()));
    let notes: Vec<&str> = devices.iter().map(|d| d.notes.as_str()).collect();
    let first_seen: Vec<DateTime<Utc>> = devices.iter().map(|d| d.first_seen).collect();
    let last_seen: Vec<DateTime<Utc>> = devices.iter().map(|d| d.last_seen).collect();
    macro_rules! upsert {
        ($on_conflict:literal) => {
            concat!(
                "INSERT INTO devices (address, sort_key, hostname, segment, attributes, tags, notes,
                                      first_seen, last_seen, last_scan_id)
                 SELECT u.*, $10::uuid FROM unnest($1::text[], $2::bytea[], $3::text[], $4::text[],
                                             $5::jsonb[], $6::jsonb[], $7::text[],
                                             $8::timestamptz[], $9::timestamptz[]) AS u
                 ON CONFLICT (address) DO UPDATE SET ",
                $on_conflict
            )
        };
    }
    let sql = if scan_id.is_some() {
        upsert!(
            "hostname = coalesce(EXCLUDED.hostname, devices.hostname), segment = EXCLUDED.segment,
             attributes = EXCLUDED.attributes, last_seen = EXCLUDED.last_seen,
             last_scan_id = EXCLUDED.last_scan_id"
        )
    } else {
        upsert!(
            "hostname = EXCLUDED.hostname, attributes = EXCLUDED.attributes, tags = EXCLUDED.tags,
             notes = EXCLUDED.notes"
        )
    };
    sqlx::query(sql)
        .bind(&addresses)
        .bind(&sort_keys)
        .bind(&hostnames)
        .bind(&segments)
        .bind(&attributes)
        .bind(&tags)
        .bind(&notes)
        .bind(&first_seen)
        .bind(&last_seen)
        .bind(scan_id)
        .execute(&mut **tx)
        .await
        .map_err(db)?;
    Ok(())
}
