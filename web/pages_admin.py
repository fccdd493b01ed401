"""User and token management pages (admins). The account service decides who may (``can_admin``):
anyone else gets its Forbidden, shown as a 403 page."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from engine.roles import ROLES
from web.auth import Context
from web.pages import Guarded
from web.sessions import CurrentSession, sessions
from web.templating import render, url

router = APIRouter(include_in_schema=False)
Name = Annotated[str, Form(max_length=100)]


def _districts(text: str) -> list[str]:
    return [d.strip() for d in text.replace("，", ",").split(",") if d.strip()]


@router.get("/admin/users")
def users_page(request: Request, ctx: Context, session: CurrentSession) -> Response:
    users = ctx.accounts.users(session.principal)
    return render(request, "users.html", users=users, roles=ROLES, done=request.query_params.get("done"))


@router.post("/admin/users")
def add_user(ctx: Context, request: Request, session: Guarded, name: Name, role: Annotated[str, Form(max_length=20)],
             password: Annotated[str, Form(max_length=1024)], districts: Annotated[str, Form(max_length=1000)] = "",
             display_name: Annotated[str, Form(max_length=200)] = "") -> Response:
    ctx.accounts.add_user(session.principal, name, role, password, districts=_districts(districts),
                          display_name=display_name or None, now=ctx.now())
    return RedirectResponse(url(request, "/admin/users", done="1"), status_code=303)


@router.post("/admin/users/{name}/disable")
def disable_user(ctx: Context, request: Request, session: Guarded, name: str,
                 enable: Annotated[str, Form(max_length=5)] = "") -> Response:
    ctx.accounts.set_disabled(session.principal, name, disabled=not enable)
    if not enable:
        from engine.accounts import clean_name

        sessions(request).store.delete_user(clean_name(name))  # signed out everywhere at once
    return RedirectResponse(url(request, "/admin/users", done="1"), status_code=303)


@router.post("/admin/users/{name}/password")
def set_password(ctx: Context, request: Request, session: Guarded, name: str,
                 password: Annotated[str, Form(max_length=1024)],
                 current: Annotated[str, Form(max_length=1024)] = "") -> Response:
    """A new password (admins: anyone's; others: their own, giving the current one)."""
    ctx.accounts.set_password(session.principal, name, password, now=ctx.now(), current=current or None)
    return RedirectResponse(url(request, "/admin/users", done="1"), status_code=303)


@router.get("/admin/tokens")
def tokens_page(request: Request, ctx: Context, session: CurrentSession) -> Response:
    return _tokens(request, ctx, session.principal)


def _tokens(request: Request, ctx: Any, principal: Any, created: str | None = None, name: str | None = None) -> Response:
    tokens = ctx.accounts.tokens(principal)
    users = [u.name for u in ctx.accounts.users(principal)]
    return render(request, "tokens.html", tokens=tokens, users=users, roles=ROLES, created=created,
                  created_name=name, now=ctx.now())


@router.post("/admin/tokens")
def create_token(ctx: Context, request: Request, session: Guarded, name: Name, owner: Name = "",
                 role: Annotated[str, Form(max_length=20)] = "", districts: Annotated[str, Form(max_length=1000)] = "",
                 expires: Annotated[str, Form(max_length=40)] = "") -> Response:
    """Create a token; the answer shows it once (never stored, never in a URL)."""
    from engine.values import parse_date

    expires_at = None
    if expires:
        day = parse_date(expires, "expires")
        expires_at = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), ctx.tz).astimezone(dt.UTC)
    secret = ctx.accounts.create_token(session.principal, name, now=ctx.now(), owner=owner or None,
                                       role=role or None, districts=_districts(districts), expires_at=expires_at)
    return _tokens(request, ctx, session.principal, created=secret, name=name)


@router.post("/admin/tokens/{name}/revoke")
def revoke_token(ctx: Context, request: Request, session: Guarded, name: str) -> Response:
    ctx.accounts.revoke_token(session.principal, name, now=ctx.now())
    return RedirectResponse(url(request, "/admin/tokens", done="1"), status_code=303)
