"""Two coordinators, in two processes, advancing the same project at the same moment (SQLite and
PostgreSQL): in every round exactly one wins, the other gets ChangedMeanwhile, and nothing is lost or
doubled -- the events number 1..version and replay to the stored state."""

from __future__ import annotations

import datetime as dt
import multiprocessing

import pytest

import race
from engine.project import replay
from engine.service import ProjectSpec

ROUNDS = 6


def race_two(url: str, key: str, triggers_a: list[str], triggers_b: list[str], start: dt.datetime):
    ctx = multiprocessing.get_context("spawn")  # no inherited connections or locks
    barrier = ctx.Barrier(2)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=race.advance, args=(url, key, triggers, start, barrier, results, name))
        for name, triggers in (("A", triggers_a), ("B", triggers_b))
    ]
    for p in procs:
        p.start()
    outcomes = dict(results.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    return outcomes


@pytest.fixture
def in_tender(service, now):
    key = "2016-성동구-마장동"
    service.add_project(ProjectSpec(key, "성동구", "마장동", 2016), actor="setup", now=now)
    service.set_fact(key, "resident_meetings", "2", actor="setup", now=now)
    for trigger in ("agree", "present_design", "approve_design", "announce_tender"):
        service.advance(key, trigger, actor="setup", now=now)
    return key


def assert_history_consistent(store, key: str) -> None:
    project, events = store.get(key), store.events(key)
    assert [e.seq for e in events] == list(range(1, project.version + 1))
    r = replay(events)
    assert (r.state, r.previous_state, r.facts, r.reached, r.entered_at, r.version) == (
        project.state, project.previous_state, dict(project.facts), dict(project.reached), project.entered_at,
        project.version,
    )


def test_two_processes_same_trigger_every_round_one_winner(initialised_db, store, in_tender, now) -> None:
    before = store.get(in_tender)
    outcomes = race_two(initialised_db, in_tender, ["tender_failed"] * ROUNDS, ["tender_failed"] * ROUNDS, now)
    for round_ in range(ROUNDS):
        version = before.version + round_  # both read the same version: the race is real
        assert sorted(outcomes[n][round_] for n in "AB") == [f"lost from v{version}", f"won from v{version}"], outcomes
    after = store.get(in_tender)
    assert after.version == before.version + ROUNDS
    assert after.facts["failed_tenders"] == ROUNDS  # one per round: nothing doubled, nothing lost
    events = store.events(in_tender)[before.version:]
    winners = [n for r in range(ROUNDS) for n in "AB" if outcomes[n][r].startswith("won")]
    assert [e.actor for e in events] == winners
    assert [e.note for e in events] == [f"{w} round {r}" for r, w in enumerate(winners)]
    assert_history_consistent(store, in_tender)


def test_two_processes_different_transitions_only_one_applies(initialised_db, store, in_tender, now) -> None:
    before = store.get(in_tender)
    outcomes = race_two(initialised_db, in_tender, ["award"], ["cancel"], now)
    v = before.version
    assert sorted(outcomes["A"] + outcomes["B"]) == [f"lost from v{v}", f"won from v{v}"], outcomes
    after = store.get(in_tender)
    assert after.state == ("construction" if outcomes["A"][0].startswith("won") else "cancelled")
    assert after.version == before.version + 1
    assert_history_consistent(store, in_tender)
