"""Who is calling: typed FastAPI dependencies, so a route cannot forget to ask.

The API authenticates with ``Authorization: Bearer TOKEN`` (``dongflow token create``). The pages
(``web/pages.py``) add their own session dependency, producing the same :class:`Principal`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from engine.access import Principal, ScopedService
from engine.errors import NotAuthenticated
from web.context import WebContext

bearer_scheme = HTTPBearer(auto_error=False, description="An API token from `dongflow token create NAME`.")


def get_context(request: Request) -> WebContext:
    return request.app.state.ctx


Context = Annotated[WebContext, Depends(get_context)]


def api_principal(
    ctx: Context, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]
) -> Principal:
    """The principal of the request's bearer token; 401 (problem, code 9) without a valid one."""
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise NotAuthenticated("an API token is required: Authorization: Bearer TOKEN")
    return ctx.authenticate_token(credentials.credentials)


ApiPrincipal = Annotated[Principal, Depends(api_principal)]


def api_service(ctx: Context, principal: ApiPrincipal) -> ScopedService:
    """The use cases as the caller may call them."""
    return ctx.scoped(principal)


Scoped = Annotated[ScopedService, Depends(api_service)]
