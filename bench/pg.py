"""The PostgreSQL half of the benchmark: the same portfolio copied into a schema of its own, and the
import, the nightly check and the advance (1 and 8 concurrent clients) beside raw psycopg floors.

The schema is made by dongflow's own migrations (``storage.schema.upgrade``); projects and events are
copied from the SQLite portfolio with ``COPY`` (the copy is not timed). Each measured process talks to
the server over TCP on 127.0.0.1, as a coordinator's CLI would. The schema is dropped at the end.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
PROJECT_COLUMNS = ("id", "key", "gu", "dong", "year", "workflow_id", "workflow_version", "state", "previous_state",
                   "target_date", "entered_at", "facts", "reached", "created_at", "version")
EVENT_COLUMNS = ("id", "project_id", "seq", "kind", "trigger", "from_state", "to_state", "actor", "at",
                 "recorded_at", "note", "data")


def libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def reachable(url: str) -> str | None:
    """None if the server answers, else why not."""
    try:
        import psycopg

        with psycopg.connect(libpq(url), connect_timeout=2) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - reported in the results instead of a figure
        return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
    return None


def schema_url(base: str, schema: str) -> str:
    sep = "&" if "?" in base else "?"
    return f"{libpq(base)}{sep}options=-csearch_path%3D{schema}"


def create(base: str) -> tuple[str, str]:
    """A new empty schema with dongflow's tables; returns (schema, its URL)."""
    import psycopg

    from storage.db import Database
    from storage.schema import upgrade

    schema = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(libpq(base), autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    url = schema_url(base, schema)
    db = Database(url)
    try:
        upgrade(db)
    finally:
        db.dispose()
    return schema, url


def drop(base: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(libpq(base), autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _moment(text: str | None) -> dt.datetime | None:
    if text is None:
        return None
    moment = dt.datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def copy_portfolio(sqlite_path: Path, url: str) -> dict[str, int]:
    """Projects and events of the SQLite portfolio into the schema at ``url`` (COPY; ids kept)."""
    import psycopg

    src = sqlite3.connect(str(sqlite_path))
    counts = {}
    with psycopg.connect(url) as conn:
        with conn.cursor() as cur:
            with cur.copy(f"COPY projects ({', '.join(PROJECT_COLUMNS)}) FROM STDIN") as copy:
                n = 0
                for r in src.execute(f"SELECT {', '.join(PROJECT_COLUMNS)} FROM projects ORDER BY id"):
                    r = list(r)
                    r[9] = dt.date.fromisoformat(r[9])
                    r[10], r[13] = _moment(r[10]), _moment(r[13])
                    copy.write_row(r)
                    n += 1
                counts["projects"] = n
            cols = ", ".join(f'"{c}"' for c in EVENT_COLUMNS)
            with cur.copy(f"COPY events ({cols}) FROM STDIN") as copy:
                n = 0
                for r in src.execute(f"SELECT {cols} FROM events ORDER BY id"):
                    r = list(r)
                    r[8], r[9] = _moment(r[8]), _moment(r[9])
                    copy.write_row(r)
                    n += 1
                counts["events"] = n
            for table in ("projects", "events"):
                cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
            cur.execute("ANALYZE projects")
            cur.execute("ANALYZE events")
        conn.commit()
    src.close()
    return counts


# -- floors (run inside bench/worker.py) -------------------------------------------------------------

UPDATE_SQL = (
    "UPDATE projects SET gu=%s, dong=%s, year=%s, workflow_id=%s, workflow_version=%s, state=%s, previous_state=%s, "
    "target_date=%s, entered_at=%s, facts=%s, reached=%s, version=%s WHERE key = %s AND version = %s RETURNING id"
)
INSERT_EVENT_SQL = (
    'INSERT INTO events (project_id, seq, kind, "trigger", from_state, to_state, actor, at, recorded_at, note, data) '
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)


def floor_statement(v: dict[str, Any], e: dict[str, Any], key: str, version: int) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """The UPDATE and INSERT parameters of one advance, as psycopg takes them."""
    upd = (v["gu"], v["dong"], v["year"], v["workflow_id"], v["workflow_version"], v["state"], v["previous_state"],
           v["target_date"], v["entered_at"], json.dumps(v["facts"]), json.dumps(v["reached"]), v["version"], key,
           version)
    ins = (e["seq"], e["kind"], e["trigger"], e["from_state"], e["to_state"], e["actor"], e["at"], e["recorded_at"],
           e["note"], json.dumps(e["data"]))
    return upd, ins


def raw_advance(conn: Any, upd: tuple[Any, ...], ins: tuple[Any, ...]) -> None:
    with conn.cursor() as cur:
        cur.execute(UPDATE_SQL, upd)
        row = cur.fetchone()
        if row is None:
            conn.rollback()
            raise RuntimeError(f"floor advance of {upd[-2]} lost its row")
        cur.execute(INSERT_EVENT_SQL, (row[0], *ins))
    conn.commit()


def wait_until(moment: float) -> None:
    delay = moment - time.time()
    if delay > 0:
        time.sleep(delay)
