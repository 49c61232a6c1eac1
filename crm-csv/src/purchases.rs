//! Purchase-history files into the CRM (a migration from another POS):
//! each row read, its cells checked, and the batch handed to
//! [`Loyalty::import_history_rows`](crm_core::Loyalty::import_history_rows),
//! which applies the rules of a purchase and writes the good rows. Rows
//! that fail are reported by line, in the summary and in a rejected-rows
//! report, like a customer import.
//!
//! Imported purchases earn no points. A file that was cut off can simply be
//! imported again: receipts already stored with the same details are
//! skipped, never written twice.
//!
//! Columns (headers matched like customer files, case and punctuation
//! ignored): the customer as `customer_code` (`kode_pelanggan`) or
//! `customer_id` (`id_pelanggan`); `store_id` (`toko`, `outlet`);
//! `receipt_id` (`no_struk`, `nota`, `invoice`); `purchase_date`
//! (`tanggal`, `date`): RFC 3339, `YYYY-MM-DD[ HH:MM[:SS]]` (UTC) or
//! `DD/MM/YYYY`; `total_amount` (`total`, `jumlah`, `amount`): a plain
//! decimal, `Rp` allowed; optional `currency` (`mata_uang`).

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Read};
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use crm_core::customer::import::IssueStatus;
use crm_core::loyalty::NewPurchase;
use crm_core::{Crm, CustomerCode, CustomerId, ErrorKind, FieldError, ImportTotals, RowIssue};
use serde::Serialize;

use crate::customers::{CsvError, normalise_header, parse_credit_limit};
use crate::import::{ImportError, MAX_LISTED_ISSUES};
use crate::table::{Table, cells};
use crate::write::RejectedRowsWriter;

/// How a purchase file is imported.
#[derive(Debug, Clone, Default)]
pub struct PurchaseFileOptions {
    /// Field delimiter (default: detected).
    pub delimiter: Option<u8>,
    /// Check every row, write nothing.
    pub dry_run: bool,
    /// Rows per batch (default 5,000, at most [`crm_core::MAX_IMPORT_BATCH`]).
    pub batch_size: Option<usize>,
    /// Where to write the rejected-rows report.
    pub report: Option<PathBuf>,
}

/// The result of a purchase import.
#[derive(Debug, Clone, Serialize)]
pub struct PurchaseImportSummary {
    /// Whether it was a dry run.
    pub dry_run: bool,
    /// Counts: `created` purchases written (a dry run: would be),
    /// `skipped` already stored, `rejected` rows refused.
    pub totals: ImportTotals,
    /// The rows refused, and why (at most [`MAX_LISTED_ISSUES`]).
    pub issues: Vec<RowIssue>,
    /// Whether `issues` was cut.
    pub issues_truncated: bool,
    /// The rejected-rows report, when one was asked for.
    pub report: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Col {
    Code,
    Id,
    Store,
    Receipt,
    Date,
    Amount,
    Currency,
}

fn column(header: &str) -> Option<Col> {
    Some(match normalise_header(header).as_str() {
        "customer_code" | "kode_pelanggan" | "kode_customer" | "code" => Col::Code,
        "customer_id" | "id_pelanggan" | "customer" | "pelanggan" => Col::Id,
        "store_id" | "store" | "toko" | "kode_toko" | "outlet" | "id_toko" => Col::Store,
        "receipt_id" | "receipt" | "no_struk" | "struk" | "nota" | "no_nota" | "invoice"
        | "no_invoice" | "faktur" | "no_faktur" => Col::Receipt,
        "purchase_date" | "date" | "tanggal" | "tgl" | "tanggal_transaksi" | "transaction_date"
        | "waktu" => Col::Date,
        "total_amount" | "amount" | "total" | "jumlah" | "nilai" | "total_belanja" => Col::Amount,
        "currency" | "mata_uang" => Col::Currency,
        _ => return None,
    })
}

/// Imports the purchase CSV file at `path`; see [`import_purchases`].
pub async fn import_purchases_file(
    crm: &Crm,
    path: &Path,
    options: &PurchaseFileOptions,
    progress: impl FnMut(u64, &ImportTotals) + Send,
) -> Result<PurchaseImportSummary, ImportError> {
    let file = File::open(path).map_err(|source| ImportError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    import_purchases(crm, file, options, progress).await
}

/// Imports purchase history from CSV read from `reader`, in batches;
/// `progress` gets the bytes read and the totals after each batch.
pub async fn import_purchases<R: Read + Send>(
    crm: &Crm,
    reader: R,
    options: &PurchaseFileOptions,
    mut progress: impl FnMut(u64, &ImportTotals) + Send,
) -> Result<PurchaseImportSummary, ImportError> {
    let (mut table, headers) = Table::open(reader, options.delimiter)?;
    let mut columns: HashMap<Col, usize> = HashMap::new();
    for (i, h) in headers.iter().enumerate() {
        if let Some(c) = column(h)
            && columns.insert(c, i).is_some()
        {
            return Err(CsvError::Malformed {
                line: 1,
                message: format!("two columns of the header mean {h:?}: {headers:?}"),
            }
            .into());
        }
    }
    let missing: Vec<&str> = [
        (Col::Store, "store_id"),
        (Col::Receipt, "receipt_id"),
        (Col::Date, "purchase_date"),
        (Col::Amount, "total_amount"),
    ]
    .into_iter()
    .filter(|(c, _)| !columns.contains_key(c))
    .map(|(_, name)| name)
    .chain(
        (!columns.contains_key(&Col::Code) && !columns.contains_key(&Col::Id))
            .then_some("customer_code or customer_id"),
    )
    .collect();
    if !missing.is_empty() {
        return Err(CsvError::Malformed {
            line: 1,
            message: format!(
                "the purchase file has no {} column (headers: {headers:?})",
                missing.join(", ")
            ),
        }
        .into());
    }
    let mut report = match &options.report {
        Some(path) => Some(
            File::create(path)
                .map_err(|source| ImportError::Io {
                    path: path.clone(),
                    source,
                })
                .and_then(|f| {
                    RejectedRowsWriter::new(BufWriter::new(f), &headers)
                        .map_err(|e| report_error(path, e))
                })?,
        ),
        None => None,
    };
    let batch_size = options
        .batch_size
        .unwrap_or(5_000)
        .clamp(1, crm_core::MAX_IMPORT_BATCH);
    let mut summary = PurchaseImportSummary {
        dry_run: options.dry_run,
        totals: ImportTotals::default(),
        issues: Vec::new(),
        issues_truncated: false,
        report: options.report.clone(),
    };
    let mut codes: HashMap<String, Option<CustomerId>> = HashMap::new();
    loop {
        let mut records = Vec::with_capacity(batch_size);
        while records.len() < batch_size {
            let Some((line, record)) = table.read_record()? else {
                break;
            };
            records.push((line, decode(&record)));
        }
        if records.is_empty() {
            break;
        }
        let mut issues = Vec::new();
        let mut rows = Vec::with_capacity(records.len());
        for (line, cells) in &records {
            let cell = |c: Col| {
                columns
                    .get(&c)
                    .and_then(|&i| cells.get(i))
                    .map(|s| s.trim())
                    .unwrap_or_default()
            };
            let mut errors: Vec<FieldError> = Vec::new();
            if cells.len() != headers.len() {
                errors.push(FieldError::new(
                    "line",
                    "columns",
                    format!(
                        "the row has {} cells but the header has {} columns",
                        cells.len(),
                        headers.len()
                    ),
                ));
            }
            let customer = match (cell(Col::Code), cell(Col::Id)) {
                (code, _) if !code.is_empty() => {
                    resolve(crm, &mut codes, code, &mut errors).await?
                }
                (_, id) if !id.is_empty() => match id.parse::<i64>() {
                    Ok(n) if n > 0 => Some(CustomerId(n)),
                    _ => {
                        errors.push(FieldError::new(
                            "customer_id",
                            "type",
                            format!("customer_id {id:?} is not a positive whole number"),
                        ));
                        None
                    }
                },
                _ => {
                    errors.push(FieldError::new(
                        "customer_code",
                        "required",
                        "the row names no customer (customer_code or customer_id)",
                    ));
                    None
                }
            };
            let date = parse_date(cell(Col::Date));
            if date.is_none() {
                errors.push(FieldError::new(
                    "purchase_date",
                    "date",
                    format!(
                        "purchase_date {:?} is not a date: write RFC 3339, YYYY-MM-DD[ HH:MM[:SS]] (UTC) or DD/MM/YYYY",
                        cell(Col::Date)
                    ),
                ));
            }
            let amount = parse_credit_limit(cell(Col::Amount));
            if amount.is_none() {
                errors.push(FieldError::new(
                    "total_amount",
                    "decimal",
                    format!(
                        "total_amount {:?} is not a plain decimal (e.g. 150000 or 150000.50, no thousands separators)",
                        cell(Col::Amount)
                    ),
                ));
            }
            match (errors.is_empty(), customer, date, amount) {
                (true, Some(customer_id), Some(purchase_date), Some(total_amount)) => {
                    rows.push((
                        *line,
                        NewPurchase {
                            customer_id,
                            store_id: cell(Col::Store).to_string(),
                            receipt_id: cell(Col::Receipt).to_string(),
                            purchase_date,
                            total_amount,
                            currency: Some(cell(Col::Currency))
                                .filter(|c| !c.is_empty())
                                .map(str::to_uppercase),
                        },
                    ));
                }
                _ => issues.extend(errors.into_iter().map(|e| RowIssue {
                    line: *line,
                    status: IssueStatus::Rejected,
                    field: e.field,
                    rule: e.rule,
                    message: e.message,
                    existing_code: None,
                })),
            }
        }
        let done = crm
            .loyalty()
            .import_history_rows(rows, options.dry_run)
            .await?;
        issues.extend(done.issues);
        issues.sort_by_key(|i| i.line);
        let rejected_rows = {
            let mut lines: Vec<u64> = issues.iter().map(|i| i.line).collect();
            lines.dedup();
            lines.len() as u64
        };
        let t = &mut summary.totals;
        t.rows += records.len() as u64;
        t.created += done.inserted;
        t.skipped += done.skipped;
        t.rejected += rejected_rows;
        t.line = table_position(&records);
        if let (Some(w), Some(path)) = (report.as_mut(), options.report.as_ref()) {
            let by_line: HashMap<u64, &Vec<String>> =
                records.iter().map(|(l, c)| (*l, c)).collect();
            for i in &issues {
                let record = by_line.get(&i.line).map_or(&[][..], |c| c.as_slice());
                w.write(
                    i.line,
                    i.status.as_str(),
                    &i.field,
                    &i.rule,
                    &i.message,
                    None,
                    record,
                )
                .map_err(|e| report_error(path, e))?;
            }
            w.flush().map_err(|e| report_error(path, e))?;
        }
        for i in issues {
            if summary.issues.len() < MAX_LISTED_ISSUES {
                summary.issues.push(i);
            } else {
                summary.issues_truncated = true;
            }
        }
        progress(table.bytes_read(), &summary.totals);
    }
    Ok(summary)
}

fn table_position(records: &[(u64, Vec<String>)]) -> u64 {
    records.last().map_or(0, |(line, _)| *line)
}

/// The customer a code names, looked up once per code.
async fn resolve(
    crm: &Crm,
    cache: &mut HashMap<String, Option<CustomerId>>,
    code: &str,
    errors: &mut Vec<FieldError>,
) -> Result<Option<CustomerId>, ImportError> {
    if let Some(found) = cache.get(code) {
        if found.is_none() {
            errors.push(not_found(code));
        }
        return Ok(*found);
    }
    let found = match CustomerCode::parse(code) {
        Err(_) => None,
        Ok(_) => match crm.customers().by_code(code.to_string()).await {
            Ok(c) => Some(c.id),
            Err(e) if e.kind() == ErrorKind::NotFound || e.kind() == ErrorKind::Validation => None,
            Err(e) => return Err(e.into()),
        },
    };
    if found.is_none() {
        errors.push(not_found(code));
    }
    cache.insert(code.to_string(), found);
    Ok(found)
}

fn not_found(code: &str) -> FieldError {
    FieldError::new(
        "customer_code",
        "not_found",
        format!("no customer has the code {code:?}"),
    )
}

fn decode(record: &csv::ByteRecord) -> Vec<String> {
    cells(record)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect()
}

/// RFC 3339; `YYYY-MM-DD`, `YYYY-MM-DD HH:MM[:SS]` or with a `T` (UTC);
/// `DD/MM/YYYY` or `DD-MM-YYYY` (day first), optionally with `HH:MM[:SS]`.
fn parse_date(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for format in [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
        "%d/%m/%Y %H:%M:%S",
        "%d/%m/%Y %H:%M",
        "%d-%m-%Y %H:%M:%S",
        "%d-%m-%Y %H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, format) {
            return Some(t.and_utc());
        }
    }
    for format in ["%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y"] {
        if let Ok(d) = NaiveDate::parse_from_str(s, format) {
            return d.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
        }
    }
    None
}

fn report_error(path: &Path, e: impl std::fmt::Display) -> ImportError {
    ImportError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_in_every_accepted_form() {
        let noon = |d: u32| {
            NaiveDate::from_ymd_opt(2026, 3, d)
                .and_then(|d| d.and_hms_opt(12, 30, 0))
                .map(|t| t.and_utc())
        };
        assert_eq!(parse_date("2026-03-05T12:30:00Z"), noon(5));
        assert_eq!(parse_date("2026-03-05T19:30:00+07:00"), noon(5));
        assert_eq!(parse_date("2026-03-05 12:30"), noon(5));
        assert_eq!(parse_date("05/03/2026 12:30:00"), noon(5));
        assert_eq!(
            parse_date("05-03-2026"),
            NaiveDate::from_ymd_opt(2026, 3, 5)
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc())
        );
        assert_eq!(parse_date("kemarin"), None);
        assert_eq!(parse_date("2026-13-01"), None);
    }

    #[test]
    fn headers_in_english_and_indonesian() {
        assert_eq!(column("Kode Pelanggan"), Some(Col::Code));
        assert_eq!(column("No. Struk"), Some(Col::Receipt));
        assert_eq!(column("Tanggal"), Some(Col::Date));
        assert_eq!(column("Jumlah"), Some(Col::Amount));
        assert_eq!(column("store_id"), Some(Col::Store));
        assert_eq!(column("catatan"), None);
    }
}
