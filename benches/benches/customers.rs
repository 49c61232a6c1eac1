//! Customer operations on 100,000 customers: create, get by id, and search by
//! name prefix, on SQLite and (with `CRM_BENCH_MYSQL_URL`) MySQL.
//!
//! Run: `CRM_BENCH_MYSQL_URL=mysql://crm:crm@127.0.0.1:3306/x cargo bench -p crm-benches --bench customers`

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use crm_benches::{load, name_prefix, open, synthetic_customer};
use crm_core::{Crm, CustomerId, CustomerQuery};

const CUSTOMERS: u64 = 100_000;

fn customers(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    for backend in ["sqlite", "mysql"] {
        let Some((store, cleanup)) = rt.block_on(open(backend)).expect("open store") else {
            continue;
        };
        let crm = Crm::from_arc(store);
        let started = Instant::now();
        rt.block_on(load(&crm, CUSTOMERS)).expect("load");
        eprintln!(
            "{backend}: loaded {CUSTOMERS} customers in {:.1?}",
            started.elapsed()
        );

        let mut group = c.benchmark_group(format!("customers/{backend}"));
        let next = AtomicU64::new(CUSTOMERS);
        group.bench_function("create", |b| {
            b.to_async(&rt).iter(|| async {
                let i = next.fetch_add(1, Ordering::Relaxed);
                black_box(
                    crm.customers()
                        .create(synthetic_customer(i))
                        .await
                        .expect("create"),
                )
            })
        });
        let mut i = 0u64;
        group.bench_function("get_by_id", |b| {
            b.to_async(&rt).iter(|| {
                // A spread of ids over the whole table (7919 is prime).
                i = (i + 7919) % CUSTOMERS;
                let id = CustomerId(i64::try_from(i + 1).unwrap_or(1));
                let crm = &crm;
                async move { black_box(crm.customers().get(id).await.expect("get")) }
            })
        });
        let mut j = 0u64;
        group.bench_function("search_name_prefix", |b| {
            b.to_async(&rt).iter(|| {
                j += 1;
                let q = CustomerQuery {
                    q: Some(name_prefix(j)),
                    ..CustomerQuery::default()
                };
                let crm = &crm;
                async move { black_box(crm.customers().list(q).await.expect("search")) }
            })
        });
        group.finish();
        rt.block_on(cleanup.run());
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(50).measurement_time(std::time::Duration::from_secs(5));
    targets = customers
}
criterion_main!(benches);
