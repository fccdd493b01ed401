"""A renovation project and its append-only history, as plain domain objects.

Each change to a project (creation, a transition, a fact) is one :class:`Event`. The project's
``version`` counts its events, and an event's ``seq`` is the version the project had right after it:
so the events of a project are numbered 1..version with no gaps, and two coordinators who both read
version *n* cannot both write event *n+1*.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from engine.definition import Workflow
from engine.display import show_time
from engine.errors import InvalidInput

CREATED = "created"
TRANSITION = "transition"
FACT = "fact"
RECORDS = ("budget", "person_added", "person_removed")
UNDONE, EDITED, RETIRED = "undone", "edited", "retired"
"""Corrections (engine/corrections.py): an undone transition, an edited identity, a retired project."""
"""Changes to what is recorded about a project beside its state and facts (the programme's people and
budget lines): in its history with who, when and why; replay leaves state and facts alone."""


@dataclass(frozen=True)
class Step:
    """A transition the machine allowed: where from, where to, and the facts afterwards."""

    trigger: str
    from_state: str
    to_state: str
    facts: dict[str, Any]
    changed_facts: dict[str, Any]


@dataclass(frozen=True)
class Project:
    key: str
    gu: str
    dong: str
    year: int
    workflow_id: str
    workflow_version: int
    state: str
    target: dt.date
    entered_at: dt.datetime
    facts: Mapping[str, Any] = field(default_factory=dict)
    reached: Mapping[str, dt.datetime] = field(default_factory=dict)
    """When the project first entered each state it has been in (for milestones met or late)."""
    previous_state: str | None = None
    version: int = 1
    created_at: dt.datetime | None = None
    retired_at: dt.datetime | None = None
    """When it was retired as entered by mistake (``project retire``): kept, but out of every view."""


@dataclass(frozen=True)
class Event:
    key: str
    seq: int
    kind: str
    to_state: str
    actor: str
    at: dt.datetime
    trigger: str | None = None
    from_state: str | None = None
    note: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    recorded_at: dt.datetime | None = None


def _show(moment: dt.datetime) -> str:
    return show_time(moment)  # in the user's zone, named (engine/display.py)


def check_not_future(at: dt.datetime, now: dt.datetime) -> None:
    """Back-dating is allowed; dating ahead is not (a few minutes of clock skew are tolerated)."""
    if at > now + dt.timedelta(minutes=5):
        raise InvalidInput(f"{_show(at)} is in the future", field="at")


def new_project(
    workflow: Workflow,
    *,
    key: str,
    gu: str,
    dong: str,
    year: int,
    target: dt.date | None,
    actor: str,
    now: dt.datetime,
    note: str | None = None,
    at: dt.datetime | None = None,
) -> tuple[Project, Event]:
    """A project entering its workflow's initial state at ``at`` (default ``now``)."""
    if at is not None:
        check_not_future(at, now)
        now = at
    if target is not None and target.year < year:
        raise InvalidInput(f"target {target} is before the cohort year {year}", field="target")
    facts = workflow.default_facts()
    initial = workflow.initial.id
    project = Project(
        key=key,
        gu=gu,
        dong=dong,
        year=year,
        workflow_id=workflow.id,
        workflow_version=workflow.version,
        state=initial,
        target=target or workflow.default_target(year),
        entered_at=now,
        facts=facts,
        reached={initial: now},
        version=1,
        created_at=now,
    )
    event = Event(
        key=key,
        seq=1,
        kind=CREATED,
        to_state=initial,
        actor=actor,
        at=now,
        note=note,
        data={"facts": dict(facts)},
        recorded_at=now,
    )
    return project, event


def apply_step(
    project: Project, step: Step, *, actor: str, at: dt.datetime, now: dt.datetime, note: str | None
) -> tuple[Project, Event]:
    """The project after ``step`` fired at time ``at``, and the event that records it."""
    if at < project.entered_at:
        raise InvalidInput(
            f"{_show(at)} is before the project entered its current state ({_show(project.entered_at)})",
            field="at",
        )
    check_not_future(at, now)
    reached = dict(project.reached)
    reached.setdefault(step.to_state, at)
    changed_state = step.to_state != step.from_state
    updated = replace(
        project,
        state=step.to_state,
        previous_state=step.from_state if changed_state else project.previous_state,
        entered_at=at,
        facts=step.facts,
        reached=reached,
        version=project.version + 1,
    )
    event = Event(
        key=project.key,
        seq=updated.version,
        kind=TRANSITION,
        trigger=step.trigger,
        from_state=step.from_state,
        to_state=step.to_state,
        actor=actor,
        at=at,
        note=note,
        data={"facts": step.changed_facts} if step.changed_facts else {},
        recorded_at=now,
    )
    return updated, event


def set_fact(
    project: Project,
    name: str,
    value: Any,
    *,
    actor: str,
    now: dt.datetime,
    note: str | None = None,
    at: dt.datetime | None = None,
) -> tuple[Project, Event]:
    """Record a fact; ``at`` back-dates it (a meeting held last week), never before the project."""
    at = at or now
    created = project.created_at or project.entered_at
    if at < created:
        raise InvalidInput(f"{_show(at)} is before the project was created ({_show(created)})", field="at")
    check_not_future(at, now)
    old = project.facts.get(name)
    updated = replace(project, facts={**project.facts, name: value}, version=project.version + 1)
    event = Event(
        key=project.key,
        seq=updated.version,
        kind=FACT,
        from_state=project.state,
        to_state=project.state,
        actor=actor,
        at=at,
        note=note,
        data={"name": name, "old": old, "new": value},
        recorded_at=now,
    )
    return updated, event


def record(
    project: Project,
    kind: str,
    data: Mapping[str, Any],
    *,
    actor: str,
    now: dt.datetime,
    note: str | None = None,
) -> tuple[Project, Event]:
    """A programme record on the project (a person added or removed): an entry in its history."""
    if kind not in RECORDS:
        raise ValueError(f"not a record kind: {kind}")
    updated = replace(project, version=project.version + 1)
    event = Event(
        key=project.key, seq=updated.version, kind=kind, from_state=project.state, to_state=project.state,
        actor=actor, at=now, note=note, data=dict(data), recorded_at=now,
    )
    return updated, event


@dataclass(frozen=True)
class Replayed:
    state: str
    previous_state: str | None
    facts: dict[str, Any]
    reached: dict[str, dt.datetime]
    entered_at: dt.datetime
    version: int
    edits: dict[str, Any] = field(default_factory=dict)
    """The project's key, gu, dong, year and target as corrected by ``edited`` events (latest wins)."""
    retired_at: dt.datetime | None = None


def replay(events: Iterable[Event]) -> Replayed:
    """Rebuild a project's state from its events alone (the audit check: must equal the stored row)."""
    state: str | None = None
    previous: str | None = None
    facts: dict[str, Any] = {}
    reached: dict[str, dt.datetime] = {}
    entered_at: dt.datetime | None = None
    version = 0
    edits: dict[str, Any] = {}
    retired_at: dt.datetime | None = None
    for event in events:
        version += 1
        if event.seq != version:
            raise InvalidInput(f"event {event.seq} out of sequence (expected {version})", field=event.key)
        if event.kind == CREATED:
            state = event.to_state
            facts = dict(event.data.get("facts", {}))
            reached = {state: event.at}
            entered_at = event.at
        elif event.kind == TRANSITION:
            if event.from_state != state:
                raise InvalidInput(
                    f"event {event.seq} starts from {event.from_state}, but the project was in {state}",
                    field=event.key,
                )
            if event.to_state != event.from_state:
                previous = event.from_state
            state = event.to_state
            facts.update(event.data.get("facts", {}))
            reached.setdefault(state, event.at)
            entered_at = event.at
        elif event.kind == FACT:
            facts[event.data["name"]] = event.data["new"]
        elif event.kind in RECORDS:
            pass  # people and budget records: history only
        elif event.kind in (UNDONE, EDITED, RETIRED):
            from engine import corrections

            if event.kind == UNDONE:
                state, previous, entered_at, reached = corrections.undone_snapshot(event)
            elif event.kind == EDITED:
                edits.update(corrections.edited_values(event))
            else:
                retired_at = event.recorded_at or event.at
        else:
            raise InvalidInput(f"unknown event kind {event.kind!r}", field=event.key)
    if state is None or entered_at is None:
        raise InvalidInput("no creation event", field="history")
    return Replayed(state, previous, facts, reached, entered_at, version, edits, retired_at)
