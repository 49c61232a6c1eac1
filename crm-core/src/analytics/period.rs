//! Explicit time units for summaries, model parameters and forecasts.
//!
//! Every duration the analytics module reads or writes carries its unit, so a
//! model fitted on weekly data cannot silently be read as daily (the reference
//! Python library assumes days in its CLV).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Error;

/// The unit in which recency, customer age (`T`), model parameters and
/// forecasting horizons are expressed.
///
/// Purchases are bucketed to UTC calendar days first (same-day purchases are
/// one purchase, as in the buy-till-you-die literature); day counts are then
/// divided by [`PeriodUnit::days`]. A month is the mean Gregorian month,
/// 365.25 / 12 = 30.4375 days, so that month-based figures are fractional and
/// exact rather than dependent on which calendar months a span crosses.
/// (The reference library instead floors dates to calendar periods and merges
/// all purchases of a week or month into one; we keep day resolution.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum PeriodUnit {
    /// One UTC calendar day.
    Day,
    /// Seven days; the unit of the published CDNOW results.
    #[default]
    Week,
    /// The mean Gregorian month, 30.4375 days.
    Month,
}

impl PeriodUnit {
    /// Every unit, in a stable order.
    pub const ALL: [PeriodUnit; 3] = [PeriodUnit::Day, PeriodUnit::Week, PeriodUnit::Month];

    /// Length of one unit in days.
    pub fn days(self) -> f64 {
        match self {
            PeriodUnit::Day => 1.0,
            PeriodUnit::Week => 7.0,
            PeriodUnit::Month => 365.25 / 12.0,
        }
    }

    /// A whole number of days expressed in this unit.
    pub fn from_days(self, days: i64) -> f64 {
        // Exact for day and week counts below 2^53; the division is the only rounding.
        days as f64 / self.days()
    }

    /// The lower-case name (`day`, `week`, `month`).
    pub fn as_str(self) -> &'static str {
        match self {
            PeriodUnit::Day => "day",
            PeriodUnit::Week => "week",
            PeriodUnit::Month => "month",
        }
    }
}

impl fmt::Display for PeriodUnit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PeriodUnit {
    type Err = Error;

    /// Parses `day`, `week` or `month` (also plural, `d`/`w`/`m`, any case).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "day" | "days" | "d" | "daily" => Ok(PeriodUnit::Day),
            "week" | "weeks" | "w" | "weekly" => Ok(PeriodUnit::Week),
            "month" | "months" | "m" | "monthly" => Ok(PeriodUnit::Month),
            _ => Err(Error::invalid(
                "period",
                "one_of",
                format!("unknown period unit {s:?}; expected day, week or month"),
            )),
        }
    }
}

/// A length of time with its unit: `Span::new(90.0, PeriodUnit::Day)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Span {
    /// How many units (may be fractional, must be finite and >= 0).
    pub count: f64,
    /// The unit of `count`.
    pub unit: PeriodUnit,
}

impl Span {
    /// A span of `count` units.
    pub fn new(count: f64, unit: PeriodUnit) -> Self {
        Self { count, unit }
    }

    /// A span of whole days.
    pub fn days(days: u32) -> Self {
        Self::new(f64::from(days), PeriodUnit::Day)
    }

    /// A span of whole weeks.
    pub fn weeks(weeks: u32) -> Self {
        Self::new(f64::from(weeks), PeriodUnit::Week)
    }

    /// A span of whole (mean Gregorian) months.
    pub fn months(months: u32) -> Self {
        Self::new(f64::from(months), PeriodUnit::Month)
    }

    /// This span expressed in `unit`.
    pub fn in_unit(self, unit: PeriodUnit) -> f64 {
        if self.unit == unit {
            self.count
        } else {
            self.count * self.unit.days() / unit.days()
        }
    }

    /// Checks that the count is finite and not negative; `field` names it in the error.
    pub fn validate(self, field: &str) -> crate::Result<()> {
        if self.count.is_finite() && self.count >= 0.0 {
            Ok(())
        } else {
            Err(Error::invalid(
                field,
                "min",
                format!(
                    "{field} must be a finite, non-negative span, got {}",
                    self.count
                ),
            ))
        }
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.count, self.unit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_convert_through_days() {
        assert_eq!(PeriodUnit::Week.from_days(272), 272.0 / 7.0);
        assert_eq!(Span::days(90).in_unit(PeriodUnit::Week), 90.0 / 7.0);
        assert_eq!(Span::months(12).in_unit(PeriodUnit::Day), 365.25);
        assert_eq!(Span::weeks(3).in_unit(PeriodUnit::Week), 3.0);
    }

    #[test]
    fn parses_unit_names() {
        assert_eq!("Week".parse::<PeriodUnit>().ok(), Some(PeriodUnit::Week));
        assert_eq!("d".parse::<PeriodUnit>().ok(), Some(PeriodUnit::Day));
        assert_eq!("months".parse::<PeriodUnit>().ok(), Some(PeriodUnit::Month));
        let err = "fortnight".parse::<PeriodUnit>().expect_err("unknown unit");
        assert_eq!(err.kind(), crate::ErrorKind::Validation);
    }

    #[test]
    fn rejects_negative_spans() {
        assert!(Span::days(3).validate("horizon").is_ok());
        assert!(
            Span::new(-1.0, PeriodUnit::Day)
                .validate("horizon")
                .is_err()
        );
        assert!(
            Span::new(f64::NAN, PeriodUnit::Day)
                .validate("horizon")
                .is_err()
        );
    }
}
