"""Observed durations kept in the user's cache folder, so a one-project ``dongflow status`` does not
read and parse the histories of the last 2,000 completed projects every time (about 30 ms on a
100k portfolio, a fifth of the command beyond importing SQLModel).

An entry is keyed by the database, the workflow (its id, version, states and target) and the code
that computes durations, and holds only while the completed projects are the ones it was computed
from: a completed project is final, so its history cannot change while it exists, and the stamp
(count, sum of ids, latest completion; one indexed query) changes whenever one is added or removed.
Any problem with the cache means: compute. The nightly alert run does not use it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Connection

import engine.deadlines
from engine.deadlines import Durations
from engine.definition import Workflow
from storage import cache
from storage.tracking import completed_stamp


def cache_dir() -> Path:
    return cache.cache_dir("durations")


class CachedDurations:
    """A ``DurationsMemo`` (engine.monitor) over one open connection."""

    def __init__(self, conn: Connection, database: str, folder: Path | None = None) -> None:
        self.conn = conn
        self.database = database
        self.folder = folder or cache_dir()

    def __call__(self, workflow: Workflow, compute: Callable[[], Durations]) -> Durations:
        stamp = completed_stamp(self.conn, workflow.id, workflow.target.state)
        ident = json.dumps([
            self.database, workflow.id, workflow.version, repr((workflow.target, workflow.states)), stamp,
            cache.code_stamp("engine.deadlines"), engine.deadlines.MIN_OBSERVED,
        ], ensure_ascii=False)
        path = cache.entry(self.folder, ident, ".json")
        raw = cache.read(path)
        if raw is not None:
            try:
                data = json.loads(raw)
                return Durations(dict(data["days"]), dict(data["observed"]), int(data["samples"]))
            except (ValueError, KeyError, TypeError):
                pass
        found = compute()
        data = {"days": dict(found.days), "observed": dict(found.observed), "samples": found.samples}
        cache.write(path, json.dumps(data, ensure_ascii=False).encode("utf-8"))
        return found
