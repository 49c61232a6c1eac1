//! Analytics on columns: the native half of `crm_sdk.lifetimes` (the
//! drop-in for the `lifetimes` library) and of the data-frame functions of
//! `crm_sdk.analytics`. Columns cross as numpy buffers, each function runs
//! crm-core computations with the GIL released, and the results come back
//! as numpy arrays (or a DataFrame). The Python side keeps the reference
//! library's names, shapes and pandas indexes.

use std::str::FromStr;

use chrono::NaiveDate;
use crm_core::analytics::{
    AnalyticsConfig, AnalyticsModel, BgNbdData, BgNbdModel, BgNbdParams, BgNbdPredictor,
    CustomerAnalytics, FitDiagnostics, FitOptions, GammaGammaData, GammaGammaModel,
    GammaGammaParams, PeriodTallies, PeriodUnit, SummaryBuilder, SummaryOptions,
};
use crm_core::{Error, error::FieldErrors};
use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;

use rust_decimal::Decimal;

use crate::error::IntoPyResult;
use crate::frames::analytics_frame;

/// `(r, alpha, a, b)` from Python.
type BgNbdTuple = (f64, f64, f64, f64);
/// `(p, q, gamma)` from Python (`v` in the reference library).
type GammaGammaTuple = (f64, f64, f64);
/// What a fit returns to Python: the parameters and the diagnostics as JSON.
type Fitted<P> = (P, String);

fn bgnbd(params: BgNbdTuple) -> Result<BgNbdParams, Error> {
    let (r, alpha, a, b) = params;
    let params = BgNbdParams { r, alpha, a, b };
    params.validate()?;
    Ok(params)
}

fn gamma_gamma(params: GammaGammaTuple) -> Result<GammaGammaParams, Error> {
    let (p, q, gamma) = params;
    let params = GammaGammaParams { p, q, gamma };
    params.validate()?;
    Ok(params)
}

/// A frequency column as counts: every value a whole number >= 0 (the
/// reference library casts with `astype(int)`; we refuse to truncate).
fn counts(values: &[f64]) -> Result<Vec<u32>, Error> {
    let mut errors = FieldErrors::new();
    let out = values
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            if v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v <= f64::from(u32::MAX) {
                v as u32
            } else {
                if errors.is_empty() {
                    errors.push(
                        "frequency",
                        "integer",
                        format!("row {i}: frequency must be a whole number >= 0, got {v}"),
                    );
                }
                0
            }
        })
        .collect();
    errors.finish().map(|()| out)
}

/// The columns must have one length.
fn same_length(columns: &[(&str, usize)]) -> Result<usize, Error> {
    let n = columns.first().map_or(0, |c| c.1);
    let mut errors = FieldErrors::new();
    for (name, len) in columns.iter().skip(1) {
        if *len != n {
            errors.push(
                *name,
                "length",
                format!("{name} has {len} values, {} has {n}", columns[0].0),
            );
        }
    }
    errors.finish().map(|()| n)
}

fn options(penalizer_coef: f64, tol: f64, max_iterations: u64) -> FitOptions {
    FitOptions {
        penalty: penalizer_coef,
        tolerance: tol,
        max_iterations,
        ..FitOptions::default()
    }
}

/// A fit's parameters and diagnostics as JSON.
fn fitted<P>((params, diagnostics): (P, FitDiagnostics)) -> PyResult<Fitted<P>> {
    let json = serde_json::to_string(&diagnostics)
        .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(format!("diagnostics: {e}")))?;
    Ok((params, json))
}

/// The BG/NBD rows of Python's columns (lengths, counts, weights checked).
fn bgnbd_data(
    frequency: &[f64],
    recency: &[f64],
    t: &[f64],
    weights: Option<&[f64]>,
) -> Result<BgNbdData, Error> {
    let mut lengths = vec![
        ("frequency", frequency.len()),
        ("recency", recency.len()),
        ("T", t.len()),
    ];
    if let Some(w) = weights {
        lengths.push(("weights", w.len()));
    }
    same_length(&lengths)?;
    let x = counts(frequency)?;
    let rows = (0..x.len()).map(|i| (x[i], recency[i], t[i], weights.map_or(1.0, |w| w[i])));
    BgNbdData::from_weighted_rows(PeriodUnit::Day, rows)
}

/// The Gamma-Gamma rows of Python's columns (lengths, counts, weights checked).
fn gamma_gamma_data(
    frequency: &[f64],
    monetary: &[f64],
    weights: Option<&[f64]>,
) -> Result<GammaGammaData, Error> {
    let mut lengths = vec![
        ("frequency", frequency.len()),
        ("monetary_value", monetary.len()),
    ];
    if let Some(w) = weights {
        lengths.push(("weights", w.len()));
    }
    same_length(&lengths)?;
    let x = counts(frequency)?;
    let rows = (0..x.len()).map(|i| (x[i], monetary[i], weights.map_or(1.0, |w| w[i])));
    GammaGammaData::from_weighted_rows(rows)
}

/// Tallies integer-coded purchases per customer and period
/// ([`PeriodTallies::tally`]): `(periods, first, last, repeat_amount,
/// purchases, total_amount)`.
#[pyfunction]
#[pyo3(signature = (customers, codes, periods, amounts=None, end=None))]
fn period_tallies<'py>(
    py: Python<'py>,
    customers: usize,
    codes: PyReadonlyArray1<'py, u32>,
    periods: PyReadonlyArray1<'py, i64>,
    amounts: Option<PyReadonlyArray1<'py, f64>>,
    end: Option<i64>,
) -> PyResult<TalliesPy<'py>> {
    let (codes, periods) = (codes.as_slice()?, periods.as_slice()?);
    let amounts = amounts.as_ref().map(|a| a.as_slice()).transpose()?;
    let t = py
        .detach(|| PeriodTallies::tally(customers, codes, periods, amounts, end))
        .py()?;
    Ok(tallies_py(py, t))
}

/// [`PeriodTallies`] as numpy arrays: `(periods, first, last,
/// repeat_amount, purchases, total_amount)`.
type TalliesPy<'py> = (
    Bound<'py, PyArray1<u32>>,
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<u32>>,
    Bound<'py, PyArray1<f64>>,
);

/// Codes and the ids they stand for, as numpy arrays.
type CodesPy<'py> = (Bound<'py, PyArray1<u32>>, Bound<'py, PyArray1<i64>>);

fn tallies_py(py: Python<'_>, t: PeriodTallies) -> TalliesPy<'_> {
    (
        PyArray1::from_vec(py, t.periods),
        PyArray1::from_vec(py, t.first),
        PyArray1::from_vec(py, t.last),
        PyArray1::from_vec(py, t.repeat_amount),
        PyArray1::from_vec(py, t.purchases),
        PyArray1::from_vec(py, t.total_amount),
    )
}

/// Integer customer ids spanning at most twice as many values as there are
/// rows (customer numbers, mostly) ranked in id order by a table instead of
/// a hash: `(rank of id - low, low, ids of ranks 0, 1, ...)`; `None` for
/// other ids.
fn dense_ranks(ids: &[i64]) -> Option<(Vec<u32>, i64, Vec<i64>)> {
    let low = *ids.iter().min()?;
    let high = *ids.iter().max()?;
    let span = usize::try_from(i128::from(high) - i128::from(low) + 1).ok()?;
    if span > ids.len().saturating_mul(2) || span > u32::MAX as usize {
        return None;
    }
    let mut rank = vec![u32::MAX; span];
    for &id in ids {
        rank[offset(id, low)] = 0;
    }
    let mut uniques = Vec::new();
    for (k, slot) in rank.iter_mut().enumerate() {
        if *slot == 0 {
            *slot = uniques.len() as u32;
            uniques.push(low + k as i64);
        }
    }
    Some((rank, low, uniques))
}

/// The place of `id` in a table starting at `low` (`id >= low`).
fn offset(id: i64, low: i64) -> usize {
    (i128::from(id) - i128::from(low)) as usize
}

/// Dense codes of integer ids (see [`dense_ranks`]) and the ids of codes
/// `0, 1, ...`.
fn dense_codes(ids: &[i64]) -> Option<(Vec<u32>, Vec<i64>)> {
    let (rank, low, uniques) = dense_ranks(ids)?;
    Some((
        ids.iter().map(|&id| rank[offset(id, low)]).collect(),
        uniques,
    ))
}

/// Runs `f` with the function flooring a time to whole periods of `ticks`
/// ticks. The days of the usual datetime64 units divide by a constant,
/// which compiles to a multiplication instead of a division per row.
fn with_period<T>(ticks: i64, f: impl FnOnce(&dyn Fn(i64) -> i64) -> T) -> T {
    const DAY: i64 = 86_400;
    match ticks {
        t if t == DAY * 1_000_000_000 => f(&|t: i64| t.div_euclid(DAY * 1_000_000_000)),
        t if t == DAY * 1_000_000 => f(&|t: i64| t.div_euclid(DAY * 1_000_000)),
        t if t == DAY * 1_000 => f(&|t: i64| t.div_euclid(DAY * 1_000)),
        DAY => f(&|t: i64| t.div_euclid(DAY)),
        _ => f(&|t: i64| t.div_euclid(ticks)),
    }
}

/// [`dense_codes`] for Python: `(codes, ids of the codes)` or `None`.
#[pyfunction(name = "dense_codes")]
fn py_dense_codes<'py>(
    py: Python<'py>,
    ids: PyReadonlyArray1<'py, i64>,
) -> PyResult<Option<CodesPy<'py>>> {
    let ids = ids.as_slice()?;
    let coded = py.detach(|| dense_codes(ids));
    Ok(coded.map(|(codes, uniques)| {
        (
            PyArray1::from_vec(py, codes),
            PyArray1::from_vec(py, uniques),
        )
    }))
}

/// [`period_tallies`] of integer ids and integer times in one call: the
/// ids coded by [`dense_codes`] and each time (ticks of a datetime64
/// column, `i64::MIN` for NaT) floored to a period of `ticks_per_period`.
/// `None` when the ids are not dense (the caller codes them itself).
#[pyfunction]
#[pyo3(signature = (ids, times, ticks_per_period, amounts=None, end=None))]
fn dense_id_tallies<'py>(
    py: Python<'py>,
    ids: PyReadonlyArray1<'py, i64>,
    times: PyReadonlyArray1<'py, i64>,
    ticks_per_period: i64,
    amounts: Option<PyReadonlyArray1<'py, f64>>,
    end: Option<i64>,
) -> PyResult<Option<(Bound<'py, PyArray1<i64>>, TalliesPy<'py>)>> {
    let (ids, times) = (ids.as_slice()?, times.as_slice()?);
    let amounts = amounts.as_ref().map(|a| a.as_slice()).transpose()?;
    let tallied = py
        .detach(|| {
            same_length(&[("customer_id", ids.len()), ("date", times.len())])?;
            if ticks_per_period <= 0 {
                return Err(Error::invalid(
                    "freq",
                    "positive",
                    "a period must be longer than 0",
                ));
            }
            if let Some(i) = times.iter().position(|&t| t == i64::MIN) {
                return Err(Error::invalid(
                    "date",
                    "required",
                    format!("row {i}: the date is missing"),
                ));
            }
            if let Some(a) = amounts {
                same_length(&[("customer_id", ids.len()), ("monetary_value", a.len())])?;
                if let Some(i) = a.iter().position(|v| !v.is_finite()) {
                    return Err(Error::invalid(
                        "monetary_value",
                        "finite",
                        format!("row {i}: amount {} is not a finite number", a[i]),
                    ));
                }
            }
            let Some((rank, low, uniques)) = dense_ranks(ids) else {
                return Ok(None);
            };
            let t = with_period(ticks_per_period, |period| {
                PeriodTallies::tally_rows(
                    uniques.len(),
                    ids.len(),
                    |i| (rank[offset(ids[i], low)], period(times[i])),
                    amounts,
                    end,
                )
            });
            Ok(Some((uniques, t)))
        })
        .py()?;
    Ok(tallied.map(|(uniques, t)| (PyArray1::from_vec(py, uniques), tallies_py(py, t))))
}

/// Fits BG/NBD by maximum likelihood ([`BgNbdModel::fit`]).
#[pyfunction]
#[pyo3(signature = (frequency, recency, t, weights=None, penalizer_coef=0.0, tol=1e-7, max_iterations=500))]
#[allow(clippy::too_many_arguments)]
fn bgnbd_fit<'py>(
    py: Python<'py>,
    frequency: PyReadonlyArray1<'py, f64>,
    recency: PyReadonlyArray1<'py, f64>,
    t: PyReadonlyArray1<'py, f64>,
    weights: Option<PyReadonlyArray1<'py, f64>>,
    penalizer_coef: f64,
    tol: f64,
    max_iterations: u64,
) -> PyResult<Fitted<BgNbdTuple>> {
    let (frequency, recency, t) = (frequency.as_slice()?, recency.as_slice()?, t.as_slice()?);
    let weights = weights.as_ref().map(|w| w.as_slice()).transpose()?;
    py.detach(|| {
        let data = bgnbd_data(frequency, recency, t, weights)?;
        let model = BgNbdModel::fit(&data, &options(penalizer_coef, tol, max_iterations))?;
        let p = model.params;
        Ok(((p.r, p.alpha, p.a, p.b), model.diagnostics))
    })
    .py()
    .and_then(fitted)
}

/// The Hessian of the BG/NBD fit objective in the log-parameters at
/// `params` ([`BgNbdData::objective_hessian`]), for standard errors.
#[pyfunction]
#[pyo3(signature = (params, frequency, recency, t, weights=None, penalizer_coef=0.0))]
fn bgnbd_hessian<'py>(
    py: Python<'py>,
    params: BgNbdTuple,
    frequency: PyReadonlyArray1<'py, f64>,
    recency: PyReadonlyArray1<'py, f64>,
    t: PyReadonlyArray1<'py, f64>,
    weights: Option<PyReadonlyArray1<'py, f64>>,
    penalizer_coef: f64,
) -> PyResult<Vec<Vec<f64>>> {
    let params = bgnbd(params).py()?;
    let (frequency, recency, t) = (frequency.as_slice()?, recency.as_slice()?, t.as_slice()?);
    let weights = weights.as_ref().map(|w| w.as_slice()).transpose()?;
    py.detach(|| {
        let data = bgnbd_data(frequency, recency, t, weights)?;
        Ok(data.objective_hessian(&params, penalizer_coef))
    })
    .py()
}

/// Fits Gamma-Gamma by maximum likelihood ([`GammaGammaModel::fit`]).
#[pyfunction]
#[pyo3(signature = (frequency, monetary_value, weights=None, penalizer_coef=0.0, tol=1e-7, max_iterations=500))]
fn gamma_gamma_fit<'py>(
    py: Python<'py>,
    frequency: PyReadonlyArray1<'py, f64>,
    monetary_value: PyReadonlyArray1<'py, f64>,
    weights: Option<PyReadonlyArray1<'py, f64>>,
    penalizer_coef: f64,
    tol: f64,
    max_iterations: u64,
) -> PyResult<Fitted<GammaGammaTuple>> {
    let (frequency, monetary) = (frequency.as_slice()?, monetary_value.as_slice()?);
    let weights = weights.as_ref().map(|w| w.as_slice()).transpose()?;
    py.detach(|| {
        let data = gamma_gamma_data(frequency, monetary, weights)?;
        let model = GammaGammaModel::fit(&data, &options(penalizer_coef, tol, max_iterations))?;
        let p = model.params;
        Ok(((p.p, p.q, p.gamma), model.diagnostics))
    })
    .py()
    .and_then(fitted)
}

/// The Hessian of the Gamma-Gamma fit objective in the log-parameters at
/// `params` ([`GammaGammaData::objective_hessian`]), for standard errors.
#[pyfunction]
#[pyo3(signature = (params, frequency, monetary_value, weights=None, penalizer_coef=0.0))]
fn gamma_gamma_hessian<'py>(
    py: Python<'py>,
    params: GammaGammaTuple,
    frequency: PyReadonlyArray1<'py, f64>,
    monetary_value: PyReadonlyArray1<'py, f64>,
    weights: Option<PyReadonlyArray1<'py, f64>>,
    penalizer_coef: f64,
) -> PyResult<Vec<Vec<f64>>> {
    let params = gamma_gamma(params).py()?;
    let (frequency, monetary) = (frequency.as_slice()?, monetary_value.as_slice()?);
    let weights = weights.as_ref().map(|w| w.as_slice()).transpose()?;
    py.detach(|| {
        let data = gamma_gamma_data(frequency, monetary, weights)?;
        Ok(data.objective_hessian(&params, penalizer_coef))
    })
    .py()
}

/// Rows below which a column is computed on one thread.
const PARALLEL_ROWS: usize = 20_000;

/// How [`map_rows`] splits rows over threads.
enum Split<'a> {
    /// Contiguous chunks (stateless rows).
    Chunks,
    /// By a key: rows with equal keys go to the same thread, so per-thread
    /// caches (a predictor's, keyed by frequency and age) never overlap.
    ByKey(&'a (dyn Fn(usize) -> u64 + Sync)),
}

/// Runs `each(state, i)` for every row of equal-length columns, with the
/// GIL released, into a new float array. Long columns are split over the
/// cores (see [`Split`]), each part with its own `state` from `make`; the
/// results do not depend on the split.
fn map_rows<'py, S>(
    py: Python<'py>,
    lengths: &[(&str, usize)],
    split: Split<'_>,
    make: impl Fn() -> S + Sync,
    each: impl Fn(&mut S, usize) -> Result<f64, Error> + Sync,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let out = py
        .detach(|| {
            let n = same_length(lengths)?;
            let threads = std::thread::available_parallelism().map_or(1, |t| t.get().min(8));
            let run = |rows: &mut dyn Iterator<Item = usize>| {
                let mut state = make();
                rows.map(|i| each(&mut state, i))
                    .collect::<Result<Vec<f64>, Error>>()
            };
            if n < PARALLEL_ROWS || threads == 1 {
                return run(&mut (0..n));
            }
            let part_of = |i: usize| match &split {
                Split::Chunks => i * threads / n,
                // Fibonacci hashing spreads consecutive keys over the parts.
                Split::ByKey(key) => {
                    (key(i).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize % threads
                }
            };
            let parts = std::thread::scope(|scope| {
                let handles: Vec<_> = (0..threads)
                    .map(|k| scope.spawn(move || run(&mut (0..n).filter(|&i| part_of(i) == k))))
                    .collect();
                handles
                    .into_iter()
                    .map(|h| {
                        h.join()
                            .map_err(|_| Error::storage_msg("a prediction thread panicked"))?
                    })
                    .collect::<Result<Vec<Vec<f64>>, Error>>()
            })?;
            let mut next: Vec<std::vec::IntoIter<f64>> =
                parts.into_iter().map(Vec::into_iter).collect();
            Ok((0..n)
                .map(|i| next[part_of(i)].next().unwrap_or(f64::NAN))
                .collect())
        })
        .py()?;
    Ok(PyArray1::from_vec(py, out))
}

/// The split of rows by `(frequency, T)`, the key of a predictor's cache.
fn by_customer_kind<'a>(x: &'a [u32], t: &'a [f64]) -> impl Fn(usize) -> u64 + Sync + 'a {
    move |i| (u64::from(x[i]) << 32) ^ (t[i] + 0.0).to_bits()
}

/// P(alive) of each customer ([`BgNbdParams::p_alive`]).
#[pyfunction]
fn bgnbd_p_alive<'py>(
    py: Python<'py>,
    params: BgNbdTuple,
    frequency: PyReadonlyArray1<'py, f64>,
    recency: PyReadonlyArray1<'py, f64>,
    t: PyReadonlyArray1<'py, f64>,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let params = bgnbd(params).py()?;
    let (recency, t) = (recency.as_slice()?, t.as_slice()?);
    let x = counts(frequency.as_slice()?).py()?;
    let lengths = [
        ("frequency", x.len()),
        ("recency", recency.len()),
        ("T", t.len()),
    ];
    map_rows(
        py,
        &lengths,
        Split::Chunks,
        || (),
        |_, i| Ok(params.p_alive(x[i], recency[i], t[i])),
    )
}

/// Expected purchases in the next `horizon[i]` periods of each customer
/// ([`BgNbdPredictor::conditional_expected_purchases`]).
#[pyfunction]
fn bgnbd_conditional_expected<'py>(
    py: Python<'py>,
    params: BgNbdTuple,
    horizon: PyReadonlyArray1<'py, f64>,
    frequency: PyReadonlyArray1<'py, f64>,
    recency: PyReadonlyArray1<'py, f64>,
    t: PyReadonlyArray1<'py, f64>,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let params = bgnbd(params).py()?;
    let (horizon, recency, t) = (horizon.as_slice()?, recency.as_slice()?, t.as_slice()?);
    let x = counts(frequency.as_slice()?).py()?;
    let lengths = [
        ("frequency", x.len()),
        ("t", horizon.len()),
        ("recency", recency.len()),
        ("T", t.len()),
    ];
    let key = by_customer_kind(&x, t);
    map_rows(
        py,
        &lengths,
        Split::ByKey(&key),
        || BgNbdPredictor::new(params),
        |predictor, i| {
            Ok(predictor.conditional_expected_purchases(x[i], recency[i], t[i], horizon[i]))
        },
    )
}

/// E\[X(t)\] of a new customer for each `t`
/// ([`BgNbdParams::expected_purchases_new_customer`]).
#[pyfunction]
fn bgnbd_expected_new<'py>(
    py: Python<'py>,
    params: BgNbdTuple,
    t: PyReadonlyArray1<'py, f64>,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let params = bgnbd(params).py()?;
    let t = t.as_slice()?;
    map_rows(
        py,
        &[("t", t.len())],
        Split::Chunks,
        || (),
        |_, i| Ok(params.expected_purchases_new_customer(t[i])),
    )
}

/// P(X(t) = n) of a new customer for each `(t, n)`
/// ([`BgNbdParams::probability_of_purchases`]).
#[pyfunction]
fn bgnbd_probability_of_n<'py>(
    py: Python<'py>,
    params: BgNbdTuple,
    t: PyReadonlyArray1<'py, f64>,
    n: PyReadonlyArray1<'py, f64>,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let params = bgnbd(params).py()?;
    let t = t.as_slice()?;
    let n = counts(n.as_slice()?).py()?;
    map_rows(
        py,
        &[("t", t.len()), ("n", n.len())],
        Split::Chunks,
        || (),
        |_, i| Ok(params.probability_of_purchases(n[i], t[i])),
    )
}

/// The Gamma-Gamma expected spend per purchase of each customer
/// ([`GammaGammaParams::expected_average_spend_f64`]); NaN where the
/// population mean does not exist (`q <= 1`).
#[pyfunction]
fn gamma_gamma_expected_spend<'py>(
    py: Python<'py>,
    params: GammaGammaTuple,
    frequency: PyReadonlyArray1<'py, f64>,
    monetary_value: PyReadonlyArray1<'py, f64>,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let params = gamma_gamma(params).py()?;
    let monetary = monetary_value.as_slice()?;
    let x = counts(frequency.as_slice()?).py()?;
    let lengths = [("frequency", x.len()), ("monetary_value", monetary.len())];
    map_rows(
        py,
        &lengths,
        Split::Chunks,
        || (),
        |_, i| {
            Ok(params
                .expected_average_spend_f64(x[i], monetary[i])
                .unwrap_or(f64::NAN))
        },
    )
}

/// The discounted value of each customer's expected purchases over `steps`
/// steps of `step` periods at `rate` per step, times `spend[i]`
/// ([`BgNbdPredictor::discounted_expected_purchases`]).
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn bgnbd_discounted_value<'py>(
    py: Python<'py>,
    params: BgNbdTuple,
    frequency: PyReadonlyArray1<'py, f64>,
    recency: PyReadonlyArray1<'py, f64>,
    t: PyReadonlyArray1<'py, f64>,
    spend: PyReadonlyArray1<'py, f64>,
    steps: u32,
    step: f64,
    rate: f64,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let mut errors = FieldErrors::new();
    if !(step.is_finite() && step > 0.0) {
        errors.push("time", "positive", "the step length must be > 0");
    }
    if !(rate.is_finite() && rate > -1.0) {
        errors.push("discount_rate", "range", "the discount rate must be > -1");
    }
    errors.finish().py()?;
    let params = bgnbd(params).py()?;
    let (recency, t, spend) = (recency.as_slice()?, t.as_slice()?, spend.as_slice()?);
    let x = counts(frequency.as_slice()?).py()?;
    let horizons: Vec<f64> = (1..=steps).map(|i| f64::from(i) * step).collect();
    let lengths = [
        ("frequency", x.len()),
        ("recency", recency.len()),
        ("T", t.len()),
        ("monetary_value", spend.len()),
    ];
    let key = by_customer_kind(&x, t);
    map_rows(
        py,
        &lengths,
        Split::ByKey(&key),
        || BgNbdPredictor::new(params),
        |predictor, i| {
            let purchases =
                predictor.discounted_expected_purchases(x[i], recency[i], t[i], &horizons, rate);
            Ok(spend[i] * purchases)
        },
    )
}

/// Days from 0001-01-01 to 1970-01-01 (chrono counts from the former).
const UNIX_EPOCH_DAY_FROM_CE: i64 = 719_163;

/// A date from days since 1970-01-01.
fn date_of(days: i64, row: usize) -> Result<NaiveDate, Error> {
    i32::try_from(days + UNIX_EPOCH_DAY_FROM_CE)
        .ok()
        .and_then(NaiveDate::from_num_days_from_ce_opt)
        .ok_or_else(|| {
            Error::invalid(
                "date",
                "range",
                format!("row {row}: day {days} since 1970-01-01 is out of range"),
            )
        })
}

/// A float amount as the decimal it was written as (its shortest
/// round-trip text: `19.99`, not `19.989999999999998`).
fn amount_of(value: f64, row: usize) -> Result<Decimal, Error> {
    let text = format!("{value}");
    Decimal::from_str(&text).map_err(|_| {
        Error::invalid(
            "monetary_value",
            "decimal",
            format!("row {row}: amount {value} is not a finite decimal"),
        )
    })
}

/// Scores every customer of a transaction table (the analytics of
/// `crm.analytics.score_all`, on a data frame): summaries in `unit`, the
/// models fitted, one row per customer. Returns the frame (customer codes
/// in `customer_id`, `total_spend` added) and the model snapshot as JSON.
#[pyfunction]
#[pyo3(signature = (customers, codes, days, amounts, unit, observation_end=None, config=None))]
#[allow(clippy::too_many_arguments)]
fn score_transactions<'py>(
    py: Python<'py>,
    customers: usize,
    codes: PyReadonlyArray1<'py, u32>,
    days: PyReadonlyArray1<'py, i64>,
    amounts: Option<PyReadonlyArray1<'py, f64>>,
    unit: &str,
    observation_end: Option<i64>,
    config: Option<&str>,
) -> PyResult<(Bound<'py, PyAny>, String)> {
    let (codes, days) = (codes.as_slice()?, days.as_slice()?);
    let amounts = amounts.as_ref().map(|a| a.as_slice()).transpose()?;
    let (scores, spend, snapshot) = py
        .detach(|| {
            let unit = PeriodUnit::from_str(unit)?;
            let config: AnalyticsConfig = match config {
                None => AnalyticsConfig::new(),
                Some(text) => serde_json::from_str(text).map_err(|e| {
                    Error::invalid("config", "json", format!("analytics config: {e}"))
                })?,
            };
            let mut lengths = vec![("customer_id", codes.len()), ("date", days.len())];
            if let Some(a) = amounts {
                lengths.push(("monetary_value", a.len()));
            }
            let n = same_length(&lengths)?;
            let end = observation_end.map(|d| date_of(d, 0)).transpose()?;
            let mut builder =
                SummaryBuilder::with_capacity(SummaryOptions::new(unit, end), customers)?;
            // The builder needs each customer's rows in date order; a table
            // in any other order is read in date order instead.
            let mut latest = vec![i64::MIN; customers];
            let in_order = codes.iter().zip(days).all(|(&c, &d)| {
                let slot = latest.get_mut(c as usize);
                slot.is_some_and(|l| {
                    let ok = d >= *l;
                    *l = d;
                    ok
                })
            });
            let mut order: Vec<usize> = (0..n).collect();
            if !in_order {
                order.sort_by_key(|&i| days[i]);
            }
            for i in order {
                let amount = match amounts {
                    Some(a) => amount_of(a[i], i)?,
                    None => Decimal::ZERO,
                };
                builder.add(&codes[i], date_of(days[i], i)?, amount)?;
            }
            let summaries = builder.finish().summaries;
            let spend: Vec<Decimal> = summaries.iter().map(|s| s.total_spend).collect();
            let model = AnalyticsModel::fit(unit, &summaries, config)?;
            let snapshot = model.to_snapshot_json()?;
            let scores: Vec<CustomerAnalytics<u32>> = model.score_all(summaries).collect();
            Ok::<_, Error>((scores, spend, snapshot))
        })
        .py()?;
    let frame = analytics_frame(py, &scores, |c| i64::from(*c))?;
    let spend = spend
        .into_iter()
        .map(|d| crate::convert::ToPy::to_py(&d, py))
        .collect::<PyResult<Vec<_>>>()?;
    frame.set_item("total_spend", pyo3::types::PyList::new(py, spend)?)?;
    Ok((frame, snapshot))
}

/// Adds the functions to the native module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(period_tallies, m)?)?;
    m.add_function(wrap_pyfunction!(dense_id_tallies, m)?)?;
    m.add_function(wrap_pyfunction!(py_dense_codes, m)?)?;
    m.add_function(wrap_pyfunction!(bgnbd_fit, m)?)?;
    m.add_function(wrap_pyfunction!(gamma_gamma_fit, m)?)?;
    m.add_function(wrap_pyfunction!(bgnbd_hessian, m)?)?;
    m.add_function(wrap_pyfunction!(gamma_gamma_hessian, m)?)?;
    m.add_function(wrap_pyfunction!(bgnbd_p_alive, m)?)?;
    m.add_function(wrap_pyfunction!(bgnbd_conditional_expected, m)?)?;
    m.add_function(wrap_pyfunction!(bgnbd_expected_new, m)?)?;
    m.add_function(wrap_pyfunction!(bgnbd_probability_of_n, m)?)?;
    m.add_function(wrap_pyfunction!(gamma_gamma_expected_spend, m)?)?;
    m.add_function(wrap_pyfunction!(bgnbd_discounted_value, m)?)?;
    m.add_function(wrap_pyfunction!(score_transactions, m)?)?;
    Ok(())
}
