//! Customer files into the CRM: the CSV reader of [`crate::customers`]
//! feeding a [`CustomerImport`] batch by batch, with a report of the
//! rejected rows and progress.
//!
//! Every rule (what is a valid customer, what is a duplicate, what the
//! duplicate policy does, how a run resumes) is `crm-core`'s; this module
//! only moves rows from the file to the import and issues from the import
//! to the report.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Read};
use std::path::{Path, PathBuf};

use crm_core::{
    BatchOutcome, Crm, CustomerImport, DuplicatePolicy, ImportOptions, ImportRow, ImportTotals,
    RowIssue,
};
use serde::Serialize;

use crate::customers::{CsvError, CustomerCsvOptions, CustomerCsvReader, ParsedCustomer};
use crate::write::RejectedRowsWriter;

/// Rows per batch by default: one transaction and one duplicate lookup each.
pub const DEFAULT_BATCH: usize = 1_000;

/// Issues kept in an [`ImportSummary`] at most (the report file has them all).
pub const MAX_LISTED_ISSUES: usize = 100_000;

/// How a customer file is imported.
#[derive(Debug, Clone, Default)]
pub struct ImportFileOptions {
    /// How the file is read (delimiter, column mapping).
    pub csv: CustomerCsvOptions,
    /// What to do with a row matching a stored customer.
    pub on_duplicate: DuplicatePolicy,
    /// Decide every row, write nothing to the database (the report file
    /// is still written).
    pub dry_run: bool,
    /// Makes the run resumable under this id (see
    /// [`crm_core::customer::import`]).
    pub run_id: Option<String>,
    /// Rows per batch (default [`DEFAULT_BATCH`], at most
    /// [`crm_core::MAX_IMPORT_BATCH`]).
    pub batch_size: Option<usize>,
    /// Where to write the rejected-rows report (CSV). A resumed run
    /// appends to it.
    pub report: Option<PathBuf>,
}

/// Where an import is, after each batch.
#[derive(Debug)]
pub struct ImportProgress<'a> {
    /// Totals so far (of the whole run, a resumed run included).
    pub totals: ImportTotals,
    /// Bytes of the file read so far.
    pub bytes_read: u64,
    /// The file's size, when known.
    pub bytes_total: Option<u64>,
    /// What the last batch did (its issues, the customers it created).
    pub batch: &'a BatchOutcome,
}

/// The result of an import.
#[derive(Debug, Clone, Serialize)]
pub struct ImportSummary {
    /// The run id (resumable runs).
    pub run_id: Option<String>,
    /// Whether it was a dry run.
    pub dry_run: bool,
    /// The line a resumed run continued after (0: from the start).
    pub resumed_after: u64,
    /// The run had finished before: nothing was done.
    pub already_done: bool,
    /// Counts of the whole run.
    pub totals: ImportTotals,
    /// The rows not created, and why (at most [`MAX_LISTED_ISSUES`]; the
    /// report file has every one).
    pub issues: Vec<RowIssue>,
    /// Whether `issues` was cut at [`MAX_LISTED_ISSUES`].
    pub issues_truncated: bool,
    /// Which header went to which field.
    pub mapping: Vec<(String, String)>,
    /// Headers that map to no field (their cells are not imported).
    pub ignored_columns: Vec<String>,
    /// The rejected-rows report, when one was asked for.
    pub report: Option<PathBuf>,
}

/// Why an import stopped.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file cannot be read as a customer CSV.
    #[error(transparent)]
    Csv(#[from] CsvError),
    /// The CRM refused or failed (the database is gone, another process
    /// runs the same run, a bad option).
    #[error(transparent)]
    Crm(#[from] crm_core::Error),
    /// A file could not be opened or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
}

/// Imports the customer CSV file at `path`; see [`import_customers`].
/// The source a resumed run must match is the file's name and size.
pub async fn import_customers_file(
    crm: &Crm,
    path: &Path,
    options: &ImportFileOptions,
    progress: impl FnMut(&ImportProgress<'_>) + Send,
) -> Result<ImportSummary, ImportError> {
    let io = |source| ImportError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io)?;
    let size = file.metadata().map_err(io)?.len();
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let source = format!("{name} ({size} bytes)");
    import_customers(crm, file, source, Some(size), options, progress).await
}

/// Imports customers from CSV read from `reader`, in batches: each batch's
/// rows are decided by [`CustomerImport::apply`] (rules, duplicates within
/// the file and against the database, the duplicate policy) and its good
/// rows created in one transaction with the run's checkpoint. `progress`
/// is called after every batch. Rows whose cells could not be read (a
/// number that is not a number, a date in no known format) are reported
/// with the rule failures of the same row.
///
/// `source` names what is read (a resumed run must read the same source);
/// `bytes_total` is its size when known, for progress.
pub async fn import_customers<R: Read + Send>(
    crm: &Crm,
    reader: R,
    source: String,
    bytes_total: Option<u64>,
    options: &ImportFileOptions,
    mut progress: impl FnMut(&ImportProgress<'_>) + Send,
) -> Result<ImportSummary, ImportError> {
    let mut csv = CustomerCsvReader::new(reader, &options.csv)?;
    let mut import = crm
        .customers()
        .start_import(ImportOptions {
            on_duplicate: options.on_duplicate,
            dry_run: options.dry_run,
            run_id: options.run_id.clone(),
            source,
        })
        .await?;
    import.set_bytes_total(bytes_total);
    let mut summary = ImportSummary {
        run_id: options.run_id.clone(),
        dry_run: options.dry_run,
        resumed_after: import.resume_after(),
        already_done: import.is_finished(),
        totals: import.totals(),
        issues: Vec::new(),
        issues_truncated: false,
        mapping: csv
            .mapping()
            .iter()
            .map(|(header, column)| (header.clone(), column.field().to_string()))
            .collect(),
        ignored_columns: csv.ignored_columns().to_vec(),
        report: options.report.clone(),
    };
    if summary.already_done {
        return Ok(summary);
    }
    let result = run(
        &mut csv,
        &mut import,
        bytes_total,
        options,
        &mut summary,
        &mut progress,
    )
    .await;
    match result {
        Ok(()) => {
            summary.totals = import.finish().await?;
            Ok(summary)
        }
        Err(e) => {
            // Best effort: the run stays resumable from its checkpoint
            // whether or not the failure could be recorded.
            let _ = import.fail(e.to_string()).await;
            Err(e)
        }
    }
}

async fn run<R: Read>(
    csv: &mut CustomerCsvReader<R>,
    import: &mut CustomerImport,
    bytes_total: Option<u64>,
    options: &ImportFileOptions,
    summary: &mut ImportSummary,
    progress: &mut (impl FnMut(&ImportProgress<'_>) + Send),
) -> Result<(), ImportError> {
    let batch_size = options
        .batch_size
        .unwrap_or(DEFAULT_BATCH)
        .clamp(1, crm_core::MAX_IMPORT_BATCH);
    let mut report = match &options.report {
        Some(path) => Some(open_report(
            path,
            csv.headers(),
            import.is_resumed() && path.exists(),
        )?),
        None => None,
    };
    // A resumed run reads the rows it has done again, only to know their
    // emails and phones (a later row repeating one is a duplicate).
    let resume_after = import.resume_after();
    let mut pending: Vec<ParsedCustomer> = Vec::new();
    if resume_after > 0 {
        loop {
            let rows = csv.next_batch(batch_size)?;
            if rows.is_empty() {
                break;
            }
            let (done, rest): (Vec<_>, Vec<_>) =
                rows.into_iter().partition(|r| r.line <= resume_after);
            import.replay(done.into_iter().map(to_row).collect());
            if !rest.is_empty() {
                pending = rest;
                break;
            }
        }
    }
    loop {
        let mut rows = std::mem::take(&mut pending);
        if rows.len() < batch_size {
            rows.extend(csv.next_batch(batch_size - rows.len())?);
        }
        if rows.is_empty() {
            return Ok(());
        }
        let through_line = csv.position();
        let bytes_read = csv.bytes_read();
        let mut records: HashMap<u64, Vec<String>> = HashMap::new();
        let mut batch = Vec::with_capacity(rows.len());
        for parsed in rows {
            records.insert(parsed.line, parsed.record.clone());
            batch.push(to_row(parsed));
        }
        let outcome = import.apply(batch, through_line, bytes_read).await?;
        if let (Some(writer), Some(path)) = (report.as_mut(), options.report.as_ref()) {
            for i in &outcome.issues {
                let record = records.get(&i.line).map_or(&[][..], Vec::as_slice);
                writer
                    .write(
                        i.line,
                        i.status.as_str(),
                        &i.field,
                        &i.rule,
                        &i.message,
                        i.existing_code.as_deref(),
                        record,
                    )
                    .map_err(|e| report_error(path, e))?;
            }
            writer.flush().map_err(|e| report_error(path, e))?;
        }
        for i in &outcome.issues {
            if summary.issues.len() < MAX_LISTED_ISSUES {
                summary.issues.push(i.clone());
            } else {
                summary.issues_truncated = true;
            }
        }
        summary.totals = outcome.totals;
        progress(&ImportProgress {
            totals: outcome.totals,
            bytes_read,
            bytes_total,
            batch: &outcome,
        });
    }
}

fn to_row(parsed: ParsedCustomer) -> ImportRow {
    ImportRow {
        line: parsed.line,
        input: parsed.input,
        errors: parsed.errors,
    }
}

fn open_report(
    path: &Path,
    headers: &[String],
    append: bool,
) -> Result<RejectedRowsWriter<BufWriter<File>>, ImportError> {
    let io = |source| ImportError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = if append {
        std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(io)?
    } else {
        File::create(path).map_err(io)?
    };
    RejectedRowsWriter::with_header(BufWriter::new(file), headers, !append)
        .map_err(|e| report_error(path, e))
}

fn report_error(path: &Path, e: impl std::fmt::Display) -> ImportError {
    ImportError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(e.to_string()),
    }
}
