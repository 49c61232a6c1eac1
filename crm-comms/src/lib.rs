//! # crm-comms
//!
//! Transports for the communications of the CRM SDK ([`crm_core::comms`]):
//!
//! - [`SmtpMailer`]: email over SMTP through lettre, with pooled
//!   connections, STARTTLS or TLS, a text part and an optional HTML part,
//!   and the RFC 8058 one-click unsubscribe headers.
//! - [`HttpSmsGateway`]: SMS through a JSON-over-HTTP gateway (URL, auth
//!   header, body template), the shape most SMS providers take.
//! - [`LogSms`]: SMS written to the log, for development.
//!
//! [`Transports::from_env`] reads the usual configuration (`CRM_SMTP_URL`,
//! `CRM_MAIL_FROM`, `CRM_SMS_*`). It is a crate of its own so that SDK users
//! who send nothing do not compile an SMTP or HTTP client.
//!
//! ```no_run
//! # async fn demo(crm: crm_core::Crm) -> crm_core::Result<()> {
//! use crm_core::comms::{DispatchOptions, Dispatcher};
//! let transports = crm_comms::Transports::from_env()?;
//! let dispatcher = transports.attach(Dispatcher::new(crm.comms(), DispatchOptions::default()));
//! let report = dispatcher.drain().await?;
//! println!("sent {}", report.sent);
//! # Ok(()) }
//! ```

mod email;
mod sms;

use std::sync::Arc;

use crm_core::comms::{Dispatcher, EmailTransport, SmsProvider};
use crm_core::{Error, Result};

pub use email::{DEFAULT_POOL_SIZE, SmtpMailer};
pub use sms::{HttpSmsGateway, LogSms};

/// The transports a dispatcher sends through.
#[derive(Debug, Clone, Default)]
pub struct Transports {
    /// Email, if configured.
    pub email: Option<Arc<dyn EmailTransport>>,
    /// SMS, if configured.
    pub sms: Option<Arc<dyn SmsProvider>>,
}

impl Transports {
    /// Reads the transports from the environment:
    ///
    /// | variable | meaning |
    /// |---|---|
    /// | `CRM_SMTP_URL` | `smtp://host:port` (add `?tls=required` for STARTTLS), `smtps://host:465` for TLS, with `user:password@` when the server wants a login; unset: no email |
    /// | `CRM_MAIL_FROM` | the sender, `Name <address>` or `address` (required with `CRM_SMTP_URL`) |
    /// | `CRM_SMTP_POOL_SIZE` | SMTP connections kept open (default 48, the dispatcher's default concurrency) |
    /// | `CRM_SMS_PROVIDER` | `http` or `log`; unset: no SMS |
    /// | `CRM_SMS_URL` | the gateway's endpoint (`http`) |
    /// | `CRM_SMS_AUTH_HEADER` | a header sent with every request, `Name: value` (optional) |
    /// | `CRM_SMS_BODY` | the JSON body template with `{to}`, `{text}`, `{reference}` (optional; default `{"to":"{to}","text":"{text}","reference":"{reference}"}`) |
    /// | `CRM_SMS_ID_FIELD` | the response field holding the message id (optional; default `id`) |
    ///
    /// Every problem is reported at once, as a validation error per variable.
    pub fn from_env() -> Result<Self> {
        Self::from_vars(|k| std::env::var(k).ok().filter(|v| !v.trim().is_empty()))
    }

    /// Reads the transports from `var` (the environment's shape; for tests).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let mut errors = crm_core::FieldErrors::new();
        let email = match var("CRM_SMTP_URL") {
            Some(url) => match var("CRM_MAIL_FROM") {
                Some(from) => {
                    let pool = match var("CRM_SMTP_POOL_SIZE") {
                        Some(n) => match n.trim().parse::<u32>() {
                            Ok(n) if n > 0 => n,
                            _ => {
                                errors.push(
                                    "CRM_SMTP_POOL_SIZE",
                                    "type",
                                    "CRM_SMTP_POOL_SIZE must be a positive integer",
                                );
                                email::DEFAULT_POOL_SIZE
                            }
                        },
                        None => email::DEFAULT_POOL_SIZE,
                    };
                    errors
                        .check("", SmtpMailer::with_pool_size(&url, &from, pool))
                        .map(|m| Arc::new(m) as Arc<dyn EmailTransport>)
                }
                None => {
                    errors.push(
                        "CRM_MAIL_FROM",
                        "required",
                        "CRM_MAIL_FROM is required with CRM_SMTP_URL",
                    );
                    None
                }
            },
            None => None,
        };
        let sms = match var("CRM_SMS_PROVIDER").as_deref() {
            None => None,
            Some("log") => Some(Arc::new(LogSms) as Arc<dyn SmsProvider>),
            Some("http") => match var("CRM_SMS_URL") {
                Some(url) => {
                    let mut gw = HttpSmsGateway::new(url);
                    if let Some(h) = var("CRM_SMS_AUTH_HEADER") {
                        match h.split_once(':') {
                            Some((name, value)) if !name.trim().is_empty() => {
                                gw = gw.header(name.trim(), value.trim());
                            }
                            _ => errors.push(
                                "CRM_SMS_AUTH_HEADER",
                                "format",
                                "CRM_SMS_AUTH_HEADER must be `Name: value`",
                            ),
                        }
                    }
                    if let Some(body) = var("CRM_SMS_BODY") {
                        gw = errors
                            .check("", gw.clone().body_template(&body))
                            .unwrap_or(gw);
                    }
                    if let Some(field) = var("CRM_SMS_ID_FIELD") {
                        gw = gw.id_field(field);
                    }
                    Some(Arc::new(gw) as Arc<dyn SmsProvider>)
                }
                None => {
                    errors.push(
                        "CRM_SMS_URL",
                        "required",
                        "CRM_SMS_URL is required with CRM_SMS_PROVIDER=http",
                    );
                    None
                }
            },
            Some(other) => {
                errors.push(
                    "CRM_SMS_PROVIDER",
                    "one_of",
                    format!("CRM_SMS_PROVIDER must be http or log, not {other:?}"),
                );
                None
            }
        };
        errors.finish()?;
        Ok(Self { email, sms })
    }

    /// Gives `dispatcher` these transports.
    pub fn attach(&self, mut dispatcher: Dispatcher) -> Dispatcher {
        if let Some(e) = &self.email {
            dispatcher = dispatcher.with_email(e.clone());
        }
        if let Some(s) = &self.sms {
            dispatcher = dispatcher.with_sms(s.clone());
        }
        dispatcher
    }
}

/// A configuration problem on `field`.
pub(crate) fn config_error(field: &str, message: impl Into<String>) -> Error {
    Error::invalid(field, "config", message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_configuration_problem_is_reported() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(name, _)| *name == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let err = Transports::from_vars(vars(&[
            ("CRM_SMTP_URL", "smtp://127.0.0.1:2525"),
            ("CRM_SMS_PROVIDER", "pigeon"),
        ]))
        .expect_err("invalid");
        let fields: Vec<_> = err
            .field_errors()
            .iter()
            .map(|f| f.field.as_str())
            .collect();
        assert_eq!(fields, ["CRM_MAIL_FROM", "CRM_SMS_PROVIDER"]);
        let ok = Transports::from_vars(vars(&[
            ("CRM_SMTP_URL", "smtp://127.0.0.1:2525"),
            ("CRM_MAIL_FROM", "Toko <promo@toko.example>"),
            ("CRM_SMS_PROVIDER", "log"),
        ]))
        .expect("valid");
        assert!(ok.email.is_some() && ok.sms.is_some());
        assert!(
            Transports::from_vars(|_| None)
                .expect("nothing configured")
                .email
                .is_none()
        );
    }
}
