"""Random walks over the shipped workflow (Hypothesis).

From the initial state, apply random triggers (valid, invalid and unknown, with and without notes,
sometimes back-dated) and random fact writes (good and bad values, unknown names). After every step:
the state is a declared state; a refused step changed nothing at all; an accepted step added exactly
one event; and replaying the history gives the current state, facts, reached times and version.
Runs on an in-memory store (many examples) and on the real SQLite store (fewer).
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from engine.catalog import Catalog
from engine.errors import DongflowError
from engine.project import replay
from engine.service import ProjectSpec, Service
from support import without_participation, MemoryStore
from workflows import SHIPPED_DIR

CATALOG = without_participation(Catalog.from_dirs([SHIPPED_DIR]))
WORKFLOW = CATALOG.latest("space-improvement")
STATES = {s.id for s in WORKFLOW.states}
FINAL = {s.id for s in WORKFLOW.states if s.final}
START = dt.datetime(2016, 1, 4, 0, 0, tzinfo=dt.timezone.utc)

advance = st.tuples(
    st.just("advance"),
    st.sampled_from([*WORKFLOW.triggers, "bogus", "Agree"]),
    st.sampled_from([None, "", "사유: 예산 재배정"]),
    st.sampled_from([0, 0, 0, 30, 60 * 24 * 400]),  # minutes back-dated (the last is before creation)
)
fact = st.tuples(
    st.just("fact"),
    st.sampled_from([*WORKFLOW.facts, "resident_meetings", "unknown_fact"]),
    st.one_of(st.integers(-2, 6).map(str), st.integers(1, 3).map(str), st.sampled_from(["", "many", "1.5", " 2 "])),
    st.just(0),
)
allowed = st.tuples(  # a trigger allowed from wherever the walk is (so walks get far along the course)
    st.just("allowed"), st.integers(0, 10), st.sampled_from([None, "사유"]), st.just(0)
)
# Each walk starts with a random number of resident meetings recorded, then random actions.
walks = st.tuples(
    st.integers(0, 3), st.lists(st.one_of(advance, allowed, allowed, allowed, fact), max_size=50)
).map(lambda w: [("fact", "resident_meetings", str(w[0]), 0)] * bool(w[0]) + w[1])


def firable(project, pick: int) -> str:
    """A trigger whose guards hold now: mostly the next step of the course, sometimes hold/cancel."""
    unmet = WORKFLOW.unmet_guards(project.state, project.facts)
    ready = [t for t, guards in unmet.items() if not guards]
    onward = [t for t in ready if t not in ("hold", "cancel")]
    if onward and pick < 8:
        return onward[pick % len(onward)]
    return ready[pick % len(ready)] if ready else "bogus"


def walk(store, key: str, actions, record=False) -> None:
    service = Service(store, CATALOG)
    now = START
    # Every walk on the shared SQLite store uses the same place and year: a duplicate, allowed.
    service.add_project(ProjectSpec(key, "성동구", "마장동", 2016), actor="walker", now=now, allow_duplicate=True)

    def snapshot():
        return store.get(key), store.events(key)

    accepted = 0
    for kind, name, extra, back in actions:
        now += dt.timedelta(hours=7)
        before = snapshot()
        if kind == "allowed":
            kind, name = "advance", firable(before[0], name)
        try:
            if kind == "advance":
                at = now - dt.timedelta(minutes=back) if back else None
                service.advance(key, name, actor="walker", now=now, at=at, note=extra)
            else:
                service.set_fact(key, name, extra, actor="walker", now=now)
        except DongflowError as exc:
            assert exc.exit_code in (3, 4, 5), exc
            assert snapshot() == before, f"refused {kind} {name} changed the project"
            continue
        accepted += 1
        project, events = snapshot()
        assert project.state in STATES
        assert before[0].state not in FINAL or kind == "fact"
        assert project.version == before[0].version + 1 == len(events)
        assert events[:-1] == before[1]
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        for fact_name, value in project.facts.items():
            assert WORKFLOW.facts[fact_name].accepts(value)
    project, events = snapshot()
    if record:
        event(f"ended in {project.state}")
    r = replay(events)
    assert (r.state, r.previous_state, r.facts, r.reached, r.entered_at, r.version) == (
        project.state,
        project.previous_state,
        dict(project.facts),
        dict(project.reached),
        project.entered_at,
        project.version,
    )
    assert project.version == accepted + 1
    for counted, trigger in (("failed_tenders", "tender_failed"), ("design_revisions", "request_revision")):
        expected = 0  # the last value written by hand, plus one per counting transition since
        for e in events:
            if e.kind == "fact" and e.data["name"] == counted:
                expected = e.data["new"]
            elif e.trigger == trigger:
                expected += 1
        assert project.facts[counted] == expected, counted


@settings(max_examples=300, deadline=None)
@given(walks)
def test_random_walk_in_memory(actions) -> None:
    walk(MemoryStore(), "2016-성동구-마장동", actions, record=True)


@pytest.fixture(scope="module")
def sqlite_store(tmp_path_factory):
    from storage.db import Database
    from storage.repository import SqlProjectStore
    from storage.schema import upgrade

    path: Path = tmp_path_factory.mktemp("walk") / "walk.db"
    db = Database(f"sqlite:///{path}")
    upgrade(db)
    yield SqlProjectStore(db)
    db.dispose()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(actions=walks)
def test_random_walk_on_sqlite(sqlite_store, actions) -> None:
    walk(sqlite_store, f"walk-{uuid.uuid4().hex[:12]}", actions)


def test_a_long_walk_reaches_completion() -> None:
    """Not random: makes sure the walk harness accepts a full course (else the above prove little)."""
    course = [("fact", "resident_meetings", "1", 0)] + [
        ("advance", t, None, 0)
        for t in ("agree", "present_design", "approve_design", "announce_tender", "tender_failed", "award", "complete")
    ]
    store = MemoryStore()
    walk(store, "k", course)
    assert store.get("k").state == "completed"
