"""The whole database as one JSON file, and back: for backups and for moving between SQLite and
PostgreSQL.

The file is one JSON document, written one row per line so that a dump of 100,000 projects (a
million events) is written and read back as a stream instead of being held in memory:

    {"dongflow_dump": {"format_version": 1, "schema_revision": "0002", "counts": {...}, ...},
    "tables": {
    "projects": [
    {"id": 1, "key": "2016-성동구-마장동", ...},
    ...
    ],
    ...
    }}

Every table of the schema is included (new tables are picked up from the metadata), with its ids,
so references between rows survive. A restore goes into an empty database only, in one
transaction: it either loads everything or changes nothing. A dump made at an older schema revision
is loaded at that revision and then upgraded.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import JSON, BigInteger, Date, Integer, String, Table, func, insert, select, text
from sqlalchemy.exc import IntegrityError

from engine.errors import DatabaseError, InvalidInput
from storage.db import SCHEMA_REVISION, Database
from storage.tables import metadata
from storage.types import UTCDateTime

FORMAT_VERSION = 1
BATCH = 5000


def _tables() -> list[Table]:
    return [t for t in metadata.sorted_tables]


def _encoder(table: Table) -> Callable[[Any], dict[str, Any]]:
    kinds = {c.name: _kind(c.type) for c in table.columns}

    def encode(row: Any) -> dict[str, Any]:
        out = {}
        for name, value in row._mapping.items():
            kind = kinds[name]
            if value is not None and kind in ("date", "datetime"):
                value = value.isoformat()
            out[name] = value
        return out

    return encode


def _decoder(table: Table, source: str) -> Callable[[dict[str, Any], int], dict[str, Any]]:
    """Checks each value of a row against its column (type, length, null) before it goes near the
    database: an edited dump is refused with its line, not stored as garbage (SQLite takes any type)
    or turned into a driver error."""
    columns = {c.name: c for c in table.columns}
    kinds = {c.name: _kind(c.type) for c in table.columns}
    required = [c.name for c in table.columns if not c.nullable and c.server_default is None and c.default is None]

    def decode(row: dict[str, Any], line: int) -> dict[str, Any]:
        unknown = set(row) - set(kinds)
        if unknown:
            raise InvalidInput(f"unknown column {sorted(unknown)[0]!r} in table {table.name}", file=source, line=line)
        missing = [name for name in required if name not in row]
        if missing:
            raise InvalidInput(f"{table.name}: the row has no {missing[0]}", file=source, line=line)
        out = {}
        for name, value in row.items():
            kind = kinds[name]
            if value is None:
                if not columns[name].nullable:
                    raise InvalidInput(f"{table.name}.{name} must not be null", file=source, line=line)
                out[name] = None
                continue
            try:
                value = _convert(kind, value, columns[name].type)
            except (TypeError, ValueError):
                shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
                raise InvalidInput(f"{table.name}.{name}: {shown} is not a valid {kind}", file=source, line=line) from None
            out[name] = value
        return out

    return decode


def _convert(kind: str, value: Any, type_: Any) -> Any:
    if kind in ("date", "datetime") and not isinstance(value, str):
        raise TypeError(value)
    if kind == "date":
        return dt.date.fromisoformat(value)
    if kind == "datetime":
        moment = dt.datetime.fromisoformat(value)
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.timezone.utc)
    if kind in ("integer", "biginteger"):
        bits = 63 if kind == "biginteger" else 31  # the ranges of PostgreSQL's integer and bigint
        if isinstance(value, bool) or not isinstance(value, int) or not -(2**bits) <= value < 2**bits:
            raise TypeError(value)
    if kind == "text":
        length = getattr(type_, "length", None)
        if not isinstance(value, str) or (length is not None and len(value) > length):
            raise ValueError(value)
    if kind == "object" and not isinstance(value, dict):
        raise TypeError(value)
    return value


def _kind(type_: Any) -> str:
    if isinstance(type_, UTCDateTime):
        return "datetime"
    if isinstance(type_, Date):
        return "date"
    if isinstance(type_, BigInteger):
        return "biginteger"
    if isinstance(type_, Integer):
        return "integer"
    if isinstance(type_, String):  # Text is a String without a length
        return "text"
    if isinstance(type_, JSON):  # dongflow's JSON columns all hold objects (facts, reached, data)
        return "object"
    return "plain"


def dump(
    db: Database,
    path: Path,
    now: dt.datetime,
    *,
    force: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, int]:
    """Write every table to ``path`` (atomically: a partial file never replaces a good one).

    ``progress(n, total)`` is told as each ``n`` more rows of ``total`` are written."""
    db.require_schema()
    if path.exists() and not force:
        raise InvalidInput("the file exists; choose another name or use --force", file=str(path))
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    counts: dict[str, int] = {}
    try:
        with db.translate_errors(), db.engine.connect() as conn:
            if not db.is_sqlite:
                # One consistent snapshot of every table.
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                for table in _tables():
                    counts[table.name] = int(conn.execute(select(func.count()).select_from(table)).scalar() or 0)
                header = {
                    "format_version": FORMAT_VERSION,
                    "schema_revision": SCHEMA_REVISION,
                    "created_at": now.isoformat(),
                    "source": db.dialect,
                    "counts": counts,
                }
                with open(tmp, "w", encoding="utf-8") as out:
                    out.write('{"dongflow_dump": ' + json.dumps(header, ensure_ascii=False) + ",\n")
                    out.write('"tables": {\n')
                    tables = _tables()
                    total = sum(counts.values())
                    tick = None if progress is None else (lambda n: progress(n, total))
                    for index, table in enumerate(tables):
                        _write_table(conn, table, out, tick)
                        out.write("],\n" if index < len(tables) - 1 else "]\n")
                    out.write("}}\n")
                    out.flush()
                    os.fsync(out.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise InvalidInput(f"cannot write: {exc.strerror or exc}", file=str(path)) from None
    finally:
        if tmp.exists():
            tmp.unlink()
    return counts


def _write_table(conn: Any, table: Table, out: TextIO, tick: Callable[[int], None] | None = None) -> None:
    encode = _encoder(table)
    out.write(json.dumps(table.name) + ": [\n")
    order = [c for c in table.primary_key.columns]
    first = True
    written = 0
    result = conn.execution_options(yield_per=BATCH).execute(select(table).order_by(*order))
    for row in result:
        if not first:
            out.write(",\n")
        out.write(json.dumps(encode(row), ensure_ascii=False, separators=(",", ":")))
        first = False
        written += 1
        if tick is not None and written % BATCH == 0:
            tick(BATCH)
    if tick is not None and written % BATCH:
        tick(written % BATCH)
    if not first:
        out.write("\n")


def read_header(path: Path) -> dict[str, Any]:
    source = str(path)
    try:
        with open(path, encoding="utf-8") as handle:
            first = handle.readline()
    except OSError as exc:
        raise InvalidInput(f"cannot read: {exc.strerror or exc}", file=source) from None
    except UnicodeDecodeError:
        raise InvalidInput("not a dongflow dump (not UTF-8 text)", file=source, line=1) from None
    prefix = '{"dongflow_dump": '
    if not first.startswith(prefix):
        raise InvalidInput("not a dongflow dump (no dongflow_dump header)", file=source, line=1)
    try:
        header = json.loads(first[len(prefix) :].rstrip().rstrip(","))
    except json.JSONDecodeError:
        raise InvalidInput("damaged dump header", file=source, line=1) from None
    if not isinstance(header, dict) or header.get("format_version") != FORMAT_VERSION:
        raise InvalidInput("dump format version not supported", file=source, line=1)
    return header


def _rows(path: Path) -> Iterator[tuple[str, int, dict[str, Any]]]:
    """(table, line, row) for every row, streaming; a damaged file raises InvalidInput with its line."""
    source = str(path)
    table: str | None = None
    ended = False
    with open(path, encoding="utf-8") as handle:
        for number, raw in enumerate(handle, start=1):
            line = raw.strip()
            if number == 1 or line == '"tables": {':
                continue
            if line == "}}":
                ended = True
                continue
            if table is None:
                if line.endswith(": ["):
                    try:
                        table = json.loads(line[:-3])
                    except json.JSONDecodeError:
                        table = None
                    if isinstance(table, str):
                        continue
                raise InvalidInput("damaged dump: expected a table name", file=source, line=number)
            if line in ("]", "],"):
                table = None
                continue
            try:
                row = json.loads(line.rstrip(","))
            except json.JSONDecodeError:
                raise InvalidInput("damaged dump: a row is not valid JSON", file=source, line=number) from None
            if not isinstance(row, dict):
                raise InvalidInput("damaged dump: a row is not an object", file=source, line=number)
            yield table, number, row
    if not ended:
        raise InvalidInput("the dump is incomplete (it does not end with }})", file=source)


def restore(db: Database, path: Path, progress: Callable[[int], None] | None = None) -> dict[str, int]:
    """Load a dump into an empty database, all or nothing; then upgrade it to this schema."""
    from storage.schema import upgrade

    source = str(path)
    header = read_header(path)
    revision = header.get("schema_revision")
    if not isinstance(revision, str) or revision > SCHEMA_REVISION:
        raise InvalidInput(
            f"the dump is from schema revision {revision}, newer than this dongflow ({SCHEMA_REVISION}); "
            "upgrade dongflow first",
            file=source,
            line=1,
        )
    tables = {t.name: t for t in _tables()}
    # First pass: the whole file must read cleanly before the database is touched at all.
    decoders = {name: _decoder(t, source) for name, t in tables.items()}
    seen = {name: 0 for name in tables}
    for name, line, row in _rows(path):
        if name not in tables:
            raise InvalidInput(f"unknown table {name!r}", file=source, line=line)
        decoders[name](row, line)
        seen[name] += 1
    expected = header.get("counts") or {}
    for name, n in expected.items():
        if seen.get(name, 0) != n:
            raise InvalidInput(f"the dump says {n} rows for {name} but holds {seen.get(name, 0)}", file=source)
    current = db.current_revision()
    if current is not None and current != revision:
        raise DatabaseError(
            f"{db.describe()} is at schema revision {current} but the dump is at {revision}; "
            "restore into a new, empty database"
        )
    try:
        counts = _load(db, path, tables, decoders, create_schema=current is None, revision=revision,
                       progress=progress)
    except IntegrityError as exc:
        # Rows that each look right but break a rule together (a repeated id, an event of a project
        # that is not in the file): an edited or damaged dump. The transaction, schema included, is undone.
        first = (str(exc.orig).strip().splitlines() or [type(exc.orig).__name__])[0]
        raise InvalidInput(f"the dump breaks a rule of the schema ({first}); nothing was restored", file=source) from None
    if revision != SCHEMA_REVISION:
        upgrade(db)
    return counts


def _load(
    db: Database,
    path: Path,
    tables: dict[str, Table],
    decoders: dict[str, Callable[[dict[str, Any], int], dict[str, Any]]],
    *,
    create_schema: bool,
    revision: str,
    progress: Callable[[int], None] | None,
) -> dict[str, int]:
    """Second pass: the schema (for an empty database) and every row, in one transaction."""
    from storage.schema import upgrade_on

    counts = {name: 0 for name in tables}
    with db.write(create=create_schema) as conn:
        if create_schema:
            upgrade_on(conn, revision)
        for table in tables.values():
            if conn.execute(select(func.count()).select_from(table)).scalar():
                raise DatabaseError(f"{db.describe()} is not empty (table {table.name} has rows); restore into an empty database")
        batch: list[dict[str, Any]] = []
        batch_table: str | None = None
        for name, line, row in _rows(path):
            if batch and name != batch_table:
                conn.execute(insert(tables[batch_table]), batch)  # type: ignore[index]
                batch = []
            batch_table = name
            batch.append(decoders[name](row, line))
            counts[name] += 1
            if len(batch) >= BATCH:
                conn.execute(insert(tables[name]), batch)
                if progress is not None:
                    progress(len(batch))
                batch = []
        if batch and batch_table is not None:
            conn.execute(insert(tables[batch_table]), batch)
            if progress is not None:
                progress(len(batch))
        if not db.is_sqlite:
            for table in tables.values():
                pk = list(table.primary_key.columns)
                if len(pk) == 1 and isinstance(pk[0].type, Integer) and pk[0].autoincrement:
                    conn.execute(
                        text(
                            f"SELECT setval(pg_get_serial_sequence('{table.name}', '{pk[0].name}'), "
                            f"COALESCE((SELECT MAX({pk[0].name}) FROM {table.name}), 0) + 1, false)"
                        )
                    )
    return counts


def table_rows(db: Database) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table, encoded as in a dump (for comparing databases in tests and checks)."""
    out: dict[str, list[dict[str, Any]]] = {}
    with db.read() as conn:
        for table in _tables():
            encode = _encoder(table)
            order = list(table.primary_key.columns)
            out[table.name] = [encode(r) for r in conn.execute(select(table).order_by(*order))]
    return out
