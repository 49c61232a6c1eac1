//! Customer CSV files in and out over HTTP: import jobs (a multipart upload
//! streamed to disk, then imported in the background by `crm-csv`, with a
//! rejected-rows report) and the streamed customer export.
//!
//! Every rule (what a valid row is, what a duplicate is, what the policy
//! does, how a run is stored) is `crm-core`'s; reading and writing the CSV
//! is `crm-csv`'s. This module moves bytes and reports progress.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Body;
use axum::extract::multipart::{Field, MultipartError, MultipartRejection};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Multipart, Path as UrlPath, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use crm_core::users::Role;
use crm_core::{
    CustomerQuery, DuplicatePolicy, ErrorCode, ImportRun, ImportStatus, ImportTotals, RowIssue,
};
use crm_csv::customers::{CsvError, CustomerColumn, CustomerCsvOptions, CustomerCsvReader};
use crm_csv::export::{CustomerCsvChunks, ExportError};
use crm_csv::import::{ImportError, ImportFileOptions, ImportProgress, ImportSummary};
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ok};
use crate::openapi::{E401, E403, E404, E422, E500, Envelope, ErrorEnvelope};

type St = State<Arc<AppState>>;
type ApiResult = Result<Response, ApiError>;

/// Who may import and export customer files (admin always may).
const MANAGERS: &[Role] = &[Role::Manager];

/// Default largest upload: 1 GiB (`CRM_IMPORT_MAX_BYTES`).
pub const DEFAULT_MAX_BYTES: u64 = 1 << 30;

/// Issues kept per job in memory and answered by `GET /api/imports/{id}`
/// (the rejected-rows report has every one).
pub const MAX_JOB_ISSUES: usize = 1_000;

/// Jobs this process remembers at most; past it, the oldest finished job
/// (and its report file) is forgotten.
pub const MAX_JOBS: usize = 1_000;

/// Longest an upload request may take (the server's usual request
/// deadline is far shorter than sending a large file takes).
pub const UPLOAD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3_600);

/// Largest text part (`on_duplicate`, `dry_run`, `mapping`) of an upload.
const MAX_TEXT_PART: usize = 64 * 1024;

/// Whether `req` is an upload to `POST /api/imports`: its body is limited by
/// [`ImportJobs::max_bytes`] instead of the server's body limit, and its
/// deadline is [`UPLOAD_TIMEOUT`].
pub fn is_upload<B>(req: &axum::http::Request<B>) -> bool {
    req.method() == axum::http::Method::POST && req.uri().path() == "/api/imports"
}

/// The import jobs this process runs: where uploads go, how large they may
/// be, and each job's state (in memory only; a run started on another
/// server is read from the database).
#[derive(Debug)]
pub struct ImportJobs {
    dir: PathBuf,
    max_bytes: u64,
    jobs: Mutex<HashMap<String, Job>>,
    seq: AtomicU64,
}

impl Default for ImportJobs {
    fn default() -> Self {
        Self::from_env()
    }
}

impl ImportJobs {
    /// Jobs whose uploads and reports go to `dir`, uploads at most
    /// `max_bytes` long.
    pub fn new(dir: PathBuf, max_bytes: u64) -> Self {
        Self {
            dir,
            max_bytes: max_bytes.max(1),
            jobs: Mutex::default(),
            seq: AtomicU64::new(0),
        }
    }

    /// From `CRM_IMPORT_DIR` (default `<temp>/crm-imports`) and
    /// `CRM_IMPORT_MAX_BYTES` (default [`DEFAULT_MAX_BYTES`]).
    pub fn from_env() -> Self {
        let dir = std::env::var_os("CRM_IMPORT_DIR")
            .filter(|d| !d.is_empty())
            .map_or_else(|| std::env::temp_dir().join("crm-imports"), PathBuf::from);
        let max_bytes = std::env::var("CRM_IMPORT_MAX_BYTES")
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|n| *n > 0)
            .unwrap_or(DEFAULT_MAX_BYTES);
        Self::new(dir, max_bytes)
    }

    /// Where uploads and reports are written.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The largest upload accepted, in bytes.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Job>> {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn insert(&self, id: String, mut job: Job) {
        job.seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let mut jobs = self.lock();
        if jobs.len() >= MAX_JOBS
            && let Some(oldest) = jobs
                .iter()
                .filter(|(_, j)| j.status != ImportStatus::Running)
                .min_by_key(|(_, j)| j.seq)
                .map(|(k, _)| k.clone())
            && let Some(gone) = jobs.remove(&oldest)
            && let Some(report) = gone.report
        {
            let _ = std::fs::remove_file(report);
        }
        jobs.insert(id, job);
    }

    fn get(&self, id: &str) -> Option<Job> {
        self.lock().get(id).cloned()
    }

    fn progress(&self, id: &str, p: &ImportProgress<'_>) {
        let mut jobs = self.lock();
        let Some(job) = jobs.get_mut(id) else {
            return;
        };
        job.totals = p.totals;
        job.bytes_read = p.bytes_read;
        if let Some(total) = p.bytes_total {
            job.bytes_total = total;
        }
        job.updated_at = Utc::now();
        for issue in &p.batch.issues {
            if job.issues.len() < MAX_JOB_ISSUES {
                job.issues.push(issue.clone());
            } else {
                job.issues_truncated = true;
            }
        }
    }

    fn finish(&self, id: &str, result: Result<ImportSummary, ImportError>) {
        let mut jobs = self.lock();
        let Some(job) = jobs.get_mut(id) else {
            return;
        };
        job.updated_at = Utc::now();
        match result {
            Ok(summary) => {
                job.status = ImportStatus::Done;
                job.totals = summary.totals;
                job.bytes_read = job.bytes_total;
                job.mapping = summary.mapping;
                job.ignored_columns = summary.ignored_columns;
                job.issues_truncated =
                    summary.issues_truncated || summary.issues.len() > MAX_JOB_ISSUES;
                job.issues = summary.issues;
                job.issues.truncate(MAX_JOB_ISSUES);
            }
            Err(e) => {
                tracing::warn!(import = %id, error = %e, "import job failed");
                job.status = ImportStatus::Failed;
                job.error = Some(match &e {
                    // The details of a database failure stay in the log.
                    ImportError::Crm(e) if e.code() == ErrorCode::Internal => {
                        "the import stopped on a storage error; see the server log".to_string()
                    }
                    _ => e.to_string(),
                });
            }
        }
    }
}

/// One import job of this process.
#[derive(Debug, Clone)]
struct Job {
    seq: u64,
    status: ImportStatus,
    dry_run: bool,
    on_duplicate: DuplicatePolicy,
    file_name: Option<String>,
    totals: ImportTotals,
    bytes_read: u64,
    bytes_total: u64,
    mapping: Vec<(String, String)>,
    ignored_columns: Vec<String>,
    error: Option<String>,
    issues: Vec<RowIssue>,
    issues_truncated: bool,
    report: Option<PathBuf>,
    started_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// The form of `POST /api/imports` (`multipart/form-data`). The options may
/// also be given as query parameters; a form part wins over the parameter.
#[allow(dead_code)]
#[derive(ToSchema)]
pub(crate) struct ImportUpload {
    /// The customer CSV file (a header line with at least a name column;
    /// comma, semicolon or tab separated; UTF-8).
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
    /// What to do with a row matching a stored customer: `skip` (default),
    /// `update` or `report`.
    #[schema(value_type = Option<String>, nullable = false, pattern = "^(skip|update|report)$")]
    on_duplicate: Option<String>,
    /// `true` to decide every row and write nothing (default `false`).
    #[schema(nullable = false)]
    dry_run: Option<bool>,
    /// Explicit column mapping, one `HEADER=FIELD` per line (`FIELD` is a
    /// customer field: `name`, `email`, `phone`, `customer_type`,
    /// `credit_limit`, `address.line1`, `address.line2`, `address.city`,
    /// `address.province`, `address.postal_code`, `address.country`,
    /// `birthday`, `tags`).
    #[schema(nullable = false)]
    mapping: Option<String>,
}

/// Query parameters of `POST /api/imports` (the same as the form's text
/// parts).
#[allow(dead_code)]
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ImportParams {
    /// `skip` (default), `update` or `report`.
    #[param(pattern = "^(skip|update|report)$")]
    on_duplicate: Option<String>,
    /// `true` to write nothing (default `false`).
    dry_run: Option<bool>,
    /// `HEADER=FIELD` lines (newline separated).
    mapping: Option<String>,
}

/// Counts of an import so far.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct TotalsView {
    /// Rows decided.
    rows: u64,
    /// Customers created (a dry run: that would be created).
    created: u64,
    /// Stored customers changed from a row (policy `update`).
    updated: u64,
    /// Duplicates of stored customers whose row changed nothing (policy `update`).
    unchanged: u64,
    /// Duplicates of stored customers skipped (policy `skip`).
    skipped: u64,
    /// Duplicates of stored customers reported (policy `report`).
    duplicates: u64,
    /// Rows rejected.
    rejected: u64,
    /// The last line done.
    line: u64,
}

impl From<ImportTotals> for TotalsView {
    fn from(t: ImportTotals) -> Self {
        Self {
            rows: t.rows,
            created: t.created,
            updated: t.updated,
            unchanged: t.unchanged,
            skipped: t.skipped,
            duplicates: t.duplicates,
            rejected: t.rejected,
            line: t.line,
        }
    }
}

/// How far an import has read its file.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct ProgressView {
    /// Bytes of the file read so far.
    bytes_read: u64,
    /// The file's size, when known.
    bytes_total: Option<u64>,
    /// `bytes_read` as a percentage of `bytes_total` (0 to 100), when known.
    percent: Option<f64>,
}

/// Which file header went to which customer field.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct MappingView {
    /// The header as in the file.
    header: String,
    /// The customer field (`name`, `address.city` ...).
    field: String,
}

/// A row that was not created, and why (one per failing field).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct IssueView {
    /// The row's line in the file (the header is line 1).
    line: u64,
    /// `rejected`, `skipped` (duplicate of a stored customer, policy
    /// `skip`) or `duplicate` (policy `report`).
    status: String,
    /// The field (`email`, `address.city` ... or `line`).
    field: String,
    /// The rule (`required`, `email`, `duplicate_in_file`, `duplicate` ...).
    rule: String,
    /// A human-readable explanation.
    message: String,
    /// The stored customer the row matches, for duplicates.
    existing_code: Option<String>,
}

impl From<RowIssue> for IssueView {
    fn from(i: RowIssue) -> Self {
        Self {
            line: i.line,
            status: i.status.as_str().to_string(),
            field: i.field,
            rule: i.rule,
            message: i.message,
            existing_code: i.existing_code,
        }
    }
}

/// An import job: its state, counts and progress; when done, its issues
/// and the link to the rejected-rows report.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct ImportJobView {
    /// The job id (`imp-...`), also the import run's id in the database.
    id: String,
    /// `running`, `done` or `failed`.
    #[schema(pattern = "^(running|done|failed)$")]
    status: String,
    /// Whether this server runs the job (`false`: a run another server of
    /// the deployment started, read from the database: status, totals and
    /// bytes only).
    local: bool,
    /// Whether it is a dry run (nothing written).
    dry_run: bool,
    /// The duplicate policy (`skip`, `update`, `report`; local jobs).
    on_duplicate: Option<String>,
    /// The uploaded file's name, or the run's source.
    source: Option<String>,
    /// Counts so far.
    totals: TotalsView,
    /// How far the file has been read.
    progress: ProgressView,
    /// Which header went to which field (once the job is done).
    mapping: Vec<MappingView>,
    /// Headers that map to no field (their cells are not imported).
    ignored_columns: Vec<String>,
    /// Why the job failed.
    error: Option<String>,
    /// The rows not created, and why (at most 1,000; the report has all).
    issues: Vec<IssueView>,
    /// Whether `issues` was cut.
    issues_truncated: bool,
    /// The rejected-rows report (CSV), once the job has ended.
    report_url: Option<String>,
    /// When the job started.
    started_at: DateTime<Utc>,
    /// When it last moved.
    updated_at: DateTime<Utc>,
}

fn percent(read: u64, total: Option<u64>) -> Option<f64> {
    let total = total.filter(|t| *t > 0)?;
    let p = (read.min(total) as f64) * 100.0 / (total as f64);
    Some((p * 10.0).round() / 10.0)
}

fn report_url(id: &str) -> String {
    format!("/api/imports/{id}/rejected.csv")
}

impl ImportJobView {
    fn local(id: &str, job: Job) -> Self {
        let ended = job.status != ImportStatus::Running;
        let has_report = ended && job.report.as_deref().is_some_and(Path::exists);
        Self {
            id: id.to_string(),
            status: job.status.as_str().to_string(),
            local: true,
            dry_run: job.dry_run,
            on_duplicate: Some(job.on_duplicate.as_str().to_string()),
            source: job.file_name,
            totals: job.totals.into(),
            progress: ProgressView {
                bytes_read: job.bytes_read,
                bytes_total: Some(job.bytes_total),
                percent: percent(job.bytes_read, Some(job.bytes_total)),
            },
            mapping: job
                .mapping
                .into_iter()
                .map(|(header, field)| MappingView { header, field })
                .collect(),
            ignored_columns: job.ignored_columns,
            error: job.error,
            issues: job.issues.into_iter().map(IssueView::from).collect(),
            issues_truncated: job.issues_truncated,
            report_url: has_report.then(|| report_url(id)),
            started_at: job.started_at,
            updated_at: job.updated_at,
        }
    }

    fn stored(run: ImportRun) -> Self {
        Self {
            status: run.status.as_str().to_string(),
            local: false,
            dry_run: false,
            on_duplicate: None,
            source: Some(run.source),
            totals: run.totals.into(),
            progress: ProgressView {
                bytes_read: run.bytes_read,
                bytes_total: run.bytes_total,
                percent: percent(run.bytes_read, run.bytes_total),
            },
            mapping: Vec::new(),
            ignored_columns: Vec::new(),
            error: run.message,
            issues: Vec::new(),
            issues_truncated: false,
            report_url: None,
            started_at: run.created_at,
            updated_at: run.updated_at,
            id: run.id,
        }
    }
}

fn invalid(field: &str, rule: &str, message: impl Into<String>) -> ApiError {
    crm_core::Error::invalid(field, rule, message.into()).into()
}

fn multipart_error(e: MultipartError) -> ApiError {
    let code = ErrorCode::for_http_status(e.status().as_u16()).unwrap_or(ErrorCode::BadRequest);
    ApiError::new(code, e.body_text())
}

/// A file that is not a customer CSV, as a 422 on the field `file`.
fn csv_error(e: CsvError) -> ApiError {
    let rule = match &e {
        CsvError::NoHeader => "header",
        CsvError::MissingNameColumn { .. } => "name_column",
        CsvError::DuplicateColumn { .. } => "duplicate_column",
        CsvError::UnknownMappedHeader { .. } | CsvError::ConflictingMapping { .. } => "mapping",
        CsvError::Io(io) => {
            return crm_core::Error::storage_msg(format!("reading the upload: {io}")).into();
        }
        _ => "csv",
    };
    invalid("file", rule, e.to_string())
}

/// Reads `dry_run` (`true`/`false`/`1`/`0`).
fn parse_bool(field: &str, v: &str) -> Result<bool, ApiError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" | "" => Ok(false),
        other => Err(invalid(
            field,
            "boolean",
            format!("{field} must be true or false, not {other:?}"),
        )),
    }
}

/// Reads `HEADER=FIELD` lines (blank lines skipped).
fn parse_mapping(text: &str) -> Result<Vec<(String, CustomerColumn)>, ApiError> {
    let mut mapping = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let Some((header, field)) = line.rsplit_once('=') else {
            return Err(invalid(
                "mapping",
                "format",
                format!("a mapping line is HEADER=FIELD, not {line:?}"),
            ));
        };
        let header = header.trim();
        if header.is_empty() {
            return Err(invalid(
                "mapping",
                "format",
                format!("a mapping line names a header: {line:?}"),
            ));
        }
        let column = CustomerColumn::parse(field).ok_or_else(|| {
            let fields: Vec<&str> = CustomerColumn::ALL.iter().map(|c| c.field()).collect();
            invalid(
                "mapping",
                "one_of",
                format!(
                    "{:?} is not a customer field (one of {})",
                    field.trim(),
                    fields.join(", ")
                ),
            )
        })?;
        mapping.push((header.to_string(), column));
    }
    Ok(mapping)
}

/// What the request asked for, from the query string then the form.
#[derive(Default)]
struct Asked {
    on_duplicate: Option<String>,
    dry_run: Option<String>,
    mapping: Option<String>,
}

impl Asked {
    fn set(&mut self, name: &str, value: String) -> Result<(), ApiError> {
        match name {
            "on_duplicate" => self.on_duplicate = Some(value),
            "dry_run" => self.dry_run = Some(value),
            "mapping" => self.mapping = Some(value),
            other => {
                return Err(invalid(
                    other,
                    "unknown_field",
                    format!("unknown form part or parameter {other:?}"),
                ));
            }
        }
        Ok(())
    }
}

/// Reads a text part, at most [`MAX_TEXT_PART`] bytes.
async fn text_part(mut field: Field<'_>, name: &str) -> Result<String, ApiError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        if bytes.len() + chunk.len() > MAX_TEXT_PART {
            return Err(invalid(
                name,
                "max_length",
                format!("{name} is at most {MAX_TEXT_PART} bytes"),
            ));
        }
        bytes.extend_from_slice(&chunk);
    }
    String::from_utf8(bytes).map_err(|_| invalid(name, "encoding", format!("{name} is not UTF-8")))
}

/// Removes the upload when dropped, unless kept.
struct Upload {
    path: PathBuf,
    keep: bool,
}

impl Drop for Upload {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Streams the `file` part to `path`; at most `max` bytes.
async fn save_file(mut field: Field<'_>, path: &Path, max: u64) -> Result<u64, ApiError> {
    use tokio::io::AsyncWriteExt;
    let storage = |what: &str, e: std::io::Error| -> ApiError {
        crm_core::Error::storage_msg(format!("{what} {}: {e}", path.display())).into()
    };
    let mut file = tokio::fs::File::create(path)
        .await
        .map_err(|e| storage("cannot create the upload", e))?;
    let mut written = 0u64;
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        written += chunk.len() as u64;
        if written > max {
            return Err(ApiError::new(
                ErrorCode::PayloadTooLarge,
                format!(
                    "the file is larger than the import limit of {max} bytes (CRM_IMPORT_MAX_BYTES)"
                ),
            ));
        }
        file.write_all(&chunk)
            .await
            .map_err(|e| storage("cannot write the upload", e))?;
    }
    file.flush()
        .await
        .map_err(|e| storage("cannot write the upload", e))?;
    Ok(written)
}

/// Start importing a customer CSV file. The upload is streamed to disk
/// (at most `CRM_IMPORT_MAX_BYTES`, default 1 GiB), its header checked,
/// and the import runs in the background: poll `Location`
/// (`GET /api/imports/{id}`). Rows are decided by the SDK's rules; rows
/// matching a stored customer follow `on_duplicate`. A dry run writes no
/// customer. Roles: manager.
#[utoipa::path(post, path = "/api/imports", tag = "customers", security(("bearer" = [])),
    params(ImportParams),
    request_body(content = ImportUpload, content_type = "multipart/form-data"),
    responses(
        (status = 202, description = "Started; `Location` is the job", body = Envelope<ImportJobView>,
            headers(("Location" = String, description = "`/api/imports/{id}`"))),
        (status = 400, description = "Not a valid multipart body (`bad_request`)", body = ErrorEnvelope),
        E401, E403,
        (status = 413, description = "The file is over `CRM_IMPORT_MAX_BYTES` (`payload_too_large`)", body = ErrorEnvelope),
        (status = 415, description = "Not `multipart/form-data` (`unsupported_media_type`)", body = ErrorEnvelope),
        E422, E500
    )
)]
pub(crate) async fn start_import(
    State(s): St,
    caller: Caller,
    params: Result<Query<Vec<(String, String)>>, QueryRejection>,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult {
    caller.require(MANAGERS)?;
    let Query(params) = params?;
    let mut asked = Asked::default();
    for (name, value) in params {
        asked.set(&name, value)?;
    }
    let mut multipart = multipart.map_err(|r| {
        let code = ErrorCode::for_http_status(r.status().as_u16()).unwrap_or(ErrorCode::BadRequest);
        ApiError::new(code, r.body_text())
    })?;
    let jobs = &s.imports;
    tokio::fs::create_dir_all(jobs.dir()).await.map_err(|e| {
        ApiError::from(crm_core::Error::storage_msg(format!(
            "cannot create the import directory {}: {e}",
            jobs.dir().display()
        )))
    })?;
    let id = format!("imp-{}", uuid::Uuid::new_v4().simple());
    let mut upload: Option<(Upload, u64, Option<String>)> = None;
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or_default().to_string();
        if name == "file" {
            if upload.is_some() {
                return Err(invalid("file", "one_file", "send one file per import"));
            }
            let file_name = field.file_name().map(str::to_string);
            let saved = Upload {
                path: jobs.dir().join(format!("{id}.csv")),
                keep: false,
            };
            let size = save_file(field, &saved.path, jobs.max_bytes()).await?;
            upload = Some((saved, size, file_name));
        } else {
            let value = text_part(field, &name).await?;
            asked.set(&name, value)?;
        }
    }
    let Some((mut saved, size, file_name)) = upload else {
        return Err(invalid(
            "file",
            "required",
            "send the CSV file as the form part named file",
        ));
    };
    let on_duplicate: DuplicatePolicy = match asked.on_duplicate.as_deref().map(str::trim) {
        None | Some("") => DuplicatePolicy::Skip,
        Some(v) => v.parse()?,
    };
    let dry_run = match &asked.dry_run {
        Some(v) => parse_bool("dry_run", v)?,
        None => false,
    };
    let mapping = match &asked.mapping {
        Some(v) => parse_mapping(v)?,
        None => Vec::new(),
    };
    let csv = CustomerCsvOptions {
        mapping,
        ..CustomerCsvOptions::default()
    };
    // Not a customer CSV (no header, no name column, a mapping that does
    // not fit): refused now rather than as a failed job.
    let check = {
        let path = saved.path.clone();
        let csv = csv.clone();
        tokio::task::spawn_blocking(move || {
            let file = std::fs::File::open(&path)?;
            CustomerCsvReader::new(std::io::BufReader::new(file), &csv).map(|_| ())
        })
        .await
        .map_err(|e| crm_core::Error::storage_msg(format!("checking the upload: {e}")))?
    };
    check.map_err(csv_error)?;

    let report = jobs.dir().join(format!("{id}.rejected.csv"));
    let now = Utc::now();
    let job = Job {
        seq: 0,
        status: ImportStatus::Running,
        dry_run,
        on_duplicate,
        file_name,
        totals: ImportTotals::default(),
        bytes_read: 0,
        bytes_total: size,
        mapping: Vec::new(),
        ignored_columns: Vec::new(),
        error: None,
        issues: Vec::new(),
        issues_truncated: false,
        report: Some(report.clone()),
        started_at: now,
        updated_at: now,
    };
    jobs.insert(id.clone(), job.clone());
    saved.keep = true;
    let options = ImportFileOptions {
        csv,
        on_duplicate,
        dry_run,
        run_id: Some(id.clone()),
        report: Some(report),
        ..ImportFileOptions::default()
    };
    let crm = caller.crm(&s);
    let state = s.clone();
    let task_id = id.clone();
    let path = saved.path.clone();
    tokio::spawn(async move {
        let result = crm_csv::import::import_customers_file(&crm, &path, &options, |p| {
            state.imports.progress(&task_id, p)
        })
        .await;
        state.imports.finish(&task_id, result);
        // A run that creates customers wakes the event relays, as a
        // write request does.
        state.events.written();
        let _ = tokio::fs::remove_file(&path).await;
    });
    let mut res = ok(StatusCode::ACCEPTED, ImportJobView::local(&id, job));
    if let Ok(location) = HeaderValue::from_str(&format!("/api/imports/{id}")) {
        res.headers_mut().insert(header::LOCATION, location);
    }
    Ok(res)
}

/// An import job: state, counts and progress; when done, the issues (at
/// most 1,000) and the link to the rejected-rows report. A job another
/// server of the deployment runs is read from the database (state, counts,
/// bytes). Dry runs are known only to the server that runs them. Roles:
/// manager.
#[utoipa::path(get, path = "/api/imports/{id}", tag = "customers", security(("bearer" = [])),
    params(("id" = String, Path, description = "Job id (`imp-...`)", max_length = 100)),
    responses(
        (status = 200, description = "The job", body = Envelope<ImportJobView>),
        E401, E403, E404, E500
    )
)]
pub(crate) async fn get_import(
    State(s): St,
    caller: Caller,
    UrlPath(id): UrlPath<String>,
) -> ApiResult {
    caller.require(MANAGERS)?;
    if let Some(job) = s.imports.get(&id) {
        return Ok(ok(StatusCode::OK, ImportJobView::local(&id, job)));
    }
    if id.trim().is_empty() || id.chars().count() > 100 {
        return Err(not_found(&id));
    }
    let run = s.crm.customers().import_run(id).await?;
    if run.kind != "customers" {
        return Err(not_found(&run.id));
    }
    Ok(ok(StatusCode::OK, ImportJobView::stored(run)))
}

fn not_found(id: &str) -> ApiError {
    ApiError::from(crm_core::Error::NotFound {
        entity: "import job",
        id: id.to_string(),
    })
}

/// Reads `file` as a body stream, 64 KiB at a time.
fn file_body(file: tokio::fs::File) -> Body {
    use tokio::io::AsyncReadExt;
    let stream = futures_util::stream::try_unfold(file, |mut file| async move {
        let mut buf = vec![0u8; 64 * 1024];
        let n = file.read(&mut buf).await?;
        if n == 0 {
            return Ok::<_, std::io::Error>(None);
        }
        buf.truncate(n);
        Ok(Some((buf, file)))
    });
    Body::from_stream(stream)
}

fn csv_response(body: Body, filename: Option<&str>) -> Response {
    let mut res = (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/csv; charset=utf-8"),
        )],
        body,
    )
        .into_response();
    if let Some(name) = filename
        && let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\""))
    {
        res.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    res
}

/// The rejected-rows report of an import job this server ran: every row
/// not created with its line, status, field, rule and message, then the
/// row's original cells. Roles: manager.
#[utoipa::path(get, path = "/api/imports/{id}/rejected.csv", tag = "customers", security(("bearer" = [])),
    params(("id" = String, Path, description = "Job id (`imp-...`)", max_length = 100)),
    responses(
        (status = 200, description = "The report (CSV)", content_type = "text/csv", body = String),
        E401, E403,
        (status = 404, description = "No such job on this server, or no report (`not_found`)", body = ErrorEnvelope),
        (status = 409, description = "The job is still running (`conflict`)", body = ErrorEnvelope),
        E500
    )
)]
pub(crate) async fn rejected_csv(
    State(s): St,
    caller: Caller,
    UrlPath(id): UrlPath<String>,
) -> ApiResult {
    caller.require(MANAGERS)?;
    let job = s.imports.get(&id).ok_or_else(|| not_found(&id))?;
    if job.status == ImportStatus::Running {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "the import is still running; its report is ready when it ends",
        ));
    }
    let path = job.report.ok_or_else(|| not_found(&id))?;
    let file = match tokio::fs::File::open(&path).await {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(not_found(&id)),
        Err(e) => {
            return Err(crm_core::Error::storage_msg(format!(
                "cannot open the report {}: {e}",
                path.display()
            ))
            .into());
        }
    };
    Ok(csv_response(
        file_body(file),
        Some(&format!("{id}.rejected.csv")),
    ))
}

/// Query of `GET /api/customers/export.csv`: the listing's filters, no
/// paging.
#[allow(dead_code)]
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ExportParams {
    /// Customer type (any case).
    #[param(rename = "type")]
    customer_type: Option<crm_core::CustomerType>,
    /// `true` or `1` (default: active customers only), `false` or `0`
    /// (deactivated only) or `all`.
    active: Option<crate::routes::ActiveParam>,
    /// The same filter by name: `active` (default), `inactive` or `all`.
    status: Option<crm_core::ActivityFilter>,
    /// Customers with this tag.
    tag: Option<String>,
    /// Search: name prefix, customer code prefix, exact email, or phone.
    q: Option<String>,
    /// Sort key (default `id`).
    sort: Option<crm_core::CustomerSort>,
    /// Sort direction (default `asc`).
    direction: Option<crm_core::SortDirection>,
    /// Customers the last analytics fit placed in this segment.
    segment: Option<crm_core::analytics::RfmSegment>,
    /// Created at or after (RFC 3339).
    created_from: Option<DateTime<Utc>>,
    /// Created before (RFC 3339).
    created_to: Option<DateTime<Utc>>,
}

fn export_error(e: ExportError) -> ApiError {
    match e {
        ExportError::Crm(e) => e.into(),
        ExportError::Write(m) => crm_core::Error::storage_msg(m).into(),
    }
}

/// Every customer matching the listing's filters as CSV (the columns the
/// import reads back), streamed a page at a time; text cells that a
/// spreadsheet would run as a formula start with `'`. `page`, `limit` and
/// `cursor` are refused. Roles: manager.
#[utoipa::path(get, path = "/api/customers/export.csv", tag = "customers", security(("bearer" = [])),
    params(ExportParams),
    responses(
        (status = 200, description = "The customers (CSV, `Content-Disposition: attachment`)", content_type = "text/csv", body = String),
        E401, E403, E422, E500
    )
)]
pub(crate) async fn export_customers(
    State(s): St,
    caller: Caller,
    params: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ApiResult {
    caller.require(MANAGERS)?;
    let Query(params) = params?;
    // A date-time parameter given empty is not a date-time (the listing
    // reads blanks as absent; a file of every customer should not come
    // from a typo).
    let mut blank = crm_core::FieldErrors::new();
    for (key, value) in &params {
        if matches!(key.as_str(), "created_from" | "created_to") && value.trim().is_empty() {
            blank.push(
                key.clone(),
                "type",
                format!("{key} must be an RFC 3339 date-time"),
            );
        }
    }
    blank.finish()?;
    let query = CustomerQuery::from_params(params)?;
    let mut chunks = CustomerCsvChunks::new(&s.crm, query).map_err(export_error)?;
    // The first page is read before answering: a filter the store refuses
    // is still a JSON error, not a cut-off file.
    let first = chunks.next_chunk().await.map_err(export_error)?;
    let stream = futures_util::stream::try_unfold(
        (first, Some(chunks)),
        |(pending, chunks)| async move {
            if let Some(chunk) = pending {
                return Ok(Some((chunk, (None, chunks))));
            }
            let Some(mut chunks) = chunks else {
                return Ok(None);
            };
            match chunks.next_chunk().await {
                Ok(Some(chunk)) => Ok(Some((chunk, (None, Some(chunks))))),
                Ok(None) => Ok(None),
                Err(e) => {
                    tracing::error!(error = %e, written = chunks.written(), "customer export stopped");
                    Err(e)
                }
            }
        },
    );
    Ok(csv_response(
        Body::from_stream(stream),
        Some("customers.csv"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mappings_and_flags_are_read_or_refused() {
        let m = parse_mapping("Nama Toko = name\n\nHP=phone\n").expect("mapping");
        assert_eq!(
            m,
            vec![
                ("Nama Toko".to_string(), CustomerColumn::Name),
                ("HP".to_string(), CustomerColumn::Phone)
            ]
        );
        assert!(parse_mapping("no equals sign").is_err());
        assert!(parse_mapping("A=shoe_size").is_err());
        assert!(parse_bool("dry_run", "TRUE").expect("bool"));
        assert!(parse_bool("dry_run", "maybe").is_err());
        assert_eq!(percent(50, Some(200)), Some(25.0));
        assert_eq!(percent(5, None), None);
    }
}
