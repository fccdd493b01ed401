"""Publishing workflow versions and moving running projects to another version of their workflow.

``workflow migrate ID --to N``: every project of workflow ID (optionally only some, ``--where``) is
checked against version N: its state (and the state a ``hold`` would return to) must exist in N or be
mapped by ``--map old=new``; each of its facts must be a fact of N with a value of N's type. Those
that fit move together, in one transaction, one ``migrated`` event each; the others are listed with
their reasons and left as they are. Version N must be stored, or be a file dongflow can publish in
that same transaction.

The planning is pure (projects and workflows in, moves and refusals out); storage applies the moves
with the same optimistic lock as ``advance``: a project changed meanwhile aborts the whole run.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from engine import project as proj
from engine.definition import Workflow
from engine.errors import Forbidden, InvalidInput, NotFound
from engine.ports import ProjectQuery, ProjectStore
from engine.project import Event, Project
from engine.values import clean_note, clean_text
from engine.workflow_versions import WorkflowSource


@dataclass(frozen=True)
class MigrationMove:
    before: Project
    after: Project
    event: Event


@dataclass(frozen=True)
class MigrationRefusal:
    key: str
    state: str
    from_version: int
    reason: str


@dataclass(frozen=True)
class MigrationPlan:
    workflow_id: str
    to_version: int
    moves: list[MigrationMove] = field(default_factory=list)
    refusals: list[MigrationRefusal] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    """Keys of the projects already on the target version."""
    publishes: WorkflowSource | None = None
    """The target version's content when it is not stored yet (published with the moves)."""

    def as_dict(self, dry_run: bool) -> dict[str, Any]:
        return {
            "workflow": self.workflow_id,
            "to_version": self.to_version,
            "dry_run": dry_run,
            "publishes": None if self.publishes is None else self.publishes.content_hash,
            "moved" if not dry_run else "would_move": [
                {"key": m.before.key, "from_version": m.before.workflow_version, "to_version": self.to_version,
                 "from_state": m.before.state, "to_state": m.after.state, "added_facts": dict(m.event.data["facts"])}
                for m in self.moves],
            "refused": [{"key": r.key, "from_version": r.from_version, "state": r.state, "reason": r.reason}
                        for r in self.refusals],
            "unchanged": list(self.unchanged),
        }


class MigrationWriter(Protocol):
    def apply_migration(self, moves: Sequence[tuple[Project, Event]], workflows: Sequence[WorkflowSource]) -> None:
        """Store ``workflows`` not stored yet and every project with its event, in one transaction, each
        project only if its stored version is still ``version - 1`` (else ChangedMeanwhile, nothing written)."""

    def publish(self, source: WorkflowSource) -> tuple[WorkflowSource, bool]:
        """Store a version (its ``published_at``/``published_by`` set): (stored, True), or (stored,
        False) when the same content is stored already; WorkflowVersionConflict for other content."""


def parse_map(items: Iterable[str]) -> dict[str, str]:
    """``--map old=new`` (repeatable; ``a=b,c=d`` also accepted)."""
    out: dict[str, str] = {}
    for item in items:
        for part in str(item).split(","):
            if not part.strip():
                continue
            old, sep, new = part.partition("=")
            old, new = old.strip(), new.strip()
            if not sep or not old or not new:
                raise InvalidInput(f"{part.strip()!r} is not OLD_STATE=NEW_STATE", field="--map")
            if old in out and out[old] != new:
                raise InvalidInput(f"{old} is mapped twice ({out[old]}, {new})", field="--map")
            out[old] = new
    return out


def _fits(workflow: Workflow, name: str, value: Any) -> str | None:
    """Why the fact ``name = value`` does not fit ``workflow`` (None: it fits)."""
    spec = workflow.facts.get(name)
    if spec is None:
        return f"fact {name} is not a fact of version {workflow.version}"
    if value is None:
        return None
    if not spec.accepts(value):
        return f"fact {name} = {value!r} is not a {spec.type} (its type in version {workflow.version})"
    if spec.type in ("integer", "number"):
        try:
            spec._in_range(value)
        except InvalidInput as exc:
            return f"fact {name} = {value!r}: {exc.problem} in version {workflow.version}"
    return None


def plan_migration(
    projects: Iterable[Project],
    versions: Mapping[int, Workflow],
    target: Workflow,
    mapping: Mapping[str, str],
    *,
    actor: str,
    now: dt.datetime,
    note: str | None = None,
) -> MigrationPlan:
    """Check every project against ``target``; ``versions``: the workflow's versions by number (the
    ones the projects are on). Pure: nothing is written."""
    known_states = {s.id for wf in versions.values() for s in wf.states}
    for old, new in mapping.items():
        if not target.has_state(new):
            raise InvalidInput(f"{new} is not a state of {target.ref} (states: "
                               f"{', '.join(s.id for s in target.states)})", field="--map")
        if old not in known_states:
            raise InvalidInput(f"{old} is not a state of any version of {target.id} "
                               f"(states: {', '.join(sorted(known_states))})", field="--map")
        if old != new and target.has_state(old):
            # A project in it stays in it: --map renames states the new version lacks; moving a
            # project to another state (completed, cancelled ...) takes a transition (advance).
            raise InvalidInput(f"{old} is a state of {target.ref}: its projects keep it; --map names a new "
                               f"state for a state version {target.version} lacks", field="--map")
        if target.state(new).final and any(not wf.state(old).final for wf in versions.values() if wf.has_state(old)):
            # A project in a running state would be finished by a rename, its "completion" dated from
            # when it entered the old state: a transition that never happened. Renaming a final state
            # (done=completed) is fine.
            raise InvalidInput(f"{new} is a final state of {target.ref}: mapping {old} (a running state) onto it "
                               f"would finish projects without a transition; map {old} to a running state and "
                               "advance the projects instead (dongflow advance KEY TRIGGER)", field="--map")
    plan = MigrationPlan(target.id, target.version)
    for p in projects:
        if p.workflow_version == target.version:
            plan.unchanged.append(p.key)
            continue
        reasons = []
        to_state = mapping.get(p.state, p.state)
        if not target.has_state(to_state):
            reasons.append(f"state {p.state} is not in version {target.version}; map it: --map {p.state}=STATE")
        previous = mapping.get(p.previous_state, p.previous_state) if p.previous_state else None
        if previous is not None and not target.has_state(previous):
            reasons.append(f"its previous state {p.previous_state} (where a hold returns) is not in version "
                           f"{target.version}; map it: --map {p.previous_state}=STATE")
        for name, value in sorted(p.facts.items()):
            why = _fits(target, name, value)
            if why is not None:
                reasons.append(why)
        if reasons:
            plan.refusals.append(MigrationRefusal(p.key, p.state, p.workflow_version, "; ".join(reasons)))
            continue
        added = {name: default for name, default in target.default_facts().items() if name not in p.facts}
        renamed = {old: new for old, new in mapping.items() if old != new and (old in p.reached or old == p.state)}
        after, event = proj.migrate(p, target.version, to_state, previous, added, renamed, actor=actor, now=now,
                                    note=note)
        plan.moves.append(MigrationMove(p, after, event))
    return plan


def can_manage_workflows(principal: Any) -> bool:
    """Publishing and migrating touch every district: the operator and the programme office."""
    return bool(principal.is_operator or (principal.writes and principal.districts is None))


class WorkflowAdmin:
    """The workflow use cases of the programme office: publish a version, migrate projects."""

    def __init__(self, store: ProjectStore, writer: MigrationWriter, catalog: Any, principal: Any) -> None:
        self.store = store
        self.writer = writer
        self.catalog = catalog
        self.principal = principal

    def _allowed(self, action: str) -> None:
        if not can_manage_workflows(self.principal):
            raise Forbidden(self.principal.describe(), action)

    def publish(self, workflow: Workflow, source: WorkflowSource, *, now: dt.datetime,
                actor: str | None = None) -> tuple[WorkflowSource, bool]:
        """Store a version validated by the loader (``source`` is its text)."""
        self._allowed(f"publish {workflow.ref}")
        who = self.principal.actor(actor)
        return self.writer.publish(replace(source, published_at=now, published_by=who))

    def migrate(self, workflow_id: str, to_version: int, *, mapping: Mapping[str, str], query: ProjectQuery,
                dry_run: bool, now: dt.datetime, actor: str | None = None, note: str | None = None) -> MigrationPlan:
        self._allowed(f"migrate projects of {workflow_id}")
        who = self.principal.actor(actor)
        note = clean_note(note)
        workflow_id = clean_text(workflow_id, "workflow")
        target = self.catalog.get(workflow_id, to_version)
        source = self.catalog.source(target)
        if source is None:
            raise InvalidInput(f"{target.ref} is neither stored nor a file that can be published", field="--to")
        projects = self.store.find(replace(query, workflow_id=workflow_id, limit=None, offset=0))
        # The versions the projects are on (for --map's names); a version found nowhere (a database
        # upgraded without its file) does not stop its projects from moving to a stored one.
        versions = {}
        for n in sorted({*self.catalog.versions(workflow_id), *(p.workflow_version for p in projects)}):
            try:
                versions[n] = self.catalog.get(workflow_id, n)
            except NotFound:
                pass
        plan = plan_migration(projects, versions, target, mapping, actor=who, now=now, note=note)
        if not source.published and plan.moves:  # published with the moves, or not at all
            plan = replace(plan, publishes=replace(source, published_at=now, published_by=who))
        if not dry_run and plan.moves:
            self.writer.apply_migration([(m.after, m.event) for m in plan.moves],
                                        [plan.publishes] if plan.publishes is not None else [])
        return plan
