//! Values across the boundary.
//!
//! Requests arrive as plain JavaScript objects with camelCase keys; they are
//! turned into the core's snake_case JSON and read by the core's own readers
//! ([`crm_core::FromJson`]), so Node reports exactly the failing fields Rust,
//! Python and HTTP report, named the way the caller wrote them. Results go
//! the other way through serde into the `#[napi(object)]` types of
//! [`crate::types`], whose field names napi turns into camelCase.
//!
//! Ids and other integers cross as JavaScript numbers, which are exact only
//! up to 2^53 - 1: anything larger is refused with a validation error rather
//! than rounded.

use crm_core::error::FieldErrors;
use crm_core::json::JsonFields;
use crm_core::{Error, FromJson, Result};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Number, Value};

/// The largest integer a JavaScript number holds exactly (2^53 - 1).
pub const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

/// `customerId` to `customer_id` (one path segment).
pub fn snake_case(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 4);
    for c in key.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// `customer_id` to `customerId`; `[3].postal_code` to `[3].postalCode`.
pub fn camel_case(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut upper = false;
    for c in path.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// A JavaScript value (as napi reads it) as the core's JSON: keys in
/// snake_case, integral numbers as integers; an integer beyond 2^53 - 1 is
/// a failing field (`path`, rule `safe_integer`).
pub fn js_to_core(value: Value) -> Result<Value> {
    let mut errors = FieldErrors::new();
    let value = walk(value, "", &mut errors);
    errors.finish()?;
    Ok(value)
}

fn walk(value: Value, path: &str, errors: &mut FieldErrors) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let key = snake_case(&k);
                    let sub = if path.is_empty() {
                        k
                    } else {
                        format!("{path}.{k}")
                    };
                    (key, walk(v, &sub, errors))
                })
                .collect::<Map<_, _>>(),
        ),
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .enumerate()
                .map(|(i, v)| walk(v, &format!("{path}[{i}]"), errors))
                .collect(),
        ),
        Value::Number(n) => Value::Number(integral(n, path, errors)),
        other => other,
    }
}

/// napi hands integers beyond 32 bits over as floats: make the exact ones
/// integers again and refuse the ones a JavaScript number cannot hold.
fn integral(n: Number, path: &str, errors: &mut FieldErrors) -> Number {
    if let Some(i) = n.as_i64() {
        if i.abs() > MAX_SAFE_INTEGER {
            unsafe_integer(path, errors);
        }
        return n;
    }
    match n.as_f64() {
        Some(f) if f.trunc() == f && f.abs() <= MAX_SAFE_INTEGER as f64 => Number::from(f as i64),
        Some(f) if f.trunc() == f => {
            unsafe_integer(path, errors);
            n
        }
        _ => n,
    }
}

fn unsafe_integer(path: &str, errors: &mut FieldErrors) {
    let field = if path.is_empty() { "value" } else { path };
    errors.push(
        field,
        "safe_integer",
        "is beyond 2^53 - 1, the largest integer a JavaScript number holds exactly",
    );
}

/// A request read from a JavaScript object by the core's reader.
pub fn read<T: FromJson>(input: Value) -> Result<T> {
    T::from_json(js_to_core(input)?)
}

/// An id argument: a whole number from 1 to 2^53 - 1.
pub fn id(field: &str, value: f64) -> Result<i64> {
    if value.trunc() != value || value < 1.0 || value > MAX_SAFE_INTEGER as f64 {
        return Err(Error::invalid(
            field,
            "safe_integer",
            format!("must be a whole number from 1 to 2^53 - 1, got {value}"),
        ));
    }
    // Exact: a whole number within 2^53.
    Ok(value as i64)
}

/// A request with an id beside its fields (`{ id, ...changes }`): `key` is
/// taken out and the rest read by `read`; every failing field of both is
/// reported at once.
pub fn with_id<T>(
    input: Value,
    key: &str,
    read: impl FnOnce(i64, Value) -> Result<T>,
) -> Result<T> {
    let mut r = JsonFields::new(js_to_core(input)?)?;
    let id: Option<i64> = r.require(key, "a whole number from 1");
    let rest: Map<String, Value> = r.take_rest().into_iter().collect();
    let mut errors = r.finish_into("request");
    if id.is_some_and(|i| i < 1) {
        errors.push(key, "min", format!("{key} must be at least 1"));
    }
    let value = errors.check("", read(id.unwrap_or(1), Value::Object(rest)));
    errors.finish()?;
    value.ok_or_else(|| Error::storage_msg("a request failed without naming a field"))
}

/// An object of query parameters read by a reader of `key=value` pairs (as
/// the server reads a query string), so both report the same fields.
pub fn params(input: Value) -> Result<Vec<(String, String)>> {
    let Value::Object(map) = js_to_core(input)? else {
        return Err(Error::invalid("body", "type", "expected an object"));
    };
    let mut errors = FieldErrors::new();
    let mut out = Vec::with_capacity(map.len());
    for (key, value) in map {
        match value {
            Value::Null => {}
            Value::Number(n) => out.push((key, n.to_string())),
            Value::String(s) => out.push((key, s)),
            _ => errors.push(key.as_str(), "type", format!("{key} must be a number")),
        }
    }
    errors.finish_with(out)
}

/// A core result as its Node type (through serde; the Node types refuse
/// unknown fields, so a field added in the core fails the Node tests until
/// it is added here too). Integers beyond 2^53 - 1 are refused.
pub fn out<T: Serialize, N: DeserializeOwned>(value: T) -> Result<N> {
    let json = serde_json::to_value(value).map_err(encode_err)?;
    check_safe(&json)?;
    serde_json::from_value(json).map_err(encode_err)
}

/// Many results at once.
pub fn out_all<T: Serialize, N: DeserializeOwned>(values: Vec<T>) -> Result<Vec<N>> {
    values.into_iter().map(out).collect()
}

fn encode_err(e: serde_json::Error) -> Error {
    Error::storage_msg(format!("the Node package cannot represent a result: {e}"))
}

fn check_safe(value: &Value) -> Result<()> {
    match value {
        Value::Number(n) => match n.as_i64() {
            Some(i) if i.abs() > MAX_SAFE_INTEGER => Err(Error::storage_msg(format!(
                "the integer {i} is beyond what a JavaScript number holds exactly"
            ))),
            None if n.as_u64().is_some() => Err(Error::storage_msg(format!(
                "the integer {n} is beyond what a JavaScript number holds exactly"
            ))),
            _ => Ok(()),
        },
        Value::Array(items) => items.iter().try_for_each(check_safe),
        Value::Object(map) => map.values().try_for_each(check_safe),
        _ => Ok(()),
    }
}
