"""Deadline checks over a portfolio: one planner per workflow version, many projects.

The source of rows and of completed projects' history is passed in (``DurationSource``), so the same
code serves ``dongflow overdue``, ``status`` and the nightly alert run.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from typing import Protocol, TypeVar
from zoneinfo import ZoneInfo

from engine.catalog import Catalog
from engine.heap import cyclic_gc_paused
from engine.definition import Workflow
from engine.backward import planning_label
from engine.blackouts import NO_DAYS, BlackoutIndex
from engine.workdays import HolidaySource
from engine.deadlines import (
    Assessment,
    DeadlinePlanner,
    Durations,
    Finding,
    Tracked,
    declared_durations,
    findings,
    observed_durations,
)

T = TypeVar("T", bound=Tracked)


class DurationSource(Protocol):
    def completed_reached(self, workflow_id: str, target_state: str) -> list[dict[str, dt.datetime]]:
        """First-entry times of recently completed projects of a workflow."""


DurationsMemo = Callable[[Workflow, Callable[[], Durations]], Durations]
"""Keeps a workflow's observed durations between commands: called with the workflow and a function
that computes them from the source, it returns them (the CLI passes a cache on disk that knows when
the completed projects changed)."""


class DeadlineBook:
    """Planners for every workflow version, sharing each workflow's observed durations."""

    def __init__(
        self,
        catalog: Catalog,
        tz: ZoneInfo,
        source: DurationSource | None = None,
        holidays: HolidaySource | None = None,
        memo: DurationsMemo | None = None,
        blackouts: BlackoutIndex | None = None,
    ) -> None:
        self.catalog = catalog
        self._blackouts = blackouts
        self.tz = tz
        self._source = source
        self._holidays = holidays
        self._memo = memo
        self._durations: dict[str, Durations] = {}
        self._planners: dict[tuple[str, int], DeadlinePlanner] = {}

    @property
    def blackouts(self) -> BlackoutIndex:
        """The blackout windows: given, or read once from the source when it offers them."""
        if self._blackouts is None:
            read = getattr(self._source, "blackouts", None)
            self._blackouts = BlackoutIndex(read() if read is not None else ())
        return self._blackouts

    @property
    def holidays(self) -> HolidaySource | None:
        return self._holidays

    def completed(self, workflow_id: str) -> list[dict[str, dt.datetime]]:
        """First-entry times of the workflow's completed projects (for duration distributions)."""
        if self._source is None:
            return []
        latest = self.catalog.latest(workflow_id)
        return self._source.completed_reached(workflow_id, latest.target.state)

    def off(self, row: Tracked) -> frozenset[dt.date]:
        """The blackout days that apply to a project."""
        index = self.blackouts
        return index.days_for(row.key, getattr(row, "gu", "")) if index else NO_DAYS

    def durations(self, workflow_id: str) -> Durations:
        found = self._durations.get(workflow_id)
        if found is None:
            latest = self.catalog.latest(workflow_id)
            if self._source is None:
                found = declared_durations(latest)
            else:
                source = self._source

                def compute() -> Durations:
                    return observed_durations(latest, source.completed_reached(workflow_id, latest.target.state))

                found = compute() if self._memo is None else self._memo(latest, compute)
            self._durations[workflow_id] = found
        return found

    def planner(self, workflow_id: str, version: int) -> DeadlinePlanner:
        ref = (workflow_id, version)
        planner = self._planners.get(ref)
        if planner is None:
            workflow = self.catalog.get(workflow_id, version)
            durations = self.durations(workflow_id)
            known = {s.id for s in workflow.states}
            fitted = Durations(
                {**declared_durations(workflow).days, **{s: d for s, d in durations.observed.items() if s in known}},
                {s: d for s, d in durations.observed.items() if s in known},
                durations.samples,
            )
            planner = self._planners[ref] = DeadlinePlanner(workflow, self.tz, fitted, self._holidays)
        return planner

    def skip_states(self) -> list[str]:
        """State names that are final in every workflow having them: safe to skip in SQL."""
        final: dict[str, bool] = {}
        for wf in self.catalog.all():
            for s in wf.states:
                final[s.id] = final.get(s.id, True) and s.final
        return sorted(s for s, is_final in final.items() if is_final)

    def closed_before(self, as_of: dt.date) -> dt.datetime:
        """The end of the as-of day: projects closed before it need no check."""
        return dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time(), self.tz).astimezone(dt.timezone.utc)

    def assess(self, rows: Iterable[T], as_of: dt.date) -> list[tuple[T, Assessment]]:
        return [(row, self.planner(row.workflow_id, row.workflow_version).assess(row, as_of, self.off(row)))
                for row in rows]

    def scan(self, rows: Iterable[T], as_of: dt.date, lang: str = "en") -> tuple[int, list[tuple[T, Finding]]]:
        """Every finding (due soon, overdue, escalated, at risk) in ``rows``, and how many rows were read.

        Over a 100k portfolio this makes about a million small objects, none in a reference cycle,
        and keeps a growing share of them; Python's cyclic collector would traverse that heap again
        and again (40% of the scan's time, measured). So it is paused for the scan (refcounting
        still frees everything) and restored afterwards, exactly as it was.
        """
        out: list[tuple[T, Finding]] = []
        count = 0
        planners: dict[tuple[str, int], DeadlinePlanner] = {}
        with cyclic_gc_paused():
            for row in rows:
                count += 1
                ref = (row.workflow_id, row.workflow_version)
                planner = planners.get(ref)
                if planner is None:
                    planner = planners[ref] = self.planner(*ref)
                for f in findings(planner, row, as_of, lang, self.off(row)):
                    out.append((row, f))
        return count, out

    def milestone_label(self, workflow_id: str, version: int, milestone: str, lang: str) -> str:
        try:
            workflow = self.catalog.get(workflow_id, version)
        except LookupError:
            return milestone
        for m in workflow.milestones:
            if m.id == milestone:
                return m.label.get(lang)
        return planning_label(workflow, milestone, lang) or milestone


def level_counts(assessments: Iterable[tuple[object, Assessment]]) -> Mapping[str, int]:
    counts: dict[str, int] = {}
    for _, a in assessments:
        counts[a.level] = counts.get(a.level, 0) + 1
    return counts
