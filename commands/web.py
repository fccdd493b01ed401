"""`dongflow serve`: the web app and the HTTP API (uvicorn)."""

from __future__ import annotations

import sys

import click

from commands.common import App, WholeNumber, app_options, pass_app


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (0.0.0.0 for every interface; prefer a reverse proxy).")
@click.option("--port", default=8000, show_default=True, type=WholeNumber(0, 65535), help="Port to listen on.")
@click.option("--workers", default=1, show_default=True, type=WholeNumber(1, 64),
              help="Server processes (they share nothing but the database).")
@click.option("--root-path", default="", envvar="DONGFLOW_ROOT_PATH",
              help="Path prefix when a reverse proxy serves the app under a sub-path, e.g. /dongflow.")
@click.option("--forwarded-allow-ips", default="127.0.0.1", show_default=True,
              help="Proxies whose X-Forwarded-For/-Proto headers are trusted (comma-separated, or *).")
@click.option("--cookie-secure", type=click.Choice(["auto", "always", "never"]), default="auto", show_default=True,
              envvar="DONGFLOW_COOKIE_SECURE",
              help="Mark the sign-in cookie Secure: auto = when the request came over https (as a trusted "
                   "proxy's X-Forwarded-Proto says).")
@app_options
@pass_app
def serve(app: App, host: str, port: int, workers: int, root_path: str, forwarded_allow_ips: str,
          cookie_secure: str) -> None:
    """Run the web app (sign in at /login) and the HTTP API (/api, docs at /docs) until stopped (Ctrl-C or
    SIGTERM). Create the first admin with `dongflow user add NAME --role admin`."""
    import logging
    import os

    import uvicorn

    from web.context import WebSettings

    app.db.require_schema()  # fail now, with one clear line, not on the first request
    # dongflow's own log lines (a 500's traceback, a database error) go to stderr beside uvicorn's.
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = WebSettings.from_env(db_url=app.db.url, workflow_dirs=tuple(app.workflow_dirs),
                                    tz_name=app.tz_name, lang=app.lang, root_path=root_path.rstrip("/"),
                                    cookie_secure=cookie_secure)
    if workers > 1:
        # Each worker process builds its own app from the environment.
        os.environ["DONGFLOW_DATABASE_URL"] = settings.db_url or ""
        os.environ["DONGFLOW_WORKFLOWS"] = os.pathsep.join(settings.workflow_dirs)
        os.environ["DONGFLOW_TIMEZONE"] = settings.tz_name
        os.environ["DONGFLOW_LANG"] = settings.lang
        os.environ["DONGFLOW_ROOT_PATH"] = settings.root_path
        os.environ["DONGFLOW_COOKIE_SECURE"] = settings.cookie_secure
        target: object = "web.app:app_factory"
    else:
        from web.app import create_app

        target = create_app(settings)
    click.echo(f"dongflow: serving {app.db.describe()} on http://{host}:{port}{settings.root_path}/ "
               "(sign in at /login, API docs at /docs)", err=True)
    uvicorn.run(target, host=host, port=port, workers=workers if workers > 1 else None,
                factory=workers > 1, root_path=settings.root_path, proxy_headers=True,
                forwarded_allow_ips=forwarded_allow_ips, server_header=False, log_level="info")
