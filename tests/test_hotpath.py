"""The advance's hot path (storage/hotpath.py) writes exactly what SQLAlchemy's column types write:
the same stored text on SQLite, the same values on PostgreSQL, and reads back the same project."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import String, insert, select, type_coerce, update

from engine.catalog import Catalog
from engine.service import ProjectSpec, Service
from storage.db import Database
from storage.repository import E, P, SqlProjectStore, event_values, project_values, row_to_project
from storage.schema import upgrade
from support import without_participation
from workflows import SHIPPED_DIR

NOW = dt.datetime(2017, 3, 4, 9, 30, 15, 123456, tzinfo=dt.timezone.utc)
LATER = dt.datetime(2017, 3, 6, 8, tzinfo=dt.timezone.utc)
NOON = dt.datetime(2017, 3, 5, 12, tzinfo=dt.timezone(dt.timedelta(hours=9)))  # no microseconds, not UTC


def _raw(table, conn, where):  # type: ignore[no-untyped-def]
    cols = [type_coerce(c, String).label(c.name) if c.name not in ("id", "project_id") else c for c in table.columns]
    return dict(conn.execute(select(*cols).where(where)).one()._mapping)


def test_hot_path_rows_equal_sqlalchemy_rows(db_url: str) -> None:
    db = Database(db_url)
    try:
        upgrade(db)
        service = Service(SqlProjectStore(db), without_participation(Catalog.from_dirs([SHIPPED_DIR])))
        for key in ("2017-성동구-마장동", "2017-성동구-사근동"):
            service.add_project(ProjectSpec(key, "성동구", key.split("-")[-1], 2017), actor="a", now=NOW)
            service.set_fact(key, "resident_meetings", "2", actor="a", now=NOW, note="회의 2회")
        # One advance through the hot path ...
        hot, hot_event = service.advance("2017-성동구-마장동", "agree", actor="김", now=LATER, at=NOON, note="메모")
        # ... and the same step written through SQLAlchemy Core on the other project.
        other = service.store.get("2017-성동구-사근동")
        wf = service.workflow_of(other)
        from engine import project as proj

        step = service.catalog.machine(wf).fire(other.key, other.state, "agree", other.facts, other.previous_state, "메모")
        core, core_event = proj.apply_step(other, step, actor="김", at=NOON, now=LATER, note="메모")
        values = project_values(core)
        for fixed in ("key", "created_at"):
            values.pop(fixed)
        with db.write() as conn:
            pid = conn.execute(update(P).where(P.c.key == other.key).values(**values).returning(P.c.id)).scalar()
            conn.execute(insert(E).values(**event_values(core_event, pid)))
        with db.read() as conn:
            a = _raw(P, conn, P.c.key == hot.key)
            b = _raw(P, conn, P.c.key == core.key)
            for row in (a, b):
                for name in ("id", "key", "dong"):
                    row.pop(name)
            assert a == b
            ea = _raw(E, conn, (E.c.project_id == conn.execute(select(P.c.id).where(P.c.key == hot.key)).scalar())
                      & (E.c.seq == hot_event.seq))
            eb = _raw(E, conn, (E.c.project_id == conn.execute(select(P.c.id).where(P.c.key == core.key)).scalar())
                      & (E.c.seq == core_event.seq))
            for row in (ea, eb):
                for name in ("id", "project_id"):
                    row.pop(name)
            assert ea == eb
            read_core = row_to_project(conn.execute(select(P).where(P.c.key == hot.key)).one())
        assert service.store.get(hot.key) == read_core == hot
    finally:
        db.dispose()


def test_bulk_inserted_projects_and_events_equal_sqlalchemy_rows(db_url: str) -> None:
    from engine import project as proj

    db = Database(db_url)
    try:
        upgrade(db)
        catalog = without_participation(Catalog.from_dirs([SHIPPED_DIR]))
        store = SqlProjectStore(db)
        wf = catalog.latest("space-improvement")
        made = [proj.new_project(wf, key=f"2017-성동구-{d}", gu="성동구", dong=d, year=2017, target=None,
                                 actor="가", now=LATER, at=NOON) for d in ("마장동", "사근동")]
        store.add([(made[0][0], [made[0][1]])])  # through the driver's executemany
        p, e = made[1]
        with db.write() as conn:  # through SQLAlchemy Core
            pid = conn.execute(insert(P).values(**project_values(p)).returning(P.c.id)).scalar()
            conn.execute(insert(E).values(**event_values(e, pid)))
        with db.read() as conn:
            rows = [_raw(P, conn, P.c.key == q.key) for q, _ in made]
            events = [_raw(E, conn, E.c.project_id == r["id"]) for r in rows]
        for row in rows:
            for name in ("id", "key", "dong"):
                row.pop(name)
        for ev in events:
            for name in ("id", "project_id"):
                ev.pop(name)
        assert rows[0] == rows[1] and events[0] == events[1]
    finally:
        db.dispose()


def test_save_that_changes_identity_columns_writes_them(db_url: str) -> None:
    """An advance or a fact leaves gu, dong, year, workflow, target and retirement as they were, and
    the SQLite hot path then sets only the other columns; a save that changes one of them (here a
    target, a dong and a retirement) must still write every column, as the full UPDATE did."""
    import dataclasses

    from engine import project as proj

    db = Database(db_url)
    try:
        upgrade(db)
        service = Service(SqlProjectStore(db), without_participation(Catalog.from_dirs([SHIPPED_DIR])))
        key = "2017-성동구-마장동"
        service.add_project(ProjectSpec(key, "성동구", "마장동", 2017), actor="a", now=NOW)
        service.set_fact(key, "resident_meetings", "2", actor="a", now=NOW)  # identity unchanged
        service.advance(key, "agree", actor="a", now=LATER)
        p = service.store.get(key)
        changed = dataclasses.replace(p, dong="사근동", target=dt.date(2019, 12, 31), retired_at=LATER,
                                      version=p.version + 1)
        event = proj.Event(key=key, seq=changed.version, kind="edited", to_state=p.state, actor="a", at=LATER,
                           from_state=p.state, data={"dong": ["마장동", "사근동"]}, recorded_at=LATER)
        service.store.save(changed, event)
        assert service.store.get(key) == changed
        with db.read() as conn:
            row = conn.execute(select(P).where(P.c.key == key)).one()
        assert (row.dong, row.target_date, row.version) == ("사근동", dt.date(2019, 12, 31), p.version + 1)
        assert row_to_project(row) == changed
        # a stale save is still refused, whichever UPDATE it tries first
        import pytest

        from engine.errors import ChangedMeanwhile

        with pytest.raises(ChangedMeanwhile):
            service.store.save(changed, dataclasses.replace(event))
    finally:
        db.dispose()


def test_spare_connection_is_shared_by_threads_and_closed_at_dispose(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """SQLite keeps one driver connection spare between hot-path calls: threads advancing at once
    each get a connection (the spare or a pooled one), and disposing the database closes them all,
    so SQLite checkpoints its WAL and removes the -wal file as before."""
    import threading
    import warnings

    from sqlalchemy.exc import SAWarning

    path = tmp_path / "spare.db"
    db = Database(f"sqlite:///{path}")
    upgrade(db)
    service = Service(SqlProjectStore(db), without_participation(Catalog.from_dirs([SHIPPED_DIR])))
    dongs = ["마장동", "사근동", "행당1동", "행당2동", "응봉동", "왕십리2동"]
    for dong in dongs:
        service.add_project(ProjectSpec(f"2017-성동구-{dong}", "성동구", dong, 2017), actor="a", now=NOW)
    errors: list[BaseException] = []

    def work(dong: str) -> None:
        try:
            for n in range(1, 6):
                service.set_fact(f"2017-성동구-{dong}", "resident_meetings", str(n), actor="a", now=LATER)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    with warnings.catch_warnings():
        warnings.simplefilter("error", SAWarning)  # no pooled connection left behind or collected
        threads = [threading.Thread(target=work, args=(d,)) for d in dongs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        assert all(service.store.get(f"2017-성동구-{d}").version == 6 for d in dongs)
        db.dispose()
    assert not (tmp_path / "spare.db-wal").exists()
