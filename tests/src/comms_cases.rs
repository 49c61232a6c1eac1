//! Conformance cases of communications: campaigns deliver once per
//! consenting customer, several dispatchers share a campaign, interrupted
//! claims are not sent again, retries back off, SMS quiet hours, consent
//! and unsubscribe, templates.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{Duration, TimeZone, Utc};
use crm_core::comms::{
    AudienceFilter, CampaignStatus, Channel, CommunicationQuery, CommunicationStatus,
    ConsentChange, DispatchOptions, Dispatcher, EmailMessage, EmailTransport, Locale, NewCampaign,
    NewTemplate, Preview, QuietHoursPolicy, SendCampaign, SendError, SmsMessage, SmsProvider,
    Target, reasons,
};
use crm_core::{Customer, CustomerId, ErrorKind, NewCustomer};

use crate::Backend;
use crate::loyalty_cases::purchase;

/// Records every message; fails the first sends of chosen addresses.
#[derive(Debug, Default)]
pub struct Recorder {
    sent: Mutex<Vec<(String, String, Option<String>)>>,
    failures: Mutex<HashMap<String, (u32, bool)>>,
}

impl Recorder {
    fn fail(&self, to: &str, times: u32, permanent: bool) {
        self.failures
            .lock()
            .expect("lock")
            .insert(to.to_owned(), (times, permanent));
    }

    fn take_failure(&self, to: &str) -> Option<SendError> {
        let mut f = self.failures.lock().expect("lock");
        let (left, permanent) = f.get_mut(to)?;
        if *left == 0 {
            return None;
        }
        *left -= 1;
        Some(if *permanent {
            SendError::permanent("550 mailbox unavailable")
        } else {
            SendError::transient("421 try again later")
        })
    }

    /// `(to, text, html)` of every message sent.
    fn sent(&self) -> Vec<(String, String, Option<String>)> {
        self.sent.lock().expect("lock").clone()
    }

    fn count_to(&self) -> HashMap<String, usize> {
        let mut out = HashMap::new();
        for (to, _, _) in self.sent() {
            *out.entry(to).or_default() += 1;
        }
        out
    }
}

#[async_trait]
impl EmailTransport for Recorder {
    async fn send(&self, m: &EmailMessage) -> Result<String, SendError> {
        if let Some(e) = self.take_failure(&m.to) {
            return Err(e);
        }
        tokio::task::yield_now().await;
        self.sent
            .lock()
            .expect("lock")
            .push((m.to.clone(), m.text.clone(), m.html.clone()));
        Ok(format!("<{}@test>", m.reference))
    }
}

#[async_trait]
impl SmsProvider for Recorder {
    async fn send(&self, m: &SmsMessage) -> Result<String, SendError> {
        self.sent
            .lock()
            .expect("lock")
            .push((m.to.clone(), m.text.clone(), None));
        Ok(format!("sms-{}", m.reference))
    }
}

fn dispatcher(b: &Backend, recorder: &Arc<Recorder>) -> Dispatcher {
    Dispatcher::new(
        b.crm.comms(),
        DispatchOptions {
            batch: 7,
            concurrency: 4,
            email_per_second: None,
            sms_per_second: None,
            idle_ms: 10,
        },
    )
    .with_email(recorder.clone())
    .with_sms(recorder.clone())
}

async fn contact(b: &Backend, name: &str, email: Option<&str>, phone: Option<&str>) -> Customer {
    b.crm
        .customers()
        .create(NewCustomer {
            name: name.into(),
            email: email.map(Into::into),
            phone: phone.map(Into::into),
            tags: vec!["promo".into()],
            ..NewCustomer::default()
        })
        .await
        .expect("create customer")
}

async fn consent(b: &Backend, c: CustomerId, channel: Channel, granted: bool) {
    b.crm
        .comms()
        .set_consent(ConsentChange {
            customer_id: c,
            channel,
            granted,
            source: "till".into(),
        })
        .await
        .expect("consent");
}

async fn email_template(b: &Backend) -> i64 {
    b.crm
        .comms()
        .create_template(NewTemplate {
            name: "December points".into(),
            channel: Channel::Email,
            locale: Locale::Id,
            subject: Some("Poin Anda, {customer_name}".into()),
            text: "Halo {customer_name} ({customer_code}), poin Anda {loyalty_points}, tier {tier}. \
                   Belanja terakhir {last_purchase} ({last_purchase_amount}). Berhenti: {unsubscribe_url}"
                .into(),
            html: Some("<p>Halo {customer_name}</p><a href=\"{unsubscribe_url}\">berhenti</a>".into()),
        })
        .await
        .expect("template")
        .id
}

async fn campaign(b: &Backend, template_id: i64, target: Target) -> i64 {
    b.crm
        .comms()
        .create_campaign(NewCampaign {
            name: "Promo".into(),
            template_id,
            target,
            quiet_hours: QuietHoursPolicy::Defer,
        })
        .await
        .expect("campaign")
        .id
}

async fn send_now(b: &Backend, id: i64) {
    let c = b
        .crm
        .comms()
        .send_campaign(SendCampaign {
            campaign_id: id,
            at: None,
        })
        .await
        .expect("send");
    assert_eq!(c.status, CampaignStatus::Sending, "{}", b.name);
}

/// A campaign to a tag sends exactly one mail to each active customer who
/// consented and has an address, every placeholder filled; the others are
/// skipped with a reason and logged; sending again sends nothing more.
pub async fn campaigns_send_once_to_each_consenting_customer(b: Backend) {
    let a = contact(&b, "Ayu <b>&</b>", Some("ayu@toko.id"), None).await;
    let no_consent = contact(&b, "Budi", Some("budi@toko.id"), None).await;
    let no_email = contact(&b, "Citra", None, Some("0812-1111-2222")).await;
    let opted_out = contact(&b, "Dewi", Some("dewi@toko.id"), None).await;
    let gone = contact(&b, "Eko", Some("eko@toko.id"), None).await;
    for c in [&a, &no_email, &opted_out, &gone] {
        consent(&b, c.id, Channel::Email, true).await;
    }
    consent(&b, opted_out.id, Channel::Email, false).await;
    b.crm
        .customers()
        .deactivate(gone.id)
        .await
        .expect("deactivate");
    b.crm
        .loyalty()
        .record_purchase(purchase(&b, a.id, "R-1", 1_250_000))
        .await
        .expect("purchase");
    let t = email_template(&b).await;
    let id = campaign(&b, t, Target::Tag("promo".into())).await;
    send_now(&b, id).await;
    let recorder = Arc::new(Recorder::default());
    let report = dispatcher(&b, &recorder).drain().await.expect("drain");
    assert_eq!(
        (report.sent, report.skipped),
        (1, 3),
        "{}: {report:?}",
        b.name
    );
    let sent = recorder.sent();
    assert_eq!(sent.len(), 1, "{}", b.name);
    let (to, text, html) = &sent[0];
    assert_eq!(to, "ayu@toko.id");
    assert!(!text.contains('{'), "every placeholder filled: {text}");
    assert!(
        text.contains("Ayu <b>&</b>") && text.contains("Rp 1.250.000"),
        "{text}"
    );
    assert!(text.contains("15 Januari 2026"), "{text}");
    assert!(text.contains("/unsubscribe?token="), "{text}");
    let html = html.as_deref().unwrap_or_default();
    assert!(
        html.contains("Ayu &lt;b&gt;&amp;&lt;/b&gt;"),
        "escaped: {html}"
    );
    let campaign = b.crm.comms().campaign(id).await.expect("campaign");
    assert_eq!(campaign.status, CampaignStatus::Done, "{}", b.name);
    let p = campaign.progress;
    assert_eq!(
        (p.recipients, p.sent, p.skipped, p.pending, p.sending),
        (4, 1, 3, 0, 0)
    );
    let reason_of = |c: CustomerId| {
        let crm = b.crm.clone();
        async move {
            let log = crm
                .comms()
                .communications(CommunicationQuery::of(c))
                .await
                .expect("log");
            assert_eq!(log.len(), 1);
            (log[0].status, log[0].reason.clone())
        }
    };
    assert_eq!(reason_of(a.id).await, (CommunicationStatus::Sent, None));
    assert_eq!(
        reason_of(no_consent.id).await,
        (
            CommunicationStatus::Skipped,
            Some(reasons::NO_CONSENT.into())
        )
    );
    assert_eq!(
        reason_of(no_email.id).await,
        (
            CommunicationStatus::Skipped,
            Some(reasons::NO_ADDRESS.into())
        )
    );
    assert_eq!(
        reason_of(opted_out.id).await,
        (
            CommunicationStatus::Skipped,
            Some(reasons::NO_CONSENT.into())
        )
    );
    // Sending again answers the campaign as it is and sends nothing.
    let again = b
        .crm
        .comms()
        .send_campaign(SendCampaign {
            campaign_id: id,
            at: None,
        })
        .await
        .expect("send again");
    assert_eq!(again.status, CampaignStatus::Done);
    let report = dispatcher(&b, &recorder).drain().await.expect("drain");
    assert_eq!(report.claimed, 0);
    assert_eq!(recorder.sent().len(), 1);
}

/// Four dispatchers on one store share a campaign: every customer gets
/// exactly one mail, and nobody waits on a send that is not polled.
pub async fn concurrent_dispatchers_send_each_mail_once(b: Backend) {
    let rows: Vec<NewCustomer> = (0..300)
        .map(|i| NewCustomer {
            name: format!("Pelanggan {i}"),
            email: Some(format!("p{i}@toko.id")),
            tags: vec!["bulk".into()],
            ..NewCustomer::default()
        })
        .collect();
    let customers = b.crm.customers().import(rows).await.expect("import");
    for c in &customers {
        consent(&b, c.id, Channel::Email, true).await;
    }
    let t = email_template(&b).await;
    let id = campaign(
        &b,
        t,
        Target::Filter(AudienceFilter {
            tag: Some("bulk".into()),
            ..AudienceFilter::default()
        }),
    )
    .await;
    send_now(&b, id).await;
    let recorder = Arc::new(Recorder::default());
    let runs: Vec<_> = (0..4)
        .map(|i| {
            // Two small dispatchers and two with the default pipeline (48 in
            // flight, refilled while sends are still settling).
            let d = match i % 2 {
                0 => dispatcher(&b, &recorder),
                _ => Dispatcher::new(
                    b.crm.comms(),
                    DispatchOptions {
                        email_per_second: None,
                        idle_ms: 10,
                        ..DispatchOptions::default()
                    },
                )
                .with_email(recorder.clone()),
            };
            tokio::spawn(async move { d.drain().await })
        })
        .collect();
    for r in runs {
        r.await.expect("join").expect("drain");
    }
    let counts = recorder.count_to();
    assert_eq!(counts.len(), 300, "{}", b.name);
    assert!(counts.values().all(|&n| n == 1), "{}: {counts:?}", b.name);
    let c = b.crm.comms().campaign(id).await.expect("campaign");
    assert_eq!((c.status, c.progress.sent), (CampaignStatus::Done, 300));
}

/// A process that died between claiming and settling: after the lease,
/// its recipients are settled as failed (`interrupted`) and never sent
/// again; the rest of the campaign goes out and it completes.
pub async fn interrupted_claims_are_not_sent_again(b: Backend) {
    let mut ids = Vec::new();
    for i in 0..6 {
        let c = contact(&b, &format!("K{i}"), Some(&format!("k{i}@toko.id")), None).await;
        consent(&b, c.id, Channel::Email, true).await;
        ids.push(c.id);
    }
    let t = email_template(&b).await;
    let id = campaign(&b, t, Target::Tag("promo".into())).await;
    send_now(&b, id).await;
    let now = crm_core::Clock::now(&b.clock);
    let lease = Duration::seconds(300);
    let dead = b
        .store
        .claim_recipients("dead-process", now, now + lease, 2)
        .await
        .expect("claim");
    assert_eq!(dead.len(), 2, "{}", b.name);
    let recorder = Arc::new(Recorder::default());
    let d = dispatcher(&b, &recorder);
    d.drain().await.expect("drain");
    assert_eq!(recorder.sent().len(), 4, "the live claims go out");
    let c = b.crm.comms().campaign(id).await.expect("campaign");
    assert_eq!(c.status, CampaignStatus::Sending, "two claims still held");
    b.clock.advance(lease + Duration::seconds(1));
    let report = d.drain().await.expect("drain");
    assert_eq!(report.interrupted, 2, "{}", b.name);
    assert_eq!(recorder.sent().len(), 4, "never sent twice");
    let c = b.crm.comms().campaign(id).await.expect("campaign");
    assert_eq!(
        (c.status, c.progress.sent, c.progress.failed),
        (CampaignStatus::Done, 4, 2)
    );
    let log = b
        .crm
        .comms()
        .communications(CommunicationQuery::of(dead[0].customer_id))
        .await
        .expect("log");
    assert_eq!(log[0].reason.as_deref(), Some(reasons::INTERRUPTED));
    // The dead process's late settle is refused.
    let late = b
        .store
        .settle_recipient(
            dead[0].id,
            "dead-process",
            crm_core::comms::RecipientOutcome::Final(log[0].clone()),
            now,
        )
        .await
        .expect("settle");
    assert!(!late, "{}", b.name);
}

/// A transient failure is retried after a backoff that doubles; a
/// permanent one fails at once; each attempt is logged.
pub async fn failed_sends_are_retried_with_backoff(b: Backend) {
    let flaky = contact(&b, "Flaky", Some("flaky@toko.id"), None).await;
    let bad = contact(&b, "Bad", Some("bad@toko.id"), None).await;
    for c in [&flaky, &bad] {
        consent(&b, c.id, Channel::Email, true).await;
    }
    let recorder = Arc::new(Recorder::default());
    recorder.fail("flaky@toko.id", 2, false);
    recorder.fail("bad@toko.id", 1, true);
    let t = email_template(&b).await;
    let id = campaign(&b, t, Target::Tag("promo".into())).await;
    send_now(&b, id).await;
    let d = dispatcher(&b, &recorder);
    let r = d.drain().await.expect("drain");
    assert_eq!(
        (r.retried, r.failed, r.sent),
        (1, 1, 0),
        "{}: {r:?}",
        b.name
    );
    // Not due yet: 30 s after the first failure.
    b.clock.advance(Duration::seconds(29));
    assert_eq!(d.drain().await.expect("drain").claimed, 0);
    b.clock.advance(Duration::seconds(2));
    assert_eq!(d.drain().await.expect("drain").retried, 1);
    // The second retry waits twice as long.
    b.clock.advance(Duration::seconds(31));
    assert_eq!(d.drain().await.expect("drain").claimed, 0);
    b.clock.advance(Duration::seconds(30));
    assert_eq!(d.drain().await.expect("drain").sent, 1);
    let c = b.crm.comms().campaign(id).await.expect("campaign");
    assert_eq!(
        (c.status, c.progress.sent, c.progress.failed),
        (CampaignStatus::Done, 1, 1)
    );
    let log = b
        .crm
        .comms()
        .communications(CommunicationQuery::of(flaky.id))
        .await
        .expect("log");
    let statuses: Vec<_> = log.iter().map(|l| l.status).collect();
    assert_eq!(
        statuses,
        [
            CommunicationStatus::Sent,
            CommunicationStatus::Failed,
            CommunicationStatus::Failed
        ],
        "{}",
        b.name
    );
}

/// SMS waits for the end of quiet hours (21:00-08:00 Jakarta), or is
/// skipped when the campaign says so; email is not held.
pub async fn sms_respects_quiet_hours(b: Backend) {
    let c = contact(&b, "Sari", None, Some("0812-3333-4444")).await;
    consent(&b, c.id, Channel::Sms, true).await;
    // 15:00 UTC = 22:00 in Jakarta.
    let evening = Utc
        .with_ymd_and_hms(2026, 1, 15, 15, 0, 0)
        .single()
        .expect("time");
    b.clock.set(evening);
    let t = b
        .crm
        .comms()
        .create_template(NewTemplate {
            name: "SMS".into(),
            channel: Channel::Sms,
            locale: Locale::En,
            subject: None,
            text: "Hi {customer_name}, you have {loyalty_points} points".into(),
            html: None,
        })
        .await
        .expect("template")
        .id;
    let deferred = campaign(&b, t, Target::Tag("promo".into())).await;
    let skipped = b
        .crm
        .comms()
        .create_campaign(NewCampaign {
            name: "Flash sale".into(),
            template_id: t,
            target: Target::Tag("promo".into()),
            quiet_hours: QuietHoursPolicy::Skip,
        })
        .await
        .expect("campaign")
        .id;
    send_now(&b, deferred).await;
    send_now(&b, skipped).await;
    let recorder = Arc::new(Recorder::default());
    let d = dispatcher(&b, &recorder);
    let r = d.drain().await.expect("drain");
    assert_eq!(
        (r.deferred, r.skipped, r.sent),
        (1, 1, 0),
        "{}: {r:?}",
        b.name
    );
    // 00:59 UTC = 07:59 in Jakarta: still quiet.
    b.clock.set(evening + Duration::minutes(9 * 60 + 59));
    assert_eq!(d.drain().await.expect("drain").claimed, 0);
    b.clock.set(evening + Duration::hours(10));
    assert_eq!(d.drain().await.expect("drain").sent, 1);
    let sent = recorder.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, "+6281233334444");
    assert_eq!(sent[0].1, "Hi Sari, you have 0 points");
    let log = b
        .crm
        .comms()
        .communications(CommunicationQuery::of(c.id))
        .await
        .expect("log");
    assert!(
        log.iter()
            .any(|l| l.reason.as_deref() == Some(reasons::QUIET_HOURS)),
        "{}: {log:?}",
        b.name
    );
}

/// Consent is an append-only history; the signed unsubscribe link opts the
/// customer out once (a second click answers the same record), a forged
/// link is refused, and the next campaign skips the customer.
pub async fn unsubscribe_links_opt_out_once(b: Backend) {
    let c = contact(&b, "Tono", Some("tono@toko.id"), None).await;
    consent(&b, c.id, Channel::Email, true).await;
    consent(&b, c.id, Channel::Sms, true).await;
    let comms = b.crm.comms();
    let url = comms
        .unsubscribe_url(c.id, Channel::Email, Some(9))
        .await
        .expect("url");
    let token = url.split("token=").nth(1).expect("token").to_owned();
    let first = comms.unsubscribe(&token).await.expect("unsubscribe");
    assert!(!first.granted);
    assert_eq!(first.source, "unsubscribe_link:campaign 9");
    let second = comms.unsubscribe(&token).await.expect("again");
    assert_eq!(second.id, first.id, "{}: one opt-out", b.name);
    let forged = token.replacen(&format!("{}.", c.id.0), "999.", 1);
    let err = comms.unsubscribe(&forged).await.expect_err("forged");
    assert_eq!(err.kind(), ErrorKind::Validation);
    let now = comms.consent(c.id).await.expect("consent");
    assert_eq!((now.email, now.sms, now.history.len()), (false, true, 3));
    let t = email_template(&b).await;
    let id = campaign(&b, t, Target::Tag("promo".into())).await;
    send_now(&b, id).await;
    let recorder = Arc::new(Recorder::default());
    dispatcher(&b, &recorder).drain().await.expect("drain");
    assert!(recorder.sent().is_empty(), "{}", b.name);
    let err = comms
        .set_consent(ConsentChange {
            customer_id: CustomerId(987_654),
            channel: Channel::Email,
            granted: true,
            source: "till".into(),
        })
        .await
        .expect_err("unknown customer");
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

/// Templates: an unknown placeholder is refused when saved; a preview
/// renders for one customer and sends nothing; campaigns check their target.
pub async fn templates_and_campaigns_are_checked_when_saved(b: Backend) {
    let comms = b.crm.comms();
    let err = comms
        .create_template(NewTemplate {
            name: "Bad".into(),
            channel: Channel::Email,
            locale: Locale::En,
            subject: Some("Hi {first_name}".into()),
            text: "x".into(),
            html: None,
        })
        .await
        .expect_err("unknown placeholder");
    assert_eq!(err.field_errors()[0].rule, "placeholder");
    assert!(comms.templates().await.expect("templates").is_empty());
    let c = contact(&b, "<script>x</script>", Some("x@toko.id"), None).await;
    let t = email_template(&b).await;
    let r = comms
        .preview(Preview {
            template_id: t,
            customer_id: c.id,
        })
        .await
        .expect("preview");
    assert_eq!(r.subject.as_deref(), Some("Poin Anda, <script>x</script>"));
    assert!(
        r.html
            .as_deref()
            .is_some_and(|h| h.contains("&lt;script&gt;x&lt;/script&gt;")),
        "{r:?}"
    );
    let err = comms
        .create_campaign(NewCampaign {
            name: "".into(),
            template_id: 999,
            target: Target::Segment("VIP".into()),
            quiet_hours: QuietHoursPolicy::Defer,
        })
        .await
        .expect_err("bad campaign");
    let fields: Vec<_> = err
        .field_errors()
        .iter()
        .map(|f| f.field.as_str())
        .collect();
    assert_eq!(
        fields,
        ["name", "target.segment", "template_id"],
        "{}",
        b.name
    );
    let scheduled = campaign(&b, t, Target::Segment("CHAMPION".into())).await;
    let at = crm_core::Clock::now(&b.clock) + Duration::hours(1);
    let c = comms
        .send_campaign(SendCampaign {
            campaign_id: scheduled,
            at: Some(at),
        })
        .await
        .expect("schedule");
    assert_eq!(c.status, CampaignStatus::Scheduled);
    let recorder = Arc::new(Recorder::default());
    let d = dispatcher(&b, &recorder);
    assert_eq!(d.drain().await.expect("drain").started, 0);
    b.clock.advance(Duration::hours(1));
    assert_eq!(d.drain().await.expect("drain").started, 1, "{}", b.name);
    let c = comms.campaign(scheduled).await.expect("campaign");
    assert_eq!(
        c.status,
        CampaignStatus::Done,
        "no champions yet: done at once"
    );
}
