//! Shared set-up for the CRM SDK benchmarks (`benches/benches/*.rs`).
//!
//! Run: `cargo bench -p crm-benches` (add `CRM_BENCH_MYSQL_URL=mysql://...`
//! to include MySQL). See `benches/README.md` for the figures.

pub mod dataset;

use std::sync::Arc;

use crm_core::store::CrmStore;
use crm_core::{Crm, CustomerType, NewCustomer};

const FIRST: [&str; 40] = [
    "Budi", "Siti", "Agus", "Dewi", "Rina", "Andi", "Putri", "Joko", "Wati", "Hendra", "Yuni",
    "Bayu", "Sri", "Eko", "Nur", "Rudi", "Lina", "Fajar", "Intan", "Dian", "Tono", "Maya", "Rizky",
    "Ayu", "Gilang", "Citra", "Hadi", "Indah", "Kurnia", "Lestari", "Mega", "Nanda", "Oki",
    "Pandu", "Ratna", "Surya", "Tika", "Umar", "Vina", "Wahyu",
];
const LAST: [&str; 25] = [
    "Santoso",
    "Wijaya",
    "Saputra",
    "Hidayat",
    "Pratama",
    "Kusuma",
    "Nugroho",
    "Setiawan",
    "Lestari",
    "Gunawan",
    "Halim",
    "Susanto",
    "Sinaga",
    "Siregar",
    "Nasution",
    "Harahap",
    "Simanjuntak",
    "Tanjung",
    "Purba",
    "Lubis",
    "Wibowo",
    "Utomo",
    "Rahman",
    "Hakim",
    "Putra",
];

/// The `i`-th synthetic customer: a realistic Indonesian name, unique email
/// and phone, types spread over all four.
pub fn synthetic_customer(i: u64) -> NewCustomer {
    let first = FIRST[(i % FIRST.len() as u64) as usize];
    let last = LAST[((i / FIRST.len() as u64) % LAST.len() as u64) as usize];
    NewCustomer {
        name: format!("{first} {last} {i}"),
        email: Some(format!("customer{i}@example.co.id")),
        phone: Some(format!("+62812{:08}", i % 100_000_000)),
        customer_type: CustomerType::ALL[(i % 4) as usize],
        ..NewCustomer::default()
    }
}

/// A 3-letter name prefix for search benchmarks (cycles through first names).
pub fn name_prefix(i: u64) -> String {
    FIRST[(i % FIRST.len() as u64) as usize]
        .chars()
        .take(3)
        .collect()
}

/// Imports `n` synthetic customers through `crm.customers().import`.
pub async fn load(crm: &Crm, n: u64) -> crm_core::Result<()> {
    let mut i = 0;
    while i < n {
        let end = (i + 5_000).min(n);
        crm.customers()
            .import((i..end).map(synthetic_customer).collect())
            .await?;
        i = end;
    }
    Ok(())
}

/// A store to benchmark on: `sqlite` in a temporary file, or `mysql` in a
/// fresh database on the server of `CRM_BENCH_MYSQL_URL` (falling back to
/// `CRM_TEST_MYSQL_URL`). `None` when MySQL is not configured.
pub async fn open(backend: &str) -> crm_core::Result<Option<(Arc<dyn CrmStore>, Cleanup)>> {
    match backend {
        "sqlite" => {
            let path = std::env::temp_dir().join(format!("crm-bench-{}.db", std::process::id()));
            let _ = std::fs::remove_file(&path);
            let store = crm_sqlx::connect(&format!("sqlite://{}", path.display())).await?;
            Ok(Some((store, Cleanup::File(path))))
        }
        "mysql" => {
            let Some(server) = std::env::var("CRM_BENCH_MYSQL_URL")
                .or_else(|_| std::env::var("CRM_TEST_MYSQL_URL"))
                .ok()
            else {
                eprintln!(
                    "MySQL benchmarks skipped: set CRM_BENCH_MYSQL_URL=mysql://user:pass@127.0.0.1:3306/x"
                );
                return Ok(None);
            };
            let db = format!("crm_bench_{}", std::process::id());
            crm_sqlx::mysql::drop_database(&server, &db).await?;
            crm_sqlx::mysql::create_database(&server, &db).await?;
            let store = crm_sqlx::connect(&crm_sqlx::mysql::database_url(&server, &db)?).await?;
            Ok(Some((store, Cleanup::MySql(server, db))))
        }
        other => Err(crm_core::Error::invalid(
            "backend",
            "one_of",
            format!("unknown backend {other}"),
        )),
    }
}

/// What to remove after a benchmark.
pub enum Cleanup {
    /// A SQLite file.
    File(std::path::PathBuf),
    /// A MySQL server URL and database name.
    MySql(String, String),
}

impl Cleanup {
    /// Removes the benchmark database.
    pub async fn run(self) {
        match self {
            Cleanup::File(p) => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut f = p.clone().into_os_string();
                    f.push(suffix);
                    let _ = std::fs::remove_file(f);
                }
            }
            Cleanup::MySql(server, db) => {
                let _ = crm_sqlx::mysql::drop_database(&server, &db).await;
            }
        }
    }
}
