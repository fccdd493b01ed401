"""Helpers for the deadline and alert tests: project histories, configs, the SMTP and HTTP recorders.

The fixtures that start servers and databases are in ``conftest.py``; what they record and the
helpers the tests call live here, so test modules can import them by name.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import json
import os
import socket
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo


from engine.catalog import Catalog

SEOUL = ZoneInfo("Asia/Seoul")
DEMO_AS_OF = dt.date(2016, 5, 20)
SMTP_USER = "dongflow-alerts"
SMTP_PASSWORD = "비밀-pass-123"  # non-ASCII on purpose: AUTH must carry UTF-8

# ------------------------------------------------------------------------------------------------
# Databases


def migrate(url: str) -> None:
    from storage.db import Database
    from storage.schema import upgrade

    db = Database(url)
    try:
        upgrade(db)
    finally:
        db.dispose()


def add_projects(url: str, catalog: Catalog, items: list) -> None:
    from engine.service import Service
    from storage.db import Database
    from storage.repository import SqlProjectStore

    db = Database(url)
    try:
        Service(SqlProjectStore(db), catalog).add_with_history(items)
    finally:
        db.dispose()


def build_project(
    catalog: Catalog,
    key: str,
    gu: str,
    dong: str,
    *,
    created: dt.date,
    steps: list[tuple[str, dt.date]] = (),  # type: ignore[assignment]
    year: int = 2016,
    target: dt.date | None = None,
    workflow_id: str = "space-improvement",
):
    """A project and its events: created on ``created``, then each (trigger, day) fired at 10:00 Seoul."""
    from engine import project as proj

    workflow = catalog.latest(workflow_id)
    machine = catalog.machine(workflow)

    def at(day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(10), SEOUL).astimezone(dt.UTC)

    p, event = proj.new_project(workflow, key=key, gu=gu, dong=dong, year=year, target=target, actor="test",
                                now=at(created))
    events = [event]
    for trigger, day in steps:
        if trigger == "agree" and not p.facts.get("resident_meetings"):
            p, e = proj.set_fact(p, "resident_meetings", 1, actor="test", now=at(day))
            events.append(e)
        note = "test" if trigger in ("hold", "cancel") else None
        step = machine.fire(p.key, p.state, trigger, p.facts, p.previous_state, note)
        p, e = proj.apply_step(p, step, actor="test", at=at(day), now=at(day), note=note)
        events.append(e)
    return p, events


# ------------------------------------------------------------------------------------------------
# Alert configuration and runners


def write_config(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def file_channel(path: Path, name: str = "file") -> str:
    return f'[[channels]]\nname = "{name}"\ntype = "file"\npath = "{path}"\n'


def make_runner(url: str, catalog: Catalog, config_text: str, clock: Callable[[], dt.datetime], *,
                owner: str | None = None, lines: list[str] | None = None):
    """An AlertRunner on ``url`` with the configuration given as TOML text."""
    from notify.config import parse_config
    from notify.runner import AlertRunner
    from storage.db import Database

    config = parse_config(config_text, "test.toml")
    out = lines if lines is not None else []
    return AlertRunner(Database(url), catalog, config, SEOUL, clock, write=out.append, owner=owner)


def fixed_clock(moment: dt.datetime) -> Callable[[], dt.datetime]:
    return lambda: moment


def read_jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def cli_env(url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment for a ``dongflow`` subprocess: this test's database and folders only."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DONGFLOW_")}
    env.update(
        DONGFLOW_DATABASE_URL=url,
        XDG_DATA_HOME=str(tmp_path / "xdg-data"),
        XDG_CONFIG_HOME=str(tmp_path / "xdg-config"),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def dongflow_cmd() -> list[str]:
    exe = Path(sys.executable).with_name("dongflow")
    return [str(exe)] if exe.exists() else [sys.executable, "-c", "import cli; cli.main()"]


# ------------------------------------------------------------------------------------------------
# TLS certificate for the SMTP server


@dataclass(frozen=True)
class Cert:
    cert: Path
    key: Path


def cert_with_cryptography(cert_path: Path, key_path: Path) -> None:
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ------------------------------------------------------------------------------------------------
# SMTP server


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    login: str | None
    tls: bool

    @property
    def message(self) -> email.message.EmailMessage:
        return email.message_from_bytes(self.raw, policy=email.policy.default)  # type: ignore[return-value]


@dataclass
class SmtpServer:
    host: str
    port: int
    received: list[Received] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)
    delay: float = 0.0
    """Seconds the server waits before replying 250 to each message (to catch a process mid-send)."""
    arrived: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))
    """Released when a message's data has arrived and was kept (before the delay and the reply)."""

    def to(self, address: str) -> list[Received]:
        return [r for r in self.received if address in r.rcpt_tos]


class SmtpHandler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_DATA(self, smtp, session, envelope):
        import asyncio

        # Kept as soon as the data has arrived, before the reply: the worst case for a client that
        # dies now (the server has the message, the client never learns it was accepted).
        login = session.auth_data if session.authenticated else None
        self.server.received.append(
            Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.content), login, session.ssl is not None)
        )
        self.server.arrived.release()
        if self.server.delay:
            await asyncio.sleep(self.server.delay)
        return "250 Message accepted for delivery"


def email_channel(server: SmtpServer, cert: Cert, recipients: list[tuple[str, list[str]]], *,
                  name: str = "email", password_env: str = "DONGFLOW_TEST_SMTP_PASSWORD", ca_file: bool = True,
                  security: str = "starttls", auth: bool = True) -> str:
    lines = [
        "[[channels]]", f'name = "{name}"', 'type = "email"', f'host = "{server.host}"', f"port = {server.port}",
        f'security = "{security}"', 'sender = "dongflow@seoul.example"', "timeout = 5",
    ]
    if auth:
        lines += [f'username = "{SMTP_USER}"', f'password_env = "{password_env}"']
    if ca_file:
        lines.append(f'ca_file = "{cert.cert}"')
    for address, districts in recipients:
        lines.append("[[channels.recipients]]")
        lines.append(f'address = "{address}"')
        if districts:
            lines.append("districts = [" + ", ".join(f'"{d}"' for d in districts) + "]")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------------
# Webhook server


@dataclass
class Webhook:
    url: str
    bodies: list[dict] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    status: int = 200
    delay: float = 0.0
    requests: int = 0
    hold: threading.Event | None = None
    """When set to an Event, each request waits for it before being answered."""
    arrived: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def alert_ids(self) -> list[int]:
        return [a["alert_id"] for body in self.bodies for a in body["alerts"]]


def webhook_channel(hook: Webhook, *, name: str = "hook", timeout: float = 2.0, url_env: str | None = None) -> str:
    where = f'url_env = "{url_env}"' if url_env else f'url = "{hook.url}"'
    return f'[[channels]]\nname = "{name}"\ntype = "webhook"\n{where}\ntimeout = {timeout}\n'


# ------------------------------------------------------------------------------------------------
# The incremental check's tests: the alerts two databases hold, to compare


def alerts_of(url: str) -> list[tuple]:
    """Every alert (project, milestone, level, state, reminders, open since) and every lifecycle
    event (project, milestone, level, kind, as-of day), sorted."""
    from sqlalchemy import select

    from storage.db import Database
    from storage.tables import AlertEventRow, AlertRow

    A, E = AlertRow.__table__, AlertEventRow.__table__  # type: ignore[attr-defined]
    db = Database(url)
    try:
        with db.read() as conn:
            alerts = conn.execute(select(A.c.project_id, A.c.milestone, A.c.level, A.c.state, A.c.reminders,
                                         A.c.open_since)).all()
            events = conn.execute(select(A.c.project_id, A.c.milestone, A.c.level, E.c.kind, E.c.as_of)
                                  .select_from(E.join(A, A.c.id == E.c.alert_id))).all()
        return sorted(map(tuple, alerts)) + sorted(map(tuple, events))
    finally:
        db.dispose()
