//! Loyalty ledger: earn throughput with 16 concurrent tasks (each
//! iteration on the next of 256 sets of 16 customers), and balance
//! reads for a customer with 10 and with 100,000 ledger entries, on SQLite
//! and (with `CRM_BENCH_MYSQL_URL`) MySQL.
//!
//! Run: `CRM_BENCH_MYSQL_URL=mysql://crm:crm@127.0.0.1:3306/x cargo bench -p crm-benches --bench ledger`
//! (`CRM_BENCH_LEDGER_ENTRIES` changes the 100,000).

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use crm_benches::{open, synthetic_customer};
use crm_core::loyalty::PointsRequest;
use crm_core::{Crm, CustomerId};

const TASKS: u64 = 16;
const EARNS_PER_TASK: u64 = 25;
/// Sets of 16 customers the earn benchmark rotates through, so each
/// iteration earns on customers with a short history (a till serves many
/// customers; one customer's 24-hour manual-points check reads that
/// customer's recent entries).
const SETS: u64 = 256;

fn earn(customer: CustomerId, key: String) -> PointsRequest {
    PointsRequest {
        customer_id: customer,
        points: 1,
        reference_type: "bench".into(),
        reference_id: key,
        actor: None,
    }
}

/// Writes `n` EARN entries for `customer`, 16 at a time.
async fn fill(crm: &Crm, customer: CustomerId, n: u64, tag: &str) {
    let next = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let (crm, next, tag) = (crm.clone(), next.clone(), tag.to_string());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    crm.loyalty()
                        .earn(earn(customer, format!("{tag}-{i}")))
                        .await
                        .expect("earn");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("fill task");
    }
}

fn ledger(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let big: u64 = std::env::var("CRM_BENCH_LEDGER_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    for backend in ["sqlite", "mysql"] {
        let Some((store, cleanup)) = rt.block_on(open(backend)).expect("open store") else {
            continue;
        };
        let crm = Crm::from_arc(store);
        let customers: Vec<CustomerId> = rt
            .block_on(
                crm.customers()
                    .import((0..TASKS * SETS + 2).map(synthetic_customer).collect()),
            )
            .expect("customers")
            .iter()
            .map(|c| c.id)
            .collect();
        let pool = (TASKS * SETS) as usize;
        let (small, large) = (customers[pool], customers[pool + 1]);
        let started = Instant::now();
        rt.block_on(fill(&crm, small, 10, "small"));
        rt.block_on(fill(&crm, large, big, "large"));
        let took = started.elapsed();
        eprintln!(
            "{backend}: wrote {} ledger entries in {took:.1?} ({:.0}/s, 16 tasks on one customer)",
            big + 10,
            (big + 10) as f64 / took.as_secs_f64()
        );

        let mut group = c.benchmark_group(format!("ledger/{backend}"));
        group.throughput(Throughput::Elements(TASKS * EARNS_PER_TASK));
        let round = AtomicU64::new(0);
        let set = Arc::new(AtomicU64::new(0));
        group.bench_function("earn_16_tasks_16_customers", |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let crm = crm.clone();
                let customers = customers.clone();
                let r = round.fetch_add(1, Ordering::Relaxed);
                let set = set.clone();
                async move {
                    let start = Instant::now();
                    for it in 0..iters {
                        let base = (set.fetch_add(1, Ordering::Relaxed) % SETS * TASKS) as usize;
                        let tasks: Vec<_> = (0..TASKS as usize)
                            .map(|t| {
                                let crm = crm.clone();
                                let customer = customers[base + t];
                                tokio::spawn(async move {
                                    for i in 0..EARNS_PER_TASK {
                                        crm.loyalty()
                                            .earn(earn(customer, format!("t{r}-{it}-{t}-{i}")))
                                            .await
                                            .expect("earn");
                                    }
                                })
                            })
                            .collect();
                        for task in tasks {
                            task.await.expect("earn task");
                        }
                    }
                    start.elapsed()
                }
            })
        });
        group.throughput(Throughput::Elements(1));
        for (name, customer) in [
            ("balance_10_entries", small),
            ("balance_large_history", large),
        ] {
            group.bench_function(name, |b| {
                b.to_async(&rt).iter(|| {
                    let crm = &crm;
                    async move { black_box(crm.loyalty().balance(customer).await.expect("balance")) }
                })
            });
        }
        group.finish();
        rt.block_on(cleanup.run());
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(8));
    targets = ledger
}
criterion_main!(benches);
