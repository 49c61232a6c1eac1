//! The [`Crm`] facade: the one entry point for applications, the example
//! server and the Python and Node bindings.
//!
//! Inputs and outputs are plain serde types and every method is `async` with
//! owned arguments, so each binding is a thin wrapper.

use std::sync::Arc;

use phonenumber::country::Id as Region;
use serde::{Deserialize, Serialize};

use crate::analytics::{AnalyticsModel, AnalyticsSettings};
use crate::clock::{Clock, SystemClock};
use crate::customer::query::{Cursor, SearchTerm};
use crate::customer::validate::{Rules, parse_region};
use crate::customer::{
    Customer, CustomerCode, CustomerFilter, CustomerId, CustomerPage, CustomerPatch, CustomerQuery,
    NewCustomer,
};
use crate::loyalty::LoyaltyProgram;
use crate::store::CrmStore;
use crate::{Error, FieldError, Result};

/// How often an update is retried when another writer changed the customer
/// between our read and our write.
const UPDATE_ATTEMPTS: usize = 5;

/// Most customers one [`Crm::import_customers`] call takes.
pub const MAX_IMPORT_BATCH: usize = 10_000;

/// Settings of the facade.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CrmConfig {
    /// Region used to read phone numbers written without a country code
    /// (ISO 3166-1 alpha-2). Default `ID` (Indonesia): `0812-3456-7890` is
    /// stored as `+6281234567890`.
    pub default_region: String,
    /// Page size when a listing names none. Default 20.
    pub default_page_limit: u32,
    /// Largest page size; larger requests are capped to it. Default 100.
    pub max_page_limit: u32,
    /// The loyalty programme (earning, expiry, tiers).
    pub loyalty: LoyaltyProgram,
    /// Analytics settings (period unit, CLV, churn).
    pub analytics: AnalyticsSettings,
}

impl Default for CrmConfig {
    fn default() -> Self {
        Self {
            default_region: "ID".into(),
            default_page_limit: 20,
            max_page_limit: 100,
            loyalty: LoyaltyProgram::default(),
            analytics: AnalyticsSettings::default(),
        }
    }
}

/// The CRM: customers today; the loyalty ledger and analytics build on it.
///
/// Cheap to clone (an `Arc` inside); share one per process.
#[derive(Clone, Debug)]
pub struct Crm {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) store: Arc<dyn CrmStore>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) config: CrmConfig,
    pub(crate) region: Region,
    /// The fitted analytics model, shared by clones and reconfigured copies.
    pub(crate) analytics: Arc<std::sync::RwLock<Option<Arc<AnalyticsModel>>>>,
}

impl Crm {
    /// A CRM over `store`, with the system clock and default settings.
    pub fn new(store: impl CrmStore + 'static) -> Self {
        Self::from_arc(Arc::new(store))
    }

    /// A CRM over a shared store.
    pub fn from_arc(store: Arc<dyn CrmStore>) -> Self {
        let config = CrmConfig::default();
        Self {
            inner: Arc::new(Inner {
                store,
                clock: Arc::new(SystemClock),
                region: Region::ID,
                config,
                analytics: Default::default(),
            }),
        }
    }

    /// The same CRM reading time from `clock` (tests, simulations).
    pub fn with_clock(self, clock: impl Clock + 'static) -> Self {
        let inner = &self.inner;
        Self {
            inner: Arc::new(Inner {
                store: inner.store.clone(),
                clock: Arc::new(clock),
                config: inner.config.clone(),
                region: inner.region,
                analytics: inner.analytics.clone(),
            }),
        }
    }

    /// The same CRM with other settings; fails on an unknown region or a zero
    /// page size.
    pub fn with_config(self, config: CrmConfig) -> Result<Self> {
        let region = parse_region(&config.default_region)?;
        let mut errors = Vec::new();
        if config.max_page_limit == 0 {
            errors.push(FieldError::new(
                "max_page_limit",
                "min",
                "must be at least 1",
            ));
        }
        if config.default_page_limit == 0 || config.default_page_limit > config.max_page_limit {
            errors.push(FieldError::new(
                "default_page_limit",
                "range",
                "must be between 1 and max_page_limit",
            ));
        }
        if let Err(e) = config.analytics.config.validate() {
            errors.extend(e.field_errors().iter().map(|f| FieldError {
                field: format!("analytics.{}", f.field),
                ..f.clone()
            }));
        }
        if let Err(e) = config.loyalty.validate() {
            errors.extend(e.field_errors().iter().map(|f| FieldError {
                field: format!("loyalty.{}", f.field),
                ..f.clone()
            }));
        }
        if !errors.is_empty() {
            return Err(Error::Validation(errors));
        }
        let inner = &self.inner;
        Ok(Self {
            inner: Arc::new(Inner {
                store: inner.store.clone(),
                clock: inner.clock.clone(),
                config,
                region,
                analytics: inner.analytics.clone(),
            }),
        })
    }

    /// The settings in force.
    pub fn config(&self) -> &CrmConfig {
        &self.inner.config
    }

    /// The clock in use.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// The store in use.
    pub fn store(&self) -> &Arc<dyn CrmStore> {
        &self.inner.store
    }

    /// Checks that the backend answers.
    pub async fn ping(&self) -> Result<()> {
        self.inner.store.ping().await
    }

    pub(crate) fn rules(&self) -> Rules {
        Rules::with_region(self.inner.region, self.inner.clock.now().date_naive())
    }

    /// Creates a customer.
    ///
    /// Every failing field is reported in one [`Error::Validation`]; an email
    /// or phone already held by an active customer gives
    /// [`Error::DuplicateCustomer`] with that customer's code. Nothing is
    /// written in either case.
    pub async fn create_customer(&self, input: NewCustomer) -> Result<Customer> {
        let fields = self.rules().check_new(input)?;
        let now = self.inner.clock.now();
        self.inner.store.insert_customer(fields, now).await
    }

    /// Creates many customers at once (imports from another system): all or
    /// none, in one transaction, codes allocated in input order.
    ///
    /// Every failing field of every row is reported in one
    /// [`Error::Validation`], fields prefixed with the row index
    /// (`[3].email`); two rows of the batch sharing an email or phone are
    /// reported the same way (`duplicate_in_batch`). At most
    /// [`MAX_IMPORT_BATCH`] rows per call.
    pub async fn import_customers(&self, inputs: Vec<NewCustomer>) -> Result<Vec<Customer>> {
        if inputs.len() > MAX_IMPORT_BATCH {
            return Err(Error::invalid(
                "customers",
                "max_items",
                format!("at most {MAX_IMPORT_BATCH} customers per import call"),
            ));
        }
        let rules = self.rules();
        let mut errors = Vec::new();
        let mut batch = Vec::with_capacity(inputs.len());
        let mut seen: std::collections::HashMap<(&'static str, String), usize> = Default::default();
        for (i, input) in inputs.into_iter().enumerate() {
            match rules.check_new(input) {
                Ok(fields) => {
                    for (field, value) in [("email", &fields.email), ("phone", &fields.phone)] {
                        if let Some(v) = value
                            && let Some(first) = seen.insert((field, v.clone()), i)
                        {
                            errors.push(FieldError::new(
                                format!("[{i}].{field}"),
                                "duplicate_in_batch",
                                format!("{field} {v} is also used by row {first} of this import"),
                            ));
                        }
                    }
                    batch.push(fields);
                }
                Err(e) => errors.extend(e.field_errors().iter().map(|f| FieldError {
                    field: format!("[{i}].{}", f.field),
                    ..f.clone()
                })),
            }
        }
        if !errors.is_empty() {
            return Err(Error::Validation(errors));
        }
        let now = self.inner.clock.now();
        self.inner.store.insert_customers(batch, now).await
    }

    /// The customer with this id (active or not).
    pub async fn customer(&self, id: CustomerId) -> Result<Customer> {
        self.inner
            .store
            .customer(id)
            .await?
            .ok_or_else(|| Error::customer_not_found(id))
    }

    /// The customer with this code (active or not).
    pub async fn customer_by_code(&self, code: String) -> Result<Customer> {
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
    pub async fn update_customer(&self, id: CustomerId, patch: CustomerPatch) -> Result<Customer> {
        for _ in 0..UPDATE_ATTEMPTS {
            let current = self.customer(id).await?;
            if patch.is_empty() {
                return Ok(current);
            }
            let fields = self.rules().check_patch(&current, patch.clone())?;
            let now = self.inner.clock.now();
            if let Some(updated) = self
                .inner
                .store
                .update_customer(id, fields, current.version, now)
                .await?
            {
                return Ok(updated);
            }
        }
        Err(Error::Conflict {
            message: format!("customer {id} is being changed by others; try again"),
        })
    }

    /// Deactivates a customer (the guide's soft delete): history stays, default
    /// listings hide it, its email and phone become free for a new customer.
    /// Deactivating an inactive customer changes nothing.
    pub async fn deactivate_customer(&self, id: CustomerId) -> Result<Customer> {
        let now = self.inner.clock.now();
        self.inner
            .store
            .set_customer_active(id, false, now)
            .await?
            .ok_or_else(|| Error::customer_not_found(id))
    }

    /// Reactivates a customer. Fails with `DuplicateCustomer` if an active
    /// customer took its email or phone meanwhile.
    pub async fn reactivate_customer(&self, id: CustomerId) -> Result<Customer> {
        let now = self.inner.clock.now();
        self.inner
            .store
            .set_customer_active(id, true, now)
            .await?
            .ok_or_else(|| Error::customer_not_found(id))
    }

    /// Lists customers: filters, search, sort, and offset or keyset paging.
    pub async fn list_customers(&self, query: CustomerQuery) -> Result<CustomerPage> {
        let (filter, page, limit) = self.filter(query)?;
        let sort = filter.sort;
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
            total: slice.total,
            next_cursor,
        })
    }

    /// Checks a listing request and turns it into a store filter (asking for
    /// one row more than the page, to know whether a next page exists).
    fn filter(&self, q: CustomerQuery) -> Result<(CustomerFilter, u32, u32)> {
        let cfg = &self.inner.config;
        let mut errors = Vec::new();
        let limit = match q.limit {
            None => cfg.default_page_limit,
            Some(0) => {
                errors.push(FieldError::new("limit", "min", "limit must be at least 1"));
                1
            }
            Some(n) => n.min(cfg.max_page_limit),
        };
        let page = match q.page {
            None => 1,
            Some(0) => {
                errors.push(FieldError::new("page", "min", "page starts at 1"));
                1
            }
            Some(p) => p,
        };
        let after = match q.cursor.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
            None => None,
            Some(_) if page > 1 => {
                errors.push(FieldError::new(
                    "cursor",
                    "exclusive",
                    "use either page or cursor, not both",
                ));
                None
            }
            Some(c) => match Cursor::decode(c, q.sort) {
                Ok(c) => Some(c),
                Err(e) => {
                    errors.extend(e.field_errors().iter().cloned());
                    None
                }
            },
        };
        if let (Some(from), Some(to)) = (q.created_from, q.created_to)
            && from > to
        {
            errors.push(FieldError::new(
                "created_from",
                "range",
                "created_from must not be after created_to",
            ));
        }
        if !errors.is_empty() {
            return Err(Error::Validation(errors));
        }
        let search =
            q.q.map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty())
                .map(|t| SearchTerm {
                    code_prefix: t.to_uppercase(),
                    email: t.contains('@').then(|| t.to_lowercase()),
                    phone: if t.chars().any(|c| c.is_ascii_digit()) {
                        self.rules().normalize_phone(&t)
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
        };
        Ok((filter, page, limit))
    }
}
