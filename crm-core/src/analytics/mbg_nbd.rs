//! The MBG/NBD model of Batislam, Denizel and Filiztekin (2007), "Empirical
//! validation and comparison of models for customer base analysis" (the
//! `mbgnbd.*` functions of the BTYDplus R package, `ModifiedBetaGeoFitter`
//! of `lifetimes`): while alive, a customer buys as a Poisson process with
//! rate λ ~ Gamma(r, α); after each purchase, the first one at time 0
//! included, they drop out with probability p ~ Beta(a, b). Unlike BG/NBD,
//! a customer without repeat purchases may have dropped out right at the
//! start, so P(alive | x = 0) < 1.
//!
//! [`MbgNbdData`] compresses identical `(x, t_x, T)` rows into weights;
//! [`MbgNbdModel::fit`] finds the maximum-likelihood parameters (with the
//! shared machinery of [`fit`]) and their standard errors; the
//! [`MbgNbdParams`] methods give P(alive), the conditional and
//! unconditional expected number of purchases and P(X(t) = n).
//!
//! All times (`recency`, `T`, `t`) are in the unit the data was summarised in
//! (see [`PeriodUnit`]); the parameter `alpha` is in that unit too.
//!
//! # Formulas
//!
//! Per customer, the likelihood is (Batislam et al. 2007; BTYDplus'
//! `mbgnbd.LL`)
//!
//! `L = Γ(r+x) α^r / Γ(r) · B(a, b+x+1) / B(a, b) ·
//!      [(α+T)^-(r+x) + a/(b+x) · (α+t_x)^-(r+x)]`,
//!
//! evaluated in logs with the bracket through log-sum-exp, and its gradient
//! in closed form. The expectations use the BG/NBD growth series (the
//! crate's Gauss hypergeometric routine, accurate for many purchases and at
//! `a = 1`) with `c = a+b+x` in place of `a+b+x-1`.

use serde::{Deserialize, Serialize};

use super::bgnbd::{beta_drop_out_survival, check_forecast, converged_survival, expected_between};
use super::btyd::{WeightedRows, check_row, weighted_rows_methods};
use super::fit::{self, FitDiagnostics, FitOptions, LogLikelihood, ParameterEstimate};
use super::period::{PeriodUnit, Span};
use super::special::{
    GrowthSeries, beta_reg, digamma, ln_beta, ln_gamma, log_add_exp_share, logistic_complement,
};
use super::summary::CustomerSummary;
use crate::Result;

/// The four MBG/NBD parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MbgNbdParams {
    /// Shape of the Gamma distribution of purchase rates λ.
    pub r: f64,
    /// Scale of the Gamma distribution of purchase rates λ, in periods.
    pub alpha: f64,
    /// First shape of the Beta distribution of drop-out probabilities p.
    pub a: f64,
    /// Second shape of the Beta distribution of drop-out probabilities p.
    pub b: f64,
}

impl MbgNbdParams {
    /// Checks that every parameter is finite and positive.
    pub fn validate(&self) -> Result<()> {
        fit::check_positive_params(
            "MBG/NBD",
            &[
                ("r", self.r),
                ("alpha", self.alpha),
                ("a", self.a),
                ("b", self.b),
            ],
        )
    }

    /// The log-likelihood of one customer with `frequency` repeat purchases,
    /// the last at `recency`, observed for `t_age` periods (see the module
    /// notes). NaN when the history is impossible (`recency > T`, negative
    /// times).
    pub fn customer_log_likelihood(&self, frequency: u32, recency: f64, t_age: f64) -> f64 {
        if check_row(0, frequency, recency, t_age).is_err() {
            return f64::NAN;
        }
        let x = f64::from(frequency);
        let (r, alpha, a, b) = (self.r, self.alpha, self.a, self.b);
        let head = ln_gamma(r + x) - ln_gamma(r) + r * alpha.ln() + ln_beta(a, b + x + 1.0)
            - ln_beta(a, b);
        let alive = -(r + x) * (alpha + t_age).ln();
        let dead = a.ln() - (b + x).ln() - (r + x) * (alpha + recency).ln();
        head + log_add_exp_share(alive, dead).0
    }

    /// Probability that a customer with `frequency` repeat purchases, the
    /// last at `recency`, observed for `t_age` periods, is still alive
    /// (Batislam et al. 2007; `lifetimes`' `conditional_probability_alive`):
    ///
    /// `1 / (1 + a/(b+x) · ((α+T)/(α+t_x))^(r+x))`.
    ///
    /// Always below 1, even right after a purchase (the customer may have
    /// dropped out at it) and for a customer without repeat purchases.
    /// NaN for an impossible history (`recency > t_age`, negative times).
    pub fn p_alive(&self, frequency: u32, recency: f64, t_age: f64) -> f64 {
        if check_row(0, frequency, recency, t_age).is_err() {
            return f64::NAN;
        }
        let x = f64::from(frequency);
        let z = self.a.ln() - (self.b + x).ln()
            + (self.r + x) * ((t_age - recency) / (self.alpha + recency)).ln_1p();
        logistic_complement(z)
    }

    /// Expected number of purchases in the next `t` periods of a customer
    /// who is alive at `t_age` with `frequency` repeat purchases so far:
    ///
    /// `(a+b+x)/(a-1) · [1 - ((α+T)/(α+T+t))^(r+x) · ₂F₁(r+x, b+x+1; a+b+x; t/(α+T+t))]`
    ///
    /// (exact as `a -> 1`, see `GrowthSeries`).
    fn growth(&self, frequency: u32, t_age: f64, t: f64) -> f64 {
        if t <= 0.0 {
            return 0.0;
        }
        let x = f64::from(frequency);
        let base = self.alpha + t_age;
        let z = t / (base + t);
        let ln_u = -(t / base).ln_1p();
        GrowthSeries::new(self.a, self.r + x, self.a + self.b + x).growth(z, ln_u)
    }

    /// Expected number of purchases in the next `t` periods of a customer
    /// with this history (`lifetimes`'
    /// `conditional_expected_number_of_purchases_up_to_time`): P(alive)
    /// times `(a+b+x)/(a-1) · [1 - ((α+T)/(α+T+t))^(r+x) · ₂F₁(r+x, b+x+1;
    /// a+b+x; t/(α+T+t))]`. 0 for `t <= 0`; NaN for an impossible history.
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
        self.p_alive(frequency, recency, t_age) * self.growth(frequency, t_age, t)
    }

    /// Expected number of repeat purchases of a new customer in their first
    /// `t` periods (`lifetimes`' `expected_number_of_purchases_up_to_time`):
    /// E\[X(t)\] = b/(a-1) · \[1 - (α/(α+t))^r · ₂F₁(r, b+1; a+b; t/(α+t))\].
    pub fn expected_purchases_new_customer(&self, t: f64) -> f64 {
        if t <= 0.0 {
            return 0.0;
        }
        self.b / (self.a + self.b) * self.growth(0, 0.0, t)
    }

    /// Probability that a new customer makes exactly `n` repeat purchases in
    /// their first `t` periods (`lifetimes`'
    /// `probability_of_n_purchases_up_to_time`): alive after all `n + 1`
    /// purchases with exactly `n` Poisson events by `t`, or dropped out at
    /// the `n`-th repeat purchase (the initial one for `n = 0`) with at
    /// least `n` events by `t`:
    ///
    /// `B(a, b+n+1)/B(a, b) · Γ(r+n)/(Γ(r) n!) (α/(α+t))^r (t/(α+t))^n
    ///  + B(a+1, b+n)/B(a, b) · P(NBD(r, α; t) >= n)`.
    ///
    /// The tail probability is the regularised incomplete beta function
    /// `I_{t/(α+t)}(n, r)` (1 for `n = 0`), so no difference cancels.
    /// NaN when `t` is not finite.
    pub fn probability_of_purchases(&self, n: u32, t: f64) -> f64 {
        if !t.is_finite() {
            return f64::NAN;
        }
        if t <= 0.0 {
            return if n == 0 { 1.0 } else { 0.0 };
        }
        let (r, alpha, a, b) = (self.r, self.alpha, self.a, self.b);
        let x = f64::from(n);
        let ln_b0 = ln_beta(a, b);
        let ln_q = -(t / alpha).ln_1p();
        let ln_1mq = (t / (alpha + t)).ln();
        let alive =
            (ln_beta(a, b + x + 1.0) - ln_b0 + ln_gamma(r + x) - ln_gamma(r) - ln_gamma(x + 1.0)
                + r * ln_q
                + x * ln_1mq)
                .exp();
        let tail = if n == 0 {
            1.0
        } else {
            beta_reg(x, r, t / (alpha + t))
        };
        let dropped = (ln_beta(a + 1.0, b + x) - ln_b0).exp() * tail;
        let p = alive + dropped;
        if p.is_nan() { p } else { p.clamp(0.0, 1.0) }
    }
}

/// Forecasts over future dates (additive to the methods above).
impl MbgNbdParams {
    /// Probability that a customer with `frequency` repeat purchases, the
    /// last at `recency`, observed for `t_age` periods, is still alive
    /// `future_t` periods after the end of observation, whatever they buy in
    /// between: the BG/NBD derivation of
    /// [`BgNbdParams::p_alive_at`](super::BgNbdParams::p_alive_at) with the
    /// MBG/NBD posterior. Alive at `T`, the customer has survived `x + 1`
    /// purchases (the first one included), so p ~ Beta(a, b+x+1) and
    /// λ ~ Gamma(r+x, α+T), and
    ///
    /// `P(alive at T+t) = P(alive at T) · ((α+T)/(α+T+t))^(r+x) ·
    ///  ₂F₁(r+x, b+x+1; a+b+x+1; t/(α+T+t))`.
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
        let x = f64::from(frequency);
        let survival = converged_survival(
            beta_drop_out_survival(
                self.a,
                self.b + x + 1.0,
                self.r + x,
                self.alpha + t_age,
                future_t,
            ),
            future_t,
        )?;
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

/// Standard errors and 95% confidence intervals of the MBG/NBD parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MbgNbdStandardErrors {
    /// `r`, shape of the purchase-rate distribution.
    pub r: ParameterEstimate,
    /// `alpha`, scale of the purchase-rate distribution.
    pub alpha: ParameterEstimate,
    /// `a`, first shape of the drop-out distribution.
    pub a: ParameterEstimate,
    /// `b`, second shape of the drop-out distribution.
    pub b: ParameterEstimate,
}

/// A fitted MBG/NBD model: estimates, the unit they are in, how the fit went
/// and how precise the estimates are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MbgNbdModel {
    /// The maximum-likelihood estimates.
    pub params: MbgNbdParams,
    /// The time unit of the data, of `alpha` and of every prediction.
    pub unit: PeriodUnit,
    /// Convergence, iterations, log-likelihood.
    pub diagnostics: FitDiagnostics,
    /// Standard errors and 95% intervals at the estimates; `None` when the
    /// Hessian there is not positive definite (the fit did not reach a
    /// proper maximum, e.g. a parameter ran to the edge of its range).
    #[serde(default)]
    pub standard_errors: Option<MbgNbdStandardErrors>,
}

impl MbgNbdModel {
    /// Fits the model by maximum likelihood and computes the standard errors
    /// of the estimates.
    ///
    /// Errors only on unusable input (no customers, invalid options); a fit
    /// that does not converge is returned with `diagnostics.converged == false`.
    pub fn fit(data: &MbgNbdData, options: &FitOptions) -> Result<Self> {
        fit::check_fit_input("MBG/NBD", data.base.customers, options)?;
        // Starting point of the reference library (all ones after scaling
        // time so the longest T is 10), which keeps alpha near the data's
        // scale.
        let start = [1.0, (data.base.max_t / 10.0).max(1e-6), 1.0, 1.0];
        let outcome = fit::fit(data, &start, options);
        let p = &outcome.params;
        let params = MbgNbdParams {
            r: p[0],
            alpha: p[1],
            a: p[2],
            b: p[3],
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
/// rows merged into weights (sorted by frequency, so the Gamma functions
/// are evaluated once per distinct frequency).
#[derive(Debug, Clone)]
pub struct MbgNbdData {
    base: WeightedRows,
}

weighted_rows_methods!(MbgNbdData);

impl MbgNbdData {
    /// The total log-likelihood at `params` (no penalty).
    pub fn log_likelihood(&self, params: &MbgNbdParams) -> f64 {
        let mut grad = [0.0; 4];
        self.value_and_gradient(&[params.r, params.alpha, params.a, params.b], &mut grad)
    }

    /// The Hessian of the fit objective (mean negative log-likelihood plus
    /// `penalty · Σ θ²`) with respect to `ln r, ln alpha, ln a, ln b` at
    /// `params`. Rows and columns are in the order `r, alpha, a, b`.
    pub fn objective_hessian(&self, params: &MbgNbdParams, penalty: f64) -> Vec<Vec<f64>> {
        fit::objective_hessian(self, &[params.r, params.alpha, params.a, params.b], penalty)
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
        params: &MbgNbdParams,
        penalty: f64,
    ) -> Option<MbgNbdStandardErrors> {
        if params.validate().is_err() || self.base.customers <= 0.0 {
            return None;
        }
        let theta = [params.r, params.alpha, params.a, params.b];
        let [r, alpha, a, b]: [ParameterEstimate; 4] = fit::standard_errors(self, &theta, penalty)?
            .try_into()
            .ok()?;
        Some(MbgNbdStandardErrors { r, alpha, a, b })
    }
}

/// The parts of the log-likelihood that depend only on the frequency `x`.
struct FrequencyTerms {
    x: u32,
    rx: f64,
    /// `ln Γ(r+x) - ln Γ(r) + r ln α + ln B(a, b+x+1) - ln B(a, b)`.
    head: f64,
    /// Its derivatives with respect to `r`, `a` and `b` (that with respect
    /// to `alpha` is `r / alpha` for every `x`).
    head_r: f64,
    head_a: f64,
    head_b: f64,
    /// `ln a - ln(b + x)`.
    ln_ratio: f64,
    /// `b + x`.
    bx: f64,
}

impl LogLikelihood for MbgNbdData {
    const PARAMS: usize = 4;

    /// Batislam et al. (2007) (BTYDplus' `mbgnbd.LL`), in logs, per customer:
    ///
    /// `ln Γ(r+x) - ln Γ(r) + r ln α + ln B(a, b+x+1) - ln B(a, b)
    ///  + ln[(α+T)^-(r+x) + a/(b+x) · (α+t_x)^-(r+x)]`
    ///
    /// with the last term through log-sum-exp and the gradient in closed
    /// form.
    fn value_and_gradient(&self, params: &[f64], grad: &mut [f64]) -> f64 {
        let (r, alpha, a, b) = (params[0], params[1], params[2], params[3]);
        let ln_alpha = alpha.ln();
        let (lg_r, dg_r) = (ln_gamma(r), digamma(r));
        let (lg_ab, dg_ab) = (ln_gamma(a + b), digamma(a + b));
        let (lg_b, dg_b) = (ln_gamma(b), digamma(b));
        let terms = |x: u32| {
            let xf = f64::from(x);
            let rx = r + xf;
            let (lg_bx1, dg_bx1) = (ln_gamma(b + xf + 1.0), digamma(b + xf + 1.0));
            let (lg_abx1, dg_abx1) = (ln_gamma(a + b + xf + 1.0), digamma(a + b + xf + 1.0));
            FrequencyTerms {
                x,
                rx,
                head: ln_gamma(rx) - lg_r + r * ln_alpha + lg_ab + lg_bx1 - lg_b - lg_abx1,
                head_r: digamma(rx) - dg_r + ln_alpha,
                head_a: dg_ab - dg_abx1,
                head_b: dg_ab + dg_bx1 - dg_b - dg_abx1,
                ln_ratio: a.ln() - (b + xf).ln(),
                bx: b + xf,
            }
        };

        let (mut ll, mut g_r, mut g_alpha, mut g_a, mut g_b) = (0.0, 0.0, 0.0, 0.0, 0.0);
        let mut current: Option<FrequencyTerms> = None;
        for row in &self.base.rows {
            let f = match current.take() {
                Some(f) if f.x == row.x => f,
                _ => terms(row.x),
            };
            let w = row.weight;
            let (ln_t, ln_r) = ((alpha + row.t_age).ln(), (alpha + row.recency).ln());
            let alive = -f.rx * ln_t;
            let dead = f.ln_ratio - f.rx * ln_r;
            let (lse, share_dead) = log_add_exp_share(alive, dead);
            let share_alive = 1.0 - share_dead;
            ll += w * (f.head + lse);
            g_r += w * (f.head_r - share_alive * ln_t - share_dead * ln_r);
            g_alpha += w
                * (r / alpha
                    - f.rx
                        * (share_alive / (alpha + row.t_age) + share_dead / (alpha + row.recency)));
            g_a += w * (f.head_a + share_dead / a);
            g_b += w * (f.head_b - share_dead / f.bx);
            current = Some(f);
        }
        grad[0] = g_r;
        grad[1] = g_alpha;
        grad[2] = g_a;
        grad[3] = g_b;
        ll
    }

    fn total_weight(&self) -> f64 {
        self.base.customers
    }

    fn distinct_rows(&self) -> usize {
        MbgNbdData::distinct_rows(self)
    }

    fn sample(&self, rows: usize) -> Self {
        self.sample_rows(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::btyd::testing::{
        SAMPLE_ROWS, assert_close, assert_distribution_matches_mean,
        assert_gradient_matches_finite_differences, assert_symmetric, cdnow_rows,
    };

    /// The BTYDplus estimates on CDNOW (`mbgnbd.EstimateParameters`).
    const PUBLISHED: MbgNbdParams = MbgNbdParams {
        r: 0.525,
        alpha: 6.183,
        a: 0.891,
        b: 1.614,
    };

    fn cdnow() -> MbgNbdData {
        MbgNbdData::from_rows(PeriodUnit::Week, cdnow_rows()).expect("valid rows")
    }

    /// The shared sample rows and a customer observed for no time at all.
    fn sample_rows() -> Vec<(u32, f64, f64)> {
        let mut rows = SAMPLE_ROWS.to_vec();
        rows.push((0, 0.0, 0.0));
        rows
    }

    fn sample_data() -> MbgNbdData {
        MbgNbdData::from_rows(PeriodUnit::Week, sample_rows()).expect("valid rows")
    }

    #[test]
    fn mbg_gradient_matches_finite_differences() {
        let data = sample_data();
        assert_gradient_matches_finite_differences(
            &data,
            &[
                [0.5, 3.0, 0.8, 2.5],
                [0.525, 6.183, 0.891, 1.614],
                [1.5, 40.0, 3.0, 0.3],
                [0.05, 0.5, 0.2, 12.0],
            ],
        );
    }

    #[test]
    fn mbg_likelihood_matches_the_direct_formula() {
        let p = MbgNbdParams {
            r: 0.7,
            alpha: 3.0,
            a: 1.3,
            b: 2.2,
        };
        let data = sample_data();
        let mut total = 0.0;
        for (x, t_x, t_age) in sample_rows() {
            let xf = f64::from(x);
            let direct = (ln_gamma(p.r + xf) - ln_gamma(p.r) + p.r * p.alpha.ln()).exp()
                * (ln_beta(p.a, p.b + xf + 1.0) - ln_beta(p.a, p.b)).exp()
                * ((p.alpha + t_age).powf(-(p.r + xf))
                    + p.a / (p.b + xf) * (p.alpha + t_x).powf(-(p.r + xf)));
            let got = p.customer_log_likelihood(x, t_x, t_age);
            assert_close("log-likelihood", got, direct.ln(), 1e-10);
            total += got;
        }
        assert_close("total", data.log_likelihood(&p), total, 1e-9);
        // x = 0: no purchase by T, or dropped out at time 0.
        let zero = p.customer_log_likelihood(0, 0.0, 10.0);
        let want = p.b / (p.a + p.b) * (p.alpha / (p.alpha + 10.0)).powf(p.r) + p.a / (p.a + p.b);
        assert_close("x = 0", zero, want.ln(), 1e-12);
    }

    #[test]
    fn mbg_fit_reproduces_the_btydplus_cdnow_estimates() {
        let data = cdnow();
        let model = MbgNbdModel::fit(&data, &FitOptions::default()).expect("fit");
        let p = model.params;
        let d = &model.diagnostics;
        println!(
            "MBG/NBD CDNOW: r {:.6} alpha {:.6} a {:.6} b {:.6} LL {:.4} \
             converged {} iterations {} evaluations {} gradient {:.2e}",
            p.r,
            p.alpha,
            p.a,
            p.b,
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
            ("a", p.a, PUBLISHED.a),
            ("b", p.b, PUBLISHED.b),
        ] {
            assert_close(name, got, want, (1e-3 * want).max(0.003));
        }
        assert_close(
            "log-likelihood",
            d.log_likelihood,
            data.log_likelihood(&p),
            1e-9,
        );

        let se = model.standard_errors.expect("standard errors");
        println!("MBG/NBD CDNOW standard errors: {se:?}");
        for e in [se.r, se.alpha, se.a, se.b] {
            assert!(
                e.standard_error.is_finite() && e.standard_error > 0.0,
                "{e:?}"
            );
            assert!(e.lower_95 < e.estimate && e.estimate < e.upper_95, "{e:?}");
            assert!(e.standard_error < e.estimate, "{e:?}");
        }
        assert_eq!(se.r.estimate, p.r);
        assert_eq!(se.b.estimate, p.b);

        // The checks of `lifetimes`' `ModifiedBetaGeoFitter` tests on the
        // fitted CDNOW model, whose reference figures are BG/NBD ones from
        // Hardie's spreadsheet, hence the loose tolerances there (5%).
        let e = p.conditional_expected_purchases(2, 30.43, 38.86, 39.0);
        println!("MBG/NBD CDNOW: E[Y(39) | 2, 30.43, 38.86] = {e:.4}");
        assert_close("E[Y(39)]", e, 1.226, 0.05);
        for (t, want) in [
            (0.1429, 0.0078),
            (1.0, 0.0532),
            (3.0, 0.1506),
            (31.8571, 1.0405),
            (32.0, 1.0437),
            (78.0, 1.8576),
        ] {
            let got = p.expected_purchases_new_customer(t);
            println!("MBG/NBD CDNOW: E[X({t})] = {got:.4}");
            assert!(
                (got - want).abs() <= 0.05 * want,
                "E[X({t})]: {got} vs {want}"
            );
        }
        assert!(p.p_alive(0, 0.0, 1.0) < 1.0);
    }

    #[test]
    fn mbg_p_alive_stays_in_bounds_and_is_below_one_without_repeats() {
        for x in (0..100).step_by(10) {
            for t_x in (0..100).step_by(10) {
                for t_age in (t_x..100).step_by(10) {
                    let t_x = if x == 0 { 0.0 } else { f64::from(t_x) };
                    let p = PUBLISHED.p_alive(x, t_x, f64::from(t_age));
                    assert!((0.0..=1.0).contains(&p), "{x} {t_x} {t_age}: {p}");
                }
            }
        }
        // No repeat purchase: the customer may have dropped out at time 0.
        let fresh = PUBLISHED.p_alive(0, 0.0, 0.0);
        assert_close(
            "P(alive | new)",
            fresh,
            PUBLISHED.b / (PUBLISHED.a + PUBLISHED.b),
            1e-12,
        );
        assert!(PUBLISHED.p_alive(0, 0.0, 30.0) < fresh);
        // Even right after a purchase.
        let x = 3.0;
        assert_close(
            "P(alive | t_x = T)",
            PUBLISHED.p_alive(3, 20.0, 20.0),
            (PUBLISHED.b + x) / (PUBLISHED.a + PUBLISHED.b + x),
            1e-12,
        );
        // Silence lowers P(alive).
        assert!(PUBLISHED.p_alive(3, 29.0, 30.0) > PUBLISHED.p_alive(3, 5.0, 30.0));
        // Extreme histories stay finite; impossible ones give NaN.
        let p = PUBLISHED.p_alive(400, 1.0, 300.0);
        assert!(p.is_finite() && (0.0..=1.0).contains(&p), "{p}");
        assert!(PUBLISHED.p_alive(1, 5.0, 4.0).is_nan());
        assert!(PUBLISHED.p_alive(0, 1.0, 4.0).is_nan());
        assert!(PUBLISHED.customer_log_likelihood(1, 5.0, 4.0).is_nan());
    }

    #[test]
    fn mbg_conditional_expectation_is_consistent() {
        // A customer with no history, observed for no time, is a new customer.
        for t in [1.0, 10.0, 39.0] {
            assert_close(
                "E[Y(t) | 0, 0, 0]",
                PUBLISHED.conditional_expected_purchases(0, 0.0, 0.0, t),
                PUBLISHED.expected_purchases_new_customer(t),
                1e-12,
            );
        }
        // More purchases, more recent, mean more expected purchases.
        let e = |x, t_x| PUBLISHED.conditional_expected_purchases(x, t_x, 40.0, 52.0);
        assert!(e(5, 39.0) > e(2, 39.0));
        assert!(e(5, 39.0) > e(5, 10.0));
        assert_eq!(
            PUBLISHED.conditional_expected_purchases(2, 5.0, 10.0, 0.0),
            0.0
        );
        // a = 1 is the limit of the general formula.
        let one = MbgNbdParams {
            a: 1.0,
            ..PUBLISHED
        };
        let near = MbgNbdParams {
            a: 1.0 + 1e-9,
            ..PUBLISHED
        };
        let (u, v) = (
            one.conditional_expected_purchases(3, 20.0, 30.0, 39.0),
            near.conditional_expected_purchases(3, 20.0, 30.0, 39.0),
        );
        assert!(u.is_finite() && (u - v).abs() < 1e-6, "{u} vs {v}");
        // Many purchases: finite, and close for neighbouring counts.
        let (l, r) = (
            PUBLISHED.conditional_expected_purchases(132, 200.0, 200.0, 10.0),
            PUBLISHED.conditional_expected_purchases(133, 200.0, 200.0, 10.0),
        );
        assert!(
            l.is_finite() && r.is_finite() && (l - r).abs() < 0.1,
            "{l} vs {r}"
        );
    }

    #[test]
    fn mbg_probabilities_sum_to_one_and_match_the_mean() {
        let other = MbgNbdParams {
            r: 2.0,
            alpha: 3.0,
            a: 2.5,
            b: 4.0,
        };
        for params in [PUBLISHED, other] {
            // Enough terms for the heavy tail of r = 2 at t = 78.
            assert_distribution_matches_mean(
                |n, t| params.probability_of_purchases(n, t),
                |t| params.expected_purchases_new_customer(t),
                2000,
                &[0.5, 1.0, 5.0, 39.0, 78.0],
            );
        }
        // P(X(t) = 0) is at least the chance of dropping out at time 0.
        let drop = PUBLISHED.a / (PUBLISHED.a + PUBLISHED.b);
        assert!(PUBLISHED.probability_of_purchases(0, 1000.0) > drop);
        assert_eq!(PUBLISHED.probability_of_purchases(0, 0.0), 1.0);
        assert_eq!(PUBLISHED.probability_of_purchases(2, 0.0), 0.0);
        assert!(PUBLISHED.probability_of_purchases(2, f64::NAN).is_nan());
        assert_eq!(PUBLISHED.expected_purchases_new_customer(0.0), 0.0);
    }

    #[test]
    fn mbg_standard_errors_come_from_the_hessian() {
        let data = cdnow();
        let h = data.objective_hessian(&PUBLISHED, 0.0);
        assert_symmetric(&h);
        // The diagonal agrees with a second difference of the log-likelihood.
        let n = data.customers() as f64;
        let cost = |e: f64| {
            -data.log_likelihood(&MbgNbdParams {
                a: PUBLISHED.a * e.exp(),
                ..PUBLISHED
            }) / n
        };
        let e = 1e-3;
        let second = (cost(e) - 2.0 * cost(0.0) + cost(-e)) / (e * e);
        assert!(
            (second - h[2][2]).abs() < 1e-3 * h[2][2].abs(),
            "{second} vs {}",
            h[2][2]
        );
        let se = data
            .standard_errors(&PUBLISHED, 0.0)
            .expect("positive definite");
        for e in [se.r, se.alpha, se.a, se.b] {
            assert!(
                e.standard_error.is_finite() && e.standard_error > 0.0,
                "{e:?}"
            );
            assert_close(
                "interval",
                e.upper_95 - e.estimate,
                ParameterEstimate::Z_975 * e.standard_error,
                1e-12,
            );
        }
        let invalid = MbgNbdParams {
            r: -1.0,
            ..PUBLISHED
        };
        assert!(invalid.validate().is_err());
        assert!(data.standard_errors(&invalid, 0.0).is_none());
    }

    #[test]
    fn mbg_rejects_inconsistent_rows_and_compresses_identical_ones() {
        let data = sample_data();
        assert_eq!(data.customers(), 8);
        assert_eq!(data.distinct_rows(), 7);
        assert_eq!(data.repeat_customers(), 5);
        assert_eq!(data.unit(), PeriodUnit::Week);
        assert!(MbgNbdData::from_rows(PeriodUnit::Week, vec![(1, 5.0, 4.0)]).is_err());
        assert!(MbgNbdData::from_rows(PeriodUnit::Week, vec![(0, 1.0, 4.0)]).is_err());
        assert!(MbgNbdData::from_weighted_rows(PeriodUnit::Week, [(1, 1.0, 2.0, 0.0)]).is_err());
        let empty = MbgNbdData::from_rows(PeriodUnit::Week, Vec::new()).expect("empty");
        assert!(MbgNbdModel::fit(&empty, &FitOptions::default()).is_err());
        // Weights act like repeated rows.
        let weighted = MbgNbdData::from_weighted_rows(
            PeriodUnit::Week,
            [(0, 0.0, 38.86, 2.0), (2, 30.43, 38.86, 1.0)],
        )
        .expect("rows");
        let repeated = MbgNbdData::from_rows(
            PeriodUnit::Week,
            [(0, 0.0, 38.86), (2, 30.43, 38.86), (0, 0.0, 38.86)],
        )
        .expect("rows");
        assert_close(
            "weighted",
            weighted.log_likelihood(&PUBLISHED),
            repeated.log_likelihood(&PUBLISHED),
            1e-12,
        );
    }

    #[test]
    fn mbg_p_alive_at_starts_at_p_alive_and_never_rises() {
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
            .p_alive_at(1, 1.0, 4.0, -1.0)
            .expect_err("negative");
        assert_eq!(err.field_errors()[0].field, "future_t");
    }

    #[test]
    fn mbg_expected_purchases_between_is_additive_and_integrates_the_purchase_rate() {
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
        // The rate of purchases at τ of a customer alive at T is
        // E[λ e^(-λpτ)] with p ~ Beta(a, b+x+1): the survival of
        // `p_alive_at` with one more purchase in the rate's shape.
        let xf = f64::from(x);
        let base = p.alpha + t_age;
        let rate = |tau: f64| {
            let shape = p.r + xf + 1.0;
            p.p_alive(x, rec, t_age) * (p.r + xf) / base
                * crate::analytics::bgnbd::beta_drop_out_survival(
                    p.a,
                    p.b + xf + 1.0,
                    shape,
                    base,
                    tau,
                )
        };
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
                w * rate(13.0 + f64::from(i) * h)
            })
            .sum::<f64>()
            * h
            / 3.0;
        assert!((integral - rest).abs() < 1e-8, "{integral} vs {rest}");
        let err = p
            .expected_purchases_between(x, rec, t_age, 2.0, 1.0)
            .expect_err("t1 > t2");
        assert_eq!(err.field_errors()[0].field, "t2");
    }
}
