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
    /// Login attempts per address and failed logins per account.
    pub limiter: auth::LoginLimiter,
    /// Peers whose `X-Forwarded-For` names the client (`CRM_TRUSTED_PROXIES`).
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Prometheus metrics.
    pub metrics: metrics::Metrics,
    /// The outbox relay and WebSocket clients of this process.
    pub events: Arc<events::EventHub>,
    /// The Redis cache, when `REDIS_URL` is set.
    pub cache: Option<Arc<cache::Cache>>,
}

impl AppState {
    /// State over a CRM, signing tokens with `secret` (valid
    /// [`TOKEN_TTL`] unless `CRM_TOKEN_TTL_SECS` says otherwise).
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
        Self::behind(crm, secret, cache, events, Vec::new())
    }

    /// State as [`AppState::with`], behind reverse proxies whose
    /// `X-Forwarded-For` names the client (login throttling by address).
    pub fn behind(
        crm: Crm,
        secret: &[u8],
        cache: Option<cache::Cache>,
        events: events::EventOptions,
        trusted_proxies: Vec<std::net::IpAddr>,
    ) -> Arc<Self> {
        Arc::new(Self {
            crm,
            keys: auth::TokenKeys::new(secret, token_ttl()),
            limiter: auth::LoginLimiter::default(),
            trusted_proxies,
            metrics: metrics::Metrics::new(),
            events: Arc::new(events::EventHub::new(events)),
            cache: cache.map(Arc::new),
        })
    }
}

/// Default lifetime of a token: one hour.
pub const TOKEN_TTL: chrono::Duration = chrono::Duration::hours(1);

/// The token lifetime: `CRM_TOKEN_TTL_SECS`, else [`TOKEN_TTL`].
fn token_ttl() -> chrono::Duration {
    std::env::var("CRM_TOKEN_TTL_SECS")
        .ok()
        .and_then(|v| v.trim().parse::<i64>().ok())
        .filter(|s| *s > 0)
        .map_or(TOKEN_TTL, chrono::Duration::seconds)
}

/// The JWT secret: `CRM_JWT_SECRET` when given, else a random one generated
/// on first start and kept in the database (never a fixed default).
pub async fn jwt_secret(crm: &Crm, configured: Option<String>) -> crm_core::Result<String> {
    if let Some(s) = configured.filter(|s| !s.trim().is_empty()) {
        if s.len() < auth::MIN_SECRET_BYTES {
            return Err(crm_core::Error::invalid(
                "CRM_JWT_SECRET",
                "min_length",
                format!(
                    "CRM_JWT_SECRET must be at least {} bytes (it has {})",
                    auth::MIN_SECRET_BYTES,
                    s.len()
                ),
            ));
        }
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
    /// Longest time a request may take before it is answered 503
    /// `unavailable` (default 30 s).
    pub request_timeout: std::time::Duration,
    /// Requests handled at once; more are shed at once with 503
    /// `unavailable` and `Retry-After: 1` (default 512).
    pub max_in_flight: usize,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            cors_origins: None,
            body_limit: 1024 * 1024,
            request_timeout: std::time::Duration::from_secs(30),
            max_in_flight: 512,
        }
    }
}

/// The in-flight limit and the deadline of every request.
#[derive(Debug)]
struct Limits {
    in_flight: Arc<tokio::sync::Semaphore>,
    timeout: std::time::Duration,
}

/// Sheds load beyond the in-flight limit (503 with `Retry-After`), answers a
/// request that overruns its deadline with 503, and turns a panic in a
/// handler into the 500 envelope (logged with a request id) instead of a
/// dropped connection.
async fn limits(
    axum::extract::State(limits): axum::extract::State<Arc<Limits>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    use futures_util::FutureExt;
    let unavailable = |message: &str| {
        let mut res =
            ApiError::new(crm_core::ErrorCode::Unavailable, message.to_string()).into_response();
        res.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from_static("1"),
        );
        res
    };
    let Ok(_permit) = limits.in_flight.clone().try_acquire_owned() else {
        return unavailable("the server is busy; retry in a second");
    };
    let run = std::panic::AssertUnwindSafe(next.run(req)).catch_unwind();
    match tokio::time::timeout(limits.timeout, run).await {
        Ok(Ok(res)) => res,
        Ok(Err(_panic)) => {
            ApiError::from(crm_core::Error::storage_msg("a request handler panicked"))
                .into_response()
        }
        Err(_) => unavailable("the request took too long; retry later"),
    }
}

/// The router with explicit HTTP settings.
pub fn app_with(state: Arc<AppState>, options: ServerOptions) -> Router {
    let (router, _) = routes::router().split_for_parts();
    let router = router.route("/crm-updates", axum::routing::get(events::updates));
    layered(router, state, options)
}

/// Wraps routes in the server's layers (limits, envelope, ids, tracing, CORS).
fn layered(router: Router<Arc<AppState>>, state: Arc<AppState>, options: ServerOptions) -> Router {
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
    let limits = Arc::new(Limits {
        in_flight: Arc::new(tokio::sync::Semaphore::new(options.max_in_flight.max(1))),
        timeout: options.request_timeout,
    });
    let mut router = router
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
        .layer(axum::middleware::from_fn_with_state(limits, self::limits))
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

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    fn app(options: ServerOptions) -> Router {
        let crm = Crm::new(crm_core::memory::MemoryStore::new());
        let state = AppState::new(crm, b"a test secret of at least 32 bytes!!");
        let routes = Router::new()
            .route(
                "/boom",
                axum::routing::get(|| async {
                    let v: Vec<u8> = Vec::new();
                    // An out-of-bounds index: a bug in a handler.
                    axum::Json(v[usize::from(v.is_empty())])
                }),
            )
            .route(
                "/slow",
                axum::routing::get(|| async {
                    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
                    "done"
                }),
            );
        layered(routes, state, options)
    }

    async fn get(app: &Router, uri: &str) -> (StatusCode, Option<String>, serde_json::Value) {
        let res = app
            .clone()
            .oneshot(Request::get(uri).body(Body::empty()).expect("request"))
            .await
            .expect("response");
        let status = res.status();
        let retry = res
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .expect("body");
        (
            status,
            retry,
            serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
        )
    }

    #[tokio::test]
    async fn a_panic_answers_the_500_envelope() {
        let app = app(ServerOptions::default());
        let (status, _, body) = get(&app, "/boom").await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["error"]["code"], "internal");
        assert!(body["error"]["request_id"].is_string(), "{body}");
    }

    #[tokio::test]
    async fn load_beyond_the_limit_is_shed_and_slow_requests_time_out() {
        let app = app(ServerOptions {
            max_in_flight: 1,
            ..Default::default()
        });
        let first = tokio::spawn({
            let app = app.clone();
            async move { get(&app, "/slow").await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert_unavailable(get(&app, "/slow").await);
        let (status, _, _) = first.await.expect("first");
        assert_eq!(status, StatusCode::OK, "the request in flight finishes");

        let app = app_with_timeout(std::time::Duration::from_millis(100));
        assert_unavailable(get(&app, "/slow").await);
    }

    fn assert_unavailable((status, retry, body): (StatusCode, Option<String>, serde_json::Value)) {
        assert_eq!(
            (status, retry.as_deref(), body["error"]["code"].as_str()),
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Some("1"),
                Some("unavailable")
            )
        );
    }

    #[tokio::test]
    async fn short_secrets_are_refused_and_tokens_name_issuer_and_audience() {
        let crm = Crm::new(crm_core::memory::MemoryStore::new());
        let short = jwt_secret(&crm, Some("too-short".into())).await;
        assert_eq!(
            short.map_err(|e| e.field_errors()[0].rule.clone()).err(),
            Some("min_length".to_string())
        );
        let generated = jwt_secret(&crm, None).await.expect("generated");
        assert!(generated.len() >= auth::MIN_SECRET_BYTES);
        let keys = auth::TokenKeys::new(generated.as_bytes(), TOKEN_TTL);
        let user = crm_core::users::User {
            id: 1,
            email: "a@b.id".into(),
            role: crm_core::users::Role::Admin,
            created_at: chrono::Utc::now(),
        };
        let (token, expires) = auth::issue(&keys, &user, chrono::Utc::now()).expect("token");
        let caller = auth::verify(&keys, &token).expect("valid");
        assert_eq!(
            (caller.0.iss.as_str(), caller.0.aud.as_str()),
            (auth::TOKEN_ISSUER, auth::TOKEN_AUDIENCE)
        );
        assert!(expires <= chrono::Utc::now() + TOKEN_TTL);
        // Same secret, another audience (another service): refused.
        let mut foreign = caller.0.clone();
        foreign.aud = "billing".into();
        let encoding = jsonwebtoken::EncodingKey::from_secret(generated.as_bytes());
        let token = jsonwebtoken::encode(&jsonwebtoken::Header::default(), &foreign, &encoding)
            .expect("encode");
        assert!(auth::verify(&keys, &token).is_err());
    }

    fn app_with_timeout(timeout: std::time::Duration) -> Router {
        app(ServerOptions {
            request_timeout: timeout,
            ..Default::default()
        })
    }
}
