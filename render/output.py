"""The one writer of listings: a terminal table, a JSON array, or JSON Lines.

Every listing command takes the same three options (``--json``, ``--jsonl``, ``--pretty``) through
:func:`listing_options`, and writes its rows through :class:`Listing`. Rows are plain dicts; a row
that concerns a project starts with the project's fields (:func:`project_fields`: ``key``, ``gu``,
``dong``, ``year``, ``workflow``, ``state``, ``entered_at``), so every listing can be joined and
filtered the same way by scripts.

Machine output is streamed: rows are encoded in batches by the C JSON encoder (compact: no spaces;
``--pretty`` indents, which needs the slower pure-Python encoder) and written as they come, so a
400k-row ``overdue --json`` never holds the whole text in memory.

Adopting it in a new listing command::

    from render.output import listing_options, project_fields

    @click.command()
    @listing_options                      # adds --json / --jsonl / --pretty, passes ``listing``
    @app_options
    @pass_app
    def things(app, listing, ...):
        rows = ({**project_fields(p, app.tz), "what": ...} for p in ...)
        if listing.machine:
            listing.write(rows)           # streamed JSON array or JSON Lines on stdout
            return
        ...                               # the terminal table as before

Output files: :func:`format_for_suffix` maps a file's suffix to a format and refuses one that names
no supported format (``report.pdf``), instead of silently writing something else.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import click

from engine.errors import InvalidInput

JSON, JSONL, TABLE = "json", "jsonl", "table"
BATCH = 2000
"""Rows encoded per call of the C encoder (one call per row costs a third more at 400k rows)."""

PROJECT_FIELDS = ("key", "gu", "dong", "year", "workflow", "state", "entered_at")
"""The fields every listing row that concerns a project starts with, in this order."""


def _default(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, Mapping):
        return dict(value)
    return str(value)


_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=_default)


def moment(value: dt.datetime | None, tz: Any) -> str | None:
    """An instant as ISO 8601 text in the user's time zone (None stays None)."""
    return None if value is None else value.astimezone(tz).isoformat()


def project_fields(p: Any, tz: Any) -> dict[str, Any]:
    """The listing contract's project fields of anything with ``key, gu, dong, year, workflow_id,
    state, entered_at`` (a Project, a tracked row)."""
    return {
        "key": p.key,
        "gu": p.gu,
        "dong": p.dong,
        "year": p.year,
        "workflow": p.workflow_id,
        "state": p.state,
        "entered_at": moment(p.entered_at, tz),
    }


@dataclass(frozen=True)
class Listing:
    """How a listing is written: ``fmt`` is ``table``, ``json`` or ``jsonl``."""

    fmt: str = TABLE
    pretty: bool = False
    stream: IO[str] | None = None

    @property
    def machine(self) -> bool:
        return self.fmt in (JSON, JSONL)

    def write(self, rows: Iterable[Mapping[str, Any]]) -> int:
        """Write ``rows`` as a JSON array (``json``) or one object per line (``jsonl``); returns the count."""
        out = self.stream or sys.stdout
        write = out.write
        count = 0
        if self.fmt == JSONL:
            for batch in _batches(rows):
                count += len(batch)
                write("\n".join(map(_COMPACT.encode, batch)))
                write("\n")
        elif self.pretty:
            encoder = json.JSONEncoder(ensure_ascii=False, indent=2, default=_default)
            write("[")
            for row in rows:
                write(",\n  " if count else "\n  ")
                write(encoder.encode(row).replace("\n", "\n  "))
                count += 1
            write("\n]\n" if count else "]\n")
        else:
            write("[")
            for batch in _batches(rows):
                if count:
                    write(",")
                count += len(batch)
                write(_COMPACT.encode(batch)[1:-1])
            write("]\n")
        out.flush()
        return count

    def write_one(self, row: Mapping[str, Any]) -> None:
        """A single object (e.g. one project's status): one line, or indented with ``--pretty``."""
        out = self.stream or sys.stdout
        if self.pretty:
            out.write(json.dumps(row, ensure_ascii=False, indent=2, default=_default) + "\n")
        else:
            out.write(_COMPACT.encode(row) + "\n")
        out.flush()


def _batches(rows: Iterable[Mapping[str, Any]]) -> Iterable[list[Mapping[str, Any]]]:
    if isinstance(rows, list):
        for start in range(0, len(rows), BATCH):
            yield rows[start : start + BATCH]
        return
    batch: list[Mapping[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def listing_of(as_json: bool, as_jsonl: bool, pretty: bool) -> Listing:
    """The output the flags ask for. Flags that do not go together are invalid input (exit 3), like
    every other check dongflow makes itself; 2 is only for what click's parser finds."""
    if as_json and as_jsonl:
        raise InvalidInput("choose one of --json and --jsonl")
    if pretty and as_jsonl:
        raise InvalidInput("--pretty indents a JSON array; JSON Lines are one object per line")
    if as_jsonl:
        return Listing(JSONL)
    if as_json or pretty:
        return Listing(JSON, pretty=pretty)
    return Listing(TABLE)


def listing_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--json``, ``--jsonl`` and ``--pretty`` on a listing command; it receives ``listing: Listing``."""

    @functools.wraps(func)
    def wrapper(*args: Any, as_json: bool, as_jsonl: bool, pretty: bool, **kwargs: Any) -> Any:
        return func(*args, listing=listing_of(as_json, as_jsonl, pretty), **kwargs)

    wrapper = click.option("--pretty", is_flag=True, help="Indent the JSON (implies --json).")(wrapper)
    wrapper = click.option("--jsonl", "as_jsonl", is_flag=True, help="Print JSON Lines: one object per row.")(wrapper)
    wrapper = click.option("--json", "as_json", is_flag=True,
                           help="Print a JSON array (compact; --pretty indents it).")(wrapper)
    return wrapper


# ------------------------------------------------------------------------------------------------
# Output files


def format_for_suffix(path: str, formats: Mapping[str, str], *, field: str = "--output",
                      alternative: str | None = "--format") -> str:
    """The format a file's suffix names (``formats``: suffix -> format); any other suffix is refused
    with the supported ones listed, so ``-o report.pdf`` never silently writes a text table."""
    suffix = Path(path).suffix.lower()
    found = formats.get(suffix)
    if found is None:
        known = ", ".join(sorted(formats))
        what = f"suffix {suffix!r}" if suffix else "no suffix"
        other = f", or {alternative}" if alternative else ""
        raise InvalidInput(f"{path}: {what} names no supported format (use one of {known}{other})", field=field)
    return found


# ------------------------------------------------------------------------------------------------
# Filter values


def choose(value: str, choices: Mapping[str, Sequence[str]], what: str, field: str) -> str:
    """The id that ``value`` names among ``choices`` (id -> its labels, e.g. Korean and English);
    ids and labels match case-insensitively, with spaces and hyphens taken as underscores. A value
    naming none is an error listing the valid ones."""
    wanted = _norm(value)
    for ident, labels in choices.items():
        if wanted == _norm(ident) or any(wanted == _norm(label) for label in labels if label):
            return ident
    valid = ", ".join(
        ident + (f" ({'/'.join(lb for lb in labels if lb and lb != ident)})" if any(lb != ident for lb in labels if lb) else "")
        for ident, labels in choices.items()
    )
    raise InvalidInput(f"{value!r} names no {what}; valid: {valid}", field=field)


def _norm(text: str) -> str:
    import unicodedata

    return unicodedata.normalize("NFC", text).strip().casefold().replace(" ", "_").replace("-", "_")
