"""The web application: ``create_app(settings)`` builds one FastAPI app with the JSON API under
``/api`` and, when ``web/pages.py`` is present, the server-rendered pages (its ``router``).

Interactive API docs (Swagger UI) are at ``/docs``; their JavaScript and CSS are served from the
``swagger-ui-bundle`` package (no CDN: the app works without the internet). The OpenAPI document is
``/openapi.json``. The app keeps nothing about callers between requests.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from web import problems
from web.context import WebContext, WebSettings

log = logging.getLogger("dongflow.web")
DOCS_ASSETS = "/_docs-assets"


def _swagger_dir() -> str | None:
    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:  # pragma: no cover - a dependency; docs are then switched off
        return None
    return str(swagger_ui_path)


def create_app(settings: WebSettings | None = None, *, context: WebContext | None = None) -> FastAPI:
    settings = settings or WebSettings.from_env()
    ctx = context or WebContext(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        ctx.close()

    app = FastAPI(
        title="dongflow",
        summary="찾아가는 동주민센터: projects, their workflow, deadlines and reports",
        version=_version(),
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
        root_path=settings.root_path,
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    problems.install(app)

    from web.api import router as api_router

    app.include_router(api_router, prefix="/api")
    from web.feeds import router as feeds_router

    app.include_router(feeds_router)  # /feeds/{gu}.ics: calendar apps, a viewer's token in the URL
    if importlib.util.find_spec("web.pages") is not None:
        from web import pages

        pages.install(app) if hasattr(pages, "install") else app.include_router(pages.router)
    _docs(app)
    app.add_middleware(problems.CatchAll, max_body=settings.max_body)  # nothing escapes as a traceback
    return app


def _docs(app: FastAPI) -> None:
    assets = _swagger_dir()
    if assets is None:
        return
    app.mount(DOCS_ASSETS, StaticFiles(directory=assets), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        root = app.root_path or ""
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title="dongflow API",
            swagger_js_url=f"{root}{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{DOCS_ASSETS}/favicon-32x32.png",
        )


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("dongflow")
    except Exception:  # noqa: BLE001 - not installed (a source checkout)
        return "0"


def app_factory() -> Any:
    """For ``uvicorn --factory web.app:app_factory`` (settings from the environment)."""
    return create_app(WebSettings.from_env())
