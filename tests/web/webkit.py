"""Shared by the web tests: the seeded database (projects in two districts, users and tokens per role)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from argon2 import PasswordHasher

CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
PASSWORD = "correct horse battery"
OWN = "성동구"
OTHER = "종로구"
NOW = dt.datetime(2026, 3, 2, 0, 30, tzinfo=dt.timezone.utc)

# who -> (role, districts); "coordinator" and "viewer_own" are limited to OWN.
PRINCIPALS: dict[str, tuple[str, tuple[str, ...]]] = {
    "admin": ("admin", ()),
    "officer": ("officer", ()),
    "coordinator": ("coordinator", (OWN,)),
    "viewer_all": ("viewer", ()),
    "viewer_own": ("viewer", (OWN,)),
}


def seed(url: str, extra_projects: int = 0) -> tuple[dict[str, str], dict[str, str]]:
    """Projects ``own`` (성동구) and ``other`` (종로구) and a few more; a user and a token per principal.
    Returns (tokens by principal, keys by "own"/"other")."""
    from engine.access import Principal
    from engine.accounts import AccountService
    from engine.catalog import Catalog
    from engine.service import ProjectSpec, Service
    from storage.accounts import SqlAccountStore
    from storage.db import Database
    from storage.repository import SqlProjectStore
    from workflows import SHIPPED_DIR

    db = Database(url)
    try:
        service = Service(SqlProjectStore(db), Catalog.from_dirs([SHIPPED_DIR]))
        keys = {"own": "2016-성동구-마장동", "other": "2016-종로구-교남동"}
        specs = [ProjectSpec(key=keys["own"], gu=OWN, dong="마장동", year=2016),
                 ProjectSpec(key=keys["other"], gu=OTHER, dong="교남동", year=2016),
                 ProjectSpec(key="2016-성동구-금호1가동", gu=OWN, dong="금호1가동", year=2016),
                 ProjectSpec(key="2017-종로구-사직동", gu=OTHER, dong="사직동", year=2017)]
        specs += [ProjectSpec(key=f"2017-강남구-동{i:03d}", gu="강남구", dong=f"동{i:03d}", year=2017)
                  for i in range(extra_projects)]
        for spec in specs:
            service.add_project(spec, actor="seed", now=NOW)
        _alerts(db, [keys["own"]] * 3 + [keys["other"]] * 3)
        accounts = AccountService(SqlAccountStore(db), CHEAP_HASHER)
        op = Principal.operator()
        tokens = {}
        for who, (role, gus) in PRINCIPALS.items():
            accounts.add_user(op, who, role, PASSWORD, districts=gus, display_name=who.title(), now=NOW)
            tokens[who] = accounts.create_token(op, f"{who}-token", owner=who, now=NOW)
        return tokens, keys
    finally:
        db.dispose()


def _alerts(db: Any, keys: list[str]) -> None:
    """Open alerts (ids 1.. in the order of ``keys``), at a different level each time a key repeats."""
    from sqlalchemy import insert, select

    from storage.repository import P
    from storage.tables import AlertRow

    table = AlertRow.__table__  # type: ignore[attr-defined]
    with db.write() as conn:
        ids = dict(conn.execute(select(P.c.key, P.c.id).where(P.c.key.in_(keys))).all())
        seen: dict[str, int] = {}
        for key in keys:
            level = ("overdue", "escalated", "due_soon")[seen.get(key, 0)]
            seen[key] = seen.get(key, 0) + 1
            conn.execute(insert(table).values(
                project_id=ids[key], milestone="agreement", level=level, due_date=dt.date(2026, 3, 20), days=5,
                reason=f"{key}: 협약 기한 경과", as_of=dt.date(2026, 3, 25), created_at=NOW, state="open",
                open_since=dt.date(2026, 3, 25)))


_READERS: dict[str, Any] = {}


def snapshot(url: str) -> dict[str, Any]:
    """Every row of every table (as support.dump), except when tokens were last used (a refused request
    may record that). The engine and the reflected tables are kept per URL: this runs hundreds of times."""
    from sqlalchemy import MetaData, create_engine, select

    reader = _READERS.get(url)
    if reader is None:
        engine = create_engine(url, poolclass=__import__("sqlalchemy.pool", fromlist=["NullPool"]).NullPool)
        meta = MetaData()
        meta.reflect(engine)
        reader = _READERS[url] = (engine, meta)
    engine, meta = reader
    out: dict[str, Any] = {}
    with engine.connect() as conn:
        for name, table in sorted(meta.tables.items()):
            if name == "api_tokens":
                continue
            order = list(table.primary_key.columns) or list(table.columns)[:1]
            out[name] = [tuple(r) for r in conn.execute(select(table).order_by(*order))]
    return out


PROBLEM = "application/problem+json"


def problem(response: Any, status: int, code: int) -> dict[str, Any]:
    """The problem+json body of an API answer, checked: its status, dongflow code, title and detail,
    and no traceback."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status and body["code"] == code and body["title"] and body["detail"]
    assert "Traceback" not in response.text
    return body


def ok(response: Any) -> dict[str, Any]:
    """The JSON body of a 200 answer."""
    assert response.status_code == 200, response.text
    return response.json()
