"""Fixtures for the programme tests, on top of tests/conftest.py (whose ``db_url`` runs each test on
SQLite and on PostgreSQL)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

SEOUL = ZoneInfo("Asia/Seoul")


@pytest.fixture
def db(db_url: str):  # type: ignore[no-untyped-def]
    from storage.db import Database
    from storage.schema import upgrade

    database = Database(db_url)
    upgrade(database)
    yield database
    database.dispose()


@pytest.fixture
def catalog():  # type: ignore[no-untyped-def]
    from engine.catalog import Catalog
    from workflows import SHIPPED_DIR

    return Catalog.from_dirs([SHIPPED_DIR])


@pytest.fixture
def service(db, catalog):  # type: ignore[no-untyped-def]
    from engine.service import Service
    from storage.repository import SqlProjectStore

    return Service(SqlProjectStore(db), catalog)


@pytest.fixture
def programme(db, catalog):  # type: ignore[no-untyped-def]
    from programme.records import ProgrammeService
    from programme.repository import SqlProgrammeStore

    return ProgrammeService(SqlProgrammeStore(db), catalog)


@pytest.fixture
def cli(db, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Run ``dongflow ARGS`` against the test database; returns click's Result."""
    from cli import cli as group

    monkeypatch.setenv("DONGFLOW_DATABASE_URL", db.url)
    monkeypatch.setenv("DONGFLOW_ACTOR", "tester")
    monkeypatch.delenv("DONGFLOW_LANG", raising=False)
    runner = CliRunner()

    def run(*args: str):  # type: ignore[no-untyped-def]
        return runner.invoke(group, list(args), catch_exceptions=False)

    return run


def at(day: str, hour: int = 10) -> dt.datetime:
    """A Seoul-local moment on DAY, as the aware UTC datetime the engine is given."""
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(hour), SEOUL).astimezone(dt.timezone.utc)
