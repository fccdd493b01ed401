"""Attacks found by the security review of the web pages and API (issue 8): each test is one way the
shared system was broken, kept so it stays fixed. Every odd input must be a clear 4xx (never a 500)
and leave the database exactly as it was."""

from __future__ import annotations

import pytest

from pagekit import ORIGIN, csrf_of, post_form, sign_in
from webkit import snapshot


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
