//! The storage traits every backend implements.
//!
//! The [`Crm`](crate::Crm) facade holds an `Arc<dyn CrmStore>`; the in-memory
//! store ([`crate::memory`]) and the SQL stores of `crm-sqlx` implement the
//! same traits and pass the same conformance suite. Stores receive values
//! that the facade has already validated and normalised; they own atomicity
//! (a failed call writes nothing), code allocation and the uniqueness rules.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::Result;
use crate::customer::{Customer, CustomerCode, CustomerFields, CustomerFilter, CustomerId};

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
    /// Inserts a customer, allocating its id and code.
    async fn insert_customer(&self, fields: CustomerFields, now: DateTime<Utc>)
    -> Result<Customer>;

    /// Inserts many customers in one transaction (bulk import): all or none.
    /// Codes are allocated as one block per type, in input order; the result
    /// is in input order.
    async fn insert_customers(
        &self,
        batch: Vec<CustomerFields>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Customer>>;

    /// The customer with this id, active or not.
    async fn customer(&self, id: CustomerId) -> Result<Option<Customer>>;

    /// The customer with this code, active or not.
    async fn customer_by_code(&self, code: CustomerCode) -> Result<Option<Customer>>;

    /// Replaces the caller-controlled fields if the stored `version` still is
    /// `expected_version`. Returns `None` when the customer is missing or was
    /// changed meanwhile (the caller re-reads and retries).
    async fn update_customer(
        &self,
        id: CustomerId,
        fields: CustomerFields,
        expected_version: i64,
        now: DateTime<Utc>,
    ) -> Result<Option<Customer>>;

    /// Sets `is_active`. Returns `None` when the customer does not exist.
    /// Reactivating a customer whose email or phone another active customer
    /// took meanwhile fails with `DuplicateCustomer`.
    async fn set_customer_active(
        &self,
        id: CustomerId,
        active: bool,
        now: DateTime<Utc>,
    ) -> Result<Option<Customer>>;

    /// One page of customers matching `filter`, plus the total count.
    async fn list_customers(&self, filter: CustomerFilter) -> Result<CustomerSlice>;
}

/// Everything the facade needs from a backend.
#[async_trait]
pub trait CrmStore: CustomerStore {
    /// A short name of the backend (`memory`, `sqlite`, `mysql`).
    fn backend(&self) -> &'static str;

    /// Checks that the backend answers (for health checks).
    async fn ping(&self) -> Result<()>;
}
