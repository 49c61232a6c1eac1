//! Conformance cases of the rules that keep points as safe as money: caps
//! on manual points by role, no overflow, and refunds that give back only
//! the refunded customer's own redemption.

use chrono::Duration;
use crm_core::loyalty::{MAX_POINTS_PER_OPERATION, PointsRequest, RefundRequest, receipt_key};
use crm_core::users::{Actor, Role};
use crm_core::{CustomerId, Error};
use rust_decimal::Decimal;

use crate::Backend;
use crate::loyalty_cases::{consistent_balance, customer, points, purchase};

fn by(role: Role, req: PointsRequest) -> PointsRequest {
    PointsRequest {
        actor: Some(Actor {
            user: format!("{}@toko.id", role.as_str()),
            role,
        }),
        ..req
    }
}

/// The rule of the one failing field of a validation error.
fn rule(result: Result<crm_core::loyalty::PointsApplied, Error>) -> String {
    match result {
        Err(Error::Validation(fields)) if fields.len() == 1 => fields[0].rule.clone(),
        other => format!("not a one-field validation error: {other:?}"),
    }
}

/// A cashier cannot mint points: at most 10,000 per earn, no adjustment,
/// at most 50,000 manual points per customer per day; analysts mint
/// nothing; managers and unattributed calls have higher caps; an admin has
/// none but the absolute maximum per operation.
pub async fn manual_points_are_capped_by_role(b: Backend) {
    let c = customer(&b, "Capped").await;
    let loyalty = b.crm.loyalty();
    let earn = |n: i64, key: &str| points(c.id, n, "promo", key);
    assert_eq!(
        rule(loyalty.earn(by(Role::Cashier, earn(10_001, "big"))).await),
        "role_cap",
        "{}",
        b.name
    );
    assert_eq!(
        rule(loyalty.adjust(by(Role::Cashier, earn(1, "adj"))).await),
        "role_cap"
    );
    assert_eq!(
        rule(loyalty.earn(by(Role::Analyst, earn(1, "an"))).await),
        "role_cap"
    );
    for i in 0..5 {
        loyalty
            .earn(by(Role::Cashier, earn(10_000, &format!("day1-{i}"))))
            .await
            .expect("within the cashier's caps");
    }
    assert_eq!(
        rule(loyalty.earn(by(Role::Cashier, earn(1, "day1-6"))).await),
        "daily_cap",
        "{}: 50,000 manual points a day from cashiers",
        b.name
    );
    // Points from purchases do not count against the manual caps.
    let bought = loyalty
        .record_purchase(purchase(&b, c.id, "CAP1", 1_000_000))
        .await
        .expect("purchase")
        .earned
        .map_or(0, |e| e.points);
    assert!(bought > 0, "{}: the purchase earned", b.name);
    // A manager may still give more that day, up to the manager's cap.
    loyalty
        .earn(by(Role::Manager, earn(100_000, "mgr")))
        .await
        .expect("manager");
    assert_eq!(
        rule(loyalty.earn(by(Role::Manager, earn(100_001, "mgr2"))).await),
        "role_cap"
    );
    assert_eq!(
        rule(loyalty.earn(earn(100_001, "app")).await),
        "role_cap",
        "an unattributed call has a manager's caps"
    );
    // A day later the cashier may give points again.
    b.clock.advance(Duration::hours(25));
    loyalty
        .earn(by(Role::Cashier, earn(10_000, "day2")))
        .await
        .expect("a new day");
    // An admin has no role cap, but no one passes the absolute maximum.
    loyalty
        .earn(by(Role::Admin, earn(5_000_000, "admin")))
        .await
        .expect("admin");
    assert_eq!(
        rule(
            loyalty
                .earn(by(Role::Admin, earn(MAX_POINTS_PER_OPERATION + 1, "huge")))
                .await
        ),
        "max"
    );
    // Nothing refused was written.
    assert_eq!(
        consistent_balance(&b, c.id).await,
        50_000 + bought + 100_000 + 10_000 + 5_000_000
    );
}

/// Points never wrap: an amount that would overflow a total is refused as
/// a validation error, and every balance stays consistent.
pub async fn points_never_overflow(b: Backend) {
    let c = customer(&b, "Overflow").await;
    let loyalty = b.crm.loyalty();
    for (n, key) in [(i64::MAX, "max"), (i64::MIN + 1, "min")] {
        assert_eq!(
            rule(
                loyalty
                    .adjust(by(Role::Admin, points(c.id, n, "fix", key)))
                    .await
            ),
            "max",
            "{}: {n}",
            b.name
        );
    }
    assert_eq!(
        rule(
            loyalty
                .earn(by(Role::Admin, points(c.id, i64::MAX, "promo", "p")))
                .await
        ),
        "max"
    );
    // The largest allowed operations, many times over, still add up.
    for i in 0..3 {
        loyalty
            .earn(by(
                Role::Admin,
                points(c.id, MAX_POINTS_PER_OPERATION, "promo", &format!("big{i}")),
            ))
            .await
            .expect("within the maximum");
    }
    assert_eq!(
        consistent_balance(&b, c.id).await,
        3 * MAX_POINTS_PER_OPERATION
    );
    // Later purchases still work (the sums stay within range).
    loyalty
        .record_purchase(purchase(&b, c.id, "OV1", 100_000))
        .await
        .expect("purchase after large balances");
}

/// `receipt` is reserved for redemptions on a receipt; refunding a receipt
/// gives back only what its own customer redeemed on it, never points
/// another customer redeemed under the same key.
pub async fn refunds_give_back_only_the_customers_own_redemption(b: Backend) {
    let buyer = customer(&b, "Buyer").await;
    let other = customer(&b, "Other").await;
    let loyalty = b.crm.loyalty();
    let key = receipt_key("S1", "OWN1");
    for op in ["earn", "adjust"] {
        let req = points(other.id, 10, "receipt", &key);
        let result = if op == "earn" {
            loyalty.earn(req).await
        } else {
            loyalty.adjust(req).await
        };
        assert_eq!(rule(result), "reserved", "{}: {op}", b.name);
    }
    loyalty
        .earn(points(other.id, 500, "promo", "o1"))
        .await
        .expect("earn");
    loyalty
        .record_purchase(purchase(&b, buyer.id, "OWN1", 100_000))
        .await
        .expect("purchase"); // +10 for the buyer
    // The other customer redeems under the buyer's receipt key.
    loyalty
        .redeem(points(other.id, 300, "receipt", &key))
        .await
        .expect("redeem");
    let refund = loyalty
        .refund(RefundRequest {
            store_id: "S1".into(),
            receipt_id: "OWN1".into(),
            refund_id: "RF1".into(),
            amount: Decimal::from(100_000),
        })
        .await
        .expect("refund");
    assert_eq!(refund.earn_reversed.map(|e| e.points), Some(-10));
    assert!(
        refund.redeem_returned.is_none(),
        "{}: another customer's redemption is not the buyer's to get back",
        b.name
    );
    assert_eq!(consistent_balance(&b, buyer.id).await, 0);
    assert_eq!(consistent_balance(&b, other.id).await, 200);
    let _: CustomerId = other.id;
}

/// The comparable part of an answer: the entry of a success, or the code
/// and numbers of a refusal.
fn answer(r: &Result<crm_core::loyalty::PointsApplied, Error>) -> String {
    match r {
        Ok(applied) => format!("ok {:?}", applied.entry),
        Err(Error::InsufficientPoints {
            requested,
            available,
        }) => format!("insufficient {requested} {available}"),
        Err(e) => format!("{} {e}", e.code()),
    }
}

/// An idempotent outcome is final: a redemption refused for insufficient
/// points and a refund beyond the refundable amount are refused again on a
/// replay, even once they would fit; a new key is a new attempt; input that
/// fails validation and refused purchases are not remembered.
pub async fn refusals_are_final(b: Backend) {
    let c = customer(&b, "Final").await;
    let loyalty = b.crm.loyalty();
    loyalty
        .earn(points(c.id, 10, "promo", "f1"))
        .await
        .expect("earn");
    let first = loyalty.redeem(points(c.id, 50, "voucher", "V1")).await;
    assert_eq!(answer(&first), "insufficient 50 10", "{}", b.name);
    loyalty
        .earn(points(c.id, 100, "promo", "f2"))
        .await
        .expect("earn");
    // The till's offline queue replays V1 now that the points are there.
    let replay = loyalty.redeem(points(c.id, 50, "voucher", "V1")).await;
    assert_eq!(answer(&replay), answer(&first), "{}: final", b.name);
    let other = loyalty.redeem(points(c.id, 60, "voucher", "V1")).await;
    assert_eq!(
        other.map_err(|e| e.code()).err(),
        Some(crm_core::ErrorCode::IdempotencyConflict)
    );
    loyalty
        .redeem(points(c.id, 50, "voucher", "V2"))
        .await
        .expect("a new key is a new attempt");
    // Validation failures are not remembered: the key stays free.
    assert!(
        loyalty
            .redeem(points(c.id, 0, "voucher", "V3"))
            .await
            .is_err()
    );
    loyalty
        .redeem(points(c.id, 5, "voucher", "V3"))
        .await
        .expect("the key of an invalid request is unused");
    assert_eq!(consistent_balance(&b, c.id).await, 10 + 100 - 50 - 5);

    // A refund beyond the refundable amount is final too.
    loyalty
        .record_purchase(purchase(&b, c.id, "FIN1", 100_000))
        .await
        .expect("purchase");
    let refund = |id: &str, amount: i64| RefundRequest {
        store_id: "S1".into(),
        receipt_id: "FIN1".into(),
        refund_id: id.into(),
        amount: Decimal::from(amount),
    };
    let first = loyalty
        .refund(refund("RF9", 150_000))
        .await
        .expect_err("beyond the purchase");
    let replay = loyalty
        .refund(refund("RF9", 150_000))
        .await
        .expect_err("refused again");
    assert_eq!(
        (replay.code(), replay.field_errors(), replay.to_string()),
        (first.code(), first.field_errors(), first.to_string())
    );
    assert_eq!(
        loyalty
            .refund(refund("RF9", 50_000))
            .await
            .map_err(|e| e.code())
            .err(),
        Some(crm_core::ErrorCode::IdempotencyConflict)
    );
    loyalty
        .refund(refund("RF10", 50_000))
        .await
        .expect("a new refund id");

    // A receipt is a fact: refused while the customer was inactive, it is
    // recorded by a later retry.
    b.crm
        .customers()
        .deactivate(c.id)
        .await
        .expect("deactivate");
    let refused = loyalty
        .record_purchase(purchase(&b, c.id, "FIN2", 20_000))
        .await
        .expect_err("inactive");
    assert_eq!(
        refused.conflict_reason(),
        Some(crm_core::ConflictReason::CustomerInactive)
    );
    b.crm
        .customers()
        .reactivate(c.id)
        .await
        .expect("reactivate");
    loyalty
        .record_purchase(purchase(&b, c.id, "FIN2", 20_000))
        .await
        .expect("recorded on retry");
    consistent_balance(&b, c.id).await;
}

/// 16 tills share one customer; each sends every earn and redeem, then
/// replays all of them after the others moved the balance: every replay
/// answers exactly as its first try (the same entry, or the same refusal).
pub async fn concurrent_replays_answer_like_the_first_try(b: Backend) {
    let c = customer(&b, "Busy").await;
    b.crm
        .loyalty()
        .earn(points(c.id, 100, "promo", "seed"))
        .await
        .expect("seed");
    let mut tasks = Vec::new();
    for till in 0..16 {
        let loyalty = b.crm.loyalty();
        let id = c.id;
        tasks.push(tokio::spawn(async move {
            let ops: Vec<(bool, PointsRequest)> = (0..6)
                .map(|j| {
                    let earn = (till + j) % 3 == 0;
                    let n = if earn { 10 } else { 35 };
                    (earn, points(id, n, "till", &format!("t{till}-{j}")))
                })
                .collect();
            let mut firsts = Vec::new();
            for (earn, req) in &ops {
                let r = if *earn {
                    loyalty.earn(req.clone()).await
                } else {
                    loyalty.redeem(req.clone()).await
                };
                firsts.push(answer(&r));
                tokio::task::yield_now().await;
            }
            let mut replays = Vec::new();
            for (earn, req) in &ops {
                let r = if *earn {
                    loyalty.earn(req.clone()).await
                } else {
                    loyalty.redeem(req.clone()).await
                };
                replays.push(answer(&r));
            }
            (firsts, replays)
        }));
    }
    let mut refusals = 0;
    for task in tasks {
        let (firsts, replays) = task.await.expect("till task");
        for (first, replay) in firsts.iter().zip(&replays) {
            assert_eq!(
                first, replay,
                "{}: a replay answers like its first try",
                b.name
            );
            assert!(
                first.starts_with("ok") || first.starts_with("insufficient"),
                "{}: {first}",
                b.name
            );
            refusals += usize::from(first.starts_with("insufficient"));
        }
    }
    assert!(refusals > 0, "{}: some redemptions did not fit", b.name);
    consistent_balance(&b, c.id).await;
}

/// A ledger transaction whose writes fail at the end leaves nothing behind:
/// not its event, not its account change, and the next operation applies
/// once. On MySQL a locked account's row is written only at commit, in the
/// one batch that also numbers the events and commits; a statement of the
/// batch that fails (here the database refusing a negative debt) must stop
/// it before `COMMIT`. SQLite writes the row at once and refuses it there.
/// The memory store has no such constraint to break.
pub async fn a_failed_commit_leaves_nothing(b: Backend) {
    use crm_core::events::EventPayload;
    if b.name == "memory" {
        return;
    }
    let c = customer(&b, "Rollback").await;
    b.crm
        .loyalty()
        .earn(points(c.id, 100, "test", "before"))
        .await
        .expect("earn");
    let last = b.crm.events().last_id().await.expect("last id");
    let now = crm_core::Clock::now(&b.clock);
    let mut tx = b.store.begin_ledger(vec![c.id], true).await.expect("begin");
    tx.append_event(EventPayload::CustomerUpdate(&c), now)
        .await
        .expect("append");
    let mut account = tx.account(c.id).await.expect("account");
    account.balance += 400;
    account.debt = -1;
    let done = match tx.save_account(&account, now).await {
        Ok(()) => tx.commit().await,
        Err(e) => {
            drop(tx); // rolled back
            Err(e)
        }
    };
    assert!(done.is_err(), "{}: a negative debt was stored", b.name);
    assert_eq!(consistent_balance(&b, c.id).await, 100, "{}", b.name);
    assert_eq!(
        b.crm.events().last_id().await.expect("last id"),
        last,
        "{}: the failed transaction's event was kept",
        b.name
    );
    b.crm
        .loyalty()
        .earn(points(c.id, 10, "test", "after"))
        .await
        .expect("earn after");
    assert_eq!(consistent_balance(&b, c.id).await, 110, "{}", b.name);
    assert!(b.crm.events().last_id().await.expect("last id") > last);
}

/// No event is lost: a transaction holds its event uncommitted for 5 s
/// (MySQL; shorter elsewhere) while later transactions commit theirs and a
/// follower keeps reading; the late event still arrives, once, and the
/// follower sees a gapless sequence in commit order.
pub async fn late_commits_are_delivered_once_in_order(b: Backend) {
    use crm_core::events::{EventPayload, FollowOptions};
    let slow = customer(&b, "Slow").await;
    let start = b.crm.events().last_id().await.expect("last id");
    let mut follower = b
        .crm
        .events()
        .follow(FollowOptions {
            after: Some(start),
            gap_grace: std::time::Duration::from_secs(2),
        })
        .await
        .expect("follower");
    let hold = if b.name == "mysql" {
        std::time::Duration::from_secs(5)
    } else {
        std::time::Duration::from_millis(300)
    };
    let mut tx = b
        .store
        .begin_ledger(vec![slow.id], true)
        .await
        .expect("begin");
    tx.append_event(
        EventPayload::CustomerUpdate(&slow),
        crm_core::Clock::now(&b.clock),
    )
    .await
    .expect("append");
    // Later writes commit while the first is open (on SQLite and in memory
    // they queue behind it instead).
    let crm = b.crm.clone();
    let later = tokio::spawn(async move {
        for name in ["Quick 1", "Quick 2", "Quick 3"] {
            crm.customers()
                .create(crm_core::NewCustomer {
                    name: name.into(),
                    ..Default::default()
                })
                .await
                .expect("create");
        }
    });
    let mut seen = Vec::new();
    let until = std::time::Instant::now() + hold;
    while std::time::Instant::now() < until {
        // The memory store's transaction holds the whole store: no reads.
        if b.name != "memory" {
            seen.extend(follower.next_batch(100).await.expect("read"));
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    tx.commit().await.expect("late commit");
    later.await.expect("later writes");
    for _ in 0..30 {
        seen.extend(follower.next_batch(100).await.expect("read"));
        if seen.len() >= 4 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let ids: Vec<i64> = seen.iter().map(|e| e.id).collect();
    let expected: Vec<i64> = (start + 1..=start + 4).collect();
    assert_eq!(ids, expected, "{}: gapless, in order, once", b.name);
    let late = seen
        .iter()
        .filter(|e| e.kind() == Some(crm_core::events::EventType::CustomerUpdate))
        .count();
    assert_eq!(late, 1, "{}: the late event arrived once", b.name);
    assert_eq!(follower.skipped_ids(), 0, "{}", b.name);
}

/// Segments come from the last fit (no refit, no scan of the history per
/// call); the fit is persisted, so a restarted process serves it without
/// refitting; concurrent refits share one fit.
pub async fn segments_come_from_the_last_fit(b: Backend) {
    let analytics = b.crm.analytics();
    assert!(analytics.segments().await.expect("segments").is_empty());
    assert!(analytics.last_fit().await.expect("last fit").is_none());
    let loyalty = b.crm.loyalty();
    for (name, n) in [("Seg A", 3), ("Seg B", 1)] {
        let c = customer(&b, name).await;
        for k in 0..n {
            loyalty
                .record_purchase(purchase(&b, c.id, &format!("{name}-{k}"), 150_000))
                .await
                .expect("purchase");
            b.clock.advance(Duration::days(9));
        }
    }
    analytics.refit().await.expect("refit");
    let first = analytics.segments().await.expect("segments");
    let total =
        |s: &[crm_core::analytics::SegmentTotal]| s.iter().map(|r| r.customers).sum::<u64>();
    assert_eq!(total(&first), 2, "{}", b.name);
    let fit = analytics.last_fit().await.expect("fit").expect("a fit");
    // New purchases do not change the served segments until a refit.
    let late = customer(&b, "Seg C").await;
    loyalty
        .record_purchase(purchase(&b, late.id, "SEG-C", 90_000))
        .await
        .expect("purchase");
    assert_eq!(analytics.segments().await.expect("segments"), first);
    // A restarted process (a new Crm on the same database) serves the
    // persisted fit without fitting.
    let restarted = crm_core::Crm::from_arc(b.store.clone()).with_clock(b.clock.clone());
    let again = restarted
        .analytics()
        .last_fit()
        .await
        .expect("last fit")
        .expect("persisted");
    assert_eq!(
        (again.generation, &again.model),
        (fit.generation, &fit.model)
    );
    assert_eq!(
        restarted.analytics().segments().await.expect("segments"),
        first
    );
    // Eight refits at once: one fit, shared. Enough history that a fit
    // takes a while (all eight calls arrive while it runs).
    let crowd = restarted
        .customers()
        .import(
            (0..300)
                .map(|i| crm_core::NewCustomer {
                    name: format!("Crowd {i}"),
                    ..Default::default()
                })
                .collect(),
        )
        .await
        .expect("import customers");
    let now = crm_core::Clock::now(&b.clock);
    let history = crowd
        .iter()
        .enumerate()
        .flat_map(|(i, c)| {
            (0..1 + i % 4).map(move |k| crm_core::loyalty::NewPurchase {
                customer_id: c.id,
                store_id: "CROWD".into(),
                receipt_id: format!("{i}-{k}"),
                purchase_date: now - Duration::days(7 * (k as i64 + 1) + (i % 30) as i64),
                total_amount: Decimal::from(50_000 + 10_000 * (i % 7) as i64),
                currency: None,
            })
        })
        .collect();
    restarted
        .loyalty()
        .import_history(history)
        .await
        .expect("import history");
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(8));
    let mut refits = Vec::new();
    for _ in 0..8 {
        let a = restarted.analytics();
        let start = start.clone();
        refits.push(tokio::spawn(async move {
            start.wait().await;
            a.refit().await
        }));
    }
    let mut models = Vec::new();
    for r in refits {
        models.push(r.await.expect("task").expect("refit"));
    }
    assert!(models.windows(2).all(|w| w[0] == w[1]), "{}", b.name);
    let after = restarted
        .analytics()
        .last_fit()
        .await
        .expect("fit")
        .expect("a fit");
    // Calls that arrive while a fit runs share it; one that arrives after
    // it ended asks for a fresh one (at most one such straggler here).
    assert!(
        after.generation <= fit.generation + 2,
        "{}: one fit for eight calls",
        b.name
    );
    assert_eq!(
        total(&restarted.analytics().segments().await.expect("segments")),
        303
    );
    // The first process sees the newer fit too.
    assert_eq!(total(&analytics.segments().await.expect("segments")), 303);
}

/// Disabling, enabling, a role change and password changes each raise the
/// user's token version (what ends its tokens); a disabled user cannot log
/// in; the last active admin can be neither disabled nor demoted; a
/// password change proves the current password.
pub async fn user_changes_end_tokens(b: Backend) {
    use crm_core::users::{ChangePassword, Credentials, NewUser, ResetPassword, SetRole};
    let users = b.crm.users();
    let admin = users
        .create(NewUser {
            email: "boss@toko.id".into(),
            password: "boss password 1".into(),
            role: Role::Admin,
        })
        .await
        .expect("admin");
    let kasir = users
        .create(NewUser {
            email: "kasir@toko.id".into(),
            password: "kasir password 1".into(),
            role: Role::Cashier,
        })
        .await
        .expect("cashier");
    assert!(kasir.active && kasir.token_version == 0, "{}", b.name);
    let login = |password: &str| {
        users.authenticate(Credentials {
            email: "KASIR@toko.id".into(),
            password: password.into(),
        })
    };
    assert!(login("kasir password 1").await.is_ok());

    let disabled = users.disable(kasir.id).await.expect("disable");
    assert_eq!((disabled.active, disabled.token_version), (false, 1));
    assert_eq!(
        login("kasir password 1")
            .await
            .map(|u| u.id)
            .map_err(|e| e.code()),
        Err(crm_core::ErrorCode::Unauthorized),
        "a disabled user cannot log in ({})",
        b.name
    );
    let enabled = users.enable(kasir.id).await.expect("enable");
    assert_eq!((enabled.active, enabled.token_version), (true, 2));
    let manager = users
        .set_role(SetRole {
            id: kasir.id,
            role: Role::Manager,
        })
        .await
        .expect("role");
    assert_eq!((manager.role, manager.token_version), (Role::Manager, 3));

    let wrong = users
        .change_password(ChangePassword {
            id: kasir.id,
            current_password: "not the password".into(),
            new_password: "a new password 2".into(),
        })
        .await;
    assert_eq!(
        wrong
            .map(|_| ())
            .map_err(|e| e.field_errors()[0].field.clone()),
        Err("current_password".to_string())
    );
    let short = users
        .change_password(ChangePassword {
            id: kasir.id,
            current_password: "kasir password 1".into(),
            new_password: "short".into(),
        })
        .await;
    assert_eq!(
        short
            .map(|_| ())
            .map_err(|e| e.field_errors()[0].rule.clone()),
        Err("min_length".to_string())
    );
    assert_eq!(
        users.get(kasir.id).await.expect("user").token_version,
        3,
        "refused changes change nothing"
    );
    let changed = users
        .change_password(ChangePassword {
            id: kasir.id,
            current_password: "kasir password 1".into(),
            new_password: "a new password 2".into(),
        })
        .await
        .expect("change");
    assert_eq!(changed.token_version, 4);
    assert!(login("kasir password 1").await.is_err());
    assert!(login("a new password 2").await.is_ok());
    let reset = users
        .reset_password(ResetPassword {
            id: kasir.id,
            new_password: "reset by the boss".into(),
        })
        .await
        .expect("reset");
    assert_eq!(reset.token_version, 5);
    assert!(login("reset by the boss").await.is_ok());

    // The last active admin stays.
    let last =
        |r: crm_core::Result<crm_core::users::User>| r.map(|_| ()).map_err(|e| e.conflict_reason());
    assert_eq!(
        last(users.disable(admin.id).await),
        Err(Some(crm_core::ConflictReason::LastAdmin))
    );
    assert_eq!(
        last(
            users
                .set_role(SetRole {
                    id: admin.id,
                    role: Role::Analyst
                })
                .await
        ),
        Err(Some(crm_core::ConflictReason::LastAdmin))
    );
    // With a second admin, the first may go.
    users
        .set_role(SetRole {
            id: kasir.id,
            role: Role::Admin,
        })
        .await
        .expect("second admin");
    assert!(users.disable(admin.id).await.is_ok());
    assert_eq!(
        users.get(999_999).await.map(|_| ()).map_err(|e| e.code()),
        Err(crm_core::ErrorCode::NotFound)
    );
}

/// Outbox retention deletes the events older than the window; a reader
/// whose last event id is older than what was deleted is told to
/// resynchronise, one that saw everything deleted is not.
pub async fn outbox_retention_asks_old_readers_to_resync(b: Backend) {
    use crm_core::events::{EventQuery, Resume};
    let events = b.crm.events();
    for name in ["Old One", "Old Two", "Old Three"] {
        customer(&b, name).await;
    }
    let old_last = events.last_id().await.expect("last");
    assert!(old_last > 0);
    b.clock.advance(Duration::days(8));
    let fresh = customer(&b, "Fresh").await;
    let week = std::time::Duration::from_secs(7 * 24 * 3600);
    let pruned = events.prune(week).await.expect("prune");
    assert!(pruned.deleted >= 3, "{} {pruned:?}", b.name);
    assert_eq!(pruned.through, old_last, "{}", b.name);
    let left = events
        .list(EventQuery {
            after: 0,
            limit: 100,
        })
        .await
        .expect("list");
    assert!(
        !left.is_empty()
            && left
                .iter()
                .all(|e| e.id > old_last && e.customer_id == fresh.id),
        "{}: {left:?}",
        b.name
    );
    assert_eq!(
        events.resume(0).await.expect("resume"),
        Resume::Resync {
            pruned_through: old_last
        }
    );
    assert_eq!(
        events.resume(old_last).await.expect("resume"),
        Resume::Continue
    );
    // Pruning again deletes nothing and keeps the mark.
    let again = events.prune(week).await.expect("prune again");
    assert_eq!((again.deleted, again.through), (0, old_last));
}

fn acting(role: Role) -> Actor {
    Actor {
        user: format!("{}@toko.id", role.as_str()),
        role,
    }
}

/// Every customer change, ledger entry, purchase, refund and merge is in
/// the audit trail with the user and role that made it, in order; a
/// refused operation and a replay add nothing.
pub async fn audit_trail_names_the_actor_of_every_change(b: Backend) {
    use crm_core::audit::AuditQuery;
    use crm_core::{CustomerPatch, MergeCustomers, UpdateCustomer};
    let manager = b.crm.acting_as(acting(Role::Manager));
    let cashier = b.crm.acting_as(acting(Role::Cashier));
    let c = manager
        .customers()
        .create(crm_core::NewCustomer {
            name: "Audit Satu".into(),
            email: Some("satu@audit.id".into()),
            ..Default::default()
        })
        .await
        .expect("create");
    let patch = CustomerPatch {
        phone: Some(Some("0812-7777-1111".into())),
        ..Default::default()
    };
    manager
        .customers()
        .update(UpdateCustomer { id: c.id, patch })
        .await
        .expect("update");
    cashier
        .loyalty()
        .record_purchase(purchase(&b, c.id, "A-1", 250_000))
        .await
        .expect("purchase");
    cashier
        .loyalty()
        .earn(points(c.id, 40, "promo", "p-1"))
        .await
        .expect("earn");
    // A replay and a refusal write no record.
    cashier
        .loyalty()
        .earn(points(c.id, 40, "promo", "p-1"))
        .await
        .expect("replay");
    assert!(
        cashier
            .loyalty()
            .redeem(points(c.id, 1_000_000, "voucher", "too-much"))
            .await
            .is_err()
    );
    manager
        .loyalty()
        .refund(RefundRequest {
            store_id: "S1".into(),
            receipt_id: "A-1".into(),
            refund_id: "r-1".into(),
            amount: Decimal::from(50_000),
        })
        .await
        .expect("refund");
    let dup = customer(&b, "Audit Dua").await;
    b.crm
        .acting_as(acting(Role::Admin))
        .customers()
        .merge(MergeCustomers {
            into: c.id,
            from: dup.id,
            merged_by: "admin@toko.id".into(),
        })
        .await
        .expect("merge");
    manager.customers().deactivate(c.id).await.expect("off");

    let trail = b
        .crm
        .customers()
        .audit(AuditQuery {
            customer_id: c.id,
            after: 0,
            limit: 100,
        })
        .await
        .expect("audit");
    let seen: Vec<(String, Option<String>)> = trail
        .iter()
        .map(|a| (a.action.clone(), a.actor.clone()))
        .collect();
    let m = Some("manager@toko.id".to_string());
    let k = Some("cashier@toko.id".to_string());
    let a = Some("admin@toko.id".to_string());
    let expected_start = [
        ("customer.create".to_string(), m.clone()),
        ("customer.update".to_string(), m.clone()),
        ("purchase.record".to_string(), k.clone()),
        ("points.earn".to_string(), k.clone()),
        ("points.earn".to_string(), k.clone()),
        ("points.reversal".to_string(), m.clone()),
        ("purchase.refund".to_string(), m.clone()),
    ];
    assert_eq!(
        seen[..expected_start.len()],
        expected_start[..],
        "{}: {seen:?}",
        b.name
    );
    assert_eq!(
        seen.last(),
        Some(&("customer.deactivate".to_string(), m.clone())),
        "{}",
        b.name
    );
    assert!(
        seen.contains(&("customer.merge".to_string(), a.clone())),
        "{}: {seen:?}",
        b.name
    );
    assert_eq!(trail[1].detail["fields"], serde_json::json!(["phone"]));
    assert_eq!(trail[0].role, Some(Role::Manager));
    assert!(trail.windows(2).all(|w| w[0].id < w[1].id));
    // No personal data in the trail.
    let text = serde_json::to_string(&trail).expect("json");
    assert!(
        !text.contains("satu@audit.id") && !text.contains("7777"),
        "{text}"
    );
    // The merged customer's trail has the merge too.
    let other = b
        .crm
        .customers()
        .audit(AuditQuery {
            customer_id: dup.id,
            after: 0,
            limit: 100,
        })
        .await
        .expect("audit");
    assert_eq!(
        other.last().map(|a| a.action.as_str()),
        Some("customer.merge")
    );
}

/// Erasure removes the personal data from the customer and from every
/// stored event about it, keeps the ledger consistent, frees the email and
/// phone, and is recorded.
pub async fn erasure_removes_personal_data_and_keeps_the_ledger(b: Backend) {
    use crm_core::events::EventQuery;
    let c = b
        .crm
        .customers()
        .create(crm_core::NewCustomer {
            name: "Rahasia Pribadi".into(),
            email: Some("rahasia@privat.id".into()),
            phone: Some("0813-9999-0000".into()),
            address: crm_core::Address {
                line1: Some("Jalan Sunyi 7".into()),
                city: Some("Bandung".into()),
                ..Default::default()
            },
            birthday: chrono::NaiveDate::from_ymd_opt(1990, 5, 17),
            tags: vec!["vip".into()],
            ..Default::default()
        })
        .await
        .expect("create");
    b.crm
        .loyalty()
        .record_purchase(purchase(&b, c.id, "E-1", 300_000))
        .await
        .expect("purchase");
    let before = b.crm.loyalty().balance(c.id).await.expect("balance");
    let erased = b
        .crm
        .acting_as(acting(Role::Admin))
        .customers()
        .erase(c.id)
        .await
        .expect("erase");
    assert_eq!(
        (
            erased.email.as_deref(),
            erased.phone.as_deref(),
            erased.birthday,
            erased.address.line1.as_deref(),
            erased.tags.len(),
            erased.is_active
        ),
        (None, None, None, None, 0, false),
        "{}",
        b.name
    );
    assert_ne!(erased.name, "Rahasia Pribadi");
    assert_eq!(erased.customer_code, c.customer_code);
    let stored = b.crm.customers().get(c.id).await.expect("get");
    assert_eq!(stored.email, None);
    // Nothing personal left in the outbox.
    let events = b
        .crm
        .events()
        .list(EventQuery {
            after: 0,
            limit: 1000,
        })
        .await
        .expect("events");
    let text = serde_json::to_string(&events).expect("json");
    for secret in [
        "Rahasia",
        "rahasia@privat.id",
        "9999",
        "Sunyi",
        "1990-05-17",
    ] {
        assert!(!text.contains(secret), "{}: {secret} in {text}", b.name);
    }
    // The ledger is untouched and consistent.
    let after = b.crm.loyalty().balance(c.id).await.expect("balance");
    assert_eq!(after, before);
    let check = b.crm.loyalty().check_balance(c.id).await.expect("check");
    assert!(check.consistent, "{}: {check:?}", b.name);
    // The email and phone are free again.
    b.crm
        .customers()
        .create(crm_core::NewCustomer {
            name: "Orang Lain".into(),
            email: Some("rahasia@privat.id".into()),
            phone: Some("0813-9999-0000".into()),
            ..Default::default()
        })
        .await
        .expect("the contact details are free");
    let trail = b
        .crm
        .customers()
        .audit(crm_core::audit::AuditQuery {
            customer_id: c.id,
            after: 0,
            limit: 100,
        })
        .await
        .expect("audit");
    let last = trail.last().expect("a record");
    assert_eq!(
        (last.action.as_str(), last.actor.as_deref()),
        ("customer.erase", Some("admin@toko.id"))
    );
    assert!(matches!(
        b.crm.customers().erase(crm_core::CustomerId(999_999)).await,
        Err(Error::NotFound { .. })
    ));
}

/// The dashboard's figures and the listing's segment filters come from the
/// last fit: counts, 30-day sales, repeat rate, the grid and cohorts add up
/// to the customers scored, and each scored customer is listed under its
/// segment and scores (customers without purchases under none).
pub async fn dashboard_and_segment_filters_come_from_the_last_fit(b: Backend) {
    use crm_core::analytics::RfmSegment;
    use crm_core::{ActivityFilter, CustomerQuery};
    let analytics = b.crm.analytics();
    let idle = customer(&b, "Idle").await;
    let empty = analytics
        .dashboard()
        .await
        .expect("dashboard without a fit");
    assert_eq!(
        (empty.generation, empty.kpis.customers),
        (None, 1),
        "{}",
        b.name
    );
    let err = analytics
        .report()
        .await
        .expect_err("no report without purchases");
    assert_eq!(err.field_errors()[0].field, "customers", "{}", b.name);

    let loyalty = b.crm.loyalty();
    let once = customer(&b, "Once").await;
    loyalty
        .record_purchase(purchase(&b, once.id, "ONCE", 70_000))
        .await
        .expect("once");
    b.clock.advance(Duration::days(60));
    let frequent = customer(&b, "Frequent").await;
    for k in 0..6 {
        if k > 0 {
            b.clock.advance(Duration::days(7));
        }
        loyalty
            .record_purchase(purchase(&b, frequent.id, &format!("FREQ-{k}"), 100_000))
            .await
            .expect("frequent");
    }
    let refunded = customer(&b, "Refunded").await;
    loyalty
        .record_purchase(purchase(&b, refunded.id, "REF", 80_000))
        .await
        .expect("refunded purchase");
    loyalty
        .refund(RefundRequest {
            store_id: "S1".into(),
            receipt_id: "REF".into(),
            refund_id: "all".into(),
            amount: Decimal::from(80_000),
        })
        .await
        .expect("refund");
    analytics.refit().await.expect("refit");

    let d = analytics.dashboard().await.expect("dashboard");
    assert!(d.generation.is_some() && d.as_of.is_some(), "{}", b.name);
    assert_eq!(
        (d.kpis.customers, d.kpis.active_customers),
        (4, 4),
        "{}",
        b.name
    );
    // The last 30 days hold five of the frequent customer's purchases; the
    // first customer's is older and the refunded one counts for nothing.
    assert_eq!(d.kpis.purchases_30d, 5, "{}", b.name);
    assert_eq!(d.kpis.revenue_30d, Decimal::from(500_000), "{}", b.name);
    assert_eq!(d.kpis.repeat_rate, Some(0.5), "{}", b.name);
    let mut outstanding = 0;
    for c in [idle.id, once.id, frequent.id, refunded.id] {
        outstanding += loyalty.balance(c).await.expect("balance").balance.max(0);
    }
    assert!(outstanding > 0, "{}", b.name);
    assert_eq!(d.kpis.points_outstanding, outstanding, "{}", b.name);
    assert_eq!(d.segments.iter().map(|s| s.customers).sum::<u64>(), 2);
    let days: u64 = d.sales_by_day.iter().map(|p| p.purchases).sum();
    let months: u64 = d.sales_by_month.iter().map(|p| p.purchases).sum();
    assert_eq!((days, months), (6, 7), "{}", b.name);

    let r = analytics.report().await.expect("report");
    assert_eq!(Some(r.generation), d.generation);
    let sum = |it: &mut dyn Iterator<Item = u64>| it.sum::<u64>();
    assert_eq!(sum(&mut r.report.rfm_grid.iter().map(|c| c.customers)), 2);
    assert_eq!(r.report.rfm_grid.len(), 25);
    assert_eq!(
        sum(&mut r.report.clv_histogram.iter().map(|c| c.customers)),
        2
    );
    assert_eq!(sum(&mut r.report.churn_risk.iter().map(|c| c.customers)), 2);
    assert_eq!(
        sum(&mut r.report.alive_by_recency.iter().map(|c| c.customers)),
        2
    );
    assert_eq!(sum(&mut r.report.cohorts.iter().map(|c| c.customers)), 2);
    assert!(r.report.cohorts.iter().all(|c| c.retention[0] == 1.0));

    let listed = |segment: Option<RfmSegment>, scores: Option<(u8, u8)>| {
        let b = &b;
        async move {
            b.crm
                .customers()
                .list(CustomerQuery {
                    status: ActivityFilter::All,
                    segment,
                    recency_score: scores.map(|s| s.0),
                    frequency_score: scores.map(|s| s.1),
                    limit: Some(100),
                    ..Default::default()
                })
                .await
                .expect("list")
                .items
                .into_iter()
                .map(|c| c.id)
                .collect::<Vec<CustomerId>>()
        }
    };
    let all_segments = [
        RfmSegment::Champion,
        RfmSegment::Loyal,
        RfmSegment::PotentialLoyal,
        RfmSegment::AtRisk,
        RfmSegment::Lost,
    ];
    for c in [&once, &frequent] {
        let a = analytics.customer(c.id).await.expect("analytics");
        assert!(
            listed(Some(a.segment), None).await.contains(&c.id),
            "{}",
            b.name
        );
        let cell = (a.rfm.recency, a.rfm.frequency);
        assert!(listed(None, Some(cell)).await.contains(&c.id), "{}", b.name);
    }
    let mut placed = Vec::new();
    for s in all_segments {
        placed.extend(listed(Some(s), None).await);
    }
    placed.sort();
    assert_eq!(placed, vec![once.id, frequent.id], "{}", b.name);

    // A refit replaces the placements: the idle customer's first purchase
    // puts it in a segment.
    loyalty
        .record_purchase(purchase(&b, idle.id, "IDLE", 60_000))
        .await
        .expect("idle buys");
    analytics.refit().await.expect("refit again");
    let mut placed = Vec::new();
    for s in all_segments {
        placed.extend(listed(Some(s), None).await);
    }
    placed.sort();
    assert_eq!(placed, vec![idle.id, once.id, frequent.id], "{}", b.name);

    let bad = b
        .crm
        .customers()
        .list(CustomerQuery {
            recency_score: Some(6),
            frequency_score: Some(0),
            ..Default::default()
        })
        .await
        .expect_err("scores out of range");
    let fields: Vec<_> = bad.field_errors().iter().map(|e| e.field.clone()).collect();
    assert_eq!(fields, ["recency_score", "frequency_score"], "{}", b.name);
}
