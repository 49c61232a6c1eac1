//! # crm-server
//!
//! The example HTTP server over the CRM SDK: it wires the [`Crm`] facade to
//! HTTP and holds no business rule of its own. `app(state)` builds the
//! router; `main.rs` only reads the configuration.
//!
//! Customers, loyalty and analytics endpoints with the guide's envelope,
//! JWT auth and roles, Prometheus metrics, demo data, and the OpenAPI 3.1
//! document at `GET /api/openapi.json` (see [`openapi`]).

pub mod admin;
pub mod auth;
pub mod cache;
pub mod comms;
pub mod dashboard;
pub mod demo;
pub mod error;
pub mod events;
pub mod imports;
pub mod metrics;
pub mod openapi;
mod routes;
mod users;

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
    /// Whether tokens are still valid (user active, token version current).
    pub sessions: auth::Sessions,
    /// Used WebSocket tickets.
    pub tickets: auth::Tickets,
    /// Peers whose `X-Forwarded-For` names the client (`CRM_TRUSTED_PROXIES`).
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Prometheus metrics.
    pub metrics: metrics::Metrics,
    /// The outbox relay and WebSocket clients of this process.
    pub events: Arc<events::EventHub>,
    /// The Redis cache, when `REDIS_URL` is set.
    pub cache: Option<Arc<cache::Cache>>,
    /// Wakes this process's campaign dispatcher (a campaign was sent).
    pub dispatch_wake: Arc<tokio::sync::Notify>,
    /// The customer CSV import jobs of this process (`CRM_IMPORT_DIR`,
    /// `CRM_IMPORT_MAX_BYTES`).
    pub imports: imports::ImportJobs,
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
            sessions: auth::Sessions::default(),
            tickets: auth::Tickets::default(),
            trusted_proxies,
            metrics: metrics::Metrics::new(),
            events: Arc::new(events::EventHub::new(events)),
            cache: cache.map(Arc::new),
            dispatch_wake: Default::default(),
            imports: imports::ImportJobs::from_env(),
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

/// The JWT secret: `CRM_JWT_SECRET` when given (at least 32 bytes). Else:
/// on MySQL, an error (every process must share one secret, so it comes
/// from the environment); on a SQLite file, a random secret generated on
/// first start and kept beside the database in `<database>.jwt-secret`,
/// mode 0600; in memory, a random one for this process.
pub async fn jwt_secret(
    crm: &Crm,
    configured: Option<String>,
    database_url: &str,
) -> crm_core::Result<String> {
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
    let random = || {
        format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        )
    };
    if crm.backend() == "mysql" {
        return Err(crm_core::Error::invalid(
            "CRM_JWT_SECRET",
            "required",
            "on MySQL every server process must sign with the same secret: set CRM_JWT_SECRET (at least 32 bytes)",
        ));
    }
    match crm_sqlx::sqlite_file(database_url) {
        Some(db) => {
            let mut path = db.into_os_string();
            path.push(".jwt-secret");
            secret_file(std::path::Path::new(&path), &random())
        }
        None => Ok(random()),
    }
}

/// Reads the secret kept in `path`, creating it (mode 0600) with `fresh`
/// when missing; a file others can read is made private again.
fn secret_file(path: &std::path::Path, fresh: &str) -> crm_core::Result<String> {
    let failed = |what: &str, e: std::io::Error| {
        crm_core::Error::storage(format!("{what} {}", path.display()), e)
    };
    let mut open = std::fs::OpenOptions::new();
    open.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
    match open.open(path) {
        Ok(mut file) => {
            use std::io::Write;
            file.write_all(fresh.as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(|e| failed("cannot write the secret file", e))?;
            return Ok(fresh.to_string());
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(failed("cannot create the secret file", e)),
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(|e| failed("cannot read the secret file", e))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            tracing::warn!(path = %path.display(), "the JWT secret file was readable by others; made it 0600");
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| failed("cannot restrict the secret file", e))?;
        }
    }
    let secret = std::fs::read_to_string(path)
        .map_err(|e| failed("cannot read the secret file", e))?
        .trim()
        .to_string();
    if secret.len() < auth::MIN_SECRET_BYTES {
        return Err(crm_core::Error::invalid(
            "CRM_JWT_SECRET",
            "min_length",
            format!(
                "the secret in {} is shorter than {} bytes; delete the file to generate a new one",
                path.display(),
                auth::MIN_SECRET_BYTES
            ),
        ));
    }
    Ok(secret)
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

/// Settings of the connection loop ([`serve`]).
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Longest time a client may take to send a request's headers (a
    /// connection that trickles them, slowloris-style, is closed).
    pub header_read_timeout: std::time::Duration,
    /// After the shutdown signal, longest time the connections in flight
    /// (WebSockets included) may take before they are closed.
    pub shutdown_deadline: std::time::Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            header_read_timeout: std::time::Duration::from_secs(10),
            shutdown_deadline: std::time::Duration::from_secs(10),
        }
    }
}

/// Serves `app` on `listener` (HTTP/1.1 with upgrades, each request with
/// its client's `ConnectInfo<SocketAddr>`) until `shutdown` resolves; then
/// stops accepting and lets the connections in flight finish, for at most
/// [`ServeOptions::shutdown_deadline`].
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    options: ServeOptions,
    shutdown: impl std::future::Future<Output = ()>,
) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout);
    // Connections watch `signal` (closed on shutdown) and hold `close`
    // until they end: the loop waits for every `close` to be dropped.
    let (signal_tx, signal_rx) = tokio::sync::watch::channel(());
    let (close_tx, close_rx) = tokio::sync::watch::channel(());
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait, not spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let app = app.clone();
        let service =
            hyper::service::service_fn(move |req: axum::http::Request<hyper::body::Incoming>| {
                let mut req = req.map(axum::body::Body::new);
                req.extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                tower::ServiceExt::oneshot(app.clone(), req)
            });
        let conn = http
            .serve_connection(TokioIo::new(stream), service)
            .with_upgrades();
        let mut signal = signal_rx.clone();
        let close = close_rx.clone();
        tokio::spawn(async move {
            let mut conn = std::pin::pin!(conn);
            let mut stopping = false;
            loop {
                tokio::select! {
                    result = conn.as_mut() => {
                        if let Err(e) = result {
                            tracing::debug!(error = %e, "connection ended with an error");
                        }
                        break;
                    }
                    _ = signal.changed(), if !stopping => {
                        // Finish the request in flight, then close (an
                        // upgraded WebSocket has left this task already).
                        stopping = true;
                        conn.as_mut().graceful_shutdown();
                    }
                }
            }
            drop(close);
        });
    }
    drop(listener);
    drop(signal_tx);
    drop(signal_rx);
    drop(close_rx);
    if tokio::time::timeout(options.shutdown_deadline, close_tx.closed())
        .await
        .is_err()
    {
        tracing::warn!(deadline = ?options.shutdown_deadline, "shutdown deadline passed; closing the remaining connections");
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
    // Sending a large customer file takes longer than a request may.
    let timeout = if imports::is_upload(&req) {
        limits.timeout.max(imports::UPLOAD_TIMEOUT)
    } else {
        limits.timeout
    };
    let run = std::panic::AssertUnwindSafe(next.run(req)).catch_unwind();
    match tokio::time::timeout(timeout, run).await {
        Ok(Ok(res)) => res,
        Ok(Err(_panic)) => {
            ApiError::from(crm_core::Error::storage_msg("a request handler panicked"))
                .into_response()
        }
        Err(_) => unavailable("the request took too long; retry later"),
    }
}

/// Limits request bodies to the server's body limit, except a customer
/// file upload (`POST /api/imports`), which its handler streams to disk and
/// caps at `CRM_IMPORT_MAX_BYTES`.
async fn body_limit(
    axum::extract::State(limit): axum::extract::State<usize>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use tower::{Layer, ServiceExt};
    if imports::is_upload(&req) {
        return next.run(req).await;
    }
    let next = tower::util::MapRequest::new(next, |req: axum::http::Request<_>| {
        req.map(axum::body::Body::new)
    });
    match tower_http::limit::RequestBodyLimitLayer::new(limit)
        .layer(next)
        .oneshot(req)
        .await
    {
        Ok(res) => res.map(axum::body::Body::new),
        Err(never) => match never {},
    }
}

/// The router with explicit HTTP settings.
pub fn app_with(state: Arc<AppState>, options: ServerOptions) -> Router {
    let (router, _) = routes::router().split_for_parts();
    let router = router
        .route("/crm-updates", axum::routing::get(events::updates))
        .merge(dashboard::routes());
    layered(router, state, options)
}

/// A request's URI as logged: the path only, the query string replaced by
/// `?<redacted>` (it may carry a WebSocket ticket or a search for an email
/// address or phone number).
pub fn logged_uri(uri: &axum::http::Uri) -> String {
    match uri.query() {
        Some(_) => format!("{}?<redacted>", uri.path()),
        None => uri.path().to_string(),
    }
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
            tracing::info_span!("request", method = %req.method(), uri = %logged_uri(req.uri()), request_id = %id)
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
        .layer(axum::middleware::from_fn_with_state(
            options.body_limit,
            body_limit,
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
        let short = jwt_secret(&crm, Some("too-short".into()), "memory").await;
        assert_eq!(
            short.map_err(|e| e.field_errors()[0].rule.clone()).err(),
            Some("min_length".to_string())
        );
        let generated = jwt_secret(&crm, None, "memory").await.expect("generated");
        assert!(generated.len() >= auth::MIN_SECRET_BYTES);
        let keys = auth::TokenKeys::new(generated.as_bytes(), TOKEN_TTL);
        let user = crm_core::users::User {
            id: 1,
            email: "a@b.id".into(),
            role: crm_core::users::Role::Admin,
            created_at: chrono::Utc::now(),
            active: true,
            token_version: 0,
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

    #[test]
    fn logged_uris_carry_no_query_string() {
        let uri: axum::http::Uri = "/crm-updates?ticket=eyJsecret&last_event_id=4"
            .parse()
            .expect("uri");
        assert_eq!(logged_uri(&uri), "/crm-updates?<redacted>");
        let uri: axum::http::Uri = "/api/customers/7".parse().expect("uri");
        assert_eq!(logged_uri(&uri), "/api/customers/7");
    }

    /// A client that trickles its headers is cut off after the header
    /// read timeout; a normal request on the same server is answered.
    #[tokio::test]
    async fn slow_headers_are_cut_off() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(
            listener,
            app(ServerOptions::default()),
            ServeOptions {
                header_read_timeout: std::time::Duration::from_millis(300),
                shutdown_deadline: std::time::Duration::from_secs(1),
            },
            async {
                let _ = stopped.await;
            },
        ));
        let mut slow = tokio::net::TcpStream::connect(addr).await.expect("connect");
        slow.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n")
            .await
            .expect("write");
        let started = std::time::Instant::now();
        let mut buf = Vec::new();
        let read = tokio::time::timeout(
            std::time::Duration::from_secs(3),
            slow.read_to_end(&mut buf),
        )
        .await;
        assert!(read.is_ok(), "the connection was not closed");
        assert!(started.elapsed() < std::time::Duration::from_secs(2));

        let mut ok = tokio::net::TcpStream::connect(addr).await.expect("connect");
        ok.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .expect("write");
        let mut answer = String::new();
        ok.read_to_string(&mut answer).await.expect("read");
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        let _ = stop.send(());
        tokio::time::timeout(std::time::Duration::from_secs(3), server)
            .await
            .expect("the server stops")
            .expect("join");
    }

    fn app_with_timeout(timeout: std::time::Duration) -> Router {
        app(ServerOptions {
            request_timeout: timeout,
            ..Default::default()
        })
    }
}
