"""The runtime: threads, fork, and the exception contract."""

import os
import pickle
import threading
from typing import List

import pytest

import crm_sdk
from crm_sdk import exceptions


def test_threads_share_one_crm(tmp_path) -> None:  # type: ignore[no-untyped-def]
    crm = crm_sdk.Crm.connect(f"sqlite://{tmp_path}/crm.db")
    codes: List[str] = []
    errors: List[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(10):
                codes.append(crm.customers.create(name=f"T{n}-{i}").customer_code)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(codes) == 40 and len(set(codes)) == 40


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_gets_its_own_runtime(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite://{tmp_path}/crm.db"
    parent = crm_sdk.Crm.connect(url)
    parent.customers.create(name="Before fork")
    pid = os.fork()
    if pid == 0:  # the child: report through the exit code only
        status = 1
        try:
            try:
                parent.customers.get(1)
            except RuntimeError as e:
                if "another process" in str(e):
                    child = crm_sdk.Crm.connect(url)
                    child.customers.create(name="In child")
                    status = 0 if child.customers.list().total == 2 else 3
            else:
                status = 2
        finally:
            os._exit(status)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    assert parent.customers.list().total == 2


def test_every_code_has_its_class_and_exceptions_pickle() -> None:
    cases = {
        exceptions.NotFoundError: "not_found",
        exceptions.ConflictError: "conflict",
        exceptions.DuplicateCustomerError: "duplicate_customer",
        exceptions.InsufficientPointsError: "insufficient_points",
        exceptions.IdempotencyConflictError: "idempotency_conflict",
        exceptions.ValidationError: "validation",
        exceptions.UnauthorizedError: "unauthorized",
        exceptions.UnavailableError: "unavailable",
    }
    for cls, code in cases.items():
        err = cls("boom")
        assert err.code == code and isinstance(err, crm_sdk.CrmError)
    err = exceptions.ValidationError("bad", fields=[exceptions.FieldError("name", "required", "name is required")])
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is exceptions.ValidationError and back.fields == err.fields and str(back) == "bad"
    dup = pickle.loads(pickle.dumps(exceptions.DuplicateCustomerError("dup", field="email", existing_customer_code="RT00000001")))
    assert dup.existing_customer_code == "RT00000001" and dup.code == "duplicate_customer"


def test_users_and_unauthorized(tmp_path) -> None:  # type: ignore[no-untyped-def]
    crm = crm_sdk.Crm.connect(f"sqlite://{tmp_path}/crm.db")
    admin = crm.users.create(email="Admin@CRM.local", password="change-me-please", role="admin")
    assert admin.email == "admin@crm.local" and admin.role == "admin"
    assert crm.users.authenticate(email="admin@crm.local", password="change-me-please") == admin
    with pytest.raises(crm_sdk.UnauthorizedError) as info:
        crm.users.authenticate(email="admin@crm.local", password="wrong-password")
    assert info.value.code == "unauthorized"
    with pytest.raises(crm_sdk.ValidationError) as v:
        crm.users.create(email="x@y.z", password="short", role="boss")
    assert "role" in {f.field for f in v.value.fields}
    cashier = crm.acting_as("till-1", "cashier")
    c = cashier.customers.create(name="Walk-in")
    with pytest.raises(crm_sdk.ValidationError) as caps:
        cashier.loyalty.earn(customer_id=c.id, points=20_000, reference_type="manual", reference_id="m1")
    assert caps.value.fields[0].rule == "role_cap"
    with pytest.raises(crm_sdk.ValidationError):
        crm.acting_as("x", "boss")


def test_bad_urls_are_validation_errors() -> None:
    with pytest.raises(crm_sdk.ValidationError) as info:
        crm_sdk.Crm.connect("postgres://nowhere/db")
    assert info.value.fields[0].field == "database_url"


def test_blocking_calls_release_the_gil(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Python threads keep running while a call works in Rust: password
    hashing (argon2id, tens of milliseconds of CPU) never stalls the main
    thread for the length of the call."""
    import time

    crm = crm_sdk.Crm.connect(f"sqlite://{tmp_path}/crm.db")
    took: List[float] = []

    def hash_passwords() -> None:
        for i in range(3):
            start = time.perf_counter()
            crm.users.create(email=f"u{i}@crm.local", password="a-long-password", role="cashier")
            took.append(time.perf_counter() - start)

    worker = threading.Thread(target=hash_passwords)
    last = time.perf_counter()
    longest_gap = 0.0
    worker.start()
    while worker.is_alive():
        now = time.perf_counter()
        longest_gap = max(longest_gap, now - last)
        last = now
    worker.join()
    assert len(took) == 3
    slowest = max(took)
    assert slowest > 0.005, f"a call took {slowest:.4f}s: too short to tell"
    assert longest_gap < slowest / 2, f"main thread stalled {longest_gap:.4f}s during a {slowest:.4f}s call"


@pytest.mark.skipif(not hasattr(os, "kill"), reason="needs signals")
def test_ctrl_c_interrupts_a_blocked_call_and_leaves_nothing_behind(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A notebook cell stuck on a locked database stops on Ctrl-C."""
    import signal
    import subprocess
    import sys
    import time

    path = tmp_path / "crm.db"
    crm = crm_sdk.Crm.connect(f"sqlite://{path}")
    crm.customers.create(name="Before the lock")
    # Another program holds the write lock: SQLite makes writers wait for it
    # (for seconds). A separate process, because SQLite's file locks do not
    # separate two connections of one process that use different SQLite
    # libraries.
    holder = subprocess.Popen(
        [
            sys.executable, "-c",
            "import sqlite3, sys, time\n"
            f"c = sqlite3.connect({str(path)!r}, isolation_level=None)\n"
            "c.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); time.sleep(30)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
        started = time.monotonic()
        timer.start()
        try:
            with pytest.raises(KeyboardInterrupt):
                crm.customers.create(name="Never written")
        finally:
            timer.cancel()
        assert time.monotonic() - started < 2.0
    finally:
        holder.kill()
        holder.wait()
    # The store still works, and the interrupted write left no trace.
    names = [c.name for c in crm.customers.list(limit=10)]
    assert names == ["Before the lock"]
    crm.customers.create(name="After the lock")


def test_connect_takes_the_pool_options(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite://{tmp_path}/crm.db"
    with pytest.raises(crm_sdk.ValidationError) as e:
        crm_sdk.Crm.connect(url, acquire_timeout=-1)
    assert [f.field for f in e.value.fields] == ["acquire_timeout"]
    # Without migrations a fresh database has no tables: the option reached the store.
    bare = crm_sdk.Crm.connect(f"sqlite://{tmp_path}/bare.db", migrate=False)
    with pytest.raises(crm_sdk.CrmError):
        bare.customers.create(name="No table yet")
    # One pooled connection still serves several threads, one after another.
    crm = crm_sdk.Crm.connect(url, max_connections=1, acquire_timeout=5.0)
    done: List[str] = []
    threads = [
        threading.Thread(target=lambda n=n: done.append(crm.customers.create(name=f"P{n}").name))
        for n in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(done) == ["P0", "P1", "P2", "P3"]
