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

type Ws = tokio_tungstenite::WebSocketStream<
    tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
>;

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
        .env_remove("REDIS_URL")
        .stdout(Stdio::null());
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
    let (status, body) = server.call("POST", "/api/auth/login", Some(json!({"email": ADMIN, "password": PASSWORD})));
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
            ("DELETE", _) => self.agent.delete(&url).header("authorization", &auth).call(),
            ("POST", Some(b)) => self.agent.post(&url).header("authorization", &auth).send_json(b),
            ("PATCH", Some(b)) => self.agent.patch(&url).header("authorization", &auth).send_json(b),
            (m, _) => panic!("unsupported {m}"),
        };
        let mut res = result.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = res.status().as_u16();
        let body = res.body_mut().read_json::<Value>().unwrap_or(Value::Null);
        (status, body)
    }

    fn ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, answer) = self.call(method, path, body);
        assert!((200..300).contains(&status), "{method} {path}: {status} {answer}");
        answer["data"].clone()
    }

    async fn websocket(&self, last_event_id: Option<i64>) -> Ws {
        let mut url = format!("ws://127.0.0.1:{}/crm-updates?token={}", self.port, self.token);
        if let Some(id) = last_event_id {
            url.push_str(&format!("&last_event_id={id}"));
        }
        let (ws, _) = tokio_tungstenite::connect_async(url).await.expect("websocket");
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_gets_events_in_order_and_a_reconnect_misses_none() {
    let (url, path) = sqlite_url("ws");
    let server = start_server(&url, None);

    // No token, a forged token: refused before the upgrade.
    let refused = tokio_tungstenite::connect_async(format!(
        "ws://127.0.0.1:{}/crm-updates",
        server.port
    ))
    .await;
    assert!(
        matches!(&refused, Err(tokio_tungstenite::tungstenite::Error::Http(r)) if r.status() == 401),
        "{refused:?}"
    );
    let forged = tokio_tungstenite::connect_async(format!(
        "ws://127.0.0.1:{}/crm-updates?token=eyJhbGciOiJIUzI1NiJ9.e30.x",
        server.port
    ))
    .await;
    assert!(matches!(&forged, Err(tokio_tungstenite::tungstenite::Error::Http(r)) if r.status() == 401));

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
    let (mut ws_header, _) = tokio_tungstenite::connect_async(req).await.expect("header auth");

    let c = server.ok("POST", "/api/customers", Some(json!({"name": "Sari Dewi", "phone": "0812-1111-2222"})));
    let id = c["id"].as_i64().expect("id");
    server.ok("PATCH", &format!("/api/customers/{id}"), Some(json!({"name": "Sari D."})));
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
    let kinds: Vec<_> = seen.iter().map(|e| e["type"].as_str().unwrap_or("?").to_string()).collect();
    assert_eq!(kinds, ["new_customer", "customer_update", "loyalty_points", "loyalty_points"]);
    assert_eq!(seen[0]["customer"]["id"], id);
    assert_eq!(seen[0]["customer"]["name"], "Sari Dewi");
    assert_eq!(seen[1]["customer"]["name"], "Sari D.");
    assert_eq!((seen[2]["customer_id"].as_i64(), seen[2]["points"].as_i64()), (Some(id), Some(10)));
    assert_eq!(seen[3]["points"], 6, "points = the new balance");
    let ids: Vec<i64> = seen.iter().map(|e| e["event_id"].as_i64().expect("event_id")).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    for e in &seen {
        assert_eq!(&next_event(&mut ws_header).await, e, "both clients get the same stream");
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
    assert_eq!((again[2]["type"].as_str(), again[2]["points"].as_i64()), (Some("loyalty_points"), Some(11)));
    assert_eq!((again[3]["type"].as_str(), &again[3]["customer"]["id"]), (Some("new_customer"), &other["id"]));
    no_more_events(&mut resumed, Duration::from_millis(500)).await;
    // Live events keep coming after the catch-up.
    server.ok("DELETE", &format!("/api/customers/{}", other["id"]), None);
    let live = next_event(&mut resumed).await;
    assert_eq!((live["type"].as_str(), &live["customer"]["is_active"]), (Some("customer_update"), &json!(false)));
    assert!(live["event_id"].as_i64() > again[3]["event_id"].as_i64());
    drop(server);
    remove_sqlite(&path);
}
