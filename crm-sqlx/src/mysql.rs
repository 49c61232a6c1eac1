//! MySQL 8 / MariaDB 10.11+ backend: the production target.
//!
//! Timestamps are `DATETIME(6)` holding UTC (the pool sets the session time
//! zone to `+00:00`), money `DECIMAL(15,2)`.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::migrate::Migrator;
use sqlx::mysql::{
    MySql, MySqlConnectOptions, MySqlConnection, MySqlPool, MySqlPoolOptions, MySqlQueryResult,
    MySqlRow,
};

use crate::StoreOptions;

type Db = MySql;
type DbRow = MySqlRow;
type TsCol = DateTime<Utc>;
type MoneyCol = Decimal;

fn ts(t: DateTime<Utc>) -> TsCol {
    t
}

fn from_ts(t: TsCol) -> crm_core::Result<DateTime<Utc>> {
    Ok(t)
}

fn money(d: Decimal) -> MoneyCol {
    d
}

fn from_money(d: MoneyCol) -> crm_core::Result<Decimal> {
    Ok(d)
}

fn last_insert_id(done: &MySqlQueryResult) -> i64 {
    i64::try_from(done.last_insert_id()).unwrap_or(i64::MAX)
}

/// Locking transactions are plain `BEGIN`; rows are locked with `FOR UPDATE`.
const BEGIN_LOCKED: Option<&str> = None;
const FOR_UPDATE: &str = " FOR UPDATE";
const INSERT_IGNORE: &str = "INSERT IGNORE";
/// Concurrent dispatchers claim different recipients instead of queueing.
const CLAIM_LOCK: &str = " FOR UPDATE SKIP LOCKED";
/// Stores a setting, replacing any value.
const UPSERT_SETTING: &str = "INSERT INTO app_settings (setting_key, setting_value) VALUES (?, ?) \
     ON DUPLICATE KEY UPDATE setting_value = VALUES(setting_value)";
/// Outbox events are read in commit order: `seq`, assigned by
/// [`seal_events`] just before commit (ids are taken at insert, so a later
/// id can commit first and a reader could pass over an event still to
/// commit).
const EVENT_ID: &str = "seq";
/// Marks the events of this transaction until they are sealed.
const EVENT_TOKEN: &str = "CONNECTION_ID()";
/// A customer row's tags as a JSON array of strings (NULL without tags),
/// so a customer and its tags are one query. As text: MySQL types the
/// aggregate `JSON`, MariaDB `LONGTEXT`.
const TAGS_JSON: &str = "(SELECT CAST(JSON_ARRAYAGG(tag) AS CHAR) FROM customer_tags \
     WHERE customer_tags.customer_id = customers.id)";
/// Active customers' emails and phones: the generated columns under the
/// unique indexes.
const ACTIVE_EMAIL_IN: &str = "active_email IN (";
const ACTIVE_PHONE_IN: &str = "active_phone IN (";

/// Gives this transaction's outbox events their commit sequence numbers:
/// the next numbers of the one `outbox_sequence` row, whose lock is the
/// last one the transaction takes and is held until it commits. A later
/// transaction therefore gets later numbers and can only commit after: the
/// numbers are gapless and in commit order, whatever the ids and
/// `auto_increment_increment` (Galera, Group Replication) do.
async fn seal_events(conn: &mut MySqlConnection) -> crm_core::Result<()> {
    use crate::error::db_err;
    // A plain read (no locks) sees this transaction's own rows; the writes
    // below go by primary key, so they lock only rows this transaction
    // already holds (a range lock here would deadlock with writers inserting
    // their events).
    let ids: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM outbox_events WHERE seq = 0 AND tx_token = CONNECTION_ID() ORDER BY id",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    finish_writes(conn, &[], &ids).await
}

/// The writes a transaction keeps for its end, as one batch of statements
/// (numbers only): the `accounts` it changed (each as of its time) and the
/// sealing of the outbox events it inserted (`ids`, in insert order; see
/// [`seal_events`]). The sequence row's lock is taken last.
fn final_writes(
    accounts: &[(&crm_core::loyalty::LoyaltyAccount, DateTime<Utc>)],
    ids: &[i64],
) -> String {
    use std::fmt::Write as _;
    let mut sql = String::new();
    for (a, at) in accounts {
        let _ = write!(
            sql,
            "UPDATE loyalty_accounts SET balance = {}, debt = {}, lifetime_earned = {}, \
             updated_at = '{}' WHERE customer_id = {};",
            a.balance,
            a.debt,
            a.lifetime_earned,
            at.format("%Y-%m-%d %H:%M:%S%.6f"),
            a.customer_id.0
        );
    }
    if !ids.is_empty() {
        let n = ids.len();
        let _ = write!(
            sql,
            "UPDATE outbox_sequence SET seq = LAST_INSERT_ID(seq + {n}) WHERE id = 1;"
        );
        // `LAST_INSERT_ID()` is now the last number taken: event k (from 1)
        // of this transaction gets `LAST_INSERT_ID() - n + k`.
        for (c, chunk) in ids.chunks(1_000).enumerate() {
            let _ = write!(
                sql,
                "UPDATE outbox_events SET seq = LAST_INSERT_ID() - {n} + CASE id"
            );
            for (k, id) in chunk.iter().enumerate() {
                let _ = write!(sql, " WHEN {id} THEN {}", c * 1_000 + k + 1);
            }
            sql.push_str(" END WHERE id IN (");
            for (k, id) in chunk.iter().enumerate() {
                let _ = write!(sql, "{}{id}", if k == 0 { "" } else { ", " });
            }
            sql.push_str(");");
        }
    }
    sql
}

/// [`final_writes`] in one round trip.
async fn finish_writes(
    conn: &mut MySqlConnection,
    accounts: &[(&crm_core::loyalty::LoyaltyAccount, DateTime<Utc>)],
    ids: &[i64],
) -> crm_core::Result<()> {
    let sql = final_writes(accounts, ids);
    if sql.is_empty() {
        return Ok(());
    }
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&mut *conn)
        .await
        .map_err(crate::error::db_err)?;
    Ok(())
}

/// Commits a ledger transaction with its [`final_writes`], all in one round
/// trip: the outbox sequence row, which every writer of events takes, is
/// locked for no longer than the server takes to run the batch, instead of
/// a round trip to the client and back. A statement that fails stops the
/// batch before `COMMIT`, and the transaction rolls back.
async fn commit_ledger(
    mut tx: sqlx::Transaction<'static, MySql>,
    accounts: &[(&crm_core::loyalty::LoyaltyAccount, DateTime<Utc>)],
    ids: &[i64],
) -> crm_core::Result<()> {
    let mut sql = final_writes(accounts, ids);
    sql.push_str("COMMIT");
    let done = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&mut *tx)
        .await
        .map_err(crate::error::db_err);
    // Committed (or failed) by the batch; sqlx still counts the transaction
    // open, and dropping it queues a `ROLLBACK` (a no-op after the COMMIT,
    // the rollback after a failure) that goes out with the connection's
    // next round trip, the pool's check when the connection returns.
    drop(tx);
    done.map(|_| ())
}

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/mysql");

/// The MySQL/MariaDB store.
#[derive(Debug, Clone)]
pub struct MySqlStore {
    pool: MySqlPool,
}

impl MySqlStore {
    /// MySQL locks rows; writers need no process-wide queue.
    async fn gate(&self) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        None
    }

    /// Connects with default [`StoreOptions`] (migrations applied).
    pub async fn connect(url: &str) -> crm_core::Result<Self> {
        Self::connect_with(url, StoreOptions::default()).await
    }

    /// Connects to `mysql://user:pass@host:port/database`.
    pub async fn connect_with(url: &str, options: StoreOptions) -> crm_core::Result<Self> {
        let url = url
            .strip_prefix("mariadb:")
            .map_or_else(|| url.to_string(), |rest| format!("mysql:{rest}"));
        let connect = MySqlConnectOptions::from_str(&url)
            .map_err(|e| {
                crm_core::Error::invalid("database_url", "url", format!("invalid MySQL URL: {e}"))
            })?
            .timezone(Some(String::from("+00:00")));
        let ping_after_idle = options.ping_after_idle;
        let pool = MySqlPoolOptions::new()
            // sqlx pings every connection it hands out by default: one more
            // round trip per request, as costly as a point select.
            .test_before_acquire(false)
            .before_acquire(move |conn, meta| {
                Box::pin(async move {
                    if meta.idle_for > ping_after_idle {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
            .max_connections(options.max_connections.max(1))
            .min_connections(options.min_connections)
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect)
            .await
            .map_err(|e| crate::error::connect_err("cannot connect to MySQL", e))?;
        Self { pool }.finish_connect(&options).await
    }
}

impl_customer_store!(MySqlStore, "mysql", MySqlPool);
impl_ledger_store!(MySqlStore);
impl_user_store!(MySqlStore);
impl_comms_store!(MySqlStore);

/// Creates an empty database on the server of `server_url` (any database
/// path in the URL is ignored for the connection). Used by test harnesses and
/// bulk loaders that want a scratch database.
pub async fn create_database(server_url: &str, name: &str) -> crm_core::Result<()> {
    admin(
        server_url,
        &format!(
            "CREATE DATABASE `{}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
            checked_name(name)?
        ),
    )
    .await
}

/// Creates the database unless it exists (same character set as
/// [`create_database`]); for loaders that fill a named database.
pub async fn create_database_if_missing(server_url: &str, name: &str) -> crm_core::Result<()> {
    admin(
        server_url,
        &format!(
            "CREATE DATABASE IF NOT EXISTS `{}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
            checked_name(name)?
        ),
    )
    .await
}

/// Drops a database if it exists.
pub async fn drop_database(server_url: &str, name: &str) -> crm_core::Result<()> {
    admin(
        server_url,
        &format!("DROP DATABASE IF EXISTS `{}`", checked_name(name)?),
    )
    .await
}

/// `server_url` with its database path replaced by `name`.
pub fn database_url(server_url: &str, name: &str) -> crm_core::Result<String> {
    let name = checked_name(name)?;
    let (base, query) = server_url
        .split_once('?')
        .map_or((server_url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut url = format!("{}/{name}", &base[..host_end]);
    if let Some(q) = query {
        url.push('?');
        url.push_str(q);
    }
    Ok(url)
}

fn checked_name(name: &str) -> crm_core::Result<&str> {
    if !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        Ok(name)
    } else {
        Err(crm_core::Error::invalid(
            "database",
            "name",
            "database names are 1-64 letters, digits or _",
        ))
    }
}

async fn admin(server_url: &str, sql: &str) -> crm_core::Result<()> {
    use sqlx::Connection;
    let url = server_url
        .strip_prefix("mariadb:")
        .map_or_else(|| server_url.to_string(), |rest| format!("mysql:{rest}"));
    let options = MySqlConnectOptions::from_str(&url)
        .map_err(|e| {
            crm_core::Error::invalid("database_url", "url", format!("invalid MySQL URL: {e}"))
        })?
        .database("");
    let mut conn = sqlx::MySqlConnection::connect_with(&options)
        .await
        .map_err(|e| crate::error::connect_err("cannot connect to MySQL", e))?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(&mut conn)
        .await
        .map_err(db_err)?;
    let _ = conn.close().await;
    Ok(())
}
