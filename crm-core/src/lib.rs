//! # crm-core
//!
//! The domain of the CRM SDK for retail distribution and point-of-sale software:
//! customers (codes, validation, duplicates, soft delete, listing), the storage
//! traits every backend implements, an in-memory backend, and the [`Crm`] facade
//! that applications, the example server and the Python/Node bindings all use.
//!
//! This crate does no I/O of its own: no SQL, no HTTP, no files. Databases live
//! behind the traits in [`store`]; `crm-sqlx` implements them for MySQL/MariaDB
//! and SQLite.
//!
//! ```
//! use crm_core::{Crm, NewCustomer, CustomerType, CustomerQuery};
//! use crm_core::memory::MemoryStore;
//!
//! # tokio_test_block_on(async {
//! let crm = Crm::new(MemoryStore::new());
//! let created = crm
//!     .create_customer(NewCustomer {
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
//! let page = crm.list_customers(CustomerQuery::default()).await?;
//! assert_eq!(page.total, 1);
//! # Ok::<(), crm_core::Error>(())
//! # });
//! # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
//! # }
//! ```

pub mod analytics;
pub mod clock;
pub mod customer;
pub mod error;
pub mod facade;
pub mod json;
pub mod loyalty;
pub mod memory;
pub mod store;
pub mod users;

pub use clock::{Clock, ManualClock, SystemClock};
pub use customer::{
    ActivityFilter, Address, Customer, CustomerCode, CustomerId, CustomerPage, CustomerPatch,
    CustomerQuery, CustomerSort, CustomerType, NewCustomer, SortDirection,
};
pub use error::{Error, ErrorKind, FieldError, Result};
pub use facade::{Crm, CrmConfig, MAX_IMPORT_BATCH};
