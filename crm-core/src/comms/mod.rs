//! Customer communications: templates, consent, campaigns, the
//! communication log, and the dispatcher that sends through pluggable
//! transports.
//!
//! The guide's `EmailService::sendPromotion` loops over customers, fills
//! `{customer_name}`, `{loyalty_points}` and `{last_purchase}` with
//! `str_replace`, sends, and logs. It has no consent check, no unsubscribe,
//! no escaping, and a crash mid-loop either stops the campaign or, run
//! again, mails everyone twice. Here:
//!
//! - **Templates** ([`NewTemplate`]) are checked when saved: an unknown
//!   placeholder is a validation error, not a blank in a sent mail. Every
//!   value is escaped in HTML bodies, and a plain-text part always goes
//!   with them. Numbers, Rupiah (`Rp 1.250.000`) and dates follow the
//!   template's [`Locale`].
//! - **Consent** ([`ConsentChange`]) is an append-only history per customer
//!   and channel; the latest record decides, and it is read again at send
//!   time. Without a record a customer has not opted in and gets nothing.
//!   Every email carries a signed one-click unsubscribe link (RFC 8058).
//! - **Campaigns** ([`NewCampaign`]) target an RFM segment, a loyalty tier,
//!   a tag or a customer filter and go draft → scheduled → sending → done.
//!   Each (campaign, customer, channel) is one recipient row, claimed before
//!   the send and settled after it, so several processes share a campaign
//!   through the database and nobody is mailed twice (see [`dispatch`]).
//! - **The log** ([`Communication`]): every send, skip and failure, per
//!   customer, newest first.
//!
//! This module does no I/O: transports implement [`EmailTransport`] and
//! [`SmsProvider`] (the `crm-comms` crate has SMTP through lettre and an
//! HTTP SMS gateway), storage implements [`CommsStore`].

pub mod dispatch;
mod handle;
mod model;
mod store;
pub mod template;
mod token;

pub use dispatch::{
    DispatchOptions, DispatchReport, Dispatcher, EmailMessage, EmailTransport, SendError,
    SmsMessage, SmsProvider,
};
pub use handle::{CommunicationQuery, Preview};
pub use model::*;
pub use store::{CommsStore, RecipientOutcome};
pub use template::{Locale, Placeholder, RenderContext, Rendered};
