//! The dispatcher: delivers campaigns through the transports, safely
//! shared by several processes through the database.
//!
//! One round ([`Dispatcher::run_once`]):
//! 1. starts `scheduled` campaigns whose time has come (lists recipients);
//! 2. settles claims whose lease ran out as `failed` (`interrupted`): the
//!    process that held them died between claiming and settling, so the
//!    message may have left; sending it again could mail the customer
//!    twice, so it is not sent again (at most once, never twice);
//! 3. keeps up to `concurrency` due recipients claimed and in flight,
//!    refilling free slots under fresh claim ids as sends finish (so a slow
//!    send holds up nobody else, and a process that dies leaves at most
//!    that many recipients with an unknown outcome);
//! 4. for each, checks the customer (active), consent (read now, not when
//!    the campaign was built), the address and, for SMS, quiet hours;
//!    renders the template; waits for the channel's rate limit; sends; and
//!    settles the recipient with its log entry in one transaction: sent
//!    (with the provider's message id), skipped, failed for good, or back
//!    to pending for a retry with exponential backoff;
//! 5. marks campaigns with nothing left `done`.
//!
//! The rate limits apply per process.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::model::*;
use super::store::RecipientOutcome;
use super::template::{self, Rendered};
use crate::facade::Comms;
use crate::{Error, Result};

/// A send that did not go through.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct SendError {
    /// `true` when retrying cannot help (a rejected address, a 4xx from an
    /// SMS gateway); `false` for transient failures (a connection error, a
    /// busy server), which are retried with backoff.
    pub permanent: bool,
    /// What went wrong, for the log.
    pub reason: String,
}

impl SendError {
    /// A failure worth retrying.
    pub fn transient(reason: impl Into<String>) -> Self {
        Self {
            permanent: false,
            reason: reason.into(),
        }
    }

    /// A failure that retrying cannot fix.
    pub fn permanent(reason: impl Into<String>) -> Self {
        Self {
            permanent: true,
            reason: reason.into(),
        }
    }
}

/// One email, rendered and addressed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailMessage {
    /// The recipient's address.
    pub to: String,
    /// The recipient's name.
    pub to_name: String,
    /// The subject.
    pub subject: String,
    /// The plain-text part.
    pub text: String,
    /// The HTML part, if the template has one.
    pub html: Option<String>,
    /// The one-click unsubscribe link, for the `List-Unsubscribe` and
    /// `List-Unsubscribe-Post` headers (RFC 8058).
    pub unsubscribe_url: String,
    /// A unique reference of this delivery (`<campaign>.<customer>.<recipient>`),
    /// for a `Message-ID` or a provider's idempotency key.
    pub reference: String,
}

/// One SMS, rendered and addressed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsMessage {
    /// The recipient's phone (E.164).
    pub to: String,
    /// The text.
    pub text: String,
    /// A unique reference of this delivery, for the gateway.
    pub reference: String,
}

/// Sends email (the `crm-comms` crate has SMTP through lettre).
#[async_trait]
pub trait EmailTransport: Send + Sync + std::fmt::Debug {
    /// Sends one email; returns the provider's message id.
    async fn send(&self, message: &EmailMessage) -> std::result::Result<String, SendError>;
}

/// Sends SMS (the `crm-comms` crate has an HTTP gateway and a log provider).
#[async_trait]
pub trait SmsProvider: Send + Sync + std::fmt::Debug {
    /// Sends one SMS; returns the provider's message id.
    async fn send(&self, message: &SmsMessage) -> std::result::Result<String, SendError>;
}

/// How the dispatcher works.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DispatchOptions {
    /// Most recipients handled per round. Default 256.
    pub batch: u32,
    /// Sends in flight at once, and recipients claimed at a time: a
    /// process that dies leaves at most this many recipients interrupted.
    /// Default 48 (an SMTP send through lettre waits ~40 ms for the
    /// server's delayed acknowledgement, so throughput comes from sends in
    /// parallel; 48 stays under common per-client connection limits of
    /// SMTP relays, such as Postfix's 50).
    pub concurrency: usize,
    /// Most emails per second from this process (`None`: no limit). Default 1,000.
    pub email_per_second: Option<u32>,
    /// Most SMS per second from this process. Default 20.
    pub sms_per_second: Option<u32>,
    /// Pause after a round that found nothing to do, in milliseconds. Default 1,000.
    pub idle_ms: u64,
}

impl Default for DispatchOptions {
    fn default() -> Self {
        Self {
            batch: 256,
            concurrency: 48,
            email_per_second: Some(1000),
            sms_per_second: Some(20),
            idle_ms: 1000,
        }
    }
}

/// What one round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DispatchReport {
    /// Scheduled campaigns started.
    pub started: u64,
    /// Expired claims settled as interrupted.
    pub interrupted: u64,
    /// Recipients claimed.
    pub claimed: u64,
    /// Sent.
    pub sent: u64,
    /// Skipped.
    pub skipped: u64,
    /// Failed for good.
    pub failed: u64,
    /// Put back for a retry.
    pub retried: u64,
    /// Put back until quiet hours end.
    pub deferred: u64,
    /// Claims lost to another process before settling.
    pub lost: u64,
    /// Campaigns finished.
    pub finished: u64,
}

impl DispatchReport {
    fn add(&mut self, o: Settled) {
        match o {
            Settled::Sent => self.sent += 1,
            Settled::Skipped => self.skipped += 1,
            Settled::Failed => self.failed += 1,
            Settled::Retried => self.retried += 1,
            Settled::Deferred => self.deferred += 1,
            Settled::Lost => self.lost += 1,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Settled {
    Sent,
    Skipped,
    Failed,
    Retried,
    Deferred,
    Lost,
}

/// Spaces sends evenly at a rate (a leaky bucket without burst).
#[derive(Debug)]
struct Pacer {
    interval: StdDuration,
    next: tokio::sync::Mutex<tokio::time::Instant>,
}

impl Pacer {
    fn new(per_second: Option<u32>) -> Option<Self> {
        let rate = per_second.filter(|r| *r > 0)?;
        Some(Self {
            interval: StdDuration::from_secs(1) / rate,
            next: tokio::sync::Mutex::new(tokio::time::Instant::now()),
        })
    }

    async fn wait(&self) {
        let at = {
            let mut next = self.next.lock().await;
            let now = tokio::time::Instant::now();
            let at = (*next).max(now);
            *next = at + self.interval;
            at
        };
        tokio::time::sleep_until(at).await;
    }
}

/// Delivers campaigns ([module docs](self)). Cheap to share: run one per
/// process, or several processes on one database.
#[derive(Debug, Clone)]
pub struct Dispatcher {
    comms: Comms,
    email: Option<Arc<dyn EmailTransport>>,
    sms: Option<Arc<dyn SmsProvider>>,
    options: DispatchOptions,
    email_pacer: Option<Arc<Pacer>>,
    sms_pacer: Option<Arc<Pacer>>,
}

impl Dispatcher {
    /// A dispatcher without transports (add them with
    /// [`with_email`](Self::with_email) and [`with_sms`](Self::with_sms);
    /// recipients of a channel without one fail with `no_transport`).
    pub fn new(comms: Comms, options: DispatchOptions) -> Self {
        Self {
            email_pacer: Pacer::new(options.email_per_second).map(Arc::new),
            sms_pacer: Pacer::new(options.sms_per_second).map(Arc::new),
            comms,
            email: None,
            sms: None,
            options,
        }
    }

    /// Sends email through `transport`.
    pub fn with_email(mut self, transport: Arc<dyn EmailTransport>) -> Self {
        self.email = Some(transport);
        self
    }

    /// Sends SMS through `provider`.
    pub fn with_sms(mut self, provider: Arc<dyn SmsProvider>) -> Self {
        self.sms = Some(provider);
        self
    }

    /// Runs rounds until `shutdown` completes, pausing when idle. Errors of
    /// a round (a database blip) go to `on_error` and the loop goes on.
    pub async fn run(
        &self,
        shutdown: impl Future<Output = ()>,
        on_error: impl Fn(&Error) + Send + Sync,
    ) {
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let idle = match self.run_once().await {
                Ok(r) => r.claimed == 0 && r.started == 0,
                Err(e) => {
                    on_error(&e);
                    true
                }
            };
            if idle {
                let pause = tokio::time::sleep(StdDuration::from_millis(self.options.idle_ms));
                let pause = std::pin::pin!(pause);
                if let futures::future::Either::Left(_) =
                    futures::future::select(&mut shutdown, pause).await
                {
                    return;
                }
            } else if futures::poll!(&mut shutdown).is_ready() {
                return;
            }
        }
    }

    /// Runs rounds until nothing is left to send now (tests, a CLI, a job).
    pub async fn drain(&self) -> Result<DispatchReport> {
        let mut total = DispatchReport::default();
        loop {
            let r = self.run_once().await?;
            total.started += r.started;
            total.interrupted += r.interrupted;
            total.claimed += r.claimed;
            total.sent += r.sent;
            total.skipped += r.skipped;
            total.failed += r.failed;
            total.retried += r.retried;
            total.deferred += r.deferred;
            total.lost += r.lost;
            total.finished += r.finished;
            if r.claimed == 0 && r.started == 0 {
                return Ok(total);
            }
        }
    }

    /// One round ([module docs](self)).
    pub async fn run_once(&self) -> Result<DispatchReport> {
        let store = &self.comms.inner.store;
        let mut report = DispatchReport::default();
        let now = self.comms.inner.now();
        for id in store.due_campaigns(now).await? {
            if let Some(c) = store.campaign(id).await? {
                self.comms.start(&c).await?;
                report.started += 1;
            }
        }
        report.interrupted = store.expire_claims(now).await?;
        let lease = chrono::Duration::seconds(
            i64::try_from(self.comms.inner.config.comms.claim_lease_secs).unwrap_or(300),
        );
        // A pipeline of at most `concurrency` claimed recipients: free slots
        // are refilled (a quarter of them at least, under a fresh claim id)
        // as sends finish, so one slow send does not hold up the others,
        // and a process that dies leaves at most `concurrency` recipients
        // with an unknown outcome.
        let slots = self.options.concurrency.max(1);
        let refill = (slots / 4).max(1);
        let mut left = self.options.batch.max(1) as usize;
        let mut exhausted = false;
        let mut campaigns: HashMap<i64, Arc<(Campaign, Template)>> = HashMap::new();
        // Each send is its own task: it makes progress (and releases its
        // database connection and locks) while this loop awaits a claim.
        let mut inflight = tokio::task::JoinSet::new();
        let mut failure = None;
        loop {
            let free = slots - inflight.len();
            if !exhausted && left > 0 && (free >= refill || inflight.is_empty()) {
                let want = free.min(left);
                let now = self.comms.inner.now();
                let claim: Arc<str> = claim_id()?.into();
                let batch = store
                    .claim_recipients(
                        &claim,
                        now,
                        now + lease,
                        u32::try_from(want).unwrap_or(u32::MAX),
                    )
                    .await?;
                exhausted = batch.len() < want;
                left = left.saturating_sub(batch.len());
                report.claimed += batch.len() as u64;
                for r in batch {
                    let c = match campaigns.entry(r.campaign_id) {
                        std::collections::hash_map::Entry::Occupied(e) => e.get().clone(),
                        std::collections::hash_map::Entry::Vacant(slot) => {
                            let c = self.comms.campaign(r.campaign_id).await?;
                            let t = self.comms.template(c.template_id).await?;
                            slot.insert(Arc::new((c, t))).clone()
                        }
                    };
                    let (claim, this) = (claim.clone(), self.clone());
                    inflight.spawn(async move { this.deliver(&claim, r, &c.0, &c.1).await });
                }
            }
            match inflight.join_next().await {
                Some(Ok(Ok(settled))) => report.add(settled),
                // Stop claiming, but let the sends in flight finish and
                // settle: dropping them could cut a send in the middle.
                Some(Ok(Err(e))) => {
                    failure.get_or_insert(e);
                    exhausted = true;
                }
                Some(Err(panicked)) => {
                    failure.get_or_insert(Error::storage("a send task failed", panicked));
                    exhausted = true;
                }
                None => break,
            }
        }
        if let Some(e) = failure {
            return Err(e);
        }
        report.finished = store.finish_campaigns(self.comms.inner.now()).await?;
        Ok(report)
    }

    async fn deliver(
        &self,
        claim: &str,
        r: Recipient,
        campaign: &Campaign,
        t: &Template,
    ) -> Result<Settled> {
        let comms = &self.comms;
        let store = &comms.inner.store;
        let settings = &comms.inner.config.comms;
        let now = comms.inner.now();
        let log = |status, reason: Option<String>, subject: Option<String>, id| Communication {
            id: 0,
            customer_id: r.customer_id,
            channel: r.channel,
            template_id: Some(campaign.template_id),
            campaign_id: Some(campaign.id),
            status,
            reason,
            subject,
            provider_message_id: id,
            sent_date: now,
        };
        let settle = |outcome| async move {
            Ok(
                if store
                    .settle_recipient(r.id, claim, outcome, comms.inner.now())
                    .await?
                {
                    None
                } else {
                    Some(Settled::Lost)
                },
            )
        };
        let skip = |reason: &str| {
            RecipientOutcome::Final(log(
                CommunicationStatus::Skipped,
                Some(reason.to_owned()),
                None,
                None,
            ))
        };
        let customer = store.customer(r.customer_id).await?;
        let Some(customer) = customer.filter(|c| c.is_active) else {
            return Ok(settle(skip(reasons::INACTIVE))
                .await?
                .unwrap_or(Settled::Skipped));
        };
        let consented = store
            .latest_consent(r.customer_id, r.channel)
            .await?
            .is_some_and(|c| c.granted);
        if !consented {
            return Ok(settle(skip(reasons::NO_CONSENT))
                .await?
                .unwrap_or(Settled::Skipped));
        }
        let address = match r.channel {
            Channel::Email => customer.email.clone(),
            Channel::Sms => customer.phone.clone(),
        };
        let Some(address) = address.filter(|a| !a.is_empty()) else {
            return Ok(settle(skip(reasons::NO_ADDRESS))
                .await?
                .unwrap_or(Settled::Skipped));
        };
        let quiet = match r.channel {
            Channel::Sms => settings
                .quiet_hours
                .ends_after(now, settings.utc_offset_minutes),
            Channel::Email => None,
        };
        if let Some(until) = quiet {
            return Ok(match campaign.quiet_hours {
                QuietHoursPolicy::Skip => settle(skip(reasons::QUIET_HOURS))
                    .await?
                    .unwrap_or(Settled::Skipped),
                QuietHoursPolicy::Defer => settle(RecipientOutcome::Later {
                    attempts: r.attempts,
                    next_attempt_at: until,
                    reason: reasons::QUIET_HOURS.into(),
                    log: None,
                })
                .await?
                .unwrap_or(Settled::Deferred),
            });
        }
        let ctx = comms.context(t, &customer, Some(campaign.id)).await?;
        let Rendered {
            subject,
            text,
            html,
        } = template::render(t, &ctx);
        let reference = format!("{}.{}.{}", campaign.id, r.customer_id.0, r.id);
        let subject_for_log = match r.channel {
            Channel::Email => subject.clone(),
            Channel::Sms => Some(text.chars().take(60).collect()),
        };
        let sent = match r.channel {
            Channel::Email => match &self.email {
                Some(transport) => {
                    if let Some(p) = &self.email_pacer {
                        p.wait().await;
                    }
                    transport
                        .send(&EmailMessage {
                            to: address,
                            to_name: customer.name.clone(),
                            subject: subject.unwrap_or_default(),
                            text,
                            html,
                            unsubscribe_url: ctx.unsubscribe_url.clone(),
                            reference,
                        })
                        .await
                }
                None => Err(SendError::permanent(reasons::NO_TRANSPORT)),
            },
            Channel::Sms => match &self.sms {
                Some(provider) => {
                    if let Some(p) = &self.sms_pacer {
                        p.wait().await;
                    }
                    provider
                        .send(&SmsMessage {
                            to: address,
                            text,
                            reference,
                        })
                        .await
                }
                None => Err(SendError::permanent(reasons::NO_TRANSPORT)),
            },
        };
        let attempts = r.attempts.saturating_add(1);
        Ok(match sent {
            Ok(message_id) => settle(RecipientOutcome::Final(log(
                CommunicationStatus::Sent,
                None,
                subject_for_log,
                Some(message_id),
            )))
            .await?
            .unwrap_or(Settled::Sent),
            Err(e) if e.permanent || attempts >= settings.max_attempts => {
                let reason = format!("attempt {attempts}: {}", e.reason);
                settle(RecipientOutcome::Final(log(
                    CommunicationStatus::Failed,
                    Some(reason),
                    subject_for_log,
                    None,
                )))
                .await?
                .unwrap_or(Settled::Failed)
            }
            Err(e) => {
                let reason = format!(
                    "attempt {attempts} of {}: {}; retrying",
                    settings.max_attempts, e.reason
                );
                settle(RecipientOutcome::Later {
                    attempts,
                    next_attempt_at: now + settings.retry_delay(attempts),
                    reason: reason.clone(),
                    log: Some(log(
                        CommunicationStatus::Failed,
                        Some(reason),
                        subject_for_log,
                        None,
                    )),
                })
                .await?
                .unwrap_or(Settled::Retried)
            }
        })
    }
}

/// A fresh claim id (random, so claims of different processes never match).
fn claim_id() -> Result<String> {
    let mut bytes = [0u8; 12];
    getrandom::fill(&mut bytes)
        .map_err(|e| Error::storage_msg(format!("no randomness for a claim id: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_pacer_spaces_sends_at_its_rate() {
        let pacer = Pacer::new(Some(100)).expect("a rate");
        let started = tokio::time::Instant::now();
        for _ in 0..11 {
            pacer.wait().await;
        }
        // The first send goes at once, the next ten 10 ms apart.
        assert!(started.elapsed() >= StdDuration::from_millis(100));
        assert!(Pacer::new(None).is_none() && Pacer::new(Some(0)).is_none());
    }
}
