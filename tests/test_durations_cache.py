"""The observed-durations cache of one-project commands gives what computing gives, and notices
when the completed projects change (here: one more project completes)."""

from __future__ import annotations

import datetime as dt
from importlib.resources import files
from pathlib import Path
from zoneinfo import ZoneInfo

from programme import demo
from engine.catalog import Catalog
from engine.deadlines import observed_durations
from engine.service import Service
from storage.db import Database
from storage.durations_cache import CachedDurations
from storage.repository import SqlProjectStore
from storage.schema import upgrade
from storage.tracking import TrackingReader
from workflows import SHIPPED_DIR

TZ = ZoneInfo("Asia/Seoul")


def test_cached_durations_equal_computed_ones_and_follow_new_completions(tmp_path: Path) -> None:
    catalog = Catalog.from_dirs([SHIPPED_DIR])
    db = Database(f"sqlite:///{tmp_path / 'd.db'}")
    upgrade(db)
    service = Service(SqlProjectStore(db), catalog)
    dongs = demo.read_dongs(files("programme").joinpath("data/seoul-dongs-2016.csv").read_bytes())
    service.add_with_history(demo.build(catalog, dongs, as_of=dt.date(2016, 6, 20), tz=TZ))
    wf = catalog.latest("space-improvement")
    calls = []

    def durations() -> object:
        with db.read() as conn:
            reader = TrackingReader(conn)

            def compute():  # type: ignore[no-untyped-def]
                calls.append(1)
                return observed_durations(wf, reader.completed_reached(wf.id, wf.target.state))

            return CachedDurations(conn, db.url, tmp_path / "cache")(wf, compute), compute()

    cached, fresh = durations()
    assert cached == fresh and cached.observed and len(calls) == 2  # computed once for the cache
    cached, fresh = durations()
    assert cached == fresh and len(calls) == 3  # served from the cache

    # One more completion changes the stamp: computed again, and the new figures are served.
    key = next(p.key for p in service.status(_query(state="construction")))
    service.advance(key, "complete", actor="test", now=dt.datetime(2016, 6, 21, 9, tzinfo=TZ))
    cached, fresh = durations()
    assert cached == fresh and cached.samples == fresh.samples and len(calls) == 5

    # A damaged cache file is ignored.
    for path in (tmp_path / "cache").glob("*.json"):
        path.write_text("{not json", "utf-8")
    cached, fresh = durations()
    assert cached == fresh and len(calls) == 7


def _query(**kwargs: object):  # type: ignore[no-untyped-def]
    from engine.ports import ProjectQuery

    return ProjectQuery(**kwargs)  # type: ignore[arg-type]
