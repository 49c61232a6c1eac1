//! Per-customer summaries of purchase histories: the `(x, t_x, T, m)` of the
//! buy-till-you-die literature.
//!
//! Definitions (as in Fader, Hardie and Lee 2005 and the published CDNOW
//! summary):
//! - Purchases are bucketed to UTC calendar days; purchases on the same day
//!   are one purchase whose amount is their sum.
//! - `frequency` (x): number of *repeat* purchases (purchase days after the
//!   first).
//! - `recency` (t_x): time from the first to the last purchase; 0 when x = 0.
//! - `T`: time from the first purchase to the end of the observation (or
//!   calibration) period, which is inclusive.
//! - `monetary_value`: mean amount of the repeat purchases (the first purchase
//!   is excluded, as the Gamma-Gamma model requires); 0 when x = 0.
//!
//! Times are in an explicit [`PeriodUnit`]. With a calibration end, purchases
//! up to it make the summary and later ones (up to the observation end) the
//! [`HoldoutSummary`]; customers whose first purchase falls after the
//! calibration end are left out, as in the literature.
//!
//! Memory grows with customers, never with purchases: [`SummaryBuilder`]
//! keeps one small tally per customer (customers in any order), and
//! [`SortedSummarizer`] keeps only the current customer (purchases grouped by
//! customer, e.g. a store query ordered by customer and time). Both need each
//! customer's purchases in date order (they merge same-day purchases by
//! comparing with the previous one) and report a purchase out of order as an
//! error rather than miscount.

use std::borrow::Borrow;
use std::collections::{HashMap, HashSet};

/// foldhash: several times faster than SipHash on short keys, still seeded
/// per process, so crafted customer ids cannot force collisions.
type FastState = foldhash::fast::RandomState;
use std::hash::Hash;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::period::PeriodUnit;
use crate::{Error, Result};

/// One purchase: who bought, when (UTC) and for how much.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Purchase<K> {
    /// The customer's key (a [`CustomerId`](crate::CustomerId), a code, a CSV id ...).
    pub customer: K,
    /// When the purchase happened; only its UTC date counts.
    pub at: DateTime<Utc>,
    /// The amount paid, >= 0 (refunds belong in the ledger, not here).
    pub amount: Decimal,
}

impl<K> Purchase<K> {
    /// A purchase at midnight UTC of `date`.
    pub fn on(customer: K, date: NaiveDate, amount: Decimal) -> Self {
        Self {
            customer,
            at: date.and_time(chrono::NaiveTime::MIN).and_utc(),
            amount,
        }
    }
}

/// How to summarise: the period unit and the (inclusive) end dates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SummaryOptions {
    /// The unit of `recency`, `T` and the holdout duration.
    pub unit: PeriodUnit,
    /// Last day observed, inclusive; later purchases are ignored. `None`
    /// means the latest purchase date seen ([`SummaryBuilder`] only, which
    /// sees every purchase before it summarises).
    pub observation_end: Option<NaiveDate>,
    /// Last day of the calibration period, inclusive. When set, `T` runs to
    /// this date and later purchases fill the holdout summary.
    pub calibration_end: Option<NaiveDate>,
}

impl SummaryOptions {
    /// Options with this unit and observation end, no holdout.
    pub fn new(unit: PeriodUnit, observation_end: Option<NaiveDate>) -> Self {
        Self {
            unit,
            observation_end,
            calibration_end: None,
        }
    }

    /// The same options with a calibration/holdout split at `calibration_end`.
    pub fn with_calibration_end(mut self, calibration_end: NaiveDate) -> Self {
        self.calibration_end = Some(calibration_end);
        self
    }

    fn validate(&self) -> Result<()> {
        if let (Some(cal), Some(obs)) = (self.calibration_end, self.observation_end)
            && cal > obs
        {
            return Err(Error::invalid(
                "calibration_end",
                "range",
                format!("calibration end {cal} is after observation end {obs}"),
            ));
        }
        Ok(())
    }
}

/// The buy-till-you-die summary of one customer (see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerSummary<K> {
    /// The customer's key.
    #[serde(rename = "customer_id")]
    pub customer: K,
    /// Repeat purchases (purchase days after the first), x.
    pub frequency: u32,
    /// First to last purchase, in the summary's unit, t_x.
    pub recency: f64,
    /// First purchase to the end of the period, in the summary's unit.
    #[serde(rename = "T")]
    pub t: f64,
    /// Mean amount of the repeat purchases; 0 without repeat purchases.
    pub monetary_value: Decimal,
    /// Sum of all purchases in the period, the first included (for RFM and
    /// the guide's CLV, which count every purchase).
    pub total_spend: Decimal,
    /// The holdout period, when a calibration end was set. Boxed: a
    /// summary without one (scoring, most uses) is then 40 bytes smaller,
    /// which every pass over a million summaries feels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holdout: Option<Box<HoldoutSummary>>,
}

impl<K> CustomerSummary<K> {
    /// Purchase days in the period, the first included: `frequency + 1`.
    pub fn purchases(&self) -> u32 {
        self.frequency.saturating_add(1)
    }

    /// Time since the last purchase, `T - recency`, in the summary's unit.
    pub fn time_since_last_purchase(&self) -> f64 {
        (self.t - self.recency).max(0.0)
    }
}

/// What a customer did after the calibration end.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HoldoutSummary {
    /// Purchase days in the holdout period.
    pub frequency: u32,
    /// Mean amount per holdout purchase day; 0 without purchases.
    pub monetary_value: Decimal,
    /// Length of the holdout period in the summary's unit.
    pub duration: f64,
}

/// The result of summarising a purchase history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryReport<K> {
    /// One summary per customer, in order of first appearance.
    pub summaries: Vec<CustomerSummary<K>>,
    /// The unit of every time in `summaries`.
    pub unit: PeriodUnit,
    /// The observation end used (given or the latest purchase date).
    pub observation_end: Option<NaiveDate>,
    /// The calibration end, when there is a holdout.
    pub calibration_end: Option<NaiveDate>,
    /// Purchases read.
    pub purchases: u64,
    /// Purchases after the observation end, ignored.
    pub ignored_after_end: u64,
    /// Customers left out because they first bought after the calibration end.
    pub holdout_only_customers: u64,
}

/// Running calibration totals of one customer. Days are
/// `num_days_from_ce`. One cache line: adding a purchase of a customer
/// met long ago waits for one read from memory, not two.
#[derive(Debug, Clone)]
struct Tally {
    first: i32,
    last: i32,
    days: u32,
    first_amount: Decimal,
    total: Decimal,
}

/// Running holdout totals of one customer, kept beside its [`Tally`] only
/// where the summary has a holdout period.
#[derive(Debug, Clone, Copy)]
struct HoldoutTally {
    days: u32,
    last: i32,
    total: Decimal,
}

impl HoldoutTally {
    const EMPTY: Self = Self {
        days: 0,
        last: i32::MIN,
        total: Decimal::ZERO,
    };

    #[inline]
    fn add(&mut self, day: i32, amount: Decimal) {
        self.total += amount;
        if day != self.last {
            self.days += 1;
            self.last = day;
        }
    }
}

impl Tally {
    fn new(day: i32, amount: Decimal) -> Self {
        Self {
            first: day,
            last: day,
            days: 1,
            first_amount: amount,
            total: amount,
        }
    }

    /// The last purchase day, the holdout's included.
    #[inline]
    fn latest(&self, holdout: Option<&HoldoutTally>) -> i32 {
        holdout.map_or(self.last, |h| self.last.max(h.last))
    }

    #[inline]
    fn add_calibration(&mut self, day: i32, amount: Decimal) {
        self.total += amount;
        if day == self.last {
            if day == self.first {
                self.first_amount += amount;
            }
        } else {
            self.days += 1;
            self.last = day;
        }
    }

    /// The calibration purchases of `later`, all on or after this tally's
    /// last day, as if added one by one.
    fn append(&mut self, later: &Tally) {
        self.total += later.total;
        if later.first == self.last {
            if later.first == self.first {
                self.first_amount += later.first_amount;
            }
            self.days += later.days - 1;
        } else {
            self.days += later.days;
        }
        self.last = later.last;
    }

    fn summary<K>(
        &self,
        holdout: Option<&HoldoutTally>,
        customer: K,
        unit: PeriodUnit,
        end: i32,
        holdout_end: Option<i32>,
    ) -> CustomerSummary<K> {
        let frequency = self.days - 1;
        let monetary_value = if frequency > 0 {
            (self.total - self.first_amount) / Decimal::from(frequency)
        } else {
            Decimal::ZERO
        };
        CustomerSummary {
            customer,
            frequency,
            recency: unit.from_days(i64::from(self.last - self.first)),
            t: unit.from_days(i64::from(end - self.first)),
            monetary_value,
            total_spend: self.total,
            holdout: holdout_end.map(|h| {
                let holdout = holdout.unwrap_or(&HoldoutTally::EMPTY);
                Box::new(HoldoutSummary {
                    frequency: holdout.days,
                    monetary_value: if holdout.days > 0 {
                        holdout.total / Decimal::from(holdout.days)
                    } else {
                        Decimal::ZERO
                    },
                    duration: unit.from_days(i64::from(h - end)),
                })
            }),
        }
    }
}

#[inline]
fn day_number(date: NaiveDate) -> i32 {
    date.num_days_from_ce()
}

#[inline]
fn check_amount(amount: Decimal) -> Result<()> {
    if amount.is_sign_negative() && !amount.is_zero() {
        return Err(negative_amount(amount));
    }
    Ok(())
}

#[cold]
fn negative_amount(amount: Decimal) -> Error {
    Error::invalid(
        "amount",
        "min",
        format!("purchase amount must not be negative, got {amount}"),
    )
}

#[cold]
fn out_of_order(customer: &dyn std::fmt::Debug, day: i32, latest: i32) -> Error {
    let show = |d: i32| {
        NaiveDate::from_num_days_from_ce_opt(d).map_or_else(|| d.to_string(), |d| d.to_string())
    };
    Error::invalid(
        "date",
        "order",
        format!(
            "purchases of customer {customer:?} are not in date order ({} after {}); \
             sort the purchases by customer and date, or by date",
            show(day),
            show(latest)
        ),
    )
}

/// Where a purchase falls.
enum Slot {
    Calibration,
    Holdout,
    Ignored,
}

#[derive(Debug, Clone, Copy)]
struct Bounds {
    calibration_end: Option<i32>,
    observation_end: Option<i32>,
}

impl Bounds {
    fn new(options: &SummaryOptions) -> Self {
        Self {
            calibration_end: options.calibration_end.map(day_number),
            observation_end: options.observation_end.map(day_number),
        }
    }

    #[inline]
    fn slot(&self, day: i32) -> Slot {
        if self.observation_end.is_some_and(|end| day > end) {
            Slot::Ignored
        } else if self.calibration_end.is_some_and(|cal| day > cal) {
            Slot::Holdout
        } else {
            Slot::Calibration
        }
    }
}

/// A customer key's place in a table, for keys that are small numbers
/// (ids from a database sequence, category codes): [`SummaryBuilder`] then
/// finds a customer's tally by indexing an array, without hashing or
/// comparing the key. Keys without one (text, the default) are hashed.
///
/// Two distinct keys must never give the same index, and a key and its
/// borrowed form (`String` and `str`) must give the same one, as they must
/// hash alike. A key type of your own that is not a small number
/// implements it with an empty body:
///
/// ```
/// #[derive(Debug, Clone, PartialEq, Eq, Hash)]
/// struct CardNumber(String);
/// impl crm_core::analytics::DenseKey for CardNumber {}
/// ```
pub trait DenseKey {
    /// The key as a small non-negative number; `None`: hash it.
    #[inline]
    fn dense_index(&self) -> Option<u64> {
        None
    }
}

macro_rules! dense_unsigned {
    ($($t:ty),*) => {$(
        impl DenseKey for $t {
            #[inline]
            fn dense_index(&self) -> Option<u64> {
                u64::try_from(*self).ok()
            }
        }
    )*};
}
dense_unsigned!(u8, u16, u32, u64, usize, i8, i16, i32, i64, isize);

impl DenseKey for crate::CustomerId {
    #[inline]
    fn dense_index(&self) -> Option<u64> {
        u64::try_from(self.0).ok()
    }
}

impl DenseKey for str {}
impl DenseKey for String {}
impl DenseKey for Box<str> {}
impl DenseKey for std::rc::Rc<str> {}
impl DenseKey for std::sync::Arc<str> {}
impl DenseKey for std::borrow::Cow<'_, str> {}
impl DenseKey for [u8] {}
impl DenseKey for Vec<u8> {}

impl<T: DenseKey + ?Sized> DenseKey for &T {
    #[inline]
    fn dense_index(&self) -> Option<u64> {
        (**self).dense_index()
    }
}

/// A dense table grows freely up to this many slots (4 MB of positions;
/// ids of a million customers are indexed from the first purchase, not
/// hashed until enough customers have come) ...
const DENSE_FREE: u64 = 1 << 20;
/// ... and beyond, to at most this many slots per customer: sparse ids
/// (card numbers) are hashed rather than cost memory.
const DENSE_PER_CUSTOMER: u64 = 4;

/// Where each customer's tally is: by index for keys with a
/// [`DenseKey::dense_index`] inside the dense table, by hash for others.
#[derive(Debug)]
struct Index<K> {
    /// `dense[i]`: 1 + the position of the customer whose key has index
    /// `i`; 0: none yet. Every key whose index is below its length is here,
    /// never in `hashed`.
    dense: Vec<u32>,
    hashed: HashMap<K, u32, FastState>,
    /// [`DENSE_FREE`] (smaller in tests, to move hashed keys in early).
    free: u64,
}

impl<K: Hash + Eq + DenseKey> Index<K> {
    fn new() -> Self {
        Self {
            dense: Vec::new(),
            hashed: HashMap::default(),
            free: DENSE_FREE,
        }
    }

    /// The position of `key`'s tally.
    #[inline]
    fn get<Q>(&self, key: &Q) -> Option<u32>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + DenseKey + ?Sized,
    {
        if let Some(slot) = key
            .dense_index()
            .and_then(|i| usize::try_from(i).ok())
            .and_then(|i| self.dense.get(i))
        {
            return slot.checked_sub(1);
        }
        if self.hashed.is_empty() {
            return None;
        }
        self.hashed.get(key).copied()
    }

    /// Records that the tally of `key`, not yet here, is at `position`
    /// (also the count of customers before it).
    fn insert(&mut self, key: K, position: u32) {
        if let Some(i) = key.dense_index() {
            if i >= self.dense.len() as u64 {
                self.grow(i, u64::from(position) + 1);
            }
            if let Some(slot) = usize::try_from(i).ok().and_then(|i| self.dense.get_mut(i)) {
                *slot = position + 1;
                return;
            }
        }
        self.hashed.insert(key, position);
    }

    /// Makes room for index `i` in the dense table if `customers` allow,
    /// moving the hashed keys it then covers.
    #[cold]
    fn grow(&mut self, i: u64, customers: u64) {
        let cap = self.free.max(customers.saturating_mul(DENSE_PER_CUSTOMER));
        let Ok(old) = u64::try_from(self.dense.len()) else {
            return;
        };
        if i >= cap {
            return;
        }
        let len = old.saturating_mul(2).max(i + 1).min(cap);
        let Ok(len_usize) = usize::try_from(len) else {
            return;
        };
        self.dense.resize(len_usize, 0);
        if !self.hashed.is_empty() {
            let dense = &mut self.dense;
            self.hashed.retain(|k, position| {
                match k
                    .dense_index()
                    .filter(|j| (old..len).contains(j))
                    .and_then(|j| usize::try_from(j).ok())
                    .and_then(|j| dense.get_mut(j))
                {
                    Some(slot) => {
                        *slot = *position + 1;
                        false
                    }
                    None => true,
                }
            });
        }
    }
}

/// Summarises purchases arriving in any customer order (each customer's
/// purchases in date order). Memory: one tally per customer.
///
/// A customer's tally is found by its key's [`DenseKey`] index when the
/// key is a small number (no hashing), else by hash.
///
/// ```
/// use chrono::NaiveDate;
/// use rust_decimal::Decimal;
/// use crm_core::analytics::{PeriodUnit, SummaryBuilder, SummaryOptions};
///
/// let day = |d: &str| NaiveDate::parse_from_str(d, "%Y-%m-%d").expect("date");
/// let mut builder = SummaryBuilder::new(SummaryOptions::new(PeriodUnit::Week, Some(day("1997-09-30"))))?;
/// builder.add("c1", day("1997-01-01"), Decimal::new(2933, 2))?;
/// builder.add("c1", day("1997-01-18"), Decimal::new(2973, 2))?;
/// builder.add("c1", day("1997-08-02"), Decimal::new(1496, 2))?;
/// let report = builder.finish();
/// let s = &report.summaries[0];
/// assert_eq!((s.frequency, s.monetary_value), (2, Decimal::new(22345, 3)));
/// assert!((s.recency - 30.43).abs() < 0.005 && (s.t - 38.86).abs() < 0.005);
/// # Ok::<(), crm_core::Error>(())
/// ```
#[derive(Debug)]
pub struct SummaryBuilder<K> {
    options: SummaryOptions,
    bounds: Bounds,
    /// The customers in order of first appearance (the report's order)
    /// and, at the same positions, their tallies.
    order: Vec<K>,
    tallies: Vec<Tally>,
    /// At the same positions, the holdout totals; empty without a
    /// holdout period.
    holdout: Vec<HoldoutTally>,
    index: Index<K>,
    latest_day: Option<i32>,
    purchases: u64,
    ignored_after_end: u64,
    holdout_only: HashSet<K, FastState>,
}

impl<K: Hash + Eq + Clone + std::fmt::Debug + DenseKey> SummaryBuilder<K> {
    /// An empty builder. Fails if the calibration end is after the observation end.
    pub fn new(options: SummaryOptions) -> Result<Self> {
        options.validate()?;
        Ok(Self {
            options,
            bounds: Bounds::new(&options),
            order: Vec::new(),
            tallies: Vec::new(),
            holdout: Vec::new(),
            index: Index::new(),
            latest_day: None,
            purchases: 0,
            ignored_after_end: 0,
            holdout_only: HashSet::default(),
        })
    }

    /// An empty builder with room for `customers` customers, when the count
    /// is known (a store can tell): saves copying as it grows.
    pub fn with_capacity(options: SummaryOptions, customers: usize) -> Result<Self> {
        let mut builder = Self::new(options)?;
        builder.tallies.reserve(customers);
        if builder.bounds.calibration_end.is_some() {
            builder.holdout.reserve(customers);
        }
        builder.order.reserve(customers);
        builder.index.dense.reserve(customers);
        Ok(builder)
    }

    /// Adds a purchase.
    pub fn add_purchase(&mut self, purchase: &Purchase<K>) -> Result<()> {
        self.add(
            &purchase.customer,
            purchase.at.date_naive(),
            purchase.amount,
        )
    }

    /// Adds a purchase of `customer` on `date` (UTC) for `amount`, borrowing
    /// the key (a `&str` for `String` keys) so that known customers cost no
    /// allocation.
    pub fn add<Q>(&mut self, customer: &Q, date: NaiveDate, amount: Decimal) -> Result<()>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + DenseKey + ToOwned<Owned = K> + ?Sized,
    {
        check_amount(amount)?;
        self.purchases += 1;
        let day = day_number(date);
        let slot = self.bounds.slot(day);
        if let Slot::Ignored = slot {
            self.ignored_after_end += 1;
            return Ok(());
        }
        if self.latest_day.is_none_or(|l| day > l) {
            self.latest_day = Some(day);
        }
        let found = self.index.get(customer).map(|p| p as usize);
        if let Some(tally) = found.and_then(|p| self.tallies.get_mut(p)) {
            let mut holdout = found.and_then(|p| self.holdout.get_mut(p));
            let latest = tally.latest(holdout.as_deref());
            if day < latest {
                return Err(out_of_order(&customer.to_owned(), day, latest));
            }
            match (slot, holdout.as_mut()) {
                (Slot::Holdout, Some(h)) => h.add(day, amount),
                _ => tally.add_calibration(day, amount),
            }
        } else if let Slot::Holdout = slot {
            // First seen after the calibration end: excluded, but counted.
            if !self.holdout_only.contains(customer) {
                self.holdout_only.insert(customer.to_owned());
            }
        } else {
            let Ok(position) = u32::try_from(self.tallies.len()) else {
                return Err(Error::invalid(
                    "customers",
                    "max",
                    format!("a summary holds at most {} customers", u32::MAX),
                ));
            };
            let key = customer.to_owned();
            self.index.insert(key.clone(), position);
            self.order.push(key);
            self.tallies.push(Tally::new(day, amount));
            if self.bounds.calibration_end.is_some() {
                self.holdout.push(HoldoutTally::EMPTY);
            }
        }
        Ok(())
    }

    /// Reads the tallies of these customers so that adding their purchases
    /// right after finds them in cache. For input in date order, where
    /// consecutive purchases belong to unrelated customers, each
    /// [`add`](Self::add) otherwise waits for memory on its own; these
    /// lookups do not depend on each other, so the processor overlaps
    /// them. Call it on the next few hundred customers before adding their
    /// purchases; it changes nothing.
    pub fn warm<'q, Q>(&self, customers: impl IntoIterator<Item = &'q Q>)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + DenseKey + ?Sized + 'q,
    {
        warm(&self.tallies, &self.index, customers);
    }

    /// Customers seen so far (with a calibration purchase).
    pub fn customers(&self) -> usize {
        self.tallies.len()
    }

    /// The same builder with every customer key converted by `f`, for a
    /// reader that starts with compact keys (numbers) and meets one that
    /// only fits a wider type (text). `f` must keep distinct keys distinct.
    ///
    /// ```
    /// use chrono::NaiveDate;
    /// use rust_decimal::Decimal;
    /// use crm_core::analytics::{PeriodUnit, SummaryBuilder, SummaryOptions};
    ///
    /// let day = |d: &str| NaiveDate::parse_from_str(d, "%Y-%m-%d").expect("date");
    /// let mut numbers = SummaryBuilder::<u64>::new(SummaryOptions::new(PeriodUnit::Day, None))?;
    /// numbers.add(&7, day("2024-01-01"), Decimal::ONE)?;
    /// let mut text = numbers.map_keys(|k| k.to_string());
    /// text.add("7", day("2024-01-03"), Decimal::ONE)?;
    /// text.add("A-1", day("2024-01-03"), Decimal::ONE)?;
    /// let report = text.finish();
    /// assert_eq!(report.summaries.len(), 2);
    /// assert_eq!((report.summaries[0].customer.as_str(), report.summaries[0].frequency), ("7", 1));
    /// # Ok::<(), crm_core::Error>(())
    /// ```
    pub fn map_keys<K2, F>(self, mut f: F) -> SummaryBuilder<K2>
    where
        K2: Hash + Eq + Clone + std::fmt::Debug + DenseKey,
        F: FnMut(K) -> K2,
    {
        let mut index = Index::new();
        let mut order = Vec::with_capacity(self.order.len());
        for (position, k) in (0u32..).zip(self.order) {
            let k2 = f(k);
            index.insert(k2.clone(), position);
            order.push(k2);
        }
        SummaryBuilder {
            options: self.options,
            bounds: self.bounds,
            order,
            tallies: self.tallies,
            holdout: self.holdout,
            index,
            latest_day: self.latest_day,
            purchases: self.purchases,
            ignored_after_end: self.ignored_after_end,
            holdout_only: self.holdout_only.into_iter().map(f).collect(),
        }
    }

    /// [`finish`](Self::finish) with the summaries computed on every core
    /// (from 50,000 customers; the same report). Each summary divides
    /// exact decimals, which adds up at a million customers.
    pub fn finish_parallel(self) -> SummaryReport<K>
    where
        K: Send + Sync,
    {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
        if threads < 2 || self.order.len() < 50_000 {
            return self.finish();
        }
        let (head, order, tallies, holdout) = self.take_order();
        let Some(end) = head.end else {
            return head.report(Vec::new());
        };
        let holdout = if holdout.is_empty() {
            (0..threads).map(|_| Vec::new()).collect()
        } else {
            runs(holdout, threads)
        };
        let work: Vec<_> = runs(order, threads)
            .into_iter()
            .zip(runs(tallies, threads))
            .zip(holdout)
            .collect();
        let summaries = concat(on_threads(work, |((keys, tallies), holdout)| {
            head.summaries(end, keys, &tallies, &holdout)
        }));
        head.report(summaries)
    }

    /// The report of a stream of purchases read in parts, computed on
    /// every core: `parts[i]` was given the purchases that follow those of
    /// `parts[i - 1]` (a file cut into consecutive byte ranges, each
    /// summarised on its own thread). The report is the one a single
    /// builder given every part in turn would make: the same summaries, in
    /// order of first appearance, and the same counts.
    ///
    /// Fails when the parts' options differ, when there is a calibration
    /// end and more than one part (a customer first seen in a later part's
    /// holdout period leaves no tally there), or when a customer's
    /// purchases in a part start before its last one in an earlier part
    /// (not in date order per customer: summarise the stream as one to
    /// find where).
    ///
    /// ```
    /// use chrono::NaiveDate;
    /// use rust_decimal::Decimal;
    /// use crm_core::analytics::{PeriodUnit, SummaryBuilder, SummaryOptions};
    ///
    /// let day = |d: &str| NaiveDate::parse_from_str(d, "%Y-%m-%d").expect("date");
    /// let options = SummaryOptions::new(PeriodUnit::Day, Some(day("2024-01-31")));
    /// let (mut first, mut later) = (SummaryBuilder::new(options)?, SummaryBuilder::new(options)?);
    /// first.add(&7u64, day("2024-01-01"), Decimal::ONE)?;
    /// later.add(&7u64, day("2024-01-03"), Decimal::TWO)?;
    /// later.add(&8u64, day("2024-01-03"), Decimal::ONE)?;
    /// let report = SummaryBuilder::finish_parts_parallel(vec![first, later])?;
    /// assert_eq!(report.summaries.len(), 2);
    /// assert_eq!((report.summaries[0].frequency, report.summaries[0].monetary_value), (1, Decimal::TWO));
    /// # Ok::<(), crm_core::Error>(())
    /// ```
    pub fn finish_parts_parallel(parts: Vec<Self>) -> Result<SummaryReport<K>>
    where
        K: Send + Sync,
    {
        let Some(first) = parts.first() else {
            return Err(Error::invalid(
                "parts",
                "required",
                "no summary builder to finish",
            ));
        };
        if parts.iter().any(|b| b.options != first.options) {
            return Err(Error::invalid(
                "options",
                "mismatch",
                "summary builders with different options cannot be joined",
            ));
        }
        if first.bounds.calibration_end.is_some() && parts.len() > 1 {
            return Err(Error::invalid(
                "calibration_end",
                "unsupported",
                "summary builders with a calibration end cannot be joined",
            ));
        }
        let (mut latest_day, mut purchases, mut ignored_after_end) = (None, 0, 0);
        for b in &parts {
            latest_day = latest_day.max(b.latest_day);
            purchases += b.purchases;
            ignored_after_end += b.ignored_after_end;
        }
        let head = Finishing::new(
            first.options,
            &first.bounds,
            latest_day,
            purchases,
            ignored_after_end,
            first.holdout_only.len() as u64,
        );
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
        // Every part keeps its tallies and index (later parts look them
        // up); its customers go out in `threads` runs: thread t takes run
        // t of every part, each run with the position of its first key.
        let mut work: Vec<Vec<(usize, usize, Vec<K>)>> = (0..threads).map(|_| Vec::new()).collect();
        // At most every key of every part: the first run's list has room
        // for them all, so the others join it without moving it (the room
        // it does not use is never touched).
        let all_keys: usize = parts.iter().map(|p| p.order.len()).sum();
        let mut tables = Vec::with_capacity(parts.len());
        for (i, part) in parts.into_iter().enumerate() {
            let mut start = 0;
            for (t, run) in runs(part.order, threads).into_iter().enumerate() {
                let len = run.len();
                work[t].push((i, start, run));
                start += len;
            }
            tables.push((part.tallies, part.holdout, part.index));
        }
        let Some(end) = head.end else {
            return Ok(head.report(Vec::new()));
        };
        let (unit, holdout_end) = (head.options.unit, head.holdout_end);
        let tables = &tables;
        // The summary of a customer first seen in part `i`, whose tally
        // there is at `position`: its tallies of parts `i..` in turn
        // (`None` where an earlier part saw it first).
        let summarise =
            move |i: usize, position: usize, k: K| -> Result<Option<CustomerSummary<K>>> {
                if tables[..i]
                    .iter()
                    .any(|(_, _, index)| index.get(&k).is_some())
                {
                    return Ok(None);
                }
                let (tallies, holdout, _) = &tables[i];
                let Some(mut tally) = tallies.get(position).cloned() else {
                    return Ok(None);
                };
                // Joined parts have no holdout period: only a part alone
                // has holdout totals.
                let holdout = holdout.get(position);
                for (tallies, _, index) in &tables[i + 1..] {
                    if let Some(b) = index.get(&k).and_then(|p| tallies.get(p as usize)) {
                        if b.first < tally.last {
                            return Err(out_of_order(&k, b.first, tally.last));
                        }
                        tally.append(b);
                    }
                }
                Ok(Some(tally.summary(holdout, k, unit, end, holdout_end)))
            };
        let run = move |mine: Vec<(usize, usize, Vec<K>)>| -> Result<Vec<(usize, Vec<CustomerSummary<K>>)>> {
            mine.into_iter()
                .map(|(i, start, keys)| {
                    let first = i == 0 && start == 0;
                    let mut out = Vec::with_capacity(if first { all_keys } else { keys.len() });
                    let mut keys = keys.into_iter().peekable();
                    let mut window = Vec::with_capacity(WARM_KEYS);
                    let mut position = start;
                    while keys.peek().is_some() {
                        window.clear();
                        window.extend(keys.by_ref().take(WARM_KEYS));
                        // The later parts' tallies of these customers lie
                        // anywhere: ask for them all before using any.
                        for (tallies, _, index) in &tables[i + 1..] {
                            warm(tallies, index, &window);
                        }
                        for k in window.drain(..) {
                            if let Some(s) = summarise(i, position, k)? {
                                out.push(s);
                            }
                            position += 1;
                        }
                    }
                    Ok((i, out))
                })
                .collect()
        };
        let done = on_threads(work, run);
        // Part by part, run by run: thread t holds run t of every part.
        let mut grid: Vec<Vec<Vec<CustomerSummary<K>>>> =
            (0..tables.len()).map(|_| Vec::new()).collect();
        for thread in done {
            for (i, out) in thread? {
                grid[i].push(out);
            }
        }
        Ok(head.report(concat(grid.into_iter().flatten().collect())))
    }

    /// Splits the builder into what `finish` needs, the customer order
    /// and their tallies.
    fn take_order(self) -> (Finishing, Vec<K>, Vec<Tally>, Vec<HoldoutTally>) {
        (
            Finishing::new(
                self.options,
                &self.bounds,
                self.latest_day,
                self.purchases,
                self.ignored_after_end,
                self.holdout_only.len() as u64,
            ),
            self.order,
            self.tallies,
            self.holdout,
        )
    }

    /// The summaries, in order of each customer's first appearance.
    pub fn finish(self) -> SummaryReport<K> {
        let (head, order, tallies, holdout) = self.take_order();
        let summaries = match head.end {
            Some(end) => head.summaries(end, order, &tallies, &holdout),
            None => Vec::new(),
        };
        head.report(summaries)
    }
}

/// `items` cut into at most `n` runs of consecutive items, in order (two
/// lists of the same length are cut at the same places).
fn runs<T>(mut items: Vec<T>, n: usize) -> Vec<Vec<T>> {
    let len = items.len().div_ceil(n.max(1)).max(1);
    let mut runs = Vec::with_capacity(n);
    while items.len() > len {
        let rest = items.split_off(len);
        runs.push(std::mem::replace(&mut items, rest));
    }
    runs.push(items);
    runs
}

/// Keys looked up ahead by [`warm`] when parts are joined.
const WARM_KEYS: usize = 64;

/// Reads the tallies of `customers` so that the processor fetches them
/// from memory all at once (the lookups do not depend on each other).
#[inline]
fn warm<'q, K, Q>(tallies: &[Tally], index: &Index<K>, customers: impl IntoIterator<Item = &'q Q>)
where
    K: Borrow<Q> + Hash + Eq + DenseKey,
    Q: Hash + Eq + DenseKey + ?Sized + 'q,
{
    let mut touched = 0i32;
    for customer in customers {
        if let Some(tally) = index.get(customer).and_then(|p| tallies.get(p as usize)) {
            // A tally may span two cache lines: touch both ends.
            touched ^= tally.last ^ tally.total.scale() as i32;
        }
    }
    std::hint::black_box(touched);
}

/// The lists one after the other, in the first one's memory (which should
/// have room for them all: growing it would move it with some allocators),
/// so only the later lists are copied; the room left over is given back.
fn concat<T>(lists: Vec<Vec<T>>) -> Vec<T> {
    let total: usize = lists.iter().map(Vec::len).sum();
    let mut lists = lists.into_iter();
    let mut all = lists.next().unwrap_or_default();
    all.reserve_exact(total - all.len());
    for list in lists {
        all.extend(list);
    }
    all.shrink_to_fit();
    all
}

/// `f` of every item of `work`, the first on this thread and each other on
/// a thread of its own; the results in order. A panic in a thread is
/// re-raised here, as it would have been without the thread.
fn on_threads<W: Send, R: Send>(work: Vec<W>, f: impl Fn(W) -> R + Sync) -> Vec<R> {
    let f = &f;
    std::thread::scope(|scope| {
        let mut work = work.into_iter();
        let first = work.next();
        let others: Vec<_> = work.map(|w| scope.spawn(move || f(w))).collect();
        let mut done = Vec::with_capacity(others.len() + 1);
        done.extend(first.map(f));
        for handle in others {
            done.push(
                handle
                    .join()
                    .unwrap_or_else(|e| std::panic::resume_unwind(e)),
            );
        }
        done
    })
}

/// A builder's state once no purchase can come: what its report needs
/// besides the tallies.
struct Finishing {
    options: SummaryOptions,
    /// End of the summarised period (calibration end or observation end).
    end: Option<i32>,
    observation_end: Option<i32>,
    holdout_end: Option<i32>,
    purchases: u64,
    ignored_after_end: u64,
    holdout_only_customers: u64,
}

impl Finishing {
    fn new(
        options: SummaryOptions,
        bounds: &Bounds,
        latest_day: Option<i32>,
        purchases: u64,
        ignored_after_end: u64,
        holdout_only_customers: u64,
    ) -> Self {
        let observation_end = bounds.observation_end.or(latest_day);
        Self {
            options,
            end: bounds.calibration_end.or(observation_end),
            observation_end,
            holdout_end: bounds.calibration_end.and(observation_end),
            purchases,
            ignored_after_end,
            holdout_only_customers,
        }
    }

    /// The summaries of `keys` with their `tallies` and `holdout` totals
    /// (at the same positions; no holdout totals without a holdout
    /// period), for a period ending on day `end`.
    fn summaries<K>(
        &self,
        end: i32,
        keys: Vec<K>,
        tallies: &[Tally],
        holdout: &[HoldoutTally],
    ) -> Vec<CustomerSummary<K>> {
        keys.into_iter()
            .zip(tallies)
            .enumerate()
            .map(|(i, (k, tally))| {
                tally.summary(holdout.get(i), k, self.options.unit, end, self.holdout_end)
            })
            .collect()
    }

    fn report<K>(self, summaries: Vec<CustomerSummary<K>>) -> SummaryReport<K> {
        SummaryReport {
            summaries,
            unit: self.options.unit,
            observation_end: self
                .observation_end
                .and_then(NaiveDate::from_num_days_from_ce_opt),
            calibration_end: self.options.calibration_end,
            purchases: self.purchases,
            ignored_after_end: self.ignored_after_end,
            holdout_only_customers: self.holdout_only_customers,
        }
    }
}

/// Summarises purchases grouped by customer (all purchases of a customer
/// together, in date order), emitting each summary as soon as the next
/// customer starts: constant memory, for streaming from a store.
///
/// The observation end must be known up front. A customer whose purchases
/// are not contiguous is summarised once per run of purchases, so the input
/// must really be grouped (e.g. `ORDER BY customer_id, purchased_at`).
#[derive(Debug)]
pub struct SortedSummarizer<K> {
    unit: PeriodUnit,
    bounds: Bounds,
    end: i32,
    holdout_end: Option<i32>,
    current: Option<(K, Tally, HoldoutTally)>,
}

impl<K: PartialEq + std::fmt::Debug> SortedSummarizer<K> {
    /// A summariser; `options.observation_end` is required.
    pub fn new(options: SummaryOptions) -> Result<Self> {
        options.validate()?;
        let observation_end = options.observation_end.ok_or_else(|| {
            Error::invalid(
                "observation_end",
                "required",
                "streaming summaries need the observation end up front",
            )
        })?;
        let bounds = Bounds::new(&options);
        let obs = day_number(observation_end);
        Ok(Self {
            unit: options.unit,
            bounds,
            end: bounds.calibration_end.unwrap_or(obs),
            holdout_end: bounds.calibration_end.map(|_| obs),
            current: None,
        })
    }

    /// Adds a purchase; returns the previous customer's summary when this
    /// purchase starts a new customer.
    pub fn push(&mut self, purchase: Purchase<K>) -> Result<Option<CustomerSummary<K>>> {
        check_amount(purchase.amount)?;
        let day = day_number(purchase.at.date_naive());
        let slot = self.bounds.slot(day);
        if let Slot::Ignored = slot {
            return Ok(None);
        }
        if let Some((key, tally, holdout)) = self.current.as_mut()
            && *key == purchase.customer
        {
            let latest = tally.latest(Some(holdout));
            if day < latest {
                return Err(out_of_order(key, day, latest));
            }
            match slot {
                Slot::Holdout => holdout.add(day, purchase.amount),
                _ => tally.add_calibration(day, purchase.amount),
            }
            return Ok(None);
        }
        let done = self.finish();
        if let Slot::Calibration = slot {
            self.current = Some((
                purchase.customer,
                Tally::new(day, purchase.amount),
                HoldoutTally::EMPTY,
            ));
        }
        Ok(done)
    }

    /// The last customer's summary, if any.
    pub fn finish(&mut self) -> Option<CustomerSummary<K>> {
        self.current
            .take()
            .map(|(k, t, h)| t.summary(Some(&h), k, self.unit, self.end, self.holdout_end))
    }
}

/// Adapts an iterator of purchases grouped by customer into an iterator of
/// summaries (see [`SortedSummarizer`]).
pub fn summarize_sorted<K, I>(
    options: SummaryOptions,
    purchases: I,
) -> Result<impl Iterator<Item = Result<CustomerSummary<K>>>>
where
    K: PartialEq + std::fmt::Debug,
    I: IntoIterator<Item = Purchase<K>>,
{
    let mut summarizer = SortedSummarizer::new(options)?;
    let mut purchases = purchases.into_iter();
    let mut done = false;
    Ok(std::iter::from_fn(move || {
        if done {
            return None;
        }
        for p in purchases.by_ref() {
            match summarizer.push(p) {
                Ok(Some(s)) => return Some(Ok(s)),
                Ok(None) => {}
                Err(e) => {
                    done = true;
                    return Some(Err(e));
                }
            }
        }
        done = true;
        summarizer.finish().map(Ok)
    }))
}

/// Per-customer tallies of integer-coded purchases bucketed into whole
/// periods: the columnar form behind data-frame APIs (the Python package's
/// `summary_data_from_transaction_data`), where customers arrive as dense
/// codes `0..customers` and times as period numbers (days, weeks or months
/// since an epoch). The definitions are those of [`CustomerSummary`]:
/// purchases in the same period are one purchase whose amount is their sum,
/// and the first period's amount is not a repeat purchase. Amounts are
/// `f64`, as in a data frame, and may be negative (returns); the exact
/// [`Decimal`] path is [`SummaryBuilder`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PeriodTallies {
    /// Distinct purchase periods per customer; 0 for a customer without
    /// purchases up to the end.
    pub periods: Vec<u32>,
    /// First purchase period.
    pub first: Vec<i64>,
    /// Last purchase period.
    pub last: Vec<i64>,
    /// Sum of the amounts after the first period (the repeat purchases).
    pub repeat_amount: Vec<f64>,
    /// Purchases (rows) counted.
    pub purchases: Vec<u32>,
    /// Sum of all amounts counted.
    pub total_amount: Vec<f64>,
}

impl PeriodTallies {
    /// Tallies the purchases `(codes[i], periods[i], amounts[i])`, ignoring
    /// those after period `end`. Rows may come in any order: when each
    /// customer's rows are in period order (a date-ordered table) it takes
    /// one pass, otherwise it first sorts the rows by customer and period.
    ///
    /// Errors name the failing column and row: columns of different
    /// lengths, a code `>= customers`, an amount that is not finite.
    pub fn tally(
        customers: usize,
        codes: &[u32],
        periods: &[i64],
        amounts: Option<&[f64]>,
        end: Option<i64>,
    ) -> Result<Self> {
        let n = codes.len();
        let mut errors = crate::error::FieldErrors::new();
        if periods.len() != n {
            errors.push(
                "periods",
                "length",
                format!("{} periods for {n} customer codes", periods.len()),
            );
        }
        if let Some(a) = amounts
            && a.len() != n
        {
            errors.push(
                "amounts",
                "length",
                format!("{} amounts for {n} customer codes", a.len()),
            );
        }
        if let Some(i) = codes.iter().position(|&c| c as usize >= customers) {
            errors.push(
                "customer_id",
                "range",
                format!("row {i}: customer code {} >= {customers}", codes[i]),
            );
        }
        if let Some(a) = amounts
            && let Some(i) = a.iter().position(|v| !v.is_finite())
        {
            errors.push(
                "monetary_value",
                "finite",
                format!("row {i}: amount {} is not a finite number", a[i]),
            );
        }
        errors.finish()?;
        Ok(Self::tally_rows(
            customers,
            n,
            |i| (codes[i], periods[i]),
            amounts,
            end,
        ))
    }

    /// [`tally`](Self::tally) of `n` rows whose customer code and period
    /// `row(i)` computes (from ids and timestamps, say), without
    /// materialising the two columns. The caller guarantees codes
    /// `< customers` (a larger code panics) and finite amounts of length `n`.
    pub fn tally_rows(
        customers: usize,
        n: usize,
        row: impl Fn(usize) -> (u32, i64),
        amounts: Option<&[f64]>,
        end: Option<i64>,
    ) -> Self {
        let mut slots = vec![PeriodSlot::default(); customers];
        if !add_rows(&mut slots, 0..n, &row, amounts, end) {
            // Some customer's rows are out of period order: sort (stably,
            // so same-period amounts add up in input order) and start over.
            let mut order: Vec<usize> = (0..n).collect();
            order.sort_by_key(|&i| row(i));
            slots = vec![PeriodSlot::default(); customers];
            add_rows(&mut slots, order.into_iter(), &row, amounts, end);
        }
        Self {
            periods: slots.iter().map(|s| s.periods).collect(),
            first: slots.iter().map(|s| s.first).collect(),
            last: slots.iter().map(|s| s.last).collect(),
            repeat_amount: slots.iter().map(|s| s.repeat_amount).collect(),
            purchases: slots.iter().map(|s| s.purchases).collect(),
            total_amount: slots.iter().map(|s| s.total_amount).collect(),
        }
    }
}

/// One customer's running tally: one cache line, so a row costs one memory
/// access however the customers are spread.
#[derive(Debug, Clone, Copy, Default)]
struct PeriodSlot {
    periods: u32,
    purchases: u32,
    first: i64,
    last: i64,
    repeat_amount: f64,
    total_amount: f64,
}

/// Adds rows in `order`; `false` as soon as a customer's period goes
/// backwards (the tallies are then incomplete).
fn add_rows(
    slots: &mut [PeriodSlot],
    order: impl Iterator<Item = usize>,
    row: &impl Fn(usize) -> (u32, i64),
    amounts: Option<&[f64]>,
    end: Option<i64>,
) -> bool {
    for i in order {
        let (code, period) = row(i);
        if end.is_some_and(|e| period > e) {
            continue;
        }
        let slot = &mut slots[code as usize];
        let amount = amounts.map_or(0.0, |a| a[i]);
        if slot.periods == 0 {
            slot.periods = 1;
            slot.first = period;
            slot.last = period;
        } else if period < slot.last {
            return false;
        } else if period > slot.last {
            slot.periods = slot.periods.saturating_add(1);
            slot.last = period;
        }
        if period != slot.first {
            slot.repeat_amount += amount;
        }
        slot.purchases = slot.purchases.saturating_add(1);
        slot.total_amount += amount;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
    }

    fn cents(c: i64) -> Decimal {
        Decimal::new(c, 2)
    }

    #[test]
    fn finishing_on_every_core_gives_the_same_report() {
        let options = SummaryOptions::new(PeriodUnit::Week, Some(d("2025-06-30")))
            .with_calibration_end(d("2025-03-31"));
        let build = || {
            let mut b = SummaryBuilder::<u64>::new(options).expect("options");
            let start = d("2024-01-01");
            // 60,000 customers in date order, ids interleaved, some
            // first seen in the holdout.
            for day in 0..540u64 {
                let date = start + chrono::Days::new(day);
                for k in 0..400u64 {
                    let customer = (k * 7_919 + day * 13) % 60_000;
                    b.add(
                        &customer,
                        date,
                        Decimal::new((customer % 977) as i64 + 1, 2),
                    )
                    .expect("in order");
                }
            }
            b
        };
        let sequential = build().finish();
        let parallel = build().finish_parallel();
        assert!(sequential.summaries.len() > 50_000);
        assert!(sequential.holdout_only_customers < 60_000);
        assert_eq!(sequential, parallel);
    }

    /// A stream cut into parts anywhere (even inside a day, or with a part
    /// holding nothing) and summarised part by part gives the report of the
    /// whole stream; a customer out of date order across parts is refused;
    /// a calibration end is refused.
    #[test]
    fn parts_read_apart_give_the_report_of_the_whole() {
        let options = SummaryOptions::new(PeriodUnit::Week, Some(d("2025-03-31")));
        let start = d("2024-01-01");
        // 20,000 customers in date order, ids interleaved, several purchases
        // a day for some, and purchases after the observation end.
        let mut purchases = Vec::new();
        for day in 0..480u64 {
            let date = start + chrono::Days::new(day);
            for k in 0..90u64 {
                let customer = (k * 7_919 + day * 13) % 20_000 + (k % 3);
                purchases.push((customer, date, Decimal::new((customer % 977) as i64 + 1, 2)));
            }
        }
        let builder = |rows: &[(u64, NaiveDate, Decimal)]| {
            let mut b = SummaryBuilder::<u64>::new(options).expect("options");
            for (c, date, amount) in rows {
                b.add(c, *date, *amount).expect("in order");
            }
            b
        };
        let whole = builder(&purchases).finish();
        assert!(whole.summaries.len() > 15_000 && whole.ignored_after_end > 0);
        let n = purchases.len();
        for cuts in [
            vec![n / 2],
            vec![1, n / 3, n / 3 + 45, n - 1],
            vec![0, 0, n],
            vec![n / 7, 2 * n / 7, 3 * n / 7, 4 * n / 7, 5 * n / 7],
        ] {
            let mut parts = Vec::new();
            let mut from = 0;
            for cut in cuts.iter().copied().chain([n]) {
                parts.push(builder(&purchases[from..cut]));
                from = cut;
            }
            let joined = SummaryBuilder::finish_parts_parallel(parts).expect("joined");
            assert_eq!(joined, whole, "cut at {cuts:?}");
        }

        // The last customer of the first half buys again, on the first day.
        let late = builder(&[(purchases[n / 2 - 1].0, start, Decimal::ONE)]);
        let joined =
            SummaryBuilder::finish_parts_parallel(vec![builder(&purchases[..n / 2]), late]);
        let rule = joined.err().map(|e| e.field_errors()[0].rule.clone());
        assert_eq!(rule.as_deref(), Some("order"));

        let holdout = options.with_calibration_end(d("2025-01-31"));
        let parts = vec![
            SummaryBuilder::<u64>::new(holdout).expect("options"),
            SummaryBuilder::<u64>::new(holdout).expect("options"),
        ];
        assert!(SummaryBuilder::finish_parts_parallel(parts).is_err());
    }

    #[test]
    fn numeric_keys_indexed_or_hashed_give_the_report_of_their_text() {
        let options = SummaryOptions::new(PeriodUnit::Day, Some(d("2024-12-31")))
            .with_calibration_end(d("2024-10-31"));
        let start = d("2024-01-01");
        // Ids far beyond the dense table at first (hashed, then moved in as
        // customers grow), sparse ids (always hashed), small ids, and ids
        // first seen in the holdout period.
        let mut purchases = Vec::new();
        for day in 0..366u64 {
            let date = start + chrono::Days::new(day);
            for k in 0..60u64 {
                let n = (k * 7_919 + day * 131) % 30_000;
                let customer = match n % 5 {
                    0 => 1_000_000_000_000 + n * 977,
                    1 => n + 60_000,
                    _ => n,
                };
                purchases.push((customer, date, Decimal::new((n % 911) as i64 + 1, 2)));
            }
            if day > 310 {
                purchases.push((40_000 + day, date, Decimal::ONE));
            }
        }
        let mut numbers = SummaryBuilder::<u64>::new(options).expect("options");
        // A table that grows freely only to 65,536 slots, as it once did:
        // ids past it are hashed first and moved in as customers come.
        numbers.index.free = 1 << 16;
        let mut text = SummaryBuilder::<String>::new(options).expect("options");
        for (c, date, amount) in &purchases {
            numbers.add(c, *date, *amount).expect("in order");
            text.add(c.to_string().as_str(), *date, *amount)
                .expect("in order");
        }
        assert!(numbers.index.dense.len() > 60_000, "ids were indexed");
        assert!(!numbers.index.hashed.is_empty(), "sparse ids were hashed");
        let text = text.finish();
        let numbers = numbers.finish();
        assert!(text.summaries.len() > 10_000 && text.holdout_only_customers > 0);
        assert_eq!(numbers.summaries.len(), text.summaries.len());
        for (n, t) in numbers.summaries.iter().zip(&text.summaries) {
            assert_eq!(n.customer.to_string(), t.customer);
            assert_eq!(
                (
                    n.frequency,
                    n.recency,
                    n.t,
                    n.monetary_value,
                    n.total_spend,
                    n.holdout.as_deref().copied()
                ),
                (
                    t.frequency,
                    t.recency,
                    t.t,
                    t.monetary_value,
                    t.total_spend,
                    t.holdout.as_deref().copied()
                )
            );
        }
        assert_eq!(
            (
                numbers.purchases,
                numbers.ignored_after_end,
                numbers.holdout_only_customers
            ),
            (
                text.purchases,
                text.ignored_after_end,
                text.holdout_only_customers
            )
        );

        // A late purchase of a customer found by index is still refused.
        let mut b = SummaryBuilder::<i64>::new(options).expect("options");
        b.add(&5, d("2024-02-01"), Decimal::ONE).expect("first");
        assert!(b.add(&5, d("2024-01-01"), Decimal::ONE).is_err());
        // Negative ids have no index: hashed, and found again.
        b.add(&-5, d("2024-02-01"), Decimal::ONE).expect("first");
        b.add(&-5, d("2024-02-03"), Decimal::ONE).expect("repeat");
        let report = b.finish();
        assert_eq!(report.summaries.len(), 2);
        assert_eq!(report.summaries[1].frequency, 1);
    }

    #[test]
    fn same_day_purchases_merge_and_first_purchase_is_not_monetary() {
        let mut b =
            SummaryBuilder::new(SummaryOptions::new(PeriodUnit::Day, Some(d("2024-01-31"))))
                .expect("options");
        b.add("a", d("2024-01-01"), cents(1000)).expect("ok");
        b.add("a", d("2024-01-01"), cents(500)).expect("ok");
        b.add("a", d("2024-01-11"), cents(300)).expect("ok");
        b.add("a", d("2024-01-11"), cents(100)).expect("ok");
        b.add("a", d("2024-01-21"), cents(200)).expect("ok");
        b.add("a", d("2024-02-05"), cents(999))
            .expect("after end is ignored");
        let r = b.finish();
        let s = &r.summaries[0];
        assert_eq!(s.frequency, 2);
        assert_eq!(s.recency, 20.0);
        assert_eq!(s.t, 30.0);
        assert_eq!(s.monetary_value, cents(300));
        assert_eq!(s.total_spend, cents(2100));
        assert_eq!(r.ignored_after_end, 1);
    }

    #[test]
    fn one_time_buyer_has_zero_recency_and_monetary() {
        let mut b = SummaryBuilder::new(SummaryOptions::new(PeriodUnit::Week, None)).expect("ok");
        b.add("a", d("2024-01-01"), cents(1000)).expect("ok");
        b.add("b", d("2024-01-15"), cents(1000)).expect("ok");
        let r = b.finish();
        assert_eq!(r.observation_end, Some(d("2024-01-15")));
        let a = &r.summaries[0];
        assert_eq!((a.frequency, a.recency, a.t), (0, 0.0, 2.0));
        assert_eq!(a.monetary_value, Decimal::ZERO);
        assert_eq!(r.summaries[1].t, 0.0);
    }

    #[test]
    fn calibration_and_holdout() {
        let opts = SummaryOptions::new(PeriodUnit::Day, Some(d("2024-03-01")))
            .with_calibration_end(d("2024-02-01"));
        let mut b = SummaryBuilder::new(opts).expect("ok");
        b.add("a", d("2024-01-01"), cents(100)).expect("ok");
        b.add("a", d("2024-01-10"), cents(200)).expect("ok");
        b.add("a", d("2024-02-10"), cents(300)).expect("ok");
        b.add("a", d("2024-02-10"), cents(300)).expect("ok");
        b.add("a", d("2024-02-20"), cents(400)).expect("ok");
        b.add("late", d("2024-02-15"), cents(100)).expect("ok");
        let r = b.finish();
        assert_eq!(r.summaries.len(), 1);
        assert_eq!(r.holdout_only_customers, 1);
        let s = &r.summaries[0];
        assert_eq!((s.frequency, s.recency, s.t), (1, 9.0, 31.0));
        let h = s.holdout.as_deref().expect("holdout");
        assert_eq!(h.frequency, 2);
        assert_eq!(h.monetary_value, cents(500));
        assert_eq!(h.duration, 29.0);
    }

    #[test]
    fn rejects_out_of_order_and_negative_amounts() {
        let mut b = SummaryBuilder::new(SummaryOptions::new(PeriodUnit::Day, None)).expect("ok");
        b.add("a", d("2024-01-05"), cents(100)).expect("ok");
        let err = b.add("a", d("2024-01-04"), cents(100)).expect_err("order");
        assert!(err.to_string().contains("not in date order"), "{err}");
        let err = b
            .add("a", d("2024-01-06"), cents(-1))
            .expect_err("negative");
        assert_eq!(err.field_errors()[0].field, "amount");
        let bad = SummaryOptions::new(PeriodUnit::Day, Some(d("2024-01-01")))
            .with_calibration_end(d("2024-02-01"));
        assert!(SummaryBuilder::<String>::new(bad).is_err());
    }

    #[test]
    fn sorted_stream_matches_builder() {
        let opts = SummaryOptions::new(PeriodUnit::Week, Some(d("2024-06-30")));
        let purchases = vec![
            Purchase::on(1u32, d("2024-01-01"), cents(100)),
            Purchase::on(1, d("2024-01-01"), cents(50)),
            Purchase::on(1, d("2024-02-01"), cents(70)),
            Purchase::on(2, d("2024-03-01"), cents(10)),
            Purchase::on(3, d("2024-01-15"), cents(10)),
            Purchase::on(3, d("2024-07-15"), cents(10)),
        ];
        let streamed: Vec<_> = summarize_sorted(opts, purchases.clone())
            .expect("options")
            .collect::<Result<_>>()
            .expect("sorted");
        let mut b = SummaryBuilder::new(opts).expect("ok");
        for p in &purchases {
            b.add_purchase(p).expect("ok");
        }
        assert_eq!(streamed, b.finish().summaries);
        assert_eq!(streamed.len(), 3);
    }

    #[test]
    fn period_tallies_merge_periods_and_ignore_row_order() {
        // (code, period, amount): customer 0 buys twice in period 3.
        let rows = [
            (1u32, 2i64, 4.0),
            (0, 3, 10.0),
            (0, 3, 5.0),
            (1, 5, 6.0),
            (0, 7, 2.0),
            (0, 9, 8.0),
            (1, 12, 100.0),
        ];
        let codes: Vec<u32> = rows.iter().map(|r| r.0).collect();
        let periods: Vec<i64> = rows.iter().map(|r| r.1).collect();
        let amounts: Vec<f64> = rows.iter().map(|r| r.2).collect();
        let t = PeriodTallies::tally(3, &codes, &periods, Some(&amounts), Some(10)).expect("tally");
        assert_eq!(t.periods, vec![3, 2, 0]);
        assert_eq!((t.first[0], t.last[0]), (3, 9));
        assert_eq!(t.repeat_amount, vec![10.0, 6.0, 0.0]);
        assert_eq!(t.total_amount, vec![25.0, 10.0, 0.0]);
        assert_eq!(t.purchases, vec![4, 2, 0]);
        // The same rows backwards take the sorting path, same result.
        fn rev<T: Copy>(v: &[T]) -> Vec<T> {
            v.iter().rev().copied().collect()
        }
        let (c, p, a) = (rev(&codes), rev(&periods), rev(&amounts));
        let back = PeriodTallies::tally(3, &c, &p, Some(&a), Some(10)).expect("tally");
        assert_eq!(back, t);
    }

    #[test]
    fn period_tallies_report_every_bad_column() {
        let err = PeriodTallies::tally(1, &[0, 1], &[1], Some(&[f64::NAN, 1.0]), None)
            .expect_err("bad input");
        let fields: Vec<&str> = err
            .field_errors()
            .iter()
            .map(|f| f.field.as_str())
            .collect();
        assert_eq!(fields, ["periods", "customer_id", "monetary_value"]);
    }
}
