"""Shared fixtures: the CLI runner, one database fixture for every backend, the shipped catalog, a clock.

``db_url`` is parametrised: each test that takes it runs once on SQLite (a file in ``tmp_path``) and
once on PostgreSQL (a schema of its own on the local server, dropped afterwards). The PostgreSQL
cases carry the ``external_service`` marker and are skipped, with the reason, when the server cannot
be reached -- unless ``DONGFLOW_REQUIRE_POSTGRES=1`` (CI), where an unreachable server fails them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.catalog import Catalog
from engine.definition import Workflow
from support import fresh_database
from workflows import SHIPPED_DIR

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
    with fresh_database(request.param, tmp_path) as url:
        yield url


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
