//! `crm_core::Error` to the exceptions of `crm_sdk.exceptions`, picked by
//! the error's code (the contract HTTP bodies carry too), with the details
//! each class exposes: `fields` on validation, `existing_customer_code` on
//! duplicates, `requested` and `available` on insufficient points, `reason`
//! on conflicts.

use crm_core::{Error, ErrorCode};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

/// The exception class of a code; any code without its own class (and any
/// new one) falls back to `CrmError`.
fn class_of(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::Validation => "ValidationError",
        ErrorCode::NotFound => "NotFoundError",
        ErrorCode::DuplicateCustomer => "DuplicateCustomerError",
        ErrorCode::InsufficientPoints => "InsufficientPointsError",
        ErrorCode::IdempotencyConflict => "IdempotencyConflictError",
        ErrorCode::Conflict => "ConflictError",
        ErrorCode::Unauthorized => "UnauthorizedError",
        ErrorCode::Unavailable => "UnavailableError",
        _ => "CrmError",
    }
}

/// The Python exception of a core error.
pub(crate) fn to_py_err(err: Error) -> PyErr {
    Python::attach(|py| build(py, &err).unwrap_or_else(|e| e))
}

fn build(py: Python<'_>, err: &Error) -> PyResult<PyErr> {
    let exceptions = py.import("crm_sdk.exceptions")?;
    let code = err.code();
    let kwargs = PyDict::new(py);
    kwargs.set_item("code", code.as_str())?;
    if let Some(reason) = err.conflict_reason() {
        kwargs.set_item("reason", reason.as_str())?;
    }
    match err {
        Error::Validation(fields) => {
            let field_error = exceptions.getattr("FieldError")?;
            let items = fields
                .iter()
                .map(|f| field_error.call1((&f.field, &f.rule, &f.message)))
                .collect::<PyResult<Vec<_>>>()?;
            kwargs.set_item("fields", items)?;
        }
        Error::DuplicateCustomer {
            field,
            existing_code,
            ..
        } => {
            kwargs.set_item("field", *field)?;
            kwargs.set_item("existing_customer_code", existing_code.as_str())?;
        }
        Error::InsufficientPoints {
            requested,
            available,
        } => {
            kwargs.set_item("requested", *requested)?;
            kwargs.set_item("available", *available)?;
        }
        _ => {}
    }
    let args = PyTuple::new(py, [err.to_string()])?;
    let value = exceptions
        .getattr(class_of(code))?
        .call(args, Some(&kwargs))?;
    Ok(PyErr::from_value(value))
}

/// `Result<T, crm_core::Error>` to `PyResult<T>`.
pub(crate) trait IntoPyResult<T> {
    /// Maps the error to its Python exception.
    fn py(self) -> PyResult<T>;
}

impl<T> IntoPyResult<T> for Result<T, Error> {
    fn py(self) -> PyResult<T> {
        self.map_err(to_py_err)
    }
}
