//! # crm-server
//!
//! The example HTTP server over the CRM SDK: it wires the [`Crm`] facade to
//! HTTP and holds no business rule of its own. `app(state)` builds the
//! router; `main.rs` only reads the configuration.
//!
//! Work in progress: customers, loyalty and analytics endpoints with the
//! guide's envelope. Authentication, OpenAPI, metrics and demo data follow.

pub mod auth;
pub mod demo;
pub mod error;
pub mod metrics;
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
}

impl AppState {
    /// State over a CRM, signing tokens with `secret` (valid 12 hours).
    pub fn new(crm: Crm, secret: &[u8]) -> Arc<Self> {
        Arc::new(Self {
            crm,
            keys: auth::TokenKeys::new(secret, chrono::Duration::hours(12)),
            limiter: auth::LoginLimiter::default(),
            metrics: metrics::Metrics::new(),
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
    crm.setting_or_insert("jwt_secret".into(), random).await
}

/// Creates the first admin when there is no user: from the given
/// email/password, else `admin@crm.local` with a generated password, which
/// is returned (to print once).
pub async fn bootstrap_admin(
    crm: &Crm,
    email: Option<String>,
    password: Option<String>,
) -> crm_core::Result<Option<(String, Option<String>)>> {
    if !crm.users().await?.is_empty() {
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
    crm.create_user(crm_core::users::NewUser {
        email: email.clone(),
        password,
        role: crm_core::users::Role::Admin,
    })
    .await?;
    Ok(Some((email, generated)))
}

/// The router of the whole API.
pub fn app(state: Arc<AppState>) -> Router {
    routes::router()
        .route("/metrics", axum::routing::get(metrics::metrics))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(1024 * 1024))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}
