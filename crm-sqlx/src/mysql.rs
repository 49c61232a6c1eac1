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
    seal_ids(conn, &ids).await
}

/// `BEGIN` and the lock of `customer`'s account as one round trip: the
/// row and its next expiry go into session variables, which
/// [`LOCKED_COLUMNS`] read back with the transaction's next statement
/// (`@crm_locked` stays 0 without an account).
fn begin_locking(customer: crm_core::customer::CustomerId) -> Option<String> {
    Some(format!(
        "BEGIN;SET @crm_locked = 0;SELECT 1, balance, debt, lifetime_earned, {} \
         INTO @crm_locked, @crm_balance, @crm_debt, @crm_earned, @crm_next \
         FROM loyalty_accounts WHERE customer_id = {} FOR UPDATE",
        crate::ledger::NEXT_EXPIRY,
        customer.0
    ))
}

/// The account [`begin_locking`] read, as the lock read's columns (typed:
/// a session variable has no column type).
const LOCKED_COLUMNS: &str = "CAST(@crm_locked AS SIGNED) AS l_locked, \
     CAST(@crm_balance AS SIGNED) AS balance, CAST(@crm_debt AS SIGNED) AS debt, \
     CAST(@crm_earned AS SIGNED) AS lifetime_earned, CAST(@crm_next AS DATETIME(6)) AS next_expiry";

/// A DATETIME(6) literal of `at`.
fn ts_literal(at: DateTime<Utc>) -> impl std::fmt::Display {
    at.format("'%Y-%m-%d %H:%M:%S%.6f'")
}

/// Appends `s` as a string literal that nothing in it can end or escape:
/// its bytes in hex, read as utf8mb4 (`_utf8mb4 X'…'`).
fn push_text(sql: &mut String, s: &str) {
    use std::fmt::Write as _;
    sql.push_str("_utf8mb4 X'");
    for b in s.bytes() {
        let _ = write!(sql, "{b:02X}");
    }
    sql.push('\'');
}

/// Writes a ledger transaction holds back: rows it never reads back before
/// it commits (lots, audit records, outbox events), kept as text (numbers,
/// timestamps and [`push_text`] literals) and sent with a later statement
/// instead of one round trip each. Lots and audit records go out before the
/// transaction's next statement or in its commit batch, so every statement
/// still sees every earlier write; outbox events go in the commit batch,
/// numbered as they are inserted (see [`final_writes`]). An earn's lot,
/// audit row and event then cost no round trip of their own. A held-back
/// write that fails fails the statement it went with, and the transaction
/// rolls back.
#[derive(Debug, Default)]
struct Deferred {
    /// Statements, each ending in `;`, to send before the next one.
    sql: String,
    /// Outbox rows as `(event_type, customer_id, payload, created_at, tx_token, `,
    /// awaiting their `seq` and the closing parenthesis.
    events: Vec<String>,
}

impl Deferred {
    /// Holds back the insert of `lot` (true: held back).
    fn lot(&mut self, lot: &crm_core::loyalty::Lot) -> bool {
        use std::fmt::Write as _;
        let _ = write!(
            self.sql,
            "INSERT INTO loyalty_lots (customer_id, entry_id, points, remaining, earned_at, expires_at) \
             VALUES ({}, {}, {}, {}, {}, ",
            lot.customer_id.0,
            lot.entry_id,
            lot.points,
            lot.remaining,
            ts_literal(lot.earned_at)
        );
        match lot.expires_at {
            Some(at) => {
                let _ = write!(self.sql, "{});", ts_literal(at));
            }
            None => self.sql.push_str("NULL);"),
        }
        true
    }

    /// Holds back the insert of an outbox event (true: held back).
    fn event(&mut self, event: &crm_core::events::EventPayload<'_>, now: DateTime<Utc>) -> bool {
        use std::fmt::Write as _;
        let mut row = String::from("(");
        push_text(&mut row, event.event_type().as_str());
        let _ = write!(row, ", {}, ", event.customer_id().0);
        push_text(&mut row, &event.to_json().to_string());
        let _ = write!(row, ", {}, {EVENT_TOKEN}, ", ts_literal(now));
        self.events.push(row);
        true
    }

    /// Holds back the insert of an audit record (true: held back).
    fn audit(&mut self, record: &crm_core::audit::AuditRecord, now: DateTime<Utc>) -> bool {
        use std::fmt::Write as _;
        let _ = write!(
            self.sql,
            "INSERT INTO audit_log (created_at, actor, role, action, customer_id, detail) VALUES ({}, ",
            ts_literal(now)
        );
        match &record.actor {
            Some(actor) => push_text(&mut self.sql, actor),
            None => self.sql.push_str("NULL"),
        }
        self.sql.push_str(", ");
        match record.role {
            Some(role) => push_text(&mut self.sql, role.as_str()),
            None => self.sql.push_str("NULL"),
        }
        self.sql.push_str(", ");
        push_text(&mut self.sql, &record.action);
        match record.customer_id {
            Some(c) => {
                let _ = write!(self.sql, ", {}, ", c.0);
            }
            None => self.sql.push_str(", NULL, "),
        }
        push_text(&mut self.sql, &record.detail.to_string());
        self.sql.push_str(");");
        true
    }

    /// The held-back statements to send before the next one (events stay
    /// for the commit batch).
    fn take_statements(&mut self) -> String {
        std::mem::take(&mut self.sql)
    }
}

/// The writes a transaction keeps for its end, as one batch of statements:
/// the statements it held back ([`Deferred`]), the `accounts` it changed
/// (each as of its time), then the outbox: the sealing of the events it
/// inserted (`ids`, in insert order; see [`seal_events`]) and the insert of
/// the events it held back, numbered after those. The sequence row's lock
/// is taken last.
fn final_writes(
    accounts: &[(&crm_core::loyalty::LoyaltyAccount, DateTime<Utc>)],
    ids: &[i64],
    deferred: Deferred,
) -> String {
    use std::fmt::Write as _;
    let Deferred { mut sql, events } = deferred;
    for (a, at) in accounts {
        let _ = write!(
            sql,
            "UPDATE loyalty_accounts SET balance = {}, debt = {}, lifetime_earned = {}, \
             updated_at = {} WHERE customer_id = {};",
            a.balance,
            a.debt,
            a.lifetime_earned,
            ts_literal(*at),
            a.customer_id.0
        );
    }
    let n = ids.len() + events.len();
    if n > 0 {
        // `LAST_INSERT_ID()` is the last number taken; `@crm_seq` the one
        // before this transaction's first (an insert below moves
        // `LAST_INSERT_ID()`, not the variable).
        let _ = write!(
            sql,
            "UPDATE outbox_sequence SET seq = LAST_INSERT_ID(seq + {n}) WHERE id = 1;\
             SET @crm_seq = LAST_INSERT_ID() - {n};"
        );
        for (c, chunk) in ids.chunks(1_000).enumerate() {
            sql.push_str("UPDATE outbox_events SET seq = @crm_seq + CASE id");
            for (k, id) in chunk.iter().enumerate() {
                let _ = write!(sql, " WHEN {id} THEN {}", c * 1_000 + k + 1);
            }
            sql.push_str(" END WHERE id IN (");
            for (k, id) in chunk.iter().enumerate() {
                let _ = write!(sql, "{}{id}", if k == 0 { "" } else { ", " });
            }
            sql.push_str(");");
        }
        for (c, chunk) in events.chunks(1_000).enumerate() {
            sql.push_str(
                "INSERT INTO outbox_events (event_type, customer_id, payload, created_at, tx_token, seq) VALUES ",
            );
            for (k, row) in chunk.iter().enumerate() {
                let number = ids.len() + c * 1_000 + k + 1;
                let _ = write!(
                    sql,
                    "{}{row}@crm_seq + {number})",
                    if k == 0 { "" } else { ", " }
                );
            }
            sql.push(';');
        }
    }
    sql
}

/// The sealing of the events `ids` ([`final_writes`]) in one round trip.
async fn seal_ids(conn: &mut MySqlConnection, ids: &[i64]) -> crm_core::Result<()> {
    let sql = final_writes(&[], ids, Deferred::default());
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
    deferred: Deferred,
) -> crm_core::Result<()> {
    // A ledger transaction holds every event back (`Deferred::event`):
    // none was inserted before, so none is sealed by id.
    let mut sql = final_writes(accounts, &[], deferred);
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
