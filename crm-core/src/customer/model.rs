//! The customer record.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::code::CustomerCode;

/// A customer's numeric identifier, assigned by the store.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(transparent)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CustomerId(pub i64);

impl std::fmt::Display for CustomerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl From<i64> for CustomerId {
    fn from(v: i64) -> Self {
        CustomerId(v)
    }
}

/// The kind of customer; decides the two-letter prefix of the customer code.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "UPPERCASE")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum CustomerType {
    /// Walk-in and end consumers (`RT`).
    #[default]
    Retail,
    /// Shops buying for resale (`WS`).
    Wholesale,
    /// Distributors (`DS`).
    Distributor,
    /// Companies buying for their own use (`CP`).
    Corporate,
}

impl CustomerType {
    /// All types, in a stable order.
    pub const ALL: [CustomerType; 4] = [
        CustomerType::Retail,
        CustomerType::Wholesale,
        CustomerType::Distributor,
        CustomerType::Corporate,
    ];

    /// The two-letter customer-code prefix.
    pub fn code_prefix(self) -> &'static str {
        match self {
            CustomerType::Retail => "RT",
            CustomerType::Wholesale => "WS",
            CustomerType::Distributor => "DS",
            CustomerType::Corporate => "CP",
        }
    }

    /// The upper-case name used in JSON and in the database (`RETAIL` ...).
    pub fn as_str(self) -> &'static str {
        match self {
            CustomerType::Retail => "RETAIL",
            CustomerType::Wholesale => "WHOLESALE",
            CustomerType::Distributor => "DISTRIBUTOR",
            CustomerType::Corporate => "CORPORATE",
        }
    }

    /// The type whose code prefix is `prefix`.
    pub fn from_prefix(prefix: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.code_prefix() == prefix)
    }
}

impl std::fmt::Display for CustomerType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for CustomerType {
    type Err = crate::Error;

    /// Parses `RETAIL`, `retail`, ... (case-insensitive).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                crate::Error::invalid(
                    "customer_type",
                    "one_of",
                    format!(
                        "unknown customer type {s:?}; expected RETAIL, WHOLESALE, DISTRIBUTOR or CORPORATE"
                    ),
                )
            })
    }
}

/// A postal address. Every part is optional.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Address {
    /// Street and number (at most 255 characters).
    #[cfg_attr(feature = "openapi", schema(max_length = 255))]
    pub line1: Option<String>,
    /// Building, unit, further detail (at most 255 characters).
    #[cfg_attr(feature = "openapi", schema(max_length = 255))]
    pub line2: Option<String>,
    /// City or regency (kota/kabupaten; at most 100 characters).
    #[cfg_attr(feature = "openapi", schema(max_length = 100))]
    pub city: Option<String>,
    /// Province or state (at most 100 characters).
    #[cfg_attr(feature = "openapi", schema(max_length = 100))]
    pub province: Option<String>,
    /// Postal code (at most 20 characters).
    #[cfg_attr(feature = "openapi", schema(max_length = 20))]
    pub postal_code: Option<String>,
    /// ISO 3166-1 alpha-2 country code, upper case (`ID`).
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = Option<crate::openapi::CountryCode>)
    )]
    pub country: Option<String>,
}

/// A customer as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Customer {
    /// Store-assigned identifier.
    pub id: CustomerId,
    /// Unique code: type prefix + 8 digits (`RT00000042`).
    pub customer_code: CustomerCode,
    /// Display name (1 to 150 characters).
    pub name: String,
    /// Lower-cased email address, unique among active customers.
    pub email: Option<String>,
    /// Phone number in E.164 (`+6281234567890`), unique among active customers.
    pub phone: Option<String>,
    /// Kind of customer.
    pub customer_type: CustomerType,
    /// Credit limit, an exact decimal >= 0 with 2 decimals, as a string.
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = r"^[0-9]+\.[0-9]{2}$", example = "1500000.00")
    )]
    pub credit_limit: Decimal,
    /// Postal address.
    pub address: Address,
    /// Date of birth, if known.
    pub birthday: Option<NaiveDate>,
    /// Free-form labels (`vip`, `jakarta-north` ...), lower-cased, sorted, unique.
    pub tags: Vec<String>,
    /// `false` once deactivated (soft delete); history is kept.
    pub is_active: bool,
    /// The customer this one was merged into (it is then inactive).
    #[serde(default)]
    pub merged_into: Option<CustomerId>,
    /// Who merged it.
    #[serde(default)]
    pub merged_by: Option<String>,
    /// When it was merged.
    #[serde(default)]
    pub merged_at: Option<DateTime<Utc>>,
    /// Revision, incremented by every write; used for optimistic concurrency.
    pub version: i64,
    /// When the customer was created (UTC).
    pub created_at: DateTime<Utc>,
    /// When the customer was last changed (UTC).
    pub updated_at: DateTime<Utc>,
}

impl Customer {
    /// The customer as a viewer in `role` may see it: roles that do not
    /// contact customers (analysts) get no email, phone, address or
    /// birthday; the record is otherwise unchanged (same id, code, type,
    /// tags, dates) so analyses still join on it.
    pub fn as_seen_by(mut self, role: crate::users::Role) -> Self {
        if !role.sees_contact_details() {
            self.email = None;
            self.phone = None;
            self.address = Address::default();
            self.birthday = None;
        }
        self
    }
}
