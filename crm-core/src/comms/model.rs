//! The communication types: channels, settings, templates, consent,
//! campaigns, recipients and the log, with their JSON readers.

use chrono::{DateTime, Duration, NaiveTime, Utc};
use serde::{Deserialize, Serialize};

use super::template::Locale;
use crate::customer::{CustomerId, CustomerType};
use crate::error::FieldErrors;
use crate::json::{JsonFields, json_input};
use crate::{Error, Result};

/// How a message reaches a customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Channel {
    /// Email, to the customer's `email`.
    Email,
    /// SMS, to the customer's `phone`.
    Sms,
}

impl Channel {
    /// Both channels.
    pub const ALL: [Channel; 2] = [Channel::Email, Channel::Sms];

    /// The stored name (`email`, `sms`).
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl std::str::FromStr for Channel {
    type Err = Error;

    /// Reads `email` or `sms` from a caller; anything else is a validation
    /// error on `channel`.
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
            .ok_or_else(|| Error::invalid("channel", "one_of", "channel must be email or sms"))
    }
}

/// Hours in which no SMS goes out, in local time
/// ([`CommsSettings::utc_offset_minutes`]).
///
/// The default is 21:00 to 08:00. A window whose start is after its end
/// spans midnight; equal start and end mean no quiet hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QuietHours {
    /// First quiet minute, local time (`"21:00"`).
    #[serde(with = "hhmm")]
    pub start: NaiveTime,
    /// First minute allowed again, local time (`"08:00"`).
    #[serde(with = "hhmm")]
    pub end: NaiveTime,
}

impl Default for QuietHours {
    fn default() -> Self {
        Self {
            start: NaiveTime::from_hms_opt(21, 0, 0).unwrap_or_default(),
            end: NaiveTime::from_hms_opt(8, 0, 0).unwrap_or_default(),
        }
    }
}

impl QuietHours {
    /// Reads `"21:00-08:00"` (start and end, local time); `"off"` or
    /// `"00:00-00:00"` means no quiet hours.
    pub fn parse(s: &str) -> Result<Self> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("off") {
            let midnight = NaiveTime::MIN;
            return Ok(Self {
                start: midnight,
                end: midnight,
            });
        }
        let bad = || {
            Error::invalid(
                "quiet_hours",
                "format",
                format!("quiet hours must look like 21:00-08:00 (or off), not {s:?}"),
            )
        };
        let (a, b) = s.split_once('-').ok_or_else(bad)?;
        let time = |t: &str| NaiveTime::parse_from_str(t.trim(), "%H:%M").map_err(|_| bad());
        Ok(Self {
            start: time(a)?,
            end: time(b)?,
        })
    }

    /// When the quiet window containing `now` ends, or `None` when `now`
    /// is outside it (sending is allowed); local time is UTC plus
    /// `utc_offset_minutes`.
    pub fn ends_after(&self, now: DateTime<Utc>, utc_offset_minutes: i32) -> Option<DateTime<Utc>> {
        if self.start == self.end {
            return None;
        }
        let offset = Duration::minutes(i64::from(utc_offset_minutes));
        let local = now.naive_utc() + offset;
        let t = local.time();
        let quiet = if self.start < self.end {
            t >= self.start && t < self.end
        } else {
            t >= self.start || t < self.end
        };
        if !quiet {
            return None;
        }
        let mut end = local.date().and_time(self.end);
        if end <= local {
            end += Duration::days(1);
        }
        Some((end - offset).and_utc())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn quiet_hours_span_midnight_in_local_time() {
        let q = QuietHours::parse("21:00-08:00").expect("parse");
        assert_eq!(q, QuietHours::default());
        let at = |h, m| {
            Utc.with_ymd_and_hms(2026, 3, 1, h, m, 0)
                .single()
                .expect("time")
        };
        // 13:59 UTC = 20:59 in Jakarta: allowed.
        assert_eq!(q.ends_after(at(13, 59), 420), None);
        // 14:00 UTC = 21:00: quiet until 08:00 local = 01:00 UTC next day.
        let next = Utc
            .with_ymd_and_hms(2026, 3, 2, 1, 0, 0)
            .single()
            .expect("time");
        assert_eq!(q.ends_after(at(14, 0), 420), Some(next));
        // 00:30 UTC = 07:30: still quiet, until 01:00 UTC the same day.
        assert_eq!(q.ends_after(at(0, 30), 420), Some(at(1, 0)));
        assert_eq!(q.ends_after(at(1, 0), 420), None);
        let off = QuietHours::parse("off").expect("off");
        assert_eq!(off.ends_after(at(15, 0), 420), None);
        assert!(QuietHours::parse("9pm-8am").is_err());
    }

    #[test]
    fn retries_back_off_by_doubling() {
        let s = CommsSettings::default();
        assert_eq!(s.retry_delay(1), Duration::seconds(30));
        assert_eq!(s.retry_delay(2), Duration::seconds(60));
        assert_eq!(s.retry_delay(3), Duration::seconds(120));
        assert_eq!(s.retry_delay(40), Duration::seconds(86_400));
    }
}

/// `"HH:MM"` times in settings.
mod hhmm {
    use chrono::NaiveTime;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &NaiveTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.format("%H:%M").to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveTime, D::Error> {
        let s = String::deserialize(d)?;
        NaiveTime::parse_from_str(&s, "%H:%M").map_err(serde::de::Error::custom)
    }
}

/// Settings of communications ([`CrmConfig::comms`](crate::CrmConfig)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CommsSettings {
    /// The public address of the application, for `{unsubscribe_url}`
    /// (`<public_url>/unsubscribe?token=...`). Default `http://localhost:8080`.
    pub public_url: String,
    /// The business's local time as minutes east of UTC, for quiet hours
    /// and the dates in messages. Default 420: Asia/Jakarta (UTC+07:00,
    /// no daylight saving time).
    pub utc_offset_minutes: i32,
    /// When SMS may not go out.
    pub quiet_hours: QuietHours,
    /// `{points_expiring}` counts the points that expire within this many
    /// days. Default 30.
    pub expiring_within_days: u32,
    /// Sends tried per recipient before a transient failure is final. Default 5.
    pub max_attempts: u32,
    /// Wait before the first retry, doubled after each failure. Default 30 s.
    pub retry_after_secs: u64,
    /// How long a claimed recipient stays with its process. A claim older
    /// than this was interrupted (the process died): its outcome is
    /// unknown, so it is settled as failed (`interrupted`) rather than sent
    /// again. Default 300 s.
    pub claim_lease_secs: u64,
}

impl Default for CommsSettings {
    fn default() -> Self {
        Self {
            public_url: "http://localhost:8080".into(),
            utc_offset_minutes: 7 * 60,
            quiet_hours: QuietHours::default(),
            expiring_within_days: 30,
            max_attempts: 5,
            retry_after_secs: 30,
            claim_lease_secs: 300,
        }
    }
}

impl CommsSettings {
    /// Checks every setting.
    pub fn validate(&self) -> Result<()> {
        let mut errors = FieldErrors::new();
        if !(self.public_url.starts_with("http://") || self.public_url.starts_with("https://")) {
            errors.push("public_url", "url", "must start with http:// or https://");
        }
        if !(-14 * 60..=14 * 60).contains(&self.utc_offset_minutes) {
            errors.push(
                "utc_offset_minutes",
                "range",
                "must be between -840 and 840",
            );
        }
        if self.max_attempts == 0 {
            errors.push("max_attempts", "min", "must be at least 1");
        }
        if self.claim_lease_secs < 10 {
            errors.push("claim_lease_secs", "min", "must be at least 10");
        }
        if self.expiring_within_days > 3660 {
            errors.push("expiring_within_days", "max", "must be at most 3660");
        }
        errors.finish()
    }

    /// The wait before retry number `attempt` (1-based): the base delay
    /// doubled after each failure, at most one day.
    pub fn retry_delay(&self, attempt: u32) -> Duration {
        let factor = 1u64 << attempt.saturating_sub(1).min(16);
        let secs = self.retry_after_secs.saturating_mul(factor).min(86_400);
        Duration::seconds(i64::try_from(secs).unwrap_or(86_400))
    }
}

/// Longest template name.
pub const TEMPLATE_NAME_MAX: usize = 120;
/// Longest subject.
pub const SUBJECT_MAX: usize = 250;
/// Longest template body (text or HTML), in characters; both fit in the
/// example server's 1 MiB request limit even written as JSON escapes.
pub const BODY_MAX: usize = 30_000;

/// Input of [`Comms::create_template`](crate::Comms::create_template).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewTemplate {
    /// A name for people.
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 120, pattern = r"\S")
    )]
    pub name: String,
    /// Email or SMS.
    pub channel: Channel,
    /// How numbers, money and dates are written.
    pub locale: Locale,
    /// The subject (email only, required there).
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 250, pattern = r"\S")
    )]
    pub subject: Option<String>,
    /// The plain-text body (required: every email has a text part).
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 30000, pattern = r"\S")
    )]
    pub text: String,
    /// The HTML body (email only); placeholder values are HTML-escaped.
    #[cfg_attr(feature = "openapi", schema(max_length = 30000))]
    pub html: Option<String>,
}

impl NewTemplate {
    /// Reads a template, reporting every failing field.
    pub fn from_json(value: serde_json::Value) -> Result<Self> {
        let mut r = JsonFields::new(value)?;
        let name = r.required("name", "a string");
        let channel = r.require("channel", "one of email, sms");
        let locale = r.require("locale", "one of id, en");
        let subject = r.optional("subject", "a string");
        let text = r.required("text", "a string");
        let html = r.optional("html", "a string");
        r.finish("template")?;
        match (channel, locale) {
            (Some(channel), Some(locale)) => Ok(Self {
                name,
                channel,
                locale,
                subject,
                text,
                html,
            }),
            _ => Err(Error::invalid(
                "channel",
                "required",
                "channel and locale are required",
            )),
        }
    }
}

/// A stored template. Templates do not change once saved, so the log and
/// a running campaign always name what was sent; save a new one instead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Template {
    /// Its id.
    pub id: i64,
    /// A name for people.
    pub name: String,
    /// Email or SMS.
    pub channel: Channel,
    /// How numbers, money and dates are written.
    pub locale: Locale,
    /// The subject (email).
    pub subject: Option<String>,
    /// The plain-text body.
    pub text: String,
    /// The HTML body (email).
    pub html: Option<String>,
    /// Who saved it.
    pub created_by: Option<String>,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// Input of [`Comms::set_consent`](crate::Comms::set_consent): one opt-in
/// or opt-out, appended to the customer's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConsentChange {
    /// The customer.
    #[cfg_attr(feature = "openapi", schema(value_type = i64))]
    pub customer_id: CustomerId,
    /// Email or SMS.
    pub channel: Channel,
    /// `true` opts in, `false` opts out.
    pub granted: bool,
    /// Where the answer came from (`till`, `web_form`, `unsubscribe_link`,
    /// `import`, ...).
    pub source: String,
}

/// Longest consent source.
pub const SOURCE_MAX: usize = 64;

impl ConsentChange {
    /// Reads a consent change, reporting every failing field.
    pub fn from_json(value: serde_json::Value) -> Result<Self> {
        let mut r = JsonFields::new(value)?;
        let customer_id = r.require("customer_id", "a customer id");
        let out = Self::read_rest(&mut r, customer_id.unwrap_or(CustomerId(0)));
        r.finish("consent change")?;
        out
    }

    /// Reads `{channel, granted, source}` for the customer `customer_id`
    /// (from a URL path).
    pub fn from_json_for(customer_id: CustomerId, value: serde_json::Value) -> Result<Self> {
        let mut r = JsonFields::new(value)?;
        let out = Self::read_rest(&mut r, customer_id);
        r.finish("consent change")?;
        out
    }

    fn read_rest(r: &mut JsonFields, customer_id: CustomerId) -> Result<Self> {
        let channel = r.require("channel", "one of email, sms");
        let granted = r.require("granted", "a boolean");
        let source = r.required("source", "a string");
        match (channel, granted) {
            (Some(channel), Some(granted)) => Ok(Self {
                customer_id,
                channel,
                granted,
                source,
            }),
            _ => Err(Error::invalid(
                "channel",
                "required",
                "channel and granted are required",
            )),
        }
    }
}

/// One entry of a customer's consent history (append-only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConsentRecord {
    /// Its id (increasing).
    pub id: i64,
    /// The customer.
    #[cfg_attr(feature = "openapi", schema(value_type = i64))]
    pub customer_id: CustomerId,
    /// Email or SMS.
    pub channel: Channel,
    /// Opted in (`true`) or out.
    pub granted: bool,
    /// Where the answer came from.
    pub source: String,
    /// Who recorded it (the acting user), if anyone.
    pub recorded_by: Option<String>,
    /// When.
    pub recorded_at: DateTime<Utc>,
}

/// A customer's consent now, and how it came to be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CustomerConsent {
    /// The customer.
    #[cfg_attr(feature = "openapi", schema(value_type = i64))]
    pub customer_id: CustomerId,
    /// May receive email (the latest email record opted in).
    pub email: bool,
    /// May receive SMS.
    pub sms: bool,
    /// Every record, oldest first.
    pub history: Vec<ConsentRecord>,
}

/// Customers picked by their fields (a [`Target::Filter`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AudienceFilter {
    /// Only this customer type.
    pub customer_type: Option<CustomerType>,
    /// Only customers with this tag.
    pub tag: Option<String>,
    /// Name, code, email or phone search, as in customer listings.
    pub q: Option<String>,
    /// Created at or after.
    pub created_from: Option<DateTime<Utc>>,
    /// Created before.
    pub created_to: Option<DateTime<Utc>>,
}

/// Who a campaign goes to: active customers only, always.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Target {
    /// An RFM segment: one of the guide's five (`CHAMPION`, `LOYAL`,
    /// `POTENTIAL_LOYAL`, `AT_RISK`, `LOST`) or of the detailed map
    /// (`champions`, `at_risk`, ...). Customers without purchases have no
    /// segment.
    Segment(String),
    /// A loyalty tier by name (`Gold`), as [`LoyaltySummary::tier`](crate::loyalty::LoyaltySummary).
    Tier(String),
    /// Customers with this tag.
    Tag(String),
    /// Customers matching a filter.
    Filter(AudienceFilter),
}

/// What to do with an SMS recipient reached in quiet hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum QuietHoursPolicy {
    /// Keep it until the quiet hours end (default).
    #[default]
    Defer,
    /// Skip it (`quiet_hours`): the offer is only good now.
    Skip,
}

impl QuietHoursPolicy {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            QuietHoursPolicy::Defer => "defer",
            QuietHoursPolicy::Skip => "skip",
        }
    }
}

/// Longest campaign name.
pub const CAMPAIGN_NAME_MAX: usize = 120;

/// Input of [`Comms::create_campaign`](crate::Comms::create_campaign).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewCampaign {
    /// A name for people.
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 120, pattern = r"\S")
    )]
    pub name: String,
    /// The template to send (its channel is the campaign's).
    pub template_id: i64,
    /// Who gets it.
    pub target: Target,
    /// SMS in quiet hours: defer (default) or skip.
    pub quiet_hours: QuietHoursPolicy,
}

impl NewCampaign {
    /// Reads a campaign, reporting every failing field.
    pub fn from_json(value: serde_json::Value) -> Result<Self> {
        let mut r = JsonFields::new(value)?;
        let name = r.required("name", "a string");
        let template_id = r.require("template_id", "a template id");
        let target_present = r.has("target");
        let target =
            r.take_object::<Target>("target", "an object with one of segment, tier, tag, filter");
        let quiet_hours = r
            .optional("quiet_hours", "one of defer, skip")
            .unwrap_or_default();
        let mut errors = r.finish_into("campaign");
        if !target_present {
            errors.push(
                "target",
                "required",
                "target is required (segment, tier, tag or filter)",
            );
        }
        errors.finish()?;
        match (template_id, target) {
            (Some(template_id), Some(target)) => Ok(Self {
                name,
                template_id,
                target,
                quiet_hours,
            }),
            _ => Err(Error::invalid(
                "template_id",
                "required",
                "template_id is required",
            )),
        }
    }
}

/// Input of [`Comms::send_campaign`](crate::Comms::send_campaign).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SendCampaign {
    /// The campaign.
    pub campaign_id: i64,
    /// When to start; absent or past: now.
    pub at: Option<DateTime<Utc>>,
}

impl SendCampaign {
    /// Reads `{campaign_id, at}`, reporting every failing field.
    pub fn from_json(value: serde_json::Value) -> Result<Self> {
        let mut r = JsonFields::new(value)?;
        let campaign_id = r.required("campaign_id", "a campaign id");
        let at = r.optional("at", "an ISO-8601 time");
        r.finish("campaign send")?;
        Ok(Self { campaign_id, at })
    }

    /// Reads `{at}` for the campaign `campaign_id` (from a URL path); an
    /// empty or `null` body sends now.
    pub fn from_json_for(campaign_id: i64, value: serde_json::Value) -> Result<Self> {
        if value.is_null() {
            return Ok(Self {
                campaign_id,
                at: None,
            });
        }
        let mut r = JsonFields::new(value)?;
        let at = r.optional("at", "an ISO-8601 time");
        r.finish("campaign send")?;
        Ok(Self { campaign_id, at })
    }
}

json_input!(NewTemplate, ConsentChange, NewCampaign, SendCampaign);

/// Where a campaign is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum CampaignStatus {
    /// Created, not sent.
    Draft,
    /// Sending starts at `scheduled_at`.
    Scheduled,
    /// Recipients are being sent to.
    Sending,
    /// Every recipient is settled (sent, skipped or failed).
    Done,
}

impl CampaignStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            CampaignStatus::Draft => "draft",
            CampaignStatus::Scheduled => "scheduled",
            CampaignStatus::Sending => "sending",
            CampaignStatus::Done => "done",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Draft, Self::Scheduled, Self::Sending, Self::Done]
            .into_iter()
            .find(|c| c.as_str() == s)
    }
}

/// Recipients of a campaign by status: its progress.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CampaignProgress {
    /// Every recipient.
    pub recipients: u64,
    /// Waiting (new, deferred or to be retried).
    pub pending: u64,
    /// Claimed by a sender right now.
    pub sending: u64,
    /// Sent.
    pub sent: u64,
    /// Skipped (no consent, no address, quiet hours, inactive).
    pub skipped: u64,
    /// Failed for good.
    pub failed: u64,
}

/// A campaign, with its progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Campaign {
    /// Its id.
    pub id: i64,
    /// A name for people.
    pub name: String,
    /// The template it sends.
    pub template_id: i64,
    /// The template's channel.
    pub channel: Channel,
    /// Who gets it.
    pub target: Target,
    /// SMS in quiet hours.
    pub quiet_hours: QuietHoursPolicy,
    /// Where it is.
    pub status: CampaignStatus,
    /// When sending starts (set when scheduled or sent).
    pub scheduled_at: Option<DateTime<Utc>>,
    /// Who created it.
    pub created_by: Option<String>,
    /// When.
    pub created_at: DateTime<Utc>,
    /// When its recipients were listed and sending began.
    pub started_at: Option<DateTime<Utc>>,
    /// When its last recipient was settled.
    pub finished_at: Option<DateTime<Utc>>,
    /// Recipients by status.
    pub progress: CampaignProgress,
}

/// Where one recipient of a campaign is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum DeliveryStatus {
    /// Waiting for a sender (maybe until `next_attempt_at`).
    Pending,
    /// Claimed by a sender.
    Sending,
    /// Sent; the provider's message id is kept.
    Sent,
    /// Not sent on purpose; `reason` says why.
    Skipped,
    /// Not sent; `reason` says why.
    Failed,
}

impl DeliveryStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Sending => "sending",
            DeliveryStatus::Sent => "sent",
            DeliveryStatus::Skipped => "skipped",
            DeliveryStatus::Failed => "failed",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Pending,
            Self::Sending,
            Self::Sent,
            Self::Skipped,
            Self::Failed,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
    }
}

/// Why a recipient was skipped or failed (the `reason` of the log).
pub mod reasons {
    /// The customer has not opted in on the channel (or opted out).
    pub const NO_CONSENT: &str = "no_consent";
    /// The customer has no email (or phone) to send to.
    pub const NO_ADDRESS: &str = "no_address";
    /// An SMS reached in quiet hours, with the campaign's policy `skip`.
    pub const QUIET_HOURS: &str = "quiet_hours";
    /// The customer was deactivated, erased or merged meanwhile.
    pub const INACTIVE: &str = "inactive";
    /// The sending process stopped between claiming and settling: the
    /// message may or may not have left, so it is not sent again.
    pub const INTERRUPTED: &str = "interrupted";
    /// No transport is configured for the channel.
    pub const NO_TRANSPORT: &str = "no_transport";
}

/// One recipient of a campaign (one per campaign, customer and channel).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recipient {
    /// Its id.
    pub id: i64,
    /// The campaign.
    pub campaign_id: i64,
    /// The customer.
    pub customer_id: CustomerId,
    /// The channel.
    pub channel: Channel,
    /// Where it is.
    pub status: DeliveryStatus,
    /// Sends tried so far.
    pub attempts: u32,
    /// Not before (deferrals and retries).
    pub next_attempt_at: DateTime<Utc>,
    /// Why skipped, failed or deferred.
    pub reason: Option<String>,
    /// The provider's message id, once sent.
    pub provider_message_id: Option<String>,
}

impl From<CommunicationStatus> for DeliveryStatus {
    /// The recipient status a final log entry settles it in.
    fn from(s: CommunicationStatus) -> Self {
        match s {
            CommunicationStatus::Sent => DeliveryStatus::Sent,
            CommunicationStatus::Skipped => DeliveryStatus::Skipped,
            CommunicationStatus::Failed => DeliveryStatus::Failed,
        }
    }
}

/// Outcome recorded in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum CommunicationStatus {
    /// Handed to the provider.
    Sent,
    /// Not sent on purpose.
    Skipped,
    /// Not sent.
    Failed,
}

impl CommunicationStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Skipped => "skipped",
            Self::Failed => "failed",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Sent, Self::Skipped, Self::Failed]
            .into_iter()
            .find(|c| c.as_str() == s)
    }
}

/// One entry of the communication log (the guide's
/// `customer_communications`): a send, a skip or a failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Communication {
    /// Its id (increasing).
    pub id: i64,
    /// The customer.
    #[cfg_attr(feature = "openapi", schema(value_type = i64))]
    pub customer_id: CustomerId,
    /// Email or SMS.
    pub channel: Channel,
    /// The template used.
    pub template_id: Option<i64>,
    /// The campaign, if any.
    pub campaign_id: Option<i64>,
    /// Sent, skipped or failed.
    pub status: CommunicationStatus,
    /// Why skipped or failed.
    pub reason: Option<String>,
    /// The rendered subject (email), or the first words of an SMS.
    pub subject: Option<String>,
    /// The provider's message id.
    pub provider_message_id: Option<String>,
    /// When.
    pub sent_date: DateTime<Utc>,
}
