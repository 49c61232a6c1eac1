//! Prometheus metrics: request count and latency by route and status, and
//! the database pool. Each app owns its registry (no global state), so
//! several apps can live in one process (tests).

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::AppState;

/// The server's metrics.
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    pool: IntGaugeVec,
    realtime: IntGaugeVec,
}

impl Metrics {
    /// A fresh registry with the server's metrics.
    pub fn new() -> Self {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "crm_http_requests_total",
                "HTTP requests by route, method and status",
            ),
            &["route", "method", "status"],
        )
        .unwrap_or_else(unreachable_metric);
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "crm_http_request_duration_seconds",
                "HTTP request latency by route and status",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ]),
            &["route", "method", "status"],
        )
        .unwrap_or_else(unreachable_metric);
        let pool = IntGaugeVec::new(
            Opts::new(
                "crm_db_pool_connections",
                "Database pool connections by state",
            ),
            &["state"],
        )
        .unwrap_or_else(unreachable_metric);
        let realtime = IntGaugeVec::new(
            Opts::new(
                "crm_realtime",
                "WebSocket clients, last delivered event id, cache hits/misses/errors",
            ),
            &["what"],
        )
        .unwrap_or_else(unreachable_metric);
        for c in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(latency.clone()),
            Box::new(pool.clone()),
            Box::new(realtime.clone()),
        ] {
            let _ = registry.register(c);
        }
        Self {
            registry,
            requests,
            latency,
            pool,
            realtime,
        }
    }

    fn render(&self, state: &AppState) -> String {
        if let Some((size, idle)) = state.crm.pool_status() {
            self.pool.with_label_values(&["open"]).set(i64::from(size));
            self.pool.with_label_values(&["idle"]).set(i64::from(idle));
        }
        let gauge = |what: &str, v: i64| self.realtime.with_label_values(&[what]).set(v);
        gauge(
            "websocket_clients",
            i64::try_from(state.events.clients()).unwrap_or(i64::MAX),
        );
        gauge("last_event_id", state.events.cursor());
        if let Some(cache) = &state.cache {
            let s = cache.stats();
            gauge("cache_hits", i64::try_from(s.hits).unwrap_or(i64::MAX));
            gauge("cache_misses", i64::try_from(s.misses).unwrap_or(i64::MAX));
            gauge("cache_errors", i64::try_from(s.errors).unwrap_or(i64::MAX));
        }
        let mut out = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Metric definitions are constants; a failure here is a programming error.
fn unreachable_metric<T>(e: prometheus::Error) -> T {
    panic!("invalid metric definition: {e}")
}

/// Middleware recording every request.
pub async fn track(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = req.method().to_string();
    let started = Instant::now();
    let res = next.run(req).await;
    let status = res.status().as_u16().to_string();
    let labels = [route.as_str(), method.as_str(), status.as_str()];
    state.metrics.requests.with_label_values(&labels).inc();
    state
        .metrics
        .latency
        .with_label_values(&labels)
        .observe(started.elapsed().as_secs_f64());
    res
}

/// `GET /metrics` in the Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format: request count and latency histogram by route, method and status; DB pool gauges", content_type = "text/plain", body = String))
)]
pub async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        state.metrics.render(&state),
    )
        .into_response()
}
