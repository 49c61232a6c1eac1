//! # crm-server
//!
//! The example HTTP server over the CRM SDK: it wires the [`Crm`] facade to
//! HTTP and holds no business rule of its own. `app(state)` builds the
//! router; `main.rs` only reads the configuration.
//!
//! Work in progress: customers, loyalty and analytics endpoints with the
//! guide's envelope. Authentication, OpenAPI, metrics and demo data follow.

pub mod error;
mod routes;

use std::sync::Arc;

use axum::Router;
use crm_core::Crm;

pub use error::ApiError;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The CRM.
    pub crm: Crm,
}

impl AppState {
    /// State over a CRM.
    pub fn new(crm: Crm) -> Arc<Self> {
        Arc::new(Self { crm })
    }
}

/// The router of the whole API.
pub fn app(state: Arc<AppState>) -> Router {
    routes::router()
        .layer(tower_http::limit::RequestBodyLimitLayer::new(1024 * 1024))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}
