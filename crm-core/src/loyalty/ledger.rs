//! The loyalty rules, written once over [`LedgerTx`] so every backend applies
//! them identically. See the module docs of [`crate::loyalty`] for the policy.

use crate::events::EventPayload;
use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use super::model::*;
use super::{MAX_POINTS_PER_OPERATION, RECEIPT, RESERVED_REFERENCE_TYPES, receipt_key};
use crate::audit::{AuditRecord, actions};
use crate::customer::{Customer, CustomerId};
use crate::error::{ConflictReason, FieldErrors};
use crate::facade::Loyalty;
use crate::store::LedgerTx;
use crate::users::Actor;
use crate::{Error, Result};

/// How often an operation is retried when a merge moved its data between
/// the unlocked read and the lock.
const ATTEMPTS: usize = 3;
/// Clock skew tolerated on purchase dates sent by tills.
const FUTURE_SKEW_MINUTES: i64 = 5;
/// Entries shown in a summary.
const RECENT_ENTRIES: u32 = 20;
/// Lots read per page when taking points.
const LOT_PAGE: u32 = 64;
/// Open lots listed in a summary.
const SUMMARY_LOTS: u32 = 100;
/// Every lot (balance checks, refunds, merges: rare operations).
const ALL_LOTS: u32 = u32::MAX;
/// Customers expired per batch of an expiry run.
const EXPIRY_BATCH: u32 = 500;

/// A ledger transaction and the user it acts for: every ledger entry
/// appended through it gets an audit record naming that user.
pub(crate) struct Tx {
    tx: Box<dyn LedgerTx>,
    actor: Option<Actor>,
}

impl std::ops::Deref for Tx {
    type Target = dyn LedgerTx;
    fn deref(&self) -> &Self::Target {
        &*self.tx
    }
}

impl std::ops::DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut *self.tx
    }
}

impl Tx {
    /// Wraps a store's transaction, acting for `actor`.
    pub(crate) fn new(tx: Box<dyn LedgerTx>, actor: Option<&Actor>) -> Self {
        Self {
            tx,
            actor: actor.cloned(),
        }
    }

    /// Commits everything done through this transaction.
    pub(crate) async fn commit(self) -> Result<()> {
        self.tx.commit().await
    }

    /// Records `action` on `customer` by this transaction's actor.
    pub(crate) async fn audit(
        &mut self,
        action: &str,
        customer: CustomerId,
        detail: serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let record = AuditRecord::new(self.actor.as_ref(), action, detail).about(customer);
        self.tx.append_audit(&record, now).await
    }
}

impl Loyalty {
    /// Opens a ledger transaction acting for `actor`.
    async fn begin(
        &self,
        customers: Vec<CustomerId>,
        lock: bool,
        actor: Option<&Actor>,
    ) -> Result<Tx> {
        let tx = self.inner.store.begin_ledger(customers, lock).await?;
        Ok(Tx::new(tx, actor))
    }
}

/// `a + b` for points, or a validation error on `field`: points are money,
/// and never wrap.
pub(crate) fn add(a: i64, b: i64, field: &str) -> Result<i64> {
    a.checked_add(b).ok_or_else(|| {
        Error::invalid(
            field,
            "overflow",
            format!("{field} would take a points total beyond {}", i64::MAX),
        )
    })
}

pub(crate) fn entry(
    acct: &LoyaltyAccount,
    entry_type: EntryType,
    points: i64,
    key: (&str, &str),
    occurred_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<LedgerEntry> {
    Ok(LedgerEntry {
        id: 0,
        customer_id: acct.customer_id,
        entry_type,
        points,
        balance_after: add(acct.balance, points, "points")?,
        reference_type: key.0.to_string(),
        reference_id: key.1.to_string(),
        occurred_at,
        created_at: now,
    })
}

/// Appends an entry, moves the balance and writes its `loyalty_points` event.
pub(crate) async fn append(
    tx: &mut Tx,
    acct: &mut LoyaltyAccount,
    e: LedgerEntry,
) -> Result<LedgerEntry> {
    let now = e.created_at;
    let e = tx.append_entry(e).await?;
    acct.balance = e.balance_after;
    let payload = EventPayload::LoyaltyPoints {
        customer_id: acct.customer_id,
        balance: acct.balance,
        delta: e.points,
        entry_id: e.id,
        entry_type: e.entry_type,
    };
    tx.append_event(payload, now).await?;
    let action = format!(
        "{}{}",
        actions::POINTS_PREFIX,
        e.entry_type.as_str().to_ascii_lowercase()
    );
    let detail = serde_json::json!({
        "entry_id": e.id,
        "points": e.points,
        "balance_after": e.balance_after,
        "reference_type": e.reference_type,
        "reference_id": e.reference_id,
    });
    if e.entry_type == EntryType::Expire {
        // Nobody expires points: time does.
        let record = AuditRecord::new(None, action, detail).about(acct.customer_id);
        tx.append_audit(&record, now).await?;
    } else {
        tx.audit(&action, acct.customer_id, detail, now).await?;
    }
    Ok(e)
}

/// Adds points as a new lot (EARN, positive ADJUST, refund give-back); debt is paid first.
async fn add_points(
    tx: &mut Tx,
    acct: &mut LoyaltyAccount,
    e: LedgerEntry,
    expires_at: Option<DateTime<Utc>>,
) -> Result<LedgerEntry> {
    let points = e.points;
    let pay = acct.debt.min(points);
    acct.debt -= pay;
    if e.entry_type == EntryType::Earn {
        acct.lifetime_earned = add(acct.lifetime_earned, points, "points")?;
    }
    let earned_at = e.occurred_at;
    let e = append(tx, acct, e).await?;
    tx.insert_lot(Lot {
        id: 0,
        customer_id: acct.customer_id,
        entry_id: e.id,
        points,
        remaining: points - pay,
        earned_at,
        expires_at,
    })
    .await?;
    Ok(e)
}

/// Takes points from lots in `order`; returns the allocations and the shortfall.
async fn take_from_lots(
    tx: &mut Tx,
    lots: Vec<Lot>,
    mut points: i64,
) -> Result<(Vec<(i64, i64)>, i64)> {
    let mut allocations = Vec::new();
    for lot in lots {
        if points == 0 {
            break;
        }
        let take = lot.remaining.min(points);
        if take > 0 {
            tx.set_lot_remaining(lot.id, lot.remaining - take).await?;
            allocations.push((lot.id, take));
            points -= take;
        }
    }
    Ok((allocations, points))
}

/// Spends points (REDEEM, negative ADJUST): never below zero, never in debt.
async fn spend_points(
    tx: &mut Tx,
    acct: &mut LoyaltyAccount,
    e: LedgerEntry,
) -> Result<LedgerEntry> {
    let points = -e.points;
    let available = if acct.debt > 0 {
        0
    } else {
        acct.balance.max(0)
    };
    if points > available {
        return Err(Error::InsufficientPoints {
            requested: points,
            available,
        });
    }
    let e = append(tx, acct, e).await?;
    // Page through the lots in order; consumed lots drop out of the next page.
    let mut allocations = Vec::new();
    let mut short = points;
    while short > 0 {
        let lots = tx.open_lots(acct.customer_id, LOT_PAGE).await?;
        if lots.is_empty() {
            break;
        }
        let (taken, left) = take_from_lots(tx, lots, short).await?;
        allocations.extend(taken);
        short = left;
    }
    if short != 0 {
        return Err(Error::storage_msg(format!(
            "lots of customer {} hold {short} points less than its balance",
            acct.customer_id
        )));
    }
    tx.insert_allocations(e.id, &allocations).await?;
    Ok(e)
}

/// Writes EXPIRE entries for the customer's lots due at `now`.
pub(crate) async fn expire_due(
    tx: &mut Tx,
    acct: &mut LoyaltyAccount,
    now: DateTime<Utc>,
) -> Result<i64> {
    let mut expired = 0;
    for lot in tx.due_lots(acct.customer_id, now).await? {
        let Some(at) = lot.expires_at else {
            continue;
        };
        let id = lot.id.to_string();
        let e = entry(
            acct,
            EntryType::Expire,
            -lot.remaining,
            ("lot_expiry", &id),
            at,
            now,
        )?;
        let e = append(tx, acct, e).await?;
        tx.set_lot_remaining(lot.id, 0).await?;
        tx.insert_allocations(e.id, &[(lot.id, lot.remaining)])
            .await?;
        expired = add(expired, lot.remaining, "points")?;
    }
    Ok(expired)
}

/// Pays debt out of open lots (after a merge brought lots and debt together).
pub(crate) async fn settle_debt(tx: &mut Tx, acct: &mut LoyaltyAccount) -> Result<()> {
    if acct.debt == 0 {
        return Ok(());
    }
    let lots = tx.open_lots(acct.customer_id, ALL_LOTS).await?;
    let (_, short) = take_from_lots(tx, lots, acct.debt).await?;
    acct.debt = short;
    Ok(())
}

/// `floor(points x part / total)`, exact at `part == total`.
fn pro_rata(points: i64, part: Decimal, total: Decimal) -> i64 {
    if total <= Decimal::ZERO || part >= total {
        return points;
    }
    // part < total, so the result lies between 0 and `points`; a product
    // too large for a decimal is computed as a share of the total instead.
    let share = Decimal::from(points)
        .checked_mul(part)
        .and_then(|v| v.checked_div(total))
        .or_else(|| {
            part.checked_div(total)
                .and_then(|f| f.checked_mul(Decimal::from(points)))
        });
    share.and_then(|v| v.floor().to_i64()).unwrap_or(0)
}

pub(crate) fn check_key(errors: &mut FieldErrors, field: &str, v: &str, max: usize) {
    if v.trim().is_empty() {
        errors.push(field, "required", format!("{field} is required"));
    } else if v.chars().count() > max {
        errors.push(
            field,
            "max_length",
            format!("{field} must be at most {max} characters"),
        );
    }
}

/// Largest amount the stores keep (`DECIMAL(15,2)`): 9,999,999,999,999.99.
pub(super) const MAX_AMOUNT: Decimal = Decimal::from_parts(0xA4C6_7FFF, 0x3_8D7E, 0, false, 2);

/// A valid amount (at most 2 decimals) with exactly 2, as the stores keep
/// it (`DECIMAL(15,2)`): the first answer to a request and every later read
/// of it print the same (`"125000.50"`, `"0.00"`).
pub(crate) fn cents(mut v: Decimal) -> Decimal {
    v.rescale(2);
    v
}

fn check_amount(errors: &mut FieldErrors, field: &str, v: Decimal, positive: bool) {
    if v < Decimal::ZERO || (positive && v.is_zero()) {
        let what = if positive { "more than 0" } else { "0 or more" };
        errors.push(field, "min", format!("{field} must be {what}"));
    } else if v > MAX_AMOUNT {
        errors.push(
            field,
            "max",
            format!("{field} must be at most {MAX_AMOUNT}"),
        );
    } else if v.normalize().scale() > 2 {
        errors.push(
            field,
            "scale",
            format!("{field} has at most 2 decimal places"),
        );
    }
}

/// Every rule a purchase breaks (the checks of `record_purchase`, shared
/// with the history import).
pub(super) fn purchase_errors(p: &NewPurchase, currency: &str, now: DateTime<Utc>) -> FieldErrors {
    let mut errors = FieldErrors::new();
    check_key(&mut errors, "store_id", &p.store_id, 40);
    if p.store_id.contains('/') {
        errors.push("store_id", "format", "store_id cannot contain '/'");
    }
    check_key(&mut errors, "receipt_id", &p.receipt_id, 80);
    check_amount(&mut errors, "total_amount", p.total_amount, false);
    if p.currency.as_deref().is_some_and(|c| c != currency) {
        errors.push(
            "currency",
            "currency",
            format!("the loyalty programme runs in {currency}"),
        );
    }
    if p.purchase_date > now + Duration::minutes(FUTURE_SKEW_MINUTES) {
        errors.push("purchase_date", "past", "purchase_date is in the future");
    }
    errors
}

fn replay_conflict(what: &str) -> Error {
    Error::conflict(
        ConflictReason::IdempotencyKeyReused,
        format!("{what} was already used for a different operation"),
    )
}

/// The reference type of a refund's refusal (`reference_id` is the
/// refund's key, `{store_id}/{receipt_id}/{refund_id}`).
const REFUND: &str = "refund";
/// The operation of a refund's refusal.
const REFUND_OPERATION: &str = "REFUND";

/// Remembers a refusal with whatever the transaction did before it (an
/// expiry run), commits, and answers the refusal.
async fn refuse<T>(mut tx: Tx, refusal: Refusal, error: Error) -> Result<T> {
    tx.insert_refusal(refusal).await?;
    tx.commit().await?;
    Err(error)
}

/// "a cashier", "an application without an actor", ... for messages.
fn actor_name(req: &PointsRequest) -> String {
    match &req.actor {
        Some(a) => format!("{} ({})", a.user, a.role.as_str()),
        None => "a request without an actor".into(),
    }
}

/// The conflict of an operation that kept losing the race against a merge.
fn merging() -> Error {
    Error::conflict(
        ConflictReason::ConcurrentChange,
        "the customer is being merged; try again",
    )
}

/// Whether `from` is `into`, or was merged (through any chain) into it.
async fn same_account(tx: &mut Tx, from: CustomerId, into: CustomerId) -> Result<bool> {
    let mut at = from;
    for _ in 0..8 {
        if at == into {
            return Ok(true);
        }
        match tx.customer(at).await?.and_then(|c| c.merged_into) {
            Some(next) => at = next,
            None => return Ok(false),
        }
    }
    Ok(false)
}

/// The customer an operation applies to: follows merges; refuses inactive customers.
pub(crate) async fn live_customer(tx: &mut Tx, id: CustomerId) -> Result<Customer> {
    let mut c = tx
        .customer(id)
        .await?
        .ok_or_else(|| Error::customer_not_found(id))?;
    for _ in 0..8 {
        match c.merged_into {
            Some(into) => {
                c = tx
                    .customer(into)
                    .await?
                    .ok_or_else(|| Error::customer_not_found(into))?;
            }
            None => break,
        }
    }
    if !c.is_active {
        return Err(Error::conflict(
            ConflictReason::CustomerInactive,
            format!("customer {} is inactive", c.customer_code),
        ));
    }
    Ok(c)
}

impl Loyalty {
    fn now(&self) -> DateTime<Utc> {
        self.inner.now()
    }

    async fn customer(&self, id: CustomerId) -> Result<Customer> {
        self.inner.customer(id).await
    }

    /// A manual point operation chosen at run time (the server's
    /// `POST .../loyalty/{operation}`): [`earn`](Self::earn),
    /// [`redeem`](Self::redeem) or [`adjust`](Self::adjust).
    pub async fn apply(
        &self,
        operation: PointsOperation,
        req: PointsRequest,
    ) -> Result<PointsApplied> {
        match operation {
            PointsOperation::Earn => self.earn(req).await,
            PointsOperation::Redeem => self.redeem(req).await,
            PointsOperation::Adjust => self.adjust(req).await,
        }
    }

    /// The purchase with this receipt, if recorded (or imported).
    pub async fn purchase(&self, receipt: ReceiptRef) -> Result<Option<Purchase>> {
        self.inner
            .store
            .purchase(receipt.store_id, receipt.receipt_id)
            .await
    }

    /// Records a purchase and earns its points by the programme (the guide's
    /// `customer_purchase_history` plus `addPoints`).
    ///
    /// Re-sending the same `(store_id, receipt_id)` returns the first result
    /// (`replayed: true`) and changes nothing; the same receipt with another
    /// amount, currency, date or customer is a conflict. Purchases for a
    /// merged customer go to the customer it was merged into.
    pub async fn record_purchase(&self, p: NewPurchase) -> Result<PurchaseRecorded> {
        // Stores keep microseconds; compare replays at that precision.
        let p = NewPurchase {
            purchase_date: crate::clock::truncate_to_micros(p.purchase_date),
            ..p
        };
        let program = &self.inner.config.loyalty;
        let now = self.now();
        purchase_errors(&p, &program.currency, now).finish()?;
        let currency = p
            .currency
            .clone()
            .unwrap_or_else(|| program.currency.clone());
        let key = receipt_key(&p.store_id, &p.receipt_id);

        // The account to lock: the customer's own, unless it turns out to
        // have been merged (then the one it was merged into, and again).
        // Guessing the customer itself saves a read outside the
        // transaction; a merge locks both accounts, so the guess is
        // checked under the lock.
        let mut target = p.customer_id;
        for _ in 0..ATTEMPTS {
            let mut tx = self.begin(vec![target], true, self.actor()).await?;
            if let Some(existing) = tx.purchase_by_receipt(&p.store_id, &p.receipt_id).await? {
                let same_customer = existing.customer_id == target
                    || same_account(&mut tx, p.customer_id, existing.customer_id).await?;
                if !same_customer
                    || existing.total_amount != p.total_amount
                    || existing.currency != currency
                    || existing.purchase_date != p.purchase_date
                {
                    return Err(Error::conflict(
                        ConflictReason::IdempotencyKeyReused,
                        format!("receipt {key} was already recorded with different details"),
                    ));
                }
                let earned = tx.entry_by_key("purchase", &key).await?;
                return Ok(PurchaseRecorded {
                    purchase: existing,
                    earned,
                    replayed: true,
                });
            }
            let customer = live_customer(&mut tx, p.customer_id).await?;
            if customer.id != target {
                target = customer.id; // merged: lock the account it went to
                continue;
            }
            let mut acct = tx.account(target).await?;
            expire_due(&mut tx, &mut acct, now).await?;
            let purchase = tx
                .insert_purchase(Purchase {
                    id: 0,
                    customer_id: target,
                    store_id: p.store_id.clone(),
                    receipt_id: p.receipt_id.clone(),
                    purchase_date: p.purchase_date,
                    total_amount: cents(p.total_amount),
                    refunded_amount: cents(Decimal::ZERO),
                    currency: currency.clone(),
                    created_at: now,
                })
                .await?;
            tx.audit(
                actions::PURCHASE_RECORD,
                target,
                serde_json::json!({
                    "purchase_id": purchase.id,
                    "store_id": purchase.store_id,
                    "receipt_id": purchase.receipt_id,
                    "total_amount": purchase.total_amount,
                    "currency": purchase.currency,
                }),
                now,
            )
            .await?;
            let window = Duration::days(i64::from(program.tier_window_days));
            let earned_in_window = tx.earned_since(target, p.purchase_date - window).await?;
            let tier = program.tier_for(earned_in_window);
            let points = program.points_for(p.total_amount, customer.customer_type, tier);
            let earned = if points > 0 {
                let e = entry(
                    &acct,
                    EntryType::Earn,
                    points,
                    ("purchase", &key),
                    p.purchase_date,
                    now,
                )?;
                let expires_at = program.expires_at(p.purchase_date);
                let e = add_points(&mut tx, &mut acct, e, expires_at).await?;
                // A late receipt may carry points that are already past
                // expiry (every other lot due now expired above).
                if expires_at.is_some_and(|at| at <= now) {
                    expire_due(&mut tx, &mut acct, now).await?;
                }
                Some(e)
            } else {
                None
            };
            tx.save_account(&acct, now).await?;
            tx.commit().await?;
            return Ok(PurchaseRecorded {
                purchase,
                earned,
                replayed: false,
            });
        }
        Err(merging())
    }

    /// Refunds (part of) a purchase: reverses the points it earned and gives
    /// back the points redeemed on it, pro rata, exactly once per `refund_id`.
    pub async fn refund(&self, r: RefundRequest) -> Result<RefundRecorded> {
        let now = self.now();
        let mut errors = FieldErrors::new();
        check_key(&mut errors, "refund_id", &r.refund_id, 80);
        check_amount(&mut errors, "amount", r.amount, true);
        errors.finish()?;
        let key = receipt_key(&r.store_id, &r.receipt_id);
        let refund_key = format!("{key}/{}", r.refund_id);

        for _ in 0..ATTEMPTS {
            let seen = self
                .inner
                .store
                .purchase(r.store_id.clone(), r.receipt_id.clone())
                .await?
                .ok_or_else(|| Error::NotFound {
                    entity: "purchase",
                    id: key.clone(),
                })?;
            let mut tx = self
                .begin(vec![seen.customer_id], true, self.actor())
                .await?;
            let Some(purchase) = tx.purchase_by_receipt(&r.store_id, &r.receipt_id).await? else {
                continue;
            };
            if purchase.customer_id != seen.customer_id {
                continue; // moved by a merge meanwhile
            }
            if let Some(existing) = tx.refund_by_key(purchase.id, &r.refund_id).await? {
                if existing.amount != r.amount {
                    return Err(replay_conflict(&format!("refund {refund_key}")));
                }
                return Ok(RefundRecorded {
                    refund: existing,
                    earn_reversed: tx.entry_by_key("refund_earn", &refund_key).await?,
                    redeem_returned: tx.entry_by_key("refund_redeem", &refund_key).await?,
                    purchase,
                    replayed: true,
                });
            }
            // A refund refused before is refused again, whatever happened since.
            if let Some(refused) = tx.refusal_by_key(REFUND, &refund_key).await? {
                if refused.amount != Some(r.amount) {
                    return Err(replay_conflict(&format!("refund {refund_key}")));
                }
                return Err(refused.outcome.to_error());
            }
            let new_refunded = cents(
                purchase
                    .refunded_amount
                    .checked_add(r.amount)
                    .unwrap_or(Decimal::MAX),
            );
            if new_refunded > purchase.total_amount {
                let refusal = Error::invalid(
                    "amount",
                    "max",
                    format!(
                        "refunds would exceed the purchase: {} of {} already refunded",
                        purchase.refunded_amount, purchase.total_amount
                    ),
                );
                return refuse(
                    tx,
                    Refusal {
                        reference_type: REFUND.into(),
                        reference_id: refund_key.clone(),
                        customer_id: purchase.customer_id,
                        operation: REFUND_OPERATION.into(),
                        points: 0,
                        amount: Some(r.amount),
                        outcome: RefusalOutcome::Validation {
                            fields: refusal.field_errors().to_vec(),
                        },
                        created_at: now,
                    },
                    refusal,
                )
                .await;
            }
            let mut acct = tx.account(purchase.customer_id).await?;
            expire_due(&mut tx, &mut acct, now).await?;
            let old = purchase.refunded_amount;
            let total = purchase.total_amount;

            // Take back the earned points, pro rata.
            let earn = tx.entry_by_key("purchase", &key).await?;
            let earned = earn.as_ref().map_or(0, |e| e.points);
            let reverse = pro_rata(earned, new_refunded, total) - pro_rata(earned, old, total);
            let earn_reversed = if reverse > 0 {
                let e = entry(
                    &acct,
                    EntryType::Reversal,
                    -reverse,
                    ("refund_earn", &refund_key),
                    now,
                    now,
                )?;
                let e = append(&mut tx, &mut acct, e).await?;
                let mut lots = tx.open_lots(acct.customer_id, ALL_LOTS).await?;
                // The purchase's own lot first.
                if let Some(earn) = &earn {
                    lots.sort_by_key(|l| l.entry_id != earn.id);
                }
                let (allocations, short) = take_from_lots(&mut tx, lots, reverse).await?;
                acct.debt = add(acct.debt, short, "amount")?;
                tx.insert_allocations(e.id, &allocations).await?;
                Some(e)
            } else {
                None
            };

            // Give back redeemed points, pro rata.
            // Only the refunded customer's own redemption on the receipt
            // comes back (another customer may have used the receipt's key).
            let redeem = match tx.entry_by_key(RECEIPT, &key).await? {
                Some(e)
                    if e.entry_type == EntryType::Redeem
                        && same_account(&mut tx, e.customer_id, purchase.customer_id).await? =>
                {
                    Some(e)
                }
                _ => None,
            };
            let redeemed = redeem.as_ref().map_or(0, |e| -e.points);
            let give_back =
                pro_rata(redeemed, new_refunded, total) - pro_rata(redeemed, old, total);
            let redeem_returned = match (give_back > 0, &redeem) {
                (true, Some(redeem)) => {
                    let mut expires_at = None;
                    let mut never = false;
                    for (lot_id, _) in tx.allocations(redeem.id).await? {
                        match tx.lot(lot_id).await?.map(|l| l.expires_at) {
                            Some(Some(at)) => expires_at = expires_at.max(Some(at)),
                            Some(None) => never = true,
                            None => {}
                        }
                    }
                    let expires_at = if never { None } else { expires_at };
                    let e = entry(
                        &acct,
                        EntryType::Reversal,
                        give_back,
                        ("refund_redeem", &refund_key),
                        now,
                        now,
                    )?;
                    let e = add_points(&mut tx, &mut acct, e, expires_at).await?;
                    expire_due(&mut tx, &mut acct, now).await?;
                    Some(e)
                }
                _ => None,
            };

            tx.set_refunded(purchase.id, new_refunded).await?;
            let refund = tx
                .insert_refund(Refund {
                    id: 0,
                    purchase_id: purchase.id,
                    refund_id: r.refund_id.clone(),
                    amount: cents(r.amount),
                    created_at: now,
                })
                .await?;
            tx.audit(
                actions::PURCHASE_REFUND,
                purchase.customer_id,
                serde_json::json!({
                    "purchase_id": purchase.id,
                    "refund_id": refund.refund_id,
                    "amount": refund.amount,
                    "refunded_total": new_refunded,
                }),
                now,
            )
            .await?;
            tx.save_account(&acct, now).await?;
            tx.commit().await?;
            return Ok(RefundRecorded {
                refund,
                purchase: Purchase {
                    refunded_amount: new_refunded,
                    ..purchase
                },
                earn_reversed,
                redeem_returned,
                replayed: false,
            });
        }
        Err(Error::conflict(
            ConflictReason::ConcurrentChange,
            "the purchase is being moved by a merge; try again",
        ))
    }

    /// Earns points outside a purchase (a promotion, a goodwill gesture).
    pub async fn earn(&self, req: PointsRequest) -> Result<PointsApplied> {
        self.points_op(req, EntryType::Earn).await
    }

    /// Redeems points. Never overdraws: if the points do not fit, nothing is
    /// written and the error states the available balance. A redemption on a
    /// receipt should use `reference_type = "receipt"` and
    /// `reference_id = receipt_key(store_id, receipt_id)` so that refunding the
    /// receipt gives the points back.
    pub async fn redeem(&self, req: PointsRequest) -> Result<PointsApplied> {
        self.points_op(req, EntryType::Redeem).await
    }

    /// A manual correction, positive (a new lot) or negative (taken like a
    /// redemption, never below zero).
    pub async fn adjust(&self, req: PointsRequest) -> Result<PointsApplied> {
        self.points_op(req, EntryType::Adjust).await
    }

    async fn points_op(&self, req: PointsRequest, kind: EntryType) -> Result<PointsApplied> {
        // The request's own actor, else the one this handle acts for.
        let req = PointsRequest {
            actor: req.actor.or_else(|| self.actor().cloned()),
            ..req
        };
        let now = self.now();
        let mut errors = FieldErrors::new();
        check_key(&mut errors, "reference_type", &req.reference_type, 40);
        check_key(&mut errors, "reference_id", &req.reference_id, 120);
        let receipt_redeem = kind == EntryType::Redeem && req.reference_type == RECEIPT;
        if RESERVED_REFERENCE_TYPES.contains(&req.reference_type.as_str()) && !receipt_redeem {
            errors.push(
                "reference_type",
                "reserved",
                format!("{} is used by the SDK itself", req.reference_type),
            );
        }
        let positive_only = kind != EntryType::Adjust;
        if (positive_only && req.points <= 0) || req.points == 0 {
            let what = if positive_only {
                "more than 0"
            } else {
                "non-zero"
            };
            errors.push("points", "min", format!("points must be {what}"));
        } else if req.points.unsigned_abs() > MAX_POINTS_PER_OPERATION.unsigned_abs() {
            errors.push(
                "points",
                "max",
                format!("points must be at most {MAX_POINTS_PER_OPERATION} per operation"),
            );
        } else if let Some(cap) = self.operation_cap(&req, kind)
            && req.points.unsigned_abs() > cap.unsigned_abs()
        {
            errors.push(
                "points",
                "role_cap",
                format!(
                    "{} may {} at most {cap} points per operation",
                    actor_name(&req),
                    kind.as_str().to_lowercase()
                ),
            );
        }
        errors.finish()?;
        let signed = if kind == EntryType::Redeem {
            -req.points
        } else {
            req.points
        };

        // As in `record_purchase`: lock the customer's own account unless
        // it turns out to have been merged.
        let mut target = req.customer_id;
        for _ in 0..ATTEMPTS {
            let mut tx = self.begin(vec![target], true, req.actor.as_ref()).await?;
            let check = tx
                .key_check(&req.reference_type, &req.reference_id, req.customer_id)
                .await?;
            if let Some(existing) = check.entry {
                let same_customer = existing.customer_id == target
                    || same_account(&mut tx, req.customer_id, existing.customer_id).await?;
                if !same_customer || existing.entry_type != kind || existing.points != signed {
                    return Err(replay_conflict(&format!(
                        "reference {}/{}",
                        req.reference_type, req.reference_id
                    )));
                }
                return Ok(PointsApplied {
                    entry: existing,
                    replayed: true,
                });
            }
            if check.refused
                && let Some(refused) = tx
                    .refusal_by_key(&req.reference_type, &req.reference_id)
                    .await?
            {
                let same_customer = refused.customer_id == target
                    || same_account(&mut tx, req.customer_id, refused.customer_id).await?;
                if !same_customer || refused.operation != kind.as_str() || refused.points != signed
                {
                    return Err(replay_conflict(&format!(
                        "reference {}/{}",
                        req.reference_type, req.reference_id
                    )));
                }
                return Err(refused.outcome.to_error());
            }
            // The state read with the key decides the common case: an
            // active customer that was never merged.
            let live = match check.customer {
                Some(s) if s.is_active && s.merged_into.is_none() => s.id,
                _ => live_customer(&mut tx, req.customer_id).await?.id,
            };
            if live != target {
                target = live; // merged: lock the account it went to
                continue;
            }
            if signed > 0 && kind != EntryType::Redeem {
                self.check_daily_cap(&mut tx, &req, target, now).await?;
            }
            let mut acct = tx.account(target).await?;
            expire_due(&mut tx, &mut acct, now).await?;
            let key = (req.reference_type.as_str(), req.reference_id.as_str());
            let e = entry(&acct, kind, signed, key, now, now)?;
            let e = if signed > 0 {
                add_points(
                    &mut tx,
                    &mut acct,
                    e,
                    self.inner.config.loyalty.expires_at(now),
                )
                .await?
            } else {
                match spend_points(&mut tx, &mut acct, e).await {
                    Err(err @ Error::InsufficientPoints { .. }) => {
                        // Final: a replay of this key answers this refusal.
                        tx.save_account(&acct, now).await?;
                        let refusal = Refusal {
                            reference_type: req.reference_type.clone(),
                            reference_id: req.reference_id.clone(),
                            customer_id: req.customer_id,
                            operation: kind.as_str().into(),
                            points: signed,
                            amount: None,
                            outcome: RefusalOutcome::of(&err)
                                .ok_or_else(|| Error::storage_msg("refusal without an outcome"))?,
                            created_at: now,
                        };
                        return refuse(tx, refusal, err).await;
                    }
                    other => other?,
                }
            };
            tx.save_account(&acct, now).await?;
            tx.commit().await?;
            return Ok(PointsApplied {
                entry: e,
                replayed: false,
            });
        }
        Err(merging())
    }

    /// The caps of the request's actor.
    fn caps(&self, req: &PointsRequest) -> crate::loyalty::ManualCaps {
        self.inner
            .config
            .loyalty
            .manual_limits
            .caps_for(req.actor.as_ref().map(|a| a.role))
    }

    /// The per-operation cap of the actor's role for a manual earn or
    /// adjustment (`None`: no cap; redemptions have none).
    fn operation_cap(&self, req: &PointsRequest, kind: EntryType) -> Option<i64> {
        let caps = self.caps(req);
        match kind {
            EntryType::Earn => caps.earn_per_operation,
            EntryType::Adjust => caps.adjust_per_operation,
            _ => None,
        }
    }

    /// Refuses manual points beyond what the actor's role may give one
    /// customer in 24 hours (counting every manual point it received).
    async fn check_daily_cap(
        &self,
        tx: &mut Tx,
        req: &PointsRequest,
        customer: CustomerId,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let Some(cap) = self.caps(req).per_customer_per_day else {
            return Ok(());
        };
        let received = tx
            .manual_points_since(customer, now - Duration::hours(24))
            .await?;
        if add(received, req.points, "points")? > cap {
            return Err(Error::invalid(
                "points",
                "daily_cap",
                format!(
                    "{} may give a customer at most {cap} manual points in 24 hours; \
                     this customer received {received}",
                    actor_name(req)
                ),
            ));
        }
        Ok(())
    }

    /// Expires every lot due now, customer by customer. Idempotent: a second
    /// run finds nothing to do.
    pub async fn run_expiry(&self) -> Result<ExpiryRun> {
        let now = self.now();
        let mut run = ExpiryRun {
            customers: 0,
            points: 0,
        };
        loop {
            let due = self
                .inner
                .store
                .customers_with_due_lots(now, EXPIRY_BATCH)
                .await?;
            if due.is_empty() {
                return Ok(run);
            }
            let mut progressed = false;
            for customer in due {
                let mut tx = self.begin(vec![customer], true, None).await?;
                let mut acct = tx.account(customer).await?;
                let expired = expire_due(&mut tx, &mut acct, now).await?;
                tx.save_account(&acct, now).await?;
                tx.commit().await?;
                if expired > 0 {
                    run.customers += 1;
                    run.points = run.points.saturating_add(expired);
                    progressed = true;
                }
            }
            if !progressed {
                return Ok(run);
            }
        }
    }

    /// A customer's loyalty position: available points, tier, open lots,
    /// recent entries. Points past their expiry are excluded even before the
    /// expiry run has written them off.
    pub async fn summary(&self, customer: CustomerId) -> Result<LoyaltySummary> {
        let now = self.now();
        let program = &self.inner.config.loyalty;
        self.customer(customer).await?;
        let mut tx = self.begin(vec![customer], false, self.actor()).await?;
        let acct = tx.account(customer).await?;
        let due = tx.due_points(customer, now).await?;
        let lots = tx
            .open_lots(customer, SUMMARY_LOTS + 64)
            .await?
            .into_iter()
            .filter(|l| l.expires_at.is_none_or(|at| at > now))
            .take(SUMMARY_LOTS as usize)
            .collect();
        let balance = acct.balance - due;
        let window = Duration::days(i64::from(program.tier_window_days));
        let earned = tx.earned_since(customer, now - window).await?;
        let recent_entries = tx.recent_entries(customer, RECENT_ENTRIES).await?;
        Ok(LoyaltySummary {
            customer_id: customer,
            available: if acct.debt > 0 { 0 } else { balance.max(0) },
            balance,
            debt: acct.debt,
            tier: program.tier_for(earned).map(|t| t.name.clone()),
            points_earned_in_window: earned,
            lifetime_earned: acct.lifetime_earned,
            lots,
            recent_entries,
        })
    }

    /// A customer's purchases, newest first, each with the amount refunded
    /// so far (at most the `limit` newest, 1 to 1,000).
    pub async fn purchases(&self, customer: CustomerId, limit: u32) -> Result<Vec<Purchase>> {
        if !(1..=1_000).contains(&limit) {
            return Err(Error::invalid(
                "limit",
                "range",
                "limit must be from 1 to 1000",
            ));
        }
        self.customer(customer).await?;
        let mut all = self.inner.store.purchases_of(customer).await?;
        all.reverse();
        all.truncate(limit as usize);
        Ok(all)
    }

    /// The points balance in O(1): one account row (plus any lots past their
    /// expiry that the expiry run has not written off yet), whatever the
    /// length of the customer's history.
    pub async fn balance(&self, customer: CustomerId) -> Result<PointsBalance> {
        let now = self.now();
        let mut tx = self.begin(vec![customer], false, self.actor()).await?;
        let acct = tx.account(customer).await?;
        let due = tx.due_points(customer, now).await?;
        let balance = acct.balance - due;
        Ok(PointsBalance {
            customer_id: customer,
            balance,
            available: if acct.debt > 0 { 0 } else { balance.max(0) },
            debt: acct.debt,
        })
    }

    /// Recomputes a customer's balance from the ledger and from the lots and
    /// compares it with the maintained one.
    pub async fn check_balance(&self, customer: CustomerId) -> Result<BalanceCheck> {
        self.customer(customer).await?;
        let mut tx = self.begin(vec![customer], false, self.actor()).await?;
        let acct = tx.account(customer).await?;
        let ledger_sum = tx.ledger_sum(customer).await?;
        let open_lots: i64 = tx
            .open_lots(customer, ALL_LOTS)
            .await?
            .iter()
            .map(|l| l.remaining)
            .sum();
        Ok(BalanceCheck {
            customer_id: customer,
            stored_balance: acct.balance,
            ledger_sum,
            open_lots,
            debt: acct.debt,
            consistent: acct.balance == ledger_sum && ledger_sum == open_lots - acct.debt,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pro_rata_adds_up_to_the_whole() {
        let total = Decimal::from(300);
        let mut reversed = 0;
        let mut refunded = Decimal::ZERO;
        for part in [100, 100, 100] {
            let new = refunded + Decimal::from(part);
            reversed += pro_rata(10, new, total) - pro_rata(10, refunded, total);
            refunded = new;
        }
        assert_eq!(reversed, 10);
        assert_eq!(pro_rata(10, Decimal::from(100), total), 3);
        assert_eq!(pro_rata(7, Decimal::ZERO, Decimal::ZERO), 7);
    }

    #[test]
    fn point_sums_never_wrap_or_panic() {
        assert_eq!(add(2, 3, "points").ok(), Some(5));
        let err = add(i64::MAX, 1, "points").expect_err("overflow");
        assert_eq!(err.field_errors()[0].rule, "overflow");
        assert!(add(i64::MIN, -1, "points").is_err());
        // The largest amounts and balances still pro-rate without a panic.
        let total = MAX_AMOUNT;
        let half = pro_rata(i64::MAX, total / Decimal::TWO, total);
        assert!(
            half > i64::MAX / 2 - 2 && half <= i64::MAX / 2 + 1,
            "{half}"
        );
    }
}
