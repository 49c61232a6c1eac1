//! Integration test over a real socket: starts the `crm-server` binary on
//! SQLite and (with `CRM_TEST_MYSQL_URL`) on a fresh MySQL/MariaDB database,
//! then runs the guide's JavaScript client under `node --test` against it.

use std::io::Write as _;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

fn shout(msg: &str) {
    let _ = writeln!(std::io::stderr(), "{msg}");
}

fn node_available() -> bool {
    Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn start(database_url: &str) -> (Server, String) {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_crm-server"))
        .arg("--no-demo")
        .env("DATABASE_URL", database_url)
        .env("CRM_BIND", format!("127.0.0.1:{port}"))
        .env("CRM_ADMIN_EMAIL", "admin@node.test")
        .env("CRM_ADMIN_PASSWORD", "node-test-password")
        // MySQL needs the shared secret from the environment; on SQLite the
        // server would keep a generated one beside the database.
        .env("CRM_JWT_SECRET", "node-client-test-secret-0123456789abcdef")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("start crm-server");
    let server = Server(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "crm-server did not start listening"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    (server, format!("http://127.0.0.1:{port}"))
}

fn run_guide_client(database_url: &str) {
    let (_server, url) = start(database_url);
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/js/guide_client.test.mjs"
    );
    let out = Command::new("node")
        .args(["--test", script])
        .env("CRM_URL", &url)
        .env("CRM_EMAIL", "admin@node.test")
        .env("CRM_PASSWORD", "node-test-password")
        .output()
        .expect("run node");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "node --test failed:\n{text}");
    assert!(
        text.contains("# pass 2"),
        "expected 2 passing node tests:\n{text}"
    );
}

fn node_or_skip() -> bool {
    if node_available() {
        return true;
    }
    assert!(!in_ci(), "CI=true but node is not installed");
    shout("SKIPPED: guide JavaScript client test (node not installed)");
    false
}

#[test]
fn guide_client_against_sqlite() {
    if !node_or_skip() {
        return;
    }
    let path = std::env::temp_dir().join(format!("crm-node-{}.db", uuid::Uuid::new_v4().simple()));
    run_guide_client(&format!("sqlite://{}", path.display()));
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.clone().into_os_string();
        p.push(suffix);
        let _ = std::fs::remove_file(p);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guide_client_against_mysql() {
    let Some(server_url) = std::env::var("CRM_TEST_MYSQL_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        assert!(!in_ci(), "CI=true but CRM_TEST_MYSQL_URL is not set");
        shout("SKIPPED: guide JavaScript client against MySQL (set CRM_TEST_MYSQL_URL)");
        return;
    };
    if !node_or_skip() {
        return;
    }
    let db = format!("crm_test_{}", uuid::Uuid::new_v4().simple());
    crm_sqlx::mysql::create_database(&server_url, &db)
        .await
        .expect("create database");
    let url = crm_sqlx::mysql::database_url(&server_url, &db).expect("url");
    let outcome =
        tokio::task::spawn_blocking(move || std::panic::catch_unwind(|| run_guide_client(&url)))
            .await;
    let _ = crm_sqlx::mysql::drop_database(&server_url, &db).await;
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(e) => panic!("test task failed: {e}"),
    }
}
