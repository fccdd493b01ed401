"""Corrections as events (SQLite and PostgreSQL): undo, edit, retire -- nothing rewritten or deleted,
each in the history with who and why, replay agrees with the stored row, and a refusal changes nothing."""

from __future__ import annotations

import datetime as dt

import pytest

from engine.access import Principal, ScopedService
from engine.errors import AlreadyExists, ChangeRefused, Forbidden, InvalidInput, ProjectNotFound
from engine.ports import ProjectQuery
from engine.project import replay
from engine.service import ProjectSpec, Service
from programme.places import identity_rules
from support import dump

KEY = "2016-성동구-마장동"
DAY = dt.timedelta(days=1)


@pytest.fixture
def svc(store, core_catalog) -> Service:
    return Service(store, core_catalog, identity_rules())


@pytest.fixture
def agreed(svc: Service, now: dt.datetime) -> str:
    start = now - 30 * DAY
    svc.add_project(ProjectSpec(KEY, "성동구", "마장동", 2016), actor="kim", now=now, at=start)
    svc.set_fact(KEY, "resident_meetings", "2", actor="kim", now=now, at=start + DAY)
    svc.advance(KEY, "agree", actor="kim", now=now, at=start + 5 * DAY)
    svc.advance(KEY, "present_design", actor="kim", now=now, at=start + 10 * DAY)
    return KEY


def assert_replay_matches(svc: Service, key: str) -> None:
    project = svc.project(key)
    events = sorted(svc.history(key), key=lambda e: e.seq)  # history is in effective order; replay in recorded order
    assert [e.seq for e in events] == list(range(1, project.version + 1))
    r = replay(events)
    assert (r.state, r.previous_state, r.facts, r.reached, r.entered_at, r.version) == (
        project.state, project.previous_state, dict(project.facts), dict(project.reached), project.entered_at,
        project.version,
    )
    for name, value in r.edits.items():
        assert getattr(project, name) == value
    assert (r.retired_at is None) == (project.retired_at is None)


def unchanged(store, action) -> Exception:
    """Run ``action``, which must raise; the database must be exactly as before. Returns the error."""
    before = dump(store.db.url)
    with pytest.raises(Exception) as info:
        action()
    assert dump(store.db.url) == before
    return info.value


# -- undo ----------------------------------------------------------------------------------------
def test_undo_reverts_the_last_transition_with_an_event(svc, agreed, now) -> None:
    before = svc.project(agreed)
    later = now + dt.timedelta(hours=1)
    p, event = svc.undo(agreed, actor="lee", now=later, note="design not presented yet")
    assert p.state == "agreement" and p.previous_state == "survey"
    assert "design_review" not in p.reached and p.entered_at == before.reached["agreement"]
    assert p.version == before.version + 1
    history = svc.history(agreed)
    assert len(history) == before.version + 1  # nothing deleted
    assert (event.kind, event.actor, event.note, event.data["undoes"]) == ("undone", "lee", "design not presented yet",
                                                                          before.version)
    assert event.at == history[-2].at and event.recorded_at == later  # effective with the move it undoes
    assert_replay_matches(svc, agreed)
    # undone twice in a row: the first undo is the last entry now
    assert "already" in str(unchanged(svc.store, lambda: svc.undo(agreed, actor="lee", now=later, note="x")))
    # the project moves on normally afterwards, and that move can be undone in turn
    svc.advance(agreed, "present_design", actor="kim", now=later)
    p, _ = svc.undo(agreed, actor="lee", now=later, note="again")
    assert p.state == "agreement"
    assert_replay_matches(svc, agreed)


def test_undo_is_refused_when_something_depends_on_it(svc, agreed, now) -> None:
    svc.set_fact(agreed, "design_revisions", "1", actor="kim", now=now)
    error = unchanged(svc.store, lambda: svc.undo(agreed, actor="lee", now=now, note="n"))
    assert isinstance(error, ChangeRefused) and error.exit_code == 5
    assert "event 5 (design_revisions) was recorded after it" in str(error)


def test_undo_of_a_transition_that_set_facts_is_refused(svc, agreed, now) -> None:
    for trigger in ("approve_design", "announce_tender", "tender_failed"):
        svc.advance(agreed, trigger, actor="kim", now=now)
    error = unchanged(svc.store, lambda: svc.undo(agreed, actor="lee", now=now, note="n"))
    assert "it set facts (failed_tenders=1)" in str(error)


def test_nothing_to_undo_and_a_note_is_required(svc, now) -> None:
    svc.add_project(ProjectSpec(KEY, "성동구", "마장동", 2016), actor="kim", now=now)
    assert "nothing to undo" in str(unchanged(svc.store, lambda: svc.undo(KEY, actor="a", now=now, note="n")))
    error = unchanged(svc.store, lambda: svc.undo(KEY, actor="a", now=now, note="  "))
    assert isinstance(error, InvalidInput) and error.field == "note"


def test_undo_with_a_stale_version_is_refused(svc, agreed, now) -> None:
    from engine.errors import ChangedMeanwhile

    stale = svc.project(agreed).version - 1
    unchanged(svc.store, lambda: svc.undo(agreed, actor="a", now=now, note="n", expected_version=stale))
    with pytest.raises(ChangedMeanwhile):
        svc.undo(agreed, actor="a", now=now, note="n", expected_version=stale)


# -- edit ----------------------------------------------------------------------------------------
def test_edit_changes_identity_with_old_and_new_values(svc, agreed, now) -> None:
    new_key = "2016-성북구-월곡1동"
    p, event = svc.edit_project(agreed, actor="park", now=now, note="wrong district", gu="성북구", dong="월곡1동",
                                new_key=new_key, target="2016-06-30")
    assert (p.key, p.gu, p.dong, p.target) == (new_key, "성북구", "월곡1동", dt.date(2016, 6, 30))
    assert event.data == {"old": {"key": KEY, "gu": "성동구", "dong": "마장동", "target": "2016-07-01"},
                          "new": {"key": new_key, "gu": "성북구", "dong": "월곡1동", "target": "2016-06-30"}}
    assert (event.kind, event.actor, event.note) == ("edited", "park", "wrong district")
    with pytest.raises(ProjectNotFound):
        svc.project(KEY)
    history = svc.history(new_key)
    # the history came along; a correction takes effect when what it corrects did (the project's
    # creation), so in effective order it stands right after the creation, with its recorded time
    assert [e.kind for e in history][:2] == ["created", "edited"] and history[1].recorded_at == now
    assert_replay_matches(svc, new_key)
    assert [q.key for q in svc.status(ProjectQuery(gu="성북구"))] == [new_key]


@pytest.mark.parametrize("changes,error,fragment", [
    ({"gu": "성북구"}, InvalidInput, "'마장동' is not a dong of 성북구"),
    ({"dong": "마정동"}, InvalidInput, "did you mean"),
    ({"year": "2017"}, InvalidInput, "says year 2016"),  # the key says 2016
    ({"target": "2015-12-31"}, InvalidInput, "before the cohort year"),
    ({"new_key": "2016-성동구-사근동"}, InvalidInput, "says dong 사근동"),
    ({"new_key": "taken"}, AlreadyExists, "project taken already exists"),
    ({"dong": "사근동", "new_key": "2016-성동구-사근동-b"}, AlreadyExists, "--allow-duplicate"),
    ({}, InvalidInput, "nothing to change"),
    ({"gu": "성동구"}, InvalidInput, "nothing to change"),
])
def test_bad_edits_change_nothing(svc, agreed, now, changes, error, fragment) -> None:
    svc.add_project(ProjectSpec("taken", "성동구", "사근동", 2016), actor="kim", now=now)
    found = unchanged(svc.store, lambda: svc.edit_project(agreed, actor="a", now=now, note="n", **changes))
    assert isinstance(found, error) and fragment in str(found), found


def test_edit_into_a_taken_place_with_allow_duplicate(svc, agreed, now) -> None:
    svc.add_project(ProjectSpec("taken", "성동구", "사근동", 2016), actor="kim", now=now)
    p, _ = svc.edit_project(agreed, actor="a", now=now, note="n", dong="사근동", new_key="2016-성동구-사근동-2",
                            allow_duplicate=True)
    assert p.dong == "사근동"


# -- retire --------------------------------------------------------------------------------------
def test_retire_hides_the_project_but_keeps_its_record(svc, agreed, now) -> None:
    from storage.tracking import tracked_rows

    svc.add_project(ProjectSpec("2016-성동구-사근동", "성동구", "사근동", 2016), actor="kim", now=now)
    p, event = svc.retire_project(agreed, actor="lee", now=now, note="entered by mistake")
    assert p.retired_at == now and (event.kind, event.note) == ("retired", "entered by mistake")
    assert [q.key for q in svc.status(ProjectQuery())] == ["2016-성동구-사근동"]
    assert svc.count(ProjectQuery(gu="성동구")) == 1
    with svc.store.db.read() as conn:
        assert [r.key for r in tracked_rows(conn)] == ["2016-성동구-사근동"]  # overdue and alerts
    assert svc.project(agreed).retired_at == now  # still found by key
    assert [e.kind for e in svc.history(agreed)][:2] == ["created", "retired"]  # effective at the creation
    assert_replay_matches(svc, agreed)
    # no more changes; and the place is free again
    for action in (lambda: svc.advance(agreed, "approve_design", actor="a", now=now),
                   lambda: svc.set_fact(agreed, "design_revisions", "1", actor="a", now=now),
                   lambda: svc.undo(agreed, actor="a", now=now, note="n"),
                   lambda: svc.edit_project(agreed, actor="a", now=now, note="n", dong="사근동"),
                   lambda: svc.retire_project(agreed, actor="a", now=now, note="n")):
        assert "retired" in str(unchanged(svc.store, action))
    svc.add_project(ProjectSpec("2016-성동구-마장동-2", "성동구", "마장동", 2016), actor="kim", now=now)


def test_retired_projects_leave_the_report(svc, agreed, now) -> None:
    from programme.report_queries import SqlReportSource
    from programme.report import ReportFilter

    source = SqlReportSource(svc.store.db)
    cutoff = now + DAY
    assert sum(source.stage_counts(ReportFilter(), cutoff).values()) == 1
    svc.retire_project(agreed, actor="lee", now=now, note="mistake")
    assert source.stage_counts(ReportFilter(), cutoff) == {}
    assert source.cohort_sizes(ReportFilter(), cutoff) == {}


# -- who may -------------------------------------------------------------------------------------
def test_corrections_are_scoped_by_district(svc, agreed, now) -> None:
    svc.add_project(ProjectSpec("2016-성북구-월곡1동", "성북구", "월곡1동", 2016), actor="kim", now=now)
    coordinator = ScopedService(svc, Principal.of("c", "coordinator", ["성동구"]))
    viewer = ScopedService(svc, Principal.of("v", "viewer"))
    for action in (lambda: coordinator.undo("2016-성북구-월곡1동", now=now, note="n"),
                   lambda: coordinator.retire_project("2016-성북구-월곡1동", now=now, note="n")):
        assert isinstance(unchanged(svc.store, action), ProjectNotFound)
    error = unchanged(svc.store, lambda: coordinator.edit_project(agreed, now=now, note="n", gu="성북구",
                                                                   dong="월곡2동", new_key="x"))
    assert isinstance(error, Forbidden) and "into 성북구" in str(error)
    for action in (lambda: viewer.undo(agreed, now=now, note="n"),
                   lambda: viewer.edit_project(agreed, now=now, note="n", target="2016-06-30"),
                   lambda: viewer.retire_project(agreed, now=now, note="n")):
        assert isinstance(unchanged(svc.store, action), Forbidden)
    p, event = coordinator.undo(agreed, now=now, note="mine", actor="someone else")
    assert event.actor == "c" and p.state == "agreement"  # recorded as who signed in
    p, _ = coordinator.edit_project(agreed, now=now, note="mine", target="2016-06-30")
    assert p.target == dt.date(2016, 6, 30)
