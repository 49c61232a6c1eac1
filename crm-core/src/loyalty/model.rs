//! Records of the loyalty ledger and purchase history, and the requests and
//! results of the loyalty operations.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use serde_json::Value;

use crate::customer::{Customer, CustomerId};
use crate::json::JsonFields;
use crate::{Error, Result};

/// Kind of ledger entry. The ledger is append-only: entries are never
/// updated or deleted; corrections are new entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum EntryType {
    /// Points earned (a purchase, or a manual earn). Creates a lot.
    Earn,
    /// Points spent. Consumes lots, soonest-expiring first.
    Redeem,
    /// The unused remainder of a lot at its expiry.
    Expire,
    /// A manual correction (either sign), and the balance moves of a merge.
    Adjust,
    /// Undoing part of an earlier entry because of a refund.
    Reversal,
}

impl EntryType {
    /// The upper-case name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            EntryType::Earn => "EARN",
            EntryType::Redeem => "REDEEM",
            EntryType::Expire => "EXPIRE",
            EntryType::Adjust => "ADJUST",
            EntryType::Reversal => "REVERSAL",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Earn,
            Self::Redeem,
            Self::Expire,
            Self::Adjust,
            Self::Reversal,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
    }
}

/// One ledger entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LedgerEntry {
    /// Increasing id.
    pub id: i64,
    /// Whose points.
    pub customer_id: CustomerId,
    /// Kind.
    pub entry_type: EntryType,
    /// Signed points: positive adds, negative takes away.
    pub points: i64,
    /// The customer's balance right after this entry.
    pub balance_after: i64,
    /// Idempotency key, part 1 (`purchase`, `receipt`, `refund_earn`, `lot_expiry` ...).
    pub reference_type: String,
    /// Idempotency key, part 2 (`STORE-1/R-1001` ...). `(reference_type, reference_id)` is unique.
    pub reference_id: String,
    /// When the business event happened (a purchase's date for its points).
    pub occurred_at: DateTime<Utc>,
    /// When the entry was written.
    pub created_at: DateTime<Utc>,
}

/// Points earned together, with one expiry date. Redemptions and expiries
/// consume lots; the open lots of a customer always add up to the balance
/// plus any debt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Lot {
    /// Id.
    pub id: i64,
    /// Owner (after a merge, the surviving customer).
    pub customer_id: CustomerId,
    /// The entry that created the lot.
    pub entry_id: i64,
    /// Points the lot started with.
    pub points: i64,
    /// Points not yet redeemed, expired or reversed.
    pub remaining: i64,
    /// When the points were earned.
    pub earned_at: DateTime<Utc>,
    /// When the remainder expires (`None`: never).
    pub expires_at: Option<DateTime<Utc>>,
}

/// The maintained per-customer totals, updated in the same transaction as
/// every ledger entry, so reading a balance is one row whatever the history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoyaltyAccount {
    /// Whose account.
    pub customer_id: CustomerId,
    /// Sum of all ledger entries: open lots minus debt. Negative only while in debt.
    pub balance: i64,
    /// Points owed after a refund reversed points that were already spent.
    /// New points pay the debt first; redemption is refused while it is > 0.
    pub debt: i64,
    /// All points ever earned (EARN entries), for reporting.
    pub lifetime_earned: i64,
}

/// A purchase (the guide's `customer_purchase_history`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Purchase {
    /// Id.
    pub id: i64,
    /// Buyer (after a merge, the surviving customer).
    pub customer_id: CustomerId,
    /// The store (till, branch) that issued the receipt.
    pub store_id: String,
    /// The receipt number; `(store_id, receipt_id)` is unique.
    pub receipt_id: String,
    /// When the sale happened (UTC).
    pub purchase_date: DateTime<Utc>,
    /// Total paid, an exact decimal as a string.
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = r"^[0-9]+(\.[0-9]+)?$", example = "150000.00")
    )]
    pub total_amount: Decimal,
    /// Sum of refunds so far, an exact decimal as a string.
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = r"^[0-9]+(\.[0-9]+)?$", example = "0.00")
    )]
    pub refunded_amount: Decimal,
    /// ISO 4217 currency.
    pub currency: String,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
}

/// A refund of (part of) a purchase.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Refund {
    /// Id.
    pub id: i64,
    /// The purchase refunded.
    pub purchase_id: i64,
    /// The refund's own id (the idempotency key within the purchase).
    pub refund_id: String,
    /// Amount refunded by this refund, an exact decimal as a string.
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = r"^[0-9]+(\.[0-9]+)?$", example = "25000.00")
    )]
    pub amount: Decimal,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
}

/// An event in the outbox, written in the same transaction as the change it
/// describes, with an increasing id, for publishers (WebSocket, Redis) to
/// deliver without losing or inventing any.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OutboxEvent {
    /// Increasing id; resume after the last one seen.
    pub id: i64,
    /// `new_customer`, `customer_update` or `loyalty_points`.
    pub event_type: String,
    /// The customer concerned.
    pub customer_id: CustomerId,
    /// The event body (`version` for customer events, whose customer is
    /// [`customer_id`](Self::customer_id);
    /// `customer_id`, `points` = new balance, `delta`, `entry_id` and
    /// `entry_type` for `loyalty_points`).
    pub payload: serde_json::Value,
    /// When it was written.
    pub created_at: DateTime<Utc>,
}

/// Input of [`Loyalty::record_purchase`](crate::facade::Loyalty::record_purchase):
/// a receipt. `(store_id, receipt_id)` is its idempotency key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewPurchase {
    /// Buyer.
    pub customer_id: CustomerId,
    /// Store id (1 to 40 characters, no `/`).
    pub store_id: String,
    /// Receipt id (1 to 80 characters).
    pub receipt_id: String,
    /// When the sale happened (a re-sent receipt must carry the same time).
    pub purchase_date: DateTime<Utc>,
    /// Total paid (>= 0, at most 2 decimals).
    pub total_amount: Decimal,
    /// ISO 4217 currency; `None` means the programme's
    /// ([`LoyaltyProgram::currency`](super::LoyaltyProgram::currency)), any
    /// other value must be it.
    pub currency: Option<String>,
}

const TEXT: &str = "a string";
const DECIMAL: &str = "a decimal number (preferably as a string, e.g. \"150000.00\")";
const CUSTOMER_ID: &str = "a customer id (integer)";

/// Reads a request about one customer, whose id is a field of `value` or,
/// when given, comes from elsewhere (a URL path) and is not a field.
fn read_for_customer<T>(
    value: Value,
    customer_id: Option<CustomerId>,
    what: &str,
    fields: impl FnOnce(&mut JsonFields, CustomerId) -> T,
) -> Result<T> {
    let mut r = JsonFields::new(value)?;
    let customer_id = customer_id.unwrap_or_else(|| r.required("customer_id", CUSTOMER_ID));
    let out = fields(&mut r, customer_id);
    r.finish(what)?;
    Ok(out)
}

impl NewPurchase {
    /// Reads a purchase from a JSON object, reporting every failing field.
    pub fn from_json(value: Value) -> Result<Self> {
        Self::read(value, None)
    }

    /// Reads the body of a purchase whose buyer comes from elsewhere (a URL
    /// path): `customer_id` is not a field of the body.
    pub fn from_json_for(customer_id: CustomerId, body: Value) -> Result<Self> {
        Self::read(body, Some(customer_id))
    }

    fn read(value: Value, customer_id: Option<CustomerId>) -> Result<Self> {
        read_for_customer(value, customer_id, "purchase", |r, customer_id| Self {
            customer_id,
            store_id: r.required("store_id", TEXT),
            receipt_id: r.required("receipt_id", TEXT),
            total_amount: r.required("total_amount", DECIMAL),
            currency: r.optional("currency", "an ISO 4217 code"),
            purchase_date: r.required("purchase_date", "an RFC 3339 date-time"),
        })
    }
}

/// Where a receipt is: its store and its number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptRef {
    /// Store that issued the receipt.
    pub store_id: String,
    /// Receipt number within the store.
    pub receipt_id: String,
}

/// Result of recording a purchase (also of its replays).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PurchaseRecorded {
    /// The purchase as stored.
    pub purchase: Purchase,
    /// The EARN entry, if the purchase earned points.
    pub earned: Option<LedgerEntry>,
    /// `true` when this call was a replay of an earlier one and changed nothing.
    pub replayed: bool,
}

/// Input of [`Loyalty::refund`](crate::facade::Loyalty::refund).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefundRequest {
    /// Store of the original receipt.
    pub store_id: String,
    /// The original receipt.
    pub receipt_id: String,
    /// This refund's id (a retried refund carries the same id).
    pub refund_id: String,
    /// Amount refunded (> 0; all refunds together at most the total).
    pub amount: Decimal,
}

impl RefundRequest {
    /// Reads a refund from a JSON object, reporting every failing field.
    pub fn from_json(value: Value) -> Result<Self> {
        Self::read(value, None)
    }

    /// Reads the body of a refund of a receipt named elsewhere (a URL path).
    pub fn from_json_for(receipt: ReceiptRef, body: Value) -> Result<Self> {
        Self::read(body, Some(receipt))
    }

    fn read(value: Value, receipt: Option<ReceiptRef>) -> Result<Self> {
        let mut r = JsonFields::new(value)?;
        let receipt = receipt.unwrap_or_else(|| ReceiptRef {
            store_id: r.required("store_id", TEXT),
            receipt_id: r.required("receipt_id", TEXT),
        });
        let out = Self {
            store_id: receipt.store_id,
            receipt_id: receipt.receipt_id,
            refund_id: r.required("refund_id", TEXT),
            amount: r.required("amount", DECIMAL),
        };
        r.finish("refund")?;
        Ok(out)
    }
}

/// Result of a refund (also of its replays).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RefundRecorded {
    /// The refund.
    pub refund: Refund,
    /// The purchase after the refund.
    pub purchase: Purchase,
    /// Points of the purchase's EARN taken back (REVERSAL, negative), if any.
    pub earn_reversed: Option<LedgerEntry>,
    /// Points of redemptions on the receipt given back (REVERSAL, positive), if any.
    pub redeem_returned: Option<LedgerEntry>,
    /// `true` when this call was a replay and changed nothing.
    pub replayed: bool,
}

/// Input of the manual point operations (the guide's `{points, reference_type, reference_id}`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct PointsRequest {
    /// Whose points.
    pub customer_id: CustomerId,
    /// Points: > 0 for earn and redeem; non-zero, either sign, for adjust;
    /// at most [`MAX_POINTS_PER_OPERATION`](super::MAX_POINTS_PER_OPERATION)
    /// either way, and within the actor's caps for earn and adjust.
    pub points: i64,
    /// Idempotency key, part 1 (1 to 40 characters).
    pub reference_type: String,
    /// Idempotency key, part 2 (1 to 120 characters).
    pub reference_id: String,
    /// Who asks (its role sets the caps of earn and adjust); `None` for the
    /// application's own code. Never read from JSON: the application sets
    /// it from its authentication.
    pub actor: Option<crate::users::Actor>,
}

impl PointsRequest {
    /// Reads a points request from a JSON object, reporting every failing field.
    pub fn from_json(value: Value) -> Result<Self> {
        Self::read(value, None)
    }

    /// Reads the body of a points request whose customer comes from
    /// elsewhere (a URL path).
    pub fn from_json_for(customer_id: CustomerId, body: Value) -> Result<Self> {
        Self::read(body, Some(customer_id))
    }

    fn read(value: Value, customer_id: Option<CustomerId>) -> Result<Self> {
        read_for_customer(value, customer_id, "points request", |r, customer_id| {
            Self {
                customer_id,
                points: r.required("points", "an integer"),
                reference_type: r.required("reference_type", TEXT),
                reference_id: r.required("reference_id", TEXT),
                actor: None,
            }
        })
    }
}

crate::json::json_input!(NewPurchase, RefundRequest, PointsRequest);

/// A manual point operation, chosen at run time
/// ([`Loyalty::apply`](crate::facade::Loyalty::apply)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum PointsOperation {
    /// Add points (a new lot).
    Earn,
    /// Spend points; never below zero.
    Redeem,
    /// Correct the balance either way.
    Adjust,
}

impl std::str::FromStr for PointsOperation {
    type Err = Error;

    /// `earn`, `redeem` or `adjust`; anything else is `NotFound` (there is
    /// no such operation).
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "earn" => Ok(Self::Earn),
            "redeem" => Ok(Self::Redeem),
            "adjust" => Ok(Self::Adjust),
            other => Err(Error::NotFound {
                entity: "loyalty operation",
                id: format!("{other:?}"),
            }),
        }
    }
}

/// A business refusal remembered under its idempotency key, so that a
/// replay of the request answers the same refusal (an idempotent outcome
/// is final, refusals included): a redemption or negative adjustment
/// refused for insufficient points, a refund beyond the refundable amount.
/// Input that fails validation is never remembered (nothing started).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    /// Idempotency key, part 1 (`refund` for refunds).
    pub reference_type: String,
    /// Idempotency key, part 2 (`{store_id}/{receipt_id}/{refund_id}` for refunds).
    pub reference_id: String,
    /// The customer the request was for (as sent).
    pub customer_id: CustomerId,
    /// What was asked: `REDEEM`, `ADJUST` or `REFUND`.
    pub operation: String,
    /// Points asked for, signed as the ledger would have had them (0 for refunds).
    pub points: i64,
    /// Amount asked for (refunds).
    pub amount: Option<Decimal>,
    /// The answer given.
    pub outcome: RefusalOutcome,
    /// When it was refused.
    pub created_at: DateTime<Utc>,
}

/// The error a [`Refusal`] answered, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum RefusalOutcome {
    /// [`Error::InsufficientPoints`].
    InsufficientPoints {
        /// Points asked for.
        requested: i64,
        /// Points available then.
        available: i64,
    },
    /// [`Error::Validation`] found against stored state (a refund beyond the
    /// refundable amount).
    Validation {
        /// The failing fields.
        fields: Vec<crate::FieldError>,
    },
}

impl RefusalOutcome {
    /// The outcome of an error, when it is a refusal that is remembered.
    pub fn of(error: &Error) -> Option<Self> {
        match error {
            Error::InsufficientPoints {
                requested,
                available,
            } => Some(Self::InsufficientPoints {
                requested: *requested,
                available: *available,
            }),
            Error::Validation(fields) => Some(Self::Validation {
                fields: fields.clone(),
            }),
            _ => None,
        }
    }

    /// The error to answer again.
    pub fn to_error(&self) -> Error {
        match self {
            Self::InsufficientPoints {
                requested,
                available,
            } => Error::InsufficientPoints {
                requested: *requested,
                available: *available,
            },
            Self::Validation { fields } => Error::Validation(fields.clone()),
        }
    }
}

/// Result of a manual point operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PointsApplied {
    /// The ledger entry (the original one on a replay).
    pub entry: LedgerEntry,
    /// `true` when this call was a replay and changed nothing.
    pub replayed: bool,
}

/// A customer's loyalty position (the guide's balance, plus what a person
/// needs to understand it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoyaltySummary {
    /// Whose.
    pub customer_id: CustomerId,
    /// Points available to redeem (0 while in debt).
    pub available: i64,
    /// The balance (open lots minus debt; negative while in debt).
    pub balance: i64,
    /// Points owed after refunds of spent points.
    pub debt: i64,
    /// Current tier name.
    pub tier: Option<String>,
    /// Points earned in the tier window.
    pub points_earned_in_window: i64,
    /// All points ever earned.
    pub lifetime_earned: i64,
    /// Open lots, soonest-expiring first (the first 100).
    pub lots: Vec<Lot>,
    /// Most recent entries, newest first.
    pub recent_entries: Vec<LedgerEntry>,
}

/// A customer's points, read in constant time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PointsBalance {
    /// Whose.
    pub customer_id: CustomerId,
    /// Balance excluding expired points (negative while in debt).
    pub balance: i64,
    /// Points that can be redeemed now.
    pub available: i64,
    /// Points owed.
    pub debt: i64,
}

/// Result of checking the maintained balance against the ledger and the lots.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BalanceCheck {
    /// Whose.
    pub customer_id: CustomerId,
    /// The maintained balance.
    pub stored_balance: i64,
    /// Sum of the customer's ledger entries.
    pub ledger_sum: i64,
    /// Sum of the customer's open lots.
    pub open_lots: i64,
    /// Maintained debt.
    pub debt: i64,
    /// `stored_balance == ledger_sum == open_lots - debt`.
    pub consistent: bool,
}

/// Result of a merge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MergeResult {
    /// The surviving customer.
    pub into: Customer,
    /// The merged (now inactive) customer, pointing at `into`.
    pub merged: Customer,
    /// `true` when the merge had already been done and this call changed nothing.
    pub replayed: bool,
}

/// Result of an expiry run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpiryRun {
    /// Customers whose points expired.
    pub customers: u64,
    /// Points expired.
    pub points: i64,
}
