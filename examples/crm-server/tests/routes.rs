//! Router tests: requests go through the real router (`oneshot`) onto a
//! temporary SQLite database.

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use crm_server::{AppState, app};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

const SECRET: &[u8] = b"test-secret-0123456789abcdef-0123456789";

/// Which database a router test runs on.
#[derive(Clone, Copy)]
enum Backend {
    Sqlite,
    MySql,
}

enum Cleanup {
    /// Another handle on a database some other `TestApp` cleans up.
    Shared,
    File(std::path::PathBuf),
    MySql(String, String),
}

struct TestApp {
    router: Router,
    cleanup: Cleanup,
    crm: crm_core::Crm,
    token: String,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::Shared => {}
            Cleanup::File(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut p = path.clone().into_os_string();
                    p.push(suffix);
                    let _ = std::fs::remove_file(p);
                }
            }
            Cleanup::MySql(server, db) => {
                // Drop cannot await: drop the database from a helper thread.
                let (server, db) = (server.clone(), db.clone());
                let _ = std::thread::spawn(move || {
                    if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    {
                        let _ = rt.block_on(crm_sqlx::mysql::drop_database(&server, &db));
                    }
                })
                .join();
            }
        }
    }
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

async fn test_app(backend: Backend) -> Option<TestApp> {
    let (store, cleanup) = match backend {
        Backend::Sqlite => {
            let path = std::env::temp_dir()
                .join(format!("crm-server-{}.db", uuid::Uuid::new_v4().simple()));
            let store = crm_sqlx::connect(&format!("sqlite://{}", path.display()))
                .await
                .expect("sqlite");
            (store, Cleanup::File(path))
        }
        Backend::MySql => {
            let Some(server) = std::env::var("CRM_TEST_MYSQL_URL")
                .ok()
                .filter(|u| !u.is_empty())
            else {
                assert!(!in_ci(), "CI=true but CRM_TEST_MYSQL_URL is not set");
                use std::io::Write as _;
                let _ = writeln!(
                    std::io::stderr(),
                    "SKIPPED: router test on MySQL (set CRM_TEST_MYSQL_URL)"
                );
                return None;
            };
            let db = format!("crm_test_{}", uuid::Uuid::new_v4().simple());
            crm_sqlx::mysql::create_database(&server, &db)
                .await
                .expect("create database");
            let url = crm_sqlx::mysql::database_url(&server, &db).expect("url");
            let store = crm_sqlx::connect(&url).await.expect("mysql");
            (store, Cleanup::MySql(server, db))
        }
    };
    let crm = crm_core::Crm::from_arc(store);
    crm_server::bootstrap_admin(
        &crm,
        Some("admin@test.id".into()),
        Some("admin-password-1".into()),
    )
    .await
    .expect("admin");
    let mut t = TestApp {
        router: app(AppState::new(crm.clone(), SECRET)),
        cleanup,
        crm,
        token: String::new(),
    };
    t.token = login(&t, "admin@test.id", "admin-password-1").await;
    Some(t)
}

async fn login(app: &TestApp, email: &str, password: &str) -> String {
    let body = json!({"email": email, "password": password}).to_string();
    let (status, body) = send(app, Method::POST, "/api/auth/login", Some(&body), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"]["token"].as_str().expect("token").to_string()
}

async fn call(app: &TestApp, method: Method, uri: &str, body: Option<&str>) -> (StatusCode, Value) {
    send(app, method, uri, body, Some(&app.token)).await
}

async fn send(
    app: &TestApp,
    method: Method,
    uri: &str,
    body: Option<&str>,
    token: Option<&str>,
) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    let req = req
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
        .expect("request");
    let res = app.router.clone().oneshot(req).await.expect("response");
    let status = res.status();
    let bytes = res.into_body().collect().await.expect("body").to_bytes();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, json)
}

async fn customers_crud_with_the_guide_envelope(backend: Backend) {
    let Some(app) = test_app(backend).await else {
        return;
    };
    let (status, body) = call(
        &app,
        Method::POST,
        "/api/customers",
        Some(r#"{"name":"API Test Customer","email":"api@test.com"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["success"], true);
    let id = body["data"]["id"].as_i64().expect("data.id");
    assert_eq!(body["data"]["customer_code"], "RT00000001");

    let (status, body) = call(&app, Method::GET, "/api/customers?page=1&limit=20", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["meta"]["total"], 1);
    assert_eq!(body["meta"]["page"], 1);
    assert_eq!(body["data"][0]["id"], id);
    // A search answers without a count unless asked; a bad flag is refused.
    let (status, body) = call(&app, Method::GET, "/api/customers?q=API%20Te", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"][0]["id"], id);
    assert!(body["meta"].get("total").is_none(), "{body}");
    let (_, body) = call(&app, Method::GET, "/api/customers?q=API&count=true", None).await;
    assert_eq!(body["meta"]["total"], 1, "{body}");
    let (_, body) = call(&app, Method::GET, "/api/customers?count=0", None).await;
    assert!(body["meta"].get("total").is_none(), "{body}");
    let (status, body) = call(&app, Method::GET, "/api/customers?count=maybe", None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["fields"][0]["field"], "count", "{body}");

    let (status, body) = call(
        &app,
        Method::PATCH,
        &format!("/api/customers/{id}"),
        Some(r#"{"name":"Renamed"}"#),
    )
    .await;
    assert_eq!(
        (status, body["data"]["name"].as_str()),
        (StatusCode::OK, Some("Renamed"))
    );
    let (status, body) = call(
        &app,
        Method::PATCH,
        &format!("/api/customers/{id}"),
        Some(r#"{"customer_code":"RT1"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["fields"][0]["rule"], "not_updatable");

    let (status, _) = call(&app, Method::DELETE, &format!("/api/customers/{id}"), None).await;
    assert_eq!(status, StatusCode::OK);
    let (_, body) = call(&app, Method::GET, "/api/customers", None).await;
    assert_eq!(body["meta"]["total"], 0, "deactivated customers are hidden");
    let (_, body) = call(&app, Method::GET, "/api/customers?active=all", None).await;
    assert_eq!(body["meta"]["total"], 1);
    let (status, _) = call(
        &app,
        Method::POST,
        &format!("/api/customers/{id}/reactivate"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = call(&app, Method::GET, "/api/customers/999", None).await;
    assert_eq!(
        (status, body["success"].as_bool()),
        (StatusCode::NOT_FOUND, Some(false))
    );
}

async fn errors_have_one_shape(backend: Backend) {
    let Some(app) = test_app(backend).await else {
        return;
    };
    let (status, body) = call(&app, Method::POST, "/api/customers", Some(r#"{"name": "x"#)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "malformed_json");
    let long = "n".repeat(300);
    let (status, body) = call(
        &app,
        Method::POST,
        "/api/customers",
        Some(
            &json!({"name": long, "email": "x@", "phone": "abc", "credit_limit": "-5"}).to_string(),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<_> = body["error"]["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .map(|f| f["field"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(fields, ["name", "email", "phone", "credit_limit"]);
    call(
        &app,
        Method::POST,
        "/api/customers",
        Some(r#"{"name":"A","phone":"0812-3456-7890"}"#),
    )
    .await;
    let (status, body) = call(
        &app,
        Method::POST,
        "/api/customers",
        Some(r#"{"name":"B","phone":"+62 812 3456 7890"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["existing_customer_code"], "RT00000001");
    let (status, body) = call(&app, Method::GET, "/api/customers?type=VIP", None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("validation"))
    );
    // Every body reports every failing field, not the first one serde meets.
    let failing = |body: &Value| -> Vec<(String, String)> {
        body["error"]["fields"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|f| {
                        (
                            f["field"].as_str().unwrap_or_default().to_string(),
                            f["rule"].as_str().unwrap_or_default().to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    // (uri, body, every (field, rule) expected, in order)
    type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)]);
    let cases: [Case<'_>; 3] = [
        (
            "/api/customers/1/loyalty/earn",
            r#"{"points": "ten", "reference": "r1"}"#,
            &[
                ("points", "type"),
                ("reference_type", "required"),
                ("reference_id", "required"),
                ("reference", "unknown_field"),
            ],
        ),
        (
            "/api/customers/1/purchases",
            r#"{"store_id": 7, "total_amount": "abc"}"#,
            &[
                ("store_id", "type"),
                ("receipt_id", "required"),
                ("total_amount", "type"),
                ("purchase_date", "required"),
            ],
        ),
        (
            "/api/users",
            r#"{"role": "boss"}"#,
            &[
                ("email", "required"),
                ("password", "required"),
                ("role", "type"),
            ],
        ),
    ];
    for (uri, json, expected) in cases {
        let (status, body) = call(&app, Method::POST, uri, Some(json)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{uri}: {body}");
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(f, r)| (f.to_string(), r.to_string()))
            .collect();
        assert_eq!(failing(&body), expected, "{uri}");
    }
}

async fn loyalty_over_http_is_idempotent_and_never_overdraws(backend: Backend) {
    let Some(app) = test_app(backend).await else {
        return;
    };
    let (_, body) = call(
        &app,
        Method::POST,
        "/api/customers",
        Some(r#"{"name":"Budi"}"#),
    )
    .await;
    let id = body["data"]["id"].as_i64().expect("id");
    let sale = r#"{"store_id":"S1","receipt_id":"R1","total_amount":"155000","purchase_date":"2026-11-20T10:00:00Z"}"#;
    let (status, body) = call(
        &app,
        Method::POST,
        &format!("/api/customers/{id}/purchases"),
        Some(sale),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["data"]["earned"]["points"], 15);
    let (status, body) = call(
        &app,
        Method::POST,
        &format!("/api/customers/{id}/purchases"),
        Some(sale),
    )
    .await;
    assert_eq!(
        (status, body["data"]["replayed"].as_bool()),
        (StatusCode::OK, Some(true))
    );

    let redeem = r#"{"points":20,"reference_type":"voucher","reference_id":"V1"}"#;
    let (status, body) = call(
        &app,
        Method::POST,
        &format!("/api/customers/{id}/loyalty/redeem"),
        Some(redeem),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "insufficient_points");
    assert_eq!(body["error"]["available"], 15);
    let earn = r#"{"points":5,"reference_type":"promo","reference_id":"P1"}"#;
    let (status, _) = call(
        &app,
        Method::POST,
        &format!("/api/customers/{id}/loyalty/earn"),
        Some(earn),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = call(
        &app,
        Method::POST,
        &format!("/api/customers/{id}/loyalty/earn"),
        Some(earn),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "replay");
    let (status, body) = call(
        &app,
        Method::POST,
        "/api/purchases/S1/R1/refunds",
        Some(r#"{"refund_id":"F1","amount":"155000"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["data"]["earn_reversed"]["points"], -15);
    let (_, body) = call(
        &app,
        Method::GET,
        &format!("/api/customers/{id}/loyalty"),
        None,
    )
    .await;
    assert_eq!(body["data"]["balance"], 5);
    assert_eq!(body["data"]["tier"], "Bronze");
}

async fn analytics_follow_the_guide(backend: Backend) {
    let Some(app) = test_app(backend).await else {
        return;
    };
    let (_, body) = call(
        &app,
        Method::POST,
        "/api/customers",
        Some(r#"{"name":"Siti"}"#),
    )
    .await;
    let id = body["data"]["id"].as_i64().expect("id");
    call(
        &app,
        Method::POST,
        &format!("/api/customers/{id}/purchases"),
        Some(r#"{"store_id":"S1","receipt_id":"R1","total_amount":"100000","purchase_date":"2026-11-20T10:00:00Z"}"#),
    )
    .await;
    // The guide's testCustomerAnalytics.
    let (status, body) = call(
        &app,
        Method::GET,
        &format!("/api/customers/{id}/analytics"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["success"], true);
    assert!(body["data"].get("segment").is_some());
    assert!(body["data"].get("lifetime_value").is_some());
    let (status, body) = call(&app, Method::GET, "/api/segments", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"].as_array().map(Vec::len), Some(1));
    let (status, body) = call(&app, Method::POST, "/api/analytics/refit", None).await;
    assert_eq!(
        (status, body["data"]["customers"].as_u64()),
        (StatusCode::OK, Some(1))
    );
    let (status, body) = call(&app, Method::GET, "/health", None).await;
    assert_eq!(
        (status, body["data"]["status"].as_str()),
        (StatusCode::OK, Some("ok"))
    );
}

async fn tokens_are_checked_and_roles_enforced(backend: Backend) {
    let Some(app) = test_app(backend).await else {
        return;
    };
    let (status, body) = send(&app, Method::GET, "/api/customers", None, None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthorized"))
    );
    let (status, _) = send(&app, Method::GET, "/api/customers", None, Some("not-a-jwt")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Forged: signed with another secret. Expired: right secret, past `exp`.
    let admin = app.crm.users().list().await.expect("users").remove(0);
    let forged_keys = crm_server::auth::TokenKeys::new(
        b"another-secret-0123456789abcdef-xyz",
        chrono::Duration::hours(1),
    );
    let (forged, _) =
        crm_server::auth::issue(&forged_keys, &admin, chrono::Utc::now()).expect("forged");
    let (status, _) = send(&app, Method::GET, "/api/customers", None, Some(&forged)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let old_keys = crm_server::auth::TokenKeys::new(SECRET, chrono::Duration::hours(1));
    let (expired, _) = crm_server::auth::issue(
        &old_keys,
        &admin,
        chrono::Utc::now() - chrono::Duration::hours(2),
    )
    .expect("expired");
    let (status, _) = send(&app, Method::GET, "/api/customers", None, Some(&expired)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    for (email, role) in [
        ("cashier@test.id", "cashier"),
        ("analyst@test.id", "analyst"),
        ("manager@test.id", "manager"),
    ] {
        let body = json!({"email": email, "password": "password-123", "role": role}).to_string();
        let (status, b) = call(&app, Method::POST, "/api/users", Some(&body)).await;
        assert_eq!(status, StatusCode::CREATED, "{b}");
    }
    let (status, body) = call(&app, Method::GET, "/api/users", None).await;
    assert_eq!(
        (status, body["data"].as_array().map(Vec::len)),
        (StatusCode::OK, Some(4))
    );
    let cashier = login(&app, "cashier@test.id", "password-123").await;
    let analyst = login(&app, "analyst@test.id", "password-123").await;
    let manager = login(&app, "manager@test.id", "password-123").await;
    let new = r#"{"name":"Role Test","email":"role.test@toko.id","phone":"0812-1111-2222","address":{"city":"Bandung"}}"#;
    let (status, _) = send(
        &app,
        Method::POST,
        "/api/customers",
        Some(new),
        Some(&cashier),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "cashiers do not create customers"
    );
    let (status, body) = send(
        &app,
        Method::POST,
        "/api/customers",
        Some(new),
        Some(&manager),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let id = body["data"]["id"].as_i64().expect("id");
    // Analysts see no contact details, in a record or a listing; staff who
    // serve customers do.
    for (token, sees) in [(&analyst, false), (&cashier, true), (&manager, true)] {
        let (_, one) = send(
            &app,
            Method::GET,
            &format!("/api/customers/{id}"),
            None,
            Some(token),
        )
        .await;
        let (_, list) = send(&app, Method::GET, "/api/customers", None, Some(token)).await;
        for c in [&one["data"], &list["data"][0]] {
            assert!(c["customer_code"].is_string(), "{c}");
            assert_eq!(c["email"].is_string(), sees, "{c}");
            assert_eq!(c["phone"].is_string(), sees, "{c}");
            assert_eq!(c["address"]["city"].is_string(), sees, "{c}");
        }
    }
    let (status, _) = send(
        &app,
        Method::GET,
        &format!("/api/customers/{id}"),
        None,
        Some(&cashier),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let sale = r#"{"store_id":"S9","receipt_id":"R9","total_amount":"50000","purchase_date":"2026-11-20T10:00:00Z"}"#;
    let (status, _) = send(
        &app,
        Method::POST,
        &format!("/api/customers/{id}/purchases"),
        Some(sale),
        Some(&analyst),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "analysts only read");
    let (status, _) = send(
        &app,
        Method::POST,
        &format!("/api/customers/{id}/purchases"),
        Some(sale),
        Some(&cashier),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    // A cashier cannot mint points: the caps of the role apply over HTTP.
    let mint = r#"{"points":10001,"reference_type":"promo","reference_id":"M1"}"#;
    let (status, body) = send(
        &app,
        Method::POST,
        &format!("/api/customers/{id}/loyalty/earn"),
        Some(mint),
        Some(&cashier),
    )
    .await;
    assert_eq!(
        (status, body["error"]["fields"][0]["rule"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("role_cap")),
        "{body}"
    );
    let (status, _) = send(
        &app,
        Method::POST,
        &format!("/api/customers/{id}/loyalty/earn"),
        Some(mint),
        Some(&manager),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "a manager's cap is higher");
    let (status, _) = send(
        &app,
        Method::GET,
        &format!("/api/customers/{id}/analytics"),
        None,
        Some(&cashier),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = send(
        &app,
        Method::GET,
        &format!("/api/customers/{id}/analytics"),
        None,
        Some(&analyst),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let adjust = r#"{"points":5,"reference_type":"fix","reference_id":"1"}"#;
    let (status, _) = send(
        &app,
        Method::POST,
        &format!("/api/customers/{id}/loyalty/adjust"),
        Some(adjust),
        Some(&cashier),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = send(
        &app,
        Method::POST,
        "/api/analytics/refit",
        None,
        Some(&manager),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "refit is admin only");
    let (status, _) = send(&app, Method::GET, "/api/users", None, Some(&manager)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

async fn logins_are_checked_and_rate_limited(backend: Backend) {
    let Some(app) = test_app(backend).await else {
        return;
    };
    let wrong = json!({"email": "admin@test.id", "password": "wrong-password"}).to_string();
    let mut statuses = Vec::new();
    for _ in 0..12 {
        statuses.push(
            send(&app, Method::POST, "/api/auth/login", Some(&wrong), None)
                .await
                .0,
        );
    }
    // The first login of test_app counted too: 9 more 401s, then 429.
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::UNAUTHORIZED)
            .count(),
        9
    );
    assert_eq!(statuses.last(), Some(&StatusCode::TOO_MANY_REQUESTS));
}

async fn demo_data_spreads_over_segments_and_keeps_the_ledger_consistent(backend: Backend) {
    let Some(app) = test_app(backend).await else {
        return;
    };
    // 500 customers: enough repeat buyers for both models to fit (120 are
    // too few for Gamma-Gamma), still a few seconds to seed.
    let report = crm_server::demo::seed(&app.crm, 500, app.crm.clock().now())
        .await
        .expect("seed");
    assert_eq!(report.customers, 500);
    assert!(report.purchases > 1_000, "{report:?}");
    assert!(
        report.recorded > 100
            && report.recorded < report.purchases
            && report.refunds > 0
            && report.redemptions > 0
            && report.deactivated > 0,
        "{report:?}"
    );
    let model = app.crm.analytics().refit().await.expect("refit");
    assert_eq!(
        model.churn_method,
        crm_core::analytics::ChurnMethod::BgNbd,
        "{:?}",
        model.notes
    );
    assert!(model.usable_bgnbd().is_some(), "{:?}", model.notes);
    assert!(model.usable_gamma_gamma().is_some(), "{:?}", model.notes);
    assert!(
        model.customers > 400 && model.customers < 500,
        "some never bought: {}",
        model.customers
    );
    let (status, body) = call(&app, Method::GET, "/api/segments", None).await;
    assert_eq!(status, StatusCode::OK);
    let segments: Vec<_> = body["data"]
        .as_array()
        .expect("segments")
        .iter()
        .filter(|s| s["customers"].as_u64() > Some(0))
        .map(|s| s["segment"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(segments.len(), 5, "segments: {segments:?}");
    let (status, body) = call(&app, Method::GET, "/api/analytics/report", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let levels = body["data"]["churn_risk"]
        .as_array()
        .expect("churn risk")
        .iter()
        .filter(|r| r["customers"].as_u64() > Some(0))
        .count();
    assert!(levels >= 3, "{}", body["data"]["churn_risk"]);
    let (_, body) = call(&app, Method::GET, "/api/dashboard", None).await;
    let days = body["data"]["sales_by_day"]
        .as_array()
        .expect("sales by day");
    let quiet = days.iter().filter(|d| d["purchases"] == 0).count();
    assert!(quiet <= 15, "{quiet} of {} days without sales", days.len());
    let last_week: u64 = days[days.len() - 7..]
        .iter()
        .map(|d| d["purchases"].as_u64().unwrap_or(0))
        .sum();
    assert!(last_week >= 7, "{last_week} sales in the last week");
    for id in 1..=500 {
        let check = app
            .crm
            .loyalty()
            .check_balance(crm_core::CustomerId(id))
            .await
            .expect("check");
        assert!(check.consistent, "{check:?}");
    }
    let (_, body) = call(&app, Method::GET, "/api/customers?limit=5", None).await;
    assert_eq!(body["meta"]["total"], 500 - report.deactivated);
}

async fn dashboard_pages_and_figures_over_http(backend: Backend) {
    let Some(app) = test_app(backend).await else {
        return;
    };
    crm_server::demo::seed(&app.crm, 120, chrono::Utc::now())
        .await
        .expect("seed");
    let (status, _) = call(&app, Method::POST, "/api/analytics/refit", None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = call(&app, Method::GET, "/api/dashboard", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let d = &body["data"];
    assert_eq!(d["kpis"]["customers"], 120, "{d}");
    assert!(d["kpis"]["points_outstanding"].as_i64() > Some(0), "{d}");
    assert!(
        d["kpis"]["revenue_30d"].is_string(),
        "money is a decimal string"
    );
    assert_eq!(d["sales_by_day"].as_array().map(Vec::len), Some(90));
    let segments = d["segments"].as_array().expect("segments");
    let scored: u64 = segments
        .iter()
        .map(|s| s["customers"].as_u64().unwrap_or(0))
        .sum();
    assert!(scored > 0 && scored <= 120, "{scored}");
    // The listing's segment filter lists exactly the segment's customers.
    for s in segments {
        let uri = format!(
            "/api/customers?active=all&limit=1&segment={}",
            s["segment"].as_str().unwrap_or_default()
        );
        let (status, body) = call(&app, Method::GET, &uri, None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["meta"]["total"], s["customers"], "{uri}");
    }
    let (status, body) = call(
        &app,
        Method::GET,
        "/api/customers?recency_score=9&segment=best",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        body["error"]["fields"].as_array().map(Vec::len),
        Some(2),
        "{body}"
    );

    for (email, role) in [
        ("cashier@test.id", "cashier"),
        ("analyst@test.id", "analyst"),
    ] {
        let body = json!({"email": email, "password": "password-123", "role": role}).to_string();
        let (status, b) = call(&app, Method::POST, "/api/users", Some(&body)).await;
        assert_eq!(status, StatusCode::CREATED, "{b}");
    }
    let cashier = login(&app, "cashier@test.id", "password-123").await;
    let analyst = login(&app, "analyst@test.id", "password-123").await;
    let (status, _) = send(&app, Method::GET, "/api/dashboard", None, Some(&cashier)).await;
    assert_eq!(status, StatusCode::OK, "a cashier sees the dashboard");
    let (status, _) = send(
        &app,
        Method::GET,
        "/api/analytics/report",
        None,
        Some(&cashier),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "but not the analytics");
    let (status, body) = send(
        &app,
        Method::GET,
        "/api/analytics/report",
        None,
        Some(&analyst),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["rfm_grid"].as_array().map(Vec::len), Some(25));
    assert!(body["data"]["model"]["churn_method"].is_string(), "{body}");

    let (status, body) = call(
        &app,
        Method::GET,
        "/api/customers/1/purchases?limit=1000",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let dates: Vec<&str> = body["data"]
        .as_array()
        .expect("purchases")
        .iter()
        .filter_map(|p| p["purchase_date"].as_str())
        .collect();
    assert!(!dates.is_empty());
    assert!(
        dates.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {dates:?}"
    );
    let (status, _) = call(
        &app,
        Method::GET,
        "/api/customers/1/purchases?limit=0",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = call(&app, Method::GET, "/api/customers/99999/purchases", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The pages: `/` leads to the dashboard; files carry their type and a
    // same-origin content policy; unknown files are 404.
    let raw = |uri: &str| {
        let req = Request::get(uri).body(Body::empty()).expect("request");
        app.router.clone().oneshot(req)
    };
    let res = raw("/").await.expect("response");
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], "/crm/dashboard.html");
    for page in [
        "login",
        "dashboard",
        "customers",
        "customer-detail",
        "segments",
        "analytics",
    ] {
        let res = raw(&format!("/crm/{page}.html")).await.expect("response");
        assert_eq!(res.status(), StatusCode::OK, "{page}");
        assert_eq!(res.headers()["content-type"], "text/html; charset=utf-8");
        let csp = res.headers()["content-security-policy"]
            .to_str()
            .unwrap_or_default();
        assert!(csp.contains("default-src 'self'"), "{csp}");
        let html = res.into_body().collect().await.expect("body").to_bytes();
        let html = String::from_utf8_lossy(&html);
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "{page} links out"
        );
    }
    let res = raw("/crm/no-such-page.html").await.expect("response");
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

async fn metrics_count_requests_by_route_and_status(backend: Backend) {
    let Some(app) = test_app(backend).await else {
        return;
    };
    call(&app, Method::GET, "/api/customers/1", None).await;
    call(&app, Method::GET, "/api/customers/2", None).await;
    let req = Request::builder()
        .uri("/metrics")
        .body(Body::empty())
        .expect("request");
    let res = app.router.clone().oneshot(req).await.expect("response");
    assert_eq!(res.status(), StatusCode::OK);
    let text = String::from_utf8(
        res.into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes()
            .to_vec(),
    )
    .expect("utf8");
    assert!(
        text.contains(
            r#"crm_http_requests_total{method="GET",route="/api/customers/{id}",status="404"} 2"#
        ),
        "{text}"
    );
    assert!(
        text.contains("crm_http_request_duration_seconds_bucket"),
        "{text}"
    );
    assert!(
        text.contains(r#"crm_db_pool_connections{state="open"}"#),
        "{text}"
    );
}

async fn responses_carry_a_request_id_and_cors_is_configurable(backend: Backend) {
    let Some(app) = test_app(backend).await else {
        return;
    };
    let req = Request::builder()
        .uri("/health")
        .body(Body::empty())
        .expect("request");
    let res = app.router.clone().oneshot(req).await.expect("response");
    assert!(res.headers().get("x-request-id").is_some());
    let router = crm_server::app_with(
        AppState::new(app.crm.clone(), SECRET),
        crm_server::ServerOptions {
            cors_origins: Some(vec!["https://pos.example.id".into()]),
            ..Default::default()
        },
    );
    let req = Request::builder()
        .method(Method::OPTIONS)
        .uri("/api/customers")
        .header("origin", "https://pos.example.id")
        .header("access-control-request-method", "GET")
        .body(Body::empty())
        .expect("request");
    let res = router.oneshot(req).await.expect("response");
    assert_eq!(
        res.headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("https://pos.example.id")
    );
}

async fn merge_adjust_and_deactivate_over_http(backend: Backend) {
    let Some(app) = test_app(backend).await else {
        return;
    };
    let (_, a) = call(
        &app,
        Method::POST,
        "/api/customers",
        Some(r#"{"name":"Keeper","email":"k@x.id"}"#),
    )
    .await;
    let (_, b) = call(
        &app,
        Method::POST,
        "/api/customers",
        Some(r#"{"name":"Duplicate","email":"d@x.id"}"#),
    )
    .await;
    let (a, b) = (
        a["data"]["id"].as_i64().expect("a"),
        b["data"]["id"].as_i64().expect("b"),
    );
    let adjust = r#"{"points":25,"reference_type":"goodwill","reference_id":"G1"}"#;
    let (status, body) = call(
        &app,
        Method::POST,
        &format!("/api/customers/{b}/loyalty/adjust"),
        Some(adjust),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let merge = json!({"duplicate_id": b}).to_string();
    let (status, body) = call(
        &app,
        Method::POST,
        &format!("/api/customers/{a}/merge"),
        Some(&merge),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["data"]["merged"]["merged_into"], a);
    assert_eq!(body["data"]["merged"]["merged_by"], "admin@test.id");
    let (status, _) = call(
        &app,
        Method::POST,
        &format!("/api/customers/{a}/merge"),
        Some(&merge),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "a replayed merge");
    let (_, body) = call(
        &app,
        Method::GET,
        &format!("/api/customers/{a}/loyalty"),
        None,
    )
    .await;
    assert_eq!(body["data"]["balance"], 25);
    let (status, body) = call(
        &app,
        Method::POST,
        &format!("/api/customers/{a}/merge"),
        Some(&json!({"duplicate_id": a}).to_string()),
    )
    .await;
    assert_eq!(
        (status, body["error"]["fields"][0]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("from"))
    );
    let (status, body) = call(
        &app,
        Method::POST,
        &format!("/api/customers/{a}/loyalty/bogus"),
        Some(adjust),
    )
    .await;
    assert_eq!(
        (status, body["success"].as_bool()),
        (StatusCode::NOT_FOUND, Some(false))
    );
}

/// The `error.code` of every failure is the SDK's `ErrorCode`, conflicts
/// say why, and a bad query string reports every bad parameter.
async fn error_codes_and_reasons_come_from_the_sdk(backend: Backend) {
    let Some(app) = test_app(backend).await else {
        return;
    };
    let codes: Vec<&str> = crm_core::ErrorCode::ALL
        .iter()
        .map(|c| c.as_str())
        .collect();
    let (_, c) = call(
        &app,
        Method::POST,
        "/api/customers",
        Some(r#"{"name":"Sari"}"#),
    )
    .await;
    let id = c["data"]["id"].as_i64().expect("id");
    let earn = format!("/api/customers/{id}/loyalty/earn");
    let (status, body) = call(
        &app,
        Method::POST,
        &earn,
        Some(r#"{"points":10,"reference_type":"promo","reference_id":"P1"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // The same key for another amount: an idempotency conflict, for good.
    let (status, body) = call(
        &app,
        Method::POST,
        &earn,
        Some(r#"{"points":11,"reference_type":"promo","reference_id":"P1"}"#),
    )
    .await;
    assert_eq!(
        (
            status,
            body["error"]["code"].as_str(),
            body["error"]["reason"].as_str()
        ),
        (
            StatusCode::CONFLICT,
            Some("idempotency_conflict"),
            Some("idempotency_key_reused")
        ),
        "{body}"
    );
    // A refused redemption is final: its replay answers the same status
    // and body, even once the points are there.
    let redeem = format!("/api/customers/{id}/loyalty/redeem");
    let voucher = r#"{"points":25,"reference_type":"voucher","reference_id":"V1"}"#;
    let first = call(&app, Method::POST, &redeem, Some(voucher)).await;
    assert_eq!(first.0, StatusCode::CONFLICT, "{}", first.1);
    assert_eq!(first.1["error"]["code"], "insufficient_points");
    let (status, _) = call(
        &app,
        Method::POST,
        &earn,
        Some(r#"{"points":50,"reference_type":"promo","reference_id":"P3"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let replay = call(&app, Method::POST, &redeem, Some(voucher)).await;
    assert_eq!(replay, first, "the replay answers like the first try");
    // An inactive customer takes no points: a conflict with its reason.
    let (status, _) = call(&app, Method::DELETE, &format!("/api/customers/{id}"), None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = call(
        &app,
        Method::POST,
        &earn,
        Some(r#"{"points":5,"reference_type":"promo","reference_id":"P2"}"#),
    )
    .await;
    assert_eq!(
        (
            status,
            body["error"]["code"].as_str(),
            body["error"]["reason"].as_str()
        ),
        (
            StatusCode::CONFLICT,
            Some("conflict"),
            Some("customer_inactive")
        ),
        "{body}"
    );
    // Every bad parameter of a listing, at once.
    let (status, body) = call(
        &app,
        Method::GET,
        "/api/customers?page=x&active=maybe&sort=age&type=VIP&_=17",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let mut fields: Vec<&str> = body["error"]["fields"]
        .as_array()
        .map(|a| a.iter().filter_map(|f| f["field"].as_str()).collect())
        .unwrap_or_default();
    fields.sort_unstable();
    assert_eq!(
        fields,
        ["active", "customer_type", "page", "sort"],
        "{body}"
    );
    for code in [
        body["error"]["code"].as_str(),
        Some("idempotency_conflict"),
        Some("conflict"),
    ] {
        assert!(codes.contains(&code.unwrap_or_default()), "{code:?}");
    }
    // A listing that is fine still lists (unknown parameters are ignored).
    let (status, body) = call(
        &app,
        Method::GET,
        "/api/customers?active=all&limit=5&_=17",
        None,
    )
    .await;
    assert_eq!(
        (status, body["meta"]["total"].as_u64()),
        (StatusCode::OK, Some(1))
    );
}

/// What the router refuses before a handler runs answers the envelope too,
/// with a documented status: a malformed path parameter, a wrong method,
/// an unknown path, a body over the limit.
async fn rejections_before_a_handler_use_the_envelope(backend: Backend) {
    let Some(app) = test_app(backend).await else {
        return;
    };
    for (method, uri, status, code) in [
        (
            Method::GET,
            "/api/customers/abc",
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            Method::PUT,
            "/api/customers",
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            Method::GET,
            "/api/no-such-thing",
            StatusCode::NOT_FOUND,
            "not_found",
        ),
    ] {
        let (got, body) = call(&app, method.clone(), uri, None).await;
        assert_eq!(
            (
                got,
                body["success"].as_bool(),
                body["error"]["code"].as_str()
            ),
            (status, Some(false), Some(code)),
            "{method} {uri}: {body}"
        );
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{body}"
        );
    }
    let big = format!(r#"{{"name": "{}"}}"#, "x".repeat(2 * 1024 * 1024));
    let (got, body) = call(&app, Method::POST, "/api/customers", Some(&big)).await;
    assert_eq!(got, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["success"], false);
    // The document states them.
    let doc: Value = serde_json::from_str(crm_server::openapi::spec_json()).expect("json");
    let ops = doc["paths"]["/api/customers/{id}"]
        .as_object()
        .expect("path");
    for (method, op) in ops {
        for status in ["400", "405"] {
            assert!(
                op["responses"].get(status).is_some(),
                "{method} /api/customers/{{id}} documents {status}"
            );
        }
    }
}

/// Every router test runs on SQLite and on MySQL/MariaDB.
async fn get(app: &TestApp, token: &str) -> StatusCode {
    send(app, Method::GET, "/api/customers", None, Some(token))
        .await
        .0
}

/// Disabling a user, enabling it, changing its role or password ends its
/// tokens at once in this process and within a second in another one; a
/// password change answers a fresh token; the last admin stays.
async fn user_changes_end_tokens_everywhere(backend: Backend) {
    let Some(t) = test_app(backend).await else {
        return;
    };
    // A second process over the same database (its own session cache).
    let other = TestApp {
        router: app(AppState::new(t.crm.clone(), SECRET)),
        cleanup: Cleanup::Shared,
        crm: t.crm.clone(),
        token: String::new(),
    };
    let created = call(
        &t,
        Method::POST,
        "/api/users",
        Some(r#"{"email":"kasir@test.id","password":"kasir-password-1","role":"cashier"}"#),
    )
    .await;
    assert_eq!(created.0, StatusCode::CREATED, "{}", created.1);
    let id = created.1["data"]["id"].as_i64().expect("id");
    assert_eq!(created.1["data"]["active"], true);
    let token = login(&t, "kasir@test.id", "kasir-password-1").await;
    assert_eq!(get(&t, &token).await, StatusCode::OK);
    assert_eq!(get(&other, &token).await, StatusCode::OK);

    // Disable: refused here at once, in the other process within 1 s.
    let (status, body) = call(
        &t,
        Method::POST,
        &format!("/api/users/{id}/disable"),
        Some("{}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["active"], false);
    let (status, body) = send(&t, Method::GET, "/api/customers", None, Some(&token)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("revoked"),
        "{body}"
    );
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(get(&other, &token).await, StatusCode::UNAUTHORIZED);
    let refused = send(
        &t,
        Method::POST,
        "/api/auth/login",
        Some(r#"{"email":"kasir@test.id","password":"kasir-password-1"}"#),
        None,
    )
    .await;
    assert_eq!(
        refused.0,
        StatusCode::UNAUTHORIZED,
        "a disabled user cannot log in"
    );

    // Enable: the old token stays dead, a new login works.
    let (status, _) = call(
        &t,
        Method::POST,
        &format!("/api/users/{id}/enable"),
        Some("{}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(get(&t, &token).await, StatusCode::UNAUTHORIZED);
    let token = login(&t, "kasir@test.id", "kasir-password-1").await;
    assert_eq!(get(&t, &token).await, StatusCode::OK);

    // Role change: the token carrying the old role ends.
    let (status, body) = call(
        &t,
        Method::PUT,
        &format!("/api/users/{id}/role"),
        Some(r#"{"role":"manager"}"#),
    )
    .await;
    assert_eq!(
        (status, &body["data"]["role"]),
        (StatusCode::OK, &json!("manager")),
        "{body}"
    );
    assert_eq!(get(&t, &token).await, StatusCode::UNAUTHORIZED);
    let token = login(&t, "kasir@test.id", "kasir-password-1").await;

    // Own password change: proves the current one, answers a new token,
    // ends the others.
    let wrong = send(
        &t,
        Method::PUT,
        "/api/auth/password",
        Some(r#"{"current_password":"nope","new_password":"kasir-password-2"}"#),
        Some(&token),
    )
    .await;
    assert_eq!(wrong.0, StatusCode::UNPROCESSABLE_ENTITY, "{}", wrong.1);
    assert_eq!(wrong.1["error"]["fields"][0]["field"], "current_password");
    let (status, body) = send(
        &t,
        Method::PUT,
        "/api/auth/password",
        Some(r#"{"current_password":"kasir-password-1","new_password":"kasir-password-2"}"#),
        Some(&token),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let fresh = body["data"]["token"]
        .as_str()
        .expect("new token")
        .to_string();
    assert_eq!(get(&t, &token).await, StatusCode::UNAUTHORIZED);
    assert_eq!(get(&t, &fresh).await, StatusCode::OK);

    // Admin reset: ends the fresh token too.
    let (status, _) = call(
        &t,
        Method::POST,
        &format!("/api/users/{id}/password"),
        Some(r#"{"new_password":"reset-by-admin-1"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(get(&t, &fresh).await, StatusCode::UNAUTHORIZED);
    login(&t, "kasir@test.id", "reset-by-admin-1").await;

    // Only admins manage users; the last admin stays.
    let manager = login(&t, "kasir@test.id", "reset-by-admin-1").await;
    let (status, _) = send(
        &t,
        Method::POST,
        "/api/users/1/disable",
        Some("{}"),
        Some(&manager),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let admin_id = t
        .crm
        .users()
        .list()
        .await
        .expect("users")
        .into_iter()
        .find(|u| u.email == "admin@test.id")
        .expect("admin")
        .id;
    let (status, body) = call(
        &t,
        Method::POST,
        &format!("/api/users/{admin_id}/disable"),
        Some("{}"),
    )
    .await;
    assert_eq!(
        (status, &body["error"]["reason"]),
        (StatusCode::CONFLICT, &json!("last_admin")),
        "{body}"
    );
    let (status, _) = call(&t, Method::POST, "/api/users/999999/disable", Some("{}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// The SQLite database file and the generated signing secret beside it are
/// private to their owner (0600); on MySQL, where several processes must
/// share the secret, the server does not start without `CRM_JWT_SECRET`.
async fn secrets_and_database_files_are_private(backend: Backend) {
    let Some(t) = test_app(backend).await else {
        return;
    };
    match &t.cleanup {
        Cleanup::File(path) => {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &std::path::Path| {
                std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777
            };
            assert_eq!(mode(path), 0o600, "database file");
            let url = format!("sqlite://{}", path.display());
            let secret = crm_server::jwt_secret(&t.crm, None, &url)
                .await
                .expect("secret");
            let mut file = path.clone().into_os_string();
            file.push(".jwt-secret");
            let file = std::path::PathBuf::from(file);
            assert_eq!(mode(&file), 0o600, "secret file");
            assert!(secret.len() >= 32);
            assert_eq!(
                crm_server::jwt_secret(&t.crm, None, &url)
                    .await
                    .expect("again"),
                secret,
                "the kept secret is reused"
            );
            // Not in the database any more.
            assert!(
                t.crm
                    .users()
                    .setting_or_insert(crm_core::users::Setting {
                        key: "jwt_secret".into(),
                        value: "absent".into()
                    })
                    .await
                    .expect("setting")
                    == "absent"
            );
            let _ = std::fs::remove_file(file);
        }
        Cleanup::MySql(..) => {
            let err = crm_server::jwt_secret(&t.crm, None, "mysql://ignored")
                .await
                .expect_err("MySQL needs CRM_JWT_SECRET");
            assert_eq!(err.field_errors()[0].field, "CRM_JWT_SECRET");
            assert!(
                crm_server::jwt_secret(&t.crm, Some("x".repeat(32)), "mysql://ignored")
                    .await
                    .is_ok()
            );
        }
        Cleanup::Shared => {}
    }
}

/// Admins read a customer's audit trail and erase customers; the erased
/// record leaves the Redis cache too; other roles get 403.
async fn audit_and_erasure_over_http(backend: Backend) {
    let Some(mut t) = test_app(backend).await else {
        return;
    };
    // With Redis when the tests have one: the cache must drop the data too.
    let cache = std::env::var("CRM_TEST_REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .map(|url| {
            crm_server::cache::Cache::new(&crm_server::cache::RedisSettings {
                url,
                prefix: format!("crm-erase-{}:", uuid::Uuid::new_v4().simple()),
            })
            .expect("redis")
        });
    let state = AppState::with(
        t.crm.clone(),
        SECRET,
        cache,
        crm_server::events::EventOptions::default(),
    );
    t.router = app(state.clone());
    let (status, c) = call(
        &t,
        Method::POST,
        "/api/customers",
        Some(r#"{"name":"Dewi Rahasia","email":"dewi@rahasia.id","phone":"0812-5555-4444"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    let id = c["data"]["id"].as_i64().expect("id");
    let (status, _) = call(
        &t,
        Method::POST,
        &format!("/api/customers/{id}/loyalty/earn"),
        Some(r#"{"points":25,"reference_type":"promo","reference_id":"p1"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    // Reading caches the customer when Redis is there.
    let (status, _) = call(&t, Method::GET, &format!("/api/customers/{id}"), None).await;
    assert_eq!(status, StatusCode::OK);

    let (status, trail) = call(
        &t,
        Method::GET,
        &format!("/api/audit?customer_id={id}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{trail}");
    let actions: Vec<_> = trail["data"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| {
            (
                r["action"].as_str().unwrap_or_default().to_string(),
                r["actor"].clone(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        vec![
            ("customer.create".to_string(), json!("admin@test.id")),
            ("points.earn".to_string(), json!("admin@test.id")),
        ]
    );
    let (status, bad) = call(&t, Method::GET, "/api/audit?customer_id=x&colour=red", None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    let fields: Vec<_> = bad["error"]["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .map(|f| f["field"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(fields, ["customer_id", "colour"]);

    call(
        &t,
        Method::POST,
        "/api/users",
        Some(r#"{"email":"mgr@test.id","password":"manager-password-1","role":"manager"}"#),
    )
    .await;
    let manager = login(&t, "mgr@test.id", "manager-password-1").await;
    let (status, _) = send(
        &t,
        Method::GET,
        &format!("/api/audit?customer_id={id}"),
        None,
        Some(&manager),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = send(
        &t,
        Method::POST,
        &format!("/api/customers/{id}/erase"),
        Some("{}"),
        Some(&manager),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (status, erased) = call(
        &t,
        Method::POST,
        &format!("/api/customers/{id}/erase"),
        Some("{}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{erased}");
    assert_eq!(erased["data"]["email"], Value::Null);
    let (_, read) = call(&t, Method::GET, &format!("/api/customers/{id}"), None).await;
    let text = read.to_string();
    assert!(
        !text.contains("dewi@rahasia.id") && !text.contains("Rahasia"),
        "{text}"
    );
    if let Some(cache) = &state.cache {
        let cached = cache.customer(crm_core::CustomerId(id)).await;
        assert!(
            cached
                .as_ref()
                .is_none_or(|c| c.email.is_none() && c.phone.is_none()),
            "the cache still holds personal data: {cached:?}"
        );
    }
    let (_, summary) = call(
        &t,
        Method::GET,
        &format!("/api/customers/{id}/loyalty"),
        None,
    )
    .await;
    assert_eq!(summary["data"]["balance"], 25, "{summary}");
    let (_, trail) = call(
        &t,
        Method::GET,
        &format!("/api/audit?customer_id={id}"),
        None,
    )
    .await;
    assert_eq!(
        trail["data"]
            .as_array()
            .and_then(|a| a.last())
            .map(|r| r["action"].clone()),
        Some(json!("customer.erase"))
    );
}

macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::Sqlite).await;
                }
            )*
        }
        mod mysql {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::MySql).await;
                }
            )*
        }
    };
}

on_every_backend!(
    audit_and_erasure_over_http,
    secrets_and_database_files_are_private,
    user_changes_end_tokens_everywhere,
    rejections_before_a_handler_use_the_envelope,
    error_codes_and_reasons_come_from_the_sdk,
    merge_adjust_and_deactivate_over_http,
    customers_crud_with_the_guide_envelope,
    errors_have_one_shape,
    loyalty_over_http_is_idempotent_and_never_overdraws,
    analytics_follow_the_guide,
    tokens_are_checked_and_roles_enforced,
    logins_are_checked_and_rate_limited,
    demo_data_spreads_over_segments_and_keeps_the_ledger_consistent,
    dashboard_pages_and_figures_over_http,
    metrics_count_requests_by_route_and_status,
    responses_carry_a_request_id_and_cors_is_configurable
);

#[tokio::test]
async fn internal_errors_hide_their_details_behind_a_request_id() {
    let path = std::env::temp_dir().join(format!(
        "crm-server-500-{}.db",
        uuid::Uuid::new_v4().simple()
    ));
    let store = crm_sqlx::SqliteStore::connect(&format!("sqlite://{}", path.display()))
        .await
        .expect("sqlite");
    let crm = crm_core::Crm::new(store.clone());
    crm_server::bootstrap_admin(
        &crm,
        Some("admin@test.id".into()),
        Some("admin-password-1".into()),
    )
    .await
    .expect("admin");
    let app = TestApp {
        router: app(AppState::new(crm.clone(), SECRET)),
        cleanup: Cleanup::File(path),
        crm,
        token: String::new(),
    };
    let token = login(&app, "admin@test.id", "admin-password-1").await;
    store.pool().close().await; // the database goes away
    let (status, body) = send(&app, Method::GET, "/api/customers", None, Some(&token)).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body["error"]["code"], "internal");
    assert!(
        body["error"]["request_id"]
            .as_str()
            .is_some_and(|id| id.len() == 36),
        "{body}"
    );
    let text = body.to_string();
    assert!(
        !text.contains("sqlx") && !text.contains("pool"),
        "internals leaked: {text}"
    );
    let (status, body) = send(&app, Method::GET, "/health", None, None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("unavailable"))
    );
}

/// Every `$ref` in `v`.
fn refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                if k == "$ref"
                    && let Some(r) = v.as_str()
                {
                    out.push(r.to_string());
                }
                refs(v, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document_covers_every_endpoint_and_matches_the_router() {
    let t = test_app(Backend::Sqlite).await.expect("sqlite app");
    let (status, spec) = send(&t, Method::GET, "/api/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        spec["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "{}",
        spec["openapi"]
    );
    assert_eq!(
        spec["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );

    // Every endpoint of the API.
    let endpoints = [
        ("post", "/api/auth/login"),
        ("get", "/api/customers"),
        ("post", "/api/customers"),
        ("get", "/api/customers/{id}"),
        ("patch", "/api/customers/{id}"),
        ("delete", "/api/customers/{id}"),
        ("post", "/api/customers/{id}/reactivate"),
        ("post", "/api/customers/{id}/merge"),
        ("post", "/api/customers/{id}/purchases"),
        ("post", "/api/purchases/{store_id}/{receipt_id}/refunds"),
        ("get", "/api/customers/{id}/loyalty"),
        ("post", "/api/customers/{id}/loyalty/{operation}"),
        ("get", "/api/customers/{id}/analytics"),
        ("get", "/api/segments"),
        ("get", "/api/dashboard"),
        ("get", "/api/analytics/report"),
        ("get", "/api/customers/{id}/purchases"),
        ("post", "/api/analytics/refit"),
        ("post", "/api/users"),
        ("get", "/api/users"),
        ("get", "/api/users/{id}"),
        ("post", "/api/users/{id}/disable"),
        ("post", "/api/users/{id}/enable"),
        ("put", "/api/users/{id}/role"),
        ("post", "/api/users/{id}/password"),
        ("put", "/api/auth/password"),
        ("post", "/api/realtime/ticket"),
        ("get", "/api/audit"),
        ("post", "/api/customers/{id}/erase"),
        ("get", "/health"),
        ("get", "/metrics"),
        ("get", "/api/openapi.json"),
        ("post", "/api/templates"),
        ("get", "/api/templates"),
        ("post", "/api/templates/{id}/preview"),
        ("post", "/api/campaigns"),
        ("get", "/api/campaigns"),
        ("get", "/api/campaigns/{id}"),
        ("post", "/api/campaigns/{id}/send"),
        ("get", "/api/customers/{id}/communications"),
        ("get", "/api/customers/{id}/consent"),
        ("put", "/api/customers/{id}/consent"),
        ("get", "/unsubscribe"),
        ("post", "/unsubscribe"),
        ("post", "/api/imports"),
        ("get", "/api/imports/{id}"),
        ("get", "/api/imports/{id}/rejected.csv"),
        ("get", "/api/customers/export.csv"),
    ];
    let paths = spec["paths"].as_object().expect("paths");
    let documented: usize = paths
        .values()
        .map(|p| p.as_object().map_or(0, |m| m.len()))
        .sum();
    assert_eq!(
        documented,
        endpoints.len(),
        "documented operations differ from the endpoint list"
    );
    for (method, path) in endpoints {
        let op = &spec["paths"][path][method];
        assert!(op.is_object(), "{method} {path} is not documented");
        let responses = op["responses"].as_object().expect("responses");
        assert!(
            responses.keys().any(|s| s.starts_with('2')),
            "{method} {path}: no success response"
        );
        let public = matches!(
            path,
            "/api/auth/login" | "/api/openapi.json" | "/health" | "/metrics" | "/unsubscribe"
        );
        assert_eq!(
            op["security"][0]["bearer"].is_array(),
            !public,
            "{method} {path}: bearer security"
        );
        if !public {
            assert!(responses.contains_key("401"), "{method} {path}: no 401");
            // Changing one's own password is open to every role.
            if path != "/api/auth/password" {
                assert!(responses.contains_key("403"), "{method} {path}: no 403");
            }
        }
    }

    // Every reference resolves; the SDK's types are there.
    let schemas = spec["components"]["schemas"].as_object().expect("schemas");
    let mut all = Vec::new();
    refs(&spec, &mut all);
    for r in &all {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("unexpected ref {r}"));
        assert!(schemas.contains_key(name), "dangling ref {r}");
    }
    for name in [
        "Customer",
        "NewCustomer",
        "CustomerPatch",
        "Address",
        "CustomerType",
        "LoyaltySummary",
        "LedgerEntry",
        "Lot",
        "PointsBody",
        "PurchaseBody",
        "RefundBody",
        "MergeBody",
        "NewUser",
        "User",
        "Role",
        "RfmSegment",
        "ChurnRisk",
        "ErrorBody",
        "FieldError",
        "PageMeta",
        "AnalyticsModel",
    ] {
        assert!(schemas.contains_key(name), "schema {name} missing");
    }
    assert_eq!(schemas["NewCustomer"]["required"], json!(["name"]));

    // The document matches the router: every documented operation is routed
    // (no 404 from the router itself, no 405), and what it answers to a
    // minimal request is one of its documented statuses.
    for (method, path) in endpoints {
        // Users by an id that does not exist: a minimal request must not
        // change the caller (enabling it would end its token).
        let id = if path.starts_with("/api/users/") {
            "999999"
        } else {
            "1"
        };
        let uri = path
            .replace("{id}", id)
            .replace("{store_id}", "S1")
            .replace("{receipt_id}", "R1")
            .replace("{operation}", "earn");
        let m = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
        let body = matches!(method, "post" | "patch" | "put").then_some("{}");
        let (status, answer) = send(&t, m, &uri, body, Some(&t.token)).await;
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {uri}");
        if path == "/api/openapi.json" {
            assert_eq!(answer, spec);
        } else if path == "/metrics"
            || path == "/api/customers/export.csv"
            || (method, path) == ("get", "/unsubscribe")
        {
            // Prometheus text; the unsubscribe link's page for people.
        } else {
            assert!(
                answer["success"].is_boolean(),
                "{method} {uri}: {status} without the envelope (unrouted?)"
            );
        }
        let code = status.as_u16().to_string();
        assert!(
            spec["paths"][path][method]["responses"][&code].is_object(),
            "{method} {path} answered {code}, which it does not document"
        );
    }
}
