//! RFM segmentation: recency, frequency and monetary scores of 1 to 5 by
//! quintile, the guide's five segments on the total, and the common
//! eleven-segment map.
//!
//! The three values of a customer (from its [`CustomerSummary`]):
//! - recency: time since the last purchase, `T - t_x` (lower is better, so
//!   the most recent customers score 5);
//! - frequency: purchase days, `x + 1`;
//! - monetary: total spend over the period, the first purchase included
//!   (compared as `f64`; the conversion preserves order).
//!
//! **Ties.** Retail data is full of ties (most customers buy once), and cutting
//! a sorted list into fifths would give identical customers different scores
//! depending on input order. Instead a customer's score depends only on their
//! value: with `L` the number of customers strictly worse on that dimension
//! and `n` all customers, the score is `1 + floor(5·L / n)` (capped at 5). Equal
//! values always get equal scores, the rule is independent of input order, and
//! a dimension where 60% of customers tie at the bottom simply has no 2 or 3.
//! The rule reduces to four cut points per dimension ([`QuintileCuts`]), which
//! a snapshot carries so a till can score new customers offline.

use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

use super::summary::CustomerSummary;
use crate::{Error, Result};

/// The guide's five segments on the total RFM score (0-100).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum RfmSegment {
    /// Total >= 80.
    Champion,
    /// Total >= 60.
    Loyal,
    /// Total >= 40.
    PotentialLoyal,
    /// Total >= 20.
    AtRisk,
    /// Total < 20.
    Lost,
}

impl RfmSegment {
    /// The guide's name (`CHAMPION`, `LOYAL`, `POTENTIAL_LOYAL`, `AT_RISK`, `LOST`).
    pub fn as_str(self) -> &'static str {
        match self {
            RfmSegment::Champion => "CHAMPION",
            RfmSegment::Loyal => "LOYAL",
            RfmSegment::PotentialLoyal => "POTENTIAL_LOYAL",
            RfmSegment::AtRisk => "AT_RISK",
            RfmSegment::Lost => "LOST",
        }
    }

    /// The segment of a total score `(R+F+M-3)/12 × 100`, given as the
    /// score sum `R+F+M` (3..=15) so that the thresholds are exact.
    fn from_score_sum(sum: u8) -> Self {
        // total >= k  <=>  100·(sum-3) >= 12·k, in integers.
        let scaled = 100 * u32::from(sum.saturating_sub(3));
        if scaled >= 80 * 12 {
            RfmSegment::Champion
        } else if scaled >= 60 * 12 {
            RfmSegment::Loyal
        } else if scaled >= 40 * 12 {
            RfmSegment::PotentialLoyal
        } else if scaled >= 20 * 12 {
            RfmSegment::AtRisk
        } else {
            RfmSegment::Lost
        }
    }
}

impl std::fmt::Display for RfmSegment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The common eleven-segment RFM map, on the recency score and the average
/// of the frequency and monetary scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum RfmDetailedSegment {
    /// Bought recently, buy often and spend the most.
    Champions,
    /// Buy regularly and spend well.
    LoyalCustomers,
    /// Recent customers with average frequency and spend.
    PotentialLoyalist,
    /// Bought very recently, not often yet.
    NewCustomers,
    /// Recent, but little bought so far.
    Promising,
    /// Average recency, frequency and spend.
    NeedAttention,
    /// Below-average recency, frequency and spend.
    AboutToSleep,
    /// Used to buy often and much, not for a while.
    AtRisk,
    /// The biggest spenders, gone longest.
    CantLoseThem,
    /// Last purchase long ago, low spend and few orders.
    Hibernating,
    /// Lowest on every dimension.
    Lost,
}

impl RfmDetailedSegment {
    /// Every segment, in rule order.
    pub const ALL: [RfmDetailedSegment; 11] = [
        RfmDetailedSegment::Champions,
        RfmDetailedSegment::LoyalCustomers,
        RfmDetailedSegment::PotentialLoyalist,
        RfmDetailedSegment::NewCustomers,
        RfmDetailedSegment::Promising,
        RfmDetailedSegment::NeedAttention,
        RfmDetailedSegment::AboutToSleep,
        RfmDetailedSegment::AtRisk,
        RfmDetailedSegment::CantLoseThem,
        RfmDetailedSegment::Hibernating,
        RfmDetailedSegment::Lost,
    ];

    /// The display name (`Champions`, `Can't Lose Them` ...).
    pub fn label(self) -> &'static str {
        match self {
            RfmDetailedSegment::Champions => "Champions",
            RfmDetailedSegment::LoyalCustomers => "Loyal Customers",
            RfmDetailedSegment::PotentialLoyalist => "Potential Loyalist",
            RfmDetailedSegment::NewCustomers => "New Customers",
            RfmDetailedSegment::Promising => "Promising",
            RfmDetailedSegment::NeedAttention => "Need Attention",
            RfmDetailedSegment::AboutToSleep => "About To Sleep",
            RfmDetailedSegment::AtRisk => "At Risk",
            RfmDetailedSegment::CantLoseThem => "Can't Lose Them",
            RfmDetailedSegment::Hibernating => "Hibernating",
            RfmDetailedSegment::Lost => "Lost",
        }
    }

    /// The segment of scores `(r, f, m)`: the first rule of [`DETAILED_RULES`]
    /// whose recency range holds `r` and whose `F + M` range holds `f + m`.
    pub fn classify(r: u8, f: u8, m: u8) -> Self {
        let fm = f + m;
        DETAILED_RULES
            .iter()
            .find(|rule| rule.recency.contains(&r) && rule.frequency_plus_monetary.contains(&fm))
            .map_or(RfmDetailedSegment::Lost, |rule| rule.segment)
    }
}

impl std::fmt::Display for RfmDetailedSegment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

/// One rule of the detailed map.
#[derive(Debug, Clone)]
pub struct DetailedRule {
    /// The segment this rule assigns.
    pub segment: RfmDetailedSegment,
    /// Recency scores it covers.
    pub recency: std::ops::RangeInclusive<u8>,
    /// Sums `F + M` it covers (2..=10; an average FM of 4 is a sum of 8).
    pub frequency_plus_monetary: std::ops::RangeInclusive<u8>,
}

/// The detailed map as ordered rules; the first match wins.
///
/// The usual published map lists overlapping ranges (e.g. At Risk `R <= 2,
/// FM >= 2` swallows Can't Lose Them `R = 1, FM >= 4`, and Hibernating
/// swallows Lost), so some segments can never be assigned. This order puts
/// the narrow rules first and covers the whole 5×5×5 grid; a test checks that
/// every segment wins somewhere and every score combination is matched:
///
/// | R \ FM avg | 1-1.5 | 2-2.5 | 3-3.5 | 4-5 |
/// |---|---|---|---|---|
/// | 5 | New Customers | Potential Loyalist | Loyal Customers | Champions |
/// | 4 | Promising | Potential Loyalist | Loyal Customers | Champions |
/// | 3 | About To Sleep | Need Attention | Loyal Customers | Loyal Customers |
/// | 2 | Hibernating | Hibernating | At Risk | At Risk |
/// | 1 | Lost | Hibernating | At Risk | Can't Lose Them |
pub const DETAILED_RULES: [DetailedRule; 11] = [
    rule(RfmDetailedSegment::Champions, 4, 5, 8, 10),
    rule(RfmDetailedSegment::LoyalCustomers, 3, 5, 6, 10),
    rule(RfmDetailedSegment::PotentialLoyalist, 4, 5, 4, 5),
    rule(RfmDetailedSegment::NewCustomers, 5, 5, 2, 3),
    rule(RfmDetailedSegment::Promising, 4, 4, 2, 3),
    rule(RfmDetailedSegment::NeedAttention, 3, 3, 4, 5),
    rule(RfmDetailedSegment::AboutToSleep, 3, 3, 2, 3),
    rule(RfmDetailedSegment::CantLoseThem, 1, 1, 8, 10),
    rule(RfmDetailedSegment::AtRisk, 1, 2, 6, 10),
    rule(RfmDetailedSegment::Lost, 1, 1, 2, 3),
    rule(RfmDetailedSegment::Hibernating, 1, 2, 2, 10),
];

const fn rule(segment: RfmDetailedSegment, r0: u8, r1: u8, fm0: u8, fm1: u8) -> DetailedRule {
    DetailedRule {
        segment,
        recency: r0..=r1,
        frequency_plus_monetary: fm0..=fm1,
    }
}

/// A customer's RFM scores and segments.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RfmScore {
    /// Recency score, 1-5 (5 = most recent).
    pub recency: u8,
    /// Frequency score, 1-5.
    pub frequency: u8,
    /// Monetary score, 1-5.
    pub monetary: u8,
    /// `(R + F + M - 3) / 12 × 100`, 0 to 100, rounded to two decimals.
    pub total: f64,
    /// The guide's segment on `total`.
    pub segment: RfmSegment,
    /// The eleven-segment map.
    pub detailed_segment: RfmDetailedSegment,
}

impl RfmScore {
    /// Scores from the three 1-5 values; errors if any is outside 1-5.
    pub fn from_scores(recency: u8, frequency: u8, monetary: u8) -> Result<Self> {
        for (field, v) in [
            ("recency", recency),
            ("frequency", frequency),
            ("monetary", monetary),
        ] {
            if !(1..=5).contains(&v) {
                return Err(Error::invalid(
                    field,
                    "range",
                    format!("RFM {field} score must be 1 to 5, got {v}"),
                ));
            }
        }
        Ok(Self::new_unchecked(recency, frequency, monetary))
    }

    /// Scores 1-5 from the precomputed table (scoring millions of customers
    /// then costs one lookup each).
    fn lookup(recency: u8, frequency: u8, monetary: u8) -> Self {
        let i = usize::from(recency - 1) * 25
            + usize::from(frequency - 1) * 5
            + usize::from(monetary - 1);
        SCORE_TABLE[i]
    }

    fn new_unchecked(recency: u8, frequency: u8, monetary: u8) -> Self {
        let sum = recency + frequency + monetary;
        let total = (f64::from(sum - 3) * 100.0 / 12.0 * 100.0).round() / 100.0;
        Self {
            recency,
            frequency,
            monetary,
            total,
            segment: RfmSegment::from_score_sum(sum),
            detailed_segment: RfmDetailedSegment::classify(recency, frequency, monetary),
        }
    }
}

/// Every RFM score combination, indexed by `(R-1)·25 + (F-1)·5 + (M-1)`.
static SCORE_TABLE: LazyLock<[RfmScore; 125]> = LazyLock::new(|| {
    std::array::from_fn(|i| {
        let (r, f, m) = (i / 25, (i / 5) % 5, i % 5);
        RfmScore::new_unchecked(r as u8 + 1, f as u8 + 1, m as u8 + 1)
    })
});

/// The four cut points of one RFM dimension.
///
/// For "higher is better", score = 1 + the number of cuts the value is
/// strictly above; for "lower is better", strictly below. `cuts[k-1]` is the
/// value of the `ceil(k·n/5)`-th worst customer, which makes the score
/// `1 + floor(5·L/n)` with `L` the customers strictly worse (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QuintileCuts {
    /// Cut points, from worst to best.
    pub cuts: [f64; 4],
    /// `false` for recency (fewer periods since the last purchase is better).
    pub higher_is_better: bool,
}

impl QuintileCuts {
    /// Cuts of `values` (reordered in place). Errors when empty or non-finite.
    pub fn from_values(values: &mut [f64], higher_is_better: bool) -> Result<Self> {
        if values.is_empty() {
            return Err(Error::invalid(
                "customers",
                "required",
                "RFM quintiles need at least one customer",
            ));
        }
        if values.iter().any(|v| !v.is_finite()) {
            return Err(Error::invalid(
                "rfm",
                "finite",
                "RFM values must be finite numbers",
            ));
        }
        let n = values.len();
        // Worst first: ascending when higher is better, descending otherwise.
        let worse_first = |a: &f64, b: &f64| {
            if higher_is_better {
                a.total_cmp(b)
            } else {
                b.total_cmp(a)
            }
        };
        let mut cuts = [0.0; 4];
        // Select the four order statistics from the top down, each within the
        // part left of the previous one: linear time, no full sort.
        let mut upper = n;
        for k in (1..=4).rev() {
            let rank = (k * n).div_ceil(5).max(1) - 1;
            let slice = &mut values[..upper.max(rank + 1)];
            let (_, v, _) = slice.select_nth_unstable_by(rank, worse_first);
            cuts[k - 1] = *v;
            upper = rank + 1;
        }
        Ok(Self {
            cuts,
            higher_is_better,
        })
    }

    /// The 1-5 score of `value`.
    pub fn score(&self, value: f64) -> u8 {
        let above = self
            .cuts
            .iter()
            .filter(|&&c| {
                if self.higher_is_better {
                    value > c
                } else {
                    value < c
                }
            })
            .count();
        1 + above as u8
    }
}

/// The RFM values of a summary: (periods since the last purchase, purchase
/// days, total spend).
pub fn rfm_values<K>(summary: &CustomerSummary<K>) -> (f64, f64, f64) {
    (
        summary.time_since_last_purchase(),
        f64::from(summary.purchases()),
        super::clv::decimal_to_f64(summary.total_spend),
    )
}

/// Cut points of all three dimensions, fitted on a population.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RfmBreakpoints {
    /// Periods since the last purchase (lower is better).
    pub recency: QuintileCuts,
    /// Purchase days.
    pub frequency: QuintileCuts,
    /// Total spend.
    pub monetary: QuintileCuts,
    /// Customers the cuts were computed on.
    pub customers: u64,
}

impl RfmBreakpoints {
    /// Breakpoints of a population of summaries.
    pub fn from_summaries<'a, K: 'a, I>(summaries: I) -> Result<Self>
    where
        I: IntoIterator<Item = &'a CustomerSummary<K>>,
    {
        let mut builder = RfmBreakpointsBuilder::default();
        for s in summaries {
            builder.add(s);
        }
        builder.finish()
    }

    /// The scores and segments of one customer.
    pub fn score<K>(&self, summary: &CustomerSummary<K>) -> RfmScore {
        let (r, f, m) = rfm_values(summary);
        RfmScore::lookup(
            self.recency.score(r),
            self.frequency.score(f),
            self.monetary.score(m),
        )
    }
}

/// Collects the three RFM values per customer (24 bytes each) for
/// [`RfmBreakpoints`].
#[derive(Debug, Default, Clone)]
pub struct RfmBreakpointsBuilder {
    recency: Vec<f64>,
    frequency: Vec<f64>,
    monetary: Vec<f64>,
}

impl RfmBreakpointsBuilder {
    /// Makes room for `customers` more (saves copying as the lists grow).
    pub(crate) fn reserve(&mut self, customers: usize) {
        self.recency.reserve(customers);
        self.frequency.reserve(customers);
        self.monetary.reserve(customers);
    }

    /// Adds a customer.
    pub fn add<K>(&mut self, summary: &CustomerSummary<K>) {
        let (r, f, m) = rfm_values(summary);
        self.recency.push(r);
        self.frequency.push(f);
        self.monetary.push(m);
    }

    /// The breakpoints; errors when no customer was added.
    pub fn finish(mut self) -> Result<RfmBreakpoints> {
        Ok(RfmBreakpoints {
            recency: QuintileCuts::from_values(&mut self.recency, false)?,
            frequency: QuintileCuts::from_values(&mut self.frequency, true)?,
            monetary: QuintileCuts::from_values(&mut self.monetary, true)?,
            customers: self.recency.len() as u64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference rule, by brute force: 1 + floor(5·L/n), L = strictly worse.
    fn brute(values: &[f64], v: f64, higher_is_better: bool) -> u8 {
        let worse = values
            .iter()
            .filter(|&&o| if higher_is_better { o < v } else { o > v })
            .count();
        (1 + (5 * worse) / values.len()).min(5) as u8
    }

    #[test]
    fn cuts_agree_with_the_rank_rule_under_heavy_ties() {
        let mut seed = 7u64;
        for n in [1usize, 2, 3, 4, 5, 6, 7, 10, 11, 99, 1000] {
            let values: Vec<f64> = (0..n)
                .map(|i| {
                    seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    // 60% zeros, the rest small integers: retail-like ties.
                    if i % 5 < 3 {
                        0.0
                    } else {
                        ((seed >> 33) % 7) as f64
                    }
                })
                .collect();
            for higher in [true, false] {
                let mut work = values.clone();
                let cuts = QuintileCuts::from_values(&mut work, higher).expect("cuts");
                for &v in &values {
                    assert_eq!(
                        cuts.score(v),
                        brute(&values, v, higher),
                        "n={n} v={v} higher={higher}"
                    );
                }
            }
        }
    }

    #[test]
    fn distinct_values_fill_every_quintile() {
        let mut values: Vec<f64> = (0..100).map(f64::from).collect();
        let cuts = QuintileCuts::from_values(&mut values, true).expect("cuts");
        let counts = (0..100).fold([0; 5], |mut acc, v| {
            acc[usize::from(cuts.score(f64::from(v))) - 1] += 1;
            acc
        });
        assert_eq!(counts, [20; 5]);
        let mut values: Vec<f64> = (0..100).map(f64::from).collect();
        let recency = QuintileCuts::from_values(&mut values, false).expect("cuts");
        assert_eq!(recency.score(0.0), 5);
        assert_eq!(recency.score(99.0), 1);
    }

    #[test]
    fn guide_segments_on_the_total() {
        let s = |r, f, m| RfmScore::from_scores(r, f, m).expect("scores");
        assert_eq!(s(5, 5, 5).total, 100.0);
        assert_eq!(s(1, 1, 1).total, 0.0);
        assert_eq!(s(5, 5, 5).segment, RfmSegment::Champion);
        // sum 13 -> 83.33 >= 80; sum 12 -> 75.
        assert_eq!(s(5, 4, 4).segment, RfmSegment::Champion);
        assert_eq!(s(4, 4, 4).segment, RfmSegment::Loyal);
        assert_eq!(s(4, 4, 4).total, 75.0);
        assert_eq!(s(3, 4, 4).segment, RfmSegment::Loyal); // 66.67
        assert_eq!(s(3, 3, 4).segment, RfmSegment::PotentialLoyal); // 58.33
        assert_eq!(s(2, 3, 3).segment, RfmSegment::PotentialLoyal); // 41.67
        assert_eq!(s(2, 2, 3).segment, RfmSegment::AtRisk); // 33.33
        assert_eq!(s(2, 2, 2).segment, RfmSegment::AtRisk); // 25
        assert_eq!(s(1, 2, 2).segment, RfmSegment::Lost); // 16.67
        assert!(RfmScore::from_scores(0, 3, 3).is_err());
        assert!(RfmScore::from_scores(3, 6, 3).is_err());
    }

    #[test]
    fn every_detailed_segment_is_reachable_and_every_score_is_covered() {
        let mut winners = std::collections::HashSet::new();
        for r in 1..=5u8 {
            for f in 1..=5u8 {
                for m in 1..=5u8 {
                    let fm = f + m;
                    let first = DETAILED_RULES
                        .iter()
                        .position(|rule| {
                            rule.recency.contains(&r) && rule.frequency_plus_monetary.contains(&fm)
                        })
                        .unwrap_or_else(|| panic!("no rule covers R={r} F={f} M={m}"));
                    winners.insert(first);
                    assert_eq!(
                        RfmDetailedSegment::classify(r, f, m),
                        DETAILED_RULES[first].segment
                    );
                }
            }
        }
        assert_eq!(winners.len(), DETAILED_RULES.len(), "a rule never wins");
        let segments: std::collections::HashSet<_> = (1..=5u8)
            .flat_map(|r| (1..=5u8).flat_map(move |f| (1..=5u8).map(move |m| (r, f, m))))
            .map(|(r, f, m)| RfmDetailedSegment::classify(r, f, m))
            .collect();
        for s in RfmDetailedSegment::ALL {
            assert!(segments.contains(&s), "{s} unreachable");
        }
        assert_eq!(
            RfmDetailedSegment::classify(5, 5, 5),
            RfmDetailedSegment::Champions
        );
        assert_eq!(
            RfmDetailedSegment::classify(1, 5, 5),
            RfmDetailedSegment::CantLoseThem
        );
        assert_eq!(
            RfmDetailedSegment::classify(1, 1, 1),
            RfmDetailedSegment::Lost
        );
        assert_eq!(
            RfmDetailedSegment::classify(5, 1, 1),
            RfmDetailedSegment::NewCustomers
        );
    }
}
