//! Mapping of sqlx and vendor errors to crm-core's error kinds.

use crm_core::Error;

/// Wraps any database error: [`Error::Unavailable`] when the database cannot
/// be reached right now (see [`unreachable`]), else a storage error.
pub(crate) fn db_err(e: sqlx::Error) -> Error {
    match unreachable(&e) {
        Some(why) => Error::unavailable(why, e),
        None => Error::storage("database error", e),
    }
}

/// A failure to open a store or a connection, named by `what`:
/// [`Error::Unavailable`] when the server cannot be reached, else a storage
/// error.
pub(crate) fn connect_err(what: &str, e: sqlx::Error) -> Error {
    match unreachable(&e) {
        Some(why) => Error::unavailable(format!("{what}: {why}"), e),
        None => Error::storage(what.to_string(), e),
    }
}

/// Why `e` means the database cannot be reached right now, if it does: no
/// connection came free within the pool's acquire timeout (the server
/// refuses connections, or every connection is busy), a connection broke
/// (the server went away mid-query), or the server refused the work because
/// it is shutting down, killed the connection, or has no connection left.
/// Such failures pass when the server is back: they are answered as
/// `unavailable` (503), not as internal errors.
fn unreachable(e: &sqlx::Error) -> Option<&'static str> {
    match e {
        sqlx::Error::PoolTimedOut => Some("no database connection within the acquire timeout"),
        sqlx::Error::Io(_) => Some("the connection to the database failed"),
        sqlx::Error::Database(db) => {
            let mysql = db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()?;
            match mysql.number() {
                // ER_CON_COUNT_ERROR: too many connections.
                1040 => Some("the database has no free connection"),
                // ER_SERVER_SHUTDOWN, ER_CONNECTION_KILLED (MariaDB).
                1053 | 1927 => Some("the database is shutting down"),
                _ => None,
            }
        }
        _ => None,
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

/// Whether `e` is a transaction that lost a lock conflict and can simply
/// run again: a MySQL deadlock (1213) or lock wait timeout (1205), SQLite
/// busy or locked.
pub(crate) fn is_lock_conflict(e: &Error) -> bool {
    let Some(sqlx::Error::Database(db)) =
        std::error::Error::source(e).and_then(|s| s.downcast_ref::<sqlx::Error>())
    else {
        return false;
    };
    if let Some(mysql) = db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
        return matches!(mysql.number(), 1205 | 1213);
    }
    // SQLITE_BUSY, SQLITE_LOCKED and their extended codes.
    matches!(
        db.code().as_deref(),
        Some("5" | "6" | "261" | "262" | "517")
    )
}

/// Runs `op` again, up to 5 more times after a short pause, while it fails
/// on a lock conflict ([`is_lock_conflict`]); each run is one transaction.
pub(crate) async fn retry_conflicts<T, F, Fut>(mut op: F) -> crm_core::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = crm_core::Result<T>>,
{
    let mut attempt = 0u64;
    loop {
        match op().await {
            Err(e) if attempt < 5 && is_lock_conflict(&e) => {
                attempt += 1;
                tokio::time::sleep(std::time::Duration::from_millis(5 * attempt)).await;
            }
            other => return other,
        }
    }
}

/// Whether a write failed on a foreign key (a row it refers to is missing).
pub(crate) fn is_foreign_key_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_foreign_key_violation())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crm_core::ErrorCode;

    #[test]
    fn an_unreachable_database_is_unavailable_and_other_failures_internal() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        for e in [sqlx::Error::PoolTimedOut, sqlx::Error::Io(refused)] {
            let err = db_err(e);
            assert_eq!(
                (err.code(), err.kind()),
                (ErrorCode::Unavailable, crm_core::ErrorKind::Storage),
                "{err}"
            );
        }
        // A pool closed on purpose and a bug are not outages.
        for e in [sqlx::Error::PoolClosed, sqlx::Error::RowNotFound] {
            assert_eq!(db_err(e).code(), ErrorCode::Internal);
        }
        let err = connect_err("cannot connect to MySQL", sqlx::Error::PoolTimedOut);
        assert_eq!(err.code(), ErrorCode::Unavailable);
        assert!(err.to_string().contains("cannot connect to MySQL"), "{err}");
    }
}
