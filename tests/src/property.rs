//! The ledger property test: random sequences of purchases, earns, redeems,
//! refunds, expiry runs, merges and replays, with the clock moving, checked
//! after every step (see [`random_sequences_keep_the_invariants`]).

use std::collections::HashMap;
use std::sync::Arc;

use chrono::Duration;
use crm_core::loyalty::{NewPurchase, PointsRequest, RefundRequest, receipt_key};
use crm_core::{CustomerId, Error};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use rust_decimal::Decimal;

use crate::Backend;
use crate::loyalty_cases::customer;

const CUSTOMERS: usize = 3;

/// One step of a random sequence (fields: customer index, keys, amounts).
#[allow(missing_docs)]
#[derive(Debug, Clone)]
pub enum Op {
    /// A purchase of `amount_k` thousand rupiah on receipt `receipt`.
    Purchase {
        cust: usize,
        receipt: u8,
        amount_k: u32,
    },
    /// A manual earn.
    Earn { cust: usize, key: u8, points: i64 },
    /// A redemption, on a receipt or a voucher.
    Redeem {
        cust: usize,
        key: u8,
        points: i64,
        on_receipt: bool,
    },
    /// A (partial) refund of a receipt.
    Refund { receipt: u8, refund: u8, pct: u8 },
    /// An expiry run.
    Expiry,
    /// Merge customer `from` into `into`.
    Merge { into: usize, from: usize },
    /// Move the clock.
    Advance { days: u16 },
    /// Repeat an earlier step that succeeded.
    Replay { index: usize },
}

fn op() -> impl Strategy<Value = Op> {
    let cust = 0..CUSTOMERS;
    prop_oneof![
        4 => (cust.clone(), 0u8..12, 1u32..400).prop_map(|(cust, receipt, amount_k)| Op::Purchase { cust, receipt, amount_k }),
        2 => (cust.clone(), 0u8..8, 1i64..60).prop_map(|(cust, key, points)| Op::Earn { cust, key, points }),
        4 => (cust.clone(), 0u8..12, 1i64..40, any::<bool>()).prop_map(|(cust, key, points, on_receipt)| Op::Redeem { cust, key, points, on_receipt }),
        3 => (0u8..12, 0u8..3, 10u8..=100).prop_map(|(receipt, refund, pct)| Op::Refund { receipt, refund, pct }),
        1 => Just(Op::Expiry),
        1 => (cust.clone(), cust).prop_map(|(into, from)| Op::Merge { into, from }),
        2 => (1u16..200).prop_map(|days| Op::Advance { days }),
        3 => (0usize..64).prop_map(|index| Op::Replay { index }),
    ]
}

struct Run<'a> {
    b: &'a Backend,
    tag: String,
    ids: Vec<CustomerId>,
    /// Receipt -> (amount, how much each refund id refunds).
    amounts: HashMap<u8, i64>,
    done: Vec<Op>,
    last_event: i64,
}

/// Whether an error is one the rules allow (not a storage failure).
fn expected(e: &Error) -> bool {
    !matches!(e.kind(), crm_core::ErrorKind::Storage)
}

impl Run<'_> {
    fn store(&self) -> String {
        format!("S{}", self.tag)
    }

    /// Executes a step; `Ok(true)` when it succeeded and changed something,
    /// `Ok(false)` when it was refused or was a replay.
    async fn apply(&mut self, op: &Op) -> Result<bool, Error> {
        let b = self.b;
        let now = crm_core::Clock::now(&b.clock);
        match *op {
            Op::Purchase {
                cust,
                receipt,
                amount_k,
            } => {
                let amount = i64::from(amount_k) * 1000;
                let amount = *self.amounts.entry(receipt).or_insert(amount);
                let r = b
                    .crm
                    .loyalty()
                    .record_purchase(NewPurchase {
                        customer_id: self.ids[cust],
                        store_id: self.store(),
                        receipt_id: format!("R{receipt}"),
                        purchase_date: now,
                        total_amount: Decimal::from(amount),
                        currency: Some("IDR".into()),
                    })
                    .await?;
                Ok(!r.replayed)
            }
            Op::Earn { cust, key, points } => {
                let r = b
                    .crm
                    .loyalty()
                    .earn(PointsRequest {
                        customer_id: self.ids[cust],
                        points,
                        reference_type: "promo".into(),
                        reference_id: format!("{}-{key}-{points}", self.tag),
                        actor: None,
                    })
                    .await?;
                Ok(!r.replayed)
            }
            Op::Redeem {
                cust,
                key,
                points,
                on_receipt,
            } => {
                let (reference_type, reference_id) = if on_receipt {
                    ("receipt", receipt_key(&self.store(), &format!("R{key}")))
                } else {
                    ("voucher", format!("{}-{key}-{points}", self.tag))
                };
                let r = b
                    .crm
                    .loyalty()
                    .redeem(PointsRequest {
                        customer_id: self.ids[cust],
                        points,
                        reference_type: reference_type.into(),
                        reference_id,
                        actor: None,
                    })
                    .await?;
                assert!(
                    r.entry.balance_after >= 0,
                    "{}: a redemption made the balance negative: {r:?}",
                    b.name
                );
                Ok(!r.replayed)
            }
            Op::Refund {
                receipt,
                refund,
                pct,
            } => {
                let Some(amount) = self.amounts.get(&receipt).copied() else {
                    return Ok(false);
                };
                let r = b
                    .crm
                    .loyalty()
                    .refund(RefundRequest {
                        store_id: self.store(),
                        receipt_id: format!("R{receipt}"),
                        refund_id: format!("F{refund}"),
                        amount: Decimal::from(amount * i64::from(pct) / 100 / 3),
                    })
                    .await?;
                Ok(!r.replayed)
            }
            Op::Expiry => Ok(b.crm.loyalty().run_expiry().await?.points > 0),
            Op::Merge { into, from } => {
                let r = b
                    .crm
                    .customers()
                    .merge(crm_core::MergeCustomers {
                        into: self.ids[into],
                        from: self.ids[from],
                        merged_by: "property-test".into(),
                    })
                    .await?;
                Ok(!r.replayed)
            }
            Op::Advance { days } => {
                b.clock.advance(Duration::days(i64::from(days)));
                Ok(false)
            }
            Op::Replay { .. } => Ok(false),
        }
    }

    /// Balances of every customer, checking the ledger invariant.
    async fn balances(&self) -> Vec<i64> {
        let mut out = Vec::new();
        for id in &self.ids {
            let check = self
                .b
                .crm
                .loyalty()
                .check_balance(*id)
                .await
                .expect("check balance");
            assert!(
                check.consistent,
                "{}: balance != ledger != lots - debt: {check:?}",
                self.b.name
            );
            out.push(check.stored_balance);
        }
        out
    }

    async fn step(&mut self, op: Op) {
        let before = self.balances().await;
        let (op, is_replay) = match op {
            Op::Replay { index } if !self.done.is_empty() => {
                (self.done[index % self.done.len()].clone(), true)
            }
            other => (other, false),
        };
        let outcome = self.apply(&op).await;
        let after = self.balances().await;
        let events = self
            .b
            .crm
            .events()
            .list(crm_core::events::EventQuery {
                after: self.last_event,
                limit: 1000,
            })
            .await
            .expect("events");
        if let Some(last) = events.last() {
            self.last_event = last.id;
        }
        match outcome {
            Ok(changed) => {
                if is_replay {
                    assert!(!changed, "{}: replay of {op:?} applied again", self.b.name);
                    assert!(
                        events.is_empty(),
                        "{}: replay of {op:?} wrote events {events:?}",
                        self.b.name
                    );
                    assert_eq!(
                        before, after,
                        "{}: replay of {op:?} moved balances",
                        self.b.name
                    );
                } else if changed && !matches!(op, Op::Expiry | Op::Advance { .. }) {
                    // Only steps that took effect: a refund refused for lack of
                    // a purchase may rightly succeed later.
                    self.done.push(op.clone());
                }
            }
            Err(e) => {
                assert!(
                    expected(&e),
                    "{}: {op:?} failed in storage: {e}",
                    self.b.name
                );
                // A refusal that is remembered commits with it the expiry of
                // the customer's due lots; nothing else.
                assert!(
                    events.iter().all(|e| e.payload["entry_type"] == "EXPIRE"),
                    "{}: refused {op:?} wrote events {events:?}",
                    self.b.name
                );
                // Without an expiry, nothing moved; with one, the deltas of
                // its events account for the change (checked below).
                if events.is_empty() {
                    assert_eq!(
                        before, after,
                        "{}: refused {op:?} moved balances",
                        self.b.name
                    );
                }
            }
        }
        // One loyalty_points event per ledger entry: distinct entries, and the
        // deltas of each customer's events add up to its balance change.
        let mut entry_ids: Vec<_> = events
            .iter()
            .filter_map(|e| e.payload["entry_id"].as_i64())
            .collect();
        let n = entry_ids.len();
        entry_ids.sort_unstable();
        entry_ids.dedup();
        assert_eq!(
            entry_ids.len(),
            n,
            "{}: two events for one entry",
            self.b.name
        );
        for (i, id) in self.ids.iter().enumerate() {
            let delta: i64 = events
                .iter()
                .filter(|e| e.event_type == "loyalty_points" && e.customer_id == *id)
                .filter_map(|e| e.payload["delta"].as_i64())
                .sum();
            assert_eq!(
                delta,
                after[i] - before[i],
                "{}: events of {id} do not match its balance after {op:?}",
                self.b.name
            );
            if let Some(last) = events
                .iter()
                .rev()
                .find(|e| e.event_type == "loyalty_points" && e.customer_id == *id)
            {
                assert_eq!(
                    last.payload["points"].as_i64(),
                    Some(after[i]),
                    "{}: event balance",
                    self.b.name
                );
            }
        }
    }
}

async fn run_sequence(b: &Backend, ops: Vec<Op>) {
    let tag = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
    let mut ids = Vec::new();
    for i in 0..CUSTOMERS {
        ids.push(customer(b, &format!("Prop {tag} {i}")).await.id);
    }
    let last_event = b
        .crm
        .events()
        .list(crm_core::events::EventQuery {
            after: 0,
            limit: u32::MAX,
        })
        .await
        .expect("events")
        .last()
        .map_or(0, |e| e.id);
    let mut last = last_event;
    // events_after caps its page; walk to the end.
    loop {
        let page = b
            .crm
            .events()
            .list(crm_core::events::EventQuery {
                after: last,
                limit: 1000,
            })
            .await
            .expect("events");
        match page.last() {
            Some(e) => last = e.id,
            None => break,
        }
    }
    let mut run = Run {
        b,
        tag,
        ids,
        amounts: HashMap::new(),
        done: Vec::new(),
        last_event: last,
    };
    for op in ops {
        run.step(op).await;
    }
}

/// Random sequences against one backend. After every step: balance = sum of
/// ledger = sum of open lots (minus debt) for every customer; no redemption
/// took a balance below zero; replays and refused steps changed nothing and
/// wrote no event; the outbox holds one event per ledger entry, matching the
/// balance changes.
pub async fn random_sequences_keep_the_invariants(b: Backend) {
    // CRM_PROPTEST_CASES raises the count for a longer hunt.
    let cases = std::env::var("CRM_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if b.name == "memory" { 64 } else { 12 });
    let handle = tokio::runtime::Handle::current();
    let b = Arc::new(b);
    let result = tokio::task::spawn_blocking(move || {
        let mut runner = TestRunner::new(Config {
            cases,
            failure_persistence: None,
            max_shrink_iters: 64,
            ..Config::default()
        });
        runner
            .run(&proptest::collection::vec(op(), 1..30), |ops| {
                handle.block_on(run_sequence(&b, ops));
                Ok(())
            })
            .map_err(|e| e.to_string())
    })
    .await
    .expect("property task");
    if let Err(e) = result {
        panic!("property failed: {e}");
    }
}
