//! Values across the boundary.
//!
//! **In**: keyword arguments become a JSON object that the request type's
//! own reader (`crm_core::FromJson`) reads, so every rule, and the list of
//! every failing field, is the core's. `decimal.Decimal` travels as its
//! exact text, `datetime` and `date` as ISO 8601 text (a naive `datetime`
//! has no offset and is refused by the reader), never through a float.
//!
//! **Out**: [`ToPy`] turns core values into Python ones: `Decimal` into
//! `decimal.Decimal`, `DateTime<Utc>` into an aware `datetime` in UTC,
//! `NaiveDate` into `date`, enums into their wire names, records into the
//! classes of [`crate::records`] (or dicts, for `to_dict`).

use chrono::{DateTime, NaiveDate, Utc};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyMapping, PyString, PyTuple, PyType};
use rust_decimal::Decimal;
use serde_json::{Map, Number, Value};

/// `decimal.Decimal`, `datetime.datetime`, `datetime.date`, looked up once.
fn class<'py>(
    py: Python<'py>,
    cell: &'static PyOnceLock<Py<PyType>>,
    module: &str,
    name: &str,
) -> PyResult<&'py Bound<'py, PyType>> {
    cell.import(py, module, name)
}

static DECIMAL: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static DATETIME: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static DATE: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// A Python value as JSON; `path` names it in errors (`total_amount`,
/// `rows[3].tags[0]`).
pub(crate) fn to_json(value: &Bound<'_, PyAny>, path: &str) -> PyResult<Value> {
    let py = value.py();
    if value.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(b) = value.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if value.is_instance_of::<PyInt>() {
        if let Ok(i) = value.extract::<i64>() {
            return Ok(Value::from(i));
        }
        if let Ok(u) = value.extract::<u64>() {
            return Ok(Value::from(u));
        }
        return Err(PyValueError::new_err(format!(
            "{path}: {} does not fit in 64 bits",
            value.repr()?
        )));
    }
    if let Ok(f) = value.cast::<PyFloat>() {
        return Number::from_f64(f.value())
            .map(Value::Number)
            .ok_or_else(|| {
                PyValueError::new_err(format!("{path}: {} is not a number", f.value()))
            });
    }
    if let Ok(s) = value.cast::<PyString>() {
        return Ok(Value::String(s.to_cow()?.into_owned()));
    }
    if value.is_instance(class(py, &DECIMAL, "decimal", "Decimal")?)? {
        // Positional notation, exact: never through a float.
        let text: String = value.call_method1("__format__", ("f",))?.extract()?;
        return Ok(Value::String(text));
    }
    if value.is_instance(class(py, &DATETIME, "datetime", "datetime")?)?
        || value.is_instance(class(py, &DATE, "datetime", "date")?)?
    {
        return Ok(Value::String(value.call_method0("isoformat")?.extract()?));
    }
    if let Ok(list) = value.cast::<PyList>() {
        return items_to_json(list.iter(), path);
    }
    if let Ok(tuple) = value.cast::<PyTuple>() {
        return items_to_json(tuple.iter(), path);
    }
    if let Ok(mapping) = value.cast::<PyMapping>() {
        let mut out = Map::new();
        for item in mapping.items()?.iter() {
            let (key, v): (Bound<'_, PyAny>, Bound<'_, PyAny>) = item.extract()?;
            let key: String = key.extract().map_err(|_| {
                PyTypeError::new_err(format!("{path}: keys must be strings, not {key}"))
            })?;
            let inner = to_json(&v, &format!("{path}.{key}"))?;
            out.insert(key, inner);
        }
        return Ok(Value::Object(out));
    }
    Err(PyTypeError::new_err(format!(
        "{path}: cannot send a value of type {}",
        value.get_type().name()?
    )))
}

fn items_to_json<'py>(
    items: impl Iterator<Item = Bound<'py, PyAny>>,
    path: &str,
) -> PyResult<Value> {
    items
        .enumerate()
        .map(|(i, v)| to_json(&v, &format!("{path}[{i}]")))
        .collect::<PyResult<Vec<_>>>()
        .map(Value::Array)
}

/// Keyword arguments as a JSON object. A trailing underscore that Python
/// needs to spell a keyword (`from_`) is dropped: the field is `from`.
pub(crate) fn kwargs_to_json(kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<Value> {
    let mut out = Map::new();
    if let Some(kwargs) = kwargs {
        for (key, value) in kwargs.iter() {
            let key: String = key.extract()?;
            let field = match key.strip_suffix('_') {
                Some(stem) if is_keyword(stem) => stem.to_owned(),
                _ => key,
            };
            let v = to_json(&value, &field)?;
            out.insert(field, v);
        }
    }
    Ok(Value::Object(out))
}

/// Python keywords that are also field names of requests.
fn is_keyword(name: &str) -> bool {
    matches!(name, "from" | "import" | "class" | "global" | "in" | "is")
}

/// A Python mapping (a row of an import) as a JSON object.
pub(crate) fn row_to_json(row: &Bound<'_, PyAny>, path: &str) -> PyResult<Value> {
    if row.cast::<PyMapping>().is_err() {
        return Err(PyTypeError::new_err(format!(
            "{path}: a row must be a dict of fields, not {}",
            row.get_type().name()?
        )));
    }
    to_json(row, path)
}

/// A core value as a Python value.
pub(crate) trait ToPy {
    /// As a Python object: records as their classes.
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>>;

    /// As plain Python data: records as dicts (for `to_dict`).
    fn to_plain<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.to_py(py)
    }
}

/// Values that pyo3 converts as they are.
macro_rules! to_py_as_is {
    ($($t:ty),*) => {$(
        impl ToPy for $t {
            fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
                Ok(self.clone().into_pyobject(py)?.into_any())
            }
        }
    )*};
}
to_py_as_is!(
    i64,
    u64,
    u32,
    u8,
    usize,
    f64,
    String,
    Decimal,
    DateTime<Utc>,
    NaiveDate
);

impl ToPy for bool {
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(PyBool::new(py, *self).to_owned().into_any())
    }
}

impl ToPy for str {
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(PyString::new(py, self).into_any())
    }
}

impl<T: ToPy + ?Sized> ToPy for &T {
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        (**self).to_py(py)
    }
    fn to_plain<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        (**self).to_plain(py)
    }
}

impl<T: ToPy> ToPy for Option<T> {
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match self {
            Some(v) => v.to_py(py),
            None => Ok(py.None().into_bound(py)),
        }
    }
    fn to_plain<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match self {
            Some(v) => v.to_plain(py),
            None => Ok(py.None().into_bound(py)),
        }
    }
}

impl<T: ToPy> ToPy for Vec<T> {
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let items = self
            .iter()
            .map(|v| v.to_py(py))
            .collect::<PyResult<Vec<_>>>()?;
        Ok(PyList::new(py, items)?.into_any())
    }
    fn to_plain<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let items = self
            .iter()
            .map(|v| v.to_plain(py))
            .collect::<PyResult<Vec<_>>>()?;
        Ok(PyList::new(py, items)?.into_any())
    }
}

impl ToPy for Value {
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(match self {
            Value::Null => py.None().into_bound(py),
            Value::Bool(b) => b.to_py(py)?,
            Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
                (Some(i), _, _) => i.to_py(py)?,
                (None, Some(u), _) => u.to_py(py)?,
                (None, None, Some(f)) => f.to_py(py)?,
                _ => py.None().into_bound(py),
            },
            Value::String(s) => s.to_py(py)?,
            Value::Array(items) => {
                let items = items
                    .iter()
                    .map(|v| v.to_py(py))
                    .collect::<PyResult<Vec<_>>>()?;
                PyList::new(py, items)?.into_any()
            }
            Value::Object(map) => {
                let d = PyDict::new(py);
                for (k, v) in map {
                    d.set_item(k, v.to_py(py)?)?;
                }
                d.into_any()
            }
        })
    }
}

impl ToPy for crm_core::CustomerId {
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.0.to_py(py)
    }
}

impl ToPy for crm_core::CustomerCode {
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.as_str().to_py(py)
    }
}

/// Enums cross as their wire names (`RETAIL`, `EARN`, `CHAMPION`, `admin`,
/// ...), exactly as serde writes them for HTTP.
macro_rules! enum_as_name {
    ($($t:ty),*) => {$(
        impl ToPy for $t {
            fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
                match serde_json::to_value(self) {
                    Ok(Value::String(s)) => s.to_py(py),
                    _ => Err(PyValueError::new_err(format!("{self:?} has no name"))),
                }
            }
        }
    )*};
}
enum_as_name!(
    crm_core::CustomerType,
    crm_core::loyalty::EntryType,
    crm_core::analytics::RfmSegment,
    crm_core::analytics::RfmDetailedSegment,
    crm_core::analytics::ChurnRisk,
    crm_core::analytics::ChurnMethod,
    crm_core::analytics::PeriodUnit,
    crm_core::users::Role,
    crm_core::comms::Channel,
    crm_core::comms::Locale,
    crm_core::comms::CampaignStatus,
    crm_core::comms::CommunicationStatus,
    crm_core::comms::QuietHoursPolicy
);
