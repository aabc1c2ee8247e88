//! The inventory, groups and scans on SQLite: the same rows as PostgreSQL, written row by
//! row inside one `BEGIN IMMEDIATE` transaction where PostgreSQL uses `unnest` batches.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use opsconductor_core::ids::{JobId, RunId};
use opsconductor_core::inventory::{Attributes, Device, GroupSpec};
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

use super::{SqliteStore, Ts, db, now};
use crate::error::StoreError;
use crate::inventory::{
    DeviceRow, DeviceUpdate, GroupRecord, GroupRow, ImportedDevice, InventoryStore, LiveScanCounts,
    NewScan, ScanFinish, ScanRecord, ScanResultRow, ScanRow, device_columns, group_columns,
    imported, retag, scan_columns, scans, sort_key,
};

/// `values` as one bind parameter for `IN (SELECT value FROM json_each(?))`.
fn text_list(values: &[String]) -> String {
    Value::from(values.to_vec()).to_string()
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
impl InventoryStore for SqliteStore {
    async fn list_devices(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Device>, StoreError> {
        let rows: Vec<DeviceRow> = sqlx::query_as(concat!(
            "SELECT ",
            device_columns!(),
            " FROM devices WHERE $1 IS NULL OR sort_key > $1
             ORDER BY sort_key LIMIT $2"
        ))
        .bind(after.map(sort_key))
        .bind(i64::from(limit.max(1)))
        .fetch_all(&self.reader)
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
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        Ok(rows.into_iter().map(Device::from).collect())
    }

    async fn count_devices(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM devices")
            .fetch_one(&self.reader)
            .await
            .map_err(db)?;
        Ok(u64::try_from(n).unwrap_or_default())
    }

    async fn devices_by_address(&self, addresses: &[String]) -> Result<Vec<Device>, StoreError> {
        let rows: Vec<DeviceRow> = sqlx::query_as(concat!(
            "SELECT ",
            device_columns!(),
            " FROM devices
             WHERE address IN (SELECT value FROM json_each($1)) ORDER BY sort_key"
        ))
        .bind(text_list(addresses))
        .fetch_all(&self.reader)
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
        .fetch_optional(&self.reader)
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
        .fetch_optional(&self.writer)
        .await
        .map_err(db)?;
        row.map(Device::from)
            .ok_or_else(|| StoreError::not_found(format!("device {address}")))
    }

    async fn delete_devices(&self, addresses: &[String]) -> Result<u64, StoreError> {
        let done =
            sqlx::query("DELETE FROM devices WHERE address IN (SELECT value FROM json_each($1))")
                .bind(text_list(addresses))
                .execute(&self.writer)
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
        let mut tx = self.begin().await?;
        let rows: Vec<(String, Json<Vec<String>>)> = sqlx::query_as(
            "SELECT address, tags FROM devices WHERE address IN (SELECT value FROM json_each($1))",
        )
        .bind(text_list(addresses))
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        for (address, Json(current)) in &rows {
            sqlx::query("UPDATE devices SET tags = $2 WHERE address = $1")
                .bind(address)
                .bind(Json(retag(current, add, remove)))
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        tx.commit().await.map_err(db)?;
        Ok(rows.len() as u64)
    }

    async fn import_devices(
        &self,
        devices: &[ImportedDevice],
        now: DateTime<Utc>,
    ) -> Result<(u64, u64), StoreError> {
        let mut tx = self.begin().await?;
        let (mut created, mut updated) = (0, 0);
        for import in devices {
            let existing: Option<DeviceRow> = sqlx::query_as(concat!(
                "SELECT ",
                device_columns!(),
                " FROM devices WHERE address = $1"
            ))
            .bind(&import.address)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
            if existing.is_some() {
                updated += 1;
            } else {
                created += 1;
            }
            let device = imported(existing.map(Device::from), import, now);
            upsert_device(&mut tx, &device, None).await?;
        }
        tx.commit().await.map_err(db)?;
        Ok((created, updated))
    }

    async fn create_group(&self, spec: &GroupSpec) -> Result<GroupRecord, StoreError> {
        let row: GroupRow = sqlx::query_as(concat!(
            "INSERT INTO device_groups (name, description, filter, members, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $5) RETURNING ",
            group_columns!()
        ))
        .bind(&spec.name)
        .bind(&spec.description)
        .bind(spec.filter.as_deref())
        .bind(Json(&spec.members))
        .bind(Ts(now()))
        .fetch_one(&self.writer)
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
        let mut tx = self.begin().await?;
        let current: Option<i64> =
            sqlx::query_scalar("SELECT version FROM device_groups WHERE name = $1")
                .bind(name)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?;
        let current = current.ok_or_else(|| not_found_group(name))?;
        if let Some(expected) = expected_version
            && expected != current
        {
            return Err(StoreError::Conflict {
                message: format!("group {name:?} is at version {current}, not {expected}"),
            });
        }
        let row: GroupRow = sqlx::query_as(concat!(
            "UPDATE device_groups SET name = $2, description = $3, filter = $4, members = $5,
                 version = version + 1, updated_at = $6
             WHERE name = $1 RETURNING ",
            group_columns!()
        ))
        .bind(name)
        .bind(&spec.name)
        .bind(&spec.description)
        .bind(spec.filter.as_deref())
        .bind(Json(&spec.members))
        .bind(Ts(now()))
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
        .fetch_optional(&self.reader)
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
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        Ok(rows.into_iter().map(GroupRecord::from).collect())
    }

    async fn delete_group(&self, name: &str) -> Result<(), StoreError> {
        let done = sqlx::query("DELETE FROM device_groups WHERE name = $1")
            .bind(name)
            .execute(&self.writer)
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
        .bind(Ts(scan.created_at))
        .fetch_one(&self.writer)
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
        .fetch_optional(&self.reader)
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
             WHERE $1 IS NULL OR created_at < $1 OR (created_at = $1 AND id < $2)
             ORDER BY created_at DESC, id DESC LIMIT $3"
        ))
        .bind(before.map(|b| Ts(b.0)))
        .bind(before.map(|b| b.1))
        .bind(i64::from(limit.max(1)))
        .fetch_all(&self.reader)
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
        .fetch_all(&self.reader)
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
        .bind(Ts(before))
        .fetch_optional(&self.reader)
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
        .fetch_optional(&self.reader)
        .await
        .map_err(db)?;
        Ok(id.map(JobId::from_uuid))
    }

    async fn scan_hosts(&self, id: Uuid) -> Result<BTreeMap<String, Attributes>, StoreError> {
        let rows: Vec<(String, Json<Attributes>)> =
            sqlx::query_as("SELECT address, attributes FROM scan_hosts WHERE scan_id = $1")
                .bind(id)
                .fetch_all(&self.reader)
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
        _run_created_at: DateTime<Utc>,
        raw_for: &[u32],
    ) -> Result<Vec<ScanResultRow>, StoreError> {
        let raw_for = Value::from(raw_for.to_vec()).to_string();
        let rows: Vec<(
            String,
            i64,
            String,
            Option<Json<serde_json::Map<String, Value>>>,
            Option<String>,
        )> = sqlx::query_as(
            "SELECT target, action_index, status, fields,
                        CASE WHEN action_index IN (SELECT value FROM json_each($2))
                             THEN raw_excerpt END
                 FROM results WHERE run_id = $1",
        )
        .bind(run_id.as_uuid())
        .bind(raw_for)
        .fetch_all(&self.reader)
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
        _run_created_at: DateTime<Utc>,
        identifying: &[u32],
    ) -> Result<LiveScanCounts, StoreError> {
        let identifying = Value::from(identifying.to_vec()).to_string();
        let (probed, first_ok, identified): (i64, i64, i64) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE action_index = 0),
                    count(*) FILTER (WHERE action_index = 0 AND status = 'ok'),
                    count(DISTINCT target) FILTER (WHERE status = 'ok'
                        AND action_index IN (SELECT value FROM json_each($2)))
             FROM results WHERE run_id = $1",
        )
        .bind(run_id.as_uuid())
        .bind(identifying)
        .fetch_one(&self.reader)
        .await
        .map_err(db)?;
        Ok(LiveScanCounts {
            probed: u64::try_from(probed).unwrap_or_default(),
            first_ok: u64::try_from(first_ok).unwrap_or_default(),
            identified: u64::try_from(identified).unwrap_or_default(),
        })
    }

    async fn finish_scan(&self, finish: &ScanFinish) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
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
        .bind(Ts(finish.finished_at))
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if claimed.rows_affected() == 0 {
            return Ok(false);
        }
        for host in &finish.hosts {
            sqlx::query(
                "INSERT INTO scan_hosts (scan_id, address, attributes) VALUES ($1, $2, $3)",
            )
            .bind(finish.id)
            .bind(&host.address)
            .bind(Json(&host.attributes))
            .execute(&mut *tx)
            .await
            .map_err(db)?;
            let device = Device {
                address: host.address.clone(),
                hostname: host.hostname.clone(),
                segment: host.segment.clone(),
                attributes: host.attributes.clone(),
                tags: Vec::new(),
                notes: String::new(),
                first_seen: finish.finished_at,
                last_seen: finish.finished_at,
                last_scan_id: None,
            };
            upsert_device(&mut tx, &device, Some(finish.id)).await?;
        }
        // Stamped after the writes: `finished_at` is when the inventory holds the scan.
        sqlx::query("UPDATE scans SET finished_at = $2 WHERE id = $1")
            .bind(finish.id)
            .bind(Ts(now()))
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(true)
    }
}

/// As PostgreSQL's `upsert_devices_pg`, one row at a time.
async fn upsert_device(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    d: &Device,
    scan_id: Option<Uuid>,
) -> Result<(), StoreError> {
    macro_rules! upsert {
        ($on_conflict:literal) => {
            concat!(
                "INSERT INTO devices (address, sort_key, hostname, segment, attributes, tags, notes,
                                      first_seen, last_seen, last_scan_id)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                 ON CONFLICT (address) DO UPDATE SET ",
                $on_conflict
            )
        };
    }
    let sql = if scan_id.is_some() {
        upsert!(
            "hostname = coalesce(excluded.hostname, devices.hostname), segment = excluded.segment,
             attributes = excluded.attributes, last_seen = excluded.last_seen,
             last_scan_id = excluded.last_scan_id"
        )
    } else {
        upsert!(
            "hostname = excluded.hostname, attributes = excluded.attributes, tags = excluded.tags,
             notes = excluded.notes"
        )
    };
    sqlx::query(sql)
        .bind(&d.address)
        .bind(sort_key(&d.address))
        .bind(d.hostname.as_deref())
        .bind(d.segment.as_deref())
        .bind(Json(&d.attributes))
        .bind(Json(&d.tags))
        .bind(&d.notes)
        .bind(Ts(d.first_seen))
        .bind(Ts(d.last_seen))
        .bind(scan_id)
        .execute(&mut **tx)
        .await
        .map_err(db)?;
    Ok(())
}
