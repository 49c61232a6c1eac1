//! Communications over real sockets: the `crm-server` binary sends
//! campaigns through lettre to an SMTP sink inside this test
//! (mailin-embedded), and SMS through the HTTP gateway to a local server.
//!
//! - A campaign to an RFM segment delivers exactly one mail to each
//!   consenting customer of the segment who has an address, every
//!   placeholder filled, with the RFC 8058 headers; nobody else gets one.
//!   The unsubscribe link works without a login, and the next campaign
//!   skips that customer.
//! - The server is SIGKILLed mid-campaign and started again: nobody gets a
//!   second mail, and the campaign completes.
//! - SMS goes through the HTTP gateway (auth header, JSON body), waits for
//!   the end of quiet hours, retries a 503 and gives up on a 400.

use std::collections::HashMap;
use std::io::Write as _;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crm_core::comms::{
    CampaignStatus, Channel, ConsentChange, DispatchOptions, Dispatcher, Locale, NewCampaign,
    NewTemplate, QuietHoursPolicy, SendCampaign, Target,
};
use crm_core::loyalty::NewPurchase;
use crm_core::{Crm, ManualClock, NewCustomer};
use mailin_embedded::response::{NO_MAILBOX, OK};
use mailin_embedded::{Handler, Response, Server, SslConfig};
use serde_json::{Value, json};

const ADMIN: &str = "admin@comms.test";
const PASSWORD: &str = "comms-test-password";

fn shout(msg: &str) {
    let _ = writeln!(std::io::stderr(), "{msg}");
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// One mail as the sink received it.
#[derive(Debug, Clone)]
struct Mail {
    to: Vec<String>,
    raw: String,
}

impl Mail {
    /// The value of a header (unfolded).
    fn header(&self, name: &str) -> Option<String> {
        let head = self.raw.split("\r\n\r\n").next()?;
        let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
        unfolded.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    }

    /// The decoded text of the mail (quoted-printable soft breaks joined).
    fn text(&self) -> String {
        self.raw
            .replace("=\r\n", "")
            .replace("=3D", "=")
            .replace("=20", " ")
    }
}

/// An SMTP sink: accepts everything except addresses starting with
/// `reject`, keeps every mail.
#[derive(Clone, Default)]
struct Sink {
    mails: Arc<Mutex<Vec<Mail>>>,
    to: Vec<String>,
    data: Vec<u8>,
}

impl Handler for Sink {
    fn rcpt(&mut self, to: &str) -> Response {
        if to.starts_with("reject") {
            NO_MAILBOX
        } else {
            OK
        }
    }

    fn data_start(&mut self, _domain: &str, _from: &str, _is8bit: bool, to: &[String]) -> Response {
        self.to = to.to_vec();
        self.data.clear();
        OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        let mail = Mail {
            to: std::mem::take(&mut self.to),
            raw: String::from_utf8_lossy(&self.data).into_owned(),
        };
        self.mails.lock().expect("lock").push(mail);
        OK
    }
}

impl Sink {
    /// Starts the sink on a free port (threads that live as long as the test).
    fn start() -> (Self, u16) {
        let sink = Sink::default();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind sink");
        let port = listener.local_addr().expect("addr").port();
        let mut server = Server::new(sink.clone());
        server
            .with_name("sink.test")
            .with_ssl(SslConfig::None)
            .expect("ssl config")
            .with_num_threads(128)
            .with_tcp_listener(listener);
        std::thread::spawn(move || {
            let _ = server.serve();
        });
        (sink, port)
    }

    fn mails(&self) -> Vec<Mail> {
        self.mails.lock().expect("lock").clone()
    }

    /// Mails per recipient address.
    fn per_address(&self) -> HashMap<String, usize> {
        let mut out = HashMap::new();
        for m in self.mails() {
            for to in m.to {
                *out.entry(to.trim_matches(['<', '>']).to_owned())
                    .or_default() += 1;
            }
        }
        out
    }
}

struct ServerProc(Child);

impl ServerProc {
    fn kill9(&mut self) {
        let sent = Command::new("kill")
            .arg("-KILL")
            .arg(self.0.id().to_string())
            .status()
            .expect("kill");
        assert!(sent.success());
        let _ = self.0.wait();
    }
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_server(db: &str, port: u16, smtp_port: u16, extra: &[(&str, &str)]) -> ServerProc {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_crm-server"));
    cmd.arg("--no-demo")
        .env("DATABASE_URL", db)
        .env("CRM_BIND", format!("127.0.0.1:{port}"))
        .env("CRM_ADMIN_EMAIL", ADMIN)
        .env("CRM_ADMIN_PASSWORD", PASSWORD)
        .env("CRM_JWT_SECRET", "comms-test-secret-0123456789abcdef-xyz")
        .env("CRM_SMTP_URL", format!("smtp://127.0.0.1:{smtp_port}"))
        .env("CRM_MAIL_FROM", "Toko Sinar <promo@sinar.test>")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null());
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let server = ServerProc(cmd.spawn().expect("start crm-server"));
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "crm-server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    server
}

struct Api {
    base: String,
    token: String,
    agent: ureq::Agent,
}

impl Api {
    fn login(base: String) -> Self {
        let agent = ureq::Agent::new_with_config(
            ureq::Agent::config_builder()
                .http_status_as_error(false)
                .build(),
        );
        let mut res = agent
            .post(format!("{base}/api/auth/login"))
            .send_json(json!({"email": ADMIN, "password": PASSWORD}))
            .expect("login");
        let body: Value = res.body_mut().read_json().expect("json");
        let token = body["data"]["token"].as_str().expect("token").to_owned();
        Self { base, token, agent }
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("{}{path}", self.base);
        let auth = format!("Bearer {}", self.token);
        let res = match (method, body) {
            ("GET", _) => self.agent.get(&url).header("authorization", &auth).call(),
            ("PUT", Some(b)) => self
                .agent
                .put(&url)
                .header("authorization", &auth)
                .send_json(b),
            (_, Some(b)) => self
                .agent
                .post(&url)
                .header("authorization", &auth)
                .send_json(b),
            (_, None) => self
                .agent
                .post(&url)
                .header("authorization", &auth)
                .send_empty(),
        };
        let mut res = res.expect("request");
        let status = res.status().as_u16();
        let body = res.body_mut().read_json().unwrap_or(Value::Null);
        (status, body)
    }

    fn campaign(&self, id: i64) -> Value {
        let (status, body) = self.call("GET", &format!("/api/campaigns/{id}"), None);
        assert_eq!(status, 200, "{body}");
        body["data"].clone()
    }

    fn wait_done(&self, id: i64, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let c = self.campaign(id);
            if c["status"] == "done" {
                return c;
            }
            assert!(Instant::now() < deadline, "campaign not done: {c}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn temp_db() -> (String, std::path::PathBuf) {
    let path = std::env::temp_dir().join(format!("crm-comms-{}.db", uuid::Uuid::new_v4().simple()));
    (format!("sqlite://{}", path.display()), path)
}

fn remove_db(path: &std::path::Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.to_path_buf().into_os_string();
        p.push(suffix);
        let _ = std::fs::remove_file(p);
    }
}

/// Customers with purchases spread so RFM segments differ; every third has
/// no email consent, every fifth no email.
async fn seed(crm: &Crm, n: usize) -> Vec<(crm_core::Customer, bool)> {
    let now = crm.clock().now();
    let rows: Vec<NewCustomer> = (0..n)
        .map(|i| NewCustomer {
            name: format!("Pelanggan <{i}> & Co"),
            email: (i % 5 != 4).then(|| format!("p{i}@toko.test")),
            phone: Some(format!("0812{:08}", i)),
            ..NewCustomer::default()
        })
        .collect();
    let customers = crm.customers().import(rows).await.expect("import");
    let mut out = Vec::new();
    let mut purchases = Vec::new();
    for (i, c) in customers.into_iter().enumerate() {
        let consented = i % 3 != 2;
        if consented {
            crm.comms()
                .set_consent(ConsentChange {
                    customer_id: c.id,
                    channel: Channel::Email,
                    granted: true,
                    source: "till".into(),
                })
                .await
                .expect("consent");
        }
        for k in 0..(i % 4 + 1) {
            purchases.push(NewPurchase {
                customer_id: c.id,
                store_id: "S1".into(),
                receipt_id: format!("R{i}-{k}"),
                purchase_date: now - chrono::Duration::days(((i * 37 + k * 11) % 400) as i64 + 1),
                total_amount: rust_decimal::Decimal::from(50_000 + (i as i64 % 7) * 125_000),
                currency: Some("IDR".into()),
            });
        }
        out.push((c, consented));
    }
    crm.loyalty()
        .import_history(purchases)
        .await
        .expect("history");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_segment_campaign_reaches_each_consenting_customer_once_and_unsubscribe_works() {
    let (sink, smtp_port) = Sink::start();
    let (db, path) = temp_db();
    let crm = Crm::from_arc(crm_sqlx::connect(&db).await.expect("db"));
    let customers = seed(&crm, 60).await;
    // The expected audience: the segment of the first customer.
    let mut segment_of = HashMap::new();
    for (c, _) in &customers {
        let a = crm.analytics().customer(c.id).await.expect("analytics");
        segment_of.insert(c.id, a.segment);
    }
    let segment = segment_of[&customers[0].0.id];
    let expected: Vec<String> = customers
        .iter()
        .filter(|(c, consented)| *consented && segment_of[&c.id] == segment && c.email.is_some())
        .filter_map(|(c, _)| c.email.clone())
        .collect();
    assert!(
        expected.len() >= 2,
        "a segment with recipients: {expected:?}"
    );
    crm.close().await;

    let port = free_port();
    let _server = start_server(&db, port, smtp_port, &[]);
    let api = Api::login(format!("http://127.0.0.1:{port}"));
    let (status, body) = api.call(
        "POST",
        "/api/templates",
        Some(json!({
            "name": "Bad", "channel": "email", "locale": "id",
            "subject": "Halo {nama}", "text": "x"
        })),
    );
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["fields"][0]["rule"], "placeholder");
    let (status, body) = api.call(
        "POST",
        "/api/templates",
        Some(json!({
            "name": "Poin Desember", "channel": "email", "locale": "id",
            "subject": "Poin Anda, {customer_name}",
            "text": "Halo {customer_name} ({customer_code}), poin {loyalty_points}, tier {tier}, \
                     kedaluwarsa {points_expiring}. Terakhir {last_purchase} ({last_purchase_amount}). \
                     Berhenti: {unsubscribe_url}",
            "html": "<p>Halo {customer_name}</p><p><a href=\"{unsubscribe_url}\">Berhenti</a></p>"
        })),
    );
    assert_eq!(status, 201, "{body}");
    let template = body["data"]["id"].as_i64().expect("id");
    let (status, preview) = api.call(
        "POST",
        &format!("/api/templates/{template}/preview"),
        Some(json!({"customer_id": customers[0].0.id.0})),
    );
    assert_eq!(status, 200, "{preview}");
    assert!(
        preview["data"]["html"]
            .as_str()
            .is_some_and(|h| h.contains("Pelanggan &lt;0&gt; &amp; Co")),
        "{preview}"
    );
    assert!(sink.mails().is_empty(), "a preview sends nothing");

    let target = serde_json::to_value(segment).expect("segment");
    let (status, body) = api.call(
        "POST",
        "/api/campaigns",
        Some(json!({"name": "Desember", "template_id": template, "target": {"segment": target}})),
    );
    assert_eq!(status, 201, "{body}");
    let campaign = body["data"]["id"].as_i64().expect("id");
    assert_eq!(body["data"]["status"], "draft");
    let (status, body) = api.call("POST", &format!("/api/campaigns/{campaign}/send"), None);
    assert_eq!(status, 202, "{body}");
    let done = api.wait_done(campaign, Duration::from_secs(30));
    assert_eq!(done["progress"]["sent"], expected.len() as u64, "{done}");

    let per = sink.per_address();
    let mut got: Vec<_> = per.keys().cloned().collect();
    got.sort();
    let mut want = expected.clone();
    want.sort();
    assert_eq!(got, want, "exactly the consenting customers of the segment");
    assert!(per.values().all(|&n| n == 1), "{per:?}");
    for mail in sink.mails() {
        let text = mail.text();
        let body = text
            .split("\r\n\r\n")
            .skip(1)
            .collect::<Vec<_>>()
            .join("\n");
        assert!(
            !body.contains("{customer_") && !body.contains("{loyalty"),
            "{body}"
        );
        assert!(body.contains("Rp "), "{body}");
        assert!(
            body.contains("&lt;") && body.contains("&amp;"),
            "HTML escaped: {body}"
        );
        assert_eq!(
            mail.header("List-Unsubscribe-Post").as_deref(),
            Some("List-Unsubscribe=One-Click")
        );
        assert!(mail.header("List-Unsubscribe").is_some());
    }

    // One-click unsubscribe from the first mail, without a login.
    let first = &sink.mails()[0];
    let unsubscribed = first.to[0].trim_matches(['<', '>']).to_owned();
    let link = first
        .header("List-Unsubscribe")
        .expect("header")
        .trim_matches(['<', '>'])
        .to_owned();
    assert!(
        link.starts_with(&format!("http://127.0.0.1:{port}/unsubscribe?token=")),
        "{link}"
    );
    let mut res = ureq::get(&link).call().expect("unsubscribe");
    assert_eq!(res.status().as_u16(), 200);
    assert!(
        res.body_mut()
            .read_to_string()
            .expect("page")
            .contains("Unsubscribed")
    );
    let forged = link.replace("token=", "token=1");
    let res = ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build(),
    )
    .get(&forged)
    .call()
    .expect("forged");
    assert_eq!(res.status().as_u16(), 422);

    let (status, body) = api.call(
        "POST",
        "/api/campaigns",
        Some(json!({"name": "Januari", "template_id": template, "target": {"segment": target}})),
    );
    assert_eq!(status, 201, "{body}");
    let second = body["data"]["id"].as_i64().expect("id");
    api.call("POST", &format!("/api/campaigns/{second}/send"), None);
    let done = api.wait_done(second, Duration::from_secs(30));
    assert_eq!(
        done["progress"]["sent"],
        (expected.len() - 1) as u64,
        "{done}"
    );
    let per = sink.per_address();
    assert_eq!(per[&unsubscribed], 1, "no mail after unsubscribing");
    assert!(
        per.iter()
            .filter(|(a, _)| **a != unsubscribed)
            .all(|(_, &n)| n == 2),
        "{per:?}"
    );
    // The log of the unsubscribed customer: one sent, one skipped.
    let id = customers
        .iter()
        .find(|(c, _)| c.email.as_deref() == Some(unsubscribed.as_str()))
        .map(|(c, _)| c.id.0)
        .expect("customer");
    let (_, log) = api.call("GET", &format!("/api/customers/{id}/communications"), None);
    let statuses: Vec<_> = log["data"]
        .as_array()
        .expect("log")
        .iter()
        .map(|l| (l["status"].clone(), l["reason"].clone()))
        .collect();
    assert_eq!(
        statuses,
        [
            (json!("skipped"), json!("no_consent")),
            (json!("sent"), Value::Null)
        ],
        "{log}"
    );
    remove_db(&path);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_campaign_sends_nobody_twice() {
    let (sink, smtp_port) = Sink::start();
    let (db, path) = temp_db();
    let crm = Crm::from_arc(crm_sqlx::connect(&db).await.expect("db"));
    let rows: Vec<NewCustomer> = (0..1500)
        .map(|i| NewCustomer {
            name: format!("K{i}"),
            email: Some(format!("k{i}@toko.test")),
            tags: vec!["kill".into()],
            ..NewCustomer::default()
        })
        .collect();
    for c in crm.customers().import(rows).await.expect("import") {
        crm.comms()
            .set_consent(ConsentChange {
                customer_id: c.id,
                channel: Channel::Email,
                granted: true,
                source: "import".into(),
            })
            .await
            .expect("consent");
    }
    crm.close().await;
    // 300 mails a second: the campaign takes about 5 s.
    let slow = [
        ("CRM_MAIL_PER_SECOND", "300"),
        ("CRM_CLAIM_LEASE_SECS", "10"),
    ];
    let port = free_port();
    let mut server = start_server(&db, port, smtp_port, &slow);
    let api = Api::login(format!("http://127.0.0.1:{port}"));
    let (_, body) = api.call(
        "POST",
        "/api/templates",
        Some(json!({"name": "T", "channel": "email", "locale": "en",
                    "subject": "Hi {customer_name}", "text": "Hi {customer_name}"})),
    );
    let template = body["data"]["id"].as_i64().expect("template");
    let (_, body) = api.call(
        "POST",
        "/api/campaigns",
        Some(json!({"name": "Kill", "template_id": template, "target": {"tag": "kill"}})),
    );
    let campaign = body["data"]["id"].as_i64().expect("campaign");
    let (status, _) = api.call("POST", &format!("/api/campaigns/{campaign}/send"), None);
    assert_eq!(status, 202);
    // Kill while recipients are claimed (in flight), a few hundred mails in.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let p = api.campaign(campaign)["progress"].clone();
        if p["sent"].as_u64().unwrap_or(0) >= 300 && p["sending"].as_u64().unwrap_or(0) > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the campaign did not start sending: {p}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    server.kill9();
    let at_kill = sink.mails().len();
    shout(&format!("killed the server after {at_kill} mails"));
    assert!(at_kill < 1500, "killed mid-campaign");

    let port = free_port();
    let _server = start_server(&db, port, smtp_port, &[("CRM_CLAIM_LEASE_SECS", "10")]);
    let api = Api::login(format!("http://127.0.0.1:{port}"));
    let done = api.wait_done(campaign, Duration::from_secs(60));
    let per = sink.per_address();
    assert!(per.values().all(|&n| n == 1), "someone got two mails");
    let p = &done["progress"];
    let (sent, failed) = (
        p["sent"].as_u64().expect("sent"),
        p["failed"].as_u64().expect("failed"),
    );
    assert_eq!(p["recipients"], 1500);
    assert_eq!(sent + failed, 1500, "{done}");
    // Only the claims in flight at the kill are interrupted (at most the
    // dispatcher's concurrency, 48); each of them was mailed at most once.
    assert!(failed <= 48, "{done}");
    assert!(
        per.len() as u64 >= sent,
        "every sent recipient has its mail"
    );
    shout(&format!("after restart: {sent} sent, {failed} interrupted"));
    remove_db(&path);
}

/// A local SMS gateway: records requests; answers by the phone number's
/// last digit (`3`: 503 once, `4`: 400), else 200 with an id.
async fn gateway() -> (String, Arc<Mutex<Vec<(String, Value)>>>) {
    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode};
    type Seen = Arc<Mutex<Vec<(String, Value)>>>;
    async fn handle(
        State(seen): State<Seen>,
        headers: HeaderMap,
        axum::Json(body): axum::Json<Value>,
    ) -> (StatusCode, axum::Json<Value>) {
        let auth = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let to = body["msisdn"].as_str().unwrap_or_default().to_owned();
        let mut seen = seen.lock().expect("lock");
        let tries = seen
            .iter()
            .filter(|(_, b)| b["msisdn"] == to.as_str())
            .count();
        seen.push((auth, body.clone()));
        match to.chars().last() {
            Some('3') if tries == 0 => (StatusCode::SERVICE_UNAVAILABLE, axum::Json(json!({}))),
            Some('4') => (
                StatusCode::BAD_REQUEST,
                axum::Json(json!({"error": "bad number"})),
            ),
            _ => (
                StatusCode::OK,
                axum::Json(json!({"message_id": format!("gw-{}", seen.len())})),
            ),
        }
    }
    let seen: Seen = Arc::default();
    let app = axum::Router::new()
        .route("/sms", axum::routing::post(handle))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/sms", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sms_goes_through_the_http_gateway_after_quiet_hours() {
    let (url, seen) = gateway().await;
    let (db, path) = temp_db();
    // 14:30 UTC = 21:30 in Jakarta: quiet.
    let clock = ManualClock::new(
        chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 3, 2, 14, 30, 0)
            .single()
            .expect("time"),
    );
    let crm = Crm::from_arc(crm_sqlx::connect(&db).await.expect("db")).with_clock(clock.clone());
    let mut ids = Vec::new();
    for (i, phone) in ["0812-0000-0001", "0812-0000-0003", "0812-0000-0004"]
        .iter()
        .enumerate()
    {
        let c = crm
            .customers()
            .create(NewCustomer {
                name: format!("Sms {i}"),
                phone: Some((*phone).into()),
                tags: vec!["sms".into()],
                ..NewCustomer::default()
            })
            .await
            .expect("customer");
        crm.comms()
            .set_consent(ConsentChange {
                customer_id: c.id,
                channel: Channel::Sms,
                granted: true,
                source: "till".into(),
            })
            .await
            .expect("consent");
        ids.push(c.id);
    }
    let template = crm
        .comms()
        .create_template(NewTemplate {
            name: "SMS".into(),
            channel: Channel::Sms,
            locale: Locale::Id,
            subject: None,
            text: "Halo {customer_name}, poin Anda {loyalty_points}. \"Promo\" hari ini!".into(),
            html: None,
        })
        .await
        .expect("template");
    let campaign = crm
        .comms()
        .create_campaign(NewCampaign {
            name: "SMS".into(),
            template_id: template.id,
            target: Target::Tag("sms".into()),
            quiet_hours: QuietHoursPolicy::Defer,
        })
        .await
        .expect("campaign");
    crm.comms()
        .send_campaign(SendCampaign {
            campaign_id: campaign.id,
            at: None,
        })
        .await
        .expect("send");
    let transports = crm_comms::Transports::from_vars(|k| match k {
        "CRM_SMS_PROVIDER" => Some("http".into()),
        "CRM_SMS_URL" => Some(url.clone()),
        "CRM_SMS_AUTH_HEADER" => Some("Authorization: Bearer gw-key".into()),
        "CRM_SMS_BODY" => {
            Some(r#"{"msisdn":"{to}","message":"{text}","ref":"{reference}"}"#.into())
        }
        "CRM_SMS_ID_FIELD" => Some("message_id".into()),
        _ => None,
    })
    .expect("transports");
    let dispatcher = transports.attach(Dispatcher::new(crm.comms(), DispatchOptions::default()));
    let r = dispatcher.drain().await.expect("drain");
    assert_eq!(r.deferred, 3, "{r:?}");
    assert!(
        seen.lock().expect("lock").is_empty(),
        "nothing sent in quiet hours"
    );
    // 08:00 in Jakarta.
    clock.advance(chrono::Duration::minutes(10 * 60 + 30));
    let r = dispatcher.drain().await.expect("drain");
    assert_eq!((r.sent, r.retried, r.failed), (1, 1, 1), "{r:?}");
    clock.advance(chrono::Duration::seconds(31));
    let r = dispatcher.drain().await.expect("drain");
    assert_eq!(r.sent, 1, "the 503 was retried: {r:?}");
    let c = crm.comms().campaign(campaign.id).await.expect("campaign");
    assert_eq!(c.status, CampaignStatus::Done);
    assert_eq!((c.progress.sent, c.progress.failed), (2, 1));
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), 4, "{seen:?}");
    assert!(seen.iter().all(|(auth, _)| auth == "Bearer gw-key"));
    let first = seen
        .iter()
        .find(|(_, b)| b["msisdn"] == "+6281200000001")
        .expect("the first customer's SMS");
    assert_eq!(
        first.1["message"],
        "Halo Sms 0, poin Anda 0. \"Promo\" hari ini!"
    );
    assert!(
        first.1["ref"]
            .as_str()
            .is_some_and(|r| r.starts_with(&format!("{}.", campaign.id)))
    );
    let log = crm
        .comms()
        .communications(crm_core::comms::CommunicationQuery::of(ids[0]))
        .await
        .expect("log");
    assert!(
        log[0]
            .provider_message_id
            .as_deref()
            .is_some_and(|id| id.starts_with("gw-")),
        "{log:?}"
    );
    let failed = crm
        .comms()
        .communications(crm_core::comms::CommunicationQuery::of(ids[2]))
        .await
        .expect("log");
    assert!(
        failed[0]
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("400")),
        "{failed:?}"
    );
    crm.close().await;
    remove_db(&path);
}
