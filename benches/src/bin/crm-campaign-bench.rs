//! Campaign throughput as a user sees it: the release `crm-server` sends a
//! 10,000-recipient email campaign through lettre to an SMTP sink (in this
//! process, mailin-embedded), and we measure mails per second (from the
//! send request to the campaign being `done`) and the server's resident
//! memory (VmRSS sampled during the run, VmHWM at the end).
//!
//! ```sh
//! cargo build --release -p crm-server -p crm-benches --bin crm-campaign-bench
//! ./target/release/crm-campaign-bench                      # SQLite
//! CRM_BENCH_MYSQL_URL=mysql://crm:crm@127.0.0.1:3306/x ./target/release/crm-campaign-bench
//! ```
//!
//! Settings: `RECIPIENTS` (10000), `RUNS` (3, one campaign each on the same
//! customers), `CRM_MAIL_PER_SECOND` passed to the server (default `0`: no
//! rate limit, to measure capacity), `CRM_SERVER_BIN` (default: beside this
//! binary).

use std::collections::HashSet;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crm_core::comms::{Channel, ConsentChange};
use crm_core::{Crm, NewCustomer};
use mailin_embedded::response::OK;
use mailin_embedded::{Handler, Response, Server, SslConfig};
use serde_json::{Value, json};

const ADMIN: &str = "bench@campaign.test";
const PASSWORD: &str = "campaign-bench-password";

/// Counts mails and distinct recipients.
#[derive(Clone, Default)]
struct Sink {
    mails: Arc<AtomicU64>,
    to: Arc<Mutex<HashSet<String>>>,
    current: Vec<String>,
}

impl Handler for Sink {
    fn data_start(&mut self, _: &str, _: &str, _: bool, to: &[String]) -> Response {
        self.current = to.to_vec();
        OK
    }

    fn data_end(&mut self) -> Response {
        self.mails.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut seen) = self.to.lock() {
            seen.extend(self.current.drain(..));
        }
        OK
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(18_080)
}

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `VmRSS` and `VmHWM` of a process, in MiB.
fn memory(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n == 0 {
        return 0.0;
    }
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

struct Api {
    base: String,
    auth: String,
    agent: ureq::Agent,
}

impl Api {
    fn call(&self, method: &str, path: &str, body: Value) -> Result<Value, String> {
        let url = format!("{}{path}", self.base);
        let mut res = if method == "GET" {
            self.agent
                .get(&url)
                .header("authorization", &self.auth)
                .call()
        } else {
            self.agent
                .post(&url)
                .header("authorization", &self.auth)
                .send_json(body)
        }
        .map_err(|e| format!("{method} {path}: {e}"))?;
        let v: Value = res.body_mut().read_json().map_err(|e| e.to_string())?;
        if v["success"] != true {
            return Err(format!("{method} {path}: {v}"));
        }
        Ok(v["data"].clone())
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let recipients: usize = std::env::var("RECIPIENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let runs: usize = std::env::var("RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let rate = std::env::var("CRM_MAIL_PER_SECOND").unwrap_or_else(|_| "0".into());
    let server_bin = std::env::var("CRM_SERVER_BIN")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| {
            std::env::current_exe()
                .ok()
                .and_then(|p| p.parent().map(|d| d.join("crm-server")))
                .unwrap_or_else(|| "target/release/crm-server".into())
        });

    // The sink.
    let sink = Sink::default();
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let smtp_port = listener.local_addr()?.port();
    let mut server = Server::new(sink.clone());
    server
        .with_name("sink.bench")
        .with_ssl(SslConfig::None)
        .map_err(|e| e.to_string())?
        .with_num_threads(64)
        .with_tcp_listener(listener);
    std::thread::spawn(move || {
        let _ = server.serve();
    });

    // The database and its customers.
    let (url, backend, cleanup) = match std::env::var("CRM_BENCH_MYSQL_URL")
        .ok()
        .filter(|u| !u.is_empty())
    {
        Some(server) => {
            let db = format!("crm_campaign_bench_{}", std::process::id());
            crm_sqlx::mysql::drop_database(&server, &db).await?;
            crm_sqlx::mysql::create_database(&server, &db).await?;
            let url = crm_sqlx::mysql::database_url(&server, &db)?;
            (url, "MariaDB", crm_benches::Cleanup::MySql(server, db))
        }
        None => {
            let path =
                std::env::temp_dir().join(format!("crm-campaign-bench-{}.db", std::process::id()));
            let url = format!("sqlite://{}", path.display());
            (url, "SQLite", crm_benches::Cleanup::File(path))
        }
    };
    let started = Instant::now();
    let crm = Crm::from_arc(crm_sqlx::connect(&url).await?);
    let mut ids = Vec::with_capacity(recipients);
    for start in (0..recipients).step_by(5000) {
        let rows: Vec<NewCustomer> = (start..(start + 5000).min(recipients))
            .map(|i| NewCustomer {
                name: format!("Pelanggan {i}"),
                email: Some(format!("c{i}@bench.test")),
                tags: vec!["bench".into()],
                ..NewCustomer::default()
            })
            .collect();
        ids.extend(
            crm.customers()
                .import(rows)
                .await?
                .into_iter()
                .map(|c| c.id),
        );
    }
    for id in &ids {
        crm.comms()
            .set_consent(ConsentChange {
                customer_id: *id,
                channel: Channel::Email,
                granted: true,
                source: "import".into(),
            })
            .await?;
    }
    crm.close().await;
    println!(
        "{backend}: {recipients} consenting customers ready in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // The server, as users run it.
    let port = free_port();
    let child = Command::new(&server_bin)
        .arg("--no-demo")
        .env("DATABASE_URL", &url)
        .env("CRM_BIND", format!("127.0.0.1:{port}"))
        .env("CRM_ADMIN_EMAIL", ADMIN)
        .env("CRM_ADMIN_PASSWORD", PASSWORD)
        .env("CRM_JWT_SECRET", "campaign-bench-secret-0123456789abcdef")
        .env("CRM_SMTP_URL", format!("smtp://127.0.0.1:{smtp_port}"))
        .env("CRM_MAIL_FROM", "Bench <bench@sinar.test>")
        .env("CRM_MAIL_PER_SECOND", &rate)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()?;
    let server = Proc(child);
    let pid = server.0.id();
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            return Err("crm-server did not start".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let base = format!("http://127.0.0.1:{port}");
    let agent = ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build(),
    );
    let mut res = agent
        .post(format!("{base}/api/auth/login"))
        .send_json(json!({"email": ADMIN, "password": PASSWORD}))?;
    let login: Value = res.body_mut().read_json()?;
    let token = login["data"]["token"]
        .as_str()
        .ok_or("no token")?
        .to_owned();
    let api = Api {
        base,
        auth: format!("Bearer {token}"),
        agent,
    };
    let template = api.call(
        "POST",
        "/api/templates",
        json!({
            "name": "Bench", "channel": "email", "locale": "id",
            "subject": "Poin Anda, {customer_name}",
            "text": "Halo {customer_name} ({customer_code}), poin Anda {loyalty_points}. Berhenti: {unsubscribe_url}",
            "html": "<p>Halo {customer_name}</p><p>Poin: {loyalty_points}</p><a href=\"{unsubscribe_url}\">Berhenti</a>"
        }),
    )?;
    let mut rates = Vec::new();
    let mut peak_rss = 0.0f64;
    for run in 1..=runs {
        let before = sink.mails.load(Ordering::Relaxed);
        let campaign = api.call(
            "POST",
            "/api/campaigns",
            json!({"name": format!("Bench {run}"), "template_id": template["id"], "target": {"tag": "bench"}}),
        )?;
        let id = campaign["id"].as_i64().ok_or("no campaign id")?;
        let t0 = Instant::now();
        api.call("POST", &format!("/api/campaigns/{id}/send"), json!({}))?;
        let done = loop {
            let c = api.call("GET", &format!("/api/campaigns/{id}"), Value::Null)?;
            peak_rss = peak_rss.max(memory(pid).0);
            if c["status"] == "done" {
                break c;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let secs = t0.elapsed().as_secs_f64();
        let sent = done["progress"]["sent"].as_u64().unwrap_or(0);
        let mails = sink.mails.load(Ordering::Relaxed) - before;
        let rate = sent as f64 / secs;
        println!(
            "run {run}: {sent} sent ({mails} received by the sink) in {secs:.2} s = {rate:.0} mails/s"
        );
        rates.push(rate);
    }
    let (rss, hwm) = memory(pid);
    println!(
        "{backend}: median {:.0} mails/s over {runs} campaigns of {recipients}; server RSS {rss:.0} MiB now, {peak_rss:.0} MiB highest sampled, VmHWM {hwm:.0} MiB; distinct recipients {}",
        median(rates),
        sink.to.lock().map(|s| s.len()).unwrap_or(0)
    );
    drop(server);
    cleanup.run().await;
    Ok(())
}
