//! # crm-server
//!
//! The example HTTP server over the CRM SDK: it wires the [`Crm`] facade to
//! HTTP and holds no business rule of its own. `app(state)` builds the
//! router; `main.rs` only reads the configuration.
//!
//! Customers, loyalty and analytics endpoints with the guide's envelope,
//! JWT auth and roles, Prometheus metrics, demo data, and the OpenAPI 3.1
//! document at `GET /api/openapi.json` (see [`openapi`]).

pub mod auth;
pub mod cache;
pub mod demo;
pub mod error;
pub mod events;
pub mod metrics;
pub mod openapi;
mod routes;

use std::sync::Arc;

use axum::Router;
use crm_core::Crm;

pub use error::ApiError;

/// What every handler can reach.
pub struct AppState {
    /// The CRM.
    pub crm: Crm,
    /// Token keys.
    pub keys: auth::TokenKeys,
    /// Login attempts per address.
    pub limiter: auth::LoginLimiter,
    /// Prometheus metrics.
    pub metrics: metrics::Metrics,
    /// The outbox relay and WebSocket clients of this process.
    pub events: Arc<events::EventHub>,
    /// The Redis cache, when `REDIS_URL` is set.
    pub cache: Option<Arc<cache::Cache>>,
}

impl AppState {
    /// State over a CRM, signing tokens with `secret` (valid 12 hours).
    pub fn new(crm: Crm, secret: &[u8]) -> Arc<Self> {
        Self::with(crm, secret, None, events::EventOptions::default())
    }

    /// State with an optional Redis cache and event settings.
    pub fn with(
        crm: Crm,
        secret: &[u8],
        cache: Option<cache::Cache>,
        events: events::EventOptions,
    ) -> Arc<Self> {
        Arc::new(Self {
            crm,
            keys: auth::TokenKeys::new(secret, chrono::Duration::hours(12)),
            limiter: auth::LoginLimiter::default(),
            metrics: metrics::Metrics::new(),
            events: Arc::new(events::EventHub::new(events)),
            cache: cache.map(Arc::new),
        })
    }
}

/// The JWT secret: `CRM_JWT_SECRET` when given, else a random one generated
/// on first start and kept in the database (never a fixed default).
pub async fn jwt_secret(crm: &Crm, configured: Option<String>) -> crm_core::Result<String> {
    if let Some(s) = configured.filter(|s| !s.trim().is_empty()) {
        return Ok(s);
    }
    let random = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    crm.users()
        .setting_or_insert(crm_core::users::Setting {
            key: "jwt_secret".into(),
            value: random,
        })
        .await
}

/// Creates the first admin when there is no user: from the given
/// email/password, else `admin@crm.local` with a generated password, which
/// is returned (to print once).
pub async fn bootstrap_admin(
    crm: &Crm,
    email: Option<String>,
    password: Option<String>,
) -> crm_core::Result<Option<(String, Option<String>)>> {
    if !crm.users().list().await?.is_empty() {
        return Ok(None);
    }
    let email = email.unwrap_or_else(|| "admin@crm.local".into());
    let (password, generated) = match password {
        Some(p) => (p, None),
        None => {
            let p = uuid::Uuid::new_v4().simple().to_string();
            (p.clone(), Some(p))
        }
    };
    crm.users()
        .create(crm_core::users::NewUser {
            email: email.clone(),
            password,
            role: crm_core::users::Role::Admin,
        })
        .await?;
    Ok(Some((email, generated)))
}

/// After a successful write, wakes the event relays (this process's at once,
/// the others' through Redis).
async fn announce_writes(
    axum::extract::State(state): axum::extract::State<Arc<AppState>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::http::Method;
    let write = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let res = next.run(req).await;
    if write && res.status().is_success() {
        state.events.written();
    }
    res
}

/// The router of the whole API.
pub fn app(state: Arc<AppState>) -> Router {
    app_with(state, ServerOptions::default())
}

/// HTTP settings of the server.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Origins allowed by CORS: `None` = no CORS headers, `Some([])` = any.
    pub cors_origins: Option<Vec<String>>,
    /// Largest request body, in bytes (default 1 MiB).
    pub body_limit: usize,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            cors_origins: None,
            body_limit: 1024 * 1024,
        }
    }
}

/// The router with explicit HTTP settings.
pub fn app_with(state: Arc<AppState>, options: ServerOptions) -> Router {
    use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
    let trace = tower_http::trace::TraceLayer::new_for_http().make_span_with(
        |req: &axum::http::Request<axum::body::Body>| {
            let id = req
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-");
            tracing::info_span!("request", method = %req.method(), uri = %req.uri(), request_id = %id)
        },
    );
    let (router, _) = routes::router().split_for_parts();
    let mut router = router
        .route("/crm-updates", axum::routing::get(events::updates))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            announce_writes,
        ))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(
            options.body_limit,
        ))
        .layer(axum::middleware::from_fn(error::envelope_rejections))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(trace)
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid));
    if let Some(origins) = options.cors_origins {
        use tower_http::cors::{AllowOrigin, Any, CorsLayer};
        let cors = CorsLayer::new().allow_methods(Any).allow_headers(Any);
        let cors = if origins.is_empty() {
            cors.allow_origin(Any)
        } else {
            cors.allow_origin(AllowOrigin::list(
                origins
                    .iter()
                    .filter_map(|o| o.parse::<axum::http::HeaderValue>().ok()),
            ))
        };
        router = router.layer(cors);
    }
    router.with_state(state)
}
