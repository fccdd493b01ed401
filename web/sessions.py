"""Who is signed in to the pages: database sessions behind an HttpOnly cookie, and sign-in limits.

* Signing in makes a new random session id (never one the browser brought), stores its SHA-256 with
  the user, a CSRF token and an expiry in ``web_sessions``, and sets it in an HttpOnly, SameSite=Lax
  cookie (Secure over https: see ``WebSettings.cookie_secure``). Any process of the deployment can
  read it; nothing is kept in memory. Signing out deletes the row.
* A session slides: it ends ``session_hours`` after the last request, a day after sign-in at most.
  Each request asks the account service for the user's principal, so a disabled user is out at once,
  and so is a session that began before the user's password was last changed.
* Failed sign-ins are rows in ``signin_attempts``; past ``signin_limit_account`` failures for a name,
  or ``signin_limit_address`` from one address, within ``signin_window_minutes``, sign-in is refused
  (429) without checking the password until the window has passed. An attempt is counted before its
  password is checked (so parallel attempts cannot all slip under the limit); a refused one is then
  forgotten, so retrying does not make the wait longer.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.responses import Response

from engine.access import Principal
from engine.errors import AccessDenied, NotAuthenticated
from web.auth import Context
from web.context import WebContext

SESSION_COOKIE = "dongflow_session"
PRESIGN_COOKIE = "dongflow_signin"
"""Carries the CSRF token of the sign-in form (there is no session yet)."""
MAX_SESSION = dt.timedelta(hours=24)
TOUCH_EVERY = dt.timedelta(minutes=1)


class TooManyAttempts(AccessDenied):
    """Sign-in refused for a while: too many failures for the account or from the address."""

    def __init__(self, minutes: int) -> None:
        self.minutes = minutes
        super().__init__(f"too many sign-in attempts; try again in {minutes} minutes")


class NotSignedIn(NotAuthenticated):
    """A page asked for without a (valid) session: the answer is the sign-in page."""


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class WebSession:
    principal: Principal
    csrf_token: str


class SessionManager:
    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx
        self.settings = ctx.settings

    @cached_property
    def store(self) -> Any:
        from storage.web_sessions import SqlSessionStore

        return SqlSessionStore(self.ctx.db)

    @property
    def idle(self) -> dt.timedelta:
        return dt.timedelta(hours=self.settings.session_hours)

    # -- signing in and out -------------------------------------------------------------------
    def sign_in(self, name: str, password: str, address: str) -> tuple[str, Principal]:
        """A new session id for the user, or NotAuthenticated / TooManyAttempts."""
        now = self.ctx.now()
        window = dt.timedelta(minutes=self.settings.signin_window_minutes)
        # The name as counted: printable characters only (PostgreSQL refuses NUL in text).
        account = "".join(c for c in name.strip().lower() if c.isprintable())[:100]
        # The attempt counts as a failure before its password is checked (a success then clears it):
        # attempts sent at once cannot all pass the limit while the first ones are being checked.
        attempt = self.store.add_failure(account, address, now, now - window * 4)
        by_account, by_address = self.store.failures(account, address, now - window)
        if by_account > self.settings.signin_limit_account or by_address > self.settings.signin_limit_address:
            self.store.forget_attempt(attempt)  # a refused attempt does not make the wait longer
            raise TooManyAttempts(self.settings.signin_window_minutes)
        principal = self.ctx.authenticate(name, password)  # NotAuthenticated: the failure stays counted
        self.store.clear_failures(account)
        session_id = secrets.token_urlsafe(32)
        self.store.add(_hash(session_id), principal.name, secrets.token_urlsafe(32), now,
                       min(now + self.idle, now + MAX_SESSION), address)
        return session_id, principal

    def sign_out(self, session_id: str | None) -> None:
        if session_id:
            self.store.delete(_hash(session_id))

    # -- each request ---------------------------------------------------------------------------
    def load(self, session_id: str | None) -> WebSession | None:
        if not session_id or len(session_id) > 100:
            return None
        now = self.ctx.now()
        key = _hash(session_id)
        record = self.store.get(key, now)
        if record is None:
            return None
        try:
            principal = self.ctx.principal_for(record.user_name, record.created_at)
        except NotAuthenticated:
            self.store.delete(key)
            return None
        principal = replace(principal, via="session")
        wanted = min(now + self.idle, record.created_at + MAX_SESSION)
        if wanted - record.expires_at >= TOUCH_EVERY:
            self.store.touch(key, now, wanted)
        return WebSession(principal, record.csrf_token)

    # -- cookies ----------------------------------------------------------------------------------
    def secure(self, request: Request) -> bool:
        mode = self.settings.cookie_secure
        return mode == "always" or (mode == "auto" and request.url.scheme == "https")

    def set_cookie(self, response: Response, request: Request, name: str, value: str,
                   max_age: int | None = None) -> None:
        response.set_cookie(name, value, max_age=max_age, path=(request.scope.get("root_path") or "") + "/",
                            httponly=True, samesite="lax", secure=self.secure(request))

    def clear_cookie(self, response: Response, request: Request, name: str) -> None:
        response.delete_cookie(name, path=(request.scope.get("root_path") or "") + "/", httponly=True,
                               samesite="lax", secure=self.secure(request))


def sessions(request: Request) -> SessionManager:
    manager = getattr(request.app.state, "sessions", None)
    if manager is None:
        manager = request.app.state.sessions = SessionManager(request.app.state.ctx)
    return manager


Sessions = Annotated[SessionManager, Depends(sessions)]


def current_session(request: Request, manager: Sessions) -> WebSession:
    """The signed-in user's session; NotSignedIn (the sign-in page) without one."""
    found = manager.load(request.cookies.get(SESSION_COOKIE))
    if found is None:
        raise NotSignedIn()
    request.state.web_session = found
    return found


def optional_session(request: Request, manager: Sessions) -> WebSession | None:
    found = manager.load(request.cookies.get(SESSION_COOKIE))
    request.state.web_session = found
    return found


CurrentSession = Annotated[WebSession, Depends(current_session)]
OptionalSession = Annotated[WebSession | None, Depends(optional_session)]


def client_address(request: Request) -> str:
    """The caller's address (uvicorn puts the proxy's X-Forwarded-For here for trusted proxies)."""
    return request.client.host if request.client else "unknown"


__all__ = ["Context", "CurrentSession", "OptionalSession", "SessionManager", "Sessions", "TooManyAttempts"]
