"""The pages' browser protections: security headers on every answer, and the checks every form post
passes (same origin, CSRF token).

* Headers: a Content-Security-Policy without inline script (the pages have no script at all) and
  ``frame-ancestors 'none'``, ``X-Frame-Options: DENY``, ``X-Content-Type-Options: nosniff``,
  ``Referrer-Policy: same-origin``. An answer that sets its own CSP (the report's sandbox) keeps it;
  the API docs (Swagger UI's inline start-up script) get every header but the CSP.
* A form post must come from the app's own origin: its ``Origin`` header (or, without one, its
  ``Referer``) must name the scheme, host and port the request was made to (behind a reverse proxy
  that forwards ``Host`` and ``X-Forwarded-Proto``, the public ones). Without either it is refused.
* It must also carry the CSRF token of its session (sign-in: of the pre-sign-in cookie), compared in
  constant time.
"""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
HEADERS = (
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
)
NO_CSP_PATHS = ("/docs",)


class SecurityHeaders:
    """ASGI middleware adding the headers above to every HTTP answer that does not set them itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        root = str(scope.get("root_path", "") or "")
        local = path[len(root):] if root and path.startswith(root) else path
        with_csp = local not in NO_CSP_PATHS

        async def add_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                names = {k.lower() for k, _ in headers}
                extra = list(HEADERS)
                if with_csp:
                    extra.append((b"content-security-policy", CSP.encode()))
                headers += [(k, v) for k, v in extra if k not in names]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, add_headers)


def own_origin(request: Request) -> str:
    """scheme://host[:port] as the browser sees the app (uvicorn applies X-Forwarded-Proto from
    trusted proxies to the scheme; the proxy passes the public Host)."""
    host = request.headers.get("host") or (request.url.netloc)
    return f"{request.url.scheme}://{host}".lower()


def same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        referer = request.headers.get("referer")
        if not referer:
            return False
        parts = urlsplit(referer)
        origin = f"{parts.scheme}://{parts.netloc}"
    return origin.lower().rstrip("/") == own_origin(request)


def tokens_match(given: object, expected: str | None) -> bool:
    return (isinstance(given, str) and bool(given) and expected is not None
            and hmac.compare_digest(given.encode(), expected.encode()))
