"""Milestone due dates, warning levels and the at-risk forecast, for an as-of date passed in.

Works on stored rows (anything shaped like :class:`Tracked`), never on state machines: the nightly
check covers the whole portfolio, and attaching 100k projects to a machine would take a minute and a
gigabyte (pytransitions issue 434). Everything per workflow (due-date rules, which states satisfy a
milestone, remaining time from each state) is computed once and reused for every project.

Levels of a milestone that is not yet reached, for an as-of date:

* ``pending``   -- due later than the warning window;
* ``due_soon``  -- due within ``warnings.due_soon_days``;
* ``overdue``   -- due date passed;
* ``escalated`` -- overdue by more than ``warnings.escalate_after_days``.

A reached milestone is ``met`` or ``met_late`` (with the days). A project is **at risk** when its
earliest possible completion (as-of date plus the time its remaining states take) falls after its
target, before any milestone is missed. Durations are the workflow's declared ``expected_days``
until enough completed projects exist; then the observed median per state is used, and said.

Planning (engine/backward.py): the *latest start* of each remaining state, back from the target on
the working-day calendar; a project whose next state's latest start has passed is ``late_start``. A
fiscal cut-off whose state is forecast to be reached after it is ``cutoff_risk``. A project's blackout
days (``off``, engine/blackouts.py) are skipped like holidays by due dates, latest starts and forecasts.
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from engine.backward import (
    CUTOFF_PREFIX,
    START_PREFIX,
    CutoffStatus,
    LatestStart,
    cutoff_reason,
    finish_for,
    late_start_reason,
    latest_starts,
)
from engine.blackouts import NO_DAYS
from engine.definition import PREVIOUS, Milestone, Warnings, Workflow, successor_map
from engine.workdays import HolidaySource, WorkCalendar

PENDING = "pending"
DUE_SOON = "due_soon"
OVERDUE = "overdue"
ESCALATED = "escalated"
MET = "met"
MET_LATE = "met_late"
AT_RISK = "at_risk"
LATE_START = "late_start"
"""The latest start of the next state (the backward pass) has passed: the target no longer holds
unless the remaining states go faster than their durations say."""
CUTOFF_RISK = "cutoff_risk"
"""A fiscal cut-off's state is forecast to be reached after the cut-off (or was not reached by it)."""
CLOSED = "closed"

ALERT_LEVELS = (DUE_SOON, OVERDUE, ESCALATED, AT_RISK, LATE_START, CUTOFF_RISK)
"""Levels that produce an alert."""
SEVERITY = {CLOSED: 0, MET: 0, MET_LATE: 0, PENDING: 1, DUE_SOON: 2, LATE_START: 3, CUTOFF_RISK: 3, AT_RISK: 4,
            OVERDUE: 5, ESCALATED: 6}

MIN_OBSERVED = 5
"""Completed projects needed before observed durations replace the declared ones."""


class Tracked(Protocol):
    """What the deadline computation reads of a project (a Project or a lighter stored row)."""

    key: str
    workflow_id: str
    workflow_version: int
    year: int
    state: str
    previous_state: str | None
    target: dt.date
    entered_at: dt.datetime
    reached: Mapping[str, dt.datetime]


@dataclass(frozen=True)
class MilestoneStatus:
    milestone: Milestone
    due: dt.date
    level: str
    days: int
    """Days late (overdue, met_late) or days left before the due date (pending, due_soon, met: 0)."""
    reached_on: dt.date | None = None


@dataclass(frozen=True)
class Risk:
    at_risk: bool
    earliest: dt.date
    slack_days: int
    """Target minus earliest completion: negative when at risk."""
    basis: str
    """``declared`` or ``observed (n=..)``: where the durations come from."""
    remaining: tuple[tuple[str, int], ...]
    """(state, days still needed) along the fastest remaining course."""

    samples: int = 0
    """Completed projects the observed durations come from; 0 when the declared ones were used."""

    def basis_text(self, lang: str = "en") -> str:
        if lang == "ko":
            return f"완료 {self.samples}건의 실제 소요 중앙값 기준" if self.samples else "워크플로의 예상 소요일 기준"
        return self.basis

    def reason(self, target: dt.date, lang: str = "en", label: Callable[[str], str] | None = None) -> str:
        late = -self.slack_days
        if lang == "ko":
            name = label or (lambda state: state)
            steps = ", ".join(f"{name(state)} {days}일" for state, days in self.remaining if days)
            return (
                f"가장 빠른 준공 예상일 {self.earliest.isoformat()}, 목표일 {target.isoformat()}보다 {late}일 늦음 "
                f"({steps or '남은 기간 없음'}; {self.basis_text(lang)})"
            )
        steps = ", ".join(f"{state} {days}d" for state, days in self.remaining if days)
        return (
            f"earliest completion {self.earliest.isoformat()} is {late} day{'s' if late != 1 else ''} after the target "
            f"{target.isoformat()} ({steps or 'no time left'}; {self.basis} durations)"
        )


@dataclass(frozen=True)
class Assessment:
    key: str
    state: str
    """The state on the as-of date (reconstructed from first-entry times for a past date)."""
    milestones: tuple[MilestoneStatus, ...]
    risk: Risk | None
    closed: bool = False
    """In a final state: nothing more is due."""
    latest_starts: tuple[LatestStart, ...] = ()
    """The backward pass: the latest start of the current state and of each state still ahead."""
    cutoffs: tuple[CutoffStatus, ...] = ()
    as_of: dt.date | None = None

    @property
    def late_start(self) -> LatestStart | None:
        """The next state, when its latest start has passed (as of the assessment's day)."""
        ahead = [ls for ls in self.latest_starts if ls.entered is None]
        if ahead and self.as_of is not None and ahead[0].passed(self.as_of):
            return ahead[0]
        return None

    @property
    def next(self) -> MilestoneStatus | None:
        open_ = [m for m in self.milestones if m.level not in (MET, MET_LATE)]
        return min(open_, key=lambda m: m.due) if open_ else None

    @property
    def level(self) -> str:
        if self.closed and not self.milestones:
            return CLOSED
        levels = [m.level for m in self.milestones if m.level not in (MET, MET_LATE)]
        if self.risk is not None and self.risk.at_risk:
            levels.append(AT_RISK)
        if self.late_start is not None:
            levels.append(LATE_START)
        if any(c.at_risk for c in self.cutoffs):
            levels.append(CUTOFF_RISK)
        return worst(levels) if levels else MET


@dataclass(frozen=True)
class Durations:
    """Days each state takes: observed medians where known, else the declared expectation."""

    days: Mapping[str, int]
    observed: Mapping[str, int] = field(default_factory=dict)
    samples: int = 0

    @property
    def basis(self) -> str:
        return f"observed (median of {self.samples} completed)" if self.observed else "declared"


def declared_durations(workflow: Workflow) -> Durations:
    return Durations({s.id: s.expected_days or 0 for s in workflow.states})


def observed_durations(
    workflow: Workflow, completed: Iterable[Mapping[str, dt.datetime]], minimum: int = MIN_OBSERVED
) -> Durations:
    """Median days from first entering each state to first entering the next, over completed projects.

    Loops (a design sent back for revision) and holds fall inside the span, which is what a forecast
    of "how long from here" needs.
    """
    import statistics  # only when there is history: it costs start-up time

    samples: dict[str, list[float]] = {}
    count = 0
    for reached in completed:
        if workflow.target.state not in reached:
            continue
        count += 1
        ordered = sorted(reached.items(), key=lambda item: item[1])
        for (state, start), (_, end) in zip(ordered, ordered[1:]):
            samples.setdefault(state, []).append((end - start).total_seconds() / 86400)
    declared = declared_durations(workflow)
    if count < minimum:
        return declared
    observed = {
        state: max(0, round(statistics.median(values)))
        for state, values in samples.items()
        if len(values) >= minimum and workflow.has_state(state)
    }
    return Durations({**declared.days, **observed}, observed, count)


class DeadlinePlanner:
    """Deadline and risk computation for one workflow version; build once, assess many projects."""

    def __init__(
        self,
        workflow: Workflow,
        tz: ZoneInfo,
        durations: Durations | None = None,
        holidays: HolidaySource | None = None,
    ) -> None:
        self.workflow = workflow
        self.tz = tz
        self.calendar = WorkCalendar(workflow.calendar, holidays)
        self.durations = durations or declared_durations(workflow)
        self.finals = {s.id for s in workflow.states if s.final}
        self._satisfying = {m.id: self._states_satisfying(m.state) for m in workflow.milestones}
        self._remaining = self._remaining_course()
        self._dues: dict[tuple[dt.date, int], tuple[tuple[Milestone, dt.date], ...]] = {}
        # For the portfolio scan (:meth:`findings`): which milestones each state satisfies, the days
        # still ahead after the first state of each remaining course, and the completion milestone.
        self._satisfied_by: dict[str, tuple[int, ...]] = {}
        for index, m in enumerate(workflow.milestones):
            for s in self._satisfying[m.id]:
                self._satisfied_by[s] = (*self._satisfied_by.get(s, ()), index)
        self._course_days = {
            state: (self.durations.days.get(path[0], 0) if path else 0,
                    sum(self.durations.days.get(s, 0) for s in path[1:]))
            for state, (_total, path) in self._remaining.items()
        }
        self._completion_id = next(
            (m.id for m in workflow.milestones if m.state == workflow.target.state), "completion"
        )
        self._alerts: dict[tuple[dt.date, int, dt.date, str, frozenset[dt.date]],
                           tuple[tuple[int, str, str, dt.date, int, str], ...]] = {}
        self._risks: dict[tuple[dt.date, str, int, dt.date, str, frozenset[dt.date]], tuple[int, str]] = {}
        self._latest: dict[tuple[dt.date, str, frozenset[dt.date]], tuple[tuple[str, dt.date], ...]] = {}
        self._cutoff_states = {c.id: self._states_satisfying(c.state) for c in workflow.cutoffs}
        # For the scan: per remaining course, each cut-off whose state lies ahead on it, with the days of
        # the states between the first one and it; and each cut-off's date per cohort year.
        self._cutoff_course = {
            state: tuple((c, sum(self.durations.days.get(s, 0) for s in path[1:path.index(c.state)]))
                         for c in workflow.cutoffs if c.state in path[1:])
            for state, (_total, path) in self._remaining.items()
        }
        self._cutoff_dates: dict[tuple[str, int], dt.date] = {}
        self._late_reasons: dict[tuple[str, dt.date, dt.date, dt.date, str], str] = {}
        self._cutoff_reasons: dict[tuple[str, dt.date, dt.date, str], tuple[int, str]] = {}

    # -- per-workflow preparation --------------------------------------------------------
    def _states_satisfying(self, state: str) -> frozenset[str]:
        """The milestone's state, or any state on the course that can only come after it (e.g. a
        skipped step).

        A state off the course -- one that leads to the target only by returning where it came from
        (``on_hold``, resumed through ``@previous``), or not at all (``cancelled``) -- satisfies
        nothing: it can be entered from anywhere, so being put on hold is not reaching a milestone.
        """
        wf = self.workflow
        edges = _forward_edges(wf)
        after = _reach(state, edges)
        on_course = {s.id for s in wf.states if wf.target.state in _reach(s.id, edges)}
        result = {state}
        for other in after:
            if other == state or state in _reach(other, edges):
                continue
            if other not in on_course:
                continue  # on hold or cancelled is not "done"
            result.add(other)
        return frozenset(result)

    def _remaining_course(self) -> dict[str, tuple[int, tuple[str, ...]]]:
        """Fewest days from entering each state to reaching the target, and the states on the way."""
        wf = self.workflow
        target = wf.target.state
        incoming: dict[str, set[str]] = {s.id: set() for s in wf.states}
        for src, dests in _forward_edges(wf).items():
            for d in dests:
                incoming[d].add(src)
        best: dict[str, tuple[int, tuple[str, ...]]] = {target: (0, ())}
        heap: list[tuple[int, str]] = [(0, target)]
        while heap:
            cost, state = heapq.heappop(heap)
            if cost > best[state][0]:
                continue
            for prev in incoming[state]:
                new = cost + self.durations.days.get(prev, 0)
                if prev not in best or new < best[prev][0]:
                    best[prev] = (new, (prev, *best[state][1]))
                    heapq.heappush(heap, (new, prev))
        return best

    def satisfying(self, milestone_id: str) -> frozenset[str]:
        """The states whose first entry meets this milestone (its own, or one only reached after it)."""
        return self._satisfying[milestone_id]

    def dues(self, target: dt.date, year: int, off: frozenset[dt.date] = NO_DAYS) -> tuple[tuple[Milestone, dt.date], ...]:
        """Each milestone's due date for a project with this target and cohort year (``off``: its
        blackout days, skipped by the roll like holidays)."""
        cache_key = (target, year, off)
        found = self._dues.get(cache_key)
        if found is None:
            found = tuple(
                (m, self.calendar.roll(m.due.resolve(target, year), off)) for m in self.workflow.milestones
            )
            if len(self._dues) > 10_000:
                self._dues.clear()
            self._dues[cache_key] = found
        return found

    def course(self, p: Tracked, state: str, entered: dt.date, as_of: dt.date) -> tuple[str, dt.date, tuple[str, ...]] | None:
        """Where the remaining course starts (the state, or the state held in when on hold), the day
        its time is counted from, and the course's states before the target; None when off it."""
        if state not in self._remaining and p.previous_state in self._remaining:
            return p.previous_state, as_of, self._remaining[p.previous_state][1]
        found = self._remaining.get(state)
        return None if found is None else (state, entered, found[1])

    def latest(self, target: dt.date, course_from: str, off: frozenset[dt.date] = NO_DAYS) -> tuple[tuple[str, dt.date], ...]:
        """The backward pass from ``target`` over the remaining course from ``course_from``."""
        cache_key = (target, course_from, off)
        found = self._latest.get(cache_key)
        if found is None:
            path = self._remaining[course_from][1]
            found = latest_starts(path, self.durations.days, target, self.calendar.is_working_day, off)
            if len(self._latest) > 50_000:
                self._latest.clear()
            self._latest[cache_key] = found
        return found

    def _late_start(self, target: dt.date, course_from: str, as_of: dt.date,
                    off: frozenset[dt.date]) -> tuple[str, dt.date] | None:
        """The next state and its latest start, when that has passed on ``as_of`` (the target state's
        own "start" is the completion milestone's due date: not reported twice)."""
        passes = self.latest(target, course_from, off)
        if len(passes) < 2:
            return None
        state, latest = passes[1]
        return (state, latest) if as_of > latest else None

    def cutoff_statuses(self, p: Tracked, as_of: dt.date, course: tuple[str, dt.date, tuple[str, ...]] | None,
                        off: frozenset[dt.date] = NO_DAYS) -> tuple[CutoffStatus, ...]:
        """Each fiscal cut-off: reached by ``as_of`` (when), or the day its state is forecast to be entered."""
        out = []
        for c in self.workflow.cutoffs:
            satisfying = self._cutoff_states[c.id]
            hits = [self.local_date(at) for s, at in p.reached.items() if s in satisfying]
            hits = [d for d in hits if d <= as_of]
            date = c.date_for(p.year)
            if hits:
                out.append(CutoffStatus(c.id, c.state, c.consequence, date, min(hits), None))
                continue
            expected = None
            if course is not None and c.state in course[2]:
                course_from, start, path = course
                ahead = 0
                for i, s in enumerate(path):
                    if s == c.state:
                        break
                    days = self.durations.days.get(s, 0)
                    ahead += max(0, days - max(0, (as_of - start).days)) if i == 0 else days
                expected = finish_for(as_of, ahead, self.calendar.is_working_day, off)
            elif course is not None and c.state == self.workflow.target.state:
                expected = None
            out.append(CutoffStatus(c.id, c.state, c.consequence, date, None, expected))
        return tuple(out)

    # -- per project ---------------------------------------------------------------------
    def local_date(self, moment: dt.datetime) -> dt.date:
        return moment.astimezone(self.tz).date()

    def state_on(self, p: Tracked, as_of: dt.date) -> tuple[str, dt.date]:
        """The state on ``as_of`` and the day it was entered (first entries for a past date)."""
        entered = self.local_date(p.entered_at)
        if entered <= as_of:
            return p.state, entered
        past = [(self.local_date(at), state) for state, at in p.reached.items() if self.local_date(at) <= as_of]
        if not past:
            return self.workflow.initial.id, self.local_date(min(p.reached.values(), default=p.entered_at))
        day, state = max(past)
        return state, day

    def assess(self, p: Tracked, as_of: dt.date, off: frozenset[dt.date] = NO_DAYS) -> Assessment:
        state, entered = self.state_on(p, as_of)
        if state in self.finals and state != self.workflow.target.state:
            return Assessment(p.key, state, (), None, closed=True)
        reached_days = {s: self.local_date(at) for s, at in p.reached.items()}
        warnings = self.workflow.warnings
        statuses = []
        for milestone, due in self.dues(p.target, p.year, off):
            hits = [day for s, day in reached_days.items() if s in self._satisfying[milestone.id] and day <= as_of]
            if hits:
                on = min(hits)
                late = (on - due).days
                statuses.append(MilestoneStatus(milestone, due, MET_LATE if late > 0 else MET, max(late, 0), on))
                continue
            level, days = milestone_level(due, as_of, warnings)
            statuses.append(MilestoneStatus(milestone, due, level, days))
        closed = state in self.finals
        risk = None if closed else self.forecast(p, state, entered, as_of, off)
        if closed:
            return Assessment(p.key, state, tuple(statuses), risk, closed=closed, as_of=as_of)
        course = self.course(p, state, entered, as_of)
        starts: tuple[LatestStart, ...] = ()
        if course is not None:
            starts = tuple(
                LatestStart(s, day, course[1] if i == 0 else None)
                for i, (s, day) in enumerate(self.latest(p.target, course[0], off))
            )
        return Assessment(p.key, state, tuple(statuses), risk, closed=closed, latest_starts=starts,
                          cutoffs=self.cutoff_statuses(p, as_of, course, off), as_of=as_of)

    def forecast(self, p: Tracked, state: str, entered: dt.date, as_of: dt.date,
                 off: frozenset[dt.date] = NO_DAYS) -> Risk | None:
        course_from = state
        if state not in self._remaining and p.previous_state in self._remaining:
            # Off the course (on hold): resuming goes back to where it was held, with that state's
            # whole duration still ahead.
            course_from = p.previous_state
            entered = as_of
        found = self._remaining.get(course_from)
        if found is None:
            return None
        _total, path = found
        elapsed = max(0, (as_of - entered).days)
        remaining: list[tuple[str, int]] = []
        for index, s in enumerate(path):
            days = self.durations.days.get(s, 0)
            if index == 0:
                days = max(0, days - elapsed)
            remaining.append((s, days))
        earliest = finish_for(as_of, sum(d for _, d in remaining), self.calendar.is_working_day, off)
        slack = (p.target - earliest).days
        return Risk(
            slack < 0, earliest, slack, self.durations.basis, tuple(remaining),
            self.durations.samples if self.durations.observed else 0,
        )

    # -- the portfolio scan -------------------------------------------------------------------
    def findings(self, p: Tracked, as_of: dt.date, lang: str = "en", off: frozenset[dt.date] = NO_DAYS) -> list[Finding]:
        """What an alert run reports about ``p`` on ``as_of``: milestones due soon, overdue or
        escalated, and the project at risk. Equal to :func:`findings_of` (a test checks it), but
        it builds no :class:`Assessment`: the nightly check calls it for every open project, and
        most milestones (met, pending) and most forecasts (on time) produce nothing.
        """
        tz = self.tz
        entered = p.entered_at.astimezone(tz).date()
        if entered <= as_of:
            state = p.state
        else:
            state, entered = self.state_on(p, as_of)
        finals = self.finals
        target_state = self.workflow.target.state
        if state in finals and state != target_state:
            return []
        # The earliest day each milestone was reached by the as-of date (by its state, or a later one).
        met: dict[int, dt.date] = {}
        satisfied_by = self._satisfied_by
        for s, at in p.reached.items():
            indices = satisfied_by.get(s)
            if indices is None:
                continue
            day = at.astimezone(tz).date()
            if day > as_of:
                continue
            for i in indices:
                if i not in met or day < met[i]:
                    met[i] = day
        key = p.key
        out = [
            Finding(key, milestone_id, level, due, days, reason)
            for i, milestone_id, level, due, days, reason in self._alerting(p.target, p.year, as_of, lang, off)
            if i not in met
        ]
        if state in finals:
            return out
        # The forecast of :meth:`forecast`, reduced to its sum; the full Risk only when at risk.
        left = self.course_left(p, state, entered, as_of)
        if left is None:
            return out
        course_from, first_left, rest = left
        ahead = first_left + rest
        end = as_of + dt.timedelta(days=ahead) if not off else finish_for(as_of, ahead, self.calendar.is_working_day, off)
        slack = (p.target - end).days
        cuts = self._cutoff_course.get(course_from)
        if cuts:
            self._cutoff_findings(out, p, cuts, first_left, as_of, lang, off)
        late = self._late_start(p.target, course_from, as_of, off)
        if late is not None:
            next_state, latest = late
            reason_key = (next_state, latest, p.target, as_of, lang)
            reason = self._late_reasons.get(reason_key)
            if reason is None:
                if len(self._late_reasons) > 50_000:
                    self._late_reasons.clear()
                reason = self._late_reasons[reason_key] = late_start_reason(
                    self.workflow.state_label(next_state, lang), latest, p.target, as_of, lang)
            out.append(Finding(key, START_PREFIX + next_state, LATE_START, latest, (as_of - latest).days, reason))
        if slack < 0:
            # The reason text depends only on these (and the planner's durations): shared, not rebuilt.
            cache_key = (as_of, course_from, ahead - rest, p.target, lang, off)
            found = self._risks.get(cache_key)
            if found is None:
                risk = self.forecast(p, state, entered, as_of, off)
                assert risk is not None and risk.slack_days == slack
                found = (-slack, risk.reason(p.target, lang, self._label(lang)))
                if len(self._risks) > 50_000:
                    self._risks.clear()
                self._risks[cache_key] = found
            out.append(Finding(key, self._completion_id, AT_RISK, p.target, found[0], found[1]))
        return out

    def course_left(self, p: Tracked, state: str, entered: dt.date, as_of: dt.date) -> tuple[str, int, int] | None:
        """The remaining course as the scan sums it: where it starts (the state, or the one held in
        when on hold, whose whole duration is then still ahead), the days left in that first state on
        ``as_of``, and the days of the states after it. None when off every course."""
        course_from, start = state, entered
        if state not in self._course_days and p.previous_state in self._course_days:
            course_from, start = p.previous_state, as_of
        course = self._course_days.get(course_from)
        if course is None:
            return None
        first, rest = course
        return course_from, max(0, first - max(0, (as_of - start).days)), rest

    def _cutoff_findings(self, out: list[Finding], p: Tracked, cuts: Any, first_left: int, as_of: dt.date,
                         lang: str, off: frozenset[dt.date]) -> None:
        """The cut-off findings of :meth:`cutoff_statuses`, from the scan's sums (no status objects
        for the projects in time)."""
        tz = self.tz
        for c, before in cuts:
            reached = False
            for s in self._cutoff_states[c.id]:
                at = p.reached.get(s)
                if at is not None and at.astimezone(tz).date() <= as_of:
                    reached = True
                    break
            if reached:
                continue
            date = self._cutoff_dates.get((c.id, p.year))
            if date is None:
                date = self._cutoff_dates[(c.id, p.year)] = c.date_for(p.year)
            days = first_left + before
            when = as_of + dt.timedelta(days=days) if not off else finish_for(as_of, days, self.calendar.is_working_day, off)
            if when > date:
                reason_key = (c.id, date, when, lang)
                found = self._cutoff_reasons.get(reason_key)
                if found is None:
                    if len(self._cutoff_reasons) > 50_000:
                        self._cutoff_reasons.clear()
                    status = CutoffStatus(c.id, c.state, c.consequence, date, None, when)
                    found = self._cutoff_reasons[reason_key] = (
                        status.days, cutoff_reason(status, self.workflow.state_label(c.state, lang), lang))
                out.append(Finding(p.key, CUTOFF_PREFIX + c.id, CUTOFF_RISK, date, found[0], found[1]))

    def _label(self, lang: str) -> Callable[[str], str]:
        return lambda state: self.workflow.state_label(state, lang)

    def _alerting(
        self, target: dt.date, year: int, as_of: dt.date, lang: str, off: frozenset[dt.date] = NO_DAYS
    ) -> tuple[tuple[int, str, str, dt.date, int, str], ...]:
        """The milestones that alert on ``as_of`` if not reached by then, for a target and cohort:
        (index, id, level, due, days, reason). Shared by every project with the same dates."""
        cache_key = (target, year, as_of, lang, off)
        found = self._alerts.get(cache_key)
        if found is None:
            warnings = self.workflow.warnings
            items = []
            for i, (milestone, due) in enumerate(self.dues(target, year, off)):
                level, days = milestone_level(due, as_of, warnings)
                if level == PENDING:
                    continue
                status = MilestoneStatus(milestone, due, level, days)
                items.append((i, milestone.id, level, due, days, _why(status, self.workflow, lang)))
            found = tuple(items)
            if len(self._alerts) > 10_000:
                self._alerts.clear()
            self._alerts[cache_key] = found
        return found


def milestone_level(due: dt.date, as_of: dt.date, warnings: Warnings) -> tuple[str, int]:
    """The level of a milestone not reached by ``as_of``, and its days (late, or left before the due
    date). The one place levels are decided: ``status``'s assessment and the nightly scan both call it.

    * more than ``escalate_after_days`` past the due date: ``escalated``;
    * past the due date (by 1 .. ``escalate_after_days`` days): ``overdue``;
    * due today or within ``due_soon_days``: ``due_soon``; later: ``pending``.
    """
    left = (due - as_of).days
    if left < 0:
        return (ESCALATED if -left > warnings.escalate_after_days else OVERDUE), -left
    return (DUE_SOON if left <= warnings.due_soon_days else PENDING), left


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing to warn about: a milestone at a level, or a project at risk."""

    key: str
    milestone: str
    """The milestone id; for at-risk, the id of the target milestone (or ``completion``)."""
    level: str
    due: dt.date
    days: int
    reason: str


def findings(planner: DeadlinePlanner, p: Tracked, as_of: dt.date, lang: str = "en",
             off: frozenset[dt.date] = NO_DAYS) -> list[Finding]:
    """What an alert run should report about ``p`` on ``as_of``, reasons in ``lang`` (ko or en); the
    same as :func:`findings_of` on :meth:`DeadlinePlanner.assess`, computed without building the
    whole assessment."""
    return planner.findings(p, as_of, lang, off)


def findings_of(planner: DeadlinePlanner, p: Tracked, as_of: dt.date, lang: str = "en",
                off: frozenset[dt.date] = NO_DAYS) -> list[Finding]:
    """The findings read off a full assessment: the definition :meth:`DeadlinePlanner.findings` must match."""
    a = planner.assess(p, as_of, off)
    wf = planner.workflow
    out = [
        Finding(p.key, s.milestone.id, s.level, s.due, s.days, _why(s, planner.workflow, lang))
        for s in a.milestones
        if s.level in (DUE_SOON, OVERDUE, ESCALATED)
    ]
    out += [Finding(p.key, CUTOFF_PREFIX + c.cutoff_id, CUTOFF_RISK, c.date, c.days,
                    cutoff_reason(c, wf.state_label(c.state, lang), lang)) for c in a.cutoffs if c.at_risk]
    late = a.late_start
    if late is not None and late.state != wf.target.state:
        out.append(Finding(p.key, START_PREFIX + late.state, LATE_START, late.latest, (as_of - late.latest).days,
                           late_start_reason(wf.state_label(late.state, lang), late.latest, p.target, as_of, lang)))
    if a.risk is not None and a.risk.at_risk:
        completion = next(
            (m for m, _ in planner.dues(p.target, p.year) if m.state == planner.workflow.target.state), None
        )
        out.append(
            Finding(p.key, completion.id if completion else "completion", AT_RISK, p.target, -a.risk.slack_days,
                    a.risk.reason(p.target, lang, lambda state: planner.workflow.state_label(state, lang)))
        )
    return out


def _why(s: MilestoneStatus, workflow: Workflow, lang: str) -> str:
    if lang == "ko":
        state = workflow.state_label(s.milestone.state, "ko")
        if s.level == DUE_SOON:
            return f"{state} 단계 미도달: 기한 {s.due.isoformat()}까지 {s.days}일 남음"
        return f"{state} 단계 미도달: 기한 {s.due.isoformat()}에서 {s.days}일 지남"
    days = f"{s.days} day{'s' if s.days != 1 else ''}"
    if s.level == DUE_SOON:
        return f"{s.milestone.state} not reached; due in {days} ({s.due.isoformat()})"
    return f"{s.milestone.state} not reached; {days} past the due date {s.due.isoformat()}"


def _forward_edges(workflow: Workflow) -> dict[str, set[str]]:
    """Successors without ``@previous`` returns: a resume is not a shortcut through the course."""
    plain = [t for t in workflow.transitions if t.dest != PREVIOUS]
    return successor_map(workflow.states, plain)


def _reach(start: str, edges: Mapping[str, set[str]]) -> set[str]:
    seen = {start}
    todo = [start]
    while todo:
        for nxt in edges.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def worst(levels: Sequence[str]) -> str:
    return max(levels, key=lambda lv: SEVERITY.get(lv, 0)) if levels else PENDING


def as_dict(a: Assessment, target: dt.date) -> dict[str, Any]:
    nxt = a.next
    return {
        "state": a.state,
        "level": a.level,
        "next_milestone": nxt.milestone.id if nxt else None,
        "next_due": nxt.due.isoformat() if nxt else None,
        "at_risk": bool(a.risk and a.risk.at_risk),
        "earliest_completion": a.risk.earliest.isoformat() if a.risk else None,
        "slack_days": a.risk.slack_days if a.risk else None,
        "durations": a.risk.basis if a.risk else None,
        "risk_reason": a.risk.reason(target) if a.risk and a.risk.at_risk else None,
        "latest_starts": [
            {"state": ls.state, "latest_start": ls.latest.isoformat(),
             "entered": ls.entered.isoformat() if ls.entered else None,
             "passed": bool(a.as_of and ls.passed(a.as_of))}
            for ls in a.latest_starts
        ],
        "cutoffs": [
            {"id": c.cutoff_id, "state": c.state, "consequence": c.consequence, "date": c.date.isoformat(),
             "reached_on": c.reached_on.isoformat() if c.reached_on else None,
             "expected": c.expected.isoformat() if c.expected else None, "at_risk": c.at_risk, "days": c.days}
            for c in a.cutoffs
        ],
        "milestones": [
            {
                "id": s.milestone.id,
                "state": s.milestone.state,
                "due": s.due.isoformat(),
                "level": s.level,
                "days": s.days,
                "reached_on": s.reached_on.isoformat() if s.reached_on else None,
            }
            for s in a.milestones
        ],
    }
