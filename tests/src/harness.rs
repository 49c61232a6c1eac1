//! Backends for the conformance suite: memory, a temporary SQLite file, and a
//! fresh MySQL database.

use std::future::Future;
use std::io::Write as _;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;

use chrono::{TimeZone, Utc};
use crm_core::memory::MemoryStore;
use crm_core::{Crm, ManualClock};
use futures::FutureExt as _;

/// A CRM over one backend, with a clock the test controls.
pub struct Backend {
    /// The facade under test.
    pub crm: Crm,
    /// The adapter under test, for the cases that check the storage
    /// interface itself (the same store the facade uses).
    pub store: std::sync::Arc<dyn crm_core::store::CrmStore>,
    /// The clock the facade reads; tests move it.
    pub clock: ManualClock,
    /// `memory`, `sqlite` or `mysql`.
    pub name: &'static str,
    cleanup: Cleanup,
}

enum Cleanup {
    None,
    File(PathBuf),
    MySql {
        server_url: String,
        database: String,
    },
}

/// The instant every test clock starts at.
pub fn start_time() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 15, 9, 30, 0)
        .single()
        .unwrap_or_default()
}

type Store = std::sync::Arc<dyn crm_core::store::CrmStore>;

fn with_clock(store: Store) -> (Crm, ManualClock, Store) {
    let clock = ManualClock::new(start_time());
    (
        Crm::from_arc(store.clone()).with_clock(clock.clone()),
        clock,
        store,
    )
}

/// Prints to the real stderr, past the test harness's output capture, so a
/// skip is seen even when the test passes.
pub fn shout(msg: &str) {
    let _ = writeln!(std::io::stderr(), "{msg}");
}

/// A fresh in-memory backend.
pub async fn memory() -> Option<Backend> {
    let (crm, clock, store) = with_clock(std::sync::Arc::new(MemoryStore::new()));
    Some(Backend {
        crm,
        store,
        clock,
        name: "memory",
        cleanup: Cleanup::None,
    })
}

/// A fresh SQLite database in a temporary file (deleted afterwards).
pub async fn sqlite() -> Option<Backend> {
    let path = std::env::temp_dir().join(format!("crm-test-{}.db", uuid::Uuid::new_v4().simple()));
    let url = format!("sqlite://{}", path.display());
    let store = crm_sqlx::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("cannot open SQLite test database {url}: {e}"));
    let (crm, clock, store) = with_clock(store);
    Some(Backend {
        crm,
        store,
        clock,
        name: "sqlite",
        cleanup: Cleanup::File(path),
    })
}

/// Whether we run in CI, where skipping the MySQL cases is a failure.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// A fresh MySQL database on the server of `CRM_TEST_MYSQL_URL`, or `None`
/// (with a loud message) when the variable is not set outside CI.
pub async fn mysql() -> Option<Backend> {
    let server_url = match std::env::var("CRM_TEST_MYSQL_URL") {
        Ok(url) if !url.trim().is_empty() => url,
        _ => {
            assert!(
                !in_ci(),
                "CI=true but CRM_TEST_MYSQL_URL is not set: the MySQL conformance cases must run in CI"
            );
            shout(
                "SKIPPED: MySQL conformance case (set CRM_TEST_MYSQL_URL=mysql://user:pass@127.0.0.1:3306/crm_test to run it)",
            );
            return None;
        }
    };
    let database = format!("crm_test_{}", uuid::Uuid::new_v4().simple());
    if let Err(e) = crm_sqlx::mysql::create_database(&server_url, &database).await {
        panic!("MySQL at CRM_TEST_MYSQL_URL is unreachable or refuses CREATE DATABASE: {e}");
    }
    let url = crm_sqlx::mysql::database_url(&server_url, &database)
        .unwrap_or_else(|e| panic!("bad CRM_TEST_MYSQL_URL: {e}"));
    let options = crm_sqlx::StoreOptions {
        max_connections: 8,
        ..Default::default()
    };
    let store = match crm_sqlx::connect_with(&url, options).await {
        Ok(store) => store,
        Err(e) => {
            let _ = crm_sqlx::mysql::drop_database(&server_url, &database).await;
            panic!("cannot open MySQL test database {database}: {e}");
        }
    };
    let (crm, clock, store) = with_clock(store);
    Some(Backend {
        crm,
        store,
        clock,
        name: "mysql",
        cleanup: Cleanup::MySql {
            server_url,
            database,
        },
    })
}

/// Runs one case and removes the backend's database afterwards, also when the
/// case fails.
pub async fn run<F, Fut>(mut backend: Backend, case: F)
where
    F: FnOnce(Backend) -> Fut,
    Fut: Future<Output = ()>,
{
    let cleanup = std::mem::replace(&mut backend.cleanup, Cleanup::None);
    let outcome = AssertUnwindSafe(case(backend)).catch_unwind().await;
    match cleanup {
        Cleanup::None => {}
        Cleanup::File(path) => {
            for suffix in ["", "-wal", "-shm"] {
                let mut p = path.clone().into_os_string();
                p.push(suffix);
                let _ = std::fs::remove_file(p);
            }
        }
        Cleanup::MySql {
            server_url,
            database,
        } => {
            if let Err(e) = crm_sqlx::mysql::drop_database(&server_url, &database).await {
                shout(&format!(
                    "warning: could not drop test database {database}: {e}"
                ));
            }
        }
    }
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}
