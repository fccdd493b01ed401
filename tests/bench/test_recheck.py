"""The incremental check's promise (``engine.recheck.recheck_on``): a project's findings -- which
milestones, at which levels -- stay the same on every day from the as-of date until the day it
names, when the project and the rules do not change. Checked against the full findings on each of
those days, for a generated portfolio of both benchmark workflows, at dates across the cohorts, with
declared and observed durations; and the bound is useful (most projects need no check tomorrow)."""

from __future__ import annotations

import datetime as dt

import pytest

from benchkit import bench_catalog, planners  # first: it puts the repository before tests/ on sys.path
from bench.generate import Generator
from engine.catalog import Catalog
from engine.deadlines import ALERT_LEVELS, DeadlinePlanner
from engine.recheck import NEVER, recheck_on

AS_OF = ["2025-05-20", "2025-05-31", "2025-06-20", "2025-07-02", "2025-09-15", "2026-01-05"]
"""On or after the day the generated histories end (bench.generate.AS_OF), as the nightly check runs."""
HORIZON = 150
"""Days after the as-of date compared (every one of them up to the named day, or this many)."""


@pytest.fixture(scope="module")
def portfolio() -> tuple[Catalog, list]:
    catalog = bench_catalog()
    return catalog, [p for p, _events in Generator(catalog, seed=23).projects(300)]


def _planners(catalog: Catalog, observed: bool) -> dict[str, DeadlinePlanner]:
    return planners(catalog, observed, shift=5)


def _idents(planner: DeadlinePlanner, p, day: dt.date) -> set[tuple[str, str]]:
    return {(f.milestone, f.level) for f in planner.findings(p, day)}


@pytest.mark.parametrize("observed", [False, True], ids=["declared", "observed"])
def test_findings_hold_until_the_recheck_day(portfolio: tuple[Catalog, list], observed: bool) -> None:
    catalog, projects = portfolio
    planners = _planners(catalog, observed)
    gaps: list[int] = []
    changed_on_the_day = 0
    levels: set[str] = set()
    for text in AS_OF:
        as_of = dt.date.fromisoformat(text)
        for p in projects:
            planner = planners[p.workflow_id]
            until = recheck_on(planner, p, as_of)
            assert until > as_of, (p.key, text)
            now = _idents(planner, p, as_of)
            levels.update(level for _milestone, level in now)
            last = min(until, as_of + dt.timedelta(days=HORIZON))
            day = as_of + dt.timedelta(days=1)
            while day < last:
                assert _idents(planner, p, day) == now, (p.key, text, day.isoformat(), until.isoformat())
                day += dt.timedelta(days=1)
            if until != NEVER and until <= as_of + dt.timedelta(days=HORIZON):
                changed_on_the_day += _idents(planner, p, until) != now
            gaps.append((until - as_of).days if until != NEVER else HORIZON)
    # Every level the findings can name was there to be compared: a level added to the findings (and
    # to ALERT_LEVELS) but not to recheck_on fails here until the portfolio shows it and the bound holds.
    assert levels == set(ALERT_LEVELS), sorted(levels ^ set(ALERT_LEVELS))
    tomorrow = sum(1 for g in gaps if g == 1)
    assert tomorrow < len(gaps) * 0.2, f"{tomorrow} of {len(gaps)} projects would be checked again tomorrow"
    # Tight, not just safe: most named days are days a finding really changes.
    named = sum(1 for g in gaps if g < HORIZON)
    assert changed_on_the_day > named * 0.5, (changed_on_the_day, named)


def test_findings_hold_after_blackout_days_that_are_past(portfolio: tuple[Catalog, list]) -> None:
    """A blackout window wholly before the as-of date (it rolled due dates and latest starts over its
    days): the bound holds as without one, and the project is not looked at every night for it."""
    catalog, projects = portfolio
    planners = _planners(catalog, False)
    later = 0
    for text in AS_OF:
        as_of = dt.date.fromisoformat(text)
        # Working days just before the as-of day, and around the first cohort's due dates.
        off = frozenset(as_of - dt.timedelta(days=d) for d in range(1, 40)) | frozenset(
            dt.date(2025, 3, 1) + dt.timedelta(days=d) for d in range(60))
        off = frozenset(d for d in off if d < as_of)
        for p in projects:
            planner = planners[p.workflow_id]
            until = recheck_on(planner, p, as_of, off)
            now = {(f.milestone, f.level) for f in planner.findings(p, as_of, "en", off)}
            day = as_of + dt.timedelta(days=1)
            while day < min(until, as_of + dt.timedelta(days=HORIZON)):
                assert {(f.milestone, f.level) for f in planner.findings(p, day, "en", off)} == now, \
                    (p.key, text, day.isoformat(), until.isoformat())
                day += dt.timedelta(days=1)
            later += until > as_of + dt.timedelta(days=1)
    assert later > len(AS_OF) * len(projects) * 0.8


def test_blackout_days_mean_checking_again_tomorrow(portfolio: tuple[Catalog, list]) -> None:
    catalog, projects = portfolio
    planners = _planners(catalog, False)
    as_of = dt.date(2025, 5, 20)
    off = frozenset({dt.date(2025, 6, 2)})
    p = next(p for p in projects if p.year == 2025 and p.state not in planners[p.workflow_id].finals)
    assert recheck_on(planners[p.workflow_id], p, as_of, off) == as_of + dt.timedelta(days=1)
