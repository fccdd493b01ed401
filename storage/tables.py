"""The database tables (SQLModel), the single source of truth for the schema.

Alembic migrations under ``storage/migrations`` build exactly this schema; a test compares them.
Rows are converted to and from domain objects in :mod:`storage.repository` only.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Column, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.ext.mutable import MutableDict
from sqlalchemy.orm import declared_attr
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime


class ProjectRow(SQLModel, table=True):
    __tablename__ = "projects"
    __table_args__ = (
        Index("ix_projects_state", "state"),
        Index("ix_projects_gu_year", "gu", "year"),
        Index("ix_projects_year", "year"),
        Index("ix_projects_workflow_state", "workflow_id", "workflow_version", "state"),
    )

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    key: str = Field(sa_column=Column(String(200), nullable=False, unique=True))
    gu: str = Field(sa_column=Column(String(200), nullable=False))
    dong: str = Field(sa_column=Column(String(200), nullable=False))
    year: int = Field(sa_column=Column(Integer, nullable=False))
    workflow_id: str = Field(sa_column=Column(String(100), nullable=False))
    workflow_version: int = Field(sa_column=Column(Integer, nullable=False))
    state: str = Field(sa_column=Column(String(100), nullable=False))
    previous_state: str | None = Field(default=None, sa_column=Column(String(100), nullable=True))
    target_date: dt.date = Field(sa_column=Column(Date, nullable=False))
    entered_at: dt.datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    facts: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(MutableDict.as_mutable(JSON), nullable=False)
    )
    reached: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(MutableDict.as_mutable(JSON), nullable=False)
    )
    created_at: dt.datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    version: int = Field(default=1, sa_column=Column(Integer, nullable=False))

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:  # noqa: N805
        # Optimistic locking for any ORM write; the repository's Core UPDATEs check it explicitly.
        return {"version_id_col": cls.__table__.c.version}  # type: ignore[attr-defined]


class EventRow(SQLModel, table=True):
    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("project_id", "seq", name="uq_events_project_seq"),
        Index("ix_events_at", "at"),
    )

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    project_id: int = Field(
        sa_column=Column(Integer, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False)
    )
    seq: int = Field(sa_column=Column(Integer, nullable=False))
    kind: str = Field(sa_column=Column(String(20), nullable=False))
    trigger: str | None = Field(default=None, sa_column=Column(String(100), nullable=True))
    from_state: str | None = Field(default=None, sa_column=Column(String(100), nullable=True))
    to_state: str = Field(sa_column=Column(String(100), nullable=False))
    actor: str = Field(sa_column=Column(String(200), nullable=False))
    at: dt.datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    recorded_at: dt.datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


metadata = SQLModel.metadata
