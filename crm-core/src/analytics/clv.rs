//! Customer lifetime value: the guide's formula (fixed) and the model-based
//! value from BG/NBD and Gamma-Gamma.

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::{Deserialize, Serialize};

use super::bgnbd::BgNbdModel;
use super::gamma_gamma::GammaGammaParams;
use super::period::{PeriodUnit, Span};
use super::summary::CustomerSummary;
use crate::Result;
use crate::error::FieldErrors;

/// Settings of the guide's CLV formula.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HeuristicClvConfig {
    /// Gross margin on sales, 0 to 1 (the guide assumes 0.20).
    pub gross_margin: Decimal,
    /// Cost of serving one transaction, in money (the guide assumes 50).
    pub cost_per_transaction: Decimal,
}

impl Default for HeuristicClvConfig {
    fn default() -> Self {
        Self {
            gross_margin: Decimal::new(20, 2),
            cost_per_transaction: Decimal::new(50, 0),
        }
    }
}

impl HeuristicClvConfig {
    /// Checks the margin (0 to 1) and the cost (>= 0).
    pub fn validate(&self) -> Result<()> {
        let mut errors = FieldErrors::new();
        if self.gross_margin < Decimal::ZERO || self.gross_margin > Decimal::ONE {
            errors.push(
                "heuristic_clv.gross_margin",
                "range",
                "gross margin must be between 0 and 1",
            );
        }
        if self.cost_per_transaction < Decimal::ZERO {
            errors.push(
                "heuristic_clv.cost_per_transaction",
                "min",
                "cost per transaction must not be negative",
            );
        }
        errors.finish()
    }

    /// The guide's yearly CLV, with its bug fixed.
    ///
    /// The guide computes
    /// `purchases_per_year = (purchases / max(1, age_days / 365)) * 365`,
    /// which is already a yearly rate multiplied by 365 a second time, making
    /// every CLV 365 times too large. We implement the evident intent:
    ///
    /// `purchases_per_year = purchases / max(1, age_days / 365)`
    /// `CLV = purchases_per_year × average_order_value × margin
    ///        - purchases_per_year × cost_per_transaction`
    ///
    /// with `purchases` the purchase days (same-day purchases merged, where the
    /// guide counts rows of its purchase table), `average_order_value =
    /// total_spend / purchases` and `age_days` the days from the first
    /// purchase to the end of the period. A customer with no purchases is
    /// worth 0. The result is exact decimal arithmetic, rounded to
    /// `decimals` places, half away from zero.
    pub fn lifetime_value(
        &self,
        purchases: u32,
        total_spend: Decimal,
        age_days: f64,
        decimals: u32,
    ) -> Decimal {
        if purchases == 0 {
            return Decimal::ZERO;
        }
        let n = Decimal::from(purchases);
        // per_year × (total / n) × margin - per_year × cost with
        // per_year = n / years is (total × margin - n × cost) / years.
        let yearly = total_spend * self.gross_margin - n * self.cost_per_transaction;
        // Age in micro-days: exact for ages computed from dates.
        let micro_days = round_half_away(age_days.max(0.0) * 1e6).unwrap_or(0);
        if micro_days <= 365_000_000 {
            return yearly.round_dp_with_strategy(
                decimals,
                rust_decimal::RoundingStrategy::MidpointAwayFromZero,
            );
        }
        // yearly × 365 / age, rounded once, in integers when they fit (the
        // common case, several times faster than a 28-digit division).
        scaled_ratio(yearly, 365_000_000, micro_days, decimals).unwrap_or_else(|| {
            (yearly * Decimal::new(365_000_000, 6) / Decimal::new(micro_days, 6))
                .round_dp_with_strategy(
                    decimals,
                    rust_decimal::RoundingStrategy::MidpointAwayFromZero,
                )
        })
    }

    /// [`lifetime_value`](Self::lifetime_value) of a summary in `unit`.
    pub fn lifetime_value_of<K>(
        &self,
        summary: &CustomerSummary<K>,
        unit: PeriodUnit,
        decimals: u32,
    ) -> Decimal {
        self.lifetime_value(
            summary.purchases(),
            summary.total_spend,
            summary.t * unit.days(),
            decimals,
        )
    }
}

/// Settings of the model-based CLV: how far ahead, in which steps, at which
/// discount rate, at which margin.
///
/// Every unit is explicit. The reference library's `customer_lifetime_value`
/// instead assumes the model was fitted on daily data unless told otherwise
/// (`freq="D"`), converts months with a fixed factor (30 days, 4.345 weeks),
/// and applies no margin (the caller passes margins as "monetary value").
/// Here the step is a [`Span`] converted exactly into the model's unit, and
/// the margin is a setting; with `margin = 1`, monthly steps and a model in
/// days the two agree up to the month length (30 vs 30.4375 days).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ModelClvConfig {
    /// Number of steps summed.
    pub horizon_steps: u32,
    /// Length of one step (e.g. one month).
    pub step: Span,
    /// Discount rate per step (0.01 per month is about 12.7% a year); the
    /// value of step `i` is divided by `(1 + rate)^i`.
    pub discount_rate_per_step: f64,
    /// Gross margin applied to the expected revenue, 0 to 1.
    pub margin: Decimal,
}

impl Default for ModelClvConfig {
    /// Twelve months, 1% a month, 20% margin.
    fn default() -> Self {
        Self {
            horizon_steps: 12,
            step: Span::months(1),
            discount_rate_per_step: 0.01,
            margin: Decimal::new(20, 2),
        }
    }
}

impl ModelClvConfig {
    /// Sets the per-step rate equivalent to an annual rate:
    /// `(1 + annual)^(step / 1 year) - 1`.
    pub fn with_annual_discount_rate(mut self, annual: f64) -> Self {
        let years = self.step.in_unit(PeriodUnit::Day) / 365.25;
        self.discount_rate_per_step = (1.0 + annual).powf(years) - 1.0;
        self
    }

    /// Checks the settings.
    pub fn validate(&self) -> Result<()> {
        let mut errors = FieldErrors::new();
        if self.horizon_steps == 0 {
            errors.push(
                "model_clv.horizon_steps",
                "min",
                "horizon must have at least one step",
            );
        }
        if !(self.step.count.is_finite() && self.step.count > 0.0) {
            errors.push("model_clv.step", "min", "step must be a positive span");
        }
        if !(self.discount_rate_per_step.is_finite() && self.discount_rate_per_step > -1.0) {
            errors.push(
                "model_clv.discount_rate_per_step",
                "range",
                "discount rate must be a finite number > -1",
            );
        }
        if self.margin < Decimal::ZERO || self.margin > Decimal::ONE {
            errors.push(
                "model_clv.margin",
                "range",
                "margin must be between 0 and 1",
            );
        }
        errors.finish()
    }
}

/// One step of a model-based CLV.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClvStep {
    /// Step number, from 1.
    pub step: u32,
    /// Expected purchases within this step.
    pub expected_purchases: f64,
    /// Discounted margin of this step.
    pub value: Decimal,
}

/// A model-based CLV with its per-step breakdown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelClv {
    /// Every step of the horizon.
    pub steps: Vec<ClvStep>,
    /// Expected average spend per purchase used (Gamma-Gamma).
    pub expected_average_spend: Decimal,
    /// Sum of the step values.
    pub total: Decimal,
}

/// An `f64` model estimate as money rounded to `decimals` places (half away
/// from zero, on the binary value); `None` if not finite or beyond ±9.2e18
/// after scaling. Much faster than an exact binary-to-decimal conversion,
/// which matters when scoring millions of customers; estimates carry no
/// more precision than this anyway.
pub(crate) fn estimate_to_money(value: f64, decimals: u32) -> Option<Decimal> {
    let scale = POW10.get(decimals as usize)?;
    round_half_away(value * scale).map(|units| money(units, decimals))
}

/// `Decimal::new(units, decimals)` (`decimals` at most 28), built in
/// registers: `Decimal::new` is a call that writes the value to memory in
/// four parts, which its reader's 16-byte load then waits for.
#[inline(always)]
fn money(units: i64, decimals: u32) -> Decimal {
    let magnitude = units.unsigned_abs();
    Decimal::from_parts(
        magnitude as u32,
        (magnitude >> 32) as u32,
        0,
        units < 0,
        decimals,
    )
}

/// `d.to_f64()` as rust_decimal computes it, the same float bit for bit
/// (the Gamma-Gamma fit has always read spends this way, so its estimates
/// do not move), with one integer division where it takes two: the whole
/// part and the remainder together, in 64 bits where the mantissa and the
/// power of ten fit. [`decimal_to_f64`] is the cheaper conversion the
/// scorer and RFM use, within two ulps of this one.
pub(crate) fn decimal_as_f64(d: Decimal) -> f64 {
    let scale = d.scale();
    if scale == 0 {
        return d.mantissa() as f64;
    }
    let mantissa = d.mantissa().unsigned_abs();
    let precision = 10u128.pow(scale);
    let (integral_part, frac_part) = match (u64::try_from(mantissa), u64::try_from(precision)) {
        (Ok(m), Ok(p)) => (u128::from(m / p), u128::from(m % p)),
        _ => {
            let q = mantissa / precision;
            (q, mantissa - q * precision)
        }
    };
    let frac_f64 = (frac_part as f64) / (precision as f64);
    let integral = integral_part as f64;
    let negative = d.is_sign_negative();
    if frac_f64 == 0.0 {
        return if negative { -integral } else { integral };
    }
    let value = integral + frac_f64;
    let round_to = 10f64.powi(scale as i32);
    let rounded = (value * round_to).round() / round_to;
    if negative { -rounded } else { rounded }
}

/// Powers of ten as `f64`: exact up to 1e22, nearest beyond.
const POW10: [f64; 29] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22, 1e23, 1e24, 1e25, 1e26, 1e27, 1e28,
];

/// `v` rounded half away from zero, if finite and within ±9.2e18. Written
/// with a truncating cast: `f64::round` is a library call on baseline x86-64.
pub(crate) fn round_half_away(v: f64) -> Option<i64> {
    if !(v.is_finite() && v.abs() < 9.2e18) {
        return None;
    }
    let whole = v as i64;
    // Exact: |v| < 2^63 and the fraction of a float is representable.
    let fraction = v - whole as f64;
    Some(if fraction >= 0.5 {
        whole + 1
    } else if fraction <= -0.5 {
        whole - 1
    } else {
        whole
    })
}

/// `value × numerator / denominator` rounded half away from zero to
/// `decimals` places, exactly, in 128-bit integers; `None` on overflow (the
/// caller then divides in `Decimal`).
fn scaled_ratio(
    value: Decimal,
    numerator: i64,
    denominator: i64,
    decimals: u32,
) -> Option<Decimal> {
    if denominator <= 0 || decimals > 28 {
        return None;
    }
    let scale = value.scale();
    let mut num = value.mantissa().checked_mul(i128::from(numerator))?;
    let mut den = i128::from(denominator);
    if scale >= decimals {
        den = den.checked_mul(10i128.checked_pow(scale - decimals)?)?;
    } else {
        num = num.checked_mul(10i128.checked_pow(decimals - scale)?)?;
    }
    // One division (`%` would be a second library call for 128 bits), in
    // 64 bits where both fit; `den > 0`, so nothing overflows.
    let (q, r) = match (i64::try_from(num), i64::try_from(den)) {
        (Ok(n), Ok(d)) => {
            let q = n / d;
            (i128::from(q), i128::from(n - q * d))
        }
        _ => {
            let q = num / den;
            (q, num - q * den)
        }
    };
    let q = if 2 * r.unsigned_abs() >= den.unsigned_abs() {
        q + num.signum()
    } else {
        q
    };
    Decimal::try_from_i128_with_scale(q, decimals).ok()
}

/// A decimal as an `f64` (for ordering and model inputs). Mantissas below
/// 2^53 with scales up to 22 divide two exact floats, which rounds correctly;
/// longer mantissas (a mean such as 10/3 carries 28 digits) are within two
/// ulps, far below anything a statistical model can resolve.
pub(crate) fn decimal_to_f64(d: Decimal) -> f64 {
    let m = d.mantissa();
    let scale = d.scale() as usize;
    if m.unsigned_abs() < (1u128 << 53) && scale <= 22 {
        m as i64 as f64 / POW10[scale]
    } else {
        m as f64 / POW10.get(scale).copied().unwrap_or(1e28)
    }
}

/// Model CLV of a customer from the cumulative conditional expectations at
/// the end of each step (`cumulative[i]` = E\[purchases in (0, (i+1)·step\]\]).
pub(crate) fn discounted_value(
    cumulative: impl IntoIterator<Item = f64>,
    expected_spend: f64,
    config: &ModelClvConfig,
    decimals: u32,
) -> Option<ModelClv> {
    let margin = config.margin.to_f64()?;
    let mut steps = Vec::new();
    let mut previous = 0.0;
    let mut total = 0.0;
    let mut discount = 1.0;
    for (i, cum) in cumulative.into_iter().enumerate() {
        // Same arithmetic, in the same order, as `discounted_with`.
        discount /= 1.0 + config.discount_rate_per_step;
        let purchases = (cum - previous).max(0.0);
        let value = purchases * expected_spend * margin * discount;
        total += value;
        previous = cum;
        steps.push(ClvStep {
            step: i as u32 + 1,
            expected_purchases: purchases,
            value: estimate_to_money(value, decimals)?,
        });
    }
    Some(ModelClv {
        steps,
        expected_average_spend: estimate_to_money(expected_spend, decimals)?,
        total: estimate_to_money(total, decimals)?,
    })
}

/// The discounted value of expected purchases, in `f64`:
/// `Σ_i (E_i − E_{i−1}) · spend · margin / (1 + rate)^i` over the cumulative
/// expected purchases `E_1, E_2, …` at the end of each step (`E_0 = 0`).
/// The model CLV rounds this to money; the `lifetimes`-compatible CLV of the
/// Python package returns it as is, with `margin = 1`.
pub fn discounted_purchase_value(
    cumulative: impl IntoIterator<Item = f64>,
    spend: f64,
    margin: f64,
    rate_per_step: f64,
) -> f64 {
    discounted_with(cumulative, spend, margin, step_discounts(rate_per_step))
}

/// The discount factor of each step, `1 / (1 + rate)^i` for `i = 1, 2, …`,
/// each the one before divided by `1 + rate` (a scorer keeps them).
pub(crate) fn step_discounts(rate_per_step: f64) -> impl Iterator<Item = f64> {
    std::iter::successors(Some(1.0), move |d| Some(d / (1.0 + rate_per_step))).skip(1)
}

/// [`discounted_purchase_value`] with the steps' `discounts` given.
pub(crate) fn discounted_with(
    cumulative: impl IntoIterator<Item = f64>,
    spend: f64,
    margin: f64,
    discounts: impl IntoIterator<Item = f64>,
) -> f64 {
    let mut previous = 0.0;
    let mut total = 0.0;
    for (cum, discount) in cumulative.into_iter().zip(discounts) {
        total += (cum - previous).max(0.0) * spend * margin * discount;
        previous = cum;
    }
    total
}

/// The model-based CLV of one customer: for each step `i` of the horizon,
/// expected purchases in that step (BG/NBD, conditional on the history) ×
/// expected spend per purchase (Gamma-Gamma) × margin, discounted by
/// `(1 + rate)^i`. `None` when the Gamma-Gamma population mean does not exist
/// and the customer has no repeat purchases, or the values overflow.
pub fn model_lifetime_value<K>(
    bgnbd: &BgNbdModel,
    spend: &GammaGammaParams,
    summary: &CustomerSummary<K>,
    config: &ModelClvConfig,
    decimals: u32,
) -> Option<ModelClv> {
    let m = decimal_to_f64(summary.monetary_value);
    let expected_spend = spend.expected_average_spend_f64(summary.frequency, m)?;
    let step = config.step.in_unit(bgnbd.unit);
    let p = &bgnbd.params;
    let cumulative = (1..=config.horizon_steps).map(|i| {
        p.conditional_expected_purchases(
            summary.frequency,
            summary.recency,
            summary.t,
            f64::from(i) * step,
        )
    });
    discounted_value(cumulative, expected_spend, config, decimals)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guide_formula_without_the_double_365() {
        let c = HeuristicClvConfig::default();
        // 10 purchases of 1000 over two years: 5 a year.
        // 5 × 1000 × 0.20 - 5 × 50 = 750.
        let v = c.lifetime_value(10, Decimal::new(10_000, 0), 730.0, 2);
        assert_eq!(v, Decimal::new(75_000, 2));
        // Younger than a year counts as a year: 3 purchases of 400 in 100 days.
        let v = c.lifetime_value(3, Decimal::new(1200, 0), 100.0, 2);
        assert_eq!(v, Decimal::new(3 * 400 * 20 / 100 - 3 * 50, 0));
        assert_eq!(c.lifetime_value(0, Decimal::ZERO, 0.0, 2), Decimal::ZERO);
        let custom = HeuristicClvConfig {
            gross_margin: Decimal::new(35, 2),
            cost_per_transaction: Decimal::ZERO,
        };
        assert_eq!(
            custom.lifetime_value(2, Decimal::new(200, 0), 365.0, 2),
            Decimal::new(7000, 2)
        );
    }

    #[test]
    fn integer_ratio_matches_decimal_division() {
        let away = rust_decimal::RoundingStrategy::MidpointAwayFromZero;
        for (v, num, den) in [
            (Decimal::new(-13_520, 2), 365_000_000, 730_000_000),
            (Decimal::new(123_456_789, 4), 365_000_000, 500_000_000),
            (Decimal::new(-5, 3), 365_000_000, 400_000_000),
            (Decimal::new(1, 0), 1, 8),
            (Decimal::new(-1, 0), 1, 8),
        ] {
            for dp in [0, 2, 4] {
                let want =
                    (v * Decimal::from(num) / Decimal::from(den)).round_dp_with_strategy(dp, away);
                assert_eq!(
                    scaled_ratio(v, num, den, dp),
                    Some(want),
                    "{v} {num}/{den} dp {dp}"
                );
            }
        }
    }

    #[test]
    fn fast_conversions_are_exact_where_it_matters() {
        for (v, want) in [
            (2.5, 3),
            (-2.5, -3),
            (2.4999, 2),
            (-0.5, -1),
            (0.49, 0),
            (1e15 + 0.5, 1_000_000_000_000_001),
        ] {
            assert_eq!(round_half_away(v), Some(want), "{v}");
        }
        assert_eq!(round_half_away(f64::NAN), None);
        assert_eq!(round_half_away(1e19), None);
        assert_eq!(estimate_to_money(12.345_67, 2), Some(Decimal::new(1235, 2)));
        for d in [
            Decimal::new(2235, 3),
            Decimal::new(-1, 2),
            Decimal::new(123_456_789, 4),
            Decimal::ZERO,
        ] {
            assert_eq!(decimal_to_f64(d), d.to_f64().unwrap_or(f64::NAN), "{d}");
        }
        for d in [
            Decimal::MAX,
            Decimal::TEN / Decimal::new(3, 0),
            Decimal::new(735, 2) / Decimal::new(7, 0),
        ] {
            let exact = d.to_f64().unwrap_or(f64::NAN);
            assert!(
                (decimal_to_f64(d) - exact).abs() <= 4.0 * f64::EPSILON * exact.abs(),
                "{d}"
            );
        }
    }

    /// `decimal_as_f64` is rust_decimal's `to_f64`, bit for bit, at every
    /// scale and mantissa length (means of a division carry 28 digits);
    /// `money` is `Decimal::new`; `scaled_ratio` rounds as exact decimal
    /// arithmetic does.
    #[test]
    fn fast_decimal_paths_match_rust_decimal() {
        let mut seed = 11u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut checked = 0;
        for _ in 0..200_000 {
            let (a, b) = (next(), next());
            let bits = 1 + (a % 96) as u32;
            let mantissa = ((u128::from(a) << 64 | u128::from(b)) >> (128 - bits)) as i128;
            let scale = (b % 29) as u32;
            let negative = a & 1 == 1;
            let Ok(d) = Decimal::try_from_i128_with_scale(
                if negative { -mantissa } else { mantissa },
                scale,
            ) else {
                continue;
            };
            let want = d.to_f64().unwrap_or(f64::NAN);
            assert_eq!(decimal_as_f64(d).to_bits(), want.to_bits(), "{d}");
            checked += 1;
        }
        assert!(checked > 150_000);
        for d in [
            Decimal::new(40_792, 2) / Decimal::new(3, 0),
            Decimal::TEN / Decimal::new(3, 0),
            Decimal::MAX,
            Decimal::MIN,
            Decimal::ZERO,
            Decimal::new(-5, 3),
        ] {
            let want = d.to_f64().unwrap_or(f64::NAN);
            assert_eq!(decimal_as_f64(d).to_bits(), want.to_bits(), "{d}");
        }
        for units in [0, 1, -1, 12_345, -12_345, i64::MAX, i64::MIN, 1 << 40] {
            for decimals in [0, 2, 6, 28] {
                assert_eq!(money(units, decimals), Decimal::new(units, decimals));
                let m = money(units, decimals);
                assert_eq!((m.mantissa(), m.scale()), (i128::from(units), decimals));
            }
        }
        for (value, numerator, denominator) in [
            (Decimal::new(123_456, 2), 365_000_000, 400_000_000),
            (Decimal::new(-123_456, 2), 365_000_000, 1_000_000_000),
            (Decimal::new(5, 1), 1, 3),
            (Decimal::MAX, 365_000_000, 400_000_001),
        ] {
            let fast = scaled_ratio(value, numerator, denominator, 2);
            match value.checked_mul(Decimal::from(numerator)) {
                Some(product) => {
                    let exact = (product / Decimal::from(denominator)).round_dp_with_strategy(
                        2,
                        rust_decimal::RoundingStrategy::MidpointAwayFromZero,
                    );
                    assert_eq!(fast, Some(exact), "{value} x {numerator} / {denominator}");
                }
                // Too large for 128 bits as well: the caller's fallback.
                None => assert_eq!(fast, None),
            }
        }
    }

    #[test]
    fn annual_rate_converts_to_the_step() {
        let c = ModelClvConfig::default().with_annual_discount_rate(0.12);
        let twelve = (1.0 + c.discount_rate_per_step).powi(12);
        assert!((twelve - 1.12).abs() < 1e-12);
        assert!(c.validate().is_ok());
        let bad = ModelClvConfig {
            horizon_steps: 0,
            ..c
        };
        assert!(bad.validate().is_err());
    }

    #[test]
    fn discounting_per_step() {
        let c = ModelClvConfig {
            horizon_steps: 2,
            step: Span::months(1),
            discount_rate_per_step: 0.1,
            margin: Decimal::ONE,
        };
        let clv = discounted_value([1.0, 2.0], 110.0, &c, 2).expect("value");
        assert_eq!(clv.steps[0].value, Decimal::new(10_000, 2));
        assert_eq!(clv.steps[1].value, Decimal::new(9091, 2));
        assert_eq!(clv.total, Decimal::new(19_091, 2));
    }
}
