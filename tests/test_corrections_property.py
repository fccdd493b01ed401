"""Random histories with corrections (Hypothesis, in memory): moves, facts, undos, edits and a retire
in any order. An accepted undo puts back exactly what the undone move changed; a refused correction
changes nothing; replaying the history always gives the stored project, corrections included."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.catalog import Catalog
from engine.errors import DongflowError
from engine.project import replay
from engine.service import ProjectSpec, Service
from support import MemoryStore, without_participation
from workflows import SHIPPED_DIR

CATALOG = without_participation(Catalog.from_dirs([SHIPPED_DIR]))
WORKFLOW = CATALOG.latest("space-improvement")
START = dt.datetime(2016, 1, 4, 0, 0, tzinfo=dt.timezone.utc)

action = st.one_of(
    st.tuples(st.just("advance"), st.integers(0, 5)),
    st.tuples(st.just("advance"), st.integers(0, 5)),
    st.tuples(st.just("undo"), st.just(0)),
    st.tuples(st.just("undo"), st.just(0)),
    st.tuples(st.just("fact"), st.integers(0, 3)),
    st.tuples(st.just("edit"), st.integers(0, 3)),
    st.tuples(st.just("retire"), st.just(0)),
)
EDITS = [{"target": "2016-06-30"}, {"new_key": "renamed"}, {"dong": "사근동"}, {"year": "2017"}]


def same_place(a, b) -> bool:
    return (a.state, a.previous_state, dict(a.facts), dict(a.reached), a.entered_at) == (
        b.state, b.previous_state, dict(b.facts), dict(b.reached), b.entered_at)


@settings(max_examples=200, deadline=None)
@given(st.lists(action, max_size=30))
def test_random_histories_with_corrections(actions) -> None:
    store = MemoryStore()
    service = Service(store, CATALOG)
    key = "k"
    now = START
    service.add_project(ProjectSpec(key, "성동구", "마장동", 2016), actor="w", now=now)
    service.set_fact(key, "resident_meetings", "2", actor="w", now=now)
    before_move: dict[int, object] = {}  # the project before each accepted move, by the move's seq
    for kind, pick in actions:
        now += dt.timedelta(hours=5)
        before, history = store.get(key), store.events(key)
        try:
            if kind == "advance":
                ready = [t for t, unmet in WORKFLOW.unmet_guards(before.state, before.facts).items() if not unmet]
                if not ready:
                    continue
                p, e = service.advance(key, ready[pick % len(ready)], actor="w", now=now, note="n")
                before_move[e.seq] = before
            elif kind == "undo":
                p, e = service.undo(key, actor="w", now=now, note="n")
                assert same_place(p, before_move[e.data["undoes"]])  # exactly as before the move
            elif kind == "fact":
                service.set_fact(key, "design_revisions", str(pick), actor="w", now=now)
            elif kind == "edit":
                p, e = service.edit_project(key, actor="w", now=now, note="n", **EDITS[pick])
                key = p.key
            else:
                service.retire_project(key, actor="w", now=now, note="n")
        except DongflowError as exc:
            assert exc.exit_code in (3, 5), exc
            assert (store.get(key), store.events(key)) == (before, history), f"refused {kind} changed the project"
            continue
        project, events = store.get(key), store.events(key)
        assert len(events) == project.version == before.version + 1
        r = replay(events)
        assert (r.state, r.previous_state, r.facts, r.reached, r.entered_at, r.version) == (
            project.state, project.previous_state, dict(project.facts), dict(project.reached), project.entered_at,
            project.version)
        assert all(getattr(project, name) == value for name, value in r.edits.items())
        assert (r.retired_at is None) == (project.retired_at is None)
