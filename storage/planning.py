"""Planning in SQL (schema 0012): blackout windows and baselines, their tables and their store.

The tables live beside their store (like the accounts'); storage/tables.py imports them so the
metadata, the migrations test and ``db dump`` see every table. Each write is one transaction, after
the use case validated everything (engine/planning_service.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Column, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint, delete, insert, select
from sqlmodel import Field, SQLModel

from engine.blackouts import Blackout
from engine.errors import NotFound, ProjectNotFound
from storage.db import Database
from storage.types import UTCDateTime


class BlackoutRow(SQLModel, table=True):
    """Days a site cannot work: one project's, a district's (``scope`` gu) or every project's (all)."""

    __tablename__ = "blackouts"
    __table_args__ = (Index("ix_blackouts_scope_target", "scope", "target"),)

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    scope: str = Field(sa_column=Column(String(10), nullable=False))
    target: str | None = Field(default=None, sa_column=Column(String(200), nullable=True))
    start_date: dt.date = Field(sa_column=Column(Date, nullable=False))
    end_date: dt.date = Field(sa_column=Column(Date, nullable=False))
    reason: str = Field(sa_column=Column(Text, nullable=False))
    actor: str = Field(sa_column=Column(String(200), nullable=False))
    recorded_at: dt.datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class BaselineRow(SQLModel, table=True):
    """A project's baseline: the planned date of each milestone, as set by ``baseline set``."""

    __tablename__ = "baselines"
    __table_args__ = (UniqueConstraint("project_id", "milestone", name="uq_baselines_project_milestone"),)

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    project_id: int = Field(sa_column=Column(Integer, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False))
    milestone: str = Field(sa_column=Column(String(100), nullable=False))
    planned: dt.date = Field(sa_column=Column(Date, nullable=False))
    taken_on: dt.date = Field(sa_column=Column(Date, nullable=False))
    """The as-of day the plan was made for."""
    actor: str = Field(sa_column=Column(String(200), nullable=False))
    recorded_at: dt.datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


B = BlackoutRow.__table__  # type: ignore[attr-defined]
BL = BaselineRow.__table__  # type: ignore[attr-defined]


def read_blackouts(conn: Any) -> list[Blackout]:
    rows = conn.execute(select(B).order_by(B.c.start_date, B.c.id))
    return [Blackout(r.scope, r.target, r.start_date, r.end_date, r.reason, r.id) for r in rows]


class SqlPlanningStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- blackouts ---------------------------------------------------------------------------------
    def add_blackout(self, b: Blackout, actor: str, now: dt.datetime) -> int:
        with self.db.write() as conn:
            return int(conn.execute(insert(B).returning(B.c.id), {
                "scope": b.scope, "target": b.target, "start_date": b.start, "end_date": b.end, "reason": b.reason,
                "actor": actor, "recorded_at": now}).scalar_one())

    def blackouts(self) -> list[Blackout]:
        with self.db.read() as conn:
            return read_blackouts(conn)

    def blackout(self, blackout_id: int) -> Blackout:
        if not -(2**31) <= blackout_id < 2**31:  # beyond the id column: none such (not a driver overflow)
            raise NotFound(f"no blackout #{blackout_id} (see dongflow blackout list)")
        with self.db.read() as conn:
            r = conn.execute(select(B).where(B.c.id == blackout_id)).first()
        if r is None:
            raise NotFound(f"no blackout #{blackout_id} (see dongflow blackout list)")
        return Blackout(r.scope, r.target, r.start_date, r.end_date, r.reason, r.id)

    def remove_blackout(self, blackout_id: int) -> None:
        with self.db.write() as conn:
            if conn.execute(delete(B).where(B.c.id == blackout_id)).rowcount == 0:
                raise NotFound(f"no blackout #{blackout_id} (see dongflow blackout list)")

    # -- baselines ---------------------------------------------------------------------------------
    def set_baseline(self, key: str, planned: Sequence[tuple[str, dt.date]], taken_on: dt.date, actor: str,
                     now: dt.datetime) -> None:
        """Replace the project's baseline with ``planned`` (milestone, date), in one transaction."""
        from storage.repository import P

        with self.db.write() as conn:
            pid = conn.execute(select(P.c.id).where(P.c.key == key)).scalar()
            if pid is None:
                raise ProjectNotFound(key)
            conn.execute(delete(BL).where(BL.c.project_id == pid))
            if planned:
                conn.execute(insert(BL), [{"project_id": pid, "milestone": m, "planned": d, "taken_on": taken_on,
                                           "actor": actor, "recorded_at": now} for m, d in planned])

    def baselines(self, keys: Iterable[str] | None = None) -> dict[str, tuple[dt.date, dict[str, dt.date]]]:
        """Stored baselines by project key: (taken on, {milestone: planned})."""
        from storage.repository import P

        stmt = select(P.c.key, BL.c.milestone, BL.c.planned, BL.c.taken_on).join(P, P.c.id == BL.c.project_id)
        wanted = None if keys is None else sorted(set(keys))
        out: dict[str, tuple[dt.date, dict[str, dt.date]]] = {}
        with self.db.read() as conn:
            chunks = [None] if wanted is None else [wanted[i:i + 900] for i in range(0, len(wanted), 900)]
            for chunk in chunks:
                query = stmt if chunk is None else stmt.where(P.c.key.in_(chunk))
                for key, milestone, planned, taken_on in conn.execute(query):
                    out.setdefault(key, (taken_on, {}))[1][milestone] = planned
        return out
