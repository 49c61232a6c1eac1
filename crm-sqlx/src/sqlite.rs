//! SQLite backend: the embedded, zero-setup default.
//!
//! Timestamps are INTEGER microseconds since the Unix epoch (UTC): exact and
//! ordered. Money is TEXT holding the exact decimal. The database runs in WAL
//! mode with a busy timeout, so readers never block the writer and concurrent
//! writers queue instead of failing.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    Sqlite, SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool,
    SqlitePoolOptions, SqliteQueryResult, SqliteRow, SqliteSynchronous,
};

use crate::StoreOptions;

type Db = Sqlite;
type DbRow = SqliteRow;
type TsCol = i64;
type MoneyCol = String;

fn ts(t: DateTime<Utc>) -> TsCol {
    t.timestamp_micros()
}

fn from_ts(t: TsCol) -> crm_core::Result<DateTime<Utc>> {
    DateTime::from_timestamp_micros(t).ok_or_else(|| crate::error::corrupt("timestamp", t))
}

fn money(d: Decimal) -> MoneyCol {
    d.to_string()
}

fn from_money(s: MoneyCol) -> crm_core::Result<Decimal> {
    Decimal::from_str(&s).map_err(|e| crate::error::corrupt("decimal", e))
}

fn last_insert_id(done: &SqliteQueryResult) -> i64 {
    done.last_insert_rowid()
}

/// A locking transaction takes the write lock up front (no read-to-write
/// upgrade that could fail with SQLITE_BUSY); SQLite has no row locks.
const BEGIN_LOCKED: Option<&str> = Some("BEGIN IMMEDIATE");
const FOR_UPDATE: &str = "";
const INSERT_IGNORE: &str = "INSERT OR IGNORE";
/// One writer at a time (`BEGIN IMMEDIATE`): claims need no row locks.
const CLAIM_LOCK: &str = "";
/// Stores a setting, replacing any value.
const UPSERT_SETTING: &str = "INSERT INTO app_settings (setting_key, setting_value) VALUES (?, ?) \
     ON CONFLICT (setting_key) DO UPDATE SET setting_value = excluded.setting_value";
/// One writer at a time: ids are in commit order already.
const EVENT_ID: &str = "id";
/// Active customers holding these emails or phones. The `+` keeps
/// SQLite's planner (which has no statistics, and plans a prepared
/// statement without its values) off the `is_active` index: without it a
/// lookup of 500 emails walked every active customer (164 ms at 270,000
/// customers, against 3.7 ms by the email index).
const ACTIVE_EMAIL_IN: &str = "+is_active = 1 AND email IN (";
const ACTIVE_PHONE_IN: &str = "+is_active = 1 AND phone IN (";
/// No marking needed (see [`seal_events`]).
const EVENT_TOKEN: &str = "NULL";
/// A customer row's tags as a JSON array of strings (`[]` without tags),
/// so a customer and its tags are one query.
const TAGS_JSON: &str = "(SELECT json_group_array(tag) FROM customer_tags WHERE customer_tags.customer_id = customers.id)";

/// SQLite commits one writer at a time, so outbox ids are already in commit
/// order: nothing to seal.
async fn seal_events(_conn: &mut SqliteConnection) -> crm_core::Result<()> {
    Ok(())
}

/// `BEGIN IMMEDIATE` already keeps every other writer out: no account is
/// locked with it.
fn begin_locking(_customer: crm_core::customer::CustomerId) -> Option<String> {
    None
}

/// Never read: no account is locked with `BEGIN` (see [`begin_locking`]).
const LOCKED_COLUMNS: &str = "0 AS l_locked";

/// A ledger transaction on SQLite writes every row when asked: the database
/// is in the process, so a statement costs no round trip to save.
#[derive(Debug, Default)]
struct Deferred;

impl Deferred {
    /// Never holds a lot back.
    fn lot(&mut self, _lot: &crm_core::loyalty::Lot) -> bool {
        false
    }

    /// Never holds an event back.
    fn event(&mut self, _event: &crm_core::events::EventPayload<'_>, _now: DateTime<Utc>) -> bool {
        false
    }

    /// Never holds an audit record back.
    fn audit(&mut self, _record: &crm_core::audit::AuditRecord, _now: DateTime<Utc>) -> bool {
        false
    }

    /// Nothing is held back.
    fn take_statements(&mut self) -> String {
        String::new()
    }
}

/// Commits a ledger transaction with the writes it kept for its end: the
/// `accounts` it changed (each as of its time); no events to seal (see
/// [`seal_events`]) and nothing held back ([`Deferred`]).
async fn commit_ledger(
    mut tx: sqlx::Transaction<'static, Sqlite>,
    accounts: &[(&crm_core::loyalty::LoyaltyAccount, DateTime<Utc>)],
    _deferred: Deferred,
) -> crm_core::Result<()> {
    use crate::error::db_err;
    for (a, at) in accounts {
        sqlx::query("UPDATE loyalty_accounts SET balance = ?, debt = ?, lifetime_earned = ?, updated_at = ? WHERE customer_id = ?")
            .bind(a.balance)
            .bind(a.debt)
            .bind(a.lifetime_earned)
            .bind(ts(*at))
            .bind(a.customer_id.0)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
    }
    tx.commit().await.map_err(db_err)
}

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// The SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// SQLite has one writer at a time. Writers of this process queue here,
    /// first come first served, instead of polling the database lock through
    /// the busy handler, which is unfair and can starve a writer under load.
    writers: std::sync::Arc<tokio::sync::Mutex<()>>,
}

impl SqliteStore {
    async fn gate(&self) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        Some(self.writers.clone().lock_owned().await)
    }
}

impl SqliteStore {
    /// Opens (creating if missing) with default [`StoreOptions`].
    pub async fn connect(url: &str) -> crm_core::Result<Self> {
        Self::connect_with(url, StoreOptions::default()).await
    }

    /// Opens `sqlite://path/to/file.db` (created if missing) or `sqlite::memory:`.
    pub async fn connect_with(url: &str, options: StoreOptions) -> crm_core::Result<Self> {
        let connect = SqliteConnectOptions::from_str(url)
            .map_err(|e| {
                crm_core::Error::invalid("database_url", "url", format!("invalid SQLite URL: {e}"))
            })?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        // Each connection to `:memory:` would open its own empty database.
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        if !in_memory {
            create_private(connect.get_filename())?;
        }
        let max = if in_memory {
            1
        } else {
            options.max_connections.max(1)
        };
        // No ping when a connection is taken from the pool: sqlx already
        // pings every connection when it is given back, and an embedded
        // database has no network link to lose while it is idle. The ping
        // was a round trip to the connection's worker thread on every
        // acquire (a tenth of the time of a small ledger transaction).
        let pool = SqlitePoolOptions::new()
            .test_before_acquire(false)
            .max_connections(max)
            .min_connections(options.min_connections.min(max))
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect)
            .await
            .map_err(|e| crm_core::Error::storage("cannot open SQLite database", e))?;
        Self {
            pool,
            writers: Default::default(),
        }
        .finish_connect(&options)
        .await
    }
}

/// Creates a missing database file readable and writable by its owner only
/// (mode 0600): it holds customers' personal data. SQLite gives its `-wal`
/// and `-shm` files the database file's permissions. An existing file is
/// left as it is.
fn create_private(path: &std::path::Path) -> crm_core::Result<()> {
    if path.as_os_str().is_empty() || path.exists() {
        return Ok(());
    }
    let mut open = std::fs::OpenOptions::new();
    open.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
    match open.open(path) {
        Ok(_) => Ok(()),
        // Another process created it meanwhile.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(crm_core::Error::storage(
            "cannot create the SQLite database file",
            e,
        )),
    }
}

/// The file of a `sqlite://` URL, `None` for an in-memory database or
/// another scheme.
pub fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    if !url.to_ascii_lowercase().starts_with("sqlite:")
        || url.contains(":memory:")
        || url.contains("mode=memory")
    {
        return None;
    }
    let options = SqliteConnectOptions::from_str(url).ok()?;
    let path = options.get_filename();
    (!path.as_os_str().is_empty()).then(|| path.to_path_buf())
}

impl_customer_store!(SqliteStore, "sqlite", SqlitePool);
impl_ledger_store!(SqliteStore);
impl_user_store!(SqliteStore);
impl_comms_store!(SqliteStore);
