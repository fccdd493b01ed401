"""The nightly check's fast path (``DeadlinePlanner.findings``) reports exactly what the full
assessment does (``findings_of``): same findings, same order, same reasons, on a generated portfolio
of both benchmark workflows, at as-of dates before, during and after the cohorts, with declared and
observed durations, and with one planner reused across dates (its caches are keyed by the date)."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.generate import TZ, Generator  # noqa: E402
from engine.catalog import Catalog  # noqa: E402
from engine.deadlines import DeadlinePlanner, Durations, declared_durations, findings_of  # noqa: E402
from workflows import SHIPPED_DIR  # noqa: E402

AS_OF = ["2016-01-02", "2016-03-20", "2016-06-25", "2019-06-28", "2023-02-10", "2025-05-20", "2026-01-01"]


@pytest.fixture(scope="module")
def portfolio() -> tuple[Catalog, list]:
    catalog = Catalog.from_dirs([SHIPPED_DIR, ROOT / "bench" / "workflows"])
    return catalog, [p for p, _events in Generator(catalog, seed=11).projects(800)]


def _planners(catalog: Catalog, observed: bool) -> dict[str, DeadlinePlanner]:
    out = {}
    for wf in catalog.all():
        durations = None
        if observed:
            declared = declared_durations(wf).days
            seen = {s: d + 3 for s, d in list(declared.items())[:3]}
            durations = Durations({**declared, **seen}, seen, 9)
        out[wf.id] = DeadlinePlanner(wf, TZ, durations)
    return out


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
