"""Every route of the application x every principal x own district / other district / anonymous.

The routes are enumerated from ``app.routes``: a route added without a rule here fails
``test_every_route_has_a_rule``. Each refusal is checked to change nothing in the database.
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


RULES: dict[tuple[str, str], Rule] = {
    ("GET", "/api/projects"): Rule("GET", lambda s, sc: (f"/api/projects?gu={_gu(sc)}", {}), any_signed_in),
    ("GET", "/api/projects/{key}"): Rule("GET", lambda s, sc: (f"/api/projects/{_key(s, sc)}", {}), read_project),
    ("GET", "/api/projects/{key}/history"): Rule(
        "GET", lambda s, sc: (f"/api/projects/{_key(s, sc)}/history", {}), read_project),
    ("POST", "/api/projects/{key}/advance"): Rule("POST", _advance, write_project, writes=True),
    ("POST", "/api/projects/{key}/facts"): Rule("POST", _fact, write_project, writes=True),
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
    for route, who, scope in CASES:
        rule = RULES[route]
        url, kwargs = rule.request(site, scope)
        before = snapshot(site.url) if rule.writes else None
        response = getattr(site, rule.method.lower())(url, who, **kwargs)
        expected = rule.expect(who, scope)
        if response.status_code != expected:
            failures.append(f"{route} as {who or 'anonymous'} in {scope}: {response.status_code} != {expected} "
                            f"({response.text[:120]})")
            continue
        if expected >= 400:
            assert response.headers["content-type"].startswith("application/problem+json")
            if before is not None and snapshot(site.url) != before:
                failures.append(f"{route} as {who or 'anonymous'} in {scope}: refused but the database changed")
        elif rule.writes:
            assert snapshot(site.url) != before
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("who", sorted(LIMITED))
def test_limited_callers_never_see_another_district(site, who: str) -> None:
    page = site.get("/api/projects?limit=500", who).json()
    assert page["total"] == len(page["items"]) == 2 and {i["gu"] for i in page["items"]} == {OWN}
    assert all(i["gu"] == OWN for i in site.get("/api/overdue?as_of=2027-01-01", who).json())
    assert site.get(f"/api/projects?gu={OTHER}", who).json()["total"] == 0
