"""The API's corrections (undo, edit, retire) and bulk moves, through the real application on each backend.

The rules are the scoped service's (engine/access.py); these tests check that each route reaches them:
another district's project is a missing one (404), a caller without write is refused (403), a stale
version is a 409, bad input a 422, and every refusal leaves the database as it was.
"""

from __future__ import annotations

from urllib.parse import unquote

import pytest

from webkit import OTHER, OWN, ok as _ok, problem as _problem, snapshot

SECOND_OWN = "2016-성동구-금호1가동"
SECOND_OTHER = "2017-종로구-사직동"




def _hold(site, key: str, who: str = "officer", version: int = 1) -> dict:
    return _ok(site.post(f"/api/projects/{key}/advance", who,
                         json={"trigger": "hold", "note": "주민 의견 수렴", "version": version}))


def _history(site, key: str) -> list[dict]:
    return _ok(site.get(f"/api/projects/{key}/history", "officer"))


# ------------------------------------------------------------------------------------------------
# Success, recorded under the caller's name


def test_undo_reverts_the_last_transition_as_the_caller(site) -> None:
    key = site.keys["own"]
    _hold(site, key)
    done = _ok(site.post(f"/api/projects/{key}/undo", "coordinator", json={"note": "잘못 누름", "version": 2}))
    assert done["key"] == key and done["state"] == "survey" and done["version"] == 3
    last = _history(site, key)[-1]
    assert (last["kind"], last["actor"], last["note"], last["from"], last["to"]) == \
        ("undone", "coordinator", "잘못 누름", "on_hold", "survey")

    before = snapshot(site.url)  # nothing left to undo: refused by the record, nothing written
    again = _problem(site.post(f"/api/projects/{key}/undo", "coordinator", json={"note": "다시", "version": 3}),
                     422, 5)
    assert again["key"] == key and "nothing to undo" in again["reason"]
    assert snapshot(site.url) == before


def test_edit_corrects_the_record_as_the_caller(site) -> None:
    key = site.keys["own"]
    done = _ok(site.post(f"/api/projects/{key}/edit", "coordinator",
                         json={"target": "2016-12-31", "note": "목표일 정정", "version": 1}))
    assert done["target"] == "2016-12-31" and done["version"] == 2
    last = _history(site, key)[-1]
    assert (last["kind"], last["actor"]) == ("edited", "coordinator")
    assert last["data"]["new"] == {"target": "2016-12-31"}

    renamed = _ok(site.post(f"/api/projects/{key}/edit", "officer",
                            json={"key": f"{key}-2", "note": "키 정정", "version": 2}))
    assert renamed["key"] == f"{key}-2"
    old = site.get(f"/api/projects/{key}", "officer")  # the old key still finds it, naming the new one
    assert _ok(old)["key"] == f"{key}-2" and unquote(old.headers["content-location"]).endswith(f"/{key}-2")
    assert _history(site, f"{key}-2")[-1]["actor"] == "officer"


def test_retire_takes_the_project_out_of_listings(site) -> None:
    key = site.keys["other"]
    assert _ok(site.get("/api/projects", "officer"))["total"] == 4
    done = _ok(site.post(f"/api/projects/{key}/retire", "officer", json={"note": "중복 입력", "version": 1}))
    assert done["key"] == key and done["retired_at"] and done["triggers"] == []
    assert _ok(site.get("/api/projects", "officer"))["total"] == 3
    assert _ok(site.get(f"/api/projects/{key}", "officer"))["retired_at"] == done["retired_at"]
    assert "retired_at" not in _ok(site.get(f"/api/projects/{site.keys['own']}", "officer"))
    last = _history(site, key)[-1]
    assert (last["kind"], last["actor"], last["note"]) == ("retired", "officer", "중복 입력")

    before = snapshot(site.url)  # a retired project takes no more changes
    refused = _problem(site.post(f"/api/projects/{key}/advance", "officer",
                                 json={"trigger": "hold", "note": "n", "version": 2}), 422, 5)
    assert "retired" in refused["reason"]
    _problem(site.post(f"/api/projects/{key}/retire", "officer", json={"note": "again", "version": 2}), 422, 5)
    assert snapshot(site.url) == before


# ------------------------------------------------------------------------------------------------
# Refusals: another district, no write, a stale version, bad input -- each writes nothing

CORRECTIONS = {
    "undo": {"note": "n", "version": 2},
    "edit": {"target": "2016-12-31", "note": "n", "version": 2},
    "retire": {"note": "n", "version": 2},
}


@pytest.mark.parametrize("route", sorted(CORRECTIONS))
def test_another_districts_project_is_a_missing_one(site, route: str) -> None:
    other = site.keys["other"]
    _hold(site, other)
    before = snapshot(site.url)
    hidden = _problem(site.post(f"/api/projects/{other}/{route}", "coordinator", json=CORRECTIONS[route]), 404, 4)
    missing = _problem(site.post(f"/api/projects/2016-종로구-없는동/{route}", "coordinator",
                                 json=CORRECTIONS[route]), 404, 4)
    assert (hidden["title"], hidden["type"]) == (missing["title"], missing["type"])
    assert snapshot(site.url) == before


def test_a_coordinator_may_not_move_a_project_into_another_district(site) -> None:
    before = snapshot(site.url)
    refused = _problem(site.post(f"/api/projects/{site.keys['own']}/edit", "coordinator",
                                 json={"gu": OTHER, "dong": "교남동", "note": "n", "version": 1}), 403, 9)
    assert OTHER in refused["detail"]
    assert snapshot(site.url) == before


@pytest.mark.parametrize("who", ["viewer_own", "viewer_all", "admin"])
def test_callers_without_write_are_refused(site, who: str) -> None:
    key = site.keys["own"]
    _hold(site, key)
    before = snapshot(site.url)
    for route, body in CORRECTIONS.items():
        _problem(site.post(f"/api/projects/{key}/{route}", who, json=body), 403, 9)
    for body in ({"trigger": "resume", "keys": [key]}, {"trigger": "resume", "where": {"gu": OWN}, "dry_run": True}):
        _problem(site.post("/api/bulk/advance", who, json=body), 403, 9)
    assert snapshot(site.url) == before


@pytest.mark.parametrize("route", sorted(CORRECTIONS))
def test_a_stale_version_is_a_conflict(site, route: str) -> None:
    key = site.keys["own"]
    _hold(site, key)
    before = snapshot(site.url)
    stale = _problem(site.post(f"/api/projects/{key}/{route}", "coordinator",
                               json={**CORRECTIONS[route], "version": 1}), 409, 6)
    assert stale["key"] == key
    assert snapshot(site.url) == before


BAD_CORRECTIONS = [
    ("undo", {"version": 2}, "note"),  # a correction needs a note
    ("undo", {"note": "   ", "version": 2}, "note"),
    ("undo", {"note": "n"}, "version"),
    ("retire", {"note": "n", "version": 0}, "version"),
    ("retire", {"note": "n", "version": 2, "actor": "someone else"}, "actor"),  # the actor is who signed in
    ("edit", {"note": "n", "version": 2}, None),  # nothing to change
    ("edit", {"year": 1800, "note": "n", "version": 2}, "year"),
    ("edit", {"target": "2016-02-30", "note": "n", "version": 2}, "target"),
    ("edit", {"dong": "마정동", "note": "n", "version": 2}, "dong"),  # not a dong of 성동구
    ("edit", {"key": "2016-성동구-마장동\x00", "note": "n", "version": 2}, "key"),
]


@pytest.mark.parametrize(("route", "body", "field"), BAD_CORRECTIONS)
def test_bad_input_is_422_and_writes_nothing(site, route: str, body: dict, field: str | None) -> None:
    key = site.keys["own"]
    _hold(site, key)
    before = snapshot(site.url)
    problem = _problem(site.post(f"/api/projects/{key}/{route}", "coordinator", json=body), 422, 3)
    if field is not None:
        fields = [e["field"] for e in problem.get("errors", [])] + [problem.get("field")]
        assert any(f and f.split(".")[0] == field for f in fields), problem
    assert snapshot(site.url) == before


# ------------------------------------------------------------------------------------------------
# Bulk moves


def test_bulk_dry_run_writes_nothing(site) -> None:
    before = snapshot(site.url)
    plan = _ok(site.post("/api/bulk/advance", "officer",
                         json={"trigger": "hold", "note": "합동 보류", "where": {"gu": "성동", "state": "현장조사"},
                               "dry_run": True}))
    assert plan["dry_run"] is True and plan["refused"] == []
    assert plan["moves"] == [{"key": k, "from": "survey", "to": "on_hold"}
                             for k in sorted([site.keys["own"], SECOND_OWN])]
    assert snapshot(site.url) == before


def test_bulk_moves_all_or_nothing_unless_partial(site) -> None:
    own = site.keys["own"]
    _hold(site, own)
    body = {"trigger": "hold", "note": "합동 보류", "keys": [own, SECOND_OWN]}
    before = snapshot(site.url)
    refused = _problem(site.post("/api/bulk/advance", "coordinator", json=body), 422, 5)
    assert [r["key"] for r in refused["refused"]] == [own] and "not allowed" in refused["refused"][0]["reason"]
    assert snapshot(site.url) == before

    moved = _ok(site.post("/api/bulk/advance", "coordinator", json={**body, "partial": True}))
    assert moved["dry_run"] is False and moved["trigger"] == "hold"
    assert moved["moves"] == [{"key": SECOND_OWN, "from": "survey", "to": "on_hold"}]
    assert [r["key"] for r in moved["refused"]] == [own]
    last = _history(site, SECOND_OWN)[-1]
    assert (last["actor"], last["trigger"], last["data"]["batch"]) == ("coordinator", "hold", moved["batch"])
    assert len(_history(site, own)) == 2  # the refused one did not move


def test_bulk_moves_only_the_callers_districts(site) -> None:
    everyone = {site.keys["own"], SECOND_OWN, site.keys["other"], SECOND_OTHER}
    plan = _ok(site.post("/api/bulk/advance", "coordinator",
                         json={"trigger": "hold", "note": "n", "where": {"year": 2016}, "dry_run": True}))
    assert {m["key"] for m in plan["moves"]} == {site.keys["own"], SECOND_OWN}
    assert _ok(site.post("/api/bulk/advance", "officer", json={"trigger": "hold", "note": "n", "where": {
        "state": "survey"}, "dry_run": True}))["moves"].__len__() == len(everyone)

    before = snapshot(site.url)
    _problem(site.post("/api/bulk/advance", "coordinator",  # narrowed to nothing
                       json={"trigger": "hold", "note": "n", "where": {"gu": OTHER}}), 422, 3)
    listed = _problem(site.post("/api/bulk/advance", "coordinator", json={
        "trigger": "hold", "note": "n", "keys": [SECOND_OWN, site.keys["other"], "2016-종로구-없는동"]}), 422, 5)
    hidden, missing = listed["refused"]  # another district's key reads exactly like a missing one
    assert hidden["key"] == site.keys["other"] and missing["key"] == "2016-종로구-없는동"
    assert hidden["reason"].replace(hidden["key"], "K") == missing["reason"].replace(missing["key"], "K")
    assert snapshot(site.url) == before

    partial = _ok(site.post("/api/bulk/advance", "coordinator", json={
        "trigger": "hold", "note": "n", "keys": [SECOND_OWN, site.keys["other"]], "partial": True}))
    assert [m["key"] for m in partial["moves"]] == [SECOND_OWN]
    assert [r["key"] for r in partial["refused"]] == [site.keys["other"]]
    assert _ok(site.get(f"/api/projects/{site.keys['other']}", "officer"))["version"] == 1


BAD_BULK = [
    ({"trigger": "hold", "note": "n"}, "where"),  # neither where nor keys
    ({"trigger": "hold", "note": "n", "where": {"gu": OWN}, "keys": [SECOND_OWN]}, "keys"),  # both
    ({"trigger": "hold", "note": "n", "where": {}}, "where"),
    ({"trigger": "hold", "note": "n", "where": {"gu": "없는구"}}, "where.gu"),
    ({"trigger": "hold", "note": "n", "where": {"state": "nowhere"}}, "where.state"),
    ({"trigger": "hold", "note": "n", "where": {"gu": OWN, "colour": "red"}}, "where"),
    ({"trigger": "hold", "note": "n", "keys": []}, "keys"),
    ({"trigger": "hold", "note": "n", "keys": [SECOND_OWN, SECOND_OWN]}, "keys"),
    ({"trigger": "", "note": "n", "keys": [SECOND_OWN]}, "trigger"),
]


@pytest.mark.parametrize(("body", "field"), BAD_BULK)
def test_bulk_bad_input_is_422_and_writes_nothing(site, body: dict, field: str) -> None:
    before = snapshot(site.url)
    problem = _problem(site.post("/api/bulk/advance", "officer", json=body), 422, 3)
    fields = [e["field"] for e in problem.get("errors", [])] + [problem.get("field")]
    assert any(f and f.startswith(field) for f in fields), problem
    assert snapshot(site.url) == before
