"""Pausing Python's cyclic garbage collector around work that builds many acyclic objects.

An import of 100,000 rows, or a report over every open project, makes a few hundred thousand small
objects (projects, events, dicts, rows), none in a reference cycle, and keeps them until the end. The
cyclic collector is triggered by allocations, not by garbage, so it traverses that growing heap
again and again for nothing: a fifth of a 100k import's CPU, measured. Reference counting still
frees everything while it is paused; the collector is restored afterwards exactly as it was, and
collects any cycle made meanwhile at its next run. The nightly check's scan (engine/monitor.py,
storage/check_marks.py) pauses it here too.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
