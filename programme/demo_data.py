"""Programme data for the demo portfolio: budgets, participation, people and the plan.

Figures follow the programme report (``shared/reference/programme-summary.en.md``):

* plan: completions on 1 July (Q3): 79 dongs in 2015 (the 2015 quarterly plan is not legible in the
  extracted report, so the demo assumes the result was the plan), 204 in 2016, 59 in 2017; yearly
  planned investment 250 / 4,000 / 10,250 / 2,950 million won for 2014-2017;
* money: 2014's 250 million is a programme-wide line (spent before any renovation); each cohort's
  allocation (4,000 and 10,250 million) is shared among its dongs; the year's execution (3,750 and
  10,220 million when every dong is complete) is spent as each dong advances, so a demo as of May 2016
  shows 2016 money part spent. Amounts per dong are drawn, then scaled so the totals are exact;
* participation: the resident meetings the demo histories already record (as the fact
  ``resident_meetings``) become participation events one for one, so nothing is counted twice
  (about 4.8 per dong in the 2016 cohort, as the report says); each dong also holds a briefing, and
  the programme-wide counts of the report (press 771, expert advice 32, city-district MP meetings
  14 in January-July 2016, the phase 1 white paper in December 2015, one satisfaction survey) are
  spread over their periods. Only what happened by the as-of date is recorded.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from zoneinfo import ZoneInfo

from engine.catalog import Catalog
from programme.demo import _GIVEN, _SURNAMES, hash_name
from programme.participation import TYPES
from programme.records import BudgetLine, Participation, Person, PlanQuarter, PlanYear
from engine.project import FACT, Event, Project

MILLION = 1_000_000
PLAN_QUARTERS = (PlanQuarter(2015, 3, 79), PlanQuarter(2016, 3, 204), PlanQuarter(2017, 3, 59))
PLAN_BUDGET = {2014: 250, 2015: 4_000, 2016: 10_250, 2017: 2_950}
ALLOCATED = {2015: 4_000, 2016: 10_250}
EXECUTED_WHEN_DONE = {2015: 3_750, 2016: 10_220}
PROGRAMME_LINES = (
    BudgetLine(
        2014,
        250 * MILLION,
        250 * MILLION,
        item="사업 준비 (기본계획·MP 운영)",
        note="2014: programme-wide, before any renovation",
    ),
)
SPENT_BY_STAGE = {
    "survey": 0.0,
    "agreement": 0.0,
    "design_review": 0.04,
    "design_revision": 0.04,
    "detailed_design": 0.08,
    "tender": 0.1,
    "construction": 0.45,
    "on_hold": 0.08,
    "cancelled": 0.04,
    "completed": 1.0,
}
"""Share of a dong's money spent by the time it reached each stage (design fees, then works)."""
PROGRAMME_EVENTS = (
    # (kind, total, first day, last day)
    ("press", 771, dt.date(2015, 3, 2), dt.date(2016, 10, 31)),
    ("expert_advice", 32, dt.date(2015, 2, 2), dt.date(2016, 6, 30)),
    ("planning_meeting", 14, dt.date(2016, 1, 11), dt.date(2016, 7, 25)),
)
SINGLE_EVENTS = (
    ("report_published", dt.date(2015, 12, 21), "1단계 공간개선 백서 발간"),
    ("satisfaction_survey", dt.date(2016, 9, 20), "공간개선 이용자 만족도 조사"),
)


@dataclass(frozen=True)
class ProgrammeDemo:
    budgets: tuple[BudgetLine, ...]
    participation: tuple[Participation, ...]
    people: tuple[Person, ...]
    plan_quarters: tuple[PlanQuarter, ...]
    plan_years: tuple[PlanYear, ...]


def annotate(
    catalog: Catalog, items: Sequence[tuple[Project, list[Event]]], tz: ZoneInfo
) -> tuple[list[tuple[Project, list[Event]]], list[Participation]]:
    """Each history event that raised a participation-counting fact becomes a participation event.

    The fact events stay in the history (that is what ``participation add`` writes too), now with
    the same note; the returned participation events carry the same counts, so the report's
    counts and the facts the guards read agree exactly.
    """
    out: list[tuple[Project, list[Event]]] = []
    entries: list[Participation] = []
    for project, events in items:
        workflow = catalog.get(project.workflow_id, project.workflow_version)
        counted = {f.name: f.counts_participation for f in workflow.facts.values() if f.counts_participation}
        new_events = []
        for e in events:
            kind = counted.get(str(e.data.get("name"))) if e.kind == FACT else None
            if kind is not None:
                times = int(e.data.get("new") or 0) - int(e.data.get("old") or 0)
                if times > 0:
                    entries.append(Participation(kind, e.at.astimezone(tz).date(), times, project.key))
                    e = replace(e, note=f"participation: {TYPES[kind].ko} +{times}")
            new_events.append(e)
        out.append((project, new_events))
    return out, entries


def build(
    catalog: Catalog,
    items: Sequence[tuple[Project, list[Event]]],
    *,
    as_of: dt.date,
    tz: ZoneInfo,
    seed: int = 2016,
) -> ProgrammeDemo:
    rng = random.Random(seed)
    projects = sorted((p for p, _ in items), key=lambda p: p.key)
    return ProgrammeDemo(
        budgets=(*(line for line in PROGRAMME_LINES if line.year <= as_of.year), *_budgets(projects, as_of, tz, rng)),
        participation=tuple(_briefings(projects, as_of, tz, rng) + _programme_events(as_of, rng)),
        people=tuple(_people(projects)),
        plan_quarters=PLAN_QUARTERS,
        plan_years=tuple(PlanYear(y, v * MILLION) for y, v in PLAN_BUDGET.items()),
    )


def _split(total: int, weights: Sequence[float]) -> list[int]:
    """``total`` won shared by ``weights``, in whole thousands of won, adding up exactly."""
    scale = sum(weights)
    parts = [int(total * w / scale) // 1000 * 1000 for w in weights]
    parts[-1] += total - sum(parts)
    return parts


def _budgets(projects: Sequence[Project], as_of: dt.date, tz: ZoneInfo, rng: random.Random) -> list[BudgetLine]:
    lines: list[BudgetLine] = []
    for year, allocated_m in ALLOCATED.items():
        cohort = [p for p in projects if p.year == year]
        if not cohort:
            continue
        weights = [rng.uniform(0.7, 1.3) for _ in cohort]
        allocated = _split(allocated_m * MILLION, weights)
        full = _split(EXECUTED_WHEN_DONE[year] * MILLION, allocated)
        for p, alloc, done in zip(cohort, allocated, full):
            reached = [s for s, at in p.reached.items() if at.astimezone(tz).date() <= as_of]
            share = max((SPENT_BY_STAGE.get(s, 0.0) for s in reached), default=0.0)
            spent = done if share >= 1 else int(done * share) // 1000 * 1000
            lines.append(BudgetLine(year, alloc, spent, key=p.key))
    return lines


def _briefings(projects: Sequence[Project], as_of: dt.date, tz: ZoneInfo, rng: random.Random) -> list[Participation]:
    """One residents' briefing per dong, a few days into its site survey."""
    out = []
    for p in projects:
        start = min(p.reached.values()).astimezone(tz).date()
        day = start + dt.timedelta(days=rng.randint(2, 8))
        if day <= as_of:
            out.append(Participation("briefing", day, 1, p.key, "주민설명회"))
    return out


def _programme_events(as_of: dt.date, rng: random.Random) -> list[Participation]:
    out: list[Participation] = []
    for kind, total, first, last in PROGRAMME_EVENTS:
        span = (last - first).days
        days: dict[dt.date, int] = {}
        for _ in range(total):
            day = first + dt.timedelta(days=rng.randint(0, span))
            days[day] = days.get(day, 0) + 1
        out += [Participation(kind, day, n, None) for day, n in sorted(days.items()) if day <= as_of]
    out += [Participation(kind, day, 1, None, note) for kind, day, note in SINGLE_EVENTS if day <= as_of]
    return out


def _name(seed_text: str) -> str:
    h = hash_name(seed_text)
    return f"{_SURNAMES[h % len(_SURNAMES)]}{_GIVEN[(h // 7) % len(_GIVEN)]}"


def _people(projects: Sequence[Project]) -> list[Person]:
    out = []
    for p in projects:
        out.append(Person(p.key, "mp", _name(f"MP {p.gu}"), None))
        out.append(Person(p.key, "architect", _name(f"건축가 {p.gu} {p.dong} {p.year}"), None))
        out.append(Person(p.key, "dong_contact", _name(f"동 {p.dong} {p.year}"), f"{p.dong} 주민센터"))
    return out
