//! The web dashboard: the guide's five pages and a login page, plain HTML,
//! CSS and ES modules under `examples/crm-server/dashboard/`, embedded in
//! the binary (a release build serves them with nothing else installed; a
//! debug build reads them from disk on each request, so an edit shows on
//! reload). `/` and `/crm/` lead to the dashboard.
//!
//! The pages hold no rule: they call the same `/api` endpoints as any client
//! with the token kept in `sessionStorage`, and follow the role the login
//! answered. Their figures come from [`crm_core::Analytics::dashboard`] and
//! [`crm_core::Analytics::report`]: computed once per model fit, so a page
//! view reads one stored report, whatever the number of customers.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

/// The dashboard's files.
#[derive(rust_embed::Embed)]
#[folder = "dashboard/"]
struct Files;

/// Where `/` and `/crm/` lead.
pub const HOME: &str = "/crm/dashboard.html";

/// The routes of the dashboard (no state, no authentication: the files are
/// public, the data behind them is not).
pub fn routes<S: Clone + Send + Sync + 'static>() -> axum::Router<S> {
    axum::Router::new()
        .route("/", axum::routing::get(home))
        .route("/crm", axum::routing::get(home))
        .route("/crm/", axum::routing::get(home))
        .route("/crm/{*path}", axum::routing::get(file))
}

async fn home() -> Redirect {
    Redirect::to(HOME)
}

/// The content type of a dashboard file, by its extension.
fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("md" | "txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

async fn file(Path(path): Path<String>) -> Response {
    let Some(found) = Files::get(&path) else {
        return (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "not found",
        )
            .into_response();
    };
    let mut res = found.data.into_owned().into_response();
    let headers = res.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(&path)),
    );
    // Revalidate on every load: the files change with the binary.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    // Same-origin scripts, styles and connections only (the WebSocket too);
    // nothing is ever fetched from elsewhere.
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self' ws: wss:; frame-ancestors 'none'",
        ),
    );
    res
}

/// Refits the analytics models every `every` (the first after one
/// period), so the dashboard's figures, which are those of the last fit,
/// stay fresh. A failed refit is logged and tried again next period.
pub fn spawn_refits(crm: crm_core::Crm, every: std::time::Duration) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let started = std::time::Instant::now();
            match crm.analytics().refit().await {
                Ok(model) => tracing::info!(
                    customers = model.customers,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "analytics refitted"
                ),
                Err(e) => tracing::warn!(error = %e, "analytics refit failed"),
            }
        }
    });
}

/// Every file the dashboard serves, by path under `/crm/`.
pub fn files() -> impl Iterator<Item = String> {
    Files::iter().map(|p| p.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_five_pages_and_the_login_are_there() {
        let all: Vec<String> = files().collect();
        for page in [
            "login.html",
            "dashboard.html",
            "customers.html",
            "customer-detail.html",
            "segments.html",
            "analytics.html",
        ] {
            assert!(all.iter().any(|f| f == page), "{page} missing from {all:?}");
            assert_eq!(content_type(page), "text/html; charset=utf-8");
        }
        assert_eq!(content_type("js/api.js"), "text/javascript; charset=utf-8");
    }
}
