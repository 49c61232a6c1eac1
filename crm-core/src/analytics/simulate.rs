//! A seeded generator of purchase histories from the BG/NBD process with
//! Gamma-Gamma spend: for tests that must recover known parameters, for
//! benchmarks (the same seed gives the same data in Rust and, through a CSV,
//! in the Python reference), and for what-if planning.
//!
//! Per customer: a purchase rate λ ~ Gamma(r, rate α) and a drop-out
//! probability p ~ Beta(a, b); purchases follow a Poisson process with rate
//! λ from the first purchase; after each repeat purchase the customer drops
//! out with probability p. Each purchase amount is Gamma(p_spend, rate ν)
//! with ν ~ Gamma(q, rate γ). First purchases are spread uniformly over a
//! cohort window. The random stream is `Xoshiro256PlusPlus` seeded with
//! `seed`, whose output is fixed by its specification, so a seed gives the
//! same data on every platform and release.

use chrono::{Days, NaiveDate};
use rand::{Rng, SeedableRng};
use rand_distr::{Beta, Distribution, Gamma};
use rand_xoshiro::Xoshiro256PlusPlus;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::bgnbd::BgNbdParams;
use super::gamma_gamma::GammaGammaParams;
use super::period::PeriodUnit;
use super::summary::Purchase;
use crate::{Error, Result};

/// What to simulate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Simulation {
    /// Number of customers (ids 1..=customers).
    pub customers: u64,
    /// Purchase and drop-out process, in `unit`.
    pub bgnbd: BgNbdParams,
    /// Spend per purchase.
    pub spend: GammaGammaParams,
    /// The unit of `bgnbd` (its `alpha` and rates).
    pub unit: PeriodUnit,
    /// Earliest first purchase.
    pub first_purchase_from: NaiveDate,
    /// First purchases fall uniformly on the `cohort_days` days from
    /// `first_purchase_from` (at least 1).
    pub cohort_days: u32,
    /// Last day observed, inclusive.
    pub observation_end: NaiveDate,
    /// Seed of the random stream.
    pub seed: u64,
}

/// One simulated customer in continuous time.
#[derive(Debug, Clone, PartialEq)]
pub struct SimulatedCustomer {
    /// Customer id, from 1.
    pub id: u64,
    /// Day of the first purchase.
    pub first_purchase: NaiveDate,
    /// Observation time from the first purchase to the end, in `unit`.
    pub t: f64,
    /// Times of the repeat purchases after the first, in `unit` (exact, not
    /// rounded to days).
    pub repeat_times: Vec<f64>,
    /// Amounts of all purchases, the first one first.
    pub amounts: Vec<Decimal>,
}

impl SimulatedCustomer {
    /// Repeat purchases, x.
    pub fn frequency(&self) -> u32 {
        self.repeat_times.len() as u32
    }

    /// Time of the last repeat purchase (0 without), t_x.
    pub fn recency(&self) -> f64 {
        self.repeat_times.last().copied().unwrap_or(0.0)
    }
}

impl Simulation {
    /// Checks parameters and dates.
    pub fn validate(&self) -> Result<()> {
        self.bgnbd.validate()?;
        self.spend.validate()?;
        if self.cohort_days == 0 {
            return Err(Error::invalid(
                "cohort_days",
                "min",
                "cohort_days must be at least 1",
            ));
        }
        let last_first = self
            .first_purchase_from
            .checked_add_days(Days::new(u64::from(self.cohort_days - 1)));
        if last_first.is_none_or(|d| d > self.observation_end) {
            return Err(Error::invalid(
                "observation_end",
                "range",
                "the observation must end after the last possible first purchase",
            ));
        }
        Ok(())
    }

    /// The customers, one at a time, in id order (nothing is kept in memory).
    pub fn customers(&self) -> Result<impl Iterator<Item = SimulatedCustomer> + use<>> {
        self.validate()?;
        let invalid =
            |e: rand_distr::GammaError| Error::invalid("simulation", "params", e.to_string());
        let rate = Gamma::new(self.bgnbd.r, 1.0 / self.bgnbd.alpha).map_err(invalid)?;
        let dropout = Beta::new(self.bgnbd.a, self.bgnbd.b)
            .map_err(|e| Error::invalid("simulation", "params", e.to_string()))?;
        let scale = Gamma::new(self.spend.q, 1.0 / self.spend.gamma).map_err(invalid)?;
        let spec = *self;
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(self.seed);
        let mut id = 0u64;
        Ok(std::iter::from_fn(move || {
            if id >= spec.customers {
                return None;
            }
            id += 1;
            Some(spec.draw(&mut rng, id, &rate, &dropout, &scale))
        }))
    }

    fn draw(
        &self,
        rng: &mut Xoshiro256PlusPlus,
        id: u64,
        rate: &Gamma<f64>,
        dropout: &Beta<f64>,
        scale: &Gamma<f64>,
    ) -> SimulatedCustomer {
        let offset = rng.random_range(0..self.cohort_days);
        let first_purchase = self
            .first_purchase_from
            .checked_add_days(Days::new(u64::from(offset)))
            .unwrap_or(self.first_purchase_from);
        let age_days = (self.observation_end - first_purchase).num_days();
        let t = self.unit.from_days(age_days);
        let lambda = rate.sample(rng);
        let p = dropout.sample(rng);
        let nu = scale.sample(rng);
        let spend = Gamma::new(self.spend.p, 1.0 / nu).ok();
        let amount = |rng: &mut Xoshiro256PlusPlus| {
            let z = spend.as_ref().map_or(0.0, |g| g.sample(rng));
            // Whole cents, at least one.
            let cents = (z * 100.0).round();
            let cents = if cents.is_finite() {
                cents.clamp(1.0, 1e15)
            } else {
                1.0
            };
            Decimal::new(cents as i64, 2)
        };
        let mut amounts = vec![amount(rng)];
        let mut repeat_times = Vec::new();
        let mut now = 0.0;
        loop {
            let u: f64 = rng.random();
            now += -(1.0 - u).ln() / lambda;
            if now.is_nan() || now > t {
                break;
            }
            repeat_times.push(now);
            amounts.push(amount(rng));
            if rng.random::<f64>() < p {
                break;
            }
        }
        SimulatedCustomer {
            id,
            first_purchase,
            t,
            repeat_times,
            amounts,
        }
    }

    /// The purchases, grouped by customer and in date order (each purchase
    /// on the day its continuous time falls in), lazily.
    pub fn purchases(&self) -> Result<impl Iterator<Item = Purchase<u64>> + use<>> {
        let days_per_unit = self.unit.days();
        Ok(self.customers()?.flat_map(move |c| {
            let first = c.first_purchase;
            let times = std::iter::once(0.0).chain(c.repeat_times);
            times.zip(c.amounts).map(move |(time, amount)| {
                let offset = (time * days_per_unit).floor() as u64;
                let date = first.checked_add_days(Days::new(offset)).unwrap_or(first);
                Purchase::on(c.id, date, amount)
            })
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(seed: u64) -> Simulation {
        Simulation {
            customers: 50,
            bgnbd: BgNbdParams {
                r: 0.5,
                alpha: 5.0,
                a: 0.8,
                b: 2.5,
            },
            spend: GammaGammaParams {
                p: 6.0,
                q: 4.0,
                gamma: 15.0,
            },
            unit: PeriodUnit::Week,
            first_purchase_from: NaiveDate::from_ymd_opt(2024, 1, 1).expect("date"),
            cohort_days: 90,
            observation_end: NaiveDate::from_ymd_opt(2024, 12, 31).expect("date"),
            seed,
        }
    }

    #[test]
    fn same_seed_same_data() {
        let a: Vec<_> = spec(1).purchases().expect("valid").collect();
        let b: Vec<_> = spec(1).purchases().expect("valid").collect();
        let c: Vec<_> = spec(2).purchases().expect("valid").collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.len() >= 50);
    }

    #[test]
    fn purchases_are_grouped_and_ordered_within_the_window() {
        let s = spec(3);
        let purchases: Vec<_> = s.purchases().expect("valid").collect();
        for w in purchases.windows(2) {
            assert!(w[0].customer <= w[1].customer);
            if w[0].customer == w[1].customer {
                assert!(w[0].at <= w[1].at);
            }
        }
        let end = s.observation_end.and_time(chrono::NaiveTime::MIN).and_utc();
        assert!(
            purchases
                .iter()
                .all(|p| p.at <= end && p.amount > Decimal::ZERO)
        );
    }

    #[test]
    fn rejects_bad_specs() {
        let mut s = spec(1);
        s.cohort_days = 0;
        assert!(s.customers().is_err());
        let mut s = spec(1);
        s.bgnbd.r = -1.0;
        assert!(s.purchases().is_err());
    }
}
