//! Listing customers: filters, search, sorting, offset pages and keyset cursors.
//!
//! Callers send a [`CustomerQuery`]; the facade checks it and hands the store
//! a [`CustomerFilter`] with everything normalised (limit capped, search term
//! expanded into name prefix, code prefix, email and E.164 phone, cursor
//! decoded). Offset pages are fine for the first pages a person clicks
//! through; for deep paging and exports use the `next_cursor` of each page,
//! which costs the same at row 10 and at row 1,000,000.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::model::{Customer, CustomerId, CustomerType};
use crate::analytics::RfmSegment;
use crate::error::FieldErrors;
use crate::{Error, Result};

/// Which customers a listing shows, by activity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ActivityFilter {
    /// Only active customers (the default: deactivated ones are hidden).
    #[default]
    Active,
    /// Only deactivated customers.
    Inactive,
    /// Both.
    All,
}

/// The order of a listing. Ties are always broken by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum CustomerSort {
    /// By id, i.e. creation order (the default).
    #[default]
    Id,
    /// By name, case-insensitive.
    Name,
    /// By customer code.
    Code,
    /// By creation time.
    CreatedAt,
}

impl CustomerSort {
    fn as_str(self) -> &'static str {
        match self {
            CustomerSort::Id => "id",
            CustomerSort::Name => "name",
            CustomerSort::Code => "code",
            CustomerSort::CreatedAt => "created_at",
        }
    }
}

/// Ascending or descending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum SortDirection {
    /// Smallest first.
    #[default]
    Asc,
    /// Largest first.
    Desc,
}

/// A listing request (the guide's `getCustomers(page, limit, filters)`).
///
/// Read from string parameters (a URL query, keyword arguments) with
/// [`CustomerQuery::from_params`], from JSON with
/// [`CustomerQuery::from_json`] (also serde's `Deserialize`); both report
/// every bad parameter at once.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct CustomerQuery {
    /// 1-based page number (default 1). Not allowed together with `cursor`.
    pub page: Option<u32>,
    /// Page size (default 20, capped at the configured maximum, 100 by default).
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page, for keyset paging.
    pub cursor: Option<String>,
    /// Only customers of this type (parameter `type`, or `customer_type`).
    #[serde(rename = "type")]
    pub customer_type: Option<CustomerType>,
    /// Active, inactive or all (default active).
    pub status: ActivityFilter,
    /// Only customers carrying this tag.
    pub tag: Option<String>,
    /// Only customers created at or after this instant.
    pub created_from: Option<DateTime<Utc>>,
    /// Only customers created before this instant.
    pub created_to: Option<DateTime<Utc>>,
    /// Search: name prefix, code (prefix), email or phone (any format).
    pub q: Option<String>,
    /// Order of the results.
    pub sort: CustomerSort,
    /// Direction of the order.
    pub direction: SortDirection,
    /// Only customers the last analytics fit placed in this segment
    /// (customers with purchases; see [`Analytics::refit`](crate::Analytics::refit)).
    pub segment: Option<RfmSegment>,
    /// Only customers with this recency score (1-5) at the last fit.
    pub recency_score: Option<u8>,
    /// Only customers with this frequency score (1-5) at the last fit.
    pub frequency_score: Option<u8>,
    /// Whether to count every match ([`CustomerPage::total`]). By default
    /// an offset page without a search is counted (what a paged table
    /// shows), while a search (`q`) or a cursor page is not: it answers
    /// `next_cursor` only. A till searching as the cashier types needs no
    /// exact total, and on a large store the count costs more than the page.
    pub count: Option<bool>,
}

impl CustomerQuery {
    /// Whether this request counts its matches: [`count`](Self::count),
    /// else `true` for an offset page without a search.
    pub fn counts(&self) -> bool {
        self.count
            .unwrap_or(self.q.is_none() && self.cursor.is_none())
    }

    /// Reads a listing request from string parameters, as in the query
    /// string of `GET /api/customers`:
    ///
    /// | parameter | value |
    /// |---|---|
    /// | `page`, `limit` | positive integers |
    /// | `cursor` | the `next_cursor` of the previous page |
    /// | `type` (or `customer_type`) | `RETAIL`, `WHOLESALE`, `DISTRIBUTOR`, `CORPORATE` (any case) |
    /// | `active` | `true`/`1` (default), `false`/`0`, `all` |
    /// | `status` | `active`, `inactive`, `all` (the same filter, by name) |
    /// | `tag`, `q` | text |
    /// | `sort` | `id`, `name`, `code`, `created_at` |
    /// | `direction` | `asc`, `desc` |
    /// | `created_from`, `created_to` | RFC 3339 date-times |
    /// | `segment` | `CHAMPION`, `LOYAL`, `POTENTIAL_LOYAL`, `AT_RISK`, `LOST` (any case), as of the last analytics fit |
    /// | `recency_score`, `frequency_score` | 1 to 5, as of the last analytics fit |
    /// | `count` | `true`/`1` or `false`/`0`: count every match (default: only offset pages without `q`) |
    ///
    /// Empty values count as absent; other parameters are ignored (a URL may
    /// carry its own, such as a cache buster). Every bad value, and every
    /// parameter given twice, is reported at once.
    ///
    /// ```
    /// use crm_core::{ActivityFilter, CustomerQuery, CustomerType};
    /// let q = CustomerQuery::from_params([("type", "wholesale"), ("active", "all"), ("limit", "5")]).unwrap();
    /// assert_eq!((q.customer_type, q.status, q.limit), (Some(CustomerType::Wholesale), ActivityFilter::All, Some(5)));
    /// let err = CustomerQuery::from_params([("page", "x"), ("active", "maybe"), ("sort", "age")]).unwrap_err();
    /// assert_eq!(err.field_errors().len(), 3);
    /// ```
    pub fn from_params<K, V>(params: impl IntoIterator<Item = (K, V)>) -> Result<Self>
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut errors = FieldErrors::new();
        let mut seen = std::collections::HashSet::new();
        let mut q = CustomerQuery::default();
        for (key, value) in params {
            let (key, value) = (key.as_ref(), value.as_ref().trim());
            let name = if key == "customer_type" { "type" } else { key };
            if !seen.insert(name.to_string()) {
                errors.push(key, "duplicate", format!("{key} is given more than once"));
                continue;
            }
            if value.is_empty() {
                continue;
            }
            match name {
                "page" => q.page = positive(&mut errors, key, value),
                "limit" => q.limit = positive(&mut errors, key, value),
                "cursor" => q.cursor = Some(value.to_string()),
                "type" => q.customer_type = errors.check("", value.parse::<CustomerType>()),
                "active" => match value {
                    "true" | "1" => q.status = ActivityFilter::Active,
                    "false" | "0" => q.status = ActivityFilter::Inactive,
                    "all" => q.status = ActivityFilter::All,
                    other => errors.push(
                        "active",
                        "one_of",
                        format!("active must be true, false or all, not {other:?}"),
                    ),
                },
                "status" => {
                    if let Some(s) = named(&mut errors, key, value, "active, inactive or all") {
                        q.status = s;
                    }
                }
                "tag" => q.tag = Some(value.to_string()),
                "q" => q.q = Some(value.to_string()),
                "sort" => {
                    if let Some(s) = named(&mut errors, key, value, "id, name, code or created_at")
                    {
                        q.sort = s;
                    }
                }
                "direction" => {
                    if let Some(d) = named(&mut errors, key, value, "asc or desc") {
                        q.direction = d;
                    }
                }
                "created_from" => q.created_from = instant(&mut errors, key, value),
                "created_to" => q.created_to = instant(&mut errors, key, value),
                "segment" => {
                    q.segment = named(&mut errors, key, &value.to_uppercase(), SEGMENTS);
                }
                "recency_score" => q.recency_score = score(&mut errors, key, value),
                "frequency_score" => q.frequency_score = score(&mut errors, key, value),
                "count" => match value {
                    "true" | "1" => q.count = Some(true),
                    "false" | "0" => q.count = Some(false),
                    other => errors.push(
                        "count",
                        "one_of",
                        format!("count must be true or false, not {other:?}"),
                    ),
                },
                _ => {}
            }
        }
        errors.finish_with(q)
    }

    /// Reads a listing request from a JSON object with the fields of this
    /// type (`type` for the customer type, `customer_type` accepted too),
    /// reporting every missing, mistyped or unknown field.
    pub fn from_json(value: serde_json::Value) -> Result<Self> {
        let mut r = crate::json::JsonFields::new(value)?;
        let customer_type = r.optional("type", TYPES);
        let alias = r.optional("customer_type", TYPES);
        let q = CustomerQuery {
            page: r.optional("page", "a positive integer"),
            limit: r.optional("limit", "a positive integer"),
            cursor: r.optional("cursor", "a string"),
            customer_type: customer_type.or(alias),
            status: r
                .optional("status", "one of active, inactive, all")
                .unwrap_or_default(),
            tag: r.optional("tag", "a string"),
            created_from: r.optional("created_from", "an RFC 3339 date-time"),
            created_to: r.optional("created_to", "an RFC 3339 date-time"),
            q: r.optional("q", "a string"),
            sort: r
                .optional("sort", "one of id, name, code, created_at")
                .unwrap_or_default(),
            direction: r
                .optional("direction", "one of asc, desc")
                .unwrap_or_default(),
            segment: r.optional("segment", SEGMENTS),
            recency_score: r.optional("recency_score", "an integer from 1 to 5"),
            frequency_score: r.optional("frequency_score", "an integer from 1 to 5"),
            count: r.optional("count", "true or false"),
        };
        r.finish("customer query")?;
        Ok(q)
    }
}

crate::json::json_input!(CustomerQuery);

const TYPES: &str = "one of RETAIL, WHOLESALE, DISTRIBUTOR, CORPORATE";
const SEGMENTS: &str = "one of CHAMPION, LOYAL, POTENTIAL_LOYAL, AT_RISK, LOST";

/// An RFM score parameter, 1 to 5.
fn score(errors: &mut FieldErrors, key: &str, value: &str) -> Option<u8> {
    match value.parse::<u8>() {
        Ok(n @ 1..=5) => Some(n),
        _ => {
            errors.push(
                key,
                "range",
                format!("{key} must be an integer from 1 to 5, not {value:?}"),
            );
            None
        }
    }
}

/// A positive integer parameter.
fn positive(errors: &mut FieldErrors, key: &str, value: &str) -> Option<u32> {
    match value.parse::<u32>() {
        Ok(n) => Some(n),
        Err(_) => {
            errors.push(
                key,
                "type",
                format!("{key} must be a positive integer, not {value:?}"),
            );
            None
        }
    }
}

/// A parameter naming a value of a snake_case enum.
fn named<T: serde::de::DeserializeOwned>(
    errors: &mut FieldErrors,
    key: &str,
    value: &str,
    expected: &str,
) -> Option<T> {
    match serde_json::from_value(serde_json::Value::String(value.to_string())) {
        Ok(v) => Some(v),
        Err(_) => {
            errors.push(
                key,
                "one_of",
                format!("{key} must be {expected}, not {value:?}"),
            );
            None
        }
    }
}

/// An RFC 3339 date-time parameter.
fn instant(errors: &mut FieldErrors, key: &str, value: &str) -> Option<DateTime<Utc>> {
    match DateTime::parse_from_rfc3339(value) {
        Ok(t) => Some(t.with_timezone(&Utc)),
        Err(e) => {
            errors.push(
                key,
                "type",
                format!("{key} must be an RFC 3339 date-time ({e})"),
            );
            None
        }
    }
}

/// One page of customers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerPage {
    /// The customers on this page.
    pub items: Vec<Customer>,
    /// The page number (1 when paging by cursor).
    pub page: u32,
    /// The page size used.
    pub limit: u32,
    /// How many customers match the filters, over all pages, when the
    /// request counted them (see [`CustomerQuery::count`]); `None` when it
    /// did not.
    pub total: Option<u64>,
    /// Pass as `cursor` to get the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// A search term expanded into what each indexed column is compared with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchTerm {
    /// Names starting with this (case-insensitive).
    pub name_prefix: String,
    /// Codes starting with this (upper-cased).
    pub code_prefix: String,
    /// Exact email (lower-cased), when the term looks like one.
    pub email: Option<String>,
    /// Exact phone in E.164, when the term parses as a phone number.
    pub phone: Option<String>,
}

/// The value of the sort key of the last row of a page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "s", content = "v", rename_all = "snake_case")]
pub enum SortKey {
    /// Sorting by id: the id is the key.
    Id,
    /// The last name seen.
    Name(String),
    /// The last code seen.
    Code(String),
    /// The last creation time seen.
    CreatedAt(DateTime<Utc>),
}

/// A decoded keyset cursor: continue after (`key`, `id`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// The sort key of the last row.
    #[serde(flatten)]
    pub key: SortKey,
    /// The id of the last row (the tie-breaker).
    #[serde(rename = "i")]
    pub id: CustomerId,
}

impl Cursor {
    /// The cursor pointing after `c` in `sort` order.
    pub fn after(c: &Customer, sort: CustomerSort) -> Self {
        let key = match sort {
            CustomerSort::Id => SortKey::Id,
            CustomerSort::Name => SortKey::Name(c.name.clone()),
            CustomerSort::Code => SortKey::Code(c.customer_code.to_string()),
            CustomerSort::CreatedAt => SortKey::CreatedAt(c.created_at),
        };
        Cursor { key, id: c.id }
    }

    /// The opaque text form handed to callers.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    /// Decodes a cursor and checks that it belongs to `sort`.
    pub fn decode(s: &str, sort: CustomerSort) -> Result<Self> {
        let bad = || {
            Error::invalid(
                "cursor",
                "cursor",
                format!("not a cursor of a listing sorted by {}", sort.as_str()),
            )
        };
        let bytes = URL_SAFE_NO_PAD.decode(s.trim()).map_err(|_| bad())?;
        let cursor: Cursor = serde_json::from_slice(&bytes).map_err(|_| bad())?;
        let matches = matches!(
            (&cursor.key, sort),
            (SortKey::Id, CustomerSort::Id)
                | (SortKey::Name(_), CustomerSort::Name)
                | (SortKey::Code(_), CustomerSort::Code)
                | (SortKey::CreatedAt(_), CustomerSort::CreatedAt)
        );
        if matches { Ok(cursor) } else { Err(bad()) }
    }
}

/// A checked, normalised listing request, as stores receive it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerFilter {
    /// Only this type.
    pub customer_type: Option<CustomerType>,
    /// Activity filter.
    pub status: ActivityFilter,
    /// Only this (lower-cased) tag.
    pub tag: Option<String>,
    /// created_at >= this.
    pub created_from: Option<DateTime<Utc>>,
    /// created_at < this.
    pub created_to: Option<DateTime<Utc>>,
    /// Expanded search term.
    pub search: Option<SearchTerm>,
    /// Order.
    pub sort: CustomerSort,
    /// Direction.
    pub direction: SortDirection,
    /// Continue after this row (keyset paging); excludes `offset`.
    pub after: Option<Cursor>,
    /// Rows to skip (offset paging).
    pub offset: u64,
    /// Rows to return at most.
    pub limit: u32,
    /// Whether the store counts the matching rows (`CustomerSlice::total`);
    /// without it a store may answer 0 and save the count's cost (an
    /// export walking every page needs no total).
    pub count: bool,
    /// Only customers placed in this segment by the last analytics fit.
    pub segment: Option<RfmSegment>,
    /// Only customers with this recency score at the last fit.
    pub recency_score: Option<u8>,
    /// Only customers with this frequency score at the last fit.
    pub frequency_score: Option<u8>,
}

/// The escape character of [`like_prefix`] patterns (`LIKE ? ESCAPE '!'`).
///
/// Not a backslash: MySQL and SQLite disagree on backslashes in literals,
/// `!` means the same to both.
pub const LIKE_ESCAPE: char = '!';

/// A `LIKE` pattern matching strings that start with `prefix`, with `%`, `_`
/// and `!` escaped by [`LIKE_ESCAPE`].
pub fn like_prefix(prefix: &str) -> String {
    let mut out = String::with_capacity(prefix.len() + 1);
    for ch in prefix.chars() {
        if matches!(ch, '%' | '_' | LIKE_ESCAPE) {
            out.push(LIKE_ESCAPE);
        }
        out.push(ch);
    }
    out.push('%');
    out
}

impl CustomerFilter {
    /// Whether `c` passes every filter and the search (not the cursor or paging).
    /// Used by the in-memory store; SQL stores express the same in `WHERE`.
    pub fn matches(&self, c: &Customer) -> bool {
        let status_ok = match self.status {
            ActivityFilter::Active => c.is_active,
            ActivityFilter::Inactive => !c.is_active,
            ActivityFilter::All => true,
        };
        status_ok
            && self.customer_type.is_none_or(|t| t.eq(&c.customer_type))
            && self.tag.as_ref().is_none_or(|t| c.tags.contains(t))
            && self.created_from.is_none_or(|f| c.created_at >= f)
            && self.created_to.is_none_or(|t| c.created_at < t)
            && self.search.as_ref().is_none_or(|s| {
                c.name
                    .to_lowercase()
                    .starts_with(&s.name_prefix.to_lowercase())
                    || c.customer_code.as_str().starts_with(&s.code_prefix)
                    || (s.email.is_some() && c.email == s.email)
                    || (s.phone.is_some() && c.phone == s.phone)
            })
    }

    /// Compares two customers in this filter's order (ties by id).
    pub fn compare(&self, a: &Customer, b: &Customer) -> std::cmp::Ordering {
        let ord = match self.sort {
            CustomerSort::Id => std::cmp::Ordering::Equal,
            CustomerSort::Name => a.name.to_lowercase().cmp(&b.name.to_lowercase()),
            CustomerSort::Code => a.customer_code.cmp(&b.customer_code),
            CustomerSort::CreatedAt => a.created_at.cmp(&b.created_at),
        }
        .then(a.id.cmp(&b.id));
        match self.direction {
            SortDirection::Asc => ord,
            SortDirection::Desc => ord.reverse(),
        }
    }

    /// Whether `c` comes strictly after the cursor in this filter's order.
    pub fn is_after_cursor(&self, c: &Customer) -> bool {
        let Some(cursor) = &self.after else {
            return true;
        };
        let ord = match &cursor.key {
            SortKey::Id => std::cmp::Ordering::Equal,
            SortKey::Name(n) => c.name.to_lowercase().cmp(&n.to_lowercase()),
            SortKey::Code(k) => c.customer_code.as_str().cmp(k.as_str()),
            SortKey::CreatedAt(t) => c.created_at.cmp(t),
        }
        .then(c.id.cmp(&cursor.id));
        match self.direction {
            SortDirection::Asc => ord.is_gt(),
            SortDirection::Desc => ord.is_lt(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_is_bound_to_its_sort() {
        let c = Cursor {
            key: SortKey::Name("Budi".into()),
            id: CustomerId(7),
        };
        let s = c.encode();
        assert_eq!(Cursor::decode(&s, CustomerSort::Name).expect("decodes"), c);
        assert!(Cursor::decode(&s, CustomerSort::Id).is_err());
        assert!(Cursor::decode("not-a-cursor", CustomerSort::Id).is_err());
    }

    #[test]
    fn like_prefix_escapes_wildcards() {
        assert_eq!(like_prefix("50%_a!\\"), "50!%!_a!!\\%");
    }
}
