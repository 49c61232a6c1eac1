//! The BG/BB model of Fader, Hardie and Shang (2010), "Customer-Base
//! Analysis in a Discrete-Time Noncontractual Setting" (`lifetimes`'
//! `BetaGeoBetaBinomFitter`), for discrete transaction opportunities (a
//! yearly donation, an annual event): while alive, a customer transacts at
//! each opportunity with probability p ~ Beta(α, β); at the beginning of
//! each opportunity an alive customer becomes inactive with probability
//! θ ~ Beta(γ, δ), for good.
//!
//! A history is `(x, t_x, n)`: `x` transactions in the `n` opportunities
//! after the first one, the last at opportunity `t_x` (0 when `x = 0`).
//! [`BgBbData`] compresses identical histories into weights;
//! [`BgBbModel::fit`] finds the maximum-likelihood parameters (with the
//! shared machinery of [`fit`]) and their standard errors; the
//! [`BgBbParams`] methods give P(alive), the conditional and unconditional
//! expected number of transactions and P(X(n) = x).
//!
//! # Formulas
//!
//! Per customer, the likelihood is (FHS 2010, eq. 5)
//!
//! `L = B(α+x, β+n-x)/B(α, β) · B(γ, δ+n)/B(γ, δ)
//!    + Σ_{i=0}^{n-t_x-1} B(α+x, β+t_x-x+i)/B(α, β) · B(γ+1, δ+t_x+i)/B(γ, δ)`,
//!
//! evaluated in logs (log-Beta functions, the sum through log-sum-exp) with
//! its gradient in closed form (digamma functions, each term weighted by its
//! share of the sum).

use serde::{Deserialize, Serialize};

use super::btyd::check_weight;
use super::fit::{self, FitDiagnostics, FitOptions, LogLikelihood, ParameterEstimate};
use super::special::{digamma, ln_beta, ln_gamma};
use crate::{Error, Result};

/// The four BG/BB parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BgBbParams {
    /// First shape of the Beta distribution of transaction probabilities p.
    pub alpha: f64,
    /// Second shape of the Beta distribution of transaction probabilities p.
    pub beta: f64,
    /// First shape of the Beta distribution of drop-out probabilities θ.
    pub gamma: f64,
    /// Second shape of the Beta distribution of drop-out probabilities θ.
    pub delta: f64,
}

/// One term of the likelihood sum: its log and the derivatives of its log
/// with respect to `alpha, beta, gamma, delta` (both without the common
/// `- ln B(α, β) - ln B(γ, δ)`).
type Term = (f64, [f64; 4]);

impl BgBbParams {
    /// Checks that every parameter is finite and positive.
    pub fn validate(&self) -> Result<()> {
        fit::check_positive_params(
            "BG/BB",
            &[
                ("alpha", self.alpha),
                ("beta", self.beta),
                ("gamma", self.gamma),
                ("delta", self.delta),
            ],
        )
    }

    fn from_slice(p: &[f64]) -> Self {
        Self {
            alpha: p[0],
            beta: p[1],
            gamma: p[2],
            delta: p[3],
        }
    }

    /// `ln B(α, β) + ln B(γ, δ)`, the common denominator.
    fn ln_norm(&self) -> f64 {
        ln_beta(self.alpha, self.beta) + ln_beta(self.gamma, self.delta)
    }

    /// The log of the term `B(α+x, β+b)·B(γ+g, δ+d)` and its gradient.
    fn term(&self, x: f64, b: f64, g: f64, d: f64) -> Term {
        let (ax, bb) = (self.alpha + x, self.beta + b);
        let (gg, dd) = (self.gamma + g, self.delta + d);
        let (dg_ab, dg_gd) = (digamma(ax + bb), digamma(gg + dd));
        (
            ln_beta(ax, bb) + ln_beta(gg, dd),
            [
                digamma(ax) - dg_ab,
                digamma(bb) - dg_ab,
                digamma(gg) - dg_gd,
                digamma(dd) - dg_gd,
            ],
        )
    }

    /// The terms of the likelihood sum of a (valid) history into `out`:
    /// alive through opportunity `n`, then dead from `t_x + i + 1` for
    /// `i = 0..n-t_x-1`.
    fn terms(&self, x: u32, t_x: u32, n: u32, out: &mut Vec<Term>) {
        out.clear();
        let (xf, tf, nf) = (f64::from(x), f64::from(t_x), f64::from(n));
        out.push(self.term(xf, nf - xf, 0.0, nf));
        for i in 0..n - t_x {
            let i = f64::from(i);
            out.push(self.term(xf, tf - xf + i, 1.0, tf + i));
        }
    }

    /// `ln Σ e^v` of the terms, and each term's share of the sum written
    /// into the gradient slot as the share-weighted gradient.
    fn log_sum(terms: &[Term], grad: &mut [f64; 4]) -> f64 {
        let max = terms.iter().map(|t| t.0).fold(f64::NEG_INFINITY, f64::max);
        let mut total = 0.0;
        *grad = [0.0; 4];
        for (v, d) in terms {
            let e = (v - max).exp();
            total += e;
            for (g, di) in grad.iter_mut().zip(d) {
                *g += e * di;
            }
        }
        for g in grad.iter_mut() {
            *g /= total;
        }
        max + total.ln()
    }

    /// The log-likelihood of one customer with `x` transactions in `n`
    /// opportunities, the last at opportunity `t_x` (see the module notes).
    /// NaN when the history is impossible (see [`BgBbData`]).
    pub fn customer_log_likelihood(&self, x: u32, t_x: u32, n: u32) -> f64 {
        if check_history(0, x, t_x, n).is_err() {
            return f64::NAN;
        }
        let mut terms = Vec::new();
        self.terms(x, t_x, n, &mut terms);
        Self::log_sum(&terms, &mut [0.0; 4]) - self.ln_norm()
    }

    /// Probability that a customer with history `(x, t_x, n)` is still
    /// alive `m` opportunities after the last observed one (`lifetimes`'
    /// `conditional_probability_alive(m, x, t_x, n)`):
    ///
    /// `B(α+x, β+n-x)/B(α, β) · B(γ, δ+n+m)/B(γ, δ) / L(x, t_x, n)`.
    ///
    /// `m = 1` is the paper's P(alive in period n+1) (eq. 11). With `m = 0`
    /// it is 1 when the last transaction was at the last opportunity
    /// (`t_x = n`). NaN for an impossible history.
    pub fn p_alive(&self, x: u32, t_x: u32, n: u32, m: u32) -> f64 {
        let ll = self.customer_log_likelihood(x, t_x, n);
        if ll.is_nan() {
            return f64::NAN;
        }
        let (xf, nf) = (f64::from(x), f64::from(n));
        let ln_p = ln_beta(self.alpha + xf, self.beta + nf - xf)
            + ln_beta(self.gamma, self.delta + nf + f64::from(m))
            - self.ln_norm()
            - ll;
        ln_p.exp().clamp(0.0, 1.0)
    }

    /// `Σ_{j=1}^{m} B(γ, δ+n+j)/B(γ, δ)`: the expected number of the
    /// opportunities `n+1..n+m` a new customer is alive at. The closed form
    /// `Γ(γ+δ)/Γ(δ)/(γ-1) · [Γ(δ+n+1)/Γ(γ+δ+n) - Γ(δ+n+m+1)/Γ(γ+δ+n+m)]`
    /// (FHS 2010, eqs. 9 and 13) cancels as `γ -> 1`, so short horizons and
    /// `γ` near 1 are summed term by term.
    fn alive_sum(&self, n: u32, m: u32) -> f64 {
        let (g, d, nf) = (self.gamma, self.delta, f64::from(n));
        let ln_b0 = ln_beta(g, d);
        if m <= 64 || (g - 1.0).abs() < 1e-4 {
            return (1..=m)
                .map(|j| (ln_beta(g, d + nf + f64::from(j)) - ln_b0).exp())
                .sum();
        }
        let mf = f64::from(m);
        let head = ln_gamma(g + d) - ln_gamma(d) + ln_gamma(d + nf + 1.0) - ln_gamma(g + d + nf);
        let delta =
            ln_gamma(d + nf + mf + 1.0) - ln_gamma(g + d + nf + mf) - ln_gamma(d + nf + 1.0)
                + ln_gamma(g + d + nf);
        -head.exp() * delta.exp_m1() / (g - 1.0)
    }

    /// Expected number of transactions in the next `m` opportunities of a
    /// customer with history `(x, t_x, n)` (FHS 2010, eq. 13; `lifetimes`'
    /// `conditional_expected_number_of_purchases_up_to_time`):
    ///
    /// `B(α+x+1, β+n-x)/B(α, β) · Σ_{j=1}^{m} B(γ, δ+n+j)/B(γ, δ) / L`.
    ///
    /// 0 for `m = 0`; NaN for an impossible history.
    pub fn conditional_expected_purchases(&self, x: u32, t_x: u32, n: u32, m: u32) -> f64 {
        let ll = self.customer_log_likelihood(x, t_x, n);
        if ll.is_nan() {
            return f64::NAN;
        }
        if m == 0 {
            return 0.0;
        }
        let (xf, nf) = (f64::from(x), f64::from(n));
        let ln_p =
            ln_beta(self.alpha + xf + 1.0, self.beta + nf - xf) - ln_beta(self.alpha, self.beta);
        (ln_p - ll).exp() * self.alive_sum(n, m)
    }

    /// Expected number of transactions of a new customer in their first `n`
    /// opportunities (FHS 2010, eq. 9; `lifetimes`'
    /// `expected_number_of_transactions_in_first_n_periods`):
    ///
    /// `α/(α+β) · δ/(γ-1) · [1 - Γ(γ+δ)/Γ(γ+δ+n) · Γ(1+δ+n)/Γ(1+δ)]`
    ///
    /// (summed term by term near `γ = 1`).
    pub fn expected_purchases_new_customer(&self, n: u32) -> f64 {
        self.alpha / (self.alpha + self.beta) * self.alive_sum(0, n)
    }

    /// Probability that a new customer transacts at exactly `x` of their
    /// first `n` opportunities (FHS 2010, eq. 8; `lifetimes`'
    /// `probability_of_n_purchases_up_to_time`):
    ///
    /// `C(n, x) B(α+x, β+n-x)/B(α, β) · B(γ, δ+n)/B(γ, δ)
    ///  + Σ_{i=x}^{n-1} C(i, x) B(α+x, β+i-x)/B(α, β) · B(γ+1, δ+i)/B(γ, δ)`.
    ///
    /// 0 for `x > n`.
    pub fn probability_of_purchases(&self, x: u32, n: u32) -> f64 {
        if x > n {
            return 0.0;
        }
        let (a, b, g, d) = (self.alpha, self.beta, self.gamma, self.delta);
        let xf = f64::from(x);
        let ln_choose = |k: f64| ln_gamma(k + 1.0) - ln_gamma(xf + 1.0) - ln_gamma(k - xf + 1.0);
        let ln_norm = self.ln_norm();
        let nf = f64::from(n);
        let alive =
            (ln_choose(nf) + ln_beta(a + xf, b + nf - xf) + ln_beta(g, d + nf) - ln_norm).exp();
        let dead: f64 = (x..n)
            .map(|i| {
                let i = f64::from(i);
                (ln_choose(i) + ln_beta(a + xf, b + i - xf) + ln_beta(g + 1.0, d + i) - ln_norm)
                    .exp()
            })
            .sum();
        (alive + dead).clamp(0.0, 1.0)
    }
}

/// Standard errors and 95% confidence intervals of the BG/BB parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BgBbStandardErrors {
    /// `alpha`, first shape of the transaction-probability distribution.
    pub alpha: ParameterEstimate,
    /// `beta`, second shape of the transaction-probability distribution.
    pub beta: ParameterEstimate,
    /// `gamma`, first shape of the drop-out distribution.
    pub gamma: ParameterEstimate,
    /// `delta`, second shape of the drop-out distribution.
    pub delta: ParameterEstimate,
}

/// A fitted BG/BB model: estimates, how the fit went and how precise the
/// estimates are. Predictions count opportunities, not calendar time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BgBbModel {
    /// The maximum-likelihood estimates.
    pub params: BgBbParams,
    /// Convergence, iterations, log-likelihood.
    pub diagnostics: FitDiagnostics,
    /// Standard errors and 95% intervals at the estimates; `None` when the
    /// Hessian there is not positive definite (the fit did not reach a
    /// proper maximum, e.g. a parameter ran to the edge of its range).
    #[serde(default)]
    pub standard_errors: Option<BgBbStandardErrors>,
}

impl BgBbModel {
    /// Fits the model by maximum likelihood (from all parameters 1, as
    /// `lifetimes` does) and computes the standard errors of the estimates.
    ///
    /// Errors only on unusable input (no customers, invalid options); a fit
    /// that does not converge is returned with `diagnostics.converged == false`.
    pub fn fit(data: &BgBbData, options: &FitOptions) -> Result<Self> {
        fit::check_fit_input("BG/BB", data.customers, options)?;
        let outcome = fit::fit(data, &[1.0; 4], options);
        let params = BgBbParams::from_slice(&outcome.params);
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

/// One compressed history `(x, t_x, n)` and its weight.
#[derive(Debug, Clone, Copy)]
struct BgBbRow {
    x: u32,
    t_x: u32,
    n: u32,
    weight: f64,
}

/// Customer histories `(x, t_x, n)` prepared for fitting, with identical
/// rows merged into weights (sorted by `(x, t_x, n)`, so the fit is
/// reproducible).
///
/// A history is valid when `x <= t_x <= n` and `t_x = 0` exactly when
/// `x = 0` (the last of `x` transactions cannot come before opportunity
/// `x`).
#[derive(Debug, Clone)]
pub struct BgBbData {
    rows: Vec<BgBbRow>,
    /// Sum of the weights.
    customers: f64,
}

/// Checks a history `(x, t_x, n)`; the error names the 0-based row `i`.
fn check_history(i: usize, x: u32, t_x: u32, n: u32) -> Result<()> {
    if t_x > n {
        return Err(Error::invalid(
            "recency",
            "range",
            format!("row {i}: recency must be at most the opportunities ({n}), got {t_x}"),
        ));
    }
    if x > t_x || (x == 0) != (t_x == 0) {
        return Err(Error::invalid(
            "frequency",
            "range",
            format!(
                "row {i}: frequency must be between 1 and recency ({t_x}), or 0 with recency 0, \
                 got {x}"
            ),
        ));
    }
    Ok(())
}

impl BgBbData {
    /// Histories `(frequency x, recency t_x, opportunities n, weight)`, the
    /// weight being the number of customers with that history (a finite
    /// number above 0); identical histories are merged. Errors on an
    /// invalid history or weight, naming the row.
    pub fn from_weighted_rows<I>(rows: I) -> Result<Self>
    where
        I: IntoIterator<Item = (u32, u32, u32, f64)>,
    {
        let mut raw: Vec<((u32, u32, u32), f64)> = Vec::new();
        for (i, (x, t_x, n, weight)) in rows.into_iter().enumerate() {
            check_history(i, x, t_x, n)?;
            check_weight(i, weight)?;
            raw.push(((x, t_x, n), weight));
        }
        raw.sort_unstable_by_key(|row| row.0);
        let mut out: Vec<BgBbRow> = Vec::new();
        for ((x, t_x, n), weight) in raw {
            match out.last_mut() {
                Some(last) if (last.x, last.t_x, last.n) == (x, t_x, n) => last.weight += weight,
                _ => out.push(BgBbRow { x, t_x, n, weight }),
            }
        }
        let customers = out.iter().map(|r| r.weight).sum();
        Ok(Self {
            rows: out,
            customers,
        })
    }

    /// One customer per `(x, t_x, n)` history (see
    /// [`from_weighted_rows`](Self::from_weighted_rows)).
    pub fn from_rows<I>(rows: I) -> Result<Self>
    where
        I: IntoIterator<Item = (u32, u32, u32)>,
    {
        Self::from_weighted_rows(rows.into_iter().map(|(x, t_x, n)| (x, t_x, n, 1.0)))
    }

    /// Number of customers (sum of the weights, rounded down).
    pub fn customers(&self) -> u64 {
        self.customers as u64
    }

    /// Number of distinct histories.
    pub fn distinct_rows(&self) -> usize {
        self.rows.len()
    }

    /// The total log-likelihood at `params` (no penalty).
    pub fn log_likelihood(&self, params: &BgBbParams) -> f64 {
        let mut grad = [0.0; 4];
        self.value_and_gradient(
            &[params.alpha, params.beta, params.gamma, params.delta],
            &mut grad,
        )
    }

    /// The Hessian of the fit objective (mean negative log-likelihood plus
    /// `penalty · Σ θ²`) with respect to `ln alpha, ln beta, ln gamma,
    /// ln delta` at `params`, rows and columns in that order.
    pub fn objective_hessian(&self, params: &BgBbParams, penalty: f64) -> Vec<Vec<f64>> {
        fit::objective_hessian(
            self,
            &[params.alpha, params.beta, params.gamma, params.delta],
            penalty,
        )
    }

    /// Standard errors and Wald 95% intervals of `params`, which should be
    /// the maximum of the objective with this `penalty` (0 for plain maximum
    /// likelihood), from the inverse of the Hessian of the negative
    /// log-likelihood (see [`fit::parameter_estimates`]). `None` when the
    /// Hessian is not positive definite or the result is not finite.
    pub fn standard_errors(&self, params: &BgBbParams, penalty: f64) -> Option<BgBbStandardErrors> {
        if params.validate().is_err() || self.customers <= 0.0 {
            return None;
        }
        let theta = [params.alpha, params.beta, params.gamma, params.delta];
        let [alpha, beta, gamma, delta]: [ParameterEstimate; 4] =
            fit::standard_errors(self, &theta, penalty)?
                .try_into()
                .ok()?;
        Some(BgBbStandardErrors {
            alpha,
            beta,
            gamma,
            delta,
        })
    }
}

impl LogLikelihood for BgBbData {
    const PARAMS: usize = 4;

    /// FHS (2010) eq. 5 in logs (see the module notes), with the gradient
    /// of each term from digamma functions.
    fn value_and_gradient(&self, params: &[f64], grad: &mut [f64]) -> f64 {
        let p = BgBbParams::from_slice(params);
        let (a, b, g, d) = (p.alpha, p.beta, p.gamma, p.delta);
        let ln_norm = p.ln_norm();
        let (dg_ab, dg_gd) = (digamma(a + b), digamma(g + d));
        let norm_grad = [
            digamma(a) - dg_ab,
            digamma(b) - dg_ab,
            digamma(g) - dg_gd,
            digamma(d) - dg_gd,
        ];
        let mut terms = Vec::new();
        let mut row_grad = [0.0; 4];
        let mut ll = 0.0;
        let mut total = [0.0; 4];
        for row in &self.rows {
            p.terms(row.x, row.t_x, row.n, &mut terms);
            ll += row.weight * (BgBbParams::log_sum(&terms, &mut row_grad) - ln_norm);
            for ((t, rg), ng) in total.iter_mut().zip(&row_grad).zip(&norm_grad) {
                *t += row.weight * (rg - ng);
            }
        }
        grad[..4].copy_from_slice(&total);
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
        let rows: Vec<BgBbRow> = self.rows.iter().step_by(step).copied().collect();
        let customers = rows.iter().map(|r| r.weight).sum();
        Self { rows, customers }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::btyd::testing::{
        assert_close, assert_distribution_matches_mean, assert_gradient_matches_finite_differences,
        assert_symmetric,
    };

    /// The estimates of Fader, Hardie and Shang (2010) on the donations data.
    const PUBLISHED: BgBbParams = BgBbParams {
        alpha: 1.204,
        beta: 0.750,
        gamma: 0.657,
        delta: 2.783,
    };

    /// Each standard error is finite, positive and below its estimate, with
    /// the Wald interval around the estimate.
    fn assert_usable(se: &BgBbStandardErrors) {
        for e in [se.alpha, se.beta, se.gamma, se.delta] {
            let ok = e.standard_error.is_finite()
                && e.standard_error > 0.0
                && e.standard_error < e.estimate;
            assert!(ok, "{e:?}");
            let half = ParameterEstimate::Z_975 * e.standard_error;
            assert_close("upper", e.upper_95, e.estimate + half, 1e-12);
            assert_close("lower", e.lower_95, e.estimate - half, 1e-12);
        }
    }

    fn donations() -> BgBbData {
        let csv = include_str!("../../../tests/data/donations/donations.csv");
        let rows = csv.lines().skip(1).map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            let int = |i: usize| f[i].trim().parse::<u32>().expect("integer");
            (int(0), int(1), int(2), f64::from(int(3)))
        });
        BgBbData::from_weighted_rows(rows).expect("valid rows")
    }

    #[test]
    fn bg_bb_fit_reproduces_the_published_donations_estimates() {
        let data = donations();
        assert_eq!(data.customers(), 11_104);
        assert_eq!(data.distinct_rows(), 22);
        let model = BgBbModel::fit(&data, &FitOptions::default()).expect("fit");
        let p = model.params;
        let d = &model.diagnostics;
        println!("BG/BB donations: {p:?}\n{d:?}");
        assert!(d.converged, "{d:?}");
        for (name, got, want) in [
            ("alpha", p.alpha, PUBLISHED.alpha),
            ("beta", p.beta, PUBLISHED.beta),
            ("gamma", p.gamma, PUBLISHED.gamma),
            ("delta", p.delta, PUBLISHED.delta),
        ] {
            assert_close(name, got, want, (1e-3 * want).max(0.002));
        }
        assert_close("log-likelihood", d.log_likelihood, -33_225.6, 0.1);
        assert_close(
            "log-likelihood",
            d.log_likelihood,
            data.log_likelihood(&p),
            1e-9,
        );

        let se = model.standard_errors.expect("standard errors");
        println!("BG/BB donations standard errors: {se:?}");
        assert_usable(&se);
        assert_eq!(se.alpha.estimate, p.alpha);
        assert_eq!(se.delta.estimate, p.delta);
    }

    #[test]
    fn bg_bb_gradient_matches_finite_differences() {
        let data = donations();
        assert_gradient_matches_finite_differences(
            &data,
            &[
                [1.0, 1.0, 1.0, 1.0],
                [1.204, 0.750, 0.657, 2.783],
                [0.3, 4.0, 2.5, 0.4],
                [8.0, 0.2, 0.1, 15.0],
            ],
        );
    }

    #[test]
    fn bg_bb_likelihood_matches_the_direct_formula() {
        let p = PUBLISHED;
        let beta = |a: f64, b: f64| ln_beta(a, b).exp();
        let (b_ab, b_gd) = (beta(p.alpha, p.beta), beta(p.gamma, p.delta));
        for (x, t_x, n) in [
            (0, 0, 6),
            (1, 2, 6),
            (3, 3, 5),
            (4, 6, 6),
            (0, 0, 0),
            (2, 4, 9),
        ] {
            let (xf, tf, nf) = (f64::from(x), f64::from(t_x), f64::from(n));
            let mut direct =
                beta(p.alpha + xf, p.beta + nf - xf) / b_ab * beta(p.gamma, p.delta + nf) / b_gd;
            for i in 0..(n - t_x) {
                let i = f64::from(i);
                direct += beta(p.alpha + xf, p.beta + tf - xf + i) / b_ab
                    * beta(p.gamma + 1.0, p.delta + tf + i)
                    / b_gd;
            }
            assert_close(
                "log-likelihood",
                p.customer_log_likelihood(x, t_x, n),
                direct.ln(),
                1e-12,
            );
        }
        assert_eq!(p.customer_log_likelihood(0, 0, 0), 0.0);
    }

    #[test]
    fn bg_bb_p_alive_stays_in_bounds() {
        for n in 0..12 {
            for t_x in 0..=n {
                for x in 0..=t_x {
                    if (x == 0) != (t_x == 0) {
                        continue;
                    }
                    for m in [0, 1, 5] {
                        let p = PUBLISHED.p_alive(x, t_x, n, m);
                        assert!((0.0..=1.0).contains(&p), "{x} {t_x} {n} {m}: {p}");
                    }
                    // Alive at the last opportunity when it had a transaction.
                    if t_x == n {
                        assert_close(
                            "P(alive | t_x = n)",
                            PUBLISHED.p_alive(x, n, n, 0),
                            1.0,
                            1e-12,
                        );
                    }
                }
            }
        }
        // The paper's P(alive in 2002) for 6 of 6 donations: the chance of
        // surviving one more opportunity, B(γ, δ+7)/B(γ, δ+6).
        let want = (ln_beta(PUBLISHED.gamma, PUBLISHED.delta + 7.0)
            - ln_beta(PUBLISHED.gamma, PUBLISHED.delta + 6.0))
        .exp();
        assert_close(
            "P(alive | 6, 6, 6)",
            PUBLISHED.p_alive(6, 6, 6, 1),
            want,
            1e-12,
        );
        // Silence lowers P(alive); more opportunities ahead lower it too.
        assert!(PUBLISHED.p_alive(3, 6, 6, 1) > PUBLISHED.p_alive(3, 3, 6, 1));
        assert!(PUBLISHED.p_alive(3, 3, 6, 1) < PUBLISHED.p_alive(3, 3, 6, 0));
        assert!(PUBLISHED.p_alive(3, 3, 6, 5) < PUBLISHED.p_alive(3, 3, 6, 1));
        // Impossible histories give NaN.
        assert!(PUBLISHED.p_alive(1, 7, 6, 0).is_nan());
        assert!(PUBLISHED.p_alive(3, 2, 6, 0).is_nan());
        assert!(PUBLISHED.p_alive(0, 2, 6, 0).is_nan());
        assert!(
            PUBLISHED
                .conditional_expected_purchases(0, 2, 6, 5)
                .is_nan()
        );
    }

    #[test]
    fn bg_bb_probabilities_sum_to_one_and_match_the_mean() {
        let other = BgBbParams {
            alpha: 0.4,
            beta: 3.0,
            gamma: 2.5,
            delta: 0.8,
        };
        let near_one = BgBbParams {
            gamma: 1.0,
            ..PUBLISHED
        };
        for params in [PUBLISHED, other, near_one] {
            assert_distribution_matches_mean(
                |x, n| params.probability_of_purchases(x, n as u32),
                |n| params.expected_purchases_new_customer(n as u32),
                60,
                &[0.0, 1.0, 6.0, 11.0, 50.0],
            );
        }
        assert_eq!(PUBLISHED.probability_of_purchases(0, 0), 1.0);
        assert_eq!(PUBLISHED.probability_of_purchases(7, 6), 0.0);
        assert_eq!(PUBLISHED.expected_purchases_new_customer(0), 0.0);
    }

    #[test]
    fn bg_bb_expectations_are_consistent() {
        // The closed form agrees with the term-by-term sum, on both sides of
        // gamma = 1 and at it.
        for gamma in [0.657, 0.9999, 1.0, 1.0002, 2.5] {
            let p = BgBbParams { gamma, ..PUBLISHED };
            for n in [0, 6, 40] {
                let closed = p.alive_sum(n, 200);
                let summed: f64 = (1..=200)
                    .map(|j| {
                        (ln_beta(p.gamma, p.delta + f64::from(n + j)) - ln_beta(p.gamma, p.delta))
                            .exp()
                    })
                    .sum();
                assert_close("alive sum", closed, summed, 1e-9 * summed);
            }
        }
        // A customer with no opportunities yet is a new customer.
        for m in [1, 5, 100] {
            assert_close(
                "E[X(n, n+m) | 0, 0, 0]",
                PUBLISHED.conditional_expected_purchases(0, 0, 0, m),
                PUBLISHED.expected_purchases_new_customer(m),
                1e-12,
            );
        }
        // E[X(n, n+m)] is the sum over the next m opportunities of P(alive)
        // times the posterior mean of p.
        let (x, t_x, n) = (3, 5, 6);
        let one = PUBLISHED.conditional_expected_purchases(x, t_x, n, 1);
        let mean_p = (PUBLISHED.alpha + 3.0) / (PUBLISHED.alpha + PUBLISHED.beta + 6.0);
        assert!(one < PUBLISHED.p_alive(x, t_x, n, 1) && one > 0.0);
        assert!(one <= mean_p);
        // More transactions, more recent, mean more expected transactions.
        let e = |x, t_x| PUBLISHED.conditional_expected_purchases(x, t_x, 6, 5);
        assert!(e(5, 6) > e(2, 6));
        assert!(e(3, 6) > e(3, 3));
        assert_eq!(PUBLISHED.conditional_expected_purchases(2, 5, 6, 0), 0.0);
    }

    #[test]
    fn bg_bb_standard_errors_come_from_the_hessian() {
        let data = donations();
        let h = data.objective_hessian(&PUBLISHED, 0.0);
        assert_symmetric(&h);
        let se = data
            .standard_errors(&PUBLISHED, 0.0)
            .expect("positive definite");
        assert_usable(&se);
        let invalid = BgBbParams {
            gamma: -1.0,
            ..PUBLISHED
        };
        assert!(invalid.validate().is_err());
        assert!(data.standard_errors(&invalid, 0.0).is_none());
    }

    #[test]
    fn bg_bb_rejects_inconsistent_rows_and_compresses_identical_ones() {
        assert!(BgBbData::from_rows([(1, 7, 6)]).is_err());
        assert!(BgBbData::from_rows([(3, 2, 6)]).is_err());
        assert!(BgBbData::from_rows([(0, 1, 6)]).is_err());
        assert!(BgBbData::from_weighted_rows([(1, 1, 6, 0.0)]).is_err());
        assert!(BgBbData::from_weighted_rows([(1, 1, 6, f64::NAN)]).is_err());
        let empty = BgBbData::from_rows(Vec::new()).expect("empty");
        assert!(BgBbModel::fit(&empty, &FitOptions::default()).is_err());
        let weighted =
            BgBbData::from_weighted_rows([(0, 0, 6, 2.0), (2, 4, 6, 1.0)]).expect("rows");
        let repeated = BgBbData::from_rows([(0, 0, 6), (2, 4, 6), (0, 0, 6)]).expect("rows");
        assert_eq!(repeated.distinct_rows(), 2);
        assert_eq!(repeated.customers(), 3);
        assert_close(
            "weighted",
            weighted.log_likelihood(&PUBLISHED),
            repeated.log_likelihood(&PUBLISHED),
            1e-12,
        );
    }
}
