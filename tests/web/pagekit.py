"""Shared by the page tests: signing a TestClient in through the real sign-in form."""

from __future__ import annotations

import re
from typing import Any

from webkit import PASSWORD

ORIGIN = "http://testserver"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str, form_action: str | None = None) -> str:
    """The CSRF token of the first form on the page (or of the form posting to ``form_action``)."""
    start = html.index(f'action="{form_action}"') if form_action else 0
    found = CSRF.search(html, start)
    assert found, "no CSRF field on the page"
    return found.group(1)


def sign_in(client: Any, name: str, password: str = PASSWORD) -> str:
    """Sign in through GET/POST /login; returns the session's CSRF token (from the dashboard's form)."""
    form = client.get("/login")
    assert form.status_code == 200, form.text[:200]
    answer = client.post("/login", data={"user": name, "password": password, "csrf": csrf_of(form.text, "/login"), "next": "/"},
                         headers={"Origin": ORIGIN}, follow_redirects=False)
    assert answer.status_code == 303, answer.text[:300]
    page = client.get("/")
    assert page.status_code == 200, page.text[:300]
    return csrf_of(page.text)


def post_form(client: Any, path: str, data: dict[str, Any], csrf: str | None, origin: str | None = ORIGIN) -> Any:
    headers = {"Origin": origin} if origin else {}
    body = dict(data)
    if csrf is not None:
        body["csrf"] = csrf
    return client.post(path, data=body, headers=headers, follow_redirects=False)
