//! The CRM example server.
//!
//! Run: `cargo run --release -p crm-server` (SQLite file `crm.db` in the
//! working directory; `DATABASE_URL=mysql://...` for MySQL, `CRM_BIND` for
//! the address, default `127.0.0.1:8080`).

use crm_server::{AppState, app};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,tower_http=info".into()),
        )
        .init();
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "sqlite://crm.db".into());
    let bind = std::env::var("CRM_BIND").unwrap_or_else(|_| "127.0.0.1:8080".into());
    let crm = crm_core::Crm::from_arc(crm_sqlx::connect(&url).await?);
    let listener = tokio::net::TcpListener::bind(&bind).await?;
    println!("CRM server on http://{bind} ({})", crm.store().backend());
    axum::serve(listener, app(AppState::new(crm)))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
