//! # crm-node
//!
//! The Node.js package of the CRM SDK (npm `crm-sdk`), built with napi-rs.
//! It translates types and errors and holds no rule: every call reads its
//! request with crm-core's reader and makes one call on a crm-core handle.
//!
//! ```js
//! const { Crm } = require('crm-sdk')
//! const crm = await Crm.connect('sqlite:///var/lib/pos/crm.db')
//! const c = await crm.customers.create({ name: 'Toko Sinar Jaya', phone: '0812-3456-7890' })
//! await crm.loyalty.earn({ customerId: c.id, points: 100, referenceType: 'promo', referenceId: 'p-1' })
//! ```
//!
//! - Every I/O call returns a Promise and runs on a tokio worker, never on
//!   the JavaScript thread.
//! - A rejection is an `Error` with the SDK's `code` (see [`error`]).
//! - Money crosses as decimal strings, times as ISO-8601 strings, ids and
//!   points as numbers (an integer beyond 2^53 - 1 is refused, never
//!   rounded); see [`types`].
//! - `crm.events.subscribe()` and `crm.analytics.scoreBatches()` are async
//!   iterators ([`iter`]).

#![deny(clippy::unwrap_used)]

pub mod convert;
pub mod csv;
pub mod error;
pub mod handles;
pub mod iter;
pub mod types;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crm_core::users::{Actor, Role};
use napi::Env;
use napi::bindgen_prelude::{PromiseRaw, ToNapiValue};
use napi_derive::napi;

use crate::handles::{Analytics, Comms, Customers, Events, Loyalty, Users};

/// What a call hands back to JavaScript: a Promise of `T`.
pub type Promise<'env, T> = napi::Result<PromiseRaw<'env, T>>;

/// Runs `fut` on the runtime's workers; the Promise resolves with its value
/// or rejects with the SDK error (with its `code` and details).
pub fn promise<'env, T, F>(env: &'env Env, fut: F) -> Promise<'env, T>
where
    T: ToNapiValue + Send + 'static,
    F: Future<Output = crm_core::Result<T>> + Send + 'static,
{
    env.spawn_future_with_callback(async move { Ok(fut.await) }, |env, out| {
        out.map_err(|e| error::to_js(env, &e))
    })
}

/// Set once `close()` has been called; shared by a `Crm`, its `actingAs`
/// copies and every handle they gave out.
#[derive(Clone, Debug, Default)]
pub struct Closed(Arc<AtomicBool>);

impl Closed {
    /// Fails once the `Crm` is closed.
    pub fn check(&self) -> crm_core::Result<()> {
        if self.0.load(Ordering::Acquire) {
            return Err(crm_core::Error::Unavailable {
                message: "this Crm is closed (close() was called); connect again".into(),
                source: None,
            });
        }
        Ok(())
    }

    fn close(&self) {
        self.0.store(true, Ordering::Release);
    }
}

fn store_options(options: Option<types::ConnectOptions>) -> crm_sqlx::StoreOptions {
    let defaults = crm_sqlx::StoreOptions::default();
    let Some(o) = options else { return defaults };
    crm_sqlx::StoreOptions {
        migrate: o.migrate.unwrap_or(defaults.migrate),
        max_connections: o.max_connections.unwrap_or(defaults.max_connections),
        min_connections: o.min_connections.unwrap_or(defaults.min_connections),
        acquire_timeout: o.acquire_timeout_ms.map_or(defaults.acquire_timeout, |ms| {
            Duration::from_millis(ms.into())
        }),
        ..defaults
    }
}

/// A connection to a CRM store, handing out one handle per area:
/// `customers`, `loyalty`, `analytics`, `events`, `users`.
#[napi]
pub struct Crm {
    crm: crm_core::Crm,
    closed: Closed,
}

#[napi]
impl Crm {
    /// Connects to `url` (any URL the Rust `connect` takes:
    /// `sqlite:///path/crm.db`, `sqlite::memory:`,
    /// `mysql://user:pass@host/db`) and applies pending migrations.
    #[napi(ts_return_type = "Promise<Crm>")]
    pub fn connect<'env>(
        env: &'env Env,
        url: String,
        options: Option<types::ConnectOptions>,
    ) -> Promise<'env, Crm> {
        let options = store_options(options);
        promise(env, async move {
            let store = crm_sqlx::connect_with(&url, options).await?;
            Ok(Crm {
                crm: crm_core::Crm::from_arc(store),
                closed: Closed::default(),
            })
        })
    }

    /// The same CRM acting for a user: every change it makes is recorded in
    /// the audit trail under this user and role, and manual points follow
    /// the role's caps.
    #[napi]
    pub fn acting_as(&self, actor: types::Actor) -> napi::Result<Crm> {
        let role = Role::parse(&actor.role).ok_or_else(|| {
            napi::Error::new(
                napi::Status::InvalidArg,
                format!(
                    "role must be admin, manager, cashier or analyst, not {:?}",
                    actor.role
                ),
            )
        })?;
        Ok(Crm {
            crm: self.crm.acting_as(Actor {
                user: actor.user,
                role,
            }),
            closed: self.closed.clone(),
        })
    }

    /// `sqlite`, `mysql` or `memory`.
    #[napi(getter)]
    pub fn backend(&self) -> &'static str {
        self.crm.backend()
    }

    /// Resolves when the database answers.
    #[napi]
    pub fn ping<'env>(&self, env: &'env Env) -> Promise<'env, ()> {
        let crm = self.crm.clone();
        let closed = self.closed.clone();
        promise(env, async move {
            closed.check()?;
            crm.ping().await
        })
    }

    /// Closes the connection pool once the calls in flight are done; later
    /// calls on this `Crm` or its handles reject with `unavailable`.
    #[napi]
    pub fn close<'env>(&self, env: &'env Env) -> Promise<'env, ()> {
        self.closed.close();
        let crm = self.crm.clone();
        promise(env, async move {
            crm.close().await;
            Ok(())
        })
    }

    /// Customers: create, import, read, update, deactivate, list, merge,
    /// CSV files in and out.
    #[napi(getter)]
    pub fn customers(&self) -> Customers {
        Customers::new(self.crm.clone(), self.closed.clone())
    }

    /// The loyalty programme: purchases, refunds, earn, redeem, adjust,
    /// expiry, balances, history import.
    #[napi(getter)]
    pub fn loyalty(&self) -> Loyalty {
        Loyalty::new(self.crm.loyalty(), self.closed.clone())
    }

    /// Customer analytics: one customer's scores, everyone's, segments,
    /// model fitting.
    #[napi(getter)]
    pub fn analytics(&self) -> Analytics {
        Analytics::new(self.crm.analytics(), self.closed.clone())
    }

    /// The outbox of domain events, and live subscriptions to it.
    #[napi(getter)]
    pub fn events(&self) -> Events {
        Events::new(self.crm.events(), self.closed.clone())
    }

    /// Staff users (logins and roles).
    #[napi(getter)]
    pub fn users(&self) -> Users {
        Users::new(self.crm.users(), self.closed.clone())
    }

    /// Customer communications: templates, consent, campaigns, the log.
    #[napi(getter)]
    pub fn comms(&self) -> Comms {
        Comms::new(self.crm.comms(), self.closed.clone())
    }
}
