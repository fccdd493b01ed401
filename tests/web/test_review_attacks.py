"""Attacks found by the security review of the web pages and API (issue 8): each test is one way the
shared system was broken, kept so it stays fixed. Every odd input must be a clear 4xx (never a 500)
and leave the database exactly as it was."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from pagekit import ORIGIN, csrf_of, post_form, sign_in
from webkit import PASSWORD, snapshot


@pytest.fixture
def browser(site):
    """A second client of the same app (its own cookie jar), for a second person."""
    from fastapi.testclient import TestClient

    return lambda: TestClient(site.app, raise_server_exceptions=False)


@pytest.mark.parametrize("path", ["/projects", "/export/projects", "/report/download"])
@pytest.mark.parametrize("year", ["²", "¹²", "٢٠١٦", "2016 ", "+2016"])
def test_a_year_that_is_not_ascii_digits_is_a_clear_4xx(site, path, year) -> None:
    """``str.isdigit`` is true for '²', which ``int`` cannot read: that was a 500 on three pages."""
    sign_in(site.client, "officer")
    answer = site.client.get(path, params={"year": year}, follow_redirects=False)
    assert answer.status_code == 422, (answer.status_code, answer.text[:300])
    assert "year" in answer.text


def test_changing_a_password_ends_the_users_other_sessions(site, browser) -> None:
    """After a password reset (the usual answer to a stolen password), a session opened with the old
    password must stop working, as it does when the account is disabled."""
    admin, thief = site.client, browser()
    csrf = sign_in(admin, "admin")
    sign_in(thief, "coordinator")
    assert thief.get("/", follow_redirects=False).status_code == 200
    changed = post_form(admin, "/admin/users/coordinator/password", {"password": "a brand new password"}, csrf)
    assert changed.status_code == 303
    assert thief.get("/", follow_redirects=False).status_code == 303  # to the sign-in page
    owner = browser()
    sign_in(owner, "coordinator", "a brand new password")  # the new password opens a new session
    assert owner.get("/", follow_redirects=False).status_code == 200


def test_a_sign_in_with_a_nul_byte_in_the_name_is_refused_without_a_500(site) -> None:
    """The failure counter stores the name tried; PostgreSQL refuses NUL in text (that was a 500)."""
    c = site.client
    form = c.get("/login")
    answer = c.post("/login", data={"user": "officer\x00", "password": "wrong password!", "csrf": csrf_of(form.text)},
                    headers={"Origin": ORIGIN}, follow_redirects=False)
    assert answer.status_code == 401, answer.text[:300]


ODD = ["\x00", "a\x00b", "\ufffd", "\u202e", "x" * 3000]
"""A NUL (PostgreSQL refuses it in text), a replacement character, a right-to-left override, a long text."""


def _page_requests(keys: dict[str, str], odd: str) -> list[tuple[str, str, dict]]:
    own = keys["own"]
    return [
        ("get", "/", {"params": {"as_of": odd}}),
        ("get", "/projects", {"params": {"gu": odd}}),
        ("get", "/projects", {"params": {"state": odd, "level": odd, "sort": odd}}),
        ("get", "/export/projects", {"params": {"gu": odd, "state": odd, "level": odd}}),
        ("get", "/report", {"params": {"gu": odd, "as_of": odd}}),
        ("get", "/report/download", {"params": {"gu": odd}}),
        ("get", f"/projects/{own}", {"params": {"done": odd}}),
        ("get", "/login", {"params": {"next": odd}}),
        ("post", f"/projects/{own}/advance", {"data": {"trigger": odd, "version": "1"}}),
        ("post", f"/projects/{own}/advance", {"data": {"trigger": "hold", "version": "1", "note": odd}}),
        ("post", f"/projects/{own}/participation", {"data": {"kind": odd, "held_on": "2026-03-01", "version": "1"}}),
        ("post", f"/projects/{own}/participation", {"data": {"kind": "resident_meeting", "held_on": odd,
                                                              "version": "1"}}),
        ("post", f"/projects/{own}/participation", {"data": {"kind": "resident_meeting", "held_on": "2026-03-01",
                                                              "version": "1", "times": odd[:10], "note": odd}}),
        ("post", "/admin/users", {"data": {"name": odd, "role": "viewer", "password": "long enough password"}}),
        ("post", "/admin/users", {"data": {"name": "newbie", "role": odd, "password": "long enough password"}}),
        ("post", "/admin/users", {"data": {"name": "newbie", "role": "viewer", "password": odd}}),
        ("post", "/admin/users", {"data": {"name": "newbie", "role": "coordinator", "password": "long enough password",
                                           "districts": odd[:1000]}}),
        ("post", "/admin/users", {"data": {"name": "newbie", "role": "viewer", "password": "long enough password",
                                           "display_name": odd[:200]}}),
        ("post", "/admin/users/viewer_own/password", {"data": {"password": odd}}),
        ("post", "/admin/tokens", {"data": {"name": odd}}),
        ("post", "/admin/tokens", {"data": {"name": "t", "owner": odd[:100]}}),
        ("post", "/admin/tokens", {"data": {"name": "t", "role": "viewer", "districts": odd[:1000]}}),
        ("post", "/admin/tokens", {"data": {"name": "t", "role": "viewer", "expires": odd[:40]}}),
    ]


@pytest.mark.parametrize("odd", ODD, ids=["nul", "nul-inside", "replacement", "rtl", "long"])
def test_odd_text_in_every_page_field_is_a_4xx_and_writes_nothing(site, odd) -> None:
    """Every text field of every page, as the officer (pages) and the admin (accounts): never a 5xx,
    and the database exactly as before (a 200 may only be a read)."""
    from fastapi.testclient import TestClient

    clients = {}
    for who in ("officer", "admin"):
        client = TestClient(site.app, raise_server_exceptions=False)
        clients[who] = (client, sign_in(client, who))
    for method, path, kw in _page_requests(site.keys, odd):
        who = "admin" if path.startswith("/admin") else "officer"
        client, csrf = clients[who]
        before = snapshot(site.url)
        if method == "post":
            answer = post_form(client, path, kw["data"], csrf)
        else:
            answer = client.get(path, follow_redirects=False, **kw)
        assert answer.status_code < 500, (path, kw, answer.status_code, answer.text[:300])
        if method == "post" and answer.status_code >= 400:
            assert snapshot(site.url) == before, (path, kw)
        if method == "get":
            assert snapshot(site.url) == before, (path, kw)


def _api_requests(keys: dict[str, str], odd: str) -> list[tuple[str, str, dict]]:
    own = keys["own"]
    return [
        ("get", "/api/projects", {"params": {"gu": odd}}),
        ("get", "/api/projects", {"params": {"state": odd[:200]}}),
        ("get", "/api/projects", {"params": {"workflow": odd[:200]}}),
        ("get", "/api/projects", {"params": {"as_of": odd[:40]}}),
        ("get", f"/api/projects/{own}", {"params": {"as_of": odd[:40]}}),
        ("get", "/api/overdue", {"params": {"gu": odd[:200]}}),
        ("get", "/api/report", {"params": {"gu": odd[:200], "format": "csv"}}),
        ("get", "/api/workflows/" + quote("x" + odd[:100]), {}),
        ("get", "/api/projects/" + quote(own + odd[:100]), {}),
        ("get", "/feeds/" + quote(odd[:100]) + ".ics", {}),
        ("post", f"/api/projects/{own}/advance", {"json": {"trigger": odd[:100], "version": 1}}),
        ("post", f"/api/projects/{own}/advance", {"json": {"trigger": "hold", "version": 1, "note": odd}}),
        ("post", f"/api/projects/{own}/facts", {"json": {"name": odd[:100], "value": 1, "version": 1}}),
        ("post", f"/api/projects/{own}/facts", {"json": {"name": "design_approved", "value": odd, "version": 1}}),
        ("post", "/api/alerts/1/acknowledge", {"json": {"note": odd}}),
        ("post", "/api/alerts/1/snooze", {"json": {"until": odd[:40], "note": "n"}}),
    ]


@pytest.mark.parametrize("odd", ODD, ids=["nul", "nul-inside", "replacement", "rtl", "long"])
def test_odd_text_in_every_api_field_is_a_4xx_and_writes_nothing(site, odd) -> None:
    for method, path, kw in _api_requests(site.keys, odd):
        before = snapshot(site.url)
        who = "viewer_own" if path.startswith("/feeds/") else "officer"
        if path.startswith("/feeds/"):
            answer = site.client.get(path, params={"token": site.tokens[who]})
        else:
            answer = getattr(site, method)(path, who, **kw)
        assert answer.status_code < 500, (path, kw, answer.status_code, answer.text[:300])
        if answer.status_code >= 400 or method == "get":
            assert snapshot(site.url) == before, (path, kw)


def test_two_participation_forms_of_one_version_record_once(site) -> None:
    """The participation form carries the project's version, but the page compared it before the
    service re-read the project: two submissions racing (a double click, two people) both counted.
    The service now refuses the write itself when the project is no longer at that version, in the
    transaction that writes; here the second of two forms of one version, past the page's check."""
    import datetime as dt

    from engine.access import Principal
    from engine.errors import ChangedMeanwhile
    from programme.records import participation

    ctx = site.app.state.ctx
    svc = ctx.scoped(Principal.of("officer", "officer"))
    key = site.keys["own"]
    seen = svc.project(key)
    entry = participation(key=key, kind="resident_meeting", held_on="2026-03-01", times="1", note=None,
                          today=dt.date(2026, 3, 5))
    now = dt.datetime(2026, 3, 5, tzinfo=dt.timezone.utc)
    svc.add_participation(entry, now=now, expected_version=seen.version)
    after_first = snapshot(site.url)
    with pytest.raises(ChangedMeanwhile):
        svc.add_participation(entry, now=now, expected_version=seen.version)
    assert snapshot(site.url) == after_first
    assert svc.project(key).facts["resident_meetings"] == seen.facts.get("resident_meetings", 0) + 1


def test_sign_in_attempts_made_at_once_are_limited_too(site, monkeypatch) -> None:
    """The limit counted the failures already recorded, and a failure was recorded only after the
    password check (~0.3 s of Argon2): thirty attempts sent at once all had their password checked
    against a limit of five. An attempt now counts before its password is checked. Here each check
    lets the next attempt arrive while it runs, as parallel requests do."""
    from engine.errors import NotAuthenticated
    from web.sessions import SessionManager, TooManyAttempts

    ctx = site.app.state.ctx
    manager = SessionManager(ctx)
    checked: list[str] = []
    real = ctx.authenticate

    def attempt() -> None:
        try:
            manager.sign_in("viewer_all", "wrong password!", "10.0.0.1")
        except (NotAuthenticated, TooManyAttempts):
            pass

    def overlapping(name: str, password: str):
        checked.append(name)
        if len(checked) < 12:
            attempt()  # another attempt arrives while this password is being checked
        return real(name, password)

    monkeypatch.setattr(ctx, "authenticate", overlapping)
    attempt()
    limit = ctx.settings.signin_limit_account
    assert len(checked) == limit
    # the refused attempts are not kept: retrying while refused does not make the wait longer
    import datetime as dt

    since = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)
    assert manager.store.failures("viewer_all", "10.0.0.1", since) == (limit, limit)


@pytest.mark.parametrize("path", ["//evil.example/x", "/\\evil.example/x", "/%5Cevil.example"])
def test_no_page_links_to_another_site_whatever_its_path(site, path) -> None:
    """The language switch links to the page's own path: for ``http://host//evil.example/x`` (a 404
    page) that was ``href="//evil.example/x?lang=en"``, a link to another site on our page."""
    import re

    sign_in(site.client, "viewer_all")
    for signed_in in (True, False):
        if not signed_in:
            site.client.cookies.clear()
        page = site.client.get("http://testserver" + path, follow_redirects=False)
        assert page.status_code in (303, 404), page.status_code
        links = re.findall(r'(?:href|action)="([^"]*)"', page.text) + [page.headers.get("location") or "/"]
        for link in links:
            assert link.startswith("/") and not link.startswith("//") and "\\" not in link, (path, link)


def test_a_session_stays_ended_after_the_account_is_disabled_and_enabled_again(site, browser) -> None:
    """``dongflow user disable`` only marked the account: its sessions were refused while it was
    disabled, and came back to life when it was enabled again (the page deleted them, the CLI did not)."""
    from click.testing import CliRunner

    from cli import cli

    thief = browser()
    sign_in(thief, "coordinator")
    assert thief.get("/", follow_redirects=False).status_code == 200
    runner = CliRunner()
    for args in (["user", "disable", "coordinator"], ["user", "disable", "coordinator", "--enable"]):
        result = runner.invoke(cli, [*args, "--db", site.url])
        assert result.exit_code == 0, result.output
    assert thief.get("/", follow_redirects=False).status_code == 303


def test_a_user_changing_their_own_password_must_give_the_current_one(site, browser) -> None:
    """Any signed-in user could post a new password for themselves with only the session: a session
    left open (or stolen) was enough to take the account over for good."""
    thief = site.client
    csrf = sign_in(thief, "coordinator")
    before = snapshot(site.url)
    refused = post_form(thief, "/admin/users/coordinator/password", {"password": "taken over for good"}, csrf)
    assert refused.status_code == 422, refused.status_code
    wrong = post_form(thief, "/admin/users/coordinator/password",
                      {"password": "taken over for good", "current": "a wrong guess!"}, csrf)
    assert wrong.status_code == 422, wrong.status_code
    assert snapshot(site.url) == before
    sign_in(browser(), "coordinator")  # the password is what it was
    owner = site.client
    ok = post_form(owner, "/admin/users/coordinator/password", {"password": "a brand new password",
                                                                "current": PASSWORD}, csrf)
    assert ok.status_code == 303, ok.text[:300]
    sign_in(browser(), "coordinator", "a brand new password")
