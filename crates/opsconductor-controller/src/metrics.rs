//! The controller's metrics, declared in one place (`opsconductor_controller_*`, listed in
//! [`NAMES`]). They go to whatever recorder the process installed (the binary installs a
//! Prometheus one and hands its handle to [`crate::Controller::with_metrics`], which
//! serves it at `GET /metrics`); with none installed they cost an atomic load.
//!
//! Labels stay low-cardinality: segments, outcomes, statuses, HTTP route templates (never
//! raw paths), gRPC method names of the services this controller serves.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use opsconductor_core::model::ResultRecord;
use opsconductor_queue::Broker;
use opsconductor_store::prelude::*;
use tokio_util::sync::CancellationToken;

/// Every metric this crate exports, by its Prometheus name (histograms add `_bucket`,
/// `_sum` and `_count`). Dashboards and alert rules are checked against it.
pub const NAMES: &[&str] = &[
    "opsconductor_controller_runs_started_total",
    "opsconductor_controller_runs_active",
    "opsconductor_controller_chunks_created_total",
    "opsconductor_controller_chunks_published_total",
    "opsconductor_controller_relay_failures_total",
    "opsconductor_controller_chunks_dead_lettered_total",
    "opsconductor_controller_results_ingested_total",
    "opsconductor_controller_results_received_total",
    "opsconductor_controller_result_batches_rejected_total",
    "opsconductor_controller_ingest_batch_seconds",
    "opsconductor_controller_queue_depth",
    "opsconductor_controller_outbox_backlog",
    "opsconductor_controller_agent_sessions",
    "opsconductor_controller_agents",
    "opsconductor_controller_scheduler_fires_total",
    "opsconductor_controller_scheduler_fire_lag_seconds",
    "opsconductor_controller_scheduler_leader",
    "opsconductor_controller_scheduler_jobs",
    "opsconductor_controller_websocket_clients",
    "opsconductor_controller_http_requests_total",
    "opsconductor_controller_http_request_duration_seconds",
    "opsconductor_controller_grpc_requests_total",
    "opsconductor_controller_grpc_request_duration_seconds",
];

/// How often the gauges read from the store and the queue are refreshed.
/// Prometheus' default scrape interval: a RabbitMQ queue depth costs a connection.
pub const GAUGE_INTERVAL: Duration = Duration::from_secs(15);

/// Registers descriptions so `/metrics` documents every series.
pub fn describe() {
    metrics::describe_counter!(
        "opsconductor_controller_runs_started_total",
        "Runs dispatched"
    );
    metrics::describe_counter!(
        "opsconductor_controller_chunks_created_total",
        "Chunks written to the outbox"
    );
    metrics::describe_counter!(
        "opsconductor_controller_chunks_published_total",
        "Chunks confirmed by RabbitMQ and marked published"
    );
    metrics::describe_counter!(
        "opsconductor_controller_relay_failures_total",
        "Outbox relay rounds that failed and were retried"
    );
    metrics::describe_counter!(
        "opsconductor_controller_chunks_dead_lettered_total",
        "Chunks dead-lettered, by segment"
    );
    metrics::describe_counter!(
        "opsconductor_controller_results_ingested_total",
        "Results stored, by outcome (inserted, duplicate)"
    );
    metrics::describe_counter!(
        "opsconductor_controller_result_batches_rejected_total",
        "Result batches acked without storing (outside their chunk, or never storable)"
    );
    metrics::describe_histogram!(
        "opsconductor_controller_ingest_batch_seconds",
        metrics::Unit::Seconds,
        "Time to commit one result batch"
    );
    metrics::describe_gauge!(
        "opsconductor_controller_agent_sessions",
        "Agents with an open session"
    );
    metrics::describe_counter!(
        "opsconductor_controller_scheduler_fires_total",
        "Schedule fires by outcome (fired, catch_up, skipped_overlap, duplicate, missed, \
         skipped_disabled, failed)"
    );
    metrics::describe_histogram!(
        "opsconductor_controller_scheduler_fire_lag_seconds",
        metrics::Unit::Seconds,
        "From a fire's scheduled time to its run being written (on-time fires)"
    );
    metrics::describe_gauge!(
        "opsconductor_controller_scheduler_leader",
        "1 while this replica leads the scheduler, else 0"
    );
    metrics::describe_gauge!(
        "opsconductor_controller_scheduler_jobs",
        "Enabled scheduled jobs in the leader's timetable"
    );
    metrics::describe_gauge!(
        "opsconductor_controller_runs_active",
        "Runs queued or running (read from the store)"
    );
    metrics::describe_counter!(
        "opsconductor_controller_results_received_total",
        "Results in the batches this replica stored, by status (a retried batch counts \
         again; results_ingested_total{outcome=\"duplicate\"} says how many were retries)"
    );
    metrics::describe_gauge!(
        "opsconductor_controller_queue_depth",
        "Chunks waiting in a segment's queue, by segment"
    );
    metrics::describe_gauge!(
        "opsconductor_controller_outbox_backlog",
        "Chunks written to the outbox and not yet confirmed by the queue"
    );
    metrics::describe_gauge!(
        "opsconductor_controller_agents",
        "Registered agents, by segment and state (online, offline)"
    );
    metrics::describe_gauge!(
        "opsconductor_controller_websocket_clients",
        "WebSocket clients connected to this replica"
    );
    metrics::describe_counter!(
        "opsconductor_controller_http_requests_total",
        "REST requests, by method, route template and status"
    );
    metrics::describe_histogram!(
        "opsconductor_controller_http_request_duration_seconds",
        metrics::Unit::Seconds,
        "REST request handling time, by method and route template"
    );
    metrics::describe_counter!(
        "opsconductor_controller_grpc_requests_total",
        "gRPC calls (agents and clients), by method and status code"
    );
    metrics::describe_histogram!(
        "opsconductor_controller_grpc_request_duration_seconds",
        metrics::Unit::Seconds,
        "gRPC time to the response headers (a stream's opening), by method"
    );
}

pub(crate) fn runs_started(chunks: usize) {
    metrics::counter!("opsconductor_controller_runs_started_total").increment(1);
    metrics::counter!("opsconductor_controller_chunks_created_total").increment(chunks as u64);
}

pub(crate) fn chunks_published(n: usize) {
    metrics::counter!("opsconductor_controller_chunks_published_total").increment(n as u64);
}

pub(crate) fn relay_failed() {
    metrics::counter!("opsconductor_controller_relay_failures_total").increment(1);
}

pub(crate) fn chunk_dead_lettered(segment: &str) {
    metrics::counter!("opsconductor_controller_chunks_dead_lettered_total", "segment" => segment.to_owned())
        .increment(1);
}

pub(crate) fn ingested(inserted: u64, duplicates: u64, took: Duration) {
    metrics::counter!("opsconductor_controller_results_ingested_total", "outcome" => "inserted")
        .increment(inserted);
    metrics::counter!("opsconductor_controller_results_ingested_total", "outcome" => "duplicate")
        .increment(duplicates);
    metrics::histogram!("opsconductor_controller_ingest_batch_seconds").record(took.as_secs_f64());
}

/// Counts stored results by status.
pub(crate) fn results_received(records: &[ResultRecord]) {
    let mut by_status: std::collections::BTreeMap<&'static str, u64> = Default::default();
    for record in records {
        *by_status.entry(record.status.as_str()).or_default() += 1;
    }
    for (status, n) in by_status {
        metrics::counter!("opsconductor_controller_results_received_total", "status" => status)
            .increment(n);
    }
}

pub(crate) fn batch_rejected() {
    metrics::counter!("opsconductor_controller_result_batches_rejected_total").increment(1);
}

pub(crate) fn sessions_changed(open: usize) {
    metrics::gauge!("opsconductor_controller_agent_sessions").set(open as f64);
}

/// What became of a schedule fire (the `outcome` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FireOutcome {
    /// A run was created for an on-time fire.
    Fired,
    /// A run was created for a missed fire, as its one catch-up.
    CatchUp,
    /// Not run: the job's previous run was still going (overlap `skip`, or a `queue`d fire
    /// replaced by a newer one).
    SkippedOverlap,
    /// Another scheduler had fired it already.
    Duplicate,
    /// Missed while no controller was up and not caught up.
    Missed,
    /// The job was disabled (or made manual) after the scheduler read it.
    SkippedDisabled,
    /// Creating the run failed.
    Failed,
}

impl FireOutcome {
    fn label(self) -> &'static str {
        match self {
            Self::Fired => "fired",
            Self::CatchUp => "catch_up",
            Self::SkippedOverlap => "skipped_overlap",
            Self::Duplicate => "duplicate",
            Self::Missed => "missed",
            Self::SkippedDisabled => "skipped_disabled",
            Self::Failed => "failed",
        }
    }
}

pub(crate) fn scheduler_fires(outcome: FireOutcome, n: u64) {
    metrics::counter!("opsconductor_controller_scheduler_fires_total", "outcome" => outcome.label())
        .increment(n);
}

pub(crate) fn scheduler_fire_lag(lag: Duration) {
    metrics::histogram!("opsconductor_controller_scheduler_fire_lag_seconds")
        .record(lag.as_secs_f64());
}

pub(crate) fn scheduler_leader(leading: bool) {
    metrics::gauge!("opsconductor_controller_scheduler_leader").set(if leading {
        1.0
    } else {
        0.0
    });
}

pub(crate) fn scheduler_jobs(n: usize) {
    metrics::gauge!("opsconductor_controller_scheduler_jobs").set(n as f64);
}

pub(crate) fn websocket_clients(delta: f64) {
    metrics::gauge!("opsconductor_controller_websocket_clients").increment(delta);
}

/// Counts REST requests by route template (`/api/v1/jobs/{id}`, never the raw path);
/// installed as a route layer, so requests no route matched are not counted.
pub async fn track_http(request: Request, next: Next) -> Response {
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::histogram!(
        "opsconductor_controller_http_request_duration_seconds",
        "method" => method.clone(), "route" => route.clone()
    )
    .record(started.elapsed().as_secs_f64());
    metrics::counter!(
        "opsconductor_controller_http_requests_total",
        "method" => method, "route" => route, "status" => status
    )
    .increment(1);
    response
}

/// The `method` label of a gRPC path: our services' and the standard ones' methods as
/// they are; anything else (a scanner's guesses) as `other`, so labels stay bounded.
fn grpc_method_label(path: &str) -> String {
    let known = ["/opsconductor.v1.", "/grpc.health.v1.", "/grpc.reflection."];
    if known.iter().any(|prefix| path.starts_with(prefix)) && path.len() <= 128 {
        path.trim_start_matches('/').to_owned()
    } else {
        "other".to_owned()
    }
}

/// Counts gRPC calls by method and status code (`grpc-status` of a trailers-only response,
/// i.e. an error before any message; `Ok` otherwise: a stream that fails later is counted
/// when it opened).
#[derive(Debug, Clone, Copy, Default)]
pub struct GrpcMetricsLayer;

impl<S> tower::Layer<S> for GrpcMetricsLayer {
    type Service = GrpcMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcMetrics { inner }
    }
}

/// The service [`GrpcMetricsLayer`] makes.
#[derive(Debug, Clone)]
pub struct GrpcMetrics<S> {
    inner: S,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B, RB> tower::Service<axum::http::Request<B>> for GrpcMetrics<S>
where
    S: tower::Service<axum::http::Request<B>, Response = axum::http::Response<RB>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: axum::http::Request<B>) -> Self::Future {
        let method = grpc_method_label(request.uri().path());
        let started = Instant::now();
        let call = self.inner.call(request);
        Box::pin(async move {
            let response = call.await;
            let code = match &response {
                Ok(response) => response
                    .headers()
                    .get("grpc-status")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<i32>().ok())
                    .map_or(tonic::Code::Ok, tonic::Code::from_i32),
                Err(_) => tonic::Code::Unavailable,
            };
            metrics::histogram!(
                "opsconductor_controller_grpc_request_duration_seconds",
                "method" => method.clone()
            )
            .record(started.elapsed().as_secs_f64());
            metrics::counter!(
                "opsconductor_controller_grpc_requests_total",
                "method" => method, "code" => format!("{code:?}")
            )
            .increment(1);
            response
        })
    }
}

/// Refreshes the gauges read from the store and the queue every [`GAUGE_INTERVAL`] until
/// `shutdown`: active runs, the outbox backlog, agents by segment and state, and the
/// depth of every segment's queue. A failed read keeps the last value and is logged at
/// debug (the store and queue have their own health signals).
pub async fn run_gauges(
    store: SharedStore,
    broker: Broker,
    default_segment: String,
    shutdown: CancellationToken,
) {
    let mut interval = tokio::time::interval(GAUGE_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = interval.tick() => {}
        }
        if let Err(error) = refresh_gauges(&*store, &broker, &default_segment).await {
            tracing::debug!(%error, "metrics gauges not refreshed");
        }
    }
}

async fn refresh_gauges(
    store: &dyn Store,
    broker: &Broker,
    default_segment: &str,
) -> Result<(), String> {
    let active = store.active_runs().await.map_err(|e| e.to_string())?;
    metrics::gauge!("opsconductor_controller_runs_active").set(active.len() as f64);
    let backlog = store.outbox_backlog().await.map_err(|e| e.to_string())?;
    metrics::gauge!("opsconductor_controller_outbox_backlog").set(backlog as f64);
    let mut segments: Vec<String> = store
        .list_segments()
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|s| s.name)
        .collect();
    if !segments.iter().any(|s| s == default_segment) {
        segments.push(default_segment.to_owned());
    }
    let agents = store.list_agents().await.map_err(|e| e.to_string())?;
    for segment in &segments {
        // Present at 0 from the start: PromQL's increase() misses a series' first step.
        metrics::counter!("opsconductor_controller_chunks_dead_lettered_total", "segment" => segment.clone())
            .increment(0);
        let (online, offline) = agents
            .iter()
            .filter(|a| &a.segment == segment && a.revoked_at.is_none())
            .fold((0_u32, 0_u32), |(on, off), a| {
                if a.online {
                    (on + 1, off)
                } else {
                    (on, off + 1)
                }
            });
        metrics::gauge!("opsconductor_controller_agents", "segment" => segment.clone(), "state" => "online")
            .set(f64::from(online));
        metrics::gauge!("opsconductor_controller_agents", "segment" => segment.clone(), "state" => "offline")
            .set(f64::from(offline));
    }
    // One connection for every segment; a failure keeps the last values.
    match broker.segment_depths(&segments).await {
        Ok(depths) => {
            for (segment, depth) in segments.iter().zip(depths) {
                metrics::gauge!("opsconductor_controller_queue_depth", "segment" => segment.clone())
                    .set(f64::from(depth));
            }
        }
        Err(error) => tracing::debug!(%error, "queue depths not read"),
    }
    Ok(())
}
