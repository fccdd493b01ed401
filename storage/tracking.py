"""Reading projects for deadline checks: only the columns the check needs, as light rows.

The nightly check scans the whole portfolio, so it selects only the columns it needs instead of
building full project objects, skips closed projects in SQL, and parses each ``reached`` map once.

The three typed columns (target date, entry time, ``reached``) are read as the driver returns them
and converted here: on SQLite that is text, which ``fromisoformat`` parses several times faster than
the column types' own processors, to the same values (a date; an aware UTC datetime, as
``UTCDateTime`` gives; a dict of aware datetimes). PostgreSQL's driver returns dates, datetimes and
dicts already, which pass through the same functions. Repeated text (districts, dongs, states,
workflow ids) is interned, so 100k rows hold one copy of each instead of one per row.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Connection, String, func, or_, select, type_coerce
from sqlalchemy.engine import processors

from engine.tracked import TrackedRow
from storage.repository import P, _utc, where_projects

__all__ = ["TRACKED_COLUMNS", "TrackedRow", "tracked_row", "tracked_rows", "tracked_select"]


TRACKED_COLUMNS = (
    P.c.id,
    P.c.key,
    P.c.gu,
    P.c.dong,
    P.c.year,
    P.c.workflow_id,
    P.c.workflow_version,
    P.c.state,
    P.c.previous_state,
    type_coerce(P.c.target_date, String).label("target_date"),
    type_coerce(P.c.entered_at, String).label("entered_at"),
    type_coerce(P.c.reached, String).label("reached"),
)
"""The columns of a TrackedRow, as the driver returns them (text on SQLite), in its field order."""


def tracked_row(r: Any, days: dict[Any, dt.date] | None = None, parse: bool = False) -> TrackedRow:
    """A TrackedRow from a row of TRACKED_COLUMNS (``days``: a memo of parsed target dates). With
    ``parse``, first-entry times are parsed now, in the same pass (the check reads every one)."""
    target = days.get(r[9]) if days is not None else None
    if target is None:
        target = stored_date(r[9])
        if days is not None:
            days[r[9]] = target
    raw = r[11]
    if isinstance(raw, (str, bytes)):
        raw = json.loads(raw)
    intern = sys.intern
    if parse:
        reached = {intern(state): _utc(at) if isinstance(at, str) else at for state, at in (raw or {}).items()}
        return TrackedRow(
            r[0], r[1], intern(r[2]), intern(r[3]), r[4], intern(r[5]), r[6], intern(r[7]),
            None if r[8] is None else intern(r[8]), target, stored_moment(r[10]), reached, reached,
        )
    return TrackedRow(
        r[0], r[1], intern(r[2]), intern(r[3]), r[4], intern(r[5]), r[6], intern(r[7]),
        None if r[8] is None else intern(r[8]), target, stored_moment(r[10]),
        {intern(state): at for state, at in (raw or {}).items()},
    )


def tracked_rows(conn: Connection, **filters: Any) -> Iterator[TrackedRow]:
    """Projects to check (``filters``: those of :func:`tracked_select`), by key, as TrackedRows."""
    days: dict[Any, dt.date] = {}
    stmt = tracked_select(**filters).order_by(P.c.key)
    for r in conn.execute(stmt, execution_options=streamed(conn)):
        yield tracked_row(r, days, parse=True)


def streamed(conn: Connection) -> dict[str, Any]:
    """Execution options for reading a whole portfolio. PostgreSQL: a server-side cursor, fetched in
    batches (psycopg otherwise holds every row of a 100k-project portfolio in client memory at once:
    1.3 GB peak measured); SQLite already steps through its rows."""
    return {"stream_results": True, "yield_per": 2000} if conn.dialect.name == "postgresql" else {}


def tracked_select(
    *,
    skip_states: Sequence[str] = (),
    closed_before: dt.datetime | None = None,
    gu: str | None = None,
    year: int | None = None,
    key: str | None = None,
    districts: frozenset[str] | None = None,
) -> Any:
    """TRACKED_COLUMNS of the projects to check, unordered: not retired, and without those that entered
    a final state (``skip_states``) before ``closed_before`` (the end of the as-of day: for a past
    date, later closures still count). ``districts``: only these (a caller's read scope; None: every
    district)."""
    stmt = select(*TRACKED_COLUMNS).where(P.c.retired_at.is_(None))  # retired: checked no more
    if skip_states:
        open_ = P.c.state.not_in(list(skip_states))
        stmt = stmt.where(open_ if closed_before is None else or_(open_, P.c.entered_at >= closed_before))
    return where_projects(stmt, key=key, gu=gu, districts=districts, year=year)


def stored_date(value: Any) -> dt.date:
    """A stored date column read as raw text (SQLite) or as a date (PostgreSQL)."""
    if isinstance(value, str):
        return dt.date.fromisoformat(value)
    return value.date() if isinstance(value, dt.datetime) else value


def stored_moment(value: Any) -> dt.datetime:
    """What ``UTCDateTime`` returns for a stored value: an aware datetime in UTC."""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:  # a form fromisoformat does not read: SQLAlchemy's own parser
            value = processors.str_to_datetime(value)
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc)


def _reached(raw: Any) -> dict[str, dt.datetime]:
    if isinstance(raw, (str, bytes)):
        raw = json.loads(raw)
    return {sys.intern(state): _utc(at) for state, at in (raw or {}).items()}


def completed_reached(
    conn: Connection, workflow_id: str, target_state: str, limit: int = 2000, before: dt.datetime | None = None
) -> list[dict[str, dt.datetime]]:
    """First-entry times of the most recently completed projects of a workflow (for observed durations);
    ``before``: only those completed before it (a forecast as of a past date). The target state is
    final, so a project completed then is completed now, with the same first entries."""
    stmt = select(P.c.reached).where(P.c.workflow_id == workflow_id, P.c.state == target_state,
                                     P.c.retired_at.is_(None))
    if before is not None:
        stmt = stmt.where(P.c.entered_at < before)
    stmt = stmt.order_by(P.c.entered_at.desc()).limit(limit)
    return [_reached(raw) for (raw,) in conn.execute(stmt)]


def completed_stamp(conn: Connection, workflow_id: str, target_state: str) -> list[Any]:
    """What changes whenever the completed projects of a workflow change: their number, the sum of
    their ids and the latest completion (a completed project is final, so its history never changes
    while it is there). Read from the (workflow_id, state, entered_at) index."""
    stmt = select(func.count(), func.sum(P.c.id), func.max(type_coerce(P.c.entered_at, String))).where(
        P.c.workflow_id == workflow_id, P.c.state == target_state, P.c.retired_at.is_(None)
    )
    count, ids, latest = conn.execute(stmt).one()
    return [int(count), int(ids or 0), None if latest is None else str(latest)]


class TrackingReader:
    """Rows and completed histories read through one open connection (one transaction)."""

    def __init__(self, conn: Connection, before: dt.datetime | None = None) -> None:
        self.conn = conn
        self.before = before

    def rows(self, **filters: Any) -> Iterator[TrackedRow]:
        return tracked_rows(self.conn, **filters)

    def completed_reached(self, workflow_id: str, target_state: str) -> list[dict[str, dt.datetime]]:
        return completed_reached(self.conn, workflow_id, target_state, before=self.before)

    def blackouts(self) -> list[Any]:
        """The blackout windows (engine.blackouts.Blackout), for the deadline rules."""
        from storage.planning import read_blackouts

        return read_blackouts(self.conn)
