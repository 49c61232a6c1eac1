//! Customers: the record, its code, its validation and its listing.
//!
//! - [`model`]: the [`Customer`] record and the types it is made of.
//! - [`code`]: customer codes (`RT00000042`).
//! - [`input`]: what callers send: [`NewCustomer`] and [`CustomerPatch`].
//! - [`validate`]: every rule, reported all at once, and normalisation
//!   (lower-cased email, E.164 phone).
//! - [`query`]: listing, filters, search, sorting, page and keyset cursors.
//! - [`import`]: row-by-row imports of customer lists, with duplicates
//!   decided by a policy, dry runs and resumable runs.
//! - [`handle`]: the [`Customers`](crate::Customers) handle and its requests.

pub mod code;
pub mod handle;
pub mod import;
pub mod input;
pub mod model;
pub mod query;
pub mod validate;

pub use code::CustomerCode;
pub use input::{CustomerPatch, NewCustomer};
pub use model::{Address, Customer, CustomerId, CustomerType};
pub use query::{
    ActivityFilter, CustomerFilter, CustomerPage, CustomerQuery, CustomerSort, SearchTerm,
    SortDirection,
};
pub use validate::CustomerFields;
