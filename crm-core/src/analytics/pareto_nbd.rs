//! The Pareto/NBD model of Schmittlein, Morrison and Colombo (1987), "Counting
//! Your Customers: Who Are They and What Will They Do Next?", in the form of
//! Fader, Hardie and Lee (2005), "A Note on Deriving the Pareto/NBD Model and
//! Related Expressions": while alive, a customer buys as a Poisson process
//! with rate λ ~ Gamma(r, α); their lifetime is exponential with rate
//! μ ~ Gamma(s, β), independent of λ. Unlike BG/NBD, a customer can drop out
//! at any moment, not only right after a purchase.
//!
//! [`ParetoNbdData`] compresses identical `(x, t_x, T)` rows into weights;
//! [`ParetoNbdModel::fit`] finds the maximum-likelihood parameters (with the
//! shared machinery of [`fit`]) and their standard errors; the
//! [`ParetoNbdParams`] methods give P(alive), the conditional and
//! unconditional expected number of purchases and P(X(t) = n).
//!
//! All times (`recency`, `T`, `t`) are in the unit the data was summarised in
//! (see [`PeriodUnit`]); the parameters `alpha` and `beta` are in that unit too.
//!
//! # Numerics
//!
//! The likelihood needs (FHL 2005 eq. 19-20)
//!
//! `A₀ = F(t_x) - F(T)`,  `F(t) = ₂F₁(r+s+x, b; r+s+x+1; z(t)) / (M+t)^(r+s+x)`
//!
//! with `M = max(α, β)`, `m = min(α, β)`, `z(t) = (M-m)/(M+t)` and `b = s+1`
//! when `α >= β`, `b = r+x` otherwise (so that `0 <= z < 1`). Euler's
//! transformation turns the hypergeometric function into
//! `(1-z)^(1-b) · ₂F₁(1, r+s+x+1-b; r+s+x+1; z)`, a series of positive terms
//! falling at least like `z^n` with `1 - z = (m+t)/(M+t)` computed without
//! cancellation; `ln F` is assembled in logs and `ln A₀ = ln F(t_x) +
//! ln(1 - e^(ln F(T) - ln F(t_x)))`, with the difference of the logarithms
//! formed from `ln_1p` of the time gap. The gradient the optimiser needs is
//! carried through the same arithmetic by forward-mode differentiation.

use std::ops::{Add, Div, Mul, Neg, Sub};

use serde::{Deserialize, Serialize};

use super::bgnbd::{check_forecast, expected_between};
use super::btyd::{WeightedRows, check_row, weighted_rows_methods};
use super::fit::{self, FitDiagnostics, FitOptions, LogLikelihood};
use super::period::{PeriodUnit, Span};
use super::special::{digamma, ln_beta, ln_gamma, log_add_exp_share, logistic_complement};
use super::summary::CustomerSummary;
use crate::Result;

pub use super::fit::ParameterEstimate;

/// The four Pareto/NBD parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ParetoNbdParams {
    /// Shape of the Gamma distribution of purchase rates λ.
    pub r: f64,
    /// Scale of the Gamma distribution of purchase rates λ, in periods.
    pub alpha: f64,
    /// Shape of the Gamma distribution of drop-out rates μ.
    pub s: f64,
    /// Scale of the Gamma distribution of drop-out rates μ, in periods.
    pub beta: f64,
}

impl ParetoNbdParams {
    /// Checks that every parameter is finite and positive.
    pub fn validate(&self) -> Result<()> {
        fit::check_positive_params(
            "Pareto/NBD",
            &[
                ("r", self.r),
                ("alpha", self.alpha),
                ("s", self.s),
                ("beta", self.beta),
            ],
        )
    }

    /// The parameters as constant dual numbers (no derivatives).
    fn constants(&self) -> [Dual; 4] {
        [
            Dual::constant(self.r),
            Dual::constant(self.alpha),
            Dual::constant(self.s),
            Dual::constant(self.beta),
        ]
    }

    /// The log-likelihood of one customer with `frequency` repeat purchases,
    /// the last at `recency`, observed for `t_age` periods (FHL 2005 eq. 18).
    /// NaN when the history is impossible (`recency > T`, negative times).
    pub fn customer_log_likelihood(&self, frequency: u32, recency: f64, t_age: f64) -> f64 {
        if check_row(0, frequency, recency, t_age).is_err() {
            return f64::NAN;
        }
        row_log_likelihood(&self.constants(), f64::from(frequency), recency, t_age).v
    }

    /// Probability that a customer with `frequency` repeat purchases, the
    /// last at `recency`, observed for `t_age` periods, is still alive
    /// (FHL 2005 eq. 36-37):
    ///
    /// `1 / (1 + s/(r+s+x) · (α+T)^(r+x) · (β+T)^s · A₀)`.
    ///
    /// 1 when the last purchase was at `t_age` (the customer was alive
    /// then). Unlike BG/NBD, a customer without repeat purchases can be dead.
    /// NaN for an impossible history (`recency > t_age`, negative times).
    pub fn p_alive(&self, frequency: u32, recency: f64, t_age: f64) -> f64 {
        if check_row(0, frequency, recency, t_age).is_err() {
            return f64::NAN;
        }
        let [r, alpha, s, beta] = self.constants();
        let x = f64::from(frequency);
        let Some(ln_a0) = ln_a0(r, alpha, s, beta, x, recency, t_age) else {
            return 1.0;
        };
        let z = self.s.ln() - (self.r + self.s + x).ln()
            + (self.r + x) * (self.alpha + t_age).ln()
            + self.s * (self.beta + t_age).ln()
            + ln_a0.v;
        logistic_complement(z)
    }

    /// `[1 - (base/(base+t))^(s-1)] / (s-1)`, exact as `s -> 1` (where it
    /// is `ln(1 + t/base)`) and for tiny `t`.
    fn lifetime_growth(&self, base: f64, t: f64) -> f64 {
        if t <= 0.0 {
            return 0.0;
        }
        let ln_u = -(t / base).ln_1p();
        let sm1 = self.s - 1.0;
        if sm1 == 0.0 {
            -ln_u
        } else {
            -(sm1 * ln_u).exp_m1() / sm1
        }
    }

    /// Expected number of purchases in the next `t` periods of a customer
    /// with this history (FHL 2005 eq. 41): E\[Y(t) | x, t_x, T\] =
    /// P(alive) · (r+x)(β+T) / ((α+T)(s-1)) · \[1 - ((β+T)/(β+T+t))^(s-1)\].
    /// NaN for an impossible history.
    pub fn conditional_expected_purchases(
        &self,
        frequency: u32,
        recency: f64,
        t_age: f64,
        t: f64,
    ) -> f64 {
        if t <= 0.0 {
            return 0.0;
        }
        let x = f64::from(frequency);
        let p_alive = self.p_alive(frequency, recency, t_age);
        p_alive * (self.r + x) * (self.beta + t_age) / (self.alpha + t_age)
            * self.lifetime_growth(self.beta + t_age, t)
    }

    /// Expected number of repeat purchases of a new customer in their first
    /// `t` periods (FHL 2005 eq. 27): E\[X(t)\] = rβ / (α(s-1)) ·
    /// \[1 - (β/(β+t))^(s-1)\].
    pub fn expected_purchases_new_customer(&self, t: f64) -> f64 {
        if t <= 0.0 {
            return 0.0;
        }
        self.r * self.beta / self.alpha * self.lifetime_growth(self.beta, t)
    }

    /// Probability that a new customer makes exactly `n` repeat purchases in
    /// their first `t` periods: P(X(t) = n) (FHL 2005, section 4; the
    /// `x = t_x = T = 0` case of the conditional PMF of Fader and Hardie's
    /// note 028, as in `lifetimes`). The first part is the probability of
    /// `n` purchases while alive through `t`, the second that of `n`
    /// purchases and death before `t`:
    ///
    /// `Γ(r+n)/(Γ(r) n!) (α/(α+t))^r (t/(α+t))^n (β/(β+t))^s
    ///  + α^r β^s B(r+n, s+1)/B(r, s) · [B₂ - Σ_{i=0..n} t^i/i! · B₃(i)]`.
    ///
    /// The bracket is a difference, accurate in absolute terms (about
    /// 1e-15), not relative terms, for very unlikely counts; the result is
    /// clamped to \[0, 1\]. NaN when `t` is not finite.
    pub fn probability_of_purchases(&self, n: u32, t: f64) -> f64 {
        if !t.is_finite() {
            return f64::NAN;
        }
        if t <= 0.0 {
            return if n == 0 { 1.0 } else { 0.0 };
        }
        let (r, alpha, s, beta) = (self.r, self.alpha, self.s, self.beta);
        let nf = f64::from(n);
        let alive = (ln_gamma(r + nf) - ln_gamma(r) - ln_gamma(nf + 1.0) - r * (t / alpha).ln_1p()
            + nf * (t / (alpha + t)).ln()
            - s * (t / beta).ln_1p())
        .exp();
        // The drop-out part, with (M, m, b) chosen so that 0 <= z < 1.
        let (big, small, b) = if alpha >= beta {
            (alpha, beta, s + 1.0)
        } else {
            (beta, alpha, r + nf)
        };
        let d = big - small;
        let rs = r + s;
        let c = rs + nf + 1.0;
        let common =
            r * alpha.ln() + s * beta.ln() + ln_beta(r + nf, s + 1.0) - ln_gamma(r) - ln_gamma(s);
        let b2 =
            (common + ln_gamma(rs) + ln_hyp2f1_positive(rs, b, c, d / big) - rs * big.ln()).exp();
        let ln_t = t.ln();
        let ln_big_t = (big + t).ln();
        let z_t = d / (big + t);
        let b3: f64 = (0..=n)
            .map(|i| {
                let i = f64::from(i);
                (common + i * ln_t - ln_gamma(i + 1.0)
                    + ln_gamma(rs + i)
                    + ln_hyp2f1_positive(rs + i, b, c, z_t)
                    - (rs + i) * ln_big_t)
                    .exp()
            })
            .sum();
        let p = alive + (b2 - b3);
        if p.is_nan() { p } else { p.clamp(0.0, 1.0) }
    }
}

/// Forecasts over future dates (additive to the methods above).
impl ParetoNbdParams {
    /// Probability that a customer with `frequency` repeat purchases, the
    /// last at `recency`, observed for `t_age` periods, is still alive
    /// `future_t` periods after the end of observation, whatever they buy in
    /// between (pymc-marketing's
    /// `ParetoNbdModel.expected_probability_alive(future_t)`, after Fader
    /// and Hardie's "Additional Results for the Pareto/NBD Model"): given
    /// alive at `T`, the drop-out rate is μ ~ Gamma(s, β+T), so
    ///
    /// `P(alive at T+t) = P(alive at T) · ((β+T)/(β+T+t))^s`.
    ///
    /// Equal to [`p_alive`](Self::p_alive) at `future_t = 0` and
    /// non-increasing in `future_t`. Errors name every bad argument
    /// (`recency`, `T`, `future_t`) or parameter.
    pub fn p_alive_at(
        &self,
        frequency: u32,
        recency: f64,
        t_age: f64,
        future_t: f64,
    ) -> Result<f64> {
        check_forecast(
            self.validate(),
            frequency,
            recency,
            t_age,
            &[("future_t", future_t)],
        )?;
        let survival = (-self.s * (future_t / (self.beta + t_age)).ln_1p()).exp();
        Ok(self.p_alive(frequency, recency, t_age) * survival)
    }

    /// Expected number of purchases between `t1` and `t2` periods after the
    /// end of observation (`0 <= t1 <= t2`) of a customer with this history:
    /// `E[Y(t2) | x, t_x, T] - E[Y(t1) | x, t_x, T]` (see
    /// [`conditional_expected_purchases`](Self::conditional_expected_purchases)).
    /// Errors name every bad argument (`recency`, `T`, `t1`, `t2`) or
    /// parameter.
    pub fn expected_purchases_between(
        &self,
        frequency: u32,
        recency: f64,
        t_age: f64,
        t1: f64,
        t2: f64,
    ) -> Result<f64> {
        expected_between(
            self.validate(),
            (frequency, recency, t_age),
            (t1, t2),
            |t| self.conditional_expected_purchases(frequency, recency, t_age, t),
        )
    }
}

/// Standard errors and 95% confidence intervals of the Pareto/NBD
/// parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ParetoNbdStandardErrors {
    /// `r`, shape of the purchase-rate distribution.
    pub r: ParameterEstimate,
    /// `alpha`, scale of the purchase-rate distribution.
    pub alpha: ParameterEstimate,
    /// `s`, shape of the drop-out-rate distribution.
    pub s: ParameterEstimate,
    /// `beta`, scale of the drop-out-rate distribution.
    pub beta: ParameterEstimate,
}

/// A fitted Pareto/NBD model: estimates, the unit they are in, how the fit
/// went and how precise the estimates are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ParetoNbdModel {
    /// The maximum-likelihood estimates.
    pub params: ParetoNbdParams,
    /// The time unit of the data, of `alpha`, `beta` and of every prediction.
    pub unit: PeriodUnit,
    /// Convergence, iterations, log-likelihood.
    pub diagnostics: FitDiagnostics,
    /// Standard errors and 95% intervals at the estimates; `None` when the
    /// Hessian there is not positive definite (the fit did not reach a
    /// proper maximum, e.g. a parameter ran to the edge of its range).
    #[serde(default)]
    pub standard_errors: Option<ParetoNbdStandardErrors>,
}

impl ParetoNbdModel {
    /// Fits the model by maximum likelihood and computes the standard errors
    /// of the estimates.
    ///
    /// Errors only on unusable input (no customers, invalid options); a fit
    /// that does not converge is returned with `diagnostics.converged == false`.
    pub fn fit(data: &ParetoNbdData, options: &FitOptions) -> Result<Self> {
        fit::check_fit_input("Pareto/NBD", data.base.customers, options)?;
        // Starting point of the reference library (all ones after scaling
        // time so the longest T is 10), which keeps alpha and beta near the
        // data's scale.
        let scale = (data.base.max_t / 10.0).max(1e-6);
        let start = [1.0, scale, 1.0, scale];
        let outcome = fit::fit(data, &start, options);
        let p = &outcome.params;
        let params = ParetoNbdParams {
            r: p[0],
            alpha: p[1],
            s: p[2],
            beta: p[3],
        };
        let standard_errors = options
            .standard_errors
            .then(|| data.standard_errors(&params, options.penalty))
            .flatten();
        Ok(Self {
            params,
            unit: data.base.unit,
            diagnostics: outcome.diagnostics,
            standard_errors,
        })
    }

    /// A span (e.g. 90 days) in this model's unit.
    pub fn periods(&self, span: Span) -> f64 {
        span.in_unit(self.unit)
    }
}

/// Customer histories `(x, t_x, T)` prepared for fitting, with identical
/// rows merged into weights.
#[derive(Debug, Clone)]
pub struct ParetoNbdData {
    base: WeightedRows,
}

weighted_rows_methods!(ParetoNbdData);

impl ParetoNbdData {
    /// The total log-likelihood at `params` (no penalty).
    pub fn log_likelihood(&self, params: &ParetoNbdParams) -> f64 {
        let mut grad = [0.0; 4];
        self.value_and_gradient(&[params.r, params.alpha, params.s, params.beta], &mut grad)
    }

    /// The Hessian of the fit objective (mean negative log-likelihood plus
    /// `penalty · Σ θ²`) with respect to `ln r, ln alpha, ln s, ln beta` at
    /// `params`. Rows and columns are in the order `r, alpha, s, beta`.
    pub fn objective_hessian(&self, params: &ParetoNbdParams, penalty: f64) -> Vec<Vec<f64>> {
        fit::objective_hessian(
            self,
            &[params.r, params.alpha, params.s, params.beta],
            penalty,
        )
    }

    /// Standard errors and Wald 95% intervals of `params`, which should be
    /// the maximum of the objective with this `penalty` (0 for plain maximum
    /// likelihood): the inverse of the Hessian of the negative (penalised)
    /// log-likelihood, on the log scale from
    /// [`objective_hessian`](Self::objective_hessian) times the number of
    /// customers, taken to the natural scale (exact at a maximum, where the
    /// gradient vanishes: `Var θᵢ = θᵢ² · Var ln θᵢ`). `None` when the
    /// Hessian is not positive definite or the result is not finite.
    pub fn standard_errors(
        &self,
        params: &ParetoNbdParams,
        penalty: f64,
    ) -> Option<ParetoNbdStandardErrors> {
        if params.validate().is_err() || self.base.customers <= 0.0 {
            return None;
        }
        let theta = [params.r, params.alpha, params.s, params.beta];
        let [r, alpha, s, beta]: [ParameterEstimate; 4] =
            fit::standard_errors(self, &theta, penalty)?
                .try_into()
                .ok()?;
        Some(ParetoNbdStandardErrors { r, alpha, s, beta })
    }
}

impl LogLikelihood for ParetoNbdData {
    const PARAMS: usize = 4;

    /// FHL (2005) eq. 18, in logs, per customer:
    ///
    /// `ln Γ(r+x) - ln Γ(r) + r ln α + s ln β + ln[(α+T)^-(r+x) (β+T)^-s + s/(r+s+x) · A₀]`
    ///
    /// with the gradient by forward-mode differentiation.
    fn value_and_gradient(&self, params: &[f64], grad: &mut [f64]) -> f64 {
        let theta = [
            Dual::variable(params[0], 0),
            Dual::variable(params[1], 1),
            Dual::variable(params[2], 2),
            Dual::variable(params[3], 3),
        ];
        let mut total = Dual::constant(0.0);
        for row in &self.base.rows {
            let ll = row_log_likelihood(&theta, f64::from(row.x), row.recency, row.t_age);
            total = total + ll * row.weight;
        }
        grad[..4].copy_from_slice(&total.d);
        total.v
    }

    fn total_weight(&self) -> f64 {
        self.base.customers
    }

    fn distinct_rows(&self) -> usize {
        ParetoNbdData::distinct_rows(self)
    }

    fn sample(&self, rows: usize) -> Self {
        self.sample_rows(rows)
    }
}

/// The log-likelihood of one customer (FHL 2005 eq. 18) as a dual number.
fn row_log_likelihood(theta: &[Dual; 4], x: f64, recency: f64, t_age: f64) -> Dual {
    let [r, alpha, s, beta] = *theta;
    let rx = r + x;
    let head = rx.ln_gamma() - r.ln_gamma() + r * alpha.ln() + s * beta.ln();
    let alive = -(rx * (alpha + t_age).ln()) - s * (beta + t_age).ln();
    match ln_a0(r, alpha, s, beta, x, recency, t_age) {
        Some(ln_a0) => {
            let dead = s.ln() - (r + s + x).ln() + ln_a0;
            head + log_add_exp(alive, dead)
        }
        None => head + alive,
    }
}

/// `ln A₀` (FHL 2005 eq. 19-20; `lifetimes`' `_log_A_0`), or `None` when
/// `A₀` is 0 (`t_x = T`) or lost to rounding; NaN when a series does not
/// converge (or the parameters are invalid). See the module notes.
fn ln_a0(
    r: Dual,
    alpha: Dual,
    s: Dual,
    beta: Dual,
    x: f64,
    recency: f64,
    t_age: f64,
) -> Option<Dual> {
    let gap = t_age - recency;
    if gap <= 0.0 {
        return None;
    }
    let a = r + s + x;
    // (M, m, b, B): B = a + 1 - b is the second parameter after Euler's
    // transformation.
    let (big, small, b, big_b) = if alpha.v >= beta.v {
        (alpha, beta, s + 1.0, r + x)
    } else {
        (beta, alpha, r + x, s + 1.0)
    };
    let c = a + 1.0;
    let d = big - small;
    let big_rec = big + recency;
    let small_rec = small + recency;
    let one_minus_b = -(b - 1.0);
    let ln_s_rec = ln_unit_series(big_b, c, d / big_rec);
    let ln_s_age = ln_unit_series(big_b, c, d / (big + t_age));
    let ln_f_rec = -(a * big_rec.ln()) + one_minus_b * (small_rec.ln() - big_rec.ln()) + ln_s_rec;
    let ln1p_big = (gap / big_rec).ln_1p();
    let ln1p_small = (gap / small_rec).ln_1p();
    let delta = -(a * ln1p_big) + one_minus_b * (ln1p_small - ln1p_big) + (ln_s_age - ln_s_rec);
    if delta.v.is_nan() || ln_f_rec.v.is_nan() {
        return Some(Dual::constant(f64::NAN));
    }
    if delta.v >= 0.0 {
        return None;
    }
    Some(ln_f_rec + delta.ln_neg_exp_m1())
}

/// Most terms a hypergeometric series sums before giving up; reached only
/// for `z` within about 1e-4 of 1 (one rate scale thousands of times the
/// other), where the likelihood reports NaN and the optimiser steps back.
const MAX_SERIES_TERMS: usize = 400_000;

/// `ln ₂F₁(1, B; C; z)` for `0 < B < C`, `0 <= z < 1`: a series of positive
/// terms whose ratios `(B+n)/(C+n) · z` stay below `z`. NaN if it does not
/// converge within [`MAX_SERIES_TERMS`] terms or `z` is out of range.
fn ln_unit_series(big_b: Dual, c: Dual, z: Dual) -> Dual {
    if !(z.v >= 0.0 && z.v < 1.0) {
        return Dual::constant(f64::NAN);
    }
    if z.v == 0.0 {
        return Dual::constant(0.0) + z * (big_b / c);
    }
    let mut term = Dual::constant(1.0);
    let mut sum = term;
    let tail_factor = z.v / (1.0 - z.v);
    for n in 0..MAX_SERIES_TERMS {
        let n = n as f64;
        term = term * ((big_b + n) / (c + n)) * z;
        sum = sum + term;
        if term.v * tail_factor <= 1e-17 * sum.v || term.v == 0.0 {
            return sum.ln();
        }
    }
    Dual::constant(f64::NAN)
}

/// `ln ₂F₁(a, b; c; z)` for `a, b, c > 0`, `0 <= z < 1`, with `c - a > 0`
/// and `c - b > 0` when `a + b > c` (then Euler's transformation
/// `(1-z)^(c-a-b) ₂F₁(c-a, c-b; c; z)` is summed, whose terms fall faster).
/// NaN if the series does not converge within [`MAX_SERIES_TERMS`] terms.
fn ln_hyp2f1_positive(a: f64, b: f64, c: f64, z: f64) -> f64 {
    if !(0.0..1.0).contains(&z) {
        return f64::NAN;
    }
    if z == 0.0 {
        return 0.0;
    }
    let (pa, pb, prefix) = if a + b > c {
        (c - a, c - b, (c - a - b) * (-z).ln_1p())
    } else {
        (a, b, 0.0)
    };
    let mut term = 1.0;
    let mut sum = 1.0;
    for n in 0..MAX_SERIES_TERMS {
        let n = n as f64;
        let ratio = (pa + n) * (pb + n) / ((c + n) * (n + 1.0));
        term *= ratio * z;
        sum += term;
        // Once the ratios fall below 1 they tend to z from wherever they
        // are: the tail is below term·rho/(1-rho) with rho = z·max(ratio, 1).
        let rho = z * ratio.max(1.0);
        if term == 0.0 || (rho < 1.0 && term * rho / (1.0 - rho) <= 1e-17 * sum) {
            return prefix + sum.ln();
        }
    }
    f64::NAN
}

/// `ln(e^u + e^v)` of dual numbers.
fn log_add_exp(u: Dual, v: Dual) -> Dual {
    let (lse, share_v) = log_add_exp_share(u.v, v.v);
    let share_u = 1.0 - share_v;
    let mut d = [0.0; 4];
    for (k, dk) in d.iter_mut().enumerate() {
        *dk = share_u * u.d[k] + share_v * v.d[k];
    }
    Dual { v: lse, d }
}

/// A number with its gradient with respect to the four parameters
/// (forward-mode automatic differentiation).
#[derive(Debug, Clone, Copy)]
struct Dual {
    v: f64,
    d: [f64; 4],
}

impl Dual {
    fn constant(v: f64) -> Self {
        Self { v, d: [0.0; 4] }
    }

    fn variable(v: f64, i: usize) -> Self {
        let mut d = [0.0; 4];
        d[i] = 1.0;
        Self { v, d }
    }

    /// `f(self)` given `f` and `f'` at `self.v`.
    fn chain(self, value: f64, slope: f64) -> Self {
        Self {
            v: value,
            d: self.d.map(|g| g * slope),
        }
    }

    fn ln(self) -> Self {
        self.chain(self.v.ln(), 1.0 / self.v)
    }

    fn ln_1p(self) -> Self {
        self.chain(self.v.ln_1p(), 1.0 / (1.0 + self.v))
    }

    fn ln_gamma(self) -> Self {
        self.chain(ln_gamma(self.v), digamma(self.v))
    }

    /// `ln(1 - e^self)` for `self < 0`.
    fn ln_neg_exp_m1(self) -> Self {
        self.chain((-self.v.exp_m1()).ln(), -1.0 / (-self.v).exp_m1())
    }
}

impl Add for Dual {
    type Output = Self;
    fn add(self, o: Self) -> Self {
        let mut d = self.d;
        for (a, b) in d.iter_mut().zip(o.d) {
            *a += b;
        }
        Self { v: self.v + o.v, d }
    }
}

impl Sub for Dual {
    type Output = Self;
    fn sub(self, o: Self) -> Self {
        self + (-o)
    }
}

impl Neg for Dual {
    type Output = Self;
    fn neg(self) -> Self {
        Self {
            v: -self.v,
            d: self.d.map(|g| -g),
        }
    }
}

impl Mul for Dual {
    type Output = Self;
    fn mul(self, o: Self) -> Self {
        let mut d = [0.0; 4];
        for (k, dk) in d.iter_mut().enumerate() {
            *dk = self.d[k] * o.v + o.d[k] * self.v;
        }
        Self { v: self.v * o.v, d }
    }
}

impl Div for Dual {
    type Output = Self;
    fn div(self, o: Self) -> Self {
        let v = self.v / o.v;
        let mut d = [0.0; 4];
        for (k, dk) in d.iter_mut().enumerate() {
            *dk = (self.d[k] - v * o.d[k]) / o.v;
        }
        Self { v, d }
    }
}

impl Add<f64> for Dual {
    type Output = Self;
    fn add(self, o: f64) -> Self {
        Self {
            v: self.v + o,
            d: self.d,
        }
    }
}

impl Sub<f64> for Dual {
    type Output = Self;
    fn sub(self, o: f64) -> Self {
        self + (-o)
    }
}

impl Mul<f64> for Dual {
    type Output = Self;
    fn mul(self, o: f64) -> Self {
        Self {
            v: self.v * o,
            d: self.d.map(|g| g * o),
        }
    }
}

impl Div<Dual> for f64 {
    type Output = Dual;
    fn div(self, o: Dual) -> Dual {
        Dual::constant(self) / o
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::btyd::testing::{
        SAMPLE_ROWS, assert_close, assert_distribution_matches_mean,
        assert_gradient_matches_finite_differences, assert_symmetric, cdnow_rows,
    };

    /// The published estimates (FHL 2005 note; BTYD walkthrough).
    const PUBLISHED: ParetoNbdParams = ParetoNbdParams {
        r: 0.553,
        alpha: 10.578,
        s: 0.606,
        beta: 11.669,
    };

    fn cdnow() -> ParetoNbdData {
        ParetoNbdData::from_rows(PeriodUnit::Week, cdnow_rows()).expect("valid rows")
    }

    fn sample_data() -> ParetoNbdData {
        ParetoNbdData::from_rows(PeriodUnit::Week, SAMPLE_ROWS).expect("valid rows")
    }

    #[test]
    fn pareto_gradient_matches_finite_differences() {
        let data = sample_data();
        // alpha > beta, alpha < beta and alpha = beta.
        // alpha > beta, alpha < beta, alpha = beta, and rate scales far apart
        // (z close to 1, the slow end of the series).
        assert_gradient_matches_finite_differences(
            &data,
            &[
                [0.5, 3.0, 0.8, 2.5],
                [0.5, 2.0, 0.8, 7.5],
                [1.5, 4.0, 0.3, 4.0],
                [0.5, 0.01, 0.8, 20.0],
                [2.0, 30.0, 1.2, 0.005],
            ],
        );
    }

    #[test]
    fn pareto_likelihood_is_continuous_across_alpha_equal_beta() {
        let data = sample_data();
        let at = |alpha: f64| {
            data.log_likelihood(&ParetoNbdParams {
                r: 0.6,
                alpha,
                s: 0.7,
                beta: 5.0,
            })
        };
        let (below, equal, above) = (at(5.0 - 1e-9), at(5.0), at(5.0 + 1e-9));
        assert!((below - equal).abs() < 1e-7, "{below} vs {equal}");
        assert!((above - equal).abs() < 1e-7, "{above} vs {equal}");
    }

    #[test]
    fn pareto_likelihood_matches_numerical_integration() {
        // L = Γ(r+x) α^r β^s / Γ(r) · [(α+T)^-(r+x) (β+T)^-s
        //     + s ∫_{t_x}^T (α+τ)^-(r+x) (β+τ)^-(s+1) dτ].
        let p = ParetoNbdParams {
            r: 0.7,
            alpha: 3.0,
            s: 1.3,
            beta: 8.0,
        };
        for (x, t_x, t_age) in [(0u32, 0.0, 20.0), (3, 5.0, 30.0), (1, 2.0, 4.0)] {
            for q in [p, ParetoNbdParams { alpha: 12.0, ..p }] {
                let xf = f64::from(x);
                let f = |tau: f64| {
                    (q.alpha + tau).powf(-(q.r + xf)) * (q.beta + tau).powf(-(q.s + 1.0))
                };
                // Composite Simpson.
                let steps = 20_000;
                let h = (t_age - t_x) / f64::from(steps);
                let mut integral = f(t_x) + f(t_age);
                for k in 1..steps {
                    let w = if k % 2 == 1 { 4.0 } else { 2.0 };
                    integral += w * f(t_x + f64::from(k) * h);
                }
                integral *= h / 3.0;
                let want =
                    (ln_gamma(q.r + xf) - ln_gamma(q.r) + q.r * q.alpha.ln() + q.s * q.beta.ln())
                        + ((q.alpha + t_age).powf(-(q.r + xf)) * (q.beta + t_age).powf(-q.s)
                            + q.s * integral)
                            .ln();
                let got = q.customer_log_likelihood(x, t_x, t_age);
                assert_close("log-likelihood", got, want, 1e-9);
            }
        }
    }

    #[test]
    fn pareto_fit_reproduces_the_published_cdnow_estimates() {
        let data = cdnow();
        let model = ParetoNbdModel::fit(&data, &FitOptions::default()).expect("fit");
        let p = model.params;
        let d = &model.diagnostics;
        println!(
            "Pareto/NBD CDNOW: r {:.6} alpha {:.6} s {:.6} beta {:.6} LL {:.4} \
             converged {} iterations {} evaluations {} gradient {:.2e}",
            p.r,
            p.alpha,
            p.s,
            p.beta,
            d.log_likelihood,
            d.converged,
            d.iterations,
            d.evaluations,
            d.gradient_norm
        );
        assert!(d.converged, "{d:?}");
        for (name, got, want) in [
            ("r", p.r, PUBLISHED.r),
            ("alpha", p.alpha, PUBLISHED.alpha),
            ("s", p.s, PUBLISHED.s),
            ("beta", p.beta, PUBLISHED.beta),
        ] {
            assert_close(name, got, want, (1e-3 * want).max(0.002));
        }
        assert_close("log-likelihood", d.log_likelihood, -9595.0, 0.1);

        // Standard errors: finite, positive, and the intervals cover the
        // estimates.
        let se = model.standard_errors.expect("standard errors");
        println!("Pareto/NBD CDNOW standard errors: {se:?}");
        for e in [se.r, se.alpha, se.s, se.beta] {
            assert!(
                e.standard_error.is_finite() && e.standard_error > 0.0,
                "{e:?}"
            );
            assert!(e.lower_95 < e.estimate && e.estimate < e.upper_95, "{e:?}");
            // Not absurdly large on 2,357 customers.
            assert!(e.standard_error < e.estimate, "{e:?}");
        }
        assert_eq!(se.r.estimate, p.r);
        assert_eq!(se.beta.estimate, p.beta);
        // The Hessian behind them agrees with a second difference of the
        // log-likelihood itself (along ln beta, the flattest direction).
        let h = data.objective_hessian(&p, 0.0);
        let n = data.customers() as f64;
        let cost = |e: f64| {
            -data.log_likelihood(&ParetoNbdParams {
                beta: p.beta * e.exp(),
                ..p
            }) / n
        };
        let e = 1e-3;
        let second = (cost(e) - 2.0 * cost(0.0) + cost(-e)) / (e * e);
        assert!(
            (second - h[3][3]).abs() < 1e-3 * h[3][3].abs(),
            "{second} vs {}",
            h[3][3]
        );
        // SE of ln beta from the diagonal alone is a lower bound of the full one.
        assert!(se.beta.standard_error >= p.beta / (n * h[3][3]).sqrt() * (1.0 - 1e-9));

        // The fitted model reproduces the BTYD walkthrough's conditional
        // expectation (x = 26, t_x = 30.86, T = 31, t = 52: 25.46).
        let e = p.conditional_expected_purchases(26, 30.86, 31.0, 52.0);
        assert_close("E[Y(52)]", e, 25.46, 0.01);
    }

    #[test]
    fn pareto_fit_recovers_simulated_parameters_within_their_standard_errors() {
        use rand::{Rng, SeedableRng};
        use rand_distr::{Distribution, Gamma};
        use rand_xoshiro::Xoshiro256PlusPlus;

        let truth = ParetoNbdParams {
            r: 0.8,
            alpha: 8.0,
            s: 0.7,
            beta: 15.0,
        };
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(20_051_105);
        let lambda = Gamma::new(truth.r, 1.0 / truth.alpha).expect("gamma");
        let mu = Gamma::new(truth.s, 1.0 / truth.beta).expect("gamma");
        let rows: Vec<(u32, f64, f64)> = (0..4000)
            .map(|i| {
                let t_age = 26.0 + f64::from(i % 27);
                let (l, m) = (lambda.sample(&mut rng), mu.sample(&mut rng));
                let death = -(1.0 - rng.random::<f64>()).ln() / m;
                let end = death.min(t_age);
                let (mut x, mut last, mut clock) = (0u32, 0.0, 0.0);
                loop {
                    clock += -(1.0 - rng.random::<f64>()).ln() / l;
                    if clock > end {
                        break;
                    }
                    x += 1;
                    last = clock;
                }
                (x, last, t_age)
            })
            .collect();
        let data = ParetoNbdData::from_rows(PeriodUnit::Week, rows).expect("rows");
        let model = ParetoNbdModel::fit(&data, &FitOptions::default()).expect("fit");
        assert!(model.diagnostics.converged, "{:?}", model.diagnostics);
        let se = model.standard_errors.expect("standard errors");
        println!("Pareto/NBD simulated (truth {truth:?}): {se:?}");
        for (name, e, want) in [
            ("r", se.r, truth.r),
            ("alpha", se.alpha, truth.alpha),
            ("s", se.s, truth.s),
            ("beta", se.beta, truth.beta),
        ] {
            assert!(
                (e.estimate - want).abs() < 3.5 * e.standard_error,
                "{name}: {e:?}, true {want}"
            );
        }
    }

    #[test]
    fn pareto_p_alive_matches_btyd_and_stays_in_bounds() {
        // BTYD walkthrough, page 8 (also a `lifetimes` test).
        let btyd = ParetoNbdParams {
            r: 0.5534,
            alpha: 10.5802,
            s: 0.6061,
            beta: 11.6562,
        };
        assert_close("P(alive)", btyd.p_alive(26, 30.86, 31.0), 0.9979, 0.001);
        // Bounds over a grid (the `lifetimes` test), and 1 right after a purchase.
        for x in (0..100).step_by(10) {
            for t_x in (0..100).step_by(10) {
                for t_age in (t_x..100).step_by(10) {
                    let t_x = if x == 0 { 0.0 } else { f64::from(t_x) };
                    let p = btyd.p_alive(x, t_x, f64::from(t_age));
                    assert!((0.0..=1.0).contains(&p), "{x} {t_x} {t_age}: {p}");
                }
            }
        }
        assert_eq!(btyd.p_alive(3, 20.0, 20.0), 1.0);
        // Silence lowers P(alive); so does a long history without purchases.
        assert!(btyd.p_alive(3, 29.0, 30.0) > btyd.p_alive(3, 5.0, 30.0));
        assert!(btyd.p_alive(0, 0.0, 5.0) > btyd.p_alive(0, 0.0, 50.0));
        assert!(btyd.p_alive(0, 0.0, 50.0) < 1.0);
        // The `lifetimes` overflow case: alpha tiny next to beta, many purchases.
        let extreme = ParetoNbdParams {
            r: 10.465,
            alpha: 7.985_651_81e-3,
            s: 3.0516,
            beta: 2.820,
        };
        for (x, t_x, t_age) in [(40, 5.0, 6.0), (50, 1.0, 37.0), (50, 4.0, 37.0)] {
            let p = extreme.p_alive(x, t_x, t_age);
            assert!(p.is_finite() && (0.0..=1.0).contains(&p), "{p}");
        }
        // Impossible histories give NaN, not a panic.
        assert!(btyd.p_alive(1, 5.0, 4.0).is_nan());
    }

    #[test]
    fn pareto_conditional_expectation_has_no_underflow() {
        // The `lifetimes` underflow test: neighbouring inputs, close results.
        let p = ParetoNbdParams {
            r: 0.55,
            alpha: 10.58,
            s: 0.61,
            beta: 11.67,
        };
        let left = p.conditional_expected_purchases(132, 200.0, 200.0, 10.0);
        let right = p.conditional_expected_purchases(133, 200.0, 200.0, 10.0);
        assert!(left.is_finite() && right.is_finite());
        assert!((left - right).abs() < 0.05, "{left} vs {right}");
        // s = 1 is the limit of the general formula.
        let one = ParetoNbdParams { s: 1.0, ..p };
        let near = ParetoNbdParams { s: 1.0 + 1e-9, ..p };
        let (a, b) = (
            one.expected_purchases_new_customer(39.0),
            near.expected_purchases_new_customer(39.0),
        );
        assert!((a - b).abs() < 1e-7, "{a} vs {b}");
    }

    #[test]
    fn pareto_probabilities_sum_to_one_and_match_the_mean() {
        let other = ParetoNbdParams {
            alpha: 15.0,
            beta: 4.0,
            ..PUBLISHED
        };
        for params in [PUBLISHED, other] {
            assert_distribution_matches_mean(
                |n, t| params.probability_of_purchases(n, t),
                |t| params.expected_purchases_new_customer(t),
                300,
                &[0.5, 1.0, 5.0, 39.0],
            );
        }
        assert_eq!(PUBLISHED.probability_of_purchases(0, 0.0), 1.0);
        assert_eq!(PUBLISHED.probability_of_purchases(2, 0.0), 0.0);
    }

    #[test]
    fn pareto_standard_errors_come_from_the_hessian() {
        let data = sample_data();
        let h = data.objective_hessian(&PUBLISHED, 0.0);
        assert_symmetric(&h);
        // On the sample data the standard errors exist at a point near the
        // optimum (the Hessian there is positive definite) or are refused,
        // never NaN.
        let fitted = ParetoNbdModel::fit(&data, &FitOptions::default()).expect("fit");
        if let Some(se) = fitted.standard_errors {
            for e in [se.r, se.alpha, se.s, se.beta] {
                assert!(
                    e.standard_error.is_finite() && e.standard_error > 0.0,
                    "{e:?}"
                );
            }
        }
    }

    #[test]
    fn pareto_rejects_inconsistent_rows_and_compresses_identical_ones() {
        let data = sample_data();
        assert_eq!(data.customers(), 7);
        assert_eq!(data.distinct_rows(), 6);
        assert_eq!(data.repeat_customers(), 5);
        assert!(ParetoNbdData::from_rows(PeriodUnit::Week, vec![(1, 5.0, 4.0)]).is_err());
        assert!(ParetoNbdData::from_rows(PeriodUnit::Week, vec![(0, 1.0, 4.0)]).is_err());
        assert!(ParetoNbdData::from_weighted_rows(PeriodUnit::Week, [(1, 1.0, 2.0, 0.0)]).is_err());
        let empty = ParetoNbdData::from_rows(PeriodUnit::Week, Vec::new()).expect("empty");
        assert!(ParetoNbdModel::fit(&empty, &FitOptions::default()).is_err());
    }

    #[test]
    fn pareto_p_alive_at_starts_at_p_alive_and_never_rises() {
        for (x, rec, t_age) in [(0u32, 0.0, 30.0), (2, 30.43, 38.86), (7, 10.0, 39.0)] {
            let now = PUBLISHED.p_alive(x, rec, t_age);
            let at_zero = PUBLISHED.p_alive_at(x, rec, t_age, 0.0).expect("valid");
            assert!((at_zero - now).abs() <= 1e-15, "{at_zero} vs {now}");
            let mut previous = at_zero;
            for k in 1..=60 {
                let p = PUBLISHED
                    .p_alive_at(x, rec, t_age, f64::from(k) * 4.0)
                    .expect("valid");
                assert!(
                    (0.0..=previous).contains(&p),
                    "x={x} k={k}: {p} > {previous}"
                );
                previous = p;
            }
            assert!(previous < 0.9 * now, "x={x}: {previous} vs {now}");
        }
        let err = PUBLISHED
            .p_alive_at(1, 5.0, 4.0, f64::NAN)
            .expect_err("bad");
        let fields: Vec<&str> = err
            .field_errors()
            .iter()
            .map(|f| f.field.as_str())
            .collect();
        assert_eq!(fields, ["recency", "future_t"]);
    }

    #[test]
    fn pareto_expected_purchases_between_is_additive_and_integrates_p_alive_at() {
        let (x, rec, t_age) = (3u32, 25.0, 38.0);
        let p = PUBLISHED;
        let whole = p
            .expected_purchases_between(x, rec, t_age, 0.0, 52.0)
            .expect("ok");
        let first = p
            .expected_purchases_between(x, rec, t_age, 0.0, 13.0)
            .expect("ok");
        let rest = p
            .expected_purchases_between(x, rec, t_age, 13.0, 52.0)
            .expect("ok");
        assert!(
            (first + rest - whole).abs() < 1e-12,
            "{first} + {rest} vs {whole}"
        );
        // λ and μ are independent: purchases arrive at E[λ | alive] =
        // (r+x)/(α+T) while alive, so the interval's expectation is that
        // rate times the integral of P(alive at T+τ).
        let xf = f64::from(x);
        let rate = (p.r + xf) / (p.alpha + t_age);
        let n = 2_000;
        let h = (52.0 - 13.0) / f64::from(n);
        let integral: f64 = (0..=n)
            .map(|i| {
                let w = if i == 0 || i == n {
                    1.0
                } else if i % 2 == 1 {
                    4.0
                } else {
                    2.0
                };
                w * p
                    .p_alive_at(x, rec, t_age, 13.0 + f64::from(i) * h)
                    .expect("ok")
            })
            .sum::<f64>()
            * h
            / 3.0
            * rate;
        assert!((integral - rest).abs() < 1e-8, "{integral} vs {rest}");
        let err = p
            .expected_purchases_between(x, rec, t_age, 2.0, 1.0)
            .expect_err("t1 > t2");
        assert_eq!(err.field_errors()[0].field, "t2");
    }
}
