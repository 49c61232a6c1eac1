//! Conformance cases of the row-by-row customer import
//! (`crm.customers().start_import`): rejected rows, duplicates within the
//! file and against the store, the duplicate policies, dry runs and
//! resumable runs.

use crm_core::customer::import::{ImportStatus, IssueStatus};
use crm_core::{
    Address, Customer, CustomerQuery, DuplicatePolicy, ErrorKind, FieldError, ImportOptions,
    ImportRow, NewCustomer,
};
use rust_decimal::Decimal;

use crate::Backend;

fn row(line: u64, name: &str, email: Option<&str>, phone: Option<&str>) -> ImportRow {
    ImportRow {
        line,
        input: NewCustomer {
            name: name.into(),
            email: email.map(Into::into),
            phone: phone.map(Into::into),
            ..NewCustomer::default()
        },
        errors: Vec::new(),
    }
}

async fn stored(b: &Backend) -> Vec<Customer> {
    b.crm
        .customers()
        .list(CustomerQuery {
            limit: Some(100),
            ..CustomerQuery::default()
        })
        .await
        .expect("list")
        .items
}

async fn existing(b: &Backend) -> Customer {
    b.crm
        .customers()
        .create(NewCustomer {
            name: "Toko Lama".into(),
            email: Some("lama@toko.id".into()),
            phone: Some("+6281100000001".into()),
            address: Address {
                city: Some("Bandung".into()),
                ..Address::default()
            },
            ..NewCustomer::default()
        })
        .await
        .expect("create")
}

fn options(policy: DuplicatePolicy) -> ImportOptions {
    ImportOptions {
        on_duplicate: policy,
        source: "customers.csv (1234 bytes)".into(),
        ..ImportOptions::default()
    }
}

/// The rows of the mixed file used by several cases: good, invalid, a
/// repeat of an earlier row (email in other case), a duplicate of the
/// stored customer (phone in national format), one matching two stored
/// customers, and another good one.
fn mixed_rows() -> Vec<ImportRow> {
    let mut bad = row(3, " ", Some("not-an-email"), Some("12"));
    bad.errors.push(FieldError::new(
        "credit_limit",
        "decimal",
        "credit_limit 1.500.000 is not a number",
    ));
    vec![
        row(
            2,
            "Budi Santoso",
            Some("budi@mail.id"),
            Some("0812-2000-0001"),
        ),
        bad,
        row(4, "Budi lagi", Some("BUDI@Mail.ID"), None),
        row(5, "Toko Lama Baru", None, Some("0811-0000-0001")),
        row(6, "Dua Nama", Some("lama@toko.id"), Some("0812-9999-0002")),
        row(7, "Siti Aminah", None, Some("0812-2000-0003")),
    ]
}

/// Every row of a mixed file is decided and reported by line, field and
/// rule; only the good rows are created.
pub async fn customer_import_decides_every_row(b: Backend) {
    let lama = existing(&b).await;
    let other = b
        .crm
        .customers()
        .create(NewCustomer {
            name: "Pemilik Telepon".into(),
            phone: Some("+6281299990002".into()),
            ..NewCustomer::default()
        })
        .await
        .expect("create");
    let mut import = b
        .crm
        .customers()
        .start_import(options(DuplicatePolicy::Skip))
        .await
        .expect("start");
    let out = import.apply(mixed_rows(), 7, 500).await.expect("apply");
    let got: Vec<(u64, IssueStatus, &str, &str)> = out
        .issues
        .iter()
        .map(|i| (i.line, i.status, i.field.as_str(), i.rule.as_str()))
        .collect();
    assert!(
        got.contains(&(3, IssueStatus::Rejected, "name", "required")),
        "{got:?}"
    );
    assert!(
        got.contains(&(3, IssueStatus::Rejected, "email", "email")),
        "{got:?}"
    );
    assert!(
        got.contains(&(3, IssueStatus::Rejected, "phone", "phone")),
        "{got:?}"
    );
    assert!(
        got.contains(&(3, IssueStatus::Rejected, "credit_limit", "decimal")),
        "{got:?}"
    );
    assert!(
        got.contains(&(4, IssueStatus::Rejected, "email", "duplicate_in_file")),
        "{got:?}"
    );
    assert!(
        got.contains(&(5, IssueStatus::Skipped, "phone", "duplicate")),
        "{got:?}"
    );
    assert!(
        got.contains(&(6, IssueStatus::Rejected, "email", "ambiguous_duplicate")),
        "{got:?}"
    );
    assert!(
        !got.iter().any(|g| g.0 == 2 || g.0 == 7),
        "good rows have no issue: {got:?}"
    );
    let skipped = out.issues.iter().find(|i| i.line == 5).expect("line 5");
    assert_eq!(
        skipped.existing_code.as_deref(),
        Some(lama.customer_code.as_str())
    );
    let dup = out.issues.iter().find(|i| i.line == 4).expect("line 4");
    assert!(dup.message.contains("line 2"), "{}", dup.message);
    let t = out.totals;
    assert_eq!(
        (t.rows, t.created, t.skipped, t.rejected, t.updated, t.line),
        (6, 2, 1, 3, 0, 7)
    );
    assert_eq!(out.created.len(), 2);

    let all = stored(&b).await;
    assert_eq!(all.len(), 4, "{}: two stored + two created", b.name);
    let budi = all.iter().find(|c| c.name == "Budi Santoso").expect("budi");
    assert_eq!(budi.phone.as_deref(), Some("+6281220000001"));
    assert!(all.iter().any(|c| c.name == "Siti Aminah"));
    let lama_now = b.crm.customers().get(lama.id).await.expect("lama");
    assert_eq!(
        lama_now, lama,
        "a skipped duplicate leaves the stored customer"
    );
    let other_now = b.crm.customers().get(other.id).await.expect("other");
    assert_eq!(other_now, other);

    // A later batch repeating a row of an earlier batch is still a repeat.
    let later = import
        .apply(
            vec![row(9, "Siti Lagi", None, Some("+6281220000003"))],
            9,
            600,
        )
        .await
        .expect("apply");
    assert_eq!(later.issues[0].rule, "duplicate_in_file");
    assert!(later.issues[0].message.contains("line 7"));
    assert_eq!(import.finish().await.expect("finish").rejected, 4);
}

/// A dry run decides the same rows the same way and writes nothing: no
/// customer, no checkpoint, no event.
pub async fn customer_import_dry_run_writes_nothing(b: Backend) {
    let lama = existing(&b).await;
    b.crm
        .customers()
        .create(NewCustomer {
            name: "Pemilik Telepon".into(),
            phone: Some("+6281299990002".into()),
            ..NewCustomer::default()
        })
        .await
        .expect("create");
    let events_before = b.store.last_event_id().await.expect("events");
    let before = stored(&b).await;
    for policy in [
        DuplicatePolicy::Skip,
        DuplicatePolicy::Update,
        DuplicatePolicy::Report,
    ] {
        let mut import = b
            .crm
            .customers()
            .start_import(ImportOptions {
                dry_run: true,
                run_id: Some(format!("dry-{}", policy.as_str())),
                ..options(policy)
            })
            .await
            .expect("start");
        let out = import.apply(mixed_rows(), 7, 500).await.expect("dry run");
        assert_eq!(out.totals.created, 2, "{policy:?}");
        assert_eq!(out.totals.rejected, 3, "{policy:?}");
        assert!(out.created.is_empty());
        let line5 = out.issues.iter().find(|i| i.line == 5);
        match policy {
            DuplicatePolicy::Skip => {
                assert_eq!(line5.map(|i| i.status), Some(IssueStatus::Skipped))
            }
            DuplicatePolicy::Report => {
                assert_eq!(line5.map(|i| i.status), Some(IssueStatus::Duplicate));
                assert_eq!(out.totals.duplicates, 1);
            }
            DuplicatePolicy::Update => {
                assert!(line5.is_none());
                assert_eq!(out.totals.updated, 1);
            }
        }
        import.finish().await.expect("finish");
        let run = b
            .crm
            .customers()
            .import_run(format!("dry-{}", policy.as_str()))
            .await;
        assert_eq!(run.map_err(|e| e.kind()), Err(ErrorKind::NotFound));
    }
    assert_eq!(stored(&b).await, before, "{}: a dry run wrote", b.name);
    assert_eq!(b.crm.customers().get(lama.id).await.expect("lama"), lama);
    assert_eq!(
        b.store.last_event_id().await.expect("events"),
        events_before
    );
}

/// Policy `update` changes the stored customer from the row's non-blank
/// cells (once: a second run changes nothing); policy `report` leaves it.
pub async fn customer_import_update_and_report_policies(b: Backend) {
    let lama = existing(&b).await;
    let mut update_row = row(2, "Toko Lama Jaya", None, Some("0811-0000-0001"));
    update_row.input.credit_limit = Decimal::new(250_000_000, 2);
    update_row.input.tags = vec!["Grosir".into()];
    for (attempt, expect_updated) in [(1, 1), (2, 0)] {
        let mut import = b
            .crm
            .customers()
            .start_import(options(DuplicatePolicy::Update))
            .await
            .expect("start");
        let out = import
            .apply(vec![update_row.clone()], 2, 100)
            .await
            .expect("apply");
        assert!(out.issues.is_empty(), "{:?}", out.issues);
        assert_eq!(out.totals.updated, expect_updated, "run {attempt}");
        assert_eq!(out.totals.unchanged, 1 - expect_updated, "run {attempt}");
        assert_eq!(out.totals.created, 0);
    }
    let now = b.crm.customers().get(lama.id).await.expect("lama");
    assert_eq!(now.name, "Toko Lama Jaya");
    assert_eq!(now.credit_limit, Decimal::new(2_500_000, 0));
    assert_eq!(now.tags, ["grosir"]);
    assert_eq!(now.email, lama.email, "a blank cell keeps the stored value");
    assert_eq!(
        now.address, lama.address,
        "a blank address keeps the stored one"
    );
    assert_eq!(
        now.version,
        lama.version + 1,
        "the second run wrote nothing"
    );

    // An update that would take another customer's email is rejected.
    b.crm
        .customers()
        .create(NewCustomer {
            name: "Pemilik Email".into(),
            email: Some("milik@orang.id".into()),
            ..NewCustomer::default()
        })
        .await
        .expect("create");
    let mut import = b
        .crm
        .customers()
        .start_import(options(DuplicatePolicy::Update))
        .await
        .expect("start");
    // Matches `lama` by phone only; the email belongs to someone else:
    // that is two stored customers, so ambiguous.
    let out = import
        .apply(
            vec![row(2, "X", Some("milik@orang.id"), Some("+6281100000001"))],
            2,
            100,
        )
        .await
        .expect("apply");
    assert_eq!(out.issues[0].rule, "ambiguous_duplicate");

    let mut import = b
        .crm
        .customers()
        .start_import(options(DuplicatePolicy::Report))
        .await
        .expect("start");
    let out = import
        .apply(vec![row(2, "Lain", Some("LAMA@toko.id"), None)], 2, 100)
        .await
        .expect("apply");
    assert_eq!(out.totals.duplicates, 1);
    assert_eq!(out.issues[0].status, IssueStatus::Duplicate);
    assert_eq!(
        out.issues[0].existing_code.as_deref(),
        Some(lama.customer_code.as_str())
    );
    assert_eq!(
        b.crm.customers().get(lama.id).await.expect("lama").name,
        "Toko Lama Jaya"
    );
}

/// A run cut off after a batch resumes after its checkpoint and creates
/// nobody twice; a second process resuming the same checkpoint is refused
/// and writes nothing; a run cannot be resumed on another source.
pub async fn customer_import_resumes_without_duplicates(b: Backend) {
    let rows: Vec<ImportRow> = (0..6u64)
        .map(|i| {
            // Rows without email or phone: only the checkpoint can tell
            // they were imported.
            row(i + 2, &format!("Pelanggan {i}"), None, None)
        })
        .collect();
    let run_options = ImportOptions {
        run_id: Some("run-1".into()),
        ..options(DuplicatePolicy::Skip)
    };
    let mut first = b
        .crm
        .customers()
        .start_import(run_options.clone())
        .await
        .expect("start");
    assert_eq!(first.resume_after(), 0);
    first
        .apply(rows[..3].to_vec(), 4, 300)
        .await
        .expect("first batch");
    drop(first); // cut off: never finished

    let run = b
        .crm
        .customers()
        .import_run("run-1".into())
        .await
        .expect("run");
    assert_eq!(run.status, ImportStatus::Running);
    assert_eq!(
        (run.totals.line, run.totals.created, run.bytes_read),
        (4, 3, 300)
    );

    let mut resumed = b
        .crm
        .customers()
        .start_import(run_options.clone())
        .await
        .expect("resume");
    assert!(resumed.is_resumed());
    assert_eq!(resumed.resume_after(), 4);
    let mut rival = b
        .crm
        .customers()
        .start_import(run_options.clone())
        .await
        .expect("resume twice");
    resumed.replay(rows[..3].to_vec());
    resumed
        .apply(rows[3..].to_vec(), 7, 600)
        .await
        .expect("second batch");
    let refused = rival.apply(rows[3..].to_vec(), 7, 600).await;
    assert_eq!(
        refused.map(|o| o.totals).map_err(|e| e.kind()),
        Err(ErrorKind::Conflict),
        "{}: two processes wrote the same batch",
        b.name
    );
    let totals = resumed.finish().await.expect("finish");
    assert_eq!((totals.rows, totals.created, totals.line), (6, 6, 7));

    let all = stored(&b).await;
    assert_eq!(
        all.len(),
        6,
        "{}: {:?}",
        b.name,
        all.iter().map(|c| &c.name).collect::<Vec<_>>()
    );
    let done = b
        .crm
        .customers()
        .import_run("run-1".into())
        .await
        .expect("run");
    assert_eq!(done.status, ImportStatus::Done);
    let again = b
        .crm
        .customers()
        .start_import(run_options.clone())
        .await
        .expect("restart");
    assert!(again.is_finished());

    let elsewhere = b
        .crm
        .customers()
        .start_import(ImportOptions {
            source: "another.csv (9 bytes)".into(),
            ..run_options
        })
        .await;
    assert_eq!(
        elsewhere.map(|_| ()).map_err(|e| e.kind()),
        Err(ErrorKind::Conflict)
    );
}
