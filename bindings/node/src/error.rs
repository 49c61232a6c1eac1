//! `crm_core::Error` as a JavaScript `Error` that carries the SDK's error
//! code and details, the same strings HTTP bodies and Python exceptions
//! carry:
//!
//! - `code`: `validation`, `not_found`, `duplicate_customer`,
//!   `insufficient_points`, `idempotency_conflict`, `conflict`,
//!   `unauthorized`, `unavailable`, `internal`, ...;
//! - `fields`: `[{ field, rule, message }]`, every failing field, on
//!   validation errors (field paths in the caller's camelCase);
//! - `requested` and `available` on insufficient points;
//! - `field` and `existingCustomerCode` on duplicate customers;
//! - `reason` on conflicts (`concurrent_change`, `last_admin`, ...).

use crm_core::Error;
use napi::bindgen_prelude::JsObjectValue;
use napi::{Env, JsValue, Status};

use crate::convert::camel_case;
use crate::types::FieldError;

/// The JavaScript error for `err`, to reject a promise with.
pub fn to_js(env: &Env, err: &Error) -> napi::Error {
    build(env, err).unwrap_or_else(|e| e)
}

fn build(env: &Env, err: &Error) -> napi::Result<napi::Error> {
    let mut obj = env.create_error(napi::Error::new(Status::GenericFailure, err.to_string()))?;
    obj.set_named_property("code", err.code().as_str())?;
    if let Some(reason) = err.conflict_reason() {
        obj.set_named_property("reason", reason.as_str())?;
    }
    match err {
        Error::Validation(fields) => {
            let list: Vec<FieldError> = fields
                .iter()
                .map(|f| FieldError {
                    field: camel_case(&f.field),
                    rule: f.rule.clone(),
                    message: f.message.clone(),
                })
                .collect();
            obj.set_named_property("fields", list)?;
        }
        Error::DuplicateCustomer {
            field,
            existing_code,
            ..
        } => {
            obj.set_named_property("field", camel_case(field))?;
            obj.set_named_property("existingCustomerCode", existing_code.as_str())?;
        }
        Error::InsufficientPoints {
            requested,
            available,
        } => {
            obj.set_named_property("requested", *requested as f64)?;
            obj.set_named_property("available", *available as f64)?;
        }
        _ => {}
    }
    Ok(napi::Error::from(obj.to_unknown()))
}

/// A failure inside an async iterator, where napi builds the error itself:
/// the code leads the message (`unavailable: ...`).
pub fn plain(err: &Error) -> napi::Error {
    napi::Error::new(
        Status::GenericFailure,
        format!("{}: {err}", err.code().as_str()),
    )
}
