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
    ///
    /// A number written with a zero fraction (`5.0`) is the integer it
    /// equals, as JSON Schema reads it, up to 2^53 (beyond, a float is not
    /// exact and stays a float).
    pub fn take<T: DeserializeOwned>(&mut self, field: &str, expected: &str) -> Option<T> {
        let value = integral(self.map.remove(field)?);
        match serde_json::from_value::<T>(value) {
            Ok(v) => Some(v),
            Err(e) => {
                self.errors
                    .push(field, "type", format!("{field} must be {expected} ({e})"));
                None
            }
        }
    }

    /// Takes a field that must be a JSON object, as [`take`](Self::take)
    /// does (serde reads a struct from a JSON array too; requests may not).
    pub fn take_object<T: DeserializeOwned>(&mut self, field: &str, expected: &str) -> Option<T> {
        match self.map.get(field)? {
            Value::Object(_) => self.take(field, expected),
            other => {
                let got = json_type(other);
                self.map.remove(field);
                self.errors.push(
                    field,
                    "type",
                    format!("{field} must be {expected}, not {got}"),
                );
                None
            }
        }
    }

    /// Takes a nullable field that must be a JSON object when it is not
    /// `null` (see [`nullable`](Self::nullable), [`take_object`](Self::take_object)).
    pub fn nullable_object<T: DeserializeOwned>(
        &mut self,
        field: &str,
        expected: &str,
    ) -> Option<Option<T>> {
        match self.map.get(field)? {
            Value::Null => {
                self.map.remove(field);
                Some(None)
            }
            _ => self.take_object(field, expected).map(Some),
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

    /// Whether the field is present and not `null` (not taken yet).
    pub fn has(&self, field: &str) -> bool {
        self.map.get(field).is_some_and(|v| !v.is_null())
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

/// `5.0` as `5`: a float with a zero fraction whose magnitude is at most
/// 2^53 (where every integer is exact) becomes an integer; anything else
/// is returned as it is.
fn integral(value: Value) -> Value {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    match &value {
        Value::Number(n) if !n.is_i64() && !n.is_u64() => match n.as_f64() {
            // In range and integral, so the cast is exact.
            Some(f) if f.fract() == 0.0 && f.abs() <= EXACT => Value::from(f as i64),
            _ => value,
        },
        _ => value,
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::FromJson;
    use crate::customer::CustomerId;
    use crate::loyalty::{NewPurchase, PointsOperation, PointsRequest, ReceiptRef, RefundRequest};
    use crate::users::{Credentials, NewUser};
    use crate::{CustomerQuery, CustomerType, MergeCustomers, NewCustomer, UpdateCustomer};

    /// `(field, rule)` of every failing field of a read.
    fn failures<T: FromJson + std::fmt::Debug>(value: serde_json::Value) -> Vec<(String, String)> {
        let err = T::from_json(value).expect_err("invalid input");
        err.field_errors()
            .iter()
            .map(|f| (f.field.clone(), f.rule.clone()))
            .collect()
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn every_request_reports_every_failing_field() {
        assert_eq!(
            failures::<NewPurchase>(json!({"store_id": 5, "total_amount": "lots", "tip": 1})),
            pairs(&[
                ("customer_id", "required"),
                ("store_id", "type"),
                ("receipt_id", "required"),
                ("total_amount", "type"),
                ("purchase_date", "required"),
                ("tip", "unknown_field"),
            ])
        );
        assert_eq!(
            failures::<PointsRequest>(json!({"customer_id": "x", "points": 1.5})),
            pairs(&[
                ("customer_id", "type"),
                ("points", "type"),
                ("reference_type", "required"),
                ("reference_id", "required"),
            ])
        );
        assert_eq!(
            failures::<RefundRequest>(json!({"store_id": "S", "amount": -1, "x": 0})),
            pairs(&[
                ("receipt_id", "required"),
                ("refund_id", "required"),
                ("x", "unknown_field"),
            ])
        );
        assert_eq!(
            failures::<MergeCustomers>(json!({"into": 1})),
            pairs(&[("from", "required"), ("merged_by", "required")])
        );
        assert_eq!(
            failures::<UpdateCustomer>(json!({"patch": {"is_active": false, "name": 3}})),
            pairs(&[
                ("id", "required"),
                ("patch.name", "type"),
                ("patch.is_active", "not_updatable"),
            ])
        );
        assert_eq!(
            failures::<CustomerQuery>(json!({"limit": -1, "sort": "age", "colour": "red"})),
            pairs(&[
                ("limit", "type"),
                ("sort", "type"),
                ("colour", "unknown_field"),
            ])
        );
        assert_eq!(
            failures::<Credentials>(json!({"email": "a@b.c"})),
            pairs(&[("password", "required")])
        );
        assert_eq!(
            failures::<NewUser>(json!({"role": "boss"})),
            pairs(&[
                ("email", "required"),
                ("password", "required"),
                ("role", "type"),
            ])
        );
        assert_eq!(
            failures::<NewCustomer>(json!({"name": []})),
            pairs(&[("name", "type")])
        );
    }

    #[test]
    fn integers_may_be_written_with_a_zero_fraction() {
        let p = PointsRequest::from_json(
            json!({"customer_id": 7.0, "points": -1.0, "reference_type": "a", "reference_id": "b"}),
        )
        .expect("integral floats are integers");
        assert_eq!((p.customer_id, p.points), (CustomerId(7), -1));
        assert_eq!(
            failures::<PointsRequest>(
                json!({"customer_id": 7, "points": 1.5, "reference_type": "a", "reference_id": "b"})
            ),
            pairs(&[("points", "type")])
        );
        assert_eq!(
            failures::<PointsRequest>(
                json!({"customer_id": 7, "points": 1e300, "reference_type": "a", "reference_id": "b"})
            ),
            pairs(&[("points", "type")])
        );
    }

    #[test]
    fn serde_reads_through_the_same_rule() {
        let p: NewPurchase = serde_json::from_value(json!({
            "customer_id": 7, "store_id": "S1", "receipt_id": "R1",
            "purchase_date": "2026-11-01T10:00:00Z", "total_amount": "150000.00"
        }))
        .expect("a purchase");
        assert_eq!((p.customer_id, p.currency), (CustomerId(7), None));
        let err =
            serde_json::from_value::<PointsRequest>(json!({"points": 1})).expect_err("incomplete");
        let text = err.to_string();
        for field in ["customer_id", "reference_type", "reference_id"] {
            assert!(text.contains(field), "{text}");
        }
        let q: CustomerQuery =
            serde_json::from_value(json!({"customer_type": "RETAIL", "limit": 5}))
                .expect("a query");
        assert_eq!(
            (q.customer_type, q.limit),
            (Some(CustomerType::Retail), Some(5))
        );
    }

    #[test]
    fn bodies_with_the_path_fields_elsewhere() {
        let p = NewPurchase::from_json_for(
            CustomerId(3),
            json!({"store_id": "S", "receipt_id": "R", "total_amount": 10,
                   "purchase_date": "2026-11-01T10:00:00Z", "currency": "IDR"}),
        )
        .expect("purchase");
        assert_eq!(
            (p.customer_id, p.currency.as_deref()),
            (CustomerId(3), Some("IDR"))
        );
        // The path names the customer: the body cannot.
        let err = PointsRequest::from_json_for(
            CustomerId(3),
            json!({"customer_id": 4, "points": 1, "reference_type": "a", "reference_id": "b"}),
        )
        .expect_err("customer_id comes from the path");
        assert_eq!(err.field_errors()[0].rule, "unknown_field");
        let r = RefundRequest::from_json_for(
            ReceiptRef {
                store_id: "S".into(),
                receipt_id: "R".into(),
            },
            json!({"refund_id": "F", "amount": "5.50"}),
        )
        .expect("refund");
        assert_eq!(r.amount.to_string(), "5.50");
        let m =
            MergeCustomers::from_json_for(CustomerId(1), "me".into(), json!({"duplicate_id": 2}))
                .expect("merge");
        assert_eq!((m.from, m.merged_by.as_str()), (CustomerId(2), "me"));
        assert_eq!(
            "redeem".parse::<PointsOperation>().ok(),
            Some(PointsOperation::Redeem)
        );
        assert_eq!(
            "mint"
                .parse::<PointsOperation>()
                .map_err(|e| e.code())
                .err(),
            Some(crate::ErrorCode::NotFound)
        );
    }
}
