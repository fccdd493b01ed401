"""The delay ledger: where each late project lost (or made up) its days, and whose stage that was.

The plan of a project is its workflow's declared course: the fastest course from the initial state to
the target, each state taking its declared ``expected_days``, ending on the target date (so it starts
on the target minus the course's total). Against it, a project's lateness splits exactly into lines:

* ``start``: how much later (positive) or earlier (negative) than planned the first state was entered;
* one line per state it spent time in: the days it spent there (first entry to the next state's first
  entry, loops and holds inside) minus the days planned for it (0 for a state off the planned course,
  such as a design revision or a hold: all its time is lost);
* a planned state it skipped: minus its planned days (time gained);
* for an open project, the current state counts the days spent so far, or its planned days if more;
  states still ahead are assumed to take their planned days (lines of 0, not listed).

The lines add up to the lateness by construction -- completion (actual, or projected for an open
project) minus target -- which a test checks. Each line carries the state's ``owner:`` from the workflow.
Pure: calendar days, dates in.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from engine.deadlines import Tracked
from engine.definition import Workflow

START = "start"
"""The line of a late (or early) first entry; its owner is None."""


@dataclass(frozen=True)
class DelayLine:
    state: str
    owner: str | None
    days: int
    """Days lost (positive) or made up (negative) in this state."""
    actual: int | None
    planned: int


@dataclass(frozen=True)
class ProjectDelays:
    key: str
    gu: str
    year: int
    target: dt.date
    completion: dt.date
    """Actual completion, or the projected one of an open project."""
    completed: bool
    lines: tuple[DelayLine, ...]

    @property
    def lateness(self) -> int:
        return (self.completion - self.target).days


def planned_course(workflow: Workflow) -> tuple[str, ...]:
    """The fastest course (declared days) from the initial state to the target, target excluded."""
    from engine.deadlines import DeadlinePlanner, declared_durations
    from zoneinfo import ZoneInfo

    planner = DeadlinePlanner(workflow, ZoneInfo("UTC"), declared_durations(workflow), lambda c, y: frozenset())
    return planner._remaining.get(workflow.initial.id, (0, ()))[1]


def project_delays(p: Tracked, gu: str, workflow: Workflow, course: tuple[str, ...], as_of: dt.date,
                   local_date: Callable[[dt.datetime], dt.date]) -> ProjectDelays | None:
    """The ledger of one project on ``as_of`` (first entries after ``as_of`` are not yet known)."""
    planned = {s: workflow.state(s).expected_days or 0 for s in course}
    visits = sorted((local_date(at), state) for state, at in p.reached.items() if local_date(at) <= as_of)
    if not visits:
        return None
    target_state = workflow.target.state
    owner = {s.id: s.owner for s in workflow.states}
    plan_start = p.target - dt.timedelta(days=sum(planned.values()))
    lines = [DelayLine(START, None, (visits[0][0] - plan_start).days, None, 0)]
    completed = False
    completion: dt.date | None = None
    seen: set[str] = set()
    for index, (day, state) in enumerate(visits):
        if state == target_state:
            completed, completion = True, day
            break
        if workflow.state(state).final if workflow.has_state(state) else False:
            return None  # cancelled: no lateness to explain
        seen.add(state)
        if index + 1 < len(visits):
            spent = (visits[index + 1][0] - day).days
            lines.append(DelayLine(state, owner.get(state), spent - planned.get(state, 0), spent, planned.get(state, 0)))
        else:  # the current state of an open project
            spent = (as_of - day).days
            plan = planned.get(state, 0)
            lines.append(DelayLine(state, owner.get(state), max(spent, plan) - plan, spent, plan))
            ahead = sum(d for s, d in planned.items() if s not in seen)
            completion = as_of + dt.timedelta(days=max(0, plan - spent) + ahead)
    assert completion is not None
    if completed:
        for s in course:
            if s not in seen:
                lines.append(DelayLine(s, owner.get(s), -planned[s], 0, planned[s]))
    return ProjectDelays(p.key, gu, p.year, p.target, completion, completed, tuple(lines))


def ledger(rows: Iterable[tuple[Tracked, str]], workflow_for: Callable[[str, int], Workflow], as_of: dt.date,
           local_date: Callable[[dt.datetime], dt.date]) -> list[ProjectDelays]:
    """The ledgers of the late projects among ``rows`` ((project, gu) pairs): completed after their
    target, or open and projected to finish after it. Latest first."""
    courses: dict[tuple[str, int], tuple[str, ...]] = {}
    out = []
    for p, gu in rows:
        ref = (p.workflow_id, p.workflow_version)
        wf = workflow_for(*ref)
        if ref not in courses:
            courses[ref] = planned_course(wf)
        found = project_delays(p, gu, wf, courses[ref], as_of, local_date)
        if found is not None and found.lateness > 0:
            out.append(found)
    out.sort(key=lambda d: (-d.lateness, d.key))
    return out


def totals(ledgers: Iterable[ProjectDelays], by: str = "owner") -> list[tuple[str | None, int, int, int]]:
    """Per owner (or ``state``): days lost, days made up, and the number of projects that lost days there."""
    lost: dict[str | None, int] = {}
    gained: dict[str | None, int] = {}
    projects: dict[str | None, set[str]] = {}
    for d in ledgers:
        for line in d.lines:
            name = line.state if by == "state" else (line.owner if line.state != START else START)
            if line.days > 0:
                lost[name] = lost.get(name, 0) + line.days
                projects.setdefault(name, set()).add(d.key)
            elif line.days < 0:
                gained[name] = gained.get(name, 0) - line.days
    names = set(lost) | set(gained)
    return sorted(((n, lost.get(n, 0), gained.get(n, 0), len(projects.get(n, ()))) for n in names),
                  key=lambda t: (-t[1], str(t[0])))


def owner_map(workflow: Workflow) -> Mapping[str, str | None]:
    return {s.id: s.owner for s in workflow.states}
