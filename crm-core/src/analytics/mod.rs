//! Customer analytics: summaries, RFM segments, BG/NBD churn, Gamma-Gamma
//! spend and lifetime value.
//!
//! Pure computation, no I/O (issue 6).
//!
//! - [`period`]: explicit time units ([`PeriodUnit`], [`Span`]).
//! - [`summary`]: purchase histories to `(x, t_x, T, m)` per customer, streaming.
//! - [`bgnbd`]: the BG/NBD purchase/drop-out model.

pub mod bgnbd;
pub mod fit;
pub mod gamma_gamma;
pub mod period;
mod special;
pub mod summary;

pub use bgnbd::{BgNbdData, BgNbdModel, BgNbdParams};
pub use fit::{FitDiagnostics, FitOptions};
pub use gamma_gamma::{GammaGammaData, GammaGammaModel, GammaGammaParams};
pub use period::{PeriodUnit, Span};
pub use summary::{
    CustomerSummary, HoldoutSummary, Purchase, SortedSummarizer, SummaryBuilder, SummaryOptions,
    SummaryReport, summarize_sorted,
};
