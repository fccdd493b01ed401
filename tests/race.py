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


def bulk_advance(url: str, keys: list[str], trigger: str, start: dt.datetime, barrier: Any, results: Any,
                 name: str, partial: bool) -> None:
    """A bulk move of ``keys`` (engine/bulk.py): it reads every project, then waits at the barrier
    before its one write transaction, so the single moves read the same versions."""
    from engine.catalog import Catalog
    from engine.errors import DongflowError
    from engine.service import Service
    from storage.db import Database
    from storage.repository import SqlProjectStore
    from workflows import SHIPPED_DIR

    db = Database(url)
    store = SqlProjectStore(db)

    class GatedStore:
        def __getattr__(self, attr: str) -> Any:
            return getattr(store, attr)

        def save_batch(self, items: Any, **options: Any) -> Any:
            barrier.wait(timeout=60)
            return store.save_batch(items, **options)

    service = Service(GatedStore(), Catalog.from_dirs([SHIPPED_DIR]))
    outcome: list[str] = []
    try:
        result = service.bulk_advance(trigger, actor=name, now=start, keys=keys, note="bulk", partial=partial)
        outcome = [f"moved {m.key}" for m in result.moves] + [f"refused {r.key}" for r in result.refusals]
    except DongflowError as exc:
        outcome = [f"failed: {type(exc).__name__}"]
    except BaseException as exc:  # noqa: BLE001 - reported to the test, which fails on it
        barrier.abort()
        outcome = [f"error: {type(exc).__name__}: {exc}"]
    finally:
        db.dispose()
        results.put((name, outcome))


def single_moves(url: str, keys: list[str], trigger: str, start: dt.datetime, barrier: Any, results: Any,
                 name: str) -> None:
    """One coordinator moving ``keys`` one by one; the first write waits for the bulk move's."""
    from engine.catalog import Catalog
    from engine.errors import ChangedMeanwhile, TransitionRefused
    from engine.service import Service
    from storage.db import Database
    from storage.repository import SqlProjectStore
    from workflows import SHIPPED_DIR

    db = Database(url)
    store = SqlProjectStore(db)
    gate = [True]

    class GatedStore:
        def __getattr__(self, attr: str) -> Any:
            return getattr(store, attr)

        def save(self, project: Any, event: Any) -> None:
            if gate:
                gate.clear()
                barrier.wait(timeout=60)
            store.save(project, event)

    service = Service(GatedStore(), Catalog.from_dirs([SHIPPED_DIR]))
    outcome: list[str] = []
    try:
        for key in keys:
            try:
                service.advance(key, trigger, actor=name, now=start, note="single")
                outcome.append(f"moved {key}")
            except (ChangedMeanwhile, TransitionRefused):
                outcome.append(f"lost {key}")
    except BaseException as exc:  # noqa: BLE001 - reported to the test, which fails on it
        barrier.abort()
        outcome.append(f"error: {type(exc).__name__}: {exc}")
    finally:
        db.dispose()
        results.put((name, outcome))
