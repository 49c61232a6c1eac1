//! Signed unsubscribe tokens: `<customer>.<channel>.<campaign>.<mac>`,
//! where `mac` is HMAC-SHA256 over the rest under a secret kept with the
//! database (so every server process of a deployment accepts every link),
//! in unpadded base64url. Tokens do not expire: an unsubscribe link in an
//! old mail keeps working, as RFC 8058 expects.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::model::Channel;
use crate::customer::CustomerId;
use crate::{Error, Result};

type HmacSha256 = Hmac<Sha256>;

/// The settings key of the signing secret.
pub(crate) const SECRET_SETTING: &str = "comms_unsubscribe_secret";

/// What a valid token names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Unsubscribe {
    pub customer_id: CustomerId,
    pub channel: Channel,
    pub campaign_id: Option<i64>,
}

fn mac(secret: &[u8], payload: &str) -> HmacSha256 {
    // HMAC takes keys of any length.
    let mut mac = HmacSha256::new_from_slice(secret).unwrap_or_else(|_| unreachable!());
    mac.update(b"crm-unsubscribe:");
    mac.update(payload.as_bytes());
    mac
}

/// A fresh random secret (hex).
pub(crate) fn new_secret() -> Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| {
        Error::storage_msg(format!("no randomness for the unsubscribe secret: {e}"))
    })?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Signs an unsubscribe token.
pub(crate) fn sign(secret: &[u8], u: Unsubscribe) -> String {
    let payload = format!(
        "{}.{}.{}",
        u.customer_id.0,
        u.channel.as_str(),
        u.campaign_id.unwrap_or(0)
    );
    let tag = URL_SAFE_NO_PAD.encode(mac(secret, &payload).finalize().into_bytes());
    format!("{payload}.{tag}")
}

/// Checks a token; a forged, altered or malformed one is a validation
/// error on `token`.
pub(crate) fn verify(secret: &[u8], token: &str) -> Result<Unsubscribe> {
    let bad = || Error::invalid("token", "signature", "the unsubscribe link is invalid");
    let (payload, tag) = token.rsplit_once('.').ok_or_else(bad)?;
    let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| bad())?;
    mac(secret, payload).verify_slice(&tag).map_err(|_| bad())?;
    let mut parts = payload.split('.');
    let customer = parts.next().and_then(|s| s.parse::<i64>().ok());
    let channel = parts.next().and_then(Channel::parse);
    let campaign = parts.next().and_then(|s| s.parse::<i64>().ok());
    match (customer, channel, campaign, parts.next()) {
        (Some(c), Some(channel), Some(campaign), None) => Ok(Unsubscribe {
            customer_id: CustomerId(c),
            channel,
            campaign_id: (campaign != 0).then_some(campaign),
        }),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_and_tampering_is_caught() {
        let u = Unsubscribe {
            customer_id: CustomerId(42),
            channel: Channel::Email,
            campaign_id: Some(7),
        };
        let token = sign(b"secret", u);
        assert!(token.starts_with("42.email.7."));
        assert_eq!(verify(b"secret", &token).expect("valid"), u);
        assert!(verify(b"other", &token).is_err());
        let forged = token.replacen("42.", "43.", 1);
        assert!(verify(b"secret", &forged).is_err());
        assert!(verify(b"secret", "garbage").is_err());
        assert!(verify(b"secret", "").is_err());
        let none = sign(
            b"secret",
            Unsubscribe {
                campaign_id: None,
                ..u
            },
        );
        assert_eq!(verify(b"secret", &none).expect("valid").campaign_id, None);
        assert_eq!(new_secret().expect("secret").len(), 64);
    }
}
