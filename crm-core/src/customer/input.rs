//! What callers send: a [`NewCustomer`] to create, a [`CustomerPatch`] to change.
//!
//! Both can be read from JSON maps (the server, the bindings) with every
//! problem reported at once: a field of the wrong type, an unknown field, or a
//! field that cannot be updated each becomes one [`FieldError`], instead of
//! serde's stop-at-the-first message.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::Value;

use super::model::{Address, CustomerType};
use crate::json::JsonFields;
use crate::{FieldError, Result};

/// The input to create a customer.
///
/// Only `name` is required. The store assigns `id` and `customer_code`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewCustomer {
    /// Display name: required, at most 150 characters.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::CustomerName))]
    pub name: String,
    /// Email address: at most 100 characters, valid syntax; stored lower-cased.
    /// Blank or `null`: none.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::openapi::EmailOrBlank>))]
    pub email: Option<String>,
    /// Phone number: at most 20 characters; stored in E.164, numbers without a
    /// country code are read in the configured default region (Indonesia).
    /// It must be a number that exists in its region's numbering plan (a
    /// rule no schema can state). Blank or `null`: none.
    #[cfg_attr(feature = "openapi", schema(max_length = 20))]
    pub phone: Option<String>,
    /// Kind of customer (default `RETAIL`).
    #[cfg_attr(feature = "openapi", schema(required = false))]
    pub customer_type: CustomerType,
    /// Credit limit, an exact decimal >= 0 with at most 2 decimal places (default 0).
    #[cfg_attr(
        feature = "openapi",
        schema(required = false, value_type = crate::openapi::Money)
    )]
    pub credit_limit: Decimal,
    /// Postal address (`null`: none).
    #[cfg_attr(feature = "openapi", schema(required = false, nullable))]
    pub address: Address,
    /// Date of birth: from 1900-01-01 to today (rules no schema can state).
    pub birthday: Option<NaiveDate>,
    /// Labels: at most 20, each at most 50 characters; stored trimmed,
    /// lower-cased, without duplicates or blanks (`null`: none).
    #[cfg_attr(
        feature = "openapi",
        schema(required = false, nullable, max_items = 20, value_type = Vec<crate::openapi::Tag>)
    )]
    pub tags: Vec<String>,
}

/// A partial update: only the fields present are changed.
///
/// `Some(None)` on an optional field clears it (JSON `null`).
/// Fields that cannot be updated (`id`, `customer_code`, `customer_type`,
/// `is_active`, `created_at` ...) are rejected when read from JSON, never
/// silently dropped.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CustomerPatch {
    /// New name (not `null`).
    #[cfg_attr(
        feature = "openapi",
        schema(nullable = false, value_type = Option<crate::openapi::CustomerName>)
    )]
    pub name: Option<String>,
    /// New email, or `Some(None)` to clear it (JSON `null` or blank).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::openapi::EmailOrBlank>))]
    pub email: Option<Option<String>>,
    /// New phone, or `Some(None)` to clear it (JSON `null` or blank). The
    /// rules of [`NewCustomer::phone`] apply.
    #[cfg_attr(feature = "openapi", schema(max_length = 20))]
    pub phone: Option<Option<String>>,
    /// New credit limit (not `null`).
    #[cfg_attr(
        feature = "openapi",
        schema(nullable = false, value_type = Option<crate::openapi::Money>)
    )]
    pub credit_limit: Option<Decimal>,
    /// New address (replaces the whole address; not `null`).
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub address: Option<Address>,
    /// New birthday, or `Some(None)` to clear it (from 1900-01-01 to today).
    pub birthday: Option<Option<NaiveDate>>,
    /// New tags (replace the whole set; not `null`; at most 20).
    #[cfg_attr(
        feature = "openapi",
        schema(nullable = false, max_items = 20, value_type = Option<Vec<crate::openapi::Tag>>)
    )]
    pub tags: Option<Vec<String>>,
}

impl CustomerPatch {
    /// `true` when the patch changes nothing.
    pub fn is_empty(&self) -> bool {
        self == &CustomerPatch::default()
    }
}

/// Fields that exist on a customer but are not changed through an update, and why.
const NOT_UPDATABLE: &[(&str, &str)] = &[
    ("id", "the id is assigned by the store"),
    (
        "customer_code",
        "the customer code is assigned once and never changes",
    ),
    (
        "customer_type",
        "the customer type decides the customer code; create a customer of the new type and merge",
    ),
    ("is_active", "use deactivate or reactivate"),
    ("version", "the version is maintained by the store"),
    ("created_at", "set by the store"),
    ("updated_at", "set by the store"),
];

/// Ends a customer read: fields that exist on a customer but cannot be
/// changed are `not_updatable` (for patches), other leftovers `unknown_field`.
fn finish(mut r: JsonFields, reject_not_updatable: bool) -> Result<()> {
    for (key, _) in r.take_rest() {
        match NOT_UPDATABLE.iter().find(|(f, _)| *f == key) {
            Some((_, why)) if reject_not_updatable => r.push(FieldError::new(
                key.clone(),
                "not_updatable",
                format!("{key} cannot be updated: {why}"),
            )),
            _ => r.push(FieldError::new(
                key.clone(),
                "unknown_field",
                format!("{key} is not a customer field"),
            )),
        }
    }
    r.finish("customer")
}

const DECIMAL: &str = "a decimal number (preferably as a string, e.g. \"1500000.00\")";
const DATE: &str = "a date YYYY-MM-DD";
const TYPE: &str = "one of RETAIL, WHOLESALE, DISTRIBUTOR, CORPORATE";

impl NewCustomer {
    /// Reads a new customer from a JSON object, reporting every type error and
    /// unknown field at once.
    pub fn from_json(value: Value) -> Result<Self> {
        let mut r = JsonFields::new(value)?;
        let out = NewCustomer {
            name: r.nullable("name", "a string").flatten().unwrap_or_default(),
            email: r.nullable("email", "a string").flatten(),
            phone: r.nullable("phone", "a string").flatten(),
            customer_type: r.take("customer_type", TYPE).unwrap_or_default(),
            credit_limit: r.take("credit_limit", DECIMAL).unwrap_or_default(),
            address: r
                .nullable_object("address", "an address object")
                .flatten()
                .unwrap_or_default(),
            birthday: r.nullable("birthday", DATE).flatten(),
            tags: r
                .nullable("tags", "a list of strings")
                .flatten()
                .unwrap_or_default(),
        };
        finish(r, false)?;
        Ok(out)
    }
}

impl CustomerPatch {
    /// Reads a patch from a JSON object, reporting every type error, unknown
    /// field and not-updatable field at once.
    pub fn from_json(value: Value) -> Result<Self> {
        let mut r = JsonFields::new(value)?;
        let out = CustomerPatch {
            name: r.take("name", "a string"),
            email: r.nullable("email", "a string or null"),
            phone: r.nullable("phone", "a string or null"),
            credit_limit: r.take("credit_limit", DECIMAL),
            address: r.take_object("address", "an address object"),
            birthday: r.nullable("birthday", DATE),
            tags: r.take("tags", "a list of strings"),
        };
        finish(r, true)?;
        Ok(out)
    }
}

crate::json::json_input!(NewCustomer, CustomerPatch);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn new_customer_reads_all_fields() {
        let c = NewCustomer::from_json(json!({
            "name": "Test Customer",
            "email": "test@example.com",
            "customer_type": "WHOLESALE",
            "credit_limit": "1500000.50",
            "birthday": "1990-05-01",
            "tags": ["vip"],
            "address": {"city": "Bandung", "country": "ID"}
        }))
        .expect("valid");
        assert_eq!(c.customer_type, CustomerType::Wholesale);
        assert_eq!(c.credit_limit.to_string(), "1500000.50");
        assert_eq!(c.address.city.as_deref(), Some("Bandung"));
    }

    #[test]
    fn new_customer_reports_every_type_error_and_unknown_field() {
        let err = NewCustomer::from_json(json!({
            "name": 5,
            "credit_limit": "lots",
            "customer_type": "VIP",
            "nickname": "x"
        }))
        .expect_err("invalid");
        let fields: Vec<_> = err
            .field_errors()
            .iter()
            .map(|f| f.field.as_str())
            .collect();
        assert_eq!(
            fields,
            ["name", "customer_type", "credit_limit", "nickname"]
        );
        assert_eq!(err.field_errors()[3].rule, "unknown_field");
    }

    #[test]
    fn patch_rejects_fields_that_cannot_be_updated() {
        let err = CustomerPatch::from_json(json!({
            "name": "New",
            "customer_code": "RT00000001",
            "is_active": false,
            "colour": "red"
        }))
        .expect_err("rejected");
        let rules: Vec<_> = err
            .field_errors()
            .iter()
            .map(|f| (f.field.as_str(), f.rule.as_str()))
            .collect();
        assert_eq!(
            rules,
            [
                ("colour", "unknown_field"),
                ("customer_code", "not_updatable"),
                ("is_active", "not_updatable")
            ]
        );
    }

    #[test]
    fn an_address_is_an_object() {
        for address in [json!([null, null]), json!("Jl. Merdeka 1"), json!(5)] {
            let err = NewCustomer::from_json(json!({"name": "A", "address": address.clone()}))
                .expect_err("not an object");
            assert_eq!(err.field_errors()[0].rule, "type", "{address}");
            let err = CustomerPatch::from_json(json!({"address": address.clone()}))
                .expect_err("not an object");
            assert_eq!(err.field_errors()[0].rule, "type", "{address}");
        }
        let c = NewCustomer::from_json(json!({"name": "A", "address": null})).expect("null");
        assert_eq!(c.address, Address::default());
    }

    #[test]
    fn patch_null_clears_and_absent_keeps() {
        let p = CustomerPatch::from_json(json!({"email": null, "name": "A"})).expect("valid");
        assert_eq!(p.email, Some(None));
        assert_eq!(p.phone, None);
        assert_eq!(p.name.as_deref(), Some("A"));
        let p: CustomerPatch = serde_json::from_str("{}").expect("valid");
        assert!(p.is_empty());
    }

    #[test]
    fn serde_path_gives_the_same_message() {
        let err = serde_json::from_str::<CustomerPatch>(r#"{"id": 3}"#).expect_err("rejected");
        assert!(err.to_string().contains("id cannot be updated"), "{err}");
    }
}
