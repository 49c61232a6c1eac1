//! How sure is a customer's model CLV? A percentile bootstrap interval, on
//! request: resample the customers with replacement, refit BG/NBD and
//! Gamma-Gamma on each resample, recompute the customer's model CLV
//! ([`model_lifetime_value`]) with each refit, and read the interval off
//! the spread of those values.
//!
//! The interval reflects the uncertainty of the estimated population
//! parameters only, not the customer's own randomness. Resampling is
//! seeded (`Xoshiro256PlusPlus`, as in [`simulate`](super::simulate)), so a
//! seed always gives the same interval. A resample is drawn as a count per
//! customer and fitted as weighted rows, so it costs one fit, not one copy
//! of the data.

use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::bgnbd::{BgNbdData, BgNbdModel};
use super::clv::{ModelClvConfig, decimal_to_f64, model_lifetime_value};
use super::fit::FitOptions;
use super::gamma_gamma::{GammaGammaData, GammaGammaModel};
use super::period::PeriodUnit;
use super::summary::CustomerSummary;
use crate::error::FieldErrors;
use crate::{Error, Result};

/// Most resamples [`bootstrap_model_clv`] accepts.
pub const MAX_RESAMPLES: u32 = 100_000;

/// Settings of [`bootstrap_model_clv`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BootstrapOptions {
    /// Number of resamples B (10 to [`MAX_RESAMPLES`]; default 200).
    pub resamples: u32,
    /// Coverage of the interval, strictly between 0 and 1 (default 0.90).
    pub level: f64,
    /// Seed of the resampling.
    pub seed: u64,
    /// The model CLV computed (horizon, step, discount rate, margin).
    pub clv: ModelClvConfig,
    /// Options of both fits.
    pub fit: FitOptions,
    /// Decimal places of the money results (default 2, at most 10).
    pub money_decimals: u32,
}

impl Default for BootstrapOptions {
    /// 200 resamples, 90%, seed 2026, the default CLV and fits, cents.
    fn default() -> Self {
        Self {
            resamples: 200,
            level: 0.90,
            seed: 2026,
            clv: ModelClvConfig::default(),
            fit: FitOptions::default(),
            money_decimals: 2,
        }
    }
}

impl BootstrapOptions {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Checks every setting; each failing field is reported.
    pub fn validate(&self) -> Result<()> {
        let mut errors = FieldErrors::new();
        if !(10..=MAX_RESAMPLES).contains(&self.resamples) {
            errors.push(
                "resamples",
                "range",
                format!(
                    "resamples must be between 10 and {MAX_RESAMPLES}, got {}",
                    self.resamples
                ),
            );
        }
        if !(self.level > 0.0 && self.level < 1.0) {
            errors.push(
                "level",
                "range",
                format!("level must be strictly between 0 and 1, got {}", self.level),
            );
        }
        errors.check("", self.clv.validate());
        errors.check("", self.fit.validate("fit"));
        if self.money_decimals > 10 {
            errors.push("money_decimals", "max", "money_decimals must be at most 10");
        }
        errors.finish()
    }
}

/// A model CLV with its bootstrap percentile interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClvInterval {
    /// The model CLV with the models fitted on all customers.
    pub estimate: Decimal,
    /// Lower end of the interval: the `(1 - level)/2` quantile of the
    /// resampled CLVs (nearest rank).
    pub lower: Decimal,
    /// Upper end: the `(1 + level)/2` quantile (nearest rank).
    pub upper: Decimal,
    /// The coverage asked for.
    pub level: f64,
    /// Resamples whose fits were usable and gave a CLV (the interval's
    /// sample size).
    pub resamples: u32,
    /// Resamples left out: a fit failed, did not converge, ran to the edge
    /// of its range, or gave no CLV.
    pub failed_resamples: u32,
    /// The seed used.
    pub seed: u64,
}

/// One customer's rows for the fits: `(x, t_x, T)` and, for a repeat
/// customer with spend, the mean spend.
struct Row {
    frequency: u32,
    recency: f64,
    t_age: f64,
    spend: Option<f64>,
}

/// The bootstrap percentile interval of `customer`'s model CLV (BG/NBD ×
/// Gamma-Gamma, [`model_lifetime_value`]) from the population `summaries`
/// in `unit`. `customer` need not be one of `summaries`.
///
/// Errors on invalid options, no summaries, an impossible history, or when
/// the models fitted on all customers are not usable (a fit failed, did not
/// converge or ran to the edge of its range) or give this customer no CLV;
/// also when no resample gives one. Deterministic for a seed.
pub fn bootstrap_model_clv<K>(
    unit: PeriodUnit,
    summaries: &[CustomerSummary<K>],
    customer: &CustomerSummary<K>,
    options: &BootstrapOptions,
) -> Result<ClvInterval> {
    options.validate()?;
    if summaries.is_empty() {
        return Err(Error::invalid(
            "summaries",
            "required",
            "a bootstrap needs at least one customer summary",
        ));
    }
    let rows: Vec<Row> = summaries
        .iter()
        .map(|s| {
            let m = decimal_to_f64(s.monetary_value);
            Row {
                frequency: s.frequency,
                recency: s.recency,
                t_age: s.t,
                spend: (s.frequency > 0 && m.is_finite() && m > 0.0).then_some(m),
            }
        })
        .collect();
    let all = vec![1.0; rows.len()];
    let estimate = clv_with_weights(unit, &rows, &all, customer, options)?.ok_or_else(|| {
        Error::invalid(
            "summaries",
            "model",
            "the BG/NBD and Gamma-Gamma models fitted on all customers are not usable \
             (a fit failed, did not converge or ran to the edge of its range) or give \
             this customer no model CLV",
        )
    })?;

    let mut rng = Xoshiro256PlusPlus::seed_from_u64(options.seed);
    let n = rows.len();
    let mut counts = vec![0.0_f64; n];
    let mut values: Vec<Decimal> = Vec::with_capacity(options.resamples as usize);
    let mut failed = 0u32;
    for _ in 0..options.resamples {
        counts.iter_mut().for_each(|c| *c = 0.0);
        for _ in 0..n {
            counts[rng.random_range(0..n)] += 1.0;
        }
        match clv_with_weights(unit, &rows, &counts, customer, options) {
            Ok(Some(v)) => values.push(v),
            Ok(None) | Err(_) => failed += 1,
        }
    }
    if values.is_empty() {
        return Err(Error::invalid(
            "summaries",
            "model",
            format!(
                "none of the {} resamples gave usable models for this customer",
                options.resamples
            ),
        ));
    }
    values.sort_unstable();
    let tail = (1.0 - options.level) / 2.0;
    Ok(ClvInterval {
        estimate,
        lower: nearest_rank(&values, tail),
        upper: nearest_rank(&values, 1.0 - tail),
        level: options.level,
        resamples: values.len() as u32,
        failed_resamples: failed,
        seed: options.seed,
    })
}

/// The `q` quantile of sorted, non-empty `values` by nearest rank: the
/// smallest value with at least a share `q` of the values at or below it.
fn nearest_rank(values: &[Decimal], q: f64) -> Decimal {
    let rank = (q * values.len() as f64).ceil() as usize;
    values[rank.clamp(1, values.len()) - 1]
}

/// The customer's model CLV with both models fitted on `rows` weighted by
/// `weights` (rows of weight 0 left out); `None` when a fit is not usable
/// or gives no CLV.
fn clv_with_weights<K>(
    unit: PeriodUnit,
    rows: &[Row],
    weights: &[f64],
    customer: &CustomerSummary<K>,
    options: &BootstrapOptions,
) -> Result<Option<Decimal>> {
    let chosen = || rows.iter().zip(weights).filter(|(_, w)| **w > 0.0);
    let bg_data = BgNbdData::from_weighted_rows(
        unit,
        chosen().map(|(r, &w)| (r.frequency, r.recency, r.t_age, w)),
    )?;
    let spend_rows: Vec<(u32, f64, f64)> = chosen()
        .filter_map(|(r, &w)| r.spend.map(|m| (r.frequency, m, w)))
        .collect();
    if spend_rows.is_empty() {
        return Ok(None);
    }
    // A resample's estimates are all the interval uses.
    let fit = FitOptions {
        standard_errors: false,
        ..options.fit
    };
    let bgnbd = BgNbdModel::fit(&bg_data, &fit)?;
    let spend = GammaGammaModel::fit(&GammaGammaData::from_weighted_rows(spend_rows)?, &fit)?;
    let usable = |d: &super::fit::FitDiagnostics| d.converged && !d.at_boundary;
    if !usable(&bgnbd.diagnostics) || !usable(&spend.diagnostics) {
        return Ok(None);
    }
    Ok(model_lifetime_value(
        &bgnbd,
        &spend.params,
        customer,
        &options.clv,
        options.money_decimals,
    )
    .map(|clv| clv.total))
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;
    use crate::analytics::bgnbd::BgNbdParams;
    use crate::analytics::gamma_gamma::GammaGammaParams;
    use crate::analytics::simulate::Simulation;
    use crate::analytics::summary::{SummaryBuilder, SummaryOptions};

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
    }

    /// Simulated weekly summaries of `customers` customers.
    fn population(customers: u64, seed: u64) -> Vec<CustomerSummary<u64>> {
        let spec = Simulation {
            customers,
            bgnbd: BgNbdParams {
                r: 0.8,
                alpha: 6.0,
                a: 0.8,
                b: 4.0,
            },
            spend: GammaGammaParams {
                p: 6.0,
                q: 4.0,
                gamma: 30.0,
            },
            unit: PeriodUnit::Week,
            first_purchase_from: day("2024-01-01"),
            cohort_days: 90,
            observation_end: day("2024-12-31"),
            seed,
        };
        let options = SummaryOptions::new(PeriodUnit::Week, Some(day("2024-12-31")));
        let mut builder = SummaryBuilder::new(options).expect("options");
        for p in spec.purchases().expect("valid simulation") {
            builder.add_purchase(&p).expect("purchase");
        }
        builder.finish().summaries
    }

    fn regular(summaries: &[CustomerSummary<u64>]) -> CustomerSummary<u64> {
        let mut c = summaries[0].clone();
        c.frequency = 4;
        c.recency = 40.0;
        c.t = 48.0;
        c.monetary_value = Decimal::new(5_000, 2);
        c
    }

    fn options(resamples: u32) -> BootstrapOptions {
        BootstrapOptions {
            resamples,
            ..BootstrapOptions::new()
        }
    }

    #[test]
    fn interval_holds_the_estimate_narrows_with_data_and_repeats_for_a_seed() {
        let small = population(300, 7);
        let large = population(3_000, 7);
        let (c_small, c_large) = (regular(&small), regular(&large));
        let a =
            bootstrap_model_clv(PeriodUnit::Week, &small, &c_small, &options(60)).expect("small");
        let b =
            bootstrap_model_clv(PeriodUnit::Week, &large, &c_large, &options(60)).expect("large");
        for i in [&a, &b] {
            assert!(i.lower <= i.estimate && i.estimate <= i.upper, "{i:?}");
            assert!(i.lower < i.upper, "{i:?}");
            assert_eq!(i.resamples + i.failed_resamples, 60);
            assert!(i.resamples >= 50, "{i:?}");
        }
        let width = |i: &ClvInterval| decimal_to_f64(i.upper - i.lower);
        assert!(
            width(&b) < 0.7 * width(&a),
            "ten times the customers: {} vs {}",
            width(&b),
            width(&a)
        );
        let again =
            bootstrap_model_clv(PeriodUnit::Week, &small, &c_small, &options(60)).expect("again");
        assert_eq!(again, a);
        let other_seed = BootstrapOptions {
            seed: 99,
            ..options(60)
        };
        let c = bootstrap_model_clv(PeriodUnit::Week, &small, &c_small, &other_seed).expect("c");
        assert_eq!(c.estimate, a.estimate);
        assert_ne!((c.lower, c.upper), (a.lower, a.upper));
    }

    #[test]
    fn bad_settings_name_every_field() {
        let small = population(50, 1);
        let bad = BootstrapOptions {
            resamples: 3,
            level: 1.0,
            money_decimals: 11,
            ..BootstrapOptions::new()
        };
        let err = bootstrap_model_clv(PeriodUnit::Week, &small, &small[0], &bad).expect_err("bad");
        let fields: Vec<&str> = err
            .field_errors()
            .iter()
            .map(|f| f.field.as_str())
            .collect();
        assert_eq!(fields, ["resamples", "level", "money_decimals"]);
        let err =
            bootstrap_model_clv(PeriodUnit::Week, &[], &small[0], &options(10)).expect_err("empty");
        assert_eq!(err.field_errors()[0].field, "summaries");
    }
}
