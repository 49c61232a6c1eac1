//! Customer analytics: RFM segments, BG/NBD churn, Gamma-Gamma
//! spend and customer lifetime value, matching the published results.
//!
//! Pure computation, no I/O. Money enters and leaves as [`Decimal`](rust_decimal::Decimal);
//! the statistical models compute in `f64` internally (their inputs are
//! estimates, not accounting amounts). Every duration has an explicit
//! [`PeriodUnit`].
//!
//! | Module | Job |
//! |---|---|
//! | [`period`] | time units ([`PeriodUnit`], [`Span`]) |
//! | [`summary`] | purchase histories to `(x, t_x, T, m)` per customer, streaming, calibration/holdout |
//! | [`rfm`] | RFM scores by quintile, the guide's five segments, the eleven-segment map |
//! | [`bgnbd`] | BG/NBD fit, P(alive), expected purchases, P(X(t) = n) |
//! | [`bg_bb`] | BG/BB fit (discrete opportunities) with standard errors, P(alive), expected transactions, P(X(n) = x) |
//! | [`gamma_gamma`] | Gamma-Gamma fit, expected spend per purchase |
//! | [`mbg_nbd`] | MBG/NBD fit with standard errors, P(alive), expected purchases, P(X(t) = n) |
//! | [`pareto_nbd`] | Pareto/NBD fit with standard errors, P(alive), expected purchases, P(X(t) = n) |
//! | [`fit`] | the shared maximum-likelihood machinery and its diagnostics |
//! | [`clv`] | the guide's CLV (fixed) and the model CLV |
//! | [`bootstrap`] | seeded bootstrap percentile interval of a customer's model CLV |
//! | [`evaluate`] | model choice on evidence: BG/NBD, MBG/NBD, Pareto/NBD fitted on a calibration period, scored on the holdout |
//! | [`churn`] | churn probability, risk levels, actions, recency fallback |
//! | [`score`] | one result per customer, batch scoring, model snapshots |
//! | [`report`] | store-wide figures of a fit: sales over time, RFM grid, CLV histogram, cohorts |
//! | [`simulate`] | seeded BG/NBD + Gamma-Gamma purchase generator |
//!
//! ```
//! use chrono::NaiveDate;
//! use rust_decimal::Decimal;
//! use crm_core::analytics::{AnalyticsConfig, AnalyticsModel, PeriodUnit, SummaryBuilder, SummaryOptions};
//!
//! let day = |d: &str| NaiveDate::parse_from_str(d, "%Y-%m-%d").expect("date");
//! let mut builder = SummaryBuilder::new(SummaryOptions::new(PeriodUnit::Week, Some(day("2024-12-31"))))?;
//! builder.add("ana", day("2024-01-05"), Decimal::new(12_000, 2))?;
//! builder.add("ana", day("2024-11-20"), Decimal::new(8_000, 2))?;
//! builder.add("budi", day("2024-03-01"), Decimal::new(5_000, 2))?;
//! let report = builder.finish();
//!
//! // Two customers are too few for the models: churn falls back to recency.
//! let model = AnalyticsModel::fit(PeriodUnit::Week, &report.summaries, AnalyticsConfig::new())?;
//! let ana = model.score(&report.summaries[0]);
//! assert_eq!(ana.customer_id, "ana");
//! assert_eq!(ana.churn_method.as_str(), "recency_fallback");
//! println!("{} {} {}", ana.segment, ana.lifetime_value, ana.risk_level);
//! # Ok::<(), crm_core::Error>(())
//! ```

pub mod bg_bb;
pub mod bgnbd;
pub mod bootstrap;
mod btyd;
pub mod churn;
pub mod clv;
pub mod evaluate;
pub mod fit;
pub mod gamma_gamma;
pub mod mbg_nbd;
pub mod pareto_nbd;
pub mod period;
pub mod report;
pub mod rfm;
pub mod score;
pub mod simulate;
mod special;
pub mod summary;

mod history;
pub use bg_bb::{BgBbData, BgBbModel, BgBbParams, BgBbStandardErrors};
pub use bgnbd::{BgNbdData, BgNbdModel, BgNbdParams, BgNbdPredictor, BgNbdStandardErrors};
pub use bootstrap::{BootstrapOptions, ClvInterval, bootstrap_model_clv};
pub use churn::{
    ChurnConfig, ChurnMethod, ChurnPrediction, ChurnRisk, ChurnThresholds, RecommendedActions,
};
pub use clv::{ClvStep, HeuristicClvConfig, ModelClv, ModelClvConfig, discounted_purchase_value};
pub use evaluate::{
    EvaluateOptions, EvaluatedModel, FrequencyBucket, ModelEvaluation, ModelFailure, ModelParams,
    ModelScore, evaluate_models,
};
pub use fit::{FitDiagnostics, FitOptions};
pub use gamma_gamma::{
    GammaGammaData, GammaGammaModel, GammaGammaParams, GammaGammaStandardErrors,
};
pub use history::{AnalyticsSettings, CustomerScore, FittedAnalytics, ScoreCursor, SegmentTotal};
pub use mbg_nbd::{MbgNbdData, MbgNbdModel, MbgNbdParams, MbgNbdStandardErrors};
pub use pareto_nbd::{
    ParameterEstimate, ParetoNbdData, ParetoNbdModel, ParetoNbdParams, ParetoNbdStandardErrors,
};
pub use period::{PeriodUnit, Span};
pub use report::{
    AliveBin, AnalyticsReport, Cohort, CustomerSegment, Dashboard, Kpis, ReportView, RfmCell,
    RiskCount, SalesPoint, StoreTotals, ValueBin,
};
pub use rfm::{QuintileCuts, RfmBreakpoints, RfmDetailedSegment, RfmScore, RfmSegment};
pub use score::{
    AnalyticsConfig, AnalyticsModel, AnalyticsModelBuilder, CustomerAnalytics, SNAPSHOT_VERSION,
    Scorer,
};
pub use simulate::{SimulatedCustomer, Simulation};
pub use summary::{
    CustomerSummary, DenseKey, HoldoutSummary, PeriodTallies, Purchase, SortedSummarizer,
    SummaryBuilder, SummaryOptions, SummaryReport, summarize_sorted,
};
