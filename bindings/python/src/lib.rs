//! The native module of the Python package `crm_sdk` (`crm_sdk._native`):
//! the `Crm` handles with Python types, exceptions and awaitables.
//!
//! A thin layer: it translates arguments into the core's request types
//! (through the core's own readers, so validation is the core's), calls
//! one method of a handle, and translates the result and the error. It
//! holds no business rule. The Python side (`python/crm_sdk`) adds the
//! exception classes and the type stubs.

use pyo3::prelude::*;

mod columnar;
mod convert;
mod crm;
mod csv_io;
mod error;
mod frames;
mod handles;
mod records;
mod runtime;

/// The native module; import `crm_sdk` instead.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<crm::Crm>()?;
    m.add_class::<crm::AsyncCrm>()?;
    handles::register(m)?;
    records::register(m)?;
    columnar::register(m)?;
    Ok(())
}
