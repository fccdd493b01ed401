"""The backward pass: the latest day each remaining state must be entered for the target to hold.

From the target date, going back along the remaining course (the fastest way from the current state
to the target state, as the forecast uses), each state's latest start is the latest start of the one
after it minus the state's duration; on the working-day calendar:

* a duration is in calendar days (declared, or observed from completed projects with their weekends
  and holidays inside), counted back day by day; a blackout day that would otherwise have been a
  working day does not count (the site could not work: the state needs one more day);
* the day reached is then moved back to a working day that is not a blackout day: a state cannot
  start on a Sunday, 어린이날 or the district's election day, so it must start the working day before.

The forward counterpart (:func:`finish_for`) gives the forecast's earliest completion with the same
rule. Pure: dates in, dates out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from engine.blackouts import NO_DAYS

DAY = dt.timedelta(days=1)
ROLL_LIMIT = 400
"""Days searched for a working day (a calendar with none would otherwise loop forever)."""

START_PREFIX = "start:"
"""Finding ids of a latest start passed: ``start:<state>`` (never a milestone id: those have no colon)."""
CUTOFF_PREFIX = "cutoff:"


@dataclass(frozen=True)
class LatestStart:
    state: str
    latest: dt.date
    """The latest day the state may be entered for the target to hold."""
    entered: dt.date | None = None
    """When it was entered (the current state), or None if still ahead."""

    def passed(self, as_of: dt.date) -> bool:
        return self.entered is None and as_of > self.latest


def lost(day: dt.date, working: Callable[[dt.date], bool], off: frozenset[dt.date]) -> bool:
    """A working day taken away by a blackout."""
    return day in off and working(day)


def start_for(end: dt.date, days: int, working: Callable[[dt.date], bool], off: frozenset[dt.date] = NO_DAYS) -> dt.date:
    """The latest day a state of ``days`` calendar days can start and still be left by ``end``."""
    day = end
    left = days
    while left > 0:
        day -= DAY
        if not (off and lost(day, working, off)):
            left -= 1
    for _ in range(ROLL_LIMIT):
        if working(day) and day not in off:
            return day
        day -= DAY
    return day


def finish_for(start: dt.date, days: int, working: Callable[[dt.date], bool], off: frozenset[dt.date] = NO_DAYS) -> dt.date:
    """The day a span of ``days`` calendar days begun on ``start`` ends, blackout working days not counting."""
    if not off:
        return start + dt.timedelta(days=days)
    day = start
    left = days
    while left > 0:
        if not lost(day, working, off):
            left -= 1
        day += DAY
    return day


def latest_starts(
    path: Sequence[str],
    durations: Mapping[str, int],
    target: dt.date,
    working: Callable[[dt.date], bool],
    off: frozenset[dt.date] = NO_DAYS,
) -> tuple[tuple[str, dt.date], ...]:
    """(state, latest start) for each state of ``path`` (the states before the target state, in order)."""
    out: list[tuple[str, dt.date]] = []
    end = target
    for state in reversed(path):
        end = start_for(end, durations.get(state, 0), working, off)
        out.append((state, end))
    return tuple(reversed(out))


@dataclass(frozen=True)
class CutoffStatus:
    """A fiscal cut-off for one project: its date, and when the project is forecast to reach its state."""

    cutoff_id: str
    state: str
    consequence: str
    date: dt.date
    reached_on: dt.date | None
    expected: dt.date | None
    """Forecast day the state is entered (None when reached, or off the course)."""

    @property
    def at_risk(self) -> bool:
        return self.reached_on is None and self.expected is not None and self.expected > self.date

    @property
    def days(self) -> int:
        """Days the forecast (or the reaching) falls after the cut-off; 0 when in time."""
        when = self.reached_on or self.expected
        return max(0, (when - self.date).days) if when else 0


CONSEQUENCE_LABELS = {"carry_over": ("이월", "carry-over"), "lapse": ("불용", "lapse")}


def consequence_label(consequence: str, lang: str) -> str:
    ko, en = CONSEQUENCE_LABELS.get(consequence, (consequence, consequence))
    return en if lang == "en" else ko


def topic(label: str) -> str:
    """``label`` with the Korean topic particle: 은 after a final consonant, else 는 (시공은, 발주는)."""
    last = label.rstrip()[-1:] if label.strip() else ""
    if "가" <= last <= "힣":
        return label + ("은" if (ord(last) - 0xAC00) % 28 else "는")
    return label + "는"


def late_start_reason(state_label: str, latest: dt.date, target: dt.date, as_of: dt.date, lang: str) -> str:
    days = (as_of - latest).days
    if lang == "ko":
        return (f"{topic(state_label)} 늦어도 {latest.isoformat()} 시작해야 목표일 {target.isoformat()}을 지킬 수 있음 "
                f"({days}일 지남)")
    return (f"{state_label} should have started by {latest.isoformat()} (its latest start for the target "
            f"{target.isoformat()}); {days} day{'s' if days != 1 else ''} ago")


def cutoff_reason(status: CutoffStatus, state_label: str, lang: str) -> str:
    what = consequence_label(status.consequence, lang)
    if lang == "ko":
        return (f"{state_label} 진입 예상일 {status.expected}, {what} 기한 {status.date.isoformat()}보다 "
                f"{status.days}일 늦음")
    return (f"{state_label} forecast for {status.expected}, {status.days} day{'s' if status.days != 1 else ''} after "
            f"the {what} cut-off {status.date.isoformat()}")


def planning_label(workflow: object, ident: str, lang: str) -> str | None:
    """The label of a ``start:<state>`` or ``cutoff:<id>`` finding id, or None for another id."""
    if ident.startswith(START_PREFIX):
        state = ident[len(START_PREFIX):]
        label = workflow.state_label(state, lang)  # type: ignore[attr-defined]
        return f"{label} 착수" if lang == "ko" else f"{label} start"
    if ident.startswith(CUTOFF_PREFIX):
        cid = ident[len(CUTOFF_PREFIX):]
        for c in getattr(workflow, "cutoffs", ()):
            if c.id == cid:
                return c.label.get(lang)
        return cid
    return None
