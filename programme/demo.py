"""A realistic portfolio for newcomers: the 2015 cohort completed, the 2016 cohort under way.

Real dong names come from the list of Seoul's administrative dongs of 2016 (shipped as package data,
``programme/data/seoul-dongs-2016.csv``); only the 18 districts of the programme are used. Which dongs were
in which cohort is not published, so the draw is seeded and reproducible, keeping the three 2015
members known from the press (성동구 마장동, 성북구 월곡1동, 도봉구 방학3동).

Every history is produced by firing the workflow's own transitions, so it is valid by construction,
and stops at the as-of date: the portfolio looks as it did on that day.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from engine import project as proj
from engine.catalog import Catalog
from engine.definition import Workflow
from engine.project import Event, Project

DEMO_ACTOR_SUFFIX = "demo"
COHORT_SIZES = {2015: 79, 2016: 204}
KNOWN_2015 = {("성동구", "마장동"), ("성북구", "월곡1동"), ("도봉구", "방학3동")}
DEFAULT_AS_OF = dt.date(2016, 5, 20)
_COURSE = ("survey", "agreement", "design_review", "detailed_design", "tender", "construction")

_SURNAMES = "김이박최정강조윤장임한오서신권황안송류홍"
_GIVEN = ["민준", "서연", "지훈", "수아", "우진", "하은", "현우", "지민", "예준", "서윤", "도윤", "지아"]


@dataclass(frozen=True)
class Dong:
    gu: str
    dong: str
    code: str


def read_dongs(data: bytes) -> list[Dong]:
    """The dongs of the programme's 18 districts from ``seoul-dongs-2016.csv``."""
    reader = csv.DictReader(io.StringIO(data.decode("utf-8-sig")))
    return [
        Dong(row["gu"], row["dong_common"], row["dong_code"])
        for row in reader
        if row.get("in_18_gu_2016", "").strip() == "1"
    ]


def demo_key(year: int, gu: str, dong: str) -> str:
    return f"{year}-{gu}-{dong}"


class History:
    """Fires transitions on one project, keeping the project and its events in step (the demo and
    the benchmark build their histories with the engine's own machine this way)."""

    def __init__(self, catalog: Catalog, workflow: Workflow, project: Project, created: Event) -> None:
        self.machine = catalog.machine(workflow)
        self.project = project
        self.events = [created]

    def fire(self, trigger: str, at: dt.datetime, actor: str, note: str | None = None) -> None:
        p = self.project
        step = self.machine.fire(p.key, p.state, trigger, p.facts, p.previous_state, note)
        self.project, event = proj.apply_step(p, step, actor=actor, at=at, now=at, note=note)
        self.events.append(event)

    def fact(self, name: str, value: int, at: dt.datetime, actor: str) -> None:
        self.project, event = proj.set_fact(self.project, name, value, actor=actor, now=at)
        self.events.append(event)


def build(
    catalog: Catalog,
    dongs: list[Dong],
    *,
    as_of: dt.date = DEFAULT_AS_OF,
    tz: ZoneInfo = ZoneInfo("Asia/Seoul"),
    seed: int = 2016,
) -> list[tuple[Project, list[Event]]]:
    workflow = catalog.latest("space-improvement")
    rng = random.Random(seed)
    pool = sorted(dongs, key=lambda d: d.code)
    known = [d for d in pool if (d.gu, d.dong) in KNOWN_2015]
    rest = [d for d in pool if (d.gu, d.dong) not in KNOWN_2015]
    rng.shuffle(rest)
    need_2015 = COHORT_SIZES[2015] - len(known)
    cohorts = {2015: known + rest[:need_2015], 2016: rest[need_2015 : need_2015 + COHORT_SIZES[2016]]}
    out: list[tuple[Project, list[Event]]] = []
    for year, members in cohorts.items():
        for index, dong in enumerate(sorted(members, key=lambda d: (d.gu, d.dong))):
            start = dt.date(year, 1, 4) + dt.timedelta(days=rng.randint(0, 10))
            if start > as_of:
                continue
            history = _simulate(catalog, workflow, dong, year, start, as_of, tz, rng, index)
            out.append((history.project, history.events))
    return out


def _simulate(
    catalog: Catalog,
    workflow: Workflow,
    dong: Dong,
    year: int,
    start: dt.date,
    as_of: dt.date,
    tz: ZoneInfo,
    rng: random.Random,
    index: int,
) -> History:
    actor = f"{_SURNAMES[hash_name(dong.gu) % len(_SURNAMES)]}{_GIVEN[hash_name(dong.gu) % len(_GIVEN)]} ({dong.gu})"

    expected = {s.id: s.expected_days or 0 for s in workflow.states}
    target = workflow.default_target(year)

    def moment(day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(9 + rng.randint(0, 8), rng.choice((0, 15, 30, 45))), tz).astimezone(
            dt.timezone.utc
        )

    roll = rng.random()
    past = year < as_of.year or as_of >= target
    if past:
        # A past cohort: the report says all finished on schedule, opening on 1 July; plan back
        # from that day so the observed durations stay those of a normal year.
        pace = rng.uniform(0.85, 1.0)
        course = sum(expected[s] for s in _COURSE)
        start = target - dt.timedelta(days=round(course * pace) + rng.randint(0, 6))
    elif roll < 0.72:
        pace = rng.uniform(0.9, 1.0)
    elif roll < 0.9:
        pace = rng.uniform(1.05, 1.2)
    else:
        pace = rng.uniform(1.3, 1.6)
    project, created = proj.new_project(
        workflow,
        key=demo_key(year, dong.gu, dong.dong),
        gu=dong.gu,
        dong=dong.dong,
        year=year,
        target=None,
        actor=actor,
        now=moment(start),
    )
    h = History(catalog, workflow, project, created)
    day = start
    meetings = 0

    def advance(days: float) -> dt.date:
        return day + dt.timedelta(days=max(1, round(days * pace + rng.uniform(-2, 2))))

    def due(day_: dt.date) -> bool:
        return day_ <= as_of

    # Resident meetings during the survey: at least one before the agreement (the guard).
    window = max(1, int(expected["survey"] * pace * 0.6))
    for offset in sorted(rng.randint(1, window) for _ in range(rng.randint(1, 3))):
        meet = day + dt.timedelta(days=offset)
        if not due(meet):
            return h
        meetings += 1
        h.fact("resident_meetings", meetings, moment(meet), actor)
    plan: list[tuple[str, str]] = [
        ("agree", "survey"),
        ("present_design", "agreement"),
        ("approve_design", "design_review"),
        ("announce_tender", "detailed_design"),
        ("award", "tender"),
        ("complete", "construction"),
    ]
    cancel_this = year == as_of.year and index == 57
    hold_this = year == as_of.year and index in (23, 131)
    for trigger, state in plan:
        nxt = advance(expected[state])
        if trigger == "approve_design" and rng.random() < 0.15:
            ask = day + dt.timedelta(days=max(1, (nxt - day).days // 2))
            if not due(ask):
                return h
            h.fire("request_revision", moment(ask), actor, "주민 의견 반영 필요 (공유공간 동선 재검토)")
            back = ask + dt.timedelta(days=round(expected["design_revision"] * pace))
            if not due(back):
                return h
            h.fire("resubmit_design", moment(back), actor)
            day = back
            nxt = advance(expected[state] * 0.5)
        if trigger == "award" and rng.random() < 0.1:
            fail = day + dt.timedelta(days=rng.randint(8, 12))
            if not due(fail):
                return h
            h.fire("tender_failed", moment(fail), actor, "유효 입찰자 1인 미만으로 유찰, 재공고")
            nxt = fail + dt.timedelta(days=rng.randint(8, 14))
        if trigger == "complete" and past:
            # Centres opened on 1 July (준공 7.1); a few a little later in July.
            nxt = max(nxt, target) if rng.random() < 0.9 else target + dt.timedelta(days=rng.randint(3, 25))
        elif trigger == "complete":
            # Works finishing early still hand over in the last weeks before the opening.
            nxt = max(nxt, target - dt.timedelta(days=rng.randint(3, 14)))
        if cancel_this and trigger == "present_design":
            cancel_day = day + dt.timedelta(days=5)
            if due(cancel_day):
                h.fire("cancel", moment(cancel_day), actor, "청사 신축 결정으로 공간개선 대상에서 제외")
            return h
        if hold_this and trigger == "announce_tender":
            hold_day = day + dt.timedelta(days=7)
            if not due(hold_day):
                return h
            h.fire("hold", moment(hold_day), actor, "예산 재배정 대기 (추경 편성 후 재개)")
            resume_day = hold_day + dt.timedelta(days=40 if index == 23 else 400)
            if not due(resume_day):
                return h
            h.fire("resume", moment(resume_day), actor, "추경 확정")
            nxt = resume_day + dt.timedelta(days=round(expected[state] * 0.5))
        if not due(nxt):
            return h
        h.fire(trigger, moment(nxt), actor)
        day = nxt
        if trigger == "present_design":
            extra = day + dt.timedelta(days=rng.randint(2, 12))
            if due(extra):
                meetings += rng.randint(1, 3)
                h.fact("resident_meetings", meetings, moment(extra), actor)
        if trigger == "award" and rng.random() < 0.7:
            extra = day + dt.timedelta(days=rng.randint(5, 20))
            if due(extra):
                meetings += 1
                h.fact("resident_meetings", meetings, moment(extra), actor)
    return h


def hash_name(text: str) -> int:
    """A stable small hash (Python's ``hash`` of str changes between runs)."""
    return sum(ord(ch) * (i + 1) for i, ch in enumerate(text))


def keys(items: Iterable[tuple[Project, list[Event]]]) -> list[str]:
    return [p.key for p, _ in items]
