"""Projects and events in SQL: rows <-> domain objects, and SQL errors -> dongflow errors.

Writes use SQLAlchemy Core on the SQLModel tables (a third faster than the ORM for the hot path of
one versioned UPDATE plus one INSERT). The optimistic lock is the ``WHERE version = :expected`` of
that UPDATE; the unique (project, seq) of events is a second guard, so a lost race can neither
overwrite a change nor write a second event for the same step.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Row, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from engine.errors import AlreadyExists, ChangedMeanwhile, DatabaseError, ProjectNotFound, SchemaOutdated
from engine.ports import ProjectQuery
from engine.project import Event, Project
from engine.workflow_versions import WorkflowSource
from storage.db import SCHEMA_REVISION, Database
from storage.tables import EventRow, ProjectRow

if TYPE_CHECKING:
    from storage.hotpath import HotPath

P = ProjectRow.__table__  # type: ignore[attr-defined]
E = EventRow.__table__  # type: ignore[attr-defined]


def where_projects(
    stmt: Any,
    *,
    key: str | None = None,
    gu: str | None = None,
    districts: frozenset[str] | None = None,
    year: int | None = None,
    state: str | None = None,
    workflow_id: str | None = None,
) -> Any:
    """``stmt`` restricted to the projects these filters name (None: no restriction; ``districts``:
    a caller's read scope). The one place every project reader (listings, the deadline rows, the
    as-of views) turns filters into SQL."""
    if key is not None:
        stmt = stmt.where(P.c.key == key)
    if gu is not None:
        stmt = stmt.where(P.c.gu == gu)
    if districts is not None:
        stmt = stmt.where(P.c.gu.in_(sorted(districts)))
    if year is not None:
        stmt = stmt.where(P.c.year == year)
    if state is not None:
        stmt = stmt.where(P.c.state == state)
    if workflow_id is not None:
        stmt = stmt.where(P.c.workflow_id == workflow_id)
    return stmt


BATCH = 2000


def project_values(p: Project) -> dict[str, Any]:
    return {
        "key": p.key,
        "gu": p.gu,
        "dong": p.dong,
        "year": p.year,
        "workflow_id": p.workflow_id,
        "workflow_version": p.workflow_version,
        "state": p.state,
        "previous_state": p.previous_state,
        "target_date": p.target,
        "entered_at": p.entered_at,
        "facts": dict(p.facts),
        "reached": {state: at.astimezone(dt.timezone.utc).isoformat() for state, at in p.reached.items()},
        "created_at": p.created_at or p.entered_at,
        "version": p.version,
        "retired_at": p.retired_at,
    }


def event_values(e: Event, project_id: int) -> dict[str, Any]:
    return {
        "project_id": project_id,
        "seq": e.seq,
        "kind": e.kind,
        "trigger": e.trigger,
        "from_state": e.from_state,
        "to_state": e.to_state,
        "actor": e.actor,
        "at": e.at,
        "recorded_at": e.recorded_at or e.at,
        "note": e.note,
        "data": dict(e.data),
    }


def row_to_project(row: Row[Any] | Any) -> Project:
    m = row._mapping
    return Project(
        key=m["key"],
        gu=m["gu"],
        dong=m["dong"],
        year=m["year"],
        workflow_id=m["workflow_id"],
        workflow_version=m["workflow_version"],
        state=m["state"],
        previous_state=m["previous_state"],
        target=m["target_date"],
        entered_at=m["entered_at"],
        facts=dict(m["facts"] or {}),
        reached={state: _utc(at) for state, at in (m["reached"] or {}).items()},
        version=m["version"],
        created_at=m["created_at"],
        retired_at=m.get("retired_at"),
        id=m.get("id"),
    )


def row_to_event(row: Row[Any] | Any, key: str) -> Event:
    m = row._mapping
    return Event(
        key=key,
        seq=m["seq"],
        kind=m["kind"],
        trigger=m["trigger"],
        from_state=m["from_state"],
        to_state=m["to_state"],
        actor=m["actor"],
        at=m["at"],
        recorded_at=m["recorded_at"],
        note=m["note"],
        data=dict(m["data"] or {}),
    )


def _utc(text: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


class SqlProjectStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    @cached_property
    def _hot(self) -> HotPath:
        from storage.hotpath import HotPath

        if not self.db.exists():  # a SQLite file that is not there must not be created by a read
            raise SchemaOutdated(None, SCHEMA_REVISION)
        return HotPath(self.db)

    def get(self, key: str) -> Project:
        return self._hot.get(key)

    def add(
        self,
        items: Sequence[tuple[Project, Sequence[Event]]],
        progress: Callable[[int], None] | None = None,
        workflows: Sequence[WorkflowSource] = (),
    ) -> None:
        for project, events in items:
            if [e.seq for e in events] != list(range(1, project.version + 1)):
                raise ValueError(
                    f"events of {project.key} are numbered {[e.seq for e in events]}, "
                    f"not 1..{project.version} (its version)"
                )
        try:
            with self.db.write() as conn:
                if workflows:
                    from storage.workflow_store import store_versions

                    store_versions(conn, workflows)
                for start in range(0, len(items), BATCH):
                    batch = items[start : start + BATCH]
                    self._insert_batch(conn, batch)
                    if progress is not None:
                        progress(len(batch))
        except IntegrityError:
            taken = self.existing_keys([p.key for p, _ in items])
            what = f"project {sorted(taken)[0]}" if taken else "one of these projects"
            raise AlreadyExists(what) from None

    def _insert_batch(self, conn: Connection, batch: Sequence[tuple[Project, Sequence[Event]]]) -> None:
        # The driver's executemany with values converted as the column types would (storage/hotpath):
        # SQLAlchemy's per-parameter processing was a third of a 100k import. Then the new ids by key
        # (an order-keeping INSERT ... RETURNING cannot be batched on SQLite).
        self._hot.insert_many(
            conn,
            [project_values(p) for p, _ in batch],
            lambda ids: [event_values(e, ids[p.key]) for p, evs in batch for e in evs],
        )

    def save(self, project: Project, event: Event) -> None:
        if event.seq != project.version:
            # The event's seq is the version it creates; anything else would leave a gap in the history.
            raise ValueError(f"event {event.seq} of {project.key} does not match its new version {project.version}")
        try:
            self._hot.save(project_values(project), event_values(event, 0), project.key, project.version - 1)
        except IntegrityError:
            raise ChangedMeanwhile(project.key) from None

    def save_batch(
        self, items: Sequence[tuple[str, Project, Event]], *, skip_stale: bool = False
    ) -> list[str]:
        """Store several changed projects and their events in one transaction (a bulk move, or one
        project whose key changes): each item is (the key it had, the project, its event).

        Each UPDATE is versioned like :meth:`save`. A project changed meanwhile raises
        ChangedMeanwhile and nothing is stored, unless ``skip_stale``: then it is left alone, the
        others are stored, and its key is returned. A new key already taken raises AlreadyExists.
        """
        skipped: list[str] = []
        columns = [c.name for c in P.columns if c.name not in ("id", "created_at")]
        try:
            with self.db.write() as conn:
                for old_key, project, event in items:
                    if event.seq != project.version:
                        raise ValueError(f"event {event.seq} of {project.key} does not match version {project.version}")
                    values = project_values(project)
                    found = conn.execute(
                        update(P)
                        .where(P.c.key == old_key, P.c.version == project.version - 1)
                        .values({c: values[c] for c in columns})
                        .returning(P.c.id)
                    ).first()
                    if found is None:
                        if conn.execute(select(P.c.id).where(P.c.key == old_key)).first() is None:
                            raise ProjectNotFound(old_key)
                        if skip_stale:
                            skipped.append(old_key)
                            continue
                        raise ChangedMeanwhile(old_key)
                    conn.execute(insert(E).values(event_values(event, found.id)))
                    if project.key != old_key:  # a project's blackout windows name it by key: they follow it
                        from engine.blackouts import PROJECT
                        from storage.planning import B

                        conn.execute(update(B).where(B.c.scope == PROJECT, B.c.target == old_key)
                                     .values(target=project.key))
        except IntegrityError:
            renamed = [p.key for old, p, _ in items if p.key != old]
            if renamed and self.existing_keys(renamed):
                raise AlreadyExists(f"project {sorted(self.existing_keys(renamed))[0]}", field="key") from None
            raise ChangedMeanwhile(items[0][1].key if len(items) == 1 else "one of the projects") from None
        return skipped

    def events(self, key: str) -> list[Event]:
        with self.db.read() as conn:
            found = conn.execute(select(P.c.id, P.c.version).where(P.c.key == key)).first()
            if found is None:
                raise ProjectNotFound(key)
            rows = conn.execute(select(E).where(E.c.project_id == found.id).order_by(E.c.seq)).all()
        if [r.seq for r in rows] != list(range(1, found.version + 1)):
            # Never written like this (an event per version, in one transaction with it): the database
            # lost pages, and a history shown now would silently be short.
            raise DatabaseError(
                f"{self.db.describe()} is damaged: project {key} is at version {found.version} "
                f"but {len(rows)} of its events can be read"
            )
        return [row_to_event(r, key) for r in rows]

    def _filtered(self, stmt: Any, query: ProjectQuery) -> Any:
        stmt = stmt.where(P.c.retired_at.is_(None))  # retired projects are in no listing
        return where_projects(stmt, key=query.key, gu=query.gu, districts=query.districts, year=query.year,
                              state=query.state, workflow_id=query.workflow_id)

    def find(self, query: ProjectQuery) -> list[Project]:
        stmt = self._filtered(select(P), query).order_by(P.c.key)
        if query.offset:
            stmt = stmt.offset(query.offset)
        if query.limit is not None:
            stmt = stmt.limit(query.limit)
        with self.db.read() as conn:
            return [row_to_project(r) for r in conn.execute(stmt)]

    def find_as_of(self, query: ProjectQuery, cutoff: dt.datetime) -> list[Project]:
        from storage.asof import find_as_of

        with self.db.read() as conn:
            return find_as_of(conn, query, cutoff)

    def existing_keys(self, keys: Sequence[str]) -> set[str]:
        found: set[str] = set()
        with self.db.read() as conn:
            for start in range(0, len(keys), 900):
                chunk = list(keys[start : start + 900])
                found.update(conn.execute(select(P.c.key).where(P.c.key.in_(chunk))).scalars())
        return found

    def renamed_to(self, key: str) -> str | None:
        """The key now of the project whose ``edited`` event changed ``key`` (the latest recorded, if
        several projects had it; a project renamed again is found under its latest key: the event
        belongs to the project, whatever it is called now). Only asked after a key was not found."""
        from engine.corrections import EDITED

        old_key = E.c.data[("old", "key")].as_string()
        stmt = (select(P.c.key).join(E, E.c.project_id == P.c.id)
                .where(E.c.kind == EDITED, old_key == key)
                .order_by(E.c.recorded_at.desc(), E.c.id.desc()).limit(1))
        with self.db.read() as conn:
            return conn.execute(stmt).scalar()

    def count(self, query: ProjectQuery | None = None) -> int:
        stmt = select(func.count()).select_from(P)
        if query is not None:
            stmt = self._filtered(stmt, query)
        with self.db.read() as conn:
            return int(conn.execute(stmt).scalar() or 0)

    def all_histories(self) -> Iterable[tuple[Project, list[Event]]]:
        """Every project with its events (for verification); streams project by project."""
        with self.db.read() as conn:
            projects = {r.id: row_to_project(r) for r in conn.execute(select(P))}
            by_project: dict[int, list[Event]] = {pid: [] for pid in projects}
            for r in conn.execute(select(E).order_by(E.c.project_id, E.c.seq)):
                by_project[r.project_id].append(row_to_event(r, projects[r.project_id].key))
        for pid, project in projects.items():
            yield project, by_project[pid]
