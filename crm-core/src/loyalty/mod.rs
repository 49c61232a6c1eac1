//! The loyalty programme: purchase history, an append-only points ledger
//! with expiring lots, refunds, tiers, merges, and the outbox of domain events.
//!
//! # Rules (and where the guide's `LoyaltyProgram` fell short)
//!
//! - **Every operation is idempotent.** It carries a key (`reference_type`,
//!   `reference_id`); the ledger has a unique index on it. A replay returns
//!   the original result and changes nothing; the same key with another
//!   payload is a [`Conflict`](crate::Error::Conflict). Purchases are keyed by
//!   `(store_id, receipt_id)`, refunds by `refund_id` within their purchase,
//!   so a till that re-sends a receipt after a network cut earns once.
//! - **Redemption never overdraws.** The customer's account is locked for the
//!   operation; redemptions that do not fit fail with
//!   [`InsufficientPoints`](crate::Error::InsufficientPoints) stating the
//!   available balance. (The guide's `redeemPoints` inserted a negative row
//!   whatever the balance.)
//! - **Points are money.** Manual earns and adjustments are capped per
//!   role of the actor, per operation and per customer per 24 hours
//!   ([`ManualLimits`]; a cashier earns at most 10,000 points a call);
//!   nobody moves more than [`MAX_POINTS_PER_OPERATION`] at once; every
//!   point sum is checked, so an overflow is a validation error, never a
//!   wrap. `receipt` is reserved for redemptions on a receipt, and a refund
//!   gives back only the refunded customer's own redemption.
//! - **An idempotent outcome is final**, refusals included (the rule of
//!   Stripe's idempotency keys): a redemption refused for insufficient
//!   points, or a refund beyond the refundable amount, is remembered under
//!   its key ([`Refusal`]), and a replay answers the same refusal even if the
//!   points are there by then; a new attempt uses a new key. Input that fails
//!   validation is not remembered (nothing started), and neither is a
//!   refused purchase: a receipt is a fact, recorded when a retry can be.
//! - **Points live in lots.** Each EARN creates a lot with an expiry date
//!   (the programme's, counted from the purchase date). Redemptions take from
//!   the soonest-expiring lots first and record which lots they used. Expiry
//!   writes an EXPIRE entry for each lot's unused remainder; running it twice
//!   expires nothing twice. Every operation on a customer first expires that
//!   customer's due lots, so the balance never includes expired points.
//! - **The balance is maintained**, in the same transaction as each entry, and
//!   always equals the sum of the customer's ledger entries and the sum of
//!   the open lots minus the debt; [`Loyalty::check_balance`](crate::facade::Loyalty::check_balance)
//!   recomputes both and reports any difference.
//! - **Refund policy.** Refunding a receipt reverses the points it earned pro
//!   rata to the amount refunded (cumulative, rounded down, so a full refund
//!   reverses exactly what was earned however it is split) and gives back,
//!   pro rata too, the points redeemed on that receipt (a redemption keyed
//!   `reference_type = "receipt"`, `reference_id = "{store_id}/{receipt_id}"`).
//!   Reversed points come out of the purchase's own lot first, then the
//!   soonest-expiring lots. If the customer already spent them, the shortfall
//!   becomes a **debt**: the balance goes negative, redemption is refused, and
//!   the next points earned pay the debt first. Points given back go into a
//!   new lot expiring when the latest lot they were redeemed from would have.
//!   A refund retried any number of times is applied once.
//! - **Tiers come from points earned** (EARN minus refund reversals) in a
//!   rolling window, never from the balance; the tier's multiplier applies to
//!   earning.
//! - **Merging** customer B into A moves B's purchases and open lots to A,
//!   moves B's balance (and debt) with a pair of ADJUST entries, deactivates B
//!   with a pointer to A, records who merged and when, and is idempotent.
//!   Later operations addressed to B are applied to A.
//! - **Imported history earns nothing.**
//!   [`Loyalty::import_history`](crate::facade::Loyalty::import_history)
//!   bulk-loads past purchases (a migration) for analytics, without ledger
//!   entries, lots or events; opening balances go through
//!   [`Loyalty::adjust`](crate::facade::Loyalty::adjust). Re-running an import
//!   skips the receipts already stored.
//! - **Every change writes an outbox event** in its transaction:
//!   `new_customer`, `customer_update`, and one `loyalty_points` per ledger
//!   entry (`customer_id`, `points` = the new balance, `delta`).

mod import;
pub(crate) mod ledger;
pub mod model;
pub mod program;

pub use import::{PurchaseImportReport, PurchaseRowsReport};
pub use model::{
    BalanceCheck, EntryType, ExpiryRun, LedgerEntry, Lot, LoyaltyAccount, LoyaltySummary,
    MergeResult, NewPurchase, OutboxEvent, PointsApplied, PointsBalance, PointsOperation,
    PointsRequest, Purchase, PurchaseRecorded, ReceiptRef, Refund, RefundRecorded, RefundRequest,
    Refusal, RefusalOutcome,
};
pub use program::{LoyaltyProgram, ManualCaps, ManualLimits, PointsExpiry, Tier};

/// Most points one operation may move, whoever asks (caps per role are
/// lower): far below overflow, however many operations follow.
pub const MAX_POINTS_PER_OPERATION: i64 = 1_000_000_000;

/// Reference types the SDK writes itself; manual operations cannot use them.
/// `receipt` is reserved too, except for redemptions (a redemption on a
/// receipt, given back when the receipt is refunded).
pub const RESERVED_REFERENCE_TYPES: &[&str] = &[
    "purchase",
    "lot_expiry",
    "refund_earn",
    "refund_redeem",
    "merge_in",
    "merge_out",
    "refund",
    RECEIPT,
];

/// The reference type of a redemption made on a receipt.
pub const RECEIPT: &str = "receipt";

/// The key of a receipt: `"{store_id}/{receipt_id}"`. A redemption made on a
/// receipt uses `reference_type = "receipt"` and this as `reference_id`, so a
/// refund of the receipt can give its points back.
pub fn receipt_key(store_id: &str, receipt_id: &str) -> String {
    format!("{store_id}/{receipt_id}")
}
