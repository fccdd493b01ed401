"""Bulk moves: fire one trigger on every project a filter (or a list of keys) names.

Every project is checked first, exactly as a single ``advance`` would check it; the plan lists what
would move and what would be refused, and why. A real run writes all the moves in one transaction,
their events sharing a batch id (``data.batch``). It is all-or-nothing: one refusal, or one project
changed by someone else between the check and the write, and nothing moves -- unless ``partial``,
which moves the rest and reports those as refused.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from engine.errors import ChangeRefused, DongflowError, InvalidInput
from engine.ports import ProjectQuery
from engine.project import Event, Project
from engine.values import clean_note, clean_text

if TYPE_CHECKING:
    from engine.service import Service

MAX_PROJECTS = 50_000
"""A bulk move larger than this is refused (a filter that names the whole database by mistake)."""


@dataclass(frozen=True)
class BulkMove:
    key: str
    from_state: str
    to_state: str


@dataclass(frozen=True)
class BulkRefusal:
    key: str
    reason: str


@dataclass(frozen=True)
class BulkResult:
    batch: str
    trigger: str
    dry_run: bool
    moves: list[BulkMove] = field(default_factory=list)
    """What moved (or, in a dry run, would move)."""
    refusals: list[BulkRefusal] = field(default_factory=list)


class BulkRefused(ChangeRefused):
    """A bulk move some projects refuse: nothing moved (``refusals`` says which and why)."""

    def __init__(self, trigger: str, refusals: Sequence[BulkRefusal], total: int) -> None:
        self.refusals = list(refusals)
        self.problems = [ChangeRefused(r.key, r.reason) for r in self.refusals]
        """One per refused project (shown under the error line, like a file's bad rows)."""
        n = len(self.refusals)
        super().__init__(
            "bulk " + trigger,
            f"{n} of {total} project{'s' if total != 1 else ''} refuse{'s' if n == 1 else ''}; nothing moved "
            "(--dry-run lists them; --partial moves the others)",
        )


def read_keys(text: str, source: str) -> list[str]:
    """One key per line; blank lines and lines starting with # are skipped; a repeat is an error."""
    keys: list[str] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), 1):
        key = line.strip()
        if not key or key.startswith("#"):
            continue
        key = clean_text(key, "key")
        if key in seen:
            raise InvalidInput(f"key {key!r} is listed twice (first on line {seen[key]})", file=source, line=number)
        seen[key] = number
        keys.append(key)
    if not keys:
        raise InvalidInput("no keys in the file (one key per line)", file=source)
    return keys


def checked_keys(keys: Sequence[str], field: str = "keys") -> list[str]:
    """A list of keys as given to :func:`advance` (the API's ``keys``; a file's are read by :func:`read_keys`):
    cleaned, at least one, none twice, and not more than a bulk move takes."""
    if not keys:
        raise InvalidInput("name at least one key", field=field)
    if len(keys) > MAX_PROJECTS:
        raise InvalidInput(f"{len(keys)} keys; a bulk move takes at most {MAX_PROJECTS}", field=field)
    cleaned: list[str] = []
    seen: set[str] = set()
    for key in keys:
        key = clean_text(key, "key")
        if key in seen:
            raise InvalidInput(f"key {key!r} is listed twice", field=field)
        seen.add(key)
        cleaned.append(key)
    return cleaned


def advance(
    service: Service,
    trigger: str,
    *,
    actor: str,
    now: dt.datetime,
    query: ProjectQuery | None = None,
    keys: Sequence[str] | None = None,
    note: str | None = None,
    at: dt.datetime | None = None,
    dry_run: bool = False,
    partial: bool = False,
    batch: str | None = None,
    lookup: Callable[[str], Project] | None = None,
) -> BulkResult:
    """Check (and unless ``dry_run``, apply) ``trigger`` on the projects of ``query`` or ``keys``
    (``lookup``: how a listed key is found, e.g. within a caller's districts)."""
    if (query is None) == (keys is None):
        raise InvalidInput("name the projects with either a filter (--where) or a list of keys (--keys-from)")
    actor = clean_text(actor, "actor")
    trigger = clean_text(trigger, "trigger")
    note = clean_note(note)
    if at is not None:
        # Rule 1 of the back-dating rules (not in the future) is about the date, not about a project:
        # bad input (exit 3) as for a single advance, not a refusal of every project (exit 5).
        from engine.backdating import check_at

        check_at(None, at, now)
    if keys is not None:
        keys = checked_keys(keys)
    batch = batch or uuid.uuid4().hex[:12]
    refusals: list[BulkRefusal] = []
    projects: list[Project] = []
    if query is not None:
        projects = service.status(query)
    else:
        for key in keys or ():
            try:
                projects.append((lookup or service.project)(key))
            except DongflowError as exc:  # the reason without the key (the refusal names it)
                refusals.append(BulkRefusal(key, getattr(exc, "reason", None) or exc.message))
    if len(projects) > MAX_PROJECTS:
        raise InvalidInput(f"{len(projects)} projects match; a bulk move takes at most {MAX_PROJECTS}")
    planned: list[tuple[str, Project, Event]] = []
    for project in projects:
        try:
            updated, event = service.planned_step(project, trigger, actor=actor, now=now, at=at, note=note)
        except DongflowError as exc:
            refusals.append(BulkRefusal(project.key, getattr(exc, "reason", None) or exc.message))
            continue
        planned.append((project.key, updated, replace(event, data={**event.data, "batch": batch})))
    moves = [BulkMove(p.key, e.from_state or "", p.state) for _, p, e in planned]
    total = len(planned) + len(refusals)
    if dry_run:
        return BulkResult(batch, trigger, True, moves, refusals)
    if not total:
        raise InvalidInput("no project matches: nothing to move")
    if refusals and (not partial or not planned):
        raise BulkRefused(trigger, refusals, total)
    skipped = set(service.store.save_batch(planned, skip_stale=partial)) if planned else set()
    if skipped:
        refusals += [BulkRefusal(k, "changed by someone else meanwhile; not moved") for k in sorted(skipped)]
        moves = [m for m in moves if m.key not in skipped]
    return BulkResult(batch, trigger, False, moves, refusals)
