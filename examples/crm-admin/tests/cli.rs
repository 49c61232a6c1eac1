//! End-to-end runs of the `crm-admin` binary against real databases
//! (SQLite always; MariaDB with `CRM_TEST_MYSQL_URL`, required when
//! `CI=true`): a mixed customer file, a dry run, a resume after the
//! process is killed, an export round trip with CSV injection, and a
//! purchase file.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crm_core::{ActivityFilter, Crm, CustomerQuery, NewCustomer};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("crm-admin-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir.join(name)
}

/// A fresh database: a SQLite file, or a new MariaDB database.
struct Db {
    url: String,
    mysql: Option<(String, String)>,
}

impl Db {
    fn sqlite(name: &str) -> Db {
        let path = scratch(&format!("{name}-{}.db", uuid()));
        Db {
            url: format!("sqlite://{}", path.display()),
            mysql: None,
        }
    }

    async fn mysql(name: &str) -> Option<Db> {
        let server = match std::env::var("CRM_TEST_MYSQL_URL") {
            Ok(url) => url,
            Err(_) if std::env::var("CI").is_ok_and(|v| v == "true") => {
                panic!(
                    "CI=true but CRM_TEST_MYSQL_URL is not set: the MariaDB runs of crm-admin must run in CI"
                )
            }
            Err(_) => {
                eprintln!("SKIPPED: crm-admin on MariaDB (set CRM_TEST_MYSQL_URL to run it)");
                return None;
            }
        };
        let database = format!("crm_admin_{name}_{}", uuid());
        crm_sqlx::mysql::create_database(&server, &database)
            .await
            .expect("create the MariaDB test database");
        let url = crm_sqlx::mysql::database_url(&server, &database).expect("url");
        Some(Db {
            url,
            mysql: Some((server, database)),
        })
    }

    async fn crm(&self) -> Crm {
        Crm::from_arc(crm_sqlx::connect(&self.url).await.expect("connect"))
    }

    async fn drop(self) {
        if let Some((server, database)) = self.mysql {
            let _ = crm_sqlx::mysql::drop_database(&server, &database).await;
        }
    }
}

fn uuid() -> String {
    format!(
        "{:x}{:x}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
    )
}

fn admin(db: &Db) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_crm-admin"));
    c.arg("--quiet").arg("--database-url").arg(&db.url);
    c
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

async fn all_customers(crm: &Crm) -> Vec<crm_core::Customer> {
    let mut out = Vec::new();
    let mut export = crm
        .customers()
        .export(
            CustomerQuery {
                status: ActivityFilter::All,
                ..CustomerQuery::default()
            },
            500,
        )
        .expect("export");
    loop {
        let page = export.next_batch().await.expect("page");
        if page.is_empty() {
            return out;
        }
        out.extend(page);
    }
}

/// The mixed file: good rows, invalid rows, a repeat within the file and
/// a duplicate of a stored customer; semicolons and Indonesian headers.
const MIXED: &str = "\u{feff}Nama;Email;No HP;Tipe;Limit Kredit;Kota;Tanggal Lahir\n\
Budi Santoso;budi@mail.id;0812-2000-0001;eceran;1500000;Bandung;31/05/1990\n\
;bukan-email;12;grosir;1.500.000;Bandung;kemarin\n\
Budi Lagi;BUDI@mail.id;;;;;\n\
Toko Lama Baru;;0811-0000-0001;;;;\n\
Siti Aminah;;0812-2000-0003;DISTRIBUTOR;0;Surabaya;\n";

async fn mixed_file_on(db: Db) {
    let crm = db.crm().await;
    let lama = crm
        .customers()
        .create(NewCustomer {
            name: "Toko Lama".into(),
            phone: Some("+6281100000001".into()),
            ..NewCustomer::default()
        })
        .await
        .expect("create");
    let file = scratch(&format!("mixed-{}.csv", uuid()));
    std::fs::write(&file, MIXED).expect("write");
    let report = file.with_extension("rejected.csv");

    // The dry run decides the same rows and writes nothing.
    let dry = admin(&db)
        .args(["import-customers", "--dry-run"])
        .arg(&file)
        .output()
        .expect("run");
    assert_eq!(dry.status.code(), Some(1), "rows were rejected: exit 1");
    let dry_summary = json(&dry);
    assert_eq!(dry_summary["totals"]["created"], 2);
    assert_eq!(dry_summary["totals"]["rejected"], 2);
    assert_eq!(dry_summary["totals"]["skipped"], 1);
    let listed = String::from_utf8_lossy(&dry.stderr);
    for expected in [
        "line 3: rejected name (required)",
        "line 3: rejected credit_limit (decimal)",
        "line 3: rejected birthday (date)",
        "line 3: rejected email (email)",
        "line 4: rejected email (duplicate_in_file)",
        "line 5: skipped phone (duplicate)",
    ] {
        assert!(listed.contains(expected), "{expected:?} not in:\n{listed}");
    }
    assert_eq!(all_customers(&crm).await.len(), 1, "a dry run wrote");

    let real = admin(&db)
        .arg("import-customers")
        .arg(&file)
        .output()
        .expect("run");
    assert_eq!(real.status.code(), Some(1));
    let summary = json(&real);
    assert_eq!(
        summary["totals"], dry_summary["totals"],
        "dry run and run differ"
    );
    let all = all_customers(&crm).await;
    let names: Vec<&str> = all.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["Toko Lama", "Budi Santoso", "Siti Aminah"]);
    let budi = &all[1];
    assert_eq!(budi.email.as_deref(), Some("budi@mail.id"));
    assert_eq!(budi.phone.as_deref(), Some("+6281220000001"));
    assert_eq!(budi.credit_limit, rust_decimal::Decimal::from(1_500_000));
    assert_eq!(budi.address.city.as_deref(), Some("Bandung"));
    assert_eq!(all[2].customer_type, crm_core::CustomerType::Distributor);
    assert_eq!(crm.customers().get(lama.id).await.expect("lama"), lama);

    // The report lists each refused row with its original cells.
    let text = std::fs::read_to_string(&report).expect("report");
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .expect("header")
        .iter()
        .map(str::to_string)
        .collect();
    assert_eq!(
        &header[..7],
        [
            "line",
            "status",
            "field",
            "rule",
            "message",
            "existing_code",
            "Nama"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("row")).collect();
    let line5: Vec<&csv::StringRecord> = rows.iter().filter(|r| &r[0] == "5").collect();
    assert_eq!(line5.len(), 1);
    assert_eq!(&line5[0][1], "skipped");
    assert_eq!(&line5[0][5], lama.customer_code.as_str());
    assert_eq!(&line5[0][6], "Toko Lama Baru");
    assert!(
        rows.iter()
            .any(|r| &r[0] == "3" && &r[3] == "decimal" && &r[10] == "1.500.000")
    );
    crm.close().await;
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_file_sqlite() {
    mixed_file_on(Db::sqlite("mixed")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_file_mariadb() {
    if let Some(db) = Db::mysql("mixed").await {
        mixed_file_on(db).await;
    }
}

/// A big file: half the rows have no email or phone, so only the
/// checkpoint can keep a resumed run from creating them twice.
fn big_file(rows: usize) -> PathBuf {
    let file = scratch(&format!("big-{}.csv", uuid()));
    let mut text = String::from("name,email,phone,city\n");
    for i in 0..rows {
        if i % 2 == 0 {
            text.push_str(&format!("Pelanggan {i},p{i}@mail.id,,Bandung\n"));
        } else {
            text.push_str(&format!("Pelanggan {i},,,Medan\n"));
        }
    }
    std::fs::write(&file, text).expect("write");
    file
}

async fn resume_after_kill_on(db: Db) {
    const ROWS: usize = 20_000;
    let crm = db.crm().await;
    let file = big_file(ROWS);
    let run_id = format!("resume-{}", uuid());
    let mut child = admin(&db)
        .args(["import-customers", "--batch", "200", "--run-id", &run_id])
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    // Kill it once some batches have committed, and before the end.
    let started = Instant::now();
    loop {
        if let Ok(run) = crm.customers().import_run(run_id.clone()).await
            && run.totals.created >= 1_000
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the import never checkpointed"
        );
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the import ended before it could be killed: {status}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().expect("kill");
    let _ = child.wait();
    let cut = crm
        .customers()
        .import_run(run_id.clone())
        .await
        .expect("run");
    assert!(
        (cut.totals.created as usize) < ROWS,
        "killed too late to test a resume: {:?}",
        cut.totals
    );
    let stored_at_cut = all_customers(&crm).await.len();
    assert_eq!(
        stored_at_cut as u64, cut.totals.created,
        "the checkpoint and the stored customers disagree"
    );

    let resumed = admin(&db)
        .args(["import-customers", "--batch", "200", "--run-id", &run_id])
        .arg(&file)
        .output()
        .expect("resume");
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    let summary = json(&resumed);
    assert!(summary["resumed_after"].as_u64().unwrap_or_default() > 1);
    assert_eq!(summary["totals"]["created"], ROWS as u64);
    assert_eq!(summary["totals"]["rows"], ROWS as u64);
    let all = all_customers(&crm).await;
    assert_eq!(
        all.len(),
        ROWS,
        "a resumed run created duplicates or lost rows"
    );
    let mut names: Vec<&str> = all.iter().map(|c| c.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), ROWS);

    // Running the finished run again does nothing.
    let again = admin(&db)
        .args(["import-customers", "--run-id", &run_id])
        .arg(&file)
        .output()
        .expect("again");
    assert_eq!(json(&again)["already_done"], true);
    assert_eq!(all_customers(&crm).await.len(), ROWS);
    crm.close().await;
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_after_kill_sqlite() {
    resume_after_kill_on(Db::sqlite("resume")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_after_kill_mariadb() {
    if let Some(db) = Db::mysql("resume").await {
        resume_after_kill_on(db).await;
    }
}

/// An export reads back as the same customers, with formula-looking
/// cells neutralised in the file and restored on import.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_round_trip_and_csv_injection() {
    let source = Db::sqlite("export-from");
    let crm = source.crm().await;
    let inputs = [
        NewCustomer {
            name: "=HYPERLINK(\"http://evil\",\"klik\")".into(),
            email: Some("formula@mail.id".into()),
            phone: Some("0812-3456-7890".into()),
            tags: vec!["vip".into(), "-1+1".into()],
            ..NewCustomer::default()
        },
        NewCustomer {
            name: "@SUM(A1:A9)".into(),
            address: crm_core::Address {
                line1: Some("-Jl. Merdeka 10\nLantai 2".into()),
                city: Some("Bandung".into()),
                ..crm_core::Address::default()
            },
            birthday: chrono::NaiveDate::from_ymd_opt(1990, 5, 31),
            credit_limit: rust_decimal::Decimal::new(250_000_050, 2),
            customer_type: crm_core::CustomerType::Wholesale,
            ..NewCustomer::default()
        },
        NewCustomer {
            name: "Toko \"Sinar\"; Jaya".into(),
            email: Some("sinar@jaya.id".into()),
            ..NewCustomer::default()
        },
    ];
    for input in inputs {
        crm.customers().create(input).await.expect("create");
    }
    let out = scratch(&format!("export-{}.csv", uuid()));
    let exported = admin(&source)
        .arg("export-customers")
        .arg("--out")
        .arg(&out)
        .output()
        .expect("export");
    assert!(
        exported.status.success(),
        "{}",
        String::from_utf8_lossy(&exported.stderr)
    );
    let text = std::fs::read_to_string(&out).expect("read");
    assert!(text.contains("'=HYPERLINK("), "{text}");
    assert!(text.contains("'@SUM(A1:A9)"), "{text}");
    assert!(text.contains("'+6281234567890"), "{text}");
    assert!(
        !text.contains(",=HYPERLINK") && !text.contains(",@SUM"),
        "{text}"
    );

    // Into a fresh database: the same customers come back.
    let target = Db::sqlite("export-to");
    let imported = admin(&target)
        .arg("import-customers")
        .arg(&out)
        .output()
        .expect("import");
    assert!(
        imported.status.success(),
        "{}",
        String::from_utf8_lossy(&imported.stderr)
    );
    assert_eq!(json(&imported)["totals"]["created"], 3);
    let crm_to = target.crm().await;
    let fields = |c: &crm_core::Customer| {
        (
            c.name.clone(),
            c.email.clone(),
            c.phone.clone(),
            c.customer_type,
            c.credit_limit,
            c.address.clone(),
            c.birthday,
            c.tags.clone(),
        )
    };
    let before: Vec<_> = all_customers(&crm).await.iter().map(fields).collect();
    let after: Vec<_> = all_customers(&crm_to).await.iter().map(fields).collect();
    assert_eq!(before, after);

    // The export imported again where it came from: every row a duplicate.
    let again = admin(&source)
        .arg("import-customers")
        .arg(&out)
        .output()
        .expect("import");
    let summary = json(&again);
    assert_eq!(
        summary["totals"]["created"], 1,
        "the customer without email or phone"
    );
    assert_eq!(summary["totals"]["skipped"], 2);
    crm.close().await;
    crm_to.close().await;
}

/// A purchase file: good rows written once (a re-run skips them), bad rows
/// reported by line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purchase_file_is_imported_once_with_a_report() {
    let db = Db::sqlite("purchases");
    let crm = db.crm().await;
    let c = crm
        .customers()
        .create(NewCustomer {
            name: "Budi".into(),
            ..NewCustomer::default()
        })
        .await
        .expect("create");
    let file = scratch(&format!("purchases-{}.csv", uuid()));
    std::fs::write(
        &file,
        format!(
            "kode_pelanggan,toko,no_struk,tanggal,jumlah\n\
             {code},JKT01,R-1,2026-01-05 10:00,150000\n\
             {code},JKT01,R-2,05/02/2026,Rp 99000.50\n\
             RT09999999,JKT01,R-3,2026-01-06,1000\n\
             {code},JKT01,R-4,kemarin,1.000\n",
            code = c.customer_code
        ),
    )
    .expect("write");
    let run = |dry: bool| {
        let mut cmd = admin(&db);
        cmd.arg("import-purchases").arg(&file);
        if dry {
            cmd.arg("--dry-run");
        }
        cmd.output().expect("run")
    };
    let dry = json(&run(true));
    assert_eq!(dry["totals"]["created"], 2);
    assert!(
        crm.loyalty()
            .purchases(c.id, 100)
            .await
            .expect("purchases")
            .is_empty()
    );
    let first = json(&run(false));
    assert_eq!(first["totals"]["created"], 2);
    assert_eq!(first["totals"]["rejected"], 2);
    let issues: Vec<(u64, String)> = first["issues"]
        .as_array()
        .expect("issues")
        .iter()
        .map(|i| {
            (
                i["line"].as_u64().unwrap_or_default(),
                format!(
                    "{}/{}",
                    i["field"].as_str().unwrap_or_default(),
                    i["rule"].as_str().unwrap_or_default()
                ),
            )
        })
        .collect();
    assert!(
        issues.contains(&(4, "customer_code/not_found".into())),
        "{issues:?}"
    );
    assert!(
        issues.contains(&(5, "purchase_date/date".into())),
        "{issues:?}"
    );
    assert!(
        issues.contains(&(5, "total_amount/decimal".into())),
        "{issues:?}"
    );
    let second = json(&run(false));
    assert_eq!(second["totals"]["created"], 0);
    assert_eq!(second["totals"]["skipped"], 2);
    let stored = crm.loyalty().purchases(c.id, 100).await.expect("purchases");
    assert_eq!(stored.len(), 2);
    assert!(Path::new(&file.with_extension("rejected.csv")).exists());
    crm.close().await;
}
