"""One source of levels: the nightly fast path (``DeadlinePlanner.findings``) and ``status``'s
assessment (``findings_of`` over ``DeadlinePlanner.assess``) agree on random portfolios at every
as-of date of a range, boundaries included, and both agree with the levels as the README defines
them (written out independently here, so a change of ``>`` to ``>=`` anywhere fails).
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from alertkit import SEOUL, build_project
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.catalog import Catalog
from engine.deadlines import (
    AT_RISK,
    CUTOFF_RISK,
    LATE_START,
    DUE_SOON,
    ESCALATED,
    OVERDUE,
    DeadlinePlanner,
    Durations,
    declared_durations,
    findings_of,
)
from engine.definition import Warnings
from engine.errors import DongflowError

D = dt.date


def _walk(catalog: Catalog, key: str, created: D, moves: list[tuple[int, int]]):
    """A project created on ``created`` that fires, ``gap`` days apart, the allowed trigger picked by
    ``pick`` (modulo how many there are); refused ones are left out."""
    workflow = catalog.latest("space-improvement")
    machine = catalog.machine(workflow)
    steps: list[tuple[str, D]] = []
    state, day = workflow.initial.id, created
    for pick, gap in moves:
        allowed = machine.allowed(state)
        if not allowed:
            break
        trigger = allowed[pick % len(allowed)]
        day = day + dt.timedelta(days=gap)
        try:
            build_project(catalog, key, "종로구", "삼청동", created=created, steps=[*steps, (trigger, day)])
        except DongflowError:
            continue
        steps.append((trigger, day))
        state = build_project(catalog, key, "종로구", "삼청동", created=created, steps=steps)[0].state
    return build_project(catalog, key, "종로구", "삼청동", created=created, steps=steps)[0]


def _expected_level(due: D, as_of: D, w: Warnings) -> tuple[str, int] | None:
    """The README's definition, independent of the code under test."""
    if as_of > due + dt.timedelta(days=w.escalate_after_days):
        return ESCALATED, (as_of - due).days
    if as_of > due:
        return OVERDUE, (as_of - due).days
    if as_of >= due - dt.timedelta(days=w.due_soon_days):
        return DUE_SOON, (due - as_of).days
    return None


project = st.tuples(
    st.integers(0, 120),  # created, days after 2015-12-01
    st.lists(st.tuples(st.integers(0, 7), st.integers(0, 60)), max_size=9),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    portfolio=st.lists(project, min_size=1, max_size=4),
    due_soon=st.integers(0, 20),
    escalate=st.integers(0, 20),
    observed=st.booleans(),
)
def test_fast_path_equals_the_assessment_at_every_date(
    catalog: Catalog, portfolio, due_soon: int, escalate: int, observed: bool
) -> None:
    base = catalog.latest("space-improvement")
    workflow = dataclasses.replace(base, warnings=Warnings(due_soon_days=due_soon, escalate_after_days=escalate))
    durations = None
    if observed:
        declared = declared_durations(workflow).days
        seen = {s: d + 5 for s, d in list(declared.items())[:3]}
        durations = Durations({**declared, **seen}, seen, 7)
    planner = DeadlinePlanner(workflow, SEOUL, durations)
    projects = [_walk(catalog, f"k{i}", D(2015, 12, 1) + dt.timedelta(days=c), moves) for i, (c, moves) in enumerate(portfolio)]
    start, end = D(2016, 1, 1), D(2016, 8, 15)  # every day from before the first due date to after the last
    day = start
    while day <= end:
        for p in projects:
            for lang in ("en",) if day.day % 7 else ("en", "ko"):
                fast = planner.findings(p, day, lang)
                assert fast == findings_of(planner, p, day, lang), (p.key, day, lang)
            dues = dict((m.id, due) for m, due in planner.dues(p.target, p.year))
            for f in fast:
                if f.level in (AT_RISK, LATE_START, CUTOFF_RISK):
                    continue  # the forecast's findings, not a milestone's
                assert _expected_level(dues[f.milestone], day, workflow.warnings) == (f.level, f.days), (p.key, day, f)
        day += dt.timedelta(days=1)


def test_the_escalation_boundary_of_the_fast_path(catalog: Catalog) -> None:
    """Overdue by exactly ``escalate_after_days`` is overdue; one day more is escalated -- on the
    nightly path itself, not only in the assessment."""
    planner = DeadlinePlanner(catalog.latest("space-improvement"), SEOUL)
    p, _ = build_project(catalog, "k", "종로구", "삼청동", created=D(2016, 1, 4))
    due = D(2016, 2, 22)  # agreement_signed of the 2016 cohort
    levels = {}
    for day in (D(2016, 2, 7), D(2016, 2, 8), D(2016, 2, 22), D(2016, 2, 23), D(2016, 3, 7), D(2016, 3, 8)):
        [f] = [f for f in planner.findings(p, day) if f.milestone == "agreement_signed"] or [None]
        levels[day] = (f.level, f.days) if f else None
    assert levels == {
        D(2016, 2, 7): None,
        D(2016, 2, 8): (DUE_SOON, 14),
        due: (DUE_SOON, 0),
        D(2016, 2, 23): (OVERDUE, 1),
        D(2016, 3, 7): (OVERDUE, 14),
        D(2016, 3, 8): (ESCALATED, 15),
    }
