//! Customer CSV files in and out, through `crm-csv`: what
//! `Customers.import_csv`, `Customers.export_csv` and
//! `Analytics.export_scores_csv` read from Python (a path or a pandas
//! DataFrame, the options), and their errors as Python exceptions. Every
//! rule (the columns, the rows, duplicates) is `crm-csv`'s and `crm-core`'s.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use crm_core::DuplicatePolicy;
use crm_csv::customers::{CsvError, CustomerColumn, CustomerCsvOptions};
use crm_csv::export::ExportError;
use crm_csv::import::{ImportError, ImportFileOptions, ImportSummary};
use pyo3::exceptions::{PyOSError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyMapping};

use crate::error::{IntoPyResult, to_py_err};

/// What an import reads: a file, or the CSV text of a DataFrame.
pub(crate) enum ImportSource {
    /// A CSV file.
    File(PathBuf),
    /// A DataFrame written as CSV (comma-separated, with its header).
    Frame {
        /// The CSV text.
        csv: Vec<u8>,
        /// The source a resumed run must match (`DataFrame (N rows)`).
        name: String,
    },
}

impl ImportSource {
    /// A path (`str` or `os.PathLike`) or a pandas DataFrame.
    pub(crate) fn read(source: &Bound<'_, PyAny>) -> PyResult<Self> {
        if is_dataframe(source)? {
            let kwargs = PyDict::new(source.py());
            kwargs.set_item("index", false)?;
            let text: String = source.call_method("to_csv", (), Some(&kwargs))?.extract()?;
            let rows = source.len()?;
            return Ok(Self::Frame {
                csv: text.into_bytes(),
                name: format!("DataFrame ({rows} rows)"),
            });
        }
        source.extract::<PathBuf>().map(Self::File).map_err(|_| {
            let kind = source
                .get_type()
                .name()
                .map_or_else(|_| "?".to_string(), |n| n.to_string());
            PyTypeError::new_err(format!(
                "source must be a path (str or os.PathLike) or a pandas DataFrame, not {kind}"
            ))
        })
    }

    /// Imports it with `options` (a DataFrame is always comma-separated).
    pub(crate) async fn import(
        self,
        crm: &crm_core::Crm,
        mut options: ImportFileOptions,
    ) -> PyResult<ImportSummary> {
        let result = match self {
            Self::File(path) => {
                crm_csv::import::import_customers_file(crm, &path, &options, |_| {}).await
            }
            Self::Frame { csv, name } => {
                options.csv.delimiter = Some(b',');
                let size = csv.len() as u64;
                crm_csv::import::import_customers(
                    crm,
                    csv.as_slice(),
                    name,
                    Some(size),
                    &options,
                    |_| {},
                )
                .await
            }
        };
        result.map_err(import_error)
    }
}

/// Whether `value` is a pandas DataFrame (without importing pandas: if it
/// is not imported, nothing is a DataFrame).
fn is_dataframe(value: &Bound<'_, PyAny>) -> PyResult<bool> {
    let py = value.py();
    let modules = py.import("sys")?.getattr("modules")?;
    let pandas = modules.call_method1("get", ("pandas",))?;
    if pandas.is_none() {
        return Ok(false);
    }
    value.is_instance(&pandas.getattr("DataFrame")?)
}

/// The options of `import_csv`'s keyword arguments, read by the core's and
/// `crm-csv`'s own parsers (a bad value is a `ValidationError` naming the
/// argument).
#[allow(clippy::too_many_arguments)]
pub(crate) fn import_options(
    on_duplicate: &str,
    dry_run: bool,
    run_id: Option<String>,
    report: Option<PathBuf>,
    mapping: Option<&Bound<'_, PyAny>>,
    delimiter: Option<String>,
    batch_size: Option<usize>,
) -> PyResult<ImportFileOptions> {
    let on_duplicate: DuplicatePolicy = on_duplicate.parse().py()?;
    Ok(ImportFileOptions {
        csv: CustomerCsvOptions {
            delimiter: delimiter.as_deref().map(read_delimiter).transpose()?,
            mapping: mapping.map(read_mapping).transpose()?.unwrap_or_default(),
        },
        on_duplicate,
        dry_run,
        run_id,
        batch_size,
        report,
    })
}

/// A one-character ASCII delimiter (`","`, `";"`, `"\t"`).
fn read_delimiter(d: &str) -> PyResult<u8> {
    match d.as_bytes() {
        [b] if b.is_ascii() && !matches!(b, b'"' | b'\n' | b'\r') => Ok(*b),
        _ => Err(crm_core::Error::invalid(
            "delimiter",
            "one_of",
            format!(
                "delimiter must be one ASCII character such as \",\", \";\" or \"\\t\", not {d:?}"
            ),
        ))
        .py(),
    }
}

/// `{header: field}` pairs, fields named as in `crm-core`
/// (`name`, `email`, `address.city` ...).
fn read_mapping(mapping: &Bound<'_, PyAny>) -> PyResult<Vec<(String, CustomerColumn)>> {
    let mapping = mapping
        .cast::<PyMapping>()
        .map_err(|_| PyTypeError::new_err("mapping must be a dict of {header: field}"))?;
    let mut out = Vec::new();
    for item in mapping.items()?.iter() {
        let (header, field): (String, String) = item.extract()?;
        let column = CustomerColumn::parse(&field)
            .ok_or_else(|| {
                let known = CustomerColumn::ALL
                    .iter()
                    .map(|c| c.field())
                    .collect::<Vec<_>>()
                    .join(", ");
                crm_core::Error::invalid(
                    format!("mapping.{header}"),
                    "one_of",
                    format!("unknown customer field {field:?} (one of {known})"),
                )
            })
            .py()?;
        out.push((header, column));
    }
    Ok(out)
}

/// The rule of a whole-file problem, in a `ValidationError` on the field
/// `file` (or `mapping`, for a mapping that does not fit the file).
fn csv_rule(e: &CsvError) -> (&'static str, &'static str) {
    match e {
        CsvError::NoHeader => ("file", "no_header"),
        CsvError::MissingNameColumn { .. } => ("file", "missing_name_column"),
        CsvError::DuplicateColumn { .. } => ("file", "duplicate_column"),
        CsvError::UnknownMappedHeader { .. } => ("mapping", "unknown_header"),
        CsvError::ConflictingMapping { .. } => ("mapping", "conflicting_mapping"),
        _ => ("file", "malformed"),
    }
}

/// An import error as a Python exception: a file that cannot be read as a
/// customer CSV is a `ValidationError`, a refusal of the CRM its own
/// exception, a file that cannot be opened or written an `OSError`
/// (`FileNotFoundError`, ...).
pub(crate) fn import_error(e: ImportError) -> PyErr {
    match e {
        ImportError::Csv(CsvError::Io(io)) => PyErr::from(io),
        ImportError::Csv(csv) => {
            let (field, rule) = csv_rule(&csv);
            to_py_err(crm_core::Error::invalid(field, rule, csv.to_string()))
        }
        ImportError::Crm(e) => to_py_err(e),
        ImportError::Io { path, source } => io_error(&path, &source),
    }
}

/// An `OSError` of the right subclass naming the file.
fn io_error(path: &Path, e: &std::io::Error) -> PyErr {
    PyErr::from(std::io::Error::new(
        e.kind(),
        format!("{}: {e}", path.display()),
    ))
}

/// A file being exported: written beside its final name and renamed when
/// complete, so a failed export leaves no partial file (and an existing
/// file is replaced only by a complete one).
pub(crate) struct ExportFile {
    path: PathBuf,
    partial: PathBuf,
    done: bool,
}

impl ExportFile {
    /// Creates `<path>.partial` to write into.
    pub(crate) fn create(path: PathBuf) -> PyResult<(Self, BufWriter<File>)> {
        let mut partial = path.clone().into_os_string();
        partial.push(".partial");
        let partial = PathBuf::from(partial);
        let file = File::create(&partial).map_err(|e| io_error(&partial, &e))?;
        let this = Self {
            path,
            partial,
            done: false,
        };
        Ok((this, BufWriter::new(file)))
    }

    /// Renames the complete file into place, or removes it on an error.
    pub(crate) fn finish(mut self, result: Result<u64, ExportError>) -> PyResult<u64> {
        let written = result.map_err(|e| match e {
            ExportError::Crm(e) => to_py_err(e),
            ExportError::Write(message) => {
                PyOSError::new_err(format!("{}: {message}", self.path.display()))
            }
        })?;
        std::fs::rename(&self.partial, &self.path).map_err(|e| io_error(&self.path, &e))?;
        self.done = true;
        Ok(written)
    }
}

impl Drop for ExportFile {
    fn drop(&mut self) {
        if !self.done {
            // Best effort: an export that failed or was interrupted.
            let _ = std::fs::remove_file(&self.partial);
        }
    }
}
