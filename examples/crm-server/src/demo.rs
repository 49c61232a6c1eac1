//! Demo data for a first start: a few thousand customers of a retail chain
//! with two years of purchases, refunds and point redemptions ending `now`,
//! generated deterministically (same data on every machine) through the
//! `Crm` facade only, so it exercises the same rules as real traffic.
//!
//! Purchases follow the buy-till-you-die process the analytics models
//! assume: the SDK's seeded simulator
//! ([`Simulation`](crm_core::analytics::Simulation)) draws each buyer's
//! purchase rate and drop-out (BG/NBD, in weeks) and basket sizes
//! (Gamma-Gamma, scaled to rupiah and rounded to Rp 500). First purchases
//! fall on every day of the two years, so every month has a cohort and,
//! with a few thousand customers, every day has sales up to today (the
//! server seeds 3,000; the models need a few hundred to fit). Purchases
//! older than [`RECORDED_DAYS`] are
//! migrated with [`import_history`](crm_core::Loyalty::import_history)
//! (history earns no points); the recent ones go through
//! [`record_purchase`](crm_core::Loyalty::record_purchase) and earn points,
//! some are partly refunded, and some customers redeem vouchers. Each
//! customer's operations go in time order, several customers at a time
//! (the data does not depend on how they interleave, only row ids do). A
//! few customers never bought, and a few lapsed ones are deactivated.
//! [`seed_with_progress`] reports how far it has got ([`ProgressLine`]
//! shows that on standard error).

use chrono::{DateTime, Days, Duration, NaiveDate, NaiveTime, Utc};
use crm_core::analytics::{BgNbdParams, GammaGammaParams, PeriodUnit, Simulation};
use crm_core::loyalty::{NewPurchase, PointsRequest, RefundRequest, receipt_key};
use crm_core::{Crm, CustomerId, CustomerType, MAX_IMPORT_BATCH, NewCustomer, Result};
use futures_util::StreamExt as _;
use rust_decimal::Decimal;
use std::time::Instant;

/// Days of history, today included.
pub const HISTORY_DAYS: u32 = 730;
/// Purchases of the last this many days are recorded and earn points
/// (still valid under the default 12-month expiry); older ones are
/// imported as history.
pub const RECORDED_DAYS: i64 = 365;

/// Seed of everything else (profiles, hours, stores, refunds, ...).
const DICE_SEED: u64 = 20_261_123;
/// Seed of the purchase simulation.
const SIMULATION_SEED: u64 = 20_261_123;
/// Purchase rate ~ Gamma(r, alpha) per week, drop-out ~ Beta(a, b) after
/// each repeat purchase: on average a purchase every two months while
/// active (most buy less often, a few every week), and after a purchase
/// about one customer in five never comes back.
const PROCESS: BgNbdParams = BgNbdParams {
    r: 0.45,
    alpha: 4.0,
    a: 0.7,
    b: 3.0,
};
/// Basket sizes in units of [`RUPIAH_PER_UNIT`]: mean p * gamma / (q - 1) =
/// 30 units, Rp 150.000 (median about Rp 110.000, four baskets in five
/// between Rp 45.000 and Rp 300.000). In rupiah
/// the fitted gamma is this gamma times the unit (about 70.000 to 80.000
/// with the refunds): q = 3 rather than 4 keeps it well inside the
/// fitter's range (parameters beyond 1e5 count as "at the boundary", and
/// the model is then not used).
const SPEND: GammaGammaParams = GammaGammaParams {
    p: 6.0,
    q: 3.0,
    gamma: 10.0,
};
/// Rupiah per simulated spend unit.
const RUPIAH_PER_UNIT: i64 = 5_000;
/// Baskets are rounded to this many rupiah.
const RUPIAH_ROUNDING: i64 = 500;

/// A small deterministic generator (SplitMix64) for everything but the
/// purchases: demo data needs no crypto quality, only the same sequence
/// everywhere.
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
/// Cities and the store customers there mostly buy at.
const CITIES: [(&str, &str); 6] = [
    ("Jakarta", "JKT-01"),
    ("Bandung", "BDG-01"),
    ("Surabaya", "SBY-01"),
    ("Medan", "MDN-01"),
    ("Semarang", "SMG-01"),
    ("Makassar", "MKS-01"),
];
/// Where customers buy away from their home store.
const OTHER_STORES: [&str; 3] = ["JKT-02", "ONLINE", "JKT-01"];

/// What was seeded.
#[derive(Debug, Clone, Copy, Default)]
pub struct DemoReport {
    /// Customers created.
    pub customers: usize,
    /// Purchases stored, imported and recorded.
    pub purchases: usize,
    /// Of those, purchases recorded as new sales (they earned points).
    pub recorded: usize,
    /// Partial refunds.
    pub refunds: usize,
    /// Voucher redemptions.
    pub redemptions: usize,
    /// Customers deactivated.
    pub deactivated: usize,
    /// How long each phase took.
    pub timings: Timings,
}

/// How long each phase of [`seed`] took.
#[derive(Debug, Clone, Copy, Default)]
pub struct Timings {
    /// Drawing the customers and purchases.
    pub plan: std::time::Duration,
    /// Creating the customers.
    pub customers: std::time::Duration,
    /// Importing the purchase history.
    pub history: std::time::Duration,
    /// Recording the recent purchases and refunds.
    pub recorded: std::time::Duration,
    /// Redeeming vouchers.
    pub redemptions: std::time::Duration,
    /// Deactivating customers.
    pub deactivations: std::time::Duration,
}

/// One demo customer before it is stored.
struct Profile {
    customer_type: CustomerType,
    /// Index into [`CITIES`].
    city: usize,
    buys: bool,
}

/// One demo purchase before it is stored.
struct Sale {
    /// Index of the customer in creation order.
    customer: usize,
    at: DateTime<Utc>,
    amount: Decimal,
    store: &'static str,
    /// Part returned later (recorded purchases only).
    refund: Option<Decimal>,
}

/// Everything that will be stored, decided before anything is.
struct Plan {
    profiles: Vec<Profile>,
    /// In time order.
    sales: Vec<Sale>,
    /// Sales before this index are imported, the rest recorded.
    recorded_from: usize,
}

impl Plan {
    /// The demo's customers and purchases for `customers` customers up to
    /// `now`, drawing from `dice` (the purchases from the simulator's own
    /// seed).
    fn new(customers: usize, now: DateTime<Utc>, dice: &mut Dice) -> Result<Self> {
        let profiles: Vec<Profile> = (0..customers)
            .map(|_| Profile {
                customer_type: match dice.below(100) {
                    0..78 => CustomerType::Retail,
                    78..88 => CustomerType::Wholesale,
                    88..93 => CustomerType::Distributor,
                    _ => CustomerType::Corporate,
                },
                city: dice.below(CITIES.len() as u64) as usize,
                // About one in twelve signed up but never bought.
                buys: dice.below(12) != 0,
            })
            .collect();
        let mut sales = simulate(&profiles, now, dice)?;
        sales.sort_by_key(|s| (s.at, s.customer));
        let recorded_from = sales.partition_point(|s| s.at < now - Duration::days(RECORDED_DAYS));
        // About one recorded receipt in fifteen is partly returned (20% to
        // 60%, never all of it: a full refund takes the purchase out of
        // the analytics).
        for s in &mut sales[recorded_from..] {
            if dice.below(15) == 0 {
                let share = Decimal::new(2 + dice.below(5) as i64, 1);
                let amount = round_rupiah(s.amount * share);
                s.refund = (amount < s.amount).then_some(amount);
            }
        }
        Ok(Self {
            profiles,
            sales,
            recorded_from,
        })
    }
}

/// Seeds `customers` customers with two years of activity ending `now`
/// (the `Crm`'s clock: purchases after it are refused).
pub async fn seed(crm: &Crm, customers: usize, now: DateTime<Utc>) -> Result<DemoReport> {
    seed_with_progress(crm, customers, now, |_| {}).await
}

/// How far [`seed_with_progress`] has got.
#[derive(Debug, Clone, Copy, Default)]
pub struct Progress {
    /// Customers created, of [`Self::customers_total`].
    pub customers: usize,
    /// Customers to create.
    pub customers_total: usize,
    /// Purchases stored (imported or recorded), of [`Self::purchases_total`].
    pub purchases: usize,
    /// Purchases to store.
    pub purchases_total: usize,
    /// Partial refunds recorded, of [`Self::refunds_total`].
    pub refunds: usize,
    /// Refunds to record.
    pub refunds_total: usize,
    /// Buyers whose voucher redemption was handled, of
    /// [`Self::redemptions_total`] that may redeem.
    pub redemptions: usize,
    /// Buyers that may redeem (those with too few points do not).
    pub redemptions_total: usize,
}

/// How many customers' purchases (or redemptions) are stored at a time.
/// Each customer's own operations stay in order; the database still
/// commits one ledger transaction at a time, so this only overlaps the
/// reads around them.
const CONCURRENT_CUSTOMERS: usize = 8;
/// Progress is reported about every this many operations.
const PROGRESS_EVERY: usize = 250;

/// One customer's recorded purchases in time order, each with the part
/// returned right after it (if any).
type CustomerSales = Vec<(NewPurchase, Option<Decimal>)>;

/// [`seed`], calling `progress` at the start, about every 250 operations
/// and at the end of each phase.
///
/// The data is the same as when stored one operation at a time in time
/// order: every customer's purchases, refunds and redemption go through
/// the `Crm` in that customer's own order (points, tiers and expiry only
/// depend on it); only the order of rows of different customers, and so
/// their ids, may differ from run to run.
pub async fn seed_with_progress(
    crm: &Crm,
    customers: usize,
    now: DateTime<Utc>,
    mut progress: impl FnMut(&Progress),
) -> Result<DemoReport> {
    let started = Instant::now();
    let mut dice = Dice(DICE_SEED);
    let plan = Plan::new(customers, now, &mut dice)?;
    let mut state = Progress {
        customers_total: customers,
        purchases_total: plan.sales.len(),
        refunds_total: plan.sales.iter().filter(|s| s.refund.is_some()).count(),
        ..Progress::default()
    };

    // The top tenth of the buyers by spend are tagged VIP.
    let mut spend = vec![Decimal::ZERO; customers];
    for s in &plan.sales {
        spend[s.customer] += s.amount;
    }
    let mut ranked: Vec<Decimal> = spend.iter().copied().filter(|s| !s.is_zero()).collect();
    ranked.sort_unstable_by(|a, b| b.cmp(a));
    let vip_from = ranked
        .get(ranked.len() / 10)
        .copied()
        .unwrap_or(Decimal::MAX);

    let inputs: Vec<NewCustomer> = plan
        .profiles
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let first = FIRST[dice.below(FIRST.len() as u64) as usize];
            let last = LAST[dice.below(LAST.len() as u64) as usize];
            let (city, _) = CITIES[p.city];
            let mut tags = vec![city.to_lowercase()];
            if spend[i] > vip_from {
                tags.push("vip".to_string());
            }
            if dice.below(3) == 0 {
                tags.push("newsletter".to_string());
            }
            NewCustomer {
                name: format!("{first} {last}"),
                email: Some(format!(
                    "{}.{}{i}@demo.example.id",
                    first.to_lowercase(),
                    last.to_lowercase()
                )),
                phone: Some(format!("+62813{:08}", 10_000_000 + i)),
                customer_type: p.customer_type,
                address: crm_core::Address {
                    city: Some(city.into()),
                    country: Some("ID".into()),
                    ..Default::default()
                },
                tags,
                ..NewCustomer::default()
            }
        })
        .collect();
    // Who redeems and who closed their account: drawn now, in customer
    // order, so the draws do not depend on the order of the writes.
    let mut recent_buyer = vec![false; customers];
    for s in &plan.sales[plan.recorded_from..] {
        recent_buyer[s.customer] = true;
    }
    // About a third of the recent buyers take a voucher for half their
    // points.
    let redeemers: Vec<usize> = (0..customers)
        .filter(|&i| recent_buyer[i] && dice.below(3) == 0)
        .collect();
    // A few customers who stopped buying closed their account.
    let leavers: Vec<usize> = (0..customers)
        .filter(|&i| !recent_buyer[i] && dice.below(25) == 0)
        .collect();
    state.redemptions_total = redeemers.len();
    let mut timings = Timings {
        plan: started.elapsed(),
        ..Timings::default()
    };
    progress(&state);

    let phase = Instant::now();
    let mut created = Vec::with_capacity(customers);
    for chunk in inputs.chunks(MAX_IMPORT_BATCH) {
        created.extend(crm.customers().import(chunk.to_vec()).await?);
        state.customers = created.len();
        progress(&state);
    }
    timings.customers = phase.elapsed();
    let mut report = DemoReport {
        customers: created.len(),
        purchases: plan.sales.len(),
        ..DemoReport::default()
    };

    // Receipts numbered per store and day, like a till would.
    let mut counters = std::collections::HashMap::<(&str, NaiveDate), u32>::new();
    let purchases: Vec<NewPurchase> = plan
        .sales
        .iter()
        .map(|s| {
            let n = counters.entry((s.store, s.at.date_naive())).or_default();
            *n += 1;
            NewPurchase {
                customer_id: created[s.customer].id,
                store_id: s.store.into(),
                receipt_id: format!("{}-{:04}", s.at.format("%Y%m%d"), n),
                purchase_date: s.at,
                total_amount: s.amount,
                currency: None,
            }
        })
        .collect();
    drop(counters);
    let (history, recent) = purchases.split_at(plan.recorded_from);

    // Two years of history, migrated in bulk: no points.
    let phase = Instant::now();
    for chunk in history.chunks(MAX_IMPORT_BATCH) {
        crm.loyalty().import_history(chunk.to_vec()).await?;
        state.purchases += chunk.len();
        progress(&state);
    }
    timings.history = phase.elapsed();

    // The recent months, one sale at a time as the tills send them: points
    // earned, some returned. Each customer's sales in time order, several
    // customers at a time.
    let phase = Instant::now();
    let mut by_customer: Vec<CustomerSales> = vec![Vec::new(); customers];
    for (p, s) in recent.iter().zip(&plan.sales[plan.recorded_from..]) {
        by_customer[s.customer].push((p.clone(), s.refund));
    }
    let mut sales = futures_util::stream::iter(by_customer.into_iter().filter(|s| !s.is_empty()))
        .map(|sales| record_sales(crm, sales))
        .buffer_unordered(CONCURRENT_CUSTOMERS);
    let mut reported = 0;
    while let Some(done) = sales.next().await {
        let (recorded, refunds) = done?;
        report.recorded += recorded;
        report.refunds += refunds;
        state.purchases += recorded;
        state.refunds += refunds;
        if report.recorded + report.refunds >= reported + PROGRESS_EVERY {
            reported = report.recorded + report.refunds;
            progress(&state);
        }
    }
    drop(sales);
    progress(&state);
    timings.recorded = phase.elapsed();

    let phase = Instant::now();
    let mut redemptions = futures_util::stream::iter(
        redeemers
            .iter()
            .map(|&i| redeem_half(crm, created[i].id, i)),
    )
    .buffer_unordered(CONCURRENT_CUSTOMERS);
    while let Some(done) = redemptions.next().await {
        if done? {
            report.redemptions += 1;
        }
        state.redemptions += 1;
        if state.redemptions.is_multiple_of(PROGRESS_EVERY) {
            progress(&state);
        }
    }
    drop(redemptions);
    progress(&state);
    timings.redemptions = phase.elapsed();

    let phase = Instant::now();
    for &i in &leavers {
        crm.customers().deactivate(created[i].id).await?;
        report.deactivated += 1;
    }
    timings.deactivations = phase.elapsed();
    report.timings = timings;
    Ok(report)
}

/// [`seed_with_progress`] into the database of `crm` (opened from `url`
/// with `options`) through a connection of its own, run on a thread of its
/// own that stays on one core; for a first start (the example server seeds
/// this way). The seed follows `crm`'s programme. An in-memory SQLite
/// database exists for its own connection only: it is seeded through `crm`.
///
/// Why one core: the seed is about 20,000 small ledger transactions. With
/// SQLite, sqlx runs every statement on the connection's worker thread,
/// so each statement is a hand-off between two threads. When the two run
/// on different cores, each hand-off wakes the other core (an
/// inter-processor interrupt, costly in a virtual machine): that was 63%
/// of the seed's time on a 2-core VM, and only 2% was SQLite itself. With
/// the seeding thread and the connection's worker (which inherits the
/// seeding thread's core) on one core, a hand-off is a plain switch: 17.6 s
/// became 4.9 s on that machine. Nothing else of the process is moved.
pub async fn seed_on_one_core(
    crm: &Crm,
    url: &str,
    options: crm_sqlx::StoreOptions,
    customers: usize,
    now: DateTime<Utc>,
    progress: impl FnMut(&Progress) + Send + 'static,
) -> Result<DemoReport> {
    if url.starts_with("sqlite") && crm_sqlx::sqlite_file(url).is_none() {
        return seed_with_progress(crm, customers, now, progress).await;
    }
    let config = crm.config().clone();
    let url = url.to_owned();
    let (done, report) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("crm-demo-seed".into())
        .spawn(move || {
            // The first core this process may use; threads started from
            // here (the connection's worker) inherit it.
            if let Some(core) = core_affinity::get_core_ids().and_then(|c| c.into_iter().next()) {
                core_affinity::set_for_current(core);
            }
            let seeded = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| crm_core::Error::storage("cannot start the demo seed's runtime", e))
                .and_then(|runtime| {
                    runtime.block_on(async move {
                        let options = crm_sqlx::StoreOptions {
                            max_connections: 1,
                            min_connections: 1,
                            ..options
                        };
                        let store = crm_sqlx::connect_with(&url, options).await?;
                        let crm = Crm::from_arc(store).with_config(config)?;
                        let report = seed_with_progress(&crm, customers, now, progress).await;
                        crm.close().await;
                        report
                    })
                });
            // The caller may have gone; nothing to tell then.
            let _ = done.send(seeded);
        })
        .map_err(|e| crm_core::Error::storage("cannot start the demo seed's thread", e))?;
    report.await.map_err(|_| {
        crm_core::Error::storage_msg("the demo seed's thread stopped without an answer")
    })?
}

/// Records one customer's sales in order, each refund right after its
/// sale; returns how many sales and refunds were recorded.
async fn record_sales(crm: &Crm, sales: CustomerSales) -> Result<(usize, usize)> {
    let mut refunds = 0;
    let recorded = sales.len();
    for (p, refund) in sales {
        let (store_id, receipt_id) = (p.store_id.clone(), p.receipt_id.clone());
        crm.loyalty().record_purchase(p).await?;
        if let Some(amount) = refund {
            crm.loyalty()
                .refund(RefundRequest {
                    store_id,
                    receipt_id,
                    refund_id: "return-1".into(),
                    amount,
                })
                .await?;
            refunds += 1;
        }
    }
    Ok((recorded, refunds))
}

/// Redeems half the available points of `customer` (the `i`th created) for
/// a voucher, in tens, if that is at least 10; whether it did.
async fn redeem_half(crm: &Crm, customer: CustomerId, i: usize) -> Result<bool> {
    let points = crm.loyalty().balance(customer).await?.available / 2 / 10 * 10;
    if points < 10 {
        return Ok(false);
    }
    crm.loyalty()
        .redeem(PointsRequest {
            customer_id: customer,
            points,
            reference_type: "voucher".into(),
            reference_id: receipt_key("DEMO", &format!("V{i}")),
            actor: None,
        })
        .await?;
    Ok(true)
}

/// The purchases of the buyers among `profiles` over the [`HISTORY_DAYS`]
/// up to `now`: the simulator's histories, earliest first purchase first,
/// given to the buyers in creation order (customer codes follow sign-up
/// order).
fn simulate(profiles: &[Profile], now: DateTime<Utc>, dice: &mut Dice) -> Result<Vec<Sale>> {
    let buyers: Vec<usize> = (0..profiles.len()).filter(|&i| profiles[i].buys).collect();
    let today = now.date_naive();
    let from = today
        .checked_sub_days(Days::new(u64::from(HISTORY_DAYS - 1)))
        .unwrap_or(today);
    let simulation = Simulation {
        customers: buyers.len() as u64,
        bgnbd: PROCESS,
        spend: SPEND,
        unit: PeriodUnit::Week,
        first_purchase_from: from,
        cohort_days: HISTORY_DAYS,
        observation_end: today,
        seed: SIMULATION_SEED,
    };
    let mut histories: Vec<_> = simulation.customers()?.collect();
    histories.sort_by_key(|h| (h.first_purchase, h.id));
    let days_per_week = PeriodUnit::Week.days();
    let mut sales = Vec::new();
    for (customer, h) in buyers.into_iter().zip(histories) {
        let (_, home) = CITIES[profiles[customer].city];
        let times = std::iter::once(0.0).chain(h.repeat_times.iter().copied());
        for (time, amount) in times.zip(&h.amounts) {
            // The day the purchase falls in, at an hour the stores are open
            // (09:00 to 21:00 in Jakarta, 02:00 to 14:00 UTC), never after
            // `now`.
            let day = h
                .first_purchase
                .checked_add_days(Days::new((time * days_per_week).floor() as u64))
                .unwrap_or(h.first_purchase);
            let at = day.and_time(NaiveTime::MIN).and_utc()
                + Duration::minutes(120 + dice.below(12 * 60) as i64);
            // Mostly at the home store.
            let store = match dice.below(6) {
                0 => OTHER_STORES[dice.below(OTHER_STORES.len() as u64) as usize],
                _ => home,
            };
            sales.push(Sale {
                customer,
                at: at.min(now),
                amount: round_rupiah(*amount * Decimal::from(RUPIAH_PER_UNIT)),
                store,
                refund: None,
            });
        }
    }
    Ok(sales)
}

/// An amount in rupiah rounded to [`RUPIAH_ROUNDING`], at least that.
fn round_rupiah(amount: Decimal) -> Decimal {
    let step = Decimal::from(RUPIAH_ROUNDING);
    ((amount / step).round() * step).max(step)
}

/// Shows [`Progress`] on standard error while the demo is seeded: one line
/// rewritten in place on a terminal (about ten times a second), else a
/// line every few seconds (logs stay short).
#[derive(Debug)]
pub struct ProgressLine {
    terminal: bool,
    every: std::time::Duration,
    last: Option<Instant>,
    latest: Option<Progress>,
    shown: bool,
}

impl Drop for ProgressLine {
    fn drop(&mut self) {
        self.finish();
    }
}

impl ProgressLine {
    /// A progress line on standard error.
    pub fn stderr() -> Self {
        let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
        Self {
            terminal,
            every: std::time::Duration::from_millis(if terminal { 100 } else { 2_000 }),
            last: None,
            latest: None,
            shown: false,
        }
    }

    /// Notes the latest progress and shows it if the last line is old enough.
    pub fn update(&mut self, p: &Progress) {
        self.latest = Some(*p);
        if self.last.is_none_or(|at| at.elapsed() >= self.every) {
            self.show();
        }
    }

    /// Shows the final state (if anything was reported) and ends the line;
    /// also done when the line is dropped.
    pub fn finish(&mut self) {
        if self.latest.is_some() {
            self.show();
        }
        if self.terminal && self.shown {
            eprintln!();
        }
        self.shown = false;
    }

    fn show(&mut self) {
        let Some(p) = self.latest.take() else {
            return;
        };
        self.last = Some(Instant::now());
        self.shown = true;
        let line = format!(
            "Seeding demo data: customers {}/{}, purchases {}/{}, refunds {}/{}, redemptions {}/{}",
            p.customers,
            p.customers_total,
            p.purchases,
            p.purchases_total,
            p.refunds,
            p.refunds_total,
            p.redemptions,
            p.redemptions_total,
        );
        use std::io::Write as _;
        let mut err = std::io::stderr().lock();
        // Progress is a courtesy: a closed stderr must not stop the seed.
        let _ = if self.terminal {
            write!(err, "\r{line}").and_then(|()| err.flush())
        } else {
            writeln!(err, "{line}")
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crm_core::analytics::{
        AnalyticsModel, ChurnMethod, ChurnRisk, RfmSegment, SummaryBuilder, SummaryOptions,
    };

    /// The demo's plan, the model its purchases (net of refunds) give as a
    /// refit would, and the customers' segments and risk levels under it.
    fn fit(
        customers: usize,
        now: DateTime<Utc>,
    ) -> (Plan, AnalyticsModel, Vec<RfmSegment>, Vec<ChurnRisk>) {
        let plan = Plan::new(customers, now, &mut Dice(DICE_SEED)).expect("plan");
        let settings = crm_core::CrmConfig::default().analytics;
        let mut builder =
            SummaryBuilder::new(SummaryOptions::new(settings.unit, Some(now.date_naive())))
                .expect("builder");
        for s in &plan.sales {
            let amount = s.amount - s.refund.unwrap_or_default();
            builder
                .add(&s.customer, s.at.date_naive(), amount)
                .expect("in order");
        }
        let summaries = builder.finish().summaries;
        let model = AnalyticsModel::fit(settings.unit, &summaries, settings.config).expect("fit");
        let scores: Vec<_> = summaries.iter().map(|s| model.score(s)).collect();
        let mut segments: Vec<RfmSegment> = scores.iter().map(|s| s.segment).collect();
        segments.sort_by_key(|s| s.as_str());
        segments.dedup();
        let mut risks: Vec<ChurnRisk> = scores.iter().map(|s| s.risk_level).collect();
        risks.sort_by_key(|r| r.as_str());
        risks.dedup();
        (plan, model, segments, risks)
    }

    #[test]
    fn the_demo_history_fits_both_models_and_fills_every_segment() {
        let now = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 12, 3, 10, 7, 0)
            .single()
            .expect("a time");
        // What the server seeds on a first start.
        let (plan, model, segments, risks) = fit(3_000, now);
        assert_eq!(model.churn_method, ChurnMethod::BgNbd, "{:?}", model.notes);
        let bgnbd = model.usable_bgnbd().expect("BG/NBD usable");
        let p = bgnbd.params;
        // Close to the process the purchases were drawn from.
        assert!((p.r / PROCESS.r - 1.0).abs() < 0.25, "{p:?}");
        assert!((p.alpha / PROCESS.alpha - 1.0).abs() < 0.25, "{p:?}");
        let gg = model.usable_gamma_gamma().expect("Gamma-Gamma usable");
        assert!(gg.params.q > 1.0, "{:?}", gg.params);
        assert!(model.notes.is_empty(), "{:?}", model.notes);
        assert_eq!(segments.len(), 5, "{segments:?}");
        assert!(risks.len() >= 3, "{risks:?}");

        // Some customers never bought; purchases on every one of the last
        // 90 days, up to today; first purchases in each of the 24 months.
        let buyers = plan.profiles.iter().filter(|p| p.buys).count();
        assert!(buyers < 3_000 && buyers > 2_500, "{buyers}");
        assert_eq!(model.customers, buyers as u64);
        let days: std::collections::BTreeSet<NaiveDate> =
            plan.sales.iter().map(|s| s.at.date_naive()).collect();
        let today = now.date_naive();
        assert!(
            plan.sales
                .iter()
                .all(|s| s.at <= now && s.amount > Decimal::ZERO)
        );
        assert!(
            (0..90).all(|d| days.contains(&(today - Duration::days(d)))),
            "a day without sales"
        );
        let mut first = vec![None; 3_000];
        for s in &plan.sales {
            first[s.customer].get_or_insert(s.at.format("%Y-%m").to_string());
        }
        let months: std::collections::BTreeSet<_> = first.into_iter().flatten().collect();
        assert!(months.len() >= 24, "{months:?}");
        // Both the imported history and the recorded recent sales, some
        // refunded.
        assert!(plan.recorded_from > 0 && plan.recorded_from < plan.sales.len());
        assert!(plan.sales.iter().any(|s| s.refund.is_some()));
        assert!(
            plan.sales
                .iter()
                .all(|s| s.refund.is_none_or(|r| r < s.amount))
        );
    }

    #[test]
    fn the_same_data_on_every_run() {
        let now = Utc::now();
        let a = Plan::new(200, now, &mut Dice(DICE_SEED)).expect("plan");
        let b = Plan::new(200, now, &mut Dice(DICE_SEED)).expect("plan");
        let key = |p: &Plan| {
            p.sales
                .iter()
                .map(|s| (s.customer, s.at, s.amount, s.store, s.refund))
                .collect::<Vec<_>>()
        };
        assert_eq!(key(&a), key(&b));
    }

    /// Seeding on one core, on a file of its own connection, stores what
    /// the ordinary seed stores: the same counts, and every customer's
    /// balance the same.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn seeding_on_one_core_stores_what_the_seed_stores() {
        let now = Utc::now();
        let dir = std::env::temp_dir().join(format!("crm-demo-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let url = format!("sqlite://{}", dir.join("demo.db").display());
        let file = Crm::from_arc(crm_sqlx::connect(&url).await.expect("open the file"));
        let pinned = seed_on_one_core(
            &file,
            &url,
            crm_sqlx::StoreOptions::default(),
            200,
            now,
            |_| {},
        )
        .await
        .expect("seed on one core");
        let memory = Crm::from_arc(crm_sqlx::connect("sqlite::memory:").await.expect("memory"));
        let plain = seed(&memory, 200, now).await.expect("seed");
        let counts = |r: &DemoReport| {
            (
                r.customers,
                r.purchases,
                r.recorded,
                r.refunds,
                r.redemptions,
                r.deactivated,
            )
        };
        assert_eq!(counts(&pinned), counts(&plain));
        assert!(pinned.recorded > 0 && pinned.redemptions > 0, "{pinned:?}");
        // Customers are created in the same order, so ids match.
        for id in 1..=200 {
            let id = CustomerId(id);
            let a = file.loyalty().balance(id).await.expect("balance");
            let b = memory.loyalty().balance(id).await.expect("balance");
            assert_eq!(a, b, "customer {id:?}");
        }
        file.close().await;
        std::fs::remove_dir_all(&dir).ok();
    }
}
