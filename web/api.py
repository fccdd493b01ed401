"""The JSON API (mounted at ``/api``): thin routes over the scoped service layer.

Every route takes the caller through a typed dependency (``Scoped`` or ``ApiPrincipal``), so none can
forget authentication; the scoped service applies the district rules (404 for another district's
project, 403 for a write without the right). Responses are built by :mod:`render.views`, the same
functions as the CLI's ``--json`` output.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from engine.access import ScopedService
from engine.errors import InvalidInput, ProjectRenamed
from engine.ports import ProjectQuery
from engine.values import parse_date, parse_datetime
from storage.alert_lifecycle import AlertRecord
from render.views import bulk_json, findings_json, history_json, status_json, triggers_json
from web.auth import ApiPrincipal, Context, Scoped
from web.context import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, WebContext
from web.problems import responses
from web.schemas import (
    AcknowledgeRequest,
    AdvanceRequest,
    BulkAdvanceRequest,
    BulkAdvanceResult,
    BulkWhere,
    CorrectionRequest,
    EditRequest,
    FactRequest,
    Finding,
    FindingLevel,
    HistoryEvent,
    Level,
    ProjectDetail,
    ProjectPage,
    SnoozeRequest,
    WholeNumber,
)


async def _display_zone(ctx: Context) -> AsyncIterator[None]:
    """The engine's messages show times in the server's zone (``on 2026-03-15 00:00 KST, ...``), as the
    CLI's do (engine.display); async, so the request's own context carries it into the route."""
    from engine.display import display_zone

    with display_zone(ctx.tz):
        yield


router = APIRouter(responses=responses(401, 422, 503), dependencies=[Depends(_display_zone)])
READ = responses(404)
WRITE = responses(400, 403, 404, 409)

Text = Annotated[str | None, Query(max_length=200)]
Year = Annotated[WholeNumber | None, Query(ge=1900, le=2200)]
AsOf = Annotated[str | None, Query(max_length=40, description="YYYY-MM-DD (default: today, Asia/Seoul)")]


def _day(ctx: WebContext, as_of: str | None) -> dt.date:
    return ctx.today() if as_of is None else parse_date(as_of, "as_of")


def _at(ctx: WebContext, at: str | None) -> dt.datetime | None:
    """A request's ``at`` (when it took effect) read as the CLI reads ``--at``: the same parser, the same
    local time zone. Checked against the back-dating rules (engine/backdating.py) by the service."""
    return None if at is None else parse_datetime(at, ctx.tz, "at")


def _cutoff(ctx: WebContext, day: dt.date) -> dt.datetime | None:
    """A past day: reads rebuild the record as it stood then (engine/asof.py); None: as it stands."""
    from engine.asof import cutoff_for

    return cutoff_for(day, ctx.today(), ctx.tz)


def _gu(ctx: WebContext, gu: str | None, field: str = "gu") -> str | None:
    """A district filter: a value naming no district is a 422 listing the valid ones (the listing contract)."""
    from render.filters import gu_filter, stored_districts

    def stored() -> list[str]:
        with ctx.db.read() as conn:
            return stored_districts(conn)

    return gu_filter(gu, stored, field)


def assess(ctx: WebContext, projects: list[Any], day: dt.date) -> list[tuple[Any, Any]]:
    with ctx.db.read() as conn:
        return ctx.deadline_book(conn, _cutoff(ctx, day)).assess(projects, day)


def project_detail(ctx: WebContext, svc: ScopedService, key: str, day: dt.date) -> dict[str, Any]:
    """``status KEY --json`` plus the triggers from its state (the pages use it too)."""
    (project,) = svc.status(ProjectQuery(key=key), _cutoff(ctx, day))
    wf = svc.workflow_of(project)
    ((p, a),) = assess(ctx, [project], day)
    item = status_json(p, wf, a, day, ctx.tz, ctx.settings.lang)
    item["triggers"] = triggers_json(p, wf, ctx.settings.lang)
    return item


# ------------------------------------------------------------------------------------------------
# Projects


@router.get("/projects", response_model=ProjectPage, tags=["projects"])
def list_projects(
    request: Request, ctx: Context, svc: Scoped, gu: Text = None, year: Year = None, state: Text = None,
    workflow: Text = None, level: Level | None = None, as_of: AsOf = None,
    limit: Annotated[WholeNumber, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
    offset: Annotated[WholeNumber, Query(ge=0, le=10_000_000)] = 0,
) -> dict[str, Any]:
    """Projects the caller may read, ordered by key, a page at a time (``next`` links the next page).

    Items have the fields of ``dongflow status --json``. ``level`` keeps projects whose overall level
    on the as-of day is that one (``at_risk`` also matches projects flagged at risk).
    """
    from render.filters import state_filter, workflow_filter

    day = _day(ctx, as_of)
    cutoff = _cutoff(ctx, day)
    workflow = workflow_filter(ctx.catalog, workflow, "workflow")
    query = ProjectQuery(gu=_gu(ctx, gu), year=year, state=state_filter(ctx.catalog, state, workflow, "state"),
                         workflow_id=workflow)
    if level is None and cutoff is not None:  # rebuilt once: its count and its page
        everything = svc.status(query, cutoff)
        total = len(everything)
        assessed = assess(ctx, everything[offset:offset + limit], day)
    elif level is None:
        total = svc.count(query)
        assessed = assess(ctx, svc.status(dataclasses.replace(query, limit=limit, offset=offset)), day)
    else:
        everything = [(p, a) for p, a in assess(ctx, svc.status(query, cutoff), day)
                      if a.level == level or (level == "at_risk" and a.risk is not None and a.risk.at_risk)]
        total = len(everything)
        assessed = everything[offset:offset + limit]
    lang = ctx.settings.lang
    items = [status_json(p, svc.workflow_of(p), a, day, ctx.tz, lang) for p, a in assessed]
    more = offset + len(items) < total and bool(items)
    return {"items": items, "total": total,
            "next": str(request.url.include_query_params(offset=offset + limit)) if more else None}


def _follow_rename(request: Request, response: Response, exc: ProjectRenamed, route: str) -> str:
    """The new key of a project read by a key it had before ``project edit --key``: the answer is the
    project's (its ``key`` is the new one), with a ``Content-Location`` naming its URL now."""
    from urllib.parse import quote

    response.headers["Content-Location"] = str(request.url_for(route, key=quote(exc.new_key, safe="")))
    return exc.new_key


@router.get("/projects/{key}", response_model=ProjectDetail, tags=["projects"], responses=READ)
def get_project(request: Request, response: Response, ctx: Context, svc: Scoped, key: str,
                as_of: AsOf = None) -> dict[str, Any]:
    """One project: ``dongflow status KEY --json``, its ``version`` and the triggers from its state.

    A key the project had before it was renamed (``project edit --key``) answers with the project
    (whose ``key`` is the new one) and a ``Content-Location`` header naming its URL now; a key that a
    project holds now always means that project. Changes (POST) under an old key are a 404 whose
    ``renamed_to`` names the new key."""
    day = _day(ctx, as_of)
    try:
        return project_detail(ctx, svc, key, day)
    except ProjectRenamed as exc:
        return project_detail(ctx, svc, _follow_rename(request, response, exc, "get_project"), day)


@router.get("/projects/{key}/history", response_model=list[HistoryEvent], tags=["projects"], responses=READ)
def get_history(request: Request, response: Response, ctx: Context, svc: Scoped, key: str) -> list[dict[str, Any]]:
    """Every change to the project, oldest first: who, when, from, to, why (``history KEY --json``);
    an old key (before a rename) is followed as by ``GET /projects/{key}``."""
    try:
        events = svc.history(key)
    except ProjectRenamed as exc:
        key = _follow_rename(request, response, exc, "get_history")
        events = svc.history(key)
    return history_json(svc.project(key), events, ctx.tz)


@router.post("/projects/{key}/advance", response_model=ProjectDetail, tags=["projects"],
             responses=WRITE)
def advance(ctx: Context, svc: Scoped, key: str, body: AdvanceRequest) -> dict[str, Any]:
    """Fire a trigger. 409 when ``version`` is not the project's current one (someone moved it
    meanwhile); 422 when the trigger is refused, with the reason and the allowed triggers.

    ``at``: when it happened, if earlier (``advance --at``); 422 when it breaks a back-dating rule (code 3;
    code 5 when the guards refuse the facts as they stood then). The event is recorded now, by the caller."""
    at = _at(ctx, body.at)
    p, _event = svc.advance(key, body.trigger, now=ctx.now(), at=at, note=body.note, expected_version=body.version)
    return project_detail(ctx, svc, p.key, ctx.today())


@router.post("/projects/{key}/facts", response_model=ProjectDetail, tags=["projects"], responses=WRITE)
def set_fact(ctx: Context, svc: Scoped, key: str, body: FactRequest) -> dict[str, Any]:
    """Record one fact (a value guards read), e.g. ``{"name": "design_approved", "value": true, "version": 4}``;
    ``at``: when it became true, if earlier (``fact set --at``; not before the last change of state)."""
    at = _at(ctx, body.at)
    value = body.value
    raw = ("true" if value else "false") if isinstance(value, bool) else str(value)
    p, _value = svc.set_fact(key, body.name, raw, now=ctx.now(), at=at, note=body.note,
                             expected_version=body.version)
    return project_detail(ctx, svc, p.key, ctx.today())


# ------------------------------------------------------------------------------------------------
# Corrections and bulk moves (``dongflow undo``, ``project edit``, ``project retire``, ``advance --where``):
# the scoped service decides who may (engine/access.py), the routes only translate.


@router.post("/projects/{key}/undo", response_model=ProjectDetail, tags=["projects"], responses=WRITE)
def undo(ctx: Context, svc: Scoped, key: str, body: CorrectionRequest) -> dict[str, Any]:
    """Revert the project's last transition with an ``undone`` event (``dongflow undo KEY``). 422 (code 5)
    when there is nothing to undo or something recorded after it depends on it; 409 on a stale ``version``."""
    p, _event = svc.undo(key, now=ctx.now(), note=body.note, expected_version=body.version)
    return project_detail(ctx, svc, p.key, ctx.today())


@router.post("/projects/{key}/edit", response_model=ProjectDetail, tags=["projects"], responses=WRITE)
def edit_project(ctx: Context, svc: Scoped, key: str, body: EditRequest) -> dict[str, Any]:
    """Correct the key, district, dong, year or target (``dongflow project edit KEY``): an ``edited``
    event with the old and new values. A limited caller may not move a project into a district not theirs
    (403); a new key that is taken, or a second project for the same place and year, is a 409."""
    p, _event = svc.edit_project(key, now=ctx.now(), note=body.note, expected_version=body.version, gu=body.gu,
                                 dong=body.dong, year=body.year, target=body.target, new_key=body.key,
                                 allow_duplicate=body.allow_duplicate)
    return project_detail(ctx, svc, p.key, ctx.today())


@router.post("/projects/{key}/retire", response_model=ProjectDetail, tags=["projects"], responses=WRITE)
def retire_project(ctx: Context, svc: Scoped, key: str, body: CorrectionRequest) -> dict[str, Any]:
    """Retire a project entered by mistake (``dongflow project retire KEY``): out of listings, overdue,
    alerts and reports; its history stays, and the answer carries ``retired_at``."""
    p, _event = svc.retire_project(key, now=ctx.now(), note=body.note, expected_version=body.version)
    return project_detail(ctx, svc, p.key, ctx.today())


def _where(ctx: WebContext, where: BulkWhere) -> ProjectQuery:
    """``where`` as a query; names and labels checked as the listing's filters are (422 naming the valid ones)."""
    from render.filters import state_filter, workflow_filter

    if where.gu is None and where.year is None and where.state is None and where.workflow is None:
        raise InvalidInput("name at least one of gu, year, state, workflow", field="where")
    workflow = workflow_filter(ctx.catalog, where.workflow, "where.workflow")
    return ProjectQuery(gu=_gu(ctx, where.gu, "where.gu"), year=where.year, workflow_id=workflow,
                        state=state_filter(ctx.catalog, where.state, workflow, "where.state"))


@router.post("/bulk/advance", response_model=BulkAdvanceResult, tags=["projects"], responses=WRITE)
def bulk_advance(ctx: Context, svc: Scoped, body: BulkAdvanceRequest) -> dict[str, Any]:
    """Fire one trigger on every project ``where`` names or ``keys`` lists (``dongflow advance TRIGGER
    --where ... | --keys-from FILE``), within the caller's districts: a filter is narrowed to them, a listed
    key outside them is refused as not found. Every project is checked as a single advance is.

    ``dry_run``: what would move and what would be refused, and why; nothing is written. Otherwise all or
    nothing: one refusal and nothing moves (422, code 5, ``refused`` lists which and why); with ``partial``
    the others move and the answer lists the refused. The events of one move share its ``batch``.

    ``at`` dates every move (``advance --where ... --at``): unreadable or in the future is a 422 (code 3);
    before a project's creation or its latest change of state refuses that project, as above."""
    if (body.where is None) == (body.keys is None):
        raise InvalidInput("name the projects with one of where (a filter) or keys (a list), not both",
                           field="where" if body.where is None else "keys")
    at = _at(ctx, body.at)
    query = None if body.where is None else _where(ctx, body.where)
    result = svc.bulk_advance(body.trigger, now=ctx.now(), query=query, keys=body.keys, note=body.note, at=at,
                              dry_run=body.dry_run, partial=body.partial)
    return bulk_json(result)


# ------------------------------------------------------------------------------------------------
# Deadlines, workflows, report, health


@router.get("/overdue", response_model=list[Finding], tags=["deadlines"])
def overdue(ctx: Context, svc: Scoped, as_of: AsOf = None, gu: Text = None, year: Year = None,
            level: Annotated[list[FindingLevel] | None, Query()] = None) -> list[dict[str, Any]]:
    """Milestones due soon, overdue or escalated, and projects at risk (``dongflow overdue --json``),
    in the districts the caller may read."""
    from functools import partial

    from storage.asof import iter_tracked

    day = _day(ctx, as_of)
    cutoff = _cutoff(ctx, day)
    gu = _gu(ctx, gu)
    with ctx.db.read() as conn:
        book = ctx.deadline_book(conn, cutoff)
        found = svc.overdue(book, partial(iter_tracked, conn, cutoff), day, ctx.settings.lang, gu=gu, year=year)
    return findings_json(found, book, day, ctx.settings.lang, ctx.tz, level or ())


@router.get("/workflows", tags=["workflows"])
def list_workflows(ctx: Context, principal: ApiPrincipal) -> list[dict[str, Any]]:
    """The latest version of every workflow (each as ``dongflow workflow show ID --json``), with
    whether and when it was published and its content hash."""
    from engine.workflow_versions import workflow_json

    catalog = ctx.refresh_catalog()
    return [workflow_json(wf, catalog.source(wf)) for wf in catalog.latest_all()]


@router.get("/workflows/{workflow_id}", tags=["workflows"], responses=READ)
def get_workflow(ctx: Context, principal: ApiPrincipal, workflow_id: str,
                 version: Annotated[WholeNumber | None, Query(ge=1, le=100_000)] = None) -> dict[str, Any]:
    """One workflow: states, transitions with guards, milestones, publication (``workflow show ID --json``)."""
    from engine.workflow_versions import workflow_json

    catalog = ctx.refresh_catalog()
    wf = catalog.get(workflow_id, version)
    return workflow_json(wf, catalog.source(wf))


REPORT_TYPES = {
    "html": "text/html; charset=utf-8",
    "md": "text/markdown; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@router.get("/report", tags=["report"], response_class=Response, responses={
    200: {"description": "The report", "content": {t.split(";")[0]: {} for t in REPORT_TYPES.values()}},
    **responses(403)})
def report(ctx: Context, svc: Scoped, format: Literal["html", "xlsx", "csv", "md"] = "html",
           as_of: AsOf = None, year: Year = None, gu: Text = None) -> Response:
    """The programme office's report (``dongflow report``) as HTML, an Excel workbook, CSV or Markdown.
    A caller limited to some districts gets one district's report (``gu``; their only one by default)."""
    from programme.report import ReportBuilder, ReportFilter
    from programme.report_queries import SqlReportSource

    day = _day(ctx, as_of)
    builder = ReportBuilder(SqlReportSource(ctx.db), ctx.catalog, ctx.tz)
    result = svc.report(builder, day, ReportFilter(gu=_gu(ctx, gu), year=year), timeline=format == "html")
    lang = ctx.settings.lang
    name = f"dongflow-report-{day.isoformat()}.{format}"
    if format == "xlsx":
        import tempfile
        from pathlib import Path

        from programme.report_xlsx import write_xlsx

        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / name
            write_xlsx(result, path, lang)
            content: bytes | str = path.read_bytes()
    elif format == "html":
        from programme.report_html import render_html

        content = render_html(result, lang)
    else:
        from programme.report_text import render_csv, render_markdown

        content = (render_csv if format == "csv" else render_markdown)(result, lang)
        if format == "csv":
            content = "\ufeff" + content  # Excel reads Korean CSV only with a BOM
    headers = {"Content-Disposition": f'{"inline" if format == "html" else "attachment"}; filename="{name}"'}
    if format == "html":
        # Its charts need their inline scripts, but they run in an opaque origin: no cookies, no API.
        headers["Content-Security-Policy"] = "sandbox allow-scripts"
    return Response(content, media_type=REPORT_TYPES[format], headers=headers)


# ------------------------------------------------------------------------------------------------
# Alerts (the lifecycle of notify/service.py)

AlertState = Literal["open", "acknowledged", "snoozed", "resolved", "superseded"]


def _alert_json(a: Any) -> dict[str, Any]:
    return dataclasses.asdict(a)


@router.get("/alerts", response_model=list[AlertRecord], tags=["alerts"])
def list_alerts(svc: Scoped, state: Annotated[list[AlertState] | None, Query()] = None,
                limit: Annotated[WholeNumber, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE) -> list[dict[str, Any]]:
    """Alerts in the districts the caller may read, newest first (``dongflow alerts ...``)."""
    return [_alert_json(a) for a in svc.alerts(state or (), limit)]


@router.get("/alerts/{alert_id}", response_model=AlertRecord, tags=["alerts"], responses=READ)
def get_alert(svc: Scoped, alert_id: Annotated[WholeNumber, Path(ge=1, le=2**31 - 1)]) -> dict[str, Any]:
    """One alert (another district's is not found)."""
    return _alert_json(svc.alert(alert_id))


@router.post("/alerts/{alert_id}/acknowledge", response_model=AlertRecord, tags=["alerts"], responses=WRITE)
def acknowledge_alert(svc: Scoped, alert_id: Annotated[WholeNumber, Path(ge=1, le=2**31 - 1)],
                      body: AcknowledgeRequest) -> dict[str, Any]:
    """Someone deals with it: no more reminders or escalation (409 unless it is open or snoozed)."""
    return _alert_json(svc.acknowledge_alert(alert_id, body.note))


@router.post("/alerts/{alert_id}/snooze", response_model=AlertRecord, tags=["alerts"], responses=WRITE)
def snooze_alert(svc: Scoped, alert_id: Annotated[WholeNumber, Path(ge=1, le=2**31 - 1)],
                 body: SnoozeRequest) -> dict[str, Any]:
    """No reminders or escalation until ``until``; then it is open again."""
    return _alert_json(svc.snooze_alert(alert_id, body.until, body.note))


@router.get("/health", tags=["health"], responses=responses(503))
def health(ctx: Context) -> dict[str, str]:
    """For a load balancer or a monitor (no token needed): 200 when this process can read the database at
    the schema it needs, else a 503 problem (code 7)."""
    from sqlalchemy import text

    ctx.db.require_schema()
    with ctx.db.read() as conn:
        conn.execute(text("SELECT 1"))
    return {"status": "ok"}
