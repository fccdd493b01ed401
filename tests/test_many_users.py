"""Many coordinators at once (SQLite and PostgreSQL): 8 processes x 200 advances over shared and
separate projects, a locked database seen from the command line, and the SQLite connection settings.

The two-process race with a barrier between read and save is in test_concurrency.py; here the
processes run freely, so the races are whatever the scheduler makes of them, many hundreds per run.
"""

from __future__ import annotations

import multiprocessing
import sqlite3
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import text

import faultkit
from engine.project import replay
from engine.service import ProjectSpec
from support import dump

PROCESSES = 8
ATTEMPTS = 200
SHARED = ["2016-성동구-마장동", "2016-성북구-월곡1동"]
SETUP_VERSION = 6  # created, resident_meetings set, agree, present_design, approve_design, announce_tender


def own_key(i: int) -> str:
    return f"2016-도봉구-방학{i + 1}동"


@pytest.fixture
def portfolio(service, now) -> list[str]:
    """Two shared projects and one per worker, all in ``tender``."""
    keys = [*SHARED, *(own_key(i) for i in range(PROCESSES))]
    for key in keys:
        _, gu, dong = key.split("-")
        service.add_project(ProjectSpec(key, gu, dong, 2016), actor="setup", now=now)
        service.set_fact(key, "resident_meetings", "2", actor="setup", now=now)
        for trigger in ("agree", "present_design", "approve_design", "announce_tender"):
            service.advance(key, trigger, actor="setup", now=now)
        assert service.project(key).version == SETUP_VERSION
    return keys


@pytest.mark.slow
def test_eight_processes_advancing_shared_and_separate_projects(initialised_db, store, portfolio) -> None:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(PROCESSES)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=faultkit.advance_worker,
                    args=(initialised_db, f"w{i}", SHARED, own_key(i), ATTEMPTS, 1000 + i, barrier, results))
        for i in range(PROCESSES)
    ]
    for p in procs:
        p.start()
    reports = [results.get(timeout=600) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert [error for _, _, error in reports if error] == []
    attempts = [entry for _, log, _ in reports for entry in log]

    # Every attempt ended as a success, the conflict error or a refusal: nothing else, nothing missing.
    outcomes = Counter(entry[0] for entry in attempts)
    assert sum(outcomes.values()) == len(attempts) == PROCESSES * ATTEMPTS
    assert set(outcomes) <= {"won", "conflict", "refused"}
    assert outcomes["won"] > 0 and outcomes["conflict"] > 0, outcomes  # the shared projects really raced

    # Every success wrote exactly one event, the one after the version it read; no other event exists.
    written: dict[tuple[str, int], str] = {}
    for outcome, key, read, trigger, note, seq in attempts:
        if outcome == "won":
            assert seq == read + 1
            written[(key, seq)] = note
    for key in portfolio:
        project, events = store.get(key), store.events(key)
        new = events[SETUP_VERSION:]
        assert [(e.seq, e.note) for e in new] == sorted((seq, note) for (k, seq), note in written.items() if k == key)
        assert all(e.actor == e.note.split("#")[0] for e in new)
        assert project.version == len(events)
        assert project.facts["failed_tenders"] == sum(1 for e in new if e.trigger == "tender_failed")
        r = replay(events)
        assert (r.state, r.previous_state, r.facts, r.reached, r.entered_at, r.version) == (
            project.state, project.previous_state, dict(project.facts), dict(project.reached),
            project.entered_at, project.version,
        )

    # Every loser lost to somebody: another attempt wrote the version right after the one it read.
    for outcome, key, read, trigger, note, _ in attempts:
        if outcome == "conflict":
            assert written.get((key, read + 1)) not in (None, note), (key, read, note)
    # Every refusal was right for the state it read.
    histories = {key: store.events(key) for key in portfolio}
    for outcome, key, read, trigger, note, _ in attempts:
        if outcome == "refused":
            state = replay(histories[key][:read]).state
            assert (state, trigger) in {("tender", "resume"), ("on_hold", "hold"), ("on_hold", "tender_failed")}

    faultkit.assert_consistent(initialised_db)
    if initialised_db.startswith("sqlite"):
        mode = sqlite3.connect(faultkit.sqlite_path(initialised_db)).execute("PRAGMA journal_mode").fetchone()[0]
        assert mode == "wal"


def test_sqlite_connections_use_wal_normal_sync_and_a_busy_timeout(tmp_path, monkeypatch) -> None:
    from storage.db import Database

    monkeypatch.setenv("DONGFLOW_BUSY_TIMEOUT", "2.5")
    db = Database(f"sqlite:///{tmp_path / 'w.db'}")
    with db.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 1  # NORMAL
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 2500
    db.dispose()
    # WAL is a property of the file: a plain connection sees it too.
    assert sqlite3.connect(tmp_path / "w.db").execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@pytest.fixture
def cli(tmp_path: Path, initialised_db: str):
    """The installed ``dongflow`` against the test database, with a 1 s busy timeout."""
    env = faultkit.cli_env(tmp_path, DONGFLOW_DATABASE_URL=initialised_db, DONGFLOW_BUSY_TIMEOUT="1",
                           DONGFLOW_ACTOR="tester")

    def run(*args: str) -> tuple[subprocess.CompletedProcess[str], float]:
        start = time.monotonic()
        done = subprocess.run([*faultkit.dongflow_cmd(), *args], env=env, capture_output=True, text=True, timeout=60)
        return done, time.monotonic() - start

    run.url = initialised_db
    return run


def test_a_locked_database_is_a_clear_error_from_the_command_line(cli) -> None:
    """Another process holds the write lock (SQLite) or the project's row (PostgreSQL) and does not let
    go: ``dongflow advance`` waits the busy timeout, then says so in one line (exit 7). Reading still
    works meanwhile. Afterwards nothing has changed and the same command succeeds."""
    key = SHARED[0]
    added, _ = cli("project", "add", key, "--gu", "성동구", "--dong", "마장동", "--year", "2016")
    assert added.returncode == 0, added.stderr
    before = dump(cli.url)
    if cli.url.startswith("sqlite"):
        holder = sqlite3.connect(faultkit.sqlite_path(cli.url), isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        release = lambda: (holder.execute("ROLLBACK"), holder.close())  # noqa: E731
    else:
        import psycopg

        holder = psycopg.connect(cli.url.replace("postgresql+psycopg://", "postgresql://"))
        holder.execute("SELECT 1 FROM projects WHERE key = %s FOR UPDATE", (key,))
        release = lambda: (holder.rollback(), holder.close())  # noqa: E731
    try:
        done, took = cli("advance", key, "hold", "--note", "잠김 시험")
        reading, _ = cli("status", key)
    finally:
        release()
    assert done.returncode == 7, done
    assert "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("Error: ")
    assert "is busy (locked by another process for more than 1 s); try again, or raise DONGFLOW_BUSY_TIMEOUT" in done.stderr
    assert 1.0 <= took < 20, took  # it waited for the timeout, and no longer than that by much
    assert reading.returncode == 0, reading.stderr  # readers are not blocked by a writer
    assert dump(cli.url) == before
    again, _ = cli("advance", key, "hold", "--note", "잠김 시험")
    assert again.returncode == 0, again.stderr


def test_a_step_read_a_moment_after_another_coordinators_is_not_refused_as_back_dated(core_catalog, now) -> None:
    """Found by the 8-process test: the CLI reads the clock, then the project. If another coordinator
    saved a step in between (or on a machine whose clock is a little ahead), the project entered its
    state "after" our now; the step is recorded at that moment instead of refused with exit 3."""
    import datetime as dt

    from engine.service import Service
    from support import MemoryStore

    service = Service(MemoryStore(), core_catalog)
    key = SHARED[0]
    service.add_project(ProjectSpec(key, "성동구", "마장동", 2016), actor="a", now=now)
    later = now + dt.timedelta(seconds=2)
    service.advance(key, "hold", actor="a", now=later, note="first")
    project, event = service.advance(key, "resume", actor="b", now=later - dt.timedelta(milliseconds=300))
    assert event.at == later and project.entered_at == later
    service.add_project(ProjectSpec("k2", "성동구", "사근동", 2016), actor="a", now=later)
    service.set_fact("k2", "resident_meetings", "1", actor="c", now=later - dt.timedelta(seconds=1))
    assert service.history("k2")[-1].at == later
    with pytest.raises(Exception, match="before the project entered"):  # an explicit --at is still checked
        service.advance(key, "hold", actor="b", now=later, at=now, note="x")
