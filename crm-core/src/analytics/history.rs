//! The [`Analytics`] handle: analytics over the purchase history in the
//! store, the bridge between the loyalty ledger's purchases and the models
//! of this module.
//!
//! Batch work streams: purchases are read in `(customer, date)` order, page
//! by page, through a [`SortedSummarizer`], so memory grows with the page
//! size and the model's per-customer rows, not with the number of purchases.
//! Amounts are net of refunds; fully refunded purchases are left out.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use futures::Stream;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::report::{AnalyticsReport, CustomerSegment, Dashboard, Kpis, ReportBuilder, ReportView};
use super::{
    AnalyticsConfig, AnalyticsModel, AnalyticsModelBuilder, CustomerAnalytics, CustomerSummary,
    PeriodUnit, Purchase as Sale, RfmSegment, Scorer, SortedSummarizer, SummaryOptions,
};
use crate::customer::CustomerId;
use crate::facade::{Analytics, Inner};
use crate::loyalty::Purchase;
use crate::store::PurchaseCursor;
use crate::{Error, Result};

/// Purchases read per page when streaming the history.
const PAGE: u32 = 5_000;
/// Customer segments written per store call while summarising a fit.
const SEGMENT_BATCH: usize = 1_000;

/// The analytics of one customer of the store: [`CustomerAnalytics`] keyed
/// by [`CustomerId`] (what [`Analytics::customer`] and
/// [`Analytics::score_all`] return).
pub type CustomerScore = CustomerAnalytics<CustomerId>;

/// Analytics settings of the [`Crm`](crate::Crm).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct AnalyticsSettings {
    /// Period unit of the models (default weeks).
    pub unit: PeriodUnit,
    /// Model, CLV and churn settings.
    pub config: AnalyticsConfig,
}

/// Customers and total lifetime value of one RFM segment
/// ([`Analytics::segments`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SegmentTotal {
    /// The guide's RFM segment (`CHAMPION`, `LOYAL`, `POTENTIAL_LOYAL`, `AT_RISK`, `LOST`).
    pub segment: RfmSegment,
    /// Customers in it.
    pub customers: u64,
    /// Sum of their yearly lifetime values.
    pub total_lifetime_value: Decimal,
}

/// The amount a purchase counts for in analytics: net of refunds; `None`
/// when it was refunded in full.
fn net_sale(p: &Purchase) -> Option<Sale<CustomerId>> {
    let amount = p.total_amount - p.refunded_amount;
    if amount <= Decimal::ZERO && p.refunded_amount > Decimal::ZERO {
        return None;
    }
    Some(Sale {
        customer: p.customer_id,
        at: p.purchase_date,
        amount,
    })
}

impl Inner {
    fn summary_options(&self) -> SummaryOptions {
        let today = self.clock.now().date_naive();
        SummaryOptions::new(self.config.analytics.unit, Some(today))
    }

    fn model_builder(&self) -> Result<AnalyticsModelBuilder> {
        let settings = &self.config.analytics;
        AnalyticsModelBuilder::new(settings.unit, settings.config.clone())
    }
}

/// Every customer's summary, in customer order, read page by page.
struct SummaryPages {
    inner: Arc<Inner>,
    summarizer: SortedSummarizer<CustomerId>,
    after: Option<PurchaseCursor>,
    done: bool,
    /// Also counts every net sale into a report, when summarising a fit.
    report: Option<ReportBuilder>,
}

impl SummaryPages {
    fn new(inner: Arc<Inner>) -> Result<Self> {
        let summarizer = SortedSummarizer::new(inner.summary_options())?;
        Ok(Self {
            inner,
            summarizer,
            after: None,
            done: false,
            report: None,
        })
    }

    /// The summaries completed by the next page of purchases (possibly none);
    /// `None` once the history is exhausted.
    async fn next_page(&mut self) -> Result<Option<Vec<CustomerSummary<CustomerId>>>> {
        if self.done {
            return Ok(None);
        }
        let page = self.inner.store.purchases_after(self.after, PAGE).await?;
        let mut out = Vec::new();
        let Some(last) = page.last() else {
            self.done = true;
            out.extend(self.summarizer.finish());
            return Ok(Some(out));
        };
        self.after = Some(PurchaseCursor::after(last));
        for sale in page.iter().filter_map(net_sale) {
            if let Some(report) = &mut self.report {
                report.sale(sale.customer, sale.at, sale.amount);
            }
            out.extend(self.summarizer.push(sale)?);
        }
        Ok(Some(out))
    }
}

/// Scores of every customer with purchases, a batch at a time, in customer
/// id order ([`Analytics::score_all`]). Memory stays bounded whatever the
/// number of customers: one page of purchases and one batch of scores.
///
/// Pull batches with [`next_batch`](Self::next_batch) (what the Python and
/// Node packages wrap) or turn it into a [`Stream`] with
/// [`into_stream`](Self::into_stream).
#[derive(Debug)]
pub struct ScoreCursor {
    pages: Option<Box<SummaryPages>>,
    scorer: Option<Scorer<'static>>,
    pending: VecDeque<CustomerScore>,
}

impl std::fmt::Debug for SummaryPages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SummaryPages")
            .field("after", &self.after)
            .field("done", &self.done)
            .finish()
    }
}

impl ScoreCursor {
    /// The model the scores come from; `None` when there is no purchase
    /// history (the cursor then yields nothing).
    pub fn model(&self) -> Option<&AnalyticsModel> {
        self.scorer.as_ref().map(Scorer::model)
    }

    /// Up to `max` more scores (at least 1 is asked for); an empty batch
    /// means the end.
    pub async fn next_batch(&mut self, max: usize) -> Result<Vec<CustomerScore>> {
        let max = max.max(1);
        while self.pending.len() < max {
            let (Some(pages), Some(scorer)) = (self.pages.as_mut(), self.scorer.as_mut()) else {
                break;
            };
            match pages.next_page().await? {
                Some(summaries) => self
                    .pending
                    .extend(summaries.into_iter().map(|s| scorer.score_owned(s))),
                None => self.pages = None,
            }
        }
        let n = max.min(self.pending.len());
        Ok(self.pending.drain(..n).collect())
    }

    /// The scores as a stream, read `batch` at a time.
    pub fn into_stream(self, batch: usize) -> impl Stream<Item = Result<CustomerScore>> + Send {
        futures::stream::try_unfold(
            (self, VecDeque::new()),
            move |(mut cursor, mut buffer)| async move {
                if buffer.is_empty() {
                    buffer.extend(cursor.next_batch(batch).await?);
                }
                Ok(buffer.pop_front().map(|s| (s, (cursor, buffer))))
            },
        )
    }
}

/// The setting under which the last fit is persisted.
const FIT_SETTING: &str = "analytics_fit";
/// Its generation alone: a cheap check whether another process refitted.
const FIT_GENERATION_SETTING: &str = "analytics_fit_generation";

/// The last fitted analytics: the model, when and how often it was fitted,
/// and the segment totals it gives. Persisted with the data, so every
/// process serves the same model and a restart does not refit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FittedAnalytics {
    /// Counts the fits of this database (1 for the first).
    pub generation: u64,
    /// When it was fitted.
    pub fitted_at: chrono::DateTime<chrono::Utc>,
    /// The model.
    pub model: AnalyticsModel,
    /// Customers and lifetime value per segment under this model; `None`
    /// until first asked for (a model loaded from elsewhere, or fitted by
    /// [`Analytics::score_all`]).
    pub segments: Option<Vec<SegmentTotal>>,
    /// The store-wide figures computed with the segments (`None` with them,
    /// and in snapshots written before reports existed).
    #[serde(default)]
    pub report: Option<AnalyticsReport>,
}

impl Analytics {
    /// The kept fit, if any, without reading the store.
    fn kept(&self) -> Option<Arc<FittedAnalytics>> {
        self.inner
            .analytics
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Keeps a fit in memory and persists it.
    async fn keep(&self, fit: FittedAnalytics) -> Result<Arc<FittedAnalytics>> {
        let json =
            serde_json::to_string(&fit).map_err(|e| Error::storage("analytics fit snapshot", e))?;
        self.inner
            .store
            .put_setting(FIT_SETTING.into(), json)
            .await?;
        self.inner
            .store
            .put_setting(FIT_GENERATION_SETTING.into(), fit.generation.to_string())
            .await?;
        let fit = Arc::new(fit);
        *self
            .inner
            .analytics
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Some(fit.clone());
        Ok(fit)
    }

    /// The last fit: kept in memory unless a newer one was persisted by a
    /// refit of any process (then that one, kept from then on).
    async fn last(&self) -> Result<Option<Arc<FittedAnalytics>>> {
        let persisted: u64 = self
            .inner
            .store
            .setting(FIT_GENERATION_SETTING.into())
            .await?
            .and_then(|g| g.parse().ok())
            .unwrap_or(0);
        if let Some(fit) = self.kept()
            && fit.generation >= persisted
        {
            return Ok(Some(fit));
        }
        let Some(json) = self.inner.store.setting(FIT_SETTING.into()).await? else {
            return Ok(None);
        };
        let fit: FittedAnalytics = serde_json::from_str(&json)
            .map_err(|e| Error::storage("stored analytics fit is unreadable", e))?;
        let fit = Arc::new(fit);
        *self
            .inner
            .analytics
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Some(fit.clone());
        Ok(Some(fit))
    }

    /// The last fit, if there is one (kept or persisted): the model with its
    /// generation, time and segment totals.
    pub async fn last_fit(&self) -> Result<Option<FittedAnalytics>> {
        Ok(self.last().await?.map(|f| (*f).clone()))
    }

    /// Fits the models on the whole history in one streaming pass (the
    /// optimisation runs on the blocking pool, off the async workers);
    /// `None` when there is no purchase yet.
    async fn fit(&self) -> Result<Option<AnalyticsModel>> {
        let mut builder = self.inner.model_builder()?;
        let mut pages = SummaryPages::new(self.inner.clone())?;
        while let Some(summaries) = pages.next_page().await? {
            summaries.iter().for_each(|s| builder.add(s));
        }
        if builder.customers() == 0 {
            return Ok(None);
        }
        let model = tokio::task::spawn_blocking(move || builder.finish())
            .await
            .map_err(|e| Error::storage("the model fit stopped", e))??;
        Ok(Some(model))
    }

    /// Fits, and with `summarise` also totals the segments and builds the
    /// report, once at a time: a caller that waited while another fit ran
    /// gets that fit.
    async fn refit_once(&self, summarise: bool) -> Result<Option<Arc<FittedAnalytics>>> {
        let seen = self.last().await?.map_or(0, |f| f.generation);
        let _single = self.inner.refit_lock.lock().await;
        if let Some(fit) = self.kept()
            && fit.generation > seen
            && (fit.report.is_some() || !summarise)
        {
            return Ok(Some(fit));
        }
        let Some(model) = self.fit().await? else {
            return Ok(None);
        };
        // The latest generation, another process's refit included.
        let generation = self.last().await?.map_or(0, |f| f.generation) + 1;
        let (segments, report) = match summarise {
            true => {
                let (segments, report) = self.summarise(&model, generation).await?;
                (Some(segments), Some(report))
            }
            false => (None, None),
        };
        let fit = FittedAnalytics {
            generation,
            fitted_at: self.inner.now(),
            model,
            segments,
            report,
        };
        self.keep(fit).await.map(Some)
    }

    /// Fits the analytics models (RFM cut points, BG/NBD, Gamma-Gamma) on
    /// the whole purchase history and totals the segments under them; keeps
    /// and persists both for [`Analytics::customer`] and
    /// [`Analytics::segments`] (every process, and restarts, serve them).
    /// One refit runs at a time; concurrent callers share it. Without any
    /// purchase there is nothing to fit: a validation error on `customers`.
    pub async fn refit(&self) -> Result<AnalyticsModel> {
        self.refit_once(true)
            .await?
            .map(|f| f.model.clone())
            .ok_or_else(|| {
                Error::invalid(
                    "customers",
                    "required",
                    "analytics need at least one customer",
                )
            })
    }

    /// Replaces the kept model with a snapshot (e.g. fitted elsewhere); it
    /// is persisted like a refit, its segments totalled when first asked for.
    pub async fn load_model(&self, model: AnalyticsModel) -> Result<()> {
        let _single = self.inner.refit_lock.lock().await;
        let generation = self.last().await?.map_or(0, |f| f.generation) + 1;
        self.keep(FittedAnalytics {
            generation,
            fitted_at: self.inner.now(),
            model,
            segments: None,
            report: None,
        })
        .await?;
        Ok(())
    }

    /// The model to score with: the last fit, fitted on first use; a
    /// placeholder (recency fallback, nothing fitted, not kept) while there
    /// is no history.
    async fn model(&self) -> Result<Arc<AnalyticsModel>> {
        let fit = match self.last().await? {
            Some(fit) => Some(fit),
            None => self.refit_once(false).await?,
        };
        match fit {
            Some(fit) => Ok(Arc::new(fit.model.clone())),
            None => {
                let mut builder = self.inner.model_builder()?;
                builder.add(&empty_summary(CustomerId(0)));
                Ok(Arc::new(builder.finish()?))
            }
        }
    }

    /// The analytics of one customer (the guide's `getCustomerAnalytics`:
    /// `segment`, `lifetime_value`, churn probability, risk level,
    /// recommended action, ...), scored with the kept model (fitted on first
    /// use). A customer without purchases gets frequency 0, the lowest RFM
    /// scores and a lifetime value of 0.
    pub async fn customer(&self, customer: CustomerId) -> Result<CustomerScore> {
        self.inner.customer(customer).await?;
        let model = self.model().await?;
        let mut summarizer = SortedSummarizer::new(self.inner.summary_options())?;
        let mut summary = None;
        for sale in self
            .inner
            .store
            .purchases_of(customer)
            .await?
            .iter()
            .filter_map(net_sale)
        {
            summary = summarizer.push(sale)?.or(summary);
        }
        match summarizer.finish().or(summary) {
            Some(summary) => Ok(model.score(&summary)),
            None => {
                // No (net) purchase yet: score an empty history, and value it
                // at 0 as the guide's CLV does (the formula would count one
                // purchase and subtract its cost).
                let mut a = model.score(&empty_summary(customer));
                a.lifetime_value = Decimal::ZERO;
                a.model_lifetime_value = a.model_lifetime_value.map(|_| Decimal::ZERO);
                Ok(a)
            }
        }
    }

    /// Scores every customer with purchases: one streaming pass to fit (the
    /// model is kept and persisted, as by a refit), then a cursor that
    /// scores as it reads, in customer id order, with bounded memory.
    /// Without any purchase the cursor is empty and its
    /// [`model`](ScoreCursor::model) is `None`.
    pub async fn score_all(&self) -> Result<ScoreCursor> {
        let fit = self.refit_once(false).await?;
        let scorer = fit.map(|f| f.model.clone().into_scorer());
        let pages = match scorer {
            Some(_) => Some(Box::new(SummaryPages::new(self.inner.clone())?)),
            None => None,
        };
        Ok(ScoreCursor {
            pages,
            scorer,
            pending: VecDeque::new(),
        })
    }

    /// Customers and total lifetime value per RFM segment (one row per
    /// segment present, by segment name), **from the last fit**: no refit
    /// and no pass over the history on each call. Totals not yet computed
    /// for the last model are computed once (one scoring pass) and kept;
    /// without any fit yet, the first call fits. Refit to take new purchases
    /// in.
    pub async fn segments(&self) -> Result<Vec<SegmentTotal>> {
        Ok(self
            .summarised()
            .await?
            .and_then(|f| f.segments.clone())
            .unwrap_or_default())
    }

    /// What a dashboard's first view shows, **from the last fit** (as
    /// [`segments`](Self::segments): one settings read per call, whatever
    /// the size of the store): customer counts, points outstanding, revenue
    /// and purchases of the 30 days before the fit, the repeat rate, the
    /// segments and sales over time. `as_of` says when the fit ran. Without
    /// any purchase there is no fit: the counts are read from the store and
    /// the rest is empty.
    pub async fn dashboard(&self) -> Result<Dashboard> {
        let Some(fit) = self.summarised().await? else {
            let totals = self.inner.store.totals().await?;
            return Ok(Dashboard {
                generation: None,
                as_of: None,
                kpis: Kpis {
                    customers: totals.customers,
                    active_customers: totals.active_customers,
                    points_outstanding: totals.points_outstanding,
                    revenue_30d: Decimal::ZERO,
                    purchases_30d: 0,
                    repeat_rate: None,
                },
                segments: Vec::new(),
                sales_by_day: Vec::new(),
                sales_by_month: Vec::new(),
            });
        };
        let report = fit.report.clone().unwrap_or_default();
        let model = &fit.model;
        Ok(Dashboard {
            generation: Some(fit.generation),
            as_of: Some(fit.fitted_at),
            kpis: Kpis {
                customers: report.totals.customers,
                active_customers: report.totals.active_customers,
                points_outstanding: report.totals.points_outstanding,
                revenue_30d: report.revenue_30d,
                purchases_30d: report.purchases_30d,
                repeat_rate: (model.customers > 0)
                    .then(|| model.repeat_customers as f64 / model.customers as f64),
            },
            segments: fit.segments.clone().unwrap_or_default(),
            sales_by_day: report.sales_by_day,
            sales_by_month: report.sales_by_month,
        })
    }

    /// The analytics page's figures **from the last fit** (computed once
    /// per fit, as [`segments`](Self::segments)): the model and its notes,
    /// segments, the recency × frequency grid, the lifetime-value
    /// histogram, churn risk, P(alive) by recency and cohort retention.
    /// Without any purchase: a validation error on `customers`, as
    /// [`refit`](Self::refit).
    pub async fn report(&self) -> Result<ReportView> {
        let fit = self.summarised().await?.ok_or_else(|| {
            Error::invalid(
                "customers",
                "required",
                "analytics need at least one customer",
            )
        })?;
        Ok(ReportView {
            generation: fit.generation,
            as_of: fit.fitted_at,
            model: fit.model.clone(),
            segments: fit.segments.clone().unwrap_or_default(),
            report: fit.report.clone().unwrap_or_default(),
        })
    }

    /// The last fit with its segments and report, computing them once
    /// (one scoring pass) when the last fit has none; without any fit yet,
    /// fits first.
    async fn summarised(&self) -> Result<Option<Arc<FittedAnalytics>>> {
        let last = self.last().await?;
        let Some(fit) = last else {
            return self.refit_once(true).await;
        };
        if fit.segments.is_some() && fit.report.is_some() {
            return Ok(Some(fit));
        }
        let _single = self.inner.refit_lock.lock().await;
        if let Some(kept) = self.kept()
            && kept.generation == fit.generation
            && kept.segments.is_some()
            && kept.report.is_some()
        {
            return Ok(Some(kept));
        }
        let (segments, report) = self.summarise(&fit.model, fit.generation).await?;
        self.keep(FittedAnalytics {
            segments: Some(segments),
            report: Some(report),
            ..(*fit).clone()
        })
        .await
        .map(Some)
    }

    /// One scoring pass over the history with `model`: customers and
    /// lifetime value per segment, the report, and every scored customer's
    /// segment written to the store under `generation` (the customer
    /// listing's `segment` and score filters), older placements deleted.
    async fn summarise(
        &self,
        model: &AnalyticsModel,
        generation: u64,
    ) -> Result<(Vec<SegmentTotal>, AnalyticsReport)> {
        let store = &self.inner.store;
        let mut by_segment: BTreeMap<&'static str, SegmentTotal> = BTreeMap::new();
        let mut scorer = model.scorer();
        let mut pages = SummaryPages::new(self.inner.clone())?;
        pages.report = Some(ReportBuilder::new(
            self.inner.clock.now().date_naive(),
            model.unit,
        ));
        let mut placed = Vec::with_capacity(SEGMENT_BATCH);
        while let Some(summaries) = pages.next_page().await? {
            for summary in summaries {
                let a = scorer.score_owned(summary);
                if let Some(report) = &mut pages.report {
                    report.score(&a);
                }
                placed.push(CustomerSegment::of(&a));
                let row = by_segment
                    .entry(a.segment.as_str())
                    .or_insert_with(|| SegmentTotal {
                        segment: a.segment,
                        customers: 0,
                        total_lifetime_value: Decimal::ZERO,
                    });
                row.customers += 1;
                row.total_lifetime_value = row
                    .total_lifetime_value
                    .checked_add(a.lifetime_value)
                    .ok_or_else(|| {
                    Error::storage_msg("segment lifetime value overflows a decimal")
                })?;
            }
            if placed.len() >= SEGMENT_BATCH {
                store
                    .put_segments(generation, std::mem::take(&mut placed))
                    .await?;
            }
        }
        if !placed.is_empty() {
            store.put_segments(generation, placed).await?;
        }
        store.prune_segments(generation).await?;
        let totals = store.totals().await?;
        let report = match pages.report.take() {
            Some(builder) => builder.finish(totals)?,
            None => AnalyticsReport::default(),
        };
        Ok((by_segment.into_values().collect(), report))
    }
}

/// The summary of a customer without purchases.
fn empty_summary(customer: CustomerId) -> CustomerSummary<CustomerId> {
    CustomerSummary {
        customer,
        frequency: 0,
        recency: 0.0,
        t: 0.0,
        monetary_value: Decimal::ZERO,
        total_spend: Decimal::ZERO,
        holdout: None,
    }
}
