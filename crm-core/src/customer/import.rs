//! Importing customer lists from another system (an old POS, a
//! spreadsheet) row by row, with a report instead of all-or-nothing.
//!
//! [`Customers::import`] is the bulk call for programs: one batch, all or
//! none. A file from a person is different: some rows are wrong, some name
//! a customer twice, some name customers the database already holds. A
//! [`CustomerImport`] (from [`Customers::start_import`]) takes the rows in
//! batches and decides each one:
//!
//! - **Rejected**: a field fails a rule (the same rules as
//!   [`Customers::create`], plus what the file reader could not parse), or
//!   its normalised email or phone is used by an earlier row of the same
//!   file (`duplicate_in_file`), or it matches two different stored
//!   customers (`ambiguous_duplicate`).
//! - **Duplicate of a stored customer** (same normalised email or phone as
//!   an active customer): the [`DuplicatePolicy`] decides: skip it, update
//!   the stored customer from the row, or report it for a person to decide.
//! - Otherwise **created**, in one transaction per batch.
//!
//! A **dry run** decides every row the same way (against the database as
//! it is) and writes nothing.
//!
//! A run with a `run_id` is **resumable**: each batch's customers and the
//! run's checkpoint (the last line done and the totals) commit in the same
//! transaction, so a run cut off at any moment resumes after the last
//! committed batch and never creates a customer twice. Two processes
//! resuming the same run cannot both write a batch: the checkpoint only
//! moves from the line it was read at. Updates of stored customers (policy
//! `update`) run before their batch commits; re-applied after a cut, they
//! find nothing left to change.

use std::collections::HashMap;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::audit::actions;
use crate::customer::handle::UpdateCustomer;
use crate::customer::{Customer, CustomerFields, CustomerId, CustomerPatch, NewCustomer};
use crate::facade::{Customers, MAX_IMPORT_BATCH};
use crate::{ConflictReason, Error, FieldError, Result};

/// What an import does with a row that matches a stored active customer
/// (same normalised email or phone).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DuplicatePolicy {
    /// Leave the stored customer as it is; the row is counted as skipped
    /// (and listed in the report with status `skipped`).
    #[default]
    Skip,
    /// Update the stored customer from the row: every non-blank cell
    /// replaces the stored value (a blank cell, or a credit limit of 0,
    /// leaves it). The customer type is not changed (it decides the code).
    Update,
    /// Write nothing for the row and list it in the report (status
    /// `duplicate`) for a person to decide, with the stored customer's code.
    Report,
}

impl DuplicatePolicy {
    /// `skip`, `update` or `report`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Skip => "skip",
            Self::Update => "update",
            Self::Report => "report",
        }
    }
}

impl FromStr for DuplicatePolicy {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "skip" => Ok(Self::Skip),
            "update" => Ok(Self::Update),
            "report" => Ok(Self::Report),
            other => Err(Error::invalid(
                "on_duplicate",
                "one_of",
                format!("on_duplicate must be skip, update or report, not {other:?}"),
            )),
        }
    }
}

/// How an import runs.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ImportOptions {
    /// What to do with a row matching a stored customer (default skip).
    pub on_duplicate: DuplicatePolicy,
    /// Decide every row, write nothing (no customer, no checkpoint).
    pub dry_run: bool,
    /// Names a resumable run (1 to 100 characters): its checkpoint is
    /// saved with every batch, and starting an import with the same id
    /// continues after the last batch that committed.
    pub run_id: Option<String>,
    /// What is imported (a file name with its size, say): a run can only
    /// be resumed on the same source (at most 255 characters).
    pub source: String,
}

/// One row of an import, as the file reader made it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImportRow {
    /// Where the row starts in the file (1-based line; the header is line 1).
    pub line: u64,
    /// The customer the row describes.
    pub input: NewCustomer,
    /// Cells the reader could not turn into their field's type (a credit
    /// limit that is not a number, a date it cannot read). Reported with
    /// the rule failures of the other fields.
    pub errors: Vec<FieldError>,
}

/// Why a row of an import was not created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IssueStatus {
    /// A field failed a rule, or the row repeats an earlier row of the
    /// file, or matches two stored customers.
    Rejected,
    /// A duplicate of a stored customer, skipped (policy `skip`).
    Skipped,
    /// A duplicate of a stored customer, left for a person (policy `report`).
    Duplicate,
}

impl IssueStatus {
    /// `rejected`, `skipped` or `duplicate`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rejected => "rejected",
            Self::Skipped => "skipped",
            Self::Duplicate => "duplicate",
        }
    }
}

/// One entry of an import's report: a row that was not created, and why.
/// A row failing several fields has one issue per field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowIssue {
    /// The row's line in the file.
    pub line: u64,
    /// What happened to the row.
    pub status: IssueStatus,
    /// The field (`email`, `address.city` ...).
    pub field: String,
    /// The rule (`required`, `email`, `duplicate_in_file`, `duplicate` ...).
    pub rule: String,
    /// A human-readable explanation.
    pub message: String,
    /// The stored customer the row matches, for duplicates.
    pub existing_code: Option<String>,
}

/// Counts of an import so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ImportTotals {
    /// Rows decided.
    pub rows: u64,
    /// Customers created (a dry run: that would be created).
    pub created: u64,
    /// Stored customers changed from a row (policy `update`).
    pub updated: u64,
    /// Duplicates of stored customers whose row changed nothing (policy
    /// `update`).
    pub unchanged: u64,
    /// Duplicates of stored customers skipped (policy `skip`).
    pub skipped: u64,
    /// Duplicates of stored customers reported (policy `report`).
    pub duplicates: u64,
    /// Rows rejected.
    pub rejected: u64,
    /// The last line done.
    pub line: u64,
}

/// The state of an import run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportStatus {
    /// Started and not finished (running, or cut off and resumable).
    Running,
    /// Every row decided.
    Done,
    /// Stopped by an error (the message says which); resumable.
    Failed,
}

impl ImportStatus {
    /// `running`, `done` or `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Done => "done",
            Self::Failed => "failed",
        }
    }

    /// Reads [`as_str`](Self::as_str)'s names.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "running" => Some(Self::Running),
            "done" => Some(Self::Done),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

/// A resumable import run as stored: its checkpoint and totals. Any server
/// of a deployment can report on a run another one is doing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportRun {
    /// The run's id.
    pub id: String,
    /// What is imported: `customers` or `purchases`.
    pub kind: String,
    /// The source it reads (a resumed run must read the same one).
    pub source: String,
    /// State.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub status: ImportStatus,
    /// Counts so far; `totals.line` is the checkpoint.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub totals: ImportTotals,
    /// Bytes of the source read so far, and its size when known (progress).
    pub bytes_read: u64,
    /// The source's size in bytes, when known.
    pub bytes_total: Option<u64>,
    /// Why the run failed.
    pub message: Option<String>,
    /// When it started.
    pub created_at: DateTime<Utc>,
    /// When its checkpoint last moved.
    pub updated_at: DateTime<Utc>,
}

/// A checkpoint to save: the run as it is after a batch, and the line its
/// stored checkpoint must still be at (`None`: the run is new). A store
/// refuses the save (and the batch saved with it) with a
/// [`ConcurrentChange`](ConflictReason::ConcurrentChange) conflict when
/// the stored checkpoint is elsewhere: another process is running it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaveRun {
    /// The run after the batch.
    pub run: ImportRun,
    /// The stored checkpoint line this save expects, `None` for a new run.
    pub previous_line: Option<u64>,
}

/// What one batch of an import did.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BatchOutcome {
    /// The rows that were not created, and why.
    pub issues: Vec<RowIssue>,
    /// The customers created by the batch (empty in a dry run).
    pub created: Vec<CustomerId>,
    /// The run's totals after the batch.
    pub totals: ImportTotals,
}

/// A running import; see the [module docs](self).
#[derive(Debug)]
pub struct CustomerImport {
    customers: Customers,
    options: ImportOptions,
    /// The stored run (a resumable, non-dry run).
    run: Option<ImportRun>,
    /// The checkpoint line of the stored run, `None` before its first save.
    saved_line: Option<u64>,
    totals: ImportTotals,
    /// Normalised emails and phones of the rows so far, with their line.
    seen: HashMap<(&'static str, String), u64>,
    resumed: bool,
}

impl Customers {
    /// Starts (or, with the `run_id` of a run that was cut off, resumes) a
    /// row-by-row customer import; see [`CustomerImport`].
    ///
    /// A resumed run must name the same `source`. Resuming a run that is
    /// done gives a [`CustomerImport`] that is
    /// [`finished`](CustomerImport::is_finished).
    pub async fn start_import(&self, options: ImportOptions) -> Result<CustomerImport> {
        let mut errors = crate::FieldErrors::new();
        if let Some(id) = &options.run_id
            && (id.trim().is_empty() || id.chars().count() > 100)
        {
            errors.push(
                "run_id",
                "length",
                "a run id has 1 to 100 characters, not blank",
            );
        }
        if options.source.chars().count() > 255 {
            errors.push(
                "source",
                "max_length",
                "a source has at most 255 characters",
            );
        }
        errors.finish()?;
        let mut import = CustomerImport {
            customers: self.clone(),
            run: None,
            saved_line: None,
            totals: ImportTotals::default(),
            seen: HashMap::new(),
            resumed: false,
            options,
        };
        let (Some(id), false) = (import.options.run_id.clone(), import.options.dry_run) else {
            return Ok(import);
        };
        let now = self.inner.clock.now();
        match self.inner.store.import_run(&id).await? {
            Some(run) => {
                if run.kind != "customers" || run.source != import.options.source {
                    return Err(Error::conflict(
                        ConflictReason::IdempotencyKeyReused,
                        format!(
                            "import run {id} reads {} {:?}, not customers {:?}",
                            run.kind, run.source, import.options.source
                        ),
                    ));
                }
                import.totals = run.totals;
                import.saved_line = Some(run.totals.line);
                import.resumed = true;
                import.run = Some(run);
            }
            None => {
                import.run = Some(ImportRun {
                    id,
                    kind: "customers".into(),
                    source: import.options.source.clone(),
                    status: ImportStatus::Running,
                    totals: ImportTotals::default(),
                    bytes_read: 0,
                    bytes_total: None,
                    message: None,
                    created_at: now,
                    updated_at: now,
                });
            }
        }
        Ok(import)
    }

    /// A stored import run (customers or purchases), for progress reports.
    pub async fn import_run(&self, id: String) -> Result<ImportRun> {
        self.inner
            .store
            .import_run(&id)
            .await?
            .ok_or_else(|| Error::NotFound {
                entity: "import run",
                id,
            })
    }
}

impl CustomerImport {
    /// The last line a resumed run had done (the reader skips through it);
    /// 0 for a new run.
    pub fn resume_after(&self) -> u64 {
        if self.resumed { self.totals.line } else { 0 }
    }

    /// Whether this run had already been resumed from a checkpoint.
    pub fn is_resumed(&self) -> bool {
        self.resumed
    }

    /// Whether the run had already finished: there is nothing to do.
    pub fn is_finished(&self) -> bool {
        self.run
            .as_ref()
            .is_some_and(|r| r.status == ImportStatus::Done)
    }

    /// The totals so far (of the whole run, a resumed run included).
    pub fn totals(&self) -> ImportTotals {
        self.totals
    }

    /// The options the import runs with.
    pub fn options(&self) -> &ImportOptions {
        &self.options
    }

    /// The stored run (resumable runs that are not dry runs).
    pub fn run(&self) -> Option<&ImportRun> {
        self.run.as_ref()
    }

    /// Sets the source's size, for progress reports.
    pub fn set_bytes_total(&mut self, bytes: Option<u64>) {
        if let Some(run) = &mut self.run {
            run.bytes_total = bytes;
        }
    }

    /// Lets a resumed run know the rows before its checkpoint (read again
    /// from the file, not imported again), so a later row repeating one
    /// of them is still a duplicate within the file.
    pub fn replay(&mut self, rows: Vec<ImportRow>) {
        let rules = self.customers.inner.rules();
        for row in rows {
            if let Ok(fields) = rules.check_new(row.input) {
                for key in keys(&fields) {
                    self.seen.entry(key).or_insert(row.line);
                }
            }
        }
    }

    /// Decides and (unless a dry run) writes one batch of rows, at most
    /// [`MAX_IMPORT_BATCH`]: customers created in one transaction with the
    /// run's checkpoint, which moves to `through_line` (the last line of
    /// the file the batch covers). `bytes_read` is the reader's position,
    /// for progress.
    ///
    /// Errors are the store's (the database is gone, another process runs
    /// the same run): the batch then wrote nothing, except updates of
    /// stored customers (policy `update`), which a retry finds done.
    pub async fn apply(
        &mut self,
        rows: Vec<ImportRow>,
        through_line: u64,
        bytes_read: u64,
    ) -> Result<BatchOutcome> {
        if rows.len() > MAX_IMPORT_BATCH {
            return Err(Error::invalid(
                "rows",
                "max_items",
                format!("at most {MAX_IMPORT_BATCH} rows per import batch"),
            ));
        }
        let rules = self.customers.inner.rules();
        let mut totals = self.totals;
        let mut issues = Vec::new();
        // 1. Rules, then repeats within the file.
        let mut good: Vec<(u64, NewCustomer, CustomerFields)> = Vec::with_capacity(rows.len());
        // This batch's keys; they join the run's only if the batch commits.
        let mut batch_seen: HashMap<(&'static str, String), u64> = HashMap::new();
        for row in rows {
            totals.rows += 1;
            let mut errors = row.errors;
            let checked = rules.check_new(row.input.clone());
            let fields = match checked {
                Ok(fields) => Some(fields),
                Err(Error::Validation(rule_errors)) => {
                    for e in rule_errors {
                        if !errors.iter().any(|p| p.field == e.field) {
                            errors.push(e);
                        }
                    }
                    None
                }
                Err(e) => return Err(e),
            };
            let mut rejected = !errors.is_empty();
            for e in errors {
                issues.push(issue(row.line, IssueStatus::Rejected, e, None));
            }
            let Some(fields) = fields.filter(|_| !rejected) else {
                totals.rejected += 1;
                continue;
            };
            for (field, value) in keys(&fields) {
                let key = (field, value.clone());
                if let Some(first) = self.seen.get(&key).or_else(|| batch_seen.get(&key)) {
                    issues.push(issue(
                        row.line,
                        IssueStatus::Rejected,
                        FieldError::new(
                            field,
                            "duplicate_in_file",
                            format!("{field} {value} is also on line {first} of this file"),
                        ),
                        None,
                    ));
                    rejected = true;
                }
            }
            if rejected {
                totals.rejected += 1;
                continue;
            }
            for key in keys(&fields) {
                batch_seen.insert(key, row.line);
            }
            good.push((row.line, row.input, fields));
        }

        // 2. Duplicates of stored customers; insert the rest. A customer
        // created by someone else between the lookup and the insert makes
        // the insert fail whole: look again and decide again.
        let mut attempts = 0;
        let (created, totals) = loop {
            attempts += 1;
            let mut batch_totals = totals;
            let mut batch_issues = Vec::new();
            let stored = self.stored_matches(&good).await?;
            let mut inserts = Vec::new();
            let mut updates = Vec::new();
            for (line, input, fields) in &good {
                let matches: Vec<&Customer> = {
                    let mut m: Vec<&Customer> =
                        keys(fields).iter().filter_map(|k| stored.get(k)).collect();
                    m.dedup_by_key(|c| c.id);
                    m
                };
                match matches.as_slice() {
                    [] => inserts.push(fields.clone()),
                    [a, b, ..] => {
                        batch_totals.rejected += 1;
                        batch_issues.push(issue(
                            *line,
                            IssueStatus::Rejected,
                            FieldError::new(
                                "email",
                                "ambiguous_duplicate",
                                format!(
                                    "the email matches customer {} and the phone customer {}",
                                    a.customer_code, b.customer_code
                                ),
                            ),
                            Some(b.customer_code.to_string()),
                        ));
                    }
                    [existing] => {
                        let field = match (&fields.email, &existing.email) {
                            (Some(e), Some(s)) if e == s => "email",
                            _ => "phone",
                        };
                        let code = existing.customer_code.to_string();
                        match self.options.on_duplicate {
                            DuplicatePolicy::Skip => {
                                batch_totals.skipped += 1;
                                batch_issues.push(issue(
                                    *line,
                                    IssueStatus::Skipped,
                                    FieldError::new(
                                        field,
                                        "duplicate",
                                        format!("same {field} as stored customer {code}; skipped"),
                                    ),
                                    Some(code),
                                ));
                            }
                            DuplicatePolicy::Report => {
                                batch_totals.duplicates += 1;
                                batch_issues.push(issue(
                                    *line,
                                    IssueStatus::Duplicate,
                                    FieldError::new(
                                        field,
                                        "duplicate",
                                        format!("same {field} as stored customer {code}"),
                                    ),
                                    Some(code),
                                ));
                            }
                            DuplicatePolicy::Update => {
                                updates.push((*line, (*existing).clone(), input.clone()));
                            }
                        }
                    }
                }
            }
            // Updates first: their outcome (a rule of the merged record may
            // fail) is part of the batch's totals saved with the checkpoint.
            if !self.options.dry_run {
                for (line, existing, input) in &updates {
                    match self.update_from_row(existing, input.clone()).await {
                        Ok(true) => batch_totals.updated += 1,
                        Ok(false) => batch_totals.unchanged += 1,
                        Err(Error::Validation(errors)) => {
                            batch_totals.rejected += 1;
                            for e in errors {
                                batch_issues.push(issue(*line, IssueStatus::Rejected, e, None));
                            }
                        }
                        Err(Error::DuplicateCustomer {
                            field,
                            value,
                            existing_code,
                        }) => {
                            batch_totals.rejected += 1;
                            batch_issues.push(issue(
                                *line,
                                IssueStatus::Rejected,
                                FieldError::new(
                                    field,
                                    "duplicate",
                                    format!(
                                        "{field} {value} belongs to customer {existing_code}; customer {} was not updated",
                                        existing.customer_code
                                    ),
                                ),
                                Some(existing_code.to_string()),
                            ));
                        }
                        Err(e) => return Err(e),
                    }
                }
            } else {
                batch_totals.updated += updates.len() as u64;
            }
            batch_totals.created += inserts.len() as u64;
            batch_totals.line = batch_totals.line.max(through_line);
            if self.options.dry_run {
                issues.extend(batch_issues);
                break (Vec::new(), batch_totals);
            }
            match self.write(inserts, batch_totals, bytes_read).await {
                Ok(created) => {
                    issues.extend(batch_issues);
                    break (created, batch_totals);
                }
                Err(Error::DuplicateCustomer { .. }) if attempts < 3 => continue,
                Err(e) => return Err(e),
            }
        };
        self.seen.extend(batch_seen);
        self.totals = totals;
        issues.sort_by_key(|i| i.line);
        Ok(BatchOutcome {
            issues,
            created,
            totals,
        })
    }

    /// Marks the run done (a resumable run) and gives its totals.
    pub async fn finish(mut self) -> Result<ImportTotals> {
        if let Some(mut run) = self.run.take()
            && run.status != ImportStatus::Done
        {
            run.status = ImportStatus::Done;
            run.totals = self.totals;
            run.updated_at = self.customers.inner.clock.now();
            let previous_line = self.saved_line;
            self.customers
                .inner
                .store
                .save_import_run(&SaveRun { run, previous_line })
                .await?;
        }
        Ok(self.totals)
    }

    /// Marks the run failed with `message` (it stays resumable).
    pub async fn fail(mut self, message: String) -> Result<()> {
        if let Some(mut run) = self.run.take() {
            run.status = ImportStatus::Failed;
            run.message = Some(message);
            run.updated_at = self.customers.inner.clock.now();
            let previous_line = self.saved_line;
            self.customers
                .inner
                .store
                .save_import_run(&SaveRun { run, previous_line })
                .await?;
        }
        Ok(())
    }

    /// Stored active customers holding the emails and phones of `rows`.
    async fn stored_matches(
        &self,
        rows: &[(u64, NewCustomer, CustomerFields)],
    ) -> Result<HashMap<(&'static str, String), Customer>> {
        let emails: Vec<String> = rows.iter().filter_map(|r| r.2.email.clone()).collect();
        let phones: Vec<String> = rows.iter().filter_map(|r| r.2.phone.clone()).collect();
        if emails.is_empty() && phones.is_empty() {
            return Ok(HashMap::new());
        }
        let found = self
            .customers
            .inner
            .store
            .find_active_by_contacts(&emails, &phones)
            .await?;
        let mut out = HashMap::with_capacity(found.len() * 2);
        for c in found {
            if let Some(e) = &c.email {
                out.insert(("email", e.clone()), c.clone());
            }
            if let Some(p) = &c.phone {
                out.insert(("phone", p.clone()), c.clone());
            }
        }
        Ok(out)
    }

    /// Applies a row to the stored customer it duplicates; `false` when
    /// the row changes nothing.
    async fn update_from_row(&self, existing: &Customer, input: NewCustomer) -> Result<bool> {
        let address = &input.address;
        let has_address = [
            &address.line1,
            &address.line2,
            &address.city,
            &address.province,
            &address.postal_code,
            &address.country,
        ]
        .iter()
        .any(|p| p.as_deref().is_some_and(|s| !s.trim().is_empty()));
        let patch = CustomerPatch {
            name: Some(input.name),
            email: input.email.filter(|e| !e.trim().is_empty()).map(Some),
            phone: input.phone.filter(|p| !p.trim().is_empty()).map(Some),
            credit_limit: Some(input.credit_limit).filter(|c| !c.is_zero()),
            address: has_address.then_some(input.address),
            birthday: input.birthday.map(Some),
            tags: Some(input.tags).filter(|t| !t.is_empty()),
        };
        let rules = self.customers.inner.rules();
        let merged = rules.check_patch(existing, patch.clone())?;
        if merged == CustomerFields::of(existing) {
            return Ok(false);
        }
        self.customers
            .update(UpdateCustomer {
                id: existing.id,
                patch,
            })
            .await?;
        Ok(true)
    }

    /// Inserts a batch's new customers with the run's checkpoint (or only
    /// saves the checkpoint).
    async fn write(
        &mut self,
        inserts: Vec<CustomerFields>,
        totals: ImportTotals,
        bytes_read: u64,
    ) -> Result<Vec<CustomerId>> {
        let now = self.customers.inner.clock.now();
        let save = self.run.as_ref().map(|run| SaveRun {
            run: ImportRun {
                totals,
                bytes_read,
                updated_at: now,
                status: ImportStatus::Running,
                message: None,
                ..run.clone()
            },
            previous_line: self.saved_line,
        });
        let store = &self.customers.inner.store;
        let created = if inserts.is_empty() {
            if let Some(save) = &save {
                store.save_import_run(save).await?;
            }
            Vec::new()
        } else {
            let audit = self.customers.record(
                actions::CUSTOMER_IMPORT,
                serde_json::json!({
                    "batch_size": inserts.len(),
                    "run_id": self.options.run_id,
                }),
            );
            store
                .insert_customers(inserts, now, &audit, save.as_ref())
                .await?
                .into_iter()
                .map(|c| c.id)
                .collect()
        };
        if let Some(save) = save {
            self.saved_line = Some(save.run.totals.line);
            self.run = Some(save.run);
        }
        Ok(created)
    }
}

/// The normalised email and phone of a row, the keys duplicates match on.
fn keys(fields: &CustomerFields) -> Vec<(&'static str, String)> {
    let mut out = Vec::with_capacity(2);
    if let Some(e) = &fields.email {
        out.push(("email", e.clone()));
    }
    if let Some(p) = &fields.phone {
        out.push(("phone", p.clone()));
    }
    out
}

fn issue(line: u64, status: IssueStatus, e: FieldError, existing_code: Option<String>) -> RowIssue {
    RowIssue {
        line,
        status,
        field: e.field,
        rule: e.rule,
        message: e.message,
        existing_code,
    }
}
