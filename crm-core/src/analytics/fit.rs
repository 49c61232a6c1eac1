//! Maximum-likelihood fitting shared by the BG/NBD, Gamma-Gamma and
//! Pareto/NBD models, and the standard errors of their estimates.
//!
//! The models are fitted the same way: the parameters are optimised on the
//! log scale (so they stay positive without constraints), the objective is the
//! weighted mean negative log-likelihood plus an optional L2 penalty, and the
//! optimiser is `argmin`'s BFGS with a More-Thuente line search, fed analytic
//! gradients. A fit never panics and never fails for numerical reasons: it
//! returns the best parameters found together with [`FitDiagnostics`] saying
//! whether, and how, it converged.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use argmin::core::observers::{Observe, ObserverMode};
use argmin::core::{
    CostFunction, Executor, Gradient, KV, State, TerminationReason, TerminationStatus,
};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::BFGS;
use serde::{Deserialize, Serialize};

use crate::Result;
use crate::error::FieldErrors;

/// Options of a maximum-likelihood fit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FitOptions {
    /// L2 penalty coefficient `λ >= 0`: the optimiser minimises
    /// `-LL / n + λ · Σ θ²` over the natural parameters θ, the same objective
    /// and scale as `penalizer_coef` of the reference library (`lifetimes`), so
    /// the same coefficient gives the same estimates. Use a small value
    /// (0.001 to 0.1) when the plain maximum likelihood runs off to infinity,
    /// which happens on data with almost no repeat purchases.
    pub penalty: f64,
    /// Most BFGS iterations before giving up (reported as not converged).
    pub max_iterations: u64,
    /// Converged when the gradient norm of the objective (mean negative
    /// log-likelihood, with respect to the log-parameters) falls below this.
    /// The default 1e-7 is the reference library's `tol`; it pins the
    /// estimates to about six significant digits.
    pub tolerance: f64,
    /// Whether the fit also computes the parameters' standard errors (from
    /// the Hessian at the estimates, about half the cost of the fit
    /// again). `true` by default; turn it off when only predictions are
    /// needed: the model's `standard_errors` are then `None`.
    pub standard_errors: bool,
}

impl Default for FitOptions {
    fn default() -> Self {
        Self {
            penalty: 0.0,
            max_iterations: 500,
            tolerance: 1e-7,
            standard_errors: true,
        }
    }
}

impl FitOptions {
    /// Checks the options; `field` prefixes the names in the error.
    pub fn validate(&self, field: &str) -> Result<()> {
        let mut errors = FieldErrors::new();
        if !(self.penalty.is_finite() && self.penalty >= 0.0) {
            errors.push(
                format!("{field}.penalty"),
                "min",
                "penalty must be a finite number >= 0",
            );
        }
        if self.max_iterations == 0 {
            errors.push(
                format!("{field}.max_iterations"),
                "min",
                "max_iterations must be at least 1",
            );
        }
        if !(self.tolerance.is_finite() && self.tolerance > 0.0) {
            errors.push(
                format!("{field}.tolerance"),
                "min",
                "tolerance must be a finite number > 0",
            );
        }
        errors.finish()
    }
}

/// How a fit went: the figures an analyst needs to trust (or distrust) it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FitDiagnostics {
    /// `true` when the gradient norm at the estimates meets the tolerance
    /// (however the optimiser stopped: near the optimum a line search may
    /// give up on rounding noise, which is still convergence).
    pub converged: bool,
    /// Why the optimiser stopped, in words.
    pub termination: String,
    /// A parameter ended above 1e5 or below 1e-5: the likelihood keeps
    /// rising towards the edge of the parameter space, so there is no finite
    /// maximum on this data (typically far too few repeat customers, or
    /// spend that hardly varies). Such a fit may pass the gradient test on a
    /// flat ridge; do not trust it, or refit with a penalty.
    #[serde(default)]
    pub at_boundary: bool,
    /// BFGS iterations run on the full data.
    pub iterations: u64,
    /// Likelihood evaluations on the full data (each with its gradient).
    pub evaluations: u64,
    /// Rows of the systematic sample fitted first to get a starting point
    /// on big data (0 when the full data was fitted from the start).
    #[serde(default)]
    pub warm_start_rows: u64,
    /// Total log-likelihood of the data at the estimates, without the penalty
    /// (the figure the papers report, e.g. -9582.4 for BG/NBD on CDNOW).
    pub log_likelihood: f64,
    /// The minimised objective: mean negative log-likelihood plus penalty.
    pub objective: f64,
    /// Norm of the objective's gradient at the estimates (log-parameters).
    pub gradient_norm: f64,
    /// Customers (total weight) the model was fitted on.
    pub customers: u64,
    /// Distinct data rows after compressing identical customers into weights.
    pub distinct_rows: u64,
    /// The L2 penalty coefficient used.
    pub penalty: f64,
}

/// A parameter estimate with its standard error and 95% confidence interval
/// (the `standard_errors_` and `confidence_intervals_` of the reference
/// library, `lifetimes`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ParameterEstimate {
    /// The maximum-likelihood estimate.
    pub estimate: f64,
    /// Its standard error: the square root of the diagonal element of the
    /// inverse observed information (the Hessian of the negative
    /// log-likelihood at the optimum).
    pub standard_error: f64,
    /// Lower end of the Wald 95% interval, `estimate - 1.96 · standard_error`
    /// (may be negative for a poorly determined parameter, although the
    /// parameter itself is positive).
    pub lower_95: f64,
    /// Upper end of the Wald 95% interval, `estimate + 1.96 · standard_error`.
    pub upper_95: f64,
}

impl ParameterEstimate {
    /// The 97.5% quantile of the standard normal distribution.
    pub const Z_975: f64 = 1.959_963_984_540_054;

    /// The estimate with its standard error and Wald 95% interval.
    pub fn new(estimate: f64, standard_error: f64) -> Self {
        Self {
            estimate,
            standard_error,
            lower_95: estimate - Self::Z_975 * standard_error,
            upper_95: estimate + Self::Z_975 * standard_error,
        }
    }
}

/// Standard errors and Wald 95% intervals of `params` (natural scale) from
/// `hessian`, the Hessian of the fit objective (mean negative log-likelihood,
/// plus penalty) with respect to the log-parameters at `params`, as
/// `objective_hessian` gives it, on data of `customers` customers (total
/// weight): the inverse of `customers · hessian` is the covariance of the
/// log-parameters, taken to the natural scale (exact at a maximum, where the
/// gradient vanishes: `Var θᵢ = θᵢ² · Var ln θᵢ`). One estimate per
/// parameter, in the order of `params`; `None` when the Hessian is not
/// positive definite, a parameter is not finite and positive, or a standard
/// error comes out not finite or zero.
pub fn parameter_estimates(
    hessian: &[Vec<f64>],
    params: &[f64],
    customers: f64,
) -> Option<Vec<ParameterEstimate>> {
    if !(customers.is_finite() && customers > 0.0)
        || hessian.len() != params.len()
        || hessian.iter().any(|row| row.len() != params.len())
        || params.iter().any(|p| !(p.is_finite() && *p > 0.0))
    {
        return None;
    }
    let inverse = spd_inverse(hessian)?;
    params
        .iter()
        .enumerate()
        .map(|(i, &theta)| {
            let se = theta * (inverse[i][i] / customers).sqrt();
            (se.is_finite() && se > 0.0).then(|| ParameterEstimate::new(theta, se))
        })
        .collect()
}

/// [`parameter_estimates`] of `params` on `likelihood`'s data, from the
/// Hessian of the objective with this `penalty` (that of the fit).
pub(crate) fn standard_errors<L: LogLikelihood>(
    likelihood: &L,
    params: &[f64],
    penalty: f64,
) -> Option<Vec<ParameterEstimate>> {
    if params.len() != L::PARAMS || params.iter().any(|p| !(p.is_finite() && *p > 0.0)) {
        return None;
    }
    let hessian = objective_hessian(likelihood, params, penalty);
    parameter_estimates(&hessian, params, likelihood.total_weight())
}

/// A log-likelihood with an analytic gradient over positive parameters.
pub(crate) trait LogLikelihood {
    /// Number of parameters.
    const PARAMS: usize;

    /// `Σ w·ln L` at `params`, writing `Σ w·∂ln L/∂θ` into `grad`.
    fn value_and_gradient(&self, params: &[f64], grad: &mut [f64]) -> f64;

    /// Total weight (number of customers).
    fn total_weight(&self) -> f64;

    /// Number of distinct rows.
    fn distinct_rows(&self) -> usize;

    /// A systematic sample of about `rows` rows (every k-th), for warm starts.
    fn sample(&self, rows: usize) -> Self
    where
        Self: Sized;
}

/// Distinct rows above which a fit first converges on a sample.
pub(crate) const WARM_START_ROWS: usize = 8_000;

/// Fits `likelihood` from `start`; on big data it first fits a systematic
/// sample of [`WARM_START_ROWS`] rows to a loose tolerance and continues on
/// the full data from there, with the inverse of the sample objective's
/// Hessian at the warm start (by finite differences of the gradient, a few
/// cheap sample evaluations), which then needs only a few full-data
/// iterations. BFGS's own inverse-Hessian estimate from the sample run is
/// not used: near a flat optimum it can be far off and leave the line search
/// failing for hundreds of evaluations. The estimates are those of the full
/// data either way (the convergence test is on the full-data gradient).
pub(crate) fn fit<L: LogLikelihood>(
    likelihood: &L,
    start: &[f64],
    options: &FitOptions,
) -> FitOutcome {
    if likelihood.distinct_rows() > 2 * WARM_START_ROWS {
        let sample = likelihood.sample(WARM_START_ROWS);
        let loose = FitOptions {
            tolerance: options.tolerance.max(1e-5),
            ..*options
        };
        let warm = maximise(&sample, start, &loose, None);
        if warm.params.iter().all(|p| p.is_finite() && *p > 0.0) {
            let curvature = objective_hessian(&sample, &warm.params, options.penalty);
            let inverse = spd_inverse(&curvature);
            let mut outcome = maximise(likelihood, &warm.params, options, inverse);
            outcome.diagnostics.warm_start_rows = sample.distinct_rows() as u64;
            return outcome;
        }
    }
    maximise(likelihood, start, options, None)
}

/// Counts iterations and keeps the latest inverse Hessian.
struct Progress {
    iterations: Rc<Cell<u64>>,
}

impl<I: State> Observe<I> for Progress {
    fn observe_iter(
        &mut self,
        state: &I,
        _kv: &KV,
    ) -> std::result::Result<(), argmin::core::Error> {
        self.iterations.set(state.get_iter());
        Ok(())
    }
}

/// One evaluation of the objective.
#[derive(Clone)]
struct Evaluation {
    log_params: Vec<f64>,
    cost: f64,
    gradient: Vec<f64>,
    /// The log-likelihood at the point, without the penalty (as computed,
    /// so the diagnostics need no evaluation of their own).
    log_likelihood: f64,
}

/// The argmin problem: penalised mean negative log-likelihood over
/// log-parameters. It remembers the last point (the line search asks for the
/// cost and then the gradient at the same point) and the best point seen (so a
/// line-search failure still returns the best estimates).
struct Objective<'a, L> {
    likelihood: &'a L,
    penalty: f64,
    weight: f64,
    memory: &'a Memory,
}

/// What the objective remembers; lives outside the executor, which takes the
/// objective by value and drops it when a run fails.
#[derive(Default)]
struct Memory {
    last: RefCell<Option<Evaluation>>,
    best: RefCell<Option<Evaluation>>,
    evaluations: RefCell<u64>,
}

impl<L: LogLikelihood> Objective<'_, L> {
    fn evaluate(&self, log_params: &[f64]) -> Evaluation {
        if let Some(last) = self.memory.last.borrow().as_ref()
            && last.log_params == log_params
        {
            return last.clone();
        }
        *self.memory.evaluations.borrow_mut() += 1;
        let (mut cost, mut gradient, log_likelihood) =
            objective_at(self.likelihood, self.weight, self.penalty, log_params);
        if !cost.is_finite() || gradient.iter().any(|g| !g.is_finite()) {
            // Far outside the data's support (a parameter overflowed): a huge
            // finite cost makes the line search step back instead of failing.
            cost = f64::MAX / 4.0;
            gradient.iter_mut().for_each(|g| *g = 0.0);
        }
        let evaluation = Evaluation {
            log_params: log_params.to_vec(),
            cost,
            gradient,
            log_likelihood,
        };
        let mut best = self.memory.best.borrow_mut();
        if best.as_ref().is_none_or(|b| evaluation.cost < b.cost) {
            *best = Some(evaluation.clone());
        }
        *self.memory.last.borrow_mut() = Some(evaluation.clone());
        evaluation
    }
}

impl<L: LogLikelihood> CostFunction for Objective<'_, L> {
    type Param = Vec<f64>;
    type Output = f64;

    fn cost(&self, param: &Self::Param) -> std::result::Result<f64, argmin::core::Error> {
        Ok(self.evaluate(param).cost)
    }
}

impl<L: LogLikelihood> Gradient for Objective<'_, L> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;

    fn gradient(&self, param: &Self::Param) -> std::result::Result<Vec<f64>, argmin::core::Error> {
        Ok(self.evaluate(param).gradient)
    }
}

/// The objective at `log_params`: the weighted mean negative log-likelihood
/// plus `penalty · Σ θ²` (θ on the natural scale), its gradient with
/// respect to the log-parameters, and the log-likelihood itself.
fn objective_at<L: LogLikelihood>(
    likelihood: &L,
    weight: f64,
    penalty: f64,
    log_params: &[f64],
) -> (f64, Vec<f64>, f64) {
    let params: Vec<f64> = log_params.iter().map(|v| v.exp()).collect();
    let mut grad = vec![0.0; L::PARAMS];
    let ll = likelihood.value_and_gradient(&params, &mut grad);
    let cost = -ll / weight + params.iter().map(|p| p * p).sum::<f64>() * penalty;
    let gradient = params
        .iter()
        .zip(&grad)
        .map(|(p, g)| p * (-g / weight + 2.0 * penalty * p))
        .collect();
    (cost, gradient, ll)
}

/// The Hessian of the fit objective (see [`objective_at`]) with respect to
/// the log-parameters at `params` (natural scale): central differences of the
/// analytic gradient, symmetrised. The reference library (`lifetimes`)
/// derives its standard errors from this matrix.
pub(crate) fn objective_hessian<L: LogLikelihood>(
    likelihood: &L,
    params: &[f64],
    penalty: f64,
) -> Vec<Vec<f64>> {
    let weight = likelihood.total_weight().max(f64::MIN_POSITIVE);
    let log: Vec<f64> = params.iter().map(|p| p.ln()).collect();
    let n = L::PARAMS;
    let column = |j: usize| -> Vec<f64> {
        // A step of 1e-4 relative on the natural scale: the truncation error
        // (h²) and the rounding error (ε/h) are both near 1e-8 relative.
        let h = 1e-4;
        let mut up = log.clone();
        up[j] += h;
        let mut down = log.clone();
        down[j] -= h;
        let (_, g_up, _) = objective_at(likelihood, weight, penalty, &up);
        let (_, g_down, _) = objective_at(likelihood, weight, penalty, &down);
        g_up.iter()
            .zip(&g_down)
            .map(|(u, d)| (u - d) / (2.0 * h))
            .collect()
    };
    let columns: Vec<Vec<f64>> = (0..n).map(column).collect();
    (0..n)
        .map(|i| {
            (0..n)
                .map(|j| 0.5 * (columns[j][i] + columns[i][j]))
                .collect()
        })
        .collect()
}

/// Where a fit ended.
pub(crate) struct FitOutcome {
    /// Estimates on the natural scale.
    pub params: Vec<f64>,
    /// How it went.
    pub diagnostics: FitDiagnostics,
}

/// Maximises the likelihood from `start` (natural scale, all > 0).
/// `inverse_hessian` seeds BFGS (identity when `None`).
pub(crate) fn maximise<L: LogLikelihood>(
    likelihood: &L,
    start: &[f64],
    options: &FitOptions,
    inverse_hessian: Option<Vec<Vec<f64>>>,
) -> FitOutcome {
    let weight = likelihood.total_weight().max(f64::MIN_POSITIVE);
    let memory = Memory::default();
    let objective = Objective {
        likelihood,
        penalty: options.penalty,
        weight,
        memory: &memory,
    };
    let init: Vec<f64> = start.iter().map(|p| p.ln()).collect();
    let inv_hessian = inverse_hessian.unwrap_or_else(|| identity(L::PARAMS));

    let counted = Rc::new(Cell::new(0u64));
    let mut final_point: Option<Vec<f64>> = None;
    let solver = BFGS::new(MoreThuenteLineSearch::new())
        .with_tolerance_grad(options.tolerance)
        .and_then(|s| s.with_tolerance_cost(0.0));
    let mut termination = match solver {
        Err(e) => format!("optimiser set-up failed: {e}"),
        Ok(solver) => {
            let problem = Objective { ..objective };
            let run = Executor::new(problem, solver)
                .configure(|state| {
                    state
                        .param(init.clone())
                        .inv_hessian(inv_hessian)
                        .max_iters(options.max_iterations)
                })
                .add_observer(
                    Progress {
                        iterations: Rc::clone(&counted),
                    },
                    ObserverMode::Always,
                )
                .run();
            match run {
                Ok(mut result) => {
                    let state = &mut result.state;
                    // The last iterate, not argmin's "best": near the optimum
                    // costs differ only by rounding, and the last iterate is
                    // the one the gradient test was passed at.
                    final_point = state.take_param();
                    match state.get_termination_status() {
                        TerminationStatus::Terminated(TerminationReason::SolverConverged) => {
                            "gradient below tolerance".to_owned()
                        }
                        TerminationStatus::Terminated(reason) => reason.text().to_owned(),
                        TerminationStatus::NotTerminated => "not terminated".to_owned(),
                    }
                }
                // Typically the line search finding no further decrease: the
                // best point seen is as good as this data allows.
                Err(e) => format!("optimiser stopped: {e}"),
            }
        }
    };

    let best = memory.best.borrow().clone();
    let end = match (final_point, best) {
        (Some(p), Some(b)) => {
            let at_p = objective.evaluate(&p);
            // Only a real improvement (beyond rounding) replaces the last iterate.
            if b.cost < at_p.cost - 1e-12 * at_p.cost.abs().max(1.0) {
                termination.push_str("; a line-search trial point beat the last iterate");
                b
            } else {
                at_p
            }
        }
        (Some(p), None) => objective.evaluate(&p),
        (None, Some(b)) => b,
        (None, None) => objective.evaluate(&init),
    };
    // The parameters and log-likelihood exactly as evaluated there.
    let params: Vec<f64> = end.log_params.iter().map(|v| v.exp()).collect();
    let log_likelihood = end.log_likelihood;
    let gradient_norm = end.gradient.iter().map(|g| g * g).sum::<f64>().sqrt();
    let finite = log_likelihood.is_finite() && params.iter().all(|p| p.is_finite() && *p > 0.0);
    let converged = finite && gradient_norm <= options.tolerance;
    let at_boundary = params.iter().any(|p| !(1e-5..=1e5).contains(p));
    if at_boundary {
        termination.push_str(
            "; a parameter ran to the edge of its range, the likelihood may have no finite \
             maximum on this data (try a penalty)",
        );
    }
    let iterations = counted.get();
    let evaluations = *memory.evaluations.borrow();
    FitOutcome {
        params,
        diagnostics: FitDiagnostics {
            converged,
            termination,
            at_boundary,
            iterations,
            evaluations,
            log_likelihood: if log_likelihood.is_finite() {
                log_likelihood
            } else {
                f64::MIN
            },
            objective: end.cost,
            gradient_norm,
            customers: weight.round() as u64,
            distinct_rows: likelihood.distinct_rows() as u64,
            penalty: options.penalty,
            warm_start_rows: 0,
        },
    }
}

/// Every parameter of a `model` (its name in the error messages) must be
/// finite and positive; the errors name each parameter that is not.
pub(crate) fn check_positive_params(model: &str, params: &[(&str, f64)]) -> Result<()> {
    let mut errors = FieldErrors::new();
    for &(name, v) in params {
        if !(v.is_finite() && v > 0.0) {
            errors.push(
                name,
                "positive",
                format!("{model} parameter {name} must be finite and > 0, got {v}"),
            );
        }
    }
    errors.finish()
}

/// What every model's `fit` checks first: valid `options` and a positive
/// number of `customers` (`model` names the model in the error).
pub(crate) fn check_fit_input(model: &str, customers: f64, options: &FitOptions) -> Result<()> {
    options.validate("fit")?;
    if customers <= 0.0 {
        return Err(crate::Error::invalid(
            "customers",
            "required",
            format!("cannot fit {model} on zero customers"),
        ));
    }
    Ok(())
}

/// The inverse of a symmetric positive-definite matrix (by Cholesky), or
/// `None` when it is not positive definite (or not finite).
pub(crate) fn spd_inverse(a: &[Vec<f64>]) -> Option<Vec<Vec<f64>>> {
    let n = a.len();
    // a = L Lᵀ.
    let mut l = vec![vec![0.0; n]; n];
    for i in 0..n {
        for j in 0..=i {
            let dot: f64 = (0..j).map(|k| l[i][k] * l[j][k]).sum();
            let v = a[i][j] - dot;
            if i == j {
                if !(v.is_finite() && v > 0.0) {
                    return None;
                }
                l[i][i] = v.sqrt();
            } else {
                l[i][j] = v / l[j][j];
            }
        }
    }
    // Column c of a⁻¹ solves L y = e_c, then Lᵀ x = y; a⁻¹ is symmetric, so
    // its columns are its rows.
    let column = |c: usize| {
        let mut y = vec![0.0; n];
        for i in 0..n {
            let dot: f64 = (0..i).map(|k| l[i][k] * y[k]).sum();
            y[i] = (if i == c { 1.0 } else { 0.0 } - dot) / l[i][i];
        }
        let mut x = vec![0.0; n];
        for i in (0..n).rev() {
            let dot: f64 = (i + 1..n).map(|k| l[k][i] * x[k]).sum();
            x[i] = (y[i] - dot) / l[i][i];
        }
        x
    };
    let inverse: Vec<Vec<f64>> = (0..n).map(column).collect();
    inverse
        .iter()
        .flatten()
        .all(|v| v.is_finite())
        .then_some(inverse)
}

fn identity(n: usize) -> Vec<Vec<f64>> {
    (0..n)
        .map(|i| (0..n).map(|j| if i == j { 1.0 } else { 0.0 }).collect())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spd_inverse_inverts_and_refuses_what_is_not_positive_definite() {
        let a = vec![
            vec![4.0, 1.0, 0.5],
            vec![1.0, 3.0, 0.2],
            vec![0.5, 0.2, 2.0],
        ];
        let inv = spd_inverse(&a).expect("positive definite");
        for (i, row) in a.iter().enumerate() {
            for j in 0..3 {
                let v: f64 = row.iter().zip(&inv).map(|(x, col)| x * col[j]).sum();
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((v - want).abs() < 1e-12, "({i},{j}) = {v}");
            }
        }
        let indefinite = vec![vec![1.0, 2.0], vec![2.0, 1.0]];
        assert!(spd_inverse(&indefinite).is_none());
        assert!(spd_inverse(&[vec![f64::NAN]]).is_none());
    }

    #[test]
    fn parameter_estimates_take_the_log_scale_covariance_to_the_natural_scale() {
        // A diagonal Hessian of the mean objective on 100 customers:
        // Var ln θ₀ = 1 / (100 · 4), Var ln θ₁ = 1 / (100 · 0.25).
        let hessian = vec![vec![4.0, 0.0], vec![0.0, 0.25]];
        let got = parameter_estimates(&hessian, &[2.0, 10.0], 100.0).expect("estimates");
        assert_eq!(got.len(), 2);
        assert!((got[0].standard_error - 2.0 * 0.05).abs() < 1e-15);
        assert!((got[1].standard_error - 10.0 * 0.2).abs() < 1e-14);
        assert_eq!(got[1].estimate, 10.0);
        assert!((got[1].lower_95 - (10.0 - ParameterEstimate::Z_975 * 2.0)).abs() < 1e-12);
        assert!((got[1].upper_95 - (10.0 + ParameterEstimate::Z_975 * 2.0)).abs() < 1e-12);
        // Refused: not positive definite, wrong shape, bad parameters or weight.
        let indefinite = vec![vec![1.0, 2.0], vec![2.0, 1.0]];
        assert!(parameter_estimates(&indefinite, &[1.0, 1.0], 100.0).is_none());
        assert!(parameter_estimates(&hessian, &[1.0], 100.0).is_none());
        assert!(parameter_estimates(&hessian, &[1.0, f64::NAN], 100.0).is_none());
        assert!(parameter_estimates(&hessian, &[1.0, 1.0], 0.0).is_none());
    }
}
