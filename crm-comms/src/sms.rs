//! SMS providers: a JSON-over-HTTP gateway and the log.

use std::time::Duration;

use async_trait::async_trait;
use crm_core::Result;
use crm_core::comms::{SendError, SmsMessage, SmsProvider};

use crate::config_error;

/// The body sent when no template is configured.
const DEFAULT_BODY: &str = r#"{"to":"{to}","text":"{text}","reference":"{reference}"}"#;

/// Sends SMS by POSTing JSON to a gateway.
///
/// The body is a template in which `{to}`, `{text}` and `{reference}` are
/// replaced by the values, JSON-escaped (so they go inside quotes in the
/// template). The answer's message id is read from a top-level field
/// (`id` by default); a gateway that answers without one gets the
/// delivery reference recorded instead. 2xx is sent; 408, 429 and 5xx are
/// retried; other statuses are permanent failures.
#[derive(Clone)]
pub struct HttpSmsGateway {
    url: String,
    headers: Vec<(String, String)>,
    body: String,
    id_field: String,
    agent: ureq::Agent,
}

impl std::fmt::Debug for HttpSmsGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Headers hold credentials: show the URL only.
        f.debug_struct("HttpSmsGateway")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl HttpSmsGateway {
    /// A gateway at `url` with the default body and no extra header.
    pub fn new(url: impl Into<String>) -> Self {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(15)))
            .build();
        Self {
            url: url.into(),
            headers: Vec::new(),
            body: DEFAULT_BODY.into(),
            id_field: "id".into(),
            agent: ureq::Agent::new_with_config(config),
        }
    }

    /// Sends this header with every request (`Authorization`, an API key).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Uses `template` as the body; it must be JSON once filled and use
    /// `{to}` and `{text}`.
    pub fn body_template(mut self, template: &str) -> Result<Self> {
        let sample = fill(template, "+620000", "x", "r");
        if serde_json::from_str::<serde_json::Value>(&sample).is_err() {
            return Err(config_error(
                "CRM_SMS_BODY",
                "CRM_SMS_BODY is not JSON once filled (put {to}, {text} and {reference} inside quotes)",
            ));
        }
        if !template.contains("{to}") || !template.contains("{text}") {
            return Err(config_error(
                "CRM_SMS_BODY",
                "CRM_SMS_BODY must use {to} and {text}",
            ));
        }
        self.body = template.to_owned();
        Ok(self)
    }

    /// Reads the message id from this field of the answer.
    pub fn id_field(mut self, field: impl Into<String>) -> Self {
        self.id_field = field.into();
        self
    }
}

/// The template with each placeholder replaced by its JSON-escaped value.
fn fill(template: &str, to: &str, text: &str, reference: &str) -> String {
    let esc = |s: &str| {
        let quoted = serde_json::Value::String(s.to_owned()).to_string();
        quoted[1..quoted.len() - 1].to_owned()
    };
    template
        .replace("{to}", &esc(to))
        .replace("{text}", &esc(text))
        .replace("{reference}", &esc(reference))
}

#[async_trait]
impl SmsProvider for HttpSmsGateway {
    async fn send(&self, m: &SmsMessage) -> std::result::Result<String, SendError> {
        let body = fill(&self.body, &m.to, &m.text, &m.reference);
        let this = self.clone();
        let reference = m.reference.clone();
        let answer = tokio::task::spawn_blocking(move || {
            let mut req = this
                .agent
                .post(&this.url)
                .header("content-type", "application/json");
            for (k, v) in &this.headers {
                req = req.header(k, v);
            }
            let mut res = req
                .send(body.as_bytes())
                .map_err(|e| SendError::transient(format!("SMS gateway: {e}")))?;
            let status = res.status().as_u16();
            let text = res
                .body_mut()
                .with_config()
                .limit(64 * 1024)
                .read_to_string()
                .unwrap_or_default();
            Ok::<_, SendError>((status, text))
        })
        .await
        .map_err(|e| SendError::transient(format!("SMS gateway task: {e}")))??;
        let (status, text) = answer;
        match status {
            200..=299 => {
                let id = serde_json::from_str::<serde_json::Value>(&text)
                    .ok()
                    .and_then(|v| match v.get(&self.id_field)? {
                        serde_json::Value::String(s) => Some(s.clone()),
                        serde_json::Value::Number(n) => Some(n.to_string()),
                        _ => None,
                    })
                    .unwrap_or(reference);
                Ok(id)
            }
            408 | 429 | 500..=599 => Err(SendError::transient(format!(
                "SMS gateway answered {status}: {}",
                snippet(&text)
            ))),
            _ => Err(SendError::permanent(format!(
                "SMS gateway answered {status}: {}",
                snippet(&text)
            ))),
        }
    }
}

fn snippet(s: &str) -> String {
    s.chars().take(200).collect()
}

/// Writes each SMS to the log instead of sending it (development).
#[derive(Debug, Clone, Copy, Default)]
pub struct LogSms;

#[async_trait]
impl SmsProvider for LogSms {
    async fn send(&self, m: &SmsMessage) -> std::result::Result<String, SendError> {
        tracing::info!(to = %m.to, reference = %m.reference, text = %m.text, "SMS (log provider, not sent)");
        Ok(format!("log-{}", m.reference))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_filled_with_escaped_values() {
        let body = fill(DEFAULT_BODY, "+62812", "Halo \"Budi\"\n", "1.2.3");
        let v: serde_json::Value = serde_json::from_str(&body).expect("json");
        assert_eq!(v["text"], "Halo \"Budi\"\n");
        assert_eq!(v["to"], "+62812");
        assert!(
            HttpSmsGateway::new("http://x")
                .body_template("{to}")
                .is_err()
        );
        assert!(
            HttpSmsGateway::new("http://x")
                .body_template(r#"{"msisdn":"{to}","message":"{text}"}"#)
                .is_ok()
        );
    }
}
