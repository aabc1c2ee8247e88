//! Scans, the device inventory and device groups.
//!
//! A scan's live progress is its run's (the WebSocket's run progress, or polling the scan,
//! which counts probed / alive / identified from the results so far). Device addresses in
//! paths are canonicalised (`2001:DB8::1` and `2001:db8::1` are one device).

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE, ETAG};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use opsconductor_core::inventory::{Device, GroupSpec, ScanSpec};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::extract::{JsonBody, QueryParams, etag, if_match_version};
use super::{ApiState, Problem, json_response};
use crate::auth::Principal;
use crate::error::ControllerError;
use crate::inventory::{
    DevicePage, DeviceQuery, GroupMembers, GroupView, ImportReport, ScanDiffView, ScanView,
};

type ApiResult = Result<Response, ControllerError>;

/// Members listed by a group preview at most.
const MAX_MEMBER_LIST: usize = 1000;

fn scan_id(text: &str) -> Result<Uuid, ControllerError> {
    text.parse()
        .map_err(|_| ControllerError::field("id", format!("{text:?} is not a scan id")))
}

/// Starts a scan of a range with a discovery profile; its progress is its run's.
#[utoipa::path(post, path = "/api/v1/scans", tag = "scans", request_body = ScanSpec,
    responses((status = 201, body = ScanView),
        (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn start_scan(
    State(state): State<ApiState>,
    Extension(caller): Extension<Principal>,
    JsonBody(spec): JsonBody<ScanSpec>,
) -> ApiResult {
    let scan = state.api.start_scan(spec, Some(caller.username)).await?;
    Ok(json_response(StatusCode::CREATED, scan))
}

/// Scan history listing parameters.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ScanListParams {
    /// Page size, 1-1000 (default 100).
    limit: Option<u32>,
    /// From the previous page.
    cursor: Option<String>,
}

/// Scans, newest first.
#[utoipa::path(get, path = "/api/v1/scans", tag = "scans", params(ScanListParams),
    responses((status = 200, body = ScanPage),
        (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn list_scans(
    State(state): State<ApiState>,
    QueryParams(p): QueryParams<ScanListParams>,
) -> ApiResult {
    let page = state.api.list_scans(p.limit, p.cursor.as_deref()).await?;
    Ok(json_response(StatusCode::OK, page))
}

/// A page of scans (the schema of [`crate::api::Page`] for scans).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ScanPage {
    items: Vec<ScanView>,
    next_cursor: Option<String>,
}

/// One scan; while it runs, counts come from the results stored so far.
#[utoipa::path(get, path = "/api/v1/scans/{id}", tag = "scans",
    params(("id" = String, Path, description = "Scan id")),
    responses((status = 200, body = ScanView),
        (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn get_scan(State(state): State<ApiState>, Path(id): Path<String>) -> ApiResult {
    let scan = state.api.get_scan(scan_id(&id)?).await?;
    Ok(json_response(StatusCode::OK, scan))
}

/// Cancels a running scan; what it found so far still reaches the inventory.
#[utoipa::path(post, path = "/api/v1/scans/{id}/cancel", tag = "scans",
    params(("id" = String, Path, description = "Scan id")),
    responses((status = 200, body = ScanView),
        (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn cancel_scan(State(state): State<ApiState>, Path(id): Path<String>) -> ApiResult {
    let scan = state.api.cancel_scan(scan_id(&id)?).await?;
    Ok(json_response(StatusCode::OK, scan))
}

/// New, changed and gone hosts against the previous scan of the same range.
#[utoipa::path(get, path = "/api/v1/scans/{id}/diff", tag = "scans",
    params(("id" = String, Path, description = "Scan id")),
    responses((status = 200, body = ScanDiffView),
        (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn scan_diff(State(state): State<ApiState>, Path(id): Path<String>) -> ApiResult {
    let diff = state.api.scan_diff(scan_id(&id)?).await?;
    Ok(json_response(StatusCode::OK, diff))
}

/// Device listing parameters.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeviceListParams {
    /// A filter in the group filter language, e.g. `vendor = "Cisco" and tag = core`.
    filter: Option<String>,
    /// Text searched in address, host name, vendor, model, OS, sysName and tags.
    search: Option<String>,
    /// Only devices with this tag.
    tag: Option<String>,
    /// Page size, 1-10000 (default 1000).
    limit: Option<u32>,
    /// From the previous page.
    cursor: Option<String>,
}

/// Devices in address order, filtered.
#[utoipa::path(get, path = "/api/v1/devices", tag = "inventory", params(DeviceListParams),
    responses((status = 200, body = DevicePage),
        (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn list_devices(
    State(state): State<ApiState>,
    QueryParams(p): QueryParams<DeviceListParams>,
) -> ApiResult {
    let page = state
        .api
        .list_devices(DeviceQuery {
            filter: p.filter,
            search: p.search,
            tag: p.tag,
            limit: p.limit,
            cursor: p.cursor,
        })
        .await?;
    Ok(json_response(StatusCode::OK, page))
}

/// One device.
#[utoipa::path(get, path = "/api/v1/devices/{address}", tag = "inventory",
    params(("address" = String, Path, description = "IPv4 or IPv6 address")),
    responses((status = 200, body = Device),
        (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn get_device(State(state): State<ApiState>, Path(address): Path<String>) -> ApiResult {
    let device = state.api.get_device(&address).await?;
    Ok(json_response(StatusCode::OK, device))
}

/// What an operator changes on a device; absent fields stay.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceChange {
    /// Host name (`null` clears it).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    hostname: Option<Option<String>>,
    /// Tags (replaces them).
    tags: Option<Vec<String>>,
    /// Notes.
    notes: Option<String>,
}

/// Changes a device's host name, tags or notes.
#[utoipa::path(patch, path = "/api/v1/devices/{address}", tag = "inventory",
    params(("address" = String, Path, description = "IPv4 or IPv6 address")),
    request_body = DeviceChange,
    responses((status = 200, body = Device),
        (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn update_device(
    State(state): State<ApiState>,
    Path(address): Path<String>,
    JsonBody(change): JsonBody<DeviceChange>,
) -> ApiResult {
    let device = state
        .api
        .update_device(&address, change.hostname, change.tags, change.notes)
        .await?;
    Ok(json_response(StatusCode::OK, device))
}

/// Deletes a device (a later scan finds it again if it is alive).
#[utoipa::path(delete, path = "/api/v1/devices/{address}", tag = "inventory",
    params(("address" = String, Path, description = "IPv4 or IPv6 address")),
    responses((status = 204, description = "Deleted"),
        (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn delete_device(
    State(state): State<ApiState>,
    Path(address): Path<String>,
) -> ApiResult {
    if state
        .api
        .delete_devices(std::slice::from_ref(&address))
        .await?
        == 0
    {
        return Err(ControllerError::NotFound(format!("device {address}")));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// A change to many devices at once.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceBulk {
    /// The devices.
    addresses: Vec<String>,
    /// Tags to add.
    #[serde(default)]
    add_tags: Vec<String>,
    /// Tags to remove.
    #[serde(default)]
    remove_tags: Vec<String>,
    /// Delete the devices instead.
    #[serde(default)]
    delete: bool,
}

/// How many devices a bulk change reached.
#[derive(serde::Serialize, ToSchema)]
#[schema(as = DeviceBulkOutcome)]
pub struct BulkOutcome {
    /// Devices that existed and were changed.
    pub affected: u64,
}

/// Tags (or deletes) many devices at once.
#[utoipa::path(post, path = "/api/v1/devices/bulk", tag = "inventory", request_body = DeviceBulk,
    responses((status = 200, body = BulkOutcome),
        (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn bulk_devices(
    State(state): State<ApiState>,
    JsonBody(bulk): JsonBody<DeviceBulk>,
) -> ApiResult {
    let affected = if bulk.delete {
        if !bulk.add_tags.is_empty() || !bulk.remove_tags.is_empty() {
            return Err(ControllerError::field(
                "delete",
                "delete devices or change tags, not both",
            ));
        }
        state.api.delete_devices(&bulk.addresses).await?
    } else {
        state
            .api
            .tag_devices(&bulk.addresses, &bulk.add_tags, &bulk.remove_tags)
            .await?
    };
    Ok(json_response(StatusCode::OK, BulkOutcome { affected }))
}

/// The format of an import or export.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum InventoryFormat {
    /// Comma-separated, header row first.
    #[default]
    Csv,
    /// A JSON array of device objects.
    Json,
}

/// Import parameters.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportParams {
    /// csv (default) or json.
    format: Option<InventoryFormat>,
    /// Check the file and report, writing nothing.
    #[serde(default)]
    dry_run: bool,
}

/// Imports devices from CSV (header row with `address` and any of hostname, vendor,
/// model, os, tags, notes) or JSON. Good lines are written, bad ones reported by line
/// number; a file-level problem (no `address` column, not CSV / JSON) writes nothing.
#[utoipa::path(post, path = "/api/v1/devices/import", tag = "inventory", params(ImportParams),
    request_body(content = String, content_type = "text/csv"),
    responses((status = 200, body = ImportReport),
        (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn import_devices(
    State(state): State<ApiState>,
    QueryParams(p): QueryParams<ImportParams>,
    body: Bytes,
) -> ApiResult {
    let text = std::str::from_utf8(&body)
        .map_err(|e| ControllerError::field("file", format!("not UTF-8 text: {e}")))?;
    let json = p.format.unwrap_or_default() == InventoryFormat::Json;
    let report = state.api.import_devices(text, json, p.dry_run).await?;
    Ok(json_response(StatusCode::OK, report))
}

/// Export parameters.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportParams {
    /// csv (default) or json.
    format: Option<InventoryFormat>,
    /// Only devices matching this filter.
    filter: Option<String>,
}

/// The inventory as a CSV or JSON file (importable again).
#[utoipa::path(get, path = "/api/v1/devices/export", tag = "inventory", params(ExportParams),
    responses((status = 200, description = "The devices", content(
            (String = "text/csv"), (Vec<Device> = "application/json"))),
        (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn export_devices(
    State(state): State<ApiState>,
    QueryParams(p): QueryParams<ExportParams>,
) -> ApiResult {
    let devices = state.api.export_devices(p.filter.as_deref()).await?;
    let (body, content_type, extension) = match p.format.unwrap_or_default() {
        InventoryFormat::Csv => (
            opsconductor_core::inventory::import::to_csv(&devices),
            "text/csv; charset=utf-8",
            "csv",
        ),
        InventoryFormat::Json => (
            serde_json::to_string_pretty(&devices)
                .map_err(|e| ControllerError::Internal(e.to_string()))?,
            "application/json",
            "json",
        ),
    };
    Ok((
        StatusCode::OK,
        [
            (CONTENT_TYPE, content_type.to_owned()),
            (
                CONTENT_DISPOSITION,
                format!("attachment; filename=\"inventory.{extension}\""),
            ),
        ],
        body,
    )
        .into_response())
}

/// Device groups with their member counts now.
#[utoipa::path(get, path = "/api/v1/groups", tag = "groups",
    responses((status = 200, body = Vec<GroupView>)))]
pub async fn list_groups(State(state): State<ApiState>) -> ApiResult {
    Ok(json_response(
        StatusCode::OK,
        state.api.list_groups().await?,
    ))
}

/// Creates a static (members) or dynamic (filter) group.
#[utoipa::path(post, path = "/api/v1/groups", tag = "groups", request_body = GroupSpec,
    responses((status = 201, body = GroupView),
        (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn create_group(
    State(state): State<ApiState>,
    JsonBody(spec): JsonBody<GroupSpec>,
) -> ApiResult {
    let group = state.api.create_group(spec).await?;
    let version = group.version;
    let mut response = json_response(StatusCode::CREATED, group);
    response.headers_mut().insert(ETAG, etag(version));
    Ok(response)
}

/// One group; the `ETag` is its version.
#[utoipa::path(get, path = "/api/v1/groups/{name}", tag = "groups",
    params(("name" = String, Path, description = "Group name")),
    responses((status = 200, body = GroupView),
        (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn get_group(State(state): State<ApiState>, Path(name): Path<String>) -> ApiResult {
    let group = state.api.get_group(&name).await?;
    let version = group.version;
    let mut response = json_response(StatusCode::OK, group);
    response.headers_mut().insert(ETAG, etag(version));
    Ok(response)
}

/// Replaces a group (a different `name` renames it); `If-Match` makes it conditional.
#[utoipa::path(put, path = "/api/v1/groups/{name}", tag = "groups", request_body = GroupSpec,
    params(("name" = String, Path, description = "Group name"),
        ("If-Match" = Option<String>, Header, description = "ETag from the read", nullable = false, pattern = r#"^(\*|(W/)?"[0-9]{1,18}")$"#)),
    responses((status = 200, body = GroupView),
        (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn update_group(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    JsonBody(spec): JsonBody<GroupSpec>,
) -> ApiResult {
    let expected = if_match_version(&headers)?;
    let group = state.api.update_group(&name, spec, expected).await?;
    let version = group.version;
    let mut response = json_response(StatusCode::OK, group);
    response.headers_mut().insert(ETAG, etag(version));
    Ok(response)
}

/// Deletes a group (jobs that name it fail to start until it exists again).
#[utoipa::path(delete, path = "/api/v1/groups/{name}", tag = "groups",
    params(("name" = String, Path, description = "Group name")),
    responses((status = 204, description = "Deleted"),
        (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn delete_group(State(state): State<ApiState>, Path(name): Path<String>) -> ApiResult {
    state.api.delete_group(&name).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Who a stored group selects now (the first 1,000).
#[utoipa::path(get, path = "/api/v1/groups/{name}/members", tag = "groups",
    params(("name" = String, Path, description = "Group name")),
    responses((status = 200, body = GroupMembers),
        (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn group_members(State(state): State<ApiState>, Path(name): Path<String>) -> ApiResult {
    let members = state.api.group_members(&name, MAX_MEMBER_LIST).await?;
    Ok(json_response(StatusCode::OK, members))
}

/// Who a group definition would select now, without saving it (the editor's live count).
#[utoipa::path(post, path = "/api/v1/groups/preview", tag = "groups", request_body = GroupSpec,
    responses((status = 200, body = GroupMembers),
        (status = "4XX", body = Problem, content_type = "application/problem+json")))]
pub async fn preview_group(
    State(state): State<ApiState>,
    JsonBody(spec): JsonBody<GroupSpec>,
) -> ApiResult {
    let members = state.api.preview_group(spec, MAX_MEMBER_LIST).await?;
    Ok(json_response(StatusCode::OK, members))
}

/// Reads a present field as `Some(value)` and `null` as `Some(None)`; an absent field
/// stays `None` (by `#[serde(default)]`): "clear" and "leave alone" differ.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}
