//! The shapes that cross the boundary, as TypeScript sees them.
//!
//! Results: one `#[napi(object)]` type per core result, filled from the
//! core's serde form (snake_case, which is also each Rust field name; napi
//! names the JavaScript properties in camelCase). Money is a decimal string
//! (`"125000.50"`), times are ISO-8601 strings in UTC
//! (`"2026-03-01T09:30:00Z"`), dates `YYYY-MM-DD`, ids and points numbers.
//!
//! Requests: the interfaces of the request objects, for TypeScript only;
//! at run time each request is read by the core's reader, which reports
//! every failing field at once.

#![allow(missing_docs)] // Each field is documented on its core type.

use napi_derive::napi;
use serde::Deserialize;
use serde_json::Value;

/// One failing field of a validation error (`err.fields`).
#[napi(object)]
#[derive(Debug, Clone, Deserialize)]
pub struct FieldError {
    /// The field's path as the request named it (`email`, `[3].phone`,
    /// `address.postalCode`).
    pub field: String,
    /// The rule it broke (`required`, `format`, `max_length`, ...).
    pub rule: String,
    /// A sentence for people.
    pub message: String,
}

/// A postal address; every part optional.
#[napi(object)]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Address {
    pub line1: Option<String>,
    pub line2: Option<String>,
    pub city: Option<String>,
    pub province: Option<String>,
    pub postal_code: Option<String>,
    /// ISO 3166-1 alpha-2.
    pub country: Option<String>,
}

/// A customer, with normalised contact data (lower-cased email, E.164
/// phone) and the code given at creation (`RT00000001`).
#[napi(object)]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Customer {
    pub id: i64,
    pub customer_code: String,
    pub name: String,
    pub email: Option<String>,
    /// E.164 (`+6281234567890`).
    pub phone: Option<String>,
    #[napi(ts_type = "'RETAIL' | 'WHOLESALE' | 'DISTRIBUTOR' | 'CORPORATE'")]
    pub customer_type: String,
    /// Decimal string.
    pub credit_limit: String,
    pub address: Address,
    /// `YYYY-MM-DD`.
    pub birthday: Option<String>,
    pub tags: Vec<String>,
    pub is_active: bool,
    /// The customer this one was merged into.
    pub merged_into: Option<i64>,
    pub merged_by: Option<String>,
    pub merged_at: Option<String>,
    /// Raised by every change (optimistic concurrency).
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
}

/// A page of customers; `nextCursor` continues a keyset listing.
#[napi(object)]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerPage {
    pub items: Vec<Customer>,
    pub page: u32,
    pub limit: u32,
    /// Customers matching the filter, on every page, when counted (by
    /// default an offset page without `q`; `count: true` asks).
    pub total: Option<i64>,
    pub next_cursor: Option<String>,
}

/// The outcome of a merge.
#[napi(object)]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MergeResult {
    /// The customer that stays.
    pub into: Customer,
    /// The duplicate, now inactive.
    pub merged: Customer,
    /// True when this merge had already been done.
    pub replayed: bool,
}

/// One entry of the points ledger.
#[napi(object)]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerEntry {
    pub id: i64,
    pub customer_id: i64,
    #[napi(ts_type = "'EARN' | 'REDEEM' | 'EXPIRE' | 'ADJUST' | 'REVERSAL'")]
    pub entry_type: String,
    /// Signed: negative for redemptions, expiry and reversals.
    pub points: i64,
    pub balance_after: i64,
    pub reference_type: String,
    pub reference_id: String,
    pub occurred_at: String,
    pub created_at: String,
}

/// A lot of earned points, spent oldest first, expiring at `expiresAt`.
#[napi(object)]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lot {
    pub id: i64,
    pub customer_id: i64,
    pub entry_id: i64,
    pub points: i64,
    pub remaining: i64,
    pub earned_at: String,
    pub expires_at: Option<String>,
}

/// A purchase (one receipt of one store).
#[napi(object)]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Purchase {
    pub id: i64,
    pub customer_id: i64,
    pub store_id: String,
    pub receipt_id: String,
    pub purchase_date: String,
    /// Decimal string.
    pub total_amount: String,
    /// Decimal string.
    pub refunded_amount: String,
    pub currency: String,
    pub created_at: String,
}

/// A refund of (part of) a purchase.
#[napi(object)]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Refund {
    pub id: i64,
    pub purchase_id: i64,
    pub refund_id: String,
    /// Decimal string.
    pub amount: String,
    pub created_at: String,
}

/// A recorded purchase and the points it earned.
#[napi(object)]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PurchaseRecorded {
    pub purchase: Purchase,
    pub earned: Option<LedgerEntry>,
    /// True when the receipt had been recorded before (nothing changed).
    pub replayed: bool,
}

/// A recorded refund and the points it moved.
#[napi(object)]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefundRecorded {
    pub refund: Refund,
    pub purchase: Purchase,
    pub earn_reversed: Option<LedgerEntry>,
    pub redeem_returned: Option<LedgerEntry>,
    pub replayed: bool,
}

/// The ledger entry of an earn, redeem or adjust.
#[napi(object)]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PointsApplied {
    pub entry: LedgerEntry,
    /// True when this reference had been applied before.
    pub replayed: bool,
}

/// A customer's points.
#[napi(object)]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PointsBalance {
    pub customer_id: i64,
    pub balance: i64,
    /// What can be redeemed now.
    pub available: i64,
    /// Points owed after refunds of spent points.
    pub debt: i64,
}

/// A customer's loyalty position.
#[napi(object)]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoyaltySummary {
    pub customer_id: i64,
    pub available: i64,
    pub balance: i64,
    pub debt: i64,
    pub tier: Option<String>,
    pub points_earned_in_window: i64,
    pub lifetime_earned: i64,
    pub lots: Vec<Lot>,
    pub recent_entries: Vec<LedgerEntry>,
}

/// A balance recomputed from the ledger.
#[napi(object)]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BalanceCheck {
    pub customer_id: i64,
    pub stored_balance: i64,
    pub ledger_sum: i64,
    pub open_lots: i64,
    pub debt: i64,
    pub consistent: bool,
}

/// What one expiry run did.
#[napi(object)]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpiryRun {
    pub customers: i64,
    pub points: i64,
}

/// What a history import did.
#[napi(object)]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PurchaseImportReport {
    pub inserted: i64,
    /// Receipts already stored.
    pub skipped: i64,
    /// Their row numbers (0-based).
    pub skipped_rows: Vec<u32>,
}

/// Recency, frequency and monetary quintiles (1 to 5) and the segment.
#[napi(object)]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RfmScore {
    pub recency: u32,
    pub frequency: u32,
    pub monetary: u32,
    pub total: f64,
    #[napi(ts_type = "'CHAMPION' | 'LOYAL' | 'POTENTIAL_LOYAL' | 'AT_RISK' | 'LOST'")]
    pub segment: String,
    pub detailed_segment: String,
}

/// One customer's analytics.
#[napi(object)]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerScore {
    pub customer_id: i64,
    /// Repeat purchase periods.
    pub frequency: u32,
    /// Age at the last purchase, in periods.
    pub recency: f64,
    /// Age, in periods.
    #[napi(js_name = "T")]
    #[serde(rename = "T")]
    pub t: f64,
    /// Average repeat purchase value, decimal string.
    pub monetary_value: String,
    pub rfm: RfmScore,
    #[napi(ts_type = "'CHAMPION' | 'LOYAL' | 'POTENTIAL_LOYAL' | 'AT_RISK' | 'LOST'")]
    pub segment: String,
    /// Decimal string.
    pub lifetime_value: String,
    pub model_lifetime_value: Option<String>,
    pub expected_average_spend: Option<String>,
    pub p_alive: f64,
    pub churn_probability: f64,
    #[napi(ts_type = "'LOW' | 'MEDIUM' | 'HIGH' | 'CRITICAL'")]
    pub risk_level: String,
    pub recommended_action: String,
    #[napi(ts_type = "'bg_nbd' | 'recency_fallback'")]
    pub churn_method: String,
    pub expected_purchases_90d: Option<f64>,
}

/// Customers and lifetime value of one segment.
#[napi(object)]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentTotal {
    #[napi(ts_type = "'CHAMPION' | 'LOYAL' | 'POTENTIAL_LOYAL' | 'AT_RISK' | 'LOST'")]
    pub segment: String,
    pub customers: i64,
    /// Decimal string.
    pub total_lifetime_value: String,
}

/// The last fit.
#[napi(object)]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FittedAnalytics {
    pub generation: i64,
    pub fitted_at: String,
    /// The model snapshot (the same JSON as Rust's and Python's), to keep
    /// and give back to `loadModel`.
    #[napi(ts_type = "Record<string, unknown>")]
    pub model: Value,
    pub segments: Option<Vec<SegmentTotal>>,
    /// The store-wide figures of the fit (sales by day and month, RFM grid,
    /// CLV histogram, churn risk, P(alive) by recency, cohorts), as Rust's
    /// `AnalyticsReport` in JSON; absent until the segments are totalled.
    #[napi(ts_type = "Record<string, unknown>")]
    pub report: Option<Value>,
}

/// An event of the outbox.
#[napi(object)]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxEvent {
    /// Increasing; resume after it.
    pub id: i64,
    /// `new_customer`, `customer_update`, `loyalty_points`, `purchase`, ...
    pub event_type: String,
    pub customer_id: i64,
    /// The event's data, in the wire format the server's WebSocket sends
    /// (snake_case keys).
    #[napi(ts_type = "Record<string, unknown>")]
    pub payload: Value,
    pub created_at: String,
}

/// A staff user.
#[napi(object)]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub id: i64,
    pub email: String,
    #[napi(ts_type = "'admin' | 'manager' | 'cashier' | 'analyst'")]
    pub role: String,
    pub created_at: String,
    pub active: bool,
    /// Raised whenever the user's tokens must stop working.
    pub token_version: i64,
}

/// One record of the audit trail.
#[napi(object)]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditEntry {
    pub id: i64,
    pub at: String,
    pub actor: Option<String>,
    #[napi(ts_type = "'admin' | 'manager' | 'cashier' | 'analyst'")]
    pub role: Option<String>,
    /// `customer.create`, `loyalty.earn`, ...
    pub action: String,
    pub customer_id: Option<i64>,
    /// Ids, points, amounts and field names; never personal data.
    #[napi(ts_type = "Record<string, unknown>")]
    pub detail: Value,
}

/// A message template (immutable once saved).
#[napi(object)]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    pub id: i64,
    pub name: String,
    #[napi(ts_type = "'email' | 'sms'")]
    pub channel: String,
    #[napi(ts_type = "'id' | 'en'")]
    pub locale: String,
    pub subject: Option<String>,
    pub text: String,
    pub html: Option<String>,
    pub created_by: Option<String>,
    pub created_at: String,
}

/// A template rendered for one customer (`comms.preview`).
#[napi(object)]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rendered {
    pub subject: Option<String>,
    pub text: String,
    /// Every value HTML-escaped.
    pub html: Option<String>,
}

/// One opt-in or opt-out of a customer's consent history.
#[napi(object)]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentRecord {
    pub id: i64,
    pub customer_id: i64,
    #[napi(ts_type = "'email' | 'sms'")]
    pub channel: String,
    pub granted: bool,
    pub source: String,
    pub recorded_by: Option<String>,
    pub recorded_at: String,
}

/// A customer's consent now, with its history.
#[napi(object)]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerConsent {
    pub customer_id: i64,
    pub email: bool,
    pub sms: bool,
    pub history: Vec<ConsentRecord>,
}

/// Recipients of a campaign by status.
#[napi(object)]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignProgress {
    pub recipients: i64,
    pub pending: i64,
    pub sending: i64,
    pub sent: i64,
    pub skipped: i64,
    pub failed: i64,
}

/// A campaign with its progress.
#[napi(object)]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Campaign {
    pub id: i64,
    pub name: String,
    pub template_id: i64,
    #[napi(ts_type = "'email' | 'sms'")]
    pub channel: String,
    /// `{ segment }`, `{ tier }`, `{ tag }` or `{ filter }`.
    #[napi(ts_type = "CampaignTarget")]
    pub target: Value,
    #[napi(ts_type = "'defer' | 'skip'")]
    pub quiet_hours: String,
    #[napi(ts_type = "'draft' | 'scheduled' | 'sending' | 'done'")]
    pub status: String,
    pub scheduled_at: Option<String>,
    pub created_by: Option<String>,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub progress: CampaignProgress,
}

/// One entry of the communication log: a send, a skip or a failure.
#[napi(object)]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Communication {
    pub id: i64,
    pub customer_id: i64,
    #[napi(ts_type = "'email' | 'sms'")]
    pub channel: String,
    pub template_id: Option<i64>,
    pub campaign_id: Option<i64>,
    #[napi(ts_type = "'sent' | 'skipped' | 'failed'")]
    pub status: String,
    pub reason: Option<String>,
    pub subject: Option<String>,
    pub provider_message_id: Option<String>,
    pub sent_date: String,
}

/// Counts of a CSV import (`customers.importCsv`), of the whole run (a
/// resumed run included).
#[napi(object)]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportTotals {
    /// Rows decided.
    pub rows: i64,
    /// Customers created (a dry run: that would be created).
    pub created: i64,
    /// Stored customers changed from a row (`onDuplicate: 'update'`).
    pub updated: i64,
    /// Duplicates whose row changed nothing (`onDuplicate: 'update'`).
    pub unchanged: i64,
    /// Duplicates of stored customers skipped (`onDuplicate: 'skip'`).
    pub skipped: i64,
    /// Duplicates of stored customers reported (`onDuplicate: 'report'`).
    pub duplicates: i64,
    /// Rows rejected.
    pub rejected: i64,
    /// The last line done (the header is line 1).
    pub line: i64,
}

/// A row of a CSV import that was not created, and why; a row failing
/// several fields has one issue per field.
#[napi(object)]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RowIssue {
    /// The row's line in the file (the header is line 1).
    pub line: i64,
    #[napi(ts_type = "'rejected' | 'skipped' | 'duplicate'")]
    pub status: String,
    /// The field in camelCase (`email`, `creditLimit`,
    /// `address.postalCode`), or `line` for the whole row.
    pub field: String,
    /// The rule (`required`, `email`, `decimal`, `duplicate_in_file`,
    /// `duplicate`, ...).
    pub rule: String,
    pub message: String,
    /// The code of the stored customer a duplicate matches.
    pub existing_code: Option<String>,
}

/// Which file header went to which customer field.
#[napi(object)]
#[derive(Debug, Clone)]
pub struct ColumnMapping {
    /// The header as written in the file.
    pub header: String,
    /// The customer field in camelCase (`name`, `address.postalCode`).
    pub field: String,
}

/// What `customers.importCsv` did.
#[napi(object)]
#[derive(Debug, Clone)]
pub struct ImportSummary {
    /// The run id (resumable runs).
    pub run_id: Option<String>,
    pub dry_run: bool,
    /// The line a resumed run continued after (0: from the start).
    pub resumed_after: i64,
    /// The run had finished before: nothing was done.
    pub already_done: bool,
    pub totals: ImportTotals,
    /// The rows not created, and why (at most 100,000; the report file has
    /// every one).
    pub issues: Vec<RowIssue>,
    /// Whether `issues` was cut at 100,000.
    pub issues_truncated: bool,
    /// Which header went to which field, in file order.
    pub mapping: Vec<ColumnMapping>,
    /// Headers that map to no field (their cells are not imported).
    pub ignored_columns: Vec<String>,
    /// The rejected-rows report, when one was asked for.
    pub report: Option<String>,
}

// --- Requests (TypeScript shapes; read at run time by the core) -----------

/// Options of `Crm.connect`.
#[napi(object)]
pub struct ConnectOptions {
    /// Most pooled connections (default 10).
    pub max_connections: Option<u32>,
    /// Connections kept open (default 0).
    pub min_connections: Option<u32>,
    /// How long a call waits for a connection, in milliseconds (default
    /// 10000).
    pub acquire_timeout_ms: Option<u32>,
    /// Apply pending migrations on connect (default true).
    pub migrate: Option<bool>,
}

/// Who a `Crm` acts for (`crm.actingAs`): recorded in the audit trail; manual
/// points follow the role's caps.
#[napi(object)]
pub struct Actor {
    pub user: String,
    #[napi(ts_type = "'admin' | 'manager' | 'cashier' | 'analyst'")]
    pub role: String,
}

/// A new customer (`customers.create`, rows of `customers.import`).
#[napi(object, object_from_js = false)]
pub struct NewCustomer {
    /// 2 to 100 characters.
    pub name: String,
    pub email: Option<String>,
    /// Any common notation; stored as E.164.
    pub phone: Option<String>,
    /// Default `RETAIL`.
    #[napi(ts_type = "'RETAIL' | 'WHOLESALE' | 'DISTRIBUTOR' | 'CORPORATE'")]
    pub customer_type: Option<String>,
    /// Decimal string (a number with at most 2 decimals is accepted).
    #[napi(ts_type = "string | number")]
    pub credit_limit: Option<String>,
    pub address: Option<Address>,
    /// `YYYY-MM-DD`.
    pub birthday: Option<String>,
    pub tags: Option<Vec<String>>,
}

/// `customers.update`: the id and the fields to change (`null` clears an
/// optional one).
#[napi(object, object_from_js = false)]
pub struct UpdateCustomer {
    pub id: i64,
    pub name: Option<String>,
    #[napi(ts_type = "string | null")]
    pub email: Option<String>,
    #[napi(ts_type = "string | null")]
    pub phone: Option<String>,
    #[napi(ts_type = "string | number")]
    pub credit_limit: Option<String>,
    pub address: Option<Address>,
    #[napi(ts_type = "string | null")]
    pub birthday: Option<String>,
    pub tags: Option<Vec<String>>,
}

/// `customers.list`: filters, order and paging.
#[napi(object, object_from_js = false)]
pub struct CustomerQuery {
    /// Name or code prefix, exact email or phone.
    pub q: Option<String>,
    #[napi(ts_type = "'RETAIL' | 'WHOLESALE' | 'DISTRIBUTOR' | 'CORPORATE'")]
    pub r#type: Option<String>,
    #[napi(ts_type = "'active' | 'inactive' | 'all'")]
    pub status: Option<String>,
    pub tag: Option<String>,
    /// ISO-8601.
    pub created_from: Option<String>,
    /// ISO-8601.
    pub created_to: Option<String>,
    #[napi(ts_type = "'id' | 'name' | 'code' | 'created_at'")]
    pub sort: Option<String>,
    #[napi(ts_type = "'asc' | 'desc'")]
    pub direction: Option<String>,
    /// 1-based page (offset paging).
    pub page: Option<u32>,
    pub limit: Option<u32>,
    /// `nextCursor` of the previous page (keyset paging).
    pub cursor: Option<String>,
    /// Customers the last analytics fit placed in this segment.
    #[napi(ts_type = "'CHAMPION' | 'LOYAL' | 'POTENTIAL_LOYAL' | 'AT_RISK' | 'LOST'")]
    pub segment: Option<String>,
    /// Recency score (1-5) at the last analytics fit.
    pub recency_score: Option<u32>,
    /// Frequency score (1-5) at the last analytics fit.
    pub frequency_score: Option<u32>,
    /// Count every match into `total` (default: only an offset page
    /// without `q`; searches and cursor pages answer `nextCursor` only).
    pub count: Option<bool>,
}

/// `customers.merge`.
#[napi(object, object_from_js = false)]
pub struct MergeCustomers {
    /// The customer that stays.
    pub into: i64,
    /// The duplicate.
    pub from: i64,
    /// Who decided, 1 to 100 characters.
    pub merged_by: String,
}

/// `customers.audit`.
#[napi(object, object_from_js = false)]
pub struct AuditQuery {
    pub customer_id: i64,
    /// Records after this id (default 0).
    pub after: Option<i64>,
    /// 1 to 500 (default 100).
    pub limit: Option<u32>,
}

/// `loyalty.recordPurchase`, rows of `loyalty.importHistory`.
#[napi(object, object_from_js = false)]
pub struct NewPurchase {
    pub customer_id: i64,
    pub store_id: String,
    pub receipt_id: String,
    /// ISO-8601 with an offset.
    pub purchase_date: String,
    /// Decimal string (a number with at most 2 decimals is accepted).
    #[napi(ts_type = "string | number")]
    pub total_amount: String,
    /// ISO 4217; default the programme's currency.
    pub currency: Option<String>,
}

/// `loyalty.refund`.
#[napi(object, object_from_js = false)]
pub struct RefundRequest {
    pub store_id: String,
    pub receipt_id: String,
    /// The refund's own idempotency key.
    pub refund_id: String,
    #[napi(ts_type = "string | number")]
    pub amount: String,
}

/// `loyalty.earn`, `loyalty.redeem`, `loyalty.adjust`: the reference makes
/// the call idempotent.
#[napi(object, object_from_js = false)]
pub struct PointsRequest {
    pub customer_id: i64,
    pub points: i64,
    pub reference_type: String,
    pub reference_id: String,
    /// Who asks (caps per role); default the `Crm`'s actor.
    pub actor: Option<Actor>,
}

/// `loyalty.purchase`: a receipt.
#[napi(object, object_from_js = false)]
pub struct ReceiptRef {
    pub store_id: String,
    pub receipt_id: String,
}

/// `events.list`.
#[napi(object, object_from_js = false)]
pub struct EventQuery {
    /// Events with an id above this (default 0).
    pub after: Option<i64>,
    /// 1 to 1000 (default 100).
    pub limit: Option<u32>,
}

/// `events.subscribe`.
#[napi(object)]
pub struct SubscribeOptions {
    /// Resume after this event id; default: only events from now on.
    pub after: Option<f64>,
    /// How long to wait for an id that may still be committing before
    /// skipping it, in milliseconds (default 2000).
    pub gap_grace_ms: Option<u32>,
    /// How often to look for new events when idle, in milliseconds
    /// (default 200).
    pub poll_ms: Option<u32>,
}

/// `analytics.scoreBatches`.
#[napi(object)]
pub struct ScoreBatchOptions {
    /// Scores per batch (default 10000).
    pub batch_size: Option<u32>,
}

/// `customers.importCsv`: how a customer CSV file is read and imported.
#[napi(object, object_from_js = false)]
pub struct ImportCsvOptions {
    /// A row matching a stored active customer (same email or phone):
    /// skip it (default), update the customer from it, or report it.
    #[napi(ts_type = "'skip' | 'update' | 'report'")]
    pub on_duplicate: Option<String>,
    /// Decide every row, write nothing to the database (the report file
    /// is still written).
    pub dry_run: Option<bool>,
    /// Makes the run resumable: importing the same file with the same id
    /// continues after the last batch that committed.
    pub run_id: Option<String>,
    /// Where to write the rejected-rows report (CSV).
    pub report: Option<String>,
    /// Explicit `header -> field` pairs (`{ 'Nama Toko': 'name',
    /// 'Kode': 'address.postalCode' }`); they win over the header aliases.
    #[napi(ts_type = "Record<string, string>")]
    pub mapping: Option<Value>,
    /// One character (`','`, `';'`, `'\t'`); default: detected from the
    /// header line.
    pub delimiter: Option<String>,
    /// Rows per batch (one transaction each; default 1000).
    pub batch_size: Option<u32>,
}

/// `users.create`.
#[napi(object, object_from_js = false)]
pub struct NewUser {
    pub email: String,
    /// At least 8 characters.
    pub password: String,
    #[napi(ts_type = "'admin' | 'manager' | 'cashier' | 'analyst'")]
    pub role: String,
}

/// `users.authenticate`.
#[napi(object, object_from_js = false)]
pub struct Credentials {
    pub email: String,
    pub password: String,
}

/// `users.setRole`.
#[napi(object, object_from_js = false)]
pub struct SetRole {
    pub id: i64,
    #[napi(ts_type = "'admin' | 'manager' | 'cashier' | 'analyst'")]
    pub role: String,
}

/// `users.changePassword`: the user proves the current password.
#[napi(object, object_from_js = false)]
pub struct ChangePassword {
    pub id: i64,
    pub current_password: String,
    pub new_password: String,
}

/// `users.resetPassword`: an administrator sets a password.
#[napi(object, object_from_js = false)]
pub struct ResetPassword {
    pub id: i64,
    pub new_password: String,
}

/// `comms.createTemplate`. Placeholders: `{customer_name}`,
/// `{customer_code}`, `{loyalty_points}`, `{last_purchase}`,
/// `{last_purchase_amount}`, `{tier}`, `{points_expiring}`,
/// `{unsubscribe_url}`; an unknown one rejects with `validation`.
#[napi(object, object_from_js = false)]
pub struct NewTemplate {
    pub name: String,
    #[napi(ts_type = "'email' | 'sms'")]
    pub channel: String,
    #[napi(ts_type = "'id' | 'en'")]
    pub locale: String,
    /// Required for email.
    pub subject: Option<String>,
    /// The plain-text body (always required).
    pub text: String,
    /// Email only; values are HTML-escaped.
    pub html: Option<String>,
}

/// `comms.setConsent`: one opt-in or opt-out, appended to the history.
#[napi(object, object_from_js = false)]
pub struct ConsentChange {
    pub customer_id: i64,
    #[napi(ts_type = "'email' | 'sms'")]
    pub channel: String,
    pub granted: bool,
    /// Where the answer came from (`till`, `web_form`, ...).
    pub source: String,
}

/// Who a campaign goes to (active customers only).
#[napi(object, object_from_js = false)]
pub struct CampaignTarget {
    /// An RFM segment (`CHAMPION`, ..., or a detailed one such as `at_risk`).
    pub segment: Option<String>,
    /// A loyalty tier by name.
    pub tier: Option<String>,
    pub tag: Option<String>,
    /// Customer fields: `customerType`, `tag`, `q`, `createdFrom`, `createdTo`.
    #[napi(ts_type = "Record<string, unknown>")]
    pub filter: Option<Value>,
}

/// `comms.createCampaign`.
#[napi(object, object_from_js = false)]
pub struct NewCampaign {
    pub name: String,
    pub template_id: i64,
    /// Exactly one of `segment`, `tier`, `tag`, `filter`.
    pub target: CampaignTarget,
    /// SMS in quiet hours: `defer` (default) or `skip`.
    #[napi(ts_type = "'defer' | 'skip'")]
    pub quiet_hours: Option<String>,
}

/// `comms.sendCampaign`: now, or at `at`.
#[napi(object, object_from_js = false)]
pub struct SendCampaign {
    pub campaign_id: i64,
    /// ISO-8601; absent or past: now.
    pub at: Option<String>,
}

/// `comms.communications`: a page of one customer's log, newest first.
#[napi(object, object_from_js = false)]
pub struct CommunicationQuery {
    pub customer_id: i64,
    /// Entries older than this id.
    pub before: Option<i64>,
    pub limit: Option<u32>,
}

/// `comms.preview`.
#[napi(object, object_from_js = false)]
pub struct Preview {
    pub template_id: i64,
    pub customer_id: i64,
}
