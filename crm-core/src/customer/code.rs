//! Customer codes: a two-letter type prefix and eight digits, `RT00000042`.
//!
//! Codes are allocated by the store from a per-prefix counter inside the same
//! transaction as the insert, so concurrent creates never share a code and a
//! failed create does not burn a number.

use serde::{Deserialize, Serialize};

use super::model::CustomerType;
use crate::error::ConflictReason;
use crate::{Error, Result};

/// The largest sequence number that fits in eight digits.
pub const MAX_SEQUENCE: u64 = 99_999_999;

/// A customer code such as `RT00000042`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CustomerCode(String);

impl CustomerCode {
    /// The code for the `sequence`-th customer of `customer_type`.
    ///
    /// Fails when the sequence no longer fits in eight digits.
    pub fn new(customer_type: CustomerType, sequence: u64) -> Result<Self> {
        if sequence == 0 || sequence > MAX_SEQUENCE {
            return Err(Error::conflict(
                ConflictReason::Exhausted,
                format!(
                    "customer code sequence for {} is exhausted or invalid ({sequence})",
                    customer_type.code_prefix()
                ),
            ));
        }
        Ok(Self(format!(
            "{}{:08}",
            customer_type.code_prefix(),
            sequence
        )))
    }

    /// Parses and checks a code (`RT00000042`); lower-case prefixes are accepted.
    pub fn parse(s: &str) -> Result<Self> {
        let s = s.trim().to_ascii_uppercase();
        let ok = s.len() == 10
            && s.is_char_boundary(2)
            && CustomerType::from_prefix(&s[..2]).is_some()
            && s[2..].bytes().all(|b| b.is_ascii_digit());
        if ok {
            Ok(Self(s))
        } else {
            Err(Error::invalid(
                "customer_code",
                "format",
                format!("{s:?} is not a customer code (two-letter type prefix and 8 digits)"),
            ))
        }
    }

    /// Whether some valid code starts with `prefix` (any case): a beginning
    /// of a type prefix, then digits, 10 characters at most. Searches use it
    /// to leave out a code condition that cannot match (`"Budi"`, `"0812"`).
    pub fn could_start_with(prefix: &str) -> bool {
        let p = prefix.trim().to_ascii_uppercase();
        let letters = p.len().min(2);
        p.len() <= 10
            && p.is_char_boundary(letters)
            && CustomerType::ALL
                .iter()
                .any(|t| t.code_prefix().starts_with(&p[..letters]))
            && p[letters..].bytes().all(|b| b.is_ascii_digit())
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The customer type the prefix stands for.
    pub fn customer_type(&self) -> Option<CustomerType> {
        CustomerType::from_prefix(self.0.get(..2)?)
    }
}

impl std::fmt::Display for CustomerCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for CustomerCode {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        Self::parse(&s)
    }
}

impl From<CustomerCode> for String {
    fn from(c: CustomerCode) -> String {
        c.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retail_code_starts_with_rt_and_has_length_10() {
        // The guide's testCustomerCodeGeneration.
        let code = CustomerCode::new(CustomerType::Retail, 42).expect("fits");
        assert!(code.as_str().starts_with("RT"));
        assert_eq!(code.as_str().len(), 10);
        assert_eq!(code.as_str(), "RT00000042");
        assert_eq!(code.customer_type(), Some(CustomerType::Retail));
    }

    #[test]
    fn every_type_has_its_prefix() {
        let prefixes: Vec<_> = CustomerType::ALL
            .iter()
            .map(|t| CustomerCode::new(*t, 1).expect("fits").as_str()[..2].to_string())
            .collect();
        assert_eq!(prefixes, ["RT", "WS", "DS", "CP"]);
    }

    #[test]
    fn exhausted_sequence_is_an_error() {
        assert!(CustomerCode::new(CustomerType::Corporate, MAX_SEQUENCE).is_ok());
        assert!(CustomerCode::new(CustomerType::Corporate, MAX_SEQUENCE + 1).is_err());
        assert!(CustomerCode::new(CustomerType::Corporate, 0).is_err());
    }

    #[test]
    fn which_terms_could_start_a_code() {
        for yes in ["", "r", "RT", "rt0000", "WS00000001", "c", "DS1"] {
            assert!(CustomerCode::could_start_with(yes), "{yes}");
        }
        for no in [
            "Budi",
            "Budi Sa",
            "0812",
            "RTX",
            "RT00000000 1",
            "XX",
            "RT000000001",
            "é",
        ] {
            assert!(!CustomerCode::could_start_with(no), "{no}");
        }
    }

    #[test]
    fn parse_checks_shape() {
        assert_eq!(
            CustomerCode::parse("ws00000001").expect("ok").as_str(),
            "WS00000001"
        );
        assert!(CustomerCode::parse("XX00000001").is_err());
        assert!(CustomerCode::parse("RT0000001").is_err());
        assert!(CustomerCode::parse("RT0000000a").is_err());
        assert!(CustomerCode::parse("RTé0000000").is_err());
    }
}
