"""The database tables (SQLModel), the single source of truth for the schema.

Alembic migrations under ``storage/migrations`` build exactly this schema; a test compares them.
Rows are converted to and from domain objects in :mod:`storage.repository` only.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.ext.mutable import MutableDict
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime


class ProjectRow(SQLModel, table=True):
    __tablename__ = "projects"
    __table_args__ = (
        Index("ix_projects_state", "state"),
        Index("ix_projects_gu_year", "gu", "year"),
        Index("ix_projects_year", "year"),
        Index("ix_projects_workflow_state", "workflow_id", "workflow_version", "state"),
        Index("ix_projects_workflow_state_entered", "workflow_id", "state", "entered_at"),
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
    """The optimistic lock: every write is a Core (or driver) UPDATE ... WHERE version = :expected
    (storage/repository.py, storage/hotpath.py); no ORM session ever writes a row."""
    retired_at: dt.datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    """Set by ``project retire`` (schema 0010_corrections): the project was entered by mistake; it stays
    in history and dumps but leaves listings, overdue checks, alerts and reports."""


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


class AlertRow(SQLModel, table=True):
    """One warning: exactly one per (project, milestone, level), created by the check that found it.

    Its lifecycle (schema 0006_alert_lifecycle): ``open`` until its milestone is met (``resolved``),
    a more severe alert of the same milestone replaces it (``superseded``), or someone
    ``acknowledged`` it; ``snoozed`` until a date. Reminders and the escalation to the programme
    office are counted from ``open_since`` in business days.
    """

    __tablename__ = "alerts"
    __table_args__ = (
        UniqueConstraint("project_id", "milestone", "level", name="uq_alerts_project_milestone_level"),
        Index("ix_alerts_created_at", "created_at"),
        Index("ix_alerts_state", "state"),
    )

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    project_id: int = Field(
        sa_column=Column(Integer, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False)
    )
    milestone: str = Field(sa_column=Column(String(100), nullable=False))
    level: str = Field(sa_column=Column(String(20), nullable=False))
    due_date: dt.date = Field(sa_column=Column(Date, nullable=False))
    days: int = Field(sa_column=Column(Integer, nullable=False))
    reason: str = Field(sa_column=Column(Text, nullable=False))
    as_of: dt.date = Field(sa_column=Column(Date, nullable=False))
    created_at: dt.datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    state: str = Field(default="open", sa_column=Column(String(20), nullable=False, server_default="open"))
    state_at: dt.datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    snoozed_until: dt.date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    open_since: dt.date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    """The day the escalation clock started: the as-of date of its check, or the end of a snooze."""
    last_notified_on: dt.date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    """The as-of date of the last reminder (the reminder clock starts again from it)."""
    reminders: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    escalated_on: dt.date | None = Field(default=None, sa_column=Column(Date, nullable=True))


class AlertEventRow(SQLModel, table=True):
    """The timeline of an alert: created, acknowledged, snoozed, reminded, escalated, resolved ..."""

    __tablename__ = "alert_events"
    __table_args__ = (Index("ix_alert_events_alert", "alert_id"),)

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    alert_id: int = Field(sa_column=Column(Integer, ForeignKey("alerts.id", ondelete="CASCADE"), nullable=False))
    kind: str = Field(sa_column=Column(String(20), nullable=False))
    actor: str = Field(sa_column=Column(String(200), nullable=False))
    at: dt.datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    as_of: dt.date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class DestinationRow(SQLModel, table=True):
    """A (channel, recipient) that alerts have been routed to. One that appears in the configuration
    later gets the open alerts of its districts once, as a digest, instead of nothing (or the past)."""

    __tablename__ = "alert_destinations"

    channel: str = Field(sa_column=Column(String(100), primary_key=True))
    recipient: str = Field(sa_column=Column(String(300), primary_key=True))
    added_at: dt.datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class DeliveryRow(SQLModel, table=True):
    """An alert to one recipient through one channel: the outbox row a sender works through.

    Marked ``sent`` only after the channel accepted it; a failure is kept with its error and the
    time of the next attempt (backoff), so nothing is lost and ``alerts list --failed`` shows it.
    """

    __tablename__ = "alert_deliveries"
    __table_args__ = (
        UniqueConstraint("alert_id", "channel", "recipient", "kind", "round", name="uq_deliveries_alert_channel_recipient_kind"),
        Index("ix_deliveries_status_next", "status", "next_attempt_at"),
    )

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    alert_id: int = Field(sa_column=Column(Integer, ForeignKey("alerts.id", ondelete="CASCADE"), nullable=False))
    channel: str = Field(sa_column=Column(String(100), nullable=False))
    recipient: str = Field(sa_column=Column(String(300), nullable=False))
    status: str = Field(sa_column=Column(String(20), nullable=False))
    attempts: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    next_attempt_at: dt.datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    sent_at: dt.datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    kind: str = Field(default="alert", sa_column=Column(String(20), nullable=False, server_default="alert"))
    """``alert`` (the first notice), ``reminder``, ``escalation`` (to the programme office),
    ``resolved`` (the notice that it is over) or ``digest`` (to a destination added later)."""
    round: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    """Which reminder this is (1, 2, ...); 0 for the other kinds."""
    message_key: str | None = Field(default=None, sa_column=Column(String(100), nullable=True))
    """The message it went (or goes) out in, fixed when first claimed: the e-mail's Message-ID and the
    webhook's Idempotency-Key are made from it, so a repeat after a crash is recognisable."""
    claimed_epoch: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    claimed_at: dt.datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))


class JobRow(SQLModel, table=True):
    """What must survive a restart of the scheduler: the last good run and the lease on the job.

    APScheduler 3 keeps its jobs in memory here (its job stores cannot be shared between processes),
    so the lease that stops two schedulers from sending twice lives in dongflow's own table.
    """

    __tablename__ = "jobs"

    name: str = Field(sa_column=Column(String(100), primary_key=True))
    last_success_as_of: dt.date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    last_success_at: dt.datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    lease_owner: str | None = Field(default=None, sa_column=Column(String(200), nullable=True))
    lease_expires_at: dt.datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    lease_epoch: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    """Grows by one with every take-over; every write of a run is conditional on it (fencing)."""
    lease_taken_at: dt.datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))


# ================================================================================================
# Programme data (schema 0003): budgets, citizen participation, people, and the programme plan.
# Amounts are whole won (BigInteger: a year's programme money exceeds 2^31 won). A budget line is a
# project's (project_budgets) or the programme's as a whole (programme_budgets, named by an item), so
# each kind keeps a real unique key; participation may be programme-wide (project_id NULL).

class ProjectBudgetRow(SQLModel, table=True):
    __tablename__ = "project_budgets"
    __table_args__ = (
        UniqueConstraint("project_id", "year", name="uq_project_budgets_project_year"),
        Index("ix_project_budgets_year", "year"),
    )

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    project_id: int = Field(
        sa_column=Column(Integer, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False)
    )
    year: int = Field(sa_column=Column(Integer, nullable=False))
    allocated: int = Field(sa_column=Column(BigInteger, nullable=False))
    executed: int = Field(sa_column=Column(BigInteger, nullable=False))
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    actor: str = Field(sa_column=Column(String(200), nullable=False))
    recorded_at: dt.datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class ProgrammeBudgetRow(SQLModel, table=True):
    __tablename__ = "programme_budgets"
    __table_args__ = (UniqueConstraint("item", "year", name="uq_programme_budgets_item_year"),)

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    item: str = Field(sa_column=Column(String(100), nullable=False))
    year: int = Field(sa_column=Column(Integer, nullable=False))
    allocated: int = Field(sa_column=Column(BigInteger, nullable=False))
    executed: int = Field(sa_column=Column(BigInteger, nullable=False))
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    actor: str = Field(sa_column=Column(String(200), nullable=False))
    recorded_at: dt.datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class ParticipationRow(SQLModel, table=True):
    """Citizens took part: a kind, a day, how many times; a project's, or programme-wide (NULL)."""

    __tablename__ = "participation"
    __table_args__ = (
        Index("ix_participation_project", "project_id"),
        Index("ix_participation_kind_held_on", "kind", "held_on"),
    )

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    project_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("projects.id", ondelete="CASCADE"), nullable=True)
    )
    kind: str = Field(sa_column=Column(String(50), nullable=False))
    held_on: dt.date = Field(sa_column=Column(Date, nullable=False))
    times: int = Field(sa_column=Column(Integer, nullable=False))
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    actor: str = Field(sa_column=Column(String(200), nullable=False))
    recorded_at: dt.datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class ProjectPersonRow(SQLModel, table=True):
    __tablename__ = "project_people"
    __table_args__ = (UniqueConstraint("project_id", "role", "name", name="uq_project_people_project_role_name"),)

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    project_id: int = Field(
        sa_column=Column(Integer, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False)
    )
    role: str = Field(sa_column=Column(String(50), nullable=False))
    name: str = Field(sa_column=Column(String(100), nullable=False))
    contact: str | None = Field(default=None, sa_column=Column(String(200), nullable=True))
    actor: str = Field(sa_column=Column(String(200), nullable=False))
    recorded_at: dt.datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class PlanQuarterRow(SQLModel, table=True):
    """How many dongs the programme plans to complete in one quarter."""

    __tablename__ = "plan_quarters"

    year: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    quarter: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    completions: int = Field(sa_column=Column(Integer, nullable=False))
    actor: str = Field(sa_column=Column(String(200), nullable=False))
    recorded_at: dt.datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class PlanYearRow(SQLModel, table=True):
    """The programme's planned investment for one year (연차별 투자수요), in won."""

    __tablename__ = "plan_years"

    year: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    budget: int = Field(sa_column=Column(BigInteger, nullable=False))
    actor: str = Field(sa_column=Column(String(200), nullable=False))
    recorded_at: dt.datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


# Accounts (schema 0007) live beside their store; imported here so the metadata holds every table.
from storage.accounts import ApiTokenRow, UserRow  # noqa: E402,F401
# Published workflow versions (schema 0009) live beside their store, like accounts.
from storage.workflow_store import WorkflowVersionRow  # noqa: E402,F401
# Planning (schema 0012): blackout windows and baselines, beside their store.
from storage.planning import BaselineRow, BlackoutRow  # noqa: E402,F401
# Web sessions and sign-in attempts (schema 0013) live beside their store, like the accounts.
from storage.web_sessions import SignInAttemptRow, WebSessionRow  # noqa: E402,F401


# ================================================================================================
# The incremental nightly check (schema 0014; storage/check_marks.py): derived, rewritten by a full check.

class CheckMarkRow(SQLModel, table=True):
    """What the last real alert run found about one project, and the day it must look again."""

    __tablename__ = "check_marks"

    project_id: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    version: int = Field(sa_column=Column(Integer, nullable=False))
    recheck_on: dt.date = Field(sa_column=Column(Date, nullable=False))
    findings: int = Field(sa_column=Column(Integer, nullable=False))


class CheckBasisRow(SQLModel, table=True):
    """The rules the marks were made under (a hash) and the as-of day of the run that made them."""

    __tablename__ = "check_basis"

    name: str = Field(sa_column=Column(String(100), primary_key=True))
    basis: str = Field(sa_column=Column(String(64), nullable=False))
    as_of: dt.date = Field(sa_column=Column(Date, nullable=False))
