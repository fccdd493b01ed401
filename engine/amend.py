"""The correction use cases (undo, edit, retire) and the identity checks of add/import/edit.

Called through :class:`engine.service.Service` (and so through engine/access.py's ScopedService):
each validates everything first and then writes one versioned change, so a refused correction
leaves the database exactly as it was.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from engine import corrections
from engine.errors import AlreadyExists, ChangedMeanwhile, ConflictError, NotFound
from engine.identity import IdentityRule, IdentityRules
from engine.ports import ProjectQuery
from engine.project import Event, Project
from engine.values import clean_text, parse_date, parse_year

if TYPE_CHECKING:
    from engine.service import Service


class DuplicateProject(AlreadyExists):
    """A second project for the same workflow, district, dong and year (without --allow-duplicate)."""

    def __init__(self, existing: str, workflow_id: str, gu: str, dong: str, year: int) -> None:
        self.existing = existing
        self.what = f"project {existing}"
        self.field = "dong"
        ConflictError.__init__(
            self,
            f"{workflow_id} already has project {existing} for {gu} {dong} {year}; "
            "add --allow-duplicate to add another anyway",
        )


def rule_of(service: Service, workflow_id: str, version: int | None = None) -> IdentityRule:
    """The identity rule of a workflow: what its file declares, else what the programme's settings say."""
    try:
        workflow = service.catalog.get(workflow_id, version) if version else service.catalog.latest(workflow_id)
        declared = workflow.identity
    except NotFound:
        declared = None
    return (service.identity or IdentityRules()).of(workflow_id, declared)


def identity_key(rule: IdentityRule, workflow_id: str, gu: str, dong: str, year: int) -> tuple[str, ...]:
    """What makes two projects the same place and cohort (two spellings of one dong are the same)."""
    canonical = rule.places.canonical(gu, dong) if rule.places is not None else dong
    return (workflow_id, gu, canonical, str(year))


def check_identity(service: Service, project: Project) -> None:
    rule_of(service, project.workflow_id, project.workflow_version).check(
        project.key, project.gu, project.dong, project.year)


def find_twin(service: Service, project: Project, exclude: Iterable[str] = ()) -> str | None:
    """The key of another live project with the same (workflow, gu, dong, year), if any."""
    rule = rule_of(service, project.workflow_id)
    wanted = identity_key(rule, project.workflow_id, project.gu, project.dong, project.year)
    skip = {project.key, *exclude}
    for other in service.store.find(ProjectQuery(gu=project.gu, year=project.year, workflow_id=project.workflow_id)):
        if other.key not in skip and identity_key(rule, other.workflow_id, other.gu, other.dong, other.year) == wanted:
            return other.key
    return None


def find_twins(service: Service, projects: list[Project]) -> list[tuple[Project, str]]:
    """Each of ``projects`` (new ones) that has a live twin already stored, with the twin's key: one
    query per (workflow, gu, year) among them, not one per project (an import of thousands)."""
    groups: dict[tuple[str, str, int], list[Project]] = {}
    for project in projects:
        groups.setdefault((project.workflow_id, project.gu, project.year), []).append(project)
    found: list[tuple[Project, str]] = []
    for (workflow_id, gu, year), members in groups.items():
        rule = rule_of(service, workflow_id)
        stored = {
            identity_key(rule, o.workflow_id, o.gu, o.dong, o.year): o.key
            for o in service.store.find(ProjectQuery(gu=gu, year=year, workflow_id=workflow_id))
        }
        for project in members:
            twin = stored.get(identity_key(rule, project.workflow_id, project.gu, project.dong, year))
            if twin is not None:
                found.append((project, twin))
    return found


def refuse_twin(service: Service, project: Project, exclude: Iterable[str] = ()) -> None:
    twin = find_twin(service, project, exclude)
    if twin is not None:
        raise DuplicateProject(twin, project.workflow_id, project.gu, project.dong, project.year)


# -- the use cases -----------------------------------------------------------------------------
def undo(service: Service, key: str, *, actor: str, now: dt.datetime, note: str | None,
         expected_version: int | None = None) -> tuple[Project, Event]:
    note = corrections.require_note(note)
    project = service.project(key)
    _check_version(project, expected_version)
    events = service.store.events(project.key)
    if len(events) != project.version:  # someone recorded something between the two reads
        raise ChangedMeanwhile(project.key)
    updated, event = corrections.undo(project, events, actor=clean_text(actor, "actor"), now=now, note=note)
    service.store.save(updated, event)
    return updated, event


def edit(service: Service, key: str, *, actor: str, now: dt.datetime, note: str | None,
         gu: str | None = None, dong: str | None = None, year: Any = None, target: Any = None,
         new_key: str | None = None, allow_duplicate: bool = False,
         expected_version: int | None = None) -> tuple[Project, Event]:
    note = corrections.require_note(note)
    project = service.project(key)
    _check_version(project, expected_version)
    changes: dict[str, Any] = {
        "key": clean_text(new_key, "key") if new_key is not None else None,
        "gu": clean_text(gu, "gu") if gu is not None else None,
        "dong": clean_text(dong, "dong") if dong is not None else None,
        "year": parse_year(year) if year is not None else None,
        "target": parse_date(target, "target") if target is not None else None,
    }
    if changes["year"] is not None and changes["target"] is None:
        workflow = service.workflow_of(project)
        if project.target == workflow.default_target(project.year):  # the default moves with the year
            changes["target"] = workflow.default_target(changes["year"])
    updated, event = corrections.edit(project, changes, actor=clean_text(actor, "actor"), now=now, note=note)
    check_identity(service, updated)
    if updated.key != project.key and service.store.existing_keys([updated.key]):
        raise AlreadyExists(f"project {updated.key}", field="key")
    identity_changed = (updated.gu, updated.dong, updated.year) != (project.gu, project.dong, project.year)
    if identity_changed and not allow_duplicate:
        refuse_twin(service, updated, exclude=[project.key])
    if updated.key != project.key:
        service.store.save_batch([(project.key, updated, event)])
    else:
        service.store.save(updated, event)
    return updated, event


def retire(service: Service, key: str, *, actor: str, now: dt.datetime, note: str | None,
           expected_version: int | None = None) -> tuple[Project, Event]:
    note = corrections.require_note(note)
    project = service.project(key)
    _check_version(project, expected_version)
    updated, event = corrections.retire(project, actor=clean_text(actor, "actor"), now=now, note=note)
    service.store.save(updated, event)
    return updated, event


def _check_version(project: Project, expected: int | None) -> None:
    if expected is not None and expected != project.version:
        raise ChangedMeanwhile(project.key)
