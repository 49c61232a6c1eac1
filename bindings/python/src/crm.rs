//! `Crm` and `AsyncCrm`: a connection to a store, handing out the handles.

use crm_core::users::{Actor, Role};
use pyo3::prelude::*;

use crate::error::IntoPyResult;
use crate::handles::{
    Analytics, AsyncAnalytics, AsyncComms, AsyncCustomers, AsyncEvents, AsyncLoyalty, AsyncUsers,
    Comms, Customers, Events, Loyalty, Users,
};
use crate::runtime::{ProcessGuard, awaitable, block_on};

/// Opens the store a URL names and wraps it in a core `Crm`.
async fn open(url: String, options: crm_sqlx::StoreOptions) -> PyResult<crm_core::Crm> {
    let store = crm_sqlx::connect_with(&url, options).await.py()?;
    Ok(crm_core::Crm::from_arc(store))
}

/// The store options of `connect`'s keyword arguments; a negative or
/// non-finite timeout is a validation error naming the field.
fn store_options(
    max_connections: u32,
    min_connections: u32,
    acquire_timeout: f64,
    migrate: bool,
) -> PyResult<crm_sqlx::StoreOptions> {
    let acquire_timeout = std::time::Duration::try_from_secs_f64(acquire_timeout)
        .map_err(|_| {
            crm_core::Error::invalid(
                "acquire_timeout",
                "min",
                format!("acquire_timeout must be a number of seconds >= 0, got {acquire_timeout}"),
            )
        })
        .py()?;
    Ok(crm_sqlx::StoreOptions {
        migrate,
        max_connections,
        min_connections,
        acquire_timeout,
        ..crm_sqlx::StoreOptions::default()
    })
}

/// The actor of `acting_as`, with the role read by the core's names.
fn actor(user: String, role: &str) -> PyResult<Actor> {
    let role = Role::parse(role)
        .ok_or_else(|| {
            crm_core::Error::invalid(
                "role",
                "one_of",
                format!("role must be admin, manager, cashier or analyst, not {role:?}"),
            )
        })
        .py()?;
    Ok(Actor { user, role })
}

/// The CRM, synchronous: every call blocks until done with the GIL
/// released, so threads run in parallel. Open one per process with
/// `Crm.connect(url)` and share it.
#[pyclass(frozen, module = "crm_sdk")]
pub struct Crm {
    crm: crm_core::Crm,
    guard: ProcessGuard,
}

#[pymethods]
impl Crm {
    /// Opens the store at `url`: `sqlite:///path/crm.db` (created if
    /// missing), `sqlite::memory:`, `mysql://user:pass@host:3306/db`.
    /// Migrations are applied on connect unless `migrate=False`. The pool
    /// holds at most `max_connections` (at least `min_connections` idle);
    /// a call waits up to `acquire_timeout` seconds for a free one.
    #[staticmethod]
    #[pyo3(signature = (url, *, max_connections=10, min_connections=0, acquire_timeout=10.0, migrate=true))]
    fn connect(
        py: Python<'_>,
        url: String,
        max_connections: u32,
        min_connections: u32,
        acquire_timeout: f64,
        migrate: bool,
    ) -> PyResult<Self> {
        let options = store_options(max_connections, min_connections, acquire_timeout, migrate)?;
        let crm = block_on(py, open(url, options))?;
        Ok(Self {
            crm,
            guard: ProcessGuard::here(),
        })
    }

    /// The same CRM acting for `user` in `role` (`admin`, `manager`,
    /// `cashier`, `analyst`): changes are audited under this user, and
    /// manual points follow the role's caps.
    fn acting_as(&self, user: String, role: &str) -> PyResult<Self> {
        self.guard.check()?;
        Ok(Self {
            crm: self.crm.acting_as(actor(user, role)?),
            guard: self.guard,
        })
    }

    /// The storage backend: `sqlite` or `mysql`.
    #[getter]
    fn backend(&self) -> &'static str {
        self.crm.backend()
    }

    /// Checks that the database answers.
    fn ping(&self, py: Python<'_>) -> PyResult<()> {
        self.guard.check()?;
        let crm = self.crm.clone();
        block_on(py, async move { crm.ping().await.py() })
    }

    /// Customers.
    #[getter]
    fn customers(&self) -> Customers {
        Customers {
            crm: self.crm.clone(),
            guard: self.guard,
        }
    }

    /// The loyalty programme.
    #[getter]
    fn loyalty(&self) -> Loyalty {
        Loyalty {
            crm: self.crm.clone(),
            guard: self.guard,
        }
    }

    /// Customer analytics.
    #[getter]
    fn analytics(&self) -> Analytics {
        Analytics {
            crm: self.crm.clone(),
            guard: self.guard,
        }
    }

    /// The outbox of domain events.
    #[getter]
    fn events(&self) -> Events {
        Events {
            crm: self.crm.clone(),
            guard: self.guard,
        }
    }

    /// Staff users.
    #[getter]
    fn users(&self) -> Users {
        Users {
            crm: self.crm.clone(),
            guard: self.guard,
        }
    }

    /// Customer communications.
    #[getter]
    fn comms(&self) -> Comms {
        Comms {
            crm: self.crm.clone(),
            guard: self.guard,
        }
    }

    fn __repr__(&self) -> String {
        format!("<crm_sdk.Crm backend={:?}>", self.crm.backend())
    }
}

/// The CRM, asynchronous (asyncio): every call returns an awaitable. Open
/// one with `await AsyncCrm.connect(url)`.
#[pyclass(frozen, module = "crm_sdk")]
pub struct AsyncCrm {
    crm: crm_core::Crm,
    guard: ProcessGuard,
}

#[pymethods]
impl AsyncCrm {
    /// Opens the store at `url` (see `Crm.connect`); awaitable.
    #[staticmethod]
    #[pyo3(signature = (url, *, max_connections=10, min_connections=0, acquire_timeout=10.0, migrate=true))]
    fn connect(
        py: Python<'_>,
        url: String,
        max_connections: u32,
        min_connections: u32,
        acquire_timeout: f64,
        migrate: bool,
    ) -> PyResult<Bound<'_, PyAny>> {
        let options = store_options(max_connections, min_connections, acquire_timeout, migrate)?;
        awaitable(py, async move {
            Ok(AsyncCrm {
                crm: open(url, options).await?,
                guard: ProcessGuard::here(),
            })
        })
    }

    /// The same CRM acting for `user` in `role` (see `Crm.acting_as`).
    fn acting_as(&self, user: String, role: &str) -> PyResult<Self> {
        self.guard.check()?;
        Ok(Self {
            crm: self.crm.acting_as(actor(user, role)?),
            guard: self.guard,
        })
    }

    /// The storage backend: `sqlite` or `mysql`.
    #[getter]
    fn backend(&self) -> &'static str {
        self.crm.backend()
    }

    /// Checks that the database answers; awaitable.
    fn ping<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.guard.check()?;
        let crm = self.crm.clone();
        awaitable(py, async move { crm.ping().await.py() })
    }

    /// Customers.
    #[getter]
    fn customers(&self) -> AsyncCustomers {
        AsyncCustomers {
            crm: self.crm.clone(),
            guard: self.guard,
        }
    }

    /// The loyalty programme.
    #[getter]
    fn loyalty(&self) -> AsyncLoyalty {
        AsyncLoyalty {
            crm: self.crm.clone(),
            guard: self.guard,
        }
    }

    /// Customer analytics.
    #[getter]
    fn analytics(&self) -> AsyncAnalytics {
        AsyncAnalytics {
            crm: self.crm.clone(),
            guard: self.guard,
        }
    }

    /// The outbox of domain events.
    #[getter]
    fn events(&self) -> AsyncEvents {
        AsyncEvents {
            crm: self.crm.clone(),
            guard: self.guard,
        }
    }

    /// Staff users.
    #[getter]
    fn users(&self) -> AsyncUsers {
        AsyncUsers {
            crm: self.crm.clone(),
            guard: self.guard,
        }
    }

    /// Customer communications.
    #[getter]
    fn comms(&self) -> AsyncComms {
        AsyncComms {
            crm: self.crm.clone(),
            guard: self.guard,
        }
    }

    fn __repr__(&self) -> String {
        format!("<crm_sdk.AsyncCrm backend={:?}>", self.crm.backend())
    }
}
