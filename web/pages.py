"""The server-rendered web app: sign in and out, the dashboard, the district list and its downloads,
the report; the project page (web/pages_project.py) and user and token management
(web/pages_admin.py) are routers of their own, installed here.

Pages are thin doors like the API: every read and write goes through the scoped service of the
signed-in user (``ctx.scoped(session.principal)``), which applies the district rules; the only
question asked here is who is signed in (web/sessions.py). Every form post is checked for its
origin and CSRF token (:func:`form_guard`) before anything runs.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Form, Query, Request
from fastapi.staticfiles import StaticFiles
from starlette.responses import RedirectResponse, Response

from engine import errors
from engine.ports import ProjectQuery
from engine.values import ascii_digits, lookup_text, parse_date, parse_year
from web.auth import Context
from web.security import SecurityHeaders, same_origin, tokens_match
from web.sessions import (
    PRESIGN_COOKIE,
    SESSION_COOKIE,
    CurrentSession,
    NotSignedIn,
    OptionalSession,
    Sessions,
    TooManyAttempts,
    client_address,
)
from web.schemas import WholeNumber
from web.templating import render, url

router = APIRouter(include_in_schema=False)
STATIC = Path(__file__).parent / "static"
PAGE_SIZE = 100
SORTS = ("key", "gu", "dong", "year", "state", "level", "next_due")
LATE = ("overdue", "escalated")
NOT_PAGES = ("/api/", "/api", "/openapi.json", "/docs", "/_docs-assets", "/feeds/")
"""Paths whose errors stay RFC 9457 problem details: the API and the calendar feeds (read by programs)."""


class CsrfRefused(errors.AccessDenied):
    def __init__(self) -> None:
        super().__init__("the form is not from this site or has expired (CSRF check)")


def form_guard(request: Request, session: CurrentSession,
               csrf: Annotated[str, Form(max_length=200)] = "") -> Any:
    """Every form post: signed in, from the app's own origin, with the session's CSRF token."""
    if not same_origin(request) or not tokens_match(csrf, session.csrf_token):
        raise CsrfRefused()
    return session


Guarded = Annotated[Any, Depends(form_guard)]


def scoped(ctx: Any, session: Any) -> Any:
    return ctx.scoped(session.principal)


def page_year(year: str | None) -> int | None:
    """A year filter of a page's query (empty: none): the digits 0-9 and nothing else (no sign, no
    space: a link a page made never has them), then the year every door reads (``parse_year``)."""
    if not year:
        return None
    if not (year.isascii() and year.isdigit()):
        ascii_digits(year, "year")  # names Unicode digits as such
        raise errors.InvalidInput(f"{year[:20]!r} is not a year", field="year")
    return parse_year(year)


def as_of_day(ctx: Any, as_of: str | None) -> dt.date:
    return ctx.today() if not as_of else parse_date(as_of, "as_of")


# ------------------------------------------------------------------------------------------------
# Signing in and out


@router.get("/login")
def login_form(request: Request, manager: Sessions, _session: OptionalSession,
               next: Annotated[str, Query(max_length=500)] = "/") -> Response:
    """The sign-in form (also when signed in: to sign in as someone else, which ends this session)."""
    return _login_page(request, manager, next)


def _login_page(request: Request, manager: Any, next_path: str, message: str | None = None,
                status_code: int = 200) -> Response:
    token = secrets.token_urlsafe(32)
    response = render(request, "login.html", status_code, presign=token, next=_local(next_path), message=message)
    manager.set_cookie(response, request, PRESIGN_COOKIE, token, max_age=3600)
    return response


def _local(path: str) -> str:
    """Only a path inside the app may follow sign-in (no open redirect to another site)."""
    return path if path.startswith("/") and not path.startswith("//") and "\\" not in path else "/"


@router.post("/login")
def login(request: Request, manager: Sessions, user: Annotated[str, Form(max_length=100)] = "",
          password: Annotated[str, Form(max_length=1024)] = "", csrf: Annotated[str, Form(max_length=200)] = "",
          next: Annotated[str, Form(max_length=500)] = "/") -> Response:
    from web.i18n import Words
    from web.templating import request_lang

    if not same_origin(request) or not tokens_match(csrf, request.cookies.get(PRESIGN_COOKIE)):
        raise CsrfRefused()
    t = Words(request_lang(request))
    try:
        session_id, _principal = manager.sign_in(user, password, client_address(request))
    except TooManyAttempts as exc:
        return _login_page(request, manager, next, t("too_many", minutes=exc.minutes), 429)
    except errors.NotAuthenticated:
        return _login_page(request, manager, next, t("bad_sign_in"), 401)
    manager.sign_out(request.cookies.get(SESSION_COOKIE))  # an old session of this browser ends
    response = RedirectResponse(url(request, _local(next)), status_code=303)
    manager.set_cookie(response, request, SESSION_COOKIE, session_id)
    manager.clear_cookie(response, request, PRESIGN_COOKIE)
    return response


@router.post("/logout")
def logout(request: Request, manager: Sessions, _session: Guarded) -> Response:
    manager.sign_out(request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse(url(request, "/login"), status_code=303)
    manager.clear_cookie(response, request, SESSION_COOKIE)
    return response


# ------------------------------------------------------------------------------------------------
# Dashboard and the district list


@router.get("/")
def dashboard(request: Request, ctx: Context, session: CurrentSession,
              as_of: Annotated[str | None, Query(max_length=40)] = None) -> Response:
    from functools import partial

    from storage.tracking import tracked_rows

    svc = scoped(ctx, session)
    day = as_of_day(ctx, as_of)
    with ctx.db.read() as conn:  # the deadline check's light rows, kept to the caller's districts by the service
        rows = svc.dashboard(ctx.deadline_book(conn), partial(tracked_rows, conn), day)
    workflows = ctx.catalog.latest_all()
    states: list[tuple[str, str]] = []
    for wf in workflows:
        for s in wf.states:
            if s.id not in {x for x, _ in states}:
                states.append((s.id, wf.state_label(s.id, _lang(request))))
    table: dict[str, dict[str, Any]] = {}
    for p, a in rows:
        line = table.setdefault(p.gu, {"states": {}, "total": 0, "late": 0, "at_risk": 0})
        line["states"][p.state] = line["states"].get(p.state, 0) + 1
        line["total"] += 1
        line["late"] += a.level in LATE
        line["at_risk"] += bool(a.risk is not None and a.risk.at_risk)
    totals = {"states": {s: sum(r["states"].get(s, 0) for r in table.values()) for s, _ in states},
              **{k: sum(r[k] for r in table.values()) for k in ("total", "late", "at_risk")}}
    return render(request, "dashboard.html", day=day, states=states, table=dict(sorted(table.items())),
                  totals=totals, scope=svc.read_districts())


def _lang(request: Request) -> str:
    from web.templating import request_lang

    return request_lang(request)


Text = Annotated[str | None, Query(max_length=200)]


def _listing(request: Request, ctx: Any, session: Any, gu: str | None, year: str | None, state: str | None,
             level: str | None, sort: str, as_of: str | None,
             window: tuple[int, int] | None = None) -> tuple[dt.date, int, list[tuple[Any, Any]]]:
    """(as-of day, how many match, the (project, assessment) pairs in ``window`` = (offset, size), or all).

    Only the projects shown are assessed, unless the status filter or the sort needs every one's."""
    from engine.deadlines import SEVERITY
    from web.api import assess

    svc = scoped(ctx, session)
    day = as_of_day(ctx, as_of)
    year_value = page_year(year)
    query = ProjectQuery(gu=lookup_text(gu, "gu") or None, year=year_value, state=state or None)
    key = sort.lstrip("-") if sort.lstrip("-") in SORTS else "key"
    reverse = sort.startswith("-")
    if window is not None and not level and key == "key" and not reverse:  # the store's own order: one page
        page = svc.status(dataclasses.replace(query, offset=window[0], limit=window[1]))
        return day, svc.count(query), assess(ctx, page, day)
    projects = svc.status(query)
    cut = (lambda items: items) if window is None else (lambda items: items[window[0]:window[0] + window[1]])
    if not level and key not in ("level", "next_due"):
        projects.sort(key=lambda p: (getattr(p, key), p.key), reverse=reverse)
        return day, len(projects), assess(ctx, cut(projects), day)
    rows = assess(ctx, projects, day)
    if level:
        rows = [(p, a) for p, a in rows
                if a.level == level or (level == "late" and a.level in LATE)
                or (level == "at_risk" and a.risk is not None and a.risk.at_risk)]

    def sort_key(pa: tuple[Any, Any]) -> Any:
        p, a = pa
        if key == "level":
            return (SEVERITY.get(a.level, 0), p.key)
        if key == "next_due":
            nxt = a.next
            return (nxt.due if nxt else dt.date.max, p.key)
        return (getattr(p, key), p.key)

    rows.sort(key=sort_key, reverse=reverse)
    return day, len(rows), cut(rows)


def _districts(ctx: Any, session: Any) -> list[str]:
    """The districts the signed-in user may pick from (the scoped service decides which)."""
    from render.filters import stored_districts

    def stored() -> list[str]:
        with ctx.db.read() as conn:
            return stored_districts(conn)

    return scoped(ctx, session).districts(stored)


@router.get("/projects")
def project_list(request: Request, ctx: Context, session: CurrentSession, gu: Text = None, year: Text = None,
                 state: Text = None, level: Text = None, sort: Text = "key", as_of: Text = None,
                 offset: Annotated[WholeNumber, Query(ge=0, le=10_000_000)] = 0) -> Response:
    day, total, rows = _listing(request, ctx, session, gu, year, state, level, sort or "key", as_of,
                                (offset, PAGE_SIZE))
    lang = _lang(request)
    svc = scoped(ctx, session)
    page = [(p, a, svc.workflow_of(p).state_label(p.state, lang)) for p, a in rows]
    states = [(s.id, s.label.get(lang)) for wf in ctx.catalog.latest_all() for s in wf.states]
    filters = {"gu": gu, "year": year, "state": state, "level": level, "sort": sort, "as_of": as_of}
    return render(request, "projects.html", day=day, page=page, total=total, offset=offset, size=PAGE_SIZE,
                  filters=filters, districts=_districts(ctx, session), states=states,
                  levels=["late", "due_soon", "overdue", "escalated", "at_risk", "met", "pending", "closed"],
                  sorts=SORTS)


@router.get("/export/projects")
def export_projects(request: Request, ctx: Context, session: CurrentSession, gu: Text = None, year: Text = None,
                    state: Text = None, level: Text = None, sort: Text = "key", as_of: Text = None,
                    format: Annotated[str, Query(pattern="^(csv|xlsx)$")] = "csv") -> Response:
    """The district list with the same filters, as CSV or XLSX (formula-looking values neutralised)."""
    from web.exports import to_csv, to_xlsx
    from web.i18n import Words

    day, _total, rows = _listing(request, ctx, session, gu, year, state, level, sort or "key", as_of)
    lang = _lang(request)
    t = Words(lang)
    svc = scoped(ctx, session)
    header = [t("key"), t("district"), t("dong"), t("year"), t("state"), t("level"), t("next_milestone"),
              t("due"), t("target"), t("at_risk"), t("as_of")]
    data = []
    for p, a in rows:
        nxt = a.next
        data.append([p.key, p.gu, p.dong, p.year, svc.workflow_of(p).state_label(p.state, lang), t.level(a.level),
                     nxt.milestone.label.get(lang) if nxt else "", nxt.due.isoformat() if nxt else "",
                     p.target.isoformat(), bool(a.risk is not None and a.risk.at_risk), day.isoformat()])
    name = f"dongflow-projects-{day.isoformat()}.{format}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"}
    if format == "xlsx":
        return Response(to_xlsx(header, data), headers=headers,
                        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    return Response(to_csv(header, data), headers=headers, media_type="text/csv; charset=utf-8")


# ------------------------------------------------------------------------------------------------
# Report


@router.get("/report")
def report_page(request: Request, ctx: Context, session: CurrentSession, as_of: Text = None, year: Text = None,
                gu: Text = None) -> Response:
    day = as_of_day(ctx, as_of)
    districts = _districts(ctx, session)
    return render(request, "report.html", day=day, year=year, gu=gu or (districts[0] if len(districts) == 1 else ""),
                  districts=districts, limited=scoped(ctx, session).limited,
                  formats=[("html", "HTML"), ("xlsx", "Excel"), ("csv", "CSV"), ("md", "Markdown")])


@router.get("/report/download")
def report_download(ctx: Context, session: CurrentSession,
                    format: Annotated[str, Query(pattern="^(html|xlsx|csv|md)$")] = "html", as_of: Text = None,
                    year: Text = None, gu: Text = None) -> Response:
    """The programme report (the API's /api/report) for the signed-in user."""
    from web.api import report

    year_value = page_year(year)
    return report(ctx, scoped(ctx, session), format, as_of or None, year_value, gu or None)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------------
# Installing the pages on the app


def _is_page(request: Request) -> bool:
    root = request.scope.get("root_path") or ""
    path = request.url.path[len(root):] if root and request.url.path.startswith(root) else request.url.path
    return not any(path == p or path.startswith(p.rstrip("/") + "/") for p in NOT_PAGES)


def error_page(request: Request, exc: Exception) -> Response:
    """A dongflow error met by a page, as a page (the API keeps its problem details)."""
    from web.i18n import Words
    from web.problems import error_response

    if isinstance(exc, errors.NotAuthenticated):
        here = request.url.path[len(request.scope.get("root_path") or ""):] or "/"
        target = here if request.method == "GET" else "/"
        return RedirectResponse(url(request, "/login", next=target if target != "/" else None), status_code=303)
    t = Words(_lang(request))
    status = error_response(exc).status_code if isinstance(exc, errors.DongflowError) else 500  # type: ignore[arg-type]
    title = {403: t("forbidden"), 404: t("not_found")}.get(status, t("bad_request"))
    detail = t("csrf_failed") if isinstance(exc, CsrfRefused) else str(exc)
    return render(request, "error.html", status, title=title, detail=detail)


def install(app: FastAPI) -> None:
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException

    from web import pages_admin, pages_project

    app.include_router(router)
    app.include_router(pages_project.router)
    app.include_router(pages_admin.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    original = dict(app.exception_handlers)

    def dispatch(kind: type) -> Any:
        api_handler = original[kind]

        async def handler(request: Request, exc: Exception) -> Response:
            if not _is_page(request):
                return await api_handler(request, exc)
            if isinstance(exc, errors.DongflowError):
                return error_page(request, exc)
            from web.i18n import Words

            t = Words(_lang(request))
            if isinstance(exc, HTTPException):
                status = exc.status_code
                title = t("not_found") if status == 404 else t("bad_request")
                return render(request, "error.html", status, title=title, detail=str(exc.detail))
            assert isinstance(exc, RequestValidationError)
            detail = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ())[1:])}: {e.get('msg')}"
                               for e in exc.errors()[:5])
            return render(request, "error.html", 422, title=t("bad_request"), detail=detail)

        return handler

    for kind in (errors.DongflowError, HTTPException, RequestValidationError):
        app.add_exception_handler(kind, dispatch(kind))
    app.add_middleware(SecurityHeaders)


__all__ = ["Guarded", "NotSignedIn", "as_of_day", "form_guard", "install", "router", "scoped"]
