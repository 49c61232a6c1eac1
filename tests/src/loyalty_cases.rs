//! Conformance cases of the loyalty ledger and purchase history.

use chrono::Duration;
use crm_core::loyalty::{NewPurchase, PointsRequest, RefundRequest, receipt_key};
use crm_core::{Customer, CustomerId, Error, ErrorKind, NewCustomer};
use rust_decimal::Decimal;

use crate::Backend;

/// A fresh active customer.
pub async fn customer(b: &Backend, name: &str) -> Customer {
    b.crm
        .customers()
        .create(NewCustomer {
            name: name.into(),
            ..NewCustomer::default()
        })
        .await
        .expect("create customer")
}

/// A purchase of `amount` rupiah now, on receipt `S1/{receipt}`.
pub fn purchase(b: &Backend, c: CustomerId, receipt: &str, amount: i64) -> NewPurchase {
    NewPurchase {
        customer_id: c,
        store_id: "S1".into(),
        receipt_id: receipt.into(),
        purchase_date: crm_core::Clock::now(&b.clock),
        total_amount: Decimal::from(amount),
        currency: Some("IDR".into()),
    }
}

pub(crate) fn points(
    c: CustomerId,
    points: i64,
    reference_type: &str,
    reference_id: &str,
) -> PointsRequest {
    PointsRequest {
        customer_id: c,
        points,
        reference_type: reference_type.into(),
        reference_id: reference_id.into(),
        actor: None,
    }
}

/// Asserts the ledger invariant and returns the balance.
pub async fn consistent_balance(b: &Backend, c: CustomerId) -> i64 {
    let check = b
        .crm
        .loyalty()
        .check_balance(c)
        .await
        .expect("check balance");
    assert!(
        check.consistent,
        "{}: inconsistent balance {check:?}",
        b.name
    );
    check.stored_balance
}

/// Events in the outbox (the first 1,000).
pub(crate) async fn event_count(b: &Backend) -> usize {
    b.crm
        .events()
        .list(crm_core::events::EventQuery {
            after: 0,
            limit: 1000,
        })
        .await
        .expect("events")
        .len()
}

/// A purchase earns by the programme; re-sending the receipt changes nothing;
/// the same receipt with another amount is a conflict.
pub async fn purchase_earns_once_per_receipt(b: Backend) {
    let c = customer(&b, "Budi").await;
    let first = b
        .crm
        .loyalty()
        .record_purchase(purchase(&b, c.id, "R1", 155_000))
        .await
        .expect("purchase");
    assert!(!first.replayed);
    let earned = first.earned.clone().expect("earned");
    assert_eq!((earned.points, earned.balance_after), (15, 15));
    let events = event_count(&b).await;
    for _ in 0..3 {
        let again = b
            .crm
            .loyalty()
            .record_purchase(purchase(&b, c.id, "R1", 155_000))
            .await
            .expect("replay");
        assert!(again.replayed);
        assert_eq!(again.earned, first.earned);
        assert_eq!(again.purchase, first.purchase);
    }
    assert_eq!(
        event_count(&b).await,
        events,
        "{}: a replay wrote events",
        b.name
    );
    let err = b
        .crm
        .loyalty()
        .record_purchase(purchase(&b, c.id, "R1", 160_000))
        .await
        .expect_err("conflicting replay");
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(consistent_balance(&b, c.id).await, 15);
    let small = b
        .crm
        .loyalty()
        .record_purchase(purchase(&b, c.id, "R2", 9_999))
        .await
        .expect("small purchase");
    assert!(small.earned.is_none(), "below one point earns nothing");
    let err = b
        .crm
        .loyalty()
        .record_purchase(NewPurchase {
            currency: Some("USD".into()),
            total_amount: Decimal::from(-1),
            ..purchase(&b, c.id, "", 1)
        })
        .await
        .expect_err("invalid");
    let fields: Vec<_> = err
        .field_errors()
        .iter()
        .map(|f| f.field.as_str())
        .collect();
    assert_eq!(fields, ["receipt_id", "total_amount", "currency"]);
}

/// An amount larger than the stores keep (`DECIMAL(15,2)`) is a validation
/// error naming the field, on every backend, and nothing is written.
pub async fn amounts_beyond_the_stored_range_are_validation_errors(b: Backend) {
    let c = customer(&b, "Kaya").await;
    let mut p = purchase(&b, c.id, "BIG", 0);
    p.total_amount = Decimal::new(1_000_000_000_000_000, 2); // 10,000,000,000,000.00
    let err = b
        .crm
        .loyalty()
        .record_purchase(p)
        .await
        .expect_err("too large");
    let fields: Vec<_> = err
        .field_errors()
        .iter()
        .map(|f| (f.field.as_str(), f.rule.as_str()))
        .collect();
    assert_eq!(fields, [("total_amount", "max")], "{}: {err}", b.name);
    assert_eq!(
        event_count(&b).await,
        1,
        "{}: only the new customer event",
        b.name
    );
    let mut p = purchase(&b, c.id, "MAX", 0);
    p.total_amount = Decimal::new(999_999_999_999_999, 2); // the largest stored amount
    let r = b
        .crm
        .loyalty()
        .record_purchase(p)
        .await
        .expect("the largest amount is kept");
    assert_eq!(
        r.purchase.total_amount,
        Decimal::new(999_999_999_999_999, 2),
        "{}",
        b.name
    );
    let refund = b
        .crm
        .loyalty()
        .refund(crm_core::loyalty::RefundRequest {
            store_id: "S1".into(),
            receipt_id: "MAX".into(),
            refund_id: "r".into(),
            amount: Decimal::new(1_000_000_000_000_000, 2),
        })
        .await
        .expect_err("too large a refund");
    assert_eq!(
        refund.field_errors().first().map(|f| f.rule.as_str()),
        Some("max")
    );
}

/// Redemption never overdraws: the error states the available balance and
/// nothing is written; replays return the original entry.
pub async fn redeem_never_overdraws(b: Backend) {
    let c = customer(&b, "Siti").await;
    b.crm
        .loyalty()
        .earn(points(c.id, 15, "promo", "welcome-1"))
        .await
        .expect("earn");
    let events = event_count(&b).await;
    let err = b
        .crm
        .loyalty()
        .redeem(points(c.id, 20, "receipt", "S1/R9"))
        .await
        .expect_err("too many");
    match err {
        Error::InsufficientPoints {
            requested,
            available,
        } => assert_eq!((requested, available), (20, 15)),
        other => panic!("{}: expected InsufficientPoints, got {other:?}", b.name),
    }
    assert_eq!(
        event_count(&b).await,
        events,
        "a refused redemption wrote nothing"
    );
    // The refusal is final for its key: a new attempt takes a new key.
    let ok = b
        .crm
        .loyalty()
        .redeem(points(c.id, 10, "receipt", "S1/R10"))
        .await
        .expect("redeem");
    assert_eq!((ok.entry.points, ok.entry.balance_after), (-10, 5));
    let replay = b
        .crm
        .loyalty()
        .redeem(points(c.id, 10, "receipt", "S1/R10"))
        .await
        .expect("replay");
    assert!(replay.replayed);
    assert_eq!(replay.entry, ok.entry);
    let err = b
        .crm
        .loyalty()
        .redeem(points(c.id, 11, "receipt", "S1/R10"))
        .await
        .expect_err("conflicting replay");
    assert_eq!(err.kind(), ErrorKind::Conflict);
    let err = b
        .crm
        .loyalty()
        .earn(points(c.id, 5, "purchase", "x"))
        .await
        .expect_err("reserved type");
    assert_eq!(err.field_errors()[0].rule, "reserved");
    assert_eq!(consistent_balance(&b, c.id).await, 5);
}

/// Concurrent redemptions that together exceed the balance: exactly the ones
/// that fit succeed.
pub async fn concurrent_redemptions_take_exactly_what_fits(b: Backend) {
    let c = customer(&b, "Agus").await;
    b.crm
        .loyalty()
        .earn(points(c.id, 100, "promo", "p1"))
        .await
        .expect("earn");
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let crm = b.crm.clone();
            tokio::spawn(async move {
                crm.loyalty()
                    .redeem(points(c.id, 10, "voucher", &format!("v{i}")))
                    .await
            })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        match t.await.expect("task") {
            Ok(applied) => {
                assert!(applied.entry.balance_after >= 0);
                ok += 1;
            }
            Err(Error::InsufficientPoints { available, .. }) => assert!(available < 10),
            Err(e) => panic!("{}: unexpected error {e}", b.name),
        }
    }
    assert_eq!(ok, 10, "{}", b.name);
    assert_eq!(consistent_balance(&b, c.id).await, 0);
}

/// Redemptions take the soonest-expiring lot first; expiry writes off only
/// what is left, once; the balance never includes expired points.
pub async fn lots_expire_soonest_first_and_once(b: Backend) {
    let c = customer(&b, "Dewi").await;
    let start = crm_core::Clock::now(&b.clock);
    b.crm
        .loyalty()
        .record_purchase(purchase(&b, c.id, "R1", 100_000))
        .await
        .expect("p1"); // 10 pts, expires +12m
    b.clock.advance(Duration::days(180));
    b.crm
        .loyalty()
        .record_purchase(purchase(&b, c.id, "R2", 200_000))
        .await
        .expect("p2"); // 20 pts, expires +18m from start
    b.crm
        .loyalty()
        .redeem(points(c.id, 7, "receipt", "S1/R2"))
        .await
        .expect("redeem 7");
    let summary = b.crm.loyalty().summary(c.id).await.expect("summary");
    let remaining: Vec<_> = summary.lots.iter().map(|l| l.remaining).collect();
    assert_eq!(
        remaining,
        [3, 20],
        "{}: the older lot is used first",
        b.name
    );
    assert!(summary.lots[0].expires_at < summary.lots[1].expires_at);

    b.clock.set(start + Duration::days(366));
    let summary = b.crm.loyalty().summary(c.id).await.expect("summary");
    assert_eq!(
        summary.balance, 20,
        "{}: expired points excluded before the run",
        b.name
    );
    assert_eq!(summary.available, 20);
    let run = b.crm.loyalty().run_expiry().await.expect("expiry");
    assert_eq!((run.customers, run.points), (1, 3));
    let again = b.crm.loyalty().run_expiry().await.expect("expiry again");
    assert_eq!((again.customers, again.points), (0, 0));
    assert_eq!(consistent_balance(&b, c.id).await, 20);
    let summary = b.crm.loyalty().summary(c.id).await.expect("summary");
    assert_eq!(
        summary.recent_entries[0].entry_type,
        crm_core::loyalty::EntryType::Expire
    );
    assert_eq!(summary.recent_entries[0].points, -3);
}

/// A refund retried 5 times reverses once; partial refunds add up to the
/// whole; spent points become a visible debt that blocks redemption.
pub async fn refunds_reverse_once_and_record_debt(b: Backend) {
    let c = customer(&b, "Eko").await;
    b.crm
        .loyalty()
        .record_purchase(purchase(&b, c.id, "R1", 100_000))
        .await
        .expect("purchase"); // 10
    let refund = |id: &str, amount: i64| RefundRequest {
        store_id: "S1".into(),
        receipt_id: "R1".into(),
        refund_id: id.into(),
        amount: Decimal::from(amount),
    };
    let first = b
        .crm
        .loyalty()
        .refund(refund("RF1", 35_000))
        .await
        .expect("refund");
    assert_eq!(first.earn_reversed.as_ref().map(|e| e.points), Some(-3));
    let events = event_count(&b).await;
    for _ in 0..5 {
        let again = b
            .crm
            .loyalty()
            .refund(refund("RF1", 35_000))
            .await
            .expect("retry");
        assert!(again.replayed);
        assert_eq!(again.earn_reversed, first.earn_reversed);
    }
    assert_eq!(
        event_count(&b).await,
        events,
        "{}: retries wrote events",
        b.name
    );
    assert_eq!(consistent_balance(&b, c.id).await, 7);
    let err = b
        .crm
        .loyalty()
        .refund(refund("RF1", 1_000))
        .await
        .expect_err("same id, other amount");
    assert_eq!(err.kind(), ErrorKind::Conflict);
    let err = b
        .crm
        .loyalty()
        .refund(refund("RF2", 70_000))
        .await
        .expect_err("more than paid");
    assert_eq!(err.kind(), ErrorKind::Validation);

    // Spend the rest, then refund the remainder: the reversal becomes debt.
    b.crm
        .loyalty()
        .redeem(points(c.id, 7, "voucher", "v1"))
        .await
        .expect("spend");
    let rest = b
        .crm
        .loyalty()
        .refund(refund("RF3", 65_000))
        .await
        .expect("refund rest (RF2 was refused, for good)");
    assert_eq!(
        rest.earn_reversed.as_ref().map(|e| e.points),
        Some(-7),
        "3 + 7 = all 10 points"
    );
    assert_eq!(rest.purchase.refunded_amount, Decimal::from(100_000));
    let summary = b.crm.loyalty().summary(c.id).await.expect("summary");
    assert_eq!(
        (summary.balance, summary.debt, summary.available),
        (-7, 7, 0)
    );
    let err = b
        .crm
        .loyalty()
        .redeem(points(c.id, 1, "voucher", "v2"))
        .await
        .expect_err("in debt");
    assert!(matches!(
        err,
        Error::InsufficientPoints { available: 0, .. }
    ));
    assert_eq!(consistent_balance(&b, c.id).await, -7);
    // New points pay the debt first.
    b.crm
        .loyalty()
        .record_purchase(purchase(&b, c.id, "R2", 200_000))
        .await
        .expect("purchase"); // 20
    let summary = b.crm.loyalty().summary(c.id).await.expect("summary");
    assert_eq!(
        (summary.balance, summary.debt, summary.available),
        (13, 0, 13)
    );
    assert_eq!(consistent_balance(&b, c.id).await, 13);
}

/// Refunding a receipt gives back the points redeemed on it.
pub async fn refund_gives_back_points_redeemed_on_the_receipt(b: Backend) {
    let c = customer(&b, "Fajar").await;
    b.crm
        .loyalty()
        .earn(points(c.id, 50, "promo", "p"))
        .await
        .expect("earn");
    b.crm
        .loyalty()
        .record_purchase(purchase(&b, c.id, "R5", 100_000))
        .await
        .expect("purchase"); // +10
    b.crm
        .loyalty()
        .redeem(points(c.id, 40, "receipt", &receipt_key("S1", "R5")))
        .await
        .expect("redeem on receipt");
    assert_eq!(consistent_balance(&b, c.id).await, 20);
    let r = b
        .crm
        .loyalty()
        .refund(RefundRequest {
            store_id: "S1".into(),
            receipt_id: "R5".into(),
            refund_id: "RF".into(),
            amount: Decimal::from(100_000),
        })
        .await
        .expect("refund");
    assert_eq!(r.earn_reversed.as_ref().map(|e| e.points), Some(-10));
    assert_eq!(r.redeem_returned.as_ref().map(|e| e.points), Some(40));
    assert_eq!(consistent_balance(&b, c.id).await, 50);
}

/// Tiers come from points earned in the window, not from the balance, and
/// their multiplier applies.
pub async fn tiers_follow_points_earned_not_balance(b: Backend) {
    let c = customer(&b, "Gilang").await;
    b.crm
        .loyalty()
        .record_purchase(purchase(&b, c.id, "R1", 10_000_000))
        .await
        .expect("big purchase"); // 1000
    b.crm
        .loyalty()
        .redeem(points(c.id, 1000, "voucher", "all"))
        .await
        .expect("spend all");
    let s = b.crm.loyalty().summary(c.id).await.expect("summary");
    assert_eq!(
        (s.balance, s.tier.as_deref()),
        (0, Some("Silver")),
        "{}",
        b.name
    );
    let p = b
        .crm
        .loyalty()
        .record_purchase(purchase(&b, c.id, "R2", 100_000))
        .await
        .expect("purchase");
    assert_eq!(
        p.earned.map(|e| e.points),
        Some(12),
        "10 x 1.25 rounded down"
    );
    b.clock.advance(Duration::days(400));
    let s = b.crm.loyalty().summary(c.id).await.expect("summary");
    assert_eq!(s.tier.as_deref(), Some("Bronze"), "the window rolls");
}

/// Merging moves purchases, lots and balance, deactivates the duplicate with
/// a pointer, and is idempotent; later operations on it go to the survivor.
pub async fn merge_moves_everything_once(b: Backend) {
    let a = customer(&b, "Hadi").await;
    let dup = customer(&b, "Hadi W").await;
    b.crm
        .loyalty()
        .record_purchase(purchase(&b, a.id, "A1", 100_000))
        .await
        .expect("a");
    b.crm
        .loyalty()
        .record_purchase(purchase(&b, dup.id, "B1", 300_000))
        .await
        .expect("b");
    let merged = b
        .crm
        .customers()
        .merge(crm_core::MergeCustomers {
            into: a.id,
            from: dup.id,
            merged_by: "manager@toko".into(),
        })
        .await
        .expect("merge");
    assert!(!merged.replayed);
    assert_eq!(merged.merged.merged_into, Some(a.id));
    assert_eq!(merged.merged.merged_by.as_deref(), Some("manager@toko"));
    assert!(!merged.merged.is_active);
    assert_eq!(consistent_balance(&b, a.id).await, 40);
    assert_eq!(consistent_balance(&b, dup.id).await, 0);
    let events = event_count(&b).await;
    let again = b
        .crm
        .customers()
        .merge(crm_core::MergeCustomers {
            into: a.id,
            from: dup.id,
            merged_by: "manager@toko".into(),
        })
        .await
        .expect("again");
    assert!(again.replayed);
    assert_eq!(event_count(&b).await, events);
    // A retried receipt of the duplicate and new points addressed to it land on the survivor.
    let replay = b
        .crm
        .loyalty()
        .record_purchase(purchase(&b, dup.id, "B1", 300_000))
        .await
        .expect("replay");
    assert!(replay.replayed);
    b.crm
        .loyalty()
        .earn(points(dup.id, 5, "promo", "late"))
        .await
        .expect("earn to merged");
    assert_eq!(consistent_balance(&b, a.id).await, 45);
    let refund = b
        .crm
        .loyalty()
        .refund(RefundRequest {
            store_id: "S1".into(),
            receipt_id: "B1".into(),
            refund_id: "x".into(),
            amount: Decimal::from(300_000),
        })
        .await
        .expect("refund moved purchase");
    assert_eq!(refund.purchase.customer_id, a.id);
    assert_eq!(consistent_balance(&b, a.id).await, 15);
    let err = b
        .crm
        .customers()
        .merge(crm_core::MergeCustomers {
            into: a.id,
            from: a.id,
            merged_by: "x".into(),
        })
        .await
        .expect_err("self merge");
    assert_eq!(err.kind(), ErrorKind::Validation);
}

/// Every change writes exactly one event, in order: customer events and one
/// `loyalty_points` per ledger entry carrying the new balance.
pub async fn outbox_has_one_event_per_change(b: Backend) {
    assert_eq!(b.crm.events().last_id().await.expect("last id"), 0);
    let c = customer(&b, "Indah").await;
    b.crm
        .customers()
        .update(crm_core::UpdateCustomer {
            id: c.id,
            patch: crm_core::CustomerPatch {
                name: Some("Indah P".into()),
                ..Default::default()
            },
        })
        .await
        .expect("update");
    b.crm
        .loyalty()
        .record_purchase(purchase(&b, c.id, "R1", 100_000))
        .await
        .expect("purchase");
    b.crm
        .loyalty()
        .redeem(points(c.id, 4, "voucher", "v"))
        .await
        .expect("redeem");
    let events = b
        .crm
        .events()
        .list(crm_core::events::EventQuery {
            after: 0,
            limit: 100,
        })
        .await
        .expect("events");
    let kinds: Vec<_> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "new_customer",
            "customer_update",
            "loyalty_points",
            "loyalty_points"
        ],
        "{}",
        b.name
    );
    assert!(events.windows(2).all(|w| w[0].id < w[1].id));
    // Customer events are thin: the id and the version, nothing personal.
    for (e, version) in events[..2].iter().zip([c.version, c.version + 1]) {
        assert_eq!(
            e.payload,
            serde_json::json!({"version": version}),
            "{}",
            b.name
        );
        assert_eq!(e.customer_version(), Some(version));
        assert_eq!(
            e.to_wire(),
            serde_json::json!({"type": e.event_type, "event_id": e.id,
                "customer_id": c.id, "version": version})
        );
    }
    let wire = events[2].to_wire();
    assert_eq!(
        (wire["points"].as_i64(), wire["delta"].as_i64()),
        (Some(10), Some(10))
    );
    assert_eq!(events[2].payload["points"], 10);
    assert_eq!(
        (
            events[3].payload["points"].as_i64(),
            events[3].payload["delta"].as_i64()
        ),
        (Some(6), Some(-4))
    );
    let tail = b
        .crm
        .events()
        .list(crm_core::events::EventQuery {
            after: events[1].id,
            limit: 100,
        })
        .await
        .expect("resume");
    assert_eq!(tail.len(), 2);
    assert_eq!(
        b.crm.events().last_id().await.expect("last id"),
        events[3].id,
        "{}",
        b.name
    );
}

/// 32 concurrent tasks of mixed earn and redeem on one customer, with
/// duplicated keys: the invariants hold and the balance is exactly expected.
pub async fn concurrent_mixed_operations_with_duplicate_keys(b: Backend) {
    let c = customer(&b, "Joko").await;
    b.crm
        .loyalty()
        .earn(points(c.id, 100, "promo", "seed"))
        .await
        .expect("seed");
    // Keys 0..16 are each used by two tasks (a duplicate), even = earn 7, odd = redeem 5.
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let crm = b.crm.clone();
            let k = i % 16;
            tokio::spawn(async move {
                if k % 2 == 0 {
                    crm.loyalty()
                        .earn(points(c.id, 7, "promo", &format!("k{k}")))
                        .await
                } else {
                    crm.loyalty()
                        .redeem(points(c.id, 5, "voucher", &format!("k{k}")))
                        .await
                }
            })
        })
        .collect();
    let mut fresh = 0;
    for t in tasks {
        let applied = t
            .await
            .expect("task")
            .unwrap_or_else(|e| panic!("{}: {e}", b.name));
        if !applied.replayed {
            fresh += 1;
        }
    }
    assert_eq!(fresh, 16, "{}: each key applied exactly once", b.name);
    assert_eq!(consistent_balance(&b, c.id).await, 100 + 8 * 7 - 8 * 5);
}

/// A client whose call is cut at any point (the future dropped mid-flight,
/// which drops its database connection) and that then retries gets the
/// operation applied exactly once.
pub async fn replay_after_a_dropped_connection_applies_once(b: Backend) {
    let c = customer(&b, "Kurnia").await;
    let mut expected = 0;
    for cut_us in (0..4000).step_by(150) {
        let req = points(c.id, 3, "promo", &format!("cut-{cut_us}"));
        let cut = tokio::time::timeout(
            std::time::Duration::from_micros(cut_us),
            b.crm.loyalty().earn(req.clone()),
        )
        .await;
        // A cut earn must not leave its account locked behind it: the retry
        // would wait out the database's lock timeout (50 s on MariaDB).
        let retried = tokio::time::timeout(
            std::time::Duration::from_secs(20),
            b.crm.loyalty().earn(req),
        )
        .await
        .unwrap_or_else(|_| {
            panic!(
                "{}: the retry after a cut at {cut_us} µs waited on a lock",
                b.name
            )
        })
        .expect("retry after the cut");
        expected += 3;
        if let Ok(Ok(first)) = cut {
            assert!(retried.replayed);
            assert_eq!(retried.entry, first.entry);
        }
        assert_eq!(retried.entry.points, 3);
        assert_eq!(
            consistent_balance(&b, c.id).await,
            expected,
            "{}: cut after {cut_us} µs",
            b.name
        );
    }
}

/// Analytics read the purchase history from the store (net of refunds):
/// the guide's `segment` and `lifetime_value` per customer, and batch
/// scoring of everyone.
pub async fn analytics_score_customers_from_the_store(b: Backend) {
    use crm_core::analytics::RfmSegment;
    let (nothing, scored) = score_all(&b).await;
    assert!(nothing.is_none(), "{}: no model without history", b.name);
    assert!(scored.is_empty(), "{}: nothing to score", b.name);
    let loyal = customer(&b, "Loyal").await;
    let once = customer(&b, "Once").await;
    let refunded = customer(&b, "Refunded").await;
    let none = customer(&b, "Nobody").await;
    b.crm
        .loyalty()
        .record_purchase(purchase(&b, once.id, "O1", 50_000))
        .await
        .expect("once");
    b.crm
        .loyalty()
        .record_purchase(purchase(&b, refunded.id, "X1", 80_000))
        .await
        .expect("refunded");
    b.crm
        .loyalty()
        .refund(RefundRequest {
            store_id: "S1".into(),
            receipt_id: "X1".into(),
            refund_id: "all".into(),
            amount: Decimal::from(80_000),
        })
        .await
        .expect("refund all");
    for week in 0..10 {
        b.crm
            .loyalty()
            .record_purchase(purchase(&b, loyal.id, &format!("L{week}"), 100_000))
            .await
            .expect("loyal");
        b.clock.advance(Duration::days(7));
    }
    let l = b
        .crm
        .analytics()
        .customer(loyal.id)
        .await
        .expect("loyal analytics");
    let o = b
        .crm
        .analytics()
        .customer(once.id)
        .await
        .expect("once analytics");
    let n = b
        .crm
        .analytics()
        .customer(none.id)
        .await
        .expect("no purchases");
    assert_eq!(l.frequency, 9, "{}", b.name);
    // The guide's CLV, fixed: 10 purchases in under a year -> 10/yr x 100,000 x 0.20 - 10 x 50.
    assert_eq!(l.lifetime_value, Decimal::from(199_500), "{}", b.name);
    assert_eq!(o.lifetime_value, Decimal::from(9_950));
    assert_eq!(n.lifetime_value, Decimal::ZERO);
    assert!(
        l.rfm.total > o.rfm.total,
        "{}: {:?} vs {:?}",
        b.name,
        l.rfm,
        o.rfm
    );
    assert_ne!(l.segment, RfmSegment::Lost);
    let json = serde_json::to_value(&l).expect("json");
    assert!(json.get("segment").is_some() && json.get("lifetime_value").is_some());

    let (model, scored) = score_all(&b).await;
    let model = model.expect("a model: there are purchases");
    assert_eq!(
        scored,
        [loyal.id, once.id],
        "{}: one result per customer with net purchases, in order",
        b.name
    );
    assert_eq!(model.customers, 2);
}

/// Every score of `score_all`, pulled in small batches (so the cursor's
/// batching is exercised), and the model used.
pub(crate) async fn score_all(
    b: &Backend,
) -> (Option<crm_core::analytics::AnalyticsModel>, Vec<CustomerId>) {
    let mut cursor = b.crm.analytics().score_all().await.expect("score all");
    let mut scored = Vec::new();
    loop {
        let batch = cursor.next_batch(1).await.expect("a batch of scores");
        if batch.is_empty() {
            break;
        }
        assert_eq!(batch.len(), 1, "{}: at most the batch size", b.name);
        scored.extend(batch.into_iter().map(|a| a.customer_id));
    }
    (cursor.model().cloned(), scored)
}

/// Loyalty reads of a customer that does not exist answer `not_found`, on
/// every backend (SQLite's foreign key used to surface as an internal error).
pub async fn reads_of_an_unknown_customer_are_not_found(b: Backend) {
    let missing = CustomerId(987_654_321);
    let loyalty = b.crm.loyalty();
    let codes = [
        loyalty.balance(missing).await.map(|_| ()),
        loyalty.summary(missing).await.map(|_| ()),
        loyalty.check_balance(missing).await.map(|_| ()),
    ]
    .map(|r| r.map_err(|e| e.code()));
    for code in codes {
        assert_eq!(code, Err(crm_core::ErrorCode::NotFound), "{}", b.name);
    }
}
