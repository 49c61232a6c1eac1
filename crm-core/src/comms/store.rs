//! Persistence of communications: the adapter interface the memory store
//! and `crm-sqlx` implement.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::model::{
    Campaign, CampaignStatus, Channel, Communication, ConsentRecord, Recipient, Template,
};
use crate::Result;
use crate::customer::CustomerId;
use crate::loyalty::{LoyaltyAccount, Purchase};

/// How a claimed recipient ends up ([`CommsStore::settle_recipient`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecipientOutcome {
    /// Final: sent, skipped or failed, with its log entry (status, reason
    /// and message id are taken from it).
    Final(Communication),
    /// Back to pending until `next_attempt_at` (a retry after a transient
    /// failure, logged with `log`; or a deferral past quiet hours).
    Later {
        /// Sends tried so far.
        attempts: u32,
        /// Not before.
        next_attempt_at: DateTime<Utc>,
        /// Why.
        reason: String,
        /// The failed attempt, for the log (none for a deferral).
        log: Option<Communication>,
    },
}

/// Persistence of templates, consent, campaigns, recipients and the log.
///
/// Invariants every implementation keeps, checked by the conformance suite:
/// - A campaign has at most one recipient per (customer, channel):
///   [`add_recipients`](Self::add_recipients) ignores those already there,
///   so listing recipients twice (two processes, a restart) adds nobody twice.
/// - A recipient is claimed by one claim at a time:
///   [`claim_recipients`](Self::claim_recipients) moves `pending` rows
///   that are due, of campaigns that are `sending`, to `sending`, each under
///   exactly one claim even when several processes claim at once.
/// - [`settle_recipient`](Self::settle_recipient) applies only while the
///   row still is `sending` under that claim, and writes the log entry in
///   the same transaction.
#[async_trait]
pub trait CommsStore: Send + Sync {
    /// Inserts a template (its id is assigned).
    async fn insert_template(&self, template: Template) -> Result<Template>;
    /// A template.
    async fn template(&self, id: i64) -> Result<Option<Template>>;
    /// Every template, newest first.
    async fn templates(&self) -> Result<Vec<Template>>;

    /// Appends a consent record (its id is assigned). A customer that does
    /// not exist is [`NotFound`](crate::Error::NotFound).
    async fn append_consent(&self, record: ConsentRecord) -> Result<ConsentRecord>;
    /// A customer's consent records, oldest first.
    async fn consent_history(&self, customer: CustomerId) -> Result<Vec<ConsentRecord>>;
    /// The latest consent record of a customer on a channel.
    async fn latest_consent(
        &self,
        customer: CustomerId,
        channel: Channel,
    ) -> Result<Option<ConsentRecord>>;

    /// Inserts a campaign (its id is assigned; its progress is ignored).
    async fn insert_campaign(&self, campaign: Campaign) -> Result<Campaign>;
    /// A campaign with its progress.
    async fn campaign(&self, id: i64) -> Result<Option<Campaign>>;
    /// Campaigns with their progress, newest first, at most `limit`.
    async fn campaigns(&self, limit: u32) -> Result<Vec<Campaign>>;
    /// Sets a campaign's status, `scheduled_at` (when `Some`) and the
    /// time of the step (`started_at` for `sending`, `finished_at` for
    /// `done`), if its status is one of `from`. Returns whether it did.
    async fn set_campaign_status(
        &self,
        id: i64,
        from: &[CampaignStatus],
        to: CampaignStatus,
        scheduled_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<bool>;
    /// Ids of `scheduled` campaigns whose time has come.
    async fn due_campaigns(&self, now: DateTime<Utc>) -> Result<Vec<i64>>;
    /// Adds `pending` recipients, ignoring customers already listed;
    /// returns how many were added.
    async fn add_recipients(
        &self,
        campaign: i64,
        channel: Channel,
        customers: &[CustomerId],
        now: DateTime<Utc>,
    ) -> Result<u64>;
    /// Claims up to `limit` due `pending` recipients of `sending`
    /// campaigns for `claim` until `lease_until`, oldest first.
    async fn claim_recipients(
        &self,
        claim: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Recipient>>;
    /// Settles a recipient claimed under `claim`; `false` (and nothing
    /// written) when the claim was lost meanwhile.
    async fn settle_recipient(
        &self,
        id: i64,
        claim: &str,
        outcome: RecipientOutcome,
        now: DateTime<Utc>,
    ) -> Result<bool>;
    /// Settles as `failed` (`interrupted`, logged) every recipient whose
    /// claim expired before `now`; returns how many.
    async fn expire_claims(&self, now: DateTime<Utc>) -> Result<u64>;
    /// Marks `done` every `sending` campaign with no `pending` or
    /// `sending` recipient left; returns how many.
    async fn finish_campaigns(&self, now: DateTime<Utc>) -> Result<u64>;

    /// A customer's log, newest first: entries with id < `before` (all
    /// when `None`), at most `limit`.
    async fn communications(
        &self,
        customer: CustomerId,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Communication>>;

    /// The customer's latest purchase (by date, then id).
    async fn last_purchase(&self, customer: CustomerId) -> Result<Option<Purchase>>;

    /// The customer's loyalty account as stored, without creating it (a
    /// plain read: messages never write to the ledger).
    async fn loyalty_account(&self, customer: CustomerId) -> Result<Option<LoyaltyAccount>>;
}
