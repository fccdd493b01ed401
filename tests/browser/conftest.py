"""Browser tests: the real server (`dongflow serve`, one per module) driven by Debian's Chromium
through Playwright. Without Chromium or Playwright they are skipped with the reason, except on CI
(CI=true), where .ci/run installs Chromium and a skip would hide a failure."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "web"))  # webkit: the seeded users, districts and projects

CHROMIUM = next((p for p in (os.environ.get("DONGFLOW_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                             shutil.which("chromium-browser")) if p and Path(p).exists()), None)


def _missing(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI must run the browser tests: .ci/run installs chromium)")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """`dongflow serve` on a free loopback port over a seeded SQLite database (one per module)."""
    import httpx

    from storage.db import Database
    from storage.schema import upgrade
    from webkit import seed

    folder = tmp_path_factory.mktemp("browser")
    url = f"sqlite:///{folder / 'dongflow.db'}"
    db = Database(url)
    upgrade(db)
    db.dispose()
    tokens, keys = seed(url)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DONGFLOW_")}
    env.update(DONGFLOW_DATABASE_URL=url, XDG_DATA_HOME=str(folder / "xdg"), XDG_CONFIG_HOME=str(folder / "xdg"))
    log_path = folder / "server.log"
    log = log_path.open("w")
    proc = subprocess.Popen([sys.executable, "-c", "from cli import main; main()", "serve", "--port", str(port)],
                            cwd=ROOT, env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/login", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            pytest.fail(log_path.read_text())
        yield {"base": base, "url": url, "tokens": tokens, "keys": keys, "log": log_path}
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()
    assert "Traceback" not in log_path.read_text()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    if CHROMIUM is None:
        _missing("no Chromium at /usr/bin/chromium (apt-get install -y chromium fonts-noto-cjk)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the playwright package is not installed (pip install -e '.[test]')")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()
