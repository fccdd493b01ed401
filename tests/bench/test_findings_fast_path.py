"""The nightly check's fast path (``DeadlinePlanner.findings``) reports exactly what the full
assessment does (``findings_of``): same findings, same order, same reasons, on a generated portfolio
of both benchmark workflows, at as-of dates before, during and after the cohorts, with declared and
observed durations, and with one planner reused across dates (its caches are keyed by the date)."""

from __future__ import annotations

import datetime as dt

import pytest

from benchkit import bench_catalog, planners  # first: it puts the repository before tests/ on sys.path
from bench.generate import Generator
from engine.catalog import Catalog
from engine.deadlines import DeadlinePlanner, findings_of

AS_OF = ["2016-01-02", "2016-03-20", "2016-06-25", "2019-06-28", "2023-02-10", "2025-05-20", "2026-01-01"]


@pytest.fixture(scope="module")
def portfolio() -> tuple[Catalog, list]:
    catalog = bench_catalog()
    return catalog, [p for p, _events in Generator(catalog, seed=11).projects(800)]


def _planners(catalog: Catalog, observed: bool) -> dict[str, DeadlinePlanner]:
    return planners(catalog, observed, shift=3)


@pytest.mark.parametrize("observed", [False, True], ids=["declared", "observed"])
def test_fast_findings_equal_those_of_the_assessment(portfolio: tuple[Catalog, list], observed: bool) -> None:
    catalog, projects = portfolio
    planners = _planners(catalog, observed)
    kinds: set[str] = set()
    for text in AS_OF:  # one planner per workflow across every date
        as_of = dt.date.fromisoformat(text)
        for p in projects:
            planner = planners[p.workflow_id]
            fast = planner.findings(p, as_of)
            assert fast == findings_of(planner, p, as_of), (p.key, text)
            kinds.update(f.level for f in fast)
    assert kinds == {"due_soon", "overdue", "escalated", "at_risk", "late_start", "cutoff_risk"}  # every level exercised
