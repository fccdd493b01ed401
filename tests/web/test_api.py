"""The HTTP API, driven through the real application (FastAPI's TestClient) on each backend."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from cli import cli
from webkit import NOW, OTHER, OWN, PASSWORD, problem as _problem, snapshot




def test_a_token_is_required(site) -> None:
    for path in ("/api/projects", f"/api/projects/{site.keys['own']}", "/api/overdue", "/api/workflows"):
        r = site.get(path)
        _problem(r, 401, 9)
        assert r.headers["www-authenticate"].startswith("Bearer")
    bad = site.client.get("/api/projects", headers={"Authorization": "Basic abc"})
    _problem(bad, 401, 9)


def test_bad_tokens_answer_alike(site) -> None:
    real = site.tokens["officer"]
    prefix = real.rsplit("_", 1)[0] if real.count("_") == 2 else "_".join(real.split("_", 2)[:2])
    cases = [real + "x", prefix + "_" + "A" * 43, "dft_000000000000_" + "A" * 43, "nonsense", "dft__", "x" * 5000]
    bodies = set()
    for token in cases:
        r = site.client.get("/api/projects", headers={"Authorization": f"Bearer {token}"})
        body = _problem(r, 401, 9)
        bodies.add(body["detail"])
    assert len(bodies) == 1  # an existing prefix with a wrong secret looks like an unknown token


def test_list_is_paginated_and_filtered_in_the_query(site) -> None:
    r = site.get("/api/projects?limit=1", "officer")
    assert r.status_code == 200, r.text
    page = r.json()
    assert page["total"] == 4 and len(page["items"]) == 1
    seen = [page["items"][0]["key"]]
    while page["next"]:
        page = site.client.get(page["next"], headers=site.headers("officer")).json()
        seen += [i["key"] for i in page["items"]]
    assert seen == sorted(seen) and len(seen) == 4

    mine = site.get("/api/projects?limit=1", "coordinator").json()
    assert mine["total"] == 2 and mine["items"][0]["gu"] == OWN and mine["next"]
    second = site.client.get(mine["next"], headers=site.headers("coordinator")).json()
    assert [i["gu"] for i in second["items"]] == [OWN] and second["next"] is None
    assert site.get(f"/api/projects?gu={OTHER}", "coordinator").json() == {"items": [], "total": 0, "next": None}
    assert site.get("/api/projects?year=2017", "officer").json()["total"] == 1
    assert site.get("/api/projects?state=survey&gu=" + OWN, "viewer_all").json()["total"] == 2
    levels = site.get("/api/projects?level=closed", "officer").json()
    assert levels["total"] == 0


def test_items_are_the_fields_of_status_json(site, runner) -> None:
    day = "2026-03-10"
    api = site.get(f"/api/projects/{site.keys['own']}?as_of={day}", "officer").json()
    out = runner.invoke(cli, ["status", site.keys["own"], "--json", "--as-of", day, "--db", site.url])
    assert out.exit_code == 0, out.output
    (cli_item,) = json.loads(out.stdout)
    triggers = api.pop("triggers")
    assert api == cli_item
    assert [t["trigger"] for t in triggers] == ["agree", "hold", "cancel"]
    agree = triggers[0]
    assert agree["unmet_guards"] == ["resident_meetings >= 1"] and not agree["note_required"]
    listed = site.get(f"/api/projects?as_of={day}&gu={OWN}", "officer").json()["items"]
    assert [i for i in listed if i["key"] == site.keys["own"]] == [cli_item]


def test_another_districts_project_is_a_missing_one(site) -> None:
    other = site.keys["other"]
    for path in (f"/api/projects/{other}", f"/api/projects/{other}/history"):
        hidden = _problem(site.get(path, "coordinator"), 404, 4)
        missing = _problem(site.get(path.replace(other, "2016-종로구-없는동"), "coordinator"), 404, 4)
        assert hidden["title"] == missing["title"] and hidden["type"] == missing["type"]
    before = snapshot(site.url)
    body = {"trigger": "hold", "note": "x", "version": 1}
    _problem(site.post(f"/api/projects/{other}/advance", "coordinator", json=body), 404, 4)
    assert snapshot(site.url) == before


def test_advance_records_the_user_and_guards_the_version(site) -> None:
    key = site.keys["own"]
    r = site.post(f"/api/projects/{key}/advance", "coordinator",
                  json={"trigger": "hold", "note": "주민 의견 수렴 중", "version": 1})
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "on_hold" and r.json()["version"] == 2
    history = site.get(f"/api/projects/{key}/history", "coordinator").json()
    assert [(e["seq"], e["actor"], e["trigger"]) for e in history] == [(1, "seed", None), (2, "coordinator", "hold")]
    assert history[1]["note"] == "주민 의견 수렴 중"

    before = snapshot(site.url)
    stale = _problem(site.post(f"/api/projects/{key}/advance", "coordinator",
                               json={"trigger": "resume", "version": 1}), 409, 6)
    assert stale["key"] == key
    assert snapshot(site.url) == before
    ok = site.post(f"/api/projects/{key}/advance", "officer", json={"trigger": "resume", "version": 2})
    assert ok.status_code == 200 and ok.json()["state"] == "survey"
    assert site.get(f"/api/projects/{key}/history", "officer").json()[-1]["actor"] == "officer"


def test_a_refused_transition_says_why_and_what_is_allowed(site) -> None:
    key = site.keys["own"]
    before = snapshot(site.url)
    refused = _problem(site.post(f"/api/projects/{key}/advance", "coordinator",
                                 json={"trigger": "agree", "version": 1}), 422, 5)
    assert refused["state"] == "survey" and "resident_meetings" in refused["reason"]
    assert "hold" in refused["allowed"]
    unknown = _problem(site.post(f"/api/projects/{key}/advance", "coordinator",
                                 json={"trigger": "fly", "version": 1}), 422, 4)
    assert unknown["trigger"] == "fly" and "agree" in unknown["allowed"]
    no_note = _problem(site.post(f"/api/projects/{key}/advance", "coordinator",
                                 json={"trigger": "hold", "version": 1}), 422, 5)
    assert "note" in no_note["detail"]
    invalid = _problem(site.post(f"/api/projects/{key}/advance", "coordinator", json={"trigger": "hold"}), 422, 3)
    assert invalid["errors"][0]["field"] == "version"
    extra = site.post(f"/api/projects/{key}/advance", "coordinator",
                      json={"trigger": "hold", "note": "n", "version": 1, "actor": "someone else"})
    _problem(extra, 422, 3)  # the actor is who signed in, never a field of the request
    assert snapshot(site.url) == before


def test_facts(site) -> None:
    key = site.keys["own"]
    r = site.post(f"/api/projects/{key}/facts", "coordinator",
                  json={"name": "design_revisions", "value": 2, "note": "보완 2회", "version": 1})
    assert r.status_code == 200, r.text
    assert r.json()["facts"]["design_revisions"] == 2 and r.json()["version"] == 2
    before = snapshot(site.url)
    _problem(site.post(f"/api/projects/{key}/facts", "coordinator",
                       json={"name": "design_revisions", "value": -1, "version": 2}), 422, 3)
    _problem(site.post(f"/api/projects/{key}/facts", "coordinator",
                       json={"name": "no_such_fact", "value": 1, "version": 2}), 422, 3)
    for digits in ("３", "٣", "1_0"):  # an integer fact takes the ASCII digits 0-9 only
        _problem(site.post(f"/api/projects/{key}/facts", "coordinator",
                           json={"name": "design_revisions", "value": digits, "version": 2}), 422, 3)
    counted = _problem(site.post(f"/api/projects/{key}/facts", "coordinator",
                                 json={"name": "resident_meetings", "value": 3, "version": 2}), 422, 3)
    assert "participation" in counted["detail"]
    _problem(site.post(f"/api/projects/{key}/facts", "viewer_own",
                       json={"name": "design_revisions", "value": 3, "version": 2}), 403, 9)
    _problem(site.post(f"/api/projects/{key}/facts", "admin",
                       json={"name": "design_revisions", "value": 3, "version": 2}), 403, 9)
    assert snapshot(site.url) == before


def test_overdue_is_limited_to_the_callers_districts(site) -> None:
    everything = site.get("/api/overdue?as_of=2026-12-31", "officer").json()
    assert {i["gu"] for i in everything} == {OWN, OTHER}
    mine = site.get("/api/overdue?as_of=2026-12-31", "coordinator").json()
    assert mine and {i["gu"] for i in mine} == {OWN}
    assert mine == [i for i in everything if i["gu"] == OWN]
    only = site.get("/api/overdue?as_of=2026-12-31&level=escalated", "officer").json()
    assert only and {i["level"] for i in only} == {"escalated"}
    _problem(site.get("/api/overdue?as_of=2026-02-30", "officer"), 422, 3)


def test_workflows_are_workflow_show_json(site, runner) -> None:
    out = runner.invoke(cli, ["--db", site.url, "workflow", "show", "space-improvement", "--json"])
    shown = json.loads(out.stdout)
    assert site.get("/api/workflows/space-improvement", "viewer_own").json() == shown
    assert shown["published"] is True and len(shown["content_hash"]) == 64  # stored when the seed added projects
    assert [w["id"] for w in site.get("/api/workflows", "viewer_own").json()] == ["space-improvement"]
    _problem(site.get("/api/workflows/nope", "viewer_own"), 404, 4)


def test_report_formats_and_districts(site) -> None:
    md = site.get("/api/report?format=md&as_of=2026-03-10", "coordinator")
    assert md.status_code == 200 and md.headers["content-type"].startswith("text/markdown")
    assert OWN in md.text and OTHER not in md.text
    _problem(site.get(f"/api/report?format=md&gu={OTHER}", "coordinator"), 403, 9)
    csv = site.get("/api/report?format=csv", "officer")
    assert csv.status_code == 200 and csv.content.startswith("\ufeff".encode())
    xlsx = site.get("/api/report?format=xlsx", "viewer_all")
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    assert "attachment" in xlsx.headers["content-disposition"]
    _problem(site.get("/api/report?format=pdf", "officer"), 422, 3)


def test_docs_work_offline(site) -> None:
    page = site.client.get("/docs")
    assert page.status_code == 200
    assert "cdn" not in page.text.lower() and "https://" not in page.text.replace("https://swagger.io", "")
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        assert f"/_docs-assets/{asset}" in page.text
        assert site.client.get(f"/_docs-assets/{asset}").status_code == 200
    doc = site.client.get("/openapi.json").json()
    assert doc["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    for path, ops in doc["paths"].items():
        for op in ops.values():
            assert op.get("security") or path == "/api/health", f"{path} has no security requirement"


def test_an_unexpected_error_is_a_logged_500_problem(site, monkeypatch, caplog) -> None:
    ctx = site.app.state.ctx

    def broken(key: str) -> list:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(ctx.service, "history", broken)
    r = site.get(f"/api/projects/{site.keys['own']}/history", "officer")
    body = _problem(r, 500, 1)
    assert "secret" not in r.text and "RuntimeError" not in r.text
    assert body["type"].endswith("internal")
    assert any("secret internal detail" in (rec.exc_text or str(rec.exc_info)) for rec in caplog.records)


def test_revoked_expired_and_disabled(site, runner) -> None:
    assert site.get("/api/projects", "viewer_all").status_code == 200
    assert runner.invoke(cli, ["token", "revoke", "viewer_all-token", "--db", site.url]).exit_code == 0
    _problem(site.get("/api/projects", "viewer_all"), 401, 9)
    assert runner.invoke(cli, ["user", "disable", "officer", "--db", site.url]).exit_code == 0
    _problem(site.get("/api/projects", "officer"), 401, 9)
    assert runner.invoke(cli, ["user", "disable", "officer", "--enable", "--db", site.url]).exit_code == 0
    assert site.get("/api/projects", "officer").status_code == 200

    from engine.access import Principal
    from engine.accounts import AccountService
    from storage.accounts import SqlAccountStore
    from storage.db import Database
    from webkit import CHEAP_HASHER

    db = Database(site.url)
    try:
        accounts = AccountService(SqlAccountStore(db), CHEAP_HASHER)
        now = dt.datetime.now(dt.timezone.utc)
        token = accounts.create_token(Principal.operator(), "short", role="viewer", now=now - dt.timedelta(days=2),
                                      expires_at=now - dt.timedelta(days=1))
    finally:
        db.dispose()
    r = site.client.get("/api/projects", headers={"Authorization": f"Bearer {token}"})
    _problem(r, 401, 9)


def test_authenticate(site) -> None:
    from engine.errors import NotAuthenticated

    ctx = site.app.state.ctx
    me = ctx.authenticate("coordinator", PASSWORD)
    assert (me.name, me.role, me.districts, me.display_name) == ("coordinator", "coordinator", frozenset({OWN}),
                                                                 "Coordinator")
    messages = set()
    for name, password in [("coordinator", "wrong password!"), ("nobody", PASSWORD), ("", ""), ("x" * 500, "y"),
                           ("coor dinator", PASSWORD)]:
        with pytest.raises(NotAuthenticated) as info:
            ctx.authenticate(name, password)
        messages.add(info.value.message)
    assert len(messages) == 1
    assert ctx.principal_for("officer").role == "officer"




def test_control_characters_are_invalid_input_not_a_database_error(site) -> None:
    """PostgreSQL refuses a NUL even in a comparison: it must be a 422 (code 3), never a 5xx."""
    for path in ("/api/projects/a%00b", "/api/projects/a%00b/history", "/api/projects?gu=a%00b",
                 "/api/projects?state=%00", "/api/overdue?gu=%00", "/api/report?format=md&gu=%00"):
        _problem(site.get(path, "officer"), 422, 3)
    before = snapshot(site.url)
    key = site.keys["own"]
    for body in ({"trigger": "hold", "note": "a\u0000b", "version": 1}, {"trigger": "ho\u0000ld", "version": 1}):
        _problem(site.client.post(f"/api/projects/{key}/advance", content=json.dumps(body),
                                  headers={**site.headers("officer"), "Content-Type": "application/json"}), 422, 3)
    assert snapshot(site.url) == before


def test_database_errors_do_not_name_the_database(site, monkeypatch) -> None:
    from engine.errors import DatabaseError

    def down(key: str) -> list:
        raise DatabaseError(f"cannot use {site.url}: connection refused")

    monkeypatch.setattr(site.app.state.ctx.service, "history", down)
    r = site.get(f"/api/projects/{site.keys['own']}/history", "officer")
    body = _problem(r, 503, 7)
    assert site.url not in r.text and "127.0.0.1" not in r.text and "sqlite" not in r.text
    assert "try again" in body["detail"]


def test_a_huge_body_is_refused_before_it_is_read(site) -> None:
    before = snapshot(site.url)
    body = json.dumps({"trigger": "hold", "note": "x" * (2 * 1024 * 1024), "version": 1})
    r = site.client.post(f"/api/projects/{site.keys['own']}/advance", content=body,
                         headers={**site.headers("officer"), "Content-Type": "application/json"})
    _problem(r, 413, 3)

    def chunks():  # no Content-Length: refused as soon as the limit is passed
        yield b'{"trigger": "hold", "version": 1, "note": "'
        for _ in range(40):
            yield b"x" * 65536
        yield b'"}'

    r = site.client.post(f"/api/projects/{site.keys['own']}/advance", content=chunks(),
                         headers={**site.headers("officer"), "Content-Type": "application/json"})
    assert r.status_code in (400, 413) and r.json()["code"] == 3
    assert snapshot(site.url) == before


def test_api_answers_are_not_cached_and_the_html_report_is_sandboxed(site) -> None:
    r = site.get("/api/projects", "officer")
    assert r.headers["cache-control"] == "no-store" and r.headers["x-content-type-options"] == "nosniff"
    assert site.get("/api/projects").headers["cache-control"] == "no-store"
    html = site.get("/api/report?format=html", "officer")
    assert html.status_code == 200 and html.headers["content-security-policy"] == "sandbox allow-scripts"


def test_concurrent_advances_one_wins_the_rest_are_409(site) -> None:
    """Eight clients send the same advance with the same version at once: one event, seven 409s."""
    from concurrent.futures import ThreadPoolExecutor

    from fastapi.testclient import TestClient

    key = site.keys["own"]
    barrier = __import__("threading").Barrier(8)

    def attempt(n: int) -> int:
        with TestClient(site.app, raise_server_exceptions=False) as client:
            barrier.wait()
            return client.post(f"/api/projects/{key}/advance", headers=site.headers("officer"),
                               json={"trigger": "hold", "note": f"client {n}", "version": 1}).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = sorted(pool.map(attempt, range(8)))
    assert statuses == [200] + [409] * 7
    history = site.get(f"/api/projects/{key}/history", "officer").json()
    assert [e["seq"] for e in history] == [1, 2] and history[1]["trigger"] == "hold"


def test_health(site, monkeypatch) -> None:
    assert site.client.get("/api/health").json() == {"status": "ok"}
    from engine.errors import SchemaOutdated

    def outdated() -> None:
        raise SchemaOutdated("0003", "0007_accounts")

    monkeypatch.setattr(site.app.state.ctx.db, "require_schema", outdated)
    _problem(site.client.get("/api/health"), 503, 7)


def test_alerts_acknowledge_and_snooze(site) -> None:
    mine = site.get("/api/alerts", "coordinator").json()
    assert len(mine) == 3 and {a["gu"] for a in mine} == {OWN} and [a["id"] for a in mine] == [3, 2, 1]
    assert len(site.get("/api/alerts?state=open", "officer").json()) == 6
    hidden = _problem(site.get("/api/alerts/4", "coordinator"), 404, 4)
    missing = _problem(site.get("/api/alerts/999", "coordinator"), 404, 4)
    assert hidden["detail"].replace("4", "N") == missing["detail"].replace("999", "N")

    before = snapshot(site.url)
    _problem(site.post("/api/alerts/4/acknowledge", "coordinator", json={"note": "x"}), 404, 4)
    _problem(site.post("/api/alerts/1/acknowledge", "viewer_own", json={"note": "x"}), 403, 9)
    _problem(site.post("/api/alerts/1/acknowledge", "coordinator", json={"note": ""}), 422, 3)
    _problem(site.post("/api/alerts/1/snooze", "coordinator", json={"until": "2026-03-01", "note": "x"}), 422, 3)
    _problem(site.post("/api/alerts/1/snooze", "coordinator", json={"until": "someday", "note": "x"}), 422, 3)
    assert snapshot(site.url) == before

    acked = site.post("/api/alerts/1/acknowledge", "coordinator", json={"note": "시공사와 일정 조정 중"})
    assert acked.status_code == 200, acked.text
    assert acked.json()["state"] == "acknowledged"
    _problem(site.post("/api/alerts/1/acknowledge", "officer", json={"note": "again"}), 409, 6)
    snoozed = site.post("/api/alerts/2/snooze", "coordinator", json={"until": "2026-04-10", "note": "주민 회의 후"})
    assert snoozed.status_code == 200 and snoozed.json()["snoozed_until"] == "2026-04-10"

    from notify.service import AlertService
    from storage.db import Database

    db = Database(site.url)
    try:
        timeline = AlertService(db, lambda: NOW).show("test", 1)
    finally:
        db.dispose()
    assert [(e.kind, e.actor, e.note) for e in timeline.events][-1] == ("acknowledged", "coordinator",
                                                                        "시공사와 일정 조정 중")


def test_as_of_rebuilds_the_record_as_it_stood_then(site) -> None:
    """`as_of` reads the record as it stood then (storage/asof.py): a project created later is absent,
    a later move is not shown."""
    key = site.keys["own"]
    assert site.get("/api/projects?as_of=2026-02-01", "officer").json() == {"items": [], "total": 0, "next": None}
    body = _problem(site.get(f"/api/projects/{key}?as_of=2026-02-01", "officer"), 404, 4)
    assert "did not exist yet on 2026-02-01" in body["detail"]
    version = site.get(f"/api/projects/{key}", "officer").json()["version"]
    moved = site.post(f"/api/projects/{key}/advance", "officer",
                      json={"trigger": "hold", "note": "예산 대기", "version": version})
    assert moved.status_code == 200, moved.text
    assert moved.json()["state"] == "on_hold"
    then = site.get(f"/api/projects/{key}?as_of=2026-03-10", "officer").json()
    assert then["state"] == "survey" and then["as_of"] == "2026-03-10"
    listed = site.get(f"/api/projects?as_of=2026-03-10&state=survey&gu={OWN}", "officer").json()
    assert key in [i["key"] for i in listed["items"]]


def test_a_filter_naming_nothing_is_a_problem_listing_the_valid_values(site) -> None:
    for path, field, listed in (("/api/projects?state=building", "state", "construction"),
                                ("/api/projects?workflow=nope", "workflow", "space-improvement"),
                                ("/api/projects?gu=부산진구", "gu", "성동구"),
                                ("/api/overdue?gu=없는구", "gu", "종로구")):
        body = _problem(site.get(path, "officer"), 422, 3)
        assert field in body["detail"] and "valid:" in body["detail"] and listed in body["detail"], body
    by_label = site.get(f"/api/projects?state=현장조사&gu={OWN[:-1]}", "officer").json()
    assert by_label["total"] == 2 and {i["state"] for i in by_label["items"]} == {"survey"}


def test_an_old_key_reads_the_renamed_project(site, runner) -> None:
    """GET /api/projects/OLD answers with the project now called NEW (its ``key`` says so) and a
    Content-Location naming NEW; a write under OLD is a 404 naming NEW; another district's stays a
    plain 404 that names nothing."""
    from urllib.parse import quote

    own, other = site.keys["own"], site.keys["other"]
    for key in (own, other):
        result = runner.invoke(cli, ["--db", site.url, "project", "edit", key, "--key", f"{key}-a",
                                     "--note", "key typo", "--actor", "office"])
        assert result.exit_code == 0, result.output
    found = site.get(f"/api/projects/{own}", "coordinator")
    assert found.status_code == 200, found.text
    assert found.json()["key"] == f"{own}-a"
    assert found.headers["content-location"].endswith(f"/api/projects/{quote(own + '-a')}")
    assert site.get(f"/api/projects/{own}-a", "coordinator").json() == found.json()
    history = site.get(f"/api/projects/{own}/history", "coordinator")
    assert history.status_code == 200 and history.json() == site.get(f"/api/projects/{own}-a/history",
                                                                     "coordinator").json()
    write = _problem(site.post(f"/api/projects/{own}/advance", "coordinator",
                               json={"trigger": "hold", "note": "n", "version": 2}), 404, 4)
    assert write["renamed_to"] == f"{own}-a" and f"{own}-a" in write["detail"]
    hidden = _problem(site.get(f"/api/projects/{other}", "coordinator"), 404, 4)
    assert f"{other}-a" not in json.dumps(hidden) and "renamed_to" not in hidden
    assert site.get(f"/api/projects/{other}", "officer").json()["key"] == f"{other}-a"
