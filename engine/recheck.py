"""When a project's findings can next change by the passing of time alone: the incremental check.

The nightly check's findings about a project (each milestone due soon, overdue or escalated, a late
start, a cut-off at risk, the project at risk) are a function of the project, the rules (workflow,
durations, calendar, blackouts) and the as-of date. When neither the project (its version: every
event bumps it) nor the rules change, only the date moves, and each finding's level changes on a day
that can be worked out today. :func:`recheck_on` returns the first day, after ``as_of``, on which the
*set* of (milestone, level) pairs may differ from ``as_of``'s; until then the project need not be
assessed again (its days-late counters grow, but no alert appears, escalates or resolves).

It never returns a day later than the true change (a test compares it with a full check on every day
of a season, for a generated portfolio): the bounds are exact for milestone levels and late starts,
and safe for forecasts:

* a milestone not yet met changes level on fixed days: ``due - due_soon_days`` (due soon),
  ``due + 1`` (overdue) and ``due + escalate_after_days + 1`` (escalated);
* the next state's latest start is a fixed day: late from the day after it, and late for good;
* the forecast end (as-of + the remaining course's days, the first state's days less those already
  spent in it) never moves earlier and moves at most one day per day, so a project with ``slack``
  days in hand cannot be at risk before ``as_of + slack + 1``, and once at risk stays so; the same
  holds for each fiscal cut-off's forecast.

Blackout days ahead make the forecast count only some days, so a project with a blackout day on or
after ``as_of`` is simply checked again the next day, as is one whose record holds a day after
``as_of`` (a past-dated check). Blackout days all before ``as_of`` have done their work (due dates and
latest starts rolled over them are fixed days) and change nothing ahead.
"""

from __future__ import annotations

import datetime as dt

from engine.blackouts import NO_DAYS
from engine.deadlines import DeadlinePlanner, Tracked

DAY = dt.timedelta(days=1)
NEVER = dt.date.max
"""No change by time alone: only an event of the project (or a change of rules) changes its findings."""


def recheck_on(planner: DeadlinePlanner, p: Tracked, as_of: dt.date, off: frozenset[dt.date] = NO_DAYS) -> dt.date:
    """The first day after ``as_of`` on which ``planner.findings(p, day)`` may name other (milestone,
    level) pairs than on ``as_of`` (:data:`NEVER` if none will while ``p`` stays as it is)."""
    tomorrow = as_of + DAY
    if off and max(off) >= as_of:
        return tomorrow  # blackout days ahead: the forecast counts only some days (days past change nothing ahead)
    tz = planner.tz
    if p.entered_at.astimezone(tz).date() > as_of:
        return tomorrow
    met: set[int] = set()
    satisfied_by = planner._satisfied_by
    for s, at in p.reached.items():
        if at.astimezone(tz).date() > as_of:
            return tomorrow
        met.update(satisfied_by.get(s, ()))
    state = p.state
    finals = planner.finals
    if state in finals and state != planner.workflow.target.state:
        return NEVER  # closed: no findings, ever
    warnings = planner.workflow.warnings
    soon, escalate = warnings.due_soon_days, warnings.escalate_after_days
    change = NEVER
    for index, (_milestone, due) in enumerate(planner.dues(p.target, p.year, off)):
        if index in met:
            continue
        left = (due - as_of).days
        if left > soon:
            day = due - dt.timedelta(days=soon)
        elif left >= 0:
            day = due + DAY
        elif -left <= escalate:
            day = due + dt.timedelta(days=escalate + 1)
        else:
            continue  # escalated for good
        if day < change:
            change = day
    if state in finals:
        return change
    left = planner.course_left(p, state, p.entered_at.astimezone(tz).date(), as_of)
    if left is None:
        return change
    course_from, first_left, rest = left
    slack = (p.target - (as_of + dt.timedelta(days=first_left + rest))).days
    if slack >= 0:
        change = min(change, as_of + dt.timedelta(days=slack + 1))
    for c, before in planner._cutoff_course.get(course_from, ()):
        if any(s in p.reached for s in planner._cutoff_states[c.id]):
            continue  # reached (by as_of: later days returned tomorrow above)
        margin = (c.date_for(p.year) - (as_of + dt.timedelta(days=first_left + before))).days
        if margin >= 0:
            change = min(change, as_of + dt.timedelta(days=margin + 1))
    passes = planner.latest(p.target, course_from, off)
    if len(passes) >= 2 and as_of <= passes[1][1]:
        change = min(change, passes[1][1] + DAY)
    return change
