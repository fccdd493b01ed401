"""The server-rendered pages through the real app (TestClient): signing in and out, sessions in the
database, CSRF and origin checks, sign-in limits, security headers, escaping, the project page's
actions and conflicts, and the district list's downloads."""

from __future__ import annotations

import csv
import io

import pytest

from pagekit import ORIGIN, csrf_of, post_form, sign_in
from webkit import OTHER, OWN, PASSWORD


@pytest.fixture
def browser(site):
    """A second client of the same app (its own cookie jar), for a second person."""
    from fastapi.testclient import TestClient

    return lambda: TestClient(site.app, raise_server_exceptions=False)


def test_sign_in_dashboard_and_sign_out(site) -> None:
    c = site.client
    assert c.get("/", follow_redirects=False).status_code == 303
    csrf = sign_in(c, "coordinator")
    page = c.get("/")
    assert OWN in page.text and OTHER not in page.text
    assert '<span class="me">Coordinator</span>' in page.text  # display name, user name and role said once
    cookie = next(x for x in c.cookies.jar if x.name == "dongflow_session")
    assert cookie.has_nonstandard_attr("HttpOnly")
    out = post_form(c, "/logout", {}, csrf)
    assert out.status_code == 303
    assert c.get("/", follow_redirects=False).status_code == 303


def test_a_session_lives_in_the_database_and_ends_at_sign_out(site) -> None:
    from sqlalchemy import create_engine, func, select
    from sqlalchemy.pool import NullPool

    from storage.web_sessions import S

    engine = create_engine(site.url, poolclass=NullPool)

    def count() -> int:
        with engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(S)).scalar_one()

    c = site.client
    csrf = sign_in(c, "officer")
    old = c.cookies.get("dongflow_session")
    assert count() == 1
    with engine.connect() as conn:  # only the hash of the id is stored
        assert old not in str(conn.execute(select(S)).all())
    sign_in(c, "officer")
    assert c.cookies.get("dongflow_session") != old  # a new id at every sign-in; the old one is gone
    assert count() == 1
    csrf = csrf_of(c.get("/").text)
    post_form(c, "/logout", {}, csrf)
    assert count() == 0
    engine.dispose()


def test_forms_need_the_csrf_token_and_the_same_origin(site) -> None:
    c = site.client
    csrf = sign_in(c, "officer")
    key = site.keys["own"]
    body = {"trigger": "hold", "note": "x", "version": 1}
    assert post_form(c, f"/projects/{key}/advance", body, None).status_code == 403
    assert post_form(c, f"/projects/{key}/advance", body, "wrong").status_code == 403
    assert post_form(c, f"/projects/{key}/advance", body, csrf, origin="http://evil.example").status_code == 403
    assert post_form(c, f"/projects/{key}/advance", body, csrf, origin=None).status_code == 403
    assert site.get(f"/api/projects/{key}", "officer").json()["version"] == 1
    ok = post_form(c, f"/projects/{key}/advance", body, csrf)
    assert ok.status_code == 303


def test_sign_in_is_limited_per_account(site) -> None:
    c = site.client
    for _ in range(5):
        form = c.get("/login")
        bad = c.post("/login", data={"user": "viewer_all", "password": "wrong password!", "csrf": csrf_of(form.text)},
                     headers={"Origin": ORIGIN}, follow_redirects=False)
        assert bad.status_code == 401
    form = c.get("/login")
    limited = c.post("/login", data={"user": "viewer_all", "password": PASSWORD, "csrf": csrf_of(form.text)},
                     headers={"Origin": ORIGIN}, follow_redirects=False)
    assert limited.status_code == 429  # even the right password, until the window has passed
    sign_in(c, "viewer_own")  # another account from the same address still may


def test_security_headers(site) -> None:
    page = site.client.get("/login")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "same-origin"
    assert "<script" not in page.text


def test_project_page_refusal_participation_advance_and_history(site) -> None:
    c = site.client
    csrf = sign_in(c, "coordinator")
    key = site.keys["own"]
    page = c.get(f"/projects/{key}")
    assert page.status_code == 200 and 'class="node current' in page.text
    unmet = page.text.split('class="unmet"', 1)[1].split("</p>", 1)[0]  # the agreement's guard, explained
    assert "주민참여 회의 수" in unmet and "resident_meetings &gt;= 1" in unmet and "현재 0" in unmet
    refused = post_form(c, f"/projects/{key}/advance", {"trigger": "agree", "version": 1}, csrf)
    assert refused.status_code == 422 and "resident_meetings" in refused.text
    recorded = post_form(c, f"/projects/{key}/participation",
                         {"kind": "resident_meeting", "held_on": "2026-03-01", "times": "1", "version": 1,
                          "note": "<script>alert(1)</script>"}, csrf)
    assert recorded.status_code == 303
    page = c.get(f"/projects/{key}")
    assert "<script>alert(1)</script>" not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    version = site.get(f"/api/projects/{key}", "coordinator").json()["version"]
    moved = post_form(c, f"/projects/{key}/advance", {"trigger": "agree", "version": version}, csrf)
    assert moved.status_code == 303
    history = site.get(f"/api/projects/{key}/history", "coordinator").json()
    assert history[-1]["actor"] == "coordinator" and history[-1]["to"] == "agreement"
    stale = post_form(c, f"/projects/{key}/advance", {"trigger": "hold", "note": "late", "version": version}, csrf)
    assert stale.status_code == 409 and "coordinator" in stale.text
    assert site.get(f"/api/projects/{key}", "coordinator").json()["state"] == "agreement"


def test_other_district_is_not_found_on_pages(site) -> None:
    c = site.client
    sign_in(c, "coordinator")
    assert c.get(f"/projects/{site.keys['other']}").status_code == 404
    assert c.get("/projects/no-such-key").status_code == 404
    listing = c.get("/projects")
    assert site.keys["own"] in listing.text and site.keys["other"] not in listing.text


def test_downloads_neutralise_formulas(site) -> None:
    from openpyxl import load_workbook

    from engine.catalog import Catalog
    from engine.service import ProjectSpec, Service
    from storage.db import Database
    from storage.repository import SqlProjectStore
    from webkit import NOW
    from workflows import SHIPPED_DIR

    db = Database(site.url)
    Service(SqlProjectStore(db), Catalog.from_dirs([SHIPPED_DIR])).add_project(
        ProjectSpec(key="=HYPERLINK(1)", gu=OWN, dong="@SUM(A1)", year=2016), actor="seed", now=NOW)
    db.dispose()
    c = site.client
    sign_in(c, "coordinator")
    text = c.get("/export/projects?format=csv").content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    cells = [cell for row in rows for cell in row]
    assert "'=HYPERLINK(1)" in cells and "'@SUM(A1)" in cells
    assert not any(cell.startswith(("=", "+", "-", "@")) for cell in cells)
    book = load_workbook(io.BytesIO(c.get("/export/projects?format=xlsx").content))
    values = [cell for row in book.active.iter_rows() for cell in row]
    assert all(cell.data_type != "f" for cell in values)
    assert "'=HYPERLINK(1)" in [cell.value for cell in values]


def test_templates_and_static_files_are_package_data() -> None:
    """`pip install .` (not editable) ships what the pages need: every file under web/templates and
    web/static matches a package-data pattern of pyproject.toml."""
    import fnmatch
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    patterns = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["web"]
    files = [p.relative_to(root / "web").as_posix() for folder in ("templates", "static")
             for p in (root / "web" / folder).rglob("*") if p.is_file()]
    assert files and all(any(fnmatch.fnmatch(f, pat) for pat in patterns) for f in files), files


def test_report_downloads_neutralise_formulas(site) -> None:
    """The report's CSV and workbook (reached from the report page) keep a formula-looking name as text."""
    from openpyxl import load_workbook

    from engine.catalog import Catalog
    from engine.service import ProjectSpec, Service
    from storage.db import Database
    from storage.repository import SqlProjectStore
    from webkit import NOW
    from workflows import SHIPPED_DIR

    db = Database(site.url)
    Service(SqlProjectStore(db), Catalog.from_dirs([SHIPPED_DIR])).add_project(
        ProjectSpec(key="2016-성동구-=cmd", gu=OWN, dong="=cmd|' /C calc'!A0", year=2016), actor="seed", now=NOW)
    db.dispose()
    c = site.client
    sign_in(c, "coordinator")
    text = c.get("/report/download?format=csv").content.decode("utf-8-sig")
    cells = [cell for row in csv.reader(io.StringIO(text)) for cell in row]
    assert "'=cmd|' /C calc'!A0" in cells
    assert not any(cell.startswith(("=", "+", "@")) for cell in cells)
    book = load_workbook(io.BytesIO(c.get("/report/download?format=xlsx").content))
    values = [cell for sheet in book.worksheets for row in sheet.iter_rows() for cell in row]
    assert "'=cmd|' /C calc'!A0" in [cell.value for cell in values]
    assert not any(cell.data_type == "f" for cell in values)


def test_sign_in_is_limited_per_address(initialised_db) -> None:
    """Failures spread over many names from one address hit the address's limit (counted in the database,
    so another server process would refuse too)."""
    from fastapi.testclient import TestClient

    from web.app import create_app
    from web.context import WebSettings
    from webkit import seed

    seed(initialised_db)
    settings = WebSettings(db_url=initialised_db, signin_limit_address=3)
    first, second = (TestClient(create_app(settings), raise_server_exceptions=False) for _ in range(2))
    for i, client in enumerate((first, first, second)):
        form = client.get("/login")
        bad = client.post("/login", data={"user": f"nobody{i}", "password": "wrong password!",
                                          "csrf": csrf_of(form.text, "/login")},
                          headers={"Origin": ORIGIN}, follow_redirects=False)
        assert bad.status_code == 401 and "아이디 또는 비밀번호가 맞지 않습니다" in bad.text
    form = second.get("/login")
    refused = second.post("/login", data={"user": "officer", "password": PASSWORD, "csrf": csrf_of(form.text, "/login")},
                          headers={"Origin": ORIGIN}, follow_redirects=False)
    assert refused.status_code == 429 and "15분" in refused.text


def test_a_disabled_user_is_signed_out_at_once(site, browser) -> None:
    admin, kim = site.client, browser()
    csrf = sign_in(admin, "admin")
    sign_in(kim, "coordinator")
    assert kim.get("/", follow_redirects=False).status_code == 200
    assert post_form(admin, "/admin/users/coordinator/disable", {}, csrf).status_code == 303
    assert kim.get("/", follow_redirects=False).status_code == 303


def test_english_switch_is_remembered(site) -> None:
    c = site.client
    sign_in(c, "viewer_all")
    assert "현황판" in c.get("/").text
    assert "Dashboard" in c.get("/?lang=en").text
    assert "Dashboard" in c.get("/projects").text  # the cookie remembers
    assert "현황판" in c.get("/?lang=ko").text


def test_sign_in_goes_back_to_the_page_asked_for_and_nowhere_else(site) -> None:
    from urllib.parse import unquote

    c = site.client
    key = site.keys["own"]
    first = c.get(f"/projects/{key}", follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"].startswith("/login?next=")
    for target, expected in ((f"/projects/{key}", f"/projects/{key}"), ("//evil.example/x", "/"),
                             ("https://evil.example/", "/")):
        form = c.get("/login")
        answer = c.post("/login", data={"user": "officer", "password": PASSWORD, "next": target,
                                        "csrf": csrf_of(form.text, "/login")},
                        headers={"Origin": ORIGIN}, follow_redirects=False)
        assert answer.status_code == 303 and unquote(answer.headers["location"]) == expected


def test_district_list_filters_sorts_and_pages(site, monkeypatch) -> None:
    import re

    from web import pages

    c = site.client
    sign_in(c, "officer")
    keys = lambda html: re.findall(r'<td><a href="/projects/([^"]+)">', html)  # noqa: E731
    everything = keys(c.get("/projects").text)
    assert everything == sorted(everything) and len(everything) == 4
    assert keys(c.get("/projects?sort=-key").text) == sorted(everything, reverse=True)
    by_dong = keys(c.get("/projects?sort=dong").text)
    assert [k.rsplit("-", 1)[1] for k in by_dong] == sorted(k.rsplit("-", 1)[1] for k in everything)
    assert keys(c.get(f"/projects?gu={OTHER}&year=2017").text) == ["2017-종로구-사직동"]
    late = keys(c.get("/projects?level=late&as_of=2026-12-31").text)
    assert sorted(late) == everything  # all four are far past their milestones by then
    assert keys(c.get("/projects?level=met&as_of=2016-01-02").text) == []
    monkeypatch.setattr(pages, "PAGE_SIZE", 3)
    first, second = c.get("/projects?sort=-level"), c.get("/projects?sort=-level&offset=3")
    assert len(keys(first.text)) == 3 and len(keys(second.text)) == 1
    assert set(keys(first.text)) | set(keys(second.text)) == set(everything)
    assert c.get("/projects?year=abc").status_code == 422


def test_a_stale_participation_form_is_not_recorded(site, browser) -> None:
    from webkit import snapshot

    key = site.keys["own"]
    first, second = site.client, browser()
    csrf_first, csrf_second = sign_in(first, "coordinator"), sign_in(second, "officer")
    held = post_form(first, f"/projects/{key}/advance", {"trigger": "hold", "note": "잠시 보류", "version": 1},
                     csrf_first)
    assert held.status_code == 303
    before = {k: v for k, v in snapshot(site.url).items() if k != "web_sessions"}
    stale = post_form(second, f"/projects/{key}/participation",
                      {"kind": "resident_meeting", "held_on": "2026-03-01", "times": "1", "version": 1}, csrf_second)
    assert stale.status_code == 409 and "coordinator" in stale.text and "다른 사람이 먼저 변경했습니다" in stale.text
    assert {k: v for k, v in snapshot(site.url).items() if k != "web_sessions"} == before


def test_dashboard_counts_the_callers_districts(site, browser) -> None:
    import re

    def totals(client) -> dict[str, int]:
        html = client.get("/?as_of=2026-12-31").text
        return {cls or "total": int(n) for cls, n in
                re.findall(r'<div class="stat ?(\w*)"><span>[^<]*</span><strong>(\d+)</strong>', html)}

    officer, coordinator = site.client, browser()
    sign_in(officer, "officer")
    sign_in(coordinator, "coordinator")
    assert totals(officer) == {"total": 4, "late": 4, "risk": 4}  # a 2016/2017 cohort still in survey in 2026
    assert totals(coordinator) == {"total": 2, "late": 2, "risk": 2}
    survey = re.findall(r'state=survey">(\d+)</a>', officer.get("/").text)
    assert sorted(int(n) for n in survey) == [2, 2]  # 성동구 and 종로구, both in the survey stage
    assert OTHER not in coordinator.get("/").text


def test_admin_pages_refuse_an_unknown_district(site) -> None:
    """A user or token limited to a district that does not exist would reach nothing: refused (422),
    naming the bad district and the valid ones, and nothing is written. Any of Seoul's 25 is taken,
    projects or not."""
    import html

    from webkit import snapshot

    c = site.client
    csrf = sign_in(c, "admin")
    before = {k: v for k, v in snapshot(site.url).items() if k != "web_sessions"}
    user = post_form(c, "/admin/users", {"name": "lee", "role": "coordinator", "password": PASSWORD,
                                         "districts": f"{OWN}, 성동"}, csrf)
    token = post_form(c, "/admin/tokens", {"name": "feed", "role": "viewer", "districts": "Gangnam"}, csrf)
    for answer, bad in ((user, "'성동'"), (token, "'Gangnam'")):
        assert answer.status_code == 422
        assert f"unknown district {bad} (valid: 종로구, 중구, " in html.unescape(answer.text)
    assert {k: v for k, v in snapshot(site.url).items() if k != "web_sessions"} == before
    assert post_form(c, "/admin/users", {"name": "lee", "role": "coordinator", "password": PASSWORD,
                                         "districts": "강동구"}, csrf).status_code == 303
    made = post_form(c, "/admin/tokens", {"name": "feed", "role": "viewer", "districts": "강동구"}, csrf)
    assert made.status_code == 200 and "dft_" in made.text


@pytest.mark.parametrize("times", ["٣", "３", "²", "1_0"])
def test_the_participation_form_takes_only_ascii_digits(site, times) -> None:
    c = site.client
    csrf = sign_in(c, "coordinator")
    key = site.keys["own"]
    refused = post_form(c, f"/projects/{key}/participation",
                        {"kind": "resident_meeting", "held_on": "2026-03-01", "times": times, "version": 1}, csrf)
    assert refused.status_code == 422
    assert "is not " in refused.text and "digits 0-9" in refused.text  # the form error, on the page
    assert site.get(f"/api/projects/{key}", "coordinator").json()["version"] == 1  # nothing recorded
    recorded = post_form(c, f"/projects/{key}/participation",
                         {"kind": "resident_meeting", "held_on": "2026-03-01", "times": "3", "version": 1}, csrf)
    assert recorded.status_code == 303
    assert site.get(f"/api/projects/{key}", "coordinator").json()["facts"]["resident_meetings"] == 3


def test_an_old_key_in_a_bookmark_leads_to_the_renamed_project(site, runner) -> None:
    from urllib.parse import quote

    from cli import cli

    key = site.keys["own"]
    result = runner.invoke(cli, ["--db", site.url, "project", "edit", key, "--key", f"{key}-a", "--note", "typo",
                                 "--actor", "office"])
    assert result.exit_code == 0, result.output
    c = site.client
    sign_in(c, "coordinator")
    moved = c.get(f"/projects/{key}", follow_redirects=False)
    assert moved.status_code == 307 and moved.headers["location"] == f"/projects/{quote(key + '-a')}"
    assert c.get(f"/projects/{key}").status_code == 200
    other = site.keys["other"]  # another district's renamed project stays not found, naming nothing
    assert runner.invoke(cli, ["--db", site.url, "project", "edit", other, "--key", f"{other}-a", "--note", "typo",
                               "--actor", "office"]).exit_code == 0
    hidden = c.get(f"/projects/{other}", follow_redirects=False)
    assert hidden.status_code == 404 and f"{other}-a" not in hidden.text
