//! The one tokio runtime of the process, and the two ways Python waits on
//! Rust: blocking with the GIL released (the synchronous API, for notebooks
//! and scripts) and asyncio awaitables (the asynchronous API).
//!
//! **Fork**: a forked child inherits the runtime's memory but none of its
//! threads, so the runtime is tied to the process id and rebuilt on first use
//! in a child (the parent's is leaked there: dropping it would wait for
//! threads that do not exist). Database pools belong to the runtime that
//! opened them, so a `Crm` must be opened in the process that uses it:
//! [`ProcessGuard`] turns the use of an inherited one into a clear error
//! instead of a hang.

use std::cell::OnceCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use pyo3::prelude::*;
use pyo3_async_runtimes::TaskLocals;
use pyo3_async_runtimes::generic::{ContextExt, JoinError, Runtime as GenericRuntime};
use tokio::runtime::{Builder, Runtime};

/// The runtime and the process it was built in.
static RUNTIME: Mutex<Option<(u32, Arc<Runtime>)>> = Mutex::new(None);

/// The runtime of this process, built on first use (again after a fork).
pub(crate) fn runtime() -> PyResult<Arc<Runtime>> {
    let pid = std::process::id();
    let mut slot = RUNTIME.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((owner, rt)) = slot.as_ref()
        && *owner == pid
    {
        return Ok(rt.clone());
    }
    let rt = Arc::new(
        Builder::new_multi_thread()
            .thread_name("crm-sdk")
            .enable_all()
            .build()
            .map_err(|e| {
                pyo3::exceptions::PyRuntimeError::new_err(format!(
                    "cannot start the crm_sdk runtime: {e}"
                ))
            })?,
    );
    if let Some((_, inherited)) = slot.replace((pid, rt.clone())) {
        // Its threads live in the parent only; never drop it here.
        std::mem::forget(inherited);
    }
    Ok(rt)
}

/// Remembers the process a `Crm` was opened in.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ProcessGuard(u32);

impl ProcessGuard {
    /// The current process.
    pub(crate) fn here() -> Self {
        Self(std::process::id())
    }

    /// Fails when called in another process than the one the `Crm` was
    /// opened in (a child after `fork`).
    pub(crate) fn check(self) -> PyResult<()> {
        if self.0 == std::process::id() {
            Ok(())
        } else {
            Err(pyo3::exceptions::PyRuntimeError::new_err(
                "this Crm was opened in another process (before a fork); \
                 call Crm.connect again in this process",
            ))
        }
    }
}

/// Runs `fut` to completion on the runtime with the GIL released, and
/// converts its output with the GIL held again.
///
/// On the main thread the wait is interruptible: Python's signal handlers
/// run every [`SIGNAL_CHECK`], and when one raises (Ctrl-C in a notebook
/// raises `KeyboardInterrupt`) the future is dropped, which rolls back an
/// open transaction, and the exception propagates.
pub(crate) fn block_on<F, T>(py: Python<'_>, fut: F) -> PyResult<T>
where
    F: Future<Output = PyResult<T>> + Send,
    T: Send,
{
    let rt = runtime()?;
    if !on_main_thread(py)? {
        // Only the main thread receives signals.
        return py.detach(|| rt.block_on(fut));
    }
    py.detach(|| {
        rt.block_on(async move {
            let fut = std::pin::pin!(fut);
            let signal = std::pin::pin!(signalled());
            match futures::future::select(fut, signal).await {
                futures::future::Either::Left((out, _)) => out,
                futures::future::Either::Right((err, _)) => Err(err),
            }
        })
    })
}

/// How often a blocking call lets Python run its signal handlers.
const SIGNAL_CHECK: std::time::Duration = std::time::Duration::from_millis(50);

/// Resolves with the exception of the first signal handler that raises.
async fn signalled() -> PyErr {
    let mut tick = tokio::time::interval(SIGNAL_CHECK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        if let Err(e) = Python::attach(|py| py.check_signals()) {
            return e;
        }
    }
}

fn on_main_thread(py: Python<'_>) -> PyResult<bool> {
    let threading = py.import("threading")?;
    let current = threading.call_method0("current_thread")?;
    let main = threading.call_method0("main_thread")?;
    Ok(current.is(&main))
}

/// The runtime as pyo3-async-runtimes sees it: ours, fork-aware, instead of
/// its own global one.
pub(crate) struct CrmRuntime;

/// A join error of our runtime.
pub(crate) struct TaskFailed(tokio::task::JoinError);

impl JoinError for TaskFailed {
    fn is_panic(&self) -> bool {
        self.0.is_panic()
    }

    fn into_panic(self) -> Box<dyn std::any::Any + Send + 'static> {
        self.0.into_panic()
    }
}

/// A spawned task, or the reason it could not be spawned.
type Join = Pin<Box<dyn Future<Output = Result<(), TaskFailed>> + Send>>;

fn join(handle: PyResult<tokio::task::JoinHandle<()>>) -> Join {
    Box::pin(async move {
        match handle {
            Ok(h) => h.await.map_err(TaskFailed),
            // No runtime: nothing ran. pyo3-async-runtimes only spawns
            // through here after `runtime()` succeeded for the call.
            Err(_) => Ok(()),
        }
    })
}

tokio::task_local! {
    static TASK_LOCALS: OnceCell<TaskLocals>;
}

impl GenericRuntime for CrmRuntime {
    type JoinError = TaskFailed;
    type JoinHandle = Join;

    fn spawn<F>(fut: F) -> Self::JoinHandle
    where
        F: Future<Output = ()> + Send + 'static,
    {
        join(runtime().map(|rt| rt.spawn(fut)))
    }

    fn spawn_blocking<F>(f: F) -> Self::JoinHandle
    where
        F: FnOnce() + Send + 'static,
    {
        join(runtime().map(|rt| rt.spawn_blocking(f)))
    }
}

impl ContextExt for CrmRuntime {
    fn scope<F, R>(locals: TaskLocals, fut: F) -> Pin<Box<dyn Future<Output = R> + Send>>
    where
        F: Future<Output = R> + Send + 'static,
    {
        let cell = OnceCell::new();
        // A fresh cell: setting it cannot fail.
        let _ = cell.set(locals);
        Box::pin(TASK_LOCALS.scope(cell, fut))
    }

    fn get_task_locals() -> Option<TaskLocals> {
        TASK_LOCALS
            .try_with(|c| c.get().cloned())
            .unwrap_or_default()
    }
}

/// An asyncio awaitable of `fut`, run on the runtime; cancelling the
/// awaitable drops the Rust future (an open transaction rolls back).
pub(crate) fn awaitable<'py, F, T>(py: Python<'py>, fut: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = PyResult<T>> + Send + 'static,
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    runtime()?;
    pyo3_async_runtimes::generic::future_into_py::<CrmRuntime, F, T>(py, fut)
}
