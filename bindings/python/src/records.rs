//! The result types: one frozen Python class per core result type, holding
//! the core value and exposing its fields as attributes (converted on
//! access by [`ToPy`]), with `to_dict()`, a `repr` naming the fields that
//! identify it, and equality by value.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::convert::ToPy;
use crate::frames;

/// Defines a record class over a core type: a getter per field, `to_dict`,
/// `__repr__` (the `repr` fields), `__eq__`, the `FIELDS` in order, and
/// [`ToPy`] for the core type (the class, or its dict).
macro_rules! record {
    (
        $(#[$doc:meta])*
        $name:ident($inner:ty) {
            $( $(#[$fdoc:meta])* $field:ident => |$v:ident| $get:expr, )*
        }
        repr: [$($rf:ident),*]
        $(methods { $($extra:tt)* })?
    ) => {
        $(#[$doc])*
        #[pyclass(frozen, eq, module = "crm_sdk")]
        #[derive(Clone, PartialEq)]
        pub struct $name(pub $inner);

        impl $name {
            /// The attribute names, in order (columns of `to_pandas`).
            #[allow(dead_code)]
            pub(crate) const FIELDS: &'static [&'static str] = &[$(stringify!($field)),*];
        }

        #[pymethods]
        #[allow(non_snake_case)]
        impl $name {
            $(
                $(#[$fdoc])*
                #[getter]
                fn $field<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
                    let $v = &self.0;
                    ToPy::to_py(&$get, py)
                }
            )*

            /// The fields as a dict; nested results become dicts too.
            fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
                let d = PyDict::new(py);
                $({
                    let $v = &self.0;
                    d.set_item(stringify!($field), ToPy::to_plain(&$get, py)?)?;
                })*
                Ok(d)
            }

            fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
                let parts: Vec<String> = vec![$(
                    format!("{}={}", stringify!($rf), self.$rf(py)?.repr()?),
                )*];
                Ok(format!("{}({})", stringify!($name), parts.join(", ")))
            }

            $($($extra)*)?
        }

        impl ToPy for $inner {
            fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
                Ok(Bound::new(py, $name(self.clone()))?.into_any())
            }
            fn to_plain<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
                Ok($name(self.clone()).to_dict(py)?.into_any())
            }
        }
    };
}

record! {
    /// A postal address; every part optional.
    Address(crm_core::Address) {
        /// First line (street and number).
        line1 => |a| a.line1,
        /// Second line.
        line2 => |a| a.line2,
        /// City.
        city => |a| a.city,
        /// Province or state.
        province => |a| a.province,
        /// Postal code.
        postal_code => |a| a.postal_code,
        /// Country (ISO 3166-1 alpha-2).
        country => |a| a.country,
    }
    repr: [city, country]
}

record! {
    /// A customer, with normalised contact data (lower-cased email, E.164
    /// phone) and the code given at creation (`RT00000001`).
    Customer(crm_core::Customer) {
        /// Id.
        id => |c| c.id,
        /// The customer code: type prefix and 8 digits, never changes.
        customer_code => |c| c.customer_code,
        /// Name.
        name => |c| c.name,
        /// Email, lower-cased.
        email => |c| c.email,
        /// Phone in E.164 (`+6281234567890`).
        phone => |c| c.phone,
        /// `RETAIL`, `WHOLESALE`, `DISTRIBUTOR` or `CORPORATE`.
        customer_type => |c| c.customer_type,
        /// Credit limit (`Decimal`).
        credit_limit => |c| c.credit_limit,
        /// Postal address.
        address => |c| c.address,
        /// Birthday (`date`).
        birthday => |c| c.birthday,
        /// Tags.
        tags => |c| c.tags,
        /// `False` once deactivated or merged.
        is_active => |c| c.is_active,
        /// The customer this one was merged into.
        merged_into => |c| c.merged_into,
        /// Who merged it.
        merged_by => |c| c.merged_by,
        /// When it was merged.
        merged_at => |c| c.merged_at,
        /// Raised by every change (optimistic concurrency).
        version => |c| c.version,
        /// When created (UTC).
        created_at => |c| c.created_at,
        /// When last changed (UTC).
        updated_at => |c| c.updated_at,
    }
    repr: [id, customer_code, name, customer_type, is_active]
}

record! {
    /// One page of a customer listing: iterate it for the customers.
    CustomerPage(crm_core::CustomerPage) {
        /// The customers on this page.
        items => |p| p.items,
        /// The page number (1 when paging by cursor).
        page => |p| p.page,
        /// The page size used.
        limit => |p| p.limit,
        /// How many customers match, over all pages, when counted (by
        /// default an offset page without `q`; `count=True` asks); `None`
        /// otherwise.
        total => |p| p.total,
        /// Pass as `cursor=` for the next page; `None` on the last page.
        next_cursor => |p| p.next_cursor,
    }
    repr: [page, limit, total, next_cursor]
    methods {
        fn __len__(&self) -> usize {
            self.0.items.len()
        }

        fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
            self.0.items.to_py(py)?.try_iter().map(Bound::into_any)
        }

        fn __getitem__<'py>(&self, py: Python<'py>, index: isize) -> PyResult<Bound<'py, PyAny>> {
            let items = self.0.items.to_py(py)?;
            items.cast::<PyList>()?.as_any().get_item(index)
        }

        /// The customers of this page as a pandas DataFrame, one column
        /// per attribute of `Customer`.
        fn to_pandas<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
            frames::records_frame(py, &self.0.items, Customer::FIELDS)
        }
    }
}

record! {
    /// The result of a merge.
    MergeResult(crm_core::loyalty::MergeResult) {
        /// The customer that stays.
        into => |m| m.into,
        /// The merged customer, now inactive and pointing at `into`.
        merged => |m| m.merged,
        /// `True` when the merge was done before and nothing changed.
        replayed => |m| m.replayed,
    }
    repr: [into, merged, replayed]
}

record! {
    /// One entry of the append-only loyalty ledger.
    LedgerEntry(crm_core::loyalty::LedgerEntry) {
        /// Id (increasing).
        id => |e| e.id,
        /// Whose points.
        customer_id => |e| e.customer_id,
        /// `EARN`, `REDEEM`, `EXPIRE`, `ADJUST` or `REVERSAL`.
        entry_type => |e| e.entry_type,
        /// Signed points.
        points => |e| e.points,
        /// The balance right after this entry.
        balance_after => |e| e.balance_after,
        /// Idempotency key, part 1.
        reference_type => |e| e.reference_type,
        /// Idempotency key, part 2.
        reference_id => |e| e.reference_id,
        /// When the business event happened.
        occurred_at => |e| e.occurred_at,
        /// When the entry was written.
        created_at => |e| e.created_at,
    }
    repr: [id, customer_id, entry_type, points, balance_after]
}

record! {
    /// Points earned together, with one expiry date.
    Lot(crm_core::loyalty::Lot) {
        /// Id.
        id => |l| l.id,
        /// Owner.
        customer_id => |l| l.customer_id,
        /// The entry that created it.
        entry_id => |l| l.entry_id,
        /// Points it started with.
        points => |l| l.points,
        /// Points not yet redeemed, expired or reversed.
        remaining => |l| l.remaining,
        /// When earned.
        earned_at => |l| l.earned_at,
        /// When the remainder expires (`None`: never).
        expires_at => |l| l.expires_at,
    }
    repr: [id, points, remaining, expires_at]
}

record! {
    /// A purchase (a receipt).
    Purchase(crm_core::loyalty::Purchase) {
        /// Id.
        id => |p| p.id,
        /// Buyer.
        customer_id => |p| p.customer_id,
        /// The store that issued the receipt.
        store_id => |p| p.store_id,
        /// The receipt number.
        receipt_id => |p| p.receipt_id,
        /// When the sale happened (UTC).
        purchase_date => |p| p.purchase_date,
        /// Total paid (`Decimal`).
        total_amount => |p| p.total_amount,
        /// Refunded so far (`Decimal`).
        refunded_amount => |p| p.refunded_amount,
        /// ISO 4217 currency.
        currency => |p| p.currency,
        /// When recorded.
        created_at => |p| p.created_at,
    }
    repr: [id, customer_id, store_id, receipt_id, total_amount]
}

record! {
    /// A refund of (part of) a purchase.
    Refund(crm_core::loyalty::Refund) {
        /// Id.
        id => |r| r.id,
        /// The purchase refunded.
        purchase_id => |r| r.purchase_id,
        /// The refund's own id.
        refund_id => |r| r.refund_id,
        /// Amount refunded (`Decimal`).
        amount => |r| r.amount,
        /// When recorded.
        created_at => |r| r.created_at,
    }
    repr: [id, purchase_id, refund_id, amount]
}

record! {
    /// The result of recording a purchase (also of its replays).
    PurchaseRecorded(crm_core::loyalty::PurchaseRecorded) {
        /// The purchase as stored.
        purchase => |r| r.purchase,
        /// The EARN entry, if the purchase earned points.
        earned => |r| r.earned,
        /// `True` when this call replayed an earlier one and changed nothing.
        replayed => |r| r.replayed,
    }
    repr: [purchase, earned, replayed]
}

record! {
    /// The result of a refund (also of its replays).
    RefundRecorded(crm_core::loyalty::RefundRecorded) {
        /// The refund.
        refund => |r| r.refund,
        /// The purchase after the refund.
        purchase => |r| r.purchase,
        /// Earned points taken back (negative REVERSAL), if any.
        earn_reversed => |r| r.earn_reversed,
        /// Redeemed points given back (positive REVERSAL), if any.
        redeem_returned => |r| r.redeem_returned,
        /// `True` when this call replayed an earlier one and changed nothing.
        replayed => |r| r.replayed,
    }
    repr: [refund, earn_reversed, redeem_returned, replayed]
}

record! {
    /// The result of earn, redeem or adjust.
    PointsApplied(crm_core::loyalty::PointsApplied) {
        /// The ledger entry (the original one on a replay).
        entry => |r| r.entry,
        /// `True` when this call replayed an earlier one and changed nothing.
        replayed => |r| r.replayed,
    }
    repr: [entry, replayed]
}

record! {
    /// A customer's points, read in constant time.
    PointsBalance(crm_core::loyalty::PointsBalance) {
        /// Whose.
        customer_id => |b| b.customer_id,
        /// Balance without expired points (negative while in debt).
        balance => |b| b.balance,
        /// Points that can be redeemed now.
        available => |b| b.available,
        /// Points owed after refunds of spent points.
        debt => |b| b.debt,
    }
    repr: [customer_id, balance, available, debt]
}

record! {
    /// A customer's loyalty position: points, tier, open lots, recent entries.
    LoyaltySummary(crm_core::loyalty::LoyaltySummary) {
        /// Whose.
        customer_id => |s| s.customer_id,
        /// Points available to redeem.
        available => |s| s.available,
        /// Balance (negative while in debt).
        balance => |s| s.balance,
        /// Points owed.
        debt => |s| s.debt,
        /// Current tier name.
        tier => |s| s.tier,
        /// Points earned in the tier window.
        points_earned_in_window => |s| s.points_earned_in_window,
        /// All points ever earned.
        lifetime_earned => |s| s.lifetime_earned,
        /// Open lots, soonest-expiring first.
        lots => |s| s.lots,
        /// Most recent entries, newest first.
        recent_entries => |s| s.recent_entries,
    }
    repr: [customer_id, available, balance, tier]
}

record! {
    /// The maintained balance checked against the ledger and the lots.
    BalanceCheck(crm_core::loyalty::BalanceCheck) {
        /// Whose.
        customer_id => |b| b.customer_id,
        /// The maintained balance.
        stored_balance => |b| b.stored_balance,
        /// Sum of the ledger entries.
        ledger_sum => |b| b.ledger_sum,
        /// Sum of the open lots.
        open_lots => |b| b.open_lots,
        /// Maintained debt.
        debt => |b| b.debt,
        /// Whether all agree.
        consistent => |b| b.consistent,
    }
    repr: [customer_id, stored_balance, ledger_sum, consistent]
}

record! {
    /// What an expiry run wrote off.
    ExpiryRun(crm_core::loyalty::ExpiryRun) {
        /// Customers whose points expired.
        customers => |r| r.customers,
        /// Points expired.
        points => |r| r.points,
    }
    repr: [customers, points]
}

record! {
    /// What a purchase-history import did.
    PurchaseImportReport(crm_core::loyalty::PurchaseImportReport) {
        /// Rows written.
        inserted => |r| r.inserted,
        /// Rows already stored with the same details, left as they were.
        skipped => |r| r.skipped,
        /// Positions of the skipped rows.
        skipped_rows => |r| r.skipped_rows,
    }
    repr: [inserted, skipped]
}

record! {
    /// The counts of a customer import (`ImportResult.totals`).
    ImportTotals(crm_core::ImportTotals) {
        /// Rows decided.
        rows => |t| t.rows,
        /// Customers created (a dry run: that would be created).
        created => |t| t.created,
        /// Stored customers changed from a row (`on_duplicate="update"`).
        updated => |t| t.updated,
        /// Duplicates of stored customers whose row changed nothing
        /// (`on_duplicate="update"`).
        unchanged => |t| t.unchanged,
        /// Duplicates of stored customers skipped (`on_duplicate="skip"`).
        skipped => |t| t.skipped,
        /// Duplicates of stored customers reported (`on_duplicate="report"`).
        duplicates => |t| t.duplicates,
        /// Rows rejected.
        rejected => |t| t.rejected,
        /// The last line done.
        line => |t| t.line,
    }
    repr: [rows, created, updated, skipped, duplicates, rejected]
}

/// The result of `Customers.import_csv`: the counts, the rows not created
/// and why (`issues`, a DataFrame), and how the columns were read.
#[pyclass(frozen, module = "crm_sdk")]
pub struct ImportResult(pub crm_csv::import::ImportSummary);

#[pymethods]
impl ImportResult {
    /// The run id (resumable runs), or `None`.
    #[getter]
    fn run_id(&self) -> Option<String> {
        self.0.run_id.clone()
    }

    /// Whether it was a dry run (nothing written to the database).
    #[getter]
    fn dry_run(&self) -> bool {
        self.0.dry_run
    }

    /// The line a resumed run continued after (0: from the start).
    #[getter]
    fn resumed_after(&self) -> u64 {
        self.0.resumed_after
    }

    /// The run had finished before: nothing was done.
    #[getter]
    fn already_done(&self) -> bool {
        self.0.already_done
    }

    /// Counts of the whole run.
    #[getter]
    fn totals(&self) -> ImportTotals {
        ImportTotals(self.0.totals)
    }

    /// The rows not created, and why, as a pandas DataFrame (columns
    /// `line`, `status`, `field`, `rule`, `message`, `existing_code`; one
    /// row per failing field).
    #[getter]
    fn issues<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        frames::issues_frame(py, &self.0.issues)
    }

    /// Whether `issues` was cut short (the report file has every one).
    #[getter]
    fn issues_truncated(&self) -> bool {
        self.0.issues_truncated
    }

    /// Which header went to which field (`{"Nama": "name", ...}`).
    #[getter]
    fn mapping<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (header, field) in &self.0.mapping {
            d.set_item(header, field)?;
        }
        Ok(d)
    }

    /// Headers that map to no field (their cells were not imported).
    #[getter]
    fn ignored_columns(&self) -> Vec<String> {
        self.0.ignored_columns.clone()
    }

    /// The rejected-rows report file, when one was asked for.
    #[getter]
    fn report(&self) -> Option<std::path::PathBuf> {
        self.0.report.clone()
    }

    /// The result as a dict (`issues` as a list of dicts).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let value = serde_json::to_value(&self.0)
            .map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))?;
        let d = value.to_py(py)?;
        // Paths and the mapping in their Python shapes.
        d.set_item("mapping", self.mapping(py)?)?;
        d.set_item("report", self.report())?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        let t = &self.0.totals;
        format!(
            "ImportResult(run_id={}, dry_run={}, rows={}, created={}, updated={}, skipped={}, \
             duplicates={}, rejected={})",
            self.0
                .run_id
                .as_ref()
                .map_or_else(|| "None".to_string(), |id| format!("{id:?}")),
            if self.0.dry_run { "True" } else { "False" },
            t.rows,
            t.created,
            t.updated,
            t.skipped,
            t.duplicates,
            t.rejected
        )
    }
}

record! {
    /// RFM scores (1 to 5) and segments.
    RfmScore(crm_core::analytics::RfmScore) {
        /// Recency score (5 = most recent).
        recency => |r| r.recency,
        /// Frequency score.
        frequency => |r| r.frequency,
        /// Monetary score.
        monetary => |r| r.monetary,
        /// `(R + F + M - 3) / 12 x 100`.
        total => |r| r.total,
        /// The segment on `total` (`CHAMPION` ... `LOST`).
        segment => |r| r.segment,
        /// The eleven-segment map.
        detailed_segment => |r| r.detailed_segment,
    }
    repr: [recency, frequency, monetary, segment]
}

record! {
    /// The analytics of one customer: RFM, segment, lifetime value, churn.
    CustomerScore(crm_core::analytics::CustomerScore) {
        /// The customer.
        customer_id => |s| s.customer_id,
        /// Repeat purchases.
        frequency => |s| s.frequency,
        /// First to last purchase, in the model's unit.
        recency => |s| s.recency,
        /// Age, in the model's unit.
        T => |s| s.t,
        /// Mean repeat purchase amount (`Decimal`).
        monetary_value => |s| s.monetary_value,
        /// RFM scores.
        rfm => |s| s.rfm,
        /// The segment (`CHAMPION`, `LOYAL`, `POTENTIAL_LOYAL`, `AT_RISK`, `LOST`).
        segment => |s| s.segment,
        /// Yearly lifetime value (`Decimal`).
        lifetime_value => |s| s.lifetime_value,
        /// Model lifetime value over the horizon (`Decimal`), when the models fit.
        model_lifetime_value => |s| s.model_lifetime_value,
        /// Expected spend per purchase (`Decimal`), when the model fits.
        expected_average_spend => |s| s.expected_average_spend,
        /// Probability the customer is still active.
        p_alive => |s| s.p_alive,
        /// Probability the customer has stopped buying.
        churn_probability => |s| s.churn_probability,
        /// `LOW`, `MEDIUM`, `HIGH` or `CRITICAL`.
        risk_level => |s| s.risk_level,
        /// What to do about it.
        recommended_action => |s| s.recommended_action,
        /// `bg_nbd` or `recency_fallback`.
        churn_method => |s| s.churn_method,
        /// Expected purchases in the next 90 days (BG/NBD).
        expected_purchases_90d => |s| s.expected_purchases_90d,
    }
    repr: [customer_id, segment, lifetime_value, churn_probability, risk_level]
}

record! {
    /// Customers and total lifetime value of one RFM segment.
    SegmentTotal(crm_core::analytics::SegmentTotal) {
        /// The segment.
        segment => |s| s.segment,
        /// Customers in it.
        customers => |s| s.customers,
        /// Sum of their lifetime values (`Decimal`).
        total_lifetime_value => |s| s.total_lifetime_value,
    }
    repr: [segment, customers, total_lifetime_value]
}

record! {
    /// A fitted analytics model (RFM cut points, BG/NBD, Gamma-Gamma).
    /// `to_json()` gives the snapshot that `analytics.load_model` takes.
    AnalyticsModel(crm_core::analytics::AnalyticsModel) {
        /// The period unit (`day`, `week`, `month`).
        unit => |m| m.unit,
        /// Customers it was fitted on.
        customers => |m| m.customers,
        /// Of which with a repeat purchase.
        repeat_customers => |m| m.repeat_customers,
        /// `bg_nbd` or `recency_fallback`.
        churn_method => |m| m.churn_method,
        /// Remarks of the fit.
        notes => |m| m.notes,
    }
    repr: [unit, customers, repeat_customers, churn_method]
    methods {
        /// The snapshot as JSON text.
        fn to_json(&self) -> PyResult<String> {
            serde_json::to_string(&self.0)
                .map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))
        }
    }
}

record! {
    /// The last fit: its model, when, and its segment totals.
    FittedAnalytics(crm_core::analytics::FittedAnalytics) {
        /// Counts the fits of this database.
        generation => |f| f.generation,
        /// When fitted.
        fitted_at => |f| f.fitted_at,
        /// The model.
        model => |f| f.model,
        /// Segment totals, once computed.
        segments => |f| f.segments,
    }
    repr: [generation, fitted_at]
}

record! {
    /// An event of the outbox.
    OutboxEvent(crm_core::loyalty::OutboxEvent) {
        /// Increasing id.
        id => |e| e.id,
        /// `new_customer`, `customer_update` or `loyalty_points`.
        event_type => |e| e.event_type,
        /// The customer concerned.
        customer_id => |e| e.customer_id,
        /// The event body.
        payload => |e| e.payload,
        /// When written.
        created_at => |e| e.created_at,
    }
    repr: [id, event_type, customer_id]
    methods {
        /// The message the server's WebSocket sends for this event.
        fn to_wire<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
            self.0.to_wire().to_py(py)
        }
    }
}

record! {
    /// A staff user (never carries the password hash).
    User(crm_core::users::User) {
        /// Id.
        id => |u| u.id,
        /// Lower-cased email.
        email => |u| u.email,
        /// `admin`, `manager`, `cashier` or `analyst`.
        role => |u| u.role,
        /// When created.
        created_at => |u| u.created_at,
        /// Whether the user may log in.
        active => |u| u.active,
        /// Raised by every change that ends the user's tokens.
        token_version => |u| u.token_version,
    }
    repr: [id, email, role, active]
}

record! {
    /// One record of a customer's audit trail: who did what, when. It holds
    /// ids, points, amounts and field names, never personal data.
    AuditEntry(crm_core::audit::AuditEntry) {
        /// Increasing id.
        id => |a| a.id,
        /// When (UTC).
        at => |a| a.at,
        /// The acting user (`None` when the application named none).
        actor => |a| a.actor,
        /// Its role.
        role => |a| a.role,
        /// What happened (`customer.update`, `points.earn`, ...).
        action => |a| a.action,
        /// The customer concerned.
        customer_id => |a| a.customer_id,
        /// Ids, amounts, points and names of changed fields.
        detail => |a| a.detail,
    }
    repr: [id, action, actor, customer_id]
}

record! {
    /// A message template (immutable once saved).
    Template(crm_core::comms::Template) {
        /// Its id.
        id => |t| t.id,
        /// A name for people.
        name => |t| t.name,
        /// `email` or `sms`.
        channel => |t| t.channel,
        /// `id` (Indonesian) or `en`.
        locale => |t| t.locale,
        /// The subject (email).
        subject => |t| t.subject,
        /// The plain-text body.
        text => |t| t.text,
        /// The HTML body (email).
        html => |t| t.html,
        /// Who saved it.
        created_by => |t| t.created_by,
        /// When (UTC).
        created_at => |t| t.created_at,
    }
    repr: [id, name, channel, locale]
}

record! {
    /// A template rendered for one customer.
    Rendered(crm_core::comms::Rendered) {
        /// The subject (email).
        subject => |r| r.subject,
        /// The plain-text body.
        text => |r| r.text,
        /// The HTML body, every value escaped (email).
        html => |r| r.html,
    }
    repr: [subject]
}

record! {
    /// One opt-in or opt-out of a customer's consent history.
    ConsentRecord(crm_core::comms::ConsentRecord) {
        /// Increasing id.
        id => |r| r.id,
        /// The customer.
        customer_id => |r| r.customer_id,
        /// `email` or `sms`.
        channel => |r| r.channel,
        /// Opted in (`True`) or out.
        granted => |r| r.granted,
        /// Where the answer came from.
        source => |r| r.source,
        /// Who recorded it.
        recorded_by => |r| r.recorded_by,
        /// When (UTC).
        recorded_at => |r| r.recorded_at,
    }
    repr: [id, customer_id, channel, granted]
}

record! {
    /// A customer's consent now, and its history.
    CustomerConsent(crm_core::comms::CustomerConsent) {
        /// The customer.
        customer_id => |c| c.customer_id,
        /// May receive email.
        email => |c| c.email,
        /// May receive SMS.
        sms => |c| c.sms,
        /// Every record, oldest first.
        history => |c| c.history,
    }
    repr: [customer_id, email, sms]
}

record! {
    /// Recipients of a campaign by status.
    CampaignProgress(crm_core::comms::CampaignProgress) {
        /// Every recipient.
        recipients => |p| p.recipients,
        /// Waiting (new, deferred, to retry).
        pending => |p| p.pending,
        /// Claimed by a sender now.
        sending => |p| p.sending,
        /// Sent.
        sent => |p| p.sent,
        /// Skipped (no consent, no address, quiet hours, inactive).
        skipped => |p| p.skipped,
        /// Failed for good.
        failed => |p| p.failed,
    }
    repr: [recipients, sent, skipped, failed]
}

record! {
    /// A campaign with its progress.
    Campaign(crm_core::comms::Campaign) {
        /// Its id.
        id => |c| c.id,
        /// A name for people.
        name => |c| c.name,
        /// The template it sends.
        template_id => |c| c.template_id,
        /// `email` or `sms`.
        channel => |c| c.channel,
        /// Who gets it: `{"segment": ...}`, `{"tier": ...}`, `{"tag": ...}` or `{"filter": {...}}`.
        target => |c| serde_json::to_value(&c.target).unwrap_or_default(),
        /// SMS in quiet hours: `defer` or `skip`.
        quiet_hours => |c| c.quiet_hours,
        /// `draft`, `scheduled`, `sending` or `done`.
        status => |c| c.status,
        /// When sending starts.
        scheduled_at => |c| c.scheduled_at,
        /// Who created it.
        created_by => |c| c.created_by,
        /// When (UTC).
        created_at => |c| c.created_at,
        /// When sending began.
        started_at => |c| c.started_at,
        /// When the last recipient was settled.
        finished_at => |c| c.finished_at,
        /// Recipients by status.
        progress => |c| c.progress,
    }
    repr: [id, name, status]
}

record! {
    /// One entry of the communication log: a send, a skip or a failure.
    Communication(crm_core::comms::Communication) {
        /// Increasing id.
        id => |c| c.id,
        /// The customer.
        customer_id => |c| c.customer_id,
        /// `email` or `sms`.
        channel => |c| c.channel,
        /// The template used.
        template_id => |c| c.template_id,
        /// The campaign.
        campaign_id => |c| c.campaign_id,
        /// `sent`, `skipped` or `failed`.
        status => |c| c.status,
        /// Why skipped or failed.
        reason => |c| c.reason,
        /// The subject (email) or the start of the SMS.
        subject => |c| c.subject,
        /// The provider's message id.
        provider_message_id => |c| c.provider_message_id,
        /// When (UTC).
        sent_date => |c| c.sent_date,
    }
    repr: [id, customer_id, channel, status]
}

/// Registers the record classes.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Address>()?;
    m.add_class::<Customer>()?;
    m.add_class::<CustomerPage>()?;
    m.add_class::<MergeResult>()?;
    m.add_class::<LedgerEntry>()?;
    m.add_class::<Lot>()?;
    m.add_class::<Purchase>()?;
    m.add_class::<Refund>()?;
    m.add_class::<PurchaseRecorded>()?;
    m.add_class::<RefundRecorded>()?;
    m.add_class::<PointsApplied>()?;
    m.add_class::<PointsBalance>()?;
    m.add_class::<LoyaltySummary>()?;
    m.add_class::<BalanceCheck>()?;
    m.add_class::<ExpiryRun>()?;
    m.add_class::<PurchaseImportReport>()?;
    m.add_class::<ImportTotals>()?;
    m.add_class::<ImportResult>()?;
    m.add_class::<RfmScore>()?;
    m.add_class::<CustomerScore>()?;
    m.add_class::<SegmentTotal>()?;
    m.add_class::<AnalyticsModel>()?;
    m.add_class::<FittedAnalytics>()?;
    m.add_class::<OutboxEvent>()?;
    m.add_class::<User>()?;
    m.add_class::<AuditEntry>()?;
    m.add_class::<Template>()?;
    m.add_class::<Rendered>()?;
    m.add_class::<ConsentRecord>()?;
    m.add_class::<CustomerConsent>()?;
    m.add_class::<CampaignProgress>()?;
    m.add_class::<Campaign>()?;
    m.add_class::<Communication>()?;
    Ok(())
}
