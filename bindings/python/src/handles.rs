//! The handles, in two flavours with the same methods: synchronous
//! (`Customers`, ...: blocks with the GIL released) and asynchronous
//! (`AsyncCustomers`, ...: returns asyncio awaitables).
//!
//! Each method is written once as an operation: read the Python arguments
//! into the core's request type with the core's reader, call one method of
//! the core handle, map the error. [`api!`] wraps every operation into both
//! classes.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use crm_core::comms::{
    Channel, CommunicationQuery, ConsentChange, NewCampaign, NewTemplate, Preview, SendCampaign,
};
use crm_core::error::FieldErrors;
use crm_core::users::{ChangePassword, Credentials, NewUser, ResetPassword, SetRole};
use crm_core::{CustomerId, CustomerPatch, CustomerQuery, FromJson, UpdateCustomer};
use pyo3::exceptions::PyStopIteration;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::convert::{kwargs_to_json, row_to_json};
use crate::csv_io::{ExportFile, ImportSource, import_options};
use crate::error::IntoPyResult;
use crate::frames::scores_frame;
use crate::records::{
    AnalyticsModel, AuditEntry, BalanceCheck, Campaign, Communication, ConsentRecord, Customer,
    CustomerConsent, CustomerPage, CustomerScore, ExpiryRun, FittedAnalytics, ImportResult,
    LoyaltySummary, MergeResult, OutboxEvent, PointsApplied, PointsBalance, Purchase,
    PurchaseImportReport, PurchaseRecorded, RefundRecorded, Rendered, SegmentTotal, Template, User,
};
use crate::runtime::{ProcessGuard, awaitable, block_on};

/// What an operation hands back: a future of the result, ready to block on
/// or to await.
type Op<T> = PyResult<std::pin::Pin<Box<dyn Future<Output = PyResult<T>> + Send + 'static>>>;

/// Boxes a core call, mapping its output and its error.
fn op<T: Send + 'static, R: 'static, F>(fut: F, map: fn(R) -> T) -> Op<T>
where
    F: Future<Output = crm_core::Result<R>> + Send + 'static,
{
    Ok(Box::pin(async move { fut.await.py().map(map) }))
}

/// Boxes a future that already yields Python results.
fn boxed<T, F>(fut: F) -> Op<T>
where
    F: Future<Output = PyResult<T>> + Send + 'static,
{
    Ok(Box::pin(fut))
}

/// A request read from keyword arguments by its own reader.
fn read<T: FromJson>(kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<T> {
    T::from_json(kwargs_to_json(kwargs)?).py()
}

/// Rows of an import, each read by `T`'s reader; every failing field of
/// every row is reported at once, prefixed with the row (`[3].email`).
fn read_rows<T: FromJson>(rows: &Bound<'_, PyAny>) -> PyResult<Vec<T>> {
    let mut errors = FieldErrors::new();
    let mut out = Vec::new();
    for (i, row) in rows.try_iter()?.enumerate() {
        let prefix = format!("[{i}].");
        let json = row_to_json(&row?, &format!("[{i}]"))?;
        if let Some(v) = errors.check(&prefix, T::from_json(json)) {
            out.push(v);
        }
    }
    errors.finish().py()?;
    Ok(out)
}

/// A DataFrame of scores, built when it reaches Python.
pub(crate) struct ScoresFrame(pub Vec<crm_core::analytics::CustomerScore>);

impl<'py> IntoPyObject<'py> for ScoresFrame {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        scores_frame(py, &self.0)
    }
}

/// What an operation is handed: a core handle (`crm_core::Customers`, ...)
/// or, for the operations of `crm-csv` that take the whole CRM, the
/// `crm_core::Crm` itself. The closure's annotated first parameter picks it.
pub(crate) trait Core {
    /// This core value of `crm`.
    fn of(crm: &crm_core::Crm) -> Self;
}

impl Core for crm_core::Crm {
    fn of(crm: &crm_core::Crm) -> Self {
        crm.clone()
    }
}

macro_rules! core_handles {
    ($($t:ident => $get:ident),*) => {$(
        impl Core for crm_core::$t {
            fn of(crm: &crm_core::Crm) -> Self {
                crm.$get()
            }
        }
    )*};
}
core_handles!(
    Customers => customers,
    Loyalty => loyalty,
    Analytics => analytics,
    Events => events,
    Users => users,
    Comms => comms
);

/// Defines a synchronous and an asynchronous class over one core handle,
/// with the same methods, each calling one operation. The classes hold the
/// `Crm` (acting for its user, if any) and hand each operation the core
/// value its closure asks for ([`Core`]).
macro_rules! api {
    (
        $(#[$doc:meta])*
        $sync:ident, $async_:ident, $core:ty;
        $(
            $(#[$mdoc:meta])*
            [$($sig:tt)*]
            fn $name:ident($($arg:ident: $ty:ty),* $(; **$kw:ident)?) -> $out:ty = $op:expr;
        )*
    ) => {
        // Most operations take this core handle.
        const _: fn(&crm_core::Crm) -> $core = <$core as Core>::of;

        $(#[$doc])*
        ///
        /// Synchronous: each call blocks until done, with the GIL released.
        #[pyclass(frozen, module = "crm_sdk")]
        pub struct $sync {
            pub(crate) crm: crm_core::Crm,
            pub(crate) guard: ProcessGuard,
        }

        #[pymethods]
        impl $sync {
            $(
                $(#[$mdoc])*
                #[pyo3(signature = ($($sig)*))]
                fn $name(
                    &self,
                    py: Python<'_>,
                    $($arg: $ty,)*
                    $($kw: Option<&Bound<'_, PyDict>>,)?
                ) -> PyResult<$out> {
                    self.guard.check()?;
                    let fut = ($op)(Core::of(&self.crm), $($arg,)* $($kw)?)?;
                    block_on(py, fut)
                }
            )*

            fn __repr__(&self) -> String {
                format!("<crm_sdk.{}>", stringify!($sync))
            }
        }

        $(#[$doc])*
        ///
        /// Asynchronous: each call returns an awaitable (asyncio).
        #[pyclass(frozen, module = "crm_sdk")]
        pub struct $async_ {
            pub(crate) crm: crm_core::Crm,
            pub(crate) guard: ProcessGuard,
        }

        #[pymethods]
        impl $async_ {
            $(
                $(#[$mdoc])*
                #[pyo3(signature = ($($sig)*))]
                fn $name<'py>(
                    &self,
                    py: Python<'py>,
                    $($arg: $ty,)*
                    $($kw: Option<&Bound<'_, PyDict>>,)?
                ) -> PyResult<Bound<'py, PyAny>> {
                    self.guard.check()?;
                    let fut = ($op)(Core::of(&self.crm), $($arg,)* $($kw)?)?;
                    awaitable(py, fut)
                }
            )*

            fn __repr__(&self) -> String {
                format!("<crm_sdk.{}>", stringify!($async_))
            }
        }
    };
}

api! {
    /// Customers: create, import, read, update, deactivate, list, merge.
    Customers, AsyncCustomers, crm_core::Customers;

    /// Creates a customer from the fields of `NewCustomer` (`name`,
    /// `email`, `phone`, `customer_type`, `credit_limit`, `address`,
    /// `birthday`, `tags`); every failing field is reported at once.
    [**fields]
    fn create(; **fields) -> Customer = |h: crm_core::Customers, f| {
        let input = read(f)?;
        op(async move { h.create(input).await }, Customer)
    };

    /// Creates many customers at once (dicts of `create`'s fields): all
    /// or none; failing fields are named by row (`[3].email`).
    [rows]
    fn import_(rows: &Bound<'_, PyAny>) -> Vec<Customer> = |h: crm_core::Customers, rows| {
        let inputs = read_rows(rows)?;
        op(async move { h.import(inputs).await }, |v: Vec<_>| v.into_iter().map(Customer).collect::<Vec<_>>())
    };

    /// The customer with this id (active or not).
    [id, /]
    fn get(id: i64) -> Customer = |h: crm_core::Customers, id| {
        op(async move { h.get(CustomerId(id)).await }, Customer)
    };

    /// The customer with this code (`RT00000001`).
    [code, /]
    fn by_code(code: String) -> Customer = |h: crm_core::Customers, code| {
        op(async move { h.by_code(code).await }, Customer)
    };

    /// Changes the given fields of `CustomerPatch` (`None` clears an
    /// optional one); fields that cannot change are refused.
    [id, /, **changes]
    fn update(id: i64; **changes) -> Customer = |h: crm_core::Customers, id, c| {
        let patch: CustomerPatch = read(c)?;
        let request = UpdateCustomer { id: CustomerId(id), patch };
        op(async move { h.update(request).await }, Customer)
    };

    /// Deactivates a customer (soft delete).
    [id, /]
    fn deactivate(id: i64) -> Customer = |h: crm_core::Customers, id| {
        op(async move { h.deactivate(CustomerId(id)).await }, Customer)
    };

    /// Reactivates a deactivated customer.
    [id, /]
    fn reactivate(id: i64) -> Customer = |h: crm_core::Customers, id| {
        op(async move { h.reactivate(CustomerId(id)).await }, Customer)
    };

    /// Erases a customer's personal data; the ledger stays.
    [id, /]
    fn erase(id: i64) -> Customer = |h: crm_core::Customers, id| {
        op(async move { h.erase(CustomerId(id)).await }, Customer)
    };

    /// One customer's audit trail, oldest first: records after `after`,
    /// at most `limit` (1 to 500).
    [customer_id, /, *, after = 0, limit = 100]
    fn audit(customer_id: i64, after: i64, limit: u32) -> Vec<AuditEntry> = |h: crm_core::Customers, id, after, limit| {
        let query = crm_core::audit::AuditQuery { customer_id: CustomerId(id), after, limit };
        op(async move { h.audit(query).await }, |v: Vec<_>| v.into_iter().map(AuditEntry).collect::<Vec<_>>())
    };

    /// A page of customers, filtered by the fields of `CustomerQuery`
    /// (`q`, `type`, `status`, `tag`, `created_from`, `created_to`,
    /// `segment`, `recency_score`, `frequency_score` (as of the last fit),
    /// `sort`, `direction`, `page`, `limit`, `cursor`, and `count`:
    /// whether `total` is counted, by default only for an offset page
    /// without `q`; otherwise `total` is `None`).
    [**query]
    fn list(; **query) -> CustomerPage = |h: crm_core::Customers, q| {
        let query = read(q)?;
        op(async move { h.list(query).await }, CustomerPage)
    };

    /// Merges the duplicate `from_` into `into` (`merged_by` names who
    /// decided): purchases, points and debt move to `into`.
    [**fields]
    fn merge(; **fields) -> MergeResult = |h: crm_core::Customers, f| {
        let request = read(f)?;
        op(async move { h.merge(request).await }, MergeResult)
    };

    /// Imports customers from a CSV file (a path) or a pandas DataFrame,
    /// in batches: headers are matched to fields by name and alias
    /// (`mapping={"header": "field"}` decides explicitly), every row is
    /// checked by the core's rules, rows repeating an earlier row or a
    /// stored customer are duplicates (`on_duplicate`: `skip`, `update`
    /// or `report`). Bad rows never stop the import: they are in
    /// `issues` (and in the `report` CSV file, when named). `dry_run`
    /// decides every row and writes nothing; a `run_id` makes the run
    /// resumable. A file that cannot be read as a customer CSV (no name
    /// column, ...) is a `ValidationError`.
    #[allow(clippy::too_many_arguments)]
    [source, *, on_duplicate = "skip", dry_run = false, run_id = None, report = None, mapping = None, delimiter = None, batch_size = None]
    fn import_csv(
        source: &Bound<'_, PyAny>,
        on_duplicate: &str,
        dry_run: bool,
        run_id: Option<String>,
        report: Option<PathBuf>,
        mapping: Option<&Bound<'_, PyAny>>,
        delimiter: Option<String>,
        batch_size: Option<usize>
    ) -> ImportResult = |crm: crm_core::Crm, source, on_duplicate, dry_run, run_id, report, mapping, delimiter, batch_size| {
        let source = ImportSource::read(source)?;
        let options = import_options(on_duplicate, dry_run, run_id, report, mapping, delimiter, batch_size)?;
        boxed(async move { source.import(&crm, options).await.map(ImportResult) })
    };

    /// Writes every customer matching the filters of `list` (`q`, `type`,
    /// `status`, `tag`, `created_from`, `created_to`, `segment`, `sort`,
    /// ...; no paging) to a CSV file at `path` that `import_csv` reads
    /// back; text cells that a spreadsheet would run as a formula are
    /// quoted (`'=...`). Returns how many customers were written.
    [path, /, **query]
    fn export_csv(path: PathBuf; **query) -> u64 = |crm: crm_core::Crm, path, q| {
        let query: CustomerQuery = read(q)?;
        boxed(async move {
            let (file, out) = ExportFile::create(path)?;
            let result = crm_csv::export::export_customers(&crm, query, out).await;
            file.finish(result)
        })
    };
}

api! {
    /// The loyalty programme: purchases, refunds, earn, redeem, adjust,
    /// expiry, balances, history import.
    Loyalty, AsyncLoyalty, crm_core::Loyalty;

    /// Records a purchase and earns its points (`customer_id`, `store_id`,
    /// `receipt_id`, `purchase_date`, `total_amount`, `currency`). Sending
    /// the same receipt again changes nothing (`replayed`).
    [**fields]
    fn record_purchase(; **fields) -> PurchaseRecorded = |h: crm_core::Loyalty, f| {
        let request = read(f)?;
        op(async move { h.record_purchase(request).await }, PurchaseRecorded)
    };

    /// Refunds (part of) a purchase (`store_id`, `receipt_id`,
    /// `refund_id`, `amount`), reversing its points pro rata.
    [**fields]
    fn refund(; **fields) -> RefundRecorded = |h: crm_core::Loyalty, f| {
        let request = read(f)?;
        op(async move { h.refund(request).await }, RefundRecorded)
    };

    /// Earns points by hand (`customer_id`, `points`, `reference_type`,
    /// `reference_id`).
    [**fields]
    fn earn(; **fields) -> PointsApplied = |h: crm_core::Loyalty, f| {
        let request = read(f)?;
        op(async move { h.earn(request).await }, PointsApplied)
    };

    /// Redeems points (`customer_id`, `points`, `reference_type`,
    /// `reference_id`); never below zero.
    [**fields]
    fn redeem(; **fields) -> PointsApplied = |h: crm_core::Loyalty, f| {
        let request = read(f)?;
        op(async move { h.redeem(request).await }, PointsApplied)
    };

    /// Corrects a balance either way (`customer_id`, `points`,
    /// `reference_type`, `reference_id`).
    [**fields]
    fn adjust(; **fields) -> PointsApplied = |h: crm_core::Loyalty, f| {
        let request = read(f)?;
        op(async move { h.adjust(request).await }, PointsApplied)
    };

    /// Expires every lot due now; running it again finds nothing to do.
    []
    fn run_expiry() -> ExpiryRun = |h: crm_core::Loyalty| {
        op(async move { h.run_expiry().await }, ExpiryRun)
    };

    /// A customer's points, read in constant time.
    [customer_id, /]
    fn balance(customer_id: i64) -> PointsBalance = |h: crm_core::Loyalty, id| {
        op(async move { h.balance(CustomerId(id)).await }, PointsBalance)
    };

    /// A customer's loyalty position: points, tier, lots, recent entries.
    [customer_id, /]
    fn summary(customer_id: i64) -> LoyaltySummary = |h: crm_core::Loyalty, id| {
        op(async move { h.summary(CustomerId(id)).await }, LoyaltySummary)
    };

    /// Recomputes a balance from the ledger and compares.
    [customer_id, /]
    fn check_balance(customer_id: i64) -> BalanceCheck = |h: crm_core::Loyalty, id| {
        op(async move { h.check_balance(CustomerId(id)).await }, BalanceCheck)
    };

    /// The purchase with this receipt, or `None`.
    [*, store_id, receipt_id]
    fn purchase(store_id: String, receipt_id: String) -> Option<Purchase> = |h: crm_core::Loyalty, store_id, receipt_id| {
        let receipt = crm_core::loyalty::ReceiptRef { store_id, receipt_id };
        op(async move { h.purchase(receipt).await }, |p: Option<_>| p.map(Purchase))
    };

    /// Imports purchase history (dicts of `record_purchase`'s fields): all
    /// or none, receipts already stored are skipped, no points are earned.
    [rows]
    fn import_history(rows: &Bound<'_, PyAny>) -> PurchaseImportReport = |h: crm_core::Loyalty, rows| {
        let rows = read_rows(rows)?;
        op(async move { h.import_history(rows).await }, PurchaseImportReport)
    };
}

api! {
    /// Customer analytics: one customer's scores, everyone's as a
    /// DataFrame or in batches, segment totals, model fitting.
    Analytics, AsyncAnalytics, crm_core::Analytics;

    /// The analytics of one customer (segment, lifetime value, churn).
    [customer_id, /]
    fn customer(customer_id: i64) -> CustomerScore = |h: crm_core::Analytics, id| {
        op(async move { h.customer(CustomerId(id)).await }, CustomerScore)
    };

    /// Every customer with purchases, scored, as a pandas DataFrame (one
    /// row per customer). For very large stores use `score_batches`.
    []
    fn score_all() -> ScoresFrame = |h: crm_core::Analytics| {
        boxed(async move {
            let mut cursor = h.score_all().await.py()?;
            let mut all = Vec::new();
            loop {
                let batch = cursor.next_batch(SCORE_BATCH).await.py()?;
                if batch.is_empty() {
                    return Ok(ScoresFrame(all));
                }
                all.extend(batch);
            }
        })
    };

    /// Every customer's scores as DataFrames of at most `batch_size` rows,
    /// with bounded memory: iterate it.
    [batch_size = 10000]
    fn score_batches(batch_size: usize) -> ScoreBatches = |h: crm_core::Analytics, batch_size: usize| {
        boxed(async move {
            let cursor = h.score_all().await.py()?;
            Ok(ScoreBatches {
                cursor: Arc::new(tokio::sync::Mutex::new(cursor)),
                batch_size: batch_size.max(1),
                guard: ProcessGuard::here(),
            })
        })
    };

    /// Customers and lifetime value per segment, from the last fit.
    []
    fn segments() -> Vec<SegmentTotal> = |h: crm_core::Analytics| {
        op(async move { h.segments().await }, |v: Vec<_>| v.into_iter().map(SegmentTotal).collect::<Vec<_>>())
    };

    /// Fits the models on the whole history and keeps the fit.
    []
    fn refit() -> AnalyticsModel = |h: crm_core::Analytics| {
        op(async move { h.refit().await }, AnalyticsModel)
    };

    /// The last fit, or `None`.
    []
    fn last_fit() -> Option<FittedAnalytics> = |h: crm_core::Analytics| {
        op(async move { h.last_fit().await }, |f: Option<_>| f.map(FittedAnalytics))
    };

    /// Writes the scores of every customer with purchases to a CSV file at
    /// `path` (fitting the models first if no fit is kept). Returns how
    /// many customers were written.
    [path, /]
    fn export_scores_csv(path: PathBuf) -> u64 = |crm: crm_core::Crm, path| {
        boxed(async move {
            let (file, out) = ExportFile::create(path)?;
            let result = crm_csv::export::export_scores(&crm, out).await;
            file.finish(result)
        })
    };

    /// Replaces the kept model with a snapshot (an `AnalyticsModel` or its
    /// `to_json()` text).
    [model, /]
    fn load_model(model: &Bound<'_, PyAny>) -> () = |h: crm_core::Analytics, model: &Bound<'_, PyAny>| {
        let model = match model.cast::<AnalyticsModel>() {
            Ok(m) => m.get().0.clone(),
            Err(_) => {
                let text: String = model.extract()?;
                serde_json::from_str(&text)
                    .map_err(|e| crm_core::Error::invalid("model", "type", format!("not a model snapshot: {e}")))
                    .py()?
            }
        };
        op(async move { h.load_model(model).await }, |()| ())
    };
}

/// Scores per batch of `score_all`.
const SCORE_BATCH: usize = 10_000;

api! {
    /// The outbox of domain events, in order.
    Events, AsyncEvents, crm_core::Events;

    /// Events with an id above `after`, oldest first, at most `limit`
    /// (1 to 1000).
    [*, after = 0, limit = 100]
    fn list(after: i64, limit: u32) -> Vec<OutboxEvent> = |h: crm_core::Events, after, limit| {
        let query = crm_core::events::EventQuery { after, limit };
        op(async move { h.list(query).await }, |v: Vec<_>| v.into_iter().map(OutboxEvent).collect::<Vec<_>>())
    };

    /// The id of the newest event (0 when there is none).
    []
    fn last_id() -> i64 = |h: crm_core::Events| {
        op(async move { h.last_id().await }, |id| id)
    };

    /// A follower of the outbox in order from `after` (default: only new
    /// events), waiting at most `gap_grace` seconds for an id still
    /// committing.
    [*, after = None, gap_grace = 2.0]
    fn follow(after: Option<i64>, gap_grace: f64) -> EventFollower = |h: crm_core::Events, after, gap_grace: f64| {
        let gap_grace = std::time::Duration::try_from_secs_f64(gap_grace).map_err(|e| {
            pyo3::exceptions::PyValueError::new_err(format!("gap_grace: {e}"))
        })?;
        let options = crm_core::events::FollowOptions { after, gap_grace };
        boxed(async move {
            let follower = h.follow(options).await.py()?;
            Ok(EventFollower {
                follower: Arc::new(tokio::sync::Mutex::new(follower)),
                guard: ProcessGuard::here(),
            })
        })
    };
}

api! {
    /// Staff users (logins and roles).
    Users, AsyncUsers, crm_core::Users;

    /// Creates a user (`email`, `password`, `role`).
    [**fields]
    fn create(; **fields) -> User = |h: crm_core::Users, f| {
        let input: NewUser = read(f)?;
        op(async move { h.create(input).await }, User)
    };

    /// The user with these credentials (`email`, `password`); a wrong
    /// password or a disabled user is `UnauthorizedError`.
    [**fields]
    fn authenticate(; **fields) -> User = |h: crm_core::Users, f| {
        let input: Credentials = read(f)?;
        op(async move { h.authenticate(input).await }, User)
    };

    /// Every user, by id.
    []
    fn list() -> Vec<User> = |h: crm_core::Users| {
        op(async move { h.list().await }, |v: Vec<_>| v.into_iter().map(User).collect::<Vec<_>>())
    };

    /// The user with this id.
    [id, /]
    fn get(id: i64) -> User = |h: crm_core::Users, id| {
        op(async move { h.get(id).await }, User)
    };

    /// Disables a user (its tokens stop working).
    [id, /]
    fn disable(id: i64) -> User = |h: crm_core::Users, id| {
        op(async move { h.disable(id).await }, User)
    };

    /// Enables a disabled user.
    [id, /]
    fn enable(id: i64) -> User = |h: crm_core::Users, id| {
        op(async move { h.enable(id).await }, User)
    };

    /// Changes a user's role (`role`).
    [id, /, **fields]
    fn set_role(id: i64; **fields) -> User = |h: crm_core::Users, id, f| {
        let input = SetRole::from_json_for(id, kwargs_to_json(f)?).py()?;
        op(async move { h.set_role(input).await }, User)
    };

    /// A user changes its own password (`current_password`, `new_password`).
    [id, /, **fields]
    fn change_password(id: i64; **fields) -> User = |h: crm_core::Users, id, f| {
        let input = ChangePassword::from_json_for(id, kwargs_to_json(f)?).py()?;
        op(async move { h.change_password(input).await }, User)
    };

    /// An administrator sets a user's password (`new_password`).
    [id, /, **fields]
    fn reset_password(id: i64; **fields) -> User = |h: crm_core::Users, id, f| {
        let input = ResetPassword::from_json_for(id, kwargs_to_json(f)?).py()?;
        op(async move { h.reset_password(input).await }, User)
    };
}

api! {
    /// Customer communications: templates, previews, consent and
    /// unsubscribe, campaigns, the communication log. Campaigns are
    /// delivered by a dispatcher (the example server runs one).
    Comms, AsyncComms, crm_core::Comms;

    /// Saves a template (`name`, `channel`, `locale`, `subject`, `text`,
    /// `html`); an unknown placeholder is a `ValidationError`.
    [**fields]
    fn create_template(; **fields) -> Template = |h: crm_core::Comms, f| {
        let input: NewTemplate = read(f)?;
        op(async move { h.create_template(input).await }, Template)
    };

    /// Every template, newest first.
    []
    fn templates() -> Vec<Template> = |h: crm_core::Comms| {
        op(async move { h.templates().await }, |v: Vec<_>| v.into_iter().map(Template).collect::<Vec<_>>())
    };

    /// One template.
    [id, /]
    fn template(id: i64) -> Template = |h: crm_core::Comms, id| {
        op(async move { h.template(id).await }, Template)
    };

    /// A template rendered for one customer; nothing is sent.
    [template_id, customer_id]
    fn preview(template_id: i64, customer_id: i64) -> Rendered = |h: crm_core::Comms, t, c| {
        let request = Preview { template_id: t, customer_id: CustomerId(c) };
        op(async move { h.preview(request).await }, Rendered)
    };

    /// Records an opt-in or opt-out (`channel`, `granted`, `source`).
    [customer_id, /, **fields]
    fn set_consent(customer_id: i64; **fields) -> ConsentRecord = |h: crm_core::Comms, id, f| {
        let change = ConsentChange::from_json_for(CustomerId(id), kwargs_to_json(f)?).py()?;
        op(async move { h.set_consent(change).await }, ConsentRecord)
    };

    /// A customer's consent now, with its history.
    [customer_id, /]
    fn consent(customer_id: i64) -> CustomerConsent = |h: crm_core::Comms, id| {
        op(async move { h.consent(CustomerId(id)).await }, CustomerConsent)
    };

    /// The signed one-click unsubscribe link of a customer on a channel.
    [customer_id, channel, campaign_id = None]
    fn unsubscribe_url(customer_id: i64, channel: String, campaign_id: Option<i64>) -> String = |h: crm_core::Comms, id, channel: String, campaign| {
        let channel: Channel = channel.parse().py()?;
        op(async move { h.unsubscribe_url(CustomerId(id), channel, campaign).await }, |s: String| s)
    };

    /// Opts a customer out through the token of an unsubscribe link.
    [token, /]
    fn unsubscribe(token: String) -> ConsentRecord = |h: crm_core::Comms, token: String| {
        op(async move { h.unsubscribe(&token).await }, ConsentRecord)
    };

    /// Creates a draft campaign (`name`, `template_id`, `target`:
    /// `{"segment": ...}`, `{"tier": ...}`, `{"tag": ...}` or
    /// `{"filter": {...}}`; `quiet_hours`: `defer` or `skip`).
    [**fields]
    fn create_campaign(; **fields) -> Campaign = |h: crm_core::Comms, f| {
        let input: NewCampaign = read(f)?;
        op(async move { h.create_campaign(input).await }, Campaign)
    };

    /// A campaign with its progress.
    [id, /]
    fn campaign(id: i64) -> Campaign = |h: crm_core::Comms, id| {
        op(async move { h.campaign(id).await }, Campaign)
    };

    /// The newest campaigns.
    []
    fn campaigns() -> Vec<Campaign> = |h: crm_core::Comms| {
        op(async move { h.campaigns().await }, |v: Vec<_>| v.into_iter().map(Campaign).collect::<Vec<_>>())
    };

    /// Sends a campaign now, or at `at` (a datetime or ISO-8601 string).
    [id, /, **fields]
    fn send_campaign(id: i64; **fields) -> Campaign = |h: crm_core::Comms, id, f| {
        let request = SendCampaign::from_json_for(id, kwargs_to_json(f)?).py()?;
        op(async move { h.send_campaign(request).await }, Campaign)
    };

    /// One customer's communication log, newest first: entries older than
    /// the id `before`, at most `limit`.
    [customer_id, /, *, before = None, limit = None]
    fn communications(customer_id: i64, before: Option<i64>, limit: Option<u32>) -> Vec<Communication> = |h: crm_core::Comms, id, before, limit| {
        let query = CommunicationQuery { customer_id: CustomerId(id), before, limit };
        op(async move { h.communications(query).await }, |v: Vec<_>| v.into_iter().map(Communication).collect::<Vec<_>>())
    };
}

/// Scores of every customer, a DataFrame of at most `batch_size` rows per
/// step; memory stays bounded whatever the number of customers. Iterate it
/// (`for frame in batches`), or `async for` from `AsyncAnalytics`.
#[pyclass(frozen, module = "crm_sdk")]
pub struct ScoreBatches {
    cursor: Arc<tokio::sync::Mutex<crm_core::analytics::ScoreCursor>>,
    batch_size: usize,
    guard: ProcessGuard,
}

impl ScoreBatches {
    fn next_scores(
        &self,
        max: usize,
    ) -> impl Future<Output = PyResult<Vec<crm_core::analytics::CustomerScore>>> + Send + 'static
    {
        let cursor = self.cursor.clone();
        async move { cursor.lock().await.next_batch(max).await.py() }
    }
}

#[pymethods]
impl ScoreBatches {
    /// The model the scores come from; `None` without purchase history.
    #[getter]
    fn model(&self, py: Python<'_>) -> PyResult<Option<AnalyticsModel>> {
        self.guard.check()?;
        let cursor = self.cursor.clone();
        block_on(py, async move {
            Ok(cursor.lock().await.model().cloned().map(AnalyticsModel))
        })
    }

    /// Up to `max` more scores as objects (default `batch_size`); an empty
    /// list means the end.
    #[pyo3(signature = (max = None))]
    fn next_batch(&self, py: Python<'_>, max: Option<usize>) -> PyResult<Vec<CustomerScore>> {
        self.guard.check()?;
        let scores = block_on(py, self.next_scores(max.unwrap_or(self.batch_size)))?;
        Ok(scores.into_iter().map(CustomerScore).collect::<Vec<_>>())
    }

    /// Awaitable `next_batch`, for asyncio.
    #[pyo3(signature = (max = None))]
    fn next_batch_async<'py>(
        &self,
        py: Python<'py>,
        max: Option<usize>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.guard.check()?;
        let fut = self.next_scores(max.unwrap_or(self.batch_size));
        awaitable(py, async move {
            Ok(fut
                .await?
                .into_iter()
                .map(CustomerScore)
                .collect::<Vec<_>>())
        })
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<ScoresFrame> {
        self.guard.check()?;
        let scores = block_on(py, self.next_scores(self.batch_size))?;
        if scores.is_empty() {
            return Err(PyStopIteration::new_err(()));
        }
        Ok(ScoresFrame(scores))
    }

    fn __aiter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.guard.check()?;
        let fut = self.next_scores(self.batch_size);
        awaitable(py, async move {
            let scores = fut.await?;
            if scores.is_empty() {
                return Err(pyo3::exceptions::PyStopAsyncIteration::new_err(()));
            }
            Ok(ScoresFrame(scores))
        })
    }
}

/// Follows the outbox in order, never skipping an event that may still
/// commit. `next_batch` returns what is there (possibly nothing).
#[pyclass(frozen, module = "crm_sdk")]
pub struct EventFollower {
    follower: Arc<tokio::sync::Mutex<crm_core::events::EventFollower>>,
    guard: ProcessGuard,
}

impl EventFollower {
    fn next_events(
        &self,
        max: u32,
    ) -> impl Future<Output = PyResult<Vec<OutboxEvent>>> + Send + 'static {
        let follower = self.follower.clone();
        async move {
            let events = follower.lock().await.next_batch(max).await.py()?;
            Ok(events.into_iter().map(OutboxEvent).collect::<Vec<_>>())
        }
    }
}

#[pymethods]
impl EventFollower {
    /// The id of the last event handed out (resume after it).
    #[getter]
    fn position(&self, py: Python<'_>) -> PyResult<i64> {
        self.guard.check()?;
        let follower = self.follower.clone();
        block_on(py, async move { Ok(follower.lock().await.position()) })
    }

    /// Up to `max` next events (1 to 1000), possibly none yet.
    #[pyo3(signature = (max = 100))]
    fn next_batch(&self, py: Python<'_>, max: u32) -> PyResult<Vec<OutboxEvent>> {
        self.guard.check()?;
        block_on(py, self.next_events(max))
    }

    /// Awaitable `next_batch`, for asyncio.
    #[pyo3(signature = (max = 100))]
    fn next_batch_async<'py>(&self, py: Python<'py>, max: u32) -> PyResult<Bound<'py, PyAny>> {
        self.guard.check()?;
        awaitable(py, self.next_events(max))
    }
}

/// Registers the handle classes.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Customers>()?;
    m.add_class::<AsyncCustomers>()?;
    m.add_class::<Loyalty>()?;
    m.add_class::<AsyncLoyalty>()?;
    m.add_class::<Analytics>()?;
    m.add_class::<AsyncAnalytics>()?;
    m.add_class::<Events>()?;
    m.add_class::<AsyncEvents>()?;
    m.add_class::<Users>()?;
    m.add_class::<AsyncUsers>()?;
    m.add_class::<Comms>()?;
    m.add_class::<AsyncComms>()?;
    m.add_class::<ScoreBatches>()?;
    m.add_class::<EventFollower>()?;
    Ok(())
}
