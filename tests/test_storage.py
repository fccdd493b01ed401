"""The SQL store on every backend (``db_url``: SQLite and PostgreSQL): what goes in comes back out,
keys are unique, a stale save is refused whole, events have no gaps, times and facts round-trip."""

from __future__ import annotations

import dataclasses
from dataclasses import replace
import datetime as dt

import pytest
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from engine import project as proj
from engine.errors import AlreadyExists, ChangedMeanwhile, DatabaseError, ProjectNotFound
from engine.ports import ProjectQuery
from engine.project import replay
from storage.repository import SqlProjectStore
from storage.tables import EventRow
from support import dump

SEOUL = dt.timezone(dt.timedelta(hours=9))


def new(workflow, key: str, now: dt.datetime, gu: str = "성동구", year: int = 2016, **kw):
    return proj.new_project(workflow, key=key, gu=gu, dong=kw.pop("dong", "마장동"), year=year,
                            target=kw.pop("target", None), actor="tester", now=now)


def step(store: SqlProjectStore, catalog, key: str, trigger: str, now: dt.datetime, note: str | None = None):
    p = store.get(key)
    s = catalog.machine(catalog.get(p.workflow_id, p.workflow_version)).fire(
        key, p.state, trigger, p.facts, p.previous_state, note
    )
    updated, event = proj.apply_step(p, s, actor="tester", at=now, now=now, note=note)
    store.save(updated, event)
    return updated, event


def test_add_get_find(store: SqlProjectStore, workflow, now) -> None:
    items = [
        new(workflow, "2016-성동구-마장동", now),
        new(workflow, "2016-성북구-월곡1동", now, gu="성북구", dong="월곡1동"),
        new(workflow, "2015-성동구-사근동", now, year=2015, dong="사근동"),
    ]
    store.add([(p, [e]) for p, e in items])
    got = store.get("2016-성북구-월곡1동")
    assert got == items[1][0]
    assert store.count() == 3
    keys = lambda q: [p.key for p in store.find(q)]  # noqa: E731
    assert keys(ProjectQuery()) == sorted(p.key for p, _ in items)
    assert keys(ProjectQuery(gu="성동구")) == ["2015-성동구-사근동", "2016-성동구-마장동"]
    assert keys(ProjectQuery(gu="성동구", year=2016)) == ["2016-성동구-마장동"]
    assert keys(ProjectQuery(state="survey", workflow_id="space-improvement", limit=1)) == ["2015-성동구-사근동"]
    assert keys(ProjectQuery(state="tender")) == []
    assert keys(ProjectQuery(key="2016-성동구-마장동")) == ["2016-성동구-마장동"]
    assert store.existing_keys(["2016-성동구-마장동", "nope"]) == {"2016-성동구-마장동"}
    assert store.events("2016-성동구-마장동") == [items[0][1]]


def test_unknown_key(store: SqlProjectStore) -> None:
    with pytest.raises(ProjectNotFound):
        store.get("nope")
    with pytest.raises(ProjectNotFound):
        store.events("nope")


def test_duplicate_key_is_already_exists_and_writes_nothing(store: SqlProjectStore, workflow, now, initialised_db) -> None:
    store.add([(p, [e]) for p, e in [new(workflow, "a", now)]])
    before = dump(initialised_db)
    with pytest.raises(AlreadyExists, match="project a already exists"):
        store.add([(p, [e]) for p, e in [new(workflow, "b", now), new(workflow, "a", now)]])
    assert dump(initialised_db) == before
    with pytest.raises(AlreadyExists):  # twice in one batch
        store.add([(p, [e]) for p, e in [new(workflow, "c", now), new(workflow, "c", now)]])
    assert dump(initialised_db) == before


def test_stale_save_is_changed_meanwhile_and_writes_nothing(store, catalog, workflow, now, initialised_db) -> None:
    p, e = new(workflow, "k", now)
    store.add([(p, [e])])
    stale = store.get("k")
    step(store, catalog, "k", "hold", now + dt.timedelta(hours=1), note="first")
    before = dump(initialised_db)
    s = catalog.machine(workflow).fire("k", stale.state, "cancel", stale.facts, note="second")
    updated, event = proj.apply_step(stale, s, actor="other", at=now, now=now, note="second")
    with pytest.raises(ChangedMeanwhile) as info:
        store.save(updated, event)
    assert info.value.exit_code == 6 and "changed by someone else" in str(info.value)
    assert dump(initialised_db) == before
    assert store.get("k").state == "on_hold"


def test_save_of_a_missing_project(store, workflow, now) -> None:
    p, _ = new(workflow, "ghost", now)
    p2, e2 = proj.set_fact(p, "resident_meetings", 1, actor="a", now=now)
    with pytest.raises(ProjectNotFound):
        store.save(p2, e2)


def test_event_sequence_has_no_gaps(store, workflow, now, initialised_db) -> None:
    p, e = new(workflow, "k", now)
    store.add([(p, [e])])
    p2, e2 = proj.set_fact(p, "resident_meetings", 1, actor="a", now=now)
    skipped = dataclasses.replace(p2, version=3)  # version 1 -> 3 would leave seq 2 empty
    before = dump(initialised_db)
    with pytest.raises(ChangedMeanwhile):
        store.save(skipped, dataclasses.replace(e2, seq=3))
    with pytest.raises(ValueError, match="event 3 .* version 2"):
        store.save(p2, dataclasses.replace(e2, seq=3))  # the row and its event disagree
    assert dump(initialised_db) == before
    store.save(p2, e2)
    with pytest.raises(IntegrityError):  # the database itself refuses a second event 2
        with store.db.write() as conn:
            project_id = conn.execute(EventRow.__table__.select()).first().project_id
            conn.execute(insert(EventRow.__table__).values(
                project_id=project_id, seq=2, kind="fact", to_state="survey", actor="x", at=now,
                recorded_at=now, data={},
            ))
    assert [ev.seq for ev in store.events("k")] == [1, 2]


def test_add_refuses_a_history_that_does_not_match_the_version(store, workflow, now, initialised_db) -> None:
    p, e = new(workflow, "k", now)
    before = dump(initialised_db)
    with pytest.raises(ValueError, match="events of k"):
        store.add([(dataclasses.replace(p, version=2), [e])])
    with pytest.raises(ValueError, match="events of k"):
        store.add([(p, [dataclasses.replace(e, seq=2)])])
    assert dump(initialised_db) == before


def test_datetimes_round_trip_as_the_same_instant(store, catalog, workflow) -> None:
    seoul = dt.datetime(2016, 3, 2, 18, 30, 15, 123456, tzinfo=SEOUL)
    p, e = new(workflow, "k", seoul)
    store.add([(p, [e])])
    got = store.get("k")
    for value in (got.entered_at, got.created_at, got.reached["survey"], store.events("k")[0].at):
        assert value == seoul  # the same instant...
        assert value.utcoffset() == dt.timedelta(0)  # ...given back in UTC
        assert value.replace(tzinfo=None) == dt.datetime(2016, 3, 2, 9, 30, 15, 123456)
    later = dt.datetime(2016, 3, 3, 0, 5, tzinfo=SEOUL)  # 15:05 UTC the day before, in Seoul terms
    step(store, catalog, "k", "hold", later, note="x")
    got = store.get("k")
    assert got.entered_at == later and got.reached["on_hold"] == later
    assert store.events("k")[-1].at == later and store.events("k")[-1].recorded_at == later


def test_facts_and_event_data_round_trip_as_json(store, workflow, now) -> None:
    facts = {"n": 3, "x": 1.5, "yes": True, "no": False, "text": "주민 회의 \"공유\"", "day": "2016-03-01", "none": None}
    p, e = new(workflow, "k", now)
    p = dataclasses.replace(p, facts=facts)
    e = dataclasses.replace(e, data={"facts": facts}, note="첫 줄\n둘째 줄")
    store.add([(p, [e])])
    got = store.get("k")
    assert got.facts == facts
    assert [type(v) for v in got.facts.values()] == [type(v) for v in facts.values()]
    ev = store.events("k")[0]
    assert ev.data == {"facts": facts} and ev.note == "첫 줄\n둘째 줄"
    assert got.target == dt.date(2016, 7, 1)


def test_stored_state_equals_the_replay_of_its_events(store, catalog, workflow, now) -> None:
    p, e = new(workflow, "k", now)
    store.add([(p, [e])])
    t = now
    for trigger in ("hold", "resume", "cancel"):
        t += dt.timedelta(hours=1)
        step(store, catalog, "k", trigger, t, note="why")
    (project, events), = list(store.all_histories())
    r = replay(events)
    assert (r.state, r.previous_state, r.facts, r.reached, r.entered_at, r.version) == (
        project.state, project.previous_state, dict(project.facts), dict(project.reached), project.entered_at,
        project.version,
    )
    assert project.state == "cancelled" and project.version == 4


def test_sqlite_busy_is_a_clear_database_error(tmp_path, monkeypatch, workflow, now) -> None:
    import sqlite3

    from storage.db import Database
    from storage.schema import upgrade

    monkeypatch.setenv("DONGFLOW_BUSY_TIMEOUT", "0.2")
    path = tmp_path / "busy.db"
    db = Database(f"sqlite:///{path}")
    upgrade(db)
    store = SqlProjectStore(db)
    p, e = new(workflow, "k", now)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        with pytest.raises(DatabaseError, match="is busy") as info:
            store.add([(p, [e])])
        assert info.value.exit_code == 7
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert store.count() == 0
    db.dispose()


@pytest.mark.external_service
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_postgresql_row_lock_is_a_clear_busy_error(initialised_db, monkeypatch, workflow, now) -> None:
    """A writer queued behind a transaction that holds the row gives up after the busy timeout."""
    from storage.db import Database

    monkeypatch.setenv("DONGFLOW_BUSY_TIMEOUT", "0.5")
    db = Database(initialised_db)
    store = SqlProjectStore(db)
    p, e = new(workflow, "k", now)
    store.add([(p, [e])])
    before = store.get("k")
    step_project = replace(before, version=before.version + 1, state="agreement")
    event = replace(e, seq=2, kind="transition", trigger="agree", from_state="survey", to_state="agreement")
    holder = Database(initialised_db)
    with holder.engine.connect() as conn, conn.begin():
        conn.exec_driver_sql("SELECT 1 FROM projects WHERE key = 'k' FOR UPDATE")
        with pytest.raises(DatabaseError, match="is busy") as info:
            store.save(step_project, event)
        assert info.value.exit_code == 7
    holder.dispose()
    assert store.get("k") == before
    db.dispose()
