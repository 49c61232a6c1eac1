"""Test set-up: every `crm` test runs on SQLite (a fresh file per test) and on
MySQL/MariaDB when CRM_TEST_MYSQL_URL is set (one fresh database for the
session, with a unique name, dropped at the end). Without the variable the
MySQL cases are skipped, loudly; with CI=true a missing MySQL fails the run.
Tests of optional dependencies (Dask) follow the same rule.
"""

import importlib
import os
import random
import uuid
from pathlib import Path
from types import ModuleType
from typing import Iterator, List
from urllib.parse import unquote, urlsplit, urlunsplit

import pandas as pd
import pytest

import crm_sdk

MYSQL_URL = os.environ.get("CRM_TEST_MYSQL_URL", "").strip()
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
_skipped_mysql: List[str] = []
_skipped_optional: List[str] = []

#: The repository root (test data lives in tests/data).
REPO = Path(__file__).resolve().parents[3]
#: The CDNOW sample and its published summaries (see its README.md).
CDNOW = REPO / "tests" / "data" / "cdnow"


def pytest_sessionstart(session: pytest.Session) -> None:
    if IN_CI and not MYSQL_URL:
        pytest.exit("CI=true but CRM_TEST_MYSQL_URL is not set: the MySQL tests cannot run", returncode=1)


def skip_module_loudly(what: str, why: str) -> None:
    """Skips the calling test module, with a red line at the end of the run;
    with CI=true fails the run instead: CI must run every test."""
    if IN_CI:
        pytest.fail(f"CI=true but {what} cannot run: {why}", pytrace=False)
    _skipped_optional.append(what)
    pytest.skip(f"{what}: {why}", allow_module_level=True)


def pytest_terminal_summary(terminalreporter) -> None:  # type: ignore[no-untyped-def]
    if _skipped_mysql:
        terminalreporter.write_sep(
            "!",
            f"MySQL/MariaDB SKIPPED: {len(_skipped_mysql)} tests did not run on MySQL "
            "(set CRM_TEST_MYSQL_URL, e.g. mysql://crm:crm@127.0.0.1:3306/crm_test)",
            red=True,
            bold=True,
        )
    if _skipped_optional:
        terminalreporter.write_sep(
            "!",
            "SKIPPED for missing tools: " + ", ".join(sorted(set(_skipped_optional))),
            red=True,
            bold=True,
        )


def optional_module(name: str, install: str) -> ModuleType:
    """The module, or a loud skip when it is not installed (a failure with
    CI=true, where every tool must be present)."""
    try:
        return importlib.import_module(name)
    except ImportError as e:
        if IN_CI:
            pytest.fail(f"CI=true but {name} is missing ({install}): {e}")
        _skipped_optional.append(name)
        pytest.skip(f"{name} is not installed ({install})")


def load_cdnow_transactions() -> pd.DataFrame:
    """The CDNOW purchases: ``customer_id``, ``date`` (a datetime),
    ``cds`` and ``amount``, one row per purchase."""
    tx = pd.read_csv(
        CDNOW / "CDNOW_sample.txt",
        sep=r"\s+",
        header=None,
        names=["master_id", "customer_id", "date", "cds", "amount"],
        dtype={"date": str},
    )
    tx["date"] = pd.to_datetime(tx["date"], format="%Y%m%d")
    return tx


def cargo_binary(name: str) -> Path:
    """A binary of the workspace from the debug build (`cargo test
    --workspace` builds it), or a loud skip (a failure with CI=true)."""
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    # With CARGO_BUILD_TARGET set (one target directory shared with napi),
    # cargo builds into target/<triple>/debug.
    triple = os.environ.get("CARGO_BUILD_TARGET", "")
    candidates = [target / triple / "debug" / name] if triple else []
    candidates.append(target / "debug" / name)
    path = candidates[0]
    for path in candidates:
        if path.exists():
            return path
    message = f"{path} does not exist: run `cargo build -p {name}` first"
    if IN_CI:
        pytest.fail(f"CI=true but {message}")
    _skipped_optional.append(name)
    pytest.skip(message)


@pytest.fixture(scope="session")
def mysql_url() -> Iterator[str]:
    """A fresh database on the CRM_TEST_MYSQL_URL server, dropped afterwards."""
    import pymysql

    parts = urlsplit(MYSQL_URL)
    name = f"crm_test_py_{uuid.uuid4().hex[:12]}"
    conn = pymysql.connect(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 3306,
        user=unquote(parts.username or "root"),
        password=unquote(parts.password or ""),
        autocommit=True,
    )
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{name}`")
        yield urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, ""))
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        conn.close()


@pytest.fixture(params=["sqlite", "mysql"])
def db_url(request: pytest.FixtureRequest, tmp_path) -> str:  # type: ignore[no-untyped-def]
    """The URL of a store of each backend."""
    if request.param == "sqlite":
        return f"sqlite://{tmp_path}/crm.db"
    if not MYSQL_URL:
        _skipped_mysql.append(request.node.nodeid)
        pytest.skip("MySQL: CRM_TEST_MYSQL_URL is not set")
    return str(request.getfixturevalue("mysql_url"))


@pytest.fixture
def crm(db_url: str) -> crm_sdk.Crm:
    """A synchronous CRM on each backend."""
    return crm_sdk.Crm.connect(db_url)


def uniq() -> str:
    """A short unique token: tests on the shared MySQL database never clash."""
    return uuid.uuid4().hex[:10]


def phone() -> str:
    """A unique Indonesian mobile number in local format."""
    return "0812" + "".join(random.choice("0123456789") for _ in range(8))


def email() -> str:
    """A unique email address, mixed case (the core lower-cases it)."""
    return f"Budi.{uniq()}@Example.com"


@pytest.fixture(scope="session")
def cdnow_transactions() -> pd.DataFrame:
    """The CDNOW sample as ``customer_id``, ``date`` (datetime64) and
    ``amount``, loaded once per session (tests must not modify it)."""
    return load_cdnow_transactions()[["customer_id", "date", "amount"]]
