//! Fills a database with the load-benchmark data set (customers, then their
//! purchase history) through the SDK's bulk importers
//! (`customers().import`, `loyalty().import_history`).
//!
//! Run: `cargo run --release -p crm-benches --bin crm-load -- --url mysql://crm:crm@127.0.0.1:3306/crm_load`
//! (defaults: 1,000,000 customers, 10,000,000 purchases, seed 42; see `--help`).
//!
//! Resumable: customers go in whole batches in order and purchases in
//! batches whose re-run is a no-op, so running it again after a cut continues
//! where the data stops, and on a complete database it only checks and
//! exits. It refuses a database holding customers it did not create.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use crm_benches::dataset::{Dataset, search_prefix};
use crm_core::{ActivityFilter, Crm, CrmConfig, CustomerId, CustomerQuery, CustomerSort};

const USAGE: &str = "\
crm-load: fill a database with the load-benchmark data set

USAGE:
    crm-load --url URL [--customers N] [--purchases M] [--seed S] [--until RFC3339] [--jobs J]
    crm-load prefixes [--seed S] [--count K]      print K search prefixes, one per line

OPTIONS:
    --url URL         mysql://user:pass@host:3306/db (the database is created if missing),
                      mariadb://..., or sqlite://path.db
    --customers N     customers to load (default 1000000)
    --purchases M     purchases to load (default 10000000)
    --seed S          seed of the data set (default 42)
    --until T         purchases fall in the year before T (default 2026-11-01T00:00:00Z)
    --jobs J          purchase batches imported concurrently (default 2)
    --batch B         rows per import call, at most 10000 (default 10000)
";

struct Args {
    url: String,
    customers: u64,
    purchases: u64,
    seed: u64,
    until: DateTime<Utc>,
    jobs: usize,
    batch: u64,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn value<T: std::str::FromStr>(name: &str, v: Option<String>) -> Result<T, BoxError>
where
    T::Err: std::fmt::Display,
{
    let v = v.ok_or_else(|| format!("{name} needs a value"))?;
    v.replace('_', "")
        .parse()
        .map_err(|e| format!("bad {name} {v:?}: {e}").into())
}

fn parse(mut it: impl Iterator<Item = String>) -> Result<Args, BoxError> {
    let mut a = Args {
        url: String::new(),
        customers: 1_000_000,
        purchases: 10_000_000,
        seed: 42,
        until: "2026-11-01T00:00:00Z".parse()?,
        jobs: 2,
        batch: crm_core::MAX_IMPORT_BATCH as u64,
    };
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--url" => a.url = it.next().ok_or("--url needs a value")?,
            "--customers" => a.customers = value("--customers", it.next())?,
            "--purchases" => a.purchases = value("--purchases", it.next())?,
            "--seed" => a.seed = value("--seed", it.next())?,
            "--until" => a.until = value("--until", it.next())?,
            "--jobs" => a.jobs = value::<usize>("--jobs", it.next())?.max(1),
            "--batch" => {
                a.batch =
                    value::<u64>("--batch", it.next())?.clamp(1, crm_core::MAX_IMPORT_BATCH as u64)
            }
            "-h" | "--help" => {
                print!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?}\n\n{USAGE}").into()),
        }
    }
    if a.url.is_empty() {
        return Err(format!("--url is required\n\n{USAGE}").into());
    }
    Ok(a)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("crm-load: {e}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), BoxError> {
    let mut args = std::env::args().skip(1).peekable();
    if args.peek().map(String::as_str) == Some("prefixes") {
        args.next();
        let (mut seed, mut count) = (42u64, 1000u64);
        while let Some(a) = args.next() {
            match a.as_str() {
                "--seed" => seed = value("--seed", args.next())?,
                "--count" => count = value("--count", args.next())?,
                other => return Err(format!("unknown argument {other:?}").into()),
            }
        }
        for k in 0..count {
            println!("{}", search_prefix(seed, k));
        }
        return Ok(());
    }
    let a = parse(args)?;
    if a.until > Utc::now() {
        return Err("--until is in the future: imported purchases must be history".into());
    }
    if is_mysql(&a.url) {
        let name = database_name(&a.url).ok_or("the MySQL URL names no database")?;
        crm_sqlx::mysql::create_database_if_missing(&a.url, &name).await?;
    }
    let options = crm_sqlx::StoreOptions {
        max_connections: (a.jobs as u32 + 1).max(2),
        acquire_timeout: Duration::from_secs(60),
        ..Default::default()
    };
    let store = crm_sqlx::connect_with(&a.url, options).await?;
    // Pages of 10,000 to read the ids back quickly when resuming.
    let crm = Crm::from_arc(store).with_config(CrmConfig {
        max_page_limit: 10_000,
        ..CrmConfig::default()
    })?;

    let started = Instant::now();
    println!(
        "data set: {} customers, {} purchases, seed {}, purchases in the year before {}",
        a.customers, a.purchases, a.seed, a.until
    );
    let t = Instant::now();
    let data = Dataset::new(a.seed, a.customers, a.purchases, a.until);
    println!("planned purchases per customer in {:.1?}", t.elapsed());

    let ids = load_customers(&crm, &data, &a).await?;
    load_purchases(&crm, &data, &a, ids).await?;
    println!("done in {:.1?}", started.elapsed());
    Ok(())
}

fn is_mysql(url: &str) -> bool {
    url.starts_with("mysql:") || url.starts_with("mariadb:")
}

/// The database of a `mysql://user:pass@host:port/db?options` URL.
fn database_name(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let path = rest.split_once('/')?.1;
    let name = path.split('?').next()?;
    (!name.is_empty()).then(|| name.to_string())
}

fn rate(rows: u64, elapsed: Duration) -> String {
    format!(
        "{:.0} rows/s",
        rows as f64 / elapsed.as_secs_f64().max(1e-9)
    )
}

/// Every customer's query, by id, in pages of 10,000.
fn all_customers() -> CustomerQuery {
    CustomerQuery {
        status: ActivityFilter::All,
        sort: CustomerSort::Id,
        limit: Some(10_000),
        ..CustomerQuery::default()
    }
}

/// The ids of the customers in the database, in id (= data set) order.
async fn read_ids(crm: &Crm) -> Result<Vec<CustomerId>, BoxError> {
    let t = Instant::now();
    let mut ids = Vec::new();
    let mut query = all_customers();
    loop {
        let page = crm.customers().list(query.clone()).await?;
        ids.extend(page.items.iter().map(|c| c.id));
        match page.next_cursor {
            Some(cursor) => query.cursor = Some(cursor),
            None => break,
        }
    }
    println!("customers: read {} ids in {:.1?}", ids.len(), t.elapsed());
    Ok(ids)
}

/// Loads the customers not loaded yet; returns every customer's id, in data
/// set order, or `None` when all were loaded already (the ids are read only
/// if purchases need loading).
async fn load_customers(
    crm: &Crm,
    data: &Dataset,
    a: &Args,
) -> Result<Option<Vec<CustomerId>>, BoxError> {
    let all = all_customers();
    let first_page = crm
        .customers()
        .list(CustomerQuery {
            limit: Some(1),
            count: Some(true),
            ..all.clone()
        })
        .await?;
    let present = first_page
        .total
        .ok_or("the store did not count the customers")?;
    if let Some(c) = first_page.items.first() {
        let expected = data.customer(0).email.map(|e| e.to_lowercase());
        if c.email != expected {
            return Err(format!(
                "the database holds {present} customers that this loader (seed {}) did not \
                 create (first: {} {:?}); use an empty database",
                a.seed, c.customer_code, c.email
            )
            .into());
        }
    }
    if present > a.customers {
        return Err(format!(
            "the database already holds {present} customers, more than --customers {}",
            a.customers
        )
        .into());
    }
    // Batches go in whole and in order: the first `present` customers are in.
    if present == a.customers {
        println!("customers: all {present} already loaded");
        return Ok(None);
    }
    let mut ids = Vec::with_capacity(a.customers as usize);
    if present > 0 {
        ids = read_ids(crm).await?;
        if ids.len() as u64 != present {
            return Err("customers changed while reading their ids".into());
        }
    }
    let t = Instant::now();
    let mut last_report = Instant::now();
    let mut i = present;
    while i < a.customers {
        let end = (i + a.batch).min(a.customers);
        let batch = (i..end).map(|k| data.customer(k)).collect();
        let created = crm.customers().import(batch).await?;
        ids.extend(created.iter().map(|c| c.id));
        i = end;
        if last_report.elapsed() > Duration::from_secs(10) || i == a.customers {
            last_report = Instant::now();
            println!(
                "customers: {i}/{} ({})",
                a.customers,
                rate(i - present, t.elapsed())
            );
        }
    }
    let elapsed = t.elapsed();
    println!(
        "customers: loaded {} in {:.1?} ({})",
        a.customers - present,
        elapsed,
        rate(a.customers - present, elapsed)
    );
    Ok(Some(ids))
}

/// Whether purchase batch `b` is stored (its first receipt is).
async fn batch_stored(crm: &Crm, data: &Dataset, a: &Args, b: u64) -> Result<bool, BoxError> {
    let Some((store_id, receipt_id)) = data.receipt(b * a.batch) else {
        return Ok(false);
    };
    let receipt = crm_core::loyalty::ReceiptRef {
        store_id,
        receipt_id,
    };
    Ok(crm.loyalty().purchase(receipt).await?.is_some())
}

async fn load_purchases(
    crm: &Crm,
    data: &Dataset,
    a: &Args,
    ids: Option<Vec<CustomerId>>,
) -> Result<(), BoxError> {
    let batches = a.purchases.div_ceil(a.batch);
    // Batches commit in order up to `jobs` at a time: everything before the
    // first missing batch is stored, and at most `jobs - 1` batches after it.
    // Find that point by bisection and restart a little before it; re-running
    // a stored batch only skips its rows.
    let (mut lo, mut hi) = (0u64, batches);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if batch_stored(crm, data, a, mid).await? {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    let from = lo.saturating_sub(a.jobs as u64);
    let mut complete = lo == batches;
    for b in from..batches {
        if !complete {
            break;
        }
        complete = batch_stored(crm, data, a, b).await?;
    }
    if complete {
        println!("purchases: all {} already loaded", a.purchases);
        return Ok(());
    }
    let ids = Arc::new(match ids {
        Some(ids) => ids,
        None => read_ids(crm).await?,
    });
    if from > 0 {
        println!(
            "purchases: resuming at batch {from} of {batches} (row {})",
            from * a.batch
        );
    }
    let t = Instant::now();
    let mut last_report = Instant::now();
    let (mut inserted, mut skipped) = (0u64, 0u64);
    let mut running = tokio::task::JoinSet::new();
    let mut next = from;
    let mut done_rows = 0u64;
    while next < batches || !running.is_empty() {
        while next < batches && running.len() < a.jobs {
            let start = next * a.batch;
            let rows = data.purchases(start..(start + a.batch).min(a.purchases), &ids);
            let crm = crm.clone();
            running.spawn(async move { crm.loyalty().import_history(rows).await });
            next += 1;
        }
        if let Some(result) = running.join_next().await {
            let report = result?.map_err(|e| explain(e, a))?;
            inserted += report.inserted;
            skipped += report.skipped;
            done_rows += report.inserted + report.skipped;
            if last_report.elapsed() > Duration::from_secs(10) {
                last_report = Instant::now();
                println!(
                    "purchases: {}/{} ({})",
                    from * a.batch + done_rows,
                    a.purchases,
                    rate(inserted, t.elapsed())
                );
            }
        }
    }
    let elapsed = t.elapsed();
    if inserted == 0 {
        println!("purchases: all {} already loaded", a.purchases);
        return Ok(());
    }
    println!(
        "purchases: loaded {inserted} (skipped {skipped} already stored) in {:.1?} ({})",
        elapsed,
        rate(inserted, elapsed)
    );
    Ok(())
}

/// A short message for a failed purchase batch (a validation error lists
/// every row; a conflict on stored receipts means another data set).
fn explain(e: crm_core::Error, a: &Args) -> BoxError {
    let fields = e.field_errors();
    if fields.is_empty() {
        return e.into();
    }
    let conflicts = fields.iter().filter(|f| f.rule == "conflict").count();
    let first: Vec<String> = fields
        .iter()
        .take(3)
        .map(|f| format!("{}: {}", f.field, f.message))
        .collect();
    let mut msg = format!(
        "a purchase batch was refused ({} errors; first: {})",
        fields.len(),
        first.join("; ")
    );
    if conflicts > 0 {
        msg.push_str(&format!(
            "\n{conflicts} receipts are stored with other details: the database was filled with \
             another --purchases, --seed or --until than --purchases {} --seed {} --until {}",
            a.purchases, a.seed, a.until
        ));
    }
    msg.into()
}
