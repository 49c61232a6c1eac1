//! What the buy-till-you-die models (BG/NBD, MBG/NBD, Pareto/NBD) share on
//! the data side: the checks of a `(x, t_x, T, weight)` row and the weighted
//! rows with identical histories merged, which [`MbgNbdData`] and
//! [`ParetoNbdData`] wrap.
//!
//! [`MbgNbdData`]: super::MbgNbdData
//! [`ParetoNbdData`]: super::ParetoNbdData

use super::period::PeriodUnit;
use crate::{Error, Result};

/// One compressed row: `(x, t_x, T)` and a weight.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Row {
    pub(crate) x: u32,
    pub(crate) recency: f64,
    pub(crate) t_age: f64,
    pub(crate) weight: f64,
}

/// Customer histories `(x, t_x, T)` with identical rows merged into weights,
/// sorted by `(x, t_x, T)` (so by frequency first).
#[derive(Debug, Clone)]
pub(crate) struct WeightedRows {
    pub(crate) unit: PeriodUnit,
    pub(crate) rows: Vec<Row>,
    /// Sum of the weights.
    pub(crate) customers: f64,
    /// The longest `T`.
    pub(crate) max_t: f64,
}

impl WeightedRows {
    /// Checks `(frequency, recency, T, weight)` rows with [`check_row`] and
    /// [`check_weight`] and merges identical ones.
    pub(crate) fn from_weighted_rows<I>(unit: PeriodUnit, rows: I) -> Result<Self>
    where
        I: IntoIterator<Item = (u32, f64, f64, f64)>,
    {
        let rows = rows.into_iter();
        let mut raw: Vec<((u32, u64, u64), f64)> = Vec::with_capacity(rows.size_hint().0);
        for (i, (x, recency, t_age, weight)) in rows.enumerate() {
            check_row(i, x, recency, t_age)?;
            check_weight(i, weight)?;
            // +0.0 so that -0.0 and 0.0 compress together.
            raw.push((
                (x, (recency + 0.0).to_bits(), (t_age + 0.0).to_bits()),
                weight,
            ));
        }
        // Sorting makes the summation order, and so the fit, reproducible.
        raw.sort_unstable_by_key(|row| row.0);
        let mut out: Vec<Row> = Vec::new();
        let mut customers = 0.0;
        let mut max_t: f64 = 0.0;
        let mut i = 0;
        while i < raw.len() {
            let key = raw[i].0;
            let mut weight = 0.0;
            while i < raw.len() && raw[i].0 == key {
                weight += raw[i].1;
                i += 1;
            }
            customers += weight;
            let (x, r_bits, t_bits) = key;
            let t_age = f64::from_bits(t_bits);
            max_t = max_t.max(t_age);
            out.push(Row {
                x,
                recency: f64::from_bits(r_bits),
                t_age,
                weight,
            });
        }
        Ok(Self {
            unit,
            rows: out,
            customers,
            max_t,
        })
    }

    /// Number of customers with at least one repeat purchase.
    pub(crate) fn repeat_customers(&self) -> u64 {
        self.rows
            .iter()
            .filter(|r| r.x > 0)
            .map(|r| r.weight)
            .sum::<f64>() as u64
    }

    /// Every `step`-th row, `step` chosen so that about `target` rows remain
    /// (for a warm start on a subsample).
    pub(crate) fn sample(&self, target: usize) -> Self {
        let step = self.rows.len().div_ceil(target.max(1)).max(1);
        let rows: Vec<Row> = self.rows.iter().step_by(step).copied().collect();
        let customers = rows.iter().map(|r| r.weight).sum();
        Self {
            unit: self.unit,
            rows,
            customers,
            max_t: self.max_t,
        }
    }
}

/// A row weight must be finite and > 0; the error names the 0-based row.
pub(crate) fn check_weight(i: usize, weight: f64) -> Result<()> {
    if weight.is_finite() && weight > 0.0 {
        Ok(())
    } else {
        Err(Error::invalid(
            "weights",
            "positive",
            format!("row {i}: a weight must be a finite number > 0, got {weight}"),
        ))
    }
}

/// A history `(x, t_x, T)` must have finite times, `0 <= t_x <= T`, and
/// `t_x == 0` when `x == 0`; the error names the 0-based row `i`.
pub(crate) fn check_row(i: usize, x: u32, recency: f64, t_age: f64) -> Result<()> {
    if !(t_age.is_finite() && t_age >= 0.0) {
        return Err(Error::invalid(
            "T",
            "range",
            format!("row {i}: T must be a finite number >= 0, got {t_age}"),
        ));
    }
    if !(recency.is_finite() && recency >= 0.0 && recency <= t_age) {
        return Err(Error::invalid(
            "recency",
            "range",
            format!("row {i}: recency must be between 0 and T ({t_age}), got {recency}"),
        ));
    }
    if x == 0 && recency != 0.0 {
        return Err(Error::invalid(
            "recency",
            "range",
            format!("row {i}: recency must be 0 when frequency is 0, got {recency}"),
        ));
    }
    Ok(())
}

/// The constructors every buy-till-you-die data type has on top of its
/// `from_weighted_rows`: `from_rows` (weight 1 each) and `from_summaries`.
macro_rules! row_constructors {
    ($data:ident) => {
        impl $data {
            /// Builds the data from `(frequency, recency, T)` rows in `unit`.
            ///
            /// Rules, checked per row (the error names the 0-based row): times finite,
            /// `0 <= recency <= T`, and `recency == 0` when `frequency == 0`.
            pub fn from_rows<I>(unit: PeriodUnit, rows: I) -> Result<Self>
            where
                I: IntoIterator<Item = (u32, f64, f64)>,
            {
                Self::from_weighted_rows(
                    unit,
                    rows.into_iter()
                        .map(|(x, recency, t_age)| (x, recency, t_age, 1.0)),
                )
            }

            /// Builds the data from customer summaries.
            pub fn from_summaries<'a, K: 'a, I>(unit: PeriodUnit, summaries: I) -> Result<Self>
            where
                I: IntoIterator<Item = &'a CustomerSummary<K>>,
            {
                Self::from_rows(
                    unit,
                    summaries.into_iter().map(|s| (s.frequency, s.recency, s.t)),
                )
            }
        }
    };
}

pub(crate) use row_constructors;

/// The public methods shared by the data types that wrap [`WeightedRows`]
/// in a field `base`: [`row_constructors`], `from_weighted_rows`, `unit`,
/// `customers`, `repeat_customers`, `distinct_rows`, and the private
/// `sample_rows`.
macro_rules! weighted_rows_methods {
    ($data:ident) => {
        $crate::analytics::btyd::row_constructors!($data);

        impl $data {
            /// Builds the data from `(frequency, recency, T, weight)` rows in `unit`,
            /// where a row of weight `w` stands for `w` customers with that history.
            /// Weights must be finite and `> 0`; the other rules are those of
            /// [`from_rows`](Self::from_rows).
            pub fn from_weighted_rows<I>(unit: PeriodUnit, rows: I) -> Result<Self>
            where
                I: IntoIterator<Item = (u32, f64, f64, f64)>,
            {
                Ok(Self {
                    base: $crate::analytics::btyd::WeightedRows::from_weighted_rows(unit, rows)?,
                })
            }

            /// The unit of the times.
            pub fn unit(&self) -> PeriodUnit {
                self.base.unit
            }

            /// Number of customers (sum of weights).
            pub fn customers(&self) -> u64 {
                self.base.customers as u64
            }

            /// Number of customers with at least one repeat purchase.
            pub fn repeat_customers(&self) -> u64 {
                self.base.repeat_customers()
            }

            /// Number of distinct `(x, t_x, T)` rows.
            pub fn distinct_rows(&self) -> usize {
                self.base.rows.len()
            }

            fn sample_rows(&self, target: usize) -> Self {
                Self {
                    base: self.base.sample(target),
                }
            }
        }
    };
}

pub(crate) use weighted_rows_methods;

/// The CDNOW file readers of the integration tests.
#[cfg(test)]
#[path = "../../tests/common/mod.rs"]
mod cdnow_files;

/// Test helpers shared by the models' unit tests.
#[cfg(test)]
pub(crate) mod testing {
    use crate::analytics::fit::LogLikelihood;

    /// A few `(x, t_x, T)` rows in weeks, two of them identical.
    pub(crate) const SAMPLE_ROWS: [(u32, f64, f64); 7] = [
        (0, 0.0, 38.86),
        (0, 0.0, 38.86),
        (2, 30.43, 38.86),
        (1, 1.71, 38.86),
        (5, 20.0, 30.0),
        (1, 29.5, 29.5),
        (3, 3.0, 35.0),
    ];

    /// The published CDNOW calibration summary as `(x, t_x, T)` rows in
    /// weeks (2357 customers).
    pub(crate) fn cdnow_rows() -> Vec<(u32, f64, f64)> {
        let rows = super::cdnow_files::read_csv("cdnow_customers_summary.csv", |f| {
            (
                f[1].parse().expect("frequency"),
                f[2].parse().expect("recency"),
                f[3].parse().expect("T"),
            )
        });
        assert_eq!(rows.len(), 2357);
        rows
    }

    /// `|got - want| <= tol`, naming the quantity when not.
    pub(crate) fn assert_close(name: &str, got: f64, want: f64, tol: f64) {
        assert!(
            (got - want).abs() <= tol,
            "{name}: got {got}, want {want} +/- {tol}"
        );
    }

    /// The analytic gradient of `data`'s log-likelihood agrees with central
    /// finite differences (relative step 1e-6, tolerance 1e-5) at each point.
    pub(crate) fn assert_gradient_matches_finite_differences<L: LogLikelihood, const N: usize>(
        data: &L,
        points: &[[f64; N]],
    ) {
        for &p in points {
            let mut grad = [0.0; N];
            let _ = data.value_and_gradient(&p, &mut grad);
            for i in 0..N {
                let h = 1e-6 * p[i];
                let (mut up, mut down) = (p, p);
                up[i] += h;
                down[i] -= h;
                let mut scratch = [0.0; N];
                let numeric = (data.value_and_gradient(&up, &mut scratch)
                    - data.value_and_gradient(&down, &mut scratch))
                    / (2.0 * h);
                assert!(
                    (numeric - grad[i]).abs() < 1e-5 * numeric.abs().max(1.0),
                    "{p:?} param {i}: analytic {} numeric {numeric}",
                    grad[i]
                );
            }
        }
    }

    /// `h` is symmetric (to 1e-9, relative).
    pub(crate) fn assert_symmetric(h: &[Vec<f64>]) {
        for (i, row) in h.iter().enumerate() {
            for (j, v) in row.iter().enumerate() {
                assert!((v - h[j][i]).abs() <= 1e-9 * v.abs().max(1.0));
            }
        }
    }

    /// At each `t` in `times`, `probability(n, t)` for `n < terms` are
    /// probabilities that sum to 1 and whose mean is `mean(t)`.
    pub(crate) fn assert_distribution_matches_mean(
        probability: impl Fn(u32, f64) -> f64,
        mean: impl Fn(f64) -> f64,
        terms: u32,
        times: &[f64],
    ) {
        for &t in times {
            let probs: Vec<f64> = (0..terms).map(|n| probability(n, t)).collect();
            assert!(probs.iter().all(|p| (0.0..=1.0).contains(p)), "{probs:?}");
            let total: f64 = probs.iter().sum();
            assert!((total - 1.0).abs() < 1e-9, "t {t}: {total}");
            let got: f64 = probs.iter().enumerate().map(|(n, p)| n as f64 * p).sum();
            let expected = mean(t);
            assert!(
                (got - expected).abs() < 1e-8 * expected.max(1.0),
                "t {t}: {got} vs {expected}"
            );
        }
    }
}
