//! Scores every customer of a database through the SDK's streaming scorer
//! (`crm.analytics().score_all()`), as a user's batch job would, and reports
//! the time and the process's peak memory (VmHWM).
//!
//! Run: `cargo run --release -p crm-benches --bin crm-score -- mysql://crm:crm@127.0.0.1:3306/crm_load [BATCH]`
//!
//! Prints one line of `key=value` pairs: customers scored, fit and scoring
//! seconds, segment counts, and `peak_rss_mb` (the whole process, read from
//! `/proc/self/status` at the end).

use std::collections::BTreeMap;
use std::time::Instant;

use crm_core::Crm;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// `VmHWM` (peak resident set) of this process, in MiB.
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let mut args = std::env::args().skip(1);
    let url = args.next().ok_or("usage: crm-score DATABASE_URL [BATCH]")?;
    let batch: usize = match args.next() {
        Some(b) => b.parse()?,
        None => 10_000,
    };
    let crm = Crm::from_arc(crm_sqlx::connect(&url).await?);
    let started = Instant::now();
    let mut cursor = crm.analytics().score_all().await?;
    let fitted = started.elapsed();
    let mut scored = 0u64;
    let mut segments: BTreeMap<&'static str, u64> = BTreeMap::new();
    loop {
        let scores = cursor.next_batch(batch).await?;
        if scores.is_empty() {
            break;
        }
        scored += scores.len() as u64;
        for s in &scores {
            *segments.entry(s.segment.as_str()).or_default() += 1;
        }
    }
    let total = started.elapsed();
    let model_customers = cursor.model().map_or(0, |m| m.customers);
    println!(
        "customers_scored={scored} model_customers={model_customers} batch={batch} fit_s={:.1} score_s={:.1} total_s={:.1} peak_rss_mb={:.0} segments={segments:?}",
        fitted.as_secs_f64(),
        (total - fitted).as_secs_f64(),
        total.as_secs_f64(),
        peak_rss_mb().unwrap_or(f64::NAN),
    );
    if scored != model_customers {
        return Err(
            format!("scored {scored} customers but the model saw {model_customers}").into(),
        );
    }
    Ok(())
}
