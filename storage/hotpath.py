"""The advance's hot path on the driver itself: one project read and one versioned write, as
statements prepared once, without SQLAlchemy's per-execution work.

Measured with ``bench/run.py``: through SQLAlchemy Core, an advance (read, then UPDATE + INSERT in one
transaction) ran at about 40% of raw ``sqlite3`` doing the write alone; the time went to building
parameters, result processing and the transaction events, not to the database. Here the SQL text is
generated once per database from the table definitions (so it cannot drift from the schema), the
driver caches the prepared statements (``sqlite3``'s statement cache; psycopg prepares a statement it
has run a few times), and values are converted exactly as the column types store them (a test
compares the stored rows with SQLAlchemy's). The read is one statement in autocommit mode, outside
the write lock; the write is ``BEGIN IMMEDIATE`` (SQLite), UPDATE ... RETURNING id, INSERT, COMMIT.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import threading
from typing import Any

from sqlalchemy import JSON, Date
from sqlalchemy.exc import DBAPIError, IntegrityError

from engine.errors import ChangedMeanwhile, ProjectNotFound
from engine.project import Project
from storage.db import Database
from storage.tables import EventRow, ProjectRow
from storage.tracking import _reached, stored_date, stored_moment
from storage.types import UTCDateTime

P = ProjectRow.__table__  # type: ignore[attr-defined]
E = EventRow.__table__  # type: ignore[attr-defined]
_UTC = dt.timezone.utc


def _sqlite_moment(value: dt.datetime | None) -> str | None:
    """What SQLAlchemy's SQLite dialect stores for ``UTCDateTime`` (naive UTC, microseconds always)."""
    if value is None:
        return None
    return value.astimezone(_UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _memo(convert: Any) -> Any:
    """``convert`` remembering its results by value. Keyed by (moment, fold): equal aware datetimes
    are the same instant (the same UTC text); equal naive ones with the same fold, the same fields."""
    seen: dict[tuple[Any, int], Any] = {}

    def memoised(value: Any) -> Any:
        if value is None:
            return None
        key = (value, value.fold)
        found = seen.get(key)
        if found is None:
            found = seen[key] = convert(value)
            if len(seen) > 4096:
                seen.clear()
        return found

    return memoised


def _converter(column: Any, sqlite: bool) -> Any:
    if isinstance(column.type, UTCDateTime):
        if sqlite:
            return _sqlite_moment
        return lambda v: None if v is None else v.astimezone(_UTC)
    if isinstance(column.type, JSON):
        return lambda v: json.dumps(dict(v) if v is not None else {})
    if isinstance(column.type, Date) and sqlite:
        return lambda v: None if v is None else v.isoformat()
    return None


_IDENTITY = ("gu", "dong", "year", "workflow_id", "workflow_version", "target_date", "retired_at")
"""Columns an advance or a fact never changes (an edit, a migration or a retirement does)."""


def _q(name: str) -> str:
    return f'"{name}"'


class HotPath:
    """Prepared SQL and value conversion for one database (SQLite or PostgreSQL)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.sqlite = db.is_sqlite
        mark = "?" if self.sqlite else "%s"
        self.project_columns = [c.name for c in P.columns]
        self.get_sql = f"SELECT {', '.join(map(_q, self.project_columns))} FROM projects WHERE key = {mark}"
        self.update_columns = [c for c in self.project_columns if c not in ("id", "key", "created_at")]
        self.update_sql = (
            f"UPDATE projects SET {', '.join(f'{_q(c)} = {mark}' for c in self.update_columns)} "
            f"WHERE key = {mark} AND version = {mark} RETURNING id"
        )
        self.event_columns = [c.name for c in E.columns if c.name != "id"]
        self.event_sql = (
            f"INSERT INTO events ({', '.join(map(_q, self.event_columns))}) "
            f"VALUES ({', '.join([mark] * len(self.event_columns))})"
        )
        self.exists_sql = f"SELECT id FROM projects WHERE key = {mark}"
        # SQLite: most saves (an advance, a fact) leave the project's identity as it was. SQLite
        # rewrites the entries of every index on a column named in SET, whatever the value, so the
        # save first tries an UPDATE that sets only the other columns and matches the row only if its
        # identity columns already hold exactly the new values (then writing them would change no
        # byte); if it matches nothing, the full UPDATE runs as before. Same row, same outcome: two
        # index rewrites fewer per advance (gu + year, year) and fewer pages in the WAL.
        self._narrow: tuple[str, list[int], list[int]] | None = None
        if self.sqlite:
            kept = [c for c in self.update_columns if c in _IDENTITY]
            changing = [c for c in self.update_columns if c not in _IDENTITY]
            where = " AND ".join(f"{_q(c)} IS {mark}" for c in kept)  # IS: NULL matches NULL
            self._narrow = (
                f"UPDATE projects SET {', '.join(f'{_q(c)} = {mark}' for c in changing)} "
                f"WHERE key = {mark} AND version = {mark} AND {where} RETURNING id",
                [self.update_columns.index(c) for c in changing],
                [self.update_columns.index(c) for c in kept],
            )
        self._project_conv = [_converter(P.c[c], self.sqlite) for c in self.update_columns]
        self._event_conv = [_converter(E.c[c], self.sqlite) for c in self.event_columns]
        self._dbapi_error = db.engine.dialect.loaded_dbapi.Error
        # Bulk inserts (project import): every column but the id.
        self.new_columns = [c for c in self.project_columns if c != "id"]
        self.insert_project_sql = (
            f"INSERT INTO projects ({', '.join(map(_q, self.new_columns))}) "
            f"VALUES ({', '.join([mark] * len(self.new_columns))})"
        )
        self._new_conv = [_converter(P.c[c], self.sqlite) for c in self.new_columns]
        # SQLite: one spare driver connection, detached from the pool, kept between calls (see
        # _checkout); closed when the database is disposed.
        self._spare: list[Any] = []
        self._spare_lock = threading.Lock()
        self._spare_open = self.sqlite
        if self.sqlite:
            db.on_dispose(self._close_spare)

    def insert_many(self, conn: Any, projects: list[dict[str, Any]], events_of: Any) -> None:
        """Insert new projects (``project_values`` dicts) and then their events inside the caller's
        SQLAlchemy transaction, as two driver ``executemany`` calls; ``events_of(ids_by_key)`` gives
        the events' ``event_values`` once the new ids are known."""
        cur = conn.connection.cursor()
        # An import's rows share their moments (its ``now``): each distinct one is converted once.
        new_conv = [_memo(cv) if cv is _sqlite_moment else cv for cv in self._new_conv]
        event_conv = [_memo(cv) if cv is _sqlite_moment else cv for cv in self._event_conv]
        try:
            cur.executemany(self.insert_project_sql, [
                [v if cv is None else cv(v) for cv, v in zip(new_conv, [p[c] for c in self.new_columns])]
                for p in projects
            ])
            mark = "?" if self.sqlite else "%s"
            ids: dict[str, int] = {}
            keys = [p["key"] for p in projects]
            for start in range(0, len(keys), 900):
                chunk = keys[start : start + 900]
                cur.execute(f"SELECT key, id FROM projects WHERE key IN ({', '.join([mark] * len(chunk))})", chunk)
                ids.update(cur.fetchall())
            events = events_of(ids)
            if events:
                cur.executemany(self.event_sql, [
                    [v if cv is None else cv(v) for cv, v in zip(event_conv, [e[c] for c in self.event_columns])]
                    for e in events
                ])
        except self._dbapi_error as exc:
            raise _wrap(exc, self._dbapi_error) from None
        finally:
            cur.close()

    def _checkout(self) -> Any:
        """A driver connection (SQLite: autocommit, dongflow's pragmas) for one call, given back by
        :meth:`_checkin` in the caller's ``finally``.

        From the pool, except on SQLite, where one connection is kept spare between calls: an
        advance reads, then writes, and a pool checkout and checkin cost about 7 us each (a spare
        one: under 2 us), a fifth of what dongflow adds to the database's own work per advance
        (measured in-process on the 100k portfolio). Only one is kept, shared by every thread (a
        thread takes it, or a pooled one when another thread has it): keeping one per thread held
        every connection of the pool under a web server's worker threads. It is detached from the
        pool, so the pool neither counts it nor closes it under a thread using it; it is closed only
        while spare, when the database is disposed, or when it fails."""
        if self._spare:
            try:
                return self._spare.pop()
            except IndexError:  # another thread took it meanwhile
                pass
        try:
            return self.db.engine.raw_connection()
        except BaseException:
            with self.db.translate_errors():
                raise
            raise  # pragma: no cover - translate_errors re-raises whatever it does not translate

    def _checkin(self, raw: Any) -> None:
        if self._spare_open and raw.is_valid and not raw.in_transaction:
            with self._spare_lock:
                if self._spare_open and not self._spare:
                    if not raw.is_detached:
                        raw.detach()
                    self._spare.append(raw)
                    return
        try:
            raw.close()  # back to the pool; a detached one is closed
        except Exception:  # noqa: BLE001,S110 - giving back a connection that already failed
            pass

    def _close_spare(self) -> None:
        with self._spare_lock:
            self._spare_open = False  # none is kept from now on
        while True:
            try:
                raw = self._spare.pop()  # atomic: a thread taking it at the same moment gets it, or this does
            except IndexError:
                return
            try:
                raw.close()
            except Exception:  # noqa: BLE001,S110 - closing a connection that already failed
                pass

    def _failed(self, raw: Any, exc: Exception) -> Exception:
        """A driver error, translated as Database.translate_errors does; the connection is dropped."""
        with contextlib.suppress(Exception):
            driver = raw.dbapi_connection if raw.is_detached else None
            raw.invalidate()
            if driver is not None:  # invalidating a detached connection does not close it
                driver.close()
        wrapped = _wrap(exc, self._dbapi_error)
        try:
            with self.db.translate_errors():
                raise wrapped
        except Exception as translated:  # noqa: BLE001 - returned to be raised by the caller
            return translated
        return wrapped  # pragma: no cover

    def get(self, key: str) -> Project:
        raw = self._checkout()
        try:
            cur = raw.cursor()
            cur.execute(self.get_sql, (key,))
            row = cur.fetchone()
            cur.close()
            if not self.sqlite:
                raw.commit()
        except self._dbapi_error as exc:
            raise self._failed(raw, exc) from None
        finally:
            self._checkin(raw)
        if row is None:
            raise ProjectNotFound(key)
        (_id, key, gu, dong, year, workflow_id, workflow_version, state, previous_state, target, entered_at, facts,
         reached, created_at, version, retired_at) = row
        if isinstance(facts, (str, bytes)):
            facts = json.loads(facts)
        return Project(
            key=key, gu=gu, dong=dong, year=year, workflow_id=workflow_id, workflow_version=workflow_version,
            state=state, previous_state=previous_state, target=stored_date(target),
            entered_at=stored_moment(entered_at), facts=dict(facts or {}), reached=_reached(reached),
            version=version, created_at=None if created_at is None else stored_moment(created_at),
            retired_at=None if retired_at is None else stored_moment(retired_at), id=_id,
        )

    def save(self, values: dict[str, Any], event: dict[str, Any], key: str, expected_version: int) -> None:
        """The versioned UPDATE and the event INSERT in one transaction (``values``/``event``: the
        column values of storage.repository.project_values / event_values)."""
        params = [v if conv is None else conv(v) for conv, v in
                  zip(self._project_conv, [values[c] for c in self.update_columns])]
        params += (key, expected_version)
        raw = self._checkout()
        try:
            cur = raw.cursor()
            if self.sqlite:
                cur.execute("BEGIN IMMEDIATE")
            try:
                found = None
                if self._narrow is not None:
                    sql, changing, kept = self._narrow
                    cur.execute(sql, [*[params[i] for i in changing], key, expected_version,
                                      *[params[i] for i in kept]])
                    found = cur.fetchone()
                if found is None:
                    cur.execute(self.update_sql, params)
                    found = cur.fetchone()
                if found is None:
                    cur.execute(self.exists_sql, (key,))
                    if cur.fetchone() is None:
                        raise ProjectNotFound(key)
                    raise ChangedMeanwhile(key)
                event["project_id"] = found[0]
                cur.execute(self.event_sql, [v if conv is None else conv(v) for conv, v in
                                             zip(self._event_conv, [event[c] for c in self.event_columns])])
                if self.sqlite:
                    cur.execute("COMMIT")
                else:
                    raw.commit()
            except BaseException:
                if not self.sqlite:
                    raw.rollback()
                elif raw.in_transaction:
                    cur.execute("ROLLBACK")
                raise
            finally:
                cur.close()
        except self._dbapi_error as exc:
            raise self._failed(raw, exc) from None
        finally:
            self._checkin(raw)


def _wrap(exc: Exception, base: type[Exception]) -> Exception:
    """A driver error as SQLAlchemy would have raised it, for Database.translate_errors."""
    wrapped = DBAPIError.instance("hot path", None, exc, base)
    return wrapped if isinstance(wrapped, IntegrityError) or isinstance(wrapped, DBAPIError) else exc
