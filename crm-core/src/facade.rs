//! The [`Crm`]: the one entry point for applications, the example server and
//! the Python and Node bindings.
//!
//! `Crm` itself only holds the settings and hands out **namespaced handles**,
//! one per area: [`Crm::customers`], [`Crm::loyalty`], [`Crm::analytics`],
//! [`Crm::events`], [`Crm::users`], [`Crm::comms`]. Each handle is a cheap clone (an `Arc`
//! inside); each method is `async`, takes one owned argument (an id or a
//! request struct) and returns plain serde types, so the bindings mirror the
//! handles class for class. The storage traits ([`crate::store`]) are the
//! adapter interface, not the public API: callers cannot reach the store
//! around the rules.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use phonenumber::country::Id as Region;
use serde::{Deserialize, Serialize};

use crate::analytics::{AnalyticsSettings, FittedAnalytics};
use crate::clock::{Clock, SystemClock};
use crate::comms::CommsSettings;
use crate::customer::validate::{Rules, parse_region};
use crate::customer::{Customer, CustomerId};
use crate::error::FieldErrors;
use crate::loyalty::LoyaltyProgram;
use crate::store::CrmStore;
use crate::{Error, Result};

/// Most rows one bulk import call takes (customers or purchases).
pub const MAX_IMPORT_BATCH: usize = 10_000;

/// Settings of the [`Crm`].
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
    /// The loyalty programme (earning, expiry, tiers, currency).
    pub loyalty: LoyaltyProgram,
    /// Analytics settings (period unit, CLV, churn).
    pub analytics: AnalyticsSettings,
    /// Communications (unsubscribe links, quiet hours, retries).
    pub comms: CommsSettings,
}

impl Default for CrmConfig {
    fn default() -> Self {
        Self {
            default_region: "ID".into(),
            default_page_limit: 20,
            max_page_limit: 100,
            loyalty: LoyaltyProgram::default(),
            analytics: AnalyticsSettings::default(),
            comms: CommsSettings::default(),
        }
    }
}

/// The CRM: settings plus a store, handing out one handle per area.
///
/// Cheap to clone (an `Arc` inside); share one per process.
#[derive(Clone, Debug)]
pub struct Crm {
    pub(crate) inner: Arc<Inner>,
    /// Who the handles act for ([`Crm::acting_as`]).
    pub(crate) actor: Option<Arc<crate::users::Actor>>,
}

/// What every handle shares: the store, the clock, the settings.
#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) store: Arc<dyn CrmStore>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) config: CrmConfig,
    pub(crate) region: Region,
    /// The last fitted analytics, shared by clones and reconfigured copies.
    pub(crate) analytics: Arc<std::sync::RwLock<Option<Arc<FittedAnalytics>>>>,
    /// Held while fitting: one refit at a time per process.
    pub(crate) refit_lock: Arc<tokio::sync::Mutex<()>>,
    /// Slots for password hashing on the blocking pool.
    pub(crate) hashing: Arc<tokio::sync::Semaphore>,
    /// The unsubscribe signing secret, read from the store once.
    pub(crate) comms_secret: Arc<tokio::sync::OnceCell<Vec<u8>>>,
}

impl Inner {
    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub(crate) fn rules(&self) -> Rules {
        Rules::with_region(self.region, self.clock.now().date_naive())
    }

    /// The customer with this id (active or not), or `NotFound`.
    pub(crate) async fn customer(&self, id: CustomerId) -> Result<Customer> {
        self.store
            .customer(id)
            .await?
            .ok_or_else(|| Error::customer_not_found(id))
    }
}

macro_rules! handle {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        ///
        /// A cheap clone of the [`Crm`] it came from (an `Arc` inside).
        #[derive(Clone, Debug)]
        pub struct $name {
            pub(crate) inner: Arc<Inner>,
            // Every handle carries it; not every area records changes.
            #[allow(dead_code)]
            pub(crate) actor: Option<Arc<crate::users::Actor>>,
        }

        impl $name {
            /// The user this handle acts for, if any.
            #[allow(dead_code)]
            pub(crate) fn actor(&self) -> Option<&crate::users::Actor> {
                self.actor.as_deref()
            }
        }
    };
}

handle!(
    /// Customers: create, import, read, update, deactivate, list, merge.
    /// From [`Crm::customers`].
    Customers
);
handle!(
    /// The loyalty programme: purchases, refunds, earn/redeem/adjust,
    /// expiry, balances, history import. From [`Crm::loyalty`].
    Loyalty
);
handle!(
    /// Customer analytics: one customer's scores, scoring everyone as a
    /// stream, segment totals, model fitting. From [`Crm::analytics`].
    Analytics
);
handle!(
    /// The outbox of domain events: reading, the wire format, following in
    /// order. From [`Crm::events`].
    Events
);
handle!(
    /// Staff users (logins and roles) and application settings. From
    /// [`Crm::users`].
    Users
);
handle!(
    /// Customer communications: templates, previews, consent and
    /// unsubscribe, campaigns, the communication log. From [`Crm::comms`];
    /// delivery runs in a [`Dispatcher`](crate::comms::Dispatcher).
    Comms
);

impl Crm {
    /// A CRM over `store`, with the system clock and default settings.
    pub fn new(store: impl CrmStore + 'static) -> Self {
        Self::from_arc(Arc::new(store))
    }

    /// A CRM over a shared store (what `crm_sqlx::connect` returns).
    pub fn from_arc(store: Arc<dyn CrmStore>) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                clock: Arc::new(SystemClock),
                region: Region::ID,
                config: CrmConfig::default(),
                analytics: Default::default(),
                refit_lock: Default::default(),
                hashing: Arc::new(tokio::sync::Semaphore::new(crate::users::HASHING_SLOTS)),
                comms_secret: Default::default(),
            }),
            actor: None,
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
                refit_lock: inner.refit_lock.clone(),
                hashing: inner.hashing.clone(),
                comms_secret: inner.comms_secret.clone(),
            }),
            actor: self.actor.clone(),
        }
    }

    /// The same CRM acting for `actor`: every change made through its
    /// handles is recorded in the audit trail ([`crate::audit`]) under this
    /// user and role, and manual points follow the role's caps (unless a
    /// [`PointsRequest`](crate::loyalty::PointsRequest) names its own actor).
    /// Cheap: a server calls it once per request with the caller.
    pub fn acting_as(&self, actor: crate::users::Actor) -> Self {
        Self {
            inner: self.inner.clone(),
            actor: Some(Arc::new(actor)),
        }
    }

    /// The same CRM with other settings; fails with every bad setting
    /// (an unknown region, a zero page size, loyalty and analytics rules).
    pub fn with_config(self, config: CrmConfig) -> Result<Self> {
        let mut errors = FieldErrors::new();
        let region = errors.check("", parse_region(&config.default_region));
        if config.max_page_limit == 0 {
            errors.push("max_page_limit", "min", "must be at least 1");
        }
        if config.default_page_limit == 0 || config.default_page_limit > config.max_page_limit {
            errors.push(
                "default_page_limit",
                "range",
                "must be between 1 and max_page_limit",
            );
        }
        errors.check("analytics.", config.analytics.config.validate());
        errors.check("loyalty.", config.loyalty.validate());
        errors.check("comms.", config.comms.validate());
        let region = errors.finish_with(region)?.unwrap_or(Region::ID);
        let inner = &self.inner;
        Ok(Self {
            inner: Arc::new(Inner {
                store: inner.store.clone(),
                clock: inner.clock.clone(),
                config,
                region,
                analytics: inner.analytics.clone(),
                refit_lock: inner.refit_lock.clone(),
                hashing: inner.hashing.clone(),
                comms_secret: inner.comms_secret.clone(),
            }),
            actor: self.actor.clone(),
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

    /// A short name of the storage backend (`memory`, `sqlite`, `mysql`).
    pub fn backend(&self) -> &'static str {
        self.inner.store.backend()
    }

    /// Connections of the backend's pool (open, idle), for metrics; `None`
    /// without a pool.
    pub fn pool_status(&self) -> Option<(u32, u32)> {
        self.inner.store.pool_status()
    }

    /// Closes the backend's connection pool, waiting for connections in use
    /// to be given back. Every clone and handle shares the pool: calls made
    /// after it fail.
    pub async fn close(&self) {
        self.inner.store.close().await;
    }

    /// Checks that the backend answers (health checks).
    pub async fn ping(&self) -> Result<()> {
        self.inner.store.ping().await
    }

    /// Customers.
    pub fn customers(&self) -> Customers {
        Customers {
            inner: self.inner.clone(),
            actor: self.actor.clone(),
        }
    }

    /// The loyalty programme.
    pub fn loyalty(&self) -> Loyalty {
        Loyalty {
            inner: self.inner.clone(),
            actor: self.actor.clone(),
        }
    }

    /// Customer analytics.
    pub fn analytics(&self) -> Analytics {
        Analytics {
            inner: self.inner.clone(),
            actor: self.actor.clone(),
        }
    }

    /// The outbox of domain events.
    pub fn events(&self) -> Events {
        Events {
            inner: self.inner.clone(),
            actor: self.actor.clone(),
        }
    }

    /// Staff users and settings.
    pub fn users(&self) -> Users {
        Users {
            inner: self.inner.clone(),
            actor: self.actor.clone(),
        }
    }

    /// Customer communications.
    pub fn comms(&self) -> Comms {
        Comms {
            inner: self.inner.clone(),
            actor: self.actor.clone(),
        }
    }
}
