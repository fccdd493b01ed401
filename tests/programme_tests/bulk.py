"""Fill a database with many synthetic projects quickly (Core bulk inserts), for the timing test."""

from __future__ import annotations

import datetime as dt
import random

from sqlalchemy import insert

from programme.participation import TYPES

COURSE = ("survey", "agreement", "design_review", "detailed_design", "tender", "construction", "completed")
DAYS = (14, 14, 21, 35, 21, 55)


def fill(db, n: int, seed: int = 5, years: int = 10) -> None:  # type: ignore[no-untyped-def]
    from programme.repository import GB, PART, PB, PQ, PY
    from storage.repository import P

    rng = random.Random(seed)
    utc = dt.timezone.utc
    now = dt.datetime(2024, 5, 20, tzinfo=utc)
    gus = [f"{i:02d}구" for i in range(25)]
    projects, budgets, part = [], [], []
    for i in range(n):
        year = 2024 - i % years
        start = dt.datetime(year, 1, 5, 9, tzinfo=utc) + dt.timedelta(days=rng.randint(0, 20))
        reached, t = {}, start
        stop = rng.randint(0, len(COURSE) - 1) if year >= 2024 else len(COURSE) - 1
        for index, state in enumerate(COURSE[: stop + 1]):
            reached[state] = t.isoformat()
            if index < len(DAYS):
                t += dt.timedelta(days=round(DAYS[index] * rng.uniform(0.8, 1.5)))
        state = COURSE[stop]
        entered = dt.datetime.fromisoformat(reached[state])
        projects.append(
            {
                "id": i + 1,
                "key": f"{year}-{i:06d}",
                "gu": gus[i % 25],
                "dong": f"동{i:06d}",
                "year": year,
                "workflow_id": "space-improvement",
                "workflow_version": 1,
                "state": state,
                "previous_state": None,
                "target_date": dt.date(year, 7, 1),
                "entered_at": entered,
                "facts": {"resident_meetings": 3},
                "reached": reached,
                "created_at": start,
                "version": 1 + stop,
            }
        )
        budgets.append(
            {
                "project_id": i + 1,
                "year": year,
                "allocated": 50_000_000,
                "executed": 40_000_000,
                "note": None,
                "actor": "bulk",
                "recorded_at": now,
            }
        )
        for kind in ("resident_meeting", "briefing"):
            part.append(
                {
                    "project_id": i + 1,
                    "kind": kind,
                    "held_on": start.date(),
                    "times": 3 if kind == "resident_meeting" else 1,
                    "note": None,
                    "actor": "bulk",
                    "recorded_at": now,
                }
            )
    part += [
        {
            "project_id": None,
            "kind": k,
            "held_on": dt.date(2016, 3, 2),
            "times": 5,
            "note": None,
            "actor": "bulk",
            "recorded_at": now,
        }
        for k in TYPES
    ]
    with db.write() as conn:
        for start in range(0, n, 5000):
            conn.execute(insert(P), projects[start : start + 5000])
            conn.execute(insert(PB), budgets[start : start + 5000])
        for start in range(0, len(part), 5000):
            conn.execute(insert(PART), part[start : start + 5000])
        conn.execute(
            insert(GB),
            [
                {
                    "item": "준비",
                    "year": 2014,
                    "allocated": 250_000_000,
                    "executed": 250_000_000,
                    "note": None,
                    "actor": "bulk",
                    "recorded_at": now,
                }
            ],
        )
        conn.execute(
            insert(PQ),
            [
                {"year": y, "quarter": 3, "completions": n // 10, "actor": "bulk", "recorded_at": now}
                for y in range(2015, 2025)
            ],
        )
        conn.execute(
            insert(PY),
            [{"year": y, "budget": 5 * 10**12, "actor": "bulk", "recorded_at": now} for y in range(2015, 2025)],
        )
