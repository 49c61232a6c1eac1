//! Customer CSV files (`customers.importCsv`, `customers.exportCsv`): the
//! options object as `crm-csv`'s options, its summary as the Node types,
//! its errors as the SDK's. Every rule (what a valid row is, what a
//! duplicate is, how a file is read) is `crm-csv`'s and `crm-core`'s.
//!
//! A problem with the whole file (no header, no name column, two columns
//! for one field, a mapping that does not fit) rejects with a `validation`
//! error on `path` (or `mapping`); a file that does not exist with
//! `not_found`.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use crm_core::json::JsonFields;
use crm_core::{CustomerQuery, DuplicatePolicy, Error, FieldErrors, Result};
use crm_csv::customers::{CsvError, CustomerColumn, CustomerCsvOptions};
use crm_csv::export::ExportError;
use crm_csv::import::{ImportError, ImportFileOptions, ImportSummary};
use serde_json::Value;

use crate::convert::{camel_case, js_to_core, out, snake_case};
use crate::types;

/// The options object of `importCsv` (camelCase keys) as `crm-csv`'s
/// options; every failing option is reported at once.
pub fn import_options(options: Option<Value>) -> Result<ImportFileOptions> {
    let mut options = match options {
        None | Some(Value::Null) => return Ok(ImportFileOptions::default()),
        Some(Value::Object(map)) => map,
        Some(_) => {
            return Err(Error::invalid(
                "options",
                "type",
                "options must be an object",
            ));
        }
    };
    // Header names are the caller's text: taken out before the keys are
    // turned into snake_case.
    let mapping = options.remove("mapping");
    let mut r = JsonFields::new(js_to_core(Value::Object(options))?)?;
    let on_duplicate: Option<String> = r.optional("on_duplicate", "'skip', 'update' or 'report'");
    let dry_run: Option<bool> = r.optional("dry_run", "a boolean");
    let run_id: Option<String> = r.optional("run_id", "a string");
    let report: Option<String> = r.optional("report", "a file path");
    let delimiter: Option<String> = r.optional("delimiter", "one character");
    let batch_size: Option<usize> = r.optional("batch_size", "a whole number from 1");
    let mut errors = r.finish_into("importCsv options");
    let on_duplicate = on_duplicate
        .map(|p| errors.check("", p.parse::<DuplicatePolicy>()))
        .unwrap_or(Some(DuplicatePolicy::default()));
    let delimiter = delimiter.and_then(|d| read_delimiter(&d, &mut errors));
    let mapping = read_mapping(mapping, &mut errors);
    errors.finish()?;
    Ok(ImportFileOptions {
        csv: CustomerCsvOptions { delimiter, mapping },
        on_duplicate: on_duplicate.unwrap_or_default(),
        dry_run: dry_run.unwrap_or(false),
        run_id,
        batch_size,
        report: report.map(PathBuf::from),
    })
}

/// One ASCII character that can separate CSV fields.
fn read_delimiter(d: &str, errors: &mut FieldErrors) -> Option<u8> {
    match d.as_bytes() {
        [b] if b.is_ascii() && !b.is_ascii_alphanumeric() && !matches!(b, b'"' | b'\n' | b'\r') => {
            Some(*b)
        }
        _ => {
            errors.push(
                "delimiter",
                "one_of",
                format!(
                    "delimiter must be one character such as ',', ';' or '\\t' (not a letter, \
                     a digit, a quote or a line break), not {d:?}"
                ),
            );
            None
        }
    }
}

/// `{ header: field }`; a field is named as in `crm-core` (`address.city`,
/// `credit_limit`) or in camelCase (`creditLimit`, `address.postalCode`).
fn read_mapping(mapping: Option<Value>, errors: &mut FieldErrors) -> Vec<(String, CustomerColumn)> {
    let map = match mapping {
        None | Some(Value::Null) => return Vec::new(),
        Some(Value::Object(map)) => map,
        Some(_) => {
            errors.push(
                "mapping",
                "type",
                "mapping must be an object of header: field pairs",
            );
            return Vec::new();
        }
    };
    let mut out = Vec::with_capacity(map.len());
    for (header, field) in map {
        let column = match &field {
            Value::String(f) => {
                CustomerColumn::parse(f).or_else(|| CustomerColumn::parse(&snake_case(f.trim())))
            }
            _ => None,
        };
        match column {
            Some(c) => out.push((header, c)),
            None => errors.push(
                "mapping",
                "one_of",
                format!(
                    "mapping {header:?}: {field} is not a customer field (name, email, phone, \
                     customerType, creditLimit, address.line1, address.line2, address.city, \
                     address.province, address.postalCode, address.country, birthday, tags)"
                ),
            ),
        }
    }
    out
}

/// An import failure as the SDK error: a whole-file problem is a
/// `validation` error on `path` (`mapping` for a mapping that does not fit
/// the file); the report file's problems are on `report`.
pub fn import_error(err: ImportError, path: &Path, report: Option<&Path>) -> Error {
    match err {
        ImportError::Crm(e) => e,
        ImportError::Io { path: at, source } => {
            let field = if report == Some(at.as_path()) && at != path {
                "report"
            } else {
                "path"
            };
            file_error(field, &at, &source)
        }
        ImportError::Csv(e) => csv_error(e, path),
    }
}

fn csv_error(err: CsvError, path: &Path) -> Error {
    let message = err.to_string();
    let (field, rule) = match &err {
        CsvError::Io(io) => return file_error("path", path, io),
        CsvError::NoHeader => ("path", "no_header"),
        CsvError::MissingNameColumn { .. } => ("path", "missing_name_column"),
        CsvError::DuplicateColumn { .. } => ("path", "duplicate_column"),
        CsvError::Malformed { .. } => ("path", "malformed"),
        CsvError::UnknownMappedHeader { .. } => ("mapping", "unknown_header"),
        CsvError::ConflictingMapping { .. } => ("mapping", "conflicting_mapping"),
        _ => ("path", "csv"),
    };
    Error::invalid(field, rule, message)
}

/// A file that cannot be opened, read or written: `not_found` when it (or
/// its directory) does not exist, otherwise a `validation` error on
/// `field`.
fn file_error(field: &str, path: &Path, err: &std::io::Error) -> Error {
    if err.kind() == std::io::ErrorKind::NotFound {
        return Error::NotFound {
            entity: "file",
            id: path.display().to_string(),
        };
    }
    Error::invalid(field, "file", format!("{}: {err}", path.display()))
}

/// An import summary as the Node type: counts as numbers, field names in
/// camelCase.
pub fn summary(summary: ImportSummary) -> Result<types::ImportSummary> {
    // Every field named: a field added in crm-csv fails to compile here
    // until the Node type has it too.
    let ImportSummary {
        run_id,
        dry_run,
        resumed_after,
        already_done,
        totals,
        issues,
        issues_truncated,
        mapping,
        ignored_columns,
        report,
    } = summary;
    let issues = issues
        .into_iter()
        .map(|issue| {
            let mut issue: types::RowIssue = out(issue)?;
            issue.field = camel_case(&issue.field);
            Ok(issue)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(types::ImportSummary {
        run_id,
        dry_run,
        resumed_after: out(resumed_after)?,
        already_done,
        totals: out(totals)?,
        issues,
        issues_truncated,
        mapping: mapping
            .into_iter()
            .map(|(header, field)| types::ColumnMapping {
                header,
                field: camel_case(&field),
            })
            .collect(),
        ignored_columns,
        report: report.map(|p| p.display().to_string()),
    })
}

/// Writes the customers matching `query` to the CSV file `path`: written
/// beside it first and renamed when complete, so a failed export leaves no
/// partial file (and an earlier file at `path` as it was). Returns how many
/// customers were written.
pub async fn export_file(crm: &crm_core::Crm, query: CustomerQuery, path: &Path) -> Result<i64> {
    let mut name = path.file_name().map(|n| n.to_os_string()).ok_or_else(|| {
        Error::invalid(
            "path",
            "file",
            format!("{} does not name a file", path.display()),
        )
    })?;
    name.push(".partial");
    let partial = path.with_file_name(name);
    let file = File::create(&partial).map_err(|e| file_error("path", &partial, &e))?;
    let written = crm_csv::export::export_customers(crm, query, BufWriter::new(file)).await;
    let done = written.map_err(|e| match e {
        ExportError::Crm(e) => e,
        ExportError::Write(message) => {
            Error::storage_msg(format!("{}: {message}", partial.display()))
        }
    });
    let done = done.and_then(|n| {
        std::fs::rename(&partial, path).map_err(|e| file_error("path", path, &e))?;
        out(n)
    });
    if done.is_err() {
        // Best effort: the error says what went wrong either way.
        let _ = std::fs::remove_file(&partial);
    }
    done
}
