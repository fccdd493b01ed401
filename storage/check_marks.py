"""The incremental nightly check: what each project's last check found, and until when it holds.

The alert run records, beside the alerts, one *mark* per project it checked (schema 0014): the
project's version then, how many findings it had, and the day they may next change by the passing of
time alone (engine.recheck.recheck_on). The next run assesses only the projects that need it:

* projects without a mark (new, or never checked);
* projects whose version changed (every event bumps it: a step, a fact, an edit, a migration, a
  retirement);
* projects whose marked day has come;
* projects whose alerts the lifecycle may treat differently today than on the last run's day
  (:func:`_lifecycle_due`): an alert recorded for a later day by a run ahead of time becomes theirs
  to resolve, and an alert resolved on or after the last run's day may be reopened (only a later
  day's check reopens what was resolved).

The marks hold only while the rules that made them hold: the *basis* (a hash of the workflow
versions, the durations each planner uses, the blackout windows, the holidays package, the language,
the time zone and the code of engine/ and storage/) is stored with them, and any change of it, or a
check for an earlier day than the last one, makes the next run a full one that rewrites every mark.
Marks are written in the same transaction as the alerts they stand for, and only by a real run (never
by a dry run), so a mark's findings are always recorded as alerts: an unchanged project that is not
due a look has nothing new to alert and nothing to resolve or reopen, and the lifecycle reconciles
only the alerts of the projects in the scan's scope.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, insert, or_, select, update

from engine.alerting import ACTIVE, CLOSED_RESOLVED
from engine.deadlines import Finding
from engine.heap import cyclic_gc_paused
from engine.monitor import DeadlineBook
from engine.recheck import recheck_on
from engine.tracked import TrackedRow
from storage.repository import P
from storage.tables import AlertEventRow, AlertRow, CheckBasisRow, CheckMarkRow
from storage.tracking import streamed, tracked_row, tracked_select

CHECK = "alerts"
"""The name of the basis row of the alert run's marks."""
BATCH = 5000
"""Marks written per INSERT."""


M = CheckMarkRow.__table__  # type: ignore[attr-defined]
B = CheckBasisRow.__table__  # type: ignore[attr-defined]
A = AlertRow.__table__  # type: ignore[attr-defined]
E = AlertEventRow.__table__  # type: ignore[attr-defined]

_CODE_PACKAGES = ("engine", "storage")
"""The packages whose code the findings, the marks and the lifecycle of the projects assessed come
from (the rules, the workflows' loader, the rows read, this module): every module file of them is
hashed into the basis, so the first run after an upgrade checks every project again."""


@dataclass
class Scan:
    """One check's result. ``found`` holds the findings of the projects assessed this time; with
    ``scope`` None every open project was assessed, otherwise ``scope`` names the projects whose
    alerts this scan speaks for (those assessed, and those that left the check since the last run)."""

    scanned: int
    """Open projects in the check (assessed or unchanged)."""
    found: list[tuple[TrackedRow, Finding]]
    assessed: int
    total: int
    """Findings of every open project: ``len(found)`` plus the unchanged projects' marked ones."""
    scope: frozenset[int] | None = None


def basis(book: DeadlineBook, lang: str) -> str:
    """A hash of everything besides a project and the date that its findings depend on."""
    h = hashlib.sha256()
    h.update(f"{lang}|{book.tz.key}|".encode())
    for wf in book.catalog.all():
        source = book.catalog.source(wf)
        h.update(f"{wf.id}@{wf.version}:{source.content_hash if source is not None else repr(wf)}|".encode())
        days = book.planner(wf.id, wf.version).durations.days
        h.update(repr(sorted(days.items())).encode())
    h.update(repr(book.blackouts.windows).encode())
    from importlib import metadata  # 10 ms to import: only when an alert run checks

    try:
        h.update(metadata.version("holidays").encode())
    except metadata.PackageNotFoundError:  # pragma: no cover - a dependency
        pass
    for path in code_files():
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def code_files() -> list[Path]:
    """The module files of :data:`_CODE_PACKAGES`, in a fixed order (reading them takes ~3 ms)."""
    out: list[Path] = []
    for package in _CODE_PACKAGES:
        folder = Path(importlib.import_module(package).__file__ or "").parent
        out += sorted(folder.glob("*.py"))
    return out


def scan(
    conn: Any,
    book: DeadlineBook,
    as_of: dt.date,
    lang: str,
    *,
    skip_states: Sequence[str],
    closed_before: dt.datetime,
    write: bool,
) -> Scan:
    """The check as of ``as_of`` (today's record, not a rebuilt past), incremental when the marks
    allow it; with ``write``, the marks are brought up to date in ``conn``'s transaction."""
    stamp = basis(book, lang)
    saved = conn.execute(select(B.c.basis, B.c.as_of).where(B.c.name == CHECK)).first()
    full = saved is None or saved.basis != stamp or _day(saved.as_of) > as_of
    stmt = tracked_select(skip_states=skip_states, closed_before=closed_before).add_columns(P.c.version)
    left: set[int] = set()
    lifecycle: set[int] = set()
    if not full:
        # Marks that no longer hold, read before the projects are: a project changed while the check
        # reads them (PostgreSQL reads each statement's own snapshot) is then either assessed or left
        # with its old mark for the next run, never taken as gone and its alerts resolved.
        left = {pid for (pid,) in conn.execute(
            select(M.c.project_id).select_from(M.outerjoin(P, P.c.id == M.c.project_id))
            .where(or_(P.c.id.is_(None), P.c.version != M.c.version, M.c.recheck_on <= as_of))
        )}
        since = _day(saved.as_of)
        lifecycle = {pid for (pid,) in conn.execute(_lifecycle_due(since, as_of))}
        stmt = stmt.outerjoin(M, M.c.project_id == P.c.id).where(
            or_(M.c.project_id.is_(None), M.c.version != P.c.version, M.c.recheck_on <= as_of,
                P.c.id.in_(_lifecycle_due(since, as_of))))
    found: list[tuple[TrackedRow, Finding]] = []
    marks: list[dict[str, Any]] = []
    count = 0
    if full and write:
        conn.execute(delete(M))
    for row, version, findings, until in _assessed(conn, stmt, book, as_of, lang):
        found.extend((row, f) for f in findings)
        marks.append({"project_id": row.id, "version": version, "recheck_on": until, "findings": len(findings)})
        count += 1
        if full and len(marks) >= BATCH:  # a full check's 100k marks are written as they come, not held
            if write:
                _insert(conn, marks)
            marks = []
    if full:
        if write:
            _insert(conn, marks)
            _save_basis(conn, saved is not None, stamp, as_of)
        return Scan(count, found, count, len(found), None)
    assessed = {m["project_id"] for m in marks}
    # Marks that no longer hold, or alerts due a look, of projects not assessed: they left the check
    # (retired, or closed: an event, so a new version; or closed after the marked day, so due again by
    # now). They have nothing to alert any more, and their alerts are reconciled too.
    stale = sorted(assessed | left | lifecycle)
    kept_count, kept_findings = conn.execute(
        select(func.count(), func.coalesce(func.sum(M.c.findings), 0))
    ).one()
    stale_count, stale_findings = _marked(conn, stale)
    # int(): PostgreSQL's SUM of integers is a numeric (Decimal).
    scanned = int(kept_count) - stale_count + len(marks)
    total = int(kept_findings) - stale_findings + len(found)
    if write:
        for start in range(0, len(stale), 900):
            conn.execute(delete(M).where(M.c.project_id.in_(stale[start:start + 900])))
        _insert(conn, marks)
        _save_basis(conn, True, stamp, as_of)
    return Scan(scanned, found, len(marks), total, frozenset(stale))


def _lifecycle_due(since: dt.date, as_of: dt.date) -> Any:
    """The projects whose alerts a full check as of ``as_of`` may change although the projects'
    findings are those of the last run (as of ``since``): the lifecycle itself looks at the days.

    * an active alert recorded for a day after ``since`` and by ``as_of`` (a real run ahead of time
      recorded it; a full check resolves or supersedes only alerts of the as-of day or earlier);
    * a resolved alert resolved on a day from ``since`` to before ``as_of`` (a check reopens what it
      finds again only on a later day than the one it was resolved on: a project whose target moved
      and moved back between two runs of one day is found again that day, and reopened the next).

    Only alert runs write these, so the set is what it was when the run began."""
    ahead = select(A.c.project_id).where(A.c.state.in_(ACTIVE),
                                         A.c.as_of > since, A.c.as_of <= as_of)
    resolved = (select(A.c.project_id).select_from(A.join(E, E.c.alert_id == A.c.id))
                .where(A.c.state == CLOSED_RESOLVED, E.c.kind == "resolved", E.c.as_of >= since, E.c.as_of < as_of))
    return ahead.union(resolved)


def forget(conn: Any) -> None:
    """Drop every mark: the next real run checks everything (after a check of a past date)."""
    conn.execute(delete(B).where(B.c.name == CHECK))
    conn.execute(delete(M))


def _assessed(conn: Any, stmt: Any, book: DeadlineBook, as_of: dt.date,
              lang: str) -> Iterator[tuple[TrackedRow, int, list[Finding], dt.date]]:
    days: dict[Any, dt.date] = {}
    planners: dict[tuple[str, int], Any] = {}
    with cyclic_gc_paused():
        for r in conn.execute(stmt, execution_options=streamed(conn)):
            row = tracked_row(r, days, parse=True)
            ref = (row.workflow_id, row.workflow_version)
            planner = planners.get(ref)
            if planner is None:
                planner = planners[ref] = book.planner(*ref)
            off = book.off(row)
            yield row, r[-1], planner.findings(row, as_of, lang, off), recheck_on(planner, row, as_of, off)


def _marked(conn: Any, ids: list[int]) -> tuple[int, int]:
    count = findings = 0
    for start in range(0, len(ids), 900):
        n, f = conn.execute(select(func.count(), func.coalesce(func.sum(M.c.findings), 0))
                            .where(M.c.project_id.in_(ids[start:start + 900]))).one()
        count += int(n)
        findings += int(f)
    return count, findings


def _insert(conn: Any, marks: list[dict[str, Any]]) -> None:
    for start in range(0, len(marks), BATCH):
        conn.execute(insert(M), marks[start:start + BATCH])


def _save_basis(conn: Any, exists: bool, stamp: str, as_of: dt.date) -> None:
    if exists:
        conn.execute(update(B).where(B.c.name == CHECK).values(basis=stamp, as_of=as_of))
    else:
        conn.execute(insert(B).values(name=CHECK, basis=stamp, as_of=as_of))


def _day(value: Any) -> dt.date:
    return dt.date.fromisoformat(value) if isinstance(value, str) else value
