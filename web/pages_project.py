"""The project page: its status, workflow diagram, milestones, facts, participation, budget and
history, with the triggers the project may take as buttons (each with the guards that do not hold
yet) and the form to record participation such as a resident meeting.

Every form carries the project's version. When someone else moved the project after the page was
read, the service refuses the stale write (ChangedMeanwhile) and the answer is a conflict page that
says who changed it and when, instead of overwriting their change.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from engine import errors
from web.auth import Context
from web.pages import Guarded, scoped
from web.schemas import WholeNumber
from web.sessions import CurrentSession
from web.templating import render, request_lang, url

router = APIRouter(include_in_schema=False)
Note = Annotated[str, Form(max_length=2000)]


def project_view(request: Request, ctx: Any, session: Any, key: str) -> dict[str, Any]:
    """Everything the project page shows (through the signed-in user's scoped service)."""
    from engine.diagram import render as mermaid
    from programme.participation import TYPES
    from render.views import triggers_json
    from web.api import assess
    from web.diagram_svg import render_svg
    from web.i18n import Words

    lang = request_lang(request)
    t = Words(lang)
    svc = scoped(ctx, session)
    project = svc.project(key)
    wf = svc.workflow_of(project)
    day = ctx.today()
    ((p, a),) = assess(ctx, [project], day)
    history = svc.history(p.key)
    labels = {tr.trigger: tr.label.get(lang) for tr in wf.transitions}
    kinds = list(wf.participation_kinds) or list(TYPES)
    return {
        "risk_reason": a.risk.reason(p.target, lang, lambda st: wf.state_label(st, lang))
        if a.risk is not None and a.risk.at_risk else None,
        "p": p, "a": a, "wf": wf, "day": day, "state_label": wf.state_label(p.state, lang),
        "triggers": triggers_json(p, wf, lang), "can_write": svc.may_write(p),
        "svg": render_svg(wf, p.state, p.reached.keys(), lang, t("from_any")),
        "mermaid": mermaid(wf, "mermaid", p.state, lang),
        "milestones": [(m, m.milestone.label.get(lang)) for m in a.milestones],
        "facts": [(spec.label.get(lang), name, p.facts.get(name, spec.default)) for name, spec in wf.facts.items()],
        "participation": [(e, TYPES[e.kind].get(lang) if e.kind in TYPES else e.kind) for e in svc.participation(p.key)],
        "kinds": [(k, TYPES[k].get(lang) if k in TYPES else k) for k in kinds],
        "budgets": svc.budgets(p.key),
        "fact_labels": {name: spec.label.get(lang) for name, spec in wf.facts.items()},
        "history": [(e, labels.get(e.trigger or "", e.trigger), wf.state_label(e.from_state, lang) if e.from_state else "",
                     wf.state_label(e.to_state, lang)) for e in reversed(history)],
    }


@router.get("/projects/{key}")
def project_page(request: Request, ctx: Context, session: CurrentSession, key: str) -> Response:
    try:
        view = project_view(request, ctx, session, key)
    except errors.ProjectRenamed as exc:  # an old bookmark or printout: the project under its key now
        return RedirectResponse(url(request, f"/projects/{exc.new_key}"), status_code=307)
    return render(request, "project.html", **view, done=request.query_params.get("done"))


def _conflict(request: Request, ctx: Any, session: Any, key: str) -> Response:
    """The stale-form answer: who changed the project last, and when."""
    svc = scoped(ctx, session)
    project = svc.project(key)
    last = svc.history(project.key)[-1]
    wf = svc.workflow_of(project)
    lang = request_lang(request)
    what = wf.state_label(last.to_state, lang) if last.kind == "transition" else (last.kind or "")
    if last.kind == "transition" and last.trigger:
        what = next((tr.label.get(lang) for tr in wf.transitions if tr.trigger == last.trigger), last.trigger)
    return render(request, "conflict.html", 409, p=project, who=last.actor, at=last.recorded_at or last.at, what=what)


def _refused(request: Request, ctx: Any, session: Any, key: str, message: str, status: int) -> Response:
    return render(request, "project.html", status, **project_view(request, ctx, session, key), error=message)


@router.post("/projects/{key}/advance")
def advance(request: Request, ctx: Context, session: Guarded, key: str,
            trigger: Annotated[str, Form(max_length=100)], version: Annotated[WholeNumber, Form(ge=1)],
            note: Note = "") -> Response:
    svc = scoped(ctx, session)
    try:
        p, _event = svc.advance(key, trigger, now=ctx.now(), note=note.strip() or None, expected_version=version)
    except errors.ChangedMeanwhile:
        return _conflict(request, ctx, session, key)
    except errors.TransitionRefused as exc:
        return _refused(request, ctx, session, key, exc.reason, 422)
    except errors.UnknownTrigger as exc:
        return _refused(request, ctx, session, key, exc.message, 422)
    except errors.InvalidInput as exc:
        svc.project(key)  # another district's project stays not found, whatever the input
        return _refused(request, ctx, session, key, exc.message, 422)
    return RedirectResponse(url(request, f"/projects/{p.key}", done="advance"), status_code=303)


@router.post("/projects/{key}/participation")
def record_participation(request: Request, ctx: Context, session: Guarded, key: str,
                         kind: Annotated[str, Form(max_length=100)], held_on: Annotated[str, Form(max_length=40)],
                         version: Annotated[WholeNumber, Form(ge=1)], times: Annotated[str, Form(max_length=10)] = "1",
                         note: Note = "") -> Response:
    """Record participation (e.g. a resident meeting); its counting fact goes up with it."""
    from programme.records import participation

    svc = scoped(ctx, session)
    project = svc.project(key)
    if project.version != version:
        return _conflict(request, ctx, session, key)
    try:
        entry = participation(key=project.key, kind=kind, held_on=held_on, times=times, note=note.strip() or None,
                              today=ctx.today())
        svc.add_participation(entry, now=ctx.now(), expected_version=version)
    except errors.ChangedMeanwhile:
        return _conflict(request, ctx, session, key)
    except errors.InvalidInput as exc:
        return _refused(request, ctx, session, key, exc.message, 422)
    return RedirectResponse(url(request, f"/projects/{project.key}", done="participation"), status_code=303)


__all__ = ["project_view", "router"]
