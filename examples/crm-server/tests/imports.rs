//! Customer CSV import jobs and the CSV export over real HTTP (ureq
//! against `crm_server::serve` on a local port), on SQLite and on MariaDB
//! (`CRM_TEST_MYSQL_URL`; skipped loudly without it, an error with CI=true).
//!
//! - An upload mixing good rows, invalid rows, a duplicate within the file
//!   and a duplicate of a stored customer: a dry run reports the issues and
//!   writes nothing; the real run creates exactly the good rows, lists the
//!   issues, and its rejected-rows report holds the bad lines with their
//!   original cells. Another server of the deployment reports the run from
//!   the database.
//! - A file that is not a customer CSV is refused at once (422); a file over
//!   the limit gets 413.
//! - Roles: a cashier gets 403, no token 401.
//! - The export streams every customer, formula-like cells neutralised,
//!   filters apply, `page` is refused, and the file imports back as
//!   duplicates only.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use crm_core::Crm;
use crm_core::users::{NewUser, Role};
use crm_server::{AppState, ServeOptions, app, imports::ImportJobs};
use serde_json::{Value, json};

const SECRET: &[u8] = b"test-secret-0123456789abcdef-0123456789";
const ADMIN: (&str, &str) = ("admin@imports.test", "admin-password-1");
const MANAGER: (&str, &str) = ("manager@imports.test", "manager-password-1");
const CASHIER: (&str, &str) = ("cashier@imports.test", "cashier-password-1");

#[derive(Clone, Copy, Debug)]
enum Backend {
    Sqlite,
    MySql,
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

fn shout(msg: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "{msg}");
}

/// Two servers of one deployment (same database), each on its own port,
/// run on a thread of their own until dropped.
struct Servers {
    /// The first server's base URL.
    a: String,
    /// The second server's base URL.
    b: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Servers {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn store(backend: Backend) -> Option<(Crm, Box<dyn FnOnce() + Send>)> {
    match backend {
        Backend::Sqlite => {
            let path = std::env::temp_dir()
                .join(format!("crm-imports-{}.db", uuid::Uuid::new_v4().simple()));
            let store = crm_sqlx::connect(&format!("sqlite://{}", path.display()))
                .await
                .expect("sqlite");
            let cleanup = move || {
                for suffix in ["", "-wal", "-shm"] {
                    let mut p = path.clone().into_os_string();
                    p.push(suffix);
                    let _ = std::fs::remove_file(p);
                }
            };
            Some((Crm::from_arc(store), Box::new(cleanup)))
        }
        Backend::MySql => {
            let Some(server) = std::env::var("CRM_TEST_MYSQL_URL")
                .ok()
                .filter(|u| !u.is_empty())
            else {
                assert!(!in_ci(), "CI=true but CRM_TEST_MYSQL_URL is not set");
                shout("SKIPPED: import test on MySQL (set CRM_TEST_MYSQL_URL)");
                return None;
            };
            let db = format!("crm_test_{}", uuid::Uuid::new_v4().simple());
            crm_sqlx::mysql::create_database(&server, &db)
                .await
                .expect("create database");
            let url = crm_sqlx::mysql::database_url(&server, &db).expect("url");
            let store = crm_sqlx::connect(&url).await.expect("mysql");
            let cleanup = move || {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    let _ = rt.block_on(crm_sqlx::mysql::drop_database(&server, &db));
                }
            };
            Some((Crm::from_arc(store), Box::new(cleanup)))
        }
    }
}

/// Starts two servers over a fresh database with an admin, a manager and
/// a cashier; uploads go to a fresh directory, at most `max_bytes` each.
fn start(backend: Backend, max_bytes: u64) -> Option<Servers> {
    let (ready_tx, ready_rx) = mpsc::channel::<Option<(String, String)>>();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .enable_all()
            .build()
            .expect("runtime");
        // The cleanup runs its own runtime: call it after this one's
        // `block_on` has returned (a runtime cannot start inside another).
        let cleanup = rt.block_on(async move {
            let Some((crm, cleanup)) = store(backend).await else {
                let _ = ready_tx.send(None);
                return None;
            };
            crm_server::bootstrap_admin(&crm, Some(ADMIN.0.into()), Some(ADMIN.1.into()))
                .await
                .expect("admin");
            for ((email, password), role) in [(MANAGER, Role::Manager), (CASHIER, Role::Cashier)] {
                crm.users()
                    .create(NewUser {
                        email: email.into(),
                        password: password.into(),
                        role,
                    })
                    .await
                    .expect("user");
            }
            let dir = std::env::temp_dir().join(format!(
                "crm-imports-test-{}",
                uuid::Uuid::new_v4().simple()
            ));
            let state = |crm: Crm| {
                let mut state = AppState::new(crm, SECRET);
                std::sync::Arc::get_mut(&mut state)
                    .expect("fresh state")
                    .imports = ImportJobs::new(dir.clone(), max_bytes);
                state
            };
            let la = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let lb = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let base =
                |l: &tokio::net::TcpListener| format!("http://{}", l.local_addr().expect("addr"));
            let _ = ready_tx.send(Some((base(&la), base(&lb))));
            let (stop_b_tx, stop_b_rx) = tokio::sync::oneshot::channel::<()>();
            let b = tokio::spawn(crm_server::serve(
                lb,
                app(state(crm.clone())),
                ServeOptions::default(),
                async {
                    let _ = stop_b_rx.await;
                },
            ));
            crm_server::serve(la, app(state(crm)), ServeOptions::default(), async {
                let _ = stop_rx.await;
            })
            .await;
            let _ = stop_b_tx.send(());
            let _ = b.await;
            let _ = std::fs::remove_dir_all(&dir);
            Some(cleanup)
        });
        drop(rt);
        if let Some(cleanup) = cleanup {
            cleanup();
        }
    });
    match ready_rx.recv().expect("server thread") {
        Some((a, b)) => Some(Servers {
            a,
            b,
            stop: Some(stop_tx),
            thread: Some(thread),
        }),
        None => {
            let _ = thread.join();
            None
        }
    }
}

/// An HTTP client of one server, as one user (or none).
struct Client {
    base: String,
    token: Option<String>,
    agent: ureq::Agent,
}

/// A response: status, headers of interest and body.
struct Answer {
    status: u16,
    content_type: String,
    disposition: String,
    location: String,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }
}

impl Client {
    fn anonymous(base: &str) -> Self {
        let agent = ureq::Agent::new_with_config(
            ureq::Agent::config_builder()
                .http_status_as_error(false)
                .build(),
        );
        Self {
            base: base.to_string(),
            token: None,
            agent,
        }
    }

    fn login(base: &str, (email, password): (&str, &str)) -> Self {
        let mut c = Self::anonymous(base);
        let a = c.post_json(
            "/api/auth/login",
            &json!({"email": email, "password": password}),
        );
        assert_eq!(a.status, 200, "login {email}: {}", a.text);
        c.token = a.json()["data"]["token"].as_str().map(String::from);
        assert!(c.token.is_some());
        c
    }

    fn answer(res: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Answer {
        let mut res = res.expect("request");
        let header = |name: &str| {
            res.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string()
        };
        let (content_type, disposition, location) = (
            header("content-type"),
            header("content-disposition"),
            header("location"),
        );
        let text = res
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_string()
            .expect("body");
        Answer {
            status: res.status().as_u16(),
            content_type,
            disposition,
            location,
            text,
        }
    }

    fn auth(&self) -> String {
        self.token
            .as_ref()
            .map(|t| format!("Bearer {t}"))
            .unwrap_or_default()
    }

    fn get(&self, path: &str) -> Answer {
        let mut req = self.agent.get(format!("{}{path}", self.base));
        if self.token.is_some() {
            req = req.header("authorization", &self.auth());
        }
        Self::answer(req.call())
    }

    fn post_json(&self, path: &str, body: &Value) -> Answer {
        let mut req = self.agent.post(format!("{}{path}", self.base));
        if self.token.is_some() {
            req = req.header("authorization", &self.auth());
        }
        Self::answer(req.send_json(body))
    }

    /// Posts a multipart form: the file part `file` and text parts.
    fn upload(&self, path: &str, csv: &[u8], parts: &[(&str, &str)]) -> Answer {
        let boundary = format!("----crm-test-{}", uuid::Uuid::new_v4().simple());
        let mut body = Vec::new();
        for (name, value) in parts {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
                )
                .as_bytes(),
            );
        }
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"pelanggan.csv\"\r\nContent-Type: text/csv\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(csv);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let mut req = self.agent.post(format!("{}{path}", self.base)).header(
            "content-type",
            &format!("multipart/form-data; boundary={boundary}"),
        );
        if self.token.is_some() {
            req = req.header("authorization", &self.auth());
        }
        Self::answer(req.send(&body[..]))
    }

    fn create_customer(&self, body: Value) -> Value {
        let a = self.post_json("/api/customers", &body);
        assert_eq!(a.status, 201, "{}", a.text);
        a.json()["data"].clone()
    }

    /// Active customers, by name.
    fn customer_names(&self) -> Vec<String> {
        let a = self.get("/api/customers?limit=100");
        assert_eq!(a.status, 200, "{}", a.text);
        let body = a.json();
        assert!(body["meta"]["total"].as_u64().expect("total") <= 100);
        let mut names: Vec<String> = body["data"]
            .as_array()
            .expect("data")
            .iter()
            .map(|c| c["name"].as_str().expect("name").to_string())
            .collect();
        names.sort();
        names
    }

    /// Starts an import (202 and `Location`), then polls it until it ends.
    fn import(&self, csv: &[u8], query: &str, parts: &[(&str, &str)]) -> Value {
        let a = self.upload(&format!("/api/imports{query}"), csv, parts);
        assert_eq!(a.status, 202, "{}", a.text);
        let started = a.json()["data"].clone();
        let id = started["id"].as_str().expect("id").to_string();
        assert!(id.starts_with("imp-"), "{id}");
        assert_eq!(a.location, format!("/api/imports/{id}"));
        assert_eq!(started["status"], "running");
        self.wait(&id)
    }

    fn wait(&self, id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let a = self.get(&format!("/api/imports/{id}"));
            assert_eq!(a.status, 200, "{}", a.text);
            let job = a.json()["data"].clone();
            if job["status"] != "running" {
                return job;
            }
            assert!(Instant::now() < deadline, "import not done: {job}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Splits CSV text into records (quotes, doubled quotes, CRLF).
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut cell = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => cell.push(c),
            (false, '"') => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut cell)),
            (false, '\r') => {}
            (false, '\n') => {
                record.push(std::mem::take(&mut cell));
                records.push(std::mem::take(&mut record));
            }
            (false, c) => cell.push(c),
        }
    }
    if !cell.is_empty() || !record.is_empty() {
        record.push(cell);
        records.push(record);
    }
    records
}

/// The file of the import tests: lines 2, 3 and 9 are good; 4 has no
/// name, 5 a bad email, 6 repeats line 2's email, 7 is a stored
/// customer's email, 8 has a credit limit that is not a number.
const MIXED: &str = "\
name,email,phone,customer_type,credit_limit,city
Budi Santoso,budi@toko.id,081234567001,RETAIL,,Bandung
Sari Dewi,sari@toko.id,,WHOLESALE,2500000,Jakarta
,noname@toko.id,,,,Bogor
Andi Wijaya,not-an-email,,,,Depok
Budi Lain,budi@toko.id,,,,Cimahi
Toko Lama Lagi,existing@toko.id,,,,Bekasi
Rina Kusuma,rina@toko.id,,,banyak,Solo
Joko Susilo,joko@toko.id,081234567009,,,Semarang
";

/// `(line, status, field, rule)` of each issue, sorted.
fn issues(job: &Value) -> Vec<(u64, String, String, String)> {
    let mut out: Vec<_> = job["issues"]
        .as_array()
        .expect("issues")
        .iter()
        .map(|i| {
            (
                i["line"].as_u64().expect("line"),
                i["status"].as_str().expect("status").to_string(),
                i["field"].as_str().expect("field").to_string(),
                i["rule"].as_str().expect("rule").to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

fn import_mixed_file(backend: Backend) {
    let Some(servers) = start(backend, 1 << 20) else {
        return;
    };
    let manager = Client::login(&servers.a, MANAGER);
    let existing =
        manager.create_customer(json!({"name": "Toko Lama", "email": "existing@toko.id"}));
    let existing_code = existing["customer_code"]
        .as_str()
        .expect("code")
        .to_string();

    // A dry run decides every row and writes nothing.
    let dry = manager.import(MIXED.as_bytes(), "?dry_run=true", &[]);
    assert_eq!(dry["status"], "done", "{dry}");
    assert_eq!(dry["dry_run"], true);
    assert_eq!(manager.customer_names(), vec!["Toko Lama"]);
    let expected = [
        (4, "rejected", "name", "required"),
        (5, "rejected", "email", "email"),
        (6, "rejected", "email", "duplicate_in_file"),
        (7, "skipped", "email", "duplicate"),
        (8, "rejected", "credit_limit", "decimal"),
    ];
    let found = issues(&dry);
    assert_eq!(
        found
            .iter()
            .map(|(l, s, f, r)| (*l, s.as_str(), f.as_str(), r.as_str()))
            .collect::<Vec<_>>(),
        expected,
        "{dry}"
    );

    // The real run, options as form parts.
    let job = manager.import(
        MIXED.as_bytes(),
        "",
        &[("on_duplicate", "skip"), ("dry_run", "false")],
    );
    assert_eq!(job["status"], "done", "{job}");
    assert_eq!(job["dry_run"], false);
    assert_eq!(job["local"], true);
    let totals = &job["totals"];
    assert_eq!(
        [
            &totals["rows"],
            &totals["created"],
            &totals["skipped"],
            &totals["rejected"],
            &totals["updated"],
            &totals["duplicates"]
        ],
        [
            &json!(8),
            &json!(3),
            &json!(1),
            &json!(4),
            &json!(0),
            &json!(0)
        ],
        "{job}"
    );
    assert_eq!(issues(&job), found, "the dry run reports the same issues");
    let skipped = job["issues"]
        .as_array()
        .expect("issues")
        .iter()
        .find(|i| i["line"] == 7)
        .expect("line 7");
    assert_eq!(skipped["existing_code"], existing_code.as_str());
    assert_eq!(job["progress"]["percent"], 100.0, "{job}");
    assert_eq!(job["progress"]["bytes_total"], json!(MIXED.len()), "{job}");
    assert!(
        job["mapping"]
            .as_array()
            .expect("mapping")
            .iter()
            .any(|m| m["header"] == "city" && m["field"] == "address.city"),
        "{job}"
    );
    assert_eq!(
        manager.customer_names(),
        vec!["Budi Santoso", "Joko Susilo", "Sari Dewi", "Toko Lama"]
    );

    // The rejected-rows report: the bad lines with their original cells.
    let id = job["id"].as_str().expect("id");
    let url = job["report_url"].as_str().expect("report_url");
    assert_eq!(url, format!("/api/imports/{id}/rejected.csv"));
    let report = manager.get(url);
    assert_eq!(report.status, 200, "{}", report.text);
    assert_eq!(report.content_type, "text/csv; charset=utf-8");
    let rows = parse_csv(&report.text);
    assert_eq!(
        rows[0],
        [
            "line",
            "status",
            "field",
            "rule",
            "message",
            "existing_code",
            "name",
            "email",
            "phone",
            "customer_type",
            "credit_limit",
            "city"
        ]
    );
    let original: Vec<Vec<String>> = parse_csv(MIXED);
    let mut lines = Vec::new();
    for row in &rows[1..] {
        let line: usize = row[0].parse().expect("line number");
        lines.push(line);
        assert_eq!(row[6..], original[line - 1][..], "line {line}: {row:?}");
    }
    lines.sort_unstable();
    assert_eq!(lines, [4, 5, 6, 7, 8]);

    // Another server of the deployment reads the run from the database.
    let other = Client::login(&servers.b, MANAGER);
    let stored = other.get(&format!("/api/imports/{id}"));
    assert_eq!(stored.status, 200, "{}", stored.text);
    let stored = stored.json()["data"].clone();
    assert_eq!(
        (
            &stored["status"],
            &stored["local"],
            &stored["totals"]["created"]
        ),
        (&json!("done"), &json!(false), &json!(3)),
        "{stored}"
    );
    // ...but has no report of it, and a dry run is nowhere but in memory.
    assert_eq!(
        other.get(&format!("/api/imports/{id}/rejected.csv")).status,
        404
    );
    let dry_id = dry["id"].as_str().expect("id");
    assert_eq!(other.get(&format!("/api/imports/{dry_id}")).status, 404);
    assert_eq!(manager.get(&format!("/api/imports/{dry_id}")).status, 200);
    assert_eq!(manager.get("/api/imports/imp-nothing").status, 404);
    assert_eq!(
        manager.get("/api/imports/imp-nothing/rejected.csv").status,
        404
    );
}

#[test]
fn a_mixed_file_imports_its_good_rows_and_reports_the_rest_sqlite() {
    import_mixed_file(Backend::Sqlite);
}

#[test]
fn a_mixed_file_imports_its_good_rows_and_reports_the_rest_mysql() {
    import_mixed_file(Backend::MySql);
}

fn bad_files_and_roles(backend: Backend) {
    let Some(servers) = start(backend, 256) else {
        return;
    };
    let admin = Client::login(&servers.a, ADMIN);
    // Not a customer CSV: refused at once, nothing started.
    for (file, rule) in [
        (&b""[..], "header"),
        (&b"kode,kota\nA1,Bandung\n"[..], "name_column"),
    ] {
        let a = admin.upload("/api/imports", file, &[]);
        assert_eq!(a.status, 422, "{}", a.text);
        let body = a.json();
        assert_eq!(body["error"]["code"], "validation");
        assert_eq!(body["error"]["fields"][0]["field"], "file");
        assert_eq!(body["error"]["fields"][0]["rule"], rule, "{body}");
    }
    let a = admin.upload(
        "/api/imports",
        b"name\nBudi\n",
        &[("on_duplicate", "merge")],
    );
    assert_eq!(
        (a.status, a.json()["error"]["fields"][0]["field"].clone()),
        (422, json!("on_duplicate"))
    );
    let a = admin.upload(
        "/api/imports",
        b"Nama Toko\nBudi\n",
        &[("mapping", "Nama Toko=shoe")],
    );
    assert_eq!(a.status, 422, "{}", a.text);
    // A mapping names the name column of a file whose header is unusual.
    let job = admin.import(
        b"Nama Toko;Kota\nToko Budi;Bandung\n",
        "",
        &[("mapping", "Nama Toko=name")],
    );
    assert_eq!(job["totals"]["created"], 1, "{job}");
    // No file part.
    let a = admin.upload("/api/imports?dry_run=true", b"", &[]);
    assert_eq!(a.status, 422);
    // Over the limit (256 bytes here).
    let big = format!("name\n{}", "Pelanggan Besar\n".repeat(40));
    let a = admin.upload("/api/imports", big.as_bytes(), &[]);
    assert_eq!(a.status, 413, "{}", a.text);
    assert_eq!(a.json()["error"]["code"], "payload_too_large");
    // Not multipart at all.
    let a = admin.post_json("/api/imports", &json!({}));
    assert!(matches!(a.status, 400 | 415), "{}", a.status);
    assert_eq!(a.json()["success"], false);

    // Roles.
    let cashier = Client::login(&servers.a, CASHIER);
    let nobody = Client::anonymous(&servers.a);
    let id = job["id"].as_str().expect("id");
    for (client, status) in [(&cashier, 403), (&nobody, 401)] {
        assert_eq!(
            client.upload("/api/imports", b"name\nBudi\n", &[]).status,
            status
        );
        assert_eq!(client.get(&format!("/api/imports/{id}")).status, status);
        assert_eq!(
            client
                .get(&format!("/api/imports/{id}/rejected.csv"))
                .status,
            status
        );
        assert_eq!(client.get("/api/customers/export.csv").status, status);
    }
    let manager = Client::login(&servers.a, MANAGER);
    assert_eq!(manager.get(&format!("/api/imports/{id}")).status, 200);
    assert_eq!(manager.get("/api/customers/export.csv").status, 200);
}

#[test]
fn bad_files_are_refused_and_cashiers_may_not_import_sqlite() {
    bad_files_and_roles(Backend::Sqlite);
}

#[test]
fn bad_files_are_refused_and_cashiers_may_not_import_mysql() {
    bad_files_and_roles(Backend::MySql);
}

fn export_round_trip(backend: Backend) {
    let Some(servers) = start(backend, 1 << 20) else {
        return;
    };
    let manager = Client::login(&servers.a, MANAGER);
    let mut wholesale = 0;
    for i in 0..30 {
        let name = match i % 10 {
            0 => format!("=HYPERLINK(\"http://evil.test\",\"{i}\")"),
            1 => format!("@SUM(A{i})"),
            _ => format!("Pelanggan {i:02}, Toko \"Maju\""),
        };
        let customer_type = if i % 3 == 0 {
            wholesale += 1;
            "WHOLESALE"
        } else {
            "RETAIL"
        };
        manager.create_customer(json!({
            "name": name,
            "email": format!("p{i}@export.test"),
            "phone": format!("0812000000{i:02}"),
            "customer_type": customer_type,
            "tags": ["ekspor", "uji"],
        }));
    }

    let export = manager.get("/api/customers/export.csv");
    assert_eq!(export.status, 200, "{}", export.text);
    assert_eq!(export.content_type, "text/csv; charset=utf-8");
    assert_eq!(export.disposition, "attachment; filename=\"customers.csv\"");
    let rows = parse_csv(&export.text);
    let header = &rows[0];
    let name_at = header
        .iter()
        .position(|h| h == "name")
        .expect("name column");
    let type_at = header
        .iter()
        .position(|h| h == "customer_type")
        .expect("customer_type column");
    assert_eq!(rows.len(), 31, "a header and every customer");
    let names: Vec<&str> = rows[1..].iter().map(|r| r[name_at].as_str()).collect();
    for n in &names {
        assert!(
            !n.starts_with(['=', '@', '+', '-']),
            "{n} is not neutralised"
        );
    }
    assert_eq!(names.iter().filter(|n| n.starts_with("'=")).count(), 3);
    assert_eq!(names.iter().filter(|n| n.starts_with("'@")).count(), 3);
    assert!(names.contains(&"Pelanggan 02, Toko \"Maju\""), "{names:?}");

    // Filters apply.
    let only = manager.get("/api/customers/export.csv?type=wholesale&sort=name&direction=desc");
    assert_eq!(only.status, 200, "{}", only.text);
    let rows = parse_csv(&only.text);
    assert_eq!(rows.len(), wholesale + 1);
    assert!(rows[1..].iter().all(|r| r[type_at] == "WHOLESALE"));
    let none = manager.get("/api/customers/export.csv?q=nobody-is-called-this");
    assert_eq!(parse_csv(&none.text).len(), 1, "the header only");

    // Paging is refused, with the JSON error.
    for bad in ["page=2", "limit=5", "type=VIP"] {
        let a = manager.get(&format!("/api/customers/export.csv?{bad}"));
        assert_eq!(a.status, 422, "{bad}: {}", a.text);
        assert_eq!(a.json()["error"]["code"], "validation", "{bad}");
    }

    // The export imports back: every row a duplicate, skipped.
    let job = manager.import(export.text.as_bytes(), "", &[]);
    assert_eq!(job["status"], "done", "{job}");
    let totals = &job["totals"];
    assert_eq!(
        [
            &totals["rows"],
            &totals["skipped"],
            &totals["created"],
            &totals["rejected"]
        ],
        [&json!(30), &json!(30), &json!(0), &json!(0)],
        "{job}"
    );
    let count = manager.get("/api/customers?limit=1");
    assert_eq!(count.json()["meta"]["total"], 30);
}

#[test]
fn the_export_streams_every_customer_and_imports_back_sqlite() {
    export_round_trip(Backend::Sqlite);
}

#[test]
fn the_export_streams_every_customer_and_imports_back_mysql() {
    export_round_trip(Backend::MySql);
}
