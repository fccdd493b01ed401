"""The incremental nightly check (storage/check_marks.py) records exactly what a full check would.

Two copies of one generated portfolio live through the same season, night after night: the same
steps, target edits, holds and retirements by day, then an alert run. One copy's runs are incremental
(the default); the other's marks are dropped before every run, so each of its runs checks every
project. Every night both must hold the same alerts in the same states, report the same numbers of
projects and findings, and on most nights the incremental one must have assessed only a small part of
them.
"""

from __future__ import annotations

import datetime as dt
import random
import sys
from pathlib import Path

import pytest

from alertkit import SEOUL, alerts_of, file_channel, make_runner

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.generate import AS_OF, build_database  # noqa: E402
from engine.catalog import Catalog  # noqa: E402
from workflows import SHIPPED_DIR  # noqa: E402

NIGHTS = 45


def _forget(url: str) -> None:
    from storage import check_marks
    from storage.db import Database

    db = Database(url)
    try:
        with db.write() as conn:
            check_marks.forget(conn)
    finally:
        db.dispose()


def _change(url: str, catalog: Catalog, night: dt.date, seed: int) -> None:
    """The day's work in the offices: a few steps, a target edit, a hold, a retirement."""
    from engine.errors import DongflowError
    from engine.service import Service
    from storage.db import Database
    from storage.repository import SqlProjectStore
    from storage.tracking import tracked_rows

    rng = random.Random(seed)
    db = Database(url)
    try:
        service = Service(SqlProjectStore(db), catalog)
        with db.read() as conn:
            open_ = [r.key for r in tracked_rows(conn, skip_states=["completed", "cancelled", "done"])]
        now = dt.datetime.combine(night, dt.time(11), SEOUL).astimezone(dt.UTC)
        for key in rng.sample(open_, min(6, len(open_))):
            project = service.project(key)
            triggers = catalog.machine(service.workflow_of(project)).allowed(project.state)
            rng.shuffle(triggers)
            choice = rng.random()
            try:
                if choice < 0.1:
                    service.retire_project(key, actor="test", now=now, note="entered twice")
                elif choice < 0.25:
                    service.edit_project(key, actor="test", now=now, note="new target",
                                         target=project.target + dt.timedelta(days=rng.choice((-20, 30))))
                else:
                    for trigger in triggers:
                        try:
                            service.advance(key, trigger, actor="test", now=now)
                            break
                        except DongflowError:
                            continue
            except DongflowError:
                pass
    finally:
        db.dispose()


@pytest.mark.slow
def test_incremental_nights_record_what_full_checks_record(tmp_path: Path) -> None:
    catalog = Catalog.from_dirs([SHIPPED_DIR, ROOT / "bench" / "workflows"])
    urls = [f"sqlite:///{tmp_path / name}.db" for name in ("incremental", "full")]
    for url in urls:
        build_database(url, catalog, 400, seed=31)
    config = file_channel(tmp_path / "alerts.jsonl") + "[lifecycle]\nremind_every = {}\nescalate_after = 0\n"
    clock = [dt.datetime(2030, 1, 1, tzinfo=dt.UTC)]
    runners = [make_runner(url, catalog, config, lambda: clock[0]) for url in urls]
    assessed_share = []
    for n in range(NIGHTS):
        night = AS_OF + dt.timedelta(days=n)
        clock[0] = dt.datetime.combine(night, dt.time(23), SEOUL).astimezone(dt.UTC)
        for url in urls:
            _change(url, catalog, night, seed=n)
        _forget(urls[1])
        inc, full = (r.run(night) for r in runners)
        assert (inc.scanned, inc.found, inc.new_alerts, inc.lifecycle) == \
            (full.scanned, full.found, full.new_alerts, full.lifecycle), night
        assert full.assessed == full.scanned
        assert alerts_of(urls[0]) == alerts_of(urls[1]), night
        if n:
            assessed_share.append(inc.assessed / inc.scanned)
    # Most nights look at a few projects; a night whose observed durations moved (completions shift a
    # state's median by a day) checks everything again, as the basis requires.
    small = [share for share in assessed_share if share < 0.1]
    assert len(small) > len(assessed_share) * 0.6, [round(share, 2) for share in assessed_share]


def test_a_past_day_check_or_new_rules_make_the_next_run_a_full_one(db_url: str, tmp_path: Path) -> None:
    catalog = Catalog.from_dirs([SHIPPED_DIR, ROOT / "bench" / "workflows"])
    url = db_url
    build_database(url, catalog, 120, seed=5)
    config = file_channel(tmp_path / "alerts.jsonl")
    clock = [dt.datetime.combine(AS_OF, dt.time(23), SEOUL).astimezone(dt.UTC)]
    runner = make_runner(url, catalog, config, lambda: clock[0])
    first = runner.run(AS_OF)
    assert first.assessed == first.scanned > 0
    clock[0] += dt.timedelta(days=1)
    second = runner.run(AS_OF + dt.timedelta(days=1))
    assert second.assessed < second.scanned
    assert "unchanged since their last check" in second.summary()
    assert type(second.found) is int and type(second.scanned) is int  # not PostgreSQL's Decimal sums
    # A check of an earlier day (its alerts are recorded too) drops the marks: the next run checks all.
    runner.run(AS_OF - dt.timedelta(days=3))
    third = runner.run(AS_OF + dt.timedelta(days=1))
    assert third.assessed == third.scanned
    # Other rules (here: another language for the reasons) make a full run too.
    other = make_runner(url, catalog, 'lang = "en"\n' + config, lambda: clock[0])
    fourth = other.run(AS_OF + dt.timedelta(days=1))
    assert fourth.assessed == fourth.scanned
    # A dry run reads the marks but writes none.
    dry = other.run(AS_OF + dt.timedelta(days=2), dry_run=True)
    assert dry.assessed < dry.scanned


def test_marks_of_projects_closed_since_the_marked_day_are_dropped(db_url: str) -> None:
    """Marks made for an earlier day on today's record (projects closed since then were still open
    on that day): the next day's incremental check counts what a full check counts."""
    from engine.monitor import DeadlineBook
    from storage import check_marks
    from storage.db import Database
    from storage.tracking import TrackingReader

    catalog = Catalog.from_dirs([SHIPPED_DIR, ROOT / "bench" / "workflows"])
    build_database(db_url, catalog, 300, seed=8)
    db = Database(db_url)
    try:
        for back in (40, 1):
            day = AS_OF - dt.timedelta(days=back)
            with db.write() as conn:
                check_marks.forget(conn)
                book = DeadlineBook(catalog, SEOUL, TrackingReader(conn))
                check_marks.scan(conn, book, day, "ko", skip_states=book.skip_states(),
                                 closed_before=book.closed_before(day), write=True)
            with db.read() as conn:
                book = DeadlineBook(catalog, SEOUL, TrackingReader(conn))
                skip, closed = book.skip_states(), book.closed_before(AS_OF)
                inc = check_marks.scan(conn, book, AS_OF, "ko", skip_states=skip, closed_before=closed, write=False)
                scanned, found = book.scan(TrackingReader(conn).rows(skip_states=skip, closed_before=closed), AS_OF, "ko")
            assert (inc.scanned, inc.total) == (scanned, len(found)), back
            assert inc.assessed < inc.scanned
    finally:
        db.dispose()
