"""Workflow versions in the database (schema 0009_workflows): publishing, and the catalog every
command reads, so that no read needs a local folder.

The catalog is the stored versions merged with the shipped files (and any ``--workflows`` folder):
for the same id and version the stored content wins over a shipped file; a local file whose content
differs from the stored one is an error (exit 6). Loading it costs one small query: a stored version
whose content equals a file's reuses that file's (cached) parse, and any other is parsed once per
content hash and kept in the user's cache folder (storage/cache.py), like parsed files.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Column, Connection, Integer, String, Text, UniqueConstraint, and_, select
from sqlmodel import Field, SQLModel

from engine.definition import Workflow
from engine.errors import SchemaOutdated
from engine.workflow_versions import LOCAL, STORED, WorkflowSource, WorkflowVersionConflict
from storage import cache
from storage.types import UTCDateTime

if TYPE_CHECKING:
    from engine.catalog import Catalog
    from engine.project import Event, Project
    from storage.db import Database


class WorkflowVersionRow(SQLModel, table=True):
    """One published workflow version: its validated source text and the SHA-256 of it."""

    __tablename__ = "workflow_versions"
    __table_args__ = (UniqueConstraint("workflow_id", "version", name="uq_workflow_versions_workflow_version"),)

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    workflow_id: str = Field(sa_column=Column(String(100), nullable=False))
    version: int = Field(sa_column=Column(Integer, nullable=False))
    source: str = Field(sa_column=Column(Text, nullable=False))
    content_hash: str = Field(sa_column=Column(String(64), nullable=False))
    published_at: dt.datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    published_by: str = Field(sa_column=Column(String(200), nullable=False))


W = WorkflowVersionRow.__table__  # type: ignore[attr-defined]


def _row_source(r: Any) -> WorkflowSource:
    return WorkflowSource(r.workflow_id, r.version, r.source, r.content_hash, STORED, None, r.published_at,
                          r.published_by)


READ_ALL_SQL = ("SELECT workflow_id, version, source, content_hash, published_at, published_by "
                "FROM workflow_versions ORDER BY workflow_id, version")
"""Every stored version, as driver SQL: every command that opens the database runs it, and compiling
the equivalent select (and processing its datetime column) in a new process cost more than the query."""


def _moment(value: Any) -> dt.datetime:
    """What ``UTCDateTime`` returns for a stored value (SQLite: naive UTC text; PostgreSQL: aware)."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value.astimezone(dt.timezone.utc)


def read_stored(conn: Connection, ref: tuple[str, int] | None = None) -> list[WorkflowSource]:
    if ref is None:
        return [WorkflowSource(wid, version, text, digest, STORED, None, _moment(at), by)
                for wid, version, text, digest, at, by in conn.exec_driver_sql(READ_ALL_SQL)]
    stmt = select(W).where(and_(W.c.workflow_id == ref[0], W.c.version == ref[1]))
    return [_row_source(r) for r in conn.execute(stmt)]


def store_versions(conn: Connection, sources: Iterable[WorkflowSource]) -> list[WorkflowSource]:
    """Store each version not stored yet (inside the caller's transaction), as published at its
    ``published_at`` by its ``published_by``; returns the newly stored ones.

    One already stored with the same content is left as it is; with other content it is a
    :class:`WorkflowVersionConflict` (the caller's transaction then writes nothing)."""
    stored: list[WorkflowSource] = []
    for source in sources:
        if source.published_at is None or not source.published_by:
            raise ValueError(f"{source.workflow_id}@{source.version}: who publishes it, and when?")
        values = {"workflow_id": source.workflow_id, "version": source.version, "source": source.text,
                  "content_hash": source.content_hash, "published_at": source.published_at,
                  "published_by": source.published_by}
        if conn.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        # Two writers storing the same version at once: the second waits for the first and inserts nothing.
        inserted = conn.execute(insert(W).values(values).on_conflict_do_nothing(
            index_elements=["workflow_id", "version"]).returning(W.c.id)).first()
        if inserted is not None:
            stored.append(replace(source, origin=STORED))
            continue
        existing = read_stored(conn, source.ref)[0]
        if existing.content_hash != source.content_hash:
            raise WorkflowVersionConflict(source.workflow_id, source.version, source.file or "this workflow",
                                          existing.content_hash, source.content_hash)
    return stored


def missing_versions(conn: Connection) -> list[tuple[str, int, int]]:
    """(workflow, version, projects) of the versions projects use that are not stored."""
    from sqlalchemy import func

    from storage.repository import P

    stmt = (select(P.c.workflow_id, P.c.workflow_version, func.count())
            .select_from(P.outerjoin(W, and_(W.c.workflow_id == P.c.workflow_id, W.c.version == P.c.workflow_version)))
            .where(W.c.id.is_(None)).group_by(P.c.workflow_id, P.c.workflow_version)
            .order_by(P.c.workflow_id, P.c.workflow_version))
    return [(a, b, c) for a, b, c in conn.execute(stmt)]


# ------------------------------------------------------------------------------------------------
# The catalog: stored versions merged with the shipped (and local) files


class StoredParser:
    """Stored source text -> Workflow, cached by content hash in the user's cache folder."""

    def __init__(self, folder: Path | None = None) -> None:
        from storage.workflow_cache import LOADER_MODULES, cache_dir, cached_workflow

        self._cached = cached_workflow

        self.folder = folder or cache_dir()
        self._stamp = cache.code_stamp(*LOADER_MODULES)

    def __call__(self, source: WorkflowSource) -> Workflow:
        name = f"database:{source.workflow_id}@{source.version}"
        entry = cache.entry(self.folder, f"stored|{source.content_hash}|{name}|{self._stamp}", ".pickle")

        def parse() -> Workflow:
            from engine.errors import WorkflowDefinitionError
            from engine.loader import load_text

            workflow = load_text(source.text, name)
            if (workflow.id, workflow.version) != source.ref:
                raise WorkflowDefinitionError(
                    f"the stored text of {source.workflow_id} version {source.version} defines "
                    f"{workflow.id} version {workflow.version}", file=name)
            return workflow

        return self._cached(entry, parse)


def merge_stored(catalog: Catalog, stored: Sequence[WorkflowSource], parse: Any) -> None:
    """Put the stored versions into a catalog of files (see the module's docstring for the rules)."""
    for source in stored:
        held = catalog.source(source.ref)
        if held is not None and held.content_hash == source.content_hash:
            catalog.set_source(replace(source, file=held.file))  # the file's parse; now known as published
        elif held is not None and held.origin == LOCAL:
            raise WorkflowVersionConflict(
                source.workflow_id, source.version, held.file or "a local workflow file", source.content_hash,
                held.content_hash, advice="give your file a higher version (the stored one is what projects use)")
        else:  # not a file here, or a shipped file that differs: the stored content is the version
            catalog.set_source(source, parse(source))


def load_catalog(db: Database | None, dirs: Sequence[str | Path] = ()) -> Catalog:
    """The shipped workflows and ``dirs`` merged with the database's stored versions (when the
    database exists and has this schema); a version published later is fetched when first asked for."""
    from engine.catalog import Catalog
    from storage.workflow_cache import CachedLoader
    from workflows import SHIPPED_DIR

    catalog = Catalog.from_dirs([SHIPPED_DIR, *dirs], CachedLoader())
    if db is None or not db.exists():
        return catalog
    try:
        with db.read() as conn:
            stored = read_stored(conn)
    except SchemaOutdated:
        return catalog  # no schema, or an older one: the command that needs it says so
    parser: list[StoredParser] = []

    def parse(source: WorkflowSource) -> Workflow:  # the parser (its code stamp) only when needed
        if not parser:
            parser.append(StoredParser())
        return parser[0](source)

    merge_stored(catalog, stored, parse)

    def fetch(workflow_id: str, version: int) -> Workflow | None:
        if not 0 < version < 2**31:  # beyond the version column: none such (not a driver overflow)
            return None
        with db.read() as conn:
            found = read_stored(conn, (workflow_id, version))
        if not found:
            return None
        workflow = parse(found[0])
        catalog.set_source(found[0], workflow)
        return workflow

    catalog.on_miss = fetch
    catalog.refresh_hook = lambda: refresh(catalog, db)
    return catalog


def refresh(catalog: Catalog, db: Database) -> None:
    """Add the versions stored since the catalog was loaded (a long-running server's listing)."""
    with db.read() as conn:
        stored = read_stored(conn)
    fresh = [s for s in stored if (catalog.source(s.ref) is None or not catalog.source(s.ref).published)]  # type: ignore[union-attr]
    if fresh:
        merge_stored(catalog, fresh, StoredParser())


class SqlWorkflowWriter:
    """Publishing and migrating (engine.workflow_migration.MigrationWriter) on one database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def publish(self, source: WorkflowSource) -> tuple[WorkflowSource, bool]:
        """(the stored version, True), or (the stored version, False) when that content is stored
        already. Other content for the same id and version: WorkflowVersionConflict, nothing written."""
        with self.db.write() as conn:
            new = store_versions(conn, [source])
            if new:
                return new[0], True
            return read_stored(conn, source.ref)[0], False

    def apply_migration(self, moves: Sequence[tuple[Project, Event]], workflows: Sequence[WorkflowSource]) -> None:
        """One transaction: the target version if not stored, then each project (versioned UPDATE, as
        advance does) and its event. A project changed since it was read: ChangedMeanwhile, nothing written."""
        from sqlalchemy import insert, update
        from sqlalchemy.exc import IntegrityError

        from engine.errors import ChangedMeanwhile
        from storage.repository import E, P, event_values, project_values

        key = None
        try:
            with self.db.write() as conn:
                store_versions(conn, workflows)
                for project, event in moves:
                    key = project.key
                    values = {k: v for k, v in project_values(project).items() if k not in ("key", "created_at")}
                    found = conn.execute(update(P).where(P.c.key == project.key, P.c.version == project.version - 1)
                                         .values(values).returning(P.c.id)).first()
                    if found is None:
                        raise ChangedMeanwhile(project.key)
                    conn.execute(insert(E).values(event_values(event, found.id)))
        except IntegrityError:
            raise ChangedMeanwhile(key or "a project") from None
