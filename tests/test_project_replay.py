"""Projects as domain objects: creation, steps, facts, and the replay of their events."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from engine import project as proj
from engine.errors import AlreadyExists, InvalidInput, ProjectNotFound, TransitionRefused
from engine.project import Event, replay
from engine.service import ProjectSpec, Service
from support import MemoryStore

HOUR = dt.timedelta(hours=1)


@pytest.fixture
def mem_service(core_catalog) -> Service:
    return Service(MemoryStore(), core_catalog)


def replayed_equals(project, events) -> None:
    r = replay(events)
    assert (r.state, r.previous_state, r.facts, r.reached, r.entered_at, r.version) == (
        project.state,
        project.previous_state,
        dict(project.facts),
        dict(project.reached),
        project.entered_at,
        project.version,
    )


def test_new_project_starts_in_the_initial_state(workflow, now) -> None:
    p, e = proj.new_project(
        workflow, key="2016-성동구-마장동", gu="성동구", dong="마장동", year=2016, target=None, actor="a", now=now
    )
    assert (p.state, p.version, p.entered_at, p.created_at) == ("survey", 1, now, now)
    assert p.target == dt.date(2016, 7, 1)
    assert p.facts == {"resident_meetings": 0, "design_revisions": 0, "failed_tenders": 0}
    assert p.reached == {"survey": now}
    assert (e.seq, e.kind, e.to_state, e.at) == (1, "created", "survey", now)
    replayed_equals(p, [e])


def test_target_can_be_overridden_but_not_before_the_cohort_year(workflow, now) -> None:
    p, _ = proj.new_project(workflow, key="k", gu="g", dong="d", year=2016, target=dt.date(2016, 8, 15),
                            actor="a", now=now)
    assert p.target == dt.date(2016, 8, 15)
    with pytest.raises(InvalidInput, match="before the cohort year"):
        proj.new_project(workflow, key="k", gu="g", dong="d", year=2016, target=dt.date(2015, 12, 31),
                         actor="a", now=now)


def test_service_walk_replays_to_the_stored_state(mem_service: Service, now) -> None:
    s = mem_service
    s.add_project(ProjectSpec("k", "성동구", "마장동", "2016"), actor="a", now=now)
    t = now
    for step in ["fact:resident_meetings:2", "agree", "present_design", "request_revision", "resubmit_design",
                 "approve_design", "hold", "resume", "announce_tender", "tender_failed", "tender_failed", "award",
                 "complete"]:
        t += HOUR
        if step.startswith("fact:"):
            _, name, value = step.split(":")
            s.set_fact("k", name, value, actor="a", now=t)
        else:
            s.advance("k", step, actor="a", now=t, note="why" if step == "hold" else None)
    p = s.store.get("k")
    events = s.history("k")
    assert p.state == "completed" and p.version == len(events) == 14
    assert [e.seq for e in events] == list(range(1, 15))
    assert p.facts == {"resident_meetings": 2, "design_revisions": 1, "failed_tenders": 2}
    assert p.previous_state == "construction"
    assert p.reached["design_review"] == now + 3 * HOUR  # first time reached, not the later return
    assert p.reached["tender"] == now + 9 * HOUR
    replayed_equals(p, events)


def test_hold_then_resume_records_both_and_returns(mem_service: Service, now) -> None:
    s = mem_service
    s.add_project(ProjectSpec("k", "g", "d", 2016), actor="a", now=now)
    s.advance("k", "hold", actor="a", now=now + HOUR, note="예산")
    held = s.store.get("k")
    assert (held.state, held.previous_state) == ("on_hold", "survey")
    s.advance("k", "resume", actor="b", now=now + 2 * HOUR)
    back = s.store.get("k")
    assert (back.state, back.previous_state) == ("survey", "on_hold")
    events = s.history("k")
    assert [(e.trigger, e.from_state, e.to_state, e.actor, e.note) for e in events[1:]] == [
        ("hold", "survey", "on_hold", "a", "예산"),
        ("resume", "on_hold", "survey", "b", None),
    ]
    replayed_equals(back, events)


def test_refusals_change_nothing(mem_service: Service, now) -> None:
    s = mem_service
    s.add_project(ProjectSpec("k", "g", "d", 2016), actor="a", now=now)
    before = s.store.snapshot()
    attempts = [
        lambda: s.advance("k", "agree", actor="a", now=now),  # guard
        lambda: s.advance("k", "award", actor="a", now=now),  # wrong state
        lambda: s.advance("k", "nope", actor="a", now=now),  # unknown trigger
        lambda: s.advance("k", "hold", actor="a", now=now),  # note required
        lambda: s.advance("k", "cancel", actor=" ", now=now, note="x"),  # empty actor
        lambda: s.advance("missing", "agree", actor="a", now=now),
        lambda: s.advance("k", "hold", actor="a", now=now, at=now - HOUR, note="x"),  # before it entered
        lambda: s.advance("k", "hold", actor="a", now=now, at=now + HOUR, note="x"),  # in the future
        lambda: s.set_fact("k", "resident_meetings", "many", actor="a", now=now),
        lambda: s.set_fact("k", "budget", "1", actor="a", now=now),
        lambda: s.add_project(ProjectSpec("k", "g", "d", 2016), actor="a", now=now),
        lambda: s.add_project(ProjectSpec("k2", "g", "d", "20x6"), actor="a", now=now),
        lambda: s.add_project(ProjectSpec("k2", "g", "d", 2016, workflow="nope"), actor="a", now=now),
    ]
    kinds = []
    for attempt in attempts:
        with pytest.raises((InvalidInput, TransitionRefused, ProjectNotFound, AlreadyExists, LookupError)) as info:
            attempt()
        kinds.append(info.value.exit_code)
        assert s.store.snapshot() == before
    assert kinds == [5, 5, 4, 5, 3, 4, 3, 3, 3, 3, 6, 3, 4]


def test_backdated_advance(mem_service: Service, now) -> None:
    s = mem_service
    s.add_project(ProjectSpec("k", "g", "d", 2016), actor="a", now=now)
    at = now + dt.timedelta(days=2)
    p, e = s.advance("k", "hold", actor="a", now=now + dt.timedelta(days=5), at=at, note="x")
    assert (p.entered_at, e.at, e.recorded_at) == (at, at, now + dt.timedelta(days=5))
    assert p.reached["on_hold"] == at


def test_set_fact_records_old_and_new(mem_service: Service, now) -> None:
    s = mem_service
    s.add_project(ProjectSpec("k", "g", "d", 2016), actor="a", now=now)
    p, value = s.set_fact("k", "resident_meetings", " 3 ", actor="a", now=now, note="회의록")
    assert value == 3 and p.facts["resident_meetings"] == 3 and p.version == 2
    e = s.history("k")[-1]
    assert (e.kind, e.data, e.note, e.from_state, e.to_state) == (
        "fact", {"name": "resident_meetings", "old": 0, "new": 3}, "회의록", "survey", "survey"
    )


def _events(workflow, now) -> list[Event]:
    p, created = proj.new_project(workflow, key="k", gu="g", dong="d", year=2016, target=None, actor="a", now=now)
    p, fact = proj.set_fact(p, "resident_meetings", 1, actor="a", now=now)
    return [created, fact]


def test_replay_refuses_gaps_and_inconsistencies(workflow, now) -> None:
    created, fact = _events(workflow, now)
    with pytest.raises(InvalidInput, match="out of sequence"):
        replay([created, dataclasses.replace(fact, seq=3)])
    with pytest.raises(InvalidInput, match="no creation event"):
        replay([])
    bad = Event(key="k", seq=2, kind="transition", trigger="award", from_state="tender", to_state="construction",
                actor="a", at=now)
    with pytest.raises(InvalidInput, match="starts from tender, but the project was in survey"):
        replay([created, bad])
    with pytest.raises(InvalidInput, match="unknown event kind"):
        replay([created, dataclasses.replace(fact, kind="magic")])


def test_other_kinds_of_event_register_a_replayer_and_every_reader_of_the_past_knows_them(workflow, now) -> None:
    """The dispatch per kind (engine.project.replays): a kind added later (here a test's own) is
    replayed by replay and replay_until alike, and the as-of rebuild reads its flags."""
    from engine import project as proj
    from engine.asof import rebuilt

    p, created = proj.new_project(workflow, key="k", gu="g", dong="d", year=2016, target=None, actor="a", now=now)

    @proj.replays("test_moved")
    def _moved(r, event) -> None:  # type: ignore[no-untyped-def]
        r.flags["identity"] = {"gu": event.data["gu"]}
        r.flags["retired"] = event.data.get("retired", False)

    try:
        later = now + dt.timedelta(days=1)
        moved = Event(key="k", seq=2, kind="test_moved", to_state=p.state, from_state=p.state, actor="a", at=later,
                      data={"gu": "h"})
        gone = dataclasses.replace(moved, seq=3, at=later + dt.timedelta(days=1), data={"gu": "h", "retired": True})
        assert replay([created, moved]).flags["identity"] == {"gu": "h"}
        assert rebuilt(p, [created, moved, gone], later + dt.timedelta(hours=1)).gu == "h"
        assert rebuilt(p, [created, moved, gone], later - dt.timedelta(hours=1)).gu == "g"
        assert rebuilt(p, [created, moved, gone], later + dt.timedelta(days=2)) is None
    finally:
        del proj.REPLAYERS["test_moved"]
