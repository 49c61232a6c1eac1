//! The ledger store, written once for both engines (see `customers.rs` for
//! how the engine modules supply their few differences). Each engine also
//! defines `BEGIN_LOCKED` (the statement that opens a locking transaction),
//! `FOR_UPDATE` (the row-lock suffix, empty on SQLite, whose `BEGIN
//! IMMEDIATE` already serialises writers), `INSERT_IGNORE`, `Deferred` (the
//! writes a transaction may hold back for a later round trip),
//! `begin_locking` (`BEGIN` and the lock of one account as one round trip,
//! where the engine can) and `LOCKED_COLUMNS` (the columns that read the
//! account that lock read back).

/// Columns of `loyalty_transactions`, in `entry_from_row` order.
pub(crate) const ENTRY_COLUMNS: &str = "id, customer_id, transaction_type, points, balance_after, \
     reference_type, reference_id, transaction_date, created_at";
pub(crate) const LOT_COLUMNS: &str =
    "id, customer_id, entry_id, points, remaining, earned_at, expires_at";
pub(crate) const PURCHASE_COLUMNS: &str = "id, customer_id, store_id, receipt_id, purchase_date, \
     total_amount, refunded_amount, currency, created_at";

/// The soonest expiry among the open lots of the `loyalty_accounts` row
/// read (a plain read: a locking clause does not reach into a subquery).
/// The lock of an account reads it with the row, saving two reads later.
pub(crate) const NEXT_EXPIRY: &str = "(SELECT MIN(expires_at) FROM loyalty_lots \
     WHERE loyalty_lots.customer_id = loyalty_accounts.customer_id AND remaining > 0)";

/// Ids or receipts per `IN (...)` list of a bulk lookup.
pub(crate) const LOOKUP_CHUNK: usize = 1_024;

/// Rows per multi-row `INSERT` of a purchase import: 8 parameters a row, so
/// 8,000 per statement, below SQLite's 32,766 and MySQL's 65,535, and about
/// 100 KB of packet, far below MySQL's default `max_allowed_packet`.
pub(crate) const PURCHASE_INSERT_CHUNK: usize = 1_000;

/// Rows per multi-row `REPLACE` of customer segments (6 parameters a row).
pub(crate) const SEGMENT_INSERT_CHUNK: usize = 1_000;

/// Generates the ledger store for an engine.
macro_rules! impl_ledger_store {
    ($store:ident) => {
        mod ledger_impl {
            use super::*;
            use crm_core::customer::{Customer, CustomerId};
            use crm_core::loyalty::{
                EntryType, LedgerEntry, Lot, LoyaltyAccount, OutboxEvent, Purchase, Refund, Refusal,
            };
            use crm_core::store::{CustomerState, KeyCheck, LedgerStore, LedgerTx, PurchaseCursor};
            use crm_core::{Error, Result};
            use rust_decimal::Decimal;
            use sqlx::{QueryBuilder, Row};
            use $crate::error::{corrupt, db_err, is_unique_violation};
            use $crate::ledger::*;
            use $crate::shapes::{padded, shaped_chunks};

            fn entry_from_row(row: &DbRow) -> Result<LedgerEntry> {
                let kind: String = row.try_get("transaction_type").map_err(db_err)?;
                Ok(LedgerEntry {
                    id: row.try_get("id").map_err(db_err)?,
                    customer_id: CustomerId(row.try_get("customer_id").map_err(db_err)?),
                    entry_type: EntryType::parse(&kind).ok_or_else(|| corrupt("transaction_type", &kind))?,
                    points: row.try_get("points").map_err(db_err)?,
                    balance_after: row.try_get("balance_after").map_err(db_err)?,
                    reference_type: row.try_get("reference_type").map_err(db_err)?,
                    reference_id: row.try_get("reference_id").map_err(db_err)?,
                    occurred_at: from_ts(row.try_get::<TsCol, _>("transaction_date").map_err(db_err)?)?,
                    created_at: from_ts(row.try_get::<TsCol, _>("created_at").map_err(db_err)?)?,
                })
            }

            fn lot_from_row(row: &DbRow) -> Result<Lot> {
                let expires: Option<TsCol> = row.try_get("expires_at").map_err(db_err)?;
                Ok(Lot {
                    id: row.try_get("id").map_err(db_err)?,
                    customer_id: CustomerId(row.try_get("customer_id").map_err(db_err)?),
                    entry_id: row.try_get("entry_id").map_err(db_err)?,
                    points: row.try_get("points").map_err(db_err)?,
                    remaining: row.try_get("remaining").map_err(db_err)?,
                    earned_at: from_ts(row.try_get::<TsCol, _>("earned_at").map_err(db_err)?)?,
                    expires_at: expires.map(from_ts).transpose()?,
                })
            }

            pub(super) fn purchase_from_row(row: &DbRow) -> Result<Purchase> {
                Ok(Purchase {
                    id: row.try_get("id").map_err(db_err)?,
                    customer_id: CustomerId(row.try_get("customer_id").map_err(db_err)?),
                    store_id: row.try_get("store_id").map_err(db_err)?,
                    receipt_id: row.try_get("receipt_id").map_err(db_err)?,
                    purchase_date: from_ts(row.try_get::<TsCol, _>("purchase_date").map_err(db_err)?)?,
                    total_amount: from_money(row.try_get::<MoneyCol, _>("total_amount").map_err(db_err)?)?,
                    refunded_amount: from_money(row.try_get::<MoneyCol, _>("refunded_amount").map_err(db_err)?)?,
                    currency: row.try_get("currency").map_err(db_err)?,
                    created_at: from_ts(row.try_get::<TsCol, _>("created_at").map_err(db_err)?)?,
                })
            }

            fn event_from_row(row: &DbRow) -> Result<OutboxEvent> {
                let payload: String = row.try_get("payload").map_err(db_err)?;
                Ok(OutboxEvent {
                    id: row.try_get("id").map_err(db_err)?,
                    event_type: row.try_get("event_type").map_err(db_err)?,
                    customer_id: CustomerId(row.try_get("customer_id").map_err(db_err)?),
                    payload: serde_json::from_str(&payload).map_err(|e| corrupt("event payload", e))?,
                    created_at: from_ts(row.try_get::<TsCol, _>("created_at").map_err(db_err)?)?,
                })
            }

            /// A ledger transaction on this engine.
            pub(crate) struct SqlLedgerTx {
                tx: sqlx::Transaction<'static, Db>,
                // Held until commit or rollback (SQLite's writer queue).
                _gate: Option<tokio::sync::OwnedMutexGuard<()>>,
                // The accounts this transaction locked, as the lock read them
                // and as this transaction changed them: `account` and
                // `due_lots` answer from here instead of asking again.
                locked: Vec<Locked>,
                // Writes held back until the next statement or the commit.
                deferred: Deferred,
                // The account whose lock went out with `BEGIN`, its row
                // still in session variables (see `begin_ledger`).
                pending_lock: Option<CustomerId>,
            }

            /// A locked account as the lock statement read it.
            struct Locked {
                account: LoyaltyAccount,
                /// The soonest expiry among the customer's open lots
                /// (`None`: none expires), lowered by lots this transaction
                /// inserts. Lots it empties may leave it too early, which
                /// only costs a read.
                next_expiry: Option<chrono::DateTime<chrono::Utc>>,
                /// Cleared when points go back into a lot whose expiry this
                /// transaction does not know (then `due_lots` asks).
                expiry_known: bool,
                /// When this transaction last changed the account: the row
                /// is written at commit, with the outbox sealing (one round
                /// trip for both), as nothing reads it before.
                saved_at: Option<chrono::DateTime<chrono::Utc>>,
            }

            /// A locked account from the lock read's row (`balance`, `debt`,
            /// `lifetime_earned`, `next_expiry`).
            fn locked_from_row(customer: CustomerId, row: &DbRow) -> Result<Locked> {
                let next: Option<TsCol> = row.try_get("next_expiry").map_err(db_err)?;
                Ok(Locked {
                    account: LoyaltyAccount {
                        customer_id: customer,
                        balance: row.try_get("balance").map_err(db_err)?,
                        debt: row.try_get("debt").map_err(db_err)?,
                        lifetime_earned: row.try_get("lifetime_earned").map_err(db_err)?,
                    },
                    next_expiry: next.map(from_ts).transpose()?,
                    expiry_known: true,
                    saved_at: None,
                })
            }

            impl SqlLedgerTx {
                fn locked(&mut self, customer: CustomerId) -> Option<&mut Locked> {
                    self.locked.iter_mut().find(|l| l.account.customer_id == customer)
                }

                /// Reads the account row that `BEGIN` locked into session
                /// variables, unless already read.
                async fn settle(&mut self) -> Result<()> {
                    if self.pending_lock.is_none() {
                        return Ok(());
                    }
                    let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {LOCKED_COLUMNS}")))
                        .fetch_one(&mut *self.tx)
                        .await
                        .map_err(db_err)?;
                    self.take_lock(&row)
                }

                /// Keeps the locked account of `row` (its `LOCKED_COLUMNS`).
                fn take_lock(&mut self, row: &DbRow) -> Result<()> {
                    let Some(customer) = self.pending_lock.take() else {
                        return Ok(());
                    };
                    let found: Option<i64> = row.try_get("l_locked").map_err(db_err)?;
                    if found == Some(1) {
                        self.locked.push(locked_from_row(customer, row)?);
                    }
                    Ok(())
                }

                /// The connection, once the locked account is read and the
                /// writes held back so far have gone out: every statement
                /// sees every earlier write.
                async fn conn(&mut self) -> Result<&mut <Db as sqlx::Database>::Connection> {
                    self.settle().await?;
                    let held = self.deferred.take_statements();
                    if !held.is_empty() {
                        sqlx::raw_sql(sqlx::AssertSqlSafe(held))
                            .execute(&mut *self.tx)
                            .await
                            .map_err(db_err)?;
                    }
                    Ok(&mut *self.tx)
                }
            }

            #[async_trait::async_trait]
            impl LedgerTx for SqlLedgerTx {
                async fn account(&mut self, customer: CustomerId) -> Result<LoyaltyAccount> {
                    self.settle().await?;
                    if let Some(l) = self.locked(customer) {
                        return Ok(l.account.clone());
                    }
                    let sql = format!(
                        "SELECT customer_id, balance, debt, lifetime_earned FROM loyalty_accounts WHERE customer_id = ?{FOR_UPDATE}"
                    );
                    for _ in 0..2 {
                        let row = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                            .bind(customer.0)
                            .fetch_optional(self.conn().await?)
                            .await
                            .map_err(db_err)?;
                        if let Some(row) = row {
                            return Ok(LoyaltyAccount {
                                customer_id: customer,
                                balance: row.try_get("balance").map_err(db_err)?,
                                debt: row.try_get("debt").map_err(db_err)?,
                                lifetime_earned: row.try_get("lifetime_earned").map_err(db_err)?,
                            });
                        }
                        sqlx::query(sqlx::AssertSqlSafe(format!(
                            "{INSERT_IGNORE} INTO loyalty_accounts (customer_id) VALUES (?)"
                        )))
                        .bind(customer.0)
                        .execute(self.conn().await?)
                        .await
                        .map_err(|e| {
                            // The account refers to the customer: a missing
                            // customer fails the foreign key.
                            if $crate::error::is_foreign_key_violation(&e) {
                                Error::customer_not_found(customer.0)
                            } else {
                                db_err(e)
                            }
                        })?;
                    }
                    Err(Error::customer_not_found(customer))
                }

                async fn save_account(&mut self, a: &LoyaltyAccount, now: chrono::DateTime<chrono::Utc>) -> Result<()> {
                    // A locked account is read from `locked` only: its row
                    // is written at commit.
                    self.settle().await?;
                    if let Some(l) = self.locked(a.customer_id) {
                        l.account = a.clone();
                        l.saved_at = Some(now);
                        return Ok(());
                    }
                    sqlx::query("UPDATE loyalty_accounts SET balance = ?, debt = ?, lifetime_earned = ?, updated_at = ? WHERE customer_id = ?")
                        .bind(a.balance)
                        .bind(a.debt)
                        .bind(a.lifetime_earned)
                        .bind(ts(now))
                        .bind(a.customer_id.0)
                        .execute(self.conn().await?)
                        .await
                        .map_err(db_err)?;
                    Ok(())
                }

                async fn key_check(&mut self, reference_type: &str, reference_id: &str, customer: CustomerId) -> Result<KeyCheck> {
                    // One statement: the customer's row, the entry under the
                    // key (left-joined), whether a refusal holds the key and,
                    // right after `BEGIN`, the account it locked.
                    let pending = self.pending_lock.is_some();
                    let sql = format!(
                        "SELECT c.id AS c_id, c.is_active AS c_active, c.merged_into AS c_merged, \
                         (SELECT r.id FROM loyalty_refusals r WHERE r.reference_type = ? AND r.reference_id = ?) AS refusal_id, \
                         e.*{}{} FROM customers c LEFT JOIN (SELECT {ENTRY_COLUMNS} FROM loyalty_transactions \
                         WHERE reference_type = ? AND reference_id = ?) e ON 1 = 1 WHERE c.id = ?",
                        if pending { ", " } else { "" },
                        if pending { LOCKED_COLUMNS } else { "" },
                    );
                    // Nothing is held back before the first statement.
                    let conn = if pending { &mut *self.tx } else { self.conn().await? };
                    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(reference_type.to_string())
                        .bind(reference_id.to_string())
                        .bind(reference_type.to_string())
                        .bind(reference_id.to_string())
                        .bind(customer.0)
                        .fetch_optional(conn)
                        .await
                        .map_err(db_err)?;
                    if let Some(row) = &row {
                        self.take_lock(row)?;
                    }
                    let Some(row) = row else {
                        // No such customer: the key decides alone.
                        return KeyCheck::by_key(self, reference_type, reference_id).await;
                    };
                    let entry_id: Option<i64> = row.try_get("id").map_err(db_err)?;
                    let entry = match entry_id {
                        Some(_) => Some(entry_from_row(&row)?),
                        None => None,
                    };
                    let refusal: Option<i64> = row.try_get("refusal_id").map_err(db_err)?;
                    let merged: Option<i64> = row.try_get("c_merged").map_err(db_err)?;
                    Ok(KeyCheck {
                        entry,
                        refused: refusal.is_some(),
                        customer: Some(CustomerState {
                            id: CustomerId(row.try_get("c_id").map_err(db_err)?),
                            is_active: row.try_get("c_active").map_err(db_err)?,
                            merged_into: merged.map(CustomerId),
                        }),
                    })
                }

                async fn entry_by_key(&mut self, reference_type: &str, reference_id: &str) -> Result<Option<LedgerEntry>> {
                    let sql = format!("SELECT {ENTRY_COLUMNS} FROM loyalty_transactions WHERE reference_type = ? AND reference_id = ?");
                    sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(reference_type.to_string())
                        .bind(reference_id.to_string())
                        .fetch_optional(self.conn().await?)
                        .await
                        .map_err(db_err)?
                        .map(|r| entry_from_row(&r))
                        .transpose()
                }

                async fn append_entry(&mut self, mut e: LedgerEntry) -> Result<LedgerEntry> {
                    let done = sqlx::query("INSERT INTO loyalty_transactions (customer_id, transaction_type, points, balance_after, reference_type, reference_id, transaction_date, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
                        .bind(e.customer_id.0)
                        .bind(e.entry_type.as_str())
                        .bind(e.points)
                        .bind(e.balance_after)
                        .bind(e.reference_type.clone())
                        .bind(e.reference_id.clone())
                        .bind(ts(e.occurred_at))
                        .bind(ts(e.created_at))
                        .execute(self.conn().await?)
                        .await
                        .map_err(|err| {
                            if is_unique_violation(&err) {
                                Error::conflict(crm_core::ConflictReason::ConcurrentChange, format!("reference {}/{} already used", e.reference_type, e.reference_id))
                            } else {
                                db_err(err)
                            }
                        })?;
                    e.id = last_insert_id(&done);
                    Ok(e)
                }

                async fn open_lots(&mut self, customer: CustomerId, limit: u32) -> Result<Vec<Lot>> {
                    let sql = format!(
                        "SELECT {LOT_COLUMNS} FROM loyalty_lots WHERE customer_id = ? AND remaining > 0 \
                         ORDER BY expires_at IS NULL, expires_at, id LIMIT ?"
                    );
                    sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(customer.0)
                        .bind(i64::from(limit))
                        .fetch_all(self.conn().await?)
                        .await
                        .map_err(db_err)?
                        .iter()
                        .map(lot_from_row)
                        .collect()
                }

                async fn due_lots(&mut self, customer: CustomerId, now: chrono::DateTime<chrono::Utc>) -> Result<Vec<Lot>> {
                    self.settle().await?;
                    if let Some(l) = self.locked(customer)
                        && l.expiry_known
                        && l.next_expiry.is_none_or(|at| at > now)
                    {
                        return Ok(Vec::new());
                    }
                    let sql = format!(
                        "SELECT {LOT_COLUMNS} FROM loyalty_lots WHERE customer_id = ? AND expires_at <= ? AND remaining > 0 \
                         ORDER BY expires_at, id"
                    );
                    sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(customer.0)
                        .bind(ts(now))
                        .fetch_all(self.conn().await?)
                        .await
                        .map_err(db_err)?
                        .iter()
                        .map(lot_from_row)
                        .collect()
                }

                async fn due_points(&mut self, customer: CustomerId, now: chrono::DateTime<chrono::Utc>) -> Result<i64> {
                    let sum: Option<i64> = sqlx::query_scalar(
                        "SELECT CAST(SUM(remaining) AS SIGNED) FROM loyalty_lots WHERE customer_id = ? AND expires_at <= ? AND remaining > 0",
                    )
                    .bind(customer.0)
                    .bind(ts(now))
                    .fetch_one(self.conn().await?)
                    .await
                    .map_err(db_err)?;
                    Ok(sum.unwrap_or(0))
                }

                async fn lot(&mut self, id: i64) -> Result<Option<Lot>> {
                    let sql = format!("SELECT {LOT_COLUMNS} FROM loyalty_lots WHERE id = ?");
                    sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(id)
                        .fetch_optional(self.conn().await?)
                        .await
                        .map_err(db_err)?
                        .map(|r| lot_from_row(&r))
                        .transpose()
                }

                async fn insert_lot(&mut self, lot: Lot) -> Result<()> {
                    self.settle().await?;
                    if let (Some(l), Some(at), true) = (self.locked(lot.customer_id), lot.expires_at, lot.remaining > 0) {
                        l.next_expiry = Some(l.next_expiry.map_or(at, |next| next.min(at)));
                    }
                    if self.deferred.lot(&lot) {
                        return Ok(());
                    }
                    sqlx::query("INSERT INTO loyalty_lots (customer_id, entry_id, points, remaining, earned_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)")
                        .bind(lot.customer_id.0)
                        .bind(lot.entry_id)
                        .bind(lot.points)
                        .bind(lot.remaining)
                        .bind(ts(lot.earned_at))
                        .bind(lot.expires_at.map(ts))
                        .execute(self.conn().await?)
                        .await
                        .map_err(db_err)?;
                    Ok(())
                }

                async fn set_lot_remaining(&mut self, lot: i64, remaining: i64) -> Result<()> {
                    sqlx::query("UPDATE loyalty_lots SET remaining = ? WHERE id = ?")
                        .bind(remaining)
                        .bind(lot)
                        .execute(self.conn().await?)
                        .await
                        .map_err(db_err)?;
                    if remaining > 0 {
                        for l in &mut self.locked {
                            l.expiry_known = false;
                        }
                    }
                    Ok(())
                }

                async fn insert_allocations(&mut self, entry: i64, allocations: &[(i64, i64)]) -> Result<()> {
                    if allocations.is_empty() {
                        return Ok(());
                    }
                    let mut qb = QueryBuilder::<Db>::new("INSERT INTO loyalty_lot_allocations (entry_id, lot_id, points) ");
                    qb.push_values(allocations, |mut b, (lot, points)| {
                        b.push_bind(entry).push_bind(*lot).push_bind(*points);
                    });
                    qb.build().execute(self.conn().await?).await.map_err(db_err)?;
                    Ok(())
                }

                async fn allocations(&mut self, entry: i64) -> Result<Vec<(i64, i64)>> {
                    let rows = sqlx::query("SELECT lot_id, points FROM loyalty_lot_allocations WHERE entry_id = ? ORDER BY lot_id")
                        .bind(entry)
                        .fetch_all(self.conn().await?)
                        .await
                        .map_err(db_err)?;
                    rows.iter()
                        .map(|r| Ok((r.try_get("lot_id").map_err(db_err)?, r.try_get("points").map_err(db_err)?)))
                        .collect()
                }

                async fn earned_since(&mut self, customer: CustomerId, since: chrono::DateTime<chrono::Utc>) -> Result<i64> {
                    let sum: Option<i64> = sqlx::query_scalar(
                        "SELECT CAST(SUM(points) AS SIGNED) FROM loyalty_transactions WHERE customer_id = ? AND transaction_date >= ? \
                         AND (transaction_type = 'EARN' OR reference_type = 'refund_earn')",
                    )
                    .bind(customer.0)
                    .bind(ts(since))
                    .fetch_one(self.conn().await?)
                    .await
                    .map_err(db_err)?;
                    Ok(sum.unwrap_or(0))
                }

                async fn manual_points_since(&mut self, customer: CustomerId, since: chrono::DateTime<chrono::Utc>) -> Result<i64> {
                    let sum: Option<i64> = sqlx::query_scalar(
                        "SELECT CAST(SUM(points) AS SIGNED) FROM loyalty_transactions WHERE customer_id = ? AND transaction_date >= ? \
                         AND transaction_type IN ('EARN', 'ADJUST') AND points > 0 AND reference_type NOT IN ('purchase', 'merge_in')",
                    )
                    .bind(customer.0)
                    .bind(ts(since))
                    .fetch_one(self.conn().await?)
                    .await
                    .map_err(db_err)?;
                    Ok(sum.unwrap_or(0))
                }

                async fn ledger_sum(&mut self, customer: CustomerId) -> Result<i64> {
                    let sum: Option<i64> = sqlx::query_scalar("SELECT CAST(SUM(points) AS SIGNED) FROM loyalty_transactions WHERE customer_id = ?")
                        .bind(customer.0)
                        .fetch_one(self.conn().await?)
                        .await
                        .map_err(db_err)?;
                    Ok(sum.unwrap_or(0))
                }

                async fn recent_entries(&mut self, customer: CustomerId, limit: u32) -> Result<Vec<LedgerEntry>> {
                    let sql = format!("SELECT {ENTRY_COLUMNS} FROM loyalty_transactions WHERE customer_id = ? ORDER BY id DESC LIMIT ?");
                    sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(customer.0)
                        .bind(i64::from(limit))
                        .fetch_all(self.conn().await?)
                        .await
                        .map_err(db_err)?
                        .iter()
                        .map(entry_from_row)
                        .collect()
                }

                async fn customer(&mut self, id: CustomerId) -> Result<Option<Customer>> {
                    fetch_customer(self.conn().await?, id).await
                }

                async fn purchase_by_receipt(&mut self, store_id: &str, receipt_id: &str) -> Result<Option<Purchase>> {
                    let sql = format!("SELECT {PURCHASE_COLUMNS} FROM customer_purchase_history WHERE store_id = ? AND receipt_id = ?");
                    sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(store_id.to_string())
                        .bind(receipt_id.to_string())
                        .fetch_optional(self.conn().await?)
                        .await
                        .map_err(db_err)?
                        .map(|r| purchase_from_row(&r))
                        .transpose()
                }

                async fn insert_purchase(&mut self, mut p: Purchase) -> Result<Purchase> {
                    let done = sqlx::query("INSERT INTO customer_purchase_history (customer_id, store_id, receipt_id, purchase_date, total_amount, refunded_amount, currency, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
                        .bind(p.customer_id.0)
                        .bind(p.store_id.clone())
                        .bind(p.receipt_id.clone())
                        .bind(ts(p.purchase_date))
                        .bind(money(p.total_amount))
                        .bind(money(p.refunded_amount))
                        .bind(p.currency.clone())
                        .bind(ts(p.created_at))
                        .execute(self.conn().await?)
                        .await
                        .map_err(|err| {
                            if is_unique_violation(&err) {
                                Error::conflict(crm_core::ConflictReason::ConcurrentChange, format!("receipt {}/{} was recorded concurrently; retry to get its result", p.store_id, p.receipt_id))
                            } else {
                                db_err(err)
                            }
                        })?;
                    p.id = last_insert_id(&done);
                    Ok(p)
                }

                async fn merge_links(
                    &mut self,
                    ids: &[CustomerId],
                ) -> Result<std::collections::HashMap<CustomerId, Option<CustomerId>>> {
                    let mut out = std::collections::HashMap::with_capacity(ids.len());
                    for chunk in ids.chunks(LOOKUP_CHUNK) {
                        let mut qb = QueryBuilder::<Db>::new("SELECT id, merged_into FROM customers WHERE id IN (");
                        let mut sep = qb.separated(", ");
                        for id in padded(chunk, LOOKUP_CHUNK) {
                            sep.push_bind(id.0);
                        }
                        qb.push(")");
                        for row in qb.build().fetch_all(self.conn().await?).await.map_err(db_err)? {
                            let id: i64 = row.try_get("id").map_err(db_err)?;
                            let into: Option<i64> = row.try_get("merged_into").map_err(db_err)?;
                            out.insert(CustomerId(id), into.map(CustomerId));
                        }
                    }
                    Ok(out)
                }

                async fn purchases_by_receipts(&mut self, keys: &[(String, String)]) -> Result<Vec<Purchase>> {
                    // One query per store and chunk: `store_id = ? AND receipt_id IN (...)`
                    // walks the unique (store_id, receipt_id) index on both engines.
                    let mut by_store: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
                    for (store, receipt) in keys {
                        by_store.entry(store.as_str()).or_default().push(receipt.as_str());
                    }
                    let mut out = Vec::new();
                    for (store, receipts) in by_store {
                        for chunk in receipts.chunks(LOOKUP_CHUNK) {
                            let mut qb = QueryBuilder::<Db>::new(format!(
                                "SELECT {PURCHASE_COLUMNS} FROM customer_purchase_history WHERE store_id = "
                            ));
                            qb.push_bind(store.to_string()).push(" AND receipt_id IN (");
                            let mut sep = qb.separated(", ");
                            for r in padded(chunk, LOOKUP_CHUNK) {
                                sep.push_bind(r.to_string());
                            }
                            qb.push(")");
                            for row in qb.build().fetch_all(self.conn().await?).await.map_err(db_err)? {
                                out.push(purchase_from_row(&row)?);
                            }
                        }
                    }
                    Ok(out)
                }

                async fn insert_purchases(&mut self, purchases: Vec<Purchase>) -> Result<u64> {
                    let mut inserted = 0;
                    for chunk in shaped_chunks(&purchases, PURCHASE_INSERT_CHUNK) {
                        let mut qb = QueryBuilder::<Db>::new(
                            "INSERT INTO customer_purchase_history (customer_id, store_id, receipt_id, \
                             purchase_date, total_amount, refunded_amount, currency, created_at) ",
                        );
                        qb.push_values(chunk, |mut b, p| {
                            b.push_bind(p.customer_id.0)
                                .push_bind(p.store_id.clone())
                                .push_bind(p.receipt_id.clone())
                                .push_bind(ts(p.purchase_date))
                                .push_bind(money(p.total_amount))
                                .push_bind(money(p.refunded_amount))
                                .push_bind(p.currency.clone())
                                .push_bind(ts(p.created_at));
                        });
                        let done = qb.build().execute(self.conn().await?).await.map_err(|err| {
                            if is_unique_violation(&err) {
                                Error::conflict(crm_core::ConflictReason::ConcurrentChange, "a receipt of the import was recorded concurrently; \
                                              run the import again (stored receipts are skipped)")
                            } else {
                                db_err(err)
                            }
                        })?;
                        inserted += done.rows_affected();
                    }
                    Ok(inserted)
                }

                async fn set_refunded(&mut self, purchase: i64, refunded: Decimal) -> Result<()> {
                    sqlx::query("UPDATE customer_purchase_history SET refunded_amount = ? WHERE id = ?")
                        .bind(money(refunded))
                        .bind(purchase)
                        .execute(self.conn().await?)
                        .await
                        .map_err(db_err)?;
                    Ok(())
                }

                async fn refund_by_key(&mut self, purchase: i64, refund_id: &str) -> Result<Option<Refund>> {
                    let row = sqlx::query("SELECT id, purchase_id, refund_id, amount, created_at FROM purchase_refunds WHERE purchase_id = ? AND refund_id = ?")
                        .bind(purchase)
                        .bind(refund_id.to_string())
                        .fetch_optional(self.conn().await?)
                        .await
                        .map_err(db_err)?;
                    let Some(row) = row else { return Ok(None) };
                    Ok(Some(Refund {
                        id: row.try_get("id").map_err(db_err)?,
                        purchase_id: row.try_get("purchase_id").map_err(db_err)?,
                        refund_id: row.try_get("refund_id").map_err(db_err)?,
                        amount: from_money(row.try_get::<MoneyCol, _>("amount").map_err(db_err)?)?,
                        created_at: from_ts(row.try_get::<TsCol, _>("created_at").map_err(db_err)?)?,
                    }))
                }

                async fn insert_refund(&mut self, mut r: Refund) -> Result<Refund> {
                    let done = sqlx::query("INSERT INTO purchase_refunds (purchase_id, refund_id, amount, created_at) VALUES (?, ?, ?, ?)")
                        .bind(r.purchase_id)
                        .bind(r.refund_id.clone())
                        .bind(money(r.amount))
                        .bind(ts(r.created_at))
                        .execute(self.conn().await?)
                        .await
                        .map_err(|err| {
                            if is_unique_violation(&err) {
                                Error::conflict(crm_core::ConflictReason::ConcurrentChange, format!("refund {} was recorded concurrently; retry", r.refund_id))
                            } else {
                                db_err(err)
                            }
                        })?;
                    r.id = last_insert_id(&done);
                    Ok(r)
                }

                async fn refusal_by_key(&mut self, reference_type: &str, reference_id: &str) -> Result<Option<Refusal>> {
                    let row = sqlx::query(
                        "SELECT reference_type, reference_id, customer_id, operation, points, amount, outcome, created_at \
                         FROM loyalty_refusals WHERE reference_type = ? AND reference_id = ?",
                    )
                    .bind(reference_type.to_string())
                    .bind(reference_id.to_string())
                    .fetch_optional(self.conn().await?)
                    .await
                    .map_err(db_err)?;
                    let Some(row) = row else { return Ok(None) };
                    let outcome: String = row.try_get("outcome").map_err(db_err)?;
                    Ok(Some(Refusal {
                        reference_type: row.try_get("reference_type").map_err(db_err)?,
                        reference_id: row.try_get("reference_id").map_err(db_err)?,
                        customer_id: CustomerId(row.try_get("customer_id").map_err(db_err)?),
                        operation: row.try_get("operation").map_err(db_err)?,
                        points: row.try_get("points").map_err(db_err)?,
                        amount: row
                            .try_get::<Option<MoneyCol>, _>("amount")
                            .map_err(db_err)?
                            .map(from_money)
                            .transpose()?,
                        outcome: serde_json::from_str(&outcome).map_err(|e| corrupt("refusal outcome", e))?,
                        created_at: from_ts(row.try_get::<TsCol, _>("created_at").map_err(db_err)?)?,
                    }))
                }

                async fn insert_refusal(&mut self, r: Refusal) -> Result<()> {
                    let outcome = serde_json::to_string(&r.outcome).map_err(|e| Error::storage("refusal outcome", e))?;
                    sqlx::query(
                        "INSERT INTO loyalty_refusals (reference_type, reference_id, customer_id, operation, points, amount, outcome, created_at) \
                         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    )
                    .bind(r.reference_type.clone())
                    .bind(r.reference_id.clone())
                    .bind(r.customer_id.0)
                    .bind(r.operation.clone())
                    .bind(r.points)
                    .bind(r.amount.map(money))
                    .bind(outcome)
                    .bind(ts(r.created_at))
                    .execute(self.conn().await?)
                    .await
                    .map_err(|err| {
                        if is_unique_violation(&err) {
                            Error::conflict(
                                crm_core::ConflictReason::ConcurrentChange,
                                format!("reference {}/{} was refused concurrently; retry", r.reference_type, r.reference_id),
                            )
                        } else {
                            db_err(err)
                        }
                    })?;
                    Ok(())
                }

                async fn move_history(&mut self, from: CustomerId, into: CustomerId) -> Result<()> {
                    // Lots change hands: read the accounts' lots afresh.
                    for l in &mut self.locked {
                        l.expiry_known = false;
                    }
                    sqlx::query("UPDATE customer_purchase_history SET customer_id = ? WHERE customer_id = ?")
                        .bind(into.0)
                        .bind(from.0)
                        .execute(self.conn().await?)
                        .await
                        .map_err(db_err)?;
                    sqlx::query("UPDATE loyalty_lots SET customer_id = ? WHERE customer_id = ? AND remaining > 0")
                        .bind(into.0)
                        .bind(from.0)
                        .execute(self.conn().await?)
                        .await
                        .map_err(db_err)?;
                    Ok(())
                }

                async fn mark_merged(&mut self, from: CustomerId, into: CustomerId, by: &str, now: chrono::DateTime<chrono::Utc>) -> Result<Customer> {
                    sqlx::query("UPDATE customers SET is_active = 0, merged_into = ?, merged_by = ?, merged_at = ?, updated_at = ?, version = version + 1 WHERE id = ?")
                        .bind(into.0)
                        .bind(by.to_string())
                        .bind(ts(now))
                        .bind(ts(now))
                        .bind(from.0)
                        .execute(self.conn().await?)
                        .await
                        .map_err(db_err)?;
                    fetch_customer(self.conn().await?, from).await?.ok_or_else(|| Error::customer_not_found(from))
                }

                async fn append_event(&mut self, event: crm_core::events::EventPayload<'_>, now: chrono::DateTime<chrono::Utc>) -> Result<()> {
                    // Held back where events need numbering at commit
                    // (MySQL); written now where ids are in commit order
                    // already (SQLite's one writer).
                    if self.deferred.event(&event, now) {
                        return Ok(());
                    }
                    append_event(self.conn().await?, event, now).await?;
                    Ok(())
                }

                async fn append_audit(&mut self, record: &crm_core::audit::AuditRecord, now: chrono::DateTime<chrono::Utc>) -> Result<()> {
                    if self.deferred.audit(record, now) {
                        return Ok(());
                    }
                    append_audits(self.conn().await?, std::slice::from_ref(record), now).await
                }

                async fn commit(self: Box<Self>) -> Result<()> {
                    // The gate (SQLite's writer queue) is held until the commit is done.
                    let SqlLedgerTx { tx, _gate: gate, locked, deferred, pending_lock: _ } = *self;
                    let accounts: Vec<_> = locked
                        .iter()
                        .filter_map(|l| l.saved_at.map(|at| (&l.account, at)))
                        .collect();
                    let done = commit_ledger(tx, &accounts, deferred).await;
                    drop(gate);
                    done
                }
            }

            #[async_trait::async_trait]
            impl LedgerStore for $store {
                async fn begin_ledger(&self, mut customers: Vec<CustomerId>, lock: bool) -> Result<Box<dyn LedgerTx>> {
                    let gate = if lock { self.gate().await } else { None };
                    // Lock in id order so two operations on the same pair never deadlock.
                    customers.sort();
                    customers.dedup();
                    let lock_rows = lock && !FOR_UPDATE.is_empty();
                    // One account: its lock goes out with `BEGIN`, in one
                    // round trip, reading the row into session variables
                    // that the transaction's first statement reads back.
                    if lock_rows && let [only] = customers[..] && let Some(begin) = begin_locking(only) {
                        // On a task of its own: sqlx rolls back only a
                        // transaction whose `BEGIN` came back, so a caller
                        // giving up while this round trip is on the wire
                        // would put the connection back in the pool inside a
                        // transaction holding the lock. The task sees the
                        // begin through; an answer nobody takes is dropped,
                        // which rolls it back.
                        let pool = self.pool.clone();
                        let tx = tokio::spawn(async move { pool.begin_with(sqlx::AssertSqlSafe(begin)).await })
                            .await
                            .map_err(|e| Error::storage_msg(format!("the transaction's begin failed: {e}")))?
                            .map_err(db_err)?;
                        return Ok(Box::new(SqlLedgerTx {
                            tx,
                            _gate: gate,
                            locked: Vec::new(),
                            deferred: Deferred::default(),
                            pending_lock: Some(only),
                        }));
                    }
                    let mut tx = match (lock, BEGIN_LOCKED) {
                        (true, Some(begin)) => self.pool.begin_with(begin).await,
                        _ => self.pool.begin().await,
                    }
                    .map_err(db_err)?;
                    let mut locked = Vec::new();
                    if lock_rows {
                        let sql = format!(
                            "SELECT balance, debt, lifetime_earned, {NEXT_EXPIRY} AS next_expiry \
                             FROM loyalty_accounts WHERE customer_id = ?{FOR_UPDATE}"
                        );
                        for c in &customers {
                            let row = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                                .bind(c.0)
                                .fetch_optional(&mut *tx)
                                .await
                                .map_err(db_err)?;
                            if let Some(row) = row {
                                locked.push(locked_from_row(*c, &row)?);
                            }
                        }
                    }
                    Ok(Box::new(SqlLedgerTx {
                        tx,
                        _gate: gate,
                        locked,
                        deferred: Deferred::default(),
                        pending_lock: None,
                    }))
                }

                async fn customers_with_due_lots(&self, now: chrono::DateTime<chrono::Utc>, limit: u32) -> Result<Vec<CustomerId>> {
                    let ids: Vec<i64> = sqlx::query_scalar(
                        "SELECT DISTINCT customer_id FROM loyalty_lots WHERE expires_at <= ? AND remaining > 0 ORDER BY customer_id LIMIT ?",
                    )
                    .bind(ts(now))
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_err)?;
                    Ok(ids.into_iter().map(CustomerId).collect())
                }

                async fn events_after(&self, after: i64, limit: u32) -> Result<Vec<OutboxEvent>> {
                    let sql = format!(
                        "SELECT {EVENT_ID} AS id, event_type, customer_id, payload, created_at FROM outbox_events \
                         WHERE {EVENT_ID} > ? ORDER BY {EVENT_ID} LIMIT ?"
                    );
                    sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(after)
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(db_err)?
                        .iter()
                        .map(event_from_row)
                        .collect()
                }

                async fn last_event_id(&self) -> Result<i64> {
                    let sql = format!("SELECT MAX({EVENT_ID}) FROM outbox_events");
                    let id: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                        .fetch_one(&self.pool)
                        .await
                        .map_err(db_err)?;
                    Ok(id.unwrap_or(0))
                }

                async fn audit_of(&self, customer: CustomerId, after: i64, limit: u32) -> Result<Vec<crm_core::audit::AuditEntry>> {
                    sqlx::query(
                        "SELECT id, created_at, actor, role, action, customer_id, detail FROM audit_log \
                         WHERE customer_id = ? AND id > ? ORDER BY id LIMIT ?",
                    )
                    .bind(customer.0)
                    .bind(after)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_err)?
                    .iter()
                    .map(|row| {
                        let role: Option<String> = row.try_get("role").map_err(db_err)?;
                        let detail: String = row.try_get("detail").map_err(db_err)?;
                        Ok(crm_core::audit::AuditEntry {
                            id: row.try_get("id").map_err(db_err)?,
                            at: from_ts(row.try_get::<TsCol, _>("created_at").map_err(db_err)?)?,
                            actor: row.try_get("actor").map_err(db_err)?,
                            role: match role {
                                Some(r) => Some(crm_core::users::Role::parse(&r).ok_or_else(|| corrupt("role", &r))?),
                                None => None,
                            },
                            action: row.try_get("action").map_err(db_err)?,
                            customer_id: row.try_get::<Option<i64>, _>("customer_id").map_err(db_err)?.map(CustomerId),
                            detail: serde_json::from_str(&detail).map_err(|e| corrupt("audit detail", e))?,
                        })
                    })
                    .collect()
                }

                async fn prune_events(&self, before: chrono::DateTime<chrono::Utc>) -> Result<(u64, i64)> {
                    let sql = format!("SELECT MAX({EVENT_ID}) FROM outbox_events WHERE created_at < ?");
                    let through: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                        .bind(ts(before))
                        .fetch_one(&self.pool)
                        .await
                        .map_err(db_err)?;
                    let Some(through) = through else { return Ok((0, 0)) };
                    // `> 0`: rows still to be sealed (MySQL) are never pruned.
                    let sql = format!("DELETE FROM outbox_events WHERE {EVENT_ID} > 0 AND {EVENT_ID} <= ?");
                    let done = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(through)
                        .execute(&self.pool)
                        .await
                        .map_err(db_err)?;
                    Ok((done.rows_affected(), through))
                }

                async fn purchases_after(&self, after: Option<PurchaseCursor>, limit: u32) -> Result<Vec<Purchase>> {
                    let mut qb = QueryBuilder::<Db>::new(format!("SELECT {PURCHASE_COLUMNS} FROM customer_purchase_history"));
                    if let Some(c) = after {
                        qb.push(" WHERE customer_id > ").push_bind(c.customer_id.0);
                        qb.push(" OR (customer_id = ").push_bind(c.customer_id.0);
                        qb.push(" AND (purchase_date > ").push_bind(ts(c.purchase_date));
                        qb.push(" OR (purchase_date = ").push_bind(ts(c.purchase_date));
                        qb.push(" AND id > ").push_bind(c.id).push(")))");
                    }
                    qb.push(" ORDER BY customer_id, purchase_date, id LIMIT ").push_bind(i64::from(limit));
                    qb.build()
                        .fetch_all(&self.pool)
                        .await
                        .map_err(db_err)?
                        .iter()
                        .map(purchase_from_row)
                        .collect()
                }

                async fn purchases_of(&self, customer: CustomerId) -> Result<Vec<Purchase>> {
                    let sql = format!("SELECT {PURCHASE_COLUMNS} FROM customer_purchase_history WHERE customer_id = ? ORDER BY purchase_date, id");
                    sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(customer.0)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(db_err)?
                        .iter()
                        .map(purchase_from_row)
                        .collect()
                }

                async fn totals(&self) -> Result<crm_core::analytics::StoreTotals> {
                    let row = sqlx::query(
                        "SELECT COUNT(*) AS customers, COUNT(CASE WHEN is_active = 1 THEN 1 END) AS active FROM customers",
                    )
                    .fetch_one(&self.pool)
                    .await
                    .map_err(db_err)?;
                    let points: Option<i64> = sqlx::query_scalar(
                        "SELECT CAST(SUM(balance) AS SIGNED) FROM loyalty_accounts WHERE balance > 0",
                    )
                    .fetch_one(&self.pool)
                    .await
                    .map_err(db_err)?;
                    let count = |name: &str| -> Result<u64> {
                        let n: i64 = row.try_get(name).map_err(db_err)?;
                        u64::try_from(n).map_err(|e| corrupt(name, e))
                    };
                    Ok(crm_core::analytics::StoreTotals {
                        customers: count("customers")?,
                        active_customers: count("active")?,
                        points_outstanding: points.unwrap_or(0),
                    })
                }

                async fn put_segments(&self, generation: u64, rows: Vec<crm_core::analytics::CustomerSegment>) -> Result<()> {
                    let generation = i64::try_from(generation).map_err(|e| corrupt("generation", e))?;
                    for chunk in rows.chunks(SEGMENT_INSERT_CHUNK) {
                        let mut qb = QueryBuilder::<Db>::new(
                            "REPLACE INTO customer_segments (customer_id, segment, recency_score, frequency_score, monetary_score, generation) ",
                        );
                        qb.push_values(chunk, |mut b, row| {
                            b.push_bind(row.customer_id.0)
                                .push_bind(row.segment.as_str())
                                .push_bind(i16::from(row.recency_score))
                                .push_bind(i16::from(row.frequency_score))
                                .push_bind(i16::from(row.monetary_score))
                                .push_bind(generation);
                        });
                        qb.build().execute(&self.pool).await.map_err(db_err)?;
                    }
                    Ok(())
                }

                async fn prune_segments(&self, generation: u64) -> Result<u64> {
                    let generation = i64::try_from(generation).map_err(|e| corrupt("generation", e))?;
                    let done = sqlx::query("DELETE FROM customer_segments WHERE generation < ?")
                        .bind(generation)
                        .execute(&self.pool)
                        .await
                        .map_err(db_err)?;
                    Ok(done.rows_affected())
                }

                async fn purchase(&self, store_id: String, receipt_id: String) -> Result<Option<Purchase>> {
                    let sql = format!("SELECT {PURCHASE_COLUMNS} FROM customer_purchase_history WHERE store_id = ? AND receipt_id = ?");
                    sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(store_id)
                        .bind(receipt_id)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(db_err)?
                        .map(|r| purchase_from_row(&r))
                        .transpose()
                }
            }
        }
    };
}
