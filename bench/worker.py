"""The measured work of the in-process figures, run in a fresh process by ``bench/run.py``.

Each sub-command prints one JSON object on stdout. Timings cover the work only (modules are
imported and the workflow catalogue loaded before the clock starts); ``maxrss_kb`` is the process's
own peak resident set (``getrusage(RUSAGE_SELF).ru_maxrss``), interpreter and imports included.

* ``check``        the nightly check: levels and at-risk for every open project (the alert run's
                   compute: ``DeadlineBook.scan`` over ``tracked_rows`` in one read transaction);
* ``check-floor``  raw ``sqlite3`` selecting the same rows (same columns, filter and order);
* ``advance``      ``Service.advance`` one project after another, interleaved with rounds of raw
                   ``sqlite3`` doing the same UPDATE + INSERT per transaction (same pragmas);
* ``import``       ``Service.import_csv`` of a CSV into an empty database, interleaved with raw
                   ``sqlite3`` ``executemany`` of the same project and event rows.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# bench/ab.py points DONGFLOW_BENCH_TREE at an exported older revision: its code is measured then.
for _tree in (str(ROOT), os.environ.get("DONGFLOW_BENCH_TREE")):
    if _tree and _tree not in sys.path[:1]:
        sys.path.insert(0, _tree)

from bench.generate import AS_OF, NOW, TZ  # noqa: E402

PRAGMAS = ("PRAGMA busy_timeout = 5000", "PRAGMA foreign_keys = ON", "PRAGMA journal_mode = WAL",
           "PRAGMA synchronous = NORMAL")
"""What storage/db.py sets on every SQLite connection: the floors use the same."""


def maxrss_kb() -> int:
    """This process's peak resident memory in KiB: the kernel's high-water mark of its own address space
    (``VmHWM``). Not ``getrusage(RUSAGE_SELF).ru_maxrss``: on Linux that survives ``exec``, so a worker
    started by a parent holding 230 MB reports the parent's 230 MB whatever it used itself."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def catalog(workflow_dirs: list[str]) -> Any:
    from engine.catalog import Catalog
    from workflows import SHIPPED_DIR

    return Catalog.from_dirs([SHIPPED_DIR, *workflow_dirs])


def raw_connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in PRAGMAS:
        conn.execute(pragma)
    return conn


def sql_datetime(moment: dt.datetime) -> str:
    """A UTC instant as SQLAlchemy's SQLite dialect stores it (storage.types.UTCDateTime)."""
    return moment.astimezone(dt.timezone.utc).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")


def closed_before(as_of: dt.date) -> dt.datetime:
    return dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time(), TZ).astimezone(dt.timezone.utc)


# -- the nightly check ------------------------------------------------------------------------


def cmd_check(args: argparse.Namespace) -> dict[str, Any]:
    from engine.monitor import DeadlineBook
    from storage.db import Database
    from storage.tracking import TrackingReader

    cat = catalog(args.workflows)
    db = Database(args.db)
    as_of = dt.date.fromisoformat(args.as_of)
    start, cpu = time.perf_counter(), time.process_time()
    # Exactly the compute of notify.runner.AlertRunner._check, in one read transaction.
    with db.read() as conn:
        reader = TrackingReader(conn)
        book = DeadlineBook(cat, TZ, reader)
        rows = reader.rows(skip_states=book.skip_states(), closed_before=book.closed_before(as_of))
        scanned, found = book.scan(rows, as_of)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    levels: dict[str, int] = {}
    for _row, f in found:
        levels[f.level] = levels.get(f.level, 0) + 1
    return {"seconds": seconds, "cpu_seconds": cpu, "rows": scanned, "findings": len(found), "levels": levels,
            "skip_states": book.skip_states(), "maxrss_kb": maxrss_kb()}


def cmd_check_next_night(args: argparse.Namespace) -> dict[str, Any]:
    """The alert run's check the night after a real run: incremental (storage/check_marks.py).

    ``--prime`` makes the marks: a full check as of the day before, committed, as a real run leaves
    them. Otherwise the check as of ``--as-of`` runs exactly as ``AlertRunner._check`` runs it (marks
    read, projects new, changed or due assessed, marks written) in one transaction, timed to its end
    and then rolled back, so that every repetition starts from the same marks."""
    from engine.monitor import DeadlineBook
    from storage import check_marks
    from storage.db import Database
    from storage.tracking import TrackingReader

    cat = catalog(args.workflows)
    db = Database(args.db)
    as_of = dt.date.fromisoformat(args.as_of)
    if args.prime:
        day = as_of - dt.timedelta(days=1)
        with db.write() as conn:
            book = DeadlineBook(cat, TZ, TrackingReader(conn))
            done = check_marks.scan(conn, book, day, "ko", skip_states=book.skip_states(),
                                    closed_before=book.closed_before(day), write=True)
        return {"primed_as_of": day.isoformat(), "rows": done.scanned, "findings": done.total}
    start, cpu = time.perf_counter(), time.process_time()
    with db.engine.connect() as conn:
        transaction = conn.begin()
        book = DeadlineBook(cat, TZ, TrackingReader(conn))
        done = check_marks.scan(conn, book, as_of, "ko", skip_states=book.skip_states(),
                                closed_before=book.closed_before(as_of), write=True)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        transaction.rollback()
    return {"seconds": seconds, "cpu_seconds": cpu, "rows": done.scanned, "assessed": done.assessed,
            "findings": done.total, "maxrss_kb": maxrss_kb()}


def cmd_overdue_floor(args: argparse.Namespace) -> dict[str, Any]:
    """The floor of ``dongflow overdue --json`` as a whole process: this process imports what the
    check needs, runs the check (as cmd_check) and writes the same rows, with the same fields, as
    one ``json.dumps`` (the C encoder) to stdout. Its result line goes to stderr."""
    from engine.monitor import DeadlineBook
    from storage.db import Database
    from storage.tracking import TrackingReader

    cat = catalog(args.workflows)
    db = Database(args.db)
    as_of = dt.date.fromisoformat(args.as_of)
    with db.read() as conn:
        reader = TrackingReader(conn)
        book = DeadlineBook(cat, TZ, reader)
        rows = reader.rows(skip_states=book.skip_states(), closed_before=book.closed_before(as_of))
        _scanned, found = book.scan(rows, as_of)
    day = as_of.isoformat()
    items = [{"key": r.key, "gu": r.gu, "dong": r.dong, "year": r.year, "workflow": r.workflow_id, "state": r.state,
              "entered_at": r.entered_at.isoformat(), "milestone": f.milestone, "milestone_label": f.milestone,
              "due": f.due.isoformat(), "level": f.level, "days_late": f.days, "slack_days": None,
              "reason": f.reason, "as_of": day} for r, f in found]
    sys.stdout.write(json.dumps(items, ensure_ascii=False))
    sys.stdout.flush()
    return {"rows": len(items), "maxrss_kb": maxrss_kb()}


def cmd_check_floor(args: argparse.Namespace) -> dict[str, Any]:
    skip = json.loads(args.skip_states)
    as_of = dt.date.fromisoformat(args.as_of)
    path = args.db.removeprefix("sqlite:///")
    start, cpu = time.perf_counter(), time.process_time()
    conn = raw_connect(path)
    marks = ",".join("?" * len(skip))
    cur = conn.execute(
        "SELECT id, key, gu, dong, year, workflow_id, workflow_version, state, previous_state, target_date, "
        f"entered_at, reached FROM projects WHERE state NOT IN ({marks}) OR entered_at >= ? ORDER BY key",
        [*skip, sql_datetime(closed_before(as_of))],
    )
    count = 0
    for _row in cur:
        count += 1
    conn.close()
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {"seconds": seconds, "cpu_seconds": cpu, "rows": count, "maxrss_kb": maxrss_kb()}


def cmd_peer_sweep(args: argparse.Namespace) -> dict[str, Any]:
    from bench import peer_spiff

    peer = peer_spiff.Peer()
    milestones = peer_spiff.Milestones(catalog(args.workflows))
    as_of = dt.date.fromisoformat(args.as_of)
    conn = peer_spiff.connect(args.db.removeprefix("sqlite:///"))
    start, cpu = time.perf_counter(), time.process_time()
    scanned, findings = peer_spiff.sweep(peer, conn, milestones, as_of)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    conn.close()
    return {"seconds": seconds, "cpu_seconds": cpu, "rows": scanned, "findings": findings, "maxrss_kb": maxrss_kb()}


# -- advance ----------------------------------------------------------------------------------

NEXT = {
    "agreement": "present_design",
    "design_review": "approve_design",
    "detailed_design": "announce_tender",
    "tender": "award",
    "construction": "complete",
    "request": "accept",
    "works": "finish_works",
    "inspection": "pass_inspection",
}
"""For each state, a trigger that leaves it with no guard: what a coordinator typically fires."""


def _floor_statements(
    keys: list[str], service: Any, store: Any, postgres: bool = False
) -> list[tuple[str, int, tuple[Any, ...], tuple[Any, ...]]]:
    """The UPDATE and INSERT parameters of each advance, computed by the engine (not timed)."""
    from bench import pg
    from engine import project as proj
    from storage.repository import event_values, project_values

    out = []
    for key in keys:
        p = store.get(key)
        wf = service.workflow_of(p)
        step = service.catalog.machine(wf).fire(p.key, p.state, NEXT[p.state], p.facts, p.previous_state, None)
        updated, event = proj.apply_step(p, step, actor="bench", at=NOW, now=NOW, note=None)
        v = project_values(updated)
        e = event_values(event, 0)
        if postgres:
            out.append((key, p.version, *pg.floor_statement(v, e, key, p.version)))
            continue
        upd = (v["state"], v["previous_state"], sql_datetime(v["entered_at"]), json.dumps(v["facts"]),
               json.dumps(v["reached"]), v["version"], key, p.version, v["gu"], v["dong"], v["year"],
               v["workflow_id"], v["workflow_version"], v["target_date"].isoformat(),
               None if v["retired_at"] is None else sql_datetime(v["retired_at"]))
        ins = (e["seq"], e["kind"], e["trigger"], e["from_state"], e["to_state"], e["actor"], sql_datetime(e["at"]),
               sql_datetime(e["recorded_at"]), e["note"], json.dumps(e["data"]))
        out.append((key, p.version, upd, ins))
    return out


UPDATE_SQL = (
    "UPDATE projects SET state=?, previous_state=?, entered_at=?, facts=?, reached=?, version=? "
    "WHERE key = ? AND version = ? AND gu IS ? AND dong IS ? AND year IS ? AND workflow_id IS ? "
    "AND workflow_version IS ? AND target_date IS ? AND retired_at IS ? RETURNING id"
)
"""The UPDATE dongflow's hot path issues for an advance on SQLite (storage/hotpath.py: the columns an
advance changes, the row matched by its unchanged identity too), so the floor does the same work."""
INSERT_EVENT_SQL = (
    "INSERT INTO events (project_id, seq, kind, \"trigger\", from_state, to_state, actor, at, recorded_at, note, data) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def cmd_advance(args: argparse.Namespace) -> dict[str, Any]:
    from engine.service import Service
    from storage.db import Database
    from storage.repository import SqlProjectStore

    keys = json.loads(Path(args.keys).read_text("utf-8"))
    rounds, per_round = args.rounds, args.per_round
    assert len(keys) >= 2 * rounds * per_round, "not enough projects to advance"
    db = Database(args.db)
    store = SqlProjectStore(db)
    service = Service(store, catalog(args.workflows))
    app_keys = [keys[i * 2 * per_round : i * 2 * per_round + per_round] for i in range(rounds)]
    floor_keys = [keys[i * 2 * per_round + per_round : (i + 1) * 2 * per_round] for i in range(rounds)]
    # Warm up both paths (statement caches, the machine) on projects outside the measured sets.
    warm = keys[2 * rounds * per_round :][:20]
    postgres = not args.db.startswith("sqlite")
    if postgres:
        import psycopg

        from bench import pg

        raw = psycopg.connect(pg.libpq(args.db))
        raw_advance = pg.raw_advance
    else:
        raw = raw_connect(args.db.removeprefix("sqlite:///"))
        raw_advance = _raw_advance
    for key in warm[:10]:
        p = store.get(key)
        service.advance(key, NEXT[p.state], actor="bench", now=NOW)
    for key, version, upd, ins in _floor_statements(warm[10:], service, store, postgres):
        raw_advance(raw, upd, ins)
    peer_rates: list[float] = []
    peer_conn = peer = None
    peer_keys: list[tuple[str, str]] = []
    if args.peer:
        from bench import peer_spiff

        peer = peer_spiff.Peer()
        peer_conn = peer_spiff.connect(args.peer)
        peer_keys = peer_spiff.open_keys(peer_conn, NEXT, rounds * per_round + 10)
        peer_at = NOW.isoformat()
        for key, trigger in peer_keys[rounds * per_round :]:
            peer_spiff.advance(peer, peer_conn, key, trigger, peer_at)  # warm-up
    app_rates, floor_rates = [], []
    for r in range(rounds):
        triggers = []
        for key in app_keys[r]:
            triggers.append((key, NEXT[store.get(key).state]))
        start = time.perf_counter()
        for key, trigger in triggers:
            service.advance(key, trigger, actor="bench", now=NOW)
        app_rates.append(per_round / (time.perf_counter() - start))
        prepared = _floor_statements(floor_keys[r], service, store, postgres)
        start = time.perf_counter()
        for _key, _version, upd, ins in prepared:
            raw_advance(raw, upd, ins)
        floor_rates.append(per_round / (time.perf_counter() - start))
        mine = peer_keys[r * per_round : (r + 1) * per_round]
        if peer is not None and mine:
            start = time.perf_counter()
            for key, trigger in mine:
                peer_spiff.advance(peer, peer_conn, key, trigger, peer_at)
            peer_rates.append(len(mine) / (time.perf_counter() - start))
    raw.close()
    return {"app_rates": app_rates, "floor_rates": floor_rates, "peer_rates": peer_rates, "per_round": per_round,
            "rounds": rounds, "maxrss_kb": maxrss_kb()}


def _raw_advance(raw: sqlite3.Connection, upd: tuple[Any, ...], ins: tuple[Any, ...]) -> None:
    raw.execute("BEGIN IMMEDIATE")
    try:
        row = raw.execute(UPDATE_SQL, upd).fetchone()
        if row is None:
            raise RuntimeError(f"floor advance of {upd[6]} lost its row")
        raw.execute(INSERT_EVENT_SQL, (row[0], *ins))
        raw.execute("COMMIT")
    except BaseException:
        raw.execute("ROLLBACK")
        raise


def cmd_advance_client(args: argparse.Namespace) -> dict[str, Any]:
    """One of several concurrent clients: advance its own projects (``--mode app``: Service.advance;
    ``floor``: raw psycopg UPDATE + INSERT per transaction), starting at ``--start-at`` (epoch s)."""
    from bench import pg
    from engine.service import Service
    from storage.db import Database
    from storage.repository import SqlProjectStore

    keys = json.loads(Path(args.keys).read_text("utf-8"))
    db = Database(args.db)
    store = SqlProjectStore(db)
    service = Service(store, catalog(args.workflows))
    if not keys:
        pg.wait_until(args.start_at)
        return {"count": 0, "start": time.time(), "end": time.time()}
    if args.mode == "app":
        work = [(key, NEXT[store.get(key).state]) for key in keys]
        store.get(keys[0])  # connection made before the start
        pg.wait_until(args.start_at)
        start = time.time()
        for key, trigger in work:
            service.advance(key, trigger, actor="bench", now=NOW)
    else:
        import psycopg

        prepared = _floor_statements(keys, service, store, postgres=True)
        raw = psycopg.connect(pg.libpq(args.db))
        pg.wait_until(args.start_at)
        start = time.time()
        for _key, _version, upd, ins in prepared:
            pg.raw_advance(raw, upd, ins)
        raw.close()
    end = time.time()
    db.dispose()
    return {"count": len(keys), "start": start, "end": end}


def cmd_pg_check_floor(args: argparse.Namespace) -> dict[str, Any]:
    import psycopg

    from bench import pg

    skip = json.loads(args.skip_states)
    as_of = dt.date.fromisoformat(args.as_of)
    start, cpu = time.perf_counter(), time.process_time()
    conn = psycopg.connect(pg.libpq(args.db))
    cur = conn.execute(
        "SELECT id, key, gu, dong, year, workflow_id, workflow_version, state, previous_state, target_date, "
        "entered_at, reached FROM projects WHERE state <> ALL(%s) OR entered_at >= %s ORDER BY key",
        [skip, closed_before(as_of)],
    )
    count = 0
    for _row in cur:
        count += 1
    conn.close()
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {"seconds": seconds, "cpu_seconds": cpu, "rows": count, "maxrss_kb": maxrss_kb()}


# -- CSV import -------------------------------------------------------------------------------


def _floor_rows(
    csv_path: Path, service: Any, postgres: bool = False
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The project and event rows the import writes, computed by the engine (not timed)."""
    from engine import project as proj
    from engine.csv_input import read_records
    from engine.service import IMPORT_ALIASES, IMPORT_COLUMNS, IMPORT_REQUIRED
    from engine.values import parse_date
    from storage.repository import event_values, project_values

    projects, events = [], []
    with csv_path.open("rb") as stream:
        records = read_records(stream, str(csv_path), IMPORT_COLUMNS, IMPORT_REQUIRED, IMPORT_ALIASES)
        for n, rec in enumerate(records, 1):
            v = rec.values
            wf = service.catalog.latest(v.get("workflow") or "space-improvement")
            p, e = proj.new_project(wf, key=v["key"], gu=v["gu"], dong=v["dong"], year=int(v["year"]),
                                    target=parse_date(v["target"]) if v.get("target") else None,
                                    actor="bench", now=NOW)
            pv, ev = project_values(p), event_values(e, n)
            if postgres:
                projects.append((n, pv["key"], pv["gu"], pv["dong"], pv["year"], pv["workflow_id"],
                                 pv["workflow_version"], pv["state"], pv["previous_state"], pv["target_date"],
                                 pv["entered_at"], json.dumps(pv["facts"]), json.dumps(pv["reached"]),
                                 pv["created_at"], pv["version"]))
                events.append((n, ev["seq"], ev["kind"], ev["trigger"], ev["from_state"], ev["to_state"], ev["actor"],
                               ev["at"], ev["recorded_at"], ev["note"], json.dumps(ev["data"])))
                continue
            projects.append((n, pv["key"], pv["gu"], pv["dong"], pv["year"], pv["workflow_id"], pv["workflow_version"],
                             pv["state"], pv["previous_state"], pv["target_date"].isoformat(),
                             sql_datetime(pv["entered_at"]), json.dumps(pv["facts"]), json.dumps(pv["reached"]),
                             sql_datetime(pv["created_at"]), pv["version"]))
            events.append((n, ev["seq"], ev["kind"], ev["trigger"], ev["from_state"], ev["to_state"], ev["actor"],
                           sql_datetime(ev["at"]), sql_datetime(ev["recorded_at"]), ev["note"], json.dumps(ev["data"])))
    return projects, events


def cmd_import(args: argparse.Namespace) -> dict[str, Any]:
    from engine.service import Service
    from storage.db import Database
    from storage.repository import SqlProjectStore

    csv_path = Path(args.csv)
    template = Path(args.template)
    work = Path(args.work)
    cat = catalog(args.workflows)
    app_seconds, floor_seconds = [], []
    floor_projects: list[tuple[Any, ...]] = []
    floor_events: list[tuple[Any, ...]] = []
    imported = 0
    if not args.db.startswith("sqlite"):
        return _import_pg(args, csv_path, cat)
    for r in range(args.rounds):
        target = work / f"import-app-{r}.db"
        _fresh(template, target)
        db = Database(f"sqlite:///{target}")
        service = Service(SqlProjectStore(db), cat)
        start = time.perf_counter()
        with csv_path.open("rb") as stream:
            # The generated portfolio puts many projects on one dong and year (keys end -1, -2, ...): allowed.
            imported = service.import_csv(stream, str(csv_path), actor="bench", now=NOW, allow_duplicate=True,
                                          progress=lambda _done, _total: None)
        app_seconds.append(time.perf_counter() - start)
        db.dispose()
        _remove(target)
        if not floor_projects:
            floor_projects, floor_events = _floor_rows(csv_path, service)
        target = work / f"import-floor-{r}.db"
        _fresh(template, target)
        start = time.perf_counter()
        raw = raw_connect(str(target))
        raw.execute("BEGIN IMMEDIATE")
        raw.executemany(
            "INSERT INTO projects (id, key, gu, dong, year, workflow_id, workflow_version, state, previous_state, "
            "target_date, entered_at, facts, reached, created_at, version) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            floor_projects,
        )
        raw.executemany(
            "INSERT INTO events (project_id, seq, kind, \"trigger\", from_state, to_state, actor, at, recorded_at, "
            "note, data) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            floor_events,
        )
        raw.execute("COMMIT")
        raw.close()
        floor_seconds.append(time.perf_counter() - start)
        _remove(target)
    return {"app_seconds": app_seconds, "floor_seconds": floor_seconds, "rows": imported,
            "floor_rows": len(floor_projects), "maxrss_kb": maxrss_kb()}


def _import_pg(args: argparse.Namespace, csv_path: Path, cat: Any) -> dict[str, Any]:
    """The import figure on PostgreSQL: the schema's projects and events emptied before each round."""
    import psycopg

    from bench import pg
    from engine.service import Service
    from storage.db import Database
    from storage.repository import SqlProjectStore

    raw = psycopg.connect(pg.libpq(args.db))

    def empty() -> None:
        raw.execute("TRUNCATE projects, events RESTART IDENTITY CASCADE")
        raw.commit()

    app_seconds, floor_seconds = [], []
    floor_projects: list[tuple[Any, ...]] = []
    floor_events: list[tuple[Any, ...]] = []
    imported = 0
    for _r in range(args.rounds):
        empty()
        db = Database(args.db)
        service = Service(SqlProjectStore(db), cat)
        start = time.perf_counter()
        with csv_path.open("rb") as stream:
            imported = service.import_csv(stream, str(csv_path), actor="bench", now=NOW, allow_duplicate=True,
                                          progress=lambda _done, _total: None)
        app_seconds.append(time.perf_counter() - start)
        db.dispose()
        if not floor_projects:
            floor_projects, floor_events = _floor_rows(csv_path, service, postgres=True)
        empty()
        start = time.perf_counter()
        with raw.cursor() as cur:
            cur.executemany(
                "INSERT INTO projects (id, key, gu, dong, year, workflow_id, workflow_version, state, previous_state, "
                "target_date, entered_at, facts, reached, created_at, version) "
                "VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                floor_projects,
            )
            cur.executemany(
                "INSERT INTO events (project_id, seq, kind, \"trigger\", from_state, to_state, actor, at, recorded_at, "
                "note, data) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                floor_events,
            )
        raw.commit()
        floor_seconds.append(time.perf_counter() - start)
    empty()
    raw.close()
    return {"app_seconds": app_seconds, "floor_seconds": floor_seconds, "rows": imported,
            "floor_rows": len(floor_projects), "maxrss_kb": maxrss_kb()}


def _fresh(template: Path, target: Path) -> None:
    _remove(target)
    shutil.copyfile(template, target)


def _remove(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    for name in ("check", "check-next-night", "check-floor", "pg-check-floor", "overdue-floor", "peer-sweep", "advance",
                 "advance-client", "import"):
        p = sub.add_parser(name)
        p.add_argument("--db", required=True, help="sqlite:///PATH")
        p.add_argument("--workflows", action="append", default=[])
        p.add_argument("--as-of", default=AS_OF.isoformat())
    sub.choices["check-floor"].add_argument("--skip-states", required=True, help="JSON list")
    sub.choices["check-next-night"].add_argument("--prime", action="store_true",
                                                 help="make the marks: a full check of the day before, committed")
    sub.choices["pg-check-floor"].add_argument("--skip-states", required=True, help="JSON list")
    sub.choices["advance-client"].add_argument("--keys", required=True)
    sub.choices["advance-client"].add_argument("--mode", choices=["app", "floor"], required=True)
    sub.choices["advance-client"].add_argument("--start-at", type=float, required=True)
    sub.choices["advance"].add_argument("--keys", required=True, help="JSON file with project keys")
    sub.choices["advance"].add_argument("--rounds", type=int, default=5)
    sub.choices["advance"].add_argument("--per-round", type=int, default=200)
    sub.choices["advance"].add_argument("--peer", help="the SpiffWorkflow peer's database (its advances are timed too)")
    for opt, kw in (("--csv", {"required": True}), ("--template", {"required": True}),
                    ("--work", {"required": True}), ("--rounds", {"type": int, "default": 3})):
        sub.choices["import"].add_argument(opt, **kw)
    args = parser.parse_args(argv)
    handler = {"check": cmd_check, "check-next-night": cmd_check_next_night, "check-floor": cmd_check_floor, "overdue-floor": cmd_overdue_floor,
               "pg-check-floor": cmd_pg_check_floor, "advance-client": cmd_advance_client,
               "peer-sweep": cmd_peer_sweep,
               "advance": cmd_advance, "import": cmd_import}
    result = handler[args.cmd](args)
    result["code"] = str(Path(sys.modules["engine.catalog"].__file__).resolve().parent.parent)
    if args.cmd == "overdue-floor":
        print(json.dumps(result), file=sys.stderr)
    else:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
