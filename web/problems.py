"""Errors as RFC 9457 problem details (``application/problem+json``).

Every dongflow error becomes one problem whose ``code`` is the exit code the CLI returns for it
(README, "Exit codes"), so a client handles the API and the command line alike. A request that fails
validation is ``code`` 3 (invalid input). An unexpected error is logged with its traceback on the
server and answered with a 500 problem that names nothing internal.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import BaseModel, ConfigDict
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from engine import errors

log = logging.getLogger("dongflow.web")
MEDIA_TYPE = "application/problem+json"


class Problem(BaseModel):
    """RFC 9457 problem details, with dongflow's ``code`` (the CLI's exit code for the same error)."""

    model_config = ConfigDict(extra="allow")

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    code: int
    """The CLI's exit code for this error: 3 invalid input, 4 not found, 5 refused, 6 conflict,
    7 database, 9 access refused, 1 internal error."""


# (error class, HTTP status, slug, title) -- the first matching class wins, so subclasses come first.
_MAP: list[tuple[type[errors.DongflowError], int, str, str]] = [
    (errors.NotAuthenticated, 401, "not-authenticated", "Authentication required"),
    (errors.Forbidden, 403, "forbidden", "Not allowed"),
    (errors.AccessDenied, 403, "forbidden", "Not allowed"),
    (errors.UnknownTrigger, 422, "unknown-trigger", "No such trigger"),
    (errors.NotFound, 404, "not-found", "Not found"),
    (errors.TransitionRefused, 422, "transition-refused", "Transition refused"),
    (errors.ChangeRefused, 422, "change-refused", "Change refused"),
    (errors.InvalidInput, 422, "invalid-input", "Invalid input"),
    (errors.ChangedMeanwhile, 409, "changed-meanwhile", "Changed meanwhile"),
    (errors.ConflictError, 409, "conflict", "Conflict"),
    (errors.DatabaseError, 503, "database", "Database unavailable"),
    (errors.DeliveryFailed, 503, "delivery-failed", "Delivery failed"),
]

STATUS_DESCRIPTIONS = {
    400: "A body that is not JSON at all; code 3",
    413: "Request body too large; code 3",
    401: "Not authenticated (missing, invalid, expired or revoked token); code 9",
    403: "Authenticated, but the role does not allow this; code 9",
    404: "No such resource, or one in a district the caller cannot read; code 4",
    409: "Changed by someone else meanwhile (stale version), or already exists; code 6",
    422: "Invalid input (code 3), unknown trigger (code 4), or a transition or correction refused (code 5)",
    503: "Database unavailable or busy; code 7",
}


def problem_type(slug: str) -> str:
    return f"urn:dongflow:problem:{slug}"


def problem_response(status: int, title: str, detail: str | None, code: int, *, slug: str = "error",
                     instance: str | None = None, headers: dict[str, str] | None = None,
                     **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": problem_type(slug), "title": title, "status": status, "detail": detail,
                            "instance": instance, "code": code}
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def error_response(exc: errors.DongflowError, instance: str | None = None) -> JSONResponse:
    status, slug, title = next(((st, sl, ti) for cls, st, sl, ti in _MAP if isinstance(exc, cls)),
                               (500, "internal", "Internal error"))
    extra: dict[str, Any] = {}
    headers = None
    if isinstance(exc, errors.NotAuthenticated):
        headers = {"WWW-Authenticate": 'Bearer realm="dongflow"'}
    if isinstance(exc, errors.TransitionRefused):
        extra = {"key": exc.key, "trigger": exc.trigger, "state": exc.state, "reason": exc.reason,
                 "allowed": exc.allowed}
    elif isinstance(exc, errors.UnknownTrigger):
        extra = {"key": exc.key, "trigger": exc.trigger, "state": exc.state, "allowed": exc.allowed}
    elif isinstance(exc, errors.ChangeRefused):
        refusals = getattr(exc, "refusals", None)  # a bulk move's (engine.bulk.BulkRefused): which, and why
        if refusals is None:
            extra = {"key": exc.key, "reason": exc.reason}
        else:
            extra = {"reason": exc.reason, "refused": [{"key": r.key, "reason": r.reason} for r in refusals]}
    elif isinstance(exc, errors.InvalidInputs):
        extra = {"errors": [{"detail": p.problem, "field": p.field, "line": p.line} for p in exc.problems]}
    elif isinstance(exc, errors.InvalidInput):
        extra = {"field": exc.field}
    elif isinstance(exc, errors.ProjectRenamed):  # only raised to a caller who may read the project
        extra = {"key": exc.key, "renamed_to": exc.new_key}
    detail = exc.message
    if isinstance(exc, errors.ChangedMeanwhile):
        extra = {"key": exc.key}
        detail = f"{exc.key} was changed by someone else meanwhile; read it again and retry with its new version"
    if isinstance(exc, errors.DatabaseError) and not isinstance(exc, errors.SchemaOutdated):
        # The message names the database (host, user, file): logged on the server, not told to clients.
        log.warning("database error on %s: %s", instance, exc.message)
        detail = "the database is unavailable or busy; try again in a moment"
    return problem_response(status, title, detail, exc.exit_code, slug=slug, instance=instance,
                            headers=headers, **extra)


def install(app: Any) -> None:
    """Register the handlers on a FastAPI app: dongflow errors, validation errors, HTTP errors."""
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException

    async def on_dongflow(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, errors.DongflowError)
        return error_response(exc, request.url.path)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        problems = []
        for e in exc.errors():
            where = ".".join(str(p) for p in e.get("loc", ()) if p != "body") or "request"
            problems.append({"field": where, "detail": str(e.get("msg", "invalid"))})
        detail = "; ".join(f"{p['field']}: {p['detail']}" for p in problems[:5])
        return problem_response(422, "Invalid input", detail, errors.InvalidInput.exit_code, slug="invalid-input",
                                instance=request.url.path, errors=problems)

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        code = {400: errors.InvalidInput.exit_code, 413: errors.InvalidInput.exit_code,
                404: errors.NotFound.exit_code, 401: 9, 403: 9}.get(exc.status_code, 2)
        title = {400: "Invalid input", 404: "Not found", 405: "Method not allowed",
                 413: "Request body too large"}.get(exc.status_code, "HTTP error")
        return problem_response(exc.status_code, title, str(exc.detail), code, slug=f"http-{exc.status_code}",
                                instance=request.url.path, headers=getattr(exc, "headers", None))

    app.add_exception_handler(errors.DongflowError, on_dongflow)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(HTTPException, on_http)


API_HEADERS = ((b"cache-control", b"no-store"), (b"x-content-type-options", b"nosniff"))


class BodyTooLarge(Exception):
    """The request body went past the limit while it was being read."""


class CatchAll:
    """ASGI middleware, the outermost of the app's own:

    * a request body larger than ``max_body`` bytes is refused with a 413 problem (by its
      Content-Length before anything is read, or as soon as a chunked body passes the limit);
    * answers under ``/api/`` are marked ``Cache-Control: no-store`` and ``nosniff``;
    * an unexpected exception is logged (with its traceback) and answered with a 500 problem; the
      client never sees a traceback or an internal name.
    """

    def __init__(self, app: ASGIApp, max_body: int = 1024 * 1024) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = problem_response(413, "Request body too large", f"the limit is {self.max_body} bytes",
                                     errors.InvalidInput.exit_code, slug="too-large", instance=scope.get("path"))
        length = dict(scope.get("headers") or ()).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            await too_large(scope, receive, send)
            return
        started = False
        received = 0

        async def counting_receive() -> Any:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise BodyTooLarge()
            return message

        api = str(scope.get("path", "")).startswith("/api/")

        async def tracking_send(message: Any) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if api:  # answers about projects are per caller and change: never cached, never sniffed
                    headers = list(message.get("headers") or [])
                    names = {k.lower() for k, _ in headers}
                    for name, value in API_HEADERS:
                        if name not in names:
                            headers.append((name, value))
                    message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if started:
                raise
            await too_large(scope, receive, send)
        except Exception:  # noqa: BLE001 - the last line of defence
            log.exception("internal error on %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise
            response = problem_response(500, "Internal error", "an unexpected error occurred; it has been logged",
                                        1, slug="internal", instance=scope.get("path"))
            await response(scope, receive, send)


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` for routes: the problem schema under its media type, per status."""
    return {
        s: {"description": STATUS_DESCRIPTIONS.get(s, "Error"), "model": Problem,
            "content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
        for s in statuses
    }
