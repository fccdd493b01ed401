"""Helpers for the many-users, kill -9 and bad-input tests: worker processes, the installed executable,
and the invariants every database must satisfy after any race or crash.

Functions named ``*_worker`` run in spawned processes (``multiprocessing`` with the spawn start
method, so no connection or lock is inherited); they report through a queue and never raise.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import sqlite3
import sys
from pathlib import Path
from typing import Any

EXECUTABLE = Path(sys.executable).parent / "dongflow"


def dongflow_cmd() -> list[str]:
    """The installed console script, as a coordinator runs it."""
    assert EXECUTABLE.exists(), f"{EXECUTABLE} is missing: pip install -e '.[test]'"
    return [str(EXECUTABLE)]


def cli_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """An environment with none of the developer's dongflow settings, and data under tmp_path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DONGFLOW_")}
    env.update(HOME=str(tmp_path / "home"), XDG_DATA_HOME=str(tmp_path / "xdg-data"),
               XDG_CONFIG_HOME=str(tmp_path / "xdg-config"))
    env.update(extra)
    return env


def sqlite_path(url: str) -> Path | None:
    return Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None


def integrity(url: str) -> str:
    """``PRAGMA integrity_check`` of a SQLite file, opened without dongflow's code (plain sqlite3)."""
    path = sqlite_path(url)
    assert path is not None
    conn = sqlite3.connect(path)
    try:
        return "\n".join(r[0] for r in conn.execute("PRAGMA integrity_check"))
    finally:
        conn.close()


def assert_consistent(url: str) -> dict[str, int]:
    """The database opens, passes its integrity check (SQLite), and every project's events number
    1..version and replay to its stored state. Returns row counts per table."""
    from sqlalchemy import func, select

    from engine.project import replay
    from storage.db import Database
    from storage.repository import SqlProjectStore
    from storage.tables import metadata

    if url.startswith("sqlite"):
        assert integrity(url) == "ok"
    db = Database(url)
    try:
        db.require_schema()
        store = SqlProjectStore(db)
        for project, events in store.all_histories():
            assert [e.seq for e in events] == list(range(1, project.version + 1)), project.key
            r = replay(events)
            assert (r.state, r.previous_state, r.facts, r.reached, r.entered_at, r.version) == (
                project.state, project.previous_state, dict(project.facts), dict(project.reached),
                project.entered_at, project.version,
            ), project.key
        with db.read() as conn:
            return {t.name: int(conn.execute(select(func.count()).select_from(t)).scalar() or 0)
                    for t in metadata.sorted_tables}
    finally:
        db.dispose()


# ------------------------------------------------------------------------------------------------
# 8 processes x 200 advances


CYCLE_TRIGGERS = ("tender_failed", "tender_failed", "hold", "resume")
"""From ``tender``: tender_failed (a self-loop that counts) and hold are allowed, resume is refused;
from ``on_hold`` only resume is. A worker picking from these on a stale view gets refusals too."""


def advance_worker(url: str, name: str, shared: list[str], own: str, attempts: int, seed: int,
                   barrier: Any, results: Any) -> None:
    """``attempts`` advances through the service (as ``dongflow advance`` does), 60 % on the shared
    projects and 40 % on this worker's own; reports every attempt as
    (outcome, key, version read, trigger, note, seq written or None)."""
    from engine.catalog import Catalog
    from engine.errors import ChangedMeanwhile, TransitionRefused
    from engine.service import Service
    from storage.db import Database
    from storage.repository import SqlProjectStore
    from workflows import SHIPPED_DIR

    rng = random.Random(seed)
    db = Database(url)
    store = SqlProjectStore(db)
    read: list[int] = []

    class RecordingStore:
        """The real store; remembers the version each advance read (to check every conflict)."""

        def __getattr__(self, attr: str) -> Any:
            return getattr(store, attr)

        def get(self, key: str) -> Any:
            project = store.get(key)
            read.append(project.version)
            return project

    from support import without_participation

    service = Service(RecordingStore(), without_participation(Catalog.from_dirs([SHIPPED_DIR])))
    log: list[tuple[str, str, int, str, str, int | None]] = []
    try:
        barrier.wait(timeout=120)
        for i in range(attempts):
            key = rng.choice(shared) if rng.random() < 0.6 else own
            trigger = rng.choice(CYCLE_TRIGGERS)
            note = f"{name}#{i}"
            now = dt.datetime.now(dt.timezone.utc)  # read before the project, as the CLI does
            try:
                project, event = service.advance(key, trigger, actor=name, now=now, note=note)
                log.append(("won", key, read[-1], trigger, note, event.seq))
            except ChangedMeanwhile:
                log.append(("conflict", key, read[-1], trigger, note, None))
            except TransitionRefused:
                log.append(("refused", key, read[-1], trigger, note, None))
        results.put((name, log, None))
    except BaseException as exc:  # noqa: BLE001 - reported to the test, which fails on it
        barrier.abort()
        results.put((name, log, f"{type(exc).__name__}: {exc}"))
    finally:
        db.dispose()


# ------------------------------------------------------------------------------------------------
# Drivers run as subprocesses and killed with SIGKILL at random moments


def driver_cmd(code: str) -> list[str]:
    """``python -c CODE`` with this folder importable (the project itself is installed)."""
    return [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); {code}"]


def advance_stream(url: str, keys: list[str], log_path: str, seed: int) -> None:
    """``dongflow advance`` over and over, in one process (the command's own code, click and all,
    without 0.5 s of interpreter start-up per call). After each success the note is appended to
    ``log_path`` and fsynced: an acknowledged change. Refusals (exit 5) are expected: the trigger is
    picked without looking. Any other exit code stops the stream with a line saying so."""
    import gc

    import cli

    rng = random.Random(seed)
    with open(log_path, "a", encoding="utf-8") as log:
        for i in range(1_000_000):
            key = keys[i % len(keys)]
            note = f"stream-{seed}#{i}"
            args = ["--db", url, "advance", key, rng.choice(CYCLE_TRIGGERS), "--actor", "stream", "--note", note]
            rc = cli.cli.main(args=args, prog_name="dongflow", standalone_mode=False) or 0
            if rc == 0:
                log.write(note + "\n")
                log.flush()
                os.fsync(log.fileno())
            elif rc != 5:
                log.write(f"UNEXPECTED exit {rc} at {note}\n")
                log.flush()
                raise SystemExit(rc)
            if i % 20 == 19:
                gc.collect()  # each call builds its own engine; close their pools promptly


def slow_alert_run(config: str, url: str, as_of: str, delay: float) -> None:
    """``dongflow alerts run`` whose file channel takes ``delay`` seconds per message (a slow disk)."""
    import time

    import cli
    import notify.channels

    real = notify.channels.FileChannel.send

    def slow(self: Any, message: Any) -> None:
        time.sleep(delay)
        real(self, message)

    notify.channels.FileChannel.send = slow  # type: ignore[method-assign]
    raise SystemExit(cli.cli.main(args=["--db", url, "alerts", "run", "--as-of", as_of, "--config", config],
                                  prog_name="dongflow", standalone_mode=False) or 0)


class Webhook:
    """A real HTTP server on 127.0.0.1 that answers each POST after ``delay`` seconds and keeps the
    alert ids of every message it answered (and of every one it received)."""

    def __init__(self, delay: float = 0.0) -> None:
        import json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.delay = delay
        self.received: list[list[int]] = []
        lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with lock:
                    outer.received.append([a["alert_id"] for a in body["alerts"]])
                import time

                time.sleep(outer.delay)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
