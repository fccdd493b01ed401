"""`dongflow serve`: the real server (uvicorn) on a free loopback port, behind a (simulated) proxy."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from cli import cli
from support import assert_one_error
from webkit import PASSWORD, seed

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_serve_behind_a_proxy_under_a_sub_path(initialised_db: str, tmp_path: Path) -> None:
    tokens, keys = seed(initialised_db)
    port = _free_port()
    env = {**os.environ, "DONGFLOW_DATABASE_URL": initialised_db}
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen([sys.executable, "-c", "from cli import main; main()", "serve", "--port", str(port),
                               "--root-path", "/dongflow/"], cwd=ROOT, env=env, stdout=log, stderr=log)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(150):
            try:
                if httpx.get(f"{base}/openapi.json", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            pytest.fail((tmp_path / "server.log").read_text())
        headers = {"Authorization": f"Bearer {tokens['officer']}", "Host": "dongflow.example.go.kr",
                   "X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
        # The proxy strips /dongflow before passing the request on (nginx: proxy_pass .../;).
        page = httpx.get(f"{base}/api/projects", params={"limit": 1}, headers=headers).json()
        assert page["total"] == 4
        assert page["next"] == "https://dongflow.example.go.kr/dongflow/api/projects?limit=1&offset=1"
        docs = httpx.get(f"{base}/docs").text
        assert "/dongflow/openapi.json" in docs and "/dongflow/_docs-assets/swagger-ui-bundle.js" in docs
        assert httpx.get(f"{base}/api/projects").status_code == 401
        assert "server" not in {k.lower() for k in httpx.get(f"{base}/openapi.json").headers}
        # The pages behind the proxy: links under /dongflow, a Secure cookie over https, the public origin.
        proxy = {k: v for k, v in headers.items() if k != "Authorization"}
        form = httpx.get(f"{base}/login", headers=proxy)
        assert 'href="/dongflow/static/app.css"' in form.text and "secure" in form.headers["set-cookie"].lower()
        csrf = form.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        cookies = {"dongflow_signin": form.cookies["dongflow_signin"]}
        body = {"user": "officer", "password": PASSWORD, "csrf": csrf}
        assert httpx.post(f"{base}/login", data=body, cookies=cookies,
                          headers={**proxy, "Origin": "http://127.0.0.1"}).status_code == 403  # not the public origin
        signed = httpx.post(f"{base}/login", data=body, cookies=cookies,
                            headers={**proxy, "Origin": "https://dongflow.example.go.kr"})
        assert signed.status_code == 303 and signed.headers["location"] == "/dongflow/"
        session = signed.headers["set-cookie"].lower()
        assert "httponly" in session and "secure" in session and "samesite=lax" in session and "path=/dongflow/" in session
    finally:
        server.terminate()
        server.wait(timeout=20)
    assert "Traceback" not in (tmp_path / "server.log").read_text()


def test_serve_refuses_a_database_without_schema(runner, db_url: str) -> None:
    assert_one_error(runner.invoke(cli, ["serve", "--db", db_url]), 7, "run: dongflow init")
