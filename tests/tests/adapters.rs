//! Adapter behaviour outside the conformance suite: URLs, migrations, error
//! mapping of the vendor layer.

use crm_core::{Crm, ErrorKind, NewCustomer};
use crm_sqlx::StoreOptions;

fn temp_db() -> (String, std::path::PathBuf) {
    let path =
        std::env::temp_dir().join(format!("crm-adapter-{}.db", uuid::Uuid::new_v4().simple()));
    (format!("sqlite://{}", path.display()), path)
}

#[tokio::test]
async fn unknown_url_scheme_is_a_validation_error() {
    let err = crm_sqlx::connect("postgres://localhost/crm")
        .await
        .expect_err("unsupported");
    assert_eq!(err.kind(), ErrorKind::Validation);
    assert_eq!(err.field_errors()[0].field, "database_url");
}

#[tokio::test]
async fn unreachable_mysql_is_a_storage_error() {
    let options = StoreOptions {
        acquire_timeout: std::time::Duration::from_secs(2),
        ..Default::default()
    };
    let err = crm_sqlx::connect_with("mysql://nobody:x@127.0.0.1:1/crm", options)
        .await
        .expect_err("nothing listens on port 1");
    assert_eq!(err.kind(), ErrorKind::Storage);
}

#[tokio::test]
async fn migrations_can_be_left_to_the_operator_and_applied_later() {
    let (url, path) = temp_db();
    let store = crm_sqlx::SqliteStore::connect_with(
        &url,
        StoreOptions {
            migrate: false,
            ..Default::default()
        },
    )
    .await
    .expect("open");
    let crm = Crm::new(store.clone());
    let err = crm
        .customers()
        .create(NewCustomer {
            name: "A".into(),
            ..Default::default()
        })
        .await
        .expect_err("no tables yet");
    assert_eq!(err.kind(), ErrorKind::Storage);
    store.migrate().await.expect("migrate");
    store.migrate().await.expect("migrating twice is a no-op");
    let c = crm
        .customers()
        .create(NewCustomer {
            name: "A".into(),
            ..Default::default()
        })
        .await
        .expect("create after migrating");
    assert_eq!(c.customer_code.as_str(), "RT00000001");
    drop(crm);
    // Reopening the file keeps the data and applies nothing twice.
    let again = Crm::from_arc(crm_sqlx::connect(&url).await.expect("reopen"));
    assert_eq!(
        again.customers().get(c.id).await.expect("persisted").name,
        "A"
    );
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.clone().into_os_string();
        p.push(suffix);
        let _ = std::fs::remove_file(p);
    }
}

#[tokio::test]
async fn crm_core_does_not_depend_on_sqlx() {
    // The architecture's first invariant, checked on the manifest.
    let manifest = include_str!("../../crm-core/Cargo.toml");
    assert!(!manifest.contains("sqlx"), "crm-core must not name sqlx");
}
