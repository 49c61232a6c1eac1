//! Mapping of sqlx and vendor errors to crm-core's error kinds.

use crm_core::Error;

/// Wraps any database error as a storage error.
pub(crate) fn db_err(e: sqlx::Error) -> Error {
    match e {
        sqlx::Error::PoolTimedOut => {
            Error::storage("timed out waiting for a database connection", e)
        }
        other => Error::storage("database error", other),
    }
}

/// Which uniqueness rule a failed write broke, if any: `email`, `phone` or
/// `customer_code`.
///
/// MySQL and MariaDB say `Duplicate entry 'v' for key '[customers.]uq_customer_active_email'`
/// (error 1062); SQLite says `UNIQUE constraint failed: customers.email`
/// (extended code 2067). Only the part naming the key is inspected, never the
/// duplicated value.
pub(crate) fn unique_violation(e: &sqlx::Error) -> Option<&'static str> {
    let sqlx::Error::Database(db) = e else {
        return None;
    };
    if !db.is_unique_violation() {
        return None;
    }
    let msg = db.message();
    let key = msg
        .rsplit_once("for key")
        .or_else(|| msg.rsplit_once("failed:"))
        .map_or(msg, |(_, key)| key);
    if key.contains("email") {
        Some("email")
    } else if key.contains("phone") {
        Some("phone")
    } else if key.contains("code") {
        Some("customer_code")
    } else {
        None
    }
}

/// A stored value that does not decode into the domain type.
pub(crate) fn corrupt(what: &str, detail: impl std::fmt::Display) -> Error {
    Error::storage_msg(format!("stored {what} is invalid: {detail}"))
}

/// Whether a write failed on a unique key.
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}
