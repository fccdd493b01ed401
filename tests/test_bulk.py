"""Bulk moves (SQLite and PostgreSQL): a dry run changes nothing, a real run is one transaction whose
events share a batch id, all or nothing unless partial, scoped to the caller's districts; and a bulk
move racing single moves in another process loses no update and doubles none."""

from __future__ import annotations

import datetime as dt
import multiprocessing
from pathlib import Path

import pytest

import race
from engine.access import Principal, ScopedService
from engine.bulk import BulkRefused, read_keys
from engine.errors import ChangedMeanwhile, Forbidden, InvalidInput
from engine.ports import ProjectQuery
from engine.project import replay
from engine.service import ProjectSpec, Service
from support import dump

PLACES = [("성동구", "마장동"), ("성동구", "사근동"), ("성동구", "송정동"), ("성북구", "월곡1동"), ("성북구", "석관동")]


@pytest.fixture
def svc(store, core_catalog) -> Service:
    return Service(store, core_catalog)


@pytest.fixture
def keys(svc: Service, now: dt.datetime) -> list[str]:
    """Five projects in survey; all but 송정동 have held a resident meeting (so may agree)."""
    out = []
    for gu, dong in PLACES:
        key = f"2017-{gu}-{dong}"
        svc.add_project(ProjectSpec(key, gu, dong, 2017), actor="kim", now=now)
        if dong != "송정동":
            svc.set_fact(key, "resident_meetings", "1", actor="kim", now=now)
        out.append(key)
    return out


def test_dry_run_lists_moves_and_refusals_and_changes_nothing(svc, keys, now) -> None:
    before = dump(svc.store.db.url)
    result = svc.bulk_advance("agree", actor="a", now=now, query=ProjectQuery(gu="성동구", year=2017), dry_run=True)
    assert dump(svc.store.db.url) == before
    assert [(m.key, m.from_state, m.to_state) for m in result.moves] == [
        ("2017-성동구-마장동", "survey", "agreement"), ("2017-성동구-사근동", "survey", "agreement")]
    assert [r.key for r in result.refusals] == ["2017-성동구-송정동"]
    assert "resident_meetings is 0" in result.refusals[0].reason


def test_all_or_nothing_then_partial(svc, keys, now) -> None:
    before = dump(svc.store.db.url)
    with pytest.raises(BulkRefused) as info:
        svc.bulk_advance("agree", actor="a", now=now, query=ProjectQuery(gu="성동구"), note="합동 협약식")
    assert info.value.exit_code == 5 and "1 of 3 projects refuses; nothing moved" in str(info.value)
    assert dump(svc.store.db.url) == before
    result = svc.bulk_advance("agree", actor="a", now=now, query=ProjectQuery(gu="성동구"), note="합동 협약식",
                              partial=True)
    assert len(result.moves) == 2 and [r.key for r in result.refusals] == ["2017-성동구-송정동"]
    batches = set()
    for m in result.moves:
        events = svc.history(m.key)
        assert (events[-1].trigger, events[-1].note, events[-1].actor) == ("agree", "합동 협약식", "a")
        batches.add(events[-1].data["batch"])
        assert replay(events).state == svc.project(m.key).state == "agreement"
    assert batches == {result.batch}
    assert svc.project("2017-성동구-송정동").state == "survey"


def test_keys_from_a_list_and_unknown_keys(svc, keys, now, tmp_path: Path) -> None:
    result = svc.bulk_advance("agree", actor="a", now=now, keys=[keys[0], "nope", keys[3]], partial=True)
    assert [m.key for m in result.moves] == [keys[0], keys[3]]
    assert [(r.key, "no project" in r.reason) for r in result.refusals] == [("nope", True)]
    assert read_keys("# cohort\n2017-a\n\n 2017-b \n", "f") == ["2017-a", "2017-b"]
    with pytest.raises(InvalidInput, match="listed twice"):
        read_keys("a\nb\na\n", "f")
    with pytest.raises(InvalidInput, match="no keys"):
        read_keys("# only a comment\n", "f")


def test_a_stale_project_fails_the_whole_batch_unless_partial(svc, keys, now) -> None:
    items = []
    for key in keys[:2]:
        project = svc.project(key)
        updated, event = svc.advance(key, "agree", actor="a", now=now)  # stored: version + 1
        items.append((key, updated, event))
    # the same moves again, from the versions they had before: both stale now
    before = dump(svc.store.db.url)
    with pytest.raises(ChangedMeanwhile):
        svc.store.save_batch(items)
    assert dump(svc.store.db.url) == before
    assert svc.store.save_batch(items, skip_stale=True) == keys[:2]
    assert dump(svc.store.db.url) == before
    del project


def test_bulk_moves_are_scoped(svc, keys, now) -> None:
    coordinator = ScopedService(svc, Principal.of("c", "coordinator", ["성북구"]))
    result = coordinator.bulk_advance("agree", now=now, query=ProjectQuery(year=2017), actor="ignored")
    assert sorted(m.key for m in result.moves) == ["2017-성북구-석관동", "2017-성북구-월곡1동"]
    assert svc.history("2017-성북구-석관동")[-1].actor == "c"
    result = coordinator.bulk_advance("agree", now=now, keys=["2017-성동구-마장동"], dry_run=True)
    assert [r.reason for r in result.refusals] == ["no project with key '2017-성동구-마장동'"]
    before = dump(svc.store.db.url)
    with pytest.raises(Forbidden):
        ScopedService(svc, Principal.of("v", "viewer")).bulk_advance("agree", now=now, query=ProjectQuery())
    assert dump(svc.store.db.url) == before


def test_naming_projects_both_ways_or_neither_is_an_error(svc, keys, now) -> None:
    with pytest.raises(InvalidInput, match="either a filter"):
        svc.bulk_advance("agree", actor="a", now=now, query=ProjectQuery(), keys=keys)
    with pytest.raises(InvalidInput, match="either a filter"):
        svc.bulk_advance("agree", actor="a", now=now)


# -- racing single moves in another process ------------------------------------------------------
def race_bulk(url: str, keys: list[str], start: dt.datetime, partial: bool) -> dict[str, list[str]]:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=race.bulk_advance, args=(url, keys, "agree", start, barrier, results, "bulk", partial)),
        ctx.Process(target=race.single_moves, args=(url, list(reversed(keys)), "agree", start, barrier, results,
                                                    "single")),
    ]
    for p in procs:
        p.start()
    outcomes = dict(results.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    return outcomes


@pytest.mark.parametrize("partial", [True, False], ids=["partial", "all-or-nothing"])
def test_a_bulk_move_racing_single_moves(initialised_db, svc, now, partial) -> None:
    keys = []
    for gu, dong in PLACES:
        key = f"2017-{gu}-{dong}"
        svc.add_project(ProjectSpec(key, gu, dong, 2017), actor="kim", now=now)
        svc.set_fact(key, "resident_meetings", "1", actor="kim", now=now)
        keys.append(key)
    outcomes = race_bulk(initialised_db, keys, now + dt.timedelta(minutes=1), partial)
    assert not any(o.startswith("error") for os_ in outcomes.values() for o in os_), outcomes
    moved_by = {}
    for name in ("bulk", "single"):
        for o in outcomes[name]:
            if o.startswith("moved "):
                assert o[6:] not in moved_by, outcomes  # nobody moved a project twice
                moved_by[o[6:]] = name
    assert sorted(moved_by) == sorted(keys), outcomes  # every project moved, by one of them
    for key in keys:
        project, events = svc.project(key), svc.history(key)
        agreed = [e for e in events if e.trigger == "agree"]
        assert len(agreed) == 1 and agreed[0].actor == moved_by[key]  # exactly one event, by the winner
        assert [e.seq for e in events] == list(range(1, project.version + 1))
        assert replay(events).state == project.state == "agreement"
    if not partial:  # all or nothing: the bulk move won every project, or lost and moved none
        assert outcomes["bulk"] in (["failed: ChangedMeanwhile"], [f"moved {k}" for k in keys]), outcomes


def test_a_back_dated_bulk_move_follows_the_back_dating_rules(svc, now) -> None:
    """Each project is checked as a single back-dated advance would be: the guards as the facts stood
    then, and never before the project entered its state."""
    start = now - dt.timedelta(days=40)
    for gu, dong, meeting_day in (("성동구", "마장동", 2), ("성동구", "사근동", 20)):
        key = f"2016-{gu}-{dong}"
        svc.add_project(ProjectSpec(key, gu, dong, 2016), actor="kim", now=now, at=start)
        svc.set_fact(key, "resident_meetings", "1", actor="kim", now=now, at=start + dt.timedelta(days=meeting_day))
    result = svc.bulk_advance("agree", actor="a", now=now, query=ProjectQuery(gu="성동구"),
                              at=start + dt.timedelta(days=10), dry_run=True)
    assert [m.key for m in result.moves] == ["2016-성동구-마장동"]
    assert [r.key for r in result.refusals] == ["2016-성동구-사근동"]
    assert "resident_meetings is 0" in result.refusals[0].reason  # as the facts stood on that day
    result = svc.bulk_advance("agree", actor="a", now=now, query=ProjectQuery(gu="성동구"),
                              at=start - dt.timedelta(days=1), dry_run=True)
    assert not result.moves and len(result.refusals) == 2
