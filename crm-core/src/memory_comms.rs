//! Communications in the memory store.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::MemoryStore;
use crate::comms::{
    Campaign, CampaignProgress, CampaignStatus, Channel, CommsStore, Communication,
    CommunicationStatus, ConsentRecord, DeliveryStatus, Recipient, RecipientOutcome, Template,
    reasons,
};
use crate::customer::CustomerId;
use crate::loyalty::{LoyaltyAccount, Purchase};
use crate::{Error, Result};

/// A recipient row with its claim.
#[derive(Debug, Clone)]
struct Row {
    recipient: Recipient,
    claim: Option<String>,
    lease_until: Option<DateTime<Utc>>,
}

/// The communication tables.
#[derive(Debug, Default, Clone)]
pub(super) struct CommsState {
    templates: BTreeMap<i64, Template>,
    consent: Vec<ConsentRecord>,
    campaigns: BTreeMap<i64, Campaign>,
    recipients: BTreeMap<i64, Row>,
    log: Vec<Communication>,
}

impl CommsState {
    fn progress(&self, campaign: i64) -> CampaignProgress {
        let mut p = CampaignProgress::default();
        for row in self.recipients.values() {
            if row.recipient.campaign_id != campaign {
                continue;
            }
            p.recipients += 1;
            match row.recipient.status {
                DeliveryStatus::Pending => p.pending += 1,
                DeliveryStatus::Sending => p.sending += 1,
                DeliveryStatus::Sent => p.sent += 1,
                DeliveryStatus::Skipped => p.skipped += 1,
                DeliveryStatus::Failed => p.failed += 1,
            }
        }
        p
    }

    fn with_progress(&self, c: &Campaign) -> Campaign {
        Campaign {
            progress: self.progress(c.id),
            ..c.clone()
        }
    }

    fn push_log(&mut self, mut entry: Communication) {
        entry.id = self.log.len() as i64 + 1;
        self.log.push(entry);
    }
}

#[async_trait]
impl CommsStore for MemoryStore {
    async fn insert_template(&self, mut template: Template) -> Result<Template> {
        let mut s = self.state.lock().await;
        template.id = s.comms.templates.len() as i64 + 1;
        s.comms.templates.insert(template.id, template.clone());
        Ok(template)
    }

    async fn template(&self, id: i64) -> Result<Option<Template>> {
        Ok(self.state.lock().await.comms.templates.get(&id).cloned())
    }

    async fn templates(&self) -> Result<Vec<Template>> {
        let s = self.state.lock().await;
        Ok(s.comms.templates.values().rev().cloned().collect())
    }

    async fn append_consent(&self, mut record: ConsentRecord) -> Result<ConsentRecord> {
        let mut s = self.state.lock().await;
        if !s.customers.contains_key(&record.customer_id) {
            return Err(Error::customer_not_found(record.customer_id));
        }
        record.id = s.comms.consent.len() as i64 + 1;
        s.comms.consent.push(record.clone());
        Ok(record)
    }

    async fn consent_history(&self, customer: CustomerId) -> Result<Vec<ConsentRecord>> {
        let s = self.state.lock().await;
        Ok(s.comms
            .consent
            .iter()
            .filter(|r| r.customer_id == customer)
            .cloned()
            .collect())
    }

    async fn latest_consent(
        &self,
        customer: CustomerId,
        channel: Channel,
    ) -> Result<Option<ConsentRecord>> {
        let s = self.state.lock().await;
        Ok(s.comms
            .consent
            .iter()
            .rev()
            .find(|r| r.customer_id == customer && r.channel == channel)
            .cloned())
    }

    async fn insert_campaign(&self, mut campaign: Campaign) -> Result<Campaign> {
        let mut s = self.state.lock().await;
        campaign.id = s.comms.campaigns.len() as i64 + 1;
        campaign.progress = CampaignProgress::default();
        s.comms.campaigns.insert(campaign.id, campaign.clone());
        Ok(campaign)
    }

    async fn campaign(&self, id: i64) -> Result<Option<Campaign>> {
        let s = self.state.lock().await;
        Ok(s.comms.campaigns.get(&id).map(|c| s.comms.with_progress(c)))
    }

    async fn campaigns(&self, limit: u32) -> Result<Vec<Campaign>> {
        let s = self.state.lock().await;
        Ok(s.comms
            .campaigns
            .values()
            .rev()
            .take(limit as usize)
            .map(|c| s.comms.with_progress(c))
            .collect())
    }

    async fn set_campaign_status(
        &self,
        id: i64,
        from: &[CampaignStatus],
        to: CampaignStatus,
        scheduled_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let mut s = self.state.lock().await;
        let Some(c) = s.comms.campaigns.get_mut(&id) else {
            return Ok(false);
        };
        if !from.contains(&c.status) {
            return Ok(false);
        }
        c.status = to;
        if scheduled_at.is_some() {
            c.scheduled_at = scheduled_at;
        }
        match to {
            CampaignStatus::Sending => c.started_at = Some(now),
            CampaignStatus::Done => c.finished_at = Some(now),
            CampaignStatus::Draft | CampaignStatus::Scheduled => {}
        }
        Ok(true)
    }

    async fn due_campaigns(&self, now: DateTime<Utc>) -> Result<Vec<i64>> {
        let s = self.state.lock().await;
        Ok(s.comms
            .campaigns
            .values()
            .filter(|c| {
                c.status == CampaignStatus::Scheduled && c.scheduled_at.is_some_and(|at| at <= now)
            })
            .map(|c| c.id)
            .collect())
    }

    async fn add_recipients(
        &self,
        campaign: i64,
        channel: Channel,
        customers: &[CustomerId],
        now: DateTime<Utc>,
    ) -> Result<u64> {
        let mut s = self.state.lock().await;
        let listed: std::collections::HashSet<CustomerId> = s
            .comms
            .recipients
            .values()
            .filter(|r| r.recipient.campaign_id == campaign && r.recipient.channel == channel)
            .map(|r| r.recipient.customer_id)
            .collect();
        let mut added = 0;
        for &customer_id in customers {
            if listed.contains(&customer_id) {
                continue;
            }
            let id = s.comms.recipients.len() as i64 + 1;
            s.comms.recipients.insert(
                id,
                Row {
                    recipient: Recipient {
                        id,
                        campaign_id: campaign,
                        customer_id,
                        channel,
                        status: DeliveryStatus::Pending,
                        attempts: 0,
                        next_attempt_at: now,
                        reason: None,
                        provider_message_id: None,
                    },
                    claim: None,
                    lease_until: None,
                },
            );
            added += 1;
        }
        Ok(added)
    }

    async fn claim_recipients(
        &self,
        claim: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Recipient>> {
        let mut s = self.state.lock().await;
        let sending: std::collections::HashSet<i64> = s
            .comms
            .campaigns
            .values()
            .filter(|c| c.status == CampaignStatus::Sending)
            .map(|c| c.id)
            .collect();
        let mut out = Vec::new();
        for row in s.comms.recipients.values_mut() {
            if out.len() >= limit as usize {
                break;
            }
            let r = &mut row.recipient;
            if r.status == DeliveryStatus::Pending
                && r.next_attempt_at <= now
                && sending.contains(&r.campaign_id)
            {
                r.status = DeliveryStatus::Sending;
                row.claim = Some(claim.to_owned());
                row.lease_until = Some(lease_until);
                out.push(r.clone());
            }
        }
        Ok(out)
    }

    async fn settle_recipient(
        &self,
        id: i64,
        claim: &str,
        outcome: RecipientOutcome,
        _now: DateTime<Utc>,
    ) -> Result<bool> {
        let mut s = self.state.lock().await;
        let Some(row) = s.comms.recipients.get_mut(&id) else {
            return Ok(false);
        };
        if row.recipient.status != DeliveryStatus::Sending || row.claim.as_deref() != Some(claim) {
            return Ok(false);
        }
        row.claim = None;
        row.lease_until = None;
        let r = &mut row.recipient;
        let log = match outcome {
            RecipientOutcome::Final(entry) => {
                r.status = DeliveryStatus::from(entry.status);
                r.reason = entry.reason.clone();
                r.provider_message_id = entry.provider_message_id.clone();
                if entry.status != CommunicationStatus::Skipped {
                    r.attempts = r.attempts.saturating_add(1);
                }
                Some(entry)
            }
            RecipientOutcome::Later {
                attempts,
                next_attempt_at,
                reason,
                log,
            } => {
                r.status = DeliveryStatus::Pending;
                r.attempts = attempts;
                r.next_attempt_at = next_attempt_at;
                r.reason = Some(reason);
                log
            }
        };
        if let Some(entry) = log {
            s.comms.push_log(entry);
        }
        Ok(true)
    }

    async fn expire_claims(&self, now: DateTime<Utc>) -> Result<u64> {
        let mut s = self.state.lock().await;
        let mut expired = Vec::new();
        for row in s.comms.recipients.values_mut() {
            if row.recipient.status == DeliveryStatus::Sending
                && row.lease_until.is_some_and(|at| at < now)
            {
                row.recipient.status = DeliveryStatus::Failed;
                row.recipient.reason = Some(reasons::INTERRUPTED.into());
                row.claim = None;
                row.lease_until = None;
                expired.push(row.recipient.clone());
            }
        }
        let n = expired.len() as u64;
        for r in expired {
            let template_id = s.comms.campaigns.get(&r.campaign_id).map(|c| c.template_id);
            s.comms.push_log(Communication {
                id: 0,
                customer_id: r.customer_id,
                channel: r.channel,
                template_id,
                campaign_id: Some(r.campaign_id),
                status: CommunicationStatus::Failed,
                reason: Some(reasons::INTERRUPTED.into()),
                subject: None,
                provider_message_id: None,
                sent_date: now,
            });
        }
        Ok(n)
    }

    async fn finish_campaigns(&self, now: DateTime<Utc>) -> Result<u64> {
        let mut s = self.state.lock().await;
        let open: Vec<i64> = s
            .comms
            .campaigns
            .values()
            .filter(|c| c.status == CampaignStatus::Sending)
            .map(|c| c.id)
            .filter(|&id| {
                let p = s.comms.progress(id);
                p.pending == 0 && p.sending == 0
            })
            .collect();
        for id in &open {
            if let Some(c) = s.comms.campaigns.get_mut(id) {
                c.status = CampaignStatus::Done;
                c.finished_at = Some(now);
            }
        }
        Ok(open.len() as u64)
    }

    async fn communications(
        &self,
        customer: CustomerId,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Communication>> {
        let s = self.state.lock().await;
        Ok(s.comms
            .log
            .iter()
            .rev()
            .filter(|c| c.customer_id == customer && before.is_none_or(|b| c.id < b))
            .take(limit as usize)
            .cloned()
            .collect())
    }

    async fn loyalty_account(&self, customer: CustomerId) -> Result<Option<LoyaltyAccount>> {
        Ok(self.state.lock().await.accounts.get(&customer).cloned())
    }

    async fn last_purchase(&self, customer: CustomerId) -> Result<Option<Purchase>> {
        let s = self.state.lock().await;
        Ok(s.purchases
            .values()
            .filter(|p| p.customer_id == customer)
            .max_by_key(|p| (p.purchase_date, p.id))
            .cloned())
    }
}
