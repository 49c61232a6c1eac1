//! The storage traits every backend implements.
//!
//! The [`Crm`](crate::Crm) facade holds an `Arc<dyn CrmStore>`; the in-memory
//! store ([`crate::memory`]) and the SQL stores of `crm-sqlx` implement the
//! same traits and pass the same conformance suite. Stores receive values
//! that the facade has already validated and normalised; they own atomicity
//! (a failed call writes nothing), code allocation and the uniqueness rules.
//!
//! These traits are the **adapter interface**, for backends (`crm-sqlx`, a
//! test double): applications use the handles of [`Crm`](crate::Crm), which
//! apply the rules before a store is reached. Every customer change writes
//! its outbox event, built by [`EventPayload`], in the same transaction.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::Result;
use crate::analytics::{CustomerSegment, StoreTotals};
use crate::audit::{AuditEntry, AuditRecord};
use crate::customer::import::{ImportRun, SaveRun};
use crate::customer::{Customer, CustomerCode, CustomerFields, CustomerFilter, CustomerId};
use crate::events::EventPayload;
use crate::loyalty::{LedgerEntry, Lot, LoyaltyAccount, OutboxEvent, Purchase, Refund, Refusal};
use rust_decimal::Decimal;

/// The rows of one listing page, as a store returns them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerSlice {
    /// Up to `filter.limit` customers, in the filter's order, after its cursor or offset.
    pub items: Vec<Customer>,
    /// How many customers match the filter's conditions, ignoring cursor and paging.
    pub total: u64,
}

/// Persistence of customers.
///
/// Invariants every implementation keeps, checked by the conformance suite:
/// - `insert_customer` allocates the next code of the type's prefix in the same
///   transaction as the insert: concurrent inserts never share a code.
/// - No two *active* customers share an email or a phone: a write that would
///   break this fails with [`Error::DuplicateCustomer`](crate::Error::DuplicateCustomer)
///   naming the existing customer's code, and writes nothing.
/// - Every write increments `version` and sets `updated_at`.
#[async_trait]
pub trait CustomerStore: Send + Sync + std::fmt::Debug {
    /// Inserts a customer, allocating its id and code, with its audit
    /// record (`audit`, about the new customer) in the same transaction.
    async fn insert_customer(
        &self,
        fields: CustomerFields,
        now: DateTime<Utc>,
        audit: &AuditRecord,
    ) -> Result<Customer>;

    /// Inserts many customers in one transaction (bulk import): all or none.
    /// Codes are allocated as one block per type, in input order; the result
    /// is in input order.
    /// One audit record per customer (`audit`, about each), in the same
    /// transaction. With `checkpoint`, an import run's checkpoint is saved
    /// in the same transaction too, on the terms of
    /// [`save_import_run`](Self::save_import_run): the customers and the
    /// checkpoint commit together or not at all.
    async fn insert_customers(
        &self,
        batch: Vec<CustomerFields>,
        now: DateTime<Utc>,
        audit: &AuditRecord,
        checkpoint: Option<&SaveRun>,
    ) -> Result<Vec<Customer>>;

    /// The active customers holding any of these (normalised) emails or
    /// phones, each once.
    async fn find_active_by_contacts(
        &self,
        emails: &[String],
        phones: &[String],
    ) -> Result<Vec<Customer>>;

    /// The stored import run with this id.
    async fn import_run(&self, id: &str) -> Result<Option<ImportRun>>;

    /// Saves an import run: inserts it when `previous_line` is `None`,
    /// otherwise replaces it only if its stored checkpoint line still is
    /// `previous_line`. Either way a mismatch (the run exists already, or
    /// moved meanwhile) fails with a `ConcurrentChange` conflict and
    /// writes nothing.
    async fn save_import_run(&self, save: &SaveRun) -> Result<()>;

    /// The customer with this id, active or not.
    async fn customer(&self, id: CustomerId) -> Result<Option<Customer>>;

    /// The customer with this code, active or not.
    async fn customer_by_code(&self, code: CustomerCode) -> Result<Option<Customer>>;

    /// Replaces the caller-controlled fields if the stored `version` still is
    /// `expected_version`. Returns `None` when the customer is missing or was
    /// changed meanwhile (the caller re-reads and retries).
    /// Writes `audit` with the change, in its transaction.
    async fn update_customer(
        &self,
        id: CustomerId,
        fields: CustomerFields,
        expected_version: i64,
        now: DateTime<Utc>,
        audit: &AuditRecord,
    ) -> Result<Option<Customer>>;

    /// Sets `is_active`. Returns `None` when the customer does not exist.
    /// Reactivating a customer whose email or phone another active customer
    /// took meanwhile fails with `DuplicateCustomer`.
    /// Writes `audit` with the change, in its transaction (nothing when
    /// the status was already `active`).
    async fn set_customer_active(
        &self,
        id: CustomerId,
        active: bool,
        now: DateTime<Utc>,
        audit: &AuditRecord,
    ) -> Result<Option<Customer>>;

    /// Erases a customer's personal data in one transaction: replaces its
    /// fields with `fields` (the rules' erased values), deactivates it,
    /// rewrites the payloads of its `new_customer` and `customer_update`
    /// outbox events to the erased record, appends a `customer_update`
    /// event, and writes `audit`. `None` when the customer does not exist.
    async fn erase_customer(
        &self,
        id: CustomerId,
        fields: CustomerFields,
        now: DateTime<Utc>,
        audit: &AuditRecord,
    ) -> Result<Option<Customer>>;

    /// One page of customers matching `filter`, plus the total count.
    async fn list_customers(&self, filter: CustomerFilter) -> Result<CustomerSlice>;
}

/// Everything the facade needs from a backend.
#[async_trait]
pub trait CrmStore:
    CustomerStore + LedgerStore + crate::users::UserStore + crate::comms::CommsStore
{
    /// A short name of the backend (`memory`, `sqlite`, `mysql`).
    fn backend(&self) -> &'static str;

    /// Checks that the backend answers (for health checks).
    async fn ping(&self) -> Result<()>;

    /// Connections of the pool (open, idle), for metrics; `None` without a pool.
    fn pool_status(&self) -> Option<(u32, u32)> {
        None
    }

    /// Closes the backend's connections, waiting for those in use to be
    /// given back; later calls fail. Nothing to do without a pool.
    async fn close(&self) {}
}

/// A ledger transaction: the primitive reads and writes the loyalty rules
/// (in [`crate::loyalty`]) are built from. Everything done through one
/// `LedgerTx` commits together or not at all; dropping it without
/// [`commit`](LedgerTx::commit) rolls back.
///
/// When opened with `lock = true`, the accounts of the named customers are
/// locked until the end (MySQL `SELECT ... FOR UPDATE` in id order, SQLite
/// `BEGIN IMMEDIATE`, the memory store's mutex), so concurrent operations on
/// one customer run one after the other.
#[async_trait]
pub trait LedgerTx: Send {
    /// The account of a customer, created empty if missing.
    async fn account(&mut self, customer: CustomerId) -> Result<LoyaltyAccount>;
    /// Writes an account's balance, debt and lifetime total.
    async fn save_account(&mut self, account: &LoyaltyAccount, now: DateTime<Utc>) -> Result<()>;
    /// The entry with this idempotency key.
    async fn entry_by_key(
        &mut self,
        reference_type: &str,
        reference_id: &str,
    ) -> Result<Option<LedgerEntry>>;
    /// The refusal remembered under this idempotency key.
    async fn refusal_by_key(
        &mut self,
        reference_type: &str,
        reference_id: &str,
    ) -> Result<Option<Refusal>>;
    /// What a point operation reads first: the entry and whether a refusal
    /// is remembered under its idempotency key, and the state of its
    /// customer. SQL stores answer in one statement; the default asks
    /// [`entry_by_key`](Self::entry_by_key) and
    /// [`refusal_by_key`](Self::refusal_by_key) and leaves the customer to
    /// the caller.
    async fn key_check(
        &mut self,
        reference_type: &str,
        reference_id: &str,
        customer: CustomerId,
    ) -> Result<KeyCheck> {
        let _ = customer;
        KeyCheck::by_key(self, reference_type, reference_id).await
    }
    /// Remembers a refusal; another one under the same key is a
    /// [`Conflict`](crate::Error::Conflict).
    async fn insert_refusal(&mut self, refusal: Refusal) -> Result<()>;
    /// Appends an entry (the id is assigned).
    async fn append_entry(&mut self, entry: LedgerEntry) -> Result<LedgerEntry>;
    /// The customer's lots with points remaining, soonest expiry first
    /// (never-expiring last), then by id; at most `limit`.
    async fn open_lots(&mut self, customer: CustomerId, limit: u32) -> Result<Vec<Lot>>;
    /// The customer's lots with points remaining whose expiry is at or before `now`.
    async fn due_lots(&mut self, customer: CustomerId, now: DateTime<Utc>) -> Result<Vec<Lot>>;
    /// Points remaining in the customer's lots whose expiry is at or before `now`.
    async fn due_points(&mut self, customer: CustomerId, now: DateTime<Utc>) -> Result<i64>;
    /// One lot.
    async fn lot(&mut self, id: i64) -> Result<Option<Lot>>;
    /// Inserts a lot (its `id` is ignored: the store assigns one). A store
    /// may hold the write back until the transaction's next statement.
    async fn insert_lot(&mut self, lot: Lot) -> Result<()>;
    /// Sets a lot's remaining points.
    async fn set_lot_remaining(&mut self, lot: i64, remaining: i64) -> Result<()>;
    /// Records which lots an entry took points from (or gave points back to).
    async fn insert_allocations(&mut self, entry: i64, allocations: &[(i64, i64)]) -> Result<()>;
    /// The lot allocations of an entry.
    async fn allocations(&mut self, entry: i64) -> Result<Vec<(i64, i64)>>;
    /// Sum of EARN entries and earn reversals since `since` (tiers).
    async fn earned_since(&mut self, customer: CustomerId, since: DateTime<Utc>) -> Result<i64>;
    /// Manual points the customer received since `since`: its positive
    /// EARN and ADJUST entries other than purchases and merges (the daily
    /// caps of manual operations).
    async fn manual_points_since(
        &mut self,
        customer: CustomerId,
        since: DateTime<Utc>,
    ) -> Result<i64>;
    /// Sum of all the customer's entries (balance check).
    async fn ledger_sum(&mut self, customer: CustomerId) -> Result<i64>;
    /// The customer's newest entries, newest first.
    async fn recent_entries(
        &mut self,
        customer: CustomerId,
        limit: u32,
    ) -> Result<Vec<LedgerEntry>>;
    /// A customer (inside the transaction).
    async fn customer(&mut self, id: CustomerId) -> Result<Option<Customer>>;
    /// The purchase with this receipt.
    async fn purchase_by_receipt(
        &mut self,
        store_id: &str,
        receipt_id: &str,
    ) -> Result<Option<Purchase>>;
    /// Inserts a purchase (the id is assigned).
    async fn insert_purchase(&mut self, purchase: Purchase) -> Result<Purchase>;
    /// For each of `ids` that exists (active or not), the customer it was
    /// merged into (`None` when not merged); missing ids are absent from the
    /// map. Bulk imports use it to check a whole batch in a few queries.
    ///
    /// The default reads the customers one by one; SQL stores override it.
    async fn merge_links(
        &mut self,
        ids: &[CustomerId],
    ) -> Result<HashMap<CustomerId, Option<CustomerId>>> {
        let mut out = HashMap::with_capacity(ids.len());
        for &id in ids {
            if let Some(c) = self.customer(id).await? {
                out.insert(id, c.merged_into);
            }
        }
        Ok(out)
    }
    /// The stored purchases with any of these `(store_id, receipt_id)` keys.
    ///
    /// The default looks the receipts up one by one; SQL stores override it.
    async fn purchases_by_receipts(&mut self, keys: &[(String, String)]) -> Result<Vec<Purchase>> {
        let mut out = Vec::new();
        for (store_id, receipt_id) in keys {
            if let Some(p) = self.purchase_by_receipt(store_id, receipt_id).await? {
                out.push(p);
            }
        }
        Ok(out)
    }
    /// Inserts many purchases (bulk import; ids are assigned but not read
    /// back); returns how many were inserted. A receipt already stored fails
    /// the call with a [`Conflict`](crate::Error::Conflict).
    ///
    /// The default inserts them one by one; SQL stores use multi-row `INSERT`s.
    async fn insert_purchases(&mut self, purchases: Vec<Purchase>) -> Result<u64> {
        let mut n = 0;
        for p in purchases {
            self.insert_purchase(p).await?;
            n += 1;
        }
        Ok(n)
    }
    /// Sets a purchase's refunded amount.
    async fn set_refunded(&mut self, purchase: i64, refunded: Decimal) -> Result<()>;
    /// The refund of a purchase with this refund id.
    async fn refund_by_key(&mut self, purchase: i64, refund_id: &str) -> Result<Option<Refund>>;
    /// Inserts a refund (the id is assigned).
    async fn insert_refund(&mut self, refund: Refund) -> Result<Refund>;
    /// Moves the purchases and open lots of `from` to `into`.
    async fn move_history(&mut self, from: CustomerId, into: CustomerId) -> Result<()>;
    /// Deactivates `from` and records that it was merged into `into`, by whom, when.
    async fn mark_merged(
        &mut self,
        from: CustomerId,
        into: CustomerId,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<Customer>;
    /// Appends an outbox event (type, customer and JSON body from
    /// [`EventPayload`]). A store may hold the write back until the commit:
    /// nothing reads a transaction's own events.
    async fn append_event(&mut self, event: EventPayload<'_>, now: DateTime<Utc>) -> Result<()>;
    /// Appends an audit record (its `customer_id` set). A store may hold the
    /// write back until the transaction's next statement.
    async fn append_audit(&mut self, record: &AuditRecord, now: DateTime<Utc>) -> Result<()>;
    /// Commits everything done through this transaction.
    async fn commit(self: Box<Self>) -> Result<()>;
}

/// The answer of [`LedgerTx::key_check`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyCheck {
    /// The entry already written under the key.
    pub entry: Option<LedgerEntry>,
    /// Whether a refusal is remembered under the key.
    pub refused: bool,
    /// The customer's state, when the store read it with the key (`None`:
    /// the caller reads the customer).
    pub customer: Option<CustomerState>,
}

impl KeyCheck {
    /// The key's entry and refusal read separately, without the customer:
    /// the default [`LedgerTx::key_check`], and a store's answer when the
    /// customer is missing.
    pub async fn by_key<T: LedgerTx + ?Sized>(
        tx: &mut T,
        reference_type: &str,
        reference_id: &str,
    ) -> Result<Self> {
        let entry = tx.entry_by_key(reference_type, reference_id).await?;
        let refused = entry.is_none()
            && tx
                .refusal_by_key(reference_type, reference_id)
                .await?
                .is_some();
        Ok(Self {
            entry,
            refused,
            customer: None,
        })
    }
}

/// Enough of a customer to decide whether a point operation applies to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CustomerState {
    /// The customer.
    pub id: CustomerId,
    /// Whether it is active.
    pub is_active: bool,
    /// The customer it was merged into.
    pub merged_into: Option<CustomerId>,
}

/// Position in the purchase history: the last `(customer, date, id)` seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PurchaseCursor {
    /// Customer of the last purchase seen.
    pub customer_id: CustomerId,
    /// Its date.
    pub purchase_date: DateTime<Utc>,
    /// Its id.
    pub id: i64,
}

impl PurchaseCursor {
    /// The cursor just after `p`.
    pub fn after(p: &Purchase) -> Self {
        Self {
            customer_id: p.customer_id,
            purchase_date: p.purchase_date,
            id: p.id,
        }
    }

    /// Whether `p` comes after this cursor.
    pub fn is_before(&self, p: &Purchase) -> bool {
        (p.customer_id, p.purchase_date, p.id) > (self.customer_id, self.purchase_date, self.id)
    }
}

/// Persistence of the loyalty ledger, purchases and the outbox.
#[async_trait]
pub trait LedgerStore: Send + Sync {
    /// Opens a ledger transaction, locking the accounts of `customers` when `lock`.
    async fn begin_ledger(
        &self,
        customers: Vec<CustomerId>,
        lock: bool,
    ) -> Result<Box<dyn LedgerTx>>;
    /// Customers that have lots expired at `now` with points remaining (at most `limit`).
    async fn customers_with_due_lots(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<CustomerId>>;
    /// Outbox events with id > `after`, in id order, at most `limit`.
    async fn events_after(&self, after: i64, limit: u32) -> Result<Vec<OutboxEvent>>;
    /// The highest outbox event id, 0 when there is none.
    async fn last_event_id(&self) -> Result<i64>;
    /// Deletes the outbox events created before `before` (retention);
    /// returns how many were deleted and the highest id among them (0 when
    /// none). Events are deleted up to that id, in id order, never past a
    /// newer event.
    async fn prune_events(&self, before: DateTime<Utc>) -> Result<(u64, i64)>;
    /// The audit records of a customer with id > `after`, oldest first, at
    /// most `limit`.
    async fn audit_of(
        &self,
        customer: CustomerId,
        after: i64,
        limit: u32,
    ) -> Result<Vec<AuditEntry>>;
    /// A purchase by receipt, without locking.
    async fn purchase(&self, store_id: String, receipt_id: String) -> Result<Option<Purchase>>;
    /// Purchases in `(customer_id, purchase_date, id)` order, strictly after
    /// `after` (keyset paging over the whole history), at most `limit`.
    async fn purchases_after(
        &self,
        after: Option<PurchaseCursor>,
        limit: u32,
    ) -> Result<Vec<Purchase>>;
    /// One customer's purchases in date order.
    async fn purchases_of(&self, customer: CustomerId) -> Result<Vec<Purchase>>;
    /// Customers (all, and active) and the sum of positive point balances;
    /// read once per analytics fit, never per page view.
    async fn totals(&self) -> Result<StoreTotals>;
    /// Records where the fit `generation` placed these customers, replacing
    /// their earlier placements.
    async fn put_segments(&self, generation: u64, rows: Vec<CustomerSegment>) -> Result<()>;
    /// Deletes the placements of fits before `generation` (customers the
    /// fit no longer scored); returns how many.
    async fn prune_segments(&self, generation: u64) -> Result<u64>;
}
