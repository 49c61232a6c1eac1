//! The CRM example server.
//!
//! Run: `cargo run --release -p crm-server` (SQLite file `crm.db` in the
//! working directory, seeded with demo data on first start unless
//! `--no-demo`; `DATABASE_URL=mysql://...` for MySQL, `CRM_BIND` for the
//! address, default `127.0.0.1:8080`; `CRM_JWT_SECRET`; `CRM_ADMIN_EMAIL` /
//! `CRM_ADMIN_PASSWORD` for the first admin, else one is generated and its
//! password printed once; `CRM_CORS_ORIGINS`, `CRM_LOG_FORMAT=json`,
//! `CRM_DB_MAX_CONNECTIONS`, `CRM_DB_ACQUIRE_TIMEOUT_SECS`; `REDIS_URL` for
//! the customer cache and cross-process event wake-ups, `CRM_REDIS_PREFIX`
//! for its keys, default `crm:`; `CRM_PUBLIC_URL`, `CRM_SMTP_URL`,
//! `CRM_MAIL_FROM`, `CRM_SMS_*` and `CRM_MAIL_PER_SECOND` for
//! communications, see the README). Stops on Ctrl-C or SIGTERM after the
//! requests in flight.

use crm_server::AppState;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // CRM_LOG_FORMAT=json for structured logs (one JSON object per line).
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,tower_http=info".into());
    if std::env::var("CRM_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json")) {
        tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .init();
    } else {
        tracing_subscriber::fmt().with_env_filter(filter).init();
    }
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "sqlite://crm.db".into());
    let bind = std::env::var("CRM_BIND").unwrap_or_else(|_| "127.0.0.1:8080".into());
    // Pool settings: CRM_DB_MAX_CONNECTIONS (default 10), CRM_DB_ACQUIRE_TIMEOUT_SECS (default 10).
    let mut options = crm_sqlx::StoreOptions::default();
    if let Some(n) = std::env::var("CRM_DB_MAX_CONNECTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        options.max_connections = n;
    }
    if let Some(n) = std::env::var("CRM_DB_ACQUIRE_TIMEOUT_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        options.acquire_timeout = std::time::Duration::from_secs(n);
    }
    let crm = crm_core::Crm::from_arc(crm_sqlx::connect_with(&url, options.clone()).await?);
    // Communications: CRM_PUBLIC_URL for unsubscribe links (default
    // http://<CRM_BIND>); transports from CRM_SMTP_URL, CRM_MAIL_FROM and
    // CRM_SMS_* (see crm_comms::Transports::from_env).
    let mut config = crm.config().clone();
    config.comms.public_url =
        std::env::var("CRM_PUBLIC_URL").unwrap_or_else(|_| format!("http://{bind}"));
    // CRM_SMS_QUIET_HOURS (default 21:00-08:00, or off) in the local time of
    // CRM_UTC_OFFSET_MINUTES (default 420, Asia/Jakarta).
    if let Ok(q) = std::env::var("CRM_SMS_QUIET_HOURS") {
        config.comms.quiet_hours = crm_core::comms::QuietHours::parse(&q)?;
    }
    if let Ok(m) = std::env::var("CRM_UTC_OFFSET_MINUTES") {
        config.comms.utc_offset_minutes = m
            .trim()
            .parse()
            .map_err(|_| format!("CRM_UTC_OFFSET_MINUTES must be a whole number, not {m:?}"))?;
    }
    // CRM_CLAIM_LEASE_SECS: after how long a recipient claimed by a process
    // that died is settled as interrupted (default 300).
    if let Some(n) = std::env::var("CRM_CLAIM_LEASE_SECS")
        .ok()
        .and_then(|v| v.trim().parse().ok())
    {
        config.comms.claim_lease_secs = n;
    }
    let crm = crm.with_config(config)?;
    let transports = crm_comms::Transports::from_env()?;
    let secret = crm_server::jwt_secret(&crm, std::env::var("CRM_JWT_SECRET").ok(), &url).await?;
    let admin = crm_server::bootstrap_admin(
        &crm,
        std::env::var("CRM_ADMIN_EMAIL").ok(),
        std::env::var("CRM_ADMIN_PASSWORD").ok(),
    )
    .await?;
    if let Some((email, generated)) = admin {
        match generated {
            Some(password) => {
                println!("Created admin {email} with password {password} (shown once; change it)")
            }
            None => println!("Created admin {email}"),
        }
    }
    let no_demo = std::env::args().any(|a| a == "--no-demo");
    let empty = crm
        .customers()
        .list(crm_core::CustomerQuery {
            status: crm_core::ActivityFilter::All,
            limit: Some(1),
            ..Default::default()
        })
        .await?
        .items
        .is_empty();
    if empty && !no_demo {
        println!("Empty database: seeding demo data (use --no-demo to skip) ...");
        let started = std::time::Instant::now();
        // The line ends when the seed drops `show`, before "Seeded".
        let mut line = crm_server::demo::ProgressLine::stderr();
        let show = move |p: &crm_server::demo::Progress| line.update(p);
        let now = crm.clock().now();
        let report =
            crm_server::demo::seed_on_one_core(&crm, &url, options, 3_000, now, show).await;
        let report = report?;
        let t = report.timings;
        println!(
            "Seeded {} customers and {} purchases in {:.1?} (customers {:.1?}, history {:.1?}, \
             recent sales and refunds {:.1?}, redemptions {:.1?})",
            report.customers,
            report.purchases,
            started.elapsed(),
            t.customers,
            t.history,
            t.recorded,
            t.redemptions,
        );
        let started = std::time::Instant::now();
        crm.analytics().refit().await?;
        println!("Fitted the analytics models in {:.1?}", started.elapsed());
    }
    let seconds = |name: &str| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(std::time::Duration::from_secs)
    };
    let listener = tokio::net::TcpListener::bind(&bind).await?;
    println!("CRM server on http://{bind} ({})", crm.backend());
    println!(
        "Dashboard: http://{bind}{} (log in with the admin's email and password)",
        crm_server::dashboard::HOME
    );
    // CRM_REFIT_EVERY_SECS (default 3600, 0 = never): the dashboard's
    // figures are those of the last fit.
    let refit_every =
        seconds("CRM_REFIT_EVERY_SECS").unwrap_or(std::time::Duration::from_secs(3600));
    if !refit_every.is_zero() {
        crm_server::dashboard::spawn_refits(crm.clone(), refit_every);
    }
    // CRM_CORS_ORIGINS: "*" for any origin, or a comma-separated list.
    let cors_origins = std::env::var("CRM_CORS_ORIGINS").ok().map(|v| {
        v.split(',')
            .map(str::trim)
            .filter(|o| !o.is_empty() && *o != "*")
            .map(String::from)
            .collect::<Vec<_>>()
    });
    let defaults = crm_server::ServerOptions::default();
    let options = crm_server::ServerOptions {
        cors_origins,
        request_timeout: seconds("CRM_REQUEST_TIMEOUT_SECS").unwrap_or(defaults.request_timeout),
        max_in_flight: std::env::var("CRM_MAX_IN_FLIGHT")
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(defaults.max_in_flight),
        ..defaults
    };
    let shutdown_deadline =
        seconds("CRM_SHUTDOWN_DEADLINE_SECS").unwrap_or(std::time::Duration::from_secs(10));
    let cache = match std::env::var("REDIS_URL").ok().filter(|u| !u.is_empty()) {
        Some(url) => {
            let prefix = std::env::var("CRM_REDIS_PREFIX").unwrap_or_else(|_| "crm:".into());
            println!("Redis cache and event fan-out on {url} (keys {prefix}*)");
            Some(crm_server::cache::Cache::new(
                &crm_server::cache::RedisSettings { url, prefix },
            )?)
        }
        None => None,
    };
    // CRM_TRUSTED_PROXIES: comma-separated addresses of the reverse proxies
    // in front (their X-Forwarded-For names the client).
    let trusted_proxies = std::env::var("CRM_TRUSTED_PROXIES")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.parse::<std::net::IpAddr>()
                .map_err(|e| format!("CRM_TRUSTED_PROXIES: {p:?} is not an IP address ({e})"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let events_defaults = crm_server::events::EventOptions::default();
    let state = AppState::behind(
        crm,
        secret.as_bytes(),
        cache,
        crm_server::events::EventOptions {
            // CRM_WS_MAX_CLIENTS (default 1024), CRM_OUTBOX_RETENTION_HOURS (default 168).
            max_clients: std::env::var("CRM_WS_MAX_CLIENTS")
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(events_defaults.max_clients),
            retention: std::env::var("CRM_OUTBOX_RETENTION_HOURS")
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map_or(events_defaults.retention, |h| {
                    std::time::Duration::from_secs(h.saturating_mul(3600))
                }),
            ..events_defaults
        },
        trusted_proxies,
    );
    crm_server::events::EventHub::start(&state);
    // CRM_MAIL_PER_SECOND (default 1000), CRM_SMS_PER_SECOND (default 20),
    // CRM_DISPATCH_CONCURRENCY (default 48): per process.
    let dispatch_defaults = crm_core::comms::DispatchOptions::default();
    let per_second = |name: &str, default: Option<u32>| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.trim().parse::<u32>().ok())
            .map_or(default, |n| (n > 0).then_some(n))
    };
    crm_server::comms::spawn_dispatcher(
        &state,
        &transports,
        crm_core::comms::DispatchOptions {
            email_per_second: per_second("CRM_MAIL_PER_SECOND", dispatch_defaults.email_per_second),
            sms_per_second: per_second("CRM_SMS_PER_SECOND", dispatch_defaults.sms_per_second),
            concurrency: std::env::var("CRM_DISPATCH_CONCURRENCY")
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(dispatch_defaults.concurrency),
            ..dispatch_defaults
        },
    );
    let app = crm_server::app_with(state, options);
    // On SIGTERM: stop accepting, let requests in flight finish, but not
    // for longer than the deadline (a WebSocket would keep it open forever).
    let serve = crm_server::ServeOptions {
        header_read_timeout: seconds("CRM_HEADER_TIMEOUT_SECS")
            .unwrap_or(crm_server::ServeOptions::default().header_read_timeout),
        shutdown_deadline,
    };
    crm_server::serve(listener, app, serve, shutdown_signal()).await;
    Ok(())
}

/// Ctrl-C or SIGTERM (what process managers and load balancers send).
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
