//! The load-benchmark data set: `n` customers and `m` purchases, generated
//! deterministically from a seed, with random access (customer `i`, the
//! purchases of batch `b`) so that a cut-off load can resume anywhere
//! without replaying a random stream from the start.
//!
//! - Customers have realistic Indonesian names (first name + family name,
//!   some single names as is common in Indonesia), unique emails and valid
//!   unique mobile numbers, types mostly retail, a city, some a birthday
//!   and tags. A name prefix such as `"Budi Sa"` matches a few dozen customers
//!   in a million ([`search_prefix`]).
//! - Purchases are spread over the customers with a skewed number per
//!   customer (some never buy, a few buy weekly) and over the year before
//!   [`Dataset::until`], in date order per customer, with amounts around
//!   Rp 150,000. Each customer buys mostly at a home store. Receipt ids are
//!   unique (`R` + the purchase's position in the data set).

use chrono::{DateTime, Duration, NaiveDate, Utc};
use crm_core::loyalty::NewPurchase;
use crm_core::{Address, CustomerId, CustomerType, NewCustomer};
use rust_decimal::Decimal;

const FIRST: &[&str] = &[
    "Adi", "Agus", "Ahmad", "Aisyah", "Andi", "Angga", "Anisa", "Arief", "Aryo", "Ayu", "Bambang",
    "Bayu", "Benny", "Budi", "Cahya", "Citra", "Dani", "Dedi", "Dewi", "Dian", "Dimas", "Dina",
    "Eka", "Eko", "Endang", "Erlangga", "Evi", "Fajar", "Farhan", "Fitri", "Gilang", "Gita",
    "Hadi", "Hana", "Hendra", "Heru", "Ika", "Ilham", "Indah", "Indra", "Intan", "Irfan", "Iwan",
    "Joko", "Juwita", "Kartika", "Kevin", "Kurnia", "Lestari", "Lina", "Lukman", "Maya", "Mega",
    "Melati", "Michael", "Nanda", "Nur", "Nurul", "Oki", "Onny", "Pandu", "Putri", "Puspita",
    "Rahmat", "Ratna", "Reza", "Rina", "Rizky", "Rudi", "Sari", "Sekar", "Siti", "Slamet", "Sri",
    "Surya", "Susanti", "Taufik", "Teguh", "Tika", "Tono", "Umar", "Utami", "Vina", "Wahyu",
    "Wati", "Wayan", "Widya", "Yanti", "Yoga", "Yudi", "Yuni", "Zainal", "Agnes", "Albert",
    "Anton", "Bella", "Clara", "Daniel", "Felix", "Grace", "Hendrik", "Irene", "Jessica", "Kelvin",
    "Linda", "Marcel", "Natalia", "Olivia", "Patrick", "Rachel", "Stefanus", "Theresia", "Vincent",
    "Wilson", "Yohanes", "Ketut", "Made", "Nyoman", "Gede", "Komang", "Putu",
];

const FAMILY: &[&str] = &[
    "Santoso",
    "Wijaya",
    "Saputra",
    "Hidayat",
    "Pratama",
    "Kusuma",
    "Nugroho",
    "Setiawan",
    "Gunawan",
    "Halim",
    "Susanto",
    "Sinaga",
    "Siregar",
    "Nasution",
    "Harahap",
    "Simanjuntak",
    "Tanjung",
    "Purba",
    "Lubis",
    "Wibowo",
    "Utomo",
    "Rahman",
    "Hakim",
    "Putra",
    "Putri",
    "Suryadi",
    "Hartono",
    "Kurniawan",
    "Firmansyah",
    "Ramadhan",
    "Maulana",
    "Hasibuan",
    "Pane",
    "Sitompul",
    "Panjaitan",
    "Manurung",
    "Tambunan",
    "Pangaribuan",
    "Situmorang",
    "Marpaung",
    "Tan",
    "Lim",
    "Wong",
    "Gozali",
    "Salim",
    "Tanoto",
    "Hartanto",
    "Sugiarto",
    "Budiman",
    "Suharto",
    "Wahyudi",
    "Prasetyo",
    "Permana",
    "Hermawan",
    "Anggraini",
    "Lestari",
    "Rahayu",
    "Handayani",
    "Wulandari",
    "Safitri",
    "Septiani",
    "Maharani",
    "Syahputra",
    "Sihombing",
    "Simatupang",
    "Batubara",
    "Ginting",
    "Sembiring",
    "Tarigan",
    "Karo",
    "Pohan",
    "Daulay",
    "Matondang",
    "Sudirman",
    "Effendi",
    "Iskandar",
    "Syarif",
    "Fauzi",
    "Hamzah",
    "Yusuf",
    "Ibrahim",
    "Ismail",
    "Abdullah",
    "Mulyadi",
    "Sutrisno",
    "Supriyadi",
    "Haryanto",
    "Suryanto",
    "Darmawan",
    "Kusnadi",
    "Rusli",
    "Tjahjadi",
    "Sanjaya",
    "Atmaja",
    "Adiputra",
    "Wirawan",
    "Mahendra",
    "Gautama",
    "Pranata",
    "Susilo",
    "Widjaja",
    "Chandra",
    "Tanuwidjaja",
    "Kosasih",
    "Sasmita",
    "Hadinata",
    "Surbakti",
    "Nainggolan",
    "Silalahi",
    "Hutapea",
    "Hutagalung",
    "Lumbantobing",
    "Saragih",
    "Damanik",
    "Napitupulu",
    "Pardede",
    "Simbolon",
    "Sitorus",
    "Sagala",
    "Rangkuti",
];

const CITIES: &[(&str, &str)] = &[
    ("Jakarta Selatan", "DKI Jakarta"),
    ("Jakarta Barat", "DKI Jakarta"),
    ("Jakarta Timur", "DKI Jakarta"),
    ("Bandung", "Jawa Barat"),
    ("Bekasi", "Jawa Barat"),
    ("Bogor", "Jawa Barat"),
    ("Depok", "Jawa Barat"),
    ("Tangerang", "Banten"),
    ("Surabaya", "Jawa Timur"),
    ("Malang", "Jawa Timur"),
    ("Semarang", "Jawa Tengah"),
    ("Solo", "Jawa Tengah"),
    ("Yogyakarta", "DI Yogyakarta"),
    ("Medan", "Sumatera Utara"),
    ("Palembang", "Sumatera Selatan"),
    ("Pekanbaru", "Riau"),
    ("Padang", "Sumatera Barat"),
    ("Makassar", "Sulawesi Selatan"),
    ("Manado", "Sulawesi Utara"),
    ("Denpasar", "Bali"),
    ("Balikpapan", "Kalimantan Timur"),
    ("Pontianak", "Kalimantan Barat"),
];

const DOMAINS: &[&str] = &[
    "gmail.com",
    "yahoo.co.id",
    "yahoo.com",
    "outlook.com",
    "hotmail.com",
    "icloud.com",
    "mail.co.id",
];

/// Mobile prefixes of Indonesian operators (after +62).
const MOBILE: &[&str] = &[
    "811", "812", "813", "821", "822", "852", "853", "814", "815", "816", "855", "856", "857",
    "858", "817", "818", "819", "859", "877", "878", "895", "896", "897", "898", "899", "881",
    "882", "883",
];

/// Stores (tills) purchases happen at.
pub const STORES: u64 = 40;

/// SplitMix64: a tiny, fast, well-mixed generator; deterministic per seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for one stream: `seed` mixed with a stream number, so that
    /// customer `i` gets the same values whatever was generated before.
    pub fn new(seed: u64, stream: u64) -> Self {
        let mut r = Self(seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        r.next_u64();
        r
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n.max(1))) >> 64) as u64
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.unit();
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    fn pick<'a>(&mut self, list: &[&'a str]) -> &'a str {
        list[self.below(list.len() as u64) as usize]
    }
}

/// Stream numbers: customers use `i`, purchases `PURCHASE_STREAM + i`.
const PURCHASE_STREAM: u64 = 1 << 40;
const WEIGHT_STREAM: u64 = 1 << 41;
const PREFIX_STREAM: u64 = 1 << 42;

/// The data set of one load.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Seed of every random choice.
    pub seed: u64,
    /// Number of customers.
    pub customers: u64,
    /// Number of purchases.
    pub purchases: u64,
    /// Purchases fall in the 365 days before this instant.
    pub until: DateTime<Utc>,
    /// `first[i]`: position of customer `i`'s first purchase in the data set;
    /// `first[customers] == purchases`.
    first: Vec<u64>,
}

impl Dataset {
    /// The data set for these sizes and seed (computes each customer's number
    /// of purchases: one pass over the customers, 8 bytes each).
    pub fn new(seed: u64, customers: u64, purchases: u64, until: DateTime<Utc>) -> Self {
        // Skewed weights: many occasional buyers, a few very frequent ones.
        let weights: Vec<f64> = (0..customers)
            .map(|i| {
                let mut r = Rng::new(seed, WEIGHT_STREAM + i);
                (-(1.0 - r.unit()).ln()).powf(1.6)
            })
            .collect();
        let total: f64 = weights.iter().sum();
        let mut first = Vec::with_capacity(weights.len() + 1);
        let mut acc = 0.0;
        for w in &weights {
            first.push(((acc / total) * purchases as f64).floor() as u64);
            acc += w;
        }
        first.push(purchases);
        if let Some(f) = first.first_mut() {
            *f = 0;
        }
        Self {
            seed,
            customers,
            purchases,
            until,
            first,
        }
    }

    /// Customer `i` (`0 <= i < customers`).
    pub fn customer(&self, i: u64) -> NewCustomer {
        let mut r = Rng::new(self.seed, i);
        let first = r.pick(FIRST);
        let family = r.pick(FAMILY);
        // About 1 in 12 goes by a single name.
        let single = r.below(12) == 0;
        let name = if single {
            first.to_string()
        } else {
            format!("{first} {family}")
        };
        let domain = r.pick(DOMAINS);
        let email = if single {
            format!("{}.{i}@{domain}", first.to_lowercase())
        } else {
            format!(
                "{}.{}{i}@{domain}",
                first.to_lowercase(),
                family.to_lowercase()
            )
        };
        // Unique: the prefix and the 8 digits together encode `i`.
        let prefix = MOBILE[(i % MOBILE.len() as u64) as usize];
        let phone = format!("0{prefix}{:08}", i / MOBILE.len() as u64 % 100_000_000);
        let customer_type = match r.below(100) {
            0..=84 => CustomerType::Retail,
            85..=94 => CustomerType::Wholesale,
            95..=97 => CustomerType::Distributor,
            _ => CustomerType::Corporate,
        };
        let credit_limit = match customer_type {
            CustomerType::Retail => Decimal::ZERO,
            _ => Decimal::from(5_000_000 * (1 + r.below(20))),
        };
        let (city, province) = CITIES[r.below(CITIES.len() as u64) as usize];
        let birthday = (r.below(3) == 0)
            .then(|| {
                NaiveDate::from_ymd_opt(
                    1950 + r.below(55) as i32,
                    1 + r.below(12) as u32,
                    1 + r.below(28) as u32,
                )
            })
            .flatten();
        let tags = match r.below(20) {
            0 => vec!["vip".to_string()],
            1 | 2 => vec!["member".to_string()],
            3 => vec!["member".to_string(), "newsletter".to_string()],
            _ => Vec::new(),
        };
        NewCustomer {
            name,
            email: Some(email),
            phone: Some(phone),
            customer_type,
            credit_limit,
            address: Address {
                line1: Some(format!("Jl. {} No. {}", r.pick(FAMILY), 1 + r.below(200))),
                line2: None,
                city: Some(city.to_string()),
                province: Some(province.to_string()),
                postal_code: Some(format!("{:05}", 10_000 + r.below(89_999))),
                country: Some("ID".to_string()),
            },
            birthday,
            tags,
        }
    }

    /// How many purchases customer `i` has.
    pub fn purchases_of(&self, i: u64) -> u64 {
        let i = i as usize;
        self.first[i + 1] - self.first[i]
    }

    /// The customer that purchase `j` belongs to.
    fn owner(&self, j: u64) -> u64 {
        // The last customer whose first purchase is at or before j.
        (self.first.partition_point(|&f| f <= j) - 1) as u64
    }

    /// Purchases `range` of the data set (positions), for customers whose
    /// stored ids are `ids` (`ids[i]` is customer `i`'s id).
    pub fn purchases(&self, range: std::ops::Range<u64>, ids: &[CustomerId]) -> Vec<NewPurchase> {
        let mut out = Vec::with_capacity((range.end - range.start) as usize);
        if range.start >= range.end {
            return out;
        }
        let mut i = self.owner(range.start);
        while (i as usize) < ids.len() && self.first[i as usize] < range.end {
            let from = self.first[i as usize];
            for (k, p) in self
                .purchases_of_customer(i, ids[i as usize])
                .into_iter()
                .enumerate()
            {
                let j = from + k as u64;
                if range.contains(&j) {
                    out.push(p);
                }
            }
            i += 1;
        }
        out
    }

    /// The `(store_id, receipt_id)` of purchase `j` (no customer ids needed).
    pub fn receipt(&self, j: u64) -> Option<(String, String)> {
        if j >= self.purchases {
            return None;
        }
        let i = self.owner(j);
        let k = (j - self.first[i as usize]) as usize;
        self.purchases_of_customer(i, CustomerId(0))
            .into_iter()
            .nth(k)
            .map(|p| (p.store_id, p.receipt_id))
    }

    /// All purchases of customer `i`, in date order.
    fn purchases_of_customer(&self, i: u64, id: CustomerId) -> Vec<NewPurchase> {
        let n = self.purchases_of(i);
        let mut r = Rng::new(self.seed, PURCHASE_STREAM + i);
        let home = 1 + r.below(STORES);
        let spend = 11.9 + 0.5 * r.normal(); // ln(Rp 150,000) is 11.9
        let year = 365 * 24 * 3600;
        let mut at: Vec<i64> = (0..n).map(|_| r.below(year) as i64).collect();
        at.sort_unstable();
        let first = self.first[i as usize];
        at.into_iter()
            .enumerate()
            .map(|(k, secs)| {
                let store = if r.below(5) == 0 {
                    1 + r.below(STORES)
                } else {
                    home
                };
                let rupiah = (spend + 0.6 * r.normal())
                    .exp()
                    .clamp(1_000.0, 50_000_000.0);
                // Whole hundreds of rupiah, as tills round.
                let amount = (rupiah / 100.0).round() as i64 * 100;
                NewPurchase {
                    customer_id: id,
                    store_id: format!("ST{store:02}"),
                    receipt_id: format!("R{:010}", first + k as u64),
                    purchase_date: self.until - Duration::seconds(year as i64 - secs),
                    total_amount: Decimal::from(amount),
                    currency: Some("IDR".into()),
                }
            })
            .collect()
    }
}

/// The `k`-th search prefix of a benchmark run: a first name and the start
/// of a family name (`"Budi Sa"`), matching a few dozen customers of a
/// million, like a cashier typing a name.
pub fn search_prefix(seed: u64, k: u64) -> String {
    let mut r = Rng::new(seed, PREFIX_STREAM + k);
    let first = r.pick(FIRST);
    let family = r.pick(FAMILY);
    let take = 2 + r.below(3) as usize;
    format!("{first} {}", &family[..take.min(family.len())])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn until() -> DateTime<Utc> {
        DateTime::from_timestamp(1_793_491_200, 0).unwrap_or_default()
    }

    #[test]
    fn counts_add_up_and_ranges_are_consistent() {
        let d = Dataset::new(7, 1_000, 10_000, until());
        let total: u64 = (0..1_000).map(|i| d.purchases_of(i)).sum();
        assert_eq!(total, 10_000);
        assert!((0..1_000).any(|i| d.purchases_of(i) == 0), "some never buy");
        assert!((0..1_000).any(|i| d.purchases_of(i) > 40), "some buy often");
        let ids: Vec<CustomerId> = (0..1_000).map(|i| CustomerId(i + 100)).collect();
        let all = d.purchases(0..10_000, &ids);
        assert_eq!(all.len(), 10_000);
        // Any split gives the same rows.
        for j in [0, 1, 4_999, 9_999] {
            let p = &all[j as usize];
            assert_eq!(
                d.receipt(j),
                Some((p.store_id.clone(), p.receipt_id.clone()))
            );
        }
        assert_eq!(d.receipt(10_000), None);
        let mut parts = d.purchases(0..3_333, &ids);
        parts.extend(d.purchases(3_333..9_001, &ids));
        parts.extend(d.purchases(9_001..10_000, &ids));
        assert_eq!(parts, all);
        let receipts: HashSet<_> = all.iter().map(|p| &p.receipt_id).collect();
        assert_eq!(receipts.len(), 10_000);
        for p in &all {
            assert!(p.purchase_date <= until() && p.purchase_date > until() - Duration::days(366));
            assert!(p.total_amount >= Decimal::from(1_000));
        }
    }

    #[test]
    fn customers_are_deterministic_and_contacts_unique() {
        let d = Dataset::new(42, 50_000, 0, until());
        assert_eq!(d.customer(123), d.customer(123));
        assert_ne!(Dataset::new(43, 1, 0, until()).customer(0), d.customer(0));
        let mut emails = HashSet::new();
        let mut phones = HashSet::new();
        for i in 0..50_000 {
            let c = d.customer(i);
            assert!(emails.insert(c.email.unwrap_or_default()));
            assert!(phones.insert(c.phone.unwrap_or_default()));
        }
    }

    #[tokio::test]
    async fn customers_and_purchases_pass_the_sdk_rules() {
        let crm = crm_core::Crm::new(crm_core::memory::MemoryStore::new());
        let d = Dataset::new(42, 3_000, 30_000, until());
        let created = crm
            .customers()
            .import((0..3_000).map(|i| d.customer(i)).collect())
            .await
            .expect("every generated customer is valid");
        let ids: Vec<CustomerId> = created.iter().map(|c| c.id).collect();
        for start in (0..30_000).step_by(10_000) {
            let report = crm
                .loyalty()
                .import_history(d.purchases(start..start + 10_000, &ids))
                .await
                .expect("every generated purchase is valid");
            assert_eq!(report.inserted, 10_000);
        }
    }

    #[test]
    fn prefixes_are_names() {
        let p = search_prefix(1, 5);
        assert_eq!(p, search_prefix(1, 5));
        assert!(p.contains(' ') && p.len() >= 4, "{p}");
    }
}
