//! The handles, one class per crm-core handle with the same methods in
//! camelCase. Each method reads its request with the core's reader (every
//! failing field reported at once, as a rejection), makes one call on the
//! core handle off the JavaScript thread, and converts the answer.

use std::path::{Path, PathBuf};

use crm_core::json::JsonFields;
use crm_core::loyalty::{NewPurchase, PointsRequest, ReceiptRef, RefundRequest};
use crm_core::users::{ChangePassword, Credentials, NewUser, ResetPassword, SetRole};
use crm_core::{
    CustomerId, CustomerPatch, CustomerQuery, FromJson, MergeCustomers, NewCustomer, UpdateCustomer,
};
use napi::Env;
use napi_derive::napi;
use serde_json::Value;

use crate::convert::{id, js_to_core, out, out_all, params, read, with_id};
use crate::iter::{EventSubscription, ScoreBatches};
use crate::{Closed, Promise, promise, types};

/// `new` and `open` of a handle class; the struct itself is written out so
/// its doc comment reaches `index.d.ts` as written.
macro_rules! handle {
    ($name:ident($core:ty)) => {
        impl $name {
            pub(crate) fn new(handle: $core, closed: Closed) -> Self {
                Self { handle, closed }
            }

            /// The core handle, unless the `Crm` is closed.
            fn open(&self) -> crm_core::Result<$core> {
                self.closed.check()?;
                Ok(self.handle.clone())
            }
        }
    };
}

/// Rows of an import, each read by `T`'s reader; every failing field of
/// every row is reported at once, prefixed with the row (`[3].email`).
fn read_rows<T: FromJson>(rows: Vec<Value>) -> crm_core::Result<Vec<T>> {
    let mut errors = crm_core::FieldErrors::new();
    let mut out = Vec::with_capacity(rows.len());
    for (i, row) in rows.into_iter().enumerate() {
        let prefix = format!("[{i}].");
        let row = errors.check(&prefix, js_to_core(row));
        if let Some(v) = row.and_then(|row| errors.check(&prefix, T::from_json(row))) {
            out.push(v);
        }
    }
    errors.finish_with(out)
}

/// Customers: create, import, read, update, deactivate, list, merge,
/// CSV files in and out.
#[napi]
pub struct Customers {
    handle: crm_core::Customers,
    /// What `crm-csv` works on (the same CRM, the same actor).
    crm: crm_core::Crm,
    closed: Closed,
}

impl Customers {
    pub(crate) fn new(crm: crm_core::Crm, closed: Closed) -> Self {
        Self {
            handle: crm.customers(),
            crm,
            closed,
        }
    }

    /// The core handle, unless the `Crm` is closed.
    fn open(&self) -> crm_core::Result<crm_core::Customers> {
        self.closed.check()?;
        Ok(self.handle.clone())
    }

    /// The CRM, unless it is closed.
    fn open_crm(&self) -> crm_core::Result<crm_core::Crm> {
        self.closed.check()?;
        Ok(self.crm.clone())
    }
}

#[napi]
impl Customers {
    /// Creates a customer; every failing field is reported at once
    /// (`err.code === 'validation'`, `err.fields`). An email or phone held
    /// by an active customer rejects with `duplicate_customer`
    /// (`err.existingCustomerCode`).
    #[napi(
        ts_args_type = "input: NewCustomer",
        ts_return_type = "Promise<Customer>"
    )]
    pub fn create<'env>(&self, env: &'env Env, input: Value) -> Promise<'env, types::Customer> {
        let h = self.open();
        promise(env, async move {
            let input: NewCustomer = read(input)?;
            out(h?.create(input).await?)
        })
    }

    /// Creates many customers at once (at most 10,000): all or none;
    /// failing fields are named by row (`[3].email`).
    #[napi(
        ts_args_type = "rows: NewCustomer[]",
        ts_return_type = "Promise<Customer[]>"
    )]
    pub fn import<'env>(
        &self,
        env: &'env Env,
        rows: Vec<Value>,
    ) -> Promise<'env, Vec<types::Customer>> {
        let h = self.open();
        promise(env, async move {
            let rows = read_rows::<NewCustomer>(rows)?;
            out_all(h?.import(rows).await?)
        })
    }

    /// The customer with this id (active or not); `not_found` otherwise.
    #[napi(ts_return_type = "Promise<Customer>")]
    pub fn get<'env>(&self, env: &'env Env, id: f64) -> Promise<'env, types::Customer> {
        let h = self.open();
        promise(env, async move {
            let id = CustomerId(crate::convert::id("id", id)?);
            out(h?.get(id).await?)
        })
    }

    /// The customer with this code (`RT00000001`).
    #[napi(ts_return_type = "Promise<Customer>")]
    pub fn by_code<'env>(&self, env: &'env Env, code: String) -> Promise<'env, types::Customer> {
        let h = self.open();
        promise(env, async move { out(h?.by_code(code).await?) })
    }

    /// Changes the given fields (`null` clears an optional one); fields that
    /// cannot change (`customerType`, `customerCode`) are refused.
    #[napi(
        ts_args_type = "input: UpdateCustomer",
        ts_return_type = "Promise<Customer>"
    )]
    pub fn update<'env>(&self, env: &'env Env, input: Value) -> Promise<'env, types::Customer> {
        let h = self.open();
        promise(env, async move {
            let request = with_id(input, "id", |id, rest| {
                Ok(UpdateCustomer {
                    id: CustomerId(id),
                    patch: CustomerPatch::from_json(rest)?,
                })
            })?;
            out(h?.update(request).await?)
        })
    }

    /// Deactivates a customer (soft delete); the history stays.
    #[napi(ts_return_type = "Promise<Customer>")]
    pub fn deactivate<'env>(&self, env: &'env Env, id: f64) -> Promise<'env, types::Customer> {
        let h = self.open();
        promise(env, async move {
            let id = CustomerId(crate::convert::id("id", id)?);
            out(h?.deactivate(id).await?)
        })
    }

    /// Reactivates a deactivated customer.
    #[napi(ts_return_type = "Promise<Customer>")]
    pub fn reactivate<'env>(&self, env: &'env Env, id: f64) -> Promise<'env, types::Customer> {
        let h = self.open();
        promise(env, async move {
            let id = CustomerId(crate::convert::id("id", id)?);
            out(h?.reactivate(id).await?)
        })
    }

    /// Erases a customer's personal data (name, contact, address, tags);
    /// the ledger and purchases stay.
    #[napi(ts_return_type = "Promise<Customer>")]
    pub fn erase<'env>(&self, env: &'env Env, id: f64) -> Promise<'env, types::Customer> {
        let h = self.open();
        promise(env, async move {
            let id = CustomerId(crate::convert::id("id", id)?);
            out(h?.erase(id).await?)
        })
    }

    /// A page of customers: filters, order, offset or keyset paging.
    #[napi(
        ts_args_type = "query?: CustomerQuery",
        ts_return_type = "Promise<CustomerPage>"
    )]
    pub fn list<'env>(
        &self,
        env: &'env Env,
        query: Option<Value>,
    ) -> Promise<'env, types::CustomerPage> {
        let h = self.open();
        promise(env, async move {
            let query: CustomerQuery =
                read(query.unwrap_or_else(|| Value::Object(Default::default())))?;
            out(h?.list(query).await?)
        })
    }

    /// Merges the duplicate `from` into `into`: purchases, points and debt
    /// move; `from` is deactivated. Merging again changes nothing.
    #[napi(
        ts_args_type = "input: MergeCustomers",
        ts_return_type = "Promise<MergeResult>"
    )]
    pub fn merge<'env>(&self, env: &'env Env, input: Value) -> Promise<'env, types::MergeResult> {
        let h = self.open();
        promise(env, async move {
            let request: MergeCustomers = read(input)?;
            out(h?.merge(request).await?)
        })
    }

    /// Imports a customer CSV file (a list from an old POS or a
    /// spreadsheet, Indonesian headers welcome) row by row: good rows are
    /// created, bad rows and duplicates are listed in `issues` (and in the
    /// `report` file) instead of failing the import. A problem with the
    /// whole file (no name column, say) or a bad option rejects with
    /// `validation` (`err.fields`); a missing file with `not_found`. Runs
    /// off the JavaScript thread.
    #[napi(
        ts_args_type = "path: string, options?: ImportCsvOptions",
        ts_return_type = "Promise<ImportSummary>"
    )]
    pub fn import_csv<'env>(
        &self,
        env: &'env Env,
        path: String,
        options: Option<Value>,
    ) -> Promise<'env, types::ImportSummary> {
        let crm = self.open_crm();
        promise(env, async move {
            let options = crate::csv::import_options(options)?;
            let crm = crm?;
            let path = PathBuf::from(path);
            let summary = crm_csv::import::import_customers_file(&crm, &path, &options, |_| {})
                .await
                .map_err(|e| crate::csv::import_error(e, &path, options.report.as_deref()))?;
            crate::csv::summary(summary)
        })
    }

    /// Writes every customer matching the filters (those of `list`,
    /// without paging) to the CSV file `path`, in the columns `importCsv`
    /// reads back; text cells are guarded against formula injection
    /// (`=SUM(...)` is written `'=SUM(...)`). Resolves with the number of
    /// customers written. A failed export leaves no partial file.
    #[napi(
        ts_args_type = "path: string, filters?: Omit<CustomerQuery, 'page' | 'limit' | 'cursor'>",
        ts_return_type = "Promise<number>"
    )]
    pub fn export_csv<'env>(
        &self,
        env: &'env Env,
        path: String,
        filters: Option<Value>,
    ) -> Promise<'env, i64> {
        let crm = self.open_crm();
        promise(env, async move {
            let query: CustomerQuery =
                read(filters.unwrap_or_else(|| Value::Object(Default::default())))?;
            crate::csv::export_file(&crm?, query, Path::new(&path)).await
        })
    }

    /// One customer's audit trail, oldest first.
    #[napi(
        ts_args_type = "query: AuditQuery",
        ts_return_type = "Promise<AuditEntry[]>"
    )]
    pub fn audit<'env>(
        &self,
        env: &'env Env,
        query: Value,
    ) -> Promise<'env, Vec<types::AuditEntry>> {
        let h = self.open();
        promise(env, async move {
            let query = crm_core::audit::AuditQuery::from_params(params(query)?)?;
            out_all(h?.audit(query).await?)
        })
    }
}

/// The loyalty programme: purchases, refunds, earn, redeem, adjust,
/// expiry, balances, history import.
#[napi]
pub struct Loyalty {
    handle: crm_core::Loyalty,
    closed: Closed,
}

handle!(Loyalty(crm_core::Loyalty));

#[napi]
impl Loyalty {
    /// Records a purchase and earns its points. Sending the same receipt
    /// again changes nothing and answers as the first time (`replayed`).
    #[napi(
        ts_args_type = "input: NewPurchase",
        ts_return_type = "Promise<PurchaseRecorded>"
    )]
    pub fn record_purchase<'env>(
        &self,
        env: &'env Env,
        input: Value,
    ) -> Promise<'env, types::PurchaseRecorded> {
        let h = self.open();
        promise(env, async move {
            let request: NewPurchase = read(input)?;
            out(h?.record_purchase(request).await?)
        })
    }

    /// Refunds (part of) a purchase, reversing its points pro rata; the
    /// same `refundId` again changes nothing.
    #[napi(
        ts_args_type = "input: RefundRequest",
        ts_return_type = "Promise<RefundRecorded>"
    )]
    pub fn refund<'env>(
        &self,
        env: &'env Env,
        input: Value,
    ) -> Promise<'env, types::RefundRecorded> {
        let h = self.open();
        promise(env, async move {
            let request: RefundRequest = read(input)?;
            out(h?.refund(request).await?)
        })
    }

    /// Earns points by hand; the reference makes it idempotent.
    #[napi(
        ts_args_type = "input: PointsRequest",
        ts_return_type = "Promise<PointsApplied>"
    )]
    pub fn earn<'env>(&self, env: &'env Env, input: Value) -> Promise<'env, types::PointsApplied> {
        let h = self.open();
        promise(env, async move {
            let request: PointsRequest = read(input)?;
            out(h?.earn(request).await?)
        })
    }

    /// Redeems points, never below zero (`insufficient_points`, with
    /// `err.available`); a refusal is final: a replay answers the same.
    #[napi(
        ts_args_type = "input: PointsRequest",
        ts_return_type = "Promise<PointsApplied>"
    )]
    pub fn redeem<'env>(
        &self,
        env: &'env Env,
        input: Value,
    ) -> Promise<'env, types::PointsApplied> {
        let h = self.open();
        promise(env, async move {
            let request: PointsRequest = read(input)?;
            out(h?.redeem(request).await?)
        })
    }

    /// Corrects a balance either way.
    #[napi(
        ts_args_type = "input: PointsRequest",
        ts_return_type = "Promise<PointsApplied>"
    )]
    pub fn adjust<'env>(
        &self,
        env: &'env Env,
        input: Value,
    ) -> Promise<'env, types::PointsApplied> {
        let h = self.open();
        promise(env, async move {
            let request: PointsRequest = read(input)?;
            out(h?.adjust(request).await?)
        })
    }

    /// Expires every lot due now; running it again finds nothing to do.
    #[napi(ts_return_type = "Promise<ExpiryRun>")]
    pub fn run_expiry<'env>(&self, env: &'env Env) -> Promise<'env, types::ExpiryRun> {
        let h = self.open();
        promise(env, async move { out(h?.run_expiry().await?) })
    }

    /// A customer's points, read in constant time.
    #[napi(ts_return_type = "Promise<PointsBalance>")]
    pub fn balance<'env>(
        &self,
        env: &'env Env,
        customer_id: f64,
    ) -> Promise<'env, types::PointsBalance> {
        let h = self.open();
        promise(env, async move {
            let customer = CustomerId(id("customerId", customer_id)?);
            out(h?.balance(customer).await?)
        })
    }

    /// A customer's loyalty position: points, tier, lots, recent entries.
    #[napi(ts_return_type = "Promise<LoyaltySummary>")]
    pub fn summary<'env>(
        &self,
        env: &'env Env,
        customer_id: f64,
    ) -> Promise<'env, types::LoyaltySummary> {
        let h = self.open();
        promise(env, async move {
            let customer = CustomerId(id("customerId", customer_id)?);
            out(h?.summary(customer).await?)
        })
    }

    /// Recomputes a balance from the ledger and compares.
    #[napi(ts_return_type = "Promise<BalanceCheck>")]
    pub fn check_balance<'env>(
        &self,
        env: &'env Env,
        customer_id: f64,
    ) -> Promise<'env, types::BalanceCheck> {
        let h = self.open();
        promise(env, async move {
            let customer = CustomerId(id("customerId", customer_id)?);
            out(h?.check_balance(customer).await?)
        })
    }

    /// The purchase with this receipt, or `null`.
    #[napi(
        ts_args_type = "receipt: ReceiptRef",
        ts_return_type = "Promise<Purchase | null>"
    )]
    pub fn purchase<'env>(
        &self,
        env: &'env Env,
        receipt: Value,
    ) -> Promise<'env, Option<types::Purchase>> {
        let h = self.open();
        promise(env, async move {
            let mut r = JsonFields::new(js_to_core(receipt)?)?;
            let store_id: String = r.required("store_id", "a string");
            let receipt_id: String = r.required("receipt_id", "a string");
            r.finish("receipt")?;
            let found = h?
                .purchase(ReceiptRef {
                    store_id,
                    receipt_id,
                })
                .await?;
            found.map(out).transpose()
        })
    }

    /// Imports purchase history (at most 10,000 rows): all or none,
    /// receipts already stored are skipped, no points are earned.
    #[napi(
        ts_args_type = "rows: NewPurchase[]",
        ts_return_type = "Promise<PurchaseImportReport>"
    )]
    pub fn import_history<'env>(
        &self,
        env: &'env Env,
        rows: Vec<Value>,
    ) -> Promise<'env, types::PurchaseImportReport> {
        let h = self.open();
        promise(env, async move {
            let rows = read_rows::<NewPurchase>(rows)?;
            out(h?.import_history(rows).await?)
        })
    }
}

/// Customer analytics: one customer's scores, everyone's, segment
/// totals, model fitting.
#[napi]
pub struct Analytics {
    handle: crm_core::Analytics,
    closed: Closed,
}

handle!(Analytics(crm_core::Analytics));

#[napi]
impl Analytics {
    /// The analytics of one customer (segment, lifetime value, churn).
    #[napi(ts_return_type = "Promise<CustomerScore>")]
    pub fn customer<'env>(
        &self,
        env: &'env Env,
        customer_id: f64,
    ) -> Promise<'env, types::CustomerScore> {
        let h = self.open();
        promise(env, async move {
            let customer = CustomerId(id("customerId", customer_id)?);
            out(h?.customer(customer).await?)
        })
    }

    /// Every customer with purchases, scored, in one array. For very large
    /// stores iterate `scoreBatches()` instead.
    #[napi(ts_return_type = "Promise<CustomerScore[]>")]
    pub fn score_all<'env>(&self, env: &'env Env) -> Promise<'env, Vec<types::CustomerScore>> {
        let h = self.open();
        promise(env, async move {
            let mut cursor = h?.score_all().await?;
            let mut all = Vec::new();
            loop {
                let batch = cursor.next_batch(10_000).await?;
                if batch.is_empty() {
                    return Ok(all);
                }
                all.extend(out_all::<_, types::CustomerScore>(batch)?);
            }
        })
    }

    /// Every customer's scores in arrays of at most `batchSize`, with
    /// bounded memory: `for await (const batch of analytics.scoreBatches())`.
    #[napi]
    pub fn score_batches(&self, options: Option<types::ScoreBatchOptions>) -> ScoreBatches {
        let size = options.and_then(|o| o.batch_size).unwrap_or(10_000).max(1);
        ScoreBatches::new(self.handle.clone(), self.closed.clone(), size as usize)
    }

    /// Customers and lifetime value per segment, from the last fit.
    #[napi(ts_return_type = "Promise<SegmentTotal[]>")]
    pub fn segments<'env>(&self, env: &'env Env) -> Promise<'env, Vec<types::SegmentTotal>> {
        let h = self.open();
        promise(env, async move { out_all(h?.segments().await?) })
    }

    /// Fits the models on the whole history and keeps the fit; resolves
    /// with the model snapshot (keep it, give it to `loadModel`).
    #[napi(ts_return_type = "Promise<Record<string, unknown>>")]
    pub fn refit<'env>(&self, env: &'env Env) -> Promise<'env, Value> {
        let h = self.open();
        promise(env, async move { out(h?.refit().await?) })
    }

    /// The last fit, or `null`.
    #[napi(ts_return_type = "Promise<FittedAnalytics | null>")]
    pub fn last_fit<'env>(&self, env: &'env Env) -> Promise<'env, Option<types::FittedAnalytics>> {
        let h = self.open();
        promise(
            env,
            async move { h?.last_fit().await?.map(out).transpose() },
        )
    }

    /// Replaces the kept model with a snapshot (what `refit` resolved with,
    /// or its JSON text).
    #[napi(
        ts_args_type = "model: Record<string, unknown> | string",
        ts_return_type = "Promise<void>"
    )]
    pub fn load_model<'env>(&self, env: &'env Env, model: Value) -> Promise<'env, ()> {
        let h = self.open();
        promise(env, async move {
            let parsed = match model {
                Value::String(text) => serde_json::from_str(&text),
                other => serde_json::from_value(other),
            };
            let model = parsed.map_err(|e| {
                crm_core::Error::invalid("model", "type", format!("not a model snapshot: {e}"))
            })?;
            h?.load_model(model).await
        })
    }
}

/// The outbox of domain events, in order, and live subscriptions.
#[napi]
pub struct Events {
    handle: crm_core::Events,
    closed: Closed,
}

handle!(Events(crm_core::Events));

#[napi]
impl Events {
    /// Events with an id above `after`, oldest first, at most `limit`
    /// (1 to 1000).
    #[napi(
        ts_args_type = "query?: EventQuery",
        ts_return_type = "Promise<OutboxEvent[]>"
    )]
    pub fn list<'env>(
        &self,
        env: &'env Env,
        query: Option<Value>,
    ) -> Promise<'env, Vec<types::OutboxEvent>> {
        let h = self.open();
        promise(env, async move {
            let query = query.unwrap_or_else(|| Value::Object(Default::default()));
            let mut r = JsonFields::new(js_to_core(query)?)?;
            let defaults = crm_core::events::EventQuery::default();
            let after = r
                .optional("after", "a whole number")
                .unwrap_or(defaults.after);
            let limit = r
                .optional("limit", "a whole number from 1 to 1000")
                .unwrap_or(defaults.limit);
            r.finish("event query")?;
            let query = crm_core::events::EventQuery { after, limit };
            out_all(h?.list(query).await?)
        })
    }

    /// The id of the newest event (0 when there is none).
    #[napi(ts_return_type = "Promise<number>")]
    pub fn last_id<'env>(&self, env: &'env Env) -> Promise<'env, i64> {
        let h = self.open();
        promise(env, async move { h?.last_id().await })
    }

    /// Live events, in order, as an async iterator:
    /// `for await (const event of crm.events.subscribe({ after }))`.
    /// Resumes after `after` without a gap or a duplicate (default: only
    /// events from now on); waits for an id that may still be committing
    /// like the server does; stops when the loop is left.
    #[napi]
    pub fn subscribe(
        &self,
        options: Option<types::SubscribeOptions>,
    ) -> napi::Result<EventSubscription> {
        EventSubscription::new(self.handle.clone(), self.closed.clone(), options)
    }
}

/// Staff users (logins and roles).
#[napi]
pub struct Users {
    handle: crm_core::Users,
    closed: Closed,
}

handle!(Users(crm_core::Users));

#[napi]
impl Users {
    /// Creates a user.
    #[napi(ts_args_type = "input: NewUser", ts_return_type = "Promise<User>")]
    pub fn create<'env>(&self, env: &'env Env, input: Value) -> Promise<'env, types::User> {
        let h = self.open();
        promise(env, async move {
            let input: NewUser = read(input)?;
            out(h?.create(input).await?)
        })
    }

    /// The user with these credentials; a wrong password or a disabled
    /// user rejects with `unauthorized`.
    #[napi(ts_args_type = "input: Credentials", ts_return_type = "Promise<User>")]
    pub fn authenticate<'env>(&self, env: &'env Env, input: Value) -> Promise<'env, types::User> {
        let h = self.open();
        promise(env, async move {
            let input: Credentials = read(input)?;
            out(h?.authenticate(input).await?)
        })
    }

    /// Every user, by id.
    #[napi(ts_return_type = "Promise<User[]>")]
    pub fn list<'env>(&self, env: &'env Env) -> Promise<'env, Vec<types::User>> {
        let h = self.open();
        promise(env, async move { out_all(h?.list().await?) })
    }

    /// The user with this id.
    #[napi(ts_return_type = "Promise<User>")]
    pub fn get<'env>(&self, env: &'env Env, id: f64) -> Promise<'env, types::User> {
        let h = self.open();
        promise(env, async move {
            let id = crate::convert::id("id", id)?;
            out(h?.get(id).await?)
        })
    }

    /// Disables a user (its tokens stop working).
    #[napi(ts_return_type = "Promise<User>")]
    pub fn disable<'env>(&self, env: &'env Env, id: f64) -> Promise<'env, types::User> {
        let h = self.open();
        promise(env, async move {
            let id = crate::convert::id("id", id)?;
            out(h?.disable(id).await?)
        })
    }

    /// Enables a disabled user.
    #[napi(ts_return_type = "Promise<User>")]
    pub fn enable<'env>(&self, env: &'env Env, id: f64) -> Promise<'env, types::User> {
        let h = self.open();
        promise(env, async move {
            let id = crate::convert::id("id", id)?;
            out(h?.enable(id).await?)
        })
    }

    /// Changes a user's role; the last active admin cannot be demoted.
    #[napi(ts_args_type = "input: SetRole", ts_return_type = "Promise<User>")]
    pub fn set_role<'env>(&self, env: &'env Env, input: Value) -> Promise<'env, types::User> {
        let h = self.open();
        promise(env, async move {
            let input = with_id(input, "id", SetRole::from_json_for)?;
            out(h?.set_role(input).await?)
        })
    }

    /// A user changes its own password, proving the current one.
    #[napi(
        ts_args_type = "input: ChangePassword",
        ts_return_type = "Promise<User>"
    )]
    pub fn change_password<'env>(
        &self,
        env: &'env Env,
        input: Value,
    ) -> Promise<'env, types::User> {
        let h = self.open();
        promise(env, async move {
            let input = with_id(input, "id", ChangePassword::from_json_for)?;
            out(h?.change_password(input).await?)
        })
    }

    /// An administrator sets a user's password.
    #[napi(
        ts_args_type = "input: ResetPassword",
        ts_return_type = "Promise<User>"
    )]
    pub fn reset_password<'env>(&self, env: &'env Env, input: Value) -> Promise<'env, types::User> {
        let h = self.open();
        promise(env, async move {
            let input = with_id(input, "id", ResetPassword::from_json_for)?;
            out(h?.reset_password(input).await?)
        })
    }
}

/// Customer communications: templates, previews, consent and unsubscribe,
/// campaigns, the communication log. Campaigns are delivered by a
/// dispatcher (the example server runs one).
#[napi]
pub struct Comms {
    handle: crm_core::Comms,
    closed: Closed,
}

handle!(Comms(crm_core::Comms));

#[napi]
impl Comms {
    /// Saves a template; an unknown placeholder rejects with `validation`.
    #[napi(
        ts_args_type = "input: NewTemplate",
        ts_return_type = "Promise<Template>"
    )]
    pub fn create_template<'env>(
        &self,
        env: &'env Env,
        input: Value,
    ) -> Promise<'env, types::Template> {
        let h = self.open();
        promise(env, async move {
            let input: crm_core::comms::NewTemplate = read(input)?;
            out(h?.create_template(input).await?)
        })
    }

    /// Every template, newest first.
    #[napi(ts_return_type = "Promise<Template[]>")]
    pub fn templates<'env>(&self, env: &'env Env) -> Promise<'env, Vec<types::Template>> {
        let h = self.open();
        promise(env, async move { out_all(h?.templates().await?) })
    }

    /// One template.
    #[napi(ts_return_type = "Promise<Template>")]
    pub fn template<'env>(&self, env: &'env Env, id: f64) -> Promise<'env, types::Template> {
        let h = self.open();
        promise(env, async move {
            let id = crate::convert::id("id", id)?;
            out(h?.template(id).await?)
        })
    }

    /// A template rendered for one customer; nothing is sent.
    #[napi(ts_args_type = "input: Preview", ts_return_type = "Promise<Rendered>")]
    pub fn preview<'env>(&self, env: &'env Env, input: Value) -> Promise<'env, types::Rendered> {
        let h = self.open();
        promise(env, async move {
            let input: crm_core::comms::Preview = read(input)?;
            out(h?.preview(input).await?)
        })
    }

    /// Records an opt-in or opt-out.
    #[napi(
        ts_args_type = "input: ConsentChange",
        ts_return_type = "Promise<ConsentRecord>"
    )]
    pub fn set_consent<'env>(
        &self,
        env: &'env Env,
        input: Value,
    ) -> Promise<'env, types::ConsentRecord> {
        let h = self.open();
        promise(env, async move {
            let input: crm_core::comms::ConsentChange = read(input)?;
            out(h?.set_consent(input).await?)
        })
    }

    /// A customer's consent now, with its history.
    #[napi(ts_return_type = "Promise<CustomerConsent>")]
    pub fn consent<'env>(
        &self,
        env: &'env Env,
        customer_id: f64,
    ) -> Promise<'env, types::CustomerConsent> {
        let h = self.open();
        promise(env, async move {
            let id = CustomerId(crate::convert::id("customerId", customer_id)?);
            out(h?.consent(id).await?)
        })
    }

    /// The signed one-click unsubscribe link of a customer on a channel.
    #[napi(
        ts_args_type = "customerId: number, channel: 'email' | 'sms', campaignId?: number",
        ts_return_type = "Promise<string>"
    )]
    pub fn unsubscribe_url<'env>(
        &self,
        env: &'env Env,
        customer_id: f64,
        channel: String,
        campaign_id: Option<f64>,
    ) -> Promise<'env, String> {
        let h = self.open();
        promise(env, async move {
            let id = CustomerId(crate::convert::id("customerId", customer_id)?);
            let channel: crm_core::comms::Channel = channel.parse()?;
            let campaign = campaign_id
                .map(|c| crate::convert::id("campaignId", c))
                .transpose()?;
            h?.unsubscribe_url(id, channel, campaign).await
        })
    }

    /// Opts a customer out through the token of an unsubscribe link.
    #[napi(ts_return_type = "Promise<ConsentRecord>")]
    pub fn unsubscribe<'env>(
        &self,
        env: &'env Env,
        token: String,
    ) -> Promise<'env, types::ConsentRecord> {
        let h = self.open();
        promise(env, async move { out(h?.unsubscribe(&token).await?) })
    }

    /// Creates a draft campaign.
    #[napi(
        ts_args_type = "input: NewCampaign",
        ts_return_type = "Promise<Campaign>"
    )]
    pub fn create_campaign<'env>(
        &self,
        env: &'env Env,
        input: Value,
    ) -> Promise<'env, types::Campaign> {
        let h = self.open();
        promise(env, async move {
            let input: crm_core::comms::NewCampaign = read(input)?;
            out(h?.create_campaign(input).await?)
        })
    }

    /// A campaign with its progress.
    #[napi(ts_return_type = "Promise<Campaign>")]
    pub fn campaign<'env>(&self, env: &'env Env, id: f64) -> Promise<'env, types::Campaign> {
        let h = self.open();
        promise(env, async move {
            let id = crate::convert::id("id", id)?;
            out(h?.campaign(id).await?)
        })
    }

    /// The newest campaigns.
    #[napi(ts_return_type = "Promise<Campaign[]>")]
    pub fn campaigns<'env>(&self, env: &'env Env) -> Promise<'env, Vec<types::Campaign>> {
        let h = self.open();
        promise(env, async move { out_all(h?.campaigns().await?) })
    }

    /// Sends a campaign now, or schedules it (`at`).
    #[napi(
        ts_args_type = "input: SendCampaign",
        ts_return_type = "Promise<Campaign>"
    )]
    pub fn send_campaign<'env>(
        &self,
        env: &'env Env,
        input: Value,
    ) -> Promise<'env, types::Campaign> {
        let h = self.open();
        promise(env, async move {
            let input: crm_core::comms::SendCampaign = read(input)?;
            out(h?.send_campaign(input).await?)
        })
    }

    /// One customer's communication log, newest first.
    #[napi(
        ts_args_type = "input: CommunicationQuery",
        ts_return_type = "Promise<Communication[]>"
    )]
    pub fn communications<'env>(
        &self,
        env: &'env Env,
        input: Value,
    ) -> Promise<'env, Vec<types::Communication>> {
        let h = self.open();
        promise(env, async move {
            let input: crm_core::comms::CommunicationQuery = read(input)?;
            out_all(h?.communications(input).await?)
        })
    }
}
