"""Shared fixtures: the CLI runner, one database fixture for every backend, the shipped catalog, a clock.

``db_url`` is parametrised: each test that takes it runs once on SQLite (a file in ``tmp_path``) and
once on PostgreSQL (a schema of its own on the local server, dropped afterwards). The PostgreSQL
cases carry the ``external_service`` marker and are skipped, with the reason, when the server cannot
be reached -- unless ``DONGFLOW_REQUIRE_POSTGRES=1`` (CI), where an unreachable server fails them.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import uuid
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner

from engine.catalog import Catalog
from engine.definition import Workflow
from workflows import SHIPPED_DIR

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

# Everything the CLI reads from the environment; tests start with none of it set.
DONGFLOW_ENV = (
    "DONGFLOW_DATABASE_URL",
    "DONGFLOW_WORKFLOWS",
    "DONGFLOW_LANG",
    "DONGFLOW_TIMEZONE",
    "DONGFLOW_ACTOR",
    "DONGFLOW_BUSY_TIMEOUT",
    "DONGFLOW_DEBUG",
    "DONGFLOW_CONFIG",
)


def postgres_url() -> str:
    return os.environ.get("DONGFLOW_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


@cache
def postgres_unavailable() -> str | None:
    """Why the PostgreSQL server cannot be used (None when it can). Checked once per process."""
    url = postgres_url()
    parts = urlsplit(url.replace("postgresql+psycopg://", "postgresql://", 1))
    host, port = parts.hostname or "127.0.0.1", parts.port or 5432
    try:
        socket.create_connection((host, port), timeout=1.0).close()
    except OSError as exc:
        return f"PostgreSQL at {host}:{port} is unreachable ({exc}); set DONGFLOW_TEST_POSTGRES_URL"
    try:
        import psycopg

        psycopg.connect(_libpq_url(url), connect_timeout=2).close()
    except Exception as exc:  # noqa: BLE001 - any failure means "cannot use it"
        return f"cannot log in to PostgreSQL at {host}:{port}: {str(exc).strip().splitlines()[0]}"
    return None


def _libpq_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _require_postgres() -> None:
    reason = postgres_unavailable()
    if reason is None:
        return
    if os.environ.get("DONGFLOW_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"DONGFLOW_REQUIRE_POSTGRES=1 but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's dongflow settings or writes to their default database."""
    for name in DONGFLOW_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))  # no developer's alert config


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner(catch_exceptions=False)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.external_service)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database for this test, on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'dongflow.db'}"
        return
    _require_postgres()
    import psycopg

    schema = f"t_{uuid.uuid4().hex}"
    base = postgres_url()
    with psycopg.connect(_libpq_url(base), autocommit=True, connect_timeout=2) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(_libpq_url(base), autocommit=True, connect_timeout=2) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def database(db_url: str) -> Iterator:
    """A :class:`storage.db.Database` on the (empty) test database; disposed afterwards."""
    from storage.db import Database

    db = Database(db_url)
    yield db
    db.dispose()


@pytest.fixture
def initialised_db(db_url: str) -> str:
    """The URL of a test database whose schema was created by the migrations (as ``dongflow init``)."""
    from storage.db import Database
    from storage.schema import upgrade

    db = Database(db_url)
    try:
        upgrade(db)
    finally:
        db.dispose()
    return db_url


@pytest.fixture
def store(initialised_db: str) -> Iterator:
    from storage.db import Database
    from storage.repository import SqlProjectStore

    db = Database(initialised_db)
    yield SqlProjectStore(db)
    db.dispose()


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    """The shipped workflows (the catalog caches one machine per workflow version)."""
    return Catalog.from_dirs([SHIPPED_DIR])


@pytest.fixture(scope="session")
def workflow(catalog: Catalog) -> Workflow:
    return catalog.latest("space-improvement")


@pytest.fixture
def now() -> dt.datetime:
    """The time engine code is given (it never reads the clock): 2 March 2016, 18:30 in Seoul."""
    return dt.datetime(2016, 3, 2, 9, 30, tzinfo=dt.timezone.utc)


@pytest.fixture(scope="session")
def core_catalog(catalog: Catalog) -> Catalog:
    """The shipped workflows with facts set only by ``fact set`` (see support.without_participation)."""
    from support import without_participation

    return without_participation(catalog)


@pytest.fixture
def service(store, core_catalog: Catalog):
    from engine.service import Service

    return Service(store, core_catalog)
