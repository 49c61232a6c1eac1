//! The [`Comms`] handle: templates, previews, consent, campaigns and the log.

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::model::*;
use super::template::{self, Placeholder, RenderContext, Rendered};
use super::token::{self, Unsubscribe};
use crate::analytics::{RfmDetailedSegment, RfmSegment};
use crate::customer::{ActivityFilter, Customer, CustomerId, CustomerQuery};
use crate::error::FieldErrors;
use crate::facade::Comms;
use crate::json::{JsonFields, json_input};
use crate::{Error, Result};

/// Customers listed per page when a campaign's recipients are listed.
const AUDIENCE_PAGE: usize = 1000;

/// Input of [`Comms::preview`]: a template rendered for one customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Preview {
    /// The template.
    pub template_id: i64,
    /// The customer whose values fill it.
    #[cfg_attr(feature = "openapi", schema(value_type = i64))]
    pub customer_id: CustomerId,
}

impl Preview {
    /// Reads `{template_id, customer_id}`, reporting every failing field.
    pub fn from_json(value: serde_json::Value) -> Result<Self> {
        let mut r = JsonFields::new(value)?;
        let template_id = r.required("template_id", "a template id");
        let customer_id = r.require("customer_id", "a customer id");
        r.finish("preview")?;
        Ok(Self {
            template_id,
            customer_id: customer_id.unwrap_or(CustomerId(0)),
        })
    }

    /// Reads `{customer_id}` for the template `template_id` (from a URL path).
    pub fn from_json_for(template_id: i64, value: serde_json::Value) -> Result<Self> {
        let mut r = JsonFields::new(value)?;
        let customer_id = r.require("customer_id", "a customer id");
        r.finish("preview")?;
        Ok(Self {
            template_id,
            customer_id: customer_id.unwrap_or(CustomerId(0)),
        })
    }
}

/// Input of [`Comms::communications`]: a page of one customer's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CommunicationQuery {
    /// The customer.
    pub customer_id: CustomerId,
    /// Only entries older than this id (the last id of the previous page).
    pub before: Option<i64>,
    /// At most this many (default and cap: the CRM's page limits).
    pub limit: Option<u32>,
}

impl CommunicationQuery {
    /// The newest entries of a customer.
    pub fn of(customer_id: CustomerId) -> Self {
        Self {
            customer_id,
            before: None,
            limit: None,
        }
    }

    /// Reads `{customer_id, before, limit}`, reporting every failing field.
    pub fn from_json(value: serde_json::Value) -> Result<Self> {
        let mut r = JsonFields::new(value)?;
        let customer_id = r.require("customer_id", "a customer id");
        let before = r.optional("before", "an entry id");
        let limit = r.optional("limit", "a positive integer");
        r.finish("communication query")?;
        Ok(Self {
            customer_id: customer_id.unwrap_or(CustomerId(0)),
            before,
            limit,
        })
    }
}

json_input!(Preview, CommunicationQuery);

impl Comms {
    fn now(&self) -> DateTime<Utc> {
        self.inner.now()
    }

    fn settings(&self) -> &CommsSettings {
        &self.inner.config.comms
    }

    fn actor_name(&self) -> Option<String> {
        self.actor().map(|a| a.user.clone())
    }

    /// Saves a template after checking every field and placeholder.
    pub async fn create_template(&self, input: NewTemplate) -> Result<Template> {
        template::validate(&input)?;
        self.inner
            .store
            .insert_template(Template {
                id: 0,
                name: input.name.trim().to_owned(),
                channel: input.channel,
                locale: input.locale,
                subject: input.subject,
                text: input.text,
                html: input.html,
                created_by: self.actor_name(),
                created_at: self.now(),
            })
            .await
    }

    /// Every template, newest first.
    pub async fn templates(&self) -> Result<Vec<Template>> {
        self.inner.store.templates().await
    }

    /// One template.
    pub async fn template(&self, id: i64) -> Result<Template> {
        self.inner
            .store
            .template(id)
            .await?
            .ok_or_else(|| Error::NotFound {
                entity: "template",
                id: id.to_string(),
            })
    }

    /// Renders a template for one customer without sending anything.
    pub async fn preview(&self, request: Preview) -> Result<Rendered> {
        let t = self.template(request.template_id).await?;
        let customer = self.inner.customer(request.customer_id).await?;
        let ctx = self.context(&t, &customer, None).await?;
        Ok(template::render(&t, &ctx))
    }

    /// Records an opt-in or opt-out, appended to the customer's history.
    pub async fn set_consent(&self, change: ConsentChange) -> Result<ConsentRecord> {
        let source = change.source.trim();
        if source.is_empty() || source.chars().count() > SOURCE_MAX {
            return Err(Error::invalid(
                "source",
                "length",
                format!("source must be 1 to {SOURCE_MAX} characters (till, web_form, ...)"),
            ));
        }
        self.inner.customer(change.customer_id).await?;
        self.inner
            .store
            .append_consent(ConsentRecord {
                id: 0,
                customer_id: change.customer_id,
                channel: change.channel,
                granted: change.granted,
                source: source.to_owned(),
                recorded_by: self.actor_name(),
                recorded_at: self.now(),
            })
            .await
    }

    /// A customer's consent now, with its history.
    pub async fn consent(&self, customer: CustomerId) -> Result<CustomerConsent> {
        self.inner.customer(customer).await?;
        let history = self.inner.store.consent_history(customer).await?;
        let now = |channel| {
            history
                .iter()
                .rev()
                .find(|r| r.channel == channel)
                .is_some_and(|r| r.granted)
        };
        Ok(CustomerConsent {
            customer_id: customer,
            email: now(Channel::Email),
            sms: now(Channel::Sms),
            history,
        })
    }

    async fn secret(&self) -> Result<Vec<u8>> {
        let cell = self.inner.comms_secret.clone();
        cell.get_or_try_init(|| async {
            let value = token::new_secret()?;
            let stored = self
                .inner
                .store
                .setting_or_insert(token::SECRET_SETTING.into(), value)
                .await?;
            Ok::<_, Error>(stored.into_bytes())
        })
        .await
        .cloned()
    }

    /// The signed one-click unsubscribe link of a customer on a channel
    /// (`<public_url>/unsubscribe?token=...`).
    pub async fn unsubscribe_url(
        &self,
        customer: CustomerId,
        channel: Channel,
        campaign: Option<i64>,
    ) -> Result<String> {
        let secret = self.secret().await?;
        let token = token::sign(
            &secret,
            Unsubscribe {
                customer_id: customer,
                channel,
                campaign_id: campaign,
            },
        );
        Ok(format!(
            "{}/unsubscribe?token={token}",
            self.settings().public_url.trim_end_matches('/')
        ))
    }

    /// Opts a customer out through a signed unsubscribe token (the link in
    /// every email). Clicking twice records one opt-out: the answer is the
    /// record that opted out. A forged or altered token is a validation
    /// error on `token`.
    pub async fn unsubscribe(&self, token: &str) -> Result<ConsentRecord> {
        let secret = self.secret().await?;
        let u = token::verify(&secret, token)?;
        if let Some(latest) = self
            .inner
            .store
            .latest_consent(u.customer_id, u.channel)
            .await?
            .filter(|r| !r.granted)
        {
            return Ok(latest);
        }
        let source = match u.campaign_id {
            Some(c) => format!("unsubscribe_link:campaign {c}"),
            None => "unsubscribe_link".into(),
        };
        self.inner.customer(u.customer_id).await?;
        self.inner
            .store
            .append_consent(ConsentRecord {
                id: 0,
                customer_id: u.customer_id,
                channel: u.channel,
                granted: false,
                source,
                recorded_by: None,
                recorded_at: self.now(),
            })
            .await
    }

    /// Creates a draft campaign; the template must exist and the target
    /// must name a known segment or tier.
    pub async fn create_campaign(&self, input: NewCampaign) -> Result<Campaign> {
        let mut errors = FieldErrors::new();
        let name = input.name.trim();
        if name.is_empty() || name.chars().count() > CAMPAIGN_NAME_MAX {
            errors.push(
                "name",
                "length",
                format!("name must be 1 to {CAMPAIGN_NAME_MAX} characters"),
            );
        }
        errors.check("target.", self.check_target(&input.target));
        let t = match self.inner.store.template(input.template_id).await? {
            Some(t) => Some(t),
            None => {
                errors.push(
                    "template_id",
                    "exists",
                    format!("template {} does not exist", input.template_id),
                );
                None
            }
        };
        errors.finish()?;
        let Some(t) = t else {
            return Err(Error::invalid("template_id", "exists", "no such template"));
        };
        let now = self.now();
        self.inner
            .store
            .insert_campaign(Campaign {
                id: 0,
                name: name.to_owned(),
                template_id: t.id,
                channel: t.channel,
                target: input.target,
                quiet_hours: input.quiet_hours,
                status: CampaignStatus::Draft,
                scheduled_at: None,
                created_by: self.actor_name(),
                created_at: now,
                started_at: None,
                finished_at: None,
                progress: CampaignProgress::default(),
            })
            .await
    }

    fn check_target(&self, target: &Target) -> Result<()> {
        match target {
            Target::Segment(s) => {
                if segment_matcher(s).is_none() {
                    return Err(Error::invalid(
                        "segment",
                        "one_of",
                        format!(
                            "unknown segment {s:?}: use CHAMPION, LOYAL, POTENTIAL_LOYAL, AT_RISK, LOST or a detailed segment (champions, at_risk, ...)"
                        ),
                    ));
                }
            }
            Target::Tier(tier) => {
                let tiers = &self.inner.config.loyalty.tiers;
                if !tiers.iter().any(|t| t.name.eq_ignore_ascii_case(tier)) {
                    let names: Vec<_> = tiers.iter().map(|t| t.name.as_str()).collect();
                    return Err(Error::invalid(
                        "tier",
                        "one_of",
                        format!("unknown tier {tier:?}: use one of {}", names.join(", ")),
                    ));
                }
            }
            Target::Tag(tag) => {
                if tag.trim().is_empty() {
                    return Err(Error::invalid("tag", "required", "tag must not be empty"));
                }
            }
            Target::Filter(_) => {}
        }
        Ok(())
    }

    /// A campaign with its progress (recipients by status).
    pub async fn campaign(&self, id: i64) -> Result<Campaign> {
        self.inner
            .store
            .campaign(id)
            .await?
            .ok_or_else(|| Error::NotFound {
                entity: "campaign",
                id: id.to_string(),
            })
    }

    /// The newest campaigns (at most the CRM's largest page).
    pub async fn campaigns(&self) -> Result<Vec<Campaign>> {
        self.inner
            .store
            .campaigns(self.inner.config.max_page_limit)
            .await
    }

    /// Sends a campaign: now (its recipients are listed and it is
    /// `sending`; the dispatcher delivers), or at `at` (`scheduled`).
    /// Sending a campaign that is already sending or done changes nothing
    /// and answers it as it is.
    pub async fn send_campaign(&self, request: SendCampaign) -> Result<Campaign> {
        let campaign = self.campaign(request.campaign_id).await?;
        let now = self.now();
        match campaign.status {
            CampaignStatus::Sending | CampaignStatus::Done => return Ok(campaign),
            CampaignStatus::Draft | CampaignStatus::Scheduled => {}
        }
        match request.at.filter(|at| *at > now) {
            Some(at) => {
                self.inner
                    .store
                    .set_campaign_status(
                        campaign.id,
                        &[CampaignStatus::Draft, CampaignStatus::Scheduled],
                        CampaignStatus::Scheduled,
                        Some(at),
                        now,
                    )
                    .await?;
            }
            None => self.start(&campaign).await?,
        }
        self.campaign(campaign.id).await
    }

    /// Lists a campaign's recipients and moves it to `sending`. Safe to run
    /// twice or from two processes: recipients already listed are kept.
    pub(crate) async fn start(&self, campaign: &Campaign) -> Result<()> {
        let now = self.now();
        let ids = self.audience(&campaign.target).await?;
        for chunk in ids.chunks(AUDIENCE_PAGE) {
            self.inner
                .store
                .add_recipients(campaign.id, campaign.channel, chunk, now)
                .await?;
        }
        self.inner
            .store
            .set_campaign_status(
                campaign.id,
                &[CampaignStatus::Draft, CampaignStatus::Scheduled],
                CampaignStatus::Sending,
                Some(campaign.scheduled_at.unwrap_or(now)),
                now,
            )
            .await?;
        Ok(())
    }

    /// The active customers a target names, in id order.
    async fn audience(&self, target: &Target) -> Result<Vec<CustomerId>> {
        let filter = match target {
            Target::Segment(segment) => return self.segment_audience(segment).await,
            Target::Tier(tier) => return self.tier_audience(tier).await,
            Target::Tag(tag) => AudienceFilter {
                tag: Some(tag.clone()),
                ..AudienceFilter::default()
            },
            Target::Filter(f) => f.clone(),
        };
        let mut out = Vec::new();
        self.each_active(filter, |c| {
            out.push(c.id);
            Ok(())
        })
        .await?;
        Ok(out)
    }

    /// Calls `f` with every active customer matching `filter`, page by page.
    async fn each_active(
        &self,
        filter: AudienceFilter,
        mut f: impl FnMut(&Customer) -> Result<()>,
    ) -> Result<()> {
        let customers = crate::facade::Crm {
            inner: self.inner.clone(),
            actor: None,
        }
        .customers();
        let mut cursor = None;
        loop {
            let page = customers
                .list(CustomerQuery {
                    limit: Some(self.inner.config.max_page_limit),
                    cursor: cursor.take(),
                    customer_type: filter.customer_type,
                    status: ActivityFilter::Active,
                    tag: filter.tag.clone(),
                    created_from: filter.created_from,
                    created_to: filter.created_to,
                    q: filter.q.clone(),
                    ..CustomerQuery::default()
                })
                .await?;
            for c in &page.items {
                f(c)?;
            }
            match page.next_cursor {
                Some(next) if !page.items.is_empty() => cursor = Some(next),
                _ => return Ok(()),
            }
        }
    }

    async fn segment_audience(&self, segment: &str) -> Result<Vec<CustomerId>> {
        let matches = segment_matcher(segment)
            .ok_or_else(|| Error::invalid("target.segment", "one_of", "unknown segment"))?;
        let crm = crate::facade::Crm {
            inner: self.inner.clone(),
            actor: None,
        };
        let mut active = HashSet::new();
        self.each_active(AudienceFilter::default(), |c| {
            active.insert(c.id);
            Ok(())
        })
        .await?;
        let mut cursor = crm.analytics().score_all().await?;
        let mut out = Vec::new();
        loop {
            let batch = cursor.next_batch(AUDIENCE_PAGE).await?;
            if batch.is_empty() {
                break;
            }
            out.extend(
                batch
                    .iter()
                    .filter(|s| matches(s.rfm.segment, s.rfm.detailed_segment))
                    .map(|s| s.customer_id)
                    .filter(|id| active.contains(id)),
            );
        }
        out.sort_unstable();
        Ok(out)
    }

    async fn tier_audience(&self, tier: &str) -> Result<Vec<CustomerId>> {
        let program = &self.inner.config.loyalty;
        let since = self.now() - Duration::days(i64::from(program.tier_window_days));
        let mut ids = Vec::new();
        self.each_active(AudienceFilter::default(), |c| {
            ids.push(c.id);
            Ok(())
        })
        .await?;
        let mut out = Vec::new();
        for id in ids {
            let mut tx = self.inner.store.begin_ledger(vec![id], false).await?;
            let earned = tx.earned_since(id, since).await?;
            if program
                .tier_for(earned)
                .is_some_and(|t| t.name.eq_ignore_ascii_case(tier))
            {
                out.push(id);
            }
        }
        Ok(out)
    }

    /// One customer's communication log, newest first.
    pub async fn communications(&self, query: CommunicationQuery) -> Result<Vec<Communication>> {
        let mut errors = FieldErrors::new();
        if query.limit == Some(0) {
            errors.push("limit", "min", "limit must be at least 1");
        }
        if query.before.is_some_and(|b| b < 1) {
            errors.push("before", "min", "before must be an entry id (at least 1)");
        }
        errors.finish()?;
        self.inner.customer(query.customer_id).await?;
        let config = &self.inner.config;
        let limit = query
            .limit
            .unwrap_or(config.default_page_limit)
            .clamp(1, config.max_page_limit);
        self.inner
            .store
            .communications(query.customer_id, query.before, limit)
            .await
    }

    /// The values of `customer` for template `t`: only those the template
    /// uses are read.
    pub(crate) async fn context(
        &self,
        t: &Template,
        customer: &Customer,
        campaign: Option<i64>,
    ) -> Result<RenderContext> {
        let used = template::placeholders(t);
        let now = self.now();
        let settings = self.settings();
        let program = &self.inner.config.loyalty;
        let mut ctx = RenderContext {
            customer_name: customer.name.clone(),
            customer_code: customer.customer_code.as_str().to_owned(),
            loyalty_points: 0,
            last_purchase_at: None,
            last_purchase_amount: None,
            last_purchase_currency: None,
            tier: None,
            points_expiring: 0,
            unsubscribe_url: String::new(),
            utc_offset_minutes: settings.utc_offset_minutes,
        };
        let id = customer.id;
        if used.contains(&Placeholder::LoyaltyPoints)
            || used.contains(&Placeholder::Tier)
            || used.contains(&Placeholder::PointsExpiring)
        {
            // Reads only: a transaction that never writes (the ledger's
            // `account` creates a missing account, so it is not used here).
            let account = self.inner.store.loyalty_account(id).await?;
            let mut tx = self.inner.store.begin_ledger(vec![id], false).await?;
            if let (Some(acct), true) = (&account, used.contains(&Placeholder::LoyaltyPoints)) {
                let balance = acct.balance - tx.due_points(id, now).await?;
                ctx.loyalty_points = if acct.debt > 0 { 0 } else { balance.max(0) };
            }
            if used.contains(&Placeholder::Tier) {
                let window = Duration::days(i64::from(program.tier_window_days));
                let earned = tx.earned_since(id, now - window).await?;
                ctx.tier = program.tier_for(earned).map(|t| t.name.clone());
            }
            if account.is_some() && used.contains(&Placeholder::PointsExpiring) {
                let horizon = now + Duration::days(i64::from(settings.expiring_within_days));
                ctx.points_expiring = tx
                    .open_lots(id, 10_000)
                    .await?
                    .iter()
                    .filter(|l| l.expires_at.is_some_and(|at| at > now && at <= horizon))
                    .map(|l| l.remaining)
                    .sum();
            }
        }
        let wants_purchase = used.contains(&Placeholder::LastPurchase)
            || used.contains(&Placeholder::LastPurchaseAmount);
        let last = match wants_purchase {
            true => self.inner.store.last_purchase(id).await?,
            false => None,
        };
        if let Some(p) = last {
            ctx.last_purchase_at = Some(p.purchase_date);
            ctx.last_purchase_amount = Some(p.total_amount);
            ctx.last_purchase_currency = Some(p.currency);
        }
        if t.channel == Channel::Email || used.contains(&Placeholder::UnsubscribeUrl) {
            ctx.unsubscribe_url = self.unsubscribe_url(id, t.channel, campaign).await?;
        }
        Ok(ctx)
    }
}

/// A test for RFM scores of the named segment: the guide's five names or
/// the detailed map's, as they are written in JSON.
type SegmentTest = Box<dyn Fn(RfmSegment, RfmDetailedSegment) -> bool + Send + Sync>;

fn segment_matcher(name: &str) -> Option<SegmentTest> {
    let v = serde_json::Value::String(name.to_owned());
    if let Ok(s) = serde_json::from_value::<RfmSegment>(v.clone()) {
        return Some(Box::new(move |seg, _| seg == s));
    }
    if let Ok(d) = serde_json::from_value::<RfmDetailedSegment>(v) {
        return Some(Box::new(move |_, det| det == d));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_named_as_in_json() {
        let champion = segment_matcher("CHAMPION").expect("guide segment");
        assert!(champion(
            RfmSegment::Champion,
            RfmDetailedSegment::Champions
        ));
        assert!(!champion(RfmSegment::Lost, RfmDetailedSegment::Champions));
        let detailed = segment_matcher("at_risk").expect("detailed segment");
        assert!(detailed(RfmSegment::Lost, RfmDetailedSegment::AtRisk));
        assert!(segment_matcher("VIP").is_none());
    }
}
