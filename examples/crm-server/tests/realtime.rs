//! Real-time events and the Redis layer, over real sockets: the `crm-server`
//! binary is started as separate processes, WebSocket clients are
//! tokio-tungstenite, HTTP calls are ureq.
//!
//! - SQLite, one process: events in order, reconnect with a last event id.
//! - MariaDB + Redis (`CRM_TEST_MYSQL_URL`, `CRM_TEST_REDIS_URL`), two
//!   processes: every event caused through either reaches a client of the
//!   other exactly once; a customer updated through one is never served
//!   stale by the other.
//! - A private `redis-server` killed mid-test: the API keeps answering from
//!   the database, events keep flowing, and the cache comes back with Redis.

use std::io::Write as _;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const ADMIN: &str = "admin@realtime.test";
const PASSWORD: &str = "realtime-password-1";

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

fn wait_for_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not start listening");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A child process killed on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One running server process and an HTTP client logged in as admin.
struct Server {
    _proc: Proc,
    base: String,
    port: u16,
    agent: ureq::Agent,
    token: String,
}

fn start_server(database_url: &str, redis: Option<(&str, &str)>) -> Server {
    let port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_crm-server"));
    cmd.arg("--no-demo")
        .env("DATABASE_URL", database_url)
        .env("CRM_BIND", format!("127.0.0.1:{port}"))
        .env("CRM_ADMIN_EMAIL", ADMIN)
        .env("CRM_ADMIN_PASSWORD", PASSWORD)
        .env("CRM_JWT_SECRET", "realtime-test-secret-0123456789abcdef")
        .env("RUST_LOG", "warn")
        .env("CRM_SHUTDOWN_DEADLINE_SECS", "1")
        .env_remove("REDIS_URL")
        .stdout(if std::env::var_os("CRM_TEST_SERVER_LOGS").is_some() {
            Stdio::inherit()
        } else {
            Stdio::null()
        });
    if let Some((url, prefix)) = redis {
        cmd.env("REDIS_URL", url).env("CRM_REDIS_PREFIX", prefix);
    }
    let proc = Proc(cmd.spawn().expect("start crm-server"));
    wait_for_port(port, "crm-server");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into();
    let mut server = Server {
        _proc: proc,
        base: format!("http://127.0.0.1:{port}"),
        port,
        agent,
        token: String::new(),
    };
    let (status, body) = server.call(
        "POST",
        "/api/auth/login",
        Some(json!({"email": ADMIN, "password": PASSWORD})),
    );
    assert_eq!(status, 200, "login: {body}");
    server.token = body["data"]["token"].as_str().expect("token").to_string();
    server
}

impl Server {
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("{}{}", self.base, path);
        let auth = format!("Bearer {}", self.token);
        let result = match (method, body) {
            ("GET", _) => self.agent.get(&url).header("authorization", &auth).call(),
            ("DELETE", _) => self
                .agent
                .delete(&url)
                .header("authorization", &auth)
                .call(),
            ("POST", Some(b)) => self
                .agent
                .post(&url)
                .header("authorization", &auth)
                .send_json(b),
            ("PATCH", Some(b)) => self
                .agent
                .patch(&url)
                .header("authorization", &auth)
                .send_json(b),
            (m, _) => panic!("unsupported {m}"),
        };
        let mut res = result.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = res.status().as_u16();
        let body = res.body_mut().read_json::<Value>().unwrap_or(Value::Null);
        (status, body)
    }

    fn ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, answer) = self.call(method, path, body);
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {answer}"
        );
        answer["data"].clone()
    }

    /// A one-time ticket for the WebSocket.
    fn ticket(&self) -> String {
        let (status, body) = self.call("POST", "/api/realtime/ticket", Some(json!({})));
        assert_eq!(status, 201, "ticket: {body}");
        body["data"]["ticket"].as_str().expect("ticket").to_string()
    }

    async fn websocket(&self, last_event_id: Option<i64>) -> Ws {
        let mut url = format!(
            "ws://127.0.0.1:{}/crm-updates?ticket={}",
            self.port,
            self.ticket()
        );
        if let Some(id) = last_event_id {
            url.push_str(&format!("&last_event_id={id}"));
        }
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("websocket");
        ws
    }
}

/// The next event on `ws`, or panics after 10 s.
async fn next_event(ws: &mut Ws) -> Value {
    let deadline = Duration::from_secs(10);
    loop {
        let msg = tokio::time::timeout(deadline, ws.next())
            .await
            .expect("an event within 10 s")
            .expect("socket open")
            .expect("socket ok");
        if let Message::Text(text) = msg {
            return serde_json::from_str(&text).expect("event json");
        }
    }
}

/// Asserts nothing more arrives within `quiet`.
async fn no_more_events(ws: &mut Ws, quiet: Duration) {
    if let Ok(Some(Ok(Message::Text(text)))) = tokio::time::timeout(quiet, ws.next()).await {
        panic!("unexpected extra event {text}");
    }
}

fn sqlite_url(tag: &str) -> (String, std::path::PathBuf) {
    let path = std::env::temp_dir().join(format!("crm-{tag}-{}.db", uuid::Uuid::new_v4().simple()));
    (format!("sqlite://{}", path.display()), path)
}

fn remove_sqlite(path: &std::path::Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.to_path_buf().into_os_string();
        p.push(suffix);
        let _ = std::fs::remove_file(p);
    }
}

/// SIGTERM stops the server promptly even while a WebSocket stays open
/// (upgraded connections do not hold the graceful shutdown; requests in
/// flight get at most `CRM_SHUTDOWN_DEADLINE_SECS`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_the_server_within_the_deadline() {
    let (url, path) = sqlite_url("term");
    let mut server = start_server(&url, None);
    let _ws = server.websocket(None).await;
    let pid = server._proc.0.id().to_string();
    let started = std::time::Instant::now();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let exited = loop {
        if let Ok(Some(status)) = server._proc.0.try_wait() {
            break Some(status);
        }
        if started.elapsed() > Duration::from_secs(8) {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        exited.is_some(),
        "the server did not stop on SIGTERM with a WebSocket open"
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    let _ = std::fs::remove_file(path);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_gets_events_in_order_and_a_reconnect_misses_none() {
    let (url, path) = sqlite_url("ws");
    let server = start_server(&url, None);

    // No token, a forged token: refused before the upgrade.
    let refused =
        tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{}/crm-updates", server.port))
            .await;
    assert!(
        matches!(&refused, Err(tokio_tungstenite::tungstenite::Error::Http(r)) if r.status() == 401),
        "{refused:?}"
    );
    let forged = tokio_tungstenite::connect_async(format!(
        "ws://127.0.0.1:{}/crm-updates?ticket=eyJhbGciOiJIUzI1NiJ9.e30.x",
        server.port
    ))
    .await;
    assert!(
        matches!(&forged, Err(tokio_tungstenite::tungstenite::Error::Http(r)) if r.status() == 401)
    );
    // A token is not a ticket (and no longer goes in the URL).
    let token_in_url = tokio_tungstenite::connect_async(format!(
        "ws://127.0.0.1:{}/crm-updates?ticket={}",
        server.port, server.token
    ))
    .await;
    assert!(
        matches!(&token_in_url, Err(tokio_tungstenite::tungstenite::Error::Http(r)) if r.status() == 401),
        "{token_in_url:?}"
    );
    // A ticket works once.
    let ticket = server.ticket();
    let once = format!("ws://127.0.0.1:{}/crm-updates?ticket={ticket}", server.port);
    let (_first, _) = tokio_tungstenite::connect_async(&once)
        .await
        .expect("first use of a ticket");
    let again = tokio_tungstenite::connect_async(&once).await;
    assert!(
        matches!(&again, Err(tokio_tungstenite::tungstenite::Error::Http(r)) if r.status() == 401),
        "a ticket used twice: {again:?}"
    );

    let mut ws = server.websocket(None).await;
    // The token in the Authorization header works too.
    let mut req = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
        format!("ws://127.0.0.1:{}/crm-updates", server.port),
    )
    .expect("request");
    req.headers_mut().insert(
        "authorization",
        format!("Bearer {}", server.token).parse().expect("header"),
    );
    let (mut ws_header, _) = tokio_tungstenite::connect_async(req)
        .await
        .expect("header auth");

    let c = server.ok(
        "POST",
        "/api/customers",
        Some(json!({"name": "Sari Dewi", "phone": "0812-1111-2222"})),
    );
    let id = c["id"].as_i64().expect("id");
    server.ok(
        "PATCH",
        &format!("/api/customers/{id}"),
        Some(json!({"name": "Sari D."})),
    );
    server.ok(
        "POST",
        &format!("/api/customers/{id}/loyalty/earn"),
        Some(json!({"points": 10, "reference_type": "order", "reference_id": "o-1"})),
    );
    server.ok(
        "POST",
        &format!("/api/customers/{id}/loyalty/redeem"),
        Some(json!({"points": 4, "reference_type": "voucher", "reference_id": "v-1"})),
    );

    let mut seen = Vec::new();
    for _ in 0..4 {
        seen.push(next_event(&mut ws).await);
    }
    let kinds: Vec<_> = seen
        .iter()
        .map(|e| e["type"].as_str().unwrap_or("?").to_string())
        .collect();
    assert_eq!(
        kinds,
        [
            "new_customer",
            "customer_update",
            "loyalty_points",
            "loyalty_points"
        ]
    );
    // Customer events are thin: the id and the version (the record is
    // read by id when wanted), nothing personal.
    let version = c["version"].as_i64().expect("version");
    assert_eq!(
        (&seen[0]["customer_id"], seen[0]["version"].as_i64()),
        (&json!(id), Some(version))
    );
    assert_eq!(
        (&seen[1]["customer_id"], seen[1]["version"].as_i64()),
        (&json!(id), Some(version + 1))
    );
    assert!(seen[0].get("customer").is_none(), "{}", seen[0]);
    assert_eq!(
        (seen[2]["customer_id"].as_i64(), seen[2]["points"].as_i64()),
        (Some(id), Some(10))
    );
    assert_eq!(seen[3]["points"], 6, "points = the new balance");
    let ids: Vec<i64> = seen
        .iter()
        .map(|e| e["event_id"].as_i64().expect("event_id"))
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    for e in &seen {
        assert_eq!(
            &next_event(&mut ws_header).await,
            e,
            "both clients get the same stream"
        );
    }
    no_more_events(&mut ws, Duration::from_millis(300)).await;

    // Disconnect after the second event; changes happen meanwhile.
    drop(ws);
    server.ok(
        "POST",
        &format!("/api/customers/{id}/loyalty/earn"),
        Some(json!({"points": 5, "reference_type": "order", "reference_id": "o-2"})),
    );
    let other = server.ok("POST", "/api/customers", Some(json!({"name": "Budi"})));
    // A replay changes nothing and sends nothing.
    server.ok(
        "POST",
        &format!("/api/customers/{id}/loyalty/earn"),
        Some(json!({"points": 5, "reference_type": "order", "reference_id": "o-2"})),
    );
    let mut resumed = server.websocket(Some(ids[1])).await;
    let mut again = Vec::new();
    for _ in 0..4 {
        again.push(next_event(&mut resumed).await);
    }
    assert_eq!(&again[0], &seen[2]);
    assert_eq!(&again[1], &seen[3]);
    assert_eq!(
        (again[2]["type"].as_str(), again[2]["points"].as_i64()),
        (Some("loyalty_points"), Some(11))
    );
    assert_eq!(
        (again[3]["type"].as_str(), &again[3]["customer_id"]),
        (Some("new_customer"), &other["id"])
    );
    no_more_events(&mut resumed, Duration::from_millis(500)).await;
    // Live events keep coming after the catch-up.
    server.ok("DELETE", &format!("/api/customers/{}", other["id"]), None);
    let live = next_event(&mut resumed).await;
    assert_eq!(
        (live["type"].as_str(), &live["customer_id"]),
        (Some("customer_update"), &other["id"])
    );
    assert!(live["event_id"].as_i64() > again[3]["event_id"].as_i64());
    drop(server);
    remove_sqlite(&path);
}

/// Reads a raw Redis key (the test's view of the cache).
async fn redis_get(url: &str, key: &str) -> Option<String> {
    let client = redis::Client::open(url).ok()?;
    let mut conn = client.get_multiplexed_async_connection().await.ok()?;
    redis::cmd("GET")
        .arg(key)
        .query_async(&mut conn)
        .await
        .ok()?
}

fn mysql_and_redis_or_skip(what: &str) -> Option<(String, String)> {
    let mysql = std::env::var("CRM_TEST_MYSQL_URL")
        .ok()
        .filter(|u| !u.is_empty());
    let redis = std::env::var("CRM_TEST_REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty());
    match (mysql, redis) {
        (Some(m), Some(r)) => Some((m, r)),
        _ => {
            assert!(
                !in_ci(),
                "CI=true but CRM_TEST_MYSQL_URL or CRM_TEST_REDIS_URL is not set"
            );
            shout(&format!(
                "SKIPPED: {what} (set CRM_TEST_MYSQL_URL and CRM_TEST_REDIS_URL)"
            ));
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_deliver_every_event_once_and_never_serve_a_stale_customer() {
    let Some((mysql, redis_url)) =
        mysql_and_redis_or_skip("two server processes on MariaDB and Redis")
    else {
        return;
    };
    let db = format!("crm_test_{}", uuid::Uuid::new_v4().simple());
    crm_sqlx::mysql::create_database(&mysql, &db)
        .await
        .expect("create database");
    let url = crm_sqlx::mysql::database_url(&mysql, &db).expect("url");
    let prefix = format!("crmtest:{}:", uuid::Uuid::new_v4().simple());
    let outcome = tokio::spawn({
        let (url, redis_url, prefix) = (url.clone(), redis_url.clone(), prefix.clone());
        async move { two_processes(&url, &redis_url, &prefix).await }
    })
    .await;
    let _ = crm_sqlx::mysql::drop_database(&mysql, &db).await;
    if let Ok(client) = redis::Client::open(redis_url.as_str())
        && let Ok(mut conn) = client.get_multiplexed_async_connection().await
    {
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{prefix}*"))
            .query_async(&mut conn)
            .await
            .unwrap_or_default();
        if !keys.is_empty() {
            let _: Result<(), _> = redis::cmd("DEL").arg(keys).query_async(&mut conn).await;
        }
    }
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

async fn two_processes(url: &str, redis_url: &str, prefix: &str) {
    // The first process creates the schema and the admin; then the second.
    let a = start_server(url, Some((redis_url, prefix)));
    let b = start_server(url, Some((redis_url, prefix)));
    let mut on_a = a.websocket(None).await;
    let mut on_b = b.websocket(None).await;

    // Writes through both processes, interleaved, some concurrent.
    let mut ids = Vec::new();
    for i in 0..6 {
        let via = if i % 2 == 0 { &a } else { &b };
        let c = via.ok(
            "POST",
            "/api/customers",
            Some(json!({"name": format!("Pelanggan {i}")})),
        );
        ids.push(c["id"].as_i64().expect("id"));
    }
    std::thread::scope(|s| {
        for (n, id) in ids.iter().enumerate() {
            let via = if n % 2 == 0 { &b } else { &a };
            s.spawn(move || {
                for k in 0..3 {
                    via.ok(
                        "POST",
                        &format!("/api/customers/{id}/loyalty/earn"),
                        Some(json!({"points": 1 + k, "reference_type": "order", "reference_id": format!("{id}-{k}")})),
                    );
                }
                via.ok("PATCH", &format!("/api/customers/{id}"), Some(json!({"tags": ["vip"]})));
            });
        }
    });
    let expected = 6 + 6 * 3 + 6; // created, earned three times, updated
    let mut seen_a = Vec::new();
    let mut seen_b = Vec::new();
    for _ in 0..expected {
        seen_a.push(next_event(&mut on_a).await);
        seen_b.push(next_event(&mut on_b).await);
    }
    no_more_events(&mut on_a, Duration::from_millis(700)).await;
    no_more_events(&mut on_b, Duration::from_millis(10)).await;
    let ids_a: Vec<i64> = seen_a
        .iter()
        .filter_map(|e| e["event_id"].as_i64())
        .collect();
    let ids_b: Vec<i64> = seen_b
        .iter()
        .filter_map(|e| e["event_id"].as_i64())
        .collect();
    assert_eq!(ids_a.len(), expected);
    assert!(
        ids_a.windows(2).all(|w| w[0] < w[1]),
        "in order, no duplicate: {ids_a:?}"
    );
    assert_eq!(ids_a, ids_b, "both processes deliver the same events");
    assert_eq!(seen_a, seen_b);
    // Exactly the outbox.
    let store = crm_sqlx::connect(url).await.expect("store");
    let crm = crm_core::Crm::from_arc(store);
    let outbox: Vec<i64> = crm
        .events()
        .list(crm_core::events::EventQuery {
            after: 0,
            limit: 1000,
        })
        .await
        .expect("outbox")
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(ids_a, outbox);
    // Every customer's last points event carries its final balance.
    for id in &ids {
        let last = seen_a
            .iter()
            .rev()
            .find(|e| e["type"] == "loyalty_points" && e["customer_id"] == *id)
            .expect("points event");
        assert_eq!(last["points"], 6);
    }

    // The cache: read through A (cached), update through B, read through A.
    let id = ids[0];
    for round in 0..15 {
        let before = a.ok("GET", &format!("/api/customers/{id}"), None);
        let cached = redis_get(redis_url, &format!("{prefix}customer:{id}"))
            .await
            .expect("cached by A");
        assert!(
            cached.starts_with(&format!("{}|", before["version"])),
            "cache holds the version A served: {cached}"
        );
        let name = format!("Nama {round}");
        let updated = b.ok(
            "PATCH",
            &format!("/api/customers/{id}"),
            Some(json!({"name": name})),
        );
        let after = a.ok("GET", &format!("/api/customers/{id}"), None);
        assert_eq!(
            after["name"], name,
            "round {round}: A served a stale customer"
        );
        assert_eq!(after["version"], updated["version"]);
    }
    // Deactivation and merge through B are seen by A at once too.
    b.ok("DELETE", &format!("/api/customers/{}", ids[1]), None);
    assert_eq!(
        a.ok("GET", &format!("/api/customers/{}", ids[1]), None)["is_active"],
        false
    );
    a.ok("GET", &format!("/api/customers/{}", ids[2]), None);
    b.ok(
        "POST",
        &format!("/api/customers/{}/merge", ids[3]),
        Some(json!({"duplicate_id": ids[2]})),
    );
    let merged = a.ok("GET", &format!("/api/customers/{}", ids[2]), None);
    assert_eq!(
        (merged["is_active"].clone(), merged["merged_into"].clone()),
        (json!(false), json!(ids[3]))
    );

    // A write made outside the servers (the SDK on the same database)
    // reaches the cache through the outbox relay.
    a.ok("GET", &format!("/api/customers/{}", ids[4]), None);
    crm.customers()
        .update(crm_core::UpdateCustomer {
            id: crm_core::CustomerId(ids[4]),
            patch: crm_core::CustomerPatch {
                name: Some("Lewat SDK".into()),
                ..Default::default()
            },
        })
        .await
        .expect("sdk update");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let seen = a.ok("GET", &format!("/api/customers/{}", ids[4]), None);
        if seen["name"] == "Lewat SDK" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "cache never refreshed from the outbox: {seen}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Login throttling is shared through Redis: the address's attempts
    // counted by A (2 logins at the start, then 8 wrong passwords) refuse
    // the next attempt on B.
    for i in 0..8 {
        let (status, _) = a.call(
            "POST",
            "/api/auth/login",
            Some(json!({"email": format!("nobody{i}@x.id"), "password": "wrong-password"})),
        );
        assert_eq!(status, 401);
    }
    let (status, body) = b.call(
        "POST",
        "/api/auth/login",
        Some(json!({"email": "nobody@x.id", "password": "wrong-password"})),
    );
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (429, Some("rate_limited")),
        "{body}"
    );
}

/// A private redis-server on a free port (so it can be killed).
fn start_redis(port: u16) -> Option<Proc> {
    let child = Command::new("redis-server")
        .args([
            "--bind",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .spawn()
        .ok()?;
    let proc = Proc(child);
    wait_for_port(port, "redis-server");
    Some(proc)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_redis_leaves_the_api_answering_from_the_database() {
    let port = free_port();
    let Some(redis) = start_redis(port) else {
        assert!(!in_ci(), "CI=true but redis-server is not installed");
        shout("SKIPPED: Redis failure test (redis-server not installed)");
        return;
    };
    let redis_url = format!("redis://127.0.0.1:{port}");
    let (url, path) = sqlite_url("redis-kill");
    let server = start_server(&url, Some((&redis_url, "crm:")));
    let c = server.ok("POST", "/api/customers", Some(json!({"name": "Rina"})));
    let id = c["id"].as_i64().expect("id");
    server.ok("GET", &format!("/api/customers/{id}"), None);
    assert!(
        redis_get(&redis_url, &format!("crm:customer:{id}"))
            .await
            .is_some(),
        "cached"
    );
    let mut ws = server.websocket(None).await;

    drop(redis); // SIGKILL
    for round in 0..5 {
        let started = Instant::now();
        let got = server.ok("GET", &format!("/api/customers/{id}"), None);
        let updated = server.ok(
            "PATCH",
            &format!("/api/customers/{id}"),
            Some(json!({"name": format!("Rina {round}")})),
        );
        assert_eq!(updated["name"], format!("Rina {round}"));
        assert!(got["id"] == id);
        let reread = server.ok("GET", &format!("/api/customers/{id}"), None);
        assert_eq!(
            reread["name"],
            format!("Rina {round}"),
            "answered from the database"
        );
        server.ok(
            "POST",
            &format!("/api/customers/{id}/loyalty/earn"),
            Some(json!({"points": 2, "reference_type": "order", "reference_id": format!("k-{round}")})),
        );
        let listed = server.ok("GET", "/api/customers?q=Rina", None);
        assert_eq!(listed.as_array().map(Vec::len), Some(1));
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "round {round} took {:?}",
            started.elapsed()
        );
        // Events still flow without Redis (the relay reads the outbox).
        assert_eq!(next_event(&mut ws).await["type"], "customer_update");
        assert_eq!(next_event(&mut ws).await["type"], "loyalty_points");
    }
    let (status, health) = server.call("GET", "/health", None);
    assert_eq!((status, &health["data"]["status"]), (200, &json!("ok")));

    // Redis comes back (empty): the server reconnects by itself and caches again.
    let _redis = start_redis(port).expect("redis again");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let seen = server.ok("GET", &format!("/api/customers/{id}"), None);
        assert_eq!(seen["name"], "Rina 4");
        if let Some(v) = redis_get(&redis_url, &format!("crm:customer:{id}")).await {
            assert!(v.contains("\"Rina 4\""), "{v}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the server did not cache again after Redis came back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // And the write path keeps the entry fresh again.
    server.ok(
        "PATCH",
        &format!("/api/customers/{id}"),
        Some(json!({"name": "Rina Baru"})),
    );
    let v = redis_get(&redis_url, &format!("crm:customer:{id}"))
        .await
        .expect("cached");
    assert!(v.contains("\"Rina Baru\""), "{v}");
    drop(server);
    remove_sqlite(&path);
}

/// Where a test's WebSocket connects: the URL and an admin token sent in
/// the `Authorization` header.
struct WsTarget {
    url: String,
    token: String,
}

impl WsTarget {
    fn request(&self) -> tokio_tungstenite::tungstenite::handshake::client::Request {
        let mut req =
            tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
                self.url.as_str(),
            )
            .expect("request");
        req.headers_mut().insert(
            "authorization",
            format!("Bearer {}", self.token).parse().expect("header"),
        );
        req
    }
}

/// A server in this process (so the test can read its event hub), on a
/// temporary SQLite file, with these event settings; returns its state, the
/// WebSocket target with an admin token, the SDK handle and the file.
async fn in_process_server(
    tag: &str,
    options: crm_server::events::EventOptions,
) -> (
    std::sync::Arc<crm_server::AppState>,
    WsTarget,
    crm_core::Crm,
    std::path::PathBuf,
) {
    let (url, path) = sqlite_url(tag);
    let store = crm_sqlx::connect(&url).await.expect("sqlite");
    let crm = crm_core::Crm::from_arc(store);
    crm_server::bootstrap_admin(&crm, Some(ADMIN.into()), Some(PASSWORD.into()))
        .await
        .expect("admin");
    let state = crm_server::AppState::with(
        crm.clone(),
        b"in-process-test-secret-0123456789abcdef",
        None,
        options,
    );
    crm_server::events::EventHub::start(&state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let app = crm_server::app(state.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let user = crm
        .users()
        .authenticate(crm_core::users::Credentials {
            email: ADMIN.into(),
            password: PASSWORD.into(),
        })
        .await
        .expect("login");
    let (token, _) =
        crm_server::auth::issue(&state.keys, &user, chrono::Utc::now()).expect("token");
    let target = WsTarget {
        url: format!("ws://127.0.0.1:{port}/crm-updates"),
        token,
    };
    (state, target, crm, path)
}

/// A burst far larger than the shared buffer: the client falls behind,
/// catches up from the database, and still gets everything once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_behind_the_buffer_catches_up_from_the_database() {
    let options = crm_server::events::EventOptions {
        buffer: 16,
        ..Default::default()
    };
    let (state, url, crm, path) = in_process_server("lag", options).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(url.request())
        .await
        .expect("websocket");
    // Let the connection subscribe before the burst.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let burst: Vec<_> = (0..2_000)
        .map(|i| crm_core::NewCustomer {
            name: format!("Burst {i}"),
            ..Default::default()
        })
        .collect();
    let created = crm.customers().import(burst).await.expect("import");
    let mut customers = Vec::new();
    let mut last = 0;
    while customers.len() < 2_000 {
        let e = next_event(&mut ws).await;
        let id = e["event_id"].as_i64().expect("id");
        assert!(id > last, "out of order or duplicate: {id} after {last}");
        last = id;
        customers.push(e["customer_id"].as_i64().unwrap_or_default());
    }
    let expected: Vec<i64> = created.iter().map(|c| c.id.0).collect();
    assert_eq!(customers, expected, "every new customer, in order");
    no_more_events(&mut ws, Duration::from_millis(300)).await;
    assert!(
        state.events.lagged_catch_ups() > 0,
        "the burst was meant to overflow the 16-event buffer"
    );
    drop(ws);
    remove_sqlite(&path);
}

/// A client that stops reading is disconnected after the send timeout, while
/// a client that reads gets every event: nobody waits for the slow one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_dropped_without_holding_up_others() {
    let options = crm_server::events::EventOptions {
        buffer: 64,
        send_timeout: Duration::from_secs(1),
        ..Default::default()
    };
    let (state, url, crm, path) = in_process_server("slow", options).await;
    let (mut fast, _) = tokio_tungstenite::connect_async(url.request())
        .await
        .expect("fast");
    // The slow client: connected, never reads a byte, with a small receive
    // window, so the server's socket to it fills after some hundred KB.
    let addr: std::net::SocketAddr = url
        .url
        .trim_start_matches("ws://")
        .split('/')
        .next()
        .and_then(|host| host.parse().ok())
        .expect("address");
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("receive buffer");
    let stream = socket.connect(addr).await.expect("connect");
    let (_slow, _) = tokio_tungstenite::client_async(url.request(), stream)
        .await
        .expect("slow");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(state.events.clients(), 2);
    // Enough events (about 3 MB of thin events) to fill every socket
    // buffer between the server and the client that does not read.
    let total = 40_000;
    // The reading client reads in its own task while the events are made.
    let reader = tokio::spawn(async move {
        let mut received = 0;
        let mut last = 0;
        while received < total {
            let e = next_event(&mut fast).await;
            let id = e["event_id"].as_i64().expect("id");
            assert!(id > last, "in order, once");
            last = id;
            received += 1;
        }
        fast
    });
    for batch in 0..total / 10_000 {
        let rows: Vec<_> = (0..10_000)
            .map(|i| crm_core::NewCustomer {
                name: format!("Slow {batch} {i}"),
                tags: vec!["slow-client-test".into(); 1],
                ..Default::default()
            })
            .collect();
        crm.customers().import(rows).await.expect("import");
    }
    let fast = reader.await.expect("the reading client got every event");
    let deadline = Instant::now() + Duration::from_secs(10);
    while state.events.clients() > 1 {
        assert!(
            Instant::now() < deadline,
            "the client that stopped reading was never dropped"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        state.events.clients(),
        1,
        "the reading client is still there"
    );
    drop(fast);
    remove_sqlite(&path);
}

/// The close frame `ws` gets within `within`: its code.
async fn close_code(ws: &mut Ws, within: Duration) -> Option<u16> {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, ws.next()).await {
            Ok(Some(Ok(Message::Close(frame)))) => return frame.map(|f| u16::from(f.code)),
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(_)) | None) | Err(_) => return None,
        }
    }
}

/// A WebSocket closes with 4003 within about a second of its user being
/// disabled (by anybody, through the database), and with 4001 when its
/// token's lifetime ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websockets_close_when_their_token_is_revoked_or_expires() {
    let (state, target, crm, path) =
        in_process_server("revoke", crm_server::events::EventOptions::default()).await;
    let kasir = crm
        .users()
        .create(crm_core::users::NewUser {
            email: "kasir@realtime.test".into(),
            password: "kasir-password-1".into(),
            role: crm_core::users::Role::Cashier,
        })
        .await
        .expect("cashier");
    let (token, _) =
        crm_server::auth::issue(&state.keys, &kasir, chrono::Utc::now()).expect("token");
    let as_kasir = WsTarget {
        url: target.url.clone(),
        token,
    };
    let (mut ws, _) = tokio_tungstenite::connect_async(as_kasir.request())
        .await
        .expect("websocket");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let disabled_at = Instant::now();
    crm.users().disable(kasir.id).await.expect("disable");
    assert_eq!(
        close_code(&mut ws, Duration::from_secs(4)).await,
        Some(crm_server::events::CLOSE_TOKEN_REVOKED)
    );
    let took = disabled_at.elapsed();
    assert!(took < Duration::from_millis(2500), "closed after {took:?}");
    // Reconnecting with the revoked token is refused before the upgrade.
    let again = tokio_tungstenite::connect_async(as_kasir.request()).await;
    assert!(
        matches!(&again, Err(tokio_tungstenite::tungstenite::Error::Http(r)) if r.status() == 401),
        "{again:?}"
    );

    // A token that lives 2 s: the socket closes when it ends.
    let short = crm_server::auth::TokenKeys::new(
        b"in-process-test-secret-0123456789abcdef",
        chrono::Duration::seconds(2),
    );
    let admin = crm.users().get(1).await.expect("admin");
    let (token, _) = crm_server::auth::issue(&short, &admin, chrono::Utc::now()).expect("token");
    let brief = WsTarget {
        url: target.url.clone(),
        token,
    };
    let (mut ws, _) = tokio_tungstenite::connect_async(brief.request())
        .await
        .expect("websocket");
    assert_eq!(
        close_code(&mut ws, Duration::from_secs(5)).await,
        Some(crm_server::events::CLOSE_TOKEN_EXPIRED)
    );
    drop(state);
    let _ = std::fs::remove_file(path);
}

/// Connections beyond the cap are answered 503 before the upgrade; a
/// client message above the size cap closes its connection; the cap frees
/// up when a client leaves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_connections_and_messages_are_capped() {
    let options = crm_server::events::EventOptions {
        max_clients: 2,
        max_message_bytes: 1024,
        ..Default::default()
    };
    let (state, target, _crm, path) = in_process_server("caps", options).await;
    let (mut one, _) = tokio_tungstenite::connect_async(target.request())
        .await
        .expect("first");
    let (_two, _) = tokio_tungstenite::connect_async(target.request())
        .await
        .expect("second");
    let third = tokio_tungstenite::connect_async(target.request()).await;
    assert!(
        matches!(&third, Err(tokio_tungstenite::tungstenite::Error::Http(r)) if r.status() == 503),
        "{third:?}"
    );
    // A message larger than the cap ends the connection.
    futures_util::SinkExt::send(&mut one, Message::text("x".repeat(10_000)))
        .await
        .expect("send");
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match one.next().await {
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(
        ended.is_ok(),
        "an oversized message did not end the connection"
    );
    // Its slot is free again.
    let deadline = Instant::now() + Duration::from_secs(5);
    while state.events.clients() >= 2 {
        assert!(Instant::now() < deadline, "the slot was not freed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio_tungstenite::connect_async(target.request())
        .await
        .expect("a slot freed by the closed connection");
    let _ = std::fs::remove_file(path);
}

/// A client resuming from an event id older than what retention deleted
/// gets `{"type":"resync"}` first, then live events; one resuming from a
/// kept id gets what it missed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_past_the_retention_is_told_to_resync() {
    let (_state, target, crm, path) =
        in_process_server("resync", crm_server::events::EventOptions::default()).await;
    for name in ["Lama Satu", "Lama Dua"] {
        crm.customers()
            .create(crm_core::NewCustomer {
                name: name.into(),
                ..Default::default()
            })
            .await
            .expect("customer");
    }
    let first = crm.events().last_id().await.expect("last");
    tokio::time::sleep(Duration::from_millis(20)).await;
    let pruned = crm
        .events()
        .prune(Duration::from_millis(1))
        .await
        .expect("prune");
    assert_eq!(pruned.through, first);
    let baru = crm
        .customers()
        .create(crm_core::NewCustomer {
            name: "Baru".into(),
            ..Default::default()
        })
        .await
        .expect("customer");
    let mut old = target.request();
    *old.uri_mut() = format!("{}?last_event_id=1", target.url)
        .parse()
        .expect("uri");
    let (mut ws, _) = tokio_tungstenite::connect_async(old).await.expect("ws");
    let resync = next_event(&mut ws).await;
    assert_eq!(resync["type"], "resync", "{resync}");
    assert_eq!(resync["pruned_through"], first);
    let mut kept = target.request();
    *kept.uri_mut() = format!("{}?last_event_id={first}", target.url)
        .parse()
        .expect("uri");
    let (mut ws, _) = tokio_tungstenite::connect_async(kept).await.expect("ws");
    let missed = next_event(&mut ws).await;
    assert_eq!(
        (missed["type"].as_str(), missed["customer_id"].as_i64()),
        (Some("new_customer"), Some(baru.id.0)),
        "{missed}"
    );
    let _ = std::fs::remove_file(path);
}
