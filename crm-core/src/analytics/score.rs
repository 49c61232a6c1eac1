//! One analytics result per customer, the fitted bundle behind it, and model
//! snapshots.
//!
//! Batch scoring is two passes over a stream of customer summaries:
//!
//! 1. [`AnalyticsModelBuilder`] takes each summary and keeps about 72 bytes
//!    per customer (the model rows and the RFM values, no keys); `finish`
//!    fits BG/NBD, Gamma-Gamma and the RFM cut points.
//! 2. [`AnalyticsModel::scorer`] scores each summary of a second pass as it
//!    comes, in constant memory (plus a bounded cache of model expectations).
//!
//! With purchases grouped by customer (a store query ordered by customer and
//! time) both passes stream through [`summarize_sorted`](super::summarize_sorted),
//! so memory stays bounded whatever the number of purchases.
//!
//! The fitted [`AnalyticsModel`] serialises to JSON and loads back
//! ([`AnalyticsModel::to_snapshot_json`]), so a till can score offline.

use std::collections::HashMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::bgnbd::{BgNbdData, BgNbdModel};
use super::churn::{
    ChurnConfig, ChurnMethod, ChurnPrediction, ChurnRisk, recency_churn_probability,
};
use super::clv::{
    HeuristicClvConfig, ModelClv, ModelClvConfig, decimal_to_f64, discounted_with,
    estimate_to_money, step_discounts,
};
use super::fit::FitOptions;
use super::gamma_gamma::{GammaGammaData, GammaGammaModel};
use super::period::{PeriodUnit, Span};
use super::rfm::{RfmBreakpoints, RfmBreakpointsBuilder, RfmScore, RfmSegment};
use super::special::{GrowthPoint, GrowthSeries};
use super::summary::CustomerSummary;
use crate::{Error, Result};

/// Version of the snapshot format written by [`AnalyticsModel::to_snapshot_json`].
pub const SNAPSHOT_VERSION: u32 = 1;

/// The forecast horizon of [`CustomerAnalytics::expected_purchases_90d`].
pub const FORECAST_HORIZON: Span = Span {
    count: 90.0,
    unit: PeriodUnit::Day,
};

/// From this many customers [`AnalyticsModelBuilder::finish_parallel`] fits
/// BG/NBD and Gamma-Gamma on two threads (below it a thread costs more than it saves).
const PARALLEL_FIT_CUSTOMERS: u64 = 20_000;

/// Most cached model expectations per scorer (about 16 MB); the cache is
/// cleared when full, which costs speed, never memory.
const CACHE_LIMIT: usize = 100_000;

/// Every setting of the analytics, with the guide's defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AnalyticsConfig {
    /// The guide's CLV formula.
    pub heuristic_clv: HeuristicClvConfig,
    /// The model-based CLV.
    pub model_clv: ModelClvConfig,
    /// Churn thresholds, actions, fallback.
    pub churn: ChurnConfig,
    /// Options of the BG/NBD fit.
    pub bgnbd_fit: FitOptions,
    /// Options of the Gamma-Gamma fit.
    pub gamma_gamma_fit: FitOptions,
    /// Decimal places of money results (default 2); results are rounded
    /// half away from zero.
    #[serde(default = "default_decimals")]
    pub money_decimals: u32,
}

fn default_decimals() -> u32 {
    2
}

impl AnalyticsConfig {
    /// The defaults (margin 0.20, cost 50, twelve monthly steps at 1%, churn
    /// thresholds 0.25 / 0.50 / 0.75, money to two decimals).
    pub fn new() -> Self {
        Self {
            money_decimals: 2,
            ..Self::default()
        }
    }

    /// Checks every part.
    pub fn validate(&self) -> Result<()> {
        self.heuristic_clv.validate()?;
        self.model_clv.validate()?;
        self.churn.validate()?;
        self.bgnbd_fit.validate("bgnbd_fit")?;
        self.gamma_gamma_fit.validate("gamma_gamma_fit")?;
        if self.money_decimals > 10 {
            return Err(Error::invalid(
                "money_decimals",
                "max",
                "money_decimals must be at most 10",
            ));
        }
        Ok(())
    }
}

/// The analytics of one customer: what the guide's `getCustomerAnalytics`
/// returns (`segment`, `lifetime_value`) and the model results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CustomerAnalytics<K> {
    /// The customer's key.
    pub customer_id: K,
    /// Repeat purchases, x.
    pub frequency: u32,
    /// First to last purchase, t_x, in the model's unit.
    pub recency: f64,
    /// Age, T, in the model's unit.
    #[serde(rename = "T")]
    pub t: f64,
    /// Mean repeat purchase amount.
    pub monetary_value: Decimal,
    /// RFM scores and both segmentations.
    pub rfm: RfmScore,
    /// The guide's segment (same as `rfm.segment`).
    pub segment: RfmSegment,
    /// The guide's yearly CLV, fixed (see [`HeuristicClvConfig::lifetime_value`]).
    pub lifetime_value: Decimal,
    /// Model CLV over the configured horizon; `None` without usable models.
    pub model_lifetime_value: Option<Decimal>,
    /// Gamma-Gamma expected spend per purchase; `None` without the model.
    pub expected_average_spend: Option<Decimal>,
    /// Probability the customer is still active (1 - churn probability).
    /// BG/NBD gives 1 to every customer without a repeat purchase (see
    /// [`churn`](super::churn) for why and what to look at instead).
    pub p_alive: f64,
    /// Probability the customer has stopped buying.
    pub churn_probability: f64,
    /// Risk level of the churn probability.
    pub risk_level: ChurnRisk,
    /// Recommended action for the risk level.
    pub recommended_action: String,
    /// Whether churn came from the BG/NBD model or the recency fallback.
    pub churn_method: ChurnMethod,
    /// Expected purchases in the next 90 days (BG/NBD); `None` in fallback.
    pub expected_purchases_90d: Option<f64>,
}

impl<K> CustomerAnalytics<K> {
    /// The guide's churn prediction part of this result.
    pub fn churn_prediction(&self) -> ChurnPrediction {
        ChurnPrediction {
            churn_probability: self.churn_probability,
            risk_level: self.risk_level,
            recommended_action: self.recommended_action.clone(),
            method: self.churn_method,
        }
    }
}

/// Everything fitted on a population: RFM cut points, BG/NBD, Gamma-Gamma,
/// the settings, and what was decided. Serialises as the model snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AnalyticsModel {
    /// Snapshot format version ([`SNAPSHOT_VERSION`]).
    pub snapshot_version: u32,
    /// The time unit of the summaries and of the models.
    pub unit: PeriodUnit,
    /// Customers the model was fitted on.
    pub customers: u64,
    /// Of which with at least one repeat purchase.
    pub repeat_customers: u64,
    /// RFM cut points.
    pub rfm: RfmBreakpoints,
    /// The BG/NBD fit, when there were enough customers to attempt one.
    pub bgnbd: Option<BgNbdModel>,
    /// The Gamma-Gamma fit, when there were enough repeat customers with spend.
    pub gamma_gamma: Option<GammaGammaModel>,
    /// Whether churn uses the model or the recency fallback.
    pub churn_method: ChurnMethod,
    /// Mean gap between purchases of repeat customers (in `unit`), for the fallback.
    pub population_gap: f64,
    /// Why a model is not used, customers left out, and similar remarks.
    pub notes: Vec<String>,
    /// The settings used for fitting and scoring.
    pub config: AnalyticsConfig,
}

/// Collects summaries for [`AnalyticsModel`] (first pass of batch scoring).
#[derive(Debug)]
pub struct AnalyticsModelBuilder {
    unit: PeriodUnit,
    config: AnalyticsConfig,
    customers: u64,
    bgnbd_rows: Vec<(u32, f64, f64)>,
    spend_rows: Vec<(u32, Decimal)>,
    rfm: RfmBreakpointsBuilder,
    zero_spend_repeat: u64,
    gap_sum: f64,
    gap_count: u64,
}

impl AnalyticsModelBuilder {
    /// A builder for summaries in `unit`; fails on invalid settings.
    pub fn new(unit: PeriodUnit, config: AnalyticsConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self {
            unit,
            config,
            customers: 0,
            bgnbd_rows: Vec::new(),
            spend_rows: Vec::new(),
            rfm: RfmBreakpointsBuilder::default(),
            zero_spend_repeat: 0,
            gap_sum: 0.0,
            gap_count: 0,
        })
    }

    /// Adds one customer.
    pub fn add<K>(&mut self, summary: &CustomerSummary<K>) {
        self.bgnbd_rows
            .push((summary.frequency, summary.recency, summary.t));
        self.add_but_bgnbd(summary);
    }

    /// [`add`](Self::add) of everything but the BG/NBD row.
    fn add_but_bgnbd<K>(&mut self, summary: &CustomerSummary<K>) {
        self.customers += 1;
        self.rfm.add(summary);
        if summary.frequency > 0 {
            self.gap_sum += summary.recency / f64::from(summary.frequency);
            self.gap_count += 1;
            if summary.monetary_value > Decimal::ZERO {
                self.spend_rows
                    .push((summary.frequency, summary.monetary_value));
            } else {
                self.zero_spend_repeat += 1;
            }
        }
    }

    /// Customers added so far (a model needs at least one).
    pub fn customers(&self) -> u64 {
        self.customers
    }

    /// Fits the models. Errors on no customers or invalid summaries; a model
    /// that cannot be fitted or does not converge is noted and replaced by
    /// the fallback, never an error. Runs on the calling thread only, so an
    /// embedding application keeps its other cores (an event loop, a server).
    pub fn finish(self) -> Result<AnalyticsModel> {
        self.fit(false, None)
    }

    /// [`finish`](Self::finish) with BG/NBD and Gamma-Gamma fitted on two
    /// threads from 20,000 customers (the same model), for a batch job that
    /// owns the machine, such as the `crm-analytics` CLI.
    pub fn finish_parallel(self) -> Result<AnalyticsModel> {
        self.fit(true, None)
    }

    /// Adds `summaries` and fits, as [`add`](Self::add) of each then
    /// [`finish_parallel`](Self::finish_parallel) do (the same model), but
    /// from 20,000 customers BG/NBD reads its rows and fits on a thread of
    /// its own while this one collects the rest and fits RFM and
    /// Gamma-Gamma.
    fn fit_summaries<K: Sync>(
        mut self,
        summaries: &[CustomerSummary<K>],
    ) -> Result<AnalyticsModel> {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        if threads < 2 || (summaries.len() as u64) < PARALLEL_FIT_CUSTOMERS || self.customers > 0 {
            for s in summaries {
                self.add(s);
            }
            return self.fit(true, None);
        }
        let (unit, churn, options) = (self.unit, &self.config.churn, self.config.bgnbd_fit);
        let (min_customers, min_repeat) = (churn.min_customers, churn.min_repeat_customers);
        std::thread::scope(|scope| {
            let side = scope.spawn(move || -> Result<Option<BgNbdModel>> {
                let customers = summaries.len() as u64;
                let repeat = summaries.iter().filter(|s| s.frequency > 0).count() as u64;
                // The rule of `fit`.
                if customers < min_customers || repeat < min_repeat {
                    return Ok(None);
                }
                let rows = summaries.iter().map(|s| (s.frequency, s.recency, s.t));
                let data = BgNbdData::from_rows(unit, rows)?;
                BgNbdModel::fit(&data, &options).map(Some)
            });
            // Room for every customer at once: no copies as the lists grow.
            self.rfm.reserve(summaries.len());
            self.spend_rows.reserve(summaries.len());
            for s in summaries {
                self.add_but_bgnbd(s);
            }
            // A panic in the thread is re-raised here, as it would have
            // been without the thread.
            let given = move || side.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
            self.fit(true, Some(Box::new(given)))
        })
    }

    /// The fits; BG/NBD's comes from `given` where it ran elsewhere.
    fn fit<'g>(
        self,
        parallel: bool,
        given: Option<Box<dyn FnOnce() -> Result<Option<BgNbdModel>> + 'g>>,
    ) -> Result<AnalyticsModel> {
        let customers = self.customers();
        if customers == 0 {
            return Err(Error::invalid(
                "customers",
                "required",
                "analytics need at least one customer",
            ));
        }
        let repeat_customers = self.gap_count;
        let churn = &self.config.churn;
        let mut notes = Vec::new();
        let population_gap = if self.gap_count > 0 {
            self.gap_sum / self.gap_count as f64
        } else {
            churn.fallback_gap.in_unit(self.unit)
        };

        let fit_bgnbd =
            customers >= churn.min_customers && repeat_customers >= churn.min_repeat_customers;
        let with_spend = self.spend_rows.len() as u64;
        let fit_spend = with_spend >= churn.min_repeat_customers;
        let unit = self.unit;
        let (bgnbd_fit, bgnbd_options) = (self.bgnbd_rows, &self.config.bgnbd_fit);
        let (spend_rows, spend_options) = (self.spend_rows, &self.config.gamma_gamma_fit);
        let run_bgnbd = move || -> Result<Option<BgNbdModel>> {
            if !fit_bgnbd {
                return Ok(None);
            }
            let data = BgNbdData::from_rows(unit, bgnbd_fit)?;
            BgNbdModel::fit(&data, bgnbd_options).map(Some)
        };
        let run_spend = move || -> Result<Option<GammaGammaModel>> {
            if !fit_spend {
                return Ok(None);
            }
            let data = GammaGammaData::from_rows(spend_rows)?;
            GammaGammaModel::fit(&data, spend_options).map(Some)
        };
        let rfm = self.rfm;
        // The two fits are independent: asked to, on a large population,
        // each gets a core, the RFM cuts going with the shorter Gamma-Gamma
        // fit (the result is the same either way).
        let (rfm, bgnbd, gamma_gamma) = if let Some(given) = given {
            let (rfm, spend) = (rfm.finish(), run_spend());
            (rfm, given(), spend)
        } else if parallel && fit_bgnbd && fit_spend && customers >= PARALLEL_FIT_CUSTOMERS {
            std::thread::scope(|scope| {
                let side = scope.spawn(move || (rfm.finish(), run_spend()));
                let bgnbd = run_bgnbd();
                // A panic in the thread is re-raised here, as it would have
                // been without the thread.
                let (rfm, spend) = side.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
                (rfm, bgnbd, spend)
            })
        } else {
            let rfm = rfm.finish()?;
            (Ok(rfm), run_bgnbd(), run_spend())
        };
        let (rfm, bgnbd, gamma_gamma) = (rfm?, bgnbd?, gamma_gamma?);

        let mut churn_method = ChurnMethod::RecencyFallback;
        if customers < churn.min_customers {
            notes.push(format!(
                "BG/NBD not fitted: {customers} customers, fewer than {}; churn uses the recency fallback",
                churn.min_customers
            ));
        } else if repeat_customers < churn.min_repeat_customers {
            notes.push(format!(
                "BG/NBD not fitted: {repeat_customers} repeat customers, fewer than {}; churn uses the recency fallback",
                churn.min_repeat_customers
            ));
        } else if let Some(model) = &bgnbd {
            if model.diagnostics.converged && !model.diagnostics.at_boundary {
                churn_method = ChurnMethod::BgNbd;
            } else {
                notes.push(format!(
                    "BG/NBD fit not usable ({}); churn uses the recency fallback",
                    model.diagnostics.termination
                ));
            }
        }

        if self.zero_spend_repeat > 0 {
            notes.push(format!(
                "{} repeat customers without spend left out of the Gamma-Gamma fit",
                self.zero_spend_repeat
            ));
        }
        if !fit_spend {
            notes.push(format!(
                "Gamma-Gamma not fitted: {with_spend} repeat customers with spend, fewer than {}; no model CLV",
                churn.min_repeat_customers
            ));
        } else if let Some(model) = &gamma_gamma {
            if !model.diagnostics.converged || model.diagnostics.at_boundary {
                notes.push(format!(
                    "Gamma-Gamma fit not usable ({}); no model CLV",
                    model.diagnostics.termination
                ));
            } else if model.params.q <= 1.0 {
                notes.push(format!(
                    "Gamma-Gamma q = {:.4} <= 1: the population mean spend does not exist; \
                     one-time buyers get no model CLV",
                    model.params.q
                ));
            }
        }

        Ok(AnalyticsModel {
            snapshot_version: SNAPSHOT_VERSION,
            unit: self.unit,
            customers,
            repeat_customers,
            rfm,
            bgnbd,
            gamma_gamma,
            churn_method,
            population_gap,
            notes,
            config: self.config,
        })
    }
}

impl AnalyticsModel {
    /// [`fit`](Self::fit) for a batch job that owns the machine, such as
    /// the `crm-analytics` CLI: the same model, with BG/NBD read and fitted
    /// on one core while RFM and Gamma-Gamma take another (from 20,000
    /// customers).
    pub fn fit_parallel<K: Sync>(
        unit: PeriodUnit,
        summaries: &[CustomerSummary<K>],
        config: AnalyticsConfig,
    ) -> Result<Self> {
        AnalyticsModelBuilder::new(unit, config)?.fit_summaries(summaries)
    }

    /// Fits on a population of summaries in `unit` (one pass; see
    /// [`AnalyticsModelBuilder`] to feed a stream).
    pub fn fit<'a, K: 'a, I>(
        unit: PeriodUnit,
        summaries: I,
        config: AnalyticsConfig,
    ) -> Result<Self>
    where
        I: IntoIterator<Item = &'a CustomerSummary<K>>,
    {
        let mut builder = AnalyticsModelBuilder::new(unit, config)?;
        for s in summaries {
            builder.add(s);
        }
        builder.finish()
    }

    /// The BG/NBD model, if churn and forecasts use it.
    pub fn usable_bgnbd(&self) -> Option<&BgNbdModel> {
        match self.churn_method {
            ChurnMethod::BgNbd => self.bgnbd.as_ref(),
            ChurnMethod::RecencyFallback => None,
        }
    }

    /// The Gamma-Gamma model, if it converged to an interior optimum.
    pub fn usable_gamma_gamma(&self) -> Option<&GammaGammaModel> {
        self.gamma_gamma
            .as_ref()
            .filter(|g| g.diagnostics.converged && !g.diagnostics.at_boundary)
    }

    /// A scorer for many customers (caches model expectations).
    pub fn scorer(&self) -> Scorer<'_> {
        Scorer::new(ModelRef::Borrowed(self))
    }

    /// A scorer that owns the model (to keep in a long-lived cursor).
    pub fn into_scorer(self) -> Scorer<'static> {
        Scorer::new(ModelRef::Shared(std::sync::Arc::new(self)))
    }
}

impl<'m> Scorer<'m> {
    fn new(model: ModelRef<'m>) -> Self {
        let clv = &model.config.model_clv;
        let expectations = Expectations {
            cache: HashMap::default(),
            series: HashMap::default(),
            ages: HashMap::default(),
            horizon: FORECAST_HORIZON.in_unit(model.unit),
            step: clv.step.in_unit(model.unit),
        };
        let discounts = step_discounts(clv.discount_rate_per_step)
            .take(clv.horizon_steps as usize)
            .collect();
        Scorer {
            margin: rust_decimal::prelude::ToPrimitive::to_f64(&clv.margin),
            discounts,
            model,
            expectations,
        }
    }

    /// The model this scorer applies.
    pub fn model(&self) -> &AnalyticsModel {
        &self.model
    }
}

impl AnalyticsModel {
    /// The analytics of one customer.
    pub fn score<K: Clone>(&self, summary: &CustomerSummary<K>) -> CustomerAnalytics<K> {
        self.scorer().score(summary)
    }

    /// Scores a stream of summaries lazily (second pass of batch scoring).
    pub fn score_all<'m, K, I>(
        &'m self,
        summaries: I,
    ) -> impl Iterator<Item = CustomerAnalytics<K>> + 'm
    where
        K: 'm,
        I: IntoIterator<Item = CustomerSummary<K>>,
        I::IntoIter: 'm,
    {
        let mut scorer = self.scorer();
        summaries.into_iter().map(move |s| scorer.score_owned(s))
    }

    /// The guide's churn prediction of one customer.
    pub fn churn_prediction<K>(&self, summary: &CustomerSummary<K>) -> ChurnPrediction {
        let (_, churn_probability, method) = self.churn_of(summary);
        let risk_level = self.config.churn.thresholds.risk(churn_probability);
        ChurnPrediction {
            churn_probability,
            risk_level,
            recommended_action: self.config.churn.actions.for_risk(risk_level).to_owned(),
            method,
        }
    }

    /// The model CLV of one customer with its per-step breakdown; `None`
    /// without usable models.
    pub fn model_lifetime_value<K>(&self, summary: &CustomerSummary<K>) -> Option<ModelClv> {
        let bgnbd = self.usable_bgnbd()?;
        let gg = self.usable_gamma_gamma()?;
        super::clv::model_lifetime_value(
            bgnbd,
            &gg.params,
            summary,
            &self.config.model_clv,
            self.config.money_decimals,
        )
    }

    /// (P(alive), churn probability, method).
    fn churn_of<K>(&self, s: &CustomerSummary<K>) -> (f64, f64, ChurnMethod) {
        match self.usable_bgnbd() {
            Some(m) => {
                let p_alive = m.params.p_alive(s.frequency, s.recency, s.t);
                (p_alive, 1.0 - p_alive, ChurnMethod::BgNbd)
            }
            None => {
                let churn = recency_churn_probability(
                    s.frequency,
                    s.recency,
                    s.t,
                    self.population_gap,
                    self.config.churn.fallback_patience,
                    self.unit,
                );
                (1.0 - churn, churn, ChurnMethod::RecencyFallback)
            }
        }
    }

    /// The model as a JSON snapshot.
    pub fn to_snapshot_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self)
            .map_err(|e| Error::invalid("snapshot", "json", format!("cannot serialise model: {e}")))
    }

    /// Loads a snapshot written by [`to_snapshot_json`](Self::to_snapshot_json).
    pub fn from_snapshot_json(json: &str) -> Result<Self> {
        let model: Self = serde_json::from_str(json).map_err(|e| {
            Error::invalid("snapshot", "json", format!("not a model snapshot: {e}"))
        })?;
        if model.snapshot_version != SNAPSHOT_VERSION {
            return Err(Error::invalid(
                "snapshot_version",
                "supported",
                format!(
                    "snapshot version {} is not supported (this SDK reads version {SNAPSHOT_VERSION})",
                    model.snapshot_version
                ),
            ));
        }
        model.config.validate()?;
        if let Some(b) = &model.bgnbd {
            b.params.validate()?;
        }
        if let Some(g) = &model.gamma_gamma {
            g.params.validate()?;
        }
        Ok(model)
    }
}

/// The model of a [`Scorer`]: borrowed, or shared by a long-lived scorer.
#[derive(Debug, Clone)]
enum ModelRef<'m> {
    Borrowed(&'m AnalyticsModel),
    Shared(std::sync::Arc<AnalyticsModel>),
}

impl std::ops::Deref for ModelRef<'_> {
    type Target = AnalyticsModel;

    fn deref(&self) -> &AnalyticsModel {
        match self {
            ModelRef::Borrowed(m) => m,
            ModelRef::Shared(m) => m,
        }
    }
}

/// Scores customers against an [`AnalyticsModel`]. The BG/NBD expectations
/// depend on a customer only through `(x, T)` once P(alive) is factored out,
/// so they are cached per distinct pair: scoring a million customers costs a
/// few thousand series evaluations, not fourteen million.
#[derive(Debug)]
pub struct Scorer<'m> {
    model: ModelRef<'m>,
    expectations: Expectations,
    /// The model CLV's margin as a float (`None`: out of range).
    margin: Option<f64>,
    /// The discount factor of each CLV step.
    discounts: Box<[f64]>,
}

/// The BG/NBD values a [`Scorer`] keeps per `(x, T)`.
#[derive(Debug)]
struct Expectations {
    /// `(x, T bits)` -> growth at the 90-day horizon, then at each CLV step.
    cache: HashMap<(u32, u64), Box<[f64]>, foldhash::fast::FixedState>,
    /// Per frequency: the P(alive) part of `x` and the series coefficients
    /// (shared by every `T` and horizon).
    series: HashMap<u32, (f64, GrowthSeries), foldhash::fast::FixedState>,
    /// Per age (`T` bits): the P(alive) part of `T` and the growth points
    /// of every horizon (shared by every frequency: ages are whole days,
    /// so far fewer than the `(x, T)` pairs).
    ages: HashMap<u64, (f64, Box<[GrowthPoint]>), foldhash::fast::FixedState>,
    horizon: f64,
    step: f64,
}

impl Scorer<'_> {
    /// The analytics of one customer.
    pub fn score<K: Clone>(&mut self, summary: &CustomerSummary<K>) -> CustomerAnalytics<K> {
        self.score_with_key(summary, summary.customer.clone())
    }

    /// The analytics of one customer, moving its key into the result.
    pub fn score_owned<K>(&mut self, summary: CustomerSummary<K>) -> CustomerAnalytics<K> {
        let CustomerSummary {
            customer,
            frequency,
            recency,
            t,
            monetary_value,
            total_spend,
            holdout,
        } = summary;
        let keyless = CustomerSummary {
            customer: (),
            frequency,
            recency,
            t,
            monetary_value,
            total_spend,
            holdout,
        };
        self.score_with_key(&keyless, customer)
    }
}

impl Expectations {
    /// The cached model values of `(x, T)`: the two P(alive) parts, then the
    /// expected purchases of a customer known to be alive at the forecast
    /// horizon and at each CLV step (P(alive) factors out of every
    /// conditional expectation).
    fn get(&mut self, model: &AnalyticsModel, frequency: u32, t_age: f64) -> Option<&[f64]> {
        let steps = model.config.model_clv.horizon_steps;
        let model = model.usable_bgnbd()?;
        if self.cache.len() >= CACHE_LIMIT {
            self.cache.clear();
        }
        if self.ages.len() >= CACHE_LIMIT {
            self.ages.clear();
        }
        let (horizon, step) = (self.horizon, self.step);
        let (series, ages) = (&mut self.series, &mut self.ages);
        let age = (t_age + 0.0).to_bits();
        let values = self.cache.entry((frequency, age)).or_insert_with(|| {
            let p = &model.params;
            let (odds_base, series) = series
                .entry(frequency)
                .or_insert_with(|| (p.p_alive_odds_base(frequency), p.growth_series(frequency)));
            let (ln_age, points) = ages.entry(age).or_insert_with(|| {
                let horizons = (1..=steps).map(|i| f64::from(i) * step);
                (
                    p.p_alive_ln_age(t_age),
                    p.growth_points(t_age, std::iter::once(horizon).chain(horizons))
                        .into_boxed_slice(),
                )
            });
            let mut values = Vec::with_capacity(points.len() + 2);
            values.extend([*odds_base, *ln_age]);
            series.growth_many(points, &mut values);
            values.into_boxed_slice()
        });
        Some(&**values)
    }
}

impl Scorer<'_> {
    fn score_with_key<K, Q>(&mut self, s: &CustomerSummary<Q>, key: K) -> CustomerAnalytics<K> {
        let holder = self.model.clone();
        let model: &AnalyticsModel = &holder;
        let config = &model.config;
        let decimals = config.money_decimals;
        let rfm = model.rfm.score(s);
        let lifetime_value = config
            .heuristic_clv
            .lifetime_value_of(s, model.unit, decimals);
        let cached = self.expectations.get(model, s.frequency, s.t);
        let (p_alive, churn_probability, churn_method) = match (cached, model.usable_bgnbd()) {
            (Some(c), Some(m)) => {
                // Same arithmetic as `BgNbdParams::p_alive`, two logs saved.
                let p_alive = if s.frequency == 0 {
                    1.0
                } else {
                    m.params
                        .p_alive_from_parts(s.frequency, c[0], c[1], s.recency)
                };
                (p_alive, 1.0 - p_alive, ChurnMethod::BgNbd)
            }
            _ => model.churn_of(s),
        };
        let risk_level = config.churn.thresholds.risk(churn_probability);
        let recommended_action = config.churn.actions.for_risk(risk_level).to_owned();

        let spend = model.usable_gamma_gamma().and_then(|g| {
            g.params
                .expected_average_spend_f64(s.frequency, decimal_to_f64(s.monetary_value))
        });
        let expected_purchases_90d = cached.map(|g| p_alive * g[2]);
        let model_lifetime_value = match (cached, spend) {
            // `discounted_total` with the margin and discounts computed once.
            (Some(g), Some(spend)) => self.margin.and_then(|margin| {
                let cumulative = g[3..].iter().map(|v| p_alive * v);
                let discounts = self.discounts.iter().copied();
                estimate_to_money(
                    discounted_with(cumulative, spend, margin, discounts),
                    decimals,
                )
            }),
            _ => None,
        };
        let expected_average_spend = spend.and_then(|v| estimate_to_money(v, decimals));

        CustomerAnalytics {
            customer_id: key,
            frequency: s.frequency,
            recency: s.recency,
            t: s.t,
            monetary_value: s.monetary_value,
            rfm,
            segment: rfm.segment,
            lifetime_value,
            model_lifetime_value,
            expected_average_spend,
            p_alive,
            churn_probability,
            risk_level,
            recommended_action,
            churn_method,
            expected_purchases_90d,
        }
    }
}
