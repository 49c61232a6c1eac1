//! Validation and normalisation of customer input.
//!
//! Unlike the guide's `validateCustomerData`, which returns at the first
//! failing rule, every field is checked and every failure is reported, each as
//! a [`FieldError`](crate::error::FieldError) with the field, the rule and a message. Nothing is written
//! unless all of them pass.

use chrono::NaiveDate;
use phonenumber::Mode;
use phonenumber::country::Id as Region;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::input::{CustomerPatch, NewCustomer};
use super::model::{Address, Customer, CustomerType};
use crate::error::FieldErrors;
use crate::{Error, Result};

/// Longest name, in characters.
pub const NAME_MAX: usize = 150;
/// Longest email, in characters.
pub const EMAIL_MAX: usize = 100;
/// Longest phone number as typed, in characters.
pub const PHONE_MAX: usize = 20;
/// Most tags on one customer.
pub const TAGS_MAX: usize = 20;
/// Longest tag, in characters.
pub const TAG_MAX: usize = 50;
/// Most decimal places of a credit limit.
pub const CREDIT_LIMIT_SCALE: u32 = 2;

/// The largest credit limit both SQL backends store exactly (`DECIMAL(15,2)`).
pub fn credit_limit_max() -> Decimal {
    Decimal::new(999_999_999_999_999, 2)
}

/// The validated, normalised fields of a customer that callers control.
///
/// Only [`Rules::check_new`] and [`Rules::check_patch`] produce it; stores
/// receive it and write it as is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerFields {
    /// Trimmed name.
    pub name: String,
    /// Lower-cased email.
    pub email: Option<String>,
    /// E.164 phone.
    pub phone: Option<String>,
    /// Kind of customer.
    pub customer_type: CustomerType,
    /// Credit limit (>= 0, scale <= 2).
    pub credit_limit: Decimal,
    /// Trimmed address; blank parts become `None`, country upper-cased.
    pub address: Address,
    /// Date of birth.
    pub birthday: Option<NaiveDate>,
    /// Lower-cased, sorted, unique tags.
    pub tags: Vec<String>,
}

impl CustomerFields {
    /// The fields of an existing customer.
    pub fn of(c: &Customer) -> Self {
        Self {
            name: c.name.clone(),
            email: c.email.clone(),
            phone: c.phone.clone(),
            customer_type: c.customer_type,
            credit_limit: c.credit_limit,
            address: c.address.clone(),
            birthday: c.birthday,
            tags: c.tags.clone(),
        }
    }
}

/// The rule set, with its settings (the phone region, today's date).
#[derive(Debug, Clone)]
pub struct Rules {
    region: Region,
    today: NaiveDate,
}

impl Rules {
    /// Rules reading national phone numbers in `region` (ISO 3166 alpha-2,
    /// e.g. `ID`) and refusing birthdays after `today`.
    pub fn new(region: &str, today: NaiveDate) -> Result<Self> {
        Ok(Self::with_region(parse_region(region)?, today))
    }

    /// Rules for an already parsed region.
    pub fn with_region(region: Region, today: NaiveDate) -> Self {
        Self { region, today }
    }

    /// Checks a new customer; `Ok` only when every rule passes.
    pub fn check_new(&self, input: NewCustomer) -> Result<CustomerFields> {
        let mut errors = FieldErrors::new();
        let fields = CustomerFields {
            name: self.name(input.name, &mut errors),
            email: self.email(input.email, &mut errors),
            phone: self.phone(input.phone, &mut errors),
            customer_type: input.customer_type,
            credit_limit: self.credit_limit(input.credit_limit, &mut errors),
            address: self.address(input.address, &mut errors),
            birthday: self.birthday(input.birthday, &mut errors),
            tags: self.tags(input.tags, &mut errors),
        };
        errors.finish_with(fields)
    }

    /// Applies a patch to a customer's current fields and checks the result.
    pub fn check_patch(&self, current: &Customer, patch: CustomerPatch) -> Result<CustomerFields> {
        let mut errors = FieldErrors::new();
        let mut f = CustomerFields::of(current);
        if let Some(name) = patch.name {
            f.name = self.name(name, &mut errors);
        }
        if let Some(email) = patch.email {
            f.email = self.email(email, &mut errors);
        }
        if let Some(phone) = patch.phone {
            f.phone = self.phone(phone, &mut errors);
        }
        if let Some(limit) = patch.credit_limit {
            f.credit_limit = self.credit_limit(limit, &mut errors);
        }
        if let Some(address) = patch.address {
            f.address = self.address(address, &mut errors);
        }
        if let Some(birthday) = patch.birthday {
            f.birthday = self.birthday(birthday, &mut errors);
        }
        if let Some(tags) = patch.tags {
            f.tags = self.tags(tags, &mut errors);
        }
        errors.finish_with(f)
    }

    /// Normalises a phone number to E.164, or `None` if it is not a valid number.
    pub fn normalize_phone(&self, raw: &str) -> Option<String> {
        let number = phonenumber::parse(Some(self.region), raw.trim()).ok()?;
        phonenumber::is_valid(&number).then(|| number.format().mode(Mode::E164).to_string())
    }

    fn name(&self, raw: String, errors: &mut FieldErrors) -> String {
        let too_long = raw.chars().count() > NAME_MAX;
        let name = raw.trim().to_string();
        if name.is_empty() {
            errors.push("name", "required", "name is required");
        } else if too_long {
            errors.push(
                "name",
                "max_length",
                format!("name must be at most {NAME_MAX} characters"),
            );
        }
        name
    }

    fn email(&self, raw: Option<String>, errors: &mut FieldErrors) -> Option<String> {
        if longer_than(raw.as_deref(), EMAIL_MAX) {
            errors.push(
                "email",
                "max_length",
                format!("email must be at most {EMAIL_MAX} characters"),
            );
            return non_blank(raw);
        }
        let email = non_blank(raw)?;
        if !is_email(&email) {
            errors.push(
                "email",
                "email",
                format!("{email:?} is not a valid email address"),
            );
        }
        Some(email.to_lowercase())
    }

    fn phone(&self, raw: Option<String>, errors: &mut FieldErrors) -> Option<String> {
        if longer_than(raw.as_deref(), PHONE_MAX) {
            errors.push(
                "phone",
                "max_length",
                format!("phone must be at most {PHONE_MAX} characters"),
            );
            return non_blank(raw);
        }
        let phone = non_blank(raw)?;
        match self.normalize_phone(&phone) {
            Some(e164) => Some(e164),
            None => {
                errors.push(
                    "phone",
                    "phone",
                    format!(
                        "{phone:?} is not a valid phone number (national numbers are read as {:?})",
                        self.region
                    ),
                );
                Some(phone)
            }
        }
    }

    fn credit_limit(&self, v: Decimal, errors: &mut FieldErrors) -> Decimal {
        if v.is_sign_negative() && !v.is_zero() {
            errors.push("credit_limit", "min", "credit_limit must be 0 or more");
        } else if v.normalize().scale() > CREDIT_LIMIT_SCALE {
            errors.push(
                "credit_limit",
                "scale",
                format!("credit_limit has at most {CREDIT_LIMIT_SCALE} decimal places"),
            );
        } else if v > credit_limit_max() {
            errors.push(
                "credit_limit",
                "max",
                format!("credit_limit must be at most {}", credit_limit_max()),
            );
        }
        let mut v = v.normalize();
        v.rescale(CREDIT_LIMIT_SCALE);
        v
    }

    fn address(&self, a: Address, errors: &mut FieldErrors) -> Address {
        let mut part = |field: &str, v: Option<String>, max: usize| {
            if longer_than(v.as_deref(), max) {
                errors.push(
                    format!("address.{field}"),
                    "max_length",
                    format!("address.{field} must be at most {max} characters"),
                );
            }
            non_blank(v)
        };
        let mut out = Address {
            line1: part("line1", a.line1, 255),
            line2: part("line2", a.line2, 255),
            city: part("city", a.city, 100),
            province: part("province", a.province, 100),
            postal_code: part("postal_code", a.postal_code, 20),
            country: None,
        };
        if let Some(c) = non_blank(a.country) {
            let c = c.to_ascii_uppercase();
            if c.len() != 2 || !c.bytes().all(|b| b.is_ascii_uppercase()) {
                errors.push(
                    "address.country",
                    "country",
                    "address.country must be an ISO 3166-1 alpha-2 code such as ID",
                );
            }
            out.country = Some(c);
        }
        out
    }

    fn birthday(&self, b: Option<NaiveDate>, errors: &mut FieldErrors) -> Option<NaiveDate> {
        let b = b?;
        if b > self.today {
            errors.push("birthday", "past", "birthday cannot be in the future");
        } else if b < NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or(NaiveDate::MIN) {
            errors.push("birthday", "min", "birthday cannot be before 1900-01-01");
        }
        Some(b)
    }

    fn tags(&self, tags: Vec<String>, errors: &mut FieldErrors) -> Vec<String> {
        if tags.len() > TAGS_MAX {
            errors.push("tags", "max_items", format!("at most {TAGS_MAX} tags"));
        }
        if tags.iter().any(|t| t.chars().count() > TAG_MAX) {
            errors.push(
                "tags",
                "max_length",
                format!("each tag must be at most {TAG_MAX} characters"),
            );
        }
        let mut out: Vec<String> = tags
            .into_iter()
            .map(|t| t.trim().to_lowercase())
            .filter(|t| !t.is_empty())
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

/// Parses an ISO 3166-1 alpha-2 region such as `ID` for phone numbers.
pub fn parse_region(region: &str) -> Result<Region> {
    region
        .trim()
        .to_ascii_uppercase()
        .parse::<Region>()
        .map_err(|_| {
            Error::invalid(
                "default_region",
                "country",
                format!("{region:?} is not an ISO 3166-1 alpha-2 region"),
            )
        })
}

/// Whether a value has more than `max` characters as sent (lengths are
/// measured before trimming, as a schema's `maxLength` measures them).
fn longer_than(v: Option<&str>, max: usize) -> bool {
    v.is_some_and(|v| v.chars().count() > max)
}

fn non_blank(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// Email syntax per RFC 5321/5322 (via `email_address`), plus a dotted domain:
/// a till typing `budi@gmail` is a typo, not an intranet address. The same
/// rule applies to customers' and users' emails.
pub(crate) fn is_email(s: &str) -> bool {
    email_address::EmailAddress::is_valid(s)
        && s.rsplit_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.ends_with('.')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Rules {
        Rules::new("ID", NaiveDate::from_ymd_opt(2026, 11, 23).expect("date")).expect("region")
    }

    #[test]
    fn every_failing_field_is_reported_at_once() {
        let err = rules()
            .check_new(NewCustomer {
                name: "x".repeat(300),
                email: Some("x@".into()),
                phone: Some("abc".into()),
                credit_limit: Decimal::from(-5),
                ..NewCustomer::default()
            })
            .expect_err("invalid");
        let got: Vec<_> = err
            .field_errors()
            .iter()
            .map(|f| (f.field.as_str(), f.rule.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("name", "max_length"),
                ("email", "email"),
                ("phone", "phone"),
                ("credit_limit", "min")
            ]
        );
    }

    #[test]
    fn national_and_international_phone_are_the_same_number() {
        let r = rules();
        assert_eq!(
            r.normalize_phone("0812-3456-7890").as_deref(),
            Some("+6281234567890")
        );
        assert_eq!(
            r.normalize_phone("+62 812 3456 7890").as_deref(),
            Some("+6281234567890")
        );
        assert_eq!(r.normalize_phone("abc"), None);
    }

    #[test]
    fn normalises_email_tags_address_and_money() {
        let f = rules()
            .check_new(NewCustomer {
                name: "  Budi  ".into(),
                email: Some(" Budi@Example.COM ".into()),
                credit_limit: "1500000.5".parse().expect("decimal"),
                tags: vec!["VIP".into(), "vip".into(), " ".into(), "b2b".into()],
                address: Address {
                    country: Some("id".into()),
                    city: Some(" ".into()),
                    ..Address::default()
                },
                ..NewCustomer::default()
            })
            .expect("valid");
        assert_eq!(f.name, "Budi");
        assert_eq!(f.email.as_deref(), Some("budi@example.com"));
        assert_eq!(f.credit_limit.to_string(), "1500000.50");
        assert_eq!(f.tags, ["b2b", "vip"]);
        assert_eq!(f.address.country.as_deref(), Some("ID"));
        assert_eq!(f.address.city, None);
    }

    #[test]
    fn limits_are_checked() {
        let r = rules();
        let err = r
            .check_new(NewCustomer {
                name: String::new(),
                email: Some(format!("{}@example.com", "a".repeat(95))),
                phone: Some("0812 3456 7890 1234 5678".into()),
                credit_limit: "0.001".parse().expect("decimal"),
                birthday: NaiveDate::from_ymd_opt(2030, 1, 1),
                tags: vec!["t".repeat(51)],
                ..NewCustomer::default()
            })
            .expect_err("invalid");
        let got: Vec<_> = err.field_errors().iter().map(|f| f.rule.as_str()).collect();
        assert_eq!(
            got,
            [
                "required",
                "max_length",
                "max_length",
                "scale",
                "past",
                "max_length"
            ]
        );
        assert!(
            r.check_new(NewCustomer {
                name: "A".into(),
                email: Some("budi@gmail".into()),
                ..Default::default()
            })
            .is_err()
        );
    }

    #[test]
    fn lengths_are_those_of_the_values_as_sent() {
        let r = rules();
        let padded = |s: &str| format!("\u{85}{s} ");
        let err = r
            .check_new(NewCustomer {
                name: padded(&"n".repeat(NAME_MAX - 1)),
                email: Some(" ".repeat(EMAIL_MAX + 1)),
                phone: Some(padded("0812345678901234567")),
                tags: vec![padded(&"t".repeat(TAG_MAX - 1)), "x".into()],
                address: Address {
                    postal_code: Some(padded(&"1".repeat(19))),
                    ..Address::default()
                },
                ..NewCustomer::default()
            })
            .expect_err("too long as sent");
        let got: Vec<_> = err
            .field_errors()
            .iter()
            .map(|f| (f.field.as_str(), f.rule.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("name", "max_length"),
                ("email", "max_length"),
                ("phone", "max_length"),
                ("address.postal_code", "max_length"),
                ("tags", "max_length")
            ]
        );
        // Duplicates count: the list as sent has at most 20 tags.
        let err = r
            .check_new(NewCustomer {
                name: "A".into(),
                tags: vec!["vip".into(); TAGS_MAX + 1],
                ..NewCustomer::default()
            })
            .expect_err("too many");
        assert_eq!(err.field_errors()[0].rule, "max_items");
        let ok = r
            .check_new(NewCustomer {
                name: "n".repeat(NAME_MAX),
                tags: vec!["VIP".into(); TAGS_MAX],
                ..NewCustomer::default()
            })
            .expect("at the limits");
        assert_eq!(ok.tags, ["vip"]);
    }

    #[test]
    fn unknown_region_is_rejected() {
        assert!(Rules::new("XX", NaiveDate::MIN).is_err());
        assert!(Rules::new("sg", NaiveDate::MIN).is_ok());
    }
}
