//! Bulk import of purchase history (migrations from another POS or CRM),
//! written once over [`LedgerTx`](crate::store::LedgerTx) like the other
//! loyalty rules.

use std::collections::{HashMap, HashSet};

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::ledger::purchase_errors;
use super::model::{NewPurchase, Purchase};
use super::receipt_key;
use crate::customer::CustomerId;
use crate::error::FieldErrors;
use crate::facade::Loyalty;
use crate::facade::MAX_IMPORT_BATCH;
use crate::{Error, FieldError, Result};

#[cfg(test)]
use super::ledger::MAX_AMOUNT;

/// How many merges are followed from a customer to the one that survived.
const MERGE_HOPS: usize = 8;

/// Result of [`Loyalty::import_history`].
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PurchaseImportReport {
    /// Rows written.
    pub inserted: u64,
    /// Rows whose receipt was already stored with the same details (a re-run
    /// of the import, or a receipt the till had already sent): left as stored.
    pub skipped: u64,
    /// Input positions of the skipped rows, ascending.
    pub skipped_rows: Vec<usize>,
}

impl Loyalty {
    /// Imports historical purchases (a migration from another POS): all or
    /// none, in one transaction, at most [`MAX_IMPORT_BATCH`] rows per call.
    ///
    /// Each row is a [`NewPurchase`], checked like
    /// [`record_purchase`](Loyalty::record_purchase) checks one (store and receipt
    /// ids, amount >= 0 with at most 2 decimals and at most
    /// 9,999,999,999,999.99, the programme's currency, not in the future).
    /// Every failing row is reported at once in one [`Error::Validation`],
    /// fields prefixed with the row index (`[3].total_amount`), and nothing is
    /// written. Besides the field rules, a row fails when:
    /// - its customer does not exist (`[i].customer_id`, rule `not_found`);
    /// - another row of the batch has the same `(store_id, receipt_id)`
    ///   (`[i].receipt_id`, rule `duplicate_in_batch`, naming the first row);
    /// - its receipt is already stored with other details (customer, date,
    ///   amount or currency) (`[i].receipt_id`, rule `conflict`).
    ///
    /// A receipt already stored with the same details is **skipped and
    /// counted** ([`PurchaseImportReport::skipped`]), so a migration that
    /// was cut off can simply be run again from the start: nothing is ever
    /// inserted twice.
    ///
    /// **Imported purchases earn no points** and write no ledger entry, lot
    /// or outbox event: they are history, not new sales (a re-imported sale
    /// must not pay out points a second time). Carry customers' existing
    /// balances over with [`adjust`](Loyalty::adjust) (one opening
    /// balance per customer). They are ordinary rows of the purchase history
    /// otherwise: analytics ([`Analytics::customer`](crate::facade::Analytics::customer),
    /// [`Analytics::refit`](crate::facade::Analytics::refit)), purchase reads and refunds see them.
    ///
    /// Customers may be inactive (past customers have history too); a
    /// purchase of a customer that was merged into another is recorded on
    /// the customer that survived, as [`record_purchase`](Loyalty::record_purchase) does.
    pub async fn import_history(&self, rows: Vec<NewPurchase>) -> Result<PurchaseImportReport> {
        self.history(rows, true).await
    }

    /// Checks purchases as [`import_history`](Self::import_history) would
    /// and writes nothing (a dry run): the same errors, and the counts it
    /// would give.
    pub async fn check_history(&self, rows: Vec<NewPurchase>) -> Result<PurchaseImportReport> {
        self.history(rows, false).await
    }

    async fn history(&self, rows: Vec<NewPurchase>, write: bool) -> Result<PurchaseImportReport> {
        if rows.len() > MAX_IMPORT_BATCH {
            return Err(Error::invalid(
                "purchases",
                "max_items",
                format!("at most {MAX_IMPORT_BATCH} purchases per import call"),
            ));
        }
        let now = self.inner.clock.now();
        let currency = &self.inner.config.loyalty.currency;

        // 1. The rules of each row, and receipts repeated within the batch.
        let mut errors: Vec<(usize, FieldError)> = Vec::new();
        let mut rows: Vec<NewPurchase> = rows
            .into_iter()
            .map(|p| NewPurchase {
                purchase_date: crate::clock::truncate_to_micros(p.purchase_date),
                ..p
            })
            .collect();
        let mut seen: HashMap<(&str, &str), usize> = HashMap::with_capacity(rows.len());
        let mut valid = vec![true; rows.len()];
        for (i, p) in rows.iter().enumerate() {
            let mut row_errors = purchase_errors(p, currency, now);
            let first = *seen.entry((&p.store_id, &p.receipt_id)).or_insert(i);
            if first != i {
                row_errors.push(
                    "receipt_id",
                    "duplicate_in_batch",
                    format!(
                        "receipt {} is also row {first} of this import",
                        receipt_key(&p.store_id, &p.receipt_id)
                    ),
                );
            }
            valid[i] = row_errors.is_empty();
            errors.extend(
                row_errors
                    .into_vec()
                    .into_iter()
                    .map(|f| (i, prefixed(i, f))),
            );
        }
        drop(seen);

        // 2. Customers and stored receipts, inside the write transaction. An
        // empty lock list takes no account locks (SQLite still takes its
        // write lock up front, so the insert cannot fail to upgrade).
        let mut tx = self.inner.store.begin_ledger(Vec::new(), true).await?;
        let ids: Vec<CustomerId> = rows
            .iter()
            .zip(&valid)
            .filter(|(_, ok)| **ok)
            .map(|(p, _)| p.customer_id)
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let mut links = tx.merge_links(&ids).await?;
        for _ in 0..MERGE_HOPS {
            let missing: Vec<CustomerId> = links
                .values()
                .flatten()
                .filter(|into| !links.contains_key(into))
                .copied()
                .collect::<HashSet<_>>()
                .into_iter()
                .collect();
            if missing.is_empty() {
                break;
            }
            links.extend(tx.merge_links(&missing).await?);
        }
        let survivor = |id: CustomerId| -> Option<CustomerId> {
            let mut at = id;
            let mut next = *links.get(&at)?;
            for _ in 0..MERGE_HOPS {
                match next {
                    Some(into) => {
                        at = into;
                        next = *links.get(&at)?;
                    }
                    None => break,
                }
            }
            Some(at)
        };
        let mut targets: Vec<Option<CustomerId>> = vec![None; rows.len()];
        for (i, p) in rows.iter().enumerate() {
            if !valid[i] {
                continue;
            }
            match survivor(p.customer_id) {
                Some(target) => targets[i] = Some(target),
                None => {
                    valid[i] = false;
                    errors.push((
                        i,
                        FieldError::new(
                            format!("[{i}].customer_id"),
                            "not_found",
                            format!("customer {} does not exist", p.customer_id),
                        ),
                    ));
                }
            }
        }
        let keys: Vec<(String, String)> = rows
            .iter()
            .zip(&valid)
            .filter(|(_, ok)| **ok)
            .map(|(p, _)| (p.store_id.clone(), p.receipt_id.clone()))
            .collect();
        let stored: HashMap<(String, String), Purchase> = tx
            .purchases_by_receipts(&keys)
            .await?
            .into_iter()
            .map(|p| ((p.store_id.clone(), p.receipt_id.clone()), p))
            .collect();
        drop(keys);
        let mut skipped_rows = Vec::new();
        for (i, p) in rows.iter().enumerate() {
            let (true, Some(target)) = (valid[i], targets[i]) else {
                continue;
            };
            let Some(existing) = stored.get(&(p.store_id.clone(), p.receipt_id.clone())) else {
                continue;
            };
            let same = (existing.customer_id == p.customer_id || existing.customer_id == target)
                && existing.purchase_date == p.purchase_date
                && existing.total_amount == p.total_amount
                && p.currency.as_deref().is_none_or(|c| c == existing.currency);
            valid[i] = false;
            if same {
                skipped_rows.push(i);
            } else {
                errors.push((
                    i,
                    FieldError::new(
                        format!("[{i}].receipt_id"),
                        "conflict",
                        format!(
                            "receipt {} is already stored with other details (customer {}, {}, {} {})",
                            receipt_key(&p.store_id, &p.receipt_id),
                            existing.customer_id,
                            existing.purchase_date.to_rfc3339(),
                            existing.total_amount,
                            existing.currency
                        ),
                    ),
                ));
            }
        }
        // Row order, each row's errors in the order they were found.
        errors.sort_by_key(|(i, _)| *i);
        let mut all = FieldErrors::new();
        errors.into_iter().for_each(|(_, f)| all.add(f));
        all.finish()?;

        // 3. Everything checked: write the new rows.
        let purchases: Vec<Purchase> = rows
            .iter_mut()
            .zip(targets)
            .zip(&valid)
            .filter(|(_, ok)| **ok)
            .filter_map(|((p, target), _)| {
                Some(Purchase {
                    id: 0,
                    customer_id: target?,
                    store_id: std::mem::take(&mut p.store_id),
                    receipt_id: std::mem::take(&mut p.receipt_id),
                    purchase_date: p.purchase_date,
                    total_amount: super::ledger::cents(p.total_amount),
                    refunded_amount: super::ledger::cents(Decimal::ZERO),
                    currency: p.currency.take().unwrap_or_else(|| currency.clone()),
                    created_at: now,
                })
            })
            .collect();
        let inserted = if !write {
            // Dropping the transaction rolls it back.
            purchases.len() as u64
        } else if purchases.is_empty() {
            0
        } else {
            tx.insert_purchases(purchases).await?
        };
        if write {
            tx.commit().await?;
        }
        Ok(PurchaseImportReport {
            inserted,
            skipped: skipped_rows.len() as u64,
            skipped_rows,
        })
    }
}

fn prefixed(i: usize, f: FieldError) -> FieldError {
    FieldError {
        field: format!("[{i}].{}", f.field),
        ..f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_amount_is_the_largest_decimal_15_2() {
        assert_eq!(MAX_AMOUNT.to_string(), "9999999999999.99");
    }
}

/// Result of [`Loyalty::import_history_rows`].
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PurchaseRowsReport {
    /// Rows written.
    pub inserted: u64,
    /// Rows already stored with the same details (left as stored).
    pub skipped: u64,
    /// Rows rejected, one issue per failing field, by line.
    pub issues: Vec<crate::customer::import::RowIssue>,
}

impl Loyalty {
    /// Imports historical purchases like [`import_history`](Self::import_history),
    /// but row by row instead of all or none: rows failing a rule are
    /// reported (by the `line` given with each row, one
    /// [`RowIssue`](crate::customer::import::RowIssue) per failing field,
    /// field names without the row prefix) and the other rows are written,
    /// in one transaction. With `dry_run` the rows are checked and nothing
    /// is written. At most [`MAX_IMPORT_BATCH`] rows.
    ///
    /// Like `import_history`, a re-run skips what is stored: an import of
    /// a file that was cut off can simply be run again.
    pub async fn import_history_rows(
        &self,
        rows: Vec<(u64, NewPurchase)>,
        dry_run: bool,
    ) -> Result<PurchaseRowsReport> {
        use crate::customer::import::{IssueStatus, RowIssue};
        let mut rows = rows;
        let mut issues = Vec::new();
        // A failing row fails the whole call with every failing row named;
        // take those out and write the rest. Rules of one row never depend
        // on another row that fails, so the second call passes (a third is
        // only for a receipt stored concurrently in between).
        for _ in 0..3 {
            let (lines, batch): (Vec<u64>, Vec<NewPurchase>) = rows.iter().cloned().unzip();
            let outcome = if dry_run {
                self.check_history(batch).await
            } else {
                self.import_history(batch).await
            };
            let errors = match outcome {
                Ok(report) => {
                    issues.sort_by_key(|i: &RowIssue| i.line);
                    return Ok(PurchaseRowsReport {
                        inserted: report.inserted,
                        skipped: report.skipped,
                        issues,
                    });
                }
                Err(Error::Validation(errors)) => errors,
                Err(e) => return Err(e),
            };
            let mut failed = HashSet::new();
            for e in errors {
                let Some((index, field)) = e
                    .field
                    .strip_prefix('[')
                    .and_then(|f| f.split_once("]."))
                    .and_then(|(i, f)| Some((i.parse::<usize>().ok()?, f.to_string())))
                else {
                    return Err(Error::Validation(vec![e]));
                };
                let Some(line) = lines.get(index) else {
                    return Err(Error::Validation(vec![e]));
                };
                failed.insert(index);
                issues.push(RowIssue {
                    line: *line,
                    status: IssueStatus::Rejected,
                    field,
                    rule: e.rule,
                    message: e.message,
                    existing_code: None,
                });
            }
            rows = rows
                .into_iter()
                .enumerate()
                .filter(|(i, _)| !failed.contains(i))
                .map(|(_, r)| r)
                .collect();
        }
        Err(Error::conflict(
            crate::ConflictReason::ConcurrentChange,
            "purchases of this batch keep being stored by another import; try again",
        ))
    }
}
