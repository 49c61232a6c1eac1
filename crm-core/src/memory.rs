//! An in-memory backend, for unit tests, examples and prototyping.
//!
//! It keeps every invariant of the SQL stores (one lock makes each call
//! atomic) and passes the same conformance suite, but keeps nothing after the
//! process ends.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::customer::{
    Customer, CustomerCode, CustomerFields, CustomerFilter, CustomerId, CustomerType,
};
use crate::store::{CrmStore, CustomerSlice, CustomerStore};
use crate::{Error, Result};

#[derive(Debug, Default)]
struct State {
    customers: BTreeMap<CustomerId, Customer>,
    sequences: HashMap<CustomerType, u64>,
    next_id: i64,
}

impl State {
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
            version: 1,
            created_at: now,
            updated_at: now,
        };
        apply(&mut c, fields);
        self.sequences.insert(c.customer_type, seq);
        self.next_id = id.0;
        self.customers.insert(id, c.clone());
        Ok(c)
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
}

/// The in-memory store.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave half a write behind:
        // every write below is prepared first and applied in one step.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
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

#[async_trait]
impl CustomerStore for MemoryStore {
    async fn insert_customer(
        &self,
        fields: CustomerFields,
        now: DateTime<Utc>,
    ) -> Result<Customer> {
        let mut s = self.lock();
        s.check_unique(&fields, None)?;
        s.insert(fields, now)
    }

    async fn insert_customers(
        &self,
        batch: Vec<CustomerFields>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Customer>> {
        let mut s = self.lock();
        // Work on a copy and swap it in at the end: all or nothing.
        let mut next = State {
            customers: s.customers.clone(),
            sequences: s.sequences.clone(),
            next_id: s.next_id,
        };
        let mut out = Vec::with_capacity(batch.len());
        for fields in batch {
            next.check_unique(&fields, None)?;
            let c = next.insert(fields, now)?;
            out.push(c);
        }
        *s = next;
        Ok(out)
    }

    async fn customer(&self, id: CustomerId) -> Result<Option<Customer>> {
        Ok(self.lock().customers.get(&id).cloned())
    }

    async fn customer_by_code(&self, code: CustomerCode) -> Result<Option<Customer>> {
        Ok(self
            .lock()
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
    ) -> Result<Option<Customer>> {
        let mut s = self.lock();
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
        Ok(Some(c.clone()))
    }

    async fn set_customer_active(
        &self,
        id: CustomerId,
        active: bool,
        now: DateTime<Utc>,
    ) -> Result<Option<Customer>> {
        let mut s = self.lock();
        let Some(current) = s.customers.get(&id) else {
            return Ok(None);
        };
        if active && !current.is_active {
            s.check_unique(&CustomerFields::of(current), Some(id))?;
        }
        let Some(c) = s.customers.get_mut(&id) else {
            return Ok(None);
        };
        if c.is_active != active {
            c.is_active = active;
            c.version += 1;
            c.updated_at = now;
        }
        Ok(Some(c.clone()))
    }

    async fn list_customers(&self, filter: CustomerFilter) -> Result<CustomerSlice> {
        let s = self.lock();
        let mut matching: Vec<&Customer> =
            s.customers.values().filter(|c| filter.matches(c)).collect();
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

#[async_trait]
impl CrmStore for MemoryStore {
    fn backend(&self) -> &'static str {
        "memory"
    }

    async fn ping(&self) -> Result<()> {
        Ok(())
    }
}
