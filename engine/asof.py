"""As of a date: which instant a past day ends at, and whether the record must be rebuilt for it.

A read "as of DATE" shows the record as it stood at the end of that day (in the user's time zone):
the events whose effective time is before the next local midnight, replayed
(:func:`engine.project.replay_until`). For today, or a later date, the stored rows already are that
record, and nothing is replayed: the nightly check and the commands of the day stay on their fast
path. Pure: ``today`` is passed in.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import replace
from zoneinfo import ZoneInfo

from engine.ports import ProjectQuery
from engine.project import Event, Project, replay_until


def end_of_day(day: dt.date, tz: ZoneInfo) -> dt.datetime:
    """The first instant after ``day`` in ``tz``, as UTC."""
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tz).astimezone(dt.timezone.utc)


def cutoff_for(day: dt.date | None, today: dt.date, tz: ZoneInfo) -> dt.datetime | None:
    """The instant the record is rebuilt up to for an as-of ``day``; None for today and later (and
    for no day): the stored state is the answer then."""
    if day is None or day >= today:
        return None
    return end_of_day(day, tz)


def rebuilt(project: Project, events: Iterable[Event], cutoff: dt.datetime, *,
            keep_retired: bool = False) -> Project | None:
    """``project`` as its record stood just before ``cutoff`` (its events replayed up to then), or
    None if it had not been created by then (or was retired by then, unless ``keep_retired``: a
    lookup by key, which shows a retired project as retired). What the events do not change
    (key, district, dong, year, workflow, target) is taken from the stored project, unless a replayer
    recorded it as it stood then (``flags["identity"]``, engine.project.Rebuild)."""
    r = replay_until(events, cutoff)
    if r is None or (r.flags.get("retired") and not keep_retired):
        return None
    return replace(
        project, **dict(r.flags.get("identity") or {}), state=r.state, previous_state=r.previous_state, facts=r.facts, reached=r.reached,
        entered_at=r.entered_at, version=r.version, created_at=r.created_at,
    )


def matches(project: Project, query: ProjectQuery) -> bool:
    """Whether ``project`` (as of some day) is one the query asks for."""
    return (
        (query.key is None or project.key == query.key)
        and (query.gu is None or project.gu == query.gu)
        and (query.year is None or project.year == query.year)
        and (query.state is None or project.state == query.state)
        and (query.workflow_id is None or project.workflow_id == query.workflow_id)
        and (query.districts is None or project.gu in query.districts)
    )


def page(projects: Iterable[Project], query: ProjectQuery) -> list[Project]:
    """The query's page of ``projects``, ordered by key."""
    ordered = sorted((p for p in projects if matches(p, query)), key=lambda p: p.key)
    end = None if query.limit is None else query.offset + query.limit
    return ordered[query.offset : end]
