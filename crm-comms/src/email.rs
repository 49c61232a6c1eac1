//! Email over SMTP through lettre.

use async_trait::async_trait;
use crm_core::Result;
use crm_core::comms::{EmailMessage, EmailTransport, SendError};
use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::PoolConfig;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// SMTP connections kept by default: as many as the dispatcher's default
/// concurrency.
pub const DEFAULT_POOL_SIZE: u32 = 48;

use crate::config_error;

/// `List-Unsubscribe: <https://...>` (RFC 2369).
#[derive(Debug, Clone)]
struct ListUnsubscribe(String);

impl Header for ListUnsubscribe {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe")
    }

    fn parse(s: &str) -> std::result::Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self(s.trim_matches(['<', '>', ' ']).to_owned()))
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), format!("<{}>", self.0))
    }
}

/// `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058).
#[derive(Debug, Clone)]
struct ListUnsubscribePost;

impl Header for ListUnsubscribePost {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe-Post")
    }

    fn parse(_: &str) -> std::result::Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self)
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "List-Unsubscribe=One-Click".into())
    }
}

/// Sends email through an SMTP server, reusing pooled connections.
///
/// The provider message id recorded for each send is the `Message-ID` it
/// carries (`<reference@sender-domain>`), which the receiving side logs too.
#[derive(Clone)]
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    domain: String,
}

impl std::fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold a password: show the sender only.
        f.debug_struct("SmtpMailer")
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

impl SmtpMailer {
    /// A mailer for `url` (`smtp://host:port`, `?tls=required` for
    /// STARTTLS, `smtps://` for TLS, `user:password@` for a login) sending
    /// as `from` (`Name <address>` or `address`), with up to
    /// [`DEFAULT_POOL_SIZE`] connections. Call it inside a Tokio runtime:
    /// the connection pool keeps a task there.
    pub fn new(url: &str, from: &str) -> Result<Self> {
        Self::with_pool_size(url, from, DEFAULT_POOL_SIZE)
    }

    /// As [`new`](Self::new), with up to `connections` pooled connections.
    ///
    /// Each message costs about one round trip of the receiver's delayed
    /// acknowledgement (~40 ms on Linux): lettre writes the message and its
    /// end-of-data marker separately and does not disable Nagle's
    /// algorithm. Throughput therefore comes from parallel connections:
    /// match this to the dispatcher's concurrency.
    pub fn with_pool_size(url: &str, from: &str, connections: u32) -> Result<Self> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(config_error(
                "CRM_SMTP_URL",
                "the SMTP mailer must be created inside a Tokio runtime (its pool runs a task)",
            ));
        }
        let from: Mailbox = from.parse().map_err(|e| {
            config_error(
                "CRM_MAIL_FROM",
                format!("CRM_MAIL_FROM is not an address: {e}"),
            )
        })?;
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| config_error("CRM_SMTP_URL", format!("CRM_SMTP_URL is invalid: {e}")))?
            .pool_config(PoolConfig::new().max_size(connections.max(1)))
            .build();
        Ok(Self {
            domain: from.email.domain().to_owned(),
            transport,
            from,
        })
    }

    fn build(&self, m: &EmailMessage) -> std::result::Result<(Message, String), SendError> {
        let to: Mailbox = format!("{} <{}>", quote_name(&m.to_name), m.to)
            .parse()
            .or_else(|_| m.to.parse())
            .map_err(|e| SendError::permanent(format!("invalid recipient address: {e}")))?;
        let message_id = format!("<{}@{}>", m.reference, self.domain);
        let builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(m.subject.clone())
            .message_id(Some(message_id.clone()))
            .header(ListUnsubscribe(m.unsubscribe_url.clone()))
            .header(ListUnsubscribePost);
        let text = SinglePart::builder()
            .header(ContentType::TEXT_PLAIN)
            .body(m.text.clone());
        let message = match &m.html {
            Some(html) => builder.multipart(
                MultiPart::alternative().singlepart(text).singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_HTML)
                        .body(html.clone()),
                ),
            ),
            None => builder.singlepart(text),
        }
        .map_err(|e| SendError::permanent(format!("cannot build the message: {e}")))?;
        Ok((message, message_id))
    }

    /// Checks that the server answers (for health checks and start-up).
    pub async fn check(&self) -> Result<()> {
        match self.transport.test_connection().await {
            Ok(true) => Ok(()),
            Ok(false) => Err(crm_core::Error::Unavailable {
                message: "the SMTP server does not answer".into(),
                source: None,
            }),
            Err(e) => Err(crm_core::Error::unavailable(
                "the SMTP server does not answer",
                e,
            )),
        }
    }
}

/// A display name safe inside `"..."`.
fn quote_name(name: &str) -> String {
    let clean: String = name
        .chars()
        .filter(|c| !c.is_control())
        .map(|c| if c == '"' || c == '\\' { '\'' } else { c })
        .collect();
    format!("\"{clean}\"")
}

#[async_trait]
impl EmailTransport for SmtpMailer {
    async fn send(&self, m: &EmailMessage) -> std::result::Result<String, SendError> {
        let (message, id) = self.build(m)?;
        match self.transport.send(message).await {
            Ok(_) => Ok(id),
            // 5xx: the server refuses this message for good.
            Err(e) if e.is_permanent() => Err(SendError::permanent(format!("SMTP: {e}"))),
            // 4xx, connection and timeout errors: worth another try.
            Err(e) => Err(SendError::transient(format!("SMTP: {e}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn messages_carry_both_parts_and_the_unsubscribe_headers() {
        let mailer = SmtpMailer::new("smtp://127.0.0.1:2525", "Toko Sinar <promo@sinar.example>")
            .expect("mailer");
        let (message, id) = mailer
            .build(&EmailMessage {
                to: "budi@example.com".into(),
                to_name: "Budi \"B\" Santoso".into(),
                subject: "Poin Anda".into(),
                text: "Halo Budi".into(),
                html: Some("<p>Halo Budi</p>".into()),
                unsubscribe_url: "http://localhost:8080/unsubscribe?token=1.email.2.x".into(),
                reference: "2.1.9".into(),
            })
            .expect("message");
        assert_eq!(id, "<2.1.9@sinar.example>");
        let raw = String::from_utf8(message.formatted()).expect("utf-8");
        assert!(
            raw.contains("List-Unsubscribe: <http://localhost:8080/unsubscribe?token=1.email.2.x>"),
            "{raw}"
        );
        assert!(
            raw.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"),
            "{raw}"
        );
        assert!(raw.contains("Message-ID: <2.1.9@sinar.example>"), "{raw}");
        assert!(raw.contains("multipart/alternative"), "{raw}");
        assert!(
            raw.contains("text/plain") && raw.contains("text/html"),
            "{raw}"
        );
        assert!(SmtpMailer::new("smtp://x", "not an address").is_err());
    }
}
