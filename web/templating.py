"""Rendering the pages: one Jinja2 environment (autoescape on for every template), the words of the
request's language, and the values every page needs (who is signed in, their CSRF token, the app's
path prefix behind a proxy)."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from web.i18n import LANG_COOKIE, Words, pick_lang


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(loader=PackageLoader("web", "templates"),
                      autoescape=select_autoescape(["html"], default_for_string=True, default=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["won"] = lambda v: "" if v is None else f"{int(v):,}"
    env.globals["who_label"] = who_label
    return env


def who_label(principal: Any) -> tuple[str, list[str]]:
    """The header's words for the signed-in user: the display name (else the user name), then the user
    name and the role, each only when it adds something (``Coordinator``, not ``Coordinator
    (coordinator, coordinator)``; case does not count)."""
    shown = principal.display_name or principal.name
    seen = {shown.casefold()}
    extra = []
    for part in (principal.name, principal.role):
        if part and part.casefold() not in seen:
            seen.add(part.casefold())
            extra.append(part)
    return shown, extra


def request_lang(request: Request) -> str:
    return pick_lang(request.query_params.get("lang"), request.cookies.get(LANG_COOKIE),
                     request.app.state.ctx.settings.lang)


def url(request: Request, path: str, **query: Any) -> str:
    """A link inside the app (with the reverse proxy's path prefix), with the query values given."""
    root = request.scope.get("root_path") or ""
    values = {k: v for k, v in query.items() if v not in (None, "")}
    return f"{root}{path}" + (f"?{urlencode(values)}" if values else "")


def render(request: Request, template: str, status_code: int = 200, **values: Any) -> HTMLResponse:
    lang = request_lang(request)
    session = getattr(request.state, "web_session", None)
    ctx = request.app.state.ctx
    switch_to = "en" if lang == "ko" else "ko"
    here = request.url.path[len(request.scope.get("root_path") or ""):] or "/"
    if here.startswith("//") or "\\" in here:  # a link to //host would leave the site
        here = "/"
    query = {k: v for k, v in request.query_params.items() if k != "lang"}
    html = environment().get_template(template).render(
        request=request, t=Words(lang), lang=lang, session=session,
        user=session.principal if session else None, csrf=session.csrf_token if session else "",
        u=lambda path, **q: url(request, path, **q), static=lambda name: url(request, f"/static/{name}"),
        lang_switch=url(request, here, **query, lang=switch_to), tz=ctx.tz,
        when=lambda moment: "" if moment is None else moment.astimezone(ctx.tz).strftime("%Y-%m-%d %H:%M"),
        **values)
    response = HTMLResponse(html, status_code=status_code, headers={"Cache-Control": "no-store"})
    if request.query_params.get("lang") == lang:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, path=(request.scope.get("root_path") or "") + "/",
                            samesite="lax", httponly=True)
    return response


def today_text(day: dt.date) -> str:
    return day.isoformat()
