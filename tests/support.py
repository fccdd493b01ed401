"""Helpers shared by the tests: a database dump, the CLI error contract, an in-memory store."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from click.testing import Result

from engine.errors import AlreadyExists, ChangedMeanwhile, ProjectNotFound
from engine.ports import ProjectQuery
from engine.project import Event, Project

DATA = Path(__file__).parent / "data"


def seoul_rows(count: int) -> list[tuple[str, str, str, str]]:
    """``count`` distinct (key, gu, dong, year) of real Seoul dongs (the shipped workflow checks them):
    every dong of the 2016 list, year after year from 2016."""
    import csv
    from importlib.resources import files

    text = files("programme").joinpath("data/seoul-dongs-2016.csv").read_text("utf-8-sig")
    dongs = [(r["gu"], r["dong_common"]) for r in csv.DictReader(text.splitlines())]
    return [(f"{2016 + i // len(dongs)}-{gu}-{dong}", gu, dong, str(2016 + i // len(dongs)))
            for i, (gu, dong) in ((i, dongs[i % len(dongs)]) for i in range(count))]


def dump(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (ordered), to compare a database before and after a command."""
    from sqlalchemy import MetaData, create_engine, select

    engine = create_engine(url)
    try:
        meta = MetaData()
        meta.reflect(engine)
        out: dict[str, list[tuple[Any, ...]]] = {}
        with engine.connect() as conn:
            for name, table in sorted(meta.tables.items()):
                order = list(table.primary_key.columns) or list(table.columns)[:1]  # json has no ordering
                rows = conn.execute(select(table).order_by(*order)).all()
                out[name] = [tuple(r) for r in rows]
        return out
    finally:
        engine.dispose()


def assert_one_error(result: Result, exit_code: int, *fragments: str, problem_lines: int = 0) -> str:
    """The CLI error contract: the exit code, exactly one ``Error:`` line on stderr (plus indented
    problem lines for multi-problem errors), no traceback. Returns the error line."""
    assert result.exit_code == exit_code, (result.exit_code, result.output, result.exception)
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    errors = [line for line in lines if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    assert lines[0] == errors[0], result.stderr
    others = lines[1:]
    assert len(others) == problem_lines, result.stderr
    assert all(line.startswith("  ") for line in others), result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, (fragment, result.stderr)
    return errors[0]


class MemoryStore:
    """A ``ProjectStore`` in memory with the same contract as the SQL one (optimistic locking,
    all-or-nothing adds); lets property tests drive the real service quickly."""

    def __init__(self) -> None:
        self.projects: dict[str, Project] = {}
        self.history: dict[str, list[Event]] = {}

    def snapshot(self) -> tuple[dict[str, Project], dict[str, list[Event]]]:
        return copy.deepcopy(self.projects), copy.deepcopy(self.history)

    def get(self, key: str) -> Project:
        try:
            return self.projects[key]
        except KeyError:
            raise ProjectNotFound(key) from None

    def add(
        self,
        items: Sequence[tuple[Project, Sequence[Event]]],
        progress: Callable[[int], None] | None = None,
        workflows: Sequence[Any] = (),
    ) -> None:
        keys = [p.key for p, _ in items]
        taken = sorted(set(keys) & set(self.projects)) or sorted(k for k in keys if keys.count(k) > 1)
        if taken:
            raise AlreadyExists(f"project {taken[0]}")
        for project, events in items:
            self.projects[project.key] = project
            self.history[project.key] = list(events)
        if progress is not None:
            progress(len(items))

    def save(self, project: Project, event: Event) -> None:
        current = self.get(project.key)
        if current.version != project.version - 1 or event.seq != project.version:
            raise ChangedMeanwhile(project.key)
        self.projects[project.key] = project
        self.history[project.key].append(event)

    def save_batch(self, items: Sequence[tuple[str, Project, Event]], *, skip_stale: bool = False) -> list[str]:
        stale = [old for old, project, _ in items if self.get(old).version != project.version - 1]
        if stale and not skip_stale:
            raise ChangedMeanwhile(stale[0])
        renamed = [p.key for old, p, _ in items if p.key != old and p.key in self.projects]
        if renamed:
            raise AlreadyExists(f"project {renamed[0]}", field="key")
        for old, project, event in items:
            if old in stale:
                continue
            self.history[project.key] = self.history.pop(old) + [event]
            del self.projects[old]
            self.projects[project.key] = project
        return stale

    def events(self, key: str) -> list[Event]:
        self.get(key)
        return list(self.history[key])

    def find(self, query: ProjectQuery) -> list[Project]:
        out = [
            p
            for p in self.projects.values()
            if (query.key is None or p.key == query.key)
            and (query.gu is None or p.gu == query.gu)
            and (query.year is None or p.year == query.year)
            and (query.state is None or p.state == query.state)
            and (query.workflow_id is None or p.workflow_id == query.workflow_id)
            and (query.districts is None or p.gu in query.districts)
        ]
        end = None if query.limit is None else query.offset + query.limit
        return sorted(out, key=lambda p: p.key)[query.offset : end]

    def find_as_of(self, query: ProjectQuery, cutoff: dt.datetime) -> list[Project]:
        from engine.asof import page, rebuilt

        found = (rebuilt(p, self.history[p.key], cutoff) for p in self.projects.values())
        return page((p for p in found if p is not None), query)

    def count(self, query: ProjectQuery) -> int:
        import dataclasses

        return len(self.find(dataclasses.replace(query, limit=None, offset=0)))

    def renamed_to(self, key: str) -> str | None:
        found = [(e.recorded_at or e.at, now) for now, events in self.history.items() for e in events
                 if e.kind == "edited" and e.data.get("old", {}).get("key") == key]
        return max(found)[1] if found else None

    def existing_keys(self, keys: Sequence[str]) -> set[str]:
        return set(keys) & set(self.projects)


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.timezone.utc)


def without_participation(catalog: Any) -> Any:
    """The same workflows, with every fact set only by ``fact set``.

    In the shipped workflow ``resident_meetings`` counts recorded resident meetings (participation
    events, a programme feature) and ``fact set`` refuses it. The core tests exercise the engine's
    own fact and guard mechanics, which this variant keeps apart from the programme module.
    """
    import dataclasses

    from engine.catalog import Catalog

    return Catalog(
        dataclasses.replace(
            wf, facts={name: dataclasses.replace(f, counts_participation=None) for name, f in wf.facts.items()}
        )
        for wf in catalog.all()
    )


# --------------------------------------------------------------------------------------------------
# Test databases (used by every conftest: one definition of "a fresh database on each backend")

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def postgres_url() -> str:
    import os

    return os.environ.get("DONGFLOW_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


def libpq_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


_unavailable: list[str | None] = []


def postgres_unavailable() -> str | None:
    """Why the PostgreSQL server cannot be used (None when it can). Checked once per process."""
    if _unavailable:
        return _unavailable[0]
    import socket
    from urllib.parse import urlsplit

    url = postgres_url()
    parts = urlsplit(libpq_url(url))
    host, port = parts.hostname or "127.0.0.1", parts.port or 5432
    reason: str | None = None
    try:
        socket.create_connection((host, port), timeout=1.0).close()
    except OSError as exc:
        reason = f"PostgreSQL at {host}:{port} is unreachable ({exc}); set DONGFLOW_TEST_POSTGRES_URL"
    else:
        try:
            import psycopg

            psycopg.connect(libpq_url(url), connect_timeout=2).close()
        except Exception as exc:  # noqa: BLE001 - any failure means "cannot use it"
            reason = f"cannot log in to PostgreSQL at {host}:{port}: {str(exc).strip().splitlines()[0]}"
    _unavailable.append(reason)
    return reason


def require_postgres() -> None:
    """Skip with the reason when the server is unreachable; fail instead under DONGFLOW_REQUIRE_POSTGRES=1 (CI)."""
    import os

    import pytest

    reason = postgres_unavailable()
    if reason is None:
        return
    if os.environ.get("DONGFLOW_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"DONGFLOW_REQUIRE_POSTGRES=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def fresh_database(kind: str, folder: Path) -> Any:
    """A context manager giving the URL of an empty database: a SQLite file in ``folder``, or a
    PostgreSQL schema of its own (dropped afterwards)."""
    import contextlib
    import uuid

    @contextlib.contextmanager
    def make() -> Any:
        if kind == "sqlite":
            yield f"sqlite:///{folder / 'dongflow.db'}"
            return
        require_postgres()
        import psycopg

        schema = f"t_{uuid.uuid4().hex}"
        base = postgres_url()
        with psycopg.connect(libpq_url(base), autocommit=True, connect_timeout=2) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        sep = "&" if "?" in base else "?"
        try:
            yield f"{base}{sep}options=-csearch_path%3D{schema}"
        finally:
            with psycopg.connect(libpq_url(base), autocommit=True, connect_timeout=2) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')

    return make()
