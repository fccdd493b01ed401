"""The programme office's report, as plain tables: what each section holds and how it is computed.

A report is a list of :class:`Section` tables (columns with a kind, rows, a totals row, notes) plus
the timeline data of the Gantt chart. Renderers (terminal, Markdown, CSV, XLSX, HTML in ``render/``)
only lay these out; nothing here knows a format. The numbers come from a :class:`ReportSource`
(``storage/report_queries.py``), which aggregates in SQL and hands over only what a section needs:
counts per group, sums per year, and the few columns of open projects that the deadline rules read.

Sections (each selectable with ``--section``):

* ``results``       -- 추진 실적: dongs completed per quarter, by year (completion = entering the
                        workflow's target state, on the local date).
* ``plan``          -- plan against results per year and quarter.
* ``budget``        -- per year: planned investment (the programme plan), allocated, executed, and
                        the execution rates; programme-wide lines are included unless ``--gu``.
* ``participation`` -- participation counts by type per cohort and programme-wide, and the average
                        number of resident meetings per dong.
* ``districts``     -- per district: projects at each stage on the as-of date, late, at risk.
* ``late``          -- every project late (a milestone overdue) or at risk on the as-of date.
* ``baseline``, ``delays``, ``cutoffs`` -- baseline variance, the delay ledger, fiscal cut-offs
                        (programme/report_planning.py); the budget section notes the amount at risk.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from engine.catalog import Catalog
from engine.monitor import DeadlineBook
from engine.deadlines import (
    ESCALATED,
    OVERDUE,
    DeadlinePlanner,
    MilestoneStatus,
)
from engine.definition import Label, Workflow
from engine.errors import InvalidInput
from engine.tracked import TrackedRow
from programme.participation import TYPES
from programme.records import Plan
from programme.report_planning import PLANNING_SECTIONS

SECTIONS: dict[str, Label] = {
    "results": Label("추진 실적 (분기별 준공)", "Results: dongs completed per quarter"),
    "plan": Label("계획 대비 실적", "Plan against results"),
    "budget": Label("연도별 예산 및 집행 (단위: 백만원)", "Budget and execution per year (million won)"),
    "participation": Label("시민 참여 실적 (단위: 횟수)", "Citizen participation (counts)"),
    "districts": Label("자치구별 진행 현황", "Progress per district"),
    "late": Label("지연·위험 사업", "Late and at-risk projects"),
    **PLANNING_SECTIONS,
}
DEFAULT_SECTIONS = tuple(k for k in SECTIONS if k not in PLANNING_SECTIONS)
"""What a report holds unless sections are named: the planning ones go through every project's whole
history (a second per 10,000 projects each), so they are asked for by name (or ``--section all``)."""

TEXT, INT, MONEY, RATE, DATE = "text", "int", "money", "rate", "date"
GANTT_LIMIT = 60
"""Dongs drawn in the timeline chart: beyond that a chart is unreadable (late and at-risk go first)."""


@dataclass(frozen=True)
class Column:
    key: str
    label: Label
    kind: str = TEXT
    """``text``, ``int``, ``money`` (won; shown in millions), ``rate`` (0-1), or ``date``."""


@dataclass(frozen=True)
class Section:
    id: str
    title: Label
    columns: tuple[Column, ...]
    rows: tuple[tuple[Any, ...], ...]
    total: tuple[Any, ...] | None = None
    notes: tuple[Label, ...] = ()


@dataclass(frozen=True)
class Segment:
    state: str
    label: Label
    start: dt.date
    end: dt.date


@dataclass(frozen=True)
class TimelineRow:
    """One dong in the Gantt chart: its planned course (from milestone due dates) and actual one."""

    key: str
    gu: str
    dong: str
    plan: tuple[Segment, ...]
    actual: tuple[Segment, ...]
    target: dt.date
    late: bool = False
    at_risk: bool = False


@dataclass(frozen=True)
class ReportFilter:
    gu: str | None = None
    year: int | None = None
    """The cohort year of projects (budget lines: the budget year; programme-wide events: their year)."""


@dataclass(frozen=True)
class Report:
    as_of: dt.date
    filter: ReportFilter
    sections: tuple[Section, ...]
    timeline: tuple[TimelineRow, ...] = ()
    timeline_total: int = 0
    """How many projects the timeline could have shown (it shows at most GANTT_LIMIT)."""
    timeline_year: int | None = None
    """The cohort the timeline shows (one year's course per chart keeps the dates readable)."""
    stage_labels: Mapping[str, Label] = field(default_factory=dict)

    def section(self, section_id: str) -> Section | None:
        return next((s for s in self.sections if s.id == section_id), None)


class ReportSource(Protocol):
    """Aggregates the report needs; ``cutoff`` is the first instant after the as-of date (UTC)."""

    def completion_times(
        self, f: ReportFilter, cutoff: dt.datetime, targets: Sequence[tuple[str, str]]
    ) -> list[dt.datetime]:
        """When each project that reached its target state (by the cutoff) got there."""

    def plan(self) -> Plan: ...

    def budget_sums(self, f: ReportFilter) -> dict[int, tuple[int, int]]:
        """Per budget year: (allocated, executed) won over project lines and, unless f.gu, programme lines."""

    def participation_sums(self, f: ReportFilter, as_of: dt.date) -> dict[tuple[int | None, str], int]:
        """(cohort year, or None for programme-wide; kind) -> times, for events held by as_of."""

    def cohort_sizes(self, f: ReportFilter, cutoff: dt.datetime) -> dict[int, int]: ...

    def stage_counts(self, f: ReportFilter, cutoff: dt.datetime) -> dict[tuple[str, str, int, str], int]:
        """(gu, workflow id, version, state) -> projects whose current state began before the cutoff."""

    def tracked(
        self,
        f: ReportFilter,
        cutoff: dt.datetime,
        *,
        open_states: Mapping[tuple[str, int], Sequence[str]],
        keys: Sequence[str] | None = None,
    ) -> list[TrackedRow]:
        """Projects created before the cutoff that were open then: in an open state now, or whose current
        state began after the cutoff (rebuilt as it stood then from their events: storage/asof.py). With
        ``keys``, exactly those projects instead."""

    def first_keys(self, f: ReportFilter, cutoff: dt.datetime, limit: int) -> list[str]: ...

    def completed_reached(
        self, workflow_id: str, target_state: str, before: dt.datetime | None = None
    ) -> list[dict[str, dt.datetime]]:
        """First-entry times of the most recently completed projects of a workflow, completed before
        ``before`` (as :class:`engine.monitor.DurationSource`: the report forecasts as ``overdue`` does)."""


def cutoff_of(as_of: dt.date, tz: ZoneInfo) -> dt.datetime:
    """The first instant after ``as_of`` in local time, as UTC."""
    return dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time(0), tz).astimezone(dt.timezone.utc)


def quarter_of(day: dt.date) -> int:
    return (day.month - 1) // 3 + 1


def _rate(part: int | None, whole: int | None) -> float | None:
    if part is None or not whole:
        return None
    return part / whole


# ------------------------------------------------------------------------------------------------
# Building


PROGRESS_STEP = 1000
"""The report's assessment tells its progress every this many projects."""


class ReportBuilder:
    def __init__(self, source: ReportSource, catalog: Catalog, tz: ZoneInfo) -> None:
        self.source = source
        self.catalog = catalog
        self.tz = tz
        self._book = DeadlineBook(catalog, tz, source)
        self._progress: Callable[[int], None] | None = None

    def build(
        self,
        as_of: dt.date,
        f: ReportFilter,
        sections: Sequence[str] | None = None,
        timeline: bool = False,
        *,
        progress: Callable[[int], None] | None = None,
    ) -> Report:
        """The report's sections; ``progress(n)`` is told as each ``n`` open projects are assessed."""
        self._progress = progress
        wanted = list(sections or DEFAULT_SECTIONS)
        for s in wanted:
            if s not in SECTIONS:
                raise InvalidInput(f"unknown section {s!r} (one of: {', '.join(SECTIONS)})", field="--section")
        cutoff = cutoff_of(as_of, self.tz)
        # The forecast's observed durations count only the completions recorded by the as-of date.
        self._book = DeadlineBook(self.catalog, self.tz, _CompletedBefore(self.source, cutoff))
        built: dict[str, Section] = {}
        completions: Counter[tuple[int, int]] | None = None
        if {"results", "plan"} & set(wanted):
            completions = self._completions(f, cutoff)
        assessed = None
        if {"districts", "late"} & set(wanted) or timeline:
            assessed = self._assess(f, as_of, cutoff)
        planning = self._planning(set(wanted), f, as_of, cutoff)
        for s in wanted:
            if s in planning:
                built[s] = planning[s]
            elif s == "results":
                built[s] = results_section(completions or Counter(), f)
            elif s == "plan":
                built[s] = plan_section(completions or Counter(), self.source.plan(), f)
            elif s == "budget":
                built[s] = budget_section(self.source.budget_sums(f), self.source.plan(), f)
                if "budget_note" in planning:
                    built[s] = planning["budget_note"](built[s])
            elif s == "participation":
                built[s] = participation_section(
                    self.source.participation_sums(f, as_of), self.source.cohort_sizes(f, cutoff), f
                )
            elif s == "districts":
                assert assessed is not None
                built[s] = self._districts(f, cutoff, assessed)
            elif s == "late":
                assert assessed is not None
                built[s] = late_section(assessed.late_rows, self.stage_labels(), as_of)
        rows: tuple[TimelineRow, ...] = ()
        total = 0
        cohort = None
        if timeline:
            assert assessed is not None
            cohort = self._timeline_year(f, as_of, cutoff)
            if cohort is not None:
                rows, total = self._timeline(ReportFilter(f.gu, cohort), as_of, cutoff, assessed)
        return Report(as_of, f, tuple(built[s] for s in wanted), rows, total, cohort, self.stage_labels())

    def _planning(self, wanted: set[str], f: ReportFilter, as_of: dt.date, cutoff: dt.datetime) -> dict[str, Any]:
        """The planning sections asked for, and the budget section's carry-over note (a function)."""
        from programme import report_planning as rp

        out: dict[str, Any] = {}
        if not wanted & {"baseline", "delays", "cutoffs"}:
            return out
        book = self._book
        everything = self.source.tracked(f, cutoff, open_states=rp.all_states(self.catalog))
        if "baseline" in wanted:
            read = getattr(self.source, "baselines", None)
            stored = read([r.key for r in everything]) if read is not None else {}
            out["baseline"] = rp.baseline_section(everything, book, stored, as_of, Section, Column)
        if "delays" in wanted:
            out["delays"] = rp.delays_section(everything, book, as_of, Section, Column)
        if "cutoffs" in wanted:
            at_risk = rp.cutoff_findings(everything, book, as_of)
            read = getattr(self.source, "allocations", None)
            allocated = read() if read is not None else {}
            out["cutoffs"] = rp.cutoffs_section(at_risk, allocated, book, Section, Column)
            if at_risk:
                out["budget_note"] = lambda budget: rp.budget_note(budget, at_risk, allocated)
        return out

    def _timeline_year(self, f: ReportFilter, as_of: dt.date, cutoff: dt.datetime) -> int | None:
        """The filtered cohort, else the latest cohort that had started by the as-of date."""
        if f.year is not None:
            return f.year
        years = sorted(self.source.cohort_sizes(f, cutoff))
        started = [y for y in years if y <= as_of.year]
        return (started or years or [None])[-1]

    # -- helpers ---------------------------------------------------------------------------
    def _targets(self) -> list[tuple[str, str]]:
        return sorted({(wf.id, wf.target.state) for wf in self.catalog.all()})

    def stage_labels(self) -> dict[str, Label]:
        """Every state id of the installed workflows, in course order, with its label."""
        labels: dict[str, Label] = {}
        for wf in self.catalog.latest_all() + self.catalog.all():
            for s in wf.states:
                labels.setdefault(s.id, s.label)
        return labels

    def _completions(self, f: ReportFilter, cutoff: dt.datetime) -> Counter[tuple[int, int]]:
        counts: Counter[tuple[int, int]] = Counter()
        for moment in self.source.completion_times(f, cutoff, self._targets()):
            day = moment.astimezone(self.tz).date()
            counts[(day.year, quarter_of(day))] += 1
        return counts

    def planner(self, workflow_id: str, version: int) -> DeadlinePlanner:
        """The same planners (and observed durations) as ``status``, ``overdue`` and the alert run."""
        return self._book.planner(workflow_id, version)

    def _open_states(self) -> dict[tuple[str, int], list[str]]:
        return {(wf.id, wf.version): [s.id for s in wf.states if not s.final] for wf in self.catalog.all()}

    def _assess(self, f: ReportFilter, as_of: dt.date, cutoff: dt.datetime) -> _Assessed:
        """Late and at-risk projects on the as-of date, by the deadline rules of each workflow.

        The same rules as :meth:`DeadlinePlanner.assess`, cut to what the report needs (the most
        overdue milestone, and the forecast), because it runs over every open project: 100,000
        of them must take a second or two, not ten.
        """
        out = _Assessed()
        seen: dict[tuple[Any, ...], tuple[MilestoneStatus | None, Any]] = {}
        progress, step = self._progress, 0
        planners: dict[tuple[str, int], DeadlinePlanner] = {}
        for row in self.source.tracked(f, cutoff, open_states=self._open_states()):
            step += 1
            if progress is not None and step % PROGRESS_STEP == 0:
                progress(PROGRESS_STEP)
            ref = (row.workflow_id, row.workflow_version)
            planner = planners.get(ref)
            if planner is None:
                planner = planners[ref] = self.planner(*ref)
            # A project whose state changed after the as-of date comes rebuilt as it stood then
            # (storage/asof.py); it is counted here, not by the SQL of stage_counts.
            rebuilt = row.replayed or row.entered_at >= cutoff
            state, entered = row.state, planner.local_date(row.entered_at)
            out.state_on[row.key] = (row.gu, state, rebuilt)
            if state in planner.finals:
                continue
            # Projects alike in everything the rules read get the same answer: computed once.
            alike = (
                None
                if rebuilt
                else (
                    row.workflow_id,
                    row.workflow_version,
                    row.target,
                    row.year,
                    state,
                    entered,
                    row.previous_state,
                    frozenset(row.reached_text),
                )
            )
            found = seen.get(alike) if alike is not None else None
            if found is None:
                found = (
                    overdue_milestone(planner, row, as_of, cutoff, rebuilt),
                    planner.forecast(row, state, entered, as_of),
                )
                if alike is not None:
                    seen[alike] = found
            worst, risk = found
            at_risk = risk is not None and risk.at_risk
            if worst is not None or at_risk:
                out.rows[row.key] = row
                out.late_rows.append((row, planner.workflow, state, worst, risk if at_risk else None))
                if worst is not None:
                    out.late_keys.add(row.key)
                if at_risk:
                    out.risk_keys.add(row.key)
        return out

    def _districts(self, f: ReportFilter, cutoff: dt.datetime, assessed: _Assessed) -> Section:
        counts: Counter[tuple[str, str]] = Counter()
        for (gu, _wf, _version, state), n in self.source.stage_counts(f, cutoff).items():
            counts[(gu, state)] += n
        for gu, state, rebuilt in assessed.state_on.values():
            if rebuilt:  # its stored state began after the as-of date: counted here, on its state then
                counts[(gu, state)] += 1
        late: Counter[str] = Counter(assessed.state_on[k][0] for k in assessed.late_keys)
        risk: Counter[str] = Counter(assessed.state_on[k][0] for k in assessed.risk_keys)
        return districts_section(counts, late, risk, self.stage_labels())

    def _timeline(
        self, f: ReportFilter, as_of: dt.date, cutoff: dt.datetime, assessed: _Assessed
    ) -> tuple[tuple[TimelineRow, ...], int]:
        flagged = sorted((r for r in assessed.rows.values() if r.year == f.year), key=lambda r: (r.gu, r.dong, r.key))[
            :GANTT_LIMIT
        ]
        chosen = {r.key for r in flagged}
        rows = list(flagged)
        if len(rows) < GANTT_LIMIT:
            extra = [k for k in self.source.first_keys(f, cutoff, GANTT_LIMIT * 2) if k not in chosen]
            extra = extra[: GANTT_LIMIT - len(rows)]
            if extra:
                rows += self.source.tracked(f, cutoff, open_states={}, keys=extra)
        rows.sort(key=lambda r: (r.gu, r.dong, r.key))
        total = sum(self.source.cohort_sizes(f, cutoff).values())
        out = []
        for r in rows:
            planner = self.planner(r.workflow_id, r.workflow_version)
            out.append(timeline_row(r, planner, as_of, r.key in assessed.late_keys, r.key in assessed.risk_keys))
        return tuple(out), total


class _CompletedBefore:
    """The report's source of completed histories, cut at the as-of date."""

    def __init__(self, source: ReportSource, cutoff: dt.datetime) -> None:
        self.source = source
        self.cutoff = cutoff

    def completed_reached(self, workflow_id: str, target_state: str) -> list[dict[str, dt.datetime]]:
        return self.source.completed_reached(workflow_id, target_state, before=self.cutoff)


def overdue_milestone(
    planner: DeadlinePlanner, row: TrackedRow, as_of: dt.date, cutoff: dt.datetime, rebuilt: bool = True
) -> MilestoneStatus | None:
    """The milestone most overdue on ``as_of`` (due before it and not met by then), if any.

    ``rebuilt=False`` says the current state began before the cutoff, so every state it reached,
    it reached before the cutoff: whether a milestone was met needs no times then.
    """
    worst: MilestoneStatus | None = None
    escalate = planner.workflow.warnings.escalate_after_days
    for milestone, due in planner.dues(row.target, row.year):
        if due >= as_of:
            continue
        states = planner.satisfying(milestone.id)
        if not rebuilt:
            if any(s in states for s in row.reached_text):
                continue
        elif any(at < cutoff for s, at in row.reached.items() if s in states):
            continue
        days = (as_of - due).days
        if worst is None or days > worst.days:
            worst = MilestoneStatus(milestone, due, ESCALATED if days > escalate else OVERDUE, days)
    return worst


@dataclass
class _Assessed:
    state_on: dict[str, tuple[str, str, bool]] = field(default_factory=dict)
    """key -> (gu, state on the as-of date, whether it was rebuilt rather than counted in SQL)."""
    late_keys: set[str] = field(default_factory=set)
    risk_keys: set[str] = field(default_factory=set)
    rows: dict[str, TrackedRow] = field(default_factory=dict)
    late_rows: list[tuple[TrackedRow, Workflow, str, Any, Any]] = field(default_factory=list)


# ------------------------------------------------------------------------------------------------
# Sections (pure: plain inputs in, a table out)

_YEAR = Column("year", Label("연도", "Year"), INT)


def _filter_note(f: ReportFilter) -> tuple[Label, ...]:
    parts_ko, parts_en = [], []
    if f.gu:
        parts_ko.append(f"자치구 {f.gu}")
        parts_en.append(f"district {f.gu}")
    if f.year:
        parts_ko.append(f"{f.year}년 사업")
        parts_en.append(f"cohort {f.year}")
    if not parts_ko:
        return ()
    return (Label("대상: " + ", ".join(parts_ko), "Only: " + ", ".join(parts_en)),)


def results_section(completions: Mapping[tuple[int, int], int], f: ReportFilter) -> Section:
    years = sorted({y for y, _ in completions})
    rows = []
    for y in years:
        quarters = [completions.get((y, q), 0) for q in (1, 2, 3, 4)]
        rows.append((y, *quarters, sum(quarters)))
    total = ("계", *(sum(r[i] for r in rows) for i in range(1, 6))) if rows else None
    columns = (
        _YEAR,
        *(Column(f"q{q}", Label(f"{q}분기", f"Q{q}"), INT) for q in (1, 2, 3, 4)),
        Column("total", Label("계", "Total"), INT),
    )
    notes = (Label("단위: 개소 (준공일 기준)", "Unit: dongs, by completion date"), *_filter_note(f))
    return Section("results", SECTIONS["results"], columns, tuple(rows), _total_label(total), notes)


def _total_label(total: tuple[Any, ...] | None) -> tuple[Any, ...] | None:
    if total is None:
        return None
    return (Label("계", "Total"), *total[1:])


def plan_section(completions: Mapping[tuple[int, int], int], plan: Plan, f: ReportFilter) -> Section:
    """Completions per quarter against the plan. The plan is programme-wide (there is no district
    plan), so with ``--gu`` the comparison is left out: only the district's completions are shown."""
    if f.gu:
        return _district_results(completions, f)
    planned = {(q.year, q.quarter): q.completions for q in plan.quarters}
    if f.year is not None:
        planned = {k: v for k, v in planned.items() if k[0] == f.year}
    keys = sorted(set(planned) | set(completions))
    rows = []
    for y, q in keys:
        p = planned.get((y, q))
        a = completions.get((y, q), 0)
        rows.append((y, q, p, a, None if p is None else a - p, _rate(a, p)))
    sum_p = sum(v for v in planned.values())
    sum_a = sum(completions.get(k, 0) for k in keys)
    total = (Label("계", "Total"), None, sum_p, sum_a, sum_a - sum_p, _rate(sum_a, sum_p)) if rows else None
    columns = (
        _YEAR,
        Column("quarter", Label("분기", "Quarter"), INT),
        Column("planned", Label("계획", "Planned"), INT),
        Column("actual", Label("실적", "Completed"), INT),
        Column("difference", Label("차이", "Difference"), INT),
        Column("achieved", Label("달성률", "Achieved"), RATE),
    )
    notes = [
        Label(
            "단위: 개소. 계획은 `dongflow plan`으로 입력한 분기별 준공 계획",
            "Unit: dongs. The plan is the quarterly completions set with `dongflow plan`",
        )
    ]
    return Section("plan", SECTIONS["plan"], columns, tuple(rows), total, (*notes, *_filter_note(f)))


def _district_results(completions: Mapping[tuple[int, int], int], f: ReportFilter) -> Section:
    rows = [(y, q, n) for (y, q), n in sorted(completions.items())]
    total = (Label("계", "Total"), None, sum(r[2] for r in rows)) if rows else None
    columns = (
        _YEAR,
        Column("quarter", Label("분기", "Quarter"), INT),
        Column("actual", Label("실적", "Completed"), INT),
    )
    notes = (
        Label(
            "단위: 개소. 계획은 사업 전체 기준이고 자치구별 계획은 없으므로, 자치구 필터에서는 계획과 비교하지 "
            "않고 해당 자치구의 분기별 준공 실적만 보입니다",
            "Unit: dongs. The plan is programme-wide and there is no district plan, so with --gu nothing is "
            "compared with it: only the district's completions per quarter are shown",
        ),
        *_filter_note(f),
    )
    title = Label("분기별 준공 실적 (계획과 비교하지 않음)", "Completions per quarter (not compared with a plan)")
    return Section("plan", title, columns, tuple(rows), total, notes)


def budget_section(sums: Mapping[int, tuple[int, int]], plan: Plan, f: ReportFilter) -> Section:
    planned = {} if f.gu else {y.year: y.budget for y in plan.years}
    if f.year is not None:
        planned = {y: v for y, v in planned.items() if y == f.year}
    years = sorted(set(planned) | set(sums))
    rows = []
    for y in years:
        alloc, spent = sums.get(y, (0, 0))
        p = planned.get(y)
        rows.append((y, p, alloc, spent, _rate(spent, alloc), _rate(spent, p)))
    total = None
    if rows:
        tp = sum(planned.values()) if planned else None
        ta = sum(r[2] for r in rows)
        te = sum(r[3] for r in rows)
        total = (Label("계", "Total"), tp, ta, te, _rate(te, ta), _rate(te, tp))
    columns = (
        _YEAR,
        Column("planned", Label("계획 (투자수요)", "Planned"), MONEY),
        Column("allocated", Label("배정", "Allocated"), MONEY),
        Column("executed", Label("집행", "Executed"), MONEY),
        Column("execution_rate", Label("집행률", "Execution rate"), RATE),
        Column("of_plan", Label("계획 대비 집행", "Executed of plan"), RATE),
    )
    notes = [
        Label(
            "집행률 = 집행 ÷ 배정; 계획 대비 집행 = 집행 ÷ 계획",
            "Execution rate = executed / allocated; executed of plan = executed / planned",
        )
    ]
    if f.gu:
        notes.append(
            Label(
                "자치구 필터: 해당 자치구 사업의 예산만 (사업 전반 예산과 계획 제외)",
                "With --gu: that district's project budgets only (programme-wide lines and the plan left out)",
            )
        )
    return Section("budget", SECTIONS["budget"], columns, tuple(rows), total, (*notes, *_filter_note(f)))


def participation_section(
    sums: Mapping[tuple[int | None, str], int], cohorts: Mapping[int, int], f: ReportFilter
) -> Section:
    groups = sorted({y for y, _ in sums if y is not None} | set(cohorts))
    rows = []
    for y in groups:
        counts = [sums.get((y, kind), 0) for kind in TYPES]
        dongs = cohorts.get(y, 0)
        meetings = sums.get((y, "resident_meeting"), 0)
        rows.append(
            (
                Label(f"{y}년 사업", f"{y} cohort"),
                dongs,
                *counts,
                sum(counts),
                round(meetings / dongs, 2) if dongs else None,
            )
        )
    if any(y is None for y, _ in sums):
        counts = [sums.get((None, kind), 0) for kind in TYPES]
        rows.append((Label("사업 전반", "Programme-wide"), None, *counts, sum(counts), None))
    total = None
    if rows:
        dongs = sum(cohorts.get(y, 0) for y in groups)
        meetings = sum(v for (y, kind), v in sums.items() if kind == "resident_meeting" and y is not None)
        total = (
            Label("계", "Total"),
            dongs,
            *(sum(r[2 + i] for r in rows) for i in range(len(TYPES) + 1)),
            round(meetings / dongs, 2) if dongs else None,
        )
    columns = (
        Column("group", Label("구분", "Group")),
        Column("dongs", Label("대상 동", "Dongs"), INT),
        *(Column(kind, label, INT) for kind, label in TYPES.items()),
        Column("total", Label("계", "Total"), INT),
        Column("meetings_per_dong", Label("동당 주민참여 회의", "Resident meetings per dong"), "float"),
    )
    notes = [
        Label(
            "기준일까지 열린 것만 셉니다; 사업 전반 = 특정 동이 아닌 사업 전체의 참여",
            "Counts events held by the as-of date; programme-wide = not tied to one dong",
        )
    ]
    return Section("participation", SECTIONS["participation"], columns, tuple(rows), total, (*notes, *_filter_note(f)))


def districts_section(
    counts: Mapping[tuple[str, str], int], late: Mapping[str, int], risk: Mapping[str, int], labels: Mapping[str, Label]
) -> Section:
    districts = sorted({gu for gu, _ in counts})
    used = {s for _, s in counts}
    states = [s for s in labels if s in used] + sorted(used - set(labels))
    rows = []
    for gu in districts:
        per = [counts.get((gu, s), 0) for s in states]
        rows.append((gu, sum(per), *per, late.get(gu, 0), risk.get(gu, 0)))
    total = None
    if rows:
        total = (Label("계", "Total"), *(sum(r[i] for r in rows) for i in range(1, len(states) + 4)))
    columns = (
        Column("gu", Label("자치구", "District")),
        Column("projects", Label("사업 수", "Projects"), INT),
        *(Column(s, labels.get(s, Label(s, s)), INT) for s in states),
        Column("late", Label("지연", "Late"), INT),
        Column("at_risk", Label("준공 위험", "At risk"), INT),
    )
    notes = (
        Label(
            "지연 = 기한이 지난 마일스톤이 있음; 준공 위험 = 남은 단계의 예상 기간으로 목표일을 넘김",
            "Late = a milestone past its due date; at risk = the remaining stages' expected time overruns the target",
        ),
    )
    return Section("districts", SECTIONS["districts"], columns, tuple(rows), total, notes)


def late_section(
    late_rows: Iterable[tuple[TrackedRow, Workflow, str, Any, Any]], labels: Mapping[str, Label], as_of: dt.date
) -> Section:
    rows = []
    escalated, overdue, at_risk = Label("심각 지연", "Escalated"), Label("지연", "Overdue"), Label("준공 위험", "At risk")
    completion = Label("준공", "Completion")
    stage_labels = dict(labels)
    for row, wf, state, milestone, risk in late_rows:
        if milestone is not None:
            level = escalated if milestone.level == ESCALATED else overdue
            ms_label, due, days = milestone.milestone.label, milestone.due, milestone.days
        else:
            level, ms_label, due, days = at_risk, completion, row.target, None
        stage = stage_labels.get(state)
        if stage is None:
            stage = stage_labels[state] = Label(state, state)
        rows.append(
            (
                row.key,
                row.gu,
                row.dong,
                row.year,
                stage,
                level,
                ms_label,
                due,
                days,
                risk.earliest if risk is not None else None,
            )
        )
    rows.sort(key=lambda r: (-(r[8] or 0), r[1], r[2], r[0]))
    columns = (
        Column("key", Label("키", "Key")),
        Column("gu", Label("자치구", "District")),
        Column("dong", Label("동", "Dong")),
        _YEAR,
        Column("state", Label("단계", "Stage")),
        Column("level", Label("구분", "Level")),
        Column("milestone", Label("마일스톤", "Milestone")),
        Column("due", Label("기한", "Due"), DATE),
        Column("days_late", Label("지연 일수", "Days late"), INT),
        Column("earliest", Label("예상 준공", "Earliest completion"), DATE),
    )
    notes = (Label(f"기준일 {as_of.isoformat()}", f"As of {as_of.isoformat()}"),)
    return Section("late", SECTIONS["late"], columns, tuple(rows), None, notes)


def timeline_row(r: TrackedRow, planner: DeadlinePlanner, as_of: dt.date, late: bool, at_risk: bool) -> TimelineRow:
    wf = planner.workflow
    dues = sorted(planner.dues(r.target, r.year), key=lambda item: item[1])
    plan: list[Segment] = []
    initial = wf.initial
    if dues:
        first_due = dues[0][1]
        start = first_due - dt.timedelta(days=initial.expected_days or 14)
        previous_state, previous_day = initial.id, start
        for milestone, due in dues:
            if due > previous_day:
                plan.append(Segment(previous_state, wf.state(previous_state).label, previous_day, due))
            previous_state, previous_day = milestone.state, due
    entries = sorted(
        ((planner.local_date(at), state) for state, at in r.reached.items() if planner.local_date(at) <= as_of),
        key=lambda item: item[0],
    )
    actual: list[Segment] = []
    for (day, state), nxt in zip(entries, [*entries[1:], None]):
        known = wf.has_state(state)
        if known and wf.state(state).final:
            break  # completed (or cancelled): the course ends here
        end = nxt[0] if nxt is not None else as_of
        label = wf.state(state).label if known else Label(state, state)
        actual.append(Segment(state, label, day, max(end, day + dt.timedelta(days=1))))
    return TimelineRow(r.key, r.gu, r.dong, tuple(plan), tuple(actual), r.target, late, at_risk)
