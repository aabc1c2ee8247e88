//! The gRPC `InventoryService` (`proto/opsconductor/v1/api.proto`): scans, the device
//! inventory and device groups as thin adapters over the [`Api`] methods of
//! [`crate::inventory`], which REST calls too.
//!
//! Conventions are `JobService`'s ([`crate::grpc_api`]): the scan request travels as
//! JSON text (`spec_json`) through the same field-precise parser as the REST body, errors
//! are [`ControllerError`]s turned into statuses (a scan that already ended cannot be
//! cancelled and a running scan has no diff yet: `FAILED_PRECONDITION`, as for runs). Where
//! the API names a field after the REST body (`add`, `file`), the status names the gRPC
//! request field instead (`add_tags`, `text`).
//!
//! `WatchScan` follows the scan's run the way `WatchRun` does — woken by the event bus's
//! [`Event::RunProgress`] for that run and by a read every [`WATCH_POLL_INTERVAL`] — but
//! each wake re-reads the scan, whose live counts are counted from the stored results, so
//! reads are spaced at least [`SCAN_WATCH_INTERVAL`] apart however fast results arrive.
//! The last message is the scan once it is no longer running (the finisher announces the
//! run again when it has folded the results into the inventory, so the final counts
//! follow promptly).

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use opsconductor_core::ids::RunId;
use opsconductor_core::inventory::Device;
use opsconductor_proto::v1;
use opsconductor_proto::v1::inventory_service_server::InventoryService;
use serde_json::{Map, Value};
use tokio::sync::broadcast;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::api::Api;
use crate::auth::Principal;
use crate::error::ControllerError;
use crate::events::{Event, EventBus};
use crate::grpc_api::{
    WATCH_POLL_INTERVAL, cursor, limit, next_event, object_json, page_to_proto, parse_id, status,
    timestamp, to_json,
};
use crate::inventory::{DeviceQuery, GroupView, ScanDiffView, ScanView};

/// Least time between two reads of a watched scan (each counts its results so far).
pub const SCAN_WATCH_INTERVAL: Duration = Duration::from_millis(250);
/// Largest request `InventoryService` reads: an import of the largest file accepted
/// (16 MiB) with room for the message around it.
pub const MAX_INVENTORY_MESSAGE_BYTES: usize = 17 * 1024 * 1024;
/// Members `ResolveGroup` lists when the request does not say.
pub const DEFAULT_MEMBER_LIST: u32 = 1000;
/// Most members `ResolveGroup` lists.
pub const MAX_MEMBER_LIST: u32 = 10_000;

/// `InventoryService`: scans, devices and groups.
#[derive(Clone)]
pub struct InventoryServiceImpl {
    api: Api,
    events: Option<EventBus>,
    shutdown: CancellationToken,
}

impl InventoryServiceImpl {
    /// The service over `api`; watch streams end when `shutdown` fires.
    pub fn new(api: Api, shutdown: CancellationToken) -> Self {
        Self {
            api,
            events: None,
            shutdown,
        }
    }

    /// Lets `WatchScan` read the scan as soon as the bus announces progress of its run
    /// instead of at the next poll.
    #[must_use]
    pub fn with_events(mut self, events: EventBus) -> Self {
        self.events = Some(events);
        self
    }
}

/// Renames the fields of a validation error from the API's (REST) names to the gRPC
/// request's: `from` itself and paths under it (`from[2]`, `from.x`).
fn rename_fields(e: ControllerError, renames: &[(&str, &str)]) -> ControllerError {
    let ControllerError::Invalid(mut v) = e else {
        return e;
    };
    for error in &mut v.errors {
        for (from, to) in renames {
            if let Some(rest) = error.field.strip_prefix(from)
                && (rest.is_empty() || rest.starts_with(['[', '.']))
            {
                error.field = format!("{to}{rest}");
                break;
            }
        }
    }
    ControllerError::Invalid(v)
}

fn scan_state_to_proto(state: &str) -> v1::ScanState {
    match state {
        "running" => v1::ScanState::Running,
        "completed" => v1::ScanState::Completed,
        "cancelled" => v1::ScanState::Cancelled,
        "failed" => v1::ScanState::Failed,
        _ => v1::ScanState::Unspecified,
    }
}

/// The wire form of a scan.
pub fn scan_to_proto(scan: &ScanView) -> Result<v1::Scan, Status> {
    let c = &scan.counts;
    Ok(v1::Scan {
        id: scan.id.to_string(),
        label: scan.label.clone(),
        state: scan_state_to_proto(&scan.state).into(),
        spec_json: to_json(&scan.spec)?,
        run_id: scan.run_id.to_string(),
        job_id: scan.job_id.to_string(),
        counts: Some(v1::ScanCounts {
            probed: c.probed,
            alive: c.alive,
            identified: c.identified,
            new: c.new,
            changed: c.changed,
            gone: c.gone,
        }),
        targets: scan.targets,
        results_done: scan.results_done,
        results_total: scan.results_total,
        previous_scan_id: scan.previous_scan_id.map(|id| id.to_string()),
        created_by: scan.created_by.clone(),
        created_at: Some(timestamp(scan.created_at)),
        finished_at: scan.finished_at.map(timestamp),
        reason: scan.reason.clone(),
    })
}

fn optional_json(value: Option<&Value>) -> Result<String, Status> {
    value
        .map(to_json)
        .transpose()
        .map(Option::unwrap_or_default)
}

fn diff_to_proto(view: &ScanDiffView) -> Result<v1::ScanDiff, Status> {
    let changed_hosts = view
        .diff
        .changed
        .iter()
        .map(|host| {
            let changes = host
                .changes
                .iter()
                .map(|change| {
                    Ok(v1::AttributeChange {
                        field: change.field.clone(),
                        before_json: optional_json(change.before.as_ref())?,
                        after_json: optional_json(change.after.as_ref())?,
                    })
                })
                .collect::<Result<_, Status>>()?;
            Ok(v1::ChangedHost {
                address: host.address.clone(),
                changes,
            })
        })
        .collect::<Result<_, Status>>()?;
    Ok(v1::ScanDiff {
        scan_id: view.scan_id.to_string(),
        previous_scan_id: view.previous_scan_id.map(|id| id.to_string()),
        new_hosts: view.diff.new.clone(),
        changed_hosts,
        gone_hosts: view.diff.gone.clone(),
    })
}

/// The wire form of a device.
pub fn device_to_proto(d: &Device) -> Result<v1::Device, Status> {
    let attributes = match serde_json::to_value(&d.attributes) {
        Ok(Value::Object(map)) => map,
        Ok(_) => Map::new(),
        Err(e) => {
            return Err(status(ControllerError::Internal(format!(
                "encoding the attributes of {}: {e}",
                d.address
            ))));
        }
    };
    Ok(v1::Device {
        address: d.address.clone(),
        hostname: d.hostname.clone(),
        segment: d.segment.clone(),
        tags: d.tags.clone(),
        notes: d.notes.clone(),
        first_seen: Some(timestamp(d.first_seen)),
        last_seen: Some(timestamp(d.last_seen)),
        attributes_json: object_json(&attributes)?,
        last_scan_id: d.last_scan_id.clone(),
    })
}

fn group_to_proto(g: &GroupView) -> v1::Group {
    let kind = if g.spec.filter.is_some() {
        v1::GroupKind::Dynamic
    } else {
        v1::GroupKind::Static
    };
    v1::Group {
        name: g.spec.name.clone(),
        description: g.spec.description.clone(),
        kind: kind.into(),
        filter: g.spec.filter.clone(),
        members: g.spec.members.clone(),
        member_count: g.member_count,
        version: g.version,
        created_at: Some(timestamp(g.created_at)),
        updated_at: Some(timestamp(g.updated_at)),
    }
}

/// Non-empty text, for optional filters a client may send as `""`.
fn present(text: Option<String>) -> Option<String> {
    text.filter(|t| !t.trim().is_empty())
}

type ScanWatchStream = Pin<Box<dyn Stream<Item = Result<v1::WatchScanResponse, Status>> + Send>>;

/// What a `WatchScan` stream needs between messages.
struct ScanWatch {
    api: Api,
    id: Uuid,
    run_id: RunId,
    events: Option<broadcast::Receiver<Arc<Event>>>,
    shutdown: CancellationToken,
    last_read: Instant,
}

/// Where a `WatchScan` stream is.
enum ScanWatchState {
    /// The scan as first read, not sent yet.
    Start(Box<ScanWatch>, v1::Scan),
    /// The last scan sent, still running.
    Watching(Box<ScanWatch>, v1::Scan),
    /// Nothing more to send.
    Done,
}

impl ScanWatch {
    /// The scan's next state that differs from `last`, or the status ending the stream.
    async fn next_change(&mut self, last: &v1::Scan) -> Result<v1::Scan, Status> {
        loop {
            tokio::select! {
                () = self.shutdown.cancelled() => return Err(shutting_down()),
                _ = next_event(&mut self.events, self.run_id) => {}
                () = tokio::time::sleep(WATCH_POLL_INTERVAL) => {}
            }
            tokio::select! {
                () = self.shutdown.cancelled() => return Err(shutting_down()),
                () = tokio::time::sleep_until(self.last_read + SCAN_WATCH_INTERVAL) => {}
            }
            // The read below covers whatever was announced until now.
            self.drain_events();
            self.last_read = Instant::now();
            let scan = self.api.get_scan(self.id).await.map_err(status)?;
            let scan = scan_to_proto(&scan)?;
            if scan != *last {
                return Ok(scan);
            }
        }
    }

    fn drain_events(&mut self) {
        let Some(rx) = self.events.as_mut() else {
            return;
        };
        loop {
            match rx.try_recv() {
                Ok(_) | Err(broadcast::error::TryRecvError::Lagged(_)) => {}
                Err(broadcast::error::TryRecvError::Empty) => return,
                Err(broadcast::error::TryRecvError::Closed) => {
                    self.events = None;
                    return;
                }
            }
        }
    }
}

fn shutting_down() -> Status {
    Status::unavailable("the controller is shutting down")
}

/// The stream of a scan's changes: `scan` first, then every change until it no longer
/// runs.
fn scan_watch_stream(watch: ScanWatch, scan: v1::Scan) -> ScanWatchStream {
    let after = |watch: Box<ScanWatch>, scan: v1::Scan| {
        let running = scan.state() == v1::ScanState::Running;
        let message = Ok(v1::WatchScanResponse {
            scan: Some(scan.clone()),
        });
        if running {
            (message, ScanWatchState::Watching(watch, scan))
        } else {
            (message, ScanWatchState::Done)
        }
    };
    Box::pin(futures::stream::unfold(
        ScanWatchState::Start(Box::new(watch), scan),
        move |state| async move {
            match state {
                ScanWatchState::Done => None,
                ScanWatchState::Start(watch, scan) => Some(after(watch, scan)),
                ScanWatchState::Watching(mut watch, last) => match watch.next_change(&last).await {
                    Ok(scan) => Some(after(watch, scan)),
                    Err(e) => Some((Err(e), ScanWatchState::Done)),
                },
            }
        },
    ))
}

#[tonic::async_trait]
impl InventoryService for InventoryServiceImpl {
    #[tracing::instrument(skip_all)]
    async fn start_scan(
        &self,
        request: Request<v1::StartScanRequest>,
    ) -> Result<Response<v1::Scan>, Status> {
        let created_by = request
            .extensions()
            .get::<Principal>()
            .map(|p| p.username.clone());
        let text = request.into_inner().spec_json;
        if text.trim().is_empty() {
            return Err(status(ControllerError::field(
                "spec_json",
                "must be a scan request as JSON",
            )));
        }
        // Paths relative to the request, as `start_scan`'s own checks name them.
        let spec = crate::api::parse_json(text.as_bytes()).map_err(status)?;
        let scan = self
            .api
            .start_scan(spec, created_by)
            .await
            .map_err(status)?;
        Ok(Response::new(scan_to_proto(&scan)?))
    }

    #[tracing::instrument(skip_all, fields(scan.id = %request.get_ref().id))]
    async fn get_scan(
        &self,
        request: Request<v1::GetScanRequest>,
    ) -> Result<Response<v1::Scan>, Status> {
        let id: Uuid = parse_id("id", &request.get_ref().id)?;
        let scan = self.api.get_scan(id).await.map_err(status)?;
        Ok(Response::new(scan_to_proto(&scan)?))
    }

    #[tracing::instrument(skip_all)]
    async fn list_scans(
        &self,
        request: Request<v1::ListScansRequest>,
    ) -> Result<Response<v1::ListScansResponse>, Status> {
        let r = request.into_inner();
        let page = self
            .api
            .list_scans(limit(r.limit), cursor(r.cursor).as_deref())
            .await
            .map_err(status)?;
        let (scans, next_cursor) = page_to_proto(page, scan_to_proto)?;
        Ok(Response::new(v1::ListScansResponse { scans, next_cursor }))
    }

    #[tracing::instrument(skip_all, fields(scan.id = %request.get_ref().id))]
    async fn cancel_scan(
        &self,
        request: Request<v1::CancelScanRequest>,
    ) -> Result<Response<v1::Scan>, Status> {
        let id: Uuid = parse_id("id", &request.get_ref().id)?;
        let scan = self.api.cancel_scan(id).await.map_err(status)?;
        Ok(Response::new(scan_to_proto(&scan)?))
    }

    #[tracing::instrument(skip_all, fields(scan.id = %request.get_ref().id))]
    async fn get_scan_diff(
        &self,
        request: Request<v1::GetScanDiffRequest>,
    ) -> Result<Response<v1::ScanDiff>, Status> {
        let id: Uuid = parse_id("id", &request.get_ref().id)?;
        let diff = self.api.scan_diff(id).await.map_err(status)?;
        Ok(Response::new(diff_to_proto(&diff)?))
    }

    type WatchScanStream = ScanWatchStream;

    #[tracing::instrument(skip_all, fields(scan.id = %request.get_ref().id))]
    async fn watch_scan(
        &self,
        request: Request<v1::WatchScanRequest>,
    ) -> Result<Response<Self::WatchScanStream>, Status> {
        let id: Uuid = parse_id("id", &request.get_ref().id)?;
        // Subscribed before the first read, so no change in between is missed.
        let events = self.events.as_ref().map(EventBus::subscribe);
        // An unknown scan fails the call itself rather than its first stream message.
        let scan = self.api.get_scan(id).await.map_err(status)?;
        let watch = ScanWatch {
            api: self.api.clone(),
            id,
            run_id: scan.run_id,
            events,
            shutdown: self.shutdown.clone(),
            last_read: Instant::now(),
        };
        Ok(Response::new(scan_watch_stream(
            watch,
            scan_to_proto(&scan)?,
        )))
    }

    #[tracing::instrument(skip_all)]
    async fn list_devices(
        &self,
        request: Request<v1::ListDevicesRequest>,
    ) -> Result<Response<v1::ListDevicesResponse>, Status> {
        let r = request.into_inner();
        let page = self
            .api
            .list_devices(DeviceQuery {
                filter: present(r.filter),
                search: present(r.search),
                tag: present(r.tag),
                limit: limit(r.limit),
                cursor: cursor(r.cursor),
            })
            .await
            .map_err(status)?;
        Ok(Response::new(v1::ListDevicesResponse {
            devices: page
                .items
                .iter()
                .map(device_to_proto)
                .collect::<Result<_, _>>()?,
            total: page.total,
            next_cursor: page.next_cursor.unwrap_or_default(),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn get_device(
        &self,
        request: Request<v1::GetDeviceRequest>,
    ) -> Result<Response<v1::Device>, Status> {
        let device = self
            .api
            .get_device(&request.get_ref().address)
            .await
            .map_err(status)?;
        Ok(Response::new(device_to_proto(&device)?))
    }

    #[tracing::instrument(skip_all, fields(devices = request.get_ref().addresses.len()))]
    async fn tag_devices(
        &self,
        request: Request<v1::TagDevicesRequest>,
    ) -> Result<Response<v1::TagDevicesResponse>, Status> {
        let r = request.into_inner();
        let affected = self
            .api
            .tag_devices(&r.addresses, &r.add_tags, &r.remove_tags)
            .await
            .map_err(|e| {
                status(rename_fields(
                    e,
                    &[("add", "add_tags"), ("remove", "remove_tags")],
                ))
            })?;
        Ok(Response::new(v1::TagDevicesResponse { affected }))
    }

    #[tracing::instrument(skip_all, fields(dry_run = request.get_ref().dry_run))]
    async fn import_devices(
        &self,
        request: Request<v1::ImportDevicesRequest>,
    ) -> Result<Response<v1::ImportDevicesResponse>, Status> {
        let r = request.into_inner();
        let json = match r.format.trim().to_ascii_lowercase().as_str() {
            "" | "csv" => false,
            "json" => true,
            _ => {
                return Err(status(ControllerError::field(
                    "format",
                    format!("{:?} is not a format: use csv or json", r.format),
                )));
            }
        };
        let report = self
            .api
            .import_devices(&r.text, json, r.dry_run)
            .await
            .map_err(|e| status(rename_fields(e, &[("file", "text")])))?;
        Ok(Response::new(v1::ImportDevicesResponse {
            created: report.created,
            updated: report.updated,
            rejected: report.rejected,
            problems: report
                .problems
                .into_iter()
                .map(|p| v1::ImportProblem {
                    line: p.line as u64,
                    field: p.field,
                    message: p.message,
                })
                .collect(),
            dry_run: report.dry_run,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn list_groups(
        &self,
        _request: Request<v1::ListGroupsRequest>,
    ) -> Result<Response<v1::ListGroupsResponse>, Status> {
        let groups = self.api.list_groups().await.map_err(status)?;
        Ok(Response::new(v1::ListGroupsResponse {
            groups: groups.iter().map(group_to_proto).collect(),
        }))
    }

    #[tracing::instrument(skip_all, fields(group = %request.get_ref().name))]
    async fn resolve_group(
        &self,
        request: Request<v1::ResolveGroupRequest>,
    ) -> Result<Response<v1::ResolveGroupResponse>, Status> {
        let r = request.into_inner();
        let listed = match r.limit {
            0 => DEFAULT_MEMBER_LIST,
            n if n <= MAX_MEMBER_LIST => n,
            _ => {
                return Err(status(ControllerError::field(
                    "limit",
                    format!("must be at most {MAX_MEMBER_LIST}"),
                )));
            }
        };
        let members = self
            .api
            .group_members(&r.name, listed as usize)
            .await
            .map_err(status)?;
        Ok(Response::new(v1::ResolveGroupResponse {
            count: members.count,
            members: members.members,
        }))
    }
}

#[cfg(test)]
mod tests {
    use opsconductor_core::ValidationError;

    use super::*;

    #[test]
    fn rest_field_names_become_the_request_fields() {
        let mut v = ValidationError::field("add[1]", "a tag must be 1-64 characters");
        v.errors.extend(
            [
                ValidationError::field("addresses[0]", "not an address"),
                ValidationError::field("remove", "at most 32 tags"),
            ]
            .into_iter()
            .flat_map(|e| e.errors),
        );
        let renamed = rename_fields(
            ControllerError::Invalid(v),
            &[("add", "add_tags"), ("remove", "remove_tags")],
        );
        let ControllerError::Invalid(v) = renamed else {
            panic!("still a validation error");
        };
        let fields: Vec<&str> = v.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["add_tags[1]", "addresses[0]", "remove_tags"]);
        let other = rename_fields(ControllerError::NotFound("x".into()), &[("x", "y")]);
        assert!(matches!(other, ControllerError::NotFound(_)));
    }

    #[test]
    fn scan_states_map_to_the_enum() {
        assert_eq!(scan_state_to_proto("running"), v1::ScanState::Running);
        assert_eq!(scan_state_to_proto("cancelled"), v1::ScanState::Cancelled);
        assert_eq!(scan_state_to_proto("later"), v1::ScanState::Unspecified);
    }

    #[test]
    fn a_device_without_attributes_has_empty_attribute_json() {
        let device: Device = serde_json::from_value(serde_json::json!({
            "address": "192.0.2.1", "attributes": {}, "tags": ["core"], "notes": "",
            "first_seen": "2026-01-01T00:00:00Z", "last_seen": "2026-01-02T00:00:00Z",
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        let wire = device_to_proto(&device).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(wire.attributes_json, "");
        assert_eq!(wire.tags, ["core"]);
        assert_eq!(wire.first_seen.map(|t| t.seconds), Some(1_767_225_600));
        let mut known = device;
        known.attributes.open_ports = vec![22];
        let wire = device_to_proto(&known).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(wire.attributes_json, r#"{"open_ports":[22]}"#);
    }
}
