//! Reading inputs from JSON objects with every problem reported at once.
//!
//! serde stops at the first bad field; callers of a CRM (a till, a form, a
//! notebook) want the whole list. [`JsonFields`] takes fields one by one out
//! of a JSON object, records each missing, mistyped or unknown field as a
//! [`FieldError`], and fails once at the end with all of them. The server and
//! the bindings read every request body through it.
//!
//! **One rule for inputs**: every request type of the SDK (`NewCustomer`,
//! `CustomerPatch`, `UpdateCustomer`, `MergeCustomers`, `CustomerQuery`,
//! `NewPurchase`, `RefundRequest`, `PointsRequest`, `NewUser`,
//! `Credentials`) implements [`FromJson`], which reports every failing
//! field, and serde's `Deserialize` for Rust callers, which goes through
//! the same reader (so both give the same answer; serde's message lists the
//! same fields).

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::FieldErrors;
use crate::{Error, FieldError, Result};

/// A request type read from a JSON object with every problem reported at
/// once (missing, mistyped and unknown fields, as [`FieldError`]s).
pub trait FromJson: Sized {
    /// Reads `value`; fails with one [`Error::Validation`] listing every
    /// failing field.
    fn from_json(value: Value) -> Result<Self>;
}

/// Implements [`FromJson`] (from the type's inherent `from_json`) and
/// serde's `Deserialize` through it, so every input has one rule.
macro_rules! json_input {
    ($($t:ty),+ $(,)?) => {$(
        impl $crate::json::FromJson for $t {
            fn from_json(value: serde_json::Value) -> $crate::Result<Self> {
                <$t>::from_json(value)
            }
        }

        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                <$t>::from_json(<serde_json::Value as serde::Deserialize>::deserialize(d)?)
                    .map_err(serde::de::Error::custom)
            }
        }
    )+};
}
pub(crate) use json_input;

/// Reads typed fields out of a JSON object and collects every problem.
///
/// ```
/// use crm_core::json::JsonFields;
/// let mut r = JsonFields::new(serde_json::json!({"points": "ten", "extra": 1})).unwrap();
/// let points: i64 = r.required("points", "an integer");
/// let reference: String = r.required("reference_id", "a string");
/// let err = r.finish("points request").unwrap_err();
/// let fields: Vec<_> = err.field_errors().iter().map(|f| (f.field.as_str(), f.rule.as_str())).collect();
/// assert_eq!(fields, [("points", "type"), ("reference_id", "required"), ("extra", "unknown_field")]);
/// # let _ = (points, reference);
/// ```
#[derive(Debug)]
pub struct JsonFields {
    map: Map<String, Value>,
    errors: FieldErrors,
}

impl JsonFields {
    /// Starts reading `value`, which must be a JSON object.
    pub fn new(value: Value) -> Result<Self> {
        match value {
            Value::Object(map) => Ok(Self {
                map,
                errors: FieldErrors::new(),
            }),
            other => Err(Error::invalid(
                "body",
                "type",
                format!("expected a JSON object, got {}", json_type(&other)),
            )),
        }
    }

    /// Takes a field as it is: absent -> `None`, present -> parsed (so `null`
    /// is an error unless `T` accepts it).
    pub fn take<T: DeserializeOwned>(&mut self, field: &str, expected: &str) -> Option<T> {
        let value = self.map.remove(field)?;
        match serde_json::from_value::<T>(value) {
            Ok(v) => Some(v),
            Err(e) => {
                self.errors
                    .push(field, "type", format!("{field} must be {expected} ({e})"));
                None
            }
        }
    }

    /// Takes an optional field: absent or `null` -> `None`.
    pub fn optional<T: DeserializeOwned>(&mut self, field: &str, expected: &str) -> Option<T> {
        self.nullable(field, expected).flatten()
    }

    /// Takes a nullable field: absent -> `None`, `null` -> `Some(None)`
    /// (for updates, where `null` clears a value).
    pub fn nullable<T: DeserializeOwned>(
        &mut self,
        field: &str,
        expected: &str,
    ) -> Option<Option<T>> {
        match self.map.get(field)? {
            Value::Null => {
                self.map.remove(field);
                Some(None)
            }
            _ => self.take(field, expected).map(Some),
        }
    }

    /// Takes a required field. When it is missing, `null` or mistyped, the
    /// problem is recorded and `T::default()` stands in until
    /// [`finish`](Self::finish) fails, so the placeholder is never used.
    pub fn required<T: DeserializeOwned + Default>(&mut self, field: &str, expected: &str) -> T {
        self.require(field, expected).unwrap_or_default()
    }

    /// Takes a required field without a default: `None` (and a recorded
    /// problem) when it is missing, `null` or mistyped.
    pub fn require<T: DeserializeOwned>(&mut self, field: &str, expected: &str) -> Option<T> {
        let present = self.map.get(field).is_some_and(|v| !v.is_null());
        let v = self.optional(field, expected);
        if v.is_none() && !present {
            self.errors.push(
                field,
                "required",
                format!("{field} is required ({expected})"),
            );
        }
        v
    }

    /// Records a problem found by the caller (e.g. a cross-field rule).
    pub fn push(&mut self, error: FieldError) {
        self.errors.add(error);
    }

    /// Removes and returns the fields nobody took yet, sorted by name.
    pub fn take_rest(&mut self) -> Vec<(String, Value)> {
        let mut rest: Vec<_> = std::mem::take(&mut self.map).into_iter().collect();
        rest.sort_by(|a, b| a.0.cmp(&b.0));
        rest
    }

    /// Ends reading: every field not taken is an `unknown_field` error ("x is
    /// not a `what` field"); fails with all problems, or succeeds.
    pub fn finish(self, what: &str) -> Result<()> {
        self.finish_into(what).finish()
    }

    /// Ends reading like [`finish`](Self::finish) but hands back the problems
    /// found so far, for a caller that checks more (nested objects) before
    /// failing once.
    pub fn finish_into(mut self, what: &str) -> FieldErrors {
        for (key, _) in self.take_rest() {
            self.errors.push(
                key.clone(),
                "unknown_field",
                format!("{key} is not a {what} field"),
            );
        }
        self.errors
    }
}

/// "a string", "a number", ... for messages.
pub(crate) fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
