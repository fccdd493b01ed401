"""Programme data beside the projects: money, citizen participation, people, and the plan.

The programme office reports dongs completed per quarter against its plan, money planned against
money spent, and how often citizens took part. This module owns those records as plain values, the
validation every one of them passes at the edge (one command or a whole CSV file, all rows or none),
and the use cases that write them through :class:`ProgrammeStore`.

Money is kept in whole won (reports show millions, 백만원, like the programme report). A budget line
belongs to a project (a dong's renovation in one year) or to the programme as a whole: the report's
2014 money (250 million, spent before any renovation) is such a programme-wide line, named by an item.

Participation events are facts the workflow's guards read: a workflow fact declared with
``counts_participation: TYPE`` is raised by each event of TYPE, in the same transaction as the event,
through the project's normal versioned update and history event. Nothing here reads the clock.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import BinaryIO, Protocol

from engine import project as proj
from engine.backdating import check_at
from engine.catalog import Catalog
from engine.csv_input import read_records
from engine.errors import (ChangedMeanwhile, DongflowError, InvalidInput, InvalidInputs, NotFound, ProjectNotFound,
                           located)
from programme.participation import TYPES, participation_type, role
from engine.project import Event, Project
from engine.values import ascii_digits, ascii_integer, clean_note, clean_text, parse_date, parse_year

WON = "won"
MILLION = "million"
UNITS = {WON: 1, MILLION: 1_000_000}
MAX_WON = 10**15
"""A thousand trillion won: anything larger is a typing error."""
MAX_TIMES = 100_000
MAX_REPORTED = 200


# ------------------------------------------------------------------------------------------------
# Values


@dataclass(frozen=True)
class BudgetLine:
    """Money for one year: of one project (``key``) or programme-wide (``item``)."""

    year: int
    allocated: int
    executed: int
    key: str | None = None
    item: str | None = None
    note: str | None = None

    @property
    def scope(self) -> str:
        return self.key if self.key is not None else f"programme item {self.item}"


@dataclass(frozen=True)
class Participation:
    """Citizens took part ``times`` times on ``held_on``, in one project or programme-wide."""

    kind: str
    held_on: dt.date
    times: int = 1
    key: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class Person:
    key: str
    role: str
    name: str
    contact: str | None = None


@dataclass(frozen=True)
class PlanQuarter:
    year: int
    quarter: int
    completions: int


@dataclass(frozen=True)
class PlanYear:
    year: int
    budget: int
    """Planned investment for the year, in won."""


@dataclass(frozen=True)
class Plan:
    quarters: tuple[PlanQuarter, ...]
    years: tuple[PlanYear, ...]


# ------------------------------------------------------------------------------------------------
# Parsing at the edge

_AMOUNT_CLEAN = re.compile(r"[,_\s]|원$")


def parse_amount(text: object, field: str, unit: str = WON) -> int:
    """A sum of money in ``unit`` (won, or millions of won) as whole won; commas allowed."""
    if unit not in UNITS:
        raise InvalidInput(f"unknown unit {unit!r} (won or million)", field="unit")
    raw = ascii_digits(str(text).strip() if text is not None else "", field)  # Decimal() reads '３,000' as 3000
    cleaned = _AMOUNT_CLEAN.sub("", raw)
    try:
        value = Decimal(cleaned) * UNITS[unit]
    except InvalidOperation:
        raise InvalidInput(f"{raw!r} is not an amount of money", field=field) from None
    if not value.is_finite() or value != value.to_integral_value():
        raise InvalidInput(f"{raw!r} {unit} is not a whole number of won", field=field)
    if value < 0:
        raise InvalidInput(f"{raw} must not be negative", field=field)
    if value > MAX_WON:
        raise InvalidInput(f"{raw} {unit} is implausibly large", field=field)
    return int(value)


def parse_count(text: object, field: str, *, minimum: int = 0, maximum: int = MAX_TIMES) -> int:
    raw = ascii_digits(str(text).strip() if text is not None else "", field)
    try:
        value = ascii_integer(raw.replace(",", ""))
    except ValueError:
        raise InvalidInput(f"{raw!r} is not a whole number (write it with the digits 0-9)", field=field) from None
    if not minimum <= value <= maximum:
        raise InvalidInput(f"{value} is outside {minimum}-{maximum}", field=field)
    return value


def parse_quarter(text: object, field: str = "quarter") -> int:
    raw = str(text).strip().upper().removeprefix("Q").removesuffix("분기") if text is not None else ""
    return parse_count(raw, field, minimum=1, maximum=4)


def budget_line(
    *,
    key: str | None,
    item: str | None,
    year: object,
    allocated: object,
    executed: object,
    note: str | None = None,
    unit: str = WON,
) -> BudgetLine:
    key = clean_text(key, "key", required=False) or None
    item = clean_text(item, "item", max_len=100, required=False) or None
    if (key is None) == (item is None):
        raise InvalidInput(
            "give a project KEY or a programme-wide item (--programme ITEM), not both or neither", field="key"
        )
    line = BudgetLine(
        year=parse_year(year),
        allocated=parse_amount(allocated, "allocated", unit),
        executed=parse_amount(executed, "executed", unit),
        key=key,
        item=item,
        note=clean_note(note),
    )
    if line.executed > line.allocated:
        raise InvalidInput(
            f"executed {line.executed:,} won is more than allocated {line.allocated:,} won", field="executed"
        )
    return line


def participation(
    *,
    key: str | None,
    kind: str,
    held_on: object,
    times: object = 1,
    note: str | None = None,
    today: dt.date | None = None,
) -> Participation:
    key = clean_text(key, "key", required=False) or None
    day = parse_date(held_on, "date")
    if today is not None and day > today:
        raise InvalidInput(f"{day} is in the future (record what was held)", field="date")
    return Participation(
        kind=participation_type(kind),
        held_on=day,
        times=parse_count(1 if times in (None, "") else times, "count", minimum=1),
        key=key,
        note=clean_note(note),
    )


def person(*, key: str, role_name: str, name: str, contact: str | None = None) -> Person:
    return Person(
        key=clean_text(key, "key"),
        role=role(role_name),
        name=clean_text(name, "name", max_len=100),
        contact=clean_text(contact, "contact", max_len=200, required=False) or None,
    )


# ------------------------------------------------------------------------------------------------
# The store the use cases need (storage/ implements it)


class ProgrammeStore(Protocol):
    def projects(self, keys: Sequence[str]) -> dict[str, Project]:
        """The projects with these keys that exist."""

    def put_budgets(
        self, lines: Sequence[BudgetLine], actor: str, now: dt.datetime, updates: Sequence[tuple[Project, Event]] = ()
    ) -> None:
        """Insert or replace each (project or item, year) line, all in one transaction."""

    def budgets(self, key: str | None = None, year: int | None = None) -> list[BudgetLine]:
        """Stored lines, programme-wide first, then by project key and year."""

    def add_participation(
        self,
        entries: Sequence[Participation],
        updates: Sequence[tuple[Project, Event]],
        actor: str,
        now: dt.datetime,
    ) -> None:
        """Insert the events and apply the projects' fact updates (versioned) in ONE transaction."""

    def participation(self, key: str | None = None) -> list[Participation]:
        """Recorded events of one project, or of the whole programme, by date."""

    def put_people(
        self, people: Sequence[Person], actor: str, now: dt.datetime, updates: Sequence[tuple[Project, Event]] = ()
    ) -> None:
        """Add people (AlreadyExists when the same name already has the role on the project), with the
        projects' history events, in one transaction."""

    def remove_person(self, person: Person, updates: Sequence[tuple[Project, Event]] = ()) -> bool:
        """Remove one person from a project (with its history event); False if there was none."""

    def people(self, key: str | None = None, gu: str | None = None) -> list[tuple[str, Person]]:
        """(gu, person) for the projects asked for, by key and role."""

    def put_plan(
        self, quarters: Sequence[PlanQuarter], years: Sequence[PlanYear], actor: str, now: dt.datetime
    ) -> None:
        """Insert or replace plan figures, all in one transaction."""

    def plan(self) -> Plan:
        """The whole programme plan."""


# ------------------------------------------------------------------------------------------------
# Use cases

BUDGET_COLUMNS = ("key", "item", "year", "allocated", "executed", "note")
BUDGET_ALIASES = {
    "key": ("키", "사업키", "project"),
    "item": ("항목", "사업 전반 항목", "programme", "program"),
    "year": ("연도", "년도", "회계연도"),
    "allocated": ("배정", "배정액", "예산", "예산액", "계획", "planned"),
    "executed": ("집행", "집행액", "spent"),
    "note": ("비고", "메모"),
}
PARTICIPATION_COLUMNS = ("key", "type", "date", "count", "note")
PARTICIPATION_ALIASES = {
    "key": ("키", "사업키", "project"),
    "type": ("유형", "구분", "참여유형", "kind"),
    "date": ("일자", "날짜", "개최일", "held_on"),
    "count": ("횟수", "건수", "times"),
    "note": ("비고", "메모"),
}
PEOPLE_COLUMNS = ("key", "role", "name", "contact")
PEOPLE_ALIASES = {
    "key": ("키", "사업키", "project"),
    "role": ("역할", "구분"),
    "name": ("이름", "성명"),
    "contact": ("연락처", "전화", "email"),
}
PLAN_COLUMNS = ("year", "quarter", "completions", "budget")
PLAN_ALIASES = {
    "year": ("연도", "년도"),
    "quarter": ("분기",),
    "completions": ("준공", "준공 계획", "개소수", "동수", "planned"),
    "budget": ("예산", "투자계획", "투자수요", "사업비"),
}


class _Rows:
    """Collects every bad row of a file so all are reported together, nothing written."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[InvalidInput] = []
        self.bad = 0

    def fail(self, exc: DongflowError, line: int, field: str | None = None) -> None:
        self.bad += 1
        if len(self.problems) < MAX_REPORTED:
            self.problems.append(located(exc, file=self.source, line=line, field=field))

    def finish(self, count: int) -> None:
        if not count and not self.bad:
            raise InvalidInput("the file has a header but no rows", file=self.source)
        if self.bad:
            self.problems.sort(key=lambda p: p.line or 0)
            raise InvalidInputs(
                f"{self.bad} bad row{'s' if self.bad > 1 else ''}; nothing was imported",
                self.problems,
                file=self.source,
            )


def _people_events(
    people: Sequence[Person], kind: str, projects: Mapping[str, Project], actor: str, now: dt.datetime,
    note: str | None = None, at: dt.datetime | None = None,
) -> list[tuple[Project, Event]]:
    """One history entry per person added to or removed from a project (versions chained per project),
    effective ``at`` (default now)."""
    out: list[tuple[Project, Event]] = []
    current = dict(projects)
    for p in people:
        data = {"role": p.role, "name": p.name, **({"contact": p.contact} if p.contact else {})}
        updated, event = proj.record(current[p.key], kind, data, actor=actor, now=now, note=note, at=at)
        current[p.key] = updated
        out.append((updated, event))
    return out


def _budget_events(
    lines: Sequence[BudgetLine], projects: Mapping[str, Project], actor: str, now: dt.datetime,
    at: dt.datetime | None = None,
) -> list[tuple[Project, Event]]:
    """One history entry per project budget line set, effective ``at`` (default now)."""
    out: list[tuple[Project, Event]] = []
    current = dict(projects)
    for line in lines:
        if line.key is None:
            continue
        data = {"year": line.year, "allocated": line.allocated, "executed": line.executed}
        updated, event = proj.record(current[line.key], "budget", data, actor=actor, now=now, note=line.note, at=at)
        current[line.key] = updated
        out.append((updated, event))
    return out


def held_at(day: dt.date, tz: dt.tzinfo, project: Project, now: dt.datetime) -> dt.datetime:
    """When a participation event held on ``day`` takes effect: the start of that day (in ``tz``), or
    the project's creation if it was held before the project was entered, never after now."""
    start = dt.datetime.combine(day, dt.time(0), tz).astimezone(dt.timezone.utc)
    return min(max(start, project.created_at or project.entered_at), max(now, project.created_at or now))


class ProgrammeService:
    def __init__(self, store: ProgrammeStore, catalog: Catalog) -> None:
        self.store = store
        self.catalog = catalog

    # -- budget ----------------------------------------------------------------------------
    def set_budget(
        self, line: BudgetLine, *, actor: str, now: dt.datetime, at: dt.datetime | None = None
    ) -> BudgetLine:
        """Set a budget line; a project's is an entry in its history, effective ``at`` (default now).
        A programme-wide line has no history: ``at`` is checked (not in the future) and not kept."""
        actor = clean_text(actor, "actor")
        projects = self.store.projects([line.key]) if line.key is not None else {}
        if line.key is not None and line.key not in projects:
            raise ProjectNotFound(line.key)
        if at is not None:
            check_at(projects.get(line.key or ""), at, now, kind="budget")
        self.store.put_budgets([line], actor, now, _budget_events([line], projects, actor, now, at))
        return line

    def import_budgets(
        self, stream: BinaryIO, source: str, *, actor: str, now: dt.datetime, unit: str = WON,
        at: dt.datetime | None = None,
    ) -> list[BudgetLine]:
        actor = clean_text(actor, "actor")
        rows = _Rows(source)
        parsed: list[tuple[int, BudgetLine]] = []
        seen: dict[tuple[str | None, str | None, int], int] = {}
        for record in read_records(stream, source, BUDGET_COLUMNS, ("year", "allocated", "executed"), BUDGET_ALIASES):
            v = record.values
            try:
                line = budget_line(
                    key=v.get("key"),
                    item=v.get("item"),
                    year=v["year"],
                    allocated=v["allocated"],
                    executed=v["executed"],
                    note=v.get("note") or None,
                    unit=unit,
                )
            except InvalidInput as exc:
                rows.fail(exc, record.line)
                continue
            ident = (line.key, line.item, line.year)
            if ident in seen:
                rows.fail(
                    InvalidInput(f"{line.scope} {line.year} also on line {seen[ident]}", field="key"), record.line
                )
                continue
            seen[ident] = record.line
            parsed.append((record.line, line))
        projects = self._check_keys(rows, [(n, line.key) for n, line in parsed])
        rows.finish(len(parsed))
        lines = [line for _, line in parsed]
        if at is not None:
            for project in projects.values():
                check_at(project, at, now, kind="budget")
            check_at(None, at, now)
        self.store.put_budgets(lines, actor, now, _budget_events(lines, projects, actor, now, at))
        return lines

    def _check_keys(self, rows: _Rows, keyed: Sequence[tuple[int, str | None]]) -> dict[str, Project]:
        keys = sorted({k for _, k in keyed if k is not None})
        found: dict[str, Project] = {}
        for start in range(0, len(keys), 900):
            found.update(self.store.projects(keys[start : start + 900]))
        for line, key in keyed:
            if key is not None and key not in found:
                rows.fail(ProjectNotFound(key), line, field="key")
        return found

    # -- participation ---------------------------------------------------------------------
    def add_participation(
        self, entry: Participation, *, actor: str, now: dt.datetime, at: dt.datetime | None = None,
        tz: dt.tzinfo = dt.timezone.utc, expected_version: int | None = None,
    ) -> Project | None:
        """Record one event; a workflow fact counting its type goes up by its count, effective ``at``
        (default: the start of the day it was held, in ``tz``). ``expected_version``: the version the
        caller saw; ChangedMeanwhile when the project is at another (the store's versioned update then
        refuses a change that lands in between)."""
        actor = clean_text(actor, "actor")
        projects = self.store.projects([entry.key]) if entry.key is not None else {}
        if entry.key is not None and entry.key not in projects:
            raise ProjectNotFound(entry.key)
        if expected_version is not None and entry.key is not None and projects[entry.key].version != expected_version:
            raise ChangedMeanwhile(entry.key)
        if at is not None:
            check_at(projects.get(entry.key or ""), at, now, kind="fact")
            held = dt.datetime.combine(entry.held_on, dt.time(0), tz)
            if at < held:
                raise InvalidInput(f"{at.astimezone(tz):%Y-%m-%d %H:%M} is before the day it was held "
                                   f"({entry.held_on})", field="at")
        updates = self._fact_updates([entry], projects, actor, now, tz=tz, at=at)
        self.store.add_participation([entry], updates, actor, now)
        return updates[-1][0] if updates else projects.get(entry.key or "")

    def import_participation(
        self, stream: BinaryIO, source: str, *, actor: str, now: dt.datetime, today: dt.date,
        tz: dt.tzinfo = dt.timezone.utc,
    ) -> list[Participation]:
        actor = clean_text(actor, "actor")
        rows = _Rows(source)
        parsed: list[tuple[int, Participation]] = []
        for record in read_records(stream, source, PARTICIPATION_COLUMNS, ("type", "date"), PARTICIPATION_ALIASES):
            v = record.values
            try:
                parsed.append(
                    (
                        record.line,
                        participation(
                            key=v.get("key"),
                            kind=v["type"],
                            held_on=v["date"],
                            times=v.get("count"),
                            note=v.get("note") or None,
                            today=today,
                        ),
                    )
                )
            except InvalidInput as exc:
                rows.fail(exc, record.line)
        projects = self._check_keys(rows, [(n, e.key) for n, e in parsed])
        rows.finish(len(parsed))
        entries = [e for _, e in parsed]
        updates = self._fact_updates(entries, projects, actor, now, source=source, tz=tz)
        self.store.add_participation(entries, updates, actor, now)
        return entries

    def _fact_updates(
        self,
        entries: Sequence[Participation],
        projects: Mapping[str, Project],
        actor: str,
        now: dt.datetime,
        source: str | None = None,
        *,
        tz: dt.tzinfo = dt.timezone.utc,
        at: dt.datetime | None = None,
    ) -> list[tuple[Project, Event]]:
        """One fact event per (entry, counted fact), raising the fact by the entry's count, effective
        when it was held (``at``, or the start of its day, not before the project was created): so a
        meeting recorded late still counts from its day, and a transition dated before it does not."""
        updates: list[tuple[Project, Event]] = []
        current = dict(projects)
        for e in entries:
            if e.key is None:
                continue
            p = current[e.key]
            workflow = self.catalog.get(p.workflow_id, p.workflow_version)
            for spec in workflow.facts_counting(e.kind):
                p = current[e.key]
                when = at if at is not None else held_at(e.held_on, tz, p, now)
                old = p.facts.get(spec.name)
                new = (old if isinstance(old, int) and not isinstance(old, bool) else 0) + e.times
                why = f"participation: {TYPES[e.kind].ko} +{e.times}" + (f" ({source})" if source else "")
                updated, event = proj.set_fact(p, spec.name, new, actor=actor, now=now, note=why, at=when,
                                               delta=e.times)
                current[e.key] = updated
                updates.append((updated, event))
        return updates

    # -- people ----------------------------------------------------------------------------
    def add_people(
        self, people: Sequence[Person], *, actor: str, now: dt.datetime, note: str | None = None,
        at: dt.datetime | None = None,
    ) -> None:
        """Add people; each addition is an entry in its project's history (who, when, why), effective
        ``at`` (default now)."""
        actor = clean_text(actor, "actor")
        note = clean_note(note)
        found = self.store.projects(sorted({p.key for p in people}))
        for p in people:
            if p.key not in found:
                raise ProjectNotFound(p.key)
        self.store.put_people(people, actor, now, _people_events(people, "person_added", found, actor, now, note, at))

    def import_people(
        self, stream: BinaryIO, source: str, *, actor: str, now: dt.datetime, at: dt.datetime | None = None
    ) -> list[Person]:
        actor = clean_text(actor, "actor")
        rows = _Rows(source)
        parsed: list[tuple[int, Person]] = []
        seen: dict[tuple[str, str, str], int] = {}
        for record in read_records(stream, source, PEOPLE_COLUMNS, ("key", "role", "name"), PEOPLE_ALIASES):
            v = record.values
            try:
                p = person(key=v["key"], role_name=v["role"], name=v["name"], contact=v.get("contact") or None)
            except InvalidInput as exc:
                rows.fail(exc, record.line)
                continue
            ident = (p.key, p.role, p.name)
            if ident in seen:
                rows.fail(InvalidInput(f"{p.name} ({p.role}) also on line {seen[ident]}", field="name"), record.line)
                continue
            seen[ident] = record.line
            parsed.append((record.line, p))
        found = self._check_keys(rows, [(n, p.key) for n, p in parsed])
        rows.finish(len(parsed))
        people = [p for _, p in parsed]
        self.store.put_people(people, actor, now, _people_events(people, "person_added", found, actor, now, source, at))
        return people

    def remove_person(
        self, p: Person, *, actor: str, now: dt.datetime, note: str | None, at: dt.datetime | None = None
    ) -> None:
        """Remove a person from a project; the removal stays in the project's history, with who and why
        (effective ``at``, default now)."""
        actor = clean_text(actor, "actor")
        note = clean_note(note)
        if not note:
            raise InvalidInput("a note saying why is required (--note)", field="note")
        found = self.store.projects([p.key])
        if p.key not in found:
            raise ProjectNotFound(p.key)
        if not self.store.remove_person(p, _people_events([p], "person_removed", found, actor, now, note, at)):
            raise NotFound(f"{p.key} has no {p.role} named {p.name}")

    # -- plan ------------------------------------------------------------------------------
    def set_plan(
        self,
        *,
        year: object,
        quarter: object = None,
        completions: object = None,
        budget: object = None,
        unit: str = WON,
        actor: str,
        now: dt.datetime,
    ) -> tuple[list[PlanQuarter], list[PlanYear]]:
        actor = clean_text(actor, "actor")
        quarters, years = self._plan_row(year, quarter, completions, budget, unit)
        self.store.put_plan(quarters, years, actor, now)
        return quarters, years

    @staticmethod
    def _plan_row(
        year: object, quarter: object, completions: object, budget: object, unit: str
    ) -> tuple[list[PlanQuarter], list[PlanYear]]:
        y = parse_year(year)
        has_q = quarter not in (None, "")
        has_c = completions not in (None, "")
        has_b = budget not in (None, "")
        if has_q != has_c:
            raise InvalidInput(
                "a quarter needs its planned completions, and completions need a quarter",
                field="completions" if has_q else "quarter",
            )
        if not has_c and not has_b:
            raise InvalidInput("give planned completions (with a quarter) or a budget", field="budget")
        quarters = [PlanQuarter(y, parse_quarter(quarter), parse_count(completions, "completions"))] if has_q else []
        years = [PlanYear(y, parse_amount(budget, "budget", unit))] if has_b else []
        return quarters, years

    def import_plan(
        self, stream: BinaryIO, source: str, *, actor: str, now: dt.datetime, unit: str = WON
    ) -> tuple[list[PlanQuarter], list[PlanYear]]:
        actor = clean_text(actor, "actor")
        rows = _Rows(source)
        quarters: dict[tuple[int, int], tuple[int, PlanQuarter]] = {}
        years: dict[int, tuple[int, PlanYear]] = {}
        count = 0
        for record in read_records(stream, source, PLAN_COLUMNS, ("year",), PLAN_ALIASES):
            v = record.values
            try:
                qs, ys = self._plan_row(v["year"], v.get("quarter"), v.get("completions"), v.get("budget"), unit)
                for q in qs:
                    if (q.year, q.quarter) in quarters:
                        raise InvalidInput(
                            f"{q.year} Q{q.quarter} also on line {quarters[(q.year, q.quarter)][0]}", field="quarter"
                        )
                for y in ys:
                    if y.year in years:
                        raise InvalidInput(f"the {y.year} budget is also on line {years[y.year][0]}", field="budget")
            except InvalidInput as exc:
                rows.fail(exc, record.line)
                continue
            count += 1
            quarters.update({(q.year, q.quarter): (record.line, q) for q in qs})
            years.update({y.year: (record.line, y) for y in ys})
        rows.finish(count)
        q_list = [q for _, q in quarters.values()]
        y_list = [y for _, y in years.values()]
        self.store.put_plan(q_list, y_list, actor, now)
        return q_list, y_list


def unit_label(unit: str) -> str:
    return "백만원" if unit == MILLION else "원"
