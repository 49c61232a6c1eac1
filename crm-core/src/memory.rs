//! An in-memory backend, for unit tests, examples and prototyping.
//!
//! It keeps every invariant of the SQL stores and passes the same
//! conformance suite, but keeps nothing after the process ends. One async
//! mutex makes each call (and each ledger transaction) atomic; a ledger
//! transaction snapshots the state and restores it unless committed.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::analytics::{CustomerSegment, StoreTotals};
use crate::audit::{AuditEntry, AuditRecord};
use crate::customer::import::{ImportRun, SaveRun};
use crate::customer::{
    Customer, CustomerCode, CustomerFields, CustomerFilter, CustomerId, CustomerType,
};
use crate::error::ConflictReason;
use crate::events::{EventPayload, EventType};
use crate::loyalty::{
    EntryType, LedgerEntry, Lot, LoyaltyAccount, OutboxEvent, Purchase, Refund, Refusal,
};
use crate::store::{CrmStore, CustomerSlice, CustomerStore, LedgerStore, LedgerTx, PurchaseCursor};
use crate::users::{Role, User, UserChange, UserStore};
use crate::{Error, Result};

#[path = "memory_comms.rs"]
mod comms;

#[derive(Debug, Default, Clone)]
struct State {
    customers: BTreeMap<CustomerId, Customer>,
    sequences: HashMap<CustomerType, u64>,
    next_id: i64,
    accounts: HashMap<CustomerId, LoyaltyAccount>,
    entries: Vec<LedgerEntry>,
    entry_keys: HashMap<(String, String), usize>,
    lots: BTreeMap<i64, Lot>,
    allocations: HashMap<i64, Vec<(i64, i64)>>,
    purchases: BTreeMap<i64, Purchase>,
    receipts: HashMap<(String, String), i64>,
    refunds: Vec<Refund>,
    refusals: HashMap<(String, String), Refusal>,
    audit: Vec<AuditEntry>,
    events: Vec<OutboxEvent>,
    users: Vec<(User, String)>,
    settings: HashMap<String, String>,
    comms: comms::CommsState,
    /// Where the last fits placed customers, with the fit's generation.
    segments: HashMap<CustomerId, (CustomerSegment, u64)>,
    /// Import runs by id.
    imports: HashMap<String, ImportRun>,
}

impl State {
    /// Saves an import run on the terms of `CustomerStore::save_import_run`.
    fn save_run(&mut self, save: &SaveRun) -> Result<()> {
        let stored = self.imports.get(&save.run.id).map(|r| r.totals.line);
        if stored != save.previous_line {
            return Err(Error::conflict(
                ConflictReason::ConcurrentChange,
                format!(
                    "import run {} was moved on by another process; start it again to resume",
                    save.run.id
                ),
            ));
        }
        self.imports.insert(save.run.id.clone(), save.run.clone());
        Ok(())
    }

    /// The active customer other than `except` holding this email or phone.
    fn check_unique(&self, fields: &CustomerFields, except: Option<CustomerId>) -> Result<()> {
        for c in self.customers.values() {
            if !c.is_active || Some(c.id) == except {
                continue;
            }
            for (field, mine, theirs) in [
                ("email", &fields.email, &c.email),
                ("phone", &fields.phone, &c.phone),
            ] {
                if let (Some(v), Some(w)) = (mine, theirs)
                    && v == w
                {
                    return Err(Error::DuplicateCustomer {
                        field,
                        value: v.clone(),
                        existing_code: c.customer_code.clone(),
                    });
                }
            }
        }
        Ok(())
    }

    /// Allocates id and code and stores the customer (uniqueness already checked).
    fn insert(&mut self, fields: CustomerFields, now: DateTime<Utc>) -> Result<Customer> {
        let seq = self
            .sequences
            .get(&fields.customer_type)
            .copied()
            .unwrap_or(0)
            + 1;
        let code = CustomerCode::new(fields.customer_type, seq)?;
        let id = CustomerId(self.next_id + 1);
        let mut c = Customer {
            id,
            customer_code: code,
            name: String::new(),
            email: None,
            phone: None,
            customer_type: fields.customer_type,
            credit_limit: Default::default(),
            address: Default::default(),
            birthday: None,
            tags: Vec::new(),
            is_active: true,
            merged_into: None,
            merged_by: None,
            merged_at: None,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        apply(&mut c, fields);
        self.sequences.insert(c.customer_type, seq);
        self.next_id = id.0;
        self.customers.insert(id, c.clone());
        self.push_event(EventPayload::NewCustomer(&c), now);
        Ok(c)
    }

    fn push_audit(&mut self, record: &AuditRecord, now: DateTime<Utc>) {
        let id = self.audit.len() as i64 + 1;
        self.audit.push(AuditEntry {
            id,
            at: now,
            actor: record.actor.clone(),
            role: record.role,
            action: record.action.clone(),
            customer_id: record.customer_id,
            detail: record.detail.clone(),
        });
    }

    fn push_event(&mut self, event: EventPayload<'_>, now: DateTime<Utc>) -> i64 {
        let id = self.events.len() as i64 + 1;
        self.events.push(OutboxEvent {
            id,
            event_type: event.event_type().as_str().to_string(),
            customer_id: event.customer_id(),
            payload: event.to_json(),
            created_at: now,
        });
        id
    }
}

fn apply(c: &mut Customer, f: CustomerFields) {
    c.name = f.name;
    c.email = f.email;
    c.phone = f.phone;
    c.customer_type = f.customer_type;
    c.credit_limit = f.credit_limit;
    c.address = f.address;
    c.birthday = f.birthday;
    c.tags = f.tags;
}

/// The in-memory store.
#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    state: Arc<Mutex<State>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl CustomerStore for MemoryStore {
    async fn insert_customer(
        &self,
        fields: CustomerFields,
        now: DateTime<Utc>,
        audit: &AuditRecord,
    ) -> Result<Customer> {
        let mut s = self.state.lock().await;
        s.check_unique(&fields, None)?;
        let c = s.insert(fields, now)?;
        s.push_audit(&audit.clone().about(c.id), now);
        Ok(c)
    }

    async fn insert_customers(
        &self,
        batch: Vec<CustomerFields>,
        now: DateTime<Utc>,
        audit: &AuditRecord,
        checkpoint: Option<&SaveRun>,
    ) -> Result<Vec<Customer>> {
        let mut s = self.state.lock().await;
        // Work on a copy and swap it in at the end: all or nothing.
        let mut next = s.clone();
        let mut out = Vec::with_capacity(batch.len());
        for fields in batch {
            next.check_unique(&fields, None)?;
            let c = next.insert(fields, now)?;
            next.push_audit(&audit.clone().about(c.id), now);
            out.push(c);
        }
        if let Some(save) = checkpoint {
            next.save_run(save)?;
        }
        *s = next;
        Ok(out)
    }

    async fn find_active_by_contacts(
        &self,
        emails: &[String],
        phones: &[String],
    ) -> Result<Vec<Customer>> {
        let emails: std::collections::HashSet<&str> = emails.iter().map(String::as_str).collect();
        let phones: std::collections::HashSet<&str> = phones.iter().map(String::as_str).collect();
        Ok(self
            .state
            .lock()
            .await
            .customers
            .values()
            .filter(|c| {
                c.is_active
                    && (c.email.as_deref().is_some_and(|e| emails.contains(e))
                        || c.phone.as_deref().is_some_and(|p| phones.contains(p)))
            })
            .cloned()
            .collect())
    }

    async fn import_run(&self, id: &str) -> Result<Option<ImportRun>> {
        Ok(self.state.lock().await.imports.get(id).cloned())
    }

    async fn save_import_run(&self, save: &SaveRun) -> Result<()> {
        self.state.lock().await.save_run(save)
    }

    async fn customer(&self, id: CustomerId) -> Result<Option<Customer>> {
        Ok(self.state.lock().await.customers.get(&id).cloned())
    }

    async fn customer_by_code(&self, code: CustomerCode) -> Result<Option<Customer>> {
        Ok(self
            .state
            .lock()
            .await
            .customers
            .values()
            .find(|c| c.customer_code == code)
            .cloned())
    }

    async fn update_customer(
        &self,
        id: CustomerId,
        fields: CustomerFields,
        expected_version: i64,
        now: DateTime<Utc>,
        audit: &AuditRecord,
    ) -> Result<Option<Customer>> {
        let mut s = self.state.lock().await;
        match s.customers.get(&id) {
            Some(c) if c.version == expected_version => {
                if c.is_active {
                    s.check_unique(&fields, Some(id))?;
                }
            }
            _ => return Ok(None),
        }
        let Some(c) = s.customers.get_mut(&id) else {
            return Ok(None);
        };
        apply(c, fields);
        c.version += 1;
        c.updated_at = now;
        let c = c.clone();
        s.push_event(EventPayload::CustomerUpdate(&c), now);
        s.push_audit(&audit.clone().about(id), now);
        Ok(Some(c))
    }

    async fn set_customer_active(
        &self,
        id: CustomerId,
        active: bool,
        now: DateTime<Utc>,
        audit: &AuditRecord,
    ) -> Result<Option<Customer>> {
        let mut s = self.state.lock().await;
        let Some(current) = s.customers.get(&id) else {
            return Ok(None);
        };
        if active && !current.is_active {
            s.check_unique(&CustomerFields::of(current), Some(id))?;
        }
        let Some(c) = s.customers.get_mut(&id) else {
            return Ok(None);
        };
        if c.is_active == active {
            return Ok(Some(c.clone()));
        }
        c.is_active = active;
        c.version += 1;
        c.updated_at = now;
        let c = c.clone();
        s.push_event(EventPayload::CustomerUpdate(&c), now);
        s.push_audit(&audit.clone().about(id), now);
        Ok(Some(c))
    }

    async fn erase_customer(
        &self,
        id: CustomerId,
        fields: CustomerFields,
        now: DateTime<Utc>,
        audit: &AuditRecord,
    ) -> Result<Option<Customer>> {
        let mut s = self.state.lock().await;
        let Some(c) = s.customers.get_mut(&id) else {
            return Ok(None);
        };
        apply(c, fields);
        c.is_active = false;
        c.version += 1;
        c.updated_at = now;
        let c = c.clone();
        // Events written before thin events carry the whole customer.
        for e in s.events.iter_mut().filter(|e| {
            e.customer_id == id
                && matches!(
                    EventType::parse(&e.event_type),
                    Some(EventType::NewCustomer | EventType::CustomerUpdate)
                )
        }) {
            if let Some(thin) = crate::events::thin_payload(&e.payload) {
                e.payload = thin;
            }
        }
        s.push_event(EventPayload::CustomerUpdate(&c), now);
        s.push_audit(&audit.clone().about(id), now);
        Ok(Some(c))
    }

    async fn list_customers(&self, filter: CustomerFilter) -> Result<CustomerSlice> {
        let s = self.state.lock().await;
        let placed = |c: &Customer| {
            if filter.segment.is_none()
                && filter.recency_score.is_none()
                && filter.frequency_score.is_none()
            {
                return true;
            }
            s.segments.get(&c.id).is_some_and(|(p, _)| {
                filter.segment.is_none_or(|x| x == p.segment)
                    && filter.recency_score.is_none_or(|x| x == p.recency_score)
                    && filter
                        .frequency_score
                        .is_none_or(|x| x == p.frequency_score)
            })
        };
        let mut matching: Vec<&Customer> = s
            .customers
            .values()
            .filter(|c| filter.matches(c) && placed(c))
            .collect();
        let total = matching.len() as u64;
        matching.sort_by(|a, b| filter.compare(a, b));
        let items = matching
            .into_iter()
            .filter(|c| filter.is_after_cursor(c))
            .skip(usize::try_from(filter.offset).unwrap_or(usize::MAX))
            .take(filter.limit as usize)
            .cloned()
            .collect();
        Ok(CustomerSlice { items, total })
    }
}

/// A ledger transaction over the memory store: holds the lock, restores the
/// snapshot unless committed.
struct MemoryTx {
    state: OwnedMutexGuard<State>,
    snapshot: Option<State>,
}

impl Drop for MemoryTx {
    fn drop(&mut self) {
        if let Some(snapshot) = self.snapshot.take() {
            *self.state = snapshot;
        }
    }
}

fn open_lots_order(a: &Lot, b: &Lot) -> std::cmp::Ordering {
    // Soonest expiry first, never-expiring last, then oldest.
    match (a.expires_at, b.expires_at) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    }
    .then(a.id.cmp(&b.id))
}

#[async_trait]
impl LedgerTx for MemoryTx {
    async fn account(&mut self, customer: CustomerId) -> Result<LoyaltyAccount> {
        // Like the SQL backends' foreign key: no account without a customer.
        if !self.state.customers.contains_key(&customer) {
            return Err(crate::Error::customer_not_found(customer));
        }
        Ok(self
            .state
            .accounts
            .entry(customer)
            .or_insert_with(|| LoyaltyAccount {
                customer_id: customer,
                balance: 0,
                debt: 0,
                lifetime_earned: 0,
            })
            .clone())
    }

    async fn save_account(&mut self, account: &LoyaltyAccount, _now: DateTime<Utc>) -> Result<()> {
        self.state
            .accounts
            .insert(account.customer_id, account.clone());
        Ok(())
    }

    async fn entry_by_key(
        &mut self,
        reference_type: &str,
        reference_id: &str,
    ) -> Result<Option<LedgerEntry>> {
        let key = (reference_type.to_string(), reference_id.to_string());
        Ok(self
            .state
            .entry_keys
            .get(&key)
            .and_then(|i| self.state.entries.get(*i))
            .cloned())
    }

    async fn append_entry(&mut self, mut entry: LedgerEntry) -> Result<LedgerEntry> {
        let key = (entry.reference_type.clone(), entry.reference_id.clone());
        if self.state.entry_keys.contains_key(&key) {
            return Err(Error::conflict(
                ConflictReason::ConcurrentChange,
                format!("reference {}/{} already used", key.0, key.1),
            ));
        }
        let st = &mut *self.state;
        entry.id = st.entries.len() as i64 + 1;
        st.entry_keys.insert(key, st.entries.len());
        st.entries.push(entry.clone());
        Ok(entry)
    }

    async fn open_lots(&mut self, customer: CustomerId, limit: u32) -> Result<Vec<Lot>> {
        let mut lots: Vec<Lot> = self
            .state
            .lots
            .values()
            .filter(|l| l.customer_id == customer && l.remaining > 0)
            .cloned()
            .collect();
        lots.sort_by(open_lots_order);
        lots.truncate(limit as usize);
        Ok(lots)
    }

    async fn due_lots(&mut self, customer: CustomerId, now: DateTime<Utc>) -> Result<Vec<Lot>> {
        let mut lots: Vec<Lot> = self
            .state
            .lots
            .values()
            .filter(|l| {
                l.customer_id == customer
                    && l.remaining > 0
                    && l.expires_at.is_some_and(|at| at <= now)
            })
            .cloned()
            .collect();
        lots.sort_by(open_lots_order);
        Ok(lots)
    }

    async fn due_points(&mut self, customer: CustomerId, now: DateTime<Utc>) -> Result<i64> {
        Ok(self
            .state
            .lots
            .values()
            .filter(|l| {
                l.customer_id == customer
                    && l.remaining > 0
                    && l.expires_at.is_some_and(|at| at <= now)
            })
            .map(|l| l.remaining)
            .sum())
    }

    async fn lot(&mut self, id: i64) -> Result<Option<Lot>> {
        Ok(self.state.lots.get(&id).cloned())
    }

    async fn insert_lot(&mut self, mut lot: Lot) -> Result<()> {
        lot.id = self.state.lots.len() as i64 + 1;
        self.state.lots.insert(lot.id, lot);
        Ok(())
    }

    async fn set_lot_remaining(&mut self, lot: i64, remaining: i64) -> Result<()> {
        if let Some(l) = self.state.lots.get_mut(&lot) {
            l.remaining = remaining;
        }
        Ok(())
    }

    async fn insert_allocations(&mut self, entry: i64, allocations: &[(i64, i64)]) -> Result<()> {
        self.state
            .allocations
            .entry(entry)
            .or_default()
            .extend_from_slice(allocations);
        Ok(())
    }

    async fn allocations(&mut self, entry: i64) -> Result<Vec<(i64, i64)>> {
        Ok(self
            .state
            .allocations
            .get(&entry)
            .cloned()
            .unwrap_or_default())
    }

    async fn earned_since(&mut self, customer: CustomerId, since: DateTime<Utc>) -> Result<i64> {
        Ok(self
            .state
            .entries
            .iter()
            .filter(|e| e.customer_id == customer && e.occurred_at >= since)
            .filter(|e| e.entry_type == EntryType::Earn || e.reference_type == "refund_earn")
            .map(|e| e.points)
            .sum())
    }

    async fn manual_points_since(
        &mut self,
        customer: CustomerId,
        since: DateTime<Utc>,
    ) -> Result<i64> {
        Ok(self
            .state
            .entries
            .iter()
            .filter(|e| e.customer_id == customer && e.occurred_at >= since && e.points > 0)
            .filter(|e| matches!(e.entry_type, EntryType::Earn | EntryType::Adjust))
            .filter(|e| !matches!(e.reference_type.as_str(), "purchase" | "merge_in"))
            .map(|e| e.points)
            .sum())
    }

    async fn ledger_sum(&mut self, customer: CustomerId) -> Result<i64> {
        Ok(self
            .state
            .entries
            .iter()
            .filter(|e| e.customer_id == customer)
            .map(|e| e.points)
            .sum())
    }

    async fn recent_entries(
        &mut self,
        customer: CustomerId,
        limit: u32,
    ) -> Result<Vec<LedgerEntry>> {
        Ok(self
            .state
            .entries
            .iter()
            .rev()
            .filter(|e| e.customer_id == customer)
            .take(limit as usize)
            .cloned()
            .collect())
    }

    async fn customer(&mut self, id: CustomerId) -> Result<Option<Customer>> {
        Ok(self.state.customers.get(&id).cloned())
    }

    async fn purchase_by_receipt(
        &mut self,
        store_id: &str,
        receipt_id: &str,
    ) -> Result<Option<Purchase>> {
        let key = (store_id.to_string(), receipt_id.to_string());
        Ok(self
            .state
            .receipts
            .get(&key)
            .and_then(|id| self.state.purchases.get(id))
            .cloned())
    }

    async fn insert_purchase(&mut self, mut purchase: Purchase) -> Result<Purchase> {
        let key = (purchase.store_id.clone(), purchase.receipt_id.clone());
        if self.state.receipts.contains_key(&key) {
            // The SQL stores' unique key on (store_id, receipt_id).
            return Err(Error::conflict(
                ConflictReason::ConcurrentChange,
                format!(
                    "receipt {}/{} is already recorded",
                    purchase.store_id, purchase.receipt_id
                ),
            ));
        }
        purchase.id = self.state.purchases.len() as i64 + 1;
        self.state.receipts.insert(key, purchase.id);
        self.state.purchases.insert(purchase.id, purchase.clone());
        Ok(purchase)
    }

    async fn set_refunded(&mut self, purchase: i64, refunded: Decimal) -> Result<()> {
        if let Some(p) = self.state.purchases.get_mut(&purchase) {
            p.refunded_amount = refunded;
        }
        Ok(())
    }

    async fn refund_by_key(&mut self, purchase: i64, refund_id: &str) -> Result<Option<Refund>> {
        Ok(self
            .state
            .refunds
            .iter()
            .find(|r| r.purchase_id == purchase && r.refund_id == refund_id)
            .cloned())
    }

    async fn insert_refund(&mut self, mut refund: Refund) -> Result<Refund> {
        refund.id = self.state.refunds.len() as i64 + 1;
        self.state.refunds.push(refund.clone());
        Ok(refund)
    }

    async fn move_history(&mut self, from: CustomerId, into: CustomerId) -> Result<()> {
        for p in self
            .state
            .purchases
            .values_mut()
            .filter(|p| p.customer_id == from)
        {
            p.customer_id = into;
        }
        for l in self
            .state
            .lots
            .values_mut()
            .filter(|l| l.customer_id == from && l.remaining > 0)
        {
            l.customer_id = into;
        }
        Ok(())
    }

    async fn mark_merged(
        &mut self,
        from: CustomerId,
        into: CustomerId,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<Customer> {
        let c = self
            .state
            .customers
            .get_mut(&from)
            .ok_or_else(|| Error::customer_not_found(from))?;
        c.is_active = false;
        c.merged_into = Some(into);
        c.merged_by = Some(by.to_string());
        c.merged_at = Some(now);
        c.version += 1;
        c.updated_at = now;
        Ok(c.clone())
    }

    async fn append_event(&mut self, event: EventPayload<'_>, now: DateTime<Utc>) -> Result<()> {
        self.state.push_event(event, now);
        Ok(())
    }

    async fn append_audit(&mut self, record: &AuditRecord, now: DateTime<Utc>) -> Result<()> {
        self.state.push_audit(record, now);
        Ok(())
    }

    async fn refusal_by_key(
        &mut self,
        reference_type: &str,
        reference_id: &str,
    ) -> Result<Option<Refusal>> {
        Ok(self
            .state
            .refusals
            .get(&(reference_type.to_string(), reference_id.to_string()))
            .cloned())
    }

    async fn insert_refusal(&mut self, refusal: Refusal) -> Result<()> {
        let key = (refusal.reference_type.clone(), refusal.reference_id.clone());
        if self.state.refusals.contains_key(&key) {
            return Err(Error::conflict(
                ConflictReason::ConcurrentChange,
                format!("reference {}/{} was refused concurrently", key.0, key.1),
            ));
        }
        self.state.refusals.insert(key, refusal);
        Ok(())
    }

    async fn commit(mut self: Box<Self>) -> Result<()> {
        self.snapshot = None;
        Ok(())
    }
}

#[async_trait]
impl LedgerStore for MemoryStore {
    async fn begin_ledger(
        &self,
        _customers: Vec<CustomerId>,
        _lock: bool,
    ) -> Result<Box<dyn LedgerTx>> {
        let state = self.state.clone().lock_owned().await;
        let snapshot = Some(state.clone());
        Ok(Box::new(MemoryTx { state, snapshot }))
    }

    async fn customers_with_due_lots(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<CustomerId>> {
        let s = self.state.lock().await;
        let mut ids: Vec<CustomerId> = s
            .lots
            .values()
            .filter(|l| l.remaining > 0 && l.expires_at.is_some_and(|at| at <= now))
            .map(|l| l.customer_id)
            .collect();
        ids.sort();
        ids.dedup();
        ids.truncate(limit as usize);
        Ok(ids)
    }

    async fn events_after(&self, after: i64, limit: u32) -> Result<Vec<OutboxEvent>> {
        let s = self.state.lock().await;
        Ok(s.events
            .iter()
            .filter(|e| e.id > after)
            .take(limit as usize)
            .cloned()
            .collect())
    }

    async fn last_event_id(&self) -> Result<i64> {
        let s = self.state.lock().await;
        Ok(s.events.last().map_or(0, |e| e.id))
    }

    async fn audit_of(
        &self,
        customer: CustomerId,
        after: i64,
        limit: u32,
    ) -> Result<Vec<AuditEntry>> {
        let s = self.state.lock().await;
        Ok(s.audit
            .iter()
            .filter(|a| a.customer_id == Some(customer) && a.id > after)
            .take(limit as usize)
            .cloned()
            .collect())
    }

    async fn prune_events(&self, before: DateTime<Utc>) -> Result<(u64, i64)> {
        let mut s = self.state.lock().await;
        let through = s
            .events
            .iter()
            .filter(|e| e.created_at < before)
            .map(|e| e.id)
            .max()
            .unwrap_or(0);
        let old = s.events.len();
        s.events.retain(|e| e.id > through);
        Ok(((old - s.events.len()) as u64, through))
    }

    async fn purchase(&self, store_id: String, receipt_id: String) -> Result<Option<Purchase>> {
        let s = self.state.lock().await;
        Ok(s.receipts
            .get(&(store_id, receipt_id))
            .and_then(|id| s.purchases.get(id))
            .cloned())
    }

    async fn purchases_after(
        &self,
        after: Option<PurchaseCursor>,
        limit: u32,
    ) -> Result<Vec<Purchase>> {
        let s = self.state.lock().await;
        let mut out: Vec<Purchase> = s
            .purchases
            .values()
            .filter(|p| after.is_none_or(|c| c.is_before(p)))
            .cloned()
            .collect();
        out.sort_by_key(|p| (p.customer_id, p.purchase_date, p.id));
        out.truncate(limit as usize);
        Ok(out)
    }

    async fn purchases_of(&self, customer: CustomerId) -> Result<Vec<Purchase>> {
        let s = self.state.lock().await;
        let mut out: Vec<Purchase> = s
            .purchases
            .values()
            .filter(|p| p.customer_id == customer)
            .cloned()
            .collect();
        out.sort_by_key(|p| (p.purchase_date, p.id));
        Ok(out)
    }

    async fn totals(&self) -> Result<StoreTotals> {
        let s = self.state.lock().await;
        Ok(StoreTotals {
            customers: s.customers.len() as u64,
            active_customers: s.customers.values().filter(|c| c.is_active).count() as u64,
            points_outstanding: s
                .accounts
                .values()
                .map(|a| a.balance.max(0))
                .try_fold(0i64, i64::checked_add)
                .ok_or_else(|| Error::storage_msg("points outstanding overflow"))?,
        })
    }

    async fn put_segments(&self, generation: u64, rows: Vec<CustomerSegment>) -> Result<()> {
        let mut s = self.state.lock().await;
        for row in rows {
            s.segments.insert(row.customer_id, (row, generation));
        }
        Ok(())
    }

    async fn prune_segments(&self, generation: u64) -> Result<u64> {
        let mut s = self.state.lock().await;
        let before = s.segments.len();
        s.segments.retain(|_, (_, g)| *g >= generation);
        Ok((before - s.segments.len()) as u64)
    }
}

#[async_trait]
impl UserStore for MemoryStore {
    async fn insert_user(
        &self,
        email: String,
        password_hash: String,
        role: Role,
        now: DateTime<Utc>,
    ) -> Result<User> {
        let mut s = self.state.lock().await;
        if s.users.iter().any(|(u, _)| u.email == email) {
            return Err(Error::conflict(
                ConflictReason::AlreadyExists,
                format!("user {email} already exists"),
            ));
        }
        let user = User {
            id: s.users.len() as i64 + 1,
            email,
            role,
            created_at: now,
            active: true,
            token_version: 0,
        };
        s.users.push((user.clone(), password_hash));
        Ok(user)
    }

    async fn user_by_email(&self, email: String) -> Result<Option<(User, String)>> {
        Ok(self
            .state
            .lock()
            .await
            .users
            .iter()
            .find(|(u, _)| u.email == email)
            .cloned())
    }

    async fn users(&self) -> Result<Vec<User>> {
        Ok(self
            .state
            .lock()
            .await
            .users
            .iter()
            .map(|(u, _)| u.clone())
            .collect())
    }

    async fn user(&self, id: i64) -> Result<Option<(User, String)>> {
        Ok(self
            .state
            .lock()
            .await
            .users
            .iter()
            .find(|(u, _)| u.id == id)
            .cloned())
    }

    async fn update_user(&self, id: i64, change: UserChange) -> Result<Option<User>> {
        let mut s = self.state.lock().await;
        let Some((user, hash)) = s.users.iter_mut().find(|(u, _)| u.id == id) else {
            return Ok(None);
        };
        if let Some(active) = change.active {
            user.active = active;
        }
        if let Some(role) = change.role {
            user.role = role;
        }
        if let Some(new) = change.password_hash {
            *hash = new;
        }
        user.token_version = user.token_version.saturating_add(1);
        Ok(Some(user.clone()))
    }

    async fn setting(&self, key: String) -> Result<Option<String>> {
        Ok(self.state.lock().await.settings.get(&key).cloned())
    }

    async fn put_setting(&self, key: String, value: String) -> Result<()> {
        self.state.lock().await.settings.insert(key, value);
        Ok(())
    }

    async fn setting_or_insert(&self, key: String, value: String) -> Result<String> {
        Ok(self
            .state
            .lock()
            .await
            .settings
            .entry(key)
            .or_insert(value)
            .clone())
    }
}

#[async_trait]
impl CrmStore for MemoryStore {
    fn backend(&self) -> &'static str {
        "memory"
    }

    async fn ping(&self) -> Result<()> {
        Ok(())
    }
}
