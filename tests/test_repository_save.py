"""SqlProjectStore.save with its prepared statements: the versioned UPDATE and the event INSERT are
one transaction; a stale version is refused (ChangedMeanwhile) and writes nothing; histories replay."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from engine import project as proj
from engine.catalog import Catalog
from engine.errors import ChangedMeanwhile, ProjectNotFound
from engine.service import ProjectSpec, Service
from storage.db import Database
from storage.repository import SqlProjectStore
from storage.schema import upgrade
from support import without_participation
from workflows import SHIPPED_DIR

NOW = dt.datetime(2017, 3, 2, 9, tzinfo=dt.timezone.utc)


@pytest.fixture()
def service(tmp_path: Path) -> Service:
    db = Database(f"sqlite:///{tmp_path / 's.db'}")
    upgrade(db)
    svc = Service(SqlProjectStore(db), without_participation(Catalog.from_dirs([SHIPPED_DIR])))
    svc.add_project(ProjectSpec("2017-성동구-마장동", "성동구", "마장동", 2017), actor="a", now=NOW)
    return svc


def test_save_writes_state_and_one_event_and_refuses_a_stale_version(service: Service) -> None:
    key = "2017-성동구-마장동"
    service.set_fact(key, "resident_meetings", "2", actor="a", now=NOW)
    stale = service.store.get(key)
    service.advance(key, "agree", actor="a", now=NOW)

    wf = service.workflow_of(stale)
    step = service.catalog.machine(wf).fire(key, stale.state, "hold", stale.facts, stale.previous_state, "x")
    updated, event = proj.apply_step(stale, step, actor="b", at=NOW, now=NOW, note="x")
    with pytest.raises(ChangedMeanwhile):
        service.store.save(updated, event)

    project = service.store.get(key)
    events = service.store.events(key)
    assert (project.state, project.version, [e.seq for e in events]) == ("agreement", 3, [1, 2, 3])
    replayed = proj.replay(events)
    assert (replayed.state, dict(replayed.facts), replayed.version) == (project.state, dict(project.facts), 3)
    assert project.reached["agreement"] == NOW and project.entered_at == NOW


def test_save_of_an_unknown_project_says_not_found(service: Service) -> None:
    p = service.store.get("2017-성동구-마장동")
    ghost = proj.Project(**{**p.__dict__, "key": "nope", "version": p.version + 1})
    _, event = proj.set_fact(p, "resident_meetings", 1, actor="a", now=NOW)
    with pytest.raises(ProjectNotFound):
        service.store.save(ghost, event)
