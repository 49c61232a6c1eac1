//! Demo data for a first start: a few thousand customers with a year of
//! purchases, redemptions and refunds, spread over every segment. Generated
//! deterministically (same data on every machine) through the `Crm` facade
//! only, so it exercises the same rules as real traffic.

use chrono::{DateTime, Duration, Utc};
use crm_core::loyalty::{NewPurchase, PointsRequest, RefundRequest, receipt_key};
use crm_core::{Crm, CustomerType, NewCustomer, Result};
use rust_decimal::Decimal;

/// A small deterministic generator (SplitMix64): demo data needs no crypto
/// quality, only the same sequence everywhere.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

const FIRST: [&str; 20] = [
    "Budi", "Siti", "Agus", "Dewi", "Rina", "Andi", "Putri", "Joko", "Wati", "Hendra", "Yuni",
    "Bayu", "Sri", "Eko", "Nur", "Rudi", "Lina", "Fajar", "Intan", "Dian",
];
const LAST: [&str; 12] = [
    "Santoso", "Wijaya", "Saputra", "Hidayat", "Pratama", "Kusuma", "Nugroho", "Setiawan",
    "Lestari", "Gunawan", "Halim", "Susanto",
];
const CITIES: [&str; 6] = [
    "Jakarta", "Bandung", "Surabaya", "Medan", "Semarang", "Makassar",
];

/// What was seeded.
#[derive(Debug, Clone, Copy, Default)]
pub struct DemoReport {
    /// Customers created.
    pub customers: usize,
    /// Purchases recorded.
    pub purchases: usize,
}

/// Seeds `customers` customers with a year of activity ending `now`.
pub async fn seed(crm: &Crm, customers: usize, now: DateTime<Utc>) -> Result<DemoReport> {
    let mut dice = Dice(20_261_123);
    let inputs: Vec<NewCustomer> = (0..customers)
        .map(|i| {
            let first = FIRST[dice.below(FIRST.len() as u64) as usize];
            let last = LAST[dice.below(LAST.len() as u64) as usize];
            NewCustomer {
                name: format!("{first} {last}"),
                email: Some(format!(
                    "{}.{}{i}@demo.example.id",
                    first.to_lowercase(),
                    last.to_lowercase()
                )),
                phone: Some(format!("+62813{:08}", 10_000_000 + i)),
                customer_type: CustomerType::ALL[(dice.below(10).min(3)) as usize],
                address: crm_core::Address {
                    city: Some(CITIES[dice.below(CITIES.len() as u64) as usize].into()),
                    country: Some("ID".into()),
                    ..Default::default()
                },
                tags: if i % 7 == 0 {
                    vec!["vip".into()]
                } else {
                    Vec::new()
                },
                ..NewCustomer::default()
            }
        })
        .collect();
    let mut created = Vec::with_capacity(customers);
    for chunk in inputs.chunks(1000) {
        created.extend(crm.customers().import(chunk.to_vec()).await?);
    }
    let mut report = DemoReport {
        customers: created.len(),
        purchases: 0,
    };
    for (i, c) in created.iter().enumerate() {
        // Profiles: (first purchase days ago, purchases, spacing in days) spread
        // so that every RFM segment shows up.
        let (start, count, gap) = match i % 6 {
            0 => (360, 30 + dice.below(20), 7), // frequent, recent: champions
            1 => (330, 8 + dice.below(6), 30),  // monthly: loyal
            2 => (40, 1 + dice.below(3), 10),   // new customers
            3 => (350, 4 + dice.below(4), 20),  // stopped months ago: at risk
            4 => (365, 1, 1),                   // bought once long ago: lost
            _ => (200, 2 + dice.below(6), 25),  // in between
        };
        for n in 0..count {
            let days_ago = start as i64 - (n as i64) * gap as i64 - dice.below(3) as i64;
            if days_ago < 1 {
                break;
            }
            let amount = Decimal::from(25_000 + dice.below(40) * 10_000);
            let receipt = format!("D{i}-{n}");
            let at = now - Duration::days(days_ago) - Duration::minutes(dice.below(600) as i64);
            let store_id = format!("DEMO-{:02}", dice.below(8));
            crm.loyalty()
                .record_purchase(NewPurchase {
                    customer_id: c.id,
                    store_id: store_id.clone(),
                    receipt_id: receipt.clone(),
                    purchase_date: at,
                    total_amount: amount,
                    currency: None,
                })
                .await?;
            report.purchases += 1;
            // About one receipt in eleven is half refunded.
            if dice.below(11) == 0 {
                crm.loyalty()
                    .refund(RefundRequest {
                        store_id,
                        receipt_id: receipt,
                        refund_id: "demo-refund".into(),
                        amount: (amount / Decimal::from(2)).round_dp(2),
                    })
                    .await?;
            }
        }
        if i % 5 == 0 {
            let balance = crm.loyalty().balance(c.id).await?;
            if balance.available >= 10 {
                crm.loyalty()
                    .redeem(PointsRequest {
                        customer_id: c.id,
                        points: balance.available / 2,
                        reference_type: "voucher".into(),
                        reference_id: receipt_key("DEMO", &format!("V{i}")),
                        actor: None,
                    })
                    .await?;
            }
        }
    }
    Ok(report)
}
