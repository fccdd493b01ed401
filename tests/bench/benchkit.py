"""What the deadline-rule tests over a generated portfolio share: the catalog of both benchmark
workflows and one planner per workflow, on declared or (shifted) observed durations."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.generate import TZ  # noqa: E402
from engine.catalog import Catalog  # noqa: E402
from engine.deadlines import DeadlinePlanner, Durations, declared_durations  # noqa: E402
from workflows import SHIPPED_DIR  # noqa: E402


def bench_catalog() -> Catalog:
    return Catalog.from_dirs([SHIPPED_DIR, ROOT / "bench" / "workflows"])


def planners(catalog: Catalog, observed: bool, shift: int = 3) -> dict[str, DeadlinePlanner]:
    """One planner per workflow; ``observed``: the first three states observed ``shift`` days longer
    than declared (nine samples), as a portfolio with completed projects has them."""
    out = {}
    for wf in catalog.all():
        durations = None
        if observed:
            declared = declared_durations(wf).days
            seen = {s: d + shift for s, d in list(declared.items())[:3]}
            durations = Durations({**declared, **seen}, seen, 9)
        out[wf.id] = DeadlinePlanner(wf, TZ, durations)
    return out
