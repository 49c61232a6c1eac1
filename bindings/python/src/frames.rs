//! pandas DataFrames of results. Numeric columns cross as numpy buffers
//! (no Python object per value); money stays `decimal.Decimal` (an object
//! column), times are UTC.

use crm_core::analytics::{CustomerAnalytics, CustomerScore};
use numpy::PyArray1;
use pyo3::exceptions::PyImportError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::convert::ToPy;

/// The pandas module, or an ImportError that says how to get it.
fn pandas(py: Python<'_>) -> PyResult<Bound<'_, PyModule>> {
    py.import("pandas").map_err(|e| {
        PyImportError::new_err(format!(
            "DataFrames need pandas: pip install 'crm-sdk[pandas]' ({e})"
        ))
    })
}

/// A DataFrame of records, one column per field (nested records as dicts).
pub(crate) fn records_frame<'py, T: ToPy>(
    py: Python<'py>,
    items: &[T],
    fields: &[&str],
) -> PyResult<Bound<'py, PyAny>> {
    let pd = pandas(py)?;
    let rows = items
        .iter()
        .map(|r| r.to_plain(py))
        .collect::<PyResult<Vec<_>>>()?;
    let kwargs = PyDict::new(py);
    kwargs.set_item("columns", PyList::new(py, fields)?)?;
    pd.getattr("DataFrame")?
        .call_method("from_records", (PyList::new(py, rows)?,), Some(&kwargs))
}

/// A column of Python objects.
fn objects<'py, T, V: ToPy>(
    py: Python<'py>,
    scores: &[T],
    get: impl Fn(&T) -> V,
) -> PyResult<Bound<'py, PyAny>> {
    let items = scores
        .iter()
        .map(|s| get(s).to_py(py))
        .collect::<PyResult<Vec<_>>>()?;
    Ok(PyList::new(py, items)?.into_any())
}

/// The columns of customer scores, in the order of `CustomerScore`'s
/// attributes, the RFM scores flattened (`rfm_recency`, ...).
pub(crate) fn scores_frame<'py>(
    py: Python<'py>,
    scores: &[CustomerScore],
) -> PyResult<Bound<'py, PyAny>> {
    analytics_frame(py, scores, |id| id.0)
}

/// The columns of customer analytics whose keys map to an integer
/// `customer_id` column (store ids, or the codes of a data frame).
pub(crate) fn analytics_frame<'py, K>(
    py: Python<'py>,
    scores: &[CustomerAnalytics<K>],
    key: fn(&K) -> i64,
) -> PyResult<Bound<'py, PyAny>> {
    let pd = pandas(py)?;
    let f64s = |get: fn(&CustomerAnalytics<K>) -> f64| {
        PyArray1::from_vec(py, scores.iter().map(get).collect()).into_any()
    };
    let i64s = |get: &dyn Fn(&CustomerAnalytics<K>) -> i64| {
        PyArray1::from_vec(py, scores.iter().map(get).collect()).into_any()
    };
    let cols = PyDict::new(py);
    cols.set_item("customer_id", i64s(&|s| key(&s.customer_id)))?;
    cols.set_item("frequency", i64s(&|s| i64::from(s.frequency)))?;
    cols.set_item("recency", f64s(|s| s.recency))?;
    cols.set_item("T", f64s(|s| s.t))?;
    cols.set_item("monetary_value", objects(py, scores, |s| s.monetary_value)?)?;
    cols.set_item("rfm_recency", i64s(&|s| i64::from(s.rfm.recency)))?;
    cols.set_item("rfm_frequency", i64s(&|s| i64::from(s.rfm.frequency)))?;
    cols.set_item("rfm_monetary", i64s(&|s| i64::from(s.rfm.monetary)))?;
    cols.set_item("rfm_total", f64s(|s| s.rfm.total))?;
    cols.set_item("segment", objects(py, scores, |s| s.segment)?)?;
    cols.set_item(
        "detailed_segment",
        objects(py, scores, |s| s.rfm.detailed_segment)?,
    )?;
    cols.set_item("lifetime_value", objects(py, scores, |s| s.lifetime_value)?)?;
    cols.set_item(
        "model_lifetime_value",
        objects(py, scores, |s| s.model_lifetime_value)?,
    )?;
    cols.set_item(
        "expected_average_spend",
        objects(py, scores, |s| s.expected_average_spend)?,
    )?;
    cols.set_item("p_alive", f64s(|s| s.p_alive))?;
    cols.set_item("churn_probability", f64s(|s| s.churn_probability))?;
    cols.set_item("risk_level", objects(py, scores, |s| s.risk_level)?)?;
    cols.set_item(
        "recommended_action",
        objects(py, scores, |s| s.recommended_action.clone())?,
    )?;
    cols.set_item("churn_method", objects(py, scores, |s| s.churn_method)?)?;
    cols.set_item(
        "expected_purchases_90d",
        f64s(|s| s.expected_purchases_90d.unwrap_or(f64::NAN)),
    )?;
    pd.getattr("DataFrame")?.call1((cols,))
}

/// The issues of a customer import, one row per failing field: `line`
/// (int64), `status`, `field`, `rule`, `message`, `existing_code` (`None`
/// unless the row matches a stored customer). The columns are there even
/// when there is no issue.
pub(crate) fn issues_frame<'py>(
    py: Python<'py>,
    issues: &[crm_core::RowIssue],
) -> PyResult<Bound<'py, PyAny>> {
    let pd = pandas(py)?;
    let line: Vec<i64> = issues
        .iter()
        .map(|i| i64::try_from(i.line).unwrap_or(i64::MAX))
        .collect();
    let cols = PyDict::new(py);
    cols.set_item("line", PyArray1::from_vec(py, line))?;
    cols.set_item("status", objects(py, issues, |i| i.status.as_str())?)?;
    cols.set_item("field", objects(py, issues, |i| i.field.clone())?)?;
    cols.set_item("rule", objects(py, issues, |i| i.rule.clone())?)?;
    cols.set_item("message", objects(py, issues, |i| i.message.clone())?)?;
    cols.set_item(
        "existing_code",
        objects(py, issues, |i| i.existing_code.clone())?,
    )?;
    pd.getattr("DataFrame")?.call1((cols,))
}
