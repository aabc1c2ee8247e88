//! Scans, the device inventory and device groups, for REST and gRPC alike.
//!
//! A scan is started as a hidden job of library probes ([`ScanSpec::to_job`]) and a run of
//! it, so it is routed, chunked, executed, cancelled and watched like any run. When the
//! run is over, [`run_scan_finisher`] folds its results into observations, compares them
//! with the previous scan of the same range and writes snapshot and inventory in one
//! transaction (the store lets one replica win). Groups are resolved here when a run
//! starts: static members as written, dynamic filters over the devices as they are then.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use chrono::{DateTime, Utc};
use opsconductor_core::ids::{JobId, RunId};
use opsconductor_core::inventory::import::{self, DeviceRecord, ImportProblem};
use opsconductor_core::inventory::{
    self as inv, Attributes, Device, Filter, GroupSpec, HostObservation, ProbeKind, ProbeOutcome,
    ScanCounts, ScanDiff, ScanSpec,
};
use opsconductor_core::model::{ResultStatus, Run, RunStatus};
use opsconductor_core::targets::{GroupResolver, SegmentRouter, Selector, TargetSpec};
use opsconductor_store::prelude::*;
use opsconductor_store::{
    DeviceUpdate, GroupRecord, ImportedDevice, NewScan, ObservedDevice, ScanFinish, ScanRecord,
    ScanResultRow, ScanState, StoreError,
};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::api::{Api, Page, decode_cursor, encode_cursor, page, page_limit};
use crate::error::ControllerError;
use crate::events::EventBus;

/// How often the finisher looks for scans whose run ended (a cheap indexed query while
/// nothing runs; part of how long a scan takes to reach the inventory).
pub const SCAN_FINISH_POLL: Duration = Duration::from_millis(250);
/// Devices one listing page returns at most.
pub const MAX_DEVICE_PAGE: u32 = 10_000;
/// Addresses one bulk tag or delete names at most.
pub const MAX_BULK_DEVICES: usize = 100_000;

/// Groups a run's targets name, resolved when it starts.
#[derive(Debug, Default)]
pub struct ResolvedGroups {
    members: HashMap<String, Result<Vec<String>, String>>,
}

impl GroupResolver for ResolvedGroups {
    fn resolve(&self, group: &str) -> Result<Vec<String>, String> {
        match self.members.get(group) {
            Some(outcome) => outcome.clone(),
            None => Err("no such group".to_owned()),
        }
    }
}

/// The group names `spec` selects.
pub fn group_names(spec: &TargetSpec) -> BTreeSet<String> {
    spec.include
        .iter()
        .filter_map(|s| match s {
            Selector::Group { group } => Some(group.clone()),
            _ => None,
        })
        .collect()
}

/// Resolves `names`: a static group to its members, a dynamic one to the addresses of the
/// devices its filter matches now. The devices are read once, and only when a dynamic
/// group needs them.
pub async fn resolve_groups(
    store: &dyn Store,
    names: &BTreeSet<String>,
) -> Result<ResolvedGroups, StoreError> {
    let mut resolved = ResolvedGroups::default();
    if names.is_empty() {
        return Ok(resolved);
    }
    let groups: HashMap<String, GroupRecord> = store
        .list_groups()
        .await?
        .into_iter()
        .filter(|g| names.contains(&g.spec.name))
        .map(|g| (g.spec.name.clone(), g))
        .collect();
    let mut devices: Option<Vec<Device>> = None;
    for name in names {
        let outcome = match groups.get(name) {
            None => Err("no such group".to_owned()),
            Some(group) => match &group.spec.filter {
                None => Ok(group.spec.members.clone()),
                Some(text) => match Filter::parse(text) {
                    Err(e) => Err(format!("its filter does not parse: {e}")),
                    Ok(filter) => {
                        if devices.is_none() {
                            devices = Some(store.all_devices().await?);
                        }
                        Ok(devices
                            .iter()
                            .flatten()
                            .filter(|d| filter.matches(d))
                            .map(|d| d.address.clone())
                            .collect())
                    }
                },
            },
        };
        resolved.members.insert(name.clone(), outcome);
    }
    Ok(resolved)
}

/// A scan as the API shows it: the stored scan with its run's progress and, while it
/// runs, counts from the results so far.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ScanView {
    /// The scan's id.
    pub id: Uuid,
    /// The history label.
    pub label: String,
    /// `running`, `completed`, `cancelled` or `failed`.
    pub state: String,
    /// The request.
    pub spec: ScanSpec,
    /// The run carrying it (watch it for live progress).
    pub run_id: RunId,
    /// Its hidden job.
    pub job_id: JobId,
    /// Probed / alive / identified (live while running), new / changed / gone at the end.
    pub counts: ScanCounts,
    /// Addresses to probe.
    pub targets: u64,
    /// Results stored of the run's total (every probe of every address).
    pub results_done: u64,
    /// The run's expected result count.
    pub results_total: u64,
    /// The scan of the same range this one was compared with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_scan_id: Option<Uuid>,
    /// Who started it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// Start.
    #[serde(serialize_with = "opsconductor_core::timestamp::serialize")]
    pub created_at: DateTime<Utc>,
    /// End.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "opsconductor_core::timestamp::serialize_option"
    )]
    pub finished_at: Option<DateTime<Utc>>,
    /// Why it failed or was cancelled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// New, changed and gone hosts of a scan against the previous scan of its range.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ScanDiffView {
    /// The scan.
    pub scan_id: Uuid,
    /// What it was compared with (absent: the first scan of the range).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_scan_id: Option<Uuid>,
    /// The differences.
    #[serde(flatten)]
    pub diff: ScanDiff,
}

/// Device listing filters.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct DeviceQuery {
    /// A filter in the group filter language.
    pub filter: Option<String>,
    /// Text searched in address, host name, vendor, model, OS, sysName and tags.
    pub search: Option<String>,
    /// Devices with this tag.
    pub tag: Option<String>,
    /// Page size (default 1000, at most 10,000).
    pub limit: Option<u32>,
    /// From a previous page.
    pub cursor: Option<String>,
}

/// A page of devices with the number that match.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DevicePage {
    /// The devices, in address order.
    pub items: Vec<Device>,
    /// Devices matching the filters in all.
    pub total: u64,
    /// Pass as `cursor` for the next page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// What an import did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ImportReport {
    /// Devices added.
    pub created: u64,
    /// Devices updated.
    pub updated: u64,
    /// Lines (or items) left out.
    pub rejected: u64,
    /// Why, line by line.
    pub problems: Vec<ImportProblem>,
    /// Nothing was written (a dry run).
    pub dry_run: bool,
}

/// A group with its member count now.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GroupView {
    /// The definition.
    #[serde(flatten)]
    pub spec: GroupSpec,
    /// `static` or `dynamic`.
    pub kind: &'static str,
    /// Targets it selects now (a static member CIDR counts its addresses).
    pub member_count: u64,
    /// Bumped on every change (send as `If-Match`).
    pub version: i64,
    /// Creation time.
    #[serde(serialize_with = "opsconductor_core::timestamp::serialize")]
    pub created_at: DateTime<Utc>,
    /// Last change.
    #[serde(serialize_with = "opsconductor_core::timestamp::serialize")]
    pub updated_at: DateTime<Utc>,
}

/// Who a group selects now.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GroupMembers {
    /// Targets selected.
    pub count: u64,
    /// The first of them (at most `limit`).
    pub members: Vec<String>,
}

fn scan_kind(spec: &GroupSpec) -> &'static str {
    if spec.filter.is_some() {
        "dynamic"
    } else {
        "static"
    }
}

impl Api {
    /// Starts a scan: checks the profile, creates its hidden job and a run of it, and
    /// records the scan.
    pub async fn start_scan(
        &self,
        spec: ScanSpec,
        created_by: Option<String>,
    ) -> Result<ScanView, ControllerError> {
        spec.validate_profile().map_err(ControllerError::Invalid)?;
        let id = Uuid::now_v7();
        let job_spec = spec.to_job(format!("scan {id}"));
        job_spec
            .validate(&self.library())
            .map_err(|e| ControllerError::Invalid(scan_fields(e)))?;
        let job = self.store().create_hidden_job(&job_spec).await?;
        let run = match self.run_job(job.id).await {
            Ok(run) => run,
            Err(e) => {
                if let Err(cleanup) = self.store().delete_job(job.id, None).await {
                    tracing::warn!(job.id = %job.id, error = %cleanup, "removing a failed scan's job failed");
                }
                return Err(match e {
                    ControllerError::Invalid(v) => ControllerError::Invalid(scan_fields(v)),
                    other => other,
                });
            }
        };
        let scan = self
            .store()
            .create_scan(&NewScan {
                id,
                run_id: run.id,
                job_id: job.id,
                spec,
                created_by,
                created_at: Utc::now(),
            })
            .await?;
        tracing::info!(scan.id = %id, run.id = %run.id, label = %scan.label, "scan started");
        self.scan_view(scan, Some(run)).await
    }

    /// One scan, with live counts while it runs.
    pub async fn get_scan(&self, id: Uuid) -> Result<ScanView, ControllerError> {
        let scan = self.store().get_scan(id).await?;
        self.scan_view(scan, None).await
    }

    /// Scans newest first.
    pub async fn list_scans(
        &self,
        limit: Option<u32>,
        cursor: Option<&str>,
    ) -> Result<Page<ScanView>, ControllerError> {
        let limit = page_limit(limit)?;
        let before: Option<(DateTime<Utc>, Uuid)> = decode_cursor("scans", cursor)?;
        let scans = self.store().list_scans(before, limit).await?;
        let mut views = Vec::with_capacity(scans.len());
        for scan in scans {
            views.push(self.scan_view(scan, None).await?);
        }
        Ok(page(views, limit, |last| {
            encode_cursor("scans", (last.created_at, last.id))
        }))
    }

    /// Cancels a scan's run; what it found so far still goes into the inventory.
    pub async fn cancel_scan(&self, id: Uuid) -> Result<ScanView, ControllerError> {
        let scan = self.store().get_scan(id).await?;
        if scan.state != ScanState::Running {
            return Err(ControllerError::Conflict(format!(
                "the scan is {} already",
                scan.state.as_str()
            )));
        }
        self.cancel_run(scan.run_id, Some("scan cancelled by a user".to_owned()))
            .await?;
        self.get_scan(id).await
    }

    /// New, changed and gone hosts of a finished scan.
    pub async fn scan_diff(&self, id: Uuid) -> Result<ScanDiffView, ControllerError> {
        let scan = self.store().get_scan(id).await?;
        if scan.state == ScanState::Running {
            return Err(ControllerError::Conflict(
                "the scan is still running; its diff is ready when it ends".to_owned(),
            ));
        }
        let current = self.store().scan_hosts(id).await?;
        let previous = match scan.previous_scan_id {
            Some(previous) => self.store().scan_hosts(previous).await?,
            None => BTreeMap::new(),
        };
        let mut diff = inv::diff(&previous, &current);
        if scan.state != ScanState::Completed {
            // Not every address was probed: silence is not proof a host went away.
            diff.gone.clear();
        }
        Ok(ScanDiffView {
            scan_id: id,
            previous_scan_id: scan.previous_scan_id,
            diff,
        })
    }

    async fn scan_view(
        &self,
        scan: ScanRecord,
        run: Option<Run>,
    ) -> Result<ScanView, ControllerError> {
        let run = match run {
            Some(run) => run,
            None => self.get_run(scan.run_id).await?,
        };
        let mut counts = scan.counts;
        if scan.state == ScanState::Running {
            counts = self.live_counts(&scan, &run).await?;
        }
        let actions = scan.spec.probes().len().max(1) as u64;
        Ok(ScanView {
            id: scan.id,
            label: scan.label,
            state: scan.state.as_str().to_owned(),
            targets: run.counters.total / actions,
            results_done: run.counters.done(),
            results_total: run.counters.total,
            spec: scan.spec,
            run_id: scan.run_id,
            job_id: scan.job_id,
            counts,
            previous_scan_id: scan.previous_scan_id,
            created_by: scan.created_by,
            created_at: scan.created_at,
            finished_at: scan.finished_at,
            reason: scan.reason,
        })
    }

    async fn live_counts(&self, scan: &ScanRecord, run: &Run) -> Result<ScanCounts, StoreError> {
        let probes = scan.spec.probes();
        let identifying: Vec<u32> = index_where(&probes, |p| {
            matches!(p, ProbeKind::Snmp | ProbeKind::Ssh(_) | ProbeKind::Http(_))
        });
        let live = self
            .store()
            .live_scan_counts(run.id, run.created_at, &identifying)
            .await?;
        let alive = if scan.spec.profile.ping {
            live.first_ok
        } else {
            let all: Vec<u32> = (0..u32::try_from(probes.len()).unwrap_or(0)).collect();
            self.store()
                .live_scan_counts(run.id, run.created_at, &all)
                .await?
                .identified
        };
        Ok(ScanCounts {
            probed: live.probed,
            alive,
            identified: live.identified,
            ..ScanCounts::default()
        })
    }

    /// Devices matching the filters, in address order.
    pub async fn list_devices(&self, q: DeviceQuery) -> Result<DevicePage, ControllerError> {
        let limit = match q.limit {
            None => 1000,
            Some(n) if (1..=MAX_DEVICE_PAGE).contains(&n) => n,
            Some(_) => {
                return Err(ControllerError::field(
                    "limit",
                    format!("must be between 1 and {MAX_DEVICE_PAGE}"),
                ));
            }
        };
        let filter = match q.filter.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(text) => Some(
                Filter::parse(text).map_err(|e| ControllerError::field("filter", e.to_string()))?,
            ),
        };
        let after: Option<String> = decode_cursor("devices", q.cursor.as_deref())?;
        let search = q
            .search
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_lowercase);
        if filter.is_none() && search.is_none() && q.tag.is_none() {
            // Unfiltered: a keyset page in address order, not the whole inventory.
            let items = self.store().list_devices(after.as_deref(), limit).await?;
            let total = self.store().count_devices().await?;
            let next_cursor = if items.len() == limit as usize {
                items
                    .last()
                    .and_then(|d| encode_cursor("devices", &d.address))
            } else {
                None
            };
            return Ok(DevicePage {
                items,
                total,
                next_cursor,
            });
        }
        let matching: Vec<Device> = self
            .store()
            .all_devices()
            .await?
            .into_iter()
            .filter(|d| filter.as_ref().is_none_or(|f| f.matches(d)))
            .filter(|d| q.tag.as_ref().is_none_or(|t| d.tags.contains(t)))
            .filter(|d| search.as_deref().is_none_or(|s| device_text_matches(d, s)))
            .collect();
        let total = matching.len() as u64;
        let start = match &after {
            None => 0,
            Some(address) => matching
                .iter()
                .position(|d| &d.address == address)
                .map_or(matching.len(), |i| i + 1),
        };
        let items: Vec<Device> = matching
            .into_iter()
            .skip(start)
            .take(limit as usize)
            .collect();
        let next_cursor = if (start + items.len()) < total as usize {
            items
                .last()
                .and_then(|d| encode_cursor("devices", &d.address))
        } else {
            None
        };
        Ok(DevicePage {
            items,
            total,
            next_cursor,
        })
    }

    /// One device.
    pub async fn get_device(&self, address: &str) -> Result<Device, ControllerError> {
        Ok(self.store().get_device(&canonical(address)?).await?)
    }

    /// Changes a device's host name, tags or notes.
    pub async fn update_device(
        &self,
        address: &str,
        hostname: Option<Option<String>>,
        tags: Option<Vec<String>>,
        notes: Option<String>,
    ) -> Result<Device, ControllerError> {
        let tags = tags
            .map(|t| inv::normalize_tags("tags", &t))
            .transpose()
            .map_err(ControllerError::Invalid)?;
        if let Some(Some(name)) = &hostname
            && (name.trim().is_empty() || name.chars().count() > 253)
        {
            return Err(ControllerError::field(
                "hostname",
                "must be 1-253 characters",
            ));
        }
        if notes
            .as_ref()
            .is_some_and(|n| n.chars().count() > inv::MAX_NOTES_CHARS)
        {
            return Err(ControllerError::field(
                "notes",
                format!("must be at most {} characters", inv::MAX_NOTES_CHARS),
            ));
        }
        let update = DeviceUpdate {
            hostname,
            tags,
            notes,
        };
        Ok(self
            .store()
            .update_device(&canonical(address)?, &update)
            .await?)
    }

    /// Deletes devices; returns how many existed.
    pub async fn delete_devices(&self, addresses: &[String]) -> Result<u64, ControllerError> {
        let addresses = canonical_list("addresses", addresses)?;
        Ok(self.store().delete_devices(&addresses).await?)
    }

    /// Adds and removes tags on many devices; returns how many exist.
    pub async fn tag_devices(
        &self,
        addresses: &[String],
        add: &[String],
        remove: &[String],
    ) -> Result<u64, ControllerError> {
        let addresses = canonical_list("addresses", addresses)?;
        let add = inv::normalize_tags("add", add).map_err(ControllerError::Invalid)?;
        let remove = inv::normalize_tags("remove", remove).map_err(ControllerError::Invalid)?;
        if add.is_empty() && remove.is_empty() {
            return Err(ControllerError::field("add", "name tags to add or remove"));
        }
        Ok(self.store().tag_devices(&addresses, &add, &remove).await?)
    }

    /// Imports devices from CSV or JSON text: good lines are written (in one
    /// transaction), bad ones reported by line; a file-level problem changes nothing.
    pub async fn import_devices(
        &self,
        text: &str,
        json: bool,
        dry_run: bool,
    ) -> Result<ImportReport, ControllerError> {
        let parsed = if json {
            import::parse_json(text)
        } else {
            import::parse_csv(text)
        }
        .map_err(|e| ControllerError::field("file", e.to_string()))?;
        let devices: Vec<ImportedDevice> = parsed
            .records
            .iter()
            .map(|(_, record)| imported_device(record))
            .collect();
        let rejected_lines: BTreeSet<usize> = parsed
            .problems
            .iter()
            .map(|p| p.line)
            .filter(|line| !parsed.records.iter().any(|(l, _)| l == line))
            .collect();
        let (created, updated) = if dry_run || devices.is_empty() {
            (0, 0)
        } else {
            self.store().import_devices(&devices, Utc::now()).await?
        };
        Ok(ImportReport {
            created,
            updated,
            rejected: rejected_lines.len() as u64,
            problems: parsed.problems,
            dry_run,
        })
    }

    /// Every device matching `filter`, for an export.
    pub async fn export_devices(
        &self,
        filter: Option<&str>,
    ) -> Result<Vec<Device>, ControllerError> {
        let page = self
            .list_devices(DeviceQuery {
                filter: filter.map(str::to_owned),
                limit: Some(MAX_DEVICE_PAGE),
                ..DeviceQuery::default()
            })
            .await?;
        if page.next_cursor.is_none() {
            return Ok(page.items);
        }
        let filter = filter
            .map(Filter::parse)
            .transpose()
            .map_err(|e| ControllerError::field("filter", e.to_string()))?;
        Ok(self
            .store()
            .all_devices()
            .await?
            .into_iter()
            .filter(|d| filter.as_ref().is_none_or(|f| f.matches(d)))
            .collect())
    }

    /// Every group with its member count now.
    pub async fn list_groups(&self) -> Result<Vec<GroupView>, ControllerError> {
        let groups = self.store().list_groups().await?;
        let names: BTreeSet<String> = groups.iter().map(|g| g.spec.name.clone()).collect();
        let resolved = resolve_groups(&**self.store(), &names).await?;
        Ok(groups
            .into_iter()
            .map(|g| group_view(g, &resolved))
            .collect())
    }

    /// One group with its member count now.
    pub async fn get_group(&self, name: &str) -> Result<GroupView, ControllerError> {
        let group = self.store().get_group(name).await?;
        let resolved = resolve_groups(&**self.store(), &BTreeSet::from([name.to_owned()])).await?;
        Ok(group_view(group, &resolved))
    }

    /// Creates a group.
    pub async fn create_group(&self, spec: GroupSpec) -> Result<GroupView, ControllerError> {
        spec.validate().map_err(ControllerError::Invalid)?;
        let group = self.store().create_group(&spec).await?;
        self.get_group(&group.spec.name).await
    }

    /// Replaces a group (renaming it when `spec.name` differs) if still at
    /// `expected_version`.
    pub async fn update_group(
        &self,
        name: &str,
        spec: GroupSpec,
        expected_version: Option<i64>,
    ) -> Result<GroupView, ControllerError> {
        spec.validate().map_err(ControllerError::Invalid)?;
        let group = self
            .store()
            .update_group(name, &spec, expected_version)
            .await
            .map_err(|e| match e {
                StoreError::Conflict { message } => ControllerError::PreconditionFailed(message),
                other => other.into(),
            })?;
        self.get_group(&group.spec.name).await
    }

    /// Deletes a group (jobs naming it fail to start until it is back).
    pub async fn delete_group(&self, name: &str) -> Result<(), ControllerError> {
        Ok(self.store().delete_group(name).await?)
    }

    /// Who a group definition selects now, without saving it: the Job Builder's and the
    /// groups editor's live count.
    pub async fn preview_group(
        &self,
        spec: GroupSpec,
        limit: usize,
    ) -> Result<GroupMembers, ControllerError> {
        spec.validate().map_err(ControllerError::Invalid)?;
        let members = match &spec.filter {
            None => spec.members.clone(),
            Some(text) => {
                let filter = Filter::parse(text)
                    .map_err(|e| ControllerError::field("filter", e.to_string()))?;
                self.store()
                    .all_devices()
                    .await?
                    .into_iter()
                    .filter(|d| filter.matches(d))
                    .map(|d| d.address)
                    .collect()
            }
        };
        let spec = TargetSpec::new(vec![Selector::Group {
            group: "preview".to_owned(),
        }]);
        let resolver = ResolvedGroups {
            members: HashMap::from([("preview".to_owned(), Ok(members))]),
        };
        let expanded = opsconductor_core::targets::expand(&spec, &resolver)
            .map_err(|e| ControllerError::Invalid(e.prefixed("members")))?;
        Ok(GroupMembers {
            count: expanded.len(),
            members: expanded
                .first(limit)
                .iter()
                .map(ToString::to_string)
                .collect(),
        })
    }

    /// The targets a stored group selects now.
    pub async fn group_members(
        &self,
        name: &str,
        limit: usize,
    ) -> Result<GroupMembers, ControllerError> {
        let group = self.store().get_group(name).await?;
        self.preview_group(group.spec, limit).await
    }
}

fn group_view(group: GroupRecord, resolved: &ResolvedGroups) -> GroupView {
    let member_count = match resolved.resolve(&group.spec.name) {
        Ok(members) => {
            let spec = TargetSpec::new(vec![Selector::Group {
                group: group.spec.name.clone(),
            }]);
            opsconductor_core::targets::expand(&spec, resolved)
                .map_or(members.len() as u64, |t| t.len())
        }
        Err(_) => 0,
    };
    GroupView {
        kind: scan_kind(&group.spec),
        member_count,
        spec: group.spec,
        version: group.version,
        created_at: group.created_at,
        updated_at: group.updated_at,
    }
}

/// A job's validation errors in the scan's terms: targets stay `targets…`, options are
/// the scan's, anything about the generated actions is the profile's.
fn scan_fields(e: opsconductor_core::ValidationError) -> opsconductor_core::ValidationError {
    opsconductor_core::ValidationError {
        errors: e
            .errors
            .into_iter()
            .map(|mut fe| {
                if fe.field.starts_with("actions") {
                    fe.field = format!("profile ({})", fe.field);
                } else if fe.field == "options.target_timeout_ms" {
                    fe.field = "options.host_timeout_ms".to_owned();
                }
                fe
            })
            .collect(),
    }
}

fn canonical(address: &str) -> Result<String, ControllerError> {
    inv::canonical_address(address).map_err(|e| ControllerError::field("address", e))
}

fn canonical_list(field: &str, addresses: &[String]) -> Result<Vec<String>, ControllerError> {
    if addresses.is_empty() {
        return Err(ControllerError::field(field, "name at least one address"));
    }
    if addresses.len() > MAX_BULK_DEVICES {
        return Err(ControllerError::field(
            field,
            format!("at most {MAX_BULK_DEVICES} addresses"),
        ));
    }
    addresses
        .iter()
        .enumerate()
        .map(|(i, a)| {
            inv::canonical_address(a)
                .map_err(|e| ControllerError::field(&format!("{field}[{i}]"), e))
        })
        .collect()
}

fn device_text_matches(device: &Device, needle: &str) -> bool {
    let a = &device.attributes;
    [
        Some(device.address.as_str()),
        device.hostname.as_deref(),
        a.vendor.as_deref(),
        a.model.as_deref(),
        a.os.as_deref(),
        a.sys_name.as_deref(),
    ]
    .into_iter()
    .flatten()
    .chain(device.tags.iter().map(String::as_str))
    .any(|text| text.to_lowercase().contains(needle))
}

fn imported_device(record: &DeviceRecord) -> ImportedDevice {
    ImportedDevice {
        address: record.address.clone(),
        hostname: record.hostname.clone(),
        vendor: record.vendor.clone(),
        model: record.model.clone(),
        os: record.os.clone(),
        tags: (!record.tags.is_empty()).then(|| record.tags.clone()),
        notes: record.notes.clone(),
    }
}

fn index_where(probes: &[ProbeKind], wanted: impl Fn(&ProbeKind) -> bool) -> Vec<u32> {
    probes
        .iter()
        .enumerate()
        .filter(|(_, p)| wanted(p))
        .filter_map(|(i, _)| u32::try_from(i).ok())
        .collect()
}

/// Finishes scans whose run ended, until `shutdown`.
pub async fn run_scan_finisher(
    store: SharedStore,
    default_segment: String,
    events: EventBus,
    shutdown: CancellationToken,
) {
    let mut ticker = tokio::time::interval(SCAN_FINISH_POLL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = ticker.tick() => {}
        }
        let scans = match store.running_scans().await {
            Ok(scans) => scans,
            Err(e) => {
                tracing::warn!(error = %e, "listing running scans failed");
                continue;
            }
        };
        for scan in scans {
            if shutdown.is_cancelled() {
                break;
            }
            match finish_scan_if_done(&*store, &default_segment, &scan).await {
                Ok(Some(run_id)) => events.run_changed(run_id),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(scan.id = %scan.id, error = %e, "finishing a scan failed; retrying")
                }
            }
        }
    }
}

/// Folds a scan's results into the inventory once its run is over; `Some(run)` when it
/// did (this replica won), `None` when the run still goes or another replica did it.
pub async fn finish_scan_if_done(
    store: &dyn Store,
    default_segment: &str,
    scan: &ScanRecord,
) -> Result<Option<RunId>, StoreError> {
    let run = store.get_run(scan.run_id).await?;
    if !run.status.is_terminal() {
        return Ok(None);
    }
    let started = std::time::Instant::now();
    let probes = scan.spec.probes();
    let raw_for = index_where(&probes, |p| matches!(p, ProbeKind::Http(_)));
    let rows = store.scan_results(run.id, run.created_at, &raw_for).await?;
    let observations = observe_all(&probes, &rows);
    let segments = store.list_segments().await?;
    let router = SegmentRouter::new(&segments, default_segment);
    let alive: Vec<&HostObservation> = observations.iter().filter(|o| o.alive).collect();
    let known: HashMap<String, Device> = store
        .devices_by_address(&alive.iter().map(|o| o.address.clone()).collect::<Vec<_>>())
        .await?
        .into_iter()
        .map(|d| (d.address.clone(), d))
        .collect();
    let hosts: Vec<ObservedDevice> = alive
        .iter()
        .map(|o| {
            let mut attributes = o.attributes.clone();
            if let Some(before) = known.get(&o.address) {
                // A guess the scan could not make keeps what an import or a past scan said.
                let b = &before.attributes;
                attributes.vendor = attributes.vendor.or_else(|| b.vendor.clone());
                attributes.model = attributes.model.or_else(|| b.model.clone());
                attributes.os = attributes.os.or_else(|| b.os.clone());
            }
            let segment = match &scan.spec.options.segment {
                Some(segment) => segment.clone(),
                None => o.address.parse().map_or_else(
                    |_| default_segment.to_owned(),
                    |t| router.route(&t).to_owned(),
                ),
            };
            ObservedDevice {
                address: o.address.clone(),
                hostname: attributes.sys_name.clone(),
                segment: Some(segment),
                attributes,
            }
        })
        .collect();
    let previous = store
        .previous_scan(&scan.range_key, scan.created_at)
        .await?;
    let previous_hosts = match &previous {
        Some(p) => store.scan_hosts(p.id).await?,
        None => BTreeMap::new(),
    };
    let current: BTreeMap<String, Attributes> = hosts
        .iter()
        .map(|h| (h.address.clone(), h.attributes.clone()))
        .collect();
    let state = match run.status {
        RunStatus::Completed => ScanState::Completed,
        RunStatus::Cancelled => ScanState::Cancelled,
        _ => ScanState::Failed,
    };
    let diff = inv::diff(&previous_hosts, &current);
    let counts = ScanCounts {
        probed: observations.len() as u64,
        alive: hosts.len() as u64,
        identified: alive.iter().filter(|o| o.identified).count() as u64,
        new: diff.new.len() as u64,
        changed: diff.changed.len() as u64,
        gone: if state == ScanState::Completed {
            diff.gone.len() as u64
        } else {
            0
        },
    };
    let finish = ScanFinish {
        id: scan.id,
        state,
        counts,
        previous_scan_id: previous.map(|p| p.id),
        reason: run.reason.clone().filter(|_| state != ScanState::Completed),
        hosts,
        finished_at: Utc::now(),
    };
    let won = store.finish_scan(&finish).await?;
    if won {
        tracing::info!(
            scan.id = %scan.id, probed = counts.probed, alive = counts.alive,
            identified = counts.identified, new = counts.new, changed = counts.changed,
            gone = counts.gone, elapsed_ms = started.elapsed().as_millis() as u64,
            "scan finished; inventory updated"
        );
    }
    Ok(won.then_some(run.id))
}

/// One observation per address probed, from the run's results.
fn observe_all(probes: &[ProbeKind], rows: &[ScanResultRow]) -> Vec<HostObservation> {
    let mut by_target: BTreeMap<&str, Vec<&ScanResultRow>> = BTreeMap::new();
    for row in rows {
        by_target.entry(row.target.as_str()).or_default().push(row);
    }
    by_target
        .into_iter()
        .map(|(target, rows)| {
            let outcomes: Vec<ProbeOutcome<'_>> = rows
                .iter()
                .filter_map(|row| {
                    let kind = probes.get(row.action_index as usize).copied()?;
                    Some(ProbeOutcome {
                        kind,
                        status: status(&row.status),
                        fields: &row.fields,
                        raw: row.raw_excerpt.as_deref(),
                    })
                })
                .collect();
            let address = inv::canonical_address(target).unwrap_or_else(|_| target.to_owned());
            inv::observe(&address, &outcomes)
        })
        .collect()
}

fn status(text: &str) -> ResultStatus {
    match text {
        "ok" => ResultStatus::Ok,
        "warn" => ResultStatus::Warn,
        "fail" => ResultStatus::Fail,
        "timeout" => ResultStatus::Timeout,
        _ => ResultStatus::Error,
    }
}

/// Used by [`crate::dispatch`]: the groups `spec` names, resolved now.
pub(crate) async fn groups_for(
    store: &dyn Store,
    specs: &[&TargetSpec],
) -> Result<ResolvedGroups, StoreError> {
    let names: BTreeSet<String> = specs.iter().flat_map(|s| group_names(s)).collect();
    resolve_groups(store, &names).await
}
