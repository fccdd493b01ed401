"""Benchmark portfolios: N projects spread over workflows, districts, cohort years and stages.

Every history is made by the engine itself: each transition is fired on the workflow's machine
(``WorkflowMachine.fire``, guards included) and turned into the project and its event by
``project.apply_step``; facts go through ``project.set_fact``. The rows are written through
``Service.add_with_history``, which replays every history and refuses one that does not lead to its
project's state. So a generated database is one dongflow could have produced.

The draw is seeded: the same size and seed give the same portfolio. Districts and dongs are Seoul's
25 구 and 424 동 of 2016 (``programme/data/seoul-dongs-2016.csv``); cohorts run from 2016 to the as-of
year; about a quarter of the projects are finished, a few cancelled or on hold, and the rest stand
in every stage of their course, on time or stuck (so the check finds due-soon, overdue, escalated
and at-risk projects alike).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import random
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from engine import project as proj
from engine.catalog import Catalog
from engine.definition import Workflow
from programme.demo import History
from engine.project import Event, Project

TZ = ZoneInfo("Asia/Seoul")
AS_OF = dt.date(2025, 5, 20)
"""The day the portfolio stands at (no event is later); the check runs as of this day."""
NOW = dt.datetime(2025, 5, 20, 18, 0, tzinfo=TZ).astimezone(dt.timezone.utc)
"""The clock the benchmark's writes (advances, imports) pass in: the evening of the as-of day."""
YEARS = tuple(range(2016, AS_OF.year + 1))
SIZES = {"1k": 1_000, "10k": 10_000, "100k": 100_000}
WORKFLOW_SHARE = {"space-improvement": 0.8, "small-repair": 0.2}
CHUNK = 5_000
"""Projects generated and written per transaction (keeps the generator's memory flat)."""


@dataclass(frozen=True)
class Step:
    trigger: str
    facts: tuple[tuple[str, int, int], ...] = ()
    """Facts to record before firing: (name, lowest, highest) of the final value."""
    loop: tuple[str, ...] = ()
    """Triggers that may first run as a detour (revision sent back, tender failed)."""


COURSES: dict[str, tuple[Step, ...]] = {
    "space-improvement": (
        Step("agree", facts=(("resident_meetings", 1, 5),)),
        Step("present_design"),
        Step("approve_design", loop=("request_revision", "resubmit_design")),
        Step("announce_tender"),
        Step("award", loop=("tender_failed",)),
        Step("complete"),
    ),
    "small-repair": (
        Step("accept"),
        Step("contract", facts=(("quotes", 2, 3),)),
        Step("finish_works"),
        Step("pass_inspection", loop=("reject_works", "finish_works")),
    ),
}
"""The main course of each workflow the generator knows, in order."""

_SURNAMES = "김이박최정강조윤장임한오서신권황안송류홍"
_GIVEN = ("민준", "서연", "지훈", "수아", "우진", "하은", "현우", "지민", "예준", "서윤", "도윤", "지아")


@dataclass(frozen=True)
class Dong:
    gu: str
    dong: str


def seoul_dongs() -> list[Dong]:
    data = files("programme").joinpath("data/seoul-dongs-2016.csv").read_text("utf-8-sig")
    return [Dong(r["gu"], r["dong_common"]) for r in csv.DictReader(data.splitlines())]


def fingerprint(workflow_dirs: list[Path]) -> str:
    """Changes when the generator, a workflow file or the schema changes: a cached database is then
    rebuilt."""
    from storage.db import SCHEMA_REVISION

    h = hashlib.sha256(Path(__file__).read_bytes())
    h.update(SCHEMA_REVISION.encode())
    for folder in workflow_dirs:
        for path in sorted(folder.glob("*.y*ml")):
            h.update(path.read_bytes())
    return h.hexdigest()[:12]


class Generator:
    def __init__(self, catalog: Catalog, seed: int = 2025) -> None:
        self.catalog = catalog
        self.seed = seed
        self.dongs = seoul_dongs()
        self.workflows = {wf_id: catalog.latest(wf_id) for wf_id in COURSES}
        self.expected = {
            wf_id: {s.id: s.expected_days or 7 for s in wf.states} for wf_id, wf in self.workflows.items()
        }

    def projects(self, count: int) -> Iterator[tuple[Project, list[Event]]]:
        rng = random.Random(self.seed)
        taken: dict[str, int] = {}
        ids = list(WORKFLOW_SHARE)
        weights = [WORKFLOW_SHARE[i] for i in ids]
        for _ in range(count):
            wf_id = rng.choices(ids, weights)[0]
            dong = rng.choice(self.dongs)
            year = rng.choice(YEARS)
            base = f"{year}-{dong.gu}-{dong.dong}"
            n = taken[base] = taken.get(base, 0) + 1
            yield self._one(rng, self.workflows[wf_id], f"{base}-{n}", dong, year)

    def _one(self, rng: random.Random, wf: Workflow, key: str, dong: Dong, year: int) -> tuple[Project, list[Event]]:
        course = COURSES[wf.id]
        expected = self.expected[wf.id]
        seed_name = sum(ord(c) * (i + 1) for i, c in enumerate(dong.gu))
        actor = f"{_SURNAMES[seed_name % len(_SURNAMES)]}{_GIVEN[seed_name % len(_GIVEN)]} ({dong.gu})"

        # Where the project stands: finished, cancelled, on hold, or in a stage of its course.
        roll = rng.random()
        steps_done = rng.randint(0, len(course) - 1)
        outcome = "open"
        if roll < 0.25:
            steps_done, outcome = len(course), "done"
        elif roll < 0.28:
            outcome = "cancel"
        elif roll < 0.32:
            outcome = "hold"
        detour_stop = outcome == "open" and rng.random() < 0.08  # stopped inside a detour (e.g. design_revision)
        episode = outcome in ("open", "done") and rng.random() < 0.05  # held and resumed on the way

        # Plan the events first (days after the start), then squeeze them before the as-of day.
        pace = rng.choice((rng.uniform(0.8, 1.0), rng.uniform(0.8, 1.0), rng.uniform(1.05, 1.6)))
        plan: list[tuple[float, str, object]] = []  # (day offset, kind, payload)
        day = 0.0
        state = wf.initial.id
        for index in range(min(steps_done + (1 if detour_stop else 0), len(course))):
            step = course[index]
            span = expected[state] * pace + rng.uniform(-2, 2)
            for name, low, high in step.facts:
                value = rng.randint(low, high)
                for v in range(1, value + 1):
                    plan.append((day + span * v / (value + 1), "fact", (name, v)))
            if episode and index == len(course) // 2:
                plan.append((day + span * 0.3, "fire", ("hold", "예산 재배정 대기")))
                day += 20 + rng.uniform(0, 40)
                plan.append((day + span * 0.3, "fire", ("resume", "추경 확정")))
            stop_here = detour_stop and index == steps_done
            if step.loop and (stop_here or rng.random() < 0.15):
                first = step.loop[0]
                plan.append((day + span * 0.6, "fire", (first, "보완 필요")))
                if stop_here:
                    break
                for k, trigger in enumerate(step.loop[1:], start=1):
                    plan.append((day + span * (0.6 + 0.2 * k), "fire", (trigger, None)))
                day += span * 0.5
            if stop_here:
                break
            day += max(1.0, span)
            plan.append((day, "fire", (step.trigger, None)))
            state = self._after(wf, state, step.trigger)
        if outcome in ("hold", "cancel"):
            trigger = "hold" if outcome == "hold" else "cancel"
            day += rng.uniform(3, 30)
            plan.append((day, "fire", (trigger, "예산 재배정 대기" if trigger == "hold" else "청사 신축으로 대상 제외")))

        start = dt.datetime.combine(dt.date(year, 1, 4) + dt.timedelta(days=rng.randint(0, 10)), dt.time(9), TZ)
        limit = dt.datetime.combine(AS_OF, dt.time(9), TZ)
        span_days = max((d for d, _, _ in plan), default=0.0)
        if start + dt.timedelta(days=span_days) > limit:
            scale = max(0.0, (limit - start).total_seconds() / 86400) / span_days
        else:
            scale = 1.0
        project, created = proj.new_project(
            wf, key=key, gu=dong.gu, dong=dong.dong, year=year, target=None, actor=actor,
            now=start.astimezone(dt.timezone.utc),
        )
        h = History(self.catalog, wf, project, created)
        last = start
        for offset, kind, payload in sorted(plan, key=lambda item: item[0]):
            # Office hours: 09:00-17:00 of the planned day.
            at = start + dt.timedelta(days=int(offset * scale), minutes=rng.randint(0, 8 * 60))
            at = max(at, last + dt.timedelta(minutes=1))
            last = at
            at_utc = at.astimezone(dt.timezone.utc)
            if kind == "fact":
                name, value = payload  # type: ignore[misc]
                h.fact(name, value, at_utc, actor)
            else:
                trigger, note = payload  # type: ignore[misc]
                h.fire(trigger, at_utc, actor, note)
        return h.project, h.events

    @staticmethod
    def _after(wf: Workflow, state: str, trigger: str) -> str:
        for t in wf.transitions:
            if t.trigger == trigger and state in t.sources:
                return t.dest
        raise AssertionError(f"{wf.id}: no {trigger} from {state}")


def build_database(db_url: str, catalog: Catalog, count: int, seed: int = 2025) -> dict[str, int]:
    """Create the schema and write ``count`` generated projects; returns counts by state."""
    from engine.service import Service
    from storage.db import Database
    from storage.repository import SqlProjectStore
    from storage.schema import upgrade

    db = Database(db_url)
    upgrade(db)
    service = Service(SqlProjectStore(db), catalog)
    states: dict[str, int] = {}
    chunk: list[tuple[Project, list[Event]]] = []
    for item in Generator(catalog, seed).projects(count):
        chunk.append(item)
        states[item[0].state] = states.get(item[0].state, 0) + 1
        if len(chunk) >= CHUNK:
            service.add_with_history(chunk)
            chunk = []
    if chunk:
        service.add_with_history(chunk)
    add_programme_data(db, seed)
    if db.is_sqlite:
        with db.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    db.dispose()
    return states


def add_programme_data(db: Any, seed: int) -> None:
    """What the report reads besides projects: a budget line per project (its cohort year), its
    resident meetings and a briefing as participation, programme-wide lines and events, the plan.
    (The report's figure used to be a timed unit test over such a database; it lives here now.)"""
    from sqlalchemy import insert, select

    from programme.repository import GB, PART, PB, PQ, PY
    from storage.repository import P

    rng = random.Random(seed + 1)
    now = NOW
    budgets, part = [], []
    with db.write() as conn:
        rows = conn.execute(select(P.c.id, P.c.year, P.c.facts, P.c.created_at)).all()
        for pid, year, facts, created in rows:
            allocated = rng.choice((40, 50, 60)) * 1_000_000
            budgets.append({"project_id": pid, "year": year, "allocated": allocated,
                            "executed": int(allocated * rng.uniform(0.3, 1.0)), "note": None, "actor": "bench",
                            "recorded_at": now})
            meetings = int((facts or {}).get("resident_meetings") or 0)
            if meetings:
                part.append({"project_id": pid, "kind": "resident_meeting", "held_on": created.date(),
                             "times": meetings, "note": None, "actor": "bench", "recorded_at": now})
            part.append({"project_id": pid, "kind": "briefing", "held_on": created.date(), "times": 1,
                         "note": None, "actor": "bench", "recorded_at": now})
        for start in range(0, len(budgets), 5000):
            conn.execute(insert(PB), budgets[start : start + 5000])
        for start in range(0, len(part), 5000):
            conn.execute(insert(PART), part[start : start + 5000])
        conn.execute(insert(PART), [{"project_id": None, "kind": "press", "held_on": dt.date(y, 3, 2), "times": 5,
                                     "note": None, "actor": "bench", "recorded_at": now} for y in YEARS])
        conn.execute(insert(GB), [{"item": "준비", "year": y, "allocated": 250_000_000, "executed": 200_000_000,
                                   "note": None, "actor": "bench", "recorded_at": now} for y in YEARS])
        per_year = max(1, len(rows) // len(YEARS))
        conn.execute(insert(PQ), [{"year": y, "quarter": q, "completions": per_year // 4, "actor": "bench",
                                   "recorded_at": now} for y in YEARS for q in (1, 2, 3, 4)])
        conn.execute(insert(PY), [{"year": y, "budget": per_year * 50_000_000, "actor": "bench", "recorded_at": now}
                                  for y in YEARS])


def write_import_csv(path: Path, count: int, seed: int = 7) -> None:
    """``count`` new projects as a coordinator's CSV (key,gu,dong,year,workflow,target)."""
    rng = random.Random(seed)
    dongs = seoul_dongs()
    with path.open("w", encoding="utf-8", newline="") as out:
        w = csv.writer(out)
        w.writerow(["key", "gu", "dong", "year", "workflow", "target"])
        for i in range(count):
            d = rng.choice(dongs)
            year = rng.choice((2026, 2027))
            wf = "small-repair" if rng.random() < 0.2 else ""
            target = f"{year}-06-30" if rng.random() < 0.1 else ""
            w.writerow([f"{year}-{d.gu}-{d.dong}-import{i + 1}", d.gu, d.dong, year, wf, target])
