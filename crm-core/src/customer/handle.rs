//! The [`Customers`] handle: create, import, read, update, deactivate,
//! list and merge customers.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::Value;

use crate::audit::{AuditRecord, actions};
use crate::customer::query::{Cursor, SearchTerm};
use crate::customer::{
    Customer, CustomerCode, CustomerFields, CustomerFilter, CustomerId, CustomerPage,
    CustomerPatch, CustomerQuery, NewCustomer,
};
use crate::error::{ConflictReason, FieldErrors};
use crate::events::EventPayload;
use crate::facade::{Customers, MAX_IMPORT_BATCH};
use crate::json::JsonFields;
use crate::loyalty::ledger::{Tx, add, append, check_key, entry, expire_due, settle_debt};
use crate::loyalty::{EntryType, MergeResult};
use crate::{Error, Result};

const CUSTOMER_ID: &str = "a customer id (integer)";

/// How often an update is retried when another writer changed the customer
/// between our read and our write.
const UPDATE_ATTEMPTS: usize = 5;

/// Input of [`Customers::update`]: which customer, and what changes.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct UpdateCustomer {
    /// The customer.
    pub id: CustomerId,
    /// The fields to change.
    pub patch: CustomerPatch,
}

impl UpdateCustomer {
    /// Reads `{"id": ..., "patch": {...}}`, reporting every failing field
    /// (those of the patch prefixed `patch.`).
    pub fn from_json(value: Value) -> Result<Self> {
        let mut r = JsonFields::new(value)?;
        let id = r.required("id", CUSTOMER_ID);
        let patch = r.take::<Value>("patch", "an object");
        let mut errors = r.finish_into("customer update");
        let patch = patch
            .and_then(|p| errors.check("patch.", CustomerPatch::from_json(p)))
            .unwrap_or_default();
        errors.finish_with(UpdateCustomer { id, patch })
    }
}

/// Input of [`Customers::merge`]: customer `from` (the duplicate) goes into
/// customer `into` (the one that stays).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MergeCustomers {
    /// The customer that stays.
    pub into: CustomerId,
    /// The duplicate: deactivated and pointed at `into`.
    pub from: CustomerId,
    /// Who decided (a user, a job), 1 to 100 characters.
    pub merged_by: String,
}

impl MergeCustomers {
    /// Reads `{"into", "from", "merged_by"}`, reporting every failing field.
    pub fn from_json(value: Value) -> Result<Self> {
        let mut r = JsonFields::new(value)?;
        let out = Self {
            into: r.required("into", CUSTOMER_ID),
            from: r.required("from", CUSTOMER_ID),
            merged_by: r.required("merged_by", "a string"),
        };
        r.finish("merge")?;
        Ok(out)
    }

    /// Reads the body of a merge into a customer named elsewhere (a URL
    /// path): `{"duplicate_id", "merged_by"?}`, `merged_by` defaulting to
    /// `merged_by_default` (the caller).
    pub fn from_json_for(into: CustomerId, merged_by_default: String, body: Value) -> Result<Self> {
        let mut r = JsonFields::new(body)?;
        let out = Self {
            into,
            from: r.required("duplicate_id", CUSTOMER_ID),
            merged_by: r
                .optional("merged_by", "a string")
                .unwrap_or(merged_by_default),
        };
        r.finish("merge")?;
        Ok(out)
    }
}

crate::json::json_input!(UpdateCustomer, MergeCustomers);

impl Customers {
    /// Creates a customer.
    ///
    /// Every failing field is reported in one [`Error::Validation`]; an email
    /// or phone already held by an active customer gives
    /// [`Error::DuplicateCustomer`] with that customer's code. Nothing is
    /// written in either case.
    pub async fn create(&self, input: NewCustomer) -> Result<Customer> {
        let fields = self.inner.rules().check_new(input)?;
        let now = self.inner.clock.now();
        let audit = self.record(actions::CUSTOMER_CREATE, serde_json::json!({}));
        self.inner.store.insert_customer(fields, now, &audit).await
    }

    /// Creates many customers at once (imports from another system): all or
    /// none, in one transaction, codes allocated in input order.
    ///
    /// Every failing field of every row is reported in one
    /// [`Error::Validation`], fields prefixed with the row index
    /// (`[3].email`); two rows of the batch sharing an email or phone are
    /// reported the same way (`duplicate_in_batch`). At most
    /// [`MAX_IMPORT_BATCH`] rows per call.
    pub async fn import(&self, inputs: Vec<NewCustomer>) -> Result<Vec<Customer>> {
        if inputs.len() > MAX_IMPORT_BATCH {
            return Err(Error::invalid(
                "customers",
                "max_items",
                format!("at most {MAX_IMPORT_BATCH} customers per import call"),
            ));
        }
        let rules = self.inner.rules();
        let mut errors = FieldErrors::new();
        let mut batch = Vec::with_capacity(inputs.len());
        let mut seen: HashMap<(&'static str, String), usize> = HashMap::new();
        for (i, input) in inputs.into_iter().enumerate() {
            if let Some(fields) = errors.check(&format!("[{i}]."), rules.check_new(input)) {
                for (field, value) in [("email", &fields.email), ("phone", &fields.phone)] {
                    if let Some(v) = value
                        && let Some(first) = seen.insert((field, v.clone()), i)
                    {
                        errors.push(
                            format!("[{i}].{field}"),
                            "duplicate_in_batch",
                            format!("{field} {v} is also used by row {first} of this import"),
                        );
                    }
                }
                batch.push(fields);
            }
        }
        errors.finish()?;
        let now = self.inner.clock.now();
        let audit = self.record(
            actions::CUSTOMER_IMPORT,
            serde_json::json!({ "batch_size": batch.len() }),
        );
        self.inner
            .store
            .insert_customers(batch, now, &audit, None)
            .await
    }

    /// The customer with this id (active or not).
    pub async fn get(&self, id: CustomerId) -> Result<Customer> {
        self.inner.customer(id).await
    }

    /// The customer with this code (active or not).
    pub async fn by_code(&self, code: String) -> Result<Customer> {
        let code = CustomerCode::parse(&code)?;
        self.inner
            .store
            .customer_by_code(code.clone())
            .await?
            .ok_or_else(|| Error::customer_not_found(code))
    }

    /// Changes the fields named in `patch`; the result is validated as a whole.
    ///
    /// Concurrent updates never overwrite each other silently: the write is
    /// conditional on the version read, and re-applied on a fresh read if
    /// another writer got in between.
    pub async fn update(&self, request: UpdateCustomer) -> Result<Customer> {
        let UpdateCustomer { id, patch } = request;
        for _ in 0..UPDATE_ATTEMPTS {
            let current = self.inner.customer(id).await?;
            if patch.is_empty() {
                return Ok(current);
            }
            let fields = self.inner.rules().check_patch(&current, patch.clone())?;
            let now = self.inner.now();
            let audit = self.record(
                actions::CUSTOMER_UPDATE,
                serde_json::json!({
                    "fields": changed_fields(&CustomerFields::of(&current), &fields),
                    "version": current.version + 1,
                }),
            );
            if let Some(updated) = self
                .inner
                .store
                .update_customer(id, fields, current.version, now, &audit)
                .await?
            {
                return Ok(updated);
            }
        }
        Err(Error::conflict(
            ConflictReason::ConcurrentChange,
            format!("customer {id} is being changed by others; try again"),
        ))
    }

    /// Deactivates a customer (the guide's soft delete): history stays, default
    /// listings hide it, its email and phone become free for a new customer.
    /// Deactivating an inactive customer changes nothing.
    pub async fn deactivate(&self, id: CustomerId) -> Result<Customer> {
        let now = self.inner.clock.now();
        self.inner
            .store
            .set_customer_active(
                id,
                false,
                now,
                &self.record(actions::CUSTOMER_DEACTIVATE, serde_json::json!({})),
            )
            .await?
            .ok_or_else(|| Error::customer_not_found(id))
    }

    /// Erases a customer's personal data on request (the GDPR's right to
    /// erasure): name, email, phone, address, birthday and tags are
    /// removed from the record and from every stored event about it (the
    /// outbox payloads), and the customer is deactivated. Its code, ledger,
    /// lots, purchases and refunds stay, so balances and
    /// [`check_balance`](crate::Loyalty::check_balance) still add up; the
    /// audit trail holds no personal data and stays too. Erasing twice
    /// changes nothing more. Caches outside the SDK must drop the customer
    /// (the example server refreshes its Redis entry).
    pub async fn erase(&self, id: CustomerId) -> Result<Customer> {
        let current = self.inner.customer(id).await?;
        let fields = CustomerFields {
            name: ERASED_NAME.into(),
            email: None,
            phone: None,
            customer_type: current.customer_type,
            credit_limit: current.credit_limit,
            address: Default::default(),
            birthday: None,
            tags: Vec::new(),
        };
        let audit = self.record(
            actions::CUSTOMER_ERASE,
            serde_json::json!({
                "fields": changed_fields(&CustomerFields::of(&current), &fields),
            }),
        );
        let now = self.inner.now();
        self.inner
            .store
            .erase_customer(id, fields, now, &audit)
            .await?
            .ok_or_else(|| Error::customer_not_found(id))
    }

    /// Reactivates a customer. Fails with `DuplicateCustomer` if an active
    /// customer took its email or phone meanwhile.
    pub async fn reactivate(&self, id: CustomerId) -> Result<Customer> {
        let now = self.inner.clock.now();
        self.inner
            .store
            .set_customer_active(
                id,
                true,
                now,
                &self.record(actions::CUSTOMER_REACTIVATE, serde_json::json!({})),
            )
            .await?
            .ok_or_else(|| Error::customer_not_found(id))
    }

    /// Lists customers: filters, search, sort, and offset or keyset paging.
    pub async fn list(&self, query: CustomerQuery) -> Result<CustomerPage> {
        let (filter, page, limit) = self.filter(query)?;
        let sort = filter.sort;
        let counted = filter.count;
        let slice = self.inner.store.list_customers(filter).await?;
        let mut items = slice.items;
        let next_cursor = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items.last().map(|c| Cursor::after(c, sort).encode())
        } else {
            None
        };
        Ok(CustomerPage {
            items,
            page,
            limit,
            total: counted.then_some(slice.total),
            next_cursor,
        })
    }

    /// Every customer matching `query`'s filters (type, status, tag,
    /// created range, search, segment, sort), `page_size` at a time, with
    /// bounded memory whatever their number: the export behind CSV files.
    /// `page`, `limit` and `cursor` of the query are not allowed (the
    /// export always starts at the first customer); `page_size` is 1 to
    /// 10,000. Customers created or changed while the export runs may or
    /// may not be in it; none is given twice.
    pub fn export(&self, query: CustomerQuery, page_size: u32) -> Result<CustomerExport> {
        let mut errors = FieldErrors::new();
        for (field, given) in [
            ("page", query.page.is_some()),
            ("limit", query.limit.is_some()),
            ("cursor", query.cursor.is_some()),
        ] {
            if given {
                errors.push(field, "not_allowed", format!("an export has no {field}"));
            }
        }
        if !(1..=10_000).contains(&page_size) {
            errors.push("page_size", "range", "page_size must be from 1 to 10000");
        }
        errors.finish()?;
        let (mut filter, _, _) = self.filter(query)?;
        filter.limit = page_size + 1;
        filter.count = false;
        Ok(CustomerExport {
            customers: self.clone(),
            filter: Some(filter),
        })
    }

    /// Checks a listing request and turns it into a store filter (asking for
    /// one row more than the page, to know whether a next page exists).
    fn filter(&self, q: CustomerQuery) -> Result<(CustomerFilter, u32, u32)> {
        let cfg = &self.inner.config;
        let count = q.counts();
        let mut errors = FieldErrors::new();
        let limit = match q.limit {
            None => cfg.default_page_limit,
            Some(0) => {
                errors.push("limit", "min", "limit must be at least 1");
                1
            }
            Some(n) => n.min(cfg.max_page_limit),
        };
        let page = match q.page {
            None => 1,
            Some(0) => {
                errors.push("page", "min", "page starts at 1");
                1
            }
            Some(p) => p,
        };
        let after = match q.cursor.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
            None => None,
            Some(_) if page > 1 => {
                errors.push("cursor", "exclusive", "use either page or cursor, not both");
                None
            }
            Some(c) => errors.check("", Cursor::decode(c, q.sort)),
        };
        for (field, score) in [
            ("recency_score", q.recency_score),
            ("frequency_score", q.frequency_score),
        ] {
            if score.is_some_and(|s| !(1..=5).contains(&s)) {
                errors.push(field, "range", format!("{field} must be from 1 to 5"));
            }
        }
        if let (Some(from), Some(to)) = (q.created_from, q.created_to)
            && from > to
        {
            errors.push(
                "created_from",
                "range",
                "created_from must not be after created_to",
            );
        }
        errors.finish()?;
        let search =
            q.q.map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty())
                .map(|t| SearchTerm {
                    code_prefix: t.to_uppercase(),
                    email: t.contains('@').then(|| t.to_lowercase()),
                    phone: if t.chars().any(|c| c.is_ascii_digit()) {
                        self.inner.rules().normalize_phone(&t)
                    } else {
                        None
                    },
                    name_prefix: t,
                });
        let filter = CustomerFilter {
            customer_type: q.customer_type,
            status: q.status,
            tag: q
                .tag
                .map(|t| t.trim().to_lowercase())
                .filter(|t| !t.is_empty()),
            created_from: q.created_from,
            created_to: q.created_to,
            search,
            sort: q.sort,
            direction: q.direction,
            offset: if after.is_some() {
                0
            } else {
                u64::from(page - 1) * u64::from(limit)
            },
            after,
            limit: limit + 1,
            count,
            segment: q.segment,
            recency_score: q.recency_score,
            frequency_score: q.frequency_score,
        };
        Ok((filter, page, limit))
    }

    /// Merges duplicate customer `from` into `into`: `from`'s purchases,
    /// open lots, balance and debt move to `into`, `from` is deactivated with
    /// a pointer to `into`, and later operations addressed to `from` apply
    /// to `into` (see [`crate::loyalty`]). Idempotent: merging the same pair
    /// again answers the first result with `replayed: true`.
    pub async fn merge(&self, request: MergeCustomers) -> Result<MergeResult> {
        let MergeCustomers {
            into,
            from,
            merged_by,
        } = request;
        let now = self.inner.now();
        let mut errors = FieldErrors::new();
        if into == from {
            errors.push("from", "different", "cannot merge a customer into itself");
        }
        check_key(&mut errors, "merged_by", &merged_by, 100);
        errors.finish()?;
        let mut tx = Tx::new(
            self.inner
                .store
                .begin_ledger(vec![into, from], true)
                .await?,
            self.actor(),
        );
        let a = tx
            .customer(into)
            .await?
            .ok_or_else(|| Error::customer_not_found(into))?;
        let b = tx
            .customer(from)
            .await?
            .ok_or_else(|| Error::customer_not_found(from))?;
        if b.merged_into == Some(into) {
            return Ok(MergeResult {
                into: a,
                merged: b,
                replayed: true,
            });
        }
        if b.merged_into.is_some() {
            return Err(Error::conflict(
                ConflictReason::AlreadyMerged,
                format!(
                    "customer {} was already merged into another customer",
                    b.customer_code
                ),
            ));
        }
        if a.merged_into.is_some() || !a.is_active {
            return Err(Error::conflict(
                ConflictReason::CustomerInactive,
                format!("cannot merge into inactive customer {}", a.customer_code),
            ));
        }
        let mut acct_a = tx.account(into).await?;
        let mut acct_b = tx.account(from).await?;
        expire_due(&mut tx, &mut acct_a, now).await?;
        expire_due(&mut tx, &mut acct_b, now).await?;
        tx.move_history(from, into).await?;
        let key = format!("{from}->{into}");
        let moved = acct_b.balance;
        if moved != 0 {
            let out = entry(
                &acct_b,
                EntryType::Adjust,
                -moved,
                ("merge_out", &key),
                now,
                now,
            )?;
            append(&mut tx, &mut acct_b, out).await?;
            let inn = entry(
                &acct_a,
                EntryType::Adjust,
                moved,
                ("merge_in", &key),
                now,
                now,
            )?;
            append(&mut tx, &mut acct_a, inn).await?;
        }
        acct_a.debt = add(acct_a.debt, acct_b.debt, "from")?;
        acct_b.debt = 0;
        settle_debt(&mut tx, &mut acct_a).await?;
        tx.save_account(&acct_a, now).await?;
        tx.save_account(&acct_b, now).await?;
        let merged = tx.mark_merged(from, into, &merged_by, now).await?;
        tx.append_event(EventPayload::CustomerUpdate(&merged), now)
            .await?;
        let detail = serde_json::json!({ "into": into, "from": from, "merged_by": merged_by });
        tx.audit(actions::CUSTOMER_MERGE, into, detail.clone(), now)
            .await?;
        tx.audit(actions::CUSTOMER_MERGE, from, detail, now).await?;
        let into_customer = tx
            .customer(into)
            .await?
            .ok_or_else(|| Error::customer_not_found(into))?;
        tx.commit().await?;
        Ok(MergeResult {
            into: into_customer,
            merged,
            replayed: false,
        })
    }
}

/// The name an erased customer keeps.
pub const ERASED_NAME: &str = "(erased)";

impl Customers {
    /// An audit record of `action` by the user this handle acts for.
    pub(crate) fn record(&self, action: &str, detail: Value) -> AuditRecord {
        AuditRecord::new(self.actor(), action, detail)
    }
}

/// The names of the fields that differ (never their values: the audit
/// trail holds no personal data).
fn changed_fields(before: &CustomerFields, after: &CustomerFields) -> Vec<&'static str> {
    let mut out = Vec::new();
    let mut check = |name: &'static str, changed: bool| {
        if changed {
            out.push(name);
        }
    };
    check("name", before.name != after.name);
    check("email", before.email != after.email);
    check("phone", before.phone != after.phone);
    check("customer_type", before.customer_type != after.customer_type);
    check("credit_limit", before.credit_limit != after.credit_limit);
    check("address", before.address != after.address);
    check("birthday", before.birthday != after.birthday);
    check("tags", before.tags != after.tags);
    out
}

/// The customers of an export ([`Customers::export`]), a page at a time.
#[derive(Debug)]
pub struct CustomerExport {
    customers: Customers,
    /// The next page's filter; `None` after the last page.
    filter: Option<CustomerFilter>,
}

impl CustomerExport {
    /// The next page of customers; empty at the end.
    pub async fn next_batch(&mut self) -> Result<Vec<Customer>> {
        let Some(filter) = self.filter.take() else {
            return Ok(Vec::new());
        };
        let page = filter.limit.saturating_sub(1) as usize;
        let sort = filter.sort;
        let mut items = self
            .customers
            .inner
            .store
            .list_customers(filter.clone())
            .await?
            .items;
        if items.len() > page {
            items.truncate(page);
            self.filter = items.last().map(|last| CustomerFilter {
                after: Some(Cursor::after(last, sort)),
                offset: 0,
                ..filter
            });
        }
        Ok(items)
    }
}
