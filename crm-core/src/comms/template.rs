//! Template placeholders, checking and rendering, with locale-aware
//! numbers, Rupiah and dates.
//!
//! A placeholder is a name in braces (`{customer_name}`); `{{` and `}}`
//! write literal braces. The names are fixed ([`Placeholder`]): anything
//! else is refused when the template is saved.

use chrono::{DateTime, Datelike, Duration, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::model::{BODY_MAX, Channel, NewTemplate, SUBJECT_MAX, TEMPLATE_NAME_MAX, Template};
use crate::error::FieldErrors;
use crate::{FieldError, Result};

/// How a template writes numbers, money and dates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Locale {
    /// Indonesian: `1.250`, `Rp 1.250.000`, `3 Desember 2026`.
    Id,
    /// English: `1,250`, `Rp 1,250,000`, `3 December 2026`.
    En,
}

impl Locale {
    /// The stored name (`id`, `en`).
    pub fn as_str(self) -> &'static str {
        match self {
            Locale::Id => "id",
            Locale::En => "en",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [Locale::Id, Locale::En]
            .into_iter()
            .find(|l| l.as_str() == s)
    }

    fn separators(self) -> (char, char) {
        match self {
            Locale::Id => ('.', ','),
            Locale::En => (',', '.'),
        }
    }

    /// An integer with thousands separators (`1.250` / `1,250`).
    pub fn integer(self, n: i64) -> String {
        let (thousands, _) = self.separators();
        group(&n.unsigned_abs().to_string(), thousands, n < 0)
    }

    /// An amount of money: Rupiah as `Rp 1.250.000` (`Rp 1,250,000` in
    /// English), cents only when there are any; other currencies with
    /// their code and two decimals (`USD 12,50` / `USD 12.50`).
    pub fn money(self, amount: Decimal, currency: &str) -> String {
        let (thousands, decimal) = self.separators();
        let negative = amount.is_sign_negative() && !amount.is_zero();
        let abs = amount.abs().round_dp(2);
        let whole = abs.trunc();
        let cents = ((abs - whole) * Decimal::ONE_HUNDRED).trunc();
        let mut out = group(&whole.to_string(), thousands, negative);
        let idr = currency.eq_ignore_ascii_case("IDR");
        if !idr || !cents.is_zero() {
            out.push(decimal);
            out.push_str(&format!("{:02}", cents));
        }
        let symbol = if idr { "Rp" } else { currency };
        format!("{symbol} {out}")
    }

    /// A date: `3 Desember 2026` / `3 December 2026`.
    pub fn date(self, day: chrono::NaiveDate) -> String {
        const ID: [&str; 12] = [
            "Januari",
            "Februari",
            "Maret",
            "April",
            "Mei",
            "Juni",
            "Juli",
            "Agustus",
            "September",
            "Oktober",
            "November",
            "Desember",
        ];
        const EN: [&str; 12] = [
            "January",
            "February",
            "March",
            "April",
            "May",
            "June",
            "July",
            "August",
            "September",
            "October",
            "November",
            "December",
        ];
        let months = match self {
            Locale::Id => &ID,
            Locale::En => &EN,
        };
        let month = months[day.month0() as usize % 12];
        format!("{} {} {}", day.day(), month, day.year())
    }
}

/// `1234567` → `1.234.567`.
fn group(digits: &str, sep: char, negative: bool) -> String {
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if negative {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(sep);
        }
        out.push(c);
    }
    out
}

/// The values a template can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Placeholder {
    /// `{customer_name}`: the customer's name.
    CustomerName,
    /// `{customer_code}`: the customer's code (`RT00000042`).
    CustomerCode,
    /// `{loyalty_points}`: points available to redeem.
    LoyaltyPoints,
    /// `{last_purchase}`: the date of the last purchase.
    LastPurchase,
    /// `{last_purchase_amount}`: the amount of the last purchase (`Rp 1.250.000`).
    LastPurchaseAmount,
    /// `{tier}`: the loyalty tier.
    Tier,
    /// `{points_expiring}`: points that expire within the configured window.
    PointsExpiring,
    /// `{unsubscribe_url}`: the customer's signed one-click unsubscribe link.
    UnsubscribeUrl,
}

impl Placeholder {
    /// Every placeholder.
    pub const ALL: [Placeholder; 8] = [
        Placeholder::CustomerName,
        Placeholder::CustomerCode,
        Placeholder::LoyaltyPoints,
        Placeholder::LastPurchase,
        Placeholder::LastPurchaseAmount,
        Placeholder::Tier,
        Placeholder::PointsExpiring,
        Placeholder::UnsubscribeUrl,
    ];

    /// Its name, without braces.
    pub fn name(self) -> &'static str {
        match self {
            Placeholder::CustomerName => "customer_name",
            Placeholder::CustomerCode => "customer_code",
            Placeholder::LoyaltyPoints => "loyalty_points",
            Placeholder::LastPurchase => "last_purchase",
            Placeholder::LastPurchaseAmount => "last_purchase_amount",
            Placeholder::Tier => "tier",
            Placeholder::PointsExpiring => "points_expiring",
            Placeholder::UnsubscribeUrl => "unsubscribe_url",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == s)
    }
}

/// A parsed template body.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part<'a> {
    Text(std::borrow::Cow<'a, str>),
    Slot(Placeholder),
}

/// Splits `src` into text and placeholders; every problem becomes a
/// [`FieldError`] on `field`.
fn parse<'a>(field: &str, src: &'a str) -> std::result::Result<Vec<Part<'a>>, Vec<FieldError>> {
    let mut parts = Vec::new();
    let mut errors = Vec::new();
    let mut text = String::new();
    let mut rest = src;
    while let Some(i) = rest.find(['{', '}']) {
        text.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(after) = tail.strip_prefix("{{") {
            text.push('{');
            rest = after;
        } else if let Some(after) = tail.strip_prefix("}}") {
            text.push('}');
            rest = after;
        } else if let Some(after) = tail.strip_prefix('}') {
            errors.push(FieldError::new(
                field,
                "syntax",
                "a lone `}`: write `}}` for a literal brace",
            ));
            rest = after;
        } else {
            match tail[1..].find('}') {
                Some(end) => {
                    let name = &tail[1..1 + end];
                    match Placeholder::parse(name) {
                        Some(p) => {
                            if !text.is_empty() {
                                parts.push(Part::Text(std::mem::take(&mut text).into()));
                            }
                            parts.push(Part::Slot(p));
                        }
                        None => errors.push(FieldError::new(
                            field,
                            "placeholder",
                            format!(
                                "unknown placeholder {{{name}}}: use one of {}",
                                Placeholder::ALL
                                    .iter()
                                    .map(|p| format!("{{{}}}", p.name()))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        )),
                    }
                    rest = &tail[2 + end..];
                }
                None => {
                    errors.push(FieldError::new(
                        field,
                        "syntax",
                        "an unclosed `{`: write `{{` for a literal brace",
                    ));
                    rest = "";
                }
            }
        }
    }
    text.push_str(rest);
    if !text.is_empty() {
        parts.push(Part::Text(text.into()));
    }
    if errors.is_empty() {
        Ok(parts)
    } else {
        Err(errors)
    }
}

/// The placeholders a stored template uses (subject, text and HTML).
pub fn placeholders(t: &Template) -> std::collections::HashSet<Placeholder> {
    [
        t.subject.as_deref(),
        Some(t.text.as_str()),
        t.html.as_deref(),
    ]
    .into_iter()
    .flatten()
    .filter_map(|src| parse("", src).ok())
    .flatten()
    .filter_map(|part| match part {
        Part::Slot(p) => Some(p),
        Part::Text(_) => None,
    })
    .collect()
}

/// Checks the length and the placeholders of one body.
fn check_body(errors: &mut FieldErrors, field: &str, src: &str, max: usize) {
    if src.chars().count() > max {
        errors.push(
            field,
            "max_length",
            format!("{field} must be at most {max} characters"),
        );
    } else if let Err(found) = parse(field, src) {
        for e in found {
            errors.add(e);
        }
    }
}

/// Checks a template before it is saved: every field, every placeholder.
pub(crate) fn validate(t: &NewTemplate) -> Result<()> {
    let mut errors = FieldErrors::new();
    let name = t.name.trim();
    if name.is_empty() {
        errors.push("name", "required", "name must not be empty");
    } else if name.chars().count() > TEMPLATE_NAME_MAX {
        errors.push(
            "name",
            "max_length",
            format!("name must be at most {TEMPLATE_NAME_MAX} characters"),
        );
    }
    match t.channel {
        Channel::Email => match &t.subject {
            Some(s) if !s.trim().is_empty() => check_body(&mut errors, "subject", s, SUBJECT_MAX),
            _ => errors.push("subject", "required", "an email template needs a subject"),
        },
        Channel::Sms => {
            if t.subject.is_some() {
                errors.push("subject", "not_allowed", "an SMS has no subject");
            }
            if t.html.is_some() {
                errors.push("html", "not_allowed", "an SMS has no HTML body");
            }
        }
    }
    if t.text.trim().is_empty() {
        errors.push(
            "text",
            "required",
            "the plain-text body is required (every email carries a text part)",
        );
    } else {
        check_body(&mut errors, "text", &t.text, BODY_MAX);
    }
    if let (Channel::Email, Some(html)) = (t.channel, &t.html) {
        check_body(&mut errors, "html", html, BODY_MAX);
    }
    errors.finish()
}

/// The values of one customer for a template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RenderContext {
    /// `{customer_name}`.
    pub customer_name: String,
    /// `{customer_code}`.
    pub customer_code: String,
    /// `{loyalty_points}`: points available.
    pub loyalty_points: i64,
    /// `{last_purchase}`: when (UTC).
    pub last_purchase_at: Option<DateTime<Utc>>,
    /// `{last_purchase_amount}`: how much.
    pub last_purchase_amount: Option<Decimal>,
    /// Its currency (ISO 4217).
    pub last_purchase_currency: Option<String>,
    /// `{tier}`.
    pub tier: Option<String>,
    /// `{points_expiring}`.
    pub points_expiring: i64,
    /// `{unsubscribe_url}`.
    pub unsubscribe_url: String,
    /// Minutes east of UTC of the local dates.
    pub utc_offset_minutes: i32,
}

/// A template rendered for one customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Rendered {
    /// The subject (email).
    pub subject: Option<String>,
    /// The plain-text body.
    pub text: String,
    /// The HTML body (email), with every value escaped.
    pub html: Option<String>,
}

impl RenderContext {
    fn value(&self, p: Placeholder, locale: Locale) -> String {
        const NONE: &str = "-";
        match p {
            Placeholder::CustomerName => self.customer_name.clone(),
            Placeholder::CustomerCode => self.customer_code.clone(),
            Placeholder::LoyaltyPoints => locale.integer(self.loyalty_points),
            Placeholder::LastPurchase => self
                .last_purchase_at
                .map(|at| {
                    let local = at + Duration::minutes(i64::from(self.utc_offset_minutes));
                    locale.date(local.date_naive())
                })
                .unwrap_or_else(|| NONE.into()),
            Placeholder::LastPurchaseAmount => match self.last_purchase_amount {
                Some(amount) => locale.money(
                    amount,
                    self.last_purchase_currency.as_deref().unwrap_or("IDR"),
                ),
                None => NONE.into(),
            },
            Placeholder::Tier => self.tier.clone().unwrap_or_else(|| NONE.into()),
            Placeholder::PointsExpiring => locale.integer(self.points_expiring),
            Placeholder::UnsubscribeUrl => self.unsubscribe_url.clone(),
        }
    }
}

/// Escapes text for HTML element content and attribute values.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn fill(src: &str, ctx: &RenderContext, locale: Locale, html: bool) -> String {
    // Stored templates were checked when saved; a part that no longer
    // parses (edited by hand in the database) renders as it is.
    let Ok(parts) = parse("", src) else {
        return src.to_owned();
    };
    let mut out = String::with_capacity(src.len() + 64);
    for part in parts {
        match part {
            Part::Text(t) => out.push_str(&t),
            Part::Slot(p) => {
                let v = ctx.value(p, locale);
                if html {
                    out.push_str(&escape_html(&v));
                } else {
                    out.push_str(&v);
                }
            }
        }
    }
    out
}

/// Renders a template for one customer.
pub fn render(t: &Template, ctx: &RenderContext) -> Rendered {
    Rendered {
        subject: t
            .subject
            .as_deref()
            .map(|s| fill(s, ctx, t.locale, false).replace(['\r', '\n'], " ")),
        text: fill(&t.text, ctx, t.locale, false),
        html: t.html.as_deref().map(|h| fill(h, ctx, t.locale, true)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn template(
        channel: Channel,
        subject: Option<&str>,
        text: &str,
        html: Option<&str>,
    ) -> NewTemplate {
        NewTemplate {
            name: "t".into(),
            channel,
            locale: Locale::Id,
            subject: subject.map(Into::into),
            text: text.into(),
            html: html.map(Into::into),
        }
    }

    fn failures(t: &NewTemplate) -> Vec<(String, String)> {
        validate(t)
            .expect_err("invalid")
            .field_errors()
            .iter()
            .map(|f| (f.field.clone(), f.rule.clone()))
            .collect()
    }

    #[test]
    fn unknown_placeholders_and_bad_braces_are_refused_with_every_field() {
        let t = template(
            Channel::Email,
            Some("Halo {first_name}"),
            "Poin {loyalty_points} {oops",
            Some("<p>}</p>"),
        );
        assert_eq!(
            failures(&t),
            [
                ("subject".to_string(), "placeholder".to_string()),
                ("text".into(), "syntax".into()),
                ("html".into(), "syntax".into()),
            ]
        );
        let sms = template(Channel::Sms, Some("x"), "", Some("<b>"));
        assert_eq!(
            failures(&sms),
            [
                ("subject".to_string(), "not_allowed".to_string()),
                ("html".into(), "not_allowed".into()),
                ("text".into(), "required".into()),
            ]
        );
        assert!(
            validate(&template(
                Channel::Email,
                Some("{{literal}}"),
                "{tier}",
                None
            ))
            .is_ok()
        );
    }

    #[test]
    fn locales_write_numbers_money_and_dates() {
        assert_eq!(
            Locale::Id.money(Decimal::new(1_250_000, 0), "IDR"),
            "Rp 1.250.000"
        );
        assert_eq!(
            Locale::En.money(Decimal::new(1_250_000, 0), "IDR"),
            "Rp 1,250,000"
        );
        assert_eq!(
            Locale::Id.money(Decimal::new(125_050, 2), "IDR"),
            "Rp 1.250,50"
        );
        assert_eq!(Locale::En.money(Decimal::new(1250, 2), "USD"), "USD 12.50");
        assert_eq!(Locale::Id.money(Decimal::new(-999, 0), "IDR"), "Rp -999");
        assert_eq!(Locale::Id.integer(1_250), "1.250");
        assert_eq!(Locale::En.integer(-1_234_567), "-1,234,567");
        assert_eq!(Locale::Id.integer(12), "12");
        let day = chrono::NaiveDate::from_ymd_opt(2026, 12, 3).expect("date");
        assert_eq!(Locale::Id.date(day), "3 Desember 2026");
        assert_eq!(Locale::En.date(day), "3 December 2026");
    }

    #[test]
    fn html_values_are_escaped_and_text_values_are_not() {
        let t = Template {
            id: 1,
            name: "t".into(),
            channel: Channel::Email,
            locale: Locale::Id,
            subject: Some("Halo {customer_name}\n".into()),
            text: "Halo {customer_name}, {{poin}}: {loyalty_points}. Terakhir {last_purchase} ({last_purchase_amount})".into(),
            html: Some("<p>Halo {customer_name}</p><a href=\"{unsubscribe_url}\">x</a>".into()),
            created_by: None,
            created_at: Utc::now(),
        };
        let ctx = RenderContext {
            customer_name: "<script>alert('x')</script> & Co".into(),
            customer_code: "RT00000001".into(),
            loyalty_points: 12_500,
            // 18:00 UTC is 01:00 the next day in Jakarta.
            last_purchase_at: Some(
                Utc.with_ymd_and_hms(2026, 12, 2, 18, 0, 0)
                    .single()
                    .expect("time"),
            ),
            last_purchase_amount: Some(Decimal::new(1_250_000, 0)),
            last_purchase_currency: Some("IDR".into()),
            tier: None,
            points_expiring: 0,
            unsubscribe_url: "http://x/unsubscribe?token=a&b".into(),
            utc_offset_minutes: 420,
        };
        let r = render(&t, &ctx);
        assert_eq!(
            r.subject.as_deref(),
            Some("Halo <script>alert('x')</script> & Co ")
        );
        assert_eq!(
            r.text,
            "Halo <script>alert('x')</script> & Co, {poin}: 12.500. Terakhir 3 Desember 2026 (Rp 1.250.000)"
        );
        assert_eq!(
            r.html.as_deref(),
            Some(
                "<p>Halo &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; Co</p><a href=\"http://x/unsubscribe?token=a&amp;b\">x</a>"
            )
        );
    }
}
