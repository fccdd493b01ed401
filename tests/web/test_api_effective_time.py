"""The API's ``at`` (when a change took effect): the CLI's ``--at`` on advance, facts and bulk moves.

Read by the same parser (engine.values.parse_datetime) and checked by the same back-dating rules
(engine/backdating.py) in the same service methods; the recorded time stays the server's clock and the
actor the caller. A bad ``at`` is a 422 with the code the CLI exits with (3, or 5 for a transition the
facts as they stood then refuse) and leaves the database as it was.
"""

from __future__ import annotations

import datetime as dt

import pytest

from webkit import NOW, OWN, ok as _ok, problem as _problem, snapshot

SECOND_OWN = "2016-성동구-금호1가동"
KST = dt.timezone(dt.timedelta(hours=9))




def _history(site, key: str) -> list[dict]:
    return _ok(site.get(f"/api/projects/{key}/history", "officer"))


def _hold(site, key: str, at: str | None = None, who: str = "coordinator", version: int = 1) -> dict:
    body = {"trigger": "hold", "note": "주민 의견 수렴", "version": version}
    if at is not None:
        body["at"] = at
    return _ok(site.post(f"/api/projects/{key}/advance", who, json=body))


def _recent(text: str) -> bool:
    """An ISO time within a few minutes of the real clock (the server records with it)."""
    moment = dt.datetime.fromisoformat(text)
    return abs(dt.datetime.now(dt.timezone.utc) - moment) < dt.timedelta(minutes=5)


def _meeting(site, key: str, held_on: dt.date) -> None:
    """A resident meeting recorded as ``participation add`` does (no API route records participation)."""
    from engine.catalog import Catalog
    from programme.records import ProgrammeService, participation
    from programme.repository import SqlProgrammeStore
    from storage.db import Database
    from workflows import SHIPPED_DIR

    db = Database(site.url)
    try:
        service = ProgrammeService(SqlProgrammeStore(db), Catalog.from_dirs([SHIPPED_DIR]))
        entry = participation(key=key, kind="resident_meeting", held_on=held_on.isoformat())
        service.add_participation(entry, actor="seed", now=dt.datetime.now(dt.timezone.utc), tz=KST)
    finally:
        db.dispose()


# ------------------------------------------------------------------------------------------------
# A back-dated change: effective then, recorded now, by the caller


def test_a_back_dated_advance_is_effective_then_and_recorded_now(site) -> None:
    key = site.keys["own"]
    moved = _hold(site, key, at="2026-03-10T14:00+09:00")
    assert moved["state"] == "on_hold" and moved["version"] == 2
    assert moved["entered_at"].startswith("2026-03-10")  # status: entered on the effective day
    assert _ok(site.get(f"/api/projects/{key}", "coordinator"))["entered_at"] == moved["entered_at"]

    last = _history(site, key)[-1]
    assert (last["kind"], last["trigger"], last["actor"]) == ("transition", "hold", "coordinator")
    assert last["at"] == "2026-03-10T14:00:00+09:00"
    assert _recent(last["recorded_at"])  # the server's clock, not the effective time


def test_at_reads_as_the_cli_reads_it(site) -> None:
    """A date alone is its midnight in local time (Asia/Seoul); an offset is kept; ``Z`` is UTC."""
    key = site.keys["own"]
    _hold(site, key, at="2026-03-10")
    assert _history(site, key)[-1]["at"] == "2026-03-10T00:00:00+09:00"
    _ok(site.post(f"/api/projects/{key}/advance", "coordinator",
                  json={"trigger": "resume", "version": 2, "at": "2026-03-11T01:00:00Z"}))
    assert _history(site, key)[-1]["at"] == "2026-03-11T10:00:00+09:00"


def test_without_at_the_change_is_effective_now(site) -> None:
    key = site.keys["own"]
    _hold(site, key)
    last = _history(site, key)[-1]
    assert _recent(last["at"]) and _recent(last["recorded_at"])


def test_a_back_dated_fact(site) -> None:
    key = site.keys["own"]
    done = _ok(site.post(f"/api/projects/{key}/facts", "coordinator",
                         json={"name": "design_revisions", "value": 2, "version": 1, "at": "2026-03-05"}))
    assert done["facts"]["design_revisions"] == 2
    last = _history(site, key)[-1]
    assert (last["kind"], last["actor"], last["at"]) == ("fact", "coordinator", "2026-03-05T00:00:00+09:00")
    assert _recent(last["recorded_at"])


def test_the_guards_read_the_facts_as_they_stood_then(site) -> None:
    """Rule 4: ``agree`` needs a resident meeting; dated before the meeting, it is a refused transition."""
    key = site.keys["own"]
    _meeting(site, key, dt.date(2026, 3, 20))
    version = _ok(site.get(f"/api/projects/{key}", "coordinator"))["version"]
    before = snapshot(site.url)
    refused = _problem(site.post(f"/api/projects/{key}/advance", "coordinator",
                                 json={"trigger": "agree", "version": version, "at": "2026-03-15"}), 422, 5)
    assert refused["type"].endswith("transition-refused")
    assert refused["reason"].startswith("on 2026-03-15 00:00 KST")  # in the server's zone, as the CLI says
    assert "resident_meetings" in refused["reason"]
    assert snapshot(site.url) == before
    moved = _ok(site.post(f"/api/projects/{key}/advance", "coordinator",
                          json={"trigger": "agree", "version": version, "at": "2026-03-21"}))
    assert moved["state"] == "agreement" and moved["entered_at"].startswith("2026-03-21")


# ------------------------------------------------------------------------------------------------
# A bad ``at``: 422, code 3 (as the CLI's exit 3), the field named, nothing written


def _future() -> str:
    return (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)).isoformat()


BEFORE_CREATION = (NOW - dt.timedelta(days=1)).date().isoformat()

BAD_AT = {
    "unparseable": ("next tuesday", "not a date-time"),
    "out of range": ("1999-12-31", "outside the years"),
    "in the future": (None, "in the future"),
    "before creation": (BEFORE_CREATION, "before the project"),
}


@pytest.mark.parametrize("case", sorted(BAD_AT))
@pytest.mark.parametrize("route", ["advance", "facts"])
def test_a_bad_at_is_refused_and_writes_nothing(site, route: str, case: str) -> None:
    key = site.keys["own"]
    at, says = BAD_AT[case]
    body = ({"trigger": "hold", "note": "n", "version": 1} if route == "advance"
            else {"name": "design_revisions", "value": 1, "version": 1})
    before = snapshot(site.url)
    refused = _problem(site.post(f"/api/projects/{key}/{route}", "coordinator",
                                 json={**body, "at": at or _future()}), 422, 3)
    assert refused["field"] == "at" and says in refused["detail"]
    assert snapshot(site.url) == before


def test_a_transition_before_the_latest_change_of_state_is_refused(site) -> None:
    """Rule 3: the states of a history follow each other in date order."""
    key = site.keys["own"]
    _hold(site, key, at="2026-03-10")
    before = snapshot(site.url)
    refused = _problem(site.post(f"/api/projects/{key}/advance", "coordinator",
                                 json={"trigger": "resume", "version": 2, "at": "2026-03-05"}), 422, 3)
    assert refused["field"] == "at" and "before the project entered its current state" in refused["detail"]
    assert "2026-03-05 00:00 KST is before" in refused["detail"] and "2026-03-10 00:00 KST" in refused["detail"]
    assert snapshot(site.url) == before


def test_a_fact_before_the_latest_change_of_state_is_refused(site) -> None:
    """Rule 6: the guards of that change read the fact as it stood then."""
    key = site.keys["own"]
    _hold(site, key, at="2026-03-10")
    before = snapshot(site.url)
    refused = _problem(site.post(f"/api/projects/{key}/facts", "coordinator",
                                 json={"name": "design_revisions", "value": 1, "version": 2, "at": "2026-03-05"}),
                       422, 3)
    assert refused["field"] == "at" and "latest change of state" in refused["detail"]
    assert snapshot(site.url) == before
    _ok(site.post(f"/api/projects/{key}/facts", "coordinator",  # after it, or without at: recorded
                  json={"name": "design_revisions", "value": 1, "version": 2, "at": "2026-03-11"}))


def test_a_fact_before_it_was_last_set_is_refused(site) -> None:
    """Rule 5: its value now is the value its dated history ends with."""
    key = site.keys["own"]
    _ok(site.post(f"/api/projects/{key}/facts", "coordinator",
                  json={"name": "design_revisions", "value": 2, "version": 1, "at": "2026-03-10"}))
    before = snapshot(site.url)
    refused = _problem(site.post(f"/api/projects/{key}/facts", "coordinator",
                                 json={"name": "design_revisions", "value": 1, "version": 2, "at": "2026-03-05"}),
                       422, 3)
    assert "design_revisions was last set" in refused["detail"]
    assert snapshot(site.url) == before


@pytest.mark.parametrize("at", ["", 42, "2026-03-10T14:00+09:00" + " " * 40])
def test_at_that_is_not_a_short_string_fails_validation(site, at) -> None:
    before = snapshot(site.url)
    refused = _problem(site.post(f"/api/projects/{site.keys['own']}/advance", "coordinator",
                                 json={"trigger": "hold", "note": "n", "version": 1, "at": at}), 422, 3)
    assert any(e["field"] == "at" for e in refused["errors"])
    assert snapshot(site.url) == before


# ------------------------------------------------------------------------------------------------
# Who may: the scope comes first, and the actor is the caller whatever ``at`` says


def test_at_does_not_reach_another_district_or_a_reader(site) -> None:
    before = snapshot(site.url)
    _problem(site.post(f"/api/projects/{site.keys['other']}/advance", "coordinator",
                       json={"trigger": "hold", "note": "n", "version": 1, "at": BEFORE_CREATION}), 404, 4)
    _problem(site.post(f"/api/projects/{site.keys['own']}/advance", "viewer_own",
                       json={"trigger": "hold", "note": "n", "version": 1, "at": "2026-03-10"}), 403, 9)
    assert snapshot(site.url) == before


@pytest.mark.parametrize("route", ["undo", "edit", "retire"])
def test_corrections_take_no_at(site, route: str) -> None:
    """Like ``dongflow undo``, ``project edit`` and ``project retire`` (no ``--at``): a correction of the
    record is dated when it is made, so ``at`` is an unknown field there."""
    key = site.keys["own"]
    _hold(site, key)
    before = snapshot(site.url)
    body = {"note": "n", "version": 2, "at": "2026-03-10", **({"target": "2016-12-31"} if route == "edit" else {})}
    refused = _problem(site.post(f"/api/projects/{key}/{route}", "coordinator", json=body), 422, 3)
    assert any(e["field"] == "at" for e in refused["errors"])
    assert snapshot(site.url) == before


# ------------------------------------------------------------------------------------------------
# Bulk moves: one ``at`` for every project, each checked as a single advance is


def test_bulk_advance_with_at(site) -> None:
    keys = [site.keys["own"], SECOND_OWN]
    moved = _ok(site.post("/api/bulk/advance", "coordinator",
                          json={"trigger": "hold", "note": "합동 보류", "keys": keys, "at": "2026-03-10T09:00+09:00"}))
    assert sorted(m["key"] for m in moved["moves"]) == sorted(keys) and moved["refused"] == []
    for key in keys:
        last = _history(site, key)[-1]
        assert (last["trigger"], last["actor"], last["at"]) == ("hold", "coordinator", "2026-03-10T09:00:00+09:00")
        assert last["data"]["batch"] == moved["batch"] and _recent(last["recorded_at"])
        assert _ok(site.get(f"/api/projects/{key}", "coordinator"))["entered_at"].startswith("2026-03-10")


def test_bulk_dry_run_with_at_checks_each_project_and_writes_nothing(site) -> None:
    _hold(site, SECOND_OWN, at="2026-03-10")
    before = snapshot(site.url)
    plan = _ok(site.post("/api/bulk/advance", "coordinator", json={
        "trigger": "cancel", "note": "n", "where": {"gu": OWN}, "at": "2026-03-05", "dry_run": True}))
    assert [m["key"] for m in plan["moves"]] == [site.keys["own"]]
    assert [r["key"] for r in plan["refused"]] == [SECOND_OWN]
    assert "before the project entered its current state" in plan["refused"][0]["reason"]
    assert snapshot(site.url) == before


@pytest.mark.parametrize("case", ["unparseable", "in the future"])
def test_bulk_with_a_bad_at_is_invalid_input(site, case: str) -> None:
    """Unreadable or in the future is about the date, not a project: code 3, as the CLI's exit 3."""
    at, says = BAD_AT[case]
    before = snapshot(site.url)
    refused = _problem(site.post("/api/bulk/advance", "coordinator", json={
        "trigger": "hold", "note": "n", "keys": [site.keys["own"]], "at": at or _future()}), 422, 3)
    assert refused["field"] == "at" and says in refused["detail"]
    assert snapshot(site.url) == before


def test_bulk_with_at_before_a_projects_creation_refuses_it(site) -> None:
    """Before a project's creation refuses that project (code 5, as the CLI's exit 5): all or nothing."""
    before = snapshot(site.url)
    refused = _problem(site.post("/api/bulk/advance", "coordinator", json={
        "trigger": "hold", "note": "n", "keys": [site.keys["own"], SECOND_OWN], "at": BEFORE_CREATION}), 422, 5)
    assert sorted(r["key"] for r in refused["refused"]) == sorted([site.keys["own"], SECOND_OWN])
    assert snapshot(site.url) == before
