//! A small open-loop (fixed-rate) load generator for the load benchmark, in
//! two modes:
//!
//! - **HTTP** (`--target`): HTTP/1.1 requests from a file of prepared
//!   requests, so every request can carry its own body (a unique idempotency
//!   key per `earn`), which `oha` cannot do (its `-Z` picks body lines at
//!   random, independently of the URL).
//! - **raw SQL** (`--mysql`): each "request" is a list of SQL statements sent
//!   straight to MySQL/MariaDB on one pooled connection, so the database's
//!   own cost of a scenario can be measured with the same pacing and the same
//!   figures as the API (`benches/load/run.sh` runs both).
//!
//! Run: `crm-loadgen --target http://127.0.0.1:8080 --rate 1000 --duration 30 --requests earn.txt -H 'authorization: Bearer ...'`
//! or `crm-loadgen --mysql mysql://crm:crm@127.0.0.1:3306/crm_load --rate 1000 --duration 30 --requests get.sql.jsonl --connections 10`
//!
//! HTTP requests file: one request per line, `METHOD PATH [BODY]` (the body
//! is the rest of the line, sent as JSON).
//!
//! SQL requests file: one request per line, a JSON array of statements, each
//! `[sql_text, [params...]]` (params are JSON numbers, strings, booleans or
//! null, bound in order), for example
//! `[["BEGIN",[]],["SELECT * FROM t WHERE id = ? FOR UPDATE",[7]],["COMMIT",[]]]`.
//! The statements run in order on one connection of a pool of at most
//! `--connections` (all opened, with the file's statements prepared, before
//! the clock starts, as in a warmed-up server; no test before acquire) as
//! prepared statements (cached per connection), every row of every result
//! read; `BEGIN`, `COMMIT` and `ROLLBACK` go as plain text, as sqlx's own
//! transactions send them. A statement given without a parameter list
//! (`[sql_text]`) also goes as plain text, and may then hold several
//! statements separated by `;` (a batch, as the store sends some writes).
//! A parameter `{"insert_id": k}` is the id inserted by statement `k` of
//! the request (from 0); in plain text, `{{insert_id:k}}` is replaced by it. A request whose statement fails is rolled back
//! (when a `BEGIN` was sent) and counted in `non_2xx` (a failed statement);
//! a lost connection or pool timeout is a transport error.
//!
//! Lines are used in order (cycling if there are fewer lines than requests).
//!
//! Latency is measured from the request's *scheduled* send time to the end
//! of the response (the last statement's last row), so waiting for a free
//! connection when the server falls behind counts (no coordinated omission).
//! Pacing runs on its own thread with `std::thread::sleep`, which keeps send
//! times within ~0.1 ms of the schedule; requests run on a one-thread tokio
//! runtime (HTTP: keep-alive connections opened as needed, at most
//! `--connections`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::mysql::{MySqlPool, MySqlPoolOptions};
use sqlx::{AssertSqlSafe, Executor, SqlSafeStr};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

const USAGE: &str = "\
crm-loadgen: open-loop load at a fixed rate, over HTTP/1.1 or as raw SQL

USAGE:
    crm-loadgen --target http://HOST:PORT --requests FILE [--rate R] [--duration S]
                [-H 'name: value']... [--connections C] [--json OUT]
    crm-loadgen --mysql mysql://USER:PASS@HOST:PORT/DB --requests FILE [--rate R]
                [--duration S] [--connections C] [--json OUT]

    --target URL      HTTP mode: the server
    --mysql URL       raw SQL mode: the database
    --requests FILE   HTTP: one request per line, METHOD PATH [JSON BODY];
                      SQL: one request per line, a JSON array of statements
                      [[\"SQL\", [params...]], ...], run in order on one connection
    --rate R          requests per second (default 1000)
    --duration S      seconds (default 30)
    --connections C   most connections open at once (default 256 for HTTP;
                      the pool size for SQL, default 10, all opened up front)
    --json OUT        also write the summary as JSON to OUT
";

type BoxError = Box<dyn std::error::Error + Send + Sync>;

struct Args {
    host: String,
    mysql: Option<String>,
    requests: String,
    rate: f64,
    duration: f64,
    headers: Vec<String>,
    connections: Option<usize>,
    json: Option<String>,
}

fn parse() -> Result<Args, BoxError> {
    let mut a = Args {
        host: String::new(),
        mysql: None,
        requests: String::new(),
        rate: 1000.0,
        duration: 30.0,
        headers: Vec::new(),
        connections: None,
        json: None,
    };
    let mut it = std::env::args().skip(1);
    let mut target = String::new();
    while let Some(arg) = it.next() {
        let mut next = || it.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--target" => target = next()?,
            "--mysql" => a.mysql = Some(next()?),
            "--requests" => a.requests = next()?,
            "--rate" => a.rate = next()?.parse()?,
            "--duration" => a.duration = next()?.parse()?,
            "-H" | "--header" => a.headers.push(next()?),
            "--connections" => a.connections = Some(next()?.parse::<usize>()?.max(1)),
            "--json" => a.json = Some(next()?),
            "-h" | "--help" => {
                print!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?}\n\n{USAGE}").into()),
        }
    }
    match (&a.mysql, target.is_empty()) {
        (Some(_), true) => {}
        (None, false) => {
            a.host = target
                .strip_prefix("http://")
                .ok_or_else(|| format!("--target must be http://host:port\n\n{USAGE}"))?
                .trim_end_matches('/')
                .to_string();
        }
        _ => return Err(format!("give either --target or --mysql\n\n{USAGE}").into()),
    }
    if a.requests.is_empty()
        || a.rate.is_nan()
        || a.rate <= 0.0
        || a.duration.is_nan()
        || a.duration <= 0.0
    {
        return Err(
            format!("--requests, a positive --rate and --duration are needed\n\n{USAGE}").into(),
        );
    }
    Ok(a)
}

/// Prepared request bytes, one per line of the requests file.
fn prepare(a: &Args) -> Result<Vec<Arc<[u8]>>, BoxError> {
    let text = std::fs::read_to_string(&a.requests)?;
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut parts = line.splitn(3, ' ');
        let method = parts.next().unwrap_or("GET");
        let path = parts.next().ok_or_else(|| format!("no path in {line:?}"))?;
        let body = parts.next().unwrap_or("");
        let mut req = format!("{method} {path} HTTP/1.1\r\nhost: {}\r\n", a.host);
        for h in &a.headers {
            req.push_str(h);
            req.push_str("\r\n");
        }
        if !body.is_empty() || method != "GET" {
            req.push_str(&format!(
                "content-type: application/json\r\ncontent-length: {}\r\n",
                body.len()
            ));
        }
        req.push_str("\r\n");
        req.push_str(body);
        out.push(Arc::from(req.into_bytes().into_boxed_slice()));
    }
    if out.is_empty() {
        return Err(format!("{} has no requests", a.requests).into());
    }
    Ok(out)
}

/// One bound parameter of a raw SQL statement.
#[derive(Debug, Clone)]
enum Param {
    Int(i64),
    Float(f64),
    Text(Arc<str>),
    Bool(bool),
    Null,
    /// The id inserted by an earlier statement of the request.
    InsertId(usize),
}

/// One raw SQL statement: its text and parameters.
#[derive(Debug)]
struct Stmt {
    sql: Arc<str>,
    params: Vec<Param>,
    /// `BEGIN`, `COMMIT`, `ROLLBACK`: sent as plain text, not prepared.
    plain: bool,
}

/// The statements of one request, one per line of a SQL requests file.
fn prepare_sql(a: &Args) -> Result<Vec<Arc<[Stmt]>>, BoxError> {
    let text = std::fs::read_to_string(&a.requests)?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |what: &str| format!("{}:{}: {what}", a.requests, n + 1);
        let value: serde_json::Value =
            serde_json::from_str(line).map_err(|e| bad(&e.to_string()))?;
        let statements = value
            .as_array()
            .ok_or_else(|| bad("a request is a JSON array of statements"))?;
        let mut request = Vec::with_capacity(statements.len());
        for st in statements {
            let (sql, params, batch) = match st.as_array().map(Vec::as_slice) {
                Some([sql, params]) => (sql, params, false),
                Some([sql]) => (sql, &serde_json::Value::Null, true),
                _ => return Err(bad("a statement is [sql_text, [params...]]").into()),
            };
            let sql = sql
                .as_str()
                .ok_or_else(|| bad("a statement's SQL is a string"))?;
            let params = match params {
                serde_json::Value::Null => Vec::new(),
                serde_json::Value::Array(list) => list
                    .iter()
                    .map(|p| match p {
                        serde_json::Value::Number(x) => match x.as_i64() {
                            Some(i) => Ok(Param::Int(i)),
                            None => x
                                .as_f64()
                                .map(Param::Float)
                                .ok_or_else(|| bad("a number out of range")),
                        },
                        serde_json::Value::String(t) => Ok(Param::Text(Arc::from(t.as_str()))),
                        serde_json::Value::Bool(b) => Ok(Param::Bool(*b)),
                        serde_json::Value::Null => Ok(Param::Null),
                        serde_json::Value::Object(o) => o
                            .get("insert_id")
                            .and_then(serde_json::Value::as_u64)
                            .map(|k| Param::InsertId(k as usize))
                            .ok_or_else(|| bad("an object parameter is {\"insert_id\": k}")),
                        _ => Err(bad("parameters are numbers, strings, booleans or null")),
                    })
                    .collect::<Result<Vec<_>, _>>()?,
                _ => return Err(bad("a statement's parameters are an array").into()),
            };
            let word = sql.trim().trim_end_matches(';').to_ascii_uppercase();
            let plain = batch
                || params.is_empty()
                    && matches!(
                        word.as_str(),
                        "BEGIN" | "START TRANSACTION" | "COMMIT" | "ROLLBACK"
                    );
            request.push(Stmt {
                sql: Arc::from(sql),
                params,
                plain,
            });
        }
        if request.is_empty() {
            return Err(bad("a request has no statements").into());
        }
        out.push(Arc::from(request.into_boxed_slice()));
    }
    if out.is_empty() {
        return Err(format!("{} has no requests", a.requests).into());
    }
    Ok(out)
}

type Conn = BufReader<TcpStream>;

/// Reads one response; returns its status and whether the connection can be reused.
async fn read_response(conn: &mut Conn) -> std::io::Result<(u16, bool)> {
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string());
    let mut line = String::new();
    if conn.read_line(&mut line).await? == 0 {
        return Err(bad("connection closed"));
    }
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("bad status line"))?;
    let (mut length, mut chunked, mut keep) = (None, false, true);
    loop {
        line.clear();
        if conn.read_line(&mut line).await? == 0 {
            return Err(bad("connection closed in headers"));
        }
        let h = line.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((name, value)) = h.split_once(':') {
            let value = value.trim();
            match name.trim().to_ascii_lowercase().as_str() {
                "content-length" => length = value.parse::<usize>().ok(),
                "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
                "connection" => keep = !value.eq_ignore_ascii_case("close"),
                _ => {}
            }
        }
    }
    let mut sink = Vec::new();
    if chunked {
        loop {
            line.clear();
            conn.read_line(&mut line).await?;
            let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
                .map_err(|_| bad("bad chunk size"))?;
            sink.resize(size + 2, 0);
            conn.read_exact(&mut sink).await?;
            if size == 0 {
                break;
            }
        }
    } else if let Some(n) = length {
        sink.resize(n, 0);
        conn.read_exact(&mut sink).await?;
    } else {
        return Err(bad("response without length"));
    }
    Ok((status, keep))
}

/// Whether an idle keep-alive connection is still open: nothing to read
/// yet (a closed one reads end of file).
fn open(conn: &Conn) -> bool {
    let mut byte = [0u8; 1];
    matches!(conn.get_ref().try_read(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

/// One result: status (0 = transport error) and latency in microseconds.
#[derive(Clone, Copy)]
struct Sample {
    status: u16,
    micros: u64,
}

/// What every request task shares.
struct Shared {
    host: String,
    idle: Mutex<Vec<Conn>>,
    slots: Semaphore,
    samples: Mutex<Vec<Sample>>,
    opened: AtomicU64,
    /// Raw SQL mode: the pool, rows read, failed statements.
    pool: Option<MySqlPool>,
    rows: AtomicU64,
    failed_statements: AtomicU64,
}

/// One request of either mode.
#[derive(Clone)]
enum Request {
    Http(Arc<[u8]>),
    Sql(Arc<[Stmt]>),
}

async fn one(shared: Arc<Shared>, req: Request, scheduled: Instant) {
    // 0 stands for a transport error (no HTTP status); raw SQL reports 200
    // when every statement ran, 500 when one failed.
    let status: u16 = match req {
        Request::Http(req) => send(&shared, &req).await.unwrap_or_default(),
        Request::Sql(statements) => run_sql(&shared, &statements).await,
    };
    let micros = scheduled.elapsed().as_micros() as u64;
    if let Ok(mut s) = shared.samples.lock() {
        s.push(Sample { status, micros });
    }
}

async fn send(shared: &Shared, req: &[u8]) -> std::io::Result<u16> {
    let _slot = shared
        .slots
        .acquire()
        .await
        .map_err(|_| std::io::Error::other("closed"))?;
    // An idle connection the server has closed (its keep-alive timeout) is
    // dropped, as an HTTP client's pool does, instead of failing a request.
    let reused = loop {
        match shared.idle.lock().ok().and_then(|mut v| v.pop()) {
            Some(c) if !open(&c) => continue,
            other => break other,
        }
    };
    let mut conn = match reused {
        Some(c) => c,
        None => {
            let s = TcpStream::connect(&shared.host).await?;
            s.set_nodelay(true)?;
            shared.opened.fetch_add(1, Ordering::Relaxed);
            BufReader::new(s)
        }
    };
    conn.get_mut().write_all(req).await?;
    let (status, keep) = read_response(&mut conn).await?;
    if keep && let Ok(mut v) = shared.idle.lock() {
        v.push(conn);
    }
    Ok(status)
}

/// Runs one request's statements on one pooled connection; returns 200, 500
/// (a statement failed: counted, the transaction rolled back) or 0 (the
/// connection or the pool failed).
async fn run_sql(shared: &Shared, statements: &[Stmt]) -> u16 {
    let Some(pool) = &shared.pool else { return 0 };
    let Ok(mut conn) = pool.acquire().await else {
        return 0;
    };
    let mut in_tx = false;
    // The id each statement inserted (0: none).
    let mut inserted: Vec<u64> = Vec::with_capacity(statements.len());
    for st in statements {
        let id = |k: usize| inserted.get(k).copied().unwrap_or(0);
        let upper = st
            .sql
            .trim_start()
            .get(..6)
            .unwrap_or("")
            .to_ascii_uppercase();
        let done = if st.plain {
            if upper.starts_with("BEGIN") || upper.starts_with("START") {
                in_tx = true;
            }
            let mut sql = st.sql.to_string();
            while let Some(at) = sql.find("{{insert_id:") {
                let end = sql[at..].find("}}").map_or(sql.len(), |e| at + e + 2);
                let k = sql[at + 12..end.saturating_sub(2)]
                    .parse()
                    .unwrap_or(usize::MAX);
                sql.replace_range(at..end, &id(k).to_string());
            }
            sqlx::raw_sql(AssertSqlSafe(sql))
                .execute(&mut *conn)
                .await
                .map(|r| (0, r.last_insert_id()))
        } else {
            let mut q = sqlx::query(AssertSqlSafe(st.sql.clone()));
            for p in &st.params {
                q = match p {
                    Param::Int(i) => q.bind(*i),
                    Param::Float(f) => q.bind(*f),
                    Param::Text(t) => q.bind(t.to_string()),
                    Param::Bool(b) => q.bind(*b),
                    Param::Null => q.bind(None::<i64>),
                    Param::InsertId(k) => q.bind(id(*k) as i64),
                };
            }
            if upper == "INSERT" {
                q.execute(&mut *conn).await.map(|r| (0, r.last_insert_id()))
            } else {
                q.fetch_all(&mut *conn)
                    .await
                    .map(|rows| (rows.len() as u64, 0))
            }
        };
        match done {
            Ok((rows, id)) => {
                shared.rows.fetch_add(rows, Ordering::Relaxed);
                inserted.push(id);
            }
            Err(e) => {
                if e.as_database_error().is_none() {
                    // Lost connection, protocol error: do not reuse it.
                    conn.close_on_drop();
                    return 0;
                }
                shared.failed_statements.fetch_add(1, Ordering::Relaxed);
                if in_tx {
                    let _ = sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await;
                }
                return 500;
            }
        }
    }
    200
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64 / 1000.0
}

fn main() {
    if let Err(e) = run() {
        eprintln!("crm-loadgen: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), BoxError> {
    let a = parse()?;
    let requests: Vec<Request> = if a.mysql.is_some() {
        prepare_sql(&a)?.into_iter().map(Request::Sql).collect()
    } else {
        prepare(&a)?.into_iter().map(Request::Http).collect()
    };
    let total = (a.rate * a.duration).round() as u64;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let connections = a
        .connections
        .unwrap_or(if a.mysql.is_some() { 10 } else { 256 });
    let pool = match &a.mysql {
        Some(url) => {
            let mut texts: Vec<Arc<str>> = requests
                .iter()
                .filter_map(|r| match r {
                    Request::Sql(statements) => Some(statements),
                    Request::Http(_) => None,
                })
                .flat_map(|statements| statements.iter())
                .filter(|st| !st.plain)
                .map(|st| st.sql.clone())
                .collect();
            texts.sort_unstable();
            texts.dedup();
            Some(rt.block_on(open_pool(url, connections, &texts))?)
        }
        None => None,
    };
    let shared = Arc::new(Shared {
        host: a.host.clone(),
        idle: Mutex::new(Vec::new()),
        slots: Semaphore::new(connections),
        samples: Mutex::new(Vec::with_capacity(total as usize)),
        opened: AtomicU64::new(pool.as_ref().map_or(0, |p| u64::from(p.size()))),
        pool,
        rows: AtomicU64::new(0),
        failed_statements: AtomicU64::new(0),
    });
    let interval = Duration::from_secs_f64(1.0 / a.rate);
    let start = Instant::now() + Duration::from_millis(50);
    let mut tasks = Vec::with_capacity(total as usize);
    for k in 0..total {
        let scheduled = start + interval.mul_f64(k as f64);
        let now = Instant::now();
        if scheduled > now {
            std::thread::sleep(scheduled - now);
        }
        let req = requests[(k % requests.len() as u64) as usize].clone();
        tasks.push(rt.spawn(one(shared.clone(), req, scheduled)));
    }
    let sent = start.elapsed();
    rt.block_on(async {
        for t in tasks {
            let _ = t.await;
        }
    });
    let elapsed = start.elapsed();
    if let Some(pool) = &shared.pool {
        rt.block_on(pool.close());
    }
    let samples = shared.samples.lock().map(|s| s.clone()).unwrap_or_default();
    let mut statuses: BTreeMap<u16, u64> = BTreeMap::new();
    for s in &samples {
        *statuses.entry(s.status).or_default() += 1;
    }
    let ok = samples
        .iter()
        .filter(|s| (200..300).contains(&s.status))
        .count() as u64;
    let transport = statuses.get(&0).copied().unwrap_or(0);
    let mut lat: Vec<u64> = samples.iter().map(|s| s.micros).collect();
    lat.sort_unstable();
    let mean = lat.iter().sum::<u64>() as f64 / lat.len().max(1) as f64 / 1000.0;
    let sql = if shared.pool.is_some() {
        format!(
            ",\"mode\":\"sql\",\"rows\":{},\"failed_statements\":{},\"statements_per_request\":{:.2}",
            shared.rows.load(Ordering::Relaxed),
            shared.failed_statements.load(Ordering::Relaxed),
            requests
                .iter()
                .map(|r| match r {
                    Request::Sql(s) => s.len(),
                    Request::Http(_) => 1,
                })
                .sum::<usize>() as f64
                / requests.len() as f64
        )
    } else {
        ",\"mode\":\"http\"".to_string()
    };
    let summary = format!(
        concat!(
            "{{\"requests\":{},\"ok\":{},\"non_2xx\":{},\"transport_errors\":{},",
            "\"rate\":{},\"send_seconds\":{:.3},\"elapsed_seconds\":{:.3},\"throughput\":{:.1},",
            "\"p50_ms\":{:.3},\"p90_ms\":{:.3},\"p99_ms\":{:.3},\"p999_ms\":{:.3},\"max_ms\":{:.3},",
            "\"mean_ms\":{:.3},\"connections_opened\":{},\"statuses\":{{{}}}{}}}"
        ),
        samples.len(),
        ok,
        samples.len() as u64 - ok - transport,
        transport,
        a.rate,
        sent.as_secs_f64(),
        elapsed.as_secs_f64(),
        samples.len() as f64 / elapsed.as_secs_f64(),
        percentile(&lat, 50.0),
        percentile(&lat, 90.0),
        percentile(&lat, 99.0),
        percentile(&lat, 99.9),
        percentile(&lat, 100.0),
        mean,
        shared.opened.load(Ordering::Relaxed),
        statuses
            .iter()
            .map(|(k, v)| format!("\"{k}\":{v}"))
            .collect::<Vec<_>>()
            .join(","),
        sql
    );
    println!(
        "{} requests at {}/s in {:.1} s: {} ok, {} {}, {} transport errors; \
         p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms; {:.0} req/s",
        samples.len(),
        a.rate,
        elapsed.as_secs_f64(),
        ok,
        samples.len() as u64 - ok - transport,
        if shared.pool.is_some() {
            "failed statements"
        } else {
            "non-2xx"
        },
        transport,
        percentile(&lat, 50.0),
        percentile(&lat, 90.0),
        percentile(&lat, 99.0),
        percentile(&lat, 100.0),
        samples.len() as f64 / elapsed.as_secs_f64()
    );
    if let Some(path) = &a.json {
        std::fs::write(path, summary + "\n")?;
    }
    Ok(())
}

/// A pool of `size` connections, all opened before the clock starts with the
/// requests' statements prepared (at most the first 64 texts), as a
/// warmed-up server's pool is; no test before each acquire.
async fn open_pool(url: &str, size: usize, texts: &[Arc<str>]) -> Result<MySqlPool, BoxError> {
    let size = u32::try_from(size).unwrap_or(u32::MAX);
    let pool = MySqlPoolOptions::new()
        .max_connections(size)
        .min_connections(0)
        .test_before_acquire(false)
        .acquire_timeout(Duration::from_secs(10))
        .connect(url)
        .await?;
    let mut held = Vec::new();
    for _ in 0..size {
        let mut c = pool.acquire().await?;
        sqlx::query("SELECT 1").fetch_all(&mut *c).await?;
        for sql in texts.iter().take(64) {
            // A statement that does not prepare fails (and counts) in the run.
            let _ = (&mut *c)
                .prepare(AssertSqlSafe(sql.clone()).into_sql_str())
                .await;
        }
        held.push(c);
    }
    drop(held);
    Ok(pool)
}
