//! MariaDB restarts under writes, over real sockets.
//!
//! The test starts its own `mariadbd` on a free port and a scratch data
//! directory (never the shared server: other tests use it at the same
//! time), serves the router on a TCP port, and runs concurrent writers
//! (customers and purchases, a till retrying a refused receipt with the same
//! receipt id) and a `/health` poller for the whole run. The database is
//! stopped twice, with SIGTERM (a clean shutdown) and with SIGKILL (a
//! crash), kept down about 3 s and started again on the same data and port.
//!
//! - While it is down, every answer is 503 `unavailable` with `Retry-After`
//!   (no 500, no other status) within the pool's acquire timeout plus 1 s,
//!   and `/health` answers 503 saying the database does not answer.
//! - Writes succeed again within 5 s of the database accepting connections.
//! - Every write answered 2xx is in the database afterwards, and every
//!   balance agrees with its ledger.
//!
//! Without `mariadbd` and `mariadb-install-db` the test says loudly that it
//! skipped; with `CI=true` that is a failure.

use std::collections::HashSet;
use std::io::Write as _;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const ADMIN: &str = "admin@faults.test";
const PASSWORD: &str = "faults-password-1";
const SECRET: &[u8] = b"faults-test-secret-0123456789abcdef";
/// How long a request waits for a pooled connection.
const ACQUIRE: Duration = Duration::from_secs(1);
/// How long the database stays down.
const DOWN: Duration = Duration::from_secs(3);
/// The longest a write may keep failing once the database accepts connections.
const RECOVERY: Duration = Duration::from_secs(5);
const WRITERS: usize = 8;

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

fn shout(msg: &str) {
    let _ = writeln!(std::io::stderr(), "{msg}");
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// The first of `names` found on `PATH` or in the usual system directories.
fn find_binary(names: &[&str]) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend(["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"].map(PathBuf::from));
    names
        .iter()
        .flat_map(|name| dirs.iter().map(move |d| d.join(name)))
        .find(|p| p.is_file())
}

/// The user the test runs as (`mariadbd` needs `--user=root` under root).
fn current_user() -> String {
    Command::new("id")
        .arg("-un")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|u| !u.is_empty())
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "root".into())
}

/// A private MariaDB server: its own data directory, socket and port;
/// killed and its files removed on drop.
struct Mariadb {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    user: String,
    child: Option<Child>,
}

/// Options given both to `mariadb-install-db` and `mariadbd`: a small
/// server (the redo log size must stay the same across restarts).
const SMALL: [&str; 3] = [
    "--innodb-buffer-pool-size=32M",
    "--innodb-log-file-size=16M",
    "--skip-name-resolve",
];

impl Mariadb {
    /// Initialises a data directory; `None` when the binaries are missing.
    fn install() -> Option<Self> {
        let bin = find_binary(&["mariadbd", "mysqld"])?;
        let install = find_binary(&["mariadb-install-db", "mysql_install_db"])?;
        let dir = std::env::temp_dir().join(format!("crm-fault-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let user = current_user();
        let out = Command::new(install)
            .arg("--no-defaults")
            .arg("--auth-root-authentication-method=normal")
            .arg("--skip-test-db")
            .arg(format!("--datadir={}", dir.join("data").display()))
            .arg(format!("--user={user}"))
            .args(SMALL)
            .output()
            .expect("run mariadb-install-db");
        assert!(
            out.status.success(),
            "mariadb-install-db failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Some(Self {
            bin,
            dir,
            port: free_port(),
            user,
            child: None,
        })
    }

    /// Starts the server on the data directory and port (again after a stop).
    fn start(&mut self) {
        let child = Command::new(&self.bin)
            .arg("--no-defaults")
            .arg(format!("--user={}", self.user))
            .arg(format!("--datadir={}", self.dir.join("data").display()))
            .arg(format!(
                "--socket={}",
                self.dir.join("mysqld.sock").display()
            ))
            .arg(format!(
                "--pid-file={}",
                self.dir.join("mysqld.pid").display()
            ))
            .arg(format!(
                "--log-error={}",
                self.dir.join("error.log").display()
            ))
            .arg(format!("--port={}", self.port))
            .arg("--bind-address=127.0.0.1")
            .arg("--skip-grant-tables")
            .args(SMALL)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mariadbd");
        self.child = Some(child);
    }

    /// `mysql://` URL of `database` on this server (no password: grant
    /// tables are skipped).
    fn url(&self, database: &str) -> String {
        format!("mysql://root@127.0.0.1:{}/{database}", self.port)
    }

    /// Waits until a connection succeeds and answers a query; the instant it did.
    async fn ready(&mut self) -> Instant {
        use sqlx::Connection as _;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(mut conn) = sqlx::MySqlConnection::connect(&self.url("")).await
                && sqlx::query("SELECT 1").execute(&mut conn).await.is_ok()
            {
                let at = Instant::now();
                let _ = conn.close().await;
                return at;
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!("mariadbd exited with {status}: {}", self.error_log());
            }
            assert!(
                Instant::now() < deadline,
                "mariadbd did not accept connections: {}",
                self.error_log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the server with `signal` (`TERM` or `KILL`) and waits until it
    /// has exited; the instant it had.
    async fn stop(&mut self, signal: &str) -> Instant {
        let mut child = self.child.take().expect("mariadbd running");
        let sent = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string())
            .status()
            .expect("kill");
        assert!(sent.success(), "kill -{signal} failed");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(_)) = child.try_wait() {
                return Instant::now();
            }
            assert!(Instant::now() < deadline, "mariadbd ignored SIG{signal}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }
}

impl Drop for Mariadb {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Call {
    Customer,
    Purchase,
    Health,
}

/// One answer (status 0: no answer at all).
#[derive(Debug, Clone)]
struct Answer {
    call: Call,
    started: Instant,
    took: Duration,
    status: u16,
    code: Option<String>,
    message: Option<String>,
    retry_after: Option<String>,
}

impl Answer {
    fn ended(&self) -> Instant {
        self.started + self.took
    }

    fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    fn write(&self) -> bool {
        self.call != Call::Health
    }
}

/// What the clients saw and what they were told was stored.
#[derive(Default)]
struct Record {
    answers: Vec<Answer>,
    customers: Vec<i64>,
    receipts: Vec<(String, String)>,
    replays: usize,
}

struct Client {
    base: String,
    agent: ureq::Agent,
    token: String,
}

impl Client {
    fn new(port: u16) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(15)))
            .build()
            .into();
        Self {
            base: format!("http://127.0.0.1:{port}"),
            agent,
            token: String::new(),
        }
    }

    /// One call; the answer and its body.
    fn call(&self, call: Call, path: &str, body: Option<&Value>) -> (Answer, Value) {
        let url = format!("{}{path}", self.base);
        let auth = format!("Bearer {}", self.token);
        let started = Instant::now();
        let result = match body {
            Some(b) => self
                .agent
                .post(&url)
                .header("authorization", &auth)
                .send_json(b),
            None => self.agent.get(&url).header("authorization", &auth).call(),
        };
        let (status, retry_after, body) = match result {
            Ok(mut res) => {
                let retry = res
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .map(String::from);
                let status = res.status().as_u16();
                let body = res.body_mut().read_json::<Value>().unwrap_or(Value::Null);
                (status, retry, body)
            }
            Err(e) => (0, None, json!({ "transport": e.to_string() })),
        };
        let answer = Answer {
            call,
            started,
            took: started.elapsed(),
            status,
            code: body["error"]["code"].as_str().map(String::from),
            message: body["error"]["message"]
                .as_str()
                .or(body["transport"].as_str())
                .map(String::from),
            retry_after,
        };
        (answer, body)
    }
}

/// A till: creates customers and records purchases until told to stop; a
/// purchase refused with 503 is sent again with the same receipt.
fn writer(client: Arc<Client>, n: usize, stop: Arc<AtomicBool>, record: Arc<Mutex<Record>>) {
    let store = format!("F{n}");
    let mut mine: Vec<i64> = Vec::new();
    let mut pending: Option<Value> = None;
    let mut i = 0u64;
    while !stop.load(Ordering::Relaxed) {
        i += 1;
        if pending.is_none() && (mine.is_empty() || i.is_multiple_of(2)) {
            let (answer, body) = client.call(
                Call::Customer,
                "/api/customers",
                Some(&json!({ "name": format!("Fault {n}-{i}") })),
            );
            let mut r = record.lock().expect("record");
            if answer.ok() {
                let id = body["data"]["id"].as_i64().expect("customer id");
                mine.push(id);
                r.customers.push(id);
            }
            r.answers.push(answer);
        } else {
            let sale = pending.take().unwrap_or_else(|| {
                json!({
                    "customer": mine[(i as usize / 2) % mine.len()],
                    "store_id": store,
                    "receipt_id": format!("R{i}"),
                    "total_amount": "125000",
                    "purchase_date": chrono::Utc::now().to_rfc3339(),
                })
            });
            let path = format!("/api/customers/{}/purchases", sale["customer"]);
            let mut body = sale.clone();
            if let Some(o) = body.as_object_mut() {
                o.remove("customer");
            }
            let (answer, answered) = client.call(Call::Purchase, &path, Some(&body));
            let mut r = record.lock().expect("record");
            if answer.ok() {
                let receipt = sale["receipt_id"].as_str().expect("receipt").to_string();
                r.receipts.push((store.clone(), receipt));
                if answered["data"]["replayed"] == json!(true) {
                    r.replays += 1;
                }
            } else if answer.status == 503 {
                pending = Some(sale);
            }
            r.answers.push(answer);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Polls `/health` until told to stop.
fn health_poller(client: Arc<Client>, stop: Arc<AtomicBool>, record: Arc<Mutex<Record>>) {
    while !stop.load(Ordering::Relaxed) {
        let (answer, _) = client.call(Call::Health, "/health", None);
        record.lock().expect("record").answers.push(answer);
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The instants of one stop and restart of the database.
#[derive(Debug, Clone, Copy)]
struct Outage {
    signal: &'static str,
    /// The signal was sent.
    stopping: Instant,
    /// The process had exited.
    down: Instant,
    /// The restart began.
    restart: Instant,
    /// It accepted connections again.
    up: Instant,
    /// The next stop (or the end of the run).
    until: Instant,
}

/// What one outage looked like from the clients.
struct Figures {
    refused_while_down: usize,
    health_down: usize,
    max_down: Duration,
    first_ok: Duration,
    last_refused: Duration,
}

fn since(a: Instant, b: Instant) -> Duration {
    a.saturating_duration_since(b)
}

/// Checks one outage against the answers and returns its figures.
fn check_outage(o: &Outage, answers: &[Answer]) -> Figures {
    // Calls made and answered entirely while the database was down.
    let during: Vec<&Answer> = answers
        .iter()
        .filter(|a| a.started >= o.down && a.ended() <= o.restart)
        .collect();
    let mut figures = Figures {
        refused_while_down: 0,
        health_down: 0,
        max_down: Duration::ZERO,
        first_ok: Duration::ZERO,
        last_refused: Duration::ZERO,
    };
    for a in &during {
        assert_eq!(
            (a.status, a.code.as_deref()),
            (503, Some("unavailable")),
            "while the database was down (SIG{}): {a:?}",
            o.signal
        );
        assert!(
            a.took < ACQUIRE + Duration::from_secs(1),
            "an answer while the database was down took {:?}: {a:?}",
            a.took
        );
        figures.max_down = figures.max_down.max(a.took);
        if a.write() {
            figures.refused_while_down += 1;
        } else {
            figures.health_down += 1;
            let message = a.message.as_deref().unwrap_or_default();
            assert!(message.contains("database"), "{a:?}");
        }
    }
    assert!(
        figures.refused_while_down > 0 && figures.health_down > 0,
        "no write or health check ran while the database was down (SIG{})",
        o.signal
    );
    // After the database accepted connections again, until the next stop:
    // writes succeed within RECOVERY, the last refusal comes within
    // RECOVERY, and only successes follow it.
    let after: Vec<&Answer> = answers
        .iter()
        .filter(|a| a.ended() > o.up && a.ended() < o.until)
        .collect();
    let first_ok = after
        .iter()
        .filter(|a| a.write() && a.ok())
        .map(|a| a.ended())
        .min()
        .expect("a write succeeded after the restart");
    figures.first_ok = since(first_ok, o.up);
    let last_refused = after
        .iter()
        .filter(|a| !a.ok())
        .map(|a| a.ended())
        .max()
        .unwrap_or(o.up);
    figures.last_refused = since(last_refused, o.up);
    let ok_after_last_refusal = after
        .iter()
        .filter(|a| a.write() && a.ok() && a.started > last_refused)
        .count();
    let health_ok = after
        .iter()
        .filter(|a| a.call == Call::Health && a.ok())
        .map(|a| since(a.ended(), o.up))
        .min()
        .expect("/health answered 200 after the restart");
    assert!(
        figures.first_ok < RECOVERY
            && figures.last_refused < RECOVERY
            && health_ok < RECOVERY
            && ok_after_last_refusal > 0,
        "SIG{}: first write ok {:?}, last refusal {:?} ({ok_after_last_refusal} writes ok after it), health ok {:?} after the database came back",
        o.signal,
        figures.first_ok,
        figures.last_refused,
        health_ok
    );
    figures
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mariadb_restart_under_writes_answers_503_recovers_and_loses_nothing() {
    let test_started = Instant::now();
    let Some(mut db) = tokio::task::spawn_blocking(Mariadb::install)
        .await
        .expect("install")
    else {
        assert!(
            !in_ci(),
            "CI=true but mariadbd or mariadb-install-db is not installed"
        );
        shout("SKIPPED: MariaDB restart test (mariadbd or mariadb-install-db not found)");
        return;
    };
    db.start();
    db.ready().await;
    crm_sqlx::mysql::create_database(&db.url(""), "crm")
        .await
        .expect("create database");

    // The server: the library's router on a real socket, a short acquire timeout.
    let store = crm_sqlx::MySqlStore::connect_with(
        &db.url("crm"),
        crm_sqlx::StoreOptions {
            acquire_timeout: ACQUIRE,
            ..Default::default()
        },
    )
    .await
    .expect("connect");
    let crm = crm_core::Crm::new(store);
    crm_server::bootstrap_admin(&crm, Some(ADMIN.into()), Some(PASSWORD.into()))
        .await
        .expect("admin");
    let app = crm_server::app(crm_server::AppState::new(crm.clone(), SECRET));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
    });
    let mut client = Client::new(port);
    let login = json!({ "email": ADMIN, "password": PASSWORD });
    let (answer, body) = tokio::task::spawn_blocking({
        let client = Client::new(port);
        move || client.call(Call::Customer, "/api/auth/login", Some(&login))
    })
    .await
    .expect("login");
    assert_eq!(answer.status, 200, "login: {body}");
    client.token = body["data"]["token"].as_str().expect("token").to_string();
    let client = Arc::new(client);

    let stop = Arc::new(AtomicBool::new(false));
    let record = Arc::new(Mutex::new(Record::default()));
    let mut threads: Vec<_> = (0..WRITERS)
        .map(|n| {
            let (client, stop, record) = (client.clone(), stop.clone(), record.clone());
            std::thread::spawn(move || writer(client, n, stop, record))
        })
        .collect();
    threads.push(std::thread::spawn({
        let (client, stop, record) = (client.clone(), stop.clone(), record.clone());
        move || health_poller(client, stop, record)
    }));

    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut outages: Vec<Outage> = Vec::new();
    for signal in ["TERM", "KILL"] {
        let stopping = Instant::now();
        if let Some(previous) = outages.last_mut() {
            previous.until = stopping;
        }
        let down = db.stop(signal).await;
        tokio::time::sleep(DOWN).await;
        let restart = Instant::now();
        db.start();
        let up = db.ready().await;
        outages.push(Outage {
            signal,
            stopping,
            down,
            restart,
            up,
            until: up,
        });
        tokio::time::sleep(Duration::from_millis(2500)).await;
    }
    if let Some(last) = outages.last_mut() {
        last.until = Instant::now();
    }

    stop.store(true, Ordering::Relaxed);
    tokio::task::spawn_blocking(move || {
        for t in threads {
            t.join().expect("client thread");
        }
    })
    .await
    .expect("join");
    let record = std::mem::take(&mut *record.lock().expect("record"));

    // Nothing but successes and 503 `unavailable` with `Retry-After`, ever,
    // and no answer near the client's timeout.
    for a in &record.answers {
        let fine = a.ok()
            || (a.status == 503
                && a.code.as_deref() == Some("unavailable")
                && a.retry_after.is_some());
        assert!(fine, "unexpected answer: {a:?}");
        assert!(
            a.took < Duration::from_secs(5),
            "an answer took {:?}: {a:?}",
            a.took
        );
    }
    let figures: Vec<Figures> = outages
        .iter()
        .map(|o| check_outage(o, &record.answers))
        .collect();

    // Every write answered 2xx is stored; every balance agrees with its ledger.
    use sqlx::Connection as _;
    let mut conn = sqlx::MySqlConnection::connect(&db.url("crm"))
        .await
        .expect("connect to check");
    let stored: HashSet<i64> = sqlx::query_scalar("SELECT id FROM customers")
        .fetch_all(&mut conn)
        .await
        .expect("customers")
        .into_iter()
        .collect();
    let lost_customers = record
        .customers
        .iter()
        .filter(|id| !stored.contains(id))
        .count();
    let receipts: HashSet<(String, String)> =
        sqlx::query_as("SELECT store_id, receipt_id FROM customer_purchase_history")
            .fetch_all(&mut conn)
            .await
            .expect("purchases")
            .into_iter()
            .collect();
    let lost_receipts = record
        .receipts
        .iter()
        .filter(|r| !receipts.contains(*r))
        .count();
    let mut inconsistent = Vec::new();
    for id in &stored {
        let check = crm
            .loyalty()
            .check_balance(crm_core::CustomerId(*id))
            .await
            .expect("balance check");
        if !check.consistent {
            inconsistent.push(check);
        }
    }

    let writes = record.answers.iter().filter(|a| a.write()).count();
    let ok = record
        .answers
        .iter()
        .filter(|a| a.write() && a.ok())
        .count();
    let refused = record
        .answers
        .iter()
        .filter(|a| a.write() && a.status == 503)
        .count();
    let max_took = record
        .answers
        .iter()
        .map(|a| a.took)
        .max()
        .unwrap_or_default();
    shout(&format!(
        "MariaDB restart under writes: {writes} writes, {ok} ok ({} customers, {} receipts, {} replays of a receipt refused with 503), {refused} answered 503, slowest answer {max_took:?}; lost: {lost_customers} customers, {lost_receipts} receipts; {} balances checked",
        record.customers.len(),
        record.receipts.len(),
        record.replays,
        stored.len()
    ));
    for (o, f) in outages.iter().zip(&figures) {
        shout(&format!(
            "  SIG{}: exited {:?} after the signal, down {:?}, ready {:?} after the restart; while down {} writes and {} health checks answered 503, slowest {:?}; after the database accepted connections: first write ok in {:?}, last 503 at {:?}",
            o.signal,
            since(o.down, o.stopping),
            since(o.restart, o.down),
            since(o.up, o.restart),
            f.refused_while_down,
            f.health_down,
            f.max_down,
            f.first_ok,
            f.last_refused
        ));
    }
    shout(&format!("  wall time {:?}", test_started.elapsed()));
    assert_eq!((lost_customers, lost_receipts), (0, 0), "writes lost");
    assert!(inconsistent.is_empty(), "{inconsistent:?}");
    server.abort();
}
