"""Programme data in SQL: budgets, participation, people and the plan (implements ProgrammeStore).

Each write is one transaction. Recording participation also applies the projects' fact updates in
that same transaction, with the same ``WHERE version = :expected`` check as every project change
(see :mod:`storage.repository`), so a meeting is never counted without its event or twice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from engine.errors import AlreadyExists, ChangedMeanwhile, ProjectNotFound
from programme.records import BudgetLine, Participation, Person, Plan, PlanQuarter, PlanYear
from engine.project import Event, Project
from storage.db import Database
from storage.repository import E, P, event_values, project_values, row_to_project
from storage.tables import (
    ParticipationRow,
    PlanQuarterRow,
    PlanYearRow,
    ProgrammeBudgetRow,
    ProjectBudgetRow,
    ProjectPersonRow,
)

PB = ProjectBudgetRow.__table__  # type: ignore[attr-defined]
GB = ProgrammeBudgetRow.__table__  # type: ignore[attr-defined]
PART = ParticipationRow.__table__  # type: ignore[attr-defined]
PEOPLE = ProjectPersonRow.__table__  # type: ignore[attr-defined]
PQ = PlanQuarterRow.__table__  # type: ignore[attr-defined]
PY = PlanYearRow.__table__  # type: ignore[attr-defined]


class SqlProgrammeStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- helpers ---------------------------------------------------------------------------
    @staticmethod
    def _ids(conn: Connection, keys: Sequence[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        unique = sorted(set(keys))
        for start in range(0, len(unique), 900):
            chunk = unique[start : start + 900]
            out.update({k: i for k, i in conn.execute(select(P.c.key, P.c.id).where(P.c.key.in_(chunk)))})
        missing = [k for k in unique if k not in out]
        if missing:
            raise ProjectNotFound(missing[0])
        return out

    def projects(self, keys: Sequence[str]) -> dict[str, Project]:
        found: dict[str, Project] = {}
        with self.db.read() as conn:
            for start in range(0, len(keys), 900):
                chunk = list(keys[start : start + 900])
                found.update({r.key: row_to_project(r) for r in conn.execute(select(P).where(P.c.key.in_(chunk)))})
        return found

    # -- budgets ---------------------------------------------------------------------------
    def put_budgets(
        self, lines: Sequence[BudgetLine], actor: str, now: dt.datetime, updates: Sequence[tuple[Project, Event]] = ()
    ) -> None:
        """The lines and their projects' history entries (``updates``), in one transaction."""
        with self.db.write() as conn:
            self._put_budgets(conn, lines, actor, now)
            for project, event in updates:
                _save(conn, project, event)

    def _put_budgets(self, conn: Connection, lines: Sequence[BudgetLine], actor: str, now: dt.datetime) -> None:
        ids = self._ids(conn, [line.key for line in lines if line.key is not None])
        for line in lines:
            values: dict[str, Any] = {
                "allocated": line.allocated,
                "executed": line.executed,
                "note": line.note,
                "actor": actor,
                "recorded_at": now,
            }
            if line.key is not None:
                _upsert(conn, PB, {"project_id": ids[line.key], "year": line.year}, values)
            else:
                _upsert(conn, GB, {"item": line.item, "year": line.year}, values)

    def budgets(self, key: str | None = None, year: int | None = None) -> list[BudgetLine]:
        out: list[BudgetLine] = []
        with self.db.read() as conn:
            if key is None:
                stmt = select(GB).order_by(GB.c.year, GB.c.item)
                if year is not None:
                    stmt = stmt.where(GB.c.year == year)
                out += [
                    BudgetLine(r.year, r.allocated, r.executed, item=r.item, note=r.note) for r in conn.execute(stmt)
                ]
            stmt = select(PB, P.c.key).join(P, P.c.id == PB.c.project_id).order_by(P.c.key, PB.c.year)
            if key is not None:
                stmt = stmt.where(P.c.key == key)
            if year is not None:
                stmt = stmt.where(PB.c.year == year)
            out += [BudgetLine(r.year, r.allocated, r.executed, key=r.key, note=r.note) for r in conn.execute(stmt)]
        return out

    # -- participation ---------------------------------------------------------------------
    def add_participation(
        self,
        entries: Sequence[Participation],
        updates: Sequence[tuple[Project, Event]],
        actor: str,
        now: dt.datetime,
    ) -> None:
        try:
            with self.db.write() as conn:
                self._add_participation(conn, entries, updates, actor, now)
        except IntegrityError:
            raise ChangedMeanwhile(updates[0][0].key if updates else "the programme") from None

    def _add_participation(
        self,
        conn: Connection,
        entries: Sequence[Participation],
        updates: Sequence[tuple[Project, Event]],
        actor: str,
        now: dt.datetime,
    ) -> None:
        ids = self._ids(conn, [e.key for e in entries if e.key is not None])
        for project, event in updates:
            _save(conn, project, event)
        rows = [
            {
                "project_id": ids[e.key] if e.key is not None else None,
                "kind": e.kind,
                "held_on": e.held_on,
                "times": e.times,
                "note": e.note,
                "actor": actor,
                "recorded_at": now,
            }
            for e in entries
        ]
        for start in range(0, len(rows), 2000):
            conn.execute(insert(PART), rows[start : start + 2000])

    def participation(self, key: str | None = None) -> list[Participation]:
        stmt = select(PART, P.c.key).outerjoin(P, P.c.id == PART.c.project_id)
        stmt = stmt.where(P.c.key == key) if key is not None else stmt.where(PART.c.project_id.is_(None))
        with self.db.read() as conn:
            rows = conn.execute(stmt.order_by(PART.c.held_on, PART.c.id)).all()
        return [Participation(r.kind, r.held_on, r.times, r.key, r.note) for r in rows]

    # -- people ----------------------------------------------------------------------------
    def put_people(
        self, people: Sequence[Person], actor: str, now: dt.datetime, updates: Sequence[tuple[Project, Event]] = ()
    ) -> None:
        try:
            with self.db.write() as conn:
                self._put_people(conn, people, actor, now)
                for project, event in updates:
                    _save(conn, project, event)
        except IntegrityError:
            first = people[0]
            what = f"{first.name} as {first.role} of {first.key}" if len(people) == 1 else "one of these people"
            raise AlreadyExists(what) from None

    def _put_people(self, conn: Connection, people: Sequence[Person], actor: str, now: dt.datetime) -> None:
        ids = self._ids(conn, [p.key for p in people])
        rows = [
            {
                "project_id": ids[p.key],
                "role": p.role,
                "name": p.name,
                "contact": p.contact,
                "actor": actor,
                "recorded_at": now,
            }
            for p in people
        ]
        for start in range(0, len(rows), 2000):
            conn.execute(insert(PEOPLE), rows[start : start + 2000])

    def remove_person(self, person: Person, updates: Sequence[tuple[Project, Event]] = ()) -> bool:
        with self.db.write() as conn:
            ids = self._ids(conn, [person.key])
            result = conn.execute(
                delete(PEOPLE).where(
                    PEOPLE.c.project_id == ids[person.key], PEOPLE.c.role == person.role, PEOPLE.c.name == person.name
                )
            )
            if not result.rowcount:
                return False  # nothing removed: no event either (the transaction has written nothing)
            for project, event in updates:
                _save(conn, project, event)
        return True

    def people(self, key: str | None = None, gu: str | None = None) -> list[tuple[str, Person]]:
        stmt = select(PEOPLE, P.c.key, P.c.gu).join(P, P.c.id == PEOPLE.c.project_id)
        if key is not None:
            stmt = stmt.where(P.c.key == key)
        if gu is not None:
            stmt = stmt.where(P.c.gu == gu)
        with self.db.read() as conn:
            rows = conn.execute(stmt.order_by(P.c.key, PEOPLE.c.role, PEOPLE.c.name)).all()
        return [(r.gu, Person(r.key, r.role, r.name, r.contact)) for r in rows]

    # -- plan ------------------------------------------------------------------------------
    def put_plan(
        self, quarters: Sequence[PlanQuarter], years: Sequence[PlanYear], actor: str, now: dt.datetime
    ) -> None:
        with self.db.write() as conn:
            self._put_plan(conn, quarters, years, actor, now)

    @staticmethod
    def _put_plan(
        conn: Connection, quarters: Sequence[PlanQuarter], years: Sequence[PlanYear], actor: str, now: dt.datetime
    ) -> None:
        for q in quarters:
            _upsert(conn, PQ, {"year": q.year, "quarter": q.quarter},
                    {"completions": q.completions, "actor": actor, "recorded_at": now})
        for y in years:
            _upsert(conn, PY, {"year": y.year}, {"budget": y.budget, "actor": actor, "recorded_at": now})

    def seed(
        self,
        budgets: Sequence[BudgetLine],
        entries: Sequence[Participation],
        people: Sequence[Person],
        quarters: Sequence[PlanQuarter],
        years: Sequence[PlanYear],
        actor: str,
        now: dt.datetime,
    ) -> None:
        """Write a whole set of programme data (the demo's) in one transaction, all or nothing."""
        with self.db.write() as conn:
            self._put_budgets(conn, budgets, actor, now)
            self._add_participation(conn, entries, (), actor, now)
            if people:
                self._put_people(conn, people, actor, now)
            self._put_plan(conn, quarters, years, actor, now)

    def plan(self) -> Plan:
        with self.db.read() as conn:
            quarters = tuple(
                PlanQuarter(r.year, r.quarter, r.completions)
                for r in conn.execute(select(PQ).order_by(PQ.c.year, PQ.c.quarter))
            )
            years = tuple(PlanYear(r.year, r.budget) for r in conn.execute(select(PY).order_by(PY.c.year)))
        return Plan(quarters, years)


def _upsert(conn: Connection, table: Any, ident: dict[str, Any], values: dict[str, Any]) -> None:
    """INSERT ... ON CONFLICT (the row's unique key) DO UPDATE: one statement, so two writers setting
    the same line at once cannot both miss it and both insert (UPDATE-then-INSERT raced on PostgreSQL:
    one of them failed on the unique key)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    stmt = dialect_insert(table).values(**ident, **values)
    conn.execute(stmt.on_conflict_do_update(index_elements=list(ident), set_=values))


def _save(conn: Connection, project: Project, event: Event) -> None:
    """The versioned UPDATE plus history INSERT of one project change, inside the caller's transaction."""
    values = project_values(project)
    for fixed in ("key", "created_at"):
        values.pop(fixed)
    project_id = conn.execute(
        update(P).where(P.c.key == project.key, P.c.version == project.version - 1).values(**values).returning(P.c.id)
    ).scalar()
    if project_id is None:
        if conn.execute(select(P.c.id).where(P.c.key == project.key)).first() is None:
            raise ProjectNotFound(project.key)
        raise ChangedMeanwhile(project.key)
    conn.execute(insert(E).values(**event_values(event, project_id)))
