"""Attacks on the incremental nightly check (storage/check_marks.py): cases where a project's
findings, or what the alert lifecycle does with them, could change without the project being
assessed. Each runs one portfolio in two databases through the same days -- the first database's
runs are incremental, the second's marks are dropped before each run so that it checks every project
-- and both must hold the same alerts and lifecycle events after every run (on SQLite and PostgreSQL).
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from support import fresh_database
from alertkit import SEOUL, alerts_of, file_channel, make_runner

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.generate import AS_OF, build_database  # noqa: E402
from engine.catalog import Catalog  # noqa: E402
from workflows import SHIPPED_DIR  # noqa: E402

FINAL = ["completed", "cancelled", "done"]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.external_service)])
def twin_urls(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Two fresh, empty databases on the same backend."""
    (tmp_path / "inc").mkdir()
    (tmp_path / "full").mkdir()
    with fresh_database(request.param, tmp_path / "inc") as inc, \
            fresh_database(request.param, tmp_path / "full") as full:
        yield inc, full


def at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), SEOUL).astimezone(dt.UTC)


class Twin:
    """One generated portfolio in two databases, changed alike; ``run`` runs both and compares."""

    def __init__(self, urls: tuple[str, str], tmp_path: Path, count: int = 80, seed: int = 41,
                 config: str = "") -> None:
        self.catalog = Catalog.from_dirs([SHIPPED_DIR, ROOT / "bench" / "workflows"])
        self.urls = urls
        for url in urls:
            build_database(url, self.catalog, count, seed=seed)
        self.clock = [at(AS_OF, 2)]
        text = config + file_channel(tmp_path / "alerts.jsonl")
        self.runners = [make_runner(url, self.catalog, text, lambda: self.clock[0]) for url in urls]

    def run(self, as_of: dt.date, when: dt.datetime, *, dry_run: bool = False) -> tuple:
        """Both databases' runs as of ``as_of`` at ``when``; their alerts and reports must agree."""
        from storage import check_marks
        from storage.db import Database

        self.clock[0] = when
        db = Database(self.urls[1])
        try:
            with db.write() as conn:
                check_marks.forget(conn)
        finally:
            db.dispose()
        inc, full = (r.run(as_of, dry_run=dry_run) for r in self.runners)
        assert full.assessed == full.scanned
        assert (inc.scanned, inc.found, inc.new_alerts, inc.lifecycle) == \
            (full.scanned, full.found, full.new_alerts, full.lifecycle), (as_of, when)
        assert alerts_of(self.urls[0]) == alerts_of(self.urls[1]), (as_of, when)
        return inc, full

    def each(self, change: Callable[..., None]) -> None:
        """``change(service, url)`` on both databases."""
        from engine.service import Service
        from storage.db import Database
        from storage.repository import SqlProjectStore

        for url in self.urls:
            db = Database(url)
            try:
                change(Service(SqlProjectStore(db), self.catalog), url)
            finally:
                db.dispose()

    def alerted_keys(self, state: str = "open", limit: int = 20) -> list[str]:
        """Keys of open projects of this year's cohort with an alert in ``state`` (the same in both
        databases)."""
        from storage.db import Database
        from storage.repository import P
        from storage.tables import AlertRow

        A = AlertRow.__table__  # type: ignore[attr-defined]
        db = Database(self.urls[0])
        try:
            with db.read() as conn:
                keys = conn.execute(select(P.c.key).distinct().select_from(A.join(P, P.c.id == A.c.project_id))
                                    .where(A.c.state == state, P.c.state.not_in(FINAL), P.c.retired_at.is_(None),
                                           P.c.year == AS_OF.year)
                                    .order_by(P.c.key)).scalars().all()
        finally:
            db.dispose()
        return list(keys)[:limit]


def test_an_alert_resolved_and_found_again_on_the_same_day_is_reopened_the_next_day(
        twin_urls: tuple[str, str], tmp_path: Path) -> None:
    """A target moved and moved back on one day, with a run in between: the run after the move
    resolves the project's alerts, the run after the move back finds them again but (same day)
    reopens nothing. The next night a full check reopens them; so must the incremental one, although
    the project has not changed since its last check."""
    twin = Twin(twin_urls, tmp_path)
    day = AS_OF
    twin.run(day, at(day, 2))
    keys = twin.alerted_keys()
    assert keys
    targets: dict[str, dt.date] = {}

    def move(service, _url: str) -> None:
        for key in keys:
            project = service.project(key)
            targets[key] = project.target
            service.edit_project(key, actor="test", now=at(day, 10), note="moved",
                                 target=project.target + dt.timedelta(days=400))

    def back(service, _url: str) -> None:
        for key in keys:
            service.edit_project(key, actor="test", now=at(day, 12), note="back", target=targets[key])

    twin.each(move)
    inc, _ = twin.run(day, at(day, 11))
    assert inc.lifecycle["resolved"] > 0
    twin.each(back)
    twin.run(day, at(day, 13))
    nxt = day + dt.timedelta(days=1)
    _, full = twin.run(nxt, at(nxt, 2))
    assert full.lifecycle["reopened"] > 0


def test_alerts_of_a_future_day_are_reconciled_when_that_day_comes(twin_urls: tuple[str, str], tmp_path: Path) -> None:
    """A real run for a day ahead (``alerts run --as-of`` next week: today's record, so no rebuilt
    past) records alerts of that day; today's run then checks everything again. Projects that change
    in between (a step, a retirement) are assessed on the day they change, when the future day's
    alerts are not yet theirs to resolve; when that day comes a full check resolves them, and so must
    the incremental one."""
    from storage.db import Database
    from storage.repository import P
    from storage.tables import AlertRow

    A = AlertRow.__table__  # type: ignore[attr-defined]
    twin = Twin(twin_urls, tmp_path)
    today = AS_OF
    ahead = today + dt.timedelta(days=6)
    twin.run(ahead, at(today, 1))
    twin.run(today, at(today, 2))
    db = Database(twin.urls[0])
    try:
        with db.read() as conn:
            keys = sorted(set(conn.execute(
                select(P.c.key).select_from(A.join(P, P.c.id == A.c.project_id))
                .where(A.c.as_of == ahead, A.c.state == "open", P.c.state.not_in(FINAL))).scalars()))
    finally:
        db.dispose()
    assert len(keys) >= 3

    def change(service, _url: str) -> None:
        from engine.errors import DongflowError

        service.retire_project(keys[0], actor="test", now=at(today + dt.timedelta(days=1), 10), note="twice")
        for key in keys[1:]:
            project = service.project(key)
            for trigger in twin.catalog.machine(service.workflow_of(project)).allowed(project.state):
                try:
                    service.advance(key, trigger, actor="test", now=at(today + dt.timedelta(days=1), 10))
                    break
                except DongflowError:
                    continue

    twin.each(change)
    for n in range(1, 9):
        day = today + dt.timedelta(days=n)
        twin.run(day, at(day, 2))


def test_a_project_changed_while_the_check_reads_is_not_taken_for_gone(db_url: str, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """PostgreSQL reads each statement of the check's transaction on its own snapshot. A project
    edited after the check began reading projects, but before it looked for marks that no longer
    hold, used to be taken as one that left the check: all its alerts were resolved (with notices),
    to be reopened the next night. It must be left as it was, for the next run to assess."""
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite's check holds the write lock: nothing changes while it reads")
    from engine.service import Service
    from storage import check_marks
    from storage.db import Database
    from storage.repository import P, SqlProjectStore
    from storage.tables import AlertEventRow, AlertRow

    A, E = AlertRow.__table__, AlertEventRow.__table__  # type: ignore[attr-defined]
    catalog = Catalog.from_dirs([SHIPPED_DIR, ROOT / "bench" / "workflows"])
    build_database(db_url, catalog, 60, seed=41)
    clock = [at(AS_OF, 2)]
    runner = make_runner(db_url, catalog, file_channel(tmp_path / "alerts.jsonl"), lambda: clock[0])
    runner.run(AS_OF)
    db = Database(db_url)
    try:
        nxt = AS_OF + dt.timedelta(days=1)
        with db.read() as conn:
            key, pid = conn.execute(
                select(P.c.key, P.c.id).select_from(A.join(P, P.c.id == A.c.project_id)
                                                    .join(check_marks.M, check_marks.M.c.project_id == P.c.id))
                .where(A.c.state == "open", check_marks.M.c.recheck_on > nxt + dt.timedelta(days=1))
                .order_by(P.c.key).limit(1)).one()
        service = Service(SqlProjectStore(db), catalog)
        assessed = check_marks._assessed

        def racing(*args, **kwargs):
            rows = assessed(*args, **kwargs)
            first = next(rows, None)  # the projects' statement has begun: now an office edits one
            project = service.project(key)
            service.edit_project(key, actor="test", now=at(nxt, 1), note="typo",
                                 target=project.target + dt.timedelta(days=1))
            if first is not None:
                yield first
            yield from rows

        monkeypatch.setattr(check_marks, "_assessed", racing)
        clock[0] = at(nxt, 2)
        runner.run(nxt)
        with db.read() as conn:
            resolved = conn.execute(select(func.count()).select_from(E.join(A, A.c.id == E.c.alert_id))
                                    .where(A.c.project_id == pid, E.c.kind == "resolved")).scalar()
        assert resolved == 0
    finally:
        db.dispose()


def _alert_ids(url: str, idents: list[tuple[int, str, str]]) -> list[int]:
    """The ids of these (project, milestone, level) alerts in one database (ids differ between the two:
    new alerts are inserted in the order the check read their projects)."""
    from storage.db import Database
    from storage.tables import AlertRow

    A = AlertRow.__table__  # type: ignore[attr-defined]
    db = Database(url)
    try:
        with db.read() as conn:
            rows = {(p, m, lv): i
                    for i, p, m, lv in conn.execute(select(A.c.id, A.c.project_id, A.c.milestone, A.c.level))}
        return [rows[ident] for ident in idents]
    finally:
        db.dispose()


@pytest.mark.slow
@pytest.mark.parametrize("seed", [3, 11])
def test_a_season_of_irregular_runs_records_what_full_checks_record(twin_urls: tuple[str, str], tmp_path: Path,
                                                                   seed: int) -> None:
    """Runs at irregular days (several on one day, then none for a week), with the offices' work
    in between: steps (holds and resumes among them), undos, targets moved and moved back,
    retirements, blackout windows added and removed, alerts acknowledged and snoozed, a run for a
    day ahead, dry runs; reminders, escalations and resolved notices on. After every run both
    databases hold the same alerts and events."""
    import random

    from engine.blackouts import PROJECT, Blackout
    from engine.errors import DongflowError
    from storage.alert_lifecycle import change_state
    from storage.db import Database
    from storage.planning import SqlPlanningStore

    config = ("[lifecycle]\nresolved_notice = true\nescalate_after = 3\n"
              "remind_every = { escalated = 2, overdue = 3, at_risk = 4 }\n")
    twin = Twin(twin_urls, tmp_path, count=70, seed=seed, config=config)
    rng = random.Random(seed)
    day = AS_OF
    hour = 1
    twin.run(day, at(day, hour))
    moved: dict[str, dt.date] = {}
    blackouts: list[str] = []
    done: dict[str, int] = {}
    partial = 0
    for _ in range(16):
        gap = rng.choice((0, 0, 1, 1, 1, 2, 3, 7))
        if gap == 0 and hour < 20:
            hour += 3
        else:
            day += dt.timedelta(days=max(gap, 1))
            hour = 1
        now = at(day, hour) - dt.timedelta(minutes=30)
        open_keys = twin.alerted_keys(limit=40) or twin.alerted_keys(state="resolved", limit=40)
        picks = rng.sample(open_keys, min(5, len(open_keys)))
        actions: list[tuple] = []
        for key in picks:
            choice = rng.random()
            if choice < 0.08:
                actions.append(("retire", key))
            elif choice < 0.3 and key not in moved:
                actions.append(("move", key, rng.choice((-30, 200))))
            elif choice < 0.4:
                actions.append(("undo", key))
            else:
                actions.append(("step", key))
        if moved and rng.random() < 0.5:
            actions.append(("back", rng.choice(sorted(moved))))
        if rng.random() < 0.2 and picks:
            actions.append(("blackout", picks[0]))
        if rng.random() < 0.3 and blackouts:
            actions.append(("unblackout",))
        targets = dict(moved)

        def change(service, url: str) -> None:
            for action, *args in actions:
                try:
                    if action == "retire":
                        service.retire_project(args[0], actor="test", now=now, note="entered twice")
                    elif action == "move":
                        project = service.project(args[0])
                        targets[args[0]] = project.target
                        service.edit_project(args[0], actor="test", now=now, note="moved",
                                             target=project.target + dt.timedelta(days=args[1]))
                    elif action == "back":
                        service.edit_project(args[0], actor="test", now=now, note="moved back", target=targets[args[0]])
                    elif action == "undo":
                        service.undo(args[0], actor="test", now=now, note="wrong step")
                    elif action == "step":
                        project = service.project(args[0])
                        triggers = twin.catalog.machine(service.workflow_of(project)).allowed(project.state)
                        for trigger in sorted(triggers, key=lambda t: (t not in ("hold", "resume"), t)):
                            try:
                                service.advance(args[0], trigger, actor="test", now=now)
                                break
                            except DongflowError:
                                continue
                    else:
                        planning = SqlPlanningStore(Database(url))
                        try:
                            if action == "blackout":
                                first = day + dt.timedelta(days=10)
                                planning.add_blackout(Blackout(PROJECT, args[0], first, first + dt.timedelta(days=20),
                                                               "festival"), "test", now)
                            else:
                                planning.remove_blackout(planning.blackouts()[0].id)
                        finally:
                            planning.db.dispose()
                except DongflowError:
                    pass

        twin.each(change)
        for action, *args in actions:
            if action == "move":
                moved[args[0]] = targets[args[0]]
            elif action == "back":
                moved.pop(args[0])
            elif action == "blackout":
                blackouts.append(args[0])
            elif action == "unblackout":
                blackouts.pop(0)
        # People deal with some open alerts: the same ones in both databases.
        from storage.tables import AlertRow

        A = AlertRow.__table__  # type: ignore[attr-defined]
        db = Database(twin.urls[0])
        try:
            with db.read() as conn:
                idents = sorted(map(tuple, conn.execute(select(A.c.project_id, A.c.milestone, A.c.level)
                                                        .where(A.c.state == "open"))))
        finally:
            db.dispose()
        dealt = rng.sample(idents, min(3, len(idents)))
        for url in twin.urls:
            db = Database(url)
            try:
                for n, alert_id in enumerate(_alert_ids(url, dealt)):
                    with db.write() as conn:
                        if n % 2:
                            change_state(conn, alert_id, expect="open", state="snoozed", actor="test", note="later",
                                         now=now, snoozed_until=day + dt.timedelta(days=4))
                        else:
                            change_state(conn, alert_id, expect="open", state="acknowledged", actor="test",
                                         note="on it", now=now)
            finally:
                db.dispose()
        if rng.random() < 0.2:
            twin.run(day, at(day, hour), dry_run=True)
        if rng.random() < 0.15:
            twin.run(day + dt.timedelta(days=rng.choice((2, 5))), at(day, hour))
            hour += 1
        inc, _full = twin.run(day, at(day, hour))
        for name, n in inc.lifecycle.items():
            done[name] = done.get(name, 0) + n
        partial += inc.assessed < inc.scanned
    # The season went through what it is meant to (the counts of the incremental runs, equal to the full ones').
    assert partial >= 5 and all(done[name] for name in ("resolved", "superseded", "reminded", "escalated")), done



def test_the_basis_covers_the_code_the_findings_come_from() -> None:
    """The first run after an upgrade checks every project again only if the code that makes the
    findings and the lifecycle is hashed into the basis: every dongflow module they import
    (transitively) is."""
    import ast
    import importlib

    from storage import check_marks

    seen: set[str] = set()
    todo = ["engine.recheck", "engine.deadlines", "engine.monitor", "storage.tracking", "storage.check_marks",
            "storage.alert_lifecycle"]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        tree = ast.parse(Path(importlib.import_module(name).__file__ or "").read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = [node.module] if isinstance(node, ast.ImportFrom) and node.module else \
                [a.name for a in node.names] if isinstance(node, ast.Import) else []
            todo += [n for n in names if n.split(".")[0] in ("engine", "storage") and n not in seen]
    hashed = {path.resolve() for path in check_marks.code_files()}
    files = {Path(importlib.import_module(name).__file__ or "").resolve() for name in seen}
    assert files - hashed == set(), sorted(str(f) for f in files - hashed)
