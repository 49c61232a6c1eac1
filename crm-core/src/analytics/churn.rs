//! Churn prediction (the guide's `getChurnPrediction`): a churn probability,
//! a risk level with configurable thresholds, and a recommended action.
//!
//! With a fitted BG/NBD model the churn probability is `1 - P(alive)`. Mind
//! the model's known blind spot: it lets a customer drop out only right after
//! a *repeat* purchase, so a customer who bought once, however long ago, has
//! P(alive) = 1 and LOW risk. Their RFM segment (typically LOST or AT_RISK) and
//! their small `expected_purchases_90d` carry the warning instead. (The
//! MBG/NBD variant, which also allows drop-out after the first purchase, would
//! remove this; it is not implemented.)

use serde::{Deserialize, Serialize};

use super::period::{PeriodUnit, Span};
use crate::error::FieldErrors;
use crate::{Error, Result};

/// How likely a customer is to have stopped buying.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ChurnRisk {
    /// Below the medium threshold.
    Low,
    /// At or above the medium threshold.
    Medium,
    /// At or above the high threshold.
    High,
    /// At or above the critical threshold.
    Critical,
}

impl ChurnRisk {
    /// The upper-case name (`LOW`, `MEDIUM`, `HIGH`, `CRITICAL`).
    pub fn as_str(self) -> &'static str {
        match self {
            ChurnRisk::Low => "LOW",
            ChurnRisk::Medium => "MEDIUM",
            ChurnRisk::High => "HIGH",
            ChurnRisk::Critical => "CRITICAL",
        }
    }
}

impl std::fmt::Display for ChurnRisk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Lower bounds of the risk levels on the churn probability.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChurnThresholds {
    /// From this probability on, MEDIUM (default 0.25).
    pub medium: f64,
    /// From this probability on, HIGH (default 0.50).
    pub high: f64,
    /// From this probability on, CRITICAL (default 0.75).
    pub critical: f64,
}

impl Default for ChurnThresholds {
    fn default() -> Self {
        Self {
            medium: 0.25,
            high: 0.50,
            critical: 0.75,
        }
    }
}

impl ChurnThresholds {
    /// Checks `0 < medium < high < critical <= 1`.
    pub fn validate(&self) -> Result<()> {
        let ok = self.medium > 0.0
            && self.medium < self.high
            && self.high < self.critical
            && self.critical <= 1.0;
        if ok {
            Ok(())
        } else {
            Err(Error::invalid(
                "churn.thresholds",
                "order",
                format!(
                    "thresholds must satisfy 0 < medium < high < critical <= 1, got {} / {} / {}",
                    self.medium, self.high, self.critical
                ),
            ))
        }
    }

    /// The risk level of a churn probability.
    pub fn risk(&self, churn_probability: f64) -> ChurnRisk {
        if churn_probability >= self.critical {
            ChurnRisk::Critical
        } else if churn_probability >= self.high {
            ChurnRisk::High
        } else if churn_probability >= self.medium {
            ChurnRisk::Medium
        } else {
            ChurnRisk::Low
        }
    }
}

/// The action recommended for each risk level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RecommendedActions {
    /// For LOW risk.
    pub low: String,
    /// For MEDIUM risk.
    pub medium: String,
    /// For HIGH risk.
    pub high: String,
    /// For CRITICAL risk.
    pub critical: String,
}

impl Default for RecommendedActions {
    fn default() -> Self {
        Self {
            low: "Keep engaged: regular communication and loyalty rewards".into(),
            medium: "Send a personalised offer on products they bought before".into(),
            high: "Run a win-back campaign: time-limited discount and a personal contact".into(),
            critical: "Last-chance reactivation offer; stop costly outreach if it fails".into(),
        }
    }
}

impl RecommendedActions {
    /// The action for `risk`.
    pub fn for_risk(&self, risk: ChurnRisk) -> &str {
        match risk {
            ChurnRisk::Low => &self.low,
            ChurnRisk::Medium => &self.medium,
            ChurnRisk::High => &self.high,
            ChurnRisk::Critical => &self.critical,
        }
    }
}

/// Where a churn probability came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ChurnMethod {
    /// 1 - P(alive) of the fitted BG/NBD model.
    BgNbd,
    /// The recency heuristic of [`recency_churn_probability`], used when the
    /// model could not be fitted.
    RecencyFallback,
}

impl ChurnMethod {
    /// The snake-case name (`bg_nbd`, `recency_fallback`).
    pub fn as_str(self) -> &'static str {
        match self {
            ChurnMethod::BgNbd => "bg_nbd",
            ChurnMethod::RecencyFallback => "recency_fallback",
        }
    }
}

/// Settings of churn prediction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChurnConfig {
    /// Risk level thresholds.
    pub thresholds: ChurnThresholds,
    /// Action per risk level.
    pub actions: RecommendedActions,
    /// Fewer customers than this: no BG/NBD fit, recency fallback (default 100).
    pub min_customers: u64,
    /// Fewer repeat customers than this: no model fits (default 20). The
    /// drop-out process is only identified by customers who came back.
    pub min_repeat_customers: u64,
    /// Fallback: how many usual gaps of silence make churn 1 - e^-1 (default 2).
    pub fallback_patience: f64,
    /// Fallback: the usual gap between purchases when no customer has bought
    /// twice (default 30 days).
    pub fallback_gap: Span,
}

impl Default for ChurnConfig {
    fn default() -> Self {
        Self {
            thresholds: ChurnThresholds::default(),
            actions: RecommendedActions::default(),
            min_customers: 100,
            min_repeat_customers: 20,
            fallback_patience: 2.0,
            fallback_gap: Span::days(30),
        }
    }
}

impl ChurnConfig {
    /// Checks thresholds and fallback settings.
    pub fn validate(&self) -> Result<()> {
        self.thresholds.validate()?;
        let mut errors = FieldErrors::new();
        if !(self.fallback_patience.is_finite() && self.fallback_patience > 0.0) {
            errors.push(
                "churn.fallback_patience",
                "min",
                "fallback patience must be a positive number",
            );
        }
        if !(self.fallback_gap.count.is_finite() && self.fallback_gap.count > 0.0) {
            errors.push(
                "churn.fallback_gap",
                "min",
                "fallback gap must be a positive span",
            );
        }
        errors.finish()
    }
}

/// The guide's churn prediction for one customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChurnPrediction {
    /// Probability the customer has stopped buying, 0 to 1.
    pub churn_probability: f64,
    /// Risk level of that probability.
    pub risk_level: ChurnRisk,
    /// What to do about it.
    pub recommended_action: String,
    /// Model or fallback.
    pub method: ChurnMethod,
}

/// The recency fallback: `1 - exp(-s / (patience · g))`, with `s` the time
/// since the last purchase and `g` the customer's usual gap between purchases
/// (`recency / frequency`, or `population_gap` for one-time buyers). A
/// customer silent for one usual gap scores 0.39 with the default patience of
/// 2, for two gaps 0.63, for three 0.78. It is a transparent rule of thumb,
/// not a probability model: results carry [`ChurnMethod::RecencyFallback`].
pub fn recency_churn_probability(
    frequency: u32,
    recency: f64,
    t_age: f64,
    population_gap: f64,
    patience: f64,
    unit: PeriodUnit,
) -> f64 {
    let silence = (t_age - recency).max(0.0);
    let own_gap = if frequency > 0 {
        recency / f64::from(frequency)
    } else {
        population_gap
    };
    // At least one day, so a same-week burst does not make every silence fatal.
    let gap = own_gap.max(1.0 / unit.days());
    let p = -(-silence / (patience * gap)).exp_m1();
    p.clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_and_actions() {
        let t = ChurnThresholds::default();
        assert_eq!(t.risk(0.0), ChurnRisk::Low);
        assert_eq!(t.risk(0.25), ChurnRisk::Medium);
        assert_eq!(t.risk(0.6), ChurnRisk::High);
        assert_eq!(t.risk(0.75), ChurnRisk::Critical);
        let custom = ChurnThresholds {
            medium: 0.1,
            high: 0.2,
            critical: 0.3,
        };
        assert_eq!(custom.risk(0.25), ChurnRisk::High);
        assert!(
            ChurnThresholds {
                medium: 0.5,
                high: 0.4,
                critical: 0.9
            }
            .validate()
            .is_err()
        );
        let actions = RecommendedActions::default();
        assert!(
            actions
                .for_risk(ChurnRisk::Critical)
                .contains("reactivation")
        );
    }

    #[test]
    fn fallback_grows_with_silence_relative_to_the_usual_gap() {
        let p = |since: f64| {
            recency_churn_probability(4, 40.0, 40.0 + since, 7.0, 2.0, PeriodUnit::Day)
        };
        assert_eq!(p(0.0), 0.0);
        assert!((p(10.0) - (1.0 - (-0.5f64).exp())).abs() < 1e-12);
        assert!(p(5.0) < p(10.0) && p(10.0) < p(30.0));
        let one_timer = recency_churn_probability(0, 0.0, 14.0, 7.0, 2.0, PeriodUnit::Day);
        assert!((one_timer - (1.0 - (-1.0f64).exp())).abs() < 1e-12);
    }
}
