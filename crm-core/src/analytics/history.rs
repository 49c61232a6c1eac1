//! Analytics over the purchase history in the store: the bridge between the
//! loyalty ledger's purchases and the models of this module.
//!
//! Batch work streams: purchases are read in `(customer, date)` order, page
//! by page, through a [`SortedSummarizer`], so memory grows with the page
//! size and the model's per-customer rows, not with the number of purchases.
//! Amounts are net of refunds; fully refunded purchases are left out.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{
    AnalyticsConfig, AnalyticsModel, AnalyticsModelBuilder, CustomerAnalytics, CustomerSummary,
    PeriodUnit, Purchase as Sale, SortedSummarizer, SummaryOptions,
};
use crate::customer::CustomerId;
use crate::store::PurchaseCursor;
use crate::{Crm, Result};

/// Purchases read per page when streaming the history.
const PAGE: u32 = 5_000;

/// Analytics settings of the [`Crm`](crate::Crm).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct AnalyticsSettings {
    /// Period unit of the models (default weeks).
    pub unit: PeriodUnit,
    /// Model, CLV and churn settings.
    pub config: AnalyticsConfig,
}

impl Crm {
    fn summary_options(&self) -> SummaryOptions {
        let today = self.inner.clock.now().date_naive();
        SummaryOptions::new(self.inner.config.analytics.unit, Some(today))
    }

    /// Streams every customer's summary, in customer order, into `sink`.
    async fn for_each_summary(
        &self,
        mut sink: impl FnMut(CustomerSummary<CustomerId>) -> Result<()> + Send,
    ) -> Result<()> {
        let mut summarizer = SortedSummarizer::new(self.summary_options())?;
        let mut after = None;
        loop {
            let page = self.inner.store.purchases_after(after, PAGE).await?;
            let Some(last) = page.last() else { break };
            after = Some(PurchaseCursor::after(last));
            for p in page {
                let amount = p.total_amount - p.refunded_amount;
                if amount <= rust_decimal::Decimal::ZERO
                    && p.refunded_amount > rust_decimal::Decimal::ZERO
                {
                    continue;
                }
                let sale = Sale {
                    customer: p.customer_id,
                    at: p.purchase_date,
                    amount,
                };
                if let Some(done) = summarizer.push(sale)? {
                    sink(done)?;
                }
            }
        }
        if let Some(done) = summarizer.finish() {
            sink(done)?;
        }
        Ok(())
    }

    /// Fits the analytics models (RFM cut points, BG/NBD, Gamma-Gamma) on the
    /// whole purchase history and keeps them for [`Crm::customer_analytics`].
    /// One streaming pass; returns the fitted model (its snapshot).
    pub async fn refit_analytics(&self) -> Result<AnalyticsModel> {
        let settings = &self.inner.config.analytics;
        let mut builder = AnalyticsModelBuilder::new(settings.unit, settings.config.clone())?;
        self.for_each_summary(|s| {
            builder.add(&s);
            Ok(())
        })
        .await?;
        let model = builder.finish()?;
        let mut slot = self
            .inner
            .analytics
            .write()
            .unwrap_or_else(|e| e.into_inner());
        *slot = Some(Arc::new(model.clone()));
        Ok(model)
    }

    /// Replaces the kept model with a snapshot (e.g. fitted elsewhere).
    pub fn load_analytics_model(&self, model: AnalyticsModel) {
        *self
            .inner
            .analytics
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(model));
    }

    async fn analytics_model(&self) -> Result<Arc<AnalyticsModel>> {
        let kept = self
            .inner
            .analytics
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(model) = kept {
            return Ok(model);
        }
        match self.refit_analytics().await {
            Ok(model) => Ok(Arc::new(model)),
            // No purchase history at all yet: a placeholder model (recency
            // fallback, nothing fitted), not kept, so the first real refit wins.
            Err(crate::Error::Validation(fields))
                if fields.iter().any(|f| f.field == "customers") =>
            {
                let settings = &self.inner.config.analytics;
                let mut builder =
                    AnalyticsModelBuilder::new(settings.unit, settings.config.clone())?;
                builder.add(&empty_summary(CustomerId(0)));
                Ok(Arc::new(builder.finish()?))
            }
            Err(e) => Err(e),
        }
    }

    /// The analytics of one customer (the guide's `getCustomerAnalytics`:
    /// `segment`, `lifetime_value`, churn probability, risk level,
    /// recommended action, ...), scored with the kept model (fitted on first
    /// use). A customer without purchases gets frequency 0, the lowest RFM
    /// scores and a lifetime value of 0.
    pub async fn customer_analytics(
        &self,
        customer: CustomerId,
    ) -> Result<CustomerAnalytics<CustomerId>> {
        self.customer(customer).await?;
        let model = self.analytics_model().await?;
        let mut summarizer = SortedSummarizer::new(self.summary_options())?;
        let mut summary = None;
        for p in self.inner.store.purchases_of(customer).await? {
            let amount = p.total_amount - p.refunded_amount;
            if amount <= rust_decimal::Decimal::ZERO
                && p.refunded_amount > rust_decimal::Decimal::ZERO
            {
                continue;
            }
            summary = summarizer
                .push(Sale {
                    customer,
                    at: p.purchase_date,
                    amount,
                })?
                .or(summary);
        }
        match summarizer.finish().or(summary) {
            Some(summary) => Ok(model.score(&summary)),
            None => {
                // No (net) purchase yet: score an empty history, and value it
                // at 0 as the guide's CLV does (the formula would count one
                // purchase and subtract its cost).
                let mut a = model.score(&empty_summary(customer));
                a.lifetime_value = rust_decimal::Decimal::ZERO;
                a.model_lifetime_value =
                    a.model_lifetime_value.map(|_| rust_decimal::Decimal::ZERO);
                Ok(a)
            }
        }
    }

    /// Scores every customer with purchases, streaming: one pass to fit
    /// (the model is kept), a second to score; each result goes to `sink` as
    /// it is computed. Returns the model used, or `None` when there is no
    /// purchase history yet (nothing to fit, nothing scored).
    pub async fn score_all_customers(
        &self,
        mut sink: impl FnMut(CustomerAnalytics<CustomerId>) -> Result<()> + Send,
    ) -> Result<Option<AnalyticsModel>> {
        let model = match self.refit_analytics().await {
            Ok(model) => model,
            Err(crate::Error::Validation(fields))
                if fields.iter().any(|f| f.field == "customers") =>
            {
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let mut scorer = model.scorer();
        self.for_each_summary(|s| sink(scorer.score_owned(s)))
            .await?;
        Ok(Some(model))
    }
}

/// The summary of a customer without purchases.
fn empty_summary(customer: CustomerId) -> CustomerSummary<CustomerId> {
    CustomerSummary {
        customer,
        frequency: 0,
        recency: 0.0,
        t: 0.0,
        monetary_value: rust_decimal::Decimal::ZERO,
        total_spend: rust_decimal::Decimal::ZERO,
        holdout: None,
    }
}
