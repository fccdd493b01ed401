"""A renovation project and its append-only history, as plain domain objects.

Each change to a project (creation, a transition, a fact) is one :class:`Event`. The project's
``version`` counts its events, and an event's ``seq`` is the version the project had right after it:
so the events of a project are numbered 1..version with no gaps, and two coordinators who both read
version *n* cannot both write event *n+1*.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from engine.definition import Workflow
from engine.backdating import check_at
from engine.errors import InvalidInput

CREATED = "created"
TRANSITION = "transition"
FACT = "fact"
MIGRATED = "migrated"
"""Moved to another version of its workflow (``workflow migrate``): data holds from/to version and state."""
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
    id: int | None = field(default=None, compare=False)
    """The store's identity of the project (the database row id; None until stored, or in a store
    without one). Unlike ``key`` it never changes (``project edit --key``), and a dump keeps it:
    calendar UIDs are made of it. Not part of equality: the same record read twice is equal."""


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


def check_not_future(at: dt.datetime, now: dt.datetime) -> None:
    """Back-dating is allowed; dating ahead is not (engine/backdating.py, rule 1)."""
    check_at(None, at, now)


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
    recorded = now
    if at is not None:
        check_not_future(at, now)
        now = at  # its effective time; the event keeps when it was recorded
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
        recorded_at=recorded,
    )
    return project, event


def apply_step(
    project: Project, step: Step, *, actor: str, at: dt.datetime, now: dt.datetime, note: str | None
) -> tuple[Project, Event]:
    """The project after ``step`` fired at time ``at``, and the event that records it."""
    check_at(project, at, now, kind=TRANSITION)
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
    delta: int | None = None,
) -> tuple[Project, Event]:
    """Record a fact; ``at`` back-dates it (a meeting held last week), never before the project.
    ``delta``: the value is a count raised by this much (participation), which replay adds up in
    any order of dates."""
    at = at or now
    check_at(project, at, now, kind=FACT)
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
        data={"name": name, "old": old, "new": value, **({} if delta is None else {"delta": delta})},
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
    at: dt.datetime | None = None,
) -> tuple[Project, Event]:
    """A programme record on the project (a person added or removed, a budget line): an entry in its
    history, effective at ``at`` (default ``now``)."""
    if kind not in RECORDS:
        raise ValueError(f"not a record kind: {kind}")
    at = at or now
    check_at(project, at, now, kind=kind)
    updated = replace(project, version=project.version + 1)
    event = Event(
        key=project.key, seq=updated.version, kind=kind, from_state=project.state, to_state=project.state,
        actor=actor, at=at, note=note, data=dict(data), recorded_at=now,
    )
    return updated, event


def migrate(
    project: Project,
    to_version: int,
    to_state: str,
    previous_state: str | None,
    added_facts: Mapping[str, Any],
    renamed: Mapping[str, str],
    *,
    actor: str,
    now: dt.datetime,
    note: str | None = None,
) -> tuple[Project, Event]:
    """The project on version ``to_version`` of its workflow, in ``to_state`` (its state, or the one
    ``--map`` names), with the new version's default facts it lacked; ``renamed`` (old -> new state)
    carries first-entry times over to the new names. Its stage and entry time stay as they were."""
    reached = dict(project.reached)
    for old, new in renamed.items():
        if old in reached:
            reached.setdefault(new, reached[old])
    updated = replace(
        project, workflow_version=to_version, state=to_state, previous_state=previous_state,
        facts={**project.facts, **added_facts}, reached=reached, version=project.version + 1,
    )
    data = {"from_version": project.workflow_version, "to_version": to_version, "from_state": project.state,
            "to_state": to_state, "previous_state": previous_state, "facts": dict(added_facts),
            "renamed": dict(renamed)}
    event = Event(key=project.key, seq=updated.version, kind=MIGRATED, from_state=project.state, to_state=to_state,
                  actor=actor, at=now, note=note, data=data, recorded_at=now)
    return updated, event


@dataclass(frozen=True)
class Replayed:
    state: str
    previous_state: str | None
    facts: dict[str, Any]
    reached: dict[str, dt.datetime]
    entered_at: dt.datetime
    version: int
    created_at: dt.datetime | None = None
    flags: Mapping[str, Any] = field(default_factory=dict)
    """What replayers of other kinds recorded (see :attr:`Rebuild.flags`)."""

    @property
    def edits(self) -> Mapping[str, Any]:
        """The project's key, gu, dong, year and target as corrected by ``edited`` events (latest wins)."""
        return self.flags.get("identity") or {}

    @property
    def retired_at(self) -> dt.datetime | None:
        """When the project was retired (``project retire``), if it was."""
        return self.flags.get("retired_at")


@dataclass
class Rebuild:
    """A project's state and facts while its events are replayed (one event at a time)."""

    key: str
    strict: bool = True
    state: str | None = None
    previous_state: str | None = None
    facts: dict[str, Any] = field(default_factory=dict)
    reached: dict[str, dt.datetime] = field(default_factory=dict)
    entered_at: dt.datetime | None = None
    created_at: dt.datetime | None = None
    version: int = 0
    flags: dict[str, Any] = field(default_factory=dict)
    """What other kinds of event record beside state and facts. Two are read by the as-of views
    (engine.asof.rebuilt): ``retired`` (true: the project is left out, as in listings today) and
    ``identity`` (a dict of Project fields such as ``gu`` or ``target`` as they stood then)."""

    def result(self) -> Replayed:
        if self.state is None or self.entered_at is None:
            raise InvalidInput("no creation event", field="history")
        return Replayed(self.state, self.previous_state, dict(self.facts), dict(self.reached), self.entered_at,
                        self.version, self.created_at, dict(self.flags))


Replayer = Callable[[Rebuild, Event], None]
REPLAYERS: dict[str, Replayer] = {}
"""How each kind of event changes a project being rebuilt: one function per kind. Another kind of
event (a migration, an undo) registers its own with :func:`replays`, and every reader of the past
(:func:`replay`, :func:`replay_until`, the as-of views) knows it at once."""


def replays(*kinds: str) -> Callable[[Replayer], Replayer]:
    def register(func: Replayer) -> Replayer:
        for kind in kinds:
            REPLAYERS[kind] = func
        return func

    return register


@replays(CREATED)
def _replay_created(r: Rebuild, event: Event) -> None:
    r.state = event.to_state
    r.facts = dict(event.data.get("facts", {}))
    r.reached = {event.to_state: event.at}
    r.entered_at = r.created_at = event.at


@replays(TRANSITION)
def _replay_transition(r: Rebuild, event: Event) -> None:
    if r.strict and event.from_state != r.state:
        raise InvalidInput(
            f"event {event.seq} starts from {event.from_state}, but the project was in {r.state}", field=event.key
        )
    if event.to_state != event.from_state:
        r.previous_state = event.from_state
    r.state = event.to_state
    r.facts.update(event.data.get("facts", {}))
    r.reached.setdefault(event.to_state, event.at)
    r.entered_at = event.at


@replays(FACT)
def _replay_fact(r: Rebuild, event: Event) -> None:
    name = event.data["name"]
    delta = event.data.get("delta")
    if delta is not None:  # a count raised (participation): order-free, so back-dating cannot lose one
        old = r.facts.get(name)
        r.facts[name] = (old if isinstance(old, int) and not isinstance(old, bool) else 0) + delta
    else:
        r.facts[name] = event.data["new"]


@replays(*RECORDS)
def _replay_record(r: Rebuild, event: Event) -> None:
    """People and budget records: history only."""


@replays(MIGRATED)
def _replay_migrated(r: Rebuild, event: Event) -> None:
    """Moved to another version of its workflow: its state (maybe renamed) and facts as the new version has them."""
    r.state = event.to_state
    r.previous_state = event.data.get("previous_state")
    r.facts.update(event.data.get("facts", {}))
    for old, new in event.data.get("renamed", {}).items():
        if old in r.reached:
            r.reached.setdefault(new, r.reached[old])


@replays(UNDONE, EDITED, RETIRED)
def _replay_correction(r: Rebuild, event: Event) -> None:
    """Corrections (engine/corrections.py): an undone transition restores the state before it; an
    edit corrects the project's identity; a retirement leaves the project out of every view."""
    from engine import corrections

    if event.kind == UNDONE:
        r.state, r.previous_state, r.entered_at, r.reached = corrections.undone_snapshot(event)
    elif event.kind == EDITED:
        r.flags.setdefault("identity", {}).update(corrections.edited_values(event))
    else:
        r.flags["retired"] = True
        r.flags["retired_at"] = event.recorded_at or event.at


def _apply(r: Rebuild, event: Event) -> None:
    replayer = REPLAYERS.get(event.kind)
    if replayer is None:
        raise InvalidInput(f"unknown event kind {event.kind!r}", field=event.key)
    if r.state is None and event.kind != CREATED:
        raise InvalidInput(f"event {event.seq} comes before the project's creation", field=event.key)
    replayer(r, event)
    r.version = max(r.version, event.seq)


def replay(events: Iterable[Event]) -> Replayed:
    """Rebuild a project's state from its events alone, in the order they were recorded (the audit
    check: must equal the stored row)."""
    r: Rebuild | None = None
    count = 0
    for event in events:
        count += 1
        if event.seq != count:
            raise InvalidInput(f"event {event.seq} out of sequence (expected {count})", field=event.key)
        r = r or Rebuild(event.key)
        _apply(r, event)
    if r is None:
        raise InvalidInput("no creation event", field="history")
    return r.result()


def undone_transitions(events: Iterable[Event]) -> set[int]:
    """The sequence numbers of the transitions an ``undone`` event reverted (``dongflow undo``)."""
    return {int(e.data["undoes"]) for e in events if e.kind == UNDONE and e.data.get("undoes") is not None}


def effective_order(events: Iterable[Event]) -> list[Event]:
    """Events by effective time (``at``), then by the order they were recorded (``seq``)."""
    return sorted(events, key=lambda e: (e.at, e.seq))


def replay_until(events: Iterable[Event], cutoff: dt.datetime | None = None) -> Replayed | None:
    """The project as its record stood just before ``cutoff``: its events whose effective time is
    before it, in effective order (None: all of them). None if it had not been created by then.

    The back-dating rules (engine/backdating.py) keep state-changing events in date order, so this
    is the state the project really had then; with no cutoff it equals :func:`replay`. Of the events
    after the cutoff only a migration is read (give it, or not): the version it left is the version
    the project was on then.
    """
    r: Rebuild | None = None
    later: list[Event] = []
    events = list(events)
    void = undone_transitions(events)
    for event in effective_order(events):
        if cutoff is not None and event.at >= cutoff:
            later.append(event)
            continue
        if r is None:
            if event.kind != CREATED:
                continue  # dated before its creation: cannot happen under the rules; ignore
            r = Rebuild(event.key, strict=False)
        if event.kind == UNDONE or event.seq in void:
            # An undone transition and its undo (dated alike) cancel out: in effective order a
            # transition re-recorded at an earlier date after the undo may come between them.
            r.version = max(r.version, event.seq)
            continue
        _apply(r, event)
    if r is None:
        return None
    moved = next((e for e in later if e.kind == MIGRATED), None)
    if moved is not None and "from_version" in moved.data:
        # Migrated to another version after the cutoff: then it was on the version it left.
        r.flags.setdefault("identity", {})["workflow_version"] = moved.data["from_version"]
    return r.result()
