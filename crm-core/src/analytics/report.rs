//! What a dashboard shows of the whole store, computed once per model fit
//! in the scoring pass that totals the segments, and kept with the fit:
//! reading it is one settings read, whatever the number of customers.
//!
//! `ReportBuilder` is fed every net sale of the history in `(customer,
//! date)` order (sales over time, cohorts) and every customer's score (RFM
//! grid, lifetime-value histogram, churn risk, P(alive) by recency).

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{AnalyticsModel, ChurnRisk, CustomerAnalytics, PeriodUnit, RfmSegment, SegmentTotal};
use crate::customer::CustomerId;
use crate::{Error, Result};

/// Days of daily sales kept (`sales_by_day`), today included.
pub const SALES_DAYS: usize = 90;
/// Months of monthly sales kept (`sales_by_month`), this month included.
pub const SALES_MONTHS: usize = 36;
/// Cohorts kept (`cohorts`): customers by the month of their first purchase,
/// this many most recent months.
pub const COHORT_MONTHS: usize = 24;

/// Upper bounds (exclusive, in the currency's units) of the lifetime-value
/// bins; the last bin is open-ended and the first takes values below 0 too.
const VALUE_EDGES: [i64; 11] = [
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
];

/// Upper bounds (inclusive, in days since the last purchase) of the recency
/// bins of P(alive); the last bin is open-ended.
const RECENCY_EDGES: [u32; 7] = [30, 60, 90, 180, 365, 540, 730];

/// Counts of the store at the time of a fit (read once per fit, not per view).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StoreTotals {
    /// Customers, active or not (merged ones included).
    pub customers: u64,
    /// Active customers.
    pub active_customers: u64,
    /// Points customers can still redeem: the sum of positive balances.
    pub points_outstanding: i64,
}

/// Where the last fit placed one customer: what the customer listing's
/// `segment`, `recency_score` and `frequency_score` filters read. Stores keep
/// one row per customer with purchases, replaced at every fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerSegment {
    /// The customer.
    pub customer_id: CustomerId,
    /// The guide's segment.
    pub segment: RfmSegment,
    /// Recency score, 1-5.
    pub recency_score: u8,
    /// Frequency score, 1-5.
    pub frequency_score: u8,
    /// Monetary score, 1-5.
    pub monetary_score: u8,
}

impl CustomerSegment {
    /// The placement of a scored customer.
    pub fn of(a: &CustomerAnalytics<CustomerId>) -> Self {
        Self {
            customer_id: a.customer_id,
            segment: a.segment,
            recency_score: a.rfm.recency,
            frequency_score: a.rfm.frequency,
            monetary_score: a.rfm.monetary,
        }
    }
}

/// Purchases and net revenue of one day (`YYYY-MM-DD`) or month (`YYYY-MM`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SalesPoint {
    /// The day or month.
    pub period: String,
    /// Purchases (fully refunded ones left out).
    pub purchases: u64,
    /// Revenue net of refunds.
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "1250000.00"))]
    pub revenue: Decimal,
}

/// Customers of one cell of the recency × frequency grid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RfmCell {
    /// Recency score, 1-5 (5 = most recent).
    pub recency_score: u8,
    /// Frequency score, 1-5.
    pub frequency_score: u8,
    /// Customers in the cell.
    pub customers: u64,
    /// Sum of their yearly lifetime values.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub total_lifetime_value: Decimal,
}

/// Customers whose lifetime value falls in `[from, to)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ValueBin {
    /// Lower bound (the first bin also counts values below it).
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub from: Decimal,
    /// Upper bound, exclusive; `null` for the last bin.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub to: Option<Decimal>,
    /// Customers in the bin.
    pub customers: u64,
}

/// Customers at one churn-risk level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RiskCount {
    /// The level.
    pub risk_level: ChurnRisk,
    /// Customers at it.
    pub customers: u64,
}

/// Mean P(alive) of the customers whose last purchase was `days_from` to
/// `days_to` days ago.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AliveBin {
    /// Fewest days since the last purchase.
    pub days_from: u32,
    /// Most days since the last purchase; `null` for the last bin.
    pub days_to: Option<u32>,
    /// Customers in the bin.
    pub customers: u64,
    /// Their mean P(alive) (0 to 1); 0 for an empty bin.
    pub mean_p_alive: f64,
}

/// Customers by the month of their first purchase, and the share of them
/// who bought again in each later month.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Cohort {
    /// Month of the first purchase (`YYYY-MM`).
    pub cohort: String,
    /// Customers who first bought that month.
    pub customers: u64,
    /// `retention[k]`: the share (0 to 1) of them who bought in the k-th
    /// month after it (`retention[0]` = 1); complete months only (the
    /// month of the fit is left out, but for the cohort of that month).
    pub retention: Vec<f64>,
}

/// The store-wide figures of one fit ([`Analytics::report`](crate::Analytics::report),
/// [`Analytics::dashboard`](crate::Analytics::dashboard)); the default is
/// the report of an empty store.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AnalyticsReport {
    /// Customer counts and points outstanding.
    pub totals: StoreTotals,
    /// Purchases in the 30 days up to the fit.
    pub purchases_30d: u64,
    /// Net revenue in the 30 days up to the fit.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub revenue_30d: Decimal,
    /// The last [`SALES_DAYS`] days, oldest first.
    pub sales_by_day: Vec<SalesPoint>,
    /// Up to the last [`SALES_MONTHS`] months with sales, oldest first.
    pub sales_by_month: Vec<SalesPoint>,
    /// The 25 recency × frequency cells (empty ones included).
    pub rfm_grid: Vec<RfmCell>,
    /// Customers by yearly lifetime value.
    pub clv_histogram: Vec<ValueBin>,
    /// Customers per churn-risk level (every level, empty ones included).
    pub churn_risk: Vec<RiskCount>,
    /// Mean P(alive) by days since the last purchase.
    pub alive_by_recency: Vec<AliveBin>,
    /// Up to the last [`COHORT_MONTHS`] cohorts, oldest first.
    pub cohorts: Vec<Cohort>,
}

/// What the dashboard's first view needs, in one answer
/// ([`Analytics::dashboard`](crate::Analytics::dashboard)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Dashboard {
    /// The fit the figures come from; `null` while there is no purchase.
    pub generation: Option<u64>,
    /// When that fit ran: the figures are as of then.
    pub as_of: Option<DateTime<Utc>>,
    /// The headline figures.
    pub kpis: Kpis,
    /// Customers and lifetime value per segment.
    pub segments: Vec<SegmentTotal>,
    /// Daily sales of the last [`SALES_DAYS`] days.
    pub sales_by_day: Vec<SalesPoint>,
    /// Monthly sales.
    pub sales_by_month: Vec<SalesPoint>,
}

/// The dashboard's headline figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Kpis {
    /// Customers, active or not.
    pub customers: u64,
    /// Active customers.
    pub active_customers: u64,
    /// Points customers can still redeem.
    pub points_outstanding: i64,
    /// Net revenue of the last 30 days.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub revenue_30d: Decimal,
    /// Purchases of the last 30 days.
    pub purchases_30d: u64,
    /// Share of customers with purchases who bought more than once; `null`
    /// without any purchase.
    pub repeat_rate: Option<f64>,
}

/// The analytics page's figures: the report with the model it comes from
/// ([`Analytics::report`](crate::Analytics::report)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReportView {
    /// The fit.
    pub generation: u64,
    /// When it ran.
    pub as_of: DateTime<Utc>,
    /// The model, with its notes (`churn_method` says whether churn used the
    /// recency fallback).
    pub model: AnalyticsModel,
    /// Customers and lifetime value per segment.
    pub segments: Vec<SegmentTotal>,
    /// The figures.
    #[serde(flatten)]
    pub report: AnalyticsReport,
}

/// Month number since year 0 (`year × 12 + month - 1`).
fn month_index(d: NaiveDate) -> i32 {
    d.year() * 12 + d.month0() as i32
}

/// `YYYY-MM` of a month number.
fn month_name(index: i32) -> String {
    format!(
        "{:04}-{:02}",
        index.div_euclid(12),
        index.rem_euclid(12) + 1
    )
}

/// Builds an [`AnalyticsReport`] from a pass over the history.
#[derive(Debug)]
pub(crate) struct ReportBuilder {
    today: NaiveDate,
    unit: PeriodUnit,
    days: Vec<(u64, Decimal)>,
    months: BTreeMap<i32, (u64, Decimal)>,
    /// The customer whose sales are arriving: id, month of the first sale,
    /// months with a sale (bit k = k months after the first).
    current: Option<(CustomerId, i32, u64)>,
    cohorts: BTreeMap<i32, (u64, [u64; 64])>,
    grid: [[(u64, Decimal); 5]; 5],
    values: [u64; VALUE_EDGES.len() + 1],
    risk: BTreeMap<ChurnRisk, u64>,
    alive: [(u64, f64); RECENCY_EDGES.len() + 1],
}

impl ReportBuilder {
    /// A builder for a pass made on `today` with models in `unit`.
    pub(crate) fn new(today: NaiveDate, unit: PeriodUnit) -> Self {
        Self {
            today,
            unit,
            days: vec![(0, Decimal::ZERO); SALES_DAYS],
            months: BTreeMap::new(),
            current: None,
            cohorts: BTreeMap::new(),
            grid: [[(0, Decimal::ZERO); 5]; 5],
            values: [0; VALUE_EDGES.len() + 1],
            risk: BTreeMap::new(),
            alive: [(0, 0.0); RECENCY_EDGES.len() + 1],
        }
    }

    /// Counts one net sale; sales arrive in `(customer, date)` order.
    /// Sales dated after today are left out.
    pub(crate) fn sale(&mut self, customer: CustomerId, at: DateTime<Utc>, amount: Decimal) {
        let day = at.date_naive();
        if day > self.today {
            return;
        }
        let back = (self.today - day).num_days();
        if let Ok(back) = usize::try_from(back)
            && back < SALES_DAYS
        {
            let slot = &mut self.days[SALES_DAYS - 1 - back];
            slot.0 += 1;
            slot.1 = slot.1.saturating_add(amount);
        }
        let month = month_index(day);
        let slot = self.months.entry(month).or_insert((0, Decimal::ZERO));
        slot.0 += 1;
        slot.1 = slot.1.saturating_add(amount);
        match &mut self.current {
            Some((c, first, seen)) if *c == customer => {
                if let Ok(k) = u32::try_from(month - *first)
                    && k < 64
                {
                    *seen |= 1 << k;
                }
            }
            _ => {
                self.close_customer();
                self.current = Some((customer, month, 1));
            }
        }
    }

    fn close_customer(&mut self) {
        if let Some((_, first, seen)) = self.current.take() {
            let row = self.cohorts.entry(first).or_insert((0, [0; 64]));
            row.0 += 1;
            for (k, n) in row.1.iter_mut().enumerate() {
                *n += (seen >> k) & 1;
            }
        }
    }

    /// Counts one customer's score.
    pub(crate) fn score(&mut self, a: &CustomerAnalytics<CustomerId>) {
        let r = usize::from(a.rfm.recency.clamp(1, 5)) - 1;
        let f = usize::from(a.rfm.frequency.clamp(1, 5)) - 1;
        let cell = &mut self.grid[r][f];
        cell.0 += 1;
        cell.1 = cell.1.saturating_add(a.lifetime_value);
        let bin = VALUE_EDGES
            .iter()
            .position(|&edge| a.lifetime_value < Decimal::from(edge))
            .unwrap_or(VALUE_EDGES.len());
        self.values[bin] += 1;
        *self.risk.entry(a.risk_level).or_insert(0) += 1;
        let days_since = ((a.t - a.recency) * self.unit.days()).max(0.0).round();
        let bin = RECENCY_EDGES
            .iter()
            .position(|&edge| days_since <= f64::from(edge))
            .unwrap_or(RECENCY_EDGES.len());
        self.alive[bin].0 += 1;
        self.alive[bin].1 += a.p_alive;
    }

    /// The report, with the store's `totals`.
    pub(crate) fn finish(mut self, totals: StoreTotals) -> Result<AnalyticsReport> {
        self.close_customer();
        let first_day = self.today - Duration::days(SALES_DAYS as i64 - 1);
        let sales_by_day = self
            .days
            .iter()
            .enumerate()
            .map(|(i, &(purchases, revenue))| SalesPoint {
                period: (first_day + Duration::days(i as i64)).to_string(),
                purchases,
                revenue,
            })
            .collect::<Vec<_>>();
        let last30 = &sales_by_day[SALES_DAYS - 30..];
        let purchases_30d = last30.iter().map(|p| p.purchases).sum();
        let revenue_30d = last30
            .iter()
            .try_fold(Decimal::ZERO, |sum, p| sum.checked_add(p.revenue))
            .ok_or_else(|| Error::storage_msg("revenue overflows a decimal"))?;
        let this_month = month_index(self.today);
        let sales_by_month = self
            .months
            .range(this_month - SALES_MONTHS as i32 + 1..=this_month)
            .map(|(&m, &(purchases, revenue))| SalesPoint {
                period: month_name(m),
                purchases,
                revenue,
            })
            .collect();
        let rfm_grid = (0..5u8)
            .flat_map(|r| (0..5u8).map(move |f| (r, f)))
            .map(|(r, f)| {
                let (customers, total) = self.grid[usize::from(r)][usize::from(f)];
                RfmCell {
                    recency_score: r + 1,
                    frequency_score: f + 1,
                    customers,
                    total_lifetime_value: total,
                }
            })
            .collect();
        let clv_histogram = self
            .values
            .iter()
            .enumerate()
            .map(|(i, &customers)| ValueBin {
                from: match i {
                    0 => Decimal::ZERO,
                    _ => Decimal::from(VALUE_EDGES[i - 1]),
                },
                to: VALUE_EDGES.get(i).map(|&e| Decimal::from(e)),
                customers,
            })
            .collect();
        let churn_risk = [
            ChurnRisk::Low,
            ChurnRisk::Medium,
            ChurnRisk::High,
            ChurnRisk::Critical,
        ]
        .into_iter()
        .map(|risk_level| RiskCount {
            risk_level,
            customers: self.risk.get(&risk_level).copied().unwrap_or(0),
        })
        .collect();
        let alive_by_recency = self
            .alive
            .iter()
            .enumerate()
            .map(|(i, &(customers, sum))| AliveBin {
                days_from: match i {
                    0 => 0,
                    _ => RECENCY_EDGES[i - 1] + 1,
                },
                days_to: RECENCY_EDGES.get(i).copied(),
                customers,
                mean_p_alive: if customers == 0 {
                    0.0
                } else {
                    sum / customers as f64
                },
            })
            .collect();
        let cohorts = self
            .cohorts
            .range(this_month - COHORT_MONTHS as i32 + 1..=this_month)
            .map(|(&m, (customers, active))| {
                // Complete months only: the running month would show a
                // drop that is only the month not being over yet.
                let months = usize::try_from(this_month - m).unwrap_or(0).clamp(1, 64);
                Cohort {
                    cohort: month_name(m),
                    customers: *customers,
                    retention: active[..months]
                        .iter()
                        .map(|&n| n as f64 / (*customers).max(1) as f64)
                        .collect(),
                }
            })
            .collect();
        Ok(AnalyticsReport {
            totals,
            purchases_30d,
            revenue_30d,
            sales_by_day,
            sales_by_month,
            rfm_grid,
            clv_histogram,
            churn_risk,
            alive_by_recency,
            cohorts,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(d: &str) -> DateTime<Utc> {
        let day = NaiveDate::parse_from_str(d, "%Y-%m-%d").expect("date");
        day.and_hms_opt(10, 0, 0).expect("time").and_utc()
    }

    #[test]
    fn sales_and_cohorts_follow_the_calendar() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 3).expect("date");
        let mut b = ReportBuilder::new(today, PeriodUnit::Week);
        // Customer 1: first bought in October, again in December.
        b.sale(CustomerId(1), at("2026-10-05"), Decimal::new(10_000, 0));
        b.sale(CustomerId(1), at("2026-12-01"), Decimal::new(5_000, 0));
        // Customer 2: October only; customer 3: November and December.
        b.sale(CustomerId(2), at("2026-10-20"), Decimal::new(7_000, 0));
        b.sale(CustomerId(3), at("2026-11-30"), Decimal::new(1_000, 0));
        b.sale(CustomerId(3), at("2026-12-03"), Decimal::new(2_000, 0));
        // A sale after today does not count.
        b.sale(CustomerId(3), at("2026-12-04"), Decimal::new(9_000, 0));
        let r = b.finish(StoreTotals::default()).expect("report");
        assert_eq!(r.sales_by_day.len(), SALES_DAYS);
        assert_eq!(r.sales_by_day[SALES_DAYS - 1].period, "2026-12-03");
        assert_eq!(
            r.sales_by_day[SALES_DAYS - 1].revenue,
            Decimal::new(2_000, 0)
        );
        // Last 30 days: 2026-11-04 .. 2026-12-03.
        assert_eq!(r.purchases_30d, 3);
        assert_eq!(r.revenue_30d, Decimal::new(8_000, 0));
        let months: Vec<_> = r
            .sales_by_month
            .iter()
            .map(|p| (p.period.as_str(), p.purchases))
            .collect();
        assert_eq!(months, [("2026-10", 2), ("2026-11", 1), ("2026-12", 2)]);
        let oct = &r.cohorts[0];
        assert_eq!((oct.cohort.as_str(), oct.customers), ("2026-10", 2));
        // December is still running: complete months only.
        assert_eq!(oct.retention, [1.0, 0.0]);
        let nov = &r.cohorts[1];
        assert_eq!((nov.cohort.as_str(), nov.customers), ("2026-11", 1));
        assert_eq!(nov.retention, [1.0]);
    }
}
