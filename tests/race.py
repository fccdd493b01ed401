"""Run in a separate (spawned) process by test_concurrency: one coordinator advancing a project.

Every ``save`` first waits at a barrier shared with the other process, so both have read the same
version of the project before either writes: the race is real, not left to timing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any


def advance(url: str, key: str, triggers: list[str], start: dt.datetime, barrier: Any, results: Any, name: str) -> None:
    from engine.catalog import Catalog
    from engine.errors import ChangedMeanwhile
    from engine.service import Service
    from storage.db import Database
    from storage.repository import SqlProjectStore
    from workflows import SHIPPED_DIR

    db = Database(url)
    store = SqlProjectStore(db)

    class GatedStore:
        def __getattr__(self, attr: str) -> Any:
            return getattr(store, attr)

        def save(self, project: Any, event: Any) -> None:
            read.append(project.version - 1)  # the version this process read
            barrier.wait(timeout=60)  # both have read; now both write
            store.save(project, event)

    service = Service(GatedStore(), Catalog.from_dirs([SHIPPED_DIR]))
    outcomes: list[str] = []
    read: list[int] = []
    try:
        for round_, trigger in enumerate(triggers):
            now = start + dt.timedelta(minutes=round_ + 1)
            try:
                service.advance(key, trigger, actor=name, now=now, note=f"{name} round {round_}")
                outcomes.append(f"won from v{read[-1]}")
            except ChangedMeanwhile:
                outcomes.append(f"lost from v{read[-1]}")
    except BaseException as exc:  # noqa: BLE001 - reported to the test, which fails on it
        barrier.abort()
        outcomes.append(f"error: {type(exc).__name__}: {exc}")
    finally:
        db.dispose()
        results.put((name, outcomes))
