//! Conformance cases of the purchase-history import
//! (`crm.loyalty().import_history`).

use chrono::Duration;
use crm_core::loyalty::{NewPurchase, Purchase, RefundRequest};
use crm_core::{CustomerId, Error, ErrorKind, MAX_IMPORT_BATCH};
use rust_decimal::Decimal;

use crate::Backend;
use crate::loyalty_cases::{consistent_balance, customer, event_count, score_all};

/// A historical purchase: `days_ago` days before the test clock, on `store`.
fn old(
    b: &Backend,
    c: CustomerId,
    store: &str,
    receipt: &str,
    days_ago: i64,
    amount: i64,
) -> NewPurchase {
    NewPurchase {
        customer_id: c,
        store_id: store.into(),
        receipt_id: receipt.into(),
        purchase_date: crm_core::Clock::now(&b.clock) - Duration::days(days_ago),
        total_amount: Decimal::from(amount),
        currency: Some("IDR".into()),
    }
}

/// Every purchase in the store, in (customer, date, id) order: the stream
/// analytics reads.
async fn all_purchases(b: &Backend) -> Vec<Purchase> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = b
            .store
            .purchases_after(after, 1_000)
            .await
            .expect("purchases");
        let Some(last) = page.last() else {
            return out;
        };
        after = Some(crm_core::store::PurchaseCursor::after(last));
        out.extend(page);
    }
}

fn fields_of(e: &Error) -> Vec<(&str, &str)> {
    e.field_errors()
        .iter()
        .map(|f| (f.field.as_str(), f.rule.as_str()))
        .collect()
}

/// Imported purchases are history: analytics and purchase reads see them,
/// they earn no points and write no ledger entry or event.
pub async fn history_import_feeds_analytics_without_points(b: Backend) {
    let regular = customer(&b, "Regular").await;
    let once = customer(&b, "Once").await;
    let _none = customer(&b, "Nobody").await;
    let events_before = event_count(&b).await;

    // Ten weekly purchases over the past ten weeks, on two stores, and one.
    let mut rows: Vec<NewPurchase> = (0..10)
        .map(|w| {
            let store = if w % 2 == 0 { "OLD-A" } else { "OLD-B" };
            old(
                &b,
                regular.id,
                store,
                &format!("R{w}"),
                7 * (10 - w),
                100_000,
            )
        })
        .collect();
    rows.push(old(&b, once.id, "OLD-A", "R99", 30, 50_000));
    let report = b
        .crm
        .loyalty()
        .import_history(rows.clone())
        .await
        .expect("import");
    assert_eq!((report.inserted, report.skipped), (11, 0), "{}", b.name);
    assert!(report.skipped_rows.is_empty());

    let stored = all_purchases(&b).await;
    assert_eq!(stored.len(), 11, "{}", b.name);
    let of_regular: Vec<&Purchase> = stored
        .iter()
        .filter(|p| p.customer_id == regular.id)
        .collect();
    assert_eq!(of_regular.len(), 10);
    for (p, row) in of_regular.iter().zip(&rows) {
        assert_eq!(
            (&p.store_id, &p.receipt_id, p.purchase_date, p.total_amount),
            (
                &row.store_id,
                &row.receipt_id,
                row.purchase_date,
                row.total_amount
            ),
            "{}: stored as imported, in date order",
            b.name
        );
        assert_eq!(p.refunded_amount, Decimal::ZERO);
    }

    // No points, no ledger entries, no events.
    for c in [regular.id, once.id] {
        assert_eq!(consistent_balance(&b, c).await, 0, "{}", b.name);
        let summary = b.crm.loyalty().summary(c).await.expect("summary");
        assert!(summary.recent_entries.is_empty() && summary.lots.is_empty());
        assert_eq!(summary.lifetime_earned, 0);
    }
    assert_eq!(
        event_count(&b).await,
        events_before,
        "{}: an import writes no outbox event",
        b.name
    );

    // Analytics reads the imported history.
    let a = b
        .crm
        .analytics()
        .customer(regular.id)
        .await
        .expect("analytics");
    assert_eq!(a.frequency, 9, "{}: ten weekly purchases", b.name);
    assert_eq!(a.monetary_value, Decimal::from(100_000));
    let (model, scored) = score_all(&b).await;
    let model = model.expect("a model: there are purchases");
    assert_eq!(scored, [regular.id, once.id], "{}", b.name);
    assert_eq!(model.customers, 2);

    // The till re-sending an imported receipt is a replay (no points either),
    // and an imported purchase can be refunded.
    let replay = b
        .crm
        .loyalty()
        .record_purchase(rows[10].clone())
        .await
        .expect("replay of an imported receipt");
    assert!(replay.replayed && replay.earned.is_none(), "{}", b.name);
    assert_eq!(replay.purchase.customer_id, once.id);
    let refund = b
        .crm
        .loyalty()
        .refund(RefundRequest {
            store_id: "OLD-A".into(),
            receipt_id: "R99".into(),
            refund_id: "F1".into(),
            amount: Decimal::from(20_000),
        })
        .await
        .expect("refund of an imported purchase");
    assert!(refund.earn_reversed.is_none(), "{}", b.name);
    assert_eq!(refund.purchase.refunded_amount, Decimal::from(20_000));
    assert_eq!(consistent_balance(&b, once.id).await, 0);
}

/// Every bad row is reported at once, in row order, and nothing is written.
pub async fn history_import_reports_every_bad_row_and_writes_nothing(b: Backend) {
    let c = customer(&b, "Budi").await;
    b.crm
        .loyalty()
        .import_history(vec![old(&b, c.id, "S1", "KEEP", 3, 10_000)])
        .await
        .expect("first import");

    let mut rows: Vec<NewPurchase> = (0..12)
        .map(|i| old(&b, c.id, "S1", &format!("N{i}"), 5, 25_000))
        .collect();
    rows[1].store_id = String::new();
    rows[2].total_amount = Decimal::from(-1);
    rows[3].total_amount = "10.005".parse().expect("decimal");
    rows[4].currency = Some("USD".into());
    rows[5].purchase_date = crm_core::Clock::now(&b.clock) + Duration::days(1);
    rows[6].receipt_id = "N0".into(); // repeats row 0
    rows[7].customer_id = CustomerId(999_999);
    rows[8].receipt_id = "KEEP".into(); // stored with another amount
    rows[9].store_id = "S/1".into();
    rows[9].receipt_id = "x".repeat(81);
    rows[10].total_amount = "10000000000000".parse().expect("decimal");

    let err = b
        .crm
        .loyalty()
        .import_history(rows.clone())
        .await
        .expect_err("bad rows");
    assert_eq!(err.kind(), ErrorKind::Validation);
    assert_eq!(
        fields_of(&err),
        [
            ("[1].store_id", "required"),
            ("[2].total_amount", "min"),
            ("[3].total_amount", "scale"),
            ("[4].currency", "currency"),
            ("[5].purchase_date", "past"),
            ("[6].receipt_id", "duplicate_in_batch"),
            ("[7].customer_id", "not_found"),
            ("[8].receipt_id", "conflict"),
            ("[9].store_id", "format"),
            ("[9].receipt_id", "max_length"),
            ("[10].total_amount", "max"),
        ],
        "{}",
        b.name
    );
    let messages: Vec<&str> = err
        .field_errors()
        .iter()
        .map(|f| f.message.as_str())
        .collect();
    assert!(messages[5].contains("row 0"), "{messages:?}");
    assert!(messages[6].contains("999999"), "{messages:?}");
    assert!(messages[7].contains("S1/KEEP"), "{messages:?}");

    let stored = all_purchases(&b).await;
    assert_eq!(
        stored.len(),
        1,
        "{}: a failed import writes nothing",
        b.name
    );
    assert_eq!(stored[0].receipt_id, "KEEP");

    let too_many = vec![old(&b, c.id, "S1", "R", 1, 1); MAX_IMPORT_BATCH + 1];
    let err = b
        .crm
        .loyalty()
        .import_history(too_many)
        .await
        .expect_err("batch too large");
    assert_eq!(fields_of(&err), [("purchases", "max_items")]);

    // The good rows alone go in.
    let good: Vec<NewPurchase> = rows
        .into_iter()
        .enumerate()
        .filter(|(i, _)| [0, 11].contains(i))
        .map(|(_, p)| p)
        .collect();
    let report = b
        .crm
        .loyalty()
        .import_history(good)
        .await
        .expect("good rows");
    assert_eq!((report.inserted, report.skipped), (2, 0));
    assert_eq!(all_purchases(&b).await.len(), 3);
}

/// Running the same import again inserts nothing: stored receipts with the
/// same details are skipped and counted, across chunk boundaries.
pub async fn history_import_reruns_skip_what_is_stored(b: Backend) {
    let customers = [
        customer(&b, "Ani").await.id,
        customer(&b, "Budi").await.id,
        customer(&b, "Citra").await.id,
    ];
    let rows = |range: std::ops::Range<usize>| -> Vec<NewPurchase> {
        range
            .map(|i| {
                old(
                    &b,
                    customers[i % 3],
                    &format!("T{}", i % 4),
                    &format!("R{i:05}"),
                    (i % 300) as i64 + 1,
                    1_000 + i as i64,
                )
            })
            .collect()
    };
    let first = b
        .crm
        .loyalty()
        .import_history(rows(0..2_500))
        .await
        .expect("import");
    assert_eq!((first.inserted, first.skipped), (2_500, 0), "{}", b.name);

    let again = b
        .crm
        .loyalty()
        .import_history(rows(0..2_500))
        .await
        .expect("re-run");
    assert_eq!((again.inserted, again.skipped), (0, 2_500), "{}", b.name);
    assert_eq!(again.skipped_rows, (0..2_500).collect::<Vec<_>>());

    // A run cut off half-way and restarted: overlap skipped, the rest inserted.
    let resumed = b
        .crm
        .loyalty()
        .import_history(rows(1_800..3_200))
        .await
        .expect("resume");
    assert_eq!(
        (resumed.inserted, resumed.skipped),
        (700, 700),
        "{}",
        b.name
    );
    assert_eq!(resumed.skipped_rows, (0..700).collect::<Vec<_>>());

    // A receipt the till already sent (earning points) is skipped too, and
    // keeps its points.
    let live = NewPurchase {
        customer_id: customers[0],
        store_id: "LIVE".into(),
        receipt_id: "L1".into(),
        purchase_date: crm_core::Clock::now(&b.clock),
        total_amount: Decimal::from(150_000),
        currency: Some("IDR".into()),
    };
    let recorded = b
        .crm
        .loyalty()
        .record_purchase(live.clone())
        .await
        .expect("till");
    let earned = recorded.earned.expect("earned").points;
    let mixed = vec![live, old(&b, customers[1], "LIVE", "L2", 1, 5_000)];
    let report = b.crm.loyalty().import_history(mixed).await.expect("mixed");
    assert_eq!((report.inserted, report.skipped), (1, 1));
    assert_eq!(report.skipped_rows, [0]);
    assert_eq!(consistent_balance(&b, customers[0]).await, earned);

    let stored = all_purchases(&b).await;
    assert_eq!(stored.len(), 3_200 + 2, "{}: nothing twice", b.name);
    let mut keys: Vec<(&str, &str)> = stored
        .iter()
        .map(|p| (p.store_id.as_str(), p.receipt_id.as_str()))
        .collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), stored.len());
}

/// Customer ids must exist; merged customers' history goes to the survivor;
/// inactive customers keep their history.
pub async fn history_import_checks_customers(b: Backend) {
    let kept = customer(&b, "Kept").await;
    let dup = customer(&b, "Duplicate").await;
    let gone = customer(&b, "Gone").await;
    b.crm
        .customers()
        .merge(crm_core::MergeCustomers {
            into: kept.id,
            from: dup.id,
            merged_by: "test".into(),
        })
        .await
        .expect("merge");
    b.crm
        .customers()
        .deactivate(gone.id)
        .await
        .expect("deactivate");

    let err = b
        .crm
        .loyalty()
        .import_history(vec![
            old(&b, kept.id, "S", "A", 2, 1_000),
            old(&b, CustomerId(0), "S", "B", 2, 1_000),
            old(&b, CustomerId(-5), "S", "C", 2, 1_000),
            old(&b, CustomerId(gone.id.0 + 1000), "S", "D", 2, 1_000),
        ])
        .await
        .expect_err("unknown customers");
    assert_eq!(
        fields_of(&err),
        [
            ("[1].customer_id", "not_found"),
            ("[2].customer_id", "not_found"),
            ("[3].customer_id", "not_found"),
        ],
        "{}",
        b.name
    );
    assert!(all_purchases(&b).await.is_empty(), "{}", b.name);

    let report = b
        .crm
        .loyalty()
        .import_history(vec![
            old(&b, dup.id, "S", "M1", 20, 7_000),
            old(&b, gone.id, "S", "G1", 400, 9_000),
        ])
        .await
        .expect("merged and inactive customers");
    assert_eq!(report.inserted, 2);
    let stored = all_purchases(&b).await;
    let owner = |r: &str| {
        stored
            .iter()
            .find(|p| p.receipt_id == r)
            .map(|p| p.customer_id)
    };
    assert_eq!(
        owner("M1"),
        Some(kept.id),
        "{}: goes to the survivor",
        b.name
    );
    assert_eq!(owner("G1"), Some(gone.id));

    // Re-importing the merged customer's row (by its old id) is a re-run.
    let again = b
        .crm
        .loyalty()
        .import_history(vec![old(&b, dup.id, "S", "M1", 20, 7_000)])
        .await
        .expect("re-run");
    assert_eq!((again.inserted, again.skipped), (0, 1), "{}", b.name);
}
