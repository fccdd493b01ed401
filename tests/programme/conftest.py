"""Fixtures for the programme tests: one database fixture run on SQLite and on PostgreSQL.

PostgreSQL cases use the local server (``DONGFLOW_TEST_PG`` overrides the URL) with a schema of
their own per test, and skip with the reason when the server cannot be reached.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

PG_URL = os.environ.get("DONGFLOW_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SEOUL = ZoneInfo("Asia/Seoul")


def _pg_or_skip() -> str:
    import sqlalchemy as sa

    schema = "t_" + uuid.uuid4().hex[:12]
    try:
        engine = sa.create_engine(PG_URL, connect_args={"connect_timeout": 2})
        with engine.begin() as conn:
            conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
        engine.dispose()
    except Exception as exc:  # noqa: BLE001 - any failure to reach the server means: skip
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {type(exc).__name__}")
    return schema


def _drop_pg(schema: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.external_service)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database URL; the schema is NOT created (see ``db``)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'dongflow.db'}"
        return
    schema = _pg_or_skip()
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        _drop_pg(schema)


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
    from engine.programme import ProgrammeService
    from storage.programme_repository import SqlProgrammeStore

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
