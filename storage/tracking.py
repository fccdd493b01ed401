"""Reading projects for deadline checks: only the columns the check needs, as light rows.

The nightly check scans the whole portfolio, so it selects eight columns instead of building full
project objects, skips closed projects in SQL, and parses each ``reached`` map once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, or_, select

from storage.repository import P, _utc


@dataclass(slots=True)
class TrackedRow:
    """A project as the deadline check sees it (satisfies engine.deadlines.Tracked)."""

    id: int
    key: str
    gu: str
    dong: str
    year: int
    workflow_id: str
    workflow_version: int
    state: str
    previous_state: str | None
    target: dt.date
    entered_at: dt.datetime
    reached: dict[str, dt.datetime]


_COLUMNS = (
    P.c.id,
    P.c.key,
    P.c.gu,
    P.c.dong,
    P.c.year,
    P.c.workflow_id,
    P.c.workflow_version,
    P.c.state,
    P.c.previous_state,
    P.c.target_date,
    P.c.entered_at,
    P.c.reached,
)


def tracked_rows(
    conn: Connection,
    *,
    skip_states: Sequence[str] = (),
    closed_before: dt.datetime | None = None,
    gu: str | None = None,
    year: int | None = None,
    key: str | None = None,
) -> Iterator[TrackedRow]:
    """Projects to check, without those that entered a final state (``skip_states``) before
    ``closed_before`` (the end of the as-of day: for a past date, later closures still count)."""
    stmt = select(*_COLUMNS)
    if skip_states:
        open_ = P.c.state.not_in(list(skip_states))
        stmt = stmt.where(open_ if closed_before is None else or_(open_, P.c.entered_at >= closed_before))
    if gu is not None:
        stmt = stmt.where(P.c.gu == gu)
    if year is not None:
        stmt = stmt.where(P.c.year == year)
    if key is not None:
        stmt = stmt.where(P.c.key == key)
    for r in conn.execute(stmt.order_by(P.c.key)):
        yield TrackedRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], _reached(r[11]))


def _reached(raw: Any) -> dict[str, dt.datetime]:
    return {state: _utc(at) for state, at in (raw or {}).items()}


def completed_reached(
    conn: Connection, workflow_id: str, target_state: str, limit: int = 2000
) -> list[dict[str, dt.datetime]]:
    """First-entry times of the most recently completed projects of a workflow (for observed durations)."""
    stmt = (
        select(P.c.reached)
        .where(P.c.workflow_id == workflow_id, P.c.state == target_state)
        .order_by(P.c.entered_at.desc())
        .limit(limit)
    )
    return [_reached(raw) for (raw,) in conn.execute(stmt)]


class TrackingReader:
    """Rows and completed histories read through one open connection (one transaction)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def rows(self, **filters: Any) -> Iterator[TrackedRow]:
        return tracked_rows(self.conn, **filters)

    def completed_reached(self, workflow_id: str, target_state: str) -> list[dict[str, dt.datetime]]:
        return completed_reached(self.conn, workflow_id, target_state)
