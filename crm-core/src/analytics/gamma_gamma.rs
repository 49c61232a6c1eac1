//! The Gamma-Gamma model of spend per purchase (Fader and Hardie, "The
//! Gamma-Gamma Model of Monetary Value", 2013): each purchase amount is
//! Gamma(p, ν) with ν ~ Gamma(q, γ) across customers, independent of the
//! purchase process.
//!
//! It is fitted on repeat customers only (their mean repeat spend `m` over `x`
//! purchases) and predicts a customer's expected average spend, shrinking the
//! observed mean towards the population mean the fewer purchases there are.
//! Amounts enter and leave as [`Decimal`]; the model itself computes in `f64`.

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::{Deserialize, Serialize};

use super::btyd::check_weight;
use super::fit::{self, FitDiagnostics, FitOptions, LogLikelihood, ParameterEstimate};
use super::special::{digamma, ln_gamma};
use super::summary::CustomerSummary;
use crate::{Error, Result};

/// The three Gamma-Gamma parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GammaGammaParams {
    /// Shape of the per-purchase spend distribution.
    pub p: f64,
    /// Shape of the distribution of ν across customers.
    pub q: f64,
    /// Scale of the distribution of ν across customers, in money units.
    pub gamma: f64,
}

impl GammaGammaParams {
    /// Checks that every parameter is finite and positive.
    pub fn validate(&self) -> Result<()> {
        fit::check_positive_params(
            "Gamma-Gamma",
            &[("p", self.p), ("q", self.q), ("gamma", self.gamma)],
        )
    }

    /// Expected average spend per purchase of a customer with `frequency`
    /// repeat purchases of mean `monetary_value` (Fader and Hardie 2013,
    /// eq. 5): `p(γ + x·m) / (p·x + q - 1)`, a weighted average of the
    /// population mean `pγ/(q-1)` and the customer's own mean. For a customer
    /// without repeat purchases it is the population mean.
    ///
    /// `None` when the population mean does not exist (`q <= 1`) and the
    /// customer's purchases do not make the denominator positive.
    pub fn expected_average_spend_f64(&self, frequency: u32, monetary_value: f64) -> Option<f64> {
        let x = f64::from(frequency);
        let m = if frequency == 0 { 0.0 } else { monetary_value };
        let denominator = self.p * x + self.q - 1.0;
        (denominator > 0.0).then(|| self.p * (self.gamma + x * m) / denominator)
    }

    /// [`expected_average_spend_f64`](Self::expected_average_spend_f64) with
    /// money as [`Decimal`], rounded to `decimals` places.
    pub fn expected_average_spend(
        &self,
        frequency: u32,
        monetary_value: Decimal,
        decimals: u32,
    ) -> Option<Decimal> {
        let m = monetary_value.to_f64()?;
        self.expected_average_spend_f64(frequency, m)
            .and_then(|v| super::clv::estimate_to_money(v, decimals))
    }

    /// The population mean spend per purchase `pγ/(q-1)`; `None` if `q <= 1`.
    pub fn population_mean_spend(&self) -> Option<f64> {
        (self.q > 1.0).then(|| self.p * self.gamma / (self.q - 1.0))
    }
}

/// Standard errors and 95% confidence intervals of the Gamma-Gamma
/// parameters (`lifetimes`' `standard_errors_` and `confidence_intervals_`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GammaGammaStandardErrors {
    /// `p`, shape of the per-transaction spend distribution.
    pub p: ParameterEstimate,
    /// `q`, shape of the distribution of customers' spend scales.
    pub q: ParameterEstimate,
    /// `gamma` (`v` in `lifetimes`), scale of that distribution.
    pub gamma: ParameterEstimate,
}

/// A fitted Gamma-Gamma model: estimates, how the fit went and how precise
/// the estimates are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GammaGammaModel {
    /// The maximum-likelihood estimates.
    pub params: GammaGammaParams,
    /// Convergence, iterations, log-likelihood.
    pub diagnostics: FitDiagnostics,
    /// Standard errors and 95% intervals at the estimates; `None` when the
    /// Hessian there is not positive definite (no proper maximum), and in
    /// snapshots written before they were computed.
    #[serde(default)]
    pub standard_errors: Option<GammaGammaStandardErrors>,
}

impl GammaGammaModel {
    /// Fits the model by maximum likelihood and computes the standard errors
    /// of the estimates. Errors only on unusable input;
    /// non-convergence is reported in the diagnostics.
    pub fn fit(data: &GammaGammaData, options: &FitOptions) -> Result<Self> {
        options.validate("fit")?;
        if data.customers <= 0.0 {
            return Err(Error::invalid(
                "customers",
                "required",
                "cannot fit Gamma-Gamma without repeat customers",
            ));
        }
        // Start where the population mean spend equals the observed mean.
        let start = [1.0, 2.0, data.mean_spend.max(1e-9)];
        let outcome = fit::fit(data, &start, options);
        let p = &outcome.params;
        let params = GammaGammaParams {
            p: p[0],
            q: p[1],
            gamma: p[2],
        };
        let standard_errors = options
            .standard_errors
            .then(|| data.standard_errors(&params, options.penalty))
            .flatten();
        Ok(Self {
            params,
            diagnostics: outcome.diagnostics,
            standard_errors,
        })
    }
}

#[derive(Debug, Clone, Copy)]
struct SpendRow {
    ln_m: f64,
    m: f64,
    weight: f64,
}

#[derive(Debug, Clone)]
struct Group {
    x: u32,
    start: usize,
    end: usize,
}

/// Repeat customers' `(x, m)` prepared for fitting: identical rows merged
/// into weights and grouped by `x`.
#[derive(Debug, Clone)]
pub struct GammaGammaData {
    groups: Vec<Group>,
    rows: Vec<SpendRow>,
    customers: f64,
    mean_spend: f64,
}

impl GammaGammaData {
    /// Builds the data from `(frequency, monetary_value)` rows of repeat
    /// customers. Every row must have `frequency >= 1` and a spend > 0; the
    /// error names the 0-based row.
    pub fn from_rows<I>(rows: I) -> Result<Self>
    where
        I: IntoIterator<Item = (u32, Decimal)>,
    {
        let rows = rows.into_iter();
        let mut raw = Vec::with_capacity(rows.size_hint().0);
        for (i, (x, m)) in rows.enumerate() {
            check_repeat(i, x)?;
            raw.push((x, spend(m, || format!("row {i}"))?, 1.0));
        }
        Ok(Self::from_raw(raw))
    }

    /// Builds the data from `(frequency, monetary_value, weight)` rows of
    /// repeat customers with the spend as a float (the columns of a data
    /// frame); a row of weight `w` stands for `w` customers. The rules are
    /// those of [`from_rows`](Self::from_rows), and weights are finite and > 0.
    pub fn from_weighted_rows<I>(rows: I) -> Result<Self>
    where
        I: IntoIterator<Item = (u32, f64, f64)>,
    {
        let rows = rows.into_iter();
        let mut raw = Vec::with_capacity(rows.size_hint().0);
        for (i, (x, m, weight)) in rows.enumerate() {
            check_repeat(i, x)?;
            if !(m.is_finite() && m > 0.0) {
                return Err(non_positive_spend(format!("row {i}"), m));
            }
            check_weight(i, weight)?;
            raw.push((x, m, weight));
        }
        Ok(Self::from_raw(raw))
    }

    /// The Hessian of the fit objective (mean negative log-likelihood plus
    /// `penalty · Σ θ²`) with respect to `ln p, ln q, ln gamma` at `params`,
    /// rows and columns in that order (see
    /// [`BgNbdData::objective_hessian`](super::BgNbdData::objective_hessian)).
    pub fn objective_hessian(&self, params: &GammaGammaParams, penalty: f64) -> Vec<Vec<f64>> {
        fit::objective_hessian(self, &[params.p, params.q, params.gamma], penalty)
    }

    /// Standard errors and Wald 95% intervals of `params`, which should be
    /// the maximum of the objective with this `penalty`, from the inverse of
    /// [`objective_hessian`](Self::objective_hessian) (see
    /// [`fit::parameter_estimates`]). `None` when the Hessian is not
    /// positive definite or the result is not finite.
    pub fn standard_errors(
        &self,
        params: &GammaGammaParams,
        penalty: f64,
    ) -> Option<GammaGammaStandardErrors> {
        if params.validate().is_err() || self.customers <= 0.0 {
            return None;
        }
        let theta = [params.p, params.q, params.gamma];
        let [p, q, gamma]: [ParameterEstimate; 3] = fit::standard_errors(self, &theta, penalty)?
            .try_into()
            .ok()?;
        Some(GammaGammaStandardErrors { p, q, gamma })
    }

    /// Builds the data from the repeat customers among `summaries` (those with
    /// `frequency >= 1`; the others carry no spend information). A repeat
    /// customer with zero or negative `monetary_value` is an error naming them.
    pub fn from_summaries<'a, K, I>(summaries: I) -> Result<Self>
    where
        K: std::fmt::Debug + 'a,
        I: IntoIterator<Item = &'a CustomerSummary<K>>,
    {
        let mut raw = Vec::new();
        for s in summaries.into_iter().filter(|s| s.frequency > 0) {
            raw.push((
                s.frequency,
                spend(s.monetary_value, || format!("customer {:?}", s.customer))?,
                1.0,
            ));
        }
        Ok(Self::from_raw(raw))
    }

    fn from_raw(mut raw: Vec<(u32, f64, f64)>) -> Self {
        // Spends are > 0, whose bit patterns sort like the numbers: one
        // integer key sorts faster than a two-field comparison (the unstable
        // sort is deterministic, so equal rows' weights always add up the
        // same way for the same input).
        raw.sort_unstable_by_key(|&(x, m, _)| (u128::from(x) << 64) | u128::from(m.to_bits()));
        let mut groups: Vec<Group> = Vec::new();
        // Room for every row at once: a growing list would be moved.
        let mut rows: Vec<SpendRow> = Vec::with_capacity(raw.len());
        let (mut customers, mut total) = (0.0, 0.0);
        let mut i = 0;
        while i < raw.len() {
            let key = (raw[i].0, raw[i].1);
            let mut j = i;
            let mut weight = 0.0;
            while j < raw.len() && (raw[j].0, raw[j].1) == key {
                weight += raw[j].2;
                j += 1;
            }
            customers += weight;
            total += weight * key.1;
            if groups.last().is_none_or(|g| g.x != key.0) {
                groups.push(Group {
                    x: key.0,
                    start: rows.len(),
                    end: rows.len(),
                });
            }
            rows.push(SpendRow {
                ln_m: key.1.ln(),
                m: key.1,
                weight,
            });
            if let Some(g) = groups.last_mut() {
                g.end = rows.len();
            }
            i = j;
        }
        Self {
            groups,
            rows,
            customers,
            mean_spend: if customers > 0.0 {
                total / customers
            } else {
                0.0
            },
        }
    }

    /// Number of repeat customers (sum of weights).
    pub fn customers(&self) -> u64 {
        self.customers as u64
    }

    /// Number of distinct `(x, m)` rows.
    pub fn distinct_rows(&self) -> usize {
        self.rows.len()
    }

    /// The total log-likelihood at `params`.
    pub fn log_likelihood(&self, params: &GammaGammaParams) -> f64 {
        let mut grad = [0.0; 3];
        self.value_and_gradient(&[params.p, params.q, params.gamma], &mut grad)
    }
}

fn spend(m: Decimal, who: impl Fn() -> String) -> Result<f64> {
    match super::clv::decimal_as_f64(m) {
        v if v > 0.0 && v.is_finite() => Ok(v),
        _ => Err(non_positive_spend(who(), m)),
    }
}

fn non_positive_spend(who: String, m: impl std::fmt::Display) -> Error {
    Error::invalid(
        "monetary_value",
        "positive",
        format!(
            "{who}: Gamma-Gamma needs a spend > 0 per repeat purchase, got {m}; \
             leave out customers whose purchases were free"
        ),
    )
}

fn check_repeat(i: usize, x: u32) -> Result<()> {
    if x == 0 {
        return Err(Error::invalid(
            "frequency",
            "min",
            format!("row {i}: Gamma-Gamma needs repeat customers (frequency >= 1)"),
        ));
    }
    Ok(())
}

impl LogLikelihood for GammaGammaData {
    const PARAMS: usize = 3;

    /// Fader and Hardie (2013), eq. 1a, in logs. Per customer:
    ///
    /// `ln Γ(px+q) - ln Γ(px) - ln Γ(q) + q ln γ + (px-1) ln m + px ln x - (px+q) ln(γ + x·m)`
    fn value_and_gradient(&self, params: &[f64], grad: &mut [f64]) -> f64 {
        let (p, q, gamma) = (params[0], params[1], params[2]);
        let (lg_q, dg_q) = (ln_gamma(q), digamma(q));
        let ln_g = gamma.ln();
        let (mut ll, mut g_p, mut g_q, mut g_g) = (0.0, 0.0, 0.0, 0.0);
        for group in &self.groups {
            let x = f64::from(group.x);
            let px = p * x;
            let ln_x = x.ln();
            let (lg_pxq, dg_pxq) = (ln_gamma(px + q), digamma(px + q));
            let (lg_px, dg_px) = (ln_gamma(px), digamma(px));
            let (mut sw, mut s_lnm, mut s_ln, mut s_inv) = (0.0, 0.0, 0.0, 0.0);
            for row in &self.rows[group.start..group.end] {
                let denom = gamma + x * row.m;
                let w = row.weight;
                sw += w;
                s_lnm += w * row.ln_m;
                s_ln += w * denom.ln();
                s_inv += w / denom;
            }
            ll += sw * (lg_pxq - lg_px - lg_q + q * ln_g + px * ln_x) + (px - 1.0) * s_lnm
                - (px + q) * s_ln;
            g_p += x * (sw * (dg_pxq - dg_px + ln_x) + s_lnm - s_ln);
            g_q += sw * (dg_pxq - dg_q + ln_g) - s_ln;
            g_g += sw * q / gamma - (px + q) * s_inv;
        }
        grad[0] = g_p;
        grad[1] = g_q;
        grad[2] = g_g;
        ll
    }

    fn total_weight(&self) -> f64 {
        self.customers
    }

    fn distinct_rows(&self) -> usize {
        self.rows.len()
    }

    fn sample(&self, rows: usize) -> Self {
        let step = self.rows.len().div_ceil(rows.max(1)).max(1);
        let mut out = Self {
            groups: Vec::new(),
            rows: Vec::new(),
            customers: 0.0,
            mean_spend: self.mean_spend,
        };
        let mut k = 0usize;
        for g in &self.groups {
            let start = out.rows.len();
            for row in &self.rows[g.start..g.end] {
                if k.is_multiple_of(step) {
                    out.rows.push(*row);
                    out.customers += row.weight;
                }
                k += 1;
            }
            if out.rows.len() > start {
                out.groups.push(Group {
                    x: g.x,
                    start,
                    end: out.rows.len(),
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::btyd::testing::assert_gradient_matches_finite_differences;

    fn data() -> GammaGammaData {
        GammaGammaData::from_rows(vec![
            (1, Decimal::new(1177, 2)),
            (2, Decimal::new(2235, 2)),
            (2, Decimal::new(2235, 2)),
            (5, Decimal::new(4012, 2)),
            (7, Decimal::new(1999, 2)),
        ])
        .expect("rows")
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let d = data();
        assert_gradient_matches_finite_differences(&d, &[[3.0, 2.5, 12.0]]);
        assert_eq!(d.distinct_rows(), 4);
        assert_eq!(d.customers(), 5);
    }

    #[test]
    fn zero_or_negative_spend_is_a_clear_error() {
        let err = GammaGammaData::from_rows(vec![(2, Decimal::new(1000, 2)), (1, Decimal::ZERO)])
            .expect_err("zero spend");
        assert_eq!(err.field_errors()[0].field, "monetary_value");
        assert!(err.to_string().contains("row 1"), "{err}");
        assert!(GammaGammaData::from_rows(vec![(1, Decimal::new(-5, 0))]).is_err());
        assert!(GammaGammaData::from_rows(vec![(0, Decimal::new(5, 0))]).is_err());
    }

    #[test]
    fn expected_spend_shrinks_towards_the_population_mean() {
        let params = GammaGammaParams {
            p: 6.25,
            q: 3.74,
            gamma: 15.44,
        };
        let population = params.population_mean_spend().expect("q > 1");
        assert_eq!(
            params.expected_average_spend_f64(0, 100.0),
            Some(population)
        );
        let one = params.expected_average_spend_f64(1, 100.0).expect("mean");
        let many = params.expected_average_spend_f64(50, 100.0).expect("mean");
        assert!(population < one && one < many && many < 100.0);
        let no_mean = GammaGammaParams { q: 0.5, ..params };
        assert_eq!(no_mean.expected_average_spend_f64(0, 10.0), None);
    }
}
