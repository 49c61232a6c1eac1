//! CSV in and out of the CRM SDK.
//!
//! `crm-core` does no I/O; this crate reads and writes the files users hold:
//! customer lists from an old POS or a spreadsheet, purchase histories, and
//! exports of customers and analytics scores. The CLI (`crm-admin`,
//! `crm-analytics`), the example server and the Python and Node bindings
//! all go through it, so a file is read the same way everywhere.

pub mod customers;
pub mod export;
pub mod import;
pub mod purchases;
mod table;
pub mod transactions;
pub mod write;
