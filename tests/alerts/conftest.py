"""Fixtures for the deadline and alert tests: databases on both backends, real servers on loopback.

* ``db_url`` (from tests/conftest.py) runs a test once on SQLite and once on PostgreSQL.
* ``demo_url`` is that database with the demo portfolio in it (what ``dongflow demo`` builds).
* ``smtp_server`` is a real aiosmtpd server on 127.0.0.1 that requires STARTTLS (a self-signed
  certificate made by the test) and AUTH, and keeps every message it accepted.
* ``webhook`` is a real ``http.server`` on 127.0.0.1 that records POST bodies and can be told to
  answer 500 or to sleep longer than the client's timeout.

Helpers live in ``alertkit.py``.
"""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from alertkit import (
    DEMO_AS_OF,
    SEOUL,
    SMTP_PASSWORD,
    SMTP_USER,
    Cert,
    SmtpHandler,
    SmtpServer,
    Webhook,
    add_projects,
    cert_with_cryptography,
    free_port,
    migrate,
)

from engine.catalog import Catalog


@pytest.fixture(scope="session")
def demo_items(catalog: Catalog) -> list:
    """The demo portfolio as of 2016-05-20 (pure data, built once)."""
    from importlib.resources import files

    from programme import demo

    dongs = demo.read_dongs(files("programme").joinpath("data/seoul-dongs-2016.csv").read_bytes())
    return demo.build(catalog, dongs, as_of=DEMO_AS_OF, tz=SEOUL)


@pytest.fixture
def initialised_url(db_url: str) -> str:
    migrate(db_url)
    return db_url


@pytest.fixture
def demo_url(initialised_url: str, catalog: Catalog, demo_items: list) -> str:
    """A database holding the demo portfolio (79 completed 2015 projects, 2016 under way)."""
    add_projects(initialised_url, catalog, demo_items)
    return initialised_url


@pytest.fixture
def demo_findings(catalog: Catalog, demo_items: list) -> list:
    """What a check as of 2016-05-20 must find in the demo (computed from the engine directly)."""
    from engine.monitor import DeadlineBook

    completed = [dict(p.reached) for p, _ in demo_items if p.state == "completed"]

    class Source:
        def completed_reached(self, workflow_id: str, target_state: str) -> list:
            return completed

    book = DeadlineBook(catalog, SEOUL, Source())
    open_ = [p for p, _ in demo_items if p.state not in book.skip_states()]
    return book.scan(open_, DEMO_AS_OF)[1]


# ------------------------------------------------------------------------------------------------
# Building projects with a chosen history


@pytest.fixture(scope="session")
def tls_cert(tmp_path_factory: pytest.TempPathFactory) -> Cert:
    """A self-signed certificate for 127.0.0.1 (with the IP in subjectAltName, so verification passes)."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    try:
        cert_with_cryptography(cert, key)
    except ImportError:
        openssl = shutil.which("openssl")
        if openssl is None:
            pytest.skip("neither the cryptography package nor the openssl command is available to make a certificate")
        subprocess.run(
            [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
             "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
            check=True, capture_output=True,
        )
    return Cert(cert, key)


@pytest.fixture
def smtp_server(tls_cert: Cert) -> Iterator[SmtpServer]:
    """aiosmtpd on 127.0.0.1: STARTTLS required before MAIL, AUTH (LOGIN/PLAIN) required, TLS before AUTH."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    server = SmtpServer("127.0.0.1", free_port())
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(tls_cert.cert), str(tls_cert.key))

    def authenticator(_smtp, _session, _envelope, mechanism, auth_data):  # type: ignore[no-untyped-def]
        login = auth_data.login.decode("utf-8")
        password = auth_data.password.decode("utf-8")
        server.logins.append((mechanism, login))
        return AuthResult(success=(login, password) == (SMTP_USER, SMTP_PASSWORD), handled=False, auth_data=login)

    controller = Controller(
        SmtpHandler(server),
        hostname=server.host,
        port=server.port,
        tls_context=context,
        require_starttls=True,
        authenticator=authenticator,
        auth_required=True,
        auth_require_tls=True,
    )
    controller.start()
    try:
        yield server
    finally:
        controller.stop()


@pytest.fixture
def plain_smtp_server() -> Iterator[SmtpServer]:
    """aiosmtpd on 127.0.0.1 without TLS or AUTH (for timing tests, where the handshake is noise)."""
    from aiosmtpd.controller import Controller

    server = SmtpServer("127.0.0.1", free_port())
    controller = Controller(SmtpHandler(server), hostname=server.host, port=server.port)
    controller.start()
    try:
        yield server
    finally:
        controller.stop()


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    """A real HTTP server on 127.0.0.1 recording JSON POST bodies it answered 2xx to."""
    hook = Webhook("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            with hook.lock:
                hook.requests += 1
                status, delay = hook.status, hook.delay
            hook.arrived.release()
            if hook.hold is not None:
                hook.hold.wait(timeout=30)
            if delay:
                time.sleep(delay)
            if 200 <= status < 300:
                with hook.lock:
                    hook.bodies.append(json.loads(body.decode("utf-8")))
                    hook.headers.append(dict(self.headers))
            try:
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok" if status < 300 else b"server error")
            except OSError:
                pass  # the client gave up (timeout) or was killed

        def log_message(self, *_args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    hook.url = f"http://127.0.0.1:{httpd.server_address[1]}/hooks/dongflow"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield hook
    finally:
        httpd.shutdown()
        httpd.server_close()


