"""The portfolio as its record stood at a past instant: the one reader behind every as-of view
(``status``, ``overdue``, ``report``, the HTTP API).

A project is rebuilt (engine.asof.rebuilt: its events dated before the cutoff, replayed in effective
order) only when something about it is dated after the cutoff; every other stored row already is
its state then. Only events before the cutoff are read, selected in SQL, in chunks of projects.

Two uses, one rebuild:

* :func:`find_as_of` -- whole projects (state, facts, milestones) for ``status``: a project is rebuilt
  when any of its events is dated after the cutoff;
* :func:`tracked_as_of` -- light rows for the deadline rules (``overdue``, the report, the nightly
  check for a past date): they read no facts, so only projects whose state changed after the cutoff
  (their ``entered_at``; the back-dating rules keep state changes in date order) are rebuilt.

For today (engine.asof.cutoff_for gives None) callers read the stored rows as before: nothing here
runs on the nightly check's path.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import Connection, Select, or_, select

from engine.asof import page, rebuilt
from engine.ports import ProjectQuery
from engine.project import MIGRATED, Event, Project, replay_until
from engine.tracked import TrackedRow
from storage.repository import E, P, row_to_event, row_to_project, where_projects
from storage.tracking import TRACKED_COLUMNS, tracked_row

CHUNK = 900


def events_before(conn: Connection, ids: dict[int, str], cutoff: dt.datetime) -> dict[int, list[Event]]:
    """The events of these projects (id -> key) dated before ``cutoff``, in effective order (and their
    migrations after it: engine.project.replay_until)."""
    out: dict[int, list[Event]] = {pid: [] for pid in ids}
    wanted = sorted(ids)
    for start in range(0, len(wanted), CHUNK):
        chunk = wanted[start : start + CHUNK]
        # and a migration after it, which says the version the project was on then
        stmt = (select(E).where(E.c.project_id.in_(chunk), or_(E.c.at < cutoff, E.c.kind == MIGRATED))
                .order_by(E.c.project_id, E.c.at, E.c.seq))
        for r in conn.execute(stmt):
            out[r.project_id].append(row_to_event(r, ids[r.project_id]))
    return out


def _filtered(stmt: Select[Any], query: ProjectQuery, cutoff: dt.datetime) -> Select[Any]:
    """The query's filters that an as-of date cannot change (the state can: it is applied after)."""
    stmt = stmt.where(P.c.created_at < cutoff)
    if query.key is not None:  # found by its key even when retired (status KEY says so)
        stmt = stmt.where(P.c.key == query.key)
    else:  # retired: in no listing, past or present
        stmt = stmt.where(P.c.retired_at.is_(None))
    return where_projects(stmt, gu=query.gu, districts=query.districts, year=query.year,
                          workflow_id=query.workflow_id)


def find_as_of(conn: Connection, query: ProjectQuery, cutoff: dt.datetime) -> list[Project]:
    """Projects of ``query`` as their record stood just before ``cutoff`` (whole: with facts)."""
    rows = conn.execute(_filtered(select(P), query, cutoff)).all()
    later = _filtered(select(E.c.project_id).join(P, P.c.id == E.c.project_id), query, cutoff)
    changed = {pid for (pid,) in conn.execute(later.where(E.c.at >= cutoff).distinct())}
    keys = {r.id: r.key for r in rows if r.id in changed}
    history = events_before(conn, keys, cutoff)
    out: list[Project] = []
    for r in rows:
        project = row_to_project(r)
        if r.id in keys:
            # found by its key, a retired project is shown as retired (as without a date)
            then = rebuilt(project, history[r.id], cutoff, keep_retired=query.key is not None)
            if then is None:
                continue
            project = then  # its version too, if it was migrated later (engine.project.replay_until)
        out.append(project)
    return page(out, query)


def tracked_as_of(
    conn: Connection,
    cutoff: dt.datetime,
    *,
    skip_states: Sequence[str] = (),
    gu: str | None = None,
    year: int | None = None,
    key: str | None = None,
    keys: Sequence[str] | None = None,
    districts: frozenset[str] | None = None,
    open_only: Any = None,
) -> list[TrackedRow]:
    """Light rows of the projects created before ``cutoff`` as they stood then, without those
    closed by then (in one of ``skip_states``). ``open_only``: an SQL condition naming the open
    states (the report's, per workflow version); a project whose state changed after the cutoff is
    read whatever its state now. ``keys``: only these projects, open or not."""
    stmt = select(*TRACKED_COLUMNS, P.c.created_at).where(P.c.retired_at.is_(None))  # retired: in no view
    if keys is not None:
        stmt = stmt.where(P.c.key.in_(list(keys)))
    else:
        stmt = stmt.where(P.c.created_at < cutoff)
        open_ = open_only
        if open_ is None and skip_states:
            open_ = P.c.state.not_in(list(skip_states))
        if open_ is not None:
            stmt = stmt.where(or_(open_, P.c.entered_at >= cutoff))
    stmt = where_projects(stmt, key=key, gu=gu, districts=districts, year=year)
    days: dict[Any, dt.date] = {}
    rows = [tracked_row(r, days) for r in conn.execute(stmt.order_by(P.c.key)).all()]
    # Rebuilt: a project whose state changed after the cutoff, or which moved to another version.
    migrated = {pid for (pid,) in conn.execute(
        select(E.c.project_id).where(E.c.at >= cutoff, E.c.kind == MIGRATED).distinct())}
    stale = {row.id: row.key for row in rows
             if row.id is not None and (row.entered_at >= cutoff or row.id in migrated)}
    history = events_before(conn, stale, cutoff)
    skip = set(skip_states)
    out: list[TrackedRow] = []
    for row in rows:
        if row.id in stale:
            then = _rebuilt_row(row, history[row.id], cutoff)
            if then is None or then.state in skip:
                continue
            row = then
        out.append(row)
    return out


def _rebuilt_row(row: TrackedRow, events: Iterable[Event], cutoff: dt.datetime) -> TrackedRow | None:
    r = replay_until(events, cutoff)
    if r is None or r.flags.get("retired"):
        return None
    identity = r.flags.get("identity") or {}
    if identity:
        row = TrackedRow(
            row.id, identity.get("key", row.key), identity.get("gu", row.gu), identity.get("dong", row.dong),
            identity.get("year", row.year), identity.get("workflow_id", row.workflow_id),
            identity.get("workflow_version", row.workflow_version), row.state, row.previous_state,
            identity.get("target", row.target), row.entered_at, row.reached_text,
        )
    return TrackedRow(
        row.id, row.key, row.gu, row.dong, row.year, row.workflow_id, row.workflow_version, r.state,
        r.previous_state, row.target, r.entered_at, r.reached, dict(r.reached), replayed=True,
    )


def iter_tracked(conn: Connection, cutoff: dt.datetime | None, **filters: Any) -> Iterator[TrackedRow]:
    """The deadline rules' rows for an as-of cutoff (None: as they stand, the fast path)."""
    if cutoff is None:
        from storage.tracking import tracked_rows

        skip = filters.pop("skip_states", ())
        closed_before = filters.pop("closed_before", None)
        yield from tracked_rows(conn, skip_states=skip, closed_before=closed_before, **filters)
        return
    filters.pop("closed_before", None)
    yield from tracked_as_of(conn, cutoff, **filters)


def completed_since(conn: Connection, cutoff: dt.datetime, targets: Iterable[tuple[str, str]]) -> bool:
    """Whether any project reached its workflow's target state at or after ``cutoff`` (``targets``:
    (workflow id, target state)). If none did, the completions by then are the completions now, and
    a forecast as of then may use the durations observed now (and their cache)."""
    wanted = sorted(set(targets))
    if not wanted:
        return False
    from sqlalchemy import and_

    reached = or_(*(and_(P.c.workflow_id == wf, P.c.state == state) for wf, state in wanted))
    return conn.execute(select(P.c.id).where(reached, P.c.entered_at >= cutoff).limit(1)).first() is not None


__all__ = ["completed_since", "events_before", "find_as_of", "iter_tracked", "tracked_as_of"]
