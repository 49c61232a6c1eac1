//! # crm-sqlx
//!
//! SQL backends for the CRM SDK, built on sqlx:
//!
//! - [`MySqlStore`]: MySQL 8 and MariaDB 10.11+, the production target.
//! - [`SqliteStore`]: an embedded SQLite file, the zero-setup default.
//!
//! Both implement [`crm_core::store::CrmStore`] with the same SQL where the two
//! engines agree (see `customers.rs`) and their own schema where they do not
//! (`migrations/mysql`, `migrations/sqlite`). Migrations are embedded in the
//! binary and applied on connect unless [`StoreOptions::migrate`] is off.
//! Vendor errors are mapped to [`crm_core::Error`] kinds; no sqlx type
//! appears in crm-core's API. Queries are built at run time, so building
//! needs no database.
//!
//! ```no_run
//! # async fn demo() -> crm_core::Result<()> {
//! let store = crm_sqlx::connect("sqlite://crm.db").await?;
//! let crm = crm_core::Crm::from_arc(store);
//! # Ok(()) }
//! ```

use std::sync::Arc;
use std::time::Duration;

use crm_core::store::CrmStore;
use crm_core::{Error, Result};

#[macro_use]
mod comms;
#[macro_use]
mod customers;
mod error;
#[macro_use]
mod ledger;
#[macro_use]
mod users;
pub mod mysql;
mod shapes;
pub mod sqlite;

pub use mysql::MySqlStore;
pub use sqlite::{SqliteStore, sqlite_file};

/// How to open a store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOptions {
    /// Apply the embedded migrations on connect (default `true`). Turn off when
    /// a DBA applies the SQL in `migrations/` by hand.
    pub migrate: bool,
    /// Largest number of pooled connections (default 10; SQLite in-memory
    /// databases always use 1, since each connection would see its own database).
    pub max_connections: u32,
    /// Smallest number of idle connections kept open (default 0).
    pub min_connections: u32,
    /// How long a caller waits for a free connection before failing (default 10 s).
    pub acquire_timeout: Duration,
    /// A pooled connection idle for longer than this is pinged before it is
    /// handed out, and replaced if the ping fails (default 1 s). A connection
    /// used more recently is trusted: under load no request pays a ping's
    /// round trip, and after a database restart the first use of a
    /// connection idle for a second or more still finds the broken link
    /// (MySQL only; SQLite connections are in the process).
    pub ping_after_idle: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            migrate: true,
            max_connections: 10,
            min_connections: 0,
            acquire_timeout: Duration::from_secs(10),
            ping_after_idle: Duration::from_secs(1),
        }
    }
}

/// Opens the store a URL names, with default options:
/// `mysql://user:pass@host:3306/db` (also `mariadb://`) or
/// `sqlite://path/to/crm.db` (created if missing), `sqlite::memory:`.
pub async fn connect(url: &str) -> Result<Arc<dyn CrmStore>> {
    connect_with(url, StoreOptions::default()).await
}

/// Opens the store a URL names, with `options`.
pub async fn connect_with(url: &str, options: StoreOptions) -> Result<Arc<dyn CrmStore>> {
    let scheme = url
        .split(':')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    match scheme.as_str() {
        "mysql" | "mariadb" => Ok(Arc::new(MySqlStore::connect_with(url, options).await?)),
        "sqlite" => Ok(Arc::new(SqliteStore::connect_with(url, options).await?)),
        _ => Err(Error::invalid(
            "database_url",
            "scheme",
            format!(
                "unsupported database URL scheme {scheme:?}: use mysql://, mariadb:// or sqlite://"
            ),
        )),
    }
}

/// The README's Rust example, compiled and run as a doc test.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
