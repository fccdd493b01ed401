"""Every route of the application x every principal x own district / other district / anonymous.

The routes are enumerated from ``app.routes``, the API's and the web pages' alike: a route added
without a rule here fails ``test_every_route_has_a_rule``. Each refusal is checked to change nothing
in the database. API routes are called with each principal's bearer token; page routes (``page=True``)
with a browser session signed in through the sign-in form, and form posts carry the session's CSRF
token and the app's origin. An anonymous page request is sent to the sign-in page (303).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from starlette.routing import Mount, Route

from webkit import OTHER, OWN, PRINCIPALS, snapshot

WHO = [None, *PRINCIPALS]  # None: anonymous
SCOPES = ("own", "other")
READ_ALL = {"admin", "officer", "viewer_all"}
LIMITED = {"coordinator", "viewer_own"}
WRITERS = {"officer", "coordinator"}


@dataclass(frozen=True)
class Rule:
    """How to call a route for a district, and the status each principal gets there."""

    method: str
    request: Callable[[Any, str], tuple[str, dict[str, Any]]]
    """(site, scope) -> (url, keyword arguments for the client)."""
    expect: Callable[[str | None, str], int]
    """(principal or None, scope) -> HTTP status."""
    writes: bool = False
    page: bool = False
    """Called with a signed-in browser session instead of a bearer token."""
    fresh_session: bool = False
    """The call ends its session (sign-out): made with a session signed in for it alone."""


def public(_who: str | None, _scope: str) -> int:
    return 200


def any_signed_in(who: str | None, _scope: str) -> int:
    return 401 if who is None else 200


def read_project(who: str | None, scope: str) -> int:
    if who is None:
        return 401
    return 404 if scope == "other" and who in LIMITED else 200


def write_project(who: str | None, scope: str) -> int:
    if who is None:
        return 401
    if scope == "other" and who in LIMITED:
        return 404  # invisible, exactly like a key that does not exist
    return 200 if who in WRITERS else 403


def read_report(who: str | None, scope: str) -> int:
    if who is None:
        return 401
    return 403 if scope == "other" and who in LIMITED else 200


def read_feed(who: str | None, scope: str) -> int:
    """A calendar feed takes a read-only (viewer) token, for a district the viewer reads."""
    if who is None:
        return 401
    if not who.startswith("viewer"):
        return 403
    return 403 if scope == "other" and who in LIMITED else 200


def _alert_id(site: Any, scope: str) -> int:
    """An alert of the scope's project that is still open or snoozed (seeded: three per project)."""
    from sqlalchemy import create_engine, select
    from sqlalchemy.pool import NullPool

    from storage.repository import P
    from storage.tables import AlertRow

    A = AlertRow.__table__  # type: ignore[attr-defined]  # noqa: N806
    engine = create_engine(site.url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            ids = conn.execute(select(A.c.id).join(P, P.c.id == A.c.project_id).where(
                P.c.key == site.keys[scope], A.c.state.in_(["open", "snoozed"])).order_by(A.c.id)).scalars().all()
    finally:
        engine.dispose()
    assert ids, f"no open alert left for {scope}: seed more"
    return ids[0]


def _snooze(site: Any, scope: str) -> tuple[str, dict[str, Any]]:
    return f"/api/alerts/{_alert_id(site, scope)}/snooze", {"json": {"until": "2026-04-30", "note": "matrix"}}


def _gu(scope: str) -> str:
    return OWN if scope == "own" else OTHER


def _key(site: Any, scope: str) -> str:
    return site.keys[scope]


def _current(site: Any, key: str) -> Any:
    from engine.catalog import Catalog
    from engine.service import Service
    from storage.db import Database
    from storage.repository import SqlProjectStore
    from workflows import SHIPPED_DIR

    db = Database(site.url)
    try:
        return Service(SqlProjectStore(db), Catalog.from_dirs([SHIPPED_DIR])).project(key)
    finally:
        db.dispose()


def _advance(site: Any, scope: str) -> tuple[str, dict[str, Any]]:
    p = _current(site, _key(site, scope))
    body = {"trigger": "resume", "version": p.version} if p.state == "on_hold" else \
        {"trigger": "hold", "note": "matrix", "version": p.version}
    return f"/api/projects/{p.key}/advance", {"json": body}


def _fact(site: Any, scope: str) -> tuple[str, dict[str, Any]]:
    p = _current(site, _key(site, scope))
    body = {"name": "design_revisions", "value": int(p.facts.get("design_revisions", 0)) + 1, "version": p.version}
    return f"/api/projects/{p.key}/facts", {"json": body}


def _service(site: Any) -> Any:
    """The operator's service on the site's database (for setting a case up before its snapshot)."""
    from engine.catalog import Catalog
    from engine.service import Service
    from storage.db import Database
    from storage.repository import SqlProjectStore
    from workflows import SHIPPED_DIR

    db = Database(site.url)
    return db, Service(SqlProjectStore(db), Catalog.from_dirs([SHIPPED_DIR]))


def _undo(site: Any, scope: str) -> tuple[str, dict[str, Any]]:
    """A transition of its own to undo, fired by the operator (a fact recorded since would block it)."""
    import datetime as dt

    db, svc = _service(site)
    try:
        p = svc.project(_key(site, scope))
        p, _ = svc.advance(p.key, "resume" if p.state == "on_hold" else "hold", actor="matrix",
                           now=dt.datetime.now(dt.timezone.utc), note="matrix")
    finally:
        db.dispose()
    return f"/api/projects/{p.key}/undo", {"json": {"note": "matrix", "version": p.version}}


def _edit(site: Any, scope: str) -> tuple[str, dict[str, Any]]:
    p = _current(site, _key(site, scope))
    target = "2016-11-30" if p.target.isoformat() == "2016-12-31" else "2016-12-31"
    return f"/api/projects/{p.key}/edit", {"json": {"target": target, "note": "matrix", "version": p.version}}


def _retire(site: Any, scope: str) -> tuple[str, dict[str, Any]]:
    """A project of its own in the scope's district (each case retires one, or is refused on one)."""
    import datetime as dt

    from engine.service import ProjectSpec

    db, svc = _service(site)
    try:
        base = svc.project(_key(site, scope))
        spec = ProjectSpec(key=f"{base.key}-m{next(_COUNTER)}", gu=base.gu, dong=base.dong, year=base.year)
        p = svc.add_project(spec, actor="matrix", now=dt.datetime.now(dt.timezone.utc), allow_duplicate=True)
    finally:
        db.dispose()
    return f"/api/projects/{p.key}/retire", {"json": {"note": "matrix", "version": p.version}}


def _bulk(site: Any, scope: str) -> tuple[str, dict[str, Any]]:
    p = _current(site, _key(site, scope))
    trigger = "resume" if p.state == "on_hold" else "hold"
    return "/api/bulk/advance", {"json": {"trigger": trigger, "note": "matrix", "keys": [p.key]}}


def bulk_move(who: str | None, scope: str) -> int:
    if who is None:
        return 401
    if who not in WRITERS:
        return 403  # before any project is looked up
    # Another district's key is refused as not found (listed in the answer), so nothing moves.
    return 422 if scope == "other" and who in LIMITED else 200


RULES: dict[tuple[str, str], Rule] = {
    ("GET", "/api/projects"): Rule("GET", lambda s, sc: (f"/api/projects?gu={_gu(sc)}", {}), any_signed_in),
    ("GET", "/api/projects/{key}"): Rule("GET", lambda s, sc: (f"/api/projects/{_key(s, sc)}", {}), read_project),
    ("GET", "/api/projects/{key}/history"): Rule(
        "GET", lambda s, sc: (f"/api/projects/{_key(s, sc)}/history", {}), read_project),
    ("POST", "/api/projects/{key}/advance"): Rule("POST", _advance, write_project, writes=True),
    ("POST", "/api/projects/{key}/facts"): Rule("POST", _fact, write_project, writes=True),
    ("POST", "/api/projects/{key}/undo"): Rule("POST", _undo, write_project, writes=True),
    ("POST", "/api/projects/{key}/edit"): Rule("POST", _edit, write_project, writes=True),
    ("POST", "/api/projects/{key}/retire"): Rule("POST", _retire, write_project, writes=True),
    ("POST", "/api/bulk/advance"): Rule("POST", _bulk, bulk_move, writes=True),
    ("GET", "/api/overdue"): Rule("GET", lambda s, sc: (f"/api/overdue?gu={_gu(sc)}", {}), any_signed_in),
    ("GET", "/api/workflows"): Rule("GET", lambda s, sc: ("/api/workflows", {}), any_signed_in),
    ("GET", "/api/workflows/{workflow_id}"): Rule(
        "GET", lambda s, sc: ("/api/workflows/space-improvement", {}), any_signed_in),
    ("GET", "/api/report"): Rule("GET", lambda s, sc: (f"/api/report?format=md&gu={_gu(sc)}", {}), read_report),
    ("GET", "/api/alerts"): Rule("GET", lambda s, sc: ("/api/alerts?state=open", {}), any_signed_in),
    ("GET", "/api/alerts/{alert_id}"): Rule(
        "GET", lambda s, sc: (f"/api/alerts/{_alert_id(s, sc)}", {}), read_project),
    ("POST", "/api/alerts/{alert_id}/snooze"): Rule("POST", _snooze, write_project, writes=True),
    ("POST", "/api/alerts/{alert_id}/acknowledge"): Rule(
        "POST", lambda s, sc: (f"/api/alerts/{_alert_id(s, sc)}/acknowledge", {"json": {"note": "matrix"}}),
        write_project, writes=True),
    ("GET", "/feeds/{gu}.ics"): Rule("GET", lambda s, sc: (f"/feeds/{_gu(sc)}.ics", {}), read_feed),
    ("GET", "/api/health"): Rule("GET", lambda s, sc: ("/api/health", {}), public),
    ("GET", "/openapi.json"): Rule("GET", lambda s, sc: ("/openapi.json", {}), public),
    ("GET", "/docs"): Rule("GET", lambda s, sc: ("/docs", {}), public),
    ("GET", "/_docs-assets"): Rule("GET", lambda s, sc: ("/_docs-assets/swagger-ui.css", {}), public),
}


# ------------------------------------------------------------------------------------------------
# The web pages


def page_public(_who: str | None, _scope: str) -> int:
    return 200


def page_signed_in(who: str | None, _scope: str) -> int:
    return 303 if who is None else 200


def page_read_project(who: str | None, scope: str) -> int:
    if who is None:
        return 303
    return 404 if scope == "other" and who in LIMITED else 200


def page_write_project(who: str | None, scope: str) -> int:
    if who is None:
        return 303
    if scope == "other" and who in LIMITED:
        return 404
    return 303 if who in WRITERS else 403  # done: back to the project page


def page_report(who: str | None, scope: str) -> int:
    return 303 if who is None else read_report(who, scope)


def page_admin_read(who: str | None, _scope: str) -> int:
    return 303 if who is None else 200 if who == "admin" else 403


def page_admin_write(who: str | None, _scope: str) -> int:
    return 303 if who is None else 303 if who == "admin" else 403


def page_admin_shows(who: str | None, _scope: str) -> int:
    """An admin's form whose answer is a page (a new token is shown once, never put in a URL)."""
    return 303 if who is None else 200 if who == "admin" else 403


def page_sign_in(who: str | None, _scope: str) -> int:
    return 401 if who is None else 303  # anonymous: a wrong password


def page_sign_out(who: str | None, _scope: str) -> int:
    return 303


_COUNTER = iter(range(1, 1_000_000))


def _accounts(site: Any) -> Any:
    from engine.access import Principal
    from engine.accounts import AccountService
    from storage.accounts import SqlAccountStore
    from storage.db import Database
    from webkit import CHEAP_HASHER

    db = Database(site.url)
    return db, AccountService(SqlAccountStore(db), CHEAP_HASHER), Principal.operator()


def _target_user(site: Any) -> str:
    """A user of its own for a user-management form to act on (made before the 'before' snapshot)."""
    from webkit import NOW, PASSWORD

    name = f"target{next(_COUNTER)}"
    db, accounts, op = _accounts(site)
    try:
        accounts.add_user(op, name, "viewer", PASSWORD, now=NOW)
    finally:
        db.dispose()
    return name


def _target_token(site: Any) -> str:
    from webkit import NOW

    name = f"target-token{next(_COUNTER)}"
    db, accounts, op = _accounts(site)
    try:
        accounts.create_token(op, name, role="viewer", now=NOW)
    finally:
        db.dispose()
    return name


def _page_advance(site: Any, scope: str) -> tuple[str, dict[str, Any]]:
    url, kwargs = _advance(site, scope)
    return url.removeprefix("/api"), {"data": {k: v for k, v in kwargs["json"].items()}}


def _page_participation(site: Any, scope: str) -> tuple[str, dict[str, Any]]:
    p = _current(site, _key(site, scope))
    return f"/projects/{p.key}/participation", {"data": {
        "kind": "resident_meeting", "held_on": "2026-03-01", "times": "1", "version": p.version, "note": "matrix"}}


def _new_user(site: Any, scope: str) -> tuple[str, dict[str, Any]]:
    from webkit import PASSWORD

    return "/admin/users", {"data": {"name": f"new{next(_COUNTER)}", "role": "coordinator", "districts": _gu(scope),
                                     "password": PASSWORD, "display_name": "새 사용자"}}


PAGE_RULES: dict[tuple[str, str], Rule] = {
    ("GET", "/login"): Rule("GET", lambda s, sc: ("/login", {}), page_public, page=True),
    ("POST", "/login"): Rule("POST", lambda s, sc: ("/login", {}), page_sign_in, page=True, fresh_session=True),
    ("POST", "/logout"): Rule("POST", lambda s, sc: ("/logout", {"data": {}}), page_sign_out, page=True,
                              fresh_session=True),
    ("GET", "/"): Rule("GET", lambda s, sc: ("/?as_of=2026-04-01", {}), page_signed_in, page=True),
    ("GET", "/projects"): Rule("GET", lambda s, sc: (f"/projects?gu={_gu(sc)}&sort=-level", {}), page_signed_in,
                               page=True),
    ("GET", "/export/projects"): Rule(
        "GET", lambda s, sc: (f"/export/projects?format={'csv' if sc == 'own' else 'xlsx'}&gu={_gu(sc)}", {}),
        page_signed_in, page=True),
    ("GET", "/projects/{key}"): Rule("GET", lambda s, sc: (f"/projects/{_key(s, sc)}", {}), page_read_project,
                                     page=True),
    ("POST", "/projects/{key}/advance"): Rule("POST", _page_advance, page_write_project, writes=True, page=True),
    ("POST", "/projects/{key}/participation"): Rule("POST", _page_participation, page_write_project, writes=True,
                                                    page=True),
    ("GET", "/report"): Rule("GET", lambda s, sc: (f"/report?gu={_gu(sc)}", {}), page_signed_in, page=True),
    ("GET", "/report/download"): Rule(
        "GET", lambda s, sc: (f"/report/download?format=md&gu={_gu(sc)}", {}), page_report, page=True),
    ("GET", "/admin/users"): Rule("GET", lambda s, sc: ("/admin/users", {}), page_admin_read, page=True),
    ("POST", "/admin/users"): Rule("POST", _new_user, page_admin_write, writes=True, page=True),
    ("POST", "/admin/users/{name}/disable"): Rule(
        "POST", lambda s, sc: (f"/admin/users/{_target_user(s)}/disable", {"data": {}}), page_admin_write,
        writes=True, page=True),
    ("POST", "/admin/users/{name}/password"): Rule(
        "POST", lambda s, sc: (f"/admin/users/{_target_user(s)}/password", {"data": {"password": "another long one"}}),
        page_admin_write, writes=True, page=True),
    ("GET", "/admin/tokens"): Rule("GET", lambda s, sc: ("/admin/tokens", {}), page_admin_read, page=True),
    ("POST", "/admin/tokens"): Rule(
        "POST", lambda s, sc: ("/admin/tokens", {"data": {"name": f"tok{next(_COUNTER)}", "role": "viewer"}}),
        page_admin_shows, writes=True, page=True),
    ("POST", "/admin/tokens/{name}/revoke"): Rule(
        "POST", lambda s, sc: (f"/admin/tokens/{_target_token(s)}/revoke", {"data": {}}), page_admin_write,
        writes=True, page=True),
    ("GET", "/static"): Rule("GET", lambda s, sc: ("/static/app.css", {}), page_public, page=True),
}
RULES.update(PAGE_RULES)


def everything(url: str) -> Any:
    """Every row (webkit.snapshot) and the tokens without when they were last used; not the web sessions,
    whose expiry any request may slide (at most once a minute)."""
    from sqlalchemy import create_engine, select
    from sqlalchemy.pool import NullPool

    from storage.accounts import T

    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            tokens = conn.execute(select(*[c for c in T.c if c.name != "last_used_at"]).order_by(T.c.id)).all()
    finally:
        engine.dispose()
    rows = snapshot(url)
    rows.pop("web_sessions", None)
    return rows, [tuple(t) for t in tokens]


class Browsers:
    """One signed-in TestClient per principal (its own cookie jar), and fresh ones on demand."""

    def __init__(self, site: Any) -> None:
        self.site = site
        self.clients: dict[str | None, tuple[Any, str]] = {}

    def _new(self, who: str | None) -> tuple[Any, str]:
        from fastapi.testclient import TestClient

        from pagekit import sign_in

        client = TestClient(self.site.app, raise_server_exceptions=False)
        return client, (sign_in(client, who) if who is not None else "")

    def call(self, rule: Rule, who: str | None, url: str, kwargs: dict[str, Any]) -> Any:
        from pagekit import ORIGIN, csrf_of
        from webkit import PASSWORD

        if rule.fresh_session and url == "/login":
            client, _ = self._new(None)
            form = client.get("/login")
            data = {"user": who or "admin", "password": PASSWORD if who else "not the password", "next": "/",
                    "csrf": csrf_of(form.text, "/login")}
            return client.post(url, data=data, headers={"Origin": ORIGIN}, follow_redirects=False)
        if rule.fresh_session:
            client, csrf = self._new(who)
        else:
            if who not in self.clients:
                self.clients[who] = self._new(who)
            client, csrf = self.clients[who]
        if rule.method == "GET":
            return client.get(url, follow_redirects=False, **kwargs)
        data = dict(kwargs.get("data") or {})
        if who is not None:
            data["csrf"] = csrf
        return client.post(url, data=data, headers={"Origin": ORIGIN}, follow_redirects=False)


def app_routes(app: Any) -> set[tuple[str, str]]:
    """(method, path) of every route, walking included routers (FastAPI keeps an included router as
    one entry that refers to the original, with the prefix in its include context)."""
    out: set[tuple[str, str]] = set()

    def walk(routes: Any, prefix: str) -> None:
        for route in routes:
            original = getattr(route, "original_router", None)
            if original is not None:
                walk(original.routes, prefix + route.include_context.prefix)
            elif isinstance(route, Mount):
                out.add(("GET", prefix + route.path))
            elif isinstance(route, Route):
                for method in sorted(route.methods or {"GET"}):
                    if method != "HEAD":
                        out.add((method, prefix + route.path))
            else:  # a websocket or another kind: it needs a rule of its own
                out.add(("?", prefix + getattr(route, "path", repr(route))))

    walk(app.routes, "")
    return out


def test_every_route_has_a_rule() -> None:
    from web.app import create_app
    from web.context import WebSettings

    routes = app_routes(create_app(WebSettings(db_url="sqlite:///unused.db")))
    assert routes == set(RULES), (
        f"routes without a rule: {sorted(routes - set(RULES))}; rules without a route: {sorted(set(RULES) - routes)}")


CASES = [(route, who, scope) for route in RULES for who in WHO for scope in SCOPES]


def test_access_matrix(site) -> None:
    """One database for the whole matrix (seeding per case would take minutes): each case's request is
    built from the current state, and each refused one must leave every row as it was."""
    failures = []
    browsers = Browsers(site)
    for route, who, scope in CASES:
        rule = RULES[route]
        url, kwargs = rule.request(site, scope)
        before = everything(site.url) if rule.writes else None
        if rule.page:
            response = browsers.call(rule, who, url, kwargs)
        else:
            response = getattr(site, rule.method.lower())(url, who, **kwargs)
        expected = rule.expect(who, scope)
        if response.status_code != expected:
            failures.append(f"{route} as {who or 'anonymous'} in {scope}: {response.status_code} != {expected} "
                            f"({response.text[:120]})")
            continue
        refused = expected >= 400 or (rule.page and who is None and expected == 303)
        if refused:
            if rule.page and expected == 303:
                assert response.headers["location"].startswith("/login"), (route, who)
            elif rule.page:
                assert response.headers["content-type"].startswith("text/html"), (route, who)
            else:
                assert response.headers["content-type"].startswith("application/problem+json")
            if before is not None and everything(site.url) != before:
                failures.append(f"{route} as {who or 'anonymous'} in {scope}: refused but the database changed")
        elif rule.writes:
            assert everything(site.url) != before, (route, who, scope)
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("who", sorted(LIMITED))
def test_limited_callers_never_see_another_district(site, who: str) -> None:
    page = site.get("/api/projects?limit=500", who).json()
    assert page["total"] == len(page["items"]) == 2 and {i["gu"] for i in page["items"]} == {OWN}
    assert all(i["gu"] == OWN for i in site.get("/api/overdue?as_of=2027-01-01", who).json())
    assert site.get(f"/api/projects?gu={OTHER}", who).json()["total"] == 0
