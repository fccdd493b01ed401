"""The coordinators' use cases: add, import, advance, record facts, query.

Each use case validates everything before it writes, then writes once through the store, so a
refused or invalid request leaves the database exactly as it was. Time comes in as ``now`` (and
``at`` for back-dated entries): nothing here reads the clock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, BinaryIO
from zoneinfo import ZoneInfo

from engine import amend, backdating, corrections
from engine import project as proj
from engine.catalog import Catalog
from engine.csv_input import read_records
from engine.definition import Workflow
from engine.display import show_time
from engine.errors import (
    AlreadyExists,
    ChangedMeanwhile,
    InvalidInput,
    InvalidInputs,
    NotFound,
    TransitionRefused,
    located,
)
from engine.heap import cyclic_gc_paused
from engine.identity import IdentityRules
from engine.ports import ProjectQuery, ProjectStore
from engine.project import Event, Project
from engine.values import clean_note, clean_text, lookup_text, parse_date, parse_datetime, parse_year

_INSTANT = dt.timedelta(microseconds=1)

IMPORT_COLUMNS = ("key", "gu", "dong", "year", "workflow", "target", "started")
IMPORT_REQUIRED = ("key", "gu", "dong", "year")
IMPORT_ALIASES = {
    "key": ("키", "사업키", "project"),
    "gu": ("구", "자치구", "district"),
    "dong": ("동", "행정동", "동명"),
    "year": ("연도", "년도", "cohort", "사업연도"),
    "workflow": ("워크플로", "workflow_id"),
    "target": ("목표일", "준공목표일", "target_date"),
    "started": ("시작일", "착수일", "start", "created"),
}
MAX_REPORTED = 200
"""Bad rows kept for the report; more are counted, not kept (a broken 100 MB file must not fill RAM)."""
MAX_BAD_ROWS = 10_000
"""After this many bad rows the file is clearly not what was meant: stop reading and say so."""


@dataclass(frozen=True)
class ProjectSpec:
    """A project as typed by a user, before validation."""

    key: str
    gu: str
    dong: str
    year: str | int
    workflow: str | None = None
    target: str | dt.date | None = None


class Service:
    def __init__(self, store: ProjectStore, catalog: Catalog, identity: IdentityRules | None = None) -> None:
        self.store = store
        self.catalog = catalog
        self.identity = identity
        """Valid places and key formats per workflow (engine/identity.py; a programme's settings)."""

    # -- helpers ---------------------------------------------------------------------------
    def workflow_of(self, project: Project) -> Workflow:
        return self.catalog.get(project.workflow_id, project.workflow_version)

    def _validate_spec(
        self, spec: ProjectSpec, actor: str, now: dt.datetime, at: dt.datetime | None = None,
        rules: dict[tuple[str, int], Any] | None = None,
    ) -> tuple[Project, Event]:
        """The new project and its creation event, every value checked. ``rules``: a memo of identity
        rules by workflow version, for a caller validating many rows (an import)."""
        key = clean_text(spec.key, "key")
        gu = clean_text(spec.gu, "gu")
        dong = clean_text(spec.dong, "dong")
        year = parse_year(spec.year)
        workflow_id = clean_text(spec.workflow, "workflow", required=False) or self.catalog.default_id()
        try:
            workflow = self.catalog.latest(workflow_id)
        except NotFound as exc:
            raise located(exc, file=None, line=None, field="workflow") from None
        target = None
        if spec.target not in (None, ""):
            target = parse_date(spec.target, "target")
        project, event = proj.new_project(
            workflow, key=key, gu=gu, dong=dong, year=year, target=target, actor=actor, now=now, at=at
        )
        if rules is None:
            amend.check_identity(self, project)
        else:
            ref = (project.workflow_id, project.workflow_version)
            rule = rules.get(ref)
            if rule is None:
                rule = rules[ref] = amend.rule_of(self, *ref)
            rule.check(project.key, project.gu, project.dong, project.year)
        return project, event

    # -- use cases -------------------------------------------------------------------------
    def add_project(
        self, spec: ProjectSpec, *, actor: str, now: dt.datetime, at: dt.datetime | None = None,
        allow_duplicate: bool = False,
    ) -> Project:
        """Add one project; ``at`` back-dates its start (the survey began before it was entered).
        A second project for the same workflow, gu, dong and year needs ``allow_duplicate``."""
        project, event = self._validate_spec(spec, clean_text(actor, "actor"), now, at)
        if self.store.existing_keys([project.key]):
            raise AlreadyExists(f"project {project.key}")
        if not allow_duplicate:
            amend.refuse_twin(self, project)
        self.store.add([(project, [event])], workflows=self._unstored([project], event.actor, now))
        return project

    def import_csv(
        self,
        stream: BinaryIO,
        source: str,
        *,
        actor: str,
        now: dt.datetime,
        progress: Callable[[int, int], None] | None = None,
        tz: ZoneInfo | None = None,
        allow_duplicate: bool = False,
    ) -> int:
        """Import every row of a CSV file, or none: all bad rows are reported together.

        An optional ``started`` column back-dates each project's start (a past cohort loaded
        afterwards); a date without a time is midnight in ``tz``. ``progress(done, total)`` is
        called as rows are written: ``done`` rows more, of ``total``.
        """
        with cyclic_gc_paused():  # 100k rows make ~a million acyclic objects (engine/heap.py)
            return self._import_csv(stream, source, actor=actor, now=now, progress=progress, tz=tz,
                                    allow_duplicate=allow_duplicate)

    def _import_csv(
        self,
        stream: BinaryIO,
        source: str,
        *,
        actor: str,
        now: dt.datetime,
        progress: Callable[[int, int], None] | None,
        tz: ZoneInfo | None,
        allow_duplicate: bool,
    ) -> int:
        actor = clean_text(actor, "actor")
        items: list[tuple[Project, list[Event]]] = []
        problems: list[InvalidInput] = []
        bad_rows = 0
        first_line: dict[str, int] = {}
        first_place: dict[tuple[str, ...], int] = {}
        rules: dict[tuple[str, int], Any] = {}
        """Identity rules by workflow version, looked up once (a new project is on its latest version)."""

        def bad(exc: InvalidInput) -> None:
            nonlocal bad_rows
            bad_rows += 1
            if len(problems) < MAX_REPORTED:
                problems.append(exc)

        stopped_at: int | None = None
        for record in read_records(stream, source, IMPORT_COLUMNS, IMPORT_REQUIRED, IMPORT_ALIASES):
            if bad_rows >= MAX_BAD_ROWS:
                stopped_at = record.line
                break
            if record.problem is not None:
                bad(InvalidInput(record.problem, file=source, line=record.line))
                continue
            values = record.values
            try:
                started = values.get("started") or None
                at = parse_datetime(started, tz or ZoneInfo("UTC"), "started") if started else None
                project, event = self._validate_spec(
                    ProjectSpec(
                        key=values["key"],
                        gu=values["gu"],
                        dong=values["dong"],
                        year=values["year"],
                        workflow=values.get("workflow") or None,
                        target=values.get("target") or None,
                    ),
                    actor,
                    now,
                    at,
                    rules,
                )
            except InvalidInput as exc:
                bad(located(exc, file=source, line=record.line))
                continue
            if project.key in first_line:
                bad(
                    InvalidInput(
                        f"duplicate key {project.key!r} (first on line {first_line[project.key]})",
                        file=source,
                        line=record.line,
                        field="key",
                    )
                )
                continue
            first_line[project.key] = record.line
            place = amend.identity_key(rules[(project.workflow_id, project.workflow_version)],
                                       project.workflow_id, project.gu, project.dong, project.year)
            if not allow_duplicate and place in first_place:
                bad(InvalidInput(f"a second project for {project.gu} {project.dong} {project.year} (first on line "
                                 f"{first_place[place]}); add --allow-duplicate to import it anyway",
                                 file=source, line=record.line, field="dong"))
                continue
            first_place.setdefault(place, record.line)
            items.append((project, [event]))
        if not items and not bad_rows:
            raise InvalidInput("the file has a header but no rows", file=source)
        taken: set[str] = set()
        for chunk_start in range(0, len(items), 5000):
            chunk = [p.key for p, _ in items[chunk_start : chunk_start + 5000]]
            for key in sorted(self.store.existing_keys(chunk)):
                taken.add(key)
                bad(located(AlreadyExists(f"project {key!r}"), file=source, line=first_line[key], field="key"))
        if not allow_duplicate:  # a row whose key is taken is reported once, for its key
            for project, twin in amend.find_twins(self, [p for p, _ in items if p.key not in taken]):
                    exc = amend.DuplicateProject(twin, project.workflow_id, project.gu, project.dong, project.year)
                    bad(located(exc, file=source, line=first_line[project.key], field="dong"))
        if stopped_at is not None:
            problems.sort(key=lambda p: p.line or 0)
            raise InvalidInputs(
                f"{bad_rows} bad rows before line {stopped_at}, where reading stopped; nothing was imported",
                problems,
                file=source,
            )
        if bad_rows:
            problems.sort(key=lambda p: p.line or 0)
            raise InvalidInputs(
                f"{bad_rows} bad row{'s' if bad_rows > 1 else ''}; nothing was imported", problems, file=source
            )
        total = len(items)
        self.store.add(items, None if progress is None else (lambda done: progress(done, total)),
                       workflows=self._unstored((p for p, _ in items), actor, now))
        return total

    def advance(
        self,
        key: str,
        trigger: str,
        *,
        actor: str,
        now: dt.datetime,
        at: dt.datetime | None = None,
        note: str | None = None,
        expected_version: int | None = None,
    ) -> tuple[Project, Event]:
        """Fire ``trigger``; ``expected_version`` (the version the caller saw) refuses a stale request."""
        actor = clean_text(actor, "actor")
        note = clean_note(note)
        trigger = clean_text(trigger, "trigger")
        project = self.project(key)
        _check_version(project, expected_version)
        updated, event = self.planned_step(project, trigger, actor=actor, now=now, at=at, note=note)
        self.store.save(updated, event)
        return updated, event

    def planned_step(
        self, project: Project, trigger: str, *, actor: str, now: dt.datetime, at: dt.datetime | None,
        note: str | None,
    ) -> tuple[Project, Event]:
        """The project after ``trigger`` and its event, checked as ``advance`` checks them (back-dating
        rules included), not stored: ``advance`` stores one, a bulk move many in one transaction."""
        corrections.check_live(project, f"{trigger}")
        workflow = self.workflow_of(project)
        machine = self.catalog.machine(workflow)
        step = machine.fire(project.key, project.state, trigger, project.facts, project.previous_state, note)
        if backdating.is_backdated(at, now):
            assert at is not None
            backdating.check_at(project, at, now, kind=proj.TRANSITION)
            events = self.store.events(project.key)
            backdating.check_state_order(events, at)
            for name in step.changed_facts:  # rule 5 for the facts it counts (failed_tenders ...)
                backdating.check_fact_order(events, name, at)
            then = proj.replay_until(events, at + _INSTANT)
            if then is not None and then.facts != dict(project.facts):
                try:  # rule 4: the guards as the facts stood at ``at``
                    machine.fire(project.key, project.state, trigger, then.facts, project.previous_state, note)
                except TransitionRefused as exc:
                    raise TransitionRefused(exc.key, exc.trigger, exc.state, f"on {show_time(at)}, {exc.reason}",
                                            exc.allowed) from None
        if at is None:
            # "Now", as read before the project was: another coordinator (or a machine whose clock is a
            # little ahead) may have moved it since, a moment "later". Record this step at that moment
            # rather than refuse it as back-dated before the state it follows.
            at = max(now, project.entered_at)
        return proj.apply_step(project, step, actor=actor, at=at, now=now, note=note)

    def set_fact(
        self,
        key: str,
        name: str,
        raw_value: str,
        *,
        actor: str,
        now: dt.datetime,
        note: str | None = None,
        at: dt.datetime | None = None,
        expected_version: int | None = None,
    ) -> tuple[Project, Any]:
        actor = clean_text(actor, "actor")
        project = self.project(key)
        _check_version(project, expected_version)
        corrections.check_live(project, "record facts")
        workflow = self.workflow_of(project)
        spec = workflow.facts.get(name)
        if spec is None:
            known = ", ".join(workflow.facts) or "none"
            raise InvalidInput(f"workflow {workflow.ref} has no fact {name!r} (known: {known})", field="fact")
        if spec.counts_participation is not None:
            raise InvalidInput(
                f"{name} counts recorded {spec.counts_participation} events; record one with "
                f"`dongflow participation add {key} {spec.counts_participation} --date YYYY-MM-DD` instead",
                field="fact",
            )
        value = spec.parse(raw_value)
        if at is None and project.created_at is not None and now < project.created_at:
            at = project.created_at  # created a moment "after" our clock read (see advance)
        if backdating.is_backdated(at, now):
            assert at is not None
            backdating.check_at(project, at, now, kind=proj.FACT)
            backdating.check_fact_dating(self.store.events(project.key), name, at)
        updated, event = proj.set_fact(project, name, value, actor=actor, now=now, note=clean_note(note), at=at)
        self.store.save(updated, event)
        return updated, value

    def project(self, key: str) -> Project:
        """One project by key (typed keys are NFC-normalised like stored ones)."""
        return self.store.get(lookup_text(key, "key") or "")

    def status(self, query: ProjectQuery, cutoff: dt.datetime | None = None) -> list[Project]:
        """Projects as they stand, or (``cutoff``: engine.asof.cutoff_for) as their record stood then:
        rebuilt from the events dated before it; a project created later is not there."""
        query = _normalised(query)
        if cutoff is not None:
            found = self.store.find_as_of(query, cutoff)
            if query.key is not None and not found:
                self.store.get(query.key)  # no such project at all: ProjectNotFound
                raise NotFound(f"project {query.key!r} did not exist yet on {show_time(cutoff - _INSTANT)[:10]}")
            return found
        if query.key is not None:
            return [self.store.get(query.key)]
        return self.store.find(query)

    def count(self, query: ProjectQuery, cutoff: dt.datetime | None = None) -> int:
        """How many projects ``status`` lists for ``query`` without its limit and offset."""
        if cutoff is not None:
            return len(self.store.find_as_of(replace(_normalised(query), limit=None, offset=0), cutoff))
        return self.store.count(_normalised(query))

    def renamed_to(self, key: str) -> str | None:
        """For a key no project has now: the key of the project that had it before ``project edit
        --key`` (engine/amend.py), or None. A project holding the key now always wins (ask only after
        :meth:`project` found none)."""
        typed = lookup_text(key, "key") or ""
        new_key = self.store.renamed_to(typed)
        return None if new_key is None or new_key == typed else new_key

    def history(self, key: str) -> list[Event]:
        """Every event of the project in effective order (``at``, then the order recorded)."""
        return proj.effective_order(self.store.events(lookup_text(key, "key") or ""))

    # -- corrections (engine/amend.py) and bulk moves (engine/bulk.py) ---------------------------
    def undo(self, key: str, **kwargs: Any) -> tuple[Project, Event]:
        """Revert the last transition with an ``undone`` event (refused when anything depends on it)."""
        return amend.undo(self, key, **kwargs)

    def edit_project(self, key: str, **kwargs: Any) -> tuple[Project, Event]:
        """Correct key, gu, dong, year or target with an ``edited`` event (old and new values)."""
        return amend.edit(self, key, **kwargs)

    def retire_project(self, key: str, **kwargs: Any) -> tuple[Project, Event]:
        """Retire a project entered by mistake (a ``retired`` event; kept in history and dumps)."""
        return amend.retire(self, key, **kwargs)

    def bulk_advance(self, trigger: str, **kwargs: Any) -> Any:
        """Fire ``trigger`` on many projects at once (engine/bulk.py)."""
        from engine import bulk

        return bulk.advance(self, trigger, **kwargs)

    def add_with_history(self, items: Sequence[tuple[Project, Sequence[Event]]]) -> None:
        """Insert ready-made projects with their whole histories (the demo), all or none."""
        for project, events in items:
            replayed = proj.replay(events)
            if replayed.state != project.state or replayed.version != project.version:
                raise InvalidInput(f"history of {project.key} does not lead to its state", field="history")
        events = [e for _, evs in items for e in evs]
        workflows = []
        if events:  # published as the histories were recorded, by whoever recorded the first
            at = max(e.recorded_at or e.at for e in events)
            workflows = self._unstored((p for p, _ in items), events[0].actor, at)
        self.store.add(items, workflows=workflows)

    def _unstored(self, projects: Any, actor: str, now: dt.datetime) -> list[Any]:
        """The workflow versions these projects use that are not stored yet, to be published by
        ``actor`` at ``now``: the store writes them in the same transaction as the projects, so every
        project's version is in the database and no read needs the folder it came from."""
        out = []
        for ref in sorted({(p.workflow_id, p.workflow_version) for p in projects}):
            source = self.catalog.source(ref)
            if source is not None and not source.published:
                out.append(replace(source, published_at=now, published_by=actor))
        return out


def _normalised(query: ProjectQuery) -> ProjectQuery:
    """Typed text NFC-normalised like stored text."""
    return replace(
        query,
        key=lookup_text(query.key, "key"),
        gu=lookup_text(query.gu, "gu"),
        state=lookup_text(query.state, "state"),
        workflow_id=lookup_text(query.workflow_id, "workflow"),
        districts=None if query.districts is None else frozenset(lookup_text(d, "gu") or "" for d in query.districts),
    )


def _check_version(project: Project, expected: int | None) -> None:
    if expected is not None and expected != project.version:
        raise ChangedMeanwhile(project.key)
