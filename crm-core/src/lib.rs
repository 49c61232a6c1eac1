//! # crm-core
//!
//! The domain of the CRM SDK for retail distribution and point-of-sale
//! software, and every rule of it: customers (codes, validation, duplicates,
//! soft delete, listing, merges), the loyalty ledger (purchases, refunds,
//! earn/redeem/adjust, expiring lots, tiers), customer analytics (RFM,
//! BG/NBD, Gamma-Gamma, CLV, churn), customer communications (templates,
//! consent, campaigns, the log), the outbox of domain events, staff users, and the storage traits every backend implements.
//!
//! # The public API: [`Crm`] and its handles
//!
//! A [`Crm`] hands out one cheap, clonable handle per area:
//! [`Crm::customers`], [`Crm::loyalty`], [`Crm::analytics`],
//! [`Crm::events`], [`Crm::users`], [`Crm::comms`]. Each method is `async`, takes one owned
//! argument (an id or a request struct) and returns plain serde types; the
//! Python and Node packages mirror the handles class for class. Every
//! request type reads JSON with every failing field reported ([`FromJson`]);
//! every error carries a stable [`ErrorCode`]; scoring everyone and
//! following events are pull cursors and streams with bounded memory.
//!
//! # The adapter interface: [`store`]
//!
//! This crate does no I/O of its own: no SQL, no HTTP, no files. Databases
//! live behind the traits in [`store`]; `crm-sqlx` implements them for
//! MySQL/MariaDB and SQLite, [`memory`] in memory.
//!
//! ```
//! use crm_core::{Crm, NewCustomer, CustomerType, CustomerQuery};
//! use crm_core::memory::MemoryStore;
//!
//! # tokio_test_block_on(async {
//! let crm = Crm::new(MemoryStore::new());
//! let created = crm
//!     .customers()
//!     .create(NewCustomer {
//!         name: "Toko Sinar Jaya".into(),
//!         email: Some("Owner@SinarJaya.co.id".into()),
//!         phone: Some("0812-3456-7890".into()),
//!         customer_type: CustomerType::Wholesale,
//!         ..NewCustomer::default()
//!     })
//!     .await?;
//! assert!(created.customer_code.as_str().starts_with("WS"));
//! assert_eq!(created.email.as_deref(), Some("owner@sinarjaya.co.id"));
//! assert_eq!(created.phone.as_deref(), Some("+6281234567890"));
//!
//! let page = crm.customers().list(CustomerQuery::default()).await?;
//! assert_eq!(page.total, Some(1)); // counted: an offset page without a search
//! # Ok::<(), crm_core::Error>(())
//! # });
//! # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(f)
//! # }
//! ```

pub mod analytics;
pub mod audit;
pub mod clock;
pub mod comms;
pub mod customer;
pub mod error;
pub mod events;
pub mod facade;
pub mod json;
pub mod loyalty;
pub mod memory;
#[cfg(feature = "openapi")]
pub mod openapi;
pub mod store;
pub mod users;

pub use clock::{Clock, ManualClock, SystemClock};
pub use customer::handle::{CustomerExport, MergeCustomers, UpdateCustomer};
pub use customer::import::{
    BatchOutcome, CustomerImport, DuplicatePolicy, ImportOptions, ImportRow, ImportRun,
    ImportStatus, ImportTotals, IssueStatus, RowIssue,
};
pub use customer::{
    ActivityFilter, Address, Customer, CustomerCode, CustomerId, CustomerPage, CustomerPatch,
    CustomerQuery, CustomerSort, CustomerType, NewCustomer, SortDirection,
};
pub use error::{ConflictReason, Error, ErrorCode, ErrorKind, FieldError, FieldErrors, Result};
pub use facade::{
    Analytics, Comms, Crm, CrmConfig, Customers, Events, Loyalty, MAX_IMPORT_BATCH, Users,
};
pub use json::FromJson;
