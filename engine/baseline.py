"""Baselines: the planned date of each milestone, and the variance of the actual (or forecast) date.

A baseline is *taken* when a project enters its workflow's baseline state (``baseline: {state: ..}``):
the plan from that day on, each state of the remaining course taking its declared days on the
working-day calendar. It is computed from the recorded first entry and the workflow version the
project runs on, so it is the same whenever it is read and needs no write on the hot path; a
coordinator may re-baseline a project (``dongflow baseline set KEY``), which stores the plan as of
that day (the durations then in force, its blackout days) and replaces the automatic one.

Milestones already reached when the plan is made keep their actual dates. Variance = actual date
(when reached) or forecast date (when not) minus planned date: positive is late.
Pure: planners, rows and dates in.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from engine.backward import finish_for
from engine.blackouts import NO_DAYS
from engine.deadlines import DeadlinePlanner, Tracked

AUTO = "auto"
SET = "set"


@dataclass(frozen=True)
class Baseline:
    taken_on: dt.date
    planned: Mapping[str, dt.date]
    """Milestone id -> planned date."""
    source: str
    """``auto`` (taken on entering the baseline state) or ``set`` (``baseline set``)."""


@dataclass(frozen=True)
class Variance:
    milestone: str
    planned: dt.date
    actual: dt.date | None
    forecast: dt.date | None
    days: int | None
    """(actual or forecast) - planned; None when neither is known (off the course)."""


def _reached_milestones(planner: DeadlinePlanner, p: Tracked, as_of: dt.date) -> dict[str, dt.date]:
    """The day each milestone was met (its state, or one only reached after it) by ``as_of``."""
    days = [(s, planner.local_date(at)) for s, at in p.reached.items()]
    days = [(s, d) for s, d in days if d <= as_of]
    out = {}
    for m in planner.workflow.milestones:
        satisfying = planner.satisfying(m.id)
        hits = [d for s, d in days if s in satisfying]
        if hits:
            out[m.id] = min(hits)
    return out


def planned_entries(planner: DeadlinePlanner, path: tuple[str, ...], start: dt.date, first_left: int | None = None,
                    off: frozenset[dt.date] = NO_DAYS) -> dict[str, dt.date]:
    """The day each state of ``path`` (and the target state after it) is planned to be entered, the
    first on ``start``; ``first_left``: the days still needed in the first state (default: all of them)."""
    out: dict[str, dt.date] = {}
    day = start
    working = planner.calendar.is_working_day
    for i, s in enumerate(path):
        if i > 0 or first_left is None:
            out.setdefault(s, day)
        days = planner.durations.days.get(s, 0) if i > 0 or first_left is None else first_left
        day = finish_for(day, days, working, off)
    out[planner.workflow.target.state] = day
    return out


def _milestone_dates(planner: DeadlinePlanner, entries: Mapping[str, dt.date]) -> dict[str, dt.date]:
    out = {}
    for m in planner.workflow.milestones:
        days = [entries[s] for s in planner.satisfying(m.id) if s in entries]
        if days:
            out[m.id] = min(days)
    return out


def auto_baseline(planner: DeadlinePlanner, p: Tracked) -> Baseline | None:
    """The baseline taken when ``p`` entered the baseline state (``planner``: declared durations)."""
    state = planner.workflow.baseline_state
    at = p.reached.get(state) if state else None
    if at is None or state is None:
        return None
    day = planner.local_date(at)
    found = planner._remaining.get(state)
    if found is None:
        return None
    planned = _milestone_dates(planner, planned_entries(planner, found[1], day))
    planned.update(_reached_milestones(planner, p, day))
    return Baseline(day, planned, AUTO)


def plan_as_of(planner: DeadlinePlanner, p: Tracked, as_of: dt.date, off: frozenset[dt.date] = NO_DAYS,
               source: str = SET) -> Baseline:
    """The plan on ``as_of``: reached milestones at their dates, the rest forecast with ``planner``'s durations."""
    planned = forecast_dates(planner, p, as_of, off)
    planned.update(_reached_milestones(planner, p, as_of))
    return Baseline(as_of, planned, source)


def forecast_dates(planner: DeadlinePlanner, p: Tracked, as_of: dt.date,
                   off: frozenset[dt.date] = NO_DAYS) -> dict[str, dt.date]:
    """The forecast day each milestone not yet reached is met (the remaining course from ``as_of``)."""
    state, entered = planner.state_on(p, as_of)
    course = planner.course(p, state, entered, as_of)
    if course is None or state in planner.finals:
        return {}
    course_from, start, path = course
    left = max(0, planner.durations.days.get(course_from, 0) - max(0, (as_of - start).days))
    entries = planned_entries(planner, path, as_of, left, off)
    return _milestone_dates(planner, entries)


def variances(baseline: Baseline, planner: DeadlinePlanner, p: Tracked, as_of: dt.date,
              off: frozenset[dt.date] = NO_DAYS) -> tuple[Variance, ...]:
    reached = _reached_milestones(planner, p, as_of)
    ahead = forecast_dates(planner, p, as_of, off)
    out = []
    for m in planner.workflow.milestones:
        planned = baseline.planned.get(m.id)
        if planned is None:
            continue
        actual = reached.get(m.id)
        forecast = None if actual else ahead.get(m.id)
        when = actual or forecast
        out.append(Variance(m.id, planned, actual, forecast, (when - planned).days if when else None))
    return tuple(out)
