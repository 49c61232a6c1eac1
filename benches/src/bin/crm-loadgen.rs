//! A small open-loop (fixed-rate) HTTP/1.1 load generator for the load
//! benchmark's write scenario: it sends request `k` at `start + k / rate`
//! whatever the server's speed, each from a file of prepared requests, so
//! every request can carry its own body (a unique idempotency key per
//! `earn`), which `oha` cannot do (its `-Z` picks body lines at random,
//! independently of the URL).
//!
//! Run: `crm-loadgen --target http://127.0.0.1:8080 --rate 1000 --duration 30 --requests earn.txt -H 'authorization: Bearer ...'`
//!
//! The requests file has one request per line: `METHOD PATH [BODY]` (the
//! body is the rest of the line, sent as JSON). Lines are used in order
//! (cycling if there are fewer lines than requests).
//!
//! Latency is measured from the request's *scheduled* send time to the end
//! of the response, so waiting for a free connection when the server falls
//! behind counts (no coordinated omission). Pacing runs on its own thread
//! with `std::thread::sleep`, which keeps send times within ~0.1 ms of the
//! schedule; requests run on a one-thread tokio runtime over keep-alive
//! connections (opened as needed, at most `--connections`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

const USAGE: &str = "\
crm-loadgen: open-loop HTTP/1.1 load at a fixed rate

USAGE:
    crm-loadgen --target http://HOST:PORT --requests FILE [--rate R] [--duration S]
                [-H 'name: value']... [--connections C] [--json OUT]

    --requests FILE   one request per line: METHOD PATH [JSON BODY]
    --rate R          requests per second (default 1000)
    --duration S      seconds (default 30)
    --connections C   most connections open at once (default 256)
    --json OUT        also write the summary as JSON to OUT
";

type BoxError = Box<dyn std::error::Error + Send + Sync>;

struct Args {
    host: String,
    requests: String,
    rate: f64,
    duration: f64,
    headers: Vec<String>,
    connections: usize,
    json: Option<String>,
}

fn parse() -> Result<Args, BoxError> {
    let mut a = Args {
        host: String::new(),
        requests: String::new(),
        rate: 1000.0,
        duration: 30.0,
        headers: Vec::new(),
        connections: 256,
        json: None,
    };
    let mut it = std::env::args().skip(1);
    let mut target = String::new();
    while let Some(arg) = it.next() {
        let mut next = || it.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--target" => target = next()?,
            "--requests" => a.requests = next()?,
            "--rate" => a.rate = next()?.parse()?,
            "--duration" => a.duration = next()?.parse()?,
            "-H" | "--header" => a.headers.push(next()?),
            "--connections" => a.connections = next()?.parse::<usize>()?.max(1),
            "--json" => a.json = Some(next()?),
            "-h" | "--help" => {
                print!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?}\n\n{USAGE}").into()),
        }
    }
    a.host = target
        .strip_prefix("http://")
        .ok_or_else(|| format!("--target must be http://host:port\n\n{USAGE}"))?
        .trim_end_matches('/')
        .to_string();
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

/// One result: status (0 = transport error) and latency in microseconds.
#[derive(Clone, Copy)]
struct Sample {
    status: u16,
    micros: u64,
}

struct Shared {
    host: String,
    idle: Mutex<Vec<Conn>>,
    slots: Semaphore,
    samples: Mutex<Vec<Sample>>,
    opened: std::sync::atomic::AtomicU64,
}

async fn one(shared: Arc<Shared>, req: Arc<[u8]>, scheduled: Instant) {
    // 0 stands for a transport error (no HTTP status).
    let status: u16 = send(&shared, &req).await.unwrap_or_default();
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
    let reused = shared.idle.lock().ok().and_then(|mut v| v.pop());
    let mut conn = match reused {
        Some(c) => c,
        None => {
            let s = TcpStream::connect(&shared.host).await?;
            s.set_nodelay(true)?;
            shared
                .opened
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
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
    let requests = prepare(&a)?;
    let total = (a.rate * a.duration).round() as u64;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let shared = Arc::new(Shared {
        host: a.host.clone(),
        idle: Mutex::new(Vec::new()),
        slots: Semaphore::new(a.connections),
        samples: Mutex::new(Vec::with_capacity(total as usize)),
        opened: Default::default(),
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
    let summary = format!(
        concat!(
            "{{\"requests\":{},\"ok\":{},\"non_2xx\":{},\"transport_errors\":{},",
            "\"rate\":{},\"send_seconds\":{:.3},\"elapsed_seconds\":{:.3},\"throughput\":{:.1},",
            "\"p50_ms\":{:.3},\"p90_ms\":{:.3},\"p99_ms\":{:.3},\"p999_ms\":{:.3},\"max_ms\":{:.3},",
            "\"mean_ms\":{:.3},\"connections_opened\":{},\"statuses\":{{{}}}}}"
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
        shared.opened.load(std::sync::atomic::Ordering::Relaxed),
        statuses
            .iter()
            .map(|(k, v)| format!("\"{k}\":{v}"))
            .collect::<Vec<_>>()
            .join(",")
    );
    println!(
        "{} requests at {}/s in {:.1} s: {} ok, {} non-2xx, {} transport errors; \
         p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms; {:.0} req/s",
        samples.len(),
        a.rate,
        elapsed.as_secs_f64(),
        ok,
        samples.len() as u64 - ok - transport,
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
